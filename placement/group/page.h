/*
 * Reads of the placement index by any node (docs/placement.md, "Reading
 * the index"): the two queries a node sends to a replica of the placement
 * group, and the page of descriptors it answers with. The queries travel
 * as a ClientReq for the range RK_RANGE_PLACEMENT, like ALLOC and REPORT,
 * but are never proposed: the replica answers from what it has applied.
 *
 * Queries (integers little endian; the op byte follows group.h's):
 *   READ    u8 3 | u64 origin node | u64 token | u64 after | u32 limit
 *           the indexed ranges above `after`, in id order, at most limit
 *   LOOKUP  u8 4 | u64 origin node | u64 token | key bytes (to the end)
 *           the indexed range whose span holds the key
 * The answer (ClientResp OK, reply):
 *   u32 rc | u64 next | u32 n | n x (u32 len | descriptor, stored form)
 *   rc 0 or a negative RK_E... (RK_EUNAVAILABLE: that replica cannot
 *   answer yet); next is the last range id of a READ page when more
 *   follow (the next READ's `after`), 0 at the end and for a LOOKUP.
 *   The descriptors are v2, of user ranges (below RK_RANGE_RESERVED_FIRST),
 *   with replicas, and in strictly increasing id order.
 *
 * Pure functions over bytes: no store, no node (fuzzed: tests/fuzz).
 */
#ifndef RK_PL_PAGE_H
#define RK_PL_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"

/* Queries, never logged: first bytes apart from the group's commands
 * (group.h) and the heartbeat messages (nodes.h). */
enum { RK_PL_CMD_READ = 32, RK_PL_CMD_LOOKUP = 33 };

/* The bytes of a READ's and a LOOKUP's fixed part. */
#define RK_PL_READ_LEN 29
#define RK_PL_LOOKUP_HEADER 17
/* A page holds at most this many descriptors and about this many bytes
 * (a descriptor that starts below the bound is kept whole). */
#define RK_PL_PAGE_MAX 10000u
#define RK_PL_PAGE_BYTES (1u << 20)

struct rk_pl_query {
	uint8_t op; /* RK_PL_CMD_READ or RK_PL_CMD_LOOKUP */
	uint64_t origin, token;
	uint64_t after;     /* READ */
	uint32_t limit;     /* READ: 1..RK_PL_PAGE_MAX */
	const uint8_t *key; /* LOOKUP: points into the command */
	size_t klen;
};

/* Appended to out; RK_ENOMEM if it ran out. */
int rk_pl_encode_read(struct rk_buf *out, uint64_t origin, uint64_t token,
		      uint64_t after, uint32_t limit);
int rk_pl_encode_lookup(struct rk_buf *out, uint64_t origin, uint64_t token,
			const uint8_t *key, size_t klen);
/* RK_EPROTO unless p[0..len) is a READ (limit 1..RK_PL_PAGE_MAX) or a
 * LOOKUP; *qp is set on every path (zeroed on error). */
int rk_pl_query_decode(const uint8_t *p, size_t len, struct rk_pl_query *qp);

/* Building an answer: rk_pl_page_begin, then rk_pl_page_add for each
 * descriptor in increasing id order, then rk_pl_page_end with next. */
struct rk_pl_page_enc {
	struct rk_buf *out;
	size_t at; /* where the header starts in out */
	uint32_t n;
};
int rk_pl_page_begin(struct rk_pl_page_enc *e, struct rk_buf *out, int rc);
int rk_pl_page_add(struct rk_pl_page_enc *e, const struct rk_desc *d);
void rk_pl_page_end(struct rk_pl_page_enc *e, uint64_t next);
/* Whether the page has room for one more descriptor. */
bool rk_pl_page_full(const struct rk_pl_page_enc *e, uint32_t limit);

/* A decoded answer: rc, next, and n descriptors (owned: rk_pl_page_free). */
struct rk_pl_page {
	int rc;
	uint64_t next;
	struct rk_desc *descs;
	size_t n;
};
/* RK_EPROTO when p[0..len) is not an answer as above (a descriptor that
 * does not decode, a v1 one, a reserved or 0 range, one without replicas,
 * ids not increasing, bytes left over, an rc that is not 0 or negative);
 * RK_ENOMEM. *pgp is set on every path (empty on error). */
int rk_pl_page_decode(const uint8_t *p, size_t len, struct rk_pl_page *pgp);
void rk_pl_page_free(struct rk_pl_page *pg);

#endif
