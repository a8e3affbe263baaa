/*
 * A replica's life on a node beyond the ranges it was started with:
 * created on demand, removed when its range no longer has it.
 *
 * Created: a raft message from a leader (append or heartbeat) for a range
 * this node does not host, addressed to a replica id above the range's
 * tombstone, creates an uninitialized replica: no descriptor, an empty
 * configuration and log, waiting for a snapshot (the leader sends one: its
 * log starts after what the new replica has). At or below the tombstone the
 * message is dropped: a removed replica never comes back. Its raft state is
 * written with its first ready, so a restart finds it (a raft state without
 * an apply state loads as uninitialized).
 *
 * Removed: a replica that applies a configuration without itself, hears
 * from a leader that it was removed (a Removed notice, sent by the leader
 * that applied the change), learns it by asking when it hears no leader
 * (rk_life_ask: a node whose configuration no longer has it answers, or
 * the placement index's descriptor of its range leaves it out; the
 * placement group's replica, whose range the index does not list, also
 * asks the nodes the group's leader last named as the group's), or
 * sees a message for a newer replica of its range on its node, stops taking messages and commands, answers
 * what waits on it (outcome unknown: the router retries elsewhere), and
 * once nothing of it is in flight (no persist, no snapshot work) is
 * removed from the store in one transaction with its tombstone (its
 * replica id + 1): its raft state, apply state, log and the data of its
 * span. A kill -9 before that transaction leaves the replica as it was; it
 * loads knowing it is not in its configuration and is removed again.
 *
 * Threads: the loop; the store transaction on the libuv thread pool.
 */
#ifndef RK_NODE_LIFE_H
#define RK_NODE_LIFE_H

#include <stdint.h>

#include "codec.h"
#include "desc.h"
#include "raft.h"

struct rk_node;
struct rk_replica;

/* Replicas visited (beyond the awake ones) by each round of asks. */
#define RK_LIFE_ASK_SLICE 1024
/* A replica that knows no leader also has its range's descriptor read
 * from the placement index (at most RK_LIFE_INDEX_PER_ROUND a round, each
 * range once per RK_LIFE_INDEX_MS): removed while its node was down, its
 * range may since have left every node of its own descriptor, and then
 * none is left to answer its ask. An index descriptor with a higher
 * configuration version that does not name its replica id says it was
 * removed (ids are never reused). */
#define RK_LIFE_INDEX_PER_ROUND 4u
#define RK_LIFE_INDEX_MS 30000u
/* A message for a range that is neither here nor in the range cache (a
 * range made by a split after this node started, a learner of it added
 * here by a move) has the range's descriptor read from the placement
 * index into the cache: the leader's next message then creates the
 * replica (a descriptor over a range this node holds is not learned: the
 * right half of a split its left replica has not applied yet is that
 * split's to create). Each range once per RK_LIFE_LEARN_MS, at most
 * RK_LIFE_LEARN_MAX reads in flight. */
#define RK_LIFE_LEARN_MS 1000u
#define RK_LIFE_LEARN_MAX 8u
struct rk_life_look;

/* A range's tombstone: its replica ids below min never come back here. */
struct rk_tomb {
	uint64_t range, min;
};

struct rk_life {
	struct rk_replica **pending; /* removing: waiting to be idle */
	size_t n, cap;
	/* Every tombstone of the store, by range (loaded at boot, added to by
	 * each removal): a message for an unknown range is checked here, never
	 * with a store read on the loop. Few: one per replica ever removed. */
	struct rk_tomb *tombs;
	size_t nt, tcap;
	size_t cursor; /* of the asks' round-robin */
	/* Ranges whose descriptor the placement index was asked for lately
	 * (life.c, "asking the index"): not again before RK_LIFE_INDEX_MS. */
	struct rk_life_look *looks;
	size_t nl, lcap;
	uint32_t looks_this_round;
	/* Unknown ranges whose descriptor was asked for lately (learn). */
	struct rk_life_look *learns;
	size_t nn, ncap;
	uint32_t learning; /* reads in flight */
	uint64_t created, removed;
	/* Messages that made no replica: their range's span starts inside a
	 * range held here whose split has not applied here yet (life.c). */
	uint64_t split_pending;
};

/* Loads the store's tombstones (boot, after interrupted removals were
 * redone). */
int rk_life_load_tombs(struct rk_node *n);
/* The lowest replica id of range still allowed on this node (0: any). */
uint64_t rk_life_tomb(const struct rk_node *n, uint64_t range);
/* Raises range's tombstone to min, never lowers it (the store's is written
 * by the removal; this is the loop's copy). RK_ENOMEM changes nothing. */
int rk_life_tomb_raise(struct rk_node *n, uint64_t range, uint64_t min);

/* The replica m (from node from) creates, or NULL when m may not create
 * one (not from a leader, at or below the tombstone, out of memory). */
struct rk_replica *rk_life_create(struct rk_node *n, uint64_t range,
				  const struct rk_raft_msg *m, uint64_t from);
/* r is no longer a replica of its range: it leaves the node. */
void rk_life_remove(struct rk_node *n, struct rk_replica *r, const char *why);
/* The leader r applied a change: tells the nodes of the replicas old had
 * and r's descriptor no longer has. */
void rk_life_notify(struct rk_node *n, struct rk_replica *r,
		    const struct rk_desc *old);
/* The transport's handler of Removed notices. */
void rk_life_on_removed(void *arg, const struct rk_net_removed *m);
/* One round of asks (every two election timeouts): the replicas that know
 * no leader, awake ones and a slice of the others, ask the other nodes of
 * their range whether they are still in its configuration. */
void rk_life_ask(struct rk_node *n);
/* Removes the replicas that became idle (each tick). */
void rk_life_tick(struct rk_node *n);
void rk_life_free(struct rk_node *n);

#endif
