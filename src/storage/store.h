/*
 * rk_store: everything a node persists, in one WiredTiger connection.
 *
 * Tables (docs/storage.md has the layout and the durability argument):
 *   raftlog    (range, index) -> entry            logged
 *   raftstate  range -> replica id, hard state, truncation point   logged
 *   tombstone  range -> lowest replica id still allowed             logged
 *   meta       name -> value (format, node id, cluster id, markers) logged
 *   apply      range -> applied index, descriptor    not logged
 *   kv         user key -> header + value            not logged
 *   internal   key -> value (sequences, sessions)    not logged
 *   placement  key -> value (the placement group's state machine,
 *              placement/group.h)                     not logged
 *
 * The placement group (range RK_RANGE_PLACEMENT, desc.h) holds no span:
 * its snapshots carry, its install replaces and its removal clears the
 * whole placement table (snapshot record table 2), not a span of kv and
 * internal.
 *
 * Journal once: the raft log is the journal. Tables that are not logged are
 * durable at checkpoints only; after a crash they are as of the last
 * checkpoint and the node replays the raft log from the applied index found
 * there. Log compaction therefore never passes rk_store_checkpointed_applied().
 *
 * Threads. Writes go through batches submitted to the storage thread, which
 * commits everything queued in one transaction and (when any batch holds
 * raft log or raft state) one log flush, then calls each batch's callback ON
 * THE STORAGE THREAD. Reads go through a reader, one per thread (WiredTiger
 * sessions are single-threaded); a reader sees committed data.
 *
 * Nothing above this module includes wiredtiger.h; every WiredTiger error is
 * translated here (RK_EIO unless a closer code applies).
 */
#ifndef RK_STORE_H
#define RK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "raft.h"
#include "rangekv/error.h"

/* The on-disk format this build writes: 2 since values live apart from the
 * key table (the value log, docs/storage.md); a directory of format 1 is
 * marked 2 when this build first opens it. */
#define RK_STORE_FORMAT 2
/* Values of at least this many bytes go to the value log by default. */
#define RK_STORE_VALUES_APART_MIN 512u

struct rk_store;
struct rk_store_reader;
struct rk_store_batch;

/* WiredTiger block compression of the raft log, kv and internal tables
 * (docs/storage.md "Compression" has what each costs and saves). */
enum rk_store_compression {
	RK_STORE_COMPRESS_NONE,
	RK_STORE_COMPRESS_SNAPPY,
	RK_STORE_COMPRESS_ZLIB,
};
#define RK_STORE_COMPRESS_DEFAULT RK_STORE_COMPRESS_SNAPPY
const char *rk_store_compression_name(enum rk_store_compression c);
/* "none", "snappy" or "zlib"; RK_EINVAL (and none) otherwise. */
int rk_store_compression_parse(const char *s, enum rk_store_compression *cp);

/* What a new directory's key table is (docs/storage.md "The key table as
 * an LSM tree"): a B-tree, whose state-machine tables are durable at
 * checkpoints (journal once), or WiredTiger's LSM tree, whose
 * state-machine tables are logged (with values of RK_STORE_VALUES_APART_MIN
 * bytes and more in the value log, their rows are mostly keys and
 * references). */
enum rk_store_key_table {
	RK_STORE_KEYS_BTREE,
	RK_STORE_KEYS_LSM,
};
#define RK_STORE_KEYS_DEFAULT RK_STORE_KEYS_BTREE
const char *rk_store_key_table_name(enum rk_store_key_table k);
/* "btree" or "lsm"; RK_EINVAL (and btree) otherwise. */
int rk_store_key_table_parse(const char *s, enum rk_store_key_table *kp);

