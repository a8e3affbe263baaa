/*
 * The commands about the connection itself, as client libraries send them
 * on connect, and the gate every command passes first:
 *
 *  - AUTH [user] password and HELLO's AUTH option, with --client-password-
 *    file: until a connection has authenticated, every command but AUTH,
 *    HELLO and QUIT is answered "-NOAUTH Authentication required." (as
 *    Redis with requirepass). The one user is "default". The comparison
 *    takes a time that depends on the stored password's length only.
 *  - HELLO: RESP2 only. "HELLO 3" is -NOPROTO, which makes libraries that
 *    try RESP3 first fall back to RESP2; HELLO and HELLO 2 get Redis's
 *    map (as a flat array).
 *  - SELECT 0 (one database); CLIENT ID, SETNAME, GETNAME, INFO, LIST,
 *    SETINFO.
 *  - MULTI, EXEC, DISCARD, WATCH: refused. Keys live in ranges of separate
 *    Raft groups, and rangekv has no transactions across them. After a
 *    refused MULTI the commands up to EXEC or DISCARD are refused too (EXEC
 *    answers -EXECABORT), so a client that pipelines MULTI ... EXEC never
 *    gets its transaction applied in part.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "kv.h"

#define NAME_MAX_LEN 256

static const char ERR_NOAUTH[] = "-NOAUTH Authentication required.\r\n";
static const char ERR_WRONGPASS[] =
	"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
static const char ERR_NOPASS[] =
	"-ERR AUTH <password> called without any password configured for the "
	"default user. Are you sure your configuration is correct?\r\n";
static const char ERR_MULTI[] =
	"-ERR MULTI is not supported: rangekv keeps keys in ranges replicated by "
	"separate Raft groups and has no transactions across them; the commands up "
	"to EXEC or DISCARD will not be run (CAS, and MSET within one range, are "
	"atomic)\r\n";
static const char ERR_WATCH[] =
	"-ERR WATCH is not supported: rangekv has no transactions (MULTI/EXEC); "
	"use CAS for a conditional write\r\n";
static const char ERR_QUEUED[] =
	"-ERR command not run: MULTI was refused (rangekv has no transactions); "
	"EXEC or DISCARD ends it\r\n";

/* ---- AUTH ------------------------------------------------------------------------- */

/* Whether given equals the password, in a time that depends on the
 * password's length only: every byte of it is compared, whatever was
 * given and wherever the first difference is. */
bool rk_client_password_equal(const uint8_t *pw, size_t pl, const uint8_t *given,
			      size_t gl)
{
	unsigned diff = pl != gl;

	for (size_t i = 0; i < pl; i++)
		diff |= (unsigned)(pw[i] ^ (gl > 0 ? given[i % gl] : 0));
	return diff == 0 && pl > 0;
}

/* user (NULL: none given) and pass: 0 authenticated, else the error. */
static const char *authenticate(struct creq *q, const uint8_t *user, size_t ul,
				const uint8_t *pass, size_t pl)
{
	struct rk_client_server *s = q->srv;
	bool is_default = user == NULL || (ul == 7 && memcmp(user, "default", 7) == 0);

	if (s->password == NULL) {
		/* As Redis without requirepass: the default user takes any
		 * password, but AUTH <password> alone is a mistake to report. */
		if (user == NULL)
			return ERR_NOPASS;
		return is_default ? NULL : ERR_WRONGPASS;
	}
	if (!is_default || !rk_client_password_equal(s->password, s->passlen, pass, pl))
		return ERR_WRONGPASS; /* a connection authenticated stays so */
	rk_client_conn_state(q->conn)->authed = true;
	return NULL;
}

static void cmd_auth(struct creq *q, const struct rk_resp_cmd *c)
{
	const char *err;

	if (c->argc < 2) {
		rk_client_reply_arity(q, c, false);
		return;
	}
	if (c->argc > 3) {
		rk_client_answer(q, "-ERR syntax error\r\n");
		return;
	}
	err = c->argc == 2 ? authenticate(q, NULL, 0, c->argv[1], c->argl[1])
			   : authenticate(q, c->argv[1], c->argl[1], c->argv[2], c->argl[2]);
	rk_client_answer(q, err != NULL ? err : "+OK\r\n");
}

/* ---- CLIENT ------------------------------------------------------------------------- */

/* A name as Redis allows it: printable ASCII without spaces. */
static bool name_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '!' || p[i] > '~')
			return false;
	return n <= NAME_MAX_LEN;
}

static int set_str(char **dst, const uint8_t *p, size_t n)
{
	char *s = NULL;

	if (n > 0) {
		if ((s = malloc(n + 1)) == NULL)
			return RK_ENOMEM;
		memcpy(s, p, n);
		s[n] = '\0';
	}
	free(*dst);
	*dst = s;
	return 0;
}

