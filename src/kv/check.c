/*
 * Replica checksums (kv.h, "replica checksums"; docs/check.md).
 *
 * A CHECK command applies on every replica between the same two commands
 * of the range's log. At that point the replica's state is the committed
 * data (what its earlier readies wrote: one ready of a range is in flight
 * at a time, so all of them are committed) with the writes of the current
 * ready before the CHECK laid over it (the applier's overlay), plus the
 * session table in memory. rk_kv_check_capture copies the second and the
 * third on the loop (bounded by one ready); the node pins a storage
 * snapshot for the first before the apply batch is submitted; and
 * rk_kv_checksum merges the two, in key order, on a worker thread.
 *
 * Hashed, with xxh3-64, in this order: every pair of the span in the kv
 * table, then in the internal table (sequences), each as u8 table, u32 key
 * length, key, u32 value length, value (the layout rk_store_checksum_span
 * uses); then u8 2, u32 length and the encoded session table.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "kv.h"
#include "kv_int.h"
#include "le.h"
#include "store.h"

#define CHECK_SESSIONS_TAG 2

struct check_pair {
	uint8_t table;
	bool del;
	uint8_t *k;           /* the pair's own allocation */
	const uint8_t *v;     /* in it, after the key */
	size_t kl, vl;
};

struct rk_kv_check_data {
	uint8_t *start, *end; /* the span */
	size_t slen, elen;
	struct check_pair *pairs; /* sorted by (table, key) */
	size_t n, cap;
	struct rk_buf sessions; /* rk_kv_sessions_encode */
	bool oom;
};

/* ---- the command ------------------------------------------------------------ */

void rk_kv_check_encode(struct rk_buf *out, uint64_t check_id, uint64_t node_id)
{
	struct rk_kv_cmd c;
	size_t start = out->len;
	uint8_t id[8];

	memset(&c, 0, sizeof(c));
	c.op = RK_KV_CHECK;
	c.n = (int64_t)node_id;
	rk_le_put64(id, check_id);
	rk_kv_cmd_begin(out, &c);
	rk_kv_cmd_arg(out, id, sizeof(id));
	rk_kv_cmd_finish(out, start, 1);
}

int rk_kv_check_decode(const struct rk_kv_cmd *c, uint64_t *check_idp,
		       uint64_t *node_idp)
{
	const uint8_t *p;
	size_t l;

	*check_idp = *node_idp = 0;
	if (c->op != RK_KV_CHECK || c->nargs != 1 || c->mode != 0 ||
	    rk_kv_cmd_key(c, &p, &l) != 0 || l != 8)
		return RK_EPROTO;
	*check_idp = rk_le_get64(p);
	*node_idp = (uint64_t)c->n;
	return 0;
}

/* ---- capture --------------------------------------------------------------- */

static int paircmp(int ta, const uint8_t *a, size_t al, int tb,
		   const uint8_t *b, size_t bl)
{
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return kv_keycmp(a, al, b, bl);
}

static int sort_cmp(const void *x, const void *y)
{
	const struct check_pair *a = x, *b = y;

	return paircmp(a->table, a->k, a->kl, b->table, b->k, b->kl);
}

static uint8_t *dup(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	if (d != NULL && n > 0)
		memcpy(d, p, n);
	return d;
}

static void take_pair(void *arg, int table, bool del, const uint8_t *k,
		      size_t kl, const uint8_t *v, size_t vl)
{
	struct rk_kv_check_data *d = arg;
	struct check_pair *p;
	uint8_t *mem;

	if (d->oom || !rk_kv_in_span(k, kl, d->start, d->slen, d->end, d->elen))
		return;
	if (rk_grow((void **)&d->pairs, &d->cap, d->n, sizeof(*d->pairs)) != 0 ||
	    (mem = malloc(kl + (del ? 0 : vl) + 1)) == NULL) {
		d->oom = true;
		return;
	}
	p = &d->pairs[d->n++];
	p->table = (uint8_t)table;
	p->del = del;
	if (kl > 0)
		memcpy(mem, k, kl);
	if (!del && vl > 0)
		memcpy(mem + kl, v, vl);
	p->k = mem;
	p->kl = kl;
	p->v = mem + kl;
	p->vl = del ? 0 : vl;
}

int rk_kv_check_capture(const struct rk_kv_applier *a,
			struct rk_kv_check_data **dp)
{
	struct rk_kv_check_data *d = calloc(1, sizeof(*d));

	*dp = NULL;
	if (d == NULL)
		return RK_ENOMEM;
	rk_buf_init(&d->sessions);
	d->start = dup(a->start, a->slen);
	d->end = dup(a->end, a->elen);
	d->slen = a->slen;
	d->elen = a->elen;
	d->oom = d->start == NULL || d->end == NULL;
	if (!d->oom && a->ov != NULL)
		kv_overlay_each(a->ov, take_pair, d);
	rk_kv_sessions_encode(a->sessions, &d->sessions);
	if (d->oom || d->sessions.oom) {
		rk_kv_check_data_free(d);
		return RK_ENOMEM;
	}
	if (d->n > 1)
		qsort(d->pairs, d->n, sizeof(*d->pairs), sort_cmp);
	*dp = d;
	return 0;
}

void rk_kv_check_data_free(struct rk_kv_check_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->pairs[i].k);
	free(d->pairs);
	free(d->start);
	free(d->end);
	rk_buf_free(&d->sessions);
	free(d);
}

/* ---- the hash ------------------------------------------------------------------ */

struct merge {
	XXH3_state_t *st;
	const struct rk_kv_check_data *d;
	size_t next; /* the first overlay pair not yet merged */
};

/* Hashes the overlay's pairs that come before (table, k) and reports
 * whether the overlay holds (table, k) itself (hashed unless deleted).
 * With k NULL: all that are left. */
static bool merge_upto(struct merge *m, int table, const void *k, size_t kl)
{
	const struct rk_kv_check_data *d = m->d;

	while (m->next < d->n) {
		const struct check_pair *p = &d->pairs[m->next];
		int c = k == NULL ? -1 : paircmp(p->table, p->k, p->kl, table, k, kl);
		if (c > 0)
			return false;
		if (!p->del)
			rk_store_checksum_pair(m->st, p->table, p->k, p->kl, p->v, p->vl);
		m->next++;
		if (c == 0)
			return true;
	}
	return false;
}

static int merge_pair(void *arg, int table, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct merge *m = arg;

	if (!merge_upto(m, table, key, klen))
		rk_store_checksum_pair(m->st, table, key, klen, val, vlen);
	return 0;
}

int rk_kv_checksum(struct rk_store_reader *r, const struct rk_kv_check_data *d,
		   uint64_t *sump)
{
	struct merge m = {XXH3_createState(), d, 0};
	uint8_t hdr[5];
	int rc;

	*sump = 0;
	if (m.st == NULL)
		return RK_ENOMEM;
	XXH3_64bits_reset(m.st);
	rc = rk_store_scan_span(r, 0, d->start, d->slen, d->end, d->elen,
				merge_pair, &m, NULL);
	if (rc == 0) {
		(void)merge_upto(&m, 0, NULL, 0);
		hdr[0] = CHECK_SESSIONS_TAG;
		rk_le_put32(hdr + 1, (uint32_t)d->sessions.len);
		XXH3_64bits_update(m.st, hdr, 5);
		XXH3_64bits_update(m.st, d->sessions.p, d->sessions.len);
		*sump = XXH3_64bits_digest(m.st);
	}
	XXH3_freeState(m.st);
	return rc;
}
