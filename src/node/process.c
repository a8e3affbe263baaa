/*
 * Processing replicas and the group commit (process.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compact.h"
#include "crash.h"
#include "log.h"
#include "member.h"
#include "node_int.h"
#include "plc.h"
#include "quiesce.h"
#include "serve.h"

#define MOD "node"
#define PROCESS_MAX 65536           /* replicas processed per loop turn */
#define TURN_NS (20u * 1000u * 1000u) /* and for at most this long (ns) */
/* A group commit closes once its batch holds this many bytes; the other
 * dirty replicas go into the next turn's, so that a backlog becomes
 * several transactions of bounded size (each must fit in the store's
 * cache), not one. */
#define GROUP_BYTES (8u << 20)

/* A group commit in flight: the replicas whose readies it persists. */
struct commit {
	struct rk_replica **reps;
	size_t n, cap;
	int rc;
	double started;
	struct commit *next;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_process(uv_idle_t *h);

void rk_node_mark_dirty(struct rk_node *n, struct rk_replica *r)
{
	if (r->dirty)
		return;
	r->dirty = true;
	r->next_dirty = NULL;
	if (n->proc.dirty_tail != NULL)
		n->proc.dirty_tail->next_dirty = r;
	else
		n->proc.dirty = r;
	n->proc.dirty_tail = r;
	rk_process_kick(n);
}

static void commit_done(void *arg, int rc)
{
	struct commit *c = arg;
	struct rk_node *n = c->reps[0]->node;

	c->rc = rc;
	pthread_mutex_lock(&n->proc.mu);
	c->next = n->proc.done;
	n->proc.done = c;
	pthread_mutex_unlock(&n->proc.mu);
	uv_async_send(&n->proc.wake);
}

static int commit_add(struct commit *c, struct rk_replica *r)
{
	if (rk_grow((void **)&c->reps, &c->cap, c->n, sizeof(*c->reps)) != 0)
		return RK_ENOMEM;
	c->reps[c->n++] = r;
	return 0;
}

/* A committed conf change: to the raft core, then to the descriptor (the
 * apply state written with this apply carries both). A change the core
 * refuses (it cannot be applied to this configuration) changes neither; a
 * descriptor that cannot follow is a replica that no longer knows where
 * its peers are, which must not go on serving. */
static void apply_conf_change(struct rk_replica *r, const struct rk_raft_entry *e,
			      bool *confp)
{
	struct rk_raft_conf_change cc;
	struct rk_raft_conf_state cs;
	struct rk_desc old;
	const uint8_t *ctx;
	size_t ctx_len;
	int rc;

	struct rk_raft_conf_state dcs, next;

	/* The descriptor follows the change from its own configuration: the
	 * core's may be ahead of it after a restart (the raft state, which
	 * carries the configuration, is logged; the apply state, which
	 * carries the descriptor, is durable at checkpoints, and the entries
	 * after it are applied again). */
	rk_member_conf_of(&r->desc, &dcs);
	if (rk_raft_cc_decode_ctx(e->data, e->len, &cc, &ctx, &ctx_len) != 0 ||
	    rk_raft_conf_apply(&dcs, &cc, &next) != 0) {
		/* Committed changes follow one another (one at a time, each
		 * checked against the configuration it follows): one that does
		 * not apply to the descriptor's means they diverged. */
		rk_log_error(MOD, "range %llu: the conf change at %llu does not apply to its "
			     "descriptor (configuration version %llu); stopping",
			     (unsigned long long)r->range, (unsigned long long)e->index,
			     (unsigned long long)r->desc.conf_version);
		rk_node_fail(r->node);
		return;
	}
	/* Applied again after a restart, the core refuses it: its
	 * configuration has it already. */
	if (rk_raft_apply_conf_change(&r->raft, &cc, &cs) == 0)
		r->rs.conf = cs;
	*confp = true;
	memset(&old, 0, sizeof(old));
	rc = rk_desc_copy(&old, &r->desc);
	if (rc == 0)
		rc = rk_member_desc_after(&r->desc, &next, ctx, ctx_len, &r->desc);
	if (rc != 0) {
		rk_log_error(MOD, "range %llu: the descriptor cannot follow the conf change "
			     "at %llu: %s; stopping", (unsigned long long)r->range,
			     (unsigned long long)e->index, rk_strerror(rc));
		rk_node_fail(r->node);
		rk_desc_free(&old);
		return;
	}
	/* Tell the replicas this change removed (they may not hear of it
	 * otherwise: the leader stops sending to them); leave if we are one
	 * of them, once this apply is persisted. */
	if (rk_raft_is_leader(&r->raft))
		rk_life_notify(r->node, r, &old);
	rk_desc_free(&old);
	if (rk_replica_gone(r))
		r->leaving = true;
	if (rk_rcache_put(&r->node->rcache, &r->desc) != 0)
		rk_log_warn(MOD, "range %llu: out of memory updating the range cache",
			    (unsigned long long)r->range);
	/* The leader tells the placement index, a follower owes it until it
	 * leads (plc.h; a change applied again after a restart reports
	 * again: the index keeps the highest version). */
	if (!rk_range_reserved(r->range))
		rk_plc_desc_changed(r->node, r);
	rk_log_info(MOD, "range %llu: configuration version %llu at %llu (%u replicas)",
		    (unsigned long long)r->range,
		    (unsigned long long)r->desc.conf_version,
		    (unsigned long long)e->index, r->desc.n_reps);
	rk_crash_point(r->node, "member.applied");
}

/* One attempt at applying r's committed entries into b. A configuration
 * change is applied to the raft core once: an entry at or below *cc_donep
 * was applied by an earlier attempt and only sets *confp again. */
static int apply_attempt(struct rk_node *n, struct rk_replica *r,
			 struct rk_store_batch *b, bool *confp, uint64_t *cc_donep)
{
	const struct rk_raft_ready *rd = &r->rd;

