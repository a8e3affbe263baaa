/*
 * Range split on a node (split.h).
 */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_range.h"
#include "compact.h"
#include "crash.h"
#include "handoff.h"
#include "ids.h"
#include "plc.h"
#include "json.h"
#include "key.h"
#include "log.h"
#include "member.h"
#include "node_int.h"
#include "quiesce.h"
#include "split.h"

#define MOD "node"

/* ---- the right half's first campaign ----------------------------------------- */

/*
 * The right replica on the node that led the left campaigns at once, but
 * its vote requests usually reach the other nodes before they have applied
 * the split (they learn its commit with the left's next append or
 * heartbeat): there is no replica there yet to vote, the requests are
 * dropped, and the right half would wait a whole election timeout, its
 * keys unserved, before campaigning again. So it asks again every
 * CAMP_EVERY_TICKS until it or another replica leads, for at most two
 * election timeouts: while still the candidate, the same vote requests in
 * the same term (rk_raft_campaign_split_again: its term and vote are
 * durable, so they leave at once, without a group commit of their own,
 * which under load waited 70-110 ms behind the split batches); after it
 * lost, a new campaign. Each campaign is rk_raft_campaign_split's, from
 * the node that applied the split (split.h: no lease is left over the
 * right half there).
 */
#define CAMP_EVERY_TICKS 1

struct rk_split_camp {
	uint64_t range, began_ms, until_ms, next_ms;
};

static void camp_add(struct rk_node *n, uint64_t range)
{
	struct rk_split *sp = &n->split;
	uint64_t now = uv_now(&n->loop);
	struct rk_split_camp *c;

	if (rk_grow((void **)&sp->camps, &sp->cap_camps, sp->n_camps, sizeof(*sp->camps)) != 0)
		return; /* it campaigns again at its election timeout */
	c = &sp->camps[sp->n_camps++];
	c->range = range;
	c->began_ms = now;
	c->until_ms = now + 2ull * (uint64_t)n->ropts.election_tick * n->cfg.tick_ms;
	c->next_ms = now + CAMP_EVERY_TICKS * (uint64_t)n->cfg.tick_ms;
}

static void camps_run(struct rk_node *n)
{
	struct rk_split *sp = &n->split;
	uint64_t now = uv_now(&n->loop);
	size_t k = 0;

	for (size_t i = 0; i < sp->n_camps; i++) {
		struct rk_split_camp c = sp->camps[i];
		struct rk_replica *r = rk_table_get(&n->tab, c.range);

		if (r != NULL && rk_raft_leader(&r->raft) != 0)
			rk_hist_observe(&sp->led, (double)(now - c.began_ms) / 1000.0);
		if (r == NULL || r->removing || now >= c.until_ms ||
		    rk_raft_leader(&r->raft) != 0)
			continue; /* led (here or elsewhere), or given up */
		if (now >= c.next_ms) {
			(void)rk_raft_campaign_split_again(&r->raft);
			rk_node_wake(n, r);
			rk_node_mark_dirty(n, r);
			c.next_ms = now + CAMP_EVERY_TICKS * (uint64_t)n->cfg.tick_ms;
		}
		sp->camps[k++] = c;
	}
	sp->n_camps = k;
}

/* ---- votes that arrive early ------------------------------------------------- */

/*
 * The right half's first vote requests usually reach a follower before its
 * left replica has applied the split: there is no right replica yet, and
 * without this the request is dropped; the candidate asks again a tick
 * later (camps_run), and the vote is then persisted in a group commit of
 * its own, queued behind the split batches under load. Kept here instead,
 * the request is stepped into the right replica as the split creates it,
 * so its vote goes into the split's own synced batch and the answer leaves
 * with it: one storage round trip on the voter instead of two, and no
 * wait for the ask again. Only real votes (not pre-votes; a split's
 * campaign has none) addressed to a replica are kept, the newest
 * RK_SPLIT_EARLY_VOTES, each for an election timeout; what the request
 * would have got from a replica that existed, it gets now: the raft core
 * decides the vote (its log, its term, its inherited refusal).
 */
