/*
 * The node's HTTP layer: JSON and key escaping, Prometheus text, and the
 * HTTP server over real sockets (keep-alive, pipelining, malformed and
 * oversized requests that must not disturb anyone else).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rangekv/error.h"
#include "http.h"
#include "http_harness.h"
#include "json.h"
#include "prom.h"

/* ---- JSON --------------------------------------------------------------------- */

static void test_json_shapes(void **state)
{
	struct rk_buf b;
	struct rk_json j;

	(void)state;
	rk_buf_init(&b);
	rk_json_init(&j, &b);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "id");
	rk_json_u64(&j, 7);
	rk_json_key(&j, "start");
	rk_json_bytes(&j, "user/0042", 9);
	rk_json_key(&j, "leader");
	rk_json_null(&j);
	rk_json_key(&j, "asleep");
	rk_json_bool(&j, false);
	rk_json_key(&j, "replicas");
	rk_json_arr_begin(&j);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "node_id");
	rk_json_u64(&j, 1);
	rk_json_obj_end(&j);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "node_id");
	rk_json_u64(&j, 2);
	rk_json_obj_end(&j);
	rk_json_arr_end(&j);
	rk_json_obj_end(&j);
	assert_string_equal(rk_buf_cstr(&b),
			    "{\"id\":7,\"start\":\"user/0042\",\"leader\":null,"
			    "\"asleep\":false,\"replicas\":[{\"node_id\":1},"
			    "{\"node_id\":2}]}");
	rk_buf_free(&b);
}

static void test_key_escaping(void **state)
{
	struct rk_buf b, back;
	struct rk_json j;
	const char key[] = {'a', '\\', '"', 0x00, (char)0xff, '~', ' '};

	(void)state;
	rk_buf_init(&b);
	rk_key_escape(&b, key, sizeof(key));
	assert_string_equal(rk_buf_cstr(&b), "a\\x5c\"\\x00\\xff~ ");
	rk_buf_init(&back);
	assert_int_equal(rk_key_unescape(b.p, b.len, &back), 0);
	assert_int_equal(back.len, sizeof(key));
	assert_memory_equal(back.p, key, sizeof(key));
	/* In JSON the text is quoted like any string. */
	rk_buf_reset(&b);
	rk_json_init(&j, &b);
	rk_json_bytes(&j, key, sizeof(key));
	assert_string_equal(rk_buf_cstr(&b), "\"a\\\\x5c\\\"\\\\x00\\\\xff~ \"");
	/* Bad escapes are refused. */
	rk_buf_reset(&back);
	assert_int_equal(rk_key_unescape("ab\\x4", 5, &back), RK_EINVAL);
	assert_int_equal(rk_key_unescape("\\y41", 4, &back), RK_EINVAL);
	assert_int_equal(rk_key_unescape("\\xg1", 4, &back), RK_EINVAL);
	rk_buf_reset(&back);
	assert_int_equal(rk_key_unescape("key:\\x2c1", 9, &back), 0);
	assert_int_equal(back.len, 6);
	assert_memory_equal(back.p, "key:,1", 6);
	rk_buf_free(&b);
	rk_buf_free(&back);
}

static void test_prometheus_text(void **state)
{
	struct rk_hist h;
	struct rk_buf b;
	int i;

	(void)state;
	memset(&h, 0, sizeof(h));
	for (i = 0; i < 98; i++)
		rk_hist_observe(&h, 0.0004);
	rk_hist_observe(&h, 0.004);
	rk_hist_observe(&h, 3);
	assert_true(rk_hist_quantile(&h, 0.5) == 0.0005);
	assert_true(rk_hist_quantile(&h, 0.99) == 0.005);
	rk_buf_init(&b);
	rk_prom_family(&b, "rangekv_fsync_seconds", "histogram", "fsync latency");
	rk_prom_hist(&b, "rangekv_fsync_seconds", NULL, &h);
	rk_prom_u64(&b, "rangekv_peer_bytes_sent_total", "peer=\"2\"", 42);
	rk_buf_cstr(&b);
	assert_non_null(strstr(b.p, "# TYPE rangekv_fsync_seconds histogram\n"));
	assert_non_null(strstr(b.p, "rangekv_fsync_seconds_bucket{le=\"0.0005\"} 98\n"));
	assert_non_null(strstr(b.p, "rangekv_fsync_seconds_bucket{le=\"+Inf\"} 100\n"));
	assert_non_null(strstr(b.p, "rangekv_fsync_seconds_count 100\n"));
	assert_non_null(strstr(b.p, "rangekv_peer_bytes_sent_total{peer=\"2\"} 42\n"));
	rk_buf_free(&b);
}

/* ---- HTTP --------------------------------------------------------------------- */

static void handler(void *arg, const struct rk_http_req *req,
		    struct rk_http_resp *resp)
{
	char v[32];

	(void)arg;
	if (strcmp(req->path, "/hello") == 0) {
		if (rk_http_query(req, "n", v, sizeof(v)))
			rk_buf_printf(&resp->body, "{\"n\":%s}", v);
		else
			rk_buf_puts(&resp->body, "{\"hello\":true}");
		return;
	}
	resp->status = 404;
	rk_buf_puts(&resp->body, "{\"error\":\"not found\"}");
}

