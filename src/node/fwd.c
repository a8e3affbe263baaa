/*
 * Inspection calls of one range forwarded to a node that holds it (fwd.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_range.h"
#include "fwd.h"
#include "http.h"
#include "le.h"
#include "node_int.h"
#include "peer.h"
#include "pindex.h"
#include "serve.h"

struct fwd_call {
	struct fwd_call *next;
	struct rk_node *n;
	uint64_t id, range, to;
	struct rk_http_later *l;
	char *url; /* path?query, after "METHOD " for rk_fwd_call's */
	uint64_t started_ms;
	bool sent;
	/* rk_fwd_call's: the callback instead of an HTTP answer. */
	rk_fwd_cb cb;
	void *arg;
	uint64_t tag;
	bool local; /* to this node: served by the next rk_fwd_tick */
};

static void answer(struct fwd_call *c, int status, const char *msg, const void *body,
		   size_t len)
{
	struct rk_http_resp resp;
	char hdr[64];

	if (c->cb != NULL) {
		c->cb(c->arg, c->tag, status, msg != NULL ? msg : body, msg != NULL ? strlen(msg) : len);
		return;
	}
	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (msg != NULL) {
		rk_api_error(&resp, status, msg);
	} else {
		rk_buf_append(&resp.body, body, len);
		snprintf(hdr, sizeof(hdr), "X-Rangekv-Node: %llu\r\n", (unsigned long long)c->to);
		resp.headers = hdr;
	}
	rk_http_answer(c->l, &resp);
	rk_buf_free(&resp.body);
}

static void call_end(struct rk_node *n, struct fwd_call *c)
{
	struct fwd_call **pp = &n->fwd.calls;

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->next;
	if (*pp == c)
		*pp = c->next;
	free(c->url);
	free(c);
}

/* c waits for its answer from now on, with a request id of its own. */
static void call_start(struct rk_node *n, struct fwd_call *c)
{
	c->n = n;
	c->id = RK_FWD_REQ_BITS | ++n->fwd.next_req;
	c->started_ms = uv_now(&n->loop);
	c->next = n->fwd.calls;
	n->fwd.calls = c;
}

/* The node to ask: the leader as this node's range cache knows it, else
 * the first of the range's nodes that is live (never this node). */
static uint64_t target(struct rk_node *n, const struct rk_desc *d)
{
	struct rk_rcache_entry *e = rk_rcache_get(&n->rcache, d->range_id);

	if (e != NULL && e->leader != 0 && e->leader != n->cfg.node_id &&
	    rk_desc_on_node(d, e->leader) != NULL && rk_peer_alive(n, e->leader))
		return e->leader;
	for (uint8_t i = 0; i < d->n_reps; i++)
		if (d->reps[i].node_id != n->cfg.node_id && rk_peer_alive(n, d->reps[i].node_id))
			return d->reps[i].node_id;
	return 0;
}

static void send_call(struct rk_node *n, struct fwd_call *c)
{
	struct rk_peer *p = rk_peer_find(n, c->to);
	struct rk_net_req req;

	if (p == NULL) {
		answer(c, 503, "no connection to a node that holds the range", NULL, 0);
		call_end(n, c);
		return;
	}
	memset(&req, 0, sizeof(req));
	req.id = c->id;
	req.range = RK_RANGE_FORWARD;
	req.cmd = (const uint8_t *)c->url;
	req.len = strlen(c->url);
	rk_net_batch_add_req(&p->batch, &req);
	rk_process_kick(n);
	c->sent = true;
	n->fwd.forwarded++;
}

