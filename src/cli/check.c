/*
 * `rangekv check ID|--all`: replica checksums (POST
 * /api/v1/ranges/{id}/check on each range's leader; docs/check.md).
 *
 * The call must reach the range's leader. A node that is not answers 409
 * with the leader's node id; the CLI then asks the leader's HTTP port if
 * it knows it: every --http given (the flag may repeat) is asked once for
 * its own node id (GET /api/v1/cluster/status). A range whose leader it
 * cannot reach is reported as not checked.
 *
 * Exit statuses (cli.h): 0 every range checked and its replicas agree;
 * 1 a mismatch, a replica that did not report, a range not checked or an
 * unknown range (with a summary line); 2 bad usage; 3 no node answered.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "print.h"

#define MAX_HTTP 16
#define PAGE 1000

struct chk {
	const char *http[MAX_HTTP];
	uint64_t node_of[MAX_HTTP]; /* 0: not known (yet) */
	size_t nhttp;
	bool all, json, ids_known;
	uint64_t id;
	int64_t timeout_ms;
	/* Tallies. */
	uint64_t agree, differ, incomplete, unchecked;
	bool unreachable_only; /* no node answered at all */
	struct rk_cli_table t;
	cJSON *out; /* --json: the answers */
};

static const struct rk_cli_table_col cols[] = {
	{"RANGE", RK_COL_RIGHT}, {"INDEX", RK_COL_RIGHT}, {"RESULT", 0},
	{"CHECKSUMS (node:checksum)", RK_COL_SHRINK},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rangekv check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rangekv check --help)\n");
	return RK_CLI_EXIT_USAGE;
}

static void usage(void)
{
	printf("usage: rangekv check ID|--all [--http HOST:PORT]... [--json] [--timeout SECONDS]\n\n"
	       "Checks that the replicas of a range hold identical data: a checksum\n"
	       "command goes through the range's raft log, and every replica hashes\n"
	       "its span (user data, sequences, client sessions) with xxh3 at that\n"
	       "same log index. --all checks every range, one after the other.\n"
	       "A mismatch is reported (and logged by the leader), never repaired.\n"
	       "A replica on a node the leader holds down is not waited for: its\n"
	       "checksum shows as 'down' and the range as INCOMPLETE.\n\n"
	       "  --all              every range of the node asked (paged list)\n"
	       "  --http HOST:PORT   a node's HTTP port; repeat it to name several: a\n"
	       "                     range led elsewhere is checked on its leader if\n"
	       "                     one of them is it                [127.0.0.1:7301]\n"
	       "  --json             the API's answers as JSON, one line\n"
	       "  --timeout SECONDS  to connect, and for each answer              [10]\n"
	       "  --help             this text\n\n"
	       "exit status: 0 the replicas agree, 1 a mismatch, a replica that did not\n"
	       "report, a range not checked or an unknown range (with a summary line),\n"
	       "2 bad usage, 3 node unreachable\n");
}

/* HTTP to addr: 0 with *jp the parsed body (maybe NULL) and *statusp, or
 * RK_CLI_EXIT_UNREACHABLE / _ERROR / _USAGE after one line on stderr. */
static int ask(const struct chk *c, const char *addr, const char *method,
	       const char *path, cJSON **jp, int *statusp)
{
	struct rk_buf body;
	char err[512];
	int rc;

	*jp = NULL;
	rk_buf_init(&body);
	rc = rk_cli_http(addr, method, path, rk_cli_now_ms() + c->timeout_ms, &body,
			 statusp, err, sizeof(err));
	if (rc != 0) {
		rk_buf_free(&body);
		if (rc == RK_EADDR)
			return usage_error("--http: %s", err);
		fprintf(stderr, "rangekv check: %s\n", err);
		return rc == RK_ECONN || rc == RK_ETIMEDOUT ? RK_CLI_EXIT_UNREACHABLE
							    : RK_CLI_EXIT_ERROR;
	}
	*jp = cJSON_ParseWithLength(body.p != NULL ? body.p : "", body.len);
	rk_buf_free(&body);
	return 0;
}

