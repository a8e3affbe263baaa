/*
 * SCAN, KEYS and DBSIZE: walks of the key space across ranges, in key
 * order, each step a ranged read at the leader of the range it starts in.
 *
 * A walk goes from a position (a key; empty = the beginning) to an end
 * (empty = the end of the key space). Each step is one SCAN command of
 * src/kv in KEYS or COUNT mode: the leader answers the keys (or their
 * count) from the position to the end of its range or a limit, and where
 * to go on. The walk continues from there, so it never relies on this
 * node's idea of where ranges end (kv.h, enum rk_kv_scan_mode). Each step
 * is linearizable like GET (a read barrier at that range's leader); the
 * steps of one walk are not one snapshot.
 *
 * Why SCAN returns every key present for the whole scan at least once:
 * positions only move forward in key order, and a step answers every key
 * of [position, next) that its range held at its read point; a key
 * present throughout is at some position reached by some step. Keys are
 * returned once, in key order (a repeated call with the same cursor
 * returns its page again).
 *
 * The cursor of SCAN is what clients expect, a decimal unsigned 64-bit
 * number (0 starts and ends a scan); it names an entry of this server's
 * cursor table holding the position to resume from. The table is bounded
 * (RK_CLIENT_CURSORS_MAX entries, RK_CLIENT_CURSOR_BYTES of keys) and its
 * entries expire RK_CLIENT_CURSOR_TTL_MS after they were made; when full,
 * entries already used once go first, then the oldest. A cursor of
 * another node, of a restarted one or an expired one answers
 * "-ERR invalid cursor": a scan is resumed on the node that gave the
 * cursor (client libraries keep the connection for a scan).
 *
 * MATCH keeps the keys matching a glob pattern (as Redis: * ? [...] and
 * \ escapes, case-sensitive). A pattern's literal prefix bounds the walk
 * (user:* reads only the keys starting with "user:"): keys outside it
 * cannot match, so the guarantee holds and a prefix scan costs only its
 * keys.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "kv.h"

#define SCAN_DEFAULT_COUNT 10
#define SCAN_MAX_HOPS 64     /* ranges one SCAN call may cross */

struct scanq {
	enum rk_client_cmd_id what; /* SCAN, KEYS or DBSIZE */
	uint8_t *pos, *end, *pat;
	size_t plen, elen, patl;
	bool match;    /* a MATCH pattern is given */
	int64_t left;  /* SCAN: keys this call may still examine */
	int64_t found; /* matches gathered, or DBSIZE's count */
	uint32_t hops;
	struct rk_buf body;
};

/* ---- glob patterns --------------------------------------------------------------- */

/* Whether the [...] class at pat[*ip] (just after '[') holds ch; moves *ip
 * past its ']' (an unterminated class ends with the pattern, as in
 * Redis). */
static bool class_match(const uint8_t *pat, size_t pl, size_t *ip, uint8_t ch)
{
	size_t i = *ip;
	bool neg = false, hit = false;

	if (i < pl && pat[i] == '^') {
		neg = true;
		i++;
	}
	while (i < pl && pat[i] != ']') {
		if (pat[i] == '\\' && i + 1 < pl) {
			hit |= pat[i + 1] == ch;
			i += 2;
		} else if (i + 2 < pl && pat[i + 1] == '-' && pat[i + 2] != ']') {
			uint8_t lo = pat[i], hi = pat[i + 2];
			if (lo > hi) {
				uint8_t t = lo;
				lo = hi;
				hi = t;
			}
			hit |= ch >= lo && ch <= hi;
			i += 3;
		} else {
			hit |= pat[i] == ch;
			i++;
		}
	}
	*ip = i < pl ? i + 1 : i;
	return hit != neg;
}

/* Whether the one-character token at pat[p] matches ch; *np is the
 * position after it. */
static bool token_match(const uint8_t *pat, size_t pl, size_t p, uint8_t ch,
			size_t *np)
{
	switch (pat[p]) {
	case '?':
		*np = p + 1;
		return true;
	case '[':
		*np = p + 1;
		return class_match(pat, pl, np, ch);
	case '\\':
		if (p + 1 < pl) {
			*np = p + 2;
			return pat[p + 1] == ch;
		}
		*np = p + 1;
		return ch == '\\';
	default:
		*np = p + 1;
		return pat[p] == ch;
	}
}

