/*
 * Block compression (docs/storage.md "Compression"): a new directory's
 * large tables are created with the compressor asked for, the directory
 * records it, and an existing directory keeps what it was made with,
 * whatever the build's default: one made with compression none, one made
 * before compression existed (no "compression" row), one made with zlib
 * opened by a caller asking for none. The key table's leaf page settings
 * follow the same rule (test_kv_leaf_pages), and so does its kind, a
 * B-tree or an LSM tree (test_lsm_key_table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_int.h" /* WiredTiger, to read the tables' own settings */
#include "util.h"

/* Opens dir asking for compression c and key table k (an LSM key
 * table's chunks of 512 KiB, so that a few MB of rows fill several). */
static int open_store(const char *dir, enum rk_store_compression c,
		      enum rk_store_key_table k, struct rk_store **sp)
{
	struct rk_store_options o;
	char err[256];
	int rc;

	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.cache_mb = 64;
	o.checkpoint_secs = 0;
	o.compression = c;
	o.key_table = k;
	o.test_lsm_chunk_kb = 512;
	rc = rk_store_open(&o, sp, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "open %s: %s\n", dir, err);
	return rc;
}

static int open_with(const char *dir, enum rk_store_compression c,
		     struct rk_store **sp)
{
	return open_store(dir, c, RK_STORE_KEYS_BTREE, sp);
}

static int open_keys(const char *dir, enum rk_store_key_table k,
		     struct rk_store **sp)
{
	return open_store(dir, RK_STORE_COMPRESS_DEFAULT, k, sp);
}

/* A value that compresses well, and its key. */
static void put_rows(struct rk_store *s, int from, int n)
{
	struct rk_store_batch *b = rk_store_batch_new();
	char key[32], val[512];

	for (int i = from; i < from + n; i++) {
		snprintf(key, sizeof(key), "key%06d", i);
		memset(val, 'a' + i % 26, sizeof(val));
		rk_store_batch_put(b, key, strlen(key), val, sizeof(val));
	}
	assert_int_equal(rk_store_write(s, b), 0);
}

static void check_rows(struct rk_store *s, int n)
{
	struct rk_store_reader *r;
	const void *v;
	size_t vl;
	char key[32];

	assert_int_equal(rk_store_reader_open(s, &r), 0);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key%06d", i);
		assert_int_equal(rk_store_get(r, key, strlen(key), &v, &vl), 0);
		assert_int_equal(vl, 512);
		assert_int_equal(((const char *)v)[0], 'a' + i % 26);
	}
	rk_store_reader_close(r);
}

/* The value of setting KEY that WiredTiger recorded for file:NAME.wt
 * ("" for an empty one), read from its metadata with the store closed. */
static void table_setting(const char *dir, const char *name, const char *key,
			  char *out, size_t n)
{
	char config[3072], ext[2048], missing[64], uri[64], pat[64];
	WT_CONNECTION *conn;
	WT_SESSION *ws;
	WT_CURSOR *c;
	const char *v, *p;

	store_extensions(ext, sizeof(ext), missing, sizeof(missing));
	snprintf(config, sizeof(config), "%slog=(enabled=true)", ext);
	assert_int_equal(wiredtiger_open(dir, NULL, config, &conn), 0);
	assert_int_equal(conn->open_session(conn, NULL, NULL, &ws), 0);
	assert_int_equal(ws->open_cursor(ws, "metadata:", NULL, NULL, &c), 0);
	snprintf(uri, sizeof(uri), "file:%s.wt", name);
	c->set_key(c, uri);
	assert_int_equal(c->search(c), 0);
	assert_int_equal(c->get_value(c, &v), 0);
	/* At the start or after a comma: "allocation_size" is not a
	 * suffix of another key, but be exact anyway. */
	snprintf(pat, sizeof(pat), ",%s=", key);
	p = strncmp(v, pat + 1, strlen(pat + 1)) == 0 ? v : strstr(v, pat);
	assert_non_null(p);
	p = strchr(p, '=') + 1;
	snprintf(out, n, "%.*s", (int)strcspn(p, ",)"), p);
	conn->close(conn, NULL);
}

