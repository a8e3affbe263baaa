/*
 * Linearizable reads without writing to the log.
 *
 * ReadIndex (Raft dissertation §6.4): the leader notes its commit index,
 * confirms it is still the leader by a heartbeat round a quorum answers,
 * and then releases the read at that index; the caller serves it once it has
 * applied that far. A leader that has not yet committed an entry of its own
 * term does not know the latest commit index, so reads wait for that first.
 * All reads waiting in one loop turn share one round (started at ready()).
 *
 * Lease: with check-quorum, a voter that acknowledged a heartbeat round
 * refuses to vote for election_tick ticks' worth of time after it
 * received it. A round
 * acknowledged by a quorum and started at leader tick T therefore
 * guarantees no other leader before T + election_tick (ticks advancing at
 * the same rate everywhere, up to lease_margin_ticks of drift), and the
 * leader answers reads locally until then. docs/raft.md has the argument,
 * including restarts and leadership transfer (which disables the lease for
 * the rest of the term).
 */
#include <string.h>

#include "raft_int.h"

static int ro_ensure(struct rk_raft *r)
{
	if (r->readonly != NULL)
		return 0;
	r->readonly = raft_alloc(r, sizeof(*r->readonly));
	if (r->readonly == NULL)
		return RK_ENOMEM;
	memset(r->readonly, 0, sizeof(*r->readonly));
	return 0;
}

static void ro_maybe_free(struct rk_raft *r)
{
	struct rk_raft_readonly *ro = r->readonly;

	if (ro == NULL || ro->q_n != 0 || ro->out_n != 0 || ro->round_wanted)
		return;
	raft_free(r, ro->q, ro->q_cap * sizeof(*ro->q));
	raft_free(r, ro->out, ro->out_cap * sizeof(*ro->out));
	raft_free(r, ro, sizeof(*ro));
	r->readonly = NULL;
}

bool raft_committed_in_term(struct rk_raft *r)
{
	return raft_log_term_or0(r, r->committed) == r->term;
}

static int out_push(struct rk_raft *r, uint64_t index, uint64_t ctx)
{
	struct rk_raft_readonly *ro = r->readonly;

	if (ro->out_n == ro->out_cap) {
		uint32_t ncap = ro->out_cap == 0 ? 4 : ro->out_cap * 2;
		struct rk_raft_read_state *n = raft_realloc(
			r, ro->out, ro->out_cap * sizeof(*n), ncap * sizeof(*n));
		if (n == NULL)
			return RK_ENOMEM;
		ro->out = n;
		ro->out_cap = ncap;
	}
	ro->out[ro->out_n].index = index;
	ro->out[ro->out_n].ctx = ctx;
	ro->out_n++;
	return 0;
}

static int q_push(struct rk_raft *r, const struct raft_read_req *req)
{
	struct rk_raft_readonly *ro = r->readonly;

	if (ro->q_start + ro->q_n == ro->q_cap) {
		if (ro->q_start > 0) {
			memmove(ro->q, ro->q + ro->q_start, ro->q_n * sizeof(*ro->q));
			ro->q_start = 0;
		} else {
			uint32_t ncap = ro->q_cap == 0 ? 4 : ro->q_cap * 2;
			struct raft_read_req *n = raft_realloc(
				r, ro->q, ro->q_cap * sizeof(*n), ncap * sizeof(*n));
			if (n == NULL)
				return RK_ENOMEM;
			ro->q = n;
			ro->q_cap = ncap;
		}
	}
	ro->q[ro->q_start + ro->q_n] = *req;
	ro->q_n++;
	return 0;
}

static bool lone_voter(const struct rk_raft *r)
{
	int i;

	for (i = 0; i < r->conf.n; i++)
		if ((r->conf.flags[i] & (RK_RAFT_VOTER | RK_RAFT_VOTER_OUT)) &&
		    r->conf.ids[i] != r->id)
			return false;
	return raft_is_promotable(r);
}

