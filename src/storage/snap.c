/*
 * Snapshot staging and install.
 *
 * A snapshot received over the network is first written to a staged file
 * under <data>/snap/, sealed with an xxh3 checksum and fsynced; only then
 * does a logged marker (meta "install/<range>") name it, in the same batch
 * as the raft state that claims the snapshot. The install itself writes the
 * state machine tables, which are not logged and become durable at the
 * next checkpoint; until then the staged file is the install's journal, so
 * a crash at any point redoes the install from it. This is why the file
 * exists at all: clearing a span and writing 100 MB cannot be one
 * transaction (it would not fit the cache), and without a durable copy a
 * crash midway would leave a replica that has neither its old data nor the
 * new.
 *
 * File layout (integers little endian):
 *   "RKSNAP01" range index term | u32 slen start | u32 elen end | u32 dlen desc
 *   records: u8 table (0 kv, 1 internal, 2 placement) | u32 klen key |
 *            u32 vlen value (the placement group's file holds table 2
 *            only, the other ranges' never: store.h)
 *   trailer: u8 0xff | u64 record count | u64 xxh3 of every byte before it
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "buf.h"
#include "store_int.h"
#include "vlog.h"

#define SNAP_MAGIC "RKSNAP01"
#define SNAP_END 0xff
#define INSTALL_TXN_BYTES (4u << 20) /* bounded install transactions */
#define INSTALL_TXN_PAIRS 20000
#define MAX_RECORD_KEY (64u << 10)
#define MAX_RECORD_VAL (16u << 20)

struct rk_store_snap_out {
	FILE *f;
	char tmp[4200], final[4100], name[64];
	XXH3_state_t *h;
	uint64_t count;
	int err;
};

static int snap_dir(struct rk_store *s, char *out, size_t n)
{
	if ((size_t)snprintf(out, n, "%s/snap", s->dir) >= n)
		return RK_EINVAL;
	if (mkdir(out, 0755) != 0 && errno != EEXIST)
		return RK_EIO;
	return 0;
}

static void out_write(struct rk_store_snap_out *o, const void *p, size_t n)
{
	if (o->err != 0 || n == 0)
		return;
	if (fwrite(p, 1, n, o->f) != n)
		o->err = store_errno(errno);
	else
		XXH3_64bits_update(o->h, p, n);
}

static void out_bytes(struct rk_store_snap_out *o, const void *p, size_t n)
{
	uint8_t l[4];

	rk_le_put32(l, (uint32_t)n);
	out_write(o, l, 4);
	out_write(o, p, n);
}

int rk_store_snap_create(struct rk_store *s, const struct rk_store_snap_meta *m,
			 struct rk_store_snap_out **op)
{
	static unsigned seq; /* distinguishes files of one range and index */
	struct rk_store_snap_out *o;
	char dir[4000];
	uint8_t hdr[32];
	int rc;

	*op = NULL;
	if ((rc = snap_dir(s, dir, sizeof(dir))) != 0)
		return rc;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return RK_ENOMEM;
	snprintf(o->name, sizeof(o->name), "%016llx-%016llx-%08x.snap",
		 (unsigned long long)m->range, (unsigned long long)m->index,
		 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED) ^ (unsigned)getpid());
	snprintf(o->final, sizeof(o->final), "%s/%s", dir, o->name);
	snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", o->final);
	o->h = XXH3_createState();
	o->f = fopen(o->tmp, "wb");
	if (o->h == NULL || o->f == NULL) {
		rc = o->h == NULL ? RK_ENOMEM : RK_EIO;
		rk_store_snap_abort(o);
		return rc;
	}
	setvbuf(o->f, NULL, _IOFBF, 1 << 20);
	XXH3_64bits_reset(o->h);
	memcpy(hdr, SNAP_MAGIC, 8);
	rk_le_put64(hdr + 8, m->range);
	rk_le_put64(hdr + 16, m->index);
	rk_le_put64(hdr + 24, m->term);
	out_write(o, hdr, sizeof(hdr));
	out_bytes(o, m->start, m->slen);
	out_bytes(o, m->end, m->elen);
	out_bytes(o, m->desc, m->desc_len);
	*op = o;
	return o->err;
}

