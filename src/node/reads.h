/*
 * Reads served off the event loop (reads.c says why).
 *
 * Once a read's barrier has released it and the state readers see has
 * caught up (serve.c), the loop hands it to a small pool of reader
 * threads, each with a storage reader of its own; the answer comes back to
 * the loop (uv_async) and leaves from there. A read of a leaf page not in
 * the storage cache then waits on its thread, not on the loop that every
 * connection, replica and peer of the node shares.
 */
#ifndef RK_NODE_READS_H
#define RK_NODE_READS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "reqset.h"

struct rk_node;
struct rk_replica;
struct rk_read_job;
struct rk_store_reader;

/* Reader threads per node: a read that misses the cache blocks one of
 * them, and the others go on with reads of cached pages. */
#define RK_READ_THREADS 3

struct rk_reads {
	uv_mutex_t mu; /* guards todo, done, stop */
	uv_cond_t cv;  /* todo became non-empty, or stop */
	uv_thread_t th[RK_READ_THREADS];
	struct rk_store_reader *rd[RK_READ_THREADS];
	unsigned nth;    /* threads started */
	struct rk_read_job *todo, *todo_tail, *done, *done_tail;
	bool stop;
	uv_async_t wake; /* a job is done */
	bool started;
	/* Loop only. Bumped when a replica's span may be cleared or replaced
	 * under a read in flight (its removal, a snapshot install): a job
	 * handed off before gets UNKNOWN (the router retries it), never an
	 * answer read from a half-cleared span. */
	uint64_t epoch;
	uint64_t in_flight;  /* reads handed off, not answered */
	uint64_t total;      /* reads handed to the threads */
	uint64_t voided;     /* of them, answered UNKNOWN: their span changed */
	/* Loop only: the (origin, id) of every read with the threads. A copy
	 * the router resent (it resends after a second without an answer)
	 * while the first still waits on the disk is dropped, not read again:
	 * the first copy's answer answers it. */
	struct rk_reqset pending;
	uint64_t resent_dropped;
	/* Test hook (RANGEKV_TEST_READ_DELAY_MS): each read of a key with
	 * this prefix waits so long on its thread, a read that misses the
	 * cache. */
	unsigned delay_ms;
	char delay_prefix[64];
};

/* Starts the threads and their readers (loop thread, before the node
 * serves). 0, or RK_ENOMEM/RK_EIO with nothing left running. */
int rk_reads_start(struct rk_node *n);
/* Stops and joins the threads after the one job each may be running;
 * jobs not answered yet are dropped (the node is stopping: their clients'
 * connections close). Closes the async handle: call before the loop's
 * last run, and before the store closes. Safe if never started. */
void rk_reads_close(struct rk_node *n);
/* Loop thread: hands the released read (origin, id, cmd of len bytes) of
 * r to the threads. *jobp gathers a replica's reads of one pass: NULL at
 * first; rk_reads_submit sends it. Takes cmd (freed with the job) on
 * success; on failure returns RK_ENOMEM (no memory) or RK_EEXIST (a
 * resent copy of a read still with the threads: the caller drops it, the
 * first copy's answer answers both), and cmd stays the caller's. */
int rk_reads_add(struct rk_node *n, struct rk_replica *r, struct rk_read_job **jobp,
		 uint64_t origin, uint64_t id, uint8_t *cmd, size_t len);
void rk_reads_submit(struct rk_node *n, struct rk_read_job *job);
/* Loop thread: reads in flight must not be answered from what they read
 * (see epoch). */
void rk_reads_void(struct rk_node *n);

#endif
