/*
 * The node's tables that change while it serves. The replica table
 * (src/node/table.h): replicas removed from any place of a probe run are
 * gone, every other one is still found, the id order (replicas added in
 * any order) and the awake list hold. The range cache (src/node/rcache.h): keys find the range whose
 * span holds them; a put replaces the entries it overlaps (a merged or
 * split view), keeps the leader hint while the leader is still a node of
 * the range, and is ignored when older than what it would replace; ranges
 * are found by id too, and 100,000 of them (every range of a cluster, as
 * each node holds) stay small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <stdlib.h>

#include "../storage/util.h"
#include "life.h"
#include "node_int.h"
#include "rcache.h"
#include "replica.h"
#include "reqset.h"

static struct rk_desc_replica reps[3] = {{1, 7, 0}, {2, 3, 0}, {3, 5, 0}};

static struct rk_desc desc(uint64_t id, uint64_t gen, const char *s, const char *e)
{
	struct rk_desc d;

	memset(&d, 0, sizeof(d));
	d.range_id = id;
	d.generation = gen;
	d.conf_version = 1;
	d.start = (uint8_t *)(uintptr_t)s;
	d.slen = (uint32_t)strlen(s);
	d.end = (uint8_t *)(uintptr_t)e;
	d.elen = (uint32_t)strlen(e);
	d.reps = reps;
	d.n_reps = 3;
	return d;
}

static uint64_t range_of(const struct rk_rcache *c, const char *key)
{
	const struct rk_rcache_entry *e = rk_rcache_find(c, key, strlen(key));

	return e != NULL ? e->range : 0;
}

static void test_find_replace_stale(void **state)
{
	struct rk_rcache c;
	struct rk_desc d;

	(void)state;
	memset(&c, 0, sizeof(c));
	/* Out of order: c, a, b. */
	d = desc(3, 1, "m", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(1, 1, "", "f");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(2, 1, "f", "m");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.spans, 3); /* every put a new range */
	assert_int_equal(range_of(&c, ""), 1);
	assert_int_equal(range_of(&c, "ezzz"), 1);
	assert_int_equal(range_of(&c, "f"), 2);
	assert_int_equal(range_of(&c, "lzz"), 2);
	assert_int_equal(range_of(&c, "m"), 3);
	assert_int_equal(range_of(&c, "\xff\xff"), 3);
	/* Range 2 with a new configuration: replaced in place, hint kept. */
	rk_rcache_get(&c, 2)->leader = 3;
	d = desc(2, 1, "f", "m");
	d.conf_version = 2;
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(rk_rcache_get(&c, 2)->leader, 3);
	assert_int_equal(rk_rcache_get(&c, 2)->conf_version, 2);
	assert_int_equal(c.spans, 3); /* no key changed range */
	/* An older configuration of it is ignored. */
	d.conf_version = 1;
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(rk_rcache_get(&c, 2)->conf_version, 2);
	assert_int_equal(c.spans, 3);
	/* Ranges 2 and 3 merged into 2 (generation 2): one entry [f, end). */
	d = desc(2, 2, "f", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(range_of(&c, "z"), 2);
	assert_null(rk_rcache_get(&c, 3));
	assert_int_equal(c.spans, 4);
	/* A stale view of range 3 (generation 1) does not come back. */
	d = desc(3, 1, "m", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(range_of(&c, "z"), 2);
	assert_int_equal(c.spans, 4);
	/* Split again at "p" (generation 3): both halves. */
	d = desc(2, 3, "f", "p");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(4, 3, "p", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(range_of(&c, "g"), 2);
	assert_int_equal(range_of(&c, "q"), 4);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.spans, 6);
	/* A hint that is no longer one of the range's nodes is dropped. */
	rk_rcache_get(&c, 4)->leader = 9;
	d.conf_version = 2;
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(rk_rcache_get(&c, 4)->leader, 0);
	assert_int_equal(c.spans, 6);
	for (size_t i = 1; i < c.n; i++) /* in key order */
		assert_true(memcmp(c.v[i - 1]->start, c.v[i]->start,
				   c.v[i - 1]->slen < c.v[i]->slen ? c.v[i - 1]->slen
								   : c.v[i]->slen) <= 0);
	rk_rcache_free(&c);
}

static void test_table_remove(void **state)
{
	enum { N = 5000 };
	struct rk_replica *r = calloc(N, sizeof(*r));
	struct rk_table t;
	uint64_t x = 88172645463325252ull;
	size_t collided = 0;

	(void)state;
	memset(&t, 0, sizeof(t));
	uint64_t *ids = calloc(N, sizeof(*ids));

	/* Random ids: sequential ones spread without a collision under the
	 * table's multiplicative hash, and the probe runs are what removal
	 * must keep intact. */
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ids[i] = (x >> 1) | 1;
		r[i].range = ids[i];
		r[i].asleep = i % 3 != 0;
		assert_int_equal(rk_table_add(&t, &r[i]), 0);
		if (!r[i].asleep)
			assert_int_equal(rk_table_awake_add(&t, &r[i]), 0);
	}
	for (size_t i = 0; i < t.cap; i++) /* members not in their home slot */
		collided += t.slots[i] != NULL &&
			    rk_table_get(&t, t.slots[i]->range) == t.slots[i] &&
			    (size_t)(((t.slots[i]->range * 0x9e3779b97f4a7c15ull) >> 7) &
				     (t.cap - 1)) != i;
	assert_true(collided > 100);
	/* Remove a random half, checking everything after each. */
	for (size_t k = 0; k < N / 2; k++) {
		size_t i;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		i = x % N;
		if (r[i].range == 0)
			continue;
		rk_table_remove(&t, &r[i]);
		assert_null(rk_table_get(&t, ids[i]));
		r[i].range = 0; /* marks it removed here */
		if (k % 97 == 0)
			for (size_t j = 0; j < N; j++)
				assert_ptr_equal(rk_table_get(&t, ids[j]), r[j].range ? &r[j] : NULL);
	}
	for (size_t j = 0; j < N; j++)
		assert_ptr_equal(rk_table_get(&t, ids[j]), r[j].range ? &r[j] : NULL);
	for (size_t k = 1; k < t.n; k++) /* range id order, kept */
		assert_true(t.byid[k]->range > t.byid[k - 1]->range);
	for (size_t k = 0; k < t.n_awake; k++) {
		assert_false(t.awake[k]->asleep);
		assert_int_not_equal(t.awake[k]->range, 0);
		assert_int_equal(t.awake[k]->awake_pos, k);
	}
	rk_table_free(&t);
	free(ids);
	free(r);
}

