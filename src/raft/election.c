/*
 * Roles and elections: randomized timeouts, pre-vote, votes, and the
 * check-quorum "lease" that makes voters refuse to elect anyone while they
 * hear from a live leader.
 */
#include <string.h>

#include "raft_int.h"

/* splitmix64: small, seedable, good enough to spread election timeouts. */
static uint64_t rng_next(struct rk_raft *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void raft_reset_randomized_timeout(struct rk_raft *r)
{
	int e = r->opts->election_tick;

	r->randomized_election_timeout = e + (int)(rng_next(r) % (uint64_t)e);
}

static void reset(struct rk_raft *r, uint64_t term)
{
	if (r->term != term) {
		r->term = term;
		r->vote = RK_RAFT_NONE;
	}
	r->lead = RK_RAFT_NONE;
	r->election_elapsed = 0;
	r->heartbeat_elapsed = 0;
	raft_reset_randomized_timeout(r);
	raft_abort_transfer(r);
	memset(r->votes, 0, sizeof(r->votes));
	raft_tracker_free(r);
	raft_readonly_free(r);
	r->pending_conf_index = 0;
	r->lead_first = 0;
	r->uncommitted_bytes = 0;
}

void raft_become_follower(struct rk_raft *r, uint64_t term, uint64_t lead)
{
	reset(r, term);
	r->lead = lead;
	r->role = RK_RAFT_FOLLOWER;
}

void raft_become_pre_candidate(struct rk_raft *r)
{
	/* Pre-vote changes neither term nor vote: a node that cannot win
	 * disturbs nobody. */
	memset(r->votes, 0, sizeof(r->votes));
	raft_tracker_free(r);
	raft_readonly_free(r);
	r->lead = RK_RAFT_NONE;
	r->role = RK_RAFT_PRE_CANDIDATE;
}

void raft_become_candidate(struct rk_raft *r)
{
	reset(r, r->term + 1);
	r->vote = r->id;
	r->role = RK_RAFT_CANDIDATE;
}

int raft_become_leader(struct rk_raft *r)
{
	struct raft_progress *self;
	int rc;

	reset(r, r->term);
	r->lead = r->id;
	r->role = RK_RAFT_LEADER;
	rc = raft_tracker_reset(r);
	if (rc != 0) {
		raft_become_follower(r, r->term, RK_RAFT_NONE);
		return rc;
	}
	/* Our own log counts only as far as it is durable; advance() moves
	 * it on as persists complete. */
	self = raft_progress_get(r, r->id);
	if (self != NULL) {
		self->match = r->stable_last;
		raft_progress_become_replicate(r, self);
		self->next = raft_log_last_index(r) + 1;
	}
	/* Changes may be pending in the uncommitted tail we inherit; be
	 * conservative and let none through until that tail is applied. */
	r->pending_conf_index = raft_log_last_index(r);
	/* An empty entry of our term commits the inherited tail (only entries
	 * of the current term are committed by counting). */
	rc = raft_append_local(r, RK_RAFT_ENTRY_NORMAL, NULL, 0, NULL);
	if (rc == 0) {
		r->lead_first = raft_log_last_index(r);
		raft_bcast_append(r);
	}
	return rc;
}

static void send_vote_requests(struct rk_raft *r, bool pre_vote,
			       bool transfer)
{
	uint64_t last = raft_log_last_index(r);
	uint64_t last_term = raft_log_last_term(r);
	int i;

	for (i = 0; i < r->conf.n; i++) {
		struct rk_raft_msg m;

		if (r->conf.ids[i] == r->id ||
		    !(r->conf.flags[i] & (RK_RAFT_VOTER | RK_RAFT_VOTER_OUT)))
			continue;
		memset(&m, 0, sizeof(m));
		m.type = pre_vote ? RK_RAFT_MSG_PRE_VOTE : RK_RAFT_MSG_VOTE;
		m.to = r->conf.ids[i];
		m.term = pre_vote ? r->term + 1 : r->term;
		m.index = last;
		m.log_term = last_term;
		if (transfer)
			m.flags |= RK_RAFT_MSGF_TRANSFER;
		raft_send(r, &m);
	}
}

static void record_vote(struct rk_raft *r, uint64_t id, bool granted)
{
	int i = raft_conf_slot(&r->conf, id);

	if (i >= 0 && r->votes[i] == 0)
		r->votes[i] = granted ? 1 : 2;
}

static void on_tally(struct rk_raft *r)
{
	switch (raft_vote_tally(r)) {
	case RAFT_VOTE_WON:
		if (r->role == RK_RAFT_PRE_CANDIDATE)
			raft_campaign(r, false, false);
		else
			(void)raft_become_leader(r);
		break;
	case RAFT_VOTE_LOST:
		raft_become_follower(r, r->term, RK_RAFT_NONE);
		break;
	default:
		break;
	}
}

void raft_resend_vote_requests(struct rk_raft *r)
{
	/* The same requests as rk_raft_campaign_split's: a voter that
	 * granted one grants it again (it voted for us in this term), one
	 * that refused refuses again. */
	send_vote_requests(r, false, true);
}

void raft_campaign(struct rk_raft *r, bool pre_vote, bool transfer)
{
	if (!raft_is_promotable(r))
		return;
	if (pre_vote)
		raft_become_pre_candidate(r);
	else
		raft_become_candidate(r);
	record_vote(r, r->id, true);
	/* A single voter wins on its own vote. */
	if (raft_vote_tally(r) == RAFT_VOTE_WON) {
		on_tally(r);
		return;
	}
	send_vote_requests(r, pre_vote, transfer);
}

/*
 * With check-quorum, a voter that heard from a live leader less than an
 * election timeout ago refuses to elect anyone (a leadership transfer is
 * the exception: the leader itself asked for it). This is what makes the
 * leader's lease safe, and it keeps a partitioned node that comes back with
 * a higher term from deposing a healthy leader. The time is the options'
 * clock (real time in a node, so a stopped or late process does not
 * stretch it). A replica that just started does not know whom it heard
 * from, so it counts as having heard from a leader at start. refuse_until
 * is kept apart from election_elapsed and lead on purpose: a stray message
 * with a higher term resets those, and must not cut a lease short.
 */
bool raft_in_lease(const struct rk_raft *r, const struct rk_raft_msg *m)
{
	if (RK_BUG(LEASE_NO_CHECK_QUORUM))
		return false;
	if (!r->opts->check_quorum || (m->flags & RK_RAFT_MSGF_TRANSFER))
		return false;
	if (r->role == RK_RAFT_LEADER)
		return true;
	return raft_now(r) < r->refuse_until;
}

int raft_step_vote(struct rk_raft *r, const struct rk_raft_msg *m)
{
	bool pre = m->type == RK_RAFT_MSG_PRE_VOTE;
	bool can_vote;
	bool up_to_date;
	struct rk_raft_msg resp;

	/* We may vote again for whom we voted; or vote at all if we have not
	 * in this term and know no leader; pre-votes are for a future term. */
	can_vote = r->vote == m->from ||
		   (r->vote == RK_RAFT_NONE && r->lead == RK_RAFT_NONE) ||
		   (pre && m->term > r->term);
	up_to_date = raft_log_is_up_to_date(r, m->index, m->log_term);
	if (RK_BUG(VOTE_NO_LOG_CHECK))
		up_to_date = true;
	memset(&resp, 0, sizeof(resp));
	resp.type = pre ? RK_RAFT_MSG_PRE_VOTE_RESP : RK_RAFT_MSG_VOTE_RESP;
	resp.to = m->from;
	if (can_vote && up_to_date) {
		resp.term = m->term;
		raft_send(r, &resp);
		if (!pre) {
			r->election_elapsed = 0;
			r->vote = m->from;
		}
	} else {
		resp.term = r->term;
		resp.reject = true;
		raft_send(r, &resp);
	}
	return 0;
}

void raft_step_vote_resp(struct rk_raft *r, const struct rk_raft_msg *m)
{
	bool pre = m->type == RK_RAFT_MSG_PRE_VOTE_RESP;

	if ((pre && r->role != RK_RAFT_PRE_CANDIDATE) ||
	    (!pre && r->role != RK_RAFT_CANDIDATE))
		return;
	record_vote(r, m->from, !m->reject);
	on_tally(r);
}
