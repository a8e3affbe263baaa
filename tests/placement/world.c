/*
 * The tiny cluster of the scheduler's tests (world.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

#define W_MAX_OPS 64

uint64_t w_rand(struct world *w)
{
	/* xorshift64*: enough for placements and delays, and seedable. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 0x2545f4914f6cdd1dull;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Each range's keys and replicas are in its w_extra: pointed at again
 * whenever the arrays move (a realloc, a split's or a merge's memmove). */
static void repoint(struct world *w)
{
	for (size_t i = 0; i < w->n_ranges; i++) {
		w->ranges[i].start = w->ext[i].s;
		w->ranges[i].end = w->ext[i].e;
		w->ranges[i].reps = w->ext[i].reps;
	}
}

static void grow(struct world *w, size_t n)
{
	if (n <= w->cap)
		return;
	w->cap = n * 2;
	w->ranges = realloc(w->ranges, w->cap * sizeof(*w->ranges));
	w->ext = realloc(w->ext, w->cap * sizeof(*w->ext));
	assert_non_null(w->ranges);
	assert_non_null(w->ext);
	repoint(w);
}

static struct rk_pl_node *find_node(struct world *w, uint64_t id)
{
	for (size_t i = 0; i < w->n_nodes; i++)
		if (w->nodes[i].id == id)
			return &w->nodes[i];
	return NULL;
}

struct rk_pl_node *w_node(struct world *w, uint64_t id)
{
	struct rk_pl_node *n = find_node(w, id);

	if (n == NULL) {
		fail_msg("step %zu: no node %llu", w->steps,
			 (unsigned long long)id);
		abort(); /* not reached: tells the compiler so */
	}
	return n;
}

static size_t range_index(struct world *w, uint64_t id)
{
	for (size_t i = 0; i < w->n_ranges; i++)
		if (w->ranges[i].id == id)
			return i;
	fail_msg("step %zu: no range %llu", w->steps, (unsigned long long)id);
	return 0;
}

struct rk_pl_range *w_range(struct world *w, uint64_t id)
{
	return &w->ranges[range_index(w, id)];
}

void w_init(struct world *w, uint64_t seed, size_t n_nodes, size_t n_ranges,
	    const uint64_t *on, size_t n_on, uint64_t size_lo,
	    uint64_t size_hi)
{
	uint64_t step = n_ranges > 0 ? UINT64_MAX / n_ranges : 0;

	memset(w, 0, sizeof(*w));
	rk_pl_config_default(&w->cfg);
	/* Splits and merges only where a test asks for them. */
	w->cfg.split_size = 0;
	w->cfg.merge_size = 0;
	w->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	w->now_ms = 1000000;
	assert_true(n_nodes <= W_MAX_NODES);
	w->n_nodes = n_nodes;
	for (size_t i = 0; i < n_nodes; i++)
		w->nodes[i].id = i + 1;
	grow(w, n_ranges);
	w->n_ranges = n_ranges;
	w->next_range_id = n_ranges + 1;
	for (size_t i = 0; i < n_ranges; i++) {
		struct rk_pl_range *r = &w->ranges[i];
		struct w_extra *x = &w->ext[i];

		memset(r, 0, sizeof(*r));
		memset(x, 0, sizeof(*x));
		r->id = i + 1;
		r->reps = x->reps;
		r->generation = r->conf_version = 1;
		put_be64(x->s, step * i);
		put_be64(x->e, step * (i + 1));
		r->slen = i == 0 ? 0 : 8;
		r->elen = i + 1 == n_ranges ? 0 : 8;
		for (uint32_t k = 0; k < w->cfg.replicas && k < n_on; k++) {
			r->reps[k].replica_id = k + 1;
			r->reps[k].node_id = on[(i + k) % n_on];
			r->reps[k].role = RK_DESC_VOTER;
			r->n_reps++;
		}
		x->next_rid = r->n_reps + 1;
		r->leader_node = r->reps[0].node_id;
		r->size_bytes = size_lo + (size_hi > size_lo
						   ? w_rand(w) % (size_hi - size_lo)
						   : 0);
	}
}

