/*
 * Automatic range splits (autosplit.h).
 */
#include <stdlib.h>
#include <string.h>

#include "autosplit.h"
#include "key.h"
#include "log.h"
#include "node_int.h"

#define MOD "node"

/* ---- the middle of a span (pure) ------------------------------------------------ */

void rk_mid_init(struct rk_mid *m, uint64_t step)
{
	memset(m, 0, sizeof(*m));
	m->step = step > 0 ? step : 1;
	/* Not at offset 0: the first key cannot be the split key. */
	m->next = 1;
}

/* Keeps every other sample (0, 2, 4, ...): the step doubles. */
static void mid_thin(struct rk_mid *m)
{
	size_t k = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (i % 2 == 0)
			m->s[k++] = m->s[i];
		else
			rk_buf_free(&m->s[i].key);
	}
	m->n = k;
	m->step *= 2;
	m->next = m->s[m->n - 1].off + m->step;
}

void rk_mid_add(struct rk_mid *m, const void *key, size_t klen, uint64_t bytes)
{
	if (m->total >= m->next && !m->oom) {
		struct rk_mid_sample *s;

		if (m->n == RK_MID_SAMPLES)
			mid_thin(m);
		s = &m->s[m->n];
		rk_buf_init(&s->key);
		rk_buf_append(&s->key, key, klen);
		if (s->key.oom) {
			rk_buf_free(&s->key);
			m->oom = true;
		} else {
			s->off = m->total;
			m->n++;
			m->next = m->total + m->step;
		}
	}
	m->total += bytes;
}

int rk_mid_pick(const struct rk_mid *m, const uint8_t **keyp, size_t *klenp)
{
	uint64_t half = m->total / 2, best = UINT64_MAX;
	size_t at = 0;

	*keyp = NULL;
	*klenp = 0;
	if (m->oom)
		return RK_ENOMEM;
	if (m->n == 0)
		return RK_ENOTFOUND;
	for (size_t i = 0; i < m->n; i++) {
		uint64_t d = m->s[i].off > half ? m->s[i].off - half : half - m->s[i].off;
		if (d < best) {
			best = d;
			at = i;
		}
	}
	*keyp = (const uint8_t *)m->s[at].key.p;
	*klenp = m->s[at].key.len;
	return 0;
}

void rk_mid_free(struct rk_mid *m)
{
	for (size_t i = 0; i < m->n; i++)
		rk_buf_free(&m->s[i].key);
	m->n = 0;
}

double rk_autosplit_excess(uint64_t size, double qps, uint64_t split_size,
			   uint64_t split_qps)
{
	double by_size = 0, by_load = 0;

	if (split_size != 0 && size > split_size)
		by_size = (double)size / (double)split_size;
	if (split_qps != 0 && qps > (double)split_qps)
		by_load = qps / (double)split_qps;
	return by_size > by_load ? by_size : by_load;
}

/* ---- the key search on a worker --------------------------------------------------- */

struct search {
	uv_work_t req;
	struct rk_node *n;
	uint64_t range, generation;
	struct rk_buf start, end;
	struct rk_mid mid;
	int rc;
};

static int add_pair(void *arg, int table, const void *k, size_t kl,
		    const void *v, size_t vl)
{
	(void)v;
	if (table == 0) /* user data, counted as the size is (size.c) */
		rk_mid_add(arg, k, kl, kl + vl);
	return 0;
}

static void search_run(uv_work_t *req)
{
	struct search *s = req->data;
	struct rk_store_reader *rd;

	s->rc = rk_store_reader_open(s->n->store, &rd);
	if (s->rc != 0)
		return;
	s->rc = rk_store_scan_span_lens(rd, 0, s->start.p, s->start.len, s->end.p,
					s->end.len, add_pair, &s->mid, NULL);
	rk_store_reader_close(rd);
}

static void search_free(struct search *s)
{
	rk_mid_free(&s->mid);
	rk_buf_free(&s->start);
	rk_buf_free(&s->end);
	free(s);
}

