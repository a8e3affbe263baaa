/*
 * Values apart from the key table (docs/storage.md "Values apart from the
 * keys"): the key table's references to the value log, the live bytes of
 * each segment, and the collection that copies a segment's live values to
 * the newest one and deletes it.
 *
 * Live bytes: table T_VLOG holds, per segment, the bytes of the records
 * rows refer to. Every transaction that adds or drops a reference changes
 * it in the same transaction (the storage thread's; snapshot installs hand
 * theirs over, store_vdelta_hand_over), so the table and the key table are
 * durable together at each checkpoint. A segment's garbage is its size
 * less its live bytes: records of rolled-back transactions and of a crash
 * are garbage without being counted anywhere.
 *
 * Collection runs on the storage thread, between its groups, one slice
 * (COLLECT_RECORDS records at most) at a time. A segment at least half
 * garbage is read in order; each record whose key's row still refers to
 * it is added again and the row made to refer to the copy. Once read to
 * its end, the segment waits for a checkpoint that began after the last
 * slice committed (until then a crash brings back rows that refer to it),
 * then is retired: deleted once no reader pinned before still reads
 * (vlog.h).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "vlog.h"

/* A slice copies at most this many records or bytes of records. */
#define COLLECT_RECORDS 256u
#define COLLECT_BYTES (1u << 20)

struct pending_retire {
	uint32_t seg;
	uint64_t need; /* the checkpoint number (ck_begun) that makes it safe */
};

struct store_vgc {
	uint32_t seg; /* being collected (0: none) */
	uint32_t off; /* its next record */
	uint32_t *queue; /* picked at the last checkpoint, next first */
	size_t nqueue, qcap;
	struct pending_retire *pend;
	size_t npend, pcap;
};

int store_vdelta_add(struct store_vdelta *d, uint32_t seg, int64_t bytes)
{
	for (size_t i = d->n; i > 0; i--) {
		if (d->v[i - 1].seg == seg) {
			d->v[i - 1].bytes += bytes;
			return 0;
		}
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct store_vdelta_item *p = realloc(d->v, cap * sizeof(*p));
		if (p == NULL)
			return RK_ENOMEM;
		d->v = p;
		d->cap = cap;
	}
	d->v[d->n].seg = seg;
	d->v[d->n].bytes = bytes;
	d->n++;
	return 0;
}

/* A kv row's header: whether its value is in the value log (*refp its
 * reference), or in place (refp->vlen its length). */
static int row_decode(const uint8_t *v, size_t vl, bool *apartp,
		      struct store_vref *refp)
{
	memset(refp, 0, sizeof(*refp));
	*apartp = false;
	if (vl < KV_HEADER_LEN || v[0] != KV_HEADER_VERSION ||
	    (v[1] & ~KV_F_APART) != 0)
		return RK_ECORRUPT;
	if (!(v[1] & KV_F_APART)) {
		refp->vlen = (uint32_t)(vl - KV_HEADER_LEN);
		return 0;
	}
	if (vl != KV_APART_LEN)
		return RK_ECORRUPT;
	*apartp = true;
	store_vref_decode(v + KV_HEADER_LEN, refp);
	return 0;
}

int store_vdelta_drop_row(struct store_vdelta *d, size_t kl, const uint8_t *v,
			  size_t vl)
{
	struct store_vref ref;
	bool apart;
	int rc = row_decode(v, vl, &apart, &ref);

	if (rc != 0 || !apart)
		return rc;
	return store_vdelta_add(d, ref.seg,
				-(int64_t)store_vrec_len(kl, ref.vlen));
}

int store_kv_value_len(const uint8_t *v, size_t vl, size_t *vlenp)
{
	struct store_vref ref;
	bool apart;
	int rc = row_decode(v, vl, &apart, &ref);

	*vlenp = rc == 0 ? ref.vlen : 0;
	return rc;
}

