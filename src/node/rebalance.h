/*
 * The cluster's rebalance switch (docs/node.md, "The scheduler's
 * driver"): whether the placement leader's scheduler moves replicas and
 * leaderships on its own (top-up, repair, spread after a join), or leaves
 * them where they are. On by default; --rebalance off at the first start
 * (a cluster setting, settings.h) starts the cluster paused; later the
 * switch is the placement group's row "r" (placement/group/nodes.h,
 * REBALANCE), so it survives a leader change and a restart of every node.
 * Draining a decommissioning node goes on while paused: a user who asked
 * for a decommission expects it to finish.
 *
 *   GET  /api/v1/rebalance                {"enabled": bool}, as the
 *        placement leader last told this node (503 before it told any)
 *   POST /api/v1/rebalance?enabled=true|false   (an admin call: the
 *        token, http.h) 200 {"enabled"} when the cluster is so already,
 *        else 202: the REBALANCE command goes to the group's leader, sent
 *        again each second until the leader tells this node the new state
 *        (30 s at most)
 *
 * Every node learns the switch from its heartbeats' answers
 * (heartbeat.h); the leader reads it from the group's applied state.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_REBALANCE_H
#define RK_NODE_REBALANCE_H

#include <stdbool.h>
#include <stdint.h>

struct rk_node;
struct rk_http_req;
struct rk_http_resp;

struct rk_rb {
	bool told, told_on; /* what the group's leader last told this node */
	bool asking, want;  /* a change asked on this node, not yet told */
	uint64_t ask_started_ms, ask_sent_ms;
	/* rk_rb_enabled's last reading of the row, and the applied index of
	 * this node's replica of the group it was read at (its `visible`). */
	bool read, read_on;
	uint64_t read_at;
};

/* On the group's leader (or a node holding a replica of the group): the
 * switch as its applied state says, the first-start setting until a
 * REBALANCE was applied. Read from the store once per applied index of
 * the node's replica of the group (the driver asks every pass). */
bool rk_rb_enabled(struct rk_node *n);
/* The switch, as a heartbeat's answer tells it (heartbeat.c). */
void rk_rb_told(struct rk_node *n, bool on);
/* Each tick: a change asked for, sent again until told. */
void rk_rb_tick(struct rk_node *n);
/* /api/v1/rebalance; false for any other path. */
bool rk_rb_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp);

#endif
