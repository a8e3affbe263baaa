/*
 * Raft log compaction.
 *
 * A replica whose log holds more than --log-keep entries behind its
 * applied index, or more than --log-keep-bytes, drops the oldest; when the
 * node's logs hold more than --log-keep-bytes-total, the largest are
 * shortened first (logkeep.h decides). Never past the applied index of
 * the last checkpoint (journal once: a crash brings the state machine back
 * to that point and the log must still hold what follows). When the
 * checkpoint lags, the node asks for one. A follower that falls behind
 * what was dropped catches up by a snapshot (snapshot.c); a leader keeps
 * the entries after a snapshot in flight until the follower has it (the
 * snapshot hold, snap_hold below), within a bound (logkeep.h).
 *
 * The sizes are kept per replica (r->lb) and for the node
 * (n->snaps.log_bytes), updated as entries are stored and dropped.
 */
#include <stdlib.h>

#include "compact.h"
#include "log.h"
#include "logkeep.h"
#include "node_int.h"

#define MOD "compact"

/* The byte step between two marks of a log's size (logkeep.h): 1/16 of
 * the per-range budget, so a compaction by bytes lands within 1/16 of its
 * aim. */
static uint64_t mark_step(const struct rk_node *n)
{
	uint64_t step = n->cfg.log_keep_bytes / 16;

	return step < 4096 ? 4096 : step;
}

void rk_compact_log_stored(struct rk_node *n, struct rk_replica *r,
			const struct rk_raft_entry *e, size_t count)
{
	uint64_t before = rk_logbytes_get(&r->lb), step = mark_step(n);

	for (size_t i = 0; i < count; i++)
		rk_logbytes_stored(&r->lb, e[i].index, e[i].len + RK_LOGKEEP_ENTRY_OVERHEAD, step);
	n->snaps.log_bytes += rk_logbytes_get(&r->lb);
	n->snaps.log_bytes -= before;
}

void rk_compact_log_reset(struct rk_node *n, struct rk_replica *r, uint64_t index)
{
	n->snaps.log_bytes -= rk_logbytes_get(&r->lb);
	rk_logbytes_reset(&r->lb, index);
}

static int load_one(void *arg, const struct rk_raft_entry *e)
{
	struct rk_replica *r = arg;

	rk_logbytes_stored(&r->lb, e->index, e->len + RK_LOGKEEP_ENTRY_OVERHEAD,
			   mark_step(r->node));
	return 0;
}

int rk_compact_log_load(struct rk_node *n, struct rk_replica *r)
{
	int rc;

	rk_logbytes_reset(&r->lb, r->first - 1);
	rc = rk_store_log_entries(n->reader, r->range, r->first, r->last + 1, load_one, r);
	if (rc != 0) {
		rk_logbytes_reset(&r->lb, r->first - 1);
		return rc;
	}
	n->snaps.log_bytes += rk_logbytes_get(&r->lb);
	return 0;
}

struct compact {
	struct rk_logkeep_range *v;
	size_t n, cap;
	bool all, oom;
};

/* Whether r's log is over a budget of its own (entries or bytes). */
static bool over_own(const struct rk_node *n, const struct rk_replica *r)
{
	return r->applied >= r->first + n->cfg.log_keep ||
	       rk_logbytes_get(&r->lb) > n->cfg.log_keep_bytes;
}

/* A candidate: a log over a budget of its own, or any log when the node's
 * total is over its budget (then cut to the largest, below). */
static void compact_one(struct rk_replica *r, void *arg)
{
	struct compact *c = arg;
	struct rk_logkeep_range *v;

	if (c->oom || r->persisting || r->installing || r->destroying || r->last < r->first)
		return;
	if (!c->all && !over_own(r->node, r))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *p = realloc(c->v, cap * sizeof(*c->v));

		if (p == NULL) {
			c->oom = true;
			return;
		}
		c->v = p;
		c->cap = cap;
	}
	v = &c->v[c->n++];
	v->lb = &r->lb;
	v->first = r->first;
	v->applied = r->applied;
	v->arg = r;
	v->hold = 0;
}

