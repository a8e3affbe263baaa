/*
 * The router: every range operation goes to the node that leads its range,
 * and is retried there or elsewhere until answered or out of time.
 *
 * An operation is in one of two states: sent (waiting for an answer,
 * resent after RESEND_MS without one: a frame may be lost or a node dead;
 * sooner, once STALE_MS old, if its range's leader has changed meanwhile)
 * or parked (waiting RETRY_MS before the next attempt: no leader known, a
 * leader change in progress). One timer walks the operations every
 * TICK_MS while any is in flight.
 * Answers:
 *   OK, REFUSED      done: the reply goes to the client;
 *   NOT_LEADER       certainly not applied: go to the hinted leader (or park);
 *   UNKNOWN          the leader lost leadership with it in flight: retry with
 *                    the same sequence number (a duplicate is answered from
 *                    the range's session record, never applied twice);
 *   NO_RANGE         the node does not hold the range (never did, not yet
 *                    initialized, or its replica was removed);
 *   MISMATCH         the range's generation is not the one sent, or the key
 *                    is outside its span (checked at proposal and again at
 *                    apply, where every replica has the same span at the
 *                    same index);
 *   OUTSIDE          the check at apply refused it (a MISMATCH too): for a
 *                    write whose keys the node now knows in several ranges,
 *                    RESPLIT to the caller (below).
 *
 * Routing that follows descriptors. Every request carries the range id and
 * generation of the node's range cache. NO_RANGE and MISMATCH are
 * certainly-not-applied answers carrying the descriptors the answering
 * node knows for the key and the range: the node learns them (a stale one
 * is ignored by its cache), marks a node that said NO_RANGE absent for the
 * range, and the operation is sent again at once to where the cache now
 * points, with the same request id and, for a write, the same sequence
 * number: an earlier attempt may have applied, and the range's session
 * record answers a duplicate. A write whose range changes joins the new
 * range's list: under a new sequence number if it was never sent to a
 * range (nothing can have applied it), else under its own, in order. When
 * no node is known for the key (no range in the cache, or every cached
 * node absent), the nodes are asked in turn (env.peer_after): one holding
 * the range serves or redirects, one that does not answers NO_RANGE with
 * what it knows. A request sent with range 0 is never applied anywhere.
 * An operation's redirects are bounded (REDIRECT_BURST): beyond it each one
 * parks the operation for RETRY_MS, so a descriptor ping-pong costs one attempt
 * per RETRY_MS until the deadline, never a spin. The deadline's answers
 * stay exact: -TIMEOUT once a write may have applied, else -TRYAGAIN.
 *
 * A batch (RK_KV_BATCH, order.c), or a command of several keys (an MSET's
 * pairs of one range), whose keys a split put in two ranges can apply
 * nowhere, and resending it cannot help. Its caller gets
 * RK_CLIENT_RESPLIT, to send its commands again in parts, when the batch
 * certainly never applied and never will: the answer is OUTSIDE (the
 * range's session held no record of its sequence number when it refused
 * it, and a range's records go to both halves of a split and into a
 * merge), and no other attempt of it may still apply (open: every attempt
 * sent was answered with a certainly-not-applied status; an attempt
 * unanswered, or answered UNKNOWN, may still be in some range's log);
 * while one is open it waits, parked, for that one's answer (its reply,
 * or a refusal: then RESPLIT) or for its deadline (-TIMEOUT). Its
 * sequence number is then dropped: a late copy of it would meet a first
 * incomplete sequence above it, or keys in two ranges. An attempt
 * answered UNKNOWN gets no other answer; once every open attempt has
 * been, the batch is sent again under its number (resend_held): answered
 * from the session record if an earlier attempt applied, else OUTSIDE,
 * which then proves that none did or ever will.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "kv.h"
#include "log.h"

#define MOD "router"

#define TICK_MS 10
#define RESEND_MS 1000
#define RETRY_MS 20
#define STALE_MS 50 /* an answer this late is worth a look at the leader */
#define REDIRECT_BURST 4 /* redirects sent on at once; then one per RETRY_MS */
/* An operation waiting for the placement index's answer (env.lookup) is
 * sent on when it comes (rk_client_router_wake), else after this long. */
#define LOOKUP_WAIT_MS 200

