/*
 * rk_kv against its contract (src/kv/kv.h): the byte encodings of commands,
 * entries and the session table, and their refusal of truncated, extended
 * and damaged bytes; integers and spans at their edges; every command
 * applied into real storage batches (WiredTiger in a temporary directory),
 * with the overlay that lets a batch see its own writes; reads; and the
 * sessions that make a retried write apply exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "store.h"
#include "util.h" /* tests/storage: temporary directories, store_open_at */

/* The layouts of kv.h, read independently of cmd.c. */
#define CMD_HDR (1 + 1 + 8 + 8 + 8 + 8 + 4)
#define ENTRY_HDR (1 + 8 + 4)
#define SESS_HDR (1 + 8 + 4)

#define DAMAGE_ROUNDS 100000

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- building commands and entries ----------------------------------------- */

#define MAXA 12

/* A command with string arguments (a[] ends at the first NULL). */
struct spec {
	uint8_t op, mode;
	int64_t n;
	uint64_t session, seq, fi;
	const char *a[MAXA];
};
#define C(...) ((struct spec){__VA_ARGS__})
#define SPECS(...)                                                         \
	(const struct spec[]){__VA_ARGS__},                                \
		sizeof((const struct spec[]){__VA_ARGS__}) / sizeof(struct spec)

static void encode_cmd(struct rk_buf *b, const struct spec *s)
{
	struct rk_kv_cmd c = {.op = s->op,
			      .mode = s->mode,
			      .session = s->session,
			      .seq = s->seq,
			      .first_incomplete = s->fi,
			      .n = s->n};
	size_t start = b->len;
	uint32_t n;

	rk_kv_cmd_begin(b, &c);
	for (n = 0; n < MAXA && s->a[n] != NULL; n++)
		rk_kv_cmd_arg(b, s->a[n], strlen(s->a[n]));
	rk_kv_cmd_finish(b, start, n);
	assert_false(b->oom);
}

static void encode_entry(struct rk_buf *e, uint64_t ts, const struct spec *v,
			 size_t n)
{
	struct rk_buf c;

	rk_buf_init(&c);
	rk_kv_entry_begin(e, ts);
	for (size_t i = 0; i < n; i++) {
		rk_buf_reset(&c);
		encode_cmd(&c, &v[i]);
		rk_kv_entry_add(e, c.p, c.len);
	}
	rk_kv_entry_finish(e, (uint32_t)n);
	rk_buf_free(&c);
	assert_false(e->oom);
}

/* A copy in a heap block of exactly len bytes: ASan sees any read past it. */
static uint8_t *exact_copy(const void *p, size_t len)
{
	uint8_t *q = malloc(len > 0 ? len : 1);

	assert_non_null(q);
	if (len > 0)
		memcpy(q, p, len);
	return q;
}

/* ---- seeded randomness and damage ---------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

/* Damages src into out (capacity cap): 1-4 of bit flips, random bytes,
 * length fields overwritten with edge values, truncation, extension,
 * insertions and deletions. Returns the new length. */
static size_t damage(const uint8_t *src, size_t len, uint8_t *out, size_t cap)
{
	static const uint32_t edges[] = {0, 1, 2, 3, 4, 37, 38, 39, 0x7fffffff,
					 0x80000000, 0xfffffffe, 0xffffffff};
	size_t n = len < cap ? len : cap, k = 1 + below(4);

	memcpy(out, src, n);
	for (size_t i = 0; i < k; i++) {
		size_t at = below(n + 1), l;
		uint32_t v;

		switch (below(8)) {
		case 0:
			if (n > 0)
				out[below(n)] ^= (uint8_t)(1u << below(8));
			break;
		case 1:
			if (n > 0)
				out[below(n)] = (uint8_t)rnd();
			break;
		case 2: /* a u32 at any offset: lengths and counts */
			v = below(3) == 0 ? (uint32_t)rnd()
					  : edges[below(sizeof(edges) / sizeof(edges[0]))];
			if (n >= 4) {
				at = below(n - 3);
				for (int j = 0; j < 4; j++)
					out[at + j] = (uint8_t)(v >> (8 * j));
			}
			break;
		case 3: /* a small change of a length byte */
			if (n > 0)
				out[below(n)] += (uint8_t)(below(5) - 2);
			break;
		case 4: /* truncate */
			n = below(n + 1);
			break;
		case 5: /* extend */
			l = 1 + below(8);
			while (l-- > 0 && n < cap)
				out[n++] = (uint8_t)rnd();
			break;
		case 6: /* insert */
			l = 1 + below(6);
			if (l > cap - n)
				l = cap - n;
			memmove(out + at + l, out + at, n - at);
			for (size_t j = 0; j < l; j++)
				out[at + j] = (uint8_t)rnd();
			n += l;
			break;
		default: /* delete */
			if (at < n) {
				l = 1 + below(8);
				if (l > n - at)
					l = n - at;
				memmove(out + at, out + at + l, n - at - l);
				n -= l;
			}
			break;
		}
	}
	return n;
}

/* ---- checks of what a decoder accepted -------------------------------------------- */

/* A decoded command's arguments lie inside [p, p + len), there are nargs
 * of them filling args exactly, and the command re-encodes to p. */
static void check_cmd_accepted(const uint8_t *p, size_t len,
			       const struct rk_kv_cmd *c)
{
	struct rk_buf re;
	size_t off = 0, l, start;
	const uint8_t *a, *k;
	uint32_t count = 0;
	int rc;

	assert_true(c->op >= RK_KV_GET && c->op <= RK_KV_UNFREEZE);
	assert_true(c->mode <= RK_KV_PUT_XX);
	assert_ptr_equal(c->args, p + CMD_HDR);
	assert_int_equal(c->args_len, len - CMD_HDR);
	assert_true(c->nargs >= 1);
	rk_buf_init(&re);
	start = re.len;
	rk_kv_cmd_begin(&re, c);
	while ((rc = rk_kv_arg_next(c, &off, &a, &l)) == 0) {
		assert_true(a >= p && a <= p + len && l <= (size_t)(p + len - a));
		rk_kv_cmd_arg(&re, a, l);
		if (count == 0 && c->op != RK_KV_BATCH) {
			assert_int_equal(rk_kv_cmd_key(c, &k, &l), 0);
			assert_ptr_equal(k, a);
		} else if (count == 0) {
			/* A batch routes by its first command's key, inside
			 * its first argument, or has none (malformed). */
			size_t kl;
			rc = rk_kv_cmd_key(c, &k, &kl);
			assert_true(rc == RK_EPROTO ||
				    (rc == 0 && k >= a && k + kl <= a + l));
		}
		count++;
	}
	assert_int_equal(rc, RK_ENOTFOUND);
	assert_int_equal(count, c->nargs);
	assert_int_equal(off, c->args_len);
	rk_kv_cmd_finish(&re, start, c->nargs);
	assert_int_equal(re.len, len);
	assert_memory_equal(re.p, p, len);
	rk_buf_free(&re);
}

struct walk_seen {
	const uint8_t *p;
	size_t len;
	uint32_t calls;
	uint32_t stop_at; /* return 1 at this command (UINT32_MAX: never) */
	struct rk_buf re; /* the entry re-encoded from what fn saw */
};

static int walk_fn(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct walk_seen *w = arg;
	const uint8_t *cmd = c->args - CMD_HDR;

	assert_int_equal(no, w->calls);
	assert_true(w->len >= CMD_HDR && c->args_len <= w->len - CMD_HDR);
	assert_true(cmd >= w->p &&
		    (size_t)(cmd - w->p) <= w->len - CMD_HDR - c->args_len);
	check_cmd_accepted(cmd, CMD_HDR + c->args_len, c);
	rk_kv_entry_add(&w->re, cmd, CMD_HDR + c->args_len);
	w->calls++;
	return no == w->stop_at ? 1 : 0;
}

/* Walks p; an entry refused passes nothing to fn, one accepted passes
 * every command, inside p, and re-encodes to p. Returns the walk's code. */
static int walk_checked(const uint8_t *p, size_t len)
{
	struct walk_seen w = {p, len, 0, UINT32_MAX, {0}};
	uint64_t ts = 1;
	int rc;

	rk_buf_init(&w.re);
	rc = rk_kv_entry_walk(p, len, &ts, walk_fn, &w);
	if (rc != 0) {
		assert_int_equal(rc, RK_EPROTO);
		assert_int_equal(w.calls, 0);
	} else {
		assert_true(len >= ENTRY_HDR);
		assert_int_equal(ts, le64(p + 1));
		assert_int_equal(w.calls, le32(p + 9));
		{
			struct rk_buf e;

			rk_buf_init(&e);
			rk_kv_entry_begin(&e, ts);
			rk_buf_append(&e, w.re.p, w.re.len);
			rk_kv_entry_finish(&e, w.calls);
			assert_int_equal(e.len, len);
			assert_memory_equal(e.p, p, len);
			rk_buf_free(&e);
		}
	}
	rk_buf_free(&w.re);
	return rc;
}

/* Decodes p as a session table; refused leaves it empty, accepted
 * re-encodes to p and decodes again to the same bytes. */
static int sessions_checked(const uint8_t *p, size_t len)
{
	struct rk_kv_sessions s = {0}, s2 = {0};
	struct rk_buf re, re2;
	int rc = rk_kv_sessions_decode(p, len, &s);

	if (rc != 0) {
		assert_int_equal(rc, RK_EPROTO);
		assert_int_equal(rk_kv_sessions_count(&s), 0);
		assert_null(s.v);
		return rc;
	}
	rk_buf_init(&re);
	rk_buf_init(&re2);
	rk_kv_sessions_encode(&s, &re);
	assert_int_equal(re.len, len);
	assert_memory_equal(re.p, p, len);
	assert_int_equal(rk_kv_sessions_decode((const uint8_t *)re.p, re.len, &s2), 0);
	rk_kv_sessions_encode(&s2, &re2);
	assert_int_equal(re2.len, len);
	assert_memory_equal(re2.p, p, len);
	rk_buf_free(&re);
	rk_buf_free(&re2);
	rk_kv_sessions_free(&s);
	rk_kv_sessions_free(&s2);
	return 0;
}

/* ---- encodings --------------------------------------------------------------- */

static void test_cmd_round_trip(void **state)
{
	static const uint8_t bin[] = {0, 0xff, '\r', '\n', 0};
	struct rk_kv_cmd in = {.op = RK_KV_PUT,
			       .mode = RK_KV_PUT_XX,
			       .session = UINT64_MAX,
			       .seq = 0x0102030405060708ull,
			       .first_incomplete = 42,
			       .n = INT64_MIN}, c;
	uint8_t *big = malloc(70000), *copy;
	struct rk_buf b;
	const uint8_t *p;
	size_t off = 0, l;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < 70000; i++)
		big[i] = (uint8_t)(i * 7);
	rk_buf_init(&b);
	rk_buf_append(&b, "xyz", 3); /* a command need not start the buffer */
	rk_kv_cmd_begin(&b, &in);
	rk_kv_cmd_arg(&b, bin, sizeof(bin));
	rk_kv_cmd_arg(&b, "", 0);
	rk_kv_cmd_arg(&b, big, 70000);
	rk_kv_cmd_arg(&b, "v", 1);
	rk_kv_cmd_finish(&b, 3, 4);
	assert_false(b.oom);
	assert_int_equal(b.len, 3 + CMD_HDR + 4 * 4 + sizeof(bin) + 70000 + 1);

	copy = exact_copy(b.p + 3, b.len - 3);
	assert_int_equal(rk_kv_cmd_decode(copy, b.len - 3, &c), 0);
	assert_int_equal(c.op, RK_KV_PUT);
	assert_int_equal(c.mode, RK_KV_PUT_XX);
	assert_true(c.session == UINT64_MAX);
	assert_true(c.seq == 0x0102030405060708ull);
	assert_int_equal(c.first_incomplete, 42);
	assert_true(c.n == INT64_MIN);
	assert_int_equal(c.nargs, 4);
	check_cmd_accepted(copy, b.len - 3, &c);

	assert_int_equal(rk_kv_cmd_key(&c, &p, &l), 0);
	assert_int_equal(l, sizeof(bin));
	assert_memory_equal(p, bin, sizeof(bin));
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), 0);
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), 0);
	assert_int_equal(l, 0);
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), 0);
	assert_int_equal(l, 70000);
	assert_memory_equal(p, big, 70000);
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), 0);
	assert_int_equal(l, 1);
	assert_int_equal(p[0], 'v');
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), RK_ENOTFOUND);
	assert_int_equal(rk_kv_arg_next(&c, &off, &p, &l), RK_ENOTFOUND);

	free(copy);
	free(big);
	rk_buf_free(&b);
}

