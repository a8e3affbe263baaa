/*
 * Range ids for new ranges (a split's right half): the one call through
 * which the node takes them, so that its callers need not know where they
 * come from.
 *
 * They come from the placement group's range-id allocator
 * (rk_node_pl_alloc_ids, plc.h): a block reserved by a command in the
 * group's log, never handed out twice, below RK_RANGE_PLACEMENT and above
 * every range of the first start. Ids stay far below 2^53, so a JSON
 * number read into a double (the CLI's parser, the web console) is exact.
 * Losing the placement group's quorum makes a call fail after its timeout
 * (RK_ETIMEDOUT): splits stop, reads and writes of existing ranges do not.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_IDS_H
#define RK_NODE_IDS_H

#include <stdint.h>

struct rk_node;

/* The most ids one call takes. */
#define RK_IDS_MAX_COUNT 1024

/* Allocates count (1..RK_IDS_MAX_COUNT) consecutive range ids, unique in
 * the cluster: cb(arg, 0, first) on the loop once the placement group has
 * committed them, or cb(arg, rc, 0) if that failed (RK_ETIMEDOUT,
 * RK_ENOSPC, RK_ESTOPPED). cb is never called from inside the call.
 * Returns 0 when cb will be called, else an RK_E... code and cb is never
 * called: RK_EINVAL (count), RK_ESTATE (no placement group), RK_ENOMEM. */
int rk_node_alloc_range_ids(struct rk_node *n, uint32_t count,
			    void (*cb)(void *arg, int rc, uint64_t first_id),
			    void *arg);

#endif