struct op {
	uint64_t id;
	uint8_t *cmd;
	size_t len;
	const uint8_t *key; /* into cmd */
	size_t klen;
	bool write, maybe_applied, parked;
	bool lost;          /* a node said NO_RANGE: ask others if none is known */
	bool indexed;       /* the placement index was asked about its key */
	uint32_t redirects; /* NO_RANGE and MISMATCH answers so far */
	/* Attempts sent and not answered with a certainly-not-applied
	 * status (NOT_LEADER, NO_RANGE, MISMATCH, OUTSIDE): one that is may
	 * still apply somewhere. */
	uint32_t open;
	/* A batch refused at apply with its keys in several ranges while
	 * another attempt of it was open: parked until that one is answered
	 * (then RESPLIT, or its reply) or the deadline passes. */
	bool holding;
	/* Of the open attempts, those answered UNKNOWN (no other answer
	 * comes for them). A held batch whose open attempts all are is
	 * sent again under its number (proving): the answer to that
	 * attempt settles every earlier one (resend_held). */
	uint32_t unknowns;
	bool proving;
	/* Its number is below a mark its range may hold (wlist.sent) while
	 * an attempt of it is open: parked until every open attempt is
	 * answered (its reply, or certainly not applied: then it goes on
	 * under a new number) or the deadline passes (-TIMEOUT). */
	bool awaiting;
	int8_t last; /* the last answer's status (rk_net_resp_status), -1 none */
	uint64_t seq;
	uint64_t range, target;
	uint64_t asked;     /* the node last asked in turn, 0 none */
	uint64_t deadline, next_at; /* loop ms */
	rk_client_done_fn done;
	void *arg;
	struct op *hnext;             /* hash chain */
	struct op *prev, *next;       /* all operations, oldest first */
	struct op *wprev, *wnext;     /* its range's writes, by sequence number */
	struct wlist *wl;             /* that list */
};

/* The writes waiting for one range, oldest first: the head's sequence
 * number is the mark the range may forget results below. Per range, so a
 * slow operation on one range does not make every other range keep the
 * results of everything since.
 *
 * sent is the highest mark sent to the range. A write under a number
 * below it is never sent there as it is (attempt): the range would answer
 * it as a duplicate (-ERR) though its client never had an answer. It can
 * happen to a write that joined the list late (a split moved its key and
 * the router followed after marks went to the new range). The marks a
 * range inherits from its left at a split were sent while the write was
 * in the left's list, so they are at most its number; a merge keeps the
 * lower of the two. (Bounding by the highest mark sent anywhere, for a
 * new range, held back every write in flight at each split, and those
 * answered "unknown" then waited for their deadline.) */
struct wlist {
	uint64_t range;
	uint64_t sent;
	struct op *head, *tail;
};

struct rk_client_router {
	uv_loop_t *loop;
	struct rk_client_env env;
	uint32_t timeout_ms;
	uv_timer_t timer;
	uint64_t session, next_seq, next_id;
	uint64_t spans; /* env.spans when follow_spans last looked */
	bool closing; /* rk_client_router_close began: nothing new is sent */
	struct op **hash;
	size_t hcap, n;
	struct op *head, *tail;   /* all */
	struct wlist *wl;         /* open addressing by range */
	size_t wcap, wn;
	struct rk_client_stats st;
	/* The lines of operations given up (give_up) and of writes answered
	 * as duplicates (duplicate): one a second each. */
	struct rk_log_limit gaveup_log, dup_log;
};

/* o's list when it is the list of o's range (not range 0's, not one o
 * is leaving), else NULL: the list whose mark (sent) o's attempt meets. */
static struct wlist *own_list(const struct op *o)
{
	return o->range != 0 && o->wl != NULL && o->wl->range == o->range ? o->wl : NULL;
}

static uint64_t now_ms(struct rk_client_router *r)
{
	return uv_now(r->loop);
}

/* ---- the id table ------------------------------------------------------------ */

static struct op **slot(struct rk_client_router *r, uint64_t id)
{
	struct op **pp = &r->hash[(id * 0x9e3779b97f4a7c15ull >> 20) & (r->hcap - 1)];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static int table_grow(struct rk_client_router *r)
{
	size_t cap = r->hcap ? 2 * r->hcap : 1024;
	struct op **old = r->hash, **t = calloc(cap, sizeof(*t));
	size_t oldcap = r->hcap;

