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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "desc.h"
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

/* Submits op (PUT: value "v") on key. */
static void submit_key(struct rk_client_router *r, int op, const char *key,
		       struct outcome *o)
{
	struct rk_kv_cmd c;
	struct rk_buf b;

	memset(&c, 0, sizeof(c));
	c.op = (uint8_t)op;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	rk_kv_cmd_arg(&b, key, strlen(key));
	if (op == RK_KV_PUT)
		rk_kv_cmd_arg(&b, "v", 1);
	rk_kv_cmd_finish(&b, 0, op == RK_KV_PUT ? 2 : 1);
	assert_false(b.oom);
	assert_int_equal(rk_client_submit(r, (const uint8_t *)b.p, b.len, on_done, o), 0);
	rk_buf_free(&b);
}

static void submit(struct rk_client_router *r, int op, struct outcome *o)
{
	submit_key(r, op, "k", o);
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
	struct rk_client_env env = {&f, 1, fake_range_of, fake_leader_of, fake_send,
				    NULL, NULL, NULL, NULL, NULL, NULL};
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
	struct rk_client_env env = {&f, 1, fake_range_of, fake_leader_of, fake_send,
				    NULL, NULL, NULL, NULL, NULL, NULL};
	struct rk_client_router *r;
	struct outcome w = {0}, rd = {0};
	uv_loop_t loop;

	FILE *log = tmpfile();
	char text[1024];
	size_t len;
	int saved;

	(void)state;
	/* What the router logs as it gives up: stderr into a file. */
	assert_non_null(log);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0 && dup2(fileno(log), 2) == 2);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rk_client_router_new(&loop, &env, 50, &r), 0);
	submit(r, RK_KV_PUT, &w);
	submit(r, RK_KV_GET, &rd);
	while (!w.done || !rd.done)
		uv_run(&loop, UV_RUN_ONCE);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	assert_int_equal(w.status, TIMEOUT);
	assert_int_equal(rd.status, TRYAGAIN);
	/* One line a second at most, naming the range and the node: the
	 * write's; the read, given up in the same second, is counted. */
	rewind(log);
	len = fread(text, 1, sizeof(text) - 1, log);
	text[len] = '\0';
	fclose(log);
	assert_non_null(strstr(text, "a write given up after "));
	assert_non_null(strstr(text, " ms (-TIMEOUT): range 1, last sent to node 2"));
	assert_non_null(strstr(text, "1 attempts open (0 answered unknown), last answer none;"));
	assert_null(strstr(text, "a read given up"));
	close_router(&loop, r);
}

/* A node whose range cache does not know the key's range at first: the
 * write waits, then finds it. Every request sent is kept. */
struct seqfake {
	uint64_t range;
	int sent;
	uint64_t seq[4], low[4];
};

/* Every key in one range: the fake's first member (struct seqfake's and
 * struct rfake's), read through a pointer to it. */
