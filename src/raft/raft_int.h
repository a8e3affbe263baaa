/*
 * Private to the raft core: the structures behind struct rk_raft's pointers
 * and the functions the core's files call on each other.
 *
 * Memory lifetimes (the part worth reading twice):
 *
 *  - Unstable and cached entries live in log->ents; each payload is its own
 *    heap block. Entries leave the array when they are both durable and
 *    applied (advance) or when a conflicting append truncates them.
 *  - A payload that leaves the array may still be pointed to by a ready
 *    batch the caller holds, or by a message in the outbox that will be
 *    handed out with the next batch. So it is "retired", not freed: retired
 *    blocks are freed at an advance once no batch or outbox can see them
 *    (two generations, see log_retire()).
 *  - Everything else a ready batch points to (entry arrays, messages,
 *    payloads copied out of storage) is bump-allocated in an arena that is
 *    freed at the advance of that batch.
 *
 * An idle follower holds no heap at all: log, tracker, readonly and outbox
 * are freed as soon as they are empty.
 */
#ifndef RK_RAFT_INT_H
#define RK_RAFT_INT_H

#include "bugs.h"
#include "raft.h"

/* Internal message flag: the message may only leave after the batch it is
 * handed out in is durable. Stripped before the caller sees it. */
#define RAFT_MSGF_AFTER_PERSIST (1u << 7)

/* ---- memory --------------------------------------------------------------- */

void *raft_alloc(struct rk_raft *r, size_t size);
void *raft_realloc(struct rk_raft *r, void *p, size_t old_size,
		   size_t new_size);
void raft_free(struct rk_raft *r, void *p, size_t size);

/* ---- log (log.c) ---------------------------------------------------------- */

struct raft_arena_chunk {
	struct raft_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
};

struct raft_arena {
	struct raft_arena_chunk *head;
};

struct raft_retired {
	void **ptrs;
	size_t *sizes;
	uint32_t n, cap;
};

struct rk_raft_log {
	struct rk_raft_entry *ents; /* ents[i].index == offset + i */
	uint32_t n, cap;
	uint64_t offset;
	uint64_t ents_bytes; /* payload bytes held in ents */
	/* A snapshot received but not yet durable (handed out in a ready or
	 * waiting for the next one). While set, it is the log's floor. */
	bool has_snap;
	struct rk_raft_snapshot_meta snap;
	/* A snapshot asked for (rk_raft_request_snapshot) at an entry the
	 * log holds, not yet durable: the state machine takes it, the log
	 * stays (handed out with snapshot_keeps_log). */
	bool has_sm_snap;
	struct rk_raft_snapshot_meta sm_snap;
	/* The last committed index handed out in the batch the caller holds
	 * (0: none): being applied until that batch is advanced. */
	uint64_t handed_committed;
	struct raft_arena cur;    /* for the next batch */
	struct raft_arena handed; /* for the batch the caller holds */
	struct raft_retired retired_old; /* may be seen by the held batch */
	struct raft_retired retired_new; /* may be seen by the outbox too */
};

struct rk_raft_ents {
	struct rk_raft *r;
	struct rk_raft_entry *v;
	size_t n, cap;
	uint64_t bytes;
	uint64_t max_bytes;
};

int raft_log_ensure(struct rk_raft *r);
void raft_log_maybe_free(struct rk_raft *r);
void raft_log_close(struct rk_raft *r);

uint64_t raft_log_last_index(struct rk_raft *r);
uint64_t raft_log_first_index(struct rk_raft *r);
uint64_t raft_log_last_term(struct rk_raft *r);
/* 0 on success; RK_ECOMPACTED / RK_EUNAVAILABLE otherwise (*termp = 0). */
int raft_log_term(struct rk_raft *r, uint64_t index, uint64_t *termp);
/* Term or 0 when unknown. */
uint64_t raft_log_term_or0(struct rk_raft *r, uint64_t index);
bool raft_log_match_term(struct rk_raft *r, uint64_t index, uint64_t term);
/* Entries [lo, hi) up to max_bytes (at least one), as an arena array whose
 * payloads stay valid until the advance of the batch this lands in. */
int raft_log_slice(struct rk_raft *r, uint64_t lo, uint64_t hi,
		   uint64_t max_bytes, struct rk_raft_entry **entsp,
		   size_t *np);
/* Appends entries after truncating any suffix from ents[0].index on.
 * Copies payloads. */
int raft_log_append(struct rk_raft *r, const struct rk_raft_entry *ents,
		    size_t n);
/* First index in ents whose term conflicts with the log or is beyond it;
 * 0 when all of them match. */
