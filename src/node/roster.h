/*
 * The cluster's nodes as this node knows them: the initial cluster (the
 * first-start flags) and the peers added while serving by the admin call
 *
 *   POST /api/v1/nodes?id=N&peer_addr=HOST:PORT
 *
 * which makes node N a peer of this node: its address is written to the
 * store first (row "peers_added": "ID=HOST:PORT,...", off the loop), then
 * the transport connects to it and accepts its connections. It is answered
 * once durable; every start loads the row after the initial cluster. An id
 * already known at that address is accepted again (idempotent, nothing
 * written); a known id at another address, another node's address, this
 * node's id at another address, a bad id or address are refused with a
 * clear error (400 or 409). The node is also registered in the placement
 * group's node table (heartbeat.h), from which every other node learns it
 * as a peer (rk_roster_learn): with a placement group, one call on one
 * node is enough. Without one (a data directory made before the
 * first-start flags were recorded) the call is made on every node.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_ROSTER_H
#define RK_NODE_ROSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "http.h"

struct rk_node;

struct rk_roster {
	struct rk_node_peer added[RK_MAX_NODES]; /* in the order added */
	uint32_t n;
	bool writing; /* one addition is written at a time... */
	struct rk_node_peer pending; /* ...this one */
};

/* Adds the peers the store records (after the initial cluster's).
 * RK_ECORRUPT if the row does not parse. */
int rk_roster_load(struct rk_node *n);
/* After rk_roster_load, before the loop runs: the nodes of text
 * ("ID=HOST:PORT,...", a restart's --join answer) this node knows neither
 * by id nor by address made peers and added to the row (written before it
 * returns). Non-zero if text does not parse or the row cannot be
 * written. */
int rk_roster_take(struct rk_node *n, const char *text, size_t len);

/* A restart without --initial-cluster: n->cfg's initial cluster is the
 * one the first start recorded, so that its nodes are peers, listed and
 * counted as with the flag. RK_ECORRUPT if the row does not parse. */
int rk_roster_recorded_initial(struct rk_node *n);

/* Serves POST /api/v1/nodes; false for any other path. */
bool rk_roster_http(struct rk_node *n, const struct rk_http_req *req,
		    struct rk_http_resp *resp);

/* A node of the placement group's node table (heartbeat.h): made a peer
 * like an added one (the row written first, off the loop) if this node
 * knows neither its id nor its address; nothing otherwise (known, in
 * conflict, or another addition being written: the next heartbeat's
 * answer tries again). */
void rk_roster_learn(struct rk_node *n, uint64_t id, const char *addr);

/* Checks id and addr against the nodes known: 0 to add it, else the HTTP
 * status, with a one-line reason in msg: 200, known already at that
 * address; 409, the id known at another address, the address another
 * node's, the cluster full, or another addition being written. */
int rk_roster_check(struct rk_node *n, uint64_t id, const char *addr, char *msg, size_t len);

/* The added nodes as "ID=HOST:PORT,..." (the row's form; a join's
 * answer), this node last when it was added itself. */
void rk_roster_added_text(struct rk_node *n, struct rk_buf *out);
/* A joined node's first start: text (that form) becomes the row, written
 * durably before rk_roster_load reads it. */
int rk_roster_record(struct rk_node *n, const char *text, size_t len);

/* Calls fn for every node: the initial cluster in its order, then the
 * added ones, then this node if it is neither (an added node is not its
 * own peer). */
void rk_roster_each(struct rk_node *n,
		    void (*fn)(void *arg, uint64_t id, const char *addr), void *arg);

#endif
