#include "key.h"

#include <string.h>

#include "rangekv/error.h"

static const char hexd[] = "0123456789abcdef";

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

int rk_key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	/* An empty key may come as NULL (a descriptor's unbounded start):
	 * memcmp must not see it even for 0 bytes. */
	int c = m > 0 ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}


bool rk_key_spans_meet(const void *as, size_t asl, const void *ae, size_t ael,
		       const void *bs, size_t bsl, const void *be, size_t bel)
{
	bool a_before = ael != 0 && rk_key_cmp(ae, ael, bs, bsl) <= 0;
	bool b_before = bel != 0 && rk_key_cmp(be, bel, as, asl) <= 0;

	return !a_before && !b_before;
}
