/*
 * The value log: append-only segment files of large values (vlog.h has
 * the format and the threads' contract).
 *
 * Each segment is mapped read-only and whole (VLOG_SEG_MAX of address
 * space, however long the file): a read is a bounds check, a hash and a
 * copy, with no system call, and the newest segment's new records show
 * through the same mapping once written. Readers only touch bytes below a
 * segment's published size, which the writer raises after fdatasync, so
 * they never reach past the end of the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "le.h"
#include "rangekv/error.h"
#include "store_int.h"
#include "vlog.h"

/* The writer's buffer is written out (not synced) once it holds this. */
#define VLOG_BUF_OUT (1u << 20)

struct vseg {
	uint32_t seq;
	int fd;
	uint8_t *map;     /* VLOG_SEG_MAX bytes of address space */
	uint64_t size;    /* durable and readable (atomic: readers load it) */
	uint64_t written; /* written to the file (writer's) */
	bool retired;
	uint64_t retired_epoch; /* the pin epoch the retirement closed */
};

struct pin_count {
	uint64_t epoch, n;
};

struct store_vlog {
	int dirfd;
	uint32_t seg_max; /* a segment takes no record past this */
	/* The segments by sequence number, the newest last. Readers search
	 * it under the read lock; the writer changes it under the write
	 * lock and reads it without (it is the only one that changes it). */
	pthread_rwlock_t lock;
	struct vseg **segs;
	size_t nsegs, segcap;
	/* Writer: records added to the newest segment, not yet written. */
	uint8_t *buf;
	size_t blen, bcap;
	int failed; /* a sync failed: the log takes no more writes */
	struct store_vseg_info *info;
	size_t infocap;
	/* Pins: how many are held per epoch, oldest first. A retirement
	 * closes the current epoch. */
	pthread_mutex_t pmu;
	uint64_t epoch;
	struct pin_count *pins;
	size_t npins, pincap;
};

void store_vref_encode(const struct store_vref *ref, uint8_t out[VLOG_REF_LEN])
{
	rk_le_put32(out, ref->seg);
	rk_le_put32(out + 4, ref->off);
	rk_le_put32(out + 8, ref->vlen);
}

void store_vref_decode(const uint8_t in[VLOG_REF_LEN], struct store_vref *refp)
{
	refp->seg = rk_le_get32(in);
	refp->off = rk_le_get32(in + 4);
	refp->vlen = rk_le_get32(in + 8);
}

static uint64_t rec_hash(const void *key, uint32_t klen, const void *val,
			 uint32_t vlen)
{
	uint64_t seed = XXH3_64bits_withSeed(key, klen,
					     ((uint64_t)klen << 32) | vlen);
	return XXH3_64bits_withSeed(val, vlen, seed);
}

int store_vrec_decode(const uint8_t *p, size_t n, struct store_vrec *recp)
{
	memset(recp, 0, sizeof(*recp));
	if (n < VLOG_REC_HEADER || rk_le_get32(p) != VLOG_REC_MAGIC)
		return RK_ECORRUPT;
	uint32_t kl = rk_le_get32(p + 4), vl = rk_le_get32(p + 8);
	uint64_t len = store_vrec_len(kl, vl);
	if (len > n || len > VLOG_REC_MAX)
		return RK_ECORRUPT;
	const uint8_t *k = p + VLOG_REC_HEADER, *v = k + kl;
	if (rec_hash(k, kl, v, vl) != rk_le_get64(p + 12))
		return RK_ECORRUPT;
	recp->key = k;
	recp->val = v;
	recp->klen = kl;
	recp->vlen = vl;
	recp->len = (uint32_t)len;
	return 0;
}

void store_vrec_encode(uint8_t *p, const void *key, size_t klen,
		       const void *val, size_t vlen)
{
	rk_le_put32(p, VLOG_REC_MAGIC);
	rk_le_put32(p + 4, (uint32_t)klen);
	rk_le_put32(p + 8, (uint32_t)vlen);
	rk_le_put64(p + 12, rec_hash(key, (uint32_t)klen, val, (uint32_t)vlen));
	if (klen > 0)
		memcpy(p + VLOG_REC_HEADER, key, klen);
	if (vlen > 0)
		memcpy(p + VLOG_REC_HEADER + klen, val, vlen);
}

static void seg_name(uint32_t seq, char out[24])
{
	snprintf(out, 24, "%08x.vlog", seq);
}

bool store_vlog_segment_name(const char *name, uint32_t *seqp)
{
	uint32_t seq = 0;

	for (int i = 0; i < 8; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			seq = seq << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			seq = seq << 4 | (uint32_t)(c - 'a' + 10);
		else
			return false;
	}
	if (strcmp(name + 8, ".vlog") != 0)
		return false;
	*seqp = seq;
	return true;
}

