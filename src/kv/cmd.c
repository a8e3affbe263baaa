/*
 * The byte encodings of commands, entries and the session table (kv.h has
 * the layouts). Decoders read bytes from the network and the disk: every
 * length is checked against what is left before it is used.
 */
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "le.h"

#define CMD_HDR (1 + 1 + 8 + 8 + 8 + 8 + 4)
#define ENTRY_HDR (1 + 8 + 4)
#define ENTRY_VERSION 1
/* Version 2 adds the frozen mark and the time marks are held until (two
 * u64 after now, not both 0); a table with neither is written as version
 * 1, as before merges existed. */
#define SESS_VERSION 1
#define SESS_VERSION_FROZEN 2


static void buf_u32(struct rk_buf *b, uint32_t v)
{
	uint8_t *p = rk_buf_extend(b, 4);

	if (p != NULL)
		rk_le_put32(p, v);
}

static void buf_u64(struct rk_buf *b, uint64_t v)
{
	uint8_t *p = rk_buf_extend(b, 8);

	if (p != NULL)
		rk_le_put64(p, v);
}

/* A u32 length at *offp and that many bytes after it, inside p[0..len):
 * moves *offp past the length and returns it in *lp. */
static bool take_len(const uint8_t *p, size_t len, size_t *offp, uint32_t *lp)
{
	if (len - *offp < 4)
		return false;
	*lp = rk_le_get32(p + *offp);
	*offp += 4;
	return *lp <= len - *offp;
}

/* ---- commands ------------------------------------------------------------ */

void rk_kv_cmd_begin(struct rk_buf *out, const struct rk_kv_cmd *c)
{
	uint8_t *p = rk_buf_extend(out, CMD_HDR);

	if (p == NULL)
		return;
	p[0] = c->op;
	p[1] = c->mode;
	rk_le_put64(p + 2, c->session);
	rk_le_put64(p + 10, c->seq);
	rk_le_put64(p + 18, c->first_incomplete);
	rk_le_put64(p + 26, (uint64_t)c->n);
	rk_le_put32(p + 34, 0);
}

void rk_kv_cmd_arg(struct rk_buf *out, const void *p, size_t len)
{
	buf_u32(out, (uint32_t)len);
	rk_buf_append(out, p, len);
}

void rk_kv_cmd_finish(struct rk_buf *out, size_t start, uint32_t nargs)
{
	if (!out->oom && out->len >= start + CMD_HDR)
		rk_le_put32((uint8_t *)out->p + start + 34, nargs);
}

int rk_kv_cmd_decode(const uint8_t *p, size_t len, struct rk_kv_cmd *cp)
{
	size_t off = CMD_HDR;

	memset(cp, 0, sizeof(*cp));
	if (len < CMD_HDR || p[0] < RK_KV_GET || p[0] > RK_KV_UNFREEZE || p[1] > RK_KV_PUT_XX)
		return RK_EPROTO;
	cp->op = p[0];
	cp->mode = p[1];
	cp->session = rk_le_get64(p + 2);
	cp->seq = rk_le_get64(p + 10);
	cp->first_incomplete = rk_le_get64(p + 18);
	cp->n = (int64_t)rk_le_get64(p + 26);
	cp->nargs = rk_le_get32(p + 34);
	/* The arguments must fill the rest exactly. */
	for (uint32_t i = 0; i < cp->nargs; i++) {
		uint32_t l;
		if (!take_len(p, len, &off, &l))
			return RK_EPROTO;
		off += l;
	}
	if (off != len || cp->nargs == 0)
		return RK_EPROTO;
	cp->args = p + CMD_HDR;
	cp->args_len = len - CMD_HDR;
	return 0;
}

int rk_kv_arg_next(const struct rk_kv_cmd *c, size_t *offp, const uint8_t **pp,
		   size_t *lenp)
{
	uint32_t l;

	*pp = NULL;
	*lenp = 0;
	if (*offp + 4 > c->args_len)
		return RK_ENOTFOUND;
	l = rk_le_get32(c->args + *offp);
	if (l > c->args_len - *offp - 4)
		return RK_EPROTO;
	*pp = c->args + *offp + 4;
	*lenp = l;
	*offp += 4 + (size_t)l;
	return 0;
}

