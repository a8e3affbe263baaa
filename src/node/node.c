/*
 * The node runtime: every replica of this node on one event loop, one
 * store, one transport.
 *
 * A turn: timers tick the replicas, the transport delivers batches of
 * messages into them, and every replica touched is marked dirty. A uv_idle
 * handle (it keeps the loop from blocking while anything is dirty) then
 * processes the dirty set at the start of the next turn: each replica with a ready hands over
 * its messages that may leave at once (encoded into the batch for their
 * peer node), and its hard state, entries and apply state go into ONE store
 * batch for all of them (group commit); one frame per peer node is queued,
 * and the transport writes it just before the loop next waits. When the
 * store reports the batch durable (on its thread, which only queues the
 * completion and wakes the loop), each replica sends the messages that had
 * to wait for durability, advances, and is processed again if it has more.
 * A replica has at most one ready in flight; many replicas share each
 * flush.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "keyspace.h"
#include "log.h"
#include "node.h"
#include "node_int.h"

#define MOD "node"
#define PEER_FRAME_BYTES (1u << 20) /* a peer's Batch is sent once this big */
#define PROCESS_MAX 65536           /* replicas processed per loop turn */
#define TURN_NS (20u * 1000u * 1000u) /* and for at most this long (ns) */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the replica table ------------------------------------------------------------- */

static size_t slot_of(const struct rk_node *n, uint64_t range)
{
	return (size_t)((range * 0x9e3779b97f4a7c15ull) >> 7) & (n->table_cap - 1);
}

struct rk_replica *rk_node_replica(const struct rk_node *n, uint64_t range)
{
	if (n->table_cap == 0)
		return NULL;
	for (size_t i = slot_of(n, range);; i = (i + 1) & (n->table_cap - 1)) {
		struct rk_replica *r = n->table[i];
		if (r == NULL || r->range == range)
			return r;
	}
}

static int table_add(struct rk_node *n, struct rk_replica *r)
{
	if (2 * (n->n_replicas + 1) > n->table_cap) {
		size_t cap = n->table_cap ? 2 * n->table_cap : 1024;
		struct rk_replica **t = calloc(cap, sizeof(*t));
		struct rk_replica **old = n->table;
		size_t oldcap = n->table_cap;
		void *b = realloc(n->byid, cap * sizeof(*n->byid));
		if (t == NULL || b == NULL) {
			free(t);
			if (b != NULL)
				n->byid = b;
			return RK_ENOMEM;
		}
		n->byid = b;
		n->table = t;
		n->table_cap = cap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i] != NULL) {
				size_t j = slot_of(n, old[i]->range);
				while (t[j] != NULL)
					j = (j + 1) & (cap - 1);
				t[j] = old[i];
			}
		free(old);
	}
	size_t j = slot_of(n, r->range);
	while (n->table[j] != NULL)
		j = (j + 1) & (n->table_cap - 1);
	n->table[j] = r;
	n->byid[n->n_replicas++] = r; /* loaded in id order */
	return 0;
}


void rk_node_mark_dirty(struct rk_node *n, struct rk_replica *r)
{
	if (r->dirty)
		return;
	r->dirty = true;
	r->next_dirty = NULL;
	if (n->dirty_tail != NULL)
		n->dirty_tail->next_dirty = r;
	else
		n->dirty = r;
	n->dirty_tail = r;
	if (!uv_is_active((uv_handle_t *)&n->process))
		uv_idle_start(&n->process, rk_node_on_process);
}

/* Range r's preferred leader: the node at position (r - 1) mod n of the
 * initial cluster (leaders spread evenly); 0 if it is not known. */
static uint64_t preferred_node(const struct rk_node *n, const struct rk_replica *r)
{
	if (n->cfg.n_initial == 0)
		return 0;
	return n->cfg.initial[(r->range - 1) % n->cfg.n_initial].id;
}

/* ---- the awake list ------------------------------------------------------------------ */

static int awake_add(struct rk_node *n, struct rk_replica *r)
{
	if (rk_grow((void **)&n->awake, &n->cap_awake, n->n_awake, sizeof(*n->awake)) != 0)
		return RK_ENOMEM;
	r->awake_pos = (uint32_t)n->n_awake;
	n->awake[n->n_awake++] = r;
	return 0;
}

static void awake_remove(struct rk_node *n, struct rk_replica *r)
{
	struct rk_replica *last = n->awake[--n->n_awake];

	n->awake[r->awake_pos] = last;
	last->awake_pos = r->awake_pos;
}

void rk_node_visit_some(struct rk_node *n, size_t *cursor, size_t slice,
			void (*fn)(struct rk_node *, struct rk_replica *, void *),
			void *arg)
{
	size_t awake = n->n_awake; /* fn may wake more: they wait */

	for (size_t i = 0; i < awake && i < n->n_awake; i++)
		fn(n, n->awake[i], arg);
	for (size_t k = 0; cursor != NULL && k < slice && k < n->n_replicas; k++) {
		if (*cursor >= n->n_replicas)
			*cursor = 0;
		fn(n, n->byid[(*cursor)++], arg);
	}
}

/* Puts r to sleep: it is not ticked until something wakes it. A leader
 * away from its preferred node goes on the misplaced list, where
 * balance_leaders finds it. */
static void sleep_replica(struct rk_node *n, struct rk_replica *r)
{
	uint64_t pref = preferred_node(n, r);

	r->asleep = true;
	r->asleep_since = uv_now(&n->loop);
	awake_remove(n, r);
	n->quiesced++;
	if (rk_raft_is_leader(&r->raft) && pref != 0 && pref != n->cfg.node_id &&
	    !r->misplaced &&
	    rk_grow((void **)&n->misplaced, &n->cap_misplaced, n->n_misplaced,
		    sizeof(*n->misplaced)) == 0) {
		r->misplaced = true;
		n->misplaced[n->n_misplaced++] = r;
	}
}

/* ---- sending ------------------------------------------------------------------------- */

struct peer_out *rk_node_peer_out(struct rk_node *n, uint64_t node_id)
{
	for (uint32_t i = 0; i < n->n_peers; i++)
		if (n->peers[i].node_id == node_id)
			return &n->peers[i];
	return NULL;
}

static void flush_peer(struct rk_node *n, struct peer_out *p)
{
	if (p->beats.len > 0) {
		(void)rk_net_batch_add_beats(&p->batch, &p->beats);
		rk_buf_reset(&p->beats);
	}
	if (p->batch.len == 0)
		return;
	/* A full queue drops the frame (counted by the transport): raft
	 * resends what a follower does not acknowledge. */
	(void)rk_net_send(n->net, p->node_id, RK_NET_CH_RAFT, p->batch.p,
			  p->batch.len);
	rk_buf_reset(&p->batch);
}

static void flush_peers(struct rk_node *n)
{
	for (uint32_t i = 0; i < n->n_peers; i++)
		flush_peer(n, &n->peers[i]);
}

/* Replica ids of the initial ranges are the node ids (a replica added
 * later gets a fresh id; its node is then looked up in the descriptor). */
