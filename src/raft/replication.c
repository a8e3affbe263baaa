/*
 * Log replication: the leader's appends, heartbeats, snapshots and commit
 * rule; the follower's handling of them.
 */
#include <string.h>

#include "raft_int.h"

/* ---- leader ------------------------------------------------------------------- */

int raft_append_local(struct rk_raft *r, uint32_t type, const void *data,
		      uint32_t len, uint64_t *indexp)
{
	struct rk_raft_entry e;
	int rc;

	e.term = r->term;
	e.index = raft_log_last_index(r) + 1;
	e.type = type;
	e.len = len;
	e.data = data;
	rc = raft_log_append(r, &e, 1);
	if (rc != 0)
		return rc;
	r->uncommitted_bytes += len;
	r->bcast_wanted = true;
	if (indexp != NULL)
		*indexp = e.index;
	return 0;
}

static bool send_snapshot(struct rk_raft *r, struct raft_progress *pr)
{
	struct rk_raft_snapshot_meta *meta;
	struct rk_raft_msg m;

	if (!pr->recent_active)
		return false; /* don't stream a snapshot into the void */
	meta = raft_arena_alloc(r, sizeof(*meta));
	if (meta == NULL)
		return false;
	memset(meta, 0, sizeof(*meta));
	meta->index = pr->snap_wanted; /* the least index it may have */
	if (r->opts->storage->snapshot(r->storage_ctx, meta) != 0)
		return false; /* not ready yet; retried on the next trigger */
	if (meta->index == 0 || meta->term == 0)
		return false;
	/* Below what the follower asked for it would be of no use there:
	 * wait for the applied state to get that far (the next trigger). */
	if (meta->index < pr->snap_wanted)
		return false;
	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_SNAP;
	m.to = pr->id;
	m.snapshot = meta;
	raft_progress_become_snapshot(r, pr, meta->index);
	pr->snap_wanted = 0;
	raft_send(r, &m);
	return true;
}

bool raft_send_append(struct rk_raft *r, uint64_t to, bool send_if_empty)
{
	struct raft_progress *pr = raft_progress_get(r, to);
	struct rk_raft_entry *ents = NULL;
	struct rk_raft_msg m;
	uint64_t prev_term, last, bytes = 0;
	size_t n = 0, i;
	int rc;

	if (pr == NULL || to == r->id)
		return false;
	/* Asked for (SNAP_REQ): a snapshot, whatever the log holds, unless
	 * one is on its way already; while none reaches what it asked for,
	 * entries as usual (its acknowledgements may be what a commit
	 * needs). */
	if (pr->snap_wanted != 0 && pr->state != RAFT_PR_SNAPSHOT && send_snapshot(r, pr))
		return true;
	if (raft_progress_is_paused(r, pr))
		return false;
	rc = raft_log_term(r, pr->next - 1, &prev_term);
	if (rc == RK_ECOMPACTED)
		return send_snapshot(r, pr);
	if (rc != 0)
		return false;
	last = raft_log_last_index(r);
	if (pr->next <= last) {
		rc = raft_log_slice(r, pr->next, last + 1, r->opts->max_msg_bytes,
				    &ents, &n);
		if (rc == RK_ECOMPACTED)
			return send_snapshot(r, pr);
		if (rc != 0)
			return false;
	}
	if (n == 0 && !send_if_empty)
		return false;
	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_APP;
	m.to = to;
	m.index = pr->next - 1;
	m.log_term = prev_term;
	m.entries = ents;
	m.n_entries = n;
	m.commit = r->committed;
	for (i = 0; i < n; i++)
		bytes += ents[i].len;
	if (n > 0 && pr->state == RAFT_PR_REPLICATE) {
		uint64_t last_sent = ents[n - 1].index;
		if (raft_inflights_add(r, pr, last_sent, bytes) != 0)
			return false;
		pr->next = last_sent + 1;
	} else if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = true;
	}
	raft_send(r, &m);
	return true;
}

void raft_bcast_append(struct rk_raft *r)
{
	int i;

	for (i = 0; i < r->conf.n; i++)
		if (r->conf.ids[i] != r->id)
			(void)raft_send_append(r, r->conf.ids[i], true);
}

void raft_bcast_heartbeat(struct rk_raft *r)
{
	struct rk_raft_tracker *t = r->tracker;
	struct raft_progress *self;
	int i;

	if (t == NULL)
		return;
	t->round++;
	/* Its start, not its sending or arrival: the lease counts from before
	 * any voter could have heard it. */
	t->round_at[t->round % RAFT_ROUND_RING] = raft_now(r);
	self = raft_progress_get(r, r->id);
	if (self != NULL)
		self->acked_round = t->round;
	for (i = 0; i < r->conf.n; i++) {
		struct rk_raft_msg m;

		if (r->conf.ids[i] == r->id)
			continue;
		memset(&m, 0, sizeof(m));
		m.type = RK_RAFT_MSG_HEARTBEAT;
		m.to = r->conf.ids[i];
		/* Never past what the follower holds: it must not commit an
		 * entry it may not have (or has a different one at). */
		m.commit = raft_min(t->pr[i].match, r->committed);
		m.context = t->round;
		raft_send(r, &m);
	}
	/* A lone voter confirms its own rounds. */
	raft_reads_release(r);
}

