/*
 * Crash points of tests (crash.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "kv.h"
#include "log.h"
#include "node_int.h"

#ifdef RK_TEST_HOOKS
/* Milliseconds from the environment variable name (with hooks on), at most
 * max; 0 without it. */
static uint64_t env_ms(const char *h, const char *name, long max)
{
	const char *v = getenv(name);
	long ms;

	if (h == NULL || strcmp(h, "1") != 0 || v == NULL || (ms = strtol(v, NULL, 10)) <= 0)
		return 0;
	return (uint64_t)(ms > max ? max : ms);
}

void rk_crash_arm(struct rk_node *n)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS"), *at = getenv("RANGEKV_CRASH_AT");

	if (h != NULL && strcmp(h, "1") == 0 && at != NULL)
		snprintf(n->hooks.crash_at, sizeof(n->hooks.crash_at), "%s", at);
	n->hooks.split_hold_ms = env_ms(h, "RANGEKV_TEST_SPLIT_HOLD_MS", 60000);
	if (n->hooks.split_hold_ms > 0)
		rk_log_warn("node", "test hook: the apply of each split waits %llu ms "
			    "after its commit", (unsigned long long)n->hooks.split_hold_ms);
	n->hooks.merge_hold_ms = env_ms(h, "RANGEKV_TEST_MERGE_HOLD_MS", 60000);
	if (n->hooks.merge_hold_ms > 0)
		rk_log_warn("node", "test hook: the apply of each merge waits %llu ms "
			    "after its commit", (unsigned long long)n->hooks.merge_hold_ms);
	n->hooks.seal_delay_ms = env_ms(h, "RANGEKV_TEST_SNAP_SEAL_MS", 10000);
	if (n->hooks.seal_delay_ms > 0)
		rk_log_warn("node", "test hook: each snapshot received waits %llu ms before "
			    "it is sealed", (unsigned long long)n->hooks.seal_delay_ms);
	at = getenv("RANGEKV_TEST_REPORT_DROP");
	if (h != NULL && strcmp(h, "1") == 0 && at != NULL && strcmp(at, "1") == 0) {
		n->hooks.report_drop = true;
		rk_log_warn("node", "test hook: reports to the placement index are dropped, "
			    "never sent");
	}
	at = getenv("RANGEKV_TEST_MERGE_NO_LEFT_CHECK");
	if (h != NULL && strcmp(h, "1") == 0 && at != NULL && strcmp(at, "1") == 0) {
		n->hooks.merge_no_left_check = true;
		rk_log_warn("node", "test hook: a merge call does not look for a right "
			    "neighbour frozen for a merge into its right range");
	}
	at = getenv("RANGEKV_TEST_SPLIT_RIGHT_BUSY");
	if (h != NULL && strcmp(h, "1") == 0 && at != NULL && strcmp(at, "1") == 0) {
		n->hooks.split_right_busy = true;
		rk_log_warn("node", "test hook: a right half's replica made by a message "
			    "catches up by snapshot");
	}
	at = getenv("RANGEKV_TEST_SPLIT_RIGHT_EARLY");
	if (h != NULL && strcmp(h, "1") == 0 && at != NULL && strcmp(at, "1") == 0) {
		n->hooks.split_right_early = true;
		rk_log_warn("node", "test hook: a right half's message makes its replica "
			    "before the split applies here");
	}
}

void rk_crash_point(const struct rk_node *n, const char *name)
{
	if (n->hooks.crash_at[0] == '\0' ||
	    strcmp(n->hooks.crash_at, name) != 0)
		return;
	rk_log_warn("node", "crash point %s: killing this process (SIGKILL)", name);
	raise(SIGKILL);
}

/* 1 for a command the hooks hold: a SPLIT with split_hold_ms, a MERGE
 * with merge_hold_ms (arg: the hooks). */
static int is_held(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	const struct rk_test_hooks *h = arg;

	(void)no;
	return (c->op == RK_KV_SPLIT && h->split_hold_ms > 0) ||
	       (c->op == RK_KV_MERGE && h->merge_hold_ms > 0);
}

void rk_test_split_hold(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd)
{
	struct rk_test_hooks *h = &n->hooks;
	uint64_t now = uv_now(&n->loop), ts, ms;

	if (h->split_hold_ms == 0 && h->merge_hold_ms == 0)
		return;
	for (size_t i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];

		if (e->type != RK_RAFT_ENTRY_NORMAL || e->len == 0 ||
		    rk_kv_entry_walk(e->data, e->len, &ts, is_held, h) != 1)
			continue;
		ms = h->split_hold_ms > h->merge_hold_ms ? h->split_hold_ms : h->merge_hold_ms;
		if (h->held_range != r->range || h->held_index != e->index) {
			h->held_range = r->range;
			h->held_index = e->index;
			h->held_since_ms = now;
			rk_log_warn("node", "test hook: range %llu holds the apply of its split "
				    "or merge at %llu for %llu ms", (unsigned long long)r->range,
				    (unsigned long long)e->index, (unsigned long long)ms);
		}
		/* Applied up to the split, no further. Not marked dirty: the
		 * replica is awake (its applied index is behind its commit)
		 * and its ticks bring it back without spinning the loop. */
		if (now < h->held_since_ms + ms)
			rd->n_committed = i;
		return;
	}
}

/* Whether the environment has RANGEKV_TEST_HOOKS=1 and name=1. */
static bool hook_on(const char *name)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS");
	const char *d = getenv(name);

	return h != NULL && strcmp(h, "1") == 0 && d != NULL && strcmp(d, "1") == 0;
}

bool rk_test_no_placement(void)
{
	return hook_on("RANGEKV_TEST_NO_PLACEMENT");
}

bool rk_test_join_no_group(void)
{
	return hook_on("RANGEKV_TEST_JOIN_NO_GROUP");
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
