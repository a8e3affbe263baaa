/*
 * The node runtime: every replica of this node on one event loop, one
 * store, one transport. This file starts and stops a node, routes what the
 * transport delivers to the modules, and drives the tick; each concept
 * lives in its own file:
 *
 *   table.c     the replica table and the awake list
 *   process.c   processing replicas, group commit, apply
 *   peer.c      sending to peer nodes (one Batch per peer per turn)
 *   live.c      node liveness
 *   elect.c     elections this node starts (start, restart, orphans)
 *   quiesce.c   sleeping ranges
 *   balance.c   leadership balance
 *   boot.c      the data directory at start
 *   snapshot.c  snapshots between nodes
 *   compact.c   raft log compaction
 *   serve.c     client requests on the leader
 *   api.c       the HTTP API
 *   check.c     replica checksums
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "autosplit.h"
#include "boot.h"
#include "compact.h"
#include "crash.h"
#include "log.h"
#include "node.h"
#include "node_int.h"
#include "quiesce.h"
#include "serve.h"

#define MOD "node"
#define COMPACT_EVERY_TICKS 25
#define SIZE_EVERY_TICKS 20 /* range sizes (size.h): a job at most this often */
/* A tick this much later than due (in ticks) marks a late loop turn. */
#define LATE_TICKS 3
#define LATE_LOG_MS 10000
#define STOP_WATCH_MS 5000 /* a stop taking longer says what it waits for */

void rk_node_fail(struct rk_node *n)
{
	n->exit_code = 1;
	uv_stop(&n->loop);
}

/* ---- receiving ------------------------------------------------------------------------ */

static int on_raft_msg(void *arg, uint64_t range, const struct rk_raft_msg *m)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_table_get(&n->tab, range);

	n->stats.msgs_recv++;
	if (r == NULL && (r = rk_life_create(n, range, m, n->cur_from)) == NULL) {
		n->stats.msgs_unknown_range++;
		rk_split_vote_early(n, range, n->cur_from, m);
		return 0;
	}
	if (r->removing) {
		n->stats.msgs_unknown_range++;
		return 0;
	}
	/* A message for a newer replica of the range on this node: the range
	 * holds one replica per node and never reuses an id, so ours was
	 * removed (while this node was down, or its notice lost). It leaves;
	 * the leader's next message creates the new one above its tombstone. */
	if (m->to > r->rs.replica_id && (m->type == RK_RAFT_MSG_APP ||
					 m->type == RK_RAFT_MSG_HEARTBEAT)) {
		rk_life_remove(n, r, "a newer replica of its range is addressed here");
		return 0;
	}
	/* Uninitialized (no descriptor yet, also after a restart): answers go
	 * to the node of the replica it last heard from. */
	if (r->desc.n_reps == 0 && m->to == r->rs.replica_id) {
		r->hint_replica = m->from;
		r->hint_node = n->cur_from;
	}
	if (!rk_replica_addressed(r, m, n->cur_from)) {
		n->stats.msgs_misaddressed++;
		return 0;
	}
	/* The answers to a sleeping leader's last heartbeat were on their way
	 * when it went to sleep: taken without waking it, unless they give it
	 * something to do (a follower behind after all). */
	if (r->asleep && m->type == RK_RAFT_MSG_HEARTBEAT_RESP &&
	    rk_raft_is_leader(&r->raft) && m->term == rk_raft_term(&r->raft)) {
		if (rk_raft_step(&r->raft, m) == RK_EPROTO)
			return 0;
		if (rk_raft_has_ready(&r->raft))
			rk_node_wake(n, r);
		return 0;
	}
	if (r->asleep)
		rk_node_wake(n, r);
	r->pq = false; /* traffic: the range is active again */
	if (rk_snap_append_waits(r, n->cur_from, m)) {
		n->stats.msgs_snap_wait++;
		return 0;
	}
	if (rk_raft_step(&r->raft, m) == RK_EPROTO)
		return 0; /* counted by the core's rules; the peer stays */
	rk_node_mark_dirty(n, r);
	return 0;
}

static int on_snap_msg(void *arg, uint64_t range, const struct rk_raft_msg *m)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_table_get(&n->tab, range);

	if (r != NULL && r->removing)
		return 0;
	if (r != NULL && r->asleep)
		rk_node_wake(n, r);
	return rk_snap_on_msg(n, range, m);
}