int rk_store_snap_add(struct rk_store_snap_out *o, int table, const void *key,
		      size_t klen, const void *val, size_t vlen)
{
	uint8_t t = (uint8_t)table;

	if ((table < 0 || table > 2) || klen > MAX_RECORD_KEY ||
	    vlen > MAX_RECORD_VAL)
		return RK_EINVAL;
	out_write(o, &t, 1);
	out_bytes(o, key, klen);
	out_bytes(o, val, vlen);
	o->count++;
	return o->err;
}

void rk_store_snap_abort(struct rk_store_snap_out *o)
{
	if (o == NULL)
		return;
	if (o->f != NULL) {
		fclose(o->f);
		unlink(o->tmp);
	}
	XXH3_freeState(o->h);
	free(o);
}

static int fsync_dir_of(const char *path)
{
	char d[4096];
	char *slash;
	int fd, rc = 0;

	snprintf(d, sizeof(d), "%s", path);
	slash = strrchr(d, '/');
	if (slash != NULL)
		*slash = '\0';
	fd = open(d, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return RK_EIO;
	if (fsync(fd) != 0)
		rc = RK_EIO;
	close(fd);
	return rc;
}

/* Makes the file durable under its final name, and frees o either way. */
static int seal(struct rk_store_snap_out *o, char *name, size_t namelen)
{
	int rc;

	if (o->err == 0 && fflush(o->f) != 0)
		o->err = store_errno(errno);
	if (o->err == 0 && fdatasync(fileno(o->f)) != 0)
		o->err = store_errno(errno);
	if (o->err == 0 && rename(o->tmp, o->final) != 0)
		o->err = RK_EIO;
	if (o->err == 0)
		o->err = fsync_dir_of(o->final);
	rc = o->err;
	if (rc != 0) {
		rk_store_snap_abort(o);
		return rc;
	}
	snprintf(name, namelen, "%s", o->name);
	fclose(o->f);
	XXH3_freeState(o->h);
	free(o);
	return 0;
}

int rk_store_snap_finish(struct rk_store_snap_out *o, char *name,
			 size_t namelen)
{
	uint8_t tr[17];

	name[0] = '\0';
	tr[0] = SNAP_END;
	rk_le_put64(tr + 1, o->count);
	out_write(o, tr, 9);
	rk_le_put64(tr + 9, XXH3_64bits_digest(o->h));
	if (o->err == 0 && fwrite(tr + 9, 1, 8, o->f) != 8)
		o->err = RK_EIO;
	return seal(o, name, namelen);
}

/* ---- raw transfer ---------------------------------------------------------------- */

int rk_store_snap_recv_create(struct rk_store *s, uint64_t range,
			      uint64_t index, struct rk_store_snap_out **op)
{
	struct rk_store_snap_meta m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.range = range;
	m.index = index;
	rc = rk_store_snap_create(s, &m, op);
	if (rc != 0)
		return rc;
	/* Raw mode: drop the header just written; the sender's bytes carry
	 * their own. */
	if (fflush((*op)->f) != 0 || ftruncate(fileno((*op)->f), 0) != 0 ||
	    fseek((*op)->f, 0, SEEK_SET) != 0) {
		rk_store_snap_abort(*op);
		*op = NULL;
		return RK_EIO;
	}
	return 0;
}

int rk_store_snap_recv_write(struct rk_store_snap_out *o, const void *p,
			     size_t n)
{
	if (o->err == 0 && n > 0 && fwrite(p, 1, n, o->f) != n)
		o->err = store_errno(errno);
	return o->err;
}

int rk_store_snap_recv_seal(struct rk_store_snap_out *o, char *name,
			    size_t namelen)
{
	name[0] = '\0';
	return seal(o, name, namelen);
}

int rk_store_snap_path(struct rk_store *s, const char *name, char *path,
		       size_t pathlen)
{
	if (strchr(name, '/') != NULL ||
	    (size_t)snprintf(path, pathlen, "%s/snap/%s", s->dir, name) >= pathlen)
		return RK_EINVAL;
	return 0;
}

void rk_store_snap_remove(struct rk_store *s, const char *name)
{
	char path[4096];

	if (rk_store_snap_path(s, name, path, sizeof(path)) == 0)
		unlink(path);
}

/* ---- reading a staged file ------------------------------------------------------ */

struct snap_in {
	FILE *f;
	XXH3_state_t *h;
	uint8_t *buf;
	size_t cap;
	bool bad;
	/* header */
	uint64_t range, index, term;
	uint8_t *start, *end, *desc;
	size_t slen, elen, dlen;
};

static void in_read(struct snap_in *in, void *p, size_t n)
{
	if (in->bad || n == 0)
		return;
	if (fread(p, 1, n, in->f) != n)
		in->bad = true;
	else
		XXH3_64bits_update(in->h, p, n);
}

/* Reads a length-prefixed field into a fresh allocation. */
static uint8_t *in_alloc_bytes(struct snap_in *in, size_t *np, size_t max)
{
	uint8_t l[4], *p;
	size_t n;

	*np = 0;
	in_read(in, l, 4);
	n = rk_le_get32(l);
	if (in->bad || n > max) {
		in->bad = true;
		return NULL;
	}
	p = malloc(n + 1);
	if (p == NULL) {
		in->bad = true;
		return NULL;
	}
	in_read(in, p, n);
	*np = n;
	return p;
}

static void snap_in_close(struct snap_in *in)
{
	if (in->f != NULL)
		fclose(in->f);
	XXH3_freeState(in->h);
	free(in->buf);
	free(in->start);
	free(in->end);
	free(in->desc);
	memset(in, 0, sizeof(*in));
}

static int snap_in_open(struct rk_store *s, const char *name,
			struct snap_in *in)
{
	char path[4096];
	uint8_t hdr[32];

	memset(in, 0, sizeof(*in));
	if (rk_store_snap_path(s, name, path, sizeof(path)) != 0)
		return RK_ECORRUPT;
	in->h = XXH3_createState();
	if (in->h == NULL)
		return RK_ENOMEM;
	XXH3_64bits_reset(in->h);
	in->f = fopen(path, "rb");
	if (in->f == NULL)
		return errno == ENOENT ? RK_ENOTFOUND : RK_EIO;
	setvbuf(in->f, NULL, _IOFBF, 1 << 20);
	in_read(in, hdr, sizeof(hdr));
	if (in->bad || memcmp(hdr, SNAP_MAGIC, 8) != 0)
		return RK_ECORRUPT;
	in->range = rk_le_get64(hdr + 8);
	in->index = rk_le_get64(hdr + 16);
	in->term = rk_le_get64(hdr + 24);
	in->start = in_alloc_bytes(in, &in->slen, MAX_RECORD_KEY);
	in->end = in_alloc_bytes(in, &in->elen, MAX_RECORD_KEY);
	in->desc = in_alloc_bytes(in, &in->dlen, MAX_RECORD_VAL);
	return in->bad ? RK_ECORRUPT : 0;
}

int rk_store_snap_head(struct rk_store *s, const char *name, uint64_t *rangep,
		       uint64_t *indexp, struct rk_buf *desc)
{
	struct snap_in in;
	int rc = snap_in_open(s, name, &in);

	*rangep = *indexp = 0;
	if (rc == 0) {
		*rangep = in.range;
		*indexp = in.index;
		rk_buf_append(desc, in.desc, in.dlen);
		rc = desc->oom ? RK_ENOMEM : 0;
	}
	snap_in_close(&in);
	return rc;
}

/* Next record: 1 with *tablep and pointers into in->buf, 0 at the (verified)
 * trailer, RK_ECORRUPT on anything else. */
static int snap_in_next(struct snap_in *in, int *tablep, const uint8_t **kp,
			size_t *klp, const uint8_t **vp, size_t *vlp,
			uint64_t *countp)
{
	uint8_t t, l[8];
	size_t kl, vl;

	in_read(in, &t, 1);
	if (in->bad)
		return RK_ECORRUPT;
	if (t == SNAP_END) {
		uint64_t want;
		in_read(in, l, 8);
		*countp = rk_le_get64(l);
		want = XXH3_64bits_digest(in->h);
		if (in->bad || fread(l, 1, 8, in->f) != 8 ||
		    rk_le_get64(l) != want || fgetc(in->f) != EOF)
			return RK_ECORRUPT;
		return 0;
	}
	if (t > 2)
		return RK_ECORRUPT;
	in_read(in, l, 4);
	kl = rk_le_get32(l);
	if (in->bad || kl > MAX_RECORD_KEY)
		return RK_ECORRUPT;
	if (kl + 4 + MAX_RECORD_VAL > in->cap) {
		size_t cap = kl + 4 + MAX_RECORD_VAL;
		uint8_t *p = realloc(in->buf, cap);
		if (p == NULL)
			return RK_ENOMEM;
		in->buf = p;
		in->cap = cap;
	}
	in_read(in, in->buf, kl);
	in_read(in, l, 4);
	vl = rk_le_get32(l);
	if (in->bad || vl > MAX_RECORD_VAL)
		return RK_ECORRUPT;
	in_read(in, in->buf + kl, vl);
	if (in->bad)
		return RK_ECORRUPT;
	*tablep = t;
	*kp = in->buf;
	*klp = kl;
	*vp = in->buf + kl;
	*vlp = vl;
	return 1;
}

/* Reads the whole file once: its checksum must hold before anything is
 * cleared. */
static int snap_verify(struct rk_store *s, const char *name, uint64_t range,
		       uint64_t index)
{
	struct snap_in in;
	const uint8_t *k, *v;
	size_t kl, vl;
	uint64_t n = 0, want = 0;
	int t, rc;

	rc = snap_in_open(s, name, &in);
	while (rc == 0 && (rc = snap_in_next(&in, &t, &k, &kl, &v, &vl, &want)) == 1) {
		n++;
		rc = 0;
	}
	if (rc == 0 && (n != want || in.range != range || in.index != index))
		rc = RK_ECORRUPT;
	snap_in_close(&in);
	return rc;
}

/* ---- install -------------------------------------------------------------------- */

static int read_marker(struct rk_store_reader *r, uint64_t range,
		       uint64_t *indexp, char *name, size_t namelen)
{
	const void *v;
	size_t n;
	char key[32];
	int rc;

	store_install_name(range, key);
	rc = rk_store_meta_get(r, key, &v, &n);
	if (rc != 0)
		return rc;
	if (n <= 8 || n - 8 >= namelen)
		return RK_ECORRUPT;
	*indexp = rk_le_get64(v);
	memcpy(name, (const uint8_t *)v + 8, n - 8);
	name[n - 8] = '\0';
	return 0;
}

static int txn_begin(WT_SESSION *ws)
{
	return store_err(ws->begin_transaction(ws, NULL));
}

static int txn_end(WT_SESSION *ws, int rc)
{
	if (rc == 0)
		return store_err(ws->commit_transaction(ws, NULL));
	ws->rollback_transaction(ws, NULL);
	return rc;
}

static int clear_bounded(struct store_session *ss, const struct snap_in *in,
			 uint64_t range)
{
	int first = rk_range_reserved(range) ? T_PLACEMENT : T_KV;
	int last = rk_range_reserved(range) ? T_PLACEMENT : T_INTERNAL;

	for (int t = first; t <= last; t++) {
		uint64_t n;
		do {
			int rc = txn_begin(ss->ws);
			if (rc == 0)
				rc = store_clear_span(ss->c[t], t == T_PLACEMENT ? NULL : in->start,
						      t == T_PLACEMENT ? 0 : in->slen,
						      t == T_PLACEMENT ? NULL : in->end,
						      t == T_PLACEMENT ? 0 : in->elen,
						      INSTALL_TXN_PAIRS, &n,
						      t == T_KV ? &ss->vd : NULL);
			rc = txn_end(ss->ws, rc);
			/* Values of the value log it dropped: their live
			 * bytes go with the storage thread's next commit. */
			store_vdelta_hand_over(ss, rc == 0);
			if (rc != 0)
				return rc;
		} while (n == INSTALL_TXN_PAIRS);
	}
	return 0;
}

static int put_pair(struct store_session *ss, int table, const uint8_t *k,
		    size_t kl, const uint8_t *v, size_t vl)
{
	WT_CURSOR *c = ss->c[table == 0 ? T_KV : table == 1 ? T_INTERNAL : T_PLACEMENT];
	WT_ITEM key, val;

	if (table == 0) {
		if (KV_HEADER_LEN + vl > ss->scratch_cap) {
			uint8_t *p = realloc(ss->scratch, KV_HEADER_LEN + vl);
			if (p == NULL)
				return RK_ENOMEM;
			ss->scratch = p;
			ss->scratch_cap = KV_HEADER_LEN + vl;
		}
		ss->scratch[0] = KV_HEADER_VERSION;
		ss->scratch[1] = 0;
		memcpy(ss->scratch + KV_HEADER_LEN, v, vl);
		v = ss->scratch;
		vl += KV_HEADER_LEN;
	}
	key.data = k;
	key.size = kl;
	val.data = v;
	val.size = vl;
	c->set_key(c, &key);
	c->set_value(c, &val);
	return store_err(c->insert(c));
}

/* One run of the install: verify (the first run only) the staged file,
 * clear the span, write the pairs, the apply state last. */
static int install_once(struct rk_store_reader *r, uint64_t range, bool verify)
{
	struct store_session *ss = &r->ss;
	struct snap_in in;
	char name[256];
	const uint8_t *k, *v;
	size_t kl, vl, bytes = 0, pairs = 0;
	uint64_t index, count;
	bool open_txn = false;
	int t, rc;

	rc = read_marker(r, range, &index, name, sizeof(name));
	if (rc != 0)
		return rc;
	if (verify && (rc = snap_verify(r->s, name, range, index)) != 0)
		return rc;
	rc = snap_in_open(r->s, name, &in);
	if (rc == 0)
		rc = clear_bounded(ss, &in, range);
	while (rc == 0) {
		rc = snap_in_next(&in, &t, &k, &kl, &v, &vl, &count);
		if (rc != 1)
			break;
		rc = 0;
		/* A placement file writes its table only, another range's
		 * never writes it. */
		if ((t == 2) != rk_range_reserved(range)) {
			rc = RK_ECORRUPT;
			break;
		}
		if (!open_txn) {
			if ((rc = txn_begin(ss->ws)) != 0)
				break;
			open_txn = true;
		}
		rc = put_pair(ss, t, k, kl, v, vl);
		bytes += kl + vl;
		if (rc == 0 && (++pairs >= INSTALL_TXN_PAIRS ||
				bytes >= INSTALL_TXN_BYTES)) {
			open_txn = false;
			rc = txn_end(ss->ws, rc);
			pairs = bytes = 0;
		}
	}
	/* The apply state goes last, in the last transaction: a range whose
	 * apply state reached the marker's index is completely installed. */
	if (rc == 0 && !open_txn) {
		rc = txn_begin(ss->ws);
		open_txn = rc == 0;
	}
	if (rc == 0) {
		uint8_t *a = malloc(8 + in.dlen);
		WT_CURSOR *c = ss->c[T_APPLY];
		WT_ITEM val;
		if (a == NULL) {
			rc = RK_ENOMEM;
		} else {
			rk_le_put64(a, index);
			if (in.dlen > 0)
				memcpy(a + 8, in.desc, in.dlen);
			val.data = a;
			val.size = 8 + in.dlen;
			c->set_key(c, range);
			c->set_value(c, &val);
			rc = store_err(c->insert(c));
			free(a);
		}
	}
	if (open_txn)
		rc = txn_end(ss->ws, rc);
	snap_in_close(&in);
	return rc;
}

/* A transaction of the install rolled back (RK_EAGAIN: a write conflict
 * with the storage thread's group commit, or cache pressure) leaves the
 * install half done, which is what a crash leaves too: it is redone from
 * the staged file, whole, with the storage thread's backoff and bound
 * (store_int.h). Each run clears the span first, so nothing of the last
 * one remains. */
int rk_store_install_run(struct rk_store_reader *r, uint64_t range)
{
	double deadline = store_now_s() + STORE_RETRY_S;
	uint32_t wait_ms = STORE_RETRY_FIRST_MS;
	int rc;

	rc = install_once(r, range, true);
	while (rc == RK_EAGAIN && store_now_s() < deadline) {
		pthread_mutex_lock(&r->s->mu);
		r->s->install_retries++;
		pthread_mutex_unlock(&r->s->mu);
		store_retry_wait(&wait_ms);
		rc = install_once(r, range, false);
	}
	return rc;
}

/* Walks the install markers: fn(arg, range, index, name). */
static int walk_markers(struct store_session *ss,
			int (*fn)(void *arg, uint64_t range, uint64_t index,
				  const char *name),
			void *arg)
{
	WT_CURSOR *c = ss->c[T_META];
	const char *key;
	WT_ITEM v;
	int exact, ret, rc = 0;

	c->set_key(c, INSTALL_PREFIX);
	ret = c->search_near(c, &exact);
	if (ret == 0 && exact < 0)
		ret = c->next(c);
	while (ret == 0 && rc == 0) {
		char name[256];
		unsigned long long range;

		if ((ret = c->get_key(c, &key)) != 0 ||
		    (ret = c->get_value(c, &v)) != 0)
			break;
		if (strncmp(key, INSTALL_PREFIX, strlen(INSTALL_PREFIX)) != 0)
			break;
		if (sscanf(key + strlen(INSTALL_PREFIX), "%llx", &range) != 1 ||
		    v.size <= 8 || v.size - 8 >= sizeof(name)) {
			rc = RK_ECORRUPT;
			break;
		}
		memcpy(name, (const uint8_t *)v.data + 8, v.size - 8);
		name[v.size - 8] = '\0';
		rc = fn(arg, range, rk_le_get64(v.data), name);
		ret = c->next(c);
	}
	c->reset(c);
	if (rc != 0)
		return rc;
	return ret == WT_NOTFOUND ? 0 : store_err(ret);
}

struct pending_walk {
	uint64_t (*ranges)[2];
	size_t n, cap;
};

static int collect(void *arg, uint64_t range, uint64_t index,
		   const char *name)
{
	struct pending_walk *w = arg;

	(void)name;
	if (rk_grow((void **)&w->ranges, &w->cap, w->n, sizeof(*w->ranges)) != 0)
		return RK_ENOMEM;
	w->ranges[w->n][0] = range;
	w->ranges[w->n][1] = index;
	w->n++;
	return 0;
}

int rk_store_install_pending(struct rk_store_reader *r,
			     void (*fn)(void *arg, uint64_t range,
					uint64_t index),
			     void *arg)
{
	struct pending_walk w = {NULL, 0, 0};
	int rc = walk_markers(&r->ss, collect, &w);

	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		struct rk_store_apply_state as;
		int arc = rk_store_read_apply_state(r, w.ranges[i][0], &as);
		if (arc != 0 && arc != RK_ENOTFOUND) {
			rc = arc;
			break;
		}
		if (arc == RK_ENOTFOUND || as.applied < w.ranges[i][1])
			fn(arg, w.ranges[i][0], w.ranges[i][1]);
	}
	free(w.ranges);
	return rc;
}

