/*
 * The peer handshake (net.h): who may connect, the cluster secret's proofs
 * both ways, and that a proof made for another handshake's nonce is
 * refused. Real transports on loopback, and a hand-driven peer that speaks
 * the handshake itself (to send what a correct node never would).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "codec.h"
#include "net.h"
#include "net_util.h"

/* Starts nodes 1 and 2 with the given cluster ids and secrets (NULL: none),
 * each the other's peer unless a_knows_b/b_knows_a say otherwise, and runs
 * the loop for a while. */
static void start_two(uv_loop_t *loop, struct node *a, struct node *b,
		      uint64_t ca, uint64_t cb, const char *sa, const char *sb,
		      bool b_knows_a)
{
	struct rk_net_config cfg;
	char addr[64];

	node_config(&cfg, 1, "127.0.0.1:0", 0);
	cfg.cluster_id = ca;
	cfg.secret = (const uint8_t *)sa;
	cfg.secret_len = sa != NULL ? strlen(sa) : 0;
	start_node_with(loop, a, &cfg);
	node_config(&cfg, 2, "127.0.0.1:0", 0);
	cfg.cluster_id = cb;
	cfg.secret = (const uint8_t *)sb;
	cfg.secret_len = sb != NULL ? strlen(sb) : 0;
	start_node_with(loop, b, &cfg);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_net_port(b->net));
	assert_int_equal(rk_net_add_peer(a->net, 2, addr), 0);
	if (b_knows_a) {
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_net_port(a->net));
		assert_int_equal(rk_net_add_peer(b->net, 1, addr), 0);
	}
	for (uint64_t i = 1; i <= 3; i++)
		send_seq(a->net, 2, i, 0);
}

/* Runs the loop for ms milliseconds. */
static void spin(uv_loop_t *loop, int ms)
{
	for (int i = 0; i < ms * 2; i++)
		uv_run(loop, UV_RUN_NOWAIT), usleep(500);
}

static uint64_t refused(struct node *nd)
{
	struct rk_net_stats st;

	rk_net_stats(nd->net, &st);
	return st.refused;
}

static bool connected(struct node *nd)
{
	struct rk_net_peer_stats st;

	peer_stats(nd->net, &st);
	return st.connected;
}

/* One pair that must never connect: no frame crosses, both sides keep
 * refusing (want_b: b refuses; want_a: a refuses). */
static void expect_refused(uv_loop_t *loop, struct node *a, struct node *b,
			   bool want_a, bool want_b)
{
	spin(loop, 300);
	assert_int_equal(b->frames[0], 0);
	assert_false(connected(a));
	if (want_a)
		assert_true(refused(a) > 0);
	if (want_b)
		assert_true(refused(b) > 0);
	stop_node(loop, a);
	stop_node(loop, b);
}

static void test_same_secret_connects(void **state)
{
	uv_loop_t loop;
	struct node a, b;

	(void)state;
	uv_loop_init(&loop);
	start_two(&loop, &a, &b, 42, 42, "sesame\n", "sesame\n", true);
	run_until(&loop, &b.frames[0], 3);
	assert_int_equal(b.frames[0], 3);
	assert_true(a.order_ok && b.order_ok);
	assert_int_equal(refused(&a), 0);
	assert_int_equal(refused(&b), 0);
	stop_node(&loop, &a);
	stop_node(&loop, &b);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Pairs that must never connect, and which side refuses. */
static void test_refused_pairs(void **state)
{
	static const struct {
		const char *what;
		uint64_t ca, cb;
		const char *sa, *sb;
		bool b_knows_a, a_refuses, b_refuses;
	} cases[] = {
		{"another secret", 42, 42, "sesame", "open up", true, true, false},
		{"a secret on one side", 42, 42, "sesame", NULL, true, true, false},
		{"a secret on the other", 42, 42, NULL, "sesame", true, true, false},
		{"another cluster", 42, 43, NULL, NULL, true, false, true},
		{"a node id that is not a peer", 42, 42, NULL, NULL, false, false, true},
	};
	uv_loop_t loop;
	struct node a, b;

	(void)state;
	uv_loop_init(&loop);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].what);
		start_two(&loop, &a, &b, cases[i].ca, cases[i].cb, cases[i].sa,
			  cases[i].sb, cases[i].b_knows_a);
		expect_refused(&loop, &a, &b, cases[i].a_refuses, cases[i].b_refuses);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A dialer that takes node 2 for node 3 (a wrong address in its list). */
