/*
 * The range descriptor (desc.h).
 */
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "le.h"
#include "rangekv/error.h"

#define V2_FIXED 40 /* magic, range, generation, conf_version, next id */
#define REP_BYTES 17

void rk_desc_free(struct rk_desc *d)
{
	free(d->start);
	free(d->end);
	free(d->reps);
	memset(d, 0, sizeof(*d));
}

static void put64(struct rk_buf *out, uint64_t v)
{
	uint8_t *p = rk_buf_extend(out, 8);

	if (p != NULL)
		rk_le_put64(p, v);
}

static void put_bytes(struct rk_buf *out, const uint8_t *b, uint32_t len)
{
	uint8_t *p = rk_buf_extend(out, 4);

	if (p != NULL)
		rk_le_put32(p, len);
	if (len > 0)
		rk_buf_append(out, b, len);
}

int rk_desc_encode(const struct rk_desc *d, struct rk_buf *out)
{
	put64(out, d->flags != 0 ? RK_DESC_V3_MAGIC : RK_DESC_V2_MAGIC);
	put64(out, d->range_id);
	put64(out, d->generation);
	put64(out, d->conf_version);
	put64(out, d->next_replica_id);
	put_bytes(out, d->start, d->slen);
	put_bytes(out, d->end, d->elen);
	rk_buf_putc(out, (char)d->n_reps);
	for (uint8_t i = 0; i < d->n_reps; i++) {
		put64(out, d->reps[i].replica_id);
		put64(out, d->reps[i].node_id);
		rk_buf_putc(out, (char)d->reps[i].role);
	}
	if (d->flags != 0)
		rk_buf_putc(out, (char)d->flags);
	return out->oom ? RK_ENOMEM : 0;
}

/* A length-prefixed byte string at p[*offp..n); false if it does not fit. */
static bool get_bytes(const uint8_t *p, size_t n, size_t *offp,
		      const uint8_t **bp, uint32_t *lenp)
{
	uint32_t len;

	if (n - *offp < 4)
		return false;
	len = rk_le_get32(p + *offp);
	if (len > n - *offp - 4)
		return false;
	*bp = p + *offp + 4;
	*lenp = len;
	*offp += 4 + (size_t)len;
	return true;
}

static bool reps_valid(const struct rk_desc *d)
{
	for (uint8_t i = 0; i < d->n_reps; i++) {
		const struct rk_desc_replica *a = &d->reps[i];

		if (a->replica_id == 0 || a->node_id == 0 ||
		    a->role > RK_DESC_ROLE_MAX ||
		    a->replica_id >= d->next_replica_id)
			return false;
		if (i > 0 && d->reps[i - 1].replica_id >= a->replica_id)
			return false;
		for (uint8_t j = 0; j < i; j++)
			if (d->reps[j].node_id == a->node_id)
				return false;
	}
	return true;
}

/* start < end in key order (bytewise, the shorter first on a tie). */
static bool span_valid(const uint8_t *s, uint32_t sl, const uint8_t *e,
		       uint32_t el)
{
	size_t m = sl < el ? sl : el;
	int c;

	if (el == 0)
		return true;
	c = m ? memcmp(s, e, m) : 0;
	return c < 0 || (c == 0 && sl < el);
}

int rk_desc_set_span(struct rk_desc *dp, const void *start, size_t slen,
		     const void *end, size_t elen)
{
	uint8_t *s = malloc(slen + 1), *e = malloc(elen + 1);

	if (s == NULL || e == NULL) {
		free(s);
		free(e);
		return RK_ENOMEM;
	}
	if (slen)
		memcpy(s, start, slen);
	if (elen)
		memcpy(e, end, elen);
	free(dp->start);
	free(dp->end);
	dp->start = s;
	dp->end = e;
	dp->slen = (uint32_t)slen;
	dp->elen = (uint32_t)elen;
	return 0;
}

static int decode_v1(const uint8_t *p, size_t n, struct rk_desc *d,
		     size_t *usedp)
{
	const uint8_t *s, *e;
	uint32_t sl, el;
	size_t off = 8;

	if (n < 8 || !get_bytes(p, n, &off, &s, &sl) ||
	    !get_bytes(p, n, &off, &e, &el) || !span_valid(s, sl, e, el))
		return RK_ECORRUPT;
	if (rk_desc_set_span(d, s, sl, e, el) != 0)
		return RK_ENOMEM;
	d->generation = rk_le_get64(p);
	d->v1 = true;
	*usedp = off;
	return 0;
}

