/*
 * The inspection verbs: nodes, ranges, range, log, status (and, in
 * rebalance.c on the same code, decommission and rebalance status). Each reads a
 * node's HTTP API (--http, default 127.0.0.1:7301), parses the JSON with
 * cJSON, and prints aligned tables for people (sizes and rates in human
 * units, keys as the API escapes them) or, with --json, the API's JSON on
 * one line. --watch N repeats the verb every N seconds until interrupted.
 *
 * Exit statuses (cli.h): 0 success, 1 an error answer (an unknown range:
 * 404) or an answer that is not the API's JSON, 2 bad usage (found before
 * the node is asked anything), 3 the node cannot be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "inspect.h"
#include "print.h"

#define F_SORT 1u
#define F_NODE 2u
#define F_LIMIT 4u
#define F_FROM 8u
#define F_UNAVAILABLE 16u
#define F_WAIT 32u

/* `rangekv status` lists this many unavailable ranges (the count says
 * the rest). */
#define STATUS_UNAVAILABLE 20

/* A page of the plain range list: the API's default. */
#define RANGES_PAGE 1000

struct iverb {
	const char *name;
	const char *synopsis; /* after "rangekv NAME " */
	const char *summary;  /* for `rangekv help` when there is no synopsis */
	const char *help;
	const char *sub;      /* a word that must follow the verb ("status"); NULL none */
	int npos;             /* positional arguments: 0, or 1 (an id) */
	unsigned flags;       /* F_ flags beyond the common ones */
	int (*run)(struct insp *s);
};

static int usage_error(const struct insp *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const struct insp *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rangekv %s: ", s->v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rangekv %s --help)\n", s->v->name);
	return RK_CLI_EXIT_USAGE;
}

/* ---- asking the node ------------------------------------------------------------ */

/*
 * GET path from the node: 0 with *jp the parsed answer (free with
 * cJSON_Delete); otherwise the exit status,
 * after one line on stderr: 3 unreachable, 1 an error answer or one that
 * is not JSON, 2 a --http that is not HOST:PORT.
 */
static int fetch_m(const struct insp *s, const char *method, const char *path, cJSON **jp);

static int fetch(const struct insp *s, const char *path, cJSON **jp)
{
	return fetch_m(s, "GET", path, jp);
}

/* method path on the node: the answer's JSON (any 2xx), or an exit
 * status with the error printed. */
static int fetch_m(const struct insp *s, const char *method, const char *path, cJSON **jp)
{
	struct rk_buf body;
	char err[512];
	int status, rc;
	cJSON *j;

	*jp = NULL;
	rk_buf_init(&body);
	rc = rk_cli_http(s->http, method, path, rk_cli_now_ms() + s->timeout_ms, &body,
			 &status, err, sizeof(err));
	if (rc != 0) {
		rk_buf_free(&body);
		if (rc == RK_EADDR)
			return usage_error(s, "--http: %s", err);
		if (!s->quiet)
			fprintf(stderr, "rangekv %s: %s\n", s->v->name, err);
		return rc == RK_ECONN || rc == RK_ETIMEDOUT ? RK_CLI_EXIT_UNREACHABLE
							    : RK_CLI_EXIT_ERROR;
	}
	j = cJSON_ParseWithLength(body.p != NULL ? body.p : "", body.len);
	if (status < 200 || status > 299) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
		if (!s->quiet)
			fprintf(stderr, "rangekv %s: %s (HTTP %d from %s)\n", s->v->name,
				cJSON_IsString(e) ? e->valuestring : "error", status, s->http);
		cJSON_Delete(j);
		rk_buf_free(&body);
		return RK_CLI_EXIT_ERROR;
	}
	if (j == NULL) {
		if (!s->quiet)
			fprintf(stderr, "rangekv %s: %s answered something that is not JSON\n",
				s->v->name, s->http);
		rk_buf_free(&body);
		return RK_CLI_EXIT_ERROR;
	}
	*jp = j;
	rk_buf_free(&body);
	return 0;
}

static int print_json(const cJSON *j);
static void pause_ms(long long ms);

/* fetch, and with --json print the answer: 0 with *jp NULL then (the
 * verb is done), or with *jp the answer to print for people. */
static int fetch_view(const struct insp *s, const char *path, cJSON **jp)
{
	int rc = fetch(s, path, jp);

	if (rc != 0 || !s->json)
		return rc;
	rc = print_json(*jp);
	cJSON_Delete(*jp);
	*jp = NULL;
	return rc;
}

/* ---- reading the answer ------------------------------------------------------------ */

#define get rk_cli_get
#define num rk_cli_num
#define str rk_cli_str

/* A number, or "-" for null / missing. */
static void num_or_dash(char *out, size_t cap, const cJSON *o, const char *name)
{
	const cJSON *v = get(o, name);

	if (cJSON_IsNumber(v))
		snprintf(out, cap, "%.0f", v->valuedouble);
	else
		snprintf(out, cap, "-");
}

/* A range's bound as shown: the API's escaped key, "(start)" or "(end)"
 * for an open end, and spaces at the key's ends written \x20 (a key of
 * spaces would look like no key; the escape is what KEY arguments take).
 * The result is k itself or buf (at least BOUND_MAX bytes). */
