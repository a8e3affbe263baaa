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
	rk_cli_drain_line(line, sizeof(line), 2, "decommissioning", &d);
	assert_string_equal(line, "node 2: decommissioning, 0 of 20 ranges moved, 20 ranges "
			    "left, 0 B sent (0 B/s), time left not known yet");
	/* A learner added counts a replica more for a moment: the most seen
	 * is what there is to move. */
	rk_cli_drain_take(&d, false, 21, 1000, 11000);
	rk_cli_drain_take(&d, false, 11, 1000 + 10 * 1048576, 20000);
	rk_cli_drain_line(line, sizeof(line), 2, "decommissioning", &d);
	assert_string_equal(line, "node 2: decommissioning, 10 of 21 ranges moved, 11 ranges "
			    "left, 10.0 MiB sent (1.0 MiB/s), about 11 s left");
	rk_cli_drain_take(&d, false, 0, 1000 + 10 * 1048576, 30000);
	rk_cli_drain_line(line, sizeof(line), 2, "decommissioned", &d);
	assert_string_equal(line, "node 2: decommissioned, 21 of 21 ranges moved, 0 ranges "
			    "left, 10.0 MiB sent (512.0 KiB/s), done in 20 s");
	/* The placement leader could not say what was sent. */
	rk_cli_drain_take(&d, true, 5, -1, 0);
	rk_cli_drain_take(&d, false, 5, -1, 1000);
	rk_cli_drain_line(line, sizeof(line), 7, "decommissioning", &d);
	assert_string_equal(line, "node 7: decommissioning, 0 of 5 ranges moved, 5 ranges left, "
			    "time left not known yet");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_drain_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
