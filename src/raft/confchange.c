/*
 * Membership changes: from one configuration to the next, by the rules of
 * joint consensus (Raft dissertation §4.3, as refined by etcd's raft).
 *
 *  - A simple change alters at most one voter; the new configuration takes
 *    effect directly (majorities of old and new overlap).
 *  - Anything larger enters a joint configuration: the old voters become
 *    the outgoing half, changes apply to the incoming half, and decisions
 *    need a majority of both halves until the joint state is left (by an
 *    empty change, proposed automatically when auto_leave is set).
 *  - A voter demoted during a joint change keeps voting in the outgoing
 *    half and becomes a learner on leaving (LEARNER_NEXT).
 *
 * Configurations take effect when the change is applied, not when it is
 * appended; the leader accepts a new change only once the previous one is
 * applied (pending_conf_index), so at most one is in flight.
 */
#include <string.h>

#include "raft_int.h"

bool rk_raft_conf_is_joint(const struct rk_raft_conf_state *cs)
{
	int i;

	for (i = 0; i < cs->n; i++)
		if (cs->flags[i] & RK_RAFT_VOTER_OUT)
			return true;
	return false;
}

static int count_flag(const struct rk_raft_conf_state *cs, uint8_t flag)
{
	int i, n = 0;

	for (i = 0; i < cs->n; i++)
		if (cs->flags[i] & flag)
			n++;
	return n;
}

static void conf_compact(struct rk_raft_conf_state *cs)
{
	int i, j = 0;

	for (i = 0; i < cs->n; i++) {
		if (cs->flags[i] == 0)
			continue;
		cs->ids[j] = cs->ids[i];
		cs->flags[j] = cs->flags[i];
		j++;
	}
	for (i = j; i < RK_RAFT_MAX_MEMBERS; i++) {
		cs->ids[i] = 0;
		cs->flags[i] = 0;
	}
	cs->n = (uint8_t)j;
}

static int conf_slot_or_add(struct rk_raft_conf_state *cs, uint64_t id)
{
	int i = raft_conf_slot(cs, id);

	if (i >= 0)
		return i;
	if (cs->n >= RK_RAFT_MAX_MEMBERS)
		return -1;
	i = cs->n++;
	cs->ids[i] = id;
	cs->flags[i] = 0;
	return i;
}

/* Applies one operation to the incoming half. */
static int apply_one(struct rk_raft_conf_state *cs, uint8_t op, uint64_t id)
{
	int i;

	if (id == RK_RAFT_NONE)
		return RK_ECONFCHANGE;
	switch (op) {
	case RK_RAFT_CC_ADD_VOTER:
		i = conf_slot_or_add(cs, id);
		if (i < 0)
			return RK_ECONFCHANGE;
		cs->flags[i] &= (uint8_t)~(RK_RAFT_LEARNER | RK_RAFT_LEARNER_NEXT);
		cs->flags[i] |= RK_RAFT_VOTER;
		return 0;
	case RK_RAFT_CC_ADD_LEARNER:
		i = conf_slot_or_add(cs, id);
		if (i < 0)
			return RK_ECONFCHANGE;
		cs->flags[i] &= (uint8_t)~(RK_RAFT_VOTER | RK_RAFT_LEARNER |
					   RK_RAFT_LEARNER_NEXT);
		/* Still a voter of the outgoing half: it becomes a learner
		 * only when the joint state is left. */
		if (cs->flags[i] & RK_RAFT_VOTER_OUT)
			cs->flags[i] |= RK_RAFT_LEARNER_NEXT;
		else
			cs->flags[i] |= RK_RAFT_LEARNER;
		return 0;
	case RK_RAFT_CC_REMOVE:
		i = raft_conf_slot(cs, id);
		if (i < 0)
			return 0; /* removing a stranger changes nothing */
		cs->flags[i] &= (uint8_t)~(RK_RAFT_VOTER | RK_RAFT_LEARNER |
					   RK_RAFT_LEARNER_NEXT);
		return 0;
	default:
		return RK_ECONFCHANGE;
	}
}

/* Number of voters of the incoming half that differ between a and b. */
static int voter_symdiff(const struct rk_raft_conf_state *a,
			 const struct rk_raft_conf_state *b)
{
	int i, n = 0;

	for (i = 0; i < a->n; i++)
		if ((a->flags[i] & RK_RAFT_VOTER) && !(raft_is_member(b, a->ids[i]) &&
		    (b->flags[raft_conf_slot(b, a->ids[i])] & RK_RAFT_VOTER)))
			n++;
	for (i = 0; i < b->n; i++)
		if ((b->flags[i] & RK_RAFT_VOTER) && !(raft_is_member(a, b->ids[i]) &&
		    (a->flags[raft_conf_slot(a, b->ids[i])] & RK_RAFT_VOTER)))
			n++;
	return n;
}

int rk_raft_conf_apply(const struct rk_raft_conf_state *cs,
		       const struct rk_raft_conf_change *cc,
		       struct rk_raft_conf_state *outp)
{
	return raft_conf_apply(cs, cc, outp);
}