/* ---- cleanup -------------------------------------------------------------------- */

struct stale {
	struct rk_store *s;
	WT_CURSOR *ckpt_apply; /* the last checkpoint's apply table */
	char (*names)[256];
	uint64_t *ranges;
	size_t n, cap;
};

static int find_stale(void *arg, uint64_t range, uint64_t index,
		      const char *name)
{
	struct stale *st = arg;
	WT_CURSOR *c = st->ckpt_apply;
	WT_ITEM v;
	int ret;

	c->set_key(c, range);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret != 0 || v.size < 8 || rk_le_get64(v.data) < index) {
		c->reset(c);
		return 0; /* the install is not durable yet */
	}
	c->reset(c);
	{
		size_t cap = st->cap;
		if (rk_grow((void **)&st->names, &cap, st->n, sizeof(*st->names)) != 0 ||
		    rk_grow((void **)&st->ranges, &st->cap, st->n, sizeof(*st->ranges)) != 0)
			return RK_ENOMEM;
	}
	snprintf(st->names[st->n], 256, "%s", name);
	st->ranges[st->n++] = range;
	return 0;
}

void store_snap_after_checkpoint(struct rk_store *s)
{
	struct store_session *ss = &s->w;
	struct stale st = {s, NULL, NULL, NULL, 0, 0};
	char key[32];
	int rc;

	if (ss->ws->open_cursor(ss->ws, store_table_uri[T_APPLY], NULL,
				"checkpoint=WiredTigerCheckpoint",
				&st.ckpt_apply) != 0)
		return;
	rc = walk_markers(ss, find_stale, &st);
	st.ckpt_apply->close(st.ckpt_apply);
	if (rc == 0 && st.n > 0 && txn_begin(ss->ws) == 0) {
		WT_CURSOR *c = ss->c[T_META];
		for (size_t i = 0; rc == 0 && i < st.n; i++) {
			store_install_name(st.ranges[i], key);
			c->set_key(c, key);
			rc = c->remove(c);
			if (rc == WT_NOTFOUND)
				rc = 0;
		}
		rc = txn_end(ss->ws, store_err(rc));
		/* No flush needed: a marker that comes back after a crash is
		 * recognised as complete by its apply state and dropped again;
		 * the file it names is gone, which it no longer needs. */
		for (size_t i = 0; rc == 0 && i < st.n; i++)
			rk_store_snap_remove(s, st.names[i]);
	}
	free(st.names);
	free(st.ranges);
}

