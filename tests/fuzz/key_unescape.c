/*
 * Fuzz target key_unescape: rk_key_unescape (src/common/key.h), which reads
 * keys people type (--split-at at start, keys in HTTP requests), and its
 * inverse rk_key_escape on the same bytes.
 *
 * Properties:
 *  - the input is accepted exactly when every '\' starts "\xNN" with two
 *    hex digits (either case), checked against an independent decoder, and
 *    the output is that decoder's output; it is never longer than the
 *    input, and input without '\' comes out unchanged;
 *  - escape(unescape(s)) unescapes back to unescape(s), and is the
 *    canonical text: escaping is a fixed point after one round;
 *  - escape(input) is printable ASCII only, 1 or 4 characters per byte as
 *    the contract says, and unescapes to the input.
 */
#include <string.h>

#include "key.h"
#include "rangekv/error.h"

#include "fuzz.h"

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The contract's decoding, written independently. Returns the length or -1. */
static long ref_unescape(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 4 || s[i + 1] != 'x' || hex(s[i + 2]) < 0 ||
		    hex(s[i + 3]) < 0)
			return -1;
		out[o++] = (uint8_t)(hex(s[i + 2]) * 16 + hex(s[i + 3]));
		i += 3;
	}
	return (long)o;
}

static int buf_is(const struct rk_buf *b, const void *p, size_t n)
{
	return b->len == n && (n == 0 || memcmp(b->p, p, n) == 0);
}

static void check_escape(const uint8_t *data, size_t size)
{
	struct rk_buf e, u;
	size_t i, want = 0;

	rk_buf_init(&e);
	rk_buf_init(&u);
	rk_key_escape(&e, data, size);
	if (e.oom)
		goto out;
	for (i = 0; i < size; i++)
		want += (data[i] >= 0x20 && data[i] <= 0x7e && data[i] != '\\')
				? 1 : 4;
	FUZZ_CHECK(e.len == want);
	for (i = 0; i < e.len; i++)
		FUZZ_CHECK(e.p[i] >= 0x20 && e.p[i] <= 0x7e);
	if (rk_key_unescape(e.p, e.len, &u) == RK_ENOMEM)
		goto out;
	FUZZ_CHECK(!u.oom && buf_is(&u, data, size));
out:
	rk_buf_free(&u);
	rk_buf_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_buf u, e, u2, e2;
	uint8_t *ref;
	long rlen;
	int rc;

	ref = malloc(size + 1);
	if (ref == NULL)
		return 0;
	rk_buf_init(&u);
	rk_buf_init(&e);
	rk_buf_init(&u2);
	rk_buf_init(&e2);

	rlen = ref_unescape(data, size, ref);
	rc = rk_key_unescape((const char *)data, size, &u);
	FUZZ_CHECK(rc == 0 || rc == RK_EINVAL || rc == RK_ENOMEM);
	if (rc == RK_ENOMEM)
		goto out;
	FUZZ_CHECK((rc == 0) == (rlen >= 0));
	if (rc != 0)
		goto out;
	FUZZ_CHECK(!u.oom && buf_is(&u, ref, (size_t)rlen));
	FUZZ_CHECK(u.len <= size);
	if (memchr(data, '\\', size) == NULL)
		FUZZ_CHECK(buf_is(&u, data, size));

	/* One round makes the text canonical. */
	rk_key_escape(&e, u.p, u.len);
	if (e.oom)
		goto out;
	rc = rk_key_unescape(e.p, e.len, &u2);
	if (rc == RK_ENOMEM)
		goto out;
	FUZZ_CHECK(rc == 0 && buf_is(&u2, u.p, u.len));
	rk_key_escape(&e2, u2.p, u2.len);
	if (e2.oom)
		goto out;
	FUZZ_CHECK(buf_is(&e2, e.p, e.len));
out:
	check_escape(data, size);
	rk_buf_free(&e2);
	rk_buf_free(&u2);
	rk_buf_free(&e);
	rk_buf_free(&u);
	free(ref);
	return 0;
}
