/*
 * The node's range cache (rcache.h).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "key.h"
#include "rangekv/error.h"
#include "rcache.h"

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = (al && bl) ? memcmp(a, b, al < bl ? al : bl) : 0;

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

/* The first entry whose start is after key (n if none). */
static size_t upper(const struct rk_rcache *c, const uint8_t *key, size_t klen)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (keycmp(c->v[mid]->start, c->v[mid]->slen, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool holds(const struct rk_rcache_entry *e, const uint8_t *key, size_t klen)
{
	return keycmp(key, klen, e->start, e->slen) >= 0 &&
	       (e->elen == 0 || keycmp(key, klen, e->end, e->elen) < 0);
}

/* Whether e's span meets [start, end) (end empty: unbounded). */
static bool overlaps(const struct rk_rcache_entry *e, const struct rk_desc *d)
{
	return rk_key_spans_meet(e->start, e->slen, e->end, e->elen, d->start, d->slen, d->end,
				 d->elen);
}

/* Whether e holds exactly d's span. */
static bool same_span(const struct rk_rcache_entry *e, const struct rk_desc *d)
{
	return keycmp(e->start, e->slen, d->start, d->slen) == 0 && e->elen == d->elen &&
	       keycmp(e->end, e->elen, d->end, d->elen) == 0;
}

static void entry_free(struct rk_rcache_entry *e)
{
	free(e);
}

/* One allocation: the entry, its replicas, its start and end keys. */
static struct rk_rcache_entry *entry_new(const struct rk_desc *d)
{
	uint8_t nr = d->n_reps < RK_DESC_MAX_REPLICAS ? d->n_reps : RK_DESC_MAX_REPLICAS;
	size_t reps = (size_t)nr * sizeof(struct rk_desc_replica);
	struct rk_rcache_entry *e = malloc(sizeof(*e) + reps + d->slen + d->elen);

	if (e == NULL)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->start = (uint8_t *)e->reps + reps;
	e->end = e->start + d->slen;
	if (d->slen)
		memcpy(e->start, d->start, d->slen);
	if (d->elen)
		memcpy(e->end, d->end, d->elen);
	e->slen = d->slen;
	e->elen = d->elen;
	e->range = d->range_id;
	e->generation = d->generation;
	e->conf_version = d->conf_version;
	e->next_replica_id = d->next_replica_id;
	if (nr)
		memcpy(e->reps, d->reps, reps);
	e->n_nodes = nr;
	return e;
}

/* The position of the first of byid[0..n) whose range is not below range. */
static size_t id_lower(const struct rk_rcache *c, size_t n, uint64_t range)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->byid[mid]->range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Replaces e's pointer in byid[0..n) by with (NULL: removes it). Ranges
 * have one entry each: a put replaces a range's old entry (rk_rcache_put). */
static void id_replace(struct rk_rcache *c, size_t n, const struct rk_rcache_entry *e,
		       struct rk_rcache_entry *with)
{
	size_t at = id_lower(c, n, e->range);

	if (with != NULL) {
		c->byid[at] = with;
		return;
	}
	memmove(&c->byid[at], &c->byid[at + 1], (n - at - 1) * sizeof(*c->byid));
}

int rk_rcache_put(struct rk_rcache *c, const struct rk_desc *d)
{
	struct rk_rcache_entry *e, *same = NULL;
	size_t lo, hi, at, n;
	uint64_t leader = 0;
	uint16_t absent = 0;

	if (rk_range_reserved(d->range_id))
		return 0; /* the placement group: not in the key space */
	/* One entry per range. A range keeps its start key for its whole
	 * life (a split keeps the left part, a merge the left range), so its
	 * old entry is among those the put overlaps; one that is not would
	 * be older, and goes. */
	e = rk_rcache_get(c, d->range_id);
	if (e != NULL && !overlaps(e, d)) {
		if (e->generation > d->generation)
			return 0; /* stale */
		at = upper(c, e->start, e->slen) - 1;
		memmove(&c->v[at], &c->v[at + 1], (c->n - at - 1) * sizeof(*c->v));
		id_replace(c, c->n, e, NULL);
		c->n--;
		entry_free(e);
		c->spans++;
	}

	/* The entries it overlaps are contiguous: from the last one starting
	 * at or before its start to the last one starting before its end. */
	lo = upper(c, d->start, d->slen);
	if (lo > 0 && overlaps(c->v[lo - 1], d))
		lo--;
	for (hi = lo; hi < c->n && overlaps(c->v[hi], d); hi++) {
		const struct rk_rcache_entry *o = c->v[hi];

		if (o->generation > d->generation ||
		    (o->range == d->range_id && o->generation == d->generation &&
		     o->conf_version > d->conf_version))
			return 0; /* stale */
		if (o->range == d->range_id) {
			leader = o->leader;
			same = c->v[hi];
			/* The same descriptor again (learned from an answer,
			 * say): what this node found out about its nodes still
			 * holds. */
			if (o->generation == d->generation &&
			    o->conf_version == d->conf_version)
				absent = o->absent;
		}
	}
	e = entry_new(d);
	if (e == NULL)
		return RK_ENOMEM;
	e->absent = absent;
	/* Keeps the leader hint while it is still one of the range's nodes. */
	for (uint8_t i = 0; i < e->n_nodes; i++)
		if (e->reps[i].node_id == leader)
			e->leader = leader;
	if (hi == lo && (rk_grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v)) != 0 ||
			 rk_grow((void **)&c->byid, &c->cap_id, c->n, sizeof(*c->byid)) != 0)) {
		entry_free(e);
		return RK_ENOMEM;
	}
	/* byid: the old entries out, e in at its place. */
	n = c->n;
	for (size_t i = lo; i < hi; i++)
		if (c->v[i] != same)
			id_replace(c, n--, c->v[i], NULL);
	if (same != NULL) {
		id_replace(c, n, same, e);
	} else {
		at = id_lower(c, n, e->range);
		memmove(&c->byid[at + 1], &c->byid[at], (n - at) * sizeof(*c->byid));
		c->byid[at] = e;
	}
	if (!(hi == lo + 1 && same != NULL && same_span(same, d)))
		c->spans++;
	for (size_t i = lo; i < hi; i++)
		entry_free(c->v[i]);
	at = lo;
	if (hi == lo) {
		memmove(&c->v[at + 1], &c->v[at], (c->n - at) * sizeof(*c->v));
		c->n++;
	} else {
		memmove(&c->v[at + 1], &c->v[hi], (c->n - hi) * sizeof(*c->v));
		c->n -= hi - lo - 1;
	}
	c->v[at] = e;
	return 0;
}