static int on_chunk(void *arg, const struct rk_net_chunk *c)
{
	return rk_snap_on_chunk(arg, c);
}

static void on_req(void *arg, const struct rk_net_req *req)
{
	struct rk_node *n = arg;

	if (req->range == RK_RANGE_PLACEMENT) {
		if (!rk_pix_on_req(n, n->cur_from, req)) /* a read of the index */
			rk_plc_on_req(n, n->cur_from, req);
	} else if (req->range == RK_RANGE_FORWARD) {
		rk_fwd_on_req(n, n->cur_from, req); /* an inspection call */
	} else {
		rk_serve_request(n, n->cur_from, req);
	}
}

static void on_resp(void *arg, const struct rk_net_resp *resp)
{
	if ((resp->id & RK_PIX_REQ_BITS) == RK_PIX_REQ_BITS)
		rk_pix_on_resp(arg, resp); /* a read of the placement index */
	else if ((resp->id & RK_PIX_REQ_BITS) == RK_FWD_REQ_BITS)
		rk_fwd_on_resp(arg, resp); /* a forwarded inspection call */
	else if (resp->id & RK_PLC_REQ_BIT)
		rk_plc_on_resp(arg, resp); /* a placement call of this node */
	else
		rk_serve_to_router(arg, resp);
}

static int on_frame(void *arg, uint64_t from, int channel,
		    const uint8_t *payload, size_t len)
{
	struct rk_node *n = arg;
	struct rk_net_handlers raft = {n, on_raft_msg, rk_live_on_msg, NULL,
				       rk_quiesce_on_msg, on_req, on_resp, rk_life_on_removed,
				       rk_check_on_report};
	struct rk_net_handlers snap = {n, on_snap_msg, NULL, on_chunk, NULL, NULL, NULL, NULL,
				       NULL};
	struct rk_peer *p = rk_peer_find(n, from);

	/* The one thing a node that is not a peer may send (net.h). */
	if (channel == RK_NET_CH_JOIN)
		return rk_join_on_frame(n, from, payload, len);
	if (p != NULL && channel == RK_NET_CH_RAFT)
		rk_live_heard(n, p);
	n->cur_from = from;
	return rk_net_batch_decode(payload, len,
				   channel == RK_NET_CH_SNAP ? &snap : &raft,
				   &n->scratch) == 0 ? 0 : RK_EPROTO;
}

/* ---- ticks and signals ------------------------------------------------------------------ */

/* The raft core's clock (ms): leases and vote refusals are measured by it,
 * read fresh at each check, so time the process spent stopped or a loop
 * turn that ran late counts in full. */
static uint64_t mono_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t rk_node_aligned(const struct rk_node *n, uint64_t period)
{
	uint64_t wall = uv_now(&n->loop) + n->wall_off;

	return period - wall % period;
}

uint64_t rk_node_slot(const struct rk_node *n, uint64_t period)
{
	return (uv_now(&n->loop) + n->wall_off) / period;
}

/* A tick that comes late (the process was stopped, swapped, or a turn ran
 * long): every awake leader's lease is voided, and its next reads confirm
 * leadership by a heartbeat round. The leases are measured in time and
 * would have run out by the clock anyway; voiding them also drops the
 * rounds acknowledged before the stall. */
static void late_turn(struct rk_node *n, uint64_t late_ms)
{
	uint64_t now = mono_ms(NULL), held;

	n->stats.late_turns++;
	/* At most one line per LATE_LOG_MS: an overloaded node is late often. */
	if (rk_log_limit_pass(&n->late_log, now, LATE_LOG_MS, &held))
		rk_log_warn(MOD, "the loop ran %llu ms late: leader leases are voided "
			    "(%llu late ticks so far)", (unsigned long long)late_ms,
			    (unsigned long long)n->stats.late_turns);
	for (size_t i = 0; i < n->tab.n_awake; i++)
		rk_raft_lease_void(&n->tab.awake[i]->raft);
}

