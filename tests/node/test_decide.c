/*
 * The node runtime's decisions as pure functions on a fake clock: who
 * starts a range's election and when a campaign ends (elect.h), when a
 * leader or a follower sleeps (quiesce.h), when a peer is dead (live.h),
 * and the decayed load rates of a range (load.h).
 * The clock is a number the test moves: ticks, rounds or milliseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "elect.h"
#include "live.h"
#include "load.h"
#include "quiesce.h"
#include "limit.h"
#include "size.h"

/* ---- a fake cluster: nodes 1..5, each live or not ---- */

static bool g_live[8];

static bool fake_live(void *arg, uint64_t id)
{
	(void)arg;
	return id < 8 && g_live[id];
}

static void all_live(bool v)
{
	for (int i = 0; i < 8; i++)
		g_live[i] = v;
}

static const uint64_t ids3[] = {1, 2, 3};

static void test_preferred_spreads_leaders(void **state)
{
	(void)state;
	uint32_t per[4] = {0};

	assert_int_equal(rk_elect_preferred(ids3, 3, 1), 1);
	assert_int_equal(rk_elect_preferred(ids3, 3, 2), 2);
	assert_int_equal(rk_elect_preferred(ids3, 3, 3), 3);
	assert_int_equal(rk_elect_preferred(ids3, 3, 4), 1);
	assert_int_equal(rk_elect_preferred(ids3, 0, 4), 0);
	for (uint64_t r = 1; r <= 300; r++)
		per[rk_elect_preferred(ids3, 3, r)]++;
	assert_int_equal(per[1], 100);
	assert_int_equal(per[2], 100);
	assert_int_equal(per[3], 100);
}

static void test_elector_is_next_live(void **state)
{
	(void)state;
	all_live(true);
	/* Range 2 prefers node 2; live: node 2 elects it, whoever asks. */
	assert_int_equal(rk_elect_elector(ids3, 3, 1, 2, fake_live, NULL), 2);
	assert_int_equal(rk_elect_elector(ids3, 3, 3, 2, fake_live, NULL), 2);
	/* Node 2 dead: the next in the initial order, node 3, for everyone:
	 * one elector per range, so no split votes. */
	g_live[2] = false;
	assert_int_equal(rk_elect_elector(ids3, 3, 1, 2, fake_live, NULL), 3);
	assert_int_equal(rk_elect_elector(ids3, 3, 3, 2, fake_live, NULL), 3);
	/* Nodes 2 and 3 dead, as node 1 sees it: node 1 (self counts live). */
	g_live[3] = false;
	g_live[1] = false;
	assert_int_equal(rk_elect_elector(ids3, 3, 1, 2, fake_live, NULL), 1);
	/* Seen from a node outside the cluster with nobody live: none. */
	assert_int_equal(rk_elect_elector(ids3, 3, 9, 2, fake_live, NULL), 0);
	assert_int_equal(rk_elect_elector(ids3, 0, 1, 2, fake_live, NULL), 0);
	/* Wraps around: range 3 prefers node 3; 3 dead -> node 1. */
	all_live(true);
	g_live[3] = false;
	assert_int_equal(rk_elect_elector(ids3, 3, 2, 3, fake_live, NULL), 1);
}

static void test_majority(void **state)
{
	(void)state;
	assert_true(rk_elect_majority(0, 1));
	assert_false(rk_elect_majority(3, 1));
	assert_true(rk_elect_majority(3, 2));
	assert_false(rk_elect_majority(4, 2));
	assert_true(rk_elect_majority(5, 3));
}

/* A campaign on a fake tick clock: retired once led or after
 * RK_ELECT_CAMPAIGN_TICKS, a refused pre-vote asked again every
 * RK_ELECT_CAMPAIGN_RETRY_TICKS ticks, never between ticks. */
