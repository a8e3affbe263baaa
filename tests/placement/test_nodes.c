/*
 * The placement group's node table (placement/group/nodes.h) over a real
 * store: the initial nodes implicit until written, REGISTER refusing a
 * taken id or another node's address (also within one batch), the batched
 * STATS, and the settings row; everything read back after a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "group.h"
#include "../storage/util.h"

struct env {
	char dir[256];
	struct rk_store *s;
	struct rk_store_reader *r;
	struct rk_pl_sm sm;
};

static const struct rk_pl_initial_node initial[] = {
	{3, "127.0.0.1:9003"}, {1, "127.0.0.1:9001"}, {2, "127.0.0.1:9002"}};

static void env_open(struct env *e)
{
	char err[256];

	assert_int_equal(store_open_at(e->dir, 1, 7, &e->s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_reader_open(e->s, &e->r), 0);
}

static void env_close(struct env *e)
{
	rk_store_reader_close(e->r);
	rk_store_close(e->s); /* checkpoints: the placement table is not logged */
}

static void env_init(struct env *e, const char *tag)
{
	memset(e, 0, sizeof(*e));
	tmpdir_make(e->dir, sizeof(e->dir), tag);
	env_open(e);
	rk_pl_sm_init(&e->sm);
	rk_pl_sm_set_initial(&e->sm, initial, 3);
}

static void env_free(struct env *e)
{
	env_close(e);
	rk_pl_sm_free(&e->sm);
	tmpdir_remove(e->dir);
}

/* Applies cmds[] as one batch; each must be a command (rc 0). */
static void apply_batch(struct env *e, struct rk_buf *cmds, size_t n, struct rk_pl_result *res)
{
	struct rk_store_batch *b = rk_store_batch_new();

	rk_pl_sm_begin(&e->sm);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(rk_pl_sm_apply(&e->sm, e->r, b, (const uint8_t *)cmds[i].p,
						cmds[i].len, &res[i]), 0);
	assert_int_equal(rk_store_write(e->s, b), 0);
}

static void reg_cmd(struct rk_buf *c, uint64_t id, const char *peer, const char *client,
		    const char *http)
{
	struct rk_pl_node_rec r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.capacity = 1000 * id;
	strcpy(r.peer, peer);
	strcpy(r.client, client);
	strcpy(r.http, http);
	rk_buf_init(c);
	assert_int_equal(rk_pl_encode_register(c, 9, 100 + id, &r), 0);
}

/* REGISTER of one node, applied alone; its result's rc. */
static int reg(struct env *e, uint64_t id, const char *peer, const char *client,
	       const char *http)
{
	struct rk_pl_result res;
	struct rk_buf c;

	reg_cmd(&c, id, peer, client, http);
	apply_batch(e, &c, 1, &res);
	rk_buf_free(&c);
	assert_int_equal(res.origin, 9);
	assert_int_equal(res.token, 100 + id);
	return res.rc;
}

struct seen {
	uint64_t ids[16];
	bool implicit[16];
	size_t n;
};

static int see(void *arg, const struct rk_pl_node_rec *node)
{
	struct seen *s = arg;

	s->ids[s->n] = node->id;
	s->implicit[s->n++] = node->implicit;
	return 0;
}

static void test_initial_nodes_implicit(void **state)
{
	struct rk_pl_node_rec r;
	struct seen s = {{0}, {0}, 0};
	struct env e;

	(void)state;
	env_init(&e, "plnodes-init");
	assert_int_equal(rk_pl_walk_nodes(&e.sm, e.r, see, &s), 0);
	assert_int_equal(s.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(s.ids[i], i + 1); /* id order */
		assert_true(s.implicit[i]);
	}
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 3, &r), 0);
	assert_string_equal(r.peer, "127.0.0.1:9003");
	assert_string_equal(r.client, "");
	assert_int_equal(r.state, RK_PL_NODE_ACTIVE);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 4, &r), RK_ENOTFOUND);
	env_free(&e);
}