struct rk_store_options {
	const char *dir;
	uint64_t node_id;    /* must match the directory's, once created */
	uint64_t cluster_id; /* 0 = accept the directory's (restart) */
	/* What a new directory records when cluster_id is 0 (0: an id made
	 * from the clock); an existing directory keeps its own. */
	uint64_t new_cluster_id;
	uint64_t cache_mb;   /* WiredTiger cache (default 256) */
	int checkpoint_secs; /* periodic checkpoint (default 30; 0 = none) */
	/* A large table is compacted after a quiet checkpoint when at least
	 * this many of its file's bytes (and a quarter of them) are free
	 * blocks (default 32 MiB; UINT64_MAX: never). docs/storage.md. */
	uint64_t compact_min_bytes;
	bool create;         /* create the directory if missing/empty */
	/* What a new directory's tables are created with; an existing
	 * directory keeps what it was created with (its tables record it). */
	enum rk_store_compression compression;
	/* The same for the key table's kind. */
	enum rk_store_key_table key_table;
	/* Tests only (the node sets it under RANGEKV_TEST_HOOKS): the storage
	 * thread sleeps this long before committing each group, a store that
	 * falls behind its writers. 0 in every real use. */
	uint32_t test_commit_delay_ms;
	/* Values of at least this many bytes are kept in the value log, the
	 * key table holding a reference (default RK_STORE_VALUES_APART_MIN;
	 * 0: every value in the key table). Any mix reads alike. */
	uint32_t values_apart_min;
	/* Tests only: value log segments of at most this many bytes
	 * (0: 64 MiB, the default and the largest). */
	uint32_t test_values_segment_bytes;
	/* Tests only: a new LSM key table's in-memory chunk in KiB (0: 32
	 * MiB, the default; WiredTiger's least is 512), so that a small
	 * test writes chunks out and merges them. */
	uint32_t test_lsm_chunk_kb;
};

void rk_store_options_default(struct rk_store_options *o);

/* Opens (or creates) the data directory. A foreign directory (another node
 * or cluster, or not a rangekv directory), a newer format or a corrupt one
 * is refused with RK_EFOREIGN / RK_EVERSION / RK_ECORRUPT, one another
 * process holds with RK_EBUSY, and a one-line reason in err; nothing is
 * ever repaired silently. A directory whose first start did not complete
 * (it still holds the marker that start made first: nothing in it was ever
 * acknowledged) is created anew (docs/storage.md "The first start"). */
int rk_store_open(const struct rk_store_options *o, struct rk_store **sp,
		  char *err, size_t errlen);
/* Stops the storage thread after the queued batches, checkpoints, closes
 * (after a panic it only stops the thread: see rk_store_panicked). */
void rk_store_close(struct rk_store *s);
/* Whether WiredTiger reported a panic (a full disk can end in one): the
 * store must not be used again, and the process should exit. */
bool rk_store_panicked(const struct rk_store *s);
uint64_t rk_store_cluster_id(const struct rk_store *s);
/* Whether dir holds no data directory yet (missing, empty, or a first
 * open that did not complete): opening it makes a new one. */
bool rk_store_dir_is_new(const char *dir);
/* The compression the directory's tables were created with (none for a
 * directory made before compression existed). */
enum rk_store_compression rk_store_compression(const struct rk_store *s);
/* The kind of key table the directory was created with (a B-tree for a
 * directory made before the choice existed). */
enum rk_store_key_table rk_store_key_table(const struct rk_store *s);

/* ---- batches (writes) ------------------------------------------------------- */

struct rk_store_batch *rk_store_batch_new(void);
void rk_store_batch_free(struct rk_store_batch *b);
bool rk_store_batch_empty(const struct rk_store_batch *b);
/* Bytes of b's encoded operations (about what its commit writes). */
size_t rk_store_batch_bytes(const struct rk_store_batch *b);
/* Nothing in b has to be durable when its callback runs (a raft commit
 * index moved, state machine tables written): its group is committed
 * without a log flush unless another batch of the group needs one. The
 * next flush makes it durable with everything before it (the log is
 * sequential). Call after the last op is added. */
void rk_store_batch_no_sync(struct rk_store_batch *b);

/* A savepoint: rolling back to it removes every op added since, so a
 * caller can build part of a batch (one replica's apply) and take it out
 * again if that part cannot be completed, leaving the rest of the batch
 * as it was. Adding an op never fails; an allocation that fails marks the
 * batch failed (rk_store_batch_failed), its submission then fails with
 * RK_ENOMEM, and a rollback to a mark taken before the failure clears it
 * (a failed allocation leaves the bytes already there untouched). */
struct rk_store_batch_mark {
	size_t len;
	uint32_t n_ops;
	bool oom, needs_sync;
};
void rk_store_batch_mark(const struct rk_store_batch *b,
			 struct rk_store_batch_mark *mp);
void rk_store_batch_rollback(struct rk_store_batch *b,
			     const struct rk_store_batch_mark *m);
