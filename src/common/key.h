/*
 * Keys as people read and type them (docs/contract.md), and the byte
 * order of keys.
 *
 * Bytes 0x20-0x7e other than '\' stand for themselves; every other byte,
 * and '\', is the four characters \xNN (lowercase hex when written, either
 * case when read). The HTTP API's JSON strings, the CLI's tables and
 * --split-at all use this text.
 */
#ifndef RK_COMMON_KEY_H
#define RK_COMMON_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the people's text of the byte string p[0..n) to out. */
void rk_key_escape(struct rk_buf *out, const void *p, size_t n);

/* Inverse of rk_key_escape: \xNN (hex, either case) is a byte, anything
 * else stands for itself. RK_EINVAL for a truncated or non-hex escape,
 * RK_ENOMEM if out could not grow. */
int rk_key_unescape(const char *s, size_t n, struct rk_buf *out);

/* memcmp order; shorter first on a common prefix (byte order of keys). */
int rk_key_cmp(const void *a, size_t al, const void *b, size_t bl);

/* Whether the spans [as, ae) and [bs, be) share a key; an empty end is
 * unbounded. */
bool rk_key_spans_meet(const void *as, size_t asl, const void *ae, size_t ael,
		       const void *bs, size_t bsl, const void *be, size_t bel);

#endif
