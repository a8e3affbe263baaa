/*
 * The range descriptor (src/common/desc.h) and the apply state it starts:
 * round trip, the v1 form of earlier data directories completed from the
 * configuration, the v3 form with an automatic split's flag, the invariants a decoded descriptor must hold, garbage
 * from disk refused without reading out of bounds, the replica's
 * mapping between replica ids and nodes, and the initial layout of
 * --replicas (every node holds and leads its share, deterministically).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "node_int.h"

/* Range 9, [key:0001, key:0100), replicas 2@node7 (voter), 5@node3
 * (learner), 6@node11 (voter): replica ids are not node ids. */
static void sample(struct rk_desc *d, struct rk_desc_replica *reps)
{
	memset(d, 0, sizeof(*d));
	reps[0] = (struct rk_desc_replica){2, 7, RK_DESC_VOTER};
	reps[1] = (struct rk_desc_replica){5, 3, RK_DESC_LEARNER};
	reps[2] = (struct rk_desc_replica){6, 11, RK_DESC_VOTER};
	d->range_id = 9;
	d->generation = 4;
	d->conf_version = 12;
	d->next_replica_id = 7;
	d->start = (uint8_t *)"key:0001";
	d->slen = 8;
	d->end = (uint8_t *)"key:0100";
	d->elen = 8;
	d->reps = reps;
	d->n_reps = 3;
}

static int decode(const struct rk_buf *b, struct rk_desc *got)
{
	size_t used;
	int rc = rk_desc_decode((const uint8_t *)b->p, b->len, got, &used);

	if (rc == 0)
		assert_int_equal(used, b->len);
	return rc;
}

static void test_round_trip(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc d, got, cp;
	struct rk_buf b;

	(void)state;
	sample(&d, reps);
	memset(&got, 0, sizeof(got));
	memset(&cp, 0, sizeof(cp));
	rk_buf_init(&b);
	assert_int_equal(rk_desc_encode(&d, &b), 0);
	assert_int_equal(b.len, 40 + 4 + 8 + 4 + 8 + 1 + 3 * 17);
	assert_int_equal(decode(&b, &got), 0);
	assert_false(got.v1);
	assert_int_equal(got.range_id, 9);
	assert_int_equal(got.generation, 4);
	assert_int_equal(got.conf_version, 12);
	assert_int_equal(got.next_replica_id, 7);
	assert_int_equal(got.n_reps, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(got.reps[i].replica_id, reps[i].replica_id);
		assert_int_equal(got.reps[i].node_id, reps[i].node_id);
		assert_int_equal(got.reps[i].role, reps[i].role);
	}
	assert_memory_equal(got.start, "key:0001", 8);
	assert_memory_equal(got.end, "key:0100", 8);
	assert_int_equal(rk_desc_node_of(&got, 5), 3);
	assert_int_equal(rk_desc_node_of(&got, 3), 0); /* a node id, not a replica */
	assert_int_equal(rk_desc_on_node(&got, 11)->replica_id, 6);
	assert_null(rk_desc_on_node(&got, 2));
	assert_true(rk_desc_contains(&got, "key:0001", 8));
	assert_true(rk_desc_contains(&got, "key:00999", 9));
	assert_false(rk_desc_contains(&got, "key:0100", 8));
	assert_false(rk_desc_contains(&got, "key:000", 7));
	assert_int_equal(rk_desc_copy(&cp, &got), 0);
	assert_int_equal(cp.reps[2].node_id, 11);
	assert_memory_equal(cp.end, "key:0100", 8);
	assert_ptr_not_equal(cp.reps, got.reps);
	rk_desc_free(&got);
	rk_desc_free(&cp);
	rk_buf_free(&b);
}

/* Each invariant broken on purpose is refused. */
static void test_invariants(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc d, got;
	struct rk_buf b;

	(void)state;
	memset(&got, 0, sizeof(got));
	rk_buf_init(&b);
	for (int c = 0; c < 7; c++) {
		sample(&d, reps);
		switch (c) {
		case 0: reps[1].replica_id = 2; break;      /* repeated id */
		case 1: reps[2].node_id = 7; break;          /* two on one node */
		case 2: d.next_replica_id = 6; break;        /* id not below next */
		case 3: reps[1].role = RK_DESC_ROLE_MAX + 1; break;
		case 4: reps[0].node_id = 0; break;
		case 5: d.end = (uint8_t *)"key:0000"; break; /* end before start */
		case 6: reps[0].replica_id = 9; d.next_replica_id = 10; break; /* order */
		}
		rk_buf_reset(&b);
		assert_int_equal(rk_desc_encode(&d, &b), 0);
		assert_int_equal(decode(&b, &got), RK_ECORRUPT);
		assert_null(got.reps);
		assert_null(got.start);
	}
	rk_buf_free(&b);
}