int raft_read_index(struct rk_raft *r, uint64_t ctx)
{
	struct raft_read_req req;
	int rc;

	if (r->role != RK_RAFT_LEADER)
		return RK_ENOTLEADER;
	rc = ro_ensure(r);
	if (rc != 0)
		return rc;
	if (raft_committed_in_term(r) && (lone_voter(r) || raft_lease_valid(r)))
		return out_push(r, r->committed, ctx);
	memset(&req, 0, sizeof(req));
	req.ctx = ctx;
	if (raft_committed_in_term(r)) {
		req.index = r->committed;
		req.round = r->tracker->round + 1;
		r->readonly->round_wanted = true;
	}
	return q_push(r, &req);
}

void raft_reads_on_commit(struct rk_raft *r)
{
	struct rk_raft_readonly *ro = r->readonly;
	uint32_t i;

	if (ro == NULL || r->tracker == NULL)
		return;
	for (i = 0; i < ro->q_n; i++) {
		struct raft_read_req *req = &ro->q[ro->q_start + i];
		if (req->round == 0) {
			req->index = r->committed;
			req->round = r->tracker->round + 1;
			ro->round_wanted = true;
		}
	}
}

static uint64_t round_value(struct rk_raft *r, const struct raft_progress *pr)
{
	if (pr->id == r->id)
		return r->tracker->round;
	return pr->acked_round;
}

void raft_reads_release(struct rk_raft *r)
{
	struct rk_raft_readonly *ro = r->readonly;
	uint64_t q;

	if (ro == NULL || ro->q_n == 0 || r->tracker == NULL)
		return;
	q = raft_quorum_index(r, round_value);
	while (ro->q_n > 0) {
		struct raft_read_req *req = &ro->q[ro->q_start];
		if (req->round == 0 || req->round > q)
			break;
		if (out_push(r, req->index, req->ctx) != 0)
			break;
		ro->q_start++;
		ro->q_n--;
	}
	if (ro->q_n == 0)
		ro->q_start = 0;
}

bool raft_lease_valid(struct rk_raft *r)
{
	struct rk_raft_tracker *t = r->tracker;
	uint64_t q;
	int window;

	if (t == NULL || t->lease_off || r->role != RK_RAFT_LEADER ||
	    r->opts->read_only != RK_RAFT_READ_LEASE ||
	    r->lead_transferee != RK_RAFT_NONE)
		return false;
	q = raft_quorum_index(r, round_value);
	if (q == 0 || t->round - q >= RAFT_ROUND_RING)
		return false;
	window = r->opts->election_tick - r->opts->lease_margin_ticks;
	if (window <= 0 || q <= t->void_round)
		return false;
	return raft_now(r) < t->round_at[q % RAFT_ROUND_RING] + raft_ticks_span(r, window);
}

void rk_raft_lease_void(struct rk_raft *r)
{
	struct rk_raft_tracker *t = r->tracker;

	/* Only rounds started from now on may hold a lease again. */
	if (t != NULL && r->role == RK_RAFT_LEADER)
		t->void_round = t->round;
}

/* Stepping down: reads waiting for confirmation are dropped (the caller
 * sees the role change in the next ready and fails them); reads already
 * released stay deliverable. */
void raft_readonly_free(struct rk_raft *r)
{
	struct rk_raft_readonly *ro = r->readonly;

	if (ro == NULL)
		return;
	ro->q_n = 0;
	ro->q_start = 0;
	ro->round_wanted = false;
	ro_maybe_free(r);
}

void raft_readonly_close(struct rk_raft *r)
{
	if (r->readonly == NULL)
		return;
	r->readonly->out_n = 0;
	raft_readonly_free(r);
}

bool raft_reads_have_ready(const struct rk_raft *r)
{
	return r->readonly != NULL &&
	       (r->readonly->out_n > 0 || r->readonly->round_wanted);
}

void raft_reads_take(struct rk_raft *r, const struct rk_raft_read_state **p,
		     size_t *np)
{
	struct rk_raft_readonly *ro = r->readonly;
	struct rk_raft_read_state *v;

	*p = NULL;
	*np = 0;
	if (ro == NULL || ro->out_n == 0)
		return;
	v = raft_arena_alloc(r, ro->out_n * sizeof(*v));
	if (v == NULL)
		return; /* kept for the next batch */
	memcpy(v, ro->out, ro->out_n * sizeof(*v));
	*p = v;
	*np = ro->out_n;
	ro->out_n = 0;
	ro_maybe_free(r);
}
