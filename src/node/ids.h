/*
 * Range ids for new ranges (a split's right half): one call, so that the
 * allocator behind it can be replaced without touching its callers.
 *
 * INTERIM. Until the placement group's range-id allocator exists, ids are
 * taken from a per-node counter in a reserved part of the id space:
 *     id = (node id << 20) | counter,  counter in [1, 2^20)
 * The counter is persisted (the meta row "interim_range_id_next", logged)
 * before an id is handed out, so a restart never hands one out twice, and
 * ids of different nodes never collide. Node ids are below 2^32, so
 * every id is below 2^52: exact as a JSON number read into a double (the
 * CLI's parser, the web console's JavaScript), not only as the u64 the
 * node, the wire, the store and the HTTP parsers use. The ranges of the
 * first start (1..--ranges, at most 1,000,000) are below 2^20, so none
 * collides with them. A node splits at most 2^20 - 1 times. The placement group's
 * allocator replaces the body of rk_node_alloc_range_ids (ids.c); callers
 * do not change.
 *
 * Threads: the loop (the write runs on the libuv thread pool).
 */
#ifndef RK_NODE_IDS_H
#define RK_NODE_IDS_H

#include <stdbool.h>
#include <stdint.h>

struct rk_node;

#define RK_IDS_NODE_SHIFT 20
#define RK_IDS_MAX_NODE (1ull << 32)

struct rk_ids {
	bool loaded;
	uint64_t next;    /* the next counter value to hand out (loop) */
	uint64_t written; /* the highest persisted (under the write lock) */
};

/* Allocates count (1..1024) consecutive range ids, unique in the
 * cluster: cb(arg, 0, first) on the loop once they are durably taken, or
 * cb(arg, rc, 0) if that failed. Returns 0 when cb will be called, else
 * an RK_E... code and cb is never called: RK_EINVAL (count, or a node id
 * of 2^32 or more), RK_ENOSPC (this node's counter is used up), RK_EIO
 * (the counter cannot be read), RK_ENOMEM. */
int rk_node_alloc_range_ids(struct rk_node *n, uint32_t count,
			    void (*cb)(void *arg, int rc, uint64_t first_id),
			    void *arg);

#endif