static void send_msgs(struct rk_node *n, struct rk_replica *r,
		      const struct rk_raft_msg *m, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct peer_out *p = rk_node_peer_out(n, m[i].to);
		if (p == NULL)
			continue;
		if (m[i].type == RK_RAFT_MSG_SNAP) {
			rk_snap_send(n, r, &m[i]); /* leaves after its data */
			continue;
		}
		/* Heartbeats and their answers: coalesced, one record each
		 * in the peer's run (src/transport/beats.c). */
		if (rk_net_beat_ok(&m[i])) {
			if (rk_net_beats_add(&p->beats, r->range, &m[i]) == 0) {
				n->msgs_sent++;
				n->beats_sent++;
			}
		} else if (rk_net_batch_add_raft(&p->batch, r->range, &m[i]) == 0) {
			n->msgs_sent++;
		}
		if (p->batch.len + p->beats.len >= PEER_FRAME_BYTES)
			flush_peer(n, p);
	}
}

/* ---- group commit ---------------------------------------------------------------------- */

static void commit_done(void *arg, int rc)
{
	struct commit *c = arg;
	struct rk_node *n = c->reps[0]->node;

	c->rc = rc;
	pthread_mutex_lock(&n->mu);
	c->next = n->done;
	n->done = c;
	pthread_mutex_unlock(&n->mu);
	uv_async_send(&n->wake);
}

static int commit_add(struct commit *c, struct rk_replica *r)
{
	if (rk_grow((void **)&c->reps, &c->cap, c->n, sizeof(*c->reps)) != 0)
		return RK_ENOMEM;
	c->reps[c->n++] = r;
	return 0;
}

/* Applies committed entries into the batch, with the apply state of the
 * last one. Returns true when a configuration change was applied (the raft
 * state, which records the configuration, must then be written too). */
static bool apply_committed(struct rk_node *n, struct rk_replica *r,
			    struct rk_store_batch *b)
{
	bool conf = false;
	const struct rk_raft_ready *rd = &r->rd;
	struct rk_store_apply_state as;

	rk_serve_apply_begin(n);
	for (size_t i = 0; i < rd->n_committed; i++) {
		const struct rk_raft_entry *e = &rd->committed[i];
		if (e->type == RK_RAFT_ENTRY_NORMAL) {
			int rc = rk_serve_apply(n, r, e, b);
			if (rc != 0) {
				/* Applying cannot be skipped or half done: stop,
				 * and the restart applies the log again. */
				rk_log_error(MOD, "range %llu: applying entry %llu failed: %s; stopping",
					     (unsigned long long)r->range,
					     (unsigned long long)e->index, rk_strerror(rc));
				n->exit_code = 1;
				uv_stop(&n->loop);
				return false;
			}
		} else if (e->type == RK_RAFT_ENTRY_CONF_CHANGE) {
			struct rk_raft_conf_change cc;
			struct rk_raft_conf_state cs;
			if (rk_raft_cc_decode(e->data, e->len, &cc) == 0 &&
			    rk_raft_apply_conf_change(&r->raft, &cc, &cs) == 0) {
				r->rs.conf = cs;
				conf = true;
			}
		}
		r->applied = e->index;
		n->applied_entries++;
	}
	rk_buf_reset(&n->blob);
	rk_replica_state_encode(r, &n->blob);
	as.applied = r->applied;
	as.desc = n->blob.p;
	as.desc_len = n->blob.len;
	rk_store_batch_apply_state(b, r->range, &as);
	return conf;
}

/* Takes r's ready into the group batch b. */
static void take_ready(struct rk_node *n, struct rk_replica *r,
		       struct rk_store_batch *b, bool *syncp)
{
	struct rk_raft_ready *rd = &r->rd;
	bool state;

	if (!r->have_ready)
		rk_raft_ready(&r->raft, rd);
	state = rd->snapshot != NULL;
	r->have_ready = false;
	/* Only new entries, a snapshot, or a new term or vote must be durable
	 * before the messages that follow; a moved commit index need not
	 * (after a crash it is learnt again from the leader). */
	*syncp |= rd->must_sync || rd->snapshot != NULL;
	send_msgs(n, r, rd->msgs, rd->n_msgs);
	if (rd->snapshot != NULL && !rk_snap_take(n, r, rd->snapshot, b))
		rk_log_error(MOD, "range %llu: a snapshot to install without its data",
			     (unsigned long long)r->range);
	if (rd->n_entries > 0) {
		if (rd->entries[0].index <= r->last)
			rk_store_batch_truncate(b, r->range, rd->entries[0].index);
		rk_store_batch_append(b, r->range, rd->entries, rd->n_entries);
	}
	/* The raft state row is written for a new term or vote, a snapshot or
	 * an applied configuration change, not for a moved commit index alone:
	 * a restart takes the commit as at least the applied index and learns
	 * the rest from the leader (the row carries whatever commit it last
	 * had). */
	if (rd->has_hard_state) {
		state |= rd->hs.term != r->rs.hs.term ||
			 rd->hs.vote != r->rs.hs.vote;
		r->rs.hs = rd->hs;
	}
	if (rd->n_committed > 0)
		state |= apply_committed(n, r, b);
	rk_serve_ready_reads(n, r, rd);
	if (state)
		rk_store_batch_raft_state(b, r->range, &r->rs);
	r->persisting = true;
}

/* A ready with nothing to persist (heartbeats and their responses, most
 * of an idle node's traffic) completes at once: its messages leave and it
 * advances, without a trip through the storage thread. Returns false, with
 * nothing taken, when the ready holds something to persist. */
static bool take_light_ready(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_ready *rd = &r->rd;

	if (r->have_ready)
		return false; /* taken last turn; the group commit failed to start */
	rk_raft_ready(&r->raft, rd);
	if (rd->n_entries > 0 || rd->has_hard_state || rd->snapshot != NULL ||
	    rd->n_committed > 0) {
		r->have_ready = true; /* take_ready continues with it */
		return false;
	}
	send_msgs(n, r, rd->msgs, rd->n_msgs);
	send_msgs(n, r, rd->msgs_after_persist, rd->n_msgs_after_persist);
	rk_serve_ready_reads(n, r, rd);
	rk_raft_advance(&r->raft, rd);
	rk_node_mark_dirty(n, r); /* the core may have more */
	return true;
}

static void run_campaigns(struct rk_node *n, bool tick);

