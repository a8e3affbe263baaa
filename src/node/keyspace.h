/*
 * The key space cut of a cluster's first start (docs/contract.md):
 *
 *  --ranges N: boundary i (1 <= i < N) is floor(i * 2^64 / N) written as 8
 *  big-endian bytes with trailing zero bytes removed; the first range starts
 *  at the empty key, the last ends at the empty key (unbounded).
 *  --split-at K1,K2,...: the boundaries given explicitly, with \xNN escapes
 *  (a comma inside a key is \x2c); strictly increasing, none empty.
 */
#ifndef RK_NODE_KEYSPACE_H
#define RK_NODE_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"

#define RK_MAX_KEY 4096
#define RK_MAX_RANGES_AT_START 1000000

struct rk_key {
	uint8_t *p;
	uint32_t len;
};

struct rk_keyspace {
	struct rk_key *bounds; /* n - 1 boundaries, strictly increasing */
	uint32_t n;            /* number of ranges */
};

int rk_keyspace_uniform(uint32_t n, struct rk_keyspace *ksp);
/* err (if not NULL) receives a one-line reason on RK_EINVAL. */
int rk_keyspace_split_at(const char *list, struct rk_keyspace *ksp,
			 char *err, size_t errlen);
void rk_keyspace_free(struct rk_keyspace *ks);

#endif
