/*
 * Serving client requests on the ranges this node leads (the router's
 * view of this node, and its start, are in route.c).
 *
 * A request (from this node's router or forwarded by another node's) names
 * a range and carries one encoded command (src/kv). On the leader:
 *
 *  - writes of one range that arrive in one loop turn become one raft
 *    entry, proposed when the range is processed; the proposal remembers
 *    (index, term) and who waits for each command. When the entry at that
 *    index is applied with that term, each waiter gets its command's
 *    result; with another term (leadership was lost and the entry
 *    replaced) the outcome is unknown to us, and the waiter is told to
 *    retry with the same sequence number (the session record answers a
 *    duplicate). Answers leave only once the apply batch is committed, so a
 *    client never sees an answer whose effect a read could miss.
 *  - reads wait for a read barrier (rk_raft_read_index: a lease, or a
 *    heartbeat round) and then for the applied state visible to readers to
 *    reach its index; they are then served from the store. All reads
 *    waiting in one turn share one barrier.
 *
 * Anywhere else the answer is NOT_LEADER with the leader as a hint:
 * certainly not applied, so the router simply goes there.
 *
 * While the node's data disk is below --min-free-space (space.h), writes
 * other than DEL are refused with a NOSPACE error instead of proposed:
 * certainly not applied, and the client sees why.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autosplit.h"
#include "kv.h"
#include "log.h"
#include "node_int.h"
#include "quiesce.h"
#include "reads.h"
#include "serve.h"
#include "size.h"

#define MOD "serve"
/* A turn's writes to one range become one entry up to this many bytes,
 * then another: under a deep backlog a turn may gather more than one
 * entry may carry (max_entry_bytes), and each entry is one apply batch. */
#define ENTRY_SPLIT_BYTES (1u << 20)

struct waiter {
	uint64_t origin, id;
};

struct proposal {
	uint64_t index, term;
	struct waiter *w; /* one per command of the entry, in order */
	uint32_t n;
};

struct read {
	uint64_t origin, id;
	uint8_t *cmd;
	size_t len;
	uint64_t ctx;   /* its barrier, 0 until asked */
	uint64_t index; /* released at, 0 until released */
};

struct ack {
	uint64_t origin, id;
	uint32_t status;
	size_t off, len; /* the reply, in the replica's ack_bytes */
};

struct rk_serve {
	/* The entry being built this turn. */
	struct rk_buf entry;
	struct waiter *bw;
	size_t bn, bcap;
	/* Proposed entries not yet applied, by index. The apply transaction
	 * (rk_serve_apply_begin) takes them by moving pdone; they are freed
	 * at its commit, and an abort puts them back by resetting it. */
	struct proposal *props;
	size_t np, pcap, pdone;
	/* Reads, oldest first. */
	struct read *reads;
	size_t nr, rcap;
	uint64_t read_ctx;
	/* Answers waiting for the apply batch to be committed; an abort of the
	 * apply transaction truncates them to the marks of its begin. */
	struct ack *acks;
	size_t na, acap;
	struct rk_buf ack_bytes;
	size_t na_mark, bytes_mark;
	/* Stamps this leader's entries (the range's replicated clock). */
	struct rk_kv_clock clock;
};

static struct rk_serve *serve_of(struct rk_replica *r)
{
	if (r->sv == NULL) {
		r->sv = calloc(1, sizeof(*r->sv));
		if (r->sv != NULL) {
			rk_buf_init(&r->sv->entry);
			rk_buf_init(&r->sv->ack_bytes);
		}
	}
	return r->sv;
}

/* The leader's clock for stamping entries (rk_kv_clock_stamp): monotonic,
 * so a wall-clock step on this node cannot move the range's replicated
 * clock. It stops while the machine is suspended: the replicated clock
 * then runs slow, which only keeps sessions longer. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- answering -------------------------------------------------------------- */

/* Hands an answer to this node's router, unless the fault injection of
 * tests (POST /api/v1/debug/drop-answers) loses it: a lost answer to a
 * write that applied is what exactly-once must survive. */