void rk_node_on_process(uv_idle_t *h)
{
	struct rk_node *n = h->data;
	struct rk_store_batch *b = NULL;
	struct commit *c = NULL;
	struct rk_replica *r, *last;
	bool sync = false, done = false;
	size_t budget = PROCESS_MAX;
	uint64_t t0 = uv_hrtime();

	uv_idle_stop(h);
	if (n->stopping)
		return;
	/* This node's own client requests, queued by its router. */
	while (n->inbox != NULL) {
		struct local_req *lr = n->inbox;
		n->inbox = lr->next;
		rk_serve_request(n, n->cfg.node_id, &lr->req);
		free(lr);
	}
	n->inbox_tail = NULL;
	/* The replicas dirty now, oldest first, at most PROCESS_MAX of them
	 * and for at most TURN_NS: the rest wait for the next turn, so that
	 * the loop reads and writes its sockets (liveness among them) between
	 * bounded pieces of work. */
	last = n->dirty_tail;
	while (!done && n->dirty != NULL && budget-- > 0) {
		if ((budget & 63) == 0 && uv_hrtime() - t0 > TURN_NS)
			break; /* a long turn: the rest next turn */
		r = n->dirty;
		n->dirty = r->next_dirty;
		if (n->dirty == NULL)
			n->dirty_tail = NULL;
		done = r == last;
		r->dirty = false;
		r->next_dirty = NULL;
		if (r->sv != NULL)
			rk_serve_flush(n, r);
		if (r->persisting || !rk_raft_has_ready(&r->raft)) {
			if (r->pq)
				rk_node_sleep_pending(n, r);
			continue;
		}
		if (take_light_ready(n, r))
			continue; /* nothing to persist: done without the store */
		if (b == NULL) {
			b = rk_store_batch_new();
			c = calloc(1, sizeof(*c));
			if (b == NULL || c == NULL) {
				rk_log_error(MOD, "out of memory building a group commit");
				rk_store_batch_free(b);
				free(c);
				b = NULL;
				rk_node_mark_dirty(n, r); /* retry next turn */
				break;
			}
		}
		if (commit_add(c, r) != 0) {
			rk_node_mark_dirty(n, r);
			break;
		}
		take_ready(n, r, b, &sync);
	}
	if (b != NULL) {
		if (!sync)
			rk_store_batch_no_sync(b);
		c->started = now_s();
		n->commits_in_flight++;
		if (rk_store_submit(n->store, b, commit_done, c) != 0) {
			rk_log_error(MOD, "the store refused a group commit; stopping");
			n->exit_code = 1;
			uv_stop(&n->loop);
		}
	}
	if (n->campaign_pos < n->n_campaign_q)
		run_campaigns(n, false);
	flush_peers(n);
	if (n->dirty != NULL && !uv_is_active((uv_handle_t *)h))
		uv_idle_start(h, rk_node_on_process);
}

void rk_node_replica_persisted(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_ready *rd = &r->rd;

	if (rd->n_entries > 0) {
		r->last = rd->entries[rd->n_entries - 1].index;
		rk_replica_log_stored(r, rd->entries, rd->n_entries);
	}
	send_msgs(n, r, rd->msgs_after_persist, rd->n_msgs_after_persist);
	rk_raft_advance(&r->raft, rd);
	r->persisting = false;
	r->visible = r->applied;
	rk_serve_persisted(n, r);
	rk_node_mark_dirty(n, r); /* its processing next turn flushes the peers */
	if (r->pq)
		rk_node_sleep_pending(n, r);
}

/* Completions from the storage thread. */
static void on_wake(uv_async_t *h)
{
	struct rk_node *n = h->data;
	struct commit *list, *c, *next;

	pthread_mutex_lock(&n->mu);
	list = n->done;
	n->done = NULL;
	pthread_mutex_unlock(&n->mu);
	for (c = list; c != NULL; c = next) {
		next = c->next;
		n->commits_in_flight--;
		n->commits++;
		rk_hist_observe(&n->commit_hist, now_s() - c->started);
		if (c->rc != 0) {
			/* The log can no longer be trusted to be durable:
			 * stop rather than acknowledge anything. */
			rk_log_error(MOD, "group commit failed: %s; stopping",
				     rk_strerror(c->rc));
			n->exit_code = 1;
			uv_stop(&n->loop);
		}
		for (size_t i = 0; i < c->n && c->rc == 0; i++) {
			struct rk_replica *r = c->reps[i];
			if (r->installing)
				rk_snap_install(n, r); /* advances when done */
			else
				rk_node_replica_persisted(n, r);
		}
		free(c->reps);
		free(c);
	}
	flush_peers(n);
}

/* ---- receiving ------------------------------------------------------------------------ */

static int on_raft_msg(void *arg, uint64_t range, const struct rk_raft_msg *m)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_node_replica(n, range);

	n->msgs_recv++;
	if (r == NULL) {
		n->msgs_unknown_range++;
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
	if (rk_raft_step(&r->raft, m) == RK_EPROTO)
		return 0; /* counted by the core's rules; the peer stays */
	rk_node_mark_dirty(n, r);
	return 0;
}

static int on_snap_msg(void *arg, uint64_t range, const struct rk_raft_msg *m)
{
	struct rk_replica *r = rk_node_replica(arg, range);

	if (r != NULL && r->asleep)
		rk_node_wake(arg, r);
	return rk_snap_on_msg(arg, range, m);
}

/* ---- elections at start --------------------------------------------------------------- */

/* Every replica starts asleep, on the first start as on a restart, and one
 * node starts each range's election: its elector (elector_of: the
 * preferred node if live, else the next live one), which campaigns for its
 * ranges at most CAMPAIGNS_MAX at a time; the other replicas wake when the
 * vote request reaches them. With 100,000 ranges, letting every replica
 * tick from the start means 100,000 elections racing, most of them split,
 * each range heartbeating every tick until it sleeps: the loop turns grow
 * past what node liveness tolerates, peers are declared dead, their ranges
 * wake, and the storm feeds itself. Bounded, the start is a pipeline: a
 * range is elected, commits, goes to sleep, and the next one starts.
 *
 * A campaign leaves the set once the replica knows a leader (its own
 * election or another's), or after CAMPAIGN_TICKS ticks in any case (its
 * own election timer goes on: nothing stalls behind a range whose peers
 * are down). The same queue serves orphans (a dead leader's ranges) and
 * the replicas a sweep finds without a leader (sweep_leaderless). */
#define CAMPAIGNS_MAX 2048
#define CAMPAIGN_TICKS 40
#define CAMPAIGN_RETRY_TICKS 2

static void queue_campaign(struct rk_node *n, struct rk_replica *r)
{
	if (r->queued)
		return;
	if (n->campaign_pos > 0 && n->campaign_pos == n->n_campaign_q)
		n->campaign_pos = n->n_campaign_q = 0; /* drained: reuse */
	if (rk_grow((void **)&n->campaign_q, &n->cap_campaign_q, n->n_campaign_q,
		    sizeof(*n->campaign_q)) != 0) {
		rk_node_wake(n, r); /* elects the usual way instead */
		return;
	}
	r->queued = true;
	n->campaign_q[n->n_campaign_q++] = r;
}

/* Whether this node and the live peers are a majority of the initial
 * cluster (true when none is known). */
static bool majority_live(struct rk_node *n)
{
	uint32_t live = 1;

	if (n->cfg.n_initial == 0)
		return true;
	for (uint32_t i = 0; i < n->n_peers; i++)
		live += n->peers[i].alive;
	return 2 * live > n->cfg.n_initial;
}

/* Retires finished campaigns and starts queued ones: every tick, and
 * after every processing turn while the queue holds any (a campaign ends
 * within milliseconds; its slot should not wait for the next tick). */