/* The form of earlier releases: u64 generation, u32 slen, start, u32 elen,
 * end. It decodes, and a replica completes it from its configuration. */
static void test_v1_completed_from_conf(void **state)
{
	uint8_t v1[8 + 4 + 1 + 4 + 0];
	struct rk_replica r;
	struct rk_buf b;

	(void)state;
	rk_le_put64(v1, 3);
	rk_le_put32(v1 + 8, 1);
	v1[12] = 'g';
	rk_le_put32(v1 + 13, 0);
	memset(&r, 0, sizeof(r));
	r.range = 42;
	r.rs.conf.n = 3;
	r.rs.conf.ids[0] = 3;
	r.rs.conf.ids[1] = 1;
	r.rs.conf.ids[2] = 2;
	r.rs.conf.flags[0] = RK_RAFT_LEARNER;
	r.rs.conf.flags[1] = RK_RAFT_VOTER;
	r.rs.conf.flags[2] = RK_RAFT_VOTER;
	assert_int_equal(rk_replica_state_decode(&r, v1, sizeof(v1)), 0);
	assert_false(r.desc.v1);
	assert_int_equal(r.desc.range_id, 42);
	assert_int_equal(r.desc.generation, 3);
	assert_int_equal(r.desc.conf_version, 1);
	assert_int_equal(r.desc.next_replica_id, 4);
	assert_int_equal(r.desc.slen, 1);
	assert_int_equal(r.desc.elen, 0);
	assert_int_equal(r.desc.n_reps, 3);
	for (uint64_t i = 0; i < 3; i++) { /* in replica id order, id = node */
		assert_int_equal(r.desc.reps[i].replica_id, i + 1);
		assert_int_equal(r.desc.reps[i].node_id, i + 1);
	}
	assert_int_equal(r.desc.reps[2].role, RK_DESC_LEARNER);
	/* Written back, it is v2 and reads the same. */
	rk_buf_init(&b);
	rk_replica_state_encode(&r, &b);
	assert_int_equal(rk_le_get64((const uint8_t *)b.p), RK_DESC_V2_MAGIC);
	assert_int_equal(rk_replica_state_decode(&r, (const uint8_t *)b.p, b.len), 0);
	assert_int_equal(r.desc.n_reps, 3);
	/* Another range's descriptor is not this replica's. */
	r.range = 43;
	assert_int_equal(rk_replica_state_decode(&r, (const uint8_t *)b.p, b.len),
			 RK_ECORRUPT);
	rk_buf_free(&b);
	rk_desc_free(&r.desc);
	rk_kv_sessions_free(&r.sessions);
}

/* The flags of an automatic split's right half: the v3 form, written only
 * with flags, so a descriptor without them is stored as v2, byte for byte
 * as earlier releases read and wrote it. */
static void test_flags_v3(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc d, got, cp;
	struct rk_buf b, v2;

	(void)state;
	sample(&d, reps);
	memset(&got, 0, sizeof(got));
	memset(&cp, 0, sizeof(cp));
	rk_buf_init(&v2);
	assert_int_equal(rk_desc_encode(&d, &v2), 0);
	assert_int_equal(rk_le_get64((const uint8_t *)v2.p), RK_DESC_V2_MAGIC);
	d.flags = RK_DESC_F_AUTO_SPLIT;
	rk_buf_init(&b);
	assert_int_equal(rk_desc_encode(&d, &b), 0);
	assert_int_equal(rk_le_get64((const uint8_t *)b.p), RK_DESC_V3_MAGIC);
	assert_int_equal(b.len, v2.len + 1);
	assert_memory_equal(b.p + 8, v2.p + 8, v2.len - 8);
	assert_int_equal(decode(&b, &got), 0);
	assert_int_equal(got.flags, RK_DESC_F_AUTO_SPLIT);
	assert_int_equal(got.n_reps, 3);
	assert_int_equal(rk_desc_copy(&cp, &got), 0);
	assert_int_equal(cp.flags, RK_DESC_F_AUTO_SPLIT);
	assert_int_equal(decode(&v2, &got), 0);
	assert_int_equal(got.flags, 0);
	/* v3 without its flags byte, with flags 0, or with unknown flags. */
	b.len--;
	assert_int_equal(decode(&b, &got), RK_ECORRUPT);
	b.len++;
	((uint8_t *)b.p)[b.len - 1] = 0;
	assert_int_equal(decode(&b, &got), RK_ECORRUPT);
	((uint8_t *)b.p)[b.len - 1] = 0x80;
	assert_int_equal(decode(&b, &got), RK_ECORRUPT);
	rk_buf_free(&b);
	rk_buf_free(&v2);
	rk_desc_free(&got);
	rk_desc_free(&cp);
}

