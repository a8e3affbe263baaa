/*
 * The scheduler's driver (sched_run.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "api_range.h"
#include "json.h"
#include "log.h"
#include "node_int.h"
#include "ops.h"
#include "prom.h"
#include "../../placement/sched.h"
#include "sched_run.h"

#define MOD "placement"

/* A range the driver started an operation on (kind: enum rk_pl_op_kind). */
struct sr_busy {
	uint64_t range, generation, conf_version, leader, started_ms;
	uint8_t kind;
	bool answered_ok;
};

/* One pass's node table (the index is kept between passes, rk_sr). */
struct snap {
	struct rk_node *n;
	struct rk_pl_node *nodes;
	size_t n_nodes, cap_nodes;
	bool draining; /* a node is decommissioning */
};

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

static struct sr_busy *busy_of(struct rk_sr *s, uint64_t range)
{
	for (size_t i = 0; i < s->n_busy; i++)
		if (s->busy[i].range == range)
			return &s->busy[i];
	return NULL;
}

static void busy_drop(struct rk_sr *s, uint64_t range)
{
	struct sr_busy *b = busy_of(s, range);

	if (b != NULL)
		*b = s->busy[--s->n_busy];
}

/* The answer of a call: a refusal frees the range for the next pass (and
 * may name its leader); an accepted call keeps it busy until the
 * descriptor or the leader moves. */
static void on_answer(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	struct rk_node *n = arg;
	struct rk_sr *s = &n->sr;
	struct sr_busy *b = busy_of(s, tag);

	rk_sr_lead_answer(s, tag, body, len);
	if (status >= 200 && status < 300) {
		if (b != NULL)
			b->answered_ok = true;
		return;
	}
	s->ops_failed++;
	rk_log_debug(MOD, "range %llu: the scheduler's call answered %d: %.*s",
		     (unsigned long long)tag, status, (int)(len > 200 ? 200 : len), body);
	busy_drop(s, tag);
	s->soon = true; /* the range is free: tried again by the next pass */
}

/* A leader query's answer (GET of the range on one of its nodes). */
static void on_asked(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	struct rk_node *n = arg;

	(void)status;
	rk_sr_lead_answer(&n->sr, tag, body, len);
}

static int pl_state(int hb_state)
{
	switch (hb_state) {
	case RK_HB_SUSPECT:
		return RK_PL_SUSPECT;
	case RK_HB_DEAD:
		return RK_PL_DEAD;
	case RK_HB_DECOMMISSIONING:
		return RK_PL_DECOMMISSIONING;
	case RK_HB_DECOMMISSIONED:
		return RK_PL_DECOMMISSIONED;
	default:
		return RK_PL_LIVE;
	}
}

static int add_node(void *arg, const struct rk_pl_node_rec *rec)
{
	struct snap *sn = arg;
	struct rk_pl_node *x;
	uint64_t heard;
	int st;

	if (rk_grow((void **)&sn->nodes, &sn->cap_nodes, sn->n_nodes, sizeof(*sn->nodes)) != 0)
		return RK_ENOMEM;
	x = &sn->nodes[sn->n_nodes++];
	memset(x, 0, sizeof(*x));
	x->id = rec->id;
	st = rk_hb_view(sn->n, rec, &heard);
	x->state = (uint8_t)pl_state(st);
	/* Dead since it was last heard: the scheduler's dead_after counts
	 * from there, as the states do (heartbeat.h). */
	x->dead_since_ms = heard;
	x->capacity_bytes = rec->capacity;
	if (st == RK_HB_DECOMMISSIONING)
		sn->draining = true;
	return 0;
}

/* Hands the memory of a freed index back to the system: the index is
 * tens of megabytes at 100,000 ranges, made of small blocks that the
 * allocator would otherwise keep for the process's life, and a node that
 * read it several times while it settled would stay at its peak. But
 * malloc_trim walks every arena of the process, the store's cache among
 * them, and hands back each free run of pages with a madvise of its
 * own, a TLB shootdown on every core: done after each read (one every
 * RK_SR_SOON_MS while moves are in flight) it was a fifth of the
 * placement leader's CPU while a node filled, about 6,000 madvise calls
 * a second. So only for an index large enough to matter, and at most
 * once per RK_SR_TRIM_MS: the last one freed is handed back by the tick
 * after that (rk_sr_tick). */
static void trim_later(struct rk_sr *s, size_t n_freed)
{
	if (n_freed >= RK_SR_TRIM_RANGES)
		s->trim_due = true;
}