size_t w_pass(struct world *w, struct rk_pl_op *ops, size_t max, struct rk_pl_pass *passp)
{
	struct rk_pl_state st;

	w_state(w, &st);
	memset(passp, 0, sizeof(*passp));
	passp->ops = ops;
	passp->max_ops = max;
	assert_int_equal(rk_pl_pass(&w->cfg, &st, passp), 0);
	return passp->n_ops;
}

size_t w_count_ops(const struct rk_pl_op *ops, size_t n, uint8_t kind)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += ops[i].kind == kind;
	return c;
}

void w_set_reps(struct rk_pl_range *r, const uint64_t *on, uint8_t n)
{
	r->n_reps = n;
	for (uint8_t k = 0; k < n; k++) {
		r->reps[k].replica_id = k + 1;
		r->reps[k].node_id = on[k];
		r->reps[k].role = RK_DESC_VOTER;
	}
	r->leader_node = on[0];
}

void w_free(struct world *w)
{
	free(w->ranges);
	free(w->ext);
	free(w->seen);
	rk_pl_figtab_free(&w->figs);
	memset(w, 0, sizeof(*w));
}

void w_state(struct world *w, struct rk_pl_state *stp)
{
	repoint(w);
	memset(stp, 0, sizeof(*stp));
	stp->now_ms = w->now_ms;
	stp->nodes = w->nodes;
	stp->n_nodes = w->n_nodes;
	stp->ranges = w->ranges;
	stp->n_ranges = w->n_ranges;
	assert_int_equal(rk_pl_tally(stp), 0);
}

static bool node_up(struct world *w, uint64_t id)
{
	const struct rk_pl_node *n = find_node(w, id);

	return n != NULL && (n->state == RK_PL_LIVE || n->state == RK_PL_SUSPECT ||
			     n->state == RK_PL_DECOMMISSIONING);
}

/* A leader among r's voters on up nodes if a majority of its voters is up
 * (the first such, as a stand-in for an election); else none. */
static void elect(struct world *w, struct rk_pl_range *r)
{
	uint64_t pick = 0;
	unsigned voters = 0, up = 0;

	for (uint8_t k = 0; k < r->n_reps; k++) {
		if (r->reps[k].role != RK_DESC_VOTER)
			continue;
		voters++;
		if (node_up(w, r->reps[k].node_id)) {
			up++;
			if (pick == 0)
				pick = r->reps[k].node_id;
		}
	}
	r->leader_node = 2 * up > voters ? pick : 0;
}

void w_set_node(struct world *w, uint64_t id, uint8_t state)
{
	struct rk_pl_node *n = w_node(w, id);

	n->state = state;
	if (state == RK_PL_DEAD)
		n->dead_since_ms = w->now_ms;
	for (size_t i = 0; i < w->n_ranges; i++)
		if (w->ranges[i].leader_node == id && !node_up(w, id))
			elect(w, &w->ranges[i]);
}

uint64_t w_add_node(struct world *w)
{
	struct rk_pl_node *n;

	assert_true(w->n_nodes < W_MAX_NODES);
	n = &w->nodes[w->n_nodes];
	memset(n, 0, sizeof(*n));
	n->id = w->nodes[w->n_nodes - 1].id + 1;
	w->n_nodes++;
	return n->id;
}

static struct rk_pl_replica *find_rep(struct world *w, struct rk_pl_range *r,
				      uint64_t replica_id)
{
	for (uint8_t k = 0; k < r->n_reps; k++)
		if (r->reps[k].replica_id == replica_id)
			return &r->reps[k];
	fail_msg("step %zu: range %llu has no replica %llu", w->steps,
		 (unsigned long long)r->id, (unsigned long long)replica_id);
	abort(); /* not reached */
}

/* Voters of r on live nodes, not counting `but`. */
static unsigned live_voters(struct world *w, const struct rk_pl_range *r,
			    const struct rk_pl_replica *but)
{
	unsigned n = 0;

	for (uint8_t k = 0; k < r->n_reps; k++) {
		const struct rk_pl_node *node = find_node(w, r->reps[k].node_id);

		if (&r->reps[k] != but && r->reps[k].role == RK_DESC_VOTER &&
		    node != NULL && node->state == RK_PL_LIVE)
			n++;
	}
	return n;
}

