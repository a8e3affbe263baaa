/*
 * Private to the storage layer: the store, its batches' encoding, and the
 * helpers its files share. The only place that includes wiredtiger.h.
 */
#ifndef RK_STORE_INT_H
#define RK_STORE_INT_H

#include <pthread.h>

#include <wiredtiger.h>

#include "le.h"
#include "spin.h"
#include "store.h"
#include "desc.h"

/* A batch is a byte string of operations, replayed in order inside the
 * storage thread's transaction. Integers little endian. */
enum store_op {
	OP_APPEND = 1,     /* range u64, n u32, n x (index, term u64, type, len u32, data) */
	OP_RAFT_STATE = 2, /* range, replica, term, vote, commit, trunc idx, trunc term, conf */
	OP_COMPACT = 3,    /* range, upto */
	OP_TOMBSTONE = 4,  /* range, min replica id */
	OP_PUT = 5,        /* klen u32, key, vlen u32, value */
	OP_DEL = 6,        /* klen u32, key */
	OP_IPUT = 7,
	OP_IDEL = 8,
	OP_APPLY = 9,      /* range, applied, dlen u32, desc */
	OP_CLEAR = 10,     /* slen u32, start, elen u32, end */
	OP_META_PUT = 11,  /* nlen u32, name, vlen u32, value */
	OP_META_DEL = 12,  /* nlen u32, name */
	OP_REMOVE = 13,    /* range, min replica id, clear u64, slen u32, start, elen u32, end */
	OP_TRUNCATE = 14,  /* range, from */
	OP_APPLY_DEL = 15, /* range */
	OP_PPUT = 16,      /* klen u32, key, vlen u32, value (placement table) */
	OP_PDEL = 17,      /* klen u32, key */
};

struct rk_store_batch {
	uint8_t *p;
	size_t len, cap;
	bool oom;
	bool needs_sync; /* holds logged data: a log flush makes it durable */
	uint32_t n_ops;
};

/* The tables, in the order of the cursors of a session. */
enum store_table {
	T_RAFTLOG,
	T_RAFTSTATE,
	T_TOMBSTONE,
	T_META,
	T_APPLY,
	T_KV,
	T_INTERNAL,
	T_PLACEMENT,
	T_VLOG, /* value log segment -> live bytes in it (vgc.c) */
	T_COUNT,
};

extern const char *const store_table_uri[T_COUNT];

/* Changes of the live bytes of value log segments that one transaction
 * makes (vgc.c): written to T_VLOG with it, or dropped with it. */
struct store_vdelta {
	struct store_vdelta_item {
		uint32_t seg;
		int64_t bytes;
	} *v;
	size_t n, cap;
};

/* A WiredTiger session with one cursor per table. */
struct store_session {
	struct rk_store *s;
	WT_SESSION *ws;
	WT_CURSOR *c[T_COUNT];
	uint8_t *scratch; /* value assembly (writer) */
	size_t scratch_cap;
	/* Values read from the value log for a walk (store_walk_table). */
	uint8_t *vbuf;
	size_t vcap;
	/* Puts values of at least s->vlog_min bytes in the value log: the
	 * storage thread's session only (the one that appends to it). */
	bool vwrite;
	struct store_vdelta vd;
};

struct pending {
	struct rk_store_batch *b;
	rk_store_done_fn done;
	void *arg;
	int rc; /* this batch's own outcome when its group had to be split */
	struct pending *next;
};

#define FLUSH_SAMPLES 4096