	bool pl = rk_range_reserved(r->range); /* the placement group's own */

	rk_serve_apply_begin(n, r);
	if (pl)
		rk_plc_apply_begin(n);
	for (size_t i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];
		if (e->type == RK_RAFT_ENTRY_NORMAL) {
			int rc = pl ? rk_plc_apply(n, r, e, b) : rk_serve_apply(n, r, e, b);
			if (rc == 0 && rk_store_batch_failed(b))
				rc = RK_ENOMEM; /* a write of it was not recorded */
			if (rc != 0) {
				rk_log_error(MOD, "range %llu: applying entry %llu failed: %s",
					     (unsigned long long)r->range,
					     (unsigned long long)e->index, rk_strerror(rc));
				return rc;
			}
		} else if (e->type == RK_RAFT_ENTRY_CONF_CHANGE) {
			if (e->index <= *cc_donep)
				*confp = true;
			else
				apply_conf_change(r, e, confp);
			if (e->index > *cc_donep)
				*cc_donep = e->index;
		}
		r->applied = e->index;
		n->stats.applied_entries++;
	}
	return 0;
}

/* Undoes a failed attempt: its writes leave the batch, its answers and
 * taken proposals are put back, the session table is the committed one
 * again. Nonzero when that cannot be done (the table cannot be read). */
static int apply_undo(struct rk_node *n, struct rk_replica *r,
		      struct rk_store_batch *b,
		      const struct rk_store_batch_mark *mark, uint64_t applied,
		      uint64_t applied_entries)
{
	rk_store_batch_rollback(b, mark);
	rk_serve_apply_abort(n, r);
	rk_check_apply_abort(n, r);
	r->applied = applied;
	n->stats.applied_entries = applied_entries;
	return rk_replica_sessions_reload(r, n->reader, applied);
}

/* Applies committed entries into the batch, with the apply state of the
 * last one; *confp tells whether a configuration change was applied (the
 * raft state, which records the configuration, must then be written too).
 *
 * An apply is all or nothing. Applying an entry can fail (no memory, a
 * store read error) after earlier commands of the ready wrote into b: the
 * attempt is then rolled back (b to the mark taken before it, answers,
 * proposals and the session table as they were) and made once more. If
 * that fails too, the error is returned and the caller must not submit b
 * at all: writes of commands whose apply state is not in the same
 * transaction would be applied again from the log after a restart (an
 * INCR counted twice), and an answer must never announce them. */
