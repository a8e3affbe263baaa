/*
 * Rule 7's alignment (placement/align.c): a merge pair whose replica sets
 * differ has its right range's replicas moved onto the left's nodes, then
 * merges; balancing leaves the pair alone meanwhile, the alignment never
 * undoes itself, and it never goes against the rules for nodes that are
 * down or draining. On hand-made states, the passes that follow applied
 * by the tiny cluster of world.c (which fails a removal of a replica on a
 * node that is down before its replacement votes, a second replica on a
 * node, a removal of the leader's replica).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sched.h"
#include "world.h"

static const uint64_t nodes3[] = {1, 2, 3};

/* n ranges of 1 MiB on nodes 1-3 of n_nodes, merge_size 16 MiB; range 1
 * made by an automatic split, on the nodes `right` lists (its leader on
 * the first): ranges 0 and 1 are a merge pair whose sets differ. The
 * others are sticky. */
static void pair_world(struct world *w, size_t n_nodes, size_t n, const uint64_t *right)
{
	w_init(w, 1, n_nodes, n, nodes3, 3, 1 << 20, 1 << 20);
	for (size_t i = 0; i < n; i++)
		w_set_reps(&w->ranges[i], nodes3, 3);
	w_set_reps(&w->ranges[1], right, 3);
	w->ranges[1].flags = RK_PL_RANGE_AUTO_SPLIT;
	w->cfg.merge_size = 16 << 20;
}

/* How many of ops[0..n) are on range id; *firstp: the first one's
 * index (n if none). */
static size_t ops_on(const struct rk_pl_op *ops, size_t n, uint64_t id, size_t *firstp)
{
	size_t k = 0;

	*firstp = n;
	for (size_t i = 0; i < n; i++) {
		if (ops[i].range_id != id)
			continue;
		if (k++ == 0)
			*firstp = i;
	}
	return k;
}

/* Left {1,2,3} led by 1, right {1,2,4} led by 4: a learner on 3, its
 * promotion, the right's leadership to node 1 (the left's leader: the
 * merge then finds both leaders there), the replica on 4 removed, the
 * merge. Five operations, no other. */
static void test_merge_align_steps(void **state)
{
	static const uint64_t right[] = {4, 1, 2};
	struct rk_pl_op ops[8];
	size_t at;
	struct rk_pl_pass pass;
	struct world w;

	(void)state;
	pair_world(&w, 4, 2, right);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_ADD_LEARNER);
	assert_int_equal(ops[0].reason, RK_PL_WHY_MERGE_ALIGN);
	assert_int_equal(ops[0].range_id, 2);
	assert_int_equal(ops[0].node_id, 3);
	w_apply(&w, &ops[0]);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_PROMOTE);
	w_apply(&w, &ops[0]);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_TRANSFER_LEADER);
	assert_int_equal(ops[0].node_id, 1);
	w_apply(&w, &ops[0]);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_REMOVE);
	assert_int_equal(ops[0].reason, RK_PL_WHY_MERGE_ALIGN);
	assert_int_equal(ops_on(ops, 1, 2, &at), 1);
	assert_int_equal(w_range(&w, 2)->reps[0].node_id, 4);
	assert_int_equal(ops[0].replica_id, w_range(&w, 2)->reps[0].replica_id);
	w_apply(&w, &ops[0]);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_MERGE);
	w_apply(&w, &ops[0]);
	assert_int_equal(w.n_ranges, 1);
	w_free(&w);
}

/* Mid-alignment, with nodes 1 and 2 the fullest: the right {1,2,4} has
 * its learner on 3 promoted, four voters. Rule 4 would remove the
 * fullest node's voter (1 or 2), undoing what the alignment gathers;
 * the alignment removes the one off the left's nodes, 4, and the two
 * merge after that one step. Planted bug 7 (the alignment removes what
 * rule 4 would) fails here. */
static void test_merge_align_removes_off_left(void **state)
{
	static const uint64_t right[] = {1, 2, 4, 3};
	struct rk_pl_op ops[32];
	size_t at;
	struct rk_pl_pass pass;
	struct world w;

	(void)state;
	pair_world(&w, 4, 8, right);
	w_set_reps(&w.ranges[1], right, 4);
	w.ext[1].next_rid = 5; /* the replica on 3 is the newest */
	w.cfg.no_leader_balance = true;
	w_pass(&w, ops, 32, &pass);
	assert_int_equal(ops_on(ops, pass.n_ops, 2, &at), 1);
	assert_int_equal(ops[at].kind, RK_PL_OP_REMOVE);
	assert_int_equal(ops[at].reason, RK_PL_WHY_MERGE_ALIGN);
	assert_int_equal(ops[at].replica_id, 3); /* node 4's */
	w_settle(&w, 100);
	assert_int_equal(w.ops_by_kind[RK_PL_OP_MERGE], 1);
	assert_int_equal(w.ops_by_reason[RK_PL_WHY_MERGE_ALIGN], 1);
	assert_int_equal(w.n_ranges, 7);
	w_free(&w);
}

