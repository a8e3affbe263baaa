/*
 * The inspection calls of one range forwarded (docs/contract.md): GET
 * /api/v1/ranges/{id} and its sub-paths on a node that holds no replica
 * of the range go to a node that does, found in the placement index
 * (pindex.h), over the transport as a ClientReq for the reserved range
 * RK_RANGE_FORWARD; its answer comes back whole and is passed through
 * with the header X-Rangekv-Node naming the node that answered.
 *
 * GET /api/v1/operations takes the same path to the placement group's
 * leader (ops.h), which alone knows the moves.
 *
 * The node's own calls (rk_fwd_call) take the same path, with a method:
 * on the wire "POST " or "DELETE " before the path (a GET is the path
 * alone, as for forwarded calls).
 *
 * One hop, no loops: the node that serves a forwarded call never forwards
 * it again (it answers 404 if it does not hold the range either, say
 * after a move). Only GETs are forwarded; the node that took the call
 * checked its admin token (http.h), and peers are trusted as for every
 * message of the transport (its handshake). An answer above
 * RK_FWD_MAX_BODY is refused (502) rather than sent whole.
 *
 * Threads: the loop only.
 */
#ifndef RK_NODE_FWD_H
#define RK_NODE_FWD_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "desc.h"

struct rk_node;
struct rk_http_req;
struct rk_http_resp;
struct fwd_call;

#define RK_RANGE_FORWARD (RK_RANGE_RESERVED_FIRST + 1)
/* Request ids of forwarded calls: the top bit and the third, not the
 * second (the tags of request ids: pindex.h). */
#define RK_FWD_REQ_BITS ((UINT64_C(1) << 63) | (UINT64_C(1) << 61))
#define RK_FWD_CALL_MS 5000u
#define RK_FWD_MAX_BODY (16u << 20)

struct rk_fwd {
	struct fwd_call *calls;
	uint64_t next_req;
	bool serving; /* a forwarded call is being answered here */
	uint64_t forwarded, served;
};

/* A GET of range's path that this node cannot answer (no replica here):
 * true if it is forwarded (answered later), false if the caller answers
 * (404): not a GET, a reserved range, or itself a forwarded call. */
bool rk_fwd_range_call(struct rk_node *n, uint64_t range, const struct rk_http_req *req,
		       struct rk_http_resp *resp);
void rk_fwd_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
void rk_fwd_on_resp(struct rk_node *n, const struct rk_net_resp *resp);
void rk_fwd_tick(struct rk_node *n);
/* Answers every waiting call 503 and frees them. */
void rk_fwd_close(struct rk_node *n);

/* The same path for the node's own calls (the scheduler's, sched_run.h):
 * method ("GET", "POST" or "DELETE") and url (a path of one range, with
 * its query) served by node `to` as its HTTP API would serve them there,
 * without the admin token (peers are trusted as for every message of
 * the transport). cb gets the HTTP status and body exactly once, never
 * inside this call: 502/503/504 when the call could not be made or was
 * not answered within RK_FWD_CALL_MS. A call that answers later on that
 * node (an admin call waiting for the cluster) answers 202 at once:
 * the caller reads the outcome from the descriptors. `to` may be this
 * node. RK_ENOMEM: cb never called. */
typedef void (*rk_fwd_cb)(void *arg, uint64_t tag, int status, const char *body,
			  size_t len);
int rk_fwd_call(struct rk_node *n, uint64_t to, const char *method, const char *url,
		rk_fwd_cb cb, void *arg, uint64_t tag);

#endif
