/*
 * The RESP server of --client-addr: connections, parsing, replies in order.
 *
 * Input is parsed in place (rangekv/resp.h); each command is dispatched at
 * once and its creq queued on the connection, so a pipeline of commands to
 * many ranges is in flight together while replies still leave in request
 * order. Replies gathered in one loop turn leave in one write per
 * connection, made just before the loop waits (a uv_prepare handle).
 *
 * Limits: a request over the protocol limits is answered with -ERR and its
 * connection closed; a connection with too many commands waiting stops
 * being read until they are answered, so one client cannot take the
 * node's memory; and while the commands of all connections together hold
 * more than max_inflight bytes, no connection is read (admission), so
 * many clients cannot either. A closed connection's commands still in flight complete
 * into nothing: the connection is freed once the last is answered.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "log.h"
#include "uv_error.h"

#define MOD "client"
#define READ_CHUNK (64u << 10)
#define PENDING_HIGH 8192 /* stop reading a connection above this */
#define PENDING_LOW 1024  /* and read again below this */

struct conn {
	uv_tcp_t tcp;
	struct rk_client_server *s;
	struct conn *prev, *next, *next_dirty;
	struct rk_buf in;
	struct rk_resp_cmd cmd;
	struct creq *qhead, *qtail;
	uint32_t pending;
	struct rk_buf out;  /* replies waiting to be written */
	struct rk_buf wbuf; /* the write in progress */
	uv_write_t wr;
	bool writing, closed, quit, reading, dirty;
	/* Keys of the commands in flight: a command reading a key an
	 * earlier one still in flight writes (or writing one it reads) waits,
	 * and so does everything after it, so that a connection's commands
	 * take effect in the order sent, as in Redis. Writes after writes
	 * need no wait: order.c keeps them in order. */
	struct keyref *keys;
	size_t nkeys, capkeys;
	bool blocked, parsing;
	struct rk_client_connstate st;
	struct rk_client_order order; /* its writes, range by range (order.c) */
};

static void conn_read_start(struct conn *c);

/* Whether admission is closed: more bytes in flight than the bound. Noted
 * once per closing; reads resume at half the bound (on_flush). */
static bool admission_full(struct rk_client_server *s)
{
	if (s->full || s->max_inflight == 0 || s->st.inflight_bytes < s->max_inflight)
		return s->full;
	s->full = true;
	s->st.throttled++;
	return true;
}

/* Reopens admission once the commands in flight hold half the bound or
 * less: every connection that stopped for it is read again. */
static void admission_resume(struct rk_client_server *s)
{
	if (!s->full || s->st.inflight_bytes > s->max_inflight / 2)
		return;
	s->full = false;
	for (struct conn *c = s->conns; c != NULL && !s->full; c = c->next)
		if (!c->reading && !c->blocked && !c->quit && !c->closed &&
		    c->pending < PENDING_LOW)
			conn_read_start(c);
}

static void conn_parse(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

struct conflict_ctx {
	struct conn *c;
	bool conflict;
};

static void check_key(void *arg, uint64_t h, bool write, bool all)
{
	struct conflict_ctx *x = arg;

	for (size_t i = 0; i < x->c->nkeys && !x->conflict; i++) {
		const struct keyref *k = &x->c->keys[i];
		/* Read after read: no order to keep. Write after write: the
		 * connection's queue of the key's range keeps it (order.c). */
		if (k->write == write)
			continue;
		x->conflict = all || k->all || k->h == h;
	}
}

struct hold_ctx {
	struct conn *c;
	struct creq *q;
	bool oom;
};

static void hold_key(void *arg, uint64_t h, bool write, bool all)
{
	struct hold_ctx *x = arg;
	struct conn *c = x->c;

	if (rk_grow((void **)&c->keys, &c->capkeys, c->nkeys, sizeof(*c->keys)) != 0) {
		x->oom = true;
		return;
	}
	c->keys[c->nkeys].h = h;
	c->keys[c->nkeys].write = write;
	c->keys[c->nkeys].all = all;
	c->keys[c->nkeys].q = x->q;
	c->nkeys++;
	x->q->keys_held = true;
}

static void release_keys(struct conn *c, struct creq *q)
{
	size_t j = 0;

	if (!q->keys_held)
		return;
	q->keys_held = false;
	for (size_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].q != q)
			c->keys[j++] = c->keys[i];
	c->nkeys = j;
	if (c->blocked && !c->parsing) {
		c->blocked = false;
		conn_parse(c);
	}
}