static bool any(void *arg, const struct rk_rcache_entry *e)
{
	uint64_t *seen = arg;

	*seen = *seen * 10 + e->range;
	return false;
}

/* The entries a span meets, in key order. */
static void test_rcache_overlap(void **state)
{
	struct rk_rcache c;
	struct rk_desc d;
	uint64_t seen = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	d = desc(1, 1, "", "f");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(2, 1, "f", "m");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(3, 1, "m", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(9, 1, "g", "h");
	assert_false(rk_rcache_any_overlap(&c, &d, any, &seen));
	assert_int_equal(seen, 2);
	seen = 0;
	d = desc(9, 1, "e", "n");
	rk_rcache_any_overlap(&c, &d, any, &seen);
	assert_int_equal(seen, 123);
	seen = 0;
	d = desc(9, 1, "f", "m"); /* exactly range 2: the neighbours only touch */
	rk_rcache_any_overlap(&c, &d, any, &seen);
	assert_int_equal(seen, 2);
	seen = 0;
	d = desc(9, 1, "", ""); /* everything */
	rk_rcache_any_overlap(&c, &d, any, &seen);
	assert_int_equal(seen, 123);
	rk_rcache_free(&c);
}

static struct rk_raft_msg leader_msg(uint64_t to)
{
	struct rk_raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_HEARTBEAT;
	m.term = 4;
	m.from = 1;
	m.to = to;
	return m;
}

/* Puts range [start, end) in n's range cache. */
static void known_range(struct rk_node *n, uint64_t range, const char *start,
			const char *end)
{
	struct rk_desc d = desc(range, 1, start, end);

	assert_int_equal(rk_rcache_put(&n->rcache, &d), 0);
}

static void test_create_above_tombstone(void **state)
{
	struct rk_node *n = calloc(1, sizeof(*n));
	struct rk_store_raft_state old;
	struct rk_store_batch *b;
	struct rk_raft_msg m;
	struct rk_replica *r;
	char dir[256], err[256];

	(void)state;
	assert_non_null(n);
	tmpdir_make(dir, sizeof(dir), "tables-create");
	assert_int_equal(store_open_at(dir, 2, 7, &n->store, err, sizeof(err)), 0);
	assert_int_equal(rk_store_reader_open(n->store, &n->reader), 0);
	n->cfg.node_id = 2;
	rk_raft_options_default(&n->ropts);
	n->ropts.storage = &rk_replica_storage_ops; /* an empty log in memory */
	/* Out of order, and raised: 9 then 5 then 7 (3 -> 4, never down). */
	assert_int_equal(rk_life_tomb_raise(n, 9, 2), 0);
	assert_int_equal(rk_life_tomb_raise(n, 5, 3), 0);
	assert_int_equal(rk_life_tomb_raise(n, 7, 1), 0);
	assert_int_equal(rk_life_tomb_raise(n, 5, 4), 0);
	assert_int_equal(rk_life_tomb_raise(n, 5, 2), 0);
	assert_int_equal(rk_life_tomb(n, 5), 4);
	assert_int_equal(rk_life_tomb(n, 9), 2);
	assert_int_equal(rk_life_tomb(n, 6), 0);
	/* A range the node has never heard of (the right half of a split
	 * its left replica has not applied yet): nothing created. Ranges 5
	 * and 6 it knows. */
	m = leader_msg(4);
	assert_null(rk_life_create(n, 5, &m, 1));
	known_range(n, 5, "e", "f");
	known_range(n, 6, "f", "g");
	/* Below the tombstone: dropped, whatever the message. */
	m = leader_msg(3);
	assert_null(rk_life_create(n, 5, &m, 1));
	assert_null(rk_table_get(&n->tab, 5));
	/* Not from a leader: dropped. */
	m = leader_msg(4);
	m.type = RK_RAFT_MSG_VOTE;
	assert_null(rk_life_create(n, 5, &m, 1));
	/* At the tombstone: the next replica id is welcome. */
	m = leader_msg(4);
	r = rk_life_create(n, 5, &m, 1);
	assert_non_null(r);
	assert_ptr_equal(rk_table_get(&n->tab, 5), r);
	assert_int_equal(r->rs.replica_id, 4);
	assert_int_equal(r->desc.n_reps, 0); /* uninitialized: waits for a snapshot */
	/* A range without a tombstone takes any replica id. */
	m = leader_msg(1);
	assert_non_null(rk_life_create(n, 6, &m, 1));
	assert_int_equal(n->life.created, 2);
	/* A replica whose raft state is stored (a right half not loaded
	 * again since a restart) starts from its term and vote: a vote given
	 * before is never given again. Another replica id's state is not
	 * its own. */
	known_range(n, 7, "g", "h");
	known_range(n, 8, "h", "i");
	memset(&old, 0, sizeof(old));
	old.replica_id = 3;
	old.hs.term = 9;
	old.hs.vote = 2;
	assert_non_null(b = rk_store_batch_new());
	rk_store_batch_raft_state(b, 7, &old);
	rk_store_batch_raft_state(b, 8, &old);
	assert_int_equal(rk_store_write(n->store, b), 0);
	m = leader_msg(3);
	assert_non_null(r = rk_life_create(n, 7, &m, 1));
	assert_int_equal(r->rs.hs.term, 9);
	assert_int_equal(r->rs.hs.vote, 2);
	m = leader_msg(4);
	assert_non_null(r = rk_life_create(n, 8, &m, 1));
	assert_int_equal(r->rs.hs.term, 0);
	assert_int_equal(r->rs.hs.vote, 0);
	while (n->tab.n > 0) {
		r = n->tab.byid[0];
		rk_table_remove(&n->tab, r);
		rk_replica_free(r);
	}
	rk_table_free(&n->tab);
	rk_life_free(n);
	rk_rcache_free(&n->rcache);
	rk_store_reader_close(n->reader);
	rk_store_close(n->store);
	tmpdir_remove(dir);
	free(n);
}

/* Boundary i: 8 bytes, as --ranges makes them (at most 8). */
static void bound(uint8_t *k, uint32_t i)
{
	k[0] = (uint8_t)(i >> 24);
	k[1] = (uint8_t)(i >> 16);
	k[2] = (uint8_t)(i >> 8);
	k[3] = (uint8_t)i;
	memset(k + 4, 0xab, 4);
}

/* Every range of a 100,000-range cluster, 3 replicas on 5 nodes, as each
 * node's cache holds them from the start (boot.h): found by key and by id,
 * and the bytes per range reported (docs/benchmarks.md). A hosted range's
 * newer descriptor replaces its entry and keeps it findable by id. */
static void test_rcache_every_range(void **state)
{
	enum { RANGES = 100000 };
	struct rk_rcache c;
	struct rk_desc_replica r3[3];
	struct rk_desc d;
	uint8_t s[8], e[8];
	size_t bytes;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (uint32_t i = 0; i < RANGES; i++) {
		uint32_t ranks[3];

		rk_desc_initial_ranks(5, 3, i + 1, ranks);
		for (int j = 0; j < 3; j++)
			r3[j] = (struct rk_desc_replica){(uint64_t)j + 1, ranks[j] + 1, 0};
		memset(&d, 0, sizeof(d));
		d.range_id = i + 1;
		d.generation = d.conf_version = 1;
		/* Boundaries as --ranges makes them: big-endian, up to 8 bytes. */
		bound(s, i);
		bound(e, i + 1);
		d.start = s;
		d.slen = i ? 8 : 0;
		d.end = e;
		d.elen = i + 1 < RANGES ? 8 : 0;
		d.reps = r3;
		d.n_reps = 3;
		assert_int_equal(rk_rcache_put(&c, &d), 0);
	}
	assert_int_equal(c.n, RANGES);
	bytes = rk_rcache_bytes(&c);
	print_message("range cache: %zu ranges, %zu bytes, %zu bytes per range\n",
		      c.n, bytes, bytes / c.n);
	/* The whole descriptor (replica ids and roles too) of 3 replicas
	 * and two 8-byte keys: 188 bytes with the two pointer arrays. */
	assert_true(bytes / c.n <= 192);
	for (uint64_t id = 1; id <= RANGES; id += 997) {
		const struct rk_rcache_entry *x = rk_rcache_get(&c, id);
		uint8_t k[8];

		bound(k, (uint32_t)id - 1);
		k[7]++; /* inside range id's span */

		assert_non_null(x);
		assert_int_equal(x->range, id);
		assert_int_equal(x->n_nodes, 3);
		assert_ptr_equal(rk_rcache_find(&c, k, 8), x);
	}
	assert_null(rk_rcache_get(&c, RANGES + 1));
	/* Range 500 moved a replica (conf 2): replaced in place. */
	d.range_id = 500;
	d.conf_version = 2;
	bound(s, 499);
	bound(e, 500);
	d.slen = d.elen = 8;
	r3[2].node_id = 9;
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, RANGES);
	assert_int_equal(rk_rcache_get(&c, 500)->reps[2].node_id, 9);
	assert_int_equal(rk_rcache_get(&c, 500)->conf_version, 2);
	assert_int_equal(rk_rcache_get(&c, 499)->range, 499);
	assert_int_equal(rk_rcache_get(&c, 501)->range, 501);
	rk_rcache_free(&c);
}

