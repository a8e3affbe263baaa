/*
 * Replica checksums (check.h).
 *
 * Why the hash is taken at exactly the CHECK's index on every replica:
 * the CHECK applies between the same two commands of the log everywhere.
 * At that moment the replica's state is (a) what its earlier readies wrote,
 * all committed (a range has one ready in flight at a time), plus (b) the
 * writes of the current ready before the CHECK, still in the applier's
 * overlay, plus (c) the session table in memory. (b) and (c) are copied at
 * the CHECK (rk_kv_check_capture: bounded by one ready); (a) is pinned as
 * a storage snapshot once the ready is applied and before its batch is
 * submitted, so no later write of the range can be in it. The pinned
 * snapshot's applied index must be the one the ready started from, which
 * is checked: a replica that finds otherwise reports a failure, never a
 * checksum of some other point. The span is then read and hashed on a
 * worker thread, so a large range never holds up the loop.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_range.h"
#include "check.h"
#include "json.h"
#include "kv.h"
#include "log.h"
#include "node_int.h"
#include "peer.h"
#include "quiesce.h"

#define MOD "check"

struct rk_check_job {
	uv_work_t req;
	struct rk_node *n;
	struct rk_replica *r; /* while captured only */
	uint64_t range, index, replica_id, proposer, check_id;
	struct rk_kv_check_data *data;
	struct rk_store_reader *rd;
	uint64_t sum;
	int rc;
	struct rk_check_job *next;
};

struct wait_rep {
	uint64_t node_id, replica_id, sum;
	bool reported, failed;
};

struct rk_check_wait {
	uint64_t check_id, range, index, deadline;
	struct rk_http_later *later;
	struct wait_rep reps[RK_MAX_NODES];
	uint8_t n_reps;
	struct rk_check_wait *next;
};

void rk_check_init(struct rk_node *n)
{
	memset(&n->check, 0, sizeof(n->check));
	/* Ids of one process never repeat, and a restarted node's are far
	 * from its earlier ones: a replica applying an old CHECK again after
	 * its restart reports to a check that no longer waits. */
	n->check.next_id = uv_hrtime() ^ ((uint64_t)n->cfg.node_id << 48);
}

/* ---- the replica's side --------------------------------------------------- */

static void job_free(struct rk_check_job *j)
{
	if (j->rd != NULL)
		rk_store_reader_close(j->rd);
	rk_kv_check_data_free(j->data);
	free(j);
}

