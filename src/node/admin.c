/*
 * Admin calls that change a range (admin.h).
 */
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "api.h"
#include "json.h"
#include "log.h"
#include "member.h"
#include "node_int.h"
#include "quiesce.h"

#define MOD "node"

enum op_kind { OP_ROLE, OP_TRANSFER };

struct rk_admin_op {
	enum op_kind kind;
	uint64_t range;
	uint64_t index;     /* OP_ROLE: the conf change's entry */
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

static bool busy(const struct rk_node *n, uint64_t range)
{
	for (const struct rk_admin_op *o = n->admin.ops; o != NULL; o = o->next)
		if (o->range == range)
			return true;
	return false;
}

/* Waits for the outcome of op; answers at once if the call cannot wait. */
static void wait_for(struct rk_node *n, const struct rk_http_req *req,
		     struct rk_http_resp *resp, struct rk_admin_op *op)
{
	op->later = rk_http_defer(req);
	if (op->later == NULL) {
		free(op);
		rk_api_error(resp, 202, "accepted; its outcome is not awaited "
			     "(out of memory): read the range");
		return;
	}
	op->deadline = uv_now(&n->loop) + n->cfg.request_timeout_ms;
	op->next = n->admin.ops;
	n->admin.ops = op;
}

/* The replica on node `node` becomes role (voter or learner). */
static void change_role(struct rk_node *n, struct rk_replica *r,
			const struct rk_http_req *req, struct rk_http_resp *resp)
{
	char role[16];
	uint64_t node, index;
	const struct rk_desc_replica *rep;
	struct rk_raft_conf_change cc;
	struct rk_admin_op *op;
	bool voter;
	int rc;

	if (!query_id(req, "node", &node) || !rk_http_query(req, "role", role, sizeof(role)) ||
	    (strcmp(role, "voter") != 0 && strcmp(role, "learner") != 0)) {
		rk_api_error(resp, 400, "node=N and role=learner|voter are required");
		return;
	}
	voter = strcmp(role, "voter") == 0;
	rep = rk_desc_on_node(&r->desc, node);
	if (rep == NULL) {
		rk_api_error(resp, 409, "that node holds no replica of this range (replicas "
			     "are not yet created on nodes that do not hold the range)");
		return;
	}
	if (rk_raft_conf_is_joint(&r->rs.conf) || busy(n, r->range)) {
		rk_api_error(resp, 409, "another membership change of this range is under way");
		return;
	}
	if (rk_desc_role_votes(rep->role) == voter) {
		struct rk_json j;

		rk_json_init(&j, &resp->body);
		rk_api_range_json(&j, r); /* already so */
		return;
	}
	if (voter) {
		/* A learner that has not caught up would join the quorum as a
		 * voter that cannot vote for the latest entries. */
		struct rk_raft_status st;
		uint64_t match = 0;

		rk_raft_status(&r->raft, &st);
		for (size_t i = 0; i < st.n_progress; i++)
			if (st.progress[i].id == rep->replica_id)
				match = st.progress[i].match;
		if (match < st.hs.commit) {
			rk_api_error(resp, 409, "that learner has not caught up with the log yet");
			return;
		}
	}
	memset(&cc, 0, sizeof(cc));
	cc.transition = RK_RAFT_CC_JOINT_IMPLICIT;
	cc.n = 1;
	cc.changes[0].op = voter ? RK_RAFT_CC_ADD_VOTER : RK_RAFT_CC_ADD_LEARNER;
	cc.changes[0].id = rep->replica_id;
	rc = rk_raft_propose_conf_change_ctx(&r->raft, &cc, NULL, 0, &index);
	if (rc != 0) {
		rk_api_error(resp, rc == RK_ENOTLEADER ? 409 : rc == RK_ECONFCHANGE ? 409 : 503,
			     rk_strerror(rc));
		return;
	}
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	n->admin.changes++;
	rk_log_info(MOD, "range %llu: replica %llu on node %llu becomes a %s (entry %llu)",
		    (unsigned long long)r->range, (unsigned long long)rep->replica_id,
		    (unsigned long long)node, role, (unsigned long long)index);
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		rk_api_error(resp, 202, "proposed; its outcome is not awaited (out of memory)");
		return;
	}
	op->kind = OP_ROLE;
	op->range = r->range;
	op->index = index;
	op->term = rk_raft_term(&r->raft);
	op->node = node;
	wait_for(n, req, resp, op);
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
		rk_api_range_json(&j, r); /* leads already */
		return;
	}
	if (busy(n, r->range)) {
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
	op = calloc(1, sizeof(*op));
	if (op == NULL) {
		rk_api_error(resp, 202, "started; its outcome is not awaited (out of memory)");
		return;
	}
	op->kind = OP_TRANSFER;
	op->range = r->range;
	op->term = rk_raft_term(&r->raft);
	op->node = node;
	wait_for(n, req, resp, op);
}

/* /api/v1/ranges/{id}/<verb>: the verb, and the range's replica. */
bool rk_admin_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp)
{
	const char *p = req->path + 15, *slash;
	struct rk_replica *r;
	uint64_t id;

	if (strncmp(req->path, "/api/v1/ranges/", 15) != 0 ||
	    (slash = strchr(p, '/')) == NULL)
		return false;
	if (strcmp(slash, "/replicas") != 0 && strcmp(slash, "/transfer-leader") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if (!parse_id(p, (size_t)(slash - p), &id)) {
		rk_api_error(resp, 400, "a range id is a whole number");
		return true;
	}
	r = rk_table_get(&n->tab, id);
	if (r == NULL) {
		rk_api_error(resp, 404, "no such range on this node");
		return true;
	}
	if (!rk_raft_is_leader(&r->raft)) {
		not_leader(resp, r);
		return true;
	}
	if (strcmp(slash, "/replicas") == 0)
		change_role(n, r, req, resp);
	else
		transfer(n, r, req, resp);
	return true;
}

/* 0 while op waits; else the HTTP status its answer has (msg the error). */
static int outcome(struct rk_node *n, const struct rk_admin_op *op,
		   struct rk_replica *r, const char **msgp)
{
	*msgp = NULL;
	if (r == NULL) {
		*msgp = "the range left this node; the outcome is unknown";
		return 503;
	}
	if (op->kind == OP_ROLE && r->applied >= op->index) {
		if (!rk_raft_conf_is_joint(&r->rs.conf))
			return 200;
		/* Left by the leader on its own; a new leader leaves it too. */
	} else if (op->kind == OP_TRANSFER && rk_replica_leader_node(r) == op->node) {
		return 200;
	}
	if (rk_raft_term(&r->raft) != op->term || !rk_raft_is_leader(&r->raft)) {
		if (op->kind == OP_ROLE && r->applied < op->index) {
			*msgp = "leadership changed before the change applied; it may still "
				"apply: read the range";
			return 503;
		}
		if (op->kind == OP_ROLE)
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
		*msgp = "not done within --request-timeout; it may still complete: read the range";
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
		rk_api_range_json(&j, r);
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
