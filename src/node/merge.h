/*
 * Range merge on a node (docs/node.md "Range merge"): the call
 * (POST /api/v1/merge?left=ID[&right=RID]) on the left range's leader,
 * which leads the right range too, and every replica's apply of the four
 * merge commands (kv.h, src/kv/merge.c).
 *
 * The steps: FREEZE in the right's log (from its apply on the right
 * serves nothing: writes and reads answer NOT_LEADER without a leader
 * hint, so routers retry), then MERGE in the left's log carrying the
 * right's frozen index. A left replica applies the MERGE only once its
 * own right replica has applied that index (rk_merge_hold: the left's
 * ready waits, woken by the right's commit, no polling); then one storage
 * transaction, the left's apply batch, holds the left's descriptor grown
 * over both spans, the sessions' union, and the right's gone mark (its
 * apply state: its descriptor without replicas). The right's logged
 * states (raft state, log, tombstone) are removed once that batch is
 * checkpointed (life.c); its data, now the left's, stays. Not applied
 * within 3 x --request-timeout of the FREEZE, the
 * call proposes MERGE_ABORT in the left's log and, once that applied and
 * took effect, UNFREEZE in the right's.
 *
 * Replay (journal once): the right's gone mark and the left's new
 * descriptor are in one transaction of the tables durable at
 * checkpoints, and nothing logged of the right changes before that is
 * checkpointed, so after a kill -9 either the left is before the merge
 * (the right is there with its log, and the left applies the MERGE
 * again) or after it (the right is marked gone). A replica marked gone,
 * or whose span a newer local descriptor covers, is removed at start
 * (rk_merge_drop_stale).
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_MERGE_H
#define RK_NODE_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "kv.h"
#include "prom.h"

struct rk_node;
struct rk_replica;
struct rk_store_batch;
struct rk_merge_op;
struct rk_raft_ready;

struct rk_merge_frozen {
	uint64_t range, since_ms; /* since this node saw it frozen (loop clock) */
};

/* A left replica whose MERGE waits for its right replica here. */
struct rk_merge_wait {
	uint64_t range;    /* the left's */
	uint64_t index;    /* the MERGE entry's: done once applied */
	uint64_t since_ms; /* waiting since (loop clock) */
	uint64_t asked_ms; /* the last snapshot asked for (0: none) */
};

struct rk_merge {
	struct rk_merge_op *ops; /* calls under way; few */
	/* Left replicas waiting for their right: looked at by
	 * rk_merge_tick, so that one waiting past RK_MERGE_WAIT_MS asks for
	 * a snapshot. */
	struct rk_merge_wait *waits;
	size_t n_waits, cap_waits;
	uint64_t snaps_asked; /* snapshot requests of left replicas */
	/* Local replicas frozen for a merge, watched so that one whose merge
	 * no call completes (its caller's node died, a restart) is abandoned
	 * after 3 x --request-timeout (rk_merge_tick). */
	struct rk_merge_frozen *frozen;
	size_t n_frozen, cap_frozen;
	uint64_t watch_ms; /* the last look at them */
	uint64_t done, refused, aborted;
	uint64_t orphans; /* rights unfrozen after their left was absorbed or split */
	struct rk_hist seconds; /* the call to the MERGE applied, done ones */
};

/* What the applier's merge callback needs (set for each entry). */
/* The applier's merge callback (kv.h): arg is a struct rk_span_apply (split.h). */
int rk_merge_apply(void *arg, int op, const struct rk_kv_merge *m, int *refusedp);

/* The longest a left replica's MERGE waits for its right replica here
 * to reach the frozen index before the left asks its leader for a
 * snapshot of the merged range (at once when the right replica is not
 * here at all). */
#define RK_MERGE_WAIT_MS 3000
/* How often such a left replica asks again while it still needs one. */
#define RK_MERGE_ASK_EVERY_MS 1000

/* Whether r's ready rd must wait: it commits a MERGE whose right replica
 * here has not yet applied (and committed) the MERGE's frozen index. The
 * right replica is then told to wake r once it has. A left replica that
 * cannot wait (its right replica is gone from here, or has not got there
 * within RK_MERGE_WAIT_MS: its node was down through the merge, and the
 * right's other replicas are merged away, so nobody sends it the right's
 * log) does not wait: rd's committed entries are cut short before the
 * MERGE (rd goes on without them; the next ready hands them out again)
 * and it asks its leader for a snapshot (rk_raft_request_snapshot), which
 * is the merged range's: its install removes the right replica
 * (rk_merge_covered). A leader that cannot apply hands its leadership to
 * another voter first. */
bool rk_merge_hold(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd);
/* r's apply batch is committed: wakes a left replica waiting for it. */
void rk_merge_visible(struct rk_node *n, struct rk_replica *r);

/* POST /api/v1/merge?left=ID[&right=RID]: false if path is not that call. */
bool rk_merge_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp);
/* Whether a merge call involving range is under way here (splits and
 * membership changes of it are refused meanwhile). */
bool rk_merge_busy(const struct rk_node *n, uint64_t range);
void rk_merge_tick(struct rk_node *n);
/* merge.c for merge_call.c: looks at the left replicas waiting for their
 * right (rk_merge_tick), and frees their list (rk_merge_close). */
void rk_merge_waits_look(struct rk_node *n);
void rk_merge_waits_free(struct rk_node *n);
/* The merge calls under way here, as objects of GET /api/v1/operations
 * (ops.h) into the open array of j; their number. */
struct rk_json;
size_t rk_merge_ops_json(struct rk_node *n, struct rk_json *j);
/* r is frozen (applied a FREEZE, or loaded so): watched from now on. */
void rk_merge_watch(struct rk_node *n, const struct rk_replica *r);

/* ---- replicas merged away --------------------------------------------------------- */

/* The most local replicas one snapshot's install removes. */
#define RK_SNAP_MAX_COVERED 16
/* Whether the local replica o is merged into the range of descriptor d,
 * newer: another range whose span contains o's, at a higher generation
 * (a merge's generation is above both halves'; a split's left never
 * contains its right again). A snapshot of such a left may be installed
 * although o's span meets it (snapshot.c), and o goes with the install. */
bool rk_merge_covered(const struct rk_replica *o, const struct rk_desc *d);
/* Removes the local replica of range `id` (if still there), which r's
 * install covers: its stored states in b (the install's batch; its data
 * is replaced by the install), then the runtime replica. */
void rk_merge_drop_covered(struct rk_node *n, struct rk_replica *r, uint64_t id,
			   struct rk_store_batch *b);
/* At start, after every replica is loaded: removes (durably) a replica
 * whose span a newer local descriptor covers, so a node never lists a
 * merged-away range beside its merged left. */
int rk_merge_drop_stale(struct rk_node *n);
void rk_merge_close(struct rk_node *n);
void rk_merge_metrics(struct rk_node *n, struct rk_buf *b);

#endif
