/*
 * Crash points of tests (crash.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "log.h"
#include "node_int.h"

#ifdef RK_TEST_HOOKS
void rk_crash_arm(struct rk_node *n)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS"), *at = getenv("RANGEKV_CRASH_AT");

	if (h != NULL && strcmp(h, "1") == 0 && at != NULL)
		snprintf(n->hooks.crash_at, sizeof(n->hooks.crash_at), "%s", at);
}

void rk_crash_point(const struct rk_node *n, const char *name)
{
	if (n->hooks.crash_at[0] == '\0' ||
	    strcmp(n->hooks.crash_at, name) != 0)
		return;
	rk_log_warn("node", "crash point %s: killing this process (SIGKILL)", name);
	raise(SIGKILL);
}

bool rk_test_no_placement(void)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS");
	const char *d = getenv("RANGEKV_TEST_NO_PLACEMENT");

	return h != NULL && strcmp(h, "1") == 0 && d != NULL && strcmp(d, "1") == 0;
}

unsigned rk_test_store_delay_ms(void)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS");
	const char *d = getenv("RANGEKV_TEST_STORE_DELAY_MS");
	long ms;

	if (h == NULL || strcmp(h, "1") != 0 || d == NULL)
		return 0;
	ms = strtol(d, NULL, 10);
	if (ms <= 0)
		return 0;
	ms = ms > 10000 ? 10000 : ms;
	rk_log_warn("node", "test hook: the store waits %ld ms before each group commit", ms);
	return (unsigned)ms;
}
#endif
