/*
 * The node's HTTP API (docs/contract.md): cluster status, ranges (paged
 * and one by one) and Prometheus metrics. Read-only views of the loop's
 * state, answered on the loop.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "api.h"
#include "api_range.h"
#include "autosplit.h"
#include "console.h"
#include "node_int.h"
#include "size.h"
#include "quiesce.h"
#include "serve.h"

static void error(struct rk_http_resp *resp, int status, const char *msg)
{
	struct rk_json j;

	resp->status = status;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "error");
	rk_json_str(&j, msg);
	rk_json_obj_end(&j);
}

static void range_json(struct rk_json *j, const struct rk_replica *r, bool detail)
{
	struct rk_raft_status st;
	uint64_t leader;

	rk_raft_status(&r->raft, &st);
	leader = rk_replica_leader_node(r);
	rk_json_obj_begin(j);
	rk_json_key(j, "id");
	rk_json_u64(j, r->range);
	rk_json_key(j, "start");
	rk_json_bytes(j, r->desc.start, r->desc.slen);
	rk_json_key(j, "end");
	rk_json_bytes(j, r->desc.end, r->desc.elen);
	rk_json_key(j, "generation");
	rk_json_u64(j, r->desc.generation);
	rk_json_key(j, "conf_version");
	rk_json_u64(j, r->desc.conf_version);
	rk_json_key(j, "auto_split");
	rk_json_bool(j, (r->desc.flags & RK_DESC_F_AUTO_SPLIT) != 0);
	rk_json_key(j, "leader");
	if (leader == 0)
		rk_json_null(j);
	else
		rk_json_u64(j, leader);
	rk_json_key(j, "term");
	rk_json_u64(j, st.hs.term);
	rk_json_key(j, "commit_index");
	rk_json_u64(j, st.hs.commit);
	rk_json_key(j, "applied_index");
	rk_json_u64(j, r->applied);
	rk_json_key(j, "first_index");
	rk_json_u64(j, r->first);
	rk_json_key(j, "size_bytes");
	rk_json_u64(j, rk_size_of(r));
	rk_json_key(j, "log_bytes"); /* its raft log on this node (logkeep.h) */
	rk_json_u64(j, rk_logbytes_get(&r->lb));
	rk_api_range_more(j, r, detail);
	rk_json_key(j, "asleep");
	rk_json_bool(j, r->asleep);
	rk_json_key(j, "role");
	rk_json_str(j, rk_raft_role_name(st.role));
	rk_json_key(j, "frozen_for"); /* the left range of a merge under way */
	if (r->sessions.frozen == 0)
		rk_json_null(j);
	else
		rk_json_u64(j, r->sessions.frozen);
	rk_json_key(j, "replicas");
	rk_json_arr_begin(j);
	for (uint8_t i = 0; i < r->desc.n_reps; i++) {
		const struct rk_desc_replica *rep = &r->desc.reps[i];

		rk_json_obj_begin(j);
		rk_json_key(j, "node_id");
		rk_json_u64(j, rep->node_id);
		rk_json_key(j, "replica_id");
		rk_json_u64(j, rep->replica_id);
		rk_json_key(j, "role");
		rk_json_str(j, rk_desc_role_name(rep->role));
		rk_json_obj_end(j);
	}
	rk_json_arr_end(j);
	rk_json_obj_end(j);
}

static bool parse_u64(const char *s, uint64_t *vp)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE) /* past 2^64 - 1: not an id */
		return false;
	*vp = v;
	return true;
}

void rk_api_range_json(struct rk_json *j, const struct rk_replica *r,
		       bool detail)
{
	range_json(j, r, detail);
}

void rk_api_error(struct rk_http_resp *resp, int status, const char *msg)
{
	error(resp, status, msg);
}

bool rk_api_parse_u64(const char *s, uint64_t *vp)
{
	return parse_u64(s, vp);
}

struct status_walk {
	struct rk_node *n;
	struct rk_json *j;
	struct rk_net_peer_stats *ps;
	size_t np;
};

