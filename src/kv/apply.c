/*
 * Applying commands to a range (the reads are served by read.c).
 *
 * A ready's committed entries are applied into one storage batch that is
 * committed later, together with the rest of the group commit; until then
 * the reader does not see them. Commands later in the same ready must see
 * the earlier ones (INCR twice on one key in one batch), so every write
 * also goes into an overlay that reads consult first. The node resets the
 * overlay once the batch is committed.
 *
 * Everything here is deterministic given the entry and the committed data:
 * every replica computes the same results and the same session table.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "kv_int.h"
#include "le.h"
#include "store.h"

/* ---- replies -------------------------------------------------------------- */

void kv_reply_int(struct rk_buf *o, int64_t v)
{
	rk_buf_printf(o, ":%" PRId64 "\r\n", v);
}

void kv_reply_bulk(struct rk_buf *o, const void *p, size_t n)
{
	rk_buf_printf(o, "$%zu\r\n", n);
	rk_buf_append(o, p, n);
	rk_buf_append(o, "\r\n", 2);
}

void kv_reply_nil(struct rk_buf *o)
{
	rk_buf_append(o, "$-1\r\n", 5);
}

static void reply_err(struct rk_buf *o, const char *s)
{
	rk_buf_printf(o, "-%s\r\n", s);
}

/* ---- spans and integers ---------------------------------------------------- */

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t n = al < bl ? al : bl;
	/* An empty bound may be NULL, which memcmp must not see even for 0
	 * bytes. */
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

int kv_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return keycmp(a, al, b, bl);
}

bool rk_kv_in_span(const uint8_t *k, size_t kl, const uint8_t *start,
		   size_t slen, const uint8_t *end, size_t elen)
{
	if (slen > 0 && keycmp(k, kl, start, slen) < 0)
		return false;
	return elen == 0 || keycmp(k, kl, end, elen) < 0;
}

bool rk_kv_parse_i64(const uint8_t *p, size_t len, int64_t *vp)
{
	uint64_t v = 0, lim;
	bool neg = false;
	size_t i = 0;

	*vp = 0;
	if (len == 0 || len > 20)
		return false;
	if (p[0] == '-') {
		neg = true;
		i = 1;
		if (len == 1)
			return false;
	}
	if (p[i] == '0' && len > i + 1)
		return false; /* leading zeros, "-0..." */
	if (neg && p[i] == '0')
		return false; /* "-0" */
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (lim - (uint64_t)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*vp = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/* ---- the overlay ------------------------------------------------------------ */

struct ov_ent {
	uint8_t table; /* 0 kv, 1 internal; 0xff empty slot */
	bool del;
	bool pend; /* written by the batch being applied, not yet stored */
	const uint8_t *k, *v; /* in the arena */
	size_t kl, vl;
};

/* Copies of keys and values live in blocks that are never moved (so the
 * entries' pointers stay good) and are dropped all at once by a reset:
 * applying a write costs no malloc of its own. */
struct ov_block {
	struct ov_block *next;
	size_t used, cap;
	uint8_t data[];
};

#define OV_BLOCK (64u << 10)

/* A key a batch wrote: its copy in the arena (slots move when the
 * table grows, the arena's bytes do not). */
struct ov_pend {
	uint8_t table;
	const uint8_t *k;
	size_t kl;
};

struct rk_kv_overlay {
	struct ov_ent *t;
	size_t cap, n;
	size_t *used; /* the slots in use, to clear just those */
	size_t ucap;
	struct ov_block *blocks;
	/* While a batch (RK_KV_BATCH) is applied, writes go to the overlay
	 * only and the keys written are listed here: at its end each goes
	 * to the storage batch once, with its final value (ov_flush), so a
	 * batch of 500 INCRs of one key is one write. */
	bool defer;
	struct ov_pend *pend;
	size_t npend, pcap;
};

static uint64_t ov_hash(int table, const uint8_t *k, size_t kl)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)table;

	for (size_t i = 0; i < kl; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

static size_t ov_index(const struct rk_kv_overlay *o, int table,
		       const uint8_t *k, size_t kl)
{
	size_t i = (size_t)ov_hash(table, k, kl) & (o->cap - 1);

	for (;; i = (i + 1) & (o->cap - 1)) {
		const struct ov_ent *e = &o->t[i];
		if (e->table == 0xff ||
		    (e->table == table && e->kl == kl && memcmp(e->k, k, kl) == 0))
			return i;
	}
}

static uint8_t *ov_copy(struct rk_kv_overlay *o, const void *p, size_t n)
{
	struct ov_block *b = o->blocks;
	uint8_t *d;

	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > OV_BLOCK ? n : OV_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->next = o->blocks;
		b->used = 0;
		b->cap = cap;
		o->blocks = b;
	}
	d = b->data + b->used;
	if (n > 0)
		memcpy(d, p, n);
	b->used += n;
	return d;
}

static int ov_grow(struct rk_kv_overlay *o)
{
	size_t cap = o->cap ? 2 * o->cap : 64;
	struct ov_ent *old = o->t, *t = malloc(cap * sizeof(*t));
	size_t oldcap = o->cap, *u = realloc(o->used, cap / 2 * sizeof(*u));

	if (u != NULL)
		o->used = u;
	if (t == NULL || u == NULL) {
		free(t);
		return RK_ENOMEM;
	}
	o->ucap = cap / 2;
	for (size_t i = 0; i < cap; i++)
		t[i].table = 0xff;
	o->t = t;
	o->cap = cap;
	o->n = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].table != 0xff) {
			size_t k = ov_index(o, old[i].table, old[i].k, old[i].kl);
			o->t[k] = old[i];
			o->used[o->n++] = k;
		}
	free(old);
	return 0;
}

