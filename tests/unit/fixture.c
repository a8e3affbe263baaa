#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- in-memory storage ---------------------------------------------------------- */

static uint64_t st_last(void *ctx)
{
	struct fx_store *s = ctx;
	return s->snap.index + s->n;
}

static uint64_t st_first(void *ctx)
{
	struct fx_store *s = ctx;
	return s->snap.index + 1;
}

static int st_initial(void *ctx, struct rk_raft_hard_state *hsp,
		      struct rk_raft_conf_state *csp)
{
	struct fx_store *s = ctx;
	*hsp = s->hs;
	*csp = s->cs;
	return 0;
}

static int st_term(void *ctx, uint64_t i, uint64_t *tp)
{
	struct fx_store *s = ctx;
	*tp = 0;
	if (i == s->snap.index) {
		*tp = s->snap.term;
		return 0;
	}
	if (i < s->snap.index)
		return RK_ECOMPACTED;
	if (i > st_last(s))
		return RK_EUNAVAILABLE;
	*tp = s->ents[i - s->snap.index - 1].term;
	return 0;
}

static int st_entries(void *ctx, uint64_t lo, uint64_t hi, uint64_t max,
		      struct rk_raft_ents *out)
{
	struct fx_store *s = ctx;
	uint64_t i;
	int rc;

