/*
 * The transport (net.h): outgoing connections with queues and backoff,
 * incoming connections with frame parsing, and the end-of-turn flush.
 *
 * Handle lifetimes: every libuv handle this file initialises is counted in
 * n->handles and uncounted in its close callback; rk_net_stop closes them
 * all and frees the transport when the count reaches zero, so no callback
 * ever runs on freed memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "net_int.h"
#include "uv_error.h"

#define QUEUE_MAX_DEFAULT (8u << 20)
#define READ_CHUNK (64u << 10)
/* The default of cfg.handshake_ms. */
#define HANDSHAKE_MS 5000

static void oc_connect(struct out_conn *oc);
static void oc_write(struct out_conn *oc);

struct peer *rk_net_find_peer(const struct rk_net *n, uint64_t id)
{
	struct peer *p;

	for (p = n->peers; p != NULL; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

/* Every handle closed: the memory stays until rk_net_free, so that a
 * caller's timer or work callback that runs later in the same loop turn
 * (libuv runs timers again after the close callbacks) finds a stopped
 * transport, not freed memory. */
static void finish_stop(struct rk_net *n)
{
	if (n->done != NULL)
		n->done(n->done_arg);
	if (n->free_on_stop)
		rk_net_free(n);
}

void rk_net_free(struct rk_net *n)
{
	struct peer *p, *pn;

	if (n == NULL)
		return;
	for (p = n->peers; p != NULL; p = pn) {
		pn = p->next;
		for (int c = 0; c < 2; c++) {
			rk_buf_free(&p->ch[c].pending);
			rk_buf_free(&p->ch[c].inflight);
		}
		free(p);
	}
	free(n);
}

/* ---- outgoing connections ---------------------------------------------------------- */

static void oc_fail(struct out_conn *oc);

/* The one timer of an outgoing connection: the backoff before a reconnect,
 * or the wait for the acceptor's Hello. */
static void oc_timer_fired(uv_timer_t *t)
{
	struct out_conn *oc = t->data;

	if (oc->state == OC_BACKOFF)
		oc_connect(oc);
	else if (oc->state == OC_HANDSHAKE)
		oc_fail(oc);
}

static void oc_closed(uv_handle_t *h)
{
	struct out_conn *oc = h->data;
	struct rk_net *n = oc->peer->net;

	n->handles--;
	if (n->stopping) {
		if (n->handles == 0)
			finish_stop(n);
		return;
	}
	/* Reconnect after the backoff. */
	if (oc->backoff_ms < n->cfg.backoff_min_ms)
		oc->backoff_ms = n->cfg.backoff_min_ms;
	oc->state = OC_BACKOFF;
	uv_timer_start(&oc->timer, oc_timer_fired, oc->backoff_ms, 0);
}

static void timer_closed(uv_handle_t *h)
{
	struct out_conn *oc = h->data;
	struct rk_net *n = oc->peer->net;

	n->handles--;
	if (n->stopping && n->handles == 0)
		finish_stop(n);
}

/* A connection failed: drop what was being written (raft retransmits),
 * keep the queue within its bound, close, and retry after the backoff. */
static void oc_fail(struct out_conn *oc)
{
	struct rk_net *n = oc->peer->net;

	if (oc->state == OC_CLOSING || oc->state == OC_BACKOFF)
		return;
	oc->peer->st.dropped += oc->inflight_frames;
	oc->inflight_frames = 0;
	rk_buf_reset(&oc->inflight);
	if (oc->channel == RK_NET_CH_RAFT)
		oc->peer->st.connected = false;
	oc->state = OC_CLOSING;
	if (!n->stopping)
		uv_close((uv_handle_t *)&oc->tcp, oc_closed);
}

/* The write of oc->inflight is complete. */
static void oc_sent(struct out_conn *oc)
{
	struct peer *p = oc->peer;

	p->st.frames_sent += oc->inflight_frames;
	p->st.bytes_sent += oc->inflight.len;
	p->st.writes++;
	oc->inflight_frames = 0;
	rk_buf_reset(&oc->inflight);
}

static void oc_write_done(uv_write_t *req, int status)
{
	struct out_conn *oc = req->data;

	oc->writing = false;
	if (status < 0) {
		oc_fail(oc);
		return;
	}
	oc_sent(oc);
	if (oc->pending.len > 0)
		oc_write(oc);
}

/* Writes everything pending as one write. */
static void oc_write(struct out_conn *oc)
{
	struct rk_buf tmp;
	uv_buf_t b;
	int rc;

	if (oc->state != OC_OPEN || oc->writing || oc->pending.len == 0)
		return;
	tmp = oc->inflight;
	oc->inflight = oc->pending;
	oc->pending = tmp;
	rk_buf_reset(&oc->pending);
	oc->inflight_frames = oc->pending_frames;
	oc->pending_frames = 0;
	b = uv_buf_init(oc->inflight.p, (unsigned)oc->inflight.len);
	/* Most writes fit in the socket's buffer. Written at once they need
	 * no write request, whose completion costs a system call more per
	 * write (libuv re-arms the socket in epoll when a request's queue
	 * drains): at light load that is one per frame. */
	rc = uv_try_write((uv_stream_t *)&oc->tcp, &b, 1);
	if (rc >= 0 && (size_t)rc == oc->inflight.len) {
		oc_sent(oc);
		return;
	}
	if (rc < 0 && rc != UV_EAGAIN) {
		oc_fail(oc);
		return;
	}
	if (rc > 0)
		b = uv_buf_init(oc->inflight.p + rc, (unsigned)(oc->inflight.len - (size_t)rc));
	oc->wreq.data = oc;
	rc = uv_write(&oc->wreq, (uv_stream_t *)&oc->tcp, &b, 1, oc_write_done);
	if (rc != 0) {
		oc_fail(oc);
		return;
	}
	oc->writing = true;
}

static void oc_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct out_conn *oc = h->data;

	(void)suggested;
	*b = uv_buf_init(oc->rbuf, sizeof(oc->rbuf));
}

/* Doubles the backoff before the next attempt (a refused or failed
 * connection). */
static void oc_slower(struct out_conn *oc)
{
	struct rk_net *n = oc->peer->net;

	oc->backoff_ms = oc->backoff_ms == 0 ? n->cfg.backoff_min_ms : oc->backoff_ms * 2;
	if (oc->backoff_ms > n->cfg.backoff_max_ms)
		oc->backoff_ms = n->cfg.backoff_max_ms;
}

/* The acceptor's Hello arrived: check who answered and its proof, then
 * send our last Hello ahead of whatever queued meanwhile. */
static void oc_hello(struct out_conn *oc, const uint8_t *payload, size_t len)
{
	struct rk_net *n = oc->peer->net;
	struct rk_net_transcript t;
	struct rk_net_hello h;
	struct rk_buf frame;
	const char *why;

	if (rk_net_hello_decode(payload, len, &h) != 0) {
		rk_net_hs_refuse(n, &oc->tcp, "dialer", "a malformed Hello from node %llu",
				 (unsigned long long)oc->peer->id);
		goto fail;
	}
	why = rk_net_hs_problem(n, &h, oc->peer->id);
	if (why == NULL && h.channel != (uint32_t)oc->channel)
		why = "an answer on another channel";
	if (why == NULL && h.nonce_len != RK_NET_NONCE)
		why = "an answer without a nonce";
	if (why != NULL) {
		rk_net_hs_refuse(n, &oc->tcp, "dialer",
				 "%s: dialed node=%llu cluster=%016llx, answered by node=%llu cluster=%016llx version=%u",
				 why, (unsigned long long)oc->peer->id,
				 (unsigned long long)n->cfg.cluster_id,
				 (unsigned long long)h.node_id, (unsigned long long)h.cluster_id,
				 h.version);
		goto fail;
	}
	memset(&t, 0, sizeof(t));
	t.cluster_id = n->cfg.cluster_id;
	t.dialer = n->cfg.node_id;
	t.acceptor = oc->peer->id;
	t.channel = (uint32_t)oc->channel;
	memcpy(t.nonce_d, oc->nonce, RK_NET_NONCE);
	memcpy(t.nonce_a, h.nonce, RK_NET_NONCE);
	if (!rk_net_hs_proof_holds(n, RK_NET_ACCEPTOR, &t, &h, &why)) {
		rk_net_hs_refuse(n, &oc->tcp, "dialer", "%s: node=%llu", why,
				 (unsigned long long)oc->peer->id);
		goto fail;
	}
	rk_buf_init(&frame);
	if (rk_net_hs_frame(n, oc->peer->id, oc->channel, NULL, RK_NET_DIALER, &t,
			    &frame) != 0) {
		rk_buf_free(&frame);
		goto fail;
	}
	rk_buf_append(&frame, oc->pending.p, oc->pending.len);
	if (frame.oom) {
		rk_buf_free(&frame);
		goto fail; /* the queue stays for the next attempt */
	}
	rk_buf_free(&oc->pending);
	oc->pending = frame;
	uv_timer_stop(&oc->timer);
	oc->backoff_ms = 0;
	oc->state = OC_OPEN;
	oc->peer->st.connects++;
	if (oc->channel == RK_NET_CH_RAFT)
		oc->peer->st.connected = true;
	oc_write(oc);
	return;
fail:
	oc_slower(oc);
	oc_fail(oc);
}

/* The acceptor sends one Hello on our outgoing connection and nothing
 * after; past the handshake, reading only notices that it closed. */
static void oc_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct out_conn *oc = s->data;
	const uint8_t *payload;
	size_t plen, flen;
	int rc;

