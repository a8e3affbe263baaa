/* The set of requests by (origin, id) (reqset.h). */
#include <stdlib.h>

#include "rangekv/error.h"
#include "reqset.h"

static size_t home(const struct rk_reqset *s, uint64_t origin, uint64_t id)
{
	/* Request ids carry their kind in the top bits and count below: mix
	 * both words so that consecutive ids of one origin spread. */
	uint64_t h = (id ^ (origin * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;

	return (size_t)(h ^ (h >> 31)) & (s->cap - 1);
}

static size_t find(const struct rk_reqset *s, uint64_t origin, uint64_t id, bool *foundp)
{
	size_t i = home(s, origin, id);

	while (s->slots[i].id != 0) {
		if (s->slots[i].id == id && s->slots[i].origin == origin) {
			*foundp = true;
			return i;
		}
		i = (i + 1) & (s->cap - 1);
	}
	*foundp = false;
	return i;
}

bool rk_reqset_has(const struct rk_reqset *s, uint64_t origin, uint64_t id)
{
	bool found = false;

	if (s->cap > 0)
		(void)find(s, origin, id, &found);
	return found;
}

static int grow(struct rk_reqset *s)
{
	struct rk_reqset old = *s;
	size_t cap = s->cap == 0 ? 64 : s->cap * 2;
	bool found;

	s->slots = calloc(cap, sizeof(*s->slots));
	if (s->slots == NULL) {
		*s = old;
		return RK_ENOMEM;
	}
	s->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].id != 0)
			s->slots[find(s, old.slots[i].origin, old.slots[i].id, &found)] = old.slots[i];
	free(old.slots);
	return 0;
}

int rk_reqset_add(struct rk_reqset *s, uint64_t origin, uint64_t id)
{
	bool found;
	size_t i;

	if (rk_reqset_has(s, origin, id))
		return RK_EEXIST;
	if (2 * (s->n + 1) > s->cap && grow(s) != 0)
		return RK_ENOMEM;
	i = find(s, origin, id, &found);
	s->slots[i].origin = origin;
	s->slots[i].id = id;
	s->n++;
	return 0;
}

void rk_reqset_del(struct rk_reqset *s, uint64_t origin, uint64_t id)
{
	bool found = false;
	size_t i = s->cap > 0 ? find(s, origin, id, &found) : 0, j, k;

	if (!found)
		return;
	/* Backward shift: a later member of the probe run moves into the hole
	 * unless its home slot lies cyclically in (hole, its slot]. */
	s->slots[i].id = 0;
	for (j = (i + 1) & (s->cap - 1); s->slots[j].id != 0; j = (j + 1) & (s->cap - 1)) {
		k = home(s, s->slots[j].origin, s->slots[j].id);
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			s->slots[i] = s->slots[j];
			s->slots[j].id = 0;
			i = j;
		}
	}
	s->n--;
}

void rk_reqset_free(struct rk_reqset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}