static void run_campaigns(struct rk_node *n, bool tick)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n_campaigns; i++) {
		struct campaign *c = &n->campaigns[i];
		uint64_t age = n->ticks - c->since;
		if (rk_raft_leader(&c->r->raft) != 0 || age >= CAMPAIGN_TICKS)
			continue;
		/* A pre-vote refused (a voter had not yet heard that the old
		 * leader is gone) is asked again soon, not after a whole
		 * election timeout; pre-votes change no term. */
		if (tick && age > 0 && age % CAMPAIGN_RETRY_TICKS == 0 &&
		    rk_raft_role(&c->r->raft) == RK_RAFT_PRE_CANDIDATE) {
			rk_raft_campaign(&c->r->raft);
			rk_node_mark_dirty(n, c->r);
		}
		n->campaigns[k++] = *c;
	}
	n->n_campaigns = k;
	/* No campaign into the void: a peer still starting (a first start
	 * writes every range before it listens) would leave each one to
	 * expire awake and campaign on its own timer, the storm this queue
	 * is for. New ones start once a majority of the initial cluster is
	 * live. */
	if (!majority_live(n))
		return;
	while (n->n_campaigns < CAMPAIGNS_MAX && n->campaign_pos < n->n_campaign_q) {
		struct rk_replica *r = n->campaign_q[n->campaign_pos++];
		r->queued = false;
		if (rk_raft_leader(&r->raft) != 0)
			continue; /* led meanwhile */
		rk_node_wake(n, r);
		if (r->asleep || rk_raft_is_leader(&r->raft))
			continue;
		rk_raft_campaign(&r->raft);
		rk_node_mark_dirty(n, r);
		n->campaigns[n->n_campaigns].r = r;
		n->campaigns[n->n_campaigns].since = n->ticks;
		n->n_campaigns++;
	}
}

/* The node that starts range r's election: its preferred node if live,
 * else the next live one in the initial cluster's order (this node counts
 * as live); 0 if the initial cluster is not known. */
static uint64_t elector_of(struct rk_node *n, const struct rk_replica *r)
{
	uint32_t k = n->cfg.n_initial;

	for (uint32_t i = 0; k > 0 && i < k; i++) {
		uint64_t id = n->cfg.initial[(r->range - 1 + i) % k].id;
		struct peer_out *p = rk_node_peer_out(n, id);
		if (id == n->cfg.node_id || (p != NULL && p->alive))
			return id;
	}
	return 0;
}

/* Every two election timeouts: sleeping replicas that know no leader. Those
 * this node should elect (elector_of) are queued to campaign; the rest wait
 * for their elector, but not forever: after LEADERLESS_WAIT_TICKS, or with
 * no initial cluster known, they wake and elect the usual way. */
#define LEADERLESS_WAIT_TICKS 200

static void sweep_leaderless(struct rk_node *n)
{
	uint64_t wait_ms = (uint64_t)LEADERLESS_WAIT_TICKS * n->cfg.tick_ms;
	bool left = false;

	/* Sleeping replicas without a leader come only from a start or an
	 * orphaning (a replica goes to sleep knowing its leader): once a
	 * sweep finds none, the next ones are skipped until then. */
	if (!n->sweep_needed)
		return;

	for (size_t i = 0; i < n->n_replicas; i++) {
		struct rk_replica *r = n->byid[i];
		uint64_t e;

		if (!r->asleep || rk_raft_leader(&r->raft) != 0)
			continue;
		if (r->queued) {
			left = true; /* its campaign may fail: look again */
			continue;
		}
		/* Nothing has reached it since the start (a message would
		 * have woken it), two election timeouts ago at least: no
		 * lease of an old leader is left to respect. */
		(void)rk_raft_leader_lost(&r->raft);
		e = elector_of(n, r);
		if (e == n->cfg.node_id)
			queue_campaign(n, r);
		else if (e == 0 || uv_now(&n->loop) - r->asleep_since > wait_ms)
			rk_node_wake(n, r);
		else
			left = true;
	}
	n->sweep_needed = left;
}

/* A follower whose leader's node died or restarted: it forgets the leader
 * (rk_raft_leader_lost) and grants its vote at once; asleep, it stays
 * asleep until the vote request comes. The node that should elect the
 * range (elector_of: the next live node in the preferred order) queues a
 * campaign. One election per range, started by one node, a bounded number
 * at a time: no split votes, and no storm when a node that led a third of
 * 100,000 ranges dies. A sleeping replica's wait for its elector is counted
 * from now (sweep_leaderless).
 *
 * Why no lease is broken: the leader's process is gone (a restart, or its
 * connection closed and nothing heard from it since; or silence longer
 * than any lease), and a range that slept has no leader lease at all (the
 * leader voids it on waking). */
static void orphan(struct rk_node *n, struct rk_replica *r)
{
	if (rk_raft_leader_lost(&r->raft) != 0)
		return;
	n->sweep_needed = true;
	if (r->asleep)
		r->asleep_since = uv_now(&n->loop);
	if (elector_of(n, r) == n->cfg.node_id)
		queue_campaign(n, r);
}

/* ---- quiescence and node liveness ------------------------------------------------------ */

/* A leader puts its range to sleep once, for QUIESCE_AFTER_TICKS ticks in a
 * row, everything is settled: every follower on a live node holds the whole
 * log (a majority of voters among them and the leader), it is all committed
 * and applied, nothing is being persisted or transferred. A follower on a
 * dead node is left behind: the range wakes to catch it up when the node is
 * back (peer_returned). The followers sleep only if they are at exactly
 * that term and commit with that leader. Anything that arrives for the
 * range, a proposal, or the death of the leader's node wakes it. */
#define QUIESCE_AFTER_TICKS 5

void rk_node_wake(struct rk_node *n, struct rk_replica *r)
{
	if (!r->asleep)
		return;
	if (awake_add(n, r) != 0) {
		rk_log_error(MOD, "out of memory waking range %llu; stopping",
			     (unsigned long long)r->range);
		n->exit_code = 1;
		uv_stop(&n->loop);
		return;
	}
	r->asleep = false;
	r->quiet_ticks = 0;
	n->woken++;
	/* Its clock stood still while it slept: a lease it held is void, and
	 * the time counts toward a follower's last contact with its leader
	 * (woken by a candidate of a new election, it votes as if it had been
	 * ticked all along). */
	rk_raft_lease_void(&r->raft);
	rk_raft_slept(&r->raft, (uv_now(&n->loop) - r->asleep_since) / n->cfg.tick_ms);
	rk_node_mark_dirty(n, r);
}

static bool settled_leader(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;
	size_t voters = 0, caught_up = 0;

	/* A ready not yet taken does not count against it: under load the
	 * tick usually finds the heartbeat answers of the last one stepped
	 * but not yet processed, and what the test needs (everything
	 * replicated, committed and applied) is in the status. */
	if (!rk_raft_is_leader(&r->raft) || r->persisting || r->installing ||
	    rk_raft_transferee(&r->raft) != 0)
		return false;
	rk_raft_status(&r->raft, &st);
	if (st.hs.commit != st.last_index || r->applied != st.hs.commit ||
	    st.n_progress == 0 || rk_raft_conf_is_joint(&st.conf))
		return false;
	for (size_t i = 0; i < st.n_progress; i++) {
		bool voter = (st.progress[i].flags & RK_RAFT_LEARNER) == 0;
		struct peer_out *p = rk_node_peer_out(n, st.progress[i].id);

		voters += voter;
		if (st.progress[i].id == st.id) {
			caught_up += voter;
			continue;
		}
		/* A replica on a dead node does not keep the range awake
		 * (with a node down, every range it holds would heartbeat
		 * forever): the range wakes when the node is back and behind
		 * (peer_returned). */
		if (p == NULL || !p->alive)
			continue;
		if (st.progress[i].match != st.last_index)
			return false;
		caught_up += voter;
	}
	return 2 * caught_up > voters;
}

