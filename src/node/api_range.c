/*
 * Range inspection calls of the HTTP API (api_range.h): a range's load and
 * raft detail, the hottest ranges, and a range's log decoded for people.
 *
 * Every call is bounded whatever the node holds: the sorted list keeps the
 * top `limit` (at most 1,000) in a heap while it walks the table once
 * (O(n log limit), no copy of the table), and a log page reads at most
 * LOG_MAX entries and LOG_MAX_BYTES of payload from the store (the raft
 * core reads the log on the loop the same way; a recent page is in the
 * cache).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_range.h"
#include "kv.h"
#include "node_int.h"
#include "size.h"
#include "peer.h"
#include "prom.h"

#define LOG_DEFAULT 100
#define LOG_MAX 1000
#define LOG_MAX_BYTES (4u << 20)
/* People's text of a log entry: the keys shown, the bytes of each. */
#define LOG_CMDS_SHOWN 10
#define LOG_KEYS_SHOWN 3
#define LOG_KEY_BYTES 64
/* /metrics names this many hottest ranges per figure. */
#define METRICS_HOT 5

static const char *progress_state(uint8_t s)
{
	static const char *const names[] = {"probe", "replicate", "snapshot"};

	return s < 3 ? names[s] : "unknown";
}

/* The leader's view of each replica; null elsewhere (only a leader tracks
 * progress). */
static void raft_detail(struct rk_json *j, const struct rk_replica *r)
{
	struct rk_node *n = r->node;
	struct rk_raft_status st;
	uint64_t now = uv_now(&n->loop);
	uint64_t clock = n->ropts.clock != NULL ? n->ropts.clock(n->ropts.clock_arg) : 0;

	rk_raft_status(&r->raft, &st);
	rk_json_key(j, "raft");
	rk_json_obj_begin(j);
	rk_json_key(j, "last_index");
	rk_json_u64(j, st.last_index);
	rk_json_key(j, "durable_last_index");
	rk_json_u64(j, r->last);
	rk_json_key(j, "lead_transferee");
	if (st.lead_transferee == 0)
		rk_json_null(j);
	else
		rk_json_u64(j, st.lead_transferee);
	rk_json_key(j, "asleep_ms");
	if (r->asleep)
		rk_json_u64(j, now - r->asleep_since);
	else
		rk_json_null(j);
	rk_json_key(j, "mem_bytes");
	rk_json_u64(j, st.mem_bytes);
	rk_json_key(j, "progress");
	if (st.n_progress == 0) {
		rk_json_null(j);
		rk_json_obj_end(j);
		return;
	}
	rk_json_arr_begin(j);
	for (size_t i = 0; i < st.n_progress; i++) {
		const struct rk_raft_progress_status *ps = &st.progress[i];
		bool self = ps->id == st.id;

		rk_json_obj_begin(j);
		rk_json_key(j, "replica_id");
		rk_json_u64(j, ps->id);
		rk_json_key(j, "node_id");
		rk_json_u64(j, rk_replica_node(r, ps->id));
		rk_json_key(j, "match");
		rk_json_u64(j, self ? st.last_index : ps->match);
		rk_json_key(j, "next");
		rk_json_u64(j, self ? st.last_index + 1 : ps->next);
		rk_json_key(j, "state");
		rk_json_str(j, self ? "leader" : progress_state(ps->state));
		rk_json_key(j, "inflight");
		rk_json_u64(j, ps->inflight);
		rk_json_key(j, "active");
		rk_json_bool(j, self || ps->recent_active);
		/* Milliseconds since it last answered; null for the leader
		 * itself and for one not heard from in this leadership. */
		rk_json_key(j, "last_contact_ms");
		if (self || ps->heard_at == 0 || n->ropts.clock == NULL)
			rk_json_null(j);
		else
			rk_json_u64(j, clock > ps->heard_at ? clock - ps->heard_at : 0);
		rk_json_obj_end(j);
	}
	rk_json_arr_end(j);
	rk_json_obj_end(j);
}

