/*
 * The placement scheduler's decision core: pure functions over a snapshot
 * of the cluster (nodes and range descriptors with their figures) that
 * return a bounded list of operations, each with its reason.
 *
 * Nothing here does anything: no clock (the caller passes now_ms), no I/O,
 * no allocation that outlives a call. The placement group's leader is meant
 * to feed it from its node table and its index of range descriptors, carry
 * out the operations through the runtime's membership calls (add a learner,
 * promote it, remove a replica, transfer the leadership, split, merge) and
 * call it again: src/node/sched_run.h does, while the cluster's rebalancing
 * is on (and for a drain while it is paused).
 *
 * Stateless by design: a move is several operations (add a learner, promote
 * it once its snapshot is in, transfer the leadership if needed, remove the
 * replica it replaces), and each pass derives the next step from the
 * descriptors alone. A placement leader that takes over therefore needs no
 * record of the moves in flight: the descriptors are the record.
 *
 * Incremental: a pass visits at most `slice` ranges from a cursor the
 * caller keeps between passes, so 100,000 ranges cost a number of short
 * passes, never one long one. Node aggregates (replicas, leaders, bytes,
 * moves in flight per node) are the caller's, kept current as descriptors
 * change; rk_pl_tally computes them from scratch, rk_pl_tally_range
 * keeps them current one range at a time.
 *
 * Threads: pure functions; the caller owns every array it passes in.
 */
#ifndef RK_PL_SCHED_H
#define RK_PL_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desc.h"

/* As many as a range descriptor holds. */
#define RK_PL_MAX_REPLICAS RK_DESC_MAX_REPLICAS

enum rk_pl_node_state {
	RK_PL_LIVE = 0,
	/* Missed heartbeats: no new replica goes there, none is taken away. */
	RK_PL_SUSPECT = 1,
	/* Dead since dead_since_ms: its replicas are repaired elsewhere once
	 * it has been dead for dead_after_ms. */
	RK_PL_DEAD = 2,
	/* Being drained: its replicas and leaderships move elsewhere. */
	RK_PL_DECOMMISSIONING = 3,
	/* Drained and out of the cluster; a replica left there is repaired. */
	RK_PL_DECOMMISSIONED = 4,
	RK_PL_NODE_STATE_MAX = 4
};

struct rk_pl_node {
	uint64_t id; /* non-zero, distinct */
	uint8_t state; /* enum rk_pl_node_state */
	uint64_t dead_since_ms; /* RK_PL_DEAD only, on the caller's clock */
	uint64_t capacity_bytes; /* 0: unknown, never a reason to refuse */
	/* Aggregates over the ranges (rk_pl_tally, or kept by the caller):
	 * replicas of any role, leaderships, bytes of the ranges it holds a
	 * replica of, and moves in flight it takes part in (a learner on it,
	 * or a learner of a range it leads: it sends the snapshot). */
	uint32_t replicas, leaders, moves;
	uint64_t bytes;
	/* Merges in flight whose left range it leads (that node gathers
	 * both leaderships and carries the merge out,
	 * cfg.max_merges_per_node): the caller's count, never tallied. */
	uint32_t merges;
};

struct rk_pl_replica {
	uint64_t replica_id;
	uint64_t node_id;
	/* enum rk_desc_role, as in the descriptor: any of the joint roles
	 * means a membership change is in flight. */
	uint8_t role;
};

/* What the caller has started on a range and not yet seen the outcome of
 * (in its descriptor). Such a range gets no operation. */
enum rk_pl_busy {
	RK_PL_IDLE = 0,
	RK_PL_BUSY_MEMBER = 1, /* a membership change or leader transfer */
	RK_PL_BUSY_SPLIT = 2,
	RK_PL_BUSY_MERGE = 3
};

/* The placement group's own range: moved like any range, never split or
 * merged. */
#define RK_PL_RANGE_SYSTEM 0x1
/* Made by an automatic split (the descriptor's auto_split flag, desc.h):
 * the boundary at its start may be merged away. A range without it
 * starts at a sticky boundary (a first start's or a split's by hand):
 * rule 7 never merges it into its left neighbour. */
#define RK_PL_RANGE_AUTO_SPLIT 0x2
/* Not cold for long enough yet (the caller's judgment of time: the core
 * has no history): merges neither into its left nor with its right. */
#define RK_PL_RANGE_WARM 0x4