/* A peer heard from again after it was dead (or for the first time): the
 * sleeping ranges this node leads whose replica there is behind wake, and
 * catch it up before they sleep again. */
static void peer_returned(struct rk_node *n, struct peer_out *p)
{
	for (size_t i = 0; i < n->n_replicas; i++) {
		struct rk_replica *r = n->byid[i];
		struct rk_raft_status st;

		if (!r->asleep || !rk_raft_is_leader(&r->raft))
			continue;
		rk_raft_status(&r->raft, &st);
		for (size_t k = 0; k < st.n_progress; k++)
			if (st.progress[k].id == p->node_id &&
			    st.progress[k].match != st.last_index)
				rk_node_wake(n, r);
	}
}

static void maybe_quiesce(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;
	struct rk_net_quiesce q;

	if (!settled_leader(n, r)) {
		r->quiet_ticks = 0;
		return;
	}
	if (++r->quiet_ticks < QUIESCE_AFTER_TICKS)
		return;
	rk_raft_status(&r->raft, &st);
	q.range = r->range;
	q.term = st.hs.term;
	q.commit = st.hs.commit;
	for (size_t i = 0; i < st.n_progress; i++) {
		struct peer_out *p = rk_node_peer_out(n, st.progress[i].id);
		if (st.progress[i].id != st.id && p != NULL && p->alive)
			rk_net_batch_add_quiesce(&p->batch, &q);
	}
	sleep_replica(n, r);
}

static void restarted_follow(struct rk_node *n, struct rk_replica *r,
			     const struct rk_net_quiesce *q);

static void on_quiesce(void *arg, const struct rk_net_quiesce *q)
{
	struct rk_node *n = arg;
	struct rk_replica *r = rk_node_replica(n, q->range);
	struct rk_raft_status st;

	if (r != NULL && r->asleep && rk_raft_leader(&r->raft) == 0) {
		restarted_follow(n, r, q);
		return;
	}
	if (r == NULL || r->asleep || r->installing ||
	    rk_raft_role(&r->raft) != RK_RAFT_FOLLOWER)
		return;
	rk_raft_status(&r->raft, &st);
	if (st.hs.term != q->term || st.leader != n->cur_from)
		return;
	/* Still catching up (the commit not yet learnt, entries being
	 * persisted or applied): learn the commit from the notice (the leader
	 * sent it knowing our log matches up to there), and sleep once caught
	 * up. A follower left awake under a sleeping leader would campaign
	 * and wake the range again. */
	if (st.hs.commit < q->commit)
		(void)rk_raft_follow(&r->raft, n->cur_from, q->term, q->commit);
	r->pq = true;
	r->pq_term = q->term;
	r->pq_commit = q->commit;
	r->pq_leader = n->cur_from;
	rk_node_mark_dirty(n, r);
	rk_node_sleep_pending(n, r);
}

void rk_node_sleep_pending(struct rk_node *n, struct rk_replica *r)
{
	struct rk_raft_status st;

	if (!r->pq || r->asleep)
		return;
	if (r->persisting || r->installing || rk_raft_has_ready(&r->raft))
		return; /* not yet: called again when it is processed */
	rk_raft_status(&r->raft, &st);
	r->pq = false;
	if (st.role == RK_RAFT_FOLLOWER && st.hs.term == r->pq_term &&
	    st.leader == r->pq_leader && st.hs.commit == r->pq_commit &&
	    st.last_index == r->pq_commit && r->applied == r->pq_commit)
		sleep_replica(n, r);
}

/* The first liveness heartbeat of a peer, or one with a new epoch (the peer
 * restarted). A restarted node's replicas start asleep knowing no leader
 * (see load_all): every sleeping range this node leads tells it so, in the
 * quiescence message it already knows (on_quiesce). And the sleeping ranges
 * a restarted peer led have lost their leader: they wake and elect, as if
 * its node had died. */
static void on_liveness(void *arg, const struct rk_net_liveness *l)
{
	struct rk_node *n = arg;
	struct peer_out *p = rk_node_peer_out(n, n->cur_from);
	bool restarted;

	if (p == NULL)
		return;
	p->seq_heard = l->seq;
	if (p->epoch == l->epoch)
		return;
	restarted = p->epoch != 0;
	p->epoch = l->epoch;
	if (restarted)
		rk_log_info(MOD, "node %llu restarted", (unsigned long long)p->node_id);
	for (size_t i = 0; i < n->n_replicas; i++) {
		struct rk_replica *r = n->byid[i];
		struct rk_raft_status st;
		struct rk_net_quiesce q;
		if (restarted && rk_raft_leader(&r->raft) == p->node_id) {
			orphan(n, r);
		} else if (r->asleep && rk_raft_is_leader(&r->raft)) {
			rk_raft_status(&r->raft, &st);
			q.range = r->range;
			q.term = st.hs.term;
			q.commit = st.hs.commit;
			rk_net_batch_add_quiesce(&p->batch, &q);
		}
	}
}

/* A replica asleep since the start, told who leads it: it follows if its
 * log ends exactly at the leader's commit and it has committed that much
 * (then both logs are the same); otherwise it wakes and catches up the
 * usual way (its election timer wakes the leader). */
static void restarted_follow(struct rk_node *n, struct rk_replica *r,
			     const struct rk_net_quiesce *q)
{
	struct rk_raft_status st;

	rk_raft_status(&r->raft, &st);
	if (!r->installing && st.hs.term == q->term && st.hs.commit == q->commit &&
	    st.last_index == q->commit &&
	    rk_raft_follow(&r->raft, n->cur_from, q->term, q->commit) == 0) {
		rk_node_mark_dirty(n, r);
		return;
	}
	rk_node_wake(n, r);
}

/* Every interval: a liveness heartbeat to every peer node, whatever the
 * ranges do. A peer is dead once nothing has come from it for
 * LIVE_DEAD_CLOSED intervals while our connection to it is down (it closed
 * the connection or refuses a new one: the process is gone, as after a
 * kill -9), or for LIVE_DEAD_SILENT intervals whatever the connection (a
 * hung or cut-off node). The ranges it led then lose their leader and are
 * elected again (orphan). A live but overloaded node keeps its
 * connections: it is given the long timeout, so that its slowness does not
 * wake a third of the ranges and make it slower. Intervals are counted in
 * this timer's rounds, not wall time: a node whose own loop runs late reads
 * its peers' frames late too, and must not take its own slowness for their
 * death. */
#define LIVE_DEAD_CLOSED 2
#define LIVE_DEAD_SILENT 40

