/*
 * Fuzz target pl_figs: the per-range figures a heartbeat carries to the
 * placement group's leader (placement/figs.h), read by the leader from
 * any node's bytes.
 *
 * Properties:
 *  - decoding is 0 or RK_EPROTO; on RK_EPROTO the section is empty
 *    (flags, after and n all 0);
 *  - what decodes keeps the format's promises (known flags, LAST only
 *    with FULL, ranges non-zero, above after and increasing) and
 *    re-encodes to exactly the input (one encoding), and every shorter
 *    prefix of it is RK_EPROTO;
 *  - the leader's table takes what decodes: each range's entry is then
 *    the section's figures, and the table stays in range order.
 */
#include <stdlib.h>
#include <string.h>

#include "figs.h"
#include "rangekv/error.h"

#include "fuzz.h"

static struct rk_pl_figs_msg m, m2;
static struct rk_pl_figtab tab;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_buf b;
	int rc = rk_pl_figs_decode(data, size, &m);

	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO);
	if (rc != 0) {
		FUZZ_CHECK(m.flags == 0 && m.after == 0 && m.n == 0);
		return 0;
	}
	FUZZ_CHECK((m.flags & ~(RK_PL_FIGS_FULL | RK_PL_FIGS_LAST)) == 0);
	FUZZ_CHECK(!(m.flags & RK_PL_FIGS_LAST) || (m.flags & RK_PL_FIGS_FULL));
	for (uint32_t i = 0; i < m.n; i++)
		FUZZ_CHECK(m.figs[i].range > (i > 0 ? m.figs[i - 1].range : m.after));
	rk_buf_init(&b);
	FUZZ_CHECK(rk_pl_figs_encode(&b, m.flags, m.after, m.figs, m.n) == 0);
	FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
	rk_buf_free(&b);
	for (size_t l = size > 64 ? size - 64 : 0; l < size; l++)
		FUZZ_CHECK(rk_pl_figs_decode(data, l, &m2) == RK_EPROTO);
	/* A table kept across inputs, as the leader keeps it across beats. */
	FUZZ_CHECK(rk_pl_figtab_put(&tab, 7, size, m.figs, m.n) == 0);
	for (uint32_t i = 0; i < m.n; i++) {
		const struct rk_pl_figent *e = rk_pl_figtab_get(&tab, m.figs[i].range);
		FUZZ_CHECK(e != NULL && memcmp(&e->f, &m.figs[i], sizeof(e->f)) == 0);
	}
	for (size_t i = 1; i < tab.n; i++)
		FUZZ_CHECK(tab.v[i - 1].f.range < tab.v[i].f.range);
	if (tab.n > 100000)
		rk_pl_figtab_free(&tab);
	return 0;
}
