/*
 * The invariants, checked after every step (and at the moments that
 * define them: a persist, an apply, a snapshot install, a read served).
 *
 *  election safety      at most one leader per term
 *  log matching         an (index, term) names one entry, with one
 *                       predecessor term, in every durable log
 *  leader completeness  a leader's log holds every committed entry
 *  state machine safety no two replicas apply different entries at an index
 *  committed never lost (follows from the two above, checked directly for
 *                       snapshots: a snapshot's (index, term) is committed)
 *  applied monotonic    a replica's applied index never goes back, not even
 *                       across a crash
 *  linearizable reads   a read reflects every write acknowledged before it
 *                       started
 *  progress             checked by sim.c once the network heals
 */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"
#include "sim.h"

/* ---- entries seen in durable logs: (index, term) -> predecessor term, id ----- */

struct seen {
	uint64_t index, term, pred_term, id;
	struct seen *next;
};

#define SEEN_BUCKETS 4096
static struct seen *seen_tab[SEEN_BUCKETS];

static uint64_t payload_id(const struct rk_raft_entry *e)
{
	uint64_t h = 1469598103934665603ull ^ e->type;
	uint32_t i;

	for (i = 0; i < e->len; i++)
		h = (h ^ e->data[i]) * 1099511628211ull;
	return h;
}

static void seen_reset(void)
{
	size_t b;

	for (b = 0; b < SEEN_BUCKETS; b++) {
		while (seen_tab[b] != NULL) {
			struct seen *n = seen_tab[b]->next;
			free(seen_tab[b]);
			seen_tab[b] = n;
		}
	}
}

static struct seen *seen_get(uint64_t index, uint64_t term)
{
	struct seen *p = seen_tab[(index * 31 + term) % SEEN_BUCKETS];

	for (; p != NULL; p = p->next)
		if (p->index == index && p->term == term)
			return p;
	return NULL;
}

static void seen_put(uint64_t index, uint64_t term, uint64_t pred, uint64_t id)
{
	size_t b = (index * 31 + term) % SEEN_BUCKETS;
	struct seen *p = malloc(sizeof(*p));

	p->index = index;
	p->term = term;
	p->pred_term = pred;
	p->id = id;
	p->next = seen_tab[b];
	seen_tab[b] = p;
}

void sim_check_reset(void);
void sim_check_reset(void)
{
	seen_reset();
}

static uint64_t store_term(const struct sim_store *st, uint64_t i)
{
	if (i == st->snap_index)
		return st->snap_term;
	if (i < st->snap_index || i > sim_store_last(st))
		return 0;
	return st->ents[i - st->snap_index - 1].term;
}

void sim_check_persist(struct sim *s, struct sim_node *nd,
		       const struct rk_raft_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t pred = e[i].index - 1 >= nd->store.snap_index ?
					store_term(&nd->store, e[i].index - 1) : 0;
		uint64_t id = payload_id(&e[i]);
		struct seen *p = seen_get(e[i].index, e[i].term);

		if (e[i].index - 1 < nd->store.snap_index)
			continue; /* predecessor compacted: nothing to compare */
		if (p == NULL) {
			seen_put(e[i].index, e[i].term, pred, id);
			continue;
		}
		if (p->id != id || p->pred_term != pred)
			sim_fail(s, "log matching",
				 "node %d: entry %llu/%llu has %s than another log's",
				 nd->id, (unsigned long long)e[i].index,
				 (unsigned long long)e[i].term,
				 p->id != id ? "another payload" : "another predecessor");
	}
}

/* ---- the committed sequence ---------------------------------------------------- */

static void committed_reserve(struct sim *s, uint64_t index)
{
	if (index < s->c_cap)
		return;
	size_t ncap = s->c_cap == 0 ? 1024 : s->c_cap;
	while (ncap <= index)
		ncap *= 2;
	s->c_term = realloc(s->c_term, ncap * sizeof(*s->c_term));
	s->c_id = realloc(s->c_id, ncap * sizeof(*s->c_id));
	memset(s->c_term + s->c_cap, 0, (ncap - s->c_cap) * sizeof(*s->c_term));
	memset(s->c_id + s->c_cap, 0, (ncap - s->c_cap) * sizeof(*s->c_id));
	s->c_cap = ncap;
}

