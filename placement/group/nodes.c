/*
 * The placement group's node table and cluster settings (nodes.h).
 */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "group.h"

#define ROW_NODE 'N'
#define ROW_SETTINGS "s"
#define ROW_REBALANCE "r"
#define REC_VERSION 1
#define REC_FIXED (1 + 1 + 8 + 8 + 8 * RK_PL_NSTATS)
#define STATS_ENTRY (8 + 8 + 8 * RK_PL_NSTATS)

static void node_key(uint64_t id, uint8_t key[9])
{
	key[0] = ROW_NODE;
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(id >> (56 - 8 * i)); /* big endian: id order */
}

void rk_pl_sm_set_initial(struct rk_pl_sm *sm, const struct rk_pl_initial_node *nodes,
			  size_t n)
{
	sm->n_initial = n > RK_PL_MAX_INITIAL ? RK_PL_MAX_INITIAL : n;
	memcpy(sm->initial, nodes, sm->n_initial * sizeof(*nodes));
}

/* ---- the record ---------------------------------------------------------------- */

static int put_addr(struct rk_buf *out, const char *a)
{
	size_t l = strlen(a);
	uint8_t *p;

	if (l >= RK_PL_ADDR_MAX)
		return RK_EINVAL;
	if ((p = rk_buf_extend(out, 2 + l)) == NULL)
		return RK_ENOMEM;
	p[0] = (uint8_t)l;
	p[1] = (uint8_t)(l >> 8);
	memcpy(p + 2, a, l);
	return 0;
}

/* An address at *offp into dst (NUL-terminated); RK_EPROTO if it does not
 * fit the input or dst. */
static int get_addr(const uint8_t *p, size_t len, size_t *offp, char *dst)
{
	size_t l;

	if (len - *offp < 2)
		return RK_EPROTO;
	l = (size_t)p[*offp] | (size_t)p[*offp + 1] << 8;
	if (l >= RK_PL_ADDR_MAX || len - *offp - 2 < l)
		return RK_EPROTO;
	memcpy(dst, p + *offp + 2, l);
	dst[l] = '\0';
	*offp += 2 + l;
	return 0;
}

static int rec_encode(const struct rk_pl_node_rec *r, struct rk_buf *out)
{
	uint8_t *p = rk_buf_extend(out, REC_FIXED);
	int rc;

	if (p == NULL)
		return RK_ENOMEM;
	p[0] = REC_VERSION;
	p[1] = r->state;
	rk_le_put64(p + 2, r->capacity);
	rk_le_put64(p + 10, r->last_heartbeat_ms);
	for (int i = 0; i < RK_PL_NSTATS; i++)
		rk_le_put64(p + 18 + 8 * i, r->stats[i]);
	if ((rc = put_addr(out, r->peer)) == 0 && (rc = put_addr(out, r->client)) == 0)
		rc = put_addr(out, r->http);
	return rc;
}

static int rec_decode(uint64_t id, const uint8_t *p, size_t len, struct rk_pl_node_rec *r)
{
	size_t off = REC_FIXED;
	int rc;

	memset(r, 0, sizeof(*r));
	r->id = id;
	if (len < REC_FIXED || p[0] != REC_VERSION)
		return RK_ECORRUPT;
	r->state = p[1];
	r->capacity = rk_le_get64(p + 2);
	r->last_heartbeat_ms = rk_le_get64(p + 10);
	for (int i = 0; i < RK_PL_NSTATS; i++)
		r->stats[i] = rk_le_get64(p + 18 + 8 * i);
	if ((rc = get_addr(p, len, &off, r->peer)) == 0 &&
	    (rc = get_addr(p, len, &off, r->client)) == 0)
		rc = get_addr(p, len, &off, r->http);
	return rc != 0 || off != len ? RK_ECORRUPT : 0;
}

static const struct rk_pl_initial_node *initial_of(const struct rk_pl_sm *sm, uint64_t id)
{
	for (size_t i = 0; i < sm->n_initial; i++)
		if (sm->initial[i].id == id)
			return &sm->initial[i];
	return NULL;
}

static void implicit_rec(const struct rk_pl_initial_node *in, struct rk_pl_node_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->id = in->id;
	r->implicit = true;
	strcpy(r->peer, in->peer);
}

