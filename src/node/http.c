#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_parser.h>
#include <sodium.h>

#include "uv_error.h"

/* An Authorization value longer than this cannot carry a token we would
 * accept (secret.h's limit and the scheme); it is kept as "too long". */
#define AUTH_MAX 1100

struct rk_http_conn {
	uv_tcp_t tcp;
	struct rk_http_server *srv;
	http_parser parser;
	struct rk_buf url;
	struct rk_buf body;
	struct rk_http_conn *next, *prev;
	bool too_big; /* URL or body over the limit: answered, then closed */
	bool closing;
	/* A request answered later (rk_http_defer): the parser is paused, the
	 * connection reads nothing, and the bytes read after that request
	 * wait in held until the answer is sent. */
	struct rk_http_later *later;
	bool keep; /* the deferred request's keep-alive */
	bool head; /* the request being answered is a HEAD: no body sent */
	struct rk_buf held;
	/* Headers: only Authorization is kept (the admin token). */
	char hfield[16];
	size_t hfield_len;
	bool in_value, in_auth, auth_over;
	char auth[AUTH_MAX];
	size_t auth_len;
	char rbuf[16384];
};

struct rk_http_later {
	struct rk_http_conn *c; /* NULL once the connection is gone */
};

struct write_req {
	uv_write_t w;
	struct rk_buf data;
	struct rk_http_conn *c;
	bool close_after;
};

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void on_conn_closed(uv_handle_t *h)
{
	struct rk_http_conn *c = h->data;
	struct rk_http_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	if (c->later != NULL)
		c->later->c = NULL; /* its answer goes nowhere */
	rk_buf_free(&c->url);
	rk_buf_free(&c->body);
	rk_buf_free(&c->held);
	free(c);
	if (s->closing && s->n_conns == 0 && uv_is_closing((uv_handle_t *)&s->tcp) &&
	    s->close_cb != NULL) {
		void (*cb)(struct rk_http_server *) = s->close_cb;
		s->close_cb = NULL;
		cb(s);
	}
}

static void conn_close(struct rk_http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_written(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;

	if (status != 0 || wr->close_after)
		conn_close(wr->c);
	rk_buf_free(&wr->data);
	free(wr);
}

static void send_response(struct rk_http_conn *c, struct rk_http_resp *resp,
			  bool close_after)
{
	struct write_req *wr = calloc(1, sizeof(*wr));
	uv_buf_t ub;

	if (wr == NULL) {
		conn_close(c);
		return;
	}
	rk_buf_init(&wr->data);
	if (resp->body.oom) {
		resp->status = 500;
		rk_buf_reset(&resp->body);
	}
	rk_buf_printf(&wr->data,
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		      "Content-Length: %zu\r\nConnection: %s\r\n%s%s\r\n",
		      resp->status, status_text(resp->status),
		      resp->content_type, resp->body.len,
		      close_after ? "close" : "keep-alive",
		      resp->status == 401 ? "WWW-Authenticate: Bearer\r\n" : "",
		      resp->headers != NULL ? resp->headers : "");
	if (!c->head) /* a HEAD's answer is a GET's without the body */
		rk_buf_append(&wr->data, resp->body.p, resp->body.len);
	if (wr->data.oom) {
		rk_buf_free(&wr->data);
		free(wr);
		conn_close(c);
		return;
	}
	wr->c = c;
	wr->close_after = close_after;
	ub = uv_buf_init(wr->data.p, (unsigned)wr->data.len);
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0) {
		rk_buf_free(&wr->data);
		free(wr);
		conn_close(c);
	}
}

static void send_error(struct rk_http_conn *c, int status, const char *msg)
{
	struct rk_http_resp resp;

	resp.status = status;
	resp.content_type = "application/json";
	resp.headers = NULL;
	rk_buf_init(&resp.body);
	rk_buf_printf(&resp.body, "{\"error\":\"%s\"}", msg);
	send_response(c, &resp, true);
	rk_buf_free(&resp.body);
}

static int on_message_begin(http_parser *p)
{
	struct rk_http_conn *c = p->data;

	rk_buf_reset(&c->url);
	rk_buf_reset(&c->body);
	c->hfield_len = 0;
	c->in_value = c->in_auth = c->auth_over = false;
	c->auth_len = 0;
	c->head = false;
	return 0;
}