	if (nread < 0) {
		oc_fail(oc);
		return;
	}
	if (oc->state != OC_HANDSHAKE || nread == 0)
		return;
	if ((size_t)nread > sizeof(oc->hs) - oc->hs_len) {
		rk_net_hs_refuse(oc->peer->net, &oc->tcp, "dialer", "an oversized Hello from node %llu",
				 (unsigned long long)oc->peer->id);
		oc_slower(oc);
		oc_fail(oc);
		return;
	}
	memcpy(oc->hs + oc->hs_len, b->base, (size_t)nread);
	oc->hs_len += (size_t)nread;
	rc = rk_net_frame_parse(oc->hs, oc->hs_len, &payload, &plen, &flen);
	if (rc == RK_EAGAIN)
		return;
	if (rc != 0 || flen != oc->hs_len) {
		rk_net_hs_refuse(oc->peer->net, &oc->tcp, "dialer", "a garbled Hello from node %llu",
				 (unsigned long long)oc->peer->id);
		oc_slower(oc);
		oc_fail(oc);
		return;
	}
	oc_hello(oc, payload, plen);
}

/* A connection to a port of this host where nothing listens can end up
 * connected to itself (TCP simultaneous open: the kernel picked the target
 * port as the ephemeral source port). Frames written into it would be lost
 * while the connection looks up; it is treated as refused instead. */
