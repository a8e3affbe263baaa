/*
 * The classic situations of the Raft paper, replayed step by step on the
 * fixture cluster. Each one is also what catches a planted bug (see
 * src/raft/bugs.h and docs/testing.md): run against librk_raft_bugN, the
 * test named beside the bug fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "raft_int.h"

static void no_prevote(struct rk_raft_options *o)
{
	o->pre_vote = false;
}

static void cut_all(struct fx *fx)
{
	int a, b;

	for (a = 1; a <= fx->n; a++)
		for (b = 1; b <= fx->n; b++)
			fx->cut[a][b] = true;
}

static void link_nodes(struct fx *fx, int a, int b)
{
	fx->cut[a][b] = fx->cut[b][a] = false;
}

/*
 * Figure 7: whatever the followers' logs look like, an elected leader
 * brings every one of them to its own log (missing entries, extra
 * uncommitted entries, extra entries of other terms).
 */
static void test_figure7_leader_repairs_logs(void **state)
{
	static const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
	static const uint64_t fa[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
	static const uint64_t fb[] = {1, 1, 1, 4};
	static const uint64_t fc[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
	static const uint64_t fd[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
	static const uint64_t fe[] = {1, 1, 1, 4, 4, 4, 4};
	static const uint64_t ff[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
	const uint64_t *logs[] = {leader, fa, fb, fc, fd, fe, ff};
	const int lens[] = {10, 9, 4, 11, 12, 7, 11};
	uint64_t shifted[16], last;
	struct fx fx;
	int i, j;

	(void)state;
	fx_init(&fx, 7, 7, NULL);
	/* Terms shifted above the boot term. */
	for (i = 0; i < 7; i++) {
		for (j = 0; j < lens[i]; j++)
			shifted[j] = logs[i][j] + RK_RAFT_INIT_TERM;
		fx_set_log(&fx, i + 1, shifted, lens[i], 8 + RK_RAFT_INIT_TERM);
	}
	assert_true(fx_elect(&fx, 1));
	fx_tick_all(&fx, 3);
	last = fx_stored_last(&fx, 1);
	assert_int_equal(last, RK_RAFT_INIT_INDEX + 11); /* 10 + the no-op */
	for (i = 2; i <= 7; i++) {
		assert_int_equal(fx_stored_last(&fx, i), last);
		for (j = RK_RAFT_INIT_INDEX + 1; j <= (int)last; j++)
			assert_int_equal(fx_stored_term(&fx, i, (uint64_t)j),
					 fx_stored_term(&fx, 1, (uint64_t)j));
	}
	fx_close(&fx);
}

/* Campaigns until elected: a voter that already voted in the candidate's
 * next term makes the first try fail. */
static bool elect_retrying(struct fx *fx, int id)
{
	int i;

	for (i = 0; i < 3; i++)
		if (fx_elect(fx, id))
			return true;
	return false;
}

/* Drops the new leader's appends while it is being elected. */
static bool drop_app_from_5(struct fx *fx, const struct rk_raft_msg *m)
{
	(void)fx;
	return !(m->type == RK_RAFT_MSG_APP && m->from == 5);
}

/*
 * Figure 8: an entry of an earlier term, stored on a majority, is not
 * committed by counting; otherwise a later leader may overwrite it.
 * Catches RK_BUG_COMMIT_PREV_TERM.
 */
static void test_figure8_no_commit_by_counting_old_term(void **state)
{
	struct fx fx;
	uint64_t a_index, c1, t1;

	(void)state;
	fx_init(&fx, 5, 5, no_prevote);
	/* (a) S1 leads, replicates A (its term) to S2 only. */
	assert_true(fx_elect(&fx, 1));
	cut_all(&fx);
	link_nodes(&fx, 1, 2);
	a_index = fx_propose(&fx, 1, "A");
	assert_true(a_index > 0);
	assert_true(fx_raft(&fx, 1)->committed < a_index);
	/* (b) S1 crashes; S5 is elected by S3, S4, S5 and appends its own
	 * entry at A's index, which goes nowhere. */
	fx_crash(&fx, 1);
	cut_all(&fx);
	link_nodes(&fx, 5, 3);
	link_nodes(&fx, 5, 4);
	fx.filter = drop_app_from_5;
	assert_true(fx_elect(&fx, 5));
	fx.filter = NULL;
	assert_int_equal(fx_stored_last(&fx, 5), a_index);
	fx_crash(&fx, 5);
	/* (c) S1 restarts, is elected, and copies A to S3: A is on S1, S2,
	 * S3, a majority, but its own no-op is not. */
	fx_restart(&fx, 1);
	cut_all(&fx);
	link_nodes(&fx, 1, 2);
	link_nodes(&fx, 1, 3);
	fx.trim_above[2] = fx.trim_above[3] = a_index;
	assert_true(elect_retrying(&fx, 1));
	fx_tick(&fx, 1, 1);
	c1 = fx_raft(&fx, 1)->committed;
	t1 = fx_stored_term(&fx, 1, c1);
	assert_true(c1 < a_index); /* the rule at work */
	/* (d) S1 crashes; S5 comes back and is elected by S2, S3, S4 (its
	 * last term beats theirs); it overwrites A. Whatever S1 had
	 * committed must survive that. */
	fx_crash(&fx, 1);
	memset(fx.trim_above, 0, sizeof(fx.trim_above));
	fx_restart(&fx, 5);
	fx_heal(&fx);
	fx.cut[1][5] = fx.cut[5][1] = true;
	assert_true(elect_retrying(&fx, 5));
	fx_tick_all(&fx, 3);
	assert_int_equal(fx_stored_term(&fx, 5, c1), t1);
	assert_int_equal(fx_stored_term(&fx, 2, c1), t1);
	fx_close(&fx);
}

/*
 * A voter grants its vote only to a candidate whose log is at least as up
 * to date as its own; otherwise a committed entry can be lost.
 * Catches RK_BUG_VOTE_NO_LOG_CHECK.
 */
static void test_vote_requires_up_to_date_log(void **state)
{
	struct fx fx;
	uint64_t idx, commit;

	(void)state;
	fx_init(&fx, 3, 3, no_prevote);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 3);
	idx = fx_propose(&fx, 1, "committed");
	fx_tick(&fx, 1, 1);
	commit = fx_raft(&fx, 1)->committed;
	assert_true(commit >= idx);
	fx_crash(&fx, 1);
	fx_heal(&fx);
	fx.cut[1][2] = fx.cut[2][1] = fx.cut[1][3] = fx.cut[3][1] = true;
	/* S3 lacks the entry: S2 must refuse it. */
	fx_elect(&fx, 3);
	assert_int_not_equal(fx_raft(&fx, 3)->role, RK_RAFT_LEADER);
	fx_tick_all(&fx, 60);
	assert_true(fx_leader(&fx) == 2);
	assert_true(fx_stored_last(&fx, 2) >= idx);
	assert_int_equal(fx_stored_term(&fx, 3, idx), fx_stored_term(&fx, 2, idx));
	fx_close(&fx);
}

/*
 * A follower acknowledges entries only once they are durable: a crash
 * between acknowledgement and persist would otherwise lose an entry the
 * leader counted as committed. Catches RK_BUG_ACK_BEFORE_PERSIST.
 */
static void test_ack_only_after_persist(void **state)
{
	struct fx fx;
	uint64_t idx, commit, t;
	int l;

	(void)state;
	fx_init(&fx, 3, 3, no_prevote);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 3);
	/* S2 will crash on its next batch, before persisting it. */
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "x", 1, &idx), 0);
	fx.lose_persist[2] = true;
	fx_settle(&fx);
	fx_tick(&fx, 1, 1);
	commit = fx_raft(&fx, 1)->committed;
	t = fx_stored_term(&fx, 1, commit);
	/* Now S1 dies; S2 (restarted) and S3 carry on. */
	fx_crash(&fx, 1);
	fx_restart(&fx, 2);
	fx_heal(&fx);
	fx.cut[1][2] = fx.cut[2][1] = fx.cut[1][3] = fx.cut[3][1] = true;
	fx_tick_all(&fx, 60);
	l = fx_leader(&fx);
	assert_true(l == 2 || l == 3);
	assert_true(fx_propose(&fx, l, "y") > 0);
	fx_tick_all(&fx, 2);
	/* Everything S1 had committed is still there. */
	assert_int_equal(fx_stored_term(&fx, l, commit), t);
	assert_true(commit < idx); /* and x was not counted without S2's disk */
	fx_close(&fx);
}