bool rk_store_batch_failed(const struct rk_store_batch *b);

/* Raft log: stores entries (overwriting any at the same indexes). An
 * append that conflicts with the stored log (entries[0].index at or below
 * the stored last index) must be preceded, in the same batch, by
 * rk_store_batch_truncate(range, entries[0].index): the caller knows its
 * last index, and the common, non-conflicting append then costs no search. */
void rk_store_batch_append(struct rk_store_batch *b, uint64_t range,
			   const struct rk_raft_entry *ents, size_t n);
/* Removes the stored entries with index >= from. */
void rk_store_batch_truncate(struct rk_store_batch *b, uint64_t range,
			     uint64_t from);
struct rk_store_raft_state {
	uint64_t replica_id;
	struct rk_raft_hard_state hs;
	uint64_t trunc_index; /* last compacted index (its term is known) */
	uint64_t trunc_term;
	struct rk_raft_conf_state conf; /* as of the last applied conf change */
};
void rk_store_batch_raft_state(struct rk_store_batch *b, uint64_t range,
			       const struct rk_store_raft_state *st);
/* Drops log entries <= upto (the caller records the truncation point in the
 * raft state of the same batch). */
void rk_store_batch_compact(struct rk_store_batch *b, uint64_t range,
			    uint64_t upto);
void rk_store_batch_tombstone(struct rk_store_batch *b, uint64_t range,
			      uint64_t min_replica_id);

/* State machine: KV changes and the apply state of the entry that made them
 * go in the same batch, hence the same transaction. */
void rk_store_batch_put(struct rk_store_batch *b, const void *key, size_t klen,
			const void *val, size_t vlen);
void rk_store_batch_del(struct rk_store_batch *b, const void *key,
			size_t klen);
void rk_store_batch_internal_put(struct rk_store_batch *b, const void *key,
				 size_t klen, const void *val, size_t vlen);
void rk_store_batch_internal_del(struct rk_store_batch *b, const void *key,
				 size_t klen);
struct rk_store_apply_state {
	uint64_t applied;
	const void *desc; /* range descriptor, opaque here */
	size_t desc_len;
};
void rk_store_batch_apply_state(struct rk_store_batch *b, uint64_t range,
				const struct rk_store_apply_state *as);
/* The placement table (the placement group's state machine), written
 * with its apply state like any state machine's. */
void rk_store_batch_pl_put(struct rk_store_batch *b, const void *key,
			   size_t klen, const void *val, size_t vlen);
void rk_store_batch_pl_del(struct rk_store_batch *b, const void *key,
			   size_t klen);
/* Clears [start, end) of the kv and internal tables (end empty = to the
 * end of the key space); used by snapshot install and replica removal. */
void rk_store_batch_clear_span(struct rk_store_batch *b, const void *start,
			       size_t slen, const void *end, size_t elen);
void rk_store_batch_meta_put(struct rk_store_batch *b, const char *name,
			     const void *val, size_t vlen);
void rk_store_batch_meta_del(struct rk_store_batch *b, const char *name);

typedef void (*rk_store_done_fn)(void *arg, int rc);

/* Queues b (the store owns it from here). done(arg, rc) runs on the storage
 * thread once b is durable (rc 0) or failed; every batch committed in the
 * same group shares one transaction and one log flush. A transaction that
 * WiredTiger rolls back (RK_EAGAIN: a write conflict, cache pressure) is
 * redone from the batches for up to 30 s before they fail with it. */
int rk_store_submit(struct rk_store *s, struct rk_store_batch *b,
		    rk_store_done_fn done, void *arg);
/* Submits and waits (tests, tools, start-up). */
int rk_store_write(struct rk_store *s, struct rk_store_batch *b);
/* Runs a checkpoint now (on the storage thread) and waits for it. */
int rk_store_checkpoint(struct rk_store *s);
/* Asks for a checkpoint soon without waiting (the event loop's way). */
void rk_store_checkpoint_async(struct rk_store *s);

