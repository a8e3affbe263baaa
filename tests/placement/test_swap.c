/*
 * Rule 8's swap (placement/swap.c) on hand-made states: a node stuck
 * outside the bytes band where no single move is allowed gets a swap, and
 * the passes that follow, applied by the tiny cluster of world.c, finish
 * both moves, keep every count, and stop inside the band without handing
 * ranges back; where no exchange brings both nodes closer to the mean the
 * pass chooses nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "rangekv/error.h"
#include "sched.h"
#include "world.h"

#define MIB (1ull << 20)

/* Sets range i's two voters, a and b, the leader on `lead`, and its size. */
static void put(struct world *w, size_t i, uint64_t a, uint64_t b,
		uint64_t lead, uint64_t size)
{
	struct rk_pl_range *r = &w->ranges[i];

	r->n_reps = 2;
	r->reps[0] = (struct rk_pl_replica){1, a, RK_DESC_VOTER};
	r->reps[1] = (struct rk_pl_replica){2, b, RK_DESC_VOTER};
	r->leader_node = lead;
	r->size_bytes = size;
}

/*
 * Four nodes, --replicas 2, 24 ranges: counts 12/12/13/11 (band 10.8 to
 * 13.2), bytes 132/132/110/154 MiB (band 118.8 to 145.2): node 4 is 17%
 * over, node 3 17% under. Node 4 may give no replica (11 - 1 leaves the
 * count band), node 3 may take none (13 + 1 does), and no other node is
 * outside the bytes band: no single move is allowed. Ranges: 6 on {1,4}
 * and 5 on {2,4} of 14 MiB, 6 on {1,3} of 8 MiB, 7 on {2,3} (six of 9
 * MiB, one of 8); six leaderships a node.
 */
static void stuck_world(struct world *w)
{
	static const uint64_t on[] = {1, 2, 3, 4};
	size_t i = 0;

	w_init(w, 1, 4, 24, on, 4, MIB, MIB);
	w->cfg.replicas = 2;
	w->slow_ops = true;
	for (size_t k = 0; k < 6; k++, i++)
		put(w, i, 1, 4, k < 3 ? 1 : 4, 14 * MIB);
	for (size_t k = 0; k < 5; k++, i++)
		put(w, i, 2, 4, k < 3 ? 4 : 2, 14 * MIB);
	for (size_t k = 0; k < 6; k++, i++)
		put(w, i, 1, 3, k < 3 ? 1 : 3, 8 * MIB);
	for (size_t k = 0; k < 7; k++, i++)
		put(w, i, 2, 3, k < 4 ? 2 : 3, (k == 0 ? 8 : 9) * MIB);
}

static size_t one_pass(struct world *w, struct rk_pl_op *ops, size_t max)
{
	struct rk_pl_state st;
	struct rk_pl_pass pass;

	w_state(w, &st);
	memset(&pass, 0, sizeof(pass));
	pass.ops = ops;
	pass.max_ops = max;
	assert_int_equal(rk_pl_pass(&w->cfg, &st, &pass), 0);
	return pass.n_ops;
}

/* Sum of squares of the live nodes' bytes, in MiB. */
static double bytes_sq(struct world *w)
{
	struct rk_pl_state st;
	double sq = 0;

	w_state(w, &st);
	for (size_t i = 0; i < w->n_nodes; i++) {
		double b = (double)w->nodes[i].bytes / MIB;

		sq += w->nodes[i].state == RK_PL_LIVE ? b * b : 0;
	}
	return sq;
}

/* Nothing in flight: no learner, no range with more voters than it wants,
 * nothing busy. */
static bool quiet(struct world *w)
{
	for (size_t i = 0; i < w->n_ranges; i++) {
		const struct rk_pl_range *r = &w->ranges[i];

		if (r->busy != RK_PL_IDLE || r->n_reps != w->cfg.replicas)
			return false;
		for (uint8_t k = 0; k < r->n_reps; k++)
			if (r->reps[k].role != RK_DESC_VOTER)
				return false;
	}
	return true;
}

/* The stuck state: the pass chooses a swap, a 14 MiB range of node 4 to
 * node 3 and an 8 MiB one of node 3 to node 4, nothing else. */