static void seg_free(struct vseg *g)
{
	if (g->map != NULL && g->map != MAP_FAILED)
		munmap(g->map, VLOG_SEG_MAX);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static int fsync_dir(struct store_vlog *v)
{
	return fsync(v->dirfd) == 0 ? 0 : store_errno(errno);
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return store_errno(errno);
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Maps g's file and gives it its descriptor. */
static int seg_map(struct vseg *g, int fd)
{
	g->fd = fd;
	g->map = mmap(NULL, VLOG_SEG_MAX, PROT_READ, MAP_SHARED, fd, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		return errno == ENOMEM ? RK_ENOMEM : RK_EIO;
	}
	return 0;
}

static int segs_push(struct store_vlog *v, struct vseg *g)
{
	if (v->nsegs == v->segcap) {
		size_t cap = v->segcap ? v->segcap * 2 : 16;
		struct vseg **n = realloc(v->segs, cap * sizeof(*n));
		if (n == NULL)
			return RK_ENOMEM;
		v->segs = n;
		v->segcap = cap;
	}
	pthread_rwlock_wrlock(&v->lock);
	v->segs[v->nsegs++] = g;
	pthread_rwlock_unlock(&v->lock);
	return 0;
}

/* Starts segment seq: its header written and synced, the directory too. */
static int seg_create(struct store_vlog *v, uint32_t seq)
{
	char name[24];
	uint8_t hdr[VLOG_SEG_HEADER];
	struct vseg *g = calloc(1, sizeof(*g));
	int fd, rc;

	if (g == NULL)
		return RK_ENOMEM;
	g->fd = -1;
	seg_name(seq, name);
	fd = openat(v->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(g);
		return store_errno(errno);
	}
	g->seq = seq;
	memcpy(hdr, VLOG_SEG_MAGIC, 8);
	rk_le_put64(hdr + 8, seq);
	rc = write_all(fd, hdr, sizeof(hdr), 0);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = store_errno(errno);
	if (rc == 0)
		rc = fsync_dir(v);
	if (rc == 0)
		rc = seg_map(g, fd);
	else
		close(fd);
	if (rc == 0) {
		g->size = g->written = VLOG_SEG_HEADER;
		rc = segs_push(v, g);
	}
	if (rc != 0) {
		if (g->fd < 0)
			unlinkat(v->dirfd, name, 0);
		seg_free(g);
	}
	return rc;
}

/* Opens segment seq (found in the directory) and checks its header; the
 * newest is scanned and cut after its last whole record (*cutp). */
static int seg_open(struct store_vlog *v, uint32_t seq, bool newest,
		    uint64_t *cutp)
{
	char name[24];
	uint8_t hdr[VLOG_SEG_HEADER];
	struct stat st;
	struct vseg *g = calloc(1, sizeof(*g));
	int fd, rc = 0;

	if (g == NULL)
		return RK_ENOMEM;
	g->fd = -1;
	g->seq = seq;
	seg_name(seq, name);
	fd = openat(v->dirfd, name, (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = store_errno(errno);
		if (fd >= 0)
			close(fd);
		free(g);
		return rc;
	}
	if (newest && st.st_size < VLOG_SEG_HEADER) {
		/* Made by a start that crashed before its header was
		 * durable: nothing in it was ever referred to. */
		memcpy(hdr, VLOG_SEG_MAGIC, 8);
		rk_le_put64(hdr + 8, seq);
		*cutp += (uint64_t)st.st_size;
		if (ftruncate(fd, 0) != 0)
			rc = store_errno(errno);
		if (rc == 0)
			rc = write_all(fd, hdr, sizeof(hdr), 0);
		if (rc == 0 && fdatasync(fd) != 0)
			rc = store_errno(errno);
		st.st_size = VLOG_SEG_HEADER;
	} else if (st.st_size < VLOG_SEG_HEADER || st.st_size > VLOG_SEG_MAX ||
		   pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
		   memcmp(hdr, VLOG_SEG_MAGIC, 8) != 0 ||
		   rk_le_get64(hdr + 8) != seq) {
		rc = RK_ECORRUPT;
	}
	if (rc == 0)
		rc = seg_map(g, fd);
	else
		close(fd);
	if (rc != 0) {
		seg_free(g);
		return rc;
	}
	g->size = g->written = (uint64_t)st.st_size;
	if (newest) {
		uint64_t end = VLOG_SEG_HEADER;
		struct store_vrec rec;
		while (end < g->size &&
		       store_vrec_decode(g->map + end, g->size - end, &rec) == 0)
			end += rec.len;
		if (end < g->size) {
			*cutp += g->size - end;
			if (ftruncate(fd, (off_t)end) != 0 || fdatasync(fd) != 0)
				rc = store_errno(errno);
			g->size = g->written = end;
		}
	}
	if (rc == 0)
		rc = segs_push(v, g);
	if (rc != 0)
		seg_free(g);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The sequence numbers of dir's segments, sorted. */
static int list_segments(int dirfd, uint32_t **seqsp, size_t *np)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	uint32_t *seqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;

	*seqsp = NULL;
	*np = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return store_errno(errno);
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		uint32_t seq;
		if (!store_vlog_segment_name(e->d_name, &seq))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 64;
			uint32_t *p = realloc(seqs, c * sizeof(*p));
			if (p == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			seqs = p;
			cap = c;
		}
		seqs[n++] = seq;
	}
	closedir(d);
	if (rc != 0) {
		free(seqs);
		return rc;
	}
	if (n > 0)
		qsort(seqs, n, sizeof(*seqs), cmp_u32);
	*seqsp = seqs;
	*np = n;
	return 0;
}

int store_vlog_open(const char *dir, bool create, struct store_vlog **vp,
		    uint64_t *cutp)
{
	struct store_vlog *v;
	uint32_t *seqs = NULL;
	size_t n = 0;
	uint64_t cut = 0;
	bool made = false;
	int rc;

	*vp = NULL;
	if (cutp != NULL)
		*cutp = 0;
	if (create) {
		made = mkdir(dir, 0700) == 0;
		if (!made && errno != EEXIST)
			return store_errno(errno);
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return RK_ENOMEM;
	v->seg_max = VLOG_SEG_MAX;
	pthread_rwlock_init(&v->lock, NULL);
	pthread_mutex_init(&v->pmu, NULL);
	v->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->dirfd < 0) {
		rc = errno == ENOENT ? RK_ENOTFOUND : store_errno(errno);
		goto err;
	}
	/* A directory just made must survive a crash with its parent. */
	if (made) {
		char parent[4096];
		snprintf(parent, sizeof(parent), "%s/..", dir);
		int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			(void)fsync(pfd);
			close(pfd);
		}
	}
	rc = list_segments(v->dirfd, &seqs, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = seg_open(v, seqs[i], i + 1 == n, &cut);
	free(seqs);
	if (rc != 0)
		goto err;
	if (cutp != NULL)
		*cutp = cut;
	*vp = v;
	return 0;
err:
	store_vlog_close(v);
	return rc;
}

void store_vlog_close(struct store_vlog *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nsegs; i++)
		seg_free(v->segs[i]);
	free(v->segs);
	free(v->buf);
	free(v->info);
	free(v->pins);
	if (v->dirfd >= 0)
		close(v->dirfd);
	pthread_rwlock_destroy(&v->lock);
	pthread_mutex_destroy(&v->pmu);
	free(v);
}

static struct vseg *newest(const struct store_vlog *v)
{
	return v->nsegs ? v->segs[v->nsegs - 1] : NULL;
}

/* Writes the buffer to g, the newest segment (the one its records were
 * given offsets in), not synced. On failure the buffer is dropped: its
 * records were never readable, and the transaction that refers to them
 * fails with the same error. */
static int write_out(struct store_vlog *v, struct vseg *g)
{
	int rc;

	if (v->blen == 0)
		return 0;
	rc = write_all(g->fd, v->buf, v->blen, g->written);
	if (rc == 0)
		g->written += v->blen;
	v->blen = 0;
	return rc;
}

int store_vlog_flush(struct store_vlog *v)
{
	struct vseg *g = newest(v);
	int rc;

	if (v->failed)
		return v->failed;
	if (g == NULL)
		return 0;
	rc = write_out(v, g);
	if (rc != 0 || g->written == g->size)
		return rc;
	if (fdatasync(g->fd) != 0) {
		/* Whether the pages reached the disk is unknown after a failed
		 * fdatasync, and a second one may not say so: no more
		 * writes. */
		v->failed = store_errno(errno);
		return v->failed;
	}
	__atomic_store_n(&g->size, g->written, __ATOMIC_RELEASE);
	return 0;
}

void store_vlog_set_segment_max(struct store_vlog *v, uint32_t seg_max)
{
	v->seg_max = seg_max > VLOG_SEG_MAX || seg_max == 0 ? VLOG_SEG_MAX
							    : seg_max;
}

uint64_t store_vlog_bytes(struct store_vlog *v)
{
	uint64_t n = 0;

	pthread_rwlock_rdlock(&v->lock);
	for (size_t i = 0; i < v->nsegs; i++)
		n += __atomic_load_n(&v->segs[i]->size, __ATOMIC_ACQUIRE);
	pthread_rwlock_unlock(&v->lock);
	return n;
}

bool store_vlog_empty(const struct store_vlog *v)
{
	return v->nsegs == 0;
}

uint64_t store_vlog_pending(const struct store_vlog *v)
{
	const struct vseg *g = newest(v);
	return v->blen + (g != NULL ? g->written - g->size : 0);
}

int store_vlog_add(struct store_vlog *v, const void *key, size_t klen,
		   const void *val, size_t vlen, struct store_vref *refp)
{
	uint64_t len = store_vrec_len(klen, vlen);
	struct vseg *g = newest(v);
	uint8_t *p;
	int rc;

	memset(refp, 0, sizeof(*refp));
	if (v->failed)
		return v->failed;
	if (len > VLOG_REC_MAX)
		return RK_ETOOBIG;
	if (g == NULL || (g->written + v->blen + len > v->seg_max &&
			  g->written + v->blen > VLOG_SEG_HEADER) ||
	    g->written + v->blen + len > VLOG_SEG_MAX) {
		/* A segment is full only once it holds a record. */
		if (g != NULL && (rc = store_vlog_flush(v)) != 0)
			return rc;
		if ((rc = seg_create(v, g != NULL ? g->seq + 1 : 1)) != 0)
			return rc;
		g = newest(v);
	}
	if (v->blen + len > v->bcap) {
		size_t cap = v->bcap ? v->bcap : 64u << 10;
		while (cap < v->blen + len)
			cap *= 2;
		p = realloc(v->buf, cap);
		if (p == NULL)
			return RK_ENOMEM;
		v->buf = p;
		v->bcap = cap;
	}
	store_vrec_encode(v->buf + v->blen, key, klen, val, vlen);
	refp->seg = g->seq;
	refp->off = (uint32_t)(g->written + v->blen);
	refp->vlen = (uint32_t)vlen;
	v->blen += (size_t)len;
	if (v->blen >= VLOG_BUF_OUT)
		return write_out(v, g);
	return 0;
}

/* The segment seq, or NULL (the caller holds the lock, or is the writer). */
static struct vseg *find(const struct store_vlog *v, uint32_t seq)
{
	size_t lo = 0, hi = v->nsegs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t s = v->segs[mid]->seq;
		if (s == seq)
			return v->segs[mid];
		if (s < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int store_vlog_get(struct store_vlog *v, const struct store_vref *ref,
		   const void *key, size_t klen, uint8_t **bufp, size_t *capp,
		   size_t *vlenp)
{
	uint64_t len = store_vrec_len(klen, ref->vlen);
	struct store_vrec rec;
	struct vseg *g;
	int rc = 0;

	*vlenp = 0;
	pthread_rwlock_rdlock(&v->lock);
	g = find(v, ref->seg);
	if (g == NULL) {
		rc = RK_ENOTFOUND;
		goto out;
	}
	uint64_t size = __atomic_load_n(&g->size, __ATOMIC_ACQUIRE);
	if (ref->off < VLOG_SEG_HEADER || ref->off > size ||
	    len > size - ref->off ||
	    store_vrec_decode(g->map + ref->off, (size_t)len, &rec) != 0 ||
	    rec.len != len || rec.klen != klen || rec.vlen != ref->vlen ||
	    (klen > 0 && memcmp(rec.key, key, klen) != 0)) {
		rc = RK_ECORRUPT;
		goto out;
	}
	if (rec.vlen > *capp || *bufp == NULL) {
		uint8_t *p = realloc(*bufp, rec.vlen ? rec.vlen : 1);
		if (p == NULL) {
			rc = RK_ENOMEM;
			goto out;
		}
		*bufp = p;
		*capp = rec.vlen ? rec.vlen : 1;
	}
	if (rec.vlen > 0)
		memcpy(*bufp, rec.val, rec.vlen);
	*vlenp = rec.vlen;
out:
	pthread_rwlock_unlock(&v->lock);
	return rc;
}

uint64_t store_vlog_pin(struct store_vlog *v)
{
	uint64_t t;

	pthread_mutex_lock(&v->pmu);
	t = v->epoch;
	if (v->npins > 0 && v->pins[v->npins - 1].epoch == t) {
		v->pins[v->npins - 1].n++;
	} else {
		if (v->npins == v->pincap) {
			size_t cap = v->pincap ? v->pincap * 2 : 8;
			struct pin_count *p = realloc(v->pins, cap * sizeof(*p));
			if (p == NULL) {
				/* Cannot count it: hold the oldest epoch's
				 * entry instead, which protects at least as
				 * much (it blocks every later retirement). */
				if (v->npins > 0) {
					v->pins[0].n++;
					t = v->pins[0].epoch;
				}
				pthread_mutex_unlock(&v->pmu);
				return t;
			}
			v->pins = p;
			v->pincap = cap;
		}
		v->pins[v->npins].epoch = t;
		v->pins[v->npins].n = 1;
		v->npins++;
	}
	pthread_mutex_unlock(&v->pmu);
	return t;
}

void store_vlog_unpin(struct store_vlog *v, uint64_t ticket)
{
	pthread_mutex_lock(&v->pmu);
	for (size_t i = 0; i < v->npins; i++) {
		if (v->pins[i].epoch != ticket)
			continue;
		if (--v->pins[i].n == 0) {
			memmove(v->pins + i, v->pins + i + 1,
				(v->npins - i - 1) * sizeof(*v->pins));
			v->npins--;
		}
		break;
	}
	pthread_mutex_unlock(&v->pmu);
}

int store_vlog_segments(struct store_vlog *v, struct store_vseg_info **segsp,
			size_t *nsegp)
{
	size_t n = 0;

	*segsp = NULL;
	*nsegp = 0;
	if (v->nsegs > v->infocap) {
		struct store_vseg_info *p =
			realloc(v->info, v->nsegs * sizeof(*p));
		if (p == NULL)
			return RK_ENOMEM;
		v->info = p;
		v->infocap = v->nsegs;
	}
	for (size_t i = 0; i < v->nsegs; i++) {
		if (v->segs[i]->retired)
			continue;
		v->info[n].seq = v->segs[i]->seq;
		v->info[n].bytes = v->segs[i]->size;
		n++;
	}
	*segsp = v->info;
	*nsegp = n;
	return 0;
}

int store_vlog_next(struct store_vlog *v, uint32_t seq, uint32_t *offp,
		    struct store_vrec *recp)
{
	struct vseg *g = find(v, seq);
	uint32_t off = *offp;

	memset(recp, 0, sizeof(*recp));
	if (g == NULL)
		return RK_ENOTFOUND;
	if (off < VLOG_SEG_HEADER)
		off = VLOG_SEG_HEADER;
	if (off >= g->size)
		return RK_ENOTFOUND;
	if (store_vrec_decode(g->map + off, (size_t)(g->size - off), recp) != 0)
		return RK_ECORRUPT;
	*offp = off + recp->len;
	return 0;
}

int store_vlog_retire(struct store_vlog *v, uint32_t seq)
{
	struct vseg *g = find(v, seq);

	if (g == NULL)
		return RK_ENOTFOUND;
	if (g == newest(v))
		return RK_EINVAL;
	if (g->retired)
		return 0;
	pthread_mutex_lock(&v->pmu);
	g->retired = true;
	g->retired_epoch = v->epoch++;
	pthread_mutex_unlock(&v->pmu);
	return store_vlog_reap(v, NULL);
}

int store_vlog_reap(struct store_vlog *v, size_t *leftp)
{
	uint64_t oldest;
	size_t left = 0, j = 0;
	int rc = 0;

	if (leftp != NULL)
		*leftp = 0;
	pthread_mutex_lock(&v->pmu);
	oldest = v->npins > 0 ? v->pins[0].epoch : UINT64_MAX;
	pthread_mutex_unlock(&v->pmu);
	struct vseg **gone = malloc((v->nsegs ? v->nsegs : 1) * sizeof(*gone));
	size_t ngone = 0;
	if (gone == NULL)
		return RK_ENOMEM;
	pthread_rwlock_wrlock(&v->lock);
	for (size_t i = 0; i < v->nsegs; i++) {
		struct vseg *g = v->segs[i];
		/* A pin of the retirement's epoch or older may still hold a
		 * reference into g. */
		if (g->retired && g->retired_epoch < oldest)
			gone[ngone++] = g;
		else
			v->segs[j++] = g;
		left += g->retired && g->retired_epoch >= oldest;
	}
	v->nsegs = j;
	pthread_rwlock_unlock(&v->lock);
	for (size_t i = 0; i < ngone; i++) {
		char name[24];
		seg_name(gone[i]->seq, name);
		if (unlinkat(v->dirfd, name, 0) != 0 && rc == 0)
			rc = store_errno(errno);
		seg_free(gone[i]);
	}
	free(gone);
	if (leftp != NULL)
		*leftp = left;
	return rc;
}