/* Balancing leaves a merge pair alone: nodes 4 and 5 joined empty, the
 * other ranges move to them, the pair (its right on {4,5,1}) gets only
 * the alignment's operations, and merges after exactly two learners
 * (one per node the right lacks). The cluster ends balanced. */
static void test_merge_align_held_from_balancing(void **state)
{
	static const uint64_t right[] = {4, 5, 1};
	struct rk_pl_op ops[32];
	struct rk_pl_pass pass;
	struct world w;
	size_t n;

	(void)state;
	pair_world(&w, 5, 20, right);
	w.slow_ops = true;
	n = w_pass(&w, ops, 32, &pass);
	assert_true(n > 2);
	for (size_t i = 0; i < n; i++) {
		if (ops[i].range_id == 1 || ops[i].range_id == 2)
			assert_int_equal(ops[i].reason, RK_PL_WHY_MERGE_ALIGN);
		else
			assert_true(ops[i].reason == RK_PL_WHY_BALANCE_COUNT ||
				    ops[i].reason == RK_PL_WHY_BALANCE_LEADERS);
		assert_int_not_equal(ops[i].range_id, 1); /* the target */
	}
	w_settle(&w, 1000);
	assert_int_equal(w.n_ranges, 19);
	assert_int_equal(w.ops_by_kind[RK_PL_OP_MERGE], 1);
	/* Two learners, two promotions, two removals, at most two handovers. */
	assert_true(w.ops_by_reason[RK_PL_WHY_MERGE_ALIGN] >= 6);
	assert_true(w.ops_by_reason[RK_PL_WHY_MERGE_ALIGN] <= 8);
	w_check_settled(&w, false);
	w_free(&w);
}

/* Down and draining nodes: a left with a replica on a node that is not
 * live is no target (its repair first, then the alignment); a right with
 * a replica on a dead node gets its learner on a left node first, and
 * loses the dead one only once it votes (world.c fails it otherwise);
 * no learner goes to a node that is not live. */
static void test_merge_align_down_nodes(void **state)
{
	static const uint64_t right[] = {1, 2, 4};
	struct rk_pl_op ops[8];
	size_t at;
	struct rk_pl_pass pass;
	struct world w;

	(void)state;
	/* The left's node 3 draining: the left is drained (onto 4, the
	 * right's), then the two are on {1,2,4} and merge. */
	pair_world(&w, 4, 2, right);
	w.cfg.no_leader_balance = true;
	w_set_node(&w, 3, RK_PL_DECOMMISSIONING);
	w_pass(&w, ops, 8, &pass);
	assert_int_equal(ops_on(ops, pass.n_ops, 2, &at), 0);
	assert_int_equal(ops_on(ops, pass.n_ops, 1, &at), 1);
	assert_int_equal(ops[at].reason, RK_PL_WHY_DRAIN);
	w_settle(&w, 100);
	assert_int_equal(w.n_ranges, 1);
	assert_int_equal(w.ops_by_reason[RK_PL_WHY_MERGE_ALIGN], 0);
	w_free(&w);

	/* The right's node 4 dead (not yet for --dead-after: not doomed,
	 * still counted): a learner on 3, and 4's replica removed only
	 * after it votes. */
	pair_world(&w, 4, 2, right);
	w.ranges[1].leader_node = 1;
	w_set_node(&w, 4, RK_PL_DEAD);
	w.nodes[3].dead_since_ms = w.now_ms;
	w_pass(&w, ops, 8, &pass);
	assert_int_equal(pass.n_ops, 1);
	assert_int_equal(ops[0].kind, RK_PL_OP_ADD_LEARNER);
	assert_int_equal(ops[0].node_id, 3);
	w_settle(&w, 100);
	assert_int_equal(w.n_ranges, 1);
	w_free(&w);

	/* The left's node 3 suspect: no learner there, nothing for the pair. */
	pair_world(&w, 4, 2, right);
	w.cfg.no_leader_balance = true;
	w_set_node(&w, 3, RK_PL_SUSPECT);
	assert_int_equal(w_pass(&w, ops, 8, &pass), 0);
	w_free(&w);
}

