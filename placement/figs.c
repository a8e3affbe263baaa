/*
 * Per-range figures: the heartbeat's section and the leader's table
 * (figs.h).
 */
#include <stdlib.h>
#include <string.h>

#include "figs.h"
#include "le.h"
#include "rangekv/error.h"

static bool moved64(uint64_t a, uint64_t b)
{
	uint64_t big = a > b ? a : b, d = a > b ? a - b : b - a;

	/* d > big * pct / 100 without overflow: big / 100 * pct is
	 * close enough above 2^57, exact below. */
	return big > (UINT64_MAX >> 7) ? d / RK_PL_FIG_MOVED_PCT > big / 100
				       : d * 100 > big * RK_PL_FIG_MOVED_PCT;
}

bool rk_pl_fig_moved(const struct rk_pl_fig *now, const struct rk_pl_fig *was)
{
	return moved64(now->size_bytes, was->size_bytes) ||
	       moved64(now->writes_ps, was->writes_ps) || moved64(now->reads_ps, was->reads_ps);
}

int rk_pl_figs_encode(struct rk_buf *out, uint8_t flags, uint64_t after,
		      const struct rk_pl_fig *figs, uint32_t n)
{
	uint8_t *p;

	if (n > RK_PL_FIGS_MAX || (flags & ~(RK_PL_FIGS_FULL | RK_PL_FIGS_LAST)) != 0 ||
	    ((flags & RK_PL_FIGS_LAST) && !(flags & RK_PL_FIGS_FULL)) ||
	    (!(flags & RK_PL_FIGS_FULL) && after != 0))
		return RK_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (figs[i].range == 0 || figs[i].range <= (i > 0 ? figs[i - 1].range : after))
			return RK_EINVAL;
	if ((p = rk_buf_extend(out, RK_PL_FIGS_HEADER + (size_t)n * RK_PL_FIG_BYTES)) == NULL)
		return RK_ENOMEM;
	p[0] = flags;
	rk_le_put64(p + 1, after);
	rk_le_put32(p + 9, n);
	p += RK_PL_FIGS_HEADER;
	for (uint32_t i = 0; i < n; i++, p += RK_PL_FIG_BYTES) {
		rk_le_put64(p, figs[i].range);
		rk_le_put64(p + 8, figs[i].size_bytes);
		rk_le_put32(p + 16, figs[i].writes_ps);
		rk_le_put32(p + 20, figs[i].reads_ps);
	}
	return 0;
}

int rk_pl_figs_decode(const uint8_t *p, size_t len, struct rk_pl_figs_msg *mp)
{
	uint64_t prev;
	uint32_t n;

	mp->flags = 0;
	mp->after = 0;
	mp->n = 0;
	if (len < RK_PL_FIGS_HEADER)
		return RK_EPROTO;
	n = rk_le_get32(p + 9);
	if (n > RK_PL_FIGS_MAX || len - RK_PL_FIGS_HEADER != (size_t)n * RK_PL_FIG_BYTES)
		return RK_EPROTO;
	mp->flags = p[0];
	mp->after = rk_le_get64(p + 1);
	if ((mp->flags & ~(RK_PL_FIGS_FULL | RK_PL_FIGS_LAST)) != 0 ||
	    ((mp->flags & RK_PL_FIGS_LAST) && !(mp->flags & RK_PL_FIGS_FULL)) ||
	    (!(mp->flags & RK_PL_FIGS_FULL) && mp->after != 0))
		goto bad;
	prev = mp->after;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *q = p + RK_PL_FIGS_HEADER + (size_t)i * RK_PL_FIG_BYTES;
		struct rk_pl_fig *f = &mp->figs[i];

		f->range = rk_le_get64(q);
		if (f->range == 0 || f->range <= prev)
			goto bad;
		f->size_bytes = rk_le_get64(q + 8);
		f->writes_ps = rk_le_get32(q + 16);
		f->reads_ps = rk_le_get32(q + 20);
		prev = f->range;
	}
	mp->n = n;
	return 0;
bad:
	mp->flags = 0;
	mp->after = 0;
	return RK_EPROTO;
}

/* ---- the leader's table ---- */

/* The first entry at or above range. */
static size_t find(const struct rk_pl_figtab *t, uint64_t range)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->v[mid].f.range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct rk_pl_figent *rk_pl_figtab_get(const struct rk_pl_figtab *t, uint64_t range)
{
	size_t i = find(t, range);

	return i < t->n && t->v[i].f.range == range ? &t->v[i] : NULL;
}

int rk_pl_figtab_put(struct rk_pl_figtab *t, uint64_t node, uint64_t now_ms,
		     const struct rk_pl_fig *figs, uint32_t n)
{
	uint32_t fresh = 0;
	size_t w, r;

	for (uint32_t i = 0; i < n; i++) {
		size_t k = find(t, figs[i].range);
		if (k < t->n && t->v[k].f.range == figs[i].range)
			continue;
		fresh++;
	}
	if (fresh > 0 && t->n + fresh > t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		struct rk_pl_figent *v;
		while (cap < t->n + fresh)
			cap *= 2;
		if ((v = realloc(t->v, cap * sizeof(*v))) == NULL)
			return RK_ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	/* A merge from the back: the table and figs are both in range
	 * order, so every entry moves once, whatever the number of new
	 * ranges (inserting them one by one would move the table's tail
	 * once each: a full report of 30,000 new ranges into 100,000 would
	 * be gigabytes of memmove). */
	w = t->n + fresh;
	r = t->n;
	for (uint32_t i = n; i-- > 0;) {
		const struct rk_pl_fig *f = &figs[i];
		while (r > 0 && t->v[r - 1].f.range > f->range)
			t->v[--w] = t->v[--r];
		if (r > 0 && t->v[r - 1].f.range == f->range) {
			const struct rk_pl_fig *o = &t->v[r - 1].f;
			if (o->size_bytes != f->size_bytes || o->writes_ps != f->writes_ps ||
			    o->reads_ps != f->reads_ps)
				t->changed++;
			r--; /* replaced in place below */
		} else {
			t->changed++; /* a new range */
		}
		w--;
		t->v[w].f = *f;
		t->v[w].node = node;
		t->v[w].at_ms = now_ms;
	}
	t->n += fresh;
	t->taken += n;
	return 0;
}

void rk_pl_figtab_expire(struct rk_pl_figtab *t, uint64_t before_ms)
{
	size_t w = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].at_ms >= before_ms)
			t->v[w++] = t->v[i];
	if (w != t->n)
		t->changed++;
	t->n = w;
}

void rk_pl_figtab_free(struct rk_pl_figtab *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