/* One node of cluster/status: an initial one or one added at runtime. */
static void status_node(void *arg, uint64_t id, const char *addr)
{
	struct status_walk *w = arg;
	struct rk_node *n = w->n;
	struct rk_json *j = w->j;
	bool self = id == n->cfg.node_id, up = self;
	uint64_t ranges = 0, leaders = 0;

	for (size_t i = 0; i < w->np; i++)
		if (w->ps[i].node_id == id)
			up = w->ps[i].connected;
	for (size_t i = 0; i < rk_table_user_n(&n->tab); i++) {
		const struct rk_replica *r = n->tab.byid[i];

		ranges += rk_desc_on_node(&r->desc, id) != NULL;
		leaders += rk_replica_leader_node(r) == id;
	}
	rk_json_obj_begin(j);
	rk_json_key(j, "id");
	rk_json_u64(j, id);
	rk_json_key(j, "peer_addr");
	rk_json_str(j, addr);
	rk_json_key(j, "client_addr");
	if (self && n->cfg.client_addr[0])
		rk_json_str(j, n->cfg.client_addr);
	else
		rk_json_null(j);
	rk_json_key(j, "http_addr");
	if (self && n->cfg.http_addr[0])
		rk_json_str(j, n->cfg.http_addr);
	else
		rk_json_null(j);
	rk_json_key(j, "state");
	rk_json_str(j, up ? "up" : "unreachable");
	/* The placement leader's view, as its last heartbeat answer told
	 * this node (heartbeat.h); null until told. */
	rk_json_key(j, "placement_state");
	if (rk_hb_state_of(n, id) != RK_HB_UNKNOWN)
		rk_json_str(j, rk_hb_state_name(rk_hb_state_of(n, id)));
	else
		rk_json_null(j);
	rk_json_key(j, "ranges");
	rk_json_u64(j, ranges);
	rk_json_key(j, "leaders");
	rk_json_u64(j, leaders);
	rk_json_key(j, "no_space"); /* known for this node only */
	if (self)
		rk_json_bool(j, n->space.no_space);
	else
		rk_json_null(j);
	rk_json_obj_end(j);
}

static void cluster_status(struct rk_node *n, struct rk_http_resp *resp)
{
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np = rk_net_peer_stats(n->net, ps, RK_MAX_NODES);
	struct rk_json j;

	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "node_id");
	rk_json_u64(&j, n->cfg.node_id);
	rk_json_key(&j, "ranges");
	rk_json_u64(&j, rk_table_user_n(&n->tab));
	/* This node's alarms: "NOSPACE" while client writes are refused for
	 * lack of free space on its data disk (docs/node.md). */
	rk_json_key(&j, "alarms");
	rk_json_arr_begin(&j);
	if (n->space.no_space)
		rk_json_str(&j, "NOSPACE");
	rk_json_arr_end(&j);
	rk_json_key(&j, "disk");
	rk_json_obj_begin(&j);
	rk_json_key(&j, "free_bytes");
	if (n->space.known)
		rk_json_u64(&j, n->space.free_bytes);
	else
		rk_json_null(&j);
	rk_json_key(&j, "min_free_bytes");
	rk_json_u64(&j, n->space.min_free);
	rk_json_key(&j, "writes_refused");
	rk_json_u64(&j, n->space.refused);
	rk_json_obj_end(&j);
	/* What the data directory's tables were created with (kept for
	 * its life; docs/storage.md). */
	rk_json_key(&j, "storage");
	rk_json_obj_begin(&j);
	rk_json_key(&j, "compression");
	rk_json_str(&j, rk_store_compression_name(rk_store_compression(n->store)));
	rk_json_key(&j, "key_table");
	rk_json_str(&j, rk_store_key_table_name(rk_store_key_table(n->store)));
	rk_json_obj_end(&j);
	rk_json_key(&j, "nodes");
	rk_json_arr_begin(&j);
	{
		struct status_walk w = {n, &j, ps, np};
		rk_roster_each(n, status_node, &w);
	}
	rk_json_arr_end(&j);
	/* The placement group (not a range of the key space: not in
	 * "ranges" nor in /api/v1/ranges). */
	rk_json_key(&j, "placement");
	rk_plc_status_json(n, &j);
	rk_json_obj_end(&j);
}

/* The store's figures on /metrics: a uint64_t of struct rk_store_stats
 * each, microseconds shown as seconds where us is set. */
