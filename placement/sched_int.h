/*
 * What the scheduler's rule files share: one pass's working state and the
 * helpers to judge nodes, pick targets and emit operations.
 *
 * The working state is a copy of the nodes, sorted by id, whose aggregates
 * are projected forward as the pass chooses operations (a learner added
 * counts on its node at once, the replica it replaces leaves its node at
 * once), so that the second decision of a pass sees the first.
 *
 * The moves the state already has in flight are projected too, for the
 * balancing rules only: the aggregates count a move's learner on its node
 * while the replica it replaces is still on its own (until a later pass
 * removes it), which makes that node look a replica fuller than it will
 * be. Balancing judges nodes by their settled figures (pl_cnt, pl_byt):
 * the aggregates less the replicas that the in-flight moves of the ranges
 * this pass visits will remove (`out`). The removals themselves (rule 4)
 * and their forecast judge the same settled figures (pl_excess_voter):
 * each foreseen removal lowers its node's settled count before the next
 * is foreseen, so that the removals of many moves in flight are foreseen
 * spread over the nodes they will come from, as rule 4 makes them one
 * after another, not all on the node that is fullest now.
 */
#ifndef RK_PL_SCHED_INT_H
#define RK_PL_SCHED_INT_H

#include "sched.h"

struct pl_ctx {
	const struct rk_pl_config *cfg;
	const struct rk_pl_state *st;
	struct rk_pl_pass *pass;
	struct rk_pl_node *nodes; /* copy of st->nodes, by id */
	size_t n_nodes;
	uint32_t moves_total;
	uint32_t merges_total; /* in flight and emitted (cfg.max_merges) */
	/* A doomed node still holds replicas: balancing waits, so that
	 * repairs and drains get the move slots. */
	bool doomed_hold;
	/* Balance bands over the live nodes: [lo, hi]. */
	double cnt_lo, cnt_hi, byt_lo, byt_hi, ldr_lo, ldr_hi;
	/* Whether some live node is below the count or the bytes band; valid
	 * unless lows_stale (an operation moved the figures since). Most
	 * ranges of a balanced cluster are judged on these alone. */
	bool low_cnt, low_byt, lows_stale;
	/* Per node (by index in nodes[]): replicas and bytes the moves in
	 * flight will take off it (pl_cnt, pl_byt). */
	uint32_t *out_cnt;
	uint64_t *out_byt;
	/* The ranges whose removal is projected in out_*, each with the node
	 * it is projected on; a removal emitted for one of them takes its
	 * projection back (the aggregates drop instead). */
	struct pl_pend {
		const struct rk_pl_range *r; /* NULL once taken back */
		size_t node;
	} *pend;
	size_t n_pend;
	/* Learners among the ranges this pass visits. */
	uint32_t learners_seen;
};

/* A node's settled figures: its aggregates less what the moves in flight
 * will take off it (sched_int.h's header comment). */
uint32_t pl_cnt(const struct pl_ctx *c, const struct rk_pl_node *n);
uint64_t pl_byt(const struct pl_ctx *c, const struct rk_pl_node *n);

/* r's membership is in a joint configuration (a change in flight). */
bool pl_in_joint(const struct rk_pl_range *r);
/* r has a leader that can carry out a membership change: a voter on a
 * node that is up (live, suspect or draining). */
bool pl_has_leader(struct pl_ctx *c, const struct rk_pl_range *r);

/* The node with that id, NULL if the state does not know it. */
struct rk_pl_node *pl_node(struct pl_ctx *c, uint64_t id);

/* A replica there must go: its node is decommissioning, decommissioned,
 * unknown, or dead for at least dead_after_ms. */
bool pl_doomed(const struct pl_ctx *c, const struct rk_pl_node *n);
bool pl_node_doomed(struct pl_ctx *c, uint64_t id);
/* The voters r is kept at: its own count, else cfg.replicas. */
uint32_t pl_want(const struct pl_ctx *c, const struct rk_pl_range *r);
/* Live: may receive replicas and leaderships. */
bool pl_node_live(struct pl_ctx *c, uint64_t id);

/* Whether r has a replica (of any role) on that node. */
bool pl_range_has_node(const struct rk_pl_range *r, uint64_t node_id);

/* Whether n may take a new replica of r: live, holding none of r's
 * replicas, room for r's bytes if its capacity is known, under the move
 * limits (its own and those of r's leader, which sends the snapshot). */
bool pl_eligible(struct pl_ctx *c, const struct rk_pl_range *r,
		 const struct rk_pl_node *n, const struct rk_pl_node *leader);

