/*
 * Serving client requests on the ranges this node leads (serve.c says
 * how), and the answers this node's router waits for.
 */
#ifndef RK_NODE_SERVE_H
#define RK_NODE_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "raft.h"
#include "store.h"

struct rk_node;
struct rk_replica;
struct rk_serve;
struct rk_rcache_entry;

/* A request the router sent to this node itself. */
struct local_req {
	struct local_req *next;
	struct rk_net_req req;
	uint8_t cmd[];
};

void rk_serve_request(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
void rk_serve_to_router(struct rk_node *n, const struct rk_net_resp *resp);
void rk_serve_answer(struct rk_node *n, uint64_t origin, uint64_t id,
		     uint32_t status, uint64_t leader, const void *reply, size_t len);
/* A descriptor learned (from an answer or the placement index) into the
 * range cache, unless it is v1, has no replicas, is older than what the
 * cache holds, or would replace another range this node holds. */
void rk_serve_learn_desc(struct rk_node *n, const struct rk_desc *d);
/* Answers a request that went to the wrong place (NO_RANGE, MISMATCH:
 * certainly not applied) with the descriptors this node knows for key and
 * for range, so that the router goes where the key is now. */
void rk_serve_redirect(struct rk_node *n, uint64_t origin, uint64_t id,
		       uint32_t status, uint64_t range, const uint8_t *key, size_t klen);
/* The descriptor of range as this node knows it: its replica's when it
 * has one with a descriptor (a removed replica keeps its last one: where
 * the range went), else its range cache's (e, when the caller has found
 * it; else looked up); NULL if neither. view holds what the cache's
 * points into. */
const struct rk_desc *rk_serve_desc_of(struct rk_node *n, uint64_t range,
					struct rk_rcache_entry *e, struct rk_desc *view);
void rk_serve_flush(struct rk_node *n, struct rk_replica *r);
void rk_serve_ready_reads(struct rk_node *n, struct rk_replica *r,
			  const struct rk_raft_ready *rd);
void rk_serve_reads(struct rk_node *n, struct rk_replica *r);
/* Applying one replica's ready is a transaction over what serving keeps:
 * begin, rk_serve_apply for each normal entry, then commit, or abort to
 * undo every effect the applies had here (the answers they queued, the
 * proposals they took) so that the entries can be applied again. The
 * caller undoes the rest (the batch, the replica's session table). */
void rk_serve_apply_begin(struct rk_node *n, struct rk_replica *r);
int rk_serve_apply(struct rk_node *n, struct rk_replica *r,
		   const struct rk_raft_entry *e, struct rk_store_batch *b);
void rk_serve_apply_commit(struct rk_node *n, struct rk_replica *r);
void rk_serve_apply_abort(struct rk_node *n, struct rk_replica *r);
void rk_serve_persisted(struct rk_node *n, struct rk_replica *r);
/* r leaves the node: every command waiting on it is answered, UNKNOWN
 * (the router retries elsewhere with the same sequence) for writes,
 * NOT_LEADER for reads. */
void rk_serve_abandon(struct rk_node *n, struct rk_replica *r);
void rk_serve_free(struct rk_replica *r);
/* The router and the RESP port (route.c). */
int rk_serve_start(struct rk_node *n, char *err, size_t errlen);
void rk_serve_stop(struct rk_node *n);

#endif
