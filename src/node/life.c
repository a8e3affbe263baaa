/*
 * A replica's life on a node: created on demand, removed (life.h).
 */
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "key.h"
#include "life.h"
#include "log.h"
#include "node_int.h"
#include "quiesce.h"
#include "serve.h"

#define MOD "node"

/* The slot of range in the sorted tombstones: its index, or where it
 * would go. */
static size_t tomb_slot(const struct rk_life *l, uint64_t range)
{
	size_t lo = 0, hi = l->nt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->tombs[mid].range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t rk_life_tomb(const struct rk_node *n, uint64_t range)
{
	const struct rk_life *l = &n->life;
	size_t i = tomb_slot(l, range);

	return i < l->nt && l->tombs[i].range == range ? l->tombs[i].min : 0;
}

int rk_life_tomb_raise(struct rk_node *n, uint64_t range, uint64_t min)
{
	struct rk_life *l = &n->life;
	size_t i = tomb_slot(l, range);

	if (i < l->nt && l->tombs[i].range == range) {
		if (l->tombs[i].min < min)
			l->tombs[i].min = min;
		return 0;
	}
	if (rk_grow((void **)&l->tombs, &l->tcap, l->nt, sizeof(*l->tombs)) != 0)
		return RK_ENOMEM;
	memmove(l->tombs + i + 1, l->tombs + i, (l->nt - i) * sizeof(*l->tombs));
	l->tombs[i].range = range;
	l->tombs[i].min = min;
	l->nt++;
	return 0;
}

static int load_tomb(void *arg, uint64_t range, uint64_t min)
{
	return rk_life_tomb_raise(arg, range, min) != 0 ? RK_ENOMEM : 0;
}

int rk_life_load_tombs(struct rk_node *n)
{
	n->life.nt = 0;
	return rk_store_list_tombstones(n->reader, load_tomb, n);
}

static void learn(struct rk_node *n, uint64_t range);

/* How many left neighbours (in the range cache) split_pending looks
 * through: splits applied elsewhere one after another, each making the
 * next one's left. */
#define SPLIT_CHAIN 8

/*
 * Whether a replica here still holds the start of e's span in its own
 * descriptor: e is then the right half of a split (or of a chain of them)
 * that replica has not applied yet, and that apply makes e's replica here
 * (split.c). The range cache learns the right half before the left here
 * applies its split (a router's redirect, the placement index asked by
 * learn()); a replica made empty from the right's first message would
 * wait for a snapshot that the left's span refuses until the split
 * applies here, and its leader, which sent it one, would have that
 * follower waiting for it meanwhile. The cache's left neighbours are
 * followed a few steps to a range held here.
 */
static bool split_pending(struct rk_node *n, const struct rk_rcache_entry *e)
{
	const struct rk_rcache_entry *l = e;

	for (int i = 0; i < SPLIT_CHAIN && l->slen > 0; i++) {
		const struct rk_replica *o;

		l = rk_rcache_ending_at(&n->rcache, l->start, l->slen);
		if (l == NULL)
			return false;
		o = rk_table_get(&n->tab, l->range);
		if (o == NULL || o->removing || o->desc.n_reps == 0)
			continue;
		return rk_key_cmp(o->desc.start, o->desc.slen, e->start, e->slen) < 0 &&
		       (o->desc.elen == 0 ||
			rk_key_cmp(e->start, e->slen, o->desc.end, o->desc.elen) < 0);
	}
	return false;
}

struct rk_replica *rk_life_create(struct rk_node *n, uint64_t range,
				  const struct rk_raft_msg *m, uint64_t from)
{
	const struct rk_rcache_entry *e;
	struct rk_store_raft_state old;
	struct rk_replica *r;
	int rc;

	if ((m->type != RK_RAFT_MSG_APP && m->type != RK_RAFT_MSG_HEARTBEAT) ||
	    m->term == 0 || m->to == 0 || range == 0 || n->stopping ||
	    m->to < rk_life_tomb(n, range))
		return NULL;
	/* A range this node has never heard of, or whose span a replica here
	 * still holds (split_pending), is the right half of a split its own
	 * left replica has not applied yet: the split creates that replica
	 * (split.h). Created empty now, it would wait for a snapshot its left
	 * neighbour's span refuses anyway. */
	/* The placement group's range is in no cache (it holds no span): a
	 * node gets a replica of it when the group's leader adds one here
	 * (the driver moves it like any range, sched_run.h), in a cluster
	 * that has the group. */
	/* A range made by a split after this node started, with no replica
	 * here before (a learner added by a move, none of its neighbours
	 * here to split): its descriptor is asked of the placement index,
	 * and the leader's next message finds it in the cache. */
	if (range == RK_RANGE_PLACEMENT) {
		if (n->plc.n_nodes == 0)
			return NULL;
	} else if ((e = rk_rcache_get(&n->rcache, range)) == NULL) {
		learn(n, range);
		return NULL;
	} else if (!n->hooks.split_right_early && split_pending(n, e)) {
		n->life.split_pending++;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->node = n;
	r->range = range;
	r->rs.replica_id = m->to;
	/* The same replica's stored term and vote (a right half whose left
	 * has not applied its split again since a restart, boot.c): a term
	 * or a vote given before the crash is never given again. */
	if (rk_store_read_raft_state(n->reader, range, &old) == 0 && old.replica_id == m->to) {
		r->rs.hs.term = old.hs.term;
		r->rs.hs.vote = old.hs.vote;
	}
	r->first = 1;
	r->desc.range_id = range;
	r->hint_replica = m->from;
	r->hint_node = from;
	rk_replica_terms_reset(r);
	rc = rk_raft_init(&r->raft, &n->ropts, r, m->to, 0,
			  range * 0x9e3779b97f4a7c15ull ^ n->cfg.node_id);
	if (rc == 0 && (rc = rk_table_add(&n->tab, r)) == 0 &&
	    (rc = rk_table_awake_add(&n->tab, r)) != 0)
		rk_table_remove(&n->tab, r);
	if (rc != 0) {
		rk_replica_free(r);
		return NULL;
	}
	rk_own_enter(n, r);
	n->life.created++;
	rk_crash_point(n, "life.created");
	rk_log_info(MOD, "range %llu: replica %llu created for node %llu's leader; "
		    "waiting for a snapshot", (unsigned long long)range,
		    (unsigned long long)m->to, (unsigned long long)from);
	return r;
}

void rk_life_remove(struct rk_node *n, struct rk_replica *r, const char *why)
{
	if (r->removing)
		return;
	if (rk_grow((void **)&n->life.pending, &n->life.cap, n->life.n,
		    sizeof(*n->life.pending)) != 0) {
		rk_log_error(MOD, "range %llu: out of memory removing its replica; stopping",
			     (unsigned long long)r->range);
		rk_node_fail(n);
		return;
	}
	rk_log_info(MOD, "range %llu: replica %llu leaves this node (%s)",
		    (unsigned long long)r->range, (unsigned long long)r->rs.replica_id, why);
	rk_crash_point(n, "life.leaving");
	n->life.pending[n->life.n++] = r;
	if (!r->asleep)
		rk_node_sleep(n, r); /* no more ticks */
	r->removing = true;      /* nor messages, commands, wake-ups */
	rk_serve_abandon(n, r);
	rk_elect_forget(n, r);
	rk_balance_forget(n, r);
}

void rk_life_notify(struct rk_node *n, struct rk_replica *r,
		    const struct rk_desc *old)
{
	for (uint8_t i = 0; i < old->n_reps; i++) {
		const struct rk_desc_replica *rep = &old->reps[i];
		struct rk_net_removed m = {r->range, rep->replica_id, r->desc.conf_version,
					   false};
		struct rk_peer *p;

		if (rk_desc_replica(&r->desc, rep->replica_id) != NULL)
			continue;
		p = rk_peer_find(n, rep->node_id);
		if (p != NULL)
			(void)rk_net_batch_add_removed(&p->batch, &m);
	}
}

/* An ask: answered when our configuration of the range had the replica
 * and no longer has (an id below next_replica_id was added once; ids are
 * never reused, so it was removed). */
static void answer_ask(struct rk_node *n, const struct rk_net_removed *m)
{
	struct rk_replica *r = rk_table_get(&n->tab, m->range);
	struct rk_net_removed a = {m->range, m->replica_id, 0, false};
	struct rk_peer *p = rk_peer_find(n, n->cur_from);

	if (r == NULL || r->removing || r->desc.n_reps == 0 || p == NULL ||
	    m->replica_id >= r->desc.next_replica_id ||
	    rk_desc_replica(&r->desc, m->replica_id) != NULL)
		return;
	a.conf_version = r->desc.conf_version;
	(void)rk_net_batch_add_removed(&p->batch, &a);
}

/* Whether node is one of the placement group's nodes as its leader last
 * told this node (heartbeat answers, the join's answer). */
static bool group_node(const struct rk_node *n, uint64_t node)
{
	for (uint32_t i = 0; i < n->plc.n_nodes; i++)
		if (n->plc.nodes[i] == node)
			return true;
	return false;
}

void rk_life_on_removed(void *arg, const struct rk_net_removed *m)
{
	struct rk_node *n = arg;
	struct rk_replica *r;
	bool known;

	if (m->ask) {
		answer_ask(n, m);
		return;
	}
	r = rk_table_get(&n->tab, m->range);
	if (r == NULL || r->removing || r->rs.replica_id != m->replica_id ||
	    m->conf_version <= r->desc.conf_version)
		return;
	/* Only a node of the range (as far as we know it) may say so: one of
	 * our descriptor's, or the one an uninitialized replica heard from. */
	known = r->desc.n_reps > 0 ? rk_desc_on_node(&r->desc, n->cur_from) != NULL
				   : n->cur_from == r->hint_node;
	/* Or, for the placement group, one of the nodes its leader last said
	 * hold it (plc.h): the index does not list the group's range. */
	known = known || (r->range == RK_RANGE_PLACEMENT && group_node(n, n->cur_from));
	if (known)
		rk_life_remove(n, r, "a node of its range says it was removed");
}

/* ---- asking the index (life.h, RK_LIFE_INDEX_MS) ---- */

struct rk_life_look {
	uint64_t range, asked_ms;
};

struct look_call {
	struct rk_node *n;
	uint64_t range, replica_id, conf_version;
};

static void looked(void *arg, int rc, struct rk_pl_page *pg)
{
	struct look_call *c = arg;
	struct rk_node *n = c->n;
	struct rk_replica *r = rc == 0 && !n->stopping ? rk_table_get(&n->tab, c->range) : NULL;

	if (r != NULL && !r->removing && r->rs.replica_id == c->replica_id &&
	    r->desc.conf_version == c->conf_version && rk_raft_leader(&r->raft) == 0) {
		for (size_t i = 0; i < pg->n; i++) {
			const struct rk_desc *d = &pg->descs[i];

			if (d->range_id == c->range && d->conf_version > c->conf_version &&
			    rk_desc_replica(d, c->replica_id) == NULL) {
				rk_life_remove(n, r, "the placement index lists its range without it");
				break;
			}
		}
	}
	free(c);
}

/* Whether range may be asked about now, at most once per `every` ms
 * (recorded in *vp if so). */
static bool due(struct rk_node *n, struct rk_life_look **vp, size_t *np, size_t *capp,
		uint64_t range, uint64_t every)
{
	uint64_t now = uv_now(&n->loop);
	size_t k = 0;
	bool ok = true;

	for (size_t i = 0; i < *np; i++) {
		if (now - (*vp)[i].asked_ms >= every)
			continue; /* forgotten */
		if ((*vp)[i].range == range)
			ok = false;
		(*vp)[k++] = (*vp)[i];
	}
	*np = k;
	if (!ok || rk_grow((void **)vp, capp, *np, sizeof(**vp)) != 0)
		return false;
	(*vp)[*np].range = range;
	(*vp)[(*np)++].asked_ms = now;
	return true;
}

/* Whether r's range may be looked up now (recorded if so). */
static bool look_due(struct rk_node *n, const struct rk_replica *r)
{
	struct rk_life *l = &n->life;

	return due(n, &l->looks, &l->nl, &l->lcap, r->range, RK_LIFE_INDEX_MS);
}

/* An unknown range's descriptor from the index, into the range cache
 * (rk_serve_learn_desc: not over a range this node holds), so that its
 * leader's next message creates the replica here. */
static void learned(void *arg, int rc, struct rk_pl_page *pg)
{
	struct look_call *c = arg;
	struct rk_node *n = c->n;

	n->life.learning--;
	for (size_t i = 0; rc == 0 && !n->stopping && i < pg->n; i++)
		if (pg->descs[i].range_id == c->range)
			rk_serve_learn_desc(n, &pg->descs[i]);
	free(c);
}

/* A message for a range the range cache does not know (life.h, "asking
 * the index"). */
static void learn(struct rk_node *n, uint64_t range)
{
	struct rk_life *l = &n->life;
	struct look_call *c;

	if (n->plc.n_nodes == 0 || l->learning >= RK_LIFE_LEARN_MAX ||
	    !due(n, &l->learns, &l->nn, &l->ncap, range, RK_LIFE_LEARN_MS))
		return;
	if ((c = malloc(sizeof(*c))) == NULL)
		return;
	*c = (struct look_call){n, range, 0, 0};
	if (rk_pix_read(n, range - 1, 1, learned, c) != 0) {
		free(c);
		return;
	}
	l->learning++;
}

static void look(struct rk_node *n, struct rk_replica *r)
{
	struct look_call *c;

	if (r->desc.n_reps == 0 || r->range == RK_RANGE_PLACEMENT || n->plc.n_nodes == 0 ||
	    n->life.looks_this_round >= RK_LIFE_INDEX_PER_ROUND || !look_due(n, r))
		return;
	if ((c = malloc(sizeof(*c))) == NULL)
		return;
	*c = (struct look_call){n, r->range, r->rs.replica_id, r->desc.conf_version};
	if (rk_pix_read(n, r->range - 1, 1, looked, c) != 0) {
		free(c);
		return;
	}
	n->life.looks_this_round++;
}

/* A replica that knows no leader asks the other nodes of its range whether
 * it is still in the configuration (one removed while its node was down,
 * or whose notice was lost, would otherwise campaign forever), and the
 * placement index (look). */
static void ask(struct rk_replica *r, void *arg)
{
	struct rk_node *n = arg;
	struct rk_net_removed m = {r->range, r->rs.replica_id, r->desc.conf_version, true};

	if (r->removing || rk_raft_leader(&r->raft) != 0)
		return;
	look(n, r);
	for (uint8_t i = 0; i < r->desc.n_reps; i++) {
		struct rk_peer *p = rk_peer_find(n, r->desc.reps[i].node_id);
		if (p != NULL)
			(void)rk_net_batch_add_removed(&p->batch, &m);
	}
	if (r->desc.n_reps == 0 && r->hint_node != 0) {
		struct rk_peer *p = rk_peer_find(n, r->hint_node);
		if (p != NULL)
			(void)rk_net_batch_add_removed(&p->batch, &m);
	}
	/* The group's replica also asks where the group is now: removed
	 * while its node was down, the group may have left every node of
	 * its descriptor, and the index (look) does not list the group. */
	for (uint32_t i = 0; r->range == RK_RANGE_PLACEMENT && i < n->plc.n_nodes; i++) {
		struct rk_peer *p;
		if (n->plc.nodes[i] == n->cfg.node_id ||
		    rk_desc_on_node(&r->desc, n->plc.nodes[i]) != NULL)
			continue; /* asked above */
		if ((p = rk_peer_find(n, n->plc.nodes[i])) != NULL)
			(void)rk_net_batch_add_removed(&p->batch, &m);
	}
}

void rk_life_ask(struct rk_node *n)
{
	n->life.looks_this_round = 0;
	rk_table_visit_some(&n->tab, &n->life.cursor, RK_LIFE_ASK_SLICE, ask, n);
}

struct gone {
	uv_work_t req;
	struct rk_node *n;
	struct rk_replica *r;
	struct rk_store_batch *b;
	int rc;
};

static void gone_run(uv_work_t *req)
{
	struct gone *g = req->data;

	g->rc = rk_store_write(g->n->store, g->b);
}

/* The replica's stored states are gone: the runtime one goes too. */
static void gone_finish(struct rk_node *n, struct rk_replica *r)
{
	if (rk_life_tomb_raise(n, r->range, r->rs.replica_id + 1) != 0) {
		/* The tombstone is in the store, and a restart loads it; served
		 * on without it, a late message could bring the replica back. */
		rk_log_error(MOD, "range %llu: out of memory recording its tombstone; stopping",
			     (unsigned long long)r->range);
		rk_node_fail(n);
	}
	rk_own_leave(n, r);
	rk_table_remove(&n->tab, r);
	rk_snap_forget(n, r);
	n->life.removed++;
	rk_log_info(MOD, "range %llu: replica %llu removed%s; tombstone at %llu",
		    (unsigned long long)r->range, (unsigned long long)r->rs.replica_id,
		    r->merged_into != 0 ? " (merged: its data is its left's)" : " with its data",
		    (unsigned long long)r->rs.replica_id + 1);
	rk_replica_free(r);
}

static void gone_done(uv_work_t *req, int status)
{
	struct gone *g = req->data;
	struct rk_node *n = g->n;
	struct rk_replica *r = g->r;

	(void)status;
	if (g->rc != 0) {
		/* Serving it again would be wrong, and its data is all there:
		 * a restart removes it again. */
		rk_log_error(MOD, "range %llu: removing its replica failed: %s; stopping",
			     (unsigned long long)r->range, rk_strerror(g->rc));
		rk_node_fail(n);
		free(g);
		return;
	}
	rk_crash_point(n, "life.remove_written");
	gone_finish(n, r);
	free(g);
}

/* Nothing of r in flight: no persist, no processing, no snapshot work. */
static bool idle(const struct rk_replica *r)
{
	/* A merged-away replica takes no ready again (process.c): one it
	 * kept is dropped with it. */
	if (r->merged_into != 0)
		return !r->persisting && !rk_snap_busy(r);
	return !r->persisting && !r->dirty && !r->have_ready && !rk_snap_busy(r);
}

static int start_removal(struct rk_node *n, struct rk_replica *r)
{
	struct gone *g;

	if (r->merged_into != 0) {
		/* Merged (merge.c): its apply state is a gone mark in the
		 * left's apply batch; its logged states go once that batch is
		 * checkpointed (before, a crash brings the left back to before
		 * the merge, which then needs the right's log to apply it
		 * again). No span is cleared: its data is the left's. */
		struct rk_replica *l = rk_table_get(&n->tab, r->merged_into);
		uint64_t durable = 0;

		if (l != NULL && !l->removing &&
		    (rk_store_read_durable_applied(n->reader, l->range, &durable) != 0 ||
		     durable < r->merged_at)) {
			rk_store_checkpoint_async(n->store);
			return RK_EAGAIN; /* later */
		}
		rk_crash_point(n, "merge.left_durable");
	} else if (rk_handoff_pending(n, r->range)) {
		/* It split here after the last checkpoint (handoff.h). */
		rk_store_checkpoint_async(n->store);
		return RK_EAGAIN; /* later */
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->b = rk_store_batch_new()) == NULL) {
		free(g);
		return RK_ENOMEM;
	}
	/* An uninitialized replica has no span: nothing of the key space is
	 * its to clear. */
	if (r->merged_into != 0)
		rk_store_batch_remove_uninit(g->b, r->range, r->rs.replica_id + 1);
	else if (r->desc.n_reps > 0)
		rk_store_batch_remove_replica(g->b, r->range, r->rs.replica_id + 1,
					      r->desc.start, r->desc.slen, r->desc.end,
					      r->desc.elen);
	else
		rk_store_batch_remove_uninit(g->b, r->range, r->rs.replica_id + 1);
	g->n = n;
	g->r = r;
	g->req.data = g;
	if (uv_queue_work(&n->loop, &g->req, gone_run, gone_done) != 0) {
		rk_store_batch_free(g->b);
		free(g);
		return RK_ENOMEM;
	}
	r->destroying = true;
	return 0;
}

void rk_life_tick(struct rk_node *n)
{
	size_t k = 0;

	for (size_t i = 0; i < n->life.n; i++) {
		struct rk_replica *r = n->life.pending[i];

		if (!idle(r) || start_removal(n, r) != 0)
			n->life.pending[k++] = r; /* later */
	}
	n->life.n = k;
}

void rk_life_free(struct rk_node *n)
{
	free(n->life.pending);
	n->life.pending = NULL;
	n->life.n = n->life.cap = 0;
	free(n->life.tombs);
	n->life.tombs = NULL;
	free(n->life.looks);
	n->life.looks = NULL;
	free(n->life.learns);
	n->life.learns = NULL;
	n->life.nn = n->life.ncap = 0;
	n->life.nl = n->life.lcap = 0;
	n->life.nt = n->life.tcap = 0;
}
