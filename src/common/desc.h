/*
 * The range descriptor: what a range is (its id and key span), which
 * version of it this is (generation, bumped by split and merge;
 * configuration version, bumped by each membership change) and where it
 * lives (its replicas as replica id, node id and role).
 *
 * A replica id names one replica of one range for its whole life: each
 * range allocates its own from next_replica_id, and a removed id is never
 * reused, so a message or snapshot for an old replica can always be told
 * from one for its successor on the same node. The raft group speaks
 * replica ids only; the descriptor is how the node finds the node a
 * replica lives on.
 *
 * The descriptor is stored with the range's apply state and written in the
 * same transaction as the change it describes; it travels in snapshots and
 * in the membership changes that produce it.
 *
 * Stored form (little endian):
 *   v2: u64 RK_DESC_V2_MAGIC, u64 range, u64 generation, u64 conf_version,
 *       u64 next_replica_id, u32 slen, start, u32 elen, end, u8 n,
 *       n x (u64 replica id, u64 node id, u8 role)
 *   v3: as v2 with RK_DESC_V3_MAGIC, then u8 flags (RK_DESC_F_*). Written
 *       only when flags is not 0, so a descriptor without flags (every
 *       descriptor of earlier releases, and every range of a first start)
 *       is stored byte for byte as before and data directories of earlier
 *       releases need no migration.
 *   v1 (data directories of earlier releases): u64 generation, u32 slen,
 *       start, u32 elen, end. It decodes with no replicas and v1 set; the
 *       node fills them from the range's configuration (rk_desc_from_conf
 *       in the node), where every replica id was its node's id.
 *
 * Threads: pure functions; a descriptor is owned by one thread.
 */
#ifndef RK_DESC_H
#define RK_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Range ids at and above RK_RANGE_RESERVED_FIRST are never user ranges:
 * the range-id allocator (placement/group.h) never hands them out. The
 * placement group is the range RK_RANGE_PLACEMENT (2^62: a positive
 * signed 64-bit number too, so no tool shows it negative). It is not in
 * the key space: its descriptor's span is unbounded on both sides and
 * means nothing; every path that reads a span skips reserved ranges, and
 * the store keeps its state in a table of its own. */
#define RK_RANGE_RESERVED_FIRST (UINT64_C(1) << 62)
#define RK_RANGE_PLACEMENT RK_RANGE_RESERVED_FIRST
static inline bool rk_range_reserved(uint64_t range)
{
	return range >= RK_RANGE_RESERVED_FIRST;
}

/* As many replicas as a raft group has members (RK_RAFT_MAX_MEMBERS). */
#define RK_DESC_MAX_REPLICAS 10
/* No v1 generation comes near it (it starts at 1, +1 per split or merge). */
#define RK_DESC_V2_MAGIC 0xfffffffffffe0002ull
#define RK_DESC_V3_MAGIC 0xfffffffffffe0003ull

/* The range was made by an automatic split (the right half of a split its
 * leader began for size or load, autosplit.h): the boundary at its start
 * is the placement driver's to remove again by merging it into its left
 * neighbour once both are small and cold (docs/placement.md, "Automatic
 * merges"). A range without it (a first start's, a split's by hand, any
 * range of an earlier release) starts at a boundary someone chose: never
 * merged automatically. A merged range keeps its left's flags; a split's
 * left half keeps its own, its right half gets the split's. */
#define RK_DESC_F_AUTO_SPLIT 0x01u
#define RK_DESC_F_ALL 0x01u

enum rk_desc_role {
	RK_DESC_VOTER = 0,
	RK_DESC_LEARNER = 1,
	/* Joint configuration: a voter of the incoming configuration only,
	 * one of the outgoing only, one demoted to learner on leaving. */
	RK_DESC_VOTER_INCOMING = 2,
	RK_DESC_VOTER_OUTGOING = 3,
	RK_DESC_VOTER_DEMOTING = 4,
	RK_DESC_ROLE_MAX = 4
};

struct rk_desc_replica {
	uint64_t replica_id;
	uint64_t node_id;
	uint8_t role; /* enum rk_desc_role */
};

