/*
 * The storage layer against real WiredTiger in temporary directories: each
 * operation, the refusal of foreign data directories, snapshots of a span
 * while writes continue, and snapshot install over existing data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <unistd.h>

#include "store_int.h" /* the on-disk decoders, fed garbage below */
#include "util.h"

static int setup(void **state)
{
	return store_fx_setup(state, "store");
}

static int teardown(void **state)
{
	return store_fx_teardown(state);
}

static void reopen(struct store_fx *f)
{
	char err[256];

	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	assert_int_equal(store_open_at(f->dir, 1, 77, &f->s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_reader_open(f->s, &f->r), 0);
}

static void fill_append(struct rk_store_batch *b, uint64_t range, uint64_t lo,
			uint64_t hi, uint64_t term)
{
	struct rk_raft_entry e[64];
	char data[64][16];
	size_t n = 0;

	for (uint64_t i = lo; i <= hi; i++, n++) {
		assert_true(n < 64);
		snprintf(data[n], sizeof(data[n]), "e%llu.%llu",
			 (unsigned long long)i, (unsigned long long)term);
		e[n].index = i;
		e[n].term = term;
		e[n].type = 0;
		e[n].data = (const uint8_t *)data[n];
		e[n].len = (uint32_t)strlen(data[n]);
	}
	rk_store_batch_append(b, range, e, n);
}

static void append(struct store_fx *f, uint64_t range, uint64_t lo, uint64_t hi,
		   uint64_t term)
{
	struct rk_store_batch *b = rk_store_batch_new();

	fill_append(b, range, lo, hi, term);
	assert_int_equal(rk_store_write(f->s, b), 0);
}

struct collected {
	uint64_t idx[256], term[256];
	char data[256][16];
	size_t n;
};

static int collect_entry(void *arg, const struct rk_raft_entry *e)
{
	struct collected *c = arg;

	c->idx[c->n] = e->index;
	c->term[c->n] = e->term;
	memcpy(c->data[c->n], e->data, e->len);
	c->data[c->n][e->len] = '\0';
	c->n++;
	return 0;
}

static void test_log_append_read(void **state)
{
	struct store_fx *f = *state;
	struct collected c = {0};
	uint64_t last, term;

	append(f, 7, 1, 10, 2);
	append(f, 8, 1, 3, 5); /* another range beside it */
	assert_int_equal(rk_store_log_last(f->r, 7, 0, &last), 0);
	assert_int_equal(last, 10);
	assert_int_equal(rk_store_log_last(f->r, 8, 0, &last), 0);
	assert_int_equal(last, 3);
	assert_int_equal(rk_store_log_last(f->r, 9, 4, &last), 0);
	assert_int_equal(last, 4); /* empty log: the truncation point */
	assert_int_equal(rk_store_log_term(f->r, 7, 4, &term), 0);
	assert_int_equal(term, 2);
	assert_int_equal(rk_store_log_term(f->r, 7, 11, &term), RK_EUNAVAILABLE);
	assert_int_equal(rk_store_log_entries(f->r, 7, 3, 7, collect_entry, &c), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.idx[0], 3);
	assert_string_equal(c.data[3], "e6.2");
	/* Past the end: what exists is delivered, then the hole is reported. */
	c.n = 0;
	assert_int_equal(rk_store_log_entries(f->r, 7, 9, 12, collect_entry, &c),
			 RK_EUNAVAILABLE);
	assert_int_equal(c.n, 2);
	/* Durable across a restart. */
	reopen(f);
	assert_int_equal(rk_store_log_last(f->r, 7, 0, &last), 0);
	assert_int_equal(last, 10);
}

static void test_truncate_then_append(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b;
	struct collected c = {0};
	uint64_t last;

	append(f, 7, 1, 10, 2);
	/* A conflicting append from 6: 6..10 of term 2 go, in one batch. */
	b = rk_store_batch_new();
	rk_store_batch_truncate(b, 7, 6);
	fill_append(b, 7, 6, 7, 3);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_log_last(f->r, 7, 0, &last), 0);
	assert_int_equal(last, 7);
	assert_int_equal(rk_store_log_entries(f->r, 7, 1, 8, collect_entry, &c), 0);
	assert_int_equal(c.n, 7);
	assert_int_equal(c.term[4], 2);
	assert_int_equal(c.term[5], 3);
	assert_string_equal(c.data[6], "e7.3");
}

static int stop_after_one(void *arg, const struct rk_raft_entry *e)
{
	(void)e;
	++*(int *)arg;
	return 1;
}

