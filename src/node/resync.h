/*
 * The index sweep (docs/placement.md, "Reports"): a node compares its
 * replicas' descriptors with the placement index and reports those the
 * index has at an older (generation, conf_version), or lacks.
 *
 * Reports of descriptor changes are owed in memory (plc.h): a split or a
 * membership change applied just before a kill -9, whose report had not
 * reached the group yet, is reported by nobody after the restart, and the
 * index would keep the old descriptor for good (the right half of such a
 * split never listed, routed or balanced). So a node sweeps once soon after
 * it starts, and then every RK_RESYNC_MS (catching anything else lost: a
 * report refused for a full queue by a replica that went to sleep owing it).
 *
 * A sweep reads the index in pages (pindex.h: this node's replica of the
 * group when it has one, else the group's), walks its own replicas beside
 * each page in id order, and reports every user replica whose descriptor
 * is newer than the page's, or whose range the page lacks (a range merged
 * away, and only stale on this node, is refused by the index: its end
 * outranks it). Any replica may report: a descriptor a replica applied was
 * committed, and the index keeps the highest, so a report from a follower
 * or a duplicate costs one entry in the group's log and nothing else. In a
 * steady cluster a sweep reports nothing.
 *
 * Threads: the loop only.
 */
#ifndef RK_NODE_RESYNC_H
#define RK_NODE_RESYNC_H

#include <stdbool.h>
#include <stdint.h>

struct rk_node;

/* Between two sweeps; after a failed one (the index unreachable, the
 * report queue full), RK_RESYNC_RETRY_MS. The first starts
 * RK_RESYNC_FIRST_MS after the node (its elections settle first). */
#define RK_RESYNC_MS (5u * 60u * 1000u)
#define RK_RESYNC_RETRY_MS 10000u
#define RK_RESYNC_FIRST_MS 2000u
/* Descriptors a page asks for: each page is a walk of the group's table on
 * the loop of the replica answering it, and a comparison on this node's;
 * one page is asked for a tick (a local answer comes within the same loop
 * turn, and a sweep of 100,000 ranges at once was one long turn). */
#define RK_RESYNC_PAGE 2000u

struct rk_resync {
	bool running;       /* a sweep is under way */
	bool asked;         /* its next page is asked for (else: due next tick) */
	uint64_t after;     /* the page asked for holds the ranges above it */
	uint64_t due_ms;    /* loop ms when the next sweep starts; 0: not set */
	uint64_t sweeps;    /* sweeps completed */
	uint64_t reported;  /* descriptors reported by them */
	/* The sweep under way: loop ms it began, pages and descriptors read,
	 * and reports made (logged at its end). */
	uint64_t began_ms, pages, read, reported_at_start;
	uint64_t busy_ns; /* time its comparisons took on the loop */
};

/* Each tick: starts a sweep when one is due, or asks for its next page. */
void rk_resync_tick(struct rk_node *n);

#endif
