/*
 * The index sweep (resync.h).
 */
#include <stddef.h>
#include <string.h>

#include "desc.h"
#include "log.h"
#include "node_int.h"
#include "pindex.h"
#include "plc.h"
#include "rcache.h"
#include "replica.h"
#include "resync.h"
#include "table.h"

#define MOD "resync"

/* Whether this node's replica r has a descriptor the index should hold:
 * a user range's, with replicas, on no way out of the node. */
static bool reportable(const struct rk_replica *r)
{
	return !rk_range_reserved(r->range) && r->desc.n_reps > 0 && !r->desc.v1 &&
	       !r->leaving && !r->removing && !r->destroying && r->merged_into == 0;
}

/* Reports r's descriptor; false when the queue is full. */
static bool report(struct rk_node *n, const struct rk_replica *r, const char *why)
{
	if (rk_node_pl_report(n, &r->desc, 1) == RK_EBUSY)
		return false;
	n->resync.reported++;
	rk_log_info(MOD, "range %llu: reported generation %llu, configuration %llu: the "
		    "placement index has %s", (unsigned long long)r->range,
		    (unsigned long long)r->desc.generation,
		    (unsigned long long)r->desc.conf_version, why);
	return true;
}

/* d, an indexed range this node holds no live replica of: when one of its
 * replicas holds d's span at a higher generation, d was merged into it
 * (a span grows by merges only, and a range split off later would be at
 * a higher generation than the replica that still holds its span), and
 * the merge's reports were lost: the right's end is reported (rk_desc_gone).
 * false when the queue is full. */
static bool report_merged(struct rk_node *n, const struct rk_desc *d)
{
	const struct rk_rcache_entry *e = rk_rcache_find(&n->rcache, d->start, d->slen);
	const struct rk_replica *l = e != NULL ? rk_table_get(&n->tab, e->range) : NULL;
	struct rk_desc gone;
	int rc;

	if (l == NULL || l->range == d->range_id || !reportable(l) ||
	    l->desc.generation <= d->generation || !rk_desc_span_holds(&l->desc, d))
		return true;
	memset(&gone, 0, sizeof(gone));
	if (rk_desc_gone(&gone, d, l->desc.generation) != 0)
		return true; /* out of memory: the next sweep */
	rc = rk_node_pl_report(n, &gone, 1);
	rk_desc_free(&gone);
	if (rc == RK_EBUSY)
		return false;
	n->resync.reported++;
	rk_log_info(MOD, "range %llu: reported merged into range %llu (generation %llu): the "
		    "placement index still lists it", (unsigned long long)d->range_id,
		    (unsigned long long)l->range, (unsigned long long)l->desc.generation);
	return true;
}

/* Compares the page with the node's replicas of the ranges above
 * s->after up to the page's last one (all of them on the last page), in
 * id order both, and reports what the index lacks. false: the report
 * queue is full (the sweep stops; the next one sees the rest). */
static bool compare_page(struct rk_node *n, const struct rk_pl_page *pg)
{
	size_t user_n = rk_table_user_n(&n->tab);
	size_t i = rk_table_first_above(&n->tab, user_n, n->resync.after), j = 0;

	for (;;) {
		struct rk_replica *r = NULL;
		const struct rk_desc *d = j < pg->n ? &pg->descs[j] : NULL;

		if (i < user_n && (pg->next == 0 || n->tab.byid[i]->range <= pg->next))
			r = n->tab.byid[i];
		if (r == NULL && d == NULL)
			return true;
		if (d == NULL || (r != NULL && r->range < d->range_id)) {
			i++; /* a range the index lacks */
			if (reportable(r) && !report(n, r, "none"))
				return false;
		} else if (r == NULL || d->range_id < r->range) {
			j++; /* a range held elsewhere, or merged away */
			if (!report_merged(n, d))
				return false;
		} else {
			i++;
			j++;
			if (!reportable(r)) {
				if (!report_merged(n, d))
					return false;
			} else if (rk_desc_newer(&r->desc, d) && !report(n, r, "an older one")) {
				return false;
			}
		}
	}
}

static void on_page(void *arg, int rc, struct rk_pl_page *pg)
{
	struct rk_node *n = arg;
	struct rk_resync *s = &n->resync;
	uint64_t now = uv_now(&n->loop), t0 = uv_hrtime();
	bool ok;

	s->asked = false;
	if (rc == RK_ESTOPPED || n->stopping) {
		s->running = false;
		return;
	}
	ok = rc == 0 && compare_page(n, pg);
	s->busy_ns += uv_hrtime() - t0;
	if (!ok) {
		/* No group at all (a data directory from before it): nothing
		 * to sweep against until the next start. */
		s->running = false;
		s->due_ms = rc == RK_ESTATE ? UINT64_MAX : now + RK_RESYNC_RETRY_MS;
		return;
	}
	s->pages++;
	s->read += pg->n;
	if (pg->next != 0) {
		s->after = pg->next; /* asked for at the next tick */
		return;
	}
	s->running = false;
	s->sweeps++;
	s->due_ms = now + RK_RESYNC_MS;
	rk_log_info(MOD, "swept %zu replicas against %llu descriptors of the placement index "
		    "(%llu pages) in %llu ms, %llu us of it comparing; %llu reported",
		    rk_table_user_n(&n->tab), (unsigned long long)s->read,
		    (unsigned long long)s->pages, (unsigned long long)(now - s->began_ms),
		    (unsigned long long)(s->busy_ns / 1000),
		    (unsigned long long)(s->reported - s->reported_at_start));
}

void rk_resync_tick(struct rk_node *n)
{
	struct rk_resync *s = &n->resync;
	uint64_t now = uv_now(&n->loop);

	if (s->due_ms == 0)
		s->due_ms = now + RK_RESYNC_FIRST_MS;
	if (s->asked || n->stopping)
		return;
	if (!s->running) {
		if (now < s->due_ms)
			return;
		s->running = true;
		s->after = 0;
		s->began_ms = now;
		s->pages = s->read = s->busy_ns = 0;
		s->reported_at_start = s->reported;
	}
	if (rk_pix_read(n, s->after, RK_RESYNC_PAGE, on_page, n) == 0) {
		s->asked = true;
	} else {
		s->running = false;
		s->due_ms = now + RK_RESYNC_RETRY_MS;
	}
}
