/*
 * Fuzz target resp_reply: rk_resp_parse_reply, the reply parser the CLI and
 * the tests use on what a server sends back.
 *
 * Properties, for every reply of the pipelined input:
 *  - the return code is 1, 0, RK_EPROTO or RK_ENOMEM; on anything but 1
 *    nothing was consumed and the reply is empty (nothing to free);
 *  - a parsed reply consumed 1..size bytes and is a well-formed tree: known
 *    types, NUL-terminated strings of the stated length, no LF in a simple
 *    string or error, element arrays present, no node deeper than 8;
 *  - re-encoding it with the encoder (rk_resp_simple/error/int/bulk/nil/
 *    array) gives at most as many bytes as were consumed, parses back to
 *    the same value and re-encodes to the same bytes. The encoder's one
 *    documented change is applied to the expectation: simple strings and
 *    errors end at a NUL and have CR/LF replaced by spaces;
 *  - incremental parsing: a prefix (every one of the first 64 bytes, and
 *    those around the consumed length) that yields a final answer (a reply
 *    or an error) yields exactly the answer of the whole input, and the
 *    prefix of the consumed length yields the reply.
 */
#include <string.h>

#include "rangekv/resp.h"

#include "fuzz.h"

#define PREFIX_ALL 64
#define PIPELINE_MAX 64
#define MAX_DEPTH 8

static void check_tree(const struct rk_resp_reply *r, int depth)
{
	size_t i;

	FUZZ_CHECK(depth <= MAX_DEPTH);
	switch (r->type) {
	case RK_RESP_SIMPLE:
	case RK_RESP_ERROR:
	case RK_RESP_BULK:
		FUZZ_CHECK(r->str != NULL && r->str[r->len] == '\0');
		FUZZ_CHECK(r->elems == NULL && r->n == 0);
		if (r->type != RK_RESP_BULK)
			FUZZ_CHECK(memchr(r->str, '\n', r->len) == NULL);
		break;
	case RK_RESP_INT:
	case RK_RESP_NIL:
		FUZZ_CHECK(r->str == NULL && r->elems == NULL && r->n == 0);
		break;
	case RK_RESP_ARRAY:
		FUZZ_CHECK(r->str == NULL && r->elems != NULL);
		for (i = 0; i < r->n; i++)
			check_tree(&r->elems[i], depth + 1);
		break;
	default:
		FUZZ_CHECK(!"unknown reply type");
	}
}

/*
 * a == b, where b went through the encoder once when `encoded` is set: its
 * simple strings and errors are then a's as the encoder writes a line (up to
 * the first NUL, CR and LF replaced by spaces).
 */
static int same_value(const struct rk_resp_reply *a,
		      const struct rk_resp_reply *b, int encoded)
{
	size_t i, n;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case RK_RESP_SIMPLE:
	case RK_RESP_ERROR:
		if (!encoded)
			return a->len == b->len &&
			       memcmp(a->str, b->str, a->len) == 0;
		n = strlen((const char *)a->str);
		if (b->len != n)
			return 0;
		for (i = 0; i < n; i++) {
			uint8_t c = a->str[i];
			if (c == '\r' || c == '\n')
				c = ' ';
			if (b->str[i] != c)
				return 0;
		}
		return 1;
	case RK_RESP_BULK:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case RK_RESP_INT:
		return a->integer == b->integer;
	case RK_RESP_NIL:
		return 1;
	case RK_RESP_ARRAY:
		if (a->n != b->n)
			return 0;
		for (i = 0; i < a->n; i++)
			if (!same_value(&a->elems[i], &b->elems[i], encoded))
				return 0;
		return 1;
	default:
		return 0;
	}
}

