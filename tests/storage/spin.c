/*
 * The storage thread's poll decision (src/storage/spin.c) as a pure
 * function of the idle gaps it has seen: polls under load, stops at light
 * load, starts again when load returns. No timing is measured here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "spin.h"

#define SHORT (STORE_SPIN_S / 4)  /* a batch right behind the last */
#define LONG (STORE_SPIN_S * 5)   /* one client: a round trip away */

static void note_n(struct store_spin *sp, double gap, int n)
{
	for (int i = 0; i < n; i++)
		store_spin_note(sp, gap);
}

/* A fresh thread has seen nothing and sleeps: an idle node burns nothing. */
static void test_fresh_does_not_poll(void **state)
{
	struct store_spin sp = {0};

	(void)state;
	assert_false(store_spin_wanted(&sp));
}

/* Back to back batches (a busy queue notes 0): polls. */
static void test_load_polls(void **state)
{
	struct store_spin sp = {0};

	(void)state;
	note_n(&sp, 0.0, STORE_SPIN_HISTORY);
	assert_true(store_spin_wanted(&sp));
	note_n(&sp, SHORT, STORE_SPIN_HISTORY);
	assert_true(store_spin_wanted(&sp));
}

/* Gaps longer than the window (light load): sleeps, whatever came before. */
static void test_light_load_sleeps(void **state)
{
	struct store_spin sp = {0};

	(void)state;
	note_n(&sp, 0.0, 100);
	note_n(&sp, LONG, STORE_SPIN_HISTORY);
	assert_false(store_spin_wanted(&sp));
	/* A gap of exactly the window is a poll that found nothing. */
	note_n(&sp, STORE_SPIN_S, STORE_SPIN_HISTORY);
	assert_false(store_spin_wanted(&sp));
}

/* The threshold: STORE_SPIN_NEED short gaps of the last STORE_SPIN_HISTORY
 * poll, one fewer does not; older gaps than the history do not count. */
static void test_threshold_and_window(void **state)
{
	struct store_spin sp = {0};

	(void)state;
	note_n(&sp, LONG, STORE_SPIN_HISTORY - STORE_SPIN_NEED + 1);
	note_n(&sp, SHORT, STORE_SPIN_NEED - 1);
	assert_false(store_spin_wanted(&sp));
	store_spin_note(&sp, SHORT); /* pushes the oldest long gap out */
	assert_true(store_spin_wanted(&sp));
	/* Short gaps older than the history are forgotten. */
	sp = (struct store_spin){0};
	note_n(&sp, SHORT, 1000);
	note_n(&sp, LONG, STORE_SPIN_HISTORY - STORE_SPIN_NEED + 1);
	assert_false(store_spin_wanted(&sp));
}

/* Load returns after a quiet spell: polling resumes within the history,
 * and stops again within it when the load goes. */
static void test_adapts_both_ways(void **state)
{
	struct store_spin sp = {0};
	int n;

	(void)state;
	note_n(&sp, LONG, 50);
	for (n = 0; !store_spin_wanted(&sp) && n < 100; n++)
		store_spin_note(&sp, SHORT);
	assert_int_equal(n, STORE_SPIN_NEED);
	for (n = 0; store_spin_wanted(&sp) && n < 100; n++)
		store_spin_note(&sp, LONG);
	assert_int_equal(n, STORE_SPIN_HISTORY - STORE_SPIN_NEED + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_does_not_poll),
		cmocka_unit_test(test_load_polls),
		cmocka_unit_test(test_light_load_sleeps),
		cmocka_unit_test(test_threshold_and_window),
		cmocka_unit_test(test_adapts_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