	if (t == NULL)
		return RK_ENOMEM;
	r->hash = t;
	r->hcap = cap;
	for (size_t i = 0; i < oldcap; i++)
		for (struct op *o = old[i], *nx; o != NULL; o = nx) {
			nx = o->hnext;
			o->hnext = NULL;
			*slot(r, o->id) = o;
		}
	free(old);
	return 0;
}

static void op_unlink(struct rk_client_router *r, struct op *o)
{
	struct op **pp = slot(r, o->id);

	if (*pp == o)
		*pp = o->hnext;
	r->n--;
	if (o->prev) o->prev->next = o->next; else r->head = o->next;
	if (o->next) o->next->prev = o->prev; else r->tail = o->prev;
	if (o->write) {
		struct wlist *l = o->wl;
		if (o->wprev) o->wprev->wnext = o->wnext; else l->head = o->wnext;
		if (o->wnext) o->wnext->wprev = o->wprev; else l->tail = o->wprev;
	}
}

static void op_finish(struct rk_client_router *r, struct op *o, int status,
		      const uint8_t *reply, size_t len)
{
	op_unlink(r, o);
	r->st.inflight--;
	if (status == RK_CLIENT_TRYAGAIN)
		r->st.tryagain++;
	else if (status == RK_CLIENT_TIMEOUT)
		r->st.timeouts++;
	o->done(o->arg, status, reply, len);
	free(o);
}

/* ---- attempts ------------------------------------------------------------------ */

/* The command as sent: its session fields set for this attempt (the
 * sequence number stays; the lowest one still waiting moves on). */
static void stamp(struct rk_client_router *r, struct op *o)
{
	uint64_t low = o->wl != NULL && o->wl->head != NULL ? o->wl->head->seq : o->seq;
	uint8_t *p = o->cmd;

	if (!o->write)
		return;
	if (own_list(o) != NULL && low > o->wl->sent)
		o->wl->sent = low;
	for (int i = 0; i < 8; i++) {
		p[2 + i] = (uint8_t)(r->session >> (8 * i));
		p[10 + i] = (uint8_t)(o->seq >> (8 * i));
		p[18 + i] = (uint8_t)(low >> (8 * i));
	}
}

static struct wlist *wlist_of(struct rk_client_router *r, uint64_t range);
static int wl_reserve(struct rk_client_router *r);

/* A write whose key's range is another one now: it joins that range's
 * list. Never sent to a range (it was submitted when its key's range was
 * not known, or only asked about), or every attempt of it was answered
 * with a certainly-not-applied status (open 0: it applied nowhere, and no
 * copy of it is on its way): under a new sequence number, the newest.
 * Kept under its old one, in another list, the range's later writes
 * would carry a first incomplete sequence above it, and the range would
 * take it for one already answered; the range may even have been told
 * such a mark already, or inherited one from the range it split from, by
 * writes sent there while this one was on its way to the range it left
 * (quick splits). Otherwise (an attempt unanswered, or answered unknown:
 * it may have applied, and a range that splits hands its session records
 * on): under its own, in sequence order, so that the list's head, the
 * first incomplete sequence its range is told from then on, is never
 * above it (a range told more before answers it as a duplicate, -ERR).
 * Without memory for the range table it stays where it is (still
 * correct; the range may then answer it as a duplicate). */
static void rejoin(struct rk_client_router *r, struct op *o)
{
	struct wlist *l;
	struct op *at;

	if (wl_reserve(r) != 0)
		return;
	l = o->wl;
	if (o->wprev) o->wprev->wnext = o->wnext; else l->head = o->wnext;
	if (o->wnext) o->wnext->wprev = o->wprev; else l->tail = o->wprev;
	o->wprev = o->wnext = NULL;
	l = wlist_of(r, o->range);
	if (!o->maybe_applied || o->open == 0)
		o->seq = r->next_seq++;
	o->wl = l;
	for (at = l->tail; at != NULL && at->seq > o->seq; at = at->wprev)
		;
	/* After at (NULL: first). */
	o->wprev = at;
	o->wnext = at != NULL ? at->wnext : l->head;
	if (o->wprev) o->wprev->wnext = o; else l->head = o;
	if (o->wnext) o->wnext->wprev = o; else l->tail = o;
}

/* The node's spans moved (a split or a merge it applied or learned): a
 * write that may have applied and has an attempt open, whose key is in
 * another range now, joins that range's list at once, under its own
 * number, before anything more is sent to that range. Left where it
 * was, the range's next writes would carry a first incomplete sequence
 * above it (their list's head), the range would forget what it keeps
 * for it (the record a split handed on if it applied before the split)
 * and answer its retry as a duplicate (-ERR) although its client never
 * had an answer. One walk of the waiting operations per change. */
static void follow_spans(struct rk_client_router *r)
{
	const uint8_t *end;
	size_t elen;
	uint64_t now;

	if (r->env.spans == NULL || (now = r->env.spans(r->env.arg)) == r->spans)
		return;
	r->spans = now;
	for (struct op *o = r->head; o != NULL; o = o->next) {
		uint64_t range;

		if (!o->write || o->wl == NULL || !o->maybe_applied || o->open == 0)
			continue; /* the others take a new number when they move */
		range = r->env.range_of(r->env.arg, o->key, o->klen, &end, &elen);
		if (range == 0 || range == o->wl->range)
			continue;
		o->range = range;
		rejoin(r, o);
	}
}

/* The next node to ask in turn about o's key. */
static uint64_t ask_next(struct rk_client_router *r, struct op *o)
{
	uint64_t to = r->env.peer_after != NULL
			      ? r->env.peer_after(r->env.arg, o->asked) : 0;

	o->asked = to;
	if (to != 0)
		r->st.asks++;
	return to;
}

static void park(struct rk_client_router *r, struct op *o);

/* Asks the placement index about o's key, once per operation (env.lookup;
 * need: no node is known for it). True: o is parked until the answer is
 * in the node's cache. An answer in the cache at once sets o->range anew. */
static bool index_lookup(struct rk_client_router *r, struct op *o, bool need)
{
	const uint8_t *end;
	size_t elen;
	int rc;

	if (o->indexed || r->env.lookup == NULL)
		return false;
	rc = r->env.lookup(r->env.arg, o->range, need, o->key, o->klen);
	if (rc == RK_CLIENT_LOOKUP_NONE)
		return false;
	o->indexed = true;
	r->st.index_lookups++;
	if (rc == RK_CLIENT_LOOKUP_WAIT) {
		park(r, o);
		o->next_at = now_ms(r) + LOOKUP_WAIT_MS;
		return true;
	}
	o->range = r->env.range_of(r->env.arg, o->key, o->klen, &end, &elen);
	return false;
}

static void await_settled(struct rk_client_router *r, struct op *o);

static void attempt(struct rk_client_router *r, struct op *o, uint64_t to)
{
	struct rk_net_req req;

	follow_spans(r);
	o->parked = false;
	if (to == 0) {
		const uint8_t *end;
		size_t elen;
		o->range = r->env.range_of(r->env.arg, o->key, o->klen, &end, &elen);
		to = o->range != 0 ? r->env.leader_of(r->env.arg, o->range) : 0;
		if (!o->indexed) {
			if (index_lookup(r, o, o->range == 0 || (o->lost && to == 0)))
				return;
			to = o->range != 0 ? r->env.leader_of(r->env.arg, o->range) : 0;
		}
		if (o->write && o->wl != NULL && o->wl->range != o->range)
			rejoin(r, o);
		/* No node known for the key: ask the nodes in turn. */
		if (to == 0 && (o->range == 0 || o->lost))
			to = ask_next(r, o);
	}
	if (to == 0) { /* no leader known: wait for an election */
		o->parked = true;
		o->next_at = now_ms(r) + RETRY_MS;
		return;
	}
	if (o->write && own_list(o) != NULL && o->seq < o->wl->sent) {
		/* The range was told a mark above o's number (o joined its
		 * list late). Certainly applied nowhere and in flight
		 * nowhere: a new number; else wait for the open attempts'
		 * answers (one answered "unknown" leaves its outcome unknown
		 * for good: -TIMEOUT, not the duplicate's -ERR; once every
		 * open attempt is, no answer can come, and it is given up at
		 * once, await_settled). */
		if (o->open > 0) {
			r->st.awaits++;
			o->awaiting = true;
			o->parked = true;
			o->next_at = o->deadline;
			await_settled(r, o);
			return;
		}
		rejoin(r, o);
	}
	o->target = to;
	o->next_at = now_ms(r) + RESEND_MS;
	if (to != r->env.self)
		r->st.forwarded++;
	o->open++;
	/* From here on a leader may propose it (never under range 0). */
	if (o->range != 0)
		o->maybe_applied = true;
	stamp(r, o);
	memset(&req, 0, sizeof(req));
	req.id = o->id;
	req.range = o->range;
	req.generation = o->range != 0 && r->env.generation_of != NULL
				 ? r->env.generation_of(r->env.arg, o->range, o->key, o->klen)
				 : 0;
	req.cmd = o->cmd;
	req.len = o->len;
	r->env.send(r->env.arg, to, &req); /* may answer at once */
}

static void park(struct rk_client_router *r, struct op *o)
{
	o->parked = true;
	o->next_at = now_ms(r) + RETRY_MS;
}

/* What the log says of o's last answer. */
static const char *last_name(const struct op *o)
{
	static const char *const names[] = {"ok", "not leader", "unknown", "no range",
					    "refused", "mismatch", "outside"};

	return o->last >= 0 && (size_t)o->last < sizeof(names) / sizeof(names[0])
		       ? names[o->last]
		       : "none";
}

/* Gives up on o: -TIMEOUT if it is a write that may have applied (an
 * attempt of it reached a leader and was not answered certainly-not-
 * applied: its outcome is unknown), -TRYAGAIN if it certainly did not
 * (never sent to a range, or every attempt answered NOT_LEADER, NO_RANGE,
 * MISMATCH or OUTSIDE: a range frozen for a merge, say, applied none). */
static void give_up(struct rk_client_router *r, struct op *o)
{
	bool timeout = o->write && o->maybe_applied && o->open > 0;
	uint64_t now = now_ms(r), held;

	/* What a client that got -TIMEOUT or -TRYAGAIN asks next is which
	 * range would not answer, and where it was sent: one line a second
	 * at most (a range that stalls fails every pipeline at once). */
	if (rk_log_limit_pass(&r->gaveup_log, now, 1000, &held))
		rk_log_warn(MOD, "a %s given up after %llu ms (%s%s): range %llu, last sent to "
			    "node %llu, %u redirects, %u attempts open (%u answered unknown)%s, last "
			    "answer %s; %llu more "
			    "given up since the last such line",
			    o->write ? "write" : "read",
			    (unsigned long long)(now + r->timeout_ms - o->deadline),
			    timeout ? "-TIMEOUT" : "-TRYAGAIN",
			    r->closing ? ", the router closing" : "", (unsigned long long)o->range,
			    (unsigned long long)o->target, o->redirects, o->open, o->unknowns,
			    o->holding    ? ", held: a batch in two ranges waiting for its open attempts"
			    : o->awaiting ? ", held: its range was told a higher mark; waiting for "
					    "its open attempts"
			    : o->parked   ? ", parked"
					  : "",
			    last_name(o), (unsigned long long)held);
	op_finish(r, o, timeout ? RK_CLIENT_TIMEOUT : RK_CLIENT_TRYAGAIN, NULL, 0);
}

/* A write answered as a duplicate of an answered request: the router sent
 * it under a number its range had been told it no longer waits for (a
 * router's fault; the client gets the -ERR). Counted, and logged one line
 * a second at most with what the router knew of the write. */
static void duplicate(struct rk_client_router *r, const struct op *o)
{
	uint64_t held;

	r->st.duplicates++;
	if (rk_log_limit_pass(&r->dup_log, now_ms(r), 1000, &held))
		rk_log_warn(MOD, "a write answered as a duplicate by node %llu: sequence %llu, "
			    "range %llu (its list's %llu, head %llu), %u redirects, %u attempts "
			    "open; %llu more since the last such line",
			    (unsigned long long)o->target, (unsigned long long)o->seq,
			    (unsigned long long)o->range,
			    (unsigned long long)(o->wl != NULL ? o->wl->range : 0),
			    (unsigned long long)(o->wl != NULL && o->wl->head != NULL
						 ? o->wl->head->seq : 0),
			    o->redirects, o->open, (unsigned long long)held);
}

static bool expired(struct rk_client_router *r, struct op *o)
{
	if (now_ms(r) < o->deadline)
		return false;
	give_up(r, o);
	return true;
}

/* An awaiting write (below its range's mark) whose open attempts have all
 * been answered UNKNOWN: none of them gets another answer, and it cannot
 * be sent again under its number (its range may have pruned the record
 * and would answer a duplicate) nor under a new one (it may have
 * applied). Its outcome is unknown for good: -TIMEOUT now rather than at
 * the deadline, which would answer the same after holding its
 * connection's later replies back. */
static void await_settled(struct rk_client_router *r, struct op *o)
{
	if (!o->awaiting || o->open == 0 || o->unknowns < o->open)
		return;
	r->st.await_timeouts++;
	give_up(r, o);
}

/* Walks the keys of c (not a batch) as the node knows their ranges now:
 * true once one is in another range than those before it. */
static bool keys_span(struct rk_client_router *r, const struct rk_kv_cmd *c, uint64_t *firstp,
		      bool *anyp)
{
	const uint8_t *k, *end;
	size_t off = 0, kl, elen;
	uint32_t i = 0;

	while (rk_kv_key_next(c, &off, &i, &k, &kl) == 0) {
		uint64_t range = r->env.range_of(r->env.arg, k, kl, &end, &elen);
		if (*anyp && range != *firstp)
			return true;
		*firstp = range;
		*anyp = true;
	}
	return false;
}

/* Whether the keys of write o (a batch's commands, or one command of
 * several keys: an MSET's pairs of one range) fall in more than one range
 * (or in no known range) as the node knows them now. */
static bool batch_spans(struct rk_client_router *r, const struct op *o)
{
	struct rk_kv_cmd c, sub;
	size_t off = 0, l;
	const uint8_t *p;
	uint64_t first = 0;
	bool any = false;

	if (rk_kv_cmd_decode(o->cmd, o->len, &c) != 0 || rk_kv_op_is_read(c.op))
		return false;
	if (c.op != RK_KV_BATCH)
		return keys_span(r, &c, &first, &any) || (first == 0 && any);
	while (rk_kv_arg_next(&c, &off, &p, &l) == 0) {
		if (rk_kv_cmd_decode(p, l, &sub) != 0)
			return false;
		if (keys_span(r, &sub, &first, &any))
			return true;
	}
	return first == 0 && any;
}

/* The descriptors an answer carries, into the node's range cache. */
static void learn(struct rk_client_router *r, const struct rk_net_resp *resp)
{
	for (uint32_t i = 0; i < resp->n_descs && r->env.learn != NULL; i++)
		r->env.learn(r->env.arg, resp->descs[i], resp->desc_lens[i]);
}

/* Batch o, refused at apply with its keys in two ranges while an attempt
 * of it was open, is held (holding, parked). While an attempt is on its
 * way unanswered it waits for that answer, or its deadline. Once every
 * open attempt was answered UNKNOWN (none will be answered again) it is
 * sent again under its own number, to its first key's range, after
 * RETRY_MS (on_timer: proving). That attempt's answer settles the earlier
 * ones: its reply if one applied (the session check comes before the
 * span check at apply, and a range's records go to both halves of a
 * split and into a merge); OUTSIDE if none did, and then none ever will,
 * so the batch goes back to its caller (RESPLIT) at once instead of
 * -TIMEOUT at its deadline. Why none will: an attempt answered UNKNOWN
 * was proposed, if at all, by a leader whose term had ended when it
 * answered (it lost leadership, or a later entry replaced it); the
 * proving one is proposed after that answer, in a later term. In one
 * range's log an old entry then either comes before the proving one
 * (applied first: a record it meets) or never commits. Elsewhere, an old
 * entry applies only where its range holds all its keys again, after a
 * merge entry in its log, of a term not above its own: proposed before
 * the answer, so the merged-away range was frozen (and answers
 * NOT_LEADER, not OUTSIDE) before the proving attempt left. */
static void hold(struct rk_client_router *r, struct op *o)
{
	o->holding = true;
	o->parked = true;
	o->next_at = o->open > o->unknowns ? o->deadline : now_ms(r) + RETRY_MS;
}

/* on_timer for a held batch whose next_at passed (before its deadline). */
static void resend_held(struct rk_client_router *r, struct op *o)
{
	if (o->open > o->unknowns) { /* one on its way: wait for it */
		o->parked = true;
		o->next_at = o->deadline;
		return;
	}
	r->st.held_resends++;
	o->proving = true;
	attempt(r, o, 0);
}

/* NO_RANGE, MISMATCH or OUTSIDE: certainly not applied by this attempt.
 * The node learns what the answer says and o goes where its cache points
 * now, at once while o's redirects are few, else after RETRY_MS; a batch
 * refused at apply that now spans ranges goes back to its caller
 * (RK_CLIENT_RESPLIT, above) if no other attempt of it may still apply. */
static void redirect(struct rk_client_router *r, struct op *o,
		     const struct rk_net_resp *resp)
{
	r->st.retries++;
	r->st.redirects++;
	learn(r, resp);
	if (resp->status == RK_NET_RESP_NO_RANGE) {
		o->lost = true;
		if (o->range != 0 && r->env.absent != NULL)
			r->env.absent(r->env.arg, o->range, o->target);
	}
	if (resp->status == RK_NET_RESP_OUTSIDE && batch_spans(r, o)) {
		if (o->open == 0) {
			r->st.resplits++;
			op_finish(r, o, RK_CLIENT_RESPLIT, NULL, 0);
			return;
		}
		/* Sending it again would open one more attempt, whose answer
		 * would again leave one open: wait for the open one's (or,
		 * each answered UNKNOWN, prove them: hold). */
		hold(r, o);
		return;
	}
	if (expired(r, o))
		return;
	/* Nothing learned from the answer: the index may know. */
	if (resp->n_descs == 0 && index_lookup(r, o, true))
		return;
	if (++o->redirects > REDIRECT_BURST) {
		r->st.redirect_parks++;
		park(r, o);
		return;
	}
	attempt(r, o, 0);
}

void rk_client_on_resp(struct rk_client_router *r, const struct rk_net_resp *resp)
{
	struct op *o = r->hash != NULL ? *slot(r, resp->id) : NULL;

	if (o == NULL)
		return; /* it gave up */
	o->last = (int8_t)(resp->status <= RK_NET_RESP_OUTSIDE ? (int)resp->status : -1);
	if (resp->status == RK_NET_RESP_UNKNOWN && o->open > o->unknowns)
		o->unknowns++;
	if (o->open > 0 && (resp->status == RK_NET_RESP_NOT_LEADER ||
			    resp->status == RK_NET_RESP_NO_RANGE ||
			    resp->status == RK_NET_RESP_MISMATCH ||
			    resp->status == RK_NET_RESP_OUTSIDE))
		o->open--;
	if (o->awaiting) {
		if (resp->status != RK_NET_RESP_OK && resp->status != RK_NET_RESP_REFUSED &&
		    o->open > 0) {
			await_settled(r, o);
			return; /* another attempt is still open */
		}
		o->awaiting = false;
		o->parked = false;
	}
	if (o->holding) {
		bool proof = o->proving && resp->status == RK_NET_RESP_OUTSIDE;

		o->proving = false;
		if (resp->status == RK_NET_RESP_OK || resp->status == RK_NET_RESP_REFUSED) {
			op_finish(r, o, (int)resp->status, resp->reply, resp->len);
		} else if ((o->open == 0 && resp->status != RK_NET_RESP_UNKNOWN) || proof) {
			r->st.resplits++;
			op_finish(r, o, RK_CLIENT_RESPLIT, NULL, 0);
		} else {
			learn(r, resp);
			hold(r, o);
		}
		return;
	}
	if (o->parked)
		return; /* an older attempt's late answer */
	switch (resp->status) {
	case RK_NET_RESP_OK:
	case RK_NET_RESP_REFUSED:
		if (o->write && resp->len == strlen(RK_KV_DUPLICATE_REPLY) &&
		    memcmp(resp->reply, RK_KV_DUPLICATE_REPLY, resp->len) == 0)
			duplicate(r, o);
		op_finish(r, o, (int)resp->status, resp->reply, resp->len);
		return;
	case RK_NET_RESP_NOT_LEADER:
		r->st.retries++;
		if (expired(r, o))
			return;
		if (resp->leader != 0 && resp->leader != o->target)
			attempt(r, o, resp->leader);
		else
			park(r, o);
		return;
	case RK_NET_RESP_NO_RANGE:
	case RK_NET_RESP_MISMATCH:
	case RK_NET_RESP_OUTSIDE:
		redirect(r, o, resp);
		return;
	default: /* UNKNOWN */
		r->st.retries++;
		if (!expired(r, o))
			park(r, o);
		return;
	}
}

/* Whether o's range is now led by another node than the one o was sent
 * to (a leader is known). */
static bool moved(struct rk_client_router *r, struct op *o)
{
	uint64_t l = o->range != 0 ? r->env.leader_of(r->env.arg, o->range) : 0;

	return l != 0 && l != o->target;
}

static void on_timer(uv_timer_t *t)
{
	struct rk_client_router *r = t->data;
	uint64_t now = now_ms(r);
	struct op *o, *next;

	for (o = r->head; o != NULL; o = next) {
		next = o->next;
		if (now < o->next_at && now < o->deadline) {
			/* Sent a while ago, and its range has a new leader by now
			 * (the old one died or stepped down with it in flight):
			 * resend there now rather than after RESEND_MS. Safe as
			 * any resend: the same sequence number is answered from
			 * the range's session record if it applied. Not a
			 * held batch's proving attempt: one attempt of it may
			 * be on its way at a time (resend_held). */
			if (!o->parked && !o->holding && now + RESEND_MS >= o->next_at + STALE_MS &&
			    moved(r, o)) {
				r->st.retries++;
				attempt(r, o, 0);
			}
			continue;
		}
		if (expired(r, o))
			continue;
		if (o->holding) {
			resend_held(r, o);
			continue;
		}
		if (!o->parked)
			r->st.retries++; /* no answer in time: resend */
		attempt(r, o, 0);
	}
	/* Nothing in flight: the timer sleeps until the next submit (a timer
	 * every 10 ms was most of an idle node's loop wakeups). */
	if (r->head == NULL)
		uv_timer_stop(t);
}

/* ---- the interface ---------------------------------------------------------------- */

int rk_client_router_new(uv_loop_t *loop, const struct rk_client_env *env,
			 uint32_t timeout_ms, struct rk_client_router **rp)
{
	struct rk_client_router *r = calloc(1, sizeof(*r));
	struct timespec ts;

	*rp = NULL;
	if (r == NULL || table_grow(r) != 0) {
		free(r);
		return RK_ENOMEM;
	}
	r->loop = loop;
	r->env = *env;
	r->spans = env->spans != NULL ? env->spans(env->arg) : 0;
	r->timeout_ms = timeout_ms ? timeout_ms : 5000;
	/* One session per process: the node id and the start time in
	 * microseconds cannot repeat for this node. */
	clock_gettime(CLOCK_REALTIME, &ts);
	r->session = (env->self << 48) ^
		     ((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	if (r->session == 0)
		r->session = 1;
	r->next_seq = 1;
	r->next_id = 1;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_timer, TICK_MS, TICK_MS);
	*rp = r;
	return 0;
}

static void free_router(uv_handle_t *h)
{
	free(h->data);
}

void rk_client_router_close(struct rk_client_router *r)
{
	/* The answers below may submit more (a connection's next batch):
	 * refused, so that nothing is sent while the node shuts down. */
	r->closing = true;
	while (r->head != NULL)
		give_up(r, r->head);
	free(r->hash);
	r->hash = NULL;
	free(r->wl);
	r->wl = NULL;
	uv_close((uv_handle_t *)&r->timer, free_router);
}

/* The list of range's writes (range 0: keys no range is known for). */
static struct wlist *wl_slot(struct wlist *t, size_t cap, uint64_t range)
{
	size_t i = (size_t)(range * 0x9e3779b97f4a7c15ull >> 17) & (cap - 1);

	while (t[i].range != range && t[i].range != UINT64_MAX)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static struct wlist *wlist_of(struct rk_client_router *r, uint64_t range)
{
	struct wlist *l = wl_slot(r->wl, r->wcap, range);

	if (l->range == range)
		return l;
	l->range = range;
	l->sent = 0;
	l->head = l->tail = NULL;
	r->wn++;
	return l;
}

/* Keeps the range table under half full; lists move with their ops. */
static int wl_reserve(struct rk_client_router *r)
{
	size_t cap = r->wcap ? 2 * r->wcap : 256;
	struct wlist *t, *old = r->wl;

	if (2 * (r->wn + 1) <= r->wcap)
		return 0;
	t = malloc(cap * sizeof(*t));
	if (t == NULL)
		return RK_ENOMEM;
	for (size_t i = 0; i < cap; i++)
		t[i].range = UINT64_MAX;
	for (size_t i = 0; i < r->wcap; i++) {
		if (old[i].range == UINT64_MAX)
			continue;
		struct wlist *l = wl_slot(t, cap, old[i].range);
		*l = old[i];
		for (struct op *o = l->head; o != NULL; o = o->wnext)
			o->wl = l;
	}
	free(old);
	r->wl = t;
	r->wcap = cap;
	return 0;
}

int rk_client_submit(struct rk_client_router *r, const uint8_t *cmd,
		     size_t len, rk_client_done_fn done, void *arg)
{
	struct rk_kv_cmd c;
	struct op *o;

	if (r->closing)
		return RK_ESTOPPED;
	if (rk_kv_cmd_decode(cmd, len, &c) != 0)
		return RK_EINVAL;
	if ((2 * (r->n + 1) > r->hcap && table_grow(r) != 0) || wl_reserve(r) != 0)
		return RK_ENOMEM;
	o = malloc(sizeof(*o) + len); /* the command right after it */
	if (o == NULL)
		return RK_ENOMEM;
	memset(o, 0, sizeof(*o));
	o->last = -1;
	o->cmd = (uint8_t *)(o + 1);
	memcpy(o->cmd, cmd, len);
	o->len = len;
	(void)rk_kv_cmd_decode(o->cmd, len, &c);
	(void)rk_kv_cmd_key(&c, &o->key, &o->klen);
	o->id = r->next_id++;
	o->write = !rk_kv_op_is_read(cmd[0]);
	o->done = done;
	o->arg = arg;
	o->deadline = now_ms(r) + r->timeout_ms;
	*slot(r, o->id) = o;
	r->n++;
	o->prev = r->tail;
	if (r->tail) r->tail->next = o; else r->head = o;
	r->tail = o;
	{
		const uint8_t *end;
		size_t elen;
		o->range = r->env.range_of(r->env.arg, o->key, o->klen, &end, &elen);
	}
	if (o->write) {
		struct wlist *l = wlist_of(r, o->range);
		o->seq = r->next_seq++;
		o->wl = l;
		o->wprev = l->tail;
		if (l->tail) l->tail->wnext = o; else l->head = o;
		l->tail = o;
	}
	r->st.ops++;
	r->st.inflight++;
	if (!uv_is_active((uv_handle_t *)&r->timer))
		uv_timer_start(&r->timer, on_timer, TICK_MS, TICK_MS);
	/* The node answers from its own processing, never inside send, so
	 * done cannot run before this returns (nor inside env.lookup). The
	 * range is known and not a guess: the first attempt goes to its
	 * leader without looking it up again. */
	if (index_lookup(r, o, o->range == 0))
		return 0;
	attempt(r, o, o->range != 0 && !o->indexed ? r->env.leader_of(r->env.arg, o->range) : 0);
	return 0;
}

void rk_client_router_wake(struct rk_client_router *r)
{
	uint64_t now = now_ms(r);

	for (struct op *o = r->head; o != NULL; o = o->next)
		if (o->parked && o->indexed && !o->holding && o->next_at > now)
			o->next_at = now;
}

uint64_t rk_client_router_now(struct rk_client_router *r)
{
	return now_ms(r);
}

uint32_t rk_client_router_timeout(const struct rk_client_router *r)
{
	return r->timeout_ms;
}

uint64_t rk_client_range_of(struct rk_client_router *r, const uint8_t *key,
			    size_t klen, const uint8_t **endp, size_t *elenp)
{
	return r->env.range_of(r->env.arg, key, klen, endp, elenp);
}

void rk_client_router_stats(const struct rk_client_router *r,
			    struct rk_client_stats *sp)
{
	*sp = r->st;
}
