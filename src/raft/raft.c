/*
 * The core's entry points: init, tick, step, the leader's API, and the
 * ready/advance handshake. The rules themselves live in election.c,
 * replication.c, readonly.c and confchange.c.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/* ---- memory ------------------------------------------------------------------- */

static void *libc_realloc(void *p, size_t size)
{
	if (size == 0) {
		free(p);
		return NULL;
	}
	return realloc(p, size);
}

static rk_raft_realloc_fn g_realloc = libc_realloc;

void rk_raft_set_allocator(rk_raft_realloc_fn fn)
{
	g_realloc = fn != NULL ? fn : libc_realloc;
}

void *raft_alloc(struct rk_raft *r, size_t size)
{
	void *p;

	if (size == 0)
		return NULL;
	p = g_realloc(NULL, size);
	if (p != NULL)
		r->mem_bytes += size;
	return p;
}

void *raft_realloc(struct rk_raft *r, void *p, size_t old_size,
		   size_t new_size)
{
	void *q = g_realloc(p, new_size);

	if (q != NULL || new_size == 0)
		r->mem_bytes = r->mem_bytes - old_size + new_size;
	return q;
}

void raft_free(struct rk_raft *r, void *p, size_t size)
{
	if (p == NULL)
		return;
	(void)g_realloc(p, 0);
	r->mem_bytes -= size;
}

/* ---- options, init, close ------------------------------------------------------- */

void rk_raft_options_default(struct rk_raft_options *o)
{
	memset(o, 0, sizeof(*o));
	o->election_tick = 10;
	o->heartbeat_tick = 1;
	o->pre_vote = true;
	o->check_quorum = true;
	o->read_only = RK_RAFT_READ_SAFE;
	o->lease_margin_ticks = 2;
	o->max_msg_bytes = 1u << 20;
	o->max_entry_bytes = 0;
	o->max_inflight_msgs = 256;
	o->max_inflight_bytes = 0;
	o->max_uncommitted_bytes = 64u << 20;
	o->max_committed_bytes_per_ready = 4u << 20;
	o->max_mem_bytes = 256u << 20;
	o->transfer_timeout_ticks = 0;
}

static int options_check(const struct rk_raft_options *o)
{
	const struct rk_raft_storage_ops *s = o->storage;

	if (o->heartbeat_tick <= 0 || o->election_tick <= o->heartbeat_tick)
		return RK_EINVAL;
	if (o->max_inflight_msgs == 0 || o->read_only > RK_RAFT_READ_LEASE)
		return RK_EINVAL;
	if (o->clock != NULL && o->tick_len == 0)
		return RK_EINVAL;
	if (o->read_only == RK_RAFT_READ_LEASE && !o->check_quorum &&
	    !RK_BUG(LEASE_NO_CHECK_QUORUM))
		return RK_EINVAL; /* a lease without check-quorum is unsafe */
	if (s == NULL || s->initial_state == NULL || s->term == NULL ||
	    s->entries == NULL || s->first_index == NULL ||
	    s->last_index == NULL || s->snapshot == NULL)
		return RK_EINVAL;
	return 0;
}