struct collect {
	uint32_t n;
	uint8_t op[8];
	int64_t arg0_len[8];
	char arg0[8][16];
};

static int collect_fn(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct collect *x = arg;
	const uint8_t *p;
	size_t l;

	assert_int_equal(no, x->n);
	x->op[no] = c->op;
	assert_int_equal(rk_kv_cmd_key(c, &p, &l), 0);
	assert_true(l < 16);
	memcpy(x->arg0[no], p, l);
	x->arg0[no][l] = '\0';
	x->n++;
	return no == 1 && x->op[0] == RK_KV_DEL ? -77 : 0;
}

static void test_entry_round_trip(void **state)
{
	struct rk_buf e;
	struct collect x = {0};
	uint64_t ts;
	uint8_t *copy;

	(void)state;
	rk_buf_init(&e);
	encode_entry(&e, 1234567890123ull,
		     SPECS(C(.op = RK_KV_PUT, .a = {"k", "v"}),
			   C(.op = RK_KV_INCR, .n = -3, .a = {"n"}),
			   C(.op = RK_KV_SEQ, .n = 10, .session = 5, .seq = 9,
			     .a = {"s"})));
	copy = exact_copy(e.p, e.len);
	assert_int_equal(walk_checked(copy, e.len), 0);
	assert_int_equal(rk_kv_entry_walk(copy, e.len, &ts, collect_fn, &x), 0);
	assert_int_equal(ts, 1234567890123ull);
	assert_int_equal(x.n, 3);
	assert_int_equal(x.op[0], RK_KV_PUT);
	assert_int_equal(x.op[1], RK_KV_INCR);
	assert_int_equal(x.op[2], RK_KV_SEQ);
	assert_string_equal(x.arg0[0], "k");
	assert_string_equal(x.arg0[2], "s");
	free(copy);

	/* fn's non-zero return stops the walk and is returned. */
	rk_buf_reset(&e);
	encode_entry(&e, 1,
		     SPECS(C(.op = RK_KV_DEL, .a = {"a"}), C(.op = RK_KV_DEL, .a = {"b"}),
			   C(.op = RK_KV_DEL, .a = {"c"})));
	memset(&x, 0, sizeof(x));
	assert_int_equal(rk_kv_entry_walk((const uint8_t *)e.p, e.len, &ts,
					  collect_fn, &x),
			 -77);
	assert_int_equal(x.n, 2);

	/* An entry of no commands. */
	rk_buf_reset(&e);
	encode_entry(&e, 9, NULL, 0);
	assert_int_equal(e.len, ENTRY_HDR);
	assert_int_equal(walk_checked((const uint8_t *)e.p, e.len), 0);
	rk_buf_free(&e);
}

static void add_rec(struct rk_kv_session *x, uint64_t seq, const char *resp)
{
	assert_int_equal(rk_grow((void **)&x->recs, &x->cap, x->n, sizeof(*x->recs)), 0);
	x->recs[x->n].seq = seq;
	x->recs[x->n].len = (uint32_t)strlen(resp);
	x->recs[x->n].resp = (uint8_t *)strdup(resp);
	x->n++;
}

/* A table of three sessions (one without records, one record empty). */
static void make_table(struct rk_kv_sessions *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(rk_grow((void **)&s->v, &s->cap, 0, sizeof(*s->v)), 0);
	memset(s->v, 0, 3 * sizeof(*s->v));
	s->n = 3;
	s->now_ms = 777;
	s->v[0].id = 1;
	s->v[0].last_ms = 700;
	s->v[0].first_incomplete = 4;
	add_rec(&s->v[0], 4, ":1\r\n");
	add_rec(&s->v[0], 6, "$-1\r\n");
	s->v[1].id = UINT64_MAX;
	s->v[1].last_ms = 1;
	s->v[2].id = 3;
	s->v[2].last_ms = 777;
	s->v[2].first_incomplete = UINT64_MAX;
	add_rec(&s->v[2], UINT64_MAX, "");
}

static void test_sessions_round_trip(void **state)
{
	struct rk_kv_sessions s, d = {0};
	struct rk_buf b;
	uint8_t *copy;

	(void)state;
	make_table(&s);
	rk_buf_init(&b);
	rk_kv_sessions_encode(&s, &b);
	copy = exact_copy(b.p, b.len);
	assert_int_equal(rk_kv_sessions_decode(copy, b.len, &d), 0);
	assert_int_equal(rk_kv_sessions_count(&d), 3);
	assert_int_equal(d.now_ms, 777);
	for (size_t i = 0; i < 3; i++) {
		assert_true(d.v[i].id == s.v[i].id);
		assert_int_equal(d.v[i].last_ms, s.v[i].last_ms);
		assert_true(d.v[i].first_incomplete == s.v[i].first_incomplete);
		assert_int_equal(d.v[i].n, s.v[i].n);
		for (size_t j = 0; j < s.v[i].n; j++) {
			assert_true(d.v[i].recs[j].seq == s.v[i].recs[j].seq);
			assert_int_equal(d.v[i].recs[j].len, s.v[i].recs[j].len);
			assert_memory_equal(d.v[i].recs[j].resp, s.v[i].recs[j].resp,
					    s.v[i].recs[j].len);
		}
	}
	assert_int_equal(sessions_checked(copy, b.len), 0);
	/* Decoding replaces what the table held. */
	assert_int_equal(rk_kv_sessions_decode(copy, b.len, &d), 0);
	assert_int_equal(rk_kv_sessions_count(&d), 3);
	free(copy);

	/* The empty table. */
	rk_kv_sessions_free(&s);
	rk_buf_reset(&b);
	rk_kv_sessions_encode(&s, &b);
	assert_int_equal(b.len, SESS_HDR);
	assert_int_equal(rk_kv_sessions_decode((const uint8_t *)b.p, b.len, &d), 0);
	assert_int_equal(rk_kv_sessions_count(&d), 0);
	rk_kv_sessions_free(&d);
	rk_buf_free(&b);
}

/* Every proper prefix and every extension by 1..9 bytes of a valid
 * encoding is refused. */
typedef int (*decode_fn)(const uint8_t *p, size_t len);

static int cmd_checked(const uint8_t *p, size_t len)
{
	struct rk_kv_cmd c;
	int rc = rk_kv_cmd_decode(p, len, &c);

	if (rc == 0)
		check_cmd_accepted(p, len, &c);
	else
		assert_int_equal(rc, RK_EPROTO);
	return rc;
}

static void refuse_cut_and_grown(decode_fn fn, const uint8_t *p, size_t len)
{
	uint8_t *q;

	q = exact_copy(p, len);
	assert_int_equal(fn(q, len), 0);
	free(q);
	for (size_t k = 0; k < len; k++) {
		q = exact_copy(p, k);
		assert_int_equal(fn(q, k), RK_EPROTO);
		free(q);
	}
	for (size_t extra = 1; extra < 10; extra++) {
		q = malloc(len + extra);
		assert_non_null(q);
		memcpy(q, p, len);
		for (size_t i = 0; i < extra; i++)
			q[len + i] = (uint8_t)(extra == 1 ? 0 : i * 37);
		assert_int_equal(fn(q, len + extra), RK_EPROTO);
		free(q);
	}
}

static void test_cmd_decode_refuses_malformed(void **state)
{
	struct rk_buf b;
	struct rk_kv_cmd c;
	uint8_t *p;

	(void)state;
	rk_buf_init(&b);
	encode_cmd(&b, &C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .session = 3,
			  .seq = 4, .a = {"key", "", "k2", "value"}));
	refuse_cut_and_grown(cmd_checked, (const uint8_t *)b.p, b.len);
	p = (uint8_t *)b.p;

	/* Unknown op or mode; a count that disagrees with the bytes. */
	p[0] = 0;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[0] = RK_KV_UNFREEZE + 1;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[0] = RK_KV_PUT;
	p[1] = RK_KV_PUT_XX + 1;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[1] = RK_KV_PUT_NX;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), 0);
	p[34] = 3;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[34] = 5;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[34] = 4;
	p[35] = 1; /* 2^8 + 4 arguments */
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	p[35] = 0;
	/* An argument length one too long, and huge. */
	p[CMD_HDR] = 4;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	memset(p + CMD_HDR, 0xff, 4);
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);

	/* No arguments at all. */
	rk_buf_reset(&b);
	encode_cmd(&b, &C(.op = RK_KV_DEL));
	assert_int_equal(b.len, CMD_HDR);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), RK_EPROTO);
	rk_buf_free(&b);
}

static int walk_only(const uint8_t *p, size_t len)
{
	return walk_checked(p, len);
}

static void test_entry_walk_refuses_malformed(void **state)
{
	struct rk_buf e;
	uint8_t *p;
	uint64_t ts;

	(void)state;
	rk_buf_init(&e);
	encode_entry(&e, 55,
		     SPECS(C(.op = RK_KV_INCR, .n = 1, .a = {"a"}),
			   C(.op = RK_KV_PUT, .a = {"b", "c"}),
			   C(.op = RK_KV_DEL, .a = {"d", "e", "f"})));
	refuse_cut_and_grown(walk_only, (const uint8_t *)e.p, e.len);
	p = (uint8_t *)e.p;

	p[0] = 2; /* version */
	assert_int_equal(walk_checked(p, e.len), RK_EPROTO);
	p[0] = 1;
	p[9] = 2; /* count too small, then too large */
	assert_int_equal(walk_checked(p, e.len), RK_EPROTO);
	p[9] = 4;
	assert_int_equal(walk_checked(p, e.len), RK_EPROTO);
	p[9] = 3;
	assert_int_equal(walk_checked(p, e.len), 0);
	/* The last command broken: nothing reaches fn, not even the first
	 * (whole) one. */
	assert_int_equal(rk_kv_entry_walk(p, e.len, &ts, NULL, NULL), 0);
	p[e.len - 5] = 2; /* the length of the last argument, "f" */
	assert_int_equal(walk_checked(p, e.len), RK_EPROTO);
	/* Without a callback the walk only checks. */
	assert_int_equal(rk_kv_entry_walk(p, e.len, &ts, NULL, NULL), RK_EPROTO);
	rk_buf_free(&e);
}

static int sessions_only(const uint8_t *p, size_t len)
{
	return sessions_checked(p, len);
}

static void test_sessions_decode_refuses_malformed(void **state)
{
	struct rk_kv_sessions s, d = {0};
	struct rk_buf b;
	uint8_t *p;

	(void)state;
	make_table(&s);
	rk_buf_init(&b);
	rk_kv_sessions_encode(&s, &b);
	refuse_cut_and_grown(sessions_only, (const uint8_t *)b.p, b.len);
	p = (uint8_t *)b.p;
	p[0] = 2;
	assert_int_equal(sessions_checked(p, b.len), RK_EPROTO);
	p[0] = 1;
	p[9] = 4; /* one session more than there is */
	assert_int_equal(sessions_checked(p, b.len), RK_EPROTO);
	p[9] = 2;
	assert_int_equal(sessions_checked(p, b.len), RK_EPROTO);
	p[9] = 3;
	/* A refused table leaves the destination empty even when it held
	 * sessions. */
	assert_int_equal(rk_kv_sessions_decode(p, b.len, &d), 0);
	assert_int_equal(rk_kv_sessions_count(&d), 3);
	assert_int_equal(rk_kv_sessions_decode(p, b.len - 1, &d), RK_EPROTO);
	assert_int_equal(rk_kv_sessions_count(&d), 0);
	rk_kv_sessions_free(&d);
	rk_kv_sessions_free(&s);
	rk_buf_free(&b);
}