static void expect_setting(const char *dir, const char *name, const char *key,
			   const char *want)
{
	char got[32];

	table_setting(dir, name, key, got, sizeof(got));
	assert_string_equal(got, want);
}

static void expect_compressor(const char *dir, const char *name,
			      const char *want)
{
	expect_setting(dir, name, "block_compressor", want);
}

static void test_new_directory_compressed(void **state)
{
	char dir[512];
	struct rk_store *s;
	struct rk_store_options o;

	(void)state;
	rk_store_options_default(&o);
	assert_int_equal(o.compression, RK_STORE_COMPRESS_SNAPPY);
	tmpdir_make(dir, sizeof(dir), "compress-new");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_SNAPPY, &s), 0);
	assert_int_equal(rk_store_compression(s), RK_STORE_COMPRESS_SNAPPY);
	put_rows(s, 0, 200);
	rk_store_close(s);
	expect_compressor(dir, "kv", "snappy");
	expect_compressor(dir, "raftlog", "snappy");
	expect_compressor(dir, "internal", "snappy");
	expect_compressor(dir, "raftstate", "");
	/* Reopened by a caller asking for none: still snappy. */
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_NONE, &s), 0);
	assert_int_equal(rk_store_compression(s), RK_STORE_COMPRESS_SNAPPY);
	check_rows(s, 200);
	rk_store_close(s);
	tmpdir_remove(dir);
}

/* Made with none (or by a build before compression: no "compression"
 * row), then opened by the default: keeps its uncompressed tables, reads
 * and writes. */
static void check_uncompressed_kept(bool old_format)
{
	char dir[512];
	struct rk_store *s;
	struct rk_store_reader *r;
	const void *v;
	size_t vl;

	tmpdir_make(dir, sizeof(dir), "compress-none");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_NONE, &s), 0);
	assert_int_equal(rk_store_compression(s), RK_STORE_COMPRESS_NONE);
	put_rows(s, 0, 200);
	if (old_format) {
		struct rk_store_batch *b = rk_store_batch_new();
		rk_store_batch_meta_del(b, "compression");
		assert_int_equal(rk_store_write(s, b), 0);
		assert_int_equal(rk_store_reader_open(s, &r), 0);
		assert_int_equal(rk_store_meta_get(r, "compression", &v, &vl), RK_ENOTFOUND);
		rk_store_reader_close(r);
	}
	rk_store_close(s);
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_DEFAULT, &s), 0);
	assert_int_equal(rk_store_compression(s), RK_STORE_COMPRESS_NONE);
	check_rows(s, 200);
	put_rows(s, 200, 200);
	rk_store_close(s);
	expect_compressor(dir, "kv", "");
	expect_compressor(dir, "raftlog", "");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_ZLIB, &s), 0);
	check_rows(s, 400);
	rk_store_close(s);
	tmpdir_remove(dir);
}

static void test_none_directory_kept(void **state)
{
	(void)state;
	check_uncompressed_kept(false);
}

static void test_old_format_directory_kept(void **state)
{
	(void)state;
	check_uncompressed_kept(true);
}

static void test_zlib_directory_kept(void **state)
{
	char dir[512];
	struct rk_store *s;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "compress-zlib");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_ZLIB, &s), 0);
	put_rows(s, 0, 300);
	rk_store_close(s);
	expect_compressor(dir, "kv", "zlib");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_SNAPPY, &s), 0);
	assert_int_equal(rk_store_compression(s), RK_STORE_COMPRESS_ZLIB);
	check_rows(s, 300);
	rk_store_close(s);
	tmpdir_remove(dir);
}

/* The key table's leaves (docs/storage.md "Leaf pages"): a new directory
 * gets small leaves in small allocation units, the other tables keep
 * WiredTiger's; a key table made before (WiredTiger's 32 KB in 4 KB,
 * remade here as an earlier release created it) keeps its own settings,
 * and its rows read and write as before. */
