/*
 * The descriptor through membership changes (src/node/member.h): a learner
 * added on a new node, promoted through a joint configuration, a voter
 * removed and one demoted, the joint state left (and each descriptor's
 * configuration, rk_member_conf_of, giving back its roles); and the
 * changes that must
 * be refused (a member placed nowhere, two replicas on one node, a
 * malformed context) leave the descriptor as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "member.h"
#include "rangekv/error.h"

/* Replicas 1@node7, 2@node3, 3@node5, all voters; next id 4. */
static void three(struct rk_desc *d, struct rk_desc_replica *reps)
{
	memset(d, 0, sizeof(*d));
	reps[0] = (struct rk_desc_replica){1, 7, RK_DESC_VOTER};
	reps[1] = (struct rk_desc_replica){2, 3, RK_DESC_VOTER};
	reps[2] = (struct rk_desc_replica){3, 5, RK_DESC_VOTER};
	d->range_id = 4;
	d->generation = 2;
	d->conf_version = 1;
	d->next_replica_id = 4;
	d->start = (uint8_t *)"b";
	d->slen = 1;
	d->reps = reps;
	d->n_reps = 3;
}

static void conf(struct rk_raft_conf_state *cs, const uint64_t *ids,
		 const uint8_t *flags, uint8_t n)
{
	memset(cs, 0, sizeof(*cs));
	for (uint8_t i = 0; i < n; i++) {
		cs->ids[i] = ids[i];
		cs->flags[i] = flags[i];
	}
	cs->n = n;
}

#define V RK_RAFT_VOTER
#define VO RK_RAFT_VOTER_OUT
#define L RK_RAFT_LEARNER
#define LN RK_RAFT_LEARNER_NEXT

/* The configuration a descriptor describes gives back its roles. */
static void conf_round_trip(const struct rk_desc *d)
{
	struct rk_raft_conf_state cs;
	int joint;

	rk_member_conf_of(d, &cs);
	joint = rk_raft_conf_is_joint(&cs);
	assert_int_equal(cs.n, d->n_reps);
	for (uint8_t i = 0; i < cs.n; i++) {
		assert_int_equal(cs.ids[i], d->reps[i].replica_id);
		assert_int_equal(rk_member_role(cs.flags[i], joint), d->reps[i].role);
	}
}

static void expect(const struct rk_desc *d, uint64_t id, uint64_t node, uint8_t role)
{
	const struct rk_desc_replica *rep = rk_desc_replica(d, id);

	assert_non_null(rep);
	assert_int_equal(rep->node_id, node);
	assert_int_equal(rep->role, role);
	conf_round_trip(d);
}

static void test_add_promote_leave(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc old, d, e;
	struct rk_raft_conf_state cs;
	struct rk_member_placed p = {4, 9};
	struct rk_buf ctx;

	(void)state;
	three(&old, reps);
	memset(&d, 0, sizeof(d));
	memset(&e, 0, sizeof(e));
	rk_buf_init(&ctx);
	assert_int_equal(rk_member_ctx_encode(&p, 1, &ctx), 0);
	/* A learner 4 on node 9 (the context says where). */
	conf(&cs, (uint64_t[]){1, 2, 3, 4}, (uint8_t[]){V, V, V, L}, 4);
	assert_int_equal(rk_member_desc_after(&old, &cs, (const uint8_t *)ctx.p,
					      ctx.len, &d), 0);
	assert_int_equal(d.n_reps, 4);
	expect(&d, 4, 9, RK_DESC_LEARNER);
	expect(&d, 1, 7, RK_DESC_VOTER);
	assert_int_equal(d.next_replica_id, 5);
	assert_int_equal(d.conf_version, 2);
	assert_int_equal(d.generation, 2);
	assert_int_equal(d.range_id, 4);
	assert_memory_equal(d.start, "b", 1);
	/* Promoted and 3 removed in one joint change: no context needed. */
	conf(&cs, (uint64_t[]){1, 2, 3, 4}, (uint8_t[]){V | VO, V | VO, VO, V}, 4);
	assert_int_equal(rk_member_desc_after(&d, &cs, NULL, 0, &d), 0); /* in place */
	expect(&d, 4, 9, RK_DESC_VOTER_INCOMING);
	expect(&d, 3, 5, RK_DESC_VOTER_OUTGOING);
	expect(&d, 2, 3, RK_DESC_VOTER);
	assert_int_equal(d.conf_version, 3);
	/* The core leaves the joint state: 3 is gone, 4 a voter. */
	conf(&cs, (uint64_t[]){1, 2, 4}, (uint8_t[]){V, V, V}, 3);
	assert_int_equal(rk_member_desc_after(&d, &cs, NULL, 0, &e), 0);
	assert_int_equal(e.n_reps, 3);
	expect(&e, 4, 9, RK_DESC_VOTER);
	assert_null(rk_desc_replica(&e, 3));
	assert_null(rk_desc_on_node(&e, 5));
	assert_int_equal(e.next_replica_id, 5); /* 3 is never reused */
	assert_int_equal(e.conf_version, 4);
	for (uint8_t i = 1; i < e.n_reps; i++)
		assert_true(e.reps[i - 1].replica_id < e.reps[i].replica_id);
	rk_desc_free(&d);
	rk_desc_free(&e);
	rk_buf_free(&ctx);
}