static int apply_committed(struct rk_node *n, struct rk_replica *r,
			   struct rk_store_batch *b, bool *confp)
{
	struct rk_store_batch_mark mark;
	struct rk_store_apply_state as;
	uint64_t applied = r->applied, entries = n->stats.applied_entries;
	uint64_t cc_done = 0;
	int rc;

	*confp = false;
	rk_store_batch_mark(b, &mark);
	rc = apply_attempt(n, r, b, confp, &cc_done);
	if (rc != 0) {
		rc = apply_undo(n, r, b, &mark, applied, entries);
		if (rc != 0) {
			rk_log_error(MOD, "range %llu: cannot undo the failed apply: %s",
				     (unsigned long long)r->range, rk_strerror(rc));
			return rc;
		}
		rk_log_warn(MOD, "range %llu: the failed apply was rolled back; retrying it once",
			    (unsigned long long)r->range);
		rc = apply_attempt(n, r, b, confp, &cc_done);
		if (rc != 0) {
			(void)apply_undo(n, r, b, &mark, applied, entries);
			return rc;
		}
		rk_log_info(MOD, "range %llu: the retried apply succeeded",
			    (unsigned long long)r->range);
	}
	rk_serve_apply_commit(n, r);
	if (rk_range_reserved(r->range))
		rk_plc_apply_commit(n, r);
	rk_check_apply_done(n, r, applied);
	rk_buf_reset(&n->proc.blob);
	rk_replica_state_encode(r, &n->proc.blob);
	as.applied = r->applied;
	as.desc = n->proc.blob.p;
	as.desc_len = n->proc.blob.len;
	rk_store_batch_apply_state(b, r->range, &as);
	return 0;
}

/* Takes r's ready into the group batch b. Nonzero when its committed
 * entries could not be applied: b must then be dropped (apply_committed). */
static int take_ready(struct rk_node *n, struct rk_replica *r,
		      struct rk_store_batch *b, bool *syncp)
{
	struct rk_raft_ready *rd = &r->rd;
	bool state, conf;
	int rc;

	if (!r->have_ready)
		rk_raft_ready(&r->raft, rd);
	state = rd->snapshot != NULL;
	r->have_ready = false;
	/* Only new entries, a snapshot, or a new term or vote must be durable
	 * before the messages that follow; a moved commit index need not
	 * (after a crash it is learnt again from the leader). */
	*syncp |= rd->must_sync || rd->snapshot != NULL;
	rk_peer_send(n, r, rd->msgs, rd->n_msgs);
	if (rd->snapshot != NULL && !rk_snap_take(n, r, rd, b))
		rk_log_error(MOD, "range %llu: a snapshot to install without its data",
			     (unsigned long long)r->range);
	if (rd->n_entries > 0) {
		if (rd->entries[0].index <= r->last)
			rk_store_batch_truncate(b, r->range, rd->entries[0].index);
		rk_store_batch_append(b, r->range, rd->entries, rd->n_entries);
	}
	/* The raft state row is written for a new term or vote, a snapshot or
	 * an applied configuration change, not for a moved commit index alone:
	 * a restart takes the commit as at least the applied index and learns
	 * the rest from the leader (the row carries whatever commit it last
	 * had). */
	if (rd->has_hard_state) {
		state |= rd->hs.term != r->rs.hs.term ||
			 rd->hs.vote != r->rs.hs.vote;
		r->rs.hs = rd->hs;
	}
	if (rd->n_committed > 0) {
		if ((rc = apply_committed(n, r, b, &conf)) != 0)
			return rc;
		state |= conf;
	}
	rk_serve_ready_reads(n, r, rd);
	if (state)
		rk_store_batch_raft_state(b, r->range, &r->rs);
	r->persisting = true;
	return 0;
}

/* A ready with nothing to persist (heartbeats and their responses, most
 * of an idle node's traffic) completes at once: its messages leave and it
 * advances, without a trip through the storage thread. Returns false, with
 * nothing taken, when the ready holds something to persist. */
static bool take_light_ready(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_ready *rd = &r->rd;

	if (r->have_ready)
		return false; /* taken last turn; the group commit failed to start */
	rk_raft_ready(&r->raft, rd);
	if (rd->n_entries > 0 || rd->has_hard_state || rd->snapshot != NULL ||
	    rd->n_committed > 0) {
		r->have_ready = true; /* take_ready continues with it */
		return false;
	}
	rk_peer_send(n, r, rd->msgs, rd->n_msgs);
	rk_peer_send(n, r, rd->msgs_after_persist, rd->n_msgs_after_persist);
	rk_serve_ready_reads(n, r, rd);
	rk_raft_advance(&r->raft, rd);
	rk_node_mark_dirty(n, r); /* the core may have more */
	return true;
}