static void test_campaign_lifetime(void **state)
{
	(void)state;
	uint64_t retries = 0, t;

	for (t = 0; t < 1000; t++) {
		enum rk_elect_step s = rk_elect_campaign_step(t, false, true, true);
		if (s == RK_ELECT_RETIRE)
			break;
		retries += s == RK_ELECT_RETRY;
		assert_int_equal(rk_elect_campaign_step(t, false, true, false),
				 RK_ELECT_KEEP);
	}
	assert_int_equal(t, RK_ELECT_CAMPAIGN_TICKS);
	assert_int_equal(retries, (RK_ELECT_CAMPAIGN_TICKS - 1) / RK_ELECT_CAMPAIGN_RETRY_TICKS);
	/* A candidate (a real election under way) is not retried. */
	assert_int_equal(rk_elect_campaign_step(2, false, false, true), RK_ELECT_KEEP);
	/* Led: retired at once. */
	assert_int_equal(rk_elect_campaign_step(0, true, true, true), RK_ELECT_RETIRE);
	assert_int_equal(rk_elect_campaign_step(3, true, false, false), RK_ELECT_RETIRE);
}

static void test_leaderless_waits_then_wakes(void **state)
{
	(void)state;
	uint64_t wait = 200 * 50;

	assert_int_equal(rk_elect_leaderless(1, 1, 0, wait), RK_ELECT_CAMPAIGN);
	assert_int_equal(rk_elect_leaderless(2, 1, 0, wait), RK_ELECT_WAIT);
	assert_int_equal(rk_elect_leaderless(2, 1, wait, wait), RK_ELECT_WAIT);
	assert_int_equal(rk_elect_leaderless(2, 1, wait + 1, wait), RK_ELECT_WAKE);
	assert_int_equal(rk_elect_leaderless(0, 1, 0, wait), RK_ELECT_WAKE);
}

/* ---- quiescence ---- */

/* A leader (node 1) of three voters, everything replicated to index 10. */
static void settled_status(struct rk_raft_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = 1;
	st->role = RK_RAFT_LEADER;
	st->leader = 1;
	st->hs.term = 7;
	st->hs.commit = 10;
	st->last_index = 10;
	st->conf.n = 3;
	for (int i = 0; i < 3; i++) {
		st->conf.ids[i] = (uint64_t)i + 1;
		st->conf.flags[i] = RK_RAFT_VOTER;
		st->progress[i].id = (uint64_t)i + 1;
		st->progress[i].match = 10;
		st->progress[i].flags = RK_RAFT_VOTER;
	}
	st->n_progress = 3;
}

static void test_settled_leader(void **state)
{
	(void)state;
	struct rk_raft_status st;

	all_live(true);
	settled_status(&st);
	assert_true(rk_quiesce_settled(&st, 10, fake_live, NULL));
	/* Not applied yet, not committed, a follower behind, a transfer, a
	 * follower: not settled. */
	assert_false(rk_quiesce_settled(&st, 9, fake_live, NULL));
	st.hs.commit = 9;
	assert_false(rk_quiesce_settled(&st, 9, fake_live, NULL));
	settled_status(&st);
	st.progress[2].match = 9;
	assert_false(rk_quiesce_settled(&st, 10, fake_live, NULL));
	/* ... unless that follower's node is dead: a majority is caught up
	 * and the range may sleep (it wakes when the node is back). */
	g_live[3] = false;
	assert_true(rk_quiesce_settled(&st, 10, fake_live, NULL));
	/* Two followers dead and behind: no majority caught up. */
	g_live[2] = false;
	st.progress[1].match = 8;
	assert_false(rk_quiesce_settled(&st, 10, fake_live, NULL));
	all_live(true);
	settled_status(&st);
	st.lead_transferee = 2;
	assert_false(rk_quiesce_settled(&st, 10, fake_live, NULL));
	settled_status(&st);
	st.role = RK_RAFT_FOLLOWER;
	assert_false(rk_quiesce_settled(&st, 10, fake_live, NULL));
	/* A learner behind does not count toward the majority. */
	settled_status(&st);
	st.progress[2].flags = RK_RAFT_LEARNER;
	st.conf.flags[2] = RK_RAFT_LEARNER;
	assert_true(rk_quiesce_settled(&st, 10, fake_live, NULL));
}

