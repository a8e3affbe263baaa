/*
 * The cluster's nodes as this node knows them (roster.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_range.h"
#include "json.h"
#include "log.h"
#include "node_int.h"
#include "roster.h"
#include "uv_error.h"

#define MOD "node"
#define ROW "peers_added"

/* The row's form of added[0..k). */
static void row_format(const struct rk_node_peer *added, uint32_t k, struct rk_buf *b)
{
	for (uint32_t i = 0; i < k; i++)
		rk_buf_printf(b, "%s%llu=%s", i ? "," : "", (unsigned long long)added[i].id,
			      added[i].addr);
}

/* The node id at addr (initial or added), 0 if none; the address of id
 * in *addrp (NULL if unknown). */
static uint64_t known(struct rk_node *n, uint64_t id, const char *addr, const char **addrp)
{
	const struct rk_node_config *cfg = &n->cfg;
	uint64_t at = 0;

	*addrp = NULL;
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		if (cfg->initial[i].id == id)
			*addrp = cfg->initial[i].addr;
		if (strcmp(cfg->initial[i].addr, addr) == 0)
			at = cfg->initial[i].id;
	}
	for (uint32_t i = 0; i < n->roster.n; i++) {
		if (n->roster.added[i].id == id)
			*addrp = n->roster.added[i].addr;
		if (strcmp(n->roster.added[i].addr, addr) == 0)
			at = n->roster.added[i].id;
	}
	if (id == cfg->node_id)
		*addrp = cfg->peer_addr;
	if (strcmp(cfg->peer_addr, addr) == 0)
		at = cfg->node_id;
	return at;
}

/* Makes id a peer; the caller checked that it is new and fits. */
static int add(struct rk_node *n, uint64_t id, const char *addr)
{
	struct rk_node_peer *p = &n->roster.added[n->roster.n];
	int rc = rk_peer_add(n, id, addr);

	if (rc != 0)
		return rc;
	p->id = id;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	n->roster.n++;
	return 0;
}

/* Calls fn for every ID=HOST:PORT of text; RK_ECORRUPT if it does not
 * parse, else fn's first error. */
static int each_in_text(struct rk_node *n, const void *text, size_t len,
			int (*fn)(struct rk_node *n, uint64_t id, const char *addr))
{
	char *row, *tok, *save = NULL;
	int rc = 0;

	if ((row = malloc(len + 1)) == NULL)
		return RK_ENOMEM;
	memcpy(row, text, len);
	row[len] = '\0';
	for (tok = strtok_r(row, ",", &save); tok != NULL && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		uint64_t id = strtoull(tok, &end, 10);

		if (eq == NULL || end != eq || id == 0 || strlen(eq + 1) >= RK_ADDR_MAX)
			rc = RK_ECORRUPT;
		else
			rc = fn(n, id, eq + 1);
	}
	free(row);
	return rc;
}

/* each_in_text over the stored row `name` (nothing if it is missing). */
static int each_in_row(struct rk_node *n, const char *name,
		       int (*fn)(struct rk_node *n, uint64_t id, const char *addr))
{
	const void *v;
	size_t vl;
	int rc;

	if (rk_store_meta_get(n->reader, name, &v, &vl) != 0)
		return 0;
	rc = each_in_text(n, v, vl, fn);
	if (rc != 0)
		rk_log_error(MOD, "the nodes recorded in the row %s cannot be loaded: %s",
			     name, rk_strerror(rc));
	return rc;
}

static int load_added(struct rk_node *n, uint64_t id, const char *addr)
{
	const char *had;

	if (n->roster.n == RK_MAX_NODES)
		return RK_ECORRUPT;
	/* Known already (an initial node): the flags say where. */
	known(n, id, addr, &had);
	return had == NULL ? add(n, id, addr) : 0;
}

int rk_roster_load(struct rk_node *n)
{
	return each_in_row(n, ROW, load_added);
}

int rk_roster_take(struct rk_node *n, const char *text, size_t len)
{
	uint32_t had = n->roster.n;
	struct rk_buf row;
	int rc = each_in_text(n, text, len, load_added);

	if (rc != 0 || n->roster.n == had)
		return rc;
	rk_buf_init(&row);
	row_format(n->roster.added, n->roster.n, &row);
	rc = row.oom ? RK_ENOMEM : rk_roster_record(n, row.p, row.len);
	rk_buf_free(&row);
	if (rc == 0)
		rk_log_info(MOD, "%u nodes learned from the --join member made peers",
			    n->roster.n - had);
	return rc;
}