static bool ready_empty(const struct rk_raft_ready *rd)
{
	return rd->n_entries == 0 && !rd->has_hard_state && rd->snapshot == NULL &&
	       rd->n_committed == 0 && rd->n_msgs == 0 && rd->n_msgs_after_persist == 0 &&
	       rd->n_read_states == 0;
}

static void on_process(uv_idle_t *h)
{
	struct rk_node *n = h->data;
	struct rk_store_batch *b = NULL;
	struct commit *c = NULL;
	struct rk_replica *r, *last;
	bool sync = false, done = false;
	size_t budget = PROCESS_MAX;
	uint64_t t0 = uv_hrtime();

	uv_idle_stop(h);
	if (n->stopping)
		return;
	/* This node's own client requests, queued by its router. */
	while (n->inbox != NULL) {
		struct local_req *lr = n->inbox;
		n->inbox = lr->next;
		rk_serve_request(n, n->cfg.node_id, &lr->req);
		free(lr);
	}
	n->inbox_tail = NULL;
	rk_plc_flush(n); /* this turn's descriptor reports, as one command */
	/* The replicas dirty now, oldest first, at most PROCESS_MAX of them
	 * and for at most TURN_NS: the rest wait for the next turn, so that
	 * the loop reads and writes its sockets (liveness among them) between
	 * bounded pieces of work. */
	last = n->proc.dirty_tail;
	while (!done && n->proc.dirty != NULL && budget-- > 0) {
		if ((budget & 63) == 0 && uv_hrtime() - t0 > TURN_NS)
			break; /* a long turn: the rest next turn */
		r = n->proc.dirty;
		n->proc.dirty = r->next_dirty;
		if (n->proc.dirty == NULL)
			n->proc.dirty_tail = NULL;
		done = r == last;
		r->dirty = false;
		r->next_dirty = NULL;
		if (r->sv != NULL)
			rk_serve_flush(n, r);
		if (r->split_left != 0) {
			struct rk_replica *l = rk_table_get(&n->tab, r->split_left);
			if (l != NULL && !l->removing && l->visible < r->split_index) {
				rk_node_mark_dirty(n, r); /* next turn */
				continue;
			}
			r->split_left = 0;
		}
		if (r->merged_into != 0)
			continue; /* merged away: its states go with the left's */
		if (r->persisting || (!r->have_ready && !rk_raft_has_ready(&r->raft))) {
			if (r->pq)
				rk_node_sleep_pending(n, r);
			continue;
		}
		if (take_light_ready(n, r))
			continue; /* nothing to persist: done without the store */
		if (r->rd.n_committed > 0)
			rk_test_split_hold(n, r, &r->rd); /* tests only (crash.h) */
		if (r->rd.n_committed > 0)
			(void)rk_split_wait_right(n, r, &r->rd);
		if (r->rd.n_committed > 0 && rk_merge_hold(n, r, &r->rd))
			continue; /* kept (have_ready); the right's commit wakes it */
		if (ready_empty(&r->rd)) {
			/* Committed entries cut short at a MERGE that cannot
			 * apply here (merge.h), and nothing else: done without
			 * the store, and not looked at again until something
			 * arrives (or merge.c looks). */
			r->have_ready = false;
			rk_raft_advance(&r->raft, &r->rd);
			continue;
		}
		if (b != NULL && rk_store_batch_bytes(b) >= GROUP_BYTES) {
			rk_node_mark_dirty(n, r); /* its ready is kept (have_ready) */
			break;
		}
		if (b == NULL) {
			b = rk_store_batch_new();
			c = calloc(1, sizeof(*c));
			if (b == NULL || c == NULL) {
				rk_log_error(MOD, "out of memory building a group commit");
				rk_store_batch_free(b);
				free(c);
				b = NULL;
				rk_node_mark_dirty(n, r); /* retry next turn */
				break;
			}
		}
		if (commit_add(c, r) != 0) {
			rk_node_mark_dirty(n, r);
			break;
		}
		if (take_ready(n, r, b, &sync) != 0) {
			/* Nothing of this group commit may be written: the
			 * other replicas' readies in it are lost with the
			 * node, which is what a crash here would do. */
			rk_log_error(MOD, "range %llu: applying committed entries failed twice; "
				     "stopping the node without writing or answering any of "
				     "this group commit (a restart applies the log again)",
				     (unsigned long long)r->range);
			rk_store_batch_free(b);
			free(c->reps);
			free(c);
			b = NULL;
			rk_node_fail(n);
			break;
		}
	}
	if (b != NULL) {
		sync |= n->proc.sync_wanted;
		n->proc.sync_wanted = false;
		if (!sync)
			rk_store_batch_no_sync(b);
		c->started = now_s();
		n->proc.in_flight++;
		if (rk_store_submit(n->store, b, commit_done, c) != 0) {
			rk_log_error(MOD, "the store refused a group commit; stopping");
			rk_node_fail(n);
		}
	}
	if (rk_elect_queued(n))
		rk_elect_run(n, false);
	rk_peer_flush_all(n);
	if (n->proc.dirty != NULL && !uv_is_active((uv_handle_t *)h))
		rk_process_kick(n);
}

