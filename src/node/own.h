/*
 * The node's own totals, as its heartbeat reports them (heartbeat.h): its
 * user replicas, those it leads, their bytes (size.h), the writes/s they
 * apply and the reads/s the led ones serve (load.h).
 *
 * Kept as they change, not summed each beat: a pass over 100,000 replicas
 * (a few cache lines each) every second was a quarter of an idle placement
 * leader's CPU. Each replica in the totals remembers what it put in (its
 * bytes, whether it counted as a leader); the places that change a size, a
 * rate or the table call in here, and a beat reads the totals after
 * looking at the awake replicas' leadership only (a replica's role changes
 * only while it is awake, and rk_node_sleep looks once more). Rates are
 * sums of rates (rk_rate_sum): the same decay applied to the sum of the
 * counts, which is the sum of the decayed rates.
 *
 * The check: rk_own_get sums every replica as the beat used to and
 * compares (counts and bytes exactly, rates to a millionth); a mismatch is
 * logged, counted in /metrics (rangekv_node_totals_mismatches_total) and
 * mended by taking the walk's figures. It runs every RK_OWN_CHECK_MS, and
 * at every beat when the node runs with the test hooks
 * (RANGEKV_TEST_HOOKS=1), so that the real-process tests see any place
 * that forgets to call in here.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_OWN_H
#define RK_NODE_OWN_H

#include <stdbool.h>
#include <stdint.h>

#include "load.h"

#define RK_OWN_CHECK_MS (5u * 60u * 1000u)

struct rk_buf;
struct rk_node;
struct rk_replica;

struct rk_own_totals {
	uint64_t replicas, leaders, bytes;
	double writes_ps, reads_ps;
};

struct rk_own {
	uint64_t replicas, leaders, bytes;
	struct rk_rate_sum writes, reads;
	uint64_t checked_ms;
	uint64_t checks, mismatches; /* /metrics */
};

/* r entered the table (after rk_table_add) / leaves it (at
 * rk_table_remove; a replica not in the totals is left alone). Reserved
 * ranges (the placement group's) are never in the totals. */
void rk_own_enter(struct rk_node *n, struct rk_replica *r);
void rk_own_leave(struct rk_node *n, struct rk_replica *r);

/* r's size (rk_size_of) may have changed: after every change of its
 * measurement, its applied delta or whether it is known. */
void rk_own_size(struct rk_node *n, struct rk_replica *r);

/* Counts k writes applied by r / a read served by r, on r's rate and in
 * the totals: the only way a replica's rates count. */
void rk_own_writes(struct rk_node *n, struct rk_replica *r, uint32_t k);
void rk_own_read(struct rk_node *n, struct rk_replica *r);

/* r's rates start again from nothing (a split's halves, a range that
 * would not split). */
void rk_own_rates_reset(struct rk_node *n, struct rk_replica *r);

/* r's leadership may have changed (it goes to sleep). */
void rk_own_role(struct rk_node *n, struct rk_replica *r);

/* The totals now: O(awake replicas), and the check above when it is due
 * (then the figures of its pass). */
void rk_own_get(struct rk_node *n, struct rk_own_totals *tp);

/* rangekv_node_totals_checks_total and _mismatches_total into b. */
void rk_own_metrics(struct rk_node *n, struct rk_buf *b);

#endif