void kv_overlay_each(const struct rk_kv_overlay *o, kv_overlay_fn fn, void *arg)
{
	for (size_t i = 0; i < o->n; i++) {
		const struct ov_ent *e = &o->t[o->used[i]];
		fn(arg, e->table, e->del, e->k, e->kl, e->v, e->vl);
	}
}

static int ov_set(struct rk_kv_overlay *o, int table, const uint8_t *k,
		  size_t kl, const uint8_t *v, size_t vl, bool del)
{
	struct ov_ent *e;
	const uint8_t *kc, *vc;
	size_t i;

	if (2 * (o->n + 1) > o->cap && ov_grow(o) != 0)
		return RK_ENOMEM;
	if (o->defer && rk_grow((void **)&o->pend, &o->pcap, o->npend, sizeof(*o->pend)) != 0)
		return RK_ENOMEM;
	i = ov_index(o, table, k, kl);
	e = &o->t[i];
	kc = e->table == 0xff ? ov_copy(o, k, kl) : e->k;
	vc = del ? kc : ov_copy(o, v, vl);
	if (kc == NULL || vc == NULL)
		return RK_ENOMEM;
	if (e->table == 0xff) {
		o->used[o->n++] = i;
		e->pend = false;
	}
	if (o->defer && !e->pend) {
		e->pend = true;
		o->pend[o->npend++] = (struct ov_pend){(uint8_t)table, kc, kl};
	}
	e->table = (uint8_t)table;
	e->del = del;
	e->k = kc;
	e->kl = kl;
	e->v = vc;
	e->vl = del ? 0 : vl;
	return 0;
}

static void ov_clear(struct rk_kv_overlay *o)
{
	struct ov_block *b = o->blocks;

	for (size_t i = 0; i < o->n; i++)
		o->t[o->used[i]].table = 0xff;
	o->n = 0;
	o->npend = 0;
	o->defer = false;
	/* Keep one block for the next batch, drop the rest. */
	while (b != NULL && b->next != NULL) {
		struct ov_block *next = b->next;
		free(b);
		b = next;
	}
	o->blocks = b;
	if (b != NULL)
		b->used = 0;
}

int rk_kv_applier_init(struct rk_kv_applier *a)
{
	memset(a, 0, sizeof(*a));
	a->ov = calloc(1, sizeof(*a->ov));
	return a->ov == NULL ? RK_ENOMEM : 0;
}

void rk_kv_applier_reset(struct rk_kv_applier *a)
{
	if (a->ov != NULL)
		ov_clear(a->ov);
}

