/*
 * rk_raft: the Raft core of rangekv, a pure state machine.
 *
 * The core owns no socket, clock, disk or thread. The caller drives it:
 *
 *   rk_raft_tick()            one logical clock tick
 *   rk_raft_step(msg)         a message from a peer
 *   rk_raft_propose(data)     a new command (leader only)
 *   rk_raft_propose_conf_change(cc)
 *   rk_raft_read_index(ctx)   a linearizable read barrier (leader only)
 *   rk_raft_transfer_leader(to)
 *
 * and then collects what the core wants done as one ready batch:
 *
 *   if (rk_raft_has_ready(r)) {
 *       rk_raft_ready(r, &rd);
 *       persist rd.snapshot, rd.entries, rd.hs        (one durable write)
 *       send rd.msgs           (may go before or during the persist)
 *       send rd.msgs_after_persist   (only once the persist is durable)
 *       apply rd.committed     (in order; may overlap the persist)
 *       release rd.read_states once applied >= read_state.index
 *       rk_raft_advance(r, &rd);
 *   }
 *
 * Only one ready batch is outstanding per group: rk_raft_ready() must not be
 * called again before rk_raft_advance(). Between the two the caller may go on
 * stepping, ticking and proposing; what that produces lands in the next
 * batch. Everything the ready points to stays valid until rk_raft_advance().
 *
 * Determinism: for the same options, seed, storage contents and sequence of
 * calls, the core produces the same batches. Randomness (election timeouts)
 * comes from a per-group generator seeded by the caller.
 *
 * Memory: every allocation goes through the hooks of rk_raft_set_allocator()
 * and is counted per group (rk_raft_status().mem_bytes). A group that would
 * exceed opts->max_mem_bytes refuses proposals with RK_EBUSY rather than
 * grow; an idle follower holds no heap memory at all.
 *
 * Threads: a group is not thread safe; one thread at a time per group.
 * Distinct groups share nothing but the (const) options and the allocator.
 */
#ifndef RK_RAFT_H
#define RK_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rangekv/error.h"

#define RK_RAFT_NONE 0 /* no replica: ids start at 1 */

/* Terms and indexes beyond these are refused as malformed: no real log gets
 * near them, and the arithmetic on them (term + 1, index + n) must not wrap. */
#define RK_RAFT_MAX_TERM (UINT64_C(1) << 62)
#define RK_RAFT_MAX_INDEX (UINT64_C(1) << 62)

/* Most distinct replicas (voters of both halves of a joint config plus
 * learners) one configuration may name. A change beyond it is refused with
 * RK_ECONFCHANGE. Fixed so that a group needs no heap for its config. */
#define RK_RAFT_MAX_MEMBERS 10

/* ------------------------------------------------------------------------ */
/* Log entries, hard state, configuration                                     */

enum rk_raft_entry_type {
	RK_RAFT_ENTRY_NORMAL = 0,
	RK_RAFT_ENTRY_CONF_CHANGE = 1,
};

struct rk_raft_entry {
	uint64_t term;
	uint64_t index;
	uint32_t type; /* enum rk_raft_entry_type */
	uint32_t len;
	const uint8_t *data; /* len bytes; NULL when len == 0 */
};

/* What must be durable before the replica may answer anyone. */
struct rk_raft_hard_state {
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
};

/* Role flags of a member of a configuration. A replica may carry VOTER_OUT
 * together with LEARNER_NEXT (demoted by a joint change: it votes in the
 * outgoing half until the joint state is left, then becomes a learner). */
enum rk_raft_member_flags {
	RK_RAFT_VOTER = 1u << 0,        /* voter of the incoming (current) half */
	RK_RAFT_VOTER_OUT = 1u << 1,    /* voter of the outgoing half (joint only) */
	RK_RAFT_LEARNER = 1u << 2,      /* non-voting, receives the log */
	RK_RAFT_LEARNER_NEXT = 1u << 3, /* becomes a learner on leaving joint */
};

struct rk_raft_conf_state {
	uint64_t ids[RK_RAFT_MAX_MEMBERS];
	uint8_t flags[RK_RAFT_MAX_MEMBERS]; /* enum rk_raft_member_flags */
	uint8_t n;
	bool auto_leave; /* joint: leader leaves it by itself once committed */
};

