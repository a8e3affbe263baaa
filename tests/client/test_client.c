/*
 * The client layer's answers to a command whose operations did not all
 * succeed: -TIMEOUT whenever any part may have applied (its outcome is
 * unknown to the client), -TRYAGAIN only when nothing was applied.
 *
 *  - rk_client_part_status / rk_client_combine_status: the command layer's
 *    decision, as pure functions over the operations' outcomes;
 *  - the router on a real loop with a fake node (rk_client_env): what an
 *    operation is answered when the router gives up on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "kv.h"

enum { OK = RK_NET_RESP_OK, REFUSED = RK_NET_RESP_REFUSED,
       TRYAGAIN = RK_CLIENT_TRYAGAIN, TIMEOUT = RK_CLIENT_TIMEOUT };

/* The combined status of parts with the given statuses. */
static int combined(bool write, uint32_t n, const int *st)
{
	struct frag f[8];

	assert_true(n <= 8);
	memset(f, 0, sizeof(f));
	for (uint32_t i = 0; i < n; i++)
		f[i].status = st[i];
	return rk_client_combine_status(f, n, write);
}
#define COMBINED(write, ...)                                               \
	combined(write, sizeof((const int[]){__VA_ARGS__}) / sizeof(int),   \
		 (const int[]){__VA_ARGS__})

/* A DEL or MSET over two ranges where one range applied and the other
 * timed out before anything was sent there (or its submission failed):
 * part of the command applied, so it is not "certainly not applied". */
static void test_combine_partly_applied_write(void **state)
{
	(void)state;
	assert_int_equal(COMBINED(true, OK, TRYAGAIN), TIMEOUT);
	assert_int_equal(COMBINED(true, TRYAGAIN, OK), TIMEOUT);
	assert_int_equal(COMBINED(true, OK, OK, TRYAGAIN, TRYAGAIN), TIMEOUT);
	assert_int_equal(COMBINED(true, TRYAGAIN, TIMEOUT), TIMEOUT);
	assert_int_equal(COMBINED(true, OK, TIMEOUT), TIMEOUT);
	assert_int_equal(COMBINED(true, TIMEOUT), TIMEOUT);
}

/* Nothing of it applied: -TRYAGAIN stays right. */
static void test_combine_nothing_applied(void **state)
{
	(void)state;
	assert_int_equal(COMBINED(true, TRYAGAIN), TRYAGAIN);
	assert_int_equal(COMBINED(true, TRYAGAIN, TRYAGAIN), TRYAGAIN);
	/* A refused part was not applied (malformed, too large). */
	assert_int_equal(COMBINED(true, REFUSED, TRYAGAIN), TRYAGAIN);
	/* Reads never apply. */
	assert_int_equal(COMBINED(false, OK, TRYAGAIN), TRYAGAIN);
	assert_int_equal(COMBINED(false, TRYAGAIN, OK, OK), TRYAGAIN);
}

static void test_combine_all_answered(void **state)
{
	(void)state;
	assert_int_equal(COMBINED(true, OK), 0);
	assert_int_equal(COMBINED(true, OK, OK, OK), 0);
	assert_int_equal(COMBINED(true, OK, REFUSED), 0);
	assert_int_equal(COMBINED(false, OK, OK), 0);
}

/* An operation answered (applied) whose reply could not be kept: for a
 * write that is an unknown outcome to the client, never "not applied". */
static void test_part_reply_lost(void **state)
{
	(void)state;
	assert_int_equal(rk_client_part_status(OK, true, true), TIMEOUT);
	assert_int_equal(rk_client_part_status(OK, true, false), TRYAGAIN);
	assert_int_equal(rk_client_part_status(REFUSED, true, true), TRYAGAIN);
	assert_int_equal(rk_client_part_status(REFUSED, true, false), TRYAGAIN);
	assert_int_equal(rk_client_part_status(OK, false, true), OK);
	assert_int_equal(rk_client_part_status(TIMEOUT, false, true), TIMEOUT);
	assert_int_equal(rk_client_part_status(TRYAGAIN, false, true), TRYAGAIN);
}

/* ---- the router ------------------------------------------------------------- */

