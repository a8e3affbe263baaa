/*
 * The wire format between nodes (proto/rangekv.proto, nanopb).
 *
 * Frames: [u32 length][u64 xxh3-64 of the payload][payload], integers little
 * endian; length counts the payload only and is at most RK_NET_FRAME_MAX.
 * The first frames of a connection carry the handshake's three Hellos (net.h),
 * every later frame on a raft connection a Batch.
 *
 * A Batch is built message by message into a growable buffer (a repeated
 * protobuf field is the concatenation of its elements, so nothing is
 * gathered first), and decoded through callbacks: the handler sees each
 * raft message as a struct rk_raft_msg whose entries' data point into the
 * frame (no copy). Anything malformed is RK_EPROTO; decoding never reads
 * outside the frame and allocates only the entry array it reuses.
 */
#ifndef RK_NET_CODEC_H
#define RK_NET_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "raft.h"
#include "rangekv/error.h"

#define RK_NET_FRAME_HDR 12
#define RK_NET_FRAME_MAX (64u << 20)
#define RK_NET_VERSION 2 /* 2: the three-way handshake */
#define RK_NET_MAX_ENTRIES_PER_MSG 65536

/* RK_NET_CH_JOIN: a new node's join exchange (netjoin.h), the one channel a
 * node that is not a peer may open. */
enum rk_net_channel { RK_NET_CH_RAFT = 0, RK_NET_CH_SNAP = 1, RK_NET_CH_JOIN = 2 };

#define RK_NET_NONCE 32 /* bytes of a handshake nonce */
#define RK_NET_PROOF 32 /* bytes of a handshake proof (keyed MAC) */

/* What a node of this release reads that an earlier release did not: sent
 * in its Hellos, so that the other side sends it nothing it would refuse
 * (a field an earlier release finds malformed). An earlier release sends
 * no bits (a protobuf field it does not know, left out) and ignores them. */
#define RK_NET_FEAT_JOIN_GROUP 1u /* a join answer's placement group nodes (netjoin.h) */
#define RK_NET_FEATURES RK_NET_FEAT_JOIN_GROUP

struct rk_net_hello {
	uint32_t version;
	uint64_t node_id;    /* the sender */
	uint64_t cluster_id;
	uint32_t channel;
	uint64_t to_node_id; /* whom the sender believes it speaks to */
	uint8_t nonce[RK_NET_NONCE];
	size_t nonce_len;    /* 0 or RK_NET_NONCE (decoding refuses others) */
	uint8_t proof[RK_NET_PROOF];
	size_t proof_len;    /* 0 or RK_NET_PROOF (decoding refuses others) */
	uint32_t features;    /* RK_NET_FEAT_* the sender reads */
};

struct rk_net_liveness {
	uint64_t epoch, seq, echo;
};

/* ---- frames ---- */

/* Appends a whole frame (header and payload) to out. */
int rk_net_frame_append(struct rk_buf *out, const void *payload, size_t len);
/* Looks at buf[0..len): RK_EAGAIN if a whole frame is not there yet; 0 with
 * *payloadp, *plenp and *framelenp (header included) if it is and its
 * checksum holds; RK_EPROTO for a bad length or checksum. */
int rk_net_frame_parse(const uint8_t *buf, size_t len, const uint8_t **payloadp,
		       size_t *plenp, size_t *framelenp);

/* ---- hello ---- */

int rk_net_hello_encode(const struct rk_net_hello *h, struct rk_buf *out);
int rk_net_hello_decode(const uint8_t *p, size_t n, struct rk_net_hello *hp);

/* ---- batches ---- */

/* Appends one raft message of range to the batch being built in out. */
int rk_net_batch_add_raft(struct rk_buf *out, uint64_t range,
			  const struct rk_raft_msg *m);
int rk_net_batch_add_liveness(struct rk_buf *out,
			      const struct rk_net_liveness *l);

struct rk_net_chunk {
	uint64_t range, index, offset;
	const uint8_t *data; /* points into the frame */
	size_t len;
	bool last;
};
int rk_net_batch_add_chunk(struct rk_buf *out, const struct rk_net_chunk *c);

struct rk_net_quiesce {
	uint64_t range, term, commit;
};
int rk_net_batch_add_quiesce(struct rk_buf *out, const struct rk_net_quiesce *q);

