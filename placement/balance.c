/*
 * Rules 8 and 9 of a pass (sched.h): spread replicas by count, then by
 * bytes, across the live nodes; then spread leaderships.
 *
 * A move is worth making only if it narrows the spread: from a node above
 * the band or to one below it, and only between nodes at least two
 * replicas apart (a move between nodes one apart only swaps them), or for
 * bytes, only if the target ends below where the source started. Each
 * such move lowers the sum of squares of the figures it balances, so
 * repeated passes stop. A move by bytes never takes a node's count out of
 * its band, so it never undoes a move by count.
 *
 * Balancing waits while a doomed node still holds replicas: repairs and
 * drains take the move slots first, and the figures they change would make
 * the balancing moves wrong anyway.
 *
 * Nodes are judged by their settled figures (pl_cnt, pl_byt: the moves in
 * flight counted as done), so that a node receiving a learner while the
 * replica it replaces is still on its source is not taken for a replica
 * fuller than it will be: a swap's two moves (swap.c) each leave a node a
 * replica over for a while, and the rules here would otherwise move a
 * third range to undo that. The source of a move is chosen by
 * pl_excess_voter, the choice rule 4 makes when the move ends, on the
 * same settled figures.
 */
#include "bugs.h"
#include "sched_int.h"

/* Which of two nodes an excess removal takes first: one that is not live
 * (suspect, or dead and not yet doomed), then the fuller by settled
 * figures (with the removal being chosen taken back: own), then the
 * higher id. */
static bool fuller(const struct pl_ctx *c, const struct rk_pl_range *r,
		   const struct rk_pl_node *a, bool a_own, const struct rk_pl_node *b, bool b_own)
{
	bool alive = a->state == RK_PL_LIVE, blive = b->state == RK_PL_LIVE;
	uint32_t ac = pl_cnt(c, a) + a_own, bc = pl_cnt(c, b) + b_own;
	uint64_t ab = pl_byt(c, a) + (a_own ? r->size_bytes : 0);
	uint64_t bb = pl_byt(c, b) + (b_own ? r->size_bytes : 0);

	if (alive != blive)
		return !alive;
	if (ac != bc)
		return ac > bc;
	if (ab != bb)
		return ab > bb;
	return a->id > b->id;
}

/* The node r's own removal is foreseen on (ctx_pending), NULL if none. */
static const struct rk_pl_node *foreseen(const struct pl_ctx *c, const struct rk_pl_range *r)
{
	for (size_t i = 0; i < c->n_pend; i++)
		if (c->pend[i].r == r)
			return &c->nodes[c->pend[i].node];
	return NULL;
}

const struct rk_pl_replica *pl_excess_voter(struct pl_ctx *c,
					    const struct rk_pl_range *r)
{
	const struct rk_pl_replica *victim = NULL, *newest = NULL;
	const struct rk_pl_node *vn = NULL, *own = NULL;
	uint32_t voters = 0;
	bool learner = false, v_own = false;

	for (uint8_t i = 0; i < r->n_reps; i++) {
		if (r->reps[i].role != RK_DESC_VOTER) {
			learner = true;
			continue;
		}
		voters++;
		if (newest == NULL || r->reps[i].replica_id > newest->replica_id)
			newest = &r->reps[i];
	}
	/* Only a range with a move in flight has a removal foreseen. */
	if (learner || voters > pl_want(c, r))
		own = foreseen(c, r);
	for (uint8_t i = 0; i < r->n_reps; i++) {
		const struct rk_pl_replica *p = &r->reps[i];
		const struct rk_pl_node *n = pl_node(c, p->node_id);
		bool n_own;

		if (p->role != RK_DESC_VOTER || n == NULL)
			continue;
		if (p == newest && voters > pl_want(c, r) &&
		    !RK_PL_BUGGY(REMOVE_NEWEST))
			continue;
		n_own = n == own;
		if (victim == NULL || fuller(c, r, n, n_own, vn, v_own)) {
			victim = p;
			vn = n;
			v_own = n_own;
		}
	}
	return victim;
}

/* The eligible node with the fewest bytes whose count may grow by one
 * without leaving its band. */
