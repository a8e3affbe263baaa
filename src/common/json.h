/*
 * A streaming JSON writer for the HTTP API.
 *
 * Byte strings (keys) are written as their people's text (key.h): that text
 * is then a JSON string like any other, so in the raw JSON a '"' appears as
 * \" and the backslash of \xNN as \\ (a JSON parser hands the client the
 * text of key.h).
 */
#ifndef RK_COMMON_JSON_H
#define RK_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "key.h"

#define RK_JSON_MAX_DEPTH 16

struct rk_json {
	struct rk_buf *b;
	int depth;
	bool first[RK_JSON_MAX_DEPTH]; /* nothing written yet at this level */
	bool after_key;
};

void rk_json_init(struct rk_json *j, struct rk_buf *b);
void rk_json_obj_begin(struct rk_json *j);
void rk_json_obj_end(struct rk_json *j);
void rk_json_arr_begin(struct rk_json *j);
void rk_json_arr_end(struct rk_json *j);
void rk_json_key(struct rk_json *j, const char *name);
void rk_json_str(struct rk_json *j, const char *s);
/* A byte string, as its people's text (key.h). */
void rk_json_bytes(struct rk_json *j, const void *p, size_t n);
void rk_json_u64(struct rk_json *j, uint64_t v);
void rk_json_i64(struct rk_json *j, int64_t v);
/* A finite number with that many decimals (rates, averages). */
void rk_json_f64(struct rk_json *j, double v, int decimals);
void rk_json_bool(struct rk_json *j, bool v);
void rk_json_null(struct rk_json *j);

#endif
