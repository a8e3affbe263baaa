/*
 * The load of one range as people read it: writes and reads per second,
 * each an exponentially weighted moving average of per-second counts with
 * a time constant of RK_LOAD_TAU_S seconds.
 *
 * Cost: counting is O(1) on the path that applies or serves (no timer,
 * no scan): the count of the current second is kept as it is, and folded
 * into the average the first time a later second counts or reads it. A
 * reading therefore covers whole seconds only (it lags by up to one
 * second) and changes nothing. 12 bytes a rate, so 100,000 ranges cost
 * 2.4 MB for both (and the size's marks 2.4 MB more).
 *
 * Threads: the node's loop (the replica's).
 */
#ifndef RK_NODE_LOAD_H
#define RK_NODE_LOAD_H

#include <stdbool.h>
#include <stdint.h>

#define RK_LOAD_TAU_S 10.0

struct rk_rate {
	uint32_t sec; /* the second (of the loop's clock) cur counts */
	uint32_t cur; /* events in that second so far */
	float avg;    /* events/s averaged over the seconds before sec */
};

struct rk_load {
	struct rk_rate writes; /* commands applied (every replica) */
	struct rk_rate reads;  /* reads served (the leader's) */
	/* The size measurement (size.h): commands applied so far, and at the
	 * last measurement, which was in second size_sec. */
	uint64_t changes, size_mark;
	uint32_t size_sec;
	uint32_t size_epoch; /* moved by a snapshot install: drops scans begun before */
	bool size_known;
};

/* k events now (now_ms: a monotonic clock in milliseconds). */
void rk_rate_add(struct rk_rate *r, uint64_t now_ms, uint32_t k);

/* The average in events per second as of now_ms. */
double rk_rate_get(const struct rk_rate *r, uint64_t now_ms);

#endif