static void test_kv_leaf_pages(void **state)
{
	char dir[512], config[3072], ext[2048], missing[64];
	struct rk_store *s;
	WT_CONNECTION *conn;
	WT_SESSION *ws;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "compress-leaf");
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_SNAPPY, &s), 0);
	put_rows(s, 0, 200);
	check_rows(s, 200);
	rk_store_close(s);
	expect_setting(dir, "kv", "leaf_page_max", STORE_KV_LEAF_MAX);
	expect_setting(dir, "kv", "allocation_size", STORE_KV_ALLOC);
	expect_setting(dir, "raftlog", "leaf_page_max", "32KB");
	expect_setting(dir, "internal", "allocation_size", "4KB");

	store_extensions(ext, sizeof(ext), missing, sizeof(missing));
	snprintf(config, sizeof(config), "%slog=(enabled=true)", ext);
	assert_int_equal(wiredtiger_open(dir, NULL, config, &conn), 0);
	assert_int_equal(conn->open_session(conn, NULL, NULL, &ws), 0);
	assert_int_equal(ws->drop(ws, "table:kv", NULL), 0);
	assert_int_equal(ws->create(ws, "table:kv",
				    "key_format=u,value_format=u,log=(enabled=false),"
				    "block_compressor=snappy"), 0);
	assert_int_equal(conn->close(conn, NULL), 0);
	expect_setting(dir, "kv", "leaf_page_max", "32KB");

	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_SNAPPY, &s), 0);
	put_rows(s, 0, 300);
	check_rows(s, 300);
	rk_store_close(s);
	assert_int_equal(open_with(dir, RK_STORE_COMPRESS_SNAPPY, &s), 0);
	check_rows(s, 300);
	rk_store_close(s);
	expect_setting(dir, "kv", "leaf_page_max", "32KB");
	expect_setting(dir, "kv", "allocation_size", "4KB");
	expect_compressor(dir, "kv", "snappy");
	tmpdir_remove(dir);
}

/* The metadata WiredTiger keeps for uri ("table:kv", "lsm:kv", ...) into
 * out, read with the store closed; "" when there is none. */
static void metadata_of(const char *dir, const char *uri, char *out, size_t n)
{
	char config[3072], ext[2048], missing[64];
	WT_CONNECTION *conn;
	WT_SESSION *ws;
	WT_CURSOR *c;
	const char *v;

	store_extensions(ext, sizeof(ext), missing, sizeof(missing));
	snprintf(config, sizeof(config), "%slog=(enabled=true)", ext);
	assert_int_equal(wiredtiger_open(dir, NULL, config, &conn), 0);
	assert_int_equal(conn->open_session(conn, NULL, NULL, &ws), 0);
	assert_int_equal(ws->open_cursor(ws, "metadata:", NULL, NULL, &c), 0);
	c->set_key(c, uri);
	out[0] = '\0';
	if (c->search(c) == 0 && c->get_value(c, &v) == 0)
		snprintf(out, n, "%s", v);
	conn->close(conn, NULL);
}

/* The key table as an LSM tree (docs/storage.md "The key table as an LSM
 * tree"): a new directory asked for one gets it, with the state machine's
 * tables logged; rows written over several chunks (512 KiB here) read
 * back, overwritten and deleted, across a reopen by a caller asking for a
 * B-tree (the directory keeps its own); the store's statistics count its
 * chunks; a quiet checkpoint compacts the tree of several chunks. A B-tree directory opened by a caller asking for LSM
 * keeps its B-tree and unlogged tables. */
