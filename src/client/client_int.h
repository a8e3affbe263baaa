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
struct scanq;
struct rk_client_cursors;

/* What the port knows of one connection (CLIENT, AUTH, MULTI). */
struct rk_client_connstate {
	uint64_t id;        /* CLIENT ID: unique in this process, from 1 */
	bool authed;        /* AUTH passed, or no password is set */
	/* A MULTI was refused: the commands up to EXEC or DISCARD are not
	 * run, so that a transaction is never applied in part. */
	bool multi_refused;
	char *name;         /* CLIENT SETNAME; NULL: none */
	char *lib_name, *lib_ver; /* CLIENT SETINFO */
	uint64_t created_ms, last_ms; /* loop time */
	char addr[64], laddr[64];     /* peer and local address */
};

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
	size_t in_bytes; /* its request's bytes, counted in admission */
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
	struct scanq *scan; /* SCAN, KEYS, DBSIZE (scan.c) */
	/* A single operation's answer reshaped (strings.c): SETNX's PUT,
	 * STRLEN's and GETRANGE's GET, TYPE's and TTL's EXISTS. */
	int shape;
	int64_t gr_start, gr_end; /* GETRANGE's offsets */
};

enum rk_client_shape {
	RK_SHAPE_NONE = 0,
	RK_SHAPE_SETNX,
	RK_SHAPE_STRLEN,
	RK_SHAPE_GETRANGE,
	RK_SHAPE_TYPE,
	RK_SHAPE_TTL,
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
	/* Admission (rk_client_server_set_inflight): st.inflight_bytes
	 * against max_inflight; full while no connection may be read. */
	uint64_t max_inflight;
	bool full;
	/* --client-password-file: AUTH needs it; NULL: no AUTH needed. */
	uint8_t *password;
	size_t passlen;
	uint64_t next_conn_id;
	struct rk_client_cursors *cursors; /* SCAN's (scan.c); NULL until one */
	uint64_t started_ms; /* the loop's clock at the start (INFO's uptime) */
	int port;            /* the port bound (INFO's tcp_port) */
};

/* order.c: a connection's writes to each range, in order, at most one
 * request per range in flight, the ones waiting sent together as one
 * batch (docs/client.md, "Ordering on a connection"). Zeroed to start. */
struct oq;
struct rk_client_order {
	struct oq *qs;
};
/* Submits cmd for o's connection: a read straight to the router, a write
 * behind the connection's earlier writes to its range, held until the
 * next rk_client_order_flush (the server's, at the end of each parse).
 * done is called once, never from inside this call. Errors as
 * rk_client_submit. */
int rk_client_order_submit(struct rk_client_router *r, struct rk_client_order *o,
			   const uint8_t *cmd, size_t len, rk_client_done_fn done,
			   void *arg);
/* Sends what waits in each of o's queues that has nothing in flight. */
void rk_client_order_flush(struct rk_client_order *o);
/* Frees o's queues: its connection has nothing in flight any more. */
void rk_client_order_free(struct rk_client_order *o);

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
	RK_CMD_SCAN,
	RK_CMD_KEYS,
	RK_CMD_DBSIZE,
	RK_CMD_AUTH,
	RK_CMD_HELLO,
	RK_CMD_SELECT,
	RK_CMD_CLIENT,
	RK_CMD_MULTI,
	RK_CMD_EXEC,
	RK_CMD_DISCARD,
	RK_CMD_WATCH,
	RK_CMD_UNWATCH,
	RK_CMD_SETNX,
	RK_CMD_STRLEN,
	RK_CMD_GETRANGE, /* and SUBSTR */
	RK_CMD_TYPE,
	RK_CMD_TTL,      /* and PTTL, EXPIRETIME, PEXPIRETIME */
	RK_CMD_PERSIST,
	RK_CMD_EXPIRY,   /* EXPIRE, SETEX...: refused (strings.c) */
	RK_CMD_GETEX,
	RK_CMD_CONFIG,
	RK_CMD_TIME,
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

extern const char RK_CLIENT_ERR_TRYAGAIN[];

/* commands.c: "-ERR wrong number of arguments for 'name' command" for c's
 * command name (sub: "name|sub", Redis's way for a subcommand). */
void rk_client_reply_arity(struct creq *q, const struct rk_resp_cmd *c, bool sub);

/* commands.c: answers q with the complete reply s ("+OK\r\n", "-ERR ...\r\n"). */
void rk_client_answer(struct creq *q, const char *s);
/* commands.c: appends the bulk string p..p+n to b. */
void rk_client_put_bulk(struct rk_buf *b, const void *p, size_t n);
/* commands.c: answers q with the bulk string p..p+n, or with b's bytes
 * (-ERR out of memory if b ran out). */
