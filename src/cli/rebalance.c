/*
 * The verbs of the placement operations on the inspection verbs' code
 * (inspect.h): `rangekv decommission NODE [--wait]` with its progress
 * line, and `rangekv rebalance status [--wait]` (GET /api/v1/operations;
 * --wait follows the rebalance with the same progress line until it
 * settles).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "inspect.h"

#define get rk_cli_get
#define num rk_cli_num
#define str rk_cli_str

/* ---- rebalance status ------------------------------------------------------------ */

static const struct rk_cli_table_col op_cols[] = {
	{"TYPE", 0}, {"RANGE", RK_COL_RIGHT}, {"FROM", RK_COL_RIGHT}, {"TO", RK_COL_RIGHT},
	{"STEP", 0}, {"SNAPSHOT", RK_COL_RIGHT}, {"AGE", RK_COL_RIGHT}, {"REASON", 0},
};

/* A node id, or "-" for null / missing. */
static void id_or_dash(char *out, size_t cap, const cJSON *o, const char *name)
{
	const cJSON *v = get(o, name);

	snprintf(out, cap, cJSON_IsNumber(v) ? "%.0f" : "-", cJSON_IsNumber(v) ? v->valuedouble : 0);
}

void rk_cli_ops_table(struct rk_cli_table *t, const cJSON *ops)
{
	const cJSON *o;

	rk_cli_table_init(t, op_cols, sizeof(op_cols) / sizeof(op_cols[0]));
	cJSON_ArrayForEach(o, get(ops, "operations")) {
		const char *type = str(o, "type", "?");
		char range[48], from[24], to[24], snap[48], age[24], a[24], b[24];
		bool move = strcmp(type, "move") == 0;

		if (strcmp(type, "merge") == 0)
			snprintf(range, sizeof(range), "%.0f+%.0f", num(o, "range"), num(o, "right"));
		else
			snprintf(range, sizeof(range), "%.0f", num(o, "range"));
		id_or_dash(from, sizeof(from), o, move ? "from" : "node");
		id_or_dash(to, sizeof(to), o, move ? "to" : "");
		snprintf(snap, sizeof(snap), "-");
		if (move && (num(o, "snapshot_sent") > 0 || cJSON_IsNumber(get(o, "snapshot_size")))) {
			rk_cli_fmt_size(a, sizeof(a), num(o, "snapshot_sent"));
			rk_cli_fmt_size(b, sizeof(b), num(o, "snapshot_size"));
			snprintf(snap, sizeof(snap), "%s/%s", a,
				 cJSON_IsNumber(get(o, "snapshot_size")) ? b : "?");
		}
		rk_cli_fmt_ms(age, sizeof(age), num(o, "age_ms"));
		const char *row[] = {type, range, from, to, str(o, "step", "-"), snap, age,
				     str(o, "reason", "-")};
		rk_cli_table_row_v(t, row);
	}
}

void rk_cli_rebal_read(const cJSON *ops, struct rk_cli_rebal *rp)
{
	const cJSON *nd;
	double live = 0, total = 0, band, lack = 0, draining = 0;
	bool in_band = true;

	memset(rp, 0, sizeof(*rp));
	rp->paused = strcmp(str(ops, "rebalance", "on"), "paused") == 0;
	rp->in_flight = num(ops, "moves_in_flight");
	rp->started = num(ops, "moves_started");
	rp->bytes = num(ops, "snapshot_bytes_sent");
	rp->fewest_node = 0;
	cJSON_ArrayForEach(nd, get(ops, "nodes")) {
		const char *state = str(nd, "state", "");

		if (strcmp(state, "live") == 0) {
			live++;
			total += num(nd, "replicas");
			if (rp->fewest_node == 0 || num(nd, "replicas") < rp->fewest) {
				rp->fewest_node = num(nd, "id");
				rp->fewest = num(nd, "replicas");
			}
		} else if (strcmp(state, "decommissioning") == 0) {
			draining += num(nd, "replicas");
		}
	}
	rp->mean = live > 0 ? total / live : 0;
	band = 0.1 * rp->mean > 1 ? 0.1 * rp->mean : 1;
	cJSON_ArrayForEach(nd, get(ops, "nodes")) {
		double r = num(nd, "replicas");

		if (strcmp(str(nd, "state", ""), "live") != 0)
			continue;
		if (r < (double)(long long)rp->mean)
			lack += (double)(long long)rp->mean - r;
		if (r < rp->mean - band || r > rp->mean + band)
			in_band = false;
	}
	rp->settled = live > 0 && in_band && rp->in_flight == 0 && draining == 0 &&
		      num(ops, "under_replicated_ranges") == 0;
	rp->left = lack + draining + num(ops, "under_replicated_ranges");
	if (rp->left < rp->in_flight)
		rp->left = rp->in_flight;
	if (!rp->settled && rp->left < 1)
		rp->left = 1;
	if (rp->settled)
		rp->left = 0;
}

/* No move started and none in flight for this long while not settled:
 * the scheduler has nothing more to do (docs/placement.md: the bands are
 * not always reachable). Several of the driver's looks (each at most
 * 10 s apart while nothing moves). */
