/*
 * Snapshots between nodes (log compaction, which makes them needed, is
 * compact.c's).
 *
 * Sending: when the raft core needs a snapshot for a lagging follower, the
 * storage op answers "temporarily unavailable" and a worker thread
 * generates one (rk_store_snap_generate: the apply state, its
 * configuration and term, and the span, read in one snapshot transaction
 * into a sealed file). The core asks again at its next attempt and gets
 * that file's meta. The SNAP message it then emits is held back: the file
 * is streamed as chunks on the snapshot connection within the transport's
 * queue bound, and the SNAP message follows the last chunk on the same
 * connection. The core is told the stream's outcome (report_snapshot).
 * The node's streams together send at most --snapshot-rate bytes a
 * second (a cluster setting; limit.h), the oldest stream first. While a
 * snapshot is made, streamed and installed, compaction keeps the leader's
 * log after its index (the snapshot hold, compact.c), so that the follower continues from
 * the log once it is installed instead of needing another.
 *
 * Receiving: chunks are appended to a staged file, sealed (fsync) by a
 * worker; the SNAP message is stepped into the core once its file is
 * sealed. The ready that installs it persists the install marker, the new
 * raft state and the emptied log in the group commit; then a worker runs
 * the install (rk_store_install_run) and only then does the replica
 * advance. A crash in between redoes the install at the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compact.h"
#include "crash.h"
#include "key.h"
#include "log.h"
#include "member.h"
#include "handoff.h"
#include "node_int.h"
#include "reads.h"
#include "snapshot.h"

#define MOD "snap"
#define CHUNK_BYTES (256u << 10)
#define STREAM_STALL_S 30.0
#define RK_SNAP_KEEP_MS 10000
#define RK_SNAP_IN_STALL_MS 30000

static void pump_timer(uv_timer_t *t);

/* A snapshot being received. */
struct snap_in {
	uint64_t index, expect;
	struct rk_store_snap_out *out;
	bool sealing, sealed;
	/* Stepped and taken by the core (its ready will install it): no other
	 * stream may replace the file until it is installed. */
	bool stepped;
	/* Its ready keeps the log (asked for, at an entry the log holds:
	 * rk_raft_request_snapshot): only the state machine is replaced. */
	bool keeps_log;
	uint64_t chunk_ms; /* loop ms of the last chunk */
	/* The node its chunks come from, and the replica's term when the
	 * first came: a leader's stream lives within its term
	 * (rk_snap_append_waits). */
	uint64_t from_node, term;
	char name[64];
	bool has_msg;
	struct rk_raft_msg msg;
	struct rk_raft_snapshot_meta meta;
	/* Local replicas of ranges merged into this one that the accepted
	 * snapshot covers (rk_merge_covered): removed in its install's batch. */
	uint64_t covered[RK_SNAP_MAX_COVERED];
	uint32_t n_covered;
	/* Once sealed and accepted, the descriptor it installs: until the
	 * install completes the replica's own is not it (an uninitialized
	 * replica has none), and snap_overlaps must still see the span the
	 * install is about to write. */
	struct rk_desc desc;
};

/* Frees a received snapshot's state (not its file). */
static void in_free(struct snap_in *in)
{
	if (in == NULL)
		return;
	rk_desc_free(&in->desc);
	free(in);
}

/* ---- generating ------------------------------------------------------------------- */

struct gen_work {
	uv_work_t req;
	struct rk_node *n;
	uint64_t range;
	uint8_t *start, *end;
	uint32_t slen, elen;
	char name[64];
	struct rk_store_snap_info info;
	/* Of the descriptor in the file; the range's when it was asked for
	 * if the file's cannot be read (never made again and again). */
	uint64_t generation;
	int rc;
};

/* The generation of the descriptor staged file name holds into *genp (left
 * as it is if the header cannot be read). */
static void file_generation(struct rk_store *s, const char *name, uint64_t *genp)
{
	struct rk_buf head;
	struct rk_desc d;
	uint64_t range, index;
	size_t used;

	rk_buf_init(&head);
	memset(&d, 0, sizeof(d));
	if (rk_store_snap_head(s, name, &range, &index, &head) == 0 &&
	    rk_desc_decode((const uint8_t *)head.p, head.len, &d, &used) == 0)
		*genp = d.generation;
	rk_desc_free(&d);
	rk_buf_free(&head);
}

/* r has a snapshot file now: rk_snap_sweep looks at it from now on. */
static void hold(struct rk_node *n, struct rk_replica *r)
{
	struct rk_snaps *sn = &n->snaps;

	if (r->snap_held || rk_grow((void **)&sn->held, &sn->cap_held, sn->n_held,
				    sizeof(*sn->held)) != 0)
		return; /* listed, or no room: kept until the replica leaves */
	sn->held[sn->n_held++] = r->range;
	r->snap_held = true;
}

