/*
 * Unit and scenario tests of the raft core, through the fixture cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "raft_int.h" /* white-box checks of private state */

#define raft_test_is_voter(r, id) raft_is_voter(&(r)->conf, (id))
/* A campaign without pre-vote's consent, as a confused node would. */
#define raft_force_campaign_for_test(r) raft_campaign((r), false, false)

static void no_prevote(struct rk_raft_options *o)
{
	o->pre_vote = false;
}

static void lease_reads(struct rk_raft_options *o)
{
	o->read_only = RK_RAFT_READ_LEASE;
}

/* A fake monotonic clock in ms, 50 ms per tick: the test moves it. */
static uint64_t g_now_ms;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return g_now_ms;
}

static void clocked_lease_reads(struct rk_raft_options *o)
{
	o->read_only = RK_RAFT_READ_LEASE;
	o->clock = fake_clock;
	o->clock_arg = NULL;
	o->tick_len = 50;
	g_now_ms = 1000000;
}

static void small_inflight(struct rk_raft_options *o)
{
	o->max_inflight_msgs = 4;
	o->max_msg_bytes = 16;
}

/* ---- elections ---------------------------------------------------------------- */

static void test_election_one_leader(void **state)
{
	struct fx fx;
	int i, leaders = 0;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	fx_tick_all(&fx, 50);
	for (i = 1; i <= 3; i++)
		leaders += fx_raft(&fx, i)->role == RK_RAFT_LEADER;
	assert_int_equal(leaders, 1);
	for (i = 1; i <= 3; i++)
		assert_int_equal(rk_raft_leader(fx_raft(&fx, i)), fx_leader(&fx));
	fx_close(&fx);
}

static void test_single_node_elects_itself(void **state)
{
	struct fx fx;

	(void)state;
	fx_init(&fx, 1, 1, NULL);
	fx_tick_all(&fx, 25);
	assert_int_equal(fx_raft(&fx, 1)->role, RK_RAFT_LEADER);
	assert_true(fx_propose(&fx, 1, "x") > 0);
	assert_int_equal(fx.nodes[1].applied, fx_raft(&fx, 1)->committed);
	fx_close(&fx);
}

static void test_votes_refused_within_lease(void **state)
{
	struct fx fx;
	uint64_t term;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	term = fx_raft(&fx, 1)->term;
	/* Node 3 campaigns without pre-vote consent while 1 is healthy:
	 * with check-quorum voters ignore it, the leader stays. */
	fx.nodes[3].raft.refuse_until = 0;
	raft_force_campaign_for_test(&fx.nodes[3].raft);
	fx_settle(&fx);
	assert_int_equal(fx_raft(&fx, 1)->role, RK_RAFT_LEADER);
	assert_int_equal(fx_raft(&fx, 1)->term, term);
	fx_close(&fx);
}

/* A split's first campaign (docs/node.md, "Range split"): the caller
 * writes the candidate's term and vote with the split's batch, so the next
 * ready carries no hard state and its vote requests leave without a
 * persist of their own; asked again, the candidate sends the same requests
 * in the same term, and wins in it. */
static void test_split_campaign_hard_state_taken(void **state)
{
	struct fx fx;
	struct rk_raft_hard_state hs;
	struct rk_raft_ready rd;
	struct rk_raft *r;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	r = fx_raft(&fx, 1);
	assert_int_equal(rk_raft_campaign_split(r), 0);
	rk_raft_hard_state_taken(r, &hs);
	assert_int_equal(hs.vote, 1);
	assert_int_equal(hs.term, r->term);
	fx.nodes[1].store.hs = hs; /* the split's batch, durable */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(rk_raft_ready(r, &rd), 0);
		assert_false(rd.has_hard_state);
		assert_false(rd.must_sync);
		assert_int_equal(rd.n_msgs_after_persist, 2);
		for (size_t i = 0; i < rd.n_msgs_after_persist; i++) {
			assert_int_equal(rd.msgs_after_persist[i].type, RK_RAFT_MSG_VOTE);
			assert_int_equal(rd.msgs_after_persist[i].term, hs.term);
		}
		rk_raft_advance(r, &rd); /* the requests are lost */
		assert_int_equal(rk_raft_campaign_split_again(r), 0);
		assert_int_equal(r->role, RK_RAFT_CANDIDATE);
		assert_int_equal(r->term, hs.term);
	}
	fx_settle(&fx);
	assert_int_equal(r->role, RK_RAFT_LEADER);
	assert_int_equal(r->term, hs.term);
	fx_close(&fx);
}

static void test_prevote_partitioned_node_rejoins(void **state)
{
	struct fx fx;
	uint64_t term;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	term = fx_raft(&fx, 1)->term;
	fx_isolate(&fx, 3);
	fx_tick_all(&fx, 100); /* 3 keeps pre-campaigning in vain */
	assert_int_equal(fx_raft(&fx, 3)->term, term);
	fx_heal(&fx);
	fx_tick_all(&fx, 5);
	assert_int_equal(fx_leader(&fx), 1);
	assert_int_equal(fx_raft(&fx, 1)->term, term);
	assert_int_equal(fx_raft(&fx, 3)->lead, 1);
	fx_close(&fx);
}

