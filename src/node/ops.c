/*
 * Operations in flight and placement figures (ops.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_range.h"
#include "fwd.h"
#include "heartbeat.h"
#include "json.h"
#include "log.h"
#include "merge.h"
#include "node_int.h"
#include "ops.h"
#include "plc.h"
#include "prom.h"
#include "../../placement/sched.h"
#include "sched_run.h"
#include "split.h"

#define MOD "placement"

static const char *const step_names[] = {"learner", "snapshot", "promote", "remove"};

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct rk_ops_move *move_of(struct rk_ops *o, uint64_t range)
{
	for (size_t i = 0; i < o->n_moves; i++)
		if (o->moves[i].range == range)
			return &o->moves[i];
	return NULL;
}

/* A new move of range to node `to`; NULL without memory. */
static struct rk_ops_move *move_add(struct rk_node *n, uint64_t range, uint64_t to,
				    uint8_t step, uint8_t reason)
{
	struct rk_ops *o = &n->ops;
	struct rk_ops_move *m;

	if (rk_grow((void **)&o->moves, &o->cap_moves, o->n_moves, sizeof(*o->moves)) != 0)
		return NULL;
	m = &o->moves[o->n_moves++];
	memset(m, 0, sizeof(*m));
	m->range = range;
	m->to = to;
	m->started_ms = m->step_ms = uv_now(&n->loop);
	m->started_unix_ms = unix_ms();
	m->step = step;
	m->reason = reason;
	o->started++;
	return m;
}

/* m is done, or abandoned: its snapshot bytes stay counted. */
static void move_end(struct rk_ops *o, struct rk_ops_move *m, bool done)
{
	if (done)
		o->done++;
	else
		o->abandoned++;
	o->snap_bytes_done += m->snap_sent;
	*m = o->moves[--o->n_moves];
}

static void move_step(struct rk_node *n, struct rk_ops_move *m, uint8_t step)
{
	if (m->step != step) {
		m->step = step;
		m->step_ms = uv_now(&n->loop);
	}
}

/* The node a move leaves: a replica of x on a node being drained or
 * dead (the moves the scheduler starts today); 0 none. */
static uint64_t leaving_node(struct rk_node *n, const struct rk_pl_range *x, uint64_t to)
{
	for (uint8_t i = 0; i < x->n_reps; i++) {
		int st = rk_hb_state_of(n, x->reps[i].node_id);
		if (x->reps[i].node_id != to &&
		    (st == RK_HB_DECOMMISSIONING || st == RK_HB_DEAD))
			return x->reps[i].node_id;
	}
	return 0;
}

static const struct rk_pl_replica *rep_on(const struct rk_pl_range *x, uint64_t node)
{
	for (uint8_t i = 0; i < x->n_reps; i++)
		if (x->reps[i].node_id == node)
			return &x->reps[i];
	return NULL;
}

void rk_ops_started(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op)
{
	struct rk_ops_move *m = move_of(&n->ops, x->id);
	uint64_t node = 0;

	for (uint8_t i = 0; i < x->n_reps; i++)
		if (x->reps[i].replica_id == op->replica_id)
			node = x->reps[i].node_id;
	switch (op->kind) {
	case RK_PL_OP_ADD_LEARNER:
		if (m == NULL && (m = move_add(n, x->id, op->node_id, RK_OPS_LEARNER,
					       op->reason)) != NULL)
			m->from = leaving_node(n, x, op->node_id);
		return;
	case RK_PL_OP_PROMOTE:
		if (m == NULL)
			m = move_add(n, x->id, node, RK_OPS_PROMOTE, op->reason);
		if (m != NULL)
			move_step(n, m, RK_OPS_PROMOTE);
		return;
	case RK_PL_OP_REMOVE:
		/* A removal alone (an excess voter) is the last step of a move
		 * whose new replica is not known here: to stays 0. */
		if (m == NULL)
			m = move_add(n, x->id, 0, RK_OPS_REMOVE, op->reason);
		if (m != NULL) {
			m->from = node;
			move_step(n, m, RK_OPS_REMOVE);
		}
		return;
	default:
		return; /* a leader transfer is within a move's steps */
	}
}

/* ---- snapshot bytes, from the range's leader ------------------------------------------ */