bool rk_net_self_connected(uv_tcp_t *tcp)
{
	struct sockaddr_storage self, peer;
	int ls = sizeof(self), lp = sizeof(peer);

	memset(&self, 0, sizeof(self));
	memset(&peer, 0, sizeof(peer));
	if (uv_tcp_getsockname(tcp, (struct sockaddr *)&self, &ls) != 0 ||
	    uv_tcp_getpeername(tcp, (struct sockaddr *)&peer, &lp) != 0)
		return false;
	return ls == lp && memcmp(&self, &peer, (size_t)ls) == 0;
}

static void oc_connected(uv_connect_t *req, int status)
{
	struct out_conn *oc = req->data;
	struct rk_net *n = oc->peer->net;
	uv_buf_t b;

	if (oc->state != OC_CONNECTING)
		return; /* closed meanwhile */
	if (status == 0 && rk_net_self_connected(&oc->tcp))
		status = UV_ECONNREFUSED;
	if (status < 0) {
		oc_slower(oc);
		oc_fail(oc);
		return;
	}
	/* Our first Hello goes alone; what is queued waits in pending until
	 * the acceptor has answered and proved itself (oc_hello). */
	oc->state = OC_HANDSHAKE;
	oc->hs_len = 0;
	rk_net_auth_nonce(oc->nonce);
	uv_tcp_nodelay(&oc->tcp, 1);
	uv_read_start((uv_stream_t *)&oc->tcp, oc_alloc, oc_read);
	rk_buf_reset(&oc->inflight);
	oc->inflight_frames = 0;
	if (rk_net_hs_frame(n, oc->peer->id, oc->channel, oc->nonce, RK_NET_DIALER,
			    NULL, &oc->inflight) != 0) {
		oc_fail(oc);
		return;
	}
	b = uv_buf_init(oc->inflight.p, (unsigned)oc->inflight.len);
	oc->wreq.data = oc;
	if (uv_write(&oc->wreq, (uv_stream_t *)&oc->tcp, &b, 1, oc_write_done) != 0) {
		oc_fail(oc);
		return;
	}
	oc->writing = true;
	uv_timer_start(&oc->timer, oc_timer_fired, n->cfg.handshake_ms, 0);
}

