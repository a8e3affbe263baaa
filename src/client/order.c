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
 * A split moves keys out of a queue's range. Writes of one key stay in
 * one queue, in order, whatever the routing learns meanwhile: a new write
 * of a key that a write of the connection still waiting or in flight
 * carries joins that write's queue (not its own range's). When a queue
 * has nothing in flight, the writes it holds whose range is another one
 * now go to that range's queue (all of a key's writes together, in
 * order: no other queue holds that key), so that a batch is formed of
 * one range's keys as the node knows them. A batch formed before the node
 * learned a split can still carry keys of both halves: the range refuses
 * it at apply, and when the router answers RK_CLIENT_RESPLIT (it
 * certainly never applied, and never will) its commands go back in front
 * of the queue's waiting ones and leave again in parts, each part a new
 * request with a sequence number of its own. So a later write of a key
 * never applies before an earlier one, and each applies once.
 *
 * A write of a key no range is known for goes to the range-0 queue, one
 * command at a time, and while that queue is busy every write of the
 * connection joins it (unless a queue holds its key): a key whose range
 * becomes known meanwhile cannot overtake an earlier write of it.
 *
 * A command with several keys (an MSET's pairs of one range) keeps its
 * keys together while they are in one range, and a write of one of its
 * keys after it stays behind it. Once a split puts its keys in two
 * ranges, the refused request comes back (RESPLIT) and the command is cut
 * like an MSET over several ranges: one command per range, in order, each
 * atomic in its range, its caller answered once for all of them (-TIMEOUT
 * if one part may have applied and another did not: docs/client.md).
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
	uint64_t mask;     /* a bit per key (key_bit): a quick "not its key" */
	uint32_t nkeys;
	size_t len;
	uint8_t cmd[];
};

struct oq {
	struct oq *next;
	struct rk_client_router *r;
	struct rk_client_order *o;
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

static uint64_t key_bit(const uint8_t *key, size_t klen)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < klen; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return 1ull << (h >> 58);
}

/* Whether p writes key (bit: its key_bit). */
static bool pend_has(const struct pend *p, const uint8_t *key, size_t klen,
		     uint64_t bit)
{
	struct rk_kv_cmd c;
	const uint8_t *k;
	size_t off = 0, kl;
	uint32_t i = 0;

	if ((p->mask & bit) == 0 || rk_kv_cmd_decode(p->cmd, p->len, &c) != 0)
		return false;
	while (rk_kv_key_next(&c, &off, &i, &k, &kl) == 0)
		if (kl == klen && memcmp(k, key, klen) == 0)
			return true;
	return false;
}

static bool list_has(const struct pend *p, const uint8_t *key, size_t klen,
		     uint64_t bit)
{
	for (; p != NULL; p = p->next)
		if (pend_has(p, key, klen, bit))
			return true;
	return false;
}

/* Whether a command of several keys in the list from e up to p writes
 * one of p's keys (p must then stay behind it). */
static bool held_before(const struct pend *e, const struct pend *p)
{
	struct rk_kv_cmd c;
	const uint8_t *k;
	size_t off = 0, kl;
	uint32_t i = 0;

	if (rk_kv_cmd_decode(p->cmd, p->len, &c) != 0)
		return true;
	while (rk_kv_key_next(&c, &off, &i, &k, &kl) == 0)
		for (const struct pend *x = e; x != p; x = x->next)
			if (x->nkeys > 1 && pend_has(x, k, kl, key_bit(k, kl)))
				return true;
	return false;
}