/* The snapshot at index was made or streamed now: the log is held from
 * there (from the lowest such index while the hold lasts: a peer may
 * still be installing an earlier one). */
static void hold_from(struct rk_node *n, struct rk_snap_out *so, uint64_t index)
{
	uint64_t now = uv_now(&n->loop);

	if (so->hold_index == 0 || now - so->hold_ms >= RK_SNAP_HOLD_MS) {
		so->hold_index = so->hold_top = index;
	} else {
		if (index < so->hold_index)
			so->hold_index = index;
		if (index > so->hold_top)
			so->hold_top = index;
	}
	so->hold_ms = now;
}

static void gen_run(uv_work_t *req)
{
	struct gen_work *w = req->data;
	struct rk_store_reader *r;

	w->rc = rk_store_reader_open(w->n->store, &r);
	if (w->rc != 0)
		return;
	w->rc = rk_store_snap_generate(r, w->range, w->start, w->slen, w->end,
				       w->elen, w->name, sizeof(w->name), &w->info);
	rk_store_reader_close(r);
	if (w->rc == 0)
		file_generation(w->n->store, w->name, &w->generation);
}

static void gen_done(uv_work_t *req, int status)
{
	struct gen_work *w = req->data;
	struct rk_replica *r = rk_table_get(&w->n->tab, w->range);

	if (r != NULL)
		r->snap_generating = false;
	if (status == 0 && w->rc == 0 && r != NULL && r->snap == NULL &&
	    (r->snap = calloc(1, sizeof(*r->snap))) == NULL) {
		/* Nowhere to keep it: gone, made again when asked. */
		rk_store_snap_remove(w->n->store, w->name);
		w->rc = RK_ENOMEM;
	}
	if (status == 0 && w->rc == 0 && r != NULL) {
		if (r->snap->name[0] != '\0' && r->snap_refs == 0)
			rk_store_snap_remove(w->n->store, r->snap->name);
		snprintf(r->snap->name, sizeof(r->snap->name), "%s", w->name);
		r->snap->info = w->info;
		r->snap->generation = w->generation;
		r->snap->used_ms = uv_now(&w->n->loop);
		r->snap_refs = 0;
		hold_from(w->n, r->snap, w->info.index);
		hold(w->n, r);
		w->n->stats.snaps_generated++;
		rk_node_mark_dirty(w->n, r);
	} else {
		if (w->rc == 0 && w->name[0] != '\0')
			rk_store_snap_remove(w->n->store, w->name);
		rk_log_warn(MOD, "range %llu: cannot make a snapshot: %s",
			    (unsigned long long)w->range, rk_strerror(w->rc));
	}
	free(w->start);
	free(w->end);
	free(w);
}

static bool conf_same(const struct rk_raft_conf_state *a,
		      const struct rk_raft_conf_state *b)
{
	if (a->n != b->n)
		return false;
	for (uint8_t i = 0; i < a->n; i++)
		if (a->ids[i] != b->ids[i] || a->flags[i] != b->flags[i])
			return false;
	return true;
}