void rk_kv_applier_close(struct rk_kv_applier *a)
{
	if (a->ov != NULL) {
		ov_clear(a->ov);
		free(a->ov->blocks);
		free(a->ov->t);
		free(a->ov->used);
		free(a->ov->pend);
		free(a->ov);
	}
	a->ov = NULL;
}

/* The current value of key: the overlay's, else the committed one. The
 * value stays valid until the next read or write. RK_ENOTFOUND if absent. */
static int cur_get(struct rk_kv_applier *a, int table, const uint8_t *k,
		   size_t kl, const void **vp, size_t *vlp)
{
	*vp = NULL;
	*vlp = 0;
	if (a->ov->n > 0) {
		const struct ov_ent *e = &a->ov->t[ov_index(a->ov, table, k, kl)];
		if (e->table != 0xff) {
			if (e->del)
				return RK_ENOTFOUND;
			*vp = e->v;
			*vlp = e->vl;
			return 0;
		}
	}
	return table == 0 ? rk_store_get(a->reader, k, kl, vp, vlp)
			  : rk_store_internal_get(a->reader, k, kl, vp, vlp);
}

static int cur_put(struct rk_kv_applier *a, int table, const uint8_t *k,
		   size_t kl, const void *v, size_t vl)
{
	int rc = ov_set(a->ov, table, k, kl, v, vl, false);

	if (rc != 0 || a->ov->defer)
		return rc;
	if (table == 0)
		rk_store_batch_put(a->batch, k, kl, v, vl);
	else
		rk_store_batch_internal_put(a->batch, k, kl, v, vl);
	return 0;
}

static int cur_del(struct rk_kv_applier *a, const uint8_t *k, size_t kl)
{
	int rc = ov_set(a->ov, 0, k, kl, NULL, 0, true);

	if (rc == 0 && !a->ov->defer)
		rk_store_batch_del(a->batch, k, kl);
	return rc;
}

/* The end of a batch: every key it wrote goes to the storage batch once,
 * as the overlay holds it now. */
static void ov_flush(struct rk_kv_applier *a)
{
	struct rk_kv_overlay *o = a->ov;

	for (size_t i = 0; i < o->npend; i++) {
		const struct ov_pend *p = &o->pend[i];
		struct ov_ent *e = &o->t[ov_index(o, p->table, p->k, p->kl)];
		e->pend = false;
		if (e->del)
			rk_store_batch_del(a->batch, e->k, e->kl);
		else if (e->table == 0)
			rk_store_batch_put(a->batch, e->k, e->kl, e->v, e->vl);
		else
			rk_store_batch_internal_put(a->batch, e->k, e->kl, e->v, e->vl);
	}
	o->npend = 0;
	o->defer = false;
}

/* ---- the commands -------------------------------------------------------------- */

/* Key k of kl bytes now holds vl bytes: existed says whether it held
 * oldl bytes before (known: the command read it). */
static void size_set(struct rk_kv_applier *a, size_t kl, size_t vl, bool existed,
		     size_t oldl)
{
	a->size_delta += existed ? (int64_t)vl - (int64_t)oldl : (int64_t)(kl + vl);
}

/* The first key of a write outside the span: true with *kp, *klp set. */
static bool key_outside(const struct rk_kv_applier *a, const struct rk_kv_cmd *c,
			const uint8_t **kp, size_t *klp)
{
	size_t off = 0, l;
	const uint8_t *p;
	uint32_t i = 0;

	*kp = NULL;
	*klp = 0;
	while (rk_kv_key_next(c, &off, &i, &p, &l) == 0) {
		if (l > 0 && l <= RK_KV_MAX_KEY &&
		    !rk_kv_in_span(p, l, a->start, a->slen, a->end, a->elen)) {
			*kp = p;
			*klp = l;
			return true;
		}
	}
	return false;
}

/* A batch's first key outside the span, over all its commands. */
static bool batch_outside(const struct rk_kv_applier *a, const struct rk_kv_cmd *c,
			  const uint8_t **kp, size_t *klp)
{
	size_t off = 0, l;
	const uint8_t *p;
	struct rk_kv_cmd sub;

	*kp = NULL;
	*klp = 0;
	while (rk_kv_arg_next(c, &off, &p, &l) == 0)
		if (rk_kv_cmd_decode(p, l, &sub) == 0 && sub.op != RK_KV_BATCH &&
		    key_outside(a, &sub, kp, klp))
			return true;
	return false;
}

