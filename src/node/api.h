/*
 * The node's HTTP API (docs/contract.md): read-only views of the
 * loop's state, answered on the loop.
 */
#ifndef RK_NODE_API_H
#define RK_NODE_API_H

#include "http.h"

/* The http server's handler; arg is the node. */
void rk_node_http(void *arg, const struct rk_http_req *req,
		  struct rk_http_resp *resp);

#endif