static int load_initial(struct rk_node *n, uint64_t id, const char *addr)
{
	struct rk_node_peer *p = &n->cfg.initial[n->cfg.n_initial];

	if (n->cfg.n_initial == RK_MAX_NODES)
		return RK_ECORRUPT;
	p->id = id;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	n->cfg.n_initial++;
	return 0;
}

int rk_roster_recorded_initial(struct rk_node *n)
{
	return n->cfg.n_initial > 0 ? 0 : each_in_row(n, "first_start_cluster", load_initial);
}

int rk_roster_record(struct rk_node *n, const char *text, size_t len)
{
	struct rk_store_batch *b = rk_store_batch_new();

	if (b == NULL)
		return RK_ENOMEM;
	rk_store_batch_meta_put(b, ROW, text, len);
	return rk_store_write(n->store, b);
}

void rk_roster_added_text(struct rk_node *n, struct rk_buf *out)
{
	bool listed = false;

	for (uint32_t i = 0; i < n->cfg.n_initial; i++)
		listed |= n->cfg.initial[i].id == n->cfg.node_id;
	for (uint32_t i = 0; i < n->roster.n; i++)
		listed |= n->roster.added[i].id == n->cfg.node_id;
	row_format(n->roster.added, n->roster.n, out);
	/* This node, when it was added itself (no row holds it): a node
	 * joining through it must know it as a peer, or the handshake it
	 * opens is refused, and with it the heartbeats that would teach the
	 * new node its address once the placement group is here. */
	if (!listed)
		rk_buf_printf(out, "%s%llu=%s", n->roster.n > 0 ? "," : "",
			      (unsigned long long)n->cfg.node_id, n->cfg.peer_addr);
}

void rk_roster_each(struct rk_node *n,
		    void (*fn)(void *arg, uint64_t id, const char *addr), void *arg)
{
	bool self = false;

	for (uint32_t i = 0; i < n->cfg.n_initial; i++) {
		self |= n->cfg.initial[i].id == n->cfg.node_id;
		fn(arg, n->cfg.initial[i].id, n->cfg.initial[i].addr);
	}
	for (uint32_t i = 0; i < n->roster.n; i++) {
		self |= n->roster.added[i].id == n->cfg.node_id;
		fn(arg, n->roster.added[i].id, n->roster.added[i].addr);
	}
	/* A node added at runtime (--join, --added-node) is not its own
	 * peer, so no row holds it: it is listed last, once. */
	if (!self)
		fn(arg, n->cfg.node_id, n->cfg.peer_addr);
}

static void answer(struct rk_http_resp *resp, uint64_t id, const char *addr, bool added)
{
	struct rk_json j;

	resp->status = 200;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "id");
	rk_json_u64(&j, id);
	rk_json_key(&j, "peer_addr");
	rk_json_str(&j, addr);
	rk_json_key(&j, "added");
	rk_json_bool(&j, added);
	rk_json_obj_end(&j);
}

struct write {
	uv_work_t req;
	struct rk_node *n;
	struct rk_store_batch *b;
	struct rk_http_later *later;
	struct rk_node_peer peer;
	int rc;
};

static void write_run(uv_work_t *req)
{
	struct write *w = req->data;

	w->rc = rk_store_write(w->n->store, w->b);
}

static void write_done(uv_work_t *req, int status)
{
	struct write *w = req->data;
	struct rk_node *n = w->n;
	struct rk_http_resp resp;

	(void)status;
	memset(&resp, 0, sizeof(resp));
	rk_buf_init(&resp.body);
	n->roster.writing = false;
	if (w->rc == 0)
		w->rc = add(n, w->peer.id, w->peer.addr);
	if (w->rc != 0) {
		/* Written but not in the table: the next start adds it. */
		rk_api_error(&resp, 503, rk_strerror(w->rc));
	} else {
		rk_log_info(MOD, "node %llu added as a peer at %s%s",
			    (unsigned long long)w->peer.id, w->peer.addr,
			    w->later == NULL ? " (learned from the placement group's node table)" : "");
		answer(&resp, w->peer.id, w->peer.addr, true);
		/* Added by a call: into the node table too, so that every
		 * other node learns it (heartbeat.h). */
		if (w->later != NULL)
			rk_hb_register(n, w->peer.id, w->peer.addr);
	}
	if (w->later != NULL)
		rk_http_answer(w->later, &resp);
	rk_buf_free(&resp.body);
	free(w);
}