static void on_live_timer(uv_timer_t *t)
{
	struct rk_node *n = t->data;
	struct rk_net_liveness l;
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np = rk_net_peer_stats(n->net, ps, RK_MAX_NODES);

	l.epoch = n->live_epoch;
	l.seq = ++n->live_seq;
	for (uint32_t i = 0; i < n->n_peers; i++) {
		struct peer_out *p = &n->peers[i];
		uint64_t silent = n->live_seq - p->heard;
		bool connected = false;
		for (size_t k = 0; k < np; k++)
			if (ps[k].node_id == p->node_id)
				connected = ps[k].connected;
		l.echo = p->seq_heard;
		rk_net_batch_add_liveness(&p->batch, &l);
		if (p->alive && (silent > LIVE_DEAD_SILENT ||
				 (silent > LIVE_DEAD_CLOSED && !connected))) {
			p->alive = false;
			n->liveness_deaths++;
			rk_log_warn(MOD, "node %llu is not heard from for %llu intervals%s: "
				    "the ranges it led elect new leaders",
				    (unsigned long long)p->node_id, (unsigned long long)silent,
				    connected ? "" : " and its connection is down");
			for (size_t k = 0; k < n->n_replicas; k++) {
				struct rk_replica *r = n->byid[k];
				if (rk_raft_leader(&r->raft) == p->node_id)
					orphan(n, r);
			}
		}
	}
	flush_peers(n);
}

static int on_chunk(void *arg, const struct rk_net_chunk *c)
{
	return rk_snap_on_chunk(arg, c);
}

static void on_req(void *arg, const struct rk_net_req *req)
{
	struct rk_node *n = arg;

	rk_serve_request(n, n->cur_from, req);
}

static void on_resp(void *arg, const struct rk_net_resp *resp)
{
	rk_serve_to_router(arg, resp);
}

static int on_frame(void *arg, uint64_t from, int channel,
		    const uint8_t *payload, size_t len)
{
	struct rk_node *n = arg;
	struct rk_net_handlers raft = {n, on_raft_msg, on_liveness, NULL, on_quiesce,
				       on_req, on_resp};
	struct rk_net_handlers snap = {n, on_snap_msg, NULL, on_chunk, NULL, NULL, NULL};
	struct peer_out *p = rk_node_peer_out(n, from);

	if (p != NULL && channel == RK_NET_CH_RAFT) {
		p->heard = n->live_seq;
		if (!p->alive) {
			rk_log_info(MOD, "node %llu is live", (unsigned long long)from);
			p->alive = true;
			peer_returned(n, p);
		}
	}
	n->cur_from = from;
	return rk_net_batch_decode(payload, len,
				   channel == RK_NET_CH_SNAP ? &snap : &raft,
				   &n->scratch) == 0 ? 0 : RK_EPROTO;
}

/* ---- ticks and signals ------------------------------------------------------------------ */

/* Leaders spread evenly: range r's preferred leader is the node at
 * position (r - 1) mod n of the initial cluster (its first campaign comes
 * from there). A leader that is not the preferred one hands leadership to
 * it once that node is reachable; the core waits for it to catch up and
 * aborts after a timeout, so a lagging or dead node is not forced. */
#define BALANCE_EVERY_TICKS 20
#define BALANCE_MAX 1024   /* transfers started per round */
#define COMPACT_EVERY_TICKS 25

struct balance {
	struct rk_net_peer_stats ps[RK_MAX_NODES];
	size_t np, moved;
};

static void balance_one(struct rk_node *n, struct rk_replica *r, void *arg)
{
	struct balance *bl = arg;
	uint64_t want = preferred_node(n, r);
	bool up = false;

	if (bl->moved >= BALANCE_MAX || !rk_raft_is_leader(&r->raft) ||
	    want == n->cfg.node_id || rk_raft_transferee(&r->raft) != 0)
		return;
	for (size_t k = 0; k < bl->np; k++)
		if (bl->ps[k].node_id == want)
			up = bl->ps[k].connected;
	if (up && rk_raft_transfer_leader(&r->raft, want) == 0) {
		rk_node_wake(n, r); /* the transfer runs on ticks */
		rk_node_mark_dirty(n, r);
		bl->moved++;
	}
}

/* Every awake leader, and the sleeping leaders away from their preferred
 * node (put on the misplaced list when they went to sleep): leaderships
 * change only while a range is awake, so nobody walks the 100,000 others. */
static void balance_leaders(struct rk_node *n)
{
	struct balance bl;
	size_t k = 0;

	/* Not while this node still starts elections of its own; and a
	 * bounded number per round: each transfer wakes its range. */
	if (n->cfg.n_initial == 0 || n->campaign_pos < n->n_campaign_q)
		return;
	bl.np = rk_net_peer_stats(n->net, bl.ps, RK_MAX_NODES);
	bl.moved = 0;
	rk_node_visit_some(n, NULL, 0, balance_one, &bl);
	for (size_t i = 0; i < n->n_misplaced; i++) {
		struct rk_replica *r = n->misplaced[i];
		if (r->asleep && rk_raft_is_leader(&r->raft))
			balance_one(n, r, &bl);
		if (r->asleep && rk_raft_is_leader(&r->raft) &&
		    rk_raft_transferee(&r->raft) == 0)
			n->misplaced[k++] = r; /* its node is down: later */
		else
			r->misplaced = false;
	}
	n->n_misplaced = k;
}

static void on_tick(uv_timer_t *t)
{
	struct rk_node *n = t->data;

	/* Backwards: a replica put to sleep is swapped with the last one,
	 * which has been visited already. */
	for (size_t i = n->n_awake; i-- > 0;) {
		struct rk_replica *r = n->awake[i];
		maybe_quiesce(n, r);
		if (r->asleep)
			continue;
		rk_raft_tick(&r->raft);
		rk_node_mark_dirty(n, r);
	}
	flush_peers(n);
	n->ticks++;
	/* Replicas no leader has claimed two election timeouts after the
	 * start (a whole cluster restarted, or their leader is down), and
	 * again every two election timeouts after. */
	if (n->ticks % (2 * (uint64_t)n->ropts.election_tick) == 0)
		sweep_leaderless(n);
	run_campaigns(n, true);
	if (n->ticks % BALANCE_EVERY_TICKS == 0)
		balance_leaders(n);
	if (n->ticks % COMPACT_EVERY_TICKS == 0)
		rk_snap_compact(n);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct rk_node *n = s->data;

	rk_log_info(MOD, "signal %d: stopping", signum);
	n->stopping = true;
	uv_stop(&n->loop);
}

/* ---- first start ---------------------------------------------------------------------- */

static uint64_t cluster_id_of(const struct rk_node_config *cfg)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t h;

	XXH3_64bits_reset(st);
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		XXH3_64bits_update(st, &cfg->initial[i].id, sizeof(uint64_t));
		XXH3_64bits_update(st, cfg->initial[i].addr, strlen(cfg->initial[i].addr));
	}
	h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h == 0 ? 1 : h;
}

/* The first-start flags as recorded in the data directory: the initial
 * cluster, and the cut (--ranges or --split-at). */
static void first_start_cluster(const struct rk_node_config *cfg, struct rk_buf *b)
{
	for (uint32_t i = 0; i < cfg->n_initial; i++)
		rk_buf_printf(b, "%s%llu=%s", i ? "," : "",
			      (unsigned long long)cfg->initial[i].id, cfg->initial[i].addr);
}

static void first_start_cut(const struct rk_node_config *cfg, struct rk_buf *b)
{
	if (cfg->split_at != NULL)
		rk_buf_printf(b, "--split-at %s", cfg->split_at);
	else
		rk_buf_printf(b, "--ranges %u", cfg->ranges ? cfg->ranges : RK_DEFAULT_RANGES);
}

