/*
 * A replica's durable state as the raft core reads it (the storage ops),
 * loading a replica at start, and the range descriptor's encoding.
 *
 * The core reads only entries it has been told are durable (at most
 * stable_last), so the ops read the store directly; the log bounds are
 * cached here and move when a persist or a compaction completes.
 */
#include <stdlib.h>
#include <string.h>

#include "compact.h"
#include "le.h"
#include "node_int.h"
#include "serve.h"
#include "snapshot.h"

static int op_initial_state(void *ctx, struct rk_raft_hard_state *hsp,
			    struct rk_raft_conf_state *csp)
{
	struct rk_replica *r = ctx;

	*hsp = r->rs.hs;
	*csp = r->rs.conf;
	return 0;
}

static int op_term(void *ctx, uint64_t index, uint64_t *termp)
{
	struct rk_replica *r = ctx;

	*termp = 0;
	if (index + 1 < r->first)
		return RK_ECOMPACTED;
	if (index > r->last)
		return RK_EUNAVAILABLE;
	if (index + 1 == r->first) {
		*termp = r->rs.trunc_term;
		return 0;
	}
	if (index >= r->run_lo && index <= r->run_hi) {
		*termp = r->run_term;
		return 0;
	}
	return rk_store_log_term(r->node->reader, r->range, index, termp);
}

void rk_replica_terms_reset(struct rk_replica *r)
{
	r->run_lo = 1;
	r->run_hi = 0;
	r->run_term = 0;
}

/* Terms never decrease along a log: the last run of equal terms among the
 * new entries either continues the known run (same term, next index) or
 * replaces it. Entries overwritten from e[0] on leave the run first. */
void rk_replica_log_stored(struct rk_replica *r, const struct rk_raft_entry *e,
			   size_t n)
{
	size_t j;

	if (n == 0)
		return;
	if (r->run_hi >= e[0].index)
		r->run_hi = e[0].index - 1;
	if (r->run_lo > r->run_hi)
		rk_replica_terms_reset(r);
	for (j = n - 1; j > 0 && e[j - 1].term == e[n - 1].term; j--)
		;
	if (r->run_lo <= r->run_hi && r->run_term == e[j].term &&
	    r->run_hi + 1 == e[j].index) {
		r->run_hi = e[n - 1].index;
		return;
	}
	r->run_lo = e[j].index;
	r->run_hi = e[n - 1].index;
	r->run_term = e[j].term;
}

struct push_ctx {
	struct rk_raft_ents *out;
	uint64_t bytes, max;
	bool any;
};

static int push_entry(void *arg, const struct rk_raft_entry *e)
{
	struct push_ctx *c = arg;
	int rc;

	if (c->any && c->bytes + e->len > c->max)
		return 1; /* enough: stop the walk */
	rc = rk_raft_ents_push(c->out, e);
	if (rc != 0)
		return rc;
	c->bytes += e->len;
	c->any = true;
	return 0;
}

static int op_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
		      struct rk_raft_ents *out)
{
	struct rk_replica *r = ctx;
	struct push_ctx c = {out, 0, max_bytes ? max_bytes : UINT64_MAX, false};

	if (lo < r->first)
		return RK_ECOMPACTED;
	if (hi > r->last + 1)
		return RK_EUNAVAILABLE;
	return rk_store_log_entries(r->node->reader, r->range, lo, hi,
				    push_entry, &c);
}

static uint64_t op_first_index(void *ctx)
{
	return ((struct rk_replica *)ctx)->first;
}

static uint64_t op_last_index(void *ctx)
{
	return ((struct rk_replica *)ctx)->last;
}

/* Made on a worker thread when first asked for (snapshot.c). */
static int op_snapshot(void *ctx, struct rk_raft_snapshot_meta *metap)
{
	return rk_snap_meta(ctx, metap);
}

const struct rk_raft_storage_ops rk_replica_storage_ops = {
	op_initial_state, op_term,      op_entries,
	op_first_index,   op_last_index, op_snapshot,
};

