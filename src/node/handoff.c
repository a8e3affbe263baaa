/*
 * Spans a split handed off since the last checkpoint (handoff.h).
 */
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "key.h"
#include "node_int.h"

struct rk_handoff_span {
	uint64_t left, index;
	uint8_t *start, *end; /* one allocation: start then end */
	size_t slen, elen;    /* elen 0: unbounded */
};

int rk_handoff_add(struct rk_node *n, uint64_t left, uint64_t index,
		   const uint8_t *key, size_t klen, const uint8_t *end, size_t elen)
{
	struct rk_handoffs *h = &n->handoffs;
	struct rk_handoff_span *e;
	uint8_t *p;

	rk_handoff_prune(n);
	if (rk_grow((void **)&h->v, &h->cap, h->n, sizeof(*h->v)) != 0 ||
	    (p = malloc(klen + elen + 1)) == NULL)
		return RK_ENOMEM;
	memcpy(p, key, klen);
	if (elen > 0)
		memcpy(p + klen, end, elen);
	e = &h->v[h->n++];
	e->left = left;
	e->index = index;
	e->start = p;
	e->slen = klen;
	e->end = p + klen;
	e->elen = elen;
	return 0;
}

/* Whether the left's state in the last checkpoint is past the split, or the
 * left is gone from this node. */
static bool covered(struct rk_node *n, const struct rk_handoff_span *e)
{
	const struct rk_replica *r = rk_table_get(&n->tab, e->left);
	uint64_t durable = 0;

	if (r == NULL)
		return true;
	return rk_store_read_durable_applied(n->reader, e->left, &durable) == 0 &&
	       durable >= e->index;
}

void rk_handoff_prune(struct rk_node *n)
{
	struct rk_handoffs *h = &n->handoffs;
	size_t k = 0;

	for (size_t i = 0; i < h->n; i++) {
		if (covered(n, &h->v[i]))
			free(h->v[i].start);
		else
			h->v[k++] = h->v[i];
	}
	h->n = k;
}

bool rk_handoff_meets(struct rk_node *n, const struct rk_desc *d)
{
	const struct rk_handoffs *h = &n->handoffs;

	rk_handoff_prune(n);
	for (size_t i = 0; i < h->n; i++) {
		const struct rk_handoff_span *e = &h->v[i];

		if (rk_key_spans_meet(e->start, e->slen, e->end, e->elen, d->start, d->slen,
				      d->end, d->elen))
			return true;
	}
	return false;
}

bool rk_handoff_pending(struct rk_node *n, uint64_t left)
{
	const struct rk_handoffs *h = &n->handoffs;

	rk_handoff_prune(n);
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].left == left)
			return true;
	return false;
}

void rk_handoff_close(struct rk_node *n)
{
	struct rk_handoffs *h = &n->handoffs;

	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].start);
	free(h->v);
	memset(h, 0, sizeof(*h));
}
