/*
 * Raft log retention by bytes (logkeep.h says how sizes are kept).
 */
#include <stdlib.h>

#include "logkeep.h"

/* Mark i (0: the base). */
#define MK(lb, i) (*((i) == 0 ? &(lb)->base : &(lb)->more[(i) - 1]))

void rk_logbytes_reset(struct rk_logbytes *lb, uint64_t index)
{
	MK(lb, 0).index = index;
	MK(lb, 0).cum = 0;
	lb->n = 1;
	lb->shift = 0;
	lb->last = index;
	lb->top = 0;
}

void rk_logbytes_free(struct rk_logbytes *lb)
{
	free(lb->more);
	lb->more = NULL;
	lb->n = 0;
}

uint64_t rk_logbytes_get(const struct rk_logbytes *lb)
{
	return lb->n == 0 ? 0 : lb->top - MK(lb, 0).cum;
}

uint64_t rk_logbytes_cum(const struct rk_logbytes *lb, uint64_t index)
{
	struct rk_logkeep_mark lo, hi;
	uint32_t i;

	if (lb->n == 0)
		return 0;
	if (index >= lb->last)
		return lb->top;
	if (index <= MK(lb, 0).index)
		return MK(lb, 0).cum;
	for (i = 1; i < lb->n && MK(lb, i).index <= index; i++)
		;
	lo = MK(lb, i - 1);
	if (i < lb->n) {
		hi = MK(lb, i);
	} else {
		hi.index = lb->last;
		hi.cum = lb->top;
	}
	if (lo.index == index || hi.index == lo.index)
		return lo.cum;
	/* index lies strictly between lo and hi: interpolate. */
	return lo.cum + (uint64_t)((double)(hi.cum - lo.cum) *
				   (double)(index - lo.index) / (double)(hi.index - lo.index));
}

/* Keeps the base and every other mark: the marks twice as far apart, and
 * the next ones too. */
static void thin(struct rk_logbytes *lb)
{
	uint32_t i, j = 1;

	for (i = 2; i < lb->n; i += 2)
		MK(lb, j) = MK(lb, i), j++;
	lb->n = j;
	if (lb->shift < 32)
		lb->shift++;
}

void rk_logbytes_stored(struct rk_logbytes *lb, uint64_t index, uint64_t bytes,
			uint64_t step)
{
	if (lb->n == 0)
		rk_logbytes_reset(lb, index - 1);
	if (index <= MK(lb, 0).index) {
		/* Below the base (not done by raft, which replaces a
		 * compacted log by a snapshot): the log restarts here. */
		rk_logbytes_reset(lb, index - 1);
	} else if (index <= lb->last) {
		/* The entries from index on are replaced. */
		uint64_t cum = rk_logbytes_cum(lb, index - 1);

		while (lb->n > 1 && MK(lb, lb->n - 1).index >= index)
			lb->n--;
		lb->last = index - 1;
		lb->top = cum;
	}
	lb->top += bytes;
	lb->last = index;
	if (lb->top - MK(lb, lb->n - 1).cum >= step << lb->shift) {
		if (lb->more == NULL &&
		    (lb->more = malloc((RK_LOGKEEP_MARKS - 1) * sizeof(*lb->more))) == NULL)
			return;
		if (lb->n == RK_LOGKEEP_MARKS)
			thin(lb);
		MK(lb, lb->n).index = index;
		MK(lb, lb->n).cum = lb->top;
		lb->n++;
	}
}

void rk_logbytes_compact(struct rk_logbytes *lb, uint64_t upto)
{
	uint64_t cum;
	uint32_t i, j;

	if (lb->n == 0 || upto > lb->last) {
		rk_logbytes_reset(lb, upto);
		return;
	}
	if (upto <= MK(lb, 0).index)
		return;
	cum = rk_logbytes_cum(lb, upto);
	for (i = 1; i < lb->n && MK(lb, i).index <= upto; i++)
		;
	MK(lb, 0).index = upto;
	MK(lb, 0).cum = cum;
	for (j = 1; i < lb->n; i++)
		MK(lb, j) = MK(lb, i), j++;
	lb->n = j;
	/* A log much shorter than its marks allow: the next ones closer. */
	if (lb->n < RK_LOGKEEP_MARKS / 4 && lb->shift > 0)
		lb->shift--;
}