void rk_api_range_more(struct rk_json *j, const struct rk_replica *r,
		       bool detail)
{
	uint64_t now = uv_now(&r->node->loop);

	rk_json_key(j, "writes_per_sec");
	rk_json_f64(j, rk_rate_get(&r->load.writes, now), 1);
	rk_json_key(j, "reads_per_sec");
	rk_json_f64(j, rk_rate_get(&r->load.reads, now), 1);
	if (detail)
		raft_detail(j, r);
}

/* ---- the top ranges ------------------------------------------------------------ */

enum sort_by { BY_SIZE, BY_WRITES, BY_READS };

struct ranked {
	double key;
	const struct rk_replica *r;
};

static double sort_key(const struct rk_replica *r, enum sort_by by, uint64_t now)
{
	if (by == BY_SIZE)
		return (double)rk_size_of(r);
	return rk_rate_get(by == BY_WRITES ? &r->load.writes : &r->load.reads, now);
}

/* a ranks before b: the larger figure, then the lower id. */
static bool before(const struct ranked *a, const struct ranked *b)
{
	return a->key > b->key || (a->key == b->key && a->r->range < b->r->range);
}

void rk_api_sift(void *heap, size_t n, size_t i, size_t size,
		 int (*cmp)(const void *a, const void *b))
{
	char *h = heap, t[64];

	if (size > sizeof(t))
		return; /* no element is larger (api_range.h) */
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < n && cmp(h + m * size, h + l * size) < 0)
			m = l;
		if (l + 1 < n && cmp(h + m * size, h + (l + 1) * size) < 0)
			m = l + 1;
		if (m == i)
			return;
		memcpy(t, h + i * size, size);
		memcpy(h + i * size, h + m * size, size);
		memcpy(h + m * size, t, size);
		i = m;
	}
}

static int cmp_ranked(const void *a, const void *b);

/* A heap whose root ranks last: the one a better candidate replaces. */
static void sift_down(struct ranked *h, size_t n, size_t i)
{
	rk_api_sift(h, n, i, sizeof(*h), cmp_ranked);
}

