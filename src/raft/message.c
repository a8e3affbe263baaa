/*
 * Messages: the outbox, the send-after-persist rule, and validation of what
 * arrives from the network.
 */
#include <string.h>

#include "raft_int.h"

static const char *const msg_names[] = {
	[0] = "?",
	[RK_RAFT_MSG_APP] = "APP",
	[RK_RAFT_MSG_APP_RESP] = "APP_RESP",
	[RK_RAFT_MSG_VOTE] = "VOTE",
	[RK_RAFT_MSG_VOTE_RESP] = "VOTE_RESP",
	[RK_RAFT_MSG_PRE_VOTE] = "PRE_VOTE",
	[RK_RAFT_MSG_PRE_VOTE_RESP] = "PRE_VOTE_RESP",
	[RK_RAFT_MSG_SNAP] = "SNAP",
	[RK_RAFT_MSG_HEARTBEAT] = "HEARTBEAT",
	[RK_RAFT_MSG_HEARTBEAT_RESP] = "HEARTBEAT_RESP",
	[RK_RAFT_MSG_TIMEOUT_NOW] = "TIMEOUT_NOW",
	[RK_RAFT_MSG_SNAP_REQ] = "SNAP_REQ",
};

const char *rk_raft_msg_type_name(int type)
{
	if (type < 1 || type > RK_RAFT_MSG_TYPE_MAX)
		return "?";
	return msg_names[type];
}

static const char *const role_names[] = {"follower", "pre-candidate",
					 "candidate", "leader"};

const char *rk_raft_role_name(int role)
{
	if (role < 0 || role > RK_RAFT_LEADER)
		return "?";
	return role_names[role];
}

/*
 * What may leave before the batch is durable: a leader's outgoing
 * replication traffic. A leader's appends only copy its log (its own
 * acknowledgement is counted after its persist, in advance); heartbeats,
 * snapshots and transfer orders claim nothing about its disk, nor does a
 * follower's request for a snapshot. Everything
 * else (votes, acknowledgements, rejections) speaks for the sender's durable
 * state and waits.
 */
static bool may_send_before_persist(const struct rk_raft *r,
				    const struct rk_raft_msg *m)
{
	if (RK_BUG(ACK_BEFORE_PERSIST) && m->type == RK_RAFT_MSG_APP_RESP)
		return true;
	/* A follower's request for a snapshot claims nothing about its disk
	 * (its index only bounds what it will install). */
	if (m->type == RK_RAFT_MSG_SNAP_REQ)
		return true;
	if (r->role != RK_RAFT_LEADER)
		return false;
	switch (m->type) {
	case RK_RAFT_MSG_APP:
	case RK_RAFT_MSG_HEARTBEAT:
	case RK_RAFT_MSG_SNAP:
	case RK_RAFT_MSG_TIMEOUT_NOW:
		return true;
	default:
		return false;
	}
}

void raft_send(struct rk_raft *r, struct rk_raft_msg *m)
{
	struct rk_raft_msg *nm;

	m->from = r->id;
	/* Vote responses carry the term they answer (pre-vote: the future
	 * term), set by the caller; everything else our own term. */
	if (m->type != RK_RAFT_MSG_VOTE_RESP &&
	    m->type != RK_RAFT_MSG_PRE_VOTE_RESP &&
	    m->type != RK_RAFT_MSG_PRE_VOTE)
		m->term = r->term;
	if (!may_send_before_persist(r, m))
		m->flags |= RAFT_MSGF_AFTER_PERSIST;
	if (r->n_msgs == r->cap_msgs) {
		uint32_t ncap = r->cap_msgs == 0 ? 4 : r->cap_msgs * 2;
		nm = raft_realloc(r, r->msgs, r->cap_msgs * sizeof(*nm),
				  ncap * sizeof(*nm));
		if (nm == NULL)
			return; /* dropped: raft retransmits */
		r->msgs = nm;
		r->cap_msgs = ncap;
	}
	r->msgs[r->n_msgs++] = *m;
}

void raft_outbox_free(struct rk_raft *r)
{
	raft_free(r, r->msgs, r->cap_msgs * sizeof(*r->msgs));
	r->msgs = NULL;
	r->n_msgs = r->cap_msgs = 0;
}

int rk_raft_msg_validate(const struct rk_raft_msg *m)
{
	size_t i;

	if (m == NULL || m->type < 1 || m->type > RK_RAFT_MSG_TYPE_MAX)
		return RK_EPROTO;
	if (m->from == RK_RAFT_NONE || m->to == RK_RAFT_NONE)
		return RK_EPROTO;
	if (m->flags & (uint8_t)~RK_RAFT_MSGF_TRANSFER)
		return RK_EPROTO;
	if (m->term > RK_RAFT_MAX_TERM || m->log_term > RK_RAFT_MAX_TERM ||
	    m->index > RK_RAFT_MAX_INDEX || m->commit > RK_RAFT_MAX_INDEX ||
	    m->reject_hint > RK_RAFT_MAX_INDEX ||
	    m->n_entries > RK_RAFT_MAX_INDEX)
		return RK_EPROTO;
	if (m->n_entries > 0 && (m->type != RK_RAFT_MSG_APP || m->entries == NULL))
		return RK_EPROTO;
	if (m->type == RK_RAFT_MSG_APP) {
		for (i = 0; i < m->n_entries; i++) {
			const struct rk_raft_entry *e = &m->entries[i];
			if (e->index != m->index + 1 + i || e->term > m->term ||
			    e->term == 0 || (e->len > 0 && e->data == NULL) ||
			    e->type > RK_RAFT_ENTRY_CONF_CHANGE)
				return RK_EPROTO;
			if (i > 0 && e->term < m->entries[i - 1].term)
				return RK_EPROTO;
			if (i == 0 && e->term < m->log_term)
				return RK_EPROTO;
		}
		if (m->log_term > m->term)
			return RK_EPROTO;
	}
	if (m->type == RK_RAFT_MSG_SNAP) {
		const struct rk_raft_snapshot_meta *s = m->snapshot;
		if (s == NULL || s->conf.n > RK_RAFT_MAX_MEMBERS ||
		    s->term > m->term || s->index == 0 || s->term == 0)
			return RK_EPROTO;
		for (i = 0; i < s->conf.n; i++)
			if (s->conf.ids[i] == RK_RAFT_NONE || s->conf.flags[i] == 0 ||
			    (s->conf.flags[i] & ~0x0fu))
				return RK_EPROTO;
	} else if (m->snapshot != NULL) {
		return RK_EPROTO;
	}
	if ((m->type == RK_RAFT_MSG_VOTE || m->type == RK_RAFT_MSG_PRE_VOTE) &&
	    m->log_term > m->term)
		return RK_EPROTO;
	return 0;
}