/* A follower behind the leader's compaction point catches up by snapshot
 * and then by log. */
static void test_snapshot_to_follower_behind_compaction(void **state)
{
	struct fx fx;
	uint64_t snaps_before;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 3);
	for (i = 0; i < 30; i++)
		fx_propose(&fx, 1, "while 3 is away");
	fx_tick(&fx, 1, 1);
	fx_compact(&fx, 1);
	fx_compact(&fx, 2);
	snaps_before = fx.msg_count[RK_RAFT_MSG_SNAP];
	fx_heal(&fx);
	fx_tick_all(&fx, 3);
	assert_true(fx.msg_count[RK_RAFT_MSG_SNAP] > snaps_before);
	fx_propose(&fx, 1, "after the snapshot");
	fx_tick_all(&fx, 2);
	assert_int_equal(fx.nodes[3].applied, fx.nodes[1].applied);
	assert_int_equal(fx.nodes[3].sm_hash[fx.nodes[3].applied],
			 fx.nodes[1].sm_hash[fx.nodes[1].applied]);
	fx_close(&fx);
}

/* A partitioned leader that comes back with pre-vote neither disrupts the
 * new leader nor keeps its uncommitted entries. */
static void test_partitioned_leader_rejoins(void **state)
{
	struct fx fx;
	uint64_t stale, term2;
	int l;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 1);
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "lost", 4, &stale), 0);
	fx_settle(&fx);
	fx_tick_all(&fx, 60); /* 1 steps down (check-quorum); 2 or 3 leads */
	l = fx_leader(&fx);
	assert_true(l == 2 || l == 3);
	term2 = fx_raft(&fx, l)->term;
	fx_propose(&fx, l, "kept");
	fx_heal(&fx);
	fx_tick_all(&fx, 30);
	assert_int_equal(fx_leader(&fx), l);
	assert_int_equal(fx_raft(&fx, l)->term, term2);
	assert_int_equal(fx_stored_term(&fx, 1, stale),
			 fx_stored_term(&fx, l, stale));
	fx_close(&fx);
}