void rk_split_vote_early(struct rk_node *n, uint64_t range, uint64_t from_node,
			 const struct rk_raft_msg *m)
{
	struct rk_split *sp = &n->split;
	struct rk_split_early *e;

	if (m->type != RK_RAFT_MSG_VOTE || m->to == 0 || m->term == 0 || range == 0 ||
	    range >= RK_RANGE_RESERVED_FIRST)
		return;
	e = &sp->early[sp->early_next++ % RK_SPLIT_EARLY_VOTES];
	e->range = range;
	e->from_node = from_node;
	e->at_ms = uv_now(&n->loop);
	e->m = *m;
	e->m.entries = NULL;
	e->m.n_entries = 0;
	e->m.snapshot = NULL;
	sp->early_kept++;
}

/* rr, just set up as a right half (not campaigning), takes the vote
 * request kept for it, if any: its vote and term are then written with
 * the split (write_right). */
static void early_take(struct rk_node *n, struct rk_replica *rr)
{
	struct rk_split *sp = &n->split;
	uint64_t now = uv_now(&n->loop);
	uint64_t timeout = (uint64_t)n->ropts.election_tick * n->cfg.tick_ms;

	for (size_t i = 0; i < RK_SPLIT_EARLY_VOTES; i++) {
		struct rk_split_early *e = &sp->early[i];
		if (e->range != rr->range)
			continue;
		e->range = 0;
		if (now - e->at_ms > timeout || e->m.to != rr->rs.replica_id ||
		    rk_desc_on_node(&rr->desc, e->from_node) == NULL)
			continue; /* old, or not for this replica */
		if (rk_raft_step(&rr->raft, &e->m) != 0)
			continue;
		rk_raft_hard_state_taken(&rr->raft, &rr->rs.hs);
		n->proc.sync_wanted = true;
		sp->early_used++;
	}
}

/* ---- apply ------------------------------------------------------------------ */

/* The right replica's raft state and apply state into b: the same
 * transaction as the left's shrunk descriptor. */
static int write_right(struct rk_node *n, struct rk_replica *rr,
		       struct rk_store_batch *b)
{
	struct rk_store_apply_state as;
	struct rk_buf blob;

	rk_buf_init(&blob);
	rk_replica_state_encode(rr, &blob);
	if (blob.oom) {
		rk_buf_free(&blob);
		return RK_ENOMEM;
	}
	rk_store_batch_raft_state(b, rr->range, &rr->rs);
	as.applied = rr->applied;
	as.desc = blob.p;
	as.desc_len = blob.len;
	rk_store_batch_apply_state(b, rr->range, &as);
	rk_buf_free(&blob);
	(void)n;
	return 0;
}

/* Sets up rr (fresh, or uninitialized and idle: its term, vote and any
 * log it has are kept) as the right range's replica with descriptor
 * *right (taken) and the left's sessions. */
static int init_right(struct rk_node *n, struct rk_replica *left,
		      struct rk_replica *rr, struct rk_desc *right,
		      const struct rk_desc_replica *mine)
{
	struct rk_store_raft_state *rs = &rr->rs;
	uint64_t last = RK_RAFT_INIT_INDEX;
	int rc;

	if ((rc = rk_kv_sessions_copy(&rr->sessions, &left->sessions)) != 0)
		return rc;
	if (rs->replica_id != mine->replica_id || rs->hs.term < RK_RAFT_INIT_TERM) {
		memset(&rs->hs, 0, sizeof(rs->hs));
		rs->hs.term = RK_RAFT_INIT_TERM;
	}
	rs->replica_id = mine->replica_id;
	if (rs->hs.commit < RK_RAFT_INIT_INDEX)
		rs->hs.commit = RK_RAFT_INIT_INDEX;
	/* Entries it logged before a crash are its own range's, after the
	 * split: kept (a replica new in this process has none). */
	if (rs->trunc_index == RK_RAFT_INIT_INDEX &&
	    (rc = rk_store_log_last(n->reader, rr->range, RK_RAFT_INIT_INDEX, &last)) != 0)
		return rc;
	rs->trunc_index = RK_RAFT_INIT_INDEX;
	rs->trunc_term = RK_RAFT_INIT_TERM;
	rk_member_conf_of(right, &rs->conf);
	rk_desc_free(&rr->desc);
	rr->desc = *right;
	memset(right, 0, sizeof(*right));
	rr->applied = rr->visible = RK_RAFT_INIT_INDEX;
	rr->first = RK_RAFT_INIT_INDEX + 1;
	rr->last = last;
	rr->hint_replica = rr->hint_node = 0;
	rk_replica_terms_reset(rr);
	rk_raft_close(&rr->raft);
	memset(&rr->raft, 0, sizeof(rr->raft));
	rc = rk_raft_init(&rr->raft, &n->ropts, rr, rs->replica_id, rr->applied,
			  rr->range * 0x9e3779b97f4a7c15ull ^ n->cfg.node_id);
	if (rc == 0)
		rk_raft_inherit_lease(&rr->raft, &left->raft);
	return rc;
}