static void trim_now(struct rk_node *n)
{
	struct rk_sr *s = &n->sr;

	if (!s->trim_due || (s->trim_ms != 0 && now_ms(n) - s->trim_ms < RK_SR_TRIM_MS))
		return;
	s->trim_due = false;
	s->trim_ms = now_ms(n);
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* A range's view owns one block: its replicas, then its start and end
 * keys (fill_desc; the const on the keys is the scheduler's promise not
 * to write them). One allocation of about 100 bytes a range rather than
 * three, on the node that keeps a view of every range of the cluster. */
static void keys_free(struct rk_pl_range *x)
{
	free(x->reps);
	x->reps = NULL;
	x->start = x->end = NULL;
	x->n_reps = 0;
}

static void ranges_free(struct rk_pl_range *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		keys_free(&v[i]);
	free(v);
}

static void index_free(struct rk_sr *s)
{
	size_t freed = s->n_ranges + s->n_pend + s->n_gone - s->gone_at;

	ranges_free(s->ranges, s->n_ranges);
	ranges_free(s->pend, s->n_pend);
	ranges_free(s->gone, s->n_gone); /* those freed already are NULL */
	memset(&s->ranges, 0, sizeof(*s) - offsetof(struct rk_sr, ranges));
	trim_later(s, freed);
}

/* The range's view of descriptor d: what does not change until the next
 * read, its replicas and keys copied into the view's block (d keeps its
 * own); the rest of d is not kept: the view holds what the driver needs
 * of it. x is zeroed first; on RK_ENOMEM it owns nothing. */
static int fill_desc(const struct rk_desc *d, struct rk_pl_range *x)
{
	uint8_t n = d->n_reps < RK_PL_MAX_REPLICAS ? d->n_reps : RK_PL_MAX_REPLICAS;
	size_t rb = (size_t)n * sizeof(*x->reps);
	uint8_t *b;

	memset(x, 0, sizeof(*x));
	b = malloc(rb + d->slen + d->elen + 1);
	if (b == NULL)
		return RK_ENOMEM;
	x->reps = (struct rk_pl_replica *)(void *)b;
	for (uint8_t i = 0; i < n; i++)
		x->reps[i] = (struct rk_pl_replica){d->reps[i].replica_id, d->reps[i].node_id,
						    d->reps[i].role};
	x->n_reps = n;
	if (d->slen > 0)
		memcpy(b + rb, d->start, d->slen);
	if (d->elen > 0)
		memcpy(b + rb + d->slen, d->end, d->elen);
	x->start = b + rb;
	x->slen = d->slen;
	x->end = b + rb + d->slen;
	x->elen = d->elen;
	x->id = d->range_id;
	x->generation = d->generation;
	x->conf_version = d->conf_version;
	if (d->flags & RK_DESC_F_AUTO_SPLIT)
		x->flags |= RK_PL_RANGE_AUTO_SPLIT;
	return 0;
}

/* The ranges of the index replaced by the last read: their keys freed a
 * page a tick (100,000 of them at once are 20 ms of the loop). */
static void gone_step(struct rk_sr *s)
{
	size_t k = s->n_gone - s->gone_at < RK_SR_PAGE ? s->n_gone - s->gone_at : RK_SR_PAGE;

	for (size_t i = 0; i < k; i++)
		keys_free(&s->gone[s->gone_at++]);
	if (s->gone_at == s->n_gone) {
		free(s->gone);
		s->gone = NULL;
		trim_later(s, s->n_gone);
		s->n_gone = s->gone_at = 0;
	}
}

/* One page of the index (RK_SR_PAGE descriptors, from this node's
 * replica of the group) into s->pend, the ranges' view of them (the
 * descriptors themselves are not kept: 150 bytes a range); once the last
 * page is in, they replace s->ranges. In range id order, as the pages
 * come: the scheduler needs start order for merges only, and
 * sched_merge.c puts in start order only the ranges a merge may take
 * (sorting 100,000 ranges would be one more stall; a merge checks that
 * the left's end is the right's start anyway). A page per tick: at 100,000
 * ranges the whole read is about 60 ms of the loop, never taken at once.
 * Pages read at different applied indexes may disagree (a split between
 * two reads): every operation carries the generation and configuration
 * version it was decided on, and the range's leader refuses a stale
 * one. */
static int read_step(struct rk_node *n)
{
	struct rk_sr *s = &n->sr;
	struct rk_pl_page pg;
	int rc = rk_pix_read_now(n, s->pend_after, RK_SR_PAGE, &pg);

	if (rc != 0)
		goto fail;
	for (size_t i = 0; i < pg.n; i++) {
		if (rk_grow((void **)&s->pend, &s->cap_pend, s->n_pend, sizeof(*s->pend)) != 0) {
			rk_pl_page_free(&pg);
			rc = RK_ENOMEM;
			goto fail;
		}
		if (fill_desc(&pg.descs[i], &s->pend[s->n_pend]) != 0) {
			rk_pl_page_free(&pg);
			rc = RK_ENOMEM;
			goto fail;
		}
		s->pend_flagged += (s->pend[s->n_pend++].flags & RK_PL_RANGE_AUTO_SPLIT) != 0;
	}
	s->pend_after = pg.next;
	rk_pl_page_free(&pg);
	if (s->pend_after != 0)
		return 0;
	/* Complete: the previous index goes to the gone list (or is freed
	 * now if the list is still busy with an older one). */
	if (s->gone != NULL)
		ranges_free(s->ranges, s->n_ranges);
	else {
		s->gone = s->ranges;
		s->n_gone = s->n_ranges;
		s->gone_at = 0;
	}
	s->ranges = s->pend;
	s->n_ranges = s->n_pend;
	s->cap_ranges = s->cap_pend;
	s->n_flagged = s->pend_flagged;
	s->pend = NULL;
	s->n_pend = s->cap_pend = s->pend_flagged = 0;
	s->reading = false;
	s->index_at = s->pend_at;
	s->index_read = true;
	s->index_reads++;
	return 0;
fail:
	ranges_free(s->pend, s->n_pend);
	s->pend = NULL;
	s->n_pend = s->cap_pend = s->pend_flagged = 0;
	s->reading = false;
	return rc;
}

static bool on_node(const struct rk_pl_range *x, uint64_t node)
{
	for (uint8_t i = 0; i < x->n_reps; i++)
		if (x->reps[i].node_id == node)
			return true;
	return false;
}

/* The kept tally (rk_sr's tally_*) follows range x of the index, whose
 * leader or size changed: was is x as it was. Nothing for a range the
 * tally did not count, or when none is kept of this index read (the
 * next tally walks them all). */
static void tally_follow(struct rk_sr *s, const struct rk_pl_range *was,
			 const struct rk_pl_range *x)
{
	struct rk_pl_state st;

	if (!s->tallied || s->tally_read != s->index_reads || x < s->ranges ||
	    x >= s->ranges + s->tally_n_ranges)
		return;
	memset(&st, 0, sizeof(st));
	st.nodes = s->tally_nodes;
	st.n_nodes = s->n_tally_nodes;
	st.moves = s->tally_moves;
	rk_pl_tally_range(&st, was, -1);
	rk_pl_tally_range(&st, x, 1);
	s->tally_moves = st.moves;
	s->tally_leaderless += (x->leader_node == 0) - (was->leader_node == 0);
}

/* Whether busy call b is a transfer done: accepted, and the range led by
 * another node (`leader`) now. Only a transfer's outcome is a new leader:
 * any other call's shows in the index, and a range whose leadership moved
 * for another reason (the runtime's balance, an election) after such a
 * call was accepted would be decided again on an index a step behind
 * (a removal of the replica it just removed, refused as stale). */
static bool transferred(const struct sr_busy *b, uint64_t leader)
{
	return b->answered_ok && b->kind == RK_PL_OP_TRANSFER_LEADER && leader != b->leader;
}

/* The pass's view of range x's leader and busy mark (fill_desc did the
 * rest); a busy entry forgotten once the range moved on. */
void rk_sr_fill_range(struct rk_node *n, struct rk_pl_range *x)
{
	struct rk_sr *s = &n->sr;
	struct sr_busy *b = s->n_busy > 0 ? busy_of(s, x->id) : NULL;

	uint64_t was = x->leader_node;

	x->leader_node = rk_sr_leader_of(n, x->id);
	if (x->leader_node != 0 && !on_node(x, x->leader_node))
		x->leader_node = 0; /* a stale hint: not one of its nodes */
	/* A leader on a node that is down is a hint from before it died: a
	 * range this node holds no replica of learns its new leader only by
	 * asking (refresh_slice asks for a leader of 0), and without asking
	 * the scheduler would wait for ever on the dead node's leadership
	 * (rule 1) and never repair the range. */
	if (x->leader_node != 0 && x->leader_node != n->cfg.node_id &&
	    !rk_peer_alive(n, x->leader_node))
		x->leader_node = 0;
	if (b != NULL && (b->generation != x->generation || b->conf_version != x->conf_version ||
			  transferred(b, x->leader_node) ||
			  now_ms(n) - b->started_ms >= RK_SR_BUSY_MS)) {
		busy_drop(s, x->id);
		b = NULL;
	}
	x->busy = b != NULL ? RK_PL_BUSY_MEMBER : RK_PL_IDLE;
	if (x->leader_node != was) {
		struct rk_pl_range old = *x;
		old.leader_node = was;
		tally_follow(s, &old, x);
	}
	if (s->n_merging > 0 && rk_sr_merging(s, x->id))
		x->busy = RK_PL_BUSY_MERGE;
}

/* Asks one node of a range whose leader is unknown who leads it. */
static void ask_leader(struct rk_node *n, const struct rk_pl_range *x)
{
	char url[64];

	for (uint8_t i = 0; i < x->n_reps; i++) {
		uint64_t to = x->reps[i].node_id;
		if (to != n->cfg.node_id && rk_peer_alive(n, to)) {
			snprintf(url, sizeof(url), "/api/v1/ranges/%llu",
				 (unsigned long long)x->id);
			if (rk_fwd_call(n, to, "GET", url, on_asked, n, x->id) == 0)
				n->sr.asked++;
			return;
		}
	}
}

static uint64_t node_of_replica(const struct rk_pl_range *x, uint64_t replica_id)
{
	for (uint8_t i = 0; i < x->n_reps; i++)
		if (x->reps[i].replica_id == replica_id)
			return x->reps[i].node_id;
	return 0;
}

void rk_sr_carry_out(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op)
{
	struct rk_sr *s = &n->sr;
	const char *method = "POST";
	char url[192];
	int k;

	switch (op->kind) {
	case RK_PL_OP_ADD_LEARNER:
	case RK_PL_OP_PROMOTE:
		k = snprintf(url, sizeof(url), "/api/v1/ranges/%llu/replicas?node=%llu&role=%s",
			     (unsigned long long)op->range_id,
			     (unsigned long long)(op->kind == RK_PL_OP_PROMOTE
							  ? node_of_replica(x, op->replica_id)
							  : op->node_id),
			     op->kind == RK_PL_OP_PROMOTE ? "voter" : "learner");
		break;
	case RK_PL_OP_REMOVE:
		method = "DELETE";
		k = snprintf(url, sizeof(url), "/api/v1/ranges/%llu/replicas/%llu?",
			     (unsigned long long)op->range_id,
			     (unsigned long long)op->replica_id);
		break;
	case RK_PL_OP_TRANSFER_LEADER:
		k = snprintf(url, sizeof(url), "/api/v1/ranges/%llu/transfer-leader?to=%llu",
			     (unsigned long long)op->range_id, (unsigned long long)op->node_id);
		break;
	default:
		return; /* splits: their leaders' (autosplit.h); merges: sched_merge.c */
	}
	snprintf(url + k, sizeof(url) - (size_t)k, "%sgeneration=%llu&conf_version=%llu",
		 url[k - 1] == '?' ? "" : "&", (unsigned long long)op->generation,
		 (unsigned long long)op->conf_version);
	if (rk_grow((void **)&s->busy, &s->cap_busy, s->n_busy, sizeof(*s->busy)) != 0)
		return;
	s->busy[s->n_busy++] = (struct sr_busy){op->range_id, op->generation, op->conf_version,
						x->leader_node, now_ms(n), op->kind, false};
	if (rk_fwd_call(n, x->leader_node, method, url, on_answer, n, op->range_id) != 0) {
		s->n_busy--;
		return;
	}
	s->ops_sent++;
	rk_ops_started(n, x, op);
	rk_log_info(MOD, "range %llu: %s (%s) %s %llu", (unsigned long long)op->range_id,
		    rk_pl_op_name(op->kind), rk_pl_reason_name(op->reason),
		    op->kind == RK_PL_OP_ADD_LEARNER || op->kind == RK_PL_OP_TRANSFER_LEADER
			    ? "node" : "replica",
		    (unsigned long long)(op->kind == RK_PL_OP_ADD_LEARNER ||
						 op->kind == RK_PL_OP_TRANSFER_LEADER
					 ? op->node_id : op->replica_id));
}

/* While rebalancing is paused: only the operations of a drain (a
 * learner for a replica on a decommissioning node, its promotion, the
 * removal that ends the move, the leadership handed over first). */
static bool drain_op(const struct rk_pl_op *op)
{
	return op->reason == RK_PL_WHY_DRAIN || op->reason == RK_PL_WHY_CATCH_UP ||
	       op->reason == RK_PL_WHY_EXCESS || op->reason == RK_PL_WHY_FREE_LEADER;
}

/* Leaders and busy marks move without the index: refreshed for the slice
 * of RK_SR_SLICE ranges from `at` only (at 100,000 ranges a walk of them
 * all is 20 ms of the loop). */
static void refresh_slice(struct rk_node *n, size_t at)
{
	struct rk_sr *s = &n->sr;
	size_t asked = 0, k = s->n_ranges < RK_SR_SLICE ? s->n_ranges : RK_SR_SLICE;

	for (size_t j = 0; j < k; j++) {
		size_t i = (at + j) % s->n_ranges;
		rk_sr_fill_range(n, &s->ranges[i]);
		if (s->ranges[i].leader_node == 0 && asked++ < RK_SR_MAX_OPS)
			ask_leader(n, &s->ranges[i]);
	}
}

/* Every range's size and load from the figures the nodes reported
 * (rfig.h), once every live node completed a full report to this
 * leader; until then none: sizes of a part of the ranges would make the
 * nodes that reported look the heaviest, so balance goes by count. Both
 * lists are in range id order: one walk of each (at 100,000 ranges about
 * as long as a tally). A range's bytes are its leader's last report, the
 * same on every node holding it: they move with it. A size that changes
 * moves the kept tally's bytes with it (tally_follow), so the figures
 * coming in do not make the next pass tally every range again. */
static void fill_figures(struct rk_node *n, const struct snap *sn)
{
	struct rk_sr *s = &n->sr;
	const struct rk_pl_figtab *t = &n->rfig.tab;
	uint64_t live[64];
	size_t k = 0, j = 0;
	bool use;

	for (size_t i = 0; i < sn->n_nodes && k < 64; i++)
		if (sn->nodes[i].state == RK_PL_LIVE)
			live[k++] = sn->nodes[i].id;
	use = rk_rfig_complete(n, live, k);
	s->sized = use;
	{
		uint64_t key[5] = {s->index_reads, n->rfig.tab_epoch, t->changed, t->n, use};
		/* The same figures into the same index: nothing to write. */
		if (s->filled && memcmp(key, s->fill_key, sizeof(key)) == 0)
			return;
		memcpy(s->fill_key, key, sizeof(key));
		s->filled = true;
	}
	s->fills++;
	for (size_t i = 0; i < s->n_ranges; i++) {
		struct rk_pl_range *x = &s->ranges[i];
		while (use && j < t->n && t->v[j].f.range < x->id)
			j++;
		uint64_t was = x->size_bytes;
		if (use && j < t->n && t->v[j].f.range == x->id) {
			x->size_bytes = t->v[j].f.size_bytes;
			x->writes_ps = t->v[j].f.writes_ps;
			x->reads_ps = t->v[j].f.reads_ps;
		} else {
			x->size_bytes = 0;
			x->writes_ps = x->reads_ps = 0;
		}
		if (x->size_bytes != was) {
			struct rk_pl_range old = *x;
			old.size_bytes = was;
			tally_follow(s, &old, x);
		}
	}
}

/* rk_pl_tally's figures for st: the kept ones (tally_follow kept them
 * current as leaders and sizes changed) when st is made of the same
 * index read, the same ranges and the same nodes (by id, in order), a
 * walk of every range otherwise. *keptp: they were kept. */
static int tally(struct rk_node *n, struct rk_pl_state *st, bool *keptp)
{
	struct rk_sr *s = &n->sr;
	/* The group's range, when the pass takes it (group_sync), changes
	 * with no index read: tallied afresh. */
	bool group = st->n_ranges > 0 && st->ranges[st->n_ranges - 1].id == RK_RANGE_PLACEMENT;
	bool same = s->tallied && !group && st->n_nodes == s->n_tally_nodes &&
		    st->n_ranges == s->tally_n_ranges && s->tally_read == s->index_reads;
	int rc;

	for (size_t i = 0; same && i < st->n_nodes; i++)
		same = st->nodes[i].id == s->tally_nodes[i].id;
	*keptp = same;
	if (same) {
		for (size_t i = 0; i < st->n_nodes; i++) {
			st->nodes[i].replicas = s->tally_nodes[i].replicas;
			st->nodes[i].leaders = s->tally_nodes[i].leaders;
			st->nodes[i].moves = s->tally_nodes[i].moves;
			st->nodes[i].bytes = s->tally_nodes[i].bytes;
		}
		st->moves = s->tally_moves;
		return 0;
	}
	s->tallied = false;
	s->tallies++;
	if ((rc = rk_pl_tally(st)) != 0)
		return rc;
	s->n_tally_nodes = 0;
	for (size_t i = 0; i < st->n_nodes; i++) {
		if (rk_grow((void **)&s->tally_nodes, &s->cap_tally_nodes, i,
			    sizeof(*s->tally_nodes)) != 0)
			return 0; /* not kept: walked again next time */
		s->tally_nodes[i] = st->nodes[i];
		s->n_tally_nodes++;
	}
	s->tally_leaderless = 0;
	for (size_t i = 0; i < st->n_ranges; i++)
		s->tally_leaderless += st->ranges[i].leader_node == 0;
	s->tally_moves = st->moves;
	s->tally_n_ranges = st->n_ranges;
	s->tally_read = s->index_reads;
	s->tallied = true;
	return 0;
}

/* The operations' look (ops.h) at st, spared when the tally was kept
 * and the last look had nothing to follow: the look's figures are then
 * the kept tally's (the nodes' counts, the ranges without a leader). */
static void look(struct rk_node *n, const struct rk_pl_state *st, bool kept)
{
	if (kept && rk_ops_settled(n)) {
		rk_ops_figures(n, st, n->sr.tally_leaderless);
		return;
	}
	n->sr.looks++;
	rk_ops_look(n, st);
}

/* The voters the placement group is kept at: rk_plc_group_size of the
 * nodes that are up or may come back (live, suspect, dead for less than
 * --dead-after), so that a node dead for good or drained does not hold a
 * seat, and a cluster grown to 5 nodes gets 5. */
static uint8_t group_want(const struct snap *sn, uint64_t now, uint64_t dead_after)
{
	uint32_t up = 0;

	for (size_t i = 0; i < sn->n_nodes; i++) {
		const struct rk_pl_node *x = &sn->nodes[i];
		up += x->state == RK_PL_LIVE || x->state == RK_PL_SUSPECT ||
		      (x->state == RK_PL_DEAD && now - x->dead_since_ms < dead_after);
	}
	return (uint8_t)rk_plc_group_size(up > 0 ? up : 1);
}

/* The placement group's own range is not in the index (its reports
 * would be its own commands): it is the last entry of s->ranges (its id,
 * 2^62, is above every other), made from this node's replica's
 * descriptor, the newest there is since the driver runs on the group's
 * leader. Refreshed each pass and look: its membership changes as the
 * moves apply. */
static int group_sync(struct rk_node *n, const struct snap *sn, bool *workp)
{
	struct rk_sr *s = &n->sr;
	struct rk_replica *g = rk_plc_replica(n);
	struct rk_pl_range *x;

	if (g == NULL)
		return RK_ESTATE;
	if (s->n_ranges == 0 || s->ranges[s->n_ranges - 1].id != RK_RANGE_PLACEMENT) {
		if (rk_grow((void **)&s->ranges, &s->cap_ranges, s->n_ranges,
			    sizeof(*s->ranges)) != 0)
			return RK_ENOMEM;
		memset(&s->ranges[s->n_ranges], 0, sizeof(*s->ranges));
		s->n_ranges++;
	}
	x = &s->ranges[s->n_ranges - 1];
	if (x->id != RK_RANGE_PLACEMENT || x->generation != g->desc.generation ||
	    x->conf_version != g->desc.conf_version) {
		keys_free(x);
		if (fill_desc(&g->desc, x) != 0) {
			s->n_ranges--; /* x, zeroed: not the group's any more */
			return RK_ENOMEM;
		}
	}
	rk_sr_fill_range(n, x);
	x->flags = RK_PL_RANGE_SYSTEM;
	x->want = group_want(sn, now_ms(n), n->cfg.settings.v[RK_SET_DEAD_AFTER]);
	/* Settled (its count of voters, all on live nodes, its leader on
	 * none being drained), it is left out of the pass: it is never moved
	 * to balance the nodes, and counted with the user ranges it would
	 * move the bands' edges in small clusters (node_figures settled
	 * short of the bytes band so). */
	*workp = x->n_reps != x->want || x->busy != RK_PL_IDLE;
	for (uint8_t i = 0; i < x->n_reps && !*workp; i++) {
		const struct rk_pl_node *v = NULL;
		for (size_t j = 0; j < sn->n_nodes && v == NULL; j++)
			if (sn->nodes[j].id == x->reps[i].node_id)
				v = &sn->nodes[j];
		*workp = x->reps[i].role != RK_DESC_VOTER || v == NULL || v->state != RK_PL_LIVE;
	}
	return 0;
}

/* Whether this pass balances leaderships (rule 9), and if so its nodes'
 * counts of them as their last heartbeats said (st's from the tally come
 * from leader hints up to a sweep old at 100,000 ranges): only while
 * rebalancing is on; only once the replicas are spread (rk_pl_counts_settled:
 * a node that joined or came back holds too few replicas to take its
 * share, and the band's mean would have the others hand leaderships
 * among themselves, each transfer an election, only to move them again
 * once the replicas are spread); and only once the beats can show the
 * last round's transfers, with none of them (or of a move's handover)
 * still in flight and a beat from every live node RK_SR_LEAD_SETTLE_MS
 * after that round. Rounds closer together would count the same
 * leaderships as misplaced twice and overshoot. */
static bool lead_round(struct rk_node *n, const struct rk_pl_config *cfg,
		       struct rk_pl_state *st, bool enabled)
{
	struct rk_sr *s = &n->sr;
	uint64_t v[RK_MAX_NODES], heard;

	/* Nor while merges are under way or pairs wait to be judged cold
	 * for one (s->n_pairs; a cold range that no merge takes, its pair
	 * too large or too busy, does not hold rule 9 back): a merge gathers
	 * both leaderships on its left's leader, and with rule 9 handing
	 * leaderships over beside merges, two CI runs saw merges stop
	 * (ranges small, aligned and cold, none merged in 180-300 s);
	 * leaderships are spread once they are done. */
	if (!enabled || st->n_nodes > RK_MAX_NODES || !rk_pl_counts_settled(cfg, st) ||
	    s->n_merging > 0 || s->n_pairs > 0)
		return false;
	for (size_t i = 0; i < s->n_busy; i++)
		if (s->busy[i].kind == RK_PL_OP_TRANSFER_LEADER)
			return false;
	for (size_t i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].state == RK_PL_LIVE &&
		    (!rk_hb_reported(n, st->nodes[i].id, RK_PL_STAT_LEADERS, &v[i], &heard) ||
		     heard < s->lead_ms + RK_SR_LEAD_SETTLE_MS))
			return false;
	for (size_t i = 0; i < st->n_nodes; i++)
		if (st->nodes[i].state == RK_PL_LIVE)
			st->nodes[i].leaders = (uint32_t)v[i];
	return true;
}