/* A node that routes every key to range 1, led by `leader`, and never
 * answers. */
struct fake {
	uint64_t leader;
	int sent;
};

static uint64_t fake_range_of(void *arg, const uint8_t *key, size_t klen,
			      const uint8_t **endp, size_t *elenp)
{
	(void)arg;
	(void)key;
	(void)klen;
	*endp = NULL;
	*elenp = 0;
	return 1;
}

static uint64_t fake_leader_of(void *arg, uint64_t range)
{
	(void)range;
	return ((struct fake *)arg)->leader;
}

static void fake_send(void *arg, uint64_t to, const struct rk_net_req *r)
{
	(void)to;
	(void)r;
	((struct fake *)arg)->sent++;
}

struct outcome {
	bool done;
	int status;
};

static void on_done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct outcome *o = arg;

	(void)reply;
	(void)len;
	assert_false(o->done);
	o->done = true;
	o->status = status;
}

static void submit(struct rk_client_router *r, int op, struct outcome *o)
{
	struct rk_kv_cmd c;
	struct rk_buf b;

	memset(&c, 0, sizeof(c));
	c.op = (uint8_t)op;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	rk_kv_cmd_arg(&b, "k", 1);
	if (op == RK_KV_PUT)
		rk_kv_cmd_arg(&b, "v", 1);
	rk_kv_cmd_finish(&b, 0, op == RK_KV_PUT ? 2 : 1);
	assert_false(b.oom);
	assert_int_equal(rk_client_submit(r, (const uint8_t *)b.p, b.len, on_done, o), 0);
	rk_buf_free(&b);
}

static void close_router(uv_loop_t *loop, struct rk_client_router *r)
{
	rk_client_router_close(r);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* Closing the router answers what is in flight: a write that was sent to a
 * leader may have applied (-TIMEOUT); a read, or a write never sent, was
 * certainly not applied (-TRYAGAIN). */
static void test_router_close_in_flight(void **state)
{
	struct fake f = {.leader = 2};
	struct rk_client_env env = {&f, 1, fake_range_of, fake_leader_of, fake_send};
	struct rk_client_router *r;
	struct outcome w = {0}, rd = {0}, unsent = {0};
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rk_client_router_new(&loop, &env, 5000, &r), 0);
	submit(r, RK_KV_PUT, &w);
	submit(r, RK_KV_GET, &rd);
	assert_int_equal(f.sent, 2);
	f.leader = 0; /* no leader known: parked, not sent */
	submit(r, RK_KV_DEL, &unsent);
	assert_int_equal(f.sent, 2);
	close_router(&loop, r);
	assert_true(w.done && rd.done && unsent.done);
	assert_int_equal(w.status, TIMEOUT);
	assert_int_equal(rd.status, TRYAGAIN);
	assert_int_equal(unsent.status, TRYAGAIN);
}

/* The deadline: the same rule. */
static void test_router_deadline(void **state)
{
	struct fake f = {.leader = 2};
	struct rk_client_env env = {&f, 1, fake_range_of, fake_leader_of, fake_send};
	struct rk_client_router *r;
	struct outcome w = {0}, rd = {0};
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rk_client_router_new(&loop, &env, 50, &r), 0);
	submit(r, RK_KV_PUT, &w);
	submit(r, RK_KV_GET, &rd);
	while (!w.done || !rd.done)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(w.status, TIMEOUT);
	assert_int_equal(rd.status, TRYAGAIN);
	close_router(&loop, r);
}

/* A node whose range cache does not know the key's range at first: the
 * write waits, then finds it. Every request sent is kept. */
struct seqfake {
	uint64_t range;
	int sent;
	uint64_t seq[4], low[4];
};

static uint64_t seq_range_of(void *arg, const uint8_t *key, size_t klen,
			     const uint8_t **endp, size_t *elenp)
{
	(void)key;
	(void)klen;
	*endp = NULL;
	*elenp = 0;
	return ((struct seqfake *)arg)->range;
}

