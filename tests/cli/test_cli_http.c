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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "http_harness.h"

static void handler(void *arg, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	(void)arg;
	rk_buf_printf(&resp->body, "{\"method\":\"%s\"}", req->method);
}

static const char *const private_gets[] = {"/private", NULL};

static void test_token_sent(void **state)
{
	struct test_http sv;
	struct rk_buf body;
	char err[256], path[128];
	int status;
	FILE *f;

	(void)state;
	test_http_start(&sv, handler, "t0ken", private_gets);
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
	test_http_stop(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_sent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
