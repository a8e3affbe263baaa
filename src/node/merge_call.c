/*
 * Range merge on a node, the call (merge.h): POST /api/v1/merge, its steps
 * (the right's leadership gathered here, FREEZE, MERGE, or MERGE_ABORT then
 * UNFREEZE), the watch of frozen ranges no call completes, the tick and the
 * figures. The apply and the wait of a left replica for its right are
 * merge.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "api_range.h"
#include "crash.h"
#include "fwd.h"
#include "json.h"
#include "key.h"
#include "log.h"
#include "merge.h"
#include "node_int.h"
#include "plc.h"
#include "quiesce.h"

#define MOD "node"

/* ---- the call ------------------------------------------------------------------ */

enum merge_step {
	STEP_GATHER,   /* the right's leadership asked to come here */
	STEP_FREEZE,   /* FREEZE proposed in the right's log */
	STEP_MERGE,    /* MERGE proposed in the left's */
	STEP_ABORT,    /* MERGE_ABORT proposed in the left's */
	STEP_UNFREEZE, /* UNFREEZE proposed in the right's */
};

struct rk_merge_op {
	struct rk_node *n;
	struct rk_kv_merge m; /* m.end points into end */
	struct rk_buf end;
	enum merge_step step;
	uint64_t index, term;   /* of the last proposal, in its range's log */
	uint64_t began_ms, deadline;
	uint64_t ask_ms;        /* STEP_GATHER: when to ask again */
	int status;             /* once aborted: the call's answer */
	const char *why;
	struct rk_http_later *later; /* NULL once answered */
	struct rk_merge_op *next;
};

size_t rk_merge_ops_json(struct rk_node *n, struct rk_json *j)
{
	static const char *const steps[] = {"freeze", "merge", "abort", "unfreeze"};
	uint64_t now = uv_now(&n->loop);
	size_t k = 0;

	for (const struct rk_merge_op *o = n->merge.ops; o != NULL; o = o->next, k++) {
		rk_json_obj_begin(j);
		rk_json_key(j, "type");
		rk_json_str(j, "merge");
		rk_json_key(j, "range");
		rk_json_u64(j, o->m.left_id);
		rk_json_key(j, "right");
		rk_json_u64(j, o->m.right_id);
		rk_json_key(j, "node");
		rk_json_u64(j, n->cfg.node_id);
		rk_json_key(j, "step");
		rk_json_str(j, steps[o->step]);
		rk_json_key(j, "age_ms");
		rk_json_u64(j, now - o->began_ms);
		rk_json_obj_end(j);
	}
	return k;
}

bool rk_merge_busy(const struct rk_node *n, uint64_t range)
{
	for (const struct rk_merge_op *o = n->merge.ops; o != NULL; o = o->next)
		if (o->m.left_id == range || o->m.right_id == range)
			return true;
	return false;
}

