/*
 * The raft log as the core sees it: the caller's durable log (read through
 * rk_raft_storage_ops) with, on top, the entries the core holds in memory:
 * those not yet durable, and those durable but not yet applied (a cache, so
 * that applying and replicating recent entries never reads storage).
 *
 *   storage:  [first_index ............ stored last]
 *   memory:                    [offset ........................ last]
 *                               ^ any index >= offset is answered from
 *                                 memory, even if storage still holds a
 *                                 stale suffix there (a conflicting append
 *                                 replaced it and is not durable yet)
 *
 * A snapshot received from the leader and not yet durable (has_snap) is the
 * log's floor until the advance after it was handed out.
 */
#include <string.h>

#include "raft_int.h"

/* ---- arena ------------------------------------------------------------------ */

#define ARENA_MIN_CHUNK 1024
#define ARENA_MAX_CHUNK (64 * 1024)

void *raft_arena_alloc(struct rk_raft *r, size_t size)
{
	struct raft_arena *a;
	struct raft_arena_chunk *c;
	size_t csize;
	void *p;

	if (raft_log_ensure(r) != 0)
		return NULL;
	a = &r->log->cur;
	size = (size + 7) & ~(size_t)7;
	if (size == 0)
		size = 8;
	c = a->head;
	if (c == NULL || c->size - c->used < size) {
		csize = c == NULL ? ARENA_MIN_CHUNK : c->size * 2;
		if (csize > ARENA_MAX_CHUNK)
			csize = ARENA_MAX_CHUNK;
		if (csize < size)
			csize = size;
		c = raft_alloc(r, sizeof(*c) + csize);
		if (c == NULL)
			return NULL;
		c->size = csize;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = (char *)(c + 1) + c->used;
	c->used += size;
	return p;
}

static void arena_free(struct rk_raft *r, struct raft_arena *a)
{
	struct raft_arena_chunk *c = a->head, *next;

	while (c != NULL) {
		next = c->next;
		raft_free(r, c, sizeof(*c) + c->size);
		c = next;
	}
	a->head = NULL;
}

/* ---- retirement ------------------------------------------------------------- */

static void retired_free(struct rk_raft *r, struct raft_retired *rt)
{
	uint32_t i;

	for (i = 0; i < rt->n; i++)
		raft_free(r, rt->ptrs[i], rt->sizes[i]);
	raft_free(r, rt->ptrs, rt->cap * sizeof(void *));
	raft_free(r, rt->sizes, rt->cap * sizeof(size_t));
	memset(rt, 0, sizeof(*rt));
}

/* Appends (p, size) to rt; false when it could not grow. */
static bool retired_push(struct rk_raft *r, struct raft_retired *rt, void *p,
			 size_t size)
{
	if (rt->n == rt->cap) {
		uint32_t ncap = rt->cap == 0 ? 16 : rt->cap * 2;
		void **np = raft_alloc(r, ncap * sizeof(void *));
		size_t *ns = raft_alloc(r, ncap * sizeof(size_t));

		if (np == NULL || ns == NULL) {
			raft_free(r, np, ncap * sizeof(void *));
			raft_free(r, ns, ncap * sizeof(size_t));
			return false;
		}
		if (rt->n > 0) {
			memcpy(np, rt->ptrs, rt->n * sizeof(void *));
			memcpy(ns, rt->sizes, rt->n * sizeof(size_t));
		}
		raft_free(r, rt->ptrs, rt->cap * sizeof(void *));
		raft_free(r, rt->sizes, rt->cap * sizeof(size_t));
		rt->ptrs = np;
		rt->sizes = ns;
		rt->cap = ncap;
	}
	rt->ptrs[rt->n] = p;
	rt->sizes[rt->n] = size;
	rt->n++;
	return true;
}

/*
 * A payload that left the log may still be seen by the batch the caller
 * holds or by the outbox (whose messages join the next batch). retired_new
 * collects it; ready() moves retired_new to retired_old (only that batch can
 * see those); advance() frees retired_old, and retired_new too when the
 * outbox is empty. With no batch held and an empty outbox nobody can see
 * it, and it is freed at once.
 *
 * Should the list fail to grow (memory exhausted), the block is left
 * allocated and uncounted: a bounded leak under exhaustion beats a
 * use-after-free.
 */
void raft_log_retire(struct rk_raft *r, void *p, size_t size)
{
	if (p == NULL)
		return;
	if (!r->in_ready && r->n_msgs == 0) {
		raft_free(r, p, size);
		return;
	}
	if (!retired_push(r, &r->log->retired_new, p, size))
		r->mem_bytes -= size;
}

static void retired_move(struct rk_raft *r, struct raft_retired *to,
			 struct raft_retired *from)
{
	uint32_t i;

	if (to->n == 0) {
		retired_free(r, to);
		*to = *from;
		memset(from, 0, sizeof(*from));
		return;
	}
	for (i = 0; i < from->n; i++)
		if (!retired_push(r, to, from->ptrs[i], from->sizes[i]))
			r->mem_bytes -= from->sizes[i];
	from->n = 0;
	retired_free(r, from);
}

void raft_log_on_ready(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;

	if (l == NULL)
		return;
	l->handed = l->cur;
	l->cur.head = NULL;
	retired_move(r, &l->retired_old, &l->retired_new);
}

void raft_log_on_advance(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;

	if (l == NULL)
		return;
	arena_free(r, &l->handed);
	retired_free(r, &l->retired_old);
	if (r->n_msgs == 0) {
		retired_free(r, &l->retired_new);
		/* Nothing queued can point into the current arena either. */
		arena_free(r, &l->cur);
	}
}

/* ---- the log struct ------------------------------------------------------------ */

int raft_log_ensure(struct rk_raft *r)
{
	if (r->log != NULL)
		return 0;
	r->log = raft_alloc(r, sizeof(*r->log));
	if (r->log == NULL)
		return RK_ENOMEM;
	memset(r->log, 0, sizeof(*r->log));
	return 0;
}

void raft_log_maybe_free(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;

	if (l == NULL || l->n != 0 || l->has_snap || l->has_sm_snap || l->cur.head != NULL ||
	    l->handed.head != NULL || l->retired_old.n != 0 ||
	    l->retired_new.n != 0 || r->in_ready)
		return;
	raft_free(r, l->ents, l->cap * sizeof(*l->ents));
	retired_free(r, &l->retired_old);
	retired_free(r, &l->retired_new);
	raft_free(r, l, sizeof(*l));
	r->log = NULL;
}

static void ents_drop_front(struct rk_raft *r, uint32_t k)
{
	struct rk_raft_log *l = r->log;
	uint32_t i;

	for (i = 0; i < k; i++) {
		l->ents_bytes -= l->ents[i].len;
		raft_log_retire(r, (void *)(uintptr_t)l->ents[i].data,
				l->ents[i].len);
	}
	memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
	l->n -= k;
	l->offset += k;
}

static void ents_truncate(struct rk_raft *r, uint32_t keep)
{
	struct rk_raft_log *l = r->log;
	uint32_t i;

	for (i = keep; i < l->n; i++) {
		l->ents_bytes -= l->ents[i].len;
		raft_log_retire(r, (void *)(uintptr_t)l->ents[i].data,
				l->ents[i].len);
	}
	l->n = keep;
}

void raft_log_close(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;
	uint32_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		raft_free(r, (void *)(uintptr_t)l->ents[i].data,
			  l->ents[i].len);
	raft_free(r, l->ents, l->cap * sizeof(*l->ents));
	arena_free(r, &l->cur);
	arena_free(r, &l->handed);
	retired_free(r, &l->retired_old);
	retired_free(r, &l->retired_new);
	raft_free(r, l, sizeof(*l));
	r->log = NULL;
}

/* ---- lookups ------------------------------------------------------------------- */

uint64_t raft_log_last_index(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;

	if (l != NULL && l->n > 0)
		return l->offset + l->n - 1;
	if (l != NULL && l->has_snap)
		return l->snap.index;
	return r->opts->storage->last_index(r->storage_ctx);
}

uint64_t raft_log_first_index(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;

	if (l != NULL && l->has_snap)
		return l->snap.index + 1;
	return r->opts->storage->first_index(r->storage_ctx);
}

int raft_log_term(struct rk_raft *r, uint64_t index, uint64_t *termp)
{
	struct rk_raft_log *l = r->log;
	int rc;

	*termp = 0;
	if (l != NULL && l->has_snap) {
		if (index == l->snap.index) {
			*termp = l->snap.term;
			return 0;
		}
		if (index < l->snap.index)
			return RK_ECOMPACTED;
	}
	if (l != NULL && l->n > 0 && index >= l->offset) {
		if (index - l->offset >= l->n)
			return RK_EUNAVAILABLE;
		*termp = l->ents[index - l->offset].term;
		return 0;
	}
	if (l != NULL && l->has_snap)
		return RK_EUNAVAILABLE;
	rc = r->opts->storage->term(r->storage_ctx, index, termp);
	if (rc != 0)
		*termp = 0;
	return rc;
}

uint64_t raft_log_term_or0(struct rk_raft *r, uint64_t index)
{
	uint64_t t;

	(void)raft_log_term(r, index, &t);
	return t;
}

uint64_t raft_log_last_term(struct rk_raft *r)
{
	return raft_log_term_or0(r, raft_log_last_index(r));
}

bool raft_log_match_term(struct rk_raft *r, uint64_t index, uint64_t term)
{
	uint64_t t;

	if (raft_log_term(r, index, &t) != 0)
		return false;
	return t == term;
}

/* ---- entry buffers (storage callbacks push into these) ----------------------- */

int rk_raft_ents_push(struct rk_raft_ents *b, const struct rk_raft_entry *e)
{
	struct rk_raft_entry *nv;
	uint8_t *data = NULL;

	if (b->n > 0 && b->max_bytes != 0 && b->bytes + e->len > b->max_bytes)
		return 1; /* full: stop */
	if (b->n == b->cap) {
		size_t ncap = b->cap == 0 ? 16 : b->cap * 2;
		nv = raft_arena_alloc(b->r, ncap * sizeof(*nv));
		if (nv == NULL)
			return RK_ENOMEM;
		if (b->n > 0)
			memcpy(nv, b->v, b->n * sizeof(*nv));
		b->v = nv;
		b->cap = ncap;
	}
	if (e->len > 0) {
		data = raft_arena_alloc(b->r, e->len);
		if (data == NULL)
			return RK_ENOMEM;
		memcpy(data, e->data, e->len);
	}
	b->v[b->n] = *e;
	b->v[b->n].data = data;
	b->n++;
	b->bytes += e->len;
	return 0;
}

int raft_log_slice(struct rk_raft *r, uint64_t lo, uint64_t hi,
		   uint64_t max_bytes, struct rk_raft_entry **entsp,
		   size_t *np)
{
	struct rk_raft_log *l;
	struct rk_raft_ents b;
	uint64_t mem_lo, i;
	int rc;

	*entsp = NULL;
	*np = 0;
	if (lo >= hi)
		return 0;
	if (lo < raft_log_first_index(r))
		return RK_ECOMPACTED;
	if (hi > raft_log_last_index(r) + 1)
		return RK_EUNAVAILABLE;
	memset(&b, 0, sizeof(b));
	b.r = r;
	b.max_bytes = max_bytes;
	l = r->log;
	mem_lo = (l != NULL && l->n > 0) ? l->offset : hi;
	if (lo < mem_lo) {
		uint64_t shi = raft_min(hi, mem_lo);
		rc = r->opts->storage->entries(r->storage_ctx, lo, shi,
					       max_bytes, &b);
		if (rc < 0)
			return rc;
		if (b.n == 0)
			return RK_EUNAVAILABLE;
		/* Storage must give a contiguous prefix of what was asked. */
		for (i = 0; i < b.n; i++)
			if (b.v[i].index != lo + i)
				return RK_ECORRUPT;
		if (b.n < shi - lo)
			goto out; /* size limit reached */
	}
	l = r->log; /* arena allocation may have created it */
	for (i = raft_max(lo, mem_lo); i < hi; i++) {
		const struct rk_raft_entry *e = &l->ents[i - l->offset];
		struct rk_raft_entry *nv;

		if (b.n > 0 && max_bytes != 0 && b.bytes + e->len > max_bytes)
			break;
		if (b.n == b.cap) {
			size_t ncap = b.cap == 0 ? 16 : b.cap * 2;
			if (ncap < hi - lo && hi - lo < 4096)
				ncap = hi - lo;
			nv = raft_arena_alloc(r, ncap * sizeof(*nv));
			if (nv == NULL)
				return RK_ENOMEM;
			if (b.n > 0)
				memcpy(nv, b.v, b.n * sizeof(*nv));
			b.v = nv;
			b.cap = ncap;
		}
		/* Payload shared with the log: it is retired, never freed,
		 * while a batch may see it (raft_log_retire). */
		b.v[b.n++] = *e;
		b.bytes += e->len;
	}
out:
	*entsp = b.v;
	*np = b.n;
	return 0;
}

/* ---- changes ------------------------------------------------------------------- */

static int ents_reserve(struct rk_raft *r, uint32_t want)
{
	struct rk_raft_log *l = r->log;
	struct rk_raft_entry *nv;
	uint32_t ncap;

	if (want <= l->cap)
		return 0;
	ncap = l->cap == 0 ? 8 : l->cap;
	while (ncap < want)
		ncap *= 2;
	nv = raft_realloc(r, l->ents, l->cap * sizeof(*nv), ncap * sizeof(*nv));
	if (nv == NULL)
		return RK_ENOMEM;
	l->ents = nv;
	l->cap = ncap;
	return 0;
}

int raft_log_append(struct rk_raft *r, const struct rk_raft_entry *ents,
		    size_t n)
{
	struct rk_raft_log *l;
	uint64_t first;
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	rc = raft_log_ensure(r);
	if (rc != 0)
		return rc;
	l = r->log;
	first = ents[0].index;
	if (first == 0 || first > raft_log_last_index(r) + 1)
		return RK_EINVAL; /* a gap: never appended */
	if (l->has_snap && first <= l->snap.index)
		return RK_EINVAL;
	if (l->n > 0 && first >= l->offset) {
		ents_truncate(r, (uint32_t)(first - l->offset));
	} else if (l->n > 0) {
		ents_truncate(r, 0);
		l->offset = first;
	} else {
		l->offset = first;
	}
	if (l->n == 0)
		l->offset = first;
	rc = ents_reserve(r, l->n + (uint32_t)n);
	if (rc != 0)
		return rc;
	for (i = 0; i < n; i++) {
		struct rk_raft_entry *e = &l->ents[l->n];
		uint8_t *data = NULL;

		if (ents[i].len > 0) {
			data = raft_alloc(r, ents[i].len);
			if (data == NULL)
				return RK_ENOMEM;
			memcpy(data, ents[i].data, ents[i].len);
		}
		*e = ents[i];
		e->data = data;
		l->n++;
		l->ents_bytes += e->len;
	}
	if (r->stable_last >= first)
		r->stable_last = first - 1;
	return 0;
}

uint64_t raft_log_find_conflict(struct rk_raft *r,
				const struct rk_raft_entry *ents, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!raft_log_match_term(r, ents[i].index, ents[i].term))
			return ents[i].index;
	return 0;
}