/* ---- random damage ------------------------------------------------------------- */

static void damage_rounds(decode_fn fn, struct rk_buf *bases, size_t nbases,
			  uint64_t seed, size_t *acceptedp)
{
	size_t cap = 0, accepted = 0;
	uint8_t *work;

	for (size_t i = 0; i < nbases; i++)
		if (bases[i].len > cap)
			cap = bases[i].len;
	cap += 64;
	work = malloc(cap);
	assert_non_null(work);
	rng = seed;
	for (size_t r = 0; r < DAMAGE_ROUNDS; r++) {
		const struct rk_buf *b = &bases[below(nbases)];
		size_t n;
		uint8_t *q;

		if (below(50) == 0) { /* plain random bytes */
			n = below(cap);
			for (size_t i = 0; i < n; i++)
				work[i] = (uint8_t)rnd();
		} else {
			n = damage((const uint8_t *)b->p, b->len, work, cap);
		}
		q = exact_copy(work, n);
		if (fn(q, n) == 0)
			accepted++;
		free(q);
	}
	free(work);
	*acceptedp = accepted;
}

static void test_cmd_decode_random_damage(void **state)
{
	struct rk_buf b[4];
	size_t accepted;

	(void)state;
	for (int i = 0; i < 4; i++)
		rk_buf_init(&b[i]);
	encode_cmd(&b[0], &C(.op = RK_KV_PUT, .a = {"k", "v", "k2", "v2"}));
	encode_cmd(&b[1], &C(.op = RK_KV_INCR, .n = 5, .session = 9, .seq = 2,
			     .a = {"counter"}));
	encode_cmd(&b[2], &C(.op = RK_KV_SCAN, .n = 10, .a = {"", "zz"}));
	encode_cmd(&b[3], &C(.op = RK_KV_CAS, .a = {"k", "", "new"}));
	damage_rounds(cmd_checked, b, 4, 1, &accepted);
	/* Damage to the numbers keeps a command valid: the test reaches the
	 * accepting path too. */
	assert_true(accepted > 1000 && accepted < DAMAGE_ROUNDS);
	for (int i = 0; i < 4; i++)
		rk_buf_free(&b[i]);
}

static void test_entry_walk_random_damage(void **state)
{
	struct rk_buf b[3];
	size_t accepted;

	(void)state;
	for (int i = 0; i < 3; i++)
		rk_buf_init(&b[i]);
	encode_entry(&b[0], 100, SPECS(C(.op = RK_KV_PUT, .a = {"k", "v"})));
	encode_entry(&b[1], 200,
		     SPECS(C(.op = RK_KV_INCR, .n = 1, .a = {"a"}),
			   C(.op = RK_KV_DEL, .a = {"x", "y"}),
			   C(.op = RK_KV_SEQ, .n = 3, .session = 1, .seq = 1,
			     .a = {"s"})));
	encode_entry(&b[2], 300, NULL, 0);
	damage_rounds(walk_only, b, 3, 2, &accepted);
	assert_true(accepted > 1000 && accepted < DAMAGE_ROUNDS);
	for (int i = 0; i < 3; i++)
		rk_buf_free(&b[i]);
}

static void test_sessions_decode_random_damage(void **state)
{
	struct rk_kv_sessions s;
	struct rk_buf b[2];
	size_t accepted;

	(void)state;
	make_table(&s);
	rk_buf_init(&b[0]);
	rk_buf_init(&b[1]);
	rk_kv_sessions_encode(&s, &b[0]);
	rk_kv_sessions_free(&s);
	rk_kv_sessions_encode(&s, &b[1]);
	damage_rounds(sessions_only, b, 2, 3, &accepted);
	assert_true(accepted > 1000 && accepted < DAMAGE_ROUNDS);
	rk_buf_free(&b[0]);
	rk_buf_free(&b[1]);
}

/* ---- integers and spans -------------------------------------------------------- */

static bool parse(const char *s, int64_t *vp)
{
	/* An exact copy: the parser must not look past the length. */
	uint8_t *q = exact_copy(s, strlen(s));
	bool ok = rk_kv_parse_i64(q, strlen(s), vp);

	free(q);
	return ok;
}

static void test_parse_i64(void **state)
{
	static const char *const bad[] = {
		"", "-", "01", "-0", "+1", " 1", "1 ", "9223372036854775808",
		"-9223372036854775809", "18446744073709551616", "1a", "a1", "00",
		"-01", "--1", "1-", "99999999999999999999", "123456789012345678901",
		"0x10", "1.0",
	};
	int64_t v;

	(void)state;
	assert_true(parse("0", &v));
	assert_int_equal(v, 0);
	assert_true(parse("-1", &v));
	assert_int_equal(v, -1);
	assert_true(parse("9223372036854775807", &v));
	assert_true(v == INT64_MAX);
	assert_true(parse("-9223372036854775808", &v));
	assert_true(v == INT64_MIN);
	assert_true(parse("10", &v));
	assert_int_equal(v, 10);
	assert_true(parse("-9223372036854775807", &v));
	assert_true(v == -INT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &v))
			fail_msg("\"%s\" accepted as %" PRId64, bad[i], v);
	}
	/* A digit just past the length is not read. */
	assert_true(rk_kv_parse_i64((const uint8_t *)"12", 1, &v));
	assert_int_equal(v, 1);
}

static bool in_span(const char *k, const char *s, const char *e)
{
	return rk_kv_in_span((const uint8_t *)k, strlen(k), (const uint8_t *)s,
			     strlen(s), (const uint8_t *)e, strlen(e));
}

static void test_in_span(void **state)
{
	(void)state;
	/* Start included, end excluded. */
	assert_true(in_span("b", "b", "d"));
	assert_true(in_span("c", "b", "d"));
	assert_true(in_span("cz", "b", "d"));
	assert_false(in_span("d", "b", "d"));
	assert_false(in_span("d\x01", "b", "d"));
	assert_false(in_span("a", "b", "d"));
	assert_false(in_span("az", "b", "d"));
	/* Prefixes: "b" < "ba"; "d" < "dd". */
	assert_false(in_span("b", "ba", "d"));
	assert_true(in_span("d", "b", "dd"));
	/* Empty start: from the smallest key; empty end: unbounded. */
	assert_true(in_span("", "", "d"));
	assert_true(in_span("\x01", "", "d"));
	assert_true(in_span("\xff\xff\xff", "b", ""));
	assert_true(in_span("b", "b", ""));
	assert_false(in_span("a\xff", "b", ""));
	assert_true(in_span("anything", "", ""));
	/* Bytes compare unsigned. */
	assert_false(in_span("\x7f", "\x80", ""));
	assert_true(in_span("\x80", "\x7f", "\x81"));
	/* Embedded zero bytes count. */
	assert_true(rk_kv_in_span((const uint8_t *)"c\0", 2, (const uint8_t *)"c", 1,
				  (const uint8_t *)"c\0\0", 3));
	assert_false(rk_kv_in_span((const uint8_t *)"c\0\0", 3, (const uint8_t *)"c", 1,
				   (const uint8_t *)"c\0\0", 3));
	/* NULL for an empty bound. */
	assert_true(rk_kv_in_span((const uint8_t *)"k", 1, NULL, 0, NULL, 0));
	assert_false(rk_kv_in_span((const uint8_t *)"k", 1, NULL, 0,
				   (const uint8_t *)"k", 1));
}

/* ---- applying into a real store ------------------------------------------------ */

#define MAXRES 64

struct fx {
	char dir[512];
	struct rk_store *s;
	struct rk_store_reader *r;
	struct rk_kv_sessions sess;
	struct rk_kv_applier a;
	struct rk_store_batch *b;
	size_t nres;
	uint32_t no[MAXRES];
	char res[MAXRES][256];
	char out[4096]; /* last read reply / stored value */
};

static int setup_span(void **state, const char *start, const char *end)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	tmpdir_make(f->dir, sizeof(f->dir), "kv");
	if (store_open_at(f->dir, 1, 77, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	if (rk_store_reader_open(f->s, &f->r) != 0 ||
	    rk_kv_applier_init(&f->a) != 0)
		return -1;
	f->a.reader = f->r;
	f->a.sessions = &f->sess;
	f->a.start = (const uint8_t *)start;
	f->a.slen = start != NULL ? strlen(start) : 0;
	f->a.end = (const uint8_t *)end;
	f->a.elen = end != NULL ? strlen(end) : 0;
	*state = f;
	return 0;
}

/* Most tests: the range [b, yy). */
static int setup(void **state)
{
	return setup_span(state, "b", "yy");
}

/* The whole key space, its bounds NULL. */
static int setup_unbounded(void **state)
{
	return setup_span(state, NULL, NULL);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f->b != NULL)
		rk_store_batch_free(f->b);
	rk_kv_applier_close(&f->a);
	rk_kv_sessions_free(&f->sess);
	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void on_result(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	struct fx *f = arg;

	assert_true(f->nres < MAXRES && len < sizeof(f->res[0]));
	f->no[f->nres] = no;
	memcpy(f->res[f->nres], resp, len);
	f->res[f->nres][len] = '\0';
	f->nres++;
}

static void batch_begin(struct fx *f)
{
	assert_null(f->b);
	f->b = rk_store_batch_new();
	assert_non_null(f->b);
	f->a.batch = f->b;
	f->nres = 0;
}

/* Commits the batch, then forgets the overlay (the node's order). */
static void batch_commit(struct fx *f)
{
	if (rk_store_batch_empty(f->b))
		rk_store_batch_free(f->b);
	else
		assert_int_equal(rk_store_write(f->s, f->b), 0);
	f->b = NULL;
	f->a.batch = NULL;
	rk_kv_applier_reset(&f->a);
}

/* Applies one entry of the commands into the open batch. */
static int apply_entry(struct fx *f, uint64_t ts, const struct spec *v, size_t n)
{
	struct rk_buf e;
	uint8_t *copy;
	int rc;

	rk_buf_init(&e);
	encode_entry(&e, ts, v, n);
	copy = exact_copy(e.p, e.len);
	rc = rk_kv_apply_entry(&f->a, copy, e.len, on_result, f);
	free(copy);
	rk_buf_free(&e);
	return rc;
}

/* One entry in a batch of its own, committed. */
static void apply_commit(struct fx *f, uint64_t ts, const struct spec *v, size_t n)
{
	batch_begin(f);
	assert_int_equal(apply_entry(f, ts, v, n), 0);
	assert_int_equal(f->nres, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->no[i], i);
	batch_commit(f);
}

#define APPLY(f, ts, ...) apply_commit(f, ts, SPECS(__VA_ARGS__))
#define ENTRY(f, ts, ...) apply_entry(f, ts, SPECS(__VA_ARGS__))

/* The reply of command i of the last apply. */
static void expect(struct fx *f, size_t i, const char *reply)
{
	assert_true(i < f->nres);
	assert_string_equal(f->res[i], reply);
}

/* The committed value of key (NULL if absent), straight from storage. */
static const char *stored(struct fx *f, const char *key)
{
	const void *v;
	size_t vl;
	int rc = rk_store_get(f->r, key, strlen(key), &v, &vl);

	if (rc == RK_ENOTFOUND)
		return NULL;
	assert_int_equal(rc, 0);
	assert_true(vl < sizeof(f->out));
	memcpy(f->out, v, vl);
	f->out[vl] = '\0';
	return f->out;
}

static bool stored_internal(struct fx *f, const char *key)
{
	const void *v;
	size_t vl;
	int rc = rk_store_internal_get(f->r, key, strlen(key), &v, &vl);

	assert_true(rc == 0 || rc == RK_ENOTFOUND);
	return rc == 0;
}

/* A read command served by rk_kv_read over the range's span: its return
 * code, the reply in f->out. */
static int read_rc(struct fx *f, const struct spec *s)
{
	struct rk_buf b, out;
	struct rk_kv_cmd c;
	int rc;

	rk_buf_init(&b);
	rk_buf_init(&out);
	encode_cmd(&b, s);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	rc = rk_kv_read(f->r, &c, f->a.start, f->a.slen, f->a.end, f->a.elen, &out);
	assert_true(out.len < sizeof(f->out));
	if (out.len > 0)
		memcpy(f->out, out.p, out.len);
	f->out[out.len] = '\0';
	rk_buf_free(&b);
	rk_buf_free(&out);
	return rc;
}

static const char *read_cmd(struct fx *f, const struct spec *s)
{
	assert_int_equal(read_rc(f, s), 0);
	return f->out;
}

#define READ(f, ...) read_cmd(f, &C(__VA_ARGS__))
#define READ_RC(f, ...) read_rc(f, &C(__VA_ARGS__))

/* Writes a pair the way another range's apply would (outside this one). */
static void put_raw(struct fx *f, const char *k, const char *v)
{
	struct rk_store_batch *b = rk_store_batch_new();

	rk_store_batch_put(b, k, strlen(k), v, strlen(v));
	assert_int_equal(rk_store_write(f->s, b), 0);
}

static void test_set_get(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"k", "v1"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(stored(f, "k"), "v1");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"k"}), "$2\r\nv1\r\n");
	APPLY(f, 2, C(.op = RK_KV_PUT, .a = {"k", "second"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"k"}), "$6\r\nsecond\r\n");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"kk"}), "$-1\r\n");
	APPLY(f, 3, C(.op = RK_KV_PUT, .a = {"e", ""}));
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"e"}), "$0\r\n\r\n");
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {"e"}), ":1\r\n");
}