static void remove_rep(struct rk_pl_range *r, struct rk_pl_replica *p)
{
	size_t k = (size_t)(p - r->reps);

	memmove(&r->reps[k], &r->reps[k + 1],
		(r->n_reps - k - 1) * sizeof(r->reps[0]));
	r->n_reps--;
}

static bool same_set(const struct rk_pl_range *a, const struct rk_pl_range *b)
{
	if (a->n_reps != b->n_reps)
		return false;
	for (uint8_t i = 0; i < a->n_reps; i++) {
		bool found = false;

		for (uint8_t k = 0; k < b->n_reps; k++)
			found |= a->reps[i].node_id == b->reps[k].node_id &&
				 a->reps[i].role == b->reps[k].role;
		if (!found)
			return false;
	}
	return true;
}

static void apply_split(struct world *w, size_t i, const struct rk_pl_op *op)
{
	struct rk_pl_range *l, *r;
	uint64_t lo, hi, mid;

	l = &w->ranges[i];
	lo = l->slen ? get_be64(w->ext[i].s) : 0;
	hi = l->elen ? get_be64(w->ext[i].e) : UINT64_MAX;
	if (op->reason == RK_PL_WHY_SPLIT_SIZE)
		assert_true(l->size_bytes > w->cfg.split_size);
	else
		assert_true((uint64_t)l->writes_ps + l->reads_ps >
			    w->cfg.split_qps);
	mid = lo + (hi - lo) / 2;
	if (op->split_klen > 0) {
		assert_int_equal(op->split_klen, 8);
		mid = get_be64(op->split_key);
	}
	assert_true(mid > lo && mid < hi);
	grow(w, w->n_ranges + 1);
	memmove(&w->ranges[i + 2], &w->ranges[i + 1],
		(w->n_ranges - i - 1) * sizeof(w->ranges[0]));
	memmove(&w->ext[i + 2], &w->ext[i + 1],
		(w->n_ranges - i - 1) * sizeof(w->ext[0]));
	w->n_ranges++;
	l = &w->ranges[i];
	r = &w->ranges[i + 1];
	*r = *l;
	w->ext[i + 1] = w->ext[i];
	repoint(w);
	r->id = w->next_range_id++;
	/* The scheduler's splits are automatic ones. */
	r->flags |= RK_PL_RANGE_AUTO_SPLIT;
	l->generation++;
	r->generation = l->generation;
	put_be64(w->ext[i].e, mid);
	put_be64(w->ext[i + 1].s, mid);
	l->elen = 8;
	r->slen = 8;
	r->size_bytes = l->size_bytes / 2;
	l->size_bytes -= r->size_bytes;
	r->writes_ps = l->writes_ps /= 2;
	r->reads_ps = l->reads_ps /= 2;
	r->split_klen = l->split_klen = 0;
	for (uint8_t k = 0; k < r->n_reps; k++)
		r->reps[k].replica_id = k + 1;
	w->ext[i + 1].next_rid = r->n_reps + 1;
	w->ext[i + 1].wait = 0;
}

static void apply_merge(struct world *w, size_t i, const struct rk_pl_op *op)
{
	struct rk_pl_range *l = &w->ranges[i], *r;

	assert_true(i + 1 < w->n_ranges);
	r = &w->ranges[i + 1];
	assert_int_equal(r->id, op->right_id);
	assert_int_equal(r->busy, RK_PL_IDLE);
	assert_true(l->elen == 8 && r->slen == 8 &&
		    memcmp(w->ext[i].e, w->ext[i + 1].s, 8) == 0);
	assert_true(same_set(l, r));
	assert_true(l->size_bytes + r->size_bytes <= w->cfg.merge_size);
	assert_true(r->flags & RK_PL_RANGE_AUTO_SPLIT); /* never a sticky one */
	l->elen = r->elen;
	memcpy(w->ext[i].e, w->ext[i + 1].e, 8);
	l->size_bytes += r->size_bytes;
	l->writes_ps += r->writes_ps;
	l->reads_ps += r->reads_ps;
	l->generation = (l->generation > r->generation ? l->generation
						       : r->generation) + 1;
	memmove(&w->ranges[i + 1], &w->ranges[i + 2],
		(w->n_ranges - i - 2) * sizeof(w->ranges[0]));
	memmove(&w->ext[i + 1], &w->ext[i + 2],
		(w->n_ranges - i - 2) * sizeof(w->ext[0]));
	w->n_ranges--;
	repoint(w);
}