bool rk_raft_conf_is_joint(const struct rk_raft_conf_state *cs);
struct rk_raft_conf_change;
/* The configuration cc makes of cs (pure: what rk_raft_apply_conf_change
 * does to a group's). RK_ECONFCHANGE when cc cannot apply to cs. */
int rk_raft_conf_apply(const struct rk_raft_conf_state *cs,
		       const struct rk_raft_conf_change *cc,
		       struct rk_raft_conf_state *outp);

/* Snapshot metadata. The snapshot's data (the range's key span at index) is
 * not the core's business: the caller streams and installs it. */
struct rk_raft_snapshot_meta {
	uint64_t index;
	uint64_t term;
	struct rk_raft_conf_state conf;
};

/* ------------------------------------------------------------------------ */
/* Membership changes                                                       */

enum rk_raft_cc_op {
	RK_RAFT_CC_ADD_VOTER = 0,   /* add, or promote a learner */
	RK_RAFT_CC_ADD_LEARNER = 1, /* add, or demote a voter */
	RK_RAFT_CC_REMOVE = 2,
};

enum rk_raft_cc_transition {
	/* One change of one voter: applied directly (no joint state). More
	 * than that: joint consensus, left automatically. */
	RK_RAFT_CC_AUTO = 0,
	RK_RAFT_CC_JOINT_IMPLICIT = 1, /* always joint, left automatically */
	RK_RAFT_CC_JOINT_EXPLICIT = 2, /* always joint, left by an empty change */
};

#define RK_RAFT_CC_MAX_CHANGES RK_RAFT_MAX_MEMBERS

struct rk_raft_conf_change {
	uint8_t transition; /* enum rk_raft_cc_transition */
	uint8_t n;          /* 0 = leave the joint state */
	struct {
		uint8_t op; /* enum rk_raft_cc_op */
		uint64_t id;
	} changes[RK_RAFT_CC_MAX_CHANGES];
};

/* Encoded size of a conf change with n changes. */
#define RK_RAFT_CC_ENCODED_MAX (4 + 9 * RK_RAFT_CC_MAX_CHANGES)

/* The entry payload of a conf change: a versioned little-endian encoding.
 * decode rejects anything malformed with RK_EPROTO (it reads bytes that came
 * from disk or the network). */
size_t rk_raft_cc_encode(const struct rk_raft_conf_change *cc, uint8_t *buf);
int rk_raft_cc_decode(const uint8_t *buf, size_t len,
		      struct rk_raft_conf_change *ccp);
/* A conf change entry may carry the caller's context after the change
 * (rk_raft_propose_conf_change_ctx): opaque to the core, like etcd's
 * ConfChange.Context. This decoder accepts it and points *ctxp, *ctx_lenp
 * at it (inside buf; length 0 when there is none). */
#define RK_RAFT_CC_CTX_MAX 1024
int rk_raft_cc_decode_ctx(const uint8_t *buf, size_t len,
			  struct rk_raft_conf_change *ccp, const uint8_t **ctxp,
			  size_t *ctx_lenp);

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */

enum rk_raft_msg_type {
	RK_RAFT_MSG_APP = 1,        /* append entries (leader -> follower) */
	RK_RAFT_MSG_APP_RESP = 2,
	RK_RAFT_MSG_VOTE = 3,
	RK_RAFT_MSG_VOTE_RESP = 4,
	RK_RAFT_MSG_PRE_VOTE = 5,
	RK_RAFT_MSG_PRE_VOTE_RESP = 6,
	RK_RAFT_MSG_SNAP = 7,       /* install snapshot (data travels beside) */
	RK_RAFT_MSG_HEARTBEAT = 8,
	RK_RAFT_MSG_HEARTBEAT_RESP = 9,
	RK_RAFT_MSG_TIMEOUT_NOW = 10, /* leadership transfer: campaign now */
	/* follower -> leader: send me a snapshot (rk_raft_request_snapshot);
	 * index: the least snapshot index of use to it. */
	RK_RAFT_MSG_SNAP_REQ = 11,
	RK_RAFT_MSG_TYPE_MAX = 11,
};