static void test_without_prevote_rejoin_disrupts(void **state)
{
	struct fx fx;
	uint64_t term;

	(void)state;
	/* The contrast that shows pre-vote is what protects the leader. */
	fx_init(&fx, 3, 3, no_prevote);
	assert_true(fx_elect(&fx, 1));
	term = fx_raft(&fx, 1)->term;
	fx_isolate(&fx, 3);
	fx_tick_all(&fx, 100);
	assert_true(fx_raft(&fx, 3)->term > term);
	fx_close(&fx);
}

static void test_check_quorum_step_down(void **state)
{
	struct fx fx;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 1);
	fx_tick(&fx, 1, 2 * fx.opts.election_tick + 1);
	assert_int_not_equal(fx_raft(&fx, 1)->role, RK_RAFT_LEADER);
	fx_close(&fx);
}

static void test_leader_elected_after_leader_crash(void **state)
{
	struct fx fx;
	int l;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	assert_true(fx_propose(&fx, 1, "a") > 0);
	fx_crash(&fx, 1);
	fx_tick_all(&fx, 60);
	l = fx_leader(&fx);
	assert_true(l == 2 || l == 3);
	fx_restart(&fx, 1);
	fx_tick_all(&fx, 30);
	assert_int_equal(fx_raft(&fx, 1)->lead, (uint64_t)l);
	assert_int_equal(fx.nodes[1].applied, fx.nodes[l].applied);
	fx_close(&fx);
}

/* ---- replication -------------------------------------------------------------- */

static void test_replicate_and_apply_everywhere(void **state)
{
	struct fx fx;
	uint64_t idx = 0;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	for (i = 0; i < 20; i++)
		idx = fx_propose(&fx, 1, "entry");
	assert_true(idx > 0);
	fx_tick_all(&fx, 2); /* heartbeats carry the final commit index */
	for (i = 1; i <= 3; i++) {
		assert_int_equal(fx.nodes[i].applied, idx);
		assert_int_equal(fx.nodes[i].sm_hash[idx], fx.nodes[1].sm_hash[idx]);
	}
	fx_close(&fx);
}

static void test_proposal_on_follower_names_leader(void **state)
{
	struct fx fx;
	uint64_t idx = 7;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 2));
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "x", 1, &idx),
			 RK_ENOTLEADER);
	assert_int_equal(idx, 0);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 1)), 2);
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 3), 1), RK_ENOTLEADER);
	fx_close(&fx);
}

static void test_batching_one_append_per_turn(void **state)
{
	struct fx fx;
	uint64_t before;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	before = fx.msg_count[RK_RAFT_MSG_APP];
	for (i = 0; i < 100; i++)
		assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "p", 1, NULL), 0);
	fx_settle(&fx);
	/* 100 proposals of one turn: one APP per follower, then one more per
	 * follower to carry the new commit index. */
	assert_true(fx.msg_count[RK_RAFT_MSG_APP] - before <= 4);
	assert_int_equal(fx.nodes[2].apply_count, fx.nodes[1].apply_count);
	fx_close(&fx);
}

static bool drop_app_resp_from_3(struct fx *fx, const struct rk_raft_msg *m)
{
	(void)fx;
	return !(m->type == RK_RAFT_MSG_APP_RESP && m->from == 3);
}

static void test_flow_control_bounds_inflight(void **state)
{
	struct fx fx;
	struct rk_raft_status st;
	uint64_t before;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, small_inflight);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "warm");
	fx.filter = drop_app_resp_from_3;
	before = fx.msg_count[RK_RAFT_MSG_APP];
	for (i = 0; i < 50; i++) {
		assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "0123456789abcdef", 16, NULL), 0);
		fx_settle(&fx);
	}
	rk_raft_status(fx_raft(&fx, 1), &st);
	for (i = 0; i < (int)st.n_progress; i++)
		if (st.progress[i].id == 3)
			assert_true(st.progress[i].inflight <= 4);
	/* Node 2 got ~50 appends; node 3 at most the 4 in flight. */
	assert_true(fx.msg_count[RK_RAFT_MSG_APP] - before <= 50 * 2 + 10);
	fx.filter = NULL;
	fx_tick_all(&fx, 5);
	assert_int_equal(fx.nodes[3].applied, fx.nodes[1].applied);
	fx_close(&fx);
}

static uint64_t heard_at(struct fx *fx, int leader, uint64_t id)
{
	struct rk_raft_status st;

	rk_raft_status(fx_raft(fx, leader), &st);
	for (size_t i = 0; i < st.n_progress; i++)
		if (st.progress[i].id == id)
			return st.progress[i].heard_at;
	return UINT64_MAX;
}

/* The leader's last contact with each replica (rk_raft_status): the clock
 * of its last answer, which stops for a replica cut off. */
static void test_progress_last_contact(void **state)
{
	struct fx fx;
	uint64_t h2, h3;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "x");
	fx_tick_all(&fx, 2); /* the clock is the tick count here: not 0 */
	h2 = heard_at(&fx, 1, 2);
	h3 = heard_at(&fx, 1, 3);
	assert_true(h2 > 0 && h3 > 0 && h2 != UINT64_MAX);
	fx_isolate(&fx, 3);
	fx_tick(&fx, 1, 4);
	fx_tick(&fx, 2, 4);
	fx_settle(&fx);
	assert_true(heard_at(&fx, 1, 2) > h2);
	assert_int_equal(heard_at(&fx, 1, 3), h3);
	/* Only a leader tracks replicas. */
	assert_int_equal(heard_at(&fx, 2, 1), UINT64_MAX);
	fx_close(&fx);
}

