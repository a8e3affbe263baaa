/*
 * Blocking-style client sockets for the CLI: non-blocking descriptors
 * driven by poll() against one absolute deadline, so no call can hang past
 * --timeout however the node misbehaves. One RESP round trip at a time, and
 * minimal HTTP/1.0 requests (`demo`'s readiness checks, the inspection
 * verbs, the admin calls) that carry the admin token when one is
 * configured.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "secret.h"

/* The admin token: --admin-token-file, else $RANGEKV_ADMIN_TOKEN_FILE. */
static const char *token_path;
static bool token_read;
static uint8_t token[RK_SECRET_MAX];
static size_t token_len;

void rk_cli_admin_token_file(const char *path)
{
	token_path = path;
	token_read = false;
	token_len = 0;
}

/* Loads the token once (0 with token_len 0 when none is configured). */
static int load_token(char *err, size_t errlen)
{
	const char *path = token_path, *flag = "--admin-token-file";
	bool open_to_others;
	int rc;

	if (token_read)
		return 0;
	if (path == NULL) {
		path = getenv("RANGEKV_ADMIN_TOKEN_FILE");
		flag = "RANGEKV_ADMIN_TOKEN_FILE";
	}
	if (path == NULL || *path == '\0') {
		token_read = true;
		return 0;
	}
	rc = rk_secret_read(flag, path, token, &token_len, &open_to_others, err, errlen);
	if (rc == 0 && !rk_secret_is_token(token, token_len)) {
		snprintf(err, errlen, "%s: %s holds a space or control character", flag, path);
		token_len = 0;
		rc = RK_EINVAL;
	}
	if (rc != 0)
		return rc;
	if (open_to_others)
		fprintf(stderr, "rangekv: warning: %s %s can be read by its group or others (chmod 600 it)\n",
			flag, path);
	token_read = true;
	return 0;
}

int64_t rk_cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool rk_cli_parse_timeout(const char *s, int64_t *msp)
{
	char *end;
	double sec = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(sec > 0 && sec <= 86400))
		return false;
	*msp = (int64_t)(sec * 1000) > 0 ? (int64_t)(sec * 1000) : 1;
	return true;
}

/* 0 when fd is ready for events, RK_ETIMEDOUT past the deadline. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		int64_t left = deadline - rk_cli_now_ms();
		int n;

		if (left <= 0)
			return RK_ETIMEDOUT;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return RK_ECONN;
	}
}

/* "host:port" or "[v6]:port" into its parts; the port must be 1-65535. */
static int split_addr(const char *addr, char *host, size_t hl, char *port,
		      size_t pl)
{
	const char *colon, *h = addr;
	size_t n;
	char *end;
	long p;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return RK_EADDR;
		h = addr + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			return RK_EADDR; /* none, or an IPv6 address without [] */
		n = (size_t)(colon - addr);
	}
	if (n == 0 || n >= hl || strlen(colon + 1) >= pl)
		return RK_EADDR;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    p < 1 || p > 65535)
		return RK_EADDR;
	memcpy(host, h, n);
	host[n] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fdp)
{
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	*fdp = -1;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			rc = errno;
			close(fd);
			return rc;
		}
		if (wait_fd(fd, POLLOUT, deadline) != 0) {
			close(fd);
			return ETIMEDOUT;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			close(fd);
			return soerr != 0 ? soerr : ECONNREFUSED;
		}
	}
	*fdp = fd;
	return 0;
}

int rk_cli_connect(struct rk_cli_conn *c, const char *addr, int64_t deadline,
		   char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	int e, sys = ECONNREFUSED;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) != 0) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", addr);
		return RK_EADDR;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(e));
		return RK_ECONN;
	}
	for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next)
		sys = connect_one(ai, deadline, &c->fd);
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", addr,
			 sys == ETIMEDOUT ? "timed out" : strerror(sys));
		return sys == ETIMEDOUT ? RK_ETIMEDOUT : RK_ECONN;
	}
	return 0;
}

