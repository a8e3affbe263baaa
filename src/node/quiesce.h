/*
 * Quiescence: sleeping ranges cost no CPU and send no heartbeats.
 *
 * A leader puts its range to sleep once, for RK_QUIESCE_AFTER_TICKS ticks
 * in a row, everything is settled (rk_quiesce_settled): every follower on a
 * live node holds the whole log (a majority of voters among them and the
 * leader), it is all committed and applied, nothing is being persisted or
 * transferred. A follower on a dead node is left behind: the range wakes
 * to catch it up when the node is back (rk_quiesce_peer_returned). The
 * leader tells its followers in a quiescence notice; each sleeps only at
 * exactly that term and commit with that leader (rk_quiesce_follower_sleeps).
 * Anything that arrives for the range, a proposal, or the death of the
 * leader's node wakes it.
 *
 * Leases: a sleeping leader holds none (waking voids it), and leases and
 * vote refusals are measured by the clock, which runs while a range sleeps.
 *
 * The decisions are pure functions over a raft status and tick counts,
 * unit-tested; the rest applies them.
 */
#ifndef RK_NODE_QUIESCE_H
#define RK_NODE_QUIESCE_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "elect.h"
#include "raft.h"

struct rk_node;
struct rk_peer;
struct rk_replica;

#define RK_QUIESCE_AFTER_TICKS 5

/* ---- pure decisions ---- */

/* Whether a leader with status st (and applied index `applied`) is settled:
 * see above. alive(arg, node) tells whether a follower's node is live. */
bool rk_quiesce_settled(const struct rk_raft_status *st, uint64_t applied,
			rk_elect_live_fn alive, void *arg);

/* Counts ticks the settled test held in a row (*quiet); true once the range
 * should sleep. */
bool rk_quiesce_tick(uint32_t *quiet, bool settled);

/* A follower told to sleep by `leader` at (term, commit): whether it may,
 * i.e. it holds exactly that log, committed and applied, under that leader. */
bool rk_quiesce_follower_sleeps(const struct rk_raft_status *st, uint64_t applied,
				uint64_t term, uint64_t leader, uint64_t commit);

/* A replica asleep since its node started, told (term, commit) by the
 * leader: it may follow at once only if its log ends exactly at that
 * commit and it has committed that much (then both logs are the same). */
bool rk_quiesce_can_follow(const struct rk_raft_status *st, uint64_t term,
			   uint64_t commit);

/* ---- the node's replicas ---- */

/* Puts r to sleep / wakes it (it is ticked again; its lease is void). */
void rk_node_sleep(struct rk_node *n, struct rk_replica *r);
void rk_node_wake(struct rk_node *n, struct rk_replica *r);

/* On every tick of an awake replica: a settled leader counts toward
 * sleeping, and sleeps (telling its followers) once it has counted enough. */
void rk_quiesce_maybe(struct rk_node *n, struct rk_replica *r);

/* A quiescence notice from the node of n->cur_from. */
void rk_quiesce_on_msg(void *arg, const struct rk_net_quiesce *q);

/* A follower with a pending notice sleeps if caught up. */
void rk_node_sleep_pending(struct rk_node *n, struct rk_replica *r);

/* Peer p heard from again after it was dead: the sleeping ranges this node
 * leads whose replica there is behind wake and catch it up. */
void rk_quiesce_peer_returned(struct rk_node *n, struct rk_peer *p);

/* Peer p restarted (or is heard for the first time): every sleeping range
 * this node leads tells it who leads, in a quiescence notice. */
void rk_quiesce_tell(struct rk_peer *p, struct rk_replica *r);

#endif
