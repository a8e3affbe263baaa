/*
 * Fuzz target raft_cc: rk_raft_cc_decode, the decoder of conf-change entry
 * payloads (they arrive in APP messages from the leader and are read back
 * from the log on disk), and what a decoded change does to a configuration.
 *
 * src/raft has no byte-level message decoder (messages reach rk_raft_step
 * as structs; the transport decodes them), so this is the core's only
 * decoder of raw bytes.
 *
 * Properties:
 *  - the decoder accepts exactly what the layout in confchange.c allows,
 *    checked against an independent reading of the bytes: version 1,
 *    transition <= 2, n <= RK_RAFT_CC_MAX_CHANGES, reserved byte 0, length
 *    exactly 4 + 9n, every op <= 2, every id non-zero; the result is
 *    RK_EPROTO otherwise, and the decoded fields are the bytes' values;
 *  - what decodes re-encodes to the identical bytes, and decoding those
 *    gives the identical struct;
 *  - applying a decoded change (raft_conf_apply, what both leader and
 *    follower run when the entry is applied) to a few valid configurations
 *    either fails with RK_ECONFCHANGE leaving the configuration as it was,
 *    or gives a valid configuration: at most RK_RAFT_MAX_MEMBERS distinct
 *    non-zero ids, unused slots zero, known flags only, never voter and
 *    learner at once, LEARNER_NEXT only beside VOTER_OUT, at least one
 *    voter; a change that does not go joint changes at most one voter; a
 *    joint one keeps the old voters as the outgoing half;
 *  - against an independent model of the change (the ops applied in order
 *    to the incoming half's roles): it succeeds exactly when it should
 *    (leaving: only from a joint state; otherwise: not from a joint state,
 *    some voter left, at most RK_RAFT_MAX_MEMBERS slots for old members
 *    plus added ids), and the configuration it leads to (after leaving the
 *    joint state, if it entered one) has exactly the model's members and
 *    roles.
 */
#include <string.h>

#include "raft_int.h"

#include "fuzz.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The layout, read independently of the decoder. */
static int expect_valid(const uint8_t *d, size_t n)
{
	size_t i;

	if (n < 4 || d[0] != 1 || d[1] > RK_RAFT_CC_JOINT_EXPLICIT ||
	    d[2] > RK_RAFT_CC_MAX_CHANGES || d[3] != 0 ||
	    n != 4 + 9 * (size_t)d[2])
		return 0;
	for (i = 0; i < d[2]; i++)
		if (d[4 + 9 * i] > RK_RAFT_CC_REMOVE || le64(d + 5 + 9 * i) == 0)
			return 0;
	return 1;
}

static int slot(const struct rk_raft_conf_state *cs, uint64_t id)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (cs->ids[i] == id)
			return i;
	return -1;
}

static int is_voter_in(const struct rk_raft_conf_state *cs, uint64_t id)
{
	int i = slot(cs, id);

	return i >= 0 && (cs->flags[i] & RK_RAFT_VOTER);
}

static int is_joint(const struct rk_raft_conf_state *cs)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (cs->flags[i] & RK_RAFT_VOTER_OUT)
			return 1;
	return 0;
}

static void check_conf(const struct rk_raft_conf_state *cs)
{
	int i, j, voters = 0;

	FUZZ_CHECK(cs->n <= RK_RAFT_MAX_MEMBERS);
	for (i = 0; i < cs->n; i++) {
		uint8_t f = cs->flags[i];

		FUZZ_CHECK(cs->ids[i] != RK_RAFT_NONE);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(cs->ids[j] != cs->ids[i]);
		FUZZ_CHECK(f != 0 && (f & ~0x0fu) == 0);
		FUZZ_CHECK(!((f & RK_RAFT_VOTER) && (f & RK_RAFT_LEARNER)));
		FUZZ_CHECK(!((f & RK_RAFT_VOTER_OUT) && (f & RK_RAFT_LEARNER)));
		FUZZ_CHECK(!(f & RK_RAFT_LEARNER_NEXT) ||
			   ((f & RK_RAFT_VOTER_OUT) && !(f & RK_RAFT_VOTER)));
		if (f & RK_RAFT_VOTER)
			voters++;
	}
	for (i = cs->n; i < RK_RAFT_MAX_MEMBERS; i++)
		FUZZ_CHECK(cs->ids[i] == 0 && cs->flags[i] == 0);
	FUZZ_CHECK(voters > 0);
	if (!is_joint(cs))
		FUZZ_CHECK(!cs->auto_leave);
}

static int same_conf(const struct rk_raft_conf_state *a,
		     const struct rk_raft_conf_state *b)
{
	return a->n == b->n && a->auto_leave == b->auto_leave &&
	       memcmp(a->ids, b->ids, sizeof(a->ids)) == 0 &&
	       memcmp(a->flags, b->flags, sizeof(a->flags)) == 0;
}