/* A follower whose state machine cannot apply committed entries it holds
 * (rangekv: a range merge whose right replica on that node never reaches
 * its frozen index) waits for ever, and no snapshot comes by itself: its
 * log is complete. Once it asks (rk_raft_request_snapshot) the leader
 * sends its applied state, which the follower's state machine takes
 * (its log stays); replication then goes on. */
static void test_requested_snapshot_over_unapplied_log(void **state)
{
	struct fx fx;
	uint64_t held, snaps_before;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "applied everywhere");
	held = fx.nodes[3].applied + 1;
	fx.hold_apply[3] = held;
	for (i = 0; i < 10; i++)
		fx_propose(&fx, 1, "committed, not applicable on 3");
	fx_tick_all(&fx, 30);
	assert_int_equal(fx.nodes[3].applied, held - 1);
	assert_int_equal(rk_raft_commit(fx_raft(&fx, 3)), rk_raft_commit(fx_raft(&fx, 1)));
	snaps_before = fx.msg_count[RK_RAFT_MSG_SNAP];
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_SNAP], 0);
	/* Only a follower that knows its leader asks. */
	assert_int_equal(rk_raft_request_snapshot(fx_raft(&fx, 1)), RK_ESTATE);
	assert_int_equal(rk_raft_request_snapshot(fx_raft(&fx, 3)), 0);
	fx_settle(&fx);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_SNAP_REQ], 1);
	assert_true(fx.msg_count[RK_RAFT_MSG_SNAP] > snaps_before);
	assert_int_equal(fx.hold_apply[3], 0); /* installed */
	assert_int_equal(fx.nodes[3].applied, fx.nodes[1].applied);
	assert_int_equal(fx.nodes[3].sm_hash[fx.nodes[3].applied],
			 fx.nodes[1].sm_hash[fx.nodes[1].applied]);
	assert_int_equal(rk_raft_snapshot_pending(fx_raft(&fx, 3)), 0);
	fx_propose(&fx, 1, "after the snapshot");
	fx_tick_all(&fx, 2);
	assert_int_equal(fx.nodes[3].applied, fx.nodes[1].applied);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_SNAP], snaps_before + 1);
	fx_close(&fx);
}

/* The snapshot a follower asked for keeps its log: the entries it may
 * have acknowledged stay (the leader counts them), only its state machine
 * moves on. A leader asked for more than it has applied sends no snapshot
 * until it has, and replicates to that follower meanwhile. */
