/*
 * Range merge on a node (merge.h): the apply, a left replica's wait for
 * its right (and the snapshot it asks for), replicas merged away. The
 * call is merge_call.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "api_range.h"
#include "crash.h"
#include "fwd.h"
#include "json.h"
#include "key.h"
#include "log.h"
#include "merge.h"
#include "node_int.h"
#include "plc.h"
#include "quiesce.h"

#define MOD "node"

/* ---- apply ------------------------------------------------------------------ */

static int refuse(struct rk_replica *r, int op, const struct rk_kv_merge *m, int rc,
		  int *refusedp)
{
	static const char *const names[] = {"freeze", "merge", "merge abort", "unfreeze"};

	*refusedp = rc;
	rk_log_warn(MOD, "range %llu: %s of range %llu into range %llu refused at apply: %s",
		    (unsigned long long)r->range, names[op - RK_KV_FREEZE],
		    (unsigned long long)m->right_id, (unsigned long long)m->left_id,
		    rk_strerror(rc));
	return 0;
}

/* The span of the applier follows r's descriptor (its old bytes are
 * freed: the commands after this one in the entry see the new one). */
static void follow_span(struct rk_kv_applier *ap, const struct rk_replica *r)
{
	ap->start = r->desc.start;
	ap->slen = r->desc.slen;
	ap->end = r->desc.end;
	ap->elen = r->desc.elen;
}

/* The tombstone of a merged-away right replica: no replica id it ever
 * had, on any node, may come back. */
static uint64_t right_tomb(const struct rk_replica *rr)
{
	uint64_t min = rr->rs.replica_id + 1;

	return rr->desc.next_replica_id > min ? rr->desc.next_replica_id : min;
}

/* The right's apply state, in the left's apply batch, becomes its gone
 * mark: its descriptor without replicas at the merged generation. Only
 * the tables the left's apply state is in (durable together, at
 * checkpoints) change here: after a kill -9 the right is either as it
 * was (the left before the merge: it applies it again, with the right's
 * raft state and log still there) or marked gone beside the merged left
 * (rk_merge_drop_stale). Its logged states (raft state, log, tombstone)
 * go once the merge is checkpointed (life.c); its data stays: the
 * left's now. */
static int write_gone(struct rk_node *n, struct rk_replica *rr, uint64_t generation,
		      struct rk_store_batch *b)
{
	struct rk_store_apply_state as;
	struct rk_desc d;
	struct rk_buf blob;
	int rc;

	(void)n;
	memset(&d, 0, sizeof(d));
	rk_buf_init(&blob);
	if ((rc = rk_desc_gone(&d, &rr->desc, generation)) == 0)
		rc = rk_desc_encode(&d, &blob);
	if (rc == 0 && blob.oom)
		rc = RK_ENOMEM;
	if (rc == 0) {
		as.applied = rr->applied;
		as.desc = blob.p;
		as.desc_len = blob.len;
		rk_store_batch_apply_state(b, rr->range, &as);
	}
	rk_desc_free(&d);
	rk_buf_free(&blob);
	return rc;
}

/* The right's runtime replica goes (life.c writes its removal once the
 * merge is checkpointed); the placement index learns the merged
 * descriptor and that the right is gone (a descriptor without replicas
 * at the merged generation, which no stale report of the right can
 * overwrite). */
static void after_merge(struct rk_node *n, struct rk_replica *r, struct rk_replica *rr,
			uint64_t index)
{
	if (rk_life_tomb_raise(n, rr->range, right_tomb(rr)) != 0)
		rk_node_fail(n); /* a late message could bring it back */
	rr->merged_into = r->range;
	rr->merged_at = index;
	rk_life_remove(n, rr, "merged into its left neighbour");
	if (rk_rcache_put(&n->rcache, &r->desc) != 0)
		rk_log_warn(MOD, "range %llu: out of memory updating the range cache",
			    (unsigned long long)r->range);
	/* Owed by every replica of the left, reported by whichever leads
	 * it now or later: a report made only where the merge applied on
	 * the leader is lost with a change of leader (the index would keep
	 * the right's descriptor beside the left's grown span). */
	rk_plc_merged(n, r, &rr->desc);
}