static void oc_connect(struct out_conn *oc)
{
	struct rk_net *n = oc->peer->net;
	int rc;

	if (uv_tcp_init(n->loop, &oc->tcp) != 0)
		return;
	n->handles++;
	oc->tcp.data = oc;
	oc->state = OC_CONNECTING;
	oc->creq.data = oc;
	rc = n->bind_src ? uv_tcp_bind(&oc->tcp, (const struct sockaddr *)&n->src, 0) : 0;
	if (rc == 0)
		rc = uv_tcp_connect(&oc->creq, &oc->tcp,
				    (const struct sockaddr *)&oc->peer->addr,
				    oc_connected);
	if (rc != 0) {
		oc->backoff_ms = n->cfg.backoff_max_ms;
		oc_fail(oc);
	}
}

/* ---- incoming connections ---------------------------------------------------------- */

static void in_closed(uv_handle_t *h)
{
	struct in_conn *ic = h->data;
	struct rk_net *n = ic->net;

	if (ic->prev != NULL)
		ic->prev->next = ic->next;
	else
		n->ins = ic->next;
	if (ic->next != NULL)
		ic->next->prev = ic->prev;
	free(ic->buf);
	rk_buf_free(&ic->out);
	free(ic);
	n->handles--;
	if (n->stopping && n->handles == 0)
		finish_stop(n);
}

static void in_close(struct in_conn *ic, bool bad)
{
	if (ic->closing)
		return;
	ic->closing = true;
	if (bad) {
		struct rk_net *n = ic->net;
		uint64_t held;

		n->st.bad_frames++;
		/* Say so (a line a second at most): whoever sent it may be
		 * a client pointed at the peer port by mistake. */
		if (rk_log_limit_pass(&n->bad_log, uv_now(n->loop), 1000, &held)) {
			char who[80], more[48] = "";

			rk_net_remote_name(&ic->tcp, who, sizeof(who));
			if (held > 0)
				snprintf(more, sizeof(more), " (and %llu more not logged)",
					 (unsigned long long)held);
			rk_log_warn("net", "peer port: closed a connection from %s that sent bytes "
				    "that are not %s (only nodes of the cluster talk here; a Redis "
				    "client belongs on --client-addr)%s",
				    who, ic->state == IC_OPEN ? "a valid frame" : "a node's handshake",
				    more);
		}
	}
	uv_close((uv_handle_t *)&ic->tcp, in_closed);
}

static void in_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct in_conn *ic = h->data;

	(void)suggested;
	if (ic->cap - ic->len < READ_CHUNK) {
		/* Grow (doubling) until a whole frame fits; a frame's length is
		 * checked against the limit as soon as its header is in. */
		size_t cap = ic->cap == 0 ? 2 * READ_CHUNK : ic->cap * 2;
		uint8_t *p;
		if (cap > RK_NET_FRAME_MAX + RK_NET_FRAME_HDR + READ_CHUNK)
			cap = RK_NET_FRAME_MAX + RK_NET_FRAME_HDR + READ_CHUNK;
		p = cap > ic->cap ? realloc(ic->buf, cap) : NULL;
		if (p != NULL) {
			ic->buf = p;
			ic->cap = cap;
		}
	}
	*b = uv_buf_init((char *)ic->buf + ic->len, (unsigned)(ic->cap - ic->len));
}

static void in_written(uv_write_t *w, int status)
{
	struct in_conn *ic = w->data;

	if (status < 0)
		in_close(ic, false);
}

