/*
 * Snapshots between nodes (snapshot.c says how).
 * Threads: the loop; the workers snapshot.c starts only queue completions.
 */
#ifndef RK_NODE_SNAPSHOT_H
#define RK_NODE_SNAPSHOT_H

#include "limit.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "codec.h"
#include "raft.h"
#include "store.h"

struct rk_node;
struct rk_replica;
struct snap_in;
struct snap_stream;

/* A snapshot send that ended (sent or failed), kept for
 * GET /api/v1/ranges/{id}/snapshots: the scheduler's driver reads a
 * move's bytes there after its stream is gone. */
struct rk_snap_sent {
	uint64_t range, node, sent, size;
	bool failed;
};
#define RK_SNAP_SENT_KEPT 64u

/* How long after its last use (made, a stream began or ended) a snapshot
 * holds its range's log for a peer still below it (compact.c): its
 * install, a stream that failed and is sent again. */
#define RK_SNAP_HOLD_MS 60000

struct rk_snaps {
	struct snap_stream *streams; /* being sent */
	/* Bytes of snapshot data this node sent (counter), and the last
	 * RK_SNAP_SENT_KEPT sends that ended, a ring. */
	uint64_t sent_bytes;
	struct rk_snap_sent ended[RK_SNAP_SENT_KEPT];
	uint32_t n_ended;
	uv_timer_t pump_timer;       /* moves them */
	/* --snapshot-rate, over every stream of the node (limit.h), and the
	 * pump's turns that left a stream waiting for it (counter). */
	struct rk_limit rate;
	uint64_t rate_waits;
	/* Ranges whose replica holds a snapshot file (one it made, or one it
	 * receives): rk_snap_sweep looks at these only. */
	uint64_t *held;
	size_t n_held, cap_held;
	size_t compact_cursor;       /* round-robin position of compaction */
	uint64_t log_bytes;          /* the node's logs (logkeep.h) */
};

/* The storage op: the latest snapshot's meta, or RK_EUNAVAILABLE while one
 * is being generated (started here when none is). */
int rk_snap_meta(struct rk_replica *r, struct rk_raft_snapshot_meta *metap);
/* Streams the snapshot of SNAP message m; m leaves after the last chunk. */
void rk_snap_send(struct rk_node *n, struct rk_replica *r,
		  const struct rk_raft_msg *m);
void rk_snap_pump(struct rk_node *n);
/* {"range": ID, "node_id": this node, "sends": [{"node_id": N, "sent": B,
 * "size": B, "state": "sending"|"sent"|"failed"}, ...]}: range's
 * snapshots being sent from here, then those that ended (newest first),
 * in exactly this layout (sched_run.c reads it without a JSON parser). */
void rk_snap_sends_json(struct rk_node *n, uint64_t range, struct rk_buf *out);
void rk_snap_shutdown(struct rk_node *n);
/* Removes the snapshot files nothing will read: one this node made and
 * no stream has read for RK_SNAP_KEEP_MS (a follower that needs one soon
 * after another gets the same file; later ones are made afresh from a
 * newer state anyway), and one being received that got no chunk for
 * RK_SNAP_IN_STALL_MS (its sender gave up or died). Periodic. */
void rk_snap_sweep(struct rk_node *n);
/* Whether a worker thread is busy with r's snapshots (install, generation,
 * sealing a received one): r cannot leave the node until it is done. */
bool rk_snap_busy(const struct rk_replica *r);
/* Whether append m, from node `from`, waits for the snapshot r is
 * receiving: it comes from the node sending the snapshot, in the term the
 * stream began in, and its entries follow an index r's log lacks and the
 * snapshot reaches. The core would reject it, and its leader, which
 * counts the snapshot as delivered once the last chunk is queued, would
 * take the rejection for a follower that lost it and send another from
 * the start (the append overtakes the last chunks on its own channel, or
 * arrives while the file is sealed). Not stepped: the install's
 * acknowledgement moves the leader on; a snapshot that stalls is dropped
 * (rk_snap_sweep) and appends are answered again. Another node's append,
 * or one of a later term, is answered as ever: a new leader's stream
 * replaces one its predecessor stopped sending (a sender stops when it
 * no longer leads in the stream's term), or it catches the follower up
 * from its log. */
bool rk_snap_append_waits(const struct rk_replica *r, uint64_t from,
			  const struct rk_raft_msg *m);
/* r leaves the node: drops its incoming snapshot and its generated one. */
void rk_snap_forget(struct rk_node *n, struct rk_replica *r);
/* Receiving: chunks, then the SNAP message once its file is sealed. */
int rk_snap_on_chunk(struct rk_node *n, const struct rk_net_chunk *c);
int rk_snap_on_msg(struct rk_node *n, uint64_t range, const struct rk_raft_msg *m);
/* The ready rd that installs its snapshot: the marker and state into
 * batch b, the log emptied unless rd->snapshot_keeps_log (a snapshot
 * this replica asked for, at an entry its log holds: only its state
 * machine is replaced); false when the data is not there. */
bool rk_snap_take(struct rk_node *n, struct rk_replica *r, const struct rk_raft_ready *rd,
		  struct rk_store_batch *b);
/* After that batch is durable: installs, then advances r. */
void rk_snap_install(struct rk_node *n, struct rk_replica *r);
#endif