struct rk_store {
	/* WiredTiger's error reports come here (store.c, wt_handle_error),
	 * which finds the store from it: the first member. */
	WT_EVENT_HANDLER events;
	/* A write failed with ENOSPC (any thread; atomic). WiredTiger may
	 * report such a failure as a panic (WT_PANIC) after the fact: the
	 * error of a commit that failed meanwhile is then RK_ENOSPC, not
	 * corruption. */
	int saw_enospc;
	/* WiredTiger reported a panic (WT_PANIC; any thread; atomic): it must
	 * not be used again, and closing it may hang (rk_store_close). */
	int panicked;
	WT_CONNECTION *conn;
	char *dir;
	struct store_session w; /* the storage thread's */
	uint64_t node_id, cluster_id;
	int checkpoint_secs;
	enum rk_store_compression compression; /* the directory's */
	enum rk_store_key_table key_table;     /* the directory's */
	uint32_t test_commit_delay_ms;
	/* The value log (vlog.h): values of at least vlog_min bytes put by
	 * the storage thread live there, the key table holding a reference
	 * (0: none). */
	struct store_vlog *vlog;
	uint32_t vlog_min;
	uint32_t vlog_seg_max; /* tests: small segments (0: the default) */
	/* Live-byte changes of transactions of other sessions (snapshot
	 * installs clearing a span), for the storage thread's next commit
	 * to write (under mu). */
	struct store_vdelta vext;
	/* What the storage thread's transaction took from vext: back to it
	 * if the transaction does not commit (the storage thread's). */
	struct store_vdelta vtaken;
	struct store_vgc *gc; /* collection of the value log (vgc.c) */
	/* Collection's work (storage thread; read unlocked for statistics):
	 * record bytes copied, segments retired. */
	uint64_t vgc_moved_bytes, vgc_segments;
	/* Checkpoints begun (under mu), and the number of the one the
	 * last successful checkpoint was (ck_begun when it began). */
	uint64_t ck_begun, ck_begun_finished;
	/* A group commit takes queued batches up to this many bytes (at least
	 * one batch): one transaction's changes must fit in the cache, or
	 * WiredTiger rolls it back, and a backlog must not become one. */
	uint64_t group_max_bytes;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* work for the thread */
	pthread_cond_t done_cv; /* checkpoints finished */
	struct pending *head, *tail;
	uint64_t submitted; /* batches queued ever (atomic: polled unlocked) */
	uint64_t taken;     /* s->submitted when the thread last took the queue
			     * (the storage thread's own) */
	struct store_spin spin; /* whether to poll before sleeping (the
				 * storage thread's own) */
	bool stopping;
	/* Checkpoint tickets (under mu): requested, taken by the checkpoint
	 * that is running or last ran (its checkpoint covers every request up
	 * to it), and done (after the storage thread's work that follows a
	 * checkpoint: rk_store_checkpoint returns then). */
	uint64_t ckpt_requested, ckpt_started, ckpt_done;
	int ckpt_rc;

	uint64_t ckpt_bytes; /* committed since the last checkpoint (under mu) */

	/* The checkpoint thread (store.c): checkpoints on a session of its
	 * own, so that group commits go on while one runs. What follows a
	 * checkpoint (dropping install markers, telling the compaction
	 * thread) stays on the storage thread, which alone writes: ck_*
	 * (under mu) hand it over. */
	pthread_t kthread;
	bool kthread_running;
	WT_SESSION *kws;
	pthread_cond_t kcv; /* a checkpoint requested, or stopping */
	uint64_t ck_finished, ck_handled; /* checkpoints finished / followed up */
	uint64_t ck_ticket;  /* ckpt_started of the last finished */
	int ck_rc;           /* its result */
	uint64_t ck_written; /* bytes committed before the ones finished */
	uint64_t ck_running_bytes; /* committed before the one running, 0 when none */
	/* One checkpoint at a time: the checkpoint thread's, and the ones a
	 * compaction takes (WT_SESSION::compact). While a checkpoint runs,
	 * WiredTiger already shows its new tables to checkpoint cursors,
	 * before the checkpoint is complete and durable. */
	pthread_mutex_t ckmu;
	/* Each range's applied index in the last completed checkpoint, by
	 * range (under mu): rk_store_read_durable_applied answers from it,
	 * never from a checkpoint that is still being written. */
	struct store_durable *dur;
	size_t ndur;

	/* The compaction thread (compact.c). */
	uint64_t compact_min_bytes;
	pthread_t cthread;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	bool compact_running, compact_stop, compact_due; /* under cmu */
	uint64_t compact_written; /* the last checkpoint interval's bytes (cmu) */

	/* Statistics (under mu). */
	uint64_t groups, batches, flushes, checkpoints;
	/* An LSM key table's, as the compaction thread last read them from
	 * WiredTiger (compact.c: its LSM statistics open every chunk's
	 * checkpoint, never a read for the loop). */
	uint64_t lsm_chunks, lsm_rows_merged, lsm_throttle_us;
	uint64_t compactions, compacted_bytes;
	/* Transactions redone after a transient rollback (RK_EAGAIN): the
	 * storage thread's (store.c) and snapshot installs' (snap.c). */
	uint64_t commit_retries, install_retries;
	uint64_t queued_bytes; /* of the batches queued or being committed */
	double flush_s[FLUSH_SAMPLES];
	uint64_t n_flush_samples;
};

struct rk_store_reader {
	struct rk_store *s;
	struct store_session ss;
	uint8_t *buf; /* copies handed to the caller */
	size_t cap;
	bool pinned; /* in the snapshot transaction of rk_store_reader_pin */
	uint64_t vpin; /* its pin of the value log (when pinned) */
};