/* By id after merges and splits: the ids left and new are found, the
 * ones merged away are not. */
static void test_rcache_by_id(void **state)
{
	struct rk_rcache c;
	struct rk_desc d;

	(void)state;
	memset(&c, 0, sizeof(c));
	d = desc(5, 1, "", "f");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(2, 1, "f", "m");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(8, 1, "m", "");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(rk_rcache_get(&c, 2)->range, 2);
	d = desc(5, 2, "", "m"); /* 5 merged 2 */
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_null(rk_rcache_get(&c, 2));
	assert_int_equal(rk_rcache_get(&c, 5)->elen, 1);
	assert_int_equal(rk_rcache_get(&c, 8)->range, 8);
	d = desc(5, 3, "", "c"); /* split: 5 keeps the left part */
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	d = desc(11, 3, "c", "m");
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(rk_rcache_get(&c, 11)->range, 11);
	assert_int_equal(range_of(&c, "d"), 11);
	assert_int_equal(range_of(&c, "a"), 5);
	assert_null(rk_rcache_get(&c, 2));
	for (uint64_t id = 1; id < 12; id++)
		if (rk_rcache_get(&c, id) != NULL)
			assert_true(id == 5 || id == 8 || id == 11);
	/* A new id over several entries (a snapshot of a range made by
	 * splits and merges this node never saw): they go, it comes, above
	 * every id and below. */
	d = desc(20, 9, "", "d"); /* over 5 and 11 */
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 2);
	assert_null(rk_rcache_get(&c, 5));
	assert_null(rk_rcache_get(&c, 11));
	assert_int_equal(rk_rcache_get(&c, 20)->range, 20);
	assert_int_equal(rk_rcache_get(&c, 8)->range, 8);
	d = desc(3, 10, "e", ""); /* over 8 */
	assert_int_equal(rk_rcache_put(&c, &d), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(rk_rcache_get(&c, 3)->range, 3);
	assert_int_equal(rk_rcache_get(&c, 20)->range, 20);
	assert_null(rk_rcache_get(&c, 8));
	assert_int_equal(range_of(&c, "a"), 20);
	assert_int_equal(range_of(&c, "d"), 0);
	assert_int_equal(range_of(&c, "z"), 3);
	rk_rcache_free(&c);
}