struct store_metric {
	const char *name, *type, *help;
	size_t field;
	bool us;
};
#define SM(name, type, help, f) {name, type, help, offsetof(struct rk_store_stats, f), false}
static const struct store_metric store_metrics[] = {
	SM("rangekv_fsyncs_total", "counter",
	   "Log flushes (one per group commit holding log data).", flushes),
	SM("rangekv_store_checkpoints_total", "counter",
	   "Checkpoints of the store completed (periodic, and asked for by log "
	   "compaction and snapshot installs).", checkpoints),
	SM("rangekv_store_queued_bytes", "gauge",
	   "Bytes of write batches queued for the storage thread, not yet committed.",
	   queued_bytes),
	SM("rangekv_store_compactions_total", "counter",
	   "Tables compacted after a quiet checkpoint (free blocks given back).", compactions),
	SM("rangekv_store_compacted_bytes_total", "counter",
	   "File bytes the compactions gave back.", compacted_bytes),
	SM("rangekv_store_values_bytes", "gauge",
	   "Bytes of the value log's segments (values of 512 bytes and more, "
	   "garbage not yet collected included).", values_bytes),
	SM("rangekv_store_values_moved_bytes_total", "counter",
	   "Record bytes the value log's collection copied out of segments it emptied.",
	   values_moved_bytes),
	SM("rangekv_store_values_segments_retired_total", "counter",
	   "Value log segments collected (deleted once no pinned reader needs them).",
	   values_segments_retired),
	SM("rangekv_store_lsm_chunks", "gauge",
	   "Chunks of an LSM key table (--key-table lsm; 0 for a B-tree).", lsm_chunks),
	SM("rangekv_store_lsm_rows_merged_total", "counter",
	   "Rows WiredTiger's merges of an LSM key table rewrote.", lsm_rows_merged),
	{"rangekv_store_lsm_throttle_seconds_total", "counter",
	 "Seconds writes to an LSM key table slept in WiredTiger's throttles "
	 "(its chunks filling faster than they are written out or merged).",
	 offsetof(struct rk_store_stats, lsm_throttle_us), true},
	SM("rangekv_store_commit_retries_total", "counter",
	   "Group commit transactions rolled back (a write conflict, cache pressure) and redone.",
	   commit_retries),
	SM("rangekv_store_install_retries_total", "counter",
	   "Snapshot installs rolled back (a write conflict, cache pressure) and redone.",
	   install_retries),
};
#undef SM

/* One counter family with a sample per peer node; field is the offset of
 * a uint64_t in struct rk_net_peer_stats. */
static void peer_family(struct rk_buf *b, const char *name, const char *help,
			const struct rk_net_peer_stats *ps, size_t np, size_t field)
{
	char labels[64];
	uint64_t v;

	rk_prom_family(b, name, "counter", help);
	for (size_t i = 0; i < np; i++) {
		memcpy(&v, (const char *)&ps[i] + field, sizeof(v));
		snprintf(labels, sizeof(labels), "peer=\"%llu\"",
			 (unsigned long long)ps[i].node_id);
		rk_prom_u64(b, name, labels, v);
	}
}

