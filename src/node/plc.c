/*
 * The placement group on a node (plc.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_range.h"
#include "boot.h"
#include "crash.h"
#include "heartbeat.h"
#include "json.h"
#include "le.h"
#include "log.h"
#include "node_int.h"
#include "plc.h"
#include "quiesce.h"
#include "serve.h"

#define MOD "placement"
/* A call not answered within this long is sent again (to the next node
 * of the group when the leader is not known). */
#define RETRY_MS 1000u
/* The answer: u32 rc (two's complement) | u64 first id (ALLOC) or
 * descriptors taken (REPORT). */
#define REPLY_LEN 12

struct plc_call {
	struct plc_call *next;
	uint64_t id;
	uint32_t count;
	rk_node_pl_alloc_cb cb;
	void *arg;
	uint64_t started_ms, sent_ms;
};

struct plc_result {
	uint8_t op;
	uint64_t origin, token, value;
	int rc;
};

uint32_t rk_plc_group_size(uint32_t n_initial)
{
	return n_initial >= 5 ? 5 : n_initial >= 3 ? 3 : n_initial;
}

/* ids[0..count) sorted into out (at most RK_DESC_MAX_REPLICAS), the
 * number kept. */
static uint32_t sorted_nodes(const uint64_t *ids, uint32_t count, uint64_t *out)
{
	uint32_t k = count > RK_DESC_MAX_REPLICAS ? RK_DESC_MAX_REPLICAS : count;

	memcpy(out, ids, k * sizeof(*ids));
	for (uint32_t i = 1; i < k; i++)
		for (uint32_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return k;
}

void rk_plc_set_nodes(struct rk_node *n, const uint64_t *nodes, uint32_t count)
{
	struct rk_plc *p = &n->plc;

	/* In node id order, as its replicas are (replica ids 1..k). */
	p->n_nodes = sorted_nodes(nodes, count, p->nodes);
	p->n_first = p->n_nodes > RK_PLC_MAX_NODES ? RK_PLC_MAX_NODES : p->n_nodes;
	memcpy(p->first, p->nodes, p->n_first * sizeof(*p->first));
}

uint32_t rk_plc_steady(const struct rk_node *n, uint64_t *ids, uint32_t k)
{
	const struct rk_plc *p = &n->plc;
	uint32_t m = 0;

	for (uint32_t i = 0; i < k; i++)
		for (uint32_t j = 0; j < p->n_first; j++)
			if (ids[i] == p->first[j]) {
				ids[m++] = ids[i];
				break;
			}
	return m > 0 ? m : k;
}

/* The row of the group's nodes last learned: u64 ids, little-endian. */
#define NODES_ROW "placement_nodes"

int rk_plc_load_nodes(struct rk_node *n)
{
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	const void *v;
	size_t vl;
	int rc = rk_store_meta_get(n->reader, NODES_ROW, &v, &vl);

	if (rc == RK_ENOTFOUND)
		return 0; /* never moved: the first-start nodes */
	if (rc != 0)
		return rc;
	if (vl == 0 || vl % 8 != 0 || vl / 8 > RK_DESC_MAX_REPLICAS)
		return RK_ECORRUPT;
	for (size_t i = 0; i < vl / 8; i++)
		ids[i] = rk_le_get64((const uint8_t *)v + 8 * i);
	n->plc.n_nodes = sorted_nodes(ids, (uint32_t)(vl / 8), n->plc.nodes);
	return 0;
}

void rk_plc_learn_nodes(struct rk_node *n, const uint64_t *nodes, uint32_t count)
{
	struct rk_plc *p = &n->plc;
	uint64_t ids[RK_DESC_MAX_REPLICAS];
	uint8_t row[8 * RK_DESC_MAX_REPLICAS];
	struct rk_store_batch *b;
	uint32_t k;

	if (p->n_nodes == 0 || count == 0)
		return;
	k = sorted_nodes(nodes, count, ids);
	if (k == p->n_nodes && memcmp(ids, p->nodes, k * sizeof(*ids)) == 0)
		return;
	memcpy(p->nodes, ids, k * sizeof(*ids));
	p->n_nodes = k;
	p->rr = p->rr_group = 0;
	/* Recorded so that a restart routes to where the group is now, even
	 * when none of its first-start nodes holds it any more. A failed
	 * write is tried again at the next change (the list is right in
	 * memory meanwhile). */
	for (uint32_t i = 0; i < k; i++)
		rk_le_put64(row + 8 * i, ids[i]);
	if ((b = rk_store_batch_new()) != NULL) {
		rk_store_batch_meta_put(b, NODES_ROW, row, 8 * k);
		if (rk_store_write(n->store, b) != 0)
			rk_log_warn(MOD, "the placement group's nodes could not be recorded");
	}
	rk_log_info(MOD, "the placement group's replicas are on %u nodes now, from node %llu",
		    k, (unsigned long long)ids[0]);
}

/* Whether id is one of the group's nodes as last known. */
static bool group_node(const struct rk_plc *p, uint64_t id)
{
	for (uint32_t i = 0; i < p->n_nodes; i++)
		if (p->nodes[i] == id)
			return true;
	return false;
}

uint64_t rk_plc_next_node(struct rk_node *n, uint64_t not)
{
	struct rk_plc *p = &n->plc;
	uint64_t self = n->cfg.node_id;

	if (p->n_nodes == 0)
		return 0; /* no group */
	/* Turns alternate between the group's nodes and the other peers, so
	 * that a node whose known group nodes are all gone asks a live one
	 * within a few turns; 2 * (both counts) turns reach every node. */
	for (uint32_t tries = 0; tries < 2 * (p->n_nodes + n->n_peers) + 2; tries++) {
		uint64_t to = 0;
		if ((p->rr++ & 1) == 0) {
			to = p->nodes[p->rr_group++ % p->n_nodes];
		} else if (n->n_peers > 0) {
			to = n->peers[p->rr_peer++ % n->n_peers].node_id;
			if (group_node(p, to))
				to = 0; /* asked in the group's turns */
		}
		if (to != 0 && to != self && to != not)
			return to;
	}
	return 0;
}

struct rk_replica *rk_plc_replica(struct rk_node *n)
{
	struct rk_replica *r = rk_table_get(&n->tab, RK_RANGE_PLACEMENT);

	return r != NULL && !r->removing && r->desc.n_reps > 0 ? r : NULL;
}

bool rk_plc_index_same(const struct rk_node *n, const struct rk_replica *g, uint64_t at)
{
	const struct rk_plc *p = &n->plc;

	/* Applied through visible at least (an entry applied, its batch not
	 * yet committed, is not visible: no matter), nothing since `at` that
	 * may have changed the index. A snapshot moves visible with no
	 * entry applied here: idx_through stays below it. */
	return at == g->visible || (p->idx_through >= g->visible && p->idx_changed <= at);
}

/* Whether an applied command may have changed the index: every command
 * but the node table's (res: what it did; a REPORT whose descriptors
 * were all stale wrote nothing). */
static bool index_moved(const struct rk_pl_result *res)
{
	switch (res->op) {
	case RK_PL_CMD_STATS:
	case RK_PL_CMD_REGISTER:
	case RK_PL_CMD_STATE:
	case RK_PL_CMD_REBALANCE:
		return false;
	case RK_PL_CMD_REPORT:
		return res->taken > 0;
	default:
		return true;
	}
}

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

/* ---- proposing on the leader --------------------------------------------------- */

static int propose(struct rk_node *n, struct rk_replica *r, const void *cmd, size_t len)
{
	uint64_t last;
	int rc;

	if (!rk_raft_is_leader(&r->raft) || r->installing)
		return RK_ENOTLEADER;
	if (r->asleep)
		rk_node_wake(n, r); /* a proposal wakes the range */
	rc = rk_raft_propose(&r->raft, cmd, (uint32_t)len, &last);
	if (rc == 0) {
		n->stats.proposals++;
		rk_node_mark_dirty(n, r);
	}
	return rc;
}

int rk_plc_propose(struct rk_node *n, const void *cmd, size_t len)
{
	struct rk_replica *r = rk_plc_replica(n);

	return r == NULL ? RK_ENOTLEADER : propose(n, r, cmd, len);
}

void rk_plc_send(struct rk_node *n, uint64_t to, uint64_t id, const void *cmd, size_t len)
{
	struct rk_peer *p = rk_peer_find(n, to);
	struct rk_net_req req;

	if (p == NULL)
		return; /* not connected yet: the retry goes on */
	memset(&req, 0, sizeof(req));
	req.id = id;
	req.range = RK_RANGE_PLACEMENT;
	req.cmd = cmd;
	req.len = len;
	rk_net_batch_add_req(&p->batch, &req);
	rk_process_kick(n);
}

/* Sends a command of ours to the group's leader as far as this node
 * knows it (proposed here if that is this node). */
static void send_cmd(struct rk_node *n, uint64_t id, const void *cmd, size_t len)
{
	struct rk_plc *p = &n->plc;
	uint64_t to = p->leader_hint;
	struct rk_replica *r;

	/* Nobody known: the leader this node's own replica knows (itself
	 * maybe), else the nodes in turn. */
	if (to == 0 && (r = rk_plc_replica(n)) != NULL)
		to = rk_replica_leader_node(r);
	if (to == 0)
		to = rk_plc_next_node(n, 0);
	if (to == 0)
		return; /* nobody to ask: the retry tries again */
	if (to != n->cfg.node_id) {
		rk_plc_send(n, to, id, cmd, len);
		return;
	}
	r = rk_plc_replica(n);
	if (r != NULL && propose(n, r, cmd, len) == 0)
		return;
	/* Not the leader here: the one this replica knows, or wait for the
	 * retry. */
	to = r != NULL ? rk_replica_leader_node(r) : 0;
	p->leader_hint = to != n->cfg.node_id ? to : 0;
	if (p->leader_hint != 0)
		rk_plc_send(n, p->leader_hint, id, cmd, len);
}

static void call_send(struct rk_node *n, struct plc_call *c)
{
	uint8_t cmd[32];
	struct rk_buf b = {(char *)cmd, 0, sizeof(cmd), false};

	/* The token is the call's id: the answer finds the call by it. */
	(void)rk_pl_encode_alloc(&b, n->cfg.node_id, c->id, c->count);
	c->sent_ms = now_ms(n);
	send_cmd(n, c->id, cmd, b.len);
}

static void report_send(struct rk_node *n)
{
	struct rk_plc *p = &n->plc;

	p->inflight_sent_ms = now_ms(n);
	p->reports_sent++;
	send_cmd(n, p->inflight_id, p->inflight.p, p->inflight.len);
}

/* ---- the API -------------------------------------------------------------------- */

/* A call that can be started (*cp), or why not. */
static int call_new(struct rk_node *n, uint32_t count, struct plc_call **cp)
{
	*cp = NULL;
	if (count == 0 || count > RK_PL_MAX_ALLOC)
		return RK_EINVAL;
	if (n->plc.n_nodes == 0)
		return RK_ESTATE;
	if (n->stopping)
		return RK_ESTOPPED;
	if ((*cp = calloc(1, sizeof(**cp))) == NULL)
		return RK_ENOMEM;
	(*cp)->count = count;
	return 0;
}

static void call_start(struct rk_node *n, struct plc_call *c, rk_node_pl_alloc_cb cb,
		       void *arg)
{
	struct rk_plc *p = &n->plc;

	c->id = RK_PLC_REQ_BIT | ++p->next_req;
	c->cb = cb;
	c->arg = arg;
	c->started_ms = now_ms(n);
	c->next = p->calls;
	p->calls = c;
	call_send(n, c); /* answered at apply: never from inside this call */
}

int rk_node_pl_alloc_ids(struct rk_node *n, uint32_t count, rk_node_pl_alloc_cb cb,
			 void *arg)
{
	struct plc_call *c;
	int rc = cb == NULL ? RK_EINVAL : call_new(n, count, &c);

	if (rc == 0)
		call_start(n, c, cb, arg);
	return rc;
}

int rk_node_pl_report(struct rk_node *n, const struct rk_desc *descs, size_t count)
{
	struct rk_plc *p = &n->plc;
	size_t at = p->queued.len;

	if (p->n_nodes == 0)
		return RK_ESTATE;
	for (size_t i = 0; i < count; i++)
		if (rk_range_reserved(descs[i].range_id) || descs[i].range_id == 0 ||
		    descs[i].v1)
			return RK_EINVAL;
	if (p->queued.len >= RK_PLC_MAX_QUEUED)
		return RK_EBUSY;
	for (size_t i = 0; i < count; i++)
		if (rk_pl_encode_report_desc(&p->queued, &descs[i]) != 0) {
			p->queued.len = at; /* all or nothing */
			p->queued.oom = false;
			return RK_ENOMEM;
		}
	p->n_queued += (uint32_t)count;
	rk_process_kick(n);
	return 0;
}

void rk_plc_desc_changed(struct rk_node *n, struct rk_replica *r)
{
	r->desc_owed = true;
	rk_plc_report_owed(n, r);
}

void rk_plc_merged(struct rk_node *n, struct rk_replica *r, const struct rk_desc *right)
{
	struct rk_desc *gone = calloc(1, sizeof(*gone));

	if (gone != NULL && rk_desc_gone(gone, right, r->desc.generation) == 0) {
		if (r->gone_owed != NULL) /* an earlier merge's, not yet sent: sent first */
			rk_plc_report_owed(n, r);
		rk_replica_gone_owed_clear(r);
		r->gone_owed = gone;
	} else {
		free(gone);
		rk_log_warn(MOD, "range %llu: out of memory noting the merged range %llu for "
			    "the placement index", (unsigned long long)r->range,
			    (unsigned long long)right->range_id);
	}
	rk_plc_desc_changed(n, r);
}

void rk_plc_report_owed(struct rk_node *n, struct rk_replica *r)
{
	if ((!r->desc_owed && r->gone_owed == NULL) || !rk_raft_is_leader(&r->raft))
		return;
	if (r->desc_owed && r->desc.n_reps > 0) {
		if (!rk_range_reserved(r->range) &&
		    rk_node_pl_report(n, &r->desc, 1) == RK_EBUSY)
			return; /* the queue is full: the next turn */
		r->desc_owed = false; /* queued, or never to be (no group here) */
	}
	/* After the merged descriptor, as the merge's leader reported them. */
	if (r->gone_owed != NULL && rk_node_pl_report(n, r->gone_owed, 1) != RK_EBUSY)
		rk_replica_gone_owed_clear(r);
}

void rk_plc_flush(struct rk_node *n)
{
	struct rk_plc *p = &n->plc;

	if (p->n_queued == 0 || p->inflight_id != 0)
		return;
	if (n->hooks.report_drop) { /* tests only: reports lost (crash.h) */
		rk_buf_reset(&p->queued);
		p->n_queued = 0;
		return;
	}
	rk_buf_reset(&p->inflight);
	p->inflight_id = RK_PLC_REQ_BIT | ++p->next_req;
	if (rk_pl_encode_report(&p->inflight, n->cfg.node_id, p->inflight_id,
				p->n_queued) != 0) {
		p->inflight_id = 0;
		return; /* no memory: the next turn tries again */
	}
	rk_buf_append(&p->inflight, p->queued.p, p->queued.len);
	if (p->inflight.oom) {
		p->inflight.oom = false;
		p->inflight_id = 0;
		return;
	}
	rk_buf_reset(&p->queued);
	p->n_queued = 0;
	report_send(n);
}

/* ---- answers ------------------------------------------------------------------- */

static void call_done(struct rk_node *n, uint64_t id, int rc, uint64_t first)
{
	struct plc_call **pp = &n->plc.calls, *c;

	while ((c = *pp) != NULL && c->id != id)
		pp = &c->next;
	if (c == NULL)
		return; /* answered already (a retried call), or timed out */
	*pp = c->next;
	if (rc == 0) {
		n->plc.allocs++;
		n->plc.ids_allocated += c->count;
	}
	c->cb(c->arg, rc, first);
	free(c);
}

/* The outcome of a command of ours, by its token. */
static void deliver(struct rk_node *n, uint64_t token, int rc, uint64_t value)
{
	struct rk_plc *p = &n->plc;

	if (token & RK_HB_REQ_BIT) {
		rk_hb_on_result(n, token, rc); /* the node table's upkeep */
		return;
	}
	if (token != 0 && token == p->inflight_id) {
		/* Taken: a REPORT's answer carries no error (an apply error
		 * stops the group's apply; a malformed report is skipped
		 * unanswered, and sent again by the retry). */
		p->inflight_id = 0;
		rk_buf_reset(&p->inflight);
		if (p->n_queued > 0)
			rk_process_kick(n);
		return;
	}
	call_done(n, token, rc, value);
}

void rk_plc_on_resp(struct rk_node *n, const struct rk_net_resp *resp)
{
	struct rk_plc *p = &n->plc;

	if (resp->id & RK_HB_REQ_BIT) {
		rk_hb_on_resp(n, resp); /* a heartbeat's or a query's */
		return;
	}
	if (resp->status == RK_NET_RESP_OK && resp->len == REPLY_LEN) {
		p->leader_hint = n->cur_from; /* it answered as the leader */
		deliver(n, resp->id, (int)(int32_t)rk_le_get32(resp->reply),
			rk_le_get64(resp->reply + 4));
		return;
	}
	/* Not the leader (with a hint, or none known): sent again now to the
	 * hint, else by the retry. */
	p->leader_hint = resp->status == RK_NET_RESP_NOT_LEADER ? resp->leader : 0;
	if (p->leader_hint == 0)
		return;
	if (resp->id == p->inflight_id) {
		report_send(n);
		return;
	}
	for (struct plc_call *c = p->calls; c != NULL; c = c->next)
		if (c->id == resp->id) {
			call_send(n, c);
			break;
		}
}

void rk_plc_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req)
{
	struct rk_replica *r = rk_plc_replica(n);
	uint64_t hint;

	if (req->len >= RK_PL_REPORT_HEADER &&
	    (req->cmd[0] == RK_PL_MSG_HEARTBEAT || req->cmd[0] == RK_PL_MSG_NODES)) {
		rk_hb_on_req(n, origin, req); /* answered by the leader, never logged */
		return;
	}
	/* Only these commands (REGISTER: a node added on the sender,
	 * STATE: a decommission asked of the sender, heartbeat.h;
	 * REBALANCE: the switch turned on the sender, rebalance.h), each
	 * naming its sender and this request:
	 * the answer goes to the node the command names. */
	if (req->len < 17 ||
	    (req->cmd[0] != RK_PL_CMD_ALLOC && req->cmd[0] != RK_PL_CMD_REPORT &&
	     req->cmd[0] != RK_PL_CMD_REGISTER && req->cmd[0] != RK_PL_CMD_STATE &&
	     req->cmd[0] != RK_PL_CMD_REBALANCE) ||
	    rk_le_get64(req->cmd + 1) != origin || rk_le_get64(req->cmd + 9) != req->id) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, NULL, 0);
		return;
	}
	if (r != NULL && propose(n, r, req->cmd, req->len) == 0) {
		if (req->cmd[0] == RK_PL_CMD_REGISTER)
			rk_crash_point(n, "plc.register_proposed");
		return; /* answered once applied */
	}
	hint = r != NULL ? rk_replica_leader_node(r) : n->plc.leader_hint;
	rk_serve_answer(n, origin, req->id, RK_NET_RESP_NOT_LEADER,
			hint != n->cfg.node_id ? hint : 0, NULL, 0);
}