/* The first send to node `to` in rk_snap_sends_json's layout. */
static bool parse_send(const char *body, size_t len, uint64_t to, uint64_t *sentp,
		       uint64_t *sizep)
{
	char pat[48], *text = malloc(len + 1), *p;
	unsigned long long sent, size;
	bool ok = false;

	if (text == NULL)
		return false;
	memcpy(text, body, len);
	text[len] = '\0';
	snprintf(pat, sizeof(pat), "{\"node_id\":%llu,\"sent\":", (unsigned long long)to);
	p = strstr(text, "\"sends\":[");
	if (p != NULL && (p = strstr(p, pat)) != NULL &&
	    sscanf(p + strlen(pat), "%llu,\"size\":%llu", &sent, &size) == 2) {
		*sentp = sent;
		*sizep = size;
		ok = true;
	}
	free(text);
	return ok;
}

static void on_sends(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	struct rk_node *n = arg;
	struct rk_ops_move *m = move_of(&n->ops, tag);
	uint64_t sent, size;

	if (m == NULL)
		return;
	m->asked = false;
	if (status == 200 && parse_send(body, len, m->to, &sent, &size)) {
		m->snap_sent = sent;
		m->snap_size = size;
	}
}

static void ask_sends(struct rk_node *n, struct rk_ops_move *m)
{
	char url[64];

	if (m->asked || m->leader == 0 || m->to == 0)
		return;
	snprintf(url, sizeof(url), "/api/v1/ranges/%llu/snapshots", (unsigned long long)m->range);
	if (rk_fwd_call(n, m->leader, "GET", url, on_sends, n, m->range) == 0)
		m->asked = true;
}

/* ---- each look ---------------------------------------------------------------------------- */

/* Follows move m of range x one look on; false once it is dropped. */
static bool move_follow(struct rk_node *n, struct rk_ops_move *m, const struct rk_pl_range *x,
			uint32_t voters, bool learner, uint32_t replicas)
{
	struct rk_ops *o = &n->ops;
	const struct rk_pl_replica *to = m->to != 0 ? rep_on(x, m->to) : NULL;

	m->seen = true;
	m->leader = x->leader_node;
	if (m->to != 0 && to == NULL) {
		/* Not added yet, or added and gone: abandoned after the
		 * driver's own patience. */
		if (m->step != RK_OPS_LEARNER ||
		    uv_now(&n->loop) - m->step_ms >= RK_SR_BUSY_MS) {
			move_end(o, m, false);
			return false;
		}
		return true;
	}
	/* The snapshot's bytes, while it is sent and until its total is
	 * known (a learner often catches up between two looks). */
	if (to != NULL && (m->step <= RK_OPS_PROMOTE || m->snap_size == 0))
		ask_sends(n, m);
	if (to != NULL && to->role == RK_DESC_LEARNER) {
		if (m->step == RK_OPS_LEARNER)
			move_step(n, m, RK_OPS_SNAPSHOT);
		return true;
	}
	if (m->from == 0)
		m->from = leaving_node(n, x, m->to);
	/* Done once the node it leaves is out, or once the range is settled
	 * with its new replica voting: the node a removal names is the one
	 * the driver last asked to remove, and a removal decided on a view
	 * of the index a step behind (refused as stale by the range's
	 * leader, its node left in) names a node that stays. */
	if ((m->from != 0 && rep_on(x, m->from) == NULL) ||
	    (!learner && voters <= replicas && (to == NULL || to->role == RK_DESC_VOTER))) {
		move_end(o, m, true);
		return false;
	}
	if (to != NULL && m->from != 0 && m->step < RK_OPS_REMOVE)
		move_step(n, m, RK_OPS_REMOVE);
	return true;
}

/* The look's time and the nodes' figures, from st. */
static void look_nodes(struct rk_node *n, const struct rk_pl_state *st)
{
	struct rk_ops *o = &n->ops;

	o->looked_ms = uv_now(&n->loop);
	o->n_nodes = 0;
	for (size_t i = 0; i < st->n_nodes; i++) {
		if (rk_grow((void **)&o->nodes, &o->cap_nodes, o->n_nodes, sizeof(*o->nodes)) != 0)
			break;
		o->nodes[o->n_nodes++] = (struct rk_ops_node){st->nodes[i].id, st->nodes[i].replicas,
							      st->nodes[i].leaders, st->nodes[i].bytes};
	}
}

