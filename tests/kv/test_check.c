/*
 * Replica checksums (src/kv/check.c): the CHECK command's encoding, and
 * the hash of a span taken at a CHECK in the middle of an apply batch
 * (committed data pinned, the batch's earlier writes laid over it), into
 * real stores in temporary directories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "le.h"
#include "store.h"
#include "util.h" /* tests/storage: temporary directories, store_open_at */

struct fx {
	char dir[512];
	struct rk_store *s;
	struct rk_store_reader *r, *pin; /* the applier's; the checksum's */
	struct rk_kv_sessions sess;
	struct rk_kv_applier a;
	struct rk_store_batch *b;
	struct rk_kv_check_data *cap; /* what the last CHECK captured */
	int checks;
};

static int on_check(void *arg, const struct rk_kv_cmd *c)
{
	struct fx *f = arg;
	uint64_t id, node;

	assert_int_equal(rk_kv_check_decode(c, &id, &node), 0);
	rk_kv_check_data_free(f->cap);
	f->checks++;
	return rk_kv_check_capture(&f->a, &f->cap);
}

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	tmpdir_make(f->dir, sizeof(f->dir), "check");
	assert_int_equal(store_open_at(f->dir, 1, 77, &f->s, err, sizeof(err)), 0);
	assert_int_equal(rk_store_reader_open(f->s, &f->r), 0);
	assert_int_equal(rk_store_reader_open(f->s, &f->pin), 0);
	assert_int_equal(rk_kv_applier_init(&f->a), 0);
	f->a.reader = f->r;
	f->a.sessions = &f->sess;
	f->a.start = (const uint8_t *)"b";
	f->a.slen = 1;
	f->a.end = (const uint8_t *)"yy";
	f->a.elen = 2;
	f->a.check = on_check;
	f->a.check_arg = f;
	return f;
}

static void fx_free(struct fx *f)
{
	rk_kv_check_data_free(f->cap);
	rk_kv_applier_close(&f->a);
	rk_kv_sessions_free(&f->sess);
	rk_store_reader_close(f->pin);
	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
}

/* A command: op, n, session, seq, then NULL-terminated string args. */
static void cmd(struct rk_buf *e, uint8_t op, int64_t n, uint64_t session,
		uint64_t seq, ...)
{
	struct rk_kv_cmd c = {.op = op, .n = n, .session = session, .seq = seq};
	struct rk_buf b;
	const char *a;
	uint32_t na = 0;
	va_list ap;

	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	va_start(ap, seq);
	while ((a = va_arg(ap, const char *)) != NULL) {
		rk_kv_cmd_arg(&b, a, strlen(a));
		na++;
	}
	va_end(ap);
	rk_kv_cmd_finish(&b, 0, na);
	rk_kv_entry_add(e, b.p, b.len);
	rk_buf_free(&b);
}

/* Starts e anew. */
static void fresh(struct rk_buf *e, uint64_t ts)
{
	rk_buf_reset(e);
	rk_kv_entry_begin(e, ts);
}

static void check_cmd(struct rk_buf *e)
{
	struct rk_buf b;

	rk_buf_init(&b);
	rk_kv_check_encode(&b, 42, 3);
	rk_kv_entry_add(e, b.p, b.len);
	rk_buf_free(&b);
}

static void noop(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	(void)arg;
	(void)no;
	(void)resp;
	(void)len;
}

static void batch_begin(struct fx *f)
{
	f->b = rk_store_batch_new();
	assert_non_null(f->b);
	f->a.batch = f->b;
}

static void apply(struct fx *f, struct rk_buf *e, uint32_t count)
{
	rk_kv_entry_finish(e, count);
	assert_false(e->oom);
	assert_int_equal(rk_kv_apply_entry(&f->a, (const uint8_t *)e->p, e->len, noop, f), 0);
	fresh(e, 0);
}

static void batch_commit(struct fx *f)
{
	if (rk_store_batch_empty(f->b))
		rk_store_batch_free(f->b);
	else
		assert_int_equal(rk_store_write(f->s, f->b), 0);
	f->b = NULL;
	rk_kv_applier_reset(&f->a);
}

/* The checksum at the last CHECK: committed data as pinned now. */
static uint64_t sum_pinned_then(struct fx *f, void (*between)(struct fx *f))
{
	uint64_t applied, sum;

	assert_non_null(f->cap);
	assert_int_equal(rk_store_reader_pin(f->pin, 9, &applied), 0);
	if (between != NULL)
		between(f); /* commits more: the pinned view must not see it */
	assert_int_equal(rk_kv_checksum(f->pin, f->cap, &sum), 0);
	rk_store_reader_unpin(f->pin);
	return sum;
}