static void test_garbage(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_desc d, got;
	struct rk_buf b;
	uint8_t dmg[256];
	uint64_t x = 0x2545f4914f6cdd1dull;
	int ok = 0;

	(void)state;
	sample(&d, reps);
	memset(&got, 0, sizeof(got));
	rk_buf_init(&b);
	assert_int_equal(rk_desc_encode(&d, &b), 0);
	assert_true(b.len <= sizeof(dmg));
	for (int it = 0; it < 100000; it++) {
		size_t len = b.len, used;
		uint8_t *exact;
		int rc;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(dmg, b.p, b.len);
		dmg[(x >> 8) % b.len] = (uint8_t)(x >> 32);
		if ((x >> 60) % 2 == 0)
			len = (size_t)((x >> 20) % (b.len + 8));
		/* An exact-size copy: ASan sees any read past the end. */
		exact = malloc(len ? len : 1);
		memcpy(exact, dmg, len < b.len ? len : b.len);
		if (len > b.len)
			memset(exact + b.len, 0xab, len - b.len);
		rc = rk_desc_decode(exact, len, &got, &used);
		assert_true(rc == 0 || rc == RK_ECORRUPT);
		if (rc == 0)
			assert_true(used <= len);
		ok += rc == 0;
		free(exact);
	}
	assert_true(ok > 0);
	rk_desc_free(&got);
	rk_buf_free(&b);
}

/* The replica's view: messages addressed to its own replica id only, from
 * the node its descriptor places the sender on. */
static void test_replica_mapping(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_replica r;
	struct rk_raft_msg m;
	uint64_t ids[4];

	(void)state;
	memset(&r, 0, sizeof(r));
	sample(&r.desc, reps);
	r.rs.replica_id = 5;
	assert_int_equal(rk_replica_node(&r, 6), 11);
	assert_int_equal(rk_replica_on_node(&r, 7), 2);
	assert_int_equal(rk_replica_on_node(&r, 5), 0);
	assert_int_equal(rk_replica_voter_nodes(&r, ids, 4), 2);
	assert_int_equal(ids[0], 7);
	assert_int_equal(ids[1], 11);
	memset(&m, 0, sizeof(m));
	m.to = 5;
	m.from = 2;
	assert_true(rk_replica_addressed(&r, &m, 7));
	assert_false(rk_replica_addressed(&r, &m, 11)); /* 2 is on node 7 */
	m.from = 8; /* a replica added by a change not applied here yet */
	assert_true(rk_replica_addressed(&r, &m, 11));
	m.from = 2;
	m.to = 3; /* an earlier replica of the range on this node */
	assert_false(rk_replica_addressed(&r, &m, 7));
}

/* The range's replicated clock is apply state even when no session is left:
 * a replica restarted without it would stamp and expire differently from
 * the others (rk_kv_clock_stamp continues from the applied clock). */
