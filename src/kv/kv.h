/*
 * rk_kv: the replicated commands of a range and the client sessions that
 * make them apply exactly once.
 *
 * A command (struct rk_kv_cmd) is encoded once by whoever receives it from
 * a client; the same bytes travel to the range leader, go into a raft entry
 * and come out on every replica, where rk_kv_apply_entry() applies them to
 * the storage batch of that ready. Reads (GET, EXISTS, SCAN) use the same
 * encoding but never enter the log: the leader serves them with
 * rk_kv_read() once a read barrier says its applied state is recent enough.
 *
 * Results are RESP reply fragments (":5\r\n", "+OK\r\n", "$-1\r\n", ...):
 * they are what the client gets, they are what a session records, and they
 * travel back over the transport as they are.
 *
 * Exactly once (the Raft dissertation, 6.3): a write carries a session id
 * (one per node process), a sequence number, and the lowest sequence number
 * of that session still waiting for an answer. A range keeps, per session,
 * the results of the writes at or above that mark; a write seen again (a
 * retry after a lost reply or a leader change) gets its first result and is
 * not applied twice. The session table is part of the range's apply state:
 * it is written with every apply batch, travels in snapshots and is there
 * again after a restart.
 *
 * Sessions expire by the range's replicated clock (rk_kv_sessions.now_ms):
 * the highest timestamp of the entries applied, each stamped by its
 * proposer (rk_kv_clock_stamp) and read back from the log, so every replica
 * drops the same sessions at the same index. A stamp is never a wall-clock
 * reading: it is the replicated clock the leader had applied when it began
 * stamping in its term, plus what its monotonic clock measured since. So:
 *  - a node whose wall clock is wrong or steps (an hour ahead, NTP) changes
 *    nothing, and nodes' clocks are never compared with each other;
 *  - by induction over the log, every stamp is an applied clock value plus
 *    the time one node measured after that value was applied: the clock
 *    never runs ahead of real time, so a session expires only once it has
 *    written nothing for at least RK_KV_SESSION_TTL_MS of real time, far
 *    longer than a router retries a write (--request-timeout);
 *  - it may run behind (leaderless gaps, a new leader's applied clock lags
 *    its predecessor's stamps, a suspended machine's monotonic clock
 *    stops): sessions then live longer, which costs memory, never
 *    exactly-once;
 *  - restarts: the clock is part of the apply state, and a restarted node's
 *    leadership begins a new term, hence a new origin from the applied
 *    clock.
 *
 * Encoding (little endian):
 *   entry: u8 version (1), u64 timestamp ms, u32 count,
 *          count x (u32 length, command)
 *   command: u8 op, u8 mode, u64 session, u64 seq, u64 first_incomplete,
 *            i64 n, u32 nargs, nargs x (u32 length, bytes)
 * Decoders refuse anything malformed with RK_EPROTO: entries come from disk
 * and commands from the network.
 */
#ifndef RK_KV_H
#define RK_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "rangekv/error.h"

struct rk_store_batch;
struct rk_store_reader;

#define RK_KV_MAX_KEY 4096
#define RK_KV_MAX_VALUE (1024 * 1024)
#define RK_KV_MAX_SEQ_COUNT 1000000
#define RK_KV_SCAN_MAX 10000
/* A session not heard from for this long (replicated time) is forgotten. */
#define RK_KV_SESSION_TTL_MS (60ull * 60 * 1000)

