/*
 * The formatting of the placement operations' verbs (src/cli/rebalance.c):
 * the rows `rangekv rebalance status` makes of GET /api/v1/operations
 * (moves with and without snapshot figures, a split, a merge), and the
 * progress line of `rangekv decommission --wait` (ranges moved of those
 * the node held when the wait began, bytes sent and their rate, the
 * time left; the snapshot figures missing). Against a fake node:
 * `rebalance status` asks GET /api/v1/operations and prints its figures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "inspect.h"

static const char *cell(const struct rk_cli_table *t, size_t row, size_t col)
{
	return t->cells[row * t->ncols + col] != NULL ? t->cells[row * t->ncols + col] : "";
}

static void test_ops_table(void **state)
{
	static const char answer[] =
		"{\"node_id\":1,\"operations\":["
		"{\"type\":\"move\",\"range\":7,\"from\":2,\"to\":4,\"step\":\"snapshot\","
		"\"reason\":\"drain\",\"snapshot_sent\":1048576,\"snapshot_size\":4194304,"
		"\"age_ms\":3200},"
		"{\"type\":\"move\",\"range\":9,\"from\":null,\"to\":3,\"step\":\"learner\","
		"\"reason\":\"short\",\"snapshot_sent\":0,\"snapshot_size\":null,\"age_ms\":40},"
		"{\"type\":\"split\",\"range\":11,\"node\":1,\"step\":\"proposed\",\"age_ms\":5},"
		"{\"type\":\"merge\",\"range\":12,\"right\":13,\"node\":1,\"step\":\"freeze\","
		"\"age_ms\":7}],\"moves_in_flight\":2}";
	struct rk_cli_table t;
	cJSON *j = cJSON_Parse(answer);

	(void)state;
	assert_non_null(j);
	rk_cli_ops_table(&t, j);
	assert_false(t.oom);
	assert_int_equal(t.nrows, 4);
	assert_string_equal(cell(&t, 0, 0), "move");
	assert_string_equal(cell(&t, 0, 1), "7");
	assert_string_equal(cell(&t, 0, 2), "2");
	assert_string_equal(cell(&t, 0, 3), "4");
	assert_string_equal(cell(&t, 0, 4), "snapshot");
	assert_string_equal(cell(&t, 0, 5), "1.0 MiB/4.0 MiB");
	assert_string_equal(cell(&t, 0, 6), "3.2 s");
	assert_string_equal(cell(&t, 0, 7), "drain");
	assert_string_equal(cell(&t, 1, 2), "-"); /* from not known */
	assert_string_equal(cell(&t, 1, 5), "-"); /* no snapshot figures */
	assert_string_equal(cell(&t, 2, 0), "split");
	assert_string_equal(cell(&t, 2, 2), "1");
	assert_string_equal(cell(&t, 2, 3), "-");
	assert_string_equal(cell(&t, 3, 1), "12+13");
	assert_string_equal(cell(&t, 3, 4), "freeze");
	rk_cli_table_free(&t);
	cJSON_Delete(j);
}

static void test_drain_line(void **state)
{
	struct rk_cli_drain d;
	char line[256];

	(void)state;
	rk_cli_drain_take(&d, true, 20, 1000, 10000);
	rk_cli_drain_line(line, sizeof(line), "node 2: decommissioning", "ranges", &d);
	assert_string_equal(line, "node 2: decommissioning, 0 of 20 ranges moved, 20 ranges "
			    "left, 0 B sent (0 B/s), time left not known yet");
	/* A learner added counts a replica more for a moment: the most seen
	 * is what there is to move. */
	rk_cli_drain_take(&d, false, 21, 1000, 11000);
	rk_cli_drain_take(&d, false, 11, 1000 + 10 * 1048576, 20000);
	rk_cli_drain_line(line, sizeof(line), "node 2: decommissioning", "ranges", &d);
	assert_string_equal(line, "node 2: decommissioning, 10 of 21 ranges moved, 11 ranges "
			    "left, 10.0 MiB sent (1.0 MiB/s), about 11 s left");
	rk_cli_drain_take(&d, false, 0, 1000 + 10 * 1048576, 30000);
	rk_cli_drain_line(line, sizeof(line), "node 2: decommissioned", "ranges", &d);
	assert_string_equal(line, "node 2: decommissioned, 21 of 21 ranges moved, 0 ranges "
			    "left, 10.0 MiB sent (512.0 KiB/s), done in 20 s");
	/* The placement leader could not say what was sent. */
	rk_cli_drain_take(&d, true, 5, -1, 0);
	rk_cli_drain_take(&d, false, 5, -1, 1000);
	rk_cli_drain_line(line, sizeof(line), "node 7: decommissioning", "ranges", &d);
	assert_string_equal(line, "node 7: decommissioning, 0 of 5 ranges moved, 5 ranges left, "
			    "time left not known yet");
}

