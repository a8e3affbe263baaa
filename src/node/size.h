/*
 * The size of each range's span (size_bytes: the bytes of its user keys
 * and values): measured off the loop, and kept between measurements from
 * what the applied commands did.
 *
 * A plain SET does not read the value it replaces (that would cost every
 * SET a store read), so the applier counts it as a new key; the commands
 * that read the old value (DEL, CAS, INCR, SET NX) count exactly
 * (rk_kv_applier.size_delta). A range's figure is its last measurement
 * plus what was applied since: exact for inserts and deletes, too large by
 * the overwritten keys and values otherwise. A worker thread scans a
 * range's span again (RK_SIZE_BATCH ranges a job, one job at a time, a
 * range at most once every RK_SIZE_MIN_AGE_S seconds):
 * - when its size is unknown (after a start, an installed snapshot);
 * - when the bytes counted unsure since the last scan reach a quarter of
 *   its size (at least RK_SIZE_UNSURE_MIN): so a scan costs at most about
 *   four times the bytes written, however large the range, rather than a
 *   scan of every written range every few seconds;
 * - once a range written to has been quiet for RK_SIZE_MIN_AGE_S, when the
 *   figure may be off (unsure bytes, or the last scan raced with applies)
 *   and the range is small (RK_SIZE_QUIET_MAX) or the scan raced;
 * - at the latest RK_SIZE_MAX_AGE_S after the last scan of a range with
 *   unsure bytes.
 * Replicas apply the same commands, so their figures agree once each has
 * scanned a quiet range.
 *
 * Threads: the loop; the scans on a libuv worker with its own reader.
 */
#ifndef RK_NODE_SIZE_H
#define RK_NODE_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RK_SIZE_MIN_AGE_S 10
#define RK_SIZE_MAX_AGE_S 600
#define RK_SIZE_BATCH 4096
#define RK_SIZE_UNSURE_MIN (64u << 10)
#define RK_SIZE_QUIET_MAX (4u << 20)

struct rk_load;
struct rk_node;
struct rk_replica;

struct rk_sizes {
	bool running; /* a job is on a worker */
	bool seeded;  /* the replicas loaded at start were looked at */
	/* The sleeping replicas whose figure is not settled (r->size_watched;
	 * unknown, or changed since its last scan): the awake ones and these
	 * are all a refresh looks at, so a node at rest looks at none. Range
	 * ids, 0 for one dropped; visited a slice at a time from cursor. */
	uint64_t *watch;
	size_t n_watch, cap_watch, dead, cursor;
	unsigned long long jobs, measured; /* for /metrics */
};

/* An entry applied to r changed its data by delta bytes, unsure of them
 * counted as new keys though they may have replaced values. */
void rk_size_applied(struct rk_node *n, struct rk_replica *r, int64_t delta,
		     uint64_t unsure);
/* r's size as this node knows it: the last measurement and what was
 * applied since (0 while unknown). */
uint64_t rk_size_of(const struct rk_replica *r);
/* Whether a replica whose load is l, last measured at `bytes`, is to be
 * scanned at second now_s (the rules above; pure). */
bool rk_size_due(const struct rk_load *l, uint64_t bytes, uint32_t now_s);

/* Starts a job if none runs and some range wants measuring (the tick
 * calls it every second or so). */
void rk_size_refresh(struct rk_node *n);
/* r's figure is unknown from now on (its span or data replaced: a split,
 * a merge, a snapshot installed): measured again. */
void rk_size_unknown(struct rk_node *n, struct rk_replica *r);
/* r goes to sleep: watched while its figure is not settled. */
void rk_size_note_sleep(struct rk_node *n, struct rk_replica *r);
void rk_size_free(struct rk_sizes *s);

#endif
