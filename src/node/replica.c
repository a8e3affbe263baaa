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

/* Descriptor: u64 generation, u32 slen, start, u32 elen, end (LE). */
size_t rk_desc_encode(const struct rk_replica *r, uint8_t *out, size_t cap)
{
	size_t need = 16 + (size_t)r->slen + r->elen, off = 0;

	if (need > cap)
		return 0;
	for (int i = 0; i < 8; i++)
		out[off++] = (uint8_t)(r->generation >> (8 * i));
	for (int i = 0; i < 4; i++)
		out[off++] = (uint8_t)(r->slen >> (8 * i));
	if (r->slen > 0)
		memcpy(out + off, r->start, r->slen);
	off += r->slen;
	for (int i = 0; i < 4; i++)
		out[off++] = (uint8_t)(r->elen >> (8 * i));
	if (r->elen > 0)
		memcpy(out + off, r->end, r->elen);
	return need;
}


/* The length of the descriptor at the start of p, 0 if malformed. */
static size_t desc_len(const uint8_t *p, size_t n)
{
	size_t sl, el;

	if (n < 16)
		return 0;
	sl = (size_t)rk_le_get(p + 8, 4);
	if (sl > n - 16)
		return 0;
	el = (size_t)rk_le_get(p + 12 + sl, 4);
	if (el > n - 16 - sl)
		return 0;
	return 16 + sl + el;
}

int rk_desc_decode(struct rk_replica *r, const uint8_t *p, size_t n)
{
	size_t sl, el;

	if (n == 0 || desc_len(p, n) != n)
		return RK_ECORRUPT;
	sl = (size_t)rk_le_get(p + 8, 4);
	el = (size_t)rk_le_get(p + 12 + sl, 4);
	free(r->start);
	free(r->end);
	r->start = malloc(sl + 1);
	r->end = malloc(el + 1);
	if (r->start == NULL || r->end == NULL)
		return RK_ENOMEM;
	r->generation = rk_le_get(p, 8);
	memcpy(r->start, p + 12, sl);
	memcpy(r->end, p + 16 + sl, el);
	r->slen = (uint32_t)sl;
	r->elen = (uint32_t)el;
	return 0;
}

void rk_replica_state_encode(const struct rk_replica *r, struct rk_buf *out)
{
	uint8_t *p = rk_buf_extend(out, 16 + (size_t)r->slen + r->elen);

	if (p != NULL)
		rk_desc_encode(r, p, 16 + (size_t)r->slen + r->elen);
	/* The clock too when no session is left: it is replicated state. */
	if (r->sessions.n > 0 || r->sessions.now_ms > 0)
		rk_kv_sessions_encode(&r->sessions, out);
}

/* A blob without a session table (the first start writes none) leaves the
 * replica with an empty one. */
int rk_replica_state_decode(struct rk_replica *r, const uint8_t *p, size_t n)
{
	size_t d = desc_len(p, n);
	int rc;

	if (d == 0)
		return RK_ECORRUPT;
	rc = rk_desc_decode(r, p, d);
	if (rc != 0)
		return rc;
	if (d == n) {
		rk_kv_sessions_free(&r->sessions);
		return 0;
	}
	rc = rk_kv_sessions_decode(p + d, n - d, &r->sessions);
	return rc == RK_EPROTO ? RK_ECORRUPT : rc;
}

int rk_replica_sessions_reload(struct rk_replica *r, struct rk_store_reader *rd,
			       uint64_t applied)
{
	struct rk_store_apply_state as;
	const uint8_t *p;
	size_t d;
	int rc = rk_store_read_apply_state(rd, r->range, &as);

	if (rc != 0)
		return rc;
	if (as.applied != applied)
		return RK_ESTATE;
	p = as.desc;
	d = desc_len(p, as.desc_len);
	if (d == 0)
		return RK_ECORRUPT;
	if (d == as.desc_len) {
		rk_kv_sessions_free(&r->sessions);
		return 0;
	}
	rc = rk_kv_sessions_decode(p + d, as.desc_len - d, &r->sessions);
	return rc == RK_EPROTO ? RK_ECORRUPT : rc;
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
	if (rc == 0)
		rc = rk_replica_state_decode(r, as.desc, as.desc_len);
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
	if (rc != 0) {
		rk_replica_free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

void rk_replica_free(struct rk_replica *r)
{
	if (r == NULL)
		return;
	rk_raft_close(&r->raft);
	rk_serve_free(r);
	rk_kv_sessions_free(&r->sessions);
	free(r->start);
	free(r->end);
	free(r);
}
