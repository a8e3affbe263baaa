/*
 * The range descriptor (a replica's span and generation, stored with its
 * apply state): round trip, and garbage from disk refused without reading
 * out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node_int.h"

static void test_desc_round_trip_and_garbage(void **state)
{
	struct rk_replica r, got;
	uint8_t buf[256], dmg[256];
	size_t n;
	uint64_t x = 0x2545f4914f6cdd1dull;
	int ok = 0;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&got, 0, sizeof(got));
	r.generation = 7;
	r.start = (uint8_t *)"key:0001";
	r.slen = 8;
	r.end = (uint8_t *)"key:0100";
	r.elen = 8;
	n = rk_desc_encode(&r, buf, sizeof(buf));
	assert_int_equal(n, 32);
	assert_int_equal(rk_desc_encode(&r, buf, 10), 0); /* too small */
	assert_int_equal(rk_desc_decode(&got, buf, n), 0);
	assert_int_equal(got.generation, 7);
	assert_int_equal(got.slen, 8);
	assert_memory_equal(got.end, "key:0100", 8);
	for (int it = 0; it < 100000; it++) {
		size_t len = n;
		uint8_t *exact;
		int rc;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(dmg, buf, n);
		dmg[(x >> 8) % n] = (uint8_t)(x >> 32);
		if ((x >> 60) % 2 == 0)
			len = (size_t)((x >> 20) % (n + 8));
		exact = malloc(len ? len : 1);
		memcpy(exact, dmg, len < n ? len : n);
		if (len > n)
			memset(exact + n, 0xab, len - n);
		rc = rk_desc_decode(&got, exact, len);
		assert_true(rc == 0 || rc == RK_ECORRUPT);
		if (rc == 0)
			assert_true(16 + (size_t)got.slen + got.elen == len);
		ok += rc == 0;
		free(exact);
	}
	assert_true(ok > 0);
	free(got.start);
	free(got.end);
}

/* The range's replicated clock is apply state even when no session is left:
 * a replica restarted without it would stamp and expire differently from
 * the others (rk_kv_clock_stamp continues from the applied clock). */
static void test_state_keeps_clock_without_sessions(void **state)
{
	struct rk_replica r, got;
	struct rk_buf b;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&got, 0, sizeof(got));
	r.start = (uint8_t *)"a";
	r.slen = 1;
	r.end = (uint8_t *)"m";
	r.elen = 1;
	r.sessions.now_ms = 7200123;
	rk_buf_init(&b);
	rk_replica_state_encode(&r, &b);
	assert_false(b.oom);
	assert_int_equal(rk_replica_state_decode(&got, (const uint8_t *)b.p, b.len), 0);
	assert_int_equal(got.sessions.now_ms, 7200123);
	assert_int_equal(got.sessions.n, 0);
	/* A range that never applied a write keeps the short form. */
	r.sessions.now_ms = 0;
	rk_buf_reset(&b);
	rk_replica_state_encode(&r, &b);
	assert_int_equal(b.len, 16 + 2);
	rk_buf_free(&b);
	rk_kv_sessions_free(&got.sessions);
	free(got.start);
	free(got.end);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_desc_round_trip_and_garbage),
		cmocka_unit_test(test_state_keeps_clock_without_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
