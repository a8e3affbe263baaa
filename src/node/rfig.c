/*
 * Per-range figures in the heartbeats (rfig.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "load.h"
#include "node_int.h"
#include "prom.h"
#include "rfig.h"
#include "size.h"

#define MOD "placement"

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

/* ---- the sender ---------------------------------------------------------------- */

static uint32_t rate_u32(double v)
{
	return v <= 0 ? 0 : v >= 4e9 ? UINT32_MAX : (uint32_t)(v + 0.5);
}

/* x's figures now, if this node leads its range (the reporter). */
static bool led_fig(struct rk_replica *x, uint64_t now, struct rk_pl_fig *f)
{
	if (!rk_raft_is_leader(&x->raft) || x->removing || x->installing || x->desc.n_reps == 0) {
		/* Not the reporter: reported again when it leads again (the
		 * figures another leader reported meanwhile are not known
		 * here). */
		x->fig_epoch = 0;
		return false;
	}
	/* A size not measured yet (a replica just installed from a
	 * snapshot, a restart) would read 0: the leader keeps the range's
	 * last figures until this one knows better. Reporting 0 made a
	 * range that just moved look empty, and the moves by bytes chased
	 * it from node to node. */
	if (!x->load.size_known)
		return false;
	f->range = x->range;
	f->size_bytes = rk_size_of(x);
	f->writes_ps = rate_u32(rk_rate_get(&x->load.writes, now));
	f->reads_ps = rate_u32(rk_rate_get(&x->load.reads, now));
	return true;
}

static void mark_sent(struct rk_replica *x, const struct rk_pl_fig *f, uint32_t epoch)
{
	x->fig_size = f->size_bytes;
	x->fig_writes = f->writes_ps;
	x->fig_reads = f->reads_ps;
	x->fig_epoch = epoch;
}

static bool moved_since_sent(const struct rk_replica *x, const struct rk_pl_fig *f,
			     uint32_t epoch)
{
	struct rk_pl_fig was = {x->range, x->fig_size, x->fig_writes, x->fig_reads};

	return x->fig_epoch != epoch || rk_pl_fig_moved(f, &was);
}

void rk_rfig_touch(struct rk_node *n, struct rk_replica *r)
{
	struct rk_rfig *rf = &n->rfig;

	if (r->fig_watched || rk_range_reserved(r->range))
		return;
	/* Out of memory: looked at again when touched again (or awake). */
	if (rk_grow((void **)&rf->watch, &rf->cap_watch, rf->n_watch, sizeof(*rf->watch)) != 0)
		return;
	rf->watch[rf->n_watch++] = r->range;
	r->fig_watched = true;
}

/* A rate whose reading is 0 (under a half: rate_u32) now and later until
 * its next event (load.c: with no count in the current second, the
 * reading is at most avg). */