static void test_fast_backtracking(void **state)
{
	struct fx fx;
	uint64_t probes_before;
	int i;

	(void)state;
	/* Node 3 collects 200 entries of a dead term as an isolated leader;
	 * the new leader must find the divergence in a few round trips, not
	 * one entry at a time. */
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 3));
	fx_isolate(&fx, 3);
	for (i = 0; i < 200; i++)
		(void)rk_raft_propose(fx_raft(&fx, 3), "stale", 5, NULL);
	fx_settle(&fx);
	assert_true(fx_elect(&fx, 1));
	for (i = 0; i < 10; i++)
		fx_propose(&fx, 1, "fresh");
	fx_heal(&fx);
	probes_before = fx.msg_count[RK_RAFT_MSG_APP_RESP];
	fx_tick_all(&fx, 3);
	assert_int_equal(fx.nodes[3].applied, fx.nodes[1].applied);
	assert_true(fx.msg_count[RK_RAFT_MSG_APP_RESP] - probes_before < 20);
	fx_close(&fx);
}

/* ---- reads -------------------------------------------------------------------- */

static void test_read_index_waits_for_quorum(void **state)
{
	struct fx fx;
	uint64_t idx;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	idx = fx_propose(&fx, 1, "w");
	fx_isolate(&fx, 1);
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 42), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 0); /* no quorum, no read */
	fx_heal(&fx);
	fx_tick(&fx, 1, 1);
	assert_int_equal(fx.nodes[1].n_reads, 1);
	assert_int_equal(fx.nodes[1].reads[0], 42);
	assert_true(fx.nodes[1].read_index[0] >= idx);
	fx_close(&fx);
}

static bool drop_app_resp(struct fx *fx, const struct rk_raft_msg *m)
{
	(void)fx;
	return m->type != RK_RAFT_MSG_APP_RESP;
}

static void test_read_index_waits_for_commit_in_term(void **state)
{
	struct fx fx;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	/* Elected, but the no-op of the new term is not committed yet: the
	 * leader does not know the latest commit index, so reads wait. */
	fx.filter = drop_app_resp;
	assert_true(fx_elect(&fx, 1));
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 9), 0);
	fx_tick(&fx, 1, 2);
	assert_int_equal(fx.nodes[1].n_reads, 0);
	fx.filter = NULL;
	fx_tick(&fx, 1, 2);
	assert_int_equal(fx.nodes[1].n_reads, 1);
	assert_int_equal(fx.nodes[1].reads[0], 9);
	assert_true(fx.nodes[1].read_index[0] >= RK_RAFT_INIT_INDEX + 1);
	fx_close(&fx);
}

static void test_lease_read_is_local(void **state)
{
	struct fx fx;
	uint64_t hb;

	(void)state;
	fx_init(&fx, 3, 3, lease_reads);
	assert_true(fx_elect(&fx, 1));
	fx_tick_all(&fx, 2);
	hb = fx.msg_count[RK_RAFT_MSG_HEARTBEAT];
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 5), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 1);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_HEARTBEAT], hb);
	/* Cut off, the lease runs out and reads stop being local. */
	fx_isolate(&fx, 1);
	fx_tick(&fx, 1, fx.opts.election_tick);
	fx.nodes[1].n_reads = 0;
	if (fx_raft(&fx, 1)->role == RK_RAFT_LEADER) {
		assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 6), 0);
		fx_settle(&fx);
		assert_int_equal(fx.nodes[1].n_reads, 0);
	}
	fx_close(&fx);
}

/* A group that slept (not ticked) must not trust its lease on waking:
 * after rk_raft_lease_void the next read costs a heartbeat round, and is
 * still released once a quorum answers. */
static void test_lease_void_forces_a_round(void **state)
{
	struct fx fx;
	uint64_t hb;

	(void)state;
	fx_init(&fx, 3, 3, lease_reads);
	assert_true(fx_elect(&fx, 1));
	fx_tick_all(&fx, 2);
	rk_raft_lease_void(fx_raft(&fx, 2)); /* a follower: no effect */
	rk_raft_lease_void(fx_raft(&fx, 1));
	hb = fx.msg_count[RK_RAFT_MSG_HEARTBEAT];
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 7), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 1);
	assert_true(fx.msg_count[RK_RAFT_MSG_HEARTBEAT] > hb);
	/* The round renewed the lease: the next read is local again. */
	hb = fx.msg_count[RK_RAFT_MSG_HEARTBEAT];
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 8), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 2);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_HEARTBEAT], hb);
	fx_close(&fx);
}

/* A restarted follower learns its leader out of band (rk_raft_follow):
 * only for the current term, only as a follower, never a second leader. */