int rk_raft_init(struct rk_raft *r, const struct rk_raft_options *opts,
		 void *storage_ctx, uint64_t id, uint64_t applied,
		 uint64_t seed)
{
	struct rk_raft_hard_state hs;
	struct rk_raft_conf_state cs;
	uint64_t first, last;
	int rc, i;

	memset(r, 0, sizeof(*r));
	if (opts == NULL || id == RK_RAFT_NONE)
		return RK_EINVAL;
	rc = options_check(opts);
	if (rc != 0)
		return rc;
	r->opts = opts;
	r->storage_ctx = storage_ctx;
	r->id = id;
	r->rng = seed ^ (id * 0x9e3779b97f4a7c15ull);
	memset(&hs, 0, sizeof(hs));
	memset(&cs, 0, sizeof(cs));
	rc = opts->storage->initial_state(storage_ctx, &hs, &cs);
	if (rc != 0)
		return rc;
	if (cs.n > RK_RAFT_MAX_MEMBERS)
		return RK_ECORRUPT;
	for (i = 0; i < cs.n; i++)
		if (cs.ids[i] == RK_RAFT_NONE || cs.flags[i] == 0)
			return RK_ECORRUPT;
	first = opts->storage->first_index(storage_ctx);
	last = opts->storage->last_index(storage_ctx);
	if (first == 0 || last + 1 < first)
		return RK_ECORRUPT;
	/* Applied entries are committed by definition, even when the hard
	 * state recording that did not reach the disk before a crash. */
	if (applied > last)
		return RK_ECORRUPT;
	if (applied < first - 1)
		applied = first - 1;
	if (hs.commit > last)
		return RK_ECORRUPT;
	r->committed = raft_max(raft_max(hs.commit, applied), first - 1);
	r->applied = applied;
	r->stable_last = last;
	r->conf = cs;
	r->prev_hs = hs;
	r->prev_hs.commit = r->committed;
	r->term = hs.term;
	r->vote = hs.vote;
	raft_become_follower(r, hs.term, RK_RAFT_NONE);
	r->vote = hs.vote;
	r->prev_role = RK_RAFT_FOLLOWER;
	/* A replica that just started does not know whom it promised what:
	 * it counts as having heard from a leader now. */
	r->refuse_until = raft_now(r) + raft_ticks_span(r, opts->election_tick);
	return 0;
}

uint64_t raft_now(const struct rk_raft *r)
{
	return r->opts->clock != NULL ? r->opts->clock(r->opts->clock_arg) : r->ticks;
}

uint64_t raft_ticks_span(const struct rk_raft *r, int ticks)
{
	uint64_t len = r->opts->clock != NULL ? r->opts->tick_len : 1;

	return ticks > 0 ? (uint64_t)ticks * len : 0;
}

/* A leader of our term was heard from now: votes are refused for an
 * election timeout from now (raft_in_lease). */
static void leader_contact(struct rk_raft *r)
{
	r->refuse_until = raft_now(r) + raft_ticks_span(r, r->opts->election_tick);
}

void rk_raft_close(struct rk_raft *r)
{
	raft_tracker_free(r);
	raft_readonly_close(r);
	raft_outbox_free(r);
	raft_log_close(r);
}

/* ---- tick ------------------------------------------------------------------------ */

/* A replica with committed but unapplied conf changes does not know its
 * configuration yet and must not campaign with a stale one. */
static bool pending_conf_unapplied(struct rk_raft *r)
{
	struct rk_raft_entry *ents;
	size_t n, i;

	if (r->committed <= r->applied)
		return false;
	if (raft_log_slice(r, r->applied + 1, r->committed + 1, 0, &ents, &n) != 0)
		return true;
	for (i = 0; i < n; i++)
		if (ents[i].type == RK_RAFT_ENTRY_CONF_CHANGE)
			return true;
	return false;
}

static void tick_election(struct rk_raft *r)
{
	r->election_elapsed++;
	if (!raft_is_promotable(r) ||
	    r->election_elapsed < r->randomized_election_timeout)
		return;
	r->election_elapsed = 0;
	if (pending_conf_unapplied(r))
		return;
	raft_campaign(r, r->opts->pre_vote, false);
}

static void tick_heartbeat(struct rk_raft *r)
{
	struct rk_raft_tracker *t = r->tracker;
	int i, timeout;

	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->opts->election_tick) {
		r->election_elapsed = 0;
		if (r->opts->check_quorum) {
			if (!raft_quorum_active(r)) {
				/* Lost touch with a quorum: someone else may
				 * lead by now; stop claiming to. */
				raft_become_follower(r, r->term, RK_RAFT_NONE);
				return;
			}
			for (i = 0; i < r->conf.n; i++)
				if (t->pr[i].id != r->id)
					t->pr[i].recent_active = false;
		}
	}
	if (r->lead_transferee != RK_RAFT_NONE) {
		timeout = r->opts->transfer_timeout_ticks > 0 ?
				  r->opts->transfer_timeout_ticks :
				  r->opts->election_tick;
		if (++r->transfer_elapsed >= timeout)
			raft_abort_transfer(r);
	}
	if (r->heartbeat_elapsed >= r->opts->heartbeat_tick) {
		r->heartbeat_elapsed = 0;
		raft_bcast_heartbeat(r);
	}
}