static int on_cmd(void *arg, const struct rk_kv_cmd *c)
{
	struct rk_node *n = arg;
	struct rk_replica *r = n->check.at;
	struct rk_check_job *j;
	uint64_t id, proposer;

	/* A malformed CHECK changes nothing and is ignored by every replica
	 * alike; no memory: this replica does not report (null). */
	if (r == NULL || rk_kv_check_decode(c, &id, &proposer) != 0 ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return 0;
	if (rk_kv_check_capture(&n->applier, &j->data) != 0) {
		free(j);
		return 0;
	}
	j->n = n;
	j->r = r;
	j->range = r->range;
	j->index = n->check.at_index;
	j->replica_id = r->rs.replica_id;
	j->proposer = proposer;
	j->check_id = id;
	j->next = n->check.captured;
	n->check.captured = j;
	return 0;
}

void rk_check_apply_at(struct rk_node *n, struct rk_replica *r, uint64_t index,
		       struct rk_kv_applier *a)
{
	n->check.at = r;
	n->check.at_index = index;
	a->check = on_cmd;
	a->check_arg = n;
}

void rk_check_apply_abort(struct rk_node *n, struct rk_replica *r)
{
	struct rk_check_job **pp = &n->check.captured, *j;

	while ((j = *pp) != NULL) {
		if (j->r == r) {
			*pp = j->next;
			job_free(j);
		} else {
			pp = &j->next;
		}
	}
}

static void send_report(struct rk_node *n, const struct rk_check_job *j)
{
	struct rk_net_check m = {j->range, j->index, j->replica_id, j->sum,
				 j->check_id, j->rc != 0};
	struct rk_peer *p;

	if (j->proposer == n->cfg.node_id) {
		rk_check_on_report(n, &m);
		return;
	}
	p = rk_peer_find(n, j->proposer);
	if (p == NULL)
		return; /* a node we do not know: it shows null */
	(void)rk_net_batch_add_check(&p->batch, &m);
	rk_process_kick(n); /* the turn flushes the peers */
}

static void hash_run(uv_work_t *req)
{
	struct rk_check_job *j = req->data;

	if (j->rc == 0)
		j->rc = rk_kv_checksum(j->rd, j->data, &j->sum);
	if (j->rd != NULL)
		rk_store_reader_unpin(j->rd);
}

static void hash_done(uv_work_t *req, int status)
{
	struct rk_check_job *j = req->data, **pp;
	struct rk_node *n = j->n;

	(void)status;
	for (pp = &n->check.running; *pp != j; pp = &(*pp)->next)
		;
	*pp = j->next;
	if (j->rc != 0) {
		n->check.failed++;
		rk_log_warn(MOD, "range %llu: the checksum at %llu could not be computed: %s",
			    (unsigned long long)j->range, (unsigned long long)j->index,
			    rk_strerror(j->rc));
	} else {
		n->check.hashed++;
	}
	if (!n->stopping)
		send_report(n, j);
	job_free(j);
}

void rk_check_apply_done(struct rk_node *n, struct rk_replica *r, uint64_t applied)
{
	struct rk_check_job **pp = &n->check.captured, *j;
	uint64_t pinned = 0;

	while ((j = *pp) != NULL) {
		if (j->r != r) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->r = NULL;
		j->rc = rk_store_reader_open(n->store, &j->rd);
		if (j->rc == 0)
			j->rc = rk_store_reader_pin(j->rd, j->range, &pinned);
		if (j->rc == 0 && pinned != applied) {
			rk_log_error(MOD, "range %llu: the storage snapshot for the checksum at "
				     "%llu is at %llu, not %llu",
				     (unsigned long long)j->range, (unsigned long long)j->index,
				     (unsigned long long)pinned, (unsigned long long)applied);
			j->rc = RK_ESTATE;
		}
		j->req.data = j;
		j->next = n->check.running;
		n->check.running = j;
		if (uv_queue_work(&n->loop, &j->req, hash_run, hash_done) != 0) {
			n->check.running = j->next;
			job_free(j);
		}
	}
}

/* ---- the proposer's side ---------------------------------------------------- */

/* Whether a replica that has not reported lies on a node this node holds
 * dead (live.h): waiting for it would only run the check into its
 * deadline, range after range in `check --all`. */
static bool rep_down(struct rk_node *n, const struct wait_rep *rp)
{
	return !rp->reported && rp->node_id != n->cfg.node_id &&
	       !rk_peer_alive(n, rp->node_id);
}

/* Whether w still waits: a replica has not reported and its node is this
 * one or live. */
static bool still_waits(struct rk_node *n, const struct rk_check_wait *w)
{
	for (uint8_t i = 0; i < w->n_reps; i++)
		if (!w->reps[i].reported && !rep_down(n, &w->reps[i]))
			return true;
	return false;
}

static void answer(struct rk_node *n, struct rk_check_wait *w, int status)
{
	struct rk_http_resp resp;
	struct rk_json j;
	bool all = true, same = true, failed = false;
	char hex[17];

	for (uint8_t i = 0; i < w->n_reps; i++) {
		all &= w->reps[i].reported && !w->reps[i].failed;
		failed |= w->reps[i].failed;
		same &= w->reps[i].sum == w->reps[0].sum;
	}
	memset(&resp, 0, sizeof(resp));
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	if (status != 200) {
		rk_api_error(&resp, status, "the node is stopping; the check is abandoned");
		rk_http_answer(w->later, &resp);
		rk_buf_free(&resp.body);
		return;
	}
	if (all && same) {
		n->check.agreed++;
	} else if (all || failed) {
		struct rk_buf b;

		rk_buf_init(&b);
		for (uint8_t i = 0; i < w->n_reps; i++) {
			if (w->reps[i].reported && !w->reps[i].failed)
				rk_buf_printf(&b, " %llu@node%llu=%016" PRIx64,
					      (unsigned long long)w->reps[i].replica_id,
					      (unsigned long long)w->reps[i].node_id,
					      w->reps[i].sum);
			else
				rk_buf_printf(&b, " %llu@node%llu=%s",
					      (unsigned long long)w->reps[i].replica_id,
					      (unsigned long long)w->reps[i].node_id,
					      w->reps[i].reported ? "failed"
					      : rep_down(n, &w->reps[i]) ? "down" : "none");
		}
		if (all) {
			n->check.mismatches++;
			rk_log_warn(MOD, "range %llu: REPLICAS DIFFER at index %llu:%s "
				    "(not repaired)", (unsigned long long)w->range,
				    (unsigned long long)w->index, b.oom ? "" : b.p);
		} else {
			n->check.incomplete++;
			rk_log_warn(MOD, "range %llu: a replica could not compute its checksum "
				    "at %llu:%s", (unsigned long long)w->range,
				    (unsigned long long)w->index, b.oom ? "" : b.p);
		}
		rk_buf_free(&b);
	} else {
		n->check.incomplete++;
	}
	resp.status = 200;
	rk_json_init(&j, &resp.body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "range");
	rk_json_u64(&j, w->range);
	rk_json_key(&j, "index");
	rk_json_u64(&j, w->index);
	rk_json_key(&j, "agree");
	rk_json_bool(&j, all && same);
	rk_json_key(&j, "replicas");
	rk_json_arr_begin(&j);
	for (uint8_t i = 0; i < w->n_reps; i++) {
		rk_json_obj_begin(&j);
		rk_json_key(&j, "node_id");
		rk_json_u64(&j, w->reps[i].node_id);
		rk_json_key(&j, "replica_id");
		rk_json_u64(&j, w->reps[i].replica_id);
		rk_json_key(&j, "checksum");
		if (w->reps[i].reported && !w->reps[i].failed) {
			snprintf(hex, sizeof(hex), "%016" PRIx64, w->reps[i].sum);
			rk_json_str(&j, hex);
		} else {
			rk_json_null(&j);
		}
		rk_json_key(&j, "node_down");
		rk_json_bool(&j, rep_down(n, &w->reps[i]));
		rk_json_obj_end(&j);
	}
	rk_json_arr_end(&j);
	rk_json_obj_end(&j);
	rk_http_answer(w->later, &resp);
	rk_buf_free(&resp.body);
}

static void finish(struct rk_node *n, struct rk_check_wait *w, int status)
{
	struct rk_check_wait **pp;

	for (pp = &n->check.waits; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	answer(n, w, status);
	free(w);
}

void rk_check_on_report(void *arg, const struct rk_net_check *m)
{
	struct rk_node *n = arg;
	struct rk_check_wait *w;

	for (w = n->check.waits; w != NULL; w = w->next)
		if (w->check_id == m->check_id && w->range == m->range &&
		    w->index == m->index)
			break;
	if (w == NULL)
		return; /* answered already, or an old CHECK applied again */
	for (uint8_t i = 0; i < w->n_reps; i++) {
		if (w->reps[i].replica_id == m->replica_id && !w->reps[i].reported) {
			w->reps[i].reported = true;
			w->reps[i].failed = m->failed;
			w->reps[i].sum = m->checksum;
		}
	}
	if (!still_waits(n, w))
		finish(n, w, 200);
}

void rk_check_tick(struct rk_node *n)
{
	struct rk_check_wait *w = n->check.waits, *next;
	uint64_t now = uv_now(&n->loop);

	for (; w != NULL; w = next) {
		next = w->next;
		if (now >= w->deadline || !still_waits(n, w))
			finish(n, w, 200); /* those that did not report: null */
	}
}

static void propose(struct rk_node *n, struct rk_replica *r,
		    const struct rk_http_req *req, struct rk_http_resp *resp)
{
	struct rk_check_wait *w = calloc(1, sizeof(*w));
	struct rk_buf cmd, entry;
	uint64_t index = 0;
	int rc;

	if (w == NULL) {
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	w->check_id = ++n->check.next_id;
	rk_buf_init(&cmd);
	rk_buf_init(&entry);
	rk_kv_check_encode(&cmd, w->check_id, n->cfg.node_id);
	/* Stamp 0: the entry leaves the range's replicated clock as it is. */
	rk_kv_entry_begin(&entry, 0);
	rk_kv_entry_add(&entry, cmd.p, cmd.len);
	rk_kv_entry_finish(&entry, 1);
	rc = cmd.oom || entry.oom ? RK_ENOMEM
				  : rk_raft_propose(&r->raft, entry.p, (uint32_t)entry.len,
						    &index);
	rk_buf_free(&cmd);
	rk_buf_free(&entry);
	if (rc != 0) {
		free(w);
		if (rc == RK_ENOTLEADER)
			rk_admin_not_leader(resp, r);
		else
			rk_api_error(resp, 503, rk_strerror(rc));
		return;
	}
	w->range = r->range;
	w->index = index;
	for (uint8_t i = 0; i < r->desc.n_reps && i < RK_MAX_NODES; i++) {
		w->reps[i].node_id = r->desc.reps[i].node_id;
		w->reps[i].replica_id = r->desc.reps[i].replica_id;
		w->n_reps++;
	}
	rk_node_wake(n, r);
	rk_node_mark_dirty(n, r);
	n->check.proposed++;
	w->later = rk_http_defer(req);
	if (w->later == NULL) {
		free(w);
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	w->deadline = uv_now(&n->loop) + n->cfg.request_timeout_ms;
	w->next = n->check.waits;
	n->check.waits = w;
}

#ifdef RK_TEST_HOOKS
static void alter_done(void *arg, int rc)
{
	(void)arg;
	(void)rc;
}

/* Writes key=value into this node's kv table directly: no raft entry, no
 * apply state, so this replica's data differs from the others'. */
static void alter(struct rk_node *n, const struct rk_http_req *req,
		  struct rk_http_resp *resp)
{
	char key[256], value[256];
	struct rk_store_batch *b;
	struct rk_json j;

	if (!rk_http_query(req, "key", key, sizeof(key)) || key[0] == '\0' ||
	    !rk_http_query(req, "value", value, sizeof(value))) {
		rk_api_error(resp, 400, "want key=K&value=V");
		return;
	}
	b = rk_store_batch_new();
	if (b == NULL) {
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	rk_store_batch_put(b, key, strlen(key), value, strlen(value));
	rk_store_batch_no_sync(b);
	if (rk_store_submit(n->store, b, alter_done, NULL) != 0) {
		rk_api_error(resp, 503, "the store refused the write");
		return;
	}
	rk_log_warn(MOD, "test hook: key %s altered on this node behind raft's back", key);
	rk_json_init(&j, &resp->body);
	rk_json_obj_begin(&j);
	rk_json_key(&j, "altered");
	rk_json_bool(&j, true);
	rk_json_obj_end(&j);
}
#endif

bool rk_check_http(struct rk_node *n, const struct rk_http_req *req,
		   struct rk_http_resp *resp)
{
	const char *p = req->path + 15, *slash;
	struct rk_replica *r;

#ifdef RK_TEST_HOOKS
	if (n->hooks.enabled && strcmp(req->path, "/api/v1/debug/fault/alter") == 0) {
		if (strcmp(req->method, "POST") != 0)
			rk_api_error(resp, 405, "POST only");
		else
			alter(n, req, resp);
		return true;
	}
#endif
	if (strncmp(req->path, "/api/v1/ranges/", 15) != 0 ||
	    (slash = strchr(p, '/')) == NULL || strcmp(slash, "/check") != 0)
		return false;
	if (strcmp(req->method, "POST") != 0) {
		rk_api_error(resp, 405, "POST only");
		return true;
	}
	if ((r = rk_admin_led_range(n, p, (size_t)(slash - p), resp)) == NULL)
		return true;
	if (rk_range_reserved(r->range)) {
		/* Its state is not a span of the kv tables. */
		rk_api_error(resp, 404, "no such range on this node");
		return true;
	}
	propose(n, r, req, resp);
	return true;
}

void rk_check_metrics(struct rk_node *n, struct rk_buf *b)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} c[] = {
		{"rangekv_check_proposed_total", "Replica checks proposed by this node.",
		 offsetof(struct rk_check, proposed)},
		{"rangekv_check_agreed_total", "Replica checks where every replica agreed.",
		 offsetof(struct rk_check, agreed)},
		{"rangekv_check_mismatches_total",
		 "Replica checks where replicas reported different checksums.",
		 offsetof(struct rk_check, mismatches)},
		{"rangekv_check_incomplete_total",
		 "Replica checks answered without every replica's checksum.",
		 offsetof(struct rk_check, incomplete)},
		{"rangekv_check_hashed_total", "Checksums this node's replicas computed.",
		 offsetof(struct rk_check, hashed)},
		{"rangekv_check_failed_total",
		 "Checksums this node's replicas could not compute.",
		 offsetof(struct rk_check, failed)},
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		rk_prom_family(b, c[i].name, "counter", c[i].help);
		rk_prom_u64(b, c[i].name, NULL,
			    *(const uint64_t *)((const char *)&n->check + c[i].off));
	}
}

void rk_check_close(struct rk_node *n)
{
	while (n->check.waits != NULL)
		finish(n, n->check.waits, 503);
	while (n->check.captured != NULL) {
		struct rk_check_job *j = n->check.captured;
		n->check.captured = j->next;
		job_free(j);
	}
	while (n->check.running != NULL)
		uv_run(&n->loop, UV_RUN_ONCE);
}