/* Only the node that led the left campaigns at once (rr, just set up by
 * init_right): it has applied the split, so its lease no longer covers the
 * right half; the others wait out their inherited refusal. The campaign's
 * term and vote go into the split's own batch (write_right), which is
 * synced: rr takes no ready before that batch is durable (split_left), so
 * its vote requests leave then without a persist of their own, instead of
 * after a second group commit queued behind the split's apply. Whether it
 * campaigned. */
static bool campaign_first(struct rk_node *n, struct rk_replica *left,
			   struct rk_replica *rr)
{
	if (!rk_raft_is_leader(&left->raft))
		return false;
	if (rk_raft_campaign_split(&rr->raft) != 0) {
		rk_log_warn(MOD, "range %llu: cannot campaign", (unsigned long long)rr->range);
		return false;
	}
	rk_raft_hard_state_taken(&rr->raft, &rr->rs.hs);
	n->proc.sync_wanted = true;
	return true;
}

static int refuse(struct rk_replica *r, const struct rk_kv_split *s, int rc,
		  int *refusedp)
{
	*refusedp = rc;
	rk_log_warn(MOD, "range %llu: split into range %llu refused at apply: %s",
		    (unsigned long long)r->range, (unsigned long long)s->right_id,
		    rk_strerror(rc));
	return 0;
}