void rk_raft_tick(struct rk_raft *r)
{
	r->ticks++;
	if (r->role == RK_RAFT_LEADER)
		tick_heartbeat(r);
	else
		tick_election(r);
}

/* ---- step ------------------------------------------------------------------------- */

static void reply_stale(struct rk_raft *r, const struct rk_raft_msg *m)
{
	struct rk_raft_msg resp;

	memset(&resp, 0, sizeof(resp));
	resp.to = m->from;
	if ((r->opts->check_quorum || r->opts->pre_vote) &&
	    (m->type == RK_RAFT_MSG_APP || m->type == RK_RAFT_MSG_HEARTBEAT)) {
		/* A stale leader (perhaps cut off by a partition that pre-vote
		 * kept us from disrupting) learns our term and steps down. */
		resp.type = RK_RAFT_MSG_APP_RESP;
		raft_send(r, &resp);
	} else if (m->type == RK_RAFT_MSG_PRE_VOTE) {
		resp.type = RK_RAFT_MSG_PRE_VOTE_RESP;
		resp.term = r->term;
		resp.reject = true;
		raft_send(r, &resp);
	}
}

static bool from_leader(const struct rk_raft_msg *m)
{
	return m->type == RK_RAFT_MSG_APP || m->type == RK_RAFT_MSG_HEARTBEAT ||
	       m->type == RK_RAFT_MSG_SNAP;
}

static void step_follower(struct rk_raft *r, const struct rk_raft_msg *m)
{
	if (from_leader(m)) {
		r->election_elapsed = 0;
		leader_contact(r);
		r->lead = m->from;
		if (m->type == RK_RAFT_MSG_APP)
			raft_handle_append(r, m);
		else if (m->type == RK_RAFT_MSG_HEARTBEAT)
			raft_handle_heartbeat(r, m);
		else
			raft_handle_snapshot(r, m);
	} else if (m->type == RK_RAFT_MSG_TIMEOUT_NOW) {
		/* The leader hands over: campaign at once, skipping pre-vote
		 * (the leader knows we are up to date). */
		if (raft_is_promotable(r) && !pending_conf_unapplied(r))
			raft_campaign(r, false, true);
	}
}

int rk_raft_follow(struct rk_raft *r, uint64_t leader, uint64_t term,
		   uint64_t commit)
{
	if (r->role != RK_RAFT_FOLLOWER || term != r->term ||
	    leader == RK_RAFT_NONE || leader == r->id ||
	    (r->lead != RK_RAFT_NONE && r->lead != leader))
		return RK_ESTATE;
	r->lead = leader;
	r->election_elapsed = 0;
	leader_contact(r);
	if (commit <= raft_log_last_index(r))
		raft_log_commit_to(r, commit);
	return 0;
}

int rk_raft_commit_known(struct rk_raft *r, uint64_t index, uint64_t term)
{
	uint64_t t = 0;

	if (index <= r->committed)
		return 0;
	if (index > raft_log_last_index(r) || raft_log_term(r, index, &t) != 0 || t != term)
		return RK_ESTATE;
	raft_log_commit_to(r, index);
	return 0;
}

int rk_raft_send_commit(struct rk_raft *r)
{
	if (r->role != RK_RAFT_LEADER)
		return RK_ENOTLEADER;
	r->bcast_wanted = true;
	return 0;
}

void rk_raft_slept(struct rk_raft *r, uint64_t ticks)
{
	if (r->opts->clock != NULL)
		return; /* time went on while it slept */
	if (r->role != RK_RAFT_FOLLOWER && r->role != RK_RAFT_PRE_CANDIDATE)
		return;
	r->ticks += ticks;
}

int rk_raft_forget_leader(struct rk_raft *r)
{
	if (r->role != RK_RAFT_FOLLOWER && r->role != RK_RAFT_PRE_CANDIDATE)
		return RK_ESTATE;
	r->lead = RK_RAFT_NONE;
	return 0;
}