static void test_swap_when_no_single_move(void **state)
{
	struct rk_pl_op ops[16];
	struct world w;
	size_t n;

	(void)state;
	stuck_world(&w);
	n = one_pass(&w, ops, 16);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		const struct rk_pl_range *r = w_range(&w, ops[i].range_id);

		assert_int_equal(ops[i].kind, RK_PL_OP_ADD_LEARNER);
		assert_int_equal(ops[i].reason, RK_PL_WHY_BALANCE_SWAP);
		if (ops[i].node_id == 4) {
			assert_true(r->reps[1].node_id == 3);
			assert_int_equal(r->size_bytes, 8 * MIB);
		} else {
			assert_int_equal(ops[i].node_id, 3);
			assert_true(r->reps[1].node_id == 4);
			assert_int_equal(r->size_bytes, 14 * MIB);
		}
	}
	assert_int_not_equal(ops[0].node_id, ops[1].node_id);
	/* Room for one operation only: a swap is two or nothing. */
	assert_int_equal(one_pass(&w, ops, 1), 0);
	w_free(&w);
}

/* The passes that follow, applied step by step: both moves of each swap
 * end on the replicas they were meant to replace (counts 12/12/13/11 at
 * every quiet point), the sum of squares of the bytes falls at each swap
 * and never rises, and the cluster stops inside the bytes band after two
 * swaps (each narrows the gap by 12 MiB), with no other move. */
static void test_swaps_converge_without_ping_pong(void **state)
{
	static const uint32_t counts[] = {12, 12, 13, 11};
	struct world w;
	double last;
	size_t swaps = 0;

	(void)state;
	stuck_world(&w);
	last = bytes_sq(&w);
	for (size_t s = 0; s < 200; s++) {
		size_t before = w.ops_by_reason[RK_PL_WHY_BALANCE_SWAP];

		w_step(&w);
		if (w.ops_by_reason[RK_PL_WHY_BALANCE_SWAP] != before) {
			assert_int_equal(w.ops_by_reason[RK_PL_WHY_BALANCE_SWAP],
					 before + 2);
			swaps++;
		}
		if (!quiet(&w))
			continue;
		for (size_t i = 0; i < 4; i++)
			assert_int_equal(w.nodes[i].replicas, counts[i]);
		assert_true(bytes_sq(&w) <= last);
		last = bytes_sq(&w);
	}
	assert_int_equal(swaps, 2);
	assert_int_equal(w.ops_by_reason[RK_PL_WHY_BALANCE_COUNT], 0);
	assert_int_equal(w.ops_by_reason[RK_PL_WHY_BALANCE_BYTES], 0);
	w_settle(&w, 50);
	w_check_settled(&w, true);
	assert_int_equal(w.ops_by_reason[RK_PL_WHY_BALANCE_SWAP], 4);
	w_free(&w);
}

/* While one swap's moves are in flight the figures the passes see are a
 * replica over on both nodes; no pass takes that for a reason to move a
 * third range, whatever the step at which it looks. */
static void test_swap_in_flight_left_alone(void **state)
{
	struct rk_pl_op ops[16];
	struct world w;

	(void)state;
	stuck_world(&w);
	w.slow_ops = true;
	for (size_t s = 0; s < 40; s++) {
		size_t n;

		w_step(&w);
		n = one_pass(&w, ops, 16);
		for (size_t i = 0; i < n; i++)
			assert_true(ops[i].reason == RK_PL_WHY_CATCH_UP ||
				    ops[i].reason == RK_PL_WHY_EXCESS ||
				    ops[i].reason == RK_PL_WHY_FREE_LEADER ||
				    ops[i].reason == RK_PL_WHY_BALANCE_SWAP ||
				    ops[i].reason == RK_PL_WHY_BALANCE_LEADERS);
	}
	w_free(&w);
}

/* No exchange brings both nodes closer: four nodes, three ranges, counts
 * 1/1/2/2; a 100 MiB range on nodes 1 and 2, 1 MiB ones on 3 and 4 (bytes
 * 100/100/2/2, mean 51, every node outside the band). No single move is
 * allowed (nodes 1 and 2 have no replica to spare, nodes 3 and 4 are no
 * lighter than their targets), and trading the big range for a small one
 * moves 99 MiB, more than twice the distance of either node to the mean
 * (49): the heavy node would end further under the mean than it is over.
 * Nothing is chosen, pass after pass. */
static void test_no_swap_that_helps(void **state)
{
	static const uint64_t on[] = {1, 2, 3, 4};
	struct rk_pl_op ops[16];
	struct world w;

	(void)state;
	w_init(&w, 1, 4, 3, on, 4, MIB, MIB);
	w.cfg.replicas = 2;
	w.cfg.no_leader_balance = true;
	put(&w, 0, 1, 2, 1, 100 * MIB);
	put(&w, 1, 3, 4, 3, MIB);
	put(&w, 2, 4, 3, 4, MIB);
	assert_int_equal(one_pass(&w, ops, 16), 0);
	for (size_t s = 0; s < 10; s++)
		assert_int_equal(w_step(&w), 0);
	w_free(&w);
}