static bool rate_dead(const struct rk_rate *r)
{
	return r->cur == 0 && r->avg < 0.5f;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The ranges whose figures may have moved, in id order without repeats:
 * the watch list's and the awake user replicas'. The list is emptied:
 * the caller puts back those to keep. NULL with *np 0: none (or out of
 * memory: the list is kept as it was, looked at by the next beat). */
static uint64_t *candidates(struct rk_node *n, size_t *np)
{
	struct rk_rfig *rf = &n->rfig;
	size_t k = 0, cap = rf->n_watch + n->tab.n_awake;
	uint64_t *v;

	*np = 0;
	if (cap == 0 || (v = malloc(cap * sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < rf->n_watch; i++) {
		struct rk_replica *x = rk_table_get(&n->tab, rf->watch[i]);
		if (x != NULL && x->fig_watched) {
			x->fig_watched = false;
			v[k++] = x->range;
		}
	}
	rf->n_watch = 0;
	for (size_t i = 0; i < n->tab.n_awake; i++)
		if (!rk_range_reserved(n->tab.awake[i]->range))
			v[k++] = n->tab.awake[i]->range;
	qsort(v, k, sizeof(*v), cmp_u64);
	*np = 0;
	for (size_t i = 0; i < k; i++)
		if (*np == 0 || v[*np - 1] != v[i])
			v[(*np)++] = v[i];
	return v;
}

/* The moved figures among the candidates into out, in id order from the
 * cursor to the end, then from the start (a section's ranges increase:
 * one wrap at most, and the wrapped part goes with the next beat): the
 * ranges a walk of every replica in id order would report, as any range
 * whose figures moved is a candidate. */
static uint32_t collect_moved(struct rk_node *n, struct rk_pl_fig *out, uint64_t now)
{
	struct rk_rfig *rf = &n->rfig;
	size_t users = rk_table_user_n(&n->tab), nc, start = 0, i;
	uint64_t *c = candidates(n, &nc);
	uint32_t k = 0;

	/* The walk began after the cursor if any range is there. */
	if (rk_table_first_above(&n->tab, users, rf->moved_after) < users)
		while (start < nc && c[start] <= rf->moved_after)
			start++;
	rf->moved_after = 0;
	for (i = 0; i < nc; i++) {
		struct rk_replica *x = rk_table_get(&n->tab, c[i]);
		struct rk_pl_fig f;
		bool led, keep = true; /* not looked at this beat: kept */

		if (x == NULL)
			continue;
		if (i >= start && k < RK_PL_FIGS_MAX) {
			led = led_fig(x, now, &f);
			if (led && moved_since_sent(x, &f, rf->epoch)) {
				mark_sent(x, &f, rf->epoch);
				out[k++] = f;
				if (k == RK_PL_FIGS_MAX)
					rf->moved_after = x->range;
			}
			keep = led && (moved_since_sent(x, &f, rf->epoch) ||
				       !rate_dead(&x->load.writes) || !rate_dead(&x->load.reads));
		}
		if (keep)
			rk_rfig_touch(n, x);
	}
	free(c);
	return k;
}

/* This beat's figures into out[0..RK_PL_FIGS_MAX): a chunk of the full
 * report under way (from where the last chunk stopped: a binary search,
 * then the chunk's ranges), else the moved ones (collect_moved). */
static uint32_t collect(struct rk_node *n, struct rk_pl_fig *out, uint8_t *flagsp,
			uint64_t *afterp)
{
	struct rk_rfig *rf = &n->rfig;
	size_t users = rk_table_user_n(&n->tab);
	uint64_t now = now_ms(n);
	uint32_t k = 0;

	*flagsp = 0;
	*afterp = 0;
	if (!rf->sweeping && (rf->want == RK_RFIG_ALL || rf->full_ms == 0 ||
			      now - rf->full_ms >= RK_RFIG_FULL_MS)) {
		rf->sweeping = true;
		rf->sweep_after = 0;
	}
	if (rf->sweeping) {
		size_t i;
		*flagsp = RK_PL_FIGS_FULL;
		*afterp = rf->sweep_after;
		i = rk_table_first_above(&n->tab, users, rf->sweep_after);
		for (; i < users && k < RK_PL_FIGS_MAX; i++)
			if (led_fig(n->tab.byid[i], now, &out[k])) {
				mark_sent(n->tab.byid[i], &out[k], rf->epoch);
				k++;
			}
		if (i == users) {
			*flagsp |= RK_PL_FIGS_LAST;
			rf->sweeping = false;
			rf->full_ms = now;
			rf->full_reports++;
		} else {
			rf->sweep_after = out[k - 1].range;
		}
		return k;
	}
	return collect_moved(n, out, now);
}

static struct rk_rfig_node *sender(struct rk_rfig *rf, uint64_t id, bool create);

void rk_rfig_append(struct rk_node *n, struct rk_buf *msg)
{
	struct rk_rfig *rf = &n->rfig;
	struct rk_pl_fig *figs;
	uint8_t flags;
	uint64_t after;
	uint32_t k;

	if (rf->want == RK_RFIG_NONE)
		return; /* a leader that does not ask */
	if ((figs = malloc(RK_PL_FIGS_MAX * sizeof(*figs))) == NULL)
		return;
	k = collect(n, figs, &flags, &after);
	if (msg != NULL && (k > 0 || flags != 0)) {
		size_t at = msg->len;
		if (rk_pl_figs_encode(msg, flags, after, figs, k) != 0)
			msg->len = at;
	} else if (msg == NULL && rk_pl_figtab_put(&rf->tab, n->cfg.node_id, now_ms(n), figs,
						   k) == 0) {
		rf->figs_taken += k;
		/* Its own report is whole as it is made: nothing is lost
		 * on the way. */
		if (flags & RK_PL_FIGS_LAST) {
			struct rk_rfig_node *s = sender(rf, n->cfg.node_id, true);
			if (s != NULL)
				s->complete = true;
		}
	}
	rf->figs_sent += k;
	rf->chunks_sent++;
	free(figs);
}

void rk_rfig_told(struct rk_node *n, uint64_t from, uint8_t want)
{
	struct rk_rfig *rf = &n->rfig;

	if (from != rf->leader) {
		/* Nothing was reported to this leader: every range moved. */
		rf->leader = from;
		rf->epoch++;
		if (rf->epoch == 0)
			rf->epoch = 1; /* 0: never reported */
		rf->sweeping = false;
		rf->full_ms = 0;
	}
	rf->want = want <= RK_RFIG_ALL ? want : RK_RFIG_MOVED;
}

/* ---- the leader ---------------------------------------------------------------- */

static struct rk_rfig_node *sender(struct rk_rfig *rf, uint64_t id, bool create)
{
	for (size_t i = 0; i < rf->n_nodes; i++)
		if (rf->nodes[i].id == id)
			return &rf->nodes[i];
	if (!create || rf->n_nodes == sizeof(rf->nodes) / sizeof(rf->nodes[0]))
		return NULL;
	memset(&rf->nodes[rf->n_nodes], 0, sizeof(rf->nodes[0]));
	rf->nodes[rf->n_nodes].id = id;
	return &rf->nodes[rf->n_nodes++];
}

void rk_rfig_take(struct rk_node *n, uint64_t origin, const uint8_t *p, size_t len)
{
	struct rk_rfig *rf = &n->rfig;
	struct rk_rfig_node *s = sender(rf, origin, true);
	struct rk_pl_figs_msg *m;

	if (len == 0 || s == NULL)
		return;
	if (rf->msg == NULL && (rf->msg = malloc(sizeof(*rf->msg))) == NULL)
		return;
	m = rf->msg;
	if (rk_pl_figs_decode(p, len, m) != 0) {
		rf->figs_refused++;
		s->complete = s->sweep_ok = false; /* a full report again */
		rk_log_warn(MOD, "node %llu: the range figures of its heartbeat are malformed "
			    "(%zu bytes): refused", (unsigned long long)origin, len);
		return;
	}
	if (m->flags & RK_PL_FIGS_FULL) {
		/* A full report counts once its chunks came in order, from
		 * the first to the last: a chunk lost in between leaves
		 * ranges unreported, and the leader asks again. */
		if (m->after == 0)
			s->sweep_ok = true;
		else if (m->after != s->sweep_at)
			s->sweep_ok = false;
		s->sweep_at = m->n > 0 ? m->figs[m->n - 1].range : m->after;
	}
	if (rk_pl_figtab_put(&rf->tab, origin, now_ms(n), m->figs, m->n) != 0) {
		s->complete = s->sweep_ok = false;
		return;
	}
	rf->figs_taken += m->n;
	if ((m->flags & RK_PL_FIGS_LAST) && s->sweep_ok)
		s->complete = true;
}

uint8_t rk_rfig_want_of(struct rk_node *n, uint64_t origin)
{
	struct rk_rfig_node *s = sender(&n->rfig, origin, true);

	return s != NULL && s->complete ? RK_RFIG_MOVED : RK_RFIG_ALL;
}

void rk_rfig_leading(struct rk_node *n, bool leading)
{
	struct rk_rfig *rf = &n->rfig;

	(void)leading;
	rk_pl_figtab_free(&rf->tab);
	rf->tab_epoch++;
	rf->n_nodes = 0;
	rf->expired_ms = now_ms(n);
}

bool rk_rfig_complete(struct rk_node *n, const uint64_t *ids, size_t k)
{
	for (size_t i = 0; i < k; i++) {
		struct rk_rfig_node *s = sender(&n->rfig, ids[i], false);
		if (s == NULL || !s->complete)
			return false;
	}
	return true;
}

const struct rk_pl_figent *rk_rfig_get(struct rk_node *n, uint64_t range)
{
	return n->hb.leading ? rk_pl_figtab_get(&n->rfig.tab, range) : NULL;
}

void rk_rfig_tick(struct rk_node *n)
{
	struct rk_rfig *rf = &n->rfig;
	uint64_t now = now_ms(n);

	/* Once a full period: one pass over the table. */
	if (rf->tab.n == 0 || now - rf->expired_ms < RK_RFIG_FULL_MS)
		return;
	rf->expired_ms = now;
	if (now > RK_RFIG_EXPIRE_MS)
		rk_pl_figtab_expire(&rf->tab, now - RK_RFIG_EXPIRE_MS);
}

void rk_rfig_metrics(struct rk_node *n, struct rk_buf *b)
{
	const struct rk_rfig *rf = &n->rfig;
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} rows[] = {
		{"rangekv_range_figures_sent_total", "counter",
		 "Per-range figures this node's heartbeats carried to the placement leader.",
		 offsetof(struct rk_rfig, figs_sent)},
		{"rangekv_range_figures_full_reports_total", "counter",
		 "Full reports of the ranges this node leads that it completed.",
		 offsetof(struct rk_rfig, full_reports)},
		{"rangekv_range_figures_taken_total", "counter",
		 "Per-range figures this node took in while leading the placement group.",
		 offsetof(struct rk_rfig, figs_taken)},
		{"rangekv_range_figures_refused_total", "counter",
		 "Heartbeat figure sections this node refused as malformed.",
		 offsetof(struct rk_rfig, figs_refused)},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rk_prom_family(b, rows[i].name, rows[i].type, rows[i].help);
		rk_prom_u64(b, rows[i].name, NULL,
			    *(const uint64_t *)((const char *)rf + rows[i].off));
	}
	rk_prom_one_u64(b, "rangekv_range_figures_known", "gauge",
			"Ranges whose figures the placement leader holds (placement leader only).",
			n->hb.leading ? rf->tab.n : 0);
}

void rk_rfig_close(struct rk_node *n)
{
	rk_pl_figtab_free(&n->rfig.tab);
	free(n->rfig.msg);
	free(n->rfig.watch);
	memset(&n->rfig, 0, sizeof(n->rfig));
}