static int by_bytes_desc(const void *a, const void *b)
{
	uint64_t x = rk_logbytes_get(((const struct rk_logkeep_range *)a)->lb);
	uint64_t y = rk_logbytes_get(((const struct rk_logkeep_range *)b)->lb);

	return x > y ? -1 : x < y ? 1 : 0;
}

static uint64_t lower(uint64_t a, uint64_t b)
{
	return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* The snapshot hold: the index past which r's log is not compacted, 0 if
 * none. The lowest of: the applied index a snapshot's generation began
 * at, while it is made (the snapshot is at that index or later); the
 * index of a snapshot a stream reads; that index while a peer may still
 * be installing it: its progress in the snapshot state, or its match
 * index below the snapshot's, within RK_SNAP_HOLD_MS of the last use
 * (snapshot.c keeps the indexes, replica.h); and the match index of an
 * active peer past the snapshot but behind the log's end (catching up
 * from the log after it: probing, then replicating), at any time. The
 * follower then continues from the log, rather than needing the next
 * snapshot. rk_logkeep_decide applies it within its bound. now: loop
 * ms. */
static uint64_t snap_hold(const struct rk_replica *r, uint64_t now)
{
	const struct rk_snap_out *so = r->snap;
	uint64_t hold = 0;
	struct rk_raft_status st;
	bool recent;

	if (so == NULL)
		return 0;
	if (r->snap_generating)
		hold = so->gen_from;
	if (so->hold_index == 0)
		return hold;
	if (r->snap_refs > 0)
		return lower(hold, so->hold_index);
	if (!rk_raft_is_leader(&r->raft))
		return hold;
	recent = now - so->hold_ms < RK_SNAP_HOLD_MS;
	/* A peer below the latest snapshot may be installing any of them:
	 * held from the lowest, for RK_SNAP_HOLD_MS. One that installed it
	 * and is catching up from the log: held from its match index while
	 * it answers, however long that takes (the bound caps it), since the
	 * entries after the snapshot are what it needs next. Released at the
	 * snapshot's index, or once the time was up, the log of a range
	 * written fast went before the leader had sent it, and the peer
	 * needed the next snapshot, larger: a replica added to a range
	 * written at 21,000 SET/s never caught up (docs/benchmarks.md). */
	rk_raft_status(&r->raft, &st);
	for (size_t i = 0; i < st.n_progress; i++) {
		const struct rk_raft_progress_status *p = &st.progress[i];

		if (p->id == st.id)
			continue;
		if (recent && (p->state == RK_RAFT_PROGRESS_SNAPSHOT || p->match < so->hold_top))
			return lower(hold, so->hold_index);
		if (p->recent_active && p->match >= so->hold_index && p->match < st.last_index)
			hold = lower(hold, p->match);
	}
	return hold;
}

/* The bytes of r's last snapshot, the one a hold keeps the log for (or
 * the one before it while the next is made): 0 when none was made. */
static uint64_t held_bytes(const struct rk_replica *r)
{
	return r->snap != NULL ? r->snap->info.bytes : 0;
}

/* The bytes of r's log a compaction may drop at most: all of them, or
 * those through its hold when one applies (logkeep.h). */
static uint64_t droppable(const struct rk_logkeep_limits *lim, const struct rk_replica *r,
			  uint64_t hold)
{
	uint64_t bytes = rk_logbytes_get(&r->lb);

	if (!rk_logkeep_hold_applies(lim, &r->lb, hold, held_bytes(r)))
		return bytes;
	return rk_logbytes_cum(&r->lb, hold) - rk_logbytes_cum(&r->lb, r->first - 1);
}

/* Over the node budget every log is a candidate, but the decision takes
 * the largest until what they may drop brings the total to half the
 * budget: only those (and the logs over a budget of their own) are kept,
 * so that the store reads of their limits stay few however many ranges
 * the node holds. Then each candidate's limit: applied, and no further
 * than the last checkpoint; and its snapshot hold. */