void rk_cli_close(struct rk_cli_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static int send_all(struct rk_cli_conn *c, const void *p, size_t n,
		    int64_t deadline, char *err, size_t errlen)
{
	const uint8_t *b = p;

	while (n > 0) {
		/* MSG_NOSIGNAL: a node that hung up is an error, not SIGPIPE. */
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(c->fd, POLLOUT, deadline) != 0) {
				snprintf(err, errlen, "%s: timed out sending", c->addr);
				return RK_ETIMEDOUT;
			}
		} else {
			snprintf(err, errlen, "%s: %s", c->addr, strerror(errno));
			return RK_ECONN;
		}
	}
	return 0;
}

/* Reads what has arrived into c->in: the byte count, 0 at end of stream,
 * or an error. */
static ssize_t recv_more(struct rk_cli_conn *c, int64_t deadline, char *err,
			 size_t errlen)
{
	for (;;) {
		ssize_t r;

		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 131072;
			uint8_t *p = realloc(c->in, cap);
			if (p == NULL) {
				snprintf(err, errlen, "%s", rk_strerror(RK_ENOMEM));
				return RK_ENOMEM;
			}
			c->in = p;
			c->cap = cap;
		}
		r = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
		if (r >= 0) {
			c->len += (size_t)r;
			return r;
		}
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "%s: %s", c->addr, strerror(errno));
			return RK_ECONN;
		}
		if (wait_fd(c->fd, POLLIN, deadline) != 0) {
			snprintf(err, errlen, "%s: no reply within the timeout", c->addr);
			return RK_ETIMEDOUT;
		}
	}
}

/*
 * Length of the complete reply at the start of b, 0 if more is needed,
 * RK_EPROTO if it is not RESP. It walks headers and skips bulk payloads by
 * length: the reply parser copies every string, so calling it after each
 * read of a large KRANGE page would cost the square of the page's size;
 * this costs its element count, and the parser then runs once.
 */
static int64_t reply_len(const uint8_t *b, size_t len, int depth)
{
	const uint8_t *nl;
	long long n;
	size_t hdr, pos;
	char *end;

	if (len == 0)
		return 0;
	if (depth > 8)
		return RK_EPROTO;
	nl = memchr(b, '\n', len);
	if (nl == NULL)
		return 0;
	hdr = (size_t)(nl - b) + 1;
	if (b[0] == '+' || b[0] == '-' || b[0] == ':')
		return (int64_t)hdr;
	if (b[0] != '$' && b[0] != '*')
		return RK_EPROTO;
	/* The '\n' found above stops strtoll inside the buffer. */
	errno = 0;
	n = strtoll((const char *)b + 1, &end, 10);
	if (end == (const char *)b + 1 || *end != '\r' || errno != 0 ||
	    n > 512 * 1024 * 1024)
		return RK_EPROTO;
	if (n < 0) /* nil */
		return (int64_t)hdr;
	if (b[0] == '$')
		return len - hdr < (size_t)n + 2 ? 0 : (int64_t)(hdr + (size_t)n + 2);
	for (pos = hdr; n > 0; n--) {
		int64_t r = reply_len(b + pos, len - pos, depth + 1);
		if (r <= 0)
			return r;
		pos += (size_t)r;
	}
	return (int64_t)pos;
}

int rk_cli_call(struct rk_cli_conn *c, size_t argc, const char *const *argv,
		const size_t *argl, int64_t deadline, struct rk_resp_reply *rp,
		char *err, size_t errlen)
{
	struct rk_resp_out o;
	size_t used;
	int64_t n;
	int rc;

	memset(rp, 0, sizeof(*rp));
	rk_resp_out_init(&o);
	rk_resp_command(&o, argc, argv, argl);
	if (o.oom) {
		rk_resp_out_free(&o);
		snprintf(err, errlen, "%s", rk_strerror(RK_ENOMEM));
		return RK_ENOMEM;
	}
	rc = send_all(c, o.p, o.len, deadline, err, errlen);
	rk_resp_out_free(&o);
	if (rc != 0)
		return rc;
	while ((n = reply_len(c->in, c->len, 0)) == 0) {
		ssize_t r = recv_more(c, deadline, err, errlen);
		if (r < 0)
			return (int)r;
		if (r == 0) {
			snprintf(err, errlen, "%s closed the connection", c->addr);
			return RK_ECONN;
		}
	}
	if (n < 0 || rk_resp_parse_reply(c->in, (size_t)n, &used, rp) != 1) {
		snprintf(err, errlen, "%s: the reply is not RESP", c->addr);
		return RK_EPROTO;
	}
	memmove(c->in, c->in + used, c->len - used);
	c->len -= used;
	return 0;
}