static void pass(struct rk_node *n, struct snap *sn, bool enabled)
{
	struct rk_sr *s = &n->sr;
	struct rk_pl_config cfg;
	struct rk_pl_state st;
	struct rk_pl_pass ps;
	struct rk_pl_op ops[RK_SR_MAX_OPS];
	bool kept;
	bool work = false;

	/* The slice this pass visits. The leaderships the tally counts for
	 * the others are at most one sweep old (none right after a read),
	 * and steer only the choice of a transfer's target. */
	if (s->n_ranges > 0)
		refresh_slice(n, s->cursor % s->n_ranges);
	if (group_sync(n, sn, &work) != 0)
		return;
	rk_pl_config_default(&cfg);
	cfg.replicas = rk_node_config_replicas(&n->cfg);
	cfg.dead_after_ms = n->cfg.settings.v[RK_SET_DEAD_AFTER];
	/* Splits are their leaders' (autosplit.h); merges are decided over
	 * the ranges in start order (rk_sr_merges). */
	cfg.split_size = 0;
	cfg.split_qps = 0;
	cfg.merge_size = 0;
	/* Rule 9 only in the main pass, and only when lead_round says so:
	 * the merges' pass takes its merges and alignments alone, and a
	 * transfer it decided and dropped would still count in the nodes'
	 * leaderships the main pass goes by. */
	cfg.no_leader_balance = true;
	memset(&st, 0, sizeof(st));
	st.now_ms = now_ms(n);
	st.nodes = sn->nodes;
	st.n_nodes = sn->n_nodes;
	st.ranges = s->ranges;
	st.n_ranges = s->n_ranges - !work; /* the group's is the last */
	fill_figures(n, sn);
	if (tally(n, &st, &kept) != 0)
		return;
	/* Moves in flight enough for small ranges' snapshots to keep the
	 * nodes' --snapshot-rate busy, once sizes are known: each move of a
	 * range of 1 MB held its slot for its steps' calls, not its send. */
	if (s->sized)
		rk_pl_moves_for_rate(&cfg, &st, n->cfg.settings.v[RK_SET_SNAPSHOT_RATE]);
	/* Every pass, the sooner ones too: the pass that promotes a learner
	 * is the last to see it, and the look asks its leader for the
	 * snapshot's bytes then (a move of a small range is done within
	 * half a second, before the next 1 s look). */
	look(n, &st, kept);
	/* Before the main pass, which then leaves the merging ranges alone. */
	if (enabled)
		rk_sr_merges(n, &cfg, &st);
	cfg.no_leader_balance = !lead_round(n, &cfg, &st, enabled);
	memset(&ps, 0, sizeof(ps));
	ps.cursor = s->cursor;
	ps.slice = RK_SR_SLICE;
	ps.ops = ops;
	ps.max_ops = RK_SR_MAX_OPS;
	if (rk_pl_pass(&cfg, &st, &ps) != 0)
		return;
	s->cursor = ps.next_cursor;
	s->passes++;
	for (size_t i = 0; i < ps.n_ops; i++) {
		if (ops[i].reason == RK_PL_WHY_BALANCE_LEADERS)
			s->lead_ms = now_ms(n);
		if (!enabled && !drain_op(&ops[i])) {
			s->ops_paused++;
			continue;
		}
		for (size_t j = 0; j < s->n_ranges; j++)
			if (s->ranges[j].id == ops[i].range_id) {
				rk_sr_carry_out(n, &s->ranges[j], &ops[i]);
				break;
			}
	}
	/* A drained node: no range has a replica there, the group's
	 * included (the last range, group_sync; left out of a pass while
	 * settled). */
	for (size_t i = 0; i < st.n_nodes; i++)
		if (st.nodes[i].state == RK_PL_DECOMMISSIONING && st.nodes[i].replicas == 0 &&
		    !on_node(&s->ranges[s->n_ranges - 1], st.nodes[i].id) && n->hb.st_id == 0) {
			rk_log_info(MOD, "node %llu holds no replica any more: decommissioned",
				    (unsigned long long)st.nodes[i].id);
			rk_hb_set_state(n, st.nodes[i].id, RK_PL_NODE_DECOMMISSIONED, NULL);
		}
}