static void test_register(void **state)
{
	struct rk_pl_node_rec r;
	struct seen s = {{0}, {0}, 0};
	struct env e;

	(void)state;
	env_init(&e, "plnodes-reg");
	assert_int_equal(reg(&e, 5, "127.0.0.1:9005", "127.0.0.1:7205", "127.0.0.1:7305"), 0);
	/* Again at the same peer address: accepted, the new addresses taken. */
	assert_int_equal(reg(&e, 5, "127.0.0.1:9005", "127.0.0.1:7215", "127.0.0.1:7305"), 0);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 5, &r), 0);
	assert_string_equal(r.client, "127.0.0.1:7215");
	assert_int_equal(r.capacity, 5000);
	/* A taken id at another address. */
	assert_int_equal(reg(&e, 5, "127.0.0.1:9006", "", ""), RK_EEXIST);
	assert_int_equal(reg(&e, 2, "127.0.0.1:9099", "", ""), RK_EEXIST); /* implicit */
	/* Another node's address: a peer's, a client's, an implicit node's. */
	assert_int_equal(reg(&e, 6, "127.0.0.1:9005", "", ""), RK_EADDRINUSE);
	assert_int_equal(reg(&e, 6, "127.0.0.1:9006", "127.0.0.1:7215", ""), RK_EADDRINUSE);
	assert_int_equal(reg(&e, 6, "127.0.0.1:9001", "", ""), RK_EADDRINUSE);
	assert_int_equal(reg(&e, 0, "127.0.0.1:9000", "", ""), RK_EINVAL);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 6, &r), RK_ENOTFOUND);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 5, &r), 0);
	assert_string_equal(r.peer, "127.0.0.1:9005"); /* the refusals changed nothing */
	/* An initial node gets its row (its client and HTTP addresses). */
	assert_int_equal(reg(&e, 1, "127.0.0.1:9001", "127.0.0.1:7201", "127.0.0.1:7301"), 0);
	env_close(&e);
	env_open(&e); /* all of it durable */
	assert_int_equal(rk_pl_walk_nodes(&e.sm, e.r, see, &s), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.ids[0], 1);
	assert_false(s.implicit[0]);
	assert_int_equal(s.ids[1], 2);
	assert_true(s.implicit[1]);
	assert_int_equal(s.ids[3], 5);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 1, &r), 0);
	assert_string_equal(r.http, "127.0.0.1:7301");
	env_free(&e);
}

/* Two registrations of one address in one batch: the second sees the
 * first (not yet committed). */
static void test_register_within_batch(void **state)
{
	struct rk_pl_result res[2];
	struct rk_buf c[2];
	struct env e;

	(void)state;
	env_init(&e, "plnodes-batch");
	reg_cmd(&c[0], 7, "127.0.0.1:9007", "", "");
	reg_cmd(&c[1], 8, "127.0.0.1:9007", "", "");
	apply_batch(&e, c, 2, res);
	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, RK_EADDRINUSE);
	rk_buf_free(&c[0]);
	rk_buf_free(&c[1]);
	reg_cmd(&c[0], 9, "127.0.0.1:9009", "", "");
	reg_cmd(&c[1], 9, "127.0.0.1:9010", "", "");
	apply_batch(&e, c, 2, res);
	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, RK_EEXIST);
	rk_buf_free(&c[0]);
	rk_buf_free(&c[1]);
	env_free(&e);
}

static void test_stats(void **state)
{
	uint64_t st[RK_PL_NSTATS] = {10, 4, 1 << 20, 7, 8, 1ull << 33};
	struct rk_pl_result res;
	struct rk_pl_node_rec r;
	struct rk_buf c;
	struct env e;

	(void)state;
	env_init(&e, "plnodes-stats");
	assert_int_equal(reg(&e, 5, "127.0.0.1:9005", "127.0.0.1:7205", ""), 0);
	rk_buf_init(&c);
	assert_int_equal(rk_pl_encode_stats(&c, 2, 77, 3, 1234567), 0);
	assert_int_equal(rk_pl_encode_stats_node(&c, 2, 0, st), 0);
	assert_int_equal(rk_pl_encode_stats_node(&c, 5, 99, st), 0);
	assert_int_equal(rk_pl_encode_stats_node(&c, 42, 0, st), 0); /* unknown */
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.taken, 2);
	assert_int_equal(res.stale, 1);
	env_close(&e);
	env_open(&e);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 5, &r), 0);
	assert_int_equal(r.capacity, 99);
	assert_int_equal(r.last_heartbeat_ms, 1234567);
	assert_memory_equal(r.stats, st, sizeof(st));
	assert_string_equal(r.client, "127.0.0.1:7205"); /* addresses kept */
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 2, &r), 0);
	assert_false(r.implicit); /* a row now */
	assert_string_equal(r.peer, "127.0.0.1:9002");
	assert_int_equal(r.stats[RK_PL_STAT_LEADERS], 4);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 42, &r), RK_ENOTFOUND);
	/* Malformed: one byte short, or an entry cut. Nothing written. */
	{
		struct rk_store_batch *b = rk_store_batch_new();
		struct rk_buf reg1;
		rk_pl_sm_begin(&e.sm);
		assert_int_equal(rk_pl_sm_apply(&e.sm, e.r, b, (const uint8_t *)c.p, c.len - 1, &res),
				 RK_EPROTO);
		reg_cmd(&reg1, 6, "127.0.0.1:9006", "", "");
		assert_int_equal(rk_pl_sm_apply(&e.sm, e.r, b, (const uint8_t *)reg1.p, reg1.len - 1,
						&res), RK_EPROTO);
		assert_int_equal(rk_pl_sm_apply(&e.sm, e.r, b, (const uint8_t *)reg1.p, 25, &res),
				 RK_EPROTO);
		assert_int_equal(rk_store_write(e.s, b), 0);
		rk_buf_free(&reg1);
	}
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 6, &r), RK_ENOTFOUND);
	rk_buf_free(&c);
	env_free(&e);
}