#define REBAL_STILL_MS 60000
/* Answers missed in a row before the wait gives up (a placement leader
 * change answers 503 for a moment). */
#define REBAL_MISSES 30

/* `rebalance status --wait`: a progress line each second (one line
 * redrawn on a terminal) until the rebalance settles, then 0 (with
 * --json: no lines, the last answer); 1 if rebalancing is paused. */
static int rebalance_wait(struct insp *s)
{
	struct insp quiet = *s;
	struct rk_cli_drain d;
	struct rk_cli_rebal b;
	double started = -1;
	int64_t still_since = rk_cli_now_ms();
	bool first = true, done;
	int misses = 0, rc;
	char line[320];
	cJSON *j;

	quiet.quiet = true;
	for (;;) {
		int64_t now = rk_cli_now_ms();

		/* The first try, and the last before giving up, print their
		 * error: misses are borne only once the wait has begun. */
		rc = rk_cli_insp_fetch(!first && misses + 1 < REBAL_MISSES ? &quiet : s, "GET",
				       "/api/v1/operations", &j);
		if (rc != 0) {
			if (first || ++misses >= REBAL_MISSES)
				return rc;
			rk_cli_insp_pause_ms(1000);
			continue;
		}
		misses = 0;
		rk_cli_rebal_read(j, &b);
		if (b.paused) {
			cJSON_Delete(j);
			printf("%srebalancing is paused: nothing moves (rangekv rebalance resume)\n",
			       first || s->width == 0 || s->json ? "" : "\n");
			return RK_CLI_EXIT_ERROR;
		}
		if (b.started != started || b.in_flight > 0) {
			started = b.started;
			still_since = now;
		}
		done = b.settled || now - still_since >= REBAL_STILL_MS;
		rk_cli_drain_take(&d, first, b.left, b.bytes, (double)now);
		first = false;
		if (s->json) {
			rc = done ? rk_cli_insp_print_json(j) : 0;
		} else {
			rk_cli_drain_line(line, sizeof(line), "rebalancing", "replicas", &d);
			if (b.fewest_node > 0) {
				size_t k = strlen(line);
				snprintf(line + k, sizeof(line) - k,
					 "; fewest: node %.0f with %.0f (mean %.1f)", b.fewest_node,
					 b.fewest, b.mean);
			}
			printf(s->width > 0 ? "\r%s\033[K" : "%s\n", line);
			if (done)
				printf("%s%s\n", s->width > 0 ? "\n" : "",
				       b.settled ? "balanced: every live node within 10% of the mean "
						   "count, nothing in flight"
						 : "settled outside the 10% band: no move for 60 s "
						   "(rangekv rebalance status)");
		}
		cJSON_Delete(j);
		if (fflush(stdout) != 0)
			return RK_CLI_EXIT_ERROR;
		if (done || rc != 0)
			return rc;
		rk_cli_insp_pause_ms(1000);
	}
}

int rk_cli_run_rebalance(struct insp *s)
{
	struct rk_cli_table t;
	const cJSON *nd;
	cJSON *j;
	char sent[24];
	int rc;

	if (s->wait)
		return rebalance_wait(s);
	if ((rc = rk_cli_insp_fetch(s, "GET", "/api/v1/operations", &j)) != 0)
		return rc;
	if (s->json) {
		rc = rk_cli_insp_print_json(j);
		cJSON_Delete(j);
		return rc;
	}
	rk_cli_fmt_size(sent, sizeof(sent), num(j, "snapshot_bytes_sent"));
	printf("rebalancing: %s\n", str(j, "rebalance", "?"));
	printf("placement leader: node %.0f; %.0f ranges, %.0f without a known leader, "
	       "%.0f with fewer than %.0f voters\n",
	       num(j, "node_id"), num(j, "ranges"), num(j, "unavailable_ranges"),
	       num(j, "under_replicated_ranges"), num(j, "replicas"));
	printf("moves: %.0f in flight, %.0f done, %.0f abandoned; %s of snapshots sent; "
	       "splits %.0f, merges %.0f in flight\n",
	       num(j, "moves_in_flight"), num(j, "moves_done"), num(j, "moves_abandoned"), sent,
	       num(j, "splits_in_flight"), num(j, "merges_in_flight"));
	if (cJSON_GetArraySize(get(j, "operations")) > 0) {
		printf("\n");
		rk_cli_ops_table(&t, j);
		rc = rk_cli_insp_print_table(&t, s);
		rk_cli_table_free(&t);
	}
	printf("\n");
	/* Bytes: of the ranges the node holds, as their leaders reported
	 * them; "bytes not reported yet" until every live node did. */
	for (nd = get(j, "nodes") != NULL ? get(j, "nodes")->child : NULL; nd != NULL && rc == 0;
	     nd = nd->next) {
		char bytes[24];
		const cJSON *b = get(nd, "bytes");
		if (cJSON_IsNumber(b))
			rk_cli_fmt_size(bytes, sizeof(bytes), b->valuedouble);
		else
			snprintf(bytes, sizeof(bytes), "bytes not reported yet");
		printf("node %.0f: %s, %.0f replicas, %.0f leaders, %s\n", num(nd, "id"),
		       str(nd, "state", "?"), num(nd, "replicas"), num(nd, "leaders"), bytes);
	}
	cJSON_Delete(j);
	return rc;
}

