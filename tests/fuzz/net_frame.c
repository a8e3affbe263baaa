/*
 * Fuzz target net_frame: the transport's frame parser and Hello decoder
 * (src/transport/codec.h), the first code that sees the bytes another node
 * (or anyone who connects to the peer port) sends.
 *
 * Properties:
 *  - the input read as a stream of frames (what a connection does with its
 *    read buffer): each answer of rk_net_frame_parse is the one an
 *    independent reading of the header gives (RK_EAGAIN below 4 bytes or
 *    below the whole frame, RK_EPROTO for a length over RK_NET_FRAME_MAX or
 *    a checksum that does not match, else the frame); a frame's payload is
 *    the bytes after the header; appending that payload again
 *    (rk_net_frame_append) gives the identical frame; every shorter prefix
 *    of a frame is RK_EAGAIN. The first frame's payload is decoded as a
 *    Hello, the others as Batches (without handlers);
 *  - the input as a Hello payload: decoding is 0 or RK_EPROTO, and what
 *    decodes re-encodes to bytes that decode to the same Hello and
 *    re-encode identically;
 *  - the input as a payload framed by rk_net_frame_append parses back to
 *    exactly that payload (libFuzzer cannot forge checksums; this way the
 *    payload path is reached from any input).
 */
#include <string.h>

#include <xxhash.h>

#include "codec.h"

#include "fuzz.h"

#define FRAMES_MAX 64
#define PREFIX_ALL 16

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* What rk_net_frame_parse must answer for buf[0..len). */
static int expect_frame(const uint8_t *buf, size_t len, size_t *flenp)
{
	uint64_t plen;

	*flenp = 0;
	if (len < 4)
		return RK_EAGAIN;
	plen = le(buf, 4);
	if (plen > RK_NET_FRAME_MAX)
		return RK_EPROTO;
	if (len < RK_NET_FRAME_HDR + plen)
		return RK_EAGAIN;
	if (XXH3_64bits(buf + RK_NET_FRAME_HDR, (size_t)plen) != le(buf + 4, 8))
		return RK_EPROTO;
	*flenp = RK_NET_FRAME_HDR + (size_t)plen;
	return 0;
}

static int parse(const uint8_t *buf, size_t len, const uint8_t **pl,
		 size_t *plen, size_t *flen)
{
	int rc = rk_net_frame_parse(buf, len, pl, plen, flen);
	size_t want_flen;

	FUZZ_CHECK(rc == expect_frame(buf, len, &want_flen));
	if (rc != 0) {
		FUZZ_CHECK(*pl == NULL && *plen == 0 && *flen == 0);
		return rc;
	}
	FUZZ_CHECK(*flen == want_flen && *plen == *flen - RK_NET_FRAME_HDR);
	FUZZ_CHECK(*pl == buf + RK_NET_FRAME_HDR);
	return 0;
}

static void check_hello(const uint8_t *p, size_t n)
{
	struct rk_net_hello h, back;
	struct rk_buf e1, e2;
	int rc;

	rc = rk_net_hello_decode(p, n, &h);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	if (rc != 0)
		return;
	rk_buf_init(&e1);
	rk_buf_init(&e2);
	if (rk_net_hello_encode(&h, &e1) == 0) {
		FUZZ_CHECK(rk_net_hello_decode((const uint8_t *)e1.p, e1.len,
					       &back) == 0);
		FUZZ_CHECK(back.version == h.version &&
			   back.node_id == h.node_id &&
			   back.cluster_id == h.cluster_id &&
			   back.channel == h.channel &&
			   back.to_node_id == h.to_node_id &&
			   back.features == h.features &&
			   back.nonce_len == h.nonce_len &&
			   back.proof_len == h.proof_len &&
			   memcmp(back.nonce, h.nonce, h.nonce_len) == 0 &&
			   memcmp(back.proof, h.proof, h.proof_len) == 0);
		if (rk_net_hello_encode(&back, &e2) == 0)
			FUZZ_CHECK(e2.len == e1.len &&
				   (e1.len == 0 ||
				    memcmp(e1.p, e2.p, e1.len) == 0));
	}
	rk_buf_free(&e2);
	rk_buf_free(&e1);
}

static void check_batch(const uint8_t *p, size_t n)
{
	struct rk_net_handlers h;
	struct rk_net_scratch s;
	int rc;

	memset(&h, 0, sizeof(h));
	memset(&s, 0, sizeof(s));
	rc = rk_net_batch_decode(p, n, &h, &s);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO || rc == RK_ENOMEM);
	rk_net_scratch_free(&s);
}

static void check_stream(const uint8_t *data, size_t size)
{
	const uint8_t *pl;
	size_t pos = 0, plen, flen, k;
	int n, rc;

	for (n = 0; n < FRAMES_MAX && pos < size; n++) {
		const uint8_t *buf = data + pos;
		struct rk_buf again;

		rc = parse(buf, size - pos, &pl, &plen, &flen);
		if (rc != 0)
			break;
		for (k = 0; k < flen; k++) {
			const uint8_t *p2;
			size_t pl2, fl2;

			if (k > PREFIX_ALL && k + 1 != flen)
				continue;
			FUZZ_CHECK(parse(buf, k, &p2, &pl2, &fl2) == RK_EAGAIN);
		}
		rk_buf_init(&again);
		if (rk_net_frame_append(&again, pl, plen) == 0)
			FUZZ_CHECK(again.len == flen &&
				   memcmp(again.p, buf, flen) == 0);
		rk_buf_free(&again);
		if (n == 0)
			check_hello(pl, plen);
		else
			check_batch(pl, plen);
		pos += flen;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_buf f;
	const uint8_t *pl;
	size_t plen, flen;

	check_stream(data, size);
	check_hello(data, size);

	rk_buf_init(&f);
	if (rk_net_frame_append(&f, data, size) == 0) {
		FUZZ_CHECK(parse((const uint8_t *)f.p, f.len, &pl, &plen,
				 &flen) == 0);
		FUZZ_CHECK(flen == f.len && plen == size &&
			   (size == 0 || memcmp(pl, data, size) == 0));
	}
	rk_buf_free(&f);
	return 0;
}