static void test_put_nx_xx(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"k", "1"}));
	expect(f, 0, "+OK\r\n");
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"k", "2"}));
	expect(f, 0, "$-1\r\n");
	assert_string_equal(stored(f, "k"), "1");
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX, .a = {"x", "1"}));
	expect(f, 0, "$-1\r\n");
	assert_null(stored(f, "x"));
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX, .a = {"k", "3"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(stored(f, "k"), "3");
	/* An empty value exists. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"e", ""}));
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"e", "z"}));
	expect(f, 0, "$-1\r\n");
	assert_string_equal(stored(f, "e"), "");
	/* A deleted key no longer exists. */
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"k"}));
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX, .a = {"k", "4"}));
	expect(f, 0, "$-1\r\n");
	assert_null(stored(f, "k"));
}

/* With several pairs the mode holds for every key (MSETNX): one key that
 * exists makes NX write nothing; one missing makes XX write nothing. */
static void test_put_mode_multi_pair(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"d", "old"}));
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX,
		      .a = {"c", "1", "d", "2"}));
	expect(f, 0, "$-1\r\n");
	assert_null(stored(f, "c"));
	assert_string_equal(stored(f, "d"), "old");
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX,
		      .a = {"d", "1", "c", "2"}));
	expect(f, 0, "$-1\r\n");
	assert_null(stored(f, "c"));
	assert_string_equal(stored(f, "d"), "old");
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX,
		      .a = {"c", "1", "e", "2"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(stored(f, "c"), "1");
	assert_string_equal(stored(f, "e"), "2");
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX,
		      .a = {"c", "3", "d", "4", "e", "5"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(stored(f, "c"), "3");
	assert_string_equal(stored(f, "d"), "4");
	assert_string_equal(stored(f, "e"), "5");
}

static void test_put_multi_pair(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"c", "1", "d", "2", "e", "3"}));
	expect(f, 0, "+OK\r\n");
	assert_string_equal(stored(f, "c"), "1");
	assert_string_equal(stored(f, "d"), "2");
	assert_string_equal(stored(f, "e"), "3");
	/* The same key twice: the last pair wins. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"c", "x", "c", "y"}));
	assert_string_equal(stored(f, "c"), "y");
	/* An odd number of arguments is refused whole. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"f", "1", "g"}));
	assert_true(f->res[0][0] == '-');
	assert_null(stored(f, "f"));
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"f"}));
	assert_true(f->res[0][0] == '-');
	assert_null(stored(f, "f"));
}

static void test_del_count(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"c", "1", "d", "2", "e", "3"}));
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"c", "x", "e"}));
	expect(f, 0, ":2\r\n");
	assert_null(stored(f, "c"));
	assert_null(stored(f, "e"));
	assert_string_equal(stored(f, "d"), "2");
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"c", "e"}));
	expect(f, 0, ":0\r\n");
	/* One key named twice is deleted once. */
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"d", "d"}));
	expect(f, 0, ":1\r\n");
	assert_null(stored(f, "d"));
}

static void test_cas(void **state)
{
	struct fx *f = *state;

	/* A missing key equals "". */
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "", "v1"}));
	expect(f, 0, ":1\r\n");
	assert_string_equal(stored(f, "k"), "v1");
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "v0", "v2"}));
	expect(f, 0, ":0\r\n");
	assert_string_equal(stored(f, "k"), "v1");
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "v", "v2"})); /* a prefix */
	expect(f, 0, ":0\r\n");
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "v1x", "v2"}));
	expect(f, 0, ":0\r\n");
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "", "v2"}));
	expect(f, 0, ":0\r\n");
	assert_string_equal(stored(f, "k"), "v1");
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "v1", "v2"}));
	expect(f, 0, ":1\r\n");
	assert_string_equal(stored(f, "k"), "v2");
	/* Missing, expected non-empty: no change, not created. */
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"n", "x", "y"}));
	expect(f, 0, ":0\r\n");
	assert_null(stored(f, "n"));
	/* Swapping to "" keeps the key (it exists, empty). */
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", "v2", ""}));
	expect(f, 0, ":1\r\n");
	assert_string_equal(stored(f, "k"), "");
	/* Wrong shape. */
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k", ""}));
	assert_true(f->res[0][0] == '-');
}

static int add_span_pair(void *arg, int table, const void *k, size_t kl,
			 const void *v, size_t vl)
{
	(void)k;
	(void)v;
	if (table == 0)
		*(uint64_t *)arg += kl + vl;
	return 0;
}

/* The bytes of the span's keys and values as stored. */
static int64_t span_bytes(struct fx *f)
{
	uint64_t bytes = 0;

	assert_int_equal(rk_store_scan_span(f->r, 0, f->a.start, f->a.slen, f->a.end,
					    f->a.elen, add_span_pair, &bytes, NULL), 0);
	return (int64_t)bytes;
}

/* What the applier says the commands did to the span's bytes (the node
 * keeps a range's size by it between scans): exact for every command that
 * reads what it replaces, a plain SET counted as a new key and as unsure. */
static void test_size_delta(void **state)
{
	struct fx *f = *state;
	int64_t d0 = f->a.size_delta;
	uint64_t u0 = f->a.size_unsure;

	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"k1", "abc"}));
	APPLY(f, 1, C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"k1", "zzzzzz"}));
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k2", "", "0123456789"}));
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k2", "0123456789", "x"}));
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 99, .a = {"n"}));
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"n"}));
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 5, .a = {"s"})); /* not user data */
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"k1", "absent"}));
	assert_int_equal(f->a.size_delta - d0, span_bytes(f));
	assert_int_equal(f->a.size_unsure - u0, 0);
	/* Commands that change nothing count nothing. */
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"k1"}));
	APPLY(f, 1, C(.op = RK_KV_CAS, .a = {"k2", "no", "y"}));
	assert_int_equal(f->a.size_delta - d0, span_bytes(f));
	/* A plain SET of a new key: exact, but unsure (it did not look). */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"k3", "v3", "k4", "v44"}));
	assert_int_equal(f->a.size_delta - d0, span_bytes(f));
	assert_int_equal(f->a.size_unsure - u0, 4 + 5);
	/* Over an existing key: too large by the old key and value, which
	 * is at most the unsure bytes. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"k3", "v333"}));
	assert_int_equal(f->a.size_delta - d0, span_bytes(f) + 4);
	assert_int_equal(f->a.size_unsure - u0, 4 + 5 + 6);
	assert_true(f->a.size_delta - d0 - span_bytes(f) <= (int64_t)(f->a.size_unsure - u0));
	/* DEL is exact again: the figure stays too large by what it was. */
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"k3", "k4"}));
	assert_int_equal(f->a.size_delta - d0, span_bytes(f) + 4);
}

static void test_incr(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"c"})); /* missing = 0 */
	expect(f, 0, ":1\r\n");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 5, .a = {"c"}));
	expect(f, 0, ":6\r\n");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = -10, .a = {"c"}));
	expect(f, 0, ":-4\r\n");
	assert_string_equal(stored(f, "c"), "-4");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"c"}), "$2\r\n-4\r\n");

	/* Not an integer: an error, the value unchanged. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"s", "abc", "o", "01", "e", ""}));
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"s"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "s"), "abc");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"o"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "o"), "01");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"e"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "e"), "");

	/* Overflow both ways: an error, the value unchanged. */
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"h", "9223372036854775806"}));
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"h"}));
	expect(f, 0, ":9223372036854775807\r\n");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"h"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "h"), "9223372036854775807");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 0, .a = {"h"}));
	expect(f, 0, ":9223372036854775807\r\n");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = INT64_MIN, .a = {"h"}));
	expect(f, 0, ":-1\r\n");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = INT64_MIN, .a = {"h"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "h"), "-1");
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"l", "-9223372036854775808"}));
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = -1, .a = {"l"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "l"), "-9223372036854775808");
	APPLY(f, 1, C(.op = RK_KV_INCR, .n = INT64_MAX, .a = {"l"}));
	expect(f, 0, ":-1\r\n");
}

static void test_seq(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":1\r\n");
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 10, .a = {"q"})); /* ids 2..11 */
	expect(f, 0, ":2\r\n");
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":12\r\n");
	/* Counts outside 1..1,000,000 are refused and use up nothing. */
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 0, .a = {"q"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = -1, .a = {"q"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = RK_KV_MAX_SEQ_COUNT + 1, .a = {"q"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = INT64_MAX, .a = {"q"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = RK_KV_MAX_SEQ_COUNT, .a = {"q"}));
	expect(f, 0, ":13\r\n");
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":1000013\r\n");
	/* Sequences are independent of each other and of the key "q". */
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"r"}));
	expect(f, 0, ":1\r\n");
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"q", "user"}));
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":1000014\r\n");
	assert_string_equal(stored(f, "q"), "user");
	APPLY(f, 1, C(.op = RK_KV_DEL, .a = {"q"}));
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":1000015\r\n");
	/* The sequence row is not user data. */
	assert_true(stored_internal(f, "q"));
	assert_null(stored(f, "r"));
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"r"}), "$-1\r\n");
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {"q", "r"}), ":0\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"", ""}), "*0\r\n");
}

static void test_outside_span(void **state)
{
	struct fx *f = *state;
	char big[RK_KV_MAX_KEY + 2];

	put_raw(f, "z", "other range");
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"b", "start"}), /* included */
	      C(.op = RK_KV_PUT, .a = {"lzz", "1"}),
	      C(.op = RK_KV_PUT, .a = {"a", "1"}), /* below */
	      C(.op = RK_KV_PUT, .a = {"yy", "1"}), /* the end: excluded */
	      C(.op = RK_KV_PUT, .a = {"c", "1", "z", "2"}),
	      C(.op = RK_KV_DEL, .a = {"z"}),
	      C(.op = RK_KV_DEL, .a = {"b", "z"}),
	      C(.op = RK_KV_INCR, .n = 1, .a = {"a"}),
	      C(.op = RK_KV_CAS, .a = {"za", "", "x"}),
	      C(.op = RK_KV_SEQ, .n = 1, .a = {"zq"}),
	      C(.op = RK_KV_PUT, .a = {"", "empty key"}));
	expect(f, 0, "+OK\r\n");
	expect(f, 1, "+OK\r\n");
	for (size_t i = 2; i < 11; i++)
		if (strncmp(f->res[i], "-ERR", 4) != 0)
			fail_msg("command %zu not refused: %s", i, f->res[i]);
	assert_string_equal(stored(f, "b"), "start");
	assert_null(stored(f, "a"));
	assert_null(stored(f, "yy"));
	assert_null(stored(f, "c"));
	assert_string_equal(stored(f, "z"), "other range");
	assert_null(stored(f, "za"));
	assert_false(stored_internal(f, "zq"));

	/* Keys longer than RK_KV_MAX_KEY. */
	memset(big, 'c', sizeof(big));
	big[RK_KV_MAX_KEY + 1] = '\0';
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {big, "1"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_null(stored(f, big));
	big[RK_KV_MAX_KEY] = '\0';
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {big, "1"}));
	expect(f, 0, "+OK\r\n");
}

