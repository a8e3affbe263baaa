/*
 * The placement index read from any node (pindex.h).
 */
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "group.h"
#include "key.h"
#include "log.h"
#include "node_int.h"
#include "peer.h"
#include "pindex.h"
#include "plc.h"
#include "serve.h"

#define MOD "placement"

struct pix_call {
	struct pix_call *next;
	uint64_t id;
	uint8_t op; /* RK_PL_CMD_READ or RK_PL_CMD_LOOKUP */
	uint64_t after;
	uint32_t limit;
	uint64_t range; /* LOOKUP: the guessed entry it confirms, 0 none */
	uint8_t *key;
	size_t klen;
	rk_pix_page_cb cb; /* READ */
	void *arg;
	uint64_t started_ms, sent_ms, to;
	bool local; /* answered by this node's replica on the next turn */
};

/* A reported descriptor, for lookups by key. */
struct pix_keyed {
	struct rk_desc d;
};

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

/* ---- serving, on a replica of the group --------------------------------------------- */

static const struct rk_boot_layout *layout(struct rk_node *n)
{
	struct rk_pix *x = &n->pix;

	if (!x->layout_tried) {
		x->layout_tried = true;
		if (rk_boot_layout_open(n, &x->layout) != 0)
			x->layout = NULL; /* no initial ranges to imply */
	}
	return x->layout;
}

struct page_walk {
	struct rk_node *n;
	struct rk_pl_page_enc *e;
	uint32_t limit;
	uint64_t cursor; /* the next implicit id to consider */
	uint64_t n_init; /* the initial ranges (implicit until reported) */
	uint64_t last;   /* the last id put in the page */
	int rc;
};

/* The implicit entries (first-start descriptors never reported) from the
 * cursor up to below `upto`. */
static bool put_implicit(struct page_walk *w, uint64_t upto)
{
	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	struct rk_desc d;

	for (; w->cursor < upto && w->cursor <= w->n_init; w->cursor++) {
		if (rk_pl_page_full(w->e, w->limit))
			return false;
		rk_boot_layout_desc(w->n->pix.layout, w->cursor, reps, &d);
		if ((w->rc = rk_pl_page_add(w->e, &d)) != 0)
			return false;
		w->last = w->cursor;
	}
	return true;
}

static int page_desc(void *arg, const struct rk_desc *d)
{
	struct page_walk *w = arg;

	if (!put_implicit(w, d->range_id))
		return 1;
	w->cursor = d->range_id + 1; /* reported: its row stands for it */
	/* A range that is gone (no replicas) tiles nothing. */
	if (d->n_reps == 0 || d->v1 || rk_range_reserved(d->range_id))
		return 0;
	if (rk_pl_page_full(w->e, w->limit))
		return 1;
	if ((w->rc = rk_pl_page_add(w->e, d)) != 0)
		return 1;
	w->last = d->range_id;
	return 0;
}

/* A READ answered from this node's replica of the group, into out. */
static void serve_read(struct rk_node *n, uint64_t after, uint32_t limit, struct rk_buf *out)
{
	struct rk_pl_page_enc e;
	struct page_walk w = {n, &e, limit, after + 1, 0, 0, 0};
	int rc;

	(void)rk_pl_page_begin(&e, out, 0);
	if (after >= RK_RANGE_RESERVED_FIRST) {
		rk_pl_page_end(&e, 0); /* no user range there */
		return;
	}
	if (layout(n) != NULL && rk_pl_read_initial(n->reader, &w.n_init) != 0)
		w.n_init = 0;
	if (n->pix.layout == NULL)
		w.n_init = 0;
	else if (w.n_init > rk_boot_layout_ranges(n->pix.layout))
		w.n_init = rk_boot_layout_ranges(n->pix.layout); /* never past the layout */
	rc = rk_pl_walk(n->reader, after, page_desc, &w);
	if (rc >= 0 && w.rc == 0)
		(void)put_implicit(&w, UINT64_MAX);
	if (rc < 0 || w.rc != 0) {
		rk_buf_reset(out);
		(void)rk_pl_page_begin(&e, out, rc < 0 ? rc : w.rc);
		rk_pl_page_end(&e, 0);
		return;
	}
	/* Full: there may be more after the last one. */
	rk_pl_page_end(&e, rk_pl_page_full(&e, limit) ? w.last : 0);
}

