/*
 * Values apart from the key table (docs/storage.md "Values apart from the
 * keys"), through the store's own interface: large values written to the
 * value log and read back by GET, scans and checksums exactly as values in
 * place; the live bytes kept exact through overwrites, deletes, cleared
 * spans and snapshot installs; collection giving the garbage back while
 * every value stays readable, and not deleting what a pinned reader may
 * still read; the directory format mark; corruption refused.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "le.h"
#include "rangekv/error.h"
#include "util.h"
#include "vlog.h"

struct vfx {
	char dir[600];
	struct rk_store *s;
	struct rk_store_reader *r;
};

static struct rk_store *open_with(const char *dir, uint32_t apart_min,
				  uint32_t seg_bytes, int *rcp, char *err,
				  size_t errlen)
{
	struct rk_store_options o;
	struct rk_store *s = NULL;

	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.cluster_id = 77;
	o.cache_mb = 64;
	o.checkpoint_secs = 0;
	o.values_apart_min = apart_min;
	o.test_values_segment_bytes = seg_bytes;
	*rcp = rk_store_open(&o, &s, err, errlen);
	return s;
}

static void vfx_open(struct vfx *f, uint32_t apart_min, uint32_t seg_bytes)
{
	char err[512];
	int rc;

	f->s = open_with(f->dir, apart_min, seg_bytes, &rc, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "open: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(rk_store_reader_open(f->s, &f->r), 0);
}

static void vfx_close(struct vfx *f)
{
	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	f->r = NULL;
	f->s = NULL;
}

static int setup(void **state)
{
	struct vfx *f = calloc(1, sizeof(*f));

	tmpdir_make(f->dir, 512, "values");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct vfx *f = *state;

	if (f->s != NULL)
		vfx_close(f);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Value v of key i: n bytes made from both. */
static void fill(uint8_t *p, size_t n, unsigned i, unsigned v)
{
	for (size_t j = 0; j < n; j++)
		p[j] = (uint8_t)(i * 131 + v * 17 + j * 7);
}

static void put(struct vfx *f, unsigned i, unsigned v, size_t n)
{
	struct rk_store_batch *b = rk_store_batch_new();
	uint8_t val[4096];
	char key[32];

	snprintf(key, sizeof(key), "k%05u", i);
	fill(val, n, i, v);
	rk_store_batch_put(b, key, strlen(key), val, n);
	assert_int_equal(rk_store_write(f->s, b), 0);
}

