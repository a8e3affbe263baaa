/*
 * Elections this node starts itself (elect.h).
 */
#include <stdlib.h>

#include "log.h"
#include "node_int.h"
#include "quiesce.h"

/* ---- pure decisions ---------------------------------------------------------------- */

uint64_t rk_elect_preferred(const uint64_t *ids, uint32_t n, uint64_t range)
{
	return n == 0 ? 0 : ids[(range - 1) % n];
}

uint64_t rk_elect_elector(const uint64_t *ids, uint32_t n, uint64_t self,
			  uint64_t range, rk_elect_live_fn live, void *arg)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = ids[(range - 1 + i) % n];
		if (id == self || live(arg, id))
			return id;
	}
	return 0;
}

bool rk_elect_majority(uint32_t n, uint32_t live)
{
	return n == 0 || 2 * live > n;
}

enum rk_elect_step rk_elect_campaign_step(uint64_t age, bool knows_leader,
					  bool pre_candidate, bool tick)
{
	if (knows_leader || age >= RK_ELECT_CAMPAIGN_TICKS)
		return RK_ELECT_RETIRE;
	if (tick && age > 0 && age % RK_ELECT_CAMPAIGN_RETRY_TICKS == 0 && pre_candidate)
		return RK_ELECT_RETRY;
	return RK_ELECT_KEEP;
}

enum rk_elect_leaderless rk_elect_leaderless(uint64_t elector, uint64_t self,
					     uint64_t asleep_ms, uint64_t wait_ms)
{
	if (elector == self && self != 0)
		return RK_ELECT_CAMPAIGN;
	if (elector == 0 || asleep_ms > wait_ms)
		return RK_ELECT_WAKE;
	return RK_ELECT_WAIT;
}

/* ---- the node's elections ---------------------------------------------------------- */

static bool peer_live(void *arg, uint64_t node_id)
{
	return rk_peer_alive(arg, node_id);
}

/* Over the range's own voters (not every range is on every node). */
static uint64_t elector_of(struct rk_node *n, const struct rk_replica *r)
{
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	uint32_t k = rk_replica_voter_nodes(r, ids, RK_DESC_MAX_REPLICAS);

	return rk_elect_elector(ids, k, n->cfg.node_id, r->range, peer_live, n);
}

int rk_elect_init(struct rk_node *n)
{
	n->el.campaigns = calloc(RK_ELECT_CAMPAIGNS_MAX, sizeof(*n->el.campaigns));
	n->el.sweep_needed = true;
	return n->el.campaigns == NULL ? RK_ENOMEM : 0;
}

void rk_elect_close(struct rk_node *n)
{
	free(n->el.q);
	free(n->el.campaigns);
	n->el.q = NULL;
	n->el.campaigns = NULL;
}

void rk_elect_forget(struct rk_node *n, struct rk_replica *r)
{
	struct rk_elect *el = &n->el;
	size_t k = el->pos;

	for (size_t i = el->pos; i < el->n_q; i++)
		if (el->q[i] != r)
			el->q[k++] = el->q[i];
	el->n_q = k;
	k = 0;
	for (size_t i = 0; i < el->n_campaigns; i++)
		if (el->campaigns[i].r != r)
			el->campaigns[k++] = el->campaigns[i];
	el->n_campaigns = k;
	r->queued = false;
}

bool rk_elect_queued(const struct rk_node *n)
{
	return n->el.pos < n->el.n_q;
}

static void queue_campaign(struct rk_node *n, struct rk_replica *r)
{
	struct rk_elect *el = &n->el;

	if (r->queued)
		return;
	if (el->pos > 0 && el->pos == el->n_q)
		el->pos = el->n_q = 0; /* drained: reuse */
	if (rk_grow((void **)&el->q, &el->cap_q, el->n_q, sizeof(*el->q)) != 0) {
		rk_node_wake(n, r); /* elects the usual way instead */
		return;
	}
	r->queued = true;
	el->q[el->n_q++] = r;
}

void rk_elect_first_start(struct rk_node *n)
{
	/* Brand-new groups: no leader ever held a lease. */
	for (size_t i = 0; i < n->tab.n; i++) {
		(void)rk_raft_leader_lost(&n->tab.byid[i]->raft);
		if (rk_balance_preferred(n, n->tab.byid[i]) == n->cfg.node_id)
			queue_campaign(n, n->tab.byid[i]);
	}
	rk_elect_run(n, false);
}

