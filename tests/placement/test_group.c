/*
 * The placement group's state machine (placement/group.h) over a real
 * store: the allocator never hands out an id twice, across restarts of
 * the store and across a snapshot installed elsewhere; the index takes a
 * descriptor only if its (generation, conf_version) is higher.
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
	uint64_t applied;
};

static void env_open(struct env *e, uint64_t node)
{
	char err[256];

	assert_int_equal(store_open_at(e->dir, node, 7, &e->s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_reader_open(e->s, &e->r), 0);
}

static void env_close(struct env *e)
{
	rk_store_reader_close(e->r);
	rk_store_close(e->s); /* checkpoints: the placement table is not logged */
}

static void env_init(struct env *e, const char *tag, uint64_t node)
{
	memset(e, 0, sizeof(*e));
	tmpdir_make(e->dir, sizeof(e->dir), tag);
	env_open(e, node);
	rk_pl_sm_init(&e->sm);
}

static void env_free(struct env *e)
{
	env_close(e);
	rk_pl_sm_free(&e->sm);
	tmpdir_remove(e->dir);
}

/* The group's raft and apply state at e->applied (what a snapshot reads). */
static void put_group_state(struct env *e, struct rk_store_batch *b)
{
	struct rk_store_raft_state st;
	struct rk_store_apply_state as;
	struct rk_desc_replica rep = {1, 1, RK_DESC_VOTER};
	struct rk_desc d = {.range_id = RK_RANGE_PLACEMENT, .generation = 1,
			    .conf_version = 1, .next_replica_id = 2, .reps = &rep,
			    .n_reps = 1};
	struct rk_buf blob;

	memset(&st, 0, sizeof(st));
	st.replica_id = 1;
	st.hs.term = 1;
	st.hs.commit = e->applied;
	st.trunc_index = e->applied;
	st.trunc_term = 1;
	st.conf.n = 1;
	st.conf.ids[0] = 1;
	st.conf.flags[0] = RK_RAFT_VOTER;
	rk_buf_init(&blob);
	assert_int_equal(rk_desc_encode(&d, &blob), 0);
	as.applied = e->applied;
	as.desc = blob.p;
	as.desc_len = blob.len;
	rk_store_batch_raft_state(b, RK_RANGE_PLACEMENT, &st);
	rk_store_batch_apply_state(b, RK_RANGE_PLACEMENT, &as);
	rk_buf_free(&blob);
}

/* Applies the commands of cmds[] as one batch (one ready); results in res[]. */
static void apply_batch(struct env *e, struct rk_buf *cmds, size_t n,
			struct rk_pl_result *res)
{
	struct rk_store_batch *b = rk_store_batch_new();

	rk_pl_sm_begin(&e->sm);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rk_pl_sm_apply(&e->sm, e->r, b, (const uint8_t *)cmds[i].p, cmds[i].len,
						&res[i]), 0);
		e->applied++;
	}
	put_group_state(e, b);
	assert_int_equal(rk_store_write(e->s, b), 0);
}

static uint64_t alloc(struct env *e, uint32_t count)
{
	struct rk_buf c;
	struct rk_pl_result res;

	rk_buf_init(&c);
	assert_int_equal(rk_pl_encode_alloc(&c, 3, 42, count), 0);
	apply_batch(e, &c, 1, &res);
	rk_buf_free(&c);
	assert_int_equal(res.rc, 0);
	assert_int_equal(res.origin, 3);
	assert_int_equal(res.token, 42);
	assert_int_equal(res.count, count);
	return res.first;
}

/* Sends e's snapshot of the group to f (as the node's stream does: the
 * file's bytes) and installs it there. */
static void ship_snapshot(struct env *e, struct env *f)
{
	struct rk_store_snap_info info;
	struct rk_store_snap_out *o;
	struct rk_store_batch *b;
	char name[128], path[4200], name2[128];
	uint8_t buf[4096];
	size_t got;
	FILE *fp;

	assert_int_equal(rk_store_snap_generate(e->r, RK_RANGE_PLACEMENT, NULL, 0, NULL, 0,
						name, sizeof(name), &info), 0);
	assert_int_equal(info.index, e->applied);
	assert_int_equal(rk_store_snap_path(e->s, name, path, sizeof(path)), 0);
	assert_int_equal(rk_store_snap_recv_create(f->s, RK_RANGE_PLACEMENT, info.index, &o), 0);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
		assert_int_equal(rk_store_snap_recv_write(o, buf, got), 0);
	fclose(fp);
	assert_int_equal(rk_store_snap_recv_seal(o, name2, sizeof(name2)), 0);
	b = rk_store_batch_new();
	rk_store_batch_install(b, RK_RANGE_PLACEMENT, info.index, name2);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_install_run(f->r, RK_RANGE_PLACEMENT), 0);
	f->applied = info.index;
	rk_store_snap_remove(e->s, name);
}