/* A pend of cmd, its key bits counted. NULL: no memory. */
static struct pend *pend_new(const uint8_t *cmd, size_t len, rk_client_done_fn done,
			     void *arg, uint64_t deadline)
{
	struct pend *p = malloc(sizeof(*p) + len);
	struct rk_kv_cmd c;
	const uint8_t *k;
	size_t off = 0, kl;
	uint32_t i = 0;

	if (p == NULL)
		return NULL;
	p->next = NULL;
	p->done = done;
	p->arg = arg;
	p->deadline = deadline;
	p->len = len;
	memcpy(p->cmd, cmd, len);
	p->mask = 0;
	p->nkeys = 0;
	if (rk_kv_cmd_decode(cmd, len, &c) == 0)
		while (rk_kv_key_next(&c, &off, &i, &k, &kl) == 0) {
			p->mask |= key_bit(k, kl);
			p->nkeys++;
		}
	return p;
}

/* The range of p's keys as the node knows them now; *spansp: they are in
 * more than one (the range is then the first key's). */
static uint64_t pend_range(struct rk_client_router *r, const struct pend *p, bool *spansp)
{
	struct rk_kv_cmd c;
	const uint8_t *k, *end;
	size_t off = 0, kl, elen;
	uint32_t i = 0;
	uint64_t first = 0;
	bool any = false;

	*spansp = false;
	if (rk_kv_cmd_decode(p->cmd, p->len, &c) != 0)
		return 0;
	while (rk_kv_key_next(&c, &off, &i, &k, &kl) == 0) {
		uint64_t range = rk_client_range_of(r, k, kl, &end, &elen);
		if (any && range != first) {
			*spansp = true;
			return first;
		}
		first = range;
		any = true;
	}
	return first;
}

/* The parts of a command of several keys a split cut: one answer for
 * them all, as commands.c combines an MSET over several ranges. */
struct cut {
	rk_client_done_fn done;
	void *arg;
	uint32_t left;
	int other; /* the first part's status that is neither OK nor ours */
	bool timeout, tryagain, applied;
	struct rk_buf reply; /* the first error reply, else the first reply */
};

static void on_cut_part(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct cut *x = arg;
	bool keep = false;
	int st;

	if (status == RK_NET_RESP_OK) {
		x->applied = true;
		keep = x->reply.len == 0 || (len > 0 && reply[0] == '-' && x->other == 0 &&
					     x->reply.p[0] != '-');
	} else if (status == RK_CLIENT_TIMEOUT) {
		x->timeout = true;
	} else if (status == RK_CLIENT_TRYAGAIN) {
		x->tryagain = true;
	} else if (x->other == 0) {
		x->other = status;
		keep = true;
	}
	if (keep) {
		rk_buf_reset(&x->reply);
		rk_buf_append(&x->reply, reply, len);
	}
	if (--x->left > 0)
		return;
	if (x->timeout || ((x->tryagain || x->other != 0) && x->applied))
		st = RK_CLIENT_TIMEOUT;
	else if (x->tryagain)
		st = RK_CLIENT_TRYAGAIN;
	else
		st = x->other != 0 ? x->other : RK_NET_RESP_OK;
	if (x->reply.oom && st != RK_CLIENT_TRYAGAIN)
		st = RK_CLIENT_TIMEOUT; /* a reply not kept: not known */
	if (st == RK_CLIENT_TIMEOUT || st == RK_CLIENT_TRYAGAIN)
		x->done(x->arg, st, NULL, 0);
	else
		x->done(x->arg, st, (const uint8_t *)x->reply.p, x->reply.len);
	rk_buf_free(&x->reply);
	free(x);
}

/* p, a PUT of several pairs whose keys are in several ranges now, as one
 * PUT per range in the order of their first pairs (a range's pairs in
 * their order), answered together. Returns the parts linked in order, or
 * p itself when it needs no cut or there is no memory for one (it is then
 * refused again until its deadline, as before). */
static struct pend *cut(struct rk_client_router *r, struct pend *p)
{
	struct rk_kv_cmd c, kc;
	const uint8_t *k, *v, *end;
	size_t off, kl, vl, elen, np = 0;
	uint64_t ranges[64];
	struct pend *parts = NULL, **tail = &parts;
	struct cut *x;
	struct rk_buf b;
	bool spans;

