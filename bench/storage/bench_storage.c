/*
 * Storage layer benchmarks (scripts/bench/storage.sh runs them all).
 *
 *   bench_storage append --ranges R --batch B [--seconds S] [--rounds N]
 *       The same writes through raw WiredTiger and through rk_store, in
 *       alternating rounds on fresh directories: B entries (16-byte key
 *       (range, index), 128-byte value) spread over R ranges, plus one
 *       hard-state row per range touched, one transaction and one log flush
 *       per batch. Prints entries/s of each, their ratio (median of rounds),
 *       and the p50/p99 of rk_store's group-commit flush.
 *
 *   bench_storage snapshot --mb M
 *       Fills a range with M MB (16-byte keys, 128-byte values), then times
 *       the snapshot (consistent scan into a sealed staging file) and its
 *       install into another store.
 *
 *   bench_storage journal [--rows N]
 *       Apply-path inserts (16-byte keys, 128-byte values, 64 per
 *       transaction) into a WiredTiger-logged table and into a non-logged
 *       one: the measurement behind "journal once" (docs/storage.md).
 *
 *   bench_storage compress [--rows N]
 *       For each compression (none, snappy, zlib) and for incompressible
 *       (random) and compressible (text) 1 KB values: N writes through
 *       rk_store, each a raft entry holding the value and the apply of an
 *       earlier one (random 16-byte key, the value), 64 per batch and one
 *       flush each, then a checkpoint. Prints writes/s, CPU seconds of the
 *       process, and the bytes of raftlog.wt and kv.wt.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <wiredtiger.h>

#include "store.h"

#define VALUE_LEN 128
/* The storage layer's connection configuration (src/storage/store.c), for
 * the raw WiredTiger references. */
#define RAW_WT_CONFIG                                                          \
	"create,cache_size=256M,session_max=256,"                              \
	"log=(enabled=true,archive=true,file_max=64MB),"                       \
	"transaction_sync=(enabled=false),statistics=(none)"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mkdir_fresh(char *out, size_t n, const char *tag)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, n, "%s/rk-bench-%s-XXXXXX", base ? base : "/tmp", tag);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	/* Let the writeback of this round finish before the next starts, so
	 * that no round pays for another's dirty pages. */
	sync();
	usleep(200000);
}