static const char *const private_gets[] = {"/ranges/*/log", "/debug/*", NULL};

static void server_start_with(struct test_http *sv, const char *token)
{
	test_http_start(sv, handler, token, private_gets);
}

static void server_start(struct test_http *sv)
{
	server_start_with(sv, NULL);
}

static void server_stop(struct test_http *sv)
{
	test_http_stop(sv);
}

static int dial(int port)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return; /* the server may close on us: fine */
		s += w;
		n -= (size_t)w;
	}
}

/* Reads until `responses` complete responses or EOF; returns bytes read. */
static size_t read_responses(int fd, char *buf, size_t cap, int responses)
{
	size_t len = 0;
	int seen = 0;

	while (len + 1 < cap) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		char *p;
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		seen = 0;
		for (p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++) {
			char *cl = strstr(p, "Content-Length: ");
			char *hdr_end = strstr(p, "\r\n\r\n");
			if (cl == NULL || hdr_end == NULL)
				break;
			if (hdr_end + 4 + atoi(cl + 16) > buf + len)
				break;
			seen++;
		}
		if (seen >= responses)
			break;
	}
	buf[len] = '\0';
	return len;
}

static void test_http_keepalive_and_pipelining(void **state)
{
	struct test_http sv;
	char buf[8192];
	int fd;

	(void)state;
	server_start(&sv);
	fd = dial(sv.port);
	send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	read_responses(fd, buf, sizeof(buf), 1);
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(buf, "{\"hello\":true}"));
	/* Three pipelined requests in one write, answered in order. */
	{
		const char *p = "GET /hello?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
				"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
				"GET /hello?a=b&n=3 HTTP/1.1\r\nHost: x\r\n\r\n";
		char *a, *b2, *c;
		send_all(fd, p, strlen(p));
		read_responses(fd, buf, sizeof(buf), 3);
		a = strstr(buf, "{\"n\":1}");
		b2 = strstr(buf, "404 Not Found");
		c = strstr(buf, "{\"n\":3}");
		assert_non_null(a);
		assert_non_null(b2);
		assert_non_null(c);
		assert_true(a < b2 && b2 < c);
	}
	close(fd);
	server_stop(&sv);
}

static void test_http_bad_requests_do_not_disturb(void **state)
{
	struct test_http sv;
	char buf[8192];
	char *big;
	int fd, good;

	(void)state;
	server_start(&sv);
	good = dial(sv.port);
	/* Garbage. */
	fd = dial(sv.port);
	send_all(fd, "\x01\x02garbage\r\n\r\n", 13);
	read_responses(fd, buf, sizeof(buf), 1);
	assert_non_null(strstr(buf, "400 Bad Request"));
	assert_int_equal(read(fd, buf, sizeof(buf)), 0); /* closed */
	close(fd);
	/* A URL over the limit. */
	big = malloc(RK_HTTP_MAX_URL + 64);
	memset(big, 'a', RK_HTTP_MAX_URL + 64);
	memcpy(big, "GET /", 5);
	fd = dial(sv.port);
	send_all(fd, big, RK_HTTP_MAX_URL + 64);
	read_responses(fd, buf, sizeof(buf), 1);
	assert_non_null(strstr(buf, "414"));
	close(fd);
	free(big);
	/* A request cut in half, then the peer goes away. */
	fd = dial(sv.port);
	send_all(fd, "GET /hel", 8);
	close(fd);
	/* The well-behaved client is still served. */
	send_all(good, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32);
	read_responses(good, buf, sizeof(buf), 1);
	assert_non_null(strstr(buf, "{\"hello\":true}"));
	close(good);
	server_stop(&sv);
}

/* One request on a fresh connection; the status code, the answer in buf. */
static int ask(int port, const char *req, char *buf, size_t cap)
{
	int fd = dial(port);

	send_all(fd, req, strlen(req));
	read_responses(fd, buf, cap, 1);
	close(fd);
	return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
}

static void test_http_path_patterns(void **state)
{
	(void)state;
	assert_true(rk_http_path_matches("/ranges/*/log", "/ranges/12/log"));
	assert_false(rk_http_path_matches("/ranges/*/log", "/ranges//log"));
	assert_false(rk_http_path_matches("/ranges/*/log", "/ranges/12/log/x"));
	assert_false(rk_http_path_matches("/ranges/*/log", "/ranges/12"));
	assert_false(rk_http_path_matches("/ranges/*/log", "/ranges/1/2/log"));
	assert_true(rk_http_path_matches("/debug/*", "/debug/fault/apply"));
	assert_false(rk_http_path_matches("/debug/*", "/debug/"));
	assert_false(rk_http_path_matches("/debug/*", "/debugger"));
	assert_true(rk_http_path_matches("/metrics", "/metrics"));
	assert_false(rk_http_path_matches("/metrics", "/metrics2"));
}

/* With an admin token, every method but GET/HEAD and the private GETs need
 * it; the handler never sees a request without it. */