enum rk_kv_op {
	RK_KV_GET = 1,    /* args: key                       -> bulk or nil */
	RK_KV_EXISTS = 2, /* args: keys                      -> count */
	RK_KV_SCAN = 3,   /* args: start, end; n limit       -> flat array */
	RK_KV_PUT = 4,    /* args: k v [k v ...]; mode       -> +OK or nil */
	RK_KV_DEL = 5,    /* args: keys                      -> count */
	RK_KV_CAS = 6,    /* args: key, expected, new        -> 1 or 0 */
	RK_KV_INCR = 7,   /* args: key; n delta              -> new value */
	RK_KV_SEQ = 8,    /* args: name; n count             -> first id */
	/* A replica checksum (rk_kv_applier.check): never from a client;
	 * args: the check id (u64 LE); n the proposing node -> +OK */
	RK_KV_CHECK = 9,
	/* One connection's writes to one range, in order, as one command
	 * (docs/client.md, "Ordering on a connection"): args are whole
	 * encoded commands (writes, session 0, no batch inside); the batch's
	 * own session fields make it apply exactly once as a whole. It
	 * routes by its first command's key (rk_kv_cmd_key); a key of any of
	 * them outside the span refuses all of them. -> "B", then for each
	 * command in order u32 length + its reply (rk_kv_batch_reply) */
	RK_KV_BATCH = 10,
	/* A range split (rk_kv_split_encode): never from a client -> +OK,
	 * or an error reply when every replica refuses it alike. */
	RK_KV_SPLIT = 11,
	/* Range merge (rk_kv_merge_encode; docs/node.md "Range merge"),
	 * never from a client -> +OK, or an error reply when every replica
	 * refuses it alike. FREEZE and UNFREEZE go in the right range's log,
	 * MERGE and MERGE_ABORT in the left's. */
	RK_KV_FREEZE = 12,
	RK_KV_MERGE = 13,
	RK_KV_MERGE_ABORT = 14,
	RK_KV_UNFREEZE = 15,
};

static inline bool rk_kv_op_is_merge(int op)
{
	return op >= RK_KV_FREEZE && op <= RK_KV_UNFREEZE;
}

/* The most commands and bytes one batch carries (the router's side). */
#define RK_KV_BATCH_MAX 4096
#define RK_KV_BATCH_BYTES (1u << 20)

enum rk_kv_put_mode { RK_KV_PUT_ALWAYS = 0, RK_KV_PUT_NX = 1, RK_KV_PUT_XX = 2 };

/* What a SCAN (args start, end; n the limit, at most RK_KV_SCAN_MAX)
 * answers, by its mode:
 *  PAIRS  the flat array k1 v1 k2 v2 ... of [start, end) clipped to the
 *         range's span (KRANGE);
 *  KEYS   [next, k1, k2, ...]: the keys only;
 *  COUNT  [next, :count]: how many keys, none sent.
 * next is where the walk of [start, end) goes on: the key just after the
 * last one examined when the limit stopped it, else the end of what this
 * range could answer (the request's end or the range's end, whichever
 * comes first; empty = the end of the key space). The caller continues
 * from next with no knowledge of range boundaries of its own, so a stale
 * routing table cannot make it skip keys. In these two modes a start
 * outside the range's span is RK_ERANGE (the router looks the range up
 * again) rather than clipped. */
enum rk_kv_scan_mode {
	RK_KV_SCAN_PAIRS = 0,
	RK_KV_SCAN_KEYS = 1,
	RK_KV_SCAN_COUNT = 2,
};

struct rk_kv_cmd {
	uint8_t op, mode;
	uint64_t session, seq, first_incomplete; /* session 0: no record */
	int64_t n;
	uint32_t nargs;
	/* Decoded: args in place (walk with rk_kv_arg_next). */
	const uint8_t *args;
	size_t args_len;
};

static inline bool rk_kv_op_is_read(int op)
{
	return op == RK_KV_GET || op == RK_KV_EXISTS || op == RK_KV_SCAN;
}

/* ---- encoding ---------------------------------------------------------- */

/* Starts a command in out; add its arguments, then finish. */
void rk_kv_cmd_begin(struct rk_buf *out, const struct rk_kv_cmd *c);
void rk_kv_cmd_arg(struct rk_buf *out, const void *p, size_t len);
/* Sets the argument count of the command begun at offset start. */
void rk_kv_cmd_finish(struct rk_buf *out, size_t start, uint32_t nargs);

