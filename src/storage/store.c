/*
 * The store: opening a data directory (and refusing a foreign one), the
 * WiredTiger connection and sessions. The storage thread that commits
 * batches in groups is store_thread.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_int.h"
#include "vlog.h"

const char *const store_table_uri[T_COUNT] = {
	"table:raftlog", "table:raftstate", "table:tombstone", "table:meta",
	"table:apply",   "table:kv",        "table:internal",
	"table:placement", "table:vlog",
};

/* Logged tables carry the raft log and what must survive with it; the
 * state machine's tables (state_machine[]) are durable at checkpoints
 * (journal once) beside a B-tree key table, and logged beside an LSM one
 * (docs/storage.md "The key table as an LSM tree"). */
static const char *const table_config[T_COUNT] = {
	"key_format=QQ,value_format=u",
	"key_format=Q,value_format=u",
	"key_format=Q,value_format=Q",
	"key_format=S,value_format=u",
	"key_format=Q,value_format=u",
	/* The key table: leaves of at most 8 KB in 1 KB allocation units
	 * (WiredTiger: 32 KB in 4 KB). Values of 512 bytes and more live in
	 * the value log, so most leaves hold keys and references: a random
	 * insert dirties one leaf that eviction then rewrites whole, and a
	 * GET of a key not in the cache reads one whole leaf, both costs of
	 * the leaf, not of the key. Smaller leaves were no faster and left
	 * more of the file empty where values stay in place; 1 KB units keep
	 * a leaf's block from being rounded up to 4 KB (docs/storage.md
	 * "Leaf pages of the key table"). Set at creation: an existing table
	 * keeps its own. */
	"key_format=u,value_format=u,"
	"leaf_page_max=" STORE_KV_LEAF_MAX ",allocation_size=" STORE_KV_ALLOC,
	"key_format=u,value_format=u",
	/* The placement group's state machine (a directory of an earlier
	 * release gets it, empty, at its first open by this one). */
	"key_format=u,value_format=u",
	/* The value log's live bytes per segment, changed in the same
	 * transactions as the key table's references, durable with them. */
	"key_format=Q,value_format=q",
};

/* The tables every apply writes, in one transaction with the apply
 * state: all logged or none, so that a crash brings them back to one
 * and the same point. */
static const bool state_machine[T_COUNT] = {
	[T_APPLY] = true, [T_KV] = true, [T_INTERNAL] = true,
	[T_PLACEMENT] = true, [T_VLOG] = true,
};

/* The key table as WiredTiger's LSM tree: inserts go to an in-memory
 * chunk of 32 MB, written out whole and merged in key order by
 * WiredTiger's LSM threads, so a random insert no longer dirties a
 * random leaf of a table larger than the cache's dirty budget; each
 * chunk on disk has a Bloom filter, which spares a GET the chunks that
 * lack its key. A checkpoint writes the chunks, but the LSM threads also
 * write out and merge chunks between checkpoints, so the state machine's
 * tables are logged beside it (state_machine[]). */
#define STORE_KV_LSM_CHUNK_KB (32u << 10)

static const char *const key_table_names[] = {"btree", "lsm"};

const char *rk_store_key_table_name(enum rk_store_key_table k)
{
	return (unsigned)k < 2 ? key_table_names[k] : "?";
}

int rk_store_key_table_parse(const char *str, enum rk_store_key_table *kp)
{
	for (unsigned i = 0; i < 2; i++)
		if (strcmp(str, key_table_names[i]) == 0) {
			*kp = (enum rk_store_key_table)i;
			return 0;
		}
	*kp = RK_STORE_KEYS_BTREE;
	return RK_EINVAL;
}

unsigned store_dirty_pct(uint64_t cache_mb, uint64_t dirty_mb, unsigned max_pct)
{
	uint64_t pct;

	if (cache_mb == 0)
		return max_pct;
	pct = (dirty_mb * 100 + cache_mb - 1) / cache_mb;
	if (pct < 1)
		pct = 1;
	return pct > max_pct ? max_pct : (unsigned)pct;
}