/* Every key of the command inside the span, and its shape right for op. */
static bool cmd_ok(const struct rk_kv_applier *a, const struct rk_kv_cmd *c)
{
	size_t off = 0, l;
	const uint8_t *p;
	uint32_t i = 0;
	bool key;

	switch (c->op) {
	case RK_KV_PUT:
		if (c->nargs % 2 != 0)
			return false;
		break;
	case RK_KV_CAS:
		if (c->nargs != 3)
			return false;
		break;
	case RK_KV_INCR:
	case RK_KV_SEQ:
		if (c->nargs != 1)
			return false;
		break;
	case RK_KV_DEL:
		break;
	default:
		return false;
	}
	while (rk_kv_arg_next(c, &off, &p, &l) == 0) {
		key = c->op == RK_KV_DEL || i == 0 || (c->op == RK_KV_PUT && i % 2 == 0);
		if (key && (l == 0 || l > RK_KV_MAX_KEY ||
			    !rk_kv_in_span(p, l, a->start, a->slen, a->end, a->elen)))
			return false;
		i++;
	}
	return true;
}

static int do_put(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		  struct rk_buf *o)
{
	size_t off = 0, kl, vl;
	const uint8_t *k, *v;
	const void *cur;
	size_t curl;
	int rc;

	/* The mode holds for every key (as MSETNX): one key against it and
	 * nothing is written. */
	while (c->mode != RK_KV_PUT_ALWAYS && rk_kv_arg_next(c, &off, &k, &kl) == 0 &&
	       rk_kv_arg_next(c, &off, &v, &vl) == 0) {
		rc = cur_get(a, 0, k, kl, &cur, &curl);
		if (rc != 0 && rc != RK_ENOTFOUND)
			return rc;
		if ((c->mode == RK_KV_PUT_NX) != (rc == RK_ENOTFOUND)) {
			kv_reply_nil(o);
			return 0;
		}
	}
	off = 0;
	while (rk_kv_arg_next(c, &off, &k, &kl) == 0 &&
	       rk_kv_arg_next(c, &off, &v, &vl) == 0) {
		if ((rc = cur_put(a, 0, k, kl, v, vl)) != 0)
			return rc;
		/* NX: every key was absent. Otherwise the old value was not
		 * kept (XX) or not read (a plain SET: reading it would cost
		 * every SET a store read): counted as new, and unsure. */
		size_set(a, kl, vl, false, 0);
		if (c->mode != RK_KV_PUT_NX)
			a->size_unsure += kl + vl;
	}
	rk_buf_append(o, "+OK\r\n", 5);
	return 0;
}

static int do_del(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		  struct rk_buf *o)
{
	size_t off = 0, kl, curl;
	const uint8_t *k;
	const void *cur;
	int64_t count = 0;
	int rc;

	while (rk_kv_arg_next(c, &off, &k, &kl) == 0) {
		rc = cur_get(a, 0, k, kl, &cur, &curl);
		if (rc == RK_ENOTFOUND)
			continue;
		if (rc != 0 || (rc = cur_del(a, k, kl)) != 0)
			return rc;
		a->size_delta -= (int64_t)(kl + curl);
		count++;
	}
	kv_reply_int(o, count);
	return 0;
}

static int do_cas(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		  struct rk_buf *o)
{
	size_t off = 0, kl, el, nl, curl;
	const uint8_t *k, *e, *nv;
	const void *cur;
	bool existed;
	int rc;

	(void)rk_kv_arg_next(c, &off, &k, &kl);
	(void)rk_kv_arg_next(c, &off, &e, &el);
	(void)rk_kv_arg_next(c, &off, &nv, &nl);
	rc = cur_get(a, 0, k, kl, &cur, &curl);
	if (rc != 0 && rc != RK_ENOTFOUND)
		return rc;
	existed = rc == 0;
	/* A missing key compares equal to the empty string. */
	if (curl != el || (el > 0 && memcmp(cur, e, el) != 0)) {
		kv_reply_int(o, 0);
		return 0;
	}
	if ((rc = cur_put(a, 0, k, kl, nv, nl)) != 0)
		return rc;
	size_set(a, kl, nl, existed, curl);
	kv_reply_int(o, 1);
	return 0;
}

