/*
 * Node liveness (live.h).
 */
#include <time.h>

#include "log.h"
#include "node_int.h"
#include "quiesce.h"

#define MOD "node"

bool rk_live_is_dead(uint64_t now, uint64_t heard, bool connected)
{
	uint64_t silent = now - heard;

	return silent > RK_LIVE_DEAD_SILENT || (silent > RK_LIVE_DEAD_CLOSED && !connected);
}

void rk_live_heard(struct rk_node *n, struct rk_peer *p)
{
	p->lv.heard = n->live.round;
	if (!p->lv.alive) {
		rk_log_info(MOD, "node %llu is live", (unsigned long long)p->node_id);
		p->lv.alive = true;
		rk_quiesce_peer_returned(n, p);
	}
}

/* The first liveness heartbeat of a peer, or one with a new epoch (the peer
 * restarted). A restarted node's replicas start asleep knowing no leader
 * (boot.h): every sleeping range this node leads tells it so, in the
 * quiescence notice it already knows (rk_quiesce_on_msg). And the sleeping
 * ranges a restarted peer led have lost their leader: they wake and elect,
 * as if its node had died. */
void rk_live_on_msg(void *arg, const struct rk_net_liveness *l)
{
	struct rk_node *n = arg;
	struct rk_peer *p = rk_peer_find(n, n->cur_from);
	bool restarted;

	if (p == NULL)
		return;
	p->lv.seq_heard = l->seq;
	if (p->lv.epoch == l->epoch)
		return;
	restarted = p->lv.epoch != 0;
	p->lv.epoch = l->epoch;
	if (restarted)
		rk_log_info(MOD, "node %llu restarted", (unsigned long long)p->node_id);
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];
		if (restarted && rk_replica_leader_node(r) == p->node_id)
			rk_elect_orphan(n, r, true);
		else if (r->asleep && rk_raft_is_leader(&r->raft))
			rk_quiesce_tell(p, r);
	}
}

/* Every RK_LIVE_BEAT_ROUNDS rounds a liveness heartbeat to every peer
 * node; every round, the peers found dead (rk_live_is_dead) lose their
 * leaderships here: the ranges they led are elected again
 * (rk_elect_orphan). */
static void on_timer(uv_timer_t *t)
{
	struct rk_node *n = t->data;
	struct rk_net_liveness l;
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np = rk_net_peer_stats(n->net, ps, RK_MAX_NODES);
	bool beat;

	uv_timer_start(t, on_timer, rk_node_aligned(n, n->cfg.tick_ms), 0);
	l.epoch = n->live.epoch;
	l.seq = ++n->live.round;
	/* On the boundaries every node beats on (node_int.h), and at least
	 * every R rounds whatever they are (a loop late by a period each
	 * time could land on the others only). */
	beat = rk_node_slot(n, n->cfg.tick_ms) % RK_LIVE_BEAT_ROUNDS == 0 ||
	       n->live.round - n->live.beat_round >= RK_LIVE_BEAT_ROUNDS;
	if (beat)
		n->live.beat_round = n->live.round;
	for (uint32_t i = 0; i < n->n_peers; i++) {
		struct rk_peer *p = &n->peers[i];
		bool connected = false;

		for (size_t k = 0; k < np; k++)
			if (ps[k].node_id == p->node_id)
				connected = ps[k].connected;
		l.echo = p->lv.seq_heard;
		if (beat)
			rk_net_batch_add_liveness(&p->batch, &l);
		if (!p->lv.alive || !rk_live_is_dead(n->live.round, p->lv.heard, connected))
			continue;
		p->lv.alive = false;
		n->live.deaths++;
		rk_log_warn(MOD, "node %llu is not heard from for %llu intervals%s: "
			    "the ranges it led elect new leaders",
			    (unsigned long long)p->node_id,
			    (unsigned long long)(n->live.round - p->lv.heard),
			    connected ? "" : " and its connection is down");
		for (size_t k = 0; k < n->tab.n; k++) {
			struct rk_replica *r = n->tab.byid[k];
			if (rk_replica_leader_node(r) == p->node_id)
				rk_elect_orphan(n, r, false);
		}
	}
	rk_peer_flush_all(n);
}

void rk_live_start(struct rk_node *n)
{
	/* Distinct for every start of this node: peers notice restarts. */
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	n->live.epoch = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	uv_timer_init(&n->loop, &n->live.timer);
	n->live.timer.data = n;
	uv_timer_start(&n->live.timer, on_timer, rk_node_aligned(n, n->cfg.tick_ms), 0);
}
