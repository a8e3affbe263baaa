/*
 * The join channel (net.h, netjoin.h): the one exchange a node that is not
 * a peer may open. A real transport as the member, answering join
 * requests; the new node's blocking call on a thread of its own. It is
 * accepted from an unknown node id only on the join channel, with the
 * cluster secret's proofs both ways; anything else from an unknown node is
 * still refused; the messages' codec round-trips and refuses truncations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "net.h"
#include "net_int.h"
#include "net_util.h"
#include "netjoin.h"

#define MEMBER 1
#define NEW 7

/* The member: counts join frames and answers each. */
struct member {
	struct rk_net *net;
	int joins, others;
	uint64_t from;
	char peer[64];
};

static int member_frame(void *arg, uint64_t from, int channel, const uint8_t *p, size_t len)
{
	struct member *m = arg;
	struct rk_net_join_req q;
	struct rk_net_join_ans a;
	struct rk_buf out;

	if (channel != RK_NET_CH_JOIN) {
		m->others++;
		return 0;
	}
	assert_int_equal(rk_net_join_req_decode(p, len, &q), 0);
	assert_int_equal(rk_net_str_copy(q.peer, m->peer, sizeof(m->peer)), 0);
	m->joins++;
	m->from = from;
	memset(&a, 0, sizeof(a));
	a.member = MEMBER;
	a.cluster_id = 42;
	a.cluster = (struct rk_net_str){"1=127.0.0.1:1", 13};
	a.cut = (struct rk_net_str){"--ranges 8", 10};
	rk_buf_init(&out);
	assert_int_equal(rk_net_join_ans_encode(&a, &out), 0);
	assert_int_equal(rk_net_join_reply(m->net, from, out.p, out.len), 0);
	rk_buf_free(&out);
	return 0;
}

static void member_start(uv_loop_t *loop, struct member *m, const char *secret)
{
	struct rk_net_config cfg;
	char err[256];

	memset(m, 0, sizeof(*m));
	node_config(&cfg, MEMBER, "127.0.0.1:0", 0);
	cfg.secret = (const uint8_t *)secret;
	cfg.secret_len = secret != NULL ? strlen(secret) : 0;
	cfg.on_frame = member_frame;
	cfg.arg = m;
	assert_int_equal(rk_net_start(loop, &cfg, &m->net, err, sizeof(err)), 0);
}

static void net_down(void *arg)
{
	*(int *)arg = 1;
}

static void member_stop(uv_loop_t *loop, struct member *m)
{
	int down = 0;

	rk_net_stop(m->net, net_down, &down);
	while (!down)
		uv_run(loop, UV_RUN_ONCE);
	rk_net_free(m->net);
	m->net = NULL;
}

/* The new node's call, on a thread while the loop runs here. */
struct call {
	char addr[64];
	const char *secret;
	unsigned connect_ms;
	int rc;
	char err[512];
	struct rk_buf ans;
	volatile int done;
};

static void *call_run(void *arg)
{
	struct call *c = arg;
	struct rk_net_join_opts o;
	struct rk_net_join_req q;

	memset(&o, 0, sizeof(o));
	o.addr = c->addr;
	o.src_host = "127.0.0.1";
	o.node_id = NEW;
	o.secret = (const uint8_t *)c->secret;
	o.secret_len = c->secret != NULL ? strlen(c->secret) : 0;
	o.connect_ms = c->connect_ms;
	o.answer_ms = 2000;
	memset(&q, 0, sizeof(q));
	q.node_id = NEW;
	q.peer = (struct rk_net_str){"127.0.0.7:7", 11};
	c->rc = rk_net_join_call(&o, &q, &c->ans, c->err, sizeof(c->err));
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Runs the call against port with secret while the loop turns. */
static int join(uv_loop_t *loop, int port, const char *secret, struct call *c)
{
	pthread_t th;

	memset(c, 0, sizeof(*c));
	snprintf(c->addr, sizeof(c->addr), "127.0.0.1:%d", port);
	c->secret = secret;
	c->connect_ms = 1000;
	rk_buf_init(&c->ans);
	assert_int_equal(pthread_create(&th, NULL, call_run, c), 0);
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE))
		uv_run(loop, UV_RUN_NOWAIT), usleep(200);
	pthread_join(th, NULL);
	for (int i = 0; i < 50; i++)
		uv_run(loop, UV_RUN_NOWAIT), usleep(200);
	return c->rc;
}

