/*
 * Building batches: operations encoded into one byte string, so that a
 * batch is a single allocation however many ranges it touches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

struct rk_store_batch *rk_store_batch_new(void)
{
	return calloc(1, sizeof(struct rk_store_batch));
}

void rk_store_batch_free(struct rk_store_batch *b)
{
	if (b == NULL)
		return;
	free(b->p);
	free(b);
}

void rk_store_batch_no_sync(struct rk_store_batch *b)
{
	b->needs_sync = false;
}

size_t rk_store_batch_bytes(const struct rk_store_batch *b)
{
	return b->len;
}

bool rk_store_batch_empty(const struct rk_store_batch *b)
{
	return b->n_ops == 0;
}

void rk_store_batch_mark(const struct rk_store_batch *b,
			 struct rk_store_batch_mark *mp)
{
	mp->len = b->len;
	mp->n_ops = b->n_ops;
	mp->oom = b->oom;
	mp->needs_sync = b->needs_sync;
}

void rk_store_batch_rollback(struct rk_store_batch *b,
			     const struct rk_store_batch_mark *m)
{
	/* Ops are only ever appended, and grow() never moves len past cap
	 * nor touches the bytes before len: the prefix is intact. */
	b->len = m->len;
	b->n_ops = m->n_ops;
	b->oom = m->oom;
	b->needs_sync = m->needs_sync;
}

bool rk_store_batch_failed(const struct rk_store_batch *b)
{
	return b->oom;
}

static uint8_t *grow(struct rk_store_batch *b, size_t n)
{
	uint8_t *p;

	if (b->oom)
		return NULL;
	if (b->len + n > b->cap) {
		size_t ncap = b->cap == 0 ? 256 : b->cap;
		while (ncap < b->len + n)
			ncap *= 2;
		p = realloc(b->p, ncap);
		if (p == NULL) {
			b->oom = true;
			return NULL;
		}
		b->p = p;
		b->cap = ncap;
	}
	p = b->p + b->len;
	b->len += n;
	return p;
}

static void op(struct rk_store_batch *b, uint8_t code)
{
	uint8_t *p = grow(b, 1);

	if (p != NULL)
		*p = code;
	b->n_ops++;
}

static void u32(struct rk_store_batch *b, uint32_t v)
{
	uint8_t *p = grow(b, 4);

	if (p != NULL)
		rk_le_put32(p, v);
}

static void u64(struct rk_store_batch *b, uint64_t v)
{
	uint8_t *p = grow(b, 8);

	if (p != NULL)
		rk_le_put64(p, v);
}

static void bytes(struct rk_store_batch *b, const void *data, size_t n)
{
	uint8_t *p;

	u32(b, (uint32_t)n);
	p = grow(b, n);
	if (p != NULL && n > 0)
		memcpy(p, data, n);
}

void rk_store_batch_append(struct rk_store_batch *b, uint64_t range,
			   const struct rk_raft_entry *ents, size_t n)
{
	size_t i;

	if (n == 0)
		return;
	op(b, OP_APPEND);
	u64(b, range);
	u32(b, (uint32_t)n);
	for (i = 0; i < n; i++) {
		u64(b, ents[i].index);
		u64(b, ents[i].term);
		u32(b, ents[i].type);
		bytes(b, ents[i].data, ents[i].len);
	}
	b->needs_sync = true;
}

size_t store_encode_raft_state(const struct rk_store_raft_state *st, uint8_t *p)
{
	size_t off = RAFT_STATE_FIXED;
	int i;

	rk_le_put64(p, st->replica_id);
	rk_le_put64(p + 8, st->hs.term);
	rk_le_put64(p + 16, st->hs.vote);
	rk_le_put64(p + 24, st->hs.commit);
	rk_le_put64(p + 32, st->trunc_index);
	rk_le_put64(p + 40, st->trunc_term);
	p[off++] = st->conf.n;
	p[off++] = st->conf.auto_leave;
	for (i = 0; i < st->conf.n && i < RK_RAFT_MAX_MEMBERS; i++) {
		rk_le_put64(p + off, st->conf.ids[i]);
		p[off + 8] = st->conf.flags[i];
		off += 9;
	}
	return off;
}

int store_decode_raft_state(const uint8_t *p, size_t len,
			    struct rk_store_raft_state *stp)
{
	size_t off = RAFT_STATE_FIXED;
	int i;

	memset(stp, 0, sizeof(*stp));
	if (len < RAFT_STATE_FIXED + 2 || p[off] > RK_RAFT_MAX_MEMBERS ||
	    p[off + 1] > 1 || len != RAFT_STATE_FIXED + 2 + (size_t)p[off] * 9)
		return RK_ECORRUPT;
	stp->replica_id = rk_le_get64(p);
	stp->hs.term = rk_le_get64(p + 8);
	stp->hs.vote = rk_le_get64(p + 16);
	stp->hs.commit = rk_le_get64(p + 24);
	stp->trunc_index = rk_le_get64(p + 32);
	stp->trunc_term = rk_le_get64(p + 40);
	stp->conf.n = p[off++];
	stp->conf.auto_leave = p[off++];
	for (i = 0; i < stp->conf.n; i++) {
		stp->conf.ids[i] = rk_le_get64(p + off);
		stp->conf.flags[i] = p[off + 8];
		off += 9;
	}
	return 0;
}

