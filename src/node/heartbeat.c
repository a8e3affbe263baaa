/*
 * Node heartbeats and the placement states (heartbeat.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api_range.h"
#include "heartbeat.h"
#include "http.h"
#include "join.h"
#include "json.h"
#include "le.h"
#include "log.h"
#include "node_int.h"
#include "serve.h"

#define MOD "placement"

struct hb_query {
	struct hb_query *next;
	uint64_t id;
	struct rk_http_later *later;
	uint64_t started_ms, sent_ms;
};

static const char *const state_names[] = {
	"unknown", "live", "suspect", "dead", "decommissioning", "decommissioned"};

const char *rk_hb_state_name(int state)
{
	return state >= 0 && state <= RK_HB_DECOMMISSIONED ? state_names[state] : "unknown";
}

static uint64_t now_ms(struct rk_node *n)
{
	return uv_now(&n->loop);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void rk_hb_init(struct rk_node *n)
{
	struct rk_pl_initial_node in[RK_PL_MAX_INITIAL];
	size_t k = 0;

	for (uint32_t i = 0; i < n->cfg.n_initial && k < RK_PL_MAX_INITIAL; i++) {
		in[k].id = n->cfg.initial[i].id;
		snprintf(in[k].peer, sizeof(in[k].peer), "%s", n->cfg.initial[i].addr);
		k++;
	}
	rk_pl_sm_set_initial(&n->plc.sm, in, k);
}

/* ---- the sender ---------------------------------------------------------------- */

/* This node's record as its heartbeat carries it: the totals kept as they
 * change (own.h), not a pass over the replicas. */
static void own_record(struct rk_node *n, struct rk_pl_node_rec *r)
{
	struct rk_own_totals t;

	rk_own_get(n, &t);
	memset(r, 0, sizeof(*r));
	r->id = n->cfg.node_id;
	snprintf(r->peer, sizeof(r->peer), "%s", n->cfg.peer_addr);
	snprintf(r->client, sizeof(r->client), "%s", n->cfg.client_addr);
	snprintf(r->http, sizeof(r->http), "%s", n->cfg.http_addr);
	r->capacity = n->space.known ? n->space.total_bytes : 0;
	r->stats[RK_PL_STAT_REPLICAS] = t.replicas;
	r->stats[RK_PL_STAT_LEADERS] = t.leaders;
	r->stats[RK_PL_STAT_BYTES] = t.bytes;
	/* Writes: every replica applies them (this node's work); reads:
	 * served by the leader only. */
	r->stats[RK_PL_STAT_READS_PS] = (uint64_t)(t.reads_ps + 0.5);
	r->stats[RK_PL_STAT_WRITES_PS] = (uint64_t)(t.writes_ps + 0.5);
	r->stats[RK_PL_STAT_DISK_FREE] = n->space.known ? n->space.free_bytes : 0;
}

static bool leading(struct rk_node *n)
{
	struct rk_replica *r = rk_plc_replica(n);

	return r != NULL && rk_raft_is_leader(&r->raft) && !r->installing;
}

/* Sends to the group's leader as this node knows it (the node that last
 * answered, a hint, else the group's nodes and the other peers in turn,
 * rk_plc_next_node). */
static void send_leader(struct rk_node *n, uint64_t id, const void *msg, size_t len)
{
	struct rk_plc *p = &n->plc;
	uint64_t to = p->leader_hint;

	if (to == 0 || to == n->cfg.node_id)
		to = rk_plc_next_node(n, 0);
	if (to != 0)
		rk_plc_send(n, to, id, msg, len); /* not connected: the next round tries again */
}

static void take_beat(struct rk_node *n, const struct rk_pl_node_rec *beat);
static void answer_states(struct rk_node *n, uint64_t origin, uint64_t id);
static void told(struct rk_node *n, uint64_t from, const uint8_t *p, size_t len);

