/*
 * The router's view of this node (client.h's rk_client_env): where a key's
 * range is, who leads it, which descriptors to learn, where to send; and
 * the start and stop of the router and the RESP port that feeds it.
 *
 * The router owns no table of its own: every answer comes from the range
 * cache (rcache.h), this node's replicas, or the placement index
 * (pindex.h). Requests it sends to this node itself go to the node's inbox
 * and are served from the next processing (serve.c).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node_int.h"
#include "pindex.h"
#include "serve.h"

#define MOD "serve"

/* The range cache holds every range this node knows (rcache.h). */
static uint64_t env_range_of(void *arg, const uint8_t *key, size_t klen,
			     const uint8_t **endp, size_t *elenp)
{
	struct rk_node *n = arg;
	const struct rk_rcache_entry *e = rk_rcache_find(&n->rcache, key, klen);

	*endp = NULL;
	*elenp = 0;
	if (e == NULL)
		return 0;
	*endp = e->end;
	*elenp = e->elen;
	return e->range;
}

static uint64_t env_spans(void *arg)
{
	return ((struct rk_node *)arg)->rcache.spans;
}

/* A hosted range's leader as its replica knows it; for one held elsewhere,
 * the cached hint, else one of its nodes (which answers with its leader):
 * kept as the hint so that resends do not wander. */
static uint64_t env_leader_of(void *arg, uint64_t range)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_table_get(&n->tab, range);
	struct rk_rcache_entry *e;

	if (r != NULL && r->desc.n_reps > 0 && !r->removing && !rk_replica_gone(r))
		return rk_replica_leader_node(r);
	e = rk_rcache_get(&n->rcache, range);
	if (e == NULL)
		return 0;
	for (uint8_t i = 0; i < e->n_nodes && e->leader == 0; i++) {
		uint8_t k = (uint8_t)((range + i) % e->n_nodes);
		if (e->reps[k].node_id != n->cfg.node_id && (e->absent >> k & 1) == 0)
			e->leader = e->reps[k].node_id;
	}
	return e->leader;
}

/* The cache's entry for the key (the newest this node knows: its replicas
 * put theirs there, answers theirs), found by key in O(log ranges). */
static uint64_t env_generation_of(void *arg, uint64_t range, const uint8_t *key,
				  size_t klen)
{
	struct rk_node *n = arg;
	const struct rk_rcache_entry *e = rk_rcache_find(&n->rcache, key, klen);
	struct rk_desc view;
	const struct rk_desc *d;

	if (e != NULL && e->range == range)
		return e->generation;
	d = rk_serve_desc_of(n, range, NULL, &view);
	return d != NULL ? d->generation : 0;
}

struct learn_arg {
	struct rk_node *n;
	uint64_t range;
};

/* Another range this node holds with data: its entry is its replica's to
 * keep (snapshot installs check overlaps against it). */
static bool held_other(void *arg, const struct rk_rcache_entry *e)
{
	const struct learn_arg *a = arg;
	const struct rk_replica *r;

	if (e->range == a->range)
		return false;
	r = rk_table_get(&a->n->tab, e->range);
	return r != NULL && r->desc.n_reps > 0 && !r->removing;
}

/* A descriptor from an answer (client.h): into the range cache, unless it
 * is malformed, older than what the cache holds, or would replace the
 * entry of another range this node holds (its replica knows better). */
void rk_serve_learn_desc(struct rk_node *n, const struct rk_desc *d)
{
	struct learn_arg a = {n, d->range_id};

	if (d->v1 || d->n_reps == 0)
		return;
	if (!rk_rcache_any_overlap(&n->rcache, d, held_other, &a) &&
	    rk_rcache_put(&n->rcache, d) == 0)
		n->stats.learned++;
}

static void env_learn(void *arg, const uint8_t *p, size_t len)
{
	struct rk_node *n = arg;
	struct rk_desc d;
	size_t used;

	memset(&d, 0, sizeof(d));
	if (rk_desc_decode(p, len, &d, &used) == 0)
		rk_serve_learn_desc(n, &d);
	rk_desc_free(&d);
}

/* The placement index's lookup for the router (pindex.h). */
static int env_lookup(void *arg, uint64_t range, bool need, const uint8_t *key, size_t klen)
{
	return rk_pix_router_lookup(arg, range, need, key, klen);
}

static void env_absent(void *arg, uint64_t range, uint64_t node)
{
	struct rk_node *n = arg;
	struct rk_rcache_entry *e = rk_rcache_get(&n->rcache, range);

	if (e != NULL)
		rk_rcache_absent(e, node);
}

/* The peer with the smallest id above node, else the smallest: live ones
 * first (a dead node answers nothing, the ask would wait RESEND_MS). */