/* The dialer's first Hello: check who calls, then answer with ours. */
static bool in_hello(struct in_conn *ic, const struct rk_net_hello *h)
{
	struct rk_net *n = ic->net;
	const char *why = rk_net_hs_problem(n, h, 0);
	uv_buf_t b;

	if (why == NULL && h->nonce_len != RK_NET_NONCE)
		why = "a Hello without a nonce";
	if (why != NULL) {
		rk_net_hs_refuse(n, &ic->tcp, "acceptor",
				 "%s: from node=%llu cluster=%016llx version=%u to node=%llu, this is node=%llu cluster=%016llx",
				 why, (unsigned long long)h->node_id,
				 (unsigned long long)h->cluster_id, h->version,
				 (unsigned long long)h->to_node_id,
				 (unsigned long long)n->cfg.node_id,
				 (unsigned long long)n->cfg.cluster_id);
		return false;
	}
	ic->from = h->node_id;
	ic->channel = (int)h->channel;
	ic->features = h->features;
	ic->t.cluster_id = n->cfg.cluster_id;
	ic->t.dialer = h->node_id;
	ic->t.acceptor = n->cfg.node_id;
	ic->t.channel = h->channel;
	memcpy(ic->t.nonce_d, h->nonce, RK_NET_NONCE);
	rk_net_auth_nonce(ic->t.nonce_a);
	if (rk_net_hs_frame(n, ic->from, ic->channel, ic->t.nonce_a, RK_NET_ACCEPTOR,
			    &ic->t, &ic->out) != 0)
		return false;
	b = uv_buf_init(ic->out.p, (unsigned)ic->out.len);
	ic->wreq.data = ic;
	if (uv_write(&ic->wreq, (uv_stream_t *)&ic->tcp, &b, 1, in_written) != 0)
		return false;
	ic->state = IC_PROOF;
	return true;
}

/* The dialer's last Hello: the same caller, and its proof. */
static bool in_proof(struct in_conn *ic, const struct rk_net_hello *h)
{
	struct rk_net *n = ic->net;
	const char *why = rk_net_hs_problem(n, h, ic->from);

	if (why == NULL && h->channel != (uint32_t)ic->channel)
		why = "a Hello on another channel";
	if (why == NULL)
		(void)rk_net_hs_proof_holds(n, RK_NET_DIALER, &ic->t, h, &why);
	if (why != NULL) {
		rk_net_hs_refuse(n, &ic->tcp, "acceptor", "%s: node=%llu", why,
				 (unsigned long long)ic->from);
		return false;
	}
	ic->state = IC_OPEN;
	return true;
}

enum in_verdict { IN_OK, IN_BAD, IN_REFUSED };

/* Handles one whole frame; anything but IN_OK closes the connection (a
 * refused handshake is counted as refused, not as bad input). */
static enum in_verdict in_frame(struct in_conn *ic, const uint8_t *payload, size_t len)
{
	struct rk_net *n = ic->net;
	struct peer *p;

	if (ic->state != IC_OPEN) {
		struct rk_net_hello h;
		bool ok;
		if (rk_net_hello_decode(payload, len, &h) != 0)
			return IN_BAD;
		ok = ic->state == IC_HELLO ? in_hello(ic, &h) : in_proof(ic, &h);
		return ok ? IN_OK : IN_REFUSED;
	}
	p = rk_net_find_peer(n, ic->from);
	if (p != NULL) {
		p->st.frames_recv++;
		p->st.bytes_recv += len + RK_NET_FRAME_HDR;
	}
	return n->cfg.on_frame == NULL ||
	       n->cfg.on_frame(n->cfg.arg, ic->from, ic->channel, payload, len) == 0
		       ? IN_OK : IN_BAD;
}