static void search_done(uv_work_t *req, int status)
{
	struct search *s = req->data;
	struct rk_node *n = s->n;
	struct rk_replica *r = rk_table_get(&n->tab, s->range);
	const uint8_t *key;
	size_t klen;
	/* Cancelled, or done while the node stops (its split state is freed
	 * already): nothing more to do. */
	int rc = status != 0 || n->stopping ? RK_ESTOPPED : s->rc;

	n->split.auto_scanning = false;
	if (rc == 0)
		rc = rk_mid_pick(&s->mid, &key, &klen);
	/* The range may have changed meanwhile (split, merged, moved, led
	 * elsewhere): looked at again at a later tick. */
	if (rc == 0 && (r == NULL || r->desc.generation != s->generation))
		rc = RK_ESTATE;
	if (rc == 0)
		rc = rk_split_auto(n, r, key, klen);
	if (rc == RK_ENOTFOUND && r != NULL) {
		/* One key: nothing to split. Its figures start again (its
		 * size measured anew, its rates from nothing), so it is
		 * looked at again only once they pass the limits anew, not
		 * at every tick. */
		rk_size_unknown(n, r);
		rk_own_rates_reset(n, r);
	}
	if (rc != 0 && rc != RK_ESTATE)
		rk_log_info(MOD, "range %llu: no automatic split: %s",
			    (unsigned long long)s->range, rk_strerror(rc));
	search_free(s);
}

uint64_t rk_autosplit_size(const struct rk_replica *r)
{
	uint64_t size = rk_size_of(r);
	uint64_t unsure = r->load.unsure - r->load.unsure_mark;

	return size > unsure ? size - unsure : 0;
}

/* Whether r is led here and may split now. */
static bool eligible(const struct rk_node *n, const struct rk_replica *r)
{
	return !r->removing && !r->installing && r->desc.n_reps > 0 &&
	       r->split_left == 0 && rk_raft_is_leader(&r->raft) &&
	       rk_split_busy_why(n, r) == NULL;
}

static int search_start(struct rk_node *n, struct rk_replica *r)
{
	struct search *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return RK_ENOMEM;
	s->n = n;
	s->range = r->range;
	s->generation = r->desc.generation;
	rk_buf_init(&s->start);
	rk_buf_init(&s->end);
	rk_buf_append(&s->start, r->desc.start, r->desc.slen);
	rk_buf_append(&s->end, r->desc.end, r->desc.elen);
	rk_mid_init(&s->mid, rk_size_of(r) / RK_MID_SAMPLES);
	s->req.data = s;
	if (s->start.oom || s->end.oom) {
		search_free(s);
		return RK_ENOMEM;
	}
	if (uv_queue_work(&n->loop, &s->req, search_run, search_done) != 0) {
		search_free(s);
		return RK_ENOMEM;
	}
	n->split.auto_scanning = true;
	return 0;
}

void rk_autosplit_touch(struct rk_node *n, struct rk_replica *r)
{
	struct rk_split *sp = &n->split;

	if (r->split_watch != 0 || rk_range_reserved(r->range))
		return;
	/* Out of memory: the range is looked at when it is touched again
	 * (its next write or read), as a failed search leaves it. */
	if (rk_grow((void **)&sp->watch, &sp->cap_watch, sp->n_watch, sizeof(*sp->watch)) != 0)
		return;
	sp->watch[sp->n_watch++] = r->range;
	r->split_watch = (uint32_t)sp->n_watch;
}

bool rk_autosplit_rate_settled(const struct rk_rate *r, uint64_t now_ms)
{
	/* rk_rate_get reads the average of the seconds before r->sec, and
	 * from the next second on the current second's count folded in and
	 * decaying: the reading may rise once, at r->sec + 1, then only
	 * falls until the next rk_rate_add. */
	return now_ms / 1000 > r->sec;
}

/* Every range of the table into the watch list (at the first tick, and
 * when the limits change). */
static void watch_seed(struct rk_node *n, uint64_t split_size, uint64_t split_qps)
{
	size_t un = rk_table_user_n(&n->tab);

	for (size_t i = 0; i < un; i++)
		rk_autosplit_touch(n, n->tab.byid[i]);
	n->split.watch_seeded = true;
	n->split.watch_size = split_size;
	n->split.watch_qps = split_qps;
}