void rk_client_answer_bulk(struct creq *q, const void *p, size_t n);
void rk_client_answer_buf(struct creq *q, const struct rk_buf *b);
/* commands.c: whether argument i of c is s, ignoring case. */
bool rk_client_arg_is(const struct rk_resp_cmd *c, size_t i, const char *s);
/* commands.c: a one-key command, op on argv[1] with the nargs arguments
 * from argv[first_arg] (checked and submitted, or answered with an
 * error). */
void rk_client_one(struct creq *q, const struct rk_resp_cmd *c, int op, int mode,
		   int64_t n, size_t first_arg, size_t nargs);

/* strings.c: answers or starts c if it is one of its commands (SETNX,
 * STRLEN, GETRANGE, TYPE, TTL, PERSIST, GETEX, the expiry commands,
 * CONFIG, TIME); false for any other. */
bool rk_client_str_dispatch(struct creq *q, const struct rk_resp_cmd *c,
			    enum rk_client_cmd_id id);
/* Appends to q's reply its single operation's answer f as q->shape
 * wants it (unchanged for RK_SHAPE_NONE, and for errors). */
void rk_client_shape(struct creq *q, const struct frag *f);
/* SET's option argv[i] that rangekv refuses (an expiry, GET): answers q
 * with why and returns true; false for any other. */
bool rk_client_set_option_refused(struct creq *q, const struct rk_resp_cmd *c, size_t i);
/* GETRANGE's slice of a len-byte value (Redis 7's arithmetic): the count
 * of bytes from *fromp. */
size_t rk_client_getrange(int64_t start, int64_t end, size_t len, size_t *fromp);

/* info.c: INFO [section ...]. */
void rk_client_info(struct creq *q, const struct rk_resp_cmd *c);

/* scan.c: SCAN, KEYS and DBSIZE (arity checked by the caller). */
void rk_client_scan(struct creq *q, const struct rk_resp_cmd *c,
		    enum rk_client_cmd_id id);
void rk_client_scan_free(struct scanq *w);
/* Redis's glob patterns (* ? [...] [^...] [a-z] \x), case-sensitive. */
bool rk_client_glob_match(const uint8_t *pat, size_t pl, const uint8_t *s,
			  size_t sl);
/* Reads the bulk string at p[*offp] of a reply: *bp, *blp, and *offp
 * moved past it; false if there is none whole. */
bool rk_client_take_bulk(const uint8_t *p, size_t len, size_t *offp,
			 const uint8_t **bp, size_t *blp);
/* How many bytes of pat every match starts with. */
size_t rk_client_glob_prefix(const uint8_t *pat, size_t pl);
/* SCAN's cursor table: bounds, expiry. */
#define RK_CLIENT_CURSORS_MAX 10000
#define RK_CLIENT_CURSOR_BYTES (16u << 20)
#define RK_CLIENT_CURSOR_TTL_MS (10u * 60 * 1000)
#define RK_CLIENT_KEYS_MAX 100000
void rk_client_cursors_free(struct rk_client_cursors *t);
/* A new cursor resuming at key (copied), made at loop time now: its id
 * (1 to 2^53-1) in *idp. Expired entries go first; a full table evicts
 * an entry already used before an unused one, the oldest first. */
int rk_client_cursor_put(struct rk_client_server *s, uint64_t now,
			 const uint8_t *key, size_t len, uint64_t *idp);
/* The key cursor id resumes at, copied into *keyp (free it); the entry
 * stays (a client may repeat a call) but is marked used. RK_ENOTFOUND for
 * an unknown, evicted or expired cursor. */
int rk_client_cursor_get(struct rk_client_server *s, uint64_t now, uint64_t id,
			 uint8_t **keyp, size_t *lenp);
size_t rk_client_cursors_count(const struct rk_client_server *s);

/* connection.c: AUTH, HELLO, SELECT, CLIENT and the MULTI family, and the
 * gate in front of every command (no AUTH yet, a refused MULTI). Returns
 * true when it answered q (the command is not to be run). */
bool rk_client_conn_cmd(struct creq *q, const struct rk_resp_cmd *c,
			enum rk_client_cmd_id id);
/* Whether given is the password (pl > 0), in a time that depends on pl
 * only. */
bool rk_client_password_equal(const uint8_t *pw, size_t pl, const uint8_t *given,
			      size_t gl);

/* server.c: the ordering of c's writes. */
struct rk_client_order *rk_client_conn_order(struct conn *c);
/* server.c: q is answered (q->reply holds the reply): write it in turn. */
void rk_client_creq_done(struct creq *q);
/* The client asked to close after this reply (QUIT). */
void rk_client_conn_quit(struct conn *c);
struct rk_client_connstate *rk_client_conn_state(struct conn *c);
/* Calls fn for every open connection of s (CLIENT LIST). */
void rk_client_conns_each(struct rk_client_server *s,
			  void (*fn)(void *arg, const struct rk_client_connstate *st),
			  void *arg);

#endif