static uint64_t seq_leader_of(void *arg, uint64_t range)
{
	(void)arg;
	return range != 0 ? 2 : 0;
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void seq_send(void *arg, uint64_t to, const struct rk_net_req *r)
{
	struct seqfake *f = arg;

	(void)to;
	if (f->sent < 4) {
		f->seq[f->sent] = le64_at(r->cmd + 10);
		f->low[f->sent] = le64_at(r->cmd + 18);
	}
	f->sent++;
}

/* A write submitted while its range was unknown, sent once it is known
 * after a later write of that range: its sequence must not be below the
 * first incomplete one that later write told the range (else the range
 * answers it "duplicate of an answered request"). */
static void test_router_range_found_late(void **state)
{
	struct seqfake f = {0};
	struct rk_client_env env = {&f, 1, seq_range_of, seq_leader_of, seq_send};
	struct rk_client_router *r;
	struct outcome a = {0}, b = {0};
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rk_client_router_new(&loop, &env, 5000, &r), 0);
	submit(r, RK_KV_DEL, &a); /* no range known: parked */
	assert_int_equal(f.sent, 0);
	f.range = 1;
	submit(r, RK_KV_PUT, &b); /* range 1: sent at once */
	assert_int_equal(f.sent, 1);
	while (f.sent < 2)
		uv_run(&loop, UV_RUN_ONCE); /* the parked one's retry */
	assert_true(f.seq[1] >= f.low[0]);
	assert_true(f.low[1] <= f.seq[1]);
	close_router(&loop, r);
}

/* ---- MATCH patterns ---------------------------------------------------------- */

static bool glob(const char *pat, const char *s)
{
	return rk_client_glob_match((const uint8_t *)pat, strlen(pat),
				    (const uint8_t *)s, strlen(s));
}

/* Redis's glob: the cases its own tests and documentation give. */
static void test_glob(void **state)
{
	(void)state;
	assert_true(glob("*", ""));
	assert_true(glob("*", "anything"));
	assert_true(glob("h?llo", "hello"));
	assert_true(glob("h?llo", "hallo"));
	assert_false(glob("h?llo", "hllo"));
	assert_true(glob("h*llo", "hllo"));
	assert_true(glob("h*llo", "heeeello"));
	assert_true(glob("h[ae]llo", "hallo"));
	assert_false(glob("h[ae]llo", "hillo"));
	assert_true(glob("h[^e]llo", "hallo"));
	assert_false(glob("h[^e]llo", "hello"));
	assert_true(glob("h[a-b]llo", "hbllo"));
	assert_true(glob("h[b-a]llo", "hallo")); /* a reversed range */
	assert_false(glob("h[a-b]llo", "hcllo"));
	assert_true(glob("h\\*llo", "h*llo"));
	assert_false(glob("h\\*llo", "hello"));
	assert_true(glob("[\\]]", "]"));
	assert_true(glob("user:*:name", "user:42:name"));
	assert_false(glob("user:*:name", "user:42:names"));
	assert_true(glob("*a*b*c", "xxaxxbxxbxxc"));
	assert_false(glob("*a*b*c", "xxaxxbxxbxxd"));
	assert_false(glob("abc", "ab"));
	assert_false(glob("ab", "abc"));
	assert_false(glob("ab[", "ab"));
	assert_true(glob("ab[c", "abc")); /* an unterminated class ends the pattern */
	assert_false(glob("Key", "key")); /* case-sensitive */
	/* A pattern Redis's recursive matcher needed a depth limit for:
	 * linear here, answered at once. */
	{
		char pat[201], str[4001];
		memset(pat, 0, sizeof(pat));
		for (int i = 0; i < 100; i++)
			memcpy(pat + 2 * i, "*a", 2);
		memset(str, 'a', 4000);
		str[4000] = '\0';
		str[3999] = 'b';
		assert_false(glob(pat, str));
	}
	assert_int_equal(rk_client_glob_prefix((const uint8_t *)"user:*", 6), 5);
	assert_int_equal(rk_client_glob_prefix((const uint8_t *)"u?", 2), 1);
	assert_int_equal(rk_client_glob_prefix((const uint8_t *)"[a]", 3), 0);
	assert_int_equal(rk_client_glob_prefix((const uint8_t *)"a\\*", 3), 1);
	assert_int_equal(rk_client_glob_prefix((const uint8_t *)"abc", 3), 3);
}

