/*
 * The placement group's state machine (group.h).
 */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "group.h"

#define ROW_NEXT "n"
#define ROW_INITIAL "i"
#define ROW_DESC 'd'
/* User range ids start at 1: the first start hands out 1..N. */
#define FIRST_ID 1

static void desc_key(uint64_t range, uint8_t key[9])
{
	key[0] = ROW_DESC;
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(range >> (56 - 8 * i)); /* big endian: id order */
}

void rk_pl_sm_init(struct rk_pl_sm *sm)
{
	memset(sm, 0, sizeof(*sm));
}

void rk_pl_sm_free(struct rk_pl_sm *sm)
{
	free(sm->ov);
	free(sm->nov);
	memset(sm, 0, sizeof(*sm));
}

void rk_pl_sm_begin(struct rk_pl_sm *sm)
{
	sm->have_next = false;
	sm->n_ov = 0;
	sm->n_nov = 0;
}

int rk_pl_read_next(struct rk_store_reader *rd, uint64_t *nextp)
{
	const void *v;
	size_t vl;
	int rc = rk_store_pl_get(rd, ROW_NEXT, 1, &v, &vl);

	*nextp = 0;
	if (rc != 0)
		return rc;
	if (vl != 8)
		return RK_ECORRUPT;
	*nextp = rk_le_get64(v);
	return 0;
}

int rk_pl_read_desc(struct rk_store_reader *rd, uint64_t range, struct rk_desc *dp)
{
	uint8_t key[9];
	const void *v;
	size_t vl, used;
	int rc;

	desc_key(range, key);
	rc = rk_store_pl_get(rd, key, sizeof(key), &v, &vl);
	if (rc != 0) {
		rk_desc_free(dp);
		return rc;
	}
	return rk_desc_decode(v, vl, dp, &used);
}

void rk_pl_write_next(struct rk_store_batch *b, uint64_t next)
{
	uint8_t v[8];

	rk_le_put64(v, next);
	rk_store_batch_pl_put(b, ROW_NEXT, 1, v, sizeof(v));
}

int rk_pl_write_desc(struct rk_store_batch *b, const struct rk_desc *d,
		     struct rk_buf *scratch)
{
	uint8_t key[9];

	rk_buf_reset(scratch);
	if (rk_desc_encode(d, scratch) != 0)
		return RK_ENOMEM;
	desc_key(d->range_id, key);
	rk_store_batch_pl_put(b, key, sizeof(key), scratch->p, scratch->len);
	return 0;
}

/* The next id as this attempt sees it. */
static int next_of(struct rk_pl_sm *sm, struct rk_store_reader *rd, uint64_t *nextp)
{
	int rc;

	if (sm->have_next) {
		*nextp = sm->next;
		return 0;
	}
	rc = rk_pl_read_next(rd, nextp);
	if (rc == RK_ENOTFOUND) {
		*nextp = FIRST_ID;
		rc = 0;
	}
	return rc;
}

static int apply_alloc(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		       struct rk_store_batch *b, const uint8_t *p, size_t len,
		       struct rk_pl_result *resp)
{
	uint64_t next;
	int rc;

	if (len != 1 + 8 + 8 + 4)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	resp->count = rk_le_get32(p + 17);
	if (resp->count == 0 || resp->count > RK_PL_MAX_ALLOC) {
		resp->rc = RK_EINVAL;
		return 0;
	}
	if ((rc = next_of(sm, rd, &next)) != 0)
		return rc;
	if (next >= RK_RANGE_RESERVED_FIRST ||
	    RK_RANGE_RESERVED_FIRST - next < resp->count) {
		resp->rc = RK_ENOSPC;
		return 0;
	}
	resp->first = next;
	sm->next = next + resp->count;
	sm->have_next = true;
	rk_pl_write_next(b, sm->next);
	return 0;
}

/* The (generation, conf_version) of range as this attempt sees it;
 * *foundp false if the index has none. */