int rk_kv_cmd_decode(const uint8_t *p, size_t len, struct rk_kv_cmd *cp);
/* Iterates the arguments: *offp starts at 0. RK_ENOTFOUND at the end. */
int rk_kv_arg_next(const struct rk_kv_cmd *c, size_t *offp,
		   const uint8_t **pp, size_t *lenp);
/* Iterates the keys of a command other than a batch (every argument of
 * DEL and EXISTS, PUT's every other one, the first of the others): *offp
 * and *ip start at 0. RK_ENOTFOUND at the end. */
int rk_kv_key_next(const struct rk_kv_cmd *c, size_t *offp, uint32_t *ip,
		   const uint8_t **pp, size_t *lenp);
/* The key that routes the command: its first argument; a batch's, its
 * first command's. */
int rk_kv_cmd_key(const struct rk_kv_cmd *c, const uint8_t **pp, size_t *lenp);
/* Whether every command of a batch is op (false for a malformed one). */
bool rk_kv_batch_all(const struct rk_kv_cmd *c, int op);
/* Walks a batch's reply: the reply of its next command in *pp, *lenp;
 * *offp starts at 0. RK_ENOTFOUND at the end, RK_EPROTO if reply is not
 * a batch's reply (a whole-batch answer such as an error) or is cut. */
int rk_kv_batch_reply(const uint8_t *reply, size_t len, size_t *offp,
		      const uint8_t **pp, size_t *lenp);

/* An entry of several commands, built in out. */
void rk_kv_entry_begin(struct rk_buf *out, uint64_t ts_ms);
void rk_kv_entry_add(struct rk_buf *out, const void *cmd, size_t len);
void rk_kv_entry_finish(struct rk_buf *out, uint32_t count);
/* Walks an entry: its timestamp in *tsp, then each command, decoded, to fn
 * (a non-zero return stops the walk and is returned). RK_EPROTO, with
 * nothing passed to fn, for a malformed entry. fn may be NULL: the entry
 * is only checked. */
int rk_kv_entry_walk(const uint8_t *p, size_t len, uint64_t *tsp,
		     int (*fn)(void *arg, uint32_t no, const struct rk_kv_cmd *c),
		     void *arg);

/* ---- sessions ---------------------------------------------------------- */

struct rk_kv_result_rec {
	uint64_t seq;
	uint8_t *resp;
	uint32_t len;
};

struct rk_kv_session {
	uint64_t id;
	uint64_t last_ms;          /* replicated time of its last write */
	uint64_t first_incomplete; /* highest mark seen */
	struct rk_kv_result_rec *recs;
	size_t n, cap;
};

struct rk_kv_sessions {
	struct rk_kv_session *v;
	size_t n, cap;
	uint64_t now_ms; /* the replicated clock: highest entry timestamp (above) */
	/* Non-zero: the range is frozen for a merge into this left range id
	 * (a FREEZE applied, no UNFREEZE since): it applies no command but
	 * CHECK and UNFREEZE. Replicated state, so it lives here, in the
	 * table every apply batch and snapshot carries. */
	uint64_t frozen;
	/* Until this replicated time, no session's first_incomplete is
	 * raised (so nothing is pruned or called answered by it): set by a
	 * merge (rk_kv_sessions_union), because a router's mark is per range
	 * and a write it still retries for the merged-away right may lie
	 * below the mark of a later write it sent the left. 0: none. */
	uint64_t marks_held_until;
};

/* How long a merge holds the marks: above any router's retry window
 * (--request-timeout, 5 s by default). */
#define RK_KV_MERGE_HOLD_MS 10000

