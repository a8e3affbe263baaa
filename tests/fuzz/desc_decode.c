/*
 * Fuzz target desc_decode: rk_desc_decode (src/common/desc.h), which reads
 * range descriptors from disk (every range's apply state) and, with
 * membership changes and snapshots, from peers.
 *
 * Properties:
 *  - it never reads outside the input and answers 0 or RK_ECORRUPT (or
 *    RK_ENOMEM); on failure the descriptor is left empty;
 *  - an accepted v2 descriptor holds its invariants (replica ids non-zero,
 *    increasing and below next_replica_id; node ids non-zero and distinct;
 *    known roles; start before end) and re-encodes to exactly the bytes it
 *    was read from;
 *  - an accepted v1 descriptor has no replicas.
 */
#include <string.h>

#include "desc.h"
#include "rangekv/error.h"

#include "fuzz.h"

static void check_invariants(const struct rk_desc *d)
{
	for (uint8_t i = 0; i < d->n_reps; i++) {
		FUZZ_CHECK(d->reps[i].replica_id != 0 && d->reps[i].node_id != 0);
		FUZZ_CHECK(d->reps[i].replica_id < d->next_replica_id);
		FUZZ_CHECK(d->reps[i].role <= RK_DESC_ROLE_MAX);
		if (i > 0)
			FUZZ_CHECK(d->reps[i - 1].replica_id < d->reps[i].replica_id);
		for (uint8_t j = 0; j < i; j++)
			FUZZ_CHECK(d->reps[j].node_id != d->reps[i].node_id);
	}
	if (d->elen > 0) {
		size_t m = d->slen < d->elen ? d->slen : d->elen;
		int c = m ? memcmp(d->start, d->end, m) : 0;
		FUZZ_CHECK(c < 0 || (c == 0 && d->slen < d->elen));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_desc d;
	struct rk_buf b;
	size_t used = 1;
	int rc;

	memset(&d, 0, sizeof(d));
	rc = rk_desc_decode(data, size, &d, &used);
	FUZZ_CHECK(rc == 0 || rc == RK_ECORRUPT || rc == RK_ENOMEM);
	if (rc != 0) {
		FUZZ_CHECK(used == 0 && d.reps == NULL && d.start == NULL);
		return 0;
	}
	FUZZ_CHECK(used <= size);
	if (d.v1) {
		FUZZ_CHECK(d.n_reps == 0);
	} else {
		check_invariants(&d);
		rk_buf_init(&b);
		if (rk_desc_encode(&d, &b) == 0)
			FUZZ_CHECK(b.len == used && memcmp(b.p, data, used) == 0);
		rk_buf_free(&b);
	}
	rk_desc_free(&d);
	return 0;
}