int store_err(int wt)
{
	switch (wt) {
	case 0:
		return 0;
	case WT_NOTFOUND:
		return RK_ENOTFOUND;
	case WT_DUPLICATE_KEY:
		return RK_EEXIST;
	case WT_ROLLBACK:
		return RK_EAGAIN;
	case ENOMEM:
		return RK_ENOMEM;
	case ENOSPC:
	case EDQUOT:
		return RK_ENOSPC;
	case WT_PANIC:
	case WT_RUN_RECOVERY:
		return RK_ECORRUPT;
	default:
		return RK_EIO;
	}
}

int store_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? RK_ENOSPC : RK_EIO;
}

void rk_store_options_default(struct rk_store_options *o)
{
	memset(o, 0, sizeof(*o));
	o->cache_mb = 256;
	o->checkpoint_secs = 30;
	o->compact_min_bytes = 32u << 20;
	o->values_apart_min = RK_STORE_VALUES_APART_MIN;
	o->create = true;
	o->compression = RK_STORE_COMPRESS_DEFAULT;
	o->key_table = RK_STORE_KEYS_DEFAULT;
}

int store_session_open(struct rk_store *s, struct store_session *ss)
{
	int i, ret;

	memset(ss, 0, sizeof(*ss));
	ss->s = s;
	ret = s->conn->open_session(s->conn, NULL, "isolation=snapshot", &ss->ws);
	if (ret != 0)
		return store_err(ret);
	for (i = 0; i < T_COUNT; i++) {
		ret = ss->ws->open_cursor(ss->ws, store_table_uri[i], NULL, NULL,
					  &ss->c[i]);
		if (ret != 0) {
			store_session_close(ss);
			return store_err(ret);
		}
	}
	return 0;
}

void store_session_close(struct store_session *ss)
{
	if (ss->ws != NULL)
		ss->ws->close(ss->ws, NULL); /* closes its cursors */
	free(ss->scratch);
	free(ss->vbuf);
	free(ss->vd.v);
	memset(ss, 0, sizeof(*ss));
}

/* ---- the data directory ------------------------------------------------------- */

/* The first start's marker: made (and synced) in the empty directory
 * before anything else, removed once the directory's identity is durable
 * and checkpointed. While it is there, everything else in the directory
 * was made by a first start that never returned (nothing in it was
 * acknowledged to anyone) and may be half made: WiredTiger creates its lock
 * file, then its own files, then rangekv writes its identity, and a kill -9
 * can land between any two. A directory holding it is created anew. */
#define STORE_CREATING "rangekv.creating"

enum dir_kind { DIR_MISSING, DIR_EMPTY, DIR_CREATING, DIR_WIREDTIGER, DIR_OTHER };

static enum dir_kind dir_kind(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool any = false, wt = false, creating = false;

	if (d == NULL)
		return errno == ENOENT ? DIR_MISSING : DIR_OTHER;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		any = true;
		if (strcmp(de->d_name, "WiredTiger") == 0)
			wt = true;
		if (strcmp(de->d_name, STORE_CREATING) == 0)
			creating = true;
	}
	closedir(d);
	return creating ? DIR_CREATING : wt ? DIR_WIREDTIGER : any ? DIR_OTHER : DIR_EMPTY;
}

/* Held while the directory is opened (and, the first time, created), so
 * that two processes starting on it cannot both create it, nor one clear
 * what the other is creating; once open, WiredTiger's own lock keeps
 * others out. *fdp is -1 where the file system has no flock (the open
 * then goes on under WiredTiger's lock alone). */
static int dir_lock(const char *dir, int *fdp, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*fdp = -1;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(errno));
		return store_errno(errno);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK) {
			snprintf(err, errlen, "%s is in use by another process", dir);
			return RK_EBUSY;
		}
		return 0;
	}
	*fdp = fd;
	return 0;
}

/* Empties a directory whose first start was interrupted, the marker
 * excepted. Only regular files are removed: the marker was made in an
 * empty directory, and that start makes nothing else. */
/* Removes a value log directory that holds segment files only (0), or
 * leaves it (-1): what a start makes, never what a user put there. */
static int values_clear(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char f[4400];
	int rc = 0;

	if (d == NULL)
		return -1;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		uint32_t seq;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    !store_vlog_segment_name(de->d_name, &seq))
			rc = -1;
	}
	rewinddir(d);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (unlink(f) != 0)
			rc = -1;
	}
	closedir(d);
	return rc == 0 && rmdir(path) == 0 ? 0 : -1;
}

