/*
 * Private to the node runtime: the node as its modules share it.
 *
 * Each concept keeps its state in its own struct, declared in its header
 * (table.h, process.h, peer.h, live.h, elect.h, balance.h, snapshot.h);
 * struct rk_node only composes them with what every module reads: the
 * flags, the loop, the store, the transport.
 *
 * Threads: everything here runs on the node's event loop, except the
 * storage callbacks, which only queue a completion and wake the loop.
 */
#ifndef RK_NODE_INT_H
#define RK_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "admin.h"
#include "balance.h"
#include "check.h"
#include "client.h"
#include "config.h"
#include "elect.h"
#include "heartbeat.h"
#include "http.h"
#include "ids.h"
#include "join.h"
#include "kv.h"
#include "life.h"
#include "live.h"
#include "log.h"
#include "net.h"
#include "peer.h"
#include "plc.h"
#include "pindex.h"
#include "resync.h"
#include "fwd.h"
#include "handoff.h"
#include "process.h"
#include "own.h"
#include "rfig.h"
#include "prom.h"
#include "raft.h"
#include "rcache.h"
#include "reads.h"
#include "replica.h"
#include "roster.h"
#include "ops.h"
#include "rebalance.h"
#include "sched_run.h"
#include "size.h"
#include "snapshot.h"
#include "split.h"
#include "merge.h"
#include "space.h"
#include "store.h"
#include "table.h"

/* Counters shown by /metrics. */
struct rk_node_stats {
	uint64_t msgs_recv, msgs_unknown_range, msgs_sent;
	/* Dropped: received for another replica of a hosted range (a removed
	 * one, or from a node the descriptor puts elsewhere); to send, for a
	 * replica the descriptor does not name. */
	uint64_t msgs_misaddressed, msgs_unroutable;
	/* Appends received while a snapshot that covers them arrives, not
	 * stepped (rk_snap_append_waits). */
	uint64_t msgs_snap_wait;
	uint64_t beats_sent; /* of msgs_sent: heartbeats sent coalesced */
	uint64_t commits, applied_entries;
	uint64_t snaps_generated, snaps_sent, snaps_received, snaps_installed;
	uint64_t compactions, proposals;
	/* Compactions of a range's log stopped short by a snapshot hold
	 * (compact.c). */
	uint64_t log_holds;
	uint64_t quiesced, woken;
	uint64_t late_turns; /* ticks that came LATE_TICKS late (node.c) */
	/* Requests answered NO_RANGE or MISMATCH, with descriptors, and
	 * descriptors taken into the range cache from such answers (serve.c). */
	uint64_t redirects, learned;
	/* Writes applied as duplicates of an answered request (a router's
	 * fault, serve.c). */
	uint64_t dup_writes;
	struct rk_hist commit_hist; /* group commit: submit to durable */
};

/* Fault injection of tests (docs/testing.md, "Test hooks"): compiled in
 * only with RK_TEST_HOOKS (never in Release builds) and enabled only when
 * the node starts with RANGEKV_TEST_HOOKS=1 in its environment; the
 * /api/v1/debug/fault/... endpoints set it. Zeroed: no fault. */
struct rk_test_hooks {
	bool enabled;
	uint64_t apply_skip;   /* commands applied normally before failing */
	uint64_t apply_fail;   /* applies still to fail; UINT64_MAX: all */
	uint64_t apply_failed; /* failures injected so far */
	bool disk_free_set;    /* the free space the node reads is... */
	uint64_t disk_free;    /* ...this, whatever the disk has */
	char crash_at[32];     /* RANGEKV_CRASH_AT (crash.h) */
	uint64_t split_hold_ms; /* RANGEKV_TEST_SPLIT_HOLD_MS (crash.h) */
	uint64_t merge_hold_ms; /* RANGEKV_TEST_MERGE_HOLD_MS (crash.h) */
	bool report_drop;       /* RANGEKV_TEST_REPORT_DROP (crash.h) */
	bool merge_no_left_check; /* RANGEKV_TEST_MERGE_NO_LEFT_CHECK (crash.h) */
	bool split_right_busy;  /* RANGEKV_TEST_SPLIT_RIGHT_BUSY (crash.h) */
	bool split_right_early; /* RANGEKV_TEST_SPLIT_RIGHT_EARLY (crash.h) */
	uint64_t seal_delay_ms; /* RANGEKV_TEST_SNAP_SEAL_MS (crash.h) */
	uint64_t held_range, held_index, held_since_ms; /* the split or merge held */
};

