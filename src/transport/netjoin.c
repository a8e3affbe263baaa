/*
 * The join exchange's messages and the new node's side of it (netjoin.h).
 * The member's side is the transport's accepting side (net.c) and the
 * node's join module (src/node/join.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "netjoin.h"
#include "le.h"
#include "net_int.h"
#include "uv_error.h"

#define REQ_TAG 'J'
#define ANS_TAG 'A'

/* ---- messages ------------------------------------------------------------------- */

static void put_str(struct rk_buf *out, struct rk_net_str s)
{
	uint8_t l[4];

	rk_le_put32(l, (uint32_t)s.len);
	rk_buf_append(out, l, 4);
	if (s.len > 0)
		rk_buf_append(out, s.p, s.len);
}

static void put_u64(struct rk_buf *out, uint64_t v)
{
	uint8_t b[8];

	rk_le_put64(b, v);
	rk_buf_append(out, b, 8);
}

static void put_head(struct rk_buf *out, char tag)
{
	uint8_t h[2] = {(uint8_t)tag, RK_NET_JOIN_VERSION};

	rk_buf_append(out, h, 2);
}

/* A reader over a payload: every get fails once anything did. */
struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint64_t get_n(struct rd *r, size_t n)
{
	uint64_t v;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return 0;
	}
	v = rk_le_get(r->p + r->off, (int)n);
	r->off += n;
	return v;
}

static struct rk_net_str get_str(struct rd *r)
{
	struct rk_net_str s = {NULL, 0};
	uint64_t l = get_n(r, 4);

	if (r->bad || r->len - r->off < l) {
		r->bad = true;
		return s;
	}
	s.p = (const char *)r->p + r->off;
	s.len = (size_t)l;
	r->off += (size_t)l;
	return s;
}

static bool get_head(struct rd *r, char tag)
{
	return get_n(r, 1) == (uint8_t)tag && get_n(r, 1) == RK_NET_JOIN_VERSION && !r->bad;
}

static int finish(struct rd *r)
{
	return r->bad || r->off != r->len ? RK_EPROTO : 0;
}

int rk_net_join_req_encode(const struct rk_net_join_req *q, struct rk_buf *out)
{
	put_head(out, REQ_TAG);
	put_u64(out, q->node_id);
	put_str(out, q->peer);
	put_str(out, q->client);
	put_str(out, q->http);
	put_str(out, q->settings);
	return out->oom ? RK_ENOMEM : 0;
}

int rk_net_join_req_decode(const uint8_t *p, size_t len, struct rk_net_join_req *qp)
{
	struct rd r = {p, len, 0, false};

	memset(qp, 0, sizeof(*qp));
	if (!get_head(&r, REQ_TAG))
		return RK_EPROTO;
	qp->node_id = get_n(&r, 8);
	qp->peer = get_str(&r);
	qp->client = get_str(&r);
	qp->http = get_str(&r);
	qp->settings = get_str(&r);
	if (finish(&r) != 0) {
		memset(qp, 0, sizeof(*qp));
		return RK_EPROTO;
	}
	return 0;
}

int rk_net_join_ans_encode(const struct rk_net_join_ans *a, struct rk_buf *out)
{
	put_head(out, ANS_TAG);
	{
		uint8_t b[4];
		rk_le_put32(b, (uint32_t)a->rc);
		rk_buf_append(out, b, 4);
	}
	put_str(out, a->msg);
	put_u64(out, a->member);
	put_u64(out, a->cluster_id);
	put_str(out, a->cluster);
	put_str(out, a->cut);
	put_str(out, a->replicas);
	put_str(out, a->settings);
	put_str(out, a->nodes);
	if (a->group.len > 0)
		put_str(out, a->group);
	return out->oom ? RK_ENOMEM : 0;
}

int rk_net_join_ans_decode(const uint8_t *p, size_t len, struct rk_net_join_ans *ap)
{
	struct rd r = {p, len, 0, false};

	memset(ap, 0, sizeof(*ap));
	if (!get_head(&r, ANS_TAG))
		return RK_EPROTO;
	ap->rc = (int32_t)(uint32_t)get_n(&r, 4);
	ap->msg = get_str(&r);
	ap->member = get_n(&r, 8);
	ap->cluster_id = get_n(&r, 8);
	ap->cluster = get_str(&r);
	ap->cut = get_str(&r);
	ap->replicas = get_str(&r);
	ap->settings = get_str(&r);
	ap->nodes = get_str(&r);
	/* Optional (netjoin.h); never encoded empty, so that a message has
	 * one encoding. */
	if (!r.bad && r.off < r.len && (ap->group = get_str(&r)).len == 0)
		r.bad = true;
	if (finish(&r) != 0) {
		memset(ap, 0, sizeof(*ap));
		return RK_EPROTO;
	}
	return 0;
}