static void test_follow_out_of_band(void **state)
{
	struct fx fx;
	uint64_t term;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_settle(&fx);
	term = fx_raft(&fx, 1)->term;
	fx_crash(&fx, 2);
	fx_restart(&fx, 2);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 2)), 0);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 1, term + 1, 0), RK_ESTATE);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 2, term, 0), RK_ESTATE);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 1), 3, term, 0), RK_ESTATE);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 1, term, 0), 0);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 2)), 1);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 3, term, 0), RK_ESTATE);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 2)), 1);
	/* It follows for real: a proposal reaches it. */
	fx_propose(&fx, 1, "after");
	fx_settle(&fx);
	assert_int_equal(fx_stored_last(&fx, 2), fx_stored_last(&fx, 1));
	/* The commit it is told is taken only as far as its log reaches: cut
	 * off, it misses an entry the others commit. */
	fx_isolate(&fx, 2);
	fx_propose(&fx, 1, "missed");
	fx_settle(&fx);
	fx_heal(&fx);
	assert_true(fx_raft(&fx, 1)->committed > fx_stored_last(&fx, 2));
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 1, term,
					 fx_raft(&fx, 1)->committed), 0);
	assert_true(fx_raft(&fx, 2)->committed < fx_raft(&fx, 1)->committed);
	assert_int_equal(rk_raft_follow(fx_raft(&fx, 2), 1, term,
					 fx_stored_last(&fx, 2)), 0);
	assert_int_equal(fx_raft(&fx, 2)->committed, fx_stored_last(&fx, 2));
	fx_close(&fx);
}

/* A replica told out of band that an entry of its log is committed (a
 * range merge's MERGE carries its right's FREEZE: rk_raft_commit_known)
 * commits up to it only when its log holds that very entry. */
static void lazy(struct rk_raft_options *o)
{
	o->lazy_commit = true; /* a follower learns a commit with the next message */
}

static void test_commit_known(void **state)
{
	struct fx fx;
	uint64_t last, term;

	(void)state;
	fx_init(&fx, 3, 3, lazy);
	assert_true(fx_elect(&fx, 1));
	fx_settle(&fx);
	fx_propose(&fx, 1, "freeze");
	fx_settle(&fx);
	fx_isolate(&fx, 2); /* nobody tells it the commit */
	last = fx_stored_last(&fx, 1);
	term = fx_stored_term(&fx, 1, last);
	assert_int_equal(fx_stored_last(&fx, 2), last);
	assert_int_equal(fx_raft(&fx, 1)->committed, last);
	assert_int_equal(rk_raft_commit_known(fx_raft(&fx, 2), last + 1, term), RK_ESTATE);
	assert_int_equal(rk_raft_commit_known(fx_raft(&fx, 2), last, term + 1), RK_ESTATE);
	assert_true(fx_raft(&fx, 2)->committed < last);
	assert_int_equal(rk_raft_commit_known(fx_raft(&fx, 2), last, term), 0);
	assert_int_equal(fx_raft(&fx, 2)->committed, last);
	assert_int_equal(rk_raft_commit_known(fx_raft(&fx, 2), last - 1, term), 0);
	assert_int_equal(fx_raft(&fx, 2)->committed, last);
	fx_heal(&fx);
	fx_close(&fx);
}

/* A leader stopped for longer than its lease (SIGSTOP, a VM pause: no tick
 * ran, but time went on) finds its lease expired when it checks again: the
 * next read costs a heartbeat round. Without the clock the lease counted
 * ticks, and a stalled leader still had all of its window. */
static void test_lease_expires_in_time_not_ticks(void **state)
{
	struct fx fx;
	uint64_t hb;

	(void)state;
	fx_init(&fx, 3, 3, clocked_lease_reads);
	assert_true(fx_elect(&fx, 1));
	fx_tick_all(&fx, 2);
	/* Within its lease: a local read, no round. */
	hb = fx.msg_count[RK_RAFT_MSG_HEARTBEAT];
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 7), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 1);
	assert_int_equal(fx.msg_count[RK_RAFT_MSG_HEARTBEAT], hb);
	/* Three seconds pass with no tick anywhere. */
	g_now_ms += 3000;
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 8), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 2);
	assert_true(fx.msg_count[RK_RAFT_MSG_HEARTBEAT] > hb);
	fx_close(&fx);
}

/* Clocked lease reads on three members, 1 elected and then cut off. */
static void clocked_cut(struct fx *fx)
{
	fx_init(fx, 3, 3, clocked_lease_reads);
	assert_true(fx_elect(fx, 1));
	fx_settle(fx);
	fx_isolate(fx, 1);
}

/* Whether member id, campaigning now, wins. */
static bool campaign_wins(struct fx *fx, int id)
{
	assert_int_equal(rk_raft_campaign(fx_raft(fx, id)), 0);
	fx_settle(fx);
	return fx_raft(fx, id)->role == RK_RAFT_LEADER;
}

/* A voter refuses a new leader until an election timeout of its own clock
 * after it last heard the old one, however few ticks it saw (it may have
 * been stopped, or its loop late); then it grants. */
static void test_vote_refusal_in_time(void **state)
{
	struct fx fx;

	(void)state;
	clocked_cut(&fx);
	/* Plenty of ticks but little time: still refused. */
	fx.nodes[3].raft.ticks += 1000;
	g_now_ms += 50 * (uint64_t)fx.opts.election_tick - 1;
	assert_false(campaign_wins(&fx, 2));
	/* No ticks, but an election timeout of time: granted. */
	g_now_ms += 1;
	assert_true(campaign_wins(&fx, 2));
	fx_close(&fx);
}

/* A follower whose leader only seems gone (its connection was reset):
 * rk_raft_forget_leader lets an election start but keeps the refusal, so
 * the cut-off leader's lease runs out before anyone else can win. */