/* The index's page for the range: sent to one of its nodes. */
static void on_found(void *arg, int rc, struct rk_pl_page *pg)
{
	struct fwd_call *c = arg;
	struct rk_node *n = c->n;

	if (rc == RK_ESTOPPED)
		return; /* rk_fwd_close answers it */
	if (rc != 0) {
		answer(c, 503, "the placement index cannot be read now", NULL, 0);
		call_end(n, c);
		return;
	}
	if (pg->n == 0 || pg->descs[0].range_id != c->range) {
		answer(c, 404, "no such range", NULL, 0);
		call_end(n, c);
		return;
	}
	c->to = target(n, &pg->descs[0]);
	if (c->to == 0) {
		answer(c, 503, "no node that holds the range is reachable", NULL, 0);
		call_end(n, c);
		return;
	}
	send_call(n, c);
}

bool rk_fwd_range_call(struct rk_node *n, uint64_t range, const struct rk_http_req *req,
		       struct rk_http_resp *resp)
{
	struct fwd_call *c;
	size_t pl = strlen(req->path), ql = strlen(req->query);

	if (n->fwd.serving || rk_range_reserved(range) || range == 0 ||
	    strcmp(req->method, "GET") != 0)
		return false;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->url = malloc(pl + ql + 2)) == NULL) {
		free(c);
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	memcpy(c->url, req->path, pl);
	c->url[pl] = '\0';
	if (ql > 0) {
		c->url[pl] = '?';
		memcpy(c->url + pl + 1, req->query, ql + 1);
	}
	if ((c->l = rk_http_defer(req)) == NULL) {
		free(c->url);
		free(c);
		return false;
	}
	c->range = range;
	call_start(n, c);
	if (rk_pix_read(n, range - 1, 1, on_found, c) != 0) {
		answer(c, 404, "no such range on this node (and no placement index to ask)",
		       NULL, 0);
		call_end(n, c);
	}
	return true;
}

/* ---- on the node that answers ------------------------------------------------------- */

/* Serves the call in cmd[0..len): a path of one range as text without
 * NULs, after "POST " or "DELETE " for the node's own calls. The status
 * and body in *statusp, *bodyp (the caller frees it); false if it is not
 * such a call. */
static bool serve(struct rk_node *n, const uint8_t *cmd, size_t len, int *statusp,
		  struct rk_buf *bodyp)
{
	static const char *const methods[] = {"POST ", "DELETE "};
	struct rk_http_req hr;
	struct rk_http_resp resp;
	const char *method = "GET";
	char *url, *q;

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t ml = strlen(methods[i]);
		if (len > ml && memcmp(cmd, methods[i], ml) == 0) {
			method = i == 0 ? "POST" : "DELETE";
			cmd += ml;
			len -= ml;
			break;
		}
	}
	/* A path of one range, GET /api/v1/operations (answered by the
	 * placement group's leader, ops.h), or POST /api/v1/merge (the
	 * placement driver's merges, sched_merge.c, on the left's leader). */
	if (len < 16 || len > RK_HTTP_MAX_URL || memchr(cmd, '\0', len) != NULL ||
	    (memcmp(cmd, "/api/v1/ranges/", 15) != 0 &&
	     (strcmp(method, "GET") != 0 || len < 18 ||
	      memcmp(cmd, "/api/v1/operations", 18) != 0) &&
	     (strcmp(method, "POST") != 0 || memcmp(cmd, "/api/v1/merge?", 14) != 0)) ||
	    (url = malloc(len + 1)) == NULL)
		return false;
	memcpy(url, cmd, len);
	url[len] = '\0';
	q = strchr(url, '?');
	if (q != NULL)
		*q++ = '\0';
	memset(&hr, 0, sizeof(hr));
	hr.method = method;
	hr.path = url;
	hr.query = q != NULL ? q : "";
	hr.body = "";
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	/* Served as here, never forwarded again (one hop). A handler that
	 * would answer later cannot (no connection: rk_http_defer gives
	 * NULL) and answers at once. */
	n->fwd.serving = true;
	rk_node_http(n, &hr, &resp);
	n->fwd.serving = false;
	n->fwd.served++;
	if (resp.body.oom || resp.body.len > RK_FWD_MAX_BODY) {
		rk_buf_reset(&resp.body);
		rk_api_error(&resp, 502, "the answer is too large to forward");
	}
	*statusp = resp.status;
	*bodyp = resp.body;
	free(url);
	return true;
}

