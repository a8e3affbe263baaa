/*
 * Admin calls that change a range (admin.h).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "api_range.h"
#include "json.h"
#include "log.h"
#include "member.h"
#include "node_int.h"
#include "quiesce.h"
#include "crash.h"

#define MOD "node"

/* A new replica gets this many --request-timeout to catch up (a snapshot
 * of its range) and be promoted. */
#define ADD_WAIT_TIMEOUTS 12

enum op_kind {
	OP_CHANGE,    /* one conf change: done once applied, joint state left */
	OP_ADD_VOTER, /* a learner added, then promoted once caught up */
	OP_TRANSFER,  /* done once the target leads */
};

struct rk_admin_op {
	enum op_kind kind;
	uint64_t range;
	uint64_t replica;   /* OP_ADD_VOTER: the new replica */
	uint64_t index;     /* OP_CHANGE, OP_ADD_VOTER: the latest change's entry */
	uint64_t term;      /* the leader's term when it was made */
	uint64_t node;      /* the node the call is about */
	uint64_t deadline;  /* loop time (ms) */
	struct rk_http_later *later;
	struct rk_admin_op *next;
};

static bool parse_id(const char *s, size_t len, uint64_t *vp)
{
	uint64_t v = 0;

	if (len == 0 || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*vp = v;
	return true;
}

static bool query_id(const struct rk_http_req *req, const char *name, uint64_t *vp)
{
	char v[32];

	return rk_http_query(req, name, v, sizeof(v)) && parse_id(v, strlen(v), vp);
}

static void not_leader(struct rk_http_resp *resp, const struct rk_replica *r)
{
	struct rk_json j;
	uint64_t lead = rk_replica_leader_node(r);

	resp->status = 409;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "error");
	rk_json_str(&j, "not the leader of this range");
	rk_json_key(&j, "leader");
	if (lead == 0)
		rk_json_null(&j);
	else
		rk_json_u64(&j, lead);
	rk_json_obj_end(&j);
}

bool rk_admin_busy(const struct rk_node *n, uint64_t range)
{
	for (const struct rk_admin_op *o = n->admin.ops; o != NULL; o = o->next)
		if (o->range == range)
			return true;
	return false;
}

/* A change cannot be proposed now, for a while: answered 409 with what
 * to wait for. Leadership balance starts no transfer on a range with a
 * call in flight (balance.c), but a call may come during one. */
static bool refused_now(const struct rk_node *n, const struct rk_replica *r,
			struct rk_http_resp *resp)
{
	if (rk_raft_conf_is_joint(&r->rs.conf) || rk_admin_busy(n, r->range)) {
		rk_api_error(resp, 409, "another membership change of this range is under way");
		return true;
	}
	if (rk_split_busy(n, r->range)) {
		rk_api_error(resp, 409, "a split of this range is under way");
		return true;
	}
	if (rk_merge_busy(n, r->range) || r->sessions.frozen != 0) {
		rk_api_error(resp, 409, "a merge of this range is under way");
		return true;
	}
	if (rk_raft_transferee(&r->raft) != 0) {
		rk_api_error(resp, 409, "a leadership transfer of this range is under way; "
			     "retry in a moment");
		return true;
	}
	return false;
}

/* Waits for the outcome of op (for timeouts x --request-timeout at most);
 * answers at once if the call cannot wait. */
static void wait_for(struct rk_node *n, const struct rk_http_req *req,
		     struct rk_http_resp *resp, struct rk_admin_op *op,
		     unsigned timeouts)
{
	op->later = rk_http_defer(req);
	if (op->later == NULL) {
		free(op);
		rk_api_error(resp, 202, req->conn_ == NULL
			     ? "accepted; its outcome is not awaited (a forwarded call): read the range"
			     : "accepted; its outcome is not awaited (out of memory): read the range");
		return;
	}
	op->deadline = uv_now(&n->loop) + (uint64_t)timeouts * n->cfg.request_timeout_ms;
	op->next = n->admin.ops;
	n->admin.ops = op;
}

