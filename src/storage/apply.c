/*
 * Replaying a batch's operations through one session's cursors, inside the
 * transaction the storage thread runs for the whole group.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "vlog.h"

struct reader_pos {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static uint64_t rd64(struct reader_pos *r)
{
	uint64_t v;

	if (r->left < 8) {
		r->bad = true;
		return 0;
	}
	v = rk_le_get64(r->p);
	r->p += 8;
	r->left -= 8;
	return v;
}

static uint32_t rd32(struct reader_pos *r)
{
	uint32_t v;

	if (r->left < 4) {
		r->bad = true;
		return 0;
	}
	v = rk_le_get32(r->p);
	r->p += 4;
	r->left -= 4;
	return v;
}

static const uint8_t *rdbytes(struct reader_pos *r, size_t *np)
{
	size_t n = rd32(r);
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = true;
		*np = 0;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	*np = n;
	return p;
}

static uint8_t *scratch(struct store_session *ss, size_t n)
{
	if (n > ss->scratch_cap) {
		uint8_t *p = realloc(ss->scratch, n);
		if (p == NULL)
			return NULL;
		ss->scratch = p;
		ss->scratch_cap = n;
	}
	return ss->scratch;
}

/* Removes log entries of range with index >= from (suffix), or <= upto
 * (prefix) when prefix is set. */
int store_log_remove(struct store_session *ss, uint64_t range, uint64_t from,
		     uint64_t upto, bool prefix)
{
	WT_CURSOR *c = ss->c[T_RAFTLOG];
	uint64_t kr, ki;
	int exact, ret;

	c->set_key(c, range, prefix ? (uint64_t)0 : from);
	ret = c->search_near(c, &exact);
	if (ret == WT_NOTFOUND)
		return 0;
	if (ret != 0)
		return store_err(ret);
	if (exact < 0) {
		ret = c->next(c);
		if (ret == WT_NOTFOUND)
			return 0;
		if (ret != 0)
			return store_err(ret);
	}
	for (;;) {
		ret = c->get_key(c, &kr, &ki);
		if (ret != 0)
			return store_err(ret);
		if (kr != range || (prefix && ki > upto))
			break;
		ret = c->remove(c);
		if (ret != 0)
			return store_err(ret);
		ret = c->next(c);
		if (ret == WT_NOTFOUND)
			break;
		if (ret != 0)
			return store_err(ret);
	}
	return store_err(c->reset(c));
}

static int put_item(WT_CURSOR *c, const void *val, size_t vlen)
{
	WT_ITEM v;

	v.data = val;
	v.size = vlen;
	c->set_value(c, &v);
	return store_err(c->insert(c));
}

static int put_bytes_key(WT_CURSOR *c, const void *key, size_t klen,
			 const void *val, size_t vlen)
{
	WT_ITEM k;

	k.data = key;
	k.size = klen;
	c->set_key(c, &k);
	return put_item(c, val, vlen);
}