	pend_range(r, p, &spans);
	if (!spans || rk_kv_cmd_decode(p->cmd, p->len, &c) != 0 || c.op != RK_KV_PUT)
		return p;
	/* The distinct ranges, in order of first appearance. */
	for (off = 0; rk_kv_arg_next(&c, &off, &k, &kl) == 0 &&
		      rk_kv_arg_next(&c, &off, &v, &vl) == 0;) {
		uint64_t range = rk_client_range_of(r, k, kl, &end, &elen);
		size_t j = 0;
		while (j < np && ranges[j] != range)
			j++;
		if (j == np && np == sizeof(ranges) / sizeof(ranges[0]))
			return p; /* more ranges than a cut takes: refused as before */
		if (j == np)
			ranges[np++] = range;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return p;
	x->done = p->done;
	x->arg = p->arg;
	rk_buf_init(&x->reply);
	memset(&kc, 0, sizeof(kc));
	kc.op = c.op;
	kc.mode = c.mode;
	kc.n = c.n;
	rk_buf_init(&b);
	for (size_t j = 0; j < np; j++) {
		uint32_t n = 0;
		struct pend *q;

		rk_buf_reset(&b);
		rk_kv_cmd_begin(&b, &kc);
		for (off = 0; rk_kv_arg_next(&c, &off, &k, &kl) == 0 &&
			      rk_kv_arg_next(&c, &off, &v, &vl) == 0;)
			if (rk_client_range_of(r, k, kl, &end, &elen) == ranges[j]) {
				rk_kv_cmd_arg(&b, k, kl);
				rk_kv_cmd_arg(&b, v, vl);
				n += 2;
			}
		rk_kv_cmd_finish(&b, 0, n);
		q = b.oom ? NULL : pend_new((const uint8_t *)b.p, b.len, on_cut_part, x,
					   p->deadline);
		if (q == NULL) {
			while (parts != NULL) {
				struct pend *nx = parts->next;
				free(parts);
				parts = nx;
			}
			rk_buf_free(&b);
			rk_buf_free(&x->reply);
			free(x);
			return p;
		}
		*tail = q;
		tail = &q->next;
	}
	rk_buf_free(&b);
	x->left = (uint32_t)np;
	*tail = p->next;
	free(p);
	return parts;
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

/* The queue of range in o, created if absent (NULL: no memory). Frees
 * nothing: the caller may be walking o's queues. */
static struct oq *range_queue(struct rk_client_router *r, struct rk_client_order *o,
			      uint64_t range)
{
	struct oq *q;

	for (q = o->qs; q != NULL; q = q->next)
		if (q->range == range)
			return q;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return NULL;
	q->r = r;
	q->o = o;
	q->range = range;
	q->next = o->qs;
	o->qs = q;
	return q;
}

static void oq_append(struct oq *q, struct pend *p)
{
	p->next = NULL;
	if (q->tail) q->tail->next = p; else q->head = p;
	q->tail = p;
}

/* q has nothing in flight: its waiting writes whose range is another one
 * now move to that range's queue, in order. All the writes of a key are
 * in q (rk_client_order_submit), so they move together and no other
 * queue has one of that key to overtake; a single-key write behind a
 * command of several keys that shares its key stays (its queue keeps
 * them in order). Range 0's queue sends its commands one at a time
 * through the router, which routes each: nothing moves out of it. */
static void rehome(struct oq *q)
{
	struct pend *p, *keep = q->head, **keept = &keep, *nx;
	bool multi = false; /* a command of several keys stays */

	if (q->range == 0)
		return;
	/* The kept list runs from keep and its last link points at the pend
	 * looked at next, so that held_before walks what stays before it. */
	for (p = q->head; p != NULL; p = nx) {
		uint64_t range;
		struct oq *to;
		bool spans;

		nx = p->next;
		range = pend_range(q->r, p, &spans);
		if (spans)
			range = q->range; /* cut when refused (RESPLIT) */
		if (range != q->range && range != 0 && !(multi && held_before(keep, p)) &&
		    (to = range_queue(q->r, q->o, range)) != NULL) {
			*keept = nx; /* unlink p: the kept list goes on at nx */
			oq_append(to, p);
			continue;
		}
		multi = multi || p->nkeys > 1;
		*keept = p;
		keept = &p->next;
	}
	q->head = keep;
	q->tail = NULL;
	for (p = keep; p != NULL; p = p->next)
		q->tail = p;
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

/* Sends what waits in every queue of o with nothing in flight, each
 * queue's writes of other ranges first moved to theirs (which may then
 * have something to send: again until none has). Returns the commands
 * given up on, as pump. */
static struct pend *settle(struct rk_client_order *o)
{
	struct pend *fail = NULL, **failt = &fail;
	bool again = true;

	while (again) {
		again = false;
		for (struct oq *q = o->qs; q != NULL; q = q->next) {
			if (q->busy || q->head == NULL)
				continue;
			again = true;
			rehome(q);
			*failt = pump(q);
			while (*failt != NULL)
				failt = &(*failt)->next;
		}
	}
	return fail;
}

/* The request in flight is answered: the next one goes out first (so that
 * writes the callbacks submit queue behind it), then each command gets its
 * own reply. A batch refused for keys of several ranges (RESPLIT, never
 * applied) is no answer: its commands wait again, in front, and leave in
 * parts. q is not touched after settle. */
static void on_fly_done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct oq *q = arg;
	struct pend *fly = q->fly, *fail;
	uint32_t n = q->nfly;

	q->fly = NULL;
	q->nfly = 0;
	q->busy = false;
	if (status == RK_CLIENT_RESPLIT && fly != NULL) {
		struct pend **pp = &fly, *last = NULL;
		/* Commands of several keys now in several ranges: cut. */
		while (*pp != NULL) {
			if ((*pp)->nkeys > 1)
				*pp = cut(q->r, *pp);
			last = *pp;
			pp = &(*pp)->next;
		}
		while (last->next != NULL)
			last = last->next;
		last->next = q->head;
		if (q->head == NULL)
			q->tail = last;
		q->head = fly;
		pend_answer(settle(q->o), RK_CLIENT_TRYAGAIN, NULL, 0);
		return;
	}
	fail = settle(q->o);
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

/* The queue a write of key (of range) joins: the one holding a write of
 * key already (waiting or in flight), else a busy range-0 queue, else
 * range's (created if absent). Idle queues met on the way are freed.
 * NULL: no memory. */
static struct oq *queue_of(struct rk_client_router *r, struct rk_client_order *o,
			   uint64_t range, const uint8_t *key, size_t klen)
{
	struct oq **pp = &o->qs, *q, *zero = NULL, *found = NULL, *holder = NULL;
	uint64_t bit = key_bit(key, klen);

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
		if (holder == NULL &&
		    (list_has(q->fly, key, klen, bit) || list_has(q->head, key, klen, bit)))
			holder = q;
		pp = &q->next;
	}
	if (holder != NULL)
		return holder;
	if (zero != NULL)
		return zero;
	if (found != NULL)
		return found;
	return range_queue(r, o, range);
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
	q = queue_of(r, o, rk_client_range_of(r, key, klen, &end, &elen), key, klen);
	if (q == NULL)
		return RK_ENOMEM;
	p = pend_new(cmd, len, done, arg, rk_client_router_now(r) + rk_client_router_timeout(r));
	if (p == NULL)
		return RK_ENOMEM;
	oq_append(q, p);
	return 0;
}

void rk_client_order_flush(struct rk_client_order *o)
{
	pend_answer(settle(o), RK_CLIENT_TRYAGAIN, NULL, 0);
}

void rk_client_order_free(struct rk_client_order *o)
{
	while (o->qs != NULL) {
		struct oq *q = o->qs;
		o->qs = q->next;
		free(q);
	}
}