/* The best eligible node for a new replica of r: the fewest replicas
 * first, then the fewest bytes, then the lowest id, by settled figures
 * (pl_cnt, pl_byt). NULL if none. */
struct rk_pl_node *pl_best_target(struct pl_ctx *c,
				  const struct rk_pl_range *r);

/* Whether one more move through these nodes stays within the limits
 * (to NULL: whether the cluster-wide limit leaves room for any move). */
bool pl_move_allowed(const struct pl_ctx *c, const struct rk_pl_node *to,
		     const struct rk_pl_node *leader);

/* A voter of r on a live node other than `not`, with the fewest
 * leaderships (then the lowest id); 0 if none. */
uint64_t pl_leader_target(struct pl_ctx *c, const struct rk_pl_range *r,
			  uint64_t not);

/* Emitters: append one operation (the caller checked there is room) and
 * project it onto the node aggregates. add_learner charges a move to
 * `to` and to the leader's node; `from`, if not NULL, is the node whose
 * replica the move replaces (its figures drop now). */
void pl_emit_add(struct pl_ctx *c, const struct rk_pl_range *r,
		 struct rk_pl_node *to, struct rk_pl_node *from, uint8_t why);
void pl_emit_replica(struct pl_ctx *c, const struct rk_pl_range *r,
		     uint8_t kind, uint64_t replica_id, uint8_t why);
void pl_emit_transfer(struct pl_ctx *c, const struct rk_pl_range *r,
		      uint64_t to, uint8_t why);
struct rk_pl_op *pl_emit(struct pl_ctx *c, const struct rk_pl_range *r,
			 uint8_t kind, uint8_t why);

/*
 * The rules, in the order rk_pl_pass applies them. Each returns true when
 * it emitted an operation for r (the range is then done for this pass).
 */

/* Rules 2-5 (repair.c): learners, short ranges, excess voters, leaders
 * on draining nodes. *shortp: r lacks healthy voters (whether or not a
 * learner could be added): balancing and merging leave it alone. */
bool pl_repair(struct pl_ctx *c, const struct rk_pl_range *r, bool *shortp);

/* Rule 6 (split.c). */
bool pl_split(struct pl_ctx *c, const struct rk_pl_range *r);
/* Whether a and b have the same replica set: the same nodes with the same
 * roles (the replica ids differ: each range allocates its own). */
bool pl_same_replicas(const struct rk_pl_range *a, const struct rk_pl_range *b);
/* rk_pl_merge_pair over the pass's nodes (split.c). */
bool pl_merge_pair(struct pl_ctx *c, const struct rk_pl_range *left,
		   const struct rk_pl_range *right);
/* Whether st->ranges[i] is in a merge pair with a neighbour: held from
 * balancing (rule 8 and its swap). */
bool pl_held(struct pl_ctx *c, size_t i);
/* Rule 7 (split.c): r with its right neighbour `right` (NULL if none).
 * True when they are a merge pair (rk_pl_merge_pair, the left's nodes
 * all live), whether or not an operation came of it: the pass then
 * leaves both to it. */
bool pl_merge(struct pl_ctx *c, const struct rk_pl_range *r,
	      const struct rk_pl_range *right);

/* Rule 7's alignment (align.c): the next step of moving the replicas of
 * `right` onto the nodes of `left`, a merge pair (pair checked by
 * pl_merge) whose replica sets differ; nothing when none can be taken
 * now (the right busy, joint or leaderless, or no node of the left can
 * take a learner: counted blocked). */
void pl_align(struct pl_ctx *c, const struct rk_pl_range *left,
	      const struct rk_pl_range *right);

/* Rules 8 and 9 (balance.c). */
bool pl_balance_replicas(struct pl_ctx *c, const struct rk_pl_range *r);
/* Rule 8's swap (swap.c), after a pass's visits chose nothing: `n` ranges
 * of st->ranges from index `first` (wrapping), those the pass visited.
 * Emits two ADD_LEARNERs or nothing; RK_ENOMEM. */
int pl_balance_swap(struct pl_ctx *c, size_t first, size_t n);
bool pl_balance_leaders(struct pl_ctx *c, const struct rk_pl_range *r);
/* Of r's voters, the one an excess removal takes when none is doomed: the
 * fullest node's by settled figures, r's own foreseen removal taken back
 * (replicas, then bytes, then the highest node id). With
 * more voters than cfg.replicas the newest (highest replica id) is never
 * it: the move that added it meant it to stay, and balancing picks its
 * source with this same function before the add, so the removal that ends
 * a move takes the replica the move was for. NULL if none. */
const struct rk_pl_replica *pl_excess_voter(struct pl_ctx *c,
					    const struct rk_pl_range *r);

#endif
