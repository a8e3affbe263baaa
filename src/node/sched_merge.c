/*
 * The placement driver's automatic merges (sched_run.h, docs/placement.md
 * "Automatic merges").
 *
 * The driver's index is in range id order; merges need start order. Only
 * ranges an automatic split made (the descriptor's auto_split flag) can
 * be a merge's right range, so only they and their left neighbours are
 * put in start order: the small flagged ranges are sorted by start, and
 * one walk of the index finds, by a binary search of each range's end
 * among those starts, the left neighbours. An index with no flagged
 * range is not walked at all (the index read counts them), and the
 * candidates found are kept while the index read and the ranges'
 * figures are the same: a settled cluster's passes search no more.
 *
 * Those ranges go through the scheduler's rules (placement/sched.h) with
 * merges on; only its merges and the steps of its alignments (reason
 * merge_align: a merge pair's right moved onto its left's nodes first,
 * placement/align.c) are taken (the other rules' operations are the main
 * pass's). Both ranges of every merge pair are then busy for the main
 * pass, which would otherwise balance the replicas an alignment is
 * gathering. The core judges the pair (sizes and rates together, the
 * same replica set, settled, idle); the driver adds time: a range
 * merges only once it was small and quiet on its own in every pass for
 * --merge-cold (10 s by default) at its current generation
 * (RK_PL_RANGE_WARM until then), so a range that was just split, or is
 * written in bursts, stays; one the driver just merged waits
 * RK_SR_MERGED_COLD_MS, for its new size. Merges in flight: at most
 * --merge-max (4 by default) per node leading their left range, the node
 * that gathers both leaderships and carries the merge out: the rate grows
 * with the nodes, and no node has more than that many merges of its own
 * under way (a cluster-wide bound let 3 nodes do 4 between them).
 *
 * A merge is POST /api/v1/merge?left=L&right=R&generation=G&conf_version=V
 * on the left's leader over the forwarding path (fwd.h): the call there
 * gathers both leaderships, freezes the right and merges (merge.h), and is
 * refused if the left moved on since the decision. A merge is followed
 * until the index shows it (the left's generation moved on, the right
 * gone) or RK_SR_MERGE_MS passed. Nothing of this is needed after a
 * leader change: a new placement leader decides again from the index,
 * and a merge still under way on its left's leader refuses a second one.
 *
 * Threads: the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "key.h"
#include "log.h"
#include "merge.h"
#include "node_int.h"
#include "../../placement/sched.h"
#include "prom.h"
#include "sched_run.h"

#define MOD "placement"

struct sr_merge {
	uint64_t left, right, left_gen, leader, asked_ms;
	bool answered;
};

/* A range small and quiet on its own since since_ms, at generation. */
struct sr_cold {
	uint64_t range, generation, since_ms;
};

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

