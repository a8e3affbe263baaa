/*
 * The scheduler's pass: the cursor and slice, the working copy of the
 * nodes, the rule order, and the helpers the rule files share (sched.h,
 * sched_int.h). The rules themselves are in repair.c, split.c,
 * balance.c and swap.c.
 */
#include <stdlib.h>
#include <string.h>

#include "bugs.h"
#include "rangekv/error.h"
#include "sched_int.h"

void rk_pl_config_default(struct rk_pl_config *cfgp)
{
	memset(cfgp, 0, sizeof(*cfgp));
	cfgp->replicas = 3;
	cfgp->dead_after_ms = 5 * 60 * 1000;
	cfgp->split_size = 64ull << 20;
	cfgp->split_qps = 0;
	cfgp->merge_size = cfgp->split_size / 4;
	cfgp->merge_qps = 0;
	cfgp->max_moves_per_node = 2;
	cfgp->max_moves_total = 16;
	cfgp->max_merges = 4;
	cfgp->balance_pct = 10;
}

void rk_pl_moves_for_rate(struct rk_pl_config *cfg, const struct rk_pl_state *st,
			  uint64_t rate)
{
	uint64_t bytes = 0, replicas = 0, k;

	if (rate == 0 || cfg->max_moves_per_node == 0)
		return;
	for (size_t i = 0; i < st->n_nodes; i++) {
		bytes += st->nodes[i].bytes;
		replicas += st->nodes[i].replicas;
	}
	/* rate x hold / mean, the mean being bytes / replicas; rounded up. */
	k = RK_PL_MAX_MOVES_PER_NODE;
	if (bytes > 0 && replicas > 0) {
		uint64_t mean = bytes / replicas > 0 ? bytes / replicas : 1;
		uint64_t per_hold = rate / 1000 * RK_PL_MOVE_HOLD_MS; /* no overflow */
		k = (per_hold + mean - 1) / mean;
	}
	if (k > RK_PL_MAX_MOVES_PER_NODE)
		k = RK_PL_MAX_MOVES_PER_NODE;
	if (k <= cfg->max_moves_per_node)
		return;
	cfg->max_moves_per_node = (uint32_t)k;
	if (cfg->max_moves_total != 0 && cfg->max_moves_total < k * RK_PL_MOVES_TOTAL_PER_NODE)
		cfg->max_moves_total = (uint32_t)(k * RK_PL_MOVES_TOTAL_PER_NODE);
}

const char *rk_pl_op_name(uint8_t kind)
{
	static const char *const names[] = {"add_learner", "promote", "remove",
					    "transfer_leader", "split",
					    "merge"};

	return kind <= RK_PL_OP_MERGE ? names[kind] : "unknown";
}

const char *rk_pl_reason_name(uint8_t reason)
{
	static const char *const names[] = {
		"short",	   "repair",	      "drain",
		"excess",	   "catch_up",	      "free_leader",
		"balance_count",   "balance_bytes",   "balance_leaders",
		"split_size",	   "split_load",      "merge_small",
		"balance_swap",    "merge_align"};

	return reason <= RK_PL_WHY_MAX ? names[reason] : "unknown";
}

const char *rk_pl_node_state_name(uint8_t state)
{
	static const char *const names[] = {"live", "suspect", "dead",
					    "decommissioning",
					    "decommissioned"};

	return state <= RK_PL_NODE_STATE_MAX ? names[state] : "unknown";
}

/* ---- nodes ---------------------------------------------------------------- */