#define BOUND_MAX 1024
static const char *bound(const cJSON *o, const char *name, bool end, char *buf)
{
	const char *k = str(o, name, "");
	size_t n = strlen(k), lead = 0, trail = 0, w = 0;

	if (n == 0)
		return end ? "(end)" : "(start)";
	while (lead < n && k[lead] == ' ')
		lead++;
	while (trail < n - lead && k[n - 1 - trail] == ' ')
		trail++;
	if ((lead == 0 && trail == 0) || 4 * n + 1 > BOUND_MAX)
		return k;
	for (size_t i = 0; i < n; i++) {
		if (k[i] == ' ' && (i < lead || i >= n - trail)) {
			memcpy(buf + w, "\\x20", 4);
			w += 4;
		} else {
			buf[w++] = k[i];
		}
	}
	buf[w] = '\0';
	return buf;
}

/* "1,2,3" (learners marked with "L"). */
static void replicas_text(char *out, size_t cap, const cJSON *range)
{
	const cJSON *rep;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(rep, get(range, "replicas")) {
		int w = snprintf(out + n, cap - n, "%s%.0f%s", n > 0 ? "," : "",
				 num(rep, "node_id"),
				 strcmp(str(rep, "role", "voter"), "learner") == 0 ? "L" : "");
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
}

/* Prints the JSON answer as one line (--json). */
static int print_json(const cJSON *j)
{
	char *p = cJSON_PrintUnformatted(j);

	if (p == NULL) {
		fprintf(stderr, "rangekv: %s\n", rk_strerror(RK_ENOMEM));
		return RK_CLI_EXIT_ERROR;
	}
	puts(p);
	free(p);
	return 0;
}

static int print_table(struct rk_cli_table *t, const struct insp *s)
{
	if (t->oom) {
		fprintf(stderr, "rangekv %s: %s\n", s->v->name, rk_strerror(RK_ENOMEM));
		return RK_CLI_EXIT_ERROR;
	}
	rk_cli_table_print(t, stdout, s->width);
	return 0;
}

/* ---- nodes ---------------------------------------------------------------------------- */

static const struct rk_cli_table_col node_cols[] = {
	{"ID", RK_COL_RIGHT}, {"STATE", 0}, {"PLACEMENT", 0}, {"PEER", 0}, {"CLIENT", 0},
	{"HTTP", 0}, {"RANGES", RK_COL_RIGHT}, {"LEADERS", RK_COL_RIGHT},
};

static void nodes_table(struct rk_cli_table *t, const cJSON *status)
{
	const cJSON *nd;

	rk_cli_table_init(t, node_cols, sizeof(node_cols) / sizeof(node_cols[0]));
	cJSON_ArrayForEach(nd, get(status, "nodes")) {
		char id[24], ranges[24], leaders[24];
		num_or_dash(id, sizeof(id), nd, "id");
		num_or_dash(ranges, sizeof(ranges), nd, "ranges");
		num_or_dash(leaders, sizeof(leaders), nd, "leaders");
		const char *row[] = {id, str(nd, "state", "-"), str(nd, "placement_state", "-"),
				     str(nd, "peer_addr", "-"), str(nd, "client_addr", "-"),
				     str(nd, "http_addr", "-"), ranges, leaders};
		rk_cli_table_row_v(t, row);
	}
}

/* The placement leader's view (GET /api/v1/nodes): placement states and
 * the figures of the nodes' heartbeats. */
static const struct rk_cli_table_col pnode_cols[] = {
	{"ID", RK_COL_RIGHT}, {"STATE", 0}, {"PEER", 0}, {"CLIENT", 0}, {"HTTP", 0},
	{"REPLICAS", RK_COL_RIGHT}, {"LEADERS", RK_COL_RIGHT}, {"SIZE", RK_COL_RIGHT},
	{"WRITES/S", RK_COL_RIGHT}, {"READS/S", RK_COL_RIGHT}, {"DISK FREE", RK_COL_RIGHT},
	{"HEARD", RK_COL_RIGHT},
};

static void pnodes_table(struct rk_cli_table *t, const cJSON *view)
{
	const cJSON *nd;

	rk_cli_table_init(t, pnode_cols, sizeof(pnode_cols) / sizeof(pnode_cols[0]));
	cJSON_ArrayForEach(nd, get(view, "nodes")) {
		char id[24], reps[24], leaders[24], size[24], wr[24], rd[24], disk[24], heard[24];
		bool figs = cJSON_IsNumber(get(nd, "replicas")); /* null: never reported */
		num_or_dash(id, sizeof(id), nd, "id");
		num_or_dash(reps, sizeof(reps), nd, "replicas");
		num_or_dash(leaders, sizeof(leaders), nd, "leaders");
		snprintf(size, sizeof(size), "-");
		snprintf(wr, sizeof(wr), "-");
		snprintf(rd, sizeof(rd), "-");
		snprintf(disk, sizeof(disk), "-");
		if (figs) {
			rk_cli_fmt_size(size, sizeof(size), num(nd, "bytes"));
			rk_cli_fmt_rate(wr, sizeof(wr), num(nd, "writes_per_s"));
			rk_cli_fmt_rate(rd, sizeof(rd), num(nd, "reads_per_s"));
			rk_cli_fmt_size(disk, sizeof(disk), num(nd, "disk_free"));
		}
		rk_cli_fmt_ms(heard, sizeof(heard), num(nd, "heard_ms_ago"));
		const char *row[] = {id, str(nd, "state", "-"), str(nd, "peer_addr", "-"),
				     str(nd, "client_addr", "-"), str(nd, "http_addr", "-"),
				     reps, leaders, size, wr, rd, disk, heard};
		rk_cli_table_row_v(t, row);
	}
}

static int run_nodes(struct insp *s)
{
	struct rk_cli_table t;
	char suspect[24], dead[24];
	cJSON *j;
	int rc = fetch_view(s, "/api/v1/nodes", &j);

	if (rc != 0 || j == NULL)
		return rc;
	pnodes_table(&t, j);
	rc = print_table(&t, s);
	rk_cli_table_free(&t);
	rk_cli_fmt_ms(suspect, sizeof(suspect), num(j, "suspect_after_ms"));
	rk_cli_fmt_ms(dead, sizeof(dead), num(j, "dead_after_ms"));
	printf("(as the placement leader, node %.0f, sees them: suspect after %s "
	       "without a heartbeat, dead after %s)\n", num(j, "leader"), suspect, dead);
	cJSON_Delete(j);
	return rc;
}

/* ---- ranges ------------------------------------------------------------------------- */

static const struct rk_cli_table_col range_cols[] = {
	{"ID", RK_COL_RIGHT}, {"START", RK_COL_SHRINK}, {"END", RK_COL_SHRINK},
	{"LEADER", RK_COL_RIGHT}, {"TERM", RK_COL_RIGHT}, {"APPLIED", RK_COL_RIGHT},
	{"SIZE", RK_COL_RIGHT}, {"WRITES/S", RK_COL_RIGHT}, {"READS/S", RK_COL_RIGHT},
	{"ASLEEP", 0}, {"REPLICAS", 0},
};

static void range_row(struct rk_cli_table *t, const cJSON *r)
{
	char id[24], leader[24], term[24], applied[24], size[24], w[24], rd[24], reps[96];

	num_or_dash(id, sizeof(id), r, "id");
	num_or_dash(leader, sizeof(leader), r, "leader");
	num_or_dash(term, sizeof(term), r, "term");
	num_or_dash(applied, sizeof(applied), r, "applied_index");
	/* A range the node asked holds no replica of: its figures are null
	 * (known only to its replicas), shown as "-". */
	bool known = cJSON_IsNumber(get(r, "size_bytes"));

	rk_cli_fmt_size(size, sizeof(size), num(r, "size_bytes"));
	rk_cli_fmt_rate(w, sizeof(w), num(r, "writes_per_sec"));
	rk_cli_fmt_rate(rd, sizeof(rd), num(r, "reads_per_sec"));
	replicas_text(reps, sizeof(reps), r);
	char b1[BOUND_MAX], b2[BOUND_MAX];
	const char *row[] = {id, bound(r, "start", false, b1), bound(r, "end", true, b2), leader,
			     term, applied, known ? size : "-", known ? w : "-", known ? rd : "-",
			     !known ? "-" : cJSON_IsTrue(get(r, "asleep")) ? "yes" : "no", reps};
	rk_cli_table_row_v(t, row);
}

/* Appends "&node=N" when --node was given, "&unavailable=1" for
 * --unavailable. */
static void node_param(const struct insp *s, char *path, size_t cap)
{
	size_t n = strlen(path);

	if (s->has_node)
		snprintf(path + n, cap - n, "&node=%llu", (unsigned long long)s->node);
	n = strlen(path);
	if (s->unavailable)
		snprintf(path + n, cap - n, "&unavailable=1");
}

/* With --sort: one call, the top --limit (default 20). */
static int ranges_sorted(struct insp *s)
{
	struct rk_cli_table t;
	char path[160];
	const cJSON *r;
	cJSON *j;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/ranges?sort=%s&limit=%llu", s->sort,
		 (unsigned long long)(s->has_limit ? s->limit : 20));
	node_param(s, path, sizeof(path));
	rc = fetch_view(s, path, &j);
	if (rc != 0 || j == NULL)
		return rc;
	rk_cli_table_init(&t, range_cols, sizeof(range_cols) / sizeof(range_cols[0]));
	cJSON_ArrayForEach(r, get(j, "ranges"))
		range_row(&t, r);
	rc = print_table(&t, s);
	rk_cli_table_free(&t);
	cJSON_Delete(j);
	return rc;
}