int rk_split_apply(void *arg, const struct rk_kv_split *s, int *refusedp)
{
	struct rk_span_apply *x = arg;
	struct rk_node *n = x->n;
	struct rk_replica *r = x->r, *rr = rk_table_get(&n->tab, s->right_id);
	const struct rk_desc_replica *mine;
	struct rk_desc left, right;
	bool fresh = rr == NULL, campaigned = false;
	int rc;

	*refusedp = 0;
	/* Applied again in this process after a failed apply attempt was
	 * undone (the runtime state stays split; the batch lost its
	 * writes): the right's states are written again. */
	if (rr != NULL && rr->desc.n_reps > 0 && r->desc.generation == s->generation + 1 &&
	    rr->desc.generation == r->desc.generation &&
	    rk_key_cmp(r->desc.end, r->desc.elen, s->key, s->klen) == 0 &&
	    rr->applied == RK_RAFT_INIT_INDEX)
		return write_right(n, rr, x->b);
	memset(&left, 0, sizeof(left));
	memset(&right, 0, sizeof(right));
	rc = rk_kv_split_descs(&r->desc, s, &left, &right);
	if (rc == RK_ENOMEM)
		return rc;
	if (rc != 0)
		return refuse(r, s, rc, refusedp);
	mine = rk_desc_on_node(&right, n->cfg.node_id);
	if (mine == NULL) {
		rk_desc_free(&left);
		rk_desc_free(&right);
		return refuse(r, s, RK_ESTATE, refusedp);
	}
	/* Until a checkpoint holds the left past this entry, a replay would
	 * write the right half's keys again: no snapshot installed over them
	 * meanwhile (handoff.h). */
	if (rk_handoff_add(n, r->range, x->index, s->key, s->klen, r->desc.end,
			   r->desc.elen) != 0) {
		rk_desc_free(&left);
		rk_desc_free(&right);
		return RK_ENOMEM;
	}
	if (rr != NULL && (rr->desc.n_reps > 0 || rr->persisting || rr->removing ||
			   n->hooks.split_right_busy)) {
		/* A right replica that got its own state (a snapshot) or is
		 * busy: left as it is; it takes the range's snapshot, which
		 * no longer meets the left's span. */
		rk_log_warn(MOD, "range %llu: split into range %llu, whose replica here "
			    "is not waiting idle: it catches up by snapshot",
			    (unsigned long long)r->range, (unsigned long long)s->right_id);
		rk_desc_free(&right);
		goto shrink;
	}
	if (fresh) {
		if ((rr = calloc(1, sizeof(*rr))) == NULL) {
			rk_desc_free(&left);
			rk_desc_free(&right);
			return RK_ENOMEM;
		}
		rr->node = n;
		rr->range = s->right_id;
		/* Split before a crash: its term, vote and log are kept. */
		rc = rk_store_read_raft_state(n->reader, rr->range, &rr->rs);
		if (rc == RK_ENOTFOUND)
			memset(&rr->rs, 0, sizeof(rr->rs));
		else if (rc != 0) {
			rk_desc_free(&left);
			rk_desc_free(&right);
			free(rr);
			return rc;
		}
	}
	if ((rc = init_right(n, r, rr, &right, mine)) == 0 &&
	    !(campaigned = campaign_first(n, r, rr)))
		early_take(n, rr);
	if (rc != 0 || (rc = write_right(n, rr, x->b)) != 0 ||
	    (fresh && (rc = rk_compact_log_load(n, rr)) != 0) ||
	    (fresh && (rc = rk_table_add(&n->tab, rr)) != 0)) {
		rk_desc_free(&left);
		rk_desc_free(&right);
		if (fresh)
			rk_replica_free(rr);
		else
			rk_node_fail(n); /* half initialized in place: stop */
		return rc;
	}
	if (fresh && rk_table_awake_add(&n->tab, rr) != 0)
		rk_log_warn(MOD, "range %llu: out of memory waking it", (unsigned long long)rr->range);
	if (fresh)
		rk_own_enter(n, rr);
shrink:
	rk_desc_free(&r->desc);
	r->desc = left;
	/* Its size and rates were the whole span's: measured again, and
	 * counted from nothing, so neither splits it again at once
	 * (autosplit.h). */
	rk_size_unknown(n, r);
	rk_own_rates_reset(n, r);
	x->ap->start = r->desc.start;
	x->ap->slen = r->desc.slen;
	x->ap->end = r->desc.end;
	x->ap->elen = r->desc.elen;
	if (rk_rcache_put(&n->rcache, &r->desc) != 0 ||
	    (rr != NULL && rr->desc.n_reps > 0 && rk_rcache_put(&n->rcache, &rr->desc) != 0))
		rk_log_warn(MOD, "range %llu: out of memory updating the range cache",
			    (unsigned long long)r->range);
	if (rr != NULL && rr->desc.n_reps > 0 && rr->applied == RK_RAFT_INIT_INDEX) {
		rr->split_left = r->range;
		rr->split_index = x->index;
		rr->split_ms = r->split_ms = uv_now(&n->loop);
		if (campaigned) {
			camp_add(n, rr->range);
			rr->split_lead_ms = rr->split_ms;
		}
		rk_node_wake(n, rr);
		rk_node_mark_dirty(n, rr);
	}
	/* The left's leader tells the placement index of both halves (the
	 * index keeps the highest (generation, configuration version), so a
	 * split applied again after a restart reports harmlessly again). */
	if (rk_raft_is_leader(&r->raft)) {
		/* The followers learn the split's commit now, not with the
		 * left's next append or heartbeat (lazy commit, up to a tick
		 * later): until they apply it, their right replicas do not
		 * exist to vote for the right half's first leader, and its
		 * keys are unserved meanwhile. */
		if (rk_raft_send_commit(&r->raft) == 0)
			rk_node_mark_dirty(n, r);
	}
	rk_plc_desc_changed(n, r);
	if (rr != NULL && rr->desc.n_reps > 0) {
		/* The left leader reports the right half at once (its own
		 * leader is not elected yet); every right replica owes the
		 * report too, made once it leads, in case the left's leader
		 * lost its leadership before it applied the split. */
		if (rk_raft_is_leader(&r->raft))
			(void)rk_node_pl_report(n, &rr->desc, 1);
		rr->desc_owed = true;
	}
	rk_log_info(MOD, "range %llu: split at generation %llu; range %llu is the right half",
		    (unsigned long long)r->range, (unsigned long long)r->desc.generation,
		    (unsigned long long)s->right_id);
	rk_crash_point(n, "split.applied");
	return 0;
}

