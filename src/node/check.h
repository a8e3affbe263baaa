/*
 * Replica checksums (docs/check.md):
 *
 *   POST /api/v1/ranges/{id}/check
 *       on the range's leader: proposes a CHECK command (src/kv/check.c)
 *       through the range's log; every replica that applies it hashes its
 *       span, user data and internal state, at exactly that index, off the
 *       loop, and reports (range, index, replica id, checksum) to this
 *       node over the peer transport. Answered once every replica of the
 *       range's descriptor reported, or --request-timeout passed:
 *       {"range", "index", "agree", "replicas": [{"node_id", "replica_id",
 *       "checksum"}]}, checksum 16 hex digits or null (not reported in
 *       time, or could not be computed; agree is then false). A mismatch
 *       is logged as a warning and counted; nothing is repaired. On
 *       another node: 409 with the leader's node id, as the admin calls.
 *
 *   POST /api/v1/debug/fault/alter?key=K&value=V (test builds with
 *       RANGEKV_TEST_HOOKS=1 and --enable-debug-api only): writes K=V into
 *       this node's copy of the data behind raft's back, so that a test
 *       can prove the check finds it.
 *
 * Threads: the loop, except the hashing (libuv's worker threads).
 */
#ifndef RK_NODE_CHECK_H
#define RK_NODE_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "http.h"

struct rk_node;
struct rk_replica;
struct rk_kv_applier;
struct rk_check_job;
struct rk_check_wait;

struct rk_check {
	struct rk_check_job *captured; /* by the apply under way, not started */
	struct rk_check_job *running;  /* hashing on a worker thread */
	struct rk_check_wait *waits;   /* checks this node proposed */
	uint64_t next_id;
	/* The entry the applier is at (rk_check_apply_at). */
	struct rk_replica *at;
	uint64_t at_index;
	/* Counters (/metrics). */
	uint64_t proposed, agreed, mismatches, incomplete, hashed, failed;
};

void rk_check_init(struct rk_node *n);
/* Serves path if it is a check call (or the alter hook); false otherwise. */
bool rk_check_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp);
/* Before r's entry at index is applied with a: a CHECK in it is r's. */
void rk_check_apply_at(struct rk_node *n, struct rk_replica *r, uint64_t index,
		       struct rk_kv_applier *a);
/* The attempt at applying r's ready was undone: what it captured goes. */
void rk_check_apply_abort(struct rk_node *n, struct rk_replica *r);
/* r's ready is applied into the group commit, not yet submitted: pins a
 * storage snapshot for each CHECK it captured (the committed state is
 * then that of applied, r's applied index before the ready) and starts
 * hashing off the loop. */
void rk_check_apply_done(struct rk_node *n, struct rk_replica *r, uint64_t applied);
/* A replica's report (the transport's handler; arg is the node). */
void rk_check_on_report(void *arg, const struct rk_net_check *m);
/* Answers the checks whose time is up (each tick). */
void rk_check_tick(struct rk_node *n);
void rk_check_metrics(struct rk_node *n, struct rk_buf *b);
/* Answers every waiting check 503 and waits for the hashing to end. */
void rk_check_close(struct rk_node *n);

#endif