/* The set of reads with the reader threads (reqset.h): random adds and
 * removals of (origin, id) pairs from a small space (many collisions,
 * long probe runs, growth), checked against a plain array after each step;
 * a pair added twice is RK_EEXIST. */
static void test_reqset(void **state)
{
	enum { ORIGINS = 4, IDS = 700, STEPS = 40000 };
	static bool in[ORIGINS][IDS];
	struct rk_reqset s = {0};
	size_t n = 0;

	(void)state;
	memset(in, 0, sizeof(in));
	srand(7);
	for (int step = 0; step < STEPS; step++) {
		uint64_t o = (uint64_t)(rand() % ORIGINS) + 1, id = (uint64_t)(rand() % IDS) + 1;
		/* The router's ids carry a tag in their top bits. */
		uint64_t tid = id | (o == 2 ? 1ull << 63 : 0);

		if (rand() % 3 != 0) {
			int rc = rk_reqset_add(&s, o, tid);
			assert_int_equal(rc, in[o - 1][id - 1] ? RK_EEXIST : 0);
			if (!in[o - 1][id - 1])
				n++;
			in[o - 1][id - 1] = true;
		} else {
			rk_reqset_del(&s, o, tid);
			if (in[o - 1][id - 1])
				n--;
			in[o - 1][id - 1] = false;
		}
		assert_int_equal(s.n, n);
		if (step % 97 == 0)
			for (uint64_t a = 1; a <= ORIGINS; a++)
				for (uint64_t b = 1; b <= IDS; b++)
					assert_int_equal(rk_reqset_has(&s, a, b | (a == 2 ? 1ull << 63 : 0)),
							 in[a - 1][b - 1]);
	}
	assert_true(s.cap >= 2 * s.n);
	rk_reqset_free(&s);
	assert_false(rk_reqset_has(&s, 1, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_remove),
		cmocka_unit_test(test_create_above_tombstone),
		cmocka_unit_test(test_rcache_overlap),
		cmocka_unit_test(test_find_replace_stale),
		cmocka_unit_test(test_rcache_every_range),
		cmocka_unit_test(test_rcache_by_id),
		cmocka_unit_test(test_reqset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
