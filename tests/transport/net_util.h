/*
 * Helpers of the transport tests: a transport with a frame counter
 * ("node"), a loop runner, and a connected pair.
 */
#ifndef RK_TEST_NET_UTIL_H
#define RK_TEST_NET_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "net.h"

struct node {
	struct rk_net *net;
	uint64_t id;
	int frames[2];
	uint64_t last_seq;
	bool order_ok;
	bool stopped;
};

/* The tests' defaults: cluster 42, backoff 10-40 ms. */
void node_config(struct rk_net_config *cfg, uint64_t id, const char *addr,
		 size_t queue_max);
/* Starts a transport counting the frames it receives in nd->frames. */
void start_node_with(uv_loop_t *loop, struct node *nd, struct rk_net_config *cfg);
void start_node(uv_loop_t *loop, struct node *nd, uint64_t id,
		const char *addr, size_t queue_max);
void stop_node(uv_loop_t *loop, struct node *nd);
/* Runs the loop until *flag >= want or about two seconds pass. */
void run_until(uv_loop_t *loop, const int *flag, int want);
void peer_stats(struct rk_net *n, struct rk_net_peer_stats *st);
void send_seq(struct rk_net *n, uint64_t to, uint64_t seq, int channel);
/* Nodes 1 and 2, each the other's peer, connected both ways. */
void connect_pair(uv_loop_t *loop, struct node *a, struct node *b);

#endif