static int dir_clear(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char path[4096];
	int rc = 0;

	if (d == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return store_errno(errno);
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, STORE_CREATING) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (strcmp(de->d_name, "values") == 0 && lstat(path, &st) == 0 &&
		    S_ISDIR(st.st_mode) && values_clear(path) == 0)
			continue;
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: its first start did not complete, and it holds %s, "
				 "which that start did not make: move that away or remove the directory, and start again",
				 dir, de->d_name);
			rc = RK_EFOREIGN;
		} else if (unlink(path) != 0) {
			snprintf(err, errlen, "%s: cannot remove %s, left by a first start that did not complete: %s",
				 dir, de->d_name, strerror(errno));
			rc = store_errno(errno);
		}
	}
	closedir(d);
	return rc;
}

/* Makes the marker durable before anything else is created (dirfd, when
 * not -1, is the directory: its entry is synced too). */
static int marker_put(const char *dir, int dirfd, char *err, size_t errlen)
{
	static const char text[] =
		"rangekv: this directory's first start has not completed; "
		"the next start creates it anew.\n";
	char path[4096];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/" STORE_CREATING, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) ||
	    fsync(fd) != 0 || (dirfd >= 0 && fsync(dirfd) != 0))
		rc = store_errno(errno);
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		snprintf(err, errlen, "cannot initialise %s: %s", dir, rk_strerror(rc));
	return rc;
}

/* The first start is complete: removes the marker, durably. */
static int marker_remove(const char *dir, int dirfd, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/" STORE_CREATING, dir);
	if (unlink(path) != 0 || (dirfd >= 0 && fsync(dirfd) != 0)) {
		int rc = store_errno(errno);
		snprintf(err, errlen, "cannot initialise %s: %s", dir, rk_strerror(rc));
		return rc;
	}
	return 0;
}

static int meta_get_u64(struct store_session *ss, const char *name,
			uint64_t *vp)
{
	WT_CURSOR *c = ss->c[T_META];
	WT_ITEM v;
	int ret;

	*vp = 0;
	c->set_key(c, name);
	ret = c->search(c);
	if (ret != 0)
		return store_err(ret);
	ret = c->get_value(c, &v);
	if (ret == 0 && v.size != 8)
		ret = EINVAL;
	if (ret == 0)
		*vp = rk_le_get64(v.data);
	c->reset(c);
	return ret == EINVAL ? RK_ECORRUPT : store_err(ret);
}

/* A short text row of the meta table (a setting's name) into out:
 * RK_ENOTFOUND when absent. */
static int meta_get_name(struct store_session *ss, const char *key, char *out,
			 size_t n)
{
	WT_CURSOR *c = ss->c[T_META];
	WT_ITEM v;
	int ret;

	out[0] = '\0';
	c->set_key(c, key);
	ret = c->search(c);
	if (ret == 0)
		ret = c->get_value(c, &v);
	if (ret == 0)
		snprintf(out, n, "%.*s", (int)(v.size < n - 1 ? v.size : n - 1),
			 (const char *)v.data);
	c->reset(c);
	return store_err(ret);
}

/* An existing directory's settings: its "compression" and "key_table"
 * rows; none and btree when a build before the setting made it. */
static int dir_settings(struct rk_store *s, const struct rk_store_options *o,
			char *err, size_t errlen)
{
	static const char *const rows[2][2] = {{"compression", "compression"},
					       {"key_table", "key table"}};
	char name[16];
	int rc;

	s->compression = RK_STORE_COMPRESS_NONE;
	s->key_table = RK_STORE_KEYS_BTREE;
	for (int i = 0; i < 2; i++) {
		rc = meta_get_name(&s->w, rows[i][0], name, sizeof(name));
		if (rc == RK_ENOTFOUND)
			continue;
		if (rc == 0)
			rc = i == 0 ? rk_store_compression_parse(name, &s->compression)
				    : rk_store_key_table_parse(name, &s->key_table);
		if (rc != 0) {
			snprintf(err, errlen, "%s: cannot read its %s setting", o->dir,
				 rows[i][1]);
			return RK_ECORRUPT;
		}
	}
	return 0;
}

/* Commits b on the (not yet running) storage thread's session and
 * flushes the log: durable on return. Frees b. */
