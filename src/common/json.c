#include "json.h"
#include "key.h"

#include <string.h>

#include "rangekv/error.h"


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

void rk_json_f64(struct rk_json *j, double v, int decimals)
{
	sep(j);
	/* JSON has no NaN or infinity; nothing here produces them, and a
	 * reader gets a number whatever happens. */
	if (!(v == v) || v > 1e300 || v < -1e300)
		v = 0;
	rk_buf_printf(j->b, "%.*f", decimals, v);
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
