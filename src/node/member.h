/*
 * Membership changes of a range, as the descriptor sees them.
 *
 * The raft core changes a group's configuration (replica ids and their
 * votes); the node keeps the range descriptor in step with it. A conf change
 * entry carries, after the change itself, a context (rk_raft_propose_
 * conf_change_ctx) naming the node of every replica it adds; every replica
 * applying the entry derives the same next descriptor from its current one,
 * the configuration the core reached and that context
 * (rk_member_desc_after), so the descriptor is written in the same
 * transaction as the apply state of the change it describes. The core's own
 * change that leaves a joint configuration carries no context and needs
 * none: it adds nobody.
 *
 * Context (little endian): u8 version (1), u8 n, n x (u64 replica id,
 * u64 node id).
 *
 * Threads: pure functions.
 */
#ifndef RK_NODE_MEMBER_H
#define RK_NODE_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "raft.h"

struct rk_member_placed {
	uint64_t replica_id, node_id;
};

/* Appends the context naming n added replicas to out. RK_ENOMEM. */
int rk_member_ctx_encode(const struct rk_member_placed *p, size_t n,
			 struct rk_buf *out);

/* The descriptor after a change: old's span and generation, the members
 * of cs (in replica id order) with roles from their flags (a voter of the
 * incoming half only is voter_incoming while cs is joint, of the outgoing
 * half only voter_outgoing or, demoted, voter_demoting), each on the node
 * old or the context places it on, configuration version old's + 1, and
 * next_replica_id past every id it has seen. *outp is replaced (freed
 * first) only on success; outp may be old. RK_ECORRUPT when the context is malformed or a
 * member is placed nowhere, or twice on one node; RK_ENOMEM. */
int rk_member_desc_after(const struct rk_desc *old,
			 const struct rk_raft_conf_state *cs,
			 const uint8_t *ctx, size_t ctx_len, struct rk_desc *outp);

/* The configuration d describes: its replicas with the flags of their
 * roles (the inverse of rk_member_role). */
void rk_member_conf_of(const struct rk_desc *d, struct rk_raft_conf_state *csp);

/* Whether a received snapshot of range whose descriptor is snap may be
 * installed over the local replica's (local->n_reps 0: uninitialized):
 * NULL if so, else why not. It must be of that range, no older (in
 * generation, then configuration version) than what the replica holds,
 * and its span must not meet another range this node holds (overlaps
 * says whether it does): an install clears its span first and must never
 * clear a neighbour's keys. */
typedef bool (*rk_member_overlaps_fn)(void *arg, const struct rk_desc *snap);
const char *rk_member_snap_refused(uint64_t range, const struct rk_desc *snap,
				   const struct rk_desc *local,
				   rk_member_overlaps_fn overlaps, void *arg);

/* The role a member with these flags has in a configuration that is joint
 * or not. */
uint8_t rk_member_role(uint8_t flags, int joint);

#endif