uint64_t raft_log_find_conflict_by_term(struct rk_raft *r, uint64_t index,
					uint64_t term)
{
	uint64_t t;

	for (; index > 0; index--) {
		if (raft_log_term(r, index, &t) != 0)
			break; /* compacted or beyond: best effort */
		if (t <= term)
			break;
	}
	return index;
}

bool raft_log_is_up_to_date(struct rk_raft *r, uint64_t last_index,
			    uint64_t term)
{
	uint64_t lt = raft_log_last_term(r);

	return term > lt || (term == lt && last_index >= raft_log_last_index(r));
}

int raft_log_restore(struct rk_raft *r,
		     const struct rk_raft_snapshot_meta *meta)
{
	int rc = raft_log_ensure(r);

	if (rc != 0)
		return rc;
	ents_truncate(r, 0);
	r->log->offset = meta->index + 1;
	/* Above everything committed, so above any state-machine snapshot
	 * taken (restore_keeping_log commits to it): this one supersedes it. */
	r->log->has_sm_snap = false;
	r->log->has_snap = true;
	r->log->snap = *meta;
	r->committed = meta->index;
	/* The snapshot is persisted before any entry of the batch it is handed
	 * out in, so entries after it may be handed out with it. */
	r->stable_last = meta->index;
	return 0;
}