/* ---- decommission ----------------------------------------------------------------- */

void rk_cli_drain_take(struct rk_cli_drain *d, bool first, double left, double bytes,
		       double now_ms)
{
	if (first) {
		memset(d, 0, sizeof(*d));
		d->t0_ms = now_ms;
		d->bytes0 = bytes;
	}
	if (d->bytes0 < 0)
		d->bytes0 = bytes; /* the first known figure */
	if (left > d->first)
		d->first = left; /* a move in flight counts twice for a moment */
	d->left = left;
	d->bytes = bytes;
	d->now_ms = now_ms;
}

void rk_cli_drain_line(char *out, size_t cap, const char *what, const char *noun,
		       const struct rk_cli_drain *d)
{
	double moved = d->first - d->left, secs = (d->now_ms - d->t0_ms) / 1000.0;
	char sent[24], rate[24], eta[40];
	int k;

	k = snprintf(out, cap, "%s, %.0f of %.0f %s moved, %.0f %s left", what, moved, d->first,
		     noun, d->left, noun);
	if (k < 0 || (size_t)k >= cap)
		return;
	if (d->bytes >= 0 && d->bytes0 >= 0) {
		rk_cli_fmt_size(sent, sizeof(sent), d->bytes - d->bytes0);
		rk_cli_fmt_size(rate, sizeof(rate), secs > 0 ? (d->bytes - d->bytes0) / secs : 0);
		k += snprintf(out + k, cap - (size_t)k, ", %s sent (%s/s)", sent, rate);
	}
	if (k < 0 || (size_t)k >= cap)
		return;
	if (d->left == 0)
		snprintf(eta, sizeof(eta), "done in %.0f s", secs);
	else if (moved > 0 && secs > 0)
		snprintf(eta, sizeof(eta), "about %.0f s left", d->left / (moved / secs));
	else
		snprintf(eta, sizeof(eta), "time left not known yet");
	snprintf(out + k, cap - (size_t)k, ", %s", eta);
}

/* The node's entry in the placement leader's view, or NULL. */
static const cJSON *node_in(const cJSON *view, uint64_t id)
{
	const cJSON *nd;

	cJSON_ArrayForEach(nd, get(view, "nodes"))
		if (num(nd, "id") == (double)id)
			return nd;
	return NULL;
}

/* Snapshot bytes the cluster's moves sent; negative when the placement
 * leader cannot say now (an answer missed is not an error of the wait). */
static double moves_bytes(const struct insp *s)
{
	struct insp quiet = *s;
	double b = -1;
	cJSON *j;

	quiet.quiet = true;
	if (rk_cli_insp_fetch(&quiet, "GET", "/api/v1/operations", &j) == 0) {
		b = num(j, "snapshot_bytes_sent");
		cJSON_Delete(j);
	}
	return b;
}

int rk_cli_run_decommission(struct insp *s)
{
	struct rk_cli_drain d;
	char path[64], line[256], what[96];
	bool first = true;
	cJSON *j;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/nodes/%llu/decommission", (unsigned long long)s->id);
	if ((rc = rk_cli_insp_fetch(s, "POST", path, &j)) != 0)
		return rc;
	if (s->json)
		rc = rk_cli_insp_print_json(j);
	else
		printf("node %llu: %s\n", (unsigned long long)s->id, str(j, "state", "?"));
	cJSON_Delete(j);
	/* --wait: the replicas the node's heartbeats report, until the
	 * placement leader marks it decommissioned; on a terminal one line
	 * redrawn, else a line each second (a log, a test). */
	while (rc == 0 && s->wait) {
		const cJSON *nd;
		bool done;

		if ((rc = rk_cli_insp_fetch(s, "GET", "/api/v1/nodes", &j)) != 0)
			return rc;
		nd = node_in(j, s->id);
		done = nd != NULL && strcmp(str(nd, "state", ""), "decommissioned") == 0;
		if (nd != NULL && !s->json) {
			/* Decommissioned: the index holds no replica there,
			 * whatever its last heartbeat's figure said. */
			rk_cli_drain_take(&d, first, done ? 0 : num(nd, "replicas"), moves_bytes(s),
					  (double)rk_cli_now_ms());
			first = false;
			snprintf(what, sizeof(what), "node %llu: %s", (unsigned long long)s->id,
				 str(nd, "state", "?"));
			rk_cli_drain_line(line, sizeof(line), what, "ranges", &d);
			if (s->width > 0)
				printf("\r%s\033[K%s", line, done ? "\n" : "");
			else
				printf("%s\n", line);
		}
		cJSON_Delete(j);
		if (fflush(stdout) != 0)
			return RK_CLI_EXIT_ERROR;
		if (done)
			break;
		rk_cli_insp_pause_ms(1000);
	}
	return rc;
}
