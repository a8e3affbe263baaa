/*
 * The value log (src/storage/vlog.h): records written, read back and
 * checked; segments rotated, reopened, their torn tails cut; corrupt and
 * foreign segments refused; pinned readers keeping retired segments; and
 * a real kill -9 of a child that writes, after which every record it
 * reported durable reads back whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rangekv/error.h"
#include "util.h"
#include "vlog.h"

struct fx {
	char dir[512];
	char vdir[600];
	struct store_vlog *v;
	uint8_t *buf;
	size_t cap;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	tmpdir_make(f->dir, sizeof(f->dir), "vlog");
	snprintf(f->vdir, sizeof(f->vdir), "%s/values", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_vlog_close(f->v);
	free(f->buf);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fx *f, uint64_t *cutp)
{
	store_vlog_close(f->v);
	f->v = NULL;
	assert_int_equal(store_vlog_open(f->vdir, false, &f->v, cutp), 0);
}

/* Value i of a test: i's bytes repeated, n of them. */
static void fill(uint8_t *p, size_t n, unsigned i)
{
	for (size_t j = 0; j < n; j++)
		p[j] = (uint8_t)(i * 31 + j * 7);
}

static void check_value(struct fx *f, const struct store_vref *ref,
			 const char *key, size_t n, unsigned i)
{
	uint8_t want[4096];
	size_t vl;

	assert_true(n <= sizeof(want));
	fill(want, n, i);
	assert_int_equal(store_vlog_get(f->v, ref, key, strlen(key), &f->buf,
					&f->cap, &vl), 0);
	assert_int_equal(vl, n);
	assert_memory_equal(f->buf, want, n);
}

static void seg_path(const struct fx *f, uint32_t seq, char *out, size_t n)
{
	snprintf(out, n, "%s/%08x.vlog", f->vdir, seq);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	struct store_vref refs[50], r;
	uint8_t val[4096];
	char key[32];
	size_t vl;

	/* Without create, a missing directory is not made. */
	assert_int_equal(store_vlog_open(f->vdir, false, &f->v, NULL),
			 RK_ENOTFOUND);
	assert_null(f->v);
	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	for (unsigned i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%u", i);
		fill(val, 100 + i * 50, i);
		assert_int_equal(store_vlog_add(f->v, key, strlen(key), val,
						100 + i * 50, &refs[i]), 0);
		assert_int_equal(refs[i].seg, 1);
		assert_int_equal(refs[i].vlen, 100 + i * 50);
	}
	assert_true(store_vlog_pending(f->v) > 0);
	/* Not readable before the flush that makes it durable. */
	assert_int_equal(store_vlog_get(f->v, &refs[0], "key-0", 5, &f->buf,
					&f->cap, &vl), RK_ECORRUPT);
	assert_int_equal(store_vlog_flush(f->v), 0);
	assert_int_equal(store_vlog_pending(f->v), 0);
	for (unsigned i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%u", i);
		check_value(f, &refs[i], key, 100 + i * 50, i);
	}
	/* Another key's reference, a wrong length, an offset inside a record,
	 * a segment that does not exist: never a value. */
	assert_int_equal(store_vlog_get(f->v, &refs[1], "key-0", 5, &f->buf,
					&f->cap, &vl), RK_ECORRUPT);
	r = refs[1];
	r.vlen--;
	assert_int_equal(store_vlog_get(f->v, &r, "key-1", 5, &f->buf, &f->cap,
					&vl), RK_ECORRUPT);
	r = refs[1];
	r.off += 4;
	assert_int_equal(store_vlog_get(f->v, &r, "key-1", 5, &f->buf, &f->cap,
					&vl), RK_ECORRUPT);
	r = refs[1];
	r.off = 3;
	assert_int_equal(store_vlog_get(f->v, &r, "key-1", 5, &f->buf, &f->cap,
					&vl), RK_ECORRUPT);
	r = refs[1];
	r.seg = 9;
	assert_int_equal(store_vlog_get(f->v, &r, "key-1", 5, &f->buf, &f->cap,
					&vl), RK_ENOTFOUND);
	assert_int_equal(vl, 0);

	/* The encoded reference round trips. */
	uint8_t enc[VLOG_REF_LEN];
	store_vref_encode(&refs[7], enc);
	store_vref_decode(enc, &r);
	assert_memory_equal(&r, &refs[7], sizeof(r));

	/* Reopened: the same values, and new records after them. */
	uint64_t cut = 99;
	reopen(f, &cut);
	assert_int_equal(cut, 0);
	for (unsigned i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "key-%u", i);
		check_value(f, &refs[i], key, 100 + i * 50, i);
	}
	fill(val, 10, 99);
	assert_int_equal(store_vlog_add(f->v, "k", 1, val, 10, &r), 0);
	assert_int_equal(r.off, refs[49].off + store_vrec_len(6, 100 + 49 * 50));
	assert_int_equal(store_vlog_flush(f->v), 0);
	check_value(f, &r, "k", 10, 99);

	/* Too large for a segment. */
	assert_int_equal(store_vlog_add(f->v, "k", 1, val, VLOG_REC_MAX, &r),
			 RK_ETOOBIG);
}