/* The swap's pair must be free to move: busy, short or placement-group
 * ranges are not taken, and a node at its move limit takes no part. */
static void test_swap_takes_only_free_ranges(void **state)
{
	struct rk_pl_op ops[16];
	struct world w;

	(void)state;
	stuck_world(&w);
	/* Every light range of node 3 busy: nothing to trade. */
	for (size_t i = 11; i < 24; i++)
		w.ranges[i].busy = RK_PL_BUSY_MEMBER;
	assert_int_equal(one_pass(&w, ops, 16), 0);
	for (size_t i = 11; i < 24; i++)
		w.ranges[i].busy = RK_PL_IDLE;
	/* Every heavy range of node 4 the placement group's own. */
	for (size_t i = 0; i < 11; i++)
		w.ranges[i].flags = RK_PL_RANGE_SYSTEM;
	assert_int_equal(one_pass(&w, ops, 16), 0);
	for (size_t i = 0; i < 11; i++)
		w.ranges[i].flags = 0;
	/* One move at a time a node, and node 3 leads every range it holds:
	 * it would send B's snapshot and receive A's, two moves. */
	w.cfg.max_moves_per_node = 1;
	w.cfg.no_leader_balance = true;
	for (size_t i = 11; i < 24; i++)
		w.ranges[i].leader_node = w.ranges[i].reps[1].node_id == 3
						  ? 3 : w.ranges[i].leader_node;
	assert_int_equal(one_pass(&w, ops, 16), 0);
	w_free(&w);
}

/* Whether every live node's bytes are within the band. */
static bool bytes_in_band(struct world *w)
{
	struct rk_pl_state st;
	double sum = 0, live = 0, tol;
	bool in = true;

	w_state(w, &st);
	for (size_t i = 0; i < w->n_nodes; i++) {
		if (w->nodes[i].state != RK_PL_LIVE)
			continue;
		sum += (double)w->nodes[i].bytes;
		live++;
	}
	tol = sum / live * w->cfg.balance_pct / 100.0;
	for (size_t i = 0; i < w->n_nodes; i++)
		if (w->nodes[i].state == RK_PL_LIVE)
			in &= (double)w->nodes[i].bytes >= sum / live - tol &&
			      (double)w->nodes[i].bytes <= sum / live + tol;
	return in;
}

/*
 * node_figures' cluster in the small: three nodes with --replicas 2
 * holding 24 to 48 ranges, about a third of them ten times the others, and
 * a fourth node joined empty; random slices. For 40 seeds the passes
 * settle (no swap undone, none repeated forever) with replicas and
 * leaders within the band, and 38 seeds within the bytes band too. The two
 * others stop outside it (a node 0.15% of the mean past the edge in one,
 * 6% in the other) with the counts at the edges of their band: each
 * exchange that would help either moves too much or needs a removal that
 * rule 4 would make on another node (a partner of the heavy node in the
 * range holding more replicas than it). Without the swap 25 seeds end
 * outside the bytes band.
 */
static void test_joined_node_settles_in_both_bands(void **state)
{
	static const uint64_t on[] = {1, 2, 3};
	size_t swaps = 0, in_band = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct world w;
		size_t n = 24 + (size_t)(seed * 7 % 25);

		w_init(&w, seed, 4, n, on, 3, 100 * 1024, 120 * 1024);
		w.cfg.replicas = 2;
		for (size_t i = 0; i < n; i++) {
			struct rk_pl_range *r = &w.ranges[i];

			r->n_reps = 2;
			r->reps[1].node_id = on[(i + 1 + i / 3) % 3];
			if (r->reps[1].node_id == r->reps[0].node_id)
				r->reps[1].node_id = on[(i + 2) % 3];
			if (w_rand(&w) % 3 == 0)
				r->size_bytes *= 10;
		}
		w.slow_ops = true;
		w.slice = 8 + (size_t)(w_rand(&w) % 40);
		w_settle(&w, 20000);
		swaps += w.ops_by_reason[RK_PL_WHY_BALANCE_SWAP];
		w_check_settled(&w, false);
		in_band += bytes_in_band(&w);
		w_free(&w);
	}
	print_message("%zu of 40 within the bytes band, %zu swap moves\n",
		      in_band, swaps);
	assert_true(swaps > 0);
	assert_true(in_band >= 38);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swap_when_no_single_move),
		cmocka_unit_test(test_swaps_converge_without_ping_pong),
		cmocka_unit_test(test_swap_in_flight_left_alone),
		cmocka_unit_test(test_no_swap_that_helps),
		cmocka_unit_test(test_swap_takes_only_free_ranges),
		cmocka_unit_test(test_joined_node_settles_in_both_bands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