enum rk_raft_msg_flags {
	/* VOTE/PRE_VOTE sent because of a leadership transfer: voters grant it
	 * even while they believe a leader is alive. */
	RK_RAFT_MSGF_TRANSFER = 1u << 0,
};

struct rk_raft_msg {
	uint8_t type;    /* enum rk_raft_msg_type */
	uint8_t flags;   /* enum rk_raft_msg_flags */
	bool reject;
	uint64_t from;
	uint64_t to;
	uint64_t term;
	/* APP: term of the entry at index. VOTE/PRE_VOTE: candidate's last log
	 * term. APP_RESP rejection: term of the follower's entry at
	 * reject_hint (0 if none). */
	uint64_t log_term;
	/* APP: index just before entries[0]. VOTE/PRE_VOTE: candidate's last
	 * index. APP_RESP: highest index the follower now matches, or on
	 * rejection the index the leader tried. SNAP_REQ: the follower's applied
	 * index + 1 (a snapshot below it is of no use there). */
	uint64_t index;
	uint64_t commit;
	/* APP_RESP rejection: follower's guess of the highest index that may
	 * match (conflict hint for fast backtracking). */
	uint64_t reject_hint;
	/* HEARTBEAT/_RESP: the leader's heartbeat round, echoed back; it
	 * drives ReadIndex and lease confirmation. */
	uint64_t context;
	struct rk_raft_entry *entries; /* APP only */
	size_t n_entries;
	struct rk_raft_snapshot_meta *snapshot; /* SNAP only */
};

/* Checks what a message from the network must satisfy before rk_raft_step()
 * looks at it (known type, sane indexes). rk_raft_step() calls it itself;
 * decoders may call it early to count bad peers. */
int rk_raft_msg_validate(const struct rk_raft_msg *m);

const char *rk_raft_msg_type_name(int type);

/* ------------------------------------------------------------------------ */
/* The stable log, read through the caller's storage                        */

/* A growable entry buffer owned by the core; storage callbacks copy entries
 * into it with rk_raft_ents_push(). */
struct rk_raft_ents;
int rk_raft_ents_push(struct rk_raft_ents *b, const struct rk_raft_entry *e);

/* The caller's durable log, as the core sees it. The core only reads
 * through it; the caller writes it when it persists a ready batch and when
 * it compacts. Indexes: the log holds [first_index, last_index]; the entry at
 * first_index - 1 is the last one compacted (its term is still known: it is
 * the snapshot's). An empty log has last_index == first_index - 1. */
struct rk_raft_storage_ops {
	/* Hard state and configuration as last persisted (at start only). */
	int (*initial_state)(void *ctx, struct rk_raft_hard_state *hsp,
			     struct rk_raft_conf_state *csp);
	/* Term of the entry at index, for first_index - 1 <= index <=
	 * last_index. RK_ECOMPACTED below, RK_EUNAVAILABLE above. */
	int (*term)(void *ctx, uint64_t index, uint64_t *termp);
	/* Push entries [lo, hi) into out, stopping once their payloads exceed
	 * max_bytes (but always at least one entry). RK_ECOMPACTED if lo <
	 * first_index. */
	int (*entries)(void *ctx, uint64_t lo, uint64_t hi, uint64_t max_bytes,
		       struct rk_raft_ents *out);
	uint64_t (*first_index)(void *ctx);
	uint64_t (*last_index)(void *ctx);
	/* Metadata of the snapshot a lagging follower should be sent: the
	 * caller's latest applied state (index, term, conf). RK_ESNAPTEMP if
	 * none can be made now (the core retries later). On entry
	 * metap->index is the least index the snapshot must reach (0: any):
	 * a follower asked for one above its applied index
	 * (rk_raft_request_snapshot), so an older snapshot kept for reuse
	 * is of no use to it (the core sends none below that index and asks
	 * again later). */
	int (*snapshot)(void *ctx, struct rk_raft_snapshot_meta *metap);
};

/* ------------------------------------------------------------------------ */
/* Options (shared by many groups) and the group itself                     */

