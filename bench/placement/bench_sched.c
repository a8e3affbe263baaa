/*
 * The placement scheduler's pass at scale (not a test: nothing here passes
 * or fails on time).
 *
 *   bench_sched [--ranges N] [--nodes N] [--slice N] [--max-ops N]
 *
 * A cluster of N ranges (default 100,000) with 3 replicas each on the
 * first nodes - 1 nodes and one empty node just joined (default 10 nodes),
 * sizes 1-48 MiB with one range in a thousand above --split-size, leaders
 * on the first replica. Measured, one thread:
 *   - rk_pl_tally over all ranges (what a new placement leader does once);
 *   - a sweep: passes of --slice ranges (default 1024) from a cursor until
 *     every range was visited, the operations chosen but not applied: the
 *     longest pass is the longest the placement leader's loop would be
 *     held;
 *   - the same sweep over the balanced cluster (nothing to do: the cost of
 *     looking);
 *   - one pass over every range with room for every operation (what an
 *     unsliced scheduler would hold the loop for).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

struct cluster {
	struct rk_pl_config cfg;
	struct rk_pl_state st;
	struct rk_pl_node *nodes;
	struct rk_pl_range *ranges;
	uint8_t (*keys)[8];
};

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Ranges on nodes 1..on (a cluster of n_nodes whose last ones joined
 * empty); on == n_nodes gives the balanced cluster. */
static int cluster_init(struct cluster *c, size_t n_ranges, size_t n_nodes,
			size_t on)
{
	uint64_t seed = 42, step = UINT64_MAX / n_ranges;

	memset(c, 0, sizeof(*c));
	rk_pl_config_default(&c->cfg);
	c->nodes = calloc(n_nodes, sizeof(*c->nodes));
	c->ranges = calloc(n_ranges, sizeof(*c->ranges));
	c->keys = calloc(n_ranges + 1, sizeof(*c->keys));
	if (c->nodes == NULL || c->ranges == NULL || c->keys == NULL)
		return -1;
	for (size_t i = 0; i < n_nodes; i++)
		c->nodes[i].id = i + 1;
	for (size_t i = 0; i <= n_ranges; i++)
		put_be64(c->keys[i], step * i);
	for (size_t i = 0; i < n_ranges; i++) {
		struct rk_pl_range *r = &c->ranges[i];

		r->id = i + 1;
		r->generation = r->conf_version = 1;
		r->start = c->keys[i];
		r->slen = i == 0 ? 0 : 8;
		r->end = c->keys[i + 1];
		r->elen = i + 1 == n_ranges ? 0 : 8;
		for (uint8_t k = 0; k < c->cfg.replicas; k++) {
			r->reps[k].replica_id = k + 1u;
			r->reps[k].node_id = (i + k) % on + 1;
			r->reps[k].role = RK_DESC_VOTER;
		}
		r->n_reps = (uint8_t)c->cfg.replicas;
		r->leader_node = r->reps[0].node_id;
		r->size_bytes = (1 + rnd(&seed) % 48) << 20;
		if (rnd(&seed) % 1000 == 0)
			r->size_bytes = c->cfg.split_size + 1;
		r->writes_ps = (uint32_t)(rnd(&seed) % 100);
		r->reads_ps = (uint32_t)(rnd(&seed) % 400);
	}
	c->st.nodes = c->nodes;
	c->st.n_nodes = n_nodes;
	c->st.ranges = c->ranges;
	c->st.n_ranges = n_ranges;
	c->st.now_ms = 1000000;
	return 0;
}

static void cluster_free(struct cluster *c)
{
	free(c->nodes);
	free(c->ranges);
	free(c->keys);
}

/* Passes of `slice` from cursor 0 until a sweep ends. */
static int sweep(struct cluster *c, size_t slice, size_t max_ops,
		 const char *what)
{
	struct rk_pl_op *ops = calloc(max_ops, sizeof(*ops));
	struct rk_pl_pass pass;
	double t0, dt, longest = 0, total = 0;
	size_t passes = 0, n_ops = 0, visited = 0;

	if (ops == NULL)
		return -1;
	memset(&pass, 0, sizeof(pass));
	do {
		pass.cursor = pass.next_cursor;
		pass.slice = slice;
		pass.ops = ops;
		pass.max_ops = max_ops;
		t0 = now_s();
		if (rk_pl_pass(&c->cfg, &c->st, &pass) != 0) {
			free(ops);
			return -1;
		}
		dt = now_s() - t0;
		total += dt;
		longest = dt > longest ? dt : longest;
		passes++;
		n_ops += pass.n_ops;
		visited += pass.visited;
	} while (!pass.wrapped);
	printf("%-28s %6zu passes of <= %zu ranges: longest %.3f ms, "
	       "mean %.3f ms, sweep %.1f ms (%.0f ns/range), %zu ops\n",
	       what, passes, slice, longest * 1e3, total * 1e3 / passes,
	       total * 1e3, total * 1e9 / visited, n_ops);
	free(ops);
	return 0;
}

static int run(size_t n_ranges, size_t n_nodes, size_t slice, size_t max_ops)
{
	struct cluster c;
	double t0;

	if (cluster_init(&c, n_ranges, n_nodes, n_nodes - 1) != 0)
		goto fail;
	printf("%zu ranges x 3 replicas, %zu nodes (node %zu joined empty), "
	       "%zu bytes per range in the snapshot\n",
	       n_ranges, n_nodes, n_nodes, sizeof(struct rk_pl_range));
	t0 = now_s();
	if (rk_pl_tally(&c.st) != 0)
		goto fail;
	printf("%-28s %.1f ms\n", "tally", (now_s() - t0) * 1e3);
	if (sweep(&c, slice, max_ops, "sweep, node joined") != 0)
		goto fail;
	if (sweep(&c, 0, n_ranges, "one unsliced pass, joined") != 0)
		goto fail;
	cluster_free(&c);
	if (cluster_init(&c, n_ranges, n_nodes, n_nodes) != 0 ||
	    rk_pl_tally(&c.st) != 0)
		goto fail;
	/* Splits off: the balanced sweep measures looking only. */
	c.cfg.split_size = 0;
	if (sweep(&c, slice, max_ops, "sweep, balanced") != 0)
		goto fail;
	cluster_free(&c);
	return 0;
fail:
	cluster_free(&c);
	fprintf(stderr, "bench_sched: out of memory or bad state\n");
	return 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_sched [--ranges N] [--nodes N] [--slice N] "
		"[--max-ops N]\n"
		"  the placement scheduler's passes over N ranges (100000) on N "
		"nodes (10, the last\n"
		"  joined empty), in slices of N ranges (1024) with room for N "
		"operations (64)\n");
}

int main(int argc, char **argv)
{
	size_t ranges = 100000, nodes = 10, slice = 1024, max_ops = 64;

	for (int i = 1; i < argc; i++) {
		size_t *v = NULL;

		if (strcmp(argv[i], "--ranges") == 0)
			v = &ranges;
		else if (strcmp(argv[i], "--nodes") == 0)
			v = &nodes;
		else if (strcmp(argv[i], "--slice") == 0)
			v = &slice;
		else if (strcmp(argv[i], "--max-ops") == 0)
			v = &max_ops;
		if (v == NULL || i + 1 >= argc) {
			usage();
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
		*v = strtoul(argv[++i], NULL, 10);
	}
	if (ranges == 0 || nodes < 4 || max_ops == 0) {
		usage();
		return 2;
	}
	return run(ranges, nodes, slice, max_ops);
}