/* Every token but '*' matches exactly one byte, so a mismatch after a '*'
 * need only retry from the last '*' one byte further: O(pattern x key),
 * never exponential (Redis's recursive matcher needed a depth limit). */
bool rk_client_glob_match(const uint8_t *pat, size_t pl, const uint8_t *s,
			  size_t sl)
{
	size_t p = 0, i = 0, star_p = SIZE_MAX, star_i = 0, np;

	while (i < sl) {
		if (p < pl && pat[p] == '*') {
			while (p < pl && pat[p] == '*')
				p++;
			if (p == pl)
				return true;
			star_p = p;
			star_i = i;
			continue;
		}
		if (p < pl && token_match(pat, pl, p, s[i], &np)) {
			p = np;
			i++;
			continue;
		}
		if (star_p == SIZE_MAX)
			return false;
		p = star_p;
		i = ++star_i;
	}
	while (p < pl && pat[p] == '*')
		p++;
	return p == pl;
}

/* The bytes every match of pat starts with (up to its first special
 * character). */
size_t rk_client_glob_prefix(const uint8_t *pat, size_t pl)
{
	size_t i = 0;

	while (i < pl && pat[i] != '*' && pat[i] != '?' && pat[i] != '[' &&
	       pat[i] != '\\')
		i++;
	return i;
}

/* ---- the cursor table ------------------------------------------------------------ */

struct cursor_ent {
	uint64_t id, made_ms;
	bool used;
	uint8_t *key;
	size_t len;
};

struct rk_client_cursors {
	struct cursor_ent *v;
	size_t n, cap, bytes;
	uint64_t next_id;
};

static void cursor_drop(struct rk_client_cursors *t, size_t i)
{
	t->bytes -= t->v[i].len;
	free(t->v[i].key);
	t->v[i] = t->v[--t->n];
}

static void cursors_expire(struct rk_client_cursors *t, uint64_t now)
{
	for (size_t i = 0; i < t->n;)
		if (now - t->v[i].made_ms >= RK_CLIENT_CURSOR_TTL_MS)
			cursor_drop(t, i);
		else
			i++;
}

/* Evicts one entry: one already used before any unused one, the oldest
 * first. */
static void cursors_evict(struct rk_client_cursors *t)
{
	size_t best = 0;

	for (size_t i = 1; i < t->n; i++) {
		const struct cursor_ent *a = &t->v[i], *b = &t->v[best];
		if (a->used != b->used ? a->used : a->made_ms < b->made_ms)
			best = i;
	}
	cursor_drop(t, best);
}

void rk_client_cursors_free(struct rk_client_cursors *t)
{
	if (t == NULL)
		return;
	while (t->n > 0)
		cursor_drop(t, 0);
	free(t->v);
	free(t);
}

/* Ids stay below 2^53 (exact in a double, for clients that parse numbers
 * as such) and start at a value of this process's clock, so a cursor of a
 * restarted node is very unlikely to name an entry. */
int rk_client_cursor_put(struct rk_client_server *s, uint64_t now,
			 const uint8_t *key, size_t len, uint64_t *idp)
{
	struct rk_client_cursors *t = s->cursors;
	struct cursor_ent *e;

	*idp = 0;
	if (t == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return RK_ENOMEM;
		t->next_id = (uv_hrtime() ^ ((uint64_t)getpid() << 32)) & ((1ull << 52) - 1);
		s->cursors = t;
	}
	cursors_expire(t, now);
	while (t->n > 0 && (t->n >= RK_CLIENT_CURSORS_MAX ||
			    t->bytes + len > RK_CLIENT_CURSOR_BYTES))
		cursors_evict(t);
	if (rk_grow((void **)&t->v, &t->cap, t->n, sizeof(*t->v)) != 0)
		return RK_ENOMEM;
	e = &t->v[t->n];
	if ((e->key = malloc(len ? len : 1)) == NULL)
		return RK_ENOMEM;
	memcpy(e->key, key, len);
	e->len = len;
	e->used = false;
	e->made_ms = now;
	t->next_id = t->next_id + 1 < (1ull << 53) ? t->next_id + 1 : 1;
	e->id = t->next_id;
	t->bytes += len;
	t->n++;
	*idp = e->id;
	return 0;
}