_Static_assert(RK_DESC_MAX_REPLICAS == RK_RAFT_MAX_MEMBERS,
	       "a descriptor names every member of its raft group");

uint64_t rk_replica_node(const struct rk_replica *r, uint64_t replica_id)
{
	uint64_t node = rk_desc_node_of(&r->desc, replica_id);

	if (node == 0 && replica_id == r->hint_replica)
		node = r->hint_node; /* the leader of an uninitialized replica */
	return node;
}

uint64_t rk_replica_on_node(const struct rk_replica *r, uint64_t node_id)
{
	const struct rk_desc_replica *rep = rk_desc_on_node(&r->desc, node_id);

	return rep != NULL ? rep->replica_id : 0;
}

uint64_t rk_replica_leader_node(const struct rk_replica *r)
{
	uint64_t lead = rk_raft_leader(&r->raft);

	return lead != 0 ? rk_desc_node_of(&r->desc, lead) : 0;
}

bool rk_replica_addressed(const struct rk_replica *r, const struct rk_raft_msg *m,
			  uint64_t from)
{
	uint64_t node;

	if (m->to != r->rs.replica_id)
		return false;
	node = rk_desc_node_of(&r->desc, m->from);
	return node == 0 || node == from;
}

bool rk_replica_gone(const struct rk_replica *r)
{
	return r->desc.n_reps > 0 && r->rs.replica_id < r->desc.next_replica_id &&
	       rk_desc_replica(&r->desc, r->rs.replica_id) == NULL;
}

uint32_t rk_replica_voter_nodes(const struct rk_replica *r, uint64_t *ids,
				uint32_t cap)
{
	uint32_t k = 0;

	for (uint8_t i = 0; i < r->desc.n_reps && k < cap; i++)
		if (r->desc.reps[i].role == RK_DESC_VOTER)
			ids[k++] = r->desc.reps[i].node_id;
	return k;
}

int rk_replica_desc_from_conf(struct rk_desc *d, uint64_t range,
			      const struct rk_raft_conf_state *conf)
{
	uint64_t top = 0;

	free(d->reps);
	d->reps = calloc(conf->n ? conf->n : 1, sizeof(*d->reps));
	d->n_reps = 0;
	if (d->reps == NULL)
		return RK_ENOMEM;
	for (uint8_t i = 0; i < conf->n; i++) {
		struct rk_desc_replica *rep;
		uint8_t at = 0;

		while (at < d->n_reps && d->reps[at].replica_id < conf->ids[i])
			at++; /* kept in replica id order */
		memmove(&d->reps[at + 1], &d->reps[at],
			(size_t)(d->n_reps - at) * sizeof(*d->reps));
		d->n_reps++;
		rep = &d->reps[at];
		rep->replica_id = rep->node_id = conf->ids[i];
		rep->role = (conf->flags[i] & RK_RAFT_LEARNER) ? RK_DESC_LEARNER
							       : RK_DESC_VOTER;
		top = conf->ids[i] > top ? conf->ids[i] : top;
	}
	d->range_id = range;
	d->conf_version = 1;
	d->next_replica_id = top + 1;
	d->v1 = false;
	return 0;
}

void rk_replica_state_encode(const struct rk_replica *r, struct rk_buf *out)
{
	(void)rk_desc_encode(&r->desc, out); /* out->oom is checked by the caller */
	/* The clock too when no session is left: it is replicated state. */
	if (r->sessions.n > 0 || r->sessions.now_ms > 0 || r->sessions.frozen != 0)
		rk_kv_sessions_encode(&r->sessions, out);
}

/* The session table that follows the descriptor at p[d..n) (none: an empty
 * one; the first start writes none). */
static int sessions_decode(struct rk_replica *r, const uint8_t *p, size_t n,
			   size_t d)
{
	int rc;

	if (d == n) {
		rk_kv_sessions_free(&r->sessions);
		return 0;
	}
	rc = rk_kv_sessions_decode(p + d, n - d, &r->sessions);
	return rc == RK_EPROTO ? RK_ECORRUPT : rc;
}

