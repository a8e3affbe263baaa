/*
 * The client half of the rangekv binary: the KV verbs (RESP to a node's
 * client port), the inspection verbs (its HTTP API), `demo` (a local
 * cluster of child processes), and the small blocking network helpers
 * they share. Single-threaded; nothing here keeps
 * state between commands.
 *
 * Exit statuses are the outside contract: 0 success (a missing key
 * included), 1 an error reply, 2 bad usage, 3 node unreachable.
 */
#ifndef RK_CLI_H
#define RK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "rangekv/resp.h"

#define RK_CLI_EXIT_OK 0
#define RK_CLI_EXIT_ERROR 1
#define RK_CLI_EXIT_USAGE 2
#define RK_CLI_EXIT_UNREACHABLE 3

/* ---- KV verbs (kv.c) ---------------------------------------------------- */

/* True if name is a KV verb (get, set, del, ...). */
int rk_cli_kv_is_verb(const char *name);
/* One line per verb, for `rangekv help`. */
void rk_cli_kv_summary(FILE *out);
/* Runs the verb argv[0] with its arguments; returns the exit status. */
int rk_cli_kv_main(int argc, char **argv);

/* ---- inspection verbs (inspect.c) -------------------------------------------- */

/* True if name is an inspection verb (nodes, ranges, range, log, status). */
int rk_cli_inspect_is_verb(const char *name);
/* One line per verb, for `rangekv help`. */
void rk_cli_inspect_summary(FILE *out);
/* Runs the verb argv[0] against a node's HTTP API; the exit status. */
int rk_cli_inspect_main(int argc, char **argv);

/* ---- check (check.c) ------------------------------------------------------ */

/* `rangekv check ID|--all ...` (argv[0] is "check"); the exit status. */
int rk_cli_check_main(int argc, char **argv);

/* ---- split (split.c) ------------------------------------------------------ */

/* `rangekv split KEY ...` (argv[0] is "split"); the exit status. */
int rk_cli_split_main(int argc, char **argv);

/* A POST on one range's leader with one argument (split, merge): flags
 * --http (repeated: the next one after a 409/404 naming a leader),
 * --json, --timeout, --help; exit statuses as split's. */
struct cJSON;
struct rk_cli_call {
	const char *verb; /* "split" */
	const char *arg;  /* the argument's name in messages: "KEY" */
	const char *what; /* what a bad argument is not: "a key (...)" */
	void (*usage)(void);
	/* The call's path and query from the argument; false: a bad one. */
	bool (*path)(const char *arg, struct rk_buf *path);
	/* Prints a 200 answer as text. */
	void (*print)(const struct cJSON *answer);
};
int rk_cli_call_main(const struct rk_cli_call *call, int argc, char **argv);
/* "side range ID [start, end) generation G" from a range's JSON. */
void rk_cli_print_range(const char *side, const struct cJSON *range);

/* ---- merge (merge.c) ------------------------------------------------------ */

/* `rangekv merge LEFT_ID ...` (argv[0] is "merge"); the exit status. */
int rk_cli_merge_main(int argc, char **argv);

/* ---- demo (demo.c) -------------------------------------------------------- */

/* `rangekv rebalance pause|resume` (rebalance_switch.c; `status` goes to
 * the inspection verbs, rebalance.c); the exit status. */
int rk_cli_rebalance_main(int argc, char **argv);

/* `rangekv demo ...` (argv[0] is "demo"); returns the exit status. */
int rk_cli_demo_main(int argc, char **argv);

/* ---- blocking sockets with deadlines (net.c) ----------------------------- */

/*
 * Every call takes an absolute deadline in CLOCK_MONOTONIC milliseconds
 * (rk_cli_now_ms() + timeout) and fails with RK_ETIMEDOUT past it. Errors:
 * RK_EADDR for an address that is not HOST:PORT (bad usage), RK_ECONN when
 * the node cannot be reached or drops the connection, RK_ETIMEDOUT,
 * RK_EPROTO for a reply that is not RESP / HTTP, RK_ENOMEM. err receives a
 * one-line reason naming the address.
 */
int64_t rk_cli_now_ms(void);

/* --timeout SECONDS (more than 0, at most 86400, fractions allowed) into
 * milliseconds (at least 1); false if s is not that. */
bool rk_cli_parse_timeout(const char *s, int64_t *msp);

struct rk_cli_conn {
	int fd;
	char addr[128];   /* as given, for messages */
	uint8_t *in;      /* received, not yet consumed */
	size_t len, cap;
};

/* Connects to HOST:PORT (IPv4, a host name, or [IPv6]:PORT). */
int rk_cli_connect(struct rk_cli_conn *c, const char *addr, int64_t deadline,
		   char *err, size_t errlen);
void rk_cli_close(struct rk_cli_conn *c);
/* Sends one command and reads its reply into *rp (free with
 * rk_resp_reply_free; zeroed on failure). An error reply (-ERR ...) is a
 * successful call: the caller looks at rp->type. */
int rk_cli_call(struct rk_cli_conn *c, size_t argc, const char *const *argv,
		const size_t *argl, int64_t deadline, struct rk_resp_reply *rp,
		char *err, size_t errlen);

/* method http://addr/path over HTTP/1.0 with an empty body; the answer's
 * body goes into *body (appended), the status code into *statusp. With an
 * admin token (rk_cli_admin_token_file, else the file named by
 * $RANGEKV_ADMIN_TOKEN_FILE) every request carries
 * "Authorization: Bearer TOKEN"; a token file that cannot be read, or is
 * empty, fails the call with RK_EIO / RK_EINVAL and the reason in err. */
int rk_cli_http(const char *addr, const char *method, const char *path,
		int64_t deadline, struct rk_buf *body, int *statusp, char *err,
		size_t errlen);
int rk_cli_http_get(const char *addr, const char *path, int64_t deadline,
		    struct rk_buf *body, int *statusp, char *err, size_t errlen);
/* The --admin-token-file of a command (NULL: none given, the environment
 * decides); read at the first request. */
void rk_cli_admin_token_file(const char *path);

#endif
