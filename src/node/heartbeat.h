/*
 * Node heartbeats and the placement states of the nodes (docs/placement.md,
 * "Node heartbeats").
 *
 * Every node sends one heartbeat per RK_HB_INTERVAL_MS to the placement
 * group's leader (as plc.c finds it), whatever its number of ranges: its
 * addresses, capacity and stats (replicas, leaderships, bytes, reads/s,
 * writes/s, disk free), never one message per range; when the leader's
 * last answer asked, the figures of the ranges it leads that moved, or a
 * chunk of a full report of them (rfig.h). The leader keeps,
 * in memory only, when it last heard from each node, and derives the
 * states: live while heard within RK_HB_SUSPECT_MS, suspect after, dead
 * after --dead-after (or a decommissioning / decommissioned state recorded
 * in the node table). It answers each heartbeat with every node's state
 * and peer address, which is how every node shows the states
 * (cluster/status) and learns the peers added to the table.
 *
 * What is replicated and what is not: the leader records the stats it
 * received, with its wall clock as each node's last heartbeat, in one
 * STATS command per RK_HB_STATS_MS at most, for the nodes whose figures
 * moved since it last recorded them (a count of replicas or leaderships
 * at all, the others by more than 10%; every node once per leader), so
 * that an idle cluster's placement group stays asleep; the per-beat times
 * are never replicated. A new leader therefore starts
 * with the recorded stats and counts every node as heard at the moment it
 * took over: nodes are live until they miss beats on the new leader, and
 * a node that died before the change is suspect RK_HB_SUSPECT_MS and dead
 * --dead-after after the change, not before. It also registers (REGISTER)
 * a sender the table lacks or records with other addresses (an initial
 * node's client and HTTP addresses, a node added with --added-node).
 *
 * GET /api/v1/nodes answers from the leader's view on every node: the
 * leader answers itself, any other node asks it over the transport
 * (RK_PL_MSG_NODES) and answers with its view, or 503 when no leader
 * answered within RK_HB_QUERY_MS.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_HEARTBEAT_H
#define RK_NODE_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "http.h"
#include "nodes.h"

struct rk_node;
struct rk_json;

#define RK_HB_INTERVAL_MS 1000u
/* Three beats missed: suspect. */
#define RK_HB_SUSPECT_MS (3u * RK_HB_INTERVAL_MS)
#define RK_HB_STATS_MS 10000u
#define RK_HB_QUERY_MS 3000u
/* Request ids of this module's messages (with RK_PLC_REQ_BIT, so that
 * their answers come to plc.c, which hands them here). */
#define RK_HB_REQ_BIT (UINT64_C(1) << 62)

/* The placement states, as /api/v1/nodes names them. */
enum rk_hb_state {
	RK_HB_UNKNOWN = 0, /* not told yet (a follower's view) */
	RK_HB_LIVE,
	RK_HB_SUSPECT,
	RK_HB_DEAD,
	RK_HB_DECOMMISSIONING,
	RK_HB_DECOMMISSIONED,
};
const char *rk_hb_state_name(int state);

/* A node as the leader sees it. */
struct rk_hb_node {
	uint64_t id;
	uint64_t heard_ms;  /* the loop's clock; the takeover for a node not heard since */
	bool fresh;         /* heard since the last STATS command */
	bool have;          /* stats below received by this leader */
	uint64_t capacity, stats[RK_PL_NSTATS];
	/* The figures of the last STATS command that named it (recorded:
	 * sent_any), so that unchanged figures are not proposed again. */
	uint64_t sent[RK_PL_NSTATS];
	bool sent_any;
	uint64_t reg_sent_ms; /* a REGISTER proposed for it then; 0 none */
};

struct hb_query;

struct rk_hb {
	uint64_t sent_ms;   /* this node's last heartbeat */
	uint64_t beat_id;   /* its request id while unanswered, else 0 */
	uint64_t next_id;
	/* The leader's view (leading: this node leads the group, since
	 * since_ms, in term `term`). */
	bool leading;
	uint64_t term, since_ms, stats_ms;
	struct rk_hb_node *nodes;
	size_t n, cap;
	/* The states the leader last told this node: ids and states. */
	uint64_t told_ids[RK_PL_MAX_INITIAL];
	uint8_t told_states[RK_PL_MAX_INITIAL];
	uint32_t n_told;
	struct hb_query *queries; /* GET /api/v1/nodes waiting for the leader */
	/* A registration asked for (rk_hb_register): id 0 none. */
	struct rk_pl_node_rec reg;
	uint64_t reg_started_ms, reg_sent_ms;
	/* A state change asked for (rk_hb_set_state): id 0 none; the HTTP
	 * call waiting for its outcome, NULL none. */
	uint64_t st_id;
	uint8_t st_state;
	uint64_t st_started_ms, st_sent_ms;
	struct rk_http_later *st_later;
	uint64_t beats_sent, beats_taken, stats_proposed;
	uint64_t beat_bytes_sent; /* of beats_sent, with their range figures */
};

