/*
 * `rangekv merge LEFT_ID`: merges range LEFT_ID and its right neighbour
 * into LEFT_ID (POST /api/v1/merge?left=LEFT_ID on the left range's
 * leader; docs/contract.md, docs/node.md "Range merge"). The runner is
 * split's (rk_cli_call_main): the same flags, leader search and exit
 * statuses.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void usage(void)
{
	printf("usage: rangekv merge LEFT_ID [--http HOST:PORT]... [--json] [--timeout SECONDS]\n\n"
	       "Merges range LEFT_ID and the range that starts where it ends (its right\n"
	       "neighbour) into LEFT_ID, which then spans both; the right range's id is\n"
	       "gone. Both must have replicas on the same nodes with the same roles,\n"
	       "and no membership change or split under way. The call is made on the\n"
	       "left range's leader, to which the right range's leadership is moved\n"
	       "first when another node has it. The right range is frozen by a command\n"
	       "in its raft log, then merged by one in the left's; answered once the\n"
	       "left's leader applied it.\n\n"
	       "  --http HOST:PORT   a node's HTTP port; repeat it to name several: the\n"
	       "                     call is made on the left range's leader if one of\n"
	       "                     them is it                       [127.0.0.1:7301]\n"
	       "  --json             the API's answer as JSON, one line\n"
	       "  --timeout SECONDS  to connect, and for the answer; a refusal that\n"
	       "                     says \"retry in a moment\" (a leader that just took\n"
	       "                     over) is asked again every 0.2 s until it  [10]\n"
	       "  --help             this text\n\n"
	       "exit status: 0 merged, 1 refused or failed (with the node's reason),\n"
	       "2 bad usage, 3 node unreachable\n");
}

static bool merge_path(const char *arg, struct rk_buf *path)
{
	char *end;
	unsigned long long id;

	if (arg[0] < '0' || arg[0] > '9')
		return false;
	id = strtoull(arg, &end, 10);
	if (*end != '\0' || id == 0 || id == ULLONG_MAX)
		return false;
	rk_buf_printf(path, "/api/v1/merge?left=%llu", id);
	return true;
}

static void merge_print(const cJSON *j)
{
	const cJSON *gone = cJSON_GetObjectItemCaseSensitive(j, "removed");

	rk_cli_print_range("merged", cJSON_GetObjectItemCaseSensitive(j, "range"));
	if (cJSON_IsNumber(gone))
		printf("range %.0f is gone\n", gone->valuedouble);
}

int rk_cli_merge_main(int argc, char **argv)
{
	static const struct rk_cli_call call = {
		"merge", "LEFT_ID", "a range id", usage, merge_path, merge_print};

	return rk_cli_call_main(&call, argc, argv);
}
