/*
 * A tiny cluster for the scheduler's tests: nodes and ranges as the
 * placement group would hold them, and the operations applied to them the
 * way the runtime would carry them out (a learner's snapshot takes a few
 * steps, a leader on a node that dies is replaced by an election).
 *
 * Applying an operation checks what the runtime would refuse or what
 * would break the scheduler's promises, and fails the test at once (with
 * the step and the operation): a second replica on a node, a removal of
 * the leader's replica, an operation on a busy range or a stale
 * descriptor, a replica on a dead node removed before its replacement is
 * a voter. After every step: no node above its move limit by that step's
 * operations.
 *
 * Keys are 8-byte big-endian numbers; range i of n starts at i * 2^64 / n,
 * the last range is unbounded.
 */
#ifndef RK_TEST_PL_WORLD_H
#define RK_TEST_PL_WORLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "figs.h"
#include "sched.h"

#define W_MAX_NODES 16

/* What the world keeps of a range beside its rk_pl_range. */
struct w_extra {
	uint8_t s[8], e[8]; /* its span's keys */
	struct rk_pl_replica reps[RK_PL_MAX_REPLICAS]; /* its replicas */
	uint64_t next_rid; /* its next replica id: ids are never reused */
	uint8_t wait; /* steps until it is no longer busy */
};

struct world {
	struct rk_pl_config cfg;
	struct rk_pl_node nodes[W_MAX_NODES];
	size_t n_nodes;
	struct rk_pl_range *ranges; /* in start order */
	struct w_extra *ext; /* beside ranges[] */
	size_t n_ranges, cap;
	uint64_t next_range_id;
	uint64_t now_ms;
	uint64_t rng;
	/* The pass's cursor, kept between steps as the placement leader
	 * would keep it. */
	size_t cursor, slice;
	size_t steps, ops_applied, last_visited;
	size_t ops_by_kind[RK_PL_OP_MERGE + 1];
	size_t ops_by_reason[RK_PL_WHY_MAX + 1];
	/* Whether an operation may take a few steps (a snapshot in flight). */
	bool slow_ops;
	/* Sizes as the placement leader learns them (src/node/rfig.h), if
	 * report_per_step is not 0: each step, the leader of each range
	 * reports its size into `figs` when it moved by more than 10% since
	 * its last report (or was never reported), at most report_per_step
	 * ranges a node; the passes see the reported sizes, and all sizes 0
	 * until every range was reported once (as the driver does: a part of
	 * the sizes would make the nodes that reported look heaviest).
	 * `grow` bytes are added to a random range each step while
	 * grow_steps lasts: figures move under the scheduler's feet. */
	size_t report_per_step;
	struct rk_pl_figtab figs;
	struct rk_pl_range *seen; /* the passes' copy of ranges[] */
	size_t cap_seen;
	uint64_t grow;
	size_t grow_steps;
	size_t passes_sized; /* passes that saw every size */
};

uint64_t w_rand(struct world *w);

/* n_nodes live nodes (ids 1..n_nodes) and n_ranges ranges of `replicas`
 * replicas each, placed on the nodes the caller lists in `on` (the
 * replicas of range i on on[(i + k) % n_on], k < replicas), leaders on the
 * first of them, sizes between size_lo and size_hi bytes. */
void w_init(struct world *w, uint64_t seed, size_t n_nodes, size_t n_ranges,
	    const uint64_t *on, size_t n_on, uint64_t size_lo,
	    uint64_t size_hi);
void w_free(struct world *w);

/* A state for rk_pl_pass (pointers into w: valid until w changes). */
void w_state(struct world *w, struct rk_pl_state *stp);

/* The node's new state; a node that stops being up loses its leaderships
 * to an election among the range's other voters on up nodes. */
void w_set_node(struct world *w, uint64_t id, uint8_t state);
/* A node joins, live and empty (ids follow the last). */
uint64_t w_add_node(struct world *w);

/* One step: the clock moves a second, ranges finish their operations,
 * leaderless ranges with a quorum elect, one pass runs, its operations are
 * applied, the aggregates are tallied and checked. Returns the number of
 * operations. */
size_t w_step(struct world *w);

/* Steps until passes covering every range give no operation and nothing
 * is busy, at most max_steps (fails the test beyond). Returns the steps
 * taken. */
size_t w_settle(struct world *w, size_t max_steps);

/* Applies op as the runtime would (checks in the header comment). */
void w_apply(struct world *w, const struct rk_pl_op *op);

/* Fails the test unless every range has cfg.replicas voters and no
 * learner, all on live nodes, distinct, and replicas, bytes (when
 * check_bytes) and leaders per live node are within the band. */
void w_check_settled(struct world *w, bool check_bytes);

struct rk_pl_range *w_range(struct world *w, uint64_t id);

/* One pass over every range of w (no slice, from range 0), its
 * operations left in ops[] (room for max); fails the test unless it
 * returns 0. Returns the number of operations. */
size_t w_pass(struct world *w, struct rk_pl_op *ops, size_t max, struct rk_pl_pass *passp);
/* How many of ops[0..n) are of that kind. */
size_t w_count_ops(const struct rk_pl_op *ops, size_t n, uint8_t kind);
/* r's replicas: n voters on the nodes on[], replica ids 1..n, the leader
 * on on[0]. */
void w_set_reps(struct rk_pl_range *r, const uint64_t *on, uint8_t n);
struct rk_pl_node *w_node(struct world *w, uint64_t id);

#endif
