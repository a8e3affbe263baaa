/*
 * `rangekv start ... --join HOST:PORT` (docs/placement.md, "Joining a
 * cluster"): a new node registers itself through a live member and learns
 * what its first start needs, in one exchange on the join channel
 * (src/transport/netjoin.h).
 *
 * The new node's side (rk_join_ask, before its data directory is made):
 * it sends its id, addresses and the cluster settings given as flags; the
 * answer is a refusal (printed, the start fails) or the cluster's id, its
 * first-start facts (initial cluster, cut, replicas per range), its
 * recorded settings and the nodes added since. These become the node's
 * flags exactly as if it had been started with `--added-node
 * --initial-cluster ... --ranges/--split-at ... --replicas ...` (boot.h
 * writes the same directory), and the added nodes its first roster row.
 * A directory that has joined is an ordinary one: a restart needs no
 * --join. Given on a restart (rk_join_refresh), the same exchange asks
 * where the cluster is now: the member registers the node again (its
 * record in the node table kept, state and all, addresses refreshed) and
 * answers as above; the node takes only the nodes it did not know and
 * where the placement group is, so that a node down while every node it
 * knew left the cluster finds it again. A failed exchange is logged and
 * the node starts with what it knew.
 *
 * The member's side (rk_join_on_frame): one join at a time. It refuses
 * with a message a settings flag that differs from the cluster's, an id or
 * peer address known to it as another node's, and a cluster without a
 * placement group (data directories older than it: --added-node and POST
 * /api/v1/nodes remain); else it proposes REGISTER of the node to the
 * placement group (heartbeat.h) each second until its outcome arrives
 * (rk_join_registered): a refusal (id or address another node's in the
 * node table) is answered as such; success makes the node this member's
 * peer (roster.h: every other node learns it from the node table, as after
 * POST /api/v1/nodes) and is answered with the facts above. No outcome
 * within RK_JOIN_REGISTER_MS is answered "try again".
 *
 * Threads: rk_join_ask before the loop runs; the rest on the loop.
 */
#ifndef RK_NODE_JOIN_H
#define RK_NODE_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "desc.h"

struct rk_node;

#define RK_JOIN_REGISTER_MS 15000u
/* How long the new node tries to reach the member, and waits for the
 * answer (a REGISTER through a placement group that may be electing). */
#define RK_JOIN_CONNECT_MS 10000u
#define RK_JOIN_ANSWER_MS (RK_JOIN_REGISTER_MS + 5000u)

/* The member of a join being answered (id 0: none). */
struct rk_join {
	uint64_t id;
	char peer[RK_ADDR_MAX], client[RK_ADDR_MAX], http[RK_ADDR_MAX];
	uint64_t started_ms, sent_ms;
};

/* The nodes of the placement group's replicas a join's answer names (n
 * 0: none, a member of an earlier release). */
struct rk_join_group {
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	uint32_t n;
};

/* The new node's side: asks cfg->join to register this node (cfg's id,
 * addresses, secret and given settings); on success fills cfg as an added
 * node's first start (initial cluster, cut, replicas, settings,
 * added_node), *clusterp with the cluster id, *peersp with the nodes
 * added since ("ID=HOST:PORT,...", roster.h's row) and *groupp with where
 * the member knows the placement group to be (rk_join_learn_group takes
 * it once the store is open). RK_EINVAL for a refusal, other codes for a
 * failed exchange, each with one line in err. */
int rk_join_ask(struct rk_node_config *cfg, uint64_t *clusterp, struct rk_buf *peersp,
		struct rk_join_group *groupp, char *err, size_t errlen);
/* A restart's --join (cfg->join): the exchange of rk_join_ask for a node
 * of cluster `cluster`, taking nothing into cfg: *peersp gets the nodes
 * the member knows as added since the first start ("ID=HOST:PORT,...")
 * and *groupp where it knows the placement group to be. Non-zero (logged
 * as a warning) when the member is not reached, refuses, or is of
 * another cluster. */
int rk_join_refresh(const struct rk_node_config *cfg, uint64_t cluster, struct rk_buf *peersp,
		    struct rk_join_group *groupp);
/* The group's nodes of a join's answer, as if a heartbeat's answer had
 * named them (rk_plc_learn_nodes: used and recorded), logged; nothing for
 * none. After the placement group's first-start state is loaded. */
void rk_join_learn_group(struct rk_node *n, const struct rk_join_group *g);

/* A frame on the join channel from node `from` (net.h): non-zero closes
 * that connection (not a join request). */
int rk_join_on_frame(struct rk_node *n, uint64_t from, const uint8_t *p, size_t len);
/* The outcome of a REGISTER of node id (heartbeat.c). */
void rk_join_registered(struct rk_node *n, uint64_t id, int rc);
/* Each tick: REGISTER again each second, the deadline. */
void rk_join_tick(struct rk_node *n);

#endif
