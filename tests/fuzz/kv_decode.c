/*
 * Fuzz target kv_decode: the decoders of src/kv/kv.h. Commands arrive from
 * the network (a client's node forwards them to the range leader), entries
 * and the session table come back from disk and in snapshots; every
 * replica walks an entry's commands and iterates their arguments.
 *
 * Properties, checked against an independent reading of the layouts in
 * kv.h:
 *  - the input as a command: rk_kv_cmd_decode accepts exactly what the
 *    layout allows (known op, mode <= XX, at least one argument, the
 *    arguments filling the rest exactly), with the bytes' values; iterating
 *    the arguments (rk_kv_arg_next) gives nargs of them, each where the
 *    layout puts it, then RK_ENOTFOUND; rk_kv_cmd_key is the first (a
 *    BATCH's: its first argument's first argument when that is a command
 *    other than a BATCH, else RK_EPROTO); what
 *    decodes re-encodes (rk_kv_cmd_begin/arg/finish) to the same bytes;
 *    rk_kv_check_decode accepts exactly a CHECK with mode 0 and one 8-byte
 *    argument, giving its id and node, and zeroes both otherwise;
 *  - the input as an entry: rk_kv_entry_walk accepts exactly what the
 *    layout allows; a refused entry passes nothing to fn; an accepted one
 *    passes every command, in order, each where the layout puts it, and
 *    re-encodes (rk_kv_entry_begin/add/finish) to the same bytes; walking
 *    without fn gives the same answer; fn's non-zero return stops the walk
 *    and is returned;
 *  - the input as the one command of an entry (rk_kv_entry_add): the entry
 *    walks exactly when the command decodes (the way into the entry walk
 *    for any command);
 *  - the input as a session table: rk_kv_sessions_decode accepts exactly
 *    what the layout allows, leaves the table empty when it refuses, and
 *    what decodes holds the bytes' values, re-encodes
 *    (rk_kv_sessions_encode) to the same bytes and decodes again to them.
 */
#include <stdbool.h>
#include <string.h>

#include "kv.h"

#include "fuzz.h"

#define CMD_HDR (1 + 1 + 8 + 8 + 8 + 8 + 4)
#define ENTRY_HDR (1 + 8 + 4)
#define SESS_HDR (1 + 8 + 4)
#define SESS_FIXED (8 + 8 + 8 + 4)
#define REC_FIXED (8 + 4)

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- commands ------------------------------------------------------------ */

/* Whether p[0..len) is a command, read from the layout alone. */
static int is_cmd(const uint8_t *p, size_t len)
{
	size_t off = CMD_HDR;
	uint64_t nargs, i, l;

	if (len < CMD_HDR || p[0] < RK_KV_GET || p[0] > RK_KV_UNFREEZE ||
	    p[1] > RK_KV_PUT_XX)
		return 0;
	nargs = le(p + 34, 4);
	if (nargs == 0)
		return 0;
	for (i = 0; i < nargs; i++) {
		if (len - off < 4)
			return 0;
		l = le(p + off, 4);
		off += 4;
		if (l > len - off)
			return 0;
		off += (size_t)l;
	}
	return off == len;
}

/* A decoded command against its bytes p[0..len). */
static void check_cmd(const uint8_t *p, size_t len, const struct rk_kv_cmd *c)
{
	struct rk_buf re;
	const uint8_t *a, *k;
	size_t off = 0, at = CMD_HDR, l, kl;
	uint32_t n = 0;
	int rc;

	FUZZ_CHECK(c->op == p[0] && c->mode == p[1]);
	FUZZ_CHECK(c->session == le(p + 2, 8) && c->seq == le(p + 10, 8));
	FUZZ_CHECK(c->first_incomplete == le(p + 18, 8));
	FUZZ_CHECK((uint64_t)c->n == le(p + 26, 8));
	FUZZ_CHECK(c->nargs == le(p + 34, 4));
	FUZZ_CHECK(c->args == p + CMD_HDR && c->args_len == len - CMD_HDR);
	rk_buf_init(&re);
	rk_kv_cmd_begin(&re, c);
	while ((rc = rk_kv_arg_next(c, &off, &a, &l)) == 0) {
		FUZZ_CHECK(n < c->nargs);
		FUZZ_CHECK(len - at >= 4 && l == le(p + at, 4));
		FUZZ_CHECK(a == p + at + 4 && l <= len - at - 4);
		if (n == 0 && c->op != RK_KV_BATCH) {
			FUZZ_CHECK(rk_kv_cmd_key(c, &k, &kl) == 0);
			FUZZ_CHECK(k == a && kl == l);
		} else if (n == 0) {
			int krc = rk_kv_cmd_key(c, &k, &kl);
			if (is_cmd(a, l) && a[0] != RK_KV_BATCH)
				FUZZ_CHECK(krc == 0 && k == a + CMD_HDR + 4 &&
					   kl == le(a + CMD_HDR, 4));
			else
				FUZZ_CHECK(krc == RK_EPROTO && k == NULL && kl == 0);
		}
		rk_kv_cmd_arg(&re, a, l);
		at += 4 + l;
		n++;
	}
	FUZZ_CHECK(rc == RK_ENOTFOUND && a == NULL && l == 0);
	FUZZ_CHECK(n == c->nargs && at == len && off == c->args_len);
	rk_kv_cmd_finish(&re, 0, c->nargs);
	if (!re.oom)
		FUZZ_CHECK(re.len == len && memcmp(re.p, p, len) == 0);
	rk_buf_free(&re);
}