/* The stamping side of the replicated clock: what a leader of a range keeps
 * to stamp the entries it proposes. Zeroed: nothing stamped yet.
 *
 * A stamp is the replicated clock the leader had applied when it started
 * stamping in its term (its origin), plus the time its own monotonic clock
 * has measured since; if the applied clock has meanwhile gone past that (an
 * entry of the previous leader applied late), the origin moves up to it. No
 * wall clock is read anywhere, and the readings of different nodes'
 * clocks are never compared: only one node's differences are used. */
struct rk_kv_clock {
	bool started;
	uint64_t term;      /* the term it stamps for */
	uint64_t base_ms;   /* the replicated clock at the origin */
	uint64_t origin_ms; /* the leader's local clock at the origin */
};

/* The timestamp for an entry the leader proposes now in term: applied_ms is
 * the replicated clock of its replica (its sessions' now_ms), local_ms a
 * reading of its monotonic clock (any origin; CLOCK_MONOTONIC in the node).
 * Never below applied_ms; a reading below the origin's (not a monotonic
 * clock) restarts the origin rather than move anything backwards. */
uint64_t rk_kv_clock_stamp(struct rk_kv_clock *c, uint64_t term,
			   uint64_t applied_ms, uint64_t local_ms);

void rk_kv_sessions_free(struct rk_kv_sessions *s);
/* Appends the table to out; decode replaces *s (RK_EPROTO if malformed, s
 * then empty). */
void rk_kv_sessions_encode(const struct rk_kv_sessions *s, struct rk_buf *out);
int rk_kv_sessions_decode(const uint8_t *p, size_t len, struct rk_kv_sessions *s);
size_t rk_kv_sessions_count(const struct rk_kv_sessions *s);

/* ---- applying ---------------------------------------------------------- */

/* Where apply reads and writes: committed data through the reader, this
 * batch's own earlier writes through an overlay (a ready may apply several
 * entries touching one key before anything is committed). */
struct rk_kv_overlay;
struct rk_kv_split;
struct rk_kv_merge;

/* What a command applied to a frozen range answers (without the frozen
 * hook): retryable, it was certainly not applied. */
#define RK_KV_FROZEN_REPLY "-TRYAGAIN the range is frozen for a merge\r\n"
/* The reply to a write whose sequence number is below its session's first
 * incomplete one (the router said it no longer waits for it). */
#define RK_KV_DUPLICATE_REPLY "-ERR duplicate of an answered request\r\n"

