/*
 * Readers: one WiredTiger session per thread, reading committed data. Values
 * handed out are copies in the reader's buffer, valid until its next call,
 * so no cursor stays positioned (a positioned cursor pins a snapshot and
 * holds back eviction).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "store_int.h"
#include "vlog.h"

int rk_store_reader_open(struct rk_store *s, struct rk_store_reader **rp)
{
	struct rk_store_reader *r;
	int rc;

	*rp = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return RK_ENOMEM;
	r->s = s;
	rc = store_session_open(s, &r->ss);
	if (rc != 0) {
		free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

void rk_store_reader_close(struct rk_store_reader *r)
{
	if (r == NULL)
		return;
	rk_store_reader_unpin(r);
	store_session_close(&r->ss);
	free(r->buf);
	free(r);
}

/* Copies v into the reader's buffer. */
static const void *keep(struct rk_store_reader *r, const void *v, size_t n)
{
	if (n > r->cap) {
		uint8_t *p = realloc(r->buf, n);
		if (p == NULL)
			return NULL;
		r->buf = p;
		r->cap = n;
	}
	if (n > 0)
		memcpy(r->buf, v, n);
	return r->buf;
}

/* Looks up a Q-keyed, u-valued row; copies the value into the reader. */
static int get_by_id(struct rk_store_reader *r, enum store_table t,
		     uint64_t id, const uint8_t **vp, size_t *np)
{
	WT_CURSOR *c = r->ss.c[t];
	WT_ITEM v;
	int ret;

	*vp = NULL;
	*np = 0;
	c->set_key(c, id);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret == 0) {
		*vp = keep(r, v.data, v.size);
		*np = v.size;
		if (*vp == NULL && v.size > 0)
			ret = ENOMEM;
	}
	c->reset(c);
	return store_err(ret);
}

int rk_store_read_raft_state(struct rk_store_reader *r, uint64_t range,
			     struct rk_store_raft_state *stp)
{
	const uint8_t *v;
	size_t n;
	int rc;

	memset(stp, 0, sizeof(*stp));
	rc = get_by_id(r, T_RAFTSTATE, range, &v, &n);
	if (rc != 0)
		return rc;
	return store_decode_raft_state(v, n, stp);
}

int store_decode_apply(const uint8_t *v, size_t n,
		       struct rk_store_apply_state *asp)
{
	memset(asp, 0, sizeof(*asp));
	if (n < 8)
		return RK_ECORRUPT;
	asp->applied = rk_le_get64(v);
	asp->desc = v + 8;
	asp->desc_len = n - 8;
	return 0;
}

int rk_store_read_apply_state(struct rk_store_reader *r, uint64_t range,
			      struct rk_store_apply_state *asp)
{
	const uint8_t *v;
	size_t n;
	int rc;

	memset(asp, 0, sizeof(*asp));
	rc = get_by_id(r, T_APPLY, range, &v, &n);
	if (rc != 0)
		return rc;
	return store_decode_apply(v, n, asp);
}