static uint64_t match_value(struct rk_raft *r, const struct raft_progress *pr)
{
	(void)r;
	return pr->match;
}

/*
 * The commit rule: an index is committed once a quorum (of both halves of a
 * joint configuration) holds it durably, and only if its entry is of the
 * current term; earlier entries are committed with it (Raft §5.4.2, the
 * situation of figure 8).
 */
bool raft_maybe_commit(struct rk_raft *r)
{
	uint64_t q;
	bool first_in_term;

	if (r->tracker == NULL)
		return false;
	q = raft_quorum_index(r, match_value);
	if (q <= r->committed)
		return false;
	if (!RK_BUG(COMMIT_PREV_TERM) && raft_log_term_or0(r, q) != r->term)
		return false;
	first_in_term = raft_log_term_or0(r, r->committed) != r->term;
	raft_log_commit_to(r, q);
	if (first_in_term && raft_log_term_or0(r, r->committed) == r->term)
		raft_reads_on_commit(r);
	return true;
}

void raft_abort_transfer(struct rk_raft *r)
{
	r->lead_transferee = RK_RAFT_NONE;
	r->transfer_elapsed = 0;
}

void raft_send_timeout_now(struct rk_raft *r, uint64_t to)
{
	struct rk_raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RK_RAFT_MSG_TIMEOUT_NOW;
	m.to = to;
	/* Voters will elect `to` even inside our lease: no lease read may be
	 * served for the rest of this term. */
	if (r->tracker != NULL)
		r->tracker->lease_off = true;
	raft_send(r, &m);
}

void raft_handle_append_resp(struct rk_raft *r, const struct rk_raft_msg *m)
{
	struct raft_progress *pr = raft_progress_get(r, m->from);
	bool was_paused;

	if (pr == NULL)
		return;
	pr->recent_active = true;
	pr->heard_at = raft_now(r);
	if (m->reject) {
		uint64_t next_probe = m->reject_hint;

		/* Fast backtracking: skip every entry of ours whose term is
		 * above the follower's term at the hint; they cannot match. */
		if (m->log_term > 0)
			next_probe = raft_log_find_conflict_by_term(
				r, m->reject_hint, m->log_term);
		if (raft_progress_maybe_decr_to(pr, m->index, next_probe)) {
			if (pr->state == RAFT_PR_REPLICATE)
				raft_progress_become_probe(r, pr);
			(void)raft_send_append(r, m->from, true);
		}
		return;
	}
	was_paused = raft_progress_is_paused(r, pr);
	if (!raft_progress_maybe_update(pr, m->index)) {
		/* A snapshot it asked for may be at the index it matched
		 * already (its log was complete; its state machine was not):
		 * its answer at that index ends the snapshot state all the
		 * same. */
		if (pr->state == RAFT_PR_SNAPSHOT && pr->pending_snapshot != 0 &&
		    m->index >= pr->pending_snapshot) {
			raft_progress_become_probe(r, pr);
			raft_progress_become_replicate(r, pr);
			(void)raft_send_append(r, m->from, false);
		}
		return;
	}
	switch (pr->state) {
	case RAFT_PR_PROBE:
		raft_progress_become_replicate(r, pr);
		break;
	case RAFT_PR_SNAPSHOT:
		if (pr->match + 1 >= raft_log_first_index(r) ||
		    pr->match >= pr->pending_snapshot) {
			raft_progress_become_probe(r, pr);
			raft_progress_become_replicate(r, pr);
		}
		break;
	default:
		raft_inflights_free_le(r, pr, m->index);
		break;
	}
	if (raft_maybe_commit(r) && !r->opts->lazy_commit)
		r->bcast_wanted = true;
	else if (was_paused)
		(void)raft_send_append(r, m->from, false);
	while (raft_send_append(r, m->from, false)) {
	}
	if (m->from == r->lead_transferee &&
	    pr->match == raft_log_last_index(r))
		raft_send_timeout_now(r, m->from);
}

void raft_handle_heartbeat_resp(struct rk_raft *r,
				const struct rk_raft_msg *m)
{
	struct raft_progress *pr = raft_progress_get(r, m->from);

	if (pr == NULL)
		return;
	pr->recent_active = true;
	pr->heard_at = raft_now(r);
	pr->probe_sent = false;
	if (pr->state == RAFT_PR_REPLICATE &&
	    pr->in_count >= r->opts->max_inflight_msgs && pr->in_count > 0)
		raft_inflights_free_le(r, pr,
				       pr->in_buf[pr->in_start].index);
	if (pr->match < raft_log_last_index(r) || pr->state == RAFT_PR_PROBE ||
	    pr->snap_wanted != 0)
		(void)raft_send_append(r, m->from, true);
	if (m->context > pr->acked_round &&
	    (r->tracker == NULL || m->context <= r->tracker->round)) {
		pr->acked_round = m->context;
		raft_reads_release(r);
	}
}

/* A follower asks for a snapshot (rk_raft_request_snapshot): its log may
 * hold every entry, but its state machine cannot apply them. */
