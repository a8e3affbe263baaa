/*
 * Quiescence (quiesce.h).
 */
#include "log.h"
#include "node_int.h"
#include "plc.h"
#include "quiesce.h"

#define MOD "node"

/* ---- pure decisions ---------------------------------------------------------------- */

bool rk_quiesce_settled(const struct rk_raft_status *st, uint64_t applied,
			rk_elect_live_fn alive, void *arg)
{
	size_t voters = 0, caught_up = 0;

	if (st->role != RK_RAFT_LEADER || st->lead_transferee != 0 ||
	    st->hs.commit != st->last_index || applied != st->hs.commit ||
	    st->n_progress == 0 || rk_raft_conf_is_joint(&st->conf))
		return false;
	for (size_t i = 0; i < st->n_progress; i++) {
		bool voter = (st->progress[i].flags & RK_RAFT_LEARNER) == 0;

		voters += voter;
		if (st->progress[i].id == st->id) {
			caught_up += voter;
			continue;
		}
		/* A replica on a dead node does not keep the range awake
		 * (with a node down, every range it holds would heartbeat
		 * forever): the range wakes when the node is back and behind
		 * (rk_quiesce_peer_returned). */
		if (!alive(arg, st->progress[i].id))
			continue;
		if (st->progress[i].match != st->last_index)
			return false;
		caught_up += voter;
	}
	return 2 * caught_up > voters;
}

bool rk_quiesce_tick(uint32_t *quiet, bool settled)
{
	if (!settled) {
		*quiet = 0;
		return false;
	}
	return ++*quiet >= RK_QUIESCE_AFTER_TICKS;
}

bool rk_quiesce_follower_sleeps(const struct rk_raft_status *st, uint64_t applied,
				uint64_t term, uint64_t leader, uint64_t commit)
{
	return st->role == RK_RAFT_FOLLOWER && st->hs.term == term &&
	       st->leader == leader && st->hs.commit == commit &&
	       st->last_index == commit && applied == commit;
}

bool rk_quiesce_can_follow(const struct rk_raft_status *st, uint64_t term,
			   uint64_t commit)
{
	return st->hs.term == term && st->hs.commit == commit &&
	       st->last_index == commit;
}

/* ---- the node's replicas ----------------------------------------------------------- */

/* Whether the node replica id (of the replica arg's range) is on is live. */
static bool replica_live(void *arg, uint64_t id)
{
	const struct rk_replica *r = arg;

	return rk_peer_alive(r->node, rk_replica_node(r, id));
}

/* Puts r to sleep: it is not ticked until something wakes it. */
void rk_node_sleep(struct rk_node *n, struct rk_replica *r)
{
	r->asleep = true;
	r->asleep_since = uv_now(&n->loop);
	rk_table_awake_remove(&n->tab, r);
	/* Its leadership may have changed while awake: its figures are
	 * looked at by the next beat (rfig.h). */
	rk_rfig_touch(n, r);
	rk_size_note_sleep(n, r);
	rk_own_role(n, r);
	rk_plc_report_owed(n, r);
	n->stats.quiesced++;
	if (rk_raft_is_leader(&r->raft))
		rk_balance_note_sleep(n, r);
}

void rk_node_wake(struct rk_node *n, struct rk_replica *r)
{
	if (!r->asleep || r->removing)
		return;
	if (rk_table_awake_add(&n->tab, r) != 0) {
		rk_log_error(MOD, "out of memory waking range %llu; stopping",
			     (unsigned long long)r->range);
		rk_node_fail(n);
		return;
	}
	r->asleep = false;
	r->quiet_ticks = 0;
	n->stats.woken++;
	/* A lease it held has run out by the clock anyway (leases and vote
	 * refusals are measured in time, not ticks: a follower woken by a new
	 * candidate votes as it would have, had it been ticked all along);
	 * voiding it also drops rounds acknowledged before the sleep. */
	rk_raft_lease_void(&r->raft);
	rk_node_mark_dirty(n, r);
}