/* The state as it is: a CHECK applied alone, committed. */
static uint64_t sum_now(struct fx *f)
{
	struct rk_buf e;

	rk_buf_init(&e);
	fresh(&e, 0);
	batch_begin(f);
	check_cmd(&e);
	apply(f, &e, 1);
	batch_commit(f);
	rk_buf_free(&e);
	return sum_pinned_then(f, NULL);
}

/* The same writes into a store: keys c, d, a sequence, a session. */
static void base_data(struct fx *f)
{
	struct rk_buf e;

	rk_buf_init(&e);
	fresh(&e, 1000);
	batch_begin(f);
	cmd(&e, RK_KV_PUT, 0, 7, 1, "c", "1", "d", "2", NULL);
	cmd(&e, RK_KV_SEQ, 5, 7, 2, "q", NULL);
	apply(f, &e, 2);
	batch_commit(f);
	rk_buf_free(&e);
}

static void test_codec(void **state)
{
	struct rk_buf b;
	struct rk_kv_cmd c;
	uint64_t id, node;
	uint8_t *p;

	(void)state;
	rk_buf_init(&b);
	rk_kv_check_encode(&b, 0x1122334455667788ull, 9);
	assert_false(b.oom);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(c.op, RK_KV_CHECK);
	assert_false(rk_kv_op_is_read(c.op));
	assert_int_equal(rk_kv_check_decode(&c, &id, &node), 0);
	assert_true(id == 0x1122334455667788ull);
	assert_int_equal(node, 9);
	/* A mode, or an id that is not 8 bytes: refused, outputs zeroed. */
	p = (uint8_t *)b.p;
	p[1] = 1;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), 0);
	assert_int_equal(rk_kv_check_decode(&c, &id, &node), RK_EPROTO);
	assert_int_equal(id, 0);
	assert_int_equal(node, 0);
	rk_buf_reset(&b);
	{
		struct rk_kv_cmd k = {.op = RK_KV_CHECK};
		rk_kv_cmd_begin(&b, &k);
		rk_kv_cmd_arg(&b, "1234567", 7);
		rk_kv_cmd_finish(&b, 0, 1);
	}
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_check_decode(&c, &id, &node), RK_EPROTO);
	/* Another op is not a CHECK. */
	c.op = RK_KV_PUT;
	assert_int_equal(rk_kv_check_decode(&c, &id, &node), RK_EPROTO);
	/* One past the last op (UNFREEZE) is no op at all. */
	p = (uint8_t *)b.p;
	p[0] = RK_KV_UNFREEZE + 1;
	assert_int_equal(rk_kv_cmd_decode(p, b.len, &c), RK_EPROTO);
	rk_buf_free(&b);
}

static void test_same_data_same_sum(void **state)
{
	struct fx *f = fx_new(), *g = fx_new();
	uint64_t s1, s2;

	(void)state;
	base_data(f);
	base_data(g);
	s1 = sum_now(f);
	s2 = sum_now(g);
	assert_true(s1 == s2);
	assert_true(s1 != 0);
	assert_int_equal(f->checks, 1);
	/* Computed again: the same. */
	assert_true(sum_now(f) == s1);
	fx_free(f);
	fx_free(g);
}

/* Applies one command to g alone; g's sum must then differ from f's. */
static void differs_after(uint8_t op, int64_t n, uint64_t session, const char *a0,
			  const char *a1, bool differ)
{
	struct fx *f = fx_new(), *g = fx_new();
	struct rk_buf e;

	base_data(f);
	base_data(g);
	rk_buf_init(&e);
	fresh(&e, 1000);
	batch_begin(g);
	cmd(&e, op, n, session, session ? 3 : 0, a0, a1, NULL);
	apply(g, &e, 1);
	batch_commit(g);
	rk_buf_free(&e);
	if (differ)
		assert_true(sum_now(f) != sum_now(g));
	else
		assert_true(sum_now(f) == sum_now(g));
	fx_free(f);
	fx_free(g);
}

static void test_changes_change_the_sum(void **state)
{
	(void)state;
	differs_after(RK_KV_PUT, 0, 0, "c", "other", true); /* a different value */
	differs_after(RK_KV_PUT, 0, 0, "e", "1", true);     /* an extra key */
	differs_after(RK_KV_DEL, 0, 0, "d", NULL, true);    /* a key fewer */
	differs_after(RK_KV_SEQ, 1, 0, "q", NULL, true);    /* a sequence moved */
	differs_after(RK_KV_SEQ, 1, 0, "r", NULL, true);    /* a new sequence */
	/* A session's record only (the same value written again). */
	differs_after(RK_KV_PUT, 0, 8, "c", "1", true);
	/* Nothing recorded, nothing changed: the same. */
	differs_after(RK_KV_PUT, 0, 0, "c", "1", false);
}