/* A transaction rolled back by WiredTiger (WT_ROLLBACK, RK_EAGAIN: a write
 * conflict, or eviction under cache pressure) is redone, after
 * store_retry_wait's pause: STORE_RETRY_FIRST_MS, doubled each time up to
 * STORE_RETRY_MAX_MS, for up to STORE_RETRY_S in all (store.c). */
#define STORE_RETRY_FIRST_MS 1u
#define STORE_RETRY_MAX_MS 100u
#define STORE_RETRY_S 30.0
void store_retry_wait(uint32_t *wait_msp);
double store_now_s(void); /* CLOCK_MONOTONIC seconds */
/* The size of WiredTiger's log files (its file_max). */
#define STORE_LOG_FILE_MB 16u
/* The key table's leaf page and allocation unit, as WiredTiger
 * configuration values, for tables created from now on (store.c). */
#define STORE_KV_LEAF_MAX "8KB"
#define STORE_KV_ALLOC "1KB"

/* Dirty pages a cache holds before WiredTiger's eviction threads write
 * them (target) and before the threads that write must help (trigger),
 * in MiB whatever the cache's size: what 20% and 50% of the 256 MiB cache
 * were (store.c says why bytes and not a share). */
#define STORE_DIRTY_TARGET_MB 51u
#define STORE_DIRTY_TRIGGER_MB 128u
/* WiredTiger takes those limits as a percentage of the cache:
 * STORE_DIRTY_*_MB of cache_mb, rounded up, between 1 and max_pct. The
 * trigger's is made at least the target's + 1 by the caller. */
unsigned store_dirty_pct(uint64_t cache_mb, uint64_t dirty_mb, unsigned max_pct);
/* A storage group's bytes at most, whatever the cache (store_thread.c). */
#define STORE_GROUP_MAX_BYTES (32u << 20)

/* Translates a WiredTiger return code (0 stays 0). ENOSPC (and EDQUOT, a
 * quota: the same for the user) is RK_ENOSPC. */
int store_err(int wt);
/* A failed write's code, RK_ENOSPC when the disk was seen full (store.c). */
int write_err(struct rk_store *s, int rc);
/* Table t's data-source statistics keys[0..n) (WT_STAT_DSRC_...) into
 * vals[0..n), each 0 on every path that fails (a negative one reads 0). */
int store_stats(WT_SESSION *ws, enum store_table t, const int *keys, uint64_t *vals,
		size_t n);
/* A table's file size and the bytes of free blocks in it (statistics). */
int store_table_space(WT_SESSION *ws, enum store_table t, uint64_t *sizep,
		      uint64_t *freep);
/* The compaction thread: started at open, told of each checkpoint with the
 * bytes committed since the one before, stopped before the close. */
int store_compact_start(struct rk_store *s);
void store_compact_after_checkpoint(struct rk_store *s, uint64_t written);
void store_compact_stop(struct rk_store *s);
/* RK_ENOSPC for errno ENOSPC or EDQUOT, else RK_EIO: a failed write or
 * sync of a file the store manages itself (staged snapshots). */
int store_errno(int e);
int store_session_open(struct rk_store *s, struct store_session *ss);
void store_session_close(struct store_session *ss);
/* Applies one batch's operations with the cursors of ss (inside the
 * caller's transaction). */
int store_apply_batch(struct store_session *ss, const struct rk_store_batch *b);
void *store_thread_main(void *arg);
/* checkpoint.c: the checkpoint thread's body; the follow-up of the
 * checkpoints it finished (storage thread, or close once that is gone). */
void *store_ckpt_main(void *arg);
void store_after_checkpoint(struct rk_store *s);
/* Reads every range's applied index from the last checkpoint (with ckmu
 * held, or before the threads start) into s->dur. */
int store_durable_load(struct rk_store *s, WT_SESSION *ws);
struct store_durable {
	uint64_t range, applied;
};

/* Removes up to max pairs of [s, e) from a bytes-keyed table (max 0: no
 * bound); *removedp counts them. For the key table vd gets the live bytes
 * its rows' values leave in the value log (NULL for the other tables). */
int store_clear_span(WT_CURSOR *c, const uint8_t *s, size_t sl,
		     const uint8_t *e, size_t el, uint64_t max,
		     uint64_t *removedp, struct store_vdelta *vd);
/* Removes every pair of a bytes-keyed table (the placement group's). */
int store_clear_table(struct store_session *ss, int table);
int store_log_remove(struct store_session *ss, uint64_t range, uint64_t from,
		     uint64_t upto, bool prefix);
