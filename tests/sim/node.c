/*
 * One simulated replica: its durable storage (what survives a crash), and
 * the driver that follows the ready contract exactly as a node must:
 * immediate messages leave when the batch is taken; the snapshot, entries
 * and hard state become durable at a later, random step (the disk); only
 * then do msgs_after_persist leave, committed entries apply and the batch
 * is advanced. A crash in between loses the whole batch.
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"
#include "sim.h"

uint64_t sim_store_last(const struct sim_store *st)
{
	return st->snap_index + st->n;
}

/* ---- storage ops (ctx is the sim_node) -------------------------------------------- */

static int st_initial(void *ctx, struct rk_raft_hard_state *hs,
		      struct rk_raft_conf_state *cs)
{
	struct sim_node *nd = ctx;

	*hs = nd->store.hs;
	*cs = nd->store.cs;
	return 0;
}

static int st_term(void *ctx, uint64_t i, uint64_t *t)
{
	struct sim_store *st = &((struct sim_node *)ctx)->store;

	*t = 0;
	if (i == st->snap_index) {
		*t = st->snap_term;
		return 0;
	}
	if (i < st->snap_index)
		return RK_ECOMPACTED;
	if (i > sim_store_last(st))
		return RK_EUNAVAILABLE;
	*t = st->ents[i - st->snap_index - 1].term;
	return 0;
}

static int st_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max,
		      struct rk_raft_ents *out)
{
	struct sim_store *st = &((struct sim_node *)ctx)->store;
	uint64_t i;
	int rc;