static int del_bytes_key(WT_CURSOR *c, const void *key, size_t klen)
{
	WT_ITEM k;
	int ret;

	k.data = key;
	k.size = klen;
	c->set_key(c, &k);
	ret = c->remove(c);
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

/* Before a kv row is replaced or removed: if its value is in the value
 * log, the record's bytes leave its segment's live bytes. A store whose
 * value log never had a segment has no such row (and is spared the
 * search). */
static int kv_drop_old(struct store_session *ss, const uint8_t *k, size_t kl)
{
	WT_CURSOR *c = ss->c[T_KV];
	WT_ITEM key, v;
	int ret, rc = 0;

	if (ss->s->vlog == NULL || store_vlog_empty(ss->s->vlog))
		return 0;
	key.data = k;
	key.size = kl;
	c->set_key(c, &key);
	ret = c->search(c);
	if (ret == 0 && (ret = c->get_value(c, &v)) == 0)
		rc = store_vdelta_drop_row(&ss->vd, kl, v.data, v.size);
	c->reset(c);
	if (ret != 0 && ret != WT_NOTFOUND)
		return store_err(ret);
	return rc;
}

/* A kv put: a value of at least vlog_min bytes, put by the storage
 * thread, goes to the value log and the row holds its reference; any
 * other in place. */
static int kv_put(struct store_session *ss, const uint8_t *k, size_t kl,
		  const uint8_t *v, size_t vl)
{
	struct rk_store *s = ss->s;
	uint8_t *tmp;
	int rc;

	if ((rc = kv_drop_old(ss, k, kl)) != 0)
		return rc;
	if (ss->vwrite && vl >= s->vlog_min) {
		struct store_vref ref;
		uint8_t row[KV_APART_LEN];
		rc = store_vlog_add(s->vlog, k, kl, v, vl, &ref);
		if (rc == 0)
			rc = store_vdelta_add(&ss->vd, ref.seg,
					      (int64_t)store_vrec_len(kl, vl));
		if (rc != 0)
			return rc;
		row[0] = KV_HEADER_VERSION;
		row[1] = KV_F_APART;
		store_vref_encode(&ref, row + KV_HEADER_LEN);
		return put_bytes_key(ss->c[T_KV], k, kl, row, sizeof(row));
	}
	tmp = scratch(ss, KV_HEADER_LEN + vl);
	if (tmp == NULL)
		return RK_ENOMEM;
	tmp[0] = KV_HEADER_VERSION;
	tmp[1] = 0; /* flags */
	if (vl > 0)
		memcpy(tmp + KV_HEADER_LEN, v, vl);
	return put_bytes_key(ss->c[T_KV], k, kl, tmp, KV_HEADER_LEN + vl);
}

int store_clear_span(WT_CURSOR *c, const uint8_t *s, size_t sl,
		     const uint8_t *e, size_t el, uint64_t max,
		     uint64_t *removedp, struct store_vdelta *vd)
{
	WT_ITEM k;
	int ret;

	*removedp = 0;
	ret = store_seek(c, s, sl);
	while (ret == 0 && (max == 0 || *removedp < max)) {
		if ((ret = c->get_key(c, &k)) != 0)
			break;
		if (store_past_end(k.data, k.size, e, el))
			break;
		if (vd != NULL) {
			WT_ITEM v;
			int rc;
			if ((ret = c->get_value(c, &v)) != 0)
				break;
			rc = store_vdelta_drop_row(vd, k.size, v.data, v.size);
			if (rc != 0) {
				c->reset(c);
				return rc;
			}
		}
		if ((ret = c->remove(c)) != 0)
			break;
		++*removedp;
		ret = c->next(c);
	}
	c->reset(c);
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

int store_clear_table(struct store_session *ss, int table)
{
	uint64_t n;

	return store_clear_span(ss->c[table], NULL, 0, NULL, 0, 0, &n,
				table == T_KV ? &ss->vd : NULL);
}

static int clear_both(struct store_session *ss, const uint8_t *k, size_t kl,
		      const uint8_t *e, size_t el)
{
	uint64_t n;
	int rc = store_clear_span(ss->c[T_KV], k, kl, e, el, 0, &n, &ss->vd);

	if (rc == 0)
		rc = store_clear_span(ss->c[T_INTERNAL], k, kl, e, el, 0, &n, NULL);
	return rc;
}

static int del_by_id(WT_CURSOR *c, uint64_t id)
{
	int ret;

	c->set_key(c, id);
	ret = c->remove(c);
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

static int remove_replica(struct store_session *ss, struct reader_pos *r)
{
	uint64_t range = rd64(r), min_id = rd64(r), clear = rd64(r);
	const uint8_t *k, *e;
	size_t kl, el;
	char name[32];
	WT_CURSOR *c;
	int rc, ret;

	k = rdbytes(r, &kl);
	e = rdbytes(r, &el);
	if (r->bad)
		return RK_ECORRUPT;
	/* The placement group's state is its table, not a span. */
	if (rk_range_reserved(range))
		rc = clear ? store_clear_table(ss, T_PLACEMENT) : 0;
	else
		rc = clear ? clear_both(ss, k, kl, e, el) : 0;
	if (rc == 0)
		rc = store_log_remove(ss, range, 0, UINT64_MAX, true);
	if (rc == 0)
		rc = del_by_id(ss->c[T_RAFTSTATE], range);
	if (rc == 0)
		rc = del_by_id(ss->c[T_APPLY], range);
	if (rc == 0) {
		c = ss->c[T_META];
		store_install_name(range, name);
		c->set_key(c, name);
		ret = c->remove(c);
		rc = ret == WT_NOTFOUND ? 0 : store_err(ret);
	}
	if (rc == 0) {
		c = ss->c[T_TOMBSTONE];
		c->set_key(c, range);
		c->set_value(c, min_id);
		rc = store_err(c->insert(c));
	}
	return rc;
}

static int apply_append(struct store_session *ss, struct reader_pos *r)
{
	uint64_t range = rd64(r);
	uint32_t n = rd32(r), i;
	WT_CURSOR *c = ss->c[T_RAFTLOG];
	int rc;

	for (i = 0; i < n && !r->bad; i++) {
		uint64_t index = rd64(r), term = rd64(r);
		uint32_t type = rd32(r);
		size_t len;
		const uint8_t *data = rdbytes(r, &len);
		uint8_t *v;

		if (r->bad)
			break;
		v = scratch(ss, 12 + len);
		if (v == NULL)
			return RK_ENOMEM;
		rk_le_put64(v, term);
		rk_le_put32(v + 8, type);
		if (len > 0)
			memcpy(v + 12, data, len);
		c->set_key(c, range, index);
		if ((rc = put_item(c, v, 12 + len)) != 0)
			return rc;
	}
	return r->bad ? RK_ECORRUPT : 0;
}

int store_apply_batch(struct store_session *ss, const struct rk_store_batch *b)
{
	struct reader_pos r = {b->p, b->len, false};
	WT_CURSOR *c;
	uint64_t range, v64;
	const uint8_t *k, *v;
	size_t kl, vl;
	uint8_t *tmp;
	int rc = 0;

	if (b->oom)
		return RK_ENOMEM;
	while (rc == 0 && r.left > 0 && !r.bad) {
		uint8_t code = *r.p;
		r.p++;
		r.left--;
		switch (code) {
		case OP_APPEND:
			rc = apply_append(ss, &r);
			break;
		case OP_RAFT_STATE:
			range = rd64(&r);
			v = rdbytes(&r, &vl);
			if (r.bad)
				break;
			c = ss->c[T_RAFTSTATE];
			c->set_key(c, range);
			rc = put_item(c, v, vl);
			break;
		case OP_APPLY_DEL:
			range = rd64(&r);
			if (!r.bad)
				rc = del_by_id(ss->c[T_APPLY], range);
			break;
		case OP_TRUNCATE:
			range = rd64(&r);
			v64 = rd64(&r);
			if (!r.bad)
				rc = store_log_remove(ss, range, v64, 0, false);
			break;
		case OP_COMPACT:
			range = rd64(&r);
			v64 = rd64(&r);
			if (!r.bad)
				rc = store_log_remove(ss, range, 0, v64, true);
			break;
		case OP_TOMBSTONE:
			range = rd64(&r);
			v64 = rd64(&r);
			if (r.bad)
				break;
			c = ss->c[T_TOMBSTONE];
			c->set_key(c, range);
			c->set_value(c, v64);
			rc = store_err(c->insert(c));
			break;
		case OP_PUT:
		case OP_IPUT:
		case OP_PPUT:
			k = rdbytes(&r, &kl);
			v = rdbytes(&r, &vl);
			if (r.bad)
				break;
			if (code == OP_IPUT) {
				rc = put_bytes_key(ss->c[T_INTERNAL], k, kl, v, vl);
				break;
			}
			if (code == OP_PPUT) {
				rc = put_bytes_key(ss->c[T_PLACEMENT], k, kl, v, vl);
				break;
			}
			rc = kv_put(ss, k, kl, v, vl);
			break;
		case OP_DEL:
		case OP_IDEL:
		case OP_PDEL:
			k = rdbytes(&r, &kl);
			if (r.bad)
				break;
			if (code == OP_DEL && (rc = kv_drop_old(ss, k, kl)) != 0)
				break;
			rc = del_bytes_key(ss->c[code == OP_DEL ? T_KV
					   : code == OP_IDEL ? T_INTERNAL
					   : T_PLACEMENT], k, kl);
			break;
		case OP_APPLY:
			range = rd64(&r);
			v64 = rd64(&r);
			v = rdbytes(&r, &vl);
			if (r.bad)
				break;
			tmp = scratch(ss, 8 + vl);
			if (tmp == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			rk_le_put64(tmp, v64);
			if (vl > 0)
				memcpy(tmp + 8, v, vl);
			c = ss->c[T_APPLY];
			c->set_key(c, range);
			rc = put_item(c, tmp, 8 + vl);
			break;
		case OP_CLEAR:
			k = rdbytes(&r, &kl);
			v = rdbytes(&r, &vl);
			if (r.bad)
				break;
			rc = clear_both(ss, k, kl, v, vl);
			break;
		case OP_REMOVE:
			rc = remove_replica(ss, &r);
			break;
		case OP_META_PUT:
		case OP_META_DEL: {
			char name[256];
			k = rdbytes(&r, &kl);
			if (code == OP_META_PUT)
				v = rdbytes(&r, &vl);
			if (r.bad || kl >= sizeof(name)) {
				r.bad = true;
				break;
			}
			memcpy(name, k, kl);
			name[kl] = '\0';
			c = ss->c[T_META];
			c->set_key(c, name);
			if (code == OP_META_PUT) {
				rc = put_item(c, v, vl);
			} else {
				int ret = c->remove(c);
				rc = ret == WT_NOTFOUND ? 0 : store_err(ret);
			}
			break;
		}
		default:
			r.bad = true;
			break;
		}
	}
	if (rc == 0 && r.bad)
		rc = RK_ECORRUPT;
	return rc;
}