enum rk_raft_read_only {
	/* ReadIndex: the leader confirms leadership with a heartbeat round
	 * to a quorum before releasing the read. */
	RK_RAFT_READ_SAFE = 0,
	/* Lease: the leader releases reads locally while its lease holds (a
	 * quorum acknowledged a heartbeat round started less than
	 * election_tick - lease_margin_ticks ago). Needs check_quorum, which
	 * makes voters refuse to elect anyone while they hear a live leader;
	 * rk_raft_init refuses the combination without it. docs/raft.md has
	 * the safety argument. */
	RK_RAFT_READ_LEASE = 1,
};

struct rk_raft_options {
	int election_tick;  /* min election timeout; randomized in [e, 2e) */
	int heartbeat_tick; /* leader sends heartbeats every this many ticks */
	bool pre_vote;
	bool check_quorum;
	uint8_t read_only; /* enum rk_raft_read_only */
	int lease_margin_ticks; /* clock-drift allowance of lease reads */
	uint64_t max_msg_bytes;        /* entry payload bytes per APP message */
	/* Largest proposal (0 = max_msg_bytes). An entry larger than
	 * max_msg_bytes travels alone in its APP message. */
	uint64_t max_entry_bytes;
	uint32_t max_inflight_msgs;    /* unacknowledged APPs per follower */
	uint64_t max_inflight_bytes;   /* unacknowledged APP payload bytes (0 = no limit) */
	uint64_t max_uncommitted_bytes; /* leader's uncommitted payload (0 = no limit) */
	uint64_t max_committed_bytes_per_ready; /* apply batch size (0 = no limit) */
	uint64_t max_mem_bytes;         /* hard cap of the group's heap (0 = none) */
	int transfer_timeout_ticks;     /* abort a leadership transfer after (0 = election_tick) */
	/* A commit index that moves sends nothing of its own: followers learn
	 * it with the next append or heartbeat (at most heartbeat_tick later)
	 * instead of in an empty append per follower, answered, persisted and
	 * applied on its own. Under load the next append follows at once; at
	 * light load it saves each follower a message, its answer and a
	 * trip through its storage per write. Followers apply later; the
	 * leader commits and answers as before. Off by default. */
	bool lazy_commit;
	const struct rk_raft_storage_ops *storage;
	/* The caller's monotonic clock, in any unit, and tick_len of its units
	 * per tick. Leader leases and check-quorum's vote refusal are measured
	 * by it, not by ticks: a process that was stopped (SIGSTOP, a VM
	 * pause, swap) or a loop that ran late misses ticks, but not time, so
	 * a lease never outlives its window in real time. NULL: the group's
	 * own tick count is the clock (tick_len ignored; simulations where
	 * time is ticks). The core calls it only from its own calls, on the
	 * caller's thread. */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	uint64_t tick_len;
};

/* Sane defaults: election 10, heartbeat 1, pre-vote and check-quorum on,
 * safe reads, 1 MiB messages, 256 in flight. */
void rk_raft_options_default(struct rk_raft_options *o);

enum rk_raft_role {
	RK_RAFT_FOLLOWER = 0,
	RK_RAFT_PRE_CANDIDATE = 1,
	RK_RAFT_CANDIDATE = 2,
	RK_RAFT_LEADER = 3,
};

const char *rk_raft_role_name(int role);

struct rk_raft_read_state {
	uint64_t index; /* the read may be served once applied >= index */
	uint64_t ctx;   /* the caller's context from rk_raft_read_index() */
};