bool store_past_end(const void *k, size_t kl, const void *e, size_t el);
/* Positions c at the first key >= start (bytes-keyed tables; an empty
 * start is the beginning, which search_near cannot express). */
int store_seek(WT_CURSOR *c, const void *start, size_t slen);
/* Walks [start, end) of one bytes-keyed table of ss: table 0 the key
 * table (its values read from the value log where they live there, or,
 * without values, NULL with their lengths), 1 the internal table, 2 the
 * placement table. */
int store_walk_table(struct store_session *ss, int table, bool values,
		     const void *start, size_t slen, const void *end,
		     size_t elen, rk_store_pair_fn fn, void *arg);
/* The wiredtiger_open configuration that loads every compressor extension
 * found ("extensions=[...]," or ""), and the names of those not found
 * (", "-separated, "" if none) in missing (compress.c). */
void store_extensions(char *config, size_t n, char *missing, size_t mlen);
/* Whether compressor c is usable given store_extensions' missing list. */
bool store_compressor_loaded(const char *missing, enum rk_store_compression c);
int store_decode_apply(const uint8_t *v, size_t n,
		       struct rk_store_apply_state *asp);
/* After a checkpoint (storage thread): drops install markers (and their
 * staged files) that the checkpoint made unnecessary. */
void store_snap_after_checkpoint(struct rk_store *s);
/* At open: removes staged files no marker names (crashed receivers). */
void store_snap_orphans(struct rk_store *s);
/* Install markers: meta rows "install/<range, 16 hex digits>". */
#define INSTALL_PREFIX "install/"
void store_install_name(uint64_t range, char out[32]);


/* Stored raft state: fixed part, then the configuration. */
#define RAFT_STATE_FIXED (6 * 8)
#define RAFT_STATE_MAX (RAFT_STATE_FIXED + 2 + RK_RAFT_MAX_MEMBERS * 9)
size_t store_encode_raft_state(const struct rk_store_raft_state *st, uint8_t *p);
int store_decode_raft_state(const uint8_t *p, size_t len,
			    struct rk_store_raft_state *stp);

/* KV values carry a small versioned header so the format can evolve:
 * version, flags. With KV_F_APART the value is in the value log and the
 * row holds its reference (VLOG_REF_LEN bytes, vlog.h). */
#define KV_HEADER_LEN 2
#define KV_HEADER_VERSION 1
#define KV_F_APART 0x01
#define KV_APART_LEN (KV_HEADER_LEN + 12)

/* ---- values apart (vgc.c) ---- */

/* Adds bytes (negative: removes) to segment seg's live bytes in d. */
int store_vdelta_add(struct store_vdelta *d, uint32_t seg, int64_t bytes);
/* Notes that a kv row (its key kl bytes, its value v) is going away or
 * being replaced: its record's bytes leave its segment's live bytes (a
 * row with the value in place: nothing). RK_ECORRUPT for a row without a
 * valid header. */
int store_vdelta_drop_row(struct store_vdelta *d, size_t kl, const uint8_t *v,
			  size_t vl);
/* The end of a storage thread transaction that rc says succeeded so far:
 * the value log's new records made durable before the rows that refer to
 * them, the live-byte changes written (its own and those other sessions
 * left in s->vext), drop_seg's row removed (0: none), committed; or rolled
 * back (s->vext's changes kept for the next). Returns the outcome. */
int store_vtxn_end(struct store_session *ss, int rc, uint32_t drop_seg);
/* After a transaction of another session committed (ok) or rolled back:
 * its changes go to s->vext, or are dropped. */
void store_vdelta_hand_over(struct store_session *ss, bool ok);
/* The value of a kv row (v, vl, header included) for a reader: in place,
 * or copied from the value log into *bufp (*capp). */
int store_kv_value(struct rk_store *s, const void *k, size_t kl,
		   const uint8_t *v, size_t vl, uint8_t **bufp, size_t *capp,
		   const uint8_t **valp, size_t *vlenp);
/* The value's length alone, without reading the value log. */
int store_kv_value_len(const uint8_t *v, size_t vl, size_t *vlenp);
/* Collection (storage thread): one slice of work if any is due; returns
 * whether more is waiting. After each successful checkpoint: picks
 * segments to collect and retires emptied ones the checkpoint made safe. */
bool store_vgc_slice(struct rk_store *s);
void store_vgc_after_checkpoint(struct rk_store *s, uint64_t begun);
int store_vgc_open(struct rk_store *s);
void store_vgc_close(struct rk_store *s);

#endif