static void send_beat(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;
	struct rk_pl_node_rec me;
	struct rk_buf msg;
	uint64_t id = RK_PLC_REQ_BIT | RK_HB_REQ_BIT | ++h->next_id;

	/* The last beat went unanswered: whoever it went to is gone or cut
	 * off, and would stay the target forever (nothing else forgets a
	 * hint on silence); the next one asks the nodes in turn. */
	if (h->beat_id != 0)
		n->plc.leader_hint = 0;
	h->beat_id = 0;
	h->sent_ms = now_ms(n);
	own_record(n, &me);
	if (h->leading) {
		/* The leader's own beat goes nowhere; its view of the states
		 * is what it tells itself. */
		take_beat(n, &me);
		answer_states(n, n->cfg.node_id, 0);
		rk_rfig_append(n, NULL); /* its own ranges' figures */
		return;
	}
	rk_buf_init(&msg);
	if (rk_pl_encode_heartbeat(&msg, n->cfg.node_id, id, &me) == 0 && !msg.oom) {
		rk_rfig_append(n, &msg); /* the ranges' figures the leader asked for */
		send_leader(n, id, msg.p, msg.len);
		h->beat_id = id;
		h->beats_sent++;
		h->beat_bytes_sent += msg.len;
	}
	rk_buf_free(&msg);
}

/* ---- the leader ---------------------------------------------------------------- */

static struct rk_hb_node *entry(struct rk_node *n, uint64_t id, bool create)
{
	struct rk_hb *h = &n->hb;

	for (size_t i = 0; i < h->n; i++)
		if (h->nodes[i].id == id)
			return &h->nodes[i];
	if (!create || rk_grow((void **)&h->nodes, &h->cap, h->n, sizeof(*h->nodes)) != 0)
		return NULL;
	memset(&h->nodes[h->n], 0, sizeof(h->nodes[0]));
	h->nodes[h->n].id = id;
	h->nodes[h->n].heard_ms = h->since_ms; /* not heard since the takeover */
	return &h->nodes[h->n++];
}

/* Proposes REGISTER for a sender the table lacks or knows otherwise. */
static void maybe_register(struct rk_node *n, struct rk_hb_node *e,
			   const struct rk_pl_node_rec *beat)
{
	struct rk_pl_node_rec rec;
	struct rk_buf cmd;
	uint64_t now = now_ms(n);
	int rc = rk_pl_read_node(&n->plc.sm, n->reader, beat->id, &rec);

	if (rc == 0 && !rec.implicit && strcmp(rec.peer, beat->peer) == 0 &&
	    strcmp(rec.client, beat->client) == 0 && strcmp(rec.http, beat->http) == 0)
		return;
	/* One in flight at a time; again after 30 s (a refusal is logged
	 * each time). */
	if (e->reg_sent_ms != 0 && now - e->reg_sent_ms < 30000)
		return;
	rk_buf_init(&cmd);
	rc = rk_pl_encode_register(&cmd, n->cfg.node_id,
				   RK_PLC_REQ_BIT | RK_HB_REQ_BIT | RK_HB_REG_BIT | beat->id, beat);
	if (rc == 0 && !cmd.oom && rk_plc_propose(n, cmd.p, cmd.len) == 0)
		e->reg_sent_ms = now;
	rk_buf_free(&cmd);
}

static void take_beat(struct rk_node *n, const struct rk_pl_node_rec *beat)
{
	struct rk_hb_node *e = entry(n, beat->id, true);

	if (e == NULL)
		return;
	e->heard_ms = now_ms(n);
	e->fresh = e->have = true;
	e->capacity = beat->capacity;
	memcpy(e->stats, beat->stats, sizeof(e->stats));
	n->hb.beats_taken++;
	maybe_register(n, e, beat);
}

/* The state of a node of the table as the leader derives it. */
static int derive(struct rk_node *n, const struct rk_pl_node_rec *rec)
{
	struct rk_hb *h = &n->hb;
	struct rk_hb_node *e = entry(n, rec->id, false);
	uint64_t heard = e != NULL ? e->heard_ms : h->since_ms;
	uint64_t age = now_ms(n) - heard;
	uint64_t dead = n->cfg.settings.v[RK_SET_DEAD_AFTER];

	if (rec->state == RK_PL_NODE_DECOMMISSIONING)
		return RK_HB_DECOMMISSIONING;
	if (rec->state == RK_PL_NODE_DECOMMISSIONED)
		return RK_HB_DECOMMISSIONED;
	if (rec->id == n->cfg.node_id || age < RK_HB_SUSPECT_MS)
		return RK_HB_LIVE;
	return age < (dead > RK_HB_SUSPECT_MS ? dead : RK_HB_SUSPECT_MS) ? RK_HB_SUSPECT
									   : RK_HB_DEAD;
}

