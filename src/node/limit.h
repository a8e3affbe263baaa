/*
 * A byte rate limit (a token bucket) on a clock passed in: the node's
 * snapshot sends share one at --snapshot-rate (snapshot.c), so that moving
 * replicas leaves the links and disks to foreground traffic.
 *
 * Bytes go on credit: a piece may leave whenever the bucket holds more
 * than nothing, and its whole size is then taken (the balance may go below
 * zero), so that pieces larger than what the rate brings in a timer period
 * still leave at the rate on average. The bucket fills at `rate` bytes a
 * second up to `burst`: a limiter idle for long lets at most that through
 * at once.
 *
 * Pure: no clock of its own, no allocation; unit-tested (test_decide.c).
 */
#ifndef RK_NODE_LIMIT_H
#define RK_NODE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct rk_limit {
	double tokens;    /* bytes that may leave now; below 0: owed */
	uint64_t last_ns; /* when tokens was last brought up to date; 0: never */
};

/* Brings b up to now_ns at rate bytes a second (0: no limit) and says
 * whether a piece may leave now. */
bool rk_limit_ready(struct rk_limit *b, uint64_t now_ns, uint64_t rate, uint64_t burst);
/* A piece of bytes left (after rk_limit_ready said it may). */
void rk_limit_spend(struct rk_limit *b, uint64_t bytes);

#endif