static void test_compaction(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_raft_state st = {0}, got;
	struct collected c = {0};
	uint64_t last, term;
	int calls = 0;

	append(f, 7, 1, 20, 2);
	st.replica_id = 3;
	st.hs.term = 2;
	st.hs.vote = 3;
	st.hs.commit = 20;
	st.trunc_index = 15;
	st.trunc_term = 2;
	st.conf.n = 2;
	st.conf.ids[0] = 3;
	st.conf.flags[0] = RK_RAFT_VOTER;
	st.conf.ids[1] = 4;
	st.conf.flags[1] = RK_RAFT_LEARNER;
	rk_store_batch_compact(b, 7, 15);
	rk_store_batch_raft_state(b, 7, &st);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_log_term(f->r, 7, 15, &term), RK_EUNAVAILABLE);
	assert_int_equal(rk_store_log_term(f->r, 7, 16, &term), 0);
	assert_int_equal(rk_store_log_entries(f->r, 7, 16, 21, collect_entry, &c), 0);
	assert_int_equal(c.n, 5);
	assert_int_equal(rk_store_log_entries(f->r, 7, 16, 21, stop_after_one, &calls), 0);
	assert_int_equal(calls, 1);
	/* Compacting everything leaves an empty log at the truncation point. */
	b = rk_store_batch_new();
	rk_store_batch_compact(b, 7, 20);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_log_last(f->r, 7, 20, &last), 0);
	assert_int_equal(last, 20);
	reopen(f);
	assert_int_equal(rk_store_read_raft_state(f->r, 7, &got), 0);
	assert_int_equal(got.replica_id, 3);
	assert_int_equal(got.hs.commit, 20);
	assert_int_equal(got.trunc_index, 15);
	assert_int_equal(got.conf.n, 2);
	assert_int_equal(got.conf.ids[1], 4);
	assert_int_equal(got.conf.flags[1], RK_RAFT_LEARNER);
	assert_int_equal(rk_store_read_raft_state(f->r, 8, &got), RK_ENOTFOUND);
}

static void kv_put(struct store_fx *f, const char *k, const char *v)
{
	struct rk_store_batch *b = rk_store_batch_new();

	rk_store_batch_put(b, k, strlen(k), v, strlen(v));
	assert_int_equal(rk_store_write(f->s, b), 0);
}

