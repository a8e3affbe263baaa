/*
 * Rules 2-5 of a pass (sched.h): a range's replica count and health come
 * before anything else. A move is four steps the rules take one per pass
 * from the descriptor alone: a learner is added (rule 3, or balancing),
 * promoted once its snapshot is in (rule 2), the leadership leaves the
 * replica to go if it holds it (rule 4) and that replica is removed
 * (rule 4). Adding comes first, so a range never has fewer voters than it
 * had while a replacement is on its way: a replica on a dead node is
 * removed only once the range has the voters it wants without it.
 */
#include "bugs.h"
#include "sched_int.h"

/* The reason a replica on n must go. */
static uint8_t doom_reason(const struct rk_pl_node *n)
{
	return n != NULL && n->state == RK_PL_DECOMMISSIONING
		       ? RK_PL_WHY_DRAIN
		       : RK_PL_WHY_REPAIR;
}

/* Removes `victim`, or first hands the leadership over if the leader's
 * replica is the one to go (the runtime refuses to remove the leader's own
 * replica). False when the leader has nobody to hand over to. */
static bool remove_replica(struct pl_ctx *c, const struct rk_pl_range *r,
			   const struct rk_pl_replica *victim, uint8_t why)
{
	uint64_t to;

	if (victim->node_id != r->leader_node) {
		pl_emit_replica(c, r, RK_PL_OP_REMOVE, victim->replica_id, why);
		return true;
	}
	to = pl_leader_target(c, r, victim->node_id);
	if (to == 0)
		return false;
	pl_emit_transfer(c, r, to, RK_PL_WHY_FREE_LEADER);
	return true;
}

bool pl_repair(struct pl_ctx *c, const struct rk_pl_range *r, bool *shortp)
{
	const struct rk_pl_replica *doomed = NULL, *learner = NULL;
	const struct rk_pl_node *leader = pl_node(c, r->leader_node);
	uint32_t voters = 0, healthy = 0, want = pl_want(c, r);
	uint8_t why = RK_PL_WHY_SHORT;

	*shortp = false;
	for (uint8_t i = 0; i < r->n_reps; i++) {
		const struct rk_pl_replica *p = &r->reps[i];
		const struct rk_pl_node *n = pl_node(c, p->node_id);

		if (p->role == RK_DESC_LEARNER) {
			learner = p;
			continue;
		}
		voters++;
		if (!pl_doomed(c, n)) {
			healthy++;
		} else if (doomed == NULL) {
			doomed = p;
			why = doom_reason(n);
		}
	}

	/* Rule 2: a learner is a move half done. Its snapshot is in (the
	 * caller marks the range busy until then): promote it, unless its
	 * node went away meanwhile; a learner costs no vote to remove. */
	if (learner != NULL) {
		if (pl_node_live(c, learner->node_id))
			pl_emit_replica(c, r, RK_PL_OP_PROMOTE,
					learner->replica_id,
					RK_PL_WHY_CATCH_UP);
		else
			pl_emit_replica(c, r, RK_PL_OP_REMOVE,
					learner->replica_id,
					doom_reason(pl_node(c, learner->node_id)));
		return true;
	}

	/* Rule 3: short of healthy voters: add before anything is removed. */
	if (healthy < want) {
		struct rk_pl_node *to = pl_best_target(c, r);

		*shortp = true;
		c->pass->n_short++;
		if (to != NULL) {
			pl_emit_add(c, r, to,
				    doomed ? pl_node(c, doomed->node_id) : NULL,
				    why);
			return true;
		}
		c->pass->n_blocked++;
	}

	/* Rule 4: more voters than wanted: a doomed one first (there are
	 * enough healthy ones now, else rule 3 would have added), else the
	 * one on the fullest node. */
	if (voters > want) {
		const struct rk_pl_replica *victim = NULL;

		if (doomed != NULL && (healthy >= want ||
					RK_PL_BUGGY(REMOVE_BEFORE_ADD)))
			victim = doomed;
		else if (doomed == NULL)
			victim = pl_excess_voter(c, r);
		if (victim != NULL &&
		    remove_replica(c, r, victim,
				   victim == doomed ? why : RK_PL_WHY_EXCESS))
			return true;
	}

	/* Rule 5: a draining node gives its leaderships away even while its
	 * replicas cannot move yet. */
	if (leader != NULL && leader->state == RK_PL_DECOMMISSIONING) {
		uint64_t to = pl_leader_target(c, r, leader->id);

		if (to != 0) {
			pl_emit_transfer(c, r, to, RK_PL_WHY_DRAIN);
			return true;
		}
	}
	return false;
}