void sim_check_apply(struct sim *s, struct sim_node *nd,
		     const struct rk_raft_entry *e)
{
	uint64_t id = payload_id(e);

	if (e->index != nd->store.applied + 1)
		sim_fail(s, "apply in order", "node %d applies %llu after %llu",
			 nd->id, (unsigned long long)e->index,
			 (unsigned long long)nd->store.applied);
	committed_reserve(s, e->index);
	if (s->c_term[e->index] == 0) {
		s->c_term[e->index] = e->term;
		s->c_id[e->index] = id;
		if (e->index > s->c_max)
			s->c_max = e->index;
		s->n_commits++;
		return;
	}
	if (s->c_term[e->index] != e->term || s->c_id[e->index] != id)
		sim_fail(s, "state machine safety",
			 "node %d applies %llu/%llu, another replica applied %llu/%llu there",
			 nd->id, (unsigned long long)e->index,
			 (unsigned long long)e->term,
			 (unsigned long long)e->index,
			 (unsigned long long)s->c_term[e->index]);
}

void sim_check_snapshot_installed(struct sim *s, struct sim_node *nd,
				  uint64_t index, uint64_t term)
{
	if (index <= s->c_max && index < s->c_cap && s->c_term[index] != 0 &&
	    s->c_term[index] != term)
		sim_fail(s, "committed entries never lost",
			 "node %d installs snapshot %llu/%llu over committed %llu/%llu",
			 nd->id, (unsigned long long)index, (unsigned long long)term,
			 (unsigned long long)index,
			 (unsigned long long)s->c_term[index]);
}

void sim_check_read_served(struct sim *s, struct sim_node *nd,
			   struct sim_read *rd)
{
	if (nd->store.applied < rd->need_index)
		sim_fail(s, "linearizable reads",
			 "node %d serves a read at applied %llu, but a write at %llu was acknowledged before it started",
			 nd->id, (unsigned long long)nd->store.applied,
			 (unsigned long long)rd->need_index);
}

/* ---- every step ------------------------------------------------------------------ */

static void leader_completeness(struct sim *s, struct sim_node *nd)
{
	uint64_t first = raft_log_first_index(&nd->raft), i, t;

	for (i = first; i <= s->c_max; i++) {
		if (s->c_term[i] == 0)
			continue;
		if (raft_log_term(&nd->raft, i, &t) != 0 || t != s->c_term[i]) {
			sim_fail(s, "leader completeness",
				 "leader %d of term %llu lacks committed entry %llu/%llu (has term %llu)",
				 nd->id, (unsigned long long)nd->raft.term,
				 (unsigned long long)i,
				 (unsigned long long)s->c_term[i],
				 (unsigned long long)t);
			return;
		}
	}
}

void sim_check_step(struct sim *s)
{
	int i;

	for (i = 1; i <= s->o.nodes; i++) {
		struct sim_node *nd = &s->nodes[i];
		uint64_t term;

		if (nd->store.applied < nd->last_applied)
			sim_fail(s, "applied index never goes back",
				 "node %d went from %llu to %llu", nd->id,
				 (unsigned long long)nd->last_applied,
				 (unsigned long long)nd->store.applied);
		nd->last_applied = nd->store.applied;
		if (nd->up && (nd->raft.role != nd->seen_role ||
			       nd->raft.term != nd->seen_term)) {
			sim_event(s, "node %d is %s of term %llu", nd->id,
				  rk_raft_role_name(nd->raft.role),
				  (unsigned long long)nd->raft.term);
			nd->seen_role = nd->raft.role;
			nd->seen_term = nd->raft.term;
		}
		if (!nd->up || nd->raft.role != RK_RAFT_LEADER)
			continue;
		term = nd->raft.term;
		if (term >= s->lot_cap) {
			size_t ncap = s->lot_cap == 0 ? 256 : s->lot_cap;
			while (ncap <= term)
				ncap *= 2;
			s->leader_of_term = realloc(s->leader_of_term,
						    ncap * sizeof(uint64_t));
			memset(s->leader_of_term + s->lot_cap, 0,
			       (ncap - s->lot_cap) * sizeof(uint64_t));
			s->lot_cap = ncap;
		}
		if (s->leader_of_term[term] == 0) {
			s->leader_of_term[term] = (uint64_t)nd->id;
			s->n_elections++;
			sim_event(s, "node %d leads term %llu", nd->id,
				  (unsigned long long)term);
			leader_completeness(s, nd);
		} else if (s->leader_of_term[term] != (uint64_t)nd->id) {
			sim_fail(s, "election safety",
				 "nodes %llu and %d both lead term %llu",
				 (unsigned long long)s->leader_of_term[term], nd->id,
				 (unsigned long long)term);
		}
	}
}