struct rk_raft_ready {
	/* Persist before sending msgs_after_persist. Valid when
	 * has_hard_state. */
	bool has_hard_state;
	struct rk_raft_hard_state hs;
	/* Install (clear the span, write the snapshot's data and its meta,
	 * reset the log to start after snapshot->index) before persisting
	 * entries. NULL when none. */
	const struct rk_raft_snapshot_meta *snapshot;
	/* The snapshot was asked for (rk_raft_request_snapshot) and is at an
	 * entry the log holds: install the data, the meta's configuration
	 * and applied index, but leave the log (and its compaction point) as
	 * it is. */
	bool snapshot_keeps_log;
	/* Append to the durable log. entries[0].index may be <= the stored
	 * last index: the stored suffix from there on is replaced (truncate
	 * then append). */
	const struct rk_raft_entry *entries;
	size_t n_entries;
	/* May be sent at once, before or while the above is persisted: a
	 * leader's appends, heartbeats, snapshots, transfer orders. */
	const struct rk_raft_msg *msgs;
	size_t n_msgs;
	/* Only after hs, snapshot and entries of this batch are durable: votes,
	 * acknowledgements, anything a crash could make a lie. */
	const struct rk_raft_msg *msgs_after_persist;
	size_t n_msgs_after_persist;
	/* Committed entries to apply, in order, contiguous from the last
	 * applied index + 1. All are already durable in the local log, so
	 * applying may overlap the persist of this batch. Conf-change entries
	 * are applied with rk_raft_apply_conf_change(). */
	const struct rk_raft_entry *committed;
	size_t n_committed;
	/* Reads confirmed at index; serve each once applied >= index. */
	const struct rk_raft_read_state *read_states;
	size_t n_read_states;
	/* Role and leader as of this batch (informational). */
	uint64_t leader;
	uint8_t role;
	/* Whether the persist must be synced: false only when it holds no
	 * entries and no change of term or vote (a commit-only update). */
	bool must_sync;
};

/* A follower's replication state on its leader (progress_status.state). */
enum rk_raft_progress_state {
	RK_RAFT_PROGRESS_PROBE = 0,
	RK_RAFT_PROGRESS_REPLICATE = 1,
	RK_RAFT_PROGRESS_SNAPSHOT = 2, /* a snapshot sent, not yet taken */
};

struct rk_raft_progress_status {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	uint8_t state; /* enum rk_raft_progress_state */
	uint8_t flags; /* enum rk_raft_member_flags */
	bool recent_active;
	uint32_t inflight;
	/* When it last answered an append or a heartbeat, on the options'
	 * clock (ticks without one); 0 if not since this leadership began. */
	uint64_t heard_at;
};

struct rk_raft_status {
	uint64_t id;
	uint8_t role;
	uint64_t leader;
	struct rk_raft_hard_state hs;
	uint64_t applied;
	uint64_t first_index;
	uint64_t last_index;
	uint64_t lead_transferee;
	uint64_t mem_bytes; /* heap held by this group now */
	struct rk_raft_conf_state conf;
	size_t n_progress; /* leader only */
	struct rk_raft_progress_status progress[RK_RAFT_MAX_MEMBERS];
};

struct rk_raft_log;      /* private: unstable tail and ready arena */
struct rk_raft_tracker;  /* private: leader-only replication progress */
struct rk_raft_readonly; /* private: leader-only pending reads */

/*
 * One replica of one range. Caller-allocated; all fields are private (they
 * are here so that a node can embed thousands of groups without one malloc
 * each). Its size is what an idle follower costs: it holds no heap.
 */
struct rk_raft {
	const struct rk_raft_options *opts;
	void *storage_ctx;
	uint64_t id;
	uint64_t term;
	uint64_t vote;
	uint64_t lead;
	uint64_t lead_transferee;
	uint64_t committed;
	uint64_t applied;      /* highest index handed out in a ready */
	uint64_t stable_last;  /* highest index known durable (cached) */
	uint64_t pending_conf_index;
	uint64_t lead_first;   /* leader: the index of its term's first entry */
	uint64_t uncommitted_bytes;
	uint64_t rng;
	uint64_t mem_bytes;
	struct rk_raft_hard_state prev_hs; /* last reported */
	struct rk_raft_conf_state conf;
	struct rk_raft_log *log;           /* NULL when idle */
	struct rk_raft_tracker *tracker;   /* leader only */
	struct rk_raft_readonly *readonly; /* leader only, lazily */
	struct rk_raft_msg *msgs;          /* outbox, NULL when empty */
	uint32_t n_msgs, cap_msgs;
	int election_elapsed;
	int heartbeat_elapsed;
	int randomized_election_timeout;
	int transfer_elapsed;
	uint8_t role;
	uint8_t votes[RK_RAFT_MAX_MEMBERS]; /* 0 unknown, 1 granted, 2 rejected */
	/* With check_quorum, votes are refused until this time (the clock of
	 * the options): an election timeout after a leader was last heard
	 * from, or after start. */
	uint64_t refuse_until;
	uint64_t ticks; /* ticks so far: the clock when the options have none */
	/* Follower: rk_raft_request_snapshot asked for a snapshot at least
	 * this far (0: none asked); one that far at an entry of the log is
	 * taken by the state machine, the log staying as it is. */
	uint64_t snap_requested;
	bool in_ready;     /* a ready is outstanding */
	bool bcast_wanted; /* new entries: append to followers at ready() */
	uint8_t prev_role;
	uint64_t prev_lead;
};

