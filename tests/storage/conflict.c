/*
 * Transient rollbacks are not failures (docs/storage.md "Transient
 * rollbacks"): another transaction holds an uncommitted update of a row a
 * group commit (or a snapshot install) writes, a real WiredTiger write
 * conflict, and ends it some 300 ms later. The batch's callback must still
 * get 0 and its writes must be there, in order with the batches around it;
 * the install must complete. Without the storage thread's retry the first
 * attempt's WT_ROLLBACK failed the batch ("group commit failed: try again"
 * stopped a node).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_int.h"
#include "util.h"

#define HOLD_MS 300

static int setup(void **state)
{
	return store_fx_setup(state, "conflict");
}

static int teardown(void **state)
{
	return store_fx_teardown(state);
}

/* Another writer: a transaction of its own session holding one uncommitted
 * update, committed (or rolled back) by a thread after HOLD_MS. */
struct holder {
	WT_SESSION *ws;
	WT_CURSOR *c;
	bool commit;
	int rc; /* of the commit or rollback (checked by hold_join) */
	pthread_t t;
};

static WT_CURSOR *hold_begin(struct holder *h, struct rk_store *s, int table)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(s->conn->open_session(s->conn, NULL, "isolation=snapshot", &h->ws), 0);
	assert_int_equal(h->ws->open_cursor(h->ws, store_table_uri[table], NULL, NULL, &h->c), 0);
	assert_int_equal(h->ws->begin_transaction(h->ws, NULL), 0);
	return h->c;
}

static void *holder_main(void *arg)
{
	struct holder *h = arg;

	usleep(HOLD_MS * 1000);
	h->rc = h->commit ? h->ws->commit_transaction(h->ws, NULL)
			  : h->ws->rollback_transaction(h->ws, NULL);
	return NULL;
}

/* The update is made (c->insert done by the caller): end it later. */
static void hold_start(struct holder *h, bool commit)
{
	h->commit = commit;
	assert_int_equal(pthread_create(&h->t, NULL, holder_main, h), 0);
}

static void hold_join(struct holder *h)
{
	pthread_join(h->t, NULL);
	h->ws->close(h->ws, NULL);
	assert_int_equal(h->rc, 0);
}

static void hold_kv(struct holder *h, struct rk_store *s, const char *key, bool commit)
{
	WT_CURSOR *c = hold_begin(h, s, T_KV);
	uint8_t v[3] = {KV_HEADER_VERSION, 0, 'h'};
	WT_ITEM k = {.data = key, .size = strlen(key)}, val = {.data = v, .size = sizeof(v)};

	c->set_key(c, &k);
	c->set_value(c, &val);
	assert_int_equal(c->insert(c), 0);
	hold_start(h, commit);
}

static void assert_value(struct store_fx *f, const char *key, const char *want)
{
	const void *v;
	size_t n;

	assert_int_equal(rk_store_get(f->r, key, strlen(key), &v, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
}

static uint64_t commit_retries(struct store_fx *f)
{
	struct rk_store_stats st;

	rk_store_stats(f->s, &st);
	return st.commit_retries;
}

/* A batch writing a row another transaction holds: committed once that
 * transaction commits, over its value, with its raft state (a logged
 * table, so the log flush follows too). */
static void test_commit_waits_for_holder(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_raft_state rs, got;
	struct holder h;

	memset(&rs, 0, sizeof(rs));
	rs.replica_id = 3;
	rs.hs.term = 9;
	hold_kv(&h, f->s, "k", true);
	rk_store_batch_put(b, "k", 1, "mine", 4);
	rk_store_batch_raft_state(b, 5, &rs);
	assert_int_equal(rk_store_write(f->s, b), 0);
	hold_join(&h);
	assert_true(commit_retries(f) > 0);
	assert_value(f, "k", "mine");
	assert_int_equal(rk_store_read_raft_state(f->r, 5, &got), 0);
	assert_int_equal(got.hs.term, 9);
}

struct waits {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n, rc[3];
};

static void done_one(void *arg, int rc)
{
	struct waits *w = arg;

	pthread_mutex_lock(&w->mu);
	w->rc[w->n++] = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Three batches queued together, the middle one writing an apply state
 * another transaction holds and then rolls back: all three succeed, in
 * order (the third's value of "a" wins over the first's). */
static void test_group_waits_for_rollback(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_apply_state as = {42, "d", 1}, got;
	struct rk_store_batch *b[3];
	struct waits w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};
	struct holder h;
	WT_CURSOR *c = hold_begin(&h, f->s, T_APPLY);
	WT_ITEM val = {.data = "01234567", .size = 8};

	c->set_key(c, (uint64_t)7);
	c->set_value(c, &val);
	assert_int_equal(c->insert(c), 0);
	hold_start(&h, false);
	for (int i = 0; i < 3; i++)
		b[i] = rk_store_batch_new();
	rk_store_batch_put(b[0], "a", 1, "1", 1);
	rk_store_batch_apply_state(b[1], 7, &as);
	rk_store_batch_put(b[2], "a", 1, "3", 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rk_store_submit(f->s, b[i], done_one, &w), 0);
	pthread_mutex_lock(&w.mu);
	while (w.n < 3)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	hold_join(&h);
	for (int i = 0; i < 3; i++)
		assert_int_equal(w.rc[i], 0);
	assert_true(commit_retries(f) > 0);
	assert_value(f, "a", "3");
	assert_int_equal(rk_store_read_apply_state(f->r, 7, &got), 0);
	assert_int_equal(got.applied, 42);
}

/* A snapshot install whose span holds a row another transaction has an
 * uncommitted update of (the install runs off the storage thread, in
 * transactions of its own): it is redone and completes once that
 * transaction commits, its pairs over the other's. */
static void test_install_waits_for_holder(void **state)
{
	struct store_fx *f = *state;
	struct rk_store_snap_meta m = {6, 100, 3, "m", "n", "[m,n)", 1, 1, 5};
	struct rk_store_snap_out *o;
	struct rk_store_apply_state got;
	struct rk_store_batch *b;
	struct rk_store_stats st;
	struct holder h;
	char name[128], k[8];

	assert_int_equal(rk_store_snap_create(f->s, &m, &o), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "m%03d", i);
		assert_int_equal(rk_store_snap_add(o, 0, k, strlen(k), k, strlen(k)), 0);
	}
	assert_int_equal(rk_store_snap_finish(o, name, sizeof(name)), 0);
	b = rk_store_batch_new();
	rk_store_batch_install(b, 6, 100, name);
	assert_int_equal(rk_store_write(f->s, b), 0);

	hold_kv(&h, f->s, "m050", true);
	assert_int_equal(rk_store_install_run(f->r, 6), 0);
	hold_join(&h);
	rk_store_stats(f->s, &st);
	assert_true(st.install_retries > 0);
	assert_value(f, "m000", "m000");
	assert_value(f, "m050", "m050");
	assert_value(f, "m099", "m099");
	assert_int_equal(rk_store_read_apply_state(f->r, 6, &got), 0);
	assert_int_equal(got.applied, 100);
}

/* An argument runs the tests whose names match it (cmocka's pattern). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_waits_for_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_waits_for_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_install_waits_for_holder, setup, teardown),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
