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
	/* The size (size.h): entries applied so far and the bytes they
	 * changed the span's data by (kv's reckoning, cumulative; unsure: the
	 * bytes of puts over values not read), each also as of the last
	 * measurement (its scan began at the *_mark), which was in second
	 * size_sec; the second of the last entry applied that changed the
	 * size. */
	uint64_t changes, size_mark;
	int64_t delta, delta_mark;
	uint64_t unsure, unsure_mark;
	uint32_t size_sec, change_sec;
	uint32_t size_epoch; /* moved by a snapshot install: drops scans begun before */
	bool size_known;
	bool size_fuzzy; /* the last scan raced with applies: measure again once quiet */
};

/* k events now (now_ms: a monotonic clock in milliseconds). */
void rk_rate_add(struct rk_rate *r, uint64_t now_ms, uint32_t k);

/* The average in events per second as of now_ms. */
double rk_rate_get(const struct rk_rate *r, uint64_t now_ms);

/*
 * A sum of rates kept as their events come (the node's totals, own.h):
 * the same average taken over the sum of their per-second counts. The
 * average is linear in the counts, so it reads what the sum of the
 * members' readings would (to a float's rounding: a member keeps its
 * average as a float), without a pass over the members. A member joins
 * with the history it holds and leaves with it, at any time.
 */
struct rk_rate_sum {
	uint32_t sec; /* the second cur counts */
	double cur;   /* the members' events in that second */
	double avg;   /* events/s averaged over the seconds before sec */
};

/* k events of a member now (as rk_rate_add on the member). */
void rk_rate_sum_add(struct rk_rate_sum *s, uint64_t now_ms, uint32_t k);

/* Member r joins the sum (sign 1) or leaves it (sign -1), its whole
 * history as r holds it now: r must have counted every event since it
 * joined into the sum too. */
void rk_rate_sum_join(struct rk_rate_sum *s, const struct rk_rate *r, int sign);

/* The sum of the members' readings (rk_rate_get) as of now_ms; never
 * below 0. */
double rk_rate_sum_get(const struct rk_rate_sum *s, uint64_t now_ms);

#endif
