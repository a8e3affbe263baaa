/*
 * How followers learn the commit index: at once, in an empty append of
 * its own (the default), or with the next append or heartbeat
 * (lazy_commit, what the node uses so that a lone write costs each
 * follower one message and one trip through its storage, not two).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

static void lazy(struct rk_raft_options *o)
{
	o->lazy_commit = true;
}

/* Elects node 1 and lets everything settle, the heartbeats included. */
static void start(struct fx *fx, void (*tune)(struct rk_raft_options *o))
{
	fx_init(fx, 3, 3, tune);
	assert_true(fx_elect(fx, 1));
	fx_tick_all(fx, 2);
}

static void test_eager_commit_sends_an_append(void **state)
{
	struct fx fx;
	uint64_t apps, idx;

	(void)state;
	start(&fx, NULL);
	apps = fx.msg_count[RK_RAFT_MSG_APP];
	idx = fx_propose(&fx, 1, "a");
	/* One append per follower with the entry, one more with its commit. */
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_APP] - apps, 4);
	assert_int_equal(fx.nodes[2].applied, idx);
	assert_int_equal(fx.nodes[3].applied, idx);
	fx_close(&fx);
}

static void test_lazy_commit_rides_on_the_next_message(void **state)
{
	struct fx fx;
	uint64_t apps, resps, a, b;
	int i;

	(void)state;
	start(&fx, lazy);
	apps = fx.msg_count[RK_RAFT_MSG_APP];
	resps = fx.msg_count[RK_RAFT_MSG_APP_RESP];
	a = fx_propose(&fx, 1, "a");
	/* The leader commits and applies as before ... */
	assert_int_equal(fx_raft(&fx, 1)->committed, a);
	assert_int_equal(fx.nodes[1].applied, a);
	/* ... with one append per follower and one answer each, nothing
	 * else: the followers hold the entry, not yet its commit. */
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_APP] - apps, 2);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_APP_RESP] - resps, 2);
	for (i = 2; i <= 3; i++) {
		assert_int_equal(fx_stored_last(&fx, i), a);
		assert_true(fx_raft(&fx, i)->committed < a);
		assert_true(fx.nodes[i].applied < a);
	}
	/* The next append carries it. */
	b = fx_propose(&fx, 1, "b");
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_APP] - apps, 4);
	for (i = 2; i <= 3; i++) {
		assert_int_equal(fx.nodes[i].applied, a);
		assert_int_equal(fx.nodes[i].sm_hash[a], fx.nodes[1].sm_hash[a]);
	}
	/* A heartbeat carries the last one. */
	fx_tick(&fx, 1, fx.opts.heartbeat_tick);
	for (i = 2; i <= 3; i++) {
		assert_int_equal(fx_raft(&fx, i)->committed, b);
		assert_int_equal(fx.nodes[i].applied, b);
		assert_int_equal(fx.nodes[i].sm_hash[b], fx.nodes[1].sm_hash[b]);
	}
	fx_close(&fx);
}

/* A leader asked to send its commit index does, at once: the followers
 * apply the entry without waiting for the next append or heartbeat. */
static void test_lazy_commit_sent_when_asked(void **state)
{
	struct fx fx;
	uint64_t apps, a;
	int i;

	(void)state;
	start(&fx, lazy);
	a = fx_propose(&fx, 1, "a");
	for (i = 2; i <= 3; i++)
		assert_true(fx.nodes[i].applied < a);
	assert_int_equal(rk_raft_send_commit(fx_raft(&fx, 2)), RK_ENOTLEADER);
	apps = fx.msg_count[RK_RAFT_MSG_APP];
	assert_int_equal(rk_raft_send_commit(fx_raft(&fx, 1)), 0);
	fx_settle(&fx);
	/* One empty append per follower, carrying the commit. */
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_APP] - apps, 2);
	for (i = 2; i <= 3; i++) {
		assert_int_equal(fx_raft(&fx, i)->committed, a);
		assert_int_equal(fx.nodes[i].applied, a);
	}
	fx_close(&fx);
}

/* A follower whose appends were paused (flow control full) still gets the
 * next entries once its answer frees room, commit or not. */
static void small_window(struct rk_raft_options *o)
{
	o->lazy_commit = true;
	o->max_inflight_msgs = 1;
}

static void test_lazy_commit_unpauses_a_follower(void **state)
{
	struct fx fx;
	uint64_t last = 0;
	int i;

	(void)state;
	start(&fx, small_window);
	for (i = 0; i < 5; i++)
		assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "p", 1, &last), 0);
	fx_settle(&fx);
	for (i = 0; i < 5; i++)
		assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "q", 1, &last), 0);
	fx_settle(&fx);
	assert_int_equal(fx_raft(&fx, 1)->committed, last);
	for (i = 2; i <= 3; i++)
		assert_int_equal(fx_stored_last(&fx, i), last);
	fx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eager_commit_sends_an_append),
		cmocka_unit_test(test_lazy_commit_rides_on_the_next_message),
		cmocka_unit_test(test_lazy_commit_unpauses_a_follower),
		cmocka_unit_test(test_lazy_commit_sent_when_asked),
	};
	return cmocka_run_group_tests_name("raft_commit", tests, NULL, NULL);
}
