/*
 * The rangekv binary: `rangekv start` runs a node, `rangekv demo` a local
 * cluster of them, the KV verbs (get, set, ...) talk RESP to a node, and
 * the inspection verbs (nodes, ranges, ...) read its HTTP API.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "node.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rangekv <command> [flags]    (rangekv <command> --help for its flags)\n"
		"\n"
		"nodes:\n"
		"  start     run a node\n"
		"  demo      run a local cluster until Ctrl-C (default 3 nodes, 1024 ranges)\n"
		"\n"
		"keys and values, through a node's RESP port (--addr, default 127.0.0.1:7201):\n");
	rk_cli_kv_summary(out);
	fprintf(out,
		"\n"
		"inspection, through a node's HTTP port (--http, default 127.0.0.1:7301):\n");
	rk_cli_inspect_summary(out);
	fprintf(out,
		"  check     ID|--all: do the replicas of a range hold identical data?\n"
		"  split     KEY: split the range that holds KEY at KEY\n"
		"  merge     LEFT_ID: merge range LEFT_ID and its right neighbour\n"
		"  rebalance pause|resume|status: the cluster's rebalancing\n"
		"\n"
		"  help      this text\n"
		"  version   the version of this build\n"
		"\n"
		"exit status: 0 success (a missing key included), 1 error (an error reply,\n"
		"an unknown range), 2 bad usage, 3 node unreachable\n");
}

static int start(int argc, char **argv)
{
	struct rk_node_config cfg;
	char err[512];
	int rc;

	rc = rk_node_config_parse(argc - 1, argv + 1, &cfg, stdout, err, sizeof(err));
	if (rc == 1)
		return 0; /* --help */
	if (rc != 0) {
		fprintf(stderr, "rangekv start: %s\n", err);
		return 2;
	}
	rk_log_set_level(cfg.log_level);
	rc = rk_node_run(&cfg);
	rk_node_config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return RK_CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return RK_CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("rangekv %s\n", RK_VERSION);
		return RK_CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "start") == 0)
		return start(argc - 1, argv + 1);
	if (strcmp(argv[1], "demo") == 0)
		return rk_cli_demo_main(argc - 1, argv + 1);
	if (rk_cli_kv_is_verb(argv[1]))
		return rk_cli_kv_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return rk_cli_check_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "split") == 0)
		return rk_cli_split_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "merge") == 0)
		return rk_cli_merge_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "rebalance") == 0)
		return rk_cli_rebalance_main(argc - 1, argv + 1);
	if (rk_cli_inspect_is_verb(argv[1]))
		return rk_cli_inspect_main(argc - 1, argv + 1);
	fprintf(stderr, "rangekv: unknown command '%s' (rangekv help lists them)\n", argv[1]);
	return RK_CLI_EXIT_USAGE;
}