/* SETNAME's name, also HELLO's SETNAME: an error text, or NULL when set. */
static const char *set_name(struct creq *q, const uint8_t *p, size_t n)
{
	if (!name_ok(p, n))
		return "-ERR Client names cannot contain spaces, newlines or special "
		       "characters.\r\n";
	if (set_str(&rk_client_conn_state(q->conn)->name, p, n) != 0)
		return "-ERR out of memory\r\n";
	return NULL;
}

struct info_ctx {
	struct rk_buf *out;
	uint64_t now;
};

/* One line of CLIENT INFO / CLIENT LIST, Redis's fields (those without a
 * meaning here carry Redis's neutral value). */
static void info_line(void *arg, const struct rk_client_connstate *st)
{
	struct info_ctx *x = arg;

	rk_buf_printf(x->out,
		      "id=%" PRIu64 " addr=%s laddr=%s fd=-1 name=%s age=%" PRIu64
		      " idle=%" PRIu64 " flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 "
		      "qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 "
		      "oll=0 omem=0 tot-mem=0 events=r cmd=client user=%s redir=-1 "
		      "resp=2 lib-name=%s lib-ver=%s\n",
		      st->id, st->addr, st->laddr, st->name ? st->name : "",
		      (x->now - st->created_ms) / 1000, (x->now - st->last_ms) / 1000,
		      st->authed ? "default" : "",
		      st->lib_name ? st->lib_name : "", st->lib_ver ? st->lib_ver : "");
}

static void cmd_client(struct creq *q, const struct rk_resp_cmd *c)
{
	struct rk_client_connstate *st = rk_client_conn_state(q->conn);
	size_t argc = c->argc;
	const char *err;

	if (argc < 2) {
		rk_client_reply_arity(q, c, false);
		return;
	}
	if (rk_client_arg_is(c, 1, "ID") || rk_client_arg_is(c, 1, "GETNAME") || rk_client_arg_is(c, 1, "INFO") || rk_client_arg_is(c, 1, "LIST")) {
		struct info_ctx x;
		struct rk_buf b;
		if (argc != 2 && !rk_client_arg_is(c, 1, "LIST")) {
			rk_client_reply_arity(q, c, true);
			return;
		}
		if (rk_client_arg_is(c, 1, "ID")) {
			rk_buf_printf(&q->reply, ":%" PRIu64 "\r\n", st->id);
			rk_client_answer(q, "");
			return;
		}
		if (rk_client_arg_is(c, 1, "GETNAME")) {
			if (st->name == NULL) {
				rk_client_answer(q, "$-1\r\n");
				return;
			}
			rk_buf_printf(&q->reply, "$%zu\r\n%s\r\n", strlen(st->name), st->name);
			rk_client_answer(q, "");
			return;
		}
		rk_buf_init(&b);
		x.out = &b;
		x.now = uv_now(q->srv->loop);
		if (rk_client_arg_is(c, 1, "INFO"))
			info_line(&x, st);
		else
			rk_client_conns_each(q->srv, info_line, &x);
		rk_client_answer_buf(q, &b);
		rk_buf_free(&b);
		return;
	}
	if (rk_client_arg_is(c, 1, "SETNAME")) {
		if (argc != 3) {
			rk_client_reply_arity(q, c, true);
			return;
		}
		err = set_name(q, c->argv[2], c->argl[2]);
		rk_client_answer(q, err != NULL ? err : "+OK\r\n");
		return;
	}
	if (rk_client_arg_is(c, 1, "SETINFO")) {
		char **dst = NULL;
		if (argc != 4) {
			rk_client_reply_arity(q, c, true);
			return;
		}
		if (rk_client_arg_is(c, 2, "LIB-NAME"))
			dst = &st->lib_name;
		else if (rk_client_arg_is(c, 2, "LIB-VER"))
			dst = &st->lib_ver;
		if (dst == NULL) {
			rk_client_answer(q, "-ERR Unrecognized option\r\n");
			return;
		}
		if (!name_ok(c->argv[3], c->argl[3])) {
			rk_client_answer(q, "-ERR lib-name and lib-ver cannot contain spaces, newlines "
				  "or special characters.\r\n");
			return;
		}
		rk_client_answer(q, set_str(dst, c->argv[3], c->argl[3]) == 0
				  ? "+OK\r\n" : "-ERR out of memory\r\n");
		return;
	}
	{
		char sub[40];
		size_t n = c->argl[1] < 32 ? c->argl[1] : 32;
		for (size_t i = 0; i < n; i++)
			sub[i] = c->argv[1][i] < 0x20 || c->argv[1][i] > 0x7e
					 ? '?' : (char)c->argv[1][i];
		sub[n] = '\0';
		rk_buf_printf(&q->reply, "-ERR unknown subcommand '%s'. Try CLIENT HELP.\r\n",
			      sub);
		rk_client_answer(q, "");
	}
}

/* ---- HELLO ---------------------------------------------------------------------------- */

