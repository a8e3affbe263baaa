/*
 * The replica table of a node: replicas by range id (an open-addressing
 * hash), the list in id order, and the list of awake replicas (the only
 * ones the tick visits, so that a node of mostly quiescent ranges pays for
 * the awake ones only).
 *
 * The table owns no replica: the node frees them. Threads: the loop only.
 */
#ifndef RK_NODE_TABLE_H
#define RK_NODE_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct rk_replica;

struct rk_table {
	struct rk_replica **slots; /* hash by range id; cap a power of two */
	size_t cap;
	struct rk_replica **byid;  /* in range id order */
	size_t n;
	struct rk_replica **awake; /* each knows its index (awake_pos) */
	size_t n_awake, cap_awake;
};

/* The replica of range, or NULL. */
struct rk_replica *rk_table_get(const struct rk_table *t, uint64_t range);

/* Adds r (its range must not be in the table). RK_ENOMEM leaves the table
 * as it was. */
int rk_table_add(struct rk_table *t, struct rk_replica *r);

/* Removes r (in the table; asleep, or it leaves the awake list too). The
 * id order of byid is kept: O(n), for a replica leaving the node. */
void rk_table_remove(struct rk_table *t, struct rk_replica *r);

/* The awake list: add an asleep replica, remove an awake one. */
int rk_table_awake_add(struct rk_table *t, struct rk_replica *r);
void rk_table_awake_remove(struct rk_table *t, struct rk_replica *r);

/* Calls fn on every awake replica, then on the next `slice` replicas in id
 * order from *cursor (round-robin; none if cursor is NULL): what a periodic
 * scan needs when only awake replicas change, without walking 100,000
 * sleeping ones each time. Replicas fn wakes are not visited this time. */
void rk_table_visit_some(struct rk_table *t, size_t *cursor, size_t slice,
			 void (*fn)(struct rk_replica *, void *), void *arg);

/* The replicas of user ranges: byid[0 .. rk_table_user_n) (the reserved
 * ranges, the placement group's, have the highest ids: desc.h). What the
 * range listings, counts and metrics walk. */
size_t rk_table_user_n(const struct rk_table *t);
/* The index in byid of the first replica above range id `range`, among
 * byid[0..n) (binary search: n if none). */
size_t rk_table_first_above(const struct rk_table *t, size_t n, uint64_t range);

/* Frees the table's arrays (not the replicas). */
void rk_table_free(struct rk_table *t);

#endif