struct rk_pl_range {
	uint64_t id;
	/* Span [start, end), end empty = unbounded. The ranges array is in
	 * start order and tiles the key space, so neighbours are adjacent in
	 * it (a merge checks that left's end is right's start). */
	const uint8_t *start, *end;
	uint32_t slen, elen;
	uint64_t generation, conf_version;
	/* n_reps replicas (at most RK_PL_MAX_REPLICAS) in the caller's
	 * storage, like the keys: the scheduler never writes them. Not an
	 * array in the struct: the placement leader keeps one of these per
	 * range of the cluster, and ten slots of which three are used were
	 * 240 of its 336 bytes (docs/benchmarks.md, "Idle at 100,000
	 * ranges: fewer wakeups, a smaller view of the index"). */
	struct rk_pl_replica *reps;
	uint64_t leader_node; /* 0: no known leader */
	uint64_t size_bytes;
	uint32_t writes_ps, reads_ps;
	/* Where the leader would split for load (0 length: none known; a
	 * split for load then goes at the middle, like one for size). */
	const uint8_t *split_key;
	uint32_t split_klen;
	uint8_t n_reps;
	uint8_t busy; /* enum rk_pl_busy */
	uint8_t flags; /* RK_PL_RANGE_* */
	/* The voters this range is kept at; 0: cfg.replicas. The placement
	 * group's own range has its own count (3, or 5 once the cluster has
	 * 5 nodes or more), whatever --replicas is. */
	uint8_t want;
};

struct rk_pl_config {
	uint32_t replicas; /* --replicas */
	uint64_t dead_after_ms; /* --dead-after */
	uint64_t split_size; /* --split-size; 0: never for size */
	uint32_t split_qps; /* --split-qps (writes + reads); 0: never for load */
	/* Two neighbours merge when together they are under both, and the
	 * right one was made by an automatic split (RK_PL_RANGE_AUTO_SPLIT). */
	uint64_t merge_size; /* 0: never merge */
	uint32_t merge_qps;
	/* Moves (learner added, snapshot not yet promoted) in flight; 0: no
	 * limit. */
	uint32_t max_moves_per_node;
	uint32_t max_moves_total;
	/* Merges in flight cluster-wide (those of the state, st.merges, and
	 * those the pass emits); 0: no limit. */
	uint32_t max_merges;
	/* Merges in flight per node leading their left range (the nodes'
	 * `merges` and those the pass emits); a merge whose left has no
	 * known leader is not emitted while it is set. 0: no limit. */
	uint32_t max_merges_per_node;
	/* Replicas, bytes and leaders per live node are balanced within this
	 * percentage of the mean (or one replica/leadership, whichever is
	 * more: 10% of 3 is no replica at all). */
	uint32_t balance_pct;
	/* Rule 9 off for this pass: leaderships are balanced by someone
	 * else (the node runtime, which moves each range's leadership to its
	 * preferred node while rebalancing is paused, src/node/balance.h), or
	 * the nodes' counts of leaderships are not yet known to show the last
	 * transfers (src/node/sched_run.c). Transfers for a drain or before a
	 * removal are made all the same. Rule 9 never moves a system
	 * range's leadership. */
	bool no_leader_balance;
};

/* replicas 3, dead_after 5 min, split_size 64 MiB, split_qps off,
 * merge_size split_size / 4, merge_qps off, moves 2 per node and 16 in
 * all, merges 4 in flight (no limit per node), balance 10%, leaders
 * balanced. */
void rk_pl_config_default(struct rk_pl_config *cfgp);

enum rk_pl_op_kind {
	RK_PL_OP_ADD_LEARNER = 0, /* node_id: where; the move's first step */
	RK_PL_OP_PROMOTE = 1, /* replica_id: a learner, to voter */
	RK_PL_OP_REMOVE = 2, /* replica_id: never the leader's */
	RK_PL_OP_TRANSFER_LEADER = 3, /* node_id: a voter's node */
	RK_PL_OP_SPLIT = 4, /* split_key, or the middle if split_klen is 0 */
	RK_PL_OP_MERGE = 5 /* range_id absorbs right_id, its right neighbour */
};