/*
 * Starts a group from its storage (initial_state, first/last index).
 * applied is the caller's applied index (committed entries above it are
 * handed out again). A fresh range is booted by the caller writing a
 * snapshot meta (index RK_RAFT_INIT_INDEX, term RK_RAFT_INIT_TERM, the
 * initial voters) into storage before the first init; a replica created for
 * a message from an unknown range starts with an empty conf and waits for a
 * snapshot. Returns RK_EINVAL for bad options, RK_ECORRUPT for a storage
 * state that contradicts itself.
 */
#define RK_RAFT_INIT_INDEX 5
#define RK_RAFT_INIT_TERM 5
int rk_raft_init(struct rk_raft *r, const struct rk_raft_options *opts,
		 void *storage_ctx, uint64_t id, uint64_t applied,
		 uint64_t seed);
/* Frees every heap block of the group; safe on a zeroed group that was
 * never initialised (a replica whose load failed half way). */
void rk_raft_close(struct rk_raft *r);

void rk_raft_tick(struct rk_raft *r);
/* Messages with a bad shape are ignored and RK_EPROTO returned; a message
 * from a stale term or an unknown peer is ignored by the rules (0). */
int rk_raft_step(struct rk_raft *r, const struct rk_raft_msg *m);
/* Leader only: RK_ENOTLEADER elsewhere (rk_raft_leader() is the hint),
 * RK_EDROPPED while a leadership transfer is under way, RK_EBUSY when the
 * group's memory or uncommitted budget is used up, RK_ETOOBIG for a payload
 * over max_msg_bytes. On success *indexp (if not NULL) is the entry's index. */
int rk_raft_propose(struct rk_raft *r, const void *data, uint32_t len,
		    uint64_t *indexp);
/* Leader only; RK_ESTATE while another change is not yet applied,
 * RK_ECONFCHANGE for a change that would leave no voter, exceed
 * RK_RAFT_MAX_MEMBERS, or otherwise break the rules. */
int rk_raft_propose_conf_change(struct rk_raft *r,
				const struct rk_raft_conf_change *cc,
				uint64_t *indexp);
/* The same with ctx[0..ctx_len) carried in the entry after the change (at
 * most RK_RAFT_CC_CTX_MAX bytes, else RK_EINVAL). The change the core
 * leaves a joint configuration with on its own carries none. */
int rk_raft_propose_conf_change_ctx(struct rk_raft *r,
				    const struct rk_raft_conf_change *cc,
				    const void *ctx, size_t ctx_len,
				    uint64_t *indexp);
/* Applies a committed conf-change entry (in apply order). The new
 * configuration is returned in *csp to be persisted with the apply state. */
int rk_raft_apply_conf_change(struct rk_raft *r,
			      const struct rk_raft_conf_change *cc,
			      struct rk_raft_conf_state *csp);
/* Leader only: releases a read_state for ctx once it is safe. */
int rk_raft_read_index(struct rk_raft *r, uint64_t ctx);
/* The caller's clock stood still for a while (the group slept and was not
 * ticked): any lease measured before is void, so the next reads confirm
 * leadership by a heartbeat round. Leader only; a no-op elsewhere. */
void rk_raft_lease_void(struct rk_raft *r);
/* Out-of-band news from `leader`'s node: it leads this group's current
 * term, and commit is an index it knows this replica's log matches its own
 * up to (its match index for us is at least that: the quiescence
 * handshake). A follower at that term that knows no other leader takes it
 * as it takes a heartbeat it does not answer: it follows `leader`,
 * restarts its election timer, and commits up to commit if its log reaches
 * that far. At most one leader per term, and the commit rule is a
 * heartbeat's: safety is kept. RK_ESTATE otherwise (nothing changed). */
int rk_raft_follow(struct rk_raft *r, uint64_t leader, uint64_t term,
		   uint64_t commit);