static struct rk_raft_conf_state conf(const uint64_t *ids, const uint8_t *flags,
				      uint8_t n)
{
	struct rk_raft_conf_state cs;

	memset(&cs, 0, sizeof(cs));
	memcpy(cs.ids, ids, n * sizeof(*ids));
	memcpy(cs.flags, flags, n);
	cs.n = n;
	cs.auto_leave = is_joint(&cs);
	return cs;
}

/*
 * The meaning of a change, modelled independently: the incoming half's
 * roles (voter, learner, none) after applying the ops in order (the last op
 * on an id wins), and the number of member slots the transition needs (old
 * members plus every id an op adds; removing a stranger needs none).
 */
enum { ROLE_NONE = 0, ROLE_VOTER = 1, ROLE_LEARNER = 2 };

struct model {
	uint64_t ids[2 * RK_RAFT_MAX_MEMBERS];
	uint8_t role[2 * RK_RAFT_MAX_MEMBERS];
	int n;     /* slots */
	int voters;
};

static int model_slot(struct model *m, uint64_t id, int add)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->ids[i] == id)
			return i;
	if (!add)
		return -1;
	m->ids[m->n] = id;
	m->role[m->n] = ROLE_NONE;
	return m->n++;
}

static void model_run(const struct rk_raft_conf_state *cs,
		      const struct rk_raft_conf_change *cc, struct model *m)
{
	int i, j;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < cs->n; i++) {
		uint8_t f = cs->flags[i];

		j = model_slot(m, cs->ids[i], 1);
		m->role[j] = (f & RK_RAFT_VOTER) ? ROLE_VOTER :
			     (f & (RK_RAFT_LEARNER | RK_RAFT_LEARNER_NEXT)) ?
				     ROLE_LEARNER : ROLE_NONE;
	}
	for (i = 0; i < cc->n; i++) {
		uint8_t op = cc->changes[i].op;

		j = model_slot(m, cc->changes[i].id, op != RK_RAFT_CC_REMOVE);
		if (j >= 0)
			m->role[j] = op == RK_RAFT_CC_ADD_VOTER ? ROLE_VOTER :
				     op == RK_RAFT_CC_ADD_LEARNER ? ROLE_LEARNER :
								    ROLE_NONE;
	}
	for (i = 0; i < m->n; i++)
		m->voters += m->role[i] == ROLE_VOTER;
}

/* A non-joint configuration has exactly the model's members and roles. */
static void check_roles(const struct rk_raft_conf_state *cs,
			const struct model *m)
{
	int i, k, members = 0;

	FUZZ_CHECK(!is_joint(cs));
	for (i = 0; i < m->n; i++) {
		if (m->role[i] == ROLE_NONE) {
			FUZZ_CHECK(slot(cs, m->ids[i]) < 0);
			continue;
		}
		members++;
		k = slot(cs, m->ids[i]);
		FUZZ_CHECK(k >= 0);
		FUZZ_CHECK(cs->flags[k] == (m->role[i] == ROLE_VOTER ?
					    RK_RAFT_VOTER : RK_RAFT_LEARNER));
	}
	FUZZ_CHECK(cs->n == members);
}

static void check_apply(const struct rk_raft_conf_state *cs,
			const struct rk_raft_conf_change *cc)
{
	static const struct rk_raft_conf_change leave; /* n = 0 */
	struct rk_raft_conf_state out, left;
	struct model m;
	int rc, i, changed = 0, want_ok;

	model_run(cs, cc, &m);
	if (cc->n == 0)
		want_ok = is_joint(cs);
	else
		want_ok = !is_joint(cs) && m.n <= RK_RAFT_MAX_MEMBERS &&
			  m.voters > 0;

	memset(&out, 0xa5, sizeof(out));
	rc = raft_conf_apply(cs, cc, &out);
	FUZZ_CHECK(rc == 0 || rc == RK_ECONFCHANGE);
	FUZZ_CHECK((rc == 0) == want_ok);
	if (rc != 0) {
		FUZZ_CHECK(same_conf(&out, cs));
		return;
	}
	check_conf(&out);
	if (is_joint(&out)) {
		/* Leaving the joint state lands on the model's roles. */
		FUZZ_CHECK(raft_conf_apply(&out, &leave, &left) == 0);
		check_conf(&left);
		check_roles(&left, &m);
	} else {
		check_roles(&out, &m);
	}
	if (cc->n == 0)
		return;
	FUZZ_CHECK(!is_joint(cs));
	if (!is_joint(&out)) {
		FUZZ_CHECK(cc->transition == RK_RAFT_CC_AUTO);
		for (i = 0; i < cs->n; i++)
			if (is_voter_in(cs, cs->ids[i]) !=
			    is_voter_in(&out, cs->ids[i]))
				changed++;
		for (i = 0; i < out.n; i++)
			if (slot(cs, out.ids[i]) < 0 &&
			    is_voter_in(&out, out.ids[i]))
				changed++;
		FUZZ_CHECK(changed <= 1);
		return;
	}
	/* Joint: the outgoing half is exactly the old voters. */
	for (i = 0; i < cs->n; i++)
		if (cs->flags[i] & RK_RAFT_VOTER)
			FUZZ_CHECK(slot(&out, cs->ids[i]) >= 0 &&
				   (out.flags[slot(&out, cs->ids[i])] &
				    RK_RAFT_VOTER_OUT));
	for (i = 0; i < out.n; i++)
		if (out.flags[i] & RK_RAFT_VOTER_OUT)
			FUZZ_CHECK(is_voter_in(cs, out.ids[i]));
	FUZZ_CHECK(out.auto_leave ==
		   (cc->transition != RK_RAFT_CC_JOINT_EXPLICIT));
}

