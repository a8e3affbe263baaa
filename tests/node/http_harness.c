/*
 * The HTTP server harness of the tests (http_harness.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http_harness.h"

static void on_closed(struct rk_http_server *s)
{
	(void)s;
}

static void on_stop(uv_async_t *a)
{
	struct test_http *sv = a->data;

	rk_http_close(&sv->http, on_closed);
	uv_close((uv_handle_t *)a, NULL);
}

static void *run(void *arg)
{
	uv_run(&((struct test_http *)arg)->loop, UV_RUN_DEFAULT);
	return NULL;
}

void test_http_start(struct test_http *sv, rk_http_handler_fn fn, const char *token,
		     const char *const *private_paths)
{
	uv_loop_init(&sv->loop);
	assert_int_equal(rk_http_listen(&sv->http, &sv->loop, "127.0.0.1:0", fn, NULL), 0);
	if (token != NULL)
		assert_int_equal(rk_http_set_token(&sv->http, (const uint8_t *)token,
						   strlen(token), private_paths), 0);
	sv->port = rk_http_port(&sv->http);
	snprintf(sv->addr, sizeof(sv->addr), "127.0.0.1:%d", sv->port);
	uv_async_init(&sv->loop, &sv->stop, on_stop);
	sv->stop.data = sv;
	pthread_create(&sv->thread, NULL, run, sv);
}

void test_http_stop(struct test_http *sv)
{
	uv_async_send(&sv->stop);
	pthread_join(sv->thread, NULL);
	assert_int_equal(uv_loop_close(&sv->loop), 0);
}
