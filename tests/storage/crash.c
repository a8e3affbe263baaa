/*
 * Crash safety with real kill -9.
 *
 * A child process plays a node: it appends raft entries for several ranges
 * through group commit (many batches in flight), applies the durable ones
 * to the KV and internal tables with their apply state, compacts logs up to
 * the checkpointed applied index, and now and then installs a snapshot of
 * a range. It reports on a pipe each batch the storage layer acknowledged
 * durable ("D k"), each apply acknowledged ("P range index"), and the
 * snapshot installs it began ("S gen") and finished ("I gen").
 *
 * The parent kills it with SIGKILL at a random moment (or just after an
 * install began), reopens the directory the way a node restarts, and
 * checks:
 *   - every acknowledged batch is there, and no batch is partly there: the
 *     last batch found is complete in every range it touched, and every
 *     range's last entry is the one the last batch found wrote to it;
 *   - the hard state was written with its entries (same batch);
 *   - the KV data of each range is exactly what its apply state says was
 *     applied (apply state and KV changes are one transaction), the log
 *     still holds every entry after it (compaction never passes the
 *     checkpointed applied index), and replaying it brings the apply state
 *     to at least every acknowledged apply;
 *   - an interrupted snapshot install is reported pending and redone, and
 *     afterwards the span holds exactly one whole snapshot generation, at
 *     least the last one whose install was acknowledged.
 *
 * Before those cycles, the first start itself is killed: a child creates a
 * fresh directory (missing or empty) and the kill lands at a random moment
 * spread over the time a creation takes. The directory must then reopen
 * as rangekv's, and keep the cluster id the child was told if its open
 * returned (a half-made directory must never be refused as foreign).
 *
 *   storage_crash [--cycles N] [--first-starts N] [--seed S] [--dir D]
 *                 [--key-table btree|lsm]
 *
 * With --key-table lsm the directory's key table is WiredTiger's LSM tree
 * (chunks of 512 KiB, written out and merged between checkpoints) and the
 * state machine's tables are logged: the same checks hold.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define NRANGES 8     /* ranges 1..8 take appends and applies */
#define SNAP_RANGE 100 /* takes snapshot installs, span ["s/", "s0") */
#define WINDOW 64     /* batches in flight */

static uint64_t rng_state;
/* --key-table: what the directory is created with (an LSM key table with
 * chunks of 512 KiB, so that a cycle writes chunks out and merges them
 * between checkpoints). */
static enum rk_store_key_table key_table = RK_STORE_KEYS_DEFAULT;

static void crash_options(struct rk_store_options *o, const char *dir)
{
	rk_store_options_default(o);
	o->dir = dir;
	o->node_id = 1;
	o->cache_mb = 64;
	o->key_table = key_table;
	o->test_lsm_chunk_kb = 512;
}

static void store_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t store_get_u64(const void *q)
{
	const uint8_t *p = q;
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "storage_crash: FAIL: " __VA_ARGS__);          \
		fprintf(stderr, "\n");                                         \
		exit(1);                                                       \
	} while (0)

/* The ranges batch k appends to: a deterministic function of k, so the
 * parent knows what a complete batch looks like. */
static int touched(uint64_t k, uint64_t out[3])
{
	int n = 1 + (int)(k % 3);

	for (int i = 0; i < n; i++)
		out[i] = (k + (uint64_t)i * 3) % NRANGES + 1;
	return n;
}

static uint64_t snap_pairs(uint64_t gen)
{
	return gen == 0 ? 0 : 4000 + (gen * 7919) % 12000;
}

static void kv_key(char *out, size_t n, uint64_t range, uint64_t idx)
{
	snprintf(out, n, "r%02llu/%010llu", (unsigned long long)range,
		 (unsigned long long)idx);
}

/* The value of entry idx's key: "v<idx>", and for odd idx padded with
 * dots to KV_VAL_LONG bytes, past the value log's threshold: the cycles
 * cover values kept apart from the key table and in it. */
