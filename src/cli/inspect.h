/*
 * What the inspection verbs share (inspect.c) with the verbs of the
 * placement operations (rebalance.c): the parsed command line, asking
 * the node, printing, and the pure formatting of rebalance.c (unit
 * tested in tests/cli/test_cli_ops.c).
 */
#ifndef RK_CLI_INSPECT_H
#define RK_CLI_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "print.h"

struct iverb;

struct insp {
	const struct iverb *v;
	const char *http;
	bool json;
	bool quiet;           /* fetch prints no error (a figure that may be missing) */
	long long watch;      /* seconds; 0: once */
	int64_t timeout_ms;
	const char *sort;     /* NULL: none */
	bool has_node, has_limit, has_from, unavailable, wait;
	uint64_t node, limit, from, id;
	size_t width;         /* of the terminal; 0: not one */
};

/* method path on the node: 0 with *jp the answer's JSON (any 2xx; free
 * with cJSON_Delete), else the exit status after one line on stderr. */
int rk_cli_insp_fetch(const struct insp *s, const char *method, const char *path, cJSON **jp);
/* The JSON on one line (--json); 0 or an exit status. */
int rk_cli_insp_print_json(const cJSON *j);
/* The table on stdout, cut to the terminal; 0 or an exit status. */
int rk_cli_insp_print_table(struct rk_cli_table *t, const struct insp *s);
/* Sleeps ms, woken early by nothing but a signal that ends the process. */
void rk_cli_insp_pause_ms(long long ms);

static inline const cJSON *rk_cli_get(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static inline double rk_cli_num(const cJSON *o, const char *name)
{
	const cJSON *v = rk_cli_get(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static inline const char *rk_cli_str(const cJSON *o, const char *name, const char *dflt)
{
	const cJSON *v = rk_cli_get(o, name);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* ---- rebalance.c ---------------------------------------------------------------- */

/* `rangekv decommission NODE [--wait]` and `rangekv rebalance status`. */
int rk_cli_run_decommission(struct insp *s);
int rk_cli_run_rebalance(struct insp *s);

/* The operations of GET /api/v1/operations as rows of t (initialized
 * here with its columns): TYPE RANGE FROM TO STEP SNAPSHOT AGE REASON. */
void rk_cli_ops_table(struct rk_cli_table *t, const cJSON *ops);

/* A drain followed by `decommission --wait`: replicas of the node when
 * the wait began (the most seen) and now, the moves' snapshot bytes
 * then and now (negative: not known), and the times (ms). */
struct rk_cli_drain {
	double first, left;
	double bytes0, bytes;
	double t0_ms, now_ms;
};
/* Takes one reading: replicas left on the node, snapshot bytes sent by
 * the cluster's moves (negative: not known), at now_ms. */
void rk_cli_drain_take(struct rk_cli_drain *d, bool first, double left, double bytes,
		       double now_ms);
/* "<what>, 12 of 20 <noun> moved, 8 <noun> left, 3.0 MiB sent
 * (1.0 MiB/s), about 10 s left", e.g. what "node 2: decommissioning",
 * noun "ranges". */
void rk_cli_drain_line(char *out, size_t cap, const char *what, const char *noun,
		       const struct rk_cli_drain *d);

/* What `rebalance status --wait` reads in one GET /api/v1/operations. */
struct rk_cli_rebal {
	bool paused;
	/* Nothing in flight, no range short of voters, no decommissioning
	 * node holding a replica, every live node within the band of the
	 * mean count (10%, or one replica), as the scheduler spreads them. */
	bool settled;
	double left;   /* replicas still to move (see rk_cli_rebal_read) */
	double mean;   /* replicas per live node */
	double in_flight, started, bytes;
	double fewest_node, fewest; /* the live node with fewest replicas */
};
/* Replicas left to move: those the live nodes below the mean lack, those
 * decommissioning nodes still hold and one per range short of voters; at
 * least the moves in flight, and at least one while not settled. */
void rk_cli_rebal_read(const cJSON *ops, struct rk_cli_rebal *rp);

#endif
