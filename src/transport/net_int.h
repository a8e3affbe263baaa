/*
 * The transport's inside, shared by net.c (connections) and handshake.c
 * (the handshake's checks): the structs and what one file calls of the
 * other. All on the loop's thread.
 */
#ifndef RK_NET_INT_H
#define RK_NET_INT_H

#include "auth.h"
#include "log.h"
#include "net.h"

#define HS_BUF 512 /* a Hello frame is about 110 bytes */

enum oc_state {
	OC_IDLE,       /* never connected (snapshot channel until first use) */
	OC_CONNECTING,
	OC_HANDSHAKE,  /* connected, our Hello sent, waiting for the acceptor's */
	OC_OPEN,
	OC_CLOSING,    /* tcp handle closing after a failure */
	OC_BACKOFF,    /* waiting for the timer to reconnect */
};

struct peer;

struct out_conn {
	struct peer *peer;
	int channel;
	enum oc_state state;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_write_t wreq;
	bool writing;
	struct rk_buf pending, inflight;
	uint64_t pending_frames, inflight_frames;
	unsigned backoff_ms;
	uint8_t nonce[RK_NET_NONCE]; /* ours, for this connection's handshake */
	uint8_t hs[HS_BUF];          /* the acceptor's Hello as it arrives */
	size_t hs_len;
	char rbuf[HS_BUF];
};

struct peer {
	struct rk_net *net;
	uint64_t id;
	struct sockaddr_storage addr;
	struct out_conn ch[2];
	struct rk_net_peer_stats st;
	struct peer *next;
};

enum ic_state {
	IC_HELLO,  /* waiting for the dialer's first Hello */
	IC_PROOF,  /* our Hello sent, waiting for the dialer's last one */
	IC_OPEN,   /* frames flow to on_frame */
};

struct in_conn {
	struct rk_net *net;
	uv_tcp_t tcp;
	uv_write_t wreq;
	struct rk_buf out; /* our Hello while it is written */
	uint8_t *buf;
	size_t len, cap;
	enum ic_state state;
	bool closing;
	struct rk_net_transcript t;
	uint64_t opened; /* uv_now when accepted */
	uint64_t from;
	int channel;
	uint32_t features; /* the dialer's Hello's */
	struct in_conn *next, *prev;
};

struct rk_net {
	uv_loop_t *loop;
	struct rk_net_config cfg;
	uv_tcp_t listener;
	uv_prepare_t prep;
	uv_timer_t sweep; /* closes incoming handshakes that take too long */
	struct sockaddr_storage src;
	bool bind_src;
	int port;
	struct peer *peers;
	struct in_conn *ins;
	struct rk_net_stats st;
	bool has_key;
	uint8_t key[RK_NET_KEY];
	uint64_t refuse_window;   /* start of the log window (uv_now) */
	unsigned refuse_lines;    /* logged in this window */
	uint64_t refuse_held;     /* not logged since the last line */
	struct rk_log_limit bad_log; /* connections closed for bad input */
	int handles;
	bool stopping;
	bool free_on_stop; /* a failed start: nobody holds it to free */
	void (*done)(void *arg);
	void *done_arg;
};

struct peer *rk_net_find_peer(const struct rk_net *n, uint64_t id);

/* "host:port" of the other end of tcp, or "?" */
void rk_net_remote_name(uv_tcp_t *tcp, char *out, size_t cap);
/* Counts a refused handshake and logs why (printf format), naming the
 * remote address of tcp and the side (dialer, acceptor), within the rate
 * limit. */
void rk_net_hs_refuse(struct rk_net *n, uv_tcp_t *tcp, const char *side,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* What is wrong with h, a Hello received from the other end (expect_from:
 * the node id it must name, 0 for any peer), or NULL. */
const char *rk_net_hs_problem(const struct rk_net *n, const struct rk_net_hello *h,
			      uint64_t expect_from);
/* Whether the proof in h from role holds over t (or neither side has a
 * secret); on false *whyp says why. */
bool rk_net_hs_proof_holds(const struct rk_net *n, enum rk_net_role role,
			   const struct rk_net_transcript *t,
			   const struct rk_net_hello *h, const char **whyp);
/* The same with key (NULL: no secret) instead of a transport's. */
bool rk_net_hs_proof_check(const uint8_t *key, enum rk_net_role role,
			   const struct rk_net_transcript *t,
			   const struct rk_net_hello *h, const char **whyp);
/* Appends our Hello as a frame to out: to the node `to`, with nonce when
 * not NULL, and with role's proof over t when t is not NULL and we have a
 * secret. */
int rk_net_hs_frame(const struct rk_net *n, uint64_t to, int channel,
		    const uint8_t *nonce, enum rk_net_role role,
		    const struct rk_net_transcript *t, struct rk_buf *out);
/* The same for node self of cluster, with key (NULL: no secret), saying
 * it reads features (RK_NET_FEAT_*; rk_net_hs_frame says RK_NET_FEATURES). */
int rk_net_hs_frame_by(uint64_t self, uint64_t cluster, const uint8_t *key, uint64_t to,
		       int channel, const uint8_t *nonce, enum rk_net_role role,
		       const struct rk_net_transcript *t, uint32_t features, struct rk_buf *out);

#endif