static int apply_merge(struct rk_span_apply *x, const struct rk_kv_merge *m,
		       int *refusedp)
{
	struct rk_node *n = x->n;
	struct rk_replica *r = x->r, *rr = rk_table_get(&n->tab, m->right_id);
	struct rk_desc merged;
	int rc;

	/* Applied again in this process after a failed apply attempt was
	 * undone: the runtime state is merged already, the batch lost its
	 * writes and the session table was read back. */
	if (rr != NULL && rr->merged_into == r->range && r->desc.generation > m->left_gen) {
		if ((rc = rk_kv_sessions_union(&r->sessions, &rr->sessions)) != 0)
			return rc;
		return write_gone(n, rr, r->desc.generation, x->b);
	}
	if (r->desc.generation != m->left_gen || r->desc.conf_version != m->left_conf)
		return refuse(r, RK_KV_MERGE, m, RK_ESTATE, refusedp);
	if (rr == NULL || rr->removing || rr->desc.n_reps == 0 ||
	    rr->applied < m->frozen_index || rr->sessions.frozen != m->left_id) {
		/* rk_merge_hold waits for the right here, or cuts the apply
		 * short and asks for a snapshot; without the right this
		 * replica cannot absorb its state. Stopping (a restart
		 * applies it again) rather than diverge. */
		rk_log_error(MOD, "range %llu: the merge of range %llu at %llu finds no frozen "
			     "right replica here at its frozen index %llu",
			     (unsigned long long)r->range, (unsigned long long)m->right_id,
			     (unsigned long long)x->index, (unsigned long long)m->frozen_index);
		return RK_ESTATE;
	}
	memset(&merged, 0, sizeof(merged));
	rc = rk_kv_merge_desc(&r->desc, &rr->desc, m, &merged);
	if (rc == RK_ENOMEM)
		return rc;
	if (rc != 0)
		return refuse(r, RK_KV_MERGE, m, rc, refusedp);
	if ((rc = rk_kv_sessions_union(&r->sessions, &rr->sessions)) != 0 ||
	    (rc = write_gone(n, rr, merged.generation, x->b)) != 0) {
		rk_desc_free(&merged);
		return rc;
	}
	rk_desc_free(&r->desc);
	r->desc = merged;
	rk_size_unknown(n, r); /* measured again: it holds both now */
	follow_span(x->ap, r);
	after_merge(n, r, rr, x->index);
	rk_log_info(MOD, "range %llu: merged range %llu at generation %llu",
		    (unsigned long long)r->range, (unsigned long long)m->right_id,
		    (unsigned long long)r->desc.generation);
	rk_crash_point(n, "merge.applied");
	return 0;
}

int rk_merge_apply(void *arg, int op, const struct rk_kv_merge *m, int *refusedp)
{
	struct rk_span_apply *x = arg;
	struct rk_replica *r = x->r;
	int rc;

	*refusedp = 0;
	switch (op) {
	case RK_KV_FREEZE:
	case RK_KV_UNFREEZE:
		if ((rc = rk_kv_freeze_check(&r->desc, m)) != 0)
			return refuse(r, op, m, rc, refusedp);
		rk_log_info(MOD, "range %llu: %s for a merge into range %llu",
			    (unsigned long long)r->range,
			    op == RK_KV_FREEZE ? "frozen" : "unfrozen",
			    (unsigned long long)m->left_id);
		if (op == RK_KV_FREEZE) {
			rk_merge_watch(x->n, r);
			rk_crash_point(x->n, "merge.frozen");
		}
		return 0;
	case RK_KV_MERGE_ABORT:
		if ((rc = rk_kv_merge_abort_desc(&r->desc, m)) != 0)
			return refuse(r, op, m, rc, refusedp);
		if (rk_rcache_put(&x->n->rcache, &r->desc) != 0)
			rk_log_warn(MOD, "range %llu: out of memory updating the range cache",
				    (unsigned long long)r->range);
		rk_plc_desc_changed(x->n, r);
		rk_log_info(MOD, "range %llu: merge of range %llu abandoned",
			    (unsigned long long)r->range, (unsigned long long)m->right_id);
		return 0;
	default:
		return apply_merge(x, m, refusedp);
	}
}

/* ---- waiting for the right ------------------------------------------------------- */

struct hold_walk {
	struct rk_node *n;
	struct rk_replica *r;
	struct rk_replica *wait; /* the right replica to wait for */
	bool gone;               /* no right replica here to wait for */
	bool lacks;              /* its log does not hold the freeze */
	bool later;              /* for a generation an earlier entry makes */
	uint64_t right;          /* the right range's id */
};