static void check_apply_all(const struct rk_raft_conf_change *cc)
{
	static const uint64_t ids[RK_RAFT_MAX_MEMBERS] = {1, 2, 3, 4, 5,
							  6, 7, 8, 9, 10};
	static const uint8_t three[] = {RK_RAFT_VOTER, RK_RAFT_VOTER,
					RK_RAFT_VOTER};
	static const uint8_t one[] = {RK_RAFT_VOTER};
	static const uint8_t with_learner[] = {RK_RAFT_VOTER, RK_RAFT_VOTER,
					       RK_RAFT_VOTER, RK_RAFT_LEARNER};
	static const uint8_t joint[] = {
		RK_RAFT_VOTER | RK_RAFT_VOTER_OUT,
		RK_RAFT_VOTER | RK_RAFT_VOTER_OUT,
		RK_RAFT_VOTER_OUT | RK_RAFT_LEARNER_NEXT,
		RK_RAFT_VOTER,
		RK_RAFT_LEARNER,
	};
	static const uint8_t full[RK_RAFT_MAX_MEMBERS] = {
		RK_RAFT_VOTER, RK_RAFT_VOTER, RK_RAFT_VOTER, RK_RAFT_VOTER,
		RK_RAFT_VOTER, RK_RAFT_LEARNER, RK_RAFT_LEARNER,
		RK_RAFT_LEARNER, RK_RAFT_LEARNER, RK_RAFT_LEARNER,
	};
	struct rk_raft_conf_state cs;

	cs = conf(ids, three, 3);
	check_apply(&cs, cc);
	cs = conf(ids, one, 1);
	check_apply(&cs, cc);
	cs = conf(ids, with_learner, 4);
	check_apply(&cs, cc);
	cs = conf(ids, joint, 5);
	check_apply(&cs, cc);
	cs = conf(ids, full, RK_RAFT_MAX_MEMBERS);
	check_apply(&cs, cc);
}

/* With a context: accepted exactly when the change before it is, the
 * context is what follows the change, and it is not over the limit. */
static void check_ctx(const uint8_t *data, size_t size)
{
	struct rk_raft_conf_change cc, exact;
	const uint8_t *ctx;
	size_t ctx_len, head;
	int rc;

	rc = rk_raft_cc_decode_ctx(data, size, &cc, &ctx, &ctx_len);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	head = size >= 4 ? 4 + 9 * (size_t)data[2] : 0;
	if (size < 4 || head > size) {
		FUZZ_CHECK(rc == RK_EPROTO);
		return;
	}
	FUZZ_CHECK((rc == 0) == (expect_valid(data, head) &&
				 size - head <= RK_RAFT_CC_CTX_MAX));
	if (rc != 0)
		return;
	FUZZ_CHECK(ctx_len == size - head);
	FUZZ_CHECK(ctx_len == 0 ? ctx == NULL : ctx == data + head);
	FUZZ_CHECK(rk_raft_cc_decode(data, head, &exact) == 0);
	FUZZ_CHECK(memcmp(&cc, &exact, sizeof(cc)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_raft_conf_change cc, back;
	uint8_t enc[RK_RAFT_CC_ENCODED_MAX];
	size_t n, i;
	int rc;

	check_ctx(data, size);
	rc = rk_raft_cc_decode(data, size, &cc);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	FUZZ_CHECK((rc == 0) == expect_valid(data, size));
	if (rc != 0)
		return 0;
	FUZZ_CHECK(cc.transition == data[1] && cc.n == data[2]);
	for (i = 0; i < cc.n; i++)
		FUZZ_CHECK(cc.changes[i].op == data[4 + 9 * i] &&
			   cc.changes[i].id == le64(data + 5 + 9 * i));

	n = rk_raft_cc_encode(&cc, enc);
	FUZZ_CHECK(n == size && memcmp(enc, data, size) == 0);
	FUZZ_CHECK(rk_raft_cc_decode(enc, n, &back) == 0);
	FUZZ_CHECK(memcmp(&cc, &back, sizeof(cc)) == 0);

	check_apply_all(&cc);
	return 0;
}
