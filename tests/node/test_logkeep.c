/*
 * Raft log retention by bytes (src/node/logkeep.h): a log's size as
 * entries are stored, replaced and compacted, and the compaction decision
 * from sizes, applied indexes and budgets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "logkeep.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define STEP (64u * KIB)

/* Mark i of lb (0: the base). */
static struct rk_logkeep_mark mark(const struct rk_logbytes *lb, uint32_t i)
{
	return i == 0 ? lb->base : lb->more[i - 1];
}

/* Entries first..last of `bytes` each after an empty log at first - 1. */
static void fill(struct rk_logbytes *lb, uint64_t first, uint64_t last, uint64_t bytes)
{
	rk_logbytes_reset(lb, first - 1);
	for (uint64_t i = first; i <= last; i++)
		rk_logbytes_stored(lb, i, bytes, STEP);
}

static void sizes_follow_the_log(void **state)
{
	struct rk_logbytes lb = {0};

	(void)state;
	fill(&lb, 11, 1010, KIB);
	assert_int_equal(rk_logbytes_get(&lb), 1000 * KIB);
	/* Entries 901.. replaced by one: 891 entries left. */
	rk_logbytes_stored(&lb, 901, KIB, STEP);
	assert_int_equal(lb.last, 901);
	assert_int_equal(rk_logbytes_get(&lb), 891 * KIB);
	/* Compacted through a mark (every 64 entries here): exact. */
	rk_logbytes_compact(&lb, 10 + 64 * 4);
	assert_int_equal(rk_logbytes_get(&lb), (891 - 256) * KIB);
	/* Between marks: interpolated, exact for equal entries. */
	rk_logbytes_compact(&lb, 300);
	assert_int_equal(rk_logbytes_get(&lb), 601 * KIB);
	/* Everything, then past the end (a snapshot): empty. */
	rk_logbytes_compact(&lb, 901);
	assert_int_equal(rk_logbytes_get(&lb), 0);
	rk_logbytes_compact(&lb, 5000);
	assert_int_equal(rk_logbytes_get(&lb), 0);
	rk_logbytes_stored(&lb, 5001, 100, STEP);
	assert_int_equal(rk_logbytes_get(&lb), 100);
	rk_logbytes_free(&lb);
}

/* Many more marks than fit: thinned, the size still exact at the ends and
 * within one (doubled) step anywhere. */
static void marks_thin_out(void **state)
{
	struct rk_logbytes lb = {0};
	uint64_t cum, gap;

	(void)state;
	rk_logbytes_reset(&lb, 0);
	for (uint64_t i = 1; i <= 20000; i++)
		rk_logbytes_stored(&lb, i, (i % 7 + 1) * KIB, STEP);
	assert_true(lb.n <= RK_LOGKEEP_MARKS);
	cum = 0;
	for (uint64_t i = 1; i <= 12345; i++)
		cum += (i % 7 + 1) * KIB;
	gap = lb.top - mark(&lb, lb.n - 1).cum;
	for (uint32_t i = 1; i < lb.n; i++) {
		assert_true(mark(&lb, i).index > mark(&lb, i - 1).index);
		if (mark(&lb, i).cum - mark(&lb, i - 1).cum > gap)
			gap = mark(&lb, i).cum - mark(&lb, i - 1).cum;
	}
	/* The marks still spread over the log, at most 1/8 of it apart. */
	assert_true(gap <= lb.top / 8);
	assert_true(rk_logbytes_cum(&lb, 12345) + gap >= cum);
	assert_true(rk_logbytes_cum(&lb, 12345) <= cum + gap);
	assert_int_equal(rk_logbytes_cum(&lb, 20000), lb.top);
	rk_logbytes_free(&lb);
}

/* The upto decided for the log `arg` among v[0..n). */
static uint64_t upto_of(const struct rk_logkeep_range *v, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].arg == arg)
			return v[i].upto;
	fail();
	return UINT64_MAX;
}