	(void)max;
	if (lo <= s->snap.index)
		return RK_ECOMPACTED;
	if (hi > st_last(s) + 1)
		return RK_EUNAVAILABLE;
	for (i = lo; i < hi; i++) {
		rc = rk_raft_ents_push(out, &s->ents[i - s->snap.index - 1]);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

static int st_snapshot(void *ctx, struct rk_raft_snapshot_meta *mp);

static const struct rk_raft_storage_ops fx_ops = {
	.initial_state = st_initial,
	.term = st_term,
	.entries = st_entries,
	.first_index = st_first,
	.last_index = st_last,
	.snapshot = st_snapshot,
};

static void st_truncate_from(struct fx_store *s, uint64_t index)
{
	while (s->n > 0 && s->snap.index + s->n >= index) {
		free((void *)(uintptr_t)s->ents[s->n - 1].data);
		s->n--;
	}
}

static void st_append(struct fx_store *s, const struct rk_raft_entry *e,
		      size_t n)
{
	size_t i;

	if (n == 0)
		return;
	st_truncate_from(s, e[0].index);
	s->ents = realloc(s->ents, (s->n + n) * sizeof(*s->ents));
	for (i = 0; i < n; i++) {
		uint8_t *d = NULL;
		if (e[i].len) {
			d = malloc(e[i].len);
			memcpy(d, e[i].data, e[i].len);
		}
		s->ents[s->n] = e[i];
		s->ents[s->n].data = d;
		s->n++;
	}
}

static void st_free(struct fx_store *s)
{
	st_truncate_from(s, 0);
	free(s->ents);
	s->ents = NULL;
}

/* ---- nodes ------------------------------------------------------------------------- */

static struct fx *g_fx_for_snap; /* st_snapshot needs the node's applied state */

static int st_snapshot(void *ctx, struct rk_raft_snapshot_meta *mp)
{
	struct fx *fx = g_fx_for_snap;
	int i;

	for (i = 1; i <= fx->n; i++) {
		struct fx_node *nd = &fx->nodes[i];
		if (&nd->store == ctx) {
			mp->index = nd->applied;
			(void)st_term(ctx, nd->applied, &mp->term);
			mp->conf = nd->applied_conf;
			return mp->term == 0 ? RK_ESNAPTEMP : 0;
		}
	}
	return RK_ESNAPTEMP;
}

struct rk_raft *fx_raft(struct fx *fx, int id)
{
	return &fx->nodes[id].raft;
}

static void node_start(struct fx *fx, int id)
{
	struct fx_node *nd = &fx->nodes[id];
	int rc = rk_raft_init(&nd->raft, &fx->opts, &nd->store, (uint64_t)id,
			      nd->applied, 1000 + (uint64_t)id);
	if (rc != 0) {
		fprintf(stderr, "fx: init %d: %s\n", id, rk_strerror(rc));
		abort();
	}
	nd->up = true;
}

void fx_init(struct fx *fx, int n, int voters,
	     void (*tune)(struct rk_raft_options *o))
{
	int i, j;

	memset(fx, 0, sizeof(*fx));
	g_fx_for_snap = fx;
	fx->n = n;
	rk_raft_options_default(&fx->opts);
	fx->opts.storage = &fx_ops;
	if (tune != NULL)
		tune(&fx->opts);
	for (i = 1; i <= n; i++) {
		struct fx_node *nd = &fx->nodes[i];
		if (i <= voters) {
			struct rk_raft_conf_state cs;
			memset(&cs, 0, sizeof(cs));
			for (j = 1; j <= voters; j++) {
				cs.ids[cs.n] = (uint64_t)j;
				cs.flags[cs.n++] = RK_RAFT_VOTER;
			}
			nd->store.cs = cs;
			nd->store.snap.index = RK_RAFT_INIT_INDEX;
			nd->store.snap.term = RK_RAFT_INIT_TERM;
			nd->store.snap.conf = cs;
			nd->store.hs.term = RK_RAFT_INIT_TERM;
			nd->store.hs.commit = RK_RAFT_INIT_INDEX;
			nd->applied = RK_RAFT_INIT_INDEX;
			nd->applied_conf = cs;
		}
		node_start(fx, i);
	}
}

static void free_msg(struct fx_msg *fm)
{
	size_t i;

	for (i = 0; i < fm->m.n_entries; i++)
		free((void *)(uintptr_t)fm->m.entries[i].data);
	free(fm->m.entries);
	free(fm->m.snapshot);
	free(fm);
}

void fx_close(struct fx *fx)
{
	struct fx_msg *fm;
	int i;

	while ((fm = fx->head) != NULL) {
		fx->head = fm->next;
		free_msg(fm);
	}
	for (i = 1; i <= fx->n; i++) {
		if (fx->nodes[i].up)
			rk_raft_close(&fx->nodes[i].raft);
		st_free(&fx->nodes[i].store);
	}
}

static void enqueue(struct fx *fx, const struct rk_raft_msg *m)
{
	struct fx_msg *fm;
	size_t i;

	fx->msg_count[m->type]++;
	if (m->to < 1 || m->to > (uint64_t)fx->n || fx->cut[m->from][m->to])
		return;
	if (fx->filter != NULL && !fx->filter(fx, m))
		return;
	fm = calloc(1, sizeof(*fm));
	fm->m = *m;
	if (m->n_entries) {
		fm->m.entries = calloc(m->n_entries, sizeof(*m->entries));
		for (i = 0; i < m->n_entries; i++) {
			uint8_t *d = NULL;
			fm->m.entries[i] = m->entries[i];
			if (m->entries[i].len) {
				d = malloc(m->entries[i].len);
				memcpy(d, m->entries[i].data, m->entries[i].len);
			}
			fm->m.entries[i].data = d;
		}
	}
	if (m->type == RK_RAFT_MSG_APP && fx->trim_above[m->to] != 0) {
		while (fm->m.n_entries > 0 &&
		       fm->m.entries[fm->m.n_entries - 1].index >
			       fx->trim_above[m->to]) {
			fm->m.n_entries--;
			free((void *)(uintptr_t)fm->m.entries[fm->m.n_entries].data);
		}
	}
	if (m->snapshot) {
		fm->m.snapshot = malloc(sizeof(*m->snapshot));
		*fm->m.snapshot = *m->snapshot;
	}
	if (fx->tail)
		fx->tail->next = fm;
	else
		fx->head = fm;
	fx->tail = fm;
}

static uint64_t hash_entry(uint64_t h, const struct rk_raft_entry *e)
{
	uint32_t i;

	h ^= e->index * 0x100000001b3ull + e->term;
	for (i = 0; i < e->len; i++)
		h = (h ^ e->data[i]) * 0x100000001b3ull;
	return h * 0x9e3779b97f4a7c15ull;
}

static void apply_entries(struct fx_node *nd, const struct rk_raft_ready *rd)
{
	size_t i;

	for (i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];
		uint64_t prev = e->index >= 1 && e->index - 1 < 4096 ?
					nd->sm_hash[e->index - 1] : 0;
		if (e->index != nd->applied + 1) {
			fprintf(stderr, "fx: node %llu applies %llu after %llu\n",
				(unsigned long long)nd->raft.id,
				(unsigned long long)e->index,
				(unsigned long long)nd->applied);
			abort();
		}
		if (e->type == RK_RAFT_ENTRY_CONF_CHANGE) {
			struct rk_raft_conf_change cc;
			if (rk_raft_cc_decode(e->data, e->len, &cc) == 0)
				(void)rk_raft_apply_conf_change(&nd->raft, &cc,
								&nd->applied_conf);
		}
		if (e->index < 4096)
			nd->sm_hash[e->index] = hash_entry(prev, e);
		nd->applied = e->index;
		nd->apply_count++;
	}
}

static bool process_node(struct fx *fx, int id)
{
	struct fx_node *nd = &fx->nodes[id];
	struct rk_raft_ready rd;
	size_t i;

	if (!nd->up || !rk_raft_has_ready(&nd->raft))
		return false;
	if (rk_raft_ready(&nd->raft, &rd) != 0)
		abort();
	if (fx->hold_apply[id] != 0 && rd.snapshot == NULL) {
		bool moved;

		while (rd.n_committed > 0 &&
		       rd.committed[rd.n_committed - 1].index >= fx->hold_apply[id])
			rd.n_committed--;
		moved = rd.n_msgs > 0 || rd.n_msgs_after_persist > 0 || rd.n_entries > 0 ||
			rd.has_hard_state || rd.n_committed > 0 || rd.n_read_states > 0;
		if (!moved) {
			/* Only held entries: nothing moves (has_ready stays
			 * true while they wait). */
			rk_raft_advance(&nd->raft, &rd);
			return false;
		}
	}
	if (rd.snapshot != NULL)
		fx->hold_apply[id] = 0;
	for (i = 0; i < rd.n_msgs; i++)
		enqueue(fx, &rd.msgs[i]);
	if (rd.snapshot) {
		struct fx_node *src = NULL;
		int j;
		/* The data travels beside the message: take the state machine
		 * image at that index from any node that applied it. */
		for (j = 1; j <= fx->n; j++)
			if (fx->nodes[j].applied >= rd.snapshot->index)
				src = &fx->nodes[j];
		if (!rd.snapshot_keeps_log) {
			st_free(&nd->store);
			nd->store.n = 0;
			nd->store.snap = *rd.snapshot;
		}
		nd->store.cs = rd.snapshot->conf;
		nd->applied = rd.snapshot->index;
		nd->applied_conf = rd.snapshot->conf;
		if (src && rd.snapshot->index < 4096)
			nd->sm_hash[rd.snapshot->index] =
				src->sm_hash[rd.snapshot->index];
	}
	if (fx->lose_persist[id]) {
		fx->lose_persist[id] = false;
		rk_raft_advance(&nd->raft, &rd); /* frees the batch */
		fx_crash(fx, id);
		return true;
	}
	st_append(&nd->store, rd.entries, rd.n_entries);
	if (rd.has_hard_state)
		nd->store.hs = rd.hs;
	for (i = 0; i < rd.n_msgs_after_persist; i++)
		enqueue(fx, &rd.msgs_after_persist[i]);
	apply_entries(nd, &rd);
	nd->store.cs = nd->applied_conf;
	for (i = 0; i < rd.n_read_states && nd->n_reads < 64; i++) {
		nd->reads[nd->n_reads] = rd.read_states[i].ctx;
		nd->read_index[nd->n_reads++] = rd.read_states[i].index;
	}
	rk_raft_advance(&nd->raft, &rd);
	return true;
}

void fx_settle(struct fx *fx)
{
	int rounds, i;
	bool moved = true;

	for (rounds = 0; moved && rounds < 10000; rounds++) {
		struct fx_msg *fm;
		moved = false;
		for (i = 1; i <= fx->n; i++)
			moved |= process_node(fx, i);
		while ((fm = fx->head) != NULL) {
			fx->head = fm->next;
			if (fx->head == NULL)
				fx->tail = NULL;
			if (fx->nodes[fm->m.to].up)
				(void)rk_raft_step(&fx->nodes[fm->m.to].raft, &fm->m);
			free_msg(fm);
			moved = true;
		}
	}
}

void fx_tick(struct fx *fx, int id, int k)
{
	while (k-- > 0) {
		if (fx->nodes[id].up)
			rk_raft_tick(&fx->nodes[id].raft);
		fx_settle(fx);
	}
}

void fx_tick_all(struct fx *fx, int k)
{
	int i;

	while (k-- > 0) {
		for (i = 1; i <= fx->n; i++)
			if (fx->nodes[i].up)
				rk_raft_tick(&fx->nodes[i].raft);
		fx_settle(fx);
	}
}

bool fx_elect(struct fx *fx, int id)
{
	/* Voters refuse elections while they believe a leader is alive (and
	 * right after start): let that pass first. */
	int i;
	for (i = 1; i <= fx->n; i++)
		if (fx->nodes[i].up)
			fx->nodes[i].raft.refuse_until = 0;
	(void)rk_raft_campaign(&fx->nodes[id].raft);
	fx_settle(fx);
	return fx->nodes[id].raft.role == RK_RAFT_LEADER;
}

int fx_leader(struct fx *fx)
{
	int i, best = 0;
	uint64_t term = 0;

	for (i = 1; i <= fx->n; i++)
		if (fx->nodes[i].up && fx->nodes[i].raft.role == RK_RAFT_LEADER &&
		    fx->nodes[i].raft.term >= term) {
			term = fx->nodes[i].raft.term;
			best = i;
		}
	return best;
}

uint64_t fx_propose(struct fx *fx, int id, const char *s)
{
	uint64_t idx = 0;
	int rc = rk_raft_propose(&fx->nodes[id].raft, s, (uint32_t)strlen(s), &idx);
	if (rc != 0)
		return 0;
	fx_settle(fx);
	return idx;
}

void fx_isolate(struct fx *fx, int id)
{
	int i;
	for (i = 1; i <= fx->n; i++) {
		fx->cut[id][i] = true;
		fx->cut[i][id] = true;
	}
}

void fx_heal(struct fx *fx)
{
	memset(fx->cut, 0, sizeof(fx->cut));
}

void fx_crash(struct fx *fx, int id)
{
	struct fx_node *nd = &fx->nodes[id];

	if (!nd->up)
		return;
	rk_raft_close(&nd->raft);
	nd->up = false;
}

void fx_restart(struct fx *fx, int id)
{
	struct fx_node *nd = &fx->nodes[id];

	/* The fixture's state machine is durable with the log: restart from
	 * the applied index. */
	node_start(fx, id);
	(void)nd;
}

void fx_set_log(struct fx *fx, int id, const uint64_t *terms, int n,
		uint64_t hs_term)
{
	struct fx_node *nd = &fx->nodes[id];
	struct rk_raft_entry e;
	int i;

	fx_crash(fx, id);
	st_truncate_from(&nd->store, nd->store.snap.index + 1);
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		e.index = nd->store.snap.index + 1 + (uint64_t)i;
		e.term = terms[i];
		st_append(&nd->store, &e, 1);
	}
	nd->store.hs.term = hs_term;
	nd->store.hs.vote = 0;
	fx_restart(fx, id);
}