static struct rk_pl_node *lightest_target(struct pl_ctx *c,
					  const struct rk_pl_range *r)
{
	const struct rk_pl_node *leader = pl_node(c, r->leader_node);
	struct rk_pl_node *best = NULL;

	for (size_t i = 0; i < c->n_nodes; i++) {
		struct rk_pl_node *n = &c->nodes[i];

		if (!pl_eligible(c, r, n, leader) || pl_cnt(c, n) + 1 > c->cnt_hi)
			continue;
		if (best == NULL || pl_byt(c, n) < pl_byt(c, best))
			best = n;
	}
	return best;
}

static void refresh_lows(struct pl_ctx *c)
{
	c->low_cnt = c->low_byt = c->lows_stale = false;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct rk_pl_node *n = &c->nodes[i];

		if (n->state != RK_PL_LIVE)
			continue;
		c->low_cnt |= pl_cnt(c, n) < c->cnt_lo;
		c->low_byt |= pl_byt(c, n) < c->byt_lo;
	}
}

bool pl_balance_replicas(struct pl_ctx *c, const struct rk_pl_range *r)
{
	const struct rk_pl_replica *src;
	struct rk_pl_node *s, *t;
	double s_cnt, t_cnt;
	uint64_t s_byt, t_byt;

	if (c->doomed_hold || !pl_move_allowed(c, NULL, NULL))
		return false;
	src = pl_excess_voter(c, r);
	s = src != NULL ? pl_node(c, src->node_id) : NULL;
	if (s == NULL || s->state != RK_PL_LIVE)
		return false;
	if (c->lows_stale)
		refresh_lows(c);
	s_cnt = pl_cnt(c, s);
	s_byt = pl_byt(c, s);
	/* Neither rule can fire: nothing to search for. */
	if (s_cnt <= c->cnt_hi && !c->low_cnt && s_byt <= c->byt_hi &&
	    !c->low_byt)
		return false;
	t = pl_best_target(c, r);
	t_cnt = t != NULL ? pl_cnt(c, t) : 0;
	t_byt = t != NULL ? pl_byt(c, t) : 0;
	/* A move by count takes a range heavier than the mean replica to
	 * its target only if that stays within the bytes band (or its
	 * source is above the count band): a node filled by count (one that
	 * joined) gets light ranges, most are, rather than stopping at the
	 * low edge of the count band with too many bytes, where no move by
	 * bytes may take a replica off it. */
	if (t != NULL && (s_cnt > c->cnt_hi || t_cnt < c->cnt_lo) &&
	    s_cnt >= t_cnt + 2 &&
	    (s_cnt > c->cnt_hi || t_byt + r->size_bytes <= c->byt_hi ||
	     (double)r->size_bytes * (c->cnt_lo + c->cnt_hi) <= c->byt_lo + c->byt_hi)) {
		pl_emit_add(c, r, t, s, RK_PL_WHY_BALANCE_COUNT);
		return true;
	}
	if (s_cnt - 1.0 < c->cnt_lo)
		return false;
	t = lightest_target(c, r);
	if (t != NULL && (s_byt > c->byt_hi || pl_byt(c, t) < c->byt_lo) &&
	    pl_byt(c, t) + r->size_bytes < s_byt) {
		pl_emit_add(c, r, t, s, RK_PL_WHY_BALANCE_BYTES);
		return true;
	}
	return false;
}

bool pl_balance_leaders(struct pl_ctx *c, const struct rk_pl_range *r)
{
	const struct rk_pl_node *l = pl_node(c, r->leader_node), *t;
	uint64_t to;

	/* A system range's leadership is placed by its own rule (the
	 * placement group's: among its first-start nodes). */
	if (l == NULL || l->state != RK_PL_LIVE || (r->flags & RK_PL_RANGE_SYSTEM))
		return false;
	to = pl_leader_target(c, r, l->id);
	t = pl_node(c, to);
	if (t == NULL || l->leaders < t->leaders + 2)
		return false;
	if (l->leaders <= c->ldr_hi && t->leaders >= c->ldr_lo)
		return false;
	pl_emit_transfer(c, r, to, RK_PL_WHY_BALANCE_LEADERS);
	return true;
}