static int hold_cmd(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct hold_walk *h = arg;
	struct rk_kv_merge m;
	struct rk_replica *rr;

	(void)no;
	if (c->op != RK_KV_MERGE || rk_kv_merge_decode(c, &m) != 0)
		return 0;
	if (m.left_gen > h->r->desc.generation) {
		/* A generation the left reaches by applying entries before
		 * this one in the same ready (a split's, replayed after a
		 * restart together with the merge; the split also makes the
		 * right replica here, at the split's index, not yet at its
		 * freeze). Judged once those are applied: see
		 * rk_merge_hold. */
		h->later = true;
		return 1;
	}
	if (h->r->desc.generation != m.left_gen)
		return 0; /* nothing to wait for: refused anyway */
	h->right = m.right_id;
	rr = rk_table_get(&h->n->tab, m.right_id);
	if (rr == NULL || rr->removing || rr->desc.n_reps == 0) {
		/* Removed from here (its replicas were moved, or a restart
		 * found it merged away) or never here: nothing of the right
		 * to absorb, only the merged range's snapshot will do. */
		h->gone = true;
		return 1;
	}
	if (rr->visible < m.frozen_index || rr->persisting) {
		/* The MERGE committed, so did the FREEZE: if the right's log
		 * here holds it, it commits that far without its leader (its
		 * other replicas may be merged away already). */
		h->lacks = rk_raft_commit_known(&rr->raft, m.frozen_index, m.frozen_term) != 0;
		h->wait = rr;
		return 1;
	}
	return 0;
}

static struct rk_merge_wait *wait_find(struct rk_node *n, uint64_t range)
{
	for (size_t i = 0; i < n->merge.n_waits; i++)
		if (n->merge.waits[i].range == range)
			return &n->merge.waits[i];
	return NULL;
}

static void wait_drop(struct rk_node *n, uint64_t range)
{
	struct rk_merge_wait *w = wait_find(n, range);

	if (w != NULL)
		*w = n->merge.waits[--n->merge.n_waits];
}

/* The wait of left replica r for its MERGE at index, noted when new
 * (with a word in the log); NULL when out of memory. */
static struct rk_merge_wait *wait_note(struct rk_node *n, const struct rk_replica *r,
				       const struct hold_walk *h, uint64_t index)
{
	struct rk_merge *mg = &n->merge;
	struct rk_merge_wait *w = wait_find(n, r->range);

	if (w != NULL) {
		w->index = index;
		return w;
	}
	if (rk_grow((void **)&mg->waits, &mg->cap_waits, mg->n_waits, sizeof(*mg->waits)) != 0)
		return NULL;
	w = &mg->waits[mg->n_waits++];
	memset(w, 0, sizeof(*w));
	w->range = r->range;
	w->index = index;
	w->since_ms = uv_now(&n->loop);
	if (h->gone || h->lacks)
		rk_log_warn(MOD, "range %llu: the merge of range %llu at %llu waits for its "
			    "replica here, %s", (unsigned long long)r->range,
			    (unsigned long long)h->right, (unsigned long long)index,
			    h->gone ? "which is not here: asking for a snapshot"
				    : "whose log does not hold the freeze");
	return w;
}

/* A leader that cannot apply hands its leadership over (only a follower
 * can be sent a snapshot): to the voter whose log is furthest. */
static void lead_away(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;
	uint64_t to = 0, best = 0;

	if (rk_raft_transferee(&r->raft) != 0)
		return;
	rk_raft_status(&r->raft, &st);
	for (size_t i = 0; i < st.n_progress; i++)
		if (st.progress[i].id != st.id && (st.progress[i].flags & RK_RAFT_VOTER) &&
		    st.progress[i].match >= best) {
			best = st.progress[i].match;
			to = st.progress[i].id;
		}
	if (to == 0 || rk_raft_transfer_leader(&r->raft, to) != 0)
		return;
	rk_log_warn(MOD, "range %llu: cannot apply a merge here; its leadership goes "
		    "to replica %llu, and a snapshot is asked for once it follows",
		    (unsigned long long)r->range, (unsigned long long)to);
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
}

/* r cannot wait for its right: asks for a snapshot (again every
 * RK_MERGE_ASK_EVERY_MS). */