/* Whether a call the driver started shows its outcome, so that the range
 * the next pass visits has its next step (or a freed move slot) to take:
 * its descriptor moved on (in the index as last read; the group's own
 * range in this node's replica, g) or its range left the index, or, the
 * call accepted, the range's leader is another node (a transfer). The
 * busy list is a few entries per pass, each a binary search. */
static bool steps_done(struct rk_node *n, const struct rk_replica *g)
{
	const struct rk_sr *s = &n->sr;

	for (size_t i = 0; i < s->n_busy; i++) {
		const struct sr_busy *b = &s->busy[i];
		uint64_t gen, conf;

		if (b->range == RK_RANGE_PLACEMENT) {
			gen = g->desc.generation;
			conf = g->desc.conf_version;
		} else {
			size_t k = rk_sr_find(s, b->range);
			if (k == SIZE_MAX)
				return true;
			gen = s->ranges[k].generation;
			conf = s->ranges[k].conf_version;
		}
		if (gen != b->generation || conf != b->conf_version ||
		    transferred(b, rk_sr_leader_of(n, b->range)))
			return true;
	}
	return false;
}

/* A read of the index begun, its first page now (a small index is read
 * whole), unless one is under way or the group (g, this node's replica)
 * applied nothing since the last that may have changed the index: the
 * nodes' STATS commands, a few a minute in an idle cluster, change only
 * the node table, which each pass reads anyway (at 100,000 ranges each
 * read of the index decodes 100,000 descriptors and makes every walk
 * that follows it, fill, tally, look, run again). */
