/*
 * Rule 8's swap (sched.h): the exchange the count and bytes rules cannot
 * make.
 *
 * A move by bytes never takes a count out of its band, so those moves can
 * stop with a node outside the bytes band: a heavy node at the low edge of
 * the count band may give no replica, and a light node at the high edge
 * may take none (counts 12/12/13/11, the 11 holding 17% more bytes than
 * the mean and the 13 17% less: no single move is allowed). A swap
 * exchanges a heavy range A of the heavy node H for a light range B of a
 * light node L: two moves (B onto H, A onto L), each node's count as it
 * was once both are done, both nodes' bytes closer to the mean.
 *
 * When: after a pass whose visits chose no operation, with nothing in
 * flight (no learner anywhere, no range of the pass with voters to
 * remove: the figures are settled), every live node's count within its
 * band (count balancing first) and some live node's bytes outside theirs.
 * The pair is looked for among the ranges the pass visited, between the
 * SWAP_NODES heaviest and the SWAP_NODES lightest live nodes: at most
 * SWAP_NODES^2 walks of the slice and sorts of it, once per pass, and only
 * in a pass that otherwise did nothing.
 *
 * Which ranges: idle, settled (the voters they want, no learner, not in a
 * joint configuration), every voter on a live node, a leader that can
 * change the membership, and not the placement group's own range (its
 * count of voters is its own, and the driver leaves it out of the passes
 * once it is settled). Neither node holds a replica of the other's range,
 * and both moves are within the move limits and capacities, each counting
 * the other. Of those pairs, the exchange d = size(A) - size(B) that lowers
 * the sum of squares of the two nodes' bytes most (d nearest half their
 * difference), with 0 < d < twice either node's distance to the mean:
 * both end closer to it.
 *
 * The moves end as any move does: the learner is promoted, then the
 * removal of rule 4 takes the fullest voter (pl_excess_voter). A pair is
 * taken only if that is H's replica of A and L's replica of B with both
 * learners in (each node then holds one replica more). Meanwhile each of
 * the two nodes holds a replica more than it will (L holds A before B
 * leaves it): the balancing rules judge nodes by their figures with the
 * moves in flight done (pl_cnt, pl_byt), which are the swap's outcome, so
 * neither the count rule nor the bytes rule moves a third range to undo
 * what is only a transient.
 *
 * Converges: a swap leaves every count as it was and lowers the sum of
 * squares of the live nodes' bytes by 2d(h - l - d) > 0 (h, l: the two
 * nodes' bytes), so swaps cannot follow one another forever, nor undo one
 * another.
 */
#include <stdlib.h>

#include "bugs.h"
#include "rangekv/error.h"
#include "sched_int.h"

/* Heavy and light nodes tried per pass (pairs: the square). */
#define SWAP_NODES 4

struct cand {
	const struct rk_pl_range *r;
	uint64_t size;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

static bool swappable(struct pl_ctx *c, const struct rk_pl_range *r)
{
	uint32_t voters = 0;

	if (r->busy != RK_PL_IDLE || (r->flags & RK_PL_RANGE_SYSTEM) ||
	    pl_in_joint(r) || !pl_has_leader(c, r))
		return false;
	for (uint8_t i = 0; i < r->n_reps; i++) {
		if (r->reps[i].role != RK_DESC_VOTER ||
		    !pl_node_live(c, r->reps[i].node_id))
			return false;
		voters++;
	}
	return voters == pl_want(c, r);
}

/* Whether the removal that ends a move of r off `from` takes from's
 * replica: the fullest voter with the swap's other learner on `from`. The
 * learner's bytes are left out: they only add to from's claim. */
static bool removal_takes(struct pl_ctx *c, const struct rk_pl_range *r,
			  struct rk_pl_node *from)
{
	const struct rk_pl_replica *v;

	from->replicas++;
	v = pl_excess_voter(c, r);
	from->replicas--;
	return v != NULL && v->node_id == from->id;
}

/* What pl_emit_add charges for a learner of r on `to` (undo: taken back). */
static void charge(struct pl_ctx *c, const struct rk_pl_range *r,
		   struct rk_pl_node *to, bool undo)
{
	struct rk_pl_node *leader = pl_node(c, r->leader_node);

	if (undo) {
		to->moves--;
		if (leader != NULL && leader != to)
			leader->moves--;
		c->moves_total--;
		return;
	}
	to->moves++;
	if (leader != NULL && leader != to)
		leader->moves++;
	c->moves_total++;
}

/* Whether both moves fit: b onto h, then a onto l with b's charged. */
static bool pair_allowed(struct pl_ctx *c, const struct rk_pl_range *a,
			 struct rk_pl_node *l, const struct rk_pl_range *b,
			 struct rk_pl_node *h)
{
	bool ok;

	if (!pl_eligible(c, b, h, pl_node(c, b->leader_node)))
		return false;
	charge(c, b, h, false);
	ok = pl_eligible(c, a, l, pl_node(c, a->leader_node));
	charge(c, b, h, true);
	return ok;
}

/* The swappable ranges of the n from `first` on `on` and not on `not`
 * whose move off `on` the removal would end there. */
static size_t collect(struct pl_ctx *c, size_t first, size_t n,
		      struct rk_pl_node *on, struct rk_pl_node *not,
		      struct cand *out)
{
	const struct rk_pl_state *st = c->st;
	size_t k = 0;