struct rk_kv_applier {
	struct rk_store_reader *reader;
	struct rk_store_batch *batch;
	struct rk_kv_overlay *ov;
	struct rk_kv_sessions *sessions;
	const uint8_t *start, *end; /* the range's span; end empty = unbounded */
	size_t slen, elen;
	/* Fault injection of tests: called before each command is run (not
	 * for a duplicate answered from its session record); a non-zero
	 * return fails the entry's apply with that code, as a store read
	 * error or a failed allocation would. NULL outside tests. */
	int (*fault)(void *arg);
	void *fault_arg;
	/* Called when a CHECK command applies, between the commands before it
	 * and after it: what it captures (rk_kv_check_capture) is the range's
	 * state at exactly that point. A non-zero return fails the entry's
	 * apply as fault does. NULL: CHECK changes nothing and answers +OK. */
	int (*check)(void *arg, const struct rk_kv_cmd *c);
	void *check_arg;
	/* Called when a SPLIT command applies (well formed; the descriptor
	 * checks are the callee's, rk_kv_split_descs): *refusedp = 0 when it
	 * split the range, else the RK_E... code every replica refuses it
	 * with (the reply is then an error naming it). The callee sets
	 * start/end to the shrunk span before it returns: the commands after
	 * the SPLIT in the entry see it. A non-zero return fails the entry's
	 * apply as fault does. NULL: SPLIT is refused (RK_ESTATE). */
	int (*split)(void *arg, const struct rk_kv_split *s, int *refusedp);
	void *split_arg;
	/* Called (with rk_kv_apply_entry's arg) instead of its result function
	 * for a command not applied because a key of it lies outside the
	 * span at this entry: key is that key (valid during the call). Every
	 * replica holds the same span at the same index, so none applies it,
	 * and nothing is recorded in its session: it was not applied, and its
	 * router sends it, same sequence, to the range that holds the key.
	 * NULL: the result function gets an error reply instead (still not
	 * applied, not recorded). */
	void (*outside)(void *arg, uint32_t no, const uint8_t *key, size_t klen);
	/* Called for a merge command (FREEZE, MERGE, MERGE_ABORT, UNFREEZE;
	 * well formed, the descriptor checks are the callee's:
	 * rk_kv_freeze_check, rk_kv_merge_desc): *refusedp = 0 when it took
	 * effect, else the RK_E... code every replica refuses it with. On
	 * FREEZE and UNFREEZE that took effect the applier sets and clears
	 * sessions->frozen itself; on MERGE the callee unions the right's
	 * sessions into *sessions (rk_kv_sessions_union) and sets start/end
	 * to the merged span before it returns. A non-zero return fails the
	 * entry's apply as fault does. NULL: every merge command is refused
	 * (RK_ESTATE). */
	int (*merge)(void *arg, int op, const struct rk_kv_merge *m, int *refusedp);
	void *merge_arg;
	/* Called (with rk_kv_apply_entry's arg) instead of its result
	 * function for a command not applied because the range is frozen
	 * (sessions->frozen): not applied, not recorded, so the router may
	 * send it again, same sequence (to the merged left range once the
	 * merge applied). NULL: the result function gets the reply
	 * RK_KV_FROZEN_REPLY. */
	void (*frozen)(void *arg, uint32_t no);
	/* What the commands applied so far did to the bytes of the span's
	 * user keys and values, cumulative (the caller takes differences):
	 * exact where the command read the value it replaced or deleted (DEL,
	 * CAS, INCR, SET NX); a SET that did not read it counts as a new key,
	 * and its bytes also go to size_unsure (an overwrite counts too much
	 * by the old key and value). An entry applied again after a failed
	 * attempt counts twice: take differences only around an apply that
	 * succeeded. */
	int64_t size_delta;
	uint64_t size_unsure;
	/* The last write answered as a duplicate of an answered request (its
	 * sequence number below its session's first incomplete one): how many
	 * so far, cumulative, and that one's session, sequence number and the
	 * session's first incomplete (the caller logs it). */
	uint64_t dups, dup_session, dup_seq, dup_first;
};

/* Called for each command of an entry in order: its number in the entry
 * and its reply (valid during the call). */
typedef void (*rk_kv_result_fn)(void *arg, uint32_t no, const uint8_t *resp,
				size_t len);

int rk_kv_applier_init(struct rk_kv_applier *a);
/* Forgets the overlay: call once the batch it shadowed is committed. */
void rk_kv_applier_reset(struct rk_kv_applier *a);
void rk_kv_applier_close(struct rk_kv_applier *a);

/* Applies one entry's commands. A malformed entry (none is ever proposed)
 * is skipped whole and RK_EPROTO returned; every replica skips it alike.
 * Any other error leaves the entry half applied: the batch, the overlay
 * and the session table hold the commands before the one that failed, so
 * the caller must throw all three away (rk_store_batch_rollback, reset,
 * the session table reloaded) before it applies anything again. */
int rk_kv_apply_entry(struct rk_kv_applier *a, const uint8_t *data, size_t len,
		      rk_kv_result_fn fn, void *arg);

/* Serves a read command from committed data (the caller has made sure the
 * applied state is recent enough). The reply is appended to out. A key of
 * GET or EXISTS outside [start, end) is RK_ERANGE, an empty or too long one
 * RK_EPROTO, nothing appended (SCAN is clipped to the span instead). */
