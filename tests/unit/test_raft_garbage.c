/*
 * A peer speaking garbage: seeded random messages, well formed or not, are
 * stepped into one replica of a live cluster. Nothing may crash (ASan and
 * UBSan watch in CI), every malformed one must be refused with RK_EPROTO,
 * and once the garbage stops the cluster must still elect a leader and
 * commit, with the two replicas that never saw garbage agreeing.
 *
 * (Raft does not tolerate lying peers: well-formed forgeries in the name of
 * the leader can corrupt the victim's log, so its agreement is not checked.
 * The transport's checksums and the node's authentication of peers keep
 * such messages out in practice.) The conf-change decoder gets random bytes
 * the same way.
 *
 *   test_raft_garbage [seed] [count]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"

static uint64_t g_seed = 1;
static int g_count = 20000;

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Small values most of the time, so that some garbage is plausible enough
 * to get past the first checks. */
static uint64_t pick(uint64_t *s, uint64_t near)
{
	switch (rnd(s) % 4) {
	case 0:
		return rnd(s);
	case 1:
		return near + rnd(s) % 3;
	case 2:
		return near > 2 ? near - rnd(s) % 3 : 0;
	default:
		return rnd(s) % 16;
	}
}

static void random_msg(uint64_t *s, struct rk_raft *r, struct rk_raft_msg *m,
		       struct rk_raft_entry *ents, uint8_t *buf,
		       struct rk_raft_snapshot_meta *snap)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	m->type = (uint8_t)(rnd(s) % (RK_RAFT_MSG_TYPE_MAX + 2));
	m->flags = (uint8_t)(rnd(s) % 8 == 0 ? rnd(s) : rnd(s) % 2);
	m->reject = rnd(s) % 2;
	m->from = rnd(s) % 8 == 0 ? rnd(s) % 6 : 1 + rnd(s) % 3;
	m->to = rnd(s) % 16 == 0 ? rnd(s) % 6 : r->id;
	/* Terms at or just above the current one would depose the leader at
	 * every message; keep most garbage in the past or far future. */
	m->term = rnd(s) % 3 == 0 ? pick(s, r->term) : rnd(s) % (r->term + 1);
	m->log_term = pick(s, r->term);
	m->index = pick(s, r->committed);
	m->commit = pick(s, r->committed);
	m->reject_hint = pick(s, r->committed);
	m->context = pick(s, 3);
	if (rnd(s) % 3 == 0) {
		m->n_entries = rnd(s) % 4;
		for (i = 0; i < m->n_entries; i++) {
			ents[i].index = rnd(s) % 4 == 0 ? rnd(s) : m->index + 1 + i;
			ents[i].term = pick(s, m->term);
			ents[i].type = (uint32_t)(rnd(s) % 3);
			ents[i].len = (uint32_t)(rnd(s) % 32);
			ents[i].data = rnd(s) % 16 == 0 ? NULL : buf;
		}
		m->entries = rnd(s) % 32 == 0 ? NULL : ents;
	}
	if (m->type == RK_RAFT_MSG_SNAP || rnd(s) % 32 == 0) {
		memset(snap, 0, sizeof(*snap));
		snap->index = pick(s, r->committed);
		snap->term = pick(s, r->term);
		snap->conf.n = (uint8_t)(rnd(s) % (RK_RAFT_MAX_MEMBERS + 3));
		for (i = 0; i < snap->conf.n && i < RK_RAFT_MAX_MEMBERS; i++) {
			snap->conf.ids[i] = rnd(s) % 5;
			snap->conf.flags[i] = (uint8_t)(rnd(s) % 20);
		}
		m->snapshot = rnd(s) % 16 == 0 ? NULL : snap;
	}
}

static void test_garbage_into_step(void **state)
{
	struct rk_raft_entry ents[4];
	struct rk_raft_snapshot_meta snap;
	struct rk_raft_msg m;
	uint8_t buf[32];
	uint64_t s = g_seed, idx;
	struct fx fx;
	int i, rc, l, victim = 3, refused = 0;

	(void)state;
	memset(buf, 0xab, sizeof(buf));
	fx_init(&fx, 3, 3, NULL);
	assert_true(fx_elect(&fx, 1));
	for (i = 0; i < g_count; i++) {
		random_msg(&s, fx_raft(&fx, victim), &m, ents, buf, &snap);
		rc = rk_raft_step(fx_raft(&fx, victim), &m);
		if (rc == 0 && rk_raft_msg_validate(&m) != 0)
			fail_msg("seed %llu msg %d: invalid message accepted",
				 (unsigned long long)g_seed, i);
		refused += rc == RK_EPROTO;
		if (i % 64 == 0) {
			fx_settle(&fx);
			fx_tick_all(&fx, 1);
			if (i % 1024 == 0 && (l = fx_leader(&fx)) != 0)
				(void)fx_propose(&fx, l, "between garbage");
		}
	}
	/* Garbage over: the cluster agrees and makes progress. */
	fx_tick_all(&fx, 100);
	l = fx_leader(&fx);
	assert_true(l != 0);
	idx = fx_propose(&fx, l, "after");
	assert_true(idx > 0);
	fx_tick_all(&fx, 3);
	assert_true(fx_raft(&fx, l)->committed >= idx);
	assert_int_equal(fx.nodes[1].applied, fx.nodes[2].applied);
	if (fx.nodes[1].applied < 4096)
		assert_int_equal(fx.nodes[1].sm_hash[fx.nodes[1].applied],
				 fx.nodes[2].sm_hash[fx.nodes[2].applied]);
	assert_true(refused > 0);
	fx_close(&fx);
}

static void test_garbage_into_cc_decode(void **state)
{
	struct rk_raft_conf_change cc, back;
	uint8_t buf[RK_RAFT_CC_ENCODED_MAX + 8];
	uint64_t s = g_seed * 7 + 1;
	size_t len, j;
	int i, ok = 0;

	(void)state;
	for (i = 0; i < g_count * 5; i++) {
		len = rnd(&s) % sizeof(buf);
		for (j = 0; j < len; j++)
			buf[j] = (uint8_t)rnd(&s);
		if (len > 3 && rnd(&s) % 2) { /* plausible headers */
			buf[0] = 1;
			buf[1] = (uint8_t)(rnd(&s) % 4);
			buf[2] = (uint8_t)(rnd(&s) % (RK_RAFT_CC_MAX_CHANGES + 2));
			buf[3] = 0;
			len = 4 + (size_t)buf[2] * 9;
			if (len > sizeof(buf))
				len = sizeof(buf);
		}
		if (rk_raft_cc_decode(buf, len, &cc) != 0)
			continue;
		ok++;
		/* What decodes re-encodes to the same bytes. */
		assert_int_equal(rk_raft_cc_encode(&cc, buf + 0), len);
		assert_int_equal(rk_raft_cc_decode(buf, len, &back), 0);
		assert_memory_equal(&cc, &back, sizeof(cc));
	}
	assert_true(ok > 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_into_step),
		cmocka_unit_test(test_garbage_into_cc_decode),
	};

	if (argc > 1)
		g_seed = strtoull(argv[1], NULL, 10);
	if (argc > 2)
		g_count = atoi(argv[2]);
	printf("garbage: seed %llu, %d messages (replay: %s %llu %d)\n",
	       (unsigned long long)g_seed, g_count, argv[0],
	       (unsigned long long)g_seed, g_count);
	return cmocka_run_group_tests_name("raft_garbage", tests, NULL, NULL);
}