static int do_incr(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		   struct rk_buf *o)
{
	size_t kl, curl;
	const uint8_t *k;
	const void *cur;
	int64_t v = 0;
	char num[24];
	bool existed;
	int rc, len;

	(void)rk_kv_cmd_key(c, &k, &kl);
	rc = cur_get(a, 0, k, kl, &cur, &curl);
	if (rc != 0 && rc != RK_ENOTFOUND)
		return rc;
	existed = rc == 0;
	if (rc == 0 && !rk_kv_parse_i64(cur, curl, &v)) {
		reply_err(o, "ERR value is not an integer or out of range");
		return 0;
	}
	if ((c->n > 0 && v > INT64_MAX - c->n) || (c->n < 0 && v < INT64_MIN - c->n)) {
		reply_err(o, "ERR increment or decrement would overflow");
		return 0;
	}
	v += c->n;
	len = snprintf(num, sizeof(num), "%" PRId64, v);
	if ((rc = cur_put(a, 0, k, kl, num, (size_t)len)) != 0)
		return rc;
	size_set(a, kl, (size_t)len, existed, curl);
	kv_reply_int(o, v);
	return 0;
}

/* A sequence is the internal row name -> last id handed out (u64 LE). */
static int do_seq(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		  struct rk_buf *o)
{
	size_t kl, curl;
	const uint8_t *k;
	const void *cur;
	uint64_t last = 0;
	uint8_t enc[8];
	int rc;

	if (c->n < 1 || c->n > RK_KV_MAX_SEQ_COUNT) {
		reply_err(o, "ERR count must be between 1 and 1000000");
		return 0;
	}
	(void)rk_kv_cmd_key(c, &k, &kl);
	rc = cur_get(a, 1, k, kl, &cur, &curl);
	if (rc != 0 && rc != RK_ENOTFOUND)
		return rc;
	if (rc == 0) {
		if (curl != 8)
			return RK_ECORRUPT;
		for (int i = 7; i >= 0; i--)
			last = (last << 8) | ((const uint8_t *)cur)[i];
	}
	if (last > (uint64_t)INT64_MAX - (uint64_t)c->n) {
		reply_err(o, "ERR sequence exhausted");
		return 0;
	}
	for (int i = 0; i < 8; i++)
		enc[i] = (uint8_t)((last + (uint64_t)c->n) >> (8 * i));
	if ((rc = cur_put(a, 1, k, kl, enc, 8)) != 0)
		return rc;
	kv_reply_int(o, (int64_t)last + 1);
	return 0;
}

static int run_batch(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		     struct rk_buf *o);

static int run_cmd(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		   struct rk_buf *o)
{
	if (c->op == RK_KV_BATCH)
		return run_batch(a, c, o);
	if (!cmd_ok(a, c)) {
		reply_err(o, "ERR key outside this range or malformed command");
		return 0;
	}
	switch (c->op) {
	case RK_KV_PUT:
		return do_put(a, c, o);
	case RK_KV_DEL:
		return do_del(a, c, o);
	case RK_KV_CAS:
		return do_cas(a, c, o);
	case RK_KV_INCR:
		return do_incr(a, c, o);
	default:
		return do_seq(a, c, o);
	}
}

/* The commands of a batch in order, each one's reply framed (u32 length,
 * bytes) after a "B". A command that is malformed, a read or a batch gets
 * an error of its own; the others are applied as they would be alone.
 * Their writes reach the storage batch once per key, at the end. */