	(void)max;
	if (lo <= st->snap_index)
		return RK_ECOMPACTED;
	if (hi > sim_store_last(st) + 1)
		return RK_EUNAVAILABLE;
	for (i = lo; i < hi; i++) {
		rc = rk_raft_ents_push(out, &st->ents[i - st->snap_index - 1]);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

static uint64_t st_first(void *ctx)
{
	return ((struct sim_node *)ctx)->store.snap_index + 1;
}

static uint64_t st_last(void *ctx)
{
	return sim_store_last(&((struct sim_node *)ctx)->store);
}

static int st_snapshot(void *ctx, struct rk_raft_snapshot_meta *m)
{
	struct sim_node *nd = ctx;

	memset(m, 0, sizeof(*m));
	m->index = nd->store.applied;
	m->conf = nd->store.cs;
	if (st_term(ctx, m->index, &m->term) != 0 || m->term == 0)
		return RK_ESNAPTEMP;
	return 0;
}

const struct rk_raft_storage_ops sim_storage_ops = {
	st_initial, st_term, st_entries, st_first, st_last, st_snapshot,
};

/* ---- lifecycle ---------------------------------------------------------------------- */

void sim_node_boot(struct sim *s, struct sim_node *nd, bool voter, int voters)
{
	int i;

	memset(&nd->store, 0, sizeof(nd->store));
	nd->exists = voter;
	if (!voter)
		return;
	for (i = 1; i <= voters; i++) {
		nd->store.cs.ids[nd->store.cs.n] = (uint64_t)i;
		nd->store.cs.flags[nd->store.cs.n++] = RK_RAFT_VOTER;
	}
	nd->store.snap_index = nd->store.applied = RK_RAFT_INIT_INDEX;
	nd->store.snap_term = nd->store.hs.term = RK_RAFT_INIT_TERM;
	nd->store.hs.commit = RK_RAFT_INIT_INDEX;
	nd->store.snap_cs = nd->store.cs;
	nd->last_applied = nd->store.applied;
	(void)s;
}

void sim_node_start(struct sim *s, struct sim_node *nd)
{
	int rc = rk_raft_init(&nd->raft, &s->ropts, nd, (uint64_t)nd->id,
			      nd->store.applied, s->o.seed * 131 + (uint64_t)nd->id +
						 s->step);

	if (rc != 0) {
		sim_fail(s, "restart from durable state", "init of %d: %s", nd->id,
			 rk_strerror(rc));
		return;
	}
	nd->up = true;
	nd->pending = false;
	sim_event(s, "start %d (term %llu, applied %llu, last %llu)", nd->id,
		  (unsigned long long)nd->store.hs.term,
		  (unsigned long long)nd->store.applied,
		  (unsigned long long)sim_store_last(&nd->store));
}

void sim_node_crash(struct sim *s, struct sim_node *nd)
{
	if (!nd->up)
		return;
	/* Whatever the pending batch held never reached the disk. */
	rk_raft_close(&nd->raft);
	nd->up = false;
	nd->pending = false;
	nd->hold_apply = 0;
	sim_event(s, "crash %d", nd->id);
}

void sim_node_free(struct sim_node *nd)
{
	size_t i;

	if (nd->up)
		rk_raft_close(&nd->raft);
	nd->up = false;
	for (i = 0; i < nd->store.n; i++)
		free((void *)(uintptr_t)nd->store.ents[i].data);
	free(nd->store.ents);
	nd->store.ents = NULL;
	nd->store.n = nd->store.cap = 0;
}

bool sim_node_take_ready(struct sim *s, struct sim_node *nd)
{
	size_t i;
	int rc;

	if (!nd->up || nd->pending || !rk_raft_has_ready(&nd->raft))
		return false;
	/* A leader's own state machine applies (a node moves leadership off
	 * a replica that cannot apply). */
	if (nd->hold_apply != 0 && nd->raft.role == RK_RAFT_LEADER) {
		nd->hold_apply = 0;
		sim_event(s, "node %d leads: its apply is no longer held", nd->id);
	}
	rc = rk_raft_ready(&nd->raft, &nd->rd);
	if (rc != 0) {
		sim_fail(s, "ready", "node %d: %s", nd->id, rk_strerror(rc));
		return false;
	}
	if (nd->hold_apply != 0 && nd->rd.snapshot == NULL) {
		struct rk_raft_ready *rd = &nd->rd;

		/* Cut short, as a node does while it waits for a snapshot;
		 * a ready holding nothing else moves nothing. */
		while (rd->n_committed > 0 &&
		       rd->committed[rd->n_committed - 1].index >= nd->hold_apply)
			rd->n_committed--;
		if (rd->n_msgs == 0 && rd->n_msgs_after_persist == 0 && rd->n_entries == 0 &&
		    !rd->has_hard_state && rd->n_committed == 0 && rd->n_read_states == 0) {
			rk_raft_advance(&nd->raft, rd);
			return false;
		}
	}
	nd->pending = true;
	nd->pending_since = s->step;
	for (i = 0; i < nd->rd.n_msgs; i++)
		sim_net_send(s, &nd->rd.msgs[i]);
	return true;
}

/* ---- persistence ---------------------------------------------------------------------- */

static void store_append(struct sim_store *st, const struct rk_raft_entry *e,
			 size_t n)
{
	size_t i;

	if (n == 0)
		return;
	while (st->n > 0 && sim_store_last(st) >= e[0].index) {
		st->n--;
		free((void *)(uintptr_t)st->ents[st->n].data);
	}
	if (st->n + n > st->cap) {
		st->cap = (st->n + n) * 2;
		st->ents = realloc(st->ents, st->cap * sizeof(*st->ents));
	}
	for (i = 0; i < n; i++) {
		uint8_t *d = NULL;
		if (e[i].len > 0) {
			d = malloc(e[i].len);
			memcpy(d, e[i].data, e[i].len);
		}
		st->ents[st->n] = e[i];
		st->ents[st->n].data = d;
		st->n++;
	}
}

static void store_reset(struct sim_store *st, uint64_t index, uint64_t term,
			const struct rk_raft_conf_state *cs)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		free((void *)(uintptr_t)st->ents[i].data);
	st->n = 0;
	st->snap_index = index;
	st->snap_term = term;
	st->snap_cs = *cs;
	st->cs = *cs;
	st->applied = index;
}

static void ack_writes(struct sim *s, struct sim_node *nd,
		       const struct rk_raft_entry *e)
{
	size_t i;

	for (i = s->n_writes; i > 0; i--) {
		struct sim_write *w = &s->writes[i - 1];
		if (w->acked || w->leader != nd->id || w->index != e->index)
			continue;
		if (w->term == e->term) {
			w->acked = true;
			w->ack_step = s->step;
			s->n_writes_acked++;
			if (e->index > s->acked_max_index)
				s->acked_max_index = e->index;
		}
	}
}

static void apply(struct sim *s, struct sim_node *nd)
{
	const struct rk_raft_ready *rd = &nd->rd;
	size_t i;

	for (i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];

		sim_check_apply(s, nd, e);
		if (e->type == RK_RAFT_ENTRY_CONF_CHANGE) {
			struct rk_raft_conf_change cc;
			if (rk_raft_cc_decode(e->data, e->len, &cc) == 0) {
				(void)rk_raft_apply_conf_change(&nd->raft, &cc,
								&nd->store.cs);
				s->n_conf++;
				sim_event(s, "node %d applies conf change at %llu (%d changes)",
					  nd->id, (unsigned long long)e->index, cc.n);
			} else {
				sim_fail(s, "conf change decodes", "node %d index %llu",
					 nd->id, (unsigned long long)e->index);
			}
		}
		nd->store.applied = e->index;
		ack_writes(s, nd, e);
	}
}