struct right_walk {
	struct rk_node *n;
	struct rk_replica *busy;
};

static int busy_right(void *arg, uint32_t no, const struct rk_kv_cmd *c)
{
	struct right_walk *w = arg;
	struct rk_kv_split s;
	struct rk_replica *rr;

	(void)no;
	if (c->op != RK_KV_SPLIT || rk_kv_split_decode(c, &s) != 0)
		return 0;
	rr = rk_table_get(&w->n->tab, s.right_id);
	if (rr == NULL || rr->desc.n_reps > 0 || rr->removing || !rr->persisting)
		return 0;
	w->busy = rr;
	return 1;
}

bool rk_split_wait_right(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd)
{
	struct right_walk w = {n, NULL};
	uint64_t ts;

	if (n->hooks.split_right_busy)
		return false; /* tests: the snapshot path (crash.h) */
	for (size_t i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];

		if (e->type != RK_RAFT_ENTRY_NORMAL || e->len == 0 ||
		    rk_kv_entry_walk(e->data, e->len, &ts, busy_right, &w) != 1)
			continue;
		rd->n_committed = i;
		w.busy->merge_waiter = r->range;
		return true;
	}
	return false;
}

/* ---- the call ------------------------------------------------------------------ */

struct rk_split_op {
	uint64_t range, generation, conf_version;
	uint64_t right_id, index, term, deadline, began_ms;
	bool proposed;
	bool open;  /* not yet answered */
	bool autom; /* automatic: nobody waits for the answer (later NULL) */
	struct rk_buf key;
	struct rk_node *n;
	struct rk_http_later *later; /* NULL once answered */
	struct rk_split_op *next;
};

bool rk_split_busy(const struct rk_node *n, uint64_t range)
{
	for (const struct rk_split_op *o = n->split.ops; o != NULL; o = o->next)
		if (o->range == range && o->open)
			return true;
	return false;
}

size_t rk_split_ops_json(struct rk_node *n, struct rk_json *j)
{
	uint64_t now = uv_now(&n->loop);
	size_t k = 0;

	for (const struct rk_split_op *o = n->split.ops; o != NULL; o = o->next) {
		if (!o->open)
			continue;
		rk_json_obj_begin(j);
		rk_json_key(j, "type");
		rk_json_str(j, "split");
		rk_json_key(j, "range");
		rk_json_u64(j, o->range);
		rk_json_key(j, "node");
		rk_json_u64(j, n->cfg.node_id);
		rk_json_key(j, "step");
		rk_json_str(j, o->proposed ? "proposed" : "waiting");
		rk_json_key(j, "automatic");
		rk_json_bool(j, o->autom);
		rk_json_key(j, "age_ms");
		rk_json_u64(j, now - o->began_ms);
		rk_json_obj_end(j);
		k++;
	}
	return k;
}

bool rk_split_auto_pending(const struct rk_node *n)
{
	for (const struct rk_split_op *o = n->split.ops; o != NULL; o = o->next)
		if (o->autom && o->open)
			return true;
	return false;
}

