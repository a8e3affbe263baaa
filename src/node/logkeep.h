/*
 * Raft log retention by bytes: each replica's log size, kept as entries are
 * stored, compacted and replaced by a snapshot (never by a scan per round),
 * and the compaction decision (which logs to shorten, up to which index)
 * as a pure function of sizes, applied indexes and budgets.
 *
 * The size of a log is the difference of two cumulative counts: the bytes
 * stored up to its last entry, and up to the entry before its first. The
 * cumulative count is known exactly at a few marks (one each time another
 * step of bytes was stored) and between them by interpolation, so a
 * compaction or a truncation that falls between two marks is off by at
 * most one step until the log is compacted past the next mark.
 *
 * Threads: the caller's (the node's loop); no state of its own.
 */
#ifndef RK_NODE_LOGKEEP_H
#define RK_NODE_LOGKEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an entry costs beyond its payload in the raftlog table: its key
 * (range, index) and its header (term, type). */
#define RK_LOGKEEP_ENTRY_OVERHEAD 24u
#define RK_LOGKEEP_MARKS 32u

struct rk_logkeep_mark {
	uint64_t index, cum; /* bytes stored through index */
};

/* One log's size. Mark 0 is the base: the last compacted index and the
 * bytes through it; the others follow in ascending order of index. Most
 * logs (idle ranges, short logs) never need a mark beyond the base, so the
 * others are allocated when the first one is set: a replica of an idle
 * range pays 48 bytes, not the whole array (100,000 of them on a node). */
struct rk_logbytes {
	struct rk_logkeep_mark base;
	struct rk_logkeep_mark *more; /* marks 1.., RK_LOGKEEP_MARKS - 1 of them */
	uint32_t n;
	uint32_t shift;     /* marks are step << shift bytes apart */
	uint64_t last, top; /* the last stored index and the bytes through it */
};

/* The log holds nothing after index. */
void rk_logbytes_reset(struct rk_logbytes *lb, uint64_t index);
/* Frees what lb allocated; lb then reads as an empty log (reset to use it
 * again). A zeroed rk_logbytes needs no free. */
void rk_logbytes_free(struct rk_logbytes *lb);
/* Bytes of the entries stored after the base. */
uint64_t rk_logbytes_get(const struct rk_logbytes *lb);
/* The cumulative count through index (clamped to the stored log). */
uint64_t rk_logbytes_cum(const struct rk_logbytes *lb, uint64_t index);
/* Entry index of `bytes` was stored, replacing any at index and after; a
 * mark is set once `step` bytes were stored since the last one (twice,
 * four times... that while the log outgrows its marks: they are thinned
 * out, every other one dropped, and stay evenly spread). Without memory
 * for the marks the mark is not set: the size stays exact, a compaction
 * point between marks is only coarser. */
void rk_logbytes_stored(struct rk_logbytes *lb, uint64_t index, uint64_t bytes,
			uint64_t step);
/* The entries through upto were removed (upto past the last: none left). */
void rk_logbytes_compact(struct rk_logbytes *lb, uint64_t upto);

/* The budgets: entries and bytes per log, bytes for all logs of a node. */
struct rk_logkeep_limits {
	uint64_t keep;        /* entries behind the applied index */
	uint64_t keep_bytes;  /* bytes of one log */
	uint64_t total_bytes; /* bytes of the node's logs */
	/* The most a hold scaled by its snapshot may keep (the node takes a
	 * quarter of its free disk); 0: holds are not scaled. */
	uint64_t hold_max;
};

/* One log the decision may shorten. */
struct rk_logkeep_range {
	const struct rk_logbytes *lb;
	uint64_t first;   /* its first stored index */
	uint64_t applied; /* its applied index */
	uint64_t limit;   /* the highest index it may drop: applied, and no
			   * further than the last checkpoint's applied index */
	void *arg;        /* the caller's */
	uint64_t upto;    /* out: drop the entries through upto; 0: none */
	uint64_t after;   /* out: its bytes once that is done */
	/* A snapshot hold: drop nothing past it while the entries after it
	 * hold at most rk_logkeep_hold_bound bytes (0: none). */
	uint64_t hold;
	bool held;        /* out: the hold kept entries a budget would drop */
	uint64_t hold_snap; /* the held snapshot's bytes (0: not known) */
};

/* The size beyond which a log's snapshot hold is ignored: 4 x keep_bytes
 * or total_bytes, or RK_LOGKEEP_HOLD_SNAPS x the held snapshot's bytes
 * (at most hold_max), whichever is more. A follower that never takes its
 * snapshot must not grow the log without limit; but giving a hold up
 * sends the snapshot again, larger by the writes of its stream, so a log
 * a few times the snapshot is cheaper than that, and a follower of a
 * range written faster than the fixed bound's worth per stream would
 * otherwise never catch up (it does while the writes stay under
 * RK_LOGKEEP_HOLD_SNAPS x --snapshot-rate). */
#define RK_LOGKEEP_HOLD_SNAPS 4u
uint64_t rk_logkeep_hold_bound(const struct rk_logkeep_limits *lim, uint64_t snap_bytes);

/* Whether a snapshot hold at index hold (0: none) applies to the log lb:
 * the entries after it, which it keeps, are within the bound. Those
 * before it go as the budgets say, so they do not count: a log that
 * still held a bulk load from before the snapshot would otherwise lose
 * its hold, and the follower the entries after the snapshot. */
bool rk_logkeep_hold_applies(const struct rk_logkeep_limits *lim, const struct rk_logbytes *lb,
			     uint64_t hold, uint64_t snap_bytes);

/* Decides the compactions of v[0..n) (reordered: larger logs first) for a
 * node whose logs hold `total` bytes, v's and others'. A log is shortened
 * when it holds more than keep entries behind its applied index (to keep/2
 * of them) or more than keep_bytes (to at most keep_bytes/2); then, while
 * the node's total is over total_bytes, the largest logs are shortened to
 * their limit until it is at most total_bytes/2 (halving leaves room
 * before the next compaction, rather than one for every few writes).
 * Never past a log's limit, nor past its hold within the hold's bound.
 * *ckptp is set when a log that should be shortened cannot for want of a
 * checkpoint (not when a hold stops it). Returns the total after. */
uint64_t rk_logkeep_decide(const struct rk_logkeep_limits *lim, uint64_t total,
			   struct rk_logkeep_range *v, size_t n, bool *ckptp);

#endif
