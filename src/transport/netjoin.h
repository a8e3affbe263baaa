/*
 * The join exchange (docs/placement.md, "Joining a cluster"): how a node
 * that is not in the cluster yet asks a member to register it, and learns
 * what its first start needs.
 *
 * The new node dials a member's peer address on the join channel
 * (RK_NET_CH_JOIN, net.h). The handshake is the peers' (three Hellos, the
 * cluster secret's proofs both ways when one is set) except that the new
 * node names no cluster and no node to reach: it learns both from the
 * member's Hello, and a member accepts its unknown node id on this channel
 * only. Then one request frame goes one way and one answer frame the
 * other; the new node closes the connection.
 *
 * Payloads (integers little endian; str: u32 length | bytes):
 *   request  u8 'J' | u8 version (1) | u64 node id | str peer address |
 *            str client address | str HTTP address | str settings given
 *            (settings.h's record lines of the flags given, "" if none)
 *   answer   u8 'A' | u8 version (1) | i32 rc (0: joined) | str message
 *            (why not, when rc != 0) | u64 member's node id | u64 cluster
 *            id | str initial cluster ("ID=HOST:PORT,...") | str cut
 *            ("--ranges N" or "--split-at ...") | str replicas per range |
 *            str cluster settings (settings.h's record) | str nodes added
 *            since the first start ("ID=HOST:PORT,...") [| str nodes of
 *            the placement group's replicas as the member knows them
 *            ("ID,ID,...")]
 * The last field is optional, and never empty when present (one
 * encoding per message): a member of an earlier release leaves it out (the new node then starts from the group's first-start nodes, and
 * finds where it went through any live peer, plc.h); a member leaves it
 * out too for a new node whose Hello does not say it reads it
 * (RK_NET_FEAT_JOIN_GROUP, codec.h: a node of an earlier release, which
 * would refuse an answer that has it as malformed).
 * The strings of a decoded message point into the payload (nothing to
 * free); anything malformed, truncated or followed by more bytes is
 * RK_EPROTO.
 *
 * Threads: the codec on any; rk_net_join_call blocks its caller (the new
 * node calls it before its loop runs).
 */
#ifndef RK_NET_NETJOIN_H
#define RK_NET_NETJOIN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "rangekv/error.h"

#define RK_NET_JOIN_VERSION 1

struct rk_net_str {
	const char *p;
	size_t len;
};

struct rk_net_join_req {
	uint64_t node_id;
	struct rk_net_str peer, client, http, settings;
};

struct rk_net_join_ans {
	int32_t rc;
	struct rk_net_str msg;
	uint64_t member, cluster_id;
	struct rk_net_str cluster, cut, replicas, settings, nodes;
	/* Encoded only when not empty (a refusal carries none); empty when
	 * the answer leaves it out. */
	struct rk_net_str group;
};

int rk_net_join_req_encode(const struct rk_net_join_req *r, struct rk_buf *out);
int rk_net_join_req_decode(const uint8_t *p, size_t len, struct rk_net_join_req *rp);
int rk_net_join_ans_encode(const struct rk_net_join_ans *a, struct rk_buf *out);
int rk_net_join_ans_decode(const uint8_t *p, size_t len, struct rk_net_join_ans *ap);

/* A C string of s (NUL-free, shorter than cap) into dst; RK_EPROTO if it
 * does not fit or holds a NUL. */
int rk_net_str_copy(struct rk_net_str s, char *dst, size_t cap);

struct rk_net_join_opts {
	const char *addr;      /* the member's peer address, HOST:PORT */
	const char *src_host;  /* bind outgoing connections to it (NULL: any) */
	uint64_t node_id;      /* this new node's */
	const uint8_t *secret; /* the cluster secret (NULL/0: none) */
	size_t secret_len;
	/* Connection attempts are repeated (a member restarting) until this
	 * many ms have passed since the call; the answer is awaited at most
	 * answer_ms after the request went out. */
	unsigned connect_ms, answer_ms;
	/* What this node says it reads (RK_NET_FEAT_*, codec.h): normally
	 * RK_NET_FEATURES; the member leaves out of its answer what it lacks. */
	uint32_t features;
};

/* Runs the exchange with req: 0 with the answer's payload in *answerp
 * (the caller decodes it: a refusal is an answer too); else RK_EADDR (a
 * bad address), RK_ECONN (no connection within connect_ms, or closed by
 * the member: its handshake refused us), RK_EFOREIGN (the member's Hello
 * or proof is wrong: another cluster secret, none, another version),
 * RK_ETIMEDOUT (no answer), with a one-line reason in err. */
int rk_net_join_call(const struct rk_net_join_opts *o, const struct rk_net_join_req *req,
		     struct rk_buf *answerp, char *err, size_t errlen);

#endif
