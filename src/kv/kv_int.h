/*
 * Private to rk_kv: what apply.c shares with check.c, merge.c and read.c.
 */
#ifndef RK_KV_INT_H
#define RK_KV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv.h"

/* Key order: bytes, then length (an empty bound may be NULL). */
int kv_keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/* RESP replies appended to o: an integer, a bulk string, a nil. */
void kv_reply_int(struct rk_buf *o, int64_t v);
void kv_reply_bulk(struct rk_buf *o, const void *p, size_t n);
void kv_reply_nil(struct rk_buf *o);
/* Appends "-ERR <what> refused: <refused's text>". */
void kv_reply_refused(struct rk_buf *o, const char *what, int refused);
/* Applies the merge command c (merge.c), its reply in o; non-zero fails
 * the entry's apply. */
int kv_apply_merge(struct rk_kv_applier *a, const struct rk_kv_cmd *c,
		   struct rk_buf *o);

/* One pair the overlay holds: table 0 kv, 1 internal; del: a deletion. */
typedef void (*kv_overlay_fn)(void *arg, int table, bool del, const uint8_t *k,
			      size_t kl, const uint8_t *v, size_t vl);
/* Calls fn for every pair of the overlay, in no particular order. */
void kv_overlay_each(const struct rk_kv_overlay *o, kv_overlay_fn fn, void *arg);

#endif