static int version_of(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		      uint64_t range, struct pl_overlay *vp, bool *foundp)
{
	struct rk_desc d;
	int rc;

	*foundp = false;
	for (size_t i = sm->n_ov; i-- > 0;)
		if (sm->ov[i].range == range) {
			*vp = sm->ov[i];
			*foundp = true;
			return 0;
		}
	memset(&d, 0, sizeof(d));
	rc = rk_pl_read_desc(rd, range, &d);
	if (rc == RK_ENOTFOUND) {
		uint64_t n;
		/* An initial range never reported: its first-start descriptor,
		 * generation 1, configuration version 1. */
		rc = rk_pl_read_initial(rd, &n);
		if (rc == 0 && range <= n) {
			*vp = (struct pl_overlay){range, 1, 1};
			*foundp = true;
		}
		return rc;
	}
	if (rc == 0) {
		vp->range = range;
		vp->generation = d.generation;
		vp->conf_version = d.conf_version;
		*foundp = true;
	}
	rk_desc_free(&d);
	return rc;
}

int rk_pl_read_initial(struct rk_store_reader *rd, uint64_t *np)
{
	const void *v;
	size_t vl;
	int rc = rk_store_pl_get(rd, ROW_INITIAL, 1, &v, &vl);

	*np = 0;
	if (rc == RK_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (vl != 8)
		return RK_ECORRUPT;
	*np = rk_le_get64(v);
	return 0;
}

void rk_pl_write_initial(struct rk_store_batch *b, uint64_t n)
{
	uint8_t v[8];

	rk_le_put64(v, n);
	rk_store_batch_pl_put(b, ROW_INITIAL, 1, v, sizeof(v));
	rk_pl_write_next(b, n + 1);
}

static bool newer(const struct rk_desc *d, const struct pl_overlay *v)
{
	if (d->generation != v->generation)
		return d->generation > v->generation;
	return d->conf_version > v->conf_version;
}

static int apply_report(struct rk_pl_sm *sm, struct rk_store_reader *rd,
			struct rk_store_batch *b, const uint8_t *p, size_t len,
			struct rk_pl_result *resp)
{
	struct rk_desc d;
	uint32_t n;
	size_t off = RK_PL_REPORT_HEADER;
	int rc = 0;

	if (len < RK_PL_REPORT_HEADER)
		return RK_EPROTO;
	resp->origin = rk_le_get64(p + 1);
	resp->token = rk_le_get64(p + 9);
	n = rk_le_get32(p + 17);
	memset(&d, 0, sizeof(d));
	/* Checked whole first: a malformed report changes nothing. */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t dl;
		size_t used;
		if (len - off < 4 || (dl = rk_le_get32(p + off)) > len - off - 4)
			return RK_EPROTO;
		rc = rk_desc_decode(p + off + 4, dl, &d, &used);
		if (rc == RK_ENOMEM)
			return rc;
		if (rc != 0 || used != dl || d.v1 || rk_range_reserved(d.range_id) ||
		    d.range_id == 0) {
			rk_desc_free(&d);
			return RK_EPROTO;
		}
		off += 4 + dl;
	}
	if (off != len) {
		rk_desc_free(&d);
		return RK_EPROTO;
	}
	off = RK_PL_REPORT_HEADER;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		uint32_t dl = rk_le_get32(p + off);
		struct pl_overlay v;
		bool found;
		size_t used;
		uint8_t key[9];

		rc = rk_desc_decode(p + off + 4, dl, &d, &used);
		if (rc == 0)
			rc = version_of(sm, rd, d.range_id, &v, &found);
		if (rc == 0 && found && !newer(&d, &v)) {
			resp->stale++;
		} else if (rc == 0) {
			rc = rk_grow((void **)&sm->ov, &sm->cap_ov, sm->n_ov, sizeof(*sm->ov));
			if (rc == 0) {
				sm->ov[sm->n_ov++] = (struct pl_overlay){
					d.range_id, d.generation, d.conf_version};
				desc_key(d.range_id, key);
				rk_store_batch_pl_put(b, key, sizeof(key), p + off + 4, dl);
				resp->taken++;
			}
		}
		off += 4 + dl;
	}
	rk_desc_free(&d);
	return rc;
}