static void test_alloc_never_repeats(void **state)
{
	struct env e, f;
	struct rk_store_batch *b;
	struct rk_buf cmds[2];
	struct rk_pl_result res[2];
	const void *v;
	size_t vl;
	uint64_t next;

	(void)state;
	env_init(&e, "plg-a", 1);
	/* The first start's state: ranges 1..100 exist. */
	b = rk_store_batch_new();
	rk_pl_write_next(b, 101);
	assert_int_equal(rk_store_write(e.s, b), 0);
	assert_int_equal(alloc(&e, 3), 101);
	/* Two in one ready: the second sees the first (not yet stored). */
	for (int i = 0; i < 2; i++) {
		rk_buf_init(&cmds[i]);
		assert_int_equal(rk_pl_encode_alloc(&cmds[i], 1, (uint64_t)i, 2), 0);
	}
	apply_batch(&e, cmds, 2, res);
	assert_int_equal(res[0].first, 104);
	assert_int_equal(res[1].first, 106);
	/* Restarted: the next id was persisted with the apply state. */
	env_close(&e);
	env_open(&e, 1);
	assert_int_equal(rk_pl_read_next(e.r, &next), 0);
	assert_int_equal(next, 108);
	assert_int_equal(alloc(&e, 1), 108);
	/* A count of 0 or past the bound reserves nothing. */
	rk_buf_reset(&cmds[0]);
	assert_int_equal(rk_pl_encode_alloc(&cmds[0], 1, 9, 0), 0);
	apply_batch(&e, cmds, 1, res);
	assert_int_equal(res[0].rc, RK_EINVAL);
	/* A snapshot installed on another node's store (which holds a user
	 * key: the group's install must leave the key space alone) goes on
	 * from where the group was. */
	env_init(&f, "plg-b", 2);
	b = rk_store_batch_new();
	rk_store_batch_put(b, "user", 4, "kept", 4);
	rk_pl_write_next(b, 2); /* an older state the install replaces */
	assert_int_equal(rk_store_write(f.s, b), 0);
	ship_snapshot(&e, &f);
	assert_int_equal(rk_pl_read_next(f.r, &next), 0);
	assert_int_equal(next, 109);
	assert_int_equal(rk_store_get(f.r, "user", 4, &v, &vl), 0);
	assert_int_equal(vl, 4);
	assert_int_equal(alloc(&f, 10), 109);
	env_close(&f);
	env_open(&f, 2);
	assert_int_equal(alloc(&f, 1), 119);
	for (int i = 0; i < 2; i++)
		rk_buf_free(&cmds[i]);
	env_free(&f);
	env_free(&e);
}

static void test_alloc_exhausted(void **state)
{
	struct env e;
	struct rk_store_batch *b;
	struct rk_buf c;
	struct rk_pl_result res;

	(void)state;
	env_init(&e, "plg-x", 1);
	b = rk_store_batch_new();
	rk_pl_write_next(b, RK_RANGE_RESERVED_FIRST - 2);
	assert_int_equal(rk_store_write(e.s, b), 0);
	rk_buf_init(&c);
	assert_int_equal(rk_pl_encode_alloc(&c, 1, 1, 3), 0);
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.rc, RK_ENOSPC); /* would reach the reserved ids */
	assert_int_equal(alloc(&e, 2), RK_RANGE_RESERVED_FIRST - 2);
	rk_buf_free(&c);
	env_free(&e);
}

static void report_cmd(struct rk_buf *c, const uint64_t (*v)[3], uint32_t n)
{
	struct rk_desc_replica rep = {1, 1, RK_DESC_VOTER};

	rk_buf_reset(c);
	assert_int_equal(rk_pl_encode_report(c, 4, 77, n), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct rk_desc d = {.range_id = v[i][0], .generation = v[i][1],
				    .conf_version = v[i][2], .next_replica_id = 2,
				    .reps = &rep, .n_reps = 1};
		assert_int_equal(rk_pl_encode_report_desc(c, &d), 0);
	}
}