#define KV_VAL_LONG 700
static size_t kv_val(char *out, size_t n, uint64_t idx)
{
	int len = snprintf(out, n, "v%llu", (unsigned long long)idx);

	if (idx % 2 == 1 && n > KV_VAL_LONG) {
		memset(out + len, '.', KV_VAL_LONG - (size_t)len);
		len = KV_VAL_LONG;
		out[len] = '\0';
	}
	return (size_t)len;
}

/* ---- the child ------------------------------------------------------------------- */

struct child {
	struct rk_store *s;
	struct rk_store_reader *r;
	int out;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight;
	uint64_t next[NRANGES + 1];    /* next index to append */
	uint64_t durable[NRANGES + 1]; /* last durable index (callbacks) */
	uint64_t applied[NRANGES + 1]; /* applied in submitted batches */
	uint64_t trunc[NRANGES + 1];
	uint64_t gen;
};

struct ack {
	struct child *c;
	uint64_t k;
	uint64_t app[NRANGES + 1]; /* applies in this batch (0 = none) */
	uint64_t last[NRANGES + 1];
};

static void report(int fd, const char *line)
{
	size_t n = strlen(line);

	if (write(fd, line, n) != (ssize_t)n)
		_exit(3);
}

static void batch_done(void *arg, int rc)
{
	struct ack *a = arg;
	struct child *c = a->c;
	char line[64];

	if (rc != 0) {
		fprintf(stderr, "child: batch %llu failed: %s\n",
			(unsigned long long)a->k, rk_strerror(rc));
		_exit(4);
	}
	pthread_mutex_lock(&c->mu);
	for (int r = 1; r <= NRANGES; r++)
		if (a->last[r] > c->durable[r])
			c->durable[r] = a->last[r];
	c->inflight--;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	snprintf(line, sizeof(line), "D %llu\n", (unsigned long long)a->k);
	report(c->out, line);
	for (int r = 1; r <= NRANGES; r++) {
		if (a->app[r] == 0)
			continue;
		snprintf(line, sizeof(line), "P %d %llu\n", r,
			 (unsigned long long)a->app[r]);
		report(c->out, line);
	}
	free(a);
}

static void raft_state(struct rk_store_batch *b, uint64_t range,
		       uint64_t commit, uint64_t trunc)
{
	struct rk_store_raft_state st;

	memset(&st, 0, sizeof(st));
	st.replica_id = 1;
	st.hs.term = 1;
	st.hs.vote = 1;
	st.hs.commit = commit;
	st.trunc_index = trunc;
	st.trunc_term = 1;
	rk_store_batch_raft_state(b, range, &st);
}

static void child_snapshot(struct child *c)
{
	struct rk_store_snap_meta m = {SNAP_RANGE, 0, 1, "s/", "s0", "snap", 2, 2, 4};
	struct rk_store_snap_out *o;
	struct rk_store_batch *b;
	char name[128], key[32], val[128], line[64];
	uint64_t gen = c->gen + 1, n = snap_pairs(gen);

	m.index = gen * 1000;
	if (rk_store_snap_create(c->s, &m, &o) != 0)
		_exit(5);
	for (uint64_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "s/%06llu", (unsigned long long)i);
		snprintf(val, sizeof(val), "gen:%llu:%080llu",
			 (unsigned long long)gen, (unsigned long long)i);
		if (rk_store_snap_add(o, i % 50 == 0 ? 1 : 0, key, strlen(key),
				      val, strlen(val)) != 0)
			_exit(5);
	}
	if (rk_store_snap_finish(o, name, sizeof(name)) != 0)
		_exit(5);
	b = rk_store_batch_new();
	rk_store_batch_install(b, SNAP_RANGE, m.index, name);
	raft_state(b, SNAP_RANGE, m.index, m.index);
	rk_store_batch_compact(b, SNAP_RANGE, m.index);
	if (rk_store_write(c->s, b) != 0)
		_exit(5);
	snprintf(line, sizeof(line), "S %llu\n", (unsigned long long)gen);
	report(c->out, line);
	if (rk_store_install_run(c->r, SNAP_RANGE) != 0)
		_exit(5);
	c->gen = gen;
	snprintf(line, sizeof(line), "I %llu\n", (unsigned long long)gen);
	report(c->out, line);
}