int rk_pl_read_node(const struct rk_pl_sm *sm, struct rk_store_reader *rd, uint64_t id,
		    struct rk_pl_node_rec *np)
{
	const struct rk_pl_initial_node *in;
	uint8_t key[9];
	const void *v;
	size_t vl;
	int rc;

	memset(np, 0, sizeof(*np));
	node_key(id, key);
	rc = rk_store_pl_get(rd, key, sizeof(key), &v, &vl);
	if (rc == 0)
		return rec_decode(id, v, vl, np);
	if (rc == RK_ENOTFOUND && (in = initial_of(sm, id)) != NULL) {
		implicit_rec(in, np);
		return 0;
	}
	return rc;
}

/* The batch's latest record of id, NULL if it wrote none. */
static const struct rk_pl_node_rec *in_batch(const struct rk_pl_sm *sm, uint64_t id)
{
	for (size_t i = sm->n_nov; i-- > 0;)
		if (sm->nov[i].id == id)
			return &sm->nov[i];
	return NULL;
}

/* The record of id as the command being applied sees it (the overlay of
 * this batch, then the committed state); RK_ENOTFOUND if none. */
static int node_of(struct rk_pl_sm *sm, struct rk_store_reader *rd, uint64_t id,
		   struct rk_pl_node_rec *np)
{
	const struct rk_pl_node_rec *r = in_batch(sm, id);

	if (r != NULL) {
		*np = *r;
		return 0;
	}
	return rk_pl_read_node(sm, rd, id, np);
}

static int node_put(struct rk_pl_sm *sm, struct rk_store_batch *b,
		    const struct rk_pl_node_rec *r)
{
	struct rk_buf v;
	uint8_t key[9];
	int rc;

	rk_buf_init(&v);
	rc = rec_encode(r, &v);
	if (rc == 0 && v.oom)
		rc = RK_ENOMEM;
	if (rc == 0)
		rc = rk_grow((void **)&sm->nov, &sm->cap_nov, sm->n_nov, sizeof(*sm->nov));
	if (rc == 0) {
		sm->nov[sm->n_nov] = *r;
		sm->nov[sm->n_nov++].implicit = false;
		node_key(r->id, key);
		rk_store_batch_pl_put(b, key, sizeof(key), v.p, v.len);
	}
	rk_buf_free(&v);
	return rc;
}

/* ---- walking ------------------------------------------------------------------- */

struct nwalk {
	const struct rk_pl_sm *sm;
	int (*fn)(void *arg, const struct rk_pl_node_rec *node);
	void *arg;
	size_t next_initial; /* initial nodes (sorted) not yet visited */
	const struct rk_pl_initial_node **sorted;
	bool stopped; /* fn asked to stop */
};

/* Visits the implicit initial nodes below `below` not yet visited (rows
 * win over them: skipped when a row of theirs exists). */
static int implicit_before(struct nwalk *w, uint64_t below, uint64_t row_id)
{
	struct rk_pl_node_rec r;
	int rc;

	while (w->next_initial < w->sm->n_initial && w->sorted[w->next_initial]->id < below) {
		const struct rk_pl_initial_node *in = w->sorted[w->next_initial++];
		if (in->id == row_id)
			continue;
		implicit_rec(in, &r);
		if ((rc = w->fn(w->arg, &r)) != 0) {
			w->stopped = true;
			return rc;
		}
	}
	/* The row of an initial node replaces its implicit record. */
	if (w->next_initial < w->sm->n_initial && w->sorted[w->next_initial]->id == row_id)
		w->next_initial++;
	return 0;
}

static int nwalk_pair(void *arg, int table, const void *key, size_t klen, const void *val,
		      size_t vlen)
{
	struct nwalk *w = arg;
	const uint8_t *k = key;
	struct rk_pl_node_rec r;
	uint64_t id = 0;
	int rc;

	(void)table;
	if (klen != 9 || k[0] != ROW_NODE)
		return 1; /* past the node rows */
	for (int i = 0; i < 8; i++)
		id = id << 8 | k[1 + i];
	if ((rc = implicit_before(w, id, id)) != 0)
		return rc;
	if ((rc = rec_decode(id, val, vlen, &r)) != 0)
		return rc;
	rc = w->fn(w->arg, &r);
	w->stopped = rc != 0;
	return rc;
}