static void range_over_its_bytes(void **state)
{
	struct rk_logkeep_limits lim = {100000, 4 * MIB, 0, 0};
	struct rk_logbytes lb = {0};
	struct rk_logkeep_range v;
	uint64_t total;
	bool ckpt;

	(void)state;
	fill(&lb, 1, 8192, KIB); /* 8 MiB */
	v = (struct rk_logkeep_range){&lb, 1, 8192, 8192, NULL, 0, 0, 0, false, 0};
	total = rk_logkeep_decide(&lim, 8 * MIB, &v, 1, &ckpt);
	assert_int_equal(total, v.after);
	assert_false(ckpt);
	/* Down to half the budget, within a step of it. */
	assert_true(v.after <= 2 * MIB && v.after + STEP >= 2 * MIB);
	assert_int_equal(v.after, lb.top - rk_logbytes_cum(&lb, v.upto));
	/* Never past the limit (applied, checkpointed). */
	v.limit = 1000;
	rk_logkeep_decide(&lim, 8 * MIB, &v, 1, &ckpt);
	assert_int_equal(v.upto, 1000);
	assert_int_equal(v.after, (8192 - 1000) * KIB);
	/* Nothing may go: none, and a checkpoint is wanted. */
	v.limit = 0;
	rk_logkeep_decide(&lim, 8 * MIB, &v, 1, &ckpt);
	assert_int_equal(v.upto, 0);
	assert_true(ckpt);
	/* Under the budget: left alone. */
	fill(&lb, 1, 4000, KIB);
	v = (struct rk_logkeep_range){&lb, 1, 4000, 4000, NULL, 0, 0, 0, false, 0};
	rk_logkeep_decide(&lim, 4000 * KIB, &v, 1, &ckpt);
	assert_int_equal(v.upto, 0);
	assert_false(ckpt);
	rk_logbytes_free(&lb);
}

static void range_over_its_entries(void **state)
{
	struct rk_logkeep_limits lim = {100, 4 * MIB, 0, 0};
	struct rk_logbytes lb = {0};
	struct rk_logkeep_range v;
	bool ckpt;

	(void)state;
	fill(&lb, 1, 300, 10);
	v = (struct rk_logkeep_range){&lb, 1, 250, 250, NULL, 0, 0, 0, false, 0};
	rk_logkeep_decide(&lim, 3000, &v, 1, &ckpt);
	assert_int_equal(v.upto, 200);
	v.applied = 99;
	v.limit = 99;
	rk_logkeep_decide(&lim, 3000, &v, 1, &ckpt);
	assert_int_equal(v.upto, 0);
	rk_logbytes_free(&lb);
}

/* Logs a, b, c of 1, 2 and 3 MiB (b's limit 2000) into v, c held at
 * c_hold. */
static void three_logs(struct rk_logbytes *a, struct rk_logbytes *b, struct rk_logbytes *c,
		       struct rk_logkeep_range v[3], uint64_t c_hold)
{
	fill(a, 1, 1024, KIB);
	fill(b, 1, 2048, KIB);
	fill(c, 1, 3072, KIB);
	v[0] = (struct rk_logkeep_range){a, 1, 1024, 1024, a, 0, 0, 0, false, 0};
	v[1] = (struct rk_logkeep_range){b, 1, 2048, 2000, b, 0, 0, 0, false, 0};
	v[2] = (struct rk_logkeep_range){c, 1, 3072, 3072, c, 0, 0, c_hold, false, 0};
}

/* Three logs of 3, 2 and 1 MiB under a node budget of 4 MiB: the largest
 * two go, to their limits, until the total is at most 2 MiB. */