/* Proposes cc (ctx: the context naming added replicas) on r; answers
 * resp on failure. The change's entry index, 0 on failure. */
static uint64_t propose(struct rk_node *n, struct rk_replica *r,
			const struct rk_raft_conf_change *cc, const struct rk_buf *ctx,
			struct rk_http_resp *resp)
{
	uint64_t index = 0;
	int rc = rk_raft_propose_conf_change_ctx(&r->raft, cc, ctx ? ctx->p : NULL,
						 ctx ? ctx->len : 0, &index);

	if (rc != 0) {
		rk_api_error(resp, rc == RK_ENOTLEADER || rc == RK_ECONFCHANGE ||
					   rc == RK_ESTATE ? 409 : 503,
			     rk_strerror(rc));
		return 0;
	}
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	n->admin.changes++;
	rk_crash_point(n, "member.proposed");
	return index;
}

/* The match index of replica id as the leader r tracks it (0 unknown). */
static uint64_t match_of(const struct rk_replica *r, uint64_t id, uint64_t *commitp)
{
	struct rk_raft_status st;

	rk_raft_status(&r->raft, &st);
	*commitp = st.hs.commit;
	for (size_t i = 0; i < st.n_progress; i++)
		if (st.progress[i].id == id)
			return st.progress[i].match;
	return 0;
}

static void one_change(struct rk_raft_conf_change *cc, uint8_t op, uint64_t id,
		       bool joint)
{
	memset(cc, 0, sizeof(*cc));
	cc->transition = joint ? RK_RAFT_CC_JOINT_IMPLICIT : RK_RAFT_CC_AUTO;
	cc->n = 1;
	cc->changes[0].op = op;
	cc->changes[0].id = id;
}

static struct rk_admin_op *new_op(enum op_kind kind, const struct rk_replica *r,
				  uint64_t index, uint64_t node, struct rk_http_resp *resp)
{
	struct rk_admin_op *op = calloc(1, sizeof(*op));

	if (op == NULL) {
		rk_api_error(resp, 202, "started; its outcome is not awaited (out of memory): "
			     "read the range");
		return NULL;
	}
	op->kind = kind;
	op->range = r->range;
	op->index = index;
	op->term = rk_raft_term(&r->raft);
	op->node = node;
	return op;
}

/* A replica on a node that holds none: a learner first (the leader sends
 * it a snapshot); role=voter promotes it once it has caught up. */
static void add_replica(struct rk_node *n, struct rk_replica *r, uint64_t node,
			bool voter, const struct rk_http_req *req,
			struct rk_http_resp *resp)
{
	struct rk_member_placed p = {r->desc.next_replica_id, node};
	struct rk_raft_conf_change cc;
	struct rk_admin_op *op;
	struct rk_buf ctx;
	uint64_t index;