struct names {
	char (*v)[256];
	size_t n, cap;
};

static int add_name(void *arg, uint64_t range, uint64_t index,
		    const char *name)
{
	struct names *ns = arg;

	(void)range;
	(void)index;
	if (rk_grow((void **)&ns->v, &ns->cap, ns->n, sizeof(*ns->v)) != 0)
		return RK_ENOMEM;
	snprintf(ns->v[ns->n++], 256, "%s", name);
	return 0;
}

void store_snap_orphans(struct rk_store *s)
{
	struct names ns = {NULL, 0, 0};
	char dir[4000], path[4096 + 256];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/snap", s->dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	if (walk_markers(&s->w, add_name, &ns) != 0) {
		closedir(d);
		free(ns.v);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		bool used = false;
		if (de->d_name[0] == '.')
			continue;
		for (size_t i = 0; i < ns.n && !used; i++)
			used = strcmp(ns.v[i], de->d_name) == 0;
		if (!used) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
	free(ns.v);
}

/* ---- generating a snapshot to send ------------------------------------------------- */

static int gen_pair(void *arg, int table, const void *key, size_t klen,
		    const void *val, size_t vlen)
{
	return rk_store_snap_add(arg, table, key, klen, val, vlen);
}

int rk_store_snap_generate(struct rk_store_reader *r, uint64_t range,
			   const void *start, size_t slen, const void *end,
			   size_t elen, char *name, size_t namelen,
			   struct rk_store_snap_info *infop)
{
	struct store_session *ss = &r->ss;
	struct rk_store_raft_state rs;
	struct rk_store_apply_state as;
	struct rk_store_snap_meta m;
	struct rk_store_snap_out *o = NULL;
	uint8_t *desc = NULL;
	uint64_t term = 0, pin;
	int rc;