static void metrics(struct rk_node *n, struct rk_http_resp *resp)
{
	struct rk_buf *b = &resp->body;
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np = rk_net_peer_stats(n->net, ps, RK_MAX_NODES);
	struct rk_net_stats ns;
	struct rk_store_stats ss;
	uint64_t leaders = 0, leaderless = 0;
	size_t un = rk_table_user_n(&n->tab), awake = n->tab.n_awake;

	resp->content_type = "text/plain; version=0.0.4";
	for (size_t i = 0; i < un; i++) {
		leaders += rk_raft_is_leader(&n->tab.byid[i]->raft);
		leaderless += rk_raft_leader(&n->tab.byid[i]->raft) == 0;
	}
	/* The placement group is not a range of the key space: not in
	 * these (rangekv_placement_* has it). */
	if (un < n->tab.n && !n->tab.byid[un]->asleep)
		awake--;
	rk_prom_one_u64(b, "rangekv_ranges", "gauge", "Replicas hosted by this node.",
			un);
	rk_prom_one_u64(b, "rangekv_leaders", "gauge", "Replicas that lead their range.",
			leaders);
	rk_prom_one_u64(b, "rangekv_ranges_awake", "gauge", "Replicas ticked (not quiescent).",
			awake);
	rk_prom_one_u64(b, "rangekv_replicas_removed_total", "counter",
			"Replicas whose stored states this node removed (moved or merged away).",
			n->life.removed);
	rk_prom_one_u64(b, "rangekv_messages_split_pending_total", "counter",
			"Raft messages for a range this node has no replica of yet whose span "
			"a replica here still holds (its split not applied here): dropped, the "
			"split makes the replica.",
			n->life.split_pending);
	rk_prom_one_u64(b, "rangekv_placement_awake", "gauge",
			"1 while this node's replica of the placement group is ticked (not quiescent).",
			un < n->tab.n && !n->tab.byid[un]->asleep);
	rk_prom_one_u64(b, "rangekv_ranges_leaderless", "gauge",
			"Replicas that know no leader of their range.", leaderless);
	rk_prom_one_u64(b, "rangekv_quiesced_total", "counter", "Times a replica went to sleep.",
			n->stats.quiesced);
	rk_prom_one_u64(b, "rangekv_woken_total", "counter", "Times a sleeping replica woke.",
			n->stats.woken);
	rk_prom_one_u64(b, "rangekv_node_deaths_total", "counter",
			"Peer nodes declared dead by liveness.",
			n->live.deaths);
	rk_prom_one_u64(b, "rangekv_ticks_total", "counter", "Tick rounds of the node.",
			n->ticks);
	rk_prom_one_u64(b, "rangekv_late_turns_total", "counter",
			"Ticks that came late (a stopped process, a long loop turn): leader leases voided.",
			n->stats.late_turns);
	rk_prom_one_u64(b, "rangekv_raft_messages_received_total", "counter",
			"Raft messages received.",
			n->stats.msgs_recv);
	rk_prom_one_u64(b, "rangekv_raft_messages_sent_total", "counter", "Raft messages sent.",
			n->stats.msgs_sent);
	rk_prom_one_u64(b, "rangekv_raft_messages_unknown_range_total", "counter",
			"Raft messages received for a range this node does not host (dropped).",
			n->stats.msgs_unknown_range);
	rk_prom_one_u64(b, "rangekv_raft_messages_misaddressed_total", "counter",
			"Raft messages received for another replica of a hosted range, or from a node "
			"its descriptor does not place the sender on (dropped).",
			n->stats.msgs_misaddressed);
	rk_prom_one_u64(b, "rangekv_raft_appends_awaiting_snapshot_total", "counter",
			"Appends received while a snapshot covering them arrives (not stepped: the "
			"install answers them).",
			n->stats.msgs_snap_wait);
	rk_prom_one_u64(b, "rangekv_raft_messages_unroutable_total", "counter",
			"Raft messages for a replica the range's descriptor does not name (not sent).",
			n->stats.msgs_unroutable);
	rk_prom_one_u64(b, "rangekv_raft_heartbeats_coalesced_total", "counter",
			"Of the raft messages sent, heartbeats and their answers sent as coalesced records.",
			n->stats.beats_sent);
	peer_family(b, "rangekv_peer_frames_sent_total", "Frames written to a peer.",
		    ps, np, offsetof(struct rk_net_peer_stats, frames_sent));
	peer_family(b, "rangekv_peer_bytes_sent_total", "Bytes written to a peer.",
		    ps, np, offsetof(struct rk_net_peer_stats, bytes_sent));
	peer_family(b, "rangekv_peer_frames_received_total", "Frames received from a peer.",
		    ps, np, offsetof(struct rk_net_peer_stats, frames_recv));
	peer_family(b, "rangekv_peer_bytes_received_total", "Bytes received from a peer.",
		    ps, np, offsetof(struct rk_net_peer_stats, bytes_recv));
	peer_family(b, "rangekv_peer_frames_dropped_total",
		    "Frames dropped by a full queue or a broken connection.",
		    ps, np, offsetof(struct rk_net_peer_stats, dropped));
	rk_net_stats(n->net, &ns);
	rk_prom_one_u64(b, "rangekv_bad_frames_total", "counter",
			"Peer connections closed for bad input.",
			ns.bad_frames);
	rk_prom_one_u64(b, "rangekv_peer_handshakes_refused_total", "counter",
			"Peer connections refused in the handshake (cluster, node id, secret).",
			ns.refused);
	rk_prom_one_u64(b, "rangekv_http_unauthorized_total", "counter",
			"HTTP calls answered 401 for want of the admin token.", n->http.unauthorized);
	rk_store_stats(n->store, &ss);
	for (size_t i = 0; i < sizeof(store_metrics) / sizeof(store_metrics[0]); i++) {
		const struct store_metric *m = &store_metrics[i];
		uint64_t v;

		memcpy(&v, (const char *)&ss + m->field, sizeof(v));
		if (m->us)
			rk_prom_one_f64(b, m->name, m->type, m->help, (double)v / 1e6);
		else
			rk_prom_one_u64(b, m->name, m->type, m->help, v);
	}
	rk_prom_one_u64(b, "rangekv_node_duplicate_writes_total", "counter",
			"Writes this node's replicas applied as duplicates of an answered request "
			"(answered -ERR: a router sent a number its session had already passed).",
			n->stats.dup_writes);
	rk_prom_one_u64(b, "rangekv_snapshots_generated_total", "counter",
			"Snapshots made to send.",
			n->stats.snaps_generated);
	rk_prom_one_u64(b, "rangekv_snapshots_sent_total", "counter",
			"Snapshot streams sent to the end.",
			n->stats.snaps_sent);
	rk_prom_one_u64(b, "rangekv_snapshots_received_total", "counter",
			"Snapshot files received whole.",
			n->stats.snaps_received);
	rk_prom_one_u64(b, "rangekv_snapshots_installed_total", "counter", "Snapshots installed.",
			n->stats.snaps_installed);
	rk_prom_one_u64(b, "rangekv_log_compactions_total", "counter", "Range log compactions.",
			n->stats.compactions);
	rk_prom_one_u64(b, "rangekv_log_compaction_holds_total", "counter",
			"Range log compactions stopped short of the budgets to keep the entries "
			"after a snapshot in flight.",
			n->stats.log_holds);
	rk_prom_one_u64(b, "rangekv_raft_log_bytes", "gauge",
			"Bytes of the raft logs of this node's ranges (payloads and row overhead).",
			n->snaps.log_bytes);
	if (n->router != NULL) {
		struct rk_client_stats cs;
		rk_client_router_stats(n->router, &cs);
		rk_prom_one_u64(b, "rangekv_client_ops_total", "counter",
				"Range operations routed.", cs.ops);
		rk_prom_one_u64(b, "rangekv_client_ops_inflight", "gauge",
				"Range operations waiting for an answer.",
				cs.inflight);
		rk_prom_one_u64(b, "rangekv_client_forwarded_total", "counter",
				"Attempts sent to another node's leader.", cs.forwarded);
		rk_prom_one_u64(b, "rangekv_client_retries_total", "counter",
				"Attempts repeated (not the leader, outcome unknown, no answer).", cs.retries);
		rk_prom_one_u64(b, "rangekv_client_tryagain_total", "counter",
				"Operations answered -TRYAGAIN.",
				cs.tryagain);
		rk_prom_one_u64(b, "rangekv_client_timeouts_total", "counter",
				"Operations answered -TIMEOUT.",
				cs.timeouts);
		rk_prom_one_u64(b, "rangekv_router_redirects_total", "counter",
				"Answers NO_RANGE or MISMATCH (range not on that node, or another "
				"generation or span): the operation went on where they pointed.",
				cs.redirects);
		rk_prom_one_u64(b, "rangekv_router_redirect_parks_total", "counter",
				"Redirects beyond the first few of one operation: parked, not sent on at once.",
				cs.redirect_parks);
		rk_prom_one_u64(b, "rangekv_router_asks_total", "counter",
				"Attempts sent to nodes in turn, no node being known for the key.", cs.asks);
		rk_prom_one_u64(b, "rangekv_router_index_lookups_total", "counter",
				"Keys looked up in the placement index (a range-cache miss, a guessed entry, "
				"or a redirect without descriptors).", cs.index_lookups);
		rk_prom_one_u64(b, "rangekv_router_resplits_total", "counter",
				"Batches of a connection's writes refused at apply with their keys in "
				"several ranges (after a split), sent on in parts.", cs.resplits);
		rk_prom_one_u64(b, "rangekv_router_awaits_total", "counter",
				"Writes held back from a range that may already have been told a mark "
				"above their sequence number, until their open attempts were answered.",
				cs.awaits);
		rk_prom_one_u64(b, "rangekv_router_await_timeouts_total", "counter",
				"Of those held writes, the ones answered -TIMEOUT at once: every open "
				"attempt had been answered \"unknown\", so no answer could settle them.",
				cs.await_timeouts);
		rk_prom_one_u64(b, "rangekv_router_duplicates_total", "counter",
				"Writes a node answered as duplicates of an answered request (-ERR to "
				"the client): a router's fault.", cs.duplicates);
		rk_prom_one_u64(b, "rangekv_router_held_resends_total", "counter",
				"Batches with keys in two ranges whose open attempts were all answered "
				"\"unknown\": sent again under their number to learn whether one applied.",
				cs.held_resends);
	}
	rk_prom_one_u64(b, "rangekv_placement_index_reads_total", "counter",
			"Pages of the placement index this node asked for (listings, forwarded calls).",
			n->pix.reads);
	rk_prom_one_u64(b, "rangekv_placement_index_queries_served_total", "counter",
			"Reads and lookups of the placement index this node's replica of the group answered.",
			n->pix.served);
	rk_prom_one_u64(b, "rangekv_placement_index_timeouts_total", "counter",
			"Reads and lookups of the placement index no replica answered in time.",
			n->pix.timeouts);
	rk_prom_one_u64(b, "rangekv_placement_reports_sent_total", "counter",
			"Reports of descriptors this node sent to the placement group's leader "
			"(batches; one sent again for want of an answer counts again).",
			n->plc.reports_sent);
	rk_prom_one_u64(b, "rangekv_placement_resync_sweeps_total", "counter",
			"Sweeps of this node's replicas against the placement index completed.",
			n->resync.sweeps);
	rk_prom_one_u64(b, "rangekv_placement_resync_reported_total", "counter",
			"Descriptors the sweeps found the placement index lacking or older, and reported.",
			n->resync.reported);
	rk_prom_one_u64(b, "rangekv_placement_allocations_total", "counter",
			"Range-id allocations the placement group answered for this node.",
			n->plc.allocs);
	rk_prom_one_u64(b, "rangekv_placement_ids_allocated_total", "counter",
			"Range ids the placement group allocated for this node.",
			n->plc.ids_allocated);
	rk_prom_one_u64(b, "rangekv_placement_call_timeouts_total", "counter",
			"Range-id allocations no leader of the placement group answered in time.",
			n->plc.timeouts);
	rk_prom_one_u64(b, "rangekv_http_forwarded_total", "counter",
			"Inspection calls of a range held elsewhere sent to a node that holds it.",
			n->fwd.forwarded);
	rk_prom_one_u64(b, "rangekv_http_forwarded_served_total", "counter",
			"Inspection calls forwarded by another node and answered here.", n->fwd.served);
	rk_prom_one_u64(b, "rangekv_router_descriptors_learned_total", "counter",
			"Descriptors from redirect answers handed to the range cache (an older one is ignored there).",
			n->stats.learned);
	rk_prom_one_u64(b, "rangekv_serve_redirects_total", "counter",
			"Requests this node answered NO_RANGE or MISMATCH, with the descriptors it knows.",
			n->stats.redirects);
	if (n->client != NULL) {
		struct rk_client_server_stats cs;
		rk_client_server_stats(n->client, &cs);
		rk_prom_one_u64(b, "rangekv_client_connections", "gauge",
				"Open client connections.",
				cs.connections);
		rk_prom_one_u64(b, "rangekv_client_commands_total", "counter",
				"Client commands received.",
				cs.commands);
		rk_prom_one_u64(b, "rangekv_client_protocol_errors_total", "counter",
				"Client connections closed for a malformed request.", cs.protocol_errors);
		rk_prom_one_u64(b, "rangekv_client_inflight_bytes", "gauge",
				"Bytes of client commands read and not yet answered.", cs.inflight_bytes);
		rk_prom_one_u64(b, "rangekv_client_throttled_total", "counter",
				"Times the RESP port stopped reading for --client-inflight-bytes.", cs.throttled);
	}
	rk_prom_one_u64(b, "rangekv_proposals_total", "counter",
			"Client commands proposed by this node's leaders.",
			n->stats.proposals);
	rk_prom_one_u64(b, "rangekv_admin_conf_changes_total", "counter",
			"Membership changes proposed by admin calls on this node.", n->admin.changes);
	rk_prom_one_u64(b, "rangekv_admin_transfers_total", "counter",
			"Leadership transfers started by admin calls on this node.", n->admin.transfers);
	rk_prom_one_u64(b, "rangekv_admin_failed_total", "counter",
			"Admin calls answered with an error after waiting (outcome unknown or refused).",
			n->admin.failed);
	rk_prom_one_u64(b, "rangekv_answers_dropped_total", "counter",
			"Answers lost on purpose by the fault injection of tests.", n->answers_dropped);
	rk_prom_one_u64(b, "rangekv_disk_free_bytes", "gauge",
			"Free space on the data directory's filesystem, as last read (once a second).",
			n->space.free_bytes);
	rk_prom_one_u64(b, "rangekv_store_pending_bytes", "gauge",
			"Disk space the store may still take for writes it was given (checkpoints to come, "
			"a log file), as last read with the free space; counted against --min-free-space.",
			n->space.pending_bytes);
	rk_prom_one_u64(b, "rangekv_min_free_space_bytes", "gauge",
			"The --min-free-space floor in effect (0: none).", n->space.min_free);
	rk_prom_one_u64(b, "rangekv_no_space", "gauge",
			"1 while client writes are refused for lack of free space on the data disk.",
			n->space.no_space);
	rk_prom_one_u64(b, "rangekv_writes_refused_no_space_total", "counter",
			"Client writes refused for lack of free space on the data disk.", n->space.refused);
	rk_prom_one_u64(b, "rangekv_reads_off_loop_total", "counter",
			"Reads handed to the reader threads (reads.h).", n->reads.total);
	rk_prom_one_u64(b, "rangekv_reads_off_loop_in_flight", "gauge",
			"Reads on the reader threads, not answered yet.", n->reads.in_flight);
	rk_prom_one_u64(b, "rangekv_reads_off_loop_voided_total", "counter",
			"Reads of the threads answered UNKNOWN (retried by the router): their range's span was cleared or replaced meanwhile.",
			n->reads.voided);
	rk_prom_one_u64(b, "rangekv_reads_resent_dropped_total", "counter",
			"Resent copies of reads still with the reader threads, dropped (the first copy answers them).",
			n->reads.resent_dropped);
	rk_api_metrics_load(n, b);
	rk_check_metrics(n, b);
	rk_autosplit_metrics(n, b);
	rk_merge_metrics(n, b);
	rk_ops_metrics(n, b);
	rk_prom_one_u64(b, "rangekv_node_heartbeats_sent_total", "counter",
			"Node heartbeats this node sent to the placement group's leader.", n->hb.beats_sent);
	rk_prom_one_u64(b, "rangekv_node_heartbeat_bytes_sent_total", "counter",
			"Bytes of those heartbeats (their range figures included; framing not).",
			n->hb.beat_bytes_sent);
	rk_own_metrics(n, b);
	rk_rfig_metrics(n, b);
	rk_prom_one_hist(b, "rangekv_group_commit_seconds", "Group commit, submit to durable.",
			 &n->stats.commit_hist);
}

