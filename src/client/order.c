/*
 * A connection's writes, range by range, in the order it sent them
 * (docs/client.md, "Ordering on a connection").
 *
 * Per connection and range there is one queue, and at most one request of
 * it is with the router at a time. The writes a connection submits while
 * its input is parsed wait in their queues until the parse ends
 * (rk_client_order_flush), so a pipeline's writes to one range leave
 * together; while a request is in flight, the connection's later writes
 * to that range wait for its answer. Whatever waits goes as one request: a single command as it is, several as
 * one RK_KV_BATCH command, which the leader applies as one command, in
 * order, in one entry. So:
 *  - a retried write can never apply after a later one of its connection:
 *    the later one is not sent before the earlier one is answered, and the
 *    commands of one request are applied together, in order, or not at all;
 *  - a batch is one write for the router and the range's session: one
 *    sequence number, kept by every retry (the same bytes are resent), its
 *    result (every command's reply) recorded as one. A batch that applied
 *    and whose answer was lost is answered from that record when resent:
 *    no command of it applies twice, and none applies alone;
 *  - a pipeline of 16 INCRs of one key costs one round trip per range,
 *    not 16: the gate in server.c no longer holds back a write of a key an
 *    earlier write of the connection still has in flight.
 * Reads go straight to the router: the gate keeps them apart from writes
 * of the same key.
 *
 * A write of a key no range is known for goes to the range-0 queue, one
 * command at a time, and while that queue is busy every write of the
 * connection joins it: a key whose range becomes known meanwhile cannot
 * overtake an earlier write of it.
 */
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "kv.h"

struct pend {
	struct pend *next;
	rk_client_done_fn done;
	void *arg;
	uint64_t deadline; /* loop ms: answered -TRYAGAIN if still waiting */
	size_t len;
	uint8_t cmd[];
};

struct oq {
	struct oq *next;
	struct rk_client_router *r;
	uint64_t range;
	bool busy;                /* a request of it is with the router */
	struct pend *fly;         /* that request's commands, in order */
	struct pend *head, *tail; /* waiting, in order */
	uint32_t nfly;
};

static bool oq_idle(const struct oq *q)
{
	return !q->busy && q->head == NULL;
}

static void pend_answer(struct pend *list, int status, const uint8_t *reply,
			size_t len)
{
	while (list != NULL) {
		struct pend *nx = list->next;
		list->done(list->arg, status, reply, len);
		free(list);
		list = nx;
	}
}

static void on_fly_done(void *arg, int status, const uint8_t *reply, size_t len);

/* Sends what waits in q as one request, unless one is in flight. Returns
 * the commands it gave up on (their time passed while waiting, or the
 * router refused the request: certainly not applied), for the caller to
 * answer -TRYAGAIN once it no longer touches q. */
static struct pend *pump(struct oq *q)
{
	struct pend *fail = NULL, **failt = &fail;
	uint64_t now = rk_client_router_now(q->r);

	while (!q->busy && q->head != NULL) {
		struct pend *first = q->head, *last = first, *p;
		uint32_t n = 1;
		size_t bytes = first->len;
		int rc;

		if (first->deadline <= now) {
			q->head = first->next;
			if (q->head == NULL)
				q->tail = NULL;
			first->next = NULL;
			*failt = first;
			failt = &first->next;
			continue;
		}
		/* Range 0: one at a time (its commands may be of any range). */
		while (q->range != 0 && last->next != NULL && n < RK_KV_BATCH_MAX &&
		       bytes + last->next->len <= RK_KV_BATCH_BYTES &&
		       last->next->deadline > now) {
			last = last->next;
			bytes += last->len;
			n++;
		}
		q->head = last->next;
		if (q->head == NULL)
			q->tail = NULL;
		last->next = NULL;
		if (n == 1) {
			rc = rk_client_submit(q->r, first->cmd, first->len, on_fly_done, q);
		} else {
			struct rk_kv_cmd c;
			struct rk_buf b;
			memset(&c, 0, sizeof(c));
			c.op = RK_KV_BATCH;
			rk_buf_init(&b);
			rk_kv_cmd_begin(&b, &c);
			for (p = first; p != NULL; p = p->next)
				rk_kv_cmd_arg(&b, p->cmd, p->len);
			rk_kv_cmd_finish(&b, 0, n);
			rc = b.oom ? RK_ENOMEM
				   : rk_client_submit(q->r, (const uint8_t *)b.p, b.len,
						      on_fly_done, q);
			rk_buf_free(&b);
		}
		if (rc != 0) {
			*failt = first;
			failt = &last->next;
			continue;
		}
		q->busy = true;
		q->fly = first;
		q->nfly = n;
	}
	return fail;
}