static void keyed_free(struct rk_pix *x)
{
	for (size_t i = 0; i < x->n_keyed; i++)
		rk_desc_free(&x->keyed[i].d);
	free(x->keyed);
	x->keyed = NULL;
	x->n_keyed = x->cap_keyed = 0;
	x->keyed_ok = false;
}

static int keyed_put(void *arg, const struct rk_desc *d)
{
	struct rk_pix *x = arg;

	if (d->n_reps == 0 || d->v1 || rk_range_reserved(d->range_id))
		return 0;
	if (rk_grow((void **)&x->keyed, &x->cap_keyed, x->n_keyed, sizeof(*x->keyed)) != 0)
		return RK_ENOMEM;
	memset(&x->keyed[x->n_keyed].d, 0, sizeof(struct rk_desc));
	if (rk_desc_copy(&x->keyed[x->n_keyed].d, d) != 0)
		return RK_ENOMEM;
	x->n_keyed++;
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct rk_desc *x = &((const struct pix_keyed *)a)->d;
	const struct rk_desc *y = &((const struct pix_keyed *)b)->d;

	return rk_key_cmp(x->start, x->slen, y->start, y->slen);
}

/* The reported descriptors by start key, as of the replica's applied
 * index: rebuilt (one walk of the group's table) when it has applied
 * more, so a lookup costs a binary search between changes. */
static int keyed_fresh(struct rk_node *n, struct rk_replica *r)
{
	struct rk_pix *x = &n->pix;
	int rc;

	if (x->keyed_ok && x->keyed_at == r->applied)
		return 0;
	keyed_free(x);
	rc = rk_pl_walk(n->reader, 0, keyed_put, x);
	if (rc < 0) {
		keyed_free(x);
		return rc;
	}
	if (x->n_keyed > 1)
		qsort(x->keyed, x->n_keyed, sizeof(*x->keyed), by_start);
	x->keyed_at = r->applied;
	x->keyed_ok = true;
	return 0;
}

static bool holds(const struct rk_desc *d, const uint8_t *key, size_t klen)
{
	return rk_key_cmp(d->start, d->slen, key, klen) <= 0 &&
	       (d->elen == 0 || rk_key_cmp(key, klen, d->end, d->elen) < 0);
}

/* Whether range has a reported row (its implicit entry no longer holds). */
static bool reported(struct rk_node *n, uint64_t range)
{
	struct rk_desc d;
	bool yes;

	memset(&d, 0, sizeof(d));
	yes = rk_pl_read_desc(n->reader, range, &d) != RK_ENOTFOUND;
	rk_desc_free(&d);
	return yes;
}

/* A LOOKUP answered from this node's replica, into out: the reported
 * descriptor holding the key, else the implicit one if its range was
 * never reported. */
static void serve_lookup(struct rk_node *n, struct rk_replica *r, const uint8_t *key,
			 size_t klen, struct rk_buf *out)
{
	struct rk_pix *x = &n->pix;
	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	const struct rk_desc *found = NULL;
	struct rk_pl_page_enc e;
	struct rk_desc init;
	uint64_t n_init = 0;
	int rc = keyed_fresh(n, r);

	if (rc == 0) {
		size_t lo = 0, hi = x->n_keyed;

		/* The last one starting at or before the key; a few before it
		 * too, should a stale row overlap (a range gone since). */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (rk_key_cmp(x->keyed[mid].d.start, x->keyed[mid].d.slen, key, klen) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo, k = 0; i > 0 && k < 16 && found == NULL; i--, k++)
			if (holds(&x->keyed[i - 1].d, key, klen))
				found = &x->keyed[i - 1].d;
		if (found == NULL && layout(n) != NULL &&
		    rk_pl_read_initial(n->reader, &n_init) == 0) {
			uint64_t id = rk_boot_layout_find(x->layout, key, klen);
			if (id <= n_init && !reported(n, id)) {
				rk_boot_layout_desc(x->layout, id, reps, &init);
				found = &init;
			}
		}
	}
	(void)rk_pl_page_begin(&e, out, rc < 0 ? rc : 0);
	if (found != NULL && rk_pl_page_add(&e, found) != 0) {
		rk_buf_reset(out);
		(void)rk_pl_page_begin(&e, out, RK_ENOMEM);
	}
	rk_pl_page_end(&e, 0);
}

/* This node's replica of the group when it can answer a query. */
static struct rk_replica *serving_replica(struct rk_node *n)
{
	struct rk_replica *r = rk_plc_replica(n);

	return r != NULL && !r->installing ? r : NULL;
}