void rk_store_batch_raft_state(struct rk_store_batch *b, uint64_t range,
			       const struct rk_store_raft_state *st)
{
	uint8_t tmp[RAFT_STATE_MAX];
	size_t n = store_encode_raft_state(st, tmp);

	op(b, OP_RAFT_STATE);
	u64(b, range);
	bytes(b, tmp, n);
	b->needs_sync = true;
}

void rk_store_batch_truncate(struct rk_store_batch *b, uint64_t range,
			     uint64_t from)
{
	op(b, OP_TRUNCATE);
	u64(b, range);
	u64(b, from);
	b->needs_sync = true;
}

void rk_store_batch_compact(struct rk_store_batch *b, uint64_t range,
			    uint64_t upto)
{
	op(b, OP_COMPACT);
	u64(b, range);
	u64(b, upto);
	b->needs_sync = true;
}

void rk_store_batch_tombstone(struct rk_store_batch *b, uint64_t range,
			      uint64_t min_replica_id)
{
	op(b, OP_TOMBSTONE);
	u64(b, range);
	u64(b, min_replica_id);
	b->needs_sync = true;
}

/* A put (with its value) or a delete of one key. */
static void key_op(struct rk_store_batch *b, uint8_t code, bool put, const void *key,
		   size_t klen, const void *val, size_t vlen)
{
	op(b, code);
	bytes(b, key, klen);
	if (put)
		bytes(b, val, vlen);
}

void rk_store_batch_put(struct rk_store_batch *b, const void *key, size_t klen,
			const void *val, size_t vlen)
{
	key_op(b, OP_PUT, true, key, klen, val, vlen);
}

void rk_store_batch_del(struct rk_store_batch *b, const void *key, size_t klen)
{
	key_op(b, OP_DEL, false, key, klen, NULL, 0);
}

void rk_store_batch_internal_put(struct rk_store_batch *b, const void *key,
				 size_t klen, const void *val, size_t vlen)
{
	key_op(b, OP_IPUT, true, key, klen, val, vlen);
}

void rk_store_batch_internal_del(struct rk_store_batch *b, const void *key,
				 size_t klen)
{
	key_op(b, OP_IDEL, false, key, klen, NULL, 0);
}

void rk_store_batch_pl_put(struct rk_store_batch *b, const void *key,
			   size_t klen, const void *val, size_t vlen)
{
	key_op(b, OP_PPUT, true, key, klen, val, vlen);
}

void rk_store_batch_pl_del(struct rk_store_batch *b, const void *key,
			   size_t klen)
{
	key_op(b, OP_PDEL, false, key, klen, NULL, 0);
}

void rk_store_batch_apply_state(struct rk_store_batch *b, uint64_t range,
				const struct rk_store_apply_state *as)
{
	op(b, OP_APPLY);
	u64(b, range);
	u64(b, as->applied);
	bytes(b, as->desc, as->desc_len);
}

void rk_store_batch_clear_span(struct rk_store_batch *b, const void *start,
			       size_t slen, const void *end, size_t elen)
{
	op(b, OP_CLEAR);
	bytes(b, start, slen);
	bytes(b, end, elen);
}

void rk_store_batch_meta_put(struct rk_store_batch *b, const char *name,
			     const void *val, size_t vlen)
{
	op(b, OP_META_PUT);
	bytes(b, name, strlen(name));
	bytes(b, val, vlen);
	b->needs_sync = true;
}

void rk_store_batch_meta_del(struct rk_store_batch *b, const char *name)
{
	op(b, OP_META_DEL);
	bytes(b, name, strlen(name));
	b->needs_sync = true;
}

void rk_store_batch_remove_replica(struct rk_store_batch *b, uint64_t range,
				   uint64_t min_replica_id, const void *start,
				   size_t slen, const void *end, size_t elen)
{
	op(b, OP_REMOVE);
	u64(b, range);
	u64(b, min_replica_id);
	u64(b, 1); /* clear the span */
	bytes(b, start, slen);
	bytes(b, end, elen);
	b->needs_sync = true;
}

void rk_store_batch_apply_del(struct rk_store_batch *b, uint64_t range)
{
	op(b, OP_APPLY_DEL);
	u64(b, range);
}

void rk_store_batch_remove_uninit(struct rk_store_batch *b, uint64_t range,
				  uint64_t min_replica_id)
{
	op(b, OP_REMOVE);
	u64(b, range);
	u64(b, min_replica_id);
	u64(b, 0); /* no span: nothing to clear */
	bytes(b, NULL, 0);
	bytes(b, NULL, 0);
	b->needs_sync = true;
}

void store_install_name(uint64_t range, char out[32])
{
	snprintf(out, 32, INSTALL_PREFIX "%016llx", (unsigned long long)range);
}

void rk_store_batch_install(struct rk_store_batch *b, uint64_t range,
			    uint64_t index, const char *name)
{
	size_t n = strlen(name);
	uint8_t *v = malloc(8 + n);
	char key[32];

	if (v == NULL) {
		b->oom = true;
		return;
	}
	rk_le_put64(v, index);
	memcpy(v + 8, name, n);
	store_install_name(range, key);
	rk_store_batch_meta_put(b, key, v, 8 + n);
	free(v);
}
