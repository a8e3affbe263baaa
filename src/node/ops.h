/*
 * The operations in flight and the placement figures (docs/node.md,
 * "Operations"): GET /api/v1/operations and the rangekv_placement_*
 * families of /metrics.
 *
 * On the placement group's leader, the moves the scheduler's driver
 * started (sched_run.h: rk_ops_started) are followed through their
 * steps, read from each pass's snapshot of the descriptors
 * (rk_ops_look): learner (asked, not yet in the descriptor), snapshot
 * (a learner in the descriptor: the range's leader sends it the range),
 * promote (asked), remove (the new replica votes, the old one is still
 * there). A move is done once the node it left is out of the
 * descriptor, or once the range has no learner, its new replica (when
 * known) votes and it has no more voters than --replicas (the node a
 * removal named may stay: a removal decided on a stale view of the
 * index is refused by the range's leader), abandoned when its
 * replica leaves the descriptor or its range the index. Nothing is
 * replicated: a new leader rebuilds the moves in flight from the
 * learners in the descriptors (their started time is then the
 * takeover), and its done counters start at 0.
 *
 * Snapshot bytes are known on the range's leader that sends them
 * (snapshot.h): for each move whose new replica is in the descriptor,
 * up to its promotion (and after it while the total is not known), the
 * leader is asked GET /api/v1/ranges/{id}/snapshots once per look over
 * the forwarding path (fwd.h), so their cost grows with the moves in
 * flight, never with the ranges.
 *
 * The figures (replicas and leaderships per node, ranges without a
 * known leader, ranges with fewer voters than --replicas) come from the
 * same snapshot: each pass of the driver while it runs, else one look
 * of this module each RK_OPS_LOOK_MS (RK_SR_EVERY_MS while moves are
 * in flight), never a read of the index per scrape.
 *
 * Another node answers GET /api/v1/operations by asking the group's
 * leader (fwd.h), 503 when it knows none.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_OPS_H
#define RK_NODE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct rk_node;
struct rk_http_req;
struct rk_http_resp;
struct rk_pl_range;
struct rk_pl_op;
struct rk_pl_state;

#define RK_OPS_LOOK_MS 10000u

enum rk_ops_step {
	RK_OPS_LEARNER = 0,
	RK_OPS_SNAPSHOT = 1,
	RK_OPS_PROMOTE = 2,
	RK_OPS_REMOVE = 3,
};

struct rk_ops_move {
	uint64_t range, from, to; /* from 0: not known yet */
	uint64_t started_ms;      /* the loop's clock */
	uint64_t started_unix_ms; /* the wall clock, for people */
	uint64_t step_ms;         /* when it entered its step */
	uint64_t leader;          /* the range's leader at the last look, 0 unknown */
	uint64_t snap_sent, snap_size; /* as the leader last said; size 0 unknown */
	uint8_t step, reason;     /* enum rk_ops_step, enum rk_pl_reason */
	bool seen, asked;
};

struct rk_ops_node {
	uint64_t id;
	uint32_t replicas, leaders;
	uint64_t bytes; /* of the ranges it holds, as their leaders reported */
};

struct rk_ops {
	struct rk_ops_move *moves; /* by range id */
	size_t n_moves, cap_moves;
	uint64_t started, done, abandoned;
	uint64_t snap_bytes_done; /* snapshot bytes of the moves done */
	/* The last look's figures (have: taken while leading). */
	bool have;
	uint64_t looked_ms;
	struct rk_ops_node *nodes;
	size_t n_nodes, cap_nodes;
	uint64_t ranges, unavailable, under_replicated;
	uint64_t learners; /* ranges with a learner at the last look */
};

/* The driver carried out op on range x (sched_run.c). */
void rk_ops_started(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op);
/* A snapshot of the cluster (ranges with their leaders, nodes tallied). */
void rk_ops_look(struct rk_node *n, const struct rk_pl_state *st);
/* Whether a look at a snapshot of the same descriptors as the last
 * one's would change nothing but its time and the figures (no move
 * followed, no learner to rebuild one from): the caller may then call
 * rk_ops_figures instead, with the nodes of st tallied and the number of
 * st's ranges without a known leader, which it kept (no walk of them). */
bool rk_ops_settled(const struct rk_node *n);
void rk_ops_figures(struct rk_node *n, const struct rk_pl_state *st, size_t leaderless);
/* A look when one is due (rk_sr_look), on the group's leader only; the
 * moves forgotten elsewhere. */
void rk_ops_tick(struct rk_node *n);
/* GET /api/v1/operations: false for any other path. */
bool rk_ops_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp);
/* The placement families (figures on the group's leader only) and this
 * node's snapshot bytes sent. */
void rk_ops_metrics(struct rk_node *n, struct rk_buf *b);
void rk_ops_close(struct rk_node *n);

#endif