void sim_node_persist(struct sim *s, struct sim_node *nd)
{
	const struct rk_raft_ready *rd = &nd->rd;
	size_t i;

	if (!nd->up || !nd->pending)
		return;
	if (rd->snapshot != NULL) {
		unsigned k;
		for (k = 0; k < 8 && nd->snaps_received[k] != rd->snapshot->index; k++)
			;
		if (k == 8)
			sim_fail(s, "snapshot installed only from a received one",
				 "node %d installs %llu, which it never received",
				 nd->id, (unsigned long long)rd->snapshot->index);
		if (rd->snapshot_keeps_log) {
			/* Asked for, at an entry of the log: the state
			 * machine takes it, the log stays. */
			nd->store.applied = rd->snapshot->index;
			nd->store.cs = rd->snapshot->conf;
		} else {
			store_reset(&nd->store, rd->snapshot->index, rd->snapshot->term,
				    &rd->snapshot->conf);
		}
		sim_check_snapshot_installed(s, nd, rd->snapshot->index,
					     rd->snapshot->term);
		s->n_snapshots++;
		if (nd->hold_apply != 0)
			s->n_holds_by_snapshot++;
		nd->hold_apply = 0;
		sim_event(s, "node %d installs snapshot %llu/%llu", nd->id,
			  (unsigned long long)rd->snapshot->index,
			  (unsigned long long)rd->snapshot->term);
	}
	if (rd->n_entries > 0) {
		store_append(&nd->store, rd->entries, rd->n_entries);
		sim_check_persist(s, nd, rd->entries, rd->n_entries);
	}
	if (rd->has_hard_state)
		nd->store.hs = rd->hs;
	for (i = 0; i < rd->n_msgs_after_persist; i++)
		sim_net_send(s, &rd->msgs_after_persist[i]);
	apply(s, nd);
	for (i = 0; i < rd->n_read_states; i++) {
		uint64_t ctx = rd->read_states[i].ctx;
		if (ctx >= 1 && ctx <= s->n_reads && !s->reads[ctx - 1].released) {
			struct sim_read *r = &s->reads[ctx - 1];
			r->node = nd->id;
			r->release_index = rd->read_states[i].index;
			r->released = true;
		}
	}
	rk_raft_advance(&nd->raft, rd);
	nd->pending = false;
	sim_event(s, "node %d persisted (entries %zu, commit %llu, applied %llu)",
		  nd->id, rd->n_entries, (unsigned long long)nd->raft.committed,
		  (unsigned long long)nd->store.applied);
	sim_node_serve_reads(s, nd);
}

/* Serves every released read of this node whose index it has applied. */
void sim_node_serve_reads(struct sim *s, struct sim_node *nd)
{
	size_t i;

	for (i = 0; i < s->n_reads; i++) {
		struct sim_read *r = &s->reads[i];
		if (!r->released || r->served || r->node != nd->id)
			continue;
		if (nd->store.applied < r->release_index)
			continue;
		r->served = true;
		s->n_reads_served++;
		sim_check_read_served(s, nd, r);
	}
}

void sim_node_compact(struct sim *s, struct sim_node *nd)
{
	struct sim_store *st = &nd->store;
	uint64_t upto = st->applied, t = 0;
	size_t k, i;

	if (!nd->up || upto <= st->snap_index)
		return;
	(void)st_term(nd, upto, &t);
	k = (size_t)(upto - st->snap_index);
	if (k > st->n)
		return;
	for (i = 0; i < k; i++)
		free((void *)(uintptr_t)st->ents[i].data);
	memmove(st->ents, st->ents + k, (st->n - k) * sizeof(*st->ents));
	st->n -= k;
	st->snap_index = upto;
	st->snap_term = t;
	st->snap_cs = st->cs;
	sim_event(s, "node %d compacts to %llu", nd->id, (unsigned long long)upto);
}
