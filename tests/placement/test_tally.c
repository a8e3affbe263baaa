/*
 * The nodes' counts kept range by range (rk_pl_tally_range,
 * placement/sched.h), as the placement driver keeps them between index
 * reads (src/node/sched_run.c), against rk_pl_tally's walk of every
 * range, over the tiny cluster of world.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sched.h"
#include "world.h"

static const uint64_t nodes5[] = {1, 2, 3, 4, 5};

/* Counts kept by rk_pl_tally_range as seeded random changes come (a
 * leader moved, lost or on a node not in the state, a size changed, a
 * replica made a learner) equal rk_pl_tally's walk of the ranges as they
 * end up, after every change. */
static void test_tally_range_follows_changes(void **state)
{
	struct rk_pl_node kept[5];
	struct rk_pl_state st, ks;
	struct world w;

	(void)state;
	w_init(&w, 7, 5, 200, nodes5, 5, 1000, 1u << 20);
	w_state(&w, &st);
	assert_int_equal(rk_pl_tally(&st), 0);
	memcpy(kept, st.nodes, sizeof(kept));
	ks = st;
	ks.nodes = kept;
	for (int step = 0; step < 2000; step++) {
		struct rk_pl_range *r = &w.ranges[w_rand(&w) % w.n_ranges];
		struct rk_pl_range was = *r;
		struct rk_pl_replica was_reps[RK_PL_MAX_REPLICAS];
		uint8_t k = (uint8_t)(w_rand(&w) % r->n_reps);

		memcpy(was_reps, r->reps, r->n_reps * sizeof(*r->reps));
		was.reps = was_reps; /* as it was: r's are changed below */

		switch (w_rand(&w) % 4) {
		case 0: /* a new leader: one of its nodes, none, an unknown one */
			r->leader_node = w_rand(&w) % 3 == 0 ? w_rand(&w) % 8 : r->reps[k].node_id;
			break;
		case 1:
			r->size_bytes = w_rand(&w) % 3 == 0 ? 0 : w_rand(&w) % (1u << 24);
			break;
		case 2:
			r->reps[k].role = r->reps[k].role == RK_DESC_LEARNER ? RK_DESC_VOTER
									     : RK_DESC_LEARNER;
			break;
		default: /* a replica moved to another node, maybe unknown */
			r->reps[k].node_id = 1 + w_rand(&w) % 7;
			break;
		}
		rk_pl_tally_range(&ks, &was, -1);
		rk_pl_tally_range(&ks, r, 1);
		assert_int_equal(rk_pl_tally(&st), 0);
		for (size_t i = 0; i < 5; i++) {
			assert_int_equal(kept[i].replicas, st.nodes[i].replicas);
			assert_int_equal(kept[i].leaders, st.nodes[i].leaders);
			assert_int_equal(kept[i].moves, st.nodes[i].moves);
			assert_int_equal(kept[i].bytes, st.nodes[i].bytes);
		}
		assert_int_equal(ks.moves, st.moves);
	}
	w_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tally_range_follows_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