static void ask_snapshot(struct rk_node *n, struct rk_replica *r, struct rk_merge_wait *w,
			 const struct hold_walk *h)
{
	uint64_t now = uv_now(&n->loop);

	if (w->asked_ms != 0 && now < w->asked_ms + RK_MERGE_ASK_EVERY_MS)
		return;
	if (rk_raft_is_leader(&r->raft)) {
		lead_away(n, r);
		return;
	}
	if (rk_raft_request_snapshot(&r->raft) != 0)
		return; /* no leader known: the next look asks */
	if (w->asked_ms == 0)
		rk_log_warn(MOD, "range %llu: the merge of range %llu at %llu cannot apply here "
			    "(%s); asking the leader for a snapshot of the merged range",
			    (unsigned long long)r->range, (unsigned long long)h->right,
			    (unsigned long long)w->index,
			    h->gone ? "the right replica is not here"
				    : "the right replica did not reach the freeze in time");
	w->asked_ms = now;
	n->merge.snaps_asked++;
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r); /* the request leaves with its next ready */
}

bool rk_merge_hold(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd)
{
	struct hold_walk h = {n, r, NULL, false, false, false, 0};
	struct rk_merge_wait *w;
	uint64_t ts;
	size_t i;

	for (i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];
		if (e->type != RK_RAFT_ENTRY_NORMAL || e->len == 0 || e->data[0] == 0)
			continue;
		(void)rk_kv_entry_walk(e->data, e->len, &ts, hold_cmd, &h);
		if (h.wait != NULL || h.gone || h.later)
			break;
	}
	if (h.later) {
		/* Applied up to the MERGE's entry (i > 0: with no entry
		 * before it the generation cannot change, and it is refused
		 * at apply); the rest comes in the next ready, looked at
		 * again with the generation reached (the replica is marked
		 * dirty once this ready is persisted, process.c). */
		if (i > 0)
			rd->n_committed = i;
		return false;
	}
	if (h.wait == NULL && !h.gone) {
		wait_drop(n, r->range);
		return false;
	}
	w = wait_note(n, r, &h, rd->committed[i].index);
	if (w != NULL && (h.gone || uv_now(&n->loop) >= w->since_ms + RK_MERGE_WAIT_MS)) {
		/* Applied up to the MERGE's entry, no further: the rest of
		 * the ready (its entries, hard state, messages) goes on. */
		rd->n_committed = i;
		ask_snapshot(n, r, w, &h);
		return false;
	}
	if (h.wait != NULL) {
		h.wait->merge_waiter = r->range;
		rk_node_wake(n, h.wait);
		rk_node_mark_dirty(n, h.wait);
	}
	return true;
}

void rk_merge_visible(struct rk_node *n, struct rk_replica *r)
{
	struct rk_replica *l = rk_table_get(&n->tab, r->merge_waiter);

	r->merge_waiter = 0;
	if (l != NULL && !l->removing)
		rk_node_mark_dirty(n, l);
}

/* Left replicas waiting for their right: one whose wait ran past
 * RK_MERGE_WAIT_MS is looked at again (its held ready is processed, and
 * rk_merge_hold asks for a snapshot); one that asked looks again every
 * RK_MERGE_ASK_EVERY_MS while it still needs one. Done ones (the MERGE
 * applied, or a snapshot installed past it) are forgotten. */
void rk_merge_waits_look(struct rk_node *n)
{
	uint64_t now = uv_now(&n->loop);
	size_t i = 0;

	while (i < n->merge.n_waits) {
		struct rk_merge_wait *w = &n->merge.waits[i];
		struct rk_replica *r = rk_table_get(&n->tab, w->range);

		if (r == NULL || r->removing || r->applied >= w->index) {
			*w = n->merge.waits[--n->merge.n_waits];
			continue;
		}
		if (now >= w->since_ms + RK_MERGE_WAIT_MS &&
		    (w->asked_ms == 0 || now >= w->asked_ms + RK_MERGE_ASK_EVERY_MS)) {
			rk_node_wake(n, r);
			rk_node_mark_dirty(n, r);
		}
		i++;
	}
}

void rk_merge_waits_free(struct rk_node *n)
{
	free(n->merge.waits);
	n->merge.waits = NULL;
	n->merge.n_waits = n->merge.cap_waits = 0;
}

/* ---- replicas merged away --------------------------------------------------------- */

bool rk_merge_covered(const struct rk_replica *o, const struct rk_desc *d)
{
	if (o->range == d->range_id || o->desc.n_reps == 0 || d->n_reps == 0 ||
	    d->generation <= o->desc.generation)
		return false;
	return rk_desc_span_holds(d, &o->desc);
}