/* Both followers on dead nodes: the leader alone is no majority. */
static void test_settled_needs_majority(void **state)
{
	(void)state;
	struct rk_raft_status st;

	all_live(true);
	g_live[2] = g_live[3] = false;
	settled_status(&st);
	assert_false(rk_quiesce_settled(&st, 10, fake_live, NULL));
	g_live[2] = true;
	assert_true(rk_quiesce_settled(&st, 10, fake_live, NULL));
}

/* On a fake tick clock: sleeps after RK_QUIESCE_AFTER_TICKS settled ticks
 * in a row; one unsettled tick starts the count again. */
static void test_quiet_ticks(void **state)
{
	(void)state;
	uint32_t q = 0;
	int t;

	for (t = 1; !rk_quiesce_tick(&q, true); t++)
		assert_true(t < 100);
	assert_int_equal(t, RK_QUIESCE_AFTER_TICKS);
	q = 0;
	for (t = 1; t < RK_QUIESCE_AFTER_TICKS; t++)
		assert_false(rk_quiesce_tick(&q, true));
	assert_false(rk_quiesce_tick(&q, false));
	assert_int_equal(q, 0);
	assert_false(rk_quiesce_tick(&q, true));
}

static void test_follower_sleeps_only_caught_up(void **state)
{
	(void)state;
	struct rk_raft_status st;

	memset(&st, 0, sizeof(st));
	st.role = RK_RAFT_FOLLOWER;
	st.leader = 2;
	st.hs.term = 7;
	st.hs.commit = 10;
	st.last_index = 10;
	assert_true(rk_quiesce_follower_sleeps(&st, 10, 7, 2, 10));
	assert_false(rk_quiesce_follower_sleeps(&st, 9, 7, 2, 10));  /* not applied */
	assert_false(rk_quiesce_follower_sleeps(&st, 10, 8, 2, 10)); /* other term */
	assert_false(rk_quiesce_follower_sleeps(&st, 10, 7, 3, 10)); /* other leader */
	assert_false(rk_quiesce_follower_sleeps(&st, 10, 7, 2, 11)); /* behind */
	st.last_index = 11; /* an entry past the leader's commit */
	assert_false(rk_quiesce_follower_sleeps(&st, 10, 7, 2, 10));
	st.last_index = 10;
	st.role = RK_RAFT_CANDIDATE;
	assert_false(rk_quiesce_follower_sleeps(&st, 10, 7, 2, 10));

	/* A restarted replica follows at once only with the same log. */
	memset(&st, 0, sizeof(st));
	st.hs.term = 7;
	st.hs.commit = 10;
	st.last_index = 10;
	assert_true(rk_quiesce_can_follow(&st, 7, 10));
	assert_false(rk_quiesce_can_follow(&st, 8, 10));
	assert_false(rk_quiesce_can_follow(&st, 7, 12));
	st.last_index = 12;
	assert_false(rk_quiesce_can_follow(&st, 7, 10));
}

/* ---- liveness on a fake round clock ---- */

static void test_live_dead_after_silence(void **state)
{
	(void)state;
	uint64_t heard = 100, now;

	/* Connection up (a hung or cut-off node): RK_LIVE_DEAD_SILENT rounds. */
	for (now = heard; !rk_live_is_dead(now, heard, true); now++)
		assert_true(now < heard + 1000);
	assert_int_equal(now - heard, RK_LIVE_DEAD_SILENT + 1);
	/* Connection down (the process is gone): RK_LIVE_DEAD_CLOSED. */
	for (now = heard; !rk_live_is_dead(now, heard, false); now++)
		assert_true(now < heard + 1000);
	assert_int_equal(now - heard, RK_LIVE_DEAD_CLOSED + 1);
	/* Heard this round: never dead. */
	assert_false(rk_live_is_dead(heard, heard, false));
}