int rk_store_read_durable_applied(struct rk_store_reader *r, uint64_t range,
				  uint64_t *appliedp)
{
	struct rk_store *s = r->s;
	size_t lo = 0, hi;

	*appliedp = 0;
	pthread_mutex_lock(&s->mu);
	hi = s->ndur;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->dur[mid].range < range)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->ndur && s->dur[lo].range == range)
		*appliedp = s->dur[lo].applied;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int rk_store_list_ranges(struct rk_store_reader *r,
			 int (*fn)(void *arg, uint64_t range), void *arg)
{
	WT_CURSOR *c = r->ss.c[T_RAFTSTATE];
	uint64_t range;
	int ret, rc = 0;

	while ((ret = c->next(c)) == 0) {
		if ((ret = c->get_key(c, &range)) != 0)
			break;
		if ((rc = fn(arg, range)) != 0)
			break;
	}
	c->reset(c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

int rk_store_list_tombstones(struct rk_store_reader *r,
			     int (*fn)(void *arg, uint64_t range, uint64_t min_id),
			     void *arg)
{
	WT_CURSOR *c = r->ss.c[T_TOMBSTONE];
	uint64_t range, min_id;
	int ret, rc = 0;

	while ((ret = c->next(c)) == 0) {
		if ((ret = c->get_key(c, &range)) != 0 ||
		    (ret = c->get_value(c, &min_id)) != 0)
			break;
		if ((rc = fn(arg, range, min_id)) != 0)
			break;
	}
	c->reset(c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

int rk_store_read_tombstone(struct rk_store_reader *r, uint64_t range,
			    uint64_t *min_replica_idp)
{
	WT_CURSOR *c = r->ss.c[T_TOMBSTONE];
	uint64_t v = 0;
	int ret;

	*min_replica_idp = 0;
	c->set_key(c, range);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	c->reset(c);
	if (ret == 0)
		*min_replica_idp = v;
	return store_err(ret);
}

int rk_store_log_last(struct rk_store_reader *r, uint64_t range,
		      uint64_t trunc_index, uint64_t *lastp)
{
	WT_CURSOR *c = r->ss.c[T_RAFTLOG];
	uint64_t kr, ki;
	int exact, ret;

	*lastp = trunc_index;
	/* The first key after the range's last one, then one step back. */
	c->set_key(c, range, UINT64_MAX);
	ret = c->search_near(c, &exact);
	if (ret == 0 && exact > 0)
		ret = c->prev(c);
	if (ret == 0)
		ret = c->get_key(c, &kr, &ki);
	c->reset(c);
	if (ret == WT_NOTFOUND)
		return 0;
	if (ret != 0)
		return store_err(ret);
	if (kr == range && ki > trunc_index)
		*lastp = ki;
	return 0;
}

static int decode_entry(uint64_t index, const WT_ITEM *v,
			struct rk_raft_entry *e)
{
	if (v->size < 12)
		return RK_ECORRUPT;
	memset(e, 0, sizeof(*e));
	e->index = index;
	e->term = rk_le_get64(v->data);
	e->type = (uint8_t)rk_le_get32((const uint8_t *)v->data + 8);
	e->data = (const uint8_t *)v->data + 12;
	e->len = (uint32_t)(v->size - 12);
	return 0;
}

int rk_store_log_term(struct rk_store_reader *r, uint64_t range,
		      uint64_t index, uint64_t *termp)
{
	WT_CURSOR *c = r->ss.c[T_RAFTLOG];
	struct rk_raft_entry e;
	WT_ITEM v;
	int ret, rc;

	*termp = 0;
	c->set_key(c, range, index);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret != 0) {
		c->reset(c);
		return ret == WT_NOTFOUND ? RK_EUNAVAILABLE : store_err(ret);
	}
	rc = decode_entry(index, &v, &e);
	c->reset(c);
	if (rc == 0)
		*termp = e.term;
	return rc;
}

int rk_store_log_entries(struct rk_store_reader *r, uint64_t range,
			 uint64_t lo, uint64_t hi, rk_store_entry_fn fn,
			 void *arg)
{
	WT_CURSOR *c = r->ss.c[T_RAFTLOG];
	struct rk_raft_entry e;
	uint64_t kr, ki, want = lo;
	WT_ITEM v;
	int ret, rc = 0;

	if (lo >= hi)
		return 0;
	c->set_key(c, range, lo);
	ret = c->search(c);
	while (ret == 0 && want < hi) {
		ret = c->get_key(c, &kr, &ki);
		if (ret != 0)
			break;
		if (kr != range || ki != want) {
			rc = RK_EUNAVAILABLE; /* a hole or the end of the log */
			break;
		}
		ret = c->get_value(c, &v);
		if (ret != 0)
			break;
		rc = decode_entry(ki, &v, &e);
		if (rc == 0)
			rc = fn(arg, &e);
		if (rc != 0)
			break;
		want++;
		if (want < hi)
			ret = c->next(c);
	}
	c->reset(c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (ret == WT_NOTFOUND)
		return RK_EUNAVAILABLE;
	return store_err(ret);
}

/* The value of key in a byte-keyed table (a kv row with its header). */
static int table_get(struct rk_store_reader *r, int table, const void *key,
		     size_t klen, const void **valp, size_t *vlenp)
{
	WT_CURSOR *c = r->ss.c[table];
	WT_ITEM k, v;
	int ret;

	*valp = NULL;
	*vlenp = 0;
	k.data = key;
	k.size = klen;
	c->set_key(c, &k);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret == 0) {
		*vlenp = v.size;
		*valp = keep(r, v.data, v.size);
		if (*valp == NULL && *vlenp > 0)
			ret = ENOMEM;
	}
	c->reset(c);
	return store_err(ret);
}

int rk_store_get(struct rk_store_reader *r, const void *key, size_t klen,
		 const void **valp, size_t *vlenp)
{
	/* A value in the value log: its segment can have been collected and
	 * deleted between the read of the row and the read of the record (a
	 * reader not pinned, stalled for a whole checkpoint): the row read
	 * again refers to the copy. */
	for (int tries = 0;; tries++) {
		const uint8_t *row;
		uint8_t ref[KV_APART_LEN];
		size_t rl;
		int rc = table_get(r, T_KV, key, klen, (const void **)&row, &rl);
		if (rc != 0)
			return rc;
		/* The record is copied to r->buf, where the row is. */
		if (rl == KV_APART_LEN && (row[1] & KV_F_APART)) {
			memcpy(ref, row, rl);
			row = ref;
		}
		rc = store_kv_value(r->s, key, klen, row, rl, &r->buf, &r->cap,
				    (const uint8_t **)valp, vlenp);
		if (rc != RK_ENOTFOUND)
			return rc;
		if (tries == 3)
			return RK_ECORRUPT;
	}
}

int rk_store_values_live(struct rk_store_reader *r, uint64_t *livep)
{
	WT_CURSOR *c = r->ss.c[T_VLOG];
	uint64_t seg;
	int64_t live, sum = 0;
	int ret;

	*livep = 0;
	while ((ret = c->next(c)) == 0) {
		if ((ret = c->get_key(c, &seg)) != 0 ||
		    (ret = c->get_value(c, &live)) != 0)
			break;
		sum += live;
	}
	c->reset(c);
	if (ret != WT_NOTFOUND)
		return store_err(ret);
	*livep = sum > 0 ? (uint64_t)sum : 0;
	return 0;
}

int rk_store_internal_get(struct rk_store_reader *r, const void *key,
			  size_t klen, const void **valp, size_t *vlenp)
{
	return table_get(r, T_INTERNAL, key, klen, valp, vlenp);
}

int rk_store_pl_get(struct rk_store_reader *r, const void *key, size_t klen,
		    const void **valp, size_t *vlenp)
{
	return table_get(r, T_PLACEMENT, key, klen, valp, vlenp);
}

int rk_store_pl_walk(struct rk_store_reader *r, const void *start, size_t slen,
		     const void *end, size_t elen, rk_store_pair_fn fn, void *arg)
{
	int rc = store_walk_table(&r->ss, 2, true, start, slen, end, elen,
				  fn, arg);

	return rc < 0 ? rc : 0;
}

int rk_store_meta_get(struct rk_store_reader *r, const char *name,
		      const void **valp, size_t *vlenp)
{
	WT_CURSOR *c = r->ss.c[T_META];
	WT_ITEM v;
	int ret;

	*valp = NULL;
	*vlenp = 0;
	c->set_key(c, name);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret == 0) {
		*vlenp = v.size;
		*valp = keep(r, v.data, v.size);
		if (*valp == NULL && v.size > 0)
			ret = ENOMEM;
	}
	c->reset(c);
	return store_err(ret);
}

/* True when key k is at or past the span's end (empty end: never). */
bool store_past_end(const void *k, size_t kl, const void *e, size_t el)
{
	size_t m;
	int cmp;

	if (el == 0)
		return false;
	m = kl < el ? kl : el;
	cmp = memcmp(k, e, m);
	return cmp > 0 || (cmp == 0 && kl >= el);
}

int store_seek(WT_CURSOR *c, const void *start, size_t slen)
{
	WT_ITEM k;
	int exact, ret;

	if (slen == 0)
		return c->next(c); /* a reset cursor steps to the first key */
	k.data = start;
	k.size = slen;
	c->set_key(c, &k);
	ret = c->search_near(c, &exact);
	if (ret == 0 && exact < 0)
		ret = c->next(c);
	return ret;
}

int store_walk_table(struct store_session *ss, int table, bool values,
		     const void *start, size_t slen, const void *end,
		     size_t elen, rk_store_pair_fn fn, void *arg)
{
	WT_CURSOR *c = ss->c[table == 0 ? T_KV : table == 1 ? T_INTERNAL
			     : T_PLACEMENT];
	WT_ITEM k, v;
	int ret, rc = 0;

	ret = store_seek(c, start, slen);
	while (ret == 0) {
		const uint8_t *vd;
		size_t vl;

		if ((ret = c->get_key(c, &k)) != 0 ||
		    (ret = c->get_value(c, &v)) != 0)
			break;
		if (store_past_end(k.data, k.size, end, elen))
			break;
		vd = v.data;
		vl = v.size;
		if (table == 0 && values) /* kv: the header stays inside storage */
			rc = store_kv_value(ss->s, k.data, k.size, v.data, v.size,
					    &ss->vbuf, &ss->vcap, &vd, &vl);
		else if (table == 0)
			vd = NULL, rc = store_kv_value_len(v.data, v.size, &vl);
		if (rc != 0)
			break;
		rc = fn(arg, table, k.data, k.size, vd, vl);
		if (rc != 0)
			break;
		ret = c->next(c);
	}
	c->reset(c);
	if (rc != 0)
		return rc < 0 ? rc : 1;
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

static int scan(struct rk_store_reader *r, uint64_t range, bool values,
		const void *start, size_t slen, const void *end, size_t elen,
		rk_store_pair_fn fn, void *arg, uint64_t *appliedp)
{
	WT_SESSION *ws = r->ss.ws;
	const uint8_t *v;
	uint64_t pin = 0;
	size_t n;
	int rc;

	if (appliedp != NULL)
		*appliedp = 0;
	/* One snapshot transaction: both tables and the apply state at the
	 * same point (the pinned one if r is pinned), and the value log's
	 * segments it refers to kept as long. */
	if (!r->pinned)
		pin = store_vlog_pin(r->s->vlog);
	rc = r->pinned ? 0 : store_err(ws->begin_transaction(ws, "isolation=snapshot"));
	if (rc != 0) {
		store_vlog_unpin(r->s->vlog, pin);
		return rc;
	}
	if (range != 0 && appliedp != NULL) {
		rc = get_by_id(r, T_APPLY, range, &v, &n);
		if (rc == 0 && n >= 8)
			*appliedp = rk_le_get64(v);
		if (rc == RK_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = store_walk_table(&r->ss, 0, values, start, slen, end, elen,
				      fn, arg);
	if (rc == 0)
		rc = store_walk_table(&r->ss, 1, values, start, slen, end, elen,
				      fn, arg);
	if (!r->pinned) {
		ws->rollback_transaction(ws, NULL); /* read-only */
		store_vlog_unpin(r->s->vlog, pin);
	}
	return rc < 0 ? rc : 0;
}

int rk_store_scan_span(struct rk_store_reader *r, uint64_t range,
		       const void *start, size_t slen, const void *end,
		       size_t elen, rk_store_pair_fn fn, void *arg,
		       uint64_t *appliedp)
{
	return scan(r, range, true, start, slen, end, elen, fn, arg, appliedp);
}

int rk_store_scan_span_lens(struct rk_store_reader *r, uint64_t range,
			    const void *start, size_t slen, const void *end,
			    size_t elen, rk_store_pair_fn fn, void *arg,
			    uint64_t *appliedp)
{
	return scan(r, range, false, start, slen, end, elen, fn, arg, appliedp);
}

int rk_store_reader_pin(struct rk_store_reader *r, uint64_t range,
			uint64_t *appliedp)
{
	WT_SESSION *ws = r->ss.ws;
	const uint8_t *v;
	size_t n;
	int rc;

	*appliedp = 0;
	if (r->pinned)
		return RK_ESTATE;
	r->vpin = store_vlog_pin(r->s->vlog);
	rc = store_err(ws->begin_transaction(ws, "isolation=snapshot"));
	if (rc != 0) {
		store_vlog_unpin(r->s->vlog, r->vpin);
		return rc;
	}
	r->pinned = true;
	/* A read now: the snapshot is this point's even if WiredTiger took
	 * it only at a transaction's first read. */
	rc = get_by_id(r, T_APPLY, range, &v, &n);
	if (rc == 0 && n >= 8)
		*appliedp = rk_le_get64(v);
	if (rc == RK_ENOTFOUND)
		rc = 0;
	if (rc != 0)
		rk_store_reader_unpin(r);
	return rc;
}

void rk_store_reader_unpin(struct rk_store_reader *r)
{
	if (!r->pinned)
		return;
	r->ss.ws->rollback_transaction(r->ss.ws, NULL); /* read-only */
	store_vlog_unpin(r->s->vlog, r->vpin);
	r->pinned = false;
}

void rk_store_checksum_pair(void *xxh3_state, int table, const void *key,
			    size_t klen, const void *val, size_t vlen)
{
	XXH3_state_t *st = xxh3_state;
	uint8_t hdr[5];

	hdr[0] = (uint8_t)table;
	rk_le_put32(hdr + 1, (uint32_t)klen);
	XXH3_64bits_update(st, hdr, 5);
	XXH3_64bits_update(st, key, klen);
	rk_le_put32(hdr + 1, (uint32_t)vlen);
	XXH3_64bits_update(st, hdr + 1, 4);
	XXH3_64bits_update(st, val, vlen);
}

static int sum_pair(void *arg, int table, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	rk_store_checksum_pair(arg, table, key, klen, val, vlen);
	return 0;
}

int rk_store_checksum_span(struct rk_store_reader *r, uint64_t range,
			   const void *start, size_t slen, const void *end,
			   size_t elen, uint64_t *sump, uint64_t *appliedp)
{
	XXH3_state_t *st = XXH3_createState();
	int rc;

	*sump = 0;
	if (st == NULL)
		return RK_ENOMEM;
	XXH3_64bits_reset(st);
	rc = rk_store_scan_span(r, range, start, slen, end, elen, sum_pair, st,
				appliedp);
	if (rc == 0)
		*sump = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return rc;
}
