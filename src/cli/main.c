/*
 * The rangekv binary: `rangekv start` runs a node. (The KV verbs, the
 * inspection commands and `demo` arrive with the client service.)
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "node.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: rangekv <command> [flags]\n"
		"\n"
		"commands:\n"
		"  start     run a node (rangekv start --help lists its flags)\n"
		"  help      this text\n"
		"  version   the version of this build\n"
		"\n"
		"exit status: 0 success, 1 error, 2 bad usage\n");
}

int main(int argc, char **argv)
{
	struct rk_node_config cfg;
	char err[512];
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("rangekv %s\n", RK_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "start") != 0) {
		fprintf(stderr, "rangekv: unknown command '%s' (rangekv help lists them)\n",
			argv[1]);
		return 2;
	}
	rc = rk_node_config_parse(argc - 2, argv + 2, &cfg, stdout, err, sizeof(err));
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