static void test_http_admin_token(void **state)
{
	struct test_http sv;
	char buf[8192];

	(void)state;
	server_start_with(&sv, "s3cret");
	assert_int_equal(ask(sv.port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
			     buf, sizeof(buf)), 200);
	assert_int_equal(ask(sv.port, "POST /hello HTTP/1.1\r\nHost: x\r\n"
				      "Content-Length: 0\r\n\r\n", buf, sizeof(buf)), 401);
	assert_non_null(strstr(buf, "WWW-Authenticate: Bearer\r\n"));
	assert_non_null(strstr(buf, "{\"error\":\"this call needs the admin token"));
	assert_int_equal(ask(sv.port, "DELETE /hello HTTP/1.1\r\nHost: x\r\n"
				      "Authorization: Bearer s3cre\r\n\r\n", buf, sizeof(buf)), 401);
	assert_int_equal(ask(sv.port, "PUT /hello HTTP/1.1\r\nHost: x\r\n"
				      "Authorization: Bearer s3cretX\r\nContent-Length: 0\r\n\r\n",
			     buf, sizeof(buf)), 401);
	assert_int_equal(ask(sv.port, "POST /hello HTTP/1.1\r\nHost: x\r\n"
				      "Authorization: Basic s3cret\r\nContent-Length: 0\r\n\r\n",
			     buf, sizeof(buf)), 401);
	/* The right token, the scheme in any case; the header's name too. */
	assert_int_equal(ask(sv.port, "POST /hello HTTP/1.1\r\nHost: x\r\n"
				      "authorization: bearer s3cret\r\nContent-Length: 0\r\n\r\n",
			     buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "{\"hello\":true}"));
	/* A private GET needs it, the others not. */
	assert_int_equal(ask(sv.port, "GET /ranges/7/log HTTP/1.1\r\nHost: x\r\n\r\n",
			     buf, sizeof(buf)), 401);
	assert_int_equal(ask(sv.port, "GET /ranges/7/log HTTP/1.1\r\nHost: x\r\n"
				      "Authorization: Bearer s3cret\r\n\r\n", buf, sizeof(buf)), 404);
	assert_int_equal(ask(sv.port, "GET /debug/x HTTP/1.1\r\nHost: x\r\n\r\n",
			     buf, sizeof(buf)), 401);
	assert_int_equal(ask(sv.port, "GET /ranges/7 HTTP/1.1\r\nHost: x\r\n\r\n",
			     buf, sizeof(buf)), 404);
	/* HEAD is a read: a GET's answer without its body (the length
	 * still the body's), and private paths need the token as for GET. */
	assert_int_equal(ask(sv.port, "HEAD /hello HTTP/1.1\r\nHost: x\r\n"
				      "Connection: close\r\n\r\n", buf, sizeof(buf)), 200);
	assert_non_null(strstr(buf, "Content-Length: 14\r\n"));
	assert_true(strlen(buf) > 4 && strcmp(buf + strlen(buf) - 4, "\r\n\r\n") == 0);
	assert_null(strstr(buf, "hello\":true"));
	assert_int_equal(ask(sv.port, "HEAD /ranges/7/log HTTP/1.1\r\nHost: x\r\n"
				      "Connection: close\r\n\r\n", buf, sizeof(buf)), 401);
	/* A GET after a HEAD on the same connection has its body. */
	{
		int fd = dial(sv.port);
		const char *two = "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

		send_all(fd, two, strlen(two));
		read_responses(fd, buf, sizeof(buf), 3);
		close(fd);
		assert_non_null(strstr(buf, "\r\n\r\nHTTP/1.1 200"));
		assert_non_null(strstr(buf, "{\"hello\":true}"));
	}
	server_stop(&sv);
	/* Without a token every call reaches the handler. */
	server_start(&sv);
	assert_int_equal(ask(sv.port, "POST /hello HTTP/1.1\r\nHost: x\r\n"
				      "Content-Length: 0\r\n\r\n", buf, sizeof(buf)), 200);
	server_stop(&sv);
}

static void test_http_listen_errors(void **state)
{
	struct rk_http_server a, b;
	uv_loop_t loop;
	char addr[64];

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(rk_http_listen(&a, &loop, "127.0.0.1:0", handler, NULL), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_http_port(&a));
	assert_int_equal(rk_http_listen(&b, &loop, addr, handler, NULL),
			 RK_EADDRINUSE);
	assert_int_equal(rk_http_listen(&b, &loop, "nohost:1", handler, NULL),
			 RK_EADDR);
	assert_int_equal(rk_http_listen(&b, &loop, "127.0.0.1:99999", handler, NULL),
			 RK_EADDR);
	rk_http_close(&a, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_shapes),
		cmocka_unit_test(test_key_escaping),
		cmocka_unit_test(test_prometheus_text),
		cmocka_unit_test(test_http_keepalive_and_pipelining),
		cmocka_unit_test(test_http_bad_requests_do_not_disturb),
		cmocka_unit_test(test_http_listen_errors),
		cmocka_unit_test(test_http_path_patterns),
		cmocka_unit_test(test_http_admin_token),
	};
	return cmocka_run_group_tests_name("web", tests, NULL, NULL);
}