/* The check at apply with the node's hook (rk_kv_applier.outside): a
 * write whose key the span at this entry does not hold is not applied and
 * not recorded in its session; the hook gets the key, the result function
 * nothing. The same sequence applies once the span holds the key (as a
 * retry at the range that holds it would), and a write of the same entry
 * inside the span applies as usual. */
struct outside_rec {
	struct fx *f;
	uint32_t no[4];
	char key[4][16];
	size_t n;
};

static void on_outside(void *arg, uint32_t no, const uint8_t *key, size_t klen)
{
	struct outside_rec *o = arg;

	assert_true(o->n < 4 && klen < sizeof(o->key[0]));
	o->no[o->n] = no;
	memcpy(o->key[o->n], key, klen);
	o->key[o->n][klen] = '\0';
	o->n++;
}

static void on_result_rec(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	on_result(((struct outside_rec *)arg)->f, no, resp, len);
}

/* Applies entry e (from an exact copy: ASan sees any read past it) in a
 * batch of its own, results to o. */
static void apply_rec(struct fx *f, const struct rk_buf *e, struct outside_rec *o)
{
	uint8_t *copy = exact_copy(e->p, e->len);

	batch_begin(f);
	assert_int_equal(rk_kv_apply_entry(&f->a, copy, e->len, on_result_rec, o), 0);
	batch_commit(f);
	free(copy);
}

static void test_outside_span_not_applied(void **state)
{
	struct fx *f = *state;
	struct outside_rec o = {f, {0}, {{0}}, 0};
	struct rk_buf e;
	const struct spec v[] = {
		C(.op = RK_KV_PUT, .session = 9, .seq = 1, .fi = 1, .a = {"c", "in"}),
		C(.op = RK_KV_PUT, .session = 9, .seq = 2, .fi = 1, .a = {"z", "out"}),
		C(.op = RK_KV_DEL, .session = 9, .seq = 3, .fi = 1, .a = {"c", "a"}),
	};

	f->a.outside = on_outside;
	for (int round = 0; round < 2; round++) {
		rk_buf_init(&e);
		encode_entry(&e, 1, v, round == 0 ? 3 : 2);
		apply_rec(f, &e, &o);
		rk_buf_free(&e);
		if (round == 0) {
			/* c applied; z and the DEL of c and a (a below b) not. */
			assert_int_equal(f->nres, 1);
			assert_int_equal(f->no[0], 0);
			expect(f, 0, "+OK\r\n");
			assert_int_equal(o.n, 2);
			assert_int_equal(o.no[0], 1);
			assert_string_equal(o.key[0], "z");
			assert_int_equal(o.no[1], 2);
			assert_string_equal(o.key[1], "a");
			assert_string_equal(stored(f, "c"), "in");
			assert_null(stored(f, "z"));
			/* The span now holds z: the same session and sequences
			 * again. c is answered from its record, z applies. */
			f->a.end = NULL;
			f->a.elen = 0;
			o.n = 0;
		}
	}
	assert_int_equal(o.n, 0);
	assert_int_equal(f->nres, 2);
	expect(f, 0, "+OK\r\n");
	expect(f, 1, "+OK\r\n");
	assert_string_equal(stored(f, "z"), "out");
}

/* ---- range split -------------------------------------------------------------- */

/* The left range of the split tests: range 1 [b, yy), generation 3,
 * configuration version 2, replicas 4, 6, 7 on nodes 1, 2, 3. */
static void left_desc(struct rk_desc *d)
{
	struct rk_desc_replica reps[3] = {
		{4, 1, RK_DESC_VOTER}, {6, 2, RK_DESC_VOTER}, {7, 3, RK_DESC_LEARNER}};
	struct rk_desc t = {.range_id = 1, .generation = 3, .conf_version = 2,
			    .next_replica_id = 8, .start = (uint8_t *)"b", .slen = 1,
			    .end = (uint8_t *)"yy", .elen = 2, .reps = reps, .n_reps = 3};

	memset(d, 0, sizeof(*d));
	assert_int_equal(rk_desc_copy(d, &t), 0);
}

static struct rk_kv_split split_at(const char *key)
{
	struct rk_kv_split s = {(const uint8_t *)key, strlen(key), 9001, 3, 2, 3,
				{1, 2, 3}, 0};
	return s;
}

static void test_split_encoding(void **state)
{
	struct rk_kv_split s = split_at("mm"), d;
	struct rk_kv_cmd c;
	struct rk_buf b;

	(void)state;
	s.right_id = (UINT64_C(0xffffff) << 40) | 12345; /* an id over 2^53 */
	rk_buf_init(&b);
	rk_kv_split_encode(&b, &s);
	assert_false(b.oom);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(c.op, RK_KV_SPLIT);
	assert_int_equal(rk_kv_split_decode(&c, &d), 0);
	assert_memory_equal(d.key, "mm", 2);
	assert_int_equal(d.klen, 2);
	assert_true(d.right_id == s.right_id);
	assert_int_equal(d.generation, 3);
	assert_int_equal(d.conf_version, 2);
	assert_int_equal(d.n_ids, 3);
	assert_int_equal(d.ids[2], 3);
	assert_int_equal(d.flags, 0);
	assert_int_equal(c.nargs, 5); /* no flags: the command as before */
	/* Any other shape is refused, and so is a SPLIT in a session. */
	c.session = 5;
	assert_int_equal(rk_kv_split_decode(&c, &d), RK_EPROTO);
	c.session = 0;
	c.nargs = 4;
	assert_int_equal(rk_kv_split_decode(&c, &d), RK_EPROTO);
	c.nargs = 5;
	c.op = RK_KV_CHECK;
	assert_int_equal(rk_kv_split_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
	s.klen = 0;
	rk_buf_init(&b);
	rk_kv_split_encode(&b, &s);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_split_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
	/* An automatic split's flags travel as a sixth argument. */
	s = split_at("mm");
	s.flags = RK_DESC_F_AUTO_SPLIT;
	rk_buf_init(&b);
	rk_kv_split_encode(&b, &s);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(c.nargs, 6);
	assert_int_equal(rk_kv_split_decode(&c, &d), 0);
	assert_int_equal(d.flags, RK_DESC_F_AUTO_SPLIT);
	assert_int_equal(d.n_ids, 3);
	/* An unknown flag is refused. */
	((uint8_t *)b.p)[b.len - 1] = 0x80;
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_split_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
}

static void test_split_descs(void **state)
{
	struct rk_desc left, l, r;
	struct rk_kv_split s = split_at("m");

	(void)state;
	left_desc(&left);
	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), 0);
	assert_int_equal(l.range_id, 1);
	assert_int_equal(l.generation, 4);
	assert_int_equal(l.conf_version, 2);
	assert_int_equal(l.slen, 1);
	assert_memory_equal(l.start, "b", 1);
	assert_int_equal(l.elen, 1);
	assert_memory_equal(l.end, "m", 1);
	assert_int_equal(r.range_id, 9001);
	assert_int_equal(r.generation, 4);
	assert_int_equal(r.conf_version, 1);
	assert_int_equal(r.next_replica_id, 4);
	assert_memory_equal(r.start, "m", 1);
	assert_memory_equal(r.end, "yy", 2);
	assert_int_equal(r.n_reps, 3);
	assert_int_equal(r.reps[0].replica_id, 1);
	assert_int_equal(r.reps[0].node_id, 1);
	assert_int_equal(r.reps[2].node_id, 3);
	assert_int_equal(r.reps[2].role, RK_DESC_LEARNER);
	assert_int_equal(l.flags, 0);
	assert_int_equal(r.flags, 0);
	/* The flags of the split go to the right half only; the left keeps
	 * its own (a sticky boundary at its start stays sticky). */
	s.flags = RK_DESC_F_AUTO_SPLIT;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), 0);
	assert_int_equal(l.flags, 0);
	assert_int_equal(r.flags, RK_DESC_F_AUTO_SPLIT);
	left.flags = RK_DESC_F_AUTO_SPLIT;
	s.flags = 0;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), 0);
	assert_int_equal(l.flags, RK_DESC_F_AUTO_SPLIT);
	assert_int_equal(r.flags, 0);
	left.flags = 0;
	s = split_at("m");
	rk_desc_free(&l);
	rk_desc_free(&r);
	/* Refusals change nothing. */
	s.generation = 2;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ESTATE);
	s = split_at("m");
	s.conf_version = 3; /* a membership change in between */
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ESTATE);
	s = split_at("b"); /* the range's start: the left would be empty */
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ERANGE);
	s = split_at("yy");
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ERANGE);
	s = split_at("a");
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ERANGE);
	s = split_at("m");
	s.right_id = 1;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_EINVAL);
	s = split_at("m");
	s.n_ids = 2;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_EINVAL);
	s = split_at("m");
	s.ids[1] = 1;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_EINVAL);
	s = split_at("m");
	left.reps[1].role = RK_DESC_VOTER_INCOMING;
	assert_int_equal(rk_kv_split_descs(&left, &s, &l, &r), RK_ESTATE);
	left.reps[1].role = RK_DESC_VOTER;
	assert_null(l.reps);
	assert_null(r.reps);
	assert_int_equal(left.generation, 3);
	rk_desc_free(&left);
}

/* What the split callback of the apply test does: the node's part, on a
 * descriptor of its own. */
struct split_fx {
	struct fx *f;
	struct rk_desc desc, right;
	struct rk_kv_sessions right_sess;
	int calls;
};

static int on_split(void *arg, const struct rk_kv_split *s, int *refusedp)
{
	struct split_fx *x = arg;

	x->calls++;
	*refusedp = rk_kv_split_descs(&x->desc, s, &x->desc, &x->right);
	if (*refusedp != 0)
		return 0;
	assert_int_equal(rk_kv_sessions_copy(&x->right_sess, x->f->a.sessions), 0);
	x->f->a.end = x->desc.end;
	x->f->a.elen = x->desc.elen;
	return 0;
}

/* A split in the middle of an entry: the commands after it see the
 * shrunk span (a right-half key is not applied: the router sends it to
 * the right range, same sequence), the right range gets the sessions,
 * so a retry there of a write applied before the split is answered from
 * its record rather than applied twice. A stale split is refused alike
 * by every replica and changes nothing. */