int rk_kv_key_next(const struct rk_kv_cmd *c, size_t *offp, uint32_t *ip,
		   const uint8_t **pp, size_t *lenp)
{
	int rc;

	while ((rc = rk_kv_arg_next(c, offp, pp, lenp)) == 0) {
		uint32_t i = (*ip)++;
		if (c->op == RK_KV_DEL || c->op == RK_KV_EXISTS || i == 0 ||
		    (c->op == RK_KV_PUT && i % 2 == 0))
			return 0;
	}
	return rc;
}

int rk_kv_cmd_key(const struct rk_kv_cmd *c, const uint8_t **pp, size_t *lenp)
{
	size_t off = 0;
	struct rk_kv_cmd sub;
	int rc = rk_kv_arg_next(c, &off, pp, lenp);

	if (rc != 0 || c->op != RK_KV_BATCH)
		return rc;
	if (rk_kv_cmd_decode(*pp, *lenp, &sub) != 0 || sub.op == RK_KV_BATCH) {
		*pp = NULL;
		*lenp = 0;
		return RK_EPROTO;
	}
	return rk_kv_cmd_key(&sub, pp, lenp);
}

bool rk_kv_batch_all(const struct rk_kv_cmd *c, int op)
{
	size_t off = 0, l;
	const uint8_t *p;
	int rc;

	if (c->op != RK_KV_BATCH)
		return false;
	while ((rc = rk_kv_arg_next(c, &off, &p, &l)) == 0)
		if (l == 0 || p[0] != op)
			return false;
	return rc == RK_ENOTFOUND;
}

int rk_kv_batch_reply(const uint8_t *reply, size_t len, size_t *offp,
		      const uint8_t **pp, size_t *lenp)
{
	uint32_t l;

	*pp = NULL;
	*lenp = 0;
	if (len == 0 || reply[0] != 'B')
		return RK_EPROTO;
	if (*offp == 0)
		*offp = 1;
	if (*offp == len)
		return RK_ENOTFOUND;
	if (len - *offp < 4)
		return RK_EPROTO;
	l = rk_le_get32(reply + *offp);
	if (l > len - *offp - 4)
		return RK_EPROTO;
	*pp = reply + *offp + 4;
	*lenp = l;
	*offp += 4 + (size_t)l;
	return 0;
}

/* ---- entries ----------------------------------------------------------- */

void rk_kv_entry_begin(struct rk_buf *out, uint64_t ts_ms)
{
	rk_buf_putc(out, ENTRY_VERSION);
	buf_u64(out, ts_ms);
	buf_u32(out, 0);
}

void rk_kv_entry_add(struct rk_buf *out, const void *cmd, size_t len)
{
	buf_u32(out, (uint32_t)len);
	rk_buf_append(out, cmd, len);
}

void rk_kv_entry_finish(struct rk_buf *out, uint32_t count)
{
	if (!out->oom && out->len >= ENTRY_HDR)
		rk_le_put32((uint8_t *)out->p + 9, count);
}

/* Checks the whole entry before the first command reaches fn, so that a
 * malformed one applies nothing. Without fn the check is all it does
 * (rk_kv_apply_entry uses that before touching the session clock). */
int rk_kv_entry_walk(const uint8_t *p, size_t len, uint64_t *tsp,
		     int (*fn)(void *arg, uint32_t no, const struct rk_kv_cmd *c),
		     void *arg)
{
	uint32_t count;
	size_t off = ENTRY_HDR;
	struct rk_kv_cmd c;

	*tsp = 0;
	if (len < ENTRY_HDR || p[0] != ENTRY_VERSION)
		return RK_EPROTO;
	*tsp = rk_le_get64(p + 1);
	count = rk_le_get32(p + 9);
	for (int pass = 0; pass < (fn != NULL ? 2 : 1); pass++) {
		off = ENTRY_HDR;
		for (uint32_t i = 0; i < count; i++) {
			uint32_t l;
			int rc;
			if (!take_len(p, len, &off, &l))
				return RK_EPROTO;
			rc = rk_kv_cmd_decode(p + off, l, &c);
			if (rc != 0)
				return rc;
			if (pass == 1 && (rc = fn(arg, i, &c)) != 0)
				return rc;
			off += l;
		}
		if (off != len)
			return RK_EPROTO;
	}
	return 0;
}