static void serve_query(struct rk_node *n, struct rk_replica *r, const struct rk_pl_query *q,
			struct rk_buf *out)
{
	n->pix.served++;
	if (q->op == RK_PL_CMD_READ)
		serve_read(n, q->after, q->limit, out);
	else
		serve_lookup(n, r, q->key, q->klen, out);
}

bool rk_pix_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req)
{
	struct rk_pl_query q;
	struct rk_replica *r;
	struct rk_buf out;

	if (req->len == 0 || (req->cmd[0] != RK_PL_CMD_READ && req->cmd[0] != RK_PL_CMD_LOOKUP))
		return false;
	/* A query names its sender and this request, as the commands do. */
	if (rk_pl_query_decode(req->cmd, req->len, &q) != 0 || q.origin != origin ||
	    q.token != req->id) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, NULL, 0);
		return true;
	}
	r = serving_replica(n);
	if (r == NULL) {
		/* No replica here (the group moved): where it may be. */
		uint64_t hint = n->plc.leader_hint;
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_NOT_LEADER,
				hint != n->cfg.node_id ? hint : 0, NULL, 0);
		return true;
	}
	rk_buf_init(&out);
	serve_query(n, r, &q, &out);
	if (out.oom)
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
	else
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_OK, 0, out.p, out.len);
	rk_buf_free(&out);
	rk_process_kick(n); /* the answer leaves this turn, not at the next tick */
	return true;
}

/* ---- asking ---------------------------------------------------------------------- */

static void call_unlink(struct rk_node *n, struct pix_call *c)
{
	struct pix_call **pp = &n->pix.calls;

	while (*pp != NULL && *pp != c)
		pp = &(*pp)->next;
	if (*pp == c)
		*pp = c->next;
}

/* A LOOKUP's descriptor into the range cache; the guessed entry it was
 * about stops being a guess either way (one lookup per guess). */
static void lookup_learn(struct rk_node *n, struct pix_call *c, const struct rk_pl_page *pg)
{
	struct rk_rcache_entry *e;

	for (size_t i = 0; pg != NULL && i < pg->n; i++) {
		rk_serve_learn_desc(n, &pg->descs[i]);
		if ((e = rk_rcache_get(&n->rcache, pg->descs[i].range_id)) != NULL)
			e->guess = false;
	}
	if (c->range != 0 && (e = rk_rcache_get(&n->rcache, c->range)) != NULL)
		e->guess = false;
}

/* Ends c: its caller gets rc and pg. */
static void call_finish(struct rk_node *n, struct pix_call *c, int rc, struct rk_pl_page *pg)
{
	call_unlink(n, c);
	if (c->op == RK_PL_CMD_LOOKUP) {
		n->pix.lookups_inflight--;
		lookup_learn(n, c, rc == 0 ? pg : NULL);
		if (n->router != NULL)
			rk_client_router_wake(n->router);
	} else {
		c->cb(c->arg, rc, pg);
	}
	free(c->key);
	free(c);
}

static int encode(struct rk_node *n, const struct pix_call *c, struct rk_buf *b)
{
	return c->op == RK_PL_CMD_READ
		       ? rk_pl_encode_read(b, n->cfg.node_id, c->id, c->after, c->limit)
		       : rk_pl_encode_lookup(b, n->cfg.node_id, c->id, c->key, c->klen);
}

/* The next replica to ask: the group's leader as known, else its nodes
 * in turn, and the other peers, which answer with a hint (never this
 * node: its own replica answers locally). */
static uint64_t next_target(struct rk_node *n, uint64_t not)
{
	struct rk_plc *p = &n->plc;

	if (p->leader_hint != 0 && p->leader_hint != n->cfg.node_id && p->leader_hint != not)
		return p->leader_hint;
	return rk_plc_next_node(n, not);
}

static void call_send(struct rk_node *n, struct pix_call *c, uint64_t to)
{
	struct rk_peer *p;
	struct rk_net_req req;
	struct rk_buf b;

	c->sent_ms = now_ms(n);
	c->to = to;
	if (to == 0 || (p = rk_peer_find(n, to)) == NULL)
		return; /* the retry tries another */
	rk_buf_init(&b);
	if (encode(n, c, &b) == 0) {
		memset(&req, 0, sizeof(req));
		req.id = c->id;
		req.range = RK_RANGE_PLACEMENT;
		req.cmd = (const uint8_t *)b.p;
		req.len = b.len;
		rk_net_batch_add_req(&p->batch, &req);
		rk_process_kick(n);
	}
	rk_buf_free(&b);
}

