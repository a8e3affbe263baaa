/*
 * The node's own totals (own.h).
 */
#include <math.h>
#include <string.h>

#include "log.h"
#include "node_int.h"
#include "plc.h"
#include "own.h"
#include "prom.h"
#include "size.h"

#define MOD "node"

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

void rk_own_role(struct rk_node *n, struct rk_replica *r)
{
	bool leads = rk_raft_is_leader(&r->raft);

	if (!r->own_in || leads == r->own_leader)
		return;
	/* Reads count for the leader only: its reads rate joins the sum
	 * while it leads, with what it counted before (load.h). */
	if (leads)
		n->own.leaders++;
	else
		n->own.leaders--;
	rk_rate_sum_join(&n->own.reads, &r->load.reads, leads ? 1 : -1);
	r->own_leader = leads;
}

void rk_own_enter(struct rk_node *n, struct rk_replica *r)
{
	if (r->own_in || rk_range_reserved(r->range))
		return;
	r->own_in = true;
	r->own_leader = false;
	r->own_bytes = rk_size_of(r);
	n->own.replicas++;
	n->own.bytes += r->own_bytes;
	rk_rate_sum_join(&n->own.writes, &r->load.writes, 1);
	rk_own_role(n, r);
}

void rk_own_leave(struct rk_node *n, struct rk_replica *r)
{
	if (!r->own_in)
		return;
	if (r->own_leader) {
		n->own.leaders--;
		rk_rate_sum_join(&n->own.reads, &r->load.reads, -1);
	}
	rk_rate_sum_join(&n->own.writes, &r->load.writes, -1);
	n->own.bytes -= r->own_bytes;
	n->own.replicas--;
	r->own_in = r->own_leader = false;
	r->own_bytes = 0;
}

void rk_own_size(struct rk_node *n, struct rk_replica *r)
{
	uint64_t v;

	if (!r->own_in)
		return;
	v = rk_size_of(r);
	n->own.bytes = n->own.bytes - r->own_bytes + v; /* never below v */
	r->own_bytes = v;
}

void rk_own_writes(struct rk_node *n, struct rk_replica *r, uint32_t k)
{
	uint64_t now = now_ms(n);

	rk_rate_add(&r->load.writes, now, k);
	if (r->own_in)
		rk_rate_sum_add(&n->own.writes, now, k);
}

void rk_own_read(struct rk_node *n, struct rk_replica *r)
{
	uint64_t now = now_ms(n);

	rk_rate_add(&r->load.reads, now, 1);
	if (r->own_leader)
		rk_rate_sum_add(&n->own.reads, now, 1);
}

void rk_own_rates_reset(struct rk_node *n, struct rk_replica *r)
{
	if (r->own_in)
		rk_rate_sum_join(&n->own.writes, &r->load.writes, -1);
	if (r->own_leader)
		rk_rate_sum_join(&n->own.reads, &r->load.reads, -1);
	memset(&r->load.writes, 0, sizeof(r->load.writes));
	memset(&r->load.reads, 0, sizeof(r->load.reads));
}

/* ---- the check ----------------------------------------------------------------- */

/* What the heartbeat summed before the totals were kept: every user
 * replica's size and writes, the led ones' reads. */
static void walk(struct rk_node *n, struct rk_own_totals *tp)
{
	uint64_t now = now_ms(n);
	size_t users = rk_table_user_n(&n->tab);

	memset(tp, 0, sizeof(*tp));
	tp->replicas = users;
	for (size_t i = 0; i < users; i++) {
		struct rk_replica *x = n->tab.byid[i];
		tp->bytes += rk_size_of(x);
		tp->writes_ps += rk_rate_get(&x->load.writes, now);
		if (rk_raft_is_leader(&x->raft)) {
			tp->leaders++;
			tp->reads_ps += rk_rate_get(&x->load.reads, now);
		}
	}
}

/* Rates agree to a float's rounding of each member's average (load.h),
 * far inside a millionth. */
static bool rate_close(double a, double b)
{
	return fabs(a - b) <= 1e-6 * fmax(a, b) + 1e-6;
}

static void check(struct rk_node *n, struct rk_own_totals *tp)
{
	struct rk_own_totals w;
	struct rk_own kept;

	walk(n, &w);
	n->own.checks++;
	n->own.checked_ms = now_ms(n);
	kept = n->own;
	if (w.replicas == tp->replicas && w.leaders == tp->leaders && w.bytes == tp->bytes &&
	    rate_close(w.writes_ps, tp->writes_ps) && rate_close(w.reads_ps, tp->reads_ps))
		return;
	rk_log_warn(MOD, "the node's totals as kept (%llu replicas, %llu leaders, %llu bytes, "
		    "%.3f writes/s, %.3f reads/s) differ from a pass over its replicas (%llu, "
		    "%llu, %llu, %.3f, %.3f): taking the pass's; a change of a replica does not "
		    "reach them", (unsigned long long)tp->replicas,
		    (unsigned long long)tp->leaders, (unsigned long long)tp->bytes, tp->writes_ps,
		    tp->reads_ps, (unsigned long long)w.replicas, (unsigned long long)w.leaders,
		    (unsigned long long)w.bytes, w.writes_ps, w.reads_ps);
	/* Built again from nothing, as the replicas are now. */
	memset(&n->own, 0, sizeof(n->own));
	n->own.checks = kept.checks;
	n->own.mismatches = kept.mismatches + 1;
	n->own.checked_ms = kept.checked_ms;
	for (size_t i = 0; i < n->tab.n; i++) {
		n->tab.byid[i]->own_in = n->tab.byid[i]->own_leader = false;
		n->tab.byid[i]->own_bytes = 0;
	}
	for (size_t i = 0; i < w.replicas; i++)
		rk_own_enter(n, n->tab.byid[i]);
	*tp = w;
}

void rk_own_get(struct rk_node *n, struct rk_own_totals *tp)
{
	uint64_t now = now_ms(n);
	bool due = now - n->own.checked_ms >= RK_OWN_CHECK_MS;

	for (size_t i = 0; i < n->tab.n_awake; i++) {
		rk_own_role(n, n->tab.awake[i]);
		rk_plc_report_owed(n, n->tab.awake[i]);
	}
	tp->replicas = n->own.replicas;
	tp->leaders = n->own.leaders;
	tp->bytes = n->own.bytes;
	tp->writes_ps = rk_rate_sum_get(&n->own.writes, now);
	tp->reads_ps = rk_rate_sum_get(&n->own.reads, now);
#ifdef RK_TEST_HOOKS
	due |= n->hooks.enabled;
#endif
	if (due)
		check(n, tp);
}

void rk_own_metrics(struct rk_node *n, struct rk_buf *b)
{
	rk_prom_one_u64(b, "rangekv_node_totals_checks_total", "counter",
			"Passes over every replica that checked the node's kept totals "
			"(its heartbeat's figures).",
			n->own.checks);
	rk_prom_one_u64(b, "rangekv_node_totals_mismatches_total", "counter",
			"Checks that found the kept totals off, and mended them (a bug: the "
			"log says which figure).",
			n->own.mismatches);
}
