/*
 * Processing replicas and the group commit.
 *
 * A turn: timers tick the replicas, the transport delivers batches of
 * messages into them, and every replica touched is marked dirty. An idle
 * handle (it keeps the loop from blocking while anything is dirty) then
 * processes the dirty set at the start of the next turn: each replica with
 * a ready hands over its messages that may leave at once (encoded into the
 * batch for their peer node), and its hard state, entries and apply state
 * go into ONE store batch for all of them (group commit); one frame per
 * peer node is queued, and the transport writes it just before the loop
 * next waits. When the store reports the batch durable (on its thread,
 * which only queues the completion and wakes the loop), each replica sends
 * the messages that had to wait for durability, advances, and is processed
 * again if it has more. A replica has at most one ready in flight; many
 * replicas share each flush.
 */
#ifndef RK_NODE_PROCESS_H
#define RK_NODE_PROCESS_H

#include <pthread.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

struct rk_node;
struct rk_replica;
struct commit;

struct rk_process {
	uv_idle_t idle;  /* processes the dirty set */
	uv_async_t wake; /* the storage thread's completions */
	struct rk_replica *dirty, *dirty_tail; /* to process, FIFO */
	/* Completed group commits, queued by the storage thread. */
	pthread_mutex_t mu;
	struct commit *done;
	uint64_t in_flight;
	struct rk_buf blob; /* apply state being encoded */
	/* An apply wrote something that must be durable before messages
	 * leave (a split's right-half campaign, split.c): the group commit
	 * being built is synced. */
	bool sync_wanted;
};

/* Sets up the handles on n's loop (n->proc must be zeroed). */
void rk_process_init(struct rk_node *n);
/* Frees what init and the turns allocated; the handles are closed by the
 * node with the loop's other handles. */
void rk_process_close(struct rk_node *n);

/* r is processed at the start of the next turn (once, however often it is
 * marked). */
void rk_node_mark_dirty(struct rk_node *n, struct rk_replica *r);

/* The next turn processes, even with nothing dirty (this node's own
 * client requests wait in n->inbox). */
void rk_process_kick(struct rk_node *n);

/* After r's persist is durable: late messages, advance, more work. */
void rk_node_replica_persisted(struct rk_node *n, struct rk_replica *r);

#endif