static void fuzz_cmd(const uint8_t *p, size_t len)
{
	struct rk_kv_cmd c;
	int rc = rk_kv_cmd_decode(p, len, &c);

	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	FUZZ_CHECK((rc == 0) == is_cmd(p, len));
	if (rc == 0)
		check_cmd(p, len, &c);
	if (rc == 0) {
		/* A CHECK: exactly one 8-byte argument (the id) and mode 0. */
		uint64_t id, node;
		bool want = c.op == RK_KV_CHECK && c.mode == 0 && c.nargs == 1 &&
			    le(p + CMD_HDR, 4) == 8;
		FUZZ_CHECK((rk_kv_check_decode(&c, &id, &node) == 0) == want);
		if (want)
			FUZZ_CHECK(id == le(p + CMD_HDR + 4, 8) && node == le(p + 26, 8));
		else
			FUZZ_CHECK(id == 0 && node == 0);
	}
}

/* ---- entries --------------------------------------------------------------- */

static int is_entry(const uint8_t *p, size_t len)
{
	size_t off = ENTRY_HDR;
	uint64_t count, i, l;

	if (len < ENTRY_HDR || p[0] != 1)
		return 0;
	count = le(p + 9, 4);
	for (i = 0; i < count; i++) {
		if (len - off < 4)
			return 0;
		l = le(p + off, 4);
		off += 4;
		if (l > len - off || !is_cmd(p + off, (size_t)l))
			return 0;
		off += (size_t)l;
	}
	return off == len;
}

struct walk {
	const uint8_t *p;
	size_t len, at; /* where the next command's length is */
	uint32_t calls, stop_at;
	struct rk_buf re;
};

static int walk_fn(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct walk *w = arg;
	size_t l;

	FUZZ_CHECK(no == w->calls);
	FUZZ_CHECK(w->len - w->at >= 4);
	l = (size_t)le(w->p + w->at, 4);
	FUZZ_CHECK(l <= w->len - w->at - 4 && l >= CMD_HDR);
	FUZZ_CHECK(c->args == w->p + w->at + 4 + CMD_HDR);
	FUZZ_CHECK(c->args_len == l - CMD_HDR);
	check_cmd(w->p + w->at + 4, l, c);
	rk_kv_entry_add(&w->re, w->p + w->at + 4, l);
	w->at += 4 + l;
	w->calls++;
	return no == w->stop_at ? 1000 + (int)no : 0;
}

static void fuzz_entry(const uint8_t *p, size_t len)
{
	struct walk w = {p, len, ENTRY_HDR, 0, UINT32_MAX, {0}};
	uint64_t ts = 1, ts2 = 1;
	int rc, ok = is_entry(p, len);

	rk_buf_init(&w.re);
	rc = rk_kv_entry_walk(p, len, &ts, walk_fn, &w);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	FUZZ_CHECK((rc == 0) == ok);
	FUZZ_CHECK(rk_kv_entry_walk(p, len, &ts2, NULL, NULL) == rc);
	if (rc != 0) {
		FUZZ_CHECK(w.calls == 0);
		rk_buf_free(&w.re);
		return;
	}
	FUZZ_CHECK(ts == le(p + 1, 8) && ts2 == ts);
	FUZZ_CHECK(w.calls == le(p + 9, 4) && w.at == len);
	{
		struct rk_buf e;

		rk_buf_init(&e);
		rk_kv_entry_begin(&e, ts);
		rk_buf_append(&e, w.re.p, w.re.len);
		rk_kv_entry_finish(&e, w.calls);
		if (!e.oom && !w.re.oom)
			FUZZ_CHECK(e.len == len && memcmp(e.p, p, len) == 0);
		rk_buf_free(&e);
	}
	/* Stopped half-way: fn's value comes back, nothing after it ran. */
	if (w.calls > 0) {
		uint32_t stop = w.calls / 2;

		rk_buf_reset(&w.re);
		w.at = ENTRY_HDR;
		w.calls = 0;
		w.stop_at = stop;
		FUZZ_CHECK(rk_kv_entry_walk(p, len, &ts, walk_fn, &w) ==
			   1000 + (int)stop);
		FUZZ_CHECK(w.calls == stop + 1);
	}
	rk_buf_free(&w.re);
}