/* Whether e's figures moved enough since they were last recorded to be
 * recorded again (heartbeat.h). */
static bool moved(const struct rk_hb_node *e)
{
	if (!e->sent_any)
		return true;
	for (int k = 0; k < RK_PL_NSTATS; k++) {
		uint64_t a = e->stats[k], b = e->sent[k], big = a > b ? a : b;
		uint64_t d = a > b ? a - b : b - a;
		bool count = k == RK_PL_STAT_REPLICAS || k == RK_PL_STAT_LEADERS;
		if (count ? d != 0 : d > big / 10)
			return true;
	}
	return false;
}

/* One STATS command for the nodes heard since the last whose figures
 * moved. */
static void propose_stats(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;
	struct rk_buf cmd;
	uint32_t k = 0;

	h->stats_ms = now_ms(n);
	rk_buf_init(&cmd);
	(void)rk_pl_encode_stats(&cmd, n->cfg.node_id, RK_PLC_REQ_BIT | RK_HB_REQ_BIT | ++h->next_id,
				 0, wall_ms());
	for (size_t i = 0; i < h->n; i++)
		if (h->nodes[i].fresh && moved(&h->nodes[i])) {
			(void)rk_pl_encode_stats_node(&cmd, h->nodes[i].id, h->nodes[i].capacity,
						      h->nodes[i].stats);
			k++;
		}
	if (k > 0 && !cmd.oom) {
		rk_pl_report_set_n(&cmd, 0, k);
		if (rk_plc_propose(n, cmd.p, cmd.len) == 0) {
			h->stats_proposed++;
			for (size_t i = 0; i < h->n; i++) {
				struct rk_hb_node *e = &h->nodes[i];
				if (e->fresh && moved(e)) {
					memcpy(e->sent, e->stats, sizeof(e->sent));
					e->sent_any = true;
				}
				e->fresh = false;
			}
		}
	}
	rk_buf_free(&cmd);
}

/* This node leads the group now, or not any more. */
static void follow_leadership(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;
	bool now_leading = leading(n);
	uint64_t term = now_leading ? rk_raft_term(&rk_plc_replica(n)->raft) : 0;

	if (now_leading && (!h->leading || term != h->term)) {
		/* A takeover: what another leader heard is not known here,
		 * so every node counts as heard now (heartbeat.h). */
		h->since_ms = h->stats_ms = now_ms(n);
		h->n = 0;
		h->term = term;
		rk_rfig_leading(n, true); /* its figures: asked of every node again */
		rk_log_info(MOD, "leading the placement group: every node counts as live "
			    "until it misses heartbeats here");
	}
	if (h->leading && !now_leading)
		rk_rfig_leading(n, false);
	h->leading = now_leading;
	if (!now_leading)
		h->n = 0;
}

void rk_hb_state_json(struct rk_http_resp *resp, uint64_t id, const char *state)
{
	struct rk_json j;

	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "id");
	rk_json_u64(&j, id);
	rk_json_key(&j, "state");
	rk_json_str(&j, state);
	rk_json_obj_end(&j);
}

/* Answers the call waiting for the state change (if any) and forgets the
 * change: status 202 (applied), 409 (refused: rc) or 503 (why). */