uint64_t raft_log_find_conflict(struct rk_raft *r,
				const struct rk_raft_entry *ents, size_t n);
/* Largest index <= index whose term is <= term (fast backtracking). */
uint64_t raft_log_find_conflict_by_term(struct rk_raft *r, uint64_t index,
					uint64_t term);
bool raft_log_is_up_to_date(struct rk_raft *r, uint64_t last_index,
			    uint64_t term);
int raft_log_restore(struct rk_raft *r,
		     const struct rk_raft_snapshot_meta *meta);
void raft_log_commit_to(struct rk_raft *r, uint64_t index);
/* After the persist of entries ending at (index, term): mark durable if the
 * log still holds that entry. */
void raft_log_stable_to(struct rk_raft *r, uint64_t index, uint64_t term);
/* Drops cached entries that are durable and applied. */
void raft_log_shrink(struct rk_raft *r);
/* Retires payloads for freeing once nothing can see them. */
void raft_log_retire(struct rk_raft *r, void *p, size_t size);

void *raft_arena_alloc(struct rk_raft *r, size_t size);
/* Called by ready()/advance(): generation moves and frees. */
void raft_log_on_ready(struct rk_raft *r);
void raft_log_on_advance(struct rk_raft *r);

/* ---- tracker (tracker.c) ---------------------------------------------------- */

enum raft_progress_state {
	RAFT_PR_PROBE = RK_RAFT_PROGRESS_PROBE,
	RAFT_PR_REPLICATE = RK_RAFT_PROGRESS_REPLICATE,
	RAFT_PR_SNAPSHOT = RK_RAFT_PROGRESS_SNAPSHOT,
};

struct raft_inflight {
	uint64_t index;
	uint64_t bytes;
};

struct raft_progress {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	uint64_t pending_snapshot;
	/* It asked for a snapshot at least this far (SNAP_REQ); 0: none.
	 * Cleared once one is sent. */
	uint64_t snap_wanted;
	uint64_t acked_round; /* highest heartbeat round acknowledged */
	uint64_t heard_at;    /* clock (raft_now) of its last answer; 0: none */
	uint8_t state;
	bool probe_sent;
	bool recent_active;
	/* Ring of unacknowledged APPs (replicate state), grown lazily. */
	struct raft_inflight *in_buf;
	uint32_t in_start, in_count, in_cap;
	uint64_t in_bytes;
};

#define RAFT_ROUND_RING 32

struct rk_raft_tracker {
	struct raft_progress pr[RK_RAFT_MAX_MEMBERS]; /* same slots as conf */
	uint64_t round; /* heartbeat round last started */
	uint64_t round_at[RAFT_ROUND_RING]; /* start time of recent rounds */
	uint64_t void_round; /* rounds up to this one hold no lease */
	bool lease_off; /* a transfer was started this term */
};

int raft_tracker_reset(struct rk_raft *r); /* becoming leader */

/* The group's clock (the options' clock, else its tick count), and an
 * election timeout (election_tick ticks) in the clock's units. */
uint64_t raft_now(const struct rk_raft *r);
uint64_t raft_ticks_span(const struct rk_raft *r, int ticks);
void raft_tracker_free(struct rk_raft *r);
/* Re-slots progress after a configuration change; new members probe. */
int raft_tracker_reconfigure(struct rk_raft *r);
struct raft_progress *raft_progress_get(struct rk_raft *r, uint64_t id);
int raft_conf_slot(const struct rk_raft_conf_state *cs, uint64_t id);

bool raft_progress_is_paused(struct rk_raft *r, struct raft_progress *pr);
bool raft_progress_maybe_update(struct raft_progress *pr, uint64_t n);
bool raft_progress_maybe_decr_to(struct raft_progress *pr, uint64_t rejected,
				 uint64_t match_hint);
void raft_progress_become_probe(struct rk_raft *r, struct raft_progress *pr);
void raft_progress_become_replicate(struct rk_raft *r,
				    struct raft_progress *pr);
void raft_progress_become_snapshot(struct rk_raft *r,
				   struct raft_progress *pr, uint64_t index);
int raft_inflights_add(struct rk_raft *r, struct raft_progress *pr,
		       uint64_t index, uint64_t bytes);
void raft_inflights_free_le(struct rk_raft *r, struct raft_progress *pr,
			    uint64_t index);
void raft_inflights_reset(struct rk_raft *r, struct raft_progress *pr);

/* Quorum arithmetic over the configuration (joint aware). value_of returns
 * the per-member value (match index, acked round); the result is the largest
 * value a quorum of both halves has reached. */