static void child_compact(struct child *c)
{
	struct rk_store_batch *b = rk_store_batch_new();

	for (int r = 1; r <= NRANGES; r++) {
		uint64_t d;
		if (rk_store_read_durable_applied(c->r, (uint64_t)r, &d) != 0)
			_exit(6);
		if (d <= c->trunc[r] + 4)
			continue;
		c->trunc[r] = d - 2; /* keep a little of the log, as nodes do */
		rk_store_batch_compact(b, (uint64_t)r, c->trunc[r]);
		raft_state(b, (uint64_t)r, c->next[r] - 1, c->trunc[r]);
	}
	if (rk_store_batch_empty(b)) {
		rk_store_batch_free(b);
		return;
	}
	if (rk_store_write(c->s, b) != 0)
		_exit(6);
}

/* Checkpoints at random short intervals, so that they land in the middle
 * of installs, applies and compactions (a node checkpoints every few
 * seconds; here the interesting interleavings must be frequent). */
static void *checkpointer(void *arg)
{
	struct child *c = arg;
	uint64_t x = (uint64_t)(uintptr_t)arg | 1;

	for (;;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		usleep((useconds_t)(10000 + x % 90000));
		if (rk_store_checkpoint(c->s) != 0)
			_exit(8);
	}
	return NULL;
}

static void child_run(const char *dir, int out, uint64_t seed)
{
	pthread_t ckpt;
	struct child c;
	char err[256];
	const void *v;
	size_t vlen;
	uint64_t k = 1;

	memset(&c, 0, sizeof(c));
	rng_state = seed * 2654435761u + 1;
	c.out = out;
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	{
		struct rk_store_options o;
		crash_options(&o, dir);
		o.checkpoint_secs = 1;
		if (rk_store_open(&o, &c.s, err, sizeof(err)) != 0) {
			fprintf(stderr, "child: open: %s\n", err);
			_exit(2);
		}
	}
	if (rk_store_reader_open(c.s, &c.r) != 0)
		_exit(2);
	/* Resume where the last run (and the parent's recovery) left off. */
	if (rk_store_meta_get(c.r, "last", &v, &vlen) == 0 && vlen == 8)
		k = store_get_u64(v) + 1;
	for (int r = 1; r <= NRANGES; r++) {
		struct rk_store_raft_state st;
		struct rk_store_apply_state as;
		uint64_t last;
		if (rk_store_read_raft_state(c.r, (uint64_t)r, &st) == 0)
			c.trunc[r] = st.trunc_index;
		if (rk_store_log_last(c.r, (uint64_t)r, c.trunc[r], &last) != 0)
			_exit(2);
		c.next[r] = last + 1;
		c.durable[r] = last;
		if (rk_store_read_apply_state(c.r, (uint64_t)r, &as) == 0)
			c.applied[r] = as.applied;
	}
	{
		struct rk_store_apply_state as;
		if (rk_store_read_apply_state(c.r, SNAP_RANGE, &as) == 0)
			c.gen = as.applied / 1000;
	}
	if (pthread_create(&ckpt, NULL, checkpointer, &c) != 0)
		_exit(2);
	for (;; k++) {
		struct rk_store_batch *b = rk_store_batch_new();
		struct ack *a = calloc(1, sizeof(*a));
		uint64_t rs[3], durable[NRANGES + 1];
		struct rk_raft_entry e;
		char payload[300], key[32], val[KV_VAL_LONG + 1];
		uint8_t kb[8];
		int n = touched(k, rs);

		a->c = &c;
		a->k = k;
		pthread_mutex_lock(&c.mu);
		while (c.inflight >= WINDOW)
			pthread_cond_wait(&c.cv, &c.mu);
		c.inflight++;
		memcpy(durable, c.durable, sizeof(durable));
		pthread_mutex_unlock(&c.mu);
		for (int i = 0; i < n; i++) {
			uint64_t r = rs[i];
			int pad = (int)(rnd() % 200);
			snprintf(payload, sizeof(payload), "%llu:%llu:%0*d",
				 (unsigned long long)k, (unsigned long long)r,
				 pad, 0);
			e.index = c.next[r]++;
			e.term = 1;
			e.type = 0;
			e.data = (const uint8_t *)payload;
			e.len = (uint32_t)strlen(payload);
			rk_store_batch_append(b, r, &e, 1);
			raft_state(b, r, e.index, c.trunc[r]);
			a->last[r] = e.index;
		}
		/* Apply some durable entries of every range: KV, internal and
		 * apply state in the same batch. */
		for (int r = 1; r <= NRANGES; r++) {
			uint64_t upto = durable[r];
			struct rk_store_apply_state as = {0, "desc", 4};
			if (upto > c.applied[r] + 6)
				upto = c.applied[r] + 6;
			if (upto <= c.applied[r])
				continue;
			for (uint64_t i = c.applied[r] + 1; i <= upto; i++) {
				kv_key(key, sizeof(key), (uint64_t)r, i);
				rk_store_batch_put(b, key, strlen(key), val,
						   kv_val(val, sizeof(val), i));
			}
			snprintf(key, sizeof(key), "r%02d/seq", r);
			store_put_u64(kb, upto);
			rk_store_batch_internal_put(b, key, strlen(key), kb, 8);
			as.applied = upto;
			rk_store_batch_apply_state(b, (uint64_t)r, &as);
			c.applied[r] = upto;
			a->app[r] = upto;
		}
		store_put_u64(kb, k);
		rk_store_batch_meta_put(b, "last", kb, 8);
		if (rk_store_submit(c.s, b, batch_done, a) != 0)
			_exit(7);
		if (rnd() % 300 == 0)
			child_compact(&c);
		if (rnd() % 400 == 0)
			child_snapshot(&c);
	}
}