	if (node != n->cfg.node_id && rk_peer_find(n, node) == NULL) {
		rk_api_error(resp, 409, "no such node in the cluster");
		return;
	}
	rk_buf_init(&ctx);
	if (rk_member_ctx_encode(&p, 1, &ctx) != 0) {
		rk_buf_free(&ctx);
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	one_change(&cc, RK_RAFT_CC_ADD_LEARNER, p.replica_id, false);
	index = propose(n, r, &cc, &ctx, resp);
	rk_buf_free(&ctx);
	if (index == 0)
		return;
	rk_log_info(MOD, "range %llu: adding replica %llu on node %llu as a learner%s "
		    "(entry %llu)", (unsigned long long)r->range,
		    (unsigned long long)p.replica_id, (unsigned long long)node,
		    voter ? ", to become a voter" : "", (unsigned long long)index);
	op = new_op(voter ? OP_ADD_VOTER : OP_CHANGE, r, index, node, resp);
	if (op != NULL) {
		op->replica = p.replica_id;
		wait_for(n, req, resp, op, ADD_WAIT_TIMEOUTS);
	}
}

/* POST .../replicas?node=N&role=learner|voter: the replica on node N
 * becomes (or is added as) a learner or a voter. */
static void change_role(struct rk_node *n, struct rk_replica *r,
			const struct rk_http_req *req, struct rk_http_resp *resp)
{
	char role[16];
	uint64_t node, index, match, commit;
	const struct rk_desc_replica *rep;
	struct rk_raft_conf_change cc;
	struct rk_admin_op *op;
	bool voter;

	if (!query_id(req, "node", &node) || !rk_http_query(req, "role", role, sizeof(role)) ||
	    (strcmp(role, "voter") != 0 && strcmp(role, "learner") != 0)) {
		rk_api_error(resp, 400, "node=N and role=learner|voter are required");
		return;
	}
	voter = strcmp(role, "voter") == 0;
	if (refused_now(n, r, resp))
		return;
	rep = rk_desc_on_node(&r->desc, node);
	if (rep == NULL) {
		add_replica(n, r, node, voter, req, resp);
		return;
	}
	if (rk_desc_role_votes(rep->role) == voter) {
		struct rk_json j;

		rk_json_init(&j, &resp->body);
		rk_api_range_json(&j, r, false); /* already so */
		return;
	}
	/* A learner that has not caught up would join the quorum as a voter
	 * that cannot vote for the latest entries. */
	match = match_of(r, rep->replica_id, &commit);
	if (voter && match < commit) {
		rk_api_error(resp, 409, "that learner has not caught up with the log yet");
		return;
	}
	one_change(&cc, voter ? RK_RAFT_CC_ADD_VOTER : RK_RAFT_CC_ADD_LEARNER,
		   rep->replica_id, true);
	index = propose(n, r, &cc, NULL, resp);
	if (index == 0)
		return;
	rk_log_info(MOD, "range %llu: replica %llu on node %llu becomes a %s (entry %llu)",
		    (unsigned long long)r->range, (unsigned long long)rep->replica_id,
		    (unsigned long long)node, role, (unsigned long long)index);
	if ((op = new_op(OP_CHANGE, r, index, node, resp)) != NULL)
		wait_for(n, req, resp, op, 1);
}

/* DELETE .../replicas/{replica_id}: removed through a joint configuration
 * if it votes. Not the leader's own: transfer the leadership first. */
static void remove_replica(struct rk_node *n, struct rk_replica *r, uint64_t id,
			   const struct rk_http_req *req, struct rk_http_resp *resp)
{
	const struct rk_desc_replica *rep = rk_desc_replica(&r->desc, id);
	struct rk_raft_conf_change cc;
	struct rk_admin_op *op;
	uint64_t index;

	if (rep == NULL) {
		rk_api_error(resp, 404, "no such replica in this range");
		return;
	}
	if (id == r->rs.replica_id) {
		rk_api_error(resp, 409, "that is the leader's replica: transfer the leadership "
			     "first (POST .../transfer-leader?to=N)");
		return;
	}
	if (refused_now(n, r, resp))
		return;
	one_change(&cc, RK_RAFT_CC_REMOVE, id, rk_desc_role_votes(rep->role));
	index = propose(n, r, &cc, NULL, resp);
	if (index == 0)
		return;
	rk_log_info(MOD, "range %llu: removing replica %llu on node %llu (entry %llu)",
		    (unsigned long long)r->range, (unsigned long long)id,
		    (unsigned long long)rep->node_id, (unsigned long long)index);
	if ((op = new_op(OP_CHANGE, r, index, rep->node_id, resp)) != NULL)
		wait_for(n, req, resp, op, 1);
}

static void transfer(struct rk_node *n, struct rk_replica *r,
		     const struct rk_http_req *req, struct rk_http_resp *resp)
{
	uint64_t node, to;
	struct rk_admin_op *op;
	int rc;

	if (!query_id(req, "to", &node)) {
		rk_api_error(resp, 400, "to=N (a node id) is required");
		return;
	}
	to = rk_replica_on_node(r, node);
	if (to == 0) {
		rk_api_error(resp, 409, "that node holds no replica of this range");
		return;
	}
	if (node == n->cfg.node_id) {
		struct rk_json j;
		rk_json_init(&j, &resp->body);
		rk_api_range_json(&j, r, false); /* leads already */
		return;
	}
	if (rk_admin_busy(n, r->range) || rk_merge_busy(n, r->range)) {
		rk_api_error(resp, 409, "another change of this range is under way");
		return;
	}
	rc = rk_raft_transfer_leader(&r->raft, to);
	if (rc != 0) {
		rk_api_error(resp, 409, rk_strerror(rc));
		return;
	}
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	n->admin.transfers++;
	if ((op = new_op(OP_TRANSFER, r, 0, node, resp)) != NULL)
		wait_for(n, req, resp, op, 1);
}

/* With generation=G&conf_version=V (the scheduler's calls): refused 409
 * when the range's descriptor is not that one any more, since the call
 * was decided on a descriptor that has moved on. */
static bool stale(const struct rk_replica *r, const struct rk_http_req *req,
		  struct rk_http_resp *resp)
{
	uint64_t g, v;