static void test_split_apply(void **state)
{
	struct fx *f = *state;
	struct outside_rec o = {f, {0}, {{0}}, 0};
	struct split_fx x;
	struct rk_kv_split s = split_at("m");
	struct rk_buf e, c;

	memset(&x, 0, sizeof(x));
	x.f = f;
	left_desc(&x.desc); /* [b, yy): the fixture's span */
	f->a.outside = on_outside;
	f->a.split = on_split;
	f->a.split_arg = &x;
	for (int round = 0; round < 2; round++) {
		const struct spec before = C(.op = RK_KV_INCR, .session = 9, .seq = 1,
					     .fi = 1, .n = 5, .a = {"x"});
		const struct spec after[] = {
			C(.op = RK_KV_PUT, .session = 9, .seq = 2, .fi = 1, .a = {"p", "r"}),
			C(.op = RK_KV_PUT, .session = 9, .seq = 3, .fi = 1, .a = {"c", "l"}),
		};

		rk_buf_init(&e);
		rk_buf_init(&c);
		rk_kv_entry_begin(&e, 1);
		encode_cmd(&c, &before);
		rk_kv_entry_add(&e, c.p, c.len);
		rk_buf_reset(&c);
		rk_kv_split_encode(&c, &s);
		rk_kv_entry_add(&e, c.p, c.len);
		for (int i = 0; i < 2; i++) {
			rk_buf_reset(&c);
			encode_cmd(&c, &after[i]);
			rk_kv_entry_add(&e, c.p, c.len);
		}
		rk_kv_entry_finish(&e, 4);
		assert_false(e.oom);
		apply_rec(f, &e, &o);
		rk_buf_free(&e);
		rk_buf_free(&c);
		if (round == 0) {
			assert_int_equal(x.calls, 1);
			assert_int_equal(f->nres, 3);
			expect(f, 0, ":5\r\n");
			expect(f, 1, "+OK\r\n");
			expect(f, 2, "+OK\r\n");
			assert_int_equal(o.n, 1);
			assert_int_equal(o.no[0], 2);
			assert_string_equal(o.key[0], "p");
			assert_null(stored(f, "p"));
			assert_string_equal(stored(f, "c"), "l");
			assert_int_equal(x.desc.generation, 4);
			assert_int_equal(x.right.range_id, 9001);
			assert_int_equal(rk_kv_sessions_count(&x.right_sess), 1);
			f->nres = 0;
			o.n = 0;
		}
	}
	/* The same entry again (the split proposed against generation 3):
	 * refused, the span stays, the INCR and the PUT of c are answered
	 * from their records, p is still outside. */
	assert_int_equal(x.calls, 2);
	assert_int_equal(f->nres, 3);
	expect(f, 0, ":5\r\n");
	expect(f, 1, "-ERR split refused: operation not valid in the current state\r\n");
	expect(f, 2, "+OK\r\n");
	assert_int_equal(o.n, 1);
	assert_int_equal(x.desc.generation, 4);
	assert_string_equal(stored(f, "x"), "5");
	/* On the right range, the INCR retried is answered from the copied
	 * record and p applies. */
	f->a.sessions = &x.right_sess;
	f->a.start = x.right.start;
	f->a.slen = x.right.slen;
	f->a.end = x.right.end;
	f->a.elen = x.right.elen;
	f->nres = 0;
	o.n = 0;
	APPLY(f, 2, C(.op = RK_KV_INCR, .session = 9, .seq = 1, .fi = 1, .n = 5, .a = {"x"}),
	      C(.op = RK_KV_PUT, .session = 9, .seq = 2, .fi = 1, .a = {"p", "r"}));
	expect(f, 0, ":5\r\n");
	expect(f, 1, "+OK\r\n");
	assert_string_equal(stored(f, "x"), "5");
	assert_string_equal(stored(f, "p"), "r");
	f->a.sessions = &f->sess;
	rk_desc_free(&x.desc);
	rk_desc_free(&x.right);
	rk_kv_sessions_free(&x.right_sess);
}

/* Commands later in one entry see the earlier ones before anything is
 * committed. */
static void test_overlay_one_entry(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .a = {"x"}),
	      C(.op = RK_KV_INCR, .n = 1, .a = {"x"}),
	      C(.op = RK_KV_PUT, .a = {"y", "v"}),
	      C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .a = {"y", "w"}),
	      C(.op = RK_KV_CAS, .a = {"y", "v", "w"}),
	      C(.op = RK_KV_DEL, .a = {"y"}),
	      C(.op = RK_KV_DEL, .a = {"y"}),
	      C(.op = RK_KV_PUT, .mode = RK_KV_PUT_XX, .a = {"y", "u"}),
	      C(.op = RK_KV_SEQ, .n = 5, .a = {"q"}),
	      C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}),
	      C(.op = RK_KV_PUT, .a = {"x", "7"}),
	      C(.op = RK_KV_INCR, .n = 1, .a = {"x"}));
	expect(f, 0, ":1\r\n");
	expect(f, 1, ":2\r\n");
	expect(f, 2, "+OK\r\n");
	expect(f, 3, "$-1\r\n");
	expect(f, 4, ":1\r\n");
	expect(f, 5, ":1\r\n");
	expect(f, 6, ":0\r\n");
	expect(f, 7, "$-1\r\n");
	expect(f, 8, ":1\r\n");
	expect(f, 9, ":6\r\n");
	expect(f, 10, "+OK\r\n");
	expect(f, 11, ":8\r\n");
	assert_string_equal(stored(f, "x"), "8");
	assert_null(stored(f, "y"));
}

/* Several entries applied into one batch (one ready): each sees the
 * earlier ones; the reader sees nothing until the commit; after the reset
 * the committed data is what counts. */
static void test_overlay_across_entries(void **state)
{
	struct fx *f = *state;
	char key[16];

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"x", "10"}));
	batch_begin(f);
	assert_int_equal(ENTRY(f, 2, C(.op = RK_KV_INCR, .n = 1, .a = {"x"})), 0);
	assert_int_equal(ENTRY(f, 3, C(.op = RK_KV_INCR, .n = 1, .a = {"x"})), 0);
	assert_int_equal(ENTRY(f, 4, C(.op = RK_KV_DEL, .a = {"x"})), 0);
	assert_int_equal(ENTRY(f, 5, C(.op = RK_KV_INCR, .n = 5, .a = {"x"})), 0);
	assert_int_equal(ENTRY(f, 6, C(.op = RK_KV_SEQ, .n = 3, .a = {"q"})), 0);
	assert_int_equal(ENTRY(f, 7, C(.op = RK_KV_SEQ, .n = 1, .a = {"q"})), 0);
	assert_int_equal(ENTRY(f, 8, C(.op = RK_KV_CAS, .a = {"y", "", "a"})), 0);
	assert_int_equal(ENTRY(f, 9, C(.op = RK_KV_CAS, .a = {"y", "", "b"})), 0);
	assert_int_equal(f->nres, 8);
	expect(f, 0, ":11\r\n");
	expect(f, 1, ":12\r\n");
	expect(f, 2, ":1\r\n");
	expect(f, 3, ":5\r\n");
	expect(f, 4, ":1\r\n");
	expect(f, 5, ":4\r\n");
	expect(f, 6, ":1\r\n");
	expect(f, 7, ":0\r\n");
	assert_string_equal(stored(f, "x"), "10"); /* not committed yet */
	batch_commit(f);
	assert_string_equal(stored(f, "x"), "5");
	assert_string_equal(stored(f, "y"), "a");
	APPLY(f, 10, C(.op = RK_KV_INCR, .n = 1, .a = {"x"}),
	      C(.op = RK_KV_SEQ, .n = 1, .a = {"q"}));
	expect(f, 0, ":6\r\n");
	expect(f, 1, ":5\r\n");

	/* Many keys in one batch (the overlay grows), each touched by two
	 * entries. */
	batch_begin(f);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		assert_int_equal(ENTRY(f, 11, C(.op = RK_KV_INCR, .n = i, .a = {key})), 0);
		f->nres = 0;
	}
	for (int i = 0; i < 1000; i++) {
		char want[32];

		snprintf(key, sizeof(key), "k%04d", i);
		assert_int_equal(ENTRY(f, 12, C(.op = RK_KV_INCR, .n = 1, .a = {key})), 0);
		snprintf(want, sizeof(want), ":%d\r\n", i + 1);
		expect(f, 0, want);
		f->nres = 0;
	}
	batch_commit(f);
	assert_string_equal(stored(f, "k0999"), "1000");
	assert_string_equal(stored(f, "k0000"), "1");
}

static void test_reads(void **state)
{
	struct fx *f = *state;
	char all[sizeof(f->out)];

	put_raw(f, "a", "outside");
	put_raw(f, "yy", "outside");
	put_raw(f, "z", "outside");
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"b", "1", "c", "2", "d", "3", "e", "4",
					     "lz", "5"}));
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"c0"}));
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"c"}), "$1\r\n2\r\n");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"c0"}), "$-1\r\n");
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {"b", "x", "lz", "c0"}),
			    ":2\r\n");
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {"b", "b"}), ":2\r\n");

	/* SCAN: the whole span (clipped: a, yy and z belong to others; the
	 * sequence row is not a pair). */
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"", ""}),
			    "*10\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n2\r\n"
			    "$1\r\nd\r\n$1\r\n3\r\n$1\r\ne\r\n$1\r\n4\r\n"
			    "$2\r\nlz\r\n$1\r\n5\r\n");
	strcpy(all, READ(f, .op = RK_KV_SCAN, .n = 0, .a = {"", ""}));
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"a", "zz"}), all);
	/* A limit. */
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .n = 2, .a = {"", ""}),
			    "*4\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n2\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .n = 1, .a = {"c", ""}),
			    "*2\r\n$1\r\nc\r\n$1\r\n2\r\n");
	/* [c, e): e excluded; the sequence row c0 is skipped, not a stop. */
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .n = 100, .a = {"c", "e"}),
			    "*4\r\n$1\r\nc\r\n$1\r\n2\r\n$1\r\nd\r\n$1\r\n3\r\n");
	/* Empty or inverted spans. */
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"f", "l"}), "*0\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"d", "c"}), "*0\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"d", "d"}), "*0\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"ya", ""}), "*0\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"", "b"}), "*0\r\n");
}

/* A read names keys of this range only: a key of another range (a stale
 * route after a split) is refused, not answered from whatever this node
 * holds of that range; so is a key no write could have made. */
static void test_read_outside_span(void **state)
{
	struct fx *f = *state;
	char big[RK_KV_MAX_KEY + 2];

	put_raw(f, "a", "other");
	put_raw(f, "z", "other");
	assert_int_equal(READ_RC(f, .op = RK_KV_GET, .a = {"a"}), RK_ERANGE);
	assert_string_equal(f->out, "");
	assert_int_equal(READ_RC(f, .op = RK_KV_GET, .a = {"yy"}), RK_ERANGE);
	assert_int_equal(READ_RC(f, .op = RK_KV_EXISTS, .a = {"c", "z"}), RK_ERANGE);
	assert_string_equal(f->out, "");
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {"c", "b"}), ":0\r\n");
	assert_int_equal(READ_RC(f, .op = RK_KV_GET, .a = {""}), RK_EPROTO);
	memset(big, 'c', sizeof(big));
	big[RK_KV_MAX_KEY + 1] = '\0';
	assert_int_equal(READ_RC(f, .op = RK_KV_EXISTS, .a = {big}), RK_EPROTO);
	big[RK_KV_MAX_KEY] = '\0';
	assert_string_equal(READ(f, .op = RK_KV_EXISTS, .a = {big}), ":0\r\n");
}

/* f->out is exactly want (NUL bytes included). */
#define OUT_IS(f, want) assert_memory_equal((f)->out, want, sizeof(want))

/* SCAN's KEYS and COUNT modes (the client's SCAN, KEYS, DBSIZE): keys
 * only, and where to go on: after the last key examined when the limit
 * stopped the walk, else the end of what the range answers. A start
 * outside the span is refused, never clipped (a stale route would skip
 * keys). */
static void test_scan_keys(void **state)
{
	struct fx *f = *state;

	put_raw(f, "a", "outside");
	put_raw(f, "z", "outside");
	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"b", "1", "c", "2", "d", "3"}));
	APPLY(f, 1, C(.op = RK_KV_SEQ, .n = 1, .a = {"c0"}));
	READ(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_KEYS, .a = {"b", ""});
	OUT_IS(f, "*4\r\n$2\r\nyy\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n");
	READ(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_KEYS, .n = 2, .a = {"b", ""});
	OUT_IS(f, "*3\r\n$2\r\nc\0\r\n$1\r\nb\r\n$1\r\nc\r\n");
	READ(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_KEYS, .n = 2, .a = {"c\x01", "d"});
	OUT_IS(f, "*1\r\n$1\r\nd\r\n");
	READ(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_COUNT, .a = {"b", "zz"});
	OUT_IS(f, "*2\r\n$2\r\nyy\r\n:3\r\n");
	READ(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_COUNT, .n = 1, .a = {"c", ""});
	OUT_IS(f, "*2\r\n$2\r\nc\0\r\n:1\r\n");
	assert_int_equal(READ_RC(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_KEYS,
				 .a = {"a", ""}), RK_ERANGE);
	assert_int_equal(READ_RC(f, .op = RK_KV_SCAN, .mode = RK_KV_SCAN_COUNT,
				 .a = {"yy", ""}), RK_ERANGE);
}