uint64_t fx_stored_term(struct fx *fx, int id, uint64_t index)
{
	uint64_t t = 0;

	(void)st_term(&fx->nodes[id].store, index, &t);
	return t;
}

uint64_t fx_stored_last(struct fx *fx, int id)
{
	return st_last(&fx->nodes[id].store);
}

void fx_compact(struct fx *fx, int id)
{
	struct fx_node *nd = &fx->nodes[id];
	struct fx_store *s = &nd->store;
	uint64_t upto = nd->applied, t;
	size_t k;

	if (upto <= s->snap.index)
		return;
	(void)st_term(s, upto, &t);
	k = upto - s->snap.index;
	for (size_t i = 0; i < k; i++)
		free((void *)(uintptr_t)s->ents[i].data);
	memmove(s->ents, s->ents + k, (s->n - k) * sizeof(*s->ents));
	s->n -= k;
	s->snap.index = upto;
	s->snap.term = t;
	s->snap.conf = nd->applied_conf;
}

int fx_conf_change(struct fx *fx, int leader, uint8_t transition, int n,
		   const uint8_t *ops, const uint64_t *ids)
{
	struct rk_raft_conf_change cc;
	int i, rc;

	memset(&cc, 0, sizeof(cc));
	cc.transition = transition;
	cc.n = (uint8_t)n;
	for (i = 0; i < n; i++) {
		cc.changes[i].op = ops[i];
		cc.changes[i].id = ids[i];
	}
	rc = rk_raft_propose_conf_change(&fx->nodes[leader].raft, &cc, NULL);
	fx_settle(fx);
	return rc;
}
