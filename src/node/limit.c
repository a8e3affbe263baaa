/*
 * A byte rate limit (limit.h).
 */
#include "limit.h"

bool rk_limit_ready(struct rk_limit *b, uint64_t now_ns, uint64_t rate, uint64_t burst)
{
	if (rate == 0)
		return true;
	if (b->last_ns == 0 || now_ns < b->last_ns) {
		/* The first use starts full (a clock that went back: from now). */
		if (b->last_ns == 0)
			b->tokens = (double)burst;
		b->last_ns = now_ns;
	}
	b->tokens += (double)(now_ns - b->last_ns) * (double)rate / 1e9;
	if (b->tokens > (double)burst)
		b->tokens = (double)burst;
	b->last_ns = now_ns;
	return b->tokens > 0.0;
}

void rk_limit_spend(struct rk_limit *b, uint64_t bytes)
{
	b->tokens -= (double)bytes;
}