static int node_cmp(const void *a, const void *b)
{
	const struct rk_pl_node *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static struct rk_pl_node *node_find(struct rk_pl_node *nodes, size_t n,
				    uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (nodes[mid].id == id)
			return &nodes[mid];
		if (nodes[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A copy of nodes sorted by id in *copyp (the caller frees it). RK_EINVAL
 * for an id of 0 or one given twice. */
static int nodes_sorted(const struct rk_pl_node *nodes, size_t n,
			struct rk_pl_node **copyp)
{
	struct rk_pl_node *copy;

	*copyp = NULL;
	copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy == NULL)
		return RK_ENOMEM;
	if (n > 0)
		memcpy(copy, nodes, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), node_cmp);
	for (size_t i = 0; i < n; i++) {
		if (copy[i].id == 0 || (i > 0 && copy[i].id == copy[i - 1].id)) {
			free(copy);
			return RK_EINVAL;
		}
	}
	*copyp = copy;
	return 0;
}

struct rk_pl_node *pl_node(struct pl_ctx *c, uint64_t id)
{
	return node_find(c->nodes, c->n_nodes, id);
}

bool pl_doomed(const struct pl_ctx *c, const struct rk_pl_node *n)
{
	if (n == NULL)
		return true;
	switch (n->state) {
	case RK_PL_DECOMMISSIONING:
	case RK_PL_DECOMMISSIONED:
		return true;
	case RK_PL_DEAD:
		/* A clock behind dead_since (a new placement leader's) waits. */
		return c->st->now_ms >= n->dead_since_ms &&
		       c->st->now_ms - n->dead_since_ms >= c->cfg->dead_after_ms;
	default:
		return false;
	}
}

bool pl_node_doomed(struct pl_ctx *c, uint64_t id)
{
	return pl_doomed(c, pl_node(c, id));
}

uint32_t pl_want(const struct pl_ctx *c, const struct rk_pl_range *r)
{
	return r->want != 0 && r->want <= RK_PL_MAX_REPLICAS ? r->want : c->cfg->replicas;
}

bool pl_node_live(struct pl_ctx *c, uint64_t id)
{
	const struct rk_pl_node *n = pl_node(c, id);

	return n != NULL && n->state == RK_PL_LIVE;
}

bool pl_range_has_node(const struct rk_pl_range *r, uint64_t node_id)
{
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].node_id == node_id)
			return true;
	return false;
}

static bool under_limit(uint32_t used, uint32_t limit)
{
	return limit == 0 || used < limit || RK_PL_BUGGY(NO_MOVE_LIMIT);
}

bool pl_move_allowed(const struct pl_ctx *c, const struct rk_pl_node *to,
		     const struct rk_pl_node *leader)
{
	uint32_t k = c->cfg->max_moves_per_node;

	return under_limit(c->moves_total, c->cfg->max_moves_total) &&
	       (to == NULL || under_limit(to->moves, k)) &&
	       (leader == NULL || leader == to || under_limit(leader->moves, k));
}

bool pl_eligible(struct pl_ctx *c, const struct rk_pl_range *r,
		 const struct rk_pl_node *n, const struct rk_pl_node *leader)
{
	if (n->state != RK_PL_LIVE ||
	    (pl_range_has_node(r, n->id) && !RK_PL_BUGGY(TWO_ON_ONE_NODE)))
		return false;
	if (n->capacity_bytes != 0 &&
	    n->bytes + r->size_bytes > n->capacity_bytes)
		return false;
	return pl_move_allowed(c, n, leader);
}

struct rk_pl_node *pl_best_target(struct pl_ctx *c,
				  const struct rk_pl_range *r)
{
	const struct rk_pl_node *leader = pl_node(c, r->leader_node);
	struct rk_pl_node *best = NULL;

	for (size_t i = 0; i < c->n_nodes; i++) {
		struct rk_pl_node *n = &c->nodes[i];

		if (!pl_eligible(c, r, n, leader))
			continue;
		/* Nodes are by id: the first of equals is the lowest id. */
		if (best == NULL || pl_cnt(c, n) < pl_cnt(c, best) ||
		    (pl_cnt(c, n) == pl_cnt(c, best) &&
		     pl_byt(c, n) < pl_byt(c, best)))
			best = n;
	}
	return best;
}

uint64_t pl_leader_target(struct pl_ctx *c, const struct rk_pl_range *r,
			  uint64_t not)
{
	const struct rk_pl_node *best = NULL;

	for (uint8_t i = 0; i < r->n_reps; i++) {
		const struct rk_pl_replica *p = &r->reps[i];
		const struct rk_pl_node *n = pl_node(c, p->node_id);

		if (p->role != RK_DESC_VOTER || p->node_id == not || n == NULL ||
		    n->state != RK_PL_LIVE)
			continue;
		if (best == NULL || n->leaders < best->leaders ||
		    (n->leaders == best->leaders && n->id < best->id))
			best = n;
	}
	return best != NULL ? best->id : 0;
}