static void cmd_hello(struct creq *q, const struct rk_resp_cmd *c)
{
	struct rk_client_connstate *st = rk_client_conn_state(q->conn);
	const uint8_t *user = NULL, *pass = NULL, *name = NULL;
	size_t ul = 0, pl = 0, nl = 0;
	int64_t ver;
	const char *err;

	if (c->argc >= 2) {
		if (!rk_kv_parse_i64(c->argv[1], c->argl[1], &ver)) {
			rk_client_answer(q, "-ERR Protocol version is not an integer or out of range\r\n");
			return;
		}
		if (ver != 2) { /* RESP3 (or nonsense): clients fall back to 2 */
			rk_client_answer(q, "-NOPROTO unsupported protocol version\r\n");
			return;
		}
	}
	for (size_t i = 2; i < c->argc; i++) {
		size_t more = c->argc - 1 - i;
		if (rk_client_arg_is(c, i, "AUTH") && more >= 2) {
			user = c->argv[i + 1];
			ul = c->argl[i + 1];
			pass = c->argv[i + 2];
			pl = c->argl[i + 2];
			i += 2;
		} else if (rk_client_arg_is(c, i, "SETNAME") && more >= 1) {
			name = c->argv[i + 1];
			nl = c->argl[i + 1];
			i++;
		} else {
			char opt[40];
			size_t n = c->argl[i] < 32 ? c->argl[i] : 32;
			for (size_t j = 0; j < n; j++)
				opt[j] = c->argv[i][j] < 0x20 || c->argv[i][j] > 0x7e
						 ? '?' : (char)c->argv[i][j];
			opt[n] = '\0';
			rk_buf_printf(&q->reply, "-ERR Syntax error in HELLO option '%s'\r\n", opt);
			rk_client_answer(q, "");
			return;
		}
	}
	if (!st->authed && user == NULL) {
		rk_client_answer(q, "-NOAUTH HELLO must be called with the client already "
			  "authenticated, otherwise the HELLO <proto> AUTH <user> <pass> "
			  "option can be used to authenticate the client and select the "
			  "RESP protocol version at the same time\r\n");
		return;
	}
	if (user != NULL && (err = authenticate(q, user, ul, pass, pl)) != NULL) {
		rk_client_answer(q, err);
		return;
	}
	if (name != NULL && (err = set_name(q, name, nl)) != NULL) {
		rk_client_answer(q, err);
		return;
	}
	rk_buf_printf(&q->reply,
		      "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"
		      "$5\r\n7.0.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:%" PRIu64 "\r\n"
		      "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
		      "$7\r\nmodules\r\n*0\r\n",
		      st->id);
	rk_client_answer(q, "");
}

/* ---- the gate --------------------------------------------------------------------------- */

bool rk_client_conn_cmd(struct creq *q, const struct rk_resp_cmd *c,
			enum rk_client_cmd_id id)
{
	struct rk_client_connstate *st = rk_client_conn_state(q->conn);
	int64_t db;

	if (!st->authed && id != RK_CMD_AUTH && id != RK_CMD_HELLO && id != RK_CMD_QUIT) {
		rk_client_answer(q, ERR_NOAUTH);
		return true;
	}
	if (st->multi_refused) {
		switch (id) {
		case RK_CMD_QUIT:
			return false;
		case RK_CMD_EXEC:
			st->multi_refused = false;
			rk_client_answer(q, "-EXECABORT Transaction discarded because of previous errors.\r\n");
			return true;
		case RK_CMD_DISCARD:
			st->multi_refused = false;
			rk_client_answer(q, "+OK\r\n");
			return true;
		case RK_CMD_MULTI:
			rk_client_answer(q, "-ERR MULTI calls can not be nested\r\n");
			return true;
		default:
			rk_client_answer(q, ERR_QUEUED);
			return true;
		}
	}
	switch (id) {
	case RK_CMD_AUTH:
		cmd_auth(q, c);
		return true;
	case RK_CMD_HELLO:
		cmd_hello(q, c);
		return true;
	case RK_CMD_CLIENT:
		cmd_client(q, c);
		return true;
	case RK_CMD_SELECT:
		if (c->argc != 2)
			rk_client_reply_arity(q, c, false);
		else if (!rk_kv_parse_i64(c->argv[1], c->argl[1], &db))
			rk_client_answer(q, "-ERR value is not an integer or out of range\r\n");
		else
			rk_client_answer(q, db == 0 ? "+OK\r\n" : "-ERR DB index is out of range\r\n");
		return true;
	case RK_CMD_MULTI:
		if (c->argc != 1) {
			rk_client_reply_arity(q, c, false);
			return true;
		}
		st->multi_refused = true;
		rk_client_answer(q, ERR_MULTI);
		return true;
	case RK_CMD_EXEC:
		rk_client_answer(q, "-ERR EXEC without MULTI\r\n");
		return true;
	case RK_CMD_DISCARD:
		rk_client_answer(q, "-ERR DISCARD without MULTI\r\n");
		return true;
	case RK_CMD_WATCH:
		rk_client_answer(q, ERR_WATCH);
		return true;
	case RK_CMD_UNWATCH: /* nothing is watched: nothing to undo */
		rk_client_answer(q, "+OK\r\n");
		return true;
	default:
		return false;
	}
}
