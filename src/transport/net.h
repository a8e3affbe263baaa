/*
 * rk_net: the node-to-node transport on libuv.
 *
 * Each node keeps, per peer node, one outgoing TCP connection for raft
 * traffic and a separate one for snapshot streams, so a large snapshot
 * never delays heartbeats; a pair of nodes therefore has two raft
 * connections, one each way. Outgoing connections bind the host of the
 * node's own peer address as their source.
 *
 * Sending queues a frame (codec.h) on the peer's channel; everything queued
 * during one loop turn is written with one write per connection just
 * before the loop waits for I/O (a uv_prepare handle). While a write is in
 * flight, new frames gather for the next one. A queue holds at most
 * queue_max bytes: a frame beyond it is dropped and counted (raft
 * retransmits; the snapshot sender waits for room instead, see
 * rk_net_room). A broken or refused connection is retried with exponential
 * backoff; frames queued meanwhile wait within the same bound.
 *
 * The handshake: every connection opens with three Hellos (codec.h). The
 * dialer sends its version, node id, cluster id, channel, the node id it
 * means to reach and a fresh nonce; the acceptor checks them and answers
 * with the same about itself and its own nonce; the dialer checks that
 * answer and sends a last Hello, and only then its queued frames. Each side
 * refuses (closes, counts in `refused`, and logs one rate-limited line
 * naming the remote address and the ids) another version or cluster, its
 * own node id, a node that is not the one dialed, and, on the accepting
 * side, a node id that is not a peer (rk_net_add_peer; the join channel
 * below is the one exception). With a cluster
 * secret (cfg.secret) the acceptor's answer and the dialer's last Hello
 * carry a keyed MAC over both nonces and both ids (auth.h): a node with
 * another secret, or none, is refused both ways, and a recorded handshake
 * cannot be replayed. Without a secret the checks stop misconfigured nodes,
 * not an attacker who can reach the port (docs/security.md).
 *
 * Receiving: a frame that fails its checksum or length check, or anything
 * a frame handler rejects closes that one connection and is counted; the
 * node goes on serving everyone else.
 *
 * All calls on the loop's thread.
 */
#ifndef RK_NET_H
#define RK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "codec.h"

struct rk_net;

/* A frame payload from peer `from` on channel. Returning non-zero marks the
 * frame bad: the connection is closed and counted. */
typedef int (*rk_net_frame_fn)(void *arg, uint64_t from, int channel,
			       const uint8_t *payload, size_t len);

struct rk_net_config {
	uint64_t node_id;
	uint64_t cluster_id;      /* must be equal on both sides of a connection */
	/* The cluster secret (NULL/0: none); only a key made from it is kept,
	 * the caller may wipe it after rk_net_start. */
	const uint8_t *secret;
	size_t secret_len;
	const char *listen_addr;  /* host:port (port 0: ephemeral, tests) */
	size_t queue_max;         /* bytes per connection queue (default 8 MiB) */
	unsigned backoff_min_ms;  /* default 50 */
	unsigned backoff_max_ms;  /* default 2000 */
	/* A handshake must complete within this (default 5000): the dialer
	 * waiting for the answer, the acceptor for the last Hello. */
	unsigned handshake_ms;
	rk_net_frame_fn on_frame;
	void *arg;
};

struct rk_net_peer_stats {
	uint64_t node_id;
	bool connected;          /* raft channel, outgoing */
	uint64_t frames_sent, bytes_sent, writes;
	uint64_t frames_recv, bytes_recv;
	uint64_t dropped;        /* frames refused by a full queue */
	uint64_t connects;       /* outgoing connections established */
};

struct rk_net_stats {
	uint64_t bad_frames;     /* connections closed for bad input */
	uint64_t refused;        /* handshakes refused (either side) */
	uint64_t accepted;
};

/* Listens on cfg->listen_addr. RK_EADDRINUSE / RK_EADDR with a one-line
 * reason in err. */
int rk_net_start(uv_loop_t *loop, const struct rk_net_config *cfg,
		 struct rk_net **np, char *err, size_t errlen);
/* Closes every connection and the listener; done(arg) runs once all
 * handles are closed. From the call on, sends and new peers are refused
 * (RK_ESTOPPED) and rk_net_room is 0; the statistics stay readable. The
 * memory stays until rk_net_free, after done. */
void rk_net_stop(struct rk_net *n, void (*done)(void *arg), void *arg);
/* Frees a transport whose stop is done (NULL: nothing). */
void rk_net_free(struct rk_net *n);
/* The port actually bound (for listen addresses with port 0). */
int rk_net_port(const struct rk_net *n);

/* Whether a connected TCP handle is connected to itself (a connection to a
 * local port where nothing listens can be: TCP simultaneous open). The
 * transport treats such a connection as refused. */
bool rk_net_self_connected(uv_tcp_t *tcp);

int rk_net_add_peer(struct rk_net *n, uint64_t node_id, const char *addr);

/* Queues payload as one frame to peer on channel. RK_ESTOPPED once
 * stopping, RK_ENOTFOUND for an unknown peer, RK_EBUSY when the queue is full (the frame is dropped and
 * counted), RK_ETOOBIG above the frame limit. */
int rk_net_send(struct rk_net *n, uint64_t peer, int channel,
		const void *payload, size_t len);
/* Bytes the peer's channel queue can still take. */
size_t rk_net_room(const struct rk_net *n, uint64_t peer, int channel);
/* Writes what is queued now instead of at the end of the turn. */
void rk_net_flush(struct rk_net *n);

/* The join channel (RK_NET_CH_JOIN, netjoin.h): a node that is not a peer
 * may open it, with the cluster secret's proof when one is set, and send
 * frames of at most RK_NET_JOIN_FRAME_MAX bytes for at most
 * RK_NET_JOIN_OPEN_MS, which reach on_frame with
 * that channel. The answer goes back on the same connection: the frame
 * payload to the open join connection from node `from` (RK_ENOTFOUND when
 * it has closed). */
#define RK_NET_JOIN_FRAME_MAX (64u << 10)
/* A join connection is closed this long after it was accepted, answered
 * or not (the member answers well within it, join.h). */
#define RK_NET_JOIN_OPEN_MS 60000u
int rk_net_join_reply(struct rk_net *n, uint64_t from, const void *payload, size_t len);
/* What the new node `from` on an open join connection said it reads in its
 * Hello (RK_NET_FEAT_*, codec.h); 0 for none, or no such connection. */
uint32_t rk_net_join_features(struct rk_net *n, uint64_t from);

void rk_net_stats(const struct rk_net *n, struct rk_net_stats *stp);
/* Fills up to max peers' statistics; returns how many peers there are. */
size_t rk_net_peer_stats(const struct rk_net *n, struct rk_net_peer_stats *out,
			 size_t max);

#endif