/* Out-of-band news that the entry (index, term) of this group's log is
 * committed (a range merge's MERGE carries its right range's FREEZE
 * entry: the right's replicas elsewhere may be gone, and with them
 * anyone to say so). If this replica's log holds that entry, it commits
 * up to index: by log matching its log is the committed one up to there.
 * 0 (also when committed already), RK_ESTATE when its log does not hold
 * the entry (or its term is not at hand without a storage read). */
int rk_raft_commit_known(struct rk_raft *r, uint64_t index, uint64_t term);
/* A leader with lazy_commit tells its followers its commit index now, in
 * the next ready (an append each, empty for one that holds every entry),
 * rather than with the next append or heartbeat: for an entry whose apply
 * on the followers something waits for (a range split's right half needs
 * their votes, which they give once they applied the split). Without
 * lazy_commit the commit went out already. RK_ENOTLEADER if not the
 * leader. */
int rk_raft_send_commit(struct rk_raft *r);
/* Without a clock in the options only (a no-op with one: time passes by
 * itself): the group slept for `ticks` ticks (it was not ticked, and
 * nothing reached it). A follower counts them toward its last contact with
 * the leader, so that once woken it grants a vote as it would have had it
 * been ticked. No-op on a leader or candidate; nothing else changes (the
 * leader stays known, no election timer moves). */
void rk_raft_slept(struct rk_raft *r, uint64_t ticks);
/* Out-of-band news that this replica's leader seems gone (its node stopped
 * answering, or the connection to it was closed or reset): it forgets the
 * leader, so that an election can start, but keeps refusing votes until an
 * election timeout after it last heard from that leader, on its own clock:
 * a cut-off leader still serving reads from its lease is not outvoted
 * before its lease has run out. Follower or pre-candidate only; RK_ESTATE
 * otherwise (nothing changed). */
int rk_raft_forget_leader(struct rk_raft *r);
/* Out-of-band news that this replica's leader is certainly gone or that it
 * never had one: it forgets the leader and grants votes at once instead of
 * waiting out the leader's lease. It starts no election itself. Raft's
 * safety does not rest on this (one vote per term either way); the lease
 * guarantee does, so the caller vouches that no lease of an old leader can
 * still be valid. In rangekv: the leader's node restarted (a new process:
 * the old one, and its leases, are gone), nothing has reached the replica
 * for longer than an election timeout, or the group is brand new. A node
 * that merely stops answering, or whose connection was closed or reset,
 * proves nothing: rk_raft_forget_leader. Follower or pre-candidate only;
 * RK_ESTATE otherwise (nothing changed). */
int rk_raft_leader_lost(struct rk_raft *r);
/* Leader only: hands leadership to `to` (must be a voter). */
int rk_raft_transfer_leader(struct rk_raft *r, uint64_t to);
/* Starts an election now (tests, and a node that wants leadership). */
int rk_raft_campaign(struct rk_raft *r);
/* A range split: r, the right half's new replica, takes over the vote
 * refusal of from, its left neighbour on the same node: it refuses votes
 * at least as long as from does (never shorter than its own), so no
 * right-hand leader is elected while the left's leader, which may not
 * have applied the split yet, can still serve right-half reads from its
 * lease. Call right after rk_raft_init. */
void rk_raft_inherit_lease(struct rk_raft *r, const struct rk_raft *from);
/* Starts an election whose votes are not refused by the voters' leases,
 * as a leadership transfer's are not: for the right half of a split on
 * the node that led the left when the split applied (that leader, whose
 * lease covered the right half, has applied the split: no lease of it is
 * left over the right half). RK_ESTATE when r cannot campaign. */
int rk_raft_campaign_split(struct rk_raft *r);
/* A split campaign again: a candidate sends its vote requests once more in
 * the same term (its term and vote are durable already, so they leave
 * with the next ready without a write: requests that reached voters
 * before they had the right replica were dropped); any other follower
 * campaigns anew as rk_raft_campaign_split. RK_ESTATE as that. */
int rk_raft_campaign_split_again(struct rk_raft *r);
/* The caller writes r's current term, vote and commit (*hsp) itself, in a
 * write that is durable before any message of r's next ready leaves (the
 * split's apply batch, which the right replica's ready waits for): that
 * ready does not report them, and its vote requests leave without a
 * persist of their own. Not while a ready is out. */