int rk_raft_leader_lost(struct rk_raft *r)
{
	if (r->role != RK_RAFT_FOLLOWER && r->role != RK_RAFT_PRE_CANDIDATE)
		return RK_ESTATE;
	r->lead = RK_RAFT_NONE;
	r->refuse_until = 0;
	return 0;
}

int rk_raft_step(struct rk_raft *r, const struct rk_raft_msg *m)
{
	bool vote_req;
	int rc;

	rc = rk_raft_msg_validate(m);
	if (rc != 0)
		return rc;
	if (m->to != r->id || m->from == r->id)
		return RK_EINVAL;
	vote_req = m->type == RK_RAFT_MSG_VOTE || m->type == RK_RAFT_MSG_PRE_VOTE;
	if (m->term > r->term) {
		if (vote_req && raft_in_lease(r, m))
			return 0; /* a leader is alive: not now */
		if (m->type == RK_RAFT_MSG_PRE_VOTE ||
		    (m->type == RK_RAFT_MSG_PRE_VOTE_RESP && !m->reject)) {
			/* Pre-votes speak of a term nobody entered yet. */
		} else {
			raft_become_follower(r, m->term,
					     from_leader(m) ? m->from : RK_RAFT_NONE);
		}
	} else if (m->term < r->term) {
		reply_stale(r, m);
		return 0;
	}
	if (vote_req)
		return raft_step_vote(r, m);
	switch (r->role) {
	case RK_RAFT_LEADER:
		if (m->type == RK_RAFT_MSG_APP_RESP)
			raft_handle_append_resp(r, m);
		else if (m->type == RK_RAFT_MSG_HEARTBEAT_RESP)
			raft_handle_heartbeat_resp(r, m);
		else if (m->type == RK_RAFT_MSG_SNAP_REQ)
			raft_handle_snap_req(r, m);
		break;
	case RK_RAFT_CANDIDATE:
	case RK_RAFT_PRE_CANDIDATE:
		if (m->type == RK_RAFT_MSG_VOTE_RESP ||
		    m->type == RK_RAFT_MSG_PRE_VOTE_RESP) {
			raft_step_vote_resp(r, m);
		} else if (from_leader(m)) {
			/* A leader of our term exists. */
			raft_become_follower(r, m->term, m->from);
			step_follower(r, m);
		}
		break;
	default:
		step_follower(r, m);
		break;
	}
	return 0;
}

/* ---- the leader's API ------------------------------------------------------------- */

int rk_raft_propose(struct rk_raft *r, const void *data, uint32_t len,
		    uint64_t *indexp)
{
	const struct rk_raft_options *o = r->opts;

	if (indexp != NULL)
		*indexp = 0;
	if (r->role != RK_RAFT_LEADER)
		return RK_ENOTLEADER;
	if (r->lead_transferee != RK_RAFT_NONE || !raft_is_member(&r->conf, r->id))
		return RK_EDROPPED;
	if (len > 0 && data == NULL)
		return RK_EINVAL;
	if ((o->max_entry_bytes != 0 && len > o->max_entry_bytes) ||
	    (o->max_entry_bytes == 0 && o->max_msg_bytes != 0 && len > o->max_msg_bytes))
		return RK_ETOOBIG;
	if (o->max_uncommitted_bytes != 0 && r->uncommitted_bytes > 0 &&
	    r->uncommitted_bytes + len > o->max_uncommitted_bytes)
		return RK_EBUSY;
	if (o->max_mem_bytes != 0 && r->mem_bytes + len > o->max_mem_bytes)
		return RK_EBUSY;
	return raft_append_local(r, RK_RAFT_ENTRY_NORMAL, data, len, indexp);
}

static void leader_switch_config(struct rk_raft *r)
{
	(void)raft_tracker_reconfigure(r);
	if (r->lead_transferee != RK_RAFT_NONE &&
	    !raft_is_voter(&r->conf, r->lead_transferee))
		raft_abort_transfer(r);
	if (raft_maybe_commit(r))
		raft_reads_on_commit(r);
	r->bcast_wanted = true;
}