/* Learns which node each --http is (its own entry carries its address). */
static void learn_ids(struct chk *c)
{
	if (c->ids_known)
		return;
	c->ids_known = true;
	for (size_t i = 0; i < c->nhttp; i++) {
		const cJSON *n;
		cJSON *j;
		int status;

		if (c->node_of[i] != 0 ||
		    ask(c, c->http[i], "GET", "/api/v1/cluster/status", &j, &status) != 0)
			continue;
		cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(j, "nodes")) {
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(n, "http_addr");
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(n, "id");
			if (cJSON_IsString(h) && cJSON_IsNumber(id))
				c->node_of[i] = (uint64_t)id->valuedouble;
		}
		cJSON_Delete(j);
	}
}

static const char *addr_of(struct chk *c, uint64_t node)
{
	learn_ids(c);
	for (size_t i = 0; i < c->nhttp; i++)
		if (c->node_of[i] == node)
			return c->http[i];
	return NULL;
}

static void row(struct chk *c, uint64_t range, const char *index, const char *result,
		const char *sums)
{
	char id[24];
	const char *cells[4] = {id, index, result, sums};

	snprintf(id, sizeof(id), "%" PRIu64, range);
	rk_cli_table_row_v(&c->t, cells);
}

/* Records a check's answer j (its range's). */
static void record(struct chk *c, uint64_t range, cJSON *j)
{
	const cJSON *agree = cJSON_GetObjectItemCaseSensitive(j, "agree");
	const cJSON *reps = cJSON_GetObjectItemCaseSensitive(j, "replicas");
	const cJSON *idx = cJSON_GetObjectItemCaseSensitive(j, "index");
	const cJSON *r;
	struct rk_buf sums;
	char index[24];
	bool missing = false;

	rk_buf_init(&sums);
	cJSON_ArrayForEach(r, reps) {
		const cJSON *sum = cJSON_GetObjectItemCaseSensitive(r, "checksum");
		const cJSON *node = cJSON_GetObjectItemCaseSensitive(r, "node_id");
		const cJSON *down = cJSON_GetObjectItemCaseSensitive(r, "node_down");
		missing |= !cJSON_IsString(sum);
		rk_buf_printf(&sums, "%s%.0f:%s", sums.len ? " " : "",
			      cJSON_IsNumber(node) ? node->valuedouble : 0.0,
			      cJSON_IsString(sum) ? sum->valuestring
			      : cJSON_IsTrue(down) ? "down" : "none");
	}
	snprintf(index, sizeof(index), "%.0f", cJSON_IsNumber(idx) ? idx->valuedouble : 0.0);
	if (cJSON_IsTrue(agree)) {
		c->agree++;
		row(c, range, index, "agree", sums.oom ? "" : sums.p);
	} else if (missing) {
		c->incomplete++;
		row(c, range, index, "INCOMPLETE", sums.oom ? "" : sums.p);
	} else {
		c->differ++;
		row(c, range, index, "DIFFER", sums.oom ? "" : sums.p);
	}
	rk_buf_free(&sums);
	if (c->out != NULL)
		cJSON_AddItemToArray(c->out, cJSON_Duplicate(j, true));
}

static void not_checked(struct chk *c, uint64_t range, const char *why)
{
	c->unchecked++;
	row(c, range, "-", "NOT CHECKED", why);
	if (c->out != NULL) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "range", (double)range);
		cJSON_AddNullToObject(o, "agree");
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddItemToArray(c->out, o);
	}
}

/* Checks one range, asking addr first and then its leader. 0, or an exit
 * status that ends the command (bad usage; unknown range with one ID). */