static void expect_indexed(struct env *e, uint64_t range, uint64_t gen, uint64_t conf)
{
	struct rk_desc d;

	memset(&d, 0, sizeof(d));
	assert_int_equal(rk_pl_read_desc(e->r, range, &d), 0);
	assert_int_equal(d.generation, gen);
	assert_int_equal(d.conf_version, conf);
	rk_desc_free(&d);
}

static int count_desc(void *arg, const struct rk_desc *d)
{
	(void)d;
	++*(int *)arg;
	return 0;
}

static void test_index_refuses_stale(void **state)
{
	static const uint64_t first[][3] = {{5, 2, 1}, {6, 1, 1}};
	static const uint64_t older_gen[][3] = {{5, 1, 9}};
	static const uint64_t same[][3] = {{5, 2, 1}};
	static const uint64_t newer_conf[][3] = {{5, 2, 2}};
	static const uint64_t one_ready[][3] = {{5, 3, 1}, {5, 2, 7}, {6, 1, 2}};
	struct env e;
	struct rk_buf c;
	struct rk_pl_result res;
	struct rk_store_batch *b;
	int n = 0;

	(void)state;
	env_init(&e, "plg-i", 1);
	rk_buf_init(&c);
	report_cmd(&c, first, 2);
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.taken, 2);
	assert_int_equal(res.origin, 4);
	assert_int_equal(res.token, 77);
	expect_indexed(&e, 5, 2, 1);
	report_cmd(&c, older_gen, 1); /* a lower generation, whatever its conf */
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.stale, 1);
	report_cmd(&c, same, 1);
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.stale, 1);
	expect_indexed(&e, 5, 2, 1);
	report_cmd(&c, newer_conf, 1);
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.taken, 1);
	expect_indexed(&e, 5, 2, 2);
	/* Within one command (and one ready) the later, older one loses. */
	report_cmd(&c, one_ready, 3);
	apply_batch(&e, &c, 1, &res);
	assert_int_equal(res.taken, 2);
	assert_int_equal(res.stale, 1);
	expect_indexed(&e, 5, 3, 1);
	expect_indexed(&e, 6, 1, 2);
	/* The first start's ranges 1..10 are indexed without a row: their
	 * first-start version (1, 1) stands until a newer one is reported. */
	{
		static const uint64_t initial_same[][3] = {{3, 1, 1}};
		static const uint64_t initial_newer[][3] = {{3, 1, 2}};
		struct rk_desc d;
		uint64_t next;

		b = rk_store_batch_new();
		rk_pl_write_initial(b, 10);
		assert_int_equal(rk_store_write(e.s, b), 0);
		assert_int_equal(rk_pl_read_next(e.r, &next), 0);
		assert_int_equal(next, 11);
		memset(&d, 0, sizeof(d));
		assert_int_equal(rk_pl_read_desc(e.r, 3, &d), RK_ENOTFOUND);
		report_cmd(&c, initial_same, 1);
		apply_batch(&e, &c, 1, &res);
		assert_int_equal(res.stale, 1);
		report_cmd(&c, initial_newer, 1);
		apply_batch(&e, &c, 1, &res);
		assert_int_equal(res.taken, 1);
		expect_indexed(&e, 3, 1, 2);
	}
	/* A malformed report (cut short) is no command and writes nothing. */
	report_cmd(&c, older_gen, 1);
	b = rk_store_batch_new();
	rk_pl_sm_begin(&e.sm);
	assert_int_equal(rk_pl_sm_apply(&e.sm, e.r, b, (const uint8_t *)c.p, c.len - 1, &res), RK_EPROTO);
	assert_true(rk_store_batch_empty(b));
	rk_store_batch_free(b);
	assert_int_equal(rk_pl_walk(e.r, 0, count_desc, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(rk_pl_walk(e.r, 5, count_desc, &n), 0);
	assert_int_equal(n, 1);
	rk_buf_free(&c);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_never_repeats),
		cmocka_unit_test(test_alloc_exhausted),
		cmocka_unit_test(test_index_refuses_stale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
