/*
 * A node's data directory at start: the first start writes every range's
 * initial state from the first-start flags; a restart checks that repeated
 * first-start flags match what was recorded, redoes snapshot installs a
 * crash interrupted, and loads every replica (asleep: elect.h).
 */
#ifndef RK_NODE_BOOT_H
#define RK_NODE_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct rk_node;
struct rk_desc;
struct rk_desc_replica;
struct rk_buf;

/* The cluster id the transport's handshake carries: a hash of the initial
 * cluster (never 0). */
uint64_t rk_boot_cluster_id(const struct rk_node_config *cfg);
/* A directory holding ranges whose first start was not finished (killed
 * between writing its ranges and the checkpoint that made their spans
 * durable: "first_start_done" missing and the lowest range without an
 * apply state): *existingp is set false, so that the first start is done
 * again (it writes the same rows: the flags must be given again, else a
 * clear error). A directory made before the row existed gets it. */
int rk_boot_finished(struct rk_node *n, bool *existingp, char *err, size_t errlen);

/* Whether the data directory's first start was done, or it holds any
 * range (*existingp). */
int rk_boot_existing(struct rk_node *n, bool *existingp);

/* A restart may repeat the first-start flags; they must match (RK_EINVAL
 * with a one-line reason in err). */
int rk_boot_check_flags(struct rk_node *n, char *err, size_t errlen);

/* First start: cuts the key space and writes the initial state of every
 * range with a replica on this node (--replicas of them spread over the
 * initial nodes: rk_desc_initial_ranks): the initial voters, the boot
 * snapshot point (RK_RAFT_INIT_INDEX/TERM) and the span; records the
 * first-start flags; checkpoints. */
int rk_boot_first_start(struct rk_node *n, char *err, size_t errlen);

/* Puts every range of the cluster's initial layout into the range cache
 * (gen 1: the hosted ranges' own descriptors, put after, win), computed
 * from the first-start flags recorded in the data directory, so that a key
 * of a range held elsewhere goes to one of its nodes in one hop. A
 * directory made before they were recorded puts nothing. */
int rk_boot_layout_cache(struct rk_node *n);

/* Redoes interrupted snapshot installs, then loads every replica into the
 * table, asleep. */
int rk_boot_load(struct rk_node *n);

/* The placement group (plc.h): its nodes from the recorded first-start
 * flags; on one of them, a data directory made by a release before the
 * group gets its replica's initial state (as a first start writes it),
 * durably, before anything is loaded. A directory made before the flags
 * were recorded has no group (a warning). */
int rk_boot_placement(struct rk_node *n);
/* Range's descriptor as the first start laid it out (reps: room for
 * RK_DESC_MAX_REPLICAS; its keys copied into keys; nothing to free in
 * *dp). RK_ENOTFOUND for a range the first start did not make. Parses
 * the recorded flags each call: for inspection, not for a loop. */
int rk_boot_initial_desc(struct rk_node *n, uint64_t range, struct rk_desc_replica *reps,
			 struct rk_desc *dp, struct rk_buf *keys);

/* The first-start layout kept parsed, for the placement index's implicit
 * entries (pindex.c): rk_boot_initial_desc parses it at each call. open:
 * RK_ENOTFOUND for a directory made before the flags were recorded,
 * RK_ECORRUPT, RK_ENOMEM (*lp NULL). desc: range 1..ranges, its keys and
 * reps (room for RK_DESC_MAX_REPLICAS) valid while l is open. find: the
 * initial range whose span holds key. */
struct rk_boot_layout;
int rk_boot_layout_open(struct rk_node *n, struct rk_boot_layout **lp);
uint64_t rk_boot_layout_ranges(const struct rk_boot_layout *l);
void rk_boot_layout_desc(const struct rk_boot_layout *l, uint64_t range,
			 struct rk_desc_replica *reps, struct rk_desc *dp);
uint64_t rk_boot_layout_find(const struct rk_boot_layout *l, const uint8_t *key, size_t klen);
void rk_boot_layout_close(struct rk_boot_layout *l);

#endif