static void apply_member(struct world *w, struct rk_pl_range *r,
			 struct w_extra *x, const struct rk_pl_op *op)
{
	struct rk_pl_replica *p;
	struct rk_pl_node *n;

	switch (op->kind) {
	case RK_PL_OP_ADD_LEARNER:
		n = w_node(w, op->node_id);
		assert_int_equal(n->state, RK_PL_LIVE);
		for (uint8_t k = 0; k < r->n_reps; k++)
			if (r->reps[k].node_id == op->node_id)
				fail_msg("step %zu: range %llu: a second replica "
					 "on node %llu",
					 w->steps, (unsigned long long)r->id,
					 (unsigned long long)op->node_id);
		assert_true(r->n_reps < RK_PL_MAX_REPLICAS);
		p = &r->reps[r->n_reps++];
		p->replica_id = x->next_rid++;
		p->node_id = op->node_id;
		p->role = RK_DESC_LEARNER;
		break;
	case RK_PL_OP_PROMOTE:
		p = find_rep(w, r, op->replica_id);
		assert_int_equal(p->role, RK_DESC_LEARNER);
		p->role = RK_DESC_VOTER;
		break;
	case RK_PL_OP_REMOVE:
		p = find_rep(w, r, op->replica_id);
		if (p->node_id == r->leader_node)
			fail_msg("step %zu: range %llu: removes its leader's "
				 "replica", w->steps, (unsigned long long)r->id);
		n = find_node(w, p->node_id);
		/* Add before remove: a voter on a node that is not live goes
		 * only once the live voters without it are enough. */
		if (p->role == RK_DESC_VOTER && (n == NULL || n->state != RK_PL_LIVE) &&
		    live_voters(w, r, p) < (r->want ? r->want : w->cfg.replicas))
			fail_msg("step %zu: range %llu: replica on node %llu "
				 "removed before its replacement",
				 w->steps, (unsigned long long)r->id,
				 (unsigned long long)p->node_id);
		remove_rep(r, p);
		break;
	case RK_PL_OP_TRANSFER_LEADER:
		assert_int_not_equal(op->node_id, r->leader_node);
		for (uint8_t k = 0; k < r->n_reps; k++)
			if (r->reps[k].node_id == op->node_id) {
				assert_int_equal(r->reps[k].role, RK_DESC_VOTER);
				assert_int_equal(w_node(w, op->node_id)->state,
						 RK_PL_LIVE);
				r->leader_node = op->node_id;
				return;
			}
		fail_msg("step %zu: range %llu: leader to a non-member",
			 w->steps, (unsigned long long)r->id);
		return;
	default:
		fail_msg("unknown op %d", op->kind);
	}
	r->conf_version++;
}

void w_apply(struct world *w, const struct rk_pl_op *op)
{
	size_t i = range_index(w, op->range_id);
	struct rk_pl_range *r = &w->ranges[i];

	if (r->busy != RK_PL_IDLE)
		fail_msg("step %zu: an operation on busy range %llu", w->steps,
			 (unsigned long long)r->id);
	assert_int_equal(op->generation, r->generation);
	assert_int_equal(op->conf_version, r->conf_version);
	assert_true(op->reason <= RK_PL_WHY_MAX);
	w->ops_applied++;
	w->ops_by_kind[op->kind]++;
	w->ops_by_reason[op->reason]++;
	if (op->kind == RK_PL_OP_SPLIT) {
		apply_split(w, i, op);
		return;
	}
	if (op->kind == RK_PL_OP_MERGE) {
		apply_merge(w, i, op);
		return;
	}
	apply_member(w, r, &w->ext[i], op);
	/* A snapshot or a joint configuration takes a few steps. */
	w->ext[i].wait = w->slow_ops ? (uint8_t)(w_rand(w) % 4) : 0;
	if (w->ext[i].wait > 0)
		r->busy = RK_PL_BUSY_MEMBER;
}