/* The storage op behind the core's snapshot requests. */
int rk_snap_meta(struct rk_replica *r, struct rk_raft_snapshot_meta *metap)
{
	struct rk_node *n = r->node;
	struct gen_work *w;
	uint64_t least = metap->index; /* a follower asked for one this far */

	memset(metap, 0, sizeof(*metap));
	/* Made from the applied state: below what was asked for until the
	 * apply gets there (the core asks again). */
	if (r->applied < least)
		return RK_ESNAPTEMP;
	/* A snapshot is usable while the log still continues right after it,
	 * and while its configuration is the range's: a replica added since
	 * would refuse it (it is not in it), and be sent it again and again.
	 * And while its descriptor is of the range's generation: one made
	 * before a split holds the right half's span too, which a node that
	 * already holds the right half refuses (snap_overlaps) for as long
	 * as it is offered. */
	if (r->snap != NULL && r->snap->name[0] != '\0' &&
	    r->snap->info.index + 1 >= r->first && r->snap->info.index >= least &&
	    r->snap->generation == r->desc.generation &&
	    conf_same(&r->snap->info.conf, &r->rs.conf)) {
		metap->index = r->snap->info.index;
		metap->term = r->snap->info.term;
		metap->conf = r->snap->info.conf;
		return 0;
	}
	if (r->snap_generating)
		return RK_ESNAPTEMP;
	/* Kept from now on: its gen_from holds the log while it is made
	 * (compact.c). */
	if (r->snap == NULL) {
		if ((r->snap = calloc(1, sizeof(*r->snap))) == NULL)
			return RK_ESNAPTEMP;
		r->snap->used_ms = uv_now(&n->loop);
		hold(n, r);
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return RK_ESNAPTEMP;
	w->n = n;
	w->range = r->range;
	w->generation = r->desc.generation;
	w->start = malloc(r->desc.slen + 1);
	w->end = malloc(r->desc.elen + 1);
	if (w->start == NULL || w->end == NULL) {
		free(w->start);
		free(w->end);
		free(w);
		return RK_ESNAPTEMP;
	}
	memcpy(w->start, r->desc.start, r->desc.slen);
	memcpy(w->end, r->desc.end, r->desc.elen);
	w->slen = r->desc.slen;
	w->elen = r->desc.elen;
	w->req.data = w;
	if (uv_queue_work(&n->loop, &w->req, gen_run, gen_done) != 0) {
		free(w->start);
		free(w->end);
		free(w);
		return RK_ESNAPTEMP;
	}
	r->snap_generating = true;
	r->snap->gen_from = r->applied;
	return RK_ESNAPTEMP;
}

/* ---- streaming out ------------------------------------------------------------------ */

struct snap_stream {
	uint64_t range, to, index, offset, size;
	uint64_t node; /* the node replica `to` lives on */
	FILE *f;
	struct rk_raft_msg msg;
	struct rk_raft_snapshot_meta meta;
	double last_progress;
	struct snap_stream *next;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void stream_end(struct rk_node *n, struct snap_stream *s, bool failed)
{
	struct rk_replica *r = rk_table_get(&n->tab, s->range);

	if (s->f != NULL)
		fclose(s->f);
	if (r != NULL) {
		if (r->snap_refs > 0)
			r->snap_refs--;
		if (r->snap != NULL)
			r->snap->hold_ms = uv_now(&n->loop); /* the follower installs it now */
		rk_raft_report_snapshot(&r->raft, s->to, failed);
		rk_node_mark_dirty(n, r);
	}
	n->snaps.ended[n->snaps.n_ended++ % RK_SNAP_SENT_KEPT] =
		(struct rk_snap_sent){s->range, s->node, s->offset, s->size, failed};
	if (failed)
		rk_log_warn(MOD, "range %llu: snapshot at %llu to replica %llu on node %llu failed",
			    (unsigned long long)s->range, (unsigned long long)s->index,
			    (unsigned long long)s->to, (unsigned long long)s->node);
	else {
		n->stats.snaps_sent++;
		rk_log_info(MOD, "range %llu: snapshot at %llu sent to replica %llu on node %llu (%llu bytes)",
			    (unsigned long long)s->range, (unsigned long long)s->index,
			    (unsigned long long)s->to, (unsigned long long)s->node,
			    (unsigned long long)s->offset);
	}
	free(s);
}

/* Intercepts a SNAP message of r's ready: it leaves after its data. */
void rk_snap_send(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_msg *m)
{
	struct snap_stream *s = calloc(1, sizeof(*s));
	char path[4200];
	uint64_t node = rk_replica_node(r, m->to);

	if (s == NULL || m->snapshot == NULL || node == 0 ||
	    r->snap == NULL || m->snapshot->index != r->snap->info.index ||
	    r->snap->name[0] == '\0' ||
	    rk_store_snap_path(n->store, r->snap->name, path, sizeof(path)) != 0 ||
	    (s->f = fopen(path, "rb")) == NULL) {
		free(s);
		rk_raft_report_snapshot(&r->raft, m->to, true);
		return;
	}
	s->range = r->range;
	s->to = m->to;
	s->node = node;
	s->index = m->snapshot->index;
	s->size = r->snap->info.bytes;
	s->msg = *m;
	s->meta = *m->snapshot;
	s->msg.snapshot = &s->meta;
	s->msg.entries = NULL;
	s->msg.n_entries = 0;
	s->last_progress = now_s();
	r->snap_refs++;
	r->snap->used_ms = uv_now(&n->loop);
	hold_from(n, r->snap, s->index);
	s->next = n->snaps.streams;
	n->snaps.streams = s;
	if (!uv_is_active((uv_handle_t *)&n->snaps.pump_timer))
		uv_timer_start(&n->snaps.pump_timer, pump_timer, 5, 5);
}

/* Moves every stream forward as far as the queues and --snapshot-rate
 * allow. */
void rk_snap_pump(struct rk_node *n)
{
	struct snap_stream **pp = &n->snaps.streams, *s;
	static uint8_t chunk[CHUNK_BYTES];
	uint64_t rate = n->cfg.settings.v[RK_SET_SNAPSHOT_RATE];
	/* A tenth of a second's worth, at least a chunk, after an idle time. */
	uint64_t burst = rate / 10 > CHUNK_BYTES ? rate / 10 : CHUNK_BYTES;
	struct rk_buf b;

	rk_buf_init(&b);
	while ((s = *pp) != NULL) {
		struct rk_replica *r = rk_table_get(&n->tab, s->range);
		/* A replica that no longer leads in the stream's term stops
		 * sending: the new leader sends its own, and the follower,
		 * which keeps one stream a range, would take the chunks of
		 * both as a gap and drop each (a transfer of leadership in a
		 * move made the learner wait for a third stream). */
		bool done = r == NULL || !rk_raft_is_leader(&r->raft) || r->raft.term != s->msg.term;
		bool failed = done;

		while (!done && rk_net_room(n->net, s->node, RK_NET_CH_SNAP) > CHUNK_BYTES + 4096) {
			if (!rk_limit_ready(&n->snaps.rate, uv_hrtime(), rate, burst)) {
				/* Held by the limit, not stalled by the peer. */
				s->last_progress = now_s();
				n->snaps.rate_waits++;
				break;
			}
			size_t got = fread(chunk, 1, sizeof(chunk), s->f);
			struct rk_net_chunk c = {s->range, s->index, s->offset, chunk, got,
						 s->offset + got >= s->size || got < sizeof(chunk)};
			rk_buf_reset(&b);
			if (ferror(s->f) || rk_net_batch_add_chunk(&b, &c) != 0) {
				failed = done = true;
				break;
			}
			if (c.last && rk_net_batch_add_raft(&b, s->range, &s->msg) != 0) {
				failed = done = true;
				break;
			}
			if (rk_net_send(n->net, s->node, RK_NET_CH_SNAP, b.p, b.len) != 0) {
				failed = done = true;
				break;
			}
			s->offset += got;
			n->snaps.sent_bytes += got;
			rk_limit_spend(&n->snaps.rate, got);
			s->last_progress = now_s();
			if (c.last) {
				done = true;
				break;
			}
		}
		if (!done && now_s() - s->last_progress > STREAM_STALL_S)
			failed = done = true;
		if (done) {
			*pp = s->next;
			stream_end(n, s, failed);
		} else {
			pp = &s->next;
		}
	}
	rk_buf_free(&b);
	if (n->snaps.streams == NULL)
		uv_timer_stop(&n->snaps.pump_timer);
}

static void pump_timer(uv_timer_t *t)
{
	rk_snap_pump(t->data);
}

/* Closes what is open at shutdown (files; staged files stay for the orphan
 * sweep of the next start). */
static void send_json(struct rk_buf *out, bool *firstp, uint64_t node, uint64_t sent,
		      uint64_t size, const char *state)
{
	char one[160];
	int k = snprintf(one, sizeof(one),
			 "%s{\"node_id\":%llu,\"sent\":%llu,\"size\":%llu,\"state\":\"%s\"}",
			 *firstp ? "" : ",", (unsigned long long)node, (unsigned long long)sent,
			 (unsigned long long)size, state);

	*firstp = false;
	rk_buf_append(out, one, (size_t)k);
}

void rk_snap_sends_json(struct rk_node *n, uint64_t range, struct rk_buf *out)
{
	uint32_t kept = n->snaps.n_ended < RK_SNAP_SENT_KEPT ? n->snaps.n_ended : RK_SNAP_SENT_KEPT;
	bool first = true;
	char head[96];
	int k = snprintf(head, sizeof(head), "{\"range\":%llu,\"node_id\":%llu,\"sends\":[",
			 (unsigned long long)range, (unsigned long long)n->cfg.node_id);

	rk_buf_append(out, head, (size_t)k);
	for (const struct snap_stream *s = n->snaps.streams; s != NULL; s = s->next)
		if (s->range == range)
			send_json(out, &first, s->node, s->offset, s->size, "sending");
	for (uint32_t i = 1; i <= kept; i++) {
		const struct rk_snap_sent *e =
			&n->snaps.ended[(n->snaps.n_ended - i) % RK_SNAP_SENT_KEPT];
		if (e->range == range)
			send_json(out, &first, e->node, e->sent, e->size,
				  e->failed ? "failed" : "sent");
	}
	rk_buf_append(out, "]}", 2);
}

void rk_snap_shutdown(struct rk_node *n)
{
	struct snap_stream *s, *next;

	for (s = n->snaps.streams; s != NULL; s = next) {
		next = s->next;
		fclose(s->f);
		free(s);
	}
	n->snaps.streams = NULL;
	free(n->snaps.held);
	n->snaps.held = NULL;
	n->snaps.n_held = n->snaps.cap_held = 0;
	for (size_t i = 0; i < n->tab.n; i++) {
		struct rk_replica *r = n->tab.byid[i];
		if (r->incoming != NULL && r->incoming->out != NULL)
			rk_store_snap_abort(r->incoming->out);
		in_free(r->incoming);
		r->incoming = NULL;
	}
}

/* ---- receiving ----------------------------------------------------------------------- */

static void in_drop(struct rk_node *n, struct rk_replica *r);

bool rk_snap_busy(const struct rk_replica *r)
{
	return r->installing || r->snap_generating ||
	       (r->incoming != NULL && r->incoming->sealing);
}

bool rk_snap_append_waits(const struct rk_replica *r, uint64_t from,
			  const struct rk_raft_msg *m)
{
	const struct snap_in *in = r->incoming;

	if (m->type != RK_RAFT_MSG_APP || in == NULL || in->index < m->index ||
	    from != in->from_node || m->term != in->term)
		return false;
	return m->index > rk_raft_last_index(&r->raft);
}

void rk_snap_forget(struct rk_node *n, struct rk_replica *r)
{
	in_drop(n, r); /* one being sealed is dropped by seal_done */
	if (r->snap != NULL && r->snap->name[0] != '\0' && r->snap_refs == 0)
		rk_store_snap_remove(n->store, r->snap->name);
	free(r->snap);
	r->snap = NULL;
}

static void in_drop(struct rk_node *n, struct rk_replica *r)
{
	struct snap_in *in = r->incoming;

	if (in == NULL || in->sealing)
		return; /* a sealing file is dropped when the seal returns */
	if (in->out != NULL)
		rk_store_snap_abort(in->out);
	if (in->sealed && !r->installing)
		rk_store_snap_remove(n->store, in->name);
	in_free(in);
	r->incoming = NULL;
}

void rk_snap_sweep(struct rk_node *n)
{
	struct rk_snaps *sn = &n->snaps;
	uint64_t now = uv_now(&n->loop);
	size_t k = 0;

	for (size_t i = 0; i < sn->n_held; i++) {
		struct rk_replica *r = rk_table_get(&n->tab, sn->held[i]);
		struct snap_in *in;

		if (r == NULL)
			continue;
		if (r->snap != NULL && r->snap_refs == 0 && !r->snap_generating &&
		    now - r->snap->used_ms >= RK_SNAP_KEEP_MS) {
			if (r->snap->name[0] != '\0')
				rk_store_snap_remove(n->store, r->snap->name);
			r->snap->name[0] = '\0';
			/* Its hold may outlast the file (a follower installing). */
			if (r->snap->hold_index == 0 || now - r->snap->hold_ms >= RK_SNAP_HOLD_MS) {
				free(r->snap);
				r->snap = NULL;
			}
		}
		/* Sealed and waiting for its message counts as stalled too;
		 * one stepped into the core, or installing, is the core's. */
		in = r->incoming;
		if (in != NULL && !in->sealing && !in->stepped && !r->installing &&
		    now - in->chunk_ms >= RK_SNAP_IN_STALL_MS) {
			rk_log_info(MOD, "range %llu: the snapshot at %llu being received got no "
				    "chunk for %d s: dropped", (unsigned long long)r->range,
				    (unsigned long long)in->index, RK_SNAP_IN_STALL_MS / 1000);
			in_drop(n, r);
		}
		if (r->snap == NULL && r->incoming == NULL)
			r->snap_held = false;
		else
			sn->held[k++] = sn->held[i];
	}
	sn->n_held = k;
}

static void step_held(struct rk_node *n, struct rk_replica *r)
{
	struct snap_in *in = r->incoming;
	uint64_t before;

	if (in == NULL || !in->sealed || !in->has_msg)
		return;
	in->has_msg = false;
	in->msg.snapshot = &in->meta;
	rk_log_info(MOD, "range %llu: stepping snapshot at %llu (term %llu, commit %llu)",
		    (unsigned long long)r->range, (unsigned long long)in->index,
		    (unsigned long long)in->msg.term, (unsigned long long)rk_raft_commit(&r->raft));
	before = rk_raft_snapshot_pending(&r->raft);
	if (rk_raft_step(&r->raft, &in->msg) == 0)
		rk_node_mark_dirty(n, r);
	/* Taken (pending in the core, to be handed out; a refused one is
	 * not): its ready installs this file. */
	in->stepped = before != in->index && rk_raft_snapshot_pending(&r->raft) == in->index;
}

struct seal_work {
	uv_work_t req;
	struct rk_node *n;
	uint64_t range;
	struct rk_store_snap_out *out;
	char name[64];
	int rc;
	/* From the sealed file's header: its range and apply-state blob. */
	uint64_t head_range, head_index;
	struct rk_buf head;
};

static void seal_run(uv_work_t *req)
{
	struct seal_work *w = req->data;

#ifdef RK_TEST_HOOKS
	if (w->n->hooks.seal_delay_ms > 0)
		nanosleep(&(struct timespec){(time_t)(w->n->hooks.seal_delay_ms / 1000),
					     (long)(w->n->hooks.seal_delay_ms % 1000) * 1000000L},
			  NULL);
#endif
	w->rc = rk_store_snap_recv_seal(w->out, w->name, sizeof(w->name));
	if (w->rc == 0)
		w->rc = rk_store_snap_head(w->n->store, w->name, &w->head_range,
					   &w->head_index, &w->head);
}

/* Another range this node holds, with data, whose span meets the
 * snapshot's (arg: the snapshot's range). */
struct overlap_arg {
	const struct rk_replica *self;
	const struct rk_desc *snap;
};

static bool held_elsewhere(void *arg, const struct rk_rcache_entry *e)
{
	const struct overlap_arg *x = arg;
	const struct rk_replica *r;

	if (e->range == x->self->range)
		return false;
	r = rk_table_get(&x->self->node->tab, e->range);
	return r != NULL && r->desc.n_reps > 0 && !r->removing && !rk_merge_covered(r, x->snap);
}

/* Whether a's span meets b's (an empty end: unbounded). */
static bool spans_meet(const struct rk_desc *a, const struct rk_desc *b)
{
	return rk_key_spans_meet(a->start, a->slen, a->end, a->elen, b->start, b->slen,
				 b->end, b->elen);
}

static bool snap_overlaps(void *arg, const struct rk_desc *snap)
{
	const struct rk_replica *r = arg;
	const struct rk_table *t = &r->node->tab;
	size_t un = rk_table_user_n(t);
	struct overlap_arg x = {r, snap};

	if (rk_rcache_any_overlap(&r->node->rcache, snap, held_elsewhere, &x))
		return true;
	/* The range cache may already hold a neighbour's newer descriptor
	 * (from the placement index, a redirect) than its replica here has
	 * applied: the left half of a split not yet applied here (a node
	 * catching up after a restart) still owns the right's span and
	 * writes in it, and the install would conflict with those writes or
	 * be overwritten by them. The replicas' own descriptors decide: the
	 * snapshot waits (the leader sends it again) until the split is
	 * applied here, which then takes this replica in place (split.c).
	 * A snapshot accepted for another replica and not yet installed
	 * counts with its own descriptor: the two installs, or the one and
	 * the other range's applies once it is installed, would write the
	 * same keys at once (a write conflict that failed the group commit,
	 * and a span holding two ranges' data). Whichever is sealed second
	 * waits. O(replicas), once per snapshot received. */
	for (size_t i = 0; i < un; i++) {
		const struct rk_replica *o = t->byid[i];

		if (o == r || o->removing)
			continue;
		/* A local replica merged into the snapshot's range goes with
		 * its install (note_covered). */
		if (o->desc.n_reps > 0 && spans_meet(&o->desc, snap) && !rk_merge_covered(o, snap))
			return true;
		if (o->incoming != NULL && o->incoming->sealed &&
		    o->incoming->desc.n_reps > 0 && spans_meet(&o->incoming->desc, snap))
			return true;
	}
	return false;
}

/* The local replicas the accepted snapshot snap covers (merged into its
 * range: removed with its install), into in. */
static void note_covered(struct rk_replica *r, struct snap_in *in, const struct rk_desc *snap)
{
	const struct rk_table *t = &r->node->tab;
	size_t un = rk_table_user_n(t);

	in->n_covered = 0;
	for (size_t i = 0; i < un && in->n_covered < RK_SNAP_MAX_COVERED; i++) {
		const struct rk_replica *o = t->byid[i];

		if (o != r && o->desc.n_reps > 0 && !o->removing && rk_merge_covered(o, snap))
			in->covered[in->n_covered++] = o->range;
	}
}

/* Whether the staged snapshot may be installed over r (member.h); the
 * reason is logged when not. Its descriptor goes to *dp (freed there when
 * not acceptable). */
static bool snap_acceptable(struct rk_replica *r, const struct seal_work *w,
			    struct rk_desc *dp)
{
	struct rk_desc d;
	const char *why;
	size_t used;

	memset(&d, 0, sizeof(d));
	if (w->head_range != r->range ||
	    rk_desc_decode((const uint8_t *)w->head.p, w->head.len, &d, &used) != 0)
		why = "its header is not of this range";
	else if (r->range != RK_RANGE_PLACEMENT && rk_handoff_meets(r->node, &d)) {
		/* A replay after a crash would write over its install
		 * (handoff.h): taken once a checkpoint has the split. */
		why = "a local range split its span off after the last checkpoint; "
		      "waiting for the next";
		rk_store_checkpoint_async(r->node->store);
	} else
		why = rk_member_snap_refused(r->range, &d, &r->desc, snap_overlaps, r);
	if (why == NULL && r->incoming != NULL)
		note_covered(r, r->incoming, &d);
	if (why != NULL)
		rk_log_warn(MOD, "range %llu: snapshot at %llu refused: %s",
			    (unsigned long long)r->range, (unsigned long long)w->head_index,
			    why);
	if (why != NULL)
		rk_desc_free(&d);
	*dp = d;
	return why == NULL;
}

static void seal_done(uv_work_t *req, int status)
{
	struct seal_work *w = req->data;
	struct rk_replica *r = rk_table_get(&w->n->tab, w->range);
	struct snap_in *in = r != NULL ? r->incoming : NULL;
	struct rk_desc d;

	(void)status;
	memset(&d, 0, sizeof(d));
	if (in == NULL || w->rc != 0 || !snap_acceptable(r, w, &d)) {
		if (w->name[0] != '\0')
			rk_store_snap_remove(w->n->store, w->name);
		if (in != NULL) {
			in->sealing = false;
			in_drop(w->n, r);
		}
		rk_buf_free(&w->head);
		free(w);
		return;
	}
	rk_buf_free(&w->head);
	in->sealing = false;
	in->sealed = true;
	rk_desc_free(&in->desc);
	in->desc = d;
	snprintf(in->name, sizeof(in->name), "%s", w->name);
	w->n->stats.snaps_received++;
	rk_log_info(MOD, "range %llu: snapshot at %llu received", (unsigned long long)r->range,
		    (unsigned long long)in->index);
	rk_crash_point(w->n, "snap.received");
	step_held(w->n, r);
	free(w);
}

int rk_snap_on_chunk(struct rk_node *n, const struct rk_net_chunk *c)
{
	struct rk_replica *r = rk_table_get(&n->tab, c->range);
	struct snap_in *in;

	if (r == NULL)
		return 0; /* ranges this node does not host yet: not supported */
	if (r->installing || (r->incoming != NULL &&
				(r->incoming->sealing || r->incoming->stepped)))
		return 0; /* busy: the leader will retry */
	if (c->offset == 0) {
		in_drop(n, r);
		in = calloc(1, sizeof(*in));
		if (in == NULL)
			return 0;
		if (rk_store_snap_recv_create(n->store, c->range, c->index, &in->out) != 0) {
			free(in);
			return 0;
		}
		in->index = c->index;
		in->from_node = n->cur_from;
		in->term = rk_raft_term(&r->raft);
		r->incoming = in;
		hold(n, r);
	}
	in = r->incoming;
	if (in == NULL || in->sealed || in->index != c->index || in->expect != c->offset) {
		in_drop(n, r); /* a gap: a frame was lost; wait for a new stream */
		return 0;
	}
	if (rk_store_snap_recv_write(in->out, c->data, c->len) != 0) {
		in_drop(n, r);
		return 0;
	}
	in->expect += c->len;
	in->chunk_ms = uv_now(&n->loop);
	if (c->last) {
		struct seal_work *w = calloc(1, sizeof(*w));
		if (w == NULL) {
			in_drop(n, r);
			return 0;
		}
		w->n = n;
		w->range = r->range;
		w->out = in->out;
		in->out = NULL;
		in->sealing = true;
		w->req.data = w;
		if (uv_queue_work(&n->loop, &w->req, seal_run, seal_done) != 0) {
			rk_store_snap_abort(w->out);
			in->sealing = false;
			free(w);
			in_drop(n, r);
		}
	}
	return 0;
}

/* A SNAP message on the snapshot connection: stepped once its file is in. */
int rk_snap_on_msg(struct rk_node *n, uint64_t range, const struct rk_raft_msg *m)
{
	struct rk_replica *r = rk_table_get(&n->tab, range);
	struct snap_in *in = r != NULL ? r->incoming : NULL;

	if (in == NULL || m->type != RK_RAFT_MSG_SNAP || m->snapshot == NULL ||
	    m->snapshot->index != in->index)
		return 0;
	in->msg = *m;
	in->meta = *m->snapshot;
	in->msg.entries = NULL;
	in->msg.n_entries = 0;
	in->has_msg = true;
	step_held(n, r);
	return 0;
}

/* The ready of r installs a snapshot: the staged file's marker, the new raft
 * state and the emptied log go into the group batch b. False if the file is
 * not here (the ready's snapshot came from elsewhere: cannot happen, since
 * SNAP messages are only stepped with their file). */
bool rk_snap_take(struct rk_node *n, struct rk_replica *r, const struct rk_raft_ready *rd,
		  struct rk_store_batch *b)
{
	const struct rk_raft_snapshot_meta *snap = rd->snapshot;
	struct snap_in *in = r->incoming;

	if (in == NULL || !in->sealed || in->index != snap->index)
		return false;
	in->keeps_log = rd->snapshot_keeps_log;
	if (!in->keeps_log)
		rk_store_batch_truncate(b, r->range, 0);
	for (uint32_t i = 0; i < in->n_covered; i++)
		rk_merge_drop_covered(n, r, in->covered[i], b);
	in->n_covered = 0;
	rk_store_batch_install(b, r->range, snap->index, in->name);
	if (!in->keeps_log) {
		r->rs.trunc_index = snap->index;
		r->rs.trunc_term = snap->term;
	}
	r->rs.conf = snap->conf;
	r->installing = true;
	rk_reads_void(n); /* reads in flight must not see the span replaced */
	return true;
}

struct install_work {
	uv_work_t req;
	struct rk_node *n;
	struct rk_replica *r;
	int rc;
};

static void install_run(uv_work_t *req)
{
	struct install_work *w = req->data;
	struct rk_store_reader *rd;

	w->rc = rk_store_reader_open(w->n->store, &rd);
	if (w->rc != 0)
		return;
	w->rc = rk_store_install_run(rd, w->r->range);
	rk_store_reader_close(rd);
}

static void install_done(uv_work_t *req, int status)
{
	struct install_work *w = req->data;
	struct rk_node *n = w->n;
	struct rk_replica *r = w->r;
	struct rk_store_apply_state as;

	(void)status;
	if (w->rc == RK_EAGAIN && n->stopping) {
		free(w); /* the marker stays: the next start redoes it */
		return;
	}
	if (w->rc == RK_EAGAIN) {
		/* Rolled back again and again for the store's whole bound (a
		 * write conflict, cache pressure: rk_store_install_run redoes
		 * it meanwhile): transient, so run again; the replica stays
		 * installing, serving nothing, until it completes. */
		rk_log_warn(MOD, "range %llu: installing its snapshot was rolled back (%s); "
			    "running it again", (unsigned long long)r->range, rk_strerror(w->rc));
		w->rc = 0;
		if (uv_queue_work(&n->loop, &w->req, install_run, install_done) == 0)
			return;
		w->rc = RK_ENOMEM;
	}
	if (w->rc != 0) {
		/* The marker stays; the next start redoes the install. Serving
		 * this range meanwhile would be wrong. */
		rk_log_error(MOD, "range %llu: installing its snapshot failed: %s; stopping",
			     (unsigned long long)r->range, rk_strerror(w->rc));
		rk_node_fail(n);
		free(w);
		return;
	}
	rk_crash_point(n, "snap.installed");
	if (rk_store_read_apply_state(n->reader, r->range, &as) == 0) {
		rk_replica_state_decode(r, as.desc, as.desc_len);
		r->applied = as.applied;
		if (r->desc.n_reps > 0 && rk_rcache_put(&n->rcache, &r->desc) != 0)
			rk_log_warn(MOD, "range %llu: out of memory updating the range cache",
				    (unsigned long long)r->range);
	}
	if (r->incoming == NULL || !r->incoming->keeps_log) {
		r->first = r->rs.trunc_index + 1;
		if (r->last < r->rs.trunc_index || r->rd.n_entries == 0)
			r->last = r->rs.trunc_index;
		rk_replica_terms_reset(r);
		rk_compact_log_reset(n, r, r->rs.trunc_index); /* the log was emptied */
	}
	r->installing = false;
	rk_size_unknown(n, r); /* a new span's data: measured again */
	in_free(r->incoming);
	r->incoming = NULL;
	n->stats.snaps_installed++;
	rk_log_info(MOD, "range %llu: snapshot at %llu installed", (unsigned long long)r->range,
		    (unsigned long long)r->applied);
	rk_node_replica_persisted(n, r);
	free(w);
}

/* After the group commit that made r's install durable. */
void rk_snap_install(struct rk_node *n, struct rk_replica *r)
{
	struct install_work *w;

	rk_crash_point(n, "snap.install_durable");
	w = calloc(1, sizeof(*w));

	if (w == NULL) {
		rk_log_error(MOD, "range %llu: out of memory installing a snapshot; stopping",
			     (unsigned long long)r->range);
		rk_node_fail(n);
		return;
	}
	w->n = n;
	w->r = r;
	w->req.data = w;
	if (uv_queue_work(&n->loop, &w->req, install_run, install_done) != 0) {
		w->rc = RK_ENOMEM;
		install_done(&w->req, 0);
	}
}

/* ---- compaction ------------------------------------------------------------------------ */
