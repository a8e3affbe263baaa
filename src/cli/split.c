/*
 * `rangekv split KEY`: splits the range that holds KEY at KEY (POST
 * /api/v1/split?key=KEY on the range's leader; docs/contract.md), and
 * the runner the range calls share (rk_cli_call_main, cli.h).
 *
 * The call must reach the range's leader. A node that is not answers 409
 * (or 404 when it holds no replica) with the leader's node id when it
 * knows it; the CLI then tries the other --http given (the flag may
 * repeat), each once. A refusal that says "retry in a moment" (409 or
 * 503: a leader that took over a moment ago and has not applied its log,
 * a leadership transfer under way) is asked of the same node again every
 * RETRY_MS until --timeout: the node answers at once rather than hold
 * the call, and the wait is a few milliseconds.
 *
 * Exit statuses (cli.h): 0 split (both ranges printed); 1 refused or
 * failed (the node's reason printed); 2 bad usage; 3 no node answered.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "inspect.h"
#include "key.h"

#define MAX_HTTP 16
/* A refusal that says to retry (409 or 503 "... retry in a moment": a
 * leader that took over a moment ago, a transfer under way) is asked
 * again this often until --timeout. */
#define RETRY_MS 200

static bool transient(int status, const cJSON *j)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	return (status == 409 || status == 503) && cJSON_IsString(e) &&
	       strstr(e->valuestring, "retry in a moment") != NULL;
}

static int usage_error(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rangekv %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rangekv %s --help)\n", verb);
	return RK_CLI_EXIT_USAGE;
}

static void usage(void)
{
	printf("usage: rangekv split KEY [--http HOST:PORT]... [--json] [--timeout SECONDS]\n\n"
	       "Splits the range that holds KEY into two at KEY: the left keeps its id\n"
	       "and ends before KEY, a new range (a new id) starts at KEY, with replicas\n"
	       "on the same nodes. The split is a command in the range's raft log;\n"
	       "answered once the leader applied it. KEY may hold \\xNN for any byte;\n"
	       "a key that is already a range's start is refused.\n\n"
	       "  --http HOST:PORT   a node's HTTP port; repeat it to name several: the\n"
	       "                     call is made on the range's leader if one of them\n"
	       "                     is it                            [127.0.0.1:7301]\n"
	       "  --json             the API's answer as JSON, one line\n"
	       "  --timeout SECONDS  to connect, and for the answer; a refusal that\n"
	       "                     says \"retry in a moment\" (a leader that just took\n"
	       "                     over) is asked again every 0.2 s until it  [10]\n"
	       "  --help             this text\n\n"
	       "exit status: 0 split, 1 refused or failed (with the node's reason),\n"
	       "2 bad usage, 3 node unreachable\n");
}

void rk_cli_print_range(const char *side, const cJSON *r)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "start");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "end");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(r, "generation");

	printf("%-5s range %.0f [%s, %s) generation %.0f\n", side,
	       cJSON_IsNumber(id) ? id->valuedouble : 0.0,
	       cJSON_IsString(s) ? s->valuestring : "?",
	       cJSON_IsString(e) && e->valuestring[0] != '\0' ? e->valuestring : "end",
	       cJSON_IsNumber(g) ? g->valuedouble : 0.0);
}