/* ---- the session table ---------------------------------------------------- */

void rk_kv_sessions_free(struct rk_kv_sessions *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t j = 0; j < s->v[i].n; j++)
			free(s->v[i].recs[j].resp);
		free(s->v[i].recs);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

size_t rk_kv_sessions_count(const struct rk_kv_sessions *s)
{
	return s->n;
}

/* u8 version, u64 now, [version 2: u64 frozen, u64 held,] u32 n, n x (u64 id, u64 last, u64 first_incomplete,
 * u32 nrec, nrec x (u64 seq, u32 len, resp)) */
void rk_kv_sessions_encode(const struct rk_kv_sessions *s, struct rk_buf *out)
{
	bool v2 = s->frozen != 0 || s->marks_held_until != 0;

	rk_buf_putc(out, v2 ? SESS_VERSION_FROZEN : SESS_VERSION);
	buf_u64(out, s->now_ms);
	if (v2) {
		buf_u64(out, s->frozen);
		buf_u64(out, s->marks_held_until);
	}
	buf_u32(out, (uint32_t)s->n);
	for (size_t i = 0; i < s->n; i++) {
		const struct rk_kv_session *x = &s->v[i];
		buf_u64(out, x->id);
		buf_u64(out, x->last_ms);
		buf_u64(out, x->first_incomplete);
		buf_u32(out, (uint32_t)x->n);
		for (size_t j = 0; j < x->n; j++) {
			buf_u64(out, x->recs[j].seq);
			buf_u32(out, x->recs[j].len);
			rk_buf_append(out, x->recs[j].resp, x->recs[j].len);
		}
	}
}

int rk_kv_sessions_decode(const uint8_t *p, size_t len, struct rk_kv_sessions *s)
{
	size_t off = 13, hdr;
	uint32_t n;

	rk_kv_sessions_free(s);
	if (len < 13 || (p[0] != SESS_VERSION && p[0] != SESS_VERSION_FROZEN))
		return RK_EPROTO;
	s->now_ms = rk_le_get64(p + 1);
	if (p[0] == SESS_VERSION_FROZEN) {
		if (len < 29)
			goto bad;
		s->frozen = rk_le_get64(p + 9);
		s->marks_held_until = rk_le_get64(p + 17);
		if (s->frozen == 0 && s->marks_held_until == 0)
			goto bad; /* written as version 1 */
		off = 29;
	}
	hdr = off;
	n = rk_le_get32(p + off - 4);
	if (n > (len - hdr) / 28)
		goto bad;
	if (n > 0 && (s->v = calloc(n, sizeof(*s->v))) == NULL)
		return RK_ENOMEM;
	s->cap = n;
	for (uint32_t i = 0; i < n; i++) {
		struct rk_kv_session *x = &s->v[i];
		uint32_t nr;
		if (len - off < 28)
			goto bad;
		x->id = rk_le_get64(p + off);
		x->last_ms = rk_le_get64(p + off + 8);
		x->first_incomplete = rk_le_get64(p + off + 16);
		nr = rk_le_get32(p + off + 24);
		off += 28;
		s->n++;
		if (nr > (len - off) / 12)
			goto bad;
		if (nr > 0 && (x->recs = calloc(nr, sizeof(*x->recs))) == NULL) {
			rk_kv_sessions_free(s);
			return RK_ENOMEM;
		}
		x->cap = nr;
		for (uint32_t j = 0; j < nr; j++) {
			uint32_t l;
			if (len - off < 12)
				goto bad;
			l = rk_le_get32(p + off + 8);
			if (l > len - off - 12)
				goto bad;
			x->recs[j].seq = rk_le_get64(p + off);
			x->recs[j].len = l;
			x->recs[j].resp = malloc(l ? l : 1);
			if (x->recs[j].resp == NULL) {
				rk_kv_sessions_free(s);
				return RK_ENOMEM;
			}
			memcpy(x->recs[j].resp, p + off + 12, l);
			x->n++;
			off += 12 + (size_t)l;
		}
	}
	if (off != len)
		goto bad;
	return 0;
bad:
	rk_kv_sessions_free(s);
	return RK_EPROTO;
}