static void test_forget_leader_keeps_refusal(void **state)
{
	struct fx fx;

	(void)state;
	clocked_cut(&fx);
	assert_int_equal(rk_raft_forget_leader(fx_raft(&fx, 1)), RK_ESTATE);
	assert_int_equal(rk_raft_forget_leader(fx_raft(&fx, 3)), 0);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 3)), 0);
	assert_false(campaign_wins(&fx, 2));
	/* The old leader's lease (election timeout less the margin, counted
	 * from before 3 heard it) has run out before 3 grants. */
	g_now_ms += 50 * (uint64_t)(fx.opts.election_tick - fx.opts.lease_margin_ticks);
	assert_int_equal(rk_raft_read_index(fx_raft(&fx, 1), 9), 0);
	fx_settle(&fx);
	assert_int_equal(fx.nodes[1].n_reads, 0); /* no local read: a round, unanswered */
	g_now_ms += 50 * (uint64_t)fx.opts.lease_margin_ticks;
	assert_true(campaign_wins(&fx, 2));
	fx_close(&fx);
}

/* A follower told its leader is gone (rk_raft_leader_lost) votes at once;
 * one not told keeps refusing while the old leader's lease may run. */
/* Three members, 1 elected and then cut off; 2 campaigns at once and is
 * refused: 3 heard from 1 within an election timeout (its lease). */
static void elect_cut_refused(struct fx *fx)
{
	fx_init(fx, 3, 3, NULL);
	assert_true(fx_elect(fx, 1));
	fx_settle(fx);
	fx_isolate(fx, 1);
	assert_int_equal(rk_raft_campaign(fx_raft(fx, 2)), 0);
	fx_settle(fx);
	assert_int_not_equal(fx_raft(fx, 2)->role, RK_RAFT_LEADER);
}

static void test_leader_lost_votes_at_once(void **state)
{
	struct fx fx;

	(void)state;
	elect_cut_refused(&fx);
	assert_int_equal(rk_raft_leader_lost(fx_raft(&fx, 1)), RK_ESTATE);
	assert_int_equal(rk_raft_leader_lost(fx_raft(&fx, 3)), 0);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 3)), 0);
	assert_int_equal(rk_raft_campaign(fx_raft(&fx, 2)), 0);
	fx_settle(&fx);
	assert_int_equal(fx_raft(&fx, 2)->role, RK_RAFT_LEADER);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 3)), 2);
	fx_close(&fx);
}

/* A follower whose group slept (rk_raft_slept) counts the sleep toward its
 * last contact: a short sleep still leaves the leader's lease to respect,
 * one of an election timeout does not; the leader stays known meanwhile. */
static void test_slept_counts_toward_contact(void **state)
{
	struct fx fx;

	(void)state;
	elect_cut_refused(&fx);
	rk_raft_slept(fx_raft(&fx, 3), 1);
	assert_int_equal(rk_raft_campaign(fx_raft(&fx, 2)), 0);
	fx_settle(&fx);
	assert_int_not_equal(fx_raft(&fx, 2)->role, RK_RAFT_LEADER);
	rk_raft_slept(fx_raft(&fx, 3), (uint64_t)fx.opts.election_tick);
	assert_int_equal(rk_raft_leader(fx_raft(&fx, 3)), 1);
	rk_raft_slept(fx_raft(&fx, 1), 1000); /* a leader: nothing changes */
	assert_int_equal(fx_raft(&fx, 1)->role, RK_RAFT_LEADER);
	assert_int_equal(rk_raft_campaign(fx_raft(&fx, 2)), 0);
	fx_settle(&fx);
	assert_int_equal(fx_raft(&fx, 2)->role, RK_RAFT_LEADER);
	fx_close(&fx);
}

static void test_lease_needs_check_quorum(void **state)
{
	struct rk_raft_options o;
	struct rk_raft r;
	struct fx fx;

	(void)state;
	fx_init(&fx, 1, 1, NULL);
	o = fx.opts;
	o.read_only = RK_RAFT_READ_LEASE;
	o.check_quorum = false;
	assert_int_equal(rk_raft_init(&r, &o, &fx.nodes[1].store, 1, 0, 1),
			 RK_EINVAL);
	fx_close(&fx);
}

/* ---- leadership transfer ------------------------------------------------------ */

/* A new leader counts as unsettled until it has applied its own term's
 * first entry (rk_raft_conf_pending() covers only the tail it inherited,
 * applied here already); a follower never is settled. */
static void test_lead_settles_at_own_first_entry(void **state)
{
	struct fx fx;
	uint64_t noop;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	assert_true(rk_raft_lead_settled(fx_raft(&fx, 1)));
	assert_false(rk_raft_lead_settled(fx_raft(&fx, 2)));
	fx_propose(&fx, 1, "a");
	noop = fx_stored_last(&fx, 2) + 1;
	fx.hold_apply[2] = noop;
	assert_true(fx_elect(&fx, 2));
	assert_true(fx_raft(&fx, 2)->committed >= noop);
	assert_false(rk_raft_lead_settled(fx_raft(&fx, 2)));
	assert_false(rk_raft_lead_settled(fx_raft(&fx, 1)));
	fx.hold_apply[2] = 0;
	fx_propose(&fx, 2, "b");
	assert_true(rk_raft_lead_settled(fx_raft(&fx, 2)));
	assert_false(rk_raft_conf_pending(fx_raft(&fx, 2)));
	fx_close(&fx);
}