/* The value of header name (with its ':') in head, or -1. */
static long long header_num(const char *head, const char *name)
{
	const char *h = strcasestr(head, name);

	return h == NULL ? -1 : strtoll(h + strlen(name), NULL, 10);
}

int rk_cli_http_get(const char *addr, const char *path, int64_t deadline,
		    struct rk_buf *body, int *statusp, char *err, size_t errlen)
{
	return rk_cli_http(addr, "GET", path, deadline, body, statusp, err, errlen);
}

int rk_cli_http(const char *addr, const char *method, const char *path,
		int64_t deadline, struct rk_buf *body, int *statusp, char *err,
		size_t errlen)
{
	struct rk_cli_conn c;
	struct rk_buf req;
	long long clen = -1;
	size_t head = 0;
	int rc;

	*statusp = 0;
	rc = load_token(err, errlen);
	if (rc != 0)
		return rc;
	rc = rk_cli_connect(&c, addr, deadline, err, errlen);
	if (rc != 0)
		return rc;
	rk_buf_init(&req);
	rk_buf_printf(&req, "%s %s HTTP/1.0\r\nHost: %s\r\n", method, path, addr);
	if (token_len > 0) {
		rk_buf_puts(&req, "Authorization: Bearer ");
		rk_buf_append(&req, token, token_len);
		rk_buf_puts(&req, "\r\n");
	}
	rk_buf_puts(&req, strcmp(method, "GET") == 0 ? "\r\n" : "Content-Length: 0\r\n\r\n");
	rc = req.oom ? RK_ENOMEM : send_all(&c, req.p, req.len, deadline, err, errlen);
	if (req.p != NULL)
		memset(req.p, 0, req.len); /* the token */
	rk_buf_free(&req);
	/* HTTP/1.0: the node answers with a Content-Length and closes. Stop at
	 * whichever comes first. */
	while (rc == 0) {
		ssize_t r;

		/* Not a node's HTTP port (a RESP port answers "-ERR unknown
		 * command 'GET'" and waits for more): say so at once. */
		if (c.len > 0 && memcmp(c.in, "HTTP/1.", c.len < 7 ? c.len : 7) != 0)
			break;
		if (head == 0 && c.len > 0) {
			const uint8_t *sep = memmem(c.in, c.len, "\r\n\r\n", 4);
			if (sep != NULL) {
				head = (size_t)(sep - c.in) + 4;
				c.in[head - 1] = '\0'; /* header_num scans the head only */
				clen = header_num((const char *)c.in, "\ncontent-length:");
			}
		}
		if (head > 0 && clen >= 0 && c.len - head >= (size_t)clen)
			break;
		r = recv_more(&c, deadline, err, errlen);
		if (r < 0)
			rc = (int)r;
		else if (r == 0)
			break;
	}
	if (rc == 0 && (head == 0 || c.len < 12 || memcmp(c.in, "HTTP/1.", 7) != 0)) {
		snprintf(err, errlen, "%s: not an HTTP reply%s", addr,
			 c.len > 0 && (c.in[0] == '-' || c.in[0] == '+') ?
			 " (a RESP port? the HTTP API is on the node's --http-addr)" : "");
		rc = RK_EPROTO;
	}
	if (rc == 0) {
		*statusp = atoi((const char *)c.in + 9);
		rk_buf_append(body, c.in + head,
			      clen >= 0 && (size_t)clen < c.len - head ? (size_t)clen : c.len - head);
	}
	rk_cli_close(&c);
	return rc;
}
