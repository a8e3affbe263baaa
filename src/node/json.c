#include "json.h"

#include <string.h>

#include "rangekv/error.h"

static const char hexd[] = "0123456789abcdef";

void rk_json_init(struct rk_json *j, struct rk_buf *b)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
	j->first[0] = true;
}

/* Separator before a value (or a key) at the current level. */
static void sep(struct rk_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		rk_buf_putc(j->b, ',');
	j->first[j->depth] = false;
}

static void open(struct rk_json *j, char c)
{
	sep(j);
	rk_buf_putc(j->b, c);
	if (j->depth + 1 < RK_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct rk_json *j, char c)
{
	rk_buf_putc(j->b, c);
	if (j->depth > 0)
		j->depth--;
}

void rk_json_obj_begin(struct rk_json *j)
{
	open(j, '{');
}

void rk_json_obj_end(struct rk_json *j)
{
	close_(j, '}');
}

void rk_json_arr_begin(struct rk_json *j)
{
	open(j, '[');
}

void rk_json_arr_end(struct rk_json *j)
{
	close_(j, ']');
}

/* JSON string body of text whose bytes are all 0x20..0x7e. */
static void quoted_text(struct rk_buf *b, const char *s, size_t n)
{
	size_t i;

	rk_buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			rk_buf_putc(b, '\\');
			rk_buf_putc(b, (char)c);
		} else if (c < 0x20 || c > 0x7e) {
			rk_buf_printf(b, "\\u%04x", c);
		} else {
			rk_buf_putc(b, (char)c);
		}
	}
	rk_buf_putc(b, '"');
}

void rk_json_key(struct rk_json *j, const char *name)
{
	sep(j);
	quoted_text(j->b, name, strlen(name));
	rk_buf_putc(j->b, ':');
	j->after_key = true;
}

void rk_json_str(struct rk_json *j, const char *s)
{
	sep(j);
	quoted_text(j->b, s, strlen(s));
}

void rk_key_escape(struct rk_buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '\\') {
			rk_buf_putc(out, (char)s[i]);
		} else {
			char e[4] = {'\\', 'x', hexd[s[i] >> 4], hexd[s[i] & 15]};
			rk_buf_append(out, e, 4);
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int rk_key_unescape(const char *s, size_t n, struct rk_buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\') {
			int hi, lo;
			if (i + 3 >= n || s[i + 1] != 'x')
				return RK_EINVAL;
			hi = hexval(s[i + 2]);
			lo = hexval(s[i + 3]);
			if (hi < 0 || lo < 0)
				return RK_EINVAL;
			rk_buf_putc(out, (char)(hi << 4 | lo));
			i += 3;
		} else {
			rk_buf_putc(out, s[i]);
		}
	}
	return out->oom ? RK_ENOMEM : 0;
}

void rk_json_bytes(struct rk_json *j, const void *p, size_t n)
{
	struct rk_buf t;

	rk_buf_init(&t);
	rk_key_escape(&t, p, n);
	sep(j);
	quoted_text(j->b, t.p == NULL ? "" : t.p, t.len);
	rk_buf_free(&t);
}

void rk_json_u64(struct rk_json *j, uint64_t v)
{
	sep(j);
	rk_buf_printf(j->b, "%llu", (unsigned long long)v);
}

void rk_json_i64(struct rk_json *j, int64_t v)
{
	sep(j);
	rk_buf_printf(j->b, "%lld", (long long)v);
}

void rk_json_bool(struct rk_json *j, bool v)
{
	sep(j);
	rk_buf_puts(j->b, v ? "true" : "false");
}

void rk_json_null(struct rk_json *j)
{
	sep(j);
	rk_buf_puts(j->b, "null");
}