int rk_client_cursor_get(struct rk_client_server *s, uint64_t now, uint64_t id,
			 uint8_t **keyp, size_t *lenp)
{
	struct rk_client_cursors *t = s->cursors;

	*keyp = NULL;
	*lenp = 0;
	if (t == NULL)
		return RK_ENOTFOUND;
	cursors_expire(t, now);
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i].id != id)
			continue;
		if ((*keyp = malloc(t->v[i].len ? t->v[i].len : 1)) == NULL)
			return RK_ENOMEM;
		memcpy(*keyp, t->v[i].key, t->v[i].len);
		*lenp = t->v[i].len;
		t->v[i].used = true; /* kept for a repeat, evicted first */
		return 0;
	}
	return RK_ENOTFOUND;
}

size_t rk_client_cursors_count(const struct rk_client_server *s)
{
	return s->cursors != NULL ? s->cursors->n : 0;
}

/* ---- the walk -------------------------------------------------------------------- */

void rk_client_scan_free(struct scanq *w)
{
	if (w == NULL)
		return;
	free(w->pos);
	free(w->end);
	free(w->pat);
	rk_buf_free(&w->body);
	free(w);
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = al > 0 && bl > 0 ? memcmp(a, b, al < bl ? al : bl) : 0;

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

static void answer(struct creq *q, const char *s)
{
	rk_buf_puts(&q->reply, s);
	rk_client_creq_done(q);
}

static void on_step(void *arg, int status, const uint8_t *reply, size_t len);

static void step(struct creq *q)
{
	struct scanq *w = q->scan;
	struct rk_kv_cmd c;
	struct rk_buf b;
	int rc;

	memset(&c, 0, sizeof(c));
	c.op = RK_KV_SCAN;
	c.mode = w->what == RK_CMD_DBSIZE ? RK_KV_SCAN_COUNT : RK_KV_SCAN_KEYS;
	c.n = w->what == RK_CMD_SCAN && w->left < RK_KV_SCAN_MAX ? w->left
								 : RK_KV_SCAN_MAX;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	rk_kv_cmd_arg(&b, w->pos, w->plen);
	rk_kv_cmd_arg(&b, w->end, w->elen);
	rk_kv_cmd_finish(&b, 0, 2);
	rc = b.oom ? RK_ENOMEM
		   : rk_client_submit(q->srv->router, (const uint8_t *)b.p, b.len,
				      on_step, q);
	rk_buf_free(&b);
	if (rc != 0)
		answer(q, RK_CLIENT_ERR_TRYAGAIN);
}

static void finish(struct creq *q, bool done)
{
	struct scanq *w = q->scan;
	uint64_t id = 0;

	if (w->body.oom) {
		answer(q, "-ERR out of memory\r\n");
		return;
	}
	switch (w->what) {
	case RK_CMD_DBSIZE:
		rk_buf_printf(&q->reply, ":%" PRId64 "\r\n", w->found);
		break;
	case RK_CMD_KEYS:
		rk_buf_printf(&q->reply, "*%" PRId64 "\r\n", w->found);
		rk_buf_append(&q->reply, w->body.p, w->body.len);
		break;
	default: {
		char num[24];
		if (!done && rk_client_cursor_put(q->srv, uv_now(q->srv->loop), w->pos,
						  w->plen, &id) != 0) {
			answer(q, "-ERR out of memory\r\n");
			return;
		}
		snprintf(num, sizeof(num), "%" PRIu64, id);
		rk_buf_printf(&q->reply, "*2\r\n$%zu\r\n%s\r\n*%" PRId64 "\r\n",
			      strlen(num), num, w->found);
		rk_buf_append(&q->reply, w->body.p, w->body.len);
		break;
	}
	}
	rk_client_creq_done(q);
}

/* One bulk string of a reply (client_int.h). */
bool rk_client_take_bulk(const uint8_t *p, size_t len, size_t *offp,
		      const uint8_t **bp, size_t *blp)
{
	size_t off = *offp;
	const uint8_t *nl;
	int64_t n;

	if (off >= len || p[off] != '$' ||
	    (nl = memchr(p + off, '\n', len - off)) == NULL ||
	    !rk_kv_parse_i64(p + off + 1, (size_t)(nl - p - off) - 2, &n) || n < 0 ||
	    (size_t)n > len - (size_t)(nl + 1 - p) ||
	    len - (size_t)(nl + 1 - p) - (size_t)n < 2)
		return false;
	*bp = nl + 1;
	*blp = (size_t)n;
	*offp = (size_t)(nl + 1 - p) + (size_t)n + 2;
	return true;
}

/* Takes one step's answer: [next, keys...] or [next, :count]. */
static int take_step(struct creq *q, const uint8_t *p, size_t len)
{
	struct scanq *w = q->scan;
	const uint8_t *nl = memchr(p, '\n', len), *next, *k;
	size_t off, nlen, kl;
	int64_t n, count = 0;

	if (len < 4 || p[0] != '*' || nl == NULL ||
	    !rk_kv_parse_i64(p + 1, (size_t)(nl - p) - 2, &n) || n < 1)
		return RK_EPROTO;
	off = (size_t)(nl + 1 - p);
	if (!rk_client_take_bulk(p, len, &off, &next, &nlen))
		return RK_EPROTO;
	if (w->what == RK_CMD_DBSIZE) {
		if (off >= len || p[off] != ':' ||
		    (nl = memchr(p + off, '\n', len - off)) == NULL ||
		    !rk_kv_parse_i64(p + off + 1, (size_t)(nl - p - off) - 2, &count))
			return RK_EPROTO;
		w->found += count;
	}
	for (int64_t i = 1; w->what != RK_CMD_DBSIZE && i < n; i++) {
		if (!rk_client_take_bulk(p, len, &off, &k, &kl))
			return RK_EPROTO;
		count++;
		if (w->match && !rk_client_glob_match(w->pat, w->patl, k, kl))
			continue;
		if (w->what == RK_CMD_KEYS && w->found == RK_CLIENT_KEYS_MAX) {
			answer(q, "-ERR KEYS would return more than 100000 keys; "
				  "use SCAN with a cursor\r\n");
			return 1;
		}
		rk_buf_printf(&w->body, "$%zu\r\n", kl);
		rk_buf_append(&w->body, k, kl);
		rk_buf_append(&w->body, "\r\n", 2);
		w->found++;
	}
	w->left -= count;
	if (nlen > 0) { /* next lives in the reply: keep a copy */
		uint8_t *np = malloc(nlen ? nlen : 1);
		if (np == NULL)
			return RK_ENOMEM;
		memcpy(np, next, nlen);
		free(w->pos);
		w->pos = np;
	}
	w->plen = nlen;
	return 0;
}

static void on_step(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct creq *q = arg;
	struct scanq *w = q->scan;
	bool done;
	int rc;

	if (status == RK_CLIENT_TRYAGAIN || status == RK_CLIENT_TIMEOUT) {
		answer(q, RK_CLIENT_ERR_TRYAGAIN); /* reads never apply */
		return;
	}
	if (status != RK_NET_RESP_OK || (len > 0 && reply[0] == '-')) {
		if (len > 0 && reply[0] == '-')
			rk_buf_append(&q->reply, reply, len);
		else
			rk_buf_puts(&q->reply, "-ERR bad scan answer\r\n");
		rk_client_creq_done(q);
		return;
	}
	rc = take_step(q, reply, len);
	if (rc == 1)
		return; /* answered */
	if (rc != 0) {
		answer(q, rc == RK_ENOMEM ? "-ERR out of memory\r\n"
					  : "-ERR bad scan answer\r\n");
		return;
	}
	/* An empty next is the end of the key space. */
	done = w->plen == 0 ||
	       (w->elen > 0 && keycmp(w->pos, w->plen, w->end, w->elen) >= 0);
	w->hops++;
	if (done || (w->what == RK_CMD_SCAN &&
		     (w->left <= 0 || w->hops >= SCAN_MAX_HOPS))) {
		finish(q, done);
		return;
	}
	step(q);
}

/* ---- the commands ---------------------------------------------------------------- */

static bool parse_u64(const uint8_t *p, size_t len, uint64_t *vp)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - (p[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*vp = v;
	return true;
}

static void *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d != NULL && n > 0)
		memcpy(d, p, n);
	return d;
}