int rk_net_str_copy(struct rk_net_str s, char *dst, size_t cap)
{
	if (cap == 0 || s.len >= cap || (s.len > 0 && memchr(s.p, '\0', s.len) != NULL)) {
		if (cap > 0)
			dst[0] = '\0';
		return RK_EPROTO;
	}
	if (s.len > 0)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}

/* ---- the new node's side: a blocking exchange ----------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* err = "--join ADDR: " what [": " detail], returns rc. */
static int fail(char *err, size_t errlen, int rc, const char *addr, const char *what,
		const char *detail)
{
	snprintf(err, errlen, "--join %s: %s%s%s", addr, what, detail != NULL ? ": " : "",
		 detail != NULL ? detail : "");
	return rc;
}

/* A connected socket to o->addr by deadline (ms, now_ms's clock), trying
 * again every 200 ms while refused; -1 with *whyp (errno's text). */
static int dial(const struct rk_net_join_opts *o, const struct sockaddr_storage *to,
		uint64_t deadline, const char **whyp)
{
	struct sockaddr_storage src;
	bool bind_src = o->src_host != NULL;

	*whyp = "timed out";
	if (bind_src) {
		char hp[96];
		snprintf(hp, sizeof(hp), "%s:0", o->src_host);
		bind_src = rk_parse_hostport(hp, 1, &src) == 0;
	}
	for (;;) {
		int fd = socket(to->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		socklen_t sl = to->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							: sizeof(struct sockaddr_in6);
		uint64_t now = now_ms();
		struct pollfd pf;
		int soerr = 0, rc;
		socklen_t el = sizeof(soerr);

		if (fd < 0) {
			*whyp = strerror(errno);
			return -1;
		}
		if (bind_src && src.ss_family == to->ss_family)
			(void)bind(fd, (struct sockaddr *)&src, sl);
		rc = connect(fd, (const struct sockaddr *)to, sl);
		if (rc != 0 && errno == EINPROGRESS) {
			pf.fd = fd;
			pf.events = POLLOUT;
			rc = poll(&pf, 1, now >= deadline ? 0 : (int)(deadline - now));
			if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) == 0 &&
			    soerr == 0) {
				rc = 0;
			} else {
				errno = rc == 0 ? ETIMEDOUT : soerr != 0 ? soerr : ECONNREFUSED;
				rc = -1;
			}
		}
		if (rc == 0) {
			int one = 1;
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		*whyp = strerror(errno != 0 ? errno : ETIMEDOUT);
		close(fd);
		if (now_ms() + 200 >= deadline)
			return -1;
		usleep(200 * 1000);
	}
}