static void test_requested_snapshot_keeps_the_log(void **state)
{
	struct fx fx;
	struct rk_raft_msg m;
	uint64_t last3, snaps, idx;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx.hold_apply[3] = fx.nodes[3].applied + 1;
	for (i = 0; i < 5; i++)
		fx_propose(&fx, 1, "held on 3");
	fx_tick_all(&fx, 3);
	last3 = fx_stored_last(&fx, 3);
	assert_int_equal(last3, fx_stored_last(&fx, 1));
	/* Asked for beyond its applied index, the leader sends no snapshot
	 * but goes on replicating (2 is cut off: 3 makes the quorum). */
	snaps = fx.msg_count[RK_RAFT_MSG_SNAP];
	fx.cut[3][1] = true; /* its own request is lost; one is stepped below */
	assert_int_equal(rk_raft_request_snapshot(fx_raft(&fx, 3)), 0);
	fx_settle(&fx);
	fx.cut[3][1] = false;
	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_SNAP_REQ;
	m.from = 3;
	m.to = 1;
	m.term = fx_raft(&fx, 1)->term;
	m.index = fx.nodes[1].applied + 1;
	assert_int_equal(rk_raft_step(fx_raft(&fx, 1), &m), 0);
	fx_isolate(&fx, 2);
	idx = fx_propose(&fx, 1, "committed with 3's acknowledgement");
	fx_settle(&fx);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_SNAP], snaps);
	assert_true(rk_raft_commit(fx_raft(&fx, 1)) >= idx);
	assert_int_equal(fx.nodes[1].applied, idx);
	/* Now it has applied that far: the next heartbeat answer sends it. */
	fx_tick_all(&fx, 2);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_SNAP], snaps + 1);
	assert_int_equal(fx.nodes[3].applied, idx);
	/* 3's log is whole: every entry it had, and the new one. */
	assert_int_equal(fx_stored_last(&fx, 3), idx);
	for (uint64_t k = last3 - 4; k <= idx; k++)
		assert_int_equal(fx_stored_term(&fx, 3, k), fx_stored_term(&fx, 1, k));
	fx_close(&fx);
}

static void lease_reads(struct rk_raft_options *o)
{
	o->read_only = RK_RAFT_READ_LEASE;
}

/*
 * The lease under a gray failure: S1 leads; S1 and S3 lose each other; a few
 * ticks later S2's messages stop reaching S1 (S1's still reach S2). S3 times
 * out while S1's lease (from S2's last acknowledgement) still runs. S2 must
 * refuse to elect S3 while it hears S1, or S3 commits a write that S1's
 * lease read then misses. Catches RK_BUG_LEASE_NO_CHECK_QUORUM.
 */
static void test_lease_read_not_stale_under_gray_failure(void **state)
{
	struct fx fx;
	uint64_t w;
	int t, i;

	(void)state;
	fx_init(&fx, 3, 3, lease_reads);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "before");
	fx_tick_all(&fx, 2);
	fx.cut[1][3] = fx.cut[3][1] = true;
	fx_tick_all(&fx, fx.opts.election_tick - 3);
	fx.cut[2][1] = true;
	/* Ticks advance together (the lease's assumption); S3 campaigns as
	 * soon as its timeout allows. */
	for (t = 0; t < 3 * fx.opts.election_tick; t++) {
		fx_tick_all(&fx, 1);
		if (fx_raft(&fx, 3)->role == RK_RAFT_LEADER)
			break;
	}
	if (fx_raft(&fx, 3)->role == RK_RAFT_LEADER) {
		w = fx_propose(&fx, 3, "after");
		fx_tick_all(&fx, 1);
		assert_true(fx.nodes[3].applied >= w); /* acknowledged */
		/* Any read S1 still releases must see that write. */
		if (fx_raft(&fx, 1)->role == RK_RAFT_LEADER &&
		    rk_raft_read_index(fx_raft(&fx, 1), 77) == 0) {
			fx_settle(&fx);
			for (i = 0; i < fx.nodes[1].n_reads; i++)
				if (fx.nodes[1].reads[i] == 77)
					assert_true(fx.nodes[1].read_index[i] >= w);
		}
	}
	/* Whatever happened, S2 and S3 agree, and S1 learns once healed. */
	fx_heal(&fx);
	fx_tick_all(&fx, 3 * fx.opts.election_tick);
	assert_int_equal(fx.nodes[1].applied, fx.nodes[2].applied);
	fx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_figure7_leader_repairs_logs),
		cmocka_unit_test(test_figure8_no_commit_by_counting_old_term),
		cmocka_unit_test(test_vote_requires_up_to_date_log),
		cmocka_unit_test(test_ack_only_after_persist),
		cmocka_unit_test(test_snapshot_to_follower_behind_compaction),
		cmocka_unit_test(test_requested_snapshot_over_unapplied_log),
		cmocka_unit_test(test_requested_snapshot_keeps_the_log),
		cmocka_unit_test(test_partitioned_leader_rejoins),
		cmocka_unit_test(test_lease_read_not_stale_under_gray_failure),
	};
	return cmocka_run_group_tests_name("raft_scenarios", tests, NULL, NULL);
}
