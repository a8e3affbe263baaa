/*
 * RESP2 parsing and encoding. See include/rangekv/resp.h for the contract.
 */
#include "rangekv/resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest "*<n>\r\n" or "$<n>\r\n" header we look at before calling the
 * input garbage (a 2^40 length has 13 digits). */
#define HDR_MAX 32

void rk_resp_limits_default(struct rk_resp_limits *l)
{
	l->max_bulk = RK_RESP_MAX_VALUE + RK_RESP_MAX_KEY;
	l->max_args = 1024 * 1024;
	l->max_inline = 64 * 1024;
}

void rk_resp_cmd_init(struct rk_resp_cmd *c)
{
	memset(c, 0, sizeof(*c));
}

void rk_resp_cmd_free(struct rk_resp_cmd *c)
{
	free(c->argv);
	free(c->argl);
	free(c->scratch);
	memset(c, 0, sizeof(*c));
}

static int cmd_reserve(struct rk_resp_cmd *c, size_t n)
{
	const uint8_t **av;
	size_t *al, ncap;

	if (n <= c->cap)
		return 0;
	ncap = c->cap == 0 ? 8 : c->cap;
	while (ncap < n)
		ncap *= 2;
	av = realloc(c->argv, ncap * sizeof(*av));
	if (av == NULL)
		return RK_ENOMEM;
	c->argv = av;
	al = realloc(c->argl, ncap * sizeof(*al));
	if (al == NULL)
		return RK_ENOMEM;
	c->argl = al;
	c->cap = ncap;
	return 0;
}

/*
 * Reads "<prefix><integer>\r\n" at buf. Returns 1 with *vp and *endp (just
 * past the CRLF), 0 if incomplete, RK_EPROTO if malformed. An optional '-'
 * and at most 19 digits of a value within int64_t are accepted: an integer reply
 * (INCRBY's, say) may take all 19 digits; lengths are bounded by the
 * callers.
 */
static int read_header(const uint8_t *buf, size_t len, int64_t *vp,
		       size_t *endp)
{
	size_t i = 1, digits = 0;
	int neg = 0;
	uint64_t v = 0, max;

	if (i < len && buf[i] == '-') {
		neg = 1;
		i++;
	}
	max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		unsigned d = (unsigned)(buf[i] - '0');

		/* At most 19 digits, leading zeros counted: a header is
		 * then refused at the same byte whether it came whole or in
		 * pieces (within HDR_MAX). */
		if (++digits > 19 || v > (max - d) / 10)
			return RK_EPROTO;
		v = v * 10 + d;
	}
	if (i >= len)
		return len > HDR_MAX ? RK_EPROTO : 0;
	if (digits == 0 || buf[i] != '\r')
		return RK_EPROTO;
	if (i + 1 >= len)
		return 0;
	if (buf[i + 1] != '\n')
		return RK_EPROTO;
	if (!neg)
		*vp = (int64_t)v;
	else
		*vp = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	*endp = i + 2;
	return 1;
}