int rk_pl_walk_nodes(const struct rk_pl_sm *sm, struct rk_store_reader *rd,
		     int (*fn)(void *arg, const struct rk_pl_node_rec *node), void *arg)
{
	const struct rk_pl_initial_node *sorted[RK_PL_MAX_INITIAL];
	struct nwalk w = {sm, fn, arg, 0, sorted, false};
	uint8_t start[9];
	int rc;

	for (size_t i = 0; i < sm->n_initial; i++) {
		size_t j = i;
		for (; j > 0 && sorted[j - 1]->id > sm->initial[i].id; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = &sm->initial[i];
	}
	node_key(0, start);
	/* Stops at the first row past the node rows (or at fn's word). */
	rc = rk_store_pl_walk(rd, start, sizeof(start), NULL, 0, nwalk_pair, &w);
	if (rc == 0 && !w.stopped)
		rc = implicit_before(&w, UINT64_MAX, 0);
	return rc < 0 ? rc : 0;
}

/* ---- REGISTER ------------------------------------------------------------------ */

/* Whether any of a's non-empty addresses is one of b's. */
static bool addr_clash(const struct rk_pl_node_rec *a, const struct rk_pl_node_rec *b)
{
	const char *as[3] = {a->peer, a->client, a->http};
	const char *bs[3] = {b->peer, b->client, b->http};

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (as[i][0] != '\0' && strcmp(as[i], bs[j]) == 0)
				return true;
	return false;
}

struct clash {
	struct rk_pl_sm *sm;
	const struct rk_pl_node_rec *want;
	bool found;
};

static int clash_visit(void *arg, const struct rk_pl_node_rec *node)
{
	struct clash *c = arg;
	const struct rk_pl_node_rec *r;

	if (node->id == c->want->id)
		return 0;
	/* The batch's own writes are newer than the committed row. */
	if ((r = in_batch(c->sm, node->id)) == NULL)
		r = node;
	if (addr_clash(c->want, r)) {
		c->found = true;
		return 1;
	}
	return 0;
}

/* Whether another node of the table (the committed one, with this batch's
 * writes) holds one of want's addresses. */
static int clash_any(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		     const struct rk_pl_node_rec *want, bool *foundp)
{
	struct clash c = {sm, want, false};
	int rc = rk_pl_walk_nodes(sm, rd, clash_visit, &c);

	/* Nodes registered earlier in this batch have no committed row. */
	for (size_t i = 0; rc == 0 && !c.found && i < sm->n_nov; i++)
		if (sm->nov[i].id != want->id && addr_clash(want, &sm->nov[i]))
			c.found = true;
	*foundp = c.found;
	return rc;
}

/* The REGISTER layout (also a heartbeat's first part): *offp past it. */
static int decode_reg(const uint8_t *p, size_t len, struct rk_pl_node_rec *r, size_t *offp)
{
	memset(r, 0, sizeof(*r));
	*offp = RK_PL_REPORT_HEADER + 8;
	if (len < *offp)
		return RK_EPROTO;
	r->id = rk_le_get32(p + 17);
	r->capacity = rk_le_get64(p + RK_PL_REPORT_HEADER);
	if (get_addr(p, len, offp, r->peer) != 0 || get_addr(p, len, offp, r->client) != 0 ||
	    get_addr(p, len, offp, r->http) != 0)
		return RK_EPROTO;
	return 0;
}

int rk_pl_apply_register(struct rk_pl_sm *sm, struct rk_store_reader *rd,
			 struct rk_store_batch *b, const uint8_t *p, size_t len,
			 struct rk_pl_result *resp)
{
	struct rk_pl_node_rec want, had;
	size_t off;
	bool clash;
	int rc;

	if (decode_reg(p, len, &want, &off) != 0 || off != len)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	resp->first = want.id;
	if (want.id == 0 || want.peer[0] == '\0') {
		resp->rc = RK_EINVAL;
		return 0;
	}
	rc = node_of(sm, rd, want.id, &had);
	if (rc != 0 && rc != RK_ENOTFOUND)
		return rc;
	if (rc == 0 && strcmp(had.peer, want.peer) != 0) {
		resp->rc = RK_EEXIST; /* the id is another node's */
		return 0;
	}
	if ((rc = clash_any(sm, rd, &want, &clash)) != 0)
		return rc;
	if (clash) {
		resp->rc = RK_EADDRINUSE;
		return 0;
	}
	if (had.id == want.id) {
		/* Known: new addresses and capacity, the rest kept. */
		memcpy(had.client, want.client, sizeof(had.client));
		memcpy(had.http, want.http, sizeof(had.http));
		had.capacity = want.capacity;
		want = had;
	}
	resp->taken = 1;
	return node_put(sm, b, &want);
}

/* ---- STATS --------------------------------------------------------------------- */

int rk_pl_apply_stats(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		      struct rk_store_batch *b, const uint8_t *p, size_t len,
		      struct rk_pl_result *resp)
{
	struct rk_pl_node_rec r;
	uint64_t wall;
	uint32_t n;
	int rc;

	if (len < RK_PL_REPORT_HEADER + 8)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	n = rk_le_get32(p + 17);
	wall = rk_le_get64(p + RK_PL_REPORT_HEADER);
	if ((len - RK_PL_REPORT_HEADER - 8) / STATS_ENTRY != n ||
	    (len - RK_PL_REPORT_HEADER - 8) % STATS_ENTRY != 0)
		return RK_EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + RK_PL_REPORT_HEADER + 8 + (size_t)i * STATS_ENTRY;
		rc = node_of(sm, rd, rk_le_get64(e), &r);
		if (rc == RK_ENOTFOUND) {
			resp->stale++; /* not registered: nothing to update */
			continue;
		}
		if (rc != 0)
			return rc;
		r.capacity = rk_le_get64(e + 8);
		for (int k = 0; k < RK_PL_NSTATS; k++)
			r.stats[k] = rk_le_get64(e + 16 + 8 * k);
		r.last_heartbeat_ms = wall;
		if ((rc = node_put(sm, b, &r)) != 0)
			return rc;
		resp->taken++;
	}
	return 0;
}