static void candidates_limit(struct rk_node *n, struct compact *c,
			     const struct rk_logkeep_limits *lim)
{
	uint64_t excess = 0, sum = 0, durable, now = uv_now(&n->loop);
	size_t i, k = 0;

	if (c->n == 0)
		return;
	if (c->all) {
		excess = n->snaps.log_bytes - lim->total_bytes / 2;
		qsort(c->v, c->n, sizeof(*c->v), by_bytes_desc);
	}
	for (i = 0; i < c->n; i++) {
		struct rk_replica *r = c->v[i].arg;

		if (c->all && sum >= excess && !over_own(n, r))
			continue;
		c->v[i].hold = snap_hold(r, now);
		c->v[i].hold_snap = held_bytes(r);
		sum += droppable(lim, r, c->v[i].hold);
		if (rk_store_read_durable_applied(n->reader, r->range, &durable) != 0)
			continue;
		c->v[i].limit = r->applied < durable ? r->applied : durable;
		c->v[k++] = c->v[i];
	}
	c->n = k;
}

/* Drops r's entries through upto: the store removes them in batch b; the
 * core sees them as compacted from now on. */
static int compact_to(struct rk_node *n, struct rk_replica *r, uint64_t upto,
		      struct rk_store_batch **bp)
{
	uint64_t term, before = rk_logbytes_get(&r->lb);

	if (rk_store_log_term(n->reader, r->range, upto, &term) != 0)
		return 0;
	if (*bp == NULL && (*bp = rk_store_batch_new()) == NULL)
		return RK_ENOMEM;
	rk_store_batch_compact(*bp, r->range, upto);
	r->rs.trunc_index = upto;
	r->rs.trunc_term = term;
	rk_store_batch_raft_state(*bp, r->range, &r->rs);
	r->first = upto + 1;
	rk_logbytes_compact(&r->lb, upto);
	n->snaps.log_bytes += rk_logbytes_get(&r->lb);
	n->snaps.log_bytes -= before;
	n->stats.compactions++;
	return 0;
}

/* Logs grow only while a range is awake: every awake replica is looked at
 * each round, and a slice of the sleeping ones (one that went to sleep
 * right after its log crossed the mark is found within a pass). When the
 * node's total is over its budget, every replica is. */
#define COMPACT_SLICE 4096

void rk_compact_run(struct rk_node *n)
{
	struct rk_logkeep_limits lim = {n->cfg.log_keep, n->cfg.log_keep_bytes,
					n->cfg.log_keep_bytes_total,
					n->space.known ? n->space.free_bytes / 4 : 0};
	struct compact c = {NULL, 0, 0, false, false};
	struct rk_store_batch *b = NULL;
	bool want_ckpt = false;

	c.all = lim.total_bytes > 0 && n->snaps.log_bytes > lim.total_bytes;
	if (c.all) {
		for (size_t i = 0; i < n->tab.n; i++)
			compact_one(n->tab.byid[i], &c);
	} else {
		rk_table_visit_some(&n->tab, &n->snaps.compact_cursor, COMPACT_SLICE,
				    compact_one, &c);
	}
	if (c.oom)
		rk_log_warn(MOD, "out of memory choosing the logs to compact");
	candidates_limit(n, &c, &lim);
	rk_logkeep_decide(&lim, n->snaps.log_bytes, c.v, c.n, &want_ckpt);
	for (size_t i = 0; i < c.n; i++) {
		if (c.v[i].held)
			n->stats.log_holds++;
		if (c.v[i].upto > 0 && compact_to(n, c.v[i].arg, c.v[i].upto, &b) != 0) {
			rk_log_warn(MOD, "out of memory compacting logs");
			break;
		}
	}
	free(c.v);
	if (b != NULL && rk_store_submit(n->store, b, NULL, NULL) != 0)
		rk_log_error(MOD, "log compaction not submitted");
	if (want_ckpt)
		rk_store_checkpoint_async(n->store);
}
