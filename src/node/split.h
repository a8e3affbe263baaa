/*
 * Range split on a node (docs/node.md "Range split"): the leader's
 * proposal (POST /api/v1/split?key=K) and every replica's apply.
 *
 * The leader takes the new range's id (rk_node_alloc_range_ids, ids.h),
 * then proposes a SPLIT command (kv.h) in the range's own log carrying the
 * split key, that id, the right replicas' ids (the left's: replica ids are
 * per range, so the right's may repeat them) and the descriptor it was
 * proposed against. Every replica applies it in the same storage
 * transaction as the entry's apply state: the left descriptor shrunk
 * (generation + 1), and the right range's raft state (its log starting at
 * RK_RAFT_INIT_INDEX, as a range of the first start), apply state
 * (descriptor, the left's session table) written, its data left where it
 * is (the kv table is keyed by user key). Then the right's runtime
 * replica: it refuses votes at least as long as its left neighbour
 * (rk_raft_inherit_lease), and only the one on the node that led the left
 * campaigns at once (rk_raft_campaign_split), its term and vote written
 * with the split (rk_raft_hard_state_taken).
 *
 * Replay (journal once): the raft state is logged, the apply state is
 * durable at checkpoints. After a kill -9 the left's apply state is either
 * before the split (then the right has no apply state either: one
 * transaction, one checkpoint; it loads as uninitialized and waits) and
 * the left applies the split again, which initializes the waiting right
 * replica in place keeping its term, vote and log; or after it, and both
 * load as they were.
 *
 * A right replica created by a message before the local left applied the
 * split (life.c) is never created empty for a range this node does not
 * know (not in its range cache): the range cache learns it from the split.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_SPLIT_H
#define RK_NODE_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "kv.h"
#include "prom.h"

struct rk_node;
struct rk_replica;
struct rk_store_batch;
struct rk_split_op;
struct rk_split_camp;

/* Vote requests kept for a right half that does not exist here yet
 * (split.c, "Votes that arrive early"): the newest few, each for an
 * election timeout. */
#define RK_SPLIT_EARLY_VOTES 16

struct rk_split_early {
	uint64_t range, from_node, at_ms; /* range 0: free */
	struct rk_raft_msg m;             /* no entries, no snapshot */
};

struct rk_split {
	struct rk_split_op *ops; /* calls waiting; few */
	uint64_t done, refused; /* of every split this node's leaders proposed */
	uint64_t auto_done, auto_refused; /* of those, the automatic ones */
	/* Automatic splits (autosplit.h): a key is being looked for on a
	 * worker; when the last one started (loop clock, ms). */
	bool auto_scanning;
	uint64_t auto_last_ms;
	/* The ranges the automatic split's tick looks at (autosplit.h, "The
	 * watch list"): ids, each replica's split_watch its index + 1; the
	 * limits the list was built against (a change of them seeds it with
	 * every range again). */
	uint64_t *watch;
	size_t n_watch, cap_watch;
	uint64_t watch_size, watch_qps;
	bool watch_seeded;
	struct rk_hist seconds; /* proposal to applied on the leader, done ones */
	/* Right halves this node campaigns for (split.c); how long each
	 * waited for its first leader (from the split's apply here until one
	 * was known here, to a tick). */
	struct rk_split_camp *camps;
	size_t n_camps, cap_camps;
	struct rk_hist led;
	/* The right halves this node campaigned for at once: from the
	 * split's apply here until an entry past the split applied here (their
	 * first leader's: their keys take writes again). */
	struct rk_hist serve;
	struct rk_split_early early[RK_SPLIT_EARLY_VOTES];
	uint32_t early_next;  /* the slot the next one takes */
	uint64_t early_kept, early_used; /* counted for /metrics */
};

/* What the applier's split callback needs (set for each entry). */
/* The context of an entry that changes its range's span (a split here, a
 * merge in merge.h): the applier's split_arg and merge_arg. */
struct rk_span_apply {
	struct rk_node *n;
	struct rk_replica *r;
	struct rk_store_batch *b;
	struct rk_kv_applier *ap;
	uint64_t index; /* the entry's */
};
/* The applier's split callback (kv.h): arg is a struct rk_span_apply. */
int rk_split_apply(void *arg, const struct rk_kv_split *s, int *refusedp);
/* A vote request for a range this node holds no replica of (m, from
 * from_node): kept for a while in case it is the right half of a split
 * the left replica here has not applied yet, which then takes it at the
 * split's apply instead of waiting for the candidate to ask again. */
void rk_split_vote_early(struct rk_node *n, uint64_t range, uint64_t from_node,
			 const struct rk_raft_msg *m);

/* POST /api/v1/split?key=K (the key percent-encoded): false if path is
 * not that call. */
bool rk_split_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp);
/* Whether a split of range is proposed and not yet applied here
 * (membership changes of it are refused meanwhile). */
bool rk_split_busy(const struct rk_node *n, uint64_t range);
/* Why r, led here, cannot split now (a membership change, another split,
 * a merge or a leadership transfer under way); NULL: it can. */
const char *rk_split_busy_why(const struct rk_node *n, const struct rk_replica *r);
/* The same but for a merge: what a merge call that waited checks again. */
const char *rk_split_busy_but_merge_why(const struct rk_node *n, const struct rk_replica *r);
/* Whether an automatic split proposed by this node is not yet answered. */
bool rk_split_auto_pending(const struct rk_node *n);
/* An automatic split of r, led here, at key (inside its span, after its
 * start): the same steps as the call's, with nobody to answer; the outcome
 * is counted (auto_done, auto_refused). RK_ESTATE when r cannot split now
 * (not the leader, busy, the key not strictly inside); copies key. */
int rk_split_auto(struct rk_node *n, struct rk_replica *r, const void *key,
		  size_t klen);
/* Whether r's ready rd must apply no further yet: it commits a SPLIT
 * whose right replica here was made by a message and has a persist in
 * flight (its term and vote being written). Taken over in place once that
 * is done, it keeps them and catches up by the right's log; taken now it
 * could not be (a batch of its own is in flight) and would wait for a
 * snapshot. rd's committed entries are then cut short before the SPLIT
 * (the rest of the ready goes on) and the right replica wakes r when its
 * persist is done. */
bool rk_split_wait_right(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd);
/* Answers the calls that are done; campaigns again for right halves
 * whose first campaign found no voters yet (split.c). */
void rk_split_tick(struct rk_node *n);
/* r, a right half this node campaigned for, applied an entry past the
 * split (rk_serve_apply): its wait is observed. */
void rk_split_served(struct rk_node *n, struct rk_replica *r);
/* The split calls under way here, as objects of GET /api/v1/operations
 * (ops.h) into the open array of j; their number. */
struct rk_json;
size_t rk_split_ops_json(struct rk_node *n, struct rk_json *j);
void rk_split_close(struct rk_node *n);

#endif