static void unlink_op(struct rk_node *n, struct rk_split_op *op)
{
	for (struct rk_split_op **pp = &n->split.ops; *pp != NULL; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	rk_buf_free(&op->key);
	free(op);
}

static void answer_call(struct rk_split_op *op, int status, const char *msg);

/* Counts the outcome; answers the call, if one waits. */
static void answer(struct rk_split_op *op, int status, const char *msg)
{
	struct rk_node *n = op->n;
	bool ok = status == 200 && msg == NULL;

	op->open = false;
	if (ok) {
		n->split.done++;
		n->split.auto_done += op->autom;
		rk_hist_observe(&n->split.seconds,
				(double)(uv_now(&n->loop) - op->began_ms) / 1000.0);
	} else {
		n->split.refused++;
		n->split.auto_refused += op->autom;
	}
	if (op->autom) {
		if (!ok)
			rk_log_info(MOD, "range %llu: automatic split not done: %s",
				    (unsigned long long)op->range,
				    msg != NULL ? msg : "a half is not here");
		return;
	}
	answer_call(op, status, msg);
}

static void answer_call(struct rk_split_op *op, int status, const char *msg)
{
	struct rk_node *n = op->n;
	struct rk_http_resp resp;
	struct rk_replica *l = rk_table_get(&n->tab, op->range);
	struct rk_replica *r = rk_table_get(&n->tab, op->right_id);

	memset(&resp, 0, sizeof(resp));
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (msg != NULL || l == NULL || r == NULL || r->desc.n_reps == 0) {
		rk_api_error(&resp, status == 200 ? 503 : status,
			     msg != NULL ? msg : "split, but a half is not here to show");
	} else {
		struct rk_json j;

		resp.status = 200;
		rk_json_init(&j, &resp.body);
		rk_json_obj_begin(&j);
		rk_json_key(&j, "left");
		rk_api_range_json(&j, l, false);
		rk_json_key(&j, "right");
		rk_api_range_json(&j, r, false);
		rk_json_obj_end(&j);
	}
	rk_http_answer(op->later, &resp);
	rk_buf_free(&resp.body);
	op->later = NULL;
}

const char *rk_split_busy_why(const struct rk_node *n, const struct rk_replica *r)
{
	if (rk_merge_busy(n, r->range) || r->sessions.frozen != 0)
		return "a merge of this range is under way";
	return rk_split_busy_but_merge_why(n, r);
}

const char *rk_split_busy_but_merge_why(const struct rk_node *n, const struct rk_replica *r)
{
	if (rk_raft_is_leader(&r->raft) && !rk_raft_lead_settled(&r->raft))
		return "the range's leader took over a moment ago and has not applied its "
		       "log yet; retry in a moment";
	if (rk_raft_conf_is_joint(&r->rs.conf) || rk_raft_conf_pending(&r->raft) ||
	    rk_admin_busy(n, r->range))
		return "a membership change of this range is under way";
	if (rk_split_busy(n, r->range))
		return "another split of this range is under way";
	if (rk_raft_transferee(&r->raft) != 0)
		return "a leadership transfer of this range is under way; retry in a moment";
	return NULL;
}

static void on_ids(void *arg, int rc, uint64_t first)
{
	struct rk_split_op *op = arg;
	struct rk_node *n = op->n;
	struct rk_replica *r = rk_table_get(&n->tab, op->range);
	struct rk_kv_split s;
	struct rk_buf cmd, entry;
	uint64_t index = 0;

	if (!op->open) { /* answered meanwhile (the node stops) */
		unlink_op(n, op);
		return;
	}
	if (rc != 0) {
		answer(op, 503, rk_strerror(rc));
		unlink_op(n, op);
		return;
	}
	if (r == NULL || r->removing || !rk_raft_is_leader(&r->raft) ||
	    r->desc.generation != op->generation || r->desc.conf_version != op->conf_version) {
		answer(op, 503, "the range changed before the split was proposed; retry");
		unlink_op(n, op);
		return;
	}
	memset(&s, 0, sizeof(s));
	s.key = (const uint8_t *)op->key.p;
	s.klen = op->key.len;
	s.right_id = op->right_id = first;
	s.generation = op->generation;
	s.conf_version = op->conf_version;
	s.flags = op->autom ? RK_DESC_F_AUTO_SPLIT : 0;
	s.n_ids = r->desc.n_reps;
	/* Replica ids are per range: the right's repeat the left's. */
	for (uint8_t i = 0; i < r->desc.n_reps; i++)
		s.ids[i] = r->desc.reps[i].replica_id;
	rk_buf_init(&cmd);
	rk_buf_init(&entry);
	rk_kv_split_encode(&cmd, &s);
	rk_kv_entry_begin(&entry, 0);
	rk_kv_entry_add(&entry, cmd.p, cmd.len);
	rk_kv_entry_finish(&entry, 1);
	rc = entry.oom || cmd.oom ? RK_ENOMEM
				  : rk_raft_propose(&r->raft, entry.p, (uint32_t)entry.len, &index);
	rk_buf_free(&cmd);
	rk_buf_free(&entry);
	if (rc != 0) {
		answer(op, rc == RK_ENOTLEADER ? 409 : 503, rk_strerror(rc));
		unlink_op(n, op);
		return;
	}
	op->index = index;
	op->term = rk_raft_term(&r->raft);
	op->proposed = true;
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	rk_crash_point(n, "split.proposed");
}

/* Percent-decodes s into out. false for a malformed escape. */
static bool percent_decode(const char *s, struct rk_buf *out)
{
	for (; *s != '\0'; s++) {
		unsigned v;
		if (*s != '%') {
			rk_buf_append(out, s, 1);
			continue;
		}
		if (s[1] == '\0' || s[2] == '\0' || sscanf(s + 1, "%2x", &v) != 1 ||
		    strchr("0123456789abcdefABCDEF", s[1]) == NULL ||
		    strchr("0123456789abcdefABCDEF", s[2]) == NULL)
			return false;
		{
			uint8_t c = (uint8_t)v;
			rk_buf_append(out, &c, 1);
		}
		s += 2;
	}
	return !out->oom;
}

static void where_json(struct rk_http_resp *resp, int status, const char *msg,
		       const struct rk_rcache_entry *e)
{
	struct rk_json j;

	resp->status = status;
	rk_buf_reset(&resp->body);
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "error");
	rk_json_str(&j, msg);
	rk_json_key(&j, "range");
	rk_json_u64(&j, e->range);
	rk_json_key(&j, "leader");
	if (e->leader == 0)
		rk_json_null(&j);
	else
		rk_json_u64(&j, e->leader);
	rk_json_key(&j, "nodes");
	rk_json_arr_begin(&j);
	for (uint8_t i = 0; i < e->n_nodes; i++)
		rk_json_u64(&j, e->reps[i].node_id);
	rk_json_arr_end(&j);
	rk_json_obj_end(&j);
}