static void unlink_op(struct rk_node *n, struct rk_merge_op *op)
{
	for (struct rk_merge_op **pp = &n->merge.ops; *pp != NULL; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	rk_buf_free(&op->end);
	free(op);
}

/* Answers the call (status 200: the merged range) and forgets op. */
static void finish(struct rk_merge_op *op, int status, const char *msg)
{
	struct rk_node *n = op->n;
	struct rk_replica *l = rk_table_get(&n->tab, op->m.left_id);
	struct rk_http_resp resp;

	if (status == 200) {
		n->merge.done++;
		rk_hist_observe(&n->merge.seconds,
				(double)(uv_now(&n->loop) - op->began_ms) / 1000.0);
	} else {
		n->merge.refused++;
	}
	memset(&resp, 0, sizeof(resp));
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (status != 200 || l == NULL) {
		rk_api_error(&resp, status == 200 ? 503 : status,
			     msg != NULL ? msg : "merged, but the range is not here to show");
	} else {
		struct rk_json j;

		resp.status = 200;
		rk_json_init(&j, &resp.body);
		rk_json_obj_begin(&j);
		rk_json_key(&j, "range");
		rk_api_range_json(&j, l, false);
		rk_json_key(&j, "removed");
		rk_json_u64(&j, op->m.right_id);
		rk_json_obj_end(&j);
	}
	if (op->later != NULL)
		rk_http_answer(op->later, &resp);
	rk_buf_free(&resp.body);
	unlink_op(n, op);
}

/* Proposes op's command (op->m.op) in range's log; 0 or why not. */
static int propose(struct rk_node *n, struct rk_merge_op *op, uint64_t range)
{
	struct rk_replica *r = rk_table_get(&n->tab, range);
	struct rk_buf cmd, entry;
	uint64_t index = 0;
	int rc;

	if (r == NULL || r->removing || !rk_raft_is_leader(&r->raft))
		return RK_ENOTLEADER;
	rk_buf_init(&cmd);
	rk_buf_init(&entry);
	rk_kv_merge_encode(&cmd, &op->m);
	rk_kv_entry_begin(&entry, 0);
	rk_kv_entry_add(&entry, cmd.p, cmd.len);
	rk_kv_entry_finish(&entry, 1);
	rc = entry.oom || cmd.oom ? RK_ENOMEM
				  : rk_raft_propose(&r->raft, entry.p, (uint32_t)entry.len, &index);
	rk_buf_free(&cmd);
	rk_buf_free(&entry);
	if (rc != 0)
		return rc;
	op->index = index;
	op->term = rk_raft_term(&r->raft);
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	return 0;
}

/* A merge of rr into l as their descriptors are now, linked; NULL when
 * out of memory. */
static struct rk_merge_op *op_new(struct rk_node *n, const struct rk_replica *l,
				  const struct rk_replica *rr)
{
	struct rk_merge_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->n = n;
	rk_buf_init(&op->end);
	rk_buf_append(&op->end, rr->desc.end, rr->desc.elen);
	if (op->end.oom) {
		rk_buf_free(&op->end);
		free(op);
		return NULL;
	}
	op->m.left_id = l->range;
	op->m.right_id = rr->range;
	op->m.left_gen = l->desc.generation;
	op->m.left_conf = l->desc.conf_version;
	op->m.right_gen = rr->desc.generation;
	op->m.right_conf = rr->desc.conf_version;
	op->m.end = (const uint8_t *)op->end.p;
	op->m.elen = op->end.len;
	op->began_ms = uv_now(&n->loop);
	op->next = n->merge.ops;
	n->merge.ops = op;
	return op;
}

/* Whether rr's right neighbour, held here, is frozen for a merge into
 * rr: absorbed by its own left neighbour meanwhile, rr would leave that
 * merge without a left range to apply or abort it in, and the right frozen
 * (watch_one unfreezes such a right; this keeps it from happening). */
static bool left_of_a_merge(const struct rk_node *n, const struct rk_replica *rr)
{
	const struct rk_rcache_entry *e;
	const struct rk_replica *x;

	if (rr->desc.elen == 0 || n->hooks.merge_no_left_check ||
	    (e = rk_rcache_find(&n->rcache, rr->desc.end, rr->desc.elen)) == NULL)
		return false;
	x = rk_table_get(&n->tab, e->range);
	return x != NULL && !x->removing && x->sessions.frozen == rr->range;
}

/* Why l (led here) and its right neighbour rr cannot merge now; NULL:
 * they can. */
static const char *refusal(const struct rk_node *n, const struct rk_replica *l,
			   const struct rk_replica *rr, int *statusp)
{
	*statusp = 409;
	if (l->desc.elen == 0)
		return "the range ends the key space: it has no right neighbour";
	if (rr == NULL || rr->removing || rr->desc.n_reps == 0)
		return "this node holds no replica of the right neighbour: the replica "
		       "sets differ";
	if (rk_key_cmp(rr->desc.start, rr->desc.slen, l->desc.end, l->desc.elen) != 0)
		return "the ranges are not adjacent";
	if (!rk_kv_merge_same_replicas(&l->desc, &rr->desc))
		return "the two ranges' replica sets differ (nodes and roles must match)";
	if (rk_split_busy_why(n, l) != NULL)
		return rk_split_busy_why(n, l);
	if (rk_split_busy_why(n, rr) != NULL)
		return rk_split_busy_why(n, rr);
	if (rk_merge_busy(n, l->range) || rk_merge_busy(n, rr->range))
		return "a merge of one of these ranges is under way";
	if (l->sessions.frozen != 0 || rr->sessions.frozen != 0)
		return "one of these ranges is frozen for another merge";
	if (left_of_a_merge(n, rr))
		return "the right range's own right neighbour is frozen for a merge into it; "
		       "retry once that merge is done or abandoned";
	if (l->split_left != 0 || rr->split_left != 0)
		return "one of these ranges is a split's right half not yet led; retry";
	*statusp = 0;
	return NULL;
}

/* STEP_GATHER asks the right's leader again this often, and gives up
 * after --request-timeout. */
#define GATHER_ASK_MS 1000u

static void on_asked(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	(void)arg, (void)tag, (void)status, (void)body, (void)len;
	/* Not waited for: step() watches the right replica here. */
}

/* Asks the node that leads the right range (another one) to hand its
 * leadership to this node, as POST /api/v1/ranges/{right}/transfer-leader
 * would there; no leader known: the next step asks. */
static void ask_leadership(struct rk_node *n, struct rk_merge_op *op,
			   const struct rk_replica *rr)
{
	uint64_t lead = rk_replica_leader_node(rr);
	char url[96];

	op->ask_ms = uv_now(&n->loop) + GATHER_ASK_MS;
	if (lead == 0 || lead == n->cfg.node_id)
		return;
	snprintf(url, sizeof(url), "/api/v1/ranges/%llu/transfer-leader?to=%llu",
		 (unsigned long long)rr->range, (unsigned long long)n->cfg.node_id);
	(void)rk_fwd_call(n, lead, "POST", url, on_asked, NULL, rr->range);
}

/* Why op, gathered, may not go on: a range changed since the call was
 * taken (its generation or configuration), or is now being split. */
static const char *changed(const struct rk_node *n, const struct rk_merge_op *op,
			   const struct rk_replica *l, const struct rk_replica *rr)
{
	if (l->desc.generation != op->m.left_gen || l->desc.conf_version != op->m.left_conf ||
	    rr->desc.generation != op->m.right_gen || rr->desc.conf_version != op->m.right_conf)
		return "a range changed while the right range's leadership came here; nothing done";
	if (rk_split_busy_but_merge_why(n, l) != NULL)
		return rk_split_busy_but_merge_why(n, l);
	if (rk_split_busy_but_merge_why(n, rr) != NULL)
		return rk_split_busy_but_merge_why(n, rr);
	if (rr->sessions.frozen != 0 || l->sessions.frozen != 0)
		return "one of these ranges is frozen for another merge";
	if (left_of_a_merge(n, rr))
		return "the right range's own right neighbour froze for a merge into it; "
		       "nothing done";
	return NULL;
}

/* FREEZE in the right's log (led here): op's first proposal. */
static void freeze(struct rk_node *n, struct rk_merge_op *op)
{
	op->m.op = RK_KV_FREEZE;
	op->deadline = uv_now(&n->loop) + 3ull * n->cfg.request_timeout_ms;
	op->step = STEP_FREEZE;
	if (propose(n, op, op->m.right_id) != 0) {
		finish(op, 503, "the right range's leadership moved; retry");
		return;
	}
	rk_log_info(MOD, "range %llu: merging range %llu into it; frozen at %llu once applied",
		    (unsigned long long)op->m.left_id, (unsigned long long)op->m.right_id,
		    (unsigned long long)op->index);
}

/* STEP_GATHER: the right range's leadership comes here, then the merge
 * begins; the left's leadership lost or too long a wait ends the call. */
static void gather(struct rk_node *n, struct rk_merge_op *op)
{
	struct rk_replica *l = rk_table_get(&n->tab, op->m.left_id);
	struct rk_replica *rr = rk_table_get(&n->tab, op->m.right_id);
	const char *why;

	if (l == NULL || l->removing || !rk_raft_is_leader(&l->raft)) {
		finish(op, 503, "the left range's leadership moved; nothing done, retry");
		return;
	}
	if (rr == NULL || rr->removing) {
		finish(op, 409, "the right range's replica left this node; nothing done");
		return;
	}
	/* Come, it must also have applied its own term's first entry
	 * (rk_raft_lead_settled, a few milliseconds): until then changed()
	 * would refuse the merge as a leader that just took over. */
	if (!rk_raft_is_leader(&rr->raft) || !rk_raft_lead_settled(&rr->raft)) {
		if (uv_now(&n->loop) >= op->deadline) {
			finish(op, 503, "the right range's leadership did not come to this "
			       "node within --request-timeout; nothing done, retry");
			return;
		}
		if (!rk_raft_is_leader(&rr->raft) && uv_now(&n->loop) >= op->ask_ms)
			ask_leadership(n, op, rr);
		return;
	}
	if ((why = changed(n, op, l, rr)) != NULL) {
		finish(op, 409, why);
		return;
	}
	freeze(n, op);
}

/* With generation=G&conf_version=V (the placement driver's calls): whether
 * the left's descriptor is not that one any more (the merge was decided on
 * figures of a range that has changed since). */
static bool stale_left(const struct rk_replica *l, const struct rk_http_req *req)
{
	char g[24], v[24];
	uint64_t gv, vv;

	if (!rk_http_query(req, "generation", g, sizeof(g)) ||
	    !rk_http_query(req, "conf_version", v, sizeof(v)) ||
	    !rk_admin_parse_id(g, strlen(g), &gv) || !rk_admin_parse_id(v, strlen(v), &vv))
		return false;
	return gv != l->desc.generation || vv != l->desc.conf_version;
}

bool rk_merge_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp)
{
	char q[32];
	uint64_t right_id = 0;
	struct rk_replica *l, *rr = NULL;
	struct rk_rcache_entry *e;
	struct rk_merge_op *op;
	const char *why;
	int status;

	if (strcmp(req->path, "/api/v1/merge") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if (!rk_http_query(req, "left", q, sizeof(q)) || q[0] == '\0') {
		rk_api_error(resp, 400, "left=ID (the left range's id) is required");
		return true;
	}
	if ((l = rk_admin_led_range(n, q, strlen(q), resp)) == NULL)
		return true; /* 400, 404, or 409 with the leader */
	if (rk_http_query(req, "right", q, sizeof(q)) &&
	    !rk_admin_parse_id(q, strlen(q), &right_id)) {
		rk_api_error(resp, 400, "right=ID is a range id");
		return true;
	}
	if (l->desc.elen > 0 && (e = rk_rcache_find(&n->rcache, l->desc.end, l->desc.elen)) != NULL)
		rr = rk_table_get(&n->tab, e->range);
	if (rr != NULL && rk_key_cmp(rr->desc.start, rr->desc.slen, l->desc.end, l->desc.elen) != 0)
		rr = NULL; /* the cache is ahead of this replica, or behind */
	if (right_id != 0 && (rr == NULL || rr->range != right_id)) {
		rk_api_error(resp, 409, "that range is not the left range's right neighbour here");
		return true;
	}
	if (stale_left(l, req)) {
		rk_api_error(resp, 409, "the left range changed since the call was decided "
			     "(its generation or configuration version moved on)");
		return true;
	}
	if ((why = refusal(n, l, rr, &status)) != NULL) {
		rk_api_error(resp, status, why);
		return true;
	}
	if ((op = op_new(n, l, rr)) == NULL) {
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	if ((op->later = rk_http_defer(req)) == NULL && req->conn_ != NULL) {
		finish(op, 503, "out of memory");
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	if (op->later == NULL) /* a forwarded call (the placement driver's): not awaited */
		rk_api_error(resp, 202, "merge started; its outcome is not awaited (a forwarded "
			     "call): read the ranges");
	if (rk_raft_is_leader(&rr->raft)) {
		freeze(n, op);
		return true;
	}
	/* Both leaders must be here: the right's is asked to come. */
	op->step = STEP_GATHER;
	op->deadline = op->began_ms + n->cfg.request_timeout_ms;
	rk_log_info(MOD, "range %llu: merging range %llu into it once its leadership, on node "
		    "%llu, comes here", (unsigned long long)l->range, (unsigned long long)rr->range,
		    (unsigned long long)rk_replica_leader_node(rr));
	ask_leadership(n, op, rr);
	return true;
}

/* Abandons op's merge: MERGE_ABORT in the left's log, then UNFREEZE in
 * the right's; the call is answered status, msg once done. */
static void abandon(struct rk_node *n, struct rk_merge_op *op, int status, const char *msg)
{
	op->status = status;
	op->why = msg;
	op->m.op = RK_KV_MERGE_ABORT;
	op->step = STEP_ABORT;
	op->deadline = uv_now(&n->loop) + 3ull * n->cfg.request_timeout_ms;
	if (propose(n, op, op->m.left_id) != 0)
		finish(op, 503, "the merge did not apply in time and the left range's "
		       "leadership moved before it could be abandoned: the right range "
		       "stays frozen until a merge or an abort applies");
	else
		n->merge.aborted++;
}

static void unfreeze(struct rk_node *n, struct rk_merge_op *op)
{
	op->m.op = RK_KV_UNFREEZE;
	op->step = STEP_UNFREEZE;
	op->deadline = uv_now(&n->loop) + 3ull * n->cfg.request_timeout_ms;
	if (propose(n, op, op->m.right_id) != 0)
		finish(op, 503, "the merge was abandoned but the right range's leadership "
		       "moved before it could be unfrozen");
}

/* One step of op; it may be answered and freed. */
static void step(struct rk_node *n, struct rk_merge_op *op)
{
	uint64_t range = op->step == STEP_FREEZE || op->step == STEP_UNFREEZE ? op->m.right_id
									       : op->m.left_id;
	struct rk_replica *r = rk_table_get(&n->tab, range);
	struct rk_replica *l = rk_table_get(&n->tab, op->m.left_id);
	bool late = uv_now(&n->loop) >= op->deadline;

	if (op->step == STEP_GATHER) {
		gather(n, op); /* nothing proposed yet */
		return;
	}

	if (r == NULL || r->removing || r->applied < op->index) {
		if (r != NULL && !r->removing && rk_raft_term(&r->raft) == op->term &&
		    rk_raft_is_leader(&r->raft) && !late)
			return; /* waits */
		if (op->step == STEP_MERGE && l != NULL && !l->removing)
			abandon(n, op, 504, "the merge did not apply in time; abandoned");
		else if (op->step == STEP_FREEZE)
			finish(op, 503, "the freeze did not apply here in time; it may still apply "
			       "and is then abandoned by the leader of both ranges");
		else
			finish(op, 503, "leadership moved while the merge was abandoned");
		return;
	}
	switch (op->step) {
	case STEP_FREEZE:
		if (r->sessions.frozen != op->m.left_id) {
			finish(op, 409, "the right range changed before it froze; nothing done");
			return;
		}
		rk_crash_point(n, "merge.freeze_applied");
		op->m.op = RK_KV_MERGE;
		op->m.frozen_index = op->index;
		op->m.frozen_term = op->term;
		op->step = STEP_MERGE;
		if (propose(n, op, op->m.left_id) != 0)
			unfreeze(n, op); /* no MERGE proposed: nothing can apply it */
		else
			rk_crash_point(n, "merge.proposed");
		return;
	case STEP_MERGE:
		if (r->desc.generation > op->m.left_gen && r->desc.elen == op->end.len &&
		    rk_key_cmp(r->desc.end, r->desc.elen, op->m.end, op->m.elen) == 0) {
			finish(op, 200, NULL);
			return;
		}
		op->status = 409;
		op->why = "the merge was refused at apply: a range changed meanwhile";
		unfreeze(n, op); /* refused everywhere: it will never apply */
		return;
	case STEP_ABORT:
		if (r->desc.generation > op->m.left_gen &&
		    rk_key_cmp(r->desc.end, r->desc.elen, op->m.end, op->m.elen) == 0 &&
		    r->desc.elen == op->end.len) {
			finish(op, 200, NULL); /* the merge applied before the abort */
			return;
		}
		unfreeze(n, op);
		return;
	case STEP_GATHER:
		return; /* above */
	case STEP_UNFREEZE:
		finish(op, op->status != 0 ? op->status : 409,
		       op->why != NULL ? op->why : "the merge was abandoned");
		return;
	}
}

void rk_merge_watch(struct rk_node *n, const struct rk_replica *r)
{
	struct rk_merge *mg = &n->merge;

	for (size_t i = 0; i < mg->n_frozen; i++)
		if (mg->frozen[i].range == r->range)
			return;
	if (rk_grow((void **)&mg->frozen, &mg->cap_frozen, mg->n_frozen, sizeof(*mg->frozen)) != 0) {
		rk_log_warn(MOD, "range %llu: out of memory watching its freeze",
			    (unsigned long long)r->range);
		return;
	}
	mg->frozen[mg->n_frozen].range = r->range;
	mg->frozen[mg->n_frozen].since_ms = uv_now(&n->loop);
	mg->n_frozen++;
}

/* A frozen right rr (led here) whose left, the range it froze to merge
 * into, is no longer here: when another range held here is rr's left
 * neighbour now, that left was absorbed by it or split its end off, and
 * either moved its generation on, so the MERGE can never apply (it names
 * the left's generation at the call; and this node's left replica applied
 * its whole log up to its end or split without absorbing rr, since rr is
 * still here): no MERGE_ABORT is needed, nor possible, and UNFREEZE lets rr
 * serve again. Otherwise (the left moved off this node) nothing here. */
static void unfreeze_orphan(struct rk_node *n, struct rk_replica *rr)
{
	const struct rk_rcache_entry *e =
		rk_rcache_ending_at(&n->rcache, rr->desc.start, rr->desc.slen);
	const struct rk_replica *x = e != NULL ? rk_table_get(&n->tab, e->range) : NULL;
	struct rk_merge_op *op;

	if (x == NULL || x->range == rr->sessions.frozen || x->removing ||
	    x->merged_into != 0 || x->desc.n_reps == 0 || x->desc.elen != rr->desc.slen ||
	    rk_key_cmp(x->desc.end, x->desc.elen, rr->desc.start, rr->desc.slen) != 0 ||
	    (op = op_new(n, x, rr)) == NULL)
		return;
	op->m.left_id = rr->sessions.frozen; /* what UNFREEZE must name */
	op->status = 504;
	op->why = "abandoned: the left range was merged or split meanwhile";
	rk_log_warn(MOD, "range %llu: frozen for a merge into range %llu, which range %llu "
		    "absorbed or split meanwhile; unfreezing it", (unsigned long long)rr->range,
		    (unsigned long long)rr->sessions.frozen, (unsigned long long)x->range);
	n->merge.orphans++;
	unfreeze(n, op);
}

/* A frozen right rr whose merge no call here completes, frozen for long
 * enough: abandoned by a MERGE_ABORT in its left's log, then UNFREEZE,
 * when this node leads both; its leadership goes to the left's leader's
 * node when that is another one (the next look there abandons it). */
static void watch_one(struct rk_node *n, struct rk_replica *rr)
{
	struct rk_replica *l = rk_table_get(&n->tab, rr->sessions.frozen);
	struct rk_merge_op *op;
	uint64_t lead;

	if (!rk_raft_is_leader(&rr->raft) || rk_merge_busy(n, rr->range))
		return;
	if (l == NULL || l->removing || l->merged_into != 0) {
		unfreeze_orphan(n, rr);
		return;
	}
	if (l->desc.n_reps == 0 || rk_merge_busy(n, l->range))
		return;
	if (!rk_raft_is_leader(&l->raft)) {
		lead = rk_replica_leader_node(l);
		if (lead != 0 && lead != n->cfg.node_id && rk_raft_transferee(&rr->raft) == 0 &&
		    rk_replica_on_node(rr, lead) != 0 &&
		    rk_raft_transfer_leader(&rr->raft, rk_replica_on_node(rr, lead)) == 0) {
			rk_log_info(MOD, "range %llu: frozen for a merge no call completes; its "
				    "leadership goes to node %llu, which leads range %llu",
				    (unsigned long long)rr->range, (unsigned long long)lead,
				    (unsigned long long)l->range);
			rk_node_wake(n, rr);
			rk_node_mark_dirty(n, rr);
		}
		return;
	}
	if ((op = op_new(n, l, rr)) == NULL)
		return;
	rk_log_warn(MOD, "range %llu: frozen for a merge into range %llu that no call "
		    "completes; abandoning it", (unsigned long long)rr->range,
		    (unsigned long long)l->range);
	abandon(n, op, 504, "abandoned");
}

static void watch(struct rk_node *n)
{
	struct rk_merge *mg = &n->merge;
	uint64_t now = uv_now(&n->loop), limit = 3ull * n->cfg.request_timeout_ms;
	size_t k = 0;

	if (now < mg->watch_ms + 1000)
		return;
	mg->watch_ms = now;
	for (size_t i = 0; i < mg->n_frozen; i++) {
		struct rk_replica *rr = rk_table_get(&n->tab, mg->frozen[i].range);

		if (rr == NULL || rr->removing || rr->sessions.frozen == 0)
			continue; /* merged, unfrozen or gone: no longer watched */
		if (now >= mg->frozen[i].since_ms + limit)
			watch_one(n, rr);
		mg->frozen[k++] = mg->frozen[i];
	}
	mg->n_frozen = k;
}

void rk_merge_tick(struct rk_node *n)
{
	struct rk_merge_op *op, *next;

	for (op = n->merge.ops; op != NULL; op = next) {
		next = op->next;
		step(n, op);
	}
	if (n->merge.n_frozen > 0)
		watch(n);
	if (n->merge.n_waits > 0)
		rk_merge_waits_look(n);
}

void rk_merge_close(struct rk_node *n)
{
	while (n->merge.ops != NULL)
		finish(n->merge.ops, 503, "the node is stopping; the outcome is unknown");
	free(n->merge.frozen);
	n->merge.frozen = NULL;
	n->merge.n_frozen = n->merge.cap_frozen = 0;
	rk_merge_waits_free(n);
}

void rk_merge_metrics(struct rk_node *n, struct rk_buf *b)
{
	rk_prom_one_u64(b, "rangekv_merges_total", "counter",
			"Range merges this node's leaders completed.",
			n->merge.done);
	rk_prom_one_u64(b, "rangekv_merges_failed_total", "counter",
			"Range merge calls refused, abandoned or whose outcome is unknown.",
			n->merge.refused);
	rk_prom_one_u64(b, "rangekv_merges_aborted_total", "counter",
			"Range merges abandoned by a MERGE_ABORT.",
			n->merge.aborted);
	rk_prom_one_u64(b, "rangekv_merges_orphaned_total", "counter",
			"Frozen right ranges unfrozen because their left was absorbed or split "
			"before the merge applied.",
			n->merge.orphans);
	rk_prom_one_u64(b, "rangekv_merge_snapshots_asked_total", "counter",
			"Snapshots asked for by left replicas whose merge cannot apply here "
			"(their right replica is gone or did not reach the freeze in time).",
			n->merge.snaps_asked);
	rk_prom_one_hist(b, "rangekv_merge_seconds",
			 "Range merge, the call to the merge applied on the leader.",
			 &n->merge.seconds);
}
