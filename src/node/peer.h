/*
 * The peer nodes: what this node sends each of them in the current loop
 * turn, and their liveness (live.h).
 *
 * Messages for one peer are encoded into one Batch per turn (heartbeats
 * and their answers coalesced into one record run, src/transport/beats.c)
 * and written as one frame when the turn's work is done, or as soon as the
 * Batch reaches PEER_FRAME_BYTES.
 */
#ifndef RK_NODE_PEER_H
#define RK_NODE_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "live.h"
#include "raft.h"

struct rk_node;
struct rk_replica;

struct rk_peer {
	uint64_t node_id;
	struct rk_buf batch; /* the Batch being built this turn */
	struct rk_buf beats; /* its coalesced heartbeats, added at the flush */
	struct rk_live_peer lv;
};

/* Makes node_id (at addr, HOST:PORT) a peer: the transport connects to it
 * and accepts its connections. RK_EINVAL if it is this node or known
 * already, or the table is full; RK_EADDR for a bad address. */
int rk_peer_add(struct rk_node *n, uint64_t node_id, const char *addr);

/* The peer with that node id, or NULL (this node, or unknown). */
struct rk_peer *rk_peer_find(struct rk_node *n, uint64_t node_id);

/* Whether node_id is a live peer (false for this node and unknown ids). */
bool rk_peer_alive(struct rk_node *n, uint64_t node_id);

/* Queues r's messages m[0..count) for their peers. A SNAP message goes to
 * the snapshot stream instead (it leaves after its data). */
void rk_peer_send(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_msg *m, size_t count);

/* Writes peer p's Batch, or every peer's, as one frame each. */
void rk_peer_flush(struct rk_node *n, struct rk_peer *p);
void rk_peer_flush_all(struct rk_node *n);

#endif