static void st_answer(struct rk_node *n, int status, int rc, const char *why)
{
	struct rk_hb *h = &n->hb;
	struct rk_http_resp resp;
	char msg[200];

	if (h->st_later != NULL) {
		memset(&resp, 0, sizeof(resp));
		resp.content_type = "application/json";
		rk_buf_init(&resp.body);
		if (status == 202) {
			resp.status = 202;
			rk_hb_state_json(&resp, h->st_id,
					 h->st_state == RK_PL_NODE_DECOMMISSIONED ? "decommissioned"
										  : "decommissioning");
		} else if (status == 409) {
			snprintf(msg, sizeof(msg), "%s",
				 rc == RK_ECONFCHANGE
					 ? "refused by the placement group: it would leave fewer "
					   "active nodes than --replicas"
					 : rc == RK_ESTATE ? "refused by the placement group: the node "
							     "is past that state"
							   : rk_strerror(rc));
			rk_api_error(&resp, 409, msg);
		} else {
			rk_api_error(&resp, 503, why);
		}
		rk_http_answer(h->st_later, &resp);
		rk_buf_free(&resp.body);
		h->st_later = NULL;
	}
	h->st_id = 0;
}

void rk_hb_on_result(struct rk_node *n, uint64_t token, int rc)
{
	uint64_t id = token & UINT32_MAX;
	struct rk_hb_node *e;

	if (token & RK_HB_STATE_BIT) {
		if (rc != 0)
			rk_log_warn(MOD, "node %llu: its state change was refused: %s",
				    (unsigned long long)id, rk_strerror(rc));
		if (id == n->hb.st_id)
			st_answer(n, rc == 0 ? 202 : 409, rc, NULL);
		return;
	}
	if (!(token & RK_HB_REG_BIT))
		return; /* a STATS command: the next one carries newer figures */
	rk_join_registered(n, id, rc); /* a join waiting for it (join.h) */
	e = entry(n, id, false);
	if (rc == 0) {
		rk_log_info(MOD, "node %llu registered in the node table", (unsigned long long)id);
		if (e != NULL)
			e->reg_sent_ms = 0;
		return;
	}
	rk_log_warn(MOD, "node %llu cannot be registered: %s", (unsigned long long)id,
		    rc == RK_EEXIST ? "its id is another node's (at another peer address)"
		    : rc == RK_EADDRINUSE ? "one of its addresses is another node's"
					  : rk_strerror(rc));
}

/* ---- messages ------------------------------------------------------------------ */

struct states_walk {
	struct rk_node *n;
	struct rk_buf *out;
	uint32_t k;
};

static int put_state(void *arg, const struct rk_pl_node_rec *rec)
{
	struct states_walk *w = arg;
	size_t al = strlen(rec->peer);
	uint8_t *p = rk_buf_extend(w->out, 10 + al);

	if (p == NULL)
		return RK_ENOMEM;
	rk_le_put64(p, rec->id);
	p[8] = (uint8_t)derive(w->n, rec);
	p[9] = (uint8_t)al;
	memcpy(p + 10, rec->peer, al);
	w->k++;
	return 0;
}

/* The answer to a heartbeat: u32 n | n x (u64 id | u8 state | u8 len |
 * peer address) | u8 rebalancing on | u8 figures wanted | u8 k | k x u64
 * node: every node's state, where a node new to the receiver is, the
 * cluster's rebalance switch (rebalance.h), which per-range figures the
 * leader asks of the receiver (enum rk_rfig_want, rfig.h) and the nodes
 * of the group's replicas (its leader's descriptor: the group moves,
 * sched_run.h, and every node routes to its leader through them); a
 * receiver that does not know the last bytes skips them. */
static void answer_states(struct rk_node *n, uint64_t origin, uint64_t id)
{
	struct rk_buf out;
	struct states_walk w = {n, &out, 0};

	rk_buf_init(&out);
	(void)rk_buf_extend(&out, 4);
	if (rk_pl_walk_nodes(&n->plc.sm, n->reader, put_state, &w) == 0 && !out.oom) {
		struct rk_replica *g = rk_plc_replica(n);
		uint8_t tail[3 + 8 * RK_DESC_MAX_REPLICAS] = {
			rk_rb_enabled(n) ? 1 : 0, rk_rfig_want_of(n, origin), 0};
		for (uint8_t i = 0; g != NULL && i < g->desc.n_reps && i < RK_DESC_MAX_REPLICAS; i++)
			rk_le_put64(tail + 3 + 8 * tail[2]++, g->desc.reps[i].node_id);
		rk_buf_append(&out, tail, 3 + 8 * (size_t)tail[2]);
		rk_le_put32((uint8_t *)out.p, w.k);
		if (origin == n->cfg.node_id)
			told(n, origin, (const uint8_t *)out.p, out.len);
		else
			rk_serve_answer(n, origin, id, RK_NET_RESP_OK, 0, out.p, out.len);
	}
	rk_buf_free(&out);
}

