/*
 * Range ids for new ranges (ids.h): the placement group's allocator.
 */
#include "ids.h"
#include "node_int.h"
#include "plc.h"

int rk_node_alloc_range_ids(struct rk_node *n, uint32_t count,
			    void (*cb)(void *arg, int rc, uint64_t first_id),
			    void *arg)
{
	if (count == 0 || count > RK_IDS_MAX_COUNT)
		return RK_EINVAL;
	return rk_node_pl_alloc_ids(n, count, cb, arg);
}