int rk_cli_call_main(const struct rk_cli_call *call, int argc, char **argv)
{
	static const struct option options[] = {
		{"http", required_argument, NULL, 'h'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	const char *http[MAX_HTTP], *verb = call->verb;
	size_t nhttp = 0;
	int64_t timeout_ms = 10000;
	bool json = false, reached = false;
	struct rk_buf path, body;
	int opt, rc = RK_CLI_EXIT_ERROR;
	int64_t deadline;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			if (nhttp == MAX_HTTP)
				return usage_error(verb, "at most %d --http", MAX_HTTP);
			http[nhttp++] = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (!rk_cli_parse_timeout(optarg, &timeout_ms))
				return usage_error(verb, "--timeout: '%s' is not seconds (up to 86400)",
						   optarg);
			break;
		case 'H':
			call->usage();
			return RK_CLI_EXIT_OK;
		case ':':
			return usage_error(verb, "%s needs a value", argv[optind - 1]);
		default:
			return usage_error(verb, "unknown flag %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return usage_error(verb, optind >= argc ? "expected %s%s" : "unexpected argument '%s'%s",
				   optind >= argc ? call->arg : argv[optind + 1], "");
	if (nhttp == 0)
		http[nhttp++] = "127.0.0.1:7301";
	rk_buf_init(&path);
	if (!call->path(argv[optind], &path)) {
		rk_buf_free(&path);
		return usage_error(verb, "'%s' is not %s", argv[optind], call->what);
	}
	rk_buf_cstr(&path);
	deadline = rk_cli_now_ms() + timeout_ms;
	for (size_t i = 0; i < nhttp; i++) {
		char err[512];
		int status = 0;
		cJSON *j;

		rk_buf_init(&body);
		if (rk_cli_http(http[i], "POST", path.p, rk_cli_now_ms() + timeout_ms, &body,
				&status, err, sizeof(err)) != 0) {
			fprintf(stderr, "rangekv %s: %s\n", verb, err);
			rk_buf_free(&body);
			continue;
		}
		reached = true;
		j = cJSON_ParseWithLength(body.p != NULL ? body.p : "", body.len);
		if (transient(status, j) && rk_cli_now_ms() + RETRY_MS < deadline) {
			cJSON_Delete(j); /* the node says to ask again in a moment */
			rk_buf_free(&body);
			rk_cli_insp_pause_ms(RETRY_MS);
			i--;
			continue;
		}
		if ((status == 409 || status == 404) && i + 1 < nhttp &&
		    cJSON_GetObjectItemCaseSensitive(j, "leader") != NULL) {
			cJSON_Delete(j); /* not the leader: the next --http */
			rk_buf_free(&body);
			continue;
		}
		if (json) {
			printf("%.*s\n", (int)body.len, body.p != NULL ? body.p : "");
		} else if (status == 200 && j != NULL) {
			call->print(j);
		} else {
			const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
			const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "leader");
			fprintf(stderr, "rangekv %s: %s (HTTP %d)", verb,
				cJSON_IsString(e) ? e->valuestring : "refused", status);
			if (cJSON_IsNumber(l))
				fprintf(stderr, "; the range's leader is node %.0f", l->valuedouble);
			fprintf(stderr, "\n");
		}
		rc = status == 200 ? RK_CLI_EXIT_OK : RK_CLI_EXIT_ERROR;
		cJSON_Delete(j);
		rk_buf_free(&body);
		break;
	}
	rk_buf_free(&path);
	return reached ? rc : RK_CLI_EXIT_UNREACHABLE;
}

/* /api/v1/split?key=K, the key percent-encoded. */
static bool split_path(const char *arg, struct rk_buf *path)
{
	struct rk_buf key;

	rk_buf_init(&key);
	if (rk_key_unescape(arg, strlen(arg), &key) != 0 || key.len == 0) {
		rk_buf_free(&key);
		return false;
	}
	rk_buf_printf(path, "/api/v1/split?key=");
	for (size_t i = 0; i < key.len; i++) {
		unsigned char c = (unsigned char)key.p[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			rk_buf_append(path, &c, 1);
		else
			rk_buf_printf(path, "%%%02X", c);
	}
	rk_buf_free(&key);
	return true;
}

static void split_print(const cJSON *j)
{
	rk_cli_print_range("left", cJSON_GetObjectItemCaseSensitive(j, "left"));
	rk_cli_print_range("right", cJSON_GetObjectItemCaseSensitive(j, "right"));
}

int rk_cli_split_main(int argc, char **argv)
{
	static const struct rk_cli_call call = {
		"split", "KEY", "a key (non-empty; \\xNN for a byte)", usage, split_path,
		split_print};

	return rk_cli_call_main(&call, argc, argv);
}
