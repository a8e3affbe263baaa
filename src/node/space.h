/*
 * Free space on the data disk: the node refuses client writes before the
 * disk is full (etcd's space quota, as a free-space floor).
 *
 * Once a second (a timer, never on the request path; every 100 ms when
 * the free space is within twice the floor) the node reads the free space
 * of its data directory's filesystem (statvfs: what an unprivileged
 * process may still write), less what its store may still take for the
 * writes it was given (rk_store_pending_bytes: the next checkpoints' table
 * writes and one log file), so that neither what arrives between two
 * readings nor a checkpoint after the refusal fills the disk. Below
 * --min-free-space the node
 * is out of space: the ranges it leads answer new writes with a NOSPACE
 * error (certainly not applied) while reads and DEL are served as before
 * (DEL frees space); raft log appends of entries already accepted, and the
 * entries of ranges other nodes lead, go on in the room the floor leaves.
 * When the free space is back at the floor, writes are taken again.
 *
 * Threads: the node's event loop only.
 */
#ifndef RK_NODE_SPACE_H
#define RK_NODE_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

struct rk_node;

struct rk_space {
	uv_timer_t timer;
	bool started;
	bool no_space;       /* writes are refused */
	bool known;          /* a reading was made */
	uint64_t free_bytes; /* last reading */
	uint64_t pending_bytes; /* the store's pending writes at that reading */
	uint64_t total_bytes;
	uint64_t min_free;   /* the floor in effect (0: none) */
	uint64_t refused;    /* client writes refused for it */
	uint64_t episodes;   /* times the node went out of space */
};

/* Reads the free space now and starts the once-a-second watch. */
void rk_space_start(struct rk_node *n);
/* Stops and closes the timer (the loop runs the close afterwards). */
void rk_space_stop(struct rk_node *n);
/* Reads the free space now (the timer's work; the test hooks call it after
 * changing what it reads). */
void rk_space_check(struct rk_node *n);
/* Whether a client write must be refused for lack of space; if so, its
 * RESP error reply is appended to reply and the refusal counted. */
bool rk_space_refuse_write(struct rk_node *n, struct rk_buf *reply);

#endif