/* ---- emitting -------------------------------------------------------------- */

struct rk_pl_op *pl_emit(struct pl_ctx *c, const struct rk_pl_range *r,
			 uint8_t kind, uint8_t why)
{
	struct rk_pl_op *op = &c->pass->ops[c->pass->n_ops++];

	c->lows_stale = true;
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->reason = why;
	op->range_id = r->id;
	op->generation = r->generation;
	op->conf_version = r->conf_version;
	return op;
}

static void node_drop(struct rk_pl_node *n, uint64_t bytes)
{
	if (n == NULL)
		return;
	n->replicas -= n->replicas > 0;
	n->bytes -= n->bytes >= bytes ? bytes : n->bytes;
}

void pl_emit_add(struct pl_ctx *c, const struct rk_pl_range *r,
		 struct rk_pl_node *to, struct rk_pl_node *from, uint8_t why)
{
	struct rk_pl_node *leader = pl_node(c, r->leader_node);

	pl_emit(c, r, RK_PL_OP_ADD_LEARNER, why)->node_id = to->id;
	to->replicas++;
	to->bytes += r->size_bytes;
	to->moves++;
	if (leader != NULL && leader != to)
		leader->moves++;
	c->moves_total++;
	node_drop(from, r->size_bytes);
}

/* ---- settled figures -------------------------------------------------------- */

uint32_t pl_cnt(const struct pl_ctx *c, const struct rk_pl_node *n)
{
	uint32_t out = c->out_cnt[n - c->nodes];

	return n->replicas > out ? n->replicas - out : 0;
}

uint64_t pl_byt(const struct pl_ctx *c, const struct rk_pl_node *n)
{
	uint64_t out = c->out_byt[n - c->nodes];

	return n->bytes > out ? n->bytes - out : 0;
}

/* A removal emitted for a range whose removal was projected: the
 * aggregates drop now (pl_emit_replica), so the projection goes. */
static void pend_take_back(struct pl_ctx *c, const struct rk_pl_range *r)
{
	for (size_t i = 0; i < c->n_pend; i++) {
		struct pl_pend *p = &c->pend[i];

		if (p->r != r)
			continue;
		c->out_cnt[p->node] -= c->out_cnt[p->node] > 0;
		c->out_byt[p->node] -= c->out_byt[p->node] >= r->size_bytes
					       ? r->size_bytes
					       : c->out_byt[p->node];
		p->r = NULL;
		return;
	}
}

/* Projects the moves in flight among the `n` ranges from index `first`
 * (those the pass visits) onto the settled figures: a range with a
 * learner on a live node, or with more voters than it wants, will lose
 * the voter an excess removal takes (pl_excess_voter: the same choice
 * rule 4 makes, on the same aggregates). Ranges in a joint configuration
 * or with a doomed voter are left as they are: their outcome is not one
 * removal by that rule, and balancing waits for a doomed node anyway. */
static int ctx_pending(struct pl_ctx *c, size_t first, size_t n)
{
	const struct rk_pl_state *st = c->st;

	c->out_cnt = calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*c->out_cnt));
	c->out_byt = calloc(c->n_nodes ? c->n_nodes : 1, sizeof(*c->out_byt));
	if (c->out_cnt == NULL || c->out_byt == NULL)
		return RK_ENOMEM;
	for (size_t k = 0, i = first; k < n && st->n_ranges > 0; k++, i++) {
		const struct rk_pl_range *r;
		const struct rk_pl_replica *v;
		struct rk_pl_node *nd;
		uint32_t voters = 0, learners = 0;
		size_t at;
		bool doomed = false, live_learner = false;

		if (i >= st->n_ranges)
			i = 0;
		r = &st->ranges[i];
		if (pl_in_joint(r))
			continue;
		for (uint8_t j = 0; j < r->n_reps; j++) {
			nd = pl_node(c, r->reps[j].node_id);
			if (r->reps[j].role == RK_DESC_LEARNER) {
				learners += nd != NULL;
				live_learner |= nd != NULL &&
						nd->state == RK_PL_LIVE;
				continue;
			}
			voters++;
			doomed |= pl_doomed(c, nd);
		}
		c->learners_seen += learners;
		if (doomed || !(live_learner || voters > pl_want(c, r)))
			continue;
		v = pl_excess_voter(c, r);
		nd = v != NULL ? pl_node(c, v->node_id) : NULL;
		if (nd == NULL)
			continue;
		if (c->n_pend % 64 == 0) {
			struct pl_pend *p = realloc(
				c->pend, (c->n_pend + 64) * sizeof(*p));

			if (p == NULL)
				return RK_ENOMEM;
			c->pend = p;
		}
		at = (size_t)(nd - c->nodes);
		c->pend[c->n_pend++] = (struct pl_pend){r, at};
		c->out_cnt[at]++;
		c->out_byt[at] += r->size_bytes;
	}
	return 0;
}