/* No node above its move limit, nor the cluster above its own, unless it
 * was already before this step's operations and they added none there: an
 * election (the world's, after a node died) may hand a range with a move
 * in flight to a leader already at its limit, and the scheduler then waits
 * for the moves to end. */
static void check_limits(struct world *w, const struct rk_pl_state *st,
			 uint32_t moves_before, const uint32_t *node_before)
{
	uint32_t k = w->cfg.max_moves_per_node, kt = w->cfg.max_moves_total;

	if (kt != 0 && st->moves > kt && st->moves > moves_before)
		fail_msg("step %zu: %u moves in flight, limit %u", w->steps,
			 st->moves, kt);
	for (size_t i = 0; i < w->n_nodes; i++)
		if (k != 0 && w->nodes[i].moves > k &&
		    w->nodes[i].moves > node_before[i])
			fail_msg("step %zu: node %llu in %u moves, limit %u",
				 w->steps, (unsigned long long)w->nodes[i].id,
				 w->nodes[i].moves, k);
}

/* The leaders' reports of this step (world.h), one range at a time. */
static void report(struct world *w)
{
	size_t sent[W_MAX_NODES] = {0};

	for (size_t i = 0; i < w->n_ranges; i++) {
		const struct rk_pl_range *r = &w->ranges[i];
		struct rk_pl_fig f = {r->id, r->size_bytes, r->writes_ps, r->reads_ps};
		const struct rk_pl_figent *e = rk_pl_figtab_get(&w->figs, r->id);
		size_t k;

		if (r->leader_node == 0 || (e != NULL && !rk_pl_fig_moved(&f, &e->f)))
			continue;
		for (k = 0; k < w->n_nodes && w->nodes[k].id != r->leader_node; k++)
			;
		if (k == w->n_nodes || sent[k] == w->report_per_step)
			continue;
		sent[k]++;
		assert_int_equal(rk_pl_figtab_put(&w->figs, r->leader_node, w->now_ms, &f, 1), 0);
	}
}

/* The state a pass sees: the ranges as they are, or with the reported
 * sizes. */
static void pass_state(struct world *w, struct rk_pl_state *stp)
{
	bool all = true;

	w_state(w, stp);
	if (w->report_per_step == 0)
		return;
	if (w->grow_steps > 0 && w->n_ranges > 0) {
		w->grow_steps--;
		w->ranges[w_rand(w) % w->n_ranges].size_bytes += w->grow;
	}
	report(w);
	if (w->cap_seen < w->n_ranges) {
		w->cap_seen = w->n_ranges * 2;
		w->seen = realloc(w->seen, w->cap_seen * sizeof(*w->seen));
		assert_non_null(w->seen);
	}
	memcpy(w->seen, w->ranges, w->n_ranges * sizeof(*w->seen));
	for (size_t i = 0; i < w->n_ranges && all; i++)
		all = rk_pl_figtab_get(&w->figs, w->ranges[i].id) != NULL;
	for (size_t i = 0; i < w->n_ranges; i++) {
		const struct rk_pl_figent *e = rk_pl_figtab_get(&w->figs, w->ranges[i].id);
		w->seen[i].size_bytes = all ? e->f.size_bytes : 0;
	}
	w->passes_sized += all;
	stp->ranges = w->seen;
	assert_int_equal(rk_pl_tally(stp), 0);
}