void rk_raft_hard_state_taken(struct rk_raft *r, struct rk_raft_hard_state *hsp);
/* Follower only: asks the leader for a snapshot of its applied state,
 * although this replica's log may hold every entry up to there: they are
 * committed, but its state machine cannot apply them (a range merge whose
 * right replica on this node cannot reach its frozen index). Sends
 * SNAP_REQ carrying the applied index + 1; the leader sends a snapshot at
 * that index or beyond as soon as its applied state is there (replicating
 * as usual meanwhile), by the normal snapshot path. A snapshot at an
 * entry this replica's log holds (same index and term) is then handed
 * out with snapshot_keeps_log: the state machine takes it, the log stays
 * (so nothing this replica may have acknowledged is dropped); one the log
 * does not reach replaces the log, as any snapshot. Asking again is
 * harmless (the leader has one snapshot in flight at a time); the caller
 * asks again while it still needs one (a lost message, a leader change).
 * RK_ESTATE when not a follower or no leader is known (nothing sent). */
int rk_raft_request_snapshot(struct rk_raft *r);
/* The index of a snapshot this replica accepted and has not yet
 * installed (handed out in a ready and advanced), 0 if none. */
uint64_t rk_raft_snapshot_pending(const struct rk_raft *r);
/* The transport could not reach `to`: probe it again. */
void rk_raft_report_unreachable(struct rk_raft *r, uint64_t to);
/* A snapshot sent to `to` finished or failed. The caller must report every
 * SNAP message it was handed, once its stream ends either way: until then
 * the leader sends that follower nothing else. */
void rk_raft_report_snapshot(struct rk_raft *r, uint64_t to, bool failed);

bool rk_raft_has_ready(const struct rk_raft *r);
int rk_raft_ready(struct rk_raft *r, struct rk_raft_ready *rdp);
void rk_raft_advance(struct rk_raft *r, const struct rk_raft_ready *rd);

uint64_t rk_raft_leader(const struct rk_raft *r);
/* The index of the last entry of the log (or of the snapshot it begins
 * after), as rk_raft_status's last_index, without filling a status. */
uint64_t rk_raft_last_index(const struct rk_raft *r);
void rk_raft_status(const struct rk_raft *r, struct rk_raft_status *stp);

/* What a caller reads of a group without a full rk_raft_status: the fields
 * of struct rk_raft are private, and these are the only reads from outside
 * src/raft/ (inline: a node asks them of 100,000 groups per scan). */
static inline int rk_raft_role(const struct rk_raft *r)
{
	return r->role;
}

static inline bool rk_raft_is_leader(const struct rk_raft *r)
{
	return r->role == RK_RAFT_LEADER;
}

static inline uint64_t rk_raft_term(const struct rk_raft *r)
{
	return r->term;
}

/* The highest index known committed. */
static inline uint64_t rk_raft_commit(const struct rk_raft *r)
{
	return r->committed;
}

/* Leader only: the node leadership is being handed to, 0 if none. */
static inline uint64_t rk_raft_transferee(const struct rk_raft *r)
{
	return r->lead_transferee;
}

/* Leader only: whether a configuration change is proposed and not yet
 * applied (another is refused with RK_ESTATE until it is). */
static inline bool rk_raft_conf_pending(const struct rk_raft *r)
{
	return r->pending_conf_index > r->applied;
}

/* Leader only: whether it has applied its own term's first entry, and so
 * every entry it inherited. While rk_raft_conf_pending() is true for the
 * tail a leader inherited, this is false too (it says why: not a change
 * under way, a leader not caught up yet); it stays false a moment longer,
 * until the leader's own first entry applies. */
static inline bool rk_raft_lead_settled(const struct rk_raft *r)
{
	return r->lead_first != 0 && r->applied >= r->lead_first;
}

/* Allocation hooks for every group in the process (default: libc). Set
 * before the first group is initialised. */
typedef void *(*rk_raft_realloc_fn)(void *ptr, size_t size);
void rk_raft_set_allocator(rk_raft_realloc_fn fn);

#endif /* RK_RAFT_H */