/* ---- the decision ------------------------------------------------------------------ */

/* The first index x at or after `from` with at most `keep` bytes after it:
 * a mark (the cumulative count is exact there) or the last index. */
static uint64_t bytes_point(const struct rk_logbytes *lb, uint64_t from, uint64_t keep)
{
	for (uint32_t i = 0; i < lb->n; i++)
		if (MK(lb, i).index >= from && lb->top - MK(lb, i).cum <= keep)
			return MK(lb, i).index;
	return lb->last;
}

static int by_after_desc(const void *a, const void *b)
{
	const struct rk_logkeep_range *x = a, *y = b;

	return x->after > y->after ? -1 : x->after < y->after ? 1 : 0;
}

uint64_t rk_logkeep_hold_bound(const struct rk_logkeep_limits *lim, uint64_t snap_bytes)
{
	uint64_t bound = 4 * lim->keep_bytes, scaled;

	if (lim->total_bytes > bound)
		bound = lim->total_bytes;
	scaled = snap_bytes > lim->hold_max / RK_LOGKEEP_HOLD_SNAPS
			 ? lim->hold_max
			 : RK_LOGKEEP_HOLD_SNAPS * snap_bytes;
	return scaled > bound ? scaled : bound;
}

bool rk_logkeep_hold_applies(const struct rk_logkeep_limits *lim, const struct rk_logbytes *lb,
			     uint64_t hold, uint64_t snap_bytes)
{
	return hold != 0 &&
	       lb->top - rk_logbytes_cum(lb, hold) <= rk_logkeep_hold_bound(lim, snap_bytes);
}

/* v's hold, if it applies: 0 when none, or when what it keeps is over the
 * bound. */
static uint64_t hold_of(const struct rk_logkeep_limits *lim, const struct rk_logkeep_range *v)
{
	return rk_logkeep_hold_applies(lim, v->lb, v->hold, v->hold_snap) ? v->hold : 0;
}

/* Sets v->upto to target capped at the limit and the hold; returns the
 * bytes freed. */
static uint64_t shorten(struct rk_logkeep_range *v, uint64_t target, uint64_t hold,
			bool *ckptp)
{
	uint64_t upto = target < v->limit ? target : v->limit;
	uint64_t before = v->after;

	if (target < v->first)
		return 0;
	if (upto < v->first) {
		*ckptp = true; /* the checkpoint lags: ask for one */
		return 0;
	}
	if (hold != 0 && upto > hold) {
		/* A snapshot in flight continues from hold + 1: the entries
		 * after it stay (no checkpoint would help). */
		v->held = true;
		upto = hold;
		if (upto < v->first)
			return 0;
	}
	if (upto <= v->upto)
		return 0;
	v->upto = upto;
	v->after = v->lb->top - rk_logbytes_cum(v->lb, upto);
	return before > v->after ? before - v->after : 0;
}

uint64_t rk_logkeep_decide(const struct rk_logkeep_limits *lim, uint64_t total,
			   struct rk_logkeep_range *v, size_t n, bool *ckptp)
{
	size_t i;

	*ckptp = false;
	for (i = 0; i < n; i++) {
		uint64_t freed = 0, hold = hold_of(lim, &v[i]);

		v[i].upto = 0;
		v[i].held = false;
		v[i].after = rk_logbytes_get(v[i].lb);
		if (lim->keep > 0 && v[i].applied >= v[i].first + lim->keep)
			freed += shorten(&v[i], v[i].applied - lim->keep / 2, hold, ckptp);
		if (lim->keep_bytes > 0 && v[i].after > lim->keep_bytes)
			freed += shorten(&v[i], bytes_point(v[i].lb, v[i].first - 1,
							    lim->keep_bytes / 2), hold, ckptp);
		total = total > freed ? total - freed : 0;
	}
	if (n == 0 || lim->total_bytes == 0 || total <= lim->total_bytes)
		return total;
	qsort(v, n, sizeof(*v), by_after_desc);
	for (i = 0; i < n && total > lim->total_bytes / 2; i++) {
		uint64_t freed = shorten(&v[i], v[i].lb->last, hold_of(lim, &v[i]), ckptp);

		total = total > freed ? total - freed : 0;
	}
	return total;
}
