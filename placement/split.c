/*
 * Rules 6 and 7 of a pass (sched.h): split a range that is too large or
 * too hot, merge two neighbours that are both small and quiet.
 *
 * Splits come before balancing so that nothing larger than split_size is
 * moved whole (a snapshot of the halves is cheaper to send and the halves
 * may go to different nodes); merges come before balancing too, since a
 * merge leaves one range fewer to move. Merging wants the same thresholds
 * with room to spare (merge_size at most a quarter of split_size by
 * default), so a merged range does not split again at once.
 *
 * Only boundaries that automatic splits made are merged away: the right
 * range of a merge must carry RK_PL_RANGE_AUTO_SPLIT. The layout a user
 * chose (a first start's --ranges, a split by hand) stays, however
 * small and cold its ranges are.
 *
 * Two neighbours that would merge but for their replica sets (a merge
 * pair, rk_pl_merge_pair) are aligned first: the right's replicas moved
 * onto the left's nodes (align.c), then merged.
 */
#include <string.h>

#include "bugs.h"
#include "sched_int.h"

bool pl_split(struct pl_ctx *c, const struct rk_pl_range *r)
{
	const struct rk_pl_config *cfg = c->cfg;
	struct rk_pl_op *op;

	if (r->flags & RK_PL_RANGE_SYSTEM)
		return false;
	if (cfg->split_size != 0 && r->size_bytes > cfg->split_size) {
		/* The middle by size is the leader's to find. */
		pl_emit(c, r, RK_PL_OP_SPLIT, RK_PL_WHY_SPLIT_SIZE);
		return true;
	}
	if (cfg->split_qps != 0 &&
	    (uint64_t)r->writes_ps + r->reads_ps > cfg->split_qps) {
		op = pl_emit(c, r, RK_PL_OP_SPLIT, RK_PL_WHY_SPLIT_LOAD);
		if (r->split_klen > 0) {
			op->split_key = r->split_key;
			op->split_klen = r->split_klen;
		}
		return true;
	}
	return false;
}

bool pl_same_replicas(const struct rk_pl_range *a,
			  const struct rk_pl_range *b)
{
	if (a->n_reps != b->n_reps)
		return false;
	for (uint8_t i = 0; i < a->n_reps; i++) {
		bool found = false;

		for (uint8_t k = 0; k < b->n_reps && !found; k++)
			found = b->reps[k].node_id == a->reps[i].node_id &&
				b->reps[k].role == a->reps[i].role;
		if (!found)
			return false;
	}
	return true;
}

/* Whether left's end is right's start (both bounded: an unbounded end has
 * nothing on its right). */
static bool adjacent(const struct rk_pl_range *left,
		     const struct rk_pl_range *right)
{
	return left->elen > 0 && left->elen == right->slen &&
	       memcmp(left->end, right->start, left->elen) == 0;
}

static bool all_voters(const struct rk_pl_range *r)
{
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].role != RK_DESC_VOTER)
			return false;
	return true;
}

/* rk_pl_merge_pair without the left's nodes (the callers look them up
 * each in their own way). */
static bool pair_ok(const struct rk_pl_config *cfg, const struct rk_pl_range *r,
		    const struct rk_pl_range *right)
{
	uint64_t qps;

	if (cfg->merge_size == 0)
		return false;
	if ((r->flags | right->flags) & RK_PL_RANGE_SYSTEM)
		return false;
	/* The merge removes the boundary at right's start: only one an
	 * automatic split made (docs/placement.md, "Automatic merges"). */
	if (!(right->flags & RK_PL_RANGE_AUTO_SPLIT) && !RK_PL_BUGGY(MERGE_STICKY))
		return false;
	if ((r->flags | right->flags) & RK_PL_RANGE_WARM)
		return false;
	/* The left's set is the target of an alignment and the merged
	 * range's: settled, voters only, as many as it wants. */
	if (!all_voters(r) || r->n_reps != cfg->replicas)
		return false;
	if (r->size_bytes + right->size_bytes > cfg->merge_size)
		return false;
	qps = (uint64_t)r->writes_ps + r->reads_ps + right->writes_ps +
	      right->reads_ps;
	if (cfg->merge_qps != 0 && qps > cfg->merge_qps)
		return false;
	if (cfg->split_qps != 0 && qps > cfg->split_qps / 2)
		return false;
	return adjacent(r, right);
}

bool rk_pl_merge_pair(const struct rk_pl_config *cfg, const struct rk_pl_state *st,
		      const struct rk_pl_range *left, const struct rk_pl_range *right)
{
	if (!pair_ok(cfg, left, right))
		return false;
	for (uint8_t i = 0; i < left->n_reps; i++) {
		bool live = false;

		for (size_t k = 0; k < st->n_nodes && !live; k++)
			live = st->nodes[k].id == left->reps[i].node_id &&
			       st->nodes[k].state == RK_PL_LIVE;
		if (!live)
			return false;
	}
	return true;
}

bool pl_merge_pair(struct pl_ctx *c, const struct rk_pl_range *left,
		   const struct rk_pl_range *right)
{
	if (!pair_ok(c->cfg, left, right))
		return false;
	for (uint8_t i = 0; i < left->n_reps; i++)
		if (!pl_node_live(c, left->reps[i].node_id))
			return false; /* the left's repair first (rules 3, 4) */
	return true;
}

bool pl_merge(struct pl_ctx *c, const struct rk_pl_range *r,
	      const struct rk_pl_range *right)
{
	const struct rk_pl_config *cfg = c->cfg;
	struct rk_pl_node *ldr = NULL;

	if (right == NULL || !pl_merge_pair(c, r, right))
		return false;
	/* From here on the pair is the merge's, whatever comes of it in
	 * this pass: no other rule moves the replicas of either (an
	 * alignment in flight is never undone by balancing). */
	if (!pl_same_replicas(r, right)) {
		pl_align(c, r, right);
		return true;
	}
	/* No change in flight on the right, and a leader there to freeze
	 * it (the left's were judged by rule 1). */
	if (right->busy != RK_PL_IDLE || right->leader_node == 0)
		return true;
	if (cfg->max_merges != 0 && c->merges_total >= cfg->max_merges)
		return true;
	/* The left's leader carries the merge out (it gathers the right's
	 * leadership): the per-node bound is on it. */
	if (cfg->max_merges_per_node != 0 &&
	    ((ldr = pl_node(c, r->leader_node)) == NULL ||
	     ldr->merges >= cfg->max_merges_per_node))
		return true;
	pl_emit(c, r, RK_PL_OP_MERGE, RK_PL_WHY_MERGE_SMALL)->right_id =
		right->id;
	c->merges_total++;
	if (ldr != NULL)
		ldr->merges++;
	return true;
}
