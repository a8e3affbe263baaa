/*
 * Sums of rates (load.h): what the node's totals keep instead of a pass
 * over its replicas (own.h) must read what that pass read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "load.h"

#define MEMBERS 40

/* A small deterministic generator (the runs must repeat). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The pass the sum replaces: the readings of the members in it. */
static double walked(const struct rk_rate *m, const bool *in, uint64_t now)
{
	double v = 0;

	for (int i = 0; i < MEMBERS; i++)
		if (in[i])
			v += rk_rate_get(&m[i], now);
	return v;
}

static void assert_close(double kept, double walk)
{
	if (fabs(kept - walk) > 1e-6 * fmax(kept, walk) + 1e-6)
		fail_msg("kept %.9f, walked %.9f", kept, walk);
}

/* Events on members in and out of the sum, members joining and leaving
 * (with their history) and starting again from nothing, over idle gaps
 * short and longer than the decay's cut-off; read at every step. */
static void test_sum_follows_members(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct rk_rate m[MEMBERS];
		bool in[MEMBERS];
		struct rk_rate_sum s;
		uint64_t g = seed * 0x9e3779b97f4a7c15ull, now = 1000;
		double peak = 0;

		memset(m, 0, sizeof(m));
		memset(in, 0, sizeof(in));
		memset(&s, 0, sizeof(s));
		for (int step = 0; step < 20000; step++) {
			uint64_t x = rnd(&g);
			int i = (int)(x % MEMBERS);
			uint32_t k;

			switch ((x >> 8) % 16) {
			case 0: /* joins or leaves */
				rk_rate_sum_join(&s, &m[i], in[i] ? -1 : 1);
				in[i] = !in[i];
				break;
			case 1: /* starts again (a split's halves) */
				if (in[i])
					rk_rate_sum_join(&s, &m[i], -1);
				memset(&m[i], 0, sizeof(m[i]));
				break;
			case 2: /* time passes: a gap, at times longer than 40 tau */
				now += (x >> 16) % 64 == 0 ? 300000 + (x >> 24) % 200000
							   : (x >> 16) % 5000;
				break;
			default:
				k = (uint32_t)((x >> 16) % 1000) + 1;
				rk_rate_add(&m[i], now, k);
				if (in[i])
					rk_rate_sum_add(&s, now, k);
				now += (x >> 40) % 300;
				break;
			}
			assert_close(rk_rate_sum_get(&s, now), walked(m, in, now));
			peak = fmax(peak, walked(m, in, now));
		}
		assert_true(peak > 1000); /* the figures were not all near 0 */
	}
}

/* A member with a history joins a sum that is ahead of it, behind it, and
 * in its second; leaving takes exactly what it brought. */
static void test_join_leave(void **state)
{
	struct rk_rate a = {0}, b = {0};
	struct rk_rate_sum s = {0};

	(void)state;
	rk_rate_add(&a, 5000, 100);
	rk_rate_add(&a, 7400, 50); /* a: second 7, 50 counted in it */
	rk_rate_add(&b, 9100, 30);
	rk_rate_sum_add(&s, 9100, 30); /* the sum at second 9 */
	rk_rate_sum_join(&s, &a, 1);   /* a behind it: folded to 9 */
	assert_close(rk_rate_sum_get(&s, 9500), rk_rate_get(&a, 9500) + rk_rate_get(&b, 9500));
	assert_close(rk_rate_sum_get(&s, 12000), rk_rate_get(&a, 12000) + rk_rate_get(&b, 12000));
	rk_rate_sum_join(&s, &a, -1);
	assert_close(rk_rate_sum_get(&s, 13000), rk_rate_get(&b, 13000));
	rk_rate_add(&a, 15200, 7); /* ahead of the sum, counted outside it */
	assert_close(rk_rate_sum_get(&s, 16000), rk_rate_get(&b, 16000));
	rk_rate_sum_join(&s, &a, 1); /* back with the 7 of its second */
	assert_close(rk_rate_sum_get(&s, 15900), rk_rate_get(&a, 15900) + rk_rate_get(&b, 15900));
	assert_close(rk_rate_sum_get(&s, 16000), rk_rate_get(&a, 16000) + rk_rate_get(&b, 16000));
	assert_true(rk_rate_get(&a, 16000) > rk_rate_get(&a, 15900)); /* the 7 counted */
	rk_rate_sum_join(&s, &a, -1);
	rk_rate_sum_join(&s, &b, -1);
	assert_true(rk_rate_sum_get(&s, 20000) < 1e-9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_follows_members),
		cmocka_unit_test(test_join_leave),
	};
	return cmocka_run_group_tests_name("node_load", tests, NULL, NULL);
}
