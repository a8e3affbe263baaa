/*
 * A growable byte buffer: the one way rangekv builds replies, JSON and
 * metrics text. Appends never fail silently: on allocation failure the
 * buffer remembers it (oom) and later appends are no-ops, so a caller
 * checks once at the end.
 */
#ifndef RK_COMMON_BUF_H
#define RK_COMMON_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rk_buf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

void rk_buf_init(struct rk_buf *b);
void rk_buf_free(struct rk_buf *b);
void rk_buf_reset(struct rk_buf *b); /* len = 0, keeps the memory */
void rk_buf_append(struct rk_buf *b, const void *p, size_t n);
/* Appends n bytes for the caller to fill; NULL (and oom) on failure. */
void *rk_buf_extend(struct rk_buf *b, size_t n);
void rk_buf_puts(struct rk_buf *b, const char *s);
void rk_buf_putc(struct rk_buf *b, char c);
void rk_buf_printf(struct rk_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void rk_buf_vprintf(struct rk_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Makes p NUL-terminated (not counted in len); returns p or "" on oom. */
const char *rk_buf_cstr(struct rk_buf *b);

/* Makes room for element n of a growable array of elem-byte elements
 * (doubling from 16); *vp and *capp are updated. RK_ENOMEM (-1) on failure,
 * the array left as it was. */
int rk_grow(void **vp, size_t *capp, size_t n, size_t elem);

#endif
