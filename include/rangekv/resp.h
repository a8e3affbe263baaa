/*
 * RESP2, the Redis protocol: the request parser of the client port, the
 * reply encoder, and the reply parser the CLI and tests use.
 *
 * The request parser is zero-copy and stateless between calls: it parses
 * from the start of the connection's unconsumed input and either returns a
 * complete command (argument pointers into that input, valid until the
 * caller drops the consumed bytes), asks for more input, or reports a
 * protocol error after which the connection is answered and closed. Bulk
 * payloads are skipped by length, not scanned, so re-parsing a large value
 * that arrives in pieces costs only its headers each time.
 *
 * Limits (the outside contract): a bulk argument over max_bulk, more than
 * max_args arguments, or an inline command over max_inline is a protocol
 * error ("too large"): the reply is an -ERR and the connection is closed;
 * nothing else is disturbed. Keys over 4 KiB and values over 1 MiB within
 * those limits are refused by the command layer with -ERR and the
 * connection stays usable.
 */
#ifndef RANGEKV_RESP_H
#define RANGEKV_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "rangekv/error.h"

#define RK_RESP_MAX_KEY 4096
#define RK_RESP_MAX_VALUE (1024 * 1024)

struct rk_resp_limits {
	size_t max_bulk;   /* bytes of one argument */
	size_t max_args;   /* arguments of one command */
	size_t max_inline; /* bytes of an inline (telnet-style) command line */
};

/* max_bulk 1 MiB + 4 KiB (a value plus slack for MSET pairs is per arg),
 * max_args 1,048,576, max_inline 64 KiB. */
void rk_resp_limits_default(struct rk_resp_limits *l);

struct rk_resp_cmd {
	size_t argc;
	const uint8_t **argv; /* into the input buffer, or into scratch */
	size_t *argl;
	size_t cap;           /* owned arrays, grown as needed */
	/* An inline command's quoted arguments ("a b", 'x', "\x00"),
	 * unescaped: owned, reused by the next parse. */
	uint8_t *scratch;
	size_t scratch_cap;
};

void rk_resp_cmd_init(struct rk_resp_cmd *c);
void rk_resp_cmd_free(struct rk_resp_cmd *c);

/*
 * Parses one command from buf[0..len). Returns 1 with the command in *cmd and
 * *consumedp bytes used; 0 if more input is needed (*consumedp = 0);
 * RK_EPROTO for a malformed request, RK_ETOOBIG for one over the limits,
 * RK_ENOMEM; on errors *errp is a static reply text (without "-ERR ").
 * Empty inline lines are skipped (consumed, no command: returns 0 with
 * *consumedp > 0). An inline command (a line not starting with '*') is split
 * as Redis splits it: blanks between arguments, double quotes with the
 * escapes \xHH \n \r \t \b \a \", single quotes with \' (a quoted
 * argument may be empty); unbalanced quotes are RK_EPROTO. Unlike Redis, a
 * zero byte is an ordinary byte, not the end of the line.
 */
int rk_resp_parse_cmd(const struct rk_resp_limits *lim, const uint8_t *buf,
		      size_t len, size_t *consumedp, struct rk_resp_cmd *cmd,
		      const char **errp);

/* ---- replies (encoder) ------------------------------------------------------ */

/* A growable output buffer for replies. */
struct rk_resp_out {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

void rk_resp_out_init(struct rk_resp_out *o);
void rk_resp_out_free(struct rk_resp_out *o);
void rk_resp_simple(struct rk_resp_out *o, const char *s);   /* +s */
void rk_resp_error(struct rk_resp_out *o, const char *s);    /* -s  */
void rk_resp_int(struct rk_resp_out *o, int64_t v);          /* :v */
void rk_resp_bulk(struct rk_resp_out *o, const void *p, size_t n);
void rk_resp_nil(struct rk_resp_out *o);                     /* $-1 */
void rk_resp_array(struct rk_resp_out *o, size_t n);         /* *n */
/* A command as a client sends it: an array of bulk strings. */
void rk_resp_command(struct rk_resp_out *o, size_t argc,
		     const char *const *argv, const size_t *argl);

/* ---- replies (parser, for clients) ------------------------------------------- */

enum rk_resp_type {
	RK_RESP_SIMPLE = '+',
	RK_RESP_ERROR = '-',
	RK_RESP_INT = ':',
	RK_RESP_BULK = '$',
	RK_RESP_NIL = '_',
	RK_RESP_ARRAY = '*',
};

struct rk_resp_reply {
	int type;
	int64_t integer;
	uint8_t *str; /* SIMPLE, ERROR, BULK: NUL-terminated copy */
	size_t len;
	struct rk_resp_reply *elems; /* ARRAY */
	size_t n;
};

/* Parses one reply (nested arrays up to depth 8). Returns 1 and fills *rp
 * (free with rk_resp_reply_free), 0 if more input is needed, RK_EPROTO for
 * garbage. */
int rk_resp_parse_reply(const uint8_t *buf, size_t len, size_t *consumedp,
			struct rk_resp_reply *rp);
void rk_resp_reply_free(struct rk_resp_reply *r);

#endif /* RANGEKV_RESP_H */