/* Without --sort: every range by id (or the first --limit), page by page;
 * --json gives them as one {"ranges": [...], "next": ...} line. */
static int ranges_all(struct insp *s)
{
	uint64_t left = s->has_limit ? s->limit : UINT64_MAX, after = 0;
	bool more = true, first = true;
	struct rk_cli_table t;
	cJSON *all = cJSON_CreateArray(), *next = NULL;
	int rc = 0;

	if (all == NULL)
		return RK_CLI_EXIT_ERROR;
	rk_cli_table_init(&t, range_cols, sizeof(range_cols) / sizeof(range_cols[0]));
	while (more && left > 0 && rc == 0) {
		char path[160];
		cJSON *j, *r;
		const cJSON *nx;

		snprintf(path, sizeof(path), "/api/v1/ranges?limit=%llu",
			 (unsigned long long)(left < RANGES_PAGE ? left : RANGES_PAGE));
		if (!first)
			snprintf(path + strlen(path), sizeof(path) - strlen(path),
				 "&after=%llu", (unsigned long long)after);
		node_param(s, path, sizeof(path));
		first = false;
		rc = fetch(s, path, &j);
		if (rc != 0)
			break;
		while ((r = cJSON_DetachItemFromArray(
				cJSON_GetObjectItemCaseSensitive(j, "ranges"), 0)) != NULL) {
			if (left == 0) {
				cJSON_Delete(r);
				continue;
			}
			/* People get rows as the pages come; only --json keeps
			 * the ranges to print them as one answer. */
			if (s->json) {
				cJSON_AddItemToArray(all, r);
			} else {
				range_row(&t, r);
				cJSON_Delete(r);
			}
			left--;
		}
		nx = get(j, "next");
		more = cJSON_IsNumber(nx);
		after = more ? (uint64_t)nx->valuedouble : 0;
		cJSON_Delete(next);
		next = cJSON_Duplicate(nx, false);
		cJSON_Delete(j);
	}
	if (rc == 0 && s->json) {
		cJSON *o = cJSON_CreateObject();
		if (o == NULL) {
			rc = RK_CLI_EXIT_ERROR;
		} else {
			cJSON_AddItemToObject(o, "ranges", all);
			all = NULL;
			cJSON_AddItemToObject(o, "next", left == 0 && next != NULL ? next :
						 cJSON_CreateNull());
			if (left == 0)
				next = NULL;
			rc = print_json(o);
			cJSON_Delete(o);
		}
	} else if (rc == 0) {
		rc = print_table(&t, s);
	}
	cJSON_Delete(next);
	cJSON_Delete(all);
	rk_cli_table_free(&t);
	return rc;
}