static void in_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct in_conn *ic = s->data;
	size_t off = 0;

	(void)b;
	if (nread < 0) {
		in_close(ic, false);
		return;
	}
	ic->len += (size_t)nread;
	while (!ic->closing && !ic->net->stopping) {
		const uint8_t *payload;
		size_t plen, flen;
		enum in_verdict v;
		int rc = rk_net_frame_parse(ic->buf + off, ic->len - off,
					    &payload, &plen, &flen);
		if (rc == RK_EAGAIN)
			break;
		v = rc != 0 ? IN_BAD : in_frame(ic, payload, plen);
		if (v != IN_OK) {
			in_close(ic, v == IN_BAD);
			return;
		}
		off += flen;
	}
	if (off > 0 && !ic->closing) {
		memmove(ic->buf, ic->buf + off, ic->len - off);
		ic->len -= off;
	}
	if (!ic->closing && ic->len == ic->cap &&
	    ic->cap >= RK_NET_FRAME_MAX + RK_NET_FRAME_HDR)
		in_close(ic, true); /* cannot grow: over the frame limit */
	/* A caller that is not a peer sends one small request: it must not
	 * make this node hold a frame of the full limit. */
	if (!ic->closing && ic->channel == RK_NET_CH_JOIN && ic->len > RK_NET_JOIN_FRAME_MAX)
		in_close(ic, true);
}

struct join_reply {
	uv_write_t req;
	struct rk_buf frame;
};

static void join_written(uv_write_t *w, int status)
{
	struct join_reply *r = w->data;

	(void)status; /* a failed answer: the new node reports the closed connection */
	rk_buf_free(&r->frame);
	free(r);
}

/* The open join connection of node from, NULL if none. */
static struct in_conn *join_conn(struct rk_net *n, uint64_t from)
{
	struct in_conn *ic;

	for (ic = n->ins; ic != NULL; ic = ic->next)
		if (!ic->closing && ic->state == IC_OPEN && ic->channel == RK_NET_CH_JOIN &&
		    ic->from == from)
			break;
	return ic;
}

uint32_t rk_net_join_features(struct rk_net *n, uint64_t from)
{
	struct in_conn *ic = join_conn(n, from);

	return ic != NULL ? ic->features : 0;
}

int rk_net_join_reply(struct rk_net *n, uint64_t from, const void *payload, size_t len)
{
	struct in_conn *ic = join_conn(n, from);
	struct join_reply *r;
	uv_buf_t b;

	if (ic == NULL)
		return RK_ENOTFOUND;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return RK_ENOMEM;
	rk_buf_init(&r->frame);
	if (rk_net_frame_append(&r->frame, payload, len) != 0 || r->frame.oom) {
		rk_buf_free(&r->frame);
		free(r);
		return RK_ENOMEM;
	}
	r->req.data = r;
	b = uv_buf_init(r->frame.p, (unsigned)r->frame.len);
	if (uv_write(&r->req, (uv_stream_t *)&ic->tcp, &b, 1, join_written) != 0) {
		rk_buf_free(&r->frame);
		free(r);
		in_close(ic, false);
		return RK_ECONN;
	}
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct rk_net *n = server->data;
	struct in_conn *ic;

	if (status < 0 || n->stopping)
		return;
	ic = calloc(1, sizeof(*ic));
	if (ic == NULL || uv_tcp_init(n->loop, &ic->tcp) != 0) {
		free(ic);
		return;
	}
	n->handles++;
	ic->net = n;
	ic->tcp.data = ic;
	ic->next = n->ins;
	if (n->ins != NULL)
		n->ins->prev = ic;
	n->ins = ic;
	if (uv_accept(server, (uv_stream_t *)&ic->tcp) != 0) {
		in_close(ic, false);
		return;
	}
	n->st.accepted++;
	ic->opened = uv_now(n->loop);
	uv_tcp_nodelay(&ic->tcp, 1);
	uv_read_start((uv_stream_t *)&ic->tcp, in_alloc, in_read);
}

/* A caller that connects and does not finish the handshake within
 * cfg.handshake_ms is closed: it must not hold a connection (and its
 * buffer) for as long as it likes. */
static void on_sweep(uv_timer_t *t)
{
	struct rk_net *n = t->data;
	uint64_t now = uv_now(n->loop);

	for (struct in_conn *ic = n->ins; ic != NULL; ic = ic->next) {
		if (!ic->closing && ic->state != IC_OPEN &&
		    now - ic->opened > n->cfg.handshake_ms) {
			rk_net_hs_refuse(n, &ic->tcp, "acceptor", "no handshake within %u ms",
					 n->cfg.handshake_ms);
			in_close(ic, false);
		}
		/* A join exchange is one request and one answer: a caller
		 * that is not a peer does not keep a connection past it. */
		if (!ic->closing && ic->state == IC_OPEN && ic->channel == RK_NET_CH_JOIN &&
		    now - ic->opened > RK_NET_JOIN_OPEN_MS)
			in_close(ic, false);
	}
}