int rk_raft_propose_conf_change(struct rk_raft *r,
				const struct rk_raft_conf_change *cc,
				uint64_t *indexp)
{
	return rk_raft_propose_conf_change_ctx(r, cc, NULL, 0, indexp);
}

int rk_raft_propose_conf_change_ctx(struct rk_raft *r,
				    const struct rk_raft_conf_change *cc,
				    const void *ctx, size_t ctx_len,
				    uint64_t *indexp)
{
	uint8_t buf[RK_RAFT_CC_ENCODED_MAX + RK_RAFT_CC_CTX_MAX];
	struct rk_raft_conf_state next;
	uint64_t index;
	size_t len;
	int rc;

	if (indexp != NULL)
		*indexp = 0;
	if (r->role != RK_RAFT_LEADER)
		return RK_ENOTLEADER;
	if (r->lead_transferee != RK_RAFT_NONE)
		return RK_EDROPPED;
	if (ctx_len > RK_RAFT_CC_CTX_MAX)
		return RK_EINVAL;
	if (r->pending_conf_index > r->applied && !RK_BUG(CONF_CHANGE_EARLY))
		return RK_ESTATE;
	rc = raft_conf_apply(&r->conf, cc, &next);
	if (rc != 0)
		return rc;
	len = rk_raft_cc_encode(cc, buf);
	if (ctx_len > 0)
		memcpy(buf + len, ctx, ctx_len);
	len += ctx_len;
	rc = raft_append_local(r, RK_RAFT_ENTRY_CONF_CHANGE, buf, (uint32_t)len,
			       &index);
	if (rc != 0)
		return rc;
	r->pending_conf_index = index;
	if (RK_BUG(CONF_CHANGE_EARLY)) {
		r->conf = next;
		leader_switch_config(r);
	}
	if (indexp != NULL)
		*indexp = index;
	return 0;
}

int rk_raft_apply_conf_change(struct rk_raft *r,
			      const struct rk_raft_conf_change *cc,
			      struct rk_raft_conf_state *csp)
{
	struct rk_raft_conf_state next;
	int rc;

	rc = raft_conf_apply(&r->conf, cc, &next);
	if (rc != 0) {
		*csp = r->conf;
		/* Under the planted bug the leader applied it already. */
		return RK_BUG(CONF_CHANGE_EARLY) && r->role == RK_RAFT_LEADER ?
			       0 : rc;
	}
	r->conf = next;
	*csp = next;
	if (r->role != RK_RAFT_LEADER)
		return 0;
	if (!raft_is_voter(&r->conf, r->id)) {
		/* Removed (or demoted): hand the range to the others. They
		 * elect a new leader after an election timeout. */
		raft_become_follower(r, r->term, RK_RAFT_NONE);
		return 0;
	}
	leader_switch_config(r);
	return 0;
}

int rk_raft_read_index(struct rk_raft *r, uint64_t ctx)
{
	return raft_read_index(r, ctx);
}

int rk_raft_transfer_leader(struct rk_raft *r, uint64_t to)
{
	struct raft_progress *pr;

	if (r->role != RK_RAFT_LEADER)
		return RK_ENOTLEADER;
	if (to == r->id) {
		raft_abort_transfer(r);
		return 0;
	}
	if (!raft_is_voter(&r->conf, to))
		return RK_EINVAL;
	if (r->lead_transferee == to)
		return 0;
	raft_abort_transfer(r);
	r->lead_transferee = to;
	r->election_elapsed = 0;
	pr = raft_progress_get(r, to);
	if (pr->match == raft_log_last_index(r))
		raft_send_timeout_now(r, to);
	else
		(void)raft_send_append(r, to, true);
	return 0;
}

int rk_raft_campaign(struct rk_raft *r)
{
	if (r->role == RK_RAFT_LEADER)
		return 0;
	if (!raft_is_promotable(r))
		return RK_ESTATE;
	raft_campaign(r, r->opts->pre_vote, false);
	return 0;
}