static int write_durable(struct rk_store *s, struct rk_store_batch *b)
{
	struct store_session *ss = &s->w;
	int rc = store_err(ss->ws->begin_transaction(ss->ws, NULL));

	if (rc == 0)
		rc = store_apply_batch(ss, b);
	if (rc == 0)
		rc = store_err(ss->ws->commit_transaction(ss->ws, NULL));
	else
		ss->ws->rollback_transaction(ss->ws, NULL);
	if (rc == 0)
		rc = store_err(ss->ws->log_flush(ss->ws, "sync=on"));
	rk_store_batch_free(b);
	return write_err(s, rc);
}

/* Marks a directory of format 1 as format 2 before anything is written
 * in it: from now on its key table may refer to the value log, which a
 * release that reads format 1 only would take for values; it refuses the
 * directory instead ("written by a newer rangekv"). Nothing else changes:
 * format 1's rows are format 2's rows with every value in place. */
static int format_mark(struct rk_store *s)
{
	struct rk_store_batch *b = rk_store_batch_new();
	uint8_t v[8];

	if (b == NULL)
		return RK_ENOMEM;
	rk_le_put64(v, RK_STORE_FORMAT);
	rk_store_batch_meta_put(b, "format", v, 8);
	return write_durable(s, b);
}

static int identity(struct rk_store *s, const struct rk_store_options *o,
		    bool fresh, char *err, size_t errlen)
{
	struct store_session *ss = &s->w;
	uint64_t format, node, cluster;
	struct rk_store_batch *b;
	uint8_t v[8];
	int rc;

	if (fresh) {
		cluster = o->cluster_id != 0 ? o->cluster_id : o->new_cluster_id;
		if (cluster == 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			cluster = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^
				  (o->node_id << 48);
		}
		b = rk_store_batch_new();
		if (b == NULL)
			return RK_ENOMEM;
		rk_le_put64(v, RK_STORE_FORMAT);
		rk_store_batch_meta_put(b, "format", v, 8);
		rk_le_put64(v, o->node_id);
		rk_store_batch_meta_put(b, "node_id", v, 8);
		rk_le_put64(v, cluster);
		rk_store_batch_meta_put(b, "cluster_id", v, 8);
		/* What the tables were created with, for readers of the
		 * directory (the tables record it themselves). */
		rk_store_batch_meta_put(b, "compression",
					rk_store_compression_name(s->compression),
					strlen(rk_store_compression_name(s->compression)));
		rk_store_batch_meta_put(b, "key_table",
					rk_store_key_table_name(s->key_table),
					strlen(rk_store_key_table_name(s->key_table)));
		rc = write_durable(s, b);
		s->cluster_id = cluster;
		if (rc != 0)
			snprintf(err, errlen, "cannot initialise %s: %s", o->dir,
				 rk_strerror(rc));
		return rc;
	}
	rc = meta_get_u64(ss, "format", &format);
	if (rc == RK_ENOTFOUND) {
		/* A first start never leaves this behind without its marker
		 * (builds before the marker could: docs/storage.md). */
		snprintf(err, errlen, "%s is a WiredTiger directory but not a rangekv one "
			 "(or one made by an older rangekv whose first start did not complete: "
			 "then remove it and start again)", o->dir);
		return RK_EFOREIGN;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot read its format: %s", o->dir, rk_strerror(rc));
		return RK_ECORRUPT;
	}
	if (format > RK_STORE_FORMAT) {
		snprintf(err, errlen, "%s was written by a newer rangekv (format %llu, this build reads up to %d)",
			 o->dir, (unsigned long long)format, RK_STORE_FORMAT);
		return RK_EVERSION;
	}
	if (meta_get_u64(ss, "node_id", &node) != 0 ||
	    meta_get_u64(ss, "cluster_id", &cluster) != 0) {
		snprintf(err, errlen, "%s: its node or cluster id is missing", o->dir);
		return RK_ECORRUPT;
	}
	if (node != o->node_id) {
		snprintf(err, errlen, "%s belongs to node %llu, not node %llu", o->dir,
			 (unsigned long long)node, (unsigned long long)o->node_id);
		return RK_EFOREIGN;
	}
	if (o->cluster_id != 0 && cluster != o->cluster_id) {
		snprintf(err, errlen, "%s belongs to cluster %016llx, not %016llx", o->dir,
			 (unsigned long long)cluster, (unsigned long long)o->cluster_id);
		return RK_EFOREIGN;
	}
	s->cluster_id = cluster;
	if (format < RK_STORE_FORMAT && (rc = format_mark(s)) != 0) {
		snprintf(err, errlen, "%s: cannot mark its format %d: %s", o->dir,
			 RK_STORE_FORMAT, rk_strerror(rc));
		return rc;
	}
	return dir_settings(s, o, err, errlen);
}