/* One GET /api/v1/operations answer: rebalance "on" unless paused, the
 * moves in flight and started, ranges short of voters, and nodes as
 * (state, replicas) pairs. */
static cJSON *ops_answer(bool paused, int in_flight, int started, int short_ranges,
			 int n, const char *const *states, const int *replicas)
{
	char buf[1024];
	int k;

	k = snprintf(buf, sizeof(buf),
		     "{\"rebalance\":\"%s\",\"operations\":[],\"moves_in_flight\":%d,"
		     "\"moves_started\":%d,\"snapshot_bytes_sent\":0,"
		     "\"under_replicated_ranges\":%d,\"nodes\":[",
		     paused ? "paused" : "on", in_flight, started, short_ranges);
	for (int i = 0; i < n; i++)
		k += snprintf(buf + k, sizeof(buf) - (size_t)k,
			      "%s{\"id\":%d,\"state\":\"%s\",\"replicas\":%d}", i ? "," : "",
			      i + 1, states[i], replicas[i]);
	snprintf(buf + k, sizeof(buf) - (size_t)k, "]}");
	return cJSON_Parse(buf);
}

/* rk_cli_rebal_read of ops_answer(...). */
static void rebal(struct rk_cli_rebal *bp, bool paused, int in_flight, int started,
		  int short_ranges, int n, const char *const *states, const int *replicas)
{
	cJSON *j = ops_answer(paused, in_flight, started, short_ranges, n, states, replicas);

	assert_non_null(j);
	rk_cli_rebal_read(j, bp);
	cJSON_Delete(j);
}

/* What `rebalance status --wait` reads: a node that joined (72 replicas
 * over 4 nodes, mean 18) lacks 18, then fewer; settled within the band
 * with nothing in flight (not while a move is in flight, nor with a
 * range short of voters, nor with a decommissioning node holding one);
 * the fewest node; paused. */
static void test_rebal_read(void **state)
{
	static const char *const live4[] = {"live", "live", "live", "live"};
	static const char *const drain[] = {"live", "live", "live", "decommissioning"};
	struct rk_cli_rebal b;

	(void)state;
	rebal(&b, false, 0, 0, 0, 4, live4, (const int[]){24, 24, 24, 0});
	assert_false(b.paused);
	assert_false(b.settled);
	assert_true(b.mean == 18);
	assert_true(b.left == 18);
	assert_true(b.fewest_node == 4 && b.fewest == 0);
	/* Two moves in flight, node 4 at 10: 8 left. */
	rebal(&b, false, 2, 12, 0, 4, live4, (const int[]){21, 20, 21, 10});
	assert_false(b.settled);
	assert_true(b.left == 8);
	assert_true(b.in_flight == 2 && b.started == 12);
	/* In the band (17 to 19 is within 1.8 of 18), one move in flight:
	 * not settled, at least that move left. */
	rebal(&b, false, 1, 20, 0, 4, live4, (const int[]){19, 18, 18, 17});
	assert_false(b.settled);
	assert_true(b.left == 1);
	rebal(&b, false, 0, 20, 0, 4, live4, (const int[]){19, 18, 18, 17});
	assert_true(b.settled);
	assert_true(b.left == 0);
	/* Out of the band (16 < 18 - 1.8), nothing in flight: not settled. */
	rebal(&b, false, 0, 20, 0, 4, live4, (const int[]){20, 18, 18, 16});
	assert_false(b.settled);
	assert_true(b.left == 2);
	/* A range short of voters. */
	rebal(&b, false, 0, 20, 1, 4, live4, (const int[]){18, 18, 18, 18});
	assert_false(b.settled);
	assert_true(b.left == 1);
	/* A decommissioning node still holding 5: its replicas are left
	 * (the mean is the live nodes'). */
	rebal(&b, false, 0, 20, 0, 4, drain, (const int[]){23, 22, 22, 5});
	assert_false(b.settled);
	assert_true(b.left == 5);
	assert_true(b.fewest_node == 2 && b.fewest == 22);
	rebal(&b, true, 0, 20, 0, 4, live4, (const int[]){24, 24, 24, 0});
	assert_true(b.paused);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_drain_line),
		cmocka_unit_test(test_rebal_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