static void told(struct rk_node *n, uint64_t from, const uint8_t *p, size_t len)
{
	struct rk_hb *h = &n->hb;
	char addr[RK_PL_ADDR_MAX];
	size_t off = 4;
	uint32_t k;

	if (len < 4 || (k = rk_le_get32(p)) > RK_PL_MAX_INITIAL)
		return;
	for (uint32_t i = 0; i < k; i++) {
		uint8_t al;
		if (len - off < 10 || (al = p[off + 9]) >= RK_PL_ADDR_MAX || len - off - 10 < al)
			return; /* not a states answer */
		h->told_ids[i] = rk_le_get64(p + off);
		h->told_states[i] = p[off + 8];
		memcpy(addr, p + off + 10, al);
		addr[al] = '\0';
		/* A node of the table this node does not know: a peer from now
		 * on (written to the store first, roster.h). */
		if (al > 0)
			rk_roster_learn(n, h->told_ids[i], addr);
		off += 10 + al;
	}
	h->n_told = k;
	if (len - off >= 1)
		rk_rb_told(n, p[off] != 0);
	/* A leader that does not say asks for no figures. */
	rk_rfig_told(n, from, len - off >= 2 ? p[off + 1] : RK_RFIG_NONE);
	if (len - off >= 3 && len - off - 3 >= 8 * (size_t)p[off + 2] &&
	    p[off + 2] <= RK_DESC_MAX_REPLICAS) {
		uint64_t ids[RK_DESC_MAX_REPLICAS];
		for (uint8_t i = 0; i < p[off + 2]; i++)
			ids[i] = rk_le_get64(p + off + 3 + 8 * i);
		rk_plc_learn_nodes(n, ids, p[off + 2]);
	}
	if (h->reg.id != 0 && rk_hb_state_of(n, h->reg.id) != RK_HB_UNKNOWN)
		h->reg.id = 0; /* the registration asked for is in the table */
}

static void nodes_json(struct rk_node *n, struct rk_buf *out);

void rk_hb_on_req(struct rk_node *n, uint64_t origin, const struct rk_net_req *req)
{
	struct rk_replica *r = rk_plc_replica(n);
	struct rk_pl_node_rec beat;
	uint64_t hint;
	size_t rest;

	if (!n->hb.leading) {
		hint = r != NULL ? rk_replica_leader_node(r) : n->plc.leader_hint;
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_NOT_LEADER,
				hint != n->cfg.node_id ? hint : 0, NULL, 0);
		return;
	}
	if (req->cmd[0] == RK_PL_MSG_NODES) {
		struct rk_buf out;
		rk_buf_init(&out);
		nodes_json(n, &out);
		if (!out.oom)
			rk_serve_answer(n, origin, req->id, RK_NET_RESP_OK, 0, out.p, out.len);
		rk_buf_free(&out);
		return;
	}
	/* A heartbeat names its sender: only the node itself speaks for it
	 * (the transport authenticated the connection). */
	if (rk_pl_decode_heartbeat(req->cmd, req->len, &beat, &rest) != 0 || beat.id != origin) {
		rk_serve_answer(n, origin, req->id, RK_NET_RESP_REFUSED, 0, NULL, 0);
		return;
	}
	take_beat(n, &beat);
	rk_rfig_take(n, origin, req->cmd + rest, req->len - rest);
	answer_states(n, origin, req->id);
}

static void query_done(struct rk_node *n, struct hb_query *q, int status, const void *body,
		       size_t len);

