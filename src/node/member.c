/*
 * Membership changes of a range, as the descriptor sees them (member.h).
 */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "member.h"
#include "rangekv/error.h"

#define CTX_VERSION 1
#define CTX_ENTRY 16

int rk_member_ctx_encode(const struct rk_member_placed *p, size_t n,
			 struct rk_buf *out)
{
	uint8_t *b;

	if (n > RK_DESC_MAX_REPLICAS)
		return RK_EINVAL;
	b = rk_buf_extend(out, 2 + n * CTX_ENTRY);
	if (b == NULL)
		return RK_ENOMEM;
	b[0] = CTX_VERSION;
	b[1] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		rk_le_put64(b + 2 + i * CTX_ENTRY, p[i].replica_id);
		rk_le_put64(b + 10 + i * CTX_ENTRY, p[i].node_id);
	}
	return 0;
}

uint8_t rk_member_role(uint8_t flags, int joint)
{
	bool in = flags & RK_RAFT_VOTER, out = flags & RK_RAFT_VOTER_OUT;

	if (in && (out || !joint))
		return RK_DESC_VOTER;
	if (in)
		return RK_DESC_VOTER_INCOMING;
	if (out)
		return (flags & RK_RAFT_LEARNER_NEXT) ? RK_DESC_VOTER_DEMOTING
						      : RK_DESC_VOTER_OUTGOING;
	return RK_DESC_LEARNER;
}

void rk_member_conf_of(const struct rk_desc *d, struct rk_raft_conf_state *csp)
{
	static const uint8_t flags[] = {
		[RK_DESC_VOTER] = RK_RAFT_VOTER,
		[RK_DESC_LEARNER] = RK_RAFT_LEARNER,
		[RK_DESC_VOTER_INCOMING] = RK_RAFT_VOTER,
		[RK_DESC_VOTER_OUTGOING] = RK_RAFT_VOTER_OUT,
		[RK_DESC_VOTER_DEMOTING] = RK_RAFT_VOTER_OUT | RK_RAFT_LEARNER_NEXT,
	};
	bool joint = false;

	memset(csp, 0, sizeof(*csp));
	for (uint8_t i = 0; i < d->n_reps && i < RK_RAFT_MAX_MEMBERS; i++) {
		uint8_t role = d->reps[i].role;

		joint |= role == RK_DESC_VOTER_INCOMING || role == RK_DESC_VOTER_OUTGOING ||
			 role == RK_DESC_VOTER_DEMOTING;
		csp->ids[i] = d->reps[i].replica_id;
		csp->flags[i] = role <= RK_DESC_ROLE_MAX ? flags[role] : 0;
		csp->n++;
	}
	/* In a joint state a voter of both halves carries both flags. */
	for (uint8_t i = 0; joint && i < csp->n; i++)
		if (d->reps[i].role == RK_DESC_VOTER)
			csp->flags[i] |= RK_RAFT_VOTER_OUT;
}

const char *rk_member_snap_refused(uint64_t range, const struct rk_desc *snap,
				   const struct rk_desc *local,
				   rk_member_overlaps_fn overlaps, void *arg)
{
	if (snap->range_id != range || snap->v1 || snap->n_reps == 0)
		return "it is not a descriptor of this range";
	if (local->n_reps > 0 &&
	    (snap->generation < local->generation ||
	     (snap->generation == local->generation &&
	      snap->conf_version < local->conf_version)))
		return "it is older than the replica's descriptor";
	/* A reserved range (the placement group) holds no span of the key
	 * space (desc.h): its install replaces its own table only. */
	if (!rk_range_reserved(range) && overlaps(arg, snap))
		return "its span meets another range this node holds";
	return NULL;
}

/* *nodep: the node ctx places replica id on, 0 if none. RK_ECORRUPT when
 * ctx is malformed. */
static int ctx_node(const uint8_t *ctx, size_t len, uint64_t id, uint64_t *nodep)
{
	*nodep = 0;
	if (len == 0)
		return 0;
	if (len < 2 || ctx[0] != CTX_VERSION || ctx[1] > RK_DESC_MAX_REPLICAS ||
	    len != 2 + (size_t)ctx[1] * CTX_ENTRY)
		return RK_ECORRUPT;
	for (uint8_t i = 0; i < ctx[1]; i++)
		if (rk_le_get64(ctx + 2 + i * CTX_ENTRY) == id)
			*nodep = rk_le_get64(ctx + 10 + i * CTX_ENTRY);
	return 0;
}

int rk_member_desc_after(const struct rk_desc *old,
			 const struct rk_raft_conf_state *cs,
			 const uint8_t *ctx, size_t ctx_len, struct rk_desc *outp)
{
	struct rk_desc d;
	int joint = rk_raft_conf_is_joint(cs), rc;

	memset(&d, 0, sizeof(d));
	if (rk_desc_copy(&d, old) != 0)
		return RK_ENOMEM;
	free(d.reps);
	d.reps = calloc(cs->n ? cs->n : 1, sizeof(*d.reps));
	d.n_reps = 0;
	if (d.reps == NULL) {
		rk_desc_free(&d);
		return RK_ENOMEM;
	}
	for (uint8_t i = 0; i < cs->n; i++) {
		uint64_t id = cs->ids[i], node = rk_desc_node_of(old, id), placed;
		uint8_t at = 0;

		rc = ctx_node(ctx, ctx_len, id, &placed);
		if (rc != 0 || (node == 0 && placed == 0) || id == 0) {
			rk_desc_free(&d);
			return RK_ECORRUPT;
		}
		if (node == 0)
			node = placed;
		while (at < d.n_reps && d.reps[at].replica_id < id)
			at++;
		memmove(&d.reps[at + 1], &d.reps[at],
			(size_t)(d.n_reps - at) * sizeof(*d.reps));
		d.reps[at].replica_id = id;
		d.reps[at].node_id = node;
		d.reps[at].role = rk_member_role(cs->flags[i], joint);
		d.n_reps++;
		if (id >= d.next_replica_id)
			d.next_replica_id = id + 1;
	}
	for (uint8_t i = 0; i < d.n_reps; i++)
		for (uint8_t j = 0; j < i; j++)
			if (d.reps[i].node_id == d.reps[j].node_id ||
			    d.reps[i].replica_id == d.reps[j].replica_id) {
				rk_desc_free(&d);
				return RK_ECORRUPT;
			}
	d.conf_version = old->conf_version + 1;
	rk_desc_free(outp);
	*outp = d;
	return 0;
}