static void read_begin(struct rk_node *n, const struct rk_replica *g)
{
	struct rk_sr *s = &n->sr;

	if (s->reading || (s->index_read && rk_plc_index_same(n, g, s->index_at)))
		return;
	s->reading = true;
	s->pend_after = 0;
	s->pend_flagged = 0;
	s->pend_at = g->visible;
	s->read_ms = now_ms(n);
	(void)read_step(n);
}

void rk_sr_tick(struct rk_node *n)
{
	struct rk_sr *s = &n->sr;
	struct rk_replica *g = rk_plc_replica(n);
	struct snap sn;
	bool enabled;

	trim_now(n);
	if (!n->hb.leading || g == NULL) {
		if (s->index_read || s->reading)
			index_free(s); /* another node drives: memory back */
		if (s->merging != NULL || s->cold != NULL || s->cand != NULL)
			rk_sr_merges_close(n);
		return;
	}
	if (s->gone != NULL)
		gone_step(s);
	if (s->reading)
		(void)read_step(n);
	/* Merges or a move's calls in flight: the index is read again (every
	 * RK_SR_SOON_MS at most) between passes too, so that their leaders'
	 * reports are seen soon after they apply (a pass's own read shows
	 * them only at the next pass: a merge's slot stayed taken two
	 * passes, ten times what the merge took, and each step of a move
	 * of a small range waited a pass, about a second, for a few tens of
	 * milliseconds of work). */
	if ((s->n_merging > 0 || s->n_busy > 0) && s->index_read &&
	    now_ms(n) - s->read_ms >= RK_SR_SOON_MS)
		read_begin(n, g);
	/* A step seen done: the pass comes sooner to take the next one.
	 * A merge the index shows done frees its slot (merges are decided
	 * only while rebalancing); a move's call done or refused leaves its
	 * range the next step (a promotion, a removal, a handover, a retry)
	 * and a promotion frees a move slot. */
	if (now_ms(n) - s->last_ms < RK_SR_EVERY_MS &&
	    (now_ms(n) - s->last_ms < RK_SR_SOON_MS || !s->index_read ||
	     !((rk_rb_enabled(n) && rk_sr_merges_settled(s)) || s->soon || steps_done(n, g))))
		return;
	s->last_ms = now_ms(n);
	s->soon = false;
	memset(&sn, 0, sizeof(sn));
	sn.n = n;
	enabled = rk_rb_enabled(n);
	/* Paused: nothing to do unless a node is being drained
	 * (rebalance.h). */
	if (rk_pl_walk_nodes(&n->plc.sm, n->reader, add_node, &sn) == 0 &&
	    (enabled || sn.draining)) {
		/* The index again once the group applied something since the
		 * last read (a report, a node's stats): a settled cluster's
		 * passes read nothing. Its first page now: a small index is
		 * read whole before this pass. */
		read_begin(n, g);
		if (s->index_read)
			pass(n, &sn, enabled);
	}
	free(sn.nodes);
}