void rk_serve_to_router(struct rk_node *n, const struct rk_net_resp *resp)
{
	if (n->router == NULL)
		return;
	if (n->drop_answers_pct > 0 && resp->status == RK_NET_RESP_OK) {
		n->drop_rng = n->drop_rng * 6364136223846793005ull + 1442695040888963407ull;
		if ((n->drop_rng >> 33) % 100 < n->drop_answers_pct) {
			n->answers_dropped++;
			return;
		}
	}
	rk_client_on_resp(n->router, resp);
}

static void answer_resp(struct rk_node *n, uint64_t origin,
			const struct rk_net_resp *resp)
{
	if (origin == n->cfg.node_id) {
		rk_serve_to_router(n, resp);
		return;
	}
	struct rk_peer *p = rk_peer_find(n, origin);
	if (p != NULL)
		rk_net_batch_add_resp(&p->batch, resp);
}

void rk_serve_answer(struct rk_node *n, uint64_t origin, uint64_t id,
		     uint32_t status, uint64_t leader, const void *reply, size_t len)
{
	struct rk_net_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.id = id;
	resp.status = status;
	resp.leader = leader;
	resp.reply = reply;
	resp.len = len;
	answer_resp(n, origin, &resp);
}

/* serve.h */
const struct rk_desc *rk_serve_desc_of(struct rk_node *n, uint64_t range,
					struct rk_rcache_entry *e, struct rk_desc *view)
{
	struct rk_replica *r = rk_table_get(&n->tab, range);

	if (r != NULL && r->desc.n_reps > 0)
		return &r->desc;
	if (e == NULL && (e = rk_rcache_get(&n->rcache, range)) == NULL)
		return NULL;
	rk_rcache_entry_desc(e, view);
	return view;
}

/* Answers a request that went to the wrong place (NO_RANGE, MISMATCH:
 * certainly not applied) with the descriptors this node knows for key and
 * for the range the request named, so that the router goes where the key
 * is now (client.h). An encoding that fails for want of memory leaves a
 * descriptor out: the router then asks again or elsewhere. */
void rk_serve_redirect(struct rk_node *n, uint64_t origin, uint64_t id,
		       uint32_t status, uint64_t range, const uint8_t *key, size_t klen)
{
	struct rk_rcache_entry *e =
		key != NULL ? rk_rcache_find(&n->rcache, key, klen) : NULL;
	uint64_t ids[2] = {e != NULL ? e->range : 0, 0};
	size_t off[3] = {0};
	struct rk_net_resp resp;
	struct rk_buf b;
	uint32_t k = 0;

	if (range != ids[0])
		ids[1] = range;
	memset(&resp, 0, sizeof(resp));
	resp.id = id;
	resp.status = status;
	rk_buf_init(&b);
	for (int i = 0; i < 2; i++) {
		struct rk_desc view;
		const struct rk_desc *d =
			ids[i] != 0 ? rk_serve_desc_of(n, ids[i], i == 0 ? e : NULL, &view) : NULL;
		if (d == NULL)
			continue;
		if (rk_desc_encode(d, &b) != 0 || b.oom) {
			b.len = off[k];
			b.oom = false;
			continue;
		}
		off[++k] = b.len;
	}
	for (uint32_t i = 0; i < k; i++) {
		resp.descs[i] = (const uint8_t *)b.p + off[i];
		resp.desc_lens[i] = off[i + 1] - off[i];
	}
	resp.n_descs = k;
	n->stats.redirects++;
	answer_resp(n, origin, &resp);
	rk_buf_free(&b);
}

static void answer_not_leader(struct rk_node *n, struct rk_replica *r,
			      uint64_t origin, uint64_t id)
{
	uint64_t lead = rk_replica_leader_node(r);

	rk_serve_answer(n, origin, id, RK_NET_RESP_NOT_LEADER,
			lead == n->cfg.node_id ? 0 : lead, NULL, 0);
}

static void ack_push(struct rk_serve *sv, uint64_t origin, uint64_t id,
		     uint32_t status, const uint8_t *reply, size_t len)
{
	struct ack *a;

	if (rk_grow((void **)&sv->acks, &sv->acap, sv->na, sizeof(*sv->acks)) != 0)
		return; /* the router resends and the session answers */
	a = &sv->acks[sv->na];
	a->off = sv->ack_bytes.len;
	rk_buf_append(&sv->ack_bytes, reply, len);
	if (sv->ack_bytes.oom)
		return;
	a->origin = origin;
	a->id = id;
	a->status = status;
	a->len = len;
	sv->na++;
}