/* STATE of one node, applied alone; its result's rc. */
static int set_state(struct env *e, uint64_t id, uint8_t st)
{
	struct rk_pl_result res;
	struct rk_buf c;

	rk_buf_init(&c);
	assert_int_equal(rk_pl_encode_state(&c, 9, 300 + id, id, st), 0);
	apply_batch(e, &c, 1, &res);
	rk_buf_free(&c);
	assert_int_equal(res.token, 300 + id);
	return res.rc;
}

/* Forward one step at a time, the same state again accepted, kept across
 * a restart with the node's addresses and stats. */
static void test_state(void **state)
{
	struct rk_pl_node_rec r;
	struct env e;

	(void)state;
	env_init(&e, "plnodes-state");
	assert_int_equal(reg(&e, 5, "127.0.0.1:9005", "127.0.0.1:7205", ""), 0);
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_DECOMMISSIONED), RK_ESTATE); /* a skip */
	assert_int_equal(set_state(&e, 42, RK_PL_NODE_DECOMMISSIONING), RK_ENOTFOUND);
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_DECOMMISSIONING), 0);
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_DECOMMISSIONING), 0); /* a retry */
	assert_int_equal(set_state(&e, 2, RK_PL_NODE_DECOMMISSIONING), 0); /* implicit */
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_DECOMMISSIONED), 0);
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_DECOMMISSIONING), RK_ESTATE); /* back */
	assert_int_equal(set_state(&e, 5, RK_PL_NODE_ACTIVE), RK_ESTATE);
	assert_int_equal(set_state(&e, 5, 7), RK_ESTATE);
	env_close(&e);
	env_open(&e);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 5, &r), 0);
	assert_int_equal(r.state, RK_PL_NODE_DECOMMISSIONED);
	assert_string_equal(r.client, "127.0.0.1:7205");
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 2, &r), 0);
	assert_int_equal(r.state, RK_PL_NODE_DECOMMISSIONING);
	assert_string_equal(r.peer, "127.0.0.1:9002");
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 1, &r), 0);
	assert_int_equal(r.state, RK_PL_NODE_ACTIVE);
	env_free(&e);
}

/* A decommission the group applies only while the other active nodes
 * are at least the settings' replicas, counted in log order: of two asked
 * in one batch the second is refused (RK_ECONFCHANGE, nothing written);
 * a node that joined makes room for another. Fails with the apply not
 * counting (both decommissions of the batch taken). */
static void test_state_keeps_replicas(void **state)
{
	struct rk_store_batch *b;
	struct rk_pl_node_rec r;
	struct rk_pl_result res[2];
	struct rk_buf c[2];
	struct env e;

	(void)state;
	env_init(&e, "plnodes-staterep");
	b = rk_store_batch_new();
	rk_pl_write_settings(b, "dead_after=300000\nreplicas=3\n", 29);
	assert_int_equal(rk_store_write(e.s, b), 0);
	assert_int_equal(reg(&e, 4, "127.0.0.1:9004", "127.0.0.1:7204", ""), 0);
	/* Four active: 2 and 3 asked at once; 3 would leave 2 of 3. */
	for (int i = 0; i < 2; i++) {
		rk_buf_init(&c[i]);
		assert_int_equal(rk_pl_encode_state(&c[i], 9, 302 + (uint64_t)i, 2 + (uint64_t)i,
						    RK_PL_NODE_DECOMMISSIONING), 0);
	}
	apply_batch(&e, c, 2, res);
	assert_int_equal(res[0].rc, 0);
	assert_int_equal(res[1].rc, RK_ECONFCHANGE);
	assert_int_equal(rk_pl_read_node(&e.sm, e.r, 3, &r), 0);
	assert_int_equal(r.state, RK_PL_NODE_ACTIVE);
	assert_int_equal(set_state(&e, 1, RK_PL_NODE_DECOMMISSIONING), RK_ECONFCHANGE);
	assert_int_equal(set_state(&e, 2, RK_PL_NODE_DECOMMISSIONING), 0); /* a retry */
	assert_int_equal(set_state(&e, 2, RK_PL_NODE_DECOMMISSIONED), 0);
	assert_int_equal(reg(&e, 5, "127.0.0.1:9005", "127.0.0.1:7205", ""), 0);
	assert_int_equal(set_state(&e, 3, RK_PL_NODE_DECOMMISSIONING), 0);
	for (int i = 0; i < 2; i++)
		rk_buf_free(&c[i]);
	env_free(&e);
}