/* A forwarded client command and its answer (proto ClientReq/ClientResp). */
struct rk_net_req {
	uint64_t id, range;
	const uint8_t *cmd; /* points into the frame */
	size_t len;
	uint64_t generation; /* the range's, as the sender knows it; 0 unknown */
};
int rk_net_batch_add_req(struct rk_buf *out, const struct rk_net_req *r);

enum rk_net_resp_status {
	RK_NET_RESP_OK = 0,
	RK_NET_RESP_NOT_LEADER = 1,
	RK_NET_RESP_UNKNOWN = 2,
	RK_NET_RESP_NO_RANGE = 3,
	RK_NET_RESP_REFUSED = 4,
	/* The generation sent is not the range's, or the key is outside its
	 * span: certainly not applied; descs say where the key is now. */
	RK_NET_RESP_MISMATCH = 5,
	/* MISMATCH found when the command was applied: a key outside the
	 * span at its log index, after the session look-up found no record
	 * of its sequence number there. So not applied, then or before
	 * (docs/client.md, "Ordering on a connection"); descs as MISMATCH,
	 * for the key outside. A router that does not know it parks and
	 * retries, as for UNKNOWN. */
	RK_NET_RESP_OUTSIDE = 6,
};

/* Descriptors one answer may carry; a ClientResp with more is malformed. */
#define RK_NET_MAX_DESCS 4

struct rk_net_resp {
	uint64_t id;
	uint32_t status;
	uint64_t leader;
	const uint8_t *reply; /* points into the frame */
	size_t len;
	/* NO_RANGE, MISMATCH: descriptors in their stored form (desc.h), not
	 * checked by the codec; they point into the frame. */
	const uint8_t *descs[RK_NET_MAX_DESCS];
	size_t desc_lens[RK_NET_MAX_DESCS];
	uint32_t n_descs;
};
int rk_net_batch_add_resp(struct rk_buf *out, const struct rk_net_resp *r);

/* A replica removed from its range (proto Removed). */
struct rk_net_removed {
	uint64_t range, replica_id, conf_version;
	bool ask;
};
int rk_net_batch_add_removed(struct rk_buf *out, const struct rk_net_removed *m);

/* A replica's checksum for the node that proposed the check (proto
 * CheckReport). */
struct rk_net_check {
	uint64_t range, index, replica_id, checksum, check_id;
	bool failed;
};
int rk_net_batch_add_check(struct rk_buf *out, const struct rk_net_check *m);

struct rk_net_handlers {
	void *arg;
	/* m->entries[i].data point into the frame; valid during the call. A
	 * non-zero return stops decoding and is returned. */
	int (*raft)(void *arg, uint64_t range, const struct rk_raft_msg *m);
	void (*liveness)(void *arg, const struct rk_net_liveness *l);
	/* c->data points into the frame. Non-zero stops decoding and is
	 * returned. */
	int (*chunk)(void *arg, const struct rk_net_chunk *c);
	void (*quiesce)(void *arg, const struct rk_net_quiesce *q);
	/* Data point into the frame; valid during the call. */
	void (*req)(void *arg, const struct rk_net_req *r);
	void (*resp)(void *arg, const struct rk_net_resp *r);
	void (*removed)(void *arg, const struct rk_net_removed *m);
	void (*check)(void *arg, const struct rk_net_check *m);
};

/* Entry array reused across decodes (one per connection or thread). */
struct rk_net_scratch {
	struct rk_raft_entry *ents;
	size_t cap;
};
void rk_net_scratch_free(struct rk_net_scratch *s);

/* ---- coalesced heartbeats (beats.c) ---- */

/* Whether m can travel as a coalesced heartbeat record (a heartbeat or its
 * answer carrying nothing but range, from, to, term, context, commit). */
bool rk_net_beat_ok(const struct rk_raft_msg *m);
/* Appends m's record to beats, the run being gathered for one peer;
 * RK_EINVAL if m is not eligible. */
int rk_net_beats_add(struct rk_buf *beats, uint64_t range, const struct rk_raft_msg *m);
/* Appends the gathered run as the batch's beats field (nothing if empty);
 * once per batch. */
int rk_net_batch_add_beats(struct rk_buf *out, const struct rk_buf *beats);
/* Hands every record of a run to h->raft; RK_EPROTO if malformed, or the
 * handler's non-zero return. */
int rk_net_beats_decode(const uint8_t *p, size_t n, const struct rk_net_handlers *h);

int rk_net_batch_decode(const uint8_t *p, size_t n,
			const struct rk_net_handlers *h,
			struct rk_net_scratch *scratch);

#endif