int store_kv_value(struct rk_store *s, const void *k, size_t kl,
		   const uint8_t *v, size_t vl, uint8_t **bufp, size_t *capp,
		   const uint8_t **valp, size_t *vlenp)
{
	struct store_vref ref;
	bool apart;
	int rc = row_decode(v, vl, &apart, &ref);

	*valp = NULL;
	*vlenp = 0;
	if (rc != 0)
		return rc;
	if (!apart) {
		*valp = v + KV_HEADER_LEN;
		*vlenp = ref.vlen;
		return 0;
	}
	rc = store_vlog_get(s->vlog, &ref, k, kl, bufp, capp, vlenp);
	if (rc == 0)
		*valp = *bufp;
	return rc;
}

/* ---- live bytes, written with each transaction ---- */

static int live_write(struct store_session *ss, const struct store_vdelta *d)
{
	WT_CURSOR *c = ss->c[T_VLOG];
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < d->n; i++) {
		int64_t live = 0;
		if (d->v[i].bytes == 0)
			continue;
		c->set_key(c, (uint64_t)d->v[i].seg);
		ret = c->search(c);
		if (ret == 0)
			ret = c->get_value(c, &live);
		else if (ret == WT_NOTFOUND)
			ret = 0;
		if (ret != 0)
			break;
		c->set_key(c, (uint64_t)d->v[i].seg);
		c->set_value(c, live + d->v[i].bytes);
		ret = c->insert(c);
	}
	c->reset(c);
	return store_err(ret);
}

/* Before the storage thread commits: makes the value log's new records
 * durable and writes ss's live-byte changes (and those of other sessions
 * waiting in s->vext) to T_VLOG. */
static int vcommit_prepare(struct store_session *ss)
{
	struct rk_store *s = ss->s;
	struct store_vdelta t;
	int rc;

	if (s->vlog == NULL)
		return 0;
	/* Other sessions' changes ride with this transaction (and go back
	 * to s->vext if it does not commit). */
	pthread_mutex_lock(&s->mu);
	t = s->vtaken;
	s->vtaken = s->vext;
	s->vext = t;
	pthread_mutex_unlock(&s->mu);
	if (ss->vd.n == 0 && s->vtaken.n == 0)
		return 0;
	/* The records before the rows that refer to them: a checkpoint can
	 * hold this transaction's rows only after its commit. */
	rc = store_vlog_flush(s->vlog);
	if (rc == 0)
		rc = live_write(ss, &ss->vd);
	if (rc == 0)
		rc = live_write(ss, &s->vtaken);
	return rc;
}

/* Adds d's changes to s->vext (the caller holds mu). */
static void ext_add(struct rk_store *s, const struct store_vdelta *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (store_vdelta_add(&s->vext, d->v[i].seg, d->v[i].bytes) != 0)
			rk_log_warn("store", "value log: a change of live bytes lost "
				    "(out of memory) segment=%u", d->v[i].seg);
}

/* After the transaction (ok: it committed): clears ss's changes, and
 * hands those taken from s->vext back if it did not commit. */
static void vcommit_done(struct store_session *ss, bool ok)
{
	struct rk_store *s = ss->s;

	/* A transaction that did not commit wrote nothing: its own changes
	 * are void (their records are garbage); those it took go back. */
	ss->vd.n = 0;
	if (s->vtaken.n == 0)
		return;
	pthread_mutex_lock(&s->mu);
	if (!ok)
		ext_add(s, &s->vtaken);
	s->vtaken.n = 0;
	pthread_mutex_unlock(&s->mu);
}

int store_vtxn_end(struct store_session *ss, int rc, uint32_t drop_seg)
{
	if (rc == 0)
		rc = vcommit_prepare(ss);
	if (rc == 0 && drop_seg != 0) {
		WT_CURSOR *c = ss->c[T_VLOG];
		c->set_key(c, (uint64_t)drop_seg);
		int ret = c->remove(c);
		rc = ret == WT_NOTFOUND ? 0 : store_err(ret);
		c->reset(c);
	}
	if (rc == 0)
		rc = store_err(ss->ws->commit_transaction(ss->ws, NULL));
	else
		ss->ws->rollback_transaction(ss->ws, NULL);
	vcommit_done(ss, rc == 0);
	return rc;
}

void store_vdelta_hand_over(struct store_session *ss, bool ok)
{
	struct rk_store *s = ss->s;

	if (ok && ss->vd.n > 0 && s->vlog != NULL) {
		pthread_mutex_lock(&s->mu);
		ext_add(s, &ss->vd);
		pthread_mutex_unlock(&s->mu);
	}
	ss->vd.n = 0;
}