static void encode(struct rk_resp_out *o, const struct rk_resp_reply *r)
{
	size_t i;

	switch (r->type) {
	case RK_RESP_SIMPLE:
		rk_resp_simple(o, (const char *)r->str);
		break;
	case RK_RESP_ERROR:
		rk_resp_error(o, (const char *)r->str);
		break;
	case RK_RESP_INT:
		rk_resp_int(o, r->integer);
		break;
	case RK_RESP_BULK:
		rk_resp_bulk(o, r->str, r->len);
		break;
	case RK_RESP_NIL:
		rk_resp_nil(o);
		break;
	case RK_RESP_ARRAY:
		rk_resp_array(o, r->n);
		for (i = 0; i < r->n; i++)
			encode(o, &r->elems[i]);
		break;
	default:
		FUZZ_CHECK(!"unknown reply type");
	}
}

static int is_empty(const struct rk_resp_reply *r)
{
	return r->type == 0 && r->str == NULL && r->elems == NULL &&
	       r->n == 0 && r->len == 0 && r->integer == 0;
}

static void check_result(size_t len, int rc, size_t consumed,
			 const struct rk_resp_reply *r)
{
	FUZZ_CHECK(rc == 1 || rc == 0 || rc == RK_EPROTO || rc == RK_ENOMEM);
	if (rc != 1) {
		FUZZ_CHECK(consumed == 0);
		FUZZ_CHECK(is_empty(r));
		return;
	}
	FUZZ_CHECK(consumed >= 1 && consumed <= len);
	check_tree(r, 0);
}

static void check_reencode(size_t consumed, const struct rk_resp_reply *r)
{
	struct rk_resp_out o, o2;
	struct rk_resp_reply back;
	size_t used;
	int rc;

	rk_resp_out_init(&o);
	rk_resp_out_init(&o2);
	encode(&o, r);
	if (o.oom)
		goto out;
	FUZZ_CHECK(o.len <= consumed);
	rc = rk_resp_parse_reply(o.p, o.len, &used, &back);
	if (rc == RK_ENOMEM)
		goto out;
	FUZZ_CHECK(rc == 1);
	FUZZ_CHECK(used == o.len);
	FUZZ_CHECK(same_value(r, &back, 1));
	encode(&o2, &back);
	rk_resp_reply_free(&back);
	if (o2.oom)
		goto out;
	FUZZ_CHECK(o2.len == o.len && memcmp(o2.p, o.p, o.len) == 0);
out:
	rk_resp_out_free(&o2);
	rk_resp_out_free(&o);
}

static void check_prefix(const uint8_t *buf, size_t k, int rc_full,
			 size_t consumed_full,
			 const struct rk_resp_reply *full)
{
	struct rk_resp_reply pre;
	size_t consumed;
	int rc;

	rc = rk_resp_parse_reply(buf, k, &consumed, &pre);
	check_result(k, rc, consumed, &pre);
	if (rc != RK_ENOMEM && rc_full != RK_ENOMEM) {
		if (rc != 0) {
			FUZZ_CHECK(rc == rc_full && consumed == consumed_full);
			if (rc == 1)
				FUZZ_CHECK(same_value(full, &pre, 0));
		}
		if (rc_full == 1 && k == consumed_full)
			FUZZ_CHECK(rc == 1);
	}
	rk_resp_reply_free(&pre);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_resp_reply r;
	size_t pos = 0, consumed, k;
	int n, rc;

	for (n = 0; n < PIPELINE_MAX && pos < size; n++) {
		const uint8_t *buf = data + pos;
		size_t len = size - pos;

		rc = rk_resp_parse_reply(buf, len, &consumed, &r);
		check_result(len, rc, consumed, &r);
		if (n == 0) {
			for (k = 0; k <= len && k <= PREFIX_ALL; k++)
				check_prefix(buf, k, rc, consumed, &r);
			for (k = consumed > 1 ? consumed - 1 : 0;
			     k <= consumed + 1 && k <= len; k++)
				if (k > PREFIX_ALL)
					check_prefix(buf, k, rc, consumed, &r);
		}
		if (rc == 1)
			check_reencode(consumed, &r);
		rk_resp_reply_free(&r);
		if (rc != 1)
			break;
		pos += consumed;
	}
	return 0;
}