/* ---- requests ----------------------------------------------------------------- */

static void propose_entry(struct rk_node *n, struct rk_replica *r);

void rk_serve_request(struct rk_node *n, uint64_t origin, const struct rk_net_req *req)
{
	struct rk_replica *r = rk_table_get(&n->tab, req->range);
	struct rk_serve *sv;
	struct rk_kv_cmd c;
	const uint8_t *key = NULL;
	size_t klen = 0;

	if (rk_kv_cmd_decode(req->cmd, req->len, &c) != 0 || c.op == RK_KV_CHECK ||
	    c.op == RK_KV_SPLIT || rk_kv_op_is_merge(c.op)) {
		static const char e[] = "-ERR malformed command\r\n";
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, e, sizeof(e) - 1);
		return;
	}
	if (rk_kv_cmd_key(&c, &key, &klen) != 0)
		key = NULL, klen = 0; /* no key: applying answers it */
	/* Not here (never was, not yet initialized, or removed): say where
	 * the key and the range are as far as this node knows. */
	if (r == NULL || r->removing || r->desc.n_reps == 0 || rk_replica_gone(r)) {
		rk_serve_redirect(n, origin, req->id, RK_NET_RESP_NO_RANGE, req->range,
				key, klen);
		return;
	}
	if (!rk_raft_is_leader(&r->raft) || r->installing) {
		answer_not_leader(n, r, origin, req->id);
		return;
	}
	/* Frozen for a merge: nothing is served, read or write, whoever
	 * leads; no leader hint, so the router parks and retries (merge.h). */
	if (r->sessions.frozen != 0) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_NOT_LEADER, 0, NULL, 0);
		return;
	}
	/* The check at proposal, on the leader (a follower's descriptor may
	 * lag): the sender's generation is not the range's, or a write's
	 * key is outside the span (a read's is checked where it is served,
	 * by rk_kv_read). A sender ahead of this leader (a change the leader
	 * has not applied yet) waits: no leader hint, it parks and retries. */
	if (req->generation > r->desc.generation) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_NOT_LEADER, 0, NULL, 0);
		return;
	}
	if ((req->generation != 0 && req->generation != r->desc.generation) ||
	    (!rk_kv_op_is_read(c.op) && klen > 0 && !rk_desc_contains(&r->desc, key, klen))) {
		rk_serve_redirect(n, origin, req->id, RK_NET_RESP_MISMATCH, req->range,
				key, klen);
		return;
	}
	if ((sv = serve_of(r)) == NULL) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
		return;
	}
	if (!rk_kv_op_is_read(c.op) && c.op != RK_KV_DEL && n->space.no_space &&
	    !rk_kv_batch_all(&c, RK_KV_DEL)) {
		struct rk_buf e;
		rk_buf_init(&e);
		if (rk_space_refuse_write(n, &e) && !e.oom)
			rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, e.p, e.len);
		else /* no memory for the reason: certainly not applied either */
			answer_not_leader(n, r, origin, req->id);
		rk_buf_free(&e);
		return;
	}
	if (rk_kv_op_is_read(c.op)) {
		struct read *rd;
		if (rk_grow((void **)&sv->reads, &sv->rcap, sv->nr, sizeof(*sv->reads)) != 0 ||
		    (sv->reads[sv->nr].cmd = malloc(req->len)) == NULL) {
			rk_serve_answer(n, origin, req->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
			return;
		}
		rd = &sv->reads[sv->nr++];
		memcpy(rd->cmd, req->cmd, req->len);
		rd->len = req->len;
		rd->origin = origin;
		rd->id = req->id;
		rd->ctx = 0;
		rd->index = 0;
	} else {
		if (sv->bn > 0 && sv->entry.len + req->len > ENTRY_SPLIT_BYTES)
			propose_entry(n, r);
		if (rk_grow((void **)&sv->bw, &sv->bcap, sv->bn, sizeof(*sv->bw)) != 0) {
			rk_serve_answer(n, origin, req->id, RK_NET_RESP_UNKNOWN, 0, NULL, 0);
			return;
		}
		if (sv->bn == 0) {
			rk_buf_reset(&sv->entry);
			rk_kv_entry_begin(&sv->entry,
					  rk_kv_clock_stamp(&sv->clock, rk_raft_term(&r->raft),
							    r->sessions.now_ms, mono_ms()));
		}
		rk_kv_entry_add(&sv->entry, req->cmd, req->len);
		sv->bw[sv->bn].origin = origin;
		sv->bw[sv->bn].id = req->id;
		sv->bn++;
		n->stats.proposals++;
	}
	if (r->asleep)
		rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
}