static void test_transfer_to_up_to_date(void **state)
{
	struct fx fx;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "a");
	assert_int_equal(rk_raft_transfer_leader(fx_raft(&fx, 1), 2), 0);
	fx_settle(&fx);
	assert_int_equal(fx_leader(&fx), 2);
	assert_int_equal(fx_raft(&fx, 1)->lead, 2);
	fx_close(&fx);
}

static bool drop_to_3(struct fx *fx, const struct rk_raft_msg *m)
{
	(void)fx;
	return m->to != 3;
}

static void test_transfer_to_lagging_follower(void **state)
{
	struct fx fx;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx.filter = drop_to_3;
	for (i = 0; i < 10; i++)
		fx_propose(&fx, 1, "lag");
	fx.filter = NULL;
	assert_true(fx.nodes[3].applied < fx.nodes[1].applied);
	assert_int_equal(rk_raft_transfer_leader(fx_raft(&fx, 1), 3), 0);
	/* Proposals are refused while the transfer runs. */
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "x", 1, NULL),
			 RK_EDROPPED);
	fx_tick_all(&fx, 3);
	assert_int_equal(fx_leader(&fx), 3);
	fx_close(&fx);
}

static void test_transfer_times_out(void **state)
{
	struct fx fx;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 3);
	fx.cut[1][2] = fx.cut[2][1] = false;
	assert_int_equal(rk_raft_transfer_leader(fx_raft(&fx, 1), 3), 0);
	fx_tick(&fx, 1, fx.opts.election_tick);
	assert_int_equal(fx_raft(&fx, 1)->lead_transferee, 0);
	assert_int_equal(fx_raft(&fx, 1)->role, RK_RAFT_LEADER);
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), "x", 1, NULL), 0);
	fx_close(&fx);
}

/* ---- membership ----------------------------------------------------------------- */

static void test_add_learner_catch_up_promote(void **state)
{
	struct fx fx;
	uint8_t op;
	uint64_t id = 4;
	int i;

	(void)state;
	fx_init(&fx, 4, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	for (i = 0; i < 5; i++)
		fx_propose(&fx, 1, "data");
	for (i = 1; i <= 3; i++)
		fx_compact(&fx, i); /* node 4 can only catch up by snapshot */
	op = RK_RAFT_CC_ADD_LEARNER;
	assert_int_equal(fx_conf_change(&fx, 1, RK_RAFT_CC_AUTO, 1, &op, &id), 0);
	fx_tick_all(&fx, 5);
	assert_int_equal(fx.nodes[4].applied, fx.nodes[1].applied);
	assert_int_equal(fx.nodes[4].sm_hash[fx.nodes[4].applied],
			 fx.nodes[1].sm_hash[fx.nodes[1].applied]);
	assert_false(fx_raft(&fx, 4)->role == RK_RAFT_LEADER);
	op = RK_RAFT_CC_ADD_VOTER;
	assert_int_equal(fx_conf_change(&fx, 1, RK_RAFT_CC_AUTO, 1, &op, &id), 0);
	fx_tick_all(&fx, 2);
	for (i = 1; i <= 4; i++)
		assert_true(raft_test_is_voter(fx_raft(&fx, i), 4));
	fx_close(&fx);
}

static void test_joint_change_auto_leave(void **state)
{
	struct fx fx;
	uint8_t ops[2] = {RK_RAFT_CC_ADD_VOTER, RK_RAFT_CC_REMOVE};
	uint64_t ids[2] = {4, 3};
	int i;

	(void)state;
	fx_init(&fx, 4, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	assert_int_equal(fx_conf_change(&fx, 1, RK_RAFT_CC_AUTO, 2, ops, ids), 0);
	fx_tick_all(&fx, 10);
	for (i = 1; i <= 2; i++) {
		assert_false(rk_raft_conf_is_joint(&fx_raft(&fx, i)->conf));
		assert_true(raft_test_is_voter(fx_raft(&fx, i), 4));
		assert_false(raft_test_is_voter(fx_raft(&fx, i), 3));
	}
	assert_true(fx_propose(&fx, 1, "after") > 0);
	fx_close(&fx);
}

static void test_one_conf_change_at_a_time(void **state)
{
	struct fx fx;
	struct rk_raft_conf_change cc;

	(void)state;
	fx_init(&fx, 4, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	memset(&cc, 0, sizeof(cc));
	cc.n = 1;
	cc.changes[0].op = RK_RAFT_CC_ADD_LEARNER;
	cc.changes[0].id = 4;
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL), 0);
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL),
			 RK_ESTATE);
	fx_close(&fx);
}

static void test_remove_leader(void **state)
{
	struct fx fx;
	uint8_t op = RK_RAFT_CC_REMOVE;
	uint64_t id = 1;
	int l;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	assert_int_equal(fx_conf_change(&fx, 1, RK_RAFT_CC_AUTO, 1, &op, &id), 0);
	fx_tick_all(&fx, 40);
	l = fx_leader(&fx);
	assert_true(l == 2 || l == 3);
	assert_false(raft_test_is_voter(fx_raft(&fx, l), 1));
	assert_true(fx_propose(&fx, l, "without 1") > 0);
	fx_close(&fx);
}