/* ---- the parent ------------------------------------------------------------------ */

/* The bytes of the value log's segments in dir. */
static uint64_t values_bytes(const char *dir)
{
	char path[700], f[1000];
	DIR *d;
	struct dirent *de;
	struct stat stt;
	uint64_t n = 0;

	snprintf(path, sizeof(path), "%s/values", dir);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (strstr(de->d_name, ".vlog") != NULL && stat(f, &stt) == 0)
			n += (uint64_t)stt.st_size;
	}
	closedir(d);
	return n;
}

struct reported {
	uint64_t k;                    /* highest durable batch reported */
	uint64_t app[NRANGES + 1];     /* highest apply reported per range */
	uint64_t s, i;                 /* snapshot generations begun, installed */
	char part[128];
	size_t plen;
};

static void parse_lines(struct reported *rep, const char *buf, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		unsigned long long a, b;
		if (buf[j] != '\n') {
			if (rep->plen < sizeof(rep->part) - 1)
				rep->part[rep->plen++] = buf[j];
			continue;
		}
		rep->part[rep->plen] = '\0';
		rep->plen = 0;
		if (sscanf(rep->part, "D %llu", &a) == 1 && a > rep->k)
			rep->k = a;
		else if (sscanf(rep->part, "P %llu %llu", &a, &b) == 2 &&
			 a <= NRANGES && b > rep->app[a])
			rep->app[a] = b;
		else if (sscanf(rep->part, "S %llu", &a) == 1)
			rep->s = a;
		else if (sscanf(rep->part, "I %llu", &a) == 1)
			rep->i = a;
	}
}

struct log_check {
	uint64_t range, want, prev_k, last_k;
	bool bad;
};

static int check_entry(void *arg, const struct rk_raft_entry *e)
{
	struct log_check *lc = arg;
	unsigned long long k, r;
	char buf[400];

	memcpy(buf, e->data, e->len < 399 ? e->len : 399);
	buf[e->len < 399 ? e->len : 399] = '\0';
	if (e->index != lc->want || sscanf(buf, "%llu:%llu:", &k, &r) != 2 ||
	    r != lc->range || k <= lc->prev_k) {
		lc->bad = true;
		return 1;
	}
	lc->prev_k = lc->last_k = k;
	lc->want++;
	return 0;
}

struct span_count {
	uint64_t n, max_idx, gen_bad;
	uint64_t gen;
	bool any_gen;
};