void raft_log_commit_to(struct rk_raft *r, uint64_t index)
{
	uint64_t last = raft_log_last_index(r);

	if (index > last)
		index = last; /* never commit what we do not hold */
	if (index > r->committed)
		r->committed = index;
}

void raft_log_stable_to(struct rk_raft *r, uint64_t index, uint64_t term)
{
	struct rk_raft_log *l = r->log;

	if (l == NULL || l->n == 0 || index < l->offset ||
	    index - l->offset >= l->n)
		return;
	if (l->ents[index - l->offset].term != term)
		return; /* replaced meanwhile: the next batch persists it */
	if (index > r->stable_last)
		r->stable_last = index;
}

void raft_log_shrink(struct rk_raft *r)
{
	struct rk_raft_log *l = r->log;
	uint64_t upto;

	if (l == NULL || l->n == 0)
		return;
	upto = raft_min(r->stable_last, r->applied);
	if (upto < l->offset)
		return;
	if (upto - l->offset + 1 >= l->n) {
		ents_drop_front(r, l->n);
		l->offset = upto + 1;
		raft_free(r, l->ents, l->cap * sizeof(*l->ents));
		l->ents = NULL;
		l->cap = 0;
		return;
	}
	ents_drop_front(r, (uint32_t)(upto - l->offset + 1));
}