/* Whether this node's own replica answers (not with the test hook). */
static struct rk_replica *local_replica(struct rk_node *n)
{
	return n->pix.remote_only ? NULL : serving_replica(n);
}

/* Answers c from this node's replica. */
static void call_local(struct rk_node *n, struct pix_call *c, struct rk_replica *r)
{
	struct rk_pl_query q = {c->op, n->cfg.node_id, c->id, c->after, c->limit, c->key, c->klen};
	struct rk_pl_page pg = {0};
	struct rk_buf out;
	int rc;

	rk_buf_init(&out);
	serve_query(n, r, &q, &out);
	rc = out.oom ? RK_ENOMEM : rk_pl_page_decode((const uint8_t *)out.p, out.len, &pg);
	if (rc == 0 && pg.rc != 0)
		rc = pg.rc;
	call_finish(n, c, rc, rc == 0 ? &pg : NULL);
	rk_pl_page_free(&pg);
	rk_buf_free(&out);
}

int rk_pix_read_now(struct rk_node *n, uint64_t after, uint32_t limit, struct rk_pl_page *pgp)
{
	struct rk_replica *r = local_replica(n);
	struct rk_pl_query q = {RK_PL_CMD_READ, n->cfg.node_id, 0, after, limit, NULL, 0};
	struct rk_buf out;
	int rc;

	memset(pgp, 0, sizeof(*pgp));
	if (r == NULL)
		return RK_ENOTFOUND;
	if (q.limit == 0 || q.limit > RK_PL_PAGE_MAX)
		q.limit = RK_PL_PAGE_MAX;
	n->pix.reads++;
	rk_buf_init(&out);
	serve_query(n, r, &q, &out);
	rc = out.oom ? RK_ENOMEM : rk_pl_page_decode((const uint8_t *)out.p, out.len, pgp);
	if (rc == 0 && pgp->rc != 0) {
		rc = pgp->rc;
		rk_pl_page_free(pgp);
	}
	rk_buf_free(&out);
	return rc;
}

static void on_local(uv_timer_t *t)
{
	struct rk_node *n = t->data;
	struct pix_call *c;

	/* One at a time from the head: a callback may start more calls. */
	for (;;) {
		struct rk_replica *r = local_replica(n);

		for (c = n->pix.calls; c != NULL && !c->local; c = c->next)
			;
		if (c == NULL)
			return;
		if (r == NULL) {
			c->local = false; /* lost meanwhile: ask elsewhere */
			call_send(n, c, next_target(n, 0));
			continue;
		}
		call_local(n, c, r);
	}
}

static int call_new(struct rk_node *n, uint8_t op, struct pix_call **cp)
{
	struct pix_call *c;

	*cp = NULL;
	if (n->plc.n_nodes == 0)
		return RK_ESTATE;
	if (n->stopping)
		return RK_ESTOPPED;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return RK_ENOMEM;
	c->op = op;
	c->id = RK_PIX_REQ_BITS | ++n->pix.next_req;
	c->started_ms = now_ms(n);
	*cp = c;
	return 0;
}

static void call_start(struct rk_node *n, struct pix_call *c)
{
	struct rk_pix *x = &n->pix;

	c->next = x->calls;
	x->calls = c;
	if (local_replica(n) != NULL) {
		/* Answered on the next loop turn: never inside the caller. */
		if (x->timer.data == NULL) {
			uv_timer_init(&n->loop, &x->timer);
			x->timer.data = n;
		}
		c->local = true;
		uv_timer_start(&x->timer, on_local, 0, 0);
		return;
	}
	call_send(n, c, next_target(n, 0));
}

int rk_pix_read(struct rk_node *n, uint64_t after, uint32_t limit, rk_pix_page_cb cb,
		void *arg)
{
	struct pix_call *c;
	int rc = call_new(n, RK_PL_CMD_READ, &c);

	if (rc != 0)
		return rc;
	c->after = after;
	c->limit = limit == 0 || limit > RK_PL_PAGE_MAX ? RK_PL_PAGE_MAX : limit;
	c->cb = cb;
	c->arg = arg;
	n->pix.reads++;
	call_start(n, c);
	return 0;
}

