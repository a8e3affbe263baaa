/*
 * Admin calls that change a range (docs/contract.md, "Admin calls"), made
 * on the range's leader and answered once the cluster has done what they
 * ask, or failed to (deferred HTTP answers, rk_http_defer):
 *
 *   POST /api/v1/ranges/{id}/replicas?node=N&role=learner|voter
 *       the replica on node N becomes a learner or a voter: one conf change
 *       through a joint configuration, left by the core on its own; the
 *       answer (the range) comes once the joint state is left on the
 *       leader. A node that holds no replica of the range is refused for
 *       now: replicas created on a new node come with the next step.
 *   POST /api/v1/ranges/{id}/transfer-leader?to=N
 *       leadership moves to the replica on node N; answered once this
 *       replica knows N leads.
 *
 * Any of them with generation=G&conf_version=V: 409 unless the range's
 * descriptor is still that one (the scheduler's check, sched_run.h).
 * On another node than the leader: 409 with the leader's node id. While a
 * change waits: 409 for a second one on the same range (one membership
 * change per range at a time). Leadership lost before the change applied:
 * 503, the outcome unknown (it may still commit). Not done within
 * --request-timeout: 504, the same. A refused transfer: 409.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_ADMIN_H
#define RK_NODE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"

struct rk_node;
struct rk_replica;
struct rk_admin_op;

struct rk_admin {
	struct rk_admin_op *ops; /* waiting for the cluster; few */
	uint64_t changes, transfers, failed;
};

/* 409 {"error", "leader": id|null}: what a call made on another node than
 * r's leader gets. */
void rk_admin_not_leader(struct rk_http_resp *resp, const struct rk_replica *r);
/* A whole number of at most 19 digits in s[0..len). */
bool rk_admin_parse_id(const char *s, size_t len, uint64_t *vp);
/* The replica of the range whose id is id[0..len) when this node leads
 * it; else NULL, resp answered: 400 (not an id), 404 (not hosted here) or
 * 409 with the leader (rk_admin_not_leader). */
struct rk_replica *rk_admin_led_range(struct rk_node *n, const char *id, size_t len,
				      struct rk_http_resp *resp);

/* Serves path if it is an admin call on a range; false otherwise. */
bool rk_admin_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp);
/* Answers the waiting calls whose outcome is known (each tick). */
void rk_admin_tick(struct rk_node *n);
/* Whether a call on range waits for the cluster (leadership balance
 * leaves such a range alone). */
bool rk_admin_busy(const struct rk_node *n, uint64_t range);
/* Answers every waiting call 503 (the node stops). */
void rk_admin_close(struct rk_node *n);

#endif