/* The whole key space, its bounds passed as NULL. */
static void test_reads_unbounded(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_PUT, .a = {"a", "1", "zz", "2"}),
	      C(.op = RK_KV_PUT, .a = {"\x01", "3"}));
	expect(f, 0, "+OK\r\n");
	expect(f, 1, "+OK\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"", ""}),
			    "*6\r\n$1\r\n\x01\r\n$1\r\n3\r\n$1\r\na\r\n$1\r\n1\r\n"
			    "$2\r\nzz\r\n$1\r\n2\r\n");
	assert_string_equal(READ(f, .op = RK_KV_SCAN, .a = {"b", ""}),
			    "*2\r\n$2\r\nzz\r\n$1\r\n2\r\n");
	assert_string_equal(READ(f, .op = RK_KV_GET, .a = {"zz"}), "$1\r\n2\r\n");
}

/* Reads never enter the log; one that does is answered with an error and
 * changes nothing. */
static void test_read_in_log(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_GET, .a = {"c"}),
	      C(.op = RK_KV_SCAN, .session = 4, .seq = 1, .a = {"", ""}),
	      C(.op = RK_KV_PUT, .a = {"c", "1"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_true(strncmp(f->res[1], "-ERR", 4) == 0);
	expect(f, 2, "+OK\r\n");
}

/* ---- sessions ------------------------------------------------------------------ */

static struct rk_kv_session *find_session(struct fx *f, uint64_t id)
{
	for (size_t i = 0; i < f->sess.n; i++)
		if (f->sess.v[i].id == id)
			return &f->sess.v[i];
	return NULL;
}

static struct rk_kv_session *must_session(struct fx *f, uint64_t id)
{
	struct rk_kv_session *s = find_session(f, id);

	if (s == NULL) {
		fail_msg("session %" PRIu64 " missing", id);
		abort();
	}
	return s;
}

static void test_session_retry_applies_once(void **state)
{
	struct fx *f = *state;

	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .a = {"x"}));
	expect(f, 0, ":1\r\n");
	APPLY(f, 2, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .a = {"x"}));
	expect(f, 0, ":1\r\n");
	assert_string_equal(stored(f, "x"), "1");
	/* SEQ: the retry gets the same id and uses none up. */
	APPLY(f, 3, C(.op = RK_KV_SEQ, .n = 10, .session = 7, .seq = 2, .a = {"q"}));
	expect(f, 0, ":1\r\n");
	APPLY(f, 4, C(.op = RK_KV_SEQ, .n = 10, .session = 7, .seq = 2, .a = {"q"}));
	expect(f, 0, ":1\r\n");
	APPLY(f, 5, C(.op = RK_KV_SEQ, .n = 1, .session = 7, .seq = 3, .a = {"q"}));
	expect(f, 0, ":11\r\n");
	/* A retry inside the entry of the first attempt, and in a later entry
	 * of the same batch. */
	batch_begin(f);
	assert_int_equal(ENTRY(f, 6, C(.op = RK_KV_INCR, .n = 1, .session = 7,
				       .seq = 4, .a = {"x"}),
			       C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 4,
				 .a = {"x"})),
			 0);
	assert_int_equal(ENTRY(f, 7, C(.op = RK_KV_INCR, .n = 1, .session = 7,
				       .seq = 4, .a = {"x"})),
			 0);
	expect(f, 0, ":2\r\n");
	expect(f, 1, ":2\r\n");
	expect(f, 2, ":2\r\n");
	batch_commit(f);
	assert_string_equal(stored(f, "x"), "2");
	/* A recorded error is an answer too. */
	APPLY(f, 8, C(.op = RK_KV_PUT, .a = {"s", "abc"}));
	APPLY(f, 9, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 5, .a = {"s"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	APPLY(f, 9, C(.op = RK_KV_PUT, .a = {"s", "1"}));
	APPLY(f, 9, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 5, .a = {"s"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "s"), "1");
	/* Another session's seq 1 is its own; session 0 keeps no record. */
	APPLY(f, 10, C(.op = RK_KV_INCR, .n = 1, .session = 8, .seq = 1, .a = {"x"}));
	expect(f, 0, ":3\r\n");
	APPLY(f, 10, C(.op = RK_KV_INCR, .n = 1, .seq = 1, .a = {"x"}),
	      C(.op = RK_KV_INCR, .n = 1, .seq = 1, .a = {"x"}));
	expect(f, 0, ":4\r\n");
	expect(f, 1, ":5\r\n");
	assert_null(find_session(f, 0));
	assert_int_equal(rk_kv_sessions_count(&f->sess), 2);
}

/* ---- batches (RK_KV_BATCH) ----------------------------------------------------- */

struct batch_res {
	uint8_t p[8192];
	size_t len;
	uint32_t calls;
};

static void on_batch_result(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	struct batch_res *r = arg;

	(void)no;
	assert_true(len <= sizeof(r->p));
	memcpy(r->p, resp, len);
	r->len = len;
	r->calls++;
}

static void sub_cmd(struct rk_buf *b, int op, int64_t n, const char *key)
{
	struct rk_kv_cmd c;
	size_t start = b->len;

	memset(&c, 0, sizeof(c));
	c.op = (uint8_t)op;
	c.n = n;
	rk_kv_cmd_begin(b, &c);
	rk_kv_cmd_arg(b, key, strlen(key));
	rk_kv_cmd_finish(b, start, 1);
}

/* A batch of n INCRs of key, then 3 SEQ.NEXTs of q and a GET (not a
 * write: refused alone), as session 7's seq, applied as one entry into a
 * fresh storage batch; its size in *bytesp. */
static void apply_batch(struct fx *f, uint64_t seq, int n, const char *key,
			struct batch_res *r, size_t *bytesp)
{
	struct rk_kv_cmd c;
	struct rk_buf b, sub, e;

	memset(&c, 0, sizeof(c));
	c.op = RK_KV_BATCH;
	c.session = 7;
	c.seq = seq;
	c.first_incomplete = seq;
	rk_buf_init(&b);
	rk_buf_init(&sub);
	rk_buf_init(&e);
	rk_kv_cmd_begin(&b, &c);
	for (int i = 0; i < n + 4; i++) {
		rk_buf_reset(&sub);
		sub_cmd(&sub, i < n ? RK_KV_INCR : i < n + 3 ? RK_KV_SEQ : RK_KV_GET, 1,
			i < n ? key : "q");
		rk_kv_cmd_arg(&b, sub.p, sub.len);
	}
	rk_kv_cmd_finish(&b, 0, (uint32_t)n + 4);
	rk_kv_entry_begin(&e, seq);
	rk_kv_entry_add(&e, b.p, b.len);
	rk_kv_entry_finish(&e, 1);
	memset(r, 0, sizeof(*r));
	batch_begin(f);
	assert_int_equal(rk_kv_apply_entry(&f->a, (const uint8_t *)e.p, e.len,
					   on_batch_result, r), 0);
	assert_int_equal(r->calls, 1);
	*bytesp = rk_store_batch_bytes(f->b);
	batch_commit(f);
	rk_buf_free(&b);
	rk_buf_free(&sub);
	rk_buf_free(&e);
}

/* The replies of a batch's commands, in order, joined. */
static void batch_replies(const struct batch_res *r, char *out, size_t cap)
{
	size_t off = 0, l, at = 0;
	const uint8_t *p;

	out[0] = '\0';
	while (rk_kv_batch_reply(r->p, r->len, &off, &p, &l) == 0) {
		assert_true(at + l < cap);
		memcpy(out + at, p, l);
		at += l;
		out[at] = '\0';
	}
	assert_int_equal(off, r->len);
}

static void test_batch_applies_in_order_once(void **state)
{
	struct fx *f = *state;
	struct batch_res r;
	char got[4096], want[4096];
	size_t bytes, plain;
	int at = 0;

	apply_batch(f, 1, 100, "x", &r, &bytes);
	assert_int_equal(r.p[0], 'B');
	for (int i = 1; i <= 100; i++)
		at += snprintf(want + at, sizeof(want) - (size_t)at, ":%d\r\n", i);
	snprintf(want + at, sizeof(want) - (size_t)at,
		 ":1\r\n:2\r\n:3\r\n-ERR malformed command in a batch\r\n");
	batch_replies(&r, got, sizeof(got));
	assert_string_equal(got, want);
	assert_string_equal(stored(f, "x"), "100");
	/* The 100 INCRs of x are one write of its final value: the storage
	 * batch holds two rows (x and q), not 103. */
	batch_begin(f);
	for (int i = 0; i < 100; i++) {
		f->nres = 0;
		assert_int_equal(ENTRY(f, 2, C(.op = RK_KV_INCR, .n = 1, .a = {"y"})), 0);
	}
	plain = rk_store_batch_bytes(f->b);
	batch_commit(f);
	assert_true(bytes * 10 < plain);
	/* Resent (its answer lost): the recorded replies, nothing applied. */
	apply_batch(f, 1, 100, "x", &r, &bytes);
	batch_replies(&r, got, sizeof(got));
	assert_string_equal(got, want);
	assert_string_equal(stored(f, "x"), "100");
	assert_int_equal(bytes, 0);
	/* The next batch continues where the first left off. */
	apply_batch(f, 2, 2, "x", &r, &bytes);
	batch_replies(&r, got, sizeof(got));
	assert_string_equal(got, ":101\r\n:102\r\n:4\r\n:5\r\n:6\r\n"
				 "-ERR malformed command in a batch\r\n");
	/* One key outside the span refuses the whole batch: nothing of it
	 * is applied or recorded. */
	apply_batch(f, 3, 2, "zz", &r, &bytes);
	assert_true(r.len > 0 && r.p[0] == '-');
	assert_int_equal(bytes, 0);
	assert_null(stored(f, "zz"));
	assert_string_equal(stored(f, "x"), "102");
}

static void test_session_first_incomplete(void **state)
{
	struct fx *f = *state;
	struct rk_kv_session *s;

	APPLY(f, 1, C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 1, .fi = 1,
		      .a = {"x"}),
	      C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 2, .fi = 1, .a = {"x"}),
	      C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 3, .fi = 1, .a = {"x"}));
	s = must_session(f, 9);
	assert_int_equal(s->n, 3);
	/* The client no longer waits for 1 and 2: their records go. */
	APPLY(f, 2, C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 4, .fi = 3,
		      .a = {"x"}));
	expect(f, 0, ":4\r\n");
	s = must_session(f, 9);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->first_incomplete, 3);
	for (size_t i = 0; i < s->n; i++)
		assert_true(s->recs[i].seq >= 3);
	/* Below the mark: the duplicate error, nothing applied, nothing
	 * recorded; a lower mark later does not lower it. */
	APPLY(f, 3, C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 2, .fi = 1,
		      .a = {"x"}));
	assert_true(strncmp(f->res[0], "-ERR", 4) == 0);
	assert_string_equal(stored(f, "x"), "4");
	s = must_session(f, 9);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->first_incomplete, 3);
	/* At the mark: still answered from the record. */
	APPLY(f, 4, C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 3, .fi = 3,
		      .a = {"x"}));
	expect(f, 0, ":3\r\n");
	assert_string_equal(stored(f, "x"), "4");
	/* A mark past everything empties the records. */
	APPLY(f, 5, C(.op = RK_KV_INCR, .n = 1, .session = 9, .seq = 10, .fi = 10,
		      .a = {"x"}));
	expect(f, 0, ":5\r\n");
	s = must_session(f, 9);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->recs[0].seq, 10);
}

