/*
 * Reads of the placement index: the queries and the page (page.h).
 */
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "page.h"
#include "rangekv/error.h"

#define PAGE_HEADER 16 /* u32 rc | u64 next | u32 n */

static int put_header(struct rk_buf *out, uint8_t op, uint64_t origin, uint64_t token)
{
	uint8_t h[RK_PL_LOOKUP_HEADER];

	h[0] = op;
	rk_le_put64(h + 1, origin);
	rk_le_put64(h + 9, token);
	rk_buf_append(out, h, sizeof(h));
	return out->oom ? RK_ENOMEM : 0;
}

int rk_pl_encode_read(struct rk_buf *out, uint64_t origin, uint64_t token,
		      uint64_t after, uint32_t limit)
{
	uint8_t t[12];

	rk_le_put64(t, after);
	rk_le_put32(t + 8, limit);
	if (put_header(out, RK_PL_CMD_READ, origin, token) != 0)
		return RK_ENOMEM;
	rk_buf_append(out, t, sizeof(t));
	return out->oom ? RK_ENOMEM : 0;
}

int rk_pl_encode_lookup(struct rk_buf *out, uint64_t origin, uint64_t token,
			const uint8_t *key, size_t klen)
{
	if (put_header(out, RK_PL_CMD_LOOKUP, origin, token) != 0)
		return RK_ENOMEM;
	rk_buf_append(out, key, klen);
	return out->oom ? RK_ENOMEM : 0;
}

int rk_pl_query_decode(const uint8_t *p, size_t len, struct rk_pl_query *qp)
{
	memset(qp, 0, sizeof(*qp));
	if (len < RK_PL_LOOKUP_HEADER)
		return RK_EPROTO;
	qp->op = p[0];
	qp->origin = rk_le_get64(p + 1);
	qp->token = rk_le_get64(p + 9);
	if (qp->op == RK_PL_CMD_READ && len == RK_PL_READ_LEN) {
		qp->after = rk_le_get64(p + 17);
		qp->limit = rk_le_get32(p + 25);
		if (qp->limit >= 1 && qp->limit <= RK_PL_PAGE_MAX)
			return 0;
	} else if (qp->op == RK_PL_CMD_LOOKUP) {
		qp->key = p + RK_PL_LOOKUP_HEADER;
		qp->klen = len - RK_PL_LOOKUP_HEADER;
		return 0;
	}
	memset(qp, 0, sizeof(*qp));
	return RK_EPROTO;
}

int rk_pl_page_begin(struct rk_pl_page_enc *e, struct rk_buf *out, int rc)
{
	uint8_t h[PAGE_HEADER] = {0};

	e->out = out;
	e->at = out->len;
	e->n = 0;
	rk_le_put32(h, (uint32_t)rc);
	rk_buf_append(out, h, sizeof(h));
	return out->oom ? RK_ENOMEM : 0;
}

int rk_pl_page_add(struct rk_pl_page_enc *e, const struct rk_desc *d)
{
	size_t at = e->out->len;
	uint8_t l[4] = {0}; /* the length, set once the descriptor is in */

	rk_buf_append(e->out, l, sizeof(l));
	if (e->out->oom || rk_desc_encode(d, e->out) != 0 || e->out->oom) {
		e->out->len = at; /* all or nothing */
		return RK_ENOMEM;
	}
	rk_le_put32((uint8_t *)e->out->p + at, (uint32_t)(e->out->len - at - 4));
	e->n++;
	return 0;
}

bool rk_pl_page_full(const struct rk_pl_page_enc *e, uint32_t limit)
{
	return e->n >= limit || e->n >= RK_PL_PAGE_MAX ||
	       e->out->len - e->at >= RK_PL_PAGE_BYTES;
}

void rk_pl_page_end(struct rk_pl_page_enc *e, uint64_t next)
{
	uint8_t *h = (uint8_t *)e->out->p + e->at;

	if (e->out->oom || e->out->len < e->at + PAGE_HEADER)
		return;
	rk_le_put64(h + 4, next);
	rk_le_put32(h + 12, e->n);
}

void rk_pl_page_free(struct rk_pl_page *pg)
{
	for (size_t i = 0; i < pg->n; i++)
		rk_desc_free(&pg->descs[i]);
	free(pg->descs);
	memset(pg, 0, sizeof(*pg));
}

int rk_pl_page_decode(const uint8_t *p, size_t len, struct rk_pl_page *pgp)
{
	size_t off = PAGE_HEADER, used;
	uint32_t n;
	int rc = RK_EPROTO;

	memset(pgp, 0, sizeof(*pgp));
	if (len < PAGE_HEADER)
		return RK_EPROTO;
	pgp->rc = (int)(int32_t)rk_le_get32(p);
	pgp->next = rk_le_get64(p + 4);
	n = rk_le_get32(p + 12);
	/* Each descriptor takes at least its length word: a count the bytes
	 * cannot hold is refused before anything is allocated. */
	if (pgp->rc > 0 || n > RK_PL_PAGE_MAX || n > (len - PAGE_HEADER) / 4)
		goto bad;
	if (n > 0 && (pgp->descs = calloc(n, sizeof(*pgp->descs))) == NULL) {
		rc = RK_ENOMEM;
		goto bad;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct rk_desc *d = &pgp->descs[i];
		uint32_t dl;

		if (len - off < 4)
			goto bad;
		dl = rk_le_get32(p + off);
		off += 4;
		if (dl > len - off)
			goto bad;
		pgp->n = i + 1; /* freed with the page from here on */
		rc = rk_desc_decode(p + off, dl, d, &used);
		if (rc != 0 || used != dl || d->v1 || d->n_reps == 0 || d->range_id == 0 ||
		    rk_range_reserved(d->range_id) ||
		    (i > 0 && pgp->descs[i - 1].range_id >= d->range_id)) {
			rc = rc == RK_ENOMEM ? RK_ENOMEM : RK_EPROTO;
			goto bad;
		}
		off += dl;
	}
	if (off != len || (pgp->rc != 0 && n > 0)) {
		rc = RK_EPROTO;
		goto bad;
	}
	return 0;
bad:
	rk_pl_page_free(pgp);
	return rc == RK_ENOMEM ? RK_ENOMEM : RK_EPROTO; /* rc may be a descriptor's 0 */
}