int rk_pix_router_lookup(struct rk_node *n, uint64_t range, bool need, const uint8_t *key,
			 size_t klen)
{
	struct rk_rcache_entry *e = range != 0 ? rk_rcache_get(&n->rcache, range) : NULL;
	struct rk_replica *r;
	struct pix_call *c;

	if (!need && (e == NULL || !e->guess))
		return RK_CLIENT_LOOKUP_NONE;
	if (n->plc.n_nodes == 0 || n->stopping)
		return RK_CLIENT_LOOKUP_NONE;
	r = local_replica(n);
	if (r != NULL) {
		/* This node's replica: answered now (a binary search). */
		struct rk_pl_page pg;
		struct rk_buf out;

		rk_buf_init(&out);
		n->pix.lookups++;
		serve_lookup(n, r, key, klen, &out);
		if (!out.oom && rk_pl_page_decode((const uint8_t *)out.p, out.len, &pg) == 0) {
			struct pix_call tmp = {0};
			tmp.range = need ? 0 : range;
			lookup_learn(n, &tmp, pg.rc == 0 ? &pg : NULL);
			rk_pl_page_free(&pg);
		}
		rk_buf_free(&out);
		return RK_CLIENT_LOOKUP_DONE;
	}
	/* The group did not answer lately: no operation waits for it. */
	if (now_ms(n) < n->pix.quiet_until)
		return RK_CLIENT_LOOKUP_NONE;
	/* One lookup per guessed range in flight; the others wait for it. */
	if (!need)
		for (c = n->pix.calls; c != NULL; c = c->next)
			if (c->op == RK_PL_CMD_LOOKUP && c->range == range)
				return RK_CLIENT_LOOKUP_WAIT;
	if (n->pix.lookups_inflight >= RK_PIX_MAX_LOOKUPS ||
	    call_new(n, RK_PL_CMD_LOOKUP, &c) != 0)
		return RK_CLIENT_LOOKUP_NONE;
	if (klen > 0 && (c->key = malloc(klen)) == NULL) {
		free(c);
		return RK_CLIENT_LOOKUP_NONE;
	}
	if (klen > 0)
		memcpy(c->key, key, klen);
	c->klen = klen;
	c->range = need ? 0 : range;
	n->pix.lookups++;
	n->pix.lookups_inflight++;
	call_start(n, c);
	return RK_CLIENT_LOOKUP_WAIT;
}

void rk_pix_on_resp(struct rk_node *n, const struct rk_net_resp *resp)
{
	struct pix_call *c;
	struct rk_pl_page pg;

	for (c = n->pix.calls; c != NULL && c->id != resp->id; c = c->next)
		;
	if (c == NULL || c->local)
		return; /* finished already (a late answer of a retried call) */
	if (resp->status == RK_NET_RESP_OK &&
	    rk_pl_page_decode(resp->reply, resp->len, &pg) == 0) {
		if (pg.rc != RK_EUNAVAILABLE) {
			n->pix.quiet_until = 0; /* a replica answers again */
			call_finish(n, c, pg.rc, pg.rc == 0 ? &pg : NULL);
			rk_pl_page_free(&pg);
			return;
		}
		rk_pl_page_free(&pg);
	}
	/* Not answered there: the hint, else the next of the group. */
	if (resp->status == RK_NET_RESP_NOT_LEADER && resp->leader != 0 &&
	    resp->leader != n->cfg.node_id && resp->leader != c->to)
		call_send(n, c, resp->leader);
	else
		call_send(n, c, next_target(n, c->to));
}

void rk_pix_tick(struct rk_node *n)
{
	uint64_t now = now_ms(n);
	struct pix_call *c, *next;

	for (c = n->pix.calls; c != NULL; c = next) {
		next = c->next;
		if (c->local)
			continue;
		if (now - c->started_ms >= RK_PIX_CALL_MS) {
			n->pix.timeouts++;
			n->pix.quiet_until = now + RK_PIX_QUIET_MS;
			call_finish(n, c, RK_ETIMEDOUT, NULL);
			next = n->pix.calls; /* the callback may have changed the list */
			continue;
		}
		if (now - c->sent_ms >= RK_PIX_RETRY_MS)
			call_send(n, c, next_target(n, c->to));
	}
}

static void timer_closed(uv_handle_t *h)
{
	(void)h;
}

void rk_pix_close(struct rk_node *n)
{
	struct rk_pix *x = &n->pix;

	while (x->calls != NULL)
		call_finish(n, x->calls, RK_ESTOPPED, NULL);
	if (x->timer.data != NULL)
		uv_close((uv_handle_t *)&x->timer, timer_closed);
	keyed_free(x);
	rk_boot_layout_close(x->layout);
	x->layout = NULL;
}