void rk_raft_inherit_lease(struct rk_raft *r, const struct rk_raft *from)
{
	if (RK_BUG(SPLIT_NO_LEASE_INHERIT))
		return;
	if (from->refuse_until > r->refuse_until)
		r->refuse_until = from->refuse_until;
}

int rk_raft_campaign_split(struct rk_raft *r)
{
	if (r->role == RK_RAFT_LEADER)
		return 0;
	if (!raft_is_promotable(r))
		return RK_ESTATE;
	/* No pre-vote: the voters have no leader to keep (a new group). */
	raft_campaign(r, false, true);
	return 0;
}

int rk_raft_campaign_split_again(struct rk_raft *r)
{
	if (r->role != RK_RAFT_CANDIDATE)
		return rk_raft_campaign_split(r);
	raft_resend_vote_requests(r);
	return 0;
}

void rk_raft_hard_state_taken(struct rk_raft *r, struct rk_raft_hard_state *hsp)
{
	hsp->term = r->term;
	hsp->vote = r->vote;
	hsp->commit = r->committed;
	if (!r->in_ready)
		r->prev_hs = *hsp;
}

int rk_raft_request_snapshot(struct rk_raft *r)
{
	struct rk_raft_msg m;

	if (r->role != RK_RAFT_FOLLOWER || r->lead == RK_RAFT_NONE)
		return RK_ESTATE;
	/* Of use only above what was applied (handed out) here. */
	r->snap_requested = r->applied + 1;
	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_SNAP_REQ;
	m.to = r->lead;
	m.index = r->snap_requested;
	raft_send(r, &m);
	return 0;
}

uint64_t rk_raft_snapshot_pending(const struct rk_raft *r)
{
	if (r->log == NULL)
		return 0;
	return r->log->has_snap ? r->log->snap.index
	       : r->log->has_sm_snap ? r->log->sm_snap.index : 0;
}

void rk_raft_report_unreachable(struct rk_raft *r, uint64_t to)
{
	struct raft_progress *pr = raft_progress_get(r, to);

	if (r->role == RK_RAFT_LEADER && pr != NULL &&
	    pr->state == RAFT_PR_REPLICATE)
		raft_progress_become_probe(r, pr);
}

void rk_raft_report_snapshot(struct rk_raft *r, uint64_t to, bool failed)
{
	struct raft_progress *pr = raft_progress_get(r, to);

	if (r->role != RK_RAFT_LEADER || pr == NULL ||
	    pr->state != RAFT_PR_SNAPSHOT)
		return;
	if (failed)
		pr->pending_snapshot = 0;
	raft_progress_become_probe(r, pr);
	/* Wait for the follower's answer (or a heartbeat response) before
	 * probing, so as not to race the snapshot. */
	pr->probe_sent = true;
}

uint64_t rk_raft_leader(const struct rk_raft *r)
{
	return r->lead;
}

/* ---- ready / advance -------------------------------------------------------------- */