void rk_node_replica_persisted(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_ready *rd = &r->rd;

	if (rd->n_entries > 0) {
		rk_compact_log_stored(n, r, rd->entries, rd->n_entries);
		r->last = rd->entries[rd->n_entries - 1].index;
		rk_replica_log_stored(r, rd->entries, rd->n_entries);
	}
	rk_peer_send(n, r, rd->msgs_after_persist, rd->n_msgs_after_persist);
	rk_raft_advance(&r->raft, rd);
	r->persisting = false;
	r->visible = r->applied;
	rk_serve_persisted(n, r);
	if (r->merge_waiter != 0)
		rk_merge_visible(n, r);
	if (r->leaving && !r->removing)
		rk_life_remove(n, r, "removed from its configuration");
	rk_node_mark_dirty(n, r); /* its processing next turn flushes the peers */
	if (r->pq)
		rk_node_sleep_pending(n, r);
}

/* Completions from the storage thread. */
static void on_wake(uv_async_t *h)
{
	struct rk_node *n = h->data;
	struct commit *list, *c, *next;

	pthread_mutex_lock(&n->proc.mu);
	list = n->proc.done;
	n->proc.done = NULL;
	pthread_mutex_unlock(&n->proc.mu);
	for (c = list; c != NULL; c = next) {
		next = c->next;
		n->proc.in_flight--;
		n->stats.commits++;
		rk_hist_observe(&n->stats.commit_hist, now_s() - c->started);
		if (c->rc != 0) {
			/* The log can no longer be trusted to be durable:
			 * stop rather than acknowledge anything. */
			rk_log_error(MOD, "group commit failed: %s; stopping",
				     rk_strerror(c->rc));
			rk_node_fail(n);
		}
		for (size_t i = 0; i < c->n && c->rc == 0; i++) {
			struct rk_replica *r = c->reps[i];
			if (r->installing)
				rk_snap_install(n, r); /* advances when done */
			else
				rk_node_replica_persisted(n, r);
		}
		free(c->reps);
		free(c);
	}
	rk_peer_flush_all(n);
}

/* Never on a closed handle: libuv's uv_idle_start does not refuse one, and
 * an idle started after its close (work finishing while the node stops,
 * such as a snapshot's install) keeps the loop alive for ever. */
void rk_process_kick(struct rk_node *n)
{
	uv_handle_t *h = (uv_handle_t *)&n->proc.idle;

	if (!uv_is_active(h) && !uv_is_closing(h))
		uv_idle_start(&n->proc.idle, on_process);
}

void rk_process_init(struct rk_node *n)
{
	pthread_mutex_init(&n->proc.mu, NULL);
	uv_idle_init(&n->loop, &n->proc.idle);
	n->proc.idle.data = n;
	uv_async_init(&n->loop, &n->proc.wake, on_wake);
	n->proc.wake.data = n;
}

void rk_process_close(struct rk_node *n)
{
	rk_buf_free(&n->proc.blob);
	pthread_mutex_destroy(&n->proc.mu);
}