static void test_misaddressed_refused(void **state)
{
	uv_loop_t loop;
	struct node a, b;
	struct rk_net_config cfg;
	char addr[64];

	(void)state;
	uv_loop_init(&loop);
	start_two(&loop, &a, &b, 42, 42, NULL, NULL, true);
	node_config(&cfg, 3, "127.0.0.1:0", 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_net_port(b.net));
	assert_int_equal(rk_net_add_peer(a.net, 3, addr), 0);
	send_seq(a.net, 3, 1, 0);
	run_until(&loop, &b.frames[0], 3);
	spin(&loop, 200);
	assert_int_equal(b.frames[0], 3); /* only what was sent to node 2 */
	assert_true(refused(&b) > 0);
	stop_node(&loop, &a);
	stop_node(&loop, &b);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- a hand-driven peer ------------------------------------------------------------- */

enum proof_kind {
	PROOF_RIGHT, /* over this handshake's nonces */
	PROOF_STALE, /* right key, but over another nonce of the other side */
	PROOF_NONE,
};

struct fake {
	uv_loop_t *loop;
	uv_tcp_t server, tcp;
	uv_connect_t creq;
	uv_write_t w;
	uint8_t key[RK_NET_KEY];
	enum proof_kind kind;
	uint64_t id, answer_as, peer;
	uint8_t nonce[RK_NET_NONCE];
	uint8_t in[512];
	size_t in_len;
	struct rk_buf out;
	int closed, got_more;
};

static void fake_closed(uv_handle_t *h)
{
	((struct fake *)h->data)->closed = 1;
}

static void fake_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	struct fake *f = h->data;

	(void)s;
	*b = uv_buf_init((char *)f->in + f->in_len, (unsigned)(sizeof(f->in) - f->in_len));
}

static void fake_written(uv_write_t *w, int status)
{
	(void)w;
	(void)status;
}

/* Appends a Hello frame from f: first (nonce, no proof) or with a proof of
 * role over t. */
static void fake_hello(struct fake *f, uint64_t from, const uint8_t *nonce,
		       enum rk_net_role role, const struct rk_net_transcript *t)
{
	struct rk_net_hello h;
	struct rk_buf b;

	memset(&h, 0, sizeof(h));
	h.version = RK_NET_VERSION;
	h.node_id = from;
	h.cluster_id = 42;
	h.to_node_id = f->peer;
	if (nonce != NULL) {
		memcpy(h.nonce, nonce, RK_NET_NONCE);
		h.nonce_len = RK_NET_NONCE;
	}
	if (t != NULL && f->kind != PROOF_NONE) {
		struct rk_net_transcript tt = *t;
		if (f->kind == PROOF_STALE) /* a handshake recorded earlier */
			memset(role == RK_NET_DIALER ? tt.nonce_a : tt.nonce_d, 7, RK_NET_NONCE);
		rk_net_auth_proof(f->key, role, &tt, h.proof);
		h.proof_len = RK_NET_PROOF;
	}
	rk_buf_init(&b);
	assert_int_equal(rk_net_hello_encode(&h, &b), 0);
	assert_int_equal(rk_net_frame_append(&f->out, b.p, b.len), 0);
	rk_buf_free(&b);
}

static void fake_send(struct fake *f)
{
	uv_buf_t b = uv_buf_init(f->out.p, (unsigned)f->out.len);

	assert_int_equal(uv_write(&f->w, (uv_stream_t *)&f->tcp, &b, 1, fake_written), 0);
}

/* The other side's Hello, once whole; NULL before. */
static bool fake_take(struct fake *f, struct rk_net_hello *h)
{
	const uint8_t *p;
	size_t plen, flen;

	if (rk_net_frame_parse(f->in, f->in_len, &p, &plen, &flen) != 0)
		return false;
	assert_int_equal(rk_net_hello_decode(p, plen, h), 0);
	memmove(f->in, f->in + flen, f->in_len - flen);
	f->in_len -= flen;
	return true;
}

/* As a dialer: answers the acceptor's Hello with a last Hello and one
 * frame. */
static void fake_dialer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fake *f = s->data;
	struct rk_net_transcript t;
	struct rk_net_hello h;
	uint8_t payload[64] = {1};

	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)s, fake_closed);
		return;
	}
	f->in_len += (size_t)n;
	if (!fake_take(f, &h))
		return;
	memset(&t, 0, sizeof(t));
	t.cluster_id = 42;
	t.dialer = f->id;
	t.acceptor = f->peer;
	memcpy(t.nonce_d, f->nonce, RK_NET_NONCE);
	memcpy(t.nonce_a, h.nonce, RK_NET_NONCE);
	rk_buf_reset(&f->out);
	fake_hello(f, f->id, NULL, RK_NET_DIALER, &t);
	assert_int_equal(rk_net_frame_append(&f->out, payload, sizeof(payload)), 0);
	fake_send(f);
}

static void fake_dialer_connected(uv_connect_t *c, int status)
{
	struct fake *f = c->data;

	assert_int_equal(status, 0);
	uv_read_start((uv_stream_t *)&f->tcp, fake_alloc, fake_dialer_read);
	rk_net_auth_nonce(f->nonce);
	fake_hello(f, f->id, f->nonce, RK_NET_DIALER, NULL);
	fake_send(f);
}

