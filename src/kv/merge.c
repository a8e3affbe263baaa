/*
 * The merge commands (kv.h, "range merge"; docs/node.md "Range merge").
 *
 * A merge of two adjacent ranges with the same replica set takes two
 * logs: FREEZE in the right range's log stops it from applying anything
 * from that index on, whoever leads it, so its state at the FREEZE is its
 * final state; MERGE in the left's log then absorbs the right's span and
 * sessions on every replica, each once its own right replica has applied
 * the FREEZE. If the MERGE does not apply in time, MERGE_ABORT in the
 * left's log moves the left's generation on (the MERGE, proposed against
 * the old one, can then never apply) and only after it UNFREEZE in the
 * right's log lets the right serve again: a right range never serves
 * again once a left replica may have absorbed it.
 *
 * Every command names both ranges and the descriptors it was proposed
 * against; a replica that holds any other descriptor refuses it, alike
 * on every replica, so a merge applied twice (a replay) or raced by a
 * split or a membership change changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "kv_int.h"
#include "le.h"

#define MERGE_U64S 8

void rk_kv_merge_encode(struct rk_buf *out, const struct rk_kv_merge *m)
{
	struct rk_kv_cmd c;
	size_t start = out->len;
	uint8_t w[8 * MERGE_U64S];
	const uint64_t v[MERGE_U64S] = {m->left_id,   m->right_id,   m->left_gen,
					m->left_conf, m->right_gen,  m->right_conf,
					m->frozen_index, m->frozen_term};

	memset(&c, 0, sizeof(c));
	c.op = m->op;
	for (int i = 0; i < MERGE_U64S; i++)
		rk_le_put64(w + 8 * i, v[i]);
	rk_kv_cmd_begin(out, &c);
	rk_kv_cmd_arg(out, w, sizeof(w));
	rk_kv_cmd_arg(out, m->end, m->elen);
	rk_kv_cmd_finish(out, start, 2);
}

int rk_kv_merge_decode(const struct rk_kv_cmd *c, struct rk_kv_merge *mp)
{
	const uint8_t *p;
	size_t off = 0, l;

	memset(mp, 0, sizeof(*mp));
	if (!rk_kv_op_is_merge(c->op) || c->nargs != 2 || c->mode != 0 ||
	    c->session != 0 || c->n != 0)
		return RK_EPROTO;
	if (rk_kv_arg_next(c, &off, &p, &l) != 0 || l != 8 * MERGE_U64S)
		goto bad;
	mp->op = c->op;
	mp->left_id = rk_le_get64(p);
	mp->right_id = rk_le_get64(p + 8);
	mp->left_gen = rk_le_get64(p + 16);
	mp->left_conf = rk_le_get64(p + 24);
	mp->right_gen = rk_le_get64(p + 32);
	mp->right_conf = rk_le_get64(p + 40);
	mp->frozen_index = rk_le_get64(p + 48);
	mp->frozen_term = rk_le_get64(p + 56);
	if (rk_kv_arg_next(c, &off, &mp->end, &mp->elen) != 0 ||
	    mp->elen > RK_KV_MAX_KEY)
		goto bad;
	if (mp->left_id == 0 || mp->right_id == 0 || mp->left_id == mp->right_id ||
	    (mp->op == RK_KV_MERGE && (mp->frozen_index == 0 || mp->frozen_term == 0)))
		goto bad;
	if (mp->elen == 0)
		mp->end = NULL;
	return 0;
bad:
	memset(mp, 0, sizeof(*mp));
	return RK_EPROTO;
}

static bool joint(const struct rk_desc *d)
{
	for (uint8_t i = 0; i < d->n_reps; i++)
		if (d->reps[i].role != RK_DESC_VOTER && d->reps[i].role != RK_DESC_LEARNER)
			return true;
	return false;
}

bool rk_kv_merge_same_replicas(const struct rk_desc *left,
			       const struct rk_desc *right)
{
	if (left->n_reps != right->n_reps || left->n_reps == 0 || joint(left) ||
	    joint(right))
		return false;
	for (uint8_t i = 0; i < left->n_reps; i++) {
		const struct rk_desc_replica *o = rk_desc_on_node(right, left->reps[i].node_id);
		if (o == NULL || o->role != left->reps[i].role)
			return false;
	}
	return true;
}

int rk_kv_freeze_check(const struct rk_desc *right, const struct rk_kv_merge *m)
{
	if (right->range_id != m->right_id || right->generation != m->right_gen ||
	    right->conf_version != m->right_conf || joint(right))
		return RK_ESTATE;
	return 0;
}

int rk_kv_merge_desc(const struct rk_desc *left, const struct rk_desc *right,
		     const struct rk_kv_merge *m, struct rk_desc *mergedp)
{
	struct rk_desc d;
	int rc;

	if (left->range_id != m->left_id || left->generation != m->left_gen ||
	    left->conf_version != m->left_conf || rk_kv_freeze_check(right, m) != 0)
		return RK_ESTATE;
	/* Adjacent: the right starts where the left ends (neither unbounded
	 * there), and it is the span m was proposed for. */
	if (left->elen == 0 ||
	    kv_keycmp(left->end, left->elen, right->start, right->slen) != 0 ||
	    kv_keycmp(right->end, right->elen, m->end, m->elen) != 0)
		return RK_ERANGE;
	if (!rk_kv_merge_same_replicas(left, right))
		return RK_EINVAL;
	memset(&d, 0, sizeof(d));
	if ((rc = rk_desc_copy(&d, left)) != 0 ||
	    (rc = rk_desc_set_span(&d, left->start, left->slen, right->end,
				   right->elen)) != 0) {
		rk_desc_free(&d);
		return rc;
	}
	/* Above both: the merged descriptor supersedes either half's in
	 * every range cache and in the placement index. */
	d.generation = (left->generation > right->generation ? left->generation
							      : right->generation) + 1;
	rk_desc_free(mergedp); /* left itself may be *mergedp: read no more of it */
	*mergedp = d;
	return 0;
}