/* ---- collection ---- */

int store_vgc_open(struct rk_store *s)
{
	s->gc = calloc(1, sizeof(*s->gc));
	return s->gc == NULL ? RK_ENOMEM : 0;
}

void store_vgc_close(struct rk_store *s)
{
	if (s->gc == NULL)
		return;
	free(s->gc->queue);
	free(s->gc->pend);
	free(s->gc);
	s->gc = NULL;
}

struct cand {
	uint32_t seg;
	double live_share;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	return (x->live_share > y->live_share) - (x->live_share < y->live_share);
}

static bool pending(const struct store_vgc *g, uint32_t seg)
{
	for (size_t i = 0; i < g->npend; i++)
		if (g->pend[i].seg == seg)
			return true;
	return seg == g->seg;
}

/* The segments at least half garbage, the emptiest first. */
static int pick(struct rk_store *s)
{
	struct store_vgc *g = s->gc;
	struct store_vseg_info *segs;
	struct cand *c;
	size_t nsegs, n = 0;
	WT_CURSOR *cur = s->w.c[T_VLOG];
	int rc = store_vlog_segments(s->vlog, &segs, &nsegs);

	if (rc != 0 || nsegs < 2)
		return rc;
	c = calloc(nsegs, sizeof(*c));
	if (c == NULL)
		return RK_ENOMEM;
	/* The newest (last) takes records: never collected. */
	for (size_t i = 0; i + 1 < nsegs; i++) {
		int64_t live = 0;
		int ret;
		if (pending(g, segs[i].seq))
			continue;
		cur->set_key(cur, (uint64_t)segs[i].seq);
		ret = cur->search(cur);
		if (ret == 0)
			ret = cur->get_value(cur, &live);
		if (ret != 0 && ret != WT_NOTFOUND) {
			rc = store_err(ret);
			break;
		}
		uint64_t data = segs[i].bytes - VLOG_SEG_HEADER;
		if (live < 0)
			live = 0;
		if (data == 0 || (uint64_t)live * 2 <= data) {
			c[n].seg = segs[i].seq;
			c[n].live_share = data ? (double)live / (double)data : 0;
			n++;
		}
	}
	cur->reset(cur);
	if (rc == 0 && n > g->qcap) {
		uint32_t *q = realloc(g->queue, n * sizeof(*q));
		if (q == NULL)
			rc = RK_ENOMEM;
		else
			g->queue = q, g->qcap = n;
	}
	if (rc == 0) {
		qsort(c, n, sizeof(*c), cmp_cand);
		/* Stored last first: the emptiest is taken first. */
		for (size_t i = 0; i < n; i++)
			g->queue[i] = c[n - 1 - i].seg;
		g->nqueue = n;
	}
	free(c);
	return rc;
}

void store_vgc_after_checkpoint(struct rk_store *s, uint64_t begun)
{
	struct store_vgc *g = s->gc;
	size_t j = 0;
	int rc;

	if (g == NULL || s->vlog == NULL)
		return;
	for (size_t i = 0; i < g->npend; i++) {
		if (g->pend[i].need > begun) {
			g->pend[j++] = g->pend[i];
			continue;
		}
		rc = store_vlog_retire(s->vlog, g->pend[i].seg);
		if (rc != 0 && rc != RK_ENOTFOUND)
			rk_log_warn("store", "value log: cannot delete a collected "
				    "segment segment=%u err=%s", g->pend[i].seg,
				    rk_strerror(rc));
		else
			__atomic_add_fetch(&s->vgc_segments, 1, __ATOMIC_RELAXED);
	}
	g->npend = j;
	(void)store_vlog_reap(s->vlog, NULL);
	if (g->seg == 0 && g->nqueue == 0 && (rc = pick(s)) != 0)
		rk_log_warn("store", "value log: cannot read its live bytes err=%s",
			    rk_strerror(rc));
}

/* Whether the row of key (in T_KV, positioned by the caller's search)
 * refers to the record of seg at off. */