/* ---- STATE --------------------------------------------------------------------- */

/* Active nodes (neither decommissioning nor decommissioned) but one, as
 * the command being applied sees them (the committed table with this
 * batch's writes). */
struct active_count {
	const struct rk_pl_sm *sm;
	uint64_t skip;
	uint32_t n;
};

static int count_active(void *arg, const struct rk_pl_node_rec *node)
{
	struct active_count *c = arg;
	const struct rk_pl_node_rec *r = in_batch(c->sm, node->id);

	if (node->id != c->skip && (r != NULL ? r : node)->state == RK_PL_NODE_ACTIVE)
		c->n++;
	return 0;
}

static int active_others(struct rk_pl_sm *sm, struct rk_store_reader *rd, uint64_t skip,
			 uint32_t *np)
{
	struct active_count c = {sm, skip, 0};
	struct rk_pl_node_rec r;
	int rc = rk_pl_walk_nodes(sm, rd, count_active, &c);

	/* Nodes this batch registered: not in the committed table yet. */
	for (size_t i = 0; rc == 0 && i < sm->n_nov; i++) {
		const struct rk_pl_node_rec *x = &sm->nov[i];
		if (x->id == skip || in_batch(sm, x->id) != x || x->state != RK_PL_NODE_ACTIVE)
			continue;
		rc = rk_pl_read_node(sm, rd, x->id, &r);
		if (rc == RK_ENOTFOUND) {
			c.n++;
			rc = 0;
		}
	}
	*np = c.n;
	return rc;
}

/* The cluster's --replicas from the settings row, 0 when it names none (a
 * cluster whose settings predate it: nothing is checked). */
