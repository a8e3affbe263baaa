/*
 * Giving back the space that checkpoints leave behind (WT_SESSION::compact).
 *
 * WiredTiger never overwrites a block a checkpoint references: a checkpoint
 * writes every dirty page to new blocks and frees the old ones only once it
 * is complete. Random inserts dirty nearly every leaf page of the key table
 * between two checkpoints, so each checkpoint needs room for a second copy
 * of the table, and the file ends at about twice its data, half of it free
 * blocks that later writes reuse but the file keeps (docs/storage.md
 * "Checkpoints and disk use" has the statistics). Compaction moves the
 * blocks at the end of the file into the free space before them and
 * truncates it.
 *
 * It runs on a thread of its own with its own session, never on the storage
 * thread: it takes checkpoints and rewrites pages, seconds of work on a
 * large table, while commits go on. After each checkpoint the storage
 * thread tells it how much was committed in the interval; it compacts a
 * table only when that interval was quiet (less than 1/64 of the table's
 * free bytes written: under a load the next checkpoint would need the space
 * again) and the free blocks are at least a quarter of the file and at least
 * compact_min_bytes. WiredTiger decides itself which blocks are worth moving.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

/* The tables that grow with the data. */
static const enum store_table big[] = {T_KV, T_RAFTLOG, T_INTERNAL};

/* A compaction gives up after this long (ETIMEDOUT; the next quiet
 * checkpoint goes on from where it stopped): a close waits for it. */
#define COMPACT_TIMEOUT_S 30

/* The statistics keys[0..n) of the statistics cursor uri into vals[0..n),
 * all 0 on a failure. */
static int stat_read(WT_SESSION *ws, const char *uri, const int *keys, uint64_t *vals,
		     size_t n)
{
	WT_CURSOR *c;
	size_t i;
	int ret;

	memset(vals, 0, n * sizeof(*vals));
	ret = ws->open_cursor(ws, uri, NULL, NULL, &c);
	if (ret != 0)
		return store_err(ret);
	for (i = 0; ret == 0 && i < n; i++) {
		const char *desc, *pvalue;
		int64_t v;

		c->set_key(c, keys[i]);
		ret = c->search(c);
		if (ret == 0)
			ret = c->get_value(c, &desc, &pvalue, &v);
		if (ret == 0)
			vals[i] = v > 0 ? (uint64_t)v : 0;
	}
	c->close(c);
	if (ret != 0)
		memset(vals, 0, n * sizeof(*vals));
	return store_err(ret);
}

int store_stats(WT_SESSION *ws, enum store_table t, const int *keys, uint64_t *vals,
		size_t n)
{
	char uri[64];

	snprintf(uri, sizeof(uri), "statistics:%s", store_table_uri[t]);
	return stat_read(ws, uri, keys, vals, n);
}

int store_table_space(WT_SESSION *ws, enum store_table t, uint64_t *sizep,
		      uint64_t *freep)
{
	static const int keys[2] = {WT_STAT_DSRC_BLOCK_SIZE,
				    WT_STAT_DSRC_BLOCK_REUSE_BYTES};
	uint64_t v[2];
	int ret = store_stats(ws, t, keys, v, 2);

	*sizep = v[0];
	*freep = v[1];
	return ret;
}

/* An LSM key table's chunks are written whole and merged by WiredTiger's
 * LSM threads, which free the merged ones: it has no free blocks to give
 * back. What a quiet spell can do for it instead is merge its chunks, so
 * that a GET looks in fewer of them (compacting an LSM tree has
 * WiredTiger merge them, as far as its merges get within the timeout):
 * after a checkpoint that wrote less than LSM_QUIET_BYTES, while the tree
 * has more than one chunk. */
#define LSM_QUIET_BYTES (1u << 20)

static void lsm_merge(struct rk_store *s, WT_SESSION *ws, uint64_t written,
		      const char *cfg)
{
	uint64_t chunks;
	int ret;

	/* The count this thread read last (lsm_stats: at most a second
	 * old, and read again after each pass). */
	pthread_mutex_lock(&s->mu);
	chunks = s->lsm_chunks;
	pthread_mutex_unlock(&s->mu);
	if (written >= LSM_QUIET_BYTES || chunks < 2)
		return;
	pthread_mutex_lock(&s->ckmu);
	ret = ws->compact(ws, store_table_uri[T_KV], cfg);
	pthread_mutex_unlock(&s->ckmu);
	if (ret != 0 && ret != ETIMEDOUT && ret != EBUSY) {
		(void)write_err(s, store_err(ret));
		return;
	}
	pthread_mutex_lock(&s->mu);
	s->compactions++;
	pthread_mutex_unlock(&s->mu);
}

/* An LSM key table's figures for rk_store_stats (store.h), read here
 * every LSM_STATS_MS and after each pass: WiredTiger's statistics of an
 * LSM tree open a cursor on every chunk's checkpoint, work for this
 * thread and not for the loop that serves /metrics. A read that fails
 * (a chunk being dropped) keeps the figures before it. */