/* WiredTiger reports errors through this handler: keep them quiet (the
 * caller gets a translated code and a one-line reason), but remember a
 * full disk, which WiredTiger may go on to report as a panic. */
static int wt_handle_error(WT_EVENT_HANDLER *h, WT_SESSION *ws, int error,
			   const char *message)
{
	struct rk_store *s = (struct rk_store *)(void *)h; /* the first member */

	(void)ws;
	if (error == ENOSPC || error == EDQUOT ||
	    (message != NULL && strstr(message, "No space left on device") != NULL))
		__atomic_store_n(&s->saw_enospc, 1, __ATOMIC_RELEASE);
	if (error == WT_PANIC)
		__atomic_store_n(&s->panicked, 1, __ATOMIC_RELEASE);
	if (getenv("RK_STORE_DEBUG") != NULL)
		fprintf(stderr, "wiredtiger: %s\n", message);
	return 0;
}

bool rk_store_panicked(const struct rk_store *s)
{
	return __atomic_load_n(&s->panicked, __ATOMIC_ACQUIRE) != 0;
}

/* A failed write's code: a panic or an I/O error after WiredTiger saw the
 * disk full is the full disk (its free space, not the data, is at fault). */
int write_err(struct rk_store *s, int rc)
{
	if ((rc == RK_ECORRUPT || rc == RK_EIO) &&
	    __atomic_load_n(&s->saw_enospc, __ATOMIC_ACQUIRE))
		return RK_ENOSPC;
	return rc;
}

bool rk_store_dir_is_new(const char *dir)
{
	enum dir_kind k = dir_kind(dir);

	return k == DIR_MISSING || k == DIR_EMPTY || k == DIR_CREATING;
}

/* A WiredTiger directory without its turtle file (the pointer to the
 * metadata's checkpoint, which WiredTiger replaces by a rename, so it is
 * never absent in one that completed its first start) has lost its
 * metadata. WiredTiger would make new metadata, renaming every table it
 * finds (kv.wt to kv.wt.1, ...) and starting a new journal: refused
 * before it is opened, so that nothing in it changes. */
static int dir_check_turtle(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/WiredTiger.turtle", dir);
	if (stat(path, &st) == 0)
		return 0;
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return store_errno(errno);
	}
	snprintf(err, errlen, "%s: its storage metadata is damaged (WiredTiger.turtle is missing); "
		 "nothing in it was changed: restore the directory from a backup, or replace "
		 "the node (decommission it, then start a new one with --join: it copies its "
		 "ranges from its peers)", dir);
	return RK_ECORRUPT;
}

/* Settles what the directory is, under its lock (*lockp): refuses a
 * foreign one, creates a missing one, clears one whose first start did not
 * complete, and marks a fresh one (*freshp) before anything is made in it. */