/* A voter added through a joint state with no other change: only its
 * role says the configuration is joint. */
static void test_promote_alone(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc old, d;
	struct rk_raft_conf_state cs, back, left;
	struct rk_raft_conf_change leave;

	(void)state;
	three(&old, reps);
	memset(&d, 0, sizeof(d));
	memset(&leave, 0, sizeof(leave));
	conf(&cs, (uint64_t[]){1, 2, 3, 4}, (uint8_t[]){V | VO, V | VO, V | VO, V}, 4);
	assert_int_equal(rk_member_desc_after(&old, &cs, NULL, 0, &d), RK_ECORRUPT);
	reps[0].replica_id = 1; /* 4 placed on node 9 by the context */
	{
		struct rk_member_placed p = {4, 9};
		struct rk_buf ctx;

		rk_buf_init(&ctx);
		assert_int_equal(rk_member_ctx_encode(&p, 1, &ctx), 0);
		assert_int_equal(rk_member_desc_after(&old, &cs, (const uint8_t *)ctx.p,
						      ctx.len, &d), 0);
		rk_buf_free(&ctx);
	}
	expect(&d, 4, 9, RK_DESC_VOTER_INCOMING);
	rk_member_conf_of(&d, &back);
	assert_true(rk_raft_conf_is_joint(&back));
	/* Leaving it applies to the descriptor's own configuration. */
	assert_int_equal(rk_raft_conf_apply(&back, &leave, &left), 0);
	assert_int_equal(rk_member_desc_after(&d, &left, NULL, 0, &d), 0);
	expect(&d, 4, 9, RK_DESC_VOTER);
	rk_desc_free(&d);
}

static void test_demote(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc old, d;
	struct rk_raft_conf_state cs;

	(void)state;
	three(&old, reps);
	memset(&d, 0, sizeof(d));
	conf(&cs, (uint64_t[]){1, 2, 3}, (uint8_t[]){V | VO, V | VO, VO | LN}, 3);
	assert_int_equal(rk_member_desc_after(&old, &cs, NULL, 0, &d), 0);
	expect(&d, 3, 5, RK_DESC_VOTER_DEMOTING);
	conf(&cs, (uint64_t[]){1, 2, 3}, (uint8_t[]){V, V, L}, 3);
	assert_int_equal(rk_member_desc_after(&d, &cs, NULL, 0, &d), 0);
	expect(&d, 3, 5, RK_DESC_LEARNER);
	/* Promoted again without a joint state: a voter at once. */
	conf(&cs, (uint64_t[]){1, 2, 3}, (uint8_t[]){V, V, V}, 3);
	assert_int_equal(rk_member_desc_after(&d, &cs, NULL, 0, &d), 0);
	expect(&d, 3, 5, RK_DESC_VOTER);
	assert_int_equal(d.conf_version, 4);
	rk_desc_free(&d);
}