/* Proposes the writes gathered so far as one entry (none: nothing), and
 * answers them at once if it cannot be proposed. */
static void propose_entry(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;
	uint64_t index = 0;
	int rc;

	if (sv->bn > 0) {
		rk_kv_entry_finish(&sv->entry, (uint32_t)sv->bn);
		rc = sv->entry.oom ? RK_ENOMEM
				   : rk_raft_propose(&r->raft, sv->entry.p,
						     (uint32_t)sv->entry.len, &index);
		if (rc == 0 &&
		    rk_grow((void **)&sv->props, &sv->pcap, sv->np, sizeof(*sv->props)) == 0) {
			struct proposal *p = &sv->props[sv->np++];
			p->index = index;
			p->term = rk_raft_term(&r->raft);
			p->w = sv->bw;
			p->n = (uint32_t)sv->bn;
			sv->bw = NULL;
			sv->bcap = 0;
		} else {
			for (size_t i = 0; i < sv->bn; i++) {
				if (rc == RK_ENOTLEADER)
					answer_not_leader(n, r, sv->bw[i].origin, sv->bw[i].id);
				else if (rc == RK_ETOOBIG) {
					static const char e[] = "-ERR request too large for one range\r\n";
					rk_serve_answer(n, sv->bw[i].origin, sv->bw[i].id,
							RK_NET_RESP_REFUSED, 0, e, sizeof(e) - 1);
				} else /* busy, or proposed but not tracked: retry */
					rk_serve_answer(n, sv->bw[i].origin, sv->bw[i].id,
							RK_NET_RESP_UNKNOWN, 0, NULL, 0);
			}
		}
		sv->bn = 0;
		rk_buf_reset(&sv->entry);
	}
}

/* Proposes the turn's entry and asks for the turn's read barrier. Called
 * for every dirty replica before its ready is taken. */
void rk_serve_flush(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;
	int rc;

	if (sv == NULL)
		return;
	propose_entry(n, r);
	if (sv->nr > 0 && sv->reads[sv->nr - 1].ctx == 0) {
		uint64_t ctx = ++sv->read_ctx;
		rc = rk_raft_read_index(&r->raft, ctx);
		for (size_t i = 0; i < sv->nr; i++)
			if (sv->reads[i].ctx == 0)
				sv->reads[i].ctx = rc == 0 ? ctx : UINT64_MAX;
		if (rc != 0)
			rk_serve_reads(n, r); /* answers them: not the leader */
	}
}

/* ---- reads ------------------------------------------------------------------- */

/* A ready was taken: the reads it releases get their index, and reads
 * are served or failed (a step down fails those still waiting). */
void rk_serve_ready_reads(struct rk_node *n, struct rk_replica *r,
			  const struct rk_raft_ready *rd)
{
	struct rk_serve *sv = r->sv;
	const struct rk_raft_read_state *rs = rd->read_states;

	if (sv == NULL)
		return;
	for (size_t k = 0; k < rd->n_read_states; k++)
		for (size_t i = 0; i < sv->nr; i++)
			if (sv->reads[i].index == 0 && sv->reads[i].ctx <= rs[k].ctx)
				sv->reads[i].index = rs[k].index;
	rk_serve_reads(n, r);
}

/* Hands the released reads the visible state has caught up with to the
 * reader threads (reads.c), one job for the replica's pass; answers
 * NOT_LEADER to those whose barrier failed or whose leader stepped down. */