static int settings_replicas(struct rk_store_reader *rd, uint32_t *replicasp)
{
	static const char name[] = "replicas=";
	struct rk_buf text;
	const char *p, *end;
	uint32_t v = 0;
	int rc;

	*replicasp = 0;
	rk_buf_init(&text);
	rc = rk_pl_read_settings(rd, &text);
	if (rc == RK_ENOTFOUND || (rc == 0 && text.len == 0)) {
		rk_buf_free(&text);
		return 0;
	}
	if (rc != 0) {
		rk_buf_free(&text);
		return rc;
	}
	end = (const char *)text.p + text.len;
	for (p = text.p; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;

		if ((size_t)(eol - p) > sizeof(name) - 1 &&
		    memcmp(p, name, sizeof(name) - 1) == 0) {
			for (const char *q = p + sizeof(name) - 1; q < eol && *q >= '0' && *q <= '9';
			     q++)
				v = v * 10 + (uint32_t)(*q - '0');
			break;
		}
		p = eol + 1;
	}
	rk_buf_free(&text);
	*replicasp = v;
	return 0;
}

int rk_pl_apply_state(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		      struct rk_store_batch *b, const uint8_t *p, size_t len,
		      struct rk_pl_result *resp)
{
	struct rk_pl_node_rec r;
	uint8_t want;
	int rc;

	if (len != RK_PL_REPORT_HEADER + 1)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	resp->first = rk_le_get32(p + 17);
	want = p[RK_PL_REPORT_HEADER];
	rc = node_of(sm, rd, resp->first, &r);
	if (rc == RK_ENOTFOUND) {
		resp->rc = RK_ENOTFOUND;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (want == r.state) {
		resp->taken = 1; /* already so: a retried call */
		return 0;
	}
	/* Forward only, one step at a time: a drained node is never made
	 * active again by a late retry. */
	if (want > RK_PL_NODE_DECOMMISSIONED || want != r.state + 1) {
		resp->rc = RK_ESTATE;
		return 0;
	}
	/* Decided here, in log order, not only by the node asked (its view
	 * of liveness): two decommissions asked at once on two nodes cannot
	 * both leave fewer active nodes than --replicas. */
	if (want == RK_PL_NODE_DECOMMISSIONING) {
		uint32_t replicas, active;

		if ((rc = settings_replicas(rd, &replicas)) != 0 ||
		    (rc = active_others(sm, rd, r.id, &active)) != 0)
			return rc;
		if (active < replicas) {
			resp->rc = RK_ECONFCHANGE;
			return 0;
		}
	}
	r.state = want;
	resp->taken = 1;
	return node_put(sm, b, &r);
}

int rk_pl_apply_rebalance(struct rk_store_batch *b, const uint8_t *p, size_t len,
			  struct rk_pl_result *resp)
{
	uint8_t on;