/* ---- load rates (load.h) on a fake millisecond clock ---- */

static void test_rate_steady_and_decay(void **state)
{
	struct rk_rate r = {0};
	uint64_t t = 1000000;
	double v;

	(void)state;
	assert_true(rk_rate_get(&r, t) == 0);
	/* 200 events a second for 100 s, 20 every 100 ms. */
	for (int i = 0; i < 1000; i++, t += 100)
		rk_rate_add(&r, t, 20);
	v = rk_rate_get(&r, t);
	assert_true(v > 198 && v < 202);
	/* Reading changes nothing. */
	assert_true(rk_rate_get(&r, t) == v);
	/* Idle for one time constant: down to about 1/e. */
	v = rk_rate_get(&r, t + (uint64_t)(RK_LOAD_TAU_S * 1000));
	assert_true(v > 200 * 0.33 && v < 200 * 0.40);
	/* Idle for an hour: nothing left. */
	assert_true(rk_rate_get(&r, t + 3600 * 1000) == 0);
	/* A burst after the silence starts from nothing. */
	t += 3600 * 1000;
	rk_rate_add(&r, t, 1000);
	assert_true(rk_rate_get(&r, t) == 0);        /* the second is not over */
	v = rk_rate_get(&r, t + 1000);
	assert_true(v > 90 && v < 100);              /* (1 - e^-0.1) * 1000 */
}

static void test_rate_orders_ranges(void **state)
{
	struct rk_rate hot = {0}, cold = {0};
	uint64_t t = 5000;

	(void)state;
	for (int i = 0; i < 30; i++, t += 1000) {
		rk_rate_add(&hot, t, 50);
		rk_rate_add(&cold, t, 5);
	}
	assert_true(rk_rate_get(&hot, t) > 5 * rk_rate_get(&cold, t));
	/* A count that would overflow saturates. */
	rk_rate_add(&cold, t, UINT32_MAX);
	rk_rate_add(&cold, t, 10);
	assert_int_equal(cold.cur, UINT32_MAX);
}

/* When a range's size is scanned again (size.h): unknown at once; known
 * and untouched never; a quarter of its size written over values not
 * read; once quiet if small or the last scan raced; at the latest after
 * RK_SIZE_MAX_AGE_S; never twice within RK_SIZE_MIN_AGE_S. */
static void test_size_due(void **state)
{
	struct rk_load l;
	const uint64_t big = 64u << 20;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_true(rk_size_due(&l, 0, 0)); /* unknown */
	l.size_known = true;
	l.size_sec = 100;
	assert_false(rk_size_due(&l, big, 5000)); /* nothing applied since */
	/* Exact changes (DEL, CAS, INCR, NX): the figure holds; none due. */
	l.changes = 10;
	l.delta = -4096;
	l.change_sec = 100;
	assert_false(rk_size_due(&l, big, 5000));
	/* Writes over values not read, a quarter of the size: due, but
	 * not within RK_SIZE_MIN_AGE_S of the last scan. */
	l.unsure = big / 4;
	l.change_sec = 150;
	assert_true(rk_size_due(&l, big, 150));
	assert_false(rk_size_due(&l, big, 100 + RK_SIZE_MIN_AGE_S - 1));
	/* Less than a quarter, still written: not due while it is written
	 * (a large range is not scanned per few seconds of writes). */
	l.unsure = big / 8;
	assert_false(rk_size_due(&l, big, 155));
	/* Quiet: a large range waits (until RK_SIZE_MAX_AGE_S), a small
	 * one is scanned, and so is one whose last scan raced. */
	assert_false(rk_size_due(&l, big, 150 + RK_SIZE_MIN_AGE_S));
	assert_true(rk_size_due(&l, RK_SIZE_QUIET_MAX, 150 + RK_SIZE_MIN_AGE_S));
	l.size_fuzzy = true;
	assert_true(rk_size_due(&l, big, 150 + RK_SIZE_MIN_AGE_S));
	assert_false(rk_size_due(&l, big, 150 + RK_SIZE_MIN_AGE_S - 1));
	l.size_fuzzy = false;
	assert_true(rk_size_due(&l, big, 100 + RK_SIZE_MAX_AGE_S));
	/* A small range's bar is RK_SIZE_UNSURE_MIN, not a quarter of it. */
	l.unsure = RK_SIZE_UNSURE_MIN - 1;
	assert_false(rk_size_due(&l, 1024, 155));
	l.unsure = RK_SIZE_UNSURE_MIN;
	assert_true(rk_size_due(&l, 1024, 155));
	/* Counted from the last scan's marks. */
	l.unsure_mark = l.unsure;
	l.size_mark = l.changes;
	assert_false(rk_size_due(&l, 1024, 5000));
}