static int run_batch(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		     struct rk_buf *o)
{
	size_t off = 0, l, at;
	const uint8_t *p;
	struct rk_kv_cmd sub;
	int rc = 0;

	rk_buf_putc(o, 'B');
	a->ov->defer = true;
	while (rc == 0 && rk_kv_arg_next(c, &off, &p, &l) == 0) {
		at = o->len;
		rk_buf_append(o, "\0\0\0\0", 4);
		if (rk_kv_cmd_decode(p, l, &sub) != 0 || rk_kv_op_is_read(sub.op) ||
		    sub.op == RK_KV_BATCH || sub.op == RK_KV_CHECK ||
		    sub.op == RK_KV_SPLIT || rk_kv_op_is_merge(sub.op) ||
		    sub.session != 0)
			reply_err(o, "ERR malformed command in a batch");
		else
			rc = run_cmd(a, &sub, o);
		if (!o->oom)
			rk_le_put32((uint8_t *)o->p + at, (uint32_t)(o->len - at - 4));
	}
	/* Even after an error: what is in the overlay must not stay unstored
	 * (the caller fails the whole apply then, as for any command). */
	ov_flush(a);
	return rc;
}

/* ---- sessions ----------------------------------------------------------------- */

static struct rk_kv_session *session_get(struct rk_kv_sessions *s, uint64_t id)
{
	struct rk_kv_session *x;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].id == id)
			return &s->v[i];
	if (rk_grow((void **)&s->v, &s->cap, s->n, sizeof(*s->v)) != 0)
		return NULL;
	x = &s->v[s->n++];
	memset(x, 0, sizeof(*x));
	x->id = id;
	x->last_ms = s->now_ms;
	return x;
}

static void session_prune(struct rk_kv_session *x)
{
	size_t j = 0;

	for (size_t i = 0; i < x->n; i++) {
		if (x->recs[i].seq < x->first_incomplete)
			free(x->recs[i].resp);
		else
			x->recs[j++] = x->recs[i];
	}
	x->n = j;
}

static void sessions_expire(struct rk_kv_sessions *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct rk_kv_session *x = &s->v[i];
		if (x->last_ms + RK_KV_SESSION_TTL_MS < s->now_ms) {
			/* Every record goes, the one at seq UINT64_MAX too
			 * (a prune below UINT64_MAX would keep it). */
			for (size_t r = 0; r < x->n; r++)
				free(x->recs[r].resp);
			free(x->recs);
		} else {
			s->v[j++] = *x;
		}
	}
	s->n = j;
}

static int session_record(struct rk_kv_session *x, uint64_t seq,
			  const void *resp, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (copy == NULL ||
	    rk_grow((void **)&x->recs, &x->cap, x->n, sizeof(*x->recs)) != 0) {
		free(copy);
		return RK_ENOMEM;
	}
	memcpy(copy, resp, len);
	x->recs[x->n].seq = seq;
	x->recs[x->n].resp = copy;
	x->recs[x->n].len = (uint32_t)len;
	x->n++;
	return 0;
}

/* Why a stamp cannot run ahead of real time: the origin's base is a clock
 * value this replica has applied (a stamp already in the log), and the
 * stamp adds only what this node's monotonic clock measured after it had
 * applied it. Moving the origin up to a later applied value (applied_ms
 * beyond the stamp) starts measuring from now, so no interval is counted
 * twice. */
uint64_t rk_kv_clock_stamp(struct rk_kv_clock *c, uint64_t term,
			   uint64_t applied_ms, uint64_t local_ms)
{
	if (!c->started || c->term != term || local_ms < c->origin_ms ||
	    applied_ms > c->base_ms + (local_ms - c->origin_ms)) {
		c->started = true;
		c->term = term;
		c->base_ms = applied_ms;
		c->origin_ms = local_ms;
	}
	return c->base_ms + (local_ms - c->origin_ms);
}

/* ---- entries ------------------------------------------------------------------- */

struct apply_ctx {
	struct rk_kv_applier *a;
	rk_kv_result_fn fn;
	void *arg;
	struct rk_buf out;
};