/* A gone mark o found at start (a crash between the merge and the right's
 * removal): the reports the merge made on its leader, of the left and of
 * the right's end, may have been lost with the process, and nothing else
 * reports either. The left replica holding o's span (in v[0..k), NULL
 * for those dropped already) owes both from now on (rk_plc_merged). */
static void owe_merge_reports(struct rk_node *n, struct rk_replica **v, size_t k,
			      const struct rk_replica *o)
{
	for (size_t i = 0; i < k; i++) {
		struct rk_replica *x = v[i];

		if (x != NULL && x != o && x->desc.n_reps > 0 &&
		    x->desc.generation >= o->desc.generation &&
		    rk_desc_span_holds(&x->desc, &o->desc)) {
			rk_plc_merged(n, x, &o->desc);
			return;
		}
	}
}

void rk_merge_drop_covered(struct rk_node *n, struct rk_replica *r, uint64_t id,
			   struct rk_store_batch *b)
{
	struct rk_replica *o = rk_table_get(&n->tab, id);

	if (o == NULL || o->removing || o->merged_into != 0)
		return;
	rk_store_batch_remove_uninit(b, o->range, right_tomb(o));
	if (rk_life_tomb_raise(n, o->range, right_tomb(o)) != 0)
		rk_node_fail(n);
	o->merged_into = r->range;
	rk_life_remove(n, o, "merged into a range whose snapshot this node installs");
}

static int by_start_newest(const void *a, const void *b)
{
	const struct rk_replica *x = *(struct rk_replica *const *)a;
	const struct rk_replica *y = *(struct rk_replica *const *)b;
	int c = rk_key_cmp(x->desc.start, x->desc.slen, y->desc.start, y->desc.slen);

	if (c != 0)
		return c;
	return x->desc.generation > y->desc.generation ? -1
	       : x->desc.generation < y->desc.generation ? 1 : 0;
}

/* Whether a's span ends after b's (an empty end: unbounded). */
static bool reaches_further(const struct rk_desc *a, const struct rk_desc *b)
{
	if (b->elen == 0)
		return false;
	return a->elen == 0 || rk_key_cmp(a->end, a->elen, b->end, b->elen) > 0;
}

int rk_merge_drop_stale(struct rk_node *n)
{
	const struct rk_table *t = &n->tab;
	size_t un = rk_table_user_n(t), k = 0, dropped = 0;
	struct rk_replica **v = malloc((un > 0 ? un : 1) * sizeof(*v));
	struct rk_replica *cover = NULL;
	struct rk_store_batch *b = rk_store_batch_new();
	int rc = 0;

	if (v == NULL || b == NULL) {
		free(v);
		rk_store_batch_free(b);
		return RK_ENOMEM;
	}
	for (size_t i = 0; i < un; i++) {
		struct rk_replica *o = t->byid[i];

		if (o->desc.n_reps == 0 && o->desc.generation != 0) {
			/* A gone mark (write_gone): merged, its removal not
			 * written before the crash. */
			v[k++] = o;
			continue;
		}
		if (o->desc.n_reps > 0)
			v[k++] = o;
		if (o->sessions.frozen != 0)
			rk_merge_watch(n, o);
	}
	qsort(v, k, sizeof(*v), by_start_newest);
	/* In start order, the one reaching furthest so far covers the next
	 * if that one lies inside it at an older generation. */
	for (size_t i = 0; i < k; i++) {
		struct rk_replica *o = v[i];

		if ((o->desc.n_reps == 0) || (cover != NULL && rk_merge_covered(o, &cover->desc))) {
			rk_log_warn(MOD, "range %llu: merged away (%s); its replica's states removed",
				    (unsigned long long)o->range,
				    o->desc.n_reps == 0 ? "marked gone"
							: "a newer local range spans it");
			if (o->desc.n_reps == 0)
				owe_merge_reports(n, v, k, o);
			rk_store_batch_remove_uninit(b, o->range, right_tomb(o));
			if ((rc = rk_life_tomb_raise(n, o->range, right_tomb(o))) != 0)
				break;
			rk_own_leave(n, o);
			rk_table_remove(&n->tab, o);
			rk_replica_free(o);
			v[i] = NULL;
			dropped++;
			continue;
		}
		if (cover == NULL || reaches_further(&o->desc, &cover->desc))
			cover = o;
	}
	free(v);
	if (rc == 0 && dropped > 0)
		rc = rk_store_write(n->store, b);
	else
		rk_store_batch_free(b);
	return rc;
}
