/*
 * Raft core benchmarks (not tests: nothing here passes or fails on time).
 *
 *   bench_raft throughput [--seconds S] [--batch B] [--payload P]
 *       committed proposals/s through a 3-replica in-process cluster with
 *       in-memory storage, every ready persisted, sent, applied, advanced.
 *   bench_raft idle [--groups N] [--ticks T]
 *       memory of an idle follower group and the CPU to tick N of them,
 *       with and without a leader's heartbeat to answer.
 *
 * Everything runs on one thread (one core).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a lean in-memory log ------------------------------------------------------- */

struct mem_log {
	struct rk_raft_hard_state hs;
	struct rk_raft_conf_state cs;
	uint64_t snap_index, snap_term;
	struct rk_raft_entry *ents; /* ents[i].index == snap_index + 1 + i */
	uint8_t **bufs;
	size_t n, cap;
	uint64_t applied;
};

static uint64_t ml_last(void *c)
{
	struct mem_log *l = c;
	return l->snap_index + l->n;
}

static uint64_t ml_first(void *c)
{
	struct mem_log *l = c;
	return l->snap_index + 1;
}

static int ml_initial(void *c, struct rk_raft_hard_state *hs,
		      struct rk_raft_conf_state *cs)
{
	struct mem_log *l = c;
	*hs = l->hs;
	*cs = l->cs;
	return 0;
}

static int ml_term(void *c, uint64_t i, uint64_t *t)
{
	struct mem_log *l = c;
	*t = 0;
	if (i == l->snap_index) {
		*t = l->snap_term;
		return 0;
	}
	if (i < l->snap_index)
		return RK_ECOMPACTED;
	if (i > ml_last(l))
		return RK_EUNAVAILABLE;
	*t = l->ents[i - l->snap_index - 1].term;
	return 0;
}

static int ml_entries(void *c, uint64_t lo, uint64_t hi, uint64_t max,
		      struct rk_raft_ents *out)
{
	struct mem_log *l = c;
	uint64_t i;
	int rc;