/* ---- applying ------------------------------------------------------------------ */

void rk_plc_apply_begin(struct rk_node *n)
{
	rk_pl_sm_begin(&n->plc.sm);
	n->plc.n_res = 0;
}

int rk_plc_apply(struct rk_node *n, struct rk_replica *r, const struct rk_raft_entry *e,
		 struct rk_store_batch *b)
{
	struct rk_plc *p = &n->plc;
	struct rk_pl_result res;
	int rc;

	/* An entry not right after the last one applied here: what came
	 * between (a snapshot, a configuration change, an attempt rolled
	 * back and made again) may have changed the index. */
	if (e->index != p->idx_through + 1)
		p->idx_changed = e->index;
	p->idx_through = e->index;
	if (e->len == 0)
		return 0; /* a new leader's empty entry */
	rc = rk_pl_sm_apply(&p->sm, n->reader, b, e->data, e->len, &res);
	if (rc == 0 && index_moved(&res))
		p->idx_changed = e->index;
	if (rc == RK_EPROTO) {
		rk_log_warn(MOD, "entry %llu of the placement group is not a command; skipped",
			    (unsigned long long)e->index);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (res.origin == 0)
		return 0;
	rc = rk_grow((void **)&p->res, &p->cap_res, p->n_res, sizeof(*p->res));
	if (rc != 0)
		return rc;
	p->res[p->n_res++] = (struct plc_result){
		res.op, res.origin, res.token,
		res.op == RK_PL_CMD_ALLOC ? res.first : res.taken, res.rc};
	(void)r;
	return 0;
}

void rk_plc_apply_commit(struct rk_node *n, struct rk_replica *r)
{
	struct rk_plc *p = &n->plc;
	bool leader = rk_raft_is_leader(&r->raft);

	for (size_t i = 0; i < p->n_res; i++) {
		const struct plc_result *x = &p->res[i];
		uint8_t reply[REPLY_LEN];

		if (x->origin == n->cfg.node_id) {
			if (leader)
				p->leader_hint = n->cfg.node_id;
			deliver(n, x->token, x->rc, x->value);
			continue;
		}
		if (!leader)
			continue; /* the leader answers */
		if (x->op == RK_PL_CMD_REGISTER)
			rk_crash_point(n, "plc.register_applied");
		rk_le_put32(reply, (uint32_t)x->rc);
		rk_le_put64(reply + 4, x->value);
		rk_serve_answer(n, x->origin, x->token, RK_NET_RESP_OK, 0, reply, sizeof(reply));
	}
	p->n_res = 0;
}

/* ---- time ---------------------------------------------------------------------- */

void rk_plc_tick(struct rk_node *n)
{
	struct rk_plc *p = &n->plc;
	uint64_t now = now_ms(n);
	struct plc_call **pp = &p->calls, *c;

	while ((c = *pp) != NULL) {
		if (now - c->started_ms >= RK_PLC_CALL_MS) {
			*pp = c->next;
			p->timeouts++;
			rk_log_warn(MOD, "no leader of the placement group answered an allocation "
				    "of %u ids in %u ms", c->count, RK_PLC_CALL_MS);
			c->cb(c->arg, RK_ETIMEDOUT, 0);
			free(c);
			continue;
		}
		if (now - c->sent_ms >= RETRY_MS) {
			p->leader_hint = 0; /* silent: try the next node */
			call_send(n, c);
		}
		pp = &c->next;
	}
	if (p->inflight_id != 0 && now - p->inflight_sent_ms >= RETRY_MS) {
		p->leader_hint = 0;
		report_send(n);
	}
}

/* ---- inspection ------------------------------------------------------------------ */

void rk_plc_status_json(struct rk_node *n, struct rk_json *j)
{
	struct rk_plc *p = &n->plc;
	struct rk_replica *r = rk_plc_replica(n);
	uint64_t leader = r != NULL ? rk_replica_leader_node(r) : p->leader_hint;

	if (p->n_nodes == 0) {
		rk_json_null(j);
		return;
	}
	rk_json_obj_begin(j);
	rk_json_key(j, "replicas");
	rk_json_arr_begin(j);
	/* Its descriptor where this node holds a replica, else the nodes
	 * last learned (rk_plc_learn_nodes). */
	if (r != NULL)
		for (uint8_t i = 0; i < r->desc.n_reps; i++)
			rk_json_u64(j, r->desc.reps[i].node_id);
	else
		for (uint32_t i = 0; i < p->n_nodes; i++)
			rk_json_u64(j, p->nodes[i]);
	rk_json_arr_end(j);
	rk_json_key(j, "leader");
	if (leader == 0)
		rk_json_null(j);
	else
		rk_json_u64(j, leader);
	rk_json_obj_end(j);
}

static void http_alloc_done(void *arg, int rc, uint64_t first)
{
	struct rk_http_later *l = arg;
	struct rk_http_resp resp;
	struct rk_json j;

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (rc != 0) {
		rk_api_error(&resp, rc == RK_ETIMEDOUT ? 504 : 503, rk_strerror(rc));
	} else {
		rk_json_init(&j, &resp.body);
		rk_json_obj_begin(&j);
		rk_json_key(&j, "first");
		rk_json_u64(&j, first);
		rk_json_obj_end(&j);
	}
	rk_http_answer(l, &resp);
	rk_buf_free(&resp.body);
}

static void http_index(struct rk_node *n, uint64_t range, struct rk_http_resp *resp)
{
	struct rk_desc d;
	struct rk_json j;

	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	struct rk_buf keys;
	const struct rk_desc *dd = &d;
	struct rk_desc init;
	int rc;

	memset(&d, 0, sizeof(d));
	rk_buf_init(&keys);
	rc = rk_plc_replica(n) == NULL ? RK_ENOTFOUND : rk_pl_read_desc(n->reader, range, &d);
	/* Never reported: the first-start descriptor, if it is an initial
	 * range (group.h). */
	if (rc == RK_ENOTFOUND && rk_plc_replica(n) != NULL &&
	    rk_boot_initial_desc(n, range, reps, &init, &keys) == 0) {
		dd = &init;
		rc = 0;
	}
	if (rc != 0) {
		rk_buf_free(&keys);
		rk_api_error(resp, 404, "not in this node's placement index");
		return;
	}
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "range");
	rk_json_u64(&j, dd->range_id);
	rk_json_key(&j, "generation");
	rk_json_u64(&j, dd->generation);
	rk_json_key(&j, "conf_version");
	rk_json_u64(&j, dd->conf_version);
	rk_json_key(&j, "nodes");
	rk_json_arr_begin(&j);
	for (uint8_t i = 0; i < dd->n_reps; i++)
		rk_json_u64(&j, dd->reps[i].node_id);
	rk_json_arr_end(&j);
	rk_json_key(&j, "reported");
	rk_json_bool(&j, dd == &d);
	rk_json_obj_end(&j);
	rk_desc_free(&d);
	rk_buf_free(&keys);
}