void rk_serve_reads(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;
	bool leader = rk_raft_is_leader(&r->raft);
	struct rk_read_job *job = NULL;
	size_t j = 0;

	if (sv == NULL || sv->nr == 0)
		return;
	for (size_t i = 0; i < sv->nr; i++) {
		struct read *rd = &sv->reads[i];
		bool serve = rd->index != 0 && rd->index <= r->visible && !r->installing;
		if (!serve && (rd->ctx == UINT64_MAX || (!leader && rd->index == 0))) {
			answer_not_leader(n, r, rd->origin, rd->id);
			free(rd->cmd);
			continue;
		}
		if (serve && r->sessions.frozen != 0) {
			/* Frozen since the read came (merge.h): no leader hint. */
			rk_serve_answer(n, rd->origin, rd->id, RK_NET_RESP_NOT_LEADER, 0, NULL, 0);
			free(rd->cmd);
			continue;
		}
		if (!serve) {
			sv->reads[j++] = *rd;
			continue;
		}
		int rc = rk_reads_add(n, r, &job, rd->origin, rd->id, rd->cmd, rd->len);
		if (rc != 0) {
			if (rc != RK_EEXIST)
				rk_serve_answer(n, rd->origin, rd->id, RK_NET_RESP_UNKNOWN, 0,
						NULL, 0);
			free(rd->cmd);
			continue;
		}
		rk_own_read(n, r);
		rk_autosplit_touch(n, r);
		rk_rfig_touch(n, r);
	}
	sv->nr = j;
	rk_reads_submit(n, job);
}

/* ---- applying ------------------------------------------------------------------ */

struct apply_arg {
	struct rk_serve *sv;
	struct proposal *p; /* the proposal of this entry, or NULL */
	uint32_t cmds;      /* commands applied (the range's load) */
};

static void on_result(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	struct apply_arg *a = arg;

	a->cmds++;
	if (a->p != NULL && no < a->p->n)
		ack_push(a->sv, a->p->w[no].origin, a->p->w[no].id, RK_NET_RESP_OK,
			 resp, len);
}

/* The check at apply (rk_kv_applier.outside): the command was not applied
 * on any replica, nor before under its sequence number (the session
 * look-up came first); its waiter is answered OUTSIDE once the batch is
 * committed, with the descriptors for the key (kept as the ack's bytes):
 * the router may then send a batch's commands on in parts. */
static void on_outside(void *arg, uint32_t no, const uint8_t *key, size_t klen)
{
	struct apply_arg *a = arg;

	if (a->p != NULL && no < a->p->n)
		ack_push(a->sv, a->p->w[no].origin, a->p->w[no].id, RK_NET_RESP_OUTSIDE,
			 key, klen);
}

/* A command applied to a frozen range (rk_kv_applier.frozen): applied by
 * no replica, recorded in no session; its waiter is told NOT_LEADER with
 * no leader, so its router retries (on the merged range once the right
 * is gone, or here again if the merge is abandoned). */
static void on_frozen(void *arg, uint32_t no)
{
	struct apply_arg *a = arg;

	if (a->p != NULL && no < a->p->n)
		ack_push(a->sv, a->p->w[no].origin, a->p->w[no].id, RK_NET_RESP_NOT_LEADER,
			 NULL, 0);
}

/* Takes the proposals below index (their entries were replaced: unknown
 * outcome) and returns the one at index, if any, without taking it. */
static struct proposal *take_proposal(struct rk_serve *sv, uint64_t index,
				      uint64_t term, bool *matchp)
{
	*matchp = false;
	while (sv->pdone < sv->np && sv->props[sv->pdone].index < index) {
		struct proposal *p = &sv->props[sv->pdone];
		for (uint32_t i = 0; i < p->n; i++)
			ack_push(sv, p->w[i].origin, p->w[i].id, RK_NET_RESP_UNKNOWN,
				 NULL, 0);
		sv->pdone++;
	}
	if (sv->pdone == sv->np || sv->props[sv->pdone].index != index)
		return NULL;
	*matchp = sv->props[sv->pdone].term == term;
	return &sv->props[sv->pdone];
}

/* Fault injection of tests (struct rk_test_hooks): after apply_skip
 * commands, the next apply_fail ones fail as a store read error would. */