static int check_one(struct chk *c, const char *addr, uint64_t range)
{
	char path[96], why[160];

	snprintf(path, sizeof(path), "/api/v1/ranges/%" PRIu64 "/check", range);
	for (int hop = 0; hop < 3; hop++) {
		const cJSON *lead, *e;
		cJSON *j;
		int status, rc = ask(c, addr, "POST", path, &j, &status);

		if (rc == RK_CLI_EXIT_USAGE)
			return rc;
		if (rc != 0) {
			snprintf(why, sizeof(why), "%s did not answer", addr);
			not_checked(c, range, why);
			return c->all ? 0 : rc;
		}
		if (status == 200 && j != NULL) {
			c->unreachable_only = false;
			record(c, range, j);
			cJSON_Delete(j);
			return 0;
		}
		c->unreachable_only = false;
		lead = cJSON_GetObjectItemCaseSensitive(j, "leader");
		e = cJSON_GetObjectItemCaseSensitive(j, "error");
		if (status == 409 && cJSON_IsNumber(lead) &&
		    (addr = addr_of(c, (uint64_t)lead->valuedouble)) != NULL) {
			cJSON_Delete(j);
			continue; /* to the leader */
		}
		if (status == 409 && cJSON_IsNumber(lead))
			snprintf(why, sizeof(why), "led by node %.0f, whose HTTP address is not "
				 "known (add --http for it)", lead->valuedouble);
		else
			snprintf(why, sizeof(why), "%s (HTTP %d)",
				 cJSON_IsString(e) ? e->valuestring : "error", status);
		cJSON_Delete(j);
		if (status == 404 && !c->all) {
			fprintf(stderr, "rangekv check: range %" PRIu64 ": %s\n", range, why);
			return RK_CLI_EXIT_ERROR;
		}
		not_checked(c, range, why);
		return 0;
	}
	not_checked(c, range, "the leader moved while it was asked");
	return 0;
}

/* The table comes at the end (its columns fit every row): meanwhile a
 * terminal is shown how far --all got, on one line of stderr redrawn
 * (cleared when done). */
static void progress(const struct chk *c, bool done)
{
	if (!isatty(STDERR_FILENO))
		return;
	if (done) {
		fputs("\r\033[K", stderr);
		return;
	}
	fprintf(stderr, "\rchecked %" PRIu64 " ranges: %" PRIu64 " agree, %" PRIu64
		" differ, %" PRIu64 " incomplete, %" PRIu64 " not checked\033[K",
		c->agree + c->differ + c->incomplete + c->unchecked, c->agree, c->differ,
		c->incomplete, c->unchecked);
	fflush(stderr);
}

/* Every range of the first node, page by page. */
static int check_all(struct chk *c)
{
	uint64_t after = 0;
	bool more = true, first = true;

	while (more) {
		char path[96];
		const cJSON *r, *nx;
		cJSON *j;
		int status, rc;

		snprintf(path, sizeof(path), "/api/v1/ranges?limit=%d", PAGE);
		if (!first)
			snprintf(path + strlen(path), sizeof(path) - strlen(path),
				 "&after=%" PRIu64, after);
		first = false;
		rc = ask(c, c->http[0], "GET", path, &j, &status);
		if (rc != 0 || status != 200 || j == NULL)
			progress(c, true);
		if (rc != 0)
			return rc;
		if (status != 200 || j == NULL) {
			fprintf(stderr, "rangekv check: %s answered HTTP %d to the range list\n",
				c->http[0], status);
			cJSON_Delete(j);
			return RK_CLI_EXIT_ERROR;
		}
		c->unreachable_only = false;
		cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "ranges")) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
			const cJSON *lead = cJSON_GetObjectItemCaseSensitive(r, "leader");
			const char *a = NULL;

			if (!cJSON_IsNumber(id))
				continue;
			if (cJSON_IsNumber(lead))
				a = addr_of(c, (uint64_t)lead->valuedouble);
			rc = check_one(c, a != NULL ? a : c->http[0], (uint64_t)id->valuedouble);
			if (rc != 0) {
				progress(c, true);
				cJSON_Delete(j);
				return rc;
			}
			progress(c, false);
		}
		nx = cJSON_GetObjectItemCaseSensitive(j, "next");
		more = cJSON_IsNumber(nx);
		after = more ? (uint64_t)nx->valuedouble : 0;
		cJSON_Delete(j);
	}
	progress(c, true);
	return 0;
}