static void on_tick(uv_timer_t *t)
{
	struct rk_node *n = t->data;
	uint64_t now = mono_ms(NULL);

	uv_timer_start(t, on_tick, rk_node_aligned(n, n->cfg.tick_ms), 0);

	if (n->last_tick_ms != 0 && now - n->last_tick_ms > LATE_TICKS * n->cfg.tick_ms)
		late_turn(n, now - n->last_tick_ms - n->cfg.tick_ms);
	n->last_tick_ms = now;

	/* Backwards: a replica put to sleep is swapped with the last one,
	 * which has been visited already. */
	for (size_t i = n->tab.n_awake; i-- > 0;) {
		struct rk_replica *r = n->tab.awake[i];
		rk_quiesce_maybe(n, r);
		if (r->asleep)
			continue;
		rk_raft_tick(&r->raft);
		rk_node_mark_dirty(n, r);
	}
	rk_peer_flush_all(n);
	n->ticks++;
	/* Replicas no leader has claimed two election timeouts after the
	 * start (a whole cluster restarted, or their leader is down), and
	 * again every two election timeouts after. */
	if (n->ticks % (2 * (uint64_t)n->ropts.election_tick) == 0) {
		rk_elect_sweep(n);
		rk_life_ask(n);
	}
	rk_elect_run(n, true);
	if (n->ticks % RK_BALANCE_EVERY_TICKS == 0)
		rk_balance_leaders(n);
	if (n->ticks % COMPACT_EVERY_TICKS == 0) {
		rk_compact_run(n);
		rk_snap_sweep(n);
	}
	if (n->admin.ops != NULL)
		rk_admin_tick(n);
	if (n->split.ops != NULL || n->split.n_camps > 0)
		rk_split_tick(n);
	rk_autosplit_tick(n);
	if (n->merge.ops != NULL || n->merge.n_frozen > 0 || n->merge.n_waits > 0)
		rk_merge_tick(n);
	if (n->check.waits != NULL)
		rk_check_tick(n);
	if (n->life.n > 0)
		rk_life_tick(n);
	if (n->ticks % SIZE_EVERY_TICKS == 0)
		rk_size_refresh(n);
	rk_plc_tick(n);
	rk_pix_tick(n);
	rk_resync_tick(n);
	rk_fwd_tick(n);
	rk_hb_tick(n);
	rk_rfig_tick(n);
	rk_join_tick(n);
	rk_rb_tick(n);
	rk_sr_tick(n);
	rk_ops_tick(n);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct rk_node *n = s->data;

	rk_log_info(MOD, "signal %d: stopping", signum);
	n->stopping = true;
	uv_stop(&n->loop);
}

/* ---- start and stop ---------------------------------------------------------------------- */

static void closed_noop(uv_handle_t *h)
{
	(void)h;
}

static void http_closed(struct rk_http_server *s)
{
	(void)s;
}

/* What keeps a stopping node's loop alive, logged once it takes long:
 * each live handle by type and, when it is a field of the node, its offset
 * in struct rk_node (a hang at stop is otherwise a silent kill -9). */
static void stuck_handle(uv_handle_t *h, void *arg)
{
	struct rk_node *n = arg;
	const char *p = (const char *)h, *base = (const char *)n;

	if (h == (uv_handle_t *)&n->stop_watch)
		return;
	rk_log_warn(MOD, "still open at stop: %s at %td of the node%s (active %d, closing %d, ref %d)",
		    uv_handle_type_name(h->type), p - base,
		    p >= base && p < base + sizeof(*n) ? "" : ", outside it",
		    uv_is_active(h), uv_is_closing(h), uv_has_ref(h));
}

static void on_stop_watch(uv_timer_t *t)
{
	struct rk_node *n = t->data;

	rk_log_warn(MOD, "stopping takes long: %u active handles, %u requests in flight, %u commits",
		    n->loop.active_handles, n->loop.active_reqs.count,
		    (unsigned)n->proc.in_flight);
	uv_walk(&n->loop, stuck_handle, n);
}

static void net_stopped(void *arg)
{
	*(bool *)arg = true;
}

/* With --admin-token-file, the GETs that need the token too (every other
 * method always does): the debug API, and what shows keys or values (the
 * range log of docs/contract.md, when it lands). docs/security.md lists
 * them. */