void rk_hb_on_resp(struct rk_node *n, const struct rk_net_resp *resp)
{
	struct rk_hb *h = &n->hb;

	if (resp->id == h->beat_id)
		h->beat_id = 0; /* answered, by the leader or with a hint */

	if (resp->status == RK_NET_RESP_OK && (resp->id & (RK_HB_REG_BIT | RK_HB_STATE_BIT))) {
		/* A REGISTER's or STATE's outcome (plc.c's form) */
		n->plc.leader_hint = n->cur_from;
		if (resp->len >= 4)
			rk_hb_on_result(n, resp->id, (int)(int32_t)rk_le_get32(resp->reply));
		return;
	}
	if (resp->status == RK_NET_RESP_OK) {
		n->plc.leader_hint = n->cur_from;
		for (struct hb_query *q = h->queries; q != NULL; q = q->next)
			if (q->id == resp->id) {
				query_done(n, q, 200, resp->reply, resp->len);
				return;
			}
		told(n, n->cur_from, resp->reply, resp->len); /* a heartbeat's answer */
		return;
	}
	n->plc.leader_hint = resp->status == RK_NET_RESP_NOT_LEADER ? resp->leader : 0;
}

int rk_hb_state_of(const struct rk_node *n, uint64_t id)
{
	const struct rk_hb *h = &n->hb;

	for (uint32_t i = 0; i < h->n_told; i++)
		if (h->told_ids[i] == id)
			return h->told_states[i];
	return RK_HB_UNKNOWN;
}

/* ---- GET /api/v1/nodes ----------------------------------------------------------- */

struct json_walk {
	struct rk_node *n;
	struct rk_json *j;
};

static void json_addr(struct rk_json *j, const char *key, const char *a)
{
	rk_json_key(j, key);
	if (a[0] != '\0')
		rk_json_str(j, a);
	else
		rk_json_null(j);
}

static int node_json(void *arg, const struct rk_pl_node_rec *rec)
{
	static const char *const stat_names[RK_PL_NSTATS] = {
		"replicas", "leaders", "bytes", "reads_per_s", "writes_per_s", "disk_free"};
	struct json_walk *w = arg;
	struct rk_json *j = w->j;
	struct rk_hb_node *e = entry(w->n, rec->id, false);
	bool mine = e != NULL && e->have; /* figures this leader received */
	uint64_t heard = e != NULL ? e->heard_ms : w->n->hb.since_ms;

	rk_json_obj_begin(j);
	rk_json_key(j, "id");
	rk_json_u64(j, rec->id);
	rk_json_key(j, "state");
	rk_json_str(j, rk_hb_state_name(derive(w->n, rec)));
	json_addr(j, "peer_addr", rec->peer);
	json_addr(j, "client_addr", rec->client);
	json_addr(j, "http_addr", rec->http);
	rk_json_key(j, "registered");
	rk_json_bool(j, !rec->implicit);
	/* Since when the leader has not heard from it: since its takeover
	 * for a node it has not heard from at all. */
	rk_json_key(j, "heard_ms_ago");
	rk_json_u64(j, rec->id == w->n->cfg.node_id ? 0 : now_ms(w->n) - heard);
	rk_json_key(j, "last_heartbeat_recorded");
	if (rec->last_heartbeat_ms != 0)
		rk_json_u64(j, rec->last_heartbeat_ms);
	else
		rk_json_null(j);
	rk_json_key(j, "capacity");
	rk_json_u64(j, mine ? e->capacity : rec->capacity);
	for (int k = 0; k < RK_PL_NSTATS; k++) {
		rk_json_key(j, stat_names[k]);
		if (mine || rec->last_heartbeat_ms != 0)
			rk_json_u64(j, mine ? e->stats[k] : rec->stats[k]);
		else
			rk_json_null(j); /* never reported */
	}
	rk_json_obj_end(j);
	return 0;
}

/* The leader's view. */
static void nodes_json(struct rk_node *n, struct rk_buf *out)
{
	struct rk_json j;
	struct json_walk w = {n, &j};

	rk_json_init(&j, out);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "leader");
	rk_json_u64(&j, n->cfg.node_id);
	rk_json_key(&j, "leading_for_ms");
	rk_json_u64(&j, now_ms(n) - n->hb.since_ms);
	rk_json_key(&j, "dead_after_ms");
	rk_json_u64(&j, n->cfg.settings.v[RK_SET_DEAD_AFTER]);
	rk_json_key(&j, "suspect_after_ms");
	rk_json_u64(&j, RK_HB_SUSPECT_MS);
	rk_json_key(&j, "nodes");
	rk_json_arr_begin(&j);
	(void)rk_pl_walk_nodes(&n->plc.sm, n->reader, node_json, &w);
	rk_json_arr_end(&j);
	rk_json_obj_end(&j);
}