static int dir_prepare(const struct rk_store_options *o, int *lockp,
		       bool *freshp, char *err, size_t errlen)
{
	enum dir_kind kind = dir_kind(o->dir);
	int rc;

	*lockp = -1;
	*freshp = false;
	if (kind == DIR_MISSING || kind == DIR_EMPTY || kind == DIR_CREATING) {
		if (!o->create) {
			snprintf(err, errlen, kind == DIR_CREATING ?
				 "%s: its first start did not complete (it holds no data); start with creation allowed to create it anew" :
				 "%s does not exist or is empty", o->dir);
			return RK_ENOTFOUND;
		}
		if (kind == DIR_MISSING && mkdir(o->dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", o->dir, strerror(errno));
			return RK_EIO;
		}
	}
	if (kind != DIR_OTHER) {
		rc = dir_lock(o->dir, lockp, err, errlen);
		if (rc != 0)
			return rc;
		kind = dir_kind(o->dir); /* again, under the lock */
	}
	if (kind == DIR_OTHER) {
		snprintf(err, errlen, "%s is not a rangekv data directory (it holds other files, or cannot be read)",
			 o->dir);
		return RK_EFOREIGN;
	}
	if (kind == DIR_WIREDTIGER)
		return dir_check_turtle(o->dir, err, errlen);
	*freshp = true;
	if (kind == DIR_CREATING)
		return dir_clear(o->dir, err, errlen);
	return marker_put(o->dir, *lockp, err, errlen);
}

/* Opens the value log, <dir>/values (made if missing: a new directory,
 * or one of format 1), and its collection. */
static int values_open(struct rk_store *s, char *err, size_t errlen)
{
	char path[4096];
	uint64_t cut = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/values", s->dir);
	rc = write_err(s, store_vlog_open(path, true, &s->vlog, &cut));
	if (rc == RK_ECORRUPT) {
		snprintf(err, errlen, "%s: a file of its value log is not one "
			 "(a segment's header does not match its name); it is corrupt "
			 "or was copied in from elsewhere", path);
		return rc;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot open its value log: %s", path,
			 rk_strerror(rc));
		return rc;
	}
	store_vlog_set_segment_max(s->vlog, s->vlog_seg_max);
	if (cut > 0)
		rk_log_info("store", "value log: cut a torn tail after a crash "
			    "bytes=%llu", (unsigned long long)cut);
	s->w.vwrite = s->vlog_min > 0;
	rc = store_vgc_open(s);
	if (rc != 0)
		snprintf(err, errlen, "%s: cannot read its value log's live bytes: %s",
			 s->dir, rk_strerror(rc));
	return rc;
}

