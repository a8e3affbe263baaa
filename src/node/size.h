/*
 * The size of each range's span (size_bytes: the bytes of its user keys
 * and values), measured off the loop.
 *
 * A write does not know the size of what it replaces, and reading it
 * would cost every write a store read; so sizes are measured instead: a
 * worker thread scans the spans of ranges whose size is unknown (after a
 * start, an installed snapshot) or that applied commands since their last
 * measurement, at most once every RK_SIZE_MIN_AGE_S seconds per range, up
 * to RK_SIZE_BATCH ranges a job and one job at a time. A figure is
 * therefore as of its measurement: at most that old plus a job's time for
 * a range being written.
 *
 * Threads: the loop; the scans on a libuv worker with its own reader.
 */
#ifndef RK_NODE_SIZE_H
#define RK_NODE_SIZE_H

#include <stdbool.h>
#include <stddef.h>

#define RK_SIZE_MIN_AGE_S 10
#define RK_SIZE_BATCH 4096

struct rk_node;

struct rk_sizes {
	bool running;  /* a job is on a worker */
	size_t cursor; /* of the slice of sleeping replicas visited */
	unsigned long long jobs, measured; /* for /metrics */
};

/* Starts a job if none runs and some range wants measuring (the tick
 * calls it every second or so). */
void rk_size_refresh(struct rk_node *n);

#endif