enum rk_pl_reason {
	RK_PL_WHY_SHORT = 0, /* fewer replicas than cfg.replicas */
	RK_PL_WHY_REPAIR = 1, /* a replica on a node dead past dead_after */
	RK_PL_WHY_DRAIN = 2, /* a replica or leader on a decommissioning node */
	RK_PL_WHY_EXCESS = 3, /* more voters than cfg.replicas */
	RK_PL_WHY_CATCH_UP = 4, /* a learner to promote: a move's next step */
	RK_PL_WHY_FREE_LEADER = 5, /* the leader's replica must go: hand over */
	RK_PL_WHY_BALANCE_COUNT = 6,
	RK_PL_WHY_BALANCE_BYTES = 7,
	RK_PL_WHY_BALANCE_LEADERS = 8,
	RK_PL_WHY_SPLIT_SIZE = 9,
	RK_PL_WHY_SPLIT_LOAD = 10,
	RK_PL_WHY_MERGE_SMALL = 11,
	/* One of a swap's two moves (rule 8): a heavy range off a node over
	 * the bytes band, a light one onto it, counts unchanged. */
	RK_PL_WHY_BALANCE_SWAP = 12,
	/* A step of moving a merge pair's right range onto its left's nodes
	 * (rule 7): a learner on a left node, its promotion, the removal of
	 * a replica off them, the leadership handed over first. */
	RK_PL_WHY_MERGE_ALIGN = 13,
	RK_PL_WHY_MAX = 13
};

struct rk_pl_op {
	uint8_t kind; /* enum rk_pl_op_kind */
	uint8_t reason; /* enum rk_pl_reason */
	uint64_t range_id;
	/* The range as the decision saw it: the caller refuses to carry out
	 * an operation on a range whose descriptor has moved on since. */
	uint64_t generation, conf_version;
	uint64_t node_id; /* ADD_LEARNER, TRANSFER_LEADER */
	uint64_t replica_id; /* PROMOTE, REMOVE */
	uint64_t right_id; /* MERGE */
	/* SPLIT: points into the range's split_key (the caller's memory). */
	const uint8_t *split_key;
	uint32_t split_klen;
};

struct rk_pl_state {
	uint64_t now_ms;
	struct rk_pl_node *nodes;
	size_t n_nodes;
	struct rk_pl_range *ranges; /* in start order */
	size_t n_ranges;
	/* Moves in flight (ranges with a learner), an aggregate like the
	 * nodes' (rk_pl_tally). */
	uint32_t moves;
	/* Merges in flight, the caller's count (cfg.max_merges). */
	uint32_t merges;
};

/* One pass's bounds, its cursor and what it found. */
struct rk_pl_pass {
	/* In: */
	size_t cursor; /* the first range to visit (taken modulo n_ranges) */
	size_t slice; /* how many ranges to visit at most (0: all) */
	struct rk_pl_op *ops; /* room for max_ops */
	size_t max_ops;
	/* Out, set on every path: */
	size_t next_cursor; /* the cursor of the following pass */
	bool wrapped; /* this pass visited the last range: a sweep ended */
	size_t n_ops;
	size_t visited;
	/* Of the ranges visited: with fewer voters on healthy nodes than
	 * cfg.replicas, with no known live leader (no operation possible),
	 * and needing a replica that no node can take now (no eligible node
	 * or the move limits are reached). */
	size_t n_short, n_leaderless, n_blocked;
};

/*
 * One pass: visits up to pass->slice ranges from pass->cursor, each range
 * at most once and given at most one operation, the first of these rules
 * that applies (docs/placement.md says why in this order):
 *   1. a busy range, a range in a joint configuration or without a live
 *      leader: nothing;
 *   2. a learner: promoted if its node is live (the move's next step),
 *      else removed (learners do not vote: removing one is free);
 *   3. fewer healthy voters than cfg.replicas: a learner added on the
 *      best eligible node (top up, repair, drain) - before any removal;
 *   4. more voters than cfg.replicas: the worst removed (a doomed node's
 *      first, then the fullest), the leadership handed over first if the
 *      leader's replica is the one to go;
 *   5. the leader on a decommissioning node: handed over;
 *   6. split for size, then for load;
 *   7. merge with the right neighbour, if the right was made by an
 *      automatic split (a sticky boundary stays); when the two would
 *      merge but for their replica sets (rk_pl_merge_pair), the next
 *      step of moving the right's replicas onto the left's nodes instead
 *      (reason merge_align): such a pair is the merge's, and no other
 *      rule touches either range in the pass that visits them together;
 *   8. replica balance by count, then by bytes (only while no doomed node
 *      holds replicas: repairs get the move slots first), judging nodes
 *      by their figures once the moves in flight among the visited
 *      ranges are done; and when the visits chose nothing, nothing is in
 *      flight, the counts are in their band and the bytes are not: a
 *      swap, two moves (a heavy range off a node over the bytes mean, a
 *      light one onto it) that bring both nodes closer to the mean;
 *   9. leader balance (unless cfg.no_leader_balance).
 * Never two replicas of a range on one node; at most max_moves_per_node
 * and max_moves_total moves in flight, counting those the state already
 * has; ops[] holds at most max_ops (the pass stops visiting when full).
 *
 * Reads st, never writes it (node aggregates are copied and projected
 * forward as operations are chosen). RK_EINVAL for a config or state it
 * cannot judge (replicas 0 or above RK_PL_MAX_REPLICAS, a node id of 0 or
 * twice, no room for operations); RK_ENOMEM.
 */