struct rk_store_stats {
	uint64_t groups;      /* transactions committed */
	uint64_t batches;     /* batches in them */
	uint64_t flushes;     /* log flushes (fsyncs) */
	uint64_t checkpoints;
	uint64_t queued_bytes; /* batches submitted, not yet committed */
	uint64_t compactions;     /* tables compacted (compact.c) */
	uint64_t compacted_bytes; /* file bytes they gave back */
	/* Transactions rolled back by WiredTiger (a write conflict, or cache
	 * pressure) and redone: group commits, and snapshot installs redone
	 * from their staged file (docs/storage.md "Transient rollbacks"). */
	uint64_t commit_retries;
	uint64_t install_retries;
	double flush_p50_s, flush_p99_s; /* group commit latency (flush) */
	/* The value log (docs/storage.md "Values apart from the keys"): its
	 * segments' bytes (retired ones a pinned reader still holds
	 * included), the record bytes its collection copied, and the
	 * segments it emptied and retired (each deleted once no reader pinned
	 * before its retirement remains). */
	uint64_t values_bytes, values_moved_bytes, values_segments_retired;
	/* An LSM key table's, from WiredTiger's statistics as the store's
	 * compaction thread reads them each second (0 for a B-tree, and
	 * until the first read): its chunks, the rows its merges rewrote,
	 * and the microseconds inserts slept in its throttles, which
	 * WiredTiger applies while chunks fill faster than they are written
	 * out or merged. */
	uint64_t lsm_chunks, lsm_rows_merged, lsm_throttle_us;
};
void rk_store_stats(struct rk_store *s, struct rk_store_stats *stp);

/* The disk space the store may still take for what it has been given, an
 * upper bound: batches queued or committed since the checkpoint that is
 * running (or last ran) began, which the next checkpoints write into the
 * tables (freed blocks in them are reused first), and one log file, which
 * WiredTiger allocates whole. A node keeps its free-space floor above the
 * disk's free space less this (space.h): a disk that fills between two
 * readings, or with a checkpoint's writes after writes were refused, must
 * not fail a write of the store. Cheap (one lock): any thread. */
uint64_t rk_store_pending_bytes(struct rk_store *s);

/* ---- reads ------------------------------------------------------------------ */

/* The bytes of the value log's records that rows of the key table refer
 * to, as the committed live-byte counts say (the rest of its segments is
 * garbage that collection gives back). */
int rk_store_values_live(struct rk_store_reader *r, uint64_t *livep);

int rk_store_reader_open(struct rk_store *s, struct rk_store_reader **rp);
void rk_store_reader_close(struct rk_store_reader *r);

int rk_store_read_raft_state(struct rk_store_reader *r, uint64_t range,
			     struct rk_store_raft_state *stp);
/* RK_ENOTFOUND when the range has no apply state. desc points into the
 * reader and stays valid until its next call. */
int rk_store_read_apply_state(struct rk_store_reader *r, uint64_t range,
			      struct rk_store_apply_state *asp);
/* Calls fn(arg, range) for every range with a raft state, in id order,
 * until fn returns non-zero (returned if negative). */
int rk_store_list_ranges(struct rk_store_reader *r,
			 int (*fn)(void *arg, uint64_t range), void *arg);
int rk_store_read_tombstone(struct rk_store_reader *r, uint64_t range,
			    uint64_t *min_replica_idp);
/* Calls fn(arg, range, min_replica_id) for every tombstone, in range
 * order, until fn returns non-zero (returned if negative). */
int rk_store_list_tombstones(struct rk_store_reader *r,
			     int (*fn)(void *arg, uint64_t range, uint64_t min_id),
			     void *arg);
/* Last stored index (trunc_index if the log is empty). */
int rk_store_log_last(struct rk_store_reader *r, uint64_t range,
		      uint64_t trunc_index, uint64_t *lastp);
int rk_store_log_term(struct rk_store_reader *r, uint64_t range,
		      uint64_t index, uint64_t *termp);
/* Calls fn for entries [lo, hi) in order until fn returns non-zero (which
 * stops the walk; negative values are returned). e->data is valid during
 * the call only. RK_EUNAVAILABLE if an entry in the span is missing. */
typedef int (*rk_store_entry_fn)(void *arg, const struct rk_raft_entry *e);
int rk_store_log_entries(struct rk_store_reader *r, uint64_t range,
			 uint64_t lo, uint64_t hi, rk_store_entry_fn fn,
			 void *arg);
/* KV value of key (the header removed). RK_ENOTFOUND when absent. *valp
 * stays valid until the reader's next call. */
