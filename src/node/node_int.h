/*
 * Private to the node runtime: the node, its replicas, and what node.c,
 * replica.c and api.c share.
 *
 * Threads: everything here runs on the node's event loop, except the
 * storage callbacks, which only queue a completion and wake the loop.
 */
#ifndef RK_NODE_INT_H
#define RK_NODE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "client.h"
#include "config.h"
#include "http.h"
#include "net.h"
#include "prom.h"
#include "raft.h"
#include "kv.h"
#include "store.h"

struct rk_node;

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
};

/* A group commit in flight: the replicas whose readies it persists. */
struct commit {
	struct rk_replica **reps;
	size_t n, cap;
	int rc;
	double started;
	struct commit *next;
};

struct peer_out {
	uint64_t node_id;
	struct rk_buf batch; /* the Batch being built this turn */
	struct rk_buf beats; /* its coalesced heartbeats, added at the flush */
	uint64_t heard;      /* liveness round of its last frame (raft channel) */
	bool alive;          /* node liveness */
	uint64_t seq_heard;  /* its last liveness seq */
	uint64_t epoch;      /* its liveness epoch (start time), 0 until heard */
};

struct rk_node {
	struct rk_node_config cfg;
	uv_loop_t loop;
	struct rk_store *store;
	struct rk_store_reader *reader; /* the loop's */
	struct rk_net *net;
	struct rk_http_server http;
	uv_timer_t tick_timer;
	uv_timer_t pump_timer;     /* moves snapshot streams */
	uv_timer_t live_timer;     /* node liveness heartbeats */
	uint64_t live_seq, live_epoch;
	uint64_t cur_from;         /* sender of the frame being decoded */
	struct snap_stream *streams;
	uv_idle_t process;  /* processes the dirty set */
	uv_async_t wake;
	uv_signal_t sigterm, sigint;
	struct rk_raft_options ropts;

	/* Replicas: a hash by range id, and the list in id order. */
	struct rk_replica **table;
	size_t table_cap;
	struct rk_replica **byid;
	struct rk_replica **bykey; /* by start key, for the router */
	/* The replicas not asleep: the only ones the tick visits, so that a
	 * node of mostly quiescent ranges pays for the awake ones only. */
	struct rk_replica **awake;
	size_t n_awake, cap_awake;
	/* Elections this node starts itself (node.c, "elections at start"):
	 * the queue of replicas to campaign for, and the campaigns under way
	 * (at most CAMPAIGNS_MAX, each with the tick it started). */
	struct rk_replica **campaign_q;
	size_t n_campaign_q, cap_campaign_q, campaign_pos;
	struct campaign { struct rk_replica *r; uint64_t since; } *campaigns;
	size_t n_campaigns;
	bool sweep_needed;      /* sleeping replicas may know no leader */
	size_t compact_cursor;  /* round-robin position (rk_node_visit_some) */
	/* Sleeping leaders away from their preferred node (balance_leaders). */
	struct rk_replica **misplaced;
	size_t n_misplaced, cap_misplaced;
	size_t n_replicas;
	struct rk_buf blob;        /* apply state being encoded */

	/* Client service. */
	struct rk_client_router *router;
	struct rk_client_server *client;
	struct local_req *inbox, *inbox_tail; /* this node's own requests */
	struct rk_kv_applier applier; /* applies every replica's commands */
	uint32_t drop_answers_pct; /* fault injection (tests) */
	uint64_t drop_rng, answers_dropped;

	struct rk_replica *dirty, *dirty_tail; /* replicas to process, FIFO */
	struct peer_out peers[RK_MAX_NODES];
	uint32_t n_peers;
	struct rk_net_scratch scratch;

	/* Completed group commits, queued by the storage thread. */
	pthread_mutex_t mu;
	struct commit *done;
	uint64_t commits_in_flight;

