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
#include "desc.h"
#include "kv.h"
#include "load.h"
#include "logkeep.h"
#include "raft.h"
#include "store.h"

struct rk_node;
struct rk_serve;
struct snap_in;

/* A snapshot a replica generated, to send (snapshot.c). */
struct rk_snap_out {
	char name[64];
	struct rk_store_snap_info info;
	uint64_t generation; /* of the descriptor it holds */
	uint64_t used_ms; /* loop ms: made, or last handed to a stream */
	/* The snapshot hold (compact.c): the applied index a generation
	 * under way began at; the lowest and the highest index of the
	 * snapshots made or streamed within the hold's time of each other,
	 * and the loop ms of their last use (made, a stream began or ended);
	 * 0: none. Kept after the file is removed, for as long as the hold
	 * may last. */
	uint64_t gen_from, hold_index, hold_top, hold_ms;
};

/* One replica of one range on this node. */
struct rk_replica {
	struct rk_node *node;
	uint64_t range;
	struct rk_raft raft;
	struct rk_store_raft_state rs; /* as last persisted (or being) */
	uint64_t first, last;          /* durable log: [first, last] */
	struct rk_logbytes lb;         /* its size (logkeep.h) */
	/* Stored entries run_lo..run_hi all have term run_term (empty when
	 * run_lo > run_hi): the raft core's term look-ups of recent entries
	 * are answered without a store read (replica.c). */
	uint64_t run_lo, run_hi, run_term;
	uint64_t applied;
	/* The descriptor as of applied: span, generation, configuration
	 * version and where each replica lives (the raft group speaks replica
	 * ids; desc says which node each is on). */
	struct rk_desc desc;
	/* Uninitialized (created for a message, life.h): no descriptor yet;
	 * the node of the replica it heard from answers go to. */
	uint64_t hint_replica, hint_node;
	/* Leaving the node (life.h): leaving once its configuration without
	 * it is persisted; removing from then on (no messages, commands or
	 * ticks); destroying while its store transaction runs. */
	bool leaving, removing, destroying;
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
	bool snap_held; /* in n->snaps.held: has or had a file (snapshot.c) */
	bool fig_watched; /* in the heartbeat figures' watch list (rfig.h) */
	bool size_watched; /* in the sizes' watch list of sleepers (size.h) */
	/* The latest snapshot generated, to send; allocated by the first
	 * generation (most replicas never make one: 184 bytes saved on each
	 * of 100,000 replicas). */
	struct rk_snap_out *snap;
	uint32_t snap_refs;            /* streams reading it */
	struct snap_in *incoming;      /* one being received */
	struct rk_replica *next_dirty;
	/* Client service (serve.c): allocated on first use. */
	struct rk_serve *sv;
	struct rk_kv_sessions sessions; /* part of the apply state */
	/* The right half of a split: takes no ready until its left's batch
	 * with the split (index split_index) is committed, so that it never
	 * reads a right-half key the left's batch still writes (split.h). */
	uint64_t split_left, split_index;
	/* When this range last split here, as either half (loop ms; 0: not
	 * in this process): leadership balance leaves it alone a while
	 * (balance.h). */
	uint64_t split_ms;
	/* A right half this node campaigned for: when its split applied here
	 * (loop ms), until it applies an entry past the split (0: none). */
	uint64_t split_lead_ms;
	/* Merges (merge.h): the left range whose MERGE waits for this
	 * replica's commit (0: none; also the left whose SPLIT waits for
	 * this right replica's persist, split.h); the left range this one
	 * was merged into (its storage removal is in that left's apply
	 * batch). */
	uint64_t merge_waiter, merged_into, merged_at; /* merged_at: the MERGE's index */
	uint64_t visible; /* applied index readers see (its batch committed) */
	struct rk_load load; /* writes/s and reads/s (load.h) */
	/* The figures last reported for the range to the placement leader
	 * (rfig.h): valid while fig_epoch is rfig's epoch (0: none). */
	uint64_t fig_size;
	uint32_t fig_writes, fig_reads, fig_epoch;
	uint32_t split_watch; /* index + 1 in the automatic split's watch list; 0: not in it */
	/* In the node's totals (own.h), as a leader or not, with these bytes. */
	bool own_in, own_leader;
	/* The placement index may not have this replica's descriptor yet:
	 * it changed here while another replica led, or its report could not
	 * be queued (rk_plc_desc_changed). */
	bool desc_owed;
	/* The merge's left: its absorbed right neighbour's end in the index
	 * (a descriptor without replicas at the merged generation), owed
	 * like desc_owed (rk_plc_merged); NULL when none. */
	struct rk_desc *gone_owed;
	uint64_t own_bytes;
};

/* The storage ops every replica's raft core reads its durable state by. */
extern const struct rk_raft_storage_ops rk_replica_storage_ops;

/* Loads range's replica from the store (raft state, log bounds, apply
 * state) and starts its raft group; *rp is NULL on error. RK_EAGAIN, no
 * replica: the right half of a split without its apply state (split.h). */
int rk_replica_load(struct rk_node *n, uint64_t range, struct rk_replica **rp);
void rk_replica_free(struct rk_replica *r);
/* Drops r's owed merged-right end (gone_owed), if any. */
void rk_replica_gone_owed_clear(struct rk_replica *r);

/* The entries e[0..n) are stored (overwriting any at their indexes and
 * after); a snapshot install that replaced the log calls terms_reset. */
void rk_replica_log_stored(struct rk_replica *r, const struct rk_raft_entry *e,
			   size_t n);
void rk_replica_terms_reset(struct rk_replica *r);

/* The node replica_id of r's range lives on (0 if not a replica of it),
 * and r's replica on a node (0 if none). */
uint64_t rk_replica_node(const struct rk_replica *r, uint64_t replica_id);
uint64_t rk_replica_on_node(const struct rk_replica *r, uint64_t node_id);
/* The node of r's leader as r knows it, 0 if none is known. */
uint64_t rk_replica_leader_node(const struct rk_replica *r);
/* Whether m, received from node `from`, is for r: addressed to r's
 * replica id (not an earlier replica of the range on this node), from a
 * replica the descriptor places on `from` or does not know yet (one added
 * by a change r has not applied). */
bool rk_replica_addressed(const struct rk_replica *r, const struct rk_raft_msg *m,
			  uint64_t from);
/* The node ids of r's full voters, in replica id order, into ids[0..cap);
 * returns how many. */
uint32_t rk_replica_voter_nodes(const struct rk_replica *r, uint64_t *ids,
				uint32_t cap);

/* Whether r's descriptor says r was removed from its range: r is not in
 * it, and its id is below the descriptor's next id (a replica added by a
 * change its descriptor predates, as after a snapshot taken before the
 * change, is not in it either, with a higher id). False uninitialized. */
bool rk_replica_gone(const struct rk_replica *r);

/* Fills a descriptor read in the v1 form (no replicas) from the range's
 * configuration: before replica ids, every replica id was its node's id. */
int rk_replica_desc_from_conf(struct rk_desc *d, uint64_t range,
			      const struct rk_raft_conf_state *conf);

/* The whole apply-state blob: the descriptor (desc.h), then the session
 * table. */
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
