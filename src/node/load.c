/*
 * Decayed per-second rates (load.h). Each whole second contributes its
 * count c as avg' = A * avg + (1 - A) * c with A = exp(-1 / tau); a second
 * without events only decays: d seconds later the average is
 * (A * avg + (1 - A) * c) * A^(d - 1).
 */
#include <math.h>

#include "load.h"

/* The average as of second `to` of one whose average was avg before
 * second `from`, which counted cur (to >= from). */
static double fold(double avg, double cur, uint32_t from, uint32_t to)
{
	double a = exp(-1.0 / RK_LOAD_TAU_S), v;
	uint32_t d = to - from;

	if (d == 0)
		return avg;
	v = a * avg + (1.0 - a) * cur;
	/* After 40 time constants nothing is left worth a float. */
	return d - 1 > 40 * RK_LOAD_TAU_S ? 0.0 : v * exp(-(double)(d - 1) / RK_LOAD_TAU_S);
}

static double folded(const struct rk_rate *r, uint32_t sec)
{
	return fold(r->avg, r->cur, r->sec, sec);
}

void rk_rate_add(struct rk_rate *r, uint64_t now_ms, uint32_t k)
{
	uint32_t sec = (uint32_t)(now_ms / 1000);

	if (sec != r->sec) {
		r->avg = (float)folded(r, sec);
		r->sec = sec;
		r->cur = 0;
	}
	r->cur = r->cur > UINT32_MAX - k ? UINT32_MAX : r->cur + k;
}

double rk_rate_get(const struct rk_rate *r, uint64_t now_ms)
{
	uint32_t sec = (uint32_t)(now_ms / 1000);

	/* A clock that went back (it cannot: monotonic) reads as is; a rate
	 * that never counted, or decayed to nothing, reads 0 at any second
	 * (folded's terms are all 0): no exp() for the idle ranges that
	 * the heartbeat's totals read every second. */
	if (sec < r->sec || (r->cur == 0 && r->avg == 0))
		return r->avg;
	return folded(r, sec);
}

/* ---- sums ---------------------------------------------------------------------- */

/* The sum's average carried to second sec (>= s->sec), its count then 0. */
static void sum_to(struct rk_rate_sum *s, uint32_t sec)
{
	if (sec == s->sec)
		return;
	s->avg = s->cur == 0 && s->avg == 0 ? 0 : fold(s->avg, s->cur, s->sec, sec);
	s->sec = sec;
	s->cur = 0;
}

void rk_rate_sum_add(struct rk_rate_sum *s, uint64_t now_ms, uint32_t k)
{
	uint32_t sec = (uint32_t)(now_ms / 1000);

	if (sec > s->sec)
		sum_to(s, sec);
	s->cur += k;
}

void rk_rate_sum_join(struct rk_rate_sum *s, const struct rk_rate *r, int sign)
{
	/* Both at the later of their seconds: the member's count of that
	 * second stays a count (the sum folds it when that second ends, as
	 * the member would), an earlier one is folded into its average. */
	if (r->sec > s->sec)
		sum_to(s, r->sec);
	if (r->sec == s->sec) {
		s->avg += sign * (double)r->avg;
		s->cur += sign * (double)r->cur;
	} else if (r->cur != 0 || r->avg != 0) {
		s->avg += sign * folded(r, s->sec);
	}
}

double rk_rate_sum_get(const struct rk_rate_sum *s, uint64_t now_ms)
{
	uint32_t sec = (uint32_t)(now_ms / 1000);
	double v;

	if (sec < s->sec || (s->cur == 0 && s->avg == 0))
		v = s->avg;
	else
		v = fold(s->avg, s->cur, s->sec, sec);
	/* Members that left may leave a rounding's worth below 0. */
	return v > 0 ? v : 0;
}