/* POST /api/v1/debug/propose?range=ID&count=N&size=B: the internal load
 * driver of tests and benchmarks. The leader proposes N entries of B bytes
 * that the state machine applies as no-ops (first byte 0). */
static void debug_propose(struct rk_node *n, const struct rk_http_req *req,
			  struct rk_http_resp *resp)
{
	char v[32];
	uint64_t range = 0, count = 1, size = 16, last = 0, done = 0;
	struct rk_replica *r;
	struct rk_json j;
	uint8_t *payload;
	int rc = 0;

	if (!rk_http_query(req, "range", v, sizeof(v)) || !parse_u64(v, &range) ||
	    (rk_http_query(req, "count", v, sizeof(v)) &&
	     (!parse_u64(v, &count) || count == 0 || count > 100000)) ||
	    (rk_http_query(req, "size", v, sizeof(v)) &&
	     (!parse_u64(v, &size) || size == 0 || size > (1u << 20)))) {
		error(resp, 400, "want range=ID, count=1..100000, size=1..1048576");
		return;
	}
	r = rk_table_get(&n->tab, range);
	if (r == NULL || rk_range_reserved(range)) {
		error(resp, 404, "no such range on this node");
		return;
	}
	payload = calloc(1, size);
	if (payload == NULL) {
		error(resp, 503, "out of memory");
		return;
	}
	for (; done < count; done++) {
		rc = rk_raft_propose(&r->raft, payload, (uint32_t)size, &last);
		if (rc != 0)
			break;
	}
	free(payload);
	if (done > 0) {
		n->stats.proposals += done;
		rk_node_mark_dirty(n, r);
	}
	rk_node_wake(n, r); /* a proposal (or a refused one) wakes the range */
	if (done == 0) {
		resp->status = rc == RK_ENOTLEADER ? 409 : 503;
		rk_json_init(&j, &resp->body);
		rk_json_obj_begin(&j);
		rk_json_key(&j, "error");
		rk_json_str(&j, rk_strerror(rc));
		rk_json_key(&j, "leader");
		if (rk_replica_leader_node(r) == 0)
			rk_json_null(&j);
		else
			rk_json_u64(&j, rk_replica_leader_node(r));
		rk_json_obj_end(&j);
		return;
	}
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "proposed");
	rk_json_u64(&j, done);
	rk_json_key(&j, "last_index");
	rk_json_u64(&j, last);
	rk_json_obj_end(&j);
}

