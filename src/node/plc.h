/*
 * The placement group on a node (docs/placement.md, "The placement
 * group"): the range RK_RANGE_PLACEMENT (desc.h), replicated on the first
 * 3 nodes of --initial-cluster (5 when there are 5 or more), run like any
 * range (its raft log, snapshots, elections, sleep), applying its own
 * state machine (placement/group.h) into the store's placement table.
 *
 * The calls other modules make (rk_node_pl_*) work on every node: they
 * are served by the group's leader, reached through the transport as a
 * ClientReq for the range RK_RANGE_PLACEMENT (the same forwarding as the
 * router's), and answered with a ClientResp. Nothing on the path of reads
 * and writes of user ranges waits on the group: losing its quorum only
 * makes these calls time out.
 *
 * Threads: the loop only.
 */
#ifndef RK_NODE_PLC_H
#define RK_NODE_PLC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "desc.h"
#include "group.h"
#include "raft.h"
#include "store.h"

struct rk_node;
struct rk_replica;
struct rk_json;
struct rk_http_req;
struct rk_http_resp;

/* The group's initial nodes: 3 (5 when the initial cluster has 5 or
 * more; all when it has fewer than 3), first in --initial-cluster order. */
#define RK_PLC_MAX_NODES 5
uint32_t rk_plc_group_size(uint32_t n_initial);

/* ---- the API other modules call ---------------------------------------------- */

/* Called once with the outcome of rk_node_pl_alloc_ids: rc 0 and the
 * first of count ids reserved for the caller alone ([first_id, first_id
 * + count), never handed out again, whatever fails later); or rc
 * RK_ETIMEDOUT (no leader of the placement group answered within
 * RK_PLC_CALL_MS: its quorum may be lost), RK_ENOSPC (the id space is
 * exhausted) or RK_ESTOPPED (the node is stopping), first_id 0. Runs on
 * the loop, never inside rk_node_pl_alloc_ids. */
typedef void (*rk_node_pl_alloc_cb)(void *arg, int rc, uint64_t first_id);
#define RK_PLC_CALL_MS 10000u

/* Reserves count (1..RK_PL_MAX_ALLOC) range ids through the placement
 * group's leader, from any node. 0: cb will be called exactly once;
 * RK_EINVAL (count), RK_ENOMEM, RK_ESTATE (the cluster has no placement
 * group: a data directory made before the first-start flags were
 * recorded): cb is never called. A call retried after a lost answer may
 * reserve a block that nobody uses: ids are never reused, so a hole is
 * harmless. */
int rk_node_pl_alloc_ids(struct rk_node *n, uint32_t count,
			 rk_node_pl_alloc_cb cb, void *arg);

/* Queues descriptors for the placement index (copied: the caller keeps
 * descs). The queue goes to the group's leader once per loop turn, as one
 * REPORT command, and is sent again until it is applied; the index keeps
 * each range's highest (generation, conf_version), so duplicates and
 * stale reports are harmless. RK_EBUSY when RK_PLC_MAX_QUEUED bytes wait
 * already (the group is unreachable): report again later. RK_EINVAL for
 * a reserved range or a v1 descriptor. */
int rk_node_pl_report(struct rk_node *n, const struct rk_desc *descs, size_t count);
#define RK_PLC_MAX_QUEUED (1u << 20)

/* r's descriptor changed by an entry r applied (a configuration change, a
 * split, an abandoned merge): reported now if r leads, else owed. Only
 * the leader reports a change, and the leadership may move between the
 * commit and the applies: a leader that applies the change after losing
 * the leadership, and a new leader that applied it as a follower, would
 * both stay silent, and the index would keep the old descriptor for good
 * (a decommission then waited for a joint change that had ended). A
 * replica owing its report makes it once it leads (rk_plc_report_owed). */
void rk_plc_desc_changed(struct rk_node *n, struct rk_replica *r);
/* r absorbed its right neighbour `right` (a committed merge, applied
 * here): r's descriptor is owed as by rk_plc_desc_changed, and then the
 * right's end (its descriptor without replicas at r's new generation,
 * which no stale report of the right overwrites). A follower keeps only
 * the last merge's end owed: one that leads after two merges whose
 * reports were both lost reports the last. */
void rk_plc_merged(struct rk_node *n, struct rk_replica *r, const struct rk_desc *right);
/* Reports r's owed descriptor, then an owed merged right's end, if r
 * leads; called for the awake
 * replicas at each heartbeat and for a replica going to sleep (a role
 * changes only while awake). */
void rk_plc_report_owed(struct rk_node *n, struct rk_replica *r);

/* ---- inside the node ------------------------------------------------------------- */

struct plc_call;
struct plc_result;