static int send_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 0) {
		ssize_t w = send(fd, b, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pf = {fd, POLLOUT, 0};
			(void)poll(&pf, 1, 1000);
			continue;
		}
		if (w <= 0)
			return RK_ECONN;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The next whole frame's payload into *payloadp (pointing into in) by
 * deadline: RK_ECONN (closed), RK_ETIMEDOUT, RK_EPROTO. in keeps what
 * follows it; *usedp is the frame's length. */
static int recv_frame(int fd, struct rk_buf *in, uint64_t deadline, const uint8_t **payloadp,
		      size_t *plenp, size_t *usedp)
{
	for (;;) {
		int rc = rk_net_frame_parse((const uint8_t *)in->p, in->len, payloadp, plenp, usedp);
		uint64_t now = now_ms();
		struct pollfd pf = {fd, POLLIN, 0};
		uint8_t *dst;
		ssize_t got;

		if (rc != RK_EAGAIN)
			return rc;
		if (now >= deadline)
			return RK_ETIMEDOUT;
		rc = poll(&pf, 1, (int)(deadline - now));
		if (rc == 0)
			return RK_ETIMEDOUT;
		if (rc < 0 && errno == EINTR)
			continue;
		if ((dst = rk_buf_extend(in, 65536)) == NULL)
			return RK_ENOMEM;
		got = recv(fd, dst, 65536, 0);
		in->len -= 65536 - (got > 0 ? (size_t)got : 0);
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			return RK_ECONN;
	}
}

static void consume(struct rk_buf *in, size_t used)
{
	memmove(in->p, in->p + used, in->len - used);
	in->len -= used;
}

/* The member's Hello answering ours: checked as a dialer checks a peer's,
 * but for the cluster id (learned here) and the node id (any member). */
static int check_member(const struct rk_net_join_opts *o, const uint8_t *key,
			const struct rk_net_hello *h, struct rk_net_transcript *t,
			char *err, size_t errlen)
{
	const char *why = NULL;

	if (h->version != RK_NET_VERSION)
		why = "speaks another wire version";
	else if (h->channel != RK_NET_CH_JOIN || h->to_node_id != o->node_id ||
		 h->node_id == 0 || h->cluster_id == 0 || h->nonce_len != RK_NET_NONCE)
		why = "sent a Hello that is not a join answer";
	if (why != NULL)
		return fail(err, errlen, RK_EFOREIGN, o->addr, "the member", why);
	t->cluster_id = h->cluster_id;
	t->acceptor = h->node_id;
	memcpy(t->nonce_a, h->nonce, RK_NET_NONCE);
	/* The texts of rk_net_hs_proof_check are an acceptor's view: said
	 * here from the new node's. */
	if (!rk_net_hs_proof_check(key, RK_NET_ACCEPTOR, t, h, &why))
		return fail(err, errlen, RK_EFOREIGN, o->addr, "the member is not trusted",
			    key == NULL ? "it proves a cluster secret and this node has none (--cluster-secret-file)"
			    : h->proof_len == 0 ? "it has no cluster secret and this node has one"
						: "its proof does not match: another --cluster-secret-file");
	return 0;
}

/* The handshake, the request and the answer on connected socket fd. */
static int exchange(int fd, const struct rk_net_join_opts *o, const uint8_t *key,
		    const struct rk_net_join_req *req, struct rk_buf *answerp, char *err,
		    size_t errlen)
{
	struct rk_net_transcript t;
	struct rk_net_hello h;
	struct rk_buf out, in, body;
	const uint8_t *pl;
	size_t plen, used;
	uint64_t deadline = now_ms() + 5000;
	int rc;

	memset(&t, 0, sizeof(t));
	t.dialer = o->node_id;
	t.channel = RK_NET_CH_JOIN;
	rk_net_auth_nonce(t.nonce_d);
	rk_buf_init(&out);
	rk_buf_init(&in);
	rk_buf_init(&body);
	rc = rk_net_hs_frame_by(o->node_id, 0, key, 0, RK_NET_CH_JOIN, t.nonce_d, RK_NET_DIALER,
				NULL, o->features, &out);
	if (rc == 0)
		rc = send_all(fd, out.p, out.len);
	if (rc == 0)
		rc = recv_frame(fd, &in, deadline, &pl, &plen, &used);
	if (rc != 0) {
		rc = fail(err, errlen, rc == RK_ETIMEDOUT ? RK_ETIMEDOUT : RK_ECONN, o->addr,
			  "the member closed the connection or did not answer the handshake "
			  "(see its log: another --cluster-secret-file, or none?)", rk_strerror(rc));
		goto out;
	}
	if (rk_net_hello_decode(pl, plen, &h) != 0) {
		rc = fail(err, errlen, RK_EFOREIGN, o->addr,
			  "the address does not answer like a rangekv node's peer address", NULL);
		goto out;
	}
	consume(&in, used);
	if ((rc = check_member(o, key, &h, &t, err, errlen)) != 0)
		goto out;
	rk_buf_reset(&out);
	rc = rk_net_hs_frame_by(o->node_id, 0, key, h.node_id, RK_NET_CH_JOIN, NULL,
				RK_NET_DIALER, &t, o->features, &out);
	if (rc == 0)
		rc = rk_net_join_req_encode(req, &body);
	if (rc == 0)
		rc = rk_net_frame_append(&out, body.p, body.len);
	if (rc == 0)
		rc = send_all(fd, out.p, out.len);
	if (rc == 0)
		rc = recv_frame(fd, &in, now_ms() + o->answer_ms, &pl, &plen, &used);
	if (rc == 0) {
		rk_buf_append(answerp, pl, plen);
		rc = answerp->oom ? RK_ENOMEM : 0;
	} else {
		rc = fail(err, errlen, rc == RK_ETIMEDOUT ? RK_ETIMEDOUT : RK_ECONN, o->addr,
			  "no answer to the join request: the member refused the handshake (see its "
			  "log: another --cluster-secret-file?) or stopped", rk_strerror(rc));
	}
out:
	rk_buf_free(&out);
	rk_buf_free(&in);
	rk_buf_free(&body);
	return rc;
}

int rk_net_join_call(const struct rk_net_join_opts *o, const struct rk_net_join_req *req,
		     struct rk_buf *answerp, char *err, size_t errlen)
{
	struct sockaddr_storage to;
	uint8_t key[RK_NET_KEY];
	const char *why;
	char secs[16];
	int fd, rc;

	if (rk_parse_hostport(o->addr, 0, &to) != 0)
		return fail(err, errlen, RK_EADDR, o->addr, "not HOST:PORT", NULL);
	if (rk_net_auth_init() != 0)
		return fail(err, errlen, RK_EIO, o->addr, "cannot initialise libsodium", NULL);
	if (o->secret_len > 0)
		rk_net_auth_key(o->secret, o->secret_len, key);
	fd = dial(o, &to, now_ms() + o->connect_ms, &why);
	if (fd < 0) {
		snprintf(secs, sizeof(secs), "%u", (o->connect_ms + 999) / 1000);
		snprintf(err, errlen, "--join %s: cannot connect to the member (%s, tried for %s s): "
			 "is it a live node's --peer-addr?", o->addr, why, secs);
		memset(key, 0, sizeof(key));
		return RK_ECONN;
	}
	rc = exchange(fd, o, o->secret_len > 0 ? key : NULL, req, answerp, err, errlen);
	close(fd);
	memset(key, 0, sizeof(key));
	return rc;
}
