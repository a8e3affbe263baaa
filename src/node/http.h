/*
 * A small HTTP/1.1 server on libuv for the inspection API and /metrics.
 * Requests are parsed by http-parser (Debian's libhttp-parser); handlers run
 * on the loop thread and answer synchronously or, for calls that wait for
 * the cluster (a membership change committing), later (rk_http_defer);
 * pipelined requests are answered in order either way. Limits: URL 8 KiB, body 64 KiB, 1024 connections; a
 * malformed request gets 400 and its connection is closed, nothing else is
 * disturbed.
 *
 * The admin token (rk_http_set_token): when one is set, every request that
 * may change something (any method but GET and HEAD) and every GET of a
 * path marked private needs "Authorization: Bearer TOKEN"; without it, or
 * with another token, the server answers 401 with a JSON error itself and
 * the handler never sees the request. The check is here, in one place, so
 * that no handler can forget it.
 */
#ifndef RK_NODE_HTTP_H
#define RK_NODE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

#define RK_HTTP_MAX_URL 8192
#define RK_HTTP_MAX_BODY 65536
#define RK_HTTP_MAX_CONNS 1024
#define RK_HTTP_TOKEN_HASH 32

struct rk_http_req {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* NUL-terminated, without the query */
	const char *query;  /* NUL-terminated, without '?'; "" if none */
	const char *body;
	size_t body_len;
	void *conn_; /* private: the connection (rk_http_defer) */
};

struct rk_http_resp {
	int status;               /* default 200 */
	const char *content_type; /* default application/json */
	/* More header lines, each ending "\r\n" (the console's caching and
	 * Content-Security-Policy); NULL: none. Must outlive the answer's
	 * sending call (a string constant). */
	const char *headers;
	struct rk_buf body;
};

typedef void (*rk_http_handler_fn)(void *arg, const struct rk_http_req *req,
				   struct rk_http_resp *resp);

struct rk_http_conn;

struct rk_http_server {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	rk_http_handler_fn fn;
	void *arg;
	struct rk_http_conn *conns;
	unsigned n_conns;
	unsigned long long requests;
	unsigned long long bad_requests;
	unsigned long long unauthorized; /* answered 401 */
	/* The admin token as a hash (compared in constant time); none when
	 * has_token is false. */
	bool has_token;
	uint8_t token_hash[RK_HTTP_TOKEN_HASH];
	const char *const *private_paths;
	bool closing;
	void (*close_cb)(struct rk_http_server *s);
};

/* Listens on addr ("host:port"; port 0 picks one, see rk_http_port).
 * RK_EADDRINUSE, RK_EADDR on failure, leaving nothing to close. */
int rk_http_listen(struct rk_http_server *s, uv_loop_t *loop, const char *addr,
		   rk_http_handler_fn fn, void *arg);
int rk_http_port(struct rk_http_server *s);
/* Sets the admin token (token[0..len), len > 0; only its hash is kept) and
 * the GET paths that need it too: a NULL-terminated list of patterns that
 * must outlive the server, where a '*' segment matches any one segment and
 * a final "*" anything below ("/api/v1/ranges/ * /log", "/api/v1/debug/ *",
 * without the spaces). RK_EIO if libsodium cannot start. */
int rk_http_set_token(struct rk_http_server *s, const uint8_t *token, size_t len,
		      const char *const *private_paths);
/* Whether path matches pattern as rk_http_set_token describes. */
bool rk_http_path_matches(const char *pattern, const char *path);
/* Closes the listener and every connection; cb runs once all are closed. */
void rk_http_close(struct rk_http_server *s,
		   void (*cb)(struct rk_http_server *s));

/* A handler that cannot answer at once calls rk_http_defer and leaves resp
 * unused; the answer is sent later by rk_http_answer (exactly once; it
 * frees l). The connection reads nothing more until then, so pipelined
 * requests are still answered in order. When the connection closes first,
 * the answer goes nowhere. NULL (answer at once instead) on allocation
 * failure, and for a request that came without a connection (a call
 * forwarded from another node, fwd.c: req->conn_ is NULL). */
struct rk_http_later;
struct rk_http_later *rk_http_defer(const struct rk_http_req *req);
void rk_http_answer(struct rk_http_later *l, struct rk_http_resp *resp);

/* Value of query parameter `name` (percent-decoding not applied: the API's
 * parameters are numbers). Returns true if present. */
bool rk_http_query(const struct rk_http_req *req, const char *name, char *out,
		   size_t cap);

#endif