int rk_kv_read(struct rk_store_reader *r, const struct rk_kv_cmd *c,
	       const uint8_t *start, size_t slen, const uint8_t *end,
	       size_t elen, struct rk_buf *out);

/* Whether key lies in [start, end) (end empty = unbounded). */
bool rk_kv_in_span(const uint8_t *k, size_t kl, const uint8_t *start,
		   size_t slen, const uint8_t *end, size_t elen);

/* ---- replica checksums (check.c) ------------------------------------------ */

/* A CHECK command: one argument, the check id; n the proposing node. */
void rk_kv_check_encode(struct rk_buf *out, uint64_t check_id, uint64_t node_id);
/* RK_EPROTO unless c is a well-formed CHECK. */
int rk_kv_check_decode(const struct rk_kv_cmd *c, uint64_t *check_idp,
		       uint64_t *node_idp);

/* What a replica's checksum needs from the loop at the moment a CHECK
 * applies: the writes of the ready applied before it that are not
 * committed yet (the overlay's pairs inside the span, sorted), the session
 * table as it is then (encoded), and the span. The committed rest is read
 * later from a storage snapshot taken before the apply batch commits
 * (rk_store_reader_pin), off the loop. */
struct rk_kv_check_data;
int rk_kv_check_capture(const struct rk_kv_applier *a,
			struct rk_kv_check_data **dp);
void rk_kv_check_data_free(struct rk_kv_check_data *d);
/* xxh3-64 over the span's pairs (kv table, then the internal table:
 * sequences; each as table, key length, key, value length, value, in key
 * order) of the committed state r is pinned at with d's uncommitted writes
 * laid over it, then the session table. Replicas at one applied index
 * agree. Any thread; r is that thread's. */
int rk_kv_checksum(struct rk_store_reader *r, const struct rk_kv_check_data *d,
		   uint64_t *sump);

/* ---- range split (split.c) ----------------------------------------------- */

/* A SPLIT command: args the split key; u64 LE the new (right) range's id;
 * u64 LE the left descriptor's generation and u64 LE its configuration
 * version as proposed against; u64 LE x k the right replicas' ids, one per
 * replica of the left in its replica order (the right replica with ids[i]
 * lives on the node of the left's i-th replica); then, only when not 0,
 * u8 the right descriptor's flags (RK_DESC_F_*: an automatic split's right
 * half is marked so, desc.h; a split without them is the 5-argument
 * command of earlier releases). session 0, mode 0, n 0. The pointers of a
 * decoded split point into the command. */
struct rk_kv_split {
	const uint8_t *key;
	size_t klen;
	uint64_t right_id, generation, conf_version;
	uint8_t n_ids;
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	uint8_t flags;
};
void rk_kv_split_encode(struct rk_buf *out, const struct rk_kv_split *s);
/* RK_EPROTO (and *sp zeroed) unless c is a well-formed SPLIT. */
int rk_kv_split_decode(const struct rk_kv_cmd *c, struct rk_kv_split *sp);
/* The two descriptors s makes of left, pure: the left shrunk to [start,
 * key) with generation + 1 and its flags, the right [key, end) with range
 * id right_id, the same generation, configuration version 1, the flags of
 * s, the left's nodes and roles with the replica ids of s. Refused (nothing changed) with RK_ESTATE when
 * left is not the descriptor s was proposed against or is a joint
 * configuration, RK_ERANGE unless start < key < end, RK_EINVAL for a
 * range id of 0 or the left's own, or replica ids not one per replica,
 * non-zero and increasing; RK_ENOMEM. leftp may be left itself. */
int rk_kv_split_descs(const struct rk_desc *left, const struct rk_kv_split *s,
		      struct rk_desc *leftp, struct rk_desc *rightp);
/* Replaces *dst by a copy of src (the right range's sessions: a write
 * retried on a right-half key after the split is answered from its
 * record). RK_ENOMEM leaves dst empty. */
int rk_kv_sessions_copy(struct rk_kv_sessions *dst,
			const struct rk_kv_sessions *src);