static int apply_fault(void *arg)
{
	struct rk_test_hooks *h = &((struct rk_node *)arg)->hooks;

	if (h->apply_fail == 0)
		return 0;
	if (h->apply_skip > 0) {
		h->apply_skip--;
		return 0;
	}
	if (h->apply_fail != UINT64_MAX)
		h->apply_fail--;
	h->apply_failed++;
	return RK_EIO;
}

int rk_serve_apply(struct rk_node *n, struct rk_replica *r,
		   const struct rk_raft_entry *e, struct rk_store_batch *b)
{
	struct rk_serve *sv = r->sv; /* only where this node proposed or served */
	struct rk_kv_applier *ap = &n->applier;
	struct apply_arg a = {sv, NULL, 0};
	struct rk_span_apply sa;
	bool match = false;
	int64_t delta0;
	uint64_t unsure0, changes0, dups0;
	int rc;

	a.p = sv != NULL ? take_proposal(sv, e->index, e->term, &match) : NULL;
	if (a.p != NULL && (!match || e->len == 0)) {
		for (uint32_t i = 0; i < a.p->n; i++)
			ack_push(sv, a.p->w[i].origin, a.p->w[i].id, RK_NET_RESP_UNKNOWN,
				 NULL, 0);
		sv->pdone++;
		a.p = NULL;
	}
	if (r->split_lead_ms != 0 && e->index > RK_RAFT_INIT_INDEX)
		rk_split_served(n, r);
	if (e->len == 0 || e->data[0] == 0)
		return 0; /* a new leader's empty entry, or the load driver's */
	ap->reader = n->reader;
	ap->batch = b;
	ap->sessions = &r->sessions;
	ap->start = r->desc.start;
	ap->slen = r->desc.slen;
	ap->end = r->desc.end;
	ap->elen = r->desc.elen;
	ap->fault = n->hooks.enabled ? apply_fault : NULL;
	ap->fault_arg = n;
	rk_check_apply_at(n, r, e->index, ap);
	ap->outside = on_outside;
	sa.n = n;
	sa.r = r;
	sa.b = b;
	sa.ap = ap;
	sa.index = e->index;
	ap->split = rk_split_apply;
	ap->split_arg = &sa;
	ap->merge = rk_merge_apply;
	ap->merge_arg = &sa;
	ap->frozen = on_frozen;
	delta0 = ap->size_delta;
	unsure0 = ap->size_unsure;
	dups0 = ap->dups;
	changes0 = r->load.changes;
	rc = rk_kv_apply_entry(ap, e->data, e->len, on_result, &a);
	if (rc != 0 && rc != RK_EPROTO)
		return rc; /* the proposal stays for the retry; the caller aborts */
	/* A router sent a write whose sequence number its session had told
	 * the range it no longer waits for: a router's fault, which a client
	 * sees as an error; what it was, to trace it. Every replica applies
	 * the entry, and a router that keeps doing it would fill the log:
	 * one line a second at most, the rest counted in it and in
	 * rangekv_node_duplicate_writes_total. */
	if (ap->dups != dups0) {
		uint64_t held;

		n->stats.dup_writes += ap->dups - dups0;
		if (rk_log_limit_pass(&n->dup_log, uv_now(&n->loop), 1000, &held))
			rk_log_warn(MOD, "range %llu: entry %llu: %llu writes answered as duplicates, "
				    "the last of session %016llx, sequence %llu, below its first "
				    "incomplete %llu; %llu more entries with duplicates since the "
				    "last such line", (unsigned long long)r->range,
				    (unsigned long long)e->index, (unsigned long long)(ap->dups - dups0),
				    (unsigned long long)ap->dup_session, (unsigned long long)ap->dup_seq,
				    (unsigned long long)ap->dup_first, (unsigned long long)held);
	}
	rk_size_applied(n, r, ap->size_delta - delta0, ap->size_unsure - unsure0);
	if (rc == RK_EPROTO)
		rk_log_warn(MOD, "range %llu: entry %llu is not a command; skipped",
			    (unsigned long long)r->range, (unsigned long long)e->index);
	if (a.p != NULL)
		sv->pdone++;
	/* An apply that is undone and done again counts twice: rare, and a
	 * rate for people. */
	if (a.cmds > 0)
		rk_own_writes(n, r, a.cmds);
	if (a.cmds > 0 || r->load.changes != changes0) { /* its size or rate moved */
		rk_autosplit_touch(n, r);
		rk_rfig_touch(n, r);
	}
	return 0;
}