/* The request in flight is answered: the next one goes out first (so that
 * writes the callbacks submit queue behind it), then each command gets its
 * own reply. q is not touched after pump. */
static void on_fly_done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct oq *q = arg;
	struct pend *fly = q->fly, *fail;
	uint32_t n = q->nfly;

	q->fly = NULL;
	q->nfly = 0;
	q->busy = false;
	fail = pump(q);
	if (n > 1 && status == RK_NET_RESP_OK && len > 0 && reply[0] == 'B') {
		size_t off = 0, l;
		const uint8_t *p;
		while (fly != NULL) {
			struct pend *nx = fly->next;
			if (rk_kv_batch_reply(reply, len, &off, &p, &l) == 0)
				fly->done(fly->arg, status, p, l);
			else /* applied, its reply missing: not known */
				fly->done(fly->arg, RK_CLIENT_TIMEOUT, NULL, 0);
			free(fly);
			fly = nx;
		}
	} else {
		/* One command, or an answer for the whole batch (an error, a
		 * refusal, the router giving up): each command gets it. */
		pend_answer(fly, status, reply, len);
	}
	pend_answer(fail, RK_CLIENT_TRYAGAIN, NULL, 0);
}

/* The queue of range (created if absent); idle queues met on the way are
 * freed. NULL: no memory. */
static struct oq *queue_of(struct rk_client_router *r, struct rk_client_order *o,
			   uint64_t range)
{
	struct oq **pp = &o->qs, *q, *zero = NULL, *found = NULL;

	while ((q = *pp) != NULL) {
		if (q->range == range)
			found = q;
		if (q->range == 0 && !oq_idle(q))
			zero = q;
		if (q != found && oq_idle(q)) {
			*pp = q->next;
			free(q);
			continue;
		}
		pp = &q->next;
	}
	if (zero != NULL)
		return zero;
	if (found != NULL)
		return found;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->r = r;
	q->range = range;
	q->next = o->qs;
	o->qs = q;
	return q;
}

int rk_client_order_submit(struct rk_client_router *r, struct rk_client_order *o,
			   const uint8_t *cmd, size_t len, rk_client_done_fn done,
			   void *arg)
{
	struct rk_kv_cmd c;
	const uint8_t *key, *end;
	size_t klen, elen;
	struct oq *q;
	struct pend *p;

	if (rk_kv_cmd_decode(cmd, len, &c) != 0 || rk_kv_cmd_key(&c, &key, &klen) != 0)
		return RK_EINVAL;
	if (rk_kv_op_is_read(c.op))
		return rk_client_submit(r, cmd, len, done, arg);
	q = queue_of(r, o, rk_client_range_of(r, key, klen, &end, &elen));
	if (q == NULL)
		return RK_ENOMEM;
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return RK_ENOMEM;
	p->next = NULL;
	p->done = done;
	p->arg = arg;
	p->deadline = rk_client_router_now(r) + rk_client_router_timeout(r);
	p->len = len;
	memcpy(p->cmd, cmd, len);
	if (q->tail) q->tail->next = p; else q->head = p;
	q->tail = p;
	return 0;
}

void rk_client_order_flush(struct rk_client_order *o)
{
	struct pend *fail = NULL, **failt = &fail;

	for (struct oq *q = o->qs; q != NULL; q = q->next) {
		*failt = pump(q);
		while (*failt != NULL)
			failt = &(*failt)->next;
	}
	pend_answer(fail, RK_CLIENT_TRYAGAIN, NULL, 0);
}

void rk_client_order_free(struct rk_client_order *o)
{
	while (o->qs != NULL) {
		struct oq *q = o->qs;
		o->qs = q->next;
		free(q);
	}
}