int rk_store_get(struct rk_store_reader *r, const void *key, size_t klen,
		 const void **valp, size_t *vlenp);
/* Value of key in the internal table (sequences). RK_ENOTFOUND when
 * absent; *valp as for rk_store_get. */
int rk_store_internal_get(struct rk_store_reader *r, const void *key,
			  size_t klen, const void **valp, size_t *vlenp);
int rk_store_meta_get(struct rk_store_reader *r, const char *name,
		      const void **valp, size_t *vlenp);

/* Applied index of range as of the last completed checkpoint (0 if none):
 * after a crash the state machine tables come back to exactly this point,
 * so log compaction must never pass it (journal once). */
int rk_store_read_durable_applied(struct rk_store_reader *r, uint64_t range,
				  uint64_t *appliedp);

/* A consistent view of [start, end) of the kv and internal tables, walked
 * in key order: fn is called for each pair of the snapshot (table 0 = kv,
 * 1 = internal); it returns non-zero to stop (negative values are
 * returned). The whole walk is one snapshot-isolation transaction: writes
 * committed meanwhile are not seen. When range is not 0, *appliedp gets
 * that range's applied index at the same point (0 if it has none). */
typedef int (*rk_store_pair_fn)(void *arg, int table, const void *key,
				size_t klen, const void *val, size_t vlen);
/* The placement table: a value (as rk_store_get), and a walk of
 * [start, end) in key order (fn's table is 2) until fn returns non-zero
 * (negative values are returned). */
int rk_store_pl_get(struct rk_store_reader *r, const void *key, size_t klen,
		    const void **valp, size_t *vlenp);
int rk_store_pl_walk(struct rk_store_reader *r, const void *start, size_t slen,
		     const void *end, size_t elen, rk_store_pair_fn fn, void *arg);

int rk_store_scan_span(struct rk_store_reader *r, uint64_t range,
		       const void *start, size_t slen, const void *end,
		       size_t elen, rk_store_pair_fn fn, void *arg,
		       uint64_t *appliedp);
/* rk_store_scan_span without the values: fn gets each key table pair's
 * value as NULL with its length (the internal table's with their bytes),
 * and no value is read from the value log (sizes, split points). */
int rk_store_scan_span_lens(struct rk_store_reader *r, uint64_t range,
			    const void *start, size_t slen, const void *end,
			    size_t elen, rk_store_pair_fn fn, void *arg,
			    uint64_t *appliedp);
/* Pins r to the committed state as of now: one snapshot transaction that
 * every later read of r sees (rk_store_scan_span among them: it then opens
 * none of its own), until rk_store_reader_unpin. The snapshot is taken
 * here, by reading range's applied index into *appliedp (0 if it has
 * none), so the reader can be handed to another thread and read there
 * what was committed at this call, whatever commits meanwhile. */
int rk_store_reader_pin(struct rk_store_reader *r, uint64_t range,
			uint64_t *appliedp);
void rk_store_reader_unpin(struct rk_store_reader *r);
/* xxh3-64 over (table, key length, key, value length, value) of every pair
 * of the span, in order, at one consistent point (the range's applied
 * index there in *appliedp). Replicas at one applied index agree. */
int rk_store_checksum_span(struct rk_store_reader *r, uint64_t range,
			   const void *start, size_t slen, const void *end,
			   size_t elen, uint64_t *sump, uint64_t *appliedp);
/* Adds one pair to an xxh3-64 state (an XXH3_state_t) as
 * rk_store_checksum_span does, for hashes that must match its layout. */
void rk_store_checksum_pair(void *xxh3_state, int table, const void *key,
			    size_t klen, const void *val, size_t vlen);

/* ---- replica removal ------------------------------------------------------------ */

/* Removes a replica in one transaction: its raft state, apply state, log,
 * any install marker, and the data of its span; leaves the tombstone. */
void rk_store_batch_remove_replica(struct rk_store_batch *b, uint64_t range,
				   uint64_t min_replica_id, const void *start,
				   size_t slen, const void *end, size_t elen);
/* Drops range's apply state alone (with rk_store_batch_clear_span: what a
 * removal left behind in the tables that are not logged, after a crash). */
void rk_store_batch_apply_del(struct rk_store_batch *b, uint64_t range);
/* The same for a replica that never held data (no span: an uninitialized
 * one), which clears no key. */