static int count_range_keys(void *arg, int table, const void *key,
			    size_t klen, const void *val, size_t vlen)
{
	struct span_count *sc = arg;
	char k[64], v[KV_VAL_LONG + 1];
	unsigned long long r, i;

	(void)table;
	(void)val;
	(void)vlen;
	if (klen >= sizeof(k))
		return 0;
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (strstr(k, "/seq") != NULL)
		return 0;
	if (sscanf(k, "r%llu/%llu", &r, &i) == 2) {
		sc->n++;
		if (i > sc->max_idx)
			sc->max_idx = i;
		size_t want = kv_val(v, sizeof(v), i);
		if (table != 0 || vlen != want || memcmp(val, v, vlen) != 0)
			sc->gen_bad++;
	}
	return 0;
}

static int check_snap_pair(void *arg, int table, const void *key,
			   size_t klen, const void *val, size_t vlen)
{
	struct span_count *sc = arg;
	char k[64], v[160];
	unsigned long long i, g;

	if (klen >= sizeof(k) || vlen >= sizeof(v)) {
		sc->gen_bad++;
		return 0;
	}
	memcpy(k, key, klen);
	k[klen] = '\0';
	memcpy(v, val, vlen);
	v[vlen] = '\0';
	if (sscanf(k, "s/%llu", &i) != 1 || sscanf(v, "gen:%llu:%llu", &g, &i) != 2 ||
	    table != (i % 50 == 0 ? 1 : 0)) {
		sc->gen_bad++;
		return 0;
	}
	if (sc->any_gen && g != sc->gen)
		sc->gen_bad++;
	sc->gen = g;
	sc->any_gen = true;
	sc->n++;
	return 0;
}

struct stats {
	uint64_t cycles, redone, during_install, batches, applies_replayed;
};

static void on_pending(void *arg, uint64_t range, uint64_t index)
{
	uint64_t *p = arg;

	if (range == SNAP_RANGE)
		*p = index;
}

/* Reopens dir after a kill, checks everything, recovers like a node. */
static void verify(const char *dir, const struct reported *rep,
		   struct stats *st)
{
	struct rk_store *s;
	struct rk_store_reader *r;
	char err[256];
	const void *v;
	size_t vlen;
	uint64_t last_k = 0, pending = 0;

	if (store_open_at(dir, 1, 0, &s, err, sizeof(err)) != 0)
		FAIL("reopen after kill: %s", err);
	if (rk_store_reader_open(s, &r) != 0)
		FAIL("reader");
	if (rk_store_meta_get(r, "last", &v, &vlen) == 0 && vlen == 8)
		last_k = store_get_u64(v);
	if (last_k < rep->k)
		FAIL("batch %llu was acknowledged durable, the store holds up to %llu",
		     (unsigned long long)rep->k, (unsigned long long)last_k);
	st->batches = last_k;

