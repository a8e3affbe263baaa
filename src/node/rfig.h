/*
 * Per-range figures in the heartbeats (docs/placement.md, "Range
 * figures"; the section's bytes and the leader's table: placement/figs.h).
 *
 * The sender: each heartbeat to the placement group's leader carries the
 * figures (size, writes/s, reads/s) of the ranges this node leads whose
 * figures moved by more than 10% since it last reported them to that
 * leader, at most RK_PL_FIGS_MAX a beat (the rest go with the next
 * beats, from where this one stopped), and every RK_RFIG_FULL_MS a full
 * report of every range it leads, in chunks of RK_PL_FIGS_MAX. Only the
 * leaders report: a range's load of reads is its leader's, and one
 * reporter a range keeps a full report of 100,000 ranges at 100,000
 * entries for the whole cluster, not --replicas times that. The
 * section is appended only when the leader's last answer asked for it
 * (a leader that knows nothing of figures never asks), and a full report
 * begins when the leader asks for one: a new leader (or one that missed a
 * chunk of a full report) asks until a whole one reached it. A
 * different leader answering means nothing was reported to it: every
 * range counts as moved.
 *
 * The leader: keeps the last figures of each range in memory (a table
 * by range id, placement/figs.h), never replicated: a leader that takes
 * over starts empty and asks every node for a full report; figures not
 * reported again for RK_RFIG_EXPIRE_MS (a range merged away) are
 * dropped. The scheduler's driver uses the sizes once every live node has
 * completed a full report to this leader (rk_rfig_complete): until then
 * its passes balance by count alone, as sizes of a part of the ranges
 * would make the nodes that reported look the heaviest.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_RFIG_H
#define RK_NODE_RFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../placement/figs.h"

struct rk_node;
struct rk_prom;
struct rk_replica;

#define RK_RFIG_FULL_MS (5u * 60u * 1000u)
#define RK_RFIG_EXPIRE_MS (3u * RK_RFIG_FULL_MS)

/* What the leader's answer asks of a sender (its last byte). */
enum rk_rfig_want { RK_RFIG_NONE = 0, RK_RFIG_MOVED = 1, RK_RFIG_ALL = 2 };

/* The leader's view of one sender's full report. */
struct rk_rfig_node {
	uint64_t id;
	bool complete;     /* a whole full report reached this leader */
	bool sweep_ok;     /* the chunks of the one under way came in order */
	uint64_t sweep_at; /* its last range so far */
};

struct rk_rfig {
	/* The sender: the leader the figures went to (0 none) and what its
	 * last answer asked; epoch: the replicas' fig_epoch that means
	 * "reported to this leader" (moved on when the leader changes). */
	uint64_t leader;
	uint8_t want;
	uint32_t epoch;
	bool sweeping;
	uint64_t sweep_after, full_ms, moved_after;
	uint64_t figs_sent, chunks_sent, full_reports;
	/* The ranges whose figures may have moved, besides the awake ones
	 * (ids; a replica's fig_watched says it is in). */
	uint64_t *watch;
	size_t n_watch, cap_watch;
	/* The leader: the table and the senders' full reports; tab_epoch
	 * moves when the table starts empty (with tab.changed and tab.n it
	 * tells whether the table's figures changed: sched_run.c). */
	struct rk_pl_figtab tab;
	uint64_t tab_epoch;
	struct rk_rfig_node nodes[64];
	size_t n_nodes;
	uint64_t expired_ms, figs_taken, figs_refused;
	struct rk_pl_figs_msg *msg; /* decoding room (53 KiB), allocated on first use */
};

/* The sender's watch list: a beat looks for moved figures only among
 * the awake replicas (a leadership is won or lost only while awake) and
 * the ranges in this list, not among every range. A range enters it when
 * its figures may move (a command applied, a read served, a size
 * measured) and when it goes to sleep (a leadership it won or lost while
 * awake is looked at once more), and leaves it at a beat that finds it
 * not led here, or led with its figures as reported and rates that read
 * 0 and cannot rise without an event. */
void rk_rfig_touch(struct rk_node *n, struct rk_replica *r);

/* The sender: appends this beat's section to a heartbeat for the group's
 * leader (nothing when it did not ask); msg NULL, the leader's own beat:
 * its ranges' figures straight into its table. */
void rk_rfig_append(struct rk_node *n, struct rk_buf *msg);
/* A heartbeat's answer from node `from` asked `want`. */
void rk_rfig_told(struct rk_node *n, uint64_t from, uint8_t want);

/* The leader: the section of origin's heartbeat (p[0..len), len 0: none).
 * Garbage is refused (counted in figs_refused and logged; the beat's
 * node figures stand) and asks for a full report again. */
void rk_rfig_take(struct rk_node *n, uint64_t origin, const uint8_t *p, size_t len);
/* What the leader asks of origin in its answer. */
uint8_t rk_rfig_want_of(struct rk_node *n, uint64_t origin);
/* This node took over the group's leadership, or lost it: the table
 * starts empty. */
void rk_rfig_leading(struct rk_node *n, bool leading);
/* Whether every node in ids[0..k) completed a full report to this leader. */
bool rk_rfig_complete(struct rk_node *n, const uint64_t *ids, size_t k);
/* The range's last figures reported to this leader, NULL if none (or not
 * leading). */
const struct rk_pl_figent *rk_rfig_get(struct rk_node *n, uint64_t range);
/* Each tick: expiry of old figures. */
void rk_rfig_tick(struct rk_node *n);
/* /metrics: the sender's and the leader's counters. */
void rk_rfig_metrics(struct rk_node *n, struct rk_buf *b);
void rk_rfig_close(struct rk_node *n);

#endif
