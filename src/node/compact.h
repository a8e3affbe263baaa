/*
 * Raft log compaction (compact.c): by entries and bytes per replica, and
 * by bytes for the node.
 */
#ifndef RK_NODE_COMPACT_H
#define RK_NODE_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "raft.h"

struct rk_node;
struct rk_replica;

/* The size of r's log (logkeep.h) and the node's total: e[0..count)
 * stored (replacing any at their indexes and after); the log emptied
 * after index; measured once from the store at load. */
void rk_compact_log_stored(struct rk_node *n, struct rk_replica *r,
			   const struct rk_raft_entry *e, size_t count);
void rk_compact_log_reset(struct rk_node *n, struct rk_replica *r, uint64_t index);
int rk_compact_log_load(struct rk_node *n, struct rk_replica *r);
/* Periodic compaction of the awake replicas and a slice of the others. */
void rk_compact_run(struct rk_node *n);

#endif