/* The move limits hold for an alignment's learner as for any. */
static void test_merge_align_move_limits(void **state)
{
	static const uint64_t right[] = {1, 2, 4};
	struct rk_pl_op ops[8];
	struct rk_pl_pass pass;
	struct rk_pl_state st;
	struct world w;

	(void)state;
	pair_world(&w, 4, 2, right);
	w.cfg.max_moves_per_node = 1;
	w_state(&w, &st); /* tallies: the moves set after it */
	w_node(&w, 3)->moves = 1;
	memset(&pass, 0, sizeof(pass));
	pass.ops = ops;
	pass.max_ops = 8;
	assert_int_equal(rk_pl_pass(&w.cfg, &st, &pass), 0);
	assert_int_equal(pass.n_ops, 0);
	assert_int_equal(pass.n_blocked, 1);
	w_node(&w, 3)->moves = 0;
	st.moves = 1;
	w.cfg.max_moves_total = 1;
	assert_int_equal(rk_pl_pass(&w.cfg, &st, &pass), 0);
	assert_int_equal(pass.n_ops, 0);
	w_free(&w);
}

/* The pair judgment the driver marks its main pass's ranges by. */
static void test_merge_pair(void **state)
{
	static const uint64_t right[] = {1, 2, 4};
	struct rk_pl_state st;
	struct world w;

	(void)state;
	pair_world(&w, 4, 3, right);
	w_state(&w, &st);
	assert_true(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	/* Sticky right, warm, too large, not adjacent, merges off. */
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[1], &w.ranges[2]));
	w.ranges[1].flags |= RK_PL_RANGE_WARM;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w.ranges[1].flags &= (uint8_t)~RK_PL_RANGE_WARM;
	w.ranges[0].size_bytes = 16 << 20;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w.ranges[0].size_bytes = 1 << 20;
	w.ranges[2].flags = RK_PL_RANGE_AUTO_SPLIT;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[2]));
	/* The left unsettled, or on a node that is not live. */
	w.ranges[0].reps[2].role = RK_DESC_LEARNER;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w.ranges[0].reps[2].role = RK_DESC_VOTER;
	w.nodes[2].state = RK_PL_SUSPECT;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w.nodes[2].state = RK_PL_LIVE;
	assert_true(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w.cfg.merge_size = 0;
	assert_false(rk_pl_merge_pair(&w.cfg, &st, &w.ranges[0], &w.ranges[1]));
	w_free(&w);
}

/* Seeded random placements on 5 nodes: 24 ranges of 1 MiB, every fourth
 * sticky, each on 3 random nodes: every automatic range merges back
 * into its sticky one whatever the sets, and the cluster settles. */
static void test_merge_align_random(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 12; seed++) {
		struct world w;
		size_t steps;

		w_init(&w, seed, 5, 24, nodes3, 3, 1 << 20, 1 << 20);
		for (size_t i = 0; i < w.n_ranges; i++) {
			uint64_t on[3];

			for (uint8_t k = 0; k < 3; k++) {
				bool taken;

				do {
					on[k] = 1 + w_rand(&w) % 5;
					taken = false;
					for (uint8_t j = 0; j < k; j++)
						taken |= on[j] == on[k];
				} while (taken);
			}
			w_set_reps(&w.ranges[i], on, 3);
			w.ranges[i].flags = i % 4 != 0 ? RK_PL_RANGE_AUTO_SPLIT : 0;
		}
		w.cfg.merge_size = 16 << 20;
		w.slow_ops = true;
		w.slice = seed % 2 == 0 ? 0 : 7;
		print_message("seed %llu: slice %zu\n", (unsigned long long)seed, w.slice);
		steps = w_settle(&w, 2000);
		print_message("  settled in %zu steps, %zu operations, %zu to align\n", steps,
			      w.ops_applied, w.ops_by_reason[RK_PL_WHY_MERGE_ALIGN]);
		assert_int_equal(w.n_ranges, 6);
		w_check_settled(&w, false);
		w_free(&w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_align_steps),
		cmocka_unit_test(test_merge_align_removes_off_left),
		cmocka_unit_test(test_merge_align_held_from_balancing),
		cmocka_unit_test(test_merge_align_down_nodes),
		cmocka_unit_test(test_merge_align_move_limits),
		cmocka_unit_test(test_merge_pair),
		cmocka_unit_test(test_merge_align_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