size_t w_step(struct world *w)
{
	struct rk_pl_op ops[W_MAX_OPS];
	uint32_t before[W_MAX_NODES], moves_before;
	struct rk_pl_pass pass;
	struct rk_pl_state st;

	w->steps++;
	w->now_ms += 1000;
	for (size_t i = 0; i < w->n_ranges; i++) {
		if (w->ext[i].wait > 0 && --w->ext[i].wait == 0)
			w->ranges[i].busy = RK_PL_IDLE;
		if (w->ranges[i].leader_node == 0)
			elect(w, &w->ranges[i]);
	}
	pass_state(w, &st);
	moves_before = st.moves;
	for (size_t i = 0; i < w->n_nodes; i++)
		before[i] = w->nodes[i].moves;
	memset(&pass, 0, sizeof(pass));
	pass.cursor = w->cursor;
	pass.slice = w->slice;
	pass.ops = ops;
	pass.max_ops = W_MAX_OPS;
	assert_int_equal(rk_pl_pass(&w->cfg, &st, &pass), 0);
	assert_true(pass.n_ops <= W_MAX_OPS);
	w->cursor = pass.next_cursor;
	w->last_visited = pass.visited;
	for (size_t i = 0; i < pass.n_ops; i++)
		w_apply(w, &ops[i]);
	w_state(w, &st);
	check_limits(w, &st, moves_before, before);
	return pass.n_ops;
}

size_t w_settle(struct world *w, size_t max_steps)
{
	size_t quiet = 0;

	for (size_t s = 1; s <= max_steps; s++) {
		bool busy = false;

		if (w_step(w) != 0) {
			quiet = 0;
			continue;
		}
		quiet += w->last_visited;
		for (size_t i = 0; i < w->n_ranges && !busy; i++)
			busy = w->ranges[i].busy != RK_PL_IDLE;
		if (busy)
			quiet = 0;
		else if (quiet >= w->n_ranges)
			return s;
	}
	fail_msg("not settled after %zu steps (%zu operations)", max_steps,
		 w->ops_applied);
	return max_steps;
}

static void check_band(const char *what, double v, double mean, uint32_t pct,
		       double floor_tol, uint64_t id)
{
	double tol = mean * pct / 100.0;

	if (tol < floor_tol)
		tol = floor_tol;
	if (v < mean - tol - 1e-9 || v > mean + tol + 1e-9)
		fail_msg("node %llu: %s %.0f outside %.1f +- %.1f",
			 (unsigned long long)id, what, v, mean, tol);
}

void w_check_settled(struct world *w, bool check_bytes)
{
	struct rk_pl_state st;
	double cnt = 0, byt = 0, ldr = 0;
	size_t live = 0;

	for (size_t i = 0; i < w->n_ranges; i++) {
		const struct rk_pl_range *r = &w->ranges[i];

		assert_int_equal(r->n_reps, r->want ? r->want : w->cfg.replicas);
		for (uint8_t k = 0; k < r->n_reps; k++) {
			assert_int_equal(r->reps[k].role, RK_DESC_VOTER);
			assert_int_equal(w_node(w, r->reps[k].node_id)->state,
					 RK_PL_LIVE);
			for (uint8_t j = 0; j < k; j++)
				assert_int_not_equal(r->reps[j].node_id,
						     r->reps[k].node_id);
		}
	}
	w_state(w, &st);
	for (size_t i = 0; i < w->n_nodes; i++) {
		const struct rk_pl_node *n = &w->nodes[i];

		if (n->state != RK_PL_LIVE) {
			assert_int_equal(n->replicas, 0);
			continue;
		}
		live++;
		cnt += n->replicas;
		byt += (double)n->bytes;
		ldr += n->leaders;
	}
	for (size_t i = 0; i < w->n_nodes; i++) {
		const struct rk_pl_node *n = &w->nodes[i];
		uint32_t pct = w->cfg.balance_pct;

		if (n->state != RK_PL_LIVE)
			continue;
		check_band("replicas", n->replicas, cnt / live, pct, 1, n->id);
		check_band("leaders", n->leaders, ldr / live, pct, 1, n->id);
		if (check_bytes)
			check_band("bytes", (double)n->bytes, byt / live, pct, 0,
				   n->id);
	}
}
