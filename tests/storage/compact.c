/*
 * Compaction after a quiet checkpoint (docs/storage.md "Checkpoints and
 * disk use"): rewriting every row of the key table leaves its file about
 * twice its data, half of it blocks the checkpoint freed; a checkpoint with
 * nothing written since the one before has the compaction thread give that
 * space back. A checkpoint that follows writes does not compact (the next
 * would need the space again), nor does a store whose threshold is never.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

#define ROWS 20000
#define VAL 1000

static struct rk_store *open_store(const char *dir, uint64_t min_bytes)
{
	struct rk_store_options o;
	struct rk_store *s;
	char err[256];

	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.cache_mb = 64;
	o.checkpoint_secs = 0;
	o.compression = RK_STORE_COMPRESS_NONE;
	o.compact_min_bytes = min_bytes;
	/* The values in the key table, whose file this test measures (the
	 * value log's collection has tests of its own, values.c). */
	o.values_apart_min = 0;
	assert_int_equal(rk_store_open(&o, &s, err, sizeof(err)), 0);
	return s;
}

/* Every row once, random (incompressible) values, in batches of 1,000. */
static void write_all(struct rk_store *s, unsigned seed)
{
	char key[32];
	uint8_t val[VAL];

	srand(seed);
	for (int i = 0; i < ROWS; i += 1000) {
		struct rk_store_batch *b = rk_store_batch_new();
		for (int j = i; j < i + 1000; j++) {
			snprintf(key, sizeof(key), "key%08d", (j * 7919) % ROWS);
			for (int k = 0; k < VAL; k++)
				val[k] = (uint8_t)rand();
			rk_store_batch_put(b, key, strlen(key), val, sizeof(val));
		}
		assert_int_equal(rk_store_write(s, b), 0);
	}
}

static uint64_t kv_bytes(const char *dir)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/kv.wt", dir);
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static uint64_t compactions(struct rk_store *s)
{
	struct rk_store_stats st;

	rk_store_stats(s, &st);
	return st.compactions;
}

/* Loads, rewrites everything and checkpoints twice (the second with
 * nothing written since): the file's size after the rewrite and after the
 * quiet checkpoint had time to compact (up to 60 s). */
static void load_rewrite(struct rk_store *s, const char *dir,
			 uint64_t *rewrittenp, uint64_t *quietp)
{
	write_all(s, 1);
	assert_int_equal(rk_store_checkpoint(s), 0);
	write_all(s, 2);
	assert_int_equal(rk_store_checkpoint(s), 0);
	*rewrittenp = kv_bytes(dir);
	/* Written since the last checkpoint: this one does not compact. */
	assert_int_equal(compactions(s), 0);
	assert_int_equal(rk_store_checkpoint(s), 0);
	for (int i = 0; i < 600 && compactions(s) == 0; i++)
		usleep(100 * 1000);
	*quietp = kv_bytes(dir);
}

static void test_quiet_checkpoint_compacts(void **state)
{
	char dir[4096];
	struct rk_store *s;
	uint64_t rewritten, quiet, data = (uint64_t)ROWS * VAL;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "compact");
	s = open_store(dir, 1u << 20);
	load_rewrite(s, dir, &rewritten, &quiet);
	fprintf(stderr, "kv.wt: %llu bytes rewritten, %llu after the quiet checkpoint (data %llu)\n",
		(unsigned long long)rewritten, (unsigned long long)quiet,
		(unsigned long long)data);
	assert_true(rewritten > data * 3 / 2);
	assert_true(compactions(s) > 0);
	assert_true(quiet < data * 13 / 10);
	/* The data is all there (the second load's values). */
	rk_store_close(s);
	s = open_store(dir, 1u << 20);
	{
		struct rk_store_reader *r;
		const void *v;
		size_t vl;
		char key[32];

		assert_int_equal(rk_store_reader_open(s, &r), 0);
		for (int i = 0; i < ROWS; i++) {
			snprintf(key, sizeof(key), "key%08d", i);
			assert_int_equal(rk_store_get(r, key, strlen(key), &v, &vl), 0);
			assert_int_equal(vl, VAL);
		}
		rk_store_reader_close(r);
	}
	rk_store_close(s);
	tmpdir_remove(dir);
}

static void test_never(void **state)
{
	char dir[4096];
	struct rk_store *s;
	uint64_t rewritten, quiet;

	(void)state;
	tmpdir_make(dir, sizeof(dir), "compact");
	s = open_store(dir, UINT64_MAX);
	write_all(s, 1);
	assert_int_equal(rk_store_checkpoint(s), 0);
	write_all(s, 2);
	assert_int_equal(rk_store_checkpoint(s), 0);
	rewritten = kv_bytes(dir);
	assert_int_equal(rk_store_checkpoint(s), 0);
	sleep(1);
	quiet = kv_bytes(dir);
	assert_int_equal(compactions(s), 0);
	assert_true(quiet == rewritten);
	rk_store_close(s);
	tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_checkpoint_compacts),
		cmocka_unit_test(test_never),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