uint64_t raft_quorum_index(struct rk_raft *r,
			   uint64_t (*value_of)(struct rk_raft *,
						const struct raft_progress *));
enum raft_vote_result {
	RAFT_VOTE_PENDING = 0,
	RAFT_VOTE_WON = 1,
	RAFT_VOTE_LOST = 2,
};
enum raft_vote_result raft_vote_tally(const struct rk_raft *r);
bool raft_quorum_active(struct rk_raft *r);
bool raft_is_promotable(const struct rk_raft *r);
bool raft_is_voter(const struct rk_raft_conf_state *cs, uint64_t id);
bool raft_is_member(const struct rk_raft_conf_state *cs, uint64_t id);

/* ---- configuration changes (confchange.c) ---------------------------------- */

/* Computes the configuration cc leads to from cs; RK_ECONFCHANGE if it breaks
 * the rules. */
int raft_conf_apply(const struct rk_raft_conf_state *cs,
		    const struct rk_raft_conf_change *cc,
		    struct rk_raft_conf_state *outp);

/* ---- elections (election.c) ------------------------------------------------ */

void raft_become_follower(struct rk_raft *r, uint64_t term, uint64_t lead);
void raft_become_pre_candidate(struct rk_raft *r);
void raft_become_candidate(struct rk_raft *r);
int raft_become_leader(struct rk_raft *r);
void raft_campaign(struct rk_raft *r, bool pre_vote, bool transfer);
/* A split candidate's vote requests again, in its term (transfer flag). */
void raft_resend_vote_requests(struct rk_raft *r);
void raft_reset_randomized_timeout(struct rk_raft *r);
int raft_step_vote(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_step_vote_resp(struct rk_raft *r, const struct rk_raft_msg *m);
bool raft_in_lease(const struct rk_raft *r, const struct rk_raft_msg *m);

/* ---- replication (replication.c) ------------------------------------------- */

bool raft_send_append(struct rk_raft *r, uint64_t to, bool send_if_empty);
void raft_bcast_append(struct rk_raft *r);
void raft_bcast_heartbeat(struct rk_raft *r);
bool raft_maybe_commit(struct rk_raft *r);
int raft_append_local(struct rk_raft *r, uint32_t type, const void *data,
		      uint32_t len, uint64_t *indexp);
void raft_handle_append(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_handle_heartbeat(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_handle_snapshot(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_handle_append_resp(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_handle_heartbeat_resp(struct rk_raft *r,
				const struct rk_raft_msg *m);
void raft_handle_snap_req(struct rk_raft *r, const struct rk_raft_msg *m);
void raft_abort_transfer(struct rk_raft *r);
void raft_send_timeout_now(struct rk_raft *r, uint64_t to);

/* ---- reads (readonly.c) ---------------------------------------------------- */

struct raft_read_req {
	uint64_t ctx;
	uint64_t index; /* commit index when confirmed; 0 while waiting */
	uint64_t round; /* heartbeat round that confirms it */
};

struct rk_raft_readonly {
	struct raft_read_req *q; /* waiting for a quorum */
	uint32_t q_start, q_n, q_cap;
	struct rk_raft_read_state *out; /* released, for the next ready */
	uint32_t out_n, out_cap;
	bool round_wanted; /* start a round at the next ready */
};

int raft_read_index(struct rk_raft *r, uint64_t ctx);
/* The leader committed its first entry of the term: waiting reads get
 * their index. */
void raft_reads_on_commit(struct rk_raft *r);
/* Acked rounds changed: release what a quorum has confirmed. */
void raft_reads_release(struct rk_raft *r);
bool raft_lease_valid(struct rk_raft *r);
void raft_readonly_free(struct rk_raft *r);
void raft_readonly_close(struct rk_raft *r);
/* Hands out released read states (arena copy) and clears them. */
void raft_reads_take(struct rk_raft *r, const struct rk_raft_read_state **p,
		     size_t *np);
bool raft_reads_have_ready(const struct rk_raft *r);
bool raft_committed_in_term(struct rk_raft *r);

/* ---- messages (message.c) -------------------------------------------------- */

/* Queues m in the outbox (copying the struct; entry arrays must already live
 * in the arena). Sets RAFT_MSGF_AFTER_PERSIST by the rule in raft.h. */
void raft_send(struct rk_raft *r, struct rk_raft_msg *m);
void raft_outbox_free(struct rk_raft *r);

static inline uint64_t raft_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t raft_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

#endif /* RK_RAFT_INT_H */