static void assert_value(struct store_fx *f, const char *k, const char *want)
{
	const void *v;
	size_t n;
	int rc = rk_store_get(f->r, k, strlen(k), &v, &n);

	if (want == NULL) {
		assert_int_equal(rc, RK_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

static void test_kv_and_apply_state(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {12, "desc-a", 6}, got;
	const void *v;
	size_t n;

	rk_store_batch_put(b, "a", 1, "1", 1);
	rk_store_batch_put(b, "b", 1, "", 0); /* empty values are values */
	rk_store_batch_internal_put(b, "seq/a", 5, "41", 2);
	rk_store_batch_apply_state(b, 5, &as);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_value(f, "a", "1");
	assert_value(f, "b", "");
	assert_value(f, "c", NULL);
	assert_value(f, "seq/a", NULL); /* internal keys are not user keys */
	assert_int_equal(rk_store_read_apply_state(f->r, 5, &got), 0);
	assert_int_equal(got.applied, 12);
	assert_int_equal(got.desc_len, 6);
	assert_memory_equal(got.desc, "desc-a", 6);
	assert_int_equal(rk_store_read_apply_state(f->r, 6, &got), RK_ENOTFOUND);
	b = rk_store_batch_new();
	rk_store_batch_del(b, "a", 1);
	rk_store_batch_del(b, "zz", 2); /* absent: not an error */
	rk_store_batch_internal_del(b, "seq/a", 5);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_value(f, "a", NULL);
	/* Meta rows. */
	b = rk_store_batch_new();
	rk_store_batch_meta_put(b, "note", "x", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_meta_get(f->r, "note", &v, &n), 0);
	assert_int_equal(n, 1);
	b = rk_store_batch_new();
	rk_store_batch_meta_del(b, "note");
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_meta_get(f->r, "note", &v, &n), RK_ENOTFOUND);
}

/* A rollback to a mark removes exactly the ops added after it (one
 * replica's failed apply leaves the group batch), a failed allocation
 * after the mark included. */
static void test_batch_rollback(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {3, "d", 1}, got;
	struct rk_store_batch_mark m;

	rk_store_batch_put(b, "keep", 4, "1", 1);
	rk_store_batch_mark(b, &m);
	rk_store_batch_put(b, "half", 4, "2", 1);
	rk_store_batch_apply_state(b, 9, &as);
	b->oom = true; /* as after a failed realloc */
	assert_true(rk_store_batch_failed(b));
	rk_store_batch_rollback(b, &m);
	assert_false(rk_store_batch_failed(b));
	rk_store_batch_put(b, "after", 5, "3", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_value(f, "keep", "1");
	assert_value(f, "half", NULL);
	assert_value(f, "after", "3");
	assert_int_equal(rk_store_read_apply_state(f->r, 9, &got), RK_ENOTFOUND);
}

/* A split is one batch: the left range's descriptor shrinks and the right
 * range's raft and apply state are created with it. */
static void test_split_in_one_batch(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state left = {30, "[a,m)", 5}, right = {RK_RAFT_INIT_INDEX, "[m,z)", 5}, got;
	struct rk_store_raft_state st = {0};

	st.replica_id = 9;
	st.hs.term = RK_RAFT_INIT_TERM;
	st.hs.commit = RK_RAFT_INIT_INDEX;
	st.trunc_index = RK_RAFT_INIT_INDEX;
	st.trunc_term = RK_RAFT_INIT_TERM;
	rk_store_batch_apply_state(b, 1, &left);
	rk_store_batch_raft_state(b, 2, &st);
	rk_store_batch_apply_state(b, 2, &right);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_read_apply_state(f->r, 1, &got), 0);
	assert_memory_equal(got.desc, "[a,m)", 5);
	assert_int_equal(rk_store_read_apply_state(f->r, 2, &got), 0);
	assert_int_equal(got.applied, RK_RAFT_INIT_INDEX);
	assert_memory_equal(got.desc, "[m,z)", 5);
}

static void test_remove_replica(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {9, "d", 1}, got;
	struct rk_store_raft_state st = {0}, gst;
	uint64_t last, tomb;

	append(f, 3, 1, 9, 1);
	st.replica_id = 4;
	rk_store_batch_raft_state(b, 3, &st);
	rk_store_batch_apply_state(b, 3, &as);
	rk_store_batch_put(b, "k1", 2, "v", 1);
	rk_store_batch_put(b, "k5", 2, "v", 1);
	rk_store_batch_put(b, "q1", 2, "v", 1);
	rk_store_batch_internal_put(b, "k2", 2, "s", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_read_tombstone(f->r, 3, &tomb), RK_ENOTFOUND);
	b = rk_store_batch_new();
	rk_store_batch_remove_replica(b, 3, 5, "k", 1, "l", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_value(f, "k1", NULL);
	assert_value(f, "k5", NULL);
	assert_value(f, "q1", "v"); /* outside the span */
	/* A span from the beginning of the key space. */
	b = rk_store_batch_new();
	rk_store_batch_remove_replica(b, 4, 1, "", 0, "q", 1);
	rk_store_batch_put(b, "r", 1, "kept", 4);
	assert_int_equal(rk_store_write(f->s, b), 0);
	b = rk_store_batch_new();
	rk_store_batch_put(b, "\x01", 1, "v", 1);
	rk_store_batch_put(b, "a", 1, "v", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	b = rk_store_batch_new();
	rk_store_batch_clear_span(b, "", 0, "q", 1);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_value(f, "a", NULL);
	assert_value(f, "\x01", NULL);
	assert_value(f, "q1", "v");
	assert_value(f, "r", "kept");
	assert_int_equal(rk_store_read_apply_state(f->r, 3, &got), RK_ENOTFOUND);
	assert_int_equal(rk_store_read_raft_state(f->r, 3, &gst), RK_ENOTFOUND);
	assert_int_equal(rk_store_log_last(f->r, 3, 0, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(rk_store_read_tombstone(f->r, 3, &tomb), 0);
	assert_int_equal(tomb, 5);
}

struct scan_ctx {
	struct store_fx *f;
	int seen[2];
	char keys[64][8];
	int n;
	bool wrote;
};

static int scan_and_write(void *arg, int table, const void *key, size_t klen,
			  const void *val, size_t vlen)
{
	struct scan_ctx *c = arg;

	(void)val;
	(void)vlen;
	c->seen[table]++;
	if (c->n < 64) {
		memcpy(c->keys[c->n], key, klen < 7 ? klen : 7);
		c->keys[c->n][klen < 7 ? klen : 7] = '\0';
		c->n++;
	}
	if (!c->wrote) {
		/* Writes committed while the scan runs are not part of it. */
		struct rk_store_batch *b = rk_store_batch_new();
		rk_store_batch_put(b, "m3", 2, "new", 3);
		rk_store_batch_del(b, "m8", 2);
		rk_store_batch_internal_put(b, "m5", 2, "new", 3);
		assert_int_equal(rk_store_write(c->f->s, b), 0);
		c->wrote = true;
	}
	return 0;
}

static void test_scan_while_writing(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {40, "", 0};
	struct scan_ctx c = {0};
	uint64_t applied;
	char k[4];

	c.f = f;
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "m%d", i);
		rk_store_batch_put(b, k, 2, "v", 1);
	}
	rk_store_batch_put(b, "a0", 2, "v", 1);
	rk_store_batch_put(b, "n0", 2, "v", 1);
	rk_store_batch_internal_put(b, "m1", 2, "s", 1);
	rk_store_batch_apply_state(b, 4, &as);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_scan_span(f->r, 4, "m", 1, "n", 1,
					    scan_and_write, &c, &applied), 0);
	assert_int_equal(c.seen[0], 10); /* m0..m9: m8 still there, m3 old */
	assert_int_equal(c.seen[1], 1);
	assert_int_equal(applied, 40);
	assert_string_equal(c.keys[0], "m0");
	assert_string_equal(c.keys[9], "m9");
	assert_string_equal(c.keys[10], "m1");
	/* The writes did land. */
	assert_value(f, "m3", "new");
	assert_value(f, "m8", NULL);
	/* An empty start means from the beginning of the key space. */
	memset(&c, 0, sizeof(c));
	c.f = f;
	c.wrote = true;
	assert_int_equal(rk_store_scan_span(f->r, 0, "", 0, "m1", 2,
					    scan_and_write, &c, NULL), 0);
	assert_int_equal(c.seen[0], 2); /* a0, m0 */
	assert_string_equal(c.keys[0], "a0");
	/* An empty end means to the end of the key space. */
	memset(&c, 0, sizeof(c));
	c.f = f;
	c.wrote = true;
	assert_int_equal(rk_store_scan_span(f->r, 0, "m9", 2, "", 0,
					    scan_and_write, &c, NULL), 0);
	assert_int_equal(c.seen[0], 2); /* m9, n0 */
}

static void test_checksum(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	uint64_t s1, s2, s3, s4, applied;

	rk_store_batch_put(b, "c1", 2, "x", 1);
	rk_store_batch_put(b, "c2", 2, "y", 1);
	rk_store_batch_put(b, "d1", 2, "outside", 7);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_checksum_span(f->r, 0, "c", 1, "d", 1, &s1, &applied), 0);
	assert_int_equal(rk_store_checksum_span(f->r, 0, "c", 1, "d", 1, &s2, &applied), 0);
	assert_true(s1 == s2);
	kv_put(f, "d2", "also outside");
	assert_int_equal(rk_store_checksum_span(f->r, 0, "c", 1, "d", 1, &s3, &applied), 0);
	assert_true(s1 == s3);
	kv_put(f, "c2", "z");
	assert_int_equal(rk_store_checksum_span(f->r, 0, "c", 1, "d", 1, &s4, &applied), 0);
	assert_true(s1 != s4);
	/* Moving a byte from value to key changes the sum. */
	b = rk_store_batch_new();
	rk_store_batch_del(b, "c2", 2);
	rk_store_batch_put(b, "c2z", 3, "", 0);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_checksum_span(f->r, 0, "c", 1, "d", 1, &s3, &applied), 0);
	assert_true(s3 != s4);
}

/* Stages the span [start, end) of one store as a snapshot file of another. */
struct stage_ctx {
	struct rk_store_snap_out *o;
};

static int stage_pair(void *arg, int table, const void *key, size_t klen,
		      const void *val, size_t vlen)
{
	struct stage_ctx *c = arg;

	return rk_store_snap_add(c->o, table, key, klen, val, vlen);
}

static int count_files(const char *dir)
{
	char p[600];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/snap", dir);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void on_pending(void *arg, uint64_t range, uint64_t index)
{
	uint64_t *got = arg;

	got[0] = range;
	got[1] = index;
}

static void stage_from(struct store_fx *src, struct store_fx *dst, uint64_t range,
		       uint64_t index, char *name, size_t namelen)
{
	struct rk_store_snap_meta m = {range, index, 3, "m", "n", "[m,n)", 1, 1, 5};
	struct stage_ctx c;
	uint64_t applied;

	assert_int_equal(rk_store_snap_create(dst->s, &m, &c.o), 0);
	assert_int_equal(rk_store_scan_span(src->r, range, "m", 1, "n", 1,
					    stage_pair, &c, &applied), 0);
	assert_int_equal(rk_store_snap_finish(c.o, name, namelen), 0);
}

static void test_snapshot_install_over_existing(void **state)
{
	struct store_fx *f = *state, *g;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {100, "[m,n)", 5}, got;
	uint64_t s_src, s_dst, a1, a2, pend[2] = {0, 0};
	char name[128], k[8];

	/* The source: 5000 pairs in [m, n) and its apply state. */
	for (int i = 0; i < 5000; i++) {
		snprintf(k, sizeof(k), "m%05d", i);
		rk_store_batch_put(b, k, strlen(k), k, strlen(k));
	}
	rk_store_batch_internal_put(b, "m-seq", 5, "9", 1);
	rk_store_batch_apply_state(b, 6, &as);
	assert_int_equal(rk_store_write(f->s, b), 0);

	/* The destination holds older, different data in the span and data
	 * outside it. */
	assert_int_equal(setup((void **)&g), 0);
	b = rk_store_batch_new();
	rk_store_batch_put(b, "m99999", 6, "stale", 5);
	rk_store_batch_put(b, "m00001", 6, "stale", 5);
	rk_store_batch_internal_put(b, "m-old", 5, "x", 1);
	rk_store_batch_put(b, "a", 1, "keep", 4);
	rk_store_batch_put(b, "z", 1, "keep", 4);
	assert_int_equal(rk_store_write(g->s, b), 0);

	stage_from(f, g, 6, 100, name, sizeof(name));
	b = rk_store_batch_new();
	rk_store_batch_install(b, 6, 100, name);
	assert_int_equal(rk_store_write(g->s, b), 0);
	assert_int_equal(rk_store_install_pending(g->r, on_pending, pend), 0);
	assert_int_equal(pend[0], 6);
	assert_int_equal(pend[1], 100);

	assert_int_equal(rk_store_install_run(g->r, 6), 0);
	pend[0] = 0;
	assert_int_equal(rk_store_install_pending(g->r, on_pending, pend), 0);
	assert_int_equal(pend[0], 0);
	assert_int_equal(rk_store_read_apply_state(g->r, 6, &got), 0);
	assert_int_equal(got.applied, 100);
	assert_memory_equal(got.desc, "[m,n)", 5);
	assert_int_equal(rk_store_checksum_span(f->r, 6, "m", 1, "n", 1, &s_src, &a1), 0);
	assert_int_equal(rk_store_checksum_span(g->r, 6, "m", 1, "n", 1, &s_dst, &a2), 0);
	assert_true(s_src == s_dst);
	assert_int_equal(a1, a2);
	assert_value(g, "m99999", NULL);
	assert_value(g, "m00001", "m00001");
	assert_value(g, "a", "keep");
	assert_value(g, "z", "keep");

	/* Redoing it is harmless (a crash after the install, before the
	 * checkpoint, does exactly this). */
	assert_int_equal(rk_store_install_run(g->r, 6), 0);
	assert_int_equal(rk_store_checksum_span(g->r, 6, "m", 1, "n", 1, &s_dst, &a2), 0);
	assert_true(s_src == s_dst);

	/* The checkpoint that makes it durable drops the marker and file. */
	assert_int_equal(count_files(g->dir), 1);
	assert_int_equal(rk_store_checkpoint(g->s), 0);
	assert_int_equal(count_files(g->dir), 0);
	assert_int_equal(rk_store_install_run(g->r, 6), RK_ENOTFOUND);
	teardown((void **)&g);
}

static void test_snapshot_corrupt_file_clears_nothing(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_snap_meta m = {6, 50, 3, "m", "n", "", 1, 1, 0};
	struct rk_store_snap_out *o;
	struct rk_store_batch *b;
	char name[128], path[800];
	FILE *fp;

	kv_put(f, "m1", "old");
	assert_int_equal(rk_store_snap_create(f->s, &m, &o), 0);
	assert_int_equal(rk_store_snap_add(o, 0, "m1", 2, "new", 3), 0);
	assert_int_equal(rk_store_snap_add(o, 0, "m2", 2, "new", 3), 0);
	assert_int_equal(rk_store_snap_add(o, 7, "m2", 2, "new", 3), RK_EINVAL);
	assert_int_equal(rk_store_snap_finish(o, name, sizeof(name)), 0);
	b = rk_store_batch_new();
	rk_store_batch_install(b, 6, 50, name);
	assert_int_equal(rk_store_write(f->s, b), 0);
	/* Flip one byte of a value. */
	snprintf(path, sizeof(path), "%s/snap/%s", f->dir, name);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	fseek(fp, -30, SEEK_END);
	fputc('X', fp);
	fclose(fp);
	assert_int_equal(rk_store_install_run(f->r, 6), RK_ECORRUPT);
	assert_value(f, "m1", "old");
	assert_value(f, "m2", NULL);
}

/* Random damage to a staged file: flipped bytes, truncation, appended
 * garbage. The install must refuse every damaged file and clear nothing. */
static void test_snapshot_file_mutations(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_snap_meta m = {6, 50, 3, "m", "n", "d", 1, 1, 1};
	struct rk_store_snap_out *o;
	struct rk_store_batch *b;
	char name[128], path[800], bad[800];
	uint8_t *orig, *buf;
	long size;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	FILE *fp;

	kv_put(f, "m1", "old");
	assert_int_equal(rk_store_snap_create(f->s, &m, &o), 0);
	for (int i = 0; i < 40; i++) {
		char k[8], v[40];
		snprintf(k, sizeof(k), "m%02d", i);
		snprintf(v, sizeof(v), "value-%d", i * 7919);
		assert_int_equal(rk_store_snap_add(o, i % 5 == 0, k, strlen(k), v, strlen(v)), 0);
	}
	assert_int_equal(rk_store_snap_finish(o, name, sizeof(name)), 0);
	snprintf(path, sizeof(path), "%s/snap/%s", f->dir, name);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	orig = malloc((size_t)size + 64);
	buf = malloc((size_t)size + 64);
	assert_int_equal(fread(orig, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);
	snprintf(bad, sizeof(bad), "%s/snap/damaged.snap", f->dir);
	for (int it = 0; it < 300; it++) {
		size_t n = (size_t)size;
		int kind;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		kind = (int)(x % 3);
		memcpy(buf, orig, n);
		if (kind == 0) { /* flip 1 to 4 bytes */
			for (uint64_t j = 0; j <= (x >> 8) % 4; j++)
				buf[(x >> (16 + j * 8)) % n] ^= (uint8_t)(1 + (x >> 40) % 255);
		} else if (kind == 1) { /* cut short */
			n = (size_t)((x >> 8) % n);
		} else { /* trailing garbage */
			for (int j = 0; j < 1 + (int)((x >> 8) % 60); j++)
				buf[n++] = (uint8_t)(x >> (j % 56));
		}
		fp = fopen(bad, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(buf, 1, n, fp), n);
		fclose(fp);
		b = rk_store_batch_new();
		rk_store_batch_install(b, 6, 50, "damaged.snap");
		assert_int_equal(rk_store_write(f->s, b), 0);
		assert_int_equal(rk_store_install_run(f->r, 6), RK_ECORRUPT);
		assert_value(f, "m1", "old");
	}
	free(orig);
	free(buf);
}

static void test_orphan_files_removed_at_open(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_snap_meta m = {6, 50, 3, "m", "n", "", 1, 1, 0};
	struct rk_store_snap_out *o;
	char name[128];

	assert_int_equal(rk_store_snap_create(f->s, &m, &o), 0);
	assert_int_equal(rk_store_snap_finish(o, name, sizeof(name)), 0);
	assert_int_equal(rk_store_snap_create(f->s, &m, &o), 0); /* unfinished */
	assert_int_equal(count_files(f->dir), 2);
	rk_store_snap_abort(o);
	assert_int_equal(count_files(f->dir), 1);
	reopen(f); /* no marker names it: a receiver died before step 2 */
	assert_int_equal(count_files(f->dir), 0);
}

static void test_durable_applied_follows_checkpoints(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_apply_state as = {17, "", 0};
	uint64_t a;

	rk_store_batch_apply_state(b, 2, &as);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_read_durable_applied(f->r, 2, &a), 0);
	assert_int_equal(a, 0);
	assert_int_equal(rk_store_checkpoint(f->s), 0);
	assert_int_equal(rk_store_read_durable_applied(f->r, 2, &a), 0);
	assert_int_equal(a, 17);
	as.applied = 18;
	b = rk_store_batch_new();
	rk_store_batch_apply_state(b, 2, &as);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(rk_store_read_durable_applied(f->r, 2, &a), 0);
	assert_int_equal(a, 17);
}

struct counter {
	pthread_mutex_t mu;
	int done, failed;
};

static void count_done(void *arg, int rc)
{
	struct counter *c = arg;

	pthread_mutex_lock(&c->mu);
	c->done++;
	c->failed += rc != 0;
	pthread_mutex_unlock(&c->mu);
}

static void test_group_commit_callbacks(void **state)
{
	struct store_fx *f = *state;
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	struct rk_store_stats st;
	struct rk_raft_entry e = {1, 0, 0, 3, (const uint8_t *)"abc"};

	for (int i = 0; i < 2000; i++) {
		struct rk_store_batch *b = rk_store_batch_new();
		e.index = (uint64_t)(i / 10) + 1;
		rk_store_batch_append(b, (uint64_t)(i % 10) + 1, &e, 1);
		assert_int_equal(rk_store_submit(f->s, b, count_done, &c), 0);
	}
	assert_int_equal(rk_store_checkpoint(f->s), 0); /* after the queue */
	pthread_mutex_lock(&c.mu);
	assert_int_equal(c.done, 2000);
	assert_int_equal(c.failed, 0);
	pthread_mutex_unlock(&c.mu);
	rk_store_stats(f->s, &st);
	assert_true(st.batches >= 2000);
	assert_true(st.flushes <= st.groups);
	assert_true(st.flush_p50_s > 0 && st.flush_p99_s >= st.flush_p50_s);
}

/* Rows read back from disk go through decoders: random bytes and damaged
 * valid rows give RK_ECORRUPT or a value, never a read out of bounds. */
/* The dirty-page limits are bytes whatever the cache: the default cache's
 * 20% and 50%, a larger one's smaller shares, never 0 and never past the
 * caps; and WiredTiger opens with the smallest (1% and 2% of a 16 GiB
 * cache) and takes writes. */
static void test_dirty_limits_in_bytes(void **state)
{
	struct rk_store_options o;
	struct rk_store *s;
	struct rk_store_batch *b;
	char dir[512], err[256];
	const void *v;
	size_t n;

	(void)state;
	assert_int_equal(store_dirty_pct(256, STORE_DIRTY_TARGET_MB, 20), 20);
	assert_int_equal(store_dirty_pct(256, STORE_DIRTY_TRIGGER_MB, 50), 50);
	assert_int_equal(store_dirty_pct(64, STORE_DIRTY_TARGET_MB, 20), 20);
	assert_int_equal(store_dirty_pct(64, STORE_DIRTY_TRIGGER_MB, 50), 50);
	/* 2 GiB: 61 MiB and 143 MiB, not 410 MiB and 1 GiB. */
	assert_int_equal(store_dirty_pct(2048, STORE_DIRTY_TARGET_MB, 20), 3);
	assert_int_equal(store_dirty_pct(2048, STORE_DIRTY_TRIGGER_MB, 50), 7);
	assert_int_equal(store_dirty_pct(1u << 20, STORE_DIRTY_TARGET_MB, 20), 1);
	assert_int_equal(store_dirty_pct(0, STORE_DIRTY_TARGET_MB, 20), 20);

	tmpdir_make(dir, sizeof(dir), "dirty");
	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.cluster_id = 77;
	o.cache_mb = 16384;
	o.checkpoint_secs = 0;
	assert_int_equal(rk_store_open(&o, &s, err, sizeof(err)), 0);
	b = rk_store_batch_new();
	rk_store_batch_put(b, "k", 1, "v", 1);
	assert_int_equal(rk_store_write(s, b), 0);
	{
		struct rk_store_reader *r;

		assert_int_equal(rk_store_reader_open(s, &r), 0);
		assert_int_equal(rk_store_get(r, "k", 1, &v, &n), 0);
		assert_int_equal(n, 1);
		rk_store_reader_close(r);
	}
	rk_store_close(s);
	tmpdir_remove(dir);
}

static void test_row_decoders_take_garbage(void **state)
{
	struct rk_store_raft_state st = {0}, got;
	struct rk_store_apply_state as;
	uint8_t row[RAFT_STATE_MAX + 16], buf[RAFT_STATE_MAX + 16];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t n;
	int ok = 0;

	(void)state;
	st.replica_id = 3;
	st.hs.term = 9;
	st.conf.n = 3;
	for (int i = 0; i < 3; i++) {
		st.conf.ids[i] = (uint64_t)i + 1;
		st.conf.flags[i] = RK_RAFT_VOTER;
	}
	n = store_encode_raft_state(&st, row);
	assert_int_equal(store_decode_raft_state(row, n, &got), 0);
	assert_int_equal(got.conf.n, 3);
	assert_int_equal(got.hs.term, 9);
	for (int it = 0; it < 100000; it++) {
		size_t len;
		uint8_t *exact;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = (size_t)(x % sizeof(buf));
		if (it % 2 == 0) {
			memcpy(buf, row, n);
			buf[(x >> 16) % n] ^= (uint8_t)(1 + (x >> 40) % 255);
			len = (x >> 50) % 3 == 0 ? (size_t)((x >> 24) % (n + 1)) : n;
		} else {
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(x >> (8 * (i % 8)));
		}
		exact = malloc(len ? len : 1);
		memcpy(exact, buf, len);
		int rc = store_decode_raft_state(exact, len, &got);
		assert_true(rc == 0 || rc == RK_ECORRUPT);
		if (rc == 0)
			assert_true(got.conf.n <= RK_RAFT_MAX_MEMBERS);
		rc = store_decode_apply(exact, len, &as);
		assert_true(rc == 0 || rc == RK_ECORRUPT);
		if (rc == 0)
			assert_true(as.desc_len == len - 8);
		ok += rc == 0;
		free(exact);
	}
	assert_true(ok > 0);
}

/* ---- the data directory ------------------------------------------------------- */

static void test_foreign_directories(void **state)
{
	char dir[512], err[256], path[600];
	struct rk_store *s;
	struct rk_store_batch *b;
	uint8_t v[8] = {99, 0, 0, 0, 0, 0, 0, 0};
	FILE *fp;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "foreign");
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), 0);
	rk_store_close(s);
	/* Another node's or cluster's directory. */
	assert_int_equal(store_open_at(dir, 2, 5, &s, err, sizeof(err)), RK_EFOREIGN);
	assert_non_null(strstr(err, "belongs to node 1"));
	assert_int_equal(store_open_at(dir, 1, 6, &s, err, sizeof(err)), RK_EFOREIGN);
	assert_non_null(strstr(err, "cluster"));
	/* Cluster 0 = accept the directory's. */
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_cluster_id(s), 5);
	/* A newer format. */
	b = rk_store_batch_new();
	rk_store_batch_meta_put(b, "format", v, 8);
	assert_int_equal(rk_store_write(s, b), 0);
	rk_store_close(s);
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_EVERSION);
	assert_non_null(strstr(err, "newer"));
	tmpdir_remove(dir);

	/* A directory holding something else. */
	tmpdir_make(dir, sizeof(dir), "foreign");
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	fp = fopen(path, "w");
	fputs("hello", fp);
	fclose(fp);
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_EFOREIGN);
	assert_non_null(strstr(err, "not a rangekv data directory"));
	tmpdir_remove(dir);

	/* A WiredTiger directory that is not a rangekv one. */
	tmpdir_make(dir, sizeof(dir), "foreign");
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), 0);
	b = rk_store_batch_new();
	rk_store_batch_meta_del(b, "format");
	assert_int_equal(rk_store_write(s, b), 0);
	rk_store_close(s);
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_EFOREIGN);
	tmpdir_remove(dir);

	/* A corrupt one: WiredTiger's own metadata overwritten. */
	tmpdir_make(dir, sizeof(dir), "foreign");
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), 0);
	rk_store_close(s);
	snprintf(path, sizeof(path), "%s/WiredTiger.wt", dir);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	for (int i = 0; i < 8192; i++)
		fputc(0x5a, fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/WiredTiger.turtle", dir);
	fp = fopen(path, "w");
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_ECORRUPT);
	assert_true(strlen(err) > 0);
	tmpdir_remove(dir);

	/* WiredTiger's turtle file missing: refused, and nothing in the
	 * directory changed (WiredTiger itself would rename every table and
	 * start a new journal). */
	tmpdir_make(dir, sizeof(dir), "foreign");
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), 0);
	rk_store_close(s);
	snprintf(path, sizeof(path), "%s/WiredTiger.turtle", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_ECORRUPT);
	assert_non_null(strstr(err, "WiredTiger.turtle is missing"));
	assert_int_equal(store_open_at(dir, 1, 5, &s, err, sizeof(err)), RK_ECORRUPT);
	{
		struct stat st;

		snprintf(path, sizeof(path), "%s/kv.wt.1", dir);
		assert_int_equal(stat(path, &st), -1);
		snprintf(path, sizeof(path), "%s/kv.wt", dir);
		assert_int_equal(stat(path, &st), 0);
		snprintf(path, sizeof(path), "%s/WiredTiger.turtle", dir);
		assert_int_equal(stat(path, &st), -1);
	}
	tmpdir_remove(dir);

	/* Missing, without create. */
	{
		struct rk_store_options o;
		rk_store_options_default(&o);
		o.dir = "/nonexistent/rangekv";
		o.node_id = 1;
		o.create = false;
		assert_int_equal(rk_store_open(&o, &s, err, sizeof(err)), RK_ENOTFOUND);
	}
}