int rk_kv_merge_abort_desc(struct rk_desc *left, const struct rk_kv_merge *m)
{
	if (left->range_id != m->left_id || left->generation != m->left_gen ||
	    left->conf_version != m->left_conf)
		return RK_ESTATE;
	left->generation++;
	return 0;
}

/* ---- apply ------------------------------------------------------------------ */

void kv_reply_refused(struct rk_buf *o, const char *what, int refused)
{
	rk_buf_append(o, "-ERR ", 5);
	rk_buf_append(o, what, strlen(what));
	rk_buf_append(o, " refused: ", 10);
	rk_buf_append(o, rk_strerror(refused), strlen(rk_strerror(refused)));
	rk_buf_append(o, "\r\n", 2);
}

/* A merge command (merge.c): the checks and effects on descriptors are
 * the callee's; the frozen mark is the applier's. Like CHECK, never in a
 * session: a client cannot send one. */
int kv_apply_merge(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		       struct rk_buf *o)
{
	struct rk_kv_merge m;
	int refused = RK_ESTATE, rc;

	if (rk_kv_merge_decode(c, &m) != 0) {
		kv_reply_refused(o, "merge", RK_EPROTO);
		return 0;
	}
	/* A frozen range applies nothing but its UNFREEZE; a FREEZE of a
	 * range frozen already is refused (one merge at a time). */
	if (a->sessions->frozen != 0 && m.op != RK_KV_UNFREEZE) {
		kv_reply_refused(o, "merge", RK_ESTATE);
		return 0;
	}
	if (m.op == RK_KV_UNFREEZE && a->sessions->frozen != m.left_id) {
		kv_reply_refused(o, "unfreeze", RK_ESTATE);
		return 0;
	}
	if (a->merge != NULL && (rc = a->merge(a->merge_arg, m.op, &m, &refused)) != 0)
		return rc;
	if (refused != 0) {
		kv_reply_refused(o, "merge", refused);
		return 0;
	}
	if (m.op == RK_KV_FREEZE)
		a->sessions->frozen = m.left_id;
	else if (m.op == RK_KV_UNFREEZE)
		a->sessions->frozen = 0;
	rk_buf_append(o, "+OK\r\n", 5);
	return 0;
}

/* ---- the sessions' union ----------------------------------------------------- */

static int rec_add(struct rk_kv_session *x, const struct rk_kv_result_rec *r)
{
	uint8_t *copy;

	for (size_t i = 0; i < x->n; i++)
		if (x->recs[i].seq == r->seq)
			return 0; /* one sequence, one result: either will do */
	if ((copy = malloc(r->len ? r->len : 1)) == NULL ||
	    rk_grow((void **)&x->recs, &x->cap, x->n, sizeof(*x->recs)) != 0) {
		free(copy);
		return RK_ENOMEM;
	}
	memcpy(copy, r->resp, r->len);
	x->recs[x->n].seq = r->seq;
	x->recs[x->n].resp = copy;
	x->recs[x->n].len = r->len;
	x->n++;
	return 0;
}

int rk_kv_sessions_union(struct rk_kv_sessions *dst,
			 const struct rk_kv_sessions *src)
{
	if (src->now_ms > dst->now_ms)
		dst->now_ms = src->now_ms;
	for (size_t i = 0; i < src->n; i++) {
		const struct rk_kv_session *s = &src->v[i];
		struct rk_kv_session *x = NULL;
		int rc;

		for (size_t j = 0; j < dst->n && x == NULL; j++)
			if (dst->v[j].id == s->id)
				x = &dst->v[j];
		if (x == NULL) {
			if (rk_grow((void **)&dst->v, &dst->cap, dst->n, sizeof(*dst->v)) != 0)
				return RK_ENOMEM;
			x = &dst->v[dst->n++];
			memset(x, 0, sizeof(*x));
			x->id = s->id;
			x->first_incomplete = s->first_incomplete;
		}
		if (s->last_ms > x->last_ms)
			x->last_ms = s->last_ms;
		/* The lower mark: a router's mark is per range (the lowest
		 * sequence it still waits for there), so the higher one would
		 * call a write still waiting for the other range answered. */
		if (s->first_incomplete < x->first_incomplete)
			x->first_incomplete = s->first_incomplete;
		for (size_t r = 0; r < s->n; r++)
			if ((rc = rec_add(x, &s->recs[r])) != 0)
				return rc;
	}
	dst->marks_held_until = dst->now_ms + RK_KV_MERGE_HOLD_MS;
	return 0;
}
