/*
 * POST /api/v1/nodes/{id}/decommission (sched_run.h's rk_sr_http): checked
 * against this node's view of the nodes' states, then handed to the
 * placement group (heartbeat.h), which drains the node through the
 * scheduler's driver.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "api_range.h"
#include "heartbeat.h"
#include "log.h"
#include "node_int.h"
#include "sched_run.h"

#define MOD "placement"

bool rk_sr_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp)
{
	const char *p = req->path + 14, *slash;
	uint32_t live = 0, replicas = rk_node_config_replicas(&n->cfg);
	struct rk_http_later *l;
	uint64_t id;
	int st;

	if (strncmp(req->path, "/api/v1/nodes/", 14) != 0 || (slash = strchr(p, '/')) == NULL ||
	    strcmp(slash, "/decommission") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if (!rk_admin_parse_id(p, (size_t)(slash - p), &id) || id == 0) {
		rk_api_error(resp, 400, "a node id is a whole number");
		return true;
	}
	if (n->plc.n_nodes == 0) {
		rk_api_error(resp, 404, "this cluster has no placement group");
		return true;
	}
	if (n->hb.n_told == 0) {
		rk_api_error(resp, 503, "no leader of the placement group has told this node the "
			     "nodes' states yet; retry in a second");
		return true;
	}
	st = rk_hb_state_of(n, id);
	if (st == RK_HB_UNKNOWN) {
		rk_api_error(resp, 404, "no such node in the placement group's node table");
		return true;
	}
	if (st == RK_HB_DECOMMISSIONING || st == RK_HB_DECOMMISSIONED) {
		rk_hb_state_json(resp, id, rk_hb_state_name(st)); /* asked already */
		return true;
	}
	for (uint32_t i = 0; i < n->hb.n_told; i++)
		if (n->hb.told_ids[i] != id && n->hb.told_states[i] == RK_HB_LIVE)
			live++;
	if (live < replicas) {
		char msg[160];
		snprintf(msg, sizeof(msg), "decommissioning node %llu would leave %u live nodes, "
			 "fewer than --replicas %u", (unsigned long long)id, live, replicas);
		rk_api_error(resp, 409, msg);
		return true;
	}
	rk_log_info(MOD, "node %llu: decommission asked", (unsigned long long)id);
	/* Answered once the group applied or refused it (heartbeat.h); a
	 * call forwarded from another node cannot wait: 202 at once. The
	 * check above is this node's view of liveness; the group's apply
	 * checks the nodes it records, so that two decommissions asked at
	 * once on two nodes cannot both pass. */
	l = rk_http_defer(req);
	rk_hb_set_state(n, id, RK_PL_NODE_DECOMMISSIONING, l);
	if (l == NULL) {
		resp->status = 202;
		rk_hb_state_json(resp, id, "decommissioning");
	}
	return true;
}