/* POST /api/v1/debug/drop-answers?percent=N: this node's router loses N%
 * of the successful answers to its requests, after they were applied. The
 * router resends; the ranges' sessions must answer the resends without
 * applying them again (the exactly-once test). */
static void debug_drop(struct rk_node *n, const struct rk_http_req *req,
		       struct rk_http_resp *resp)
{
	char v[32];
	uint64_t pct = 0;
	struct rk_json j;

	if (!rk_http_query(req, "percent", v, sizeof(v)) || !parse_u64(v, &pct) || pct > 100) {
		error(resp, 400, "want percent=0..100");
		return;
	}
	n->drop_answers_pct = (uint32_t)pct;
	n->drop_rng = n->drop_rng ? n->drop_rng : n->cfg.node_id * 0x9e3779b97f4a7c15ull;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "percent");
	rk_json_u64(&j, pct);
	rk_json_key(&j, "dropped");
	rk_json_u64(&j, n->answers_dropped);
	rk_json_obj_end(&j);
}

#ifdef RK_TEST_HOOKS
/* POST /api/v1/debug/fault/apply?fail=N|always[&after=K]: after K more
 * commands apply normally, the next N (or every one) fail as a store read
 * error would (struct rk_test_hooks). fail=0 clears it. Only with
 * RANGEKV_TEST_HOOKS=1 (docs/testing.md). */
