/*
 * Sending to the peer nodes (peer.h).
 */
#include <string.h>

#include "node_int.h"

#define PEER_FRAME_BYTES (1u << 20) /* a peer's Batch is sent once this big */

int rk_peer_add(struct rk_node *n, uint64_t node_id, const char *addr)
{
	struct rk_peer *p = &n->peers[n->n_peers];
	int rc;

	if (n->n_peers == RK_MAX_NODES || rk_peer_find(n, node_id) != NULL)
		return RK_EINVAL;
	rc = rk_net_add_peer(n->net, node_id, addr);
	if (rc != 0)
		return rc;
	memset(p, 0, sizeof(*p));
	p->node_id = node_id;
	rk_buf_init(&p->batch);
	rk_buf_init(&p->beats);
	n->n_peers++;
	return 0;
}

struct rk_peer *rk_peer_find(struct rk_node *n, uint64_t node_id)
{
	for (uint32_t i = 0; i < n->n_peers; i++)
		if (n->peers[i].node_id == node_id)
			return &n->peers[i];
	return NULL;
}

bool rk_peer_alive(struct rk_node *n, uint64_t node_id)
{
	struct rk_peer *p = rk_peer_find(n, node_id);

	return p != NULL && p->lv.alive;
}

void rk_peer_flush(struct rk_node *n, struct rk_peer *p)
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

void rk_peer_flush_all(struct rk_node *n)
{
	for (uint32_t i = 0; i < n->n_peers; i++)
		rk_peer_flush(n, &n->peers[i]);
}

/* Raft addresses replicas; the descriptor says which node each is on. A
 * message to a replica the descriptor does not name is dropped (raft
 * resends what matters once the descriptor catches up). */
void rk_peer_send(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_msg *m, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct rk_peer *p = rk_peer_find(n, rk_replica_node(r, m[i].to));
		if (p == NULL) {
			n->stats.msgs_unroutable++;
			continue;
		}
		if (m[i].type == RK_RAFT_MSG_SNAP) {
			rk_snap_send(n, r, &m[i]); /* leaves after its data */
			continue;
		}
		/* Heartbeats and their answers: coalesced, one record each
		 * in the peer's run (src/transport/beats.c). */
		if (rk_net_beat_ok(&m[i])) {
			if (rk_net_beats_add(&p->beats, r->range, &m[i]) == 0) {
				n->stats.msgs_sent++;
				n->stats.beats_sent++;
			}
		} else if (rk_net_batch_add_raft(&p->batch, r->range, &m[i]) == 0) {
			n->stats.msgs_sent++;
		}
		if (p->batch.len + p->beats.len >= PEER_FRAME_BYTES)
			rk_peer_flush(n, p);
	}
}