static void test_settings_row(void **state)
{
	struct rk_store_batch *b;
	struct rk_buf t;
	struct env e;

	(void)state;
	env_init(&e, "plnodes-set");
	rk_buf_init(&t);
	assert_int_equal(rk_pl_read_settings(e.r, &t), RK_ENOTFOUND);
	b = rk_store_batch_new();
	rk_pl_write_settings(b, "replicas=3\n", 11);
	assert_int_equal(rk_store_write(e.s, b), 0);
	assert_int_equal(rk_pl_read_settings(e.r, &t), 0);
	assert_int_equal(t.len, 11);
	assert_memory_equal(t.p, "replicas=3\n", 11);
	rk_buf_free(&t);
	env_free(&e);
}

/* REBALANCE writes the switch (no row before: the first-start setting
 * stands), kept across a restart; a byte other than 0 or 1 is not a
 * command. */
static void test_rebalance_switch(void **state)
{
	struct rk_store_batch *b;
	struct rk_pl_result res;
	struct rk_buf c;
	struct env e;
	bool on;

	(void)state;
	env_init(&e, "plnodes-rebalance");
	assert_int_equal(rk_pl_read_rebalance(e.r, &on), RK_ENOTFOUND);
	for (int i = 0; i < 3; i++) { /* off, off again (a retry), on */
		rk_buf_init(&c);
		assert_int_equal(rk_pl_encode_rebalance(&c, 9, 500 + (uint64_t)i, i == 2), 0);
		apply_batch(&e, &c, 1, &res);
		rk_buf_free(&c);
		assert_int_equal(res.rc, 0);
		assert_int_equal(res.token, 500 + i);
		assert_int_equal(rk_pl_read_rebalance(e.r, &on), 0);
		assert_int_equal(on, i == 2);
	}
	rk_buf_init(&c);
	assert_int_equal(rk_pl_encode_rebalance(&c, 9, 600, false), 0);
	((uint8_t *)c.p)[c.len - 1] = 2;
	b = rk_store_batch_new();
	rk_pl_sm_begin(&e.sm);
	assert_int_equal(rk_pl_sm_apply(&e.sm, e.r, b, (const uint8_t *)c.p, c.len, &res),
			 RK_EPROTO);
	assert_int_equal(rk_store_write(e.s, b), 0);
	rk_buf_free(&c);
	env_close(&e);
	env_open(&e);
	assert_int_equal(rk_pl_read_rebalance(e.r, &on), 0);
	assert_true(on);
	env_free(&e);
}

/* A heartbeat round trip; anything else is refused. */
static void test_heartbeat_message(void **state)
{
	struct rk_pl_node_rec a, b;
	struct rk_buf m;
	size_t rest;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.id = 4;
	a.capacity = 77;
	strcpy(a.peer, "127.0.0.4:9004");
	strcpy(a.http, "127.0.0.4:7304");
	for (int k = 0; k < RK_PL_NSTATS; k++)
		a.stats[k] = 1000 + (uint64_t)k;
	rk_buf_init(&m);
	assert_int_equal(rk_pl_encode_heartbeat(&m, 4, 5, &a), 0);
	assert_int_equal(rk_pl_decode_heartbeat((const uint8_t *)m.p, m.len, &b, &rest), 0);
	assert_int_equal(rest, m.len);
	assert_int_equal(b.id, 4);
	assert_int_equal(b.capacity, 77);
	assert_string_equal(b.peer, a.peer);
	assert_string_equal(b.client, "");
	assert_string_equal(b.http, a.http);
	assert_memory_equal(b.stats, a.stats, sizeof(a.stats));
	assert_int_equal(rk_pl_decode_heartbeat((const uint8_t *)m.p, m.len - 1, &b, &rest), RK_EPROTO);
	m.p[0] = RK_PL_CMD_REGISTER;
	assert_int_equal(rk_pl_decode_heartbeat((const uint8_t *)m.p, m.len, &b, &rest), RK_EPROTO);
	rk_buf_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_nodes_implicit),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_register_within_batch),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_state_keeps_replicas),
		cmocka_unit_test(test_settings_row),
		cmocka_unit_test(test_rebalance_switch),
		cmocka_unit_test(test_heartbeat_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