static int parse_multibulk(const struct rk_resp_limits *lim, const uint8_t *buf,
			   size_t len, size_t *consumedp, struct rk_resp_cmd *cmd,
			   const char **errp)
{
	int64_t n, bl;
	size_t pos, end, i;
	int rc;

	rc = read_header(buf, len, &n, &end);
	if (rc <= 0) {
		if (rc < 0)
			*errp = "Protocol error: invalid multibulk length";
		return rc;
	}
	if (n < -1) {
		*errp = "Protocol error: invalid multibulk length";
		return RK_EPROTO;
	}
	if (n <= 0) { /* *0 and *-1: nothing to do, like Redis */
		*consumedp = end;
		return 0;
	}
	if ((uint64_t)n > lim->max_args) {
		*errp = "Protocol error: too many arguments";
		return RK_ETOOBIG;
	}
	pos = end;
	for (i = 0; i < (size_t)n; i++) {
		if (pos >= len)
			return 0;
		if (buf[pos] != '$') {
			*errp = "Protocol error: expected '$'";
			return RK_EPROTO;
		}
		rc = read_header(buf + pos, len - pos, &bl, &end);
		if (rc <= 0) {
			if (rc < 0)
				*errp = "Protocol error: invalid bulk length";
			return rc;
		}
		if (bl < 0) {
			*errp = "Protocol error: invalid bulk length";
			return RK_EPROTO;
		}
		if ((uint64_t)bl > lim->max_bulk) {
			*errp = "Protocol error: argument over the 1 MiB value limit";
			return RK_ETOOBIG;
		}
		pos += end;
		if (len - pos < (size_t)bl + 2)
			return 0;
		if (buf[pos + (size_t)bl] != '\r' || buf[pos + (size_t)bl + 1] != '\n') {
			*errp = "Protocol error: bulk not followed by CRLF";
			return RK_EPROTO;
		}
		pos += (size_t)bl + 2;
	}
	/* Complete: now fill the arguments (a second, cheap pass). */
	if (cmd_reserve(cmd, (size_t)n) != 0) {
		*errp = "out of memory";
		return RK_ENOMEM;
	}
	(void)read_header(buf, len, &n, &end);
	pos = end;
	for (i = 0; i < (size_t)n; i++) {
		(void)read_header(buf + pos, len - pos, &bl, &end);
		pos += end;
		cmd->argv[i] = buf + pos;
		cmd->argl[i] = (size_t)bl;
		pos += (size_t)bl + 2;
	}
	cmd->argc = (size_t)n;
	*consumedp = pos;
	return 1;
}

/* ---- inline commands --------------------------------------------------------------- */

/* Redis splits an inline line with sdssplitargs: blanks between arguments
 * are isspace() (so a lone \r separates too), a token ends at a space, tab,
 * CR or LF, and double or single quotes may start anywhere in one. */