/* A v1 descriptor is completed from r's configuration (r->rs, read first). */
int rk_replica_state_decode(struct rk_replica *r, const uint8_t *p, size_t n)
{
	size_t d;
	int rc = rk_desc_decode(p, n, &r->desc, &d);

	if (rc == 0 && r->desc.v1)
		rc = rk_replica_desc_from_conf(&r->desc, r->range, &r->rs.conf);
	if (rc == 0 && r->desc.range_id != r->range)
		rc = RK_ECORRUPT;
	return rc != 0 ? rc : sessions_decode(r, p, n, d);
}

int rk_replica_sessions_reload(struct rk_replica *r, struct rk_store_reader *rd,
			       uint64_t applied)
{
	struct rk_store_apply_state as;
	struct rk_desc scratch;
	size_t d;
	int rc = rk_store_read_apply_state(rd, r->range, &as);

	if (rc != 0)
		return rc;
	if (as.applied != applied)
		return RK_ESTATE;
	memset(&scratch, 0, sizeof(scratch));
	rc = rk_desc_decode(as.desc, as.desc_len, &scratch, &d);
	rk_desc_free(&scratch);
	return rc != 0 ? rc : sessions_decode(r, as.desc, as.desc_len, d);
}

int rk_replica_load(struct rk_node *n, uint64_t range, struct rk_replica **rp)
{
	struct rk_store_apply_state as;
	struct rk_replica *r;
	uint64_t last;
	int rc;

	*rp = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RK_ENOMEM;
	r->node = n;
	r->range = range;
	rk_replica_terms_reset(r);
	rc = rk_store_read_raft_state(n->reader, range, &r->rs);
	if (rc == 0)
		rc = rk_store_read_apply_state(n->reader, range, &as);
	if (rc == 0) {
		rc = rk_replica_state_decode(r, as.desc, as.desc_len);
	} else if (rc == RK_ENOTFOUND && r->rs.trunc_index == RK_RAFT_INIT_INDEX &&
		   r->rs.conf.n > 0) {
		/* The right half of a split whose apply state was lost with the
		 * left's (a crash before their checkpoint): it must apply
		 * nothing before the left applies the split again, which
		 * loads it then (split.h). */
		rk_replica_free(r);
		return RK_EAGAIN;
	} else if (rc == RK_ENOTFOUND) {
		/* Created for a message, no snapshot installed yet (life.h). */
		memset(&as, 0, sizeof(as));
		r->desc.range_id = range;
		rc = 0;
	}
	if (rc == 0)
		rc = rk_store_log_last(n->reader, range, r->rs.trunc_index, &last);
	if (rc != 0) {
		rk_replica_free(r);
		return rc;
	}
	r->applied = as.applied;
	r->visible = as.applied;
	r->first = r->rs.trunc_index + 1;
	r->last = last;
	/* Committed entries the apply state has not reached are applied again
	 * (journal once: the apply tables are as of the last checkpoint). */
	rc = rk_raft_init(&r->raft, &n->ropts, r, r->rs.replica_id, r->applied,
			  range * 0x9e3779b97f4a7c15ull ^ n->cfg.node_id);
	/* The log's size: measured once here, then kept as it changes
	 * (a read bounded by the log budgets). */
	if (rc == 0)
		rc = rk_compact_log_load(n, r);
	if (rc != 0) {
		rk_replica_free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

void rk_replica_gone_owed_clear(struct rk_replica *r)
{
	if (r->gone_owed == NULL)
		return;
	rk_desc_free(r->gone_owed);
	free(r->gone_owed);
	r->gone_owed = NULL;
}

void rk_replica_free(struct rk_replica *r)
{
	if (r == NULL)
		return;
	if (r->node != NULL) /* its log no longer counts */
		r->node->snaps.log_bytes -= rk_logbytes_get(&r->lb);
	rk_logbytes_free(&r->lb);
	free(r->snap);
	rk_raft_close(&r->raft);
	rk_serve_free(r);
	rk_kv_sessions_free(&r->sessions);
	rk_desc_free(&r->desc);
	rk_replica_gone_owed_clear(r);
	free(r);
}