void rk_ops_look(struct rk_node *n, const struct rk_pl_state *st)
{
	struct rk_ops *o = &n->ops;
	uint32_t replicas = rk_node_config_replicas(&n->cfg);

	o->have = true;
	look_nodes(n, st);
	for (size_t i = 0; i < o->n_moves; i++)
		o->moves[i].seen = false;
	o->ranges = st->n_ranges;
	o->unavailable = o->under_replicated = o->learners = 0;
	for (size_t i = 0; i < st->n_ranges; i++) {
		const struct rk_pl_range *x = &st->ranges[i];
		const struct rk_pl_replica *lr = NULL;
		struct rk_ops_move *m = move_of(o, x->id);
		uint32_t voters = 0;

		for (uint8_t k = 0; k < x->n_reps; k++) {
			if (x->reps[k].role == RK_DESC_VOTER ||
			    x->reps[k].role == RK_DESC_VOTER_INCOMING)
				voters++;
			if (x->reps[k].role == RK_DESC_LEARNER)
				lr = &x->reps[k];
		}
		if (x->leader_node == 0)
			o->unavailable++;
		if (voters < replicas)
			o->under_replicated++;
		if (lr != NULL)
			o->learners++;
		/* A learner nobody here started: a move of the previous
		 * leader's (or an admin call's), rebuilt: its start is now,
		 * its reason unknown. */
		if (m == NULL && lr != NULL &&
		    (m = move_add(n, x->id, lr->node_id, RK_OPS_SNAPSHOT, UINT8_MAX)) != NULL)
			m->from = leaving_node(n, x, lr->node_id);
		if (m != NULL)
			move_follow(n, m, x, voters, lr != NULL, replicas);
	}
	/* Ranges gone from the index (merged) take their moves along. */
	for (size_t i = 0; i < o->n_moves;)
		if (!o->moves[i].seen)
			move_end(o, &o->moves[i], false);
		else
			i++;
}

bool rk_ops_settled(const struct rk_node *n)
{
	const struct rk_ops *o = &n->ops;

	return o->have && o->n_moves == 0 && o->learners == 0;
}

void rk_ops_figures(struct rk_node *n, const struct rk_pl_state *st, size_t leaderless)
{
	look_nodes(n, st);
	n->ops.unavailable = leaderless;
}

void rk_ops_tick(struct rk_node *n)
{
	struct rk_ops *o = &n->ops;
	uint64_t every = o->n_moves > 0 ? RK_SR_EVERY_MS : RK_OPS_LOOK_MS;

	if (!n->hb.leading) {
		o->n_moves = 0; /* the next leader follows them */
		o->have = false;
		return;
	}
	if (!o->have || uv_now(&n->loop) - o->looked_ms >= every) {
		o->looked_ms = uv_now(&n->loop); /* not again next tick if the look fails */
		rk_sr_look(n);
	}
}

void rk_ops_close(struct rk_node *n)
{
	free(n->ops.moves);
	free(n->ops.nodes);
	memset(&n->ops, 0, sizeof(n->ops));
}

/* ---- GET /api/v1/operations ------------------------------------------------------------ */

/* "key": v, or null when v is 0 (not known). */
static void u64_or_null(struct rk_json *j, const char *key, uint64_t v)
{
	rk_json_key(j, key);
	if (v != 0)
		rk_json_u64(j, v);
	else
		rk_json_null(j);
}

static void move_json(struct rk_node *n, struct rk_json *j, const struct rk_ops_move *m)
{
	uint64_t now = uv_now(&n->loop);

	rk_json_obj_begin(j);
	rk_json_key(j, "type");
	rk_json_str(j, "move");
	rk_json_key(j, "range");
	rk_json_u64(j, m->range);
	u64_or_null(j, "from", m->from);
	u64_or_null(j, "to", m->to);
	rk_json_key(j, "step");
	rk_json_str(j, step_names[m->step]);
	rk_json_key(j, "reason");
	if (m->reason <= RK_PL_WHY_MAX)
		rk_json_str(j, rk_pl_reason_name(m->reason));
	else
		rk_json_null(j);
	u64_or_null(j, "leader", m->leader);
	rk_json_key(j, "snapshot_sent");
	rk_json_u64(j, m->snap_sent);
	u64_or_null(j, "snapshot_size", m->snap_size);
	rk_json_key(j, "started_unix_ms");
	rk_json_u64(j, m->started_unix_ms);
	rk_json_key(j, "age_ms");
	rk_json_u64(j, now - m->started_ms);
	rk_json_key(j, "step_age_ms");
	rk_json_u64(j, now - m->step_ms);
	rk_json_obj_end(j);
}

struct nodes_walk {
	struct rk_node *n;
	struct rk_json *j;
};

/* A node of the table: its state as the leader derives it now (as
 * GET /api/v1/nodes; a drained node is marked decommissioned by the pass
 * that sees it empty), its figures those of the last look. */
