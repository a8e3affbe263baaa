/*
 * Rule 7's other half (sched.h): a merge pair (rk_pl_merge_pair) whose
 * replica sets differ. A merge needs the same replica set on both sides
 * (node.md "Range merge"), and after a join, a drain or a repair two
 * neighbours often sit on different nodes. As CockroachDB's merge queue
 * does (it relocates the right range onto the left's stores, then
 * merges), the right's replicas are moved onto the left's nodes, one
 * step a pass, each step an ordinary one of a move:
 *   - a learner of the right: promoted if it is on a live node of the
 *     left, else removed (a learner has no vote: free);
 *   - more voters than wanted: a voter off the left's nodes is removed
 *     (one on a node that is not live first, once the live voters
 *     without it are enough; the leadership handed over first, to the
 *     left's leader's node if it can take it, so the merge finds both
 *     leaders there);
 *   - else a learner on a node of the left the right lacks, within the
 *     move limits (pl_eligible: live, room for its bytes).
 * Adding comes before removing, as for every move: the right never has
 * fewer voters than it had. The left's set is the target and only a
 * settled left whose nodes are all live is one (rk_pl_merge_pair): a
 * replica of the left on a node that is going is the left's repair
 * first, and no learner goes to a node that is not live.
 *
 * Why it does not fight balancing: the pair is the merge's from the
 * moment it is one (pl_merge consumes both ranges, and the driver marks
 * both busy for its main pass), so balancing moves neither while the
 * alignment goes on; and an alignment ends in a merge that leaves every
 * node with as many replicas as before it or one fewer (the right's
 * replicas on the left's nodes are merged away, those elsewhere were
 * removed), so what balancing sees afterwards was never made worse by
 * it. An alignment the pair stops being cold for is left where it is:
 * the other rules finish a move half done as any other.
 */
#include "bugs.h"
#include "sched_int.h"

/* r's replica on node, NULL if none. */
static const struct rk_pl_replica *rep_on(const struct rk_pl_range *r, uint64_t node)
{
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].node_id == node)
			return &r->reps[i];
	return NULL;
}

/* Where the right's leadership goes before its leader's replica is
 * removed: the left's leader's node if the right has a voter there, else
 * the voter on a node of the left with the fewest leaderships; always a
 * live node other than `not`. 0 if none. */
static uint64_t lead_to(struct pl_ctx *c, const struct rk_pl_range *left,
			const struct rk_pl_range *right, uint64_t not)
{
	const struct rk_pl_node *best = NULL;

	for (uint8_t i = 0; i < left->n_reps; i++) {
		const struct rk_pl_replica *p = rep_on(right, left->reps[i].node_id);
		const struct rk_pl_node *n = pl_node(c, left->reps[i].node_id);

		if (p == NULL || p->role != RK_DESC_VOTER || n == NULL ||
		    n->state != RK_PL_LIVE || n->id == not)
			continue;
		if (n->id == left->leader_node)
			return n->id;
		if (best == NULL || n->leaders < best->leaders)
			best = n;
	}
	return best != NULL ? best->id : 0;
}

/* The right's voter to remove: one off the left's nodes, whose removal
 * leaves the right the voters it wants on live nodes; one on a node that
 * is not live first (a dead or draining node's), then the fullest. NULL
 * if none may go now. */
static const struct rk_pl_replica *off_left(struct pl_ctx *c, const struct rk_pl_range *left,
					    const struct rk_pl_range *right, uint32_t live,
					    uint32_t want)
{
	const struct rk_pl_replica *victim = NULL;
	uint32_t vreps = 0;
	bool vup = false;

	if (RK_PL_BUGGY(ALIGN_ANY_VOTER))
		return pl_excess_voter(c, right);
	for (uint8_t i = 0; i < right->n_reps; i++) {
		const struct rk_pl_replica *p = &right->reps[i];
		const struct rk_pl_node *n = pl_node(c, p->node_id);
		bool up = n != NULL && n->state == RK_PL_LIVE;
		uint32_t reps = n != NULL ? n->replicas : 0;

		if (p->role != RK_DESC_VOTER || rep_on(left, p->node_id) != NULL)
			continue;
		if (live - (up ? 1 : 0) < want)
			continue; /* add before remove */
		if (victim == NULL || (vup && !up) || (up == vup && reps > vreps)) {
			victim = p;
			vup = up;
			vreps = reps;
		}
	}
	return victim;
}

void pl_align(struct pl_ctx *c, const struct rk_pl_range *left,
	      const struct rk_pl_range *right)
{
	const struct rk_pl_replica *learner = NULL, *victim;
	const struct rk_pl_node *leader = pl_node(c, right->leader_node);
	struct rk_pl_node *best = NULL;
	bool missing = false;
	uint32_t voters = 0, live = 0, want = pl_want(c, right);

	if (right->busy != RK_PL_IDLE || pl_in_joint(right) || !pl_has_leader(c, right))
		return;
	for (uint8_t i = 0; i < right->n_reps; i++) {
		const struct rk_pl_replica *p = &right->reps[i];

		if (p->role == RK_DESC_LEARNER) {
			learner = p;
			continue;
		}
		voters++;
		live += pl_node_live(c, p->node_id);
	}
	if (learner != NULL) {
		pl_emit_replica(c, right,
				rep_on(left, learner->node_id) != NULL &&
						pl_node_live(c, learner->node_id)
					? RK_PL_OP_PROMOTE
					: RK_PL_OP_REMOVE,
				learner->replica_id, RK_PL_WHY_MERGE_ALIGN);
		return;
	}
	if (voters > want && (victim = off_left(c, left, right, live, want)) != NULL) {
		uint64_t to;

		if (victim->node_id != right->leader_node) {
			pl_emit_replica(c, right, RK_PL_OP_REMOVE, victim->replica_id,
					RK_PL_WHY_MERGE_ALIGN);
			return;
		}
		if ((to = lead_to(c, left, right, victim->node_id)) != 0) {
			pl_emit_transfer(c, right, to, RK_PL_WHY_MERGE_ALIGN);
			return;
		}
	}
	if (right->n_reps >= RK_PL_MAX_REPLICAS)
		return;
	/* The same set (a right visited alone, sched.c): the merge is the
	 * left's visit's. */
	/* A node of the left the right lacks: the fewest replicas first. */
	for (uint8_t i = 0; i < left->n_reps; i++) {
		struct rk_pl_node *n = pl_node(c, left->reps[i].node_id);

		if (rep_on(right, left->reps[i].node_id) != NULL)
			continue;
		missing = true;
		if (n == NULL || !pl_eligible(c, right, n, leader))
			continue;
		if (best == NULL || pl_cnt(c, n) < pl_cnt(c, best))
			best = n;
	}
	if (best != NULL)
		pl_emit_add(c, right, best, NULL, RK_PL_WHY_MERGE_ALIGN);
	else if (missing)
		c->pass->n_blocked++;
}
