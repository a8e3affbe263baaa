/*
 * A set of requests by (origin node, request id): the reads a node has
 * handed to its reader threads (reads.c), so that a request the router
 * resent while its first copy still waits on the disk is not read again.
 * Open addressing with linear probing and backward-shift deletion; grows
 * to keep at most half its slots used, never shrinks.
 *
 * Threads: one (the loop's).
 */
#ifndef RK_NODE_REQSET_H
#define RK_NODE_REQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rk_reqset_slot {
	uint64_t origin, id; /* id 0: empty (request ids are never 0) */
};

struct rk_reqset {
	struct rk_reqset_slot *slots;
	size_t cap, n; /* cap: 0 or a power of two */
};

bool rk_reqset_has(const struct rk_reqset *s, uint64_t origin, uint64_t id);
/* 0, RK_EEXIST (already in), or RK_ENOMEM (s unchanged). id must not be 0. */
int rk_reqset_add(struct rk_reqset *s, uint64_t origin, uint64_t id);
/* Removes the pair if it is in. */
void rk_reqset_del(struct rk_reqset *s, uint64_t origin, uint64_t id);
void rk_reqset_free(struct rk_reqset *s);

#endif