#define CHECK(x)                                                               \
	do {                                                                   \
		int rc_ = (x);                                                 \
		if (rc_ != 0) {                                                \
			fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__,    \
				__LINE__, #x, rc_);                            \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* ---- append: raw WiredTiger vs rk_store ------------------------------------------ */

struct cell {
	uint64_t ranges, batch;
	double seconds;
	int only; /* 0 both, 1 raw only, 2 rk_store only (for profiling) */
};

/* Raw WiredTiger with the storage layer's configuration and tables. */
static double raw_round(const struct cell *c)
{
	WT_CONNECTION *conn;
	WT_SESSION *s;
	WT_CURSOR *log, *st;
	WT_ITEM v;
	char dir[512];
	uint8_t val[12 + VALUE_LEN], hs[64];
	uint64_t *next = calloc(c->ranges + 1, sizeof(uint64_t));
	uint8_t *touched = calloc(c->ranges + 1, 1);
	uint64_t cursor = 0, entries = 0;
	double t0, t;

	mkdir_fresh(dir, sizeof(dir), "raw");
	CHECK(wiredtiger_open(dir, NULL,
			      RAW_WT_CONFIG, &conn));
	CHECK(conn->open_session(conn, NULL, "isolation=snapshot", &s));
	CHECK(s->create(s, "table:raftlog", "key_format=QQ,value_format=u"));
	CHECK(s->create(s, "table:raftstate", "key_format=Q,value_format=u"));
	CHECK(s->open_cursor(s, "table:raftlog", NULL, NULL, &log));
	CHECK(s->open_cursor(s, "table:raftstate", NULL, NULL, &st));
	memset(val, 'v', sizeof(val));
	memset(hs, 'h', sizeof(hs));
	t0 = now_s();
	do {
		CHECK(s->begin_transaction(s, NULL));
		for (uint64_t i = 0; i < c->batch; i++) {
			uint64_t r = cursor++ % c->ranges + 1;
			log->set_key(log, r, ++next[r]);
			v.data = val;
			v.size = sizeof(val);
			log->set_value(log, &v);
			CHECK(log->insert(log));
			touched[r] = 1;
		}
		for (uint64_t i = 0, r = (cursor - c->batch) % c->ranges + 1;
		     i < c->batch && i < c->ranges; i++) {
			if (touched[r]) {
				st->set_key(st, r);
				v.data = hs;
				v.size = 50;
				st->set_value(st, &v);
				CHECK(st->insert(st));
				touched[r] = 0;
			}
			r = r % c->ranges + 1;
		}
		CHECK(s->commit_transaction(s, NULL));
		CHECK(s->log_flush(s, "sync=on"));
		entries += c->batch;
		t = now_s();
	} while (t - t0 < c->seconds);
	conn->close(conn, NULL);
	rm_rf(dir);
	free(next);
	free(touched);
	return (double)entries / (t - t0);
}

/* Replica 1 at term 1, and an entry of term 1 carrying val. */
static void entry_init(struct rk_store_raft_state *rs, struct rk_raft_entry *e,
		       uint8_t *val, uint32_t len)
{
	memset(rs, 0, sizeof(*rs));
	rs->replica_id = 1;
	rs->hs.term = 1;
	e->term = 1;
	e->type = 0;
	e->data = val;
	e->len = len;
}

static double store_round(const struct cell *c, double *p50, double *p99)
{
	struct rk_store_options o;
	struct rk_store *s;
	struct rk_store_stats stats;
	struct rk_store_raft_state rs;
	struct rk_raft_entry e;
	char dir[512], err[256];
	uint8_t val[VALUE_LEN];
	uint64_t *next = calloc(c->ranges + 1, sizeof(uint64_t));
	uint64_t cursor = 0, entries = 0;
	double t0, t;

	mkdir_fresh(dir, sizeof(dir), "store");
	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.checkpoint_secs = 0;
	if (rk_store_open(&o, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
	memset(val, 'v', sizeof(val));
	entry_init(&rs, &e, val, VALUE_LEN);
	t0 = now_s();
	do {
		struct rk_store_batch *b = rk_store_batch_new();
		for (uint64_t i = 0; i < c->batch; i++) {
			uint64_t r = cursor++ % c->ranges + 1;
			e.index = ++next[r];
			rk_store_batch_append(b, r, &e, 1);
		}
		for (uint64_t i = 0, r = (cursor - c->batch) % c->ranges + 1;
		     i < c->batch && i < c->ranges; i++) {
			rs.hs.commit = next[r];
			rk_store_batch_raft_state(b, r, &rs);
			r = r % c->ranges + 1;
		}
		CHECK(rk_store_write(s, b));
		entries += c->batch;
		t = now_s();
	} while (t - t0 < c->seconds);
	rk_store_stats(s, &stats);
	*p50 = stats.flush_p50_s;
	*p99 = stats.flush_p99_s;
	rk_store_close(s);
	rm_rf(dir);
	free(next);
	return (double)entries / (t - t0);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_d);
	return v[n / 2];
}

static void bench_append(const struct cell *c, int rounds)
{
	double raw[16], st[16], ratio[16], p50[16], p99[16];

	if (rounds > 16)
		rounds = 16;
	for (int i = 0; i < rounds; i++) {
		/* Alternate the order so drift on a shared machine evens out. */
		raw[i] = st[i] = p50[i] = p99[i] = 1;
		if (i % 2 == 0) {
			if (c->only != 2)
				raw[i] = raw_round(c);
			if (c->only != 1)
				st[i] = store_round(c, &p50[i], &p99[i]);
		} else {
			if (c->only != 1)
				st[i] = store_round(c, &p50[i], &p99[i]);
			if (c->only != 2)
				raw[i] = raw_round(c);
		}
		ratio[i] = st[i] / raw[i];
	}
	printf("append ranges=%llu batch=%llu: raw WiredTiger %.0f entries/s, "
	       "rk_store %.0f entries/s, ratio %.2f (median of %d rounds); "
	       "flush p50 %.2f ms p99 %.2f ms\n",
	       (unsigned long long)c->ranges, (unsigned long long)c->batch,
	       median(raw, rounds), median(st, rounds), median(ratio, rounds),
	       rounds, median(p50, rounds) * 1e3, median(p99, rounds) * 1e3);
	fflush(stdout);
}

/* ---- snapshot and install of one range ------------------------------------------ */

static struct rk_store *open_store_with(char *dir, size_t n, const char *tag,
				       enum rk_store_compression comp)
{
	struct rk_store_options o;
	struct rk_store *s;
	char err[256];

	mkdir_fresh(dir, n, tag);
	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = 1;
	o.checkpoint_secs = 0;
	o.compression = comp;
	if (rk_store_open(&o, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		exit(1);
	}
	return s;
}

static struct rk_store *open_store(char *dir, size_t n, const char *tag)
{
	return open_store_with(dir, n, tag, RK_STORE_COMPRESS_DEFAULT);
}

static int stage(void *arg, int table, const void *key, size_t klen,
		 const void *val, size_t vlen)
{
	return rk_store_snap_add(arg, table, key, klen, val, vlen);
}

static void bench_snapshot(uint64_t mb)
{
	uint64_t pairs = mb * 1000000 / (16 + VALUE_LEN);
	char sdir[512], ddir[512], key[24], name[128];
	uint8_t val[VALUE_LEN];
	struct rk_store *src = open_store(sdir, sizeof(sdir), "snapsrc");
	struct rk_store *dst = open_store(ddir, sizeof(ddir), "snapdst");
	struct rk_store_reader *rs, *rd;
	struct rk_store_snap_meta m = {9, 1000, 1, "k", "l", "desc", 1, 1, 4};
	struct rk_store_snap_out *o;
	struct rk_store_batch *b;
	struct rk_store_apply_state as = {1000, "desc", 4};
	uint64_t applied, sum_src, sum_dst;
	double t0, t_scan, t_install;

	memset(val, 'x', sizeof(val));
	for (uint64_t i = 0; i < pairs;) {
		b = rk_store_batch_new();
		for (int j = 0; j < 10000 && i < pairs; j++, i++) {
			snprintf(key, sizeof(key), "k%015llu", (unsigned long long)i);
			memcpy(val, key, 16);
			rk_store_batch_put(b, key, 16, val, VALUE_LEN);
		}
		if (i == pairs)
			rk_store_batch_apply_state(b, 9, &as);
		CHECK(rk_store_write(src, b));
	}
	CHECK(rk_store_checkpoint(src));
	CHECK(rk_store_reader_open(src, &rs));
	CHECK(rk_store_reader_open(dst, &rd));

	t0 = now_s();
	CHECK(rk_store_snap_create(dst, &m, &o));
	CHECK(rk_store_scan_span(rs, 9, "k", 1, "l", 1, stage, o, &applied));
	CHECK(rk_store_snap_finish(o, name, sizeof(name)));
	t_scan = now_s() - t0;

	t0 = now_s();
	b = rk_store_batch_new();
	rk_store_batch_install(b, 9, 1000, name);
	CHECK(rk_store_write(dst, b));
	CHECK(rk_store_install_run(rd, 9));
	t_install = now_s() - t0;

	CHECK(rk_store_checksum_span(rs, 9, "k", 1, "l", 1, &sum_src, &applied));
	CHECK(rk_store_checksum_span(rd, 9, "k", 1, "l", 1, &sum_dst, &applied));
	printf("snapshot %llu MB (%llu pairs): scan + stage %.2f s (%.0f MB/s), "
	       "install %.2f s (%.0f MB/s), checksums %s\n",
	       (unsigned long long)mb, (unsigned long long)pairs, t_scan,
	       (double)mb / t_scan, t_install, (double)mb / t_install,
	       sum_src == sum_dst ? "equal" : "DIFFER");
	rk_store_reader_close(rs);
	rk_store_reader_close(rd);
	rk_store_close(src);
	rk_store_close(dst);
	rm_rf(sdir);
	rm_rf(ddir);
}

/* ---- journal once: logged vs non-logged apply tables ----------------------------- */

/* Bytes this process caused to be written to storage (/proc/self/io). */
static uint64_t io_written(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "write_bytes: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* The write path of a node in raw WiredTiger: per group, 64 raft entries
 * (140 bytes) and a hard state into the logged log tables, and the apply of
 * 64 earlier entries (random 16-byte keys, 130-byte values) and an apply
 * state, one transaction and one log flush; the KV and apply tables logged
 * or not. Ends with a checkpoint, so both variants end durable. */
static double journal_round(uint64_t rows, bool logged, double *mbp)
{
	uint64_t io0 = io_written();
	const char *sm = logged ? "key_format=u,value_format=u"
				: "key_format=u,value_format=u,log=(enabled=false)";
	WT_CONNECTION *conn;
	WT_SESSION *s;
	WT_CURSOR *kv, *ap, *log, *st;
	WT_ITEM k, v;
	char dir[512], key[24];
	uint8_t val[2 + VALUE_LEN], ent[12 + VALUE_LEN];
	uint64_t x = 88172645463325252ull, idx = 0;
	double t0, t;

	mkdir_fresh(dir, sizeof(dir), "journal");
	CHECK(wiredtiger_open(dir, NULL,
			      RAW_WT_CONFIG, &conn));
	CHECK(conn->open_session(conn, NULL, NULL, &s));
	CHECK(s->create(s, "table:raftlog", "key_format=QQ,value_format=u"));
	CHECK(s->create(s, "table:raftstate", "key_format=Q,value_format=u"));
	CHECK(s->create(s, "table:kv", sm));
	CHECK(s->create(s, "table:apply", logged ? "key_format=Q,value_format=u"
		      : "key_format=Q,value_format=u,log=(enabled=false)"));
	CHECK(s->open_cursor(s, "table:kv", NULL, NULL, &kv));
	CHECK(s->open_cursor(s, "table:apply", NULL, NULL, &ap));
	CHECK(s->open_cursor(s, "table:raftlog", NULL, NULL, &log));
	CHECK(s->open_cursor(s, "table:raftstate", NULL, NULL, &st));
	memset(val, 'v', sizeof(val));
	memset(ent, 'e', sizeof(ent));
	t0 = now_s();
	for (uint64_t i = 0; i < rows; i += 64) {
		CHECK(s->begin_transaction(s, NULL));
		for (int j = 0; j < 64; j++) {
			log->set_key(log, (uint64_t)1, ++idx);
			v.data = ent;
			v.size = sizeof(ent);
			log->set_value(log, &v);
			CHECK(log->insert(log));
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			snprintf(key, sizeof(key), "%016llx", (unsigned long long)x);
			k.data = key;
			k.size = 16;
			v.data = val;
			v.size = sizeof(val);
			kv->set_key(kv, &k);
			kv->set_value(kv, &v);
			CHECK(kv->insert(kv));
		}
		v.data = val;
		v.size = 50;
		st->set_key(st, (uint64_t)1);
		st->set_value(st, &v);
		CHECK(st->insert(st));
		ap->set_key(ap, (uint64_t)1);
		ap->set_value(ap, &v);
		CHECK(ap->insert(ap));
		CHECK(s->commit_transaction(s, NULL));
		CHECK(s->log_flush(s, "sync=on"));
	}
	CHECK(s->checkpoint(s, NULL));
	t = now_s();
	conn->close(conn, NULL);
	*mbp = (double)(io_written() - io0) / 1e6;
	rm_rf(dir);
	return (double)rows / (t - t0);
}

static void bench_journal(uint64_t rows, int rounds)
{
	double l[16], n[16], r[16], lmb[16], nmb[16];

	if (rounds > 16)
		rounds = 16;
	for (int i = 0; i < rounds; i++) {
		l[i] = journal_round(rows, true, &lmb[i]);
		n[i] = journal_round(rows, false, &nmb[i]);
		r[i] = n[i] / l[i];
	}
	printf("journal: %llu writes (append + apply, 64 per group, one flush each): "
	       "state machine logged %.0f/s writing %.0f MB, not logged %.0f/s writing %.0f MB; "
	       "speed ratio %.2f (median of %d rounds)\n",
	       (unsigned long long)rows, median(l, rounds), median(lmb, rounds),
	       median(n, rounds), median(nmb, rounds), median(r, rounds), rounds);
}

/* ---- compression ------------------------------------------------------------- */

#define BIG_VALUE 1024

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Incompressible: random bytes. Compressible: words of a small vocabulary
 * with numbers, like JSON documents or log lines. */
static void fill_value(uint8_t *v, bool text, uint64_t *x)
{
	static const char *const words[] = {
		"\"user\":", "\"id\":", "\"name\":", "\"status\":\"active\",",
		"\"created\":", "\"tags\":[", "\"email\":", "\"score\":",
		"order ", "shipped ", "payment ", "accepted ", "warehouse ",
		"customer ", "the ", "of ", "and ", "request ", "GET /api/v1/items ",
	};
	size_t i = 0;

	while (i < BIG_VALUE) {
		if (!text) {
			uint64_t r = xorshift(x);
			size_t n = BIG_VALUE - i < 8 ? BIG_VALUE - i : 8;
			memcpy(v + i, &r, n);
			i += n;
			continue;
		}
		uint64_t r = xorshift(x);
		const char *w = words[r % (sizeof(words) / sizeof(words[0]))];
		char num[24];
		int nl = snprintf(num, sizeof(num), "%llu,", (unsigned long long)(r >> 40));
		for (const char *p = w; *p && i < BIG_VALUE; p++)
			v[i++] = (uint8_t)*p;
		for (int k = 0; k < nl && (r & 3) == 0 && i < BIG_VALUE; k++)
			v[i++] = (uint8_t)num[k];
	}
}

static double file_mb(const char *dir, const char *name)
{
	char path[600];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (double)st.st_blocks * 512 / 1e6 : 0;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void compress_round(uint64_t rows, enum rk_store_compression comp,
			   bool text)
{
	struct rk_store *s;
	struct rk_store_raft_state rs;
	struct rk_store_apply_state as = {0, "d", 1};
	struct rk_raft_entry e;
	char dir[512], key[24];
	uint8_t val[BIG_VALUE];
	uint64_t x = 88172645463325252ull, idx = 0;
	double t0, c0, t, c;

	s = open_store_with(dir, sizeof(dir), "compress", comp);
	entry_init(&rs, &e, val, BIG_VALUE);
	t0 = now_s();
	c0 = cpu_s();
	for (uint64_t i = 0; i < rows; i += 64) {
		struct rk_store_batch *b = rk_store_batch_new();
		for (int j = 0; j < 64; j++) {
			fill_value(val, text, &x);
			e.index = ++idx;
			rk_store_batch_append(b, 1, &e, 1);
			snprintf(key, sizeof(key), "%016llx", (unsigned long long)xorshift(&x));
			rk_store_batch_put(b, key, 16, val, BIG_VALUE);
		}
		rs.hs.commit = idx;
		rk_store_batch_raft_state(b, 1, &rs);
		as.applied = idx;
		rk_store_batch_apply_state(b, 1, &as);
		CHECK(rk_store_write(s, b));
	}
	CHECK(rk_store_checkpoint(s));
	t = now_s();
	c = cpu_s();
	printf("compress %-6s %-14s: %7.0f writes/s, %5.1f CPU s (%.0f us/write), raftlog.wt %6.1f MB, kv.wt %6.1f MB, logical %6.1f MB each\n",
	       rk_store_compression_name(comp), text ? "compressible" : "incompressible",
	       (double)rows / (t - t0), c - c0, (c - c0) * 1e6 / (double)rows,
	       file_mb(dir, "raftlog.wt"), file_mb(dir, "kv.wt"),
	       (double)rows * BIG_VALUE / 1e6);
	rk_store_close(s);
	rm_rf(dir);
}

static void bench_compress(uint64_t rows)
{
	for (int text = 0; text < 2; text++)
		for (int c = RK_STORE_COMPRESS_NONE; c <= RK_STORE_COMPRESS_ZLIB; c++)
			compress_round(rows, (enum rk_store_compression)c, text);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_storage append --ranges R --batch B [--seconds S] [--rounds N]\n"
		"                            [--only raw|store]\n"
		"       bench_storage snapshot [--mb M]\n"
		"       bench_storage journal [--rows N] [--rounds N]\n"
		"       bench_storage compress [--rows N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct cell c = {1, 1, 2.0, 0};
	uint64_t mb = 100, rows = 1000000;
	int rounds = 3;

	if (argc < 2)
		usage();
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--ranges") == 0)
			c.ranges = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--batch") == 0)
			c.batch = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			c.seconds = atof(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0)
			c.only = strcmp(argv[++i], "raw") == 0 ? 1 : 2;
		else if (strcmp(argv[i], "--mb") == 0)
			mb = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rows") == 0)
			rows = strtoull(argv[++i], NULL, 10);
		else
			usage();
	}
	if (c.ranges == 0 || c.batch == 0 || rounds < 1)
		usage();
	if (strcmp(argv[1], "append") == 0)
		bench_append(&c, rounds);
	else if (strcmp(argv[1], "snapshot") == 0)
		bench_snapshot(mb);
	else if (strcmp(argv[1], "journal") == 0)
		bench_journal(rows, rounds);
	else if (strcmp(argv[1], "compress") == 0)
		bench_compress(rows);
	else
		usage();
	return 0;
}
