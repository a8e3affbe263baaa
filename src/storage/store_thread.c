/*
 * The storage thread (store.h): it commits the batches queued by
 * rk_store_write in groups, one transaction and at most one log flush for
 * everything queued, so the fsync cost is shared by every range that wrote
 * in the meantime; and the checkpoints asked of it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"
#include "vlog.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the storage thread ------------------------------------------------------- */

static void record_flush(struct rk_store *s, double secs)
{
	s->flush_s[s->n_flush_samples % FLUSH_SAMPLES] = secs;
	s->n_flush_samples++;
	s->flushes++;
}

/*
 * A transaction that WiredTiger rolls back with WT_ROLLBACK (RK_EAGAIN) is
 * not a failure of its batches: another transaction held an uncommitted
 * update of a row it wrote (a write-write conflict: a snapshot install
 * runs in its own transactions on a worker thread), or WiredTiger rolled it
 * back so that eviction could go on under cache pressure. Its changes are
 * gone and the batches are pure data, so the storage thread redoes the
 * whole transaction from them (store_retry_wait's backoff, for up to
 * STORE_RETRY_S in all: the other transaction ends within seconds, the
 * install's are bounded, snap.c). Only then does the rollback fail the
 * batches, as any other error. Nothing is acknowledged before its own
 * commit and log flush; the batches queued behind wait, so the order of
 * commits stays the order of submission.
 */
double store_now_s(void)
{
	return now_s();
}

void store_retry_wait(uint32_t *wait_msp)
{
	if (*wait_msp < STORE_RETRY_FIRST_MS)
		*wait_msp = STORE_RETRY_FIRST_MS;
	usleep(*wait_msp * 1000u);
	*wait_msp = *wait_msp * 2 > STORE_RETRY_MAX_MS ? STORE_RETRY_MAX_MS : *wait_msp * 2;
}

/* One transaction applying the batches from p up to (not including) end. */
static int commit_once(struct store_session *ss, struct pending *p,
		       const struct pending *end)
{
	int rc = store_err(ss->ws->begin_transaction(ss->ws, NULL));

	if (rc != 0)
		return rc;
	for (; rc == 0 && p != end; p = p->next)
		rc = store_apply_batch(ss, p->b);
	return store_vtxn_end(ss, rc, 0);
}

/* commit_once, redone while it is rolled back (RK_EAGAIN) and the clock
 * is before deadline (at least once). */
static int commit_retried(struct rk_store *s, struct pending *p,
			  const struct pending *end, double deadline)
{
	uint32_t wait_ms = STORE_RETRY_FIRST_MS;
	int rc;

	while ((rc = commit_once(&s->w, p, end)) == RK_EAGAIN && now_s() < deadline) {
		pthread_mutex_lock(&s->mu);
		s->commit_retries++;
		pthread_mutex_unlock(&s->mu);
		store_retry_wait(&wait_ms);
	}
	return rc;
}

/* One transaction for the whole group; if it fails, each batch alone, so
 * that one bad batch does not fail the others. Rollbacks are redone
 * (commit_retried) within one deadline for the group. */
static void commit_group(struct rk_store *s, struct pending *list)
{
	struct store_session *ss = &s->w;
	struct pending *p, *next;
	bool sync = false, alone = false;
	uint64_t nb = 0, bytes = 0;
	double t0, deadline;
	int rc;

	for (p = list; p != NULL; p = p->next) {
		sync |= p->b->needs_sync;
		bytes += p->b->len;
		nb++;
	}
	if (s->test_commit_delay_ms > 0)
		usleep(s->test_commit_delay_ms * 1000u);
	t0 = now_s();
	deadline = t0 + STORE_RETRY_S;
	rc = commit_retried(s, list, NULL, deadline);
	if (rc != 0 && list->next != NULL) {
		alone = true;
		for (p = list; p != NULL; p = p->next)
			p->rc = commit_retried(s, p, p->next, deadline);
	}
	if (sync && (rc == 0 || alone)) {
		int fr = store_err(ss->ws->log_flush(ss->ws, "sync=on"));
		if (fr != 0)
			rc = fr, alone = false;
	}
	rc = write_err(s, rc);
	for (p = list; alone && p != NULL; p = p->next)
		p->rc = write_err(s, p->rc);
	pthread_mutex_lock(&s->mu);
	if (sync)
		record_flush(s, now_s() - t0);
	s->groups++;
	s->batches += nb;
	s->queued_bytes -= bytes;
	s->ckpt_bytes += bytes;
	pthread_mutex_unlock(&s->mu);
	for (p = list; p != NULL; p = next) {
		int brc = alone ? p->rc : rc;
		next = p->next;
		if (p->done != NULL)
			p->done(p->arg, brc);
		rk_store_batch_free(p->b);
		free(p);
	}
}

/* Before sleeping, the storage thread may poll the queue for STORE_SPIN_S
 * (spin.c says when): under load the next batch usually arrives within tens
 * of microseconds, and waking a sleeping thread costs about as much as the
 * fsync itself on fast disks (batch-of-one throughput 0.80 of raw
 * WiredTiger without it, see docs/benchmarks.md). It yields while it polls,
 * so it never keeps a ready thread off a core. Returns whether a batch came. */
static bool store_spin(struct rk_store *s)
{
	uint64_t seen = __atomic_load_n(&s->submitted, __ATOMIC_ACQUIRE);
	double t0 = now_s();

	while (seen == s->taken && now_s() - t0 < STORE_SPIN_S) {
		sched_yield();
		seen = __atomic_load_n(&s->submitted, __ATOMIC_ACQUIRE);
	}
	return seen != s->taken;
}