static void test_refused(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc old, d;
	struct rk_raft_conf_state cs;
	struct rk_member_placed on7 = {4, 7}, ok = {4, 9};
	struct rk_buf ctx;
	uint8_t bad[18];

	(void)state;
	three(&old, reps);
	memset(&d, 0, sizeof(d));
	assert_int_equal(rk_desc_copy(&d, &old), 0);
	rk_buf_init(&ctx);
	conf(&cs, (uint64_t[]){1, 2, 3, 4}, (uint8_t[]){V, V, V, L}, 4);
	/* Placed nowhere. */
	assert_int_equal(rk_member_desc_after(&old, &cs, NULL, 0, &d), RK_ECORRUPT);
	/* On a node that holds a replica already. */
	assert_int_equal(rk_member_ctx_encode(&on7, 1, &ctx), 0);
	assert_int_equal(rk_member_desc_after(&old, &cs, (const uint8_t *)ctx.p,
					      ctx.len, &d), RK_ECORRUPT);
	/* A malformed context: cut short, another version, a wrong count. */
	rk_buf_reset(&ctx);
	assert_int_equal(rk_member_ctx_encode(&ok, 1, &ctx), 0);
	assert_int_equal(rk_member_desc_after(&old, &cs, (const uint8_t *)ctx.p,
					      ctx.len - 1, &d), RK_ECORRUPT);
	memcpy(bad, ctx.p, sizeof(bad));
	bad[0] = 2;
	assert_int_equal(rk_member_desc_after(&old, &cs, bad, sizeof(bad), &d),
			 RK_ECORRUPT);
	bad[0] = 1;
	bad[1] = 2;
	assert_int_equal(rk_member_desc_after(&old, &cs, bad, sizeof(bad), &d),
			 RK_ECORRUPT);
	/* Every refusal left d as it was. */
	assert_int_equal(d.n_reps, 3);
	assert_int_equal(d.conf_version, 1);
	rk_desc_free(&d);
	rk_buf_free(&ctx);
}

static bool overlap_yes(void *arg, const struct rk_desc *snap)
{
	(void)snap;
	return *(bool *)arg;
}

/* Which received snapshots may be installed. */
static void test_snap_refused(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc local, snap, uninit;
	bool meets = false;

	(void)state;
	three(&local, reps);
	snap = local;
	memset(&uninit, 0, sizeof(uninit));
	uninit.range_id = 4;
	assert_null(rk_member_snap_refused(4, &snap, &local, overlap_yes, &meets));
	assert_null(rk_member_snap_refused(4, &snap, &uninit, overlap_yes, &meets));
	assert_non_null(rk_member_snap_refused(5, &snap, &local, overlap_yes, &meets));
	snap.generation = 1; /* older than the replica's 2 */
	assert_non_null(rk_member_snap_refused(4, &snap, &local, overlap_yes, &meets));
	assert_null(rk_member_snap_refused(4, &snap, &uninit, overlap_yes, &meets));
	snap.generation = 2;
	local.conf_version = 5; /* same generation, older configuration */
	assert_non_null(rk_member_snap_refused(4, &snap, &local, overlap_yes, &meets));
	local.conf_version = 1;
	snap.generation = 3; /* newer: fine */
	assert_null(rk_member_snap_refused(4, &snap, &local, overlap_yes, &meets));
	meets = true; /* its span meets another range held here */
	assert_non_null(rk_member_snap_refused(4, &snap, &local, overlap_yes, &meets));
	assert_non_null(rk_member_snap_refused(4, &snap, &uninit, overlap_yes, &meets));
	meets = false;
	snap.n_reps = 0; /* no replicas: not a range's descriptor */
	assert_non_null(rk_member_snap_refused(4, &snap, &uninit, overlap_yes, &meets));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_promote_leave),
		cmocka_unit_test(test_promote_alone),
		cmocka_unit_test(test_demote),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_snap_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