struct rk_node {
	struct rk_node_config cfg;
	struct rk_raft_options ropts;
	uv_loop_t loop;
	struct rk_store *store;
	struct rk_store_reader *reader; /* the loop's */
	struct rk_net *net;
	struct rk_net_scratch scratch;
	uint64_t cur_from; /* sender of the frame being decoded */
	struct rk_http_server http;
	uv_timer_t tick_timer;
	uint64_t ticks;
	uint64_t last_tick_ms; /* when the last tick ran (monotonic) */
	uint64_t wall_off;     /* the wall clock (ms) less the loop's now, at start */
	struct rk_log_limit late_log; /* the late tick's line */
	struct rk_log_limit dup_log;  /* the duplicate writes' line (serve.c) */
	uv_signal_t sigterm, sigint;
	uv_timer_t stop_watch; /* logs what a long stop waits for */

	struct rk_table tab;     /* the replicas */
	struct rk_process proc;  /* the dirty set and group commits */
	struct rk_peer peers[RK_MAX_NODES];
	uint32_t n_peers;
	struct rk_roster roster; /* the peers added at runtime */
	struct rk_live live;     /* node liveness */
	struct rk_elect el;      /* elections this node starts */
	struct rk_balance bal;   /* leadership balance */
	struct rk_snaps snaps;   /* snapshot streams and compaction */

	/* Client service (serve.c). */
	struct rk_client_router *router;
	struct rk_client_server *client;
	struct local_req *inbox, *inbox_tail; /* this node's own requests */
	struct rk_rcache rcache; /* every range known, by start key (router) */
	struct rk_kv_applier applier; /* applies every replica's commands */
	uint32_t drop_answers_pct; /* fault injection (tests) */
	uint64_t drop_rng, answers_dropped;
	struct rk_test_hooks hooks;
	struct rk_space space; /* free space on the data disk (space.c) */
	struct rk_admin admin; /* admin calls waiting for the cluster */
	struct rk_split split; /* split calls waiting (split.h) */
	struct rk_handoffs handoffs; /* spans split off since the last checkpoint */
	struct rk_merge merge; /* merge calls under way (merge.h) */
	struct rk_life life;   /* replicas created and removed (life.c) */
	struct rk_sizes sizes; /* range sizes measured off the loop (size.c) */
	struct rk_reads reads; /* reads served by reader threads (reads.c) */
	struct rk_check check; /* replica checksums (check.c) */
	struct rk_plc plc;     /* the placement group (plc.c) */
	struct rk_pix pix;     /* reads of its index (pindex.c) */
	struct rk_resync resync; /* the index sweep (resync.c) */
	struct rk_fwd fwd;     /* inspection calls forwarded (fwd.c) */
	struct rk_hb hb;       /* node heartbeats, placement states (heartbeat.c) */
	struct rk_join join;   /* a new node's join being answered (join.c) */
	struct rk_sr sr;       /* the scheduler's driver (sched_run.c) */
	struct rk_ops ops;     /* moves in flight, placement figures (ops.c) */
	struct rk_rb rb;       /* the rebalance switch (rebalance.c) */
	struct rk_rfig rfig;   /* per-range figures in the heartbeats (rfig.c) */
	struct rk_own own;     /* the node's own totals (own.c) */

	struct rk_node_stats stats;
	bool stopping;
	int exit_code;
};

/* Stops the loop with exit status 1 (the reason is logged by the caller):
 * for what the node cannot go on after (a failed group commit, an apply
 * that cannot be done, memory for a wake-up). */
void rk_node_fail(struct rk_node *n);

/* The node's periodic timers (the tick, the liveness round, the free
 * space reading) fire on the wall clock's multiples of their period, not
 * at the loop's time when each was started: each is re-armed with
 * rk_node_aligned (ms from the loop's now to the next multiple, 1 to
 * period), so they share the loop's wakeups, and so do the nodes of one
 * machine (or of clocks kept close): a peer's liveness beat, sent on the
 * same boundary, comes in while the receiver is awake for its own. An
 * idle node's CPU is mostly its wakeups (docs/benchmarks.md, "Idle at
 * 100,000 ranges"). rk_node_slot: the number of the boundary now (which
 * multiple of period), to take turns by (live.c's beats). */
uint64_t rk_node_aligned(const struct rk_node *n, uint64_t period);
uint64_t rk_node_slot(const struct rk_node *n, uint64_t period);

#endif