void rk_fwd_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req)
{
	struct rk_buf body, reply;
	int status;

	if (!serve(n, req->cmd, req->len, &status, &body)) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, NULL, 0);
		return;
	}
	rk_buf_init(&reply);
	{
		uint8_t st[4];
		rk_le_put32(st, (uint32_t)status);
		rk_buf_append(&reply, st, sizeof(st));
		rk_buf_append(&reply, body.p, body.len);
	}
	if (reply.oom)
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
	else
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_OK, 0, reply.p, reply.len);
	rk_buf_free(&reply);
	rk_buf_free(&body);
	rk_process_kick(n); /* the answer leaves this turn, not at the next tick */
}

/* ---- the node's own calls -------------------------------------------------------- */

int rk_fwd_call(struct rk_node *n, uint64_t to, const char *method, const char *url,
		rk_fwd_cb cb, void *arg, uint64_t tag)
{
	struct fwd_call *c = calloc(1, sizeof(*c));
	size_t ml = strcmp(method, "GET") == 0 ? 0 : strlen(method) + 1, ul = strlen(url);

	if (c == NULL || (c->url = malloc(ml + ul + 1)) == NULL) {
		free(c);
		return RK_ENOMEM;
	}
	if (ml > 0) {
		memcpy(c->url, method, ml - 1);
		c->url[ml - 1] = ' ';
	}
	memcpy(c->url + ml, url, ul + 1);
	c->cb = cb;
	c->arg = arg;
	c->tag = tag;
	c->to = to;
	call_start(n, c);
	if (to == n->cfg.node_id) {
		/* Served here, answered from the next tick (never inside this
		 * call). */
		c->local = true;
		return 0;
	}
	if (rk_peer_find(n, to) == NULL) {
		/* Not connected: answered 504 by the next tick, never here. */
		c->sent = true;
		c->started_ms -= RK_FWD_CALL_MS;
		return 0;
	}
	send_call(n, c);
	return 0;
}

/* ---- the answer ---------------------------------------------------------------------- */

void rk_fwd_on_resp(struct rk_node *n, const struct rk_net_resp *resp)
{
	struct fwd_call *c;

	for (c = n->fwd.calls; c != NULL && c->id != resp->id; c = c->next)
		;
	if (c == NULL || !c->sent || c->to != n->cur_from)
		return; /* timed out, or not from the node asked */
	if (resp->status != RK_NET_RESP_OK || resp->len < 4) {
		answer(c, 502, "the node asked could not answer", NULL, 0);
	} else {
		int status = (int)rk_le_get32(resp->reply);
		if (status < 100 || status > 599)
			answer(c, 502, "the node asked answered a malformed status", NULL, 0);
		else
			answer(c, status, NULL, resp->reply + 4, resp->len - 4);
	}
	call_end(n, c);
}

void rk_fwd_tick(struct rk_node *n)
{
	uint64_t now = uv_now(&n->loop);
	struct fwd_call *c, *next;

	for (c = n->fwd.calls; c != NULL; c = next) {
		next = c->next;
		if (c->local) {
			struct rk_buf body;
			int status;
			if (serve(n, (const uint8_t *)c->url, strlen(c->url), &status, &body)) {
				answer(c, status, NULL, body.p, body.len);
				rk_buf_free(&body);
			} else {
				answer(c, 400, "not a call of one range", NULL, 0);
			}
			call_end(n, c);
			next = n->fwd.calls; /* the call may have changed the list */
			continue;
		}
		if (c->sent && now - c->started_ms >= RK_FWD_CALL_MS) {
			answer(c, 504, "the node asked did not answer in time", NULL, 0);
			call_end(n, c);
		}
	}
}

void rk_fwd_close(struct rk_node *n)
{
	while (n->fwd.calls != NULL) {
		answer(n->fwd.calls, 503, "the node is stopping", NULL, 0);
		call_end(n, n->fwd.calls);
	}
}
