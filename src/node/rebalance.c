/*
 * The cluster's rebalance switch (rebalance.h).
 */
#include <string.h>

#include "api_range.h"
#include "json.h"
#include "log.h"
#include "node_int.h"
#include "rebalance.h"

#define MOD "placement"
#define ASK_MS 30000u

bool rk_rb_enabled(struct rk_node *n)
{
	struct rk_rb *b = &n->rb;
	struct rk_replica *g = rk_plc_replica(n);
	bool on;
	int rc;

	/* The row changes only with the group's applied state: the same
	 * visible index is the same state (an entry or a snapshot moves it),
	 * and a reading taken at it is that state or a newer one. A WiredTiger
	 * search every pass was half of the driver's idle time. */
	if (g != NULL && b->read && b->read_at == g->visible)
		return b->read_on;
	if ((rc = rk_pl_read_rebalance(n->reader, &on)) != 0)
		on = n->cfg.settings.v[RK_SET_REBALANCE] != 0;
	if (g != NULL && (rc == 0 || rc == RK_ENOTFOUND)) {
		b->read = true;
		b->read_on = on;
		b->read_at = g->visible;
	}
	return on;
}

void rk_rb_told(struct rk_node *n, bool on)
{
	struct rk_rb *b = &n->rb;
	bool stopped = b->told && b->told_on && !on;

	if (b->told && b->told_on != on)
		rk_log_info(MOD, "rebalancing %s", on ? "resumed" : "paused");
	b->told = true;
	b->told_on = on;
	if (stopped)
		rk_balance_renote(n); /* the runtime's balance places them again */
	if (b->asking && on == b->want)
		b->asking = false;
}

static void ask_send(struct rk_node *n)
{
	/* STATE_BIT with node id 0: its answer is taken as a state change's
	 * (heartbeat.c), which REBALANCE never refuses. */
	uint64_t token = RK_PLC_REQ_BIT | RK_HB_REQ_BIT | RK_HB_STATE_BIT;
	struct rk_buf cmd;

	n->rb.ask_sent_ms = uv_now(&n->loop);
	rk_buf_init(&cmd);
	if (rk_pl_encode_rebalance(&cmd, n->cfg.node_id, token, n->rb.want) == 0 && !cmd.oom)
		rk_hb_send_cmd(n, token, cmd.p, cmd.len);
	rk_buf_free(&cmd);
}

void rk_rb_tick(struct rk_node *n)
{
	struct rk_rb *b = &n->rb;
	uint64_t now = uv_now(&n->loop);

	if (!b->asking)
		return;
	if (now - b->ask_started_ms >= ASK_MS) {
		rk_log_warn(MOD, "rebalancing %s was asked and no leader of the placement group "
			    "confirmed it", b->want ? "on" : "paused");
		b->asking = false;
	} else if (now - b->ask_sent_ms >= RK_HB_INTERVAL_MS) {
		ask_send(n);
	}
}

static void answer(struct rk_http_resp *resp, int status, bool on)
{
	struct rk_json j;

	resp->status = status;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "enabled");
	rk_json_bool(&j, on);
	rk_json_obj_end(&j);
}

bool rk_rb_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	struct rk_rb *b = &n->rb;
	char v[8];
	bool want;

	if (strcmp(req->path, "/api/v1/rebalance") != 0)
		return false;
	if (n->plc.n_nodes == 0) {
		rk_api_error(resp, 404, "this cluster has no placement group");
		return true;
	}
	if (strcmp(req->method, "GET") == 0) {
		if (n->hb.leading)
			answer(resp, 200, rk_rb_enabled(n));
		else if (b->told)
			answer(resp, 200, b->told_on);
		else
			rk_api_error(resp, 503, "no leader of the placement group has told this "
				     "node the rebalance switch yet; retry in a second");
		return true;
	}
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "GET or POST only");
		return true;
	}
	if (!rk_http_query(req, "enabled", v, sizeof(v)) ||
	    (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)) {
		rk_api_error(resp, 400, "enabled=true or enabled=false");
		return true;
	}
	want = strcmp(v, "true") == 0;
	if ((n->hb.leading ? rk_rb_enabled(n) == want : b->told && b->told_on == want) &&
	    !(b->asking && b->want != want)) {
		answer(resp, 200, want); /* so already */
		return true;
	}
	rk_log_info(MOD, "rebalancing %s asked", want ? "on" : "paused");
	b->asking = true;
	b->want = want;
	b->ask_started_ms = uv_now(&n->loop);
	ask_send(n);
	answer(resp, 202, want);
	return true;
}
