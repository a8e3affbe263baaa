/*
 * Per-range figures (size and load) as the nodes report them to the
 * placement group's leader in their heartbeats, and the table in which
 * the leader keeps them (docs/placement.md, "Range figures").
 *
 * A node reports the ranges it leads (their leader measures the load of
 * reads, and there is one leader a range, so each range is reported once):
 * the ranges whose figures moved by more than RK_PL_FIG_MOVED_PCT since
 * it last reported them to this leader, and every few minutes all of
 * them, at most RK_PL_FIGS_MAX a heartbeat (a full report of 100,000
 * ranges is spread over many beats, never one message that grows with
 * the cluster).
 *
 * The section a heartbeat carries after its node figures (integers
 * little endian):
 *   u8 flags | u64 after | u32 n | n x (u64 range | u64 size bytes |
 *                                      u32 writes/s | u32 reads/s)
 * flags: RK_PL_FIGS_FULL, the chunk is part of a full report, which
 * covers every range the sender leads in id order: this chunk holds all
 * of them above `after` up to its last range (after is 0 for the first
 * chunk, else the last range of the chunk before); RK_PL_FIGS_LAST, the
 * full report ends with it. Without RK_PL_FIGS_FULL, `after` is 0 and
 * the chunk holds moved figures only. Ranges strictly increasing, none 0.
 *
 * The leader's table: the last figures of each range reported to it, by
 * range id, with the node that reported them and when (memory only: a
 * new leader asks every node for a full report, heartbeat.h).
 *
 * Pure functions, libc only; the caller owns every array.
 */
#ifndef RK_PL_FIGS_H
#define RK_PL_FIGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RK_PL_FIGS_MAX 2048u
#define RK_PL_FIG_BYTES 24u
#define RK_PL_FIGS_HEADER 13u
#define RK_PL_FIG_MOVED_PCT 10u

enum { RK_PL_FIGS_FULL = 1, RK_PL_FIGS_LAST = 2 };

struct rk_pl_fig {
	uint64_t range, size_bytes;
	uint32_t writes_ps, reads_ps;
};

/* Whether figures now differ from those last reported (was) by more than
 * RK_PL_FIG_MOVED_PCT of the larger: a range that went from 0 to 1 write
 * a second moved, one of 1,000,000 bytes that grew by 50,000 did not. */
bool rk_pl_fig_moved(const struct rk_pl_fig *now, const struct rk_pl_fig *was);

/* Appends the section; RK_EINVAL for n > RK_PL_FIGS_MAX, unknown flags or
 * ranges not strictly increasing, RK_ENOMEM (out->len is then as it was). */
int rk_pl_figs_encode(struct rk_buf *out, uint8_t flags, uint64_t after,
		      const struct rk_pl_fig *figs, uint32_t n);

struct rk_pl_figs_msg {
	uint8_t flags;
	uint64_t after;
	uint32_t n;
	struct rk_pl_fig figs[RK_PL_FIGS_MAX];
};
/* RK_EPROTO unless p[0..len) is exactly one section as above (flags
 * known, LAST only with FULL, after 0 without FULL, n at most
 * RK_PL_FIGS_MAX, ranges non-zero, above after and strictly increasing);
 * *mp is set on every path (n 0 on error). */
int rk_pl_figs_decode(const uint8_t *p, size_t len, struct rk_pl_figs_msg *mp);

/* ---- the leader's table ---- */

struct rk_pl_figent {
	struct rk_pl_fig f;
	uint64_t node;  /* who reported it (the range's leader then) */
	uint64_t at_ms; /* when, on the caller's clock */
};

struct rk_pl_figtab {
	struct rk_pl_figent *v; /* by range id */
	size_t n, cap;
	uint64_t taken; /* figures put so far */
	/* Moves whenever an entry's figures (size, rates) change, one is
	 * added or expired: a table whose `changed` is as it was holds the
	 * same figures (a full report of unchanged ranges moves only
	 * `taken`). */
	uint64_t changed;
};

/* Puts figs[0..n) (ranges strictly increasing) reported by node at
 * now_ms: a range's figures are replaced, a new range inserted. O(n log
 * size) for known ranges; one pass over the table when some are new.
 * RK_ENOMEM: the table is as it was. */
int rk_pl_figtab_put(struct rk_pl_figtab *t, uint64_t node, uint64_t now_ms,
		     const struct rk_pl_fig *figs, uint32_t n);
/* The range's entry, NULL if none was reported. */
const struct rk_pl_figent *rk_pl_figtab_get(const struct rk_pl_figtab *t, uint64_t range);
/* Drops every entry reported before before_ms (ranges merged away or
 * no longer led by anyone who reports). */
void rk_pl_figtab_expire(struct rk_pl_figtab *t, uint64_t before_ms);
void rk_pl_figtab_free(struct rk_pl_figtab *t);

#endif
