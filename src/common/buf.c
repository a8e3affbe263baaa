#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rk_buf_init(struct rk_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void rk_buf_free(struct rk_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void rk_buf_reset(struct rk_buf *b)
{
	b->len = 0;
	b->oom = false;
}

static bool reserve(struct rk_buf *b, size_t extra)
{
	size_t ncap;
	char *np;

	if (b->oom)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	ncap = b->cap == 0 ? 256 : b->cap;
	while (ncap < b->len + extra + 1) {
		if (ncap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		ncap *= 2;
	}
	np = realloc(b->p, ncap);
	if (np == NULL) {
		b->oom = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void rk_buf_append(struct rk_buf *b, const void *p, size_t n)
{
	if (n == 0 || !reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void *rk_buf_extend(struct rk_buf *b, size_t n)
{
	void *p;

	if (!reserve(b, n))
		return NULL;
	p = b->p + b->len;
	b->len += n;
	return p;
}

void rk_buf_puts(struct rk_buf *b, const char *s)
{
	rk_buf_append(b, s, strlen(s));
}

void rk_buf_putc(struct rk_buf *b, char c)
{
	rk_buf_append(b, &c, 1);
}

void rk_buf_vprintf(struct rk_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void rk_buf_printf(struct rk_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rk_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *rk_buf_cstr(struct rk_buf *b)
{
	if (!reserve(b, 0))
		return "";
	b->p[b->len] = '\0';
	return b->p;
}

int rk_grow(void **vp, size_t *capp, size_t n, size_t elem)
{
	size_t cap;
	void *p;

	if (n < *capp)
		return 0;
	cap = *capp ? 2 * *capp : 16;
	while (cap <= n)
		cap *= 2;
	p = realloc(*vp, cap * elem);
	if (p == NULL)
		return -1;
	*vp = p;
	*capp = cap;
	return 0;
}