/* ---- the byte limit (limit.h) ---- */

/* Bytes a pump sends in secs of fake time at rate (burst), run every
 * period_ms, pieces of piece bytes, starting at t0_s. */
static uint64_t pump_for(struct rk_limit *b, double t0_s, double secs, uint64_t rate,
			 uint64_t burst, uint64_t piece, uint32_t period_ms)
{
	uint64_t sent = 0;

	for (double t = t0_s; t < t0_s + secs; t += period_ms / 1000.0)
		while (rk_limit_ready(b, (uint64_t)(t * 1e9), rate, burst)) {
			rk_limit_spend(b, piece);
			sent += piece;
		}
	return sent;
}

static void test_limit_rate_burst_unlimited(void **state)
{
	const uint64_t mib = 1u << 20, chunk = 256u << 10;
	struct rk_limit b = {0};
	uint64_t sent;

	(void)state;
	/* 1 MiB/s for 10 s in 256 KiB pieces every 5 ms (a piece is more
	 * than a period brings): 10 MiB, plus the first burst and a piece. */
	sent = pump_for(&b, 1.0, 10.0, mib, chunk, chunk, 5);
	assert_true(sent >= 10 * mib - chunk);
	assert_true(sent <= 10 * mib + 2 * chunk);
	/* Idle for a minute: at most the burst goes at once. */
	sent = pump_for(&b, 71.0, 0.001, mib, chunk, chunk, 5);
	assert_true(sent <= 2 * chunk);
	/* Small pieces, a higher rate: the same average. */
	memset(&b, 0, sizeof(b));
	sent = pump_for(&b, 1.0, 4.0, 32 * mib, 32 * mib / 10, 4096, 5);
	assert_true(sent >= 128 * mib - 4096);
	assert_true(sent <= 128 * mib + 32 * mib / 10 + 4096);
	/* 0: no limit. */
	memset(&b, 0, sizeof(b));
	for (int i = 0; i < 1000; i++) {
		assert_true(rk_limit_ready(&b, 5, 0, 0));
		rk_limit_spend(&b, mib);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_preferred_spreads_leaders),
		cmocka_unit_test(test_elector_is_next_live),
		cmocka_unit_test(test_majority),
		cmocka_unit_test(test_campaign_lifetime),
		cmocka_unit_test(test_leaderless_waits_then_wakes),
		cmocka_unit_test(test_settled_leader),
		cmocka_unit_test(test_settled_needs_majority),
		cmocka_unit_test(test_quiet_ticks),
		cmocka_unit_test(test_follower_sleeps_only_caught_up),
		cmocka_unit_test(test_live_dead_after_silence),
		cmocka_unit_test(test_rate_steady_and_decay),
		cmocka_unit_test(test_rate_orders_ranges),
		cmocka_unit_test(test_size_due),
		cmocka_unit_test(test_limit_rate_burst_unlimited),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