/* ---- range merge (merge.c) ------------------------------------------------ */

/* A merge command; op one of FREEZE, MERGE, MERGE_ABORT, UNFREEZE. It
 * names both ranges and the descriptors it was proposed against (their
 * generation and configuration version). MERGE also carries the index of
 * the right's FREEZE in the right's log (a left replica applies it only
 * once its right replica has applied that far) and the right's end, the
 * merged span's end (empty: unbounded), and the FREEZE entry's term (a
 * left replica whose right replica holds that entry knows it committed).
 * session 0, mode 0, n 0; args: 8 x u64 LE (left_id, right_id, left
 * generation, left configuration version, right generation, right
 * configuration version, frozen index, frozen term), then the end. The pointers of a decoded one point into the command. */
struct rk_kv_merge {
	uint8_t op;
	uint64_t left_id, right_id;
	uint64_t left_gen, left_conf, right_gen, right_conf;
	uint64_t frozen_index, frozen_term;
	const uint8_t *end;
	size_t elen;
};
void rk_kv_merge_encode(struct rk_buf *out, const struct rk_kv_merge *m);
/* RK_EPROTO (and *mp zeroed) unless c is a well-formed merge command:
 * two distinct non-zero range ids; for MERGE, a frozen index. */
int rk_kv_merge_decode(const struct rk_kv_cmd *c, struct rk_kv_merge *mp);
/* Whether both ranges have the same replica set: the same nodes, each
 * with the same role (replica ids may differ), and neither is a joint
 * configuration. */
bool rk_kv_merge_same_replicas(const struct rk_desc *left,
			       const struct rk_desc *right);
/* Whether FREEZE (or UNFREEZE) m applies to the right range's descriptor
 * right: 0, or RK_ESTATE when right is not the range or descriptor m was
 * proposed against. */
int rk_kv_freeze_check(const struct rk_desc *right, const struct rk_kv_merge *m);
/* The merged descriptor, pure: left absorbs right's span with generation
 * max(left, right) + 1, its replicas and configuration version as they
 * are. Refused (nothing changed) with RK_ESTATE when either is not the
 * descriptor m was proposed against (a merge applied again is refused
 * here: the left's generation moved), RK_ERANGE unless right starts
 * where left ends and ends at m's end, RK_EINVAL unless they have the
 * same replica set (rk_kv_merge_same_replicas); RK_ENOMEM. mergedp may be
 * left itself. */
int rk_kv_merge_desc(const struct rk_desc *left, const struct rk_desc *right,
		     const struct rk_kv_merge *m, struct rk_desc *mergedp);
/* MERGE_ABORT m on the left's descriptor: the generation + 1 (so the
 * MERGE proposed against the old one can never apply), nothing else.
 * RK_ESTATE when left is not the descriptor m was proposed against. */
int rk_kv_merge_abort_desc(struct rk_desc *left, const struct rk_kv_merge *m);
/* Adds src's sessions to dst, per session id: the highest last_ms, the
 * lower first_incomplete (a router's mark is per range: the higher one
 * would take a write still waiting for the other range for answered), the
 * records of both (one per sequence number); now_ms the higher clock; the
 * marks held for RK_KV_MERGE_HOLD_MS from then (a write still waiting for
 * the right may lie below the mark of a later one sent the left). dst's
 * frozen mark is kept. A write applied on either range and retried on the merged one is
 * answered from its record. RK_ENOMEM leaves dst a valid table that may
 * miss some of src's sessions (the caller fails the apply). */
int rk_kv_sessions_union(struct rk_kv_sessions *dst,
			 const struct rk_kv_sessions *src);

/* Parses a Redis-style integer (optional '-', digits, no spaces or leading
 * zeros, fits int64). */
bool rk_kv_parse_i64(const uint8_t *p, size_t len, int64_t *vp);

#endif