/* The table as it is written with an apply batch and read back after a
 * restart (or from a snapshot): a retry still gets the first result. */
static void test_session_table_round_trip(void **state)
{
	struct fx *f = *state;
	struct rk_kv_sessions d = {0};
	struct rk_buf b, b2;

	APPLY(f, 100, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .a = {"x"}),
	      C(.op = RK_KV_SEQ, .n = 3, .session = 7, .seq = 2, .a = {"q"}),
	      C(.op = RK_KV_PUT, .session = 8, .seq = 1, .a = {"y", "v"}),
	      C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .session = 8, .seq = 2,
		.a = {"y", "w"}));
	rk_buf_init(&b);
	rk_buf_init(&b2);
	rk_kv_sessions_encode(&f->sess, &b);
	assert_int_equal(sessions_checked((const uint8_t *)b.p, b.len), 0);
	assert_int_equal(rk_kv_sessions_decode((const uint8_t *)b.p, b.len, &d), 0);
	rk_kv_sessions_encode(&d, &b2);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.p, b.p, b.len);
	assert_int_equal(d.now_ms, 100);

	/* A replica restarted with the decoded table. */
	rk_kv_sessions_free(&f->sess);
	f->sess = d;
	APPLY(f, 200, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .a = {"x"}),
	      C(.op = RK_KV_SEQ, .n = 3, .session = 7, .seq = 2, .a = {"q"}),
	      C(.op = RK_KV_PUT, .mode = RK_KV_PUT_NX, .session = 8, .seq = 2,
		.a = {"y", "w"}),
	      C(.op = RK_KV_SEQ, .n = 1, .session = 7, .seq = 3, .a = {"q"}));
	expect(f, 0, ":1\r\n");
	expect(f, 1, ":1\r\n");
	expect(f, 2, "$-1\r\n");
	expect(f, 3, ":4\r\n");
	assert_string_equal(stored(f, "x"), "1");
	assert_string_equal(stored(f, "y"), "v");
	rk_buf_free(&b);
	rk_buf_free(&b2);
}

static void test_session_expiry(void **state)
{
	struct fx *f = *state;
	const uint64_t t0 = 1000000, ttl = RK_KV_SESSION_TTL_MS;

	APPLY(f, t0, C(.op = RK_KV_INCR, .n = 1, .session = 1, .seq = 1, .a = {"x"}));
	/* A record at the largest seq, to be freed with its session. */
	APPLY(f, t0, C(.op = RK_KV_INCR, .n = 1, .session = 2, .seq = UINT64_MAX,
		       .a = {"y"}));
	/* An entry with an older timestamp does not move the clock back. */
	APPLY(f, t0 - 5000, C(.op = RK_KV_PUT, .a = {"c", "1"}));
	assert_int_equal(f->sess.now_ms, t0);
	/* Idle exactly the TTL by entry time: kept. */
	APPLY(f, t0 + ttl, C(.op = RK_KV_PUT, .session = 3, .seq = 1, .a = {"c", "2"}));
	assert_non_null(find_session(f, 1));
	assert_non_null(find_session(f, 2));
	APPLY(f, t0 + ttl, C(.op = RK_KV_INCR, .n = 1, .session = 1, .seq = 1,
			     .a = {"x"}));
	expect(f, 0, ":1\r\n"); /* still deduplicated */
	assert_string_equal(stored(f, "x"), "1");
	/* That write refreshed session 1; session 2 has been idle since t0.
	 * One millisecond more: session 2 is gone, any entry moves the clock
	 * (here one without a session). */
	APPLY(f, t0 + ttl + 1, C(.op = RK_KV_PUT, .a = {"c", "3"}));
	assert_null(find_session(f, 2));
	assert_non_null(find_session(f, 1));
	assert_non_null(find_session(f, 3));
	assert_int_equal(rk_kv_sessions_count(&f->sess), 2);
	/* Sessions 1 and 3 go once idle for more than the TTL. */
	APPLY(f, t0 + 2 * ttl, C(.op = RK_KV_PUT, .a = {"c", "4"}));
	assert_int_equal(rk_kv_sessions_count(&f->sess), 2);
	APPLY(f, t0 + 2 * ttl + 1, C(.op = RK_KV_PUT, .session = 4, .seq = 1,
				     .a = {"c", "5"}));
	assert_int_equal(rk_kv_sessions_count(&f->sess), 1);
	assert_non_null(find_session(f, 4));
	assert_int_equal(f->sess.now_ms, t0 + 2 * ttl + 1);
}

/* One leader as the node runs it: its rk_kv_clock, its term, and what its
 * own clock reads (any origin: another machine's clock may read anything). */
struct leader {
	struct rk_kv_clock clock;
	uint64_t term, local_ms;
};

/* Applies one entry of commands stamped by l (its clock read now). */
static void lead_apply(struct fx *f, struct leader *l, const struct spec *v,
		       size_t n)
{
	apply_commit(f, rk_kv_clock_stamp(&l->clock, l->term, f->sess.now_ms,
					  l->local_ms),
		     v, n);
}
#define LEAD(f, l, ...) lead_apply(f, l, SPECS(__VA_ARGS__))

/* Session expiry follows the time leaders measure, never what one of their
 * clocks reads: a leader whose clock is an hour ahead of the previous one's
 * must not expire a session a retry then finds gone (the retry would apply
 * a second time). */
static void test_session_clock_ahead_leader(void **state)
{
	struct fx *f = *state;
	const uint64_t ttl = RK_KV_SESSION_TTL_MS;
	struct leader a = {.term = 3, .local_ms = 1000000};
	struct leader b = {.term = 4};

	/* Session 7's INCR applies under leader a; its answer is lost. */
	LEAD(f, &a, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .fi = 1,
		      .a = {"x"}));
	expect(f, 0, ":1\r\n");
	a.local_ms += 10000;
	LEAD(f, &a, C(.op = RK_KV_PUT, .session = 8, .seq = 1, .fi = 1,
		      .a = {"c", "1"}));
	/* Leader b takes over two seconds later; its clock reads an hour and
	 * a minute ahead of a's. Another session writes, then session 7's
	 * router resends its INCR with the same sequence number. */
	b.local_ms = a.local_ms + 2000 + ttl + 60000;
	LEAD(f, &b, C(.op = RK_KV_PUT, .session = 8, .seq = 2, .fi = 2,
		      .a = {"c", "2"}));
	b.local_ms += 1000;
	LEAD(f, &b, C(.op = RK_KV_INCR, .n = 1, .session = 7, .seq = 1, .fi = 1,
		      .a = {"x"}));
	expect(f, 0, ":1\r\n");
	assert_string_equal(stored(f, "x"), "1");
	assert_non_null(find_session(f, 7));
	/* The clock moved by what the leaders measured, not by b's reading. */
	assert_true(f->sess.now_ms < 20000);

	/* A leader of a later term on a restarted node (a fresh clock, its
	 * own clock reading from near zero) continues from the replicated
	 * clock: the session is still there... */
	struct leader c = {.term = 6, .local_ms = 5};
	uint64_t before = f->sess.now_ms;
	LEAD(f, &c, C(.op = RK_KV_PUT, .session = 8, .seq = 3, .fi = 3,
		      .a = {"c", "3"}));
	assert_true(f->sess.now_ms >= before);
	assert_non_null(find_session(f, 7));
	/* ...until that leader has measured more than the TTL of idleness of
	 * session 7 (session 8 keeps writing). */
	c.local_ms += ttl / 2;
	LEAD(f, &c, C(.op = RK_KV_PUT, .session = 8, .seq = 4, .fi = 4,
		      .a = {"c", "4"}));
	assert_non_null(find_session(f, 7));
	c.local_ms += ttl / 2 + 60000;
	LEAD(f, &c, C(.op = RK_KV_PUT, .session = 8, .seq = 5, .fi = 5,
		      .a = {"c", "5"}));
	assert_null(find_session(f, 7));
	assert_non_null(find_session(f, 8));
}

/* The stamps one leader gives: never below the replicated clock it has
 * applied, advancing by its own elapsed time only. */
static void test_clock_stamp(void **state)
{
	struct rk_kv_clock c;

	(void)state;
	memset(&c, 0, sizeof(c));
	/* Takes over at replicated time 500: continues from there. */
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 500, 90000000), 500);
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 500, 90000250), 750);
	/* An entry of the previous leader applied since, stamped later than
	 * this leader has measured: the stamps continue from it. */
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 2000, 90000300), 2000);
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 2000, 90000400), 2100);
	/* Its own earlier stamps applied: no change. */
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 2100, 90000400), 2100);
	/* A local clock that went back (not a monotonic one) moves nothing
	 * backwards and adds nothing. */
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 2100, 1000), 2100);
	assert_int_equal(rk_kv_clock_stamp(&c, 2, 2100, 1010), 2110);
	/* A new term starts from the applied clock, whatever the reading. */
	assert_int_equal(rk_kv_clock_stamp(&c, 5, 2110, 77), 2110);
	assert_int_equal(rk_kv_clock_stamp(&c, 5, 2110, 1077), 3110);
	/* A zeroed clock and term 0 (never a leader's) start the same way. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(rk_kv_clock_stamp(&c, 0, 40, 1000000), 40);
}

/* A malformed entry applies nothing: no command, no session change, no
 * clock change, nothing in the batch or the overlay. */
static void test_malformed_entry(void **state)
{
	struct fx *f = *state;
	const uint64_t ttl = RK_KV_SESSION_TTL_MS;
	struct rk_buf e;
	uint8_t *copy;

	APPLY(f, 1000, C(.op = RK_KV_INCR, .n = 1, .session = 5, .seq = 1, .a = {"x"}));
	rk_buf_init(&e);
	encode_entry(&e, 1000 + 2 * ttl,
		     SPECS(C(.op = RK_KV_INCR, .n = 1, .session = 6, .seq = 1,
			     .a = {"x"}),
			   C(.op = RK_KV_PUT, .a = {"y", "v"})));
	e.len--; /* the last command cut short */
	copy = exact_copy(e.p, e.len);
	batch_begin(f);
	assert_int_equal(rk_kv_apply_entry(&f->a, copy, e.len, on_result, f),
			 RK_EPROTO);
	assert_int_equal(f->nres, 0);
	assert_true(rk_store_batch_empty(f->b));
	assert_int_equal(f->sess.now_ms, 1000);
	assert_int_equal(rk_kv_sessions_count(&f->sess), 1);
	assert_null(find_session(f, 6));
	/* The overlay has nothing either: a command after it in the same
	 * batch sees the committed value. */
	assert_int_equal(ENTRY(f, 1001, C(.op = RK_KV_INCR, .n = 1, .a = {"x"})), 0);
	expect(f, 0, ":2\r\n");
	batch_commit(f);
	assert_null(stored(f, "y"));
	free(copy);
	rk_buf_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_round_trip),
		cmocka_unit_test(test_entry_round_trip),
		cmocka_unit_test(test_sessions_round_trip),
		cmocka_unit_test(test_cmd_decode_refuses_malformed),
		cmocka_unit_test(test_entry_walk_refuses_malformed),
		cmocka_unit_test(test_sessions_decode_refuses_malformed),
		cmocka_unit_test(test_cmd_decode_random_damage),
		cmocka_unit_test(test_entry_walk_random_damage),
		cmocka_unit_test(test_sessions_decode_random_damage),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_in_span),
		cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_nx_xx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_mode_multi_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_multi_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_del_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_applies_in_order_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_size_delta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside_span_not_applied, setup, teardown),
		cmocka_unit_test(test_split_encoding),
		cmocka_unit_test(test_split_descs),
		cmocka_unit_test_setup_teardown(test_split_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_one_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlay_across_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_outside_span, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_unbounded, setup_unbounded,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_in_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_retry_applies_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_first_incomplete, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_table_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_clock_ahead_leader, setup,
						teardown),
		cmocka_unit_test(test_clock_stamp),
		cmocka_unit_test_setup_teardown(test_malformed_entry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