	for (size_t j = 0, i = first; j < n; j++, i++) {
		const struct rk_pl_range *r;

		if (i >= st->n_ranges)
			i = 0;
		r = &st->ranges[i];
		if (!pl_range_has_node(r, on->id) ||
		    pl_range_has_node(r, not->id) || !swappable(c, r) ||
		    pl_held(c, i) || !removal_takes(c, r, on))
			continue;
		out[k].r = r;
		out[k].size = r->size_bytes;
		k++;
	}
	return k;
}

/* The best exchange of an as[] range of h for a bs[] range of l (bs[] is
 * sorted here), in *ap and *bp; false if none brings both closer. */
static bool best_pair(struct pl_ctx *c, struct rk_pl_node *h,
		      struct rk_pl_node *l, double mean, const struct cand *as,
		      size_t na, struct cand *bs, size_t nb,
		      const struct cand **ap, const struct cand **bp)
{
	double hb = (double)pl_byt(c, h), lb = (double)pl_byt(c, l);
	double lim = hb - mean < mean - lb ? hb - mean : mean - lb;
	double best = 0;

	/* d below 2 * lim: both nodes end nearer the mean than they were. */
	lim *= 2;
	qsort(bs, nb, sizeof(*bs), cand_cmp);
	for (size_t i = 0; i < na; i++) {
		/* The b nearest a - (hb - lb) / 2 on either side. */
		double aim = (double)as[i].size - (hb - lb) / 2;
		size_t lo = 0, hi = nb;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if ((double)bs[mid].size < aim)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo > 0 ? lo - 1 : 0; k < nb && k <= lo; k++) {
			double d = (double)as[i].size - (double)bs[k].size;
			double gain = d * (hb - lb - d);

			if (d <= 0 || d >= lim || gain <= best ||
			    !pair_allowed(c, as[i].r, l, bs[k].r, h))
				continue;
			best = gain;
			*ap = &as[i];
			*bp = &bs[k];
		}
	}
	return best > 0;
}

/* Keeps in list[] the SWAP_NODES heaviest nodes (or lightest) seen so
 * far, in that order. */
static void keep(struct pl_ctx *c, struct rk_pl_node **list, size_t *np,
		 struct rk_pl_node *n, bool heaviest)
{
	size_t i = *np < SWAP_NODES ? (*np)++ : SWAP_NODES;

	while (i > 0 && (heaviest ? pl_byt(c, n) > pl_byt(c, list[i - 1])
				  : pl_byt(c, n) < pl_byt(c, list[i - 1]))) {
		if (i < SWAP_NODES)
			list[i] = list[i - 1];
		i--;
	}
	if (i < SWAP_NODES)
		list[i] = n;
}

int pl_balance_swap(struct pl_ctx *c, size_t first, size_t n)
{
	struct rk_pl_node *heavy[SWAP_NODES], *light[SWAP_NODES];
	double mean = (c->byt_lo + c->byt_hi) / 2;
	size_t nh = 0, nl = 0;
	bool outside = false;
	struct cand *as, *bs;

	if (RK_PL_BUGGY(NO_SWAP) || c->doomed_hold || c->st->moves > 0 ||
	    c->learners_seen > 0 || c->n_pend > 0 || n == 0 ||
	    c->pass->max_ops - c->pass->n_ops < 2 ||
	    !pl_move_allowed(c, NULL, NULL))
		return 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		struct rk_pl_node *nd = &c->nodes[i];
		double cnt = pl_cnt(c, nd), byt = (double)pl_byt(c, nd);

		if (nd->state != RK_PL_LIVE)
			continue;
		if (cnt < c->cnt_lo || cnt > c->cnt_hi)
			return 0;
		outside |= byt < c->byt_lo || byt > c->byt_hi;
		if (byt > mean)
			keep(c, heavy, &nh, nd, true);
		else if (byt < mean)
			keep(c, light, &nl, nd, false);
	}
	if (!outside || nh == 0 || nl == 0)
		return 0;
	as = malloc(n * sizeof(*as));
	bs = malloc(n * sizeof(*bs));
	if (as == NULL || bs == NULL) {
		free(as);
		free(bs);
		return RK_ENOMEM;
	}
	for (size_t i = 0; i < nh * nl; i++) {
		struct rk_pl_node *h = heavy[i / nl], *l = light[i % nl];
		const struct cand *a = NULL, *b = NULL;
		size_t na, nb;

		if ((double)pl_byt(c, h) <= c->byt_hi &&
		    (double)pl_byt(c, l) >= c->byt_lo)
			continue;
		na = collect(c, first, n, h, l, as);
		nb = collect(c, first, n, l, h, bs);
		if (na == 0 || nb == 0 ||
		    !best_pair(c, h, l, mean, as, na, bs, nb, &a, &b))
			continue;
		/* The light range onto H first: were the second call refused,
		 * H would have gained a replica rather than lost one. */
		pl_emit_add(c, b->r, h, l, RK_PL_WHY_BALANCE_SWAP);
		pl_emit_add(c, a->r, l, h, RK_PL_WHY_BALANCE_SWAP);
		break;
	}
	free(as);
	free(bs);
	return 0;
}