static void test_remove_leader_in_joint(void **state)
{
	struct fx fx;
	uint8_t ops[2] = {RK_RAFT_CC_REMOVE, RK_RAFT_CC_ADD_VOTER};
	uint64_t ids[2] = {1, 4};
	int l;

	(void)state;
	fx_init(&fx, 4, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	assert_int_equal(fx_conf_change(&fx, 1, RK_RAFT_CC_JOINT_IMPLICIT, 2,
					ops, ids), 0);
	fx_tick_all(&fx, 60);
	l = fx_leader(&fx);
	assert_true(l >= 2);
	assert_false(rk_raft_conf_is_joint(&fx_raft(&fx, l)->conf));
	assert_false(raft_test_is_voter(fx_raft(&fx, l), 1));
	assert_true(raft_test_is_voter(fx_raft(&fx, l), 4));
	fx_close(&fx);
}

static void test_conf_change_validation(void **state)
{
	struct fx fx;
	struct rk_raft_conf_change cc;
	uint8_t buf[RK_RAFT_CC_ENCODED_MAX];
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	memset(&cc, 0, sizeof(cc));
	/* Removing every voter. */
	cc.n = 3;
	for (i = 0; i < 3; i++) {
		cc.changes[i].op = RK_RAFT_CC_REMOVE;
		cc.changes[i].id = (uint64_t)i + 1;
	}
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL),
			 RK_ECONFCHANGE);
	/* More members than a configuration holds. */
	cc.n = RK_RAFT_CC_MAX_CHANGES;
	for (i = 0; i < cc.n; i++) {
		cc.changes[i].op = RK_RAFT_CC_ADD_LEARNER;
		cc.changes[i].id = 100 + (uint64_t)i;
	}
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL),
			 RK_ECONFCHANGE);
	/* Leaving a joint state we are not in. */
	cc.n = 0;
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL),
			 RK_ECONFCHANGE);
	/* Unknown op, id 0. */
	cc.n = 1;
	cc.changes[0].op = 9;
	cc.changes[0].id = 5;
	assert_int_equal(rk_raft_propose_conf_change(fx_raft(&fx, 1), &cc, NULL),
			 RK_ECONFCHANGE);
	/* Decoding garbage. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(rk_raft_cc_decode(buf, sizeof(buf), &cc), RK_EPROTO);
	assert_int_equal(rk_raft_cc_decode(buf, 0, &cc), RK_EPROTO);
	cc.n = 1;
	cc.transition = 0;
	cc.changes[0].op = RK_RAFT_CC_ADD_VOTER;
	cc.changes[0].id = 4;
	{
		size_t len = rk_raft_cc_encode(&cc, buf);
		struct rk_raft_conf_change back;
		assert_int_equal(rk_raft_cc_decode(buf, len, &back), 0);
		assert_int_equal(back.changes[0].id, 4);
		assert_int_equal(rk_raft_cc_decode(buf, len - 1, &back), RK_EPROTO);
	}
	fx_close(&fx);
}

/* ---- bad input ---------------------------------------------------------------- */

static void test_bad_messages_rejected(void **state)
{
	struct fx fx;
	struct rk_raft_msg m;
	struct rk_raft_entry e;
	struct rk_raft_snapshot_meta s;
	struct rk_raft *f;
	uint64_t term, commit;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	fx_propose(&fx, 1, "a");
	f = fx_raft(&fx, 2);
	term = f->term;
	commit = f->committed;

	memset(&m, 0, sizeof(m));
	m.type = 99; /* unknown type */
	m.from = 1;
	m.to = 2;
	m.term = term;
	assert_int_equal(rk_raft_step(f, &m), RK_EPROTO);
	m.type = 0;
	assert_int_equal(rk_raft_step(f, &m), RK_EPROTO);

	/* Entries that do not follow the index they claim. */
	memset(&e, 0, sizeof(e));
	e.term = term;
	e.index = 1000;
	m.type = RK_RAFT_MSG_APP;
	m.index = 10;
	m.log_term = term;
	m.entries = &e;
	m.n_entries = 1;
	assert_int_equal(rk_raft_step(f, &m), RK_EPROTO);

	/* A term from the future with an index far beyond our log: the
	 * follower rejects it by the rules and stays sane. */
	e.index = 1000001;
	m.index = 1000000;
	m.term = term + 5;
	m.log_term = term + 5;
	e.term = term + 5;
	assert_int_equal(rk_raft_step(f, &m), 0);
	assert_int_equal(f->committed, commit);
	assert_int_equal(f->term, term + 5);

	/* A snapshot older than the log is ignored. */
	memset(&m, 0, sizeof(m));
	memset(&s, 0, sizeof(s));
	s.index = RK_RAFT_INIT_INDEX;
	s.term = RK_RAFT_INIT_TERM;
	s.conf = f->conf;
	m.type = RK_RAFT_MSG_SNAP;
	m.from = 1;
	m.to = 2;
	m.term = f->term;
	m.snapshot = &s;
	assert_int_equal(rk_raft_step(f, &m), 0);
	assert_int_equal(f->committed, commit);
	assert_null(f->log == NULL ? NULL : (f->log->has_snap ? f : NULL));

	/* A snapshot with an impossible configuration. */
	s.index = 500;
	s.term = f->term;
	s.conf.n = RK_RAFT_MAX_MEMBERS + 1;
	assert_int_equal(rk_raft_step(f, &m), RK_EPROTO);

	/* A message to someone else, from ourselves, from nobody. */
	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_HEARTBEAT;
	m.from = 1;
	m.to = 3;
	m.term = f->term;
	assert_int_equal(rk_raft_step(f, &m), RK_EINVAL);
	m.to = 2;
	m.from = 2;
	assert_int_equal(rk_raft_step(f, &m), RK_EINVAL);
	m.from = 0;
	assert_int_equal(rk_raft_step(f, &m), RK_EPROTO);

	/* The cluster carries on. */
	fx_tick_all(&fx, 40);
	assert_true(fx_leader(&fx) != 0);
	assert_true(fx_propose(&fx, fx_leader(&fx), "after") > 0);
	fx_close(&fx);
}