void pl_emit_replica(struct pl_ctx *c, const struct rk_pl_range *r,
		     uint8_t kind, uint64_t replica_id, uint8_t why)
{
	pl_emit(c, r, kind, why)->replica_id = replica_id;
	if (kind != RK_PL_OP_REMOVE)
		return;
	pend_take_back(c, r);
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].replica_id == replica_id)
			node_drop(pl_node(c, r->reps[i].node_id), r->size_bytes);
}

void pl_emit_transfer(struct pl_ctx *c, const struct rk_pl_range *r,
		      uint64_t to, uint8_t why)
{
	struct rk_pl_node *from = pl_node(c, r->leader_node);
	struct rk_pl_node *n = pl_node(c, to);

	pl_emit(c, r, RK_PL_OP_TRANSFER_LEADER, why)->node_id = to;
	if (from != NULL)
		from->leaders -= from->leaders > 0;
	if (n != NULL)
		n->leaders++;
}

/* ---- the pass ---------------------------------------------------------------- */

static void band(double sum, size_t n, uint32_t pct, double floor_tol,
		 double *lop, double *hip)
{
	double mean = n > 0 ? sum / (double)n : 0;
	double tol = mean * pct / 100.0;

	if (tol < floor_tol)
		tol = floor_tol;
	*lop = mean - tol;
	*hip = mean + tol;
}

bool rk_pl_counts_settled(const struct rk_pl_config *cfg, const struct rk_pl_state *st)
{
	double sum = 0, lo, hi;
	size_t live = 0;

	if (st->moves > 0)
		return false;
	for (size_t i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].state == RK_PL_LIVE) {
			sum += st->nodes[i].replicas;
			live++;
		}
	band(sum, live, cfg->balance_pct, 1, &lo, &hi);
	for (size_t i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].state == RK_PL_LIVE &&
		    (st->nodes[i].replicas < lo || st->nodes[i].replicas > hi))
			return false;
	return true;
}

static void ctx_bands(struct pl_ctx *c)
{
	double cnt = 0, byt = 0, ldr = 0;
	size_t live = 0;

	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct rk_pl_node *n = &c->nodes[i];

		if (pl_doomed(c, n) && n->replicas > 0)
			c->doomed_hold = true;
		if (n->state != RK_PL_LIVE)
			continue;
		live++;
		cnt += pl_cnt(c, n);
		byt += (double)pl_byt(c, n);
		ldr += n->leaders;
	}
	band(cnt, live, c->cfg->balance_pct, 1, &c->cnt_lo, &c->cnt_hi);
	band(byt, live, c->cfg->balance_pct, 0, &c->byt_lo, &c->byt_hi);
	band(ldr, live, c->cfg->balance_pct, 1, &c->ldr_lo, &c->ldr_hi);
}

bool pl_in_joint(const struct rk_pl_range *r)
{
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].role != RK_DESC_VOTER &&
		    r->reps[i].role != RK_DESC_LEARNER)
			return true;
	return false;
}