static bool settled_leader(struct rk_replica *r)
{
	struct rk_raft_status st;

	/* The cheap tests first: most awake replicas under load fail them.
	 * A ready not yet taken does not count against it: under load the
	 * tick usually finds the heartbeat answers of the last one stepped
	 * but not yet processed, and what the test needs (everything
	 * replicated, committed and applied) is in the status. */
	if (!rk_raft_is_leader(&r->raft) || r->persisting || r->installing ||
	    rk_raft_transferee(&r->raft) != 0)
		return false;
	rk_raft_status(&r->raft, &st);
	return rk_quiesce_settled(&st, r->applied, replica_live, r);
}

void rk_quiesce_peer_returned(struct rk_node *n, struct rk_peer *p)
{
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];
		struct rk_raft_status st;

		if (!r->asleep || !rk_raft_is_leader(&r->raft))
			continue;
		rk_raft_status(&r->raft, &st);
		for (size_t k = 0; k < st.n_progress; k++)
			if (rk_replica_node(r, st.progress[k].id) == p->node_id &&
			    st.progress[k].match != st.last_index)
				rk_node_wake(n, r);
	}
}

void rk_quiesce_tell(struct rk_peer *p, struct rk_replica *r)
{
	struct rk_raft_status st;
	struct rk_net_quiesce q;

	rk_raft_status(&r->raft, &st);
	q.range = r->range;
	q.term = st.hs.term;
	q.commit = st.hs.commit;
	rk_net_batch_add_quiesce(&p->batch, &q);
}

void rk_quiesce_maybe(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;

	if (!rk_quiesce_tick(&r->quiet_ticks, settled_leader(r)))
		return;
	rk_raft_status(&r->raft, &st);
	for (size_t i = 0; i < st.n_progress; i++) {
		struct rk_peer *p = rk_peer_find(n, rk_replica_node(r, st.progress[i].id));
		if (st.progress[i].id != st.id && p != NULL && p->lv.alive)
			rk_quiesce_tell(p, r);
	}
	rk_node_sleep(n, r);
}

/* A replica asleep since the start, told who leads it: it follows if its
 * log is the leader's (rk_quiesce_can_follow); otherwise it wakes and
 * catches up the usual way (its election timer wakes the leader). */
static void restarted_follow(struct rk_node *n, struct rk_replica *r,
			     const struct rk_net_quiesce *q)
{
	struct rk_raft_status st;
	uint64_t lead = rk_replica_on_node(r, n->cur_from);

	rk_raft_status(&r->raft, &st);
	if (!r->installing && lead != 0 && rk_quiesce_can_follow(&st, q->term, q->commit) &&
	    rk_raft_follow(&r->raft, lead, q->term, q->commit) == 0) {
		rk_node_mark_dirty(n, r);
		return;
	}
	rk_node_wake(n, r);
}

void rk_quiesce_on_msg(void *arg, const struct rk_net_quiesce *q)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_table_get(&n->tab, q->range);
	struct rk_raft_status st;

	if (r != NULL && r->removing)
		return;
	if (r != NULL && r->asleep && rk_raft_leader(&r->raft) == 0) {
		restarted_follow(n, r, q);
		return;
	}
	if (r == NULL || r->asleep || r->installing ||
	    rk_raft_role(&r->raft) != RK_RAFT_FOLLOWER)
		return;
	rk_raft_status(&r->raft, &st);
	if (st.hs.term != q->term || st.leader == 0 ||
	    rk_replica_node(r, st.leader) != n->cur_from)
		return;
	/* Still catching up (the commit not yet learnt, entries being
	 * persisted or applied): learn the commit from the notice (the leader
	 * sent it knowing our log matches up to there), and sleep once caught
	 * up. A follower left awake under a sleeping leader would campaign
	 * and wake the range again. */
	if (st.hs.commit < q->commit)
		(void)rk_raft_follow(&r->raft, st.leader, q->term, q->commit);
	r->pq = true;
	r->pq_term = q->term;
	r->pq_commit = q->commit;
	r->pq_leader = st.leader;
	rk_node_mark_dirty(n, r);
	rk_node_sleep_pending(n, r);
}

void rk_node_sleep_pending(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;

	if (!r->pq || r->asleep)
		return;
	if (r->persisting || r->installing || rk_raft_has_ready(&r->raft))
		return; /* not yet: called again when it is processed */
	rk_raft_status(&r->raft, &st);
	r->pq = false;
	if (rk_quiesce_follower_sleeps(&st, r->applied, r->pq_term, r->pq_leader,
				       r->pq_commit))
		rk_node_sleep(n, r);
}