	if (!query_id(req, "generation", &g) || !query_id(req, "conf_version", &v) ||
	    (g == r->desc.generation && v == r->desc.conf_version))
		return false;
	rk_api_error(resp, 409, "the range changed since the call was decided "
		     "(its generation or configuration version moved on)");
	return true;
}

/* /api/v1/ranges/{id}/<verb>: the verb, and the range's replica. */
bool rk_admin_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp)
{
	const char *p = req->path + 15, *slash;
	struct rk_replica *r;
	uint64_t rid = 0;
	bool del;

	if (strncmp(req->path, "/api/v1/ranges/", 15) != 0 ||
	    (slash = strchr(p, '/')) == NULL)
		return false;
	del = strncmp(slash, "/replicas/", 10) == 0;
	if (strcmp(slash, "/replicas") != 0 && strcmp(slash, "/transfer-leader") != 0 && !del)
		return false;
	if (strcmp(req->method, del ? "DELETE" : "POST") != 0) {
		rk_api_error(resp, 405, del ? "DELETE only" : "POST only");
		return true;
	}
	if (del && !parse_id(slash + 10, strlen(slash + 10), &rid)) {
		rk_api_error(resp, 400, "a replica id is a whole number");
		return true;
	}
	if ((r = rk_admin_led_range(n, p, (size_t)(slash - p), resp)) == NULL)
		return true;
	if (stale(r, req, resp))
		return true;
	if (del)
		remove_replica(n, r, rid, req, resp);
	else if (strcmp(slash, "/replicas") == 0)
		change_role(n, r, req, resp);
	else
		transfer(n, r, req, resp);
	return true;
}

/* An OP_ADD_VOTER whose learner is in: promotes it once caught up. 0
 * while it waits; else a status for the answer. */
static int promote_new(struct rk_node *n, struct rk_admin_op *op, struct rk_replica *r,
		       const char **msgp)
{
	struct rk_raft_conf_change cc;
	struct rk_http_resp resp;
	uint64_t commit, index;

	if (match_of(r, op->replica, &commit) < commit)
		return 0; /* its snapshot or entries are on their way */
	/* Not while a leadership transfer runs (it drops proposals) or the
	 * core still holds a change it has not applied: the next tick tries
	 * again, until the call's deadline. */
	if (rk_raft_transferee(&r->raft) != 0 || rk_raft_conf_pending(&r->raft))
		return 0;
	one_change(&cc, RK_RAFT_CC_ADD_VOTER, op->replica, true);
	memset(&resp, 0, sizeof(resp));
	rk_buf_init(&resp.body);
	index = propose(n, r, &cc, NULL, &resp);
	rk_buf_free(&resp.body);
	if (index == 0) {
		*msgp = "the learner was added, but promoting it failed: read the range";
		return 503;
	}
	op->index = index;
	op->kind = OP_CHANGE;
	return 0;
}