static uint64_t env_peer_after(void *arg, uint64_t node)
{
	struct rk_node *n = arg;

	for (int pass = 0; pass < 2; pass++) {
		uint64_t above = 0, least = 0;
		for (uint32_t i = 0; i < n->n_peers; i++) {
			uint64_t id = n->peers[i].node_id;
			if (id == n->cfg.node_id || (pass == 0 && !rk_peer_alive(n, id)))
				continue;
			if (id > node && (above == 0 || id < above))
				above = id;
			if (least == 0 || id < least)
				least = id;
		}
		if (above != 0 || least != 0)
			return above != 0 ? above : least;
	}
	return 0;
}

static void env_send(void *arg, uint64_t to, const struct rk_net_req *req)
{
	struct rk_node *n = arg;

	if (to == n->cfg.node_id) {
		/* Served from the next processing, never inside the router's
		 * call (its contract). */
		struct local_req *lr = malloc(sizeof(*lr) + req->len);
		if (lr == NULL)
			return; /* the router resends */
		lr->next = NULL;
		lr->req = *req;
		memcpy(lr->cmd, req->cmd, req->len);
		lr->req.cmd = lr->cmd;
		if (n->inbox_tail) n->inbox_tail->next = lr; else n->inbox = lr;
		n->inbox_tail = lr;
	} else {
		struct rk_peer *p = rk_peer_find(n, to);
		if (p == NULL)
			return; /* not a node we know: the resend finds another */
		rk_net_batch_add_req(&p->batch, req);
	}
	rk_process_kick(n);
}

static void env_info(void *arg, struct rk_client_info *ip)
{
	struct rk_node *n = arg;

	ip->node_id = n->cfg.node_id;
	ip->ranges = rk_table_user_n(&n->tab);
	ip->leaders = 0;
	for (size_t i = 0; i < ip->ranges; i++)
		ip->leaders += rk_raft_is_leader(&n->tab.byid[i]->raft);
}

int rk_serve_start(struct rk_node *n, char *err, size_t errlen)
{
	struct rk_client_env env = {n, n->cfg.node_id, env_range_of, env_leader_of,
				    env_send, env_generation_of, env_learn,
				    env_absent, env_peer_after, env_lookup, env_spans};
	int rc;

#ifdef RK_TEST_HOOKS
	{
		const char *e = getenv("RANGEKV_TEST_HOOKS");
		n->hooks.enabled = e != NULL && strcmp(e, "1") == 0;
		if (n->hooks.enabled)
			rk_log_warn(MOD, "RANGEKV_TEST_HOOKS=1: the fault injection of tests is on "
				    "(/api/v1/debug/fault/...); never in production");
		/* The placement index read from another node even where this
		 * one holds a replica of the group (tests of the remote path). */
		e = getenv("RANGEKV_TEST_INDEX_REMOTE");
		n->pix.remote_only = n->hooks.enabled && e != NULL && strcmp(e, "1") == 0;
	}
#endif
	if (rk_kv_applier_init(&n->applier) != 0)
		return RK_ENOMEM;
	for (size_t i = 0; i < n->tab.n; i++)
		if (n->tab.byid[i]->desc.n_reps > 0 &&
		    rk_rcache_put(&n->rcache, &n->tab.byid[i]->desc) != 0)
			return RK_ENOMEM;
	rc = rk_client_router_new(&n->loop, &env, n->cfg.request_timeout_ms, &n->router);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the router: %s", rk_strerror(rc));
		return rc;
	}
	rk_space_start(n);
	if (n->cfg.client_addr[0] == '\0')
		return 0;
	rc = rk_client_server_start(&n->loop, n->cfg.client_addr, n->router, env_info,
				    n, &n->client, err, errlen);
	if (rc == 0) /* --client-inflight-bytes: admission (client.h) */
		rk_client_server_set_inflight(n->client, n->cfg.client_inflight_bytes);
	/* --client-password-file (read with the flags): set before the loop
	 * runs, so before any connection is accepted. */
	if (rc == 0 && n->cfg.client_password_len > 0) {
		rc = rk_client_server_set_password(n->client, n->cfg.client_password,
						   n->cfg.client_password_len);
		if (n->cfg.client_password_open)
			rk_log_warn(MOD, "--client-password-file %s can be read by its group "
				    "or others (chmod 600 it)", n->cfg.client_password_file);
		rk_log_info(MOD, "the RESP port requires AUTH (--client-password-file)");
	}
	return rc;
}

static void client_stopped(void *arg)
{
	(void)arg;
}

void rk_serve_stop(struct rk_node *n)
{
	rk_space_stop(n);
	if (n->client != NULL) {
		rk_client_server_stop(n->client, client_stopped, NULL);
		n->client = NULL; /* freed by the server once closed */
	}
	if (n->router != NULL) {
		rk_client_router_close(n->router);
		n->router = NULL;
	}
	while (n->inbox != NULL) {
		struct local_req *lr = n->inbox;
		n->inbox = lr->next;
		free(lr);
	}
	n->inbox_tail = NULL;
	/* The range cache stays until the node is freed: work that finishes
	 * while the node stops (a snapshot's install) still records into it. */
}