struct rk_desc {
	uint64_t range_id;
	uint64_t generation;
	uint64_t conf_version;
	uint64_t next_replica_id;
	uint8_t *start, *end; /* span [start, end); end empty = unbounded */
	uint32_t slen, elen;
	struct rk_desc_replica *reps; /* n_reps of them, in replica id order */
	uint8_t n_reps;
	uint8_t flags; /* RK_DESC_F_* */
	bool v1; /* decoded from the v1 form: reps not filled in */
};

/* Whether a is a later version of its range than b: a higher (generation,
 * conf_version), the order the placement index keeps. */
static inline bool rk_desc_newer(const struct rk_desc *a, const struct rk_desc *b)
{
	return a->generation != b->generation ? a->generation > b->generation
					      : a->conf_version > b->conf_version;
}

/* Appends d's stored form (v2, or v3 when d has flags) to out. RK_ENOMEM. */
int rk_desc_encode(const struct rk_desc *d, struct rk_buf *out);

/* Decodes the descriptor at the start of p[0..n) into *dp (whose old
 * contents are freed); *usedp is its length (what follows is not its
 * business). RK_ECORRUPT when malformed (and *dp is left empty), RK_ENOMEM.
 * Checks: known role, non-zero replica ids in increasing order, distinct
 * non-zero node ids, every replica id below next_replica_id, start before
 * end; in v3, known flags and at least one. */
int rk_desc_decode(const uint8_t *p, size_t n, struct rk_desc *dp,
		   size_t *usedp);

/* Sets span and copies; RK_ENOMEM leaves *dp unchanged. */
int rk_desc_set_span(struct rk_desc *dp, const void *start, size_t slen,
		     const void *end, size_t elen);
int rk_desc_copy(struct rk_desc *dstp, const struct rk_desc *src);
void rk_desc_free(struct rk_desc *d);
/* The end of a range merged into its left neighbour: a copy of right
 * without replicas at `generation` (the merged left's, above any the right
 * ever had), which no stale descriptor of the right outranks. It is both
 * the right's gone mark in the store and the placement index's entry.
 * RK_ENOMEM leaves *dp unchanged. */
int rk_desc_gone(struct rk_desc *dp, const struct rk_desc *right, uint64_t generation);

/* The replica with that id, or that lives on that node; NULL if none. */
const struct rk_desc_replica *rk_desc_replica(const struct rk_desc *d,
					      uint64_t replica_id);
const struct rk_desc_replica *rk_desc_on_node(const struct rk_desc *d,
					      uint64_t node_id);
/* The node replica_id lives on, 0 if it is not a replica of d. */
uint64_t rk_desc_node_of(const struct rk_desc *d, uint64_t replica_id);

/* Whether key is in d's span. */
bool rk_desc_contains(const struct rk_desc *d, const void *key, size_t klen);
/* Whether d's span holds od's: d.start <= od.start and od.end <= d.end
 * (an empty end: unbounded). */
bool rk_desc_span_holds(const struct rk_desc *d, const struct rk_desc *od);

/* The initial replicas of range `range` (ids from 1) in a cluster of n
 * nodes with k replicas per range (1 <= k <= n): ranksp[0..k) receives,
 * increasing, the ranks of their nodes (0..n-1 in node id order). Range i
 * (from 0) takes the k nodes from rank (i + i / lcm(n, k)) mod n on,
 * cyclically. Every node holds k/n of the ranges, and, with the preferred
 * leader of elect.h (the (range - 1) mod k-th voter in replica id order,
 * replica ids given in node id order), leads 1/n of them: both exactly
 * over every n*k consecutive ranges (the start steps one further every
 * lcm(n, k) ranges, so every start meets every leader position), within a
 * few ranges over any prefix. With k = n every range is on every node. */
void rk_desc_initial_ranks(uint32_t n, uint32_t k, uint64_t range,
			   uint32_t *ranksp);

/* Whether the role votes in some half of the configuration. */
bool rk_desc_role_votes(uint8_t role);
const char *rk_desc_role_name(uint8_t role);

#endif
