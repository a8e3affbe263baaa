/*
 * The deterministic cluster simulator for the raft core.
 *
 * One process, N replicas, one seeded random generator deciding everything:
 * which message is delivered next (reordering), which is dropped or
 * duplicated, when a replica's disk finishes a write, crashes (losing the
 * batch not yet durable), restarts, partitions and heals, proposals, reads,
 * membership changes, leadership transfers, log compaction. Ticks advance
 * for every live replica at the same rate (the lease assumes bounded drift;
 * the simulator has none).
 *
 * After every step the invariants of check.c are verified; a violation
 * prints the seed, the last events and the command that replays it.
 */
#ifndef RK_SIM_H
#define RK_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "raft.h"

#define SIM_MAX 7        /* replicas (ids 1..SIM_MAX) */
#define SIM_MIN_VOTERS 3 /* initial voters: 3 or 5; the rest are spares */
#define SIM_TRACE 256    /* events kept for the failure report */
#define SIM_MAX_INFLIGHT 20000 /* more queued messages is a violation */
#define SIM_REORDER 8    /* delivery picks among this many oldest messages */
#define SIM_HOLD_TICKS 100 /* longest a replica's apply is held (hold_apply) */

/* ---- durable storage of one replica ------------------------------------------- */

struct sim_store {
	struct rk_raft_hard_state hs;
	struct rk_raft_conf_state cs;      /* as of applied */
	uint64_t snap_index, snap_term;    /* compaction point */
	struct rk_raft_conf_state snap_cs; /* conf at the compaction point */
	struct rk_raft_entry *ents;        /* ents[i].index == snap_index+1+i */
	size_t n, cap;
	uint64_t applied;                  /* state machine, durable with it */
};

/* ---- network ------------------------------------------------------------------ */

struct sim_msg {
	struct rk_raft_msg m; /* deep copy */
	uint64_t sent_step;
};

struct sim_net {
	struct sim_msg *q;
	size_t n, cap;
	bool cut[SIM_MAX + 1][SIM_MAX + 1];
};

/* ---- replicas ----------------------------------------------------------------- */

struct sim_node {
	int id;
	bool up;
	bool exists;   /* has storage (initial voter or joined) */
	struct rk_raft raft;
	struct sim_store store;
	/* The batch handed out and not yet durable. */
	bool pending;
	uint64_t pending_since; /* step the batch was taken */
	struct rk_raft_ready rd;
	uint64_t last_applied; /* never goes back, across restarts */
	int seen_role;         /* for tracing role changes */
	uint64_t seen_term;
	uint64_t snaps_received[8]; /* indexes of SNAPs received (ring) */
	/* Committed entries at or above it are not applied (0: none): a state
	 * machine that cannot apply them (in rangekv, a range merge whose
	 * right replica here never reaches its frozen index). The replica
	 * asks for a snapshot (rk_raft_request_snapshot) until one is
	 * installed, which lifts it, as does a crash. After SIM_HOLD_TICKS
	 * it is lifted anyway: a replica with committed conf changes it has
	 * not applied does not campaign, and one that is needed for a quorum
	 * would otherwise wait for a leader for ever. */
	uint64_t hold_apply, hold_tick;
	unsigned n_snaps_received;
};

/* ---- client operations -------------------------------------------------------- */

struct sim_write {
	uint64_t id;
	int leader;
	uint64_t term, index;
	bool acked;
	uint64_t ack_step;
};

struct sim_read {
	int node;            /* where it was issued, then who released it */
	uint64_t need_index; /* every write acknowledged before the read started */
	uint64_t start_step;
	bool released;
	uint64_t release_index; /* read_state.index */
	bool served;
};

struct sim_opts {
	uint64_t seed;
	int steps;
	int nodes;      /* replicas that may exist (<= SIM_MAX) */
	bool lease;     /* lease reads instead of ReadIndex */
	bool trace;     /* print every event */
	bool quiet;
};

struct sim {
	struct sim_opts o;
	uint64_t rng;
	uint64_t step;
	uint64_t tick;
	struct rk_raft_options ropts;
	struct sim_node nodes[SIM_MAX + 1];
	struct sim_net net;
	/* The committed sequence: index -> (term, payload id), learned from
	 * applies (any replica's apply defines it; all must agree). */
	uint64_t *c_term, *c_id;
	size_t c_cap;
	uint64_t c_max;
	/* Leaders seen: term -> id (at most one per term). */
	uint64_t *leader_of_term;
	size_t lot_cap;
	struct sim_write *writes;
	size_t n_writes, cap_writes;
	uint64_t acked_max_index; /* highest index of an acknowledged write */
	struct sim_read *reads;
	size_t n_reads, cap_reads;
	uint64_t next_write_id, next_ctx;
	bool chaos; /* faults allowed */
	int voters; /* initial voters of this run */
	bool idle;  /* workload phase: few writes (reads go on) */
	/* A staged partition's second cut: from -> to at tick staged_at. */
	uint64_t staged_at;
	uint64_t quiet_until; /* tick: no other faults while a gray failure plays out */
	int staged_leader;    /* the leader that gray failure cut off */
	int staged_from, staged_to;
	char trace[SIM_TRACE][160];
	int trace_pos;
	const char *violation;
	char why[512];
	/* Statistics. */
	uint64_t n_commits, n_elections, n_snapshots, n_crashes, n_conf,
		n_transfers, n_reads_served, n_writes_acked, n_snap_requests,
		n_holds_by_snapshot, n_holds_timed_out;
};

uint64_t sim_rand(struct sim *s);
bool sim_chance(struct sim *s, unsigned pct);
void sim_event(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sim_fail(struct sim *s, const char *invariant, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* net.c */
void sim_net_send(struct sim *s, const struct rk_raft_msg *m);
bool sim_net_deliver_one(struct sim *s);
void sim_net_free_msg(struct rk_raft_msg *m);
void sim_net_clear(struct sim *s);

/* node.c */
extern const struct rk_raft_storage_ops sim_storage_ops;
void sim_node_boot(struct sim *s, struct sim_node *nd, bool voter, int voters);
void sim_node_start(struct sim *s, struct sim_node *nd);
void sim_node_crash(struct sim *s, struct sim_node *nd);
/* Takes a ready batch if there is one and none is pending. */
bool sim_node_take_ready(struct sim *s, struct sim_node *nd);
/* The pending batch becomes durable: persist, send, apply, advance. */
void sim_node_persist(struct sim *s, struct sim_node *nd);
void sim_node_compact(struct sim *s, struct sim_node *nd);
void sim_node_serve_reads(struct sim *s, struct sim_node *nd);
void sim_node_free(struct sim_node *nd);
uint64_t sim_store_last(const struct sim_store *st);

/* check.c */
void sim_check_step(struct sim *s);
void sim_check_persist(struct sim *s, struct sim_node *nd,
		       const struct rk_raft_entry *e, size_t n);
void sim_check_apply(struct sim *s, struct sim_node *nd,
		     const struct rk_raft_entry *e);
void sim_check_snapshot_installed(struct sim *s, struct sim_node *nd,
				  uint64_t index, uint64_t term);
void sim_check_read_served(struct sim *s, struct sim_node *nd,
			   struct sim_read *rd);

#endif