/* v2, or v3 (v3 true): the same with a flags byte at the end. */
static int decode_v2(const uint8_t *p, size_t n, struct rk_desc *d,
		     size_t *usedp, bool v3)
{
	const uint8_t *s, *e;
	uint32_t sl, el;
	size_t off = V2_FIXED;
	uint8_t k;

	if (n < V2_FIXED || !get_bytes(p, n, &off, &s, &sl) ||
	    !get_bytes(p, n, &off, &e, &el) || !span_valid(s, sl, e, el) ||
	    off >= n)
		return RK_ECORRUPT;
	k = p[off++];
	if (k > RK_DESC_MAX_REPLICAS || (size_t)k * REP_BYTES > n - off)
		return RK_ECORRUPT;
	d->range_id = rk_le_get64(p + 8);
	d->generation = rk_le_get64(p + 16);
	d->conf_version = rk_le_get64(p + 24);
	d->next_replica_id = rk_le_get64(p + 32);
	d->reps = calloc(k ? k : 1, sizeof(*d->reps));
	if (d->reps == NULL || rk_desc_set_span(d, s, sl, e, el) != 0)
		return RK_ENOMEM;
	d->n_reps = k;
	for (uint8_t i = 0; i < k; i++, off += REP_BYTES) {
		d->reps[i].replica_id = rk_le_get64(p + off);
		d->reps[i].node_id = rk_le_get64(p + off + 8);
		d->reps[i].role = p[off + 16];
	}
	if (!reps_valid(d))
		return RK_ECORRUPT;
	if (v3) {
		/* v3 is written only with flags: 0 is not a v3 descriptor. */
		if (off >= n || p[off] == 0 || (p[off] & ~RK_DESC_F_ALL) != 0)
			return RK_ECORRUPT;
		d->flags = p[off++];
	}
	*usedp = off;
	return 0;
}

int rk_desc_decode(const uint8_t *p, size_t n, struct rk_desc *dp,
		   size_t *usedp)
{
	int rc;

	rk_desc_free(dp);
	*usedp = 0;
	if (p == NULL || n < 8)
		return RK_ECORRUPT;
	if (rk_le_get64(p) == RK_DESC_V2_MAGIC || rk_le_get64(p) == RK_DESC_V3_MAGIC)
		rc = decode_v2(p, n, dp, usedp, rk_le_get64(p) == RK_DESC_V3_MAGIC);
	else
		rc = decode_v1(p, n, dp, usedp);
	if (rc != 0) {
		rk_desc_free(dp);
		*usedp = 0;
	}
	return rc;
}

int rk_desc_copy(struct rk_desc *dstp, const struct rk_desc *src)
{
	struct rk_desc d = *src;

	d.start = d.end = NULL;
	d.reps = calloc(src->n_reps ? src->n_reps : 1, sizeof(*d.reps));
	if (d.reps == NULL)
		return RK_ENOMEM;
	if (src->n_reps)
		memcpy(d.reps, src->reps, src->n_reps * sizeof(*d.reps));
	if (rk_desc_set_span(&d, src->start, src->slen, src->end, src->elen) != 0) {
		free(d.reps);
		return RK_ENOMEM;
	}
	rk_desc_free(dstp);
	*dstp = d;
	return 0;
}

int rk_desc_gone(struct rk_desc *dp, const struct rk_desc *right, uint64_t generation)
{
	int rc = rk_desc_copy(dp, right);

	if (rc == 0) {
		dp->n_reps = 0;
		dp->generation = generation;
	}
	return rc;
}

const struct rk_desc_replica *rk_desc_replica(const struct rk_desc *d,
					      uint64_t replica_id)
{
	for (uint8_t i = 0; i < d->n_reps; i++)
		if (d->reps[i].replica_id == replica_id)
			return &d->reps[i];
	return NULL;
}

const struct rk_desc_replica *rk_desc_on_node(const struct rk_desc *d,
					      uint64_t node_id)
{
	for (uint8_t i = 0; i < d->n_reps; i++)
		if (d->reps[i].node_id == node_id)
			return &d->reps[i];
	return NULL;
}

uint64_t rk_desc_node_of(const struct rk_desc *d, uint64_t replica_id)
{
	const struct rk_desc_replica *rep = rk_desc_replica(d, replica_id);

	return rep != NULL ? rep->node_id : 0;
}

/* Byte order, a prefix first (key.h's rk_key_cmp, which the raft core's
 * library cannot link). */
static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m ? memcmp(a, b, m) : 0;

	return c != 0 ? c : al < bl ? -1 : al > bl;
}

bool rk_desc_contains(const struct rk_desc *d, const void *key, size_t klen)
{
	return key_cmp(key, klen, d->start, d->slen) >= 0 &&
	       (d->elen == 0 || key_cmp(key, klen, d->end, d->elen) < 0);
}

bool rk_desc_span_holds(const struct rk_desc *d, const struct rk_desc *od)
{
	return key_cmp(d->start, d->slen, od->start, od->slen) <= 0 &&
	       (d->elen == 0 || (od->elen != 0 && key_cmp(od->end, od->elen, d->end, d->elen) <= 0));
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

void rk_desc_initial_ranks(uint32_t n, uint32_t k, uint64_t range,
			   uint32_t *ranksp)
{
	uint64_t i = range - 1, lcm = (uint64_t)n / gcd(n, k) * k;
	uint32_t s = (uint32_t)((i + i / lcm) % n), m = 0;
	uint32_t wrapped = s + k > n ? s + k - n : 0;

	/* The ranks past n - 1 wrap to 0..wrapped-1: they come first. */
	for (uint32_t j = 0; j < wrapped; j++)
		ranksp[m++] = j;
	for (uint32_t j = s; j < n && m < k; j++)
		ranksp[m++] = j;
}

bool rk_desc_role_votes(uint8_t role)
{
	return role != RK_DESC_LEARNER;
}

const char *rk_desc_role_name(uint8_t role)
{
	static const char *const names[] = {"voter", "learner", "voter_incoming",
					    "voter_outgoing", "voter_demoting"};

	return role <= RK_DESC_ROLE_MAX ? names[role] : "unknown";
}
