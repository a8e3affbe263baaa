/*
 * The node's HTTP API (docs/contract.md): read-only views of the
 * loop's state, answered on the loop.
 */
#ifndef RK_NODE_API_H
#define RK_NODE_API_H

#include "http.h"
#include "json.h"

struct rk_replica;

/* An error answer: status and {"error": msg}. */
void rk_api_error(struct rk_http_resp *resp, int status, const char *msg);
/* A RANGE object of the contract, for r as this node knows it. */
void rk_api_range_json(struct rk_json *j, const struct rk_replica *r);

/* The http server's handler; arg is the node. */
void rk_node_http(void *arg, const struct rk_http_req *req,
		  struct rk_http_resp *resp);

#endif
