/*
 * The log line limit (common/log.h): one line per period, the lines held
 * back counted into the next one let through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "log.h"

static void test_log_limit_one_per_period(void **state)
{
	struct rk_log_limit l = {0};
	uint64_t held = 99;

	(void)state;
	/* The first line always passes, with nothing held before it. */
	assert_true(rk_log_limit_pass(&l, 5000, 1000, &held));
	assert_int_equal(held, 0);
	/* Within the period: held back, counted. */
	assert_false(rk_log_limit_pass(&l, 5000, 1000, &held));
	assert_int_equal(held, 1);
	assert_false(rk_log_limit_pass(&l, 5999, 1000, &held));
	assert_int_equal(held, 2);
	/* A period after the last line let through: passes with the count,
	 * which starts again. */
	assert_true(rk_log_limit_pass(&l, 6000, 1000, &held));
	assert_int_equal(held, 2);
	assert_false(rk_log_limit_pass(&l, 6500, 1000, &held));
	assert_int_equal(held, 1);
	/* A long quiet spell: the next line passes at once. */
	assert_true(rk_log_limit_pass(&l, 60000, 1000, &held));
	assert_int_equal(held, 1);
	assert_true(rk_log_limit_pass(&l, 61000, 1000, &held));
	assert_int_equal(held, 0);
}

static void test_log_limit_clock_at_zero(void **state)
{
	struct rk_log_limit l = {0};
	uint64_t held;

	(void)state;
	/* A clock that starts at 0 (a test's fake loop) limits like any
	 * other: the line at 0 does not leave the limit looking unused. */
	assert_true(rk_log_limit_pass(&l, 0, 10000, &held));
	assert_false(rk_log_limit_pass(&l, 0, 10000, &held));
	assert_false(rk_log_limit_pass(&l, 9000, 10000, &held));
	assert_int_equal(held, 2);
	assert_true(rk_log_limit_pass(&l, 10001, 10000, &held));
	assert_int_equal(held, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_limit_one_per_period),
		cmocka_unit_test(test_log_limit_clock_at_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