/* ---- closing ------------------------------------------------------------------ */

static void conn_maybe_free(struct conn *c)
{
	/* A stopping server walks its dirty list no more. */
	if (!c->closed || c->pending > 0 || c->writing || (c->dirty && !c->s->stopping))
		return;
	rk_buf_free(&c->in);
	rk_buf_free(&c->out);
	rk_buf_free(&c->wbuf);
	rk_resp_cmd_free(&c->cmd);
	free(c->keys);
	rk_client_order_free(&c->order);
	free(c->st.name);
	free(c->st.lib_name);
	free(c->st.lib_ver);
	free(c);
}

/* A handle of s is closed; the last one of a stopping server frees it. */
static void server_handle_gone(struct rk_client_server *s)
{
	s->open_handles--;
	if (s->stopping && s->open_handles == 0) {
		if (s->stop_done != NULL)
			s->stop_done(s->stop_arg);
		rk_client_cursors_free(s->cursors);
		free(s->password);
		free(s);
	}
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct rk_client_server *s = c->s;

	c->closed = true;
	conn_maybe_free(c);
	server_handle_gone(s);
}

static void conn_close(struct conn *c)
{
	struct rk_client_server *s = c->s;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->prev) c->prev->next = c->next; else s->conns = c->next;
	if (c->next) c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->st.connections--;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- writing ---------------------------------------------------------------- */

static void mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = c->s->dirty;
	c->s->dirty = c;
}

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	c->writing = false;
	rk_buf_reset(&c->wbuf);
	if (status != 0 || uv_is_closing((uv_handle_t *)&c->tcp)) {
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			conn_close(c);
		conn_maybe_free(c);
		return;
	}
	if (c->out.len > 0)
		mark_dirty(c);
	else if (c->quit && c->pending == 0)
		conn_close(c);
	if (!c->reading && c->pending < PENDING_LOW && !c->quit && !c->s->full)
		conn_read_start(c);
}

static void conn_flush(struct conn *c)
{
	struct rk_buf t;
	uv_buf_t b;

	if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->out.len == 0) {
		if (c->quit && c->pending == 0)
			conn_close(c);
		return;
	}
	t = c->wbuf; /* swap: out is written, the old write buffer refills */
	c->wbuf = c->out;
	c->out = t;
	rk_buf_reset(&c->out);
	b = uv_buf_init(c->wbuf.p, (unsigned int)c->wbuf.len);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		conn_close(c);
		return;
	}
	c->writing = true;
}

static void on_flush(uv_prepare_t *p)
{
	struct rk_client_server *s = p->data;
	struct conn *c, *next;

	admission_resume(s);
	c = s->dirty;
	s->dirty = NULL;
	for (; c != NULL; c = next) {
		next = c->next_dirty;
		c->dirty = false;
		c->next_dirty = NULL;
		if (c->closed || uv_is_closing((uv_handle_t *)&c->tcp))
			conn_maybe_free(c);
		else
			conn_flush(c);
	}
}

/* Moves the answered commands at the head of c's FIFO to its output. */
static void conn_drain(struct conn *c)
{
	while (c->qhead != NULL && c->qhead->done) {
		struct creq *q = c->qhead;
		c->qhead = q->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->pending--;
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			rk_buf_append(&c->out, q->reply.p, q->reply.len);
		rk_creq_free(q);
	}
	if (c->out.oom) {
		rk_log_warn(MOD, "out of memory for replies: closing a connection");
		rk_buf_reset(&c->out);
		conn_close(c);
	}
	mark_dirty(c);
}

void rk_client_creq_done(struct creq *q)
{
	struct conn *c = q->conn;

	q->done = true;
	c->s->st.inflight_bytes -= q->in_bytes;
	q->in_bytes = 0;
	release_keys(c, q);
	conn_drain(c);
}

void rk_client_conn_quit(struct conn *c)
{
	c->quit = true;
}