	if (len != RK_PL_REPORT_HEADER + 1 || p[RK_PL_REPORT_HEADER] > 1)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	on = p[RK_PL_REPORT_HEADER];
	resp->taken = 1;
	rk_store_batch_pl_put(b, ROW_REBALANCE, 1, &on, 1);
	return 0;
}

/* ---- encoding ------------------------------------------------------------------ */

/* The common header, then one byte (STATE, REBALANCE). */
static int encode_u8(struct rk_buf *out, uint8_t op, uint64_t origin, uint64_t token, uint32_t v,
		     uint8_t byte)
{
	size_t at = out->len;
	uint8_t *p;
	int rc = rk_pl_encode_header(out, op, origin, token, v);

	if (rc == 0 && (p = rk_buf_extend(out, 1)) == NULL)
		rc = RK_ENOMEM;
	if (rc == 0)
		*p = byte;
	if (rc != 0)
		out->len = at;
	return rc;
}

int rk_pl_encode_state(struct rk_buf *out, uint64_t origin, uint64_t token, uint64_t id,
		       uint8_t state)
{
	if (id == 0 || id > UINT32_MAX)
		return RK_EINVAL;
	return encode_u8(out, RK_PL_CMD_STATE, origin, token, (uint32_t)id, state);
}

int rk_pl_encode_rebalance(struct rk_buf *out, uint64_t origin, uint64_t token, bool enabled)
{
	return encode_u8(out, RK_PL_CMD_REBALANCE, origin, token, 0, enabled ? 1 : 0);
}

int rk_pl_encode_register(struct rk_buf *out, uint64_t origin, uint64_t token,
			  const struct rk_pl_node_rec *node)
{
	size_t at = out->len;
	uint8_t *p;
	int rc;

	if (node->id > UINT32_MAX)
		return RK_EINVAL;
	rc = rk_pl_encode_header(out, RK_PL_CMD_REGISTER, origin, token, (uint32_t)node->id);
	if (rc == 0 && (p = rk_buf_extend(out, 8)) == NULL)
		rc = RK_ENOMEM;
	if (rc == 0) {
		rk_le_put64(p, node->capacity);
		if ((rc = put_addr(out, node->peer)) == 0 && (rc = put_addr(out, node->client)) == 0)
			rc = put_addr(out, node->http);
	}
	if (rc != 0)
		out->len = at;
	return rc;
}

int rk_pl_encode_heartbeat(struct rk_buf *out, uint64_t origin, uint64_t token,
			   const struct rk_pl_node_rec *node)
{
	size_t at = out->len;
	uint8_t *p;
	int rc = rk_pl_encode_register(out, origin, token, node);

	if (rc == 0 && (p = rk_buf_extend(out, 8 * RK_PL_NSTATS)) == NULL)
		rc = RK_ENOMEM;
	if (rc != 0) {
		out->len = at;
		return rc;
	}
	out->p[at] = (char)RK_PL_MSG_HEARTBEAT;
	for (int k = 0; k < RK_PL_NSTATS; k++)
		rk_le_put64(p + 8 * k, node->stats[k]);
	return 0;
}

int rk_pl_decode_heartbeat(const uint8_t *p, size_t len, struct rk_pl_node_rec *np,
			   size_t *restp)
{
	size_t off;

	*restp = len;
	if (len == 0 || p[0] != RK_PL_MSG_HEARTBEAT || decode_reg(p, len, np, &off) != 0 ||
	    len - off < 8 * RK_PL_NSTATS) {
		memset(np, 0, sizeof(*np));
		return RK_EPROTO;
	}
	for (int k = 0; k < RK_PL_NSTATS; k++)
		np->stats[k] = rk_le_get64(p + off + 8 * k);
	*restp = off + 8 * RK_PL_NSTATS;
	return 0;
}

int rk_pl_encode_stats(struct rk_buf *out, uint64_t origin, uint64_t token, uint32_t n,
		       uint64_t wall_ms)
{
	uint8_t *p;
	int rc = rk_pl_encode_header(out, RK_PL_CMD_STATS, origin, token, n);

	if (rc == 0 && (p = rk_buf_extend(out, 8)) == NULL)
		rc = RK_ENOMEM;
	if (rc == 0)
		rk_le_put64(p, wall_ms);
	return rc;
}

int rk_pl_encode_stats_node(struct rk_buf *out, uint64_t id, uint64_t capacity,
			    const uint64_t stats[RK_PL_NSTATS])
{
	uint8_t *p = rk_buf_extend(out, STATS_ENTRY);

	if (p == NULL)
		return RK_ENOMEM;
	rk_le_put64(p, id);
	rk_le_put64(p + 8, capacity);
	for (int k = 0; k < RK_PL_NSTATS; k++)
		rk_le_put64(p + 16 + 8 * k, stats[k]);
	return 0;
}

/* ---- settings ------------------------------------------------------------------ */

void rk_pl_write_settings(struct rk_store_batch *b, const char *text, size_t len)
{
	rk_store_batch_pl_put(b, ROW_SETTINGS, 1, text, len);
}

int rk_pl_read_settings(struct rk_store_reader *rd, struct rk_buf *out)
{
	const void *v;
	size_t vl;
	int rc = rk_store_pl_get(rd, ROW_SETTINGS, 1, &v, &vl);

	if (rc == 0)
		rk_buf_append(out, v, vl);
	return rc != 0 ? rc : out->oom ? RK_ENOMEM : 0;
}

int rk_pl_read_rebalance(struct rk_store_reader *rd, bool *enabledp)
{
	const void *v;
	size_t vl;
	int rc = rk_store_pl_get(rd, ROW_REBALANCE, 1, &v, &vl);

	*enabledp = true;
	if (rc == 0 && vl != 1)
		rc = RK_ECORRUPT;
	if (rc == 0)
		*enabledp = *(const uint8_t *)v != 0;
	return rc;
}