/* rk_store_open's work once the directory is settled and locked. */
static int store_open_locked(const struct rk_store_options *o, bool fresh,
			     int lock, struct rk_store **sp, char *err,
			     size_t errlen)
{
	struct rk_store *s;
	char config[3072], ext[2048], missing[64];
	uint64_t cache_mb = o->cache_mb ? o->cache_mb : 256;
	int i, ret, rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return RK_ENOMEM;
	s->node_id = o->node_id;
	s->dir = strdup(o->dir);
	if (s->dir == NULL) {
		free(s);
		return RK_ENOMEM;
	}
	s->checkpoint_secs = o->checkpoint_secs;
	s->compact_min_bytes = o->compact_min_bytes;
	s->compression = o->compression;
	s->key_table = o->key_table;
	s->test_commit_delay_ms = o->test_commit_delay_ms;
	s->vlog_min = o->values_apart_min;
	s->vlog_seg_max = o->test_values_segment_bytes;
	/* An eighth of the cache, at most 32 MiB (an eighth of the default):
	 * a group is one transaction, and its pages stay dirty until it
	 * commits. */
	s->group_max_bytes = (cache_mb << 20) / 8;
	if (s->group_max_bytes > STORE_GROUP_MAX_BYTES)
		s->group_max_bytes = STORE_GROUP_MAX_BYTES;
	store_extensions(ext, sizeof(ext), missing, sizeof(missing));
	if (fresh && !store_compressor_loaded(missing, o->compression)) {
		snprintf(err, errlen, "compression %s needs WiredTiger's libwiredtiger_%s.so extension, "
			 "which is not installed beside libwiredtiger: install it or use compression none",
			 rk_store_compression_name(o->compression),
			 rk_store_compression_name(o->compression));
		free(s->dir);
		free(s);
		return RK_EINVAL;
	}
	/* Commits do not sync (transaction_sync off): the storage thread
	 * flushes the log once per group instead. Dirty pages may reach
	 * STORE_DIRTY_TARGET_MB before the eviction threads write them and
	 * STORE_DIRTY_TRIGGER_MB before the threads that write must help
	 * (WiredTiger's 5% and 20% of the cache): under a write load the raft
	 * log and randomly overwritten keys kept the eviction threads
	 * reconciling the same pages again and again between checkpoints,
	 * about a fifth of a node's CPU (docs/benchmarks.md); with room for
	 * them most dirty pages are written once, by the checkpoint. The
	 * limits are bytes, not a share of the cache: 20% and 50% of a 2 GiB
	 * cache let a checkpoint find 400 MB to write, and a 1 GB load with it
	 * went 100 seconds without a completed write (docs/storage.md). A
	 * larger cache holds more clean pages, never more dirty ones. Log
	 * files of 16 MB: WiredTiger keeps the current one and two
	 * preallocated ones, 192 MB of a quiet directory with 64 MB files
	 * (docs/storage.md). */
	{
		unsigned target = store_dirty_pct(cache_mb, STORE_DIRTY_TARGET_MB, 20);
		unsigned trigger = store_dirty_pct(cache_mb, STORE_DIRTY_TRIGGER_MB, 50);

		if (trigger <= target)
			trigger = target + 1;
		snprintf(config, sizeof(config),
			 "%s%scache_size=%lluM,session_max=256,"
			 "eviction_dirty_target=%u,eviction_dirty_trigger=%u,"
			 "log=(enabled=true,archive=true,file_max=%uMB),"
			 "transaction_sync=(enabled=false),statistics=(fast)",
			 fresh ? "create," : "", ext, (unsigned long long)cache_mb,
			 target, trigger, STORE_LOG_FILE_MB);
	}
	s->events.handle_error = wt_handle_error;
	ret = wiredtiger_open(o->dir, &s->events, config, &s->conn);
	if (ret == EBUSY) {
		snprintf(err, errlen, "%s is in use by another process", o->dir);
		free(s->dir);
		free(s);
		return RK_EBUSY;
	}
	if (ret != 0 && write_err(s, store_err(ret)) == RK_ENOSPC) {
		snprintf(err, errlen, "%s: no space left on device to open it (%s)",
			 o->dir, wiredtiger_strerror(ret));
		free(s->dir);
		free(s);
		return RK_ENOSPC;
	}
	if (ret != 0) {
		snprintf(err, errlen, "%s: the storage engine cannot open it (%s); it may be corrupt%s%s%s",
			 o->dir, wiredtiger_strerror(ret),
			 missing[0] ? ", or compressed with " : "", missing,
			 missing[0] ? ", whose WiredTiger extension is not installed" : "");
		free(s->dir);
		free(s);
		return RK_ECORRUPT;
	}
	{
		WT_SESSION *ws;
		ret = s->conn->open_session(s->conn, NULL, NULL, &ws);
		/* An existing table keeps the configuration it was created
		 * with (create is then a no-op): compression applies to new
		 * directories only. */
		for (i = 0; ret == 0 && i < T_COUNT; i++) {
			char tc[320], lsmc[80] = "";
			bool big = i == T_RAFTLOG || i == T_KV || i == T_INTERNAL;
			bool comp = big && fresh && o->compression != RK_STORE_COMPRESS_NONE;
			/* Every table of an LSM directory exists from its
			 * first start: a table a later release adds to one
			 * must be created logged, which this would not do. */
			bool lsm = fresh && o->key_table == RK_STORE_KEYS_LSM;
			if (i == T_KV && lsm)
				snprintf(lsmc, sizeof(lsmc), ",type=lsm,lsm=(chunk_size=%uKB,bloom=true)",
					 o->test_lsm_chunk_kb ? o->test_lsm_chunk_kb
							      : STORE_KV_LSM_CHUNK_KB);
			snprintf(tc, sizeof(tc), "%s%s%s%s%s", table_config[i],
				 comp ? ",block_compressor=" : "",
				 comp ? rk_store_compression_name(o->compression) : "",
				 state_machine[i] && !lsm ? ",log=(enabled=false)" : "", lsmc);
			ret = ws->create(ws, store_table_uri[i], tc);
		}
		if (ret == 0)
			ws->close(ws, NULL);
	}
	rc = write_err(s, ret != 0 ? store_err(ret) : store_session_open(s, &s->w));
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot open its tables: %s", o->dir, rk_strerror(rc));
		goto fail;
	}
	rc = identity(s, o, fresh, err, errlen);
	if (rc != 0)
		goto fail;
	/* Checkpointed, the directory stands without replaying its log; only
	 * then is the first start complete. */
	if (fresh) {
		rc = write_err(s, store_err(s->w.ws->checkpoint(s->w.ws, NULL)));
		if (rc != 0)
			snprintf(err, errlen, "cannot initialise %s: %s", o->dir,
				 rk_strerror(rc));
		else
			rc = marker_remove(o->dir, lock, err, errlen);
		if (rc != 0)
			goto fail;
	}
	rc = values_open(s, err, errlen);
	if (rc != 0)
		goto fail;
	store_snap_orphans(s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->ckmu, NULL);
	rc = store_durable_load(s, s->w.ws);
	if (rc != 0) {
		snprintf(err, errlen, "%s: cannot read the last checkpoint: %s", o->dir,
			 rk_strerror(rc));
		goto fail;
	}
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	if (store_compact_start(s) != 0) {
		snprintf(err, errlen, "cannot start the compaction thread");
		rc = RK_ENOMEM;
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, store_thread_main, s) != 0) {
		snprintf(err, errlen, "cannot start the storage thread");
		store_compact_stop(s);
		rc = RK_ENOMEM;
		goto fail;
	}
	pthread_cond_init(&s->kcv, NULL);
	rc = store_err(s->conn->open_session(s->conn, NULL, NULL, &s->kws));
	if (rc == 0 && pthread_create(&s->kthread, NULL, store_ckpt_main, s) != 0)
		rc = RK_ENOMEM;
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the checkpoint thread: %s", rk_strerror(rc));
		*sp = s;
		rk_store_close(s);
		*sp = NULL;
		return rc;
	}
	s->kthread_running = true;
	*sp = s;
	return 0;