struct rk_client_order *rk_client_conn_order(struct conn *c)
{
	return &c->order;
}

struct rk_client_connstate *rk_client_conn_state(struct conn *c)
{
	return &c->st;
}

void rk_client_conns_each(struct rk_client_server *s,
			  void (*fn)(void *arg, const struct rk_client_connstate *st),
			  void *arg)
{
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		fn(arg, &c->st);
}

/* ---- reading ----------------------------------------------------------------- */

static struct creq *creq_new(struct conn *c)
{
	struct creq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->conn = c;
	q->srv = c->s;
	rk_buf_init(&q->reply);
	rk_buf_init(&q->kr_body);
	if (c->qtail) c->qtail->next = q; else c->qhead = q;
	c->qtail = q;
	c->pending++;
	return q;
}

/* A protocol error: answer it after what is queued, then close. */
static void conn_proto_error(struct conn *c, const char *err)
{
	struct creq *q = creq_new(c);

	c->s->st.protocol_errors++;
	c->quit = true;
	if (q == NULL) {
		conn_close(c);
		return;
	}
	/* err reads "Protocol error: ..." as Redis words it (resp.c). */
	rk_buf_printf(&q->reply, "-ERR %s\r\n", err);
	rk_client_creq_done(q);
}

static void conn_parse(struct conn *c)
{
	size_t off = 0;

	if (c->closed || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	c->parsing = true;
	while (off < c->in.len && !c->quit && c->pending < PENDING_HIGH && !c->blocked &&
	       !admission_full(c->s)) {
		size_t used = 0;
		const char *err = NULL;
		int rc = rk_resp_parse_cmd(&c->s->lim, (const uint8_t *)c->in.p + off,
					   c->in.len - off, &used, &c->cmd, &err);
		if (rc < 0) {
			conn_proto_error(c, err != NULL ? err : "Protocol error: bad request");
			off = c->in.len;
			break;
		}
		if (rc == 0) {
			off += used;
			if (used == 0)
				break; /* wants more input */
			continue;  /* an empty inline line */
		}
		enum rk_client_cmd_id id = rk_client_cmd_lookup(&c->cmd);
		if (c->nkeys > 0) {
			struct conflict_ctx cx = {c, false};
			rk_client_cmd_keys(&c->cmd, id, check_key, &cx);
			if (cx.conflict) {
				c->blocked = true; /* parsed again once it clears */
				break;
			}
		}
		off += used;
		struct creq *q = creq_new(c);
		if (q == NULL) {
			rk_log_warn(MOD, "out of memory: closing a connection");
			c->parsing = false;
			rk_client_order_flush(&c->order);
			conn_close(c);
			return;
		}
		q->in_bytes = used;
		c->s->st.inflight_bytes += used;
		struct hold_ctx hx = {c, q, false};
		rk_client_cmd_keys(&c->cmd, id, hold_key, &hx);
		c->s->st.commands++;
		c->st.last_ms = uv_now(c->s->loop);
		rk_client_dispatch(q, &c->cmd, id);
	}
	c->parsing = false;
	/* The writes just parsed leave now, one request per range. */
	rk_client_order_flush(&c->order);
	if (off > 0) {
		memmove(c->in.p, c->in.p + off, c->in.len - off);
		c->in.len -= off;
	}
	/* Read no further while a command waits (held back, too many in
	 * flight, or admission closed): the input buffer stays bounded.
	 * Reading resumes here, never by parsing again (what is buffered was
	 * just parsed), or when admission reopens (admission_resume). */
	if ((c->pending >= PENDING_HIGH || c->blocked || c->s->full) && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	} else if (!c->reading && !c->blocked && !c->quit && c->pending < PENDING_LOW &&
		   !c->s->full) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
		else
			conn_close(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = h->data;
	char *p;

	(void)hint;
	p = rk_buf_extend(&c->in, READ_CHUNK);
	if (p == NULL) {
		*b = uv_buf_init(NULL, 0);
		return;
	}
	c->in.len -= READ_CHUNK; /* reserved, not yet filled */
	*b = uv_buf_init(p, READ_CHUNK);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = st->data;

	(void)b;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in.len += (size_t)nread;
	conn_parse(c);
}

/* Starts reading c again (it stopped with too many commands in flight):
 * the commands already buffered are parsed first, and parsing starts the
 * reads if it does not stop again. A stream that cannot read is closed. */
static void conn_read_start(struct conn *c)
{
	if (c->reading || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->in.len > 0 && !c->parsing) {
		conn_parse(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = true;
	else
		conn_close(c);
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[48] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
		return;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
	}
	snprintf(out, len, "%s:%d", host, port);
}

static void conn_state_init(struct conn *c)
{
	struct sockaddr_storage ss;
	int len;

	c->st.id = ++c->s->next_conn_id;
	c->st.authed = c->s->password == NULL;
	c->st.created_ms = c->st.last_ms = uv_now(c->s->loop);
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	(void)uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
	addr_text(&ss, c->st.addr, sizeof(c->st.addr));
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	(void)uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len);
	addr_text(&ss, c->st.laddr, sizeof(c->st.laddr));
}

static void on_connection(uv_stream_t *l, int status)
{
	struct rk_client_server *s = l->data;
	struct conn *c;

	if (status != 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->s = s;
	rk_buf_init(&c->in);
	rk_buf_init(&c->out);
	rk_buf_init(&c->wbuf);
	rk_resp_cmd_init(&c->cmd);
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	s->open_handles++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		c->closed = false;
		uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_state_init(c);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->st.connections++;
	s->st.accepted++;
	conn_read_start(c);
}

/* ---- start and stop ------------------------------------------------------------- */

int rk_client_server_start(uv_loop_t *loop, const char *addr,
			   struct rk_client_router *router,
			   rk_client_info_fn info, void *info_arg,
			   struct rk_client_server **sp, char *err, size_t errlen)
{
	struct rk_client_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage sa;
	int rc;

	*sp = NULL;
	if (s == NULL)
		return RK_ENOMEM;
	s->loop = loop;
	s->router = router;
	s->info = info;
	s->info_arg = info_arg;
	s->max_inflight = RK_CLIENT_INFLIGHT_DEFAULT;
	rk_resp_limits_default(&s->lim);
	rc = rk_parse_hostport(addr, 1, &sa);
	if (rc != 0) {
		snprintf(err, errlen, "bad --client-addr %s", addr);
		free(s);
		return rc;
	}
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->open_handles = 1;
	rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on --client-addr %s: %s", addr,
			 uv_strerror(rc));
		uv_close((uv_handle_t *)&s->listener, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		free(s);
		return rk_uv_err(rc);
	}
	uv_prepare_init(loop, &s->flush);
	s->flush.data = s;
	uv_prepare_start(&s->flush, on_flush);
	s->open_handles++;
	s->started_ms = uv_now(loop);
	{
		/* The port bound (INFO's tcp_port; port 0 binds any). */
		struct sockaddr_storage got;
		int len = sizeof(got);
		if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len) == 0)
			s->port = ntohs(got.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&got)->sin6_port
						: ((struct sockaddr_in *)&got)->sin_port);
	}
	*sp = s;
	return 0;
}

int rk_client_server_set_password(struct rk_client_server *s, const uint8_t *pw,
				  size_t len)
{
	uint8_t *p = NULL;

	if (len > 0 && (p = malloc(len)) == NULL)
		return RK_ENOMEM;
	if (len > 0)
		memcpy(p, pw, len);
	free(s->password);
	s->password = p;
	s->passlen = len;
	return 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
	server_handle_gone(h->data);
}

void rk_client_server_stop(struct rk_client_server *s, void (*done)(void *arg),
			   void *arg)
{
	s->stopping = true;
	s->stop_done = done;
	s->stop_arg = arg;
	uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
	uv_close((uv_handle_t *)&s->flush, on_server_handle_closed);
	while (s->conns != NULL)
		conn_close(s->conns);
}

void rk_client_server_set_inflight(struct rk_client_server *s,
				   uint64_t max_bytes)
{
	s->max_inflight = max_bytes;
}

void rk_client_server_stats(const struct rk_client_server *s,
			    struct rk_client_server_stats *sp)
{
	*sp = s->st;
}
