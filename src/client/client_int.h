/*
 * Private to the client service: what the RESP server (server.c) and the
 * command layer (commands.c) share.
 *
 * A client command becomes a struct creq in its connection's FIFO. The
 * command layer answers it at once (PING, errors) or splits it into range
 * operations for the router; as their answers come back it combines them
 * (DEL sums counts, MGET gathers values, KRANGE moves on to the next range)
 * and marks the creq done. The server writes replies strictly in FIFO
 * order, so pipelined commands are answered in the order they came.
 */
#ifndef RK_CLIENT_INT_H
#define RK_CLIENT_INT_H

#include "buf.h"
#include "client.h"
#include "rangekv/resp.h"

struct conn;

/* One range operation's answer; its address is the router's callback
 * argument. Short replies (most are) live in small. */
struct frag {
	struct creq *q;
	int status;
	uint8_t *p;
	size_t len;
	uint8_t small[32];
};

/* A key a pending command touches (a hash of it), and how. */
struct keyref {
	uint64_t h;
	bool write;
	bool all; /* KRANGE: every key */
	struct creq *q;
};

struct creq {
	struct conn *conn;
	bool keys_held; /* its keyrefs are in the connection's table */
	struct rk_client_server *srv;
	struct creq *next;
	bool done;
	struct rk_buf reply;
	/* Range operations in flight and how to combine their answers. */
	int kind;
	bool write; /* its operations are writes (may apply) */
	uint32_t n_ops, n_done;
	struct frag *frags; /* &frag1 for a single operation */
	struct frag frag1;
	/* KRANGE: the end asked for, the page's start, the pairs still
	 * wanted and those gathered. */
	uint8_t *kr_end, *kr_start;
	size_t kr_elen, kr_slen;
	int64_t kr_left, kr_pairs;
	struct rk_buf kr_body;
};

struct rk_client_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_prepare_t flush;
	struct rk_client_router *router;
	rk_client_info_fn info;
	void *info_arg;
	struct rk_resp_limits lim;
	struct conn *conns;  /* every open connection */
	struct conn *dirty;  /* connections with replies to write this turn */
	bool stopping;
	uint32_t open_handles;
	void (*stop_done)(void *arg);
	void *stop_arg;
	struct rk_client_server_stats st;
};

/* commands.c: the commands the port knows, looked up once per command
 * (by name, case-insensitively) for both the ordering and the dispatch. */
enum rk_client_cmd_id {
	RK_CMD_UNKNOWN = 0,
	RK_CMD_GET,
	RK_CMD_SET,
	RK_CMD_DEL,
	RK_CMD_UNLINK,
	RK_CMD_EXISTS,
	RK_CMD_MGET,
	RK_CMD_MSET,
	RK_CMD_INCR,
	RK_CMD_DECR,
	RK_CMD_INCRBY,
	RK_CMD_DECRBY,
	RK_CMD_CAS,
	RK_CMD_SEQ_NEXT,
	RK_CMD_KRANGE,
	RK_CMD_PING,
	RK_CMD_ECHO,
	RK_CMD_QUIT,
	RK_CMD_COMMAND,
	RK_CMD_INFO,
};
/* The command named by cmd's first argument (RK_CMD_UNKNOWN if none). */
enum rk_client_cmd_id rk_client_cmd_lookup(const struct rk_resp_cmd *cmd);
/* Runs one parsed command (id as looked up) for q: answers it or starts
 * its operations. The command's arguments are valid during the call only. */
void rk_client_dispatch(struct creq *q, const struct rk_resp_cmd *cmd,
			enum rk_client_cmd_id id);
/* Calls fn for every key cmd (of id) reads or writes (all = a scan that
 * reads every key), so that a connection can keep its commands in order. */
void rk_client_cmd_keys(const struct rk_resp_cmd *cmd, enum rk_client_cmd_id id,
			void (*fn)(void *arg, uint64_t h, bool write, bool all),
			void *arg);
void rk_creq_free(struct creq *q);

/* The outcome of one operation as the command layer keeps it: status as the
 * router gave it (OK, REFUSED, RK_CLIENT_TRYAGAIN, RK_CLIENT_TIMEOUT), and
 * reply_lost when its reply could not be kept (no memory). */
int rk_client_part_status(int status, bool reply_lost, bool write);
/* How the outcomes of a command's n operations combine: 0 when every one
 * was answered (their replies combine), else the error the client gets,
 * RK_CLIENT_TIMEOUT or RK_CLIENT_TRYAGAIN. write: the operations are
 * writes. */
int rk_client_combine_status(const struct frag *f, uint32_t n, bool write);

/* server.c: q is answered (q->reply holds the reply): write it in turn. */
void rk_client_creq_done(struct creq *q);
/* The client asked to close after this reply (QUIT). */
void rk_client_conn_quit(struct conn *c);

#endif