static void test_oversized_proposal(void **state)
{
	struct fx fx;
	static uint8_t big[(1u << 20) + 1];

	(void)state;
	fx_init(&fx, 1, 1, NULL);
	fx_tick_all(&fx, 25);
	assert_int_equal(rk_raft_propose(fx_raft(&fx, 1), big, sizeof(big), NULL),
			 RK_ETOOBIG);
	fx_close(&fx);
}

static void mem_cap(struct rk_raft_options *o)
{
	o->max_mem_bytes = 64 * 1024;
	o->max_uncommitted_bytes = 0;
}

static void test_memory_cap_refuses_proposals(void **state)
{
	struct fx fx;
	static uint8_t chunk[4096];
	int i, rc = 0;

	(void)state;
	fx_init(&fx, 3, 3, mem_cap);
	assert_true(fx_elect(&fx, 1));
	fx_isolate(&fx, 1); /* nothing commits, the leader's log grows */
	for (i = 0; i < 100 && rc == 0; i++)
		rc = rk_raft_propose(fx_raft(&fx, 1), chunk, sizeof(chunk), NULL);
	assert_int_equal(rc, RK_EBUSY);
	assert_true(fx_raft(&fx, 1)->mem_bytes <= 64 * 1024 + sizeof(chunk));
	fx_close(&fx);
}

/* ---- memory of idle groups ------------------------------------------------------ */

static void test_idle_follower_holds_no_heap(void **state)
{
	struct fx fx;
	int i;

	(void)state;
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	for (i = 0; i < 10; i++)
		fx_propose(&fx, 1, "some data");
	fx_tick_all(&fx, 3);
	assert_int_equal(fx_raft(&fx, 2)->mem_bytes, 0);
	assert_int_equal(fx_raft(&fx, 3)->mem_bytes, 0);
	assert_true(sizeof(struct rk_raft) < 1024);
	fx_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_election_one_leader),
		cmocka_unit_test(test_single_node_elects_itself),
		cmocka_unit_test(test_votes_refused_within_lease),
		cmocka_unit_test(test_split_campaign_hard_state_taken),
		cmocka_unit_test(test_prevote_partitioned_node_rejoins),
		cmocka_unit_test(test_without_prevote_rejoin_disrupts),
		cmocka_unit_test(test_check_quorum_step_down),
		cmocka_unit_test(test_leader_elected_after_leader_crash),
		cmocka_unit_test(test_replicate_and_apply_everywhere),
		cmocka_unit_test(test_proposal_on_follower_names_leader),
		cmocka_unit_test(test_batching_one_append_per_turn),
		cmocka_unit_test(test_flow_control_bounds_inflight),
		cmocka_unit_test(test_progress_last_contact),
		cmocka_unit_test(test_fast_backtracking),
		cmocka_unit_test(test_read_index_waits_for_quorum),
		cmocka_unit_test(test_read_index_waits_for_commit_in_term),
		cmocka_unit_test(test_lease_read_is_local),
		cmocka_unit_test(test_lease_void_forces_a_round),
		cmocka_unit_test(test_follow_out_of_band),
		cmocka_unit_test(test_commit_known),
		cmocka_unit_test(test_lease_needs_check_quorum),
		cmocka_unit_test(test_leader_lost_votes_at_once),
		cmocka_unit_test(test_slept_counts_toward_contact),
		cmocka_unit_test(test_lease_expires_in_time_not_ticks),
		cmocka_unit_test(test_vote_refusal_in_time),
		cmocka_unit_test(test_forget_leader_keeps_refusal),
		cmocka_unit_test(test_lead_settles_at_own_first_entry),
		cmocka_unit_test(test_transfer_to_up_to_date),
		cmocka_unit_test(test_transfer_to_lagging_follower),
		cmocka_unit_test(test_transfer_times_out),
		cmocka_unit_test(test_add_learner_catch_up_promote),
		cmocka_unit_test(test_joint_change_auto_leave),
		cmocka_unit_test(test_one_conf_change_at_a_time),
		cmocka_unit_test(test_remove_leader),
		cmocka_unit_test(test_remove_leader_in_joint),
		cmocka_unit_test(test_conf_change_validation),
		cmocka_unit_test(test_bad_messages_rejected),
		cmocka_unit_test(test_oversized_proposal),
		cmocka_unit_test(test_memory_cap_refuses_proposals),
		cmocka_unit_test(test_idle_follower_holds_no_heap),
	};
	return cmocka_run_group_tests_name("raft", tests, NULL, NULL);
}