static int run_ranges(struct insp *s)
{
	return s->sort != NULL ? ranges_sorted(s) : ranges_all(s);
}

/* ---- range ID -------------------------------------------------------------------------- */

static const struct rk_cli_table_col progress_cols[] = {
	{"REPLICA", RK_COL_RIGHT}, {"NODE", RK_COL_RIGHT}, {"STATE", 0},
	{"MATCH", RK_COL_RIGHT}, {"NEXT", RK_COL_RIGHT}, {"INFLIGHT", RK_COL_RIGHT},
	{"ACTIVE", 0}, {"LAST CONTACT", RK_COL_RIGHT},
};

static void range_detail(const struct insp *s, const cJSON *r)
{
	const cJSON *raft = get(r, "raft"), *prog = get(raft, "progress"), *p;
	char size[24], w[24], rd[24], reps[96], slept[24], b1[BOUND_MAX], b2[BOUND_MAX];
	struct rk_cli_table t;

	rk_cli_fmt_size(size, sizeof(size), num(r, "size_bytes"));
	rk_cli_fmt_rate(w, sizeof(w), num(r, "writes_per_sec"));
	rk_cli_fmt_rate(rd, sizeof(rd), num(r, "reads_per_sec"));
	replicas_text(reps, sizeof(reps), r);
	printf("range %.0f  [%s, %s)  generation %.0f\n", num(r, "id"), bound(r, "start", false, b1),
	       bound(r, "end", true, b2), num(r, "generation"));
	if (cJSON_IsNumber(get(r, "leader")))
		printf("  leader    node %.0f (this replica: %s)\n", num(r, "leader"),
		       str(r, "role", "?"));
	else
		printf("  leader    none known (this replica: %s)\n", str(r, "role", "?"));
	printf("  term      %.0f\n", num(r, "term"));
	printf("  log       %.0f..%.0f held, commit %.0f, applied %.0f\n",
	       num(r, "first_index"), num(raft, "last_index"), num(r, "commit_index"),
	       num(r, "applied_index"));
	printf("  size      %s\n", size);
	printf("  load      %s writes/s, %s reads/s\n", w, rd);
	if (cJSON_IsTrue(get(r, "asleep"))) {
		rk_cli_fmt_ms(slept, sizeof(slept), num(raft, "asleep_ms"));
		printf("  asleep    yes, for %s\n", slept);
	} else {
		printf("  asleep    no\n");
	}
	printf("  replicas  %s\n", reps);
	if (!cJSON_IsArray(prog)) {
		if (cJSON_IsNumber(get(r, "leader")))
			printf("(replication progress is known on the leader: node %.0f)\n",
			       num(r, "leader"));
		return;
	}
	putchar('\n');
	rk_cli_table_init(&t, progress_cols, sizeof(progress_cols) / sizeof(progress_cols[0]));
	cJSON_ArrayForEach(p, prog) {
		char id[24], node[24], match[24], next[24], infl[24], contact[24];
		num_or_dash(id, sizeof(id), p, "replica_id");
		num_or_dash(node, sizeof(node), p, "node_id");
		num_or_dash(match, sizeof(match), p, "match");
		num_or_dash(next, sizeof(next), p, "next");
		num_or_dash(infl, sizeof(infl), p, "inflight");
		if (cJSON_IsNumber(get(p, "last_contact_ms")))
			rk_cli_fmt_ms(contact, sizeof(contact), num(p, "last_contact_ms"));
		else
			snprintf(contact, sizeof(contact), "-");
		const char *row[] = {id, node, str(p, "state", "?"), match, next, infl,
				     cJSON_IsTrue(get(p, "active")) ? "yes" : "no", contact};
		rk_cli_table_row_v(&t, row);
	}
	(void)print_table(&t, s);
	rk_cli_table_free(&t);
}