static void fake_init(uv_loop_t *loop, struct fake *f, const char *secret,
		      enum proof_kind kind)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->kind = kind;
	rk_net_auth_key((const uint8_t *)secret, strlen(secret), f->key);
	rk_buf_init(&f->out);
	uv_tcp_init(loop, &f->tcp);
	f->tcp.data = f;
}

/* Connects and sends nothing; notices the close. */
static void silent_connected(uv_connect_t *c, int status)
{
	struct fake *f = c->data;

	assert_int_equal(status, 0);
	uv_read_start((uv_stream_t *)&f->tcp, fake_alloc, fake_dialer_read);
}

/* Node 1 (a fake) dials node 2 (real, with secret "sesame"); returns the
 * frames node 2 received after the handshake. */
static int dial_real(enum proof_kind kind, uint64_t *refusedp)
{
	uv_loop_t loop;
	struct node a, b;
	struct fake f;
	struct sockaddr_in sa;
	int frames;

	uv_loop_init(&loop);
	start_two(&loop, &a, &b, 42, 42, "sesame", "sesame", true);
	stop_node(&loop, &a); /* its port stays known to b: only the fake dials */
	fake_init(&loop, &f, "sesame", kind);
	f.id = 1;
	f.peer = 2;
	f.creq.data = &f;
	uv_ip4_addr("127.0.0.1", rk_net_port(b.net), &sa);
	uv_tcp_connect(&f.creq, &f.tcp, (const struct sockaddr *)&sa, fake_dialer_connected);
	for (int i = 0; i < 4000 && b.frames[0] == 0 && refused(&b) == 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(500);
	spin(&loop, 50);
	frames = b.frames[0];
	*refusedp = refused(&b);
	if (!f.closed)
		uv_close((uv_handle_t *)&f.tcp, fake_closed);
	stop_node(&loop, &b);
	uv_run(&loop, UV_RUN_DEFAULT);
	rk_buf_free(&f.out);
	assert_int_equal(uv_loop_close(&loop), 0);
	return frames;
}

/* The acceptor takes the dialer's proof over its own fresh nonce only: a
 * proof recorded from another handshake (another acceptor nonce) or none
 * is refused. */
static void test_dialer_proof_must_be_fresh(void **state)
{
	uint64_t r;

	(void)state;
	assert_int_equal(dial_real(PROOF_RIGHT, &r), 1);
	assert_int_equal(r, 0);
	assert_int_equal(dial_real(PROOF_STALE, &r), 0);
	assert_int_equal(r, 1);
	assert_int_equal(dial_real(PROOF_NONE, &r), 0);
	assert_int_equal(r, 1);
}

/* As an acceptor: answers the dialer's first Hello as node answer_as,
 * then notes whether anything more (the dialer's last Hello) arrives. */
static void fake_acceptor_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fake *f = s->data;
	struct rk_net_transcript t;
	struct rk_net_hello h;

	(void)b;
	if (n < 0) {
		uv_close((uv_handle_t *)s, fake_closed);
		return;
	}
	f->in_len += (size_t)n;
	if (f->out.len > 0) {
		f->got_more = 1;
		return;
	}
	if (!fake_take(f, &h))
		return;
	memset(&t, 0, sizeof(t));
	t.cluster_id = 42;
	t.dialer = h.node_id;
	t.acceptor = f->answer_as;
	memcpy(t.nonce_d, h.nonce, RK_NET_NONCE);
	rk_net_auth_nonce(t.nonce_a);
	f->peer = h.node_id;
	fake_hello(f, f->answer_as, t.nonce_a, RK_NET_ACCEPTOR, &t);
	fake_send(f);
}

static void fake_accept(uv_stream_t *srv, int status)
{
	struct fake *f = srv->data;

	assert_int_equal(status, 0);
	if (f->out.len > 0 || f->in_len > 0)
		return; /* one connection is enough (the dialer retries) */
	assert_int_equal(uv_accept(srv, (uv_stream_t *)&f->tcp), 0);
	uv_read_start((uv_stream_t *)&f->tcp, fake_alloc, fake_acceptor_read);
}

/* Node 1 (real, secret "sesame") dials node 2 (a fake answering as node
 * answer_as with proof kind); returns whether node 1 went on to its last
 * Hello, and node 1's refusals. */