static uint64_t seq_range_of(void *arg, const uint8_t *key, size_t klen,
			     const uint8_t **endp, size_t *elenp)
{
	(void)key;
	(void)klen;
	*endp = NULL;
	*elenp = 0;
	return *(const uint64_t *)arg;
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
	struct rk_client_env env = {&f, 1, seq_range_of, seq_leader_of, seq_send,
				    NULL, NULL, NULL, NULL, NULL, NULL};
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

/* A node whose range 1 splits at "m" when split is set: keys from "m" on
 * are then range 9's, led by node 3 (range 1's leader is node 2), and
 * spans (env.spans) counts the change. Requests sent are recorded. */
struct splitfake {
	bool split;
	uint64_t spans;
	int sent;
	uint64_t rng[8], seq[8], low[8], id[8];
};

static uint64_t sf_range_of(void *arg, const uint8_t *key, size_t klen,
			    const uint8_t **endp, size_t *elenp)
{
	const struct splitfake *f = arg;

	*endp = NULL;
	*elenp = 0;
	return f->split && klen > 0 && key[0] >= 'm' ? 9 : 1;
}

static uint64_t sf_leader_of(void *arg, uint64_t range)
{
	(void)arg;
	return range == 9 ? 3 : 2;
}

static void sf_send(void *arg, uint64_t to, const struct rk_net_req *q)
{
	struct splitfake *f = arg;
	int i = f->sent++;

	(void)to;
	assert_true(i < 8);
	f->rng[i] = q->range;
	f->id[i] = q->id;
	f->seq[i] = le64_at(q->cmd + 10);
	f->low[i] = le64_at(q->cmd + 18);
}

static uint64_t sf_spans(void *arg)
{
	return ((const struct splitfake *)arg)->spans;
}

/* A router over env on loop, with a write of key "x" sent to range 1 and
 * not answered. */
/* The router's view of f's node. */
static struct rk_client_env sf_env(struct splitfake *f)
{
	struct rk_client_env env = {f, 1, sf_range_of, sf_leader_of, sf_send,
				    NULL, NULL, NULL, NULL, NULL, sf_spans};
	return env;
}

static struct rk_client_router *sf_start(const struct rk_client_env *env, uv_loop_t *loop,
					 struct outcome *a)
{
	const struct splitfake *f = env->arg;
	struct rk_client_router *r;

	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(rk_client_router_new(loop, env, 5000, &r), 0);
	submit_key(r, RK_KV_PUT, "x", a);
	assert_int_equal(f->sent, 1);
	assert_int_equal(f->rng[0], 1);
	return r;
}

/* A write of key "x" sent to range 1 and not answered (it may apply there
 * before the split, and the split hands its record to range 9); range 1
 * splits. The next write sent to range 9 must not tell it a first
 * incomplete sequence above the open write's, and that write's retry goes
 * to range 9 under its own number: else range 9 forgets the record and
 * answers the retry as a duplicate (-ERR) though its client never had an
 * answer. Fails without follow_spans in the router (the second write's
 * mark is its own number). */
static void test_router_split_keeps_marks(void **state)
{
	struct splitfake f = {0};
	struct rk_client_env env = sf_env(&f);
	struct rk_client_router *r;
	struct outcome a = {0}, b = {0};
	uv_loop_t loop;

	(void)state;
	r = sf_start(&env, &loop, &a);
	f.split = true;
	f.spans++;
	submit_key(r, RK_KV_PUT, "y", &b);
	assert_int_equal(f.sent, 2);
	assert_int_equal(f.rng[1], 9);
	assert_true(f.seq[1] > f.seq[0]);
	assert_true(f.low[1] <= f.seq[0]);
	while (f.sent < 3) /* no answer: the first write is resent */
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(f.rng[2], 9);
	assert_int_equal(f.seq[2], f.seq[0]);
	assert_true(f.low[2] <= f.seq[0]);
	close_router(&loop, r);
}

/* The start both tests below share: write "x" sent to range 1 and left
 * open, range 1 split without the router's spans count moving, write "y"
 * sent to range 9 under a mark above x's number and answered OK. */
static struct rk_client_router *late_split_start(struct splitfake *f,
						 struct rk_client_env *env, uv_loop_t *loop,
						 struct outcome *a, struct outcome *b)
{
	struct rk_net_resp ok = {.status = RK_NET_RESP_OK, .reply = (const uint8_t *)"+OK\r\n",
				 .len = 5};
	struct rk_client_router *r = sf_start(env, loop, a);

	f->split = true; /* not counted in spans yet */
	submit_key(r, RK_KV_PUT, "y", b);
	assert_int_equal(f->sent, 2);
	assert_int_equal(f->rng[1], 9);
	assert_true(f->low[1] > f->seq[0]);
	ok.id = f->id[1];
	rk_client_on_resp(r, &ok);
	assert_true(b->done);
	return r;
}

/* As above, but the router learns the split late (env.spans moves only
 * after a write went to range 9 under a mark above the open write's
 * number, as when a descriptor reached the cache by a path that counts
 * no change): the open write must not be resent to range 9 under its old
 * number, which range 9 would answer as a duplicate (-ERR); it waits
 * for its open attempt's answer and then goes there under a new number.
 * Fails without struct wlist's sent bound in the router (the resend goes
 * to range 9 under number 1). */
static void test_router_late_split_no_duplicate(void **state)
{
	struct splitfake f = {0};
	struct rk_client_env env = sf_env(&f);
	struct rk_client_router *r;
	struct rk_client_stats st;
	struct outcome a = {0}, b = {0};
	struct rk_net_resp no = {.status = RK_NET_RESP_MISMATCH};
	uv_loop_t loop;
	uint64_t until;

	(void)state;
	r = late_split_start(&f, &env, &loop, &a, &b);
	f.spans++;
	/* Past the resend time: the router must hold the write back. */
	until = uv_now(&loop) + 1500;
	while (uv_now(&loop) < until && f.sent < 3)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(f.sent, 2);
	rk_client_router_stats(r, &st);
	assert_int_equal(st.awaits, 1);
	/* Its attempt at range 1 answered certainly not applied: on to
	 * range 9 under a number above every mark sent there. */
	no.id = f.id[0];
	rk_client_on_resp(r, &no);
	assert_int_equal(f.sent, 3);
	assert_int_equal(f.rng[2], 9);
	assert_true(f.seq[2] >= f.low[1]);
	assert_true(f.seq[2] != f.seq[0]);
	assert_false(a.done);
	close_router(&loop, r);
}

/* As above, but the open attempt at range 1 is answered "unknown": no
 * other answer comes for it, and the write may not go to range 9 under
 * its number (a duplicate) nor a new one (it may have applied). It is
 * answered -TIMEOUT at once, not after holding its connection's later
 * replies back until the deadline; in both orders: the "unknown" answer
 * while it awaits, and before it (then its resend finds it settled).
 * Fails when an awaiting write waits for its deadline (await_settled
 * left out: a.done stays false). */
static void test_router_await_unknown_times_out_at_once(void **state)
{
	for (int order = 0; order < 2; order++) {
		struct splitfake f = {0};
		struct rk_client_env env = sf_env(&f);
		struct rk_client_router *r;
		struct rk_client_stats st;
		struct outcome a = {0}, b = {0};
		struct rk_net_resp unk = {.status = RK_NET_RESP_UNKNOWN};
		uv_loop_t loop;
		uint64_t until, t0;

		(void)state;
		r = late_split_start(&f, &env, &loop, &a, &b);
		t0 = uv_now(&loop);
		unk.id = f.id[0];
		if (order == 1)
			rk_client_on_resp(r, &unk);
		f.spans++;
		until = uv_now(&loop) + 1500;
		while (uv_now(&loop) < until && !a.done && f.sent < 3)
			uv_run(&loop, UV_RUN_ONCE);
		assert_int_equal(f.sent, 2);
		if (order == 0) {
			assert_false(a.done);
			rk_client_on_resp(r, &unk);
		}
		assert_true(a.done);
		assert_int_equal(a.status, RK_CLIENT_TIMEOUT);
		assert_true(uv_now(&loop) - t0 < 3000); /* the deadline is 5 s */
		rk_client_router_stats(r, &st);
		assert_int_equal(st.awaits, 1);
		assert_int_equal(st.await_timeouts, 1);
		close_router(&loop, r);
	}
}

/* ---- routing that follows descriptors ------------------------------------------ */

/* A node whose range cache holds one entry for every key: range, its
 * generation and its leader (0: none known; range 0: nothing known).
 * learn takes a descriptor unless its generation is older, absent clears
 * the leader it names, peer_after cycles through nodes 2..4. Every request
 * sent is recorded; with pong set, send answers MISMATCH at once carrying
 * the descriptor pong (as a node may: the env's contract). */
struct rfake {
	uint64_t range; /* first: seq_range_of */
	uint64_t gen, leader;
	int sent, learned, absent;
	uint64_t to[32], rng[32], gen_sent[32], id[32], seq[32], low[32];
	uint8_t op[32];
	uint32_t nargs[32];
	struct rk_client_router *r;
	struct rk_buf pong;
	/* The placement index (env.lookup, with ix_env): what it answers and
	 * how; lookups counted, the last need seen. */
	int ix_rc, lookups;
	bool ix_need;
	uint64_t ix_range, ix_leader;
};

static uint64_t r_leader_of(void *arg, uint64_t range)
{
	struct rfake *f = arg;

	return range == f->range ? f->leader : 0;
}

static uint64_t r_gen_of(void *arg, uint64_t range, const uint8_t *key, size_t klen)
{
	struct rfake *f = arg;

	(void)key;
	(void)klen;
	return range == f->range ? f->gen : 0;
}

static void r_learn(void *arg, const uint8_t *p, size_t len)
{
	struct rfake *f = arg;
	struct rk_desc d;
	size_t used;

	memset(&d, 0, sizeof(d));
	assert_int_equal(rk_desc_decode(p, len, &d, &used), 0);
	f->learned++;
	if (d.generation >= f->gen) {
		f->range = d.range_id;
		f->gen = d.generation;
		f->leader = d.reps[0].node_id;
	}
	rk_desc_free(&d);
}

static void r_absent(void *arg, uint64_t range, uint64_t node)
{
	struct rfake *f = arg;

	f->absent++;
	if (range == f->range && node == f->leader)
		f->leader = 0;
}

static uint64_t r_peer_after(void *arg, uint64_t node)
{
	(void)arg;
	return node >= 2 && node < 4 ? node + 1 : 2;
}

static void r_send(void *arg, uint64_t to, const struct rk_net_req *q)
{
	struct rfake *f = arg;
	int i = f->sent++;

	assert_true(i < 32);
	f->to[i] = to;
	f->rng[i] = q->range;
	f->gen_sent[i] = q->generation;
	f->id[i] = q->id;
	f->seq[i] = le64_at(q->cmd + 10);
	f->low[i] = le64_at(q->cmd + 18);
	f->op[i] = q->cmd[0];
	f->nargs[i] = (uint32_t)le64_at(q->cmd + 34) & 0xffffffffu;
	if (f->pong.len > 0) {
		struct rk_net_resp a = {.id = q->id, .status = RK_NET_RESP_MISMATCH,
					.descs = {(const uint8_t *)f->pong.p},
					.desc_lens = {f->pong.len}, .n_descs = 1};
		rk_client_on_resp(f->r, &a);
	}
}

static struct rk_client_env r_env(struct rfake *f)
{
	struct rk_client_env env = {f, 1, seq_range_of, r_leader_of, r_send, r_gen_of,
				    r_learn, r_absent, r_peer_after, NULL, NULL};
	return env;
}

/* The node's placement index lookup: it counts the call; DONE puts the
 * index's answer (ix_range on ix_leader) into the cache at once, WAIT
 * leaves it for the test to put in and wake the router. Only asked by
 * need here (no guessed entries). */
static int r_lookup(void *arg, uint64_t range, bool need, const uint8_t *key, size_t klen)
{
	struct rfake *f = arg;

	(void)range;
	(void)key;
	(void)klen;
	if (!need)
		return RK_CLIENT_LOOKUP_NONE;
	f->lookups++;
	f->ix_need = need;
	if (f->ix_rc == RK_CLIENT_LOOKUP_DONE) {
		f->range = f->ix_range;
		f->gen = 1;
		f->leader = f->ix_leader;
	}
	return f->ix_rc;
}

/* A descriptor of range on one node, [a, z). */
static void make_desc(struct rk_buf *b, uint64_t range, uint64_t gen, uint64_t node)
{
	struct rk_desc_replica rep = {1, node, RK_DESC_VOTER};
	struct rk_desc d = {.range_id = range, .generation = gen, .conf_version = 1,
			    .next_replica_id = 2, .start = (uint8_t *)"a", .slen = 1,
			    .end = (uint8_t *)"z", .elen = 1, .reps = &rep, .n_reps = 1};

	rk_buf_reset(b);
	assert_int_equal(rk_desc_encode(&d, b), 0);
}

/* Answers the last request sent with status and at most one descriptor. */
static void answer(struct rfake *f, uint32_t status, const struct rk_buf *desc)
{
	struct rk_net_resp a = {.id = f->id[f->sent - 1], .status = status};

	if (desc != NULL) {
		a.descs[0] = (const uint8_t *)desc->p;
		a.desc_lens[0] = desc->len;
		a.n_descs = 1;
	}
	rk_client_on_resp(f->r, &a);
}

/* Request i went to node `to` naming range and generation gen. */
static void sent_as(const struct rfake *f, int i, uint64_t to, uint64_t range,
		    uint64_t gen)
{
	assert_true(i < f->sent);
	assert_int_equal(f->to[i], to);
	assert_int_equal(f->rng[i], range);
	assert_int_equal(f->gen_sent[i], gen);
}

/* A router on loop over f's node, with timeout_ms (f->pong zeroed: an
 * empty buffer). */
static void r_start(struct rfake *f, struct rk_client_env *env, uv_loop_t *loop,
		    uint32_t timeout_ms)
{
	*env = r_env(f);
	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(rk_client_router_new(loop, env, timeout_ms, &f->r), 0);
}

static void r_stop(struct rfake *f, uv_loop_t *loop)
{
	close_router(loop, f->r);
	rk_buf_free(&f->pong);
}

/* The router's index lookups: a key no range is known for is looked up
 * before any node is asked in turn, and goes in one attempt to the node
 * the index names, at once (an answer already in the cache) or once the
 * node wakes the router (an answer that came later). One lookup per
 * operation: a NO_RANGE without a descriptor after it asks the nodes in
 * turn, as without an index. Fails without env.lookup's call in the
 * router (the write would be sent under range 0 to node 2 first). */
static void test_router_index_lookup(void **state)
{
	struct rfake f = {.ix_rc = RK_CLIENT_LOOKUP_DONE, .ix_range = 5, .ix_leader = 4};
	struct rk_client_env env;
	struct rk_client_stats st;
	struct outcome w = {0}, w2 = {0};
	uv_loop_t loop;

	(void)state;
	env = r_env(&f);
	env.lookup = r_lookup;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rk_client_router_new(&loop, &env, 5000, &f.r), 0);
	submit(f.r, RK_KV_PUT, &w);
	assert_int_equal(f.lookups, 1);
	assert_true(f.ix_need);
	assert_int_equal(f.sent, 1);
	sent_as(&f, 0, 4, 5, 1); /* one hop: where the index said */
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_true(w.done);
	assert_int_equal(w.status, OK);
	/* The answer comes later: nothing is sent until the node wakes it. */
	f.range = 0;
	f.ix_rc = RK_CLIENT_LOOKUP_WAIT;
	submit(f.r, RK_KV_PUT, &w2);
	assert_int_equal(f.lookups, 2);
	assert_int_equal(f.sent, 1);
	f.range = 6;
	f.gen = 1;
	f.leader = 3;
	rk_client_router_wake(f.r);
	for (int i = 0; i < 100 && f.sent == 1; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(f.sent, 2);
	sent_as(&f, 1, 3, 6, 1);
	/* Not there after all, no descriptor: no second lookup, the nodes
	 * are asked in turn. */
	f.leader = 0;
	answer(&f, RK_NET_RESP_NO_RANGE, NULL);
	assert_int_equal(f.lookups, 2);
	assert_int_equal(f.sent, 3);
	assert_int_equal(f.to[2], 2);
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_true(w2.done);
	rk_client_router_stats(f.r, &st);
	assert_int_equal(st.index_lookups, 2);
	assert_int_equal(st.asks, 1);
	r_stop(&f, &loop);
}

/* A stale cache entry (range 1 on node 2) answered MISMATCH with the
 * range's current descriptor: the write goes at once to the node it names,
 * with the range and generation it gives, the same request id, and never
 * a first incomplete sequence above its own. Its one attempt was answered
 * certainly-not-applied, so it joins the new range's list under a new
 * sequence number (the range may have been told a first incomplete one
 * above its old one); a write with an attempt still open (resent after a
 * second without an answer: that attempt may apply) keeps its own. */
static void test_router_mismatch_follows_descriptor(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct rk_client_stats st;
	struct outcome w = {0}, w2 = {0};
	struct rk_buf d;
	uv_loop_t loop;

	(void)state;
	rk_buf_init(&d);
	r_start(&f, &env, &loop, 5000);
	submit(f.r, RK_KV_PUT, &w);
	assert_int_equal(f.sent, 1);
	sent_as(&f, 0, 2, 1, 1);
	make_desc(&d, 7, 2, 3);
	answer(&f, RK_NET_RESP_MISMATCH, &d);
	assert_int_equal(f.learned, 1);
	assert_int_equal(f.sent, 2); /* at once, not after a park */
	sent_as(&f, 1, 3, 7, 2);
	assert_int_equal(f.id[1], f.id[0]);
	assert_true(f.seq[1] > f.seq[0]);
	assert_true(f.low[1] <= f.seq[1]);
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_true(w.done);
	assert_int_equal(w.status, OK);
	/* Again from range 7, with an attempt left open. */
	submit(f.r, RK_KV_PUT, &w2);
	assert_int_equal(f.sent, 3);
	sent_as(&f, 2, 3, 7, 2);
	while (f.sent < 4) /* no answer: resent after a second */
		uv_run(&loop, UV_RUN_ONCE);
	make_desc(&d, 8, 3, 4);
	answer(&f, RK_NET_RESP_MISMATCH, &d);
	assert_int_equal(f.sent, 5);
	sent_as(&f, 4, 4, 8, 3);
	assert_int_equal(f.id[4], f.id[2]);
	assert_int_equal(f.seq[4], f.seq[2]);
	assert_true(f.low[4] <= f.seq[4]);
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_int_equal(w2.status, OK);
	rk_client_router_stats(f.r, &st);
	assert_int_equal(st.redirects, 2);
	assert_int_equal(st.redirect_parks, 0);
	assert_int_equal(st.tryagain + st.timeouts, 0);
	r_stop(&f, &loop);
	rk_buf_free(&d);
}

/* A range that refuses every attempt of a write as certainly not applied
 * (a range frozen for a merge answers NOT_LEADER without a leader): at its
 * deadline the write is answered -TRYAGAIN, not -TIMEOUT; one attempt left
 * unanswered (it may still apply) makes it -TIMEOUT. Fails with the
 * router answering -TIMEOUT for every write ever sent. */
static void test_router_refused_attempts_tryagain(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct outcome w = {0}, w2 = {0};
	uv_loop_t loop;
	int answered = 0;

	(void)state;
	r_start(&f, &env, &loop, 300);
	submit(f.r, RK_KV_PUT, &w);
	while (!w.done) {
		if (answered < f.sent) {
			answered = f.sent;
			answer(&f, RK_NET_RESP_NOT_LEADER, NULL);
			continue;
		}
		uv_run(&loop, UV_RUN_ONCE);
	}
	assert_true(f.sent > 1); /* retried, then gave up */
	assert_int_equal(w.status, TRYAGAIN);
	/* The first attempt answered, the next left open. */
	answered = f.sent + 1;
	submit(f.r, RK_KV_PUT, &w2);
	answer(&f, RK_NET_RESP_NOT_LEADER, NULL);
	while (!w2.done)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(f.sent >= answered);
	assert_int_equal(w2.status, TIMEOUT);
	r_stop(&f, &loop);
}

/* A write answered as a duplicate of an answered request (a router's
 * fault): the client gets the node's -ERR, the router counts it, and logs
 * one line a second at most, the ones held back counted in the next line.
 * Fails with the count or the limit taken out. */
static void test_router_duplicate_counted_and_limited(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct rk_client_stats st;
	struct outcome w[3] = {{0}};
	uv_loop_t loop;
	FILE *log = tmpfile();
	char text[2048];
	const char *p;
	size_t len;
	int saved, lines = 0;

	(void)state;
	assert_non_null(log);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0 && dup2(fileno(log), 2) == 2);
	r_start(&f, &env, &loop, 5000);
	for (int i = 0; i < 3; i++) {
		struct rk_net_resp a = {.status = RK_NET_RESP_OK,
					.reply = (const uint8_t *)RK_KV_DUPLICATE_REPLY,
					.len = strlen(RK_KV_DUPLICATE_REPLY)};

		submit(f.r, RK_KV_PUT, &w[i]);
		a.id = f.id[f.sent - 1];
		rk_client_on_resp(f.r, &a);
		assert_true(w[i].done);
		assert_int_equal(w[i].status, RK_NET_RESP_OK);
	}
	rk_client_router_stats(f.r, &st);
	assert_int_equal(st.duplicates, 3);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	rewind(log);
	len = fread(text, 1, sizeof(text) - 1, log);
	text[len] = '\0';
	fclose(log);
	for (p = text; (p = strstr(p, "answered as a duplicate by node 2")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 1);
	assert_non_null(strstr(text, "; 0 more since the last such line"));
	r_stop(&f, &loop);
}

/* No range known for the key: the nodes are asked in turn under range 0
 * (which no node applies). One that knows nothing answers NO_RANGE without
 * a descriptor: the next is asked. One that knows answers with the
 * descriptor: the write goes to the range's node. A write only ever asked
 * about was certainly not applied: closing answers it -TRYAGAIN. */
static void test_router_unknown_key_asks_nodes(void **state)
{
	struct rfake f = {0};
	struct rk_client_env env;
	struct rk_client_stats st;
	struct outcome w = {0}, w2 = {0};
	struct rk_buf d;
	uv_loop_t loop;

	(void)state;
	rk_buf_init(&d);
	r_start(&f, &env, &loop, 5000);
	submit(f.r, RK_KV_PUT, &w);
	assert_int_equal(f.sent, 1);
	sent_as(&f, 0, 2, 0, 0);
	answer(&f, RK_NET_RESP_NO_RANGE, NULL);
	assert_int_equal(f.sent, 2);
	sent_as(&f, 1, 3, 0, 0);
	make_desc(&d, 5, 1, 4);
	answer(&f, RK_NET_RESP_NO_RANGE, &d);
	assert_int_equal(f.sent, 3);
	sent_as(&f, 2, 4, 5, 1);
	assert_int_equal(f.id[2], f.id[0]);
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_true(w.done);
	assert_int_equal(w.status, OK);
	rk_client_router_stats(f.r, &st);
	assert_int_equal(st.asks, 2);
	assert_int_equal(st.redirects, 2);
	/* Another key's write, only asked about, then the router closes. */
	f.range = 0;
	submit(f.r, RK_KV_PUT, &w2);
	assert_int_equal(f.rng[f.sent - 1], 0);
	answer(&f, RK_NET_RESP_NO_RANGE, NULL);
	r_stop(&f, &loop);
	assert_true(w2.done);
	assert_int_equal(w2.status, TRYAGAIN);
	rk_buf_free(&d);
}

/* The range's node says NO_RANGE and its descriptor is not newer: that node
 * is absent for the range; no other node is known, so the nodes are asked
 * in turn. */
static void test_router_no_range_marks_absent(void **state)
{
	struct rfake f = {.range = 1, .gen = 3, .leader = 2};
	struct rk_client_env env;
	struct outcome rd = {0};
	struct rk_buf d;
	uv_loop_t loop;

	(void)state;
	rk_buf_init(&d);
	r_start(&f, &env, &loop, 5000);
	submit(f.r, RK_KV_GET, &rd);
	sent_as(&f, 0, 2, 1, 3);
	make_desc(&d, 1, 2, 2); /* older: ignored */
	answer(&f, RK_NET_RESP_NO_RANGE, &d);
	assert_int_equal(f.absent, 1);
	assert_int_equal(f.leader, 0);
	assert_int_equal(f.sent, 2);
	sent_as(&f, 1, 2, 1, 3); /* the first node asked in turn */
	answer(&f, RK_NET_RESP_OK, NULL);
	assert_true(rd.done);
	assert_int_equal(rd.status, OK);
	r_stop(&f, &loop);
	rk_buf_free(&d);
}

/* Two nodes that send each other's descriptor forever (here: every answer
 * is MISMATCH with a descriptor that changes nothing): a few redirects go
 * on at once, then the operation parks between attempts, and the
 * deadline's answer is exact: -TRYAGAIN for the write too, every attempt
 * of which was answered MISMATCH (certainly not applied;
 * test_router_refused_attempts_tryagain has one left open: -TIMEOUT). */
static void test_router_ping_pong_bounded(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct rk_client_stats st;
	struct outcome w = {0}, rd = {0};
	uv_loop_t loop;

	(void)state;
	make_desc(&f.pong, 1, 1, 2);
	r_start(&f, &env, &loop, 200);
	submit(f.r, RK_KV_PUT, &w);
	/* The first attempt and REDIRECT_BURST (4) more, then parked. */
	assert_int_equal(f.sent, 5);
	rk_client_router_stats(f.r, &st);
	assert_int_equal(st.redirect_parks, 1);
	submit(f.r, RK_KV_GET, &rd);
	assert_int_equal(f.sent, 10);
	while (!w.done || !rd.done) {
		uv_run(&loop, UV_RUN_ONCE);
		assert_true(f.sent < 32);
	}
	assert_int_equal(w.status, TRYAGAIN);
	assert_int_equal(rd.status, TRYAGAIN);
	/* At most one attempt per RETRY_MS (20) each over the 200 ms. */
	assert_true(f.sent <= 10 + 2 * 12);
	for (int i = 1; i < 5; i++)
		assert_int_equal(f.seq[i], f.seq[0]);
	r_stop(&f, &loop);
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

/* ---- a connection's writes in order (order.c) --------------------------------- */

struct oout {
	int status, at; /* at: the order it was answered in, from 1 */
	char reply[16];
};

static int oout_count;

static void on_oout(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct oout *o = arg;

	assert_int_equal(o->at, 0);
	o->at = ++oout_count;
	o->status = status;
	assert_true(len < sizeof(o->reply));
	if (len > 0)
		memcpy(o->reply, reply, len);
	o->reply[len] = '\0';
}

static void order_submit(struct rk_client_order *ord, struct rk_client_router *r,
			 int op, struct oout *o)
{
	struct rk_kv_cmd c;
	struct rk_buf b;

	memset(&c, 0, sizeof(c));
	c.op = (uint8_t)op;
	c.n = 1;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	rk_kv_cmd_arg(&b, "k", 1);
	rk_kv_cmd_finish(&b, 0, 1);
	assert_int_equal(rk_client_order_submit(r, ord, (const uint8_t *)b.p, b.len,
						on_oout, o), 0);
	rk_buf_free(&b);
}

/* Answers the last request OK with a batch's reply: ":first\r\n" on. */
static void answer_batch(struct rfake *f, uint32_t n, int first)
{
	struct rk_buf b;
	char one[16];

	rk_buf_init(&b);
	rk_buf_putc(&b, 'B');
	for (uint32_t i = 0; i < n; i++) {
		int l = snprintf(one, sizeof(one), ":%d\r\n", first + (int)i);
		uint8_t le[4] = {(uint8_t)l, 0, 0, 0};
		rk_buf_append(&b, le, 4);
		rk_buf_append(&b, one, (size_t)l);
	}
	struct rk_net_resp a = {.id = f->id[f->sent - 1], .status = RK_NET_RESP_OK,
				.reply = (const uint8_t *)b.p, .len = b.len};
	rk_client_on_resp(f->r, &a);
	rk_buf_free(&b);
}

/* One connection's INCRs of one key: those parsed together leave as one
 * batch when flushed; while it is in flight the next ones wait (a retry
 * resends the same batch, same sequence number, without them); once it is
 * answered they leave as the next batch, and every command gets its own
 * reply in the order sent. A read is not held. */
static void test_order_batches(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct rk_client_order ord = {0};
	struct oout o[12];
	uv_loop_t loop;

	(void)state;
	memset(o, 0, sizeof(o));
	oout_count = 0;
	r_start(&f, &env, &loop, 5000);
	for (int i = 0; i < 5; i++)
		order_submit(&ord, f.r, RK_KV_INCR, &o[i]);
	assert_int_equal(f.sent, 0); /* held until the parse ends */
	rk_client_order_flush(&ord);
	assert_int_equal(f.sent, 1);
	assert_int_equal(f.op[0], RK_KV_BATCH);
	assert_int_equal(f.nargs[0], 5);
	for (int i = 5; i < 8; i++)
		order_submit(&ord, f.r, RK_KV_INCR, &o[i]);
	rk_client_order_flush(&ord);
	assert_int_equal(f.sent, 1); /* one request in flight per range */
	order_submit(&ord, f.r, RK_KV_GET, &o[8]);
	assert_int_equal(f.sent, 2); /* reads are not held */
	assert_int_equal(f.op[1], RK_KV_GET);
	/* The batch's outcome is unknown: resent as it was. */
	f.id[f.sent - 1] = f.id[0];
	answer(&f, RK_NET_RESP_UNKNOWN, NULL);
	while (f.sent < 3)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(f.op[2], RK_KV_BATCH);
	assert_int_equal(f.nargs[2], 5);
	assert_int_equal(f.seq[2], f.seq[0]);
	assert_int_equal(f.id[2], f.id[0]);
	for (int i = 0; i < 8; i++)
		assert_int_equal(o[i].at, 0);
	answer_batch(&f, 5, 1);
	for (int i = 0; i < 5; i++) {
		char want[16];
		snprintf(want, sizeof(want), ":%d\r\n", i + 1);
		assert_int_equal(o[i].status, OK);
		assert_int_equal(o[i].at, i + 1);
		assert_string_equal(o[i].reply, want);
	}
	/* The three that waited left as one batch when it was answered. */
	assert_int_equal(f.sent, 4);
	assert_int_equal(f.op[3], RK_KV_BATCH);
	assert_int_equal(f.nargs[3], 3);
	assert_true(f.seq[3] > f.seq[0]);
	assert_int_equal(o[5].at, 0);
	answer_batch(&f, 3, 6);
	for (int i = 5; i < 8; i++) {
		char want[16];
		snprintf(want, sizeof(want), ":%d\r\n", i + 1);
		assert_int_equal(o[i].at, i + 1);
		assert_string_equal(o[i].reply, want);
	}
	assert_int_equal(f.sent, 4);
	/* Closing: the batch in flight may have applied (-TIMEOUT for each
	 * command); the write waiting behind it is not sent (-TRYAGAIN). */
	order_submit(&ord, f.r, RK_KV_INCR, &o[9]);
	order_submit(&ord, f.r, RK_KV_INCR, &o[10]);
	rk_client_order_flush(&ord);
	order_submit(&ord, f.r, RK_KV_INCR, &o[11]);
	rk_client_order_flush(&ord);
	assert_int_equal(f.sent, 5);
	r_stop(&f, &loop);
	rk_client_order_free(&ord);
	assert_int_equal(f.sent, 5);
	assert_int_equal(o[8].status, TRYAGAIN); /* the read, at close */
	assert_int_equal(o[9].status, TIMEOUT);
	assert_int_equal(o[10].status, TIMEOUT);
	assert_int_equal(o[11].status, TRYAGAIN);
	assert_true(o[11].at > o[10].at);
}

/* A write whose time passes while it waits behind one in flight is
 * answered -TRYAGAIN without being sent (the one in flight, given up,
 * -TIMEOUT); the queue then takes writes again as before. */
static void test_order_waiting_expires(void **state)
{
	struct rfake f = {.range = 1, .gen = 1, .leader = 2};
	struct rk_client_env env;
	struct rk_client_order ord = {0};
	struct oout o[3];
	uv_loop_t loop;

	(void)state;
	memset(o, 0, sizeof(o));
	oout_count = 0;
	r_start(&f, &env, &loop, 50);
	order_submit(&ord, f.r, RK_KV_INCR, &o[0]);
	rk_client_order_flush(&ord);
	order_submit(&ord, f.r, RK_KV_INCR, &o[1]);
	rk_client_order_flush(&ord);
	assert_int_equal(f.sent, 1);
	while (o[1].at == 0)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(o[0].status, TIMEOUT);
	assert_int_equal(o[1].status, TRYAGAIN);
	assert_int_equal(f.sent, 1);
	order_submit(&ord, f.r, RK_KV_INCR, &o[2]);
	rk_client_order_flush(&ord);
	assert_int_equal(f.sent, 2);
	assert_int_equal(f.op[1], RK_KV_INCR);
	r_stop(&f, &loop);
	rk_client_order_free(&ord);
	assert_int_equal(o[2].status, TIMEOUT);
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
		cmocka_unit_test(test_router_split_keeps_marks),
		cmocka_unit_test(test_router_late_split_no_duplicate),
		cmocka_unit_test(test_router_await_unknown_times_out_at_once),
		cmocka_unit_test(test_router_duplicate_counted_and_limited),
		cmocka_unit_test(test_router_mismatch_follows_descriptor),
		cmocka_unit_test(test_router_unknown_key_asks_nodes),
		cmocka_unit_test(test_router_refused_attempts_tryagain),
		cmocka_unit_test(test_router_index_lookup),
		cmocka_unit_test(test_router_no_range_marks_absent),
		cmocka_unit_test(test_router_ping_pong_bounded),
		cmocka_unit_test(test_order_batches),
		cmocka_unit_test(test_order_waiting_expires),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_password_equal),
		cmocka_unit_test(test_cursor_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