static void test_password_equal(void **state)
{
	const uint8_t *pw = (const uint8_t *)"s3cret";

	(void)state;
	assert_true(rk_client_password_equal(pw, 6, (const uint8_t *)"s3cret", 6));
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"s3cre", 5));
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"s3cretX", 7));
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"S3cret", 6));
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"s3cres", 6));
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"", 0));
	/* A given password that repeats the stored one is still wrong. */
	assert_false(rk_client_password_equal(pw, 6, (const uint8_t *)"s3crets3cret", 12));
	assert_false(rk_client_password_equal(pw, 0, (const uint8_t *)"", 0));
}

/* ---- SCAN's cursor table ------------------------------------------------------ */

static uint64_t put(struct rk_client_server *s, uint64_t now, const char *k)
{
	uint64_t id = 0;

	assert_int_equal(rk_client_cursor_put(s, now, (const uint8_t *)k, strlen(k), &id), 0);
	assert_true(id > 0 && id < (1ull << 53));
	return id;
}

/* The key cursor id resumes at, or NULL (unknown, evicted, expired). */
static const char *get(struct rk_client_server *s, uint64_t now, uint64_t id)
{
	static char out[64];
	uint8_t *k;
	size_t l;
	int rc = rk_client_cursor_get(s, now, id, &k, &l);

	if (rc == RK_ENOTFOUND)
		return NULL;
	assert_int_equal(rc, 0);
	assert_true(l < sizeof(out));
	memcpy(out, k, l);
	out[l] = '\0';
	free(k);
	return out;
}

static void test_cursor_table(void **state)
{
	struct rk_client_server s;
	uint64_t a, b, first, ids[RK_CLIENT_CURSORS_MAX];
	char key[32];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_null(get(&s, 0, 1)); /* no table yet */
	a = put(&s, 1000, "alpha");
	b = put(&s, 1000, "beta");
	assert_true(a != b);
	assert_string_equal(get(&s, 1001, a), "alpha");
	assert_string_equal(get(&s, 1002, a), "alpha"); /* a repeat still works */
	assert_null(get(&s, 1002, a + 1000));
	/* Expiry: RK_CLIENT_CURSOR_TTL_MS after it was made. */
	assert_string_equal(get(&s, 1000 + RK_CLIENT_CURSOR_TTL_MS - 1, b), "beta");
	assert_null(get(&s, 1000 + RK_CLIENT_CURSOR_TTL_MS, b));
	assert_int_equal(rk_client_cursors_count(&s), 0);
	/* Bounded: a full table evicts the used entries first, then the
	 * oldest, never growing past RK_CLIENT_CURSORS_MAX. */
	for (size_t i = 0; i < RK_CLIENT_CURSORS_MAX; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		ids[i] = put(&s, 2000000 + i, key);
	}
	first = ids[0];
	assert_string_equal(get(&s, 2010000, ids[500]), "k500"); /* used */
	put(&s, 2010001, "new1");
	assert_null(get(&s, 2010001, ids[500]));       /* the used one went */
	assert_string_equal(get(&s, 2010001, first), "k0"); /* the oldest stays */
	put(&s, 2010002, "new2"); /* k0 is used now: it goes */
	assert_null(get(&s, 2010002, first));
	put(&s, 2010003, "new3"); /* none used: the oldest, k1 */
	assert_null(get(&s, 2010003, ids[1]));
	assert_string_equal(get(&s, 2010003, ids[2]), "k2");
	assert_int_equal(rk_client_cursors_count(&s), RK_CLIENT_CURSORS_MAX);
	rk_client_cursors_free(s.cursors);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_combine_partly_applied_write),
		cmocka_unit_test(test_combine_nothing_applied),
		cmocka_unit_test(test_combine_all_answered),
		cmocka_unit_test(test_part_reply_lost),
		cmocka_unit_test(test_router_close_in_flight),
		cmocka_unit_test(test_router_deadline),
		cmocka_unit_test(test_router_range_found_late),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_password_equal),
		cmocka_unit_test(test_cursor_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