fail:
	/* After a panic the connection is left open, as in rk_store_close:
	 * its close may wait forever. */
	if (!rk_store_panicked(s)) {
		store_session_close(&s->w);
		s->conn->close(s->conn, NULL);
	}
	store_vgc_close(s);
	store_vlog_close(s->vlog);
	free(s->dur);
	free(s->dir);
	free(s);
	return rc;
}

int rk_store_open(const struct rk_store_options *o, struct rk_store **sp,
		  char *err, size_t errlen)
{
	bool fresh;
	int rc, lock;

	*sp = NULL;
	err[0] = '\0';
	if (o->dir == NULL || o->node_id == 0) {
		snprintf(err, errlen, "a data directory and a node id are required");
		return RK_EINVAL;
	}
	rc = dir_prepare(o, &lock, &fresh, err, errlen);
	if (rc == 0)
		rc = store_open_locked(o, fresh, lock, sp, err, errlen);
	if (lock >= 0)
		close(lock); /* releases the lock */
	return rc;
}

uint64_t rk_store_cluster_id(const struct rk_store *s)
{
	return s->cluster_id;
}

enum rk_store_compression rk_store_compression(const struct rk_store *s)
{
	return s->compression;
}

enum rk_store_key_table rk_store_key_table(const struct rk_store *s)
{
	return s->key_table;
}

void rk_store_close(struct rk_store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_signal(&s->cv);
	pthread_cond_signal(&s->kcv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	/* A checkpoint that is running finishes first (after a panic it may
	 * never: the thread is then left, like the connection, below). */
	if (s->kthread_running && !rk_store_panicked(s)) {
		pthread_join(s->kthread, NULL);
		s->kthread_running = false;
		/* Its last checkpoints' follow-up, which the storage thread
		 * may have left (it stops once its queue is empty); this
		 * thread now has the storage thread's session. */
		if (s->ck_finished != s->ck_handled)
			store_after_checkpoint(s);
	}
	store_compact_stop(s);
	/* After a panic (a full disk can end in one) WiredTiger asks the
	 * process to exit: a checkpoint or a close may wait forever for
	 * transactions it will never finish. The connection is left open (the
	 * process is stopping; the log is the journal, and the next start
	 * recovers from it). */
	if (rk_store_panicked(s)) {
		if (!s->kthread_running) {
			free(s->dir);
			free(s);
		} /* else the checkpoint thread may still use it */
		return;
	}
	/* A final checkpoint makes the state machine's tables durable, so the
	 * next start replays nothing. */
	(void)s->w.ws->checkpoint(s->w.ws, NULL);
	if (s->kws != NULL)
		s->kws->close(s->kws, NULL);
	store_session_close(&s->w);
	s->conn->close(s->conn, NULL);
	store_vgc_close(s);
	store_vlog_close(s->vlog);
	free(s->vext.v);
	free(s->vtaken.v);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->done_cv);
	pthread_cond_destroy(&s->kcv);
	pthread_mutex_destroy(&s->ckmu);
	free(s->dur);
	free(s->dir);
	free(s);
}