int raft_conf_apply(const struct rk_raft_conf_state *cs,
		    const struct rk_raft_conf_change *cc,
		    struct rk_raft_conf_state *outp)
{
	struct rk_raft_conf_state next = *cs;
	bool joint = rk_raft_conf_is_joint(cs);
	bool enter_joint;
	int i, rc;

	*outp = *cs;
	if (cc->n > RK_RAFT_CC_MAX_CHANGES ||
	    cc->transition > RK_RAFT_CC_JOINT_EXPLICIT)
		return RK_ECONFCHANGE;
	if (cc->n == 0) {
		/* Leave the joint state. */
		if (!joint)
			return RK_ECONFCHANGE;
		for (i = 0; i < next.n; i++) {
			next.flags[i] &= (uint8_t)~RK_RAFT_VOTER_OUT;
			if (next.flags[i] & RK_RAFT_LEARNER_NEXT) {
				next.flags[i] &= (uint8_t)~RK_RAFT_LEARNER_NEXT;
				next.flags[i] |= RK_RAFT_LEARNER;
			}
		}
		next.auto_leave = false;
		conf_compact(&next);
		*outp = next;
		return 0;
	}
	if (joint)
		return RK_ECONFCHANGE; /* leave the joint state first */
	for (i = 0; i < cc->n; i++) {
		rc = apply_one(&next, cc->changes[i].op, cc->changes[i].id);
		if (rc != 0)
			return rc;
	}
	enter_joint = cc->transition != RK_RAFT_CC_AUTO ||
		      voter_symdiff(cs, &next) > 1;
	if (enter_joint) {
		/* Redo on a copy whose outgoing half is the old voters. */
		next = *cs;
		for (i = 0; i < next.n; i++)
			if (next.flags[i] & RK_RAFT_VOTER)
				next.flags[i] |= RK_RAFT_VOTER_OUT;
		for (i = 0; i < cc->n; i++) {
			rc = apply_one(&next, cc->changes[i].op,
				       cc->changes[i].id);
			if (rc != 0)
				return rc;
		}
		next.auto_leave = cc->transition != RK_RAFT_CC_JOINT_EXPLICIT;
	} else if (voter_symdiff(cs, &next) > 1) {
		return RK_ECONFCHANGE;
	}
	conf_compact(&next);
	if (count_flag(&next, RK_RAFT_VOTER) == 0)
		return RK_ECONFCHANGE; /* no voter left */
	*outp = next;
	return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

/*
 * Layout (little endian):
 *   u8 version (1) | u8 transition | u8 n | u8 reserved (0)
 *   n x { u8 op | u64 id }
 */
#define CC_VERSION 1

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t rk_raft_cc_encode(const struct rk_raft_conf_change *cc, uint8_t *buf)
{
	size_t off = 4;
	int i;

	buf[0] = CC_VERSION;
	buf[1] = cc->transition;
	buf[2] = cc->n;
	buf[3] = 0;
	for (i = 0; i < cc->n && i < RK_RAFT_CC_MAX_CHANGES; i++) {
		buf[off] = cc->changes[i].op;
		put_u64(buf + off + 1, cc->changes[i].id);
		off += 9;
	}
	return off;
}

int rk_raft_cc_decode(const uint8_t *buf, size_t len,
		      struct rk_raft_conf_change *ccp)
{
	const uint8_t *ctx;
	size_t ctx_len;
	int rc = rk_raft_cc_decode_ctx(buf, len, ccp, &ctx, &ctx_len);

	if (rc == 0 && ctx_len != 0) {
		memset(ccp, 0, sizeof(*ccp));
		return RK_EPROTO;
	}
	return rc;
}

int rk_raft_cc_decode_ctx(const uint8_t *buf, size_t len,
			  struct rk_raft_conf_change *ccp, const uint8_t **ctxp,
			  size_t *ctx_lenp)
{
	size_t off = 4;
	int i;

	memset(ccp, 0, sizeof(*ccp));
	*ctxp = NULL;
	*ctx_lenp = 0;
	if (buf == NULL || len < 4 || buf[0] != CC_VERSION || buf[3] != 0 ||
	    buf[1] > RK_RAFT_CC_JOINT_EXPLICIT || buf[2] > RK_RAFT_CC_MAX_CHANGES ||
	    len < 4 + (size_t)buf[2] * 9 ||
	    len - (4 + (size_t)buf[2] * 9) > RK_RAFT_CC_CTX_MAX)
		return RK_EPROTO;
	ccp->transition = buf[1];
	ccp->n = buf[2];
	for (i = 0; i < ccp->n; i++) {
		ccp->changes[i].op = buf[off];
		ccp->changes[i].id = get_u64(buf + off + 1);
		if (ccp->changes[i].op > RK_RAFT_CC_REMOVE ||
		    ccp->changes[i].id == RK_RAFT_NONE) {
			memset(ccp, 0, sizeof(*ccp));
			return RK_EPROTO;
		}
		off += 9;
	}
	if (len > off) {
		*ctxp = buf + off;
		*ctx_lenp = len - off;
	}
	return 0;
}