static bool hs_equal(const struct rk_raft_hard_state *a,
		     const struct rk_raft_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

static uint64_t apply_limit(const struct rk_raft *r)
{
	return raft_min(r->committed, r->stable_last);
}

bool rk_raft_has_ready(const struct rk_raft *r)
{
	struct rk_raft_hard_state hs = {r->term, r->vote, r->committed};
	struct rk_raft *mr = (struct rk_raft *)(uintptr_t)r;

	if (r->in_ready)
		return false;
	if (r->n_msgs > 0 || r->bcast_wanted || raft_reads_have_ready(r))
		return true;
	if (!hs_equal(&hs, &r->prev_hs))
		return true;
	if (r->log != NULL && (r->log->has_snap || r->log->has_sm_snap))
		return true;
	if (apply_limit(r) > r->applied)
		return true;
	return raft_log_last_index(mr) > r->stable_last;
}

/* Splits the outbox into the two lists of the batch. */
static int take_messages(struct rk_raft *r, struct rk_raft_ready *rd)
{
	struct rk_raft_msg *now, *later;
	size_t i, nn = 0, nl = 0;

	if (r->n_msgs == 0)
		return 0;
	now = raft_arena_alloc(r, r->n_msgs * sizeof(*now));
	later = raft_arena_alloc(r, r->n_msgs * sizeof(*later));
	if (now == NULL || later == NULL)
		return RK_ENOMEM;
	for (i = 0; i < r->n_msgs; i++) {
		struct rk_raft_msg *m = &r->msgs[i];
		bool after = m->flags & RAFT_MSGF_AFTER_PERSIST;

		m->flags &= (uint8_t)~RAFT_MSGF_AFTER_PERSIST;
		if (after)
			later[nl++] = *m;
		else
			now[nn++] = *m;
	}
	rd->msgs = now;
	rd->n_msgs = nn;
	rd->msgs_after_persist = later;
	rd->n_msgs_after_persist = nl;
	raft_outbox_free(r);
	return 0;
}

int rk_raft_ready(struct rk_raft *r, struct rk_raft_ready *rdp)
{
	struct rk_raft_entry *ents;
	size_t n;
	uint64_t last, lim;
	int rc;

	memset(rdp, 0, sizeof(*rdp));
	if (r->in_ready)
		return RK_ESTATE;
	/* Deferred work: everything proposed or read in this turn shares one
	 * append per follower and one heartbeat round. */
	if (r->bcast_wanted && r->role == RK_RAFT_LEADER)
		raft_bcast_append(r);
	r->bcast_wanted = false;
	if (r->readonly != NULL && r->readonly->round_wanted) {
		r->readonly->round_wanted = false;
		if (r->role == RK_RAFT_LEADER)
			raft_bcast_heartbeat(r);
	}
	rdp->hs.term = r->term;
	rdp->hs.vote = r->vote;
	rdp->hs.commit = r->committed;
	rdp->has_hard_state = !hs_equal(&rdp->hs, &r->prev_hs);
	if (r->log != NULL && r->log->has_snap) {
		struct rk_raft_snapshot_meta *s = raft_arena_alloc(r, sizeof(*s));
		if (s == NULL)
			return RK_ENOMEM;
		*s = r->log->snap;
		rdp->snapshot = s;
	} else if (r->log != NULL && r->log->has_sm_snap) {
		struct rk_raft_snapshot_meta *s = raft_arena_alloc(r, sizeof(*s));
		if (s == NULL)
			return RK_ENOMEM;
		*s = r->log->sm_snap;
		rdp->snapshot = s;
		rdp->snapshot_keeps_log = true;
	}
	last = raft_log_last_index(r);
	if (last > r->stable_last) {
		rc = raft_log_slice(r, r->stable_last + 1, last + 1, 0, &ents, &n);
		if (rc != 0)
			return rc;
		rdp->entries = ents;
		rdp->n_entries = n;
	}
	lim = apply_limit(r);
	if (rdp->snapshot == NULL && lim > r->applied) {
		rc = raft_log_slice(r, r->applied + 1, lim + 1,
				    r->opts->max_committed_bytes_per_ready,
				    &ents, &n);
		if (rc != 0 && rc != RK_ECOMPACTED)
			return rc;
		if (rc == 0) {
			rdp->committed = ents;
			rdp->n_committed = n;
			if (n > 0 && r->log != NULL)
				r->log->handed_committed = ents[n - 1].index;
		}
	}
	rc = take_messages(r, rdp);
	if (rc != 0)
		return rc;
	raft_reads_take(r, &rdp->read_states, &rdp->n_read_states);
	rdp->leader = r->lead;
	rdp->role = r->role;
	rdp->must_sync = rdp->n_entries > 0 || rdp->snapshot != NULL ||
			 rdp->hs.term != r->prev_hs.term ||
			 rdp->hs.vote != r->prev_hs.vote;
	r->in_ready = true;
	raft_log_on_ready(r);
	return 0;
}

static uint64_t committed_payload(const struct rk_raft_ready *rd)
{
	uint64_t b = 0;
	size_t i;

	for (i = 0; i < rd->n_committed; i++)
		b += rd->committed[i].len;
	return b;
}

void rk_raft_advance(struct rk_raft *r, const struct rk_raft_ready *rd)
{
	struct raft_progress *self;
	uint64_t b;

	if (!r->in_ready)
		return;
	if (r->log != NULL)
		r->log->handed_committed = 0;
	if (rd->snapshot != NULL && rd->snapshot_keeps_log) {
		/* The log is as it was: only the state machine moved on. */
		if (r->log != NULL && r->log->has_sm_snap &&
		    r->log->sm_snap.index == rd->snapshot->index)
			r->log->has_sm_snap = false;
		/* After the entries applied before it (restore_keeping_log). */
		r->conf = rd->snapshot->conf;
		r->applied = raft_max(r->applied, rd->snapshot->index);
	} else if (rd->snapshot != NULL) {
		/* Again (restore took it): a configuration change applied by
		 * the batch before this one, older than the snapshot, changed
		 * it meanwhile. */
		r->conf = rd->snapshot->conf;
		if (r->log != NULL && r->log->has_snap &&
		    r->log->snap.index == rd->snapshot->index)
			r->log->has_snap = false;
		r->applied = raft_max(r->applied, rd->snapshot->index);
		r->stable_last = raft_max(r->stable_last, rd->snapshot->index);
	}
	if (rd->n_entries > 0) {
		const struct rk_raft_entry *e = &rd->entries[rd->n_entries - 1];
		raft_log_stable_to(r, e->index, e->term);
	}
	if (rd->n_committed > 0) {
		r->applied = raft_max(r->applied,
				      rd->committed[rd->n_committed - 1].index);
		if (r->role == RK_RAFT_LEADER) {
			b = committed_payload(rd);
			r->uncommitted_bytes = r->uncommitted_bytes > b ?
						       r->uncommitted_bytes - b : 0;
		}
	}
	if (rd->has_hard_state)
		r->prev_hs = rd->hs;
	r->in_ready = false;
	if (r->role == RK_RAFT_LEADER) {
		/* Our own acknowledgement: what is durable now. */
		self = raft_progress_get(r, r->id);
		if (self != NULL && raft_progress_maybe_update(self, r->stable_last) &&
		    raft_maybe_commit(r) && !r->opts->lazy_commit)
			r->bcast_wanted = true;
		if (r->conf.auto_leave && rk_raft_conf_is_joint(&r->conf) &&
		    r->pending_conf_index <= r->applied &&
		    r->lead_transferee == RK_RAFT_NONE) {
			struct rk_raft_conf_change leave;
			memset(&leave, 0, sizeof(leave));
			(void)rk_raft_propose_conf_change(r, &leave, NULL);
		}
	}
	raft_log_shrink(r);
	raft_log_on_advance(r);
	raft_log_maybe_free(r);
}

/* ---- status ----------------------------------------------------------------------- */

uint64_t rk_raft_last_index(const struct rk_raft *r)
{
	return raft_log_last_index((struct rk_raft *)(uintptr_t)r);
}

void rk_raft_status(const struct rk_raft *r, struct rk_raft_status *stp)
{
	struct rk_raft *mr = (struct rk_raft *)(uintptr_t)r;
	int i;

	memset(stp, 0, sizeof(*stp));
	stp->id = r->id;
	stp->role = r->role;
	stp->leader = r->lead;
	stp->hs.term = r->term;
	stp->hs.vote = r->vote;
	stp->hs.commit = r->committed;
	stp->applied = r->applied;
	stp->first_index = raft_log_first_index(mr);
	stp->last_index = raft_log_last_index(mr);
	stp->lead_transferee = r->lead_transferee;
	stp->mem_bytes = r->mem_bytes;
	stp->conf = r->conf;
	if (r->tracker == NULL)
		return;
	for (i = 0; i < r->conf.n; i++) {
		const struct raft_progress *pr = &r->tracker->pr[i];
		struct rk_raft_progress_status *ps = &stp->progress[i];

		ps->id = pr->id;
		ps->match = pr->match;
		ps->next = pr->next;
		ps->state = pr->state;
		ps->flags = r->conf.flags[i];
		ps->recent_active = pr->recent_active;
		ps->heard_at = pr->heard_at;
		ps->inflight = pr->in_count;
	}
	stp->n_progress = r->conf.n;
}