int rk_pl_sm_apply(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		   struct rk_store_batch *b, const uint8_t *data, size_t len,
		   struct rk_pl_result *resp)
{
	memset(resp, 0, sizeof(*resp));
	if (len == 0)
		return RK_EPROTO;
	resp->op = data[0];
	switch (data[0]) {
	case RK_PL_CMD_ALLOC:
		return apply_alloc(sm, rd, b, data, len, resp);
	case RK_PL_CMD_REPORT:
		return apply_report(sm, rd, b, data, len, resp);
	case RK_PL_CMD_REGISTER:
		return rk_pl_apply_register(sm, rd, b, data, len, resp);
	case RK_PL_CMD_STATS:
		return rk_pl_apply_stats(sm, rd, b, data, len, resp);
	case RK_PL_CMD_STATE:
		return rk_pl_apply_state(sm, rd, b, data, len, resp);
	case RK_PL_CMD_REBALANCE:
		return rk_pl_apply_rebalance(b, data, len, resp);
	default:
		return RK_EPROTO;
	}
}

/* Every command opens with the same 21 bytes: op, origin, token, and a
 * u32 (ALLOC's count, REPORT's number of descriptors, REGISTER's node id,
 * STATS' number of nodes). */
int rk_pl_encode_header(struct rk_buf *out, uint8_t op, uint64_t origin,
			 uint64_t token, uint32_t v)
{
	uint8_t *p = rk_buf_extend(out, RK_PL_REPORT_HEADER);

	if (p == NULL)
		return RK_ENOMEM;
	p[0] = op;
	rk_le_put64(p + 1, origin);
	rk_le_put64(p + 9, token);
	rk_le_put32(p + 17, v);
	return 0;
}

int rk_pl_encode_alloc(struct rk_buf *out, uint64_t origin, uint64_t token,
		       uint32_t count)
{
	return rk_pl_encode_header(out, RK_PL_CMD_ALLOC, origin, token, count);
}

int rk_pl_encode_report(struct rk_buf *out, uint64_t origin, uint64_t token,
			uint32_t n)
{
	return rk_pl_encode_header(out, RK_PL_CMD_REPORT, origin, token, n);
}

void rk_pl_report_set_n(struct rk_buf *out, size_t at, uint32_t n)
{
	rk_le_put32((uint8_t *)out->p + at + 17, n);
}

int rk_pl_encode_report_desc(struct rk_buf *out, const struct rk_desc *d)
{
	size_t at = out->len;
	uint8_t *p = rk_buf_extend(out, 4);

	if (p == NULL || rk_desc_encode(d, out) != 0)
		return RK_ENOMEM;
	rk_le_put32((uint8_t *)out->p + at, (uint32_t)(out->len - at - 4));
	return 0;
}

struct walk_arg {
	int (*fn)(void *arg, const struct rk_desc *d);
	void *arg;
	struct rk_desc d;
};

static int walk_pair(void *arg, int table, const void *key, size_t klen,
		     const void *val, size_t vlen)
{
	struct walk_arg *w = arg;
	size_t used;
	int rc;

	(void)table;
	if (klen != 9 || ((const uint8_t *)key)[0] != ROW_DESC)
		return 1; /* past the descriptor rows */
	rc = rk_desc_decode(val, vlen, &w->d, &used);
	return rc != 0 ? rc : w->fn(w->arg, &w->d);
}

int rk_pl_walk(struct rk_store_reader *rd, uint64_t after,
	       int (*fn)(void *arg, const struct rk_desc *d), void *arg)
{
	struct walk_arg w = {fn, arg, {0}};
	uint8_t start[9];
	int rc;

	if (after == UINT64_MAX)
		return 0;
	desc_key(after + 1, start);
	rc = rk_store_pl_walk(rd, start, sizeof(start), NULL, 0, walk_pair, &w);
	rk_desc_free(&w.d);
	return rc;
}
