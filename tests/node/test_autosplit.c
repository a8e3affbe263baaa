/*
 * Automatic splits' pure parts (autosplit.h): the middle key of a span by
 * bytes in bounded memory, and which range is due for a split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "autosplit.h"
#include "load.h"
#include "rangekv/error.h"

/* Keys k000000, k000001, ... each pair of `bytes` bytes; the picked key's
 * offset (bytes before it) is returned. */
static uint64_t pick_of(size_t n, uint64_t (*bytes)(size_t), uint64_t step,
			uint64_t *totalp)
{
	struct rk_mid m;
	const uint8_t *k;
	size_t kl, at;
	uint64_t off = 0;
	char key[16];

	rk_mid_init(&m, step);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%06zu", i);
		rk_mid_add(&m, key, strlen(key), bytes(i));
	}
	assert_int_equal(rk_mid_pick(&m, &k, &kl), 0);
	assert_int_equal(kl, 7);
	assert_int_equal(sscanf((const char *)k + 1, "%6zu", &at), 1);
	assert_true(at > 0); /* never the first key: the left would be empty */
	for (size_t i = 0; i < at; i++)
		off += bytes(i);
	*totalp = m.total;
	rk_mid_free(&m);
	return off;
}

static uint64_t even(size_t i)
{
	(void)i;
	return 100;
}

/* The first tenth of the keys hold 90% of the bytes. */
static uint64_t skewed(size_t i)
{
	return i < 1000 ? 900 : 11;
}

static uint64_t near(uint64_t off, uint64_t total)
{
	return off > total / 2 ? off - total / 2 : total / 2 - off;
}

/* The middle by bytes, not by count, within 2/RK_MID_SAMPLES of the
 * total however wrong the expected size was (the step doubles). */
static void test_mid_by_bytes(void **state)
{
	uint64_t total, off;

	(void)state;
	off = pick_of(10000, even, 10000 * 100 / RK_MID_SAMPLES, &total);
	assert_int_equal(total, 1000000);
	assert_true(near(off, total) <= 2 * total / RK_MID_SAMPLES);
	/* The expected size 1000 times too small: many thinnings. */
	off = pick_of(10000, even, 8, &total);
	assert_true(near(off, total) <= 2 * total / RK_MID_SAMPLES);
	/* Far too large: the one early sample beyond offset 0 is still a key. */
	off = pick_of(10000, even, 1ull << 40, &total);
	assert_true(off > 0);
	/* Skewed: the middle by bytes lies inside the first tenth. */
	off = pick_of(10000, skewed, 1000, &total);
	assert_true(near(off, total) <= 2 * total / RK_MID_SAMPLES);
	assert_true(off < 1000 * 900);
}

/* One key cannot be split; two can, at the second. */
static void test_mid_few_keys(void **state)
{
	struct rk_mid m;
	const uint8_t *k = (const uint8_t *)"x";
	size_t kl = 9;

	(void)state;
	rk_mid_init(&m, 1);
	assert_int_equal(rk_mid_pick(&m, &k, &kl), RK_ENOTFOUND);
	assert_null(k);
	assert_int_equal(kl, 0);
	rk_mid_add(&m, "a", 1, 5000);
	assert_int_equal(rk_mid_pick(&m, &k, &kl), RK_ENOTFOUND);
	rk_mid_add(&m, "b", 1, 10);
	assert_int_equal(rk_mid_pick(&m, &k, &kl), 0);
	assert_int_equal(kl, 1);
	assert_memory_equal(k, "b", 1);
	rk_mid_free(&m);
}

/* Due by size or by load, the larger excess first; 0 limits never. */
static void test_excess(void **state)
{
	(void)state;
	assert_true(rk_autosplit_excess(100, 0, 0, 0) == 0);
	assert_true(rk_autosplit_excess(64 << 20, 0, 64 << 20, 0) == 0); /* not past */
	assert_true(rk_autosplit_excess((64 << 20) + 1, 0, 64 << 20, 0) > 1);
	assert_true(rk_autosplit_excess(1ull << 40, 1e6, 0, 0) == 0);
	assert_true(rk_autosplit_excess(10, 500, 64 << 20, 400) == 1.25);
	assert_true(rk_autosplit_excess(10, 400, 64 << 20, 400) == 0);
	assert_true(rk_autosplit_excess(3 << 20, 500, 1 << 20, 400) == 3.0);
}

/* The watch list's rule: a rate's reading rises only at the second after
 * its events (their count folded in), and from the moment it reads as
 * settled it never rises again without an event, however the events were
 * spread before. */
static void test_rate_settled(void **state)
{
	(void)state;
	for (uint32_t burst = 0; burst < 2000; burst += 137) {
		struct rk_rate r = {0};
		uint64_t t;
		double last;

		for (t = 5000; t < 12000; t += 700) /* events in seconds 5..11 */
			rk_rate_add(&r, t, burst + 1);
		/* In the second of the last events: the reading may still rise. */
		assert_false(rk_autosplit_rate_settled(&r, 11999));
		assert_true(rk_rate_get(&r, 12000) > rk_rate_get(&r, 11999));
		assert_true(rk_autosplit_rate_settled(&r, 12000));
		last = rk_rate_get(&r, 12000);
		for (t = 12000; t < 1000000; t += 250) {
			double v = rk_rate_get(&r, t);
			assert_true(rk_autosplit_rate_settled(&r, t));
			assert_true(v <= last);
			last = v;
		}
		assert_true(last == 0);
		/* An event unsettles it again. */
		rk_rate_add(&r, 1000000, 1);
		assert_false(rk_autosplit_rate_settled(&r, 1000000));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mid_by_bytes),
		cmocka_unit_test(test_mid_few_keys),
		cmocka_unit_test(test_excess),
		cmocka_unit_test(test_rate_settled),
	};
	return cmocka_run_group_tests_name("node_autosplit", tests, NULL, NULL);
}