/* The walk's bounds from the pattern's literal prefix: from it, to the
 * first key past every key starting with it (the prefix with its last
 * byte below 0xff incremented, the rest cut; none: the end). */
static int bound_by_prefix(struct scanq *w)
{
	size_t n = w->match ? rk_client_glob_prefix(w->pat, w->patl) : 0;

	while (n > 0 && w->pat[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	if ((w->end = dup_bytes(w->pat, n)) == NULL)
		return RK_ENOMEM;
	w->elen = n;
	w->end[n - 1]++;
	n = rk_client_glob_prefix(w->pat, w->patl);
	if (keycmp(w->pos, w->plen, w->pat, n) < 0) {
		free(w->pos);
		if ((w->pos = dup_bytes(w->pat, n)) == NULL)
			return RK_ENOMEM;
		w->plen = n;
	}
	return 0;
}

/* SCAN's options after the cursor; an answered error returns false. */
static bool scan_options(struct creq *q, const struct rk_resp_cmd *c,
			 struct scanq *w, bool *nonep)
{
	int64_t n;

	for (size_t i = 2; i < c->argc; i += 2) {
		if (i + 1 >= c->argc) {
			answer(q, "-ERR syntax error\r\n");
			return false;
		}
		if (rk_client_arg_is(c, i, "MATCH")) {
			free(w->pat);
			if ((w->pat = dup_bytes(c->argv[i + 1], c->argl[i + 1])) == NULL) {
				answer(q, "-ERR out of memory\r\n");
				return false;
			}
			w->patl = c->argl[i + 1];
			/* "*" matches everything: no filter at all. */
			w->match = !(w->patl == 1 && w->pat[0] == '*');
		} else if (rk_client_arg_is(c, i, "COUNT")) {
			if (!rk_kv_parse_i64(c->argv[i + 1], c->argl[i + 1], &n)) {
				answer(q, "-ERR value is not an integer or out of range\r\n");
				return false;
			}
			if (n < 1) {
				answer(q, "-ERR syntax error\r\n");
				return false;
			}
			w->left = n;
		} else if (rk_client_arg_is(c, i, "TYPE")) {
			/* Every key is a string: another type matches none. */
			*nonep = !rk_client_arg_is(c, i + 1, "string");
		} else {
			answer(q, "-ERR syntax error\r\n");
			return false;
		}
	}
	return true;
}

void rk_client_scan(struct creq *q, const struct rk_resp_cmd *c,
		    enum rk_client_cmd_id id)
{
	struct scanq *w = calloc(1, sizeof(*w));
	bool none = false;
	uint64_t cur = 0;
	int rc;

	if (w == NULL) {
		answer(q, "-ERR out of memory\r\n");
		return;
	}
	q->scan = w;
	w->what = id;
	w->left = SCAN_DEFAULT_COUNT;
	rk_buf_init(&w->body);
	if (id == RK_CMD_KEYS) {
		w->patl = c->argl[1];
		w->pat = dup_bytes(c->argv[1], c->argl[1]);
		w->match = !(w->patl == 1 && c->argv[1][0] == '*');
	} else if (id == RK_CMD_SCAN) {
		if (!parse_u64(c->argv[1], c->argl[1], &cur)) {
			answer(q, "-ERR invalid cursor\r\n");
			return;
		}
		if (!scan_options(q, c, w, &none))
			return;
	}
	if (cur != 0) {
		free(w->pos);
		rc = rk_client_cursor_get(q->srv, uv_now(q->srv->loop), cur, &w->pos,
					  &w->plen);
		if (rc != 0) {
			answer(q, rc == RK_ENOTFOUND ? "-ERR invalid cursor\r\n"
						     : "-ERR out of memory\r\n");
			return;
		}
	}
	if ((w->match && w->pat == NULL) || bound_by_prefix(w) != 0) {
		answer(q, "-ERR out of memory\r\n");
		return;
	}
	if (none || (w->elen > 0 && keycmp(w->pos, w->plen, w->end, w->elen) >= 0)) {
		finish(q, true);
		return;
	}
	step(q);
}