void rk_elect_run(struct rk_node *n, bool tick)
{
	struct rk_elect *el = &n->el;
	uint32_t live = 1;
	size_t k = 0;

	for (size_t i = 0; i < el->n_campaigns; i++) {
		struct campaign *c = &el->campaigns[i];
		enum rk_elect_step s = rk_elect_campaign_step(
			n->ticks - c->since, rk_raft_leader(&c->r->raft) != 0,
			rk_raft_role(&c->r->raft) == RK_RAFT_PRE_CANDIDATE, tick);

		if (s == RK_ELECT_RETIRE)
			continue;
		if (s == RK_ELECT_RETRY) {
			rk_raft_campaign(&c->r->raft);
			rk_node_mark_dirty(n, c->r);
		}
		el->campaigns[k++] = *c;
	}
	el->n_campaigns = k;
	/* No campaign into the void: a peer still starting (a first start
	 * writes every range before it listens) would leave each one to
	 * expire awake and campaign on its own timer, the storm this queue
	 * is for. New ones start once a majority of the initial cluster is
	 * live. */
	for (uint32_t i = 0; i < n->n_peers; i++)
		live += n->peers[i].lv.alive;
	if (!rk_elect_majority(n->cfg.n_initial, live))
		return;
	while (el->n_campaigns < RK_ELECT_CAMPAIGNS_MAX && el->pos < el->n_q) {
		struct rk_replica *r = el->q[el->pos++];
		r->queued = false;
		if (rk_raft_leader(&r->raft) != 0)
			continue; /* led meanwhile */
		rk_node_wake(n, r);
		if (r->asleep || rk_raft_is_leader(&r->raft))
			continue;
		rk_raft_campaign(&r->raft);
		rk_node_mark_dirty(n, r);
		el->campaigns[el->n_campaigns].r = r;
		el->campaigns[el->n_campaigns].since = n->ticks;
		el->n_campaigns++;
	}
}

void rk_elect_sweep(struct rk_node *n)
{
	uint64_t wait_ms = (uint64_t)RK_ELECT_LEADERLESS_WAIT_TICKS * n->cfg.tick_ms;
	bool left = false;

	/* Sleeping replicas without a leader come only from a start or an
	 * orphaning (a replica goes to sleep knowing its leader): once a
	 * sweep finds none, the next ones are skipped until then. */
	if (!n->el.sweep_needed)
		return;
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];

		if (!r->asleep || rk_raft_leader(&r->raft) != 0)
			continue;
		if (r->queued) {
			left = true; /* its campaign may fail: look again */
			continue;
		}
		/* Its votes are refused until an election timeout after it
		 * last heard a leader (the start counts), by the clock: the
		 * campaign below waits that out by itself. */
		switch (rk_elect_leaderless(elector_of(n, r), n->cfg.node_id,
					    uv_now(&n->loop) - r->asleep_since, wait_ms)) {
		case RK_ELECT_CAMPAIGN:
			queue_campaign(n, r);
			break;
		case RK_ELECT_WAKE:
			rk_node_wake(n, r);
			break;
		case RK_ELECT_WAIT:
			left = true;
			break;
		}
	}
	n->el.sweep_needed = left;
}

/* A follower whose leader's node restarted (`gone`: the old process and
 * its leases are certainly gone) forgets the leader and grants its vote at
 * once (rk_raft_leader_lost). One whose leader's node merely stopped
 * answering, or whose connection to it was closed or reset (a firewall
 * REJECT, a proxy restart: the process may still run and serve reads from
 * its lease), forgets the leader but refuses votes until an election
 * timeout after it last heard from it (rk_raft_forget_leader): the
 * elector's pre-votes are refused until then and asked again every
 * RK_ELECT_CAMPAIGN_RETRY_TICKS. Asleep, it stays asleep until the vote
 * request comes. The node that should elect the
 * range (its elector: the next live node in the preferred order) queues a
 * campaign. One election per range, started by one node, a bounded number
 * at a time: no split votes, and no storm when a node that led a third of
 * 100,000 ranges dies. A sleeping replica's wait for its elector is counted
 * from now (rk_elect_sweep).
 *
 * Why no lease is broken: a vote is granted at once only when the leader's
 * process is certainly gone (a new one runs on its node); otherwise only
 * once its lease has run out, by the voter's own monotonic clock (leases
 * are measured in time from the round's start, with a margin for clock
 * rate: docs/raft.md). */
void rk_elect_orphan(struct rk_node *n, struct rk_replica *r, bool gone)
{
	if ((gone ? rk_raft_leader_lost(&r->raft) : rk_raft_forget_leader(&r->raft)) != 0)
		return;
	n->el.sweep_needed = true;
	if (r->asleep)
		r->asleep_since = uv_now(&n->loop);
	if (elector_of(n, r) == n->cfg.node_id)
		queue_campaign(n, r);
}