static bool parse_id(const char *s, uint64_t *vp)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno != 0 || v == 0)
		return false;
	*vp = v;
	return true;
}

enum { O_HTTP = 1, O_JSON, O_TIMEOUT, O_ALL, O_HELP };

static const struct option options[] = {
	{"http", required_argument, NULL, O_HTTP},
	{"json", no_argument, NULL, O_JSON},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"all", no_argument, NULL, O_ALL},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

/* 1 for --help, 0, or an exit status. */
static int parse(struct chk *c, int argc, char **argv)
{
	int o, li = 0;

	opterr = 0;
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", options, &li)) != -1) {
		if (o == 'h' || o == O_HELP)
			return 1;
		if (o == '?')
			return usage_error("unknown flag %s", argv[optind - 1]);
		if (o == ':')
			return usage_error("%s needs a value", argv[optind - 1]);
		switch (o) {
		case O_HTTP:
			if (c->nhttp == MAX_HTTP)
				return usage_error("--http: at most 16 (%s)", optarg);
			c->http[c->nhttp++] = optarg;
			break;
		case O_JSON:
			c->json = true;
			break;
		case O_TIMEOUT:
			if (!rk_cli_parse_timeout(optarg, &c->timeout_ms))
				return usage_error("--timeout: '%s' is not seconds "
						   "(more than 0, at most 86400)", optarg);
			break;
		case O_ALL:
			c->all = true;
			break;
		}
	}
	if (c->all && optind < argc)
		return usage_error("unexpected argument '%s' with --all", argv[optind]);
	if (!c->all) {
		if (optind >= argc)
			return usage_error("expected a range id or --all");
		if (optind + 1 < argc)
			return usage_error("unexpected argument '%s'", argv[optind + 1]);
		if (!parse_id(argv[optind], &c->id))
			return usage_error("'%s' is not a range id", argv[optind]);
	}
	if (c->nhttp == 0)
		c->http[c->nhttp++] = "127.0.0.1:7301";
	return 0;
}

int rk_cli_check_main(int argc, char **argv)
{
	struct chk c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.timeout_ms = 10000;
	c.unreachable_only = true;
	rc = parse(&c, argc, argv);
	if (rc == 1) {
		usage();
		return RK_CLI_EXIT_OK;
	}
	if (rc != 0)
		return rc;
	rk_cli_table_init(&c.t, cols, sizeof(cols) / sizeof(cols[0]));
	if (c.json)
		c.out = cJSON_CreateArray();
	rc = c.all ? check_all(&c) : check_one(&c, c.http[0], c.id);
	if (rc == 0 && c.unreachable_only && c.unchecked > 0)
		rc = RK_CLI_EXIT_UNREACHABLE; /* no node answered anything */
	if (rc == 0 || rc == RK_CLI_EXIT_ERROR) {
		if (c.json && c.out != NULL) {
			char *s = cJSON_PrintUnformatted(c.all ? c.out : cJSON_GetArrayItem(c.out, 0));
			if (s != NULL && cJSON_GetArraySize(c.out) > 0)
				printf("%s\n", s);
			free(s);
		} else if (c.t.nrows > 0) {
			rk_cli_table_print(&c.t, stdout, rk_cli_table_term_width());
		}
	}
	if (rc == 0) {
		uint64_t total = c.agree + c.differ + c.incomplete + c.unchecked;
		FILE *o = c.json ? stderr : stdout;
		if (c.differ + c.incomplete + c.unchecked > 0 || !c.json)
			fprintf(o, "%s%" PRIu64 " range%s: %" PRIu64 " agree, %" PRIu64
				" differ, %" PRIu64 " incomplete (a replica did not report), %"
				PRIu64 " not checked\n", c.differ > 0 ? "MISMATCH: " : "",
				total, total == 1 ? "" : "s", c.agree, c.differ, c.incomplete,
				c.unchecked);
		if (c.differ + c.incomplete + c.unchecked > 0)
			rc = RK_CLI_EXIT_ERROR;
	}
	cJSON_Delete(c.out);
	rk_cli_table_free(&c.t);
	return rc;
}