static void query_done(struct rk_node *n, struct hb_query *q, int status, const void *body,
		       size_t len)
{
	struct hb_query **pp = &n->hb.queries;
	struct rk_http_resp resp;

	while (*pp != q)
		pp = &(*pp)->next;
	*pp = q->next;
	memset(&resp, 0, sizeof(resp));
	resp.status = status;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (status == 200)
		rk_buf_append(&resp.body, body, len);
	else
		rk_api_error(&resp, status, body);
	rk_http_answer(q->later, &resp);
	rk_buf_free(&resp.body);
	free(q);
}

static void query_send(struct rk_node *n, struct hb_query *q)
{
	uint8_t msg[32]; /* rk_buf_extend keeps room for a NUL */
	struct rk_buf b = {(char *)msg, 0, sizeof(msg), false};

	(void)rk_pl_encode_header(&b, RK_PL_MSG_NODES, n->cfg.node_id, q->id, 0);
	q->sent_ms = now_ms(n);
	send_leader(n, q->id, msg, b.len);
}

bool rk_hb_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	struct hb_query *q;

	if (strcmp(req->path, "/api/v1/nodes") != 0 || strcmp(req->method, "GET") != 0)
		return false;
	if (n->plc.n_nodes == 0) {
		rk_api_error(resp, 404, "this cluster has no placement group (a data directory "
			     "made before the first-start flags were recorded)");
		return true;
	}
	if (n->hb.leading) {
		nodes_json(n, &resp->body);
		return true;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->later = rk_http_defer(req)) == NULL) {
		free(q);
		rk_api_error(resp, 503, "out of memory");
		return true;
	}
	q->id = RK_PLC_REQ_BIT | RK_HB_REQ_BIT | ++n->hb.next_id;
	q->started_ms = now_ms(n);
	q->next = n->hb.queries;
	n->hb.queries = q;
	query_send(n, q);
	return true;
}

/* ---- registration asked for ------------------------------------------------------ */

void rk_hb_send_register(struct rk_node *n, const struct rk_pl_node_rec *rec)
{
	uint64_t token = RK_PLC_REQ_BIT | RK_HB_REQ_BIT | RK_HB_REG_BIT | rec->id;
	struct rk_buf cmd;

	rk_buf_init(&cmd);
	if (rk_pl_encode_register(&cmd, n->cfg.node_id, token, rec) == 0 && !cmd.oom)
		rk_hb_send_cmd(n, token, cmd.p, cmd.len);
	rk_buf_free(&cmd);
}

static void reg_send(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;

	h->reg_sent_ms = now_ms(n);
	rk_hb_send_register(n, &h->reg);
}

void rk_hb_register(struct rk_node *n, uint64_t id, const char *peer_addr)
{
	struct rk_hb *h = &n->hb;

	if (n->plc.n_nodes == 0 || id > UINT32_MAX)
		return;
	memset(&h->reg, 0, sizeof(h->reg));
	h->reg.id = id;
	snprintf(h->reg.peer, sizeof(h->reg.peer), "%s", peer_addr);
	h->reg_started_ms = now_ms(n);
	reg_send(n);
}

/* ---- state changes asked for ----------------------------------------------------- */

void rk_hb_send_cmd(struct rk_node *n, uint64_t token, const void *cmd, size_t len)
{
	if (n->hb.leading)
		(void)rk_plc_propose(n, cmd, len);
	else
		send_leader(n, token, cmd, len);
}

static void st_send(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;
	uint64_t token = RK_PLC_REQ_BIT | RK_HB_REQ_BIT | RK_HB_STATE_BIT | h->st_id;
	struct rk_buf cmd;

	h->st_sent_ms = now_ms(n);
	rk_buf_init(&cmd);
	if (rk_pl_encode_state(&cmd, n->cfg.node_id, token, h->st_id, h->st_state) == 0 &&
	    !cmd.oom)
		rk_hb_send_cmd(n, token, cmd.p, cmd.len);
	rk_buf_free(&cmd);
}