	(void)max;
	if (lo <= l->snap_index)
		return RK_ECOMPACTED;
	for (i = lo; i < hi; i++) {
		rc = rk_raft_ents_push(out, &l->ents[i - l->snap_index - 1]);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

static int ml_snapshot(void *c, struct rk_raft_snapshot_meta *m)
{
	struct mem_log *l = c;
	memset(m, 0, sizeof(*m));
	m->index = l->applied;
	m->conf = l->cs;
	return ml_term(c, l->applied, &m->term);
}

static const struct rk_raft_storage_ops ml_ops = {
	ml_initial, ml_term, ml_entries, ml_first, ml_last, ml_snapshot,
};

static void ml_boot(struct mem_log *l, int voters)
{
	int i;

	memset(l, 0, sizeof(*l));
	for (i = 1; i <= voters; i++) {
		l->cs.ids[l->cs.n] = (uint64_t)i;
		l->cs.flags[l->cs.n++] = RK_RAFT_VOTER;
	}
	l->snap_index = l->applied = RK_RAFT_INIT_INDEX;
	l->snap_term = l->hs.term = RK_RAFT_INIT_TERM;
	l->hs.commit = RK_RAFT_INIT_INDEX;
}

static void ml_append(struct mem_log *l, const struct rk_raft_entry *e,
		      size_t n)
{
	size_t i;

	if (n == 0)
		return;
	while (l->n > 0 && l->snap_index + l->n >= e[0].index) {
		l->n--;
		free(l->bufs[l->n]);
	}
	if (l->n + n > l->cap) {
		l->cap = (l->n + n) * 2;
		l->ents = realloc(l->ents, l->cap * sizeof(*l->ents));
		l->bufs = realloc(l->bufs, l->cap * sizeof(*l->bufs));
	}
	for (i = 0; i < n; i++) {
		uint8_t *b = NULL;
		if (e[i].len > 0) {
			b = malloc(e[i].len);
			memcpy(b, e[i].data, e[i].len);
		}
		l->bufs[l->n] = b;
		l->ents[l->n] = e[i];
		l->ents[l->n].data = b;
		l->n++;
	}
}

/* Drops applied entries, keeping the log short like a real node would. */
static void ml_compact(struct mem_log *l)
{
	size_t k, i;

	if (l->applied <= l->snap_index + 4096)
		return;
	k = l->applied - l->snap_index;
	if (k > l->n)
		k = l->n;
	l->snap_term = l->ents[k - 1].term;
	for (i = 0; i < k; i++)
		free(l->bufs[i]);
	memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
	memmove(l->bufs, l->bufs + k, (l->n - k) * sizeof(*l->bufs));
	l->n -= k;
	l->snap_index += k;
}

/* ---- throughput -------------------------------------------------------------------- */

struct node {
	struct rk_raft r;
	struct mem_log log;
	uint64_t applied_count;
};

static struct node nodes[4];

static void deliver(const struct rk_raft_msg *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		(void)rk_raft_step(&nodes[m[i].to].r, &m[i]);
}

/* One ready cycle for one node: persist, send, apply, advance. Messages
 * are stepped straight into their destination (the batch stays valid until
 * advance, and the destination copies what it keeps). */
static int cycle(struct node *nd)
{
	struct rk_raft_ready rd;
	size_t i;

	if (!rk_raft_has_ready(&nd->r))
		return 0;
	if (rk_raft_ready(&nd->r, &rd) != 0)
		abort();
	deliver(rd.msgs, rd.n_msgs);
	ml_append(&nd->log, rd.entries, rd.n_entries);
	if (rd.has_hard_state)
		nd->log.hs = rd.hs;
	deliver(rd.msgs_after_persist, rd.n_msgs_after_persist);
	for (i = 0; i < rd.n_committed; i++)
		nd->applied_count++;
	if (rd.n_committed > 0)
		nd->log.applied = rd.committed[rd.n_committed - 1].index;
	rk_raft_advance(&nd->r, &rd);
	ml_compact(&nd->log);
	return 1;
}

static int bench_throughput(double seconds, int batch, int payload)
{
	struct rk_raft_options o;
	uint8_t *data = calloc(1, (size_t)payload + 1);
	uint64_t proposed = 0, base;
	double t0, t1;
	int i, moved, rc;

	rk_raft_options_default(&o);
	o.storage = &ml_ops;
	o.max_inflight_msgs = 1024;
	o.max_uncommitted_bytes = 0;
	o.max_mem_bytes = 0;
	for (i = 1; i <= 3; i++) {
		ml_boot(&nodes[i].log, 3);
		if (rk_raft_init(&nodes[i].r, &o, &nodes[i].log, (uint64_t)i,
				 RK_RAFT_INIT_INDEX, (uint64_t)i) != 0)
			return 1;
	}
	(void)rk_raft_leader_lost(&nodes[1].r);
	(void)rk_raft_leader_lost(&nodes[2].r);
	(void)rk_raft_leader_lost(&nodes[3].r);
	(void)rk_raft_campaign(&nodes[1].r);
	do {
		moved = 0;
		for (i = 1; i <= 3; i++)
			moved |= cycle(&nodes[i]);
	} while (moved);
	if (nodes[1].r.role != RK_RAFT_LEADER) {
		fprintf(stderr, "no leader\n");
		return 1;
	}
	base = nodes[1].applied_count;
	t0 = now_s();
	t1 = t0;
	while (t1 - t0 < seconds) {
		for (i = 0; i < batch; i++) {
			memcpy(data, &proposed, sizeof(proposed) < (size_t)payload ?
							sizeof(proposed) : (size_t)payload);
			rc = rk_raft_propose(&nodes[1].r, data, (uint32_t)payload, NULL);
			if (rc != 0)
				break;
			proposed++;
		}
		do {
			moved = 0;
			for (i = 1; i <= 3; i++)
				moved |= cycle(&nodes[i]);
		} while (moved);
		t1 = now_s();
	}
	printf("throughput: 3 replicas, payload %d B, batch %d: %.0f committed+applied proposals/s "
	       "(%llu in %.2f s; followers applied %llu / %llu)\n",
	       payload, batch,
	       (double)(nodes[1].applied_count - base) / (t1 - t0),
	       (unsigned long long)(nodes[1].applied_count - base), t1 - t0,
	       (unsigned long long)nodes[2].applied_count,
	       (unsigned long long)nodes[3].applied_count);
	for (i = 1; i <= 3; i++)
		rk_raft_close(&nodes[i].r);
	free(data);
	return 0;
}

/* ---- idle groups -------------------------------------------------------------------- */

static int bench_idle(int groups, int ticks)
{
	struct rk_raft_options o;
	struct rk_raft *g = calloc((size_t)groups, sizeof(*g));
	struct mem_log shared;
	struct rk_raft_msg hb;
	uint64_t heap = 0, msgs = 0;
	double t0, t_tick, t_hb;
	int i, t;

	rk_raft_options_default(&o);
	o.storage = &ml_ops;
	/* Idle followers: a live leader (heartbeats) keeps them from
	 * campaigning; for the tick-only figure, a long election timeout
	 * plays that role. */
	o.election_tick = 1000000;
	ml_boot(&shared, 3);
	for (i = 0; i < groups; i++)
		if (rk_raft_init(&g[i], &o, &shared, 2, RK_RAFT_INIT_INDEX,
				 (uint64_t)i) != 0)
			return 1;
	t0 = now_s();
	for (t = 0; t < ticks; t++)
		for (i = 0; i < groups; i++)
			rk_raft_tick(&g[i]);
	t_tick = now_s() - t0;

	/* Each tick, every group receives its leader's heartbeat and its
	 * answer goes through ready/advance: the cost without quiescence. */
	memset(&hb, 0, sizeof(hb));
	hb.type = RK_RAFT_MSG_HEARTBEAT;
	hb.from = 1;
	hb.to = 2;
	hb.term = RK_RAFT_INIT_TERM;
	hb.commit = RK_RAFT_INIT_INDEX;
	t0 = now_s();
	for (t = 0; t < ticks; t++) {
		for (i = 0; i < groups; i++) {
			struct rk_raft_ready rd;
			rk_raft_tick(&g[i]);
			hb.context = (uint64_t)t + 1;
			(void)rk_raft_step(&g[i], &hb);
			if (rk_raft_has_ready(&g[i])) {
				(void)rk_raft_ready(&g[i], &rd);
				msgs += rd.n_msgs + rd.n_msgs_after_persist;
				rk_raft_advance(&g[i], &rd);
			}
		}
	}
	t_hb = now_s() - t0;
	for (i = 0; i < groups; i++)
		heap += g[i].mem_bytes;
	printf("idle: %d follower groups: struct %zu B + heap %.1f B per group\n",
	       groups, sizeof(struct rk_raft), (double)heap / groups);
	printf("idle: tick only: %.1f ns per group-tick (%d ticks of %d groups in %.3f s)\n",
	       t_tick * 1e9 / ((double)groups * ticks), ticks, groups, t_tick);
	printf("idle: tick + heartbeat + ready/advance: %.1f ns per group-tick (%llu responses)\n",
	       t_hb * 1e9 / ((double)groups * ticks), (unsigned long long)msgs);
	for (i = 0; i < groups; i++)
		rk_raft_close(&g[i]);
	free(g);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_raft throughput [--seconds S] [--batch B] [--payload P]\n"
		"       bench_raft idle [--groups N] [--ticks T]\n");
}

int main(int argc, char **argv)
{
	double seconds = 3;
	int batch = 1024, payload = 16, groups = 100000, ticks = 20, i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage();
		return argc < 2 ? 2 : 0;
	}
	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--batch") == 0)
			batch = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--payload") == 0)
			payload = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--groups") == 0)
			groups = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--ticks") == 0)
			ticks = atoi(argv[i + 1]);
		else {
			usage();
			return 2;
		}
	}
	if (strcmp(argv[1], "throughput") == 0)
		return bench_throughput(seconds, batch, payload);
	if (strcmp(argv[1], "idle") == 0)
		return bench_idle(groups, ticks);
	usage();
	return 2;
}
