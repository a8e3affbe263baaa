/*
 * Per-range figures (placement/figs.h): the 10% rule a sender reports
 * by, the section's round trip and refusals, and the leader's table
 * (replacing, inserting among known ranges, expiring).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "figs.h"
#include "rangekv/error.h"

static void test_moved(void **state)
{
	struct rk_pl_fig was = {7, 1000000, 100, 0}, now = was;

	(void)state;
	assert_false(rk_pl_fig_moved(&now, &was));
	now.size_bytes = 1100000; /* 100,000 of 1,100,000: under 10% */
	assert_false(rk_pl_fig_moved(&now, &was));
	now.size_bytes = 1112000;
	assert_true(rk_pl_fig_moved(&now, &was));
	now = was;
	now.reads_ps = 1; /* from nothing */
	assert_true(rk_pl_fig_moved(&now, &was));
	now = was;
	now.writes_ps = 89;
	assert_true(rk_pl_fig_moved(&now, &was));
	was.size_bytes = UINT64_MAX;
	now = was;
	now.size_bytes = UINT64_MAX / 10 * 9 + 1; /* no overflow near the top */
	assert_false(rk_pl_fig_moved(&now, &was));
}

static void test_section(void **state)
{
	struct rk_pl_fig f[3] = {{3, 10, 1, 2}, {9, 20, 3, 4}, {12, 0, 0, 0}};
	static struct rk_pl_figs_msg m;
	struct rk_buf b;

	(void)state;
	rk_buf_init(&b);
	assert_int_equal(rk_pl_figs_encode(&b, RK_PL_FIGS_FULL | RK_PL_FIGS_LAST, 2, f, 3), 0);
	assert_int_equal(b.len, RK_PL_FIGS_HEADER + 3 * RK_PL_FIG_BYTES);
	assert_int_equal(rk_pl_figs_decode((const uint8_t *)b.p, b.len, &m), 0);
	assert_int_equal(m.flags, RK_PL_FIGS_FULL | RK_PL_FIGS_LAST);
	assert_int_equal(m.after, 2);
	assert_int_equal(m.n, 3);
	assert_memory_equal(m.figs, f, sizeof(f));
	/* Garbage: short, long, a range at or below after, flags. */
	assert_int_equal(rk_pl_figs_decode((const uint8_t *)b.p, b.len - 1, &m), RK_EPROTO);
	assert_int_equal(m.n, 0);
	b.p[0] = RK_PL_FIGS_LAST;
	assert_int_equal(rk_pl_figs_decode((const uint8_t *)b.p, b.len, &m), RK_EPROTO);
	b.p[0] = RK_PL_FIGS_FULL;
	b.p[1] = 3; /* after = 3: the first range is not above it */
	assert_int_equal(rk_pl_figs_decode((const uint8_t *)b.p, b.len, &m), RK_EPROTO);
	rk_buf_reset(&b);
	/* The encoder refuses what the decoder would. */
	assert_int_equal(rk_pl_figs_encode(&b, 0, 5, f, 3), RK_EINVAL);
	assert_int_equal(rk_pl_figs_encode(&b, 0, 0, f, RK_PL_FIGS_MAX + 1), RK_EINVAL);
	f[1].range = 3;
	assert_int_equal(rk_pl_figs_encode(&b, 0, 0, f, 3), RK_EINVAL);
	assert_int_equal(b.len, 0);
	rk_buf_free(&b);
}

static void test_table(void **state)
{
	struct rk_pl_fig a[3] = {{10, 1, 0, 0}, {20, 2, 0, 0}, {30, 3, 0, 0}};
	struct rk_pl_fig b[4] = {{5, 50, 0, 0}, {20, 200, 0, 0}, {25, 250, 0, 0}, {40, 400, 0, 0}};
	struct rk_pl_figtab t = {0};
	static const uint64_t want[6] = {5, 10, 20, 25, 30, 40};

	(void)state;
	assert_int_equal(rk_pl_figtab_put(&t, 1, 100, a, 3), 0);
	assert_int_equal(rk_pl_figtab_put(&t, 2, 200, b, 4), 0);
	assert_int_equal(t.n, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(t.v[i].f.range, want[i]);
	/* Range 20 replaced by node 2's report; 10 and 30 as node 1 said. */
	assert_int_equal(rk_pl_figtab_get(&t, 20)->f.size_bytes, 200);
	assert_int_equal(rk_pl_figtab_get(&t, 20)->node, 2);
	assert_int_equal(rk_pl_figtab_get(&t, 10)->f.size_bytes, 1);
	assert_int_equal(rk_pl_figtab_get(&t, 30)->at_ms, 100);
	assert_null(rk_pl_figtab_get(&t, 15));
	rk_pl_figtab_expire(&t, 150); /* 10 and 30 not reported since 100 */
	assert_int_equal(t.n, 4);
	assert_null(rk_pl_figtab_get(&t, 10));
	assert_non_null(rk_pl_figtab_get(&t, 40));
	rk_pl_figtab_free(&t);
}

/* Whether the table's figures changed: not by a report of the same
 * figures (a full report of idle ranges, every 5 minutes), by a moved
 * rate, a new range and an expiry. */
static void test_table_changed(void **state)
{
	struct rk_pl_fig a[3] = {{10, 1, 0, 0}, {20, 2, 0, 0}, {30, 3, 0, 0}};
	struct rk_pl_fig c = {25, 250, 0, 0};
	struct rk_pl_figtab t = {0};
	uint64_t was;

	(void)state;
	assert_int_equal(rk_pl_figtab_put(&t, 1, 100, a, 3), 0);
	was = t.changed;
	assert_int_equal(rk_pl_figtab_put(&t, 2, 200, a, 3), 0); /* same figures */
	assert_true(t.changed == was);
	a[1].writes_ps = 1;
	assert_int_equal(rk_pl_figtab_put(&t, 1, 200, &a[1], 1), 0);
	assert_true(t.changed != was);
	was = t.changed;
	assert_int_equal(rk_pl_figtab_put(&t, 1, 300, &c, 1), 0); /* a new range */
	assert_true(t.changed != was);
	was = t.changed;
	rk_pl_figtab_expire(&t, 250); /* all but 25, not reported since 200 */
	assert_true(t.changed != was);
	was = t.changed;
	rk_pl_figtab_expire(&t, 250);
	assert_true(t.changed == was);
	rk_pl_figtab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_moved),
		cmocka_unit_test(test_section),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