void raft_handle_snap_req(struct rk_raft *r, const struct rk_raft_msg *m)
{
	struct raft_progress *pr = raft_progress_get(r, m->from);

	if (pr == NULL)
		return;
	pr->recent_active = true; /* it speaks: the snapshot goes somewhere */
	pr->heard_at = raft_now(r);
	pr->snap_wanted = raft_max(m->index, 1);
	(void)raft_send_append(r, m->from, true);
}

/* ---- follower ----------------------------------------------------------------- */

static void respond_append(struct rk_raft *r, uint64_t to, uint64_t index)
{
	struct rk_raft_msg resp;

	memset(&resp, 0, sizeof(resp));
	resp.type = RK_RAFT_MSG_APP_RESP;
	resp.to = to;
	resp.index = index;
	raft_send(r, &resp);
}

void raft_handle_append(struct rk_raft *r, const struct rk_raft_msg *m)
{
	struct rk_raft_msg resp;
	uint64_t last_new, ci, hint;

	if (m->index < r->committed) {
		respond_append(r, m->from, r->committed);
		return;
	}
	if (raft_log_match_term(r, m->index, m->log_term)) {
		last_new = m->index + m->n_entries;
		ci = raft_log_find_conflict(r, m->entries, m->n_entries);
		if (ci != 0) {
			/* A leader never asks to overwrite what we committed;
			 * a message that does is ignored, not obeyed. */
			if (ci <= r->committed)
				return;
			if (raft_log_append(r, m->entries + (ci - m->index - 1),
					    m->n_entries - (ci - m->index - 1)) != 0)
				return; /* no memory: the leader retries */
		}
		raft_log_commit_to(r, raft_min(m->commit, last_new));
		respond_append(r, m->from, last_new);
		return;
	}
	hint = raft_min(m->index, raft_log_last_index(r));
	hint = raft_log_find_conflict_by_term(r, hint, m->log_term);
	memset(&resp, 0, sizeof(resp));
	resp.type = RK_RAFT_MSG_APP_RESP;
	resp.to = m->from;
	resp.index = m->index;
	resp.reject = true;
	resp.reject_hint = hint;
	resp.log_term = raft_log_term_or0(r, hint);
	raft_send(r, &resp);
}

void raft_handle_heartbeat(struct rk_raft *r, const struct rk_raft_msg *m)
{
	struct rk_raft_msg resp;

	raft_log_commit_to(r, m->commit);
	memset(&resp, 0, sizeof(resp));
	resp.type = RK_RAFT_MSG_HEARTBEAT_RESP;
	resp.to = m->from;
	resp.context = m->context;
	raft_send(r, &resp);
}

/* A snapshot this replica asked for (rk_raft_request_snapshot) at an
 * entry its log holds: its state machine takes the snapshot and its log
 * stays as it is (entries it may have acknowledged are kept; those up to
 * the snapshot are committed, being the leader's applied state, and are
 * not applied here). True when taken. */
static bool restore_keeping_log(struct rk_raft *r, const struct rk_raft_snapshot_meta *s)
{
	const struct rk_raft_log *l = r->log;

	if (r->snap_requested == 0 || s->index <= r->applied ||
	    s->index > raft_log_last_index(r) || !raft_log_match_term(r, s->index, s->term) ||
	    !raft_is_member(&s->conf, r->id))
		return false;
	/* Never behind one taken and not yet handed out (two answers to two
	 * requests may cross), nor behind entries the batch the caller holds
	 * applies: the applied index only moves forward. */
	if (l != NULL && ((l->has_snap && l->snap.index >= s->index) ||
			  (l->has_sm_snap && l->sm_snap.index >= s->index) ||
			  (r->in_ready && l->handed_committed >= s->index)))
		return false;
	if (raft_log_ensure(r) != 0)
		return false;
	raft_log_commit_to(r, s->index);
	r->log->has_sm_snap = true;
	r->log->sm_snap = *s;
	/* Its configuration is taken at its advance, not now: the batch the
	 * caller holds may apply configuration changes older than it. */
	r->snap_requested = 0;
	return true;
}

/* Returns true when the snapshot replaces our log. */
static bool restore(struct rk_raft *r, const struct rk_raft_snapshot_meta *s)
{
	if (s->index <= r->committed)
		return false; /* older than what we have: ignore */
	if (!raft_is_member(&s->conf, r->id))
		return false; /* not for us (we were removed meanwhile) */
	if (raft_log_match_term(r, s->index, s->term)) {
		/* We hold the entry already: just learn it is committed. */
		raft_log_commit_to(r, s->index);
		return false;
	}
	if (raft_log_restore(r, s) != 0)
		return false;
	r->conf = s->conf;
	r->snap_requested = 0;
	return true;
}

void raft_handle_snapshot(struct rk_raft *r, const struct rk_raft_msg *m)
{
	if (restore_keeping_log(r, m->snapshot))
		respond_append(r, m->from, m->snapshot->index);
	else if (restore(r, m->snapshot))
		respond_append(r, m->from, raft_log_last_index(r));
	else
		respond_append(r, m->from, r->committed);
}