/* Takes the queued batches of the next group, oldest first, up to
 * group_max_bytes (at least one); the rest stay queued for the next. */
static struct pending *take_group(struct rk_store *s)
{
	struct pending *list = s->head, *p = list;
	uint64_t bytes;

	if (list == NULL)
		return NULL;
	bytes = p->b->len;
	while (p->next != NULL && bytes + p->next->b->len <= s->group_max_bytes) {
		p = p->next;
		bytes += p->b->len;
	}
	s->head = p->next;
	if (s->head == NULL)
		s->tail = NULL;
	p->next = NULL;
	return list;
}

void *store_thread_main(void *arg)
{
	struct rk_store *s = arg;
	bool collect = false; /* the value log's collection has work */

	for (;;) {
		struct pending *list;
		bool after, busy, stop;
		double idle0 = now_s();

		busy = __atomic_load_n(&s->submitted, __ATOMIC_ACQUIRE) != s->taken;
		if (!busy && !collect && store_spin_wanted(&s->spin))
			busy = store_spin(s);
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stopping && !collect &&
		       s->ck_finished == s->ck_handled)
			pthread_cond_wait(&s->cv, &s->mu);
		list = take_group(s);
		/* The idle gap: from the empty queue to this batch (a wake-up
		 * without one, a checkpoint or the stop, is not a gap). */
		if (list != NULL)
			store_spin_note(&s->spin, busy ? 0.0 : now_s() - idle0);
		s->taken = s->submitted;
		after = s->ck_finished != s->ck_handled;
		stop = s->stopping;
		if (list == NULL && !after && s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);
		if (list != NULL)
			commit_group(s, list);
		if (after)
			store_after_checkpoint(s);
		/* One slice of collection between groups (vgc.c): it goes on
		 * under a steady load, a bounded delay of the next group. */
		collect = !stop && store_vgc_slice(s);
	}
	return NULL;
}

int rk_store_submit(struct rk_store *s, struct rk_store_batch *b,
		    rk_store_done_fn done, void *arg)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		rk_store_batch_free(b);
		return RK_ENOMEM;
	}
	p->b = b;
	p->done = done;
	p->arg = arg;
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		rk_store_batch_free(b);
		free(p);
		return RK_ESTOPPED;
	}
	if (s->tail != NULL)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	s->queued_bytes += b->len;
	__atomic_add_fetch(&s->submitted, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int rc;
};

static void wake(void *arg, int rc)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->mu);
	w->done = true;
	w->rc = rc;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int rk_store_write(struct rk_store *s, struct rk_store_batch *b)
{
	struct waiter w;
	int rc;

	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.done = false;
	w.rc = 0;
	rc = rk_store_submit(s, b, wake, &w);
	if (rc == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
		rc = w.rc;
	}
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return rc;
}

int rk_store_checkpoint(struct rk_store *s)
{
	uint64_t ticket;
	int rc;

	pthread_mutex_lock(&s->mu);
	ticket = ++s->ckpt_requested;
	pthread_cond_signal(&s->kcv);
	while (s->ckpt_done < ticket)
		pthread_cond_wait(&s->done_cv, &s->mu);
	rc = s->ckpt_rc;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void rk_store_checkpoint_async(struct rk_store *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->ckpt_requested == s->ckpt_done)
		s->ckpt_requested++;
	pthread_cond_signal(&s->kcv);
	pthread_mutex_unlock(&s->mu);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

uint64_t rk_store_pending_bytes(struct rk_store *s)
{
	uint64_t v;

	pthread_mutex_lock(&s->mu);
	/* Queued batches go to the log and, at a checkpoint, to the tables;
	 * committed ones are in the log already. */
	v = 2 * s->queued_bytes + s->ckpt_bytes + s->ck_running_bytes;
	pthread_mutex_unlock(&s->mu);
	return v + ((uint64_t)STORE_LOG_FILE_MB << 20);
}

void rk_store_stats(struct rk_store *s, struct rk_store_stats *stp)
{
	static double tmp[FLUSH_SAMPLES];
	size_t n;

	memset(stp, 0, sizeof(*stp));
	pthread_mutex_lock(&s->mu);
	stp->groups = s->groups;
	stp->batches = s->batches;
	stp->flushes = s->flushes;
	stp->checkpoints = s->checkpoints;
	stp->queued_bytes = s->queued_bytes;
	stp->compactions = s->compactions;
	stp->compacted_bytes = s->compacted_bytes;
	stp->commit_retries = s->commit_retries;
	stp->install_retries = s->install_retries;
	stp->lsm_chunks = s->lsm_chunks;
	stp->lsm_rows_merged = s->lsm_rows_merged;
	stp->lsm_throttle_us = s->lsm_throttle_us;
	stp->values_moved_bytes = __atomic_load_n(&s->vgc_moved_bytes, __ATOMIC_RELAXED);
	stp->values_segments_retired = __atomic_load_n(&s->vgc_segments, __ATOMIC_RELAXED);
	n = s->n_flush_samples < FLUSH_SAMPLES ? s->n_flush_samples : FLUSH_SAMPLES;
	memcpy(tmp, s->flush_s, n * sizeof(double));
	pthread_mutex_unlock(&s->mu);
	stp->values_bytes = s->vlog != NULL ? store_vlog_bytes(s->vlog) : 0;
	if (n == 0)
		return;
	qsort(tmp, n, sizeof(double), cmp_double);
	stp->flush_p50_s = tmp[(size_t)floor(0.50 * (double)(n - 1))];
	stp->flush_p99_s = tmp[(size_t)floor(0.99 * (double)(n - 1))];
}