int rk_roster_check(struct rk_node *n, uint64_t id, const char *addr, char *msg, size_t len)
{
	const char *had;
	uint64_t at = known(n, id, addr, &had);

	if (had != NULL && strcmp(had, addr) == 0)
		return 200;
	if (had != NULL) {
		snprintf(msg, len, "node %llu is already in the cluster at %s",
			 (unsigned long long)id, had);
		return 409;
	}
	if (at != 0) {
		snprintf(msg, len, "%s is already the address of node %llu", addr,
			 (unsigned long long)at);
		return 409;
	}
	if (n->n_peers + 1 >= RK_MAX_NODES || n->roster.n == RK_MAX_NODES) {
		snprintf(msg, len, "a cluster has at most %d nodes", RK_MAX_NODES);
		return 409;
	}
	/* Being written already (learned from the node table meanwhile):
	 * known. */
	if (n->roster.writing && n->roster.pending.id == id &&
	    strcmp(n->roster.pending.addr, addr) == 0)
		return 200;
	if (n->roster.writing) {
		snprintf(msg, len, "%s", "another node is being added: try again");
		return 409;
	}
	return 0;
}

/* Writes the row with peer added (off the loop), then adds it; later NULL
 * for a peer learned from the node table. */
static int queue_write(struct rk_node *n, const struct rk_node_peer *peer, struct write **wp)
{
	struct rk_buf row;
	struct write *w;

	*wp = NULL;
	rk_buf_init(&row);
	row_format(n->roster.added, n->roster.n, &row);
	rk_buf_printf(&row, "%s%llu=%s", n->roster.n ? "," : "", (unsigned long long)peer->id,
		      peer->addr);
	w = calloc(1, sizeof(*w));
	if (w == NULL || row.oom || (w->b = rk_store_batch_new()) == NULL) {
		rk_buf_free(&row);
		free(w);
		return RK_ENOMEM;
	}
	rk_store_batch_meta_put(w->b, ROW, row.p, row.len);
	rk_buf_free(&row);
	w->n = n;
	w->req.data = w;
	w->peer = *peer;
	*wp = w;
	return 0;
}

void rk_roster_learn(struct rk_node *n, uint64_t id, const char *addr)
{
	struct rk_node_peer peer;
	struct write *w;
	char msg[160];

	if (id == 0 || strlen(addr) >= RK_ADDR_MAX || rk_roster_check(n, id, addr, msg, sizeof(msg)) != 0)
		return; /* known, or in conflict with what this node knows */
	peer.id = id;
	memcpy(peer.addr, addr, strlen(addr) + 1);
	if (queue_write(n, &peer, &w) != 0)
		return; /* the next heartbeat's answer tries again */
	if (uv_queue_work(&n->loop, &w->req, write_run, write_done) != 0) {
		rk_store_batch_free(w->b);
		free(w);
		return;
	}
	n->roster.writing = true;
	n->roster.pending = w->peer;
}

bool rk_roster_http(struct rk_node *n, const struct rk_http_req *req,
		    struct rk_http_resp *resp)
{
	char ids[32], addr[RK_ADDR_MAX + 1], msg[160];
	struct sockaddr_storage ss;
	struct rk_node_peer peer;
	struct write *w;
	uint64_t id;
	int status;

	if (strcmp(req->path, "/api/v1/nodes") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if (!rk_http_query(req, "id", ids, sizeof(ids)) || !rk_api_parse_u64(ids, &id) ||
	    id == 0 || id > UINT32_MAX) {
		rk_api_error(resp, 400, "id=N (a node id, 1 to 4294967295) is required");
		return true;
	}
	if (!rk_http_query(req, "peer_addr", addr, sizeof(addr)) || strlen(addr) >= RK_ADDR_MAX ||
	    rk_parse_hostport(addr, 0, &ss) != 0) {
		rk_api_error(resp, 400, "peer_addr=HOST:PORT (IPv4, or [IPv6]:PORT) is required");
		return true;
	}
	status = rk_roster_check(n, id, addr, msg, sizeof(msg));
	if (status == 200)
		answer(resp, id, addr, false);
	if (status != 0) {
		if (status != 200)
			rk_api_error(resp, status, msg);
		return true;
	}
	/* The row with it, written before it is used: an answered addition
	 * survives a crash. */
	peer.id = id;
	memcpy(peer.addr, addr, strlen(addr) + 1);
	if (queue_write(n, &peer, &w) != 0) {
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	if ((w->later = rk_http_defer(req)) == NULL ||
	    uv_queue_work(&n->loop, &w->req, write_run, write_done) != 0) {
		if (w->later != NULL) {
			rk_api_error(resp, 503, "cannot write it now: try again");
			rk_http_answer(w->later, resp);
		} else {
			rk_api_error(resp, 503, "out of memory");
		}
		rk_store_batch_free(w->b);
		free(w);
		return true;
	}
	n->roster.writing = true;
	n->roster.pending = w->peer;
	return true;
}