static void sift_up(struct ranked *h, size_t i)
{
	while (i > 0 && before(&h[(i - 1) / 2], &h[i])) {
		struct ranked t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* Offers c to the top-cap heap h of *nhp entries. */
static void offer(struct ranked *h, size_t *nhp, size_t cap, struct ranked c)
{
	if (*nhp < cap) {
		h[*nhp] = c;
		sift_up(h, (*nhp)++);
	} else if (before(&c, &h[0])) {
		h[0] = c;
		sift_down(h, *nhp, 0);
	}
}

static int cmp_ranked(const void *a, const void *b)
{
	return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

/* ---- the log, decoded for people --------------------------------------------- */

/* A key or name: its first LOG_KEY_BYTES bytes escaped (key.h), and the
 * length of a longer one. */
static void put_key(struct rk_buf *b, const uint8_t *p, size_t n)
{
	rk_key_escape(b, p, n > LOG_KEY_BYTES ? LOG_KEY_BYTES : n);
	if (n > LOG_KEY_BYTES)
		rk_buf_printf(b, "...(%zu B)", n);
}

struct describe {
	struct rk_buf *b;
	uint32_t n; /* commands seen */
};

/* "SET k (5 B)", "MSET a (1 B), b (2 B) +3 more", "DEL a b", "CAS k (3 B
 * -> 5 B)", "INCRBY k -2", "SEQ.NEXT orders +100". */
static int describe_cmd(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct describe *d = arg;
	struct rk_buf *b = d->b;
	const uint8_t *p, *v;
	size_t off = 0, pl, vl;
	uint32_t shown = 0;

	(void)no;
	if (d->n++ >= LOG_CMDS_SHOWN)
		return 0;
	if (d->n > 1)
		rk_buf_puts(b, "; ");
	switch (c->op) {
	case RK_KV_PUT:
		rk_buf_puts(b, c->nargs > 2 ? "MSET " : "SET ");
		while (rk_kv_arg_next(c, &off, &p, &pl) == 0 &&
		       rk_kv_arg_next(c, &off, &v, &vl) == 0) {
			if (shown++ == LOG_KEYS_SHOWN) {
				rk_buf_printf(b, " +%u more", c->nargs / 2 - LOG_KEYS_SHOWN);
				break;
			}
			if (shown > 1)
				rk_buf_puts(b, ", ");
			put_key(b, p, pl);
			rk_buf_printf(b, " (%zu B)", vl);
		}
		if (c->mode == RK_KV_PUT_NX)
			rk_buf_puts(b, " NX");
		else if (c->mode == RK_KV_PUT_XX)
			rk_buf_puts(b, " XX");
		break;
	case RK_KV_DEL:
		rk_buf_puts(b, "DEL");
		while (rk_kv_arg_next(c, &off, &p, &pl) == 0) {
			if (shown++ == LOG_KEYS_SHOWN) {
				rk_buf_printf(b, " +%u more", c->nargs - LOG_KEYS_SHOWN);
				break;
			}
			rk_buf_putc(b, ' ');
			put_key(b, p, pl);
		}
		break;
	case RK_KV_CAS:
		rk_buf_puts(b, "CAS ");
		if (rk_kv_arg_next(c, &off, &p, &pl) == 0)
			put_key(b, p, pl);
		if (rk_kv_arg_next(c, &off, &p, &pl) == 0 &&
		    rk_kv_arg_next(c, &off, &v, &vl) == 0)
			rk_buf_printf(b, " (%zu B -> %zu B)", pl, vl);
		break;
	case RK_KV_INCR:
	case RK_KV_SEQ:
		rk_buf_puts(b, c->op == RK_KV_INCR ? "INCRBY " : "SEQ.NEXT ");
		if (rk_kv_arg_next(c, &off, &p, &pl) == 0)
			put_key(b, p, pl);
		rk_buf_printf(b, c->op == RK_KV_INCR ? " %lld" : " +%lld", (long long)c->n);
		break;
	case RK_KV_CHECK:
		rk_buf_puts(b, "CHECK (replica checksums)");
		break;
	case RK_KV_BATCH:
		rk_buf_printf(b, "BATCH of %u commands (one connection's, in order)",
			      (unsigned)c->nargs);
		break;
	case RK_KV_SPLIT: {
		struct rk_kv_split sp;
		if (rk_kv_split_decode(c, &sp) == 0) {
			rk_buf_puts(b, "SPLIT at ");
			put_key(b, sp.key, sp.klen);
			rk_buf_printf(b, " -> range %llu", (unsigned long long)sp.right_id);
		} else {
			rk_buf_puts(b, "SPLIT (malformed)");
		}
		break;
	}
	case RK_KV_FREEZE:
	case RK_KV_MERGE:
	case RK_KV_MERGE_ABORT:
	case RK_KV_UNFREEZE: {
		static const char *const names[] = {"FREEZE", "MERGE", "MERGE_ABORT", "UNFREEZE"};
		struct rk_kv_merge m;
		if (rk_kv_merge_decode(c, &m) == 0)
			rk_buf_printf(b, "%s of range %llu into range %llu",
				      names[c->op - RK_KV_FREEZE],
				      (unsigned long long)m.right_id,
				      (unsigned long long)m.left_id);
		else
			rk_buf_printf(b, "%s (malformed)", names[c->op - RK_KV_FREEZE]);
		break;
	}
	default:
		rk_buf_printf(b, "command %u", c->op);
		break;
	}
	return 0;
}

static void describe_conf(struct rk_buf *b, const struct rk_raft_entry *e)
{
	static const char *const ops[] = {"add voter", "add learner", "remove"};
	struct rk_raft_conf_change cc;

	if (rk_raft_cc_decode(e->data, e->len, &cc) != 0) {
		rk_buf_puts(b, "CONF (malformed)");
		return;
	}
	if (cc.n == 0) {
		rk_buf_puts(b, "CONF leave joint");
		return;
	}
	rk_buf_puts(b, "CONF ");
	for (uint8_t i = 0; i < cc.n; i++)
		rk_buf_printf(b, "%s%s %llu", i > 0 ? ", " : "",
			      cc.changes[i].op < 3 ? ops[cc.changes[i].op] : "change",
			      (unsigned long long)cc.changes[i].id);
	if (cc.transition != RK_RAFT_CC_AUTO || cc.n > 1)
		rk_buf_puts(b, " (joint)");
}

/* The people's text of entry e, into b. */
static void describe(struct rk_buf *b, const struct rk_raft_entry *e)
{
	struct describe d = {b, 0};
	uint64_t ts;

	if (e->type == RK_RAFT_ENTRY_CONF_CHANGE) {
		describe_conf(b, e);
	} else if (e->len == 0) {
		rk_buf_puts(b, "no-op (new leader)");
	} else if (e->data[0] == 0) {
		rk_buf_printf(b, "no-op (test load, %u B)", e->len);
	} else if (rk_kv_entry_walk(e->data, e->len, &ts, describe_cmd, &d) != 0) {
		rk_buf_reset(b);
		rk_buf_puts(b, "(not a command)");
	} else if (d.n > LOG_CMDS_SHOWN) {
		rk_buf_printf(b, "; +%u more", d.n - LOG_CMDS_SHOWN);
	}
}

struct log_page {
	struct rk_json *j;
	struct rk_buf text;
	uint64_t bytes, shown, next;
};

static int log_entry(void *arg, const struct rk_raft_entry *e)
{
	struct log_page *lp = arg;
	struct rk_json *j = lp->j;

	if (lp->shown > 0 && lp->bytes + e->len > LOG_MAX_BYTES)
		return 1; /* the page is full; next says where to go on */
	rk_buf_reset(&lp->text);
	describe(&lp->text, e);
	rk_json_obj_begin(j);
	rk_json_key(j, "index");
	rk_json_u64(j, e->index);
	rk_json_key(j, "term");
	rk_json_u64(j, e->term);
	rk_json_key(j, "type");
	rk_json_str(j, e->type == RK_RAFT_ENTRY_CONF_CHANGE ? "conf_change" : "normal");
	rk_json_key(j, "size");
	rk_json_u64(j, e->len);
	rk_json_key(j, "command");
	rk_json_str(j, rk_buf_cstr(&lp->text));
	rk_json_obj_end(j);
	lp->bytes += e->len;
	lp->shown++;
	lp->next = e->index + 1;
	return 0;
}

/* GET /api/v1/ranges/{id}/log?from=&limit=: entries [from, from + limit)
 * of the durable log; from below the first index held starts there, and
 * without from the page is the last `limit` entries. */
static void range_log(struct rk_node *n, struct rk_replica *r,
		      const struct rk_http_req *req, struct rk_http_resp *resp)
{
	char v[32];
	uint64_t from = 0, limit = LOG_DEFAULT, lo, hi;
	bool has_from = rk_http_query(req, "from", v, sizeof(v));
	struct log_page lp = {0};
	struct rk_json j;
	int rc = 0;

	if ((has_from && !rk_api_parse_u64(v, &from)) ||
	    (rk_http_query(req, "limit", v, sizeof(v)) &&
	     (!rk_api_parse_u64(v, &limit) || limit == 0 || limit > LOG_MAX))) {
		rk_api_error(resp, 400, "from must be an index, limit a whole number from 1 to 1000");
		return;
	}
	if (!has_from)
		from = r->last + 1 > r->first + limit ? r->last + 1 - limit : r->first;
	lo = from < r->first ? r->first : from;
	hi = lo + limit < r->last + 1 ? lo + limit : r->last + 1;
	rk_buf_init(&lp.text);
	lp.j = &j;
	lp.next = lo;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "range");
	rk_json_u64(&j, r->range);
	rk_json_key(&j, "first_index");
	rk_json_u64(&j, r->first);
	rk_json_key(&j, "last_index");
	rk_json_u64(&j, r->last);
	rk_json_key(&j, "entries");
	rk_json_arr_begin(&j);
	if (lo < hi)
		rc = rk_store_log_entries(n->reader, r->range, lo, hi, log_entry, &lp);
	rk_json_arr_end(&j);
	rk_json_key(&j, "next");
	if (lp.next <= r->last)
		rk_json_u64(&j, lp.next);
	else
		rk_json_null(&j);
	rk_json_obj_end(&j);
	rk_buf_free(&lp.text);
	if (rc != 0 && lp.shown == 0) {
		/* Compacted between the bounds read and the walk: the bounds
		 * are newer on the next call. */
		rk_buf_reset(&resp->body);
		rk_api_error(resp, 503, rc == RK_EUNAVAILABLE ?
			     "the log was compacted while being read; ask again" :
			     rk_strerror(rc));
	}
}

bool rk_api_range_route(struct rk_node *n, const char *path,
			const struct rk_http_req *req,
			struct rk_http_resp *resp)
{
	const char *p = path + 15, *slash;
	char id[24];
	uint64_t range;
	struct rk_replica *r;

	if (strncmp(path, "/api/v1/ranges/", 15) != 0 ||
	    (slash = strchr(p, '/')) == NULL)
		return false;
	if (strcmp(slash, "/log") != 0 && strcmp(slash, "/snapshots") != 0) {
		rk_api_error(resp, 404, "no such endpoint");
		return true;
	}
	if ((size_t)(slash - p) >= sizeof(id)) {
		rk_api_error(resp, 400, "a range id is a whole number");
		return true;
	}
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	if (!rk_api_parse_u64(id, &range)) {
		rk_api_error(resp, 400, "a range id is a whole number");
		return true;
	}
	if (strcmp(req->method, "GET") != 0) {
		rk_api_error(resp, 405, "GET only");
		return true;
	}
	r = rk_table_get(&n->tab, range);
	if (r == NULL && rk_fwd_range_call(n, range, req, resp))
		return true; /* held elsewhere: asked of a node that holds it */
	/* The placement group's range answers its snapshot sends like any
	 * range (its moves' bytes in /api/v1/operations, ops.c, which asks
	 * the group's leader: the driver's own node), where a replica of it
	 * is; never its log, and never forwarded (fwd.h). */
	if (r == NULL || (rk_range_reserved(range) &&
			  (range != RK_RANGE_PLACEMENT || strcmp(slash, "/snapshots") != 0))) {
		rk_api_error(resp, 404, "no such range on this node");
		return true;
	}
	if (strcmp(slash, "/snapshots") == 0)
		rk_snap_sends_json(n, range, &resp->body); /* sched_run.c reads it */
	else
		range_log(n, r, req, resp);
	return true;
}

/* ---- /metrics ------------------------------------------------------------------ */

static void hot_family(struct rk_buf *b, struct rk_node *n, enum sort_by by,
		       const char *name, const char *help)
{
	uint64_t now = uv_now(&n->loop);
	struct ranked h[METRICS_HOT];
	size_t nh = 0;
	char labels[48];

	for (size_t i = 0; i < n->tab.n; i++) {
		struct ranked c = {sort_key(n->tab.byid[i], by, now), n->tab.byid[i]};
		if (c.key > 0)
			offer(h, &nh, METRICS_HOT, c);
	}
	qsort(h, nh, sizeof(*h), cmp_ranked);
	rk_prom_family(b, name, "gauge", help);
	for (size_t i = 0; i < nh; i++) {
		snprintf(labels, sizeof(labels), "range=\"%llu\"",
			 (unsigned long long)h[i].r->range);
		rk_prom_f64(b, name, labels, h[i].key);
	}
}

void rk_api_metrics_load(struct rk_node *n, struct rk_buf *b)
{
	uint64_t now = uv_now(&n->loop);
	double w = 0, rd = 0;

	for (size_t i = 0; i < n->tab.n; i++) {
		w += rk_rate_get(&n->tab.byid[i]->load.writes, now);
		rd += rk_rate_get(&n->tab.byid[i]->load.reads, now);
	}
	rk_prom_one_f64(b, "rangekv_range_writes_per_second", "gauge",
			"Commands applied per second by this node's replicas (10 s average).",
			w);
	rk_prom_one_f64(b, "rangekv_range_reads_per_second", "gauge",
			"Reads served per second by this node's leaders (10 s average).",
			rd);
	rk_prom_one_u64(b, "rangekv_range_size_measurements_total", "counter",
			"Range sizes measured (a scan of the span off the loop).",
			n->sizes.measured);
	hot_family(b, n, BY_WRITES, "rangekv_hot_range_writes_per_second",
		   "The 5 ranges of this node applying the most commands per second.");
	hot_family(b, n, BY_READS, "rangekv_hot_range_reads_per_second",
		   "The 5 ranges this node serves the most reads of per second.");
}