	for (uint64_t range = 1; range <= NRANGES; range++) {
		struct rk_store_raft_state rs;
		struct rk_store_apply_state as;
		struct log_check lc;
		struct span_count sc;
		uint64_t last, want_k = 0, applied = 0, ts[3];
		char lo[8], hi[8];
		int rc;

		/* The last batch <= last_k that touched this range. */
		for (uint64_t k = last_k; k > 0 && want_k == 0; k--) {
			int n = touched(k, ts);
			for (int i = 0; i < n; i++)
				if (ts[i] == range)
					want_k = k;
		}
		memset(&rs, 0, sizeof(rs));
		rc = rk_store_read_raft_state(r, range, &rs);
		if (rc != 0 && !(rc == RK_ENOTFOUND && want_k == 0))
			FAIL("range %llu: raft state: %s", (unsigned long long)range,
			     rk_strerror(rc));
		if (rk_store_log_last(r, range, rs.trunc_index, &last) != 0)
			FAIL("log_last");
		if (rs.hs.commit != last)
			FAIL("range %llu: hard state commit %llu but last entry %llu (not one batch)",
			     (unsigned long long)range, (unsigned long long)rs.hs.commit,
			     (unsigned long long)last);
		if (rk_store_read_apply_state(r, range, &as) == 0)
			applied = as.applied;
		/* KV matches the apply state exactly. */
		memset(&sc, 0, sizeof(sc));
		snprintf(lo, sizeof(lo), "r%02llu/", (unsigned long long)range);
		snprintf(hi, sizeof(hi), "r%02llu0", (unsigned long long)range);
		if (rk_store_scan_span(r, 0, lo, strlen(lo), hi, strlen(hi),
				       count_range_keys, &sc, NULL) != 0)
			FAIL("scan");
		if (sc.n != applied || sc.max_idx != applied || sc.gen_bad != 0)
			FAIL("range %llu: apply state says %llu, KV holds %llu keys up to %llu (%llu bad)",
			     (unsigned long long)range, (unsigned long long)applied,
			     (unsigned long long)sc.n, (unsigned long long)sc.max_idx,
			     (unsigned long long)sc.gen_bad);
		/* The log holds everything after the applied index. */
		if (rs.trunc_index > applied)
			FAIL("range %llu: log compacted to %llu past the checkpointed applied index %llu",
			     (unsigned long long)range, (unsigned long long)rs.trunc_index,
			     (unsigned long long)applied);
		memset(&lc, 0, sizeof(lc));
		lc.range = range;
		lc.want = rs.trunc_index + 1;
		rc = rk_store_log_entries(r, range, rs.trunc_index + 1, last + 1,
					  check_entry, &lc);
		if (rc != 0 || lc.bad || (last > rs.trunc_index && lc.want != last + 1))
			FAIL("range %llu: log (%llu, %llu] broken at %llu (%s)",
			     (unsigned long long)range, (unsigned long long)rs.trunc_index,
			     (unsigned long long)last, (unsigned long long)lc.want,
			     rk_strerror(rc));
		if (last > rs.trunc_index && lc.last_k != want_k)
			FAIL("range %llu: last entry from batch %llu, expected batch %llu (partial or lost batch)",
			     (unsigned long long)range, (unsigned long long)lc.last_k,
			     (unsigned long long)want_k);
		/* Replay the log from the applied index, as a node does. */
		if (last > applied) {
			struct rk_store_batch *b = rk_store_batch_new();
			struct rk_store_apply_state nas = {last, "desc", 4};
			char key[32], val[KV_VAL_LONG + 1];
			for (uint64_t i = applied + 1; i <= last; i++) {
				kv_key(key, sizeof(key), range, i);
				rk_store_batch_put(b, key, strlen(key), val,
						   kv_val(val, sizeof(val), i));
			}
			rk_store_batch_apply_state(b, range, &nas);
			if (rk_store_write(s, b) != 0)
				FAIL("replay write");
			st->applies_replayed += last - applied;
			applied = last;
		}
		if (applied < rep->app[range])
			FAIL("range %llu: apply of %llu was acknowledged, replay reaches %llu",
			     (unsigned long long)range, (unsigned long long)rep->app[range],
			     (unsigned long long)applied);
	}

	/* Snapshot installs. */
	if (rk_store_install_pending(r, on_pending, &pending) != 0)
		FAIL("install_pending");
	if (pending != 0) {
		int rc = rk_store_install_run(r, SNAP_RANGE);
		if (rc != 0)
			FAIL("redoing the install at %llu: %s",
			     (unsigned long long)pending, rk_strerror(rc));
		st->redone++;
	}
	{
		struct rk_store_apply_state as;
		struct span_count sc;
		uint64_t gen = 0;

		if (rk_store_read_apply_state(r, SNAP_RANGE, &as) == 0)
			gen = as.applied / 1000;
		if (gen < rep->s)
			FAIL("snapshot generation %llu was made durable, the range is at %llu",
			     (unsigned long long)rep->s, (unsigned long long)gen);
		memset(&sc, 0, sizeof(sc));
		if (rk_store_scan_span(r, 0, "s/", 2, "s0", 2, check_snap_pair,
				       &sc, NULL) != 0)
			FAIL("scan snapshot span");
		if (sc.gen_bad != 0 || sc.n != snap_pairs(gen) ||
		    (sc.n > 0 && sc.gen != gen))
			FAIL("snapshot span: %llu pairs of generation %llu (%llu bad), expected %llu of %llu",
			     (unsigned long long)sc.n, (unsigned long long)sc.gen,
			     (unsigned long long)sc.gen_bad,
			     (unsigned long long)snap_pairs(gen), (unsigned long long)gen);
	}
	rk_store_reader_close(r);
	rk_store_close(s);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Forks a child that reports on a pipe: in the child (0 returned) *outp
 * is the pipe's write end, in the parent (the pid) *inp its read end; the
 * other is -1. */
static pid_t fork_reporting(int *inp, int *outp)
{
	int fds[2];
	pid_t pid;

	*inp = *outp = -1;
	if (pipe(fds) != 0)
		FAIL("pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork");
	if (pid == 0) {
		close(fds[0]);
		*outp = fds[1];
	} else {
		close(fds[1]);
		*inp = fds[0];
	}
	return pid;
}

static void one_cycle(const char *dir, uint64_t seed, uint64_t cycle,
		      struct stats *st)
{
	struct reported rep;
	bool target_install = rnd() % 3 == 0;
	double deadline = now_s() + 0.05 + (double)(rnd() % 600) / 1000.0;
	double kill_at = 0;
	int in, out, status;
	pid_t pid;
	char buf[4096];