struct rk_rcache_entry *rk_rcache_find(const struct rk_rcache *c,
				       const void *key, size_t klen)
{
	size_t i = upper(c, key, klen);

	if (i == 0 || !holds(c->v[i - 1], key, klen))
		return NULL;
	return c->v[i - 1];
}

struct rk_rcache_entry *rk_rcache_ending_at(const struct rk_rcache *c,
					    const void *key, size_t klen)
{
	size_t i = upper(c, key, klen);

	/* The entries start in order and do not overlap: the one ending at
	 * key starts before it, and is the last or the one before an entry
	 * starting at key. */
	for (size_t k = 1; k <= 2 && k <= i; k++) {
		struct rk_rcache_entry *e = c->v[i - k];

		if (e->elen != 0 && keycmp(e->end, e->elen, key, klen) == 0)
			return e;
	}
	return NULL;
}

bool rk_rcache_any_overlap(const struct rk_rcache *c, const struct rk_desc *d,
			   bool (*pred)(void *arg, const struct rk_rcache_entry *e),
			   void *arg)
{
	size_t i = upper(c, d->start, d->slen);

	if (i > 0 && overlaps(c->v[i - 1], d))
		i--;
	for (; i < c->n && overlaps(c->v[i], d); i++)
		if (pred(arg, c->v[i]))
			return true;
	return false;
}

struct rk_rcache_entry *rk_rcache_get(const struct rk_rcache *c, uint64_t range)
{
	size_t at = id_lower(c, c->n, range);

	return at < c->n && c->byid[at]->range == range ? c->byid[at] : NULL;
}

size_t rk_rcache_bytes(const struct rk_rcache *c)
{
	size_t b = (c->cap + c->cap_id) * sizeof(*c->v);

	for (size_t i = 0; i < c->n; i++)
		b += malloc_usable_size(c->v[i]);
	return b;
}

void rk_rcache_entry_desc(struct rk_rcache_entry *e, struct rk_desc *dp)
{
	memset(dp, 0, sizeof(*dp));
	dp->range_id = e->range;
	dp->generation = e->generation;
	dp->conf_version = e->conf_version;
	dp->next_replica_id = e->next_replica_id;
	dp->start = e->start;
	dp->slen = e->slen;
	dp->end = e->end;
	dp->elen = e->elen;
	dp->reps = e->reps;
	dp->n_reps = e->n_nodes;
}

void rk_rcache_absent(struct rk_rcache_entry *e, uint64_t node)
{
	for (uint8_t i = 0; i < e->n_nodes; i++)
		if (e->reps[i].node_id == node)
			e->absent |= (uint16_t)(1u << i);
	if (e->leader == node)
		e->leader = 0;
}

void rk_rcache_free(struct rk_rcache *c)
{
	for (size_t i = 0; i < c->n; i++)
		entry_free(c->v[i]);
	free(c->v);
	free(c->byid);
	c->v = c->byid = NULL;
	c->n = c->cap = c->cap_id = 0;
}