static bool inline_space(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool token_end(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static int hex_val(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static const char ERR_QUOTES[] = "Protocol error: unbalanced quotes in request";

/* One token with quotes, from buf[*ip] (line bytes in all), unescaped into
 * out as sdssplitargs does: in "..." the escapes \xHH \n \r \t \b \a and
 * \<any> for that byte; in '...' only \' ; a closing quote must be followed
 * by a blank or the end of the line. Sets *ip past the token and returns
 * its length, or -1 for unbalanced quotes. */
static ptrdiff_t unquote(const uint8_t *buf, size_t line, size_t *ip, uint8_t *out)
{
	size_t i = *ip, n = 0;
	int q = 0; /* the open quote, or 0 */

	for (;;) {
		if (q == 0) {
			if (i == line || token_end(buf[i]))
				break;
			if (buf[i] == '"' || buf[i] == '\'')
				q = buf[i];
			else
				out[n++] = buf[i];
			i++;
			continue;
		}
		if (i == line)
			return -1; /* unterminated */
		if (buf[i] == q) {
			if (i + 1 < line && !inline_space(buf[i + 1]))
				return -1;
			i++;
			break; /* the token ends with its closing quote */
		}
		if (q == '"' && buf[i] == '\\' && i + 3 < line && buf[i + 1] == 'x' &&
		    hex_val(buf[i + 2]) >= 0 && hex_val(buf[i + 3]) >= 0) {
			out[n++] = (uint8_t)(hex_val(buf[i + 2]) * 16 + hex_val(buf[i + 3]));
			i += 4;
		} else if (q == '"' && buf[i] == '\\' && i + 1 < line) {
			static const char from[] = "nrtba", to[] = "\n\r\t\b\a";
			const char *e = memchr(from, buf[i + 1], 5);
			out[n++] = e != NULL ? (uint8_t)to[e - from] : buf[i + 1];
			i += 2;
		} else if (q == '\'' && buf[i] == '\\' && i + 1 < line && buf[i + 1] == '\'') {
			out[n++] = '\'';
			i += 2;
		} else {
			out[n++] = buf[i++];
		}
	}
	*ip = i;
	return (ptrdiff_t)n;
}

static int parse_inline(const struct rk_resp_limits *lim, const uint8_t *buf,
			size_t len, size_t *consumedp, struct rk_resp_cmd *cmd,
			const char **errp)
{
	const uint8_t *nl = memchr(buf, '\n', len);
	size_t line, i, argc = 0, used = 0;

	if (nl == NULL) {
		if (len > lim->max_inline) {
			*errp = "Protocol error: too big inline request";
			return RK_ETOOBIG;
		}
		return 0;
	}
	line = (size_t)(nl - buf);
	if (line > lim->max_inline) {
		*errp = "Protocol error: too big inline request";
		return RK_ETOOBIG;
	}
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	for (i = 0; i < line;) {
		size_t j;

		while (i < line && inline_space(buf[i]))
			i++;
		if (i == line)
			break;
		if (argc + 1 > lim->max_args) {
			*errp = "Protocol error: too many arguments";
			return RK_ETOOBIG;
		}
		if (cmd_reserve(cmd, argc + 1) != 0) {
			*errp = "out of memory";
			return RK_ENOMEM;
		}
		for (j = i; j < line && !token_end(buf[j]) && buf[j] != '"' && buf[j] != '\''; j++)
			;
		if (j == line || token_end(buf[j])) {
			/* No quote: the argument is the input's own bytes. */
			cmd->argv[argc] = buf + i;
			cmd->argl[argc] = j - i;
			i = j;
		} else {
			/* Unescaped into the command's scratch, sized once for
			 * the whole line (a token never grows) so that the
			 * arguments already there stay put. */
			ptrdiff_t n;
			if (cmd->scratch_cap < line) {
				uint8_t *p = realloc(cmd->scratch, line);
				if (p == NULL) {
					*errp = "out of memory";
					return RK_ENOMEM;
				}
				cmd->scratch = p;
				cmd->scratch_cap = line;
			}
			n = unquote(buf, line, &i, cmd->scratch + used);
			if (n < 0) {
				*errp = ERR_QUOTES;
				return RK_EPROTO;
			}
			cmd->argv[argc] = cmd->scratch + used;
			cmd->argl[argc] = (size_t)n;
			used += (size_t)n;
		}
		argc++;
	}
	*consumedp = (size_t)(nl - buf) + 1;
	cmd->argc = argc;
	return argc > 0 ? 1 : 0;
}

int rk_resp_parse_cmd(const struct rk_resp_limits *lim, const uint8_t *buf,
		      size_t len, size_t *consumedp, struct rk_resp_cmd *cmd,
		      const char **errp)
{
	*consumedp = 0;
	*errp = NULL;
	cmd->argc = 0;
	if (len == 0)
		return 0;
	if (buf[0] == '*')
		return parse_multibulk(lim, buf, len, consumedp, cmd, errp);
	return parse_inline(lim, buf, len, consumedp, cmd, errp);
}

/* ---- encoder ------------------------------------------------------------------- */

void rk_resp_out_init(struct rk_resp_out *o)
{
	memset(o, 0, sizeof(*o));
}

void rk_resp_out_free(struct rk_resp_out *o)
{
	free(o->p);
	memset(o, 0, sizeof(*o));
}

static void out_put(struct rk_resp_out *o, const void *p, size_t n)
{
	if (o->oom || n == 0)
		return;
	if (o->len + n > o->cap) {
		size_t ncap = o->cap == 0 ? 256 : o->cap;
		uint8_t *np;
		while (ncap < o->len + n)
			ncap *= 2;
		np = realloc(o->p, ncap);
		if (np == NULL) {
			o->oom = 1;
			return;
		}
		o->p = np;
		o->cap = ncap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void out_line(struct rk_resp_out *o, char type, const char *s)
{
	size_t i, n = strlen(s);

	out_put(o, &type, 1);
	/* A reply line must not contain CR or LF: replace them. */
	for (i = 0; i < n; i++) {
		char c = (s[i] == '\r' || s[i] == '\n') ? ' ' : s[i];
		out_put(o, &c, 1);
	}
	out_put(o, "\r\n", 2);
}

static void out_num(struct rk_resp_out *o, char type, int64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%c%lld\r\n", type, (long long)v);

	out_put(o, tmp, (size_t)n);
}

void rk_resp_simple(struct rk_resp_out *o, const char *s)
{
	out_line(o, '+', s);
}

void rk_resp_error(struct rk_resp_out *o, const char *s)
{
	out_line(o, '-', s);
}

void rk_resp_int(struct rk_resp_out *o, int64_t v)
{
	out_num(o, ':', v);
}

void rk_resp_bulk(struct rk_resp_out *o, const void *p, size_t n)
{
	out_num(o, '$', (int64_t)n);
	out_put(o, p, n);
	out_put(o, "\r\n", 2);
}

void rk_resp_nil(struct rk_resp_out *o)
{
	out_put(o, "$-1\r\n", 5);
}

void rk_resp_array(struct rk_resp_out *o, size_t n)
{
	out_num(o, '*', (int64_t)n);
}

void rk_resp_command(struct rk_resp_out *o, size_t argc,
		     const char *const *argv, const size_t *argl)
{
	size_t i;

	rk_resp_array(o, argc);
	for (i = 0; i < argc; i++)
		rk_resp_bulk(o, argv[i], argl != NULL ? argl[i] : strlen(argv[i]));
}

/* ---- reply parser -------------------------------------------------------------- */

void rk_resp_reply_free(struct rk_resp_reply *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		rk_resp_reply_free(&r->elems[i]);
	free(r->elems);
	free(r->str);
	memset(r, 0, sizeof(*r));
}

static int parse_reply(const uint8_t *buf, size_t len, size_t *usedp,
		       struct rk_resp_reply *r, int depth)
{
	const uint8_t *crlf;
	int64_t v;
	size_t end, pos, i, used;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return 0;
	if (depth > 8)
		return RK_EPROTO;
	switch (buf[0]) {
	case '+':
	case '-':
		crlf = memchr(buf, '\n', len);
		if (crlf == NULL)
			return 0;
		if (crlf == buf || crlf[-1] != '\r')
			return RK_EPROTO;
		r->type = buf[0];
		r->len = (size_t)(crlf - buf) - 2;
		r->str = malloc(r->len + 1);
		if (r->str == NULL)
			return RK_ENOMEM;
		memcpy(r->str, buf + 1, r->len);
		r->str[r->len] = '\0';
		*usedp = (size_t)(crlf - buf) + 1;
		return 1;
	case ':':
		rc = read_header(buf, len, &v, &end);
		if (rc <= 0)
			return rc;
		r->type = RK_RESP_INT;
		r->integer = v;
		*usedp = end;
		return 1;
	case '$':
		rc = read_header(buf, len, &v, &end);
		if (rc <= 0)
			return rc;
		if (v == -1) {
			r->type = RK_RESP_NIL;
			*usedp = end;
			return 1;
		}
		if (v < 0 || v > 512 * 1024 * 1024)
			return RK_EPROTO;
		if (len - end < (size_t)v + 2)
			return 0;
		if (buf[end + (size_t)v] != '\r' || buf[end + (size_t)v + 1] != '\n')
			return RK_EPROTO;
		r->type = RK_RESP_BULK;
		r->len = (size_t)v;
		r->str = malloc(r->len + 1);
		if (r->str == NULL)
			return RK_ENOMEM;
		memcpy(r->str, buf + end, r->len);
		r->str[r->len] = '\0';
		*usedp = end + (size_t)v + 2;
		return 1;
	case '*':
		rc = read_header(buf, len, &v, &end);
		if (rc <= 0)
			return rc;
		if (v == -1) {
			r->type = RK_RESP_NIL;
			*usedp = end;
			return 1;
		}
		if (v < 0 || v > 16 * 1024 * 1024)
			return RK_EPROTO;
		r->type = RK_RESP_ARRAY;
		if (v > 0 && (size_t)v > len - end)
			return 0; /* each element needs at least a byte */
		r->elems = calloc(v > 0 ? (size_t)v : 1, sizeof(*r->elems));
		if (r->elems == NULL)
			return RK_ENOMEM;
		pos = end;
		for (i = 0; i < (size_t)v; i++) {
			rc = parse_reply(buf + pos, len - pos, &used, &r->elems[i],
					 depth + 1);
			if (rc <= 0) {
				r->n = i;
				rk_resp_reply_free(r);
				return rc;
			}
			r->n = i + 1;
			pos += used;
		}
		*usedp = pos;
		return 1;
	default:
		return RK_EPROTO;
	}
}

int rk_resp_parse_reply(const uint8_t *buf, size_t len, size_t *consumedp,
			struct rk_resp_reply *rp)
{
	int rc;

	*consumedp = 0;
	rc = parse_reply(buf, len, consumedp, rp, 0);
	if (rc <= 0) {
		*consumedp = 0;
		rk_resp_reply_free(rp);
	}
	return rc;
}