/* A replica's ready is about to apply. One applier serves the whole node:
 * a ready is applied at once, and what an earlier ready of the same range
 * wrote is committed before the next is taken (one ready in flight), so
 * the overlay only has to last through one ready (or one attempt at it:
 * a retry begins again with an empty overlay). */
void rk_serve_apply_begin(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	rk_kv_applier_reset(&n->applier);
	if (sv == NULL)
		return;
	sv->pdone = 0;
	sv->na_mark = sv->na;
	sv->bytes_mark = sv->ack_bytes.len;
}

void rk_serve_apply_commit(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	(void)n;
	if (sv == NULL || sv->pdone == 0)
		return;
	for (size_t i = 0; i < sv->pdone; i++)
		free(sv->props[i].w);
	memmove(sv->props, sv->props + sv->pdone,
		(sv->np - sv->pdone) * sizeof(*sv->props));
	sv->np -= sv->pdone;
	sv->pdone = 0;
}

/* The answers queued since the begin go (an OK among them would announce
 * an effect that is no longer in the batch), the proposals taken since go
 * back: applying the entries again answers their waiters as the first
 * attempt would have. */
void rk_serve_apply_abort(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	rk_kv_applier_reset(&n->applier);
	if (sv == NULL)
		return;
	sv->pdone = 0;
	sv->na = sv->na_mark;
	sv->ack_bytes.len = sv->bytes_mark;
	sv->ack_bytes.oom = false;
}

/* The apply batch is committed: answers leave, reads may be served. */
void rk_serve_persisted(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	if (sv == NULL)
		return;
	for (size_t i = 0; i < sv->na; i++) {
		struct ack *a = &sv->acks[i];
		const uint8_t *bytes = a->len ? (const uint8_t *)sv->ack_bytes.p + a->off : NULL;
		if (a->status == RK_NET_RESP_OUTSIDE) /* the bytes: its key */
			rk_serve_redirect(n, a->origin, a->id, a->status, r->range, bytes,
					a->len);
		else
			rk_serve_answer(n, a->origin, a->id, a->status, 0, bytes, a->len);
	}
	sv->na = 0;
	rk_buf_reset(&sv->ack_bytes);
	rk_serve_reads(n, r);
}

void rk_serve_abandon(struct rk_node *n, struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	if (sv == NULL)
		return;
	/* Commands buffered or proposed: their entries may still commit on
	 * the range's other replicas; the router retries them elsewhere with
	 * the same sequence (the session record answers a duplicate). */
	for (size_t i = 0; i < sv->bn; i++)
		rk_serve_answer(n, sv->bw[i].origin, sv->bw[i].id, RK_NET_RESP_UNKNOWN, 0,
				NULL, 0);
	sv->bn = 0;
	for (size_t k = sv->pdone; k < sv->np; k++)
		for (uint32_t i = 0; i < sv->props[k].n; i++)
			rk_serve_answer(n, sv->props[k].w[i].origin, sv->props[k].w[i].id,
					RK_NET_RESP_UNKNOWN, 0, NULL, 0);
	/* Reads were certainly not served here; those with the reader
	 * threads may read a span being cleared (reads.c). */
	rk_reads_void(n);
	for (size_t i = 0; i < sv->nr; i++)
		rk_serve_answer(n, sv->reads[i].origin, sv->reads[i].id,
				RK_NET_RESP_NOT_LEADER, 0, NULL, 0);
	sv->nr = 0;
}

void rk_serve_free(struct rk_replica *r)
{
	struct rk_serve *sv = r->sv;

	if (sv == NULL)
		return;
	for (size_t i = 0; i < sv->np; i++)
		free(sv->props[i].w);
	for (size_t i = 0; i < sv->nr; i++)
		free(sv->reads[i].cmd);
	rk_buf_free(&sv->ack_bytes);
	free(sv->props);
	free(sv->reads);
	free(sv->acks);
	free(sv->bw);
	rk_buf_free(&sv->entry);
	free(sv);
	r->sv = NULL;
}
