/*
 * Fuzz target pl_page: the reads of the placement index that travel
 * between nodes (placement/group/page.h): rk_pl_page_decode, the answer a
 * node gets from a replica of the placement group, and
 * rk_pl_query_decode, the query a replica gets.
 *
 * Properties:
 *  - neither reads outside the input; the page decoder answers 0,
 *    RK_EPROTO or RK_ENOMEM and leaves an empty page on failure;
 *  - an accepted page holds what the node relies on: rc 0 or negative,
 *    descriptors only with rc 0, each a v2 one of a user range with
 *    replicas, in strictly increasing id order, at most RK_PL_PAGE_MAX;
 *    re-encoded, it is the same bytes;
 *  - an accepted query is a READ with a limit of 1..RK_PL_PAGE_MAX or a
 *    LOOKUP whose key lies inside the input; re-encoded, the same bytes.
 */
#include <string.h>

#include "page.h"
#include "rangekv/error.h"

#include "fuzz.h"

static void check_page(const uint8_t *data, size_t size)
{
	struct rk_pl_page pg;
	struct rk_pl_page_enc e;
	struct rk_buf b;
	int rc = rk_pl_page_decode(data, size, &pg);

	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO || rc == RK_ENOMEM);
	if (rc != 0) {
		FUZZ_CHECK(pg.n == 0 && pg.descs == NULL);
		return;
	}
	FUZZ_CHECK(pg.rc <= 0 && pg.n <= RK_PL_PAGE_MAX);
	FUZZ_CHECK(pg.rc == 0 || pg.n == 0);
	for (size_t i = 0; i < pg.n; i++) {
		const struct rk_desc *d = &pg.descs[i];
		FUZZ_CHECK(!d->v1 && d->n_reps > 0 && d->range_id != 0 &&
			   !rk_range_reserved(d->range_id));
		FUZZ_CHECK(i == 0 || pg.descs[i - 1].range_id < d->range_id);
	}
	rk_buf_init(&b);
	if (rk_pl_page_begin(&e, &b, pg.rc) == 0) {
		for (size_t i = 0; i < pg.n; i++)
			(void)rk_pl_page_add(&e, &pg.descs[i]);
		rk_pl_page_end(&e, pg.next);
		if (!b.oom)
			FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
	}
	rk_buf_free(&b);
	rk_pl_page_free(&pg);
}

static void check_query(const uint8_t *data, size_t size)
{
	struct rk_pl_query q;
	struct rk_buf b;
	int rc = rk_pl_query_decode(data, size, &q);

	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	if (rc != 0)
		return;
	rk_buf_init(&b);
	if (q.op == RK_PL_CMD_READ) {
		FUZZ_CHECK(q.limit >= 1 && q.limit <= RK_PL_PAGE_MAX);
		(void)rk_pl_encode_read(&b, q.origin, q.token, q.after, q.limit);
	} else {
		FUZZ_CHECK(q.op == RK_PL_CMD_LOOKUP);
		FUZZ_CHECK(q.key >= data && q.key + q.klen == data + size);
		(void)rk_pl_encode_lookup(&b, q.origin, q.token, q.key, q.klen);
	}
	if (!b.oom)
		FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
	rk_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_page(data, size);
	check_query(data, size);
	return 0;
}