static int apply_one(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct apply_ctx *x = arg;
	struct rk_kv_applier *a = x->a;
	struct rk_kv_session *s = NULL;
	int rc;

	rk_buf_reset(&x->out);
	if (c->op == RK_KV_CHECK) {
		/* Changes nothing, records nothing: every replica answers
		 * alike whether or not it computes the checksum. */
		if (a->check != NULL && (rc = a->check(a->check_arg, c)) != 0)
			return rc;
		rk_buf_append(&x->out, "+OK\r\n", 5);
		goto done;
	}
	if (c->op == RK_KV_SPLIT) {
		struct rk_kv_split sp;
		int refused = RK_ESTATE;

		/* Like CHECK, never in a session: a client cannot send it. */
		if (a->sessions->frozen != 0) { /* the range is merged away */
			kv_reply_refused(&x->out, "split", RK_ESTATE);
			goto done;
		}
		if (rk_kv_split_decode(c, &sp) != 0) {
			reply_err(&x->out, "ERR malformed split");
			goto done;
		}
		if (a->split != NULL &&
		    (rc = a->split(a->split_arg, &sp, &refused)) != 0)
			return rc;
		if (refused == 0) {
			rk_buf_append(&x->out, "+OK\r\n", 5);
		} else {
			kv_reply_refused(&x->out, "split", refused);
		}
		goto done;
	}
	if (rk_kv_op_is_merge(c->op)) {
		if ((rc = kv_apply_merge(a, c, &x->out)) != 0)
			return rc;
		goto done;
	}
	if (a->sessions->frozen != 0) {
		/* Before the session lookup: nothing of a frozen range
		 * changes, its sessions included (a retry answered from
		 * its record here is answered alike on the merged left). */
		if (a->frozen != NULL) {
			a->frozen(x->arg, no);
			return 0;
		}
		rk_buf_append(&x->out, RK_KV_FROZEN_REPLY, strlen(RK_KV_FROZEN_REPLY));
		goto done;
	}
	if (rk_kv_op_is_read(c->op)) {
		reply_err(&x->out, "ERR a read in the log");
		goto done;
	}
	if (c->session != 0) {
		s = session_get(a->sessions, c->session);
		if (s == NULL)
			return RK_ENOMEM;
		s->last_ms = a->sessions->now_ms;
		if (c->first_incomplete > s->first_incomplete &&
		    a->sessions->now_ms >= a->sessions->marks_held_until) {
			s->first_incomplete = c->first_incomplete;
			session_prune(s);
		}
		if (c->seq < s->first_incomplete) {
			/* Answered already: the client no longer waits. */
			a->dups++;
			a->dup_session = c->session;
			a->dup_seq = c->seq;
			a->dup_first = s->first_incomplete;
			rk_buf_append(&x->out, RK_KV_DUPLICATE_REPLY,
				      strlen(RK_KV_DUPLICATE_REPLY));
			goto done;
		}
		for (size_t i = 0; i < s->n; i++)
			if (s->recs[i].seq == c->seq) {
				x->fn(x->arg, no, s->recs[i].resp, s->recs[i].len);
				return 0;
			}
	}
	if (a->fault != NULL && (rc = a->fault(a->fault_arg)) != 0)
		return rc;
	{
		const uint8_t *k;
		size_t kl;
		if (c->op == RK_KV_BATCH ? batch_outside(a, c, &k, &kl)
					 : key_outside(a, c, &k, &kl)) {
			if (a->outside != NULL) {
				a->outside(x->arg, no, k, kl);
				return 0;
			}
			reply_err(&x->out, "ERR key outside this range");
			goto done;
		}
	}
	rc = run_cmd(a, c, &x->out);
	if (rc != 0)
		return rc;
	if (s != NULL && (rc = session_record(s, c->seq, x->out.p, x->out.len)) != 0)
		return rc;
done:
	if (x->out.oom)
		return RK_ENOMEM;
	x->fn(x->arg, no, (const uint8_t *)x->out.p, x->out.len);
	return 0;
}

int rk_kv_apply_entry(struct rk_kv_applier *a, const uint8_t *data, size_t len,
		      rk_kv_result_fn fn, void *arg)
{
	struct apply_ctx x = {a, fn, arg, {0}};
	uint64_t ts;
	int rc;

	rk_buf_init(&x.out);
	rc = rk_kv_entry_walk(data, len, &ts, NULL, NULL);
	if (rc == 0) {
		if (ts > a->sessions->now_ms)
			a->sessions->now_ms = ts;
		sessions_expire(a->sessions);
		rc = rk_kv_entry_walk(data, len, &ts, apply_one, &x);
	}
	rk_buf_free(&x.out);
	return rc;
}
