/*
 * Fuzz target vlog_rec: store_vrec_decode (src/storage/vlog.h), which
 * reads the value log's records from disk, for every GET of a value kept
 * apart and for every record the opening scan or a collection walks.
 *
 * The first byte picks the mode. Odd: the rest is decoded as it is. Even:
 * the rest is split into a key and a value, encoded, and the encoding is
 * decoded whole, cut short, and with one bit flipped.
 *
 * Properties:
 *  - it never reads outside the bytes it is given (each input is copied
 *    to a buffer of exactly its size) and answers 0 or RK_ECORRUPT; on
 *    failure the record is zeroed;
 *  - an accepted record lies inside the input, its length is the header's
 *    and its lengths', and encoding its key and value again gives exactly
 *    the bytes it was read from;
 *  - an encoded record decodes to its key and value; cut short by any
 *    number of bytes, or with any one bit changed, it is refused (a bit
 *    changed in the hashed bytes goes unseen with probability 2^-64).
 */
#include <string.h>

#include "rangekv/error.h"
#include "vlog.h"

#include "fuzz.h"

static void check_accepted(const uint8_t *p, size_t n,
			   const struct store_vrec *r)
{
	FUZZ_CHECK(r->len <= n);
	FUZZ_CHECK(r->len == store_vrec_len(r->klen, r->vlen));
	FUZZ_CHECK(r->key == p + VLOG_REC_HEADER);
	FUZZ_CHECK(r->val == r->key + r->klen);
	uint8_t *again = malloc(r->len);
	FUZZ_CHECK(again != NULL);
	store_vrec_encode(again, r->key, r->klen, r->val, r->vlen);
	FUZZ_CHECK(memcmp(again, p, r->len) == 0);
	free(again);
}

static int decode_copy(const uint8_t *data, size_t n, struct store_vrec *r,
		       uint8_t **copyp)
{
	uint8_t *copy = malloc(n ? n : 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, n);
	int rc = store_vrec_decode(copy, n, r);
	FUZZ_CHECK(rc == 0 || rc == RK_ECORRUPT);
	if (rc != 0) {
		const struct store_vrec zero = {0};
		FUZZ_CHECK(memcmp(r, &zero, sizeof(zero)) == 0);
	} else {
		check_accepted(copy, n, r);
	}
	*copyp = copy;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_vrec r;
	uint8_t *copy;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		decode_copy(data + 1, size - 1, &r, &copy);
		free(copy);
		return 0;
	}
	/* data[1] says how long the key is; the rest is the value. */
	const uint8_t *k = data + 1;
	size_t rest = size - 1, kl = size > 1 ? data[1] % (rest + 1) : 0;
	if (size > 1) {
		k++;
		rest--;
		kl = kl > rest ? rest : kl;
	}
	const uint8_t *v = k + kl;
	size_t vl = rest - kl, len = (size_t)store_vrec_len(kl, vl);
	uint8_t *enc = malloc(len);
	FUZZ_CHECK(enc != NULL);
	store_vrec_encode(enc, k, kl, v, vl);

	FUZZ_CHECK(decode_copy(enc, len, &r, &copy) == 0);
	FUZZ_CHECK(r.klen == kl && r.vlen == vl && r.len == len);
	FUZZ_CHECK(memcmp(r.key, k, kl) == 0 && memcmp(r.val, v, vl) == 0);
	free(copy);

	/* Cut short: refused, whatever the cut. */
	size_t cut = 1 + (size_t)data[0] % len;
	FUZZ_CHECK(decode_copy(enc, len - cut, &r, &copy) == RK_ECORRUPT);
	free(copy);

	/* One bit changed: refused (with more bytes after it, so a length
	 * made shorter still fits). */
	uint8_t *longer = malloc(len + 64);
	FUZZ_CHECK(longer != NULL);
	memcpy(longer, enc, len);
	memset(longer + len, 0, 64);
	size_t bit = ((size_t)data[0] * 2654435761u + size) % (len * 8);
	longer[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	FUZZ_CHECK(decode_copy(longer, len + 64, &r, &copy) == RK_ECORRUPT);
	free(copy);
	free(longer);
	free(enc);
	return 0;
}