	/* Statistics. */
	uint64_t ticks, msgs_recv, msgs_unknown_range, msgs_sent;
	uint64_t beats_sent; /* of msgs_sent: heartbeats sent coalesced */
	uint64_t commits, applied_entries;
	uint64_t snaps_generated, snaps_sent, snaps_received, snaps_installed;
	uint64_t compactions, proposals;
	uint64_t quiesced, woken, liveness_deaths;
	struct rk_hist commit_hist; /* group commit: submit to durable */
	bool stopping;
	int exit_code;
};

/* A request the router sent to this node itself. */
struct local_req {
	struct local_req *next;
	struct rk_net_req req;
	uint8_t cmd[];
};

/* replica.c */
extern const struct rk_raft_storage_ops rk_replica_storage_ops;
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

/* node.c */
struct rk_replica *rk_node_replica(const struct rk_node *n, uint64_t range);
struct peer_out *rk_node_peer_out(struct rk_node *n, uint64_t node_id);
void rk_node_on_process(uv_idle_t *h);
void rk_node_mark_dirty(struct rk_node *n, struct rk_replica *r);

/* A follower with a pending quiescence notice sleeps if caught up. */
void rk_node_sleep_pending(struct rk_node *n, struct rk_replica *r);

/* Wakes an asleep replica (it ticks again). */
void rk_node_wake(struct rk_node *n, struct rk_replica *r);

/* After r's persist is durable: late messages, advance, more work. */
void rk_node_replica_persisted(struct rk_node *n, struct rk_replica *r);

/* snapshot.c */
struct snap_in;
struct snap_stream;
int rk_snap_meta(struct rk_replica *r, struct rk_raft_snapshot_meta *metap);
void rk_snap_send(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_msg *m);
void rk_snap_pump(struct rk_node *n);
void rk_snap_pump_timer(uv_timer_t *t);
void rk_snap_shutdown(struct rk_node *n);
int rk_snap_on_chunk(struct rk_node *n, const struct rk_net_chunk *c);
int rk_snap_on_msg(struct rk_node *n, uint64_t range, const struct rk_raft_msg *m);
bool rk_snap_take(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_snapshot_meta *snap, struct rk_store_batch *b);
void rk_snap_install(struct rk_node *n, struct rk_replica *r);
void rk_snap_compact(struct rk_node *n);
/* Calls fn on every awake replica, then on the next `slice` replicas in id
 * order from *cursor (round-robin; none if cursor is NULL): what a periodic
 * scan needs when only awake replicas change, without walking 100,000
 * sleeping ones each time. */
void rk_node_visit_some(struct rk_node *n, size_t *cursor, size_t slice,
			void (*fn)(struct rk_node *, struct rk_replica *, void *),
			void *arg);

/* serve.c */
struct rk_serve;
void rk_serve_request(struct rk_node *n, uint64_t origin, const struct rk_net_req *req);
void rk_serve_to_router(struct rk_node *n, const struct rk_net_resp *resp);
void rk_serve_answer(struct rk_node *n, uint64_t origin, uint64_t id,
		     uint32_t status, uint64_t leader, const void *reply, size_t len);
void rk_serve_flush(struct rk_node *n, struct rk_replica *r);
void rk_serve_ready_reads(struct rk_node *n, struct rk_replica *r,
			  const struct rk_raft_ready *rd);
void rk_serve_reads(struct rk_node *n, struct rk_replica *r);
void rk_serve_apply_begin(struct rk_node *n);
int rk_serve_apply(struct rk_node *n, struct rk_replica *r,
		   const struct rk_raft_entry *e, struct rk_store_batch *b);
void rk_serve_persisted(struct rk_node *n, struct rk_replica *r);
void rk_serve_free(struct rk_replica *r);
int rk_serve_start(struct rk_node *n, char *err, size_t errlen);
void rk_serve_stop(struct rk_node *n);

/* api.c */
void rk_node_http(void *arg, const struct rk_http_req *req,
		  struct rk_http_resp *resp);

#endif
