/*
 * Reads served off the event loop (reads.h).
 *
 * Why: a read of a key whose leaf page is not in the storage cache reads
 * the page from the file (a leaf block of up to 16 KB in a new
 * directory, 32 KB in an older one; checksummed, decompressed) and may
 * have to evict another first. On the loop that stalled every connection,
 * replica and peer of the node for each miss: with data four times the
 * cache, GETs ran at a tenth of the small-data rate (docs/benchmarks.md).
 *
 * What stays as it was: the linearization point. A read is handed off
 * only once serve.c has released it (its barrier's index is known and
 * the state readers see has reached it: the apply batch holding that
 * index is committed). A reader thread then opens a new storage
 * transaction, which sees every commit made before the hand-off, so it
 * reads that state or a later one, and the answer is given after the read:
 * a state between the request and its answer. Replies keep their order
 * on a connection because the client server puts them back in request
 * order whatever order the answers come in (docs/client.md).
 *
 * What is new: a span may change under a read in flight. A split leaves
 * the data where it is, but a removal clears the span and a snapshot
 * install replaces it; both bump the epoch, and a job handed off before
 * is answered UNKNOWN (the router parks and retries it).
 *
 * Whether a key's page is in the cache cannot be known before reading
 * it, so every read goes to the threads; a pass of one replica's reads
 * is one job, so the hand-off costs a lock, a signal and a wake-up per
 * job rather than per read.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv.h"
#include "log.h"
#include "node_int.h"
#include "peer.h"
#include "reads.h"
#include "serve.h"

#define MOD "reads"

struct item {
	uint64_t origin, id;
	uint8_t *cmd;
	size_t len;
	int rc;          /* rk_kv_read's */
	size_t off, rlen; /* the reply, in the job's out */
};

struct rk_read_job {
	struct rk_read_job *next;
	uint64_t range, epoch;
	uint8_t *span; /* the descriptor's start then end, as at the hand-off */
	size_t slen, elen;
	struct item *items;
	size_t n, cap;
	struct rk_buf out;
};

static void job_free(struct rk_read_job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->items[i].cmd);
	free(j->items);
	free(j->span);
	rk_buf_free(&j->out);
	free(j);
}

static bool delayed(const struct rk_reads *p, const struct rk_kv_cmd *c)
{
	const uint8_t *k;
	size_t kl, pl = strlen(p->delay_prefix);

	if (p->delay_ms == 0 || rk_kv_cmd_key(c, &k, &kl) != 0)
		return false;
	return kl >= pl && memcmp(k, p->delay_prefix, pl) == 0;
}

/* On a reader thread: every read of the job, replies appended to out. */
static void job_run(const struct rk_reads *p, struct rk_store_reader *rd,
		    struct rk_read_job *j)
{
	const uint8_t *end = j->span + j->slen;