void rk_hb_set_state(struct rk_node *n, uint64_t id, uint8_t state,
		     struct rk_http_later *later)
{
	struct rk_hb *h = &n->hb;

	if (h->st_id != 0)
		st_answer(n, 503, 0, "another state change was asked on this node meanwhile; "
			  "see GET /api/v1/nodes");
	h->st_later = later;
	if (n->plc.n_nodes == 0 || id == 0 || id > UINT32_MAX) {
		st_answer(n, 503, 0, "this cluster has no placement group");
		return;
	}
	h->st_id = id;
	h->st_state = state;
	h->st_started_ms = now_ms(n);
	st_send(n);
}

static bool st_done(struct rk_node *n)
{
	int s = rk_hb_state_of(n, n->hb.st_id);

	return n->hb.st_state == RK_PL_NODE_DECOMMISSIONED ? s == RK_HB_DECOMMISSIONED
		: s == RK_HB_DECOMMISSIONING || s == RK_HB_DECOMMISSIONED;
}

int rk_hb_view(struct rk_node *n, const struct rk_pl_node_rec *rec, uint64_t *heard_msp)
{
	struct rk_hb_node *e = entry(n, rec->id, false);

	*heard_msp = e != NULL ? e->heard_ms : n->hb.since_ms;
	return derive(n, rec);
}

bool rk_hb_reported(struct rk_node *n, uint64_t id, int k, uint64_t *vp,
		    uint64_t *heard_msp)
{
	struct rk_hb_node *e = entry(n, id, false);
	bool have = e != NULL && e->have && k >= 0 && k < RK_PL_NSTATS;

	*vp = have ? e->stats[k] : 0;
	*heard_msp = have ? e->heard_ms : 0;
	return have;
}

/* ---- time ---------------------------------------------------------------------- */

void rk_hb_tick(struct rk_node *n)
{
	struct rk_hb *h = &n->hb;
	uint64_t now = now_ms(n);
	struct hb_query *q, *next;

	if (n->plc.n_nodes == 0)
		return; /* no placement group */
	follow_leadership(n);
	if (h->sent_ms == 0 || now - h->sent_ms >= RK_HB_INTERVAL_MS)
		send_beat(n);
	if (h->leading && now - h->stats_ms >= RK_HB_STATS_MS)
		propose_stats(n);
	/* Sent again each second until the table holds it (30 s at most). */
	if (h->reg.id != 0 && now - h->reg_started_ms >= 30000)
		h->reg.id = 0;
	if (h->reg.id != 0 && now - h->reg_sent_ms >= RK_HB_INTERVAL_MS)
		reg_send(n);
	if (h->st_id != 0 && st_done(n))
		st_answer(n, 202, 0, NULL);
	if (h->st_id != 0 && now - h->st_started_ms >= 30000)
		st_answer(n, 503, 0, "the placement group did not confirm the change in 30 s; "
			  "it may still apply: see GET /api/v1/nodes");
	if (h->st_id != 0 && now - h->st_sent_ms >= RK_HB_INTERVAL_MS)
		st_send(n);
	for (q = h->queries; q != NULL; q = next) {
		next = q->next;
		if (h->leading) {
			struct rk_buf out;
			rk_buf_init(&out);
			nodes_json(n, &out); /* this node took over meanwhile */
			query_done(n, q, 200, out.p, out.len);
			rk_buf_free(&out);
		} else if (now - q->started_ms >= RK_HB_QUERY_MS) {
			query_done(n, q, 503, "no leader of the placement group answered", 0);
		} else if (now - q->sent_ms >= 500) {
			n->plc.leader_hint = 0; /* silent: the next node of the group */
			query_send(n, q);
		}
	}
}

void rk_hb_close(struct rk_node *n)
{
	if (n->hb.st_id != 0)
		st_answer(n, 503, 0, "the node is stopping");
	while (n->hb.queries != NULL)
		query_done(n, n->hb.queries, 503, "the node is stopping", 0);
	free(n->hb.nodes);
	memset(&n->hb, 0, sizeof(n->hb));
}