/* ---- the end-of-turn flush ---------------------------------------------------------- */

static void flush_all(struct rk_net *n)
{
	for (struct peer *p = n->peers; p != NULL; p = p->next)
		for (int c = 0; c < 2; c++)
			oc_write(&p->ch[c]);
}

static void on_prepare(uv_prepare_t *h)
{
	struct rk_net *n = h->data;

	flush_all(n);
	uv_prepare_stop(h);
}

void rk_net_flush(struct rk_net *n)
{
	if (!n->stopping)
		flush_all(n);
}

/* ---- the public calls ---------------------------------------------------------------- */

int rk_net_start(uv_loop_t *loop, const struct rk_net_config *cfg,
		 struct rk_net **np, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct rk_net *n;
	int namelen, rc;

	*np = NULL;
	err[0] = '\0';
	rc = rk_parse_hostport(cfg->listen_addr, 1, &ss);
	if (rc != 0) {
		snprintf(err, errlen, "bad peer address '%s' (want host:port)",
			 cfg->listen_addr);
		return rc;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return RK_ENOMEM;
	if (rk_net_auth_init() != 0) {
		snprintf(err, errlen, "cannot initialise libsodium");
		free(n);
		return RK_EIO;
	}
	n->loop = loop;
	n->cfg = *cfg;
	n->cfg.listen_addr = NULL;
	n->cfg.secret = NULL; /* only its key is kept */
	n->cfg.secret_len = 0;
	if (cfg->secret_len > 0) {
		rk_net_auth_key(cfg->secret, cfg->secret_len, n->key);
		n->has_key = true;
	}
	if (n->cfg.queue_max == 0)
		n->cfg.queue_max = QUEUE_MAX_DEFAULT;
	if (n->cfg.handshake_ms == 0)
		n->cfg.handshake_ms = HANDSHAKE_MS;
	if (n->cfg.backoff_min_ms == 0)
		n->cfg.backoff_min_ms = 50;
	if (n->cfg.backoff_max_ms < n->cfg.backoff_min_ms)
		n->cfg.backoff_max_ms = n->cfg.backoff_min_ms < 2000 ? 2000
					: n->cfg.backoff_min_ms;
	/* Outgoing connections leave from our own peer host (port 0). */
	n->src = ss;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&n->src;
		a->sin_port = 0;
		n->bind_src = a->sin_addr.s_addr != htonl(INADDR_ANY);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&n->src;
		a->sin6_port = 0;
		n->bind_src = memcmp(&a->sin6_addr, &in6addr_any, sizeof(in6addr_any)) != 0;
	}
	uv_tcp_init(loop, &n->listener);
	uv_prepare_init(loop, &n->prep);
	uv_timer_init(loop, &n->sweep);
	n->handles = 3;
	n->sweep.data = n;
	n->listener.data = n;
	n->prep.data = n;
	rc = uv_tcp_bind(&n->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&n->listener, 128, on_connection);
	if (rc == 0)
		uv_timer_start(&n->sweep, on_sweep, n->cfg.handshake_ms / 5 + 1,
			       n->cfg.handshake_ms / 5 + 1);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen_addr,
			 uv_strerror(rc));
		n->free_on_stop = true;
		rk_net_stop(n, NULL, NULL);
		return rk_uv_err(rc);
	}
	namelen = sizeof(ss);
	uv_tcp_getsockname(&n->listener, (struct sockaddr *)&ss, &namelen);
	n->port = ntohs(ss.ss_family == AF_INET
				? ((struct sockaddr_in *)&ss)->sin_port
				: ((struct sockaddr_in6 *)&ss)->sin6_port);
	*np = n;
	return 0;
}

int rk_net_port(const struct rk_net *n)
{
	return n->port;
}

static void simple_closed(uv_handle_t *h)
{
	struct rk_net *n = h->data;

	n->handles--;
	if (n->stopping && n->handles == 0)
		finish_stop(n);
}