static int run_range(struct insp *s)
{
	char path[64];
	cJSON *j;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/ranges/%llu", (unsigned long long)s->id);
	rc = fetch_view(s, path, &j);
	if (rc != 0 || j == NULL)
		return rc;
	range_detail(s, j);
	cJSON_Delete(j);
	return 0;
}

/* ---- log ID ------------------------------------------------------------------------------- */

static const struct rk_cli_table_col log_cols[] = {
	{"INDEX", RK_COL_RIGHT}, {"TERM", RK_COL_RIGHT}, {"TYPE", 0},
	{"SIZE", RK_COL_RIGHT}, {"COMMAND", RK_COL_SHRINK},
};

static int run_log(struct insp *s)
{
	struct rk_cli_table t;
	char path[128];
	const cJSON *e, *next;
	cJSON *j;
	int rc;

	snprintf(path, sizeof(path), "/api/v1/ranges/%llu/log?limit=%llu",
		 (unsigned long long)s->id,
		 (unsigned long long)(s->has_limit ? s->limit : 20));
	if (s->has_from)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "&from=%llu",
			 (unsigned long long)s->from);
	rc = fetch_view(s, path, &j);
	if (rc != 0 || j == NULL)
		return rc;
	printf("range %.0f: log entries %.0f..%.0f held\n", num(j, "range"),
	       num(j, "first_index"), num(j, "last_index"));
	rk_cli_table_init(&t, log_cols, sizeof(log_cols) / sizeof(log_cols[0]));
	cJSON_ArrayForEach(e, get(j, "entries")) {
		char idx[24], term[24], size[24];
		num_or_dash(idx, sizeof(idx), e, "index");
		num_or_dash(term, sizeof(term), e, "term");
		rk_cli_fmt_size(size, sizeof(size), num(e, "size"));
		const char *row[] = {idx, term,
				     strcmp(str(e, "type", ""), "conf_change") == 0 ? "conf" : "normal",
				     size, str(e, "command", "")};
		rk_cli_table_row_v(&t, row);
	}
	rc = print_table(&t, s);
	rk_cli_table_free(&t);
	next = get(j, "next");
	if (rc == 0 && cJSON_IsNumber(next))
		printf("(more: rangekv log %llu --from %.0f)\n", (unsigned long long)s->id,
		       next->valuedouble);
	cJSON_Delete(j);
	return rc;
}

/* ---- status ------------------------------------------------------------------------------- */

/* j: the first page (STATUS_UNAVAILABLE) of the n ranges that cannot
 * serve as the node asked sees them: no leader known, or no live majority
 * of their voters. */
static int status_unavailable(const struct insp *s, double n, const cJSON *j)
{
	struct rk_cli_table t;
	const cJSON *r;
	int rc, shown = 0;

	printf("\nUNAVAILABLE: %.0f range%s without a leader or a live majority:\n", n,
	       n == 1 ? "" : "s");
	rk_cli_table_init(&t, range_cols, sizeof(range_cols) / sizeof(range_cols[0]));
	cJSON_ArrayForEach(r, get(j, "ranges")) {
		range_row(&t, r);
		shown++;
	}
	rc = print_table(&t, s);
	rk_cli_table_free(&t);
	if (n > shown)
		printf("(and %.0f more: rangekv ranges --unavailable)\n", n - shown);
	return rc;
}

static int run_status(struct insp *s)
{
	struct rk_cli_table t;
	const cJSON *nd, *tot, *r;
	cJSON *st, *hot = NULL, *ll = NULL;
	char w[24], rd[24], path[80];
	int rc, n = 0;

	rc = fetch(s, "/api/v1/cluster/status", &st);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "/api/v1/ranges?unavailable=1&limit=%d", STATUS_UNAVAILABLE);
	rc = fetch(s, "/api/v1/ranges?sort=writes&limit=5", &hot);
	if (rc == 0)
		rc = fetch(s, path, &ll);
	if (rc != 0) {
		cJSON_Delete(st);
		cJSON_Delete(hot);
		return rc;
	}
	if (s->json) {
		cJSON *o = cJSON_CreateObject();
		rc = RK_CLI_EXIT_ERROR;
		if (o != NULL) {
			cJSON_AddItemToObject(o, "cluster", st);
			cJSON_AddItemToObject(o, "hot_ranges", hot);
			cJSON_AddItemToObject(o, "unavailable_ranges", ll);
			rc = print_json(o);
			cJSON_Delete(o);
		} else {
			cJSON_Delete(st);
			cJSON_Delete(hot);
			cJSON_Delete(ll);
		}
		return rc;
	}
	tot = get(hot, "totals");
	cJSON_ArrayForEach(nd, get(st, "nodes"))
		n++;
	printf("node %.0f (%s): %d nodes, %.0f ranges\n", num(st, "node_id"), s->http, n,
	       num(st, "ranges"));
	nodes_table(&t, st);
	rc = print_table(&t, s);
	rk_cli_table_free(&t);
	if (cJSON_GetArraySize(get(st, "alarms")) > 0) {
		cJSON_ArrayForEach(nd, get(st, "alarms"))
			printf("ALARM: %s\n", cJSON_IsString(nd) ? nd->valuestring : "?");
	}
	rk_cli_fmt_rate(w, sizeof(w), num(tot, "writes_per_sec"));
	rk_cli_fmt_rate(rd, sizeof(rd), num(tot, "reads_per_sec"));
	/* ranges and unavailable are the cluster's (the index); the others
	 * only this node's replicas know. */
	printf("\nranges: %.0f in the cluster, unavailable %.0f; this node's replicas: "
	       "led here %.0f, leaderless %.0f, asleep %.0f\n",
	       num(tot, "ranges"), num(tot, "unavailable"), num(tot, "leaders"),
	       num(tot, "leaderless"), num(tot, "asleep"));
	printf("requests: %s writes/s applied, %s reads/s served here\n", w, rd);
	if (rc == 0 && num(tot, "unavailable") > 0)
		rc = status_unavailable(s, num(tot, "unavailable"), ll);
	if (rc == 0 && cJSON_GetArraySize(get(hot, "ranges")) > 0 &&
	    num(cJSON_GetArrayItem(get(hot, "ranges"), 0), "writes_per_sec") > 0) {
		printf("\nhottest ranges (writes):\n");
		rk_cli_table_init(&t, range_cols, sizeof(range_cols) / sizeof(range_cols[0]));
		cJSON_ArrayForEach(r, get(hot, "ranges"))
			if (num(r, "writes_per_sec") > 0)
				range_row(&t, r);
		rc = print_table(&t, s);
		rk_cli_table_free(&t);
	}
	cJSON_Delete(st);
	cJSON_Delete(hot);
	cJSON_Delete(ll);
	return rc;
}