bool pl_has_leader(struct pl_ctx *c, const struct rk_pl_range *r)
{
	const struct rk_pl_node *n = pl_node(c, r->leader_node);

	if (n == NULL || (n->state != RK_PL_LIVE && n->state != RK_PL_SUSPECT &&
			  n->state != RK_PL_DECOMMISSIONING))
		return false;
	for (uint8_t i = 0; i < r->n_reps; i++)
		if (r->reps[i].node_id == n->id)
			return r->reps[i].role == RK_DESC_VOTER;
	return false;
}

/* Range i through the rules; returns how many ranges it consumed (2 when
 * it and its right neighbour are a merge pair: merged, aligned or
 * waiting for either). right_ok: this pass may visit the right neighbour
 * too (it is the next to visit, never one visited already). */
static size_t visit(struct pl_ctx *c, size_t i, bool right_ok)
{
	const struct rk_pl_state *st = c->st;
	const struct rk_pl_range *r = &st->ranges[i];
	const struct rk_pl_range *next = i + 1 < st->n_ranges ? &st->ranges[i + 1] : NULL;
	bool is_short = false, is_right = false;

	if (r->busy != RK_PL_IDLE || pl_in_joint(r))
		return 1;
	if (!pl_has_leader(c, r)) {
		c->pass->n_leaderless++;
		return 1;
	}
	/* The right of a merge pair whose replicas are not yet on its left's
	 * nodes (visited without its left: its left is the right of another
	 * pair, or was the last of the last pass): only the alignment moves
	 * it (rule 7; a merge would be the left's operation). Aligned, it may
	 * be the left of a pair of its own (below), whose right then aligns
	 * onto the set both will end on. */
	if (i > 0 && pl_merge_pair(c, &st->ranges[i - 1], r)) {
		is_right = true;
		if (!pl_same_replicas(&st->ranges[i - 1], r)) {
			pl_align(c, &st->ranges[i - 1], r);
			return 1;
		}
	}
	if (pl_repair(c, r, &is_short))
		return 1;
	if (pl_split(c, r))
		return 1;
	if (!is_short && right_ok && pl_merge(c, r, next))
		return 2;
	if (is_short)
		return 1;
	/* In a merge pair, as its right or as the left of one whose right
	 * this pass does not visit: held from balancing all the same. */
	if (is_right || (next != NULL && pl_merge_pair(c, r, next)))
		return 1;
	if (pl_balance_replicas(c, r))
		return 1;
	if (!c->cfg->no_leader_balance)
		pl_balance_leaders(c, r);
	return 1;
}

bool pl_held(struct pl_ctx *c, size_t i)
{
	const struct rk_pl_state *st = c->st;

	return (i > 0 && pl_merge_pair(c, &st->ranges[i - 1], &st->ranges[i])) ||
	       (i + 1 < st->n_ranges && pl_merge_pair(c, &st->ranges[i], &st->ranges[i + 1]));
}

static bool config_ok(const struct rk_pl_config *cfg)
{
	return cfg->replicas >= 1 && cfg->replicas <= RK_PL_MAX_REPLICAS;
}

int rk_pl_pass(const struct rk_pl_config *cfg, const struct rk_pl_state *st,
	       struct rk_pl_pass *pass)
{
	struct pl_ctx c;
	size_t i, want;
	int rc;