static void expect(struct vfx *f, unsigned i, unsigned v, size_t n)
{
	uint8_t want[4096];
	const void *val;
	size_t vl;
	char key[32];

	snprintf(key, sizeof(key), "k%05u", i);
	fill(want, n, i, v);
	assert_int_equal(rk_store_get(f->r, key, strlen(key), &val, &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(val, want, n);
}

static uint64_t live(struct vfx *f)
{
	uint64_t n;
	assert_int_equal(rk_store_values_live(f->r, &n), 0);
	return n;
}

/* The record bytes of key i with an n-byte value. */
static uint64_t rec(size_t n)
{
	return store_vrec_len(6, n);
}

static int segment_files(const char *dir)
{
	char p[600];
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (snprintf(p, sizeof(p), "%s/values", dir) >= (int)sizeof(p))
		return -1; /* the caller's count check fails */
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".vlog") != NULL;
	closedir(d);
	return n;
}

struct collect {
	int n;
	uint64_t bytes;
	bool null_values;
	uint8_t first[4096];
	size_t first_len;
};

static int collect_pair(void *arg, int table, const void *k, size_t kl,
			const void *v, size_t vl)
{
	struct collect *c = arg;

	(void)k;
	(void)kl;
	if (table != 0)
		return 0;
	if (c->n == 0 && v != NULL && vl <= sizeof(c->first)) {
		memcpy(c->first, v, vl);
		c->first_len = vl;
	}
	c->n++;
	c->bytes += vl;
	c->null_values |= v == NULL;
	return 0;
}

static void test_apart_and_in_place(void **state)
{
	struct vfx *f = *state, g;
	struct rk_store_stats st;
	uint64_t sum1, sum2, applied;

	vfx_open(f, 512, 0);
	put(f, 1, 1, 100);  /* in place */
	put(f, 2, 1, 2000); /* apart */
	put(f, 3, 1, 512);  /* apart: the threshold is inclusive */
	put(f, 4, 1, 511);  /* in place */
	expect(f, 1, 1, 100);
	expect(f, 2, 1, 2000);
	expect(f, 3, 1, 512);
	expect(f, 4, 1, 511);
	assert_int_equal(live(f), rec(2000) + rec(512));
	rk_store_stats(f->s, &st);
	assert_true(st.values_bytes >= VLOG_SEG_HEADER + rec(2000) + rec(512));

	/* Overwrites both ways, a delete. */
	put(f, 2, 2, 50);
	put(f, 1, 2, 3000);
	assert_int_equal(live(f), rec(3000) + rec(512));
	struct rk_store_batch *b = rk_store_batch_new();
	rk_store_batch_del(b, "k00003", 6);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(live(f), rec(3000));
	expect(f, 1, 2, 3000);
	expect(f, 2, 2, 50);
	const void *v;
	size_t vl;
	assert_int_equal(rk_store_get(f->r, "k00003", 6, &v, &vl), RK_ENOTFOUND);

	/* A scan reads the values, a scan of lengths does not. */
	struct collect c = {0};
	assert_int_equal(rk_store_scan_span(f->r, 0, "k", 1, "l", 1, collect_pair,
					    &c, &applied), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.bytes, 3000 + 50 + 511);
	assert_false(c.null_values);
	assert_int_equal(c.first_len, 3000);
	memset(&c, 0, sizeof(c));
	assert_int_equal(rk_store_scan_span_lens(f->r, 0, "k", 1, "l", 1,
						 collect_pair, &c, &applied), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.bytes, 3000 + 50 + 511);
	assert_true(c.null_values);

	/* The same writes with every value in place: the same checksum (what
	 * replicas compare, whichever way each keeps its values). */
	assert_int_equal(rk_store_checksum_span(f->r, 0, "k", 1, "l", 1, &sum1,
						&applied), 0);
	snprintf(g.dir, sizeof(g.dir), "%.500s/inplace", f->dir);
	vfx_open(&g, 0, 0);
	put(&g, 1, 1, 100);
	put(&g, 2, 1, 2000);
	put(&g, 3, 1, 512);
	put(&g, 4, 1, 511);
	put(&g, 2, 2, 50);
	put(&g, 1, 2, 3000);
	b = rk_store_batch_new();
	rk_store_batch_del(b, "k00003", 6);
	assert_int_equal(rk_store_write(g.s, b), 0);
	assert_int_equal(rk_store_checksum_span(g.r, 0, "k", 1, "l", 1, &sum2,
						&applied), 0);
	assert_int_equal(sum1, sum2);
	assert_int_equal(live(&g), 0);
	assert_int_equal(segment_files(g.dir), 0);
	vfx_close(&g);

	/* Reopened: the same. */
	vfx_close(f);
	vfx_open(f, 512, 0);
	expect(f, 1, 2, 3000);
	expect(f, 2, 2, 50);
	expect(f, 4, 1, 511);
	assert_int_equal(live(f), rec(3000));
}

struct stage_ctx {
	struct rk_store_snap_out *o;
};

static int stage_pair(void *arg, int table, const void *k, size_t kl,
		      const void *v, size_t vl)
{
	struct stage_ctx *c = arg;
	return rk_store_snap_add(c->o, table, k, kl, v, vl);
}

/* A cleared span and a snapshot installed over rows kept apart take
 * their records out of the live bytes. */
static void test_clear_and_install(void **state)
{
	struct vfx *f = *state, g;
	struct rk_store_apply_state as = {100, "[k,l)", 5};
	struct rk_store_snap_meta m = {6, 100, 3, "k", "l", "[k,l)", 1, 1, 5};
	struct stage_ctx c;
	uint64_t applied;
	char name[128];

	vfx_open(f, 512, 0);
	for (unsigned i = 0; i < 100; i++)
		put(f, i, 1, 600 + i);
	uint64_t all = 0;
	for (unsigned i = 0; i < 100; i++)
		all += rec(600 + i);
	assert_int_equal(live(f), all);
	struct rk_store_batch *b = rk_store_batch_new();
	rk_store_batch_clear_span(b, "k00050", 6, "k00060", 6);
	assert_int_equal(rk_store_write(f->s, b), 0);
	for (unsigned i = 50; i < 60; i++)
		all -= rec(600 + i);
	assert_int_equal(live(f), all);

	/* g: other values of the same keys, staged from f's span. */
	snprintf(g.dir, sizeof(g.dir), "%.500s/g", f->dir);
	vfx_open(&g, 512, 0);
	for (unsigned i = 0; i < 100; i++)
		put(&g, i, 2, 1000);
	assert_int_equal(live(&g), 100 * rec(1000));
	assert_int_equal(rk_store_snap_create(g.s, &m, &c.o), 0);
	assert_int_equal(rk_store_scan_span(f->r, 0, "k", 1, "l", 1, stage_pair,
					    &c, &applied), 0);
	assert_int_equal(rk_store_snap_finish(c.o, name, sizeof(name)), 0);
	b = rk_store_batch_new();
	rk_store_batch_apply_state(b, 6, &as);
	rk_store_batch_install(b, 6, 100, name);
	assert_int_equal(rk_store_write(g.s, b), 0);
	assert_int_equal(rk_store_install_run(g.r, 6), 0);
	for (unsigned i = 0; i < 100; i++) {
		if (i >= 50 && i < 60) {
			const void *v;
			size_t vl;
			char key[16];
			snprintf(key, sizeof(key), "k%05u", i);
			assert_int_equal(rk_store_get(g.r, key, 6, &v, &vl),
					 RK_ENOTFOUND);
			continue;
		}
		expect(&g, i, 1, 600 + i);
	}
	/* The install's own transactions handed their changes over: the next
	 * commit of the storage thread writes them. The installed values are
	 * in place. */
	put(&g, 500, 1, 10);
	assert_int_equal(live(&g), 0);
	vfx_close(&g);
}

/* Checkpoints until cond holds (collection runs between them), at most
 * 200 times. */
#define CHECKPOINT_UNTIL(f, cond)                                            \
	do {                                                                  \
		int tries_ = 0;                                               \
		while (!(cond) && tries_++ < 200) {                           \
			assert_int_equal(rk_store_checkpoint((f)->s), 0);     \
			struct timespec ts_ = {0, 5000000};                   \
			nanosleep(&ts_, NULL);                                \
		}                                                             \
		assert_true(cond);                                            \
	} while (0)

static uint64_t values_bytes(struct vfx *f)
{
	struct rk_store_stats st;
	rk_store_stats(f->s, &st);
	return st.values_bytes;
}

static uint64_t moved_bytes(struct vfx *f)
{
	struct rk_store_stats st;
	rk_store_stats(f->s, &st);
	return st.values_moved_bytes;
}

static uint64_t retired(struct vfx *f)
{
	struct rk_store_stats st;
	rk_store_stats(f->s, &st);
	return st.values_segments_retired;
}

/* Overwritten values leave garbage that collection gives back, the live
 * ones copied first; every key reads its last value throughout. */
static void test_collection(void **state)
{
	struct vfx *f = *state;
	const unsigned keys = 400;

	vfx_open(f, 512, 64 << 10);
	for (unsigned v = 1; v <= 3; v++)
		for (unsigned i = 0; i < keys; i++)
			put(f, i, v, 1000);
	uint64_t want = keys * rec(1000);
	assert_int_equal(live(f), want);
	print_message("3 writes of %u keys: %d segments, %llu bytes for %llu live\n",
		      keys, segment_files(f->dir),
		      (unsigned long long)values_bytes(f), (unsigned long long)want);
	assert_true(values_bytes(f) > 2 * want);
	/* The first two generations' segments hold nothing live. */
	CHECKPOINT_UNTIL(f, values_bytes(f) < want + want / 2);
	assert_int_equal(live(f), want);
	for (unsigned i = 0; i < keys; i++)
		expect(f, i, 3, 1000);

	/* Two thirds of each segment overwritten: collected, the last third
	 * copied. */
	uint64_t moved = moved_bytes(f);
	for (unsigned i = 0; i < keys; i++)
		if (i % 3 != 0)
			put(f, i, 4, 1000);
	CHECKPOINT_UNTIL(f, values_bytes(f) < want + want / 4 &&
				    moved_bytes(f) > moved);
	print_message("two thirds overwritten: %llu bytes for %llu live, %llu copied\n",
		      (unsigned long long)values_bytes(f), (unsigned long long)want,
		      (unsigned long long)(moved_bytes(f) - moved));
	assert_int_equal(live(f), want);
	for (unsigned i = 0; i < keys; i++)
		expect(f, i, i % 3 ? 4 : 3, 1000);
	/* And after a reopen. */
	vfx_close(f);
	vfx_open(f, 512, 64 << 10);
	assert_int_equal(live(f), want);
	for (unsigned i = 0; i < keys; i++)
		expect(f, i, i % 3 ? 4 : 3, 1000);
}

/* A pinned reader (a snapshot being sent, a scan) keeps the segments its
 * snapshot refers to until it lets go. */
static void test_pinned_reader_keeps_segments(void **state)
{
	struct vfx *f = *state;
	struct rk_store_reader *pinned;
	uint64_t applied;
	const unsigned keys = 200;

	vfx_open(f, 512, 64 << 10);
	for (unsigned i = 0; i < keys; i++)
		put(f, i, 1, 1000);
	assert_int_equal(rk_store_reader_open(f->s, &pinned), 0);
	assert_int_equal(rk_store_reader_pin(pinned, 0, &applied), 0);
	int before = segment_files(f->dir);
	for (unsigned i = 0; i < keys; i++)
		put(f, i, 2, 1000);
	uint64_t want = keys * rec(1000);
	/* Collected (nothing live in the old segments: retired)... */
	CHECKPOINT_UNTIL(f, retired(f) >= (uint64_t)before - 1);
	assert_int_equal(live(f), want);
	/* ...but the files stay while the pin holds them. */
	int held = segment_files(f->dir);
	assert_true(held > before);
	struct collect c = {0};
	assert_int_equal(rk_store_scan_span(pinned, 0, "k", 1, "l", 1,
					    collect_pair, &c, &applied), 0);
	assert_int_equal(c.n, keys);
	uint8_t want0[1000];
	fill(want0, sizeof(want0), 0, 1);
	assert_memory_equal(c.first, want0, sizeof(want0));
	rk_store_reader_unpin(pinned);
	CHECKPOINT_UNTIL(f, segment_files(f->dir) <= held - (before - 1));
	rk_store_reader_close(pinned);
	for (unsigned i = 0; i < keys; i++)
		expect(f, i, 2, 1000);
}

static uint64_t format_of(struct vfx *f)
{
	const void *v;
	size_t vl;
	assert_int_equal(rk_store_meta_get(f->r, "format", &v, &vl), 0);
	assert_int_equal(vl, 8);
	return rk_le_get64(v);
}

/* A new directory is format 2; one of format 1 is marked 2 when opened
 * (a release that reads format 1 only refuses it then: it would take
 * references for values). */
static void test_format_mark(void **state)
{
	struct vfx *f = *state;
	uint8_t v[8];

	vfx_open(f, 512, 0);
	assert_int_equal(format_of(f), 2);
	struct rk_store_batch *b = rk_store_batch_new();
	rk_le_put64(v, 1);
	rk_store_batch_meta_put(b, "format", v, 8);
	rk_store_batch_put(b, "k00001", 6, "small", 5);
	assert_int_equal(rk_store_write(f->s, b), 0);
	assert_int_equal(format_of(f), 1);
	vfx_close(f);
	vfx_open(f, 512, 0);
	assert_int_equal(format_of(f), 2);
	const void *val;
	size_t vl;
	assert_int_equal(rk_store_get(f->r, "k00001", 6, &val, &vl), 0);
	assert_int_equal(vl, 5);
	/* A newer format is refused, as before. */
	b = rk_store_batch_new();
	rk_le_put64(v, 3);
	rk_store_batch_meta_put(b, "format", v, 8);
	assert_int_equal(rk_store_write(f->s, b), 0);
	vfx_close(f);
	char err[512];
	int rc;
	struct rk_store *s = open_with(f->dir, 512, 0, &rc, err, sizeof(err));
	assert_null(s);
	assert_int_equal(rc, RK_EVERSION);
}

/* A flipped bit in a stored value is an error, never the value; a
 * segment that is not the value log's is refused at open, untouched. */
static void test_corruption(void **state)
{
	struct vfx *f = *state;
	char path[700], err[512];
	const void *v;
	size_t vl;
	int rc;

	vfx_open(f, 512, 64 << 10);
	for (unsigned i = 0; i < 200; i++)
		put(f, i, 1, 1000);
	vfx_close(f);
	/* Value of key 0: the first record of the first segment. */
	snprintf(path, sizeof(path), "%s/values/00000001.vlog", f->dir);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t c;
	off_t at = VLOG_SEG_HEADER + VLOG_REC_HEADER + 6 + 500;
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 4;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	vfx_open(f, 512, 64 << 10);
	assert_int_equal(rk_store_get(f->r, "k00000", 6, &v, &vl), RK_ECORRUPT);
	expect(f, 1, 1, 1000);
	vfx_close(f);
	/* The first segment's header overwritten. */
	assert_int_equal(pwrite(fd, "NOTAVLOG", 8, 0), 8);
	close(fd);
	struct rk_store *s = open_with(f->dir, 512, 64 << 10, &rc, err, sizeof(err));
	assert_null(s);
	assert_int_equal(rc, RK_ECORRUPT);
	assert_non_null(strstr(err, "value log"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size > 64 << 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apart_and_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clear_and_install, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinned_reader_keeps_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
