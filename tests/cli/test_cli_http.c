/*
 * The CLI's HTTP requests carry the admin token from
 * $RANGEKV_ADMIN_TOKEN_FILE (or --admin-token-file): against the node's own
 * HTTP server with a token set, a private call fails without the file and
 * succeeds with it; a bad file fails the call with a clear reason.
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
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "http.h"

struct server {
	uv_loop_t loop;
	uv_async_t stop;
	struct rk_http_server http;
	pthread_t thread;
	char addr[64];
};

static void handler(void *arg, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	(void)arg;
	rk_buf_printf(&resp->body, "{\"method\":\"%s\"}", req->method);
}

static void on_closed(struct rk_http_server *s)
{
	(void)s;
}

static void on_stop(uv_async_t *a)
{
	struct server *sv = a->data;

	rk_http_close(&sv->http, on_closed);
	uv_close((uv_handle_t *)a, NULL);
}

static void *run(void *arg)
{
	uv_run(&((struct server *)arg)->loop, UV_RUN_DEFAULT);
	return NULL;
}

static const char *const private_gets[] = {"/private", NULL};

static void test_token_sent(void **state)
{
	struct server sv;
	struct rk_buf body;
	char err[256], path[128];
	int status;
	FILE *f;

	(void)state;
	uv_loop_init(&sv.loop);
	assert_int_equal(rk_http_listen(&sv.http, &sv.loop, "127.0.0.1:0", handler, NULL), 0);
	assert_int_equal(rk_http_set_token(&sv.http, (const uint8_t *)"t0ken", 5, private_gets), 0);
	snprintf(sv.addr, sizeof(sv.addr), "127.0.0.1:%d", rk_http_port(&sv.http));
	uv_async_init(&sv.loop, &sv.stop, on_stop);
	sv.stop.data = &sv;
	pthread_create(&sv.thread, NULL, run, &sv);
	rk_buf_init(&body);

	unsetenv("RANGEKV_ADMIN_TOKEN_FILE");
	rk_cli_admin_token_file(NULL);
	assert_int_equal(rk_cli_http_get(sv.addr, "/open", rk_cli_now_ms() + 5000, &body,
					 &status, err, sizeof(err)), 0);
	assert_int_equal(status, 200);
	assert_int_equal(rk_cli_http(sv.addr, "POST", "/x", rk_cli_now_ms() + 5000, &body,
				     &status, err, sizeof(err)), 0);
	assert_int_equal(status, 401);

	snprintf(path, sizeof(path), "/tmp/rk_test_cli_http_%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("t0ken\n", f);
	fclose(f);
	chmod(path, 0600);
	setenv("RANGEKV_ADMIN_TOKEN_FILE", path, 1);
	rk_cli_admin_token_file(NULL);
	rk_buf_reset(&body);
	assert_int_equal(rk_cli_http(sv.addr, "POST", "/x", rk_cli_now_ms() + 5000, &body,
				     &status, err, sizeof(err)), 0);
	assert_int_equal(status, 200);
	rk_buf_cstr(&body);
	assert_string_equal(body.p, "{\"method\":\"POST\"}");
	assert_int_equal(rk_cli_http_get(sv.addr, "/private", rk_cli_now_ms() + 5000, &body,
					 &status, err, sizeof(err)), 0);
	assert_int_equal(status, 200);

	/* The flag wins over the environment; a file that is not there fails. */
	rk_cli_admin_token_file("/nonexistent/token");
	assert_int_equal(rk_cli_http_get(sv.addr, "/private", rk_cli_now_ms() + 5000, &body,
					 &status, err, sizeof(err)), RK_EIO);
	assert_non_null(strstr(err, "--admin-token-file: cannot read /nonexistent/token"));
	/* Another token: refused by the node. */
	f = fopen(path, "w");
	fputs("other\n", f);
	fclose(f);
	rk_cli_admin_token_file(path);
	assert_int_equal(rk_cli_http_get(sv.addr, "/private", rk_cli_now_ms() + 5000, &body,
					 &status, err, sizeof(err)), 0);
	assert_int_equal(status, 401);

	unlink(path);
	unsetenv("RANGEKV_ADMIN_TOKEN_FILE");
	rk_buf_free(&body);
	uv_async_send(&sv.stop);
	pthread_join(sv.thread, NULL);
	assert_int_equal(uv_loop_close(&sv.loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