static void debug_fault_apply(struct rk_node *n, const struct rk_http_req *req,
			      struct rk_http_resp *resp)
{
	char v[32];
	uint64_t fail = 0, after = 0;
	struct rk_json j;

	if (!rk_http_query(req, "fail", v, sizeof(v)) ||
	    (strcmp(v, "always") == 0 ? (fail = UINT64_MAX, false) : !parse_u64(v, &fail)) ||
	    (rk_http_query(req, "after", v, sizeof(v)) && !parse_u64(v, &after))) {
		error(resp, 400, "want fail=N or fail=always, optionally after=K");
		return;
	}
	n->hooks.apply_fail = fail;
	n->hooks.apply_skip = after;
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "failed");
	rk_json_u64(&j, n->hooks.apply_failed);
	rk_json_obj_end(&j);
}

/* POST /api/v1/debug/fault/disk-free?bytes=N|off: the free-space watch
 * reads N bytes free (with a unit, as --min-free-space) instead of the
 * disk's, from now (it reads at once). off: the disk's again. */
static void debug_fault_disk_free(struct rk_node *n, const struct rk_http_req *req,
				  struct rk_http_resp *resp)
{
	char v[32];
	uint64_t bytes = 0;
	struct rk_json j;

	if (!rk_http_query(req, "bytes", v, sizeof(v)) ||
	    (strcmp(v, "off") != 0 && rk_parse_size(v, &bytes) != 0)) {
		error(resp, 400, "want bytes=N (a size, as --min-free-space) or bytes=off");
		return;
	}
	n->hooks.disk_free_set = strcmp(v, "off") != 0;
	n->hooks.disk_free = bytes;
	rk_space_check(n);
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "no_space");
	rk_json_bool(&j, n->space.no_space);
	rk_json_key(&j, "free_bytes");
	rk_json_u64(&j, n->space.free_bytes);
	rk_json_key(&j, "min_free_bytes");
	rk_json_u64(&j, n->space.min_free);
	rk_json_obj_end(&j);
}
#endif