	for (size_t i = 0; i < j->n; i++) {
		struct item *it = &j->items[i];
		struct rk_kv_cmd c;

		it->off = j->out.len;
		it->rc = rk_kv_cmd_decode(it->cmd, it->len, &c);
		if (it->rc == 0 && delayed(p, &c)) {
			struct timespec ts = {(time_t)(p->delay_ms / 1000),
					      (long)(p->delay_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (it->rc == 0)
			it->rc = rk_kv_read(rd, &c, j->span, j->slen, end, j->elen, &j->out);
		if (it->rc == 0 && j->out.oom)
			it->rc = RK_ENOMEM;
		if (it->rc != 0)
			j->out.len = it->off; /* nothing of a failed read */
		it->rlen = j->out.len - it->off;
	}
}

struct thread_arg {
	struct rk_node *n;
	unsigned no;
};

static void thread_main(void *arg)
{
	struct thread_arg *ta = arg;
	struct rk_reads *p = &ta->n->reads;
	struct rk_store_reader *rd = p->rd[ta->no];

	free(ta);
	uv_mutex_lock(&p->mu);
	for (;;) {
		struct rk_read_job *j;
		while (!p->stop && p->todo == NULL)
			uv_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j = p->todo;
		p->todo = j->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		uv_mutex_unlock(&p->mu);
		j->next = NULL;
		job_run(p, rd, j);
		uv_mutex_lock(&p->mu);
		if (p->done_tail != NULL)
			p->done_tail->next = j;
		else
			p->done = j;
		p->done_tail = j;
		/* Under the lock: close (which holds it to set stop) cannot
		 * have closed the handle yet. */
		uv_async_send(&p->wake);
	}
	uv_mutex_unlock(&p->mu);
}

/* On the loop: the answers of one job, in its order. */
static void job_answer(struct rk_node *n, struct rk_read_job *j)
{
	bool void_ = j->epoch != n->reads.epoch;

	if (void_)
		n->reads.voided += j->n;

	for (size_t i = 0; i < j->n; i++) {
		struct item *it = &j->items[i];

		rk_reqset_del(&n->reads.pending, it->origin, it->id);
		if (void_) {
			rk_serve_answer(n, it->origin, it->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
		} else if (it->rc == 0) {
			rk_serve_answer(n, it->origin, it->id, RK_NET_RESP_OK, 0,
					j->out.p + it->off, it->rlen);
		} else if (it->rc == RK_ERANGE) { /* a key of another range */
			struct rk_kv_cmd c;
			const uint8_t *key = NULL;
			size_t klen = 0;
			if (rk_kv_cmd_decode(it->cmd, it->len, &c) == 0)
				(void)rk_kv_cmd_key(&c, &key, &klen);
			rk_serve_redirect(n, it->origin, it->id, RK_NET_RESP_MISMATCH,
					  j->range, key, klen);
		} else {
			rk_serve_answer(n, it->origin, it->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
		}
	}
	n->reads.in_flight -= j->n;
}

static void on_wake(uv_async_t *h)
{
	struct rk_node *n = h->data;
	struct rk_reads *p = &n->reads;
	struct rk_read_job *j;

	uv_mutex_lock(&p->mu);
	j = p->done;
	p->done = p->done_tail = NULL;
	uv_mutex_unlock(&p->mu);
	while (j != NULL) {
		struct rk_read_job *next = j->next;
		job_answer(n, j);
		job_free(j);
		j = next;
	}
	/* The answers to reads forwarded by other nodes' routers went into
	 * their peers' batches: send them now. Nothing else may flush this
	 * turn (an idle range, a lease read: no commit, no message), and
	 * they would wait for the next tick, a whole --tick-ms per forwarded
	 * GET. */
	rk_peer_flush_all(n);
}

#ifdef RK_TEST_HOOKS
static void arm_delay(struct rk_reads *p)
{
	const char *h = getenv("RANGEKV_TEST_HOOKS");
	const char *d = getenv("RANGEKV_TEST_READ_DELAY_MS");
	const char *pre = getenv("RANGEKV_TEST_READ_DELAY_PREFIX");
	long ms;

	if (h == NULL || strcmp(h, "1") != 0 || d == NULL || (ms = strtol(d, NULL, 10)) <= 0)
		return;
	p->delay_ms = (unsigned)(ms > 60000 ? 60000 : ms);
	snprintf(p->delay_prefix, sizeof(p->delay_prefix), "%s", pre != NULL ? pre : "");
	rk_log_warn(MOD, "test hook: each read of a key beginning with \"%s\" waits %u ms",
		    p->delay_prefix, p->delay_ms);
}
#else
#define arm_delay(p) ((void)(p))
#endif

int rk_reads_start(struct rk_node *n)
{
	struct rk_reads *p = &n->reads;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	arm_delay(p);
	if (uv_mutex_init(&p->mu) != 0)
		return RK_ENOMEM;
	if (uv_cond_init(&p->cv) != 0) {
		uv_mutex_destroy(&p->mu);
		return RK_ENOMEM;
	}
	uv_async_init(&n->loop, &p->wake, on_wake);
	p->wake.data = n;
	p->started = true;
	for (unsigned i = 0; i < RK_READ_THREADS && rc == 0; i++) {
		struct thread_arg *ta = malloc(sizeof(*ta));
		if (ta == NULL) {
			rc = RK_ENOMEM;
			break;
		}
		ta->n = n;
		ta->no = i;
		rc = rk_store_reader_open(n->store, &p->rd[i]);
		if (rc == 0 && uv_thread_create(&p->th[i], thread_main, ta) != 0) {
			rk_store_reader_close(p->rd[i]);
			p->rd[i] = NULL;
			rc = RK_ENOMEM;
		}
		if (rc != 0)
			free(ta);
		else
			p->nth++;
	}
	if (rc != 0)
		rk_log_error(MOD, "cannot start the reader threads: %s", rk_strerror(rc));
	return rc;
}

void rk_reads_close(struct rk_node *n)
{
	struct rk_reads *p = &n->reads;
	struct rk_read_job *lists[2];

	if (!p->started)
		return;
	uv_mutex_lock(&p->mu);
	p->stop = true;
	uv_cond_broadcast(&p->cv);
	uv_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nth; i++)
		uv_thread_join(&p->th[i]);
	for (unsigned i = 0; i < RK_READ_THREADS; i++)
		if (p->rd[i] != NULL)
			rk_store_reader_close(p->rd[i]);
	lists[0] = p->todo;
	lists[1] = p->done;
	for (int k = 0; k < 2; k++)
		while (lists[k] != NULL) {
			struct rk_read_job *next = lists[k]->next;
			job_free(lists[k]);
			lists[k] = next;
		}
	p->todo = p->todo_tail = p->done = p->done_tail = NULL;
	rk_reqset_free(&p->pending);
	uv_close((uv_handle_t *)&p->wake, NULL);
	uv_cond_destroy(&p->cv);
	uv_mutex_destroy(&p->mu);
	p->started = false;
}

int rk_reads_add(struct rk_node *n, struct rk_replica *r, struct rk_read_job **jobp,
		 uint64_t origin, uint64_t id, uint8_t *cmd, size_t len)
{
	struct rk_read_job *j = *jobp;
	struct item *it;

	if (id != 0 && rk_reqset_has(&n->reads.pending, origin, id)) {
		n->reads.resent_dropped++;
		return RK_EEXIST;
	}
	if (j == NULL) {
		if ((j = calloc(1, sizeof(*j))) == NULL)
			return RK_ENOMEM;
		j->range = r->range;
		j->epoch = n->reads.epoch;
		j->slen = r->desc.slen;
		j->elen = r->desc.elen;
		rk_buf_init(&j->out);
		if ((j->span = malloc(j->slen + j->elen + 1)) == NULL) {
			free(j);
			return RK_ENOMEM;
		}
		memcpy(j->span, r->desc.start, j->slen);
		memcpy(j->span + j->slen, r->desc.end, j->elen);
		*jobp = j;
	}
	if (rk_grow((void **)&j->items, &j->cap, j->n, sizeof(*j->items)) != 0)
		return RK_ENOMEM;
	it = &j->items[j->n++];
	memset(it, 0, sizeof(*it));
	it->origin = origin;
	it->id = id;
	it->cmd = cmd;
	it->len = len;
	/* Out of memory: this read is not deduplicated, nothing worse. */
	if (id != 0)
		(void)rk_reqset_add(&n->reads.pending, origin, id);
	return 0;
}

void rk_reads_submit(struct rk_node *n, struct rk_read_job *j)
{
	struct rk_reads *p = &n->reads;

	if (j == NULL)
		return;
	p->in_flight += j->n;
	p->total += j->n;
	uv_mutex_lock(&p->mu);
	if (p->todo_tail != NULL)
		p->todo_tail->next = j;
	else
		p->todo = j;
	p->todo_tail = j;
	uv_cond_signal(&p->cv);
	uv_mutex_unlock(&p->mu);
}

void rk_reads_void(struct rk_node *n)
{
	n->reads.epoch++;
}
