/*
 * Free space on the data disk (space.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "log.h"
#include "node_int.h"
#include "space.h"

#define MOD "node"
/* Readings once a second, every 100 ms within twice the floor: what a node
 * writes between two readings must fit in the floor, and a fast writer
 * near it should not get a whole second. */
#define SPACE_TICK_MS 100
#define SPACE_TICKS_FAR 10

/* Sizes in log lines and replies: "12.3 MiB". */
static void human(uint64_t v, char *out, size_t n)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	size_t i = 0;

	while (d >= 1024.0 && i + 1 < sizeof(u) / sizeof(u[0])) {
		d /= 1024.0;
		i++;
	}
	if (i == 0)
		snprintf(out, n, "%" PRIu64 " B", v);
	else
		snprintf(out, n, "%.1f %s", d, u[i]);
}

/* The floor: the flag's, else 256 MiB or 5% of the filesystem, whichever
 * is smaller (a small test filesystem keeps most of itself usable). */
static uint64_t floor_of(const struct rk_node *n, uint64_t total)
{
	uint64_t pct = total / 100 * RK_DEFAULT_MIN_FREE_PCT;

	if (n->cfg.min_free_space_set)
		return n->cfg.min_free_space;
	return pct < RK_DEFAULT_MIN_FREE_SPACE ? pct : RK_DEFAULT_MIN_FREE_SPACE;
}

void rk_space_check(struct rk_node *n)
{
	struct rk_space *sp = &n->space;
	struct statvfs st;
	uint64_t free_b, total;
	char f[32], m[32], p[32];
	bool out;

	if (statvfs(n->cfg.data_dir, &st) != 0) {
		if (sp->known)
			rk_log_warn(MOD, "cannot read the free space of %s: %s; keeping the last reading",
				    n->cfg.data_dir, strerror(errno));
		sp->known = false;
		return;
	}
	free_b = (uint64_t)st.f_bavail * st.f_frsize;
	total = (uint64_t)st.f_blocks * st.f_frsize;
#ifdef RK_TEST_HOOKS
	if (n->hooks.disk_free_set)
		free_b = n->hooks.disk_free;
#endif
	sp->known = true;
	sp->free_bytes = free_b;
	sp->total_bytes = total;
	sp->pending_bytes = n->store != NULL ? rk_store_pending_bytes(n->store) : 0;
	sp->min_free = floor_of(n, total);
	out = sp->min_free > 0 &&
	      (free_b < sp->pending_bytes || free_b - sp->pending_bytes < sp->min_free);
	if (out == sp->no_space)
		return;
	sp->no_space = out;
	human(free_b, f, sizeof(f));
	human(sp->min_free, m, sizeof(m));
	human(sp->pending_bytes, p, sizeof(p));
	if (out) {
		sp->episodes++;
		rk_log_warn(MOD, "no space: %s free on the data disk of %s (%s of it held for the "
			    "store's pending writes), below --min-free-space %s; client writes are "
			    "refused (reads and DEL are served) until space is freed",
			    f, n->cfg.data_dir, p, m);
	} else {
		rk_log_info(MOD, "space is back: %s free on the data disk (--min-free-space %s); "
			    "client writes are taken again", f, m);
	}
}

/* The reading's period: SPACE_TICK_MS near the floor (or before a first
 * reading), ten times that otherwise. The timer is armed for the next
 * reading each time (on the wall clock's multiples, rk_node_aligned), not
 * woken every 100 ms to count: an idle node's CPU is mostly its loop's
 * wakeups (docs/benchmarks.md, "Idle at 100,000 ranges"). */
static uint64_t period(const struct rk_space *sp)
{
	bool near = !sp->known || sp->free_bytes / 2 < sp->min_free;

	return near ? SPACE_TICK_MS : SPACE_TICK_MS * SPACE_TICKS_FAR;
}

static void on_timer(uv_timer_t *t)
{
	struct rk_node *n = t->data;
	uint64_t p;

	rk_space_check(n);
	p = period(&n->space);
	uv_timer_start(t, on_timer, rk_node_aligned(n, p), 0);
}

void rk_space_start(struct rk_node *n)
{
	struct rk_space *sp = &n->space;

	uv_timer_init(&n->loop, &sp->timer);
	sp->timer.data = n;
	sp->started = true;
	rk_space_check(n);
	uv_timer_start(&sp->timer, on_timer, rk_node_aligned(n, period(sp)), 0);
}

static void closed_noop(uv_handle_t *h)
{
	(void)h;
}

void rk_space_stop(struct rk_node *n)
{
	struct rk_space *sp = &n->space;

	if (!sp->started)
		return;
	sp->started = false;
	uv_timer_stop(&sp->timer);
	uv_close((uv_handle_t *)&sp->timer, closed_noop);
}

bool rk_space_refuse_write(struct rk_node *n, struct rk_buf *reply)
{
	struct rk_space *sp = &n->space;
	char f[32], m[32], p[32];

	if (!sp->no_space)
		return false;
	sp->refused++;
	human(sp->free_bytes, f, sizeof(f));
	human(sp->min_free, m, sizeof(m));
	human(sp->pending_bytes, p, sizeof(p));
	rk_buf_printf(reply,
		      "-NOSPACE no space left on node %" PRIu64 "'s data disk (free %s, %s of it "
		      "held for pending writes; --min-free-space %s); writes are refused until "
		      "space is freed\r\n",
		      n->cfg.node_id, f, p, m);
	return true;
}