/* This node's replica of the group: its applied index and next id. */
static void http_state(struct rk_node *n, struct rk_http_resp *resp)
{
	struct rk_replica *r = rk_plc_replica(n);
	struct rk_json j;
	uint64_t next;

	if (r == NULL || rk_pl_read_next(n->reader, &next) != 0) {
		rk_api_error(resp, 404, "no replica of the placement group on this node");
		return;
	}
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "applied");
	rk_json_u64(&j, r->applied);
	rk_json_key(&j, "first_index"); /* of its log: compacted before it */
	rk_json_u64(&j, r->first);
	rk_json_key(&j, "next_id");
	rk_json_u64(&j, next);
	rk_json_obj_end(&j);
}

bool rk_plc_http(struct rk_node *n, const struct rk_http_req *req,
		 struct rk_http_resp *resp)
{
	const char *p = req->path;
	char v[32];
	uint64_t count = 0;

	if (strcmp(p, "/api/v1/debug/placement") == 0) {
		http_state(n, resp);
		return true;
	}
	if (strncmp(p, "/api/v1/debug/placement/index/", 30) == 0) {
		if (!rk_admin_parse_id(p + 30, strlen(p + 30), &count))
			rk_api_error(resp, 400, "a range id is a whole number");
		else
			http_index(n, count, resp);
		return true;
	}
	if (strcmp(p, "/api/v1/debug/placement/alloc") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if (!rk_http_query(req, "count", v, sizeof(v)) ||
	    !rk_admin_parse_id(v, strlen(v), &count) || count == 0 || count > RK_PL_MAX_ALLOC) {
		rk_api_error(resp, 400, "want count=1..1000000");
		return true;
	}
	struct plc_call *c;
	struct rk_http_later *l;
	int rc = call_new(n, (uint32_t)count, &c);

	if (rc == 0 && (l = rk_http_defer(req)) == NULL) {
		free(c);
		rc = RK_ENOMEM;
	}
	if (rc != 0)
		rk_api_error(resp, 503, rk_strerror(rc));
	else
		call_start(n, c, http_alloc_done, l); /* answered from the loop */
	return true;
}

void rk_plc_close(struct rk_node *n)
{
	struct rk_plc *p = &n->plc;

	while (p->calls != NULL) {
		struct plc_call *c = p->calls;
		p->calls = c->next;
		c->cb(c->arg, RK_ESTOPPED, 0);
		free(c);
	}
	rk_pl_sm_free(&p->sm);
	free(p->res);
	rk_buf_free(&p->queued);
	rk_buf_free(&p->inflight);
	memset(p, 0, sizeof(*p));
}