static const char *const admin_get_paths[] = {
	"/api/v1/debug/*",
	"/api/v1/ranges/*/log",
	NULL,
};

/* The initial cluster's nodes become peers (the transport has started). */
static void add_initial_peers(struct rk_node *n)
{
	for (uint32_t i = 0; i < n->cfg.n_initial; i++) {
		if (n->cfg.initial[i].id == n->cfg.node_id)
			continue;
		(void)rk_peer_add(n, n->cfg.initial[i].id, n->cfg.initial[i].addr);
	}
}

/* Frees n, and the --split-at a join gave n's flags (join.c's strdup):
 * the caller's own, `given`, is the caller's to free. */
static void node_free(struct rk_node *n, const char *given)
{
	if (n->cfg.split_at != given)
		free(n->cfg.split_at);
	free(n);
}

/* Whether a storage flag asks for another setting than the directory
 * has (its name asked, and has); the message in err when it does. */
static bool setting_differs(char *err, size_t errlen, const char *flag, const char *what,
			    const char *asked, const char *has, const char *dir)
{
	if (strcmp(asked, has) == 0)
		return false;
	snprintf(err, errlen, "%s %s does not match the first start of %.200s (%s): "
		 "a data directory keeps the %s it was created with", flag, asked, dir, has, what);
	return true;
}

