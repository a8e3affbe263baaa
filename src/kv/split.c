/*
 * The split command (kv.h, "range split"; docs/node.md "Range split").
 *
 * A split is a command in the left range's own log, proposed by its
 * leader; every replica applies it at the same index, so every replica
 * shrinks the left range and creates the right one between the same two
 * commands. What the command carries is exactly what the replicas must
 * agree on and cannot compute alike on their own: the split key, the new
 * range's id (taken from the cluster's allocator before the proposal, so
 * that it is unique in the cluster) and the right replicas' ids. The
 * descriptor it was proposed against (generation, configuration version)
 * is carried too: a split applied to any other descriptor (a membership
 * change or another split committed in between) is refused alike by
 * every replica, so splits and membership changes never overlap.
 */
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "kv_int.h"
#include "le.h"

void rk_kv_split_encode(struct rk_buf *out, const struct rk_kv_split *s)
{
	struct rk_kv_cmd c;
	size_t start = out->len;
	uint8_t w[8 * RK_DESC_MAX_REPLICAS];

	memset(&c, 0, sizeof(c));
	c.op = RK_KV_SPLIT;
	rk_kv_cmd_begin(out, &c);
	rk_kv_cmd_arg(out, s->key, s->klen);
	rk_le_put64(w, s->right_id);
	rk_kv_cmd_arg(out, w, 8);
	rk_le_put64(w, s->generation);
	rk_kv_cmd_arg(out, w, 8);
	rk_le_put64(w, s->conf_version);
	rk_kv_cmd_arg(out, w, 8);
	for (uint8_t i = 0; i < s->n_ids && i < RK_DESC_MAX_REPLICAS; i++)
		rk_le_put64(w + 8 * i, s->ids[i]);
	rk_kv_cmd_arg(out, w, 8u * s->n_ids);
	if (s->flags != 0)
		rk_kv_cmd_arg(out, &s->flags, 1);
	rk_kv_cmd_finish(out, start, s->flags != 0 ? 6 : 5);
}

static int arg_u64(const struct rk_kv_cmd *c, size_t *offp, uint64_t *vp)
{
	const uint8_t *p;
	size_t l;

	if (rk_kv_arg_next(c, offp, &p, &l) != 0 || l != 8)
		return RK_EPROTO;
	*vp = rk_le_get64(p);
	return 0;
}

int rk_kv_split_decode(const struct rk_kv_cmd *c, struct rk_kv_split *sp)
{
	const uint8_t *p;
	size_t off = 0, l;

	memset(sp, 0, sizeof(*sp));
	if (c->op != RK_KV_SPLIT || (c->nargs != 5 && c->nargs != 6) || c->mode != 0 ||
	    c->session != 0)
		return RK_EPROTO;
	if (rk_kv_arg_next(c, &off, &sp->key, &sp->klen) != 0 || sp->klen == 0 ||
	    sp->klen > RK_KV_MAX_KEY)
		goto bad;
	if (arg_u64(c, &off, &sp->right_id) != 0 ||
	    arg_u64(c, &off, &sp->generation) != 0 ||
	    arg_u64(c, &off, &sp->conf_version) != 0)
		goto bad;
	if (rk_kv_arg_next(c, &off, &p, &l) != 0 || l % 8 != 0 || l == 0 ||
	    l > 8u * RK_DESC_MAX_REPLICAS)
		goto bad;
	sp->n_ids = (uint8_t)(l / 8);
	for (uint8_t i = 0; i < sp->n_ids; i++)
		sp->ids[i] = rk_le_get64(p + 8 * i);
	if (c->nargs == 6) {
		/* Flags are sent only when there are some. */
		if (rk_kv_arg_next(c, &off, &p, &l) != 0 || l != 1 || p[0] == 0 ||
		    (p[0] & ~RK_DESC_F_ALL) != 0)
			goto bad;
		sp->flags = p[0];
	}
	return 0;
bad:
	memset(sp, 0, sizeof(*sp));
	return RK_EPROTO;
}

int rk_kv_split_descs(const struct rk_desc *left, const struct rk_kv_split *s,
		      struct rk_desc *leftp, struct rk_desc *rightp)
{
	struct rk_desc l, r;
	uint64_t top = 0;
	int rc;

	if (left->generation != s->generation ||
	    left->conf_version != s->conf_version)
		return RK_ESTATE; /* proposed against another descriptor */
	for (uint8_t i = 0; i < left->n_reps; i++)
		if (left->reps[i].role != RK_DESC_VOTER &&
		    left->reps[i].role != RK_DESC_LEARNER)
			return RK_ESTATE; /* a joint configuration */
	/* Strictly inside: neither half may be empty. */
	if (kv_keycmp(s->key, s->klen, left->start, left->slen) <= 0 ||
	    (left->elen > 0 &&
	     kv_keycmp(s->key, s->klen, left->end, left->elen) >= 0))
		return RK_ERANGE;
	if (s->right_id == 0 || s->right_id == left->range_id ||
	    s->n_ids != left->n_reps)
		return RK_EINVAL;
	for (uint8_t i = 0; i < s->n_ids; i++) {
		if (s->ids[i] <= top)
			return RK_EINVAL; /* zero or not increasing */
		top = s->ids[i];
	}
	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	if ((rc = rk_desc_copy(&l, left)) != 0 || (rc = rk_desc_copy(&r, left)) != 0)
		goto fail;
	if ((rc = rk_desc_set_span(&l, left->start, left->slen, s->key, s->klen)) != 0 ||
	    (rc = rk_desc_set_span(&r, s->key, s->klen, left->end, left->elen)) != 0)
		goto fail;
	l.generation = left->generation + 1;
	/* The right range begins where the left is now: the same generation
	 * (so the range cache orders the two halves' descriptors alike), its
	 * own first configuration. */
	r.range_id = s->right_id;
	r.generation = left->generation + 1;
	r.conf_version = 1;
	r.flags = s->flags; /* not the left's: how this boundary was made */
	for (uint8_t i = 0; i < s->n_ids; i++)
		r.reps[i].replica_id = s->ids[i];
	r.next_replica_id = top + 1;
	rk_desc_free(leftp); /* left itself may be *leftp: read no more of it */
	*leftp = l;
	rk_desc_free(rightp);
	*rightp = r;
	return 0;
fail:
	rk_desc_free(&l);
	rk_desc_free(&r);
	return rc;
}

int rk_kv_sessions_copy(struct rk_kv_sessions *dst,
			const struct rk_kv_sessions *src)
{
	struct rk_buf b;
	int rc;

	rk_buf_init(&b);
	rk_kv_sessions_encode(src, &b);
	rc = b.oom ? RK_ENOMEM : rk_kv_sessions_decode((const uint8_t *)b.p, b.len, dst);
	rk_buf_free(&b);
	return rc;
}
