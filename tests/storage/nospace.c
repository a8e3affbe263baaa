/*
 * A full disk is reported as a full disk: WiredTiger's ENOSPC (and what it
 * does after one) comes out of the store as RK_ENOSPC, "no space left on
 * device", never as RK_ECORRUPT.
 *
 * The translation itself is checked everywhere. The real thing needs a
 * small filesystem: as root, the test mounts an 80 MiB tmpfs and writes
 * raft log entries into a store there until a write fails, and starts a
 * store in a 100 KiB one, which must fail as a full disk too; without the
 * right to mount, those parts are skipped with the reason printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_int.h"
#include "util.h"

static void test_translation(void **state)
{
	(void)state;
	assert_int_equal(store_err(ENOSPC), RK_ENOSPC);
	assert_int_equal(store_err(EDQUOT), RK_ENOSPC);
	assert_int_equal(store_errno(ENOSPC), RK_ENOSPC);
	assert_int_equal(store_errno(EIO), RK_EIO);
	assert_string_equal(rk_strerror(RK_ENOSPC), "no space left on device");
	assert_string_equal(rk_errname(RK_ENOSPC), "RK_ENOSPC");
}

/* Appends 64 KiB entries until a write fails; returns its code. */
static int fill(struct rk_store *s)
{
	static uint8_t data[64 * 1024];
	struct rk_raft_entry e = {0};
	int rc = 0;

	memset(data, 'x', sizeof(data));
	for (uint64_t i = 1; i <= 4096 && rc == 0; i++) {
		struct rk_store_batch *b = rk_store_batch_new();
		e.index = i;
		e.term = 1;
		e.data = data;
		e.len = sizeof(data);
		rk_store_batch_append(b, 1, &e, 1);
		rk_store_batch_put(b, &i, sizeof(i), data, sizeof(data));
		rc = rk_store_write(s, b);
	}
	return rc;
}

/* The store is opened and filled in a child process that exits with
 * _exit() without closing it: after the panic a full disk can end in,
 * WiredTiger must not be closed (it may wait forever) and its threads may
 * not survive the unmount; the process is what goes, as a node would.
 * The child exits 0 when the step `want_at` ("open" or "write") failed with
 * RK_ENOSPC, 1 when another step or code failed, 2 when nothing failed. */
static int fill_in_child(const char *data, const char *want_at)
{
	char err[256];
	struct rk_store *s = NULL;
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		const char *at = "open";
		int rc = store_open_at(data, 1, 77, &s, err, sizeof(err));
		if (rc == 0) {
			at = "write";
			rc = fill(s);
			printf("nospace: the first failed write: %s (%s)\n", rk_errname(rc),
			       rk_strerror(rc));
		} else {
			printf("nospace: open: %s (%s)\n", rk_errname(rc), err);
		}
		fflush(stdout);
		_exit(rc == 0 ? 2 : rc == RK_ENOSPC && strcmp(at, want_at) == 0 ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Mounts a tmpfs of `size` and runs fill_in_child in it; skips without the
 * right to mount. */
static void full_filesystem(const char *size, const char *want_at)
{
	char dir[512], data[600], opts[64];
	int code;

	tmpdir_make(dir, sizeof(dir), "nospace");
	snprintf(opts, sizeof(opts), "size=%s", size);
	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
		printf("nospace: cannot mount a small tmpfs (%s): the full-disk part is skipped\n",
		       strerror(errno));
		tmpdir_remove(dir);
		skip();
	}
	snprintf(data, sizeof(data), "%s/data", dir);
	printf("nospace: a %s filesystem, RK_ENOSPC expected at %s\n", size, want_at);
	fflush(stdout);
	code = fill_in_child(data, want_at);
	(void)umount2(dir, MNT_DETACH);
	tmpdir_remove(dir);
	assert_int_equal(code, 0); /* the child saw RK_ENOSPC where expected */
}

/* Room to start (WiredTiger's log files are 16 MB, one and up to two
 * preallocated): the writes fill it. */
static void test_full_filesystem(void **state)
{
	(void)state;
	full_filesystem("80m", "write");
}

/* No room for a first start: the disk is full, not the data corrupt
 * (a first start that found the disk full once read "corrupt"). */
static void test_full_at_first_start(void **state)
{
	(void)state;
	full_filesystem("100k", "open");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translation),
		cmocka_unit_test(test_full_filesystem),
		cmocka_unit_test(test_full_at_first_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