/* A restart may repeat the first-start flags; they must match. */
static int check_first_start(struct rk_node *n, char *err, size_t errlen)
{
	const struct rk_node_config *cfg = &n->cfg;
	const char *names[2] = {"first_start_cluster", "first_start_cut"};
	bool given[2] = {cfg->n_initial > 0, cfg->ranges > 0 || cfg->split_at != NULL};
	const char *flag[2] = {"--initial-cluster", "--ranges/--split-at"};
	int rc = 0;

	for (int k = 0; k < 2 && rc == 0; k++) {
		struct rk_buf want;
		const void *v;
		size_t vl;

		if (!given[k])
			continue;
		rk_buf_init(&want);
		if (k == 0)
			first_start_cluster(cfg, &want);
		else
			first_start_cut(cfg, &want);
		if (rk_store_meta_get(n->reader, names[k], &v, &vl) == 0 &&
		    (vl != want.len || memcmp(v, want.p, vl) != 0)) {
			snprintf(err, errlen, "%s does not match the first start of %.200s (%.*s)",
				 flag[k], cfg->data_dir, (int)(vl > 200 ? 200 : vl),
				 (const char *)v);
			rc = RK_EINVAL;
		}
		rk_buf_free(&want);
	}
	return rc;
}

/* Notes that the directory holds a range, and stops the walk there. */
static int any_range(void *arg, uint64_t range)
{
	(void)range;
	*(bool *)arg = true;
	return 1;
}

/* Cuts the key space and writes every range's initial state: the initial
 * voters, the boot snapshot point (RK_RAFT_INIT_INDEX/TERM) and the span. */
static int bootstrap(struct rk_node *n, char *err, size_t errlen)
{
	struct rk_keyspace ks;
	struct rk_store_batch *b;
	int rc;

	if (n->cfg.split_at != NULL)
		rc = rk_keyspace_split_at(n->cfg.split_at, &ks, err, errlen);
	else
		rc = rk_keyspace_uniform(n->cfg.ranges ? n->cfg.ranges : RK_DEFAULT_RANGES, &ks);
	if (rc != 0)
		return rc;
	b = rk_store_batch_new();
	for (uint32_t i = 0; i < ks.n && b != NULL; i++) {
		struct rk_replica tmp;
		struct rk_store_raft_state st;
		struct rk_store_apply_state as;
		uint8_t desc[2 * RK_MAX_KEY + 64];

		memset(&tmp, 0, sizeof(tmp));
		tmp.generation = 1;
		if (i > 0) {
			tmp.start = ks.bounds[i - 1].p;
			tmp.slen = ks.bounds[i - 1].len;
		}
		if (i + 1 < ks.n) {
			tmp.end = ks.bounds[i].p;
			tmp.elen = ks.bounds[i].len;
		}
		memset(&st, 0, sizeof(st));
		st.replica_id = n->cfg.node_id;
		st.hs.term = RK_RAFT_INIT_TERM;
		st.hs.commit = RK_RAFT_INIT_INDEX;
		st.trunc_index = RK_RAFT_INIT_INDEX;
		st.trunc_term = RK_RAFT_INIT_TERM;
		st.conf.n = (uint8_t)n->cfg.n_initial;
		for (uint32_t j = 0; j < n->cfg.n_initial && j < RK_RAFT_MAX_MEMBERS; j++) {
			st.conf.ids[j] = n->cfg.initial[j].id;
			st.conf.flags[j] = RK_RAFT_VOTER;
		}
		as.applied = RK_RAFT_INIT_INDEX;
		as.desc = desc;
		as.desc_len = rk_desc_encode(&tmp, desc, sizeof(desc));
		rk_store_batch_raft_state(b, i + 1, &st);
		rk_store_batch_apply_state(b, i + 1, &as);
	}
	if (b != NULL) {
		struct rk_buf v;
		rk_buf_init(&v);
		first_start_cluster(&n->cfg, &v);
		rk_store_batch_meta_put(b, "first_start_cluster", v.p ? v.p : "", v.len);
		rk_buf_reset(&v);
		first_start_cut(&n->cfg, &v);
		rk_store_batch_meta_put(b, "first_start_cut", v.p, v.len);
		rk_buf_free(&v);
	}
	rc = b == NULL ? RK_ENOMEM : rk_store_write(n->store, b);
	if (rc == 0)
		rc = rk_store_checkpoint(n->store); /* the spans are not logged */
	if (rc == 0)
		rk_log_info(MOD, "first start: %u ranges on %u nodes", ks.n, n->cfg.n_initial);
	else
		snprintf(err, errlen, "cannot write the initial ranges: %s", rk_strerror(rc));
	rk_keyspace_free(&ks);
	return rc;
}

struct id_list {
	uint64_t *v;
	size_t n, cap;
};

static int collect_id(void *arg, uint64_t range)
{
	struct id_list *l = arg;

	if (rk_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) != 0)
		return RK_ENOMEM;
	l->v[l->n++] = range;
	return 0;
}

static void note_pending(void *arg, uint64_t range, uint64_t index)
{
	struct id_list *l = arg;

	(void)index;
	collect_id(l, range);
}

/* Snapshot installs a crash interrupted are redone before anything is
 * served (their ranges' data is half there). */
static int redo_installs(struct rk_node *n)
{
	struct id_list l = {NULL, 0, 0};
	int rc = rk_store_install_pending(n->reader, note_pending, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rk_log_info(MOD, "range %llu: redoing an interrupted snapshot install",
			    (unsigned long long)l.v[i]);
		rc = rk_store_install_run(n->reader, l.v[i]);
	}
	free(l.v);
	return rc;
}

/* Lists the ranges first (loading reads the same tables), then loads
 * each, in id order. Every replica starts asleep (see "elections at
 * start"). */
