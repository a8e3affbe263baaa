/*
 * The placement group's node table and cluster settings (part of rk_pl_sm,
 * group.h). docs/placement.md, "The node table", has the why.
 *
 * Commands (the common 21-byte header of group.h, then):
 *   REGISTER u8 3 | u64 origin | u64 token | u32 node id |
 *            u64 capacity | 3 x (u16 len | address): peer, client, http
 *            records the node. Refused (result rc, nothing written):
 *            RK_EEXIST when the id is another node's (a different peer
 *            address), RK_EADDRINUSE when one of its addresses is another
 *            node's; RK_EINVAL for id 0 or an empty peer address. The same
 *            id at the same peer address is accepted again (a retried
 *            call, or a node whose client or HTTP address changed): its
 *            addresses and capacity are replaced, its state and stats kept.
 *   STATS    u8 4 | u64 origin | u64 token | u32 n | u64 wall clock ms |
 *            n x (u64 node id | u64 capacity | RK_PL_NSTATS x u64)
 *            the stats of the nodes the leader heard from, batched (one
 *            command for all of them, every few seconds: never one per
 *            beat); the wall clock is the leader's when it batched them,
 *            recorded as each node's last heartbeat. An id not in the table
 *            is skipped (counted in the result's stale).
 *   STATE    u8 5 | u64 origin | u64 token | u32 node id | u8 state
 *            moves the node's replicated state forward (enum
 *            rk_pl_node_admin): active -> decommissioning (a decommission
 *            asked for) -> decommissioned (drained, by the placement
 *            leader). The same state again is accepted (a retried call);
 *            any other change is refused RK_ESTATE, an unknown node
 *            RK_ENOTFOUND, and a decommission that would leave fewer
 *            active nodes than the settings' replicas RK_ECONFCHANGE
 *            (result rc, nothing written).
 *   REBALANCE u8 6 | u64 origin | u64 token | u32 0 | u8 enabled (0/1)
 *            rebalancing paused (0) or resumed (1) for the whole
 *            cluster (src/node/rebalance.h): the row "r". The same value
 *            again is accepted (a retried call).
 *
 * Table rows (beside group.h's):
 *   'N' + u64 BE node id -> the node's record (below)
 *   "s"                  -> the cluster settings: "name=value\n" lines
 *                           (written at first start, never changed)
 *   "r"                  -> u8 rebalancing on (1) or paused (0), once
 *                           REBALANCE was applied; without it the
 *                           first-start setting "rebalance" stands
 *
 * A node record: u8 version (1) | u8 state (enum rk_pl_node_admin) |
 *   u64 capacity | u64 last heartbeat (wall ms) | RK_PL_NSTATS x u64 |
 *   3 x (u16 len | address).
 *
 * The initial nodes are implicit, like the initial ranges' index entries:
 * until a command writes its row, an initial node (rk_pl_sm_set_initial,
 * from the recorded first-start flags, the same on every node) is active,
 * at its --initial-cluster peer address, with no other address and no
 * stats. A first start writes no row per node.
 *
 * Threads: as group.h.
 */
#ifndef RK_PL_NODES_H
#define RK_PL_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

struct rk_pl_sm;

#define RK_PL_ADDR_MAX 64
/* As many nodes as a cluster has (config.h's RK_MAX_NODES). */
#define RK_PL_MAX_INITIAL 64

/* The replicated part of a node's state; live, suspect and dead are the
 * placement leader's to derive from the heartbeats, never replicated. */
enum rk_pl_node_admin {
	RK_PL_NODE_ACTIVE = 0,
	RK_PL_NODE_DECOMMISSIONING = 1,
	RK_PL_NODE_DECOMMISSIONED = 2,
};

/* The stats a heartbeat carries, in this order. */
enum rk_pl_stat {
	RK_PL_STAT_REPLICAS,
	RK_PL_STAT_LEADERS,
	RK_PL_STAT_BYTES,
	RK_PL_STAT_READS_PS,
	RK_PL_STAT_WRITES_PS,
	RK_PL_STAT_DISK_FREE,
	RK_PL_NSTATS
};

struct rk_pl_node_rec {
	uint64_t id;
	uint8_t state; /* enum rk_pl_node_admin */
	bool implicit; /* an initial node without a row yet */
	uint64_t capacity; /* bytes; 0 unknown */
	uint64_t last_heartbeat_ms; /* wall clock of the last STATS naming it; 0 never */
	uint64_t stats[RK_PL_NSTATS];
	char peer[RK_PL_ADDR_MAX], client[RK_PL_ADDR_MAX], http[RK_PL_ADDR_MAX];
};

