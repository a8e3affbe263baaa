/*
 * Serving reads (kv.h's rk_kv_read): GET, EXISTS and the span scans, from
 * a storage reader, against the span of the range whose read barrier the
 * caller passed.
 */
#include <inttypes.h>
#include <string.h>

#include "kv.h"
#include "kv_int.h"
#include "store.h"

struct scan_ctx {
	struct rk_buf body;
	struct rk_buf last; /* KEYS, COUNT: the last key examined */
	int mode;
	int64_t n, limit;
};

static int scan_pair(void *arg, int table, const void *k, size_t kl,
		     const void *v, size_t vl)
{
	struct scan_ctx *s = arg;

	if (table != 0)
		return 1; /* the user keys are walked first: done */
	if (s->mode != RK_KV_SCAN_COUNT)
		kv_reply_bulk(&s->body, k, kl);
	if (s->mode == RK_KV_SCAN_PAIRS)
		kv_reply_bulk(&s->body, v, vl);
	if (++s->n < s->limit)
		return 0;
	if (s->mode != RK_KV_SCAN_PAIRS) {
		rk_buf_reset(&s->last);
		rk_buf_append(&s->last, k, kl);
	}
	return 1;
}

/* The later of two starts, the earlier of two ends (empty = unbounded). */
static void clip(const uint8_t **sp, size_t *sl, const uint8_t *s2, size_t sl2,
		 const uint8_t **ep, size_t *el, const uint8_t *e2, size_t el2)
{
	if (kv_keycmp(s2, sl2, *sp, *sl) > 0) {
		*sp = s2;
		*sl = sl2;
	}
	if (el2 > 0 && (*el == 0 || kv_keycmp(e2, el2, *ep, *el) < 0)) {
		*ep = e2;
		*el = el2;
	}
}

/* The keys a GET or EXISTS names are this range's: the read barrier the
 * caller passed was this range's, and what the node holds of another
 * range may be stale (a route from before a split). */
static int read_keys_check(const struct rk_kv_cmd *c, const uint8_t *start,
			   size_t slen, const uint8_t *end, size_t elen)
{
	size_t off = 0, l;
	const uint8_t *p;

	while (rk_kv_arg_next(c, &off, &p, &l) == 0) {
		if (l == 0 || l > RK_KV_MAX_KEY)
			return RK_EPROTO;
		if (!rk_kv_in_span(p, l, start, slen, end, elen))
			return RK_ERANGE;
	}
	return 0;
}

int rk_kv_read(struct rk_store_reader *r, const struct rk_kv_cmd *c,
	       const uint8_t *start, size_t slen, const uint8_t *end,
	       size_t elen, struct rk_buf *out)
{
	size_t off = 0, kl, vl;
	const uint8_t *k;
	const void *v;
	int64_t count = 0;
	int rc;

	if ((c->op == RK_KV_GET || c->op == RK_KV_EXISTS) &&
	    (rc = read_keys_check(c, start, slen, end, elen)) != 0)
		return rc;
	switch (c->op) {
	case RK_KV_GET:
		(void)rk_kv_cmd_key(c, &k, &kl);
		rc = rk_store_get(r, k, kl, &v, &vl);
		if (rc == RK_ENOTFOUND)
			kv_reply_nil(out);
		else if (rc == 0)
			kv_reply_bulk(out, v, vl);
		return rc == RK_ENOTFOUND ? 0 : rc;
	case RK_KV_EXISTS:
		while (rk_kv_arg_next(c, &off, &k, &kl) == 0) {
			rc = rk_store_get(r, k, kl, &v, &vl);
			if (rc != 0 && rc != RK_ENOTFOUND)
				return rc;
			count += rc == 0;
		}
		kv_reply_int(out, count);
		return 0;
	case RK_KV_SCAN: {
		const uint8_t *s, *e;
		size_t sl, el;
		struct scan_ctx x;
		uint64_t applied;

		if (c->nargs != 2 || c->mode > RK_KV_SCAN_COUNT)
			return RK_EPROTO;
		(void)rk_kv_arg_next(c, &off, &s, &sl);
		(void)rk_kv_arg_next(c, &off, &e, &el);
		if (c->mode != RK_KV_SCAN_PAIRS &&
		    !rk_kv_in_span(s, sl, start, slen, end, elen))
			return RK_ERANGE;
		clip(&s, &sl, start, slen, &e, &el, end, elen);
		memset(&x, 0, sizeof(x));
		rk_buf_init(&x.body);
		rk_buf_init(&x.last);
		x.mode = c->mode;
		x.limit = c->n > 0 && c->n < RK_KV_SCAN_MAX ? c->n : RK_KV_SCAN_MAX;
		rc = 0;
		if (el == 0 || kv_keycmp(s, sl, e, el) < 0)
			rc = x.mode == RK_KV_SCAN_PAIRS ?
				rk_store_scan_span(r, 0, s, sl, e, el, scan_pair,
						   &x, &applied) :
				rk_store_scan_span_lens(r, 0, s, sl, e, el,
							scan_pair, &x, &applied);
		if (rc == 0 && x.mode == RK_KV_SCAN_PAIRS) {
			rk_buf_printf(out, "*%" PRId64 "\r\n", 2 * x.n);
			rk_buf_append(out, x.body.p, x.body.len);
		} else if (rc == 0) {
			/* next: after the last key if the limit stopped the
			 * walk, else the end of what this range answers. */
			rk_buf_printf(out, "*%" PRId64 "\r\n",
				      1 + (x.mode == RK_KV_SCAN_KEYS ? x.n : 1));
			if (x.last.len > 0) {
				rk_buf_printf(out, "$%zu\r\n", x.last.len + 1);
				rk_buf_append(out, x.last.p, x.last.len);
				rk_buf_append(out, "\0\r\n", 3);
			} else
				kv_reply_bulk(out, e, el);
			if (x.mode == RK_KV_SCAN_KEYS)
				rk_buf_append(out, x.body.p, x.body.len);
			else
				kv_reply_int(out, x.n);
		}
		if (x.body.oom || x.last.oom)
			rc = RK_ENOMEM;
		rk_buf_free(&x.body);
		rk_buf_free(&x.last);
		return rc < 0 ? rc : 0;
	}
	default:
		return RK_EPROTO;
	}
}