void rk_net_stop(struct rk_net *n, void (*done)(void *arg), void *arg)
{
	struct in_conn *ic;

	n->stopping = true;
	n->done = done;
	n->done_arg = arg;
	uv_close((uv_handle_t *)&n->listener, simple_closed);
	uv_close((uv_handle_t *)&n->prep, simple_closed);
	uv_close((uv_handle_t *)&n->sweep, simple_closed);
	for (struct peer *p = n->peers; p != NULL; p = p->next) {
		for (int c = 0; c < 2; c++) {
			struct out_conn *oc = &p->ch[c];
			uv_close((uv_handle_t *)&oc->timer, timer_closed);
			if (oc->state == OC_CONNECTING || oc->state == OC_HANDSHAKE ||
			    oc->state == OC_OPEN ||
			    (oc->state == OC_CLOSING && !uv_is_closing((uv_handle_t *)&oc->tcp)))
				uv_close((uv_handle_t *)&oc->tcp, oc_closed);
		}
	}
	for (ic = n->ins; ic != NULL; ic = ic->next)
		if (!ic->closing) {
			ic->closing = true;
			uv_close((uv_handle_t *)&ic->tcp, in_closed);
		}
}

int rk_net_add_peer(struct rk_net *n, uint64_t node_id, const char *addr)
{
	struct peer *p;
	int rc;

	if (n->stopping)
		return RK_ESTOPPED;
	if (node_id == 0 || node_id == n->cfg.node_id || rk_net_find_peer(n, node_id) != NULL)
		return RK_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return RK_ENOMEM;
	rc = rk_parse_hostport(addr, 1, &p->addr);
	if (rc != 0) {
		free(p);
		return rc;
	}
	p->net = n;
	p->id = node_id;
	p->st.node_id = node_id;
	for (int c = 0; c < 2; c++) {
		struct out_conn *oc = &p->ch[c];
		oc->peer = p;
		oc->channel = c;
		rk_buf_init(&oc->pending);
		rk_buf_init(&oc->inflight);
		uv_timer_init(n->loop, &oc->timer);
		oc->timer.data = oc;
		n->handles++;
	}
	p->next = n->peers;
	n->peers = p;
	oc_connect(&p->ch[RK_NET_CH_RAFT]);
	return 0;
}

int rk_net_send(struct rk_net *n, uint64_t peer, int channel,
		const void *payload, size_t len)
{
	struct peer *p = rk_net_find_peer(n, peer);
	struct out_conn *oc;
	int rc;

	if (n->stopping)
		return RK_ESTOPPED;
	if (p == NULL || channel < 0 || channel > RK_NET_CH_SNAP)
		return RK_ENOTFOUND;
	if (len > RK_NET_FRAME_MAX)
		return RK_ETOOBIG;
	oc = &p->ch[channel];
	if (oc->pending.len + len + RK_NET_FRAME_HDR > n->cfg.queue_max) {
		p->st.dropped++;
		return RK_EBUSY;
	}
	rc = rk_net_frame_append(&oc->pending, payload, len);
	if (rc != 0) {
		p->st.dropped++;
		rk_buf_free(&oc->pending); /* out of memory: start over */
		oc->pending_frames = 0;
		return rc;
	}
	oc->pending_frames++;
	if (oc->state == OC_IDLE)
		oc_connect(oc);
	uv_prepare_start(&n->prep, on_prepare);
	return 0;
}

size_t rk_net_room(const struct rk_net *n, uint64_t peer, int channel)
{
	struct peer *p = rk_net_find_peer(n, peer);
	size_t used;

	if (n->stopping || p == NULL || channel < 0 || channel > RK_NET_CH_SNAP)
		return 0;
	used = p->ch[channel].pending.len + p->ch[channel].inflight.len +
	       RK_NET_FRAME_HDR;
	return used >= n->cfg.queue_max ? 0 : n->cfg.queue_max - used;
}

void rk_net_stats(const struct rk_net *n, struct rk_net_stats *stp)
{
	*stp = n->st;
}

size_t rk_net_peer_stats(const struct rk_net *n, struct rk_net_peer_stats *out,
			 size_t max)
{
	size_t i = 0;

	for (const struct peer *p = n->peers; p != NULL; p = p->next, i++)
		if (i < max)
			out[i] = p->st;
	return i;
}