/* ---- the verbs ------------------------------------------------------------------------ */

static const struct iverb iverbs[] = {
	{.name = "nodes", .synopsis = "",
	 .summary = "the nodes: placement state, replicas, leaders, load, disk",
	 .run = run_nodes, .help =
	 "The nodes of the cluster as the placement group's leader sees them\n"
	 "(whichever node is asked): placement state (live; suspect after 3 s\n"
	 "without a heartbeat; dead after the cluster's --dead-after;\n"
	 "decommissioning, decommissioned), addresses, and the figures of its\n"
	 "last heartbeat: replicas, leaderships, bytes, writes/s and reads/s,\n"
	 "free disk space; HEARD: since its last heartbeat reached the leader.\n"
	 "--json: the answer of GET /api/v1/nodes\n"},
	{.name = "decommission", .synopsis = "NODE [--wait]", .npos = 1, .flags = F_WAIT,
	 .run = rk_cli_run_decommission, .help =
	 "Decommissions node NODE (POST /api/v1/nodes/NODE/decommission): the\n"
	 "placement group records it decommissioning, its replicas move to the\n"
	 "other nodes and its leaderships are handed over, and once it holds no\n"
	 "replica it is decommissioned and can be stopped. Refused when fewer live\n"
	 "nodes than --replicas would remain. --wait: follows the drain until it\n"
	 "is decommissioned, each second: ranges moved of those it held when the\n"
	 "wait began, ranges left, snapshot bytes the cluster's moves sent and\n"
	 "their rate, and an estimate of the time left (one line redrawn on a\n"
	 "terminal, a line each second otherwise).\n"
	 "--json: the answer of the call\n"},
	{.name = "rebalance", .synopsis = "status [--wait]", .sub = "status", .flags = F_WAIT,
	 .run = rk_cli_run_rebalance, .help =
	 "The placement operations in flight, from the placement group's leader\n"
	 "(whichever node is asked): each replica move (range, from and to node,\n"
	 "step: learner, snapshot, promote, remove; snapshot bytes sent of the\n"
	 "total where the range's leader said; age; reason), the splits and\n"
	 "merges under way on the leader, the moves done, the snapshot bytes\n"
	 "sent, the ranges without a known leader or with fewer voters than\n"
	 "--replicas, and the replicas, leaderships and bytes of each node (the\n"
	 "sizes of the ranges it holds as their leaders reported them; \"bytes\n"
	 "not reported yet\" until every live node reported its ranges).\n"
	 "--wait: follows the rebalance (a node that joined filling, a\n"
	 "decommission, ranges short of replicas topped up) until it settles:\n"
	 "each second, replicas moved of those to move, replicas left, snapshot\n"
	 "bytes sent and their rate, an estimate of the time left and the live\n"
	 "node with the fewest replicas against the mean (one line redrawn on a\n"
	 "terminal, a line each second otherwise). Settled: nothing in flight, no\n"
	 "range short of voters, no decommissioning node holding a replica and\n"
	 "every live node within 10% of the mean count (or one replica); or no\n"
	 "move for 60 s (the scheduler has nothing more to do: said so). Exit 1\n"
	 "if rebalancing is paused.\n"
	 "--json: the answer of GET /api/v1/operations (with --wait, the last)\n"},
	{.name = "ranges",
	 .synopsis = "[--sort size|writes|reads] [--node N] [--unavailable] [--limit N]",
	 .flags = F_SORT | F_NODE | F_LIMIT | F_UNAVAILABLE, .run = run_ranges, .help =
	 "Every range of the cluster (from the placement index, whichever node is\n"
	 "asked), one a line: span, leader, term, applied index, size, writes/s\n"
	 "and reads/s (10-second averages), asleep, the nodes of its replicas\n"
	 "(L: a learner); \"-\" for what only a range's replicas know, on a node\n"
	 "that holds none. By id, every range (or the first\n"
	 "--limit N); with --sort the top --limit (default 20, at most 1000),\n"
	 "largest or hottest first. --node N: only ranges with a replica on N.\n"
	 "--unavailable: only ranges that cannot serve as the node asked sees\n"
	 "them (no leader known, or no live majority of their voters).\n"
	 "--json: {\"ranges\": [...], \"next\": ...} (with --sort also \"totals\")\n"},
	{.name = "range", .synopsis = "ID", .npos = 1, .run = run_range, .help =
	 "One range: span, leader, term, log bounds, size, load, sleep, and on\n"
	 "its leader each replica's replication progress (match and next index,\n"
	 "probe/replicate/snapshot, messages in flight, last contact).\n"
	 "--json: the answer of GET /api/v1/ranges/ID\n"},
	{.name = "log", .synopsis = "ID [--from N] [--limit M]", .npos = 1,
	 .flags = F_FROM | F_LIMIT, .run = run_log, .help =
	 "A range's raft log, the commands decoded (SET key (128 B), SEQ.NEXT\n"
	 "name +100, CONF add voter 4, no-op (new leader)): the last --limit\n"
	 "entries (default 20, at most 1000), or from index --from on (an index\n"
	 "already compacted starts at the first one held).\n"
	 "--json: the answer of GET /api/v1/ranges/ID/log\n"},
	{.name = "status", .synopsis = "",
	 .summary = "one screen: nodes, leaders, unavailable ranges, request rates",
	 .run = run_status, .help =
	 "One screen: the nodes and the ranges and leaders of each, how many\n"
	 "ranges have no leader, the ranges that cannot serve (no leader, or no\n"
	 "live majority of voters: the first 20), the request rates of the node\n"
	 "asked, and its hottest ranges.\n"
	 "--json: {\"cluster\": cluster status, \"hot_ranges\": sorted ranges,\n"
	 "\"unavailable_ranges\": the first 20 ranges that cannot serve}\n"},
};

