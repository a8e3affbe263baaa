/*
 * Node liveness: every node sends each peer a liveness heartbeat once per
 * interval (--tick-ms), whatever its ranges do. A quiescent range trusts
 * its leader as long as that leader's node is live; when a node is
 * declared dead the ranges it led elect again (elect.h, orphans), and when
 * it restarts (a new epoch) its sleeping followers are told who leads.
 *
 * Time is counted in rounds of this node's own liveness timer, not wall
 * time: a node whose loop runs late reads its peers' frames late too, and
 * must not take its own slowness for their death. The decision is a pure
 * function of the rounds (rk_live_is_dead), unit-tested on a fake clock.
 */
#ifndef RK_NODE_LIVE_H
#define RK_NODE_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "codec.h"

struct rk_node;
struct rk_peer;

/* What this node knows of one peer's liveness. */
struct rk_live_peer {
	uint64_t heard;     /* round of its last frame on the raft channel */
	bool alive;
	uint64_t seq_heard; /* its last liveness seq */
	uint64_t epoch;     /* its liveness epoch (start time), 0 until heard */
};

/* This node's side. */
struct rk_live {
	uv_timer_t timer;
	uint64_t round; /* rounds of the timer so far (the liveness seq) */
	uint64_t beat_round; /* the round of the last beat sent */
	uint64_t epoch; /* distinct for every start of this node */
	uint64_t deaths;
};

/* A peer is dead once nothing has come from it for LIVE_DEAD_CLOSED
 * rounds while our connection to it is down (it closed the connection or
 * refuses a new one: the process is gone, as after a kill -9), or for
 * LIVE_DEAD_SILENT rounds whatever the connection (a hung or cut-off
 * node). A live but overloaded node keeps its connections: it gets the
 * long timeout, so that its slowness does not wake a third of the ranges
 * and make it slower. */
#define RK_LIVE_DEAD_CLOSED 3
#define RK_LIVE_DEAD_SILENT 40
/* A liveness heartbeat goes to every peer every RK_LIVE_BEAT_ROUNDS
 * rounds (the death checks run every round): an idle node's CPU is
 * mostly its loop's wakeups and its frames' system calls (three
 * quarters of it in the kernel at 100,000 sleeping ranges,
 * docs/benchmarks.md), and a beat each tick was a frame to send and one
 * to take in per peer 20 times a second. RK_LIVE_DEAD_CLOSED keeps the
 * one round of margin over the longest normal silence (the beat's
 * interval) that it had with a beat each round. */
#define RK_LIVE_BEAT_ROUNDS 2

/* Pure: whether a peer last heard in round `heard` is dead in round `now`,
 * given whether our connection to it is up. */
bool rk_live_is_dead(uint64_t now, uint64_t heard, bool connected);

/* Starts the liveness timer (every tick_ms). */
void rk_live_start(struct rk_node *n);

/* A frame from peer p arrived on the raft channel: p is heard in this
 * round; a dead peer is live again (the ranges this node leads whose
 * replica there is behind wake to catch it up). */
void rk_live_heard(struct rk_node *n, struct rk_peer *p);

/* A liveness heartbeat from the peer the frame came from (n->cur_from). */
void rk_live_on_msg(void *arg, const struct rk_net_liveness *l);

#endif
