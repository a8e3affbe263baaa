/*
 * The handshake's checks and Hellos, shared by the dialing and the
 * accepting side (net.h describes the handshake, auth.h the proofs).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "net_int.h"

#define MOD "net"
/* Refused handshakes are logged at most REFUSE_BURST lines per
 * REFUSE_WINDOW_MS: a misconfigured node retries every few seconds and must
 * not flood the log; the lines held back are counted in the next one. */
#define REFUSE_BURST 5
#define REFUSE_WINDOW_MS 10000

void rk_net_remote_name(uv_tcp_t *tcp, char *out, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[64];

	snprintf(out, cap, "?");
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
		snprintf(out, cap, "%s:%d", host,
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
		snprintf(out, cap, "[%s]:%d", host,
			 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	}
}

/* Counts a refused handshake and logs why, within the rate limit. */
void rk_net_hs_refuse(struct rk_net *n, uv_tcp_t *tcp, const char *side,
		      const char *fmt, ...)
{
	uint64_t now = uv_now(n->loop);
	char why[256], who[80];
	va_list ap;

	n->st.refused++;
	if (now - n->refuse_window >= REFUSE_WINDOW_MS || n->refuse_window == 0) {
		n->refuse_window = now == 0 ? 1 : now;
		n->refuse_lines = 0;
	}
	if (n->refuse_lines >= REFUSE_BURST) {
		n->refuse_held++;
		return;
	}
	n->refuse_lines++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	rk_net_remote_name(tcp, who, sizeof(who));
	if (n->refuse_held > 0)
		rk_log_warn(MOD, "peer handshake refused: %s remote=%s side=%s (and %llu more not logged)",
			    why, who, side, (unsigned long long)n->refuse_held);
	else
		rk_log_warn(MOD, "peer handshake refused: %s remote=%s side=%s",
			    why, who, side);
	n->refuse_held = 0;
}

/* What is wrong with h, a Hello received by this node from the other end
 * (expect_from: the node id it must name, 0 for any peer), or NULL.
 *
 * A Hello on the join channel (netjoin.h) is the one exception to "only
 * peers": it comes from a node that is not in the cluster yet, so it may
 * name any node id (even a taken one: the join exchange refuses that with
 * a message the new node can print), no cluster (0: it learns the id from
 * our answer) and no node to reach (0: it knows only an address). Its
 * proof is checked like any peer's (rk_net_hs_proof_holds), and all that
 * can flow on it afterwards is the join exchange (node.c). */
const char *rk_net_hs_problem(const struct rk_net *n, const struct rk_net_hello *h,
			      uint64_t expect_from)
{
	bool join = h->channel == RK_NET_CH_JOIN;

	if (h->version != RK_NET_VERSION)
		return "another wire version";
	if (h->channel > RK_NET_CH_JOIN)
		return "an unknown channel";
	if (h->cluster_id != n->cfg.cluster_id && !(join && h->cluster_id == 0))
		return "another cluster";
	if (h->node_id == 0 || (h->node_id == n->cfg.node_id && !join))
		return "this node's own id";
	if (expect_from != 0 && h->node_id != expect_from)
		return "another node than the one dialed";
	if (expect_from == 0 && !join && rk_net_find_peer(n, h->node_id) == NULL)
		return "a node id that is not a peer";
	if (h->to_node_id != n->cfg.node_id && !(join && h->to_node_id == 0))
		return "a Hello meant for another node";
	return NULL;
}

/* Whether the proof in h from role holds over t; on false *whyp says why. */
bool rk_net_hs_proof_holds(const struct rk_net *n, enum rk_net_role role,
			   const struct rk_net_transcript *t,
			   const struct rk_net_hello *h, const char **whyp)
{
	return rk_net_hs_proof_check(n->has_key ? n->key : NULL, role, t, h, whyp);
}

bool rk_net_hs_proof_check(const uint8_t *key, enum rk_net_role role,
			   const struct rk_net_transcript *t,
			   const struct rk_net_hello *h, const char **whyp)
{
	*whyp = NULL;
	if (key == NULL && h->proof_len == 0)
		return true;
	if (key == NULL)
		*whyp = "the peer proves a cluster secret and this node has none";
	else if (h->proof_len == 0)
		*whyp = "the peer has no cluster secret and this node has one";
	else if (!rk_net_auth_check(key, role, t, h->proof, h->proof_len))
		*whyp = "the peer's proof does not match: another cluster secret";
	return *whyp == NULL;
}

/* Encodes our Hello (with a proof when we have a key) as a frame into out. */
int rk_net_hs_frame(const struct rk_net *n, uint64_t to, int channel,
		    const uint8_t *nonce, enum rk_net_role role,
		    const struct rk_net_transcript *t, struct rk_buf *out)
{
	return rk_net_hs_frame_by(n->cfg.node_id, n->cfg.cluster_id,
				  n->has_key ? n->key : NULL, to, channel, nonce, role, t,
				  RK_NET_FEATURES, out);
}

int rk_net_hs_frame_by(uint64_t self, uint64_t cluster, const uint8_t *key, uint64_t to,
		       int channel, const uint8_t *nonce, enum rk_net_role role,
		       const struct rk_net_transcript *t, uint32_t features, struct rk_buf *out)
{
	struct rk_net_hello h;
	struct rk_buf b;
	int rc;

	memset(&h, 0, sizeof(h));
	h.version = RK_NET_VERSION;
	h.node_id = self;
	h.cluster_id = cluster;
	h.channel = (uint32_t)channel;
	h.to_node_id = to;
	h.features = features;
	if (nonce != NULL) {
		memcpy(h.nonce, nonce, RK_NET_NONCE);
		h.nonce_len = RK_NET_NONCE;
	}
	if (t != NULL && key != NULL) {
		rk_net_auth_proof(key, role, t, h.proof);
		h.proof_len = RK_NET_PROOF;
	}
	rk_buf_init(&b);
	rc = rk_net_hello_encode(&h, &b);
	if (rc == 0)
		rc = rk_net_frame_append(out, b.p, b.len);
	rk_buf_free(&b);
	return rc;
}