int rk_pl_pass(const struct rk_pl_config *cfg, const struct rk_pl_state *st,
	       struct rk_pl_pass *pass);

/*
 * Whether left and its right neighbour right are a merge pair: they would
 * merge by rule 7 once the right's replicas are on the left's nodes.
 * Neither the placement group's, right made by an automatic split,
 * neither RK_PL_RANGE_WARM, adjacent, together under merge_size,
 * merge_qps and half of split_qps, and the left settled: its voters
 * (cfg.replicas), no learner, each on a live node of st. The replica
 * sets, the right's own state, whether either is busy and the limits on
 * merges in flight are not judged. Rule 7 aligns such a pair's sets and
 * merges it; a caller that runs other passes over the same ranges (the
 * driver's, with merges off) marks both ranges busy there, so that
 * balancing never moves the replicas an alignment is gathering
 * (docs/placement.md, "Merging neighbours whose replica sets differ").
 */
bool rk_pl_merge_pair(const struct rk_pl_config *cfg, const struct rk_pl_state *st,
		      const struct rk_pl_range *left, const struct rk_pl_range *right);
/* Whether the replicas are spread: no move in flight (st->moves) and
 * every live node's count of replicas within the band rule 8 balances
 * to (cfg->balance_pct of the live nodes' mean, at least one replica).
 * The driver balances leaderships (rule 9) only then: a node short of
 * replicas cannot take its share of them. */
bool rk_pl_counts_settled(const struct rk_pl_config *cfg, const struct rk_pl_state *st);

/* Fills every node's aggregates (replicas, leaders, bytes, moves) and
 * st->moves from the ranges, in O(ranges x replicas x log nodes). Replicas on nodes not in
 * st->nodes are ignored. RK_EINVAL for duplicate node ids, RK_ENOMEM. */
int rk_pl_tally(struct rk_pl_state *st);
/* Adds (sign 1) or takes away (sign -1) range r's share of what
 * rk_pl_tally counts: its nodes' replicas, bytes and moves, its leader's
 * leaderships and moves, st->moves. For counts kept between tallies: a
 * range whose leader or size changes is taken away as it was and added
 * as it is, and the counts equal rk_pl_tally's over the ranges as they
 * are, with no walk of them all. st->nodes must have distinct ids (as
 * after a tally); r need not be in st->ranges. O(replicas x nodes). */
void rk_pl_tally_range(struct rk_pl_state *st, const struct rk_pl_range *r, int sign);

/* The bounds rk_pl_moves_for_rate keeps to: moves in flight per node
 * (and the cluster's bound, RK_PL_MOVES_TOTAL_PER_NODE times that), and
 * how long a move holds its slot beyond its snapshot's send. */
#define RK_PL_MAX_MOVES_PER_NODE 32u
#define RK_PL_MOVES_TOTAL_PER_NODE 8u
#define RK_PL_MOVE_HOLD_MS 500u

/* Raises cfg's move limits so that snapshots of small ranges keep a
 * node's snapshot rate (`rate` bytes a second, the runtime's
 * --snapshot-rate) busy. A move holds its slot from its learner to its
 * promotion, and beyond the snapshot's send that is the calls of its
 * steps and the index catching up with them, about RK_PL_MOVE_HOLD_MS
 * whatever the range's size: with ranges of mean size m (the tallied
 * bytes of st's nodes over their replicas) a node needs rate x hold / m
 * moves in flight to send at its rate, 16 for ranges of 1 MiB at 32
 * MiB/s where cfg's 2 sent about 4 MiB/s. max_moves_per_node becomes
 * that, never below cfg's own nor above RK_PL_MAX_MOVES_PER_NODE (empty
 * ranges: the most), max_moves_total RK_PL_MOVES_TOTAL_PER_NODE times
 * it, never below cfg's. Larger ranges keep cfg's limits: their sends
 * fill the rate alone. A limit of 0 (none) stays; so does cfg when rate
 * is 0. Call it only when st's sizes are known (all 0 otherwise:
 * the most moves, of ranges of any size). */
void rk_pl_moves_for_rate(struct rk_pl_config *cfg, const struct rk_pl_state *st,
			  uint64_t rate);

/* Names for logs and the operations API; never NULL. */
const char *rk_pl_op_name(uint8_t kind);
const char *rk_pl_reason_name(uint8_t reason);
const char *rk_pl_node_state_name(uint8_t state);

#endif
