/*
 * The range inspection calls of the HTTP API (docs/contract.md): load
 * figures and raft detail of a range, the hottest ranges, and a range's
 * log decoded for people. Private to the node; api.c routes to them.
 *
 * Threads: the node's loop, like every handler.
 */
#ifndef RK_NODE_API_RANGE_H
#define RK_NODE_API_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "desc.h"
#include "json.h"

struct rk_node;
struct rk_replica;

/* ---- from api.c -------------------------------------------------------- */

/* One RANGE object; detail adds the raft detail of GET /api/v1/ranges/{id}. */
void rk_api_range_json(struct rk_json *j, const struct rk_replica *r,
		       bool detail);
/* Answers {"error": msg} with that status. */
void rk_api_error(struct rk_http_resp *resp, int status, const char *msg);
/* A whole decimal number (digits only); false otherwise. */
bool rk_api_parse_u64(const char *s, uint64_t *vp);

/* ---- in api_range.c ---------------------------------------------------- */

/* The fields a RANGE gains here, written inside its object: the load
 * ("writes_per_sec", "reads_per_sec"), and with detail the "raft" object
 * (each replica's progress as the leader sees it). */
void rk_api_range_more(struct rk_json *j, const struct rk_replica *r,
		       bool detail);

/* GET /api/v1/ranges (api_list.c): every user range of the cluster from
 * the placement index, paged (after=, limit=), filtered (node=,
 * unavailable=1) or the top `limit` by sort=size|writes|reads with their
 * totals; answered later (rk_http_defer) or at once for bad input. */
void rk_api_ranges_list(struct rk_node *n, const struct rk_http_req *req,
			struct rk_http_resp *resp);
/* Whether fewer than a majority of d's voters are on nodes this node
 * sees live (in either configuration while joint). */
bool rk_api_no_quorum(struct rk_node *n, const struct rk_desc *d);

/* The calls under /api/v1/ranges/{id}/ (the log); false when path is not
 * one of them. */
bool rk_api_range_route(struct rk_node *n, const char *path,
			const struct rk_http_req *req,
			struct rk_http_resp *resp);

/* Sifts element i of the heap h[0..n) (elements of size bytes, at most
 * 64) down, the heap's root being the element that ranks last: cmp(a, b)
 * < 0 when a ranks before b. */
void rk_api_sift(void *heap, size_t n, size_t i, size_t size,
		 int (*cmp)(const void *a, const void *b));

/* The load families of /metrics: totals, and the few hottest ranges only
 * (a label per range would make 100,000 series). */
void rk_api_metrics_load(struct rk_node *n, struct rk_buf *b);

#endif