/* Takes the new range's id, then proposes (on_ids); op is linked, open,
 * and answered on every path. */
static void start(struct rk_node *n, struct rk_replica *r, struct rk_split_op *op)
{
	int rc;

	op->range = r->range;
	op->generation = r->desc.generation;
	op->conf_version = r->desc.conf_version;
	op->began_ms = uv_now(&n->loop);
	op->deadline = op->began_ms + 2ull * n->cfg.request_timeout_ms;
	op->open = true;
	op->next = n->split.ops;
	n->split.ops = op;
	if ((rc = rk_node_alloc_range_ids(n, 1, on_ids, op)) != 0) {
		answer(op, 503, rk_strerror(rc));
		unlink_op(n, op);
	}
}

int rk_split_auto(struct rk_node *n, struct rk_replica *r, const void *key,
		  size_t klen)
{
	struct rk_split_op *op;

	if (r->removing || r->desc.n_reps == 0 || !rk_raft_is_leader(&r->raft) ||
	    klen == 0 || klen > RK_KV_MAX_KEY || !rk_desc_contains(&r->desc, key, klen) ||
	    rk_key_cmp(key, klen, r->desc.start, r->desc.slen) == 0 ||
	    rk_split_busy_why(n, r) != NULL)
		return RK_ESTATE;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return RK_ENOMEM;
	op->n = n;
	op->autom = true;
	rk_buf_init(&op->key);
	rk_buf_append(&op->key, key, klen);
	if (op->key.oom) {
		rk_buf_free(&op->key);
		free(op);
		return RK_ENOMEM;
	}
	start(n, r, op);
	return 0;
}