struct rk_plc {
	/* The group's nodes as this node last knew them, by id: its
	 * first-start nodes until a membership change is learned (a
	 * heartbeat's answer, rk_plc_learn_nodes).
	 * 0 nodes: the cluster has no group. */
	uint64_t nodes[RK_DESC_MAX_REPLICAS];
	uint32_t n_nodes;
	/* Its first-start nodes, by id (its leadership's preference,
	 * rk_plc_steady). */
	uint64_t first[RK_PLC_MAX_NODES];
	uint32_t n_first;
	uint64_t leader_hint; /* the node last known to lead it, 0 unknown */
	/* The turns of rk_plc_next_node: which kind, the next of each. */
	uint32_t rr, rr_group, rr_peer;
	uint64_t next_req;    /* this node's request ids (RK_PLC_REQ_BIT) */
	struct rk_pl_sm sm;
	/* Applying: results of the commands of the attempt in progress,
	 * delivered once it is kept (rk_plc_apply_commit). */
	struct plc_result *res;
	size_t n_res, cap_res;
	struct plc_call *calls; /* allocations waiting for an answer */
	/* Reports: queued (descriptors, encoded) and the one in flight. */
	struct rk_buf queued, inflight;
	uint32_t n_queued;
	uint64_t inflight_id, inflight_sent_ms, inflight_target;
	uint64_t allocs, ids_allocated, reports_sent, timeouts;
	/* What the applies tell of the index (rk_plc_index_same): the last
	 * entry applied, and the last one that may have changed the index
	 * (a REPORT that took a descriptor, any command but the node
	 * table's, an entry after a gap: a snapshot or a configuration
	 * change came between). */
	uint64_t idx_through, idx_changed;
};

/* Request ids of the placement calls (the router's count up from 1). */
#define RK_PLC_REQ_BIT (UINT64_C(1) << 63)

/* From the first-start layout (boot.c): the group's nodes; then the
 * ones recorded when they last changed (the row placement_nodes), if
 * any: the group's replicas move (sched_run.h), and a node routes to its
 * leader through them (heartbeats, joins, index reads, allocations). */
void rk_plc_set_nodes(struct rk_node *n, const uint64_t *nodes, uint32_t count);
int rk_plc_load_nodes(struct rk_node *n);
/* Keeps in ids[0..k) the nodes of the group's first start, when any of
 * them is there; returns how many are left. The group's preferred leader
 * (balance.c) is taken among them: moves of its other replicas then do
 * not move its leadership, and with it the driver, whose state in memory
 * (calls in flight, range figures, operation counters) a new leader
 * starts afresh. */
uint32_t rk_plc_steady(const struct rk_node *n, uint64_t *ids, uint32_t k);
/* The group's nodes as its leader's descriptor says (in the answer to
 * this node's heartbeat; the leader's own beat is answered by itself):
 * taken, and recorded when they differ from the known ones. Never from
 * a follower's descriptor: a replica removed while its node was down
 * still lists the old nodes until it learns it was removed. Nothing
 * without a group. */
void rk_plc_learn_nodes(struct rk_node *n, const uint64_t *nodes, uint32_t count);
/* The next node to ask for the group's leader when none is known (0:
 * none but this node and `not`): the group's nodes as last known, in turn,
 * and every other turn one of this node's other peers, in turn. Any live
 * node answers with the leader it knows (its not-leader answer's hint),
 * so a node finds the group though every node it knew the group on is
 * gone: it was down while the group moved, or joined through a member of
 * an earlier release (which does not say where the group is now). Never
 * this node, nor `not` (a caller's node that just failed). */
uint64_t rk_plc_next_node(struct rk_node *n, uint64_t not);
/* The group's replica on this node, or NULL. */
struct rk_replica *rk_plc_replica(struct rk_node *n);
/* Whether the placement index of this node's replica of the group, g,
 * is the same as when it was at applied index `at` (at <= g->visible):
 * every entry applied since was seen here, in order, and none of them may
 * have changed a descriptor (the node table's commands, STATS above all,
 * which the leader proposes as the nodes' figures move, leave it alone).
 * false when unsure: the caller reads the index again. */
bool rk_plc_index_same(const struct rk_node *n, const struct rk_replica *g, uint64_t at);

/* Proposes a command of the group's state machine on this node's replica:
 * 0, or RK_ENOTLEADER when it does not lead the group (heartbeat.c). Its
 * result reaches rk_hb_on_result when the token has RK_HB_REQ_BIT. */
int rk_plc_propose(struct rk_node *n, const void *cmd, size_t len);

/* Sends cmd to node `to` as a ClientReq for RK_RANGE_PLACEMENT with
 * request id `id` (nothing if not connected: callers retry). */
void rk_plc_send(struct rk_node *n, uint64_t to, uint64_t id, const void *cmd, size_t len);

/* A ClientReq for RK_RANGE_PLACEMENT from node origin; a ClientResp to a
 * call of ours (id with RK_PLC_REQ_BIT). */
void rk_plc_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
void rk_plc_on_resp(struct rk_node *n, const struct rk_net_resp *resp);

/* Applying the group's committed entries (process.c): begin, apply each
 * normal entry into b, then commit (results delivered) or abort. */
void rk_plc_apply_begin(struct rk_node *n);
int rk_plc_apply(struct rk_node *n, struct rk_replica *r,
		 const struct rk_raft_entry *e, struct rk_store_batch *b);
void rk_plc_apply_commit(struct rk_node *n, struct rk_replica *r);

/* Each loop turn: sends the queued reports. Each tick: retries and
 * deadlines of the calls. */
void rk_plc_flush(struct rk_node *n);
void rk_plc_tick(struct rk_node *n);

/* "placement": {"replicas": [...], "leader": N|null} of cluster status. */
void rk_plc_status_json(struct rk_node *n, struct rk_json *j);
/* The debug API's (docs/contract.md): POST /api/v1/debug/placement/alloc
 * ?count=N, GET /api/v1/debug/placement/index/{range} and GET
 * /api/v1/debug/placement (this node's replica: applied index, next id).
 * True if the path was one of them. */
bool rk_plc_http(struct rk_node *n, const struct rk_http_req *req,
		 struct rk_http_resp *resp);
/* Answers every waiting call RK_ESTOPPED and frees the state. */
void rk_plc_close(struct rk_node *n);

#endif
