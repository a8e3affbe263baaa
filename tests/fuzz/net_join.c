/*
 * Fuzz target net_join: the join exchange's messages
 * (src/transport/netjoin.h), the one payload a node that is not a peer may
 * send a member (the request), and what the new node trusts from the
 * member (the answer).
 *
 * Properties, for the input read as a request and as an answer:
 *  - decoding is 0 or RK_EPROTO; on RK_EPROTO the result is all zero;
 *  - every string of a decoded message lies inside the input;
 *  - what decodes re-encodes to exactly the input (the format has one
 *    encoding), and every shorter prefix of it is RK_EPROTO, but for an
 *    answer's without its optional last field (the group's nodes);
 *  - rk_net_str_copy of each string either fails or gives the same bytes,
 *    NUL-terminated.
 */
#include <string.h>

#include "netjoin.h"

#include "fuzz.h"

static void check_str(const uint8_t *data, size_t size, struct rk_net_str s)
{
	char buf[128];

	if (s.len > 0)
		FUZZ_CHECK((const uint8_t *)s.p >= data &&
			   (const uint8_t *)s.p + s.len <= data + size);
	if (rk_net_str_copy(s, buf, sizeof(buf)) == 0)
		FUZZ_CHECK(strlen(buf) == s.len && (s.len == 0 || memcmp(buf, s.p, s.len) == 0));
}

static void check_req(const uint8_t *data, size_t size)
{
	struct rk_net_join_req q, zero;
	struct rk_buf b;
	int rc = rk_net_join_req_decode(data, size, &q);

	memset(&zero, 0, sizeof(zero));
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	if (rc != 0) {
		FUZZ_CHECK(memcmp(&q, &zero, sizeof(q)) == 0);
		return;
	}
	check_str(data, size, q.peer);
	check_str(data, size, q.client);
	check_str(data, size, q.http);
	check_str(data, size, q.settings);
	rk_buf_init(&b);
	if (rk_net_join_req_encode(&q, &b) == 0)
		FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
	rk_buf_free(&b);
	for (size_t l = size > 64 ? size - 64 : 0; l < size; l++)
		FUZZ_CHECK(rk_net_join_req_decode(data, l, &q) == RK_EPROTO);
}

static void check_ans(const uint8_t *data, size_t size)
{
	struct rk_net_join_ans a, zero;
	struct rk_buf b;
	size_t without;
	int rc = rk_net_join_ans_decode(data, size, &a);

	memset(&zero, 0, sizeof(zero));
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	if (rc != 0) {
		FUZZ_CHECK(memcmp(&a, &zero, sizeof(a)) == 0);
		return;
	}
	check_str(data, size, a.msg);
	check_str(data, size, a.cluster);
	check_str(data, size, a.cut);
	check_str(data, size, a.replicas);
	check_str(data, size, a.settings);
	check_str(data, size, a.nodes);
	check_str(data, size, a.group); /* {NULL, 0} when left out */
	/* The answer of a member of an earlier release: the same one, cut
	 * before the group's nodes. */
	without = a.group.len > 0 ? size - 4 - a.group.len : size;
	rk_buf_init(&b);
	if (rk_net_join_ans_encode(&a, &b) == 0)
		FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
	rk_buf_free(&b);
	for (size_t l = size > 64 ? size - 64 : 0; l < size; l++)
		FUZZ_CHECK(rk_net_join_ans_decode(data, l, &a) == (l == without ? 0 : RK_EPROTO));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_req(data, size);
	check_ans(data, size);
	return 0;
}
