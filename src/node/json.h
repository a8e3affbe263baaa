/*
 * A streaming JSON writer for the HTTP API, and the key escaping of the
 * outside contract.
 *
 * Keys (and other byte strings) are shown to people as text: bytes 0x20-0x7e
 * other than '\' stand for themselves, every other byte and '\' become the
 * four characters \xNN (lowercase hex). That text is then a JSON string like
 * any other, so in the raw JSON a '"' appears as \" and the backslash of
 * \xNN as \\ (a JSON parser hands the client the text above).
 */
#ifndef RK_NODE_JSON_H
#define RK_NODE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

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
/* A byte string, escaped as described above. */
void rk_json_bytes(struct rk_json *j, const void *p, size_t n);
void rk_json_u64(struct rk_json *j, uint64_t v);
void rk_json_i64(struct rk_json *j, int64_t v);
void rk_json_bool(struct rk_json *j, bool v);
void rk_json_null(struct rk_json *j);

/* The people's text of a byte string (no JSON quoting). */
void rk_key_escape(struct rk_buf *out, const void *p, size_t n);
/* Inverse of rk_key_escape, also used for --split-at keys: \xNN (hex,
 * either case) is a byte, anything else stands for itself. RK_EINVAL for a
 * truncated or non-hex escape. */
int rk_key_unescape(const char *s, size_t n, struct rk_buf *out);

#endif