static void test_state_keeps_clock_without_sessions(void **state)
{
	struct rk_desc_replica reps[3];
	struct rk_replica r, got;
	struct rk_buf b;
	size_t plain;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&got, 0, sizeof(got));
	sample(&r.desc, reps);
	r.range = got.range = 9;
	rk_buf_init(&b);
	rk_desc_encode(&r.desc, &b);
	plain = b.len;
	rk_buf_reset(&b);
	r.sessions.now_ms = 7200123;
	rk_replica_state_encode(&r, &b);
	assert_false(b.oom);
	assert_int_equal(rk_replica_state_decode(&got, (const uint8_t *)b.p, b.len), 0);
	assert_int_equal(got.sessions.now_ms, 7200123);
	assert_int_equal(got.sessions.n, 0);
	/* A range that never applied a write keeps the short form. */
	r.sessions.now_ms = 0;
	rk_buf_reset(&b);
	rk_replica_state_encode(&r, &b);
	assert_int_equal(b.len, plain);
	rk_buf_free(&b);
	rk_kv_sessions_free(&got.sessions);
	rk_desc_free(&got.desc);
}

/* The layout of n nodes with k replicas over `ranges` ranges: replicas
 * and preferred leaders (elect.h's rule) counted per node rank. */
static void count_layout(uint32_t n, uint32_t k, uint32_t ranges,
			 uint32_t *held, uint32_t *led)
{
	memset(held, 0, n * sizeof(*held));
	memset(led, 0, n * sizeof(*led));
	for (uint64_t range = 1; range <= ranges; range++) {
		uint32_t ranks[RK_DESC_MAX_REPLICAS];
		uint64_t ids[RK_DESC_MAX_REPLICAS];

		rk_desc_initial_ranks(n, k, range, ranks);
		for (uint32_t j = 0; j < k; j++) {
			assert_true(ranks[j] < n);
			if (j > 0)
				assert_true(ranks[j - 1] < ranks[j]); /* increasing, distinct */
			held[ranks[j]]++;
			ids[j] = ranks[j];
		}
		led[rk_elect_preferred(ids, k, range)]++;
	}
}

static uint32_t spread(const uint32_t *v, uint32_t n)
{
	uint32_t lo = v[0], hi = v[0];

	for (uint32_t i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	return hi - lo;
}

static void test_initial_layout(void **state)
{
	uint32_t held[RK_MAX_NODES], led[RK_MAX_NODES];
	uint32_t a[RK_DESC_MAX_REPLICAS], b[RK_DESC_MAX_REPLICAS];

	(void)state;
	/* Exactly even over every n*k ranges, for every cluster size and
	 * replica count (6 nodes of 3 replicas included: a plain rotation
	 * would leave node 2 leading nothing there). */
	for (uint32_t n = 1; n <= 12; n++)
		for (uint32_t k = 1; k <= n && k <= RK_DESC_MAX_REPLICAS; k++) {
			count_layout(n, k, 4 * n * k, held, led);
			for (uint32_t i = 0; i < n; i++) {
				assert_int_equal(held[i], 4 * k * k);
				assert_int_equal(led[i], 4 * k);
			}
			/* And close on any count. */
			count_layout(n, k, 1000, held, led);
			assert_true(spread(held, n) <= 2 * k);
			assert_true(spread(led, n) <= 6);
		}
	/* 5 nodes, 3 replicas, as the cluster test runs: ranges 1..5 start
	 * at ranks 0..4; range 4 wraps (ranks 3, 4, 0 sorted). */
	rk_desc_initial_ranks(5, 3, 1, a);
	assert_int_equal(a[0], 0);
	assert_int_equal(a[1], 1);
	assert_int_equal(a[2], 2);
	rk_desc_initial_ranks(5, 3, 4, a);
	assert_int_equal(a[0], 0);
	assert_int_equal(a[1], 3);
	assert_int_equal(a[2], 4);
	/* Every node on every range when k = n (the layout of directories
	 * made before --replicas). */
	for (uint64_t range = 1; range < 50; range++) {
		rk_desc_initial_ranks(7, 7, range, a);
		for (uint32_t j = 0; j < 7; j++)
			assert_int_equal(a[j], j);
	}
	/* Deterministic: a function of (n, k, range) only. */
	for (uint64_t range = 1; range < 5000; range += 7) {
		rk_desc_initial_ranks(9, 4, range, a);
		rk_desc_initial_ranks(9, 4, range, b);
		assert_memory_equal(a, b, 4 * sizeof(*a));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_invariants),
		cmocka_unit_test(test_v1_completed_from_conf),
		cmocka_unit_test(test_flags_v3),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_replica_mapping),
		cmocka_unit_test(test_state_keeps_clock_without_sessions),
		cmocka_unit_test(test_initial_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