/* Sets the node table's implicit initial nodes (from the initial cluster,
 * as recorded). */
void rk_hb_init(struct rk_node *n);
/* Each tick: the heartbeat when due, the leader's bookkeeping, queries'
 * retries and deadlines. */
void rk_hb_tick(struct rk_node *n);
/* A heartbeat or a query for the leader (plc.c hands them over). */
void rk_hb_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
/* An answer to a message of ours (id with RK_HB_REQ_BIT). */
void rk_hb_on_resp(struct rk_node *n, const struct rk_net_resp *resp);
/* A REGISTER this module proposed: its token carries RK_HB_REG_BIT and the
 * node id. */
#define RK_HB_REG_BIT (UINT64_C(1) << 60) /* tags: pindex.h */
/* A STATE command this module proposed (a decommission): its token
 * carries RK_HB_STATE_BIT and the node id. */
#define RK_HB_STATE_BIT (UINT64_C(1) << 59)
/* The outcome of a command the leader proposed for this module (token
 * with RK_HB_REQ_BIT), once applied. */
void rk_hb_on_result(struct rk_node *n, uint64_t token, int rc);
/* Registers node id at peer_addr in the placement group's node table
 * (POST /api/v1/nodes on this node: the other nodes learn the new peer
 * from the table, through their heartbeats' answers), sent to the group's
 * leader each second until the table holds it, for 30 s at most. */
void rk_hb_register(struct rk_node *n, uint64_t id, const char *peer_addr);
/* Proposes REGISTER of rec once (to the group's leader, or itself when
 * leading); its outcome comes to rk_hb_on_result (and rk_join_registered)
 * if it is applied. */
void rk_hb_send_register(struct rk_node *n, const struct rk_pl_node_rec *rec);
/* A command of the group proposed once: by this node when it leads the
 * group, else sent to the leader as request `token` (its answer comes to
 * rk_hb_on_resp: give the token RK_HB_REQ_BIT and RK_HB_STATE_BIT or
 * RK_HB_REG_BIT). */
void rk_hb_send_cmd(struct rk_node *n, uint64_t token, const void *cmd, size_t len);
/* The placement state of node id as this node knows it (RK_HB_UNKNOWN). */
int rk_hb_state_of(const struct rk_node *n, uint64_t id);
/* Moves node id's replicated state to state (enum rk_pl_node_admin) with
 * a STATE command through the group's leader, sent again each second
 * until the group applied it or the states told to this node show it, for
 * 30 s at most. later (NULL: none) is the HTTP call waiting for the
 * outcome: 202 {"id", "state"} once applied, 409 with the reason when the
 * group refused it (a decommission that would leave fewer active nodes
 * than --replicas), 503 when not confirmed in 30 s, replaced by another
 * change, or the node stops. */
void rk_hb_set_state(struct rk_node *n, uint64_t id, uint8_t state,
		     struct rk_http_later *later);
/* The body of a state change's answer: {"id", "state"} into resp. */
void rk_hb_state_json(struct rk_http_resp *resp, uint64_t id, const char *state);
/* On the group's leader: the state it derives for the node rec and when
 * it last heard from it (the loop's clock). */
int rk_hb_view(struct rk_node *n, const struct rk_pl_node_rec *rec, uint64_t *heard_msp);
/* On the group's leader: stat k (enum rk_pl_stat) of node id as its last
 * heartbeat to this leader carried it, and when that beat came (the
 * loop's clock); false, *vp and *heard_msp 0, if none came since it took
 * over. */
bool rk_hb_reported(struct rk_node *n, uint64_t id, int k, uint64_t *vp,
		    uint64_t *heard_msp);
/* GET /api/v1/nodes; false for any other request. */
bool rk_hb_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp);
/* Answers the waiting queries 503, frees the state. */
void rk_hb_close(struct rk_node *n);

#endif
