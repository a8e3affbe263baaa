/*
 * A small in-process cluster for raft unit and scenario tests: in-memory
 * storage, a network that delivers (or drops) messages in order, and a
 * driver that follows the ready/advance contract to the letter.
 *
 * Everything is synchronous and deterministic: fx_settle() runs ready
 * batches and deliveries until nothing moves.
 */
#ifndef RK_TEST_FIXTURE_H
#define RK_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "raft.h"

#define FX_MAX 8

struct fx_store {
	struct rk_raft_hard_state hs;
	struct rk_raft_conf_state cs;
	struct rk_raft_snapshot_meta snap; /* compaction point */
	struct rk_raft_entry *ents;        /* ents[i].index == snap.index+1+i */
	size_t n;
};

struct fx_node {
	struct rk_raft raft;
	struct fx_store store;
	bool up;
	uint64_t applied;
	uint64_t sm_hash[4096]; /* state-machine hash after applying index i */
	struct rk_raft_conf_state applied_conf;
	uint64_t reads[64]; /* ctx of released read states */
	uint64_t read_index[64];
	int n_reads;
	uint64_t apply_count;
};

struct fx_msg {
	struct rk_raft_msg m;
	struct fx_msg *next;
};

struct fx {
	int n;
	struct rk_raft_options opts;
	struct fx_node nodes[FX_MAX + 1]; /* 1-based */
	bool cut[FX_MAX + 1][FX_MAX + 1]; /* cut[a][b]: a's messages to b lost */
	struct fx_msg *head, *tail;
	uint64_t msg_count[RK_RAFT_MSG_TYPE_MAX + 1];
	/* trim_above[b] != 0: APPs to b lose entries above that index. */
	uint64_t trim_above[FX_MAX + 1];
	/* lose_persist[a]: a's next ready is handed out, its immediate messages
	 * leave, and a crashes before the persist (losing it). */
	bool lose_persist[FX_MAX + 1];
	/* hold_apply[a] != 0: a applies no committed entry at or above that
	 * index (its ready's committed list is cut short, as a node does for
	 * a range merge that waits for a snapshot); a snapshot it installs
	 * lifts it. */
	uint64_t hold_apply[FX_MAX + 1];
	/* Optional filter: return false to drop a message. */
	bool (*filter)(struct fx *fx, const struct rk_raft_msg *m);
};

/* Boots n voters (ids 1..n) with voters = the first `voters` of them; the
 * rest start empty (they join later by snapshot). */
void fx_init(struct fx *fx, int n, int voters,
	     void (*tune)(struct rk_raft_options *o));
void fx_close(struct fx *fx);

void fx_settle(struct fx *fx);
void fx_tick(struct fx *fx, int id, int k);
void fx_tick_all(struct fx *fx, int k);
/* Campaigns on id and settles; returns true if it became leader. */
bool fx_elect(struct fx *fx, int id);
int fx_leader(struct fx *fx);
uint64_t fx_propose(struct fx *fx, int id, const char *s);
void fx_isolate(struct fx *fx, int id);
void fx_heal(struct fx *fx);
void fx_crash(struct fx *fx, int id);
void fx_restart(struct fx *fx, int id);
void fx_compact(struct fx *fx, int id);
int fx_conf_change(struct fx *fx, int leader, uint8_t transition, int n,
		   const uint8_t *ops, const uint64_t *ids);
struct rk_raft *fx_raft(struct fx *fx, int id);
/* Replaces id's durable log (after the boot snapshot) by entries of the
 * given terms and restarts it with hard-state term hs_term. */
void fx_set_log(struct fx *fx, int id, const uint64_t *terms, int n,
		uint64_t hs_term);
/* Term of id's durable entry at index (0 if none). */
uint64_t fx_stored_term(struct fx *fx, int id, uint64_t index);
uint64_t fx_stored_last(struct fx *fx, int id);

#endif