bool rk_split_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp)
{
	size_t cap = 3 * RK_KV_MAX_KEY + 2;
	char *q;
	struct rk_split_op *op;
	struct rk_rcache_entry *e;
	struct rk_replica *r;
	const char *why;

	if (strcmp(req->path, "/api/v1/split") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if ((q = malloc(cap)) == NULL || (op = calloc(1, sizeof(*op))) == NULL) {
		free(q);
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	op->n = n;
	rk_buf_init(&op->key);
	if (!rk_http_query(req, "key", q, cap) || q[0] == '\0' ||
	    !percent_decode(q, &op->key) || op->key.len > RK_KV_MAX_KEY) {
		rk_api_error(resp, 400, "key=K is required: a non-empty key of at most 4096 "
			     "bytes, percent-encoded");
		goto fail;
	}
	e = rk_rcache_find(&n->rcache, op->key.p, op->key.len);
	r = e != NULL ? rk_table_get(&n->tab, e->range) : NULL;
	if (e == NULL) {
		rk_api_error(resp, 503, "no range of this node's range cache holds the key");
		goto fail;
	}
	if (r == NULL || r->removing || r->desc.n_reps == 0) {
		where_json(resp, 404, "this node holds no replica of the key's range; "
			   "ask its leader", e);
		goto fail;
	}
	if (!rk_raft_is_leader(&r->raft)) {
		rk_admin_not_leader(resp, r);
		goto fail;
	}
	if (!rk_desc_contains(&r->desc, op->key.p, op->key.len)) {
		rk_api_error(resp, 503, "the range cache is ahead of this replica; retry");
		goto fail;
	}
	if (rk_key_cmp(op->key.p, op->key.len, r->desc.start, r->desc.slen) == 0) {
		rk_api_error(resp, 400, "the key is its range's start: there is nothing to split");
		goto fail;
	}
	if ((why = rk_split_busy_why(n, r)) != NULL) {
		rk_api_error(resp, 409, why);
		goto fail;
	}
	if ((op->later = rk_http_defer(req)) == NULL) {
		rk_api_error(resp, 503, "out of memory");
		goto fail;
	}
	start(n, r, op);
	free(q);
	return true;
fail:
	rk_buf_free(&op->key);
	free(op);
	free(q);
	return true;
}

/* 0 while op waits; else the status of its answer (msg: the error). */
static int outcome(struct rk_node *n, struct rk_split_op *op, const char **msgp)
{
	struct rk_replica *r = rk_table_get(&n->tab, op->range);

	*msgp = NULL;
	if (r == NULL || r->removing) {
		*msgp = "the range left this node; the outcome is unknown";
		return 503;
	}
	if (r->applied >= op->index) {
		if (r->desc.generation > op->generation &&
		    rk_key_cmp(r->desc.end, r->desc.elen, op->key.p, op->key.len) == 0)
			return 200;
		*msgp = "the split was refused at apply: the range changed meanwhile";
		return 409;
	}
	if (rk_raft_term(&r->raft) != op->term || !rk_raft_is_leader(&r->raft)) {
		*msgp = "leadership changed before the split applied; it may still "
			"apply: read the ranges";
		return 503;
	}
	if (uv_now(&n->loop) >= op->deadline) {
		*msgp = "not done in time; it may still complete: read the ranges";
		return 504;
	}
	return 0;
}

void rk_split_served(struct rk_node *n, struct rk_replica *r)
{
	rk_hist_observe(&n->split.serve,
			(double)(uv_now(&n->loop) - r->split_lead_ms) / 1000.0);
	r->split_lead_ms = 0;
}

void rk_split_tick(struct rk_node *n)
{
	struct rk_split_op *op, *next;

	if (n->split.n_camps > 0)
		camps_run(n);
	rk_handoff_prune(n);
	for (op = n->split.ops; op != NULL; op = next) {
		const char *msg;
		int status;

		next = op->next;
		if (!op->proposed)
			continue; /* its ids are being taken */
		if ((status = outcome(n, op, &msg)) == 0)
			continue;
		answer(op, status, msg);
		unlink_op(n, op);
	}
}

void rk_split_close(struct rk_node *n)
{
	struct rk_split_op *op, *next;

	free(n->split.camps);
	n->split.camps = NULL;
	n->split.n_camps = n->split.cap_camps = 0;
	free(n->split.watch);
	n->split.watch = NULL;
	n->split.n_watch = n->split.cap_watch = 0;
	for (op = n->split.ops; op != NULL; op = next) {
		next = op->next;
		if (op->open)
			answer(op, 503, "the node is stopping; the outcome is unknown");
		if (op->proposed)
			unlink_op(n, op); /* else freed by its ids' callback */
	}
}