static void test_rotation_and_scan(void **state)
{
	struct fx *f = *state;
	size_t n = 1u << 20, nsegs;
	uint8_t *val = malloc(n);
	struct store_vref refs[70];
	struct store_vseg_info *segs;
	struct store_vrec rec;
	char key[32];

	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	for (unsigned i = 0; i < 70; i++) {
		snprintf(key, sizeof(key), "big-%u", i);
		memset(val, (int)i, n);
		assert_int_equal(store_vlog_add(f->v, key, strlen(key), val, n,
						&refs[i]), 0);
	}
	assert_int_equal(store_vlog_flush(f->v), 0);
	/* 63 records of 1 MiB and their headers fill the first segment. */
	assert_int_equal(refs[62].seg, 1);
	assert_int_equal(refs[63].seg, 2);
	assert_int_equal(refs[63].off, VLOG_SEG_HEADER);
	assert_int_equal(store_vlog_segments(f->v, &segs, &nsegs), 0);
	assert_int_equal(nsegs, 2);
	assert_int_equal(segs[0].seq, 1);
	assert_true(segs[0].bytes <= VLOG_SEG_MAX);
	assert_int_equal(segs[1].seq, 2);

	/* The scan of segment 1 meets its records in order. */
	uint32_t off = 0;
	unsigned i = 0;
	int rc;
	while ((rc = store_vlog_next(f->v, 1, &off, &rec)) == 0) {
		snprintf(key, sizeof(key), "big-%u", i);
		assert_int_equal(rec.klen, strlen(key));
		assert_memory_equal(rec.key, key, rec.klen);
		assert_int_equal(rec.vlen, n);
		assert_int_equal(rec.val[n - 1], (uint8_t)i);
		assert_int_equal(off, i + 1 < 63 ? refs[i + 1].off
						  : segs[0].bytes);
		i++;
	}
	assert_int_equal(rc, RK_ENOTFOUND);
	assert_int_equal(i, 63);

	reopen(f, NULL);
	for (i = 0; i < 70; i += 9) {
		size_t vl;
		snprintf(key, sizeof(key), "big-%u", i);
		assert_int_equal(store_vlog_get(f->v, &refs[i], key,
						strlen(key), &f->buf, &f->cap,
						&vl), 0);
		assert_int_equal(vl, n);
		assert_int_equal(f->buf[0], (uint8_t)i);
	}
	free(val);
}

/* Bytes appended to the newest segment after its last record, as a crash
 * in the middle of a write leaves them, are cut at open; the records
 * before them stay. */
static void test_torn_tail(void **state)
{
	struct fx *f = *state;
	struct store_vref refs[10];
	uint8_t val[500], junk[300];
	char key[32], path[700];
	uint64_t cut;

	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	for (unsigned i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "t%u", i);
		fill(val, sizeof(val), i);
		assert_int_equal(store_vlog_add(f->v, key, strlen(key), val,
						sizeof(val), &refs[i]), 0);
	}
	assert_int_equal(store_vlog_flush(f->v), 0);
	seg_path(f, 1, path, sizeof(path));
	off_t whole = file_size(path);

	/* A record's first bytes only (what a torn append leaves). */
	uint8_t rec[600];
	store_vrec_encode(rec, "t10", 3, val, sizeof(val));
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, rec, 200), 200);
	close(fd);
	reopen(f, &cut);
	assert_int_equal(cut, 200);
	assert_int_equal(file_size(path), whole);
	for (unsigned i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "t%u", i);
		check_value(f, &refs[i], key, sizeof(val), i);
	}

	/* A whole record with a changed byte, then junk: both cut. */
	rec[100] ^= 1;
	memset(junk, 0, sizeof(junk));
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, rec, store_vrec_len(3, sizeof(val))),
			 (ssize_t)store_vrec_len(3, sizeof(val)));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	reopen(f, &cut);
	assert_int_equal(cut, store_vrec_len(3, sizeof(val)) + sizeof(junk));
	assert_int_equal(file_size(path), whole);

	/* The next record goes where the cut was. */
	struct store_vref r;
	assert_int_equal(store_vlog_add(f->v, "t10", 3, val, sizeof(val), &r), 0);
	assert_int_equal(r.off, (uint32_t)whole);
	assert_int_equal(store_vlog_flush(f->v), 0);
	check_value(f, &r, "t10", sizeof(val), 9);

	/* A newest segment without its whole header (its start crashed) is
	 * made again, empty. */
	char p2[700];
	seg_path(f, 2, p2, sizeof(p2));
	fd = open(p2, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "rkvl", 4), 4);
	close(fd);
	reopen(f, &cut);
	assert_int_equal(cut, 4);
	assert_int_equal(file_size(p2), VLOG_SEG_HEADER);
	check_value(f, &refs[3], "t3", sizeof(val), 3);
	assert_int_equal(store_vlog_add(f->v, "x", 1, val, 10, &r), 0);
	assert_int_equal(r.seg, 2);
	assert_int_equal(r.off, VLOG_SEG_HEADER);
}