	pass->next_cursor = pass->cursor;
	pass->wrapped = false;
	pass->n_ops = pass->visited = 0;
	pass->n_short = pass->n_leaderless = pass->n_blocked = 0;
	if (!config_ok(cfg) || pass->ops == NULL || pass->max_ops == 0)
		return RK_EINVAL;
	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.st = st;
	c.pass = pass;
	c.n_nodes = st->n_nodes;
	rc = nodes_sorted(st->nodes, st->n_nodes, &c.nodes);
	if (rc != 0)
		return rc;
	c.moves_total = st->moves;
	c.merges_total = st->merges;
	c.lows_stale = true;
	want = pass->slice == 0 || pass->slice > st->n_ranges ? st->n_ranges
								: pass->slice;
	i = st->n_ranges > 0 ? pass->cursor % st->n_ranges : 0;
	rc = ctx_pending(&c, i, want);
	if (rc != 0)
		goto out;
	ctx_bands(&c);
	if (st->n_ranges == 0) {
		pass->next_cursor = 0;
		pass->wrapped = true;
		goto out;
	}
	/* A visit emits at most one operation: stop while there is room for
	 * one more, so no range is visited and then left without its op. */
	while (pass->visited < want && pass->n_ops < pass->max_ops) {
		/* The right neighbour is the next to visit, never one
		 * visited already (the start, after a wrap): within `want`. */
		bool right_ok = i + 1 < st->n_ranges && pass->visited + 2 <= want;
		size_t used = visit(&c, i, right_ok);

		/* A merge consumed the right neighbour too; it is not visited
		 * again in this pass (nor, when it was the last of the slice,
		 * at the start of the next). */
		pass->visited += used;
		i += used;
		if (i >= st->n_ranges) {
			i = 0;
			pass->wrapped = true;
		}
	}
	pass->next_cursor = i;
	/* Nothing else to do in the ranges visited: a swap, if one helps. */
	if (pass->n_ops == 0)
		rc = pl_balance_swap(&c, pass->cursor % st->n_ranges,
				     pass->visited);
out:
	free(c.pend);
	free(c.out_byt);
	free(c.out_cnt);
	free(c.nodes);
	return rc;
}

/* ---- tally -------------------------------------------------------------------- */

/* The node of st with this id, 0 or unknown: NULL (count_range). */
static struct rk_pl_node *find_counted(struct rk_pl_state *st, struct rk_pl_node *sorted,
				       const size_t *where, uint64_t id)
{
	struct rk_pl_node *s;

	if (id == 0)
		return NULL;
	if (sorted == NULL) {
		for (size_t i = 0; i < st->n_nodes; i++)
			if (st->nodes[i].id == id)
				return &st->nodes[i];
		return NULL;
	}
	s = node_find(sorted, st->n_nodes, id);
	return s != NULL ? &st->nodes[where[s - sorted]] : NULL;
}

/* Range r's share of the counts, times sign, into st: its nodes found
 * through sorted and where (rk_pl_tally's index), or by a scan of
 * st->nodes when sorted is NULL. */
static void count_range(struct rk_pl_state *st, struct rk_pl_node *sorted, const size_t *where,
			const struct rk_pl_range *r, int sign)
{
	struct rk_pl_node *ldr = find_counted(st, sorted, where, r->leader_node);
	uint32_t one = (uint32_t)sign; /* modulo 2^32: -1 takes one away */

	if (ldr != NULL)
		ldr->leaders += one;
	for (uint8_t k = 0; k < r->n_reps; k++) {
		struct rk_pl_node *n = find_counted(st, sorted, where, r->reps[k].node_id);

		if (n == NULL)
			continue;
		n->replicas += one;
		n->bytes += (uint64_t)(int64_t)sign * r->size_bytes;
		if (r->reps[k].role != RK_DESC_LEARNER)
			continue;
		st->moves += one;
		n->moves += one;
		if (ldr != NULL && ldr != n)
			ldr->moves += one;
	}
}

int rk_pl_tally(struct rk_pl_state *st)
{
	struct rk_pl_node *sorted;
	size_t *where;
	int rc;

	/* Sort a copy to find duplicates and to search by id; where[] maps
	 * it back to the caller's order. */
	rc = nodes_sorted(st->nodes, st->n_nodes, &sorted);
	if (rc != 0)
		return rc;
	where = malloc((st->n_nodes ? st->n_nodes : 1) * sizeof(*where));
	if (where == NULL) {
		free(sorted);
		return RK_ENOMEM;
	}
	for (size_t i = 0; i < st->n_nodes; i++) {
		struct rk_pl_node *n = &st->nodes[i];

		where[node_find(sorted, st->n_nodes, n->id) - sorted] = i;
		n->replicas = n->leaders = n->moves = 0;
		n->bytes = 0;
	}
	st->moves = 0;
	for (size_t i = 0; i < st->n_ranges; i++)
		count_range(st, sorted, where, &st->ranges[i], 1);
	free(where);
	free(sorted);
	return 0;
}

void rk_pl_tally_range(struct rk_pl_state *st, const struct rk_pl_range *r, int sign)
{
	count_range(st, NULL, NULL, r, sign);
}
