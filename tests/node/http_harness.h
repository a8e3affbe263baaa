/*
 * The node's HTTP server on a loop of its own in a thread, for tests that
 * talk to it with blocking sockets (test_web, the CLI's test_cli_http).
 */
#ifndef RK_TEST_HTTP_HARNESS_H
#define RK_TEST_HTTP_HARNESS_H

#include <pthread.h>

#include <uv.h>

#include "http.h"

struct test_http {
	uv_loop_t loop;
	uv_async_t stop;
	struct rk_http_server http;
	pthread_t thread;
	int port;
	char addr[64]; /* "127.0.0.1:port" */
};

/* Listens on a free port of 127.0.0.1 with handler fn; with token not NULL
 * the admin token is set, with private_paths its private GETs. */
void test_http_start(struct test_http *sv, rk_http_handler_fn fn, const char *token,
		     const char *const *private_paths);
void test_http_stop(struct test_http *sv);

#endif