static uint64_t refused(struct rk_net *n)
{
	struct rk_net_stats st;

	rk_net_stats(n, &st);
	return st.refused;
}

/* An unknown node joins, with the same secret on both sides or none. */
static void test_join_accepted(void **state)
{
	static const char *const secrets[] = {"sesame", NULL};
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	for (int i = 0; i < 2; i++) {
		struct member m;
		struct call c;
		struct rk_net_join_ans a;
		char cut[32];

		member_start(&loop, &m, secrets[i]);
		assert_int_equal(join(&loop, rk_net_port(m.net), secrets[i], &c), 0);
		assert_int_equal(m.joins, 1);
		assert_int_equal(m.others, 0);
		assert_int_equal(m.from, NEW);
		assert_string_equal(m.peer, "127.0.0.7:7");
		assert_int_equal(rk_net_join_ans_decode((const uint8_t *)c.ans.p, c.ans.len, &a), 0);
		assert_int_equal(a.rc, 0);
		assert_int_equal(a.member, MEMBER);
		assert_int_equal(a.cluster_id, 42);
		assert_int_equal(rk_net_str_copy(a.cut, cut, sizeof(cut)), 0);
		assert_string_equal(cut, "--ranges 8");
		assert_int_equal(refused(m.net), 0);
		rk_buf_free(&c.ans);
		member_stop(&loop, &m);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Another secret, or one on one side only: refused both ways, and no
 * frame reaches the member. */
static void test_join_needs_the_secret(void **state)
{
	static const struct {
		const char *member, *joiner, *why;
	} cases[] = {
		{"sesame", "open up", "another --cluster-secret-file"},
		{"sesame", NULL, "this node has none"},
		{NULL, "sesame", "it has no cluster secret"},
	};
	uv_loop_t loop;

	(void)state;
	uv_loop_init(&loop);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct member m;
		struct call c;

		member_start(&loop, &m, cases[i].member);
		assert_int_equal(join(&loop, rk_net_port(m.net), cases[i].joiner, &c), RK_EFOREIGN);
		print_message("%s\n", c.err);
		assert_non_null(strstr(c.err, cases[i].why));
		assert_int_equal(m.joins + m.others, 0);
		rk_buf_free(&c.ans);
		member_stop(&loop, &m);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Nothing listens: a clear error once connect_ms has passed. */
static void test_join_unreachable(void **state)
{
	uv_loop_t loop;
	struct member m;
	struct call c;
	int port;

	(void)state;
	uv_loop_init(&loop);
	member_start(&loop, &m, NULL);
	port = rk_net_port(m.net);
	member_stop(&loop, &m);
	assert_int_equal(join(&loop, port, NULL, &c), RK_ECONN);
	assert_non_null(strstr(c.err, "cannot connect to the member"));
	rk_buf_free(&c.ans);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The acceptor's checks on a first Hello: the join channel's exceptions
 * (an unknown or even taken node id, no cluster, no node to reach) hold on
 * it alone. */
static void test_unknown_only_on_join(void **state)
{
	static const struct {
		uint32_t channel;
		uint64_t node, cluster, to;
		const char *problem; /* NULL: accepted */
	} cases[] = {
		{RK_NET_CH_JOIN, NEW, 0, 0, NULL},
		{RK_NET_CH_JOIN, NEW, 42, MEMBER, NULL},
		{RK_NET_CH_JOIN, MEMBER, 0, 0, NULL}, /* the member refuses it by message */
		{RK_NET_CH_JOIN, 0, 0, 0, "this node's own id"},
		{RK_NET_CH_JOIN, NEW, 43, 0, "another cluster"},
		{RK_NET_CH_JOIN, NEW, 0, 5, "a Hello meant for another node"},
		{RK_NET_CH_RAFT, NEW, 42, MEMBER, "a node id that is not a peer"},
		{RK_NET_CH_SNAP, NEW, 42, MEMBER, "a node id that is not a peer"},
		{RK_NET_CH_RAFT, 2, 0, MEMBER, "another cluster"},
		{RK_NET_CH_RAFT, 2, 42, 0, "a Hello meant for another node"},
		{RK_NET_CH_RAFT, 2, 42, MEMBER, NULL},
		{RK_NET_CH_JOIN + 1, NEW, 0, 0, "an unknown channel"},
	};
	uv_loop_t loop;
	struct member m;

	(void)state;
	uv_loop_init(&loop);
	member_start(&loop, &m, NULL);
	assert_int_equal(rk_net_add_peer(m.net, 2, "127.0.0.1:1"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rk_net_hello h;
		const char *why;

		memset(&h, 0, sizeof(h));
		h.version = RK_NET_VERSION;
		h.channel = cases[i].channel;
		h.node_id = cases[i].node;
		h.cluster_id = cases[i].cluster;
		h.to_node_id = cases[i].to;
		why = rk_net_hs_problem(m.net, &h, 0);
		print_message("case %zu: %s\n", i, why != NULL ? why : "accepted");
		if (cases[i].problem == NULL)
			assert_null(why);
		else
			assert_string_equal(why, cases[i].problem);
	}
	member_stop(&loop, &m);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The messages round-trip; every truncation and any trailing byte is
 * RK_EPROTO. */
static void test_codec(void **state)
{
	struct rk_net_join_req q = {9, {"a:1", 3}, {"b:2", 3}, {"", 0}, {"dead_after=1000\n", 16}},
			       q2;
	struct rk_net_join_ans a, a2;
	struct rk_buf b;

	(void)state;
	rk_buf_init(&b);
	assert_int_equal(rk_net_join_req_encode(&q, &b), 0);
	assert_int_equal(rk_net_join_req_decode((const uint8_t *)b.p, b.len, &q2), 0);
	assert_int_equal(q2.node_id, 9);
	assert_int_equal(q2.settings.len, 16);
	assert_memory_equal(q2.client.p, "b:2", 3);
	for (size_t l = 0; l < b.len; l++)
		assert_int_equal(rk_net_join_req_decode((const uint8_t *)b.p, l, &q2), RK_EPROTO);
	rk_buf_putc(&b, 0);
	assert_int_equal(rk_net_join_req_decode((const uint8_t *)b.p, b.len, &q2), RK_EPROTO);
	/* A request is not an answer. */
	assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, b.len - 1, &a2), RK_EPROTO);
	rk_buf_reset(&b);
	memset(&a, 0, sizeof(a));
	a.rc = RK_EINVAL;
	a.msg = (struct rk_net_str){"taken", 5};
	a.member = 3;
	a.cluster_id = UINT64_MAX;
	assert_int_equal(rk_net_join_ans_encode(&a, &b), 0);
	assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, b.len, &a2), 0);
	assert_int_equal(a2.rc, RK_EINVAL);
	assert_int_equal(a2.member, 3);
	assert_true(a2.cluster_id == UINT64_MAX);
	assert_memory_equal(a2.msg.p, "taken", 5);
	for (size_t l = 0; l < b.len; l++)
		assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, l, &a2), RK_EPROTO);
	/* An answer with the group's nodes (the optional last field): a
	 * decoder reads it; cut right before it, it is an answer of an
	 * earlier release (none); any other cut, or a byte more, is not. */
	{
		size_t without;

		rk_buf_reset(&b);
		a.rc = 0;
		a.msg = (struct rk_net_str){"", 0};
		a.nodes = (struct rk_net_str){"5=h:5", 5};
		assert_int_equal(rk_net_join_ans_encode(&a, &b), 0);
		without = b.len;
		rk_buf_reset(&b);
		a.group = (struct rk_net_str){"4,5,6", 5};
		assert_int_equal(rk_net_join_ans_encode(&a, &b), 0);
		assert_int_equal(b.len, without + 4 + 5);
		assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, b.len, &a2), 0);
		assert_int_equal(a2.group.len, 5);
		assert_memory_equal(a2.group.p, "4,5,6", 5);
		assert_memory_equal(a2.nodes.p, "5=h:5", 5);
		for (size_t l = 0; l < b.len; l++)
			assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, l, &a2),
					 l == without ? 0 : RK_EPROTO);
		assert_int_equal(a2.group.len, 0);
		rk_buf_putc(&b, 0);
		assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, b.len, &a2), RK_EPROTO);
		/* Present but empty: not how it is encoded. */
		b.len = without;
		rk_buf_append(&b, "\0\0\0\0", 4);
		assert_int_equal(rk_net_join_ans_decode((const uint8_t *)b.p, b.len, &a2), RK_EPROTO);
	}
	rk_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_accepted),
		cmocka_unit_test(test_join_needs_the_secret),
		cmocka_unit_test(test_join_unreachable),
		cmocka_unit_test(test_unknown_only_on_join),
		cmocka_unit_test(test_codec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