static void test_lsm_key_table(void **state)
{
	char dir[512], md[2048];
	struct rk_store *s;
	struct rk_store_reader *r;
	struct rk_store_batch *b;
	const void *v;
	size_t vl;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "keys-lsm");
	assert_int_equal(open_keys(dir, RK_STORE_KEYS_LSM, &s), 0);
	assert_int_equal(rk_store_key_table(s), RK_STORE_KEYS_LSM);
	for (int i = 0; i < 8000; i += 500)
		put_rows(s, i, 500); /* about 4 MB of keys and values: chunks */
	b = rk_store_batch_new();
	rk_store_batch_del(b, "key000007", 9);
	assert_int_equal(rk_store_write(s, b), 0);
	rk_store_close(s);
	metadata_of(dir, "lsm:kv", md, sizeof(md));
	assert_non_null(strstr(md, "chunk_size=512KB"));
	expect_setting(dir, "apply", "log", "(enabled=true");
	expect_setting(dir, "internal", "log", "(enabled=true");
	metadata_of(dir, "file:kv.wt", md, sizeof(md));
	assert_string_equal(md, "");

	assert_int_equal(open_keys(dir, RK_STORE_KEYS_BTREE, &s), 0);
	assert_int_equal(rk_store_key_table(s), RK_STORE_KEYS_LSM);
	assert_int_equal(rk_store_reader_open(s, &r), 0);
	assert_int_equal(rk_store_get(r, "key000007", 9, &v, &vl), RK_ENOTFOUND);
	assert_int_equal(rk_store_get(r, "key007999", 9, &v, &vl), 0);
	assert_int_equal(vl, 512);
	assert_int_equal(((const char *)v)[0], 'a' + 7999 % 26);
	rk_store_reader_close(r);
	put_rows(s, 0, 7); /* overwrites */
	/* A quiet checkpoint of a tree of several chunks compacts it
	 * (compact.c), which asks WiredTiger to merge them (how far its
	 * merges get is WiredTiger's: under load, not always to one). */
	{
		struct rk_store_stats st;
		/* Read by the compaction thread at its start, then each second. */
		for (int i = 0; i < 100; i++) {
			rk_store_stats(s, &st);
			if (st.lsm_chunks >= 2)
				break;
			usleep(50 * 1000);
		}
		assert_true(st.lsm_chunks >= 2);
		assert_int_equal(rk_store_checkpoint(s), 0);
		assert_int_equal(rk_store_checkpoint(s), 0);
		for (int i = 0; i < 600; i++) {
			rk_store_stats(s, &st);
			if (st.compactions > 0)
				break;
			usleep(100 * 1000);
		}
		assert_true(st.compactions > 0);
	}
	check_rows(s, 7);
	rk_store_close(s);
	tmpdir_remove(dir);

	tmpdir_make(dir, sizeof(dir), "keys-btree");
	assert_int_equal(open_keys(dir, RK_STORE_KEYS_BTREE, &s), 0);
	put_rows(s, 0, 100);
	rk_store_close(s);
	assert_int_equal(open_keys(dir, RK_STORE_KEYS_LSM, &s), 0);
	assert_int_equal(rk_store_key_table(s), RK_STORE_KEYS_BTREE);
	check_rows(s, 100);
	{
		struct rk_store_stats st;
		rk_store_stats(s, &st); /* no LSM figures for a B-tree */
		assert_true(st.lsm_chunks == 0 && st.lsm_rows_merged == 0 &&
			    st.lsm_throttle_us == 0);
	}
	rk_store_close(s);
	expect_setting(dir, "kv", "leaf_page_max", STORE_KV_LEAF_MAX);
	expect_setting(dir, "apply", "log", "(enabled=false");
	metadata_of(dir, "lsm:kv", md, sizeof(md));
	assert_string_equal(md, "");
	tmpdir_remove(dir);
}

static void test_names(void **state)
{
	enum rk_store_compression c;

	(void)state;
	assert_int_equal(rk_store_compression_parse("zlib", &c), 0);
	assert_int_equal(c, RK_STORE_COMPRESS_ZLIB);
	assert_int_equal(rk_store_compression_parse("lz4", &c), RK_EINVAL);
	assert_string_equal(rk_store_compression_name(RK_STORE_COMPRESS_SNAPPY), "snappy");
	{
		enum rk_store_key_table k;
		assert_int_equal(rk_store_key_table_parse("lsm", &k), 0);
		assert_int_equal(k, RK_STORE_KEYS_LSM);
		assert_int_equal(rk_store_key_table_parse("hash", &k), RK_EINVAL);
		assert_string_equal(rk_store_key_table_name(RK_STORE_KEYS_BTREE), "btree");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_new_directory_compressed),
		cmocka_unit_test(test_none_directory_kept),
		cmocka_unit_test(test_old_format_directory_kept),
		cmocka_unit_test(test_zlib_directory_kept),
		cmocka_unit_test(test_kv_leaf_pages),
		cmocka_unit_test(test_lsm_key_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