size_t rk_sr_find(const struct rk_sr *s, uint64_t id)
{
	size_t lo = 0, hi = s->n_ranges;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ranges[mid].id == id)
			return mid;
		if (s->ranges[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

bool rk_sr_merging(const struct rk_sr *s, uint64_t range)
{
	for (size_t i = 0; i < s->n_merging; i++)
		if (s->merging[i].left == range || s->merging[i].right == range)
			return true;
	return false;
}

static void merging_drop(struct rk_sr *s, size_t i)
{
	s->merging[i] = s->merging[--s->n_merging];
}

/* The call's answer: 202 (a forwarded call is not awaited) or 200, the
 * merge runs or ran; any other, it was refused and the range is free for
 * the next passes. */
static void on_answer(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	struct rk_node *n = arg;
	struct rk_sr *s = &n->sr;

	for (size_t i = 0; i < s->n_merging; i++) {
		if (s->merging[i].left != tag)
			continue;
		if (status >= 200 && status < 300) {
			s->merging[i].answered = true;
			return;
		}
		rk_sr_lead_answer(s, tag, body, len);
		rk_log_info(MOD, "range %llu: merge of range %llu not done (%d): %.*s",
			    (unsigned long long)tag, (unsigned long long)s->merging[i].right,
			    status, (int)(len > 200 ? 200 : len), body);
		s->merges_failed++;
		merging_drop(s, i);
		return;
	}
}

/* Whether the index shows merge m done or refused (the left's generation
 * moved on, or either range gone). */
static bool settled(const struct rk_sr *s, const struct sr_merge *m)
{
	size_t l = rk_sr_find(s, m->left);

	return l == SIZE_MAX || s->ranges[l].generation != m->left_gen ||
	       rk_sr_find(s, m->right) == SIZE_MAX;
}

bool rk_sr_merges_settled(const struct rk_sr *s)
{
	for (size_t i = 0; i < s->n_merging; i++)
		if (settled(s, &s->merging[i]))
			return true;
	return false;
}

/* Forgets the merges the index shows done, and those asked too long ago.
 * A merged range (both sides were cold) keeps its cold mark: it waits
 * RK_SR_MERGED_COLD_MS (at most cold_ms) from now, for its leader to
 * report its new size, not cold_ms again; each round of merges that
 * takes a run of ranges back to one waited cold_ms before. */
static void expire(struct rk_node *n, uint64_t cold_ms)
{
	struct rk_sr *s = &n->sr;
	uint64_t wait = cold_ms < RK_SR_MERGED_COLD_MS ? cold_ms : RK_SR_MERGED_COLD_MS;

	for (size_t i = 0; i < s->n_merging;) {
		struct sr_merge *m = &s->merging[i];

		if (settled(s, m)) {
			size_t l = rk_sr_find(s, m->left);

			if (l != SIZE_MAX && rk_sr_find(s, m->right) == SIZE_MAX) {
				s->merges_done++;
				if (rk_grow((void **)&s->cold, &s->cap_cold, s->n_cold,
					    sizeof(*s->cold)) == 0)
					s->cold[s->n_cold++] = (struct sr_cold){
						m->left, s->ranges[l].generation,
						now_ms(n) + wait >= cold_ms ? now_ms(n) + wait - cold_ms : 0};
			} else
				s->merges_failed++;
			merging_drop(s, i);
		} else if (now_ms(n) - m->asked_ms >= RK_SR_MERGE_MS) {
			rk_log_info(MOD, "range %llu: merge of range %llu not seen in the index "
				    "after %u ms: decided again", (unsigned long long)m->left,
				    (unsigned long long)m->right, RK_SR_MERGE_MS);
			s->merges_failed++;
			merging_drop(s, i);
		} else {
			i++;
		}
	}
}

static int start_cmp(const void *a, const void *b)
{
	const struct rk_pl_range *x = *(const struct rk_pl_range *const *)a;
	const struct rk_pl_range *y = *(const struct rk_pl_range *const *)b;

	return rk_key_cmp(x->start, x->slen, y->start, y->slen);
}

/* The position in by_start[0..n) of the range starting at key; SIZE_MAX. */
static size_t find_start(const struct rk_pl_range *const *by_start, size_t n,
			 const uint8_t *key, uint32_t klen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = rk_key_cmp(by_start[mid]->start, by_start[mid]->slen, key, klen);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

/* The search for merge candidates, a walk of every range: into s->cand
 * the positions in s->ranges, in start order, of the small flagged ranges
 * that have an indexed left neighbour, and of those neighbours. None
 * without a walk when the index holds no flagged range. */
static int search(struct rk_sr *s, uint64_t merge_size)
{
	const struct rk_pl_range **a = NULL, **set = NULL;
	size_t na = 0, cap = 0, n = 0, cap_set = 0;
	bool *has_left = NULL;
	int rc = 0;

	s->n_cand = 0;
	if (s->n_flagged == 0)
		return 0;
	s->merge_walks++;
	for (size_t i = 0; i < s->n_ranges; i++) {
		const struct rk_pl_range *x = &s->ranges[i];

		if (!(x->flags & RK_PL_RANGE_AUTO_SPLIT) || x->size_bytes > merge_size)
			continue;
		if (rk_grow((void **)&a, &cap, na, sizeof(*a)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
		a[na++] = x;
	}
	if (na == 0)
		goto out;
	qsort(a, na, sizeof(*a), start_cmp);
	if ((has_left = calloc(na, sizeof(*has_left))) == NULL) {
		rc = RK_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n_ranges; i++) {
		const struct rk_pl_range *x = &s->ranges[i];
		size_t k;

		if (x->elen == 0 || x->size_bytes > merge_size ||
		    (k = find_start(a, na, x->end, x->elen)) == SIZE_MAX)
			continue;
		if (rk_grow((void **)&set, &cap_set, n, sizeof(*set)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
		set[n++] = x;
		has_left[k] = true;
	}
	for (size_t k = 0; k < na; k++) {
		if (!has_left[k])
			continue;
		if (rk_grow((void **)&set, &cap_set, n, sizeof(*set)) != 0) {
			rc = RK_ENOMEM;
			goto out;
		}
		set[n++] = a[k];
	}
	if (n == 0)
		goto out; /* no flagged range has a left neighbour indexed */
	/* A flagged range can be both a left and a right: once only. */
	qsort(set, n, sizeof(*set), start_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && set[i - 1] == set[i])
			continue;
		if (rk_grow((void **)&s->cand, &s->cap_cand, s->n_cand, sizeof(*s->cand)) != 0) {
			s->n_cand = 0;
			rc = RK_ENOMEM;
			goto out;
		}
		s->cand[s->n_cand++] = (size_t)(set[i] - s->ranges);
	}
out:
	free(a);
	free(has_left);
	free(set);
	return rc;
}

/* The merge candidates in start order into *setp (pointers into
 * s->ranges, the caller frees the array): those of the last search while
 * the index and the ranges' figures are the ones it was made on (the
 * driver writes a range's span, flags and size only when it reads the
 * index or fills the figures in: fill_key), else of a new search. */
static int candidates(struct rk_sr *s, uint64_t merge_size, const struct rk_pl_range ***setp,
		      size_t *np)
{
	uint64_t key[6] = {s->fill_key[0], s->fill_key[1], s->fill_key[2], s->fill_key[3],
			   s->fill_key[4], merge_size};
	const struct rk_pl_range **set;
	int rc;

	*setp = NULL;
	*np = 0;
	if (!s->cand_ok || memcmp(key, s->cand_key, sizeof(key)) != 0) {
		s->cand_ok = false;
		if ((rc = search(s, merge_size)) != 0)
			return rc;
		memcpy(s->cand_key, key, sizeof(key));
		s->cand_ok = true;
	}
	if (s->n_cand == 0)
		return 0;
	if ((set = malloc(s->n_cand * sizeof(*set))) == NULL)
		return RK_ENOMEM;
	for (size_t i = 0; i < s->n_cand; i++)
		set[i] = &s->ranges[s->cand[i]];
	*setp = set;
	*np = s->n_cand;
	return 0;
}

/* The cold marks of the candidates, kept from the last pass where the
 * range and its generation are the same; *x marked RK_PL_RANGE_WARM until
 * it has been small and quiet for cold_ms. old[] is the last pass's
 * table (and expire's marks of merged ranges), new entries are appended
 * to s->cold. */
static void judge_cold(struct rk_node *n, const struct sr_cold *old, size_t n_old,
		       struct rk_pl_range *x, uint64_t merge_size, uint64_t merge_qps,
		       uint64_t cold_ms)
{
	struct rk_sr *s = &n->sr;
	uint64_t since = now_ms(n);

	x->flags |= RK_PL_RANGE_WARM;
	if (x->size_bytes > merge_size || (uint64_t)x->writes_ps + x->reads_ps > merge_qps)
		return;
	for (size_t i = 0; i < n_old; i++)
		if (old[i].range == x->id && old[i].generation == x->generation)
			since = old[i].since_ms;
	if (rk_grow((void **)&s->cold, &s->cap_cold, s->n_cold, sizeof(*s->cold)) != 0)
		return;
	s->cold[s->n_cold++] = (struct sr_cold){x->id, x->generation, since};
	if (now_ms(n) - since >= cold_ms)
		x->flags &= (uint8_t)~RK_PL_RANGE_WARM;
}

static void carry_out(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op,
		      struct rk_pl_state *st)
{
	struct rk_sr *s = &n->sr;
	char url[192];
	size_t l, r;

	snprintf(url, sizeof(url), "/api/v1/merge?left=%llu&right=%llu&generation=%llu"
		 "&conf_version=%llu", (unsigned long long)op->range_id,
		 (unsigned long long)op->right_id, (unsigned long long)op->generation,
		 (unsigned long long)op->conf_version);
	if (rk_grow((void **)&s->merging, &s->cap_merging, s->n_merging, sizeof(*s->merging)) != 0)
		return;
	s->merging[s->n_merging++] = (struct sr_merge){op->range_id, op->right_id, op->generation,
						       x->leader_node, now_ms(n), false};
	if (rk_fwd_call(n, x->leader_node, "POST", url, on_answer, n, op->range_id) != 0) {
		s->n_merging--;
		return;
	}
	s->merges_asked++;
	if ((l = rk_sr_find(s, op->range_id)) != SIZE_MAX)
		st->ranges[l].busy = RK_PL_BUSY_MERGE;
	if ((r = rk_sr_find(s, op->right_id)) != SIZE_MAX)
		st->ranges[r].busy = RK_PL_BUSY_MERGE;
	rk_log_info(MOD, "range %llu: merge (%s) of range %llu asked on node %llu",
		    (unsigned long long)op->range_id, rk_pl_reason_name(op->reason),
		    (unsigned long long)op->right_id, (unsigned long long)x->leader_node);
}

/* A step of an alignment (reason merge_align) carried out like the main
 * pass's operations; a learner added counts in st's moves, its node's and
 * the right's leader's, so the main pass that follows keeps within the
 * move limits. */
static void align_step(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op,
		       struct rk_pl_state *st)
{
	size_t k = rk_sr_find(&n->sr, op->range_id);

	if (k == SIZE_MAX)
		return;
	rk_sr_carry_out(n, &n->sr.ranges[k], op);
	if (op->kind != RK_PL_OP_ADD_LEARNER)
		return;
	st->moves++;
	for (size_t v = 0; v < st->n_nodes; v++)
		if (st->nodes[v].id == op->node_id ||
		    (st->nodes[v].id == x->leader_node && x->leader_node != op->node_id))
			st->nodes[v].moves++;
}

/* Whether left and right, neighbours among the candidates, merge once
 * both have been small and quiet for --merge-cold: a merge pair but for
 * their cold marks (their sizes and rates are what a merge is judged on
 * all the same). */
static bool pair_once_cold(const struct rk_pl_config *cfg, const struct rk_pl_state *ms,
			   const struct rk_pl_range *left, const struct rk_pl_range *right)
{
	struct rk_pl_range l = *left, r = *right;

	l.flags &= (uint8_t)~RK_PL_RANGE_WARM;
	r.flags &= (uint8_t)~RK_PL_RANGE_WARM;
	return rk_pl_merge_pair(cfg, ms, &l, &r);
}

/* Both ranges of every merge pair among the candidates (in start order)
 * busy for the main pass: balancing there never moves the replicas an
 * alignment gathers, nor the left it gathers them on. */
static void hold_pairs(struct rk_sr *s, const struct rk_pl_config *cfg,
		       const struct rk_pl_state *ms, struct rk_pl_state *st)
{
	for (size_t i = 0; i + 1 < ms->n_ranges; i++) {
		size_t l, r;

		if (!rk_pl_merge_pair(cfg, ms, &ms->ranges[i], &ms->ranges[i + 1]))
			continue;
		if ((l = rk_sr_find(s, ms->ranges[i].id)) != SIZE_MAX && st->ranges[l].busy == RK_PL_IDLE)
			st->ranges[l].busy = RK_PL_BUSY_MERGE;
		if ((r = rk_sr_find(s, ms->ranges[i + 1].id)) != SIZE_MAX &&
		    st->ranges[r].busy == RK_PL_IDLE)
			st->ranges[r].busy = RK_PL_BUSY_MERGE;
	}
}

void rk_sr_merges(struct rk_node *n, const struct rk_pl_config *base, struct rk_pl_state *st)
{
	struct rk_sr *s = &n->sr;
	uint64_t split_size = n->cfg.settings.v[RK_SET_SPLIT_SIZE];
	uint64_t split_qps = n->cfg.settings.v[RK_SET_SPLIT_QPS];
	uint64_t per_node = n->cfg.settings.v[RK_SET_MERGE_MAX];
	uint64_t cold_ms = n->cfg.settings.v[RK_SET_MERGE_COLD];
	const struct rk_pl_range **set = NULL;
	struct rk_pl_range *mr = NULL;
	struct sr_cold *old;
	size_t n_set = 0, n_old;
	struct rk_pl_config cfg = *base;
	struct rk_pl_state ms;
	struct rk_pl_pass ps;
	struct rk_pl_op ops[64];

	expire(n, cold_ms);
	old = s->cold; /* the last pass's cold marks, and those expire kept */
	n_old = s->n_cold;
	for (size_t i = 0; i < s->n_merging; i++) {
		size_t k = rk_sr_find(s, s->merging[i].left);
		if (k != SIZE_MAX)
			st->ranges[k].busy = RK_PL_BUSY_MERGE;
		if ((k = rk_sr_find(s, s->merging[i].right)) != SIZE_MAX)
			st->ranges[k].busy = RK_PL_BUSY_MERGE;
	}
	/* Each node's merges in flight, by the node they were asked of (the
	 * left's leader then). Without a slot free the pass runs all the
	 * same: it aligns merge pairs and holds them from balancing. */
	for (size_t v = 0; v < st->n_nodes; v++) {
		struct rk_pl_node *x = &st->nodes[v];

		x->merges = 0;
		for (size_t i = 0; i < s->n_merging; i++)
			x->merges += s->merging[i].leader == x->id;
	}
	/* Without every range's size a range would look empty. */
	cfg.merge_size = split_size / 4;
	cfg.merge_qps = split_qps != 0 ? (uint32_t)(split_qps / 4) : RK_SR_MERGE_QPS;
	cfg.max_merges = 0; /* per node */
	cfg.max_merges_per_node = (uint32_t)per_node;
	s->cold = NULL;
	s->n_cold = s->cap_cold = 0;
	s->n_pairs = 0;
	if (cfg.merge_size == 0 || !s->sized ||
	    candidates(s, cfg.merge_size, &set, &n_set) != 0 || n_set == 0)
		goto out;
	if ((mr = malloc(n_set * sizeof(*mr))) == NULL)
		goto out;
	for (size_t i = 0; i < n_set; i++) {
		size_t k = (size_t)(set[i] - s->ranges);

		rk_sr_fill_range(n, &s->ranges[k]);
		mr[i] = s->ranges[k];
		judge_cold(n, old, n_old, &mr[i], cfg.merge_size, cfg.merge_qps, cold_ms);
	}
	memset(&ms, 0, sizeof(ms));
	ms.now_ms = st->now_ms;
	ms.nodes = st->nodes;
	ms.n_nodes = st->n_nodes;
	ms.ranges = mr;
	ms.n_ranges = n_set;
	ms.moves = st->moves;
	ms.merges = (uint32_t)s->n_merging;
	memset(&ps, 0, sizeof(ps));
	ps.ops = ops;
	ps.max_ops = sizeof(ops) / sizeof(ops[0]);
	if (rk_pl_pass(&cfg, &ms, &ps) != 0)
		goto out;
	for (size_t i = 0; i < ps.n_ops; i++) {
		if (ops[i].kind != RK_PL_OP_MERGE && ops[i].reason != RK_PL_WHY_MERGE_ALIGN)
			continue; /* the main pass's to decide */
		for (size_t k = 0; k < n_set; k++) {
			if (mr[k].id != ops[i].range_id)
				continue;
			if (ops[i].kind == RK_PL_OP_MERGE)
				carry_out(n, &mr[k], &ops[i], st);
			else
				align_step(n, &mr[k], &ops[i], st);
			break;
		}
	}
	hold_pairs(s, &cfg, &ms, st);
	for (size_t i = 0; per_node > 0 && i + 1 < n_set; i++)
		s->n_pairs += pair_once_cold(&cfg, &ms, &mr[i], &mr[i + 1]);
out:
	free(old);
	free(mr);
	free(set);
}

size_t rk_sr_merges_json(struct rk_node *n, struct rk_json *j)
{
	struct rk_sr *s = &n->sr;
	size_t k = 0;

	for (size_t i = 0; i < s->n_merging; i++) {
		const struct sr_merge *m = &s->merging[i];

		if (rk_merge_busy(n, m->left))
			continue; /* its call runs here: merge.h lists it */
		rk_json_obj_begin(j);
		rk_json_key(j, "type");
		rk_json_str(j, "merge");
		rk_json_key(j, "range");
		rk_json_u64(j, m->left);
		rk_json_key(j, "right");
		rk_json_u64(j, m->right);
		rk_json_key(j, "node");
		rk_json_u64(j, m->leader);
		rk_json_key(j, "step");
		rk_json_str(j, m->answered ? "started" : "asked");
		rk_json_key(j, "reason");
		rk_json_str(j, rk_pl_reason_name(RK_PL_WHY_MERGE_SMALL));
		rk_json_key(j, "age_ms");
		rk_json_u64(j, now_ms(n) - m->asked_ms);
		rk_json_obj_end(j);
		k++;
	}
	return k;
}

void rk_sr_merges_metrics(struct rk_node *n, struct rk_buf *b)
{
	struct rk_sr *s = &n->sr;

	rk_prom_one_u64(b, "rangekv_placement_merges_in_flight", "gauge",
			"Automatic merges the placement driver asked for and has not yet seen "
			"in the index.",
			s->n_merging);
	rk_prom_one_u64(b, "rangekv_placement_merges_asked_total", "counter",
			"Automatic merges the placement driver asked for since this node leads "
			"the placement group.",
			s->merges_asked);
	rk_prom_one_u64(b, "rangekv_placement_merges_done_total", "counter",
			"Automatic merges the placement driver saw done in the index.",
			s->merges_done);
	rk_prom_one_u64(b, "rangekv_placement_merges_failed_total", "counter",
			"Automatic merges refused, abandoned, or not seen in the index in time.",
			s->merges_failed);
}

void rk_sr_merges_close(struct rk_node *n)
{
	struct rk_sr *s = &n->sr;

	free(s->merging);
	free(s->cold);
	free(s->cand);
	s->merging = NULL;
	s->cold = NULL;
	s->cand = NULL;
	s->n_merging = s->cap_merging = s->n_cold = s->cap_cold = 0;
	s->n_cand = s->cap_cand = 0;
	s->cand_ok = false;
}