static int node_json(void *arg, const struct rk_pl_node_rec *rec)
{
	struct nodes_walk *w = arg;
	const struct rk_ops *o = &w->n->ops;
	const struct rk_ops_node *x = NULL;
	uint64_t heard;

	for (size_t i = 0; i < o->n_nodes && x == NULL; i++)
		if (o->nodes[i].id == rec->id)
			x = &o->nodes[i];
	rk_json_obj_begin(w->j);
	rk_json_key(w->j, "id");
	rk_json_u64(w->j, rec->id);
	rk_json_key(w->j, "state");
	rk_json_str(w->j, rk_hb_state_name(rk_hb_view(w->n, rec, &heard)));
	rk_json_key(w->j, "replicas");
	rk_json_u64(w->j, x != NULL ? x->replicas : 0);
	rk_json_key(w->j, "leaders");
	rk_json_u64(w->j, x != NULL ? x->leaders : 0);
	/* Null until every live node completed a full report of its
	 * ranges' figures to this leader (rfig.h). */
	rk_json_key(w->j, "bytes");
	if (w->n->sr.sized)
		rk_json_u64(w->j, x != NULL ? x->bytes : 0);
	else
		rk_json_null(w->j);
	rk_json_obj_end(w->j);
	return 0;
}

static uint64_t snap_bytes(const struct rk_ops *o)
{
	uint64_t b = o->snap_bytes_done;

	for (size_t i = 0; i < o->n_moves; i++)
		b += o->moves[i].snap_sent;
	return b;
}

static void ops_json(struct rk_node *n, struct rk_buf *out)
{
	struct rk_ops *o = &n->ops;
	struct rk_json j;
	size_t splits, merges;

	rk_json_init(&j, out);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "node_id");
	rk_json_u64(&j, n->cfg.node_id);
	rk_json_key(&j, "rebalance");
	rk_json_str(&j, rk_rb_enabled(n) ? "on" : "paused");
	rk_json_key(&j, "operations");
	rk_json_arr_begin(&j);
	for (size_t i = 0; i < o->n_moves; i++)
		move_json(n, &j, &o->moves[i]);
	splits = rk_split_ops_json(n, &j);
	merges = rk_merge_ops_json(n, &j) + rk_sr_merges_json(n, &j);
	rk_json_arr_end(&j);
	rk_json_key(&j, "moves_in_flight");
	rk_json_u64(&j, o->n_moves);
	rk_json_key(&j, "moves_started");
	rk_json_u64(&j, o->started);
	rk_json_key(&j, "moves_done");
	rk_json_u64(&j, o->done);
	rk_json_key(&j, "moves_abandoned");
	rk_json_u64(&j, o->abandoned);
	rk_json_key(&j, "splits_in_flight");
	rk_json_u64(&j, splits);
	rk_json_key(&j, "merges_in_flight");
	rk_json_u64(&j, merges);
	rk_json_key(&j, "snapshot_bytes_sent");
	rk_json_u64(&j, snap_bytes(o));
	rk_json_key(&j, "ranges");
	rk_json_u64(&j, o->ranges);
	rk_json_key(&j, "unavailable_ranges");
	rk_json_u64(&j, o->unavailable);
	rk_json_key(&j, "under_replicated_ranges");
	rk_json_u64(&j, o->under_replicated);
	rk_json_key(&j, "replicas");
	rk_json_u64(&j, rk_node_config_replicas(&n->cfg));
	rk_json_key(&j, "looked_ms");
	rk_json_u64(&j, uv_now(&n->loop) - o->looked_ms);
	rk_json_key(&j, "figures_complete");
	rk_json_bool(&j, n->sr.sized);
	rk_json_key(&j, "nodes");
	rk_json_arr_begin(&j);
	{
		struct nodes_walk w = {n, &j};
		(void)rk_pl_walk_nodes(&n->plc.sm, n->reader, node_json, &w);
	}
	rk_json_arr_end(&j);
	rk_json_obj_end(&j);
}

static void on_leader_answer(void *arg, uint64_t tag, int status, const char *body, size_t len)
{
	struct rk_http_later *l = arg;
	struct rk_http_resp resp;

	(void)tag;
	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (status >= 500 && (len == 0 || body[0] != '{'))
		rk_api_error(&resp, status, "the placement group's leader did not answer");
	else
		rk_buf_append(&resp.body, body, len);
	rk_http_answer(l, &resp);
	rk_buf_free(&resp.body);
}

