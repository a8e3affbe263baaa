/*
 * Checkpoints on a thread of their own (docs/storage.md "Checkpoints and
 * disk use"), and what follows each on the storage thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "le.h"

#include "store_int.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The checkpoint thread: every checkpoint_secs and on request. A
 * WiredTiger checkpoint writes the tables as of its own snapshot while
 * other sessions commit, so the group commits go on meanwhile (they used
 * to wait for it on the storage thread: seconds under a load with data
 * beyond the cache). Journal once holds as before: the checkpoint's
 * snapshot has each range's apply state and key-value changes of one and
 * the same commit (docs/storage.md), and rk_store_read_durable_applied
 * reads the last completed checkpoint. A request made while one runs
 * waits for the next (ckpt_started). Stopping, it still takes a request
 * made before the stop. */
void *store_ckpt_main(void *arg)
{
	struct rk_store *s = arg;
	double last = now_s();

	pthread_mutex_lock(&s->mu);
	for (;;) {
		uint64_t want, written, begun;
		int rc;

		while (!s->stopping && s->ckpt_requested == s->ckpt_started &&
		       !(s->checkpoint_secs > 0 && now_s() - last >= s->checkpoint_secs)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->kcv, &s->mu, &ts);
		}
		if (s->stopping && s->ckpt_requested == s->ckpt_started)
			break;
		want = s->ckpt_requested;
		s->ckpt_started = want;
		begun = ++s->ck_begun;
		written = s->ckpt_bytes;
		s->ckpt_bytes = 0;
		s->ck_running_bytes = written;
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_lock(&s->ckmu);
		rc = write_err(s, store_err(s->kws->checkpoint(s->kws, NULL)));
		if (rc == 0)
			rc = store_durable_load(s, s->kws);
		pthread_mutex_unlock(&s->ckmu);
		last = now_s();
		pthread_mutex_lock(&s->mu);
		s->ck_ticket = want;
		s->ck_rc = rc;
		if (rc == 0)
			s->ck_begun_finished = begun;
		s->ck_written += written;
		s->ck_running_bytes = 0;
		s->ck_finished++;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* On the storage thread (or at close, once it is gone): what follows the
 * checkpoints the checkpoint thread finished. Only this thread writes, so
 * the install markers a checkpoint made unnecessary are dropped here, in
 * a transaction of its session ordered with its commits: a marker written
 * again meanwhile (a newer install of the range) names an index the
 * checkpoint's apply state has not reached, and stays. */
void store_after_checkpoint(struct rk_store *s)
{
	uint64_t ticket, finished, written, begun;
	int rc;

	pthread_mutex_lock(&s->mu);
	ticket = s->ck_ticket;
	begun = s->ck_begun_finished;
	finished = s->ck_finished;
	rc = s->ck_rc;
	written = s->ck_written;
	s->ck_written = 0;
	pthread_mutex_unlock(&s->mu);
	if (rc == 0) {
		store_snap_after_checkpoint(s);
		store_compact_after_checkpoint(s, written);
		store_vgc_after_checkpoint(s, begun);
	}
	pthread_mutex_lock(&s->mu);
	s->checkpoints += finished - s->ck_handled;
	s->ck_handled = finished;
	s->ckpt_rc = rc;
	s->ckpt_done = ticket;
	pthread_cond_broadcast(&s->done_cv);
	pthread_mutex_unlock(&s->mu);
}

int store_durable_load(struct rk_store *s, WT_SESSION *ws)
{
	struct store_durable *v = NULL, *old;
	size_t n = 0, cap = 0;
	WT_CURSOR *c;
	int ret;

	ret = ws->open_cursor(ws, store_table_uri[T_APPLY], NULL,
			      "checkpoint=WiredTigerCheckpoint", &c);
	if (ret == ENOENT || ret == WT_NOTFOUND)
		return 0; /* no checkpoint yet: nothing is durable */
	if (ret != 0)
		return store_err(ret);
	while ((ret = c->next(c)) == 0) {
		uint64_t range;
		WT_ITEM val;

		if ((ret = c->get_key(c, &range)) != 0 || (ret = c->get_value(c, &val)) != 0)
			break;
		if (val.size < 8)
			continue;
		if (rk_grow((void **)&v, &cap, n, sizeof(*v)) != 0) {
			c->close(c);
			free(v);
			return RK_ENOMEM;
		}
		v[n].range = range; /* the key order: by range */
		v[n++].applied = rk_le_get64(val.data);
	}
	c->close(c);
	if (ret != WT_NOTFOUND) {
		free(v);
		return store_err(ret);
	}
	pthread_mutex_lock(&s->mu);
	old = s->dur;
	s->dur = v;
	s->ndur = n;
	pthread_mutex_unlock(&s->mu);
	free(old);
	return 0;
}