/* The input as the one command of an entry. */
static void fuzz_entry_of(const uint8_t *p, size_t len)
{
	struct rk_buf e;
	uint64_t ts;

	rk_buf_init(&e);
	rk_kv_entry_begin(&e, len);
	rk_kv_entry_add(&e, p, len);
	rk_kv_entry_finish(&e, 1);
	if (!e.oom) {
		int rc = rk_kv_entry_walk((const uint8_t *)e.p, e.len, &ts, NULL, NULL);

		FUZZ_CHECK((rc == 0) == is_cmd(p, len));
		fuzz_entry((const uint8_t *)e.p, e.len);
	}
	rk_buf_free(&e);
}

/* ---- the session table ---------------------------------------------------------- */

/* The header's length: version 1 (u8 version, u64 now, u32 n) or 2 (the
 * u64 frozen mark and u64 held time before n, not both 0); 0 for neither. */
static size_t sess_hdr(const uint8_t *p, size_t len)
{
	if (len >= SESS_HDR && p[0] == 1)
		return SESS_HDR;
	if (len >= SESS_HDR + 16 && p[0] == 2 && (le(p + 9, 8) != 0 || le(p + 17, 8) != 0))
		return SESS_HDR + 16;
	return 0;
}

static int is_sessions(const uint8_t *p, size_t len)
{
	size_t off = sess_hdr(p, len);
	uint64_t n, i, nr, j, l;

	if (off == 0)
		return 0;
	n = le(p + off - 4, 4);
	for (i = 0; i < n; i++) {
		if (len - off < SESS_FIXED)
			return 0;
		nr = le(p + off + 24, 4);
		off += SESS_FIXED;
		for (j = 0; j < nr; j++) {
			if (len - off < REC_FIXED)
				return 0;
			l = le(p + off + 8, 4);
			off += REC_FIXED;
			if (l > len - off)
				return 0;
			off += (size_t)l;
		}
	}
	return off == len;
}

static void check_sessions(const uint8_t *p, size_t len,
			   const struct rk_kv_sessions *s)
{
	size_t off = sess_hdr(p, len), i, j;

	FUZZ_CHECK(s->now_ms == le(p + 1, 8));
	FUZZ_CHECK(s->frozen == (off > SESS_HDR ? le(p + 9, 8) : 0));
	FUZZ_CHECK(s->marks_held_until == (off > SESS_HDR ? le(p + 17, 8) : 0));
	FUZZ_CHECK(rk_kv_sessions_count(s) == le(p + off - 4, 4) && s->n <= s->cap);
	for (i = 0; i < s->n; i++) {
		const struct rk_kv_session *x = &s->v[i];

		FUZZ_CHECK(x->id == le(p + off, 8));
		FUZZ_CHECK(x->last_ms == le(p + off + 8, 8));
		FUZZ_CHECK(x->first_incomplete == le(p + off + 16, 8));
		FUZZ_CHECK(x->n == le(p + off + 24, 4) && x->n <= x->cap);
		off += SESS_FIXED;
		for (j = 0; j < x->n; j++) {
			FUZZ_CHECK(x->recs[j].seq == le(p + off, 8));
			FUZZ_CHECK(x->recs[j].len == le(p + off + 8, 4));
			off += REC_FIXED;
			FUZZ_CHECK(x->recs[j].resp != NULL);
			FUZZ_CHECK(memcmp(x->recs[j].resp, p + off,
					  x->recs[j].len) == 0);
			off += x->recs[j].len;
		}
	}
	FUZZ_CHECK(off == len);
}

static void fuzz_sessions(const uint8_t *p, size_t len)
{
	struct rk_kv_sessions s, s2;
	struct rk_buf re, re2;
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&s2, 0, sizeof(s2));
	rc = rk_kv_sessions_decode(p, len, &s);
	if (rc == RK_ENOMEM)
		return;
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	FUZZ_CHECK((rc == 0) == is_sessions(p, len));
	if (rc != 0) {
		FUZZ_CHECK(rk_kv_sessions_count(&s) == 0 && s.v == NULL);
		return;
	}
	check_sessions(p, len, &s);
	rk_buf_init(&re);
	rk_buf_init(&re2);
	rk_kv_sessions_encode(&s, &re);
	if (!re.oom) {
		FUZZ_CHECK(re.len == len && memcmp(re.p, p, len) == 0);
		rc = rk_kv_sessions_decode((const uint8_t *)re.p, re.len, &s2);
		if (rc != RK_ENOMEM) {
			FUZZ_CHECK(rc == 0);
			rk_kv_sessions_encode(&s2, &re2);
			if (!re2.oom)
				FUZZ_CHECK(re2.len == len &&
					   memcmp(re2.p, p, len) == 0);
		}
	}
	rk_buf_free(&re);
	rk_buf_free(&re2);
	rk_kv_sessions_free(&s);
	rk_kv_sessions_free(&s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_cmd(data, size);
	fuzz_entry(data, size);
	fuzz_entry_of(data, size);
	fuzz_sessions(data, size);
	return 0;
}
