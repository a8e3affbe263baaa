/*
 * The simulated network: every message sent is deep-copied into one queue
 * in send order; a step delivers one of the oldest few (so messages are
 * reordered within a window, as a real network does, but none waits
 * forever), and in chaos it may instead drop or duplicate it. Cut links
 * lose messages.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void sim_net_free_msg(struct rk_raft_msg *m)
{
	size_t i;

	for (i = 0; i < m->n_entries; i++)
		free((void *)(uintptr_t)m->entries[i].data);
	free(m->entries);
	free(m->snapshot);
	m->entries = NULL;
	m->snapshot = NULL;
	m->n_entries = 0;
}

static void copy_msg(struct rk_raft_msg *dst, const struct rk_raft_msg *src)
{
	size_t i;

	*dst = *src;
	dst->entries = NULL;
	dst->snapshot = NULL;
	if (src->n_entries > 0) {
		dst->entries = calloc(src->n_entries, sizeof(*dst->entries));
		for (i = 0; i < src->n_entries; i++) {
			uint8_t *d = NULL;
			dst->entries[i] = src->entries[i];
			if (src->entries[i].len > 0) {
				d = malloc(src->entries[i].len);
				memcpy(d, src->entries[i].data, src->entries[i].len);
			}
			dst->entries[i].data = d;
		}
	}
	if (src->snapshot != NULL) {
		dst->snapshot = malloc(sizeof(*dst->snapshot));
		*dst->snapshot = *src->snapshot;
	}
}

void sim_net_send(struct sim *s, const struct rk_raft_msg *m)
{
	struct sim_net *n = &s->net;

	if (m->to < 1 || m->to > (uint64_t)s->o.nodes)
		return;
	if (n->n >= SIM_MAX_INFLIGHT) {
		/* Raft sends a bounded number of messages per event; a queue
		 * this long means something amplifies traffic. */
		int counts[RK_RAFT_MSG_TYPE_MAX + 1] = {0};
		size_t k;
		for (k = 0; k < n->n; k++)
			counts[n->q[k].m.type]++;
		sim_fail(s, "bounded traffic",
			 "%zu messages in flight (APP %d, APP_RESP %d, HEARTBEAT %d, HEARTBEAT_RESP %d)",
			 n->n, counts[RK_RAFT_MSG_APP], counts[RK_RAFT_MSG_APP_RESP],
			 counts[RK_RAFT_MSG_HEARTBEAT], counts[RK_RAFT_MSG_HEARTBEAT_RESP]);
		return;
	}
	if (n->n == n->cap) {
		n->cap = n->cap == 0 ? 64 : n->cap * 2;
		n->q = realloc(n->q, n->cap * sizeof(*n->q));
	}
	copy_msg(&n->q[n->n].m, m);
	n->q[n->n].sent_step = s->step;
	n->n++;
}

/* The transport reports every snapshot's fate to its sender: the leader
 * keeps the follower paused until it hears. */
static void report_snapshot(struct sim *s, const struct rk_raft_msg *m,
			    bool failed)
{
	struct sim_node *from = &s->nodes[m->from];

	if (m->type == RK_RAFT_MSG_SNAP && from->up)
		rk_raft_report_snapshot(&from->raft, m->to, failed);
}

/* Keeps send order for the rest: delivery is nearly FIFO. */
static void remove_at(struct sim_net *n, size_t i)
{
	sim_net_free_msg(&n->q[i].m);
	memmove(n->q + i, n->q + i + 1, (n->n - i - 1) * sizeof(*n->q));
	n->n--;
}

bool sim_net_deliver_one(struct sim *s)
{
	struct sim_net *n = &s->net;
	struct sim_node *to;
	struct rk_raft_msg *m;
	size_t i;
	int rc;

	if (n->n == 0)
		return false;
	i = sim_rand(s) % (n->n < SIM_REORDER ? n->n : SIM_REORDER);
	m = &n->q[i].m;
	to = &s->nodes[m->to];
	if (n->cut[m->from][m->to] || !to->up || (s->chaos && s->tick >= s->quiet_until && sim_chance(s, 3))) {
		sim_event(s, "drop %s %llu->%llu", rk_raft_msg_type_name(m->type),
			  (unsigned long long)m->from, (unsigned long long)m->to);
		report_snapshot(s, m, true);
		remove_at(n, i);
		return true;
	}
	if (s->chaos && sim_chance(s, 2)) {
		/* Duplicate: deliver this copy, keep the original queued. */
		struct rk_raft_msg dup;
		copy_msg(&dup, m);
		sim_event(s, "dup %s %llu->%llu", rk_raft_msg_type_name(m->type),
			  (unsigned long long)m->from, (unsigned long long)m->to);
		if (dup.type == RK_RAFT_MSG_SNAP && dup.snapshot)
			to->snaps_received[to->n_snaps_received++ % 8] =
				dup.snapshot->index;
		rc = rk_raft_step(&to->raft, &dup);
		sim_net_free_msg(&dup);
		return true;
	}
	sim_event(s, "deliver %s %llu->%llu t%llu i%llu lt%llu c%llu n%zu%s",
		  rk_raft_msg_type_name(m->type), (unsigned long long)m->from,
		  (unsigned long long)m->to, (unsigned long long)m->term,
		  (unsigned long long)m->index, (unsigned long long)m->log_term,
		  (unsigned long long)m->commit, m->n_entries,
		  m->reject ? " reject" : "");
	/* The snapshot's data travels with the message: remember which
	 * snapshots this replica could install. */
	if (m->type == RK_RAFT_MSG_SNAP && m->snapshot != NULL)
		to->snaps_received[to->n_snaps_received++ % 8] = m->snapshot->index;
	rc = rk_raft_step(&to->raft, m);
	if (rc != 0 && rc != RK_EINVAL)
		sim_fail(s, "valid message refused", "step returned %s for %s",
			 rk_strerror(rc), rk_raft_msg_type_name(m->type));
	report_snapshot(s, m, false);
	remove_at(n, i);
	return true;
}

void sim_net_clear(struct sim *s)
{
	while (s->net.n > 0)
		remove_at(&s->net, s->net.n - 1);
	free(s->net.q);
	s->net.q = NULL;
	s->net.cap = 0;
}