#define LSM_STATS_MS 1000

static void lsm_stats(struct rk_store *s, WT_SESSION *ws)
{
	static const int keys[3] = {WT_STAT_CONN_LSM_ROWS_MERGED,
				    WT_STAT_CONN_LSM_CHECKPOINT_THROTTLE,
				    WT_STAT_CONN_LSM_MERGE_THROTTLE};
	static const int chunk_key = WT_STAT_DSRC_LSM_CHUNK_COUNT;
	uint64_t v[3], chunks;

	/* The connection's LSM statistics are the key table's: it is the
	 * connection's one LSM tree. */
	if (stat_read(ws, "statistics:", keys, v, 3) == 0) {
		pthread_mutex_lock(&s->mu);
		s->lsm_rows_merged = v[0];
		s->lsm_throttle_us = v[1] + v[2];
		pthread_mutex_unlock(&s->mu);
	}
	if (store_stats(ws, T_KV, &chunk_key, &chunks, 1) == 0) {
		pthread_mutex_lock(&s->mu);
		s->lsm_chunks = chunks;
		pthread_mutex_unlock(&s->mu);
	}
}

static void compact_pass(struct rk_store *s, WT_SESSION *ws, uint64_t written)
{
	char cfg[32];
	size_t i;

	snprintf(cfg, sizeof(cfg), "timeout=%d", COMPACT_TIMEOUT_S);
	for (i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		uint64_t size, avail, after, freed;
		int ret;

		if (big[i] == T_KV && s->key_table == RK_STORE_KEYS_LSM) {
			lsm_merge(s, ws, written, cfg);
			continue;
		}
		if (store_table_space(ws, big[i], &size, &avail) != 0)
			continue;
		if (avail < s->compact_min_bytes || avail < size / 4 ||
		    written > avail / 64)
			continue;
		/* Its checkpoints are checkpoints like the checkpoint
		 * thread's: one at a time (store_int.h, ckmu). */
		pthread_mutex_lock(&s->ckmu);
		ret = ws->compact(ws, store_table_uri[big[i]], cfg);
		pthread_mutex_unlock(&s->ckmu);
		if (ret != 0 && ret != ETIMEDOUT && ret != EBUSY) {
			(void)write_err(s, store_err(ret));
			continue;
		}
		if (store_table_space(ws, big[i], &after, &avail) != 0)
			after = size;
		freed = size > after ? size - after : 0;
		pthread_mutex_lock(&s->mu);
		s->compactions++;
		s->compacted_bytes += freed;
		pthread_mutex_unlock(&s->mu);
	}
}

static void *compact_main(void *arg)
{
	struct rk_store *s = arg;
	WT_SESSION *ws;

	bool lsm = s->key_table == RK_STORE_KEYS_LSM;

	if (s->conn->open_session(s->conn, NULL, NULL, &ws) != 0)
		return NULL;
	if (lsm)
		lsm_stats(s, ws);
	pthread_mutex_lock(&s->cmu);
	for (;;) {
		uint64_t written;
		bool due;

		while (!s->compact_stop && !s->compact_due) {
			struct timespec ts;

			if (!lsm) {
				pthread_cond_wait(&s->ccv, &s->cmu);
				continue;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += LSM_STATS_MS / 1000;
			if (pthread_cond_timedwait(&s->ccv, &s->cmu, &ts) == ETIMEDOUT)
				break;
		}
		if (s->compact_stop)
			break;
		due = s->compact_due;
		s->compact_due = false;
		written = s->compact_written;
		pthread_mutex_unlock(&s->cmu);
		if (due && !rk_store_panicked(s))
			compact_pass(s, ws, written);
		if (lsm && !rk_store_panicked(s))
			lsm_stats(s, ws);
		pthread_mutex_lock(&s->cmu);
	}
	pthread_mutex_unlock(&s->cmu);
	ws->close(ws, NULL);
	return NULL;
}

int store_compact_start(struct rk_store *s)
{
	pthread_condattr_t ca;

	/* Its timed waits (LSM_STATS_MS) on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_cond_init(&s->ccv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&s->cthread, NULL, compact_main, s) != 0) {
		pthread_mutex_destroy(&s->cmu);
		pthread_cond_destroy(&s->ccv);
		return RK_ENOMEM;
	}
	s->compact_running = true;
	return 0;
}

void store_compact_after_checkpoint(struct rk_store *s, uint64_t written)
{
	if (!s->compact_running)
		return;
	pthread_mutex_lock(&s->cmu);
	s->compact_due = true;
	s->compact_written = written;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

void store_compact_stop(struct rk_store *s)
{
	if (!s->compact_running)
		return;
	pthread_mutex_lock(&s->cmu);
	s->compact_stop = true;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
	pthread_join(s->cthread, NULL);
	pthread_mutex_destroy(&s->cmu);
	pthread_cond_destroy(&s->ccv);
	s->compact_running = false;
}