static int load_all(struct rk_node *n)
{
	struct id_list l = {NULL, 0, 0};
	int rc = rk_store_list_ranges(n->reader, collect_id, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct rk_replica *r;
		rc = rk_replica_load(n, l.v[i], &r);
		if (rc == 0 && (rc = table_add(n, r)) != 0)
			rk_replica_free(r);
		else if (rc == 0) {
			r->asleep = true;
			r->asleep_since = uv_now(&n->loop);
		}
	}
	free(l.v);
	return rc;
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

static void net_stopped(void *arg)
{
	*(bool *)arg = true;
}

int rk_node_run(const struct rk_node_config *cfg)
{
	struct rk_node *n = calloc(1, sizeof(*n));
	struct rk_store_options so;
	struct rk_net_config nc;
	char err[512];
	bool existing = false;
	bool net_down = false;
	int rc;

	if (n == NULL)
		return 1;
	n->cfg = *cfg;
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
	/* Reads by lease while check-quorum holds, ReadIndex otherwise. */
	n->ropts.read_only = RK_RAFT_READ_LEASE;
	n->ropts.storage = &rk_replica_storage_ops;

	rk_store_options_default(&so);
	so.dir = cfg->data_dir;
	so.node_id = cfg->node_id;
	so.cluster_id = 0; /* checked against the initial cluster below */
	so.cache_mb = cfg->cache_mb ? cfg->cache_mb : 256;
	rc = rk_store_open(&so, &n->store, err, sizeof(err));
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		free(n);
		return 1;
	}
	pthread_mutex_init(&n->mu, NULL);
	uv_loop_init(&n->loop);
	if (rk_store_reader_open(n->store, &n->reader) != 0 ||
	    rk_store_list_ranges(n->reader, any_range, &existing) != 0) {
		rk_log_error(MOD, "%s: cannot read the ranges", cfg->data_dir);
		rc = RK_EIO;
		goto out;
	}
	/* Listen before anything is written: a port in use must not leave a
	 * half-made data directory behind. */
	memset(&nc, 0, sizeof(nc));
	nc.node_id = cfg->node_id;
	nc.cluster_id = cfg->n_initial ? cluster_id_of(cfg) : 0;
	nc.listen_addr = cfg->peer_addr;
	nc.queue_max = 64u << 20;
	nc.on_frame = on_frame;
	nc.arg = n;
	rc = rk_net_start(&n->loop, &nc, &n->net, err, sizeof(err));
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		if (cfg->initial[i].id == cfg->node_id)
			continue;
		rk_net_add_peer(n->net, cfg->initial[i].id, cfg->initial[i].addr);
		n->peers[n->n_peers].node_id = cfg->initial[i].id;
		rk_buf_init(&n->peers[n->n_peers].batch);
		rk_buf_init(&n->peers[n->n_peers].beats);
		n->n_peers++;
	}
	if (cfg->http_addr[0] != '\0') {
		rc = rk_http_listen(&n->http, &n->loop, cfg->http_addr, rk_node_http, n);
		if (rc != 0) {
			rk_log_error(MOD, "cannot listen on --http-addr %s: %s",
				     cfg->http_addr, rk_strerror(rc));
			goto out;
		}
	}

	if (existing && (rc = check_first_start(n, err, sizeof(err))) != 0) {
		rk_log_error(MOD, "%s", err);
		goto out;
	}
	if (!existing) {
		if (cfg->n_initial == 0) {
			rk_log_error(MOD, "%s holds no ranges and no --initial-cluster was given",
				     cfg->data_dir);
			rc = RK_EINVAL;
			goto out;
		}
		rc = bootstrap(n, err, sizeof(err));
		if (rc != 0) {
			rk_log_error(MOD, "%s", err);
			goto out;
		}
	}
	{
		rc = redo_installs(n);
		if (rc == 0)
			rc = load_all(n);
		n->campaigns = calloc(CAMPAIGNS_MAX, sizeof(*n->campaigns));
		n->sweep_needed = true;
		if (rc == 0 && n->campaigns == NULL)
			rc = RK_ENOMEM;
		if (rc != 0) {
			rk_log_error(MOD, "cannot load the ranges: %s", rk_strerror(rc));
			goto out;
		}
	}

	uv_idle_init(&n->loop, &n->process);
	n->process.data = n;
	uv_async_init(&n->loop, &n->wake, on_wake);
	n->wake.data = n;
	uv_timer_init(&n->loop, &n->tick_timer);
	n->tick_timer.data = n;
	uv_timer_init(&n->loop, &n->pump_timer);
	n->pump_timer.data = n;
	uv_timer_init(&n->loop, &n->live_timer);
	n->live_timer.data = n;
	{
		/* Distinct for every start of this node: peers notice restarts. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		n->live_epoch = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	}
	uv_timer_start(&n->live_timer, on_live_timer, cfg->tick_ms, cfg->tick_ms);
	uv_timer_start(&n->tick_timer, on_tick, cfg->tick_ms, cfg->tick_ms);
	uv_signal_init(&n->loop, &n->sigterm);
	uv_signal_init(&n->loop, &n->sigint);
	n->sigterm.data = n->sigint.data = n;
	uv_signal_start(&n->sigterm, on_signal, SIGTERM);
	uv_signal_start(&n->sigint, on_signal, SIGINT);
	rc = rk_serve_start(n, err, sizeof(err));
	if (rc != 0) {
		rk_log_error(MOD, "%s", err);
		rk_serve_stop(n);
		goto out;
	}

	/* A restart: every replica is processed once (committed entries the
	 * apply state has not reached are applied again). */
	if (existing)
		for (size_t i = 0; i < n->n_replicas; i++)
			rk_node_mark_dirty(n, n->byid[i]);
	/* Leaders spread evenly: on the first start, range i is elected by
	 * the i-th node of the initial cluster, a bounded number at a time. */
	if (!existing) {
		/* Brand-new groups: no leader ever held a lease. */
		for (size_t i = 0; i < n->n_replicas; i++) {
			(void)rk_raft_leader_lost(&n->byid[i]->raft);
			if (preferred_node(n, n->byid[i]) == cfg->node_id)
				queue_campaign(n, n->byid[i]);
		}
		run_campaigns(n, false);
	}
	rk_log_info(MOD, "node %llu serving %zu ranges; peers on %s, clients on %s, http on %s",
		    (unsigned long long)cfg->node_id, n->n_replicas, cfg->peer_addr,
		    cfg->client_addr[0] ? cfg->client_addr : "(none)",
		    cfg->http_addr[0] ? cfg->http_addr : "(none)");
	uv_run(&n->loop, UV_RUN_DEFAULT);

	/* Stop: let group commits in flight finish (acknowledgements only go
	 * out after them, so none is lost either way), then close. */
	n->stopping = true; /* no new processing: only the commits in flight finish */
	rk_serve_stop(n);
	uv_timer_stop(&n->tick_timer);
	uv_timer_stop(&n->live_timer);
	while (n->commits_in_flight > 0)
		uv_run(&n->loop, UV_RUN_ONCE);
	rc = n->exit_code != 0 ? RK_EIO : 0;
out:
	if (n->net != NULL) {
		rk_net_stop(n->net, net_stopped, &net_down);
		while (!net_down)
			uv_run(&n->loop, UV_RUN_ONCE);
	}
	if (n->http.loop != NULL && !n->http.closing)
		rk_http_close(&n->http, http_closed);
	{
		uv_handle_t *hs[] = {(uv_handle_t *)&n->process, (uv_handle_t *)&n->wake,
				     (uv_handle_t *)&n->tick_timer, (uv_handle_t *)&n->pump_timer,
				     (uv_handle_t *)&n->live_timer,
				     (uv_handle_t *)&n->sigterm, (uv_handle_t *)&n->sigint};
		for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
			if (hs[i]->loop == &n->loop && !uv_is_closing(hs[i]))
				uv_close(hs[i], closed_noop);
	}
	uv_run(&n->loop, UV_RUN_DEFAULT);
	uv_loop_close(&n->loop);
	rk_snap_shutdown(n);
	for (size_t i = 0; i < n->n_replicas; i++)
		rk_replica_free(n->byid[i]);
	for (uint32_t i = 0; i < n->n_peers; i++) {
		rk_buf_free(&n->peers[i].batch);
		rk_buf_free(&n->peers[i].beats);
	}
	rk_net_scratch_free(&n->scratch);
	rk_kv_applier_close(&n->applier);
	free(n->table);
	free(n->byid);
	free(n->awake);
	free(n->campaign_q);
	free(n->misplaced);
	free(n->campaigns);
	rk_buf_free(&n->blob);
	rk_store_reader_close(n->reader);
	rk_store_close(n->store);
	pthread_mutex_destroy(&n->mu);
	free(n);
	if (rc == 0)
		rk_log_info(MOD, "stopped");
	return rc == 0 ? 0 : 1;
}
