/*
 * Automatic range splits (docs/node.md "Range split"): a range's leader
 * splits it when its size passes --split-size or, with --split-qps, when
 * its reads and writes per second (each a moving average over about
 * RK_LOAD_TAU_S seconds, load.h: a load sustained over that window, not a
 * burst) pass that figure.
 *
 * The split key is the middle of the span by bytes: a worker scans the
 * span (its own storage reader, never the loop) and keeps a bounded
 * sample of keys with the bytes before each (struct rk_mid); the sample
 * nearest half of the total is the key. A hot range is split at its
 * middle by bytes too (a middle by load needs per-key counts, which the
 * node does not keep).
 *
 * Limits: one automatic split in flight per node (its key search or its
 * proposal), a new one at most every RK_AUTOSPLIT_GAP_MS, and never of a
 * range with a membership change, a split or a leadership transfer under
 * way (rk_split_busy_why), nor of a right half whose split is not yet
 * committed in its left's log. A split leaves both halves' sizes unknown
 * until measured again and their rates at zero (split.c), so a range is
 * not split twice on one figure.
 *
 * Threads: the loop; the key search on a libuv worker.
 */
#ifndef RK_NODE_AUTOSPLIT_H
#define RK_NODE_AUTOSPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RK_AUTOSPLIT_GAP_MS 200
#define RK_MID_SAMPLES 128

struct rk_node;

/* The middle key of a stream of (key, bytes) pairs in key order, in
 * bounded memory: a key is kept every `step` bytes; when RK_MID_SAMPLES are
 * kept, every other one is dropped and the step doubles, so the kept keys
 * stay spread over the whole stream and the one picked is within about
 * 2 * total / RK_MID_SAMPLES bytes of the middle. Pure (no I/O). */
struct rk_mid {
	uint64_t total; /* bytes added so far */
	uint64_t step, next;
	size_t n;
	struct rk_mid_sample {
		uint64_t off; /* bytes of the pairs before key */
		struct rk_buf key;
	} s[RK_MID_SAMPLES];
	bool oom;
};

/* step: the expected total / RK_MID_SAMPLES (at least 1 is used). */
void rk_mid_init(struct rk_mid *m, uint64_t step);
/* The next pair: key (after every key added before) and its bytes. */
void rk_mid_add(struct rk_mid *m, const void *key, size_t klen, uint64_t bytes);
/* The key nearest the middle, not the stream's first (a split there
 * would leave the left empty): *keyp points into m. RK_ENOTFOUND when there
 * is none (fewer than two keys), RK_ENOMEM if a key could not be kept. */
int rk_mid_pick(const struct rk_mid *m, const uint8_t **keyp, size_t *klenp);
void rk_mid_free(struct rk_mid *m);

/* Why a range of size bytes and qps reads and writes per second is to be
 * split under split_size (0: never for size) and split_qps (0: never for
 * load): its excess over the limit, as a ratio above 1 (the larger, the
 * sooner), or 0 if it stays. Pure. */
double rk_autosplit_excess(uint64_t size, double qps, uint64_t split_size,
			   uint64_t split_qps);

/* The size a split is decided on: at least what r's span holds. The
 * node's figure (rk_size_of) counts a plain SET's bytes as new though it
 * may overwrite a value (size.h); those unsure bytes are left out until a
 * measurement counts them (one comes once they reach a quarter of the
 * size, at most every RK_SIZE_MIN_AGE_S), so rewriting one key never
 * splits its range. */
struct rk_replica;
uint64_t rk_autosplit_size(const struct rk_replica *r);

/* The watch list. The tick looks only at the ranges in it, not at every
 * range: a range enters it when its figures may have gone up (a command
 * applied, a read served, a size measured: rk_autosplit_touch), and leaves
 * it at a tick that finds it under both limits with rates that cannot rise
 * any more without a new event (rk_autosplit_rate_settled). A range above
 * a limit stays in it whether or not it is led here or may split now, so
 * a leadership or a busy state that ends finds it there. An idle range
 * (asleep: no writes, no reads) is not in it: the tick costs nothing for
 * it. The list is seeded with every range at the first tick and again
 * when the limits change. */
struct rk_rate;
void rk_autosplit_touch(struct rk_node *n, struct rk_replica *r);
/* Whether the reading of rate r (load.h) can no longer rise from now_ms on
 * without a new event: the current second's count is folded in once the
 * second is over, then the reading only decays. Pure. */
bool rk_autosplit_rate_settled(const struct rk_rate *r, uint64_t now_ms);

/* Starts an automatic split if one is due and none is in flight (the tick
 * calls it). */
void rk_autosplit_tick(struct rk_node *n);
/* The split counters and latency in /metrics. */
void rk_autosplit_metrics(struct rk_node *n, struct rk_buf *b);

#endif
