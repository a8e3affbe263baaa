/*
 * The placement index read from any node (docs/placement.md, "Reading the
 * index"): pages of descriptors in range id order, and the descriptor of
 * a key, asked of a replica of the placement group (placement/group/
 * page.h has the messages).
 *
 * Which replica answers: this node's own when it holds one (no network),
 * else the group's leader as far as this node knows it, else the group's
 * nodes in turn. Any replica answers from what it has applied, without
 * asking its leader: a listing or a routing hint may be behind by what
 * that replica has not applied yet (in practice a heartbeat), and both
 * tolerate it (a stale descriptor only costs a redirect, which carries
 * newer ones). Nothing on the read and write path of user ranges waits
 * on these calls: the router asks at most once per operation and goes on
 * as before when no answer comes.
 *
 * Threads: the loop only.
 */
#ifndef RK_NODE_PINDEX_H
#define RK_NODE_PINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "codec.h"
#include "desc.h"
#include "page.h"

struct rk_node;
struct rk_boot_layout;
struct pix_call;
struct pix_keyed;

/* Request ids of the index reads: the top three bits. The node's request
 * ids are tagged by their top four bits: 0xxx the router's, 1000 the
 * placement calls (RK_PLC_REQ_BIT), 1010 forwarded calls (fwd.h), 110x the
 * heartbeats (heartbeat.h), 1110 the index reads; counters stay below
 * 2^60. */
#define RK_PIX_REQ_BITS (UINT64_C(7) << 61)
/* A read not answered within this long goes to the next node; a call
 * gives up after RK_PIX_CALL_MS. */
#define RK_PIX_RETRY_MS 500u
#define RK_PIX_CALL_MS 3000u
/* Router lookups in flight at most (more go on without one). */
#define RK_PIX_MAX_LOOKUPS 256u

struct rk_pix {
	struct rk_boot_layout *layout; /* the implicit entries (boot.h) */
	bool layout_tried;
	/* The reported descriptors by start key, for LOOKUP on a replica of
	 * the group: built from its table when first needed and again once
	 * the replica has applied more. */
	struct pix_keyed *keyed;
	size_t n_keyed, cap_keyed;
	uint64_t keyed_at; /* the group replica's applied index it is of */
	bool keyed_ok;
	struct pix_call *calls;
	uv_timer_t timer; /* answers of this node's replica; data NULL: unused */
	uint64_t next_req;
	uint32_t lookups_inflight;
	/* Test hook (RANGEKV_TEST_INDEX_REMOTE=1 with the test hooks): never
	 * read this node's own replica of the group. */
	bool remote_only;
	uint64_t reads, lookups, served, timeouts;
	/* After a call no replica answered, the router does not wait for a
	 * lookup until then (loop ms): a group that cannot be reached costs
	 * the reads and writes of user ranges one wait, not one per range. */
	uint64_t quiet_until;
};
#define RK_PIX_QUIET_MS 10000u

/* A page as the caller gets it: rc 0 and the page, or rc RK_ETIMEDOUT
 * (no replica answered within RK_PIX_CALL_MS), RK_ESTATE (no placement
 * group), RK_ESTOPPED, pg NULL. The page is freed after the call: the
 * callback may take its descriptors (pg->descs, pg->n) and leave it
 * empty (NULL, 0). */
typedef void (*rk_pix_page_cb)(void *arg, int rc, struct rk_pl_page *pg);

/* The indexed ranges above after, at most limit (1..RK_PL_PAGE_MAX), in
 * id order; pg->next is the next call's after (0: the end). cb is called
 * exactly once, never from inside this call. RK_ENOMEM: never called. */
int rk_pix_read(struct rk_node *n, uint64_t after, uint32_t limit, rk_pix_page_cb cb,
		void *arg);

/* rk_pix_read answered now from this node's replica of the group (the
 * caller frees *pgp): RK_ENOTFOUND when it has none (ask with
 * rk_pix_read), else as the page's rc. A page is a walk of the group's
 * table on the loop, as rk_pix_read's local answer is. */
int rk_pix_read_now(struct rk_node *n, uint64_t after, uint32_t limit, struct rk_pl_page *pgp);

/* The router's lookup (client.h, env.lookup). */
int rk_pix_router_lookup(struct rk_node *n, uint64_t range, bool need,
			 const uint8_t *key, size_t klen);

/* A ClientReq for RK_RANGE_PLACEMENT that is a query (READ, LOOKUP):
 * answered here, true. false: not a query (plc.c's). */
bool rk_pix_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
/* A ClientResp to one of ours (id with RK_PIX_REQ_BITS). */
void rk_pix_on_resp(struct rk_node *n, const struct rk_net_resp *resp);
/* Each tick: retries and deadlines. */
void rk_pix_tick(struct rk_node *n);
/* Answers every waiting call RK_ESTOPPED and frees the state. */
void rk_pix_close(struct rk_node *n);

#endif