/* A flipped bit in a stored value is RK_ECORRUPT, never the value. */
static void test_corrupt_record(void **state)
{
	struct fx *f = *state;
	struct store_vref r1, r2;
	uint8_t val[800];
	char path[700];
	size_t vl;

	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	fill(val, sizeof(val), 5);
	assert_int_equal(store_vlog_add(f->v, "a", 1, val, sizeof(val), &r1), 0);
	assert_int_equal(store_vlog_add(f->v, "b", 1, val, sizeof(val), &r2), 0);
	assert_int_equal(store_vlog_flush(f->v), 0);
	/* Another key's record of the same length. */
	assert_int_equal(store_vlog_get(f->v, &r2, "a", 1, &f->buf, &f->cap,
					&vl), RK_ECORRUPT);
	seg_path(f, 1, path, sizeof(path));
	int fd = open(path, O_RDWR);
	uint8_t c;
	off_t at = (off_t)r1.off + VLOG_REC_HEADER + 1 + 400;
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
	/* Seen through the mapping at once. */
	assert_int_equal(store_vlog_get(f->v, &r1, "a", 1, &f->buf, &f->cap,
					&vl), RK_ECORRUPT);
	check_value(f, &r2, "b", sizeof(val), 5);
}

/* Segments that are not a value log's are refused, not rewritten; other
 * files in the directory are left alone. */
static void test_foreign_segments(void **state)
{
	struct fx *f = *state;
	struct store_vref r;
	uint8_t val[100] = {0};
	char p1[700], p2[700], other[700];
	struct store_vlog *v2;

	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	assert_int_equal(store_vlog_add(f->v, "a", 1, val, sizeof(val), &r), 0);
	assert_int_equal(store_vlog_flush(f->v), 0);
	store_vlog_close(f->v);
	f->v = NULL;
	seg_path(f, 1, p1, sizeof(p1));
	seg_path(f, 2, p2, sizeof(p2));
	snprintf(other, sizeof(other), "%s/notes.txt", f->vdir);
	int fd = open(other, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);

	/* Segment 2 claims to be segment 1 (a copied file). */
	assert_int_equal(link(p1, p2), 0);
	assert_int_equal(store_vlog_open(f->vdir, false, &v2, NULL),
			 RK_ECORRUPT);
	assert_null(v2);
	unlink(p2);

	/* An old segment that is not a value log (only the newest may be
	 * short: a crash while it was being made). */
	fd = open(p2, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "rkvlog\0\1\2\0\0\0\0\0\0\0", 16), 16);
	close(fd);
	assert_int_equal(truncate(p1, 4), 0);
	assert_int_equal(store_vlog_open(f->vdir, false, &v2, NULL),
			 RK_ECORRUPT);
	assert_int_equal(file_size(p1), 4);
	fd = open(p1, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "GARBAGE!GARBAGE!GARBAGE!", 24), 24);
	close(fd);
	assert_int_equal(store_vlog_open(f->vdir, false, &v2, NULL),
			 RK_ECORRUPT);
	unlink(p1);
	/* Segment 2 alone, with its own header: opens; notes.txt stays. */
	assert_int_equal(store_vlog_open(f->vdir, false, &f->v, NULL), 0);
	assert_int_equal(file_size(other), 5);
}

/* A retired segment stays while a pin older than its retirement is held,
 * and goes with the last such pin; later pins do not keep it. */