void rk_autosplit_tick(struct rk_node *n)
{
	struct rk_split *sp = &n->split;
	uint64_t now = uv_now(&n->loop);
	struct rk_replica *best = NULL;
	uint64_t split_size = n->cfg.settings.v[RK_SET_SPLIT_SIZE];
	uint64_t split_qps = n->cfg.settings.v[RK_SET_SPLIT_QPS];
	double best_x = 0;
	size_t k = 0;

	if ((split_size == 0 && split_qps == 0) || n->stopping)
		return;
	if (!sp->watch_seeded || sp->watch_size != split_size || sp->watch_qps != split_qps)
		watch_seed(n, split_size, split_qps);
	if (sp->auto_scanning || now - sp->auto_last_ms < RK_AUTOSPLIT_GAP_MS ||
	    rk_split_auto_pending(n))
		return;
	/* The watched ranges only: O(ranges written, read or measured
	 * lately, and those above a limit), at most five times a second. */
	sp->auto_last_ms = now;
	for (size_t i = 0; i < sp->n_watch; i++) {
		struct rk_replica *r = rk_table_get(&n->tab, sp->watch[i]);
		double qps, x;
		bool rising;

		if (r == NULL || r->split_watch != i + 1)
			continue; /* gone, or a newer replica of the range */
		qps = split_qps == 0 ? 0 :
			rk_rate_get(&r->load.writes, now) + rk_rate_get(&r->load.reads, now);
		x = rk_autosplit_excess(rk_autosplit_size(r), qps, split_size, split_qps);
		rising = split_qps != 0 && (!rk_autosplit_rate_settled(&r->load.writes, now) ||
					    !rk_autosplit_rate_settled(&r->load.reads, now));
		if (x == 0 && !rising) {
			r->split_watch = 0; /* nothing moves it up but a touch */
			continue;
		}
		sp->watch[k++] = r->range;
		r->split_watch = (uint32_t)k;
		/* The largest excess, the lowest range id among equals: the
		 * range a walk of the whole table in id order would pick. */
		if (x > 0 && rk_raft_is_leader(&r->raft) &&
		    (best == NULL || x > best_x || (x == best_x && r->range < best->range)) && eligible(n, r)) {
			best_x = x;
			best = r;
		}
	}
	sp->n_watch = k;
	if (best != NULL && search_start(n, best) != 0)
		rk_log_warn(MOD, "range %llu: out of memory starting an automatic split",
			    (unsigned long long)best->range);
}

void rk_autosplit_metrics(struct rk_node *n, struct rk_buf *b)
{
	rk_prom_family(b, "rangekv_splits_total", "counter",
		       "Range splits this node's leaders proposed that applied, by how they began.");
	rk_prom_u64(b, "rangekv_splits_total", "how=\"call\"",
		    n->split.done - n->split.auto_done);
	rk_prom_u64(b, "rangekv_splits_total", "how=\"auto\"", n->split.auto_done);
	rk_prom_family(b, "rangekv_splits_failed_total", "counter",
		       "Range splits this node's leaders began that were refused or whose outcome is unknown.");
	rk_prom_u64(b, "rangekv_splits_failed_total", "how=\"call\"",
		    n->split.refused - n->split.auto_refused);
	rk_prom_u64(b, "rangekv_splits_failed_total", "how=\"auto\"", n->split.auto_refused);
	rk_prom_one_hist(b, "rangekv_split_seconds",
			 "Range split, the new range id's allocation to applied on the leader.",
			 &n->split.seconds);
	rk_prom_one_hist(b, "rangekv_split_right_leader_seconds",
			 "A right half this node campaigns for: its split's apply here until a "
			 "leader of it is known here (its keys' writes wait that long).",
			 &n->split.led);
	rk_prom_one_hist(b, "rangekv_split_right_serve_seconds",
			 "A right half this node campaigned for at once: its split's apply here "
			 "until it applied here an entry past the split (its first leader's: its "
			 "keys take writes again from then).",
			 &n->split.serve);
	rk_prom_one_u64(b, "rangekv_split_early_votes_total", "counter",
			"Vote requests kept for a range with no replica here (the right half "
			"of a split not applied here yet).",
			n->split.early_kept);
	rk_prom_one_u64(b, "rangekv_split_early_votes_taken_total", "counter",
			"Kept vote requests a right half took as its split applied here.",
			n->split.early_used);
}
