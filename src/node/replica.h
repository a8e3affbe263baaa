/*
 * One replica of one range on this node: its raft group, the durable state
 * the core reads through the storage ops, its span and apply state.
 *
 * Threads: the node's event loop only.
 */
#ifndef RK_NODE_REPLICA_H
#define RK_NODE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "kv.h"
#include "load.h"
#include "raft.h"
#include "store.h"

struct rk_node;
struct rk_serve;
struct snap_in;

/* One replica of one range on this node. */
struct rk_replica {
	struct rk_node *node;
	uint64_t range;
	struct rk_raft raft;
	struct rk_store_raft_state rs; /* as last persisted (or being) */
	uint64_t first, last;          /* durable log: [first, last] */
	/* Stored entries run_lo..run_hi all have term run_term (empty when
	 * run_lo > run_hi): the raft core's term look-ups of recent entries
	 * are answered without a store read (replica.c). */
	uint64_t run_lo, run_hi, run_term;
	uint64_t applied;
	uint64_t generation;
	uint8_t *start, *end;          /* span [start, end); end empty = unbounded */
	uint32_t slen, elen;
	uint64_t size_bytes;           /* KV bytes applied in the span */
	struct rk_raft_ready rd;       /* the outstanding ready */
	bool dirty, persisting;
	bool have_ready;               /* rd taken from the core, not yet handled */
	/* Quiescence: an asleep replica is not ticked. */
	bool asleep;
	uint64_t asleep_since;         /* loop time (ms) it went to sleep */
	uint32_t quiet_ticks;          /* leader: ticks the quiescence test held */
	uint32_t awake_pos;            /* index in the node's awake list */
	/* A follower told to sleep while still catching up (pending): it
	 * sleeps once it holds exactly that term, leader and commit. */
	bool pq;
	uint64_t pq_term, pq_commit, pq_leader;
	bool queued;                   /* in the node's campaign queue */
	bool misplaced;                /* in the node's misplaced list */
	/* Snapshots (snapshot.c). */
	bool snap_generating, installing;
	char snap_name[64];            /* the latest generated, to send */
	struct rk_store_snap_info snap_info;
	uint32_t snap_refs;            /* streams reading it */
	struct snap_in *incoming;      /* one being received */
	struct rk_replica *next_dirty;
	/* Client service (serve.c): allocated on first use. */
	struct rk_serve *sv;
	struct rk_kv_sessions sessions; /* part of the apply state */
	uint64_t visible; /* applied index readers see (its batch committed) */
	struct rk_load load; /* writes/s and reads/s (load.h) */
};

/* The storage ops every replica's raft core reads its durable state by. */
extern const struct rk_raft_storage_ops rk_replica_storage_ops;

/* Loads range's replica from the store (raft state, log bounds, apply
 * state) and starts its raft group; *rp is NULL on error. */
int rk_replica_load(struct rk_node *n, uint64_t range, struct rk_replica **rp);
void rk_replica_free(struct rk_replica *r);

/* The entries e[0..n) are stored (overwriting any at their indexes and
 * after); a snapshot install that replaced the log calls terms_reset. */
void rk_replica_log_stored(struct rk_replica *r, const struct rk_raft_entry *e,
			   size_t n);
void rk_replica_terms_reset(struct rk_replica *r);

/* Range descriptor (the apply state's desc): generation, start, end. */
size_t rk_desc_encode(const struct rk_replica *r, uint8_t *out, size_t cap);
int rk_desc_decode(struct rk_replica *r, const uint8_t *p, size_t n);

/* The whole apply-state blob: the descriptor, then the session table. */
void rk_replica_state_encode(const struct rk_replica *r, struct rk_buf *out);
int rk_replica_state_decode(struct rk_replica *r, const uint8_t *p, size_t n);
/* Replaces r's session table with the one committed with its apply
 * state, which must be at index applied: what undoing a failed apply
 * needs (the table of the last committed ready, which is the table before
 * the ready being applied: one ready in flight). RK_ESTATE when the
 * committed apply state is at another index. */
int rk_replica_sessions_reload(struct rk_replica *r, struct rk_store_reader *rd,
			       uint64_t applied);

#endif
