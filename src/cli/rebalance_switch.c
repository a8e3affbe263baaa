/*
 * `rangekv rebalance pause|resume`: the cluster's rebalance switch (POST
 * /api/v1/rebalance on any node; docs/node.md, "The scheduler's driver").
 * They ask, then wait until the node asked shows the new state (the
 * placement group's leader told it), at most --timeout. `rebalance status`
 * is an inspection verb (rebalance.c: the switch and the operations).
 *
 * Exit statuses (cli.h): 0 done; 1 refused, or not confirmed in time;
 * 2 bad usage; 3 node unreachable.
 */
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "inspect.h"

#define PATH "/api/v1/rebalance"

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rangekv rebalance: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rangekv rebalance --help)\n");
	return RK_CLI_EXIT_USAGE;
}

static void usage(void)
{
	printf("usage: rangekv rebalance pause|resume|status [--http HOST:PORT] [--json]\n"
	       "                         [--timeout SECONDS]\n\n"
	       "The cluster's rebalancing: the placement group's leader moves replicas\n"
	       "by itself (a range short of replicas gets one, a replica on a node dead\n"
	       "longer than --dead-after is re-created elsewhere, replicas spread to a\n"
	       "node that joined) while it is on, the default (a cluster started with\n"
	       "--rebalance off starts paused). Paused, replicas stay where they are\n"
	       "(moves already started finish), except that a decommissioning node is\n"
	       "still drained. The switch is kept in the placement group: it holds for\n"
	       "the whole cluster, through leader changes and restarts.\n\n"
	       "  pause    stop rebalancing (POST /api/v1/rebalance?enabled=false)\n"
	       "  resume   rebalance again (enabled=true)\n"
	       "  status   on or paused, and the operations in flight; --wait\n"
	       "           follows them until the rebalance settles (rangekv\n"
	       "           rebalance status --help)\n\n"
	       "  --http HOST:PORT   any node's HTTP port                [127.0.0.1:7301]\n"
	       "  --json             the API's answer, one line\n"
	       "  --timeout SECONDS  to connect, for the answer, and for pause and\n"
	       "                     resume to be confirmed                      [10]\n"
	       "  --help             this text\n\n"
	       "An admin call: give the node's admin token with $RANGEKV_ADMIN_TOKEN_FILE\n"
	       "when it has one.\n\n"
	       "exit status: 0 done, 1 refused or not confirmed in time, 2 bad usage,\n"
	       "3 node unreachable\n");
}

/* method PATH[query] on http: 0 with *onp the answer's "enabled" and
 * *statusp its status, else an exit status (the reason printed). */
static int ask(const char *http, const char *method, const char *query, int64_t deadline,
	       bool json, bool *onp, int *statusp)
{
	char path[64], err[512];
	struct rk_buf body;
	const cJSON *e;
	cJSON *j;
	int rc;

	*onp = false;
	snprintf(path, sizeof(path), "%s%s", PATH, query);
	rk_buf_init(&body);
	rc = rk_cli_http(http, method, path, deadline, &body, statusp, err, sizeof(err));
	if (rc != 0) {
		rk_buf_free(&body);
		if (rc == RK_EADDR)
			return usage_error("--http: %s", err);
		fprintf(stderr, "rangekv rebalance: %s\n", err);
		return rc == RK_ECONN || rc == RK_ETIMEDOUT ? RK_CLI_EXIT_UNREACHABLE
							    : RK_CLI_EXIT_ERROR;
	}
	j = cJSON_ParseWithLength(body.p != NULL ? body.p : "", body.len);
	e = cJSON_GetObjectItemCaseSensitive(j, "enabled");
	rc = RK_CLI_EXIT_OK;
	if (*statusp < 200 || *statusp > 299 || !cJSON_IsBool(e)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "error");
		fprintf(stderr, "rangekv rebalance: %s (HTTP %d from %s)\n",
			cJSON_IsString(m) ? m->valuestring : "not the API's answer", *statusp, http);
		rc = RK_CLI_EXIT_ERROR;
	} else {
		*onp = cJSON_IsTrue(e);
		if (json)
			printf("%.*s\n", (int)body.len, body.p);
	}
	cJSON_Delete(j);
	rk_buf_free(&body);
	return rc;
}

int rk_cli_rebalance_main(int argc, char **argv)
{
	static const struct option options[] = {
		{"http", required_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	const char *http = "127.0.0.1:7301", *what;
	int64_t timeout_ms = 10000, deadline;
	bool json = false, want, on;
	int opt, rc, status;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "status") == 0)
			return rk_cli_inspect_main(argc, argv); /* rebalance.c */
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			http = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (!rk_cli_parse_timeout(optarg, &timeout_ms))
				return usage_error("--timeout: '%s' is not seconds (up to 86400)",
						   optarg);
			break;
		case 'H':
			usage();
			return RK_CLI_EXIT_OK;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown flag %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return usage_error(optind >= argc ? "expected pause, resume or status"
						  : "unexpected argument '%s'",
				   optind >= argc ? "" : argv[optind + 1]);
	what = argv[optind];
	deadline = rk_cli_now_ms() + timeout_ms;
	if (strcmp(what, "pause") != 0 && strcmp(what, "resume") != 0)
		return usage_error("'%s' is not pause, resume or status", what);
	want = strcmp(what, "resume") == 0;
	rc = ask(http, "POST", want ? "?enabled=true" : "?enabled=false", deadline, json, &on,
		 &status);
	/* 202: asked of the placement group's leader; confirmed once the
	 * node asked is told the new state. */
	while (rc == 0 && status == 202) {
		if (rk_cli_now_ms() >= deadline) {
			fprintf(stderr, "rangekv rebalance: asked; the placement group's leader has "
				"not confirmed it within --timeout\n");
			return RK_CLI_EXIT_ERROR;
		}
		rk_cli_insp_pause_ms(200);
		rc = ask(http, "GET", "", deadline, false, &on, &status);
		if (rc == 0 && on != want)
			status = 202;
	}
	if (rc == 0 && !json)
		printf("rebalancing: %s\n", want ? "on" : "paused");
	return rc;
}