static const struct iverb *find(const char *name)
{
	for (size_t i = 0; i < sizeof(iverbs) / sizeof(iverbs[0]); i++)
		if (strcmp(iverbs[i].name, name) == 0)
			return &iverbs[i];
	return NULL;
}

int rk_cli_inspect_is_verb(const char *name)
{
	return find(name) != NULL;
}

void rk_cli_inspect_summary(FILE *out)
{
	for (size_t i = 0; i < sizeof(iverbs) / sizeof(iverbs[0]); i++)
		fprintf(out, "  %-9s %s\n", iverbs[i].name,
			iverbs[i].synopsis[0] ? iverbs[i].synopsis : iverbs[i].summary);
}

static void verb_usage(const struct iverb *v)
{
	/* decommission refuses --watch (its --wait follows the drain). */
	bool watch = v->run != rk_cli_run_decommission;

	printf("usage: rangekv %s%s%s [--http HOST:PORT] [--json]%s [--timeout SECONDS]\n\n"
	       "%s\n"
	       "  --http HOST:PORT   a node's HTTP port                 [127.0.0.1:7301]\n"
	       "  --json             the API's JSON, one line (per refresh)\n"
	       "%s"
	       "  --timeout SECONDS  to connect, and for each answer              [10]\n"
	       "  --help             this text\n\n"
	       "Keys are shown as the API writes them: a byte other than 0x20-0x7e,\n"
	       "and a backslash, is \\xNN.\n\n"
	       "exit status: 0 success, 1 an error answer (an unknown range), 2 bad\n"
	       "usage, 3 node unreachable\n",
	       v->name, v->synopsis[0] ? " " : "", v->synopsis, watch ? " [--watch N]" : "",
	       v->help,
	       watch ? "  --watch N          print again every N seconds until interrupted\n" : "");
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *vp)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v > max)
		return false;
	*vp = v;
	return true;
}

enum { O_HTTP = 1, O_JSON, O_WATCH, O_TIMEOUT, O_SORT, O_NODE, O_LIMIT, O_FROM, O_UNAVAILABLE,
       O_WAIT, O_HELP };

static const struct option options[] = {
	{"http", required_argument, NULL, O_HTTP},
	{"json", no_argument, NULL, O_JSON},
	{"watch", required_argument, NULL, O_WATCH},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"sort", required_argument, NULL, O_SORT},
	{"node", required_argument, NULL, O_NODE},
	{"limit", required_argument, NULL, O_LIMIT},
	{"from", required_argument, NULL, O_FROM},
	{"unavailable", no_argument, NULL, O_UNAVAILABLE},
	{"wait", no_argument, NULL, O_WAIT},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

