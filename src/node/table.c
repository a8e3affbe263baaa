/*
 * The replica table (table.h).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "replica.h"
#include "table.h"

static size_t slot_of(const struct rk_table *t, uint64_t range)
{
	return (size_t)((range * 0x9e3779b97f4a7c15ull) >> 7) & (t->cap - 1);
}

struct rk_replica *rk_table_get(const struct rk_table *t, uint64_t range)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = slot_of(t, range);; i = (i + 1) & (t->cap - 1)) {
		struct rk_replica *r = t->slots[i];
		if (r == NULL || r->range == range)
			return r;
	}
}

/* Keeps the hash at most half full; byid grows with it. */
static int grow(struct rk_table *t)
{
	size_t cap = t->cap ? 2 * t->cap : 1024;
	struct rk_replica **s = calloc(cap, sizeof(*s));
	struct rk_replica **old = t->slots;
	size_t oldcap = t->cap;
	void *b = realloc(t->byid, cap * sizeof(*t->byid));

	if (s == NULL || b == NULL) {
		free(s);
		if (b != NULL)
			t->byid = b;
		return RK_ENOMEM;
	}
	t->byid = b;
	t->slots = s;
	t->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != NULL) {
			size_t j = slot_of(t, old[i]->range);
			while (s[j] != NULL)
				j = (j + 1) & (cap - 1);
			s[j] = old[i];
		}
	free(old);
	return 0;
}

int rk_table_add(struct rk_table *t, struct rk_replica *r)
{
	size_t j;

	if (2 * (t->n + 1) > t->cap && grow(t) != 0)
		return RK_ENOMEM;
	j = slot_of(t, r->range);
	while (t->slots[j] != NULL)
		j = (j + 1) & (t->cap - 1);
	t->slots[j] = r;
	/* byid stays in id order: appended at load (ids ascending), inserted
	 * for a replica created later. */
	j = t->n;
	while (j > 0 && t->byid[j - 1]->range > r->range)
		j--;
	memmove(&t->byid[j + 1], &t->byid[j], (t->n - j) * sizeof(*t->byid));
	t->byid[j] = r;
	t->n++;
	return 0;
}

void rk_table_remove(struct rk_table *t, struct rk_replica *r)
{
	size_t i, j, k;

	for (i = slot_of(t, r->range); t->slots[i] != r; i = (i + 1) & (t->cap - 1))
		if (t->slots[i] == NULL)
			return; /* not in the table */
	/* Backward shift: later members of the probe run move up when their
	 * home slot is not between the hole and them. */
	t->slots[i] = NULL;
	for (j = (i + 1) & (t->cap - 1); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1)) {
		k = slot_of(t, t->slots[j]->range);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
	for (k = 0; k < t->n; k++)
		if (t->byid[k] == r) {
			memmove(&t->byid[k], &t->byid[k + 1], (t->n - k - 1) * sizeof(*t->byid));
			t->n--;
			break;
		}
	if (!r->asleep)
		rk_table_awake_remove(t, r);
}

int rk_table_awake_add(struct rk_table *t, struct rk_replica *r)
{
	if (rk_grow((void **)&t->awake, &t->cap_awake, t->n_awake, sizeof(*t->awake)) != 0)
		return RK_ENOMEM;
	r->awake_pos = (uint32_t)t->n_awake;
	t->awake[t->n_awake++] = r;
	return 0;
}

void rk_table_awake_remove(struct rk_table *t, struct rk_replica *r)
{
	struct rk_replica *last = t->awake[--t->n_awake];

	t->awake[r->awake_pos] = last;
	last->awake_pos = r->awake_pos;
}

void rk_table_visit_some(struct rk_table *t, size_t *cursor, size_t slice,
			 void (*fn)(struct rk_replica *, void *), void *arg)
{
	size_t awake = t->n_awake; /* fn may wake more: they wait */

	for (size_t i = 0; i < awake && i < t->n_awake; i++)
		fn(t->awake[i], arg);
	for (size_t k = 0; cursor != NULL && k < slice && k < t->n; k++) {
		if (*cursor >= t->n)
			*cursor = 0;
		fn(t->byid[(*cursor)++], arg);
	}
}

void rk_table_free(struct rk_table *t)
{
	free(t->slots);
	free(t->byid);
	free(t->awake);
	t->slots = t->byid = t->awake = NULL;
	t->cap = t->n = t->n_awake = t->cap_awake = 0;
}

size_t rk_table_user_n(const struct rk_table *t)
{
	size_t n = t->n;

	while (n > 0 && rk_range_reserved(t->byid[n - 1]->range))
		n--;
	return n;
}

size_t rk_table_first_above(const struct rk_table *t, size_t n, uint64_t range)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->byid[mid]->range <= range)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