static bool answer_real(uint64_t answer_as, enum proof_kind kind, uint64_t *refusedp)
{
	uv_loop_t loop;
	struct node a;
	struct rk_net_config cfg;
	struct fake f;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char addr[64];
	bool more;

	uv_loop_init(&loop);
	fake_init(&loop, &f, "sesame", kind);
	f.answer_as = answer_as;
	uv_tcp_init(&loop, &f.server);
	f.server.data = &f;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&f.server, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f.server, 8, fake_accept), 0);
	uv_tcp_getsockname(&f.server, (struct sockaddr *)&ss, &len);
	node_config(&cfg, 1, "127.0.0.1:0", 0);
	cfg.secret = (const uint8_t *)"sesame";
	cfg.secret_len = 6;
	start_node_with(&loop, &a, &cfg);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	assert_int_equal(rk_net_add_peer(a.net, 2, addr), 0);
	send_seq(a.net, 2, 1, 0);
	for (int i = 0; i < 4000 && !f.got_more && refused(&a) == 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(500);
	spin(&loop, 50);
	more = f.got_more;
	*refusedp = refused(&a);
	stop_node(&loop, &a);
	if (!f.closed && uv_is_active((uv_handle_t *)&f.tcp))
		uv_close((uv_handle_t *)&f.tcp, fake_closed);
	else if (!f.closed)
		uv_close((uv_handle_t *)&f.tcp, NULL);
	uv_close((uv_handle_t *)&f.server, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	rk_buf_free(&f.out);
	assert_int_equal(uv_loop_close(&loop), 0);
	return more;
}

/* The dialer checks who answered and the acceptor's proof over its own
 * fresh nonce before it sends anything. */
static void test_acceptor_checked(void **state)
{
	uint64_t r;

	(void)state;
	assert_true(answer_real(2, PROOF_RIGHT, &r));
	assert_int_equal(r, 0);
	assert_false(answer_real(3, PROOF_RIGHT, &r)); /* another node answered */
	assert_true(r >= 1);
	assert_false(answer_real(2, PROOF_STALE, &r));
	assert_true(r >= 1);
	assert_false(answer_real(2, PROOF_NONE, &r));
	assert_true(r >= 1);
}

/* A caller that connects and says nothing, or only its first Hello, is
 * closed once the handshake's time is up. */
/* The features field: carried both ways, 0 from a Hello without it (an
 * earlier release's), and a field a release does not know yet is skipped
 * (how an earlier release reads this one's). */
static void test_hello_features(void **state)
{
	struct rk_net_hello h, back;
	struct rk_buf b;
	/* field 1 (version) = 2, field 2 (node_id) = 5: an earlier release's */
	static const uint8_t old[] = {0x08, 0x02, 0x10, 0x05};
	/* the same, then field 15 as a varint (a field from a later release) */
	static const uint8_t later[] = {0x08, 0x02, 0x10, 0x05, 0x78, 0x07};

	(void)state;
	memset(&h, 0, sizeof(h));
	h.version = RK_NET_VERSION;
	h.node_id = 3;
	h.features = RK_NET_FEATURES;
	rk_buf_init(&b);
	assert_int_equal(rk_net_hello_encode(&h, &b), 0);
	assert_int_equal(rk_net_hello_decode((const uint8_t *)b.p, b.len, &back), 0);
	assert_int_equal(back.features, RK_NET_FEATURES);
	assert_true((back.features & RK_NET_FEAT_JOIN_GROUP) != 0);
	rk_buf_free(&b);
	assert_int_equal(rk_net_hello_decode(old, sizeof(old), &back), 0);
	assert_int_equal(back.node_id, 5);
	assert_int_equal(back.features, 0);
	assert_int_equal(rk_net_hello_decode(later, sizeof(later), &back), 0);
	assert_int_equal(back.node_id, 5);
}

static void test_silent_caller_closed(void **state)
{
	uv_loop_t loop;
	struct node b;
	struct rk_net_config cfg;
	struct fake f;
	struct sockaddr_in sa;

	(void)state;
	uv_loop_init(&loop);
	node_config(&cfg, 2, "127.0.0.1:0", 0);
	cfg.handshake_ms = 200;
	start_node_with(&loop, &b, &cfg);
	fake_init(&loop, &f, "sesame", PROOF_NONE);
	uv_ip4_addr("127.0.0.1", rk_net_port(b.net), &sa);
	f.creq.data = &f;
	uv_tcp_connect(&f.creq, &f.tcp, (const struct sockaddr *)&sa, silent_connected);
	run_until(&loop, &f.closed, 1);
	assert_int_equal(f.closed, 1);
	assert_int_equal(refused(&b), 1);
	stop_node(&loop, &b);
	uv_run(&loop, UV_RUN_DEFAULT);
	rk_buf_free(&f.out);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_secret_connects),
		cmocka_unit_test(test_refused_pairs),
		cmocka_unit_test(test_misaddressed_refused),
		cmocka_unit_test(test_dialer_proof_must_be_fresh),
		cmocka_unit_test(test_acceptor_checked),
		cmocka_unit_test(test_hello_features),
		cmocka_unit_test(test_silent_caller_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