	memset(&rep, 0, sizeof(rep));
	pid = fork_reporting(&in, &out);
	if (pid == 0) {
		child_run(dir, out, seed * 1000003u + cycle);
		_exit(0);
	}
	for (;;) {
		struct pollfd p = {in, POLLIN, 0};
		double now = now_s();
		ssize_t n;

		if (kill_at > 0 && now >= kill_at)
			break;
		if (kill_at == 0 && now >= deadline + (target_install ? 2.0 : 0))
			break;
		if (poll(&p, 1, 5) <= 0)
			continue;
		n = read(in, buf, sizeof(buf));
		if (n <= 0)
			FAIL("the child died by itself (cycle %llu)", (unsigned long long)cycle);
		{
			uint64_t s_before = rep.s;
			parse_lines(&rep, buf, (size_t)n);
			if (target_install && kill_at == 0 && rep.s > s_before)
				kill_at = now_s() + (double)(rnd() % 40) / 1000.0;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* What the child wrote before it died was acknowledged. */
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n <= 0)
			break;
		parse_lines(&rep, buf, (size_t)n);
	}
	close(in);
	if (!WIFSIGNALED(status))
		FAIL("the child exited with status %d", WEXITSTATUS(status));
	if (rep.s > rep.i)
		st->during_install++;
	verify(dir, &rep, st);
	st->cycles++;
}

/* ---- kills during the first start --------------------------------------------- */

/* Opens a fresh store at dir (created if missing) the way a node's first
 * start does, and tells the parent its cluster id once the open returned. */
static void first_child(const char *dir, int out)
{
	struct rk_store_options o;
	struct rk_store *s;
	char err[256], line[64];

	crash_options(&o, dir);
	if (rk_store_open(&o, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "child: first open: %s\n", err);
		_exit(2);
	}
	snprintf(line, sizeof(line), "O %llu\n", (unsigned long long)rk_store_cluster_id(s));
	report(out, line);
	for (;;)
		pause();
}

/* How long creating a directory takes here (the kills are spread over
 * it): the slowest of three, measured in this process. */
static double first_open_secs(void)
{
	double worst = 0;

	for (int i = 0; i < 3; i++) {
		struct rk_store *s;
		char dir[512], err[256];
		double t0 = now_s();
		tmpdir_make(dir, sizeof(dir), "first");
		if (store_open_at(dir, 1, 0, &s, err, sizeof(err)) != 0)
			FAIL("first open: %s", err);
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
		rk_store_close(s);
		tmpdir_remove(dir);
	}
	return worst;
}

static void first_start_cycle(uint64_t cycle, double open_s, uint64_t *reopened)
{
	struct rk_store *s;
	char base[512], dir[600], err[256], buf[256];
	unsigned long long told = 0;
	/* From before the fork to half again the time a creation takes. */
	double at = (double)(rnd() % 1000) / 1000.0 * open_s * 1.5;
	int in, out, status;
	size_t got = 0;
	pid_t pid;

	tmpdir_make(base, sizeof(base), "first");
	/* Odd cycles start from a missing directory, even ones from an
	 * empty one (mkdtemp's). */
	snprintf(dir, sizeof(dir), cycle % 2 ? "%s/data" : "%s", base);
	pid = fork_reporting(&in, &out);
	if (pid == 0)
		first_child(dir, out);
	usleep((useconds_t)(at * 1e6));
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	for (;;) {
		ssize_t n = read(in, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(in);
	if (!WIFSIGNALED(status))
		FAIL("the first-start child exited with status %d", WEXITSTATUS(status));
	if (got > 0 && sscanf(buf, "O %llu", &told) != 1)
		FAIL("the first-start child said \"%s\"", buf);
	if (store_open_at(dir, 1, 0, &s, err, sizeof(err)) != 0)
		FAIL("reopen after a kill %.1f ms into the first start (cycle %llu): %s",
		     at * 1e3, (unsigned long long)cycle, err);
	if (told != 0 && rk_store_cluster_id(s) != told)
		FAIL("the first start returned cluster %016llx, the reopened directory has %016llx",
		     told, (unsigned long long)rk_store_cluster_id(s));
	if (told != 0)
		(*reopened)++;
	rk_store_close(s);
	tmpdir_remove(base);
}

int main(int argc, char **argv)
{
	uint64_t cycles = 100, firsts = 40, first_done = 0, seed = 1;
	const char *user_dir = NULL;
	char dir[512];
	struct stats st = {0};
	double t0 = now_s();

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
			cycles = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--first-starts") == 0 && i + 1 < argc)
			firsts = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			user_dir = argv[++i];
		else if (strcmp(argv[i], "--key-table") == 0 && i + 1 < argc &&
			 rk_store_key_table_parse(argv[i + 1], &key_table) == 0)
			i++;
		else {
			fprintf(stderr, "usage: %s [--cycles N] [--first-starts N] [--seed S] [--dir D]\n"
				"       [--key-table btree|lsm]\n"
				"Kills a child creating a fresh directory (--first-starts\n"
				"times, default 40), then a writing child (--cycles times,\n"
				"default 100), with SIGKILL, and checks the store after each\n"
				"restart (see the comment in crash.c). --key-table: what the\n"
				"directory is created with (default btree).\n",
				argv[0]);
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	rng_state = seed * 0x9e3779b97f4a7c15ull + 7;
	if (firsts > 0) {
		double open_s = first_open_secs();
		for (uint64_t c = 0; c < firsts; c++)
			first_start_cycle(c, open_s, &first_done);
		printf("storage_crash: %llu kills during a first start (creation takes %.1f ms) "
		       "reopened, %llu of them after the open returned\n",
		       (unsigned long long)firsts, open_s * 1e3,
		       (unsigned long long)first_done);
	}
	/* The main cycles draw the same numbers whatever --first-starts is. */
	rng_state = seed * 0x9e3779b97f4a7c15ull + 7;
	if (user_dir != NULL)
		snprintf(dir, sizeof(dir), "%s", user_dir);
	else
		tmpdir_make(dir, sizeof(dir), "crash");
	for (uint64_t c = 0; c < cycles; c++)
		one_cycle(dir, seed, c, &st);
	printf("storage_crash: %s key table\n", rk_store_key_table_name(key_table));
	printf("storage_crash: %llu kill -9 cycles passed in %.1f s (seed %llu): "
	       "%llu batches, %llu kills during a snapshot install, %llu installs redone, "
	       "%llu entries replayed\n",
	       (unsigned long long)st.cycles, now_s() - t0, (unsigned long long)seed,
	       (unsigned long long)st.batches, (unsigned long long)st.during_install,
	       (unsigned long long)st.redone, (unsigned long long)st.applies_replayed);
	if (st.during_install == 0 && cycles >= 20)
		FAIL("no kill landed during a snapshot install");
	/* The long values went to the value log (the cycles covered it). */
	uint64_t vbytes = values_bytes(dir);
	printf("storage_crash: the value log holds %llu bytes\n",
	       (unsigned long long)vbytes);
	if (cycles > 0 && vbytes < 100 * KV_VAL_LONG)
		FAIL("the long values did not go to the value log");
	if (user_dir == NULL)
		tmpdir_remove(dir);
	return 0;
}