static bool refers(WT_CURSOR *c, uint32_t seg, uint32_t off)
{
	WT_ITEM v;
	struct store_vref ref;
	bool apart;

	return c->get_value(c, &v) == 0 &&
	       row_decode(v.data, v.size, &apart, &ref) == 0 && apart &&
	       ref.seg == seg && ref.off == off;
}

/* One transaction: the next records of g->seg, the live ones copied. */
static int slice(struct rk_store *s, bool *donep, uint32_t *offp)
{
	struct store_vgc *g = s->gc;
	struct store_session *ss = &s->w;
	WT_CURSOR *c = ss->c[T_KV];
	uint32_t off = g->off, n = 0, bytes = 0;
	int rc = store_err(ss->ws->begin_transaction(ss->ws, NULL));

	*donep = false;
	while (rc == 0 && n < COLLECT_RECORDS && bytes < COLLECT_BYTES) {
		struct store_vrec rec;
		struct store_vref ref;
		uint32_t at = off;
		WT_ITEM k, v;
		uint8_t row[KV_APART_LEN];
		int ret;

		rc = store_vlog_next(s->vlog, g->seg, &off, &rec);
		if (rc == RK_ENOTFOUND) {
			rc = 0;
			*donep = true;
			break;
		}
		if (rc != 0)
			break;
		n++;
		k.data = rec.key;
		k.size = rec.klen;
		c->set_key(c, &k);
		ret = c->search(c);
		if (ret == WT_NOTFOUND)
			continue;
		if (ret != 0) {
			rc = store_err(ret);
			break;
		}
		if (!refers(c, g->seg, at))
			continue;
		rc = store_vlog_add(s->vlog, rec.key, rec.klen, rec.val, rec.vlen,
				    &ref);
		if (rc == 0)
			rc = store_vdelta_add(&ss->vd, g->seg, -(int64_t)rec.len);
		if (rc == 0)
			rc = store_vdelta_add(&ss->vd, ref.seg, (int64_t)rec.len);
		if (rc != 0)
			break;
		row[0] = KV_HEADER_VERSION;
		row[1] = KV_F_APART;
		store_vref_encode(&ref, row + KV_HEADER_LEN);
		v.data = row;
		v.size = sizeof(row);
		c->set_key(c, &k);
		c->set_value(c, &v);
		rc = store_err(c->insert(c));
		bytes += rec.len;
		__atomic_add_fetch(&s->vgc_moved_bytes, rec.len, __ATOMIC_RELAXED);
	}
	c->reset(c);
	/* Read to its end, nothing refers to it any more: its row goes. */
	rc = store_vtxn_end(ss, rc, *donep ? g->seg : 0);
	*offp = off;
	return rc;
}

bool store_vgc_slice(struct rk_store *s)
{
	struct store_vgc *g = s->gc;
	uint32_t off;
	bool done;
	int rc;

	if (g == NULL || s->vlog == NULL)
		return false;
	if (g->seg == 0) {
		if (g->nqueue == 0)
			return false;
		g->seg = g->queue[--g->nqueue];
		g->off = VLOG_SEG_HEADER;
	}
	rc = slice(s, &done, &off);
	if (rc == RK_EAGAIN)
		return false; /* a write conflict: the same slice at the next wake */
	if (rc != 0) {
		rk_log_warn("store", "value log: collection of a segment stopped "
			    "segment=%u err=%s", g->seg, rk_strerror(rc));
		g->seg = 0;
		return g->nqueue > 0;
	}
	g->off = off;
	if (done) {
		if (g->npend == g->pcap) {
			size_t cap = g->pcap ? g->pcap * 2 : 8;
			struct pending_retire *p = realloc(g->pend, cap * sizeof(*p));
			if (p == NULL) {
				g->seg = 0; /* picked again at a later checkpoint */
				return g->nqueue > 0;
			}
			g->pend = p;
			g->pcap = cap;
		}
		pthread_mutex_lock(&s->mu);
		g->pend[g->npend].need = s->ck_begun + 1;
		pthread_mutex_unlock(&s->mu);
		g->pend[g->npend++].seg = g->seg;
		g->seg = 0;
	}
	return g->seg != 0 || g->nqueue > 0;
}