struct rk_pl_initial_node {
	uint64_t id;
	char peer[RK_PL_ADDR_MAX];
};

/* The initial nodes (copied; at most RK_PL_MAX_INITIAL, the rest
 * ignored). Set before the first command is applied. */
void rk_pl_sm_set_initial(struct rk_pl_sm *sm, const struct rk_pl_initial_node *nodes,
			  size_t n);

/* Applying (rk_pl_sm_apply dispatches here). */
struct rk_pl_result;
int rk_pl_apply_register(struct rk_pl_sm *sm, struct rk_store_reader *rd,
			 struct rk_store_batch *b, const uint8_t *p, size_t len,
			 struct rk_pl_result *resp);
int rk_pl_apply_stats(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		      struct rk_store_batch *b, const uint8_t *p, size_t len,
		      struct rk_pl_result *resp);

int rk_pl_apply_state(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		      struct rk_store_batch *b, const uint8_t *p, size_t len,
		      struct rk_pl_result *resp);

int rk_pl_apply_rebalance(struct rk_store_batch *b, const uint8_t *p, size_t len,
			  struct rk_pl_result *resp);

/* Encoding (appended to out; RK_ENOMEM if out ran out). An address longer
 * than RK_PL_ADDR_MAX - 1 is RK_EINVAL. */
int rk_pl_encode_register(struct rk_buf *out, uint64_t origin, uint64_t token,
			  const struct rk_pl_node_rec *node);
/* The STATS header for n nodes, then rk_pl_encode_stats_node each. */
int rk_pl_encode_stats(struct rk_buf *out, uint64_t origin, uint64_t token, uint32_t n,
		       uint64_t wall_ms);
int rk_pl_encode_stats_node(struct rk_buf *out, uint64_t id, uint64_t capacity,
			    const uint64_t stats[RK_PL_NSTATS]);

int rk_pl_encode_state(struct rk_buf *out, uint64_t origin, uint64_t token, uint64_t id,
		       uint8_t state);
int rk_pl_encode_rebalance(struct rk_buf *out, uint64_t origin, uint64_t token, bool enabled);

/* Messages to the group's leader over the transport, never in its log
 * (src/node/heartbeat.h): a node's heartbeat, the REGISTER layout with op
 * RK_PL_MSG_HEARTBEAT, then RK_PL_NSTATS x u64 (the sender's addresses,
 * capacity and stats: the leader registers a node whose record lacks or
 * differs from them); and a query of the leader's view of the nodes. */
enum rk_pl_msg {
	RK_PL_MSG_HEARTBEAT = 16,
	RK_PL_MSG_NODES = 17,
};
int rk_pl_encode_heartbeat(struct rk_buf *out, uint64_t origin, uint64_t token,
			   const struct rk_pl_node_rec *node);
/* RK_EPROTO unless p starts with a whole heartbeat (*np zeroed); the
 * origin is p + 1. *restp: where the bytes after the node's figures
 * start, len when there are none (the per-range figures of
 * placement/figs.h, which the sender appends when the leader asked for
 * them: a leader that never asks gets the heartbeat alone). */
int rk_pl_decode_heartbeat(const uint8_t *p, size_t len, struct rk_pl_node_rec *np,
			   size_t *restp);

/* Reads of the committed state (with sm's initial nodes). */
int rk_pl_read_node(const struct rk_pl_sm *sm, struct rk_store_reader *rd, uint64_t id,
		    struct rk_pl_node_rec *np);
/* Calls fn for every node in id order (rows and implicit initial nodes),
 * until fn returns non-zero (returned if negative). */
int rk_pl_walk_nodes(const struct rk_pl_sm *sm, struct rk_store_reader *rd,
		     int (*fn)(void *arg, const struct rk_pl_node_rec *node), void *arg);

/* The cluster settings row ("name=value\n" lines). RK_ENOTFOUND when the
 * group has none (made before the settings were recorded). */
void rk_pl_write_settings(struct rk_store_batch *b, const char *text, size_t len);
int rk_pl_read_settings(struct rk_store_reader *rd, struct rk_buf *out);
/* The row "r": RK_ENOTFOUND when no REBALANCE was ever applied. */
int rk_pl_read_rebalance(struct rk_store_reader *rd, bool *enabledp);

#endif