/* 0 while op waits; else the HTTP status its answer has (msg the error). */
static int outcome(struct rk_node *n, struct rk_admin_op *op,
		   struct rk_replica *r, const char **msgp)
{
	bool changed = op->kind != OP_TRANSFER && r != NULL && r->applied >= op->index;

	*msgp = NULL;
	if (r == NULL || r->removing) {
		*msgp = "the range left this node; the outcome is unknown";
		return 503;
	}
	if (changed && !rk_raft_conf_is_joint(&r->rs.conf)) {
		if (op->kind == OP_CHANGE)
			return 200;
		if (rk_raft_is_leader(&r->raft) && rk_raft_term(&r->raft) == op->term)
			return promote_new(n, op, r, msgp);
	} else if (op->kind == OP_TRANSFER && rk_replica_leader_node(r) == op->node) {
		return 200;
	}
	if (rk_raft_term(&r->raft) != op->term || !rk_raft_is_leader(&r->raft)) {
		if (op->kind != OP_TRANSFER && !changed) {
			*msgp = "leadership changed before the change applied; it may still "
				"apply: read the range";
			return 503;
		}
		if (op->kind == OP_ADD_VOTER) {
			*msgp = "the learner was added, then leadership changed before it was "
				"promoted: promote it with role=voter";
			return 503;
		}
		if (op->kind == OP_CHANGE)
			return 0; /* applied; the joint state is left by the new leader */
		if (rk_replica_leader_node(r) == 0)
			return 0; /* the transfer's election is still on */
		*msgp = "another node took the lead";
		return 409;
	}
	if (op->kind == OP_TRANSFER && rk_raft_transferee(&r->raft) == 0) {
		*msgp = "the transfer was abandoned (the target did not catch up in time)";
		return 409;
	}
	if (uv_now(&n->loop) >= op->deadline) {
		*msgp = "not done in time; it may still complete: read the range";
		return 504;
	}
	return 0;
}

static void answer(struct rk_admin_op *op, struct rk_replica *r, int status,
		   const char *msg)
{
	struct rk_http_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (msg != NULL) {
		rk_api_error(&resp, status, msg);
	} else {
		struct rk_json j;

		resp.status = status;
		rk_json_init(&j, &resp.body);
		rk_api_range_json(&j, r, false);
	}
	rk_http_answer(op->later, &resp);
	rk_buf_free(&resp.body);
}

void rk_admin_tick(struct rk_node *n)
{
	struct rk_admin_op **pp = &n->admin.ops, *op;

	while ((op = *pp) != NULL) {
		struct rk_replica *r = rk_table_get(&n->tab, op->range);
		const char *msg;
		int status = outcome(n, op, r, &msg);

		if (status == 0) {
			pp = &op->next;
			continue;
		}
		if (status != 200)
			n->admin.failed++;
		*pp = op->next;
		answer(op, r, status, msg);
		free(op);
	}
}

void rk_admin_close(struct rk_node *n)
{
	struct rk_admin_op *op, *next;

	for (op = n->admin.ops; op != NULL; op = next) {
		next = op->next;
		answer(op, NULL, 503, "the node is stopping; the outcome is unknown");
		free(op);
	}
	n->admin.ops = NULL;
}

void rk_admin_not_leader(struct rk_http_resp *resp, const struct rk_replica *r)
{
	not_leader(resp, r);
}

bool rk_admin_parse_id(const char *s, size_t len, uint64_t *vp)
{
	return parse_id(s, len, vp);
}

struct rk_replica *rk_admin_led_range(struct rk_node *n, const char *id, size_t len,
				      struct rk_http_resp *resp)
{
	struct rk_replica *r;
	uint64_t rid;

	if (!parse_id(id, len, &rid)) {
		rk_api_error(resp, 400, "a range id is a whole number");
		return NULL;
	}
	r = rk_table_get(&n->tab, rid);
	if (r == NULL || r->removing || r->desc.n_reps == 0) {
		rk_api_error(resp, 404, "no such range on this node");
		return NULL;
	}
	if (!rk_raft_is_leader(&r->raft)) {
		not_leader(resp, r);
		return NULL;
	}
	return r;
}