static void test_pins_and_retire(void **state)
{
	struct fx *f = *state;
	size_t n = 1u << 20, left, vl;
	uint8_t *val = calloc(1, n);
	struct store_vref first, last;
	char path[700];

	assert_int_equal(store_vlog_open(f->vdir, true, &f->v, NULL), 0);
	for (unsigned i = 0; i < 64; i++) {
		struct store_vref r;
		assert_int_equal(store_vlog_add(f->v, "k", 1, val, n, &r), 0);
		if (i == 0)
			first = r;
		last = r;
	}
	assert_int_equal(store_vlog_flush(f->v), 0);
	assert_int_equal(first.seg, 1);
	assert_int_equal(last.seg, 2);
	/* The newest segment takes records: it cannot be retired. */
	assert_int_equal(store_vlog_retire(f->v, 2), RK_EINVAL);
	assert_int_equal(store_vlog_retire(f->v, 7), RK_ENOTFOUND);

	uint64_t old = store_vlog_pin(f->v);
	uint64_t old2 = store_vlog_pin(f->v);
	assert_int_equal(store_vlog_retire(f->v, 1), 0);
	uint64_t young = store_vlog_pin(f->v);
	seg_path(f, 1, path, sizeof(path));
	assert_int_equal(store_vlog_reap(f->v, &left), 0);
	assert_int_equal(left, 1);
	assert_int_equal(access(path, F_OK), 0);
	/* The old pins may still read it. */
	assert_int_equal(store_vlog_get(f->v, &first, "k", 1, &f->buf, &f->cap,
					&vl), 0);
	/* No longer offered for collection. */
	struct store_vseg_info *segs;
	size_t nsegs;
	assert_int_equal(store_vlog_segments(f->v, &segs, &nsegs), 0);
	assert_int_equal(nsegs, 1);
	assert_int_equal(segs[0].seq, 2);

	store_vlog_unpin(f->v, old);
	assert_int_equal(store_vlog_reap(f->v, &left), 0);
	assert_int_equal(left, 1);
	store_vlog_unpin(f->v, old2);
	assert_int_equal(store_vlog_reap(f->v, &left), 0);
	assert_int_equal(left, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_vlog_get(f->v, &first, "k", 1, &f->buf, &f->cap,
					&vl), RK_ENOTFOUND);
	assert_int_equal(store_vlog_get(f->v, &last, "k", 1, &f->buf, &f->cap,
					&vl), 0);
	store_vlog_unpin(f->v, young);
	/* Gone after a reopen too. */
	reopen(f, NULL);
	assert_int_equal(store_vlog_get(f->v, &first, "k", 1, &f->buf, &f->cap,
					&vl), RK_ENOTFOUND);
	assert_int_equal(store_vlog_get(f->v, &last, "k", 1, &f->buf, &f->cap,
					&vl), 0);
	free(val);
}

/* A child adds records and, after each flush, writes the references it
 * flushed to a pipe; the parent kills it with SIGKILL at a random moment,
 * reopens the log and reads every reported record back. Records added
 * after the last reported flush may be lost, never a reported one. */
static void test_kill9(void **state)
{
	struct fx *f = *state;
	unsigned seed = 1, total = 0;

	for (int cycle = 0; cycle < 20; cycle++) {
		int pfd[2];
		assert_int_equal(pipe(pfd), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store_vlog *v;
			uint8_t val[3000];
			close(pfd[0]);
			if (store_vlog_open(f->vdir, true, &v, NULL) != 0)
				_exit(3);
			for (unsigned i = 0;; i++) {
				struct store_vref refs[8];
				unsigned c = (unsigned)cycle << 20 | i;
				for (int j = 0; j < 8; j++) {
					char key[16];
					size_t n = 300 + (c * 8 + j) % 2700;
					snprintf(key, sizeof(key), "%08x", c * 8 + j);
					fill(val, n, c * 8 + j);
					if (store_vlog_add(v, key, 8, val, n,
							   &refs[j]) != 0)
						_exit(4);
				}
				if (store_vlog_flush(v) != 0)
					_exit(5);
				for (int j = 0; j < 8; j++) {
					uint32_t rec[4] = {c * 8 + j, refs[j].seg,
							   refs[j].off,
							   refs[j].vlen};
					if (write(pfd[1], rec, sizeof(rec)) !=
					    (ssize_t)sizeof(rec))
						_exit(6);
				}
			}
		}
		close(pfd[1]);
		/* The child is writing before the random wait starts. */
		uint32_t rec[4];
		assert_int_equal(read(pfd[0], rec, sizeof(rec)),
				 (ssize_t)sizeof(rec));
		struct timespec ts = {0, (long)(rand_r(&seed) % 40 + 5) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));

		assert_int_equal(store_vlog_open(f->vdir, false, &f->v, NULL), 0);
		unsigned got = 0;
		do {
			struct store_vref r = {rec[1], rec[2], rec[3]};
			char key[16];
			snprintf(key, sizeof(key), "%08x", rec[0]);
			check_value(f, &r, key, 300 + rec[0] % 2700, rec[0]);
			got++;
		} while (read(pfd[0], rec, sizeof(rec)) == (ssize_t)sizeof(rec));
		total += got;
		close(pfd[0]);
		store_vlog_close(f->v);
		f->v = NULL;
	}
	print_message("kill -9: 20 cycles, %u reported records read back\n",
		      total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_and_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins_and_retire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