/* A first start killed half-way leaves the marker and some of WiredTiger's
 * files, or all of them without rangekv's identity: the directory is
 * created anew, never refused as foreign (storage_crash kills real first
 * starts). It is refused when it holds what no first start makes, when
 * creation is not allowed, or while another process holds it. */
static void touch(const char *dir, const char *name)
{
	char path[600];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
}

static void test_interrupted_first_start(void **state)
{
	struct rk_store_options o;
	struct rk_store *s;
	struct rk_store_batch *b;
	char dir[512], path[600], err[256];
	struct stat st;
	uint64_t cluster;
	int fd;

	(void)state;
	/* Killed between WiredTiger's lock file and its other files. */
	tmpdir_make(dir, sizeof(dir), "first");
	touch(dir, "rangekv.creating");
	touch(dir, "WiredTiger.lock");
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), 0);
	cluster = rk_store_cluster_id(s);
	rk_store_close(s);
	snprintf(path, sizeof(path), "%s/rangekv.creating", dir);
	assert_int_not_equal(stat(path, &st), 0); /* complete now */
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_cluster_id(s), cluster);
	/* Killed after WiredTiger's files, before the identity. */
	b = rk_store_batch_new();
	rk_store_batch_meta_del(b, "format");
	assert_int_equal(rk_store_write(s, b), 0);
	rk_store_close(s);
	touch(dir, "rangekv.creating");
	assert_int_equal(store_open_at(dir, 1, 7, &s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_cluster_id(s), 7);
	rk_store_close(s);
	/* Half made, and something no first start makes. */
	touch(dir, "rangekv.creating");
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), RK_EFOREIGN);
	assert_non_null(strstr(err, "did not complete"));
	assert_int_equal(rmdir(path), 0);
	/* Half made, creation not allowed. */
	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.create = false;
	assert_int_equal(rk_store_open(&o, &s, err, sizeof(err)), RK_ENOTFOUND);
	assert_non_null(strstr(err, "did not complete"));
	/* Half made, and another process is creating it. */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), RK_EBUSY);
	close(fd);
	assert_int_equal(store_open_at(dir, 1, 0, &s, err, sizeof(err)), 0);
	rk_store_close(s);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_append_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_then_append, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_and_apply_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_in_one_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_replica, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_install_over_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_corrupt_file_clears_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_file_mutations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphan_files_removed_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_applied_follows_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_callbacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollback, setup, teardown),
		cmocka_unit_test(test_row_decoders_take_garbage),
		cmocka_unit_test(test_dirty_limits_in_bytes),
		cmocka_unit_test(test_foreign_directories),
		cmocka_unit_test(test_interrupted_first_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