/* http-parser may hand a header's name and value over in pieces. */
static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct rk_http_conn *c = p->data;

	if (c->in_value) {
		c->in_value = false;
		c->hfield_len = 0;
	}
	if (c->hfield_len + n <= sizeof(c->hfield)) {
		memcpy(c->hfield + c->hfield_len, at, n);
		c->hfield_len += n;
	} else {
		c->hfield_len = sizeof(c->hfield) + 1; /* no name we keep */
	}
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct rk_http_conn *c = p->data;

	if (!c->in_value) {
		c->in_value = true;
		c->in_auth = c->hfield_len == 13 &&
			     strncasecmp(c->hfield, "authorization", 13) == 0;
		if (c->in_auth) {
			c->auth_len = 0; /* a repeated header: the last one counts */
			c->auth_over = false;
		}
	}
	if (!c->in_auth)
		return 0;
	if (c->auth_len + n > sizeof(c->auth))
		c->auth_over = true;
	else {
		memcpy(c->auth + c->auth_len, at, n);
		c->auth_len += n;
	}
	return 0;
}

bool rk_http_path_matches(const char *pattern, const char *path)
{
	while (*pattern != '\0') {
		if (pattern[0] == '*' && pattern[1] == '\0')
			return *path != '\0'; /* anything below */
		if (*pattern == '*') {
			if (*path == '\0' || *path == '/')
				return false; /* a segment is never empty */
			while (*path != '\0' && *path != '/')
				path++;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *path == '\0';
}

/* Whether req needs the admin token (see http.h). */
static bool needs_token(const struct rk_http_server *s, const struct rk_http_req *req)
{
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
		return true;
	for (const char *const *p = s->private_paths; p != NULL && *p != NULL; p++)
		if (rk_http_path_matches(*p, req->path))
			return true;
	return false;
}

/* Whether the request's Authorization is "Bearer " and the token. Both
 * sides are compared as hashes, so the time taken says nothing about how
 * much of the token was right, nor its length. */
static bool token_ok(const struct rk_http_server *s, const struct rk_http_conn *c)
{
	uint8_t h[RK_HTTP_TOKEN_HASH];
	const char *v = c->auth;
	size_t n = c->auth_len;

	if (c->auth_over || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	n -= 7;
	while (n > 0 && *v == ' ')
		v++, n--;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	crypto_generichash(h, sizeof(h), (const unsigned char *)v, n, NULL, 0);
	return sodium_memcmp(h, s->token_hash, sizeof(h)) == 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct rk_http_conn *c = p->data;

	if (c->url.len + n > RK_HTTP_MAX_URL) {
		c->too_big = true;
		send_error(c, 414, "URL too long");
		return -1;
	}
	rk_buf_append(&c->url, at, n);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct rk_http_conn *c = p->data;

	if (c->body.len + n > RK_HTTP_MAX_BODY) {
		c->too_big = true;
		send_error(c, 413, "body too large");
		return -1;
	}
	rk_buf_append(&c->body, at, n);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct rk_http_conn *c = p->data;
	struct rk_http_server *s = c->srv;
	struct rk_http_resp resp;
	struct rk_http_req req;
	char *url, *q;
	bool keep;

	rk_buf_cstr(&c->url);
	rk_buf_cstr(&c->body);
	if (c->url.oom || c->body.oom) {
		send_error(c, 500, "out of memory");
		return -1;
	}
	url = c->url.p;
	q = strchr(url, '?');
	if (q != NULL)
		*q++ = '\0';
	memset(&req, 0, sizeof(req));
	/* HEAD is served as GET (a read: no token unless the path is
	 * private), the body left out of the answer. */
	c->head = p->method == HTTP_HEAD;
	req.method = c->head ? "GET" : http_method_str((enum http_method)p->method);
	req.path = url;
	req.query = q != NULL ? q : "";
	req.body = c->body.p;
	req.body_len = c->body.len;
	req.conn_ = c;
	resp.status = 200;
	resp.content_type = "application/json";
	resp.headers = NULL;
	rk_buf_init(&resp.body);
	s->requests++;
	if (s->has_token && needs_token(s, &req) && !token_ok(s, c)) {
		s->unauthorized++;
		resp.status = 401;
		rk_buf_puts(&resp.body, "{\"error\":\"this call needs the admin token "
			    "(header 'Authorization: Bearer TOKEN', the node's --admin-token-file)\"}");
	} else {
		s->fn(s->arg, &req, &resp);
	}
	keep = http_should_keep_alive(p) && !s->closing;
	if (c->later != NULL) {
		/* Answered later: nothing after it is parsed until then. */
		rk_buf_free(&resp.body);
		c->keep = keep;
		http_parser_pause(p, 1);
		return 0;
	}
	send_response(c, &resp, !keep);
	rk_buf_free(&resp.body);
	return keep ? 0 : -1;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct rk_http_conn *c = h->data;

	(void)suggested;
	*b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

/* Parses data[0..len) read from c (or held back for it). */
static void parse(struct rk_http_conn *c, const char *data, size_t len)
{
	uv_stream_t *st = (uv_stream_t *)&c->tcp;
	size_t done = http_parser_execute(&c->parser, &settings, data, len);

	if (c->parser.upgrade) {
		conn_close(c);
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
		/* A deferred request: keep what follows it for later. */
		uv_read_stop(st);
		if (done < len) {
			struct rk_buf rest;

			rk_buf_init(&rest);
			rk_buf_append(&rest, data + done, len - done);
			if (rest.oom) {
				rk_buf_free(&rest);
				conn_close(c);
				return;
			}
			rk_buf_free(&c->held);
			c->held = rest;
		}
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || done != len) {
		/* Our own callbacks stop the parser after answering (close
		 * requested, limits); anything else is a malformed request. */
		if (HTTP_PARSER_ERRNO(&c->parser) != HPE_CB_message_complete &&
		    HTTP_PARSER_ERRNO(&c->parser) != HPE_CB_url &&
		    HTTP_PARSER_ERRNO(&c->parser) != HPE_CB_body) {
			c->srv->bad_requests++;
			send_error(c, 400, "malformed request");
		} else if (c->too_big) {
			c->srv->bad_requests++;
		}
		uv_read_stop(st);
	}
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct rk_http_conn *c = st->data;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0 || c->closing)
		return;
	parse(c, b->base, (size_t)nread);
}

struct rk_http_later *rk_http_defer(const struct rk_http_req *req)
{
	struct rk_http_conn *c = req->conn_;
	struct rk_http_later *l;

	if (c == NULL || c->later != NULL)
		return NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->c = c;
	c->later = l;
	return l;
}

void rk_http_answer(struct rk_http_later *l, struct rk_http_resp *resp)
{
	struct rk_http_conn *c = l->c;
	struct rk_buf held;

	free(l);
	if (c == NULL || c->closing)
		return;
	c->later = NULL;
	send_response(c, resp, !c->keep);
	if (!c->keep || c->closing)
		return;
	http_parser_pause(&c->parser, 0);
	held = c->held;
	rk_buf_init(&c->held);
	if (held.len > 0)
		parse(c, held.p, held.len);
	rk_buf_free(&held);
	if (!c->closing && c->later == NULL &&
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct rk_http_server *s = ls->data;
	struct rk_http_conn *c;

	if (status != 0 || s->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0 ||
	    s->n_conns > RK_HTTP_MAX_CONNS) {
		conn_close(c);
		return;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	rk_buf_init(&c->url);
	rk_buf_init(&c->body);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		conn_close(c);
}

int rk_http_listen(struct rk_http_server *s, uv_loop_t *loop, const char *addr,
		   rk_http_handler_fn fn, void *arg)
{
	struct sockaddr_storage ss;
	int fd, rc, one = 1;
	socklen_t len;

	memset(s, 0, sizeof(*s));
	rc = rk_parse_hostport(addr, 1, &ss);
	if (rc != 0)
		return rc;
	/* Bind and listen on a plain socket first: on failure there is no
	 * libuv handle to close asynchronously, and the caller may reuse s at
	 * once. */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return RK_EIO;
	len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
					sizeof(struct sockaddr_in6);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
		rc = errno == EADDRINUSE ? RK_EADDRINUSE : RK_EADDR;
		close(fd);
		return rc;
	}
	s->loop = loop;
	s->fn = fn;
	s->arg = arg;
	uv_tcp_init(loop, &s->tcp);
	s->tcp.data = s;
	rc = uv_tcp_open(&s->tcp, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
	if (rc != 0) {
		/* Cannot happen for a listening socket; keep s closable. */
		s->closing = true;
		uv_close((uv_handle_t *)&s->tcp, NULL);
		return rk_uv_err(rc);
	}
	return 0;
}

int rk_http_set_token(struct rk_http_server *s, const uint8_t *token, size_t len,
		      const char *const *private_paths)
{
	if (sodium_init() < 0)
		return RK_EIO;
	crypto_generichash(s->token_hash, sizeof(s->token_hash), token, len, NULL, 0);
	s->has_token = true;
	s->private_paths = private_paths;
	return 0;
}

int rk_http_port(struct rk_http_server *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct rk_http_server *s = h->data;

	if (s->n_conns == 0 && s->close_cb != NULL) {
		void (*cb)(struct rk_http_server *) = s->close_cb;
		s->close_cb = NULL;
		cb(s);
	}
}

void rk_http_close(struct rk_http_server *s,
		   void (*cb)(struct rk_http_server *s))
{
	struct rk_http_conn *c;

	s->closing = true;
	s->close_cb = cb;
	for (c = s->conns; c != NULL; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
}

bool rk_http_query(const struct rk_http_req *req, const char *name, char *out,
		   size_t cap)
{
	size_t nl = strlen(name);
	const char *p = req->query;

	if (cap == 0)
		return false;

	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = len - nl - 1;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		if (len == nl && strncmp(p, name, nl) == 0) {
			out[0] = '\0';
			return true;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return false;
}