/* The endpoints of the test hooks; false when p is not one of them or the
 * hooks are off (the path is then no endpoint at all). */
static bool debug_fault(struct rk_node *n, const char *p,
			const struct rk_http_req *req, struct rk_http_resp *resp)
{
#ifdef RK_TEST_HOOKS
	if (!n->hooks.enabled || strncmp(p, "/api/v1/debug/fault/", 20) != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		error(resp, 405, "POST only");
		return true;
	}
	if (strcmp(p + 20, "apply") == 0) {
		debug_fault_apply(n, req, resp);
		return true;
	}
	if (strcmp(p + 20, "disk-free") == 0) {
		debug_fault_disk_free(n, req, resp);
		return true;
	}
	return false;
#else
	(void)n;
	(void)p;
	(void)req;
	(void)resp;
	return false;
#endif
}

void rk_node_http(void *arg, const struct rk_http_req *req,
		  struct rk_http_resp *resp)
{
	struct rk_node *n = arg;
	const char *p = req->path;
	uint64_t id;

	/* Without --enable-debug-api the debug endpoints do not exist: anyone
	 * who reaches the HTTP port must not make the node drop answers or
	 * load itself. */
	if (strncmp(p, "/api/v1/debug/", 14) == 0 && !n->cfg.enable_debug_api) {
		error(resp, 404, "no such endpoint (the debug API needs --enable-debug-api)");
		return;
	}
	if (rk_check_http(n, req, resp))
		return; /* .../ranges/{id}/check, the alter hook of tests */
	if (debug_fault(n, p, req, resp))
		return;
	if (strcmp(p, "/api/v1/debug/drop-answers") == 0) {
		if (strcmp(req->method, "POST") != 0)
			error(resp, 405, "POST only");
		else
			debug_drop(n, req, resp);
		return;
	}

	if (strcmp(p, "/api/v1/debug/propose") == 0) {
		if (strcmp(req->method, "POST") != 0)
			error(resp, 405, "POST only");
		else
			debug_propose(n, req, resp);
		return;
	}
	if (strncmp(p, "/api/v1/debug/placement", 23) == 0 && rk_plc_http(n, req, resp))
		return;
	if (rk_admin_http(n, req, resp) || rk_hb_http(n, req, resp) || rk_sr_http(n, req, resp) ||
	    rk_ops_http(n, req, resp) || rk_rb_http(n, req, resp) ||
	    rk_roster_http(n, req, resp) || rk_split_http(n, req, resp) || rk_merge_http(n, req, resp))
		return;
	if (rk_api_range_route(n, p, req, resp))
		return; /* /api/v1/ranges/{id}/... */
	if (strcmp(req->method, "GET") != 0) {
		error(resp, 405, "only GET is served here");
		return;
	}
	if (strcmp(p, "/metrics") == 0) {
		metrics(n, resp);
	} else if (strcmp(p, "/api/v1/cluster/status") == 0) {
		cluster_status(n, resp);
	} else if (strcmp(p, "/api/v1/ranges") == 0) {
		rk_api_ranges_list(n, req, resp);
	} else if (strncmp(p, "/api/v1/ranges/", 15) == 0) {
		struct rk_replica *r;
		struct rk_json j;
		if (!parse_u64(p + 15, &id)) {
			error(resp, 400, "a range id is a whole number");
			return;
		}
		r = rk_table_get(&n->tab, id);
		if (r == NULL && rk_fwd_range_call(n, id, req, resp))
			return; /* held elsewhere: asked of a node that holds it */
		if (r == NULL || rk_range_reserved(id)) {
			error(resp, 404, "no such range on this node");
			return;
		}
		rk_json_init(&j, &resp->body);
		range_json(&j, r, true);
	} else if (!rk_console_get(p, resp)) {
		error(resp, 404, "no such endpoint");
	}
}