static void node_over_its_total(void **state)
{
	struct rk_logkeep_limits lim = {100000, 4 * MIB, 4 * MIB, 0};
	struct rk_logbytes a = {0}, b = {0}, c = {0};
	struct rk_logkeep_range v[3];
	uint64_t total;
	bool ckpt;

	(void)state;
	three_logs(&a, &b, &c, v, 0);
	total = rk_logkeep_decide(&lim, 6 * MIB, v, 3, &ckpt);
	assert_int_equal(v[0].arg, &c); /* largest first */
	assert_int_equal(upto_of(v, 3, &c), 3072);
	assert_int_equal(upto_of(v, 3, &b), 2000);
	assert_int_equal(upto_of(v, 3, &a), 0);
	assert_int_equal(total, 1024 * KIB + 48 * KIB);
	/* Logs not offered count in the total: this one alone cannot bring
	 * 9 MiB under 2, and goes whole. */
	fill(&c, 1, 3072, KIB);
	v[0] = (struct rk_logkeep_range){&c, 1, 3072, 3072, &c, 0, 0, 0, false, 0};
	total = rk_logkeep_decide(&lim, 9 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 3072);
	assert_int_equal(total, 6 * MIB);
	/* Within the budget: nothing. */
	fill(&c, 1, 3072, KIB);
	v[0] = (struct rk_logkeep_range){&c, 1, 3072, 3072, &c, 0, 0, 0, false, 0};
	total = rk_logkeep_decide(&lim, 4 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 0);
	assert_int_equal(total, 4 * MIB);
	rk_logbytes_free(&a);
	rk_logbytes_free(&b);
	rk_logbytes_free(&c);
}

/* A snapshot hold: nothing past it goes, no checkpoint is asked for it,
 * and it is ignored once the log is over its bound. */