	memset(infop, 0, sizeof(*infop));
	name[0] = '\0';
	/* The value log's segments this snapshot refers to stay while it
	 * is read. */
	pin = store_vlog_pin(r->s->vlog);
	rc = store_err(ss->ws->begin_transaction(ss->ws, "isolation=snapshot"));
	if (rc != 0) {
		store_vlog_unpin(r->s->vlog, pin);
		return rc;
	}
	rc = rk_store_read_apply_state(r, range, &as);
	if (rc == 0) {
		desc = malloc(as.desc_len + 1);
		if (desc == NULL)
			rc = RK_ENOMEM;
		else
			memcpy(desc, as.desc, as.desc_len);
	}
	if (rc == 0)
		rc = rk_store_read_raft_state(r, range, &rs);
	if (rc == 0) {
		if (as.applied == rs.trunc_index)
			term = rs.trunc_term;
		else
			rc = rk_store_log_term(r, range, as.applied, &term);
	}
	if (rc == 0) {
		memset(&m, 0, sizeof(m));
		m.range = range;
		m.index = as.applied;
		m.term = term;
		m.start = start;
		m.slen = slen;
		m.end = end;
		m.elen = elen;
		m.desc = desc;
		m.desc_len = as.desc_len;
		rc = rk_store_snap_create(r->s, &m, &o);
	}
	if (rc == 0 && rk_range_reserved(range)) {
		rc = store_walk_table(ss, 2, true, NULL, 0, NULL, 0, gen_pair, o);
	} else if (rc == 0) {
		rc = store_walk_table(ss, 0, true, start, slen, end, elen, gen_pair, o);
		if (rc == 0)
			rc = store_walk_table(ss, 1, true, start, slen, end, elen,
					gen_pair, o);
	}
	ss->ws->rollback_transaction(ss->ws, NULL); /* read-only */
	store_vlog_unpin(r->s->vlog, pin);
	free(desc);
	if (rc != 0) {
		rk_store_snap_abort(o);
		return rc < 0 ? rc : RK_EIO;
	}
	infop->index = as.applied;
	infop->term = term;
	infop->conf = rs.conf;
	infop->bytes = (uint64_t)ftell(o->f) + 17; /* + trailer */
	return rk_store_snap_finish(o, name, namelen);
}