int rk_node_run(const struct rk_node_config *cfg)
{
	const char *given = cfg->split_at;
	struct rk_node *n = calloc(1, sizeof(*n));
	struct rk_store_options so;
	struct rk_net_config nc;
	struct rk_buf joined; /* a join's nodes added since the first start */
	struct rk_join_group group = {{0}, 0}; /* where the join says the group is */
	uint64_t join_cluster = 0;
	char err[512];
	bool existing = false;
	bool net_down = false;
	int rc;

	if (n == NULL)
		return 1;
	n->cfg = *cfg;
	/* From here on the flags are n's: a join fills in the cluster's. */
	cfg = &n->cfg;
	rk_buf_init(&joined);
	/* A new data directory with --join: the cluster's facts first, so that
	 * the directory is made with its id (join.h). */
	if (cfg->join[0] != '\0' && rk_store_dir_is_new(cfg->data_dir) &&
	    rk_join_ask(&n->cfg, &join_cluster, &joined, &group, err, sizeof(err)) != 0) {
		rk_log_error(MOD, "%s", err);
		rk_buf_free(&joined);
		node_free(n, given);
		return 1;
	}
	rk_check_init(n);
	rk_raft_options_default(&n->ropts);
	n->ropts.election_tick = (int)cfg->election_ticks;
	/* Replication flow control sized to the transport: a follower has at
	 * most 4 MiB of appends in flight, in messages of at most 256 KiB, so
	 * one peer's frames stay well inside its 64 MiB queue even when many
	 * ranges stream at once (beyond it frames are dropped and raft
	 * resends). */
	n->ropts.max_msg_bytes = 256u << 10;
	n->ropts.max_inflight_msgs = 64;
	n->ropts.max_inflight_bytes = 4u << 20;
	/* A command may carry a 1 MiB value (and MSET several): entries up to
	 * 8 MiB, each travelling alone when over the message size. */
	n->ropts.max_entry_bytes = 8u << 20;
	/* A moved commit index travels with the next append or heartbeat
	 * (a tick later at most), not in an append of its own: at light load
	 * that is one message, one answer and one storage group less per
	 * write on every follower (docs/node.md "A turn"). */
	n->ropts.lazy_commit = true;
	/* Reads by lease while check-quorum holds, ReadIndex otherwise. */
	n->ropts.read_only = RK_RAFT_READ_LEASE;
	n->ropts.clock = mono_ms;
	n->ropts.clock_arg = NULL;
	n->ropts.tick_len = cfg->tick_ms;
	n->ropts.storage = &rk_replica_storage_ops;

	rk_store_options_default(&so);
	so.dir = cfg->data_dir;
	so.node_id = cfg->node_id;
	so.cluster_id = 0; /* checked against the initial cluster below */
	/* A new directory records the id every node of the initial cluster
	 * computes alike; peers must present it in the handshake. */
	so.new_cluster_id = join_cluster != 0 ? join_cluster
			    : cfg->n_initial ? rk_boot_cluster_id(cfg) : 0;
	so.cache_mb = cfg->cache_mb ? cfg->cache_mb : 256;
	so.compression = (enum rk_store_compression)cfg->compression;
	so.key_table = (enum rk_store_key_table)cfg->key_table;
	so.test_commit_delay_ms = rk_test_store_delay_ms();
	rc = rk_store_open(&so, &n->store, err, sizeof(err));
	/* Tables keep the compression and key table they were created with: a flag that
	 * asks for another is refused like any first-start flag that does
	 * not match. */
	if (rc == 0 &&
	    ((cfg->compression_set &&
	      setting_differs(err, sizeof(err), "--compression", "compression",
			      rk_store_compression_name(so.compression),
			      rk_store_compression_name(rk_store_compression(n->store)),
			      cfg->data_dir)) ||
	     (cfg->key_table_set &&
	      setting_differs(err, sizeof(err), "--key-table", "key table",
			      rk_store_key_table_name(so.key_table),
			      rk_store_key_table_name(rk_store_key_table(n->store)),
			      cfg->data_dir)))) {
		rk_store_close(n->store);
		rc = RK_EINVAL;
	}
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		rk_buf_free(&joined);
		node_free(n, given);
		return 1;
	}
	rk_log_info(MOD, "storage cache %llu MiB, raft log budget %llu MiB for the node",
		    (unsigned long long)so.cache_mb,
		    (unsigned long long)(cfg->log_keep_bytes_total >> 20));
	uv_loop_init(&n->loop);
	rk_crash_arm(n);
	rk_process_init(n);
	if (rk_store_reader_open(n->store, &n->reader) != 0 ||
	    rk_boot_existing(n, &existing) != 0) {
		rk_log_error(MOD, "%s: cannot read the ranges", cfg->data_dir);
		rc = RK_EIO;
		goto out;
	}
	/* A restart without --initial-cluster knows its cluster all the same. */
	if (existing && (rc = rk_roster_recorded_initial(n)) != 0)
		goto out;
	/* Listen before anything is written: a port in use must not leave a
	 * half-made data directory behind. */
	memset(&nc, 0, sizeof(nc));
	nc.node_id = cfg->node_id;
	nc.cluster_id = rk_store_cluster_id(n->store);
	nc.secret = cfg->cluster_secret_len > 0 ? cfg->cluster_secret : NULL;
	nc.secret_len = cfg->cluster_secret_len;
	if (cfg->cluster_secret_open)
		rk_log_warn(MOD, "--cluster-secret-file %s can be read by its group or others (chmod 600 it)",
			    cfg->cluster_secret_file);
	if (cfg->admin_token_open)
		rk_log_warn(MOD, "--admin-token-file %s can be read by its group or others (chmod 600 it)",
			    cfg->admin_token_file);
	nc.listen_addr = cfg->peer_addr;
	nc.queue_max = 64u << 20;
	nc.on_frame = on_frame;
	nc.arg = n;
	rc = rk_net_start(&n->loop, &nc, &n->net, err, sizeof(err));
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	add_initial_peers(n);
	if (cfg->http_addr[0] != '\0') {
		rc = rk_http_listen(&n->http, &n->loop, cfg->http_addr, rk_node_http, n);
		if (rc != 0) {
			rk_log_error(MOD, "cannot listen on --http-addr %s: %s",
				     cfg->http_addr, rk_strerror(rc));
			goto out;
		}
		if (cfg->admin_token_len > 0 &&
		    (rc = rk_http_set_token(&n->http, cfg->admin_token, cfg->admin_token_len,
					    admin_get_paths)) != 0) {
			rk_log_error(MOD, "cannot set the admin token: %s", rk_strerror(rc));
			goto out;
		}
	}

	if (existing && (rc = rk_boot_check_flags(n, err, sizeof(err))) != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	if (existing && (rc = rk_boot_finished(n, &existing, err, sizeof(err))) != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	/* A restart with --join: where the cluster is now (join.h), taken
	 * once the roster is loaded; a failed ask is only logged. */
	if (existing && cfg->join[0] != '\0' &&
	    rk_join_refresh(cfg, rk_store_cluster_id(n->store), &joined, &group) != 0)
		joined.len = 0;
	/* Joined before, and stopped before its first start was done: the
	 * same exchange again (accepted again for the same id and address),
	 * for the same cluster. */
	if (!existing && cfg->join[0] != '\0' && join_cluster == 0) {
		rc = rk_join_ask(&n->cfg, &join_cluster, &joined, &group, err, sizeof(err));
		if (rc == 0 && join_cluster != rk_store_cluster_id(n->store)) {
			snprintf(err, sizeof(err), "--join %s: the member is of cluster %016llx, %.200s of %016llx",
				 cfg->join, (unsigned long long)join_cluster, cfg->data_dir,
				 (unsigned long long)rk_store_cluster_id(n->store));
			rc = RK_EFOREIGN;
		}
		if (rc != 0) {
			rk_log_error(MOD, "%s", err);
			goto out;
		}
		add_initial_peers(n); /* the transport started knowing none */
	}
	if (!existing && joined.len > 0 &&
	    (rc = rk_roster_record(n, joined.p, joined.len)) != 0) {
		rk_log_error(MOD, "cannot record the nodes the join named: %s", rk_strerror(rc));
		goto out;
	}
	if (!existing) {
		if (cfg->n_initial == 0) {
			rk_log_error(MOD, "%s holds no ranges and neither --initial-cluster nor --join was given",
				     cfg->data_dir);
			rc = RK_EINVAL;
			goto out;
		}
		rc = rk_boot_first_start(n, err, sizeof(err));
		if (rc != 0) {
			rk_log_error(MOD, "%s", err);
			goto out;
		}
	}
	/* The cluster settings: a restart's flags checked against the record
	 * before anything is loaded. */
	if ((rc = rk_settings_load(n, err, sizeof(err))) != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	rc = rk_boot_placement(n);
	if (rc == 0)
		rk_join_learn_group(n, &group);
	rk_hb_init(n);
	if (rc == 0)
		rc = rk_boot_load(n);
	if (rc == 0)
		rc = rk_boot_layout_cache(n);
	if (rc == 0)
		rc = rk_roster_load(n);
	if (rc == 0 && existing && joined.len > 0 && rk_roster_take(n, joined.p, joined.len) != 0)
		rk_log_warn(MOD, "the nodes the --join member named could not all be taken "
			    "(malformed, or not recorded): starting with what this node knows");
	if (rc == 0)
		rc = rk_elect_init(n);
	if (rc != 0) {
		rk_log_error(MOD, "cannot load the ranges: %s", rk_strerror(rc));
		goto out;
	}

	uv_timer_init(&n->loop, &n->tick_timer);
	n->tick_timer.data = n;
	uv_timer_init(&n->loop, &n->snaps.pump_timer);
	n->snaps.pump_timer.data = n;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		uv_update_time(&n->loop);
		n->wall_off = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u -
			      uv_now(&n->loop);
	}
	rk_live_start(n);
	uv_timer_start(&n->tick_timer, on_tick, rk_node_aligned(n, cfg->tick_ms), 0);
	uv_signal_init(&n->loop, &n->sigterm);
	uv_signal_init(&n->loop, &n->sigint);
	n->sigterm.data = n->sigint.data = n;
	uv_signal_start(&n->sigterm, on_signal, SIGTERM);
	uv_signal_start(&n->sigint, on_signal, SIGINT);
	rc = rk_reads_start(n);
	if (rc != 0)
		goto out;
	rc = rk_serve_start(n, err, sizeof(err));
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		rk_serve_stop(n);
		goto out;
	}

	/* A restart: every replica is processed once (committed entries the
	 * apply state has not reached are applied again). */
	if (existing)
		for (size_t i = 0; i < n->tab.n; i++)
			rk_node_mark_dirty(n, n->tab.byid[i]);
	/* Removed from its range before a crash, not yet from the store. */
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];
		if (rk_replica_gone(r))
			rk_life_remove(n, r, "not in its configuration at start");
	}
	/* Leaders spread evenly: on the first start, range i is elected by
	 * the i-th node of the initial cluster, a bounded number at a time. */
	if (!existing)
		rk_elect_first_start(n);
	rk_log_info(MOD, "node %llu serving %zu ranges; peers on %s, clients on %s, http on %s; cluster=%016llx secret=%s admin_token=%s",
		    (unsigned long long)cfg->node_id, n->tab.n, cfg->peer_addr,
		    cfg->client_addr[0] ? cfg->client_addr : "(none)",
		    cfg->http_addr[0] ? cfg->http_addr : "(none)",
		    (unsigned long long)rk_store_cluster_id(n->store),
		    cfg->cluster_secret_len > 0 ? "yes" : "no",
		    cfg->admin_token_len > 0 ? "yes" : "no");
	uv_run(&n->loop, UV_RUN_DEFAULT);

	/* Stop: let group commits in flight finish (acknowledgements only go
	 * out after them, so none is lost either way), then close. */
	n->stopping = true; /* no new processing: only the commits in flight finish */
	uv_timer_init(&n->loop, &n->stop_watch);
	n->stop_watch.data = n;
	uv_timer_start(&n->stop_watch, on_stop_watch, STOP_WATCH_MS, STOP_WATCH_MS);
	uv_unref((uv_handle_t *)&n->stop_watch);
	rk_serve_stop(n);
	rk_pix_close(n); /* before the calls that wait on it */
	rk_fwd_close(n);
	rk_sr_close(n);
	rk_ops_close(n);
	rk_hb_close(n);
	rk_rfig_close(n);
	rk_plc_close(n);
	uv_timer_stop(&n->tick_timer);
	uv_timer_stop(&n->live.timer);
	uv_timer_stop(&n->snaps.pump_timer); /* streams end with the transport */
	while (n->proc.in_flight > 0)
		uv_run(&n->loop, UV_RUN_ONCE);
	rc = n->exit_code != 0 ? RK_EIO : 0;