static void hold_keeps_the_log(void **state)
{
	struct rk_logkeep_limits lim = {100000, 4 * MIB, 0, 0};
	struct rk_logbytes lb = {0}, a = {0}, b = {0};
	struct rk_logkeep_range v[3];
	bool ckpt;

	(void)state;
	assert_int_equal(rk_logkeep_hold_bound(&lim, 0), 16 * MIB);
	fill(&lb, 1, 8192, KIB); /* 8 MiB: over the budget, within the bound */
	v[0] = (struct rk_logkeep_range){&lb, 1, 8192, 8192, NULL, 0, 0, 1000, false, 0};
	rk_logkeep_decide(&lim, 8 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 1000);
	assert_true(v[0].held);
	assert_false(ckpt);
	/* A hold beyond what the budget drops changes nothing. */
	v[0].hold = 8000;
	rk_logkeep_decide(&lim, 8 * MIB, v, 1, &ckpt);
	assert_true(v[0].upto < 8000 && v[0].upto > 1000);
	assert_false(v[0].held);
	/* Held before its first entry: nothing goes, no checkpoint asked. */
	fill(&lb, 501, 8692, KIB);
	v[0] = (struct rk_logkeep_range){&lb, 501, 8692, 8692, NULL, 0, 0, 400, false, 0};
	rk_logkeep_decide(&lim, 8 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 0);
	assert_true(v[0].held);
	assert_false(ckpt);
	/* What it keeps over the bound (4 x 4 MiB): the hold is ignored. */
	fill(&lb, 1, 16 * 1024 + 1001, KIB);
	v[0] = (struct rk_logkeep_range){&lb, 1, 17385, 17385, NULL, 0, 0, 1000, false, 0};
	rk_logkeep_decide(&lim, 16 * MIB + 1001 * KIB, v, 1, &ckpt);
	assert_true(v[0].upto > 1000);
	assert_false(v[0].held);
	/* The bound counts what the hold keeps, not the log: a bulk load of
	 * 16 MiB before the snapshot and 3 MiB after it keep the hold (the
	 * follower continues from 16385), and the load goes. */
	fill(&lb, 1, 19 * 1024, KIB);
	v[0] = (struct rk_logkeep_range){&lb, 1, 19456, 19456, NULL, 0, 0, 16385, false, 0};
	assert_true(rk_logkeep_hold_applies(&lim, &lb, 16385, 0));
	rk_logkeep_decide(&lim, 19 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 16385);
	assert_true(v[0].held);
	/* Bytes after it over the bound: ignored, however small the rest. */
	assert_false(rk_logkeep_hold_applies(&lim, &lb, 1000, 0));
	assert_false(rk_logkeep_hold_applies(&lim, &lb, 0, 0));
	/* The bound is the node budget when that is larger. */
	lim = (struct rk_logkeep_limits){100000, MIB, 64 * MIB, 0};
	assert_int_equal(rk_logkeep_hold_bound(&lim, 0), 64 * MIB);
	/* Scaled by the held snapshot: 4 x its bytes when that is more, at
	 * most hold_max; without hold_max, never scaled. */
	lim = (struct rk_logkeep_limits){100000, 4 * MIB, 64 * MIB, 1024 * MIB};
	assert_int_equal(rk_logkeep_hold_bound(&lim, 8 * MIB), 64 * MIB);
	assert_int_equal(rk_logkeep_hold_bound(&lim, 64 * MIB), 256 * MIB);
	assert_int_equal(rk_logkeep_hold_bound(&lim, 300 * MIB), 1024 * MIB);
	assert_int_equal(rk_logkeep_hold_bound(&lim, UINT64_MAX), 1024 * MIB);
	lim.hold_max = 0;
	assert_int_equal(rk_logkeep_hold_bound(&lim, 64 * MIB), 64 * MIB);
	/* A 64 MiB snapshot of a range written at 23 MB/s, streamed at 8
	 * MiB/s: 184 MiB written after it. The fixed bound (64 MiB) gave the
	 * hold up, and the follower the next, larger snapshot, for ever
	 * (docs/benchmarks.md, "A 64 MB range's add under writes"); scaled,
	 * it keeps the entries after the snapshot, and the budget drops
	 * those before it. */
	lim = (struct rk_logkeep_limits){100000, 4 * MIB, 64 * MIB, 1024 * MIB};
	fill(&lb, 1, (64 + 184) * 1024, KIB);
	v[0] = (struct rk_logkeep_range){&lb, 1, 253952, 253952, NULL, 0, 0, 65536, false, 0};
	assert_false(rk_logkeep_hold_applies(&lim, &lb, 65536, 0));
	rk_logkeep_decide(&lim, 248 * MIB, v, 1, &ckpt);
	assert_true(v[0].upto > 65536);
	v[0] = (struct rk_logkeep_range){&lb, 1, 253952, 253952, NULL, 0, 0, 65536, false,
					 64 * MIB};
	assert_true(rk_logkeep_hold_applies(&lim, &lb, 65536, 64 * MIB));
	rk_logkeep_decide(&lim, 248 * MIB, v, 1, &ckpt);
	assert_int_equal(v[0].upto, 65536);
	assert_true(v[0].held);
	/* Over the node budget: the held log gives what it can, the others
	 * make up for it. */
	lim = (struct rk_logkeep_limits){100000, 4 * MIB, 4 * MIB, 0};
	three_logs(&a, &b, &lb, v, 1000);
	rk_logkeep_decide(&lim, 6 * MIB, v, 3, &ckpt);
	assert_int_equal(upto_of(v, 3, &lb), 1000);
	assert_int_equal(upto_of(v, 3, &b), 2000);
	assert_int_equal(upto_of(v, 3, &a), 1024);
	rk_logbytes_free(&lb);
	rk_logbytes_free(&a);
	rk_logbytes_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_follow_the_log),
		cmocka_unit_test(marks_thin_out),
		cmocka_unit_test(range_over_its_bytes),
		cmocka_unit_test(range_over_its_entries),
		cmocka_unit_test(node_over_its_total),
		cmocka_unit_test(hold_keeps_the_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