void rk_sr_look(struct rk_node *n)
{
	struct rk_sr *s = &n->sr;
	struct rk_replica *g = rk_plc_replica(n);
	struct rk_pl_state st;
	struct snap sn;
	bool kept;

	if (!n->hb.leading || g == NULL)
		return;
	/* The index as rk_sr_tick keeps it: a read begun when the group
	 * applied something since the last one (rk_sr_tick goes on with it a
	 * page a tick); the figures wait for the first read. */
	read_begin(n, g);
	if (!s->index_read)
		return;
	memset(&sn, 0, sizeof(sn));
	sn.n = n;
	if (rk_pl_walk_nodes(&n->plc.sm, n->reader, add_node, &sn) == 0) {
		/* No pass moves the cursor: a slice a look, from where the
		 * last look left off. */
		if (s->n_ranges > 0) {
			refresh_slice(n, s->look_at % s->n_ranges);
			s->look_at += RK_SR_SLICE;
		}
		bool work = false;
		if (group_sync(n, &sn, &work) != 0)
			work = true; /* no group slot: every range is the index's */
		memset(&st, 0, sizeof(st));
		st.now_ms = now_ms(n);
		st.nodes = sn.nodes;
		st.n_nodes = sn.n_nodes;
		st.ranges = s->ranges;
		st.n_ranges = s->n_ranges - !work;
		fill_figures(n, &sn);
		if (tally(n, &st, &kept) == 0)
			look(n, &st, kept);
	}
	free(sn.nodes);
}