void rk_store_batch_remove_uninit(struct rk_store_batch *b, uint64_t range,
				  uint64_t min_replica_id);

/* ---- snapshots ------------------------------------------------------------------ */

/*
 * Installing a snapshot that arrives over the network (docs/storage.md):
 *
 *  1. the receiver stages the chunks in a file (rk_store_snap_*): checksummed
 *     and fsynced by rk_store_snap_finish, so the snapshot survives a crash;
 *  2. one batch makes the install durable: rk_store_batch_install (a marker
 *     naming the file) with the new raft state and log compaction;
 *  3. rk_store_install_run clears the span and writes the staged pairs in
 *     bounded transactions, the apply state last.
 *
 * A crash after step 2 leaves the marker: rk_store_install_pending lists
 * the ranges whose apply state is behind their marker, and running the
 * install again redoes it from the staged file. Until it has run, the range
 * must not serve reads. Markers and files are dropped after the checkpoint
 * that made the install durable.
 */
struct rk_store_snap_meta {
	uint64_t range, index, term;
	const void *start, *end, *desc;
	size_t slen, elen, desc_len;
};
struct rk_store_snap_out;
int rk_store_snap_create(struct rk_store *s, const struct rk_store_snap_meta *m,
			 struct rk_store_snap_out **op);
int rk_store_snap_add(struct rk_store_snap_out *o, int table, const void *key,
		      size_t klen, const void *val, size_t vlen);
/* Seals the file (trailer, checksum, fsync, rename) and frees o; the
 * returned name goes into rk_store_batch_install. */
int rk_store_snap_finish(struct rk_store_snap_out *o, char *name,
			 size_t namelen);
/* Drops an unfinished file. */
void rk_store_snap_abort(struct rk_store_snap_out *o);

/* Sending a range's snapshot: one snapshot transaction reads the apply
 * state (index and descriptor), the configuration persisted with it, the
 * term of the applied entry, and the span, into a sealed staged file of
 * the same format. infop describes it; the file is sent as raw bytes. */
struct rk_store_snap_info {
	uint64_t index, term;
	struct rk_raft_conf_state conf;
	uint64_t bytes; /* file size */
};
int rk_store_snap_generate(struct rk_store_reader *r, uint64_t range,
			   const void *start, size_t slen, const void *end,
			   size_t elen, char *name, size_t namelen,
			   struct rk_store_snap_info *infop);
/* The staged file's path (for reading it out) and its removal. */
int rk_store_snap_path(struct rk_store *s, const char *name, char *path,
		       size_t pathlen);
void rk_store_snap_remove(struct rk_store *s, const char *name);
/* Receiving raw bytes of a file another node generated: created empty,
 * appended to, then sealed (fsync, rename) under its own name. The install
 * verifies its checksum. */
int rk_store_snap_recv_create(struct rk_store *s, uint64_t range,
			      uint64_t index, struct rk_store_snap_out **op);
int rk_store_snap_recv_write(struct rk_store_snap_out *o, const void *p,
			     size_t n);
int rk_store_snap_recv_seal(struct rk_store_snap_out *o, char *name,
			    size_t namelen);

/* The header of staged file name: its range, applied index and apply-state
 * descriptor (appended to desc), read without reading the pairs (their
 * checksum is verified by the install). Not on the event loop. */
int rk_store_snap_head(struct rk_store *s, const char *name, uint64_t *rangep,
		       uint64_t *indexp, struct rk_buf *desc);

void rk_store_batch_install(struct rk_store_batch *b, uint64_t range,
			    uint64_t index, const char *name);
/* Runs (or redoes) the install of range's marker with r's session: never on
 * the event loop. RK_ENOTFOUND without a marker; RK_ECORRUPT if the staged
 * file fails its checksum. A transaction of it that WiredTiger rolls back
 * (a write conflict, cache pressure) redoes the install, for up to 30 s;
 * RK_EAGAIN after that, and running it again later is safe. */
int rk_store_install_run(struct rk_store_reader *r, uint64_t range);
/* Calls fn(arg, range, index) for every install that has not completed. */
int rk_store_install_pending(struct rk_store_reader *r,
			     void (*fn)(void *arg, uint64_t range,
					uint64_t index),
			     void *arg);

#endif /* RK_STORE_H */