/* Writes committed after the pin: a later ready of the range. */
static void commit_later(struct fx *f)
{
	struct rk_buf e;

	rk_buf_init(&e);
	fresh(&e, 0);
	batch_begin(f);
	cmd(&e, RK_KV_PUT, 0, 0, 0, "zz-outside", "x", NULL); /* outside the span */
	cmd(&e, RK_KV_PUT, 0, 0, 0, "g", "later", NULL);
	apply(f, &e, 2);
	batch_commit(f);
	rk_buf_free(&e);
}

/* A CHECK in the middle of a batch hashes the writes before it (not yet
 * committed) and not those after it, nor anything committed later: the
 * same as a store where exactly the writes before it were committed. */
static void test_check_inside_a_batch(void **state)
{
	struct fx *f = fx_new(), *g = fx_new();
	struct rk_buf e;
	uint64_t s1, s2;

	(void)state;
	base_data(f);
	base_data(g);
	rk_buf_init(&e);
	/* f: before the CHECK an overwrite, a new key, a delete of a
	 * committed key, a sequence step, a key deleted after its write in
	 * the same batch; the CHECK; then more writes. */
	fresh(&e, 2000);
	batch_begin(f);
	cmd(&e, RK_KV_PUT, 0, 9, 1, "c", "new", NULL);
	cmd(&e, RK_KV_PUT, 0, 0, 0, "b", "first", "x", "y", NULL);
	apply(f, &e, 2);
	cmd(&e, RK_KV_DEL, 0, 0, 0, "d", "x", NULL);
	cmd(&e, RK_KV_SEQ, 2, 0, 0, "q", NULL);
	check_cmd(&e);
	cmd(&e, RK_KV_PUT, 0, 0, 0, "e", "after", NULL);
	cmd(&e, RK_KV_SEQ, 2, 0, 0, "q", NULL);
	apply(f, &e, 5);
	assert_int_equal(f->checks, 1);
	s1 = sum_pinned_then(f, NULL);
	batch_commit(f);
	/* g: the writes before the CHECK, committed, then the CHECK. */
	fresh(&e, 2000);
	batch_begin(g);
	cmd(&e, RK_KV_PUT, 0, 9, 1, "c", "new", NULL);
	cmd(&e, RK_KV_PUT, 0, 0, 0, "b", "first", "x", "y", NULL);
	apply(g, &e, 2);
	cmd(&e, RK_KV_DEL, 0, 0, 0, "d", "x", NULL);
	cmd(&e, RK_KV_SEQ, 2, 0, 0, "q", NULL);
	apply(g, &e, 2);
	batch_commit(g);
	s2 = sum_now(g);
	assert_true(s1 == s2);
	/* What commits after the pin is not seen. */
	f->a.check = on_check;
	fresh(&e, 0);
	batch_begin(g);
	check_cmd(&e);
	apply(g, &e, 1);
	batch_commit(g);
	assert_true(sum_pinned_then(g, commit_later) == s2);
	/* ...and is seen by the next one. */
	assert_true(sum_now(g) != s2);
	rk_buf_free(&e);
	fx_free(f);
	fx_free(g);
}

/* Without a hook a CHECK changes nothing and answers +OK. */
static void answer(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	(void)no;
	assert_int_equal(len, 5);
	assert_memory_equal(resp, "+OK\r\n", 5);
	(*(int *)arg)++;
}

static void test_no_hook(void **state)
{
	struct fx *f = fx_new();
	struct rk_buf e;
	uint64_t s1;
	int answers = 0;

	(void)state;
	base_data(f);
	s1 = sum_now(f);
	f->a.check = NULL;
	rk_buf_init(&e);
	fresh(&e, 0);
	check_cmd(&e);
	rk_kv_entry_finish(&e, 1);
	batch_begin(f);
	assert_int_equal(rk_kv_apply_entry(&f->a, (const uint8_t *)e.p, e.len, answer,
					   &answers), 0);
	assert_int_equal(answers, 1);
	assert_true(rk_store_batch_empty(f->b));
	batch_commit(f);
	f->a.check = on_check;
	assert_true(sum_now(f) == s1);
	rk_buf_free(&e);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_same_data_same_sum),
		cmocka_unit_test(test_changes_change_the_sum),
		cmocka_unit_test(test_check_inside_a_batch),
		cmocka_unit_test(test_no_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