/* 1 for --help, 0, or an exit status. */
static int parse(struct insp *s, int argc, char **argv)
{
	static const unsigned need[] = {
		[O_SORT] = F_SORT, [O_NODE] = F_NODE, [O_LIMIT] = F_LIMIT, [O_FROM] = F_FROM,
		[O_UNAVAILABLE] = F_UNAVAILABLE, [O_WAIT] = F_WAIT,
	};
	uint64_t v;
	int o, li = 0;

	opterr = 0; /* our own one-line messages */
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", options, &li)) != -1) {
		const char *a = optarg;

		if (o == 'h' || o == O_HELP)
			return 1;
		if (o == '?' && optopt != 0 && optopt < O_HTTP)
			return usage_error(s, "unknown flag -%c", optopt);
		if (o == '?')
			return usage_error(s, "unknown flag %s", argv[optind - 1]);
		if (o == ':')
			return usage_error(s, "%s needs a value", argv[optind - 1]);
		if (o < (int)(sizeof(need) / sizeof(need[0])) && need[o] != 0 &&
		    (s->v->flags & need[o]) == 0)
			return usage_error(s, "--%s is not a flag of %s", options[li].name,
					   s->v->name);
		switch (o) {
		case O_HTTP:
			s->http = a;
			break;
		case O_JSON:
			s->json = true;
			break;
		case O_WATCH:
			if (!parse_u64(a, 86400, &v) || v == 0)
				return usage_error(s, "--watch: '%s' is not seconds (1 to 86400)", a);
			s->watch = (long long)v;
			break;
		case O_TIMEOUT:
			if (!rk_cli_parse_timeout(a, &s->timeout_ms))
				return usage_error(s, "--timeout: '%s' is not seconds "
						   "(more than 0, at most 86400)", a);
			break;
		case O_SORT:
			if (strcmp(a, "size") != 0 && strcmp(a, "writes") != 0 &&
			    strcmp(a, "reads") != 0)
				return usage_error(s, "--sort: '%s' is not size, writes or reads", a);
			s->sort = a;
			break;
		case O_NODE:
			if (!parse_u64(a, UINT64_MAX, &s->node) || s->node == 0)
				return usage_error(s, "--node: '%s' is not a node id", a);
			s->has_node = true;
			break;
		case O_LIMIT:
			if (!parse_u64(a, 1000000000, &s->limit) || s->limit == 0)
				return usage_error(s, "--limit: '%s' is not a count", a);
			s->has_limit = true;
			break;
		case O_FROM:
			if (!parse_u64(a, UINT64_MAX, &s->from))
				return usage_error(s, "--from: '%s' is not a log index", a);
			s->has_from = true;
			break;
		case O_UNAVAILABLE:
			s->unavailable = true;
			break;
		case O_WAIT:
			s->wait = true;
			break;
		}
	}
	if (s->watch > 0 && s->v->run == rk_cli_run_decommission)
		return usage_error(s, "--watch is not a flag of decommission (--wait follows it)");
	if (s->watch > 0 && s->wait)
		return usage_error(s, "--watch and --wait together (--wait follows it)");
	if (s->sort != NULL && s->has_limit && s->limit > 1000)
		return usage_error(s, "--limit: at most 1000 with --sort");
	if (s->v->run == run_log && s->has_limit && s->limit > 1000)
		return usage_error(s, "--limit: at most 1000 entries");
	if (s->v->sub != NULL) {
		if (optind >= argc || strcmp(argv[optind], s->v->sub) != 0)
			return usage_error(s, "expected %s", s->v->synopsis);
		optind++;
	}
	if (s->v->npos == 0 && optind < argc)
		return usage_error(s, "unexpected argument '%s'", argv[optind]);
	if (s->v->npos == 1) {
		if (optind >= argc)
			return usage_error(s, "expected %s", s->v->synopsis);
		if (optind + 1 < argc)
			return usage_error(s, "unexpected argument '%s'", argv[optind + 1]);
		if (!parse_u64(argv[optind], UINT64_MAX, &s->id) || s->id == 0)
			return usage_error(s, "'%s' is not a %s id", argv[optind],
					   s->v->run == rk_cli_run_decommission ? "node" : "range");
	}
	return 0;
}

/* Sleeps ms, woken early by nothing but a signal that ends the process. */
static void pause_ms(long long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

int rk_cli_inspect_main(int argc, char **argv)
{
	struct insp s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.v = find(argv[0]);
	s.http = "127.0.0.1:7301";
	s.timeout_ms = 10000;
	rc = parse(&s, argc, argv);
	if (rc == 1) {
		verb_usage(s.v);
		return RK_CLI_EXIT_OK;
	}
	if (rc != 0)
		return rc;
	s.width = rk_cli_table_term_width();
	for (;;) {
		if (s.watch > 0 && s.width > 0 && !s.json)
			fputs("\033[H\033[2J", stdout); /* a terminal: a fresh screen */
		rc = s.v->run(&s);
		if (fflush(stdout) != 0 && rc == 0)
			rc = RK_CLI_EXIT_ERROR;
		/* Watching goes on through a node that stops answering, as a
		 * monitor should; bad usage ends it. */
		if (s.watch == 0 || rc == RK_CLI_EXIT_USAGE)
			return rc;
		pause_ms(s.watch * 1000);
	}
}

/* ---- for rebalance.c (inspect.h) --------------------------------------------------- */

int rk_cli_insp_fetch(const struct insp *s, const char *method, const char *path, cJSON **jp)
{
	return fetch_m(s, method, path, jp);
}

int rk_cli_insp_print_json(const cJSON *j)
{
	return print_json(j);
}

int rk_cli_insp_print_table(struct rk_cli_table *t, const struct insp *s)
{
	return print_table(t, s);
}

void rk_cli_insp_pause_ms(long long ms)
{
	pause_ms(ms);
}
