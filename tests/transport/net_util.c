/*
 * Helpers of the transport tests (net_util.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net_util.h"


static int on_frame(void *arg, uint64_t from, int channel,
		    const uint8_t *payload, size_t len)
{
	struct node *nd = arg;
	uint64_t seq;

	(void)from;
	if (len >= 8) {
		memcpy(&seq, payload, 8);
		if (channel == 0 && seq != nd->last_seq + 1 && seq != 0)
			nd->order_ok = false;
		if (channel == 0 && seq != 0)
			nd->last_seq = seq;
	}
	nd->frames[channel]++;
	return 0;
}

void node_config(struct rk_net_config *cfg, uint64_t id, const char *addr,
		 size_t queue_max)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->node_id = id;
	cfg->cluster_id = 42;
	cfg->listen_addr = addr;
	cfg->queue_max = queue_max;
	cfg->backoff_min_ms = 10;
	cfg->backoff_max_ms = 40;
}

void start_node_with(uv_loop_t *loop, struct node *nd, struct rk_net_config *cfg)
{
	char err[256];

	memset(nd, 0, sizeof(*nd));
	nd->id = cfg->node_id;
	nd->order_ok = true;
	cfg->on_frame = on_frame;
	cfg->arg = nd;
	assert_int_equal(rk_net_start(loop, cfg, &nd->net, err, sizeof(err)), 0);
}

void start_node(uv_loop_t *loop, struct node *nd, uint64_t id,
		const char *addr, size_t queue_max)
{
	struct rk_net_config cfg;

	node_config(&cfg, id, addr, queue_max);
	start_node_with(loop, nd, &cfg);
}

static void stopped(void *arg)
{
	((struct node *)arg)->stopped = true;
}

void stop_node(uv_loop_t *loop, struct node *nd)
{
	rk_net_stop(nd->net, stopped, nd);
	for (int i = 0; i < 2000 && !nd->stopped; i++)
		uv_run(loop, UV_RUN_NOWAIT), usleep(500);
	assert_true(nd->stopped);
	rk_net_free(nd->net);
	nd->net = NULL;
}

/* Runs the loop until *flag >= want or about two seconds pass. */
void run_until(uv_loop_t *loop, const int *flag, int want)
{
	for (int i = 0; i < 4000 && *flag < want; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(500);
	}
}

void peer_stats(struct rk_net *n, struct rk_net_peer_stats *st)
{
	assert_true(rk_net_peer_stats(n, st, 1) >= 1);
}

void send_seq(struct rk_net *n, uint64_t to, uint64_t seq, int channel)
{
	uint8_t payload[64];

	memset(payload, 0, sizeof(payload));
	memcpy(payload, &seq, 8);
	assert_int_equal(rk_net_send(n, to, channel, payload, sizeof(payload)), 0);
}

void connect_pair(uv_loop_t *loop, struct node *a, struct node *b)
{
	char addr[64];
	struct rk_net_peer_stats st;
	int connected = 0;

	start_node(loop, a, 1, "127.0.0.1:0", 0);
	start_node(loop, b, 2, "127.0.0.1:0", 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_net_port(b->net));
	assert_int_equal(rk_net_add_peer(a->net, 2, addr), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", rk_net_port(a->net));
	assert_int_equal(rk_net_add_peer(b->net, 1, addr), 0);
	for (int i = 0; i < 4000 && !connected; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		peer_stats(a->net, &st);
		connected = st.connected;
		usleep(500);
	}
	assert_true(connected);
}

