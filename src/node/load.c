/*
 * Decayed per-second rates (load.h). Each whole second contributes its
 * count c as avg' = A * avg + (1 - A) * c with A = exp(-1 / tau); a second
 * without events only decays: d seconds later the average is
 * (A * avg + (1 - A) * c) * A^(d - 1).
 */
#include <math.h>

#include "load.h"

static double folded(const struct rk_rate *r, uint32_t sec)
{
	double a = exp(-1.0 / RK_LOAD_TAU_S), v;
	uint32_t d = sec - r->sec;

	if (d == 0)
		return r->avg;
	v = a * r->avg + (1.0 - a) * r->cur;
	/* After 40 time constants nothing is left worth a float. */
	return d - 1 > 40 * RK_LOAD_TAU_S ? 0.0 : v * exp(-(double)(d - 1) / RK_LOAD_TAU_S);
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