out:
	if (n->net != NULL) {
		rk_net_stop(n->net, net_stopped, &net_down);
		while (!net_down)
			uv_run(&n->loop, UV_RUN_ONCE);
	}
	rk_admin_close(n); /* before the connections close: their answers go */
	rk_reads_close(n); /* its threads read the store, its handle is the loop's */
	rk_split_close(n);
	rk_handoff_close(n);
	rk_merge_close(n);
	rk_check_close(n);
	if (n->http.loop != NULL && !n->http.closing)
		rk_http_close(&n->http, http_closed);
	{
		uv_handle_t *hs[] = {(uv_handle_t *)&n->proc.idle, (uv_handle_t *)&n->proc.wake,
				     (uv_handle_t *)&n->tick_timer, (uv_handle_t *)&n->snaps.pump_timer,
				     (uv_handle_t *)&n->live.timer,
				     (uv_handle_t *)&n->sigterm, (uv_handle_t *)&n->sigint};
		for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
			if (hs[i]->loop == &n->loop && !uv_is_closing(hs[i]))
				uv_close(hs[i], closed_noop);
	}
	uv_run(&n->loop, UV_RUN_DEFAULT);
	if (n->stop_watch.loop == &n->loop) { /* unreferenced: closed last */
		uv_close((uv_handle_t *)&n->stop_watch, closed_noop);
		uv_run(&n->loop, UV_RUN_DEFAULT);
	}
	uv_loop_close(&n->loop);
	rk_net_free(n->net);
	rk_snap_shutdown(n);
	for (size_t i = 0; i < n->tab.n; i++)
		rk_replica_free(n->tab.byid[i]);
	for (uint32_t i = 0; i < n->n_peers; i++) {
		rk_buf_free(&n->peers[i].batch);
		rk_buf_free(&n->peers[i].beats);
	}
	rk_net_scratch_free(&n->scratch);
	rk_buf_free(&joined);
	rk_kv_applier_close(&n->applier);
	rk_table_free(&n->tab);
	rk_rcache_free(&n->rcache);
	rk_life_free(n); /* a removal finishing while the node stops raises a tombstone */
	rk_elect_close(n);
	rk_balance_free(&n->bal);
	rk_size_free(&n->sizes);
	rk_process_close(n);
	rk_store_reader_close(n->reader);
	rk_store_close(n->store);
	node_free(n, given);
	if (rc == 0)
		rk_log_info(MOD, "stopped");
	return rc == 0 ? 0 : 1;
}
