/*
 * The node's range cache: every range this node knows of, ordered by start
 * key, with where its replicas live and who leads it as far as this node
 * knows. The router finds a key's range here (rk_rcache_find) and sends to
 * its leader, or to one of its nodes when the leader is unknown. Hosted
 * ranges keep their entry in step with their descriptor
 * (rk_rcache_put at load, install and each change); a range whose replica
 * left this node keeps its last entry, so keys of ranges held elsewhere
 * still find their way.
 *
 * A put replaces the entries its span overlaps, unless one of them is of a
 * newer generation (a stale descriptor never overwrites a newer one).
 *
 * It holds every range of the cluster (the initial layout is put at start:
 * rk_boot_layout_cache), 100,000 and more: an entry is one allocation
 * (its replicas and keys after it) and ranges are also found by id in a
 * second array, by binary search.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_RCACHE_H
#define RK_NODE_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "desc.h"

struct rk_rcache_entry {
	uint64_t range, generation, conf_version;
	uint64_t leader; /* node id, 0 unknown */
	uint64_t next_replica_id;
	uint8_t *start, *end; /* in mem; end empty: to the end of the key space */
	uint32_t slen, elen;
	/* reps[i].node_id answered that it does not hold the range (bit i):
	 * the router tries the others. A put starts afresh. */
	uint16_t absent;
	/* Put from the first-start layout and not confirmed since (by a
	 * replica, an answer or the placement index): the router asks the
	 * index before it trusts it (docs/client.md). Any put clears it. */
	bool guess;
	uint8_t n_nodes;
	/* The descriptor's replicas (so that it can be handed on whole to a
	 * router that is behind, rk_rcache_entry_desc), then the keys. */
	struct rk_desc_replica reps[];
};

struct rk_rcache {
	struct rk_rcache_entry **v; /* by start key */
	struct rk_rcache_entry **byid; /* the same, by range id */
	size_t n, cap, cap_id;
	/* Grows with every put that changes which range holds some key (a
	 * split, a merge, a range new to the cache), never with one that
	 * only changes a range's replicas: the router looks again which
	 * range its waiting writes' keys are in when it moved (client.h,
	 * env.spans). */
	uint64_t spans;
};

/* RK_ENOMEM leaves the cache as it was; a put older than what it would
 * replace is ignored (0), and so is a reserved range's (the placement
 * group holds no span: desc.h). */
int rk_rcache_put(struct rk_rcache *c, const struct rk_desc *d);
/* The entry whose span holds key, or NULL. Valid until the next put. */
struct rk_rcache_entry *rk_rcache_find(const struct rk_rcache *c,
				       const void *key, size_t klen);
/* The entry whose span ends at key (its end equals key, not empty), or
 * NULL: a range's left neighbour as far as the cache knows. Valid until
 * the next put. */
struct rk_rcache_entry *rk_rcache_ending_at(const struct rk_rcache *c,
					    const void *key, size_t klen);
/* Whether pred holds for some entry whose span meets d's span (in key
 * order; stops at the first). */
bool rk_rcache_any_overlap(const struct rk_rcache *c, const struct rk_desc *d,
			   bool (*pred)(void *arg, const struct rk_rcache_entry *e),
			   void *arg);
/* The entry of range id, or NULL. */
struct rk_rcache_entry *rk_rcache_get(const struct rk_rcache *c, uint64_t range);
/* e's descriptor as a view into e (nothing to free; valid while e is). */
void rk_rcache_entry_desc(struct rk_rcache_entry *e, struct rk_desc *dp);
/* Node `node` answered that it does not hold e's range: marked absent, and
 * no longer the leader hint. */
void rk_rcache_absent(struct rk_rcache_entry *e, uint64_t node);
/* The bytes the cache holds (allocated sizes as malloc_usable_size counts
 * them): what docs/benchmarks.md measures per range. */
size_t rk_rcache_bytes(const struct rk_rcache *c);
void rk_rcache_free(struct rk_rcache *c);

#endif
