/*
 * Leadership balance (balance.h).
 */
#include <stdlib.h>

#include "admin.h"
#include "heartbeat.h"
#include "node_int.h"
#include "peer.h"
#include "quiesce.h"

struct round {
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np, moved;
};

uint64_t rk_balance_preferred(const struct rk_node *n, const struct rk_replica *r)
{
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	uint32_t k = rk_replica_voter_nodes(r, ids, RK_DESC_MAX_REPLICAS), m = 0;

	/* More voters than --replicas: a move between its promotion and its
	 * removal. The scheduler hands the leadership off the replica it
	 * removes (docs/placement.md, rule 4), and the preferred node of
	 * these voters may be that one: no preference until it is gone. */
	if (rk_range_reserved(r->range) ? rk_plc_group_size(k) != k
					: k > rk_node_config_replicas(&n->cfg))
		return 0; /* the placement group's count is its own: 3 or 5 */
	/* A node being drained is never preferred: the scheduler hands its
	 * leaderships over (docs/placement.md, rule 5), and balance must not
	 * hand them back. */
	for (uint32_t i = 0; i < k; i++) {
		int st = rk_hb_state_of(n, ids[i]);
		if (st != RK_HB_DECOMMISSIONING && st != RK_HB_DECOMMISSIONED)
			ids[m++] = ids[i];
	}
	/* The placement group's among its first-start nodes still voting
	 * (plc.h says why). */
	if (rk_range_reserved(r->range))
		m = rk_plc_steady(n, ids, m);
	return rk_elect_preferred(ids, m, r->range);
}

/* Whether the placement group's scheduler spreads r's leadership instead
 * (balance.h): a user range, in a cluster with the group, with
 * rebalancing on as the group's leader last told this node. */
static bool scheduler_spreads(const struct rk_node *n, const struct rk_replica *r)
{
	return !rk_range_reserved(r->range) && n->plc.n_nodes > 0 && n->rb.told && n->rb.told_on;
}

bool rk_balance_split_held(const struct rk_replica *r, uint64_t now_ms)
{
	return !r->asleep && r->split_ms != 0 && now_ms - r->split_ms < RK_BALANCE_SPLIT_HOLD_MS;
}

void rk_balance_note_sleep(struct rk_node *n, struct rk_replica *r)
{
	struct rk_balance *b = &n->bal;
	uint64_t pref = scheduler_spreads(n, r) ? 0 : rk_balance_preferred(n, r);

	if (pref != 0 && pref != n->cfg.node_id && !r->misplaced &&
	    rk_grow((void **)&b->misplaced, &b->cap, b->n, sizeof(*b->misplaced)) == 0) {
		r->misplaced = true;
		b->misplaced[b->n++] = r;
	}
}

static void balance_one(struct rk_replica *r, void *arg)
{
	struct round *rd = arg;
	struct rk_node *n = r->node;
	uint64_t want = rk_balance_preferred(n, r);
	bool up = false;

	if (rd->moved >= RK_BALANCE_MAX || !rk_raft_is_leader(&r->raft) ||
	    scheduler_spreads(n, r) ||
	    want == n->cfg.node_id || rk_raft_transferee(&r->raft) != 0 ||
	    rk_balance_split_held(r, uv_now(&n->loop)) ||
	    rk_admin_busy(n, r->range) || rk_merge_busy(n, r->range) ||
	    r->sessions.frozen != 0)
		return; /* a membership or merge call would see its proposals dropped;
			 * a frozen range's leadership stays with its left's (merge.h) */
	/* Connected is not enough: a stopped process (SIGSTOP, a stall)
	 * keeps its connections open. Each transfer to it would time out
	 * after an election timeout with the range's proposals dropped
	 * meanwhile, and the next round would start another: the placement
	 * group took no command while its preferred node was stopped. */
	for (size_t k = 0; k < rd->np; k++)
		if (rd->ps[k].node_id == want)
			up = rd->ps[k].connected && rk_peer_alive(n, want);
	if (up && rk_raft_transfer_leader(&r->raft, rk_replica_on_node(r, want)) == 0) {
		rk_node_wake(n, r); /* the transfer runs on ticks */
		rk_node_mark_dirty(n, r);
		rd->moved++;
	}
}

void rk_balance_leaders(struct rk_node *n)
{
	struct rk_balance *b = &n->bal;
	struct round rd;
	size_t k = 0;

	/* Not while this node still starts elections of its own; and a
	 * bounded number per round: each transfer wakes its range. */
	if (n->cfg.n_initial == 0 || rk_elect_queued(n))
		return;
	rd.np = rk_net_peer_stats(n->net, rd.ps, RK_MAX_NODES);
	rd.moved = 0;
	rk_table_visit_some(&n->tab, NULL, 0, balance_one, &rd);
	for (size_t i = 0; i < b->n; i++) {
		struct rk_replica *r = b->misplaced[i];
		/* Noted before the group's leader told this node that the
		 * scheduler spreads leaderships (at start): the scheduler's
		 * now. Kept, the list held a third of the node's ranges or more
		 * for good, and its walk each second was most of an idle
		 * node's balance time. rk_balance_renote notes them again when
		 * the scheduler stops. */
		if (scheduler_spreads(n, r)) {
			r->misplaced = false;
			continue;
		}
		if (r->asleep && rk_raft_is_leader(&r->raft))
			balance_one(r, &rd);
		if (r->asleep && rk_raft_is_leader(&r->raft) &&
		    rk_raft_transferee(&r->raft) == 0)
			b->misplaced[k++] = r; /* its node is down: later */
		else
			r->misplaced = false;
	}
	b->n = k;
}

void rk_balance_renote(struct rk_node *n)
{
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];
		if (r->asleep && rk_raft_is_leader(&r->raft))
			rk_balance_note_sleep(n, r);
	}
}

void rk_balance_forget(struct rk_node *n, struct rk_replica *r)
{
	struct rk_balance *b = &n->bal;
	size_t k = 0;

	for (size_t i = 0; i < b->n; i++)
		if (b->misplaced[i] != r)
			b->misplaced[k++] = b->misplaced[i];
	b->n = k;
	r->misplaced = false;
}

void rk_balance_free(struct rk_balance *b)
{
	free(b->misplaced);
	b->misplaced = NULL;
	b->n = b->cap = 0;
}