bool rk_ops_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	struct rk_replica *g;
	struct rk_http_later *l;
	uint64_t leader;

	if (strcmp(req->path, "/api/v1/operations") != 0)
		return false;
	if (strcmp(req->method, "GET") != 0) {
		rk_api_error(resp, 405, "GET only");
		return true;
	}
	if (n->hb.leading) {
		if (!n->ops.have) {
			rk_api_error(resp, 503, "this node leads the placement group since a moment: "
				     "retry in a second");
			return true;
		}
		ops_json(n, &resp->body);
		return true;
	}
	g = rk_plc_replica(n);
	leader = g != NULL ? rk_replica_leader_node(g) : n->plc.leader_hint;
	if (n->plc.n_nodes == 0 || n->fwd.serving || leader == 0 || leader == n->cfg.node_id) {
		rk_api_error(resp, 503, "the placement group's leader is not known here; "
			     "retry in a second");
		return true;
	}
	if ((l = rk_http_defer(req)) == NULL) {
		rk_api_error(resp, 503, "cannot wait for the placement group's leader");
		return true;
	}
	if (rk_fwd_call(n, leader, "GET", "/api/v1/operations", on_leader_answer, l, 0) != 0)
		on_leader_answer(l, 0, 503, "", 0);
	return true;
}

/* ---- /metrics ---------------------------------------------------------------------------- */

void rk_ops_metrics(struct rk_node *n, struct rk_buf *b)
{
	struct rk_ops *o = &n->ops;
	char labels[48];

	rk_prom_one_u64(b, "rangekv_snapshot_sent_bytes_total", "counter",
			"Bytes of range snapshots this node sent to other nodes.", n->snaps.sent_bytes);
	rk_prom_one_u64(b, "rangekv_snapshot_rate_waits_total", "counter",
			"Times the snapshot sends of this node waited for --snapshot-rate.",
			n->snaps.rate_waits);
	if (!n->hb.leading || !o->have)
		return; /* the figures are the placement leader's */
	rk_prom_family(b, "rangekv_placement_node_replicas", "gauge",
		       "Replicas of each node in the placement index (placement leader only).");
	for (size_t i = 0; i < o->n_nodes; i++) {
		snprintf(labels, sizeof(labels), "node=\"%llu\"", (unsigned long long)o->nodes[i].id);
		rk_prom_u64(b, "rangekv_placement_node_replicas", labels, o->nodes[i].replicas);
	}
	rk_prom_family(b, "rangekv_placement_node_leaders", "gauge",
		       "Range leaderships of each node as the placement leader knows them.");
	for (size_t i = 0; i < o->n_nodes; i++) {
		snprintf(labels, sizeof(labels), "node=\"%llu\"", (unsigned long long)o->nodes[i].id);
		rk_prom_u64(b, "rangekv_placement_node_leaders", labels, o->nodes[i].leaders);
	}
	if (n->sr.sized) {
		rk_prom_family(b, "rangekv_placement_node_bytes", "gauge",
			       "Bytes of the ranges each node holds, as their leaders reported "
			       "them (placement leader only, once every live node reported).");
		for (size_t i = 0; i < o->n_nodes; i++) {
			snprintf(labels, sizeof(labels), "node=\"%llu\"",
				 (unsigned long long)o->nodes[i].id);
			rk_prom_u64(b, "rangekv_placement_node_bytes", labels, o->nodes[i].bytes);
		}
	}
	rk_prom_one_u64(b, "rangekv_placement_ranges", "gauge",
			"Ranges in the placement index.", o->ranges);
	rk_prom_one_u64(b, "rangekv_placement_ranges_unavailable", "gauge",
			"Ranges whose leader the placement leader does not know.", o->unavailable);
	rk_prom_one_u64(b, "rangekv_placement_ranges_under_replicated", "gauge",
			"Ranges with fewer voters than --replicas.", o->under_replicated);
	rk_prom_one_u64(b, "rangekv_placement_moves_in_flight", "gauge",
			"Replica moves started and not yet done or abandoned.", o->n_moves);
	rk_prom_one_u64(b, "rangekv_placement_moves_done_total", "counter",
			"Replica moves done since this node leads the placement group.", o->done);
	rk_prom_one_u64(b, "rangekv_placement_moves_abandoned_total", "counter",
			"Replica moves whose new replica or range left the index before they were done.",
			o->abandoned);
	rk_prom_one_u64(b, "rangekv_placement_snapshot_sent_bytes_total", "counter",
			"Snapshot bytes the moves' range leaders reported sent (moves done and in flight).",
			snap_bytes(o));
	rk_sr_metrics(n, b);
	rk_sr_merges_metrics(n, b);
}