void rk_sr_close(struct rk_node *n)
{
	index_free(&n->sr);
	free(n->sr.tally_nodes);
	rk_sr_merges_close(n);
	free(n->sr.busy);
	free(n->sr.lead);
	memset(&n->sr, 0, sizeof(n->sr));
}

void rk_sr_metrics(struct rk_node *n, struct rk_buf *b)
{
	static const char *const help =
		"Walks of every range in the placement index the scheduler's driver made "
		"while this node led the placement group, by kind: fill (the ranges' "
		"figures), tally (the nodes' counts), look (the operations' figures), merge "
		"(the search for merge candidates).";
	static const char *const rows[][2] = {
		{"rangekv_placement_driver_passes_total",
		 "Passes of the scheduler's driver while this node led the placement group."},
		{"rangekv_placement_driver_index_reads_total",
		 "Complete reads of the placement index by the scheduler's driver while this "
		 "node led the placement group."},
	};
	const struct rk_sr *s = &n->sr;
	const uint64_t v[] = {s->fills, s->tallies, s->looks, s->merge_walks};
	const char *const kinds[] = {"fill", "tally", "look", "merge"};
	const uint64_t plain[] = {s->passes, s->index_reads};
	char labels[32];

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		rk_prom_one_u64(b, rows[i][0], "counter", rows[i][1], plain[i]);
	rk_prom_family(b, "rangekv_placement_driver_walks_total", "counter", help);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(labels, sizeof(labels), "walk=\"%s\"", kinds[i]);
		rk_prom_u64(b, "rangekv_placement_driver_walks_total", labels, v[i]);
	}
}
