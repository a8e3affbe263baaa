/*
 * Redis's string commands that are another command's operation with its
 * answer reshaped (SETNX, STRLEN, GETRANGE, TYPE, TTL...), the server's
 * CONFIG and TIME, and clear refusals of what rangekv does not do (keys
 * never expire). docs/contract.md lists them with their Redis semantics.
 *
 * A reshaped command is one range operation like GET or EXISTS; its
 * answer fragment goes through rk_client_shape instead of to the client
 * as it is. Errors and TRYAGAIN/TIMEOUT pass unchanged.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/time.h>

#include "client_int.h"
#include "kv.h"

/* CONFIG GET's parameters: what a client may ask to learn how the server
 * keeps data (redis-benchmark asks save and appendonly). rangekv has no
 * snapshot schedule (save ""), and every write is in the raft log, synced
 * on a majority before it is answered (appendonly yes, appendfsync always);
 * one database. */
static const char *const config_params[][2] = {
	{"save", ""},
	{"appendonly", "yes"},
	{"appendfsync", "always"},
	{"databases", "1"},
};

static const char ERR_EXPIRY[] =
	"-ERR rangekv keys do not expire: TTLs are not supported (EXPIRE, "
	"SETEX, SET with EX, PX, EXAT, PXAT or KEEPTTL are refused)\r\n";

/* A GET answer's value: true with *vp, *vlp for "$n\r\n...\r\n", false
 * for nil (or anything else). */
static bool get_value(const struct frag *f, const uint8_t **vp, size_t *vlp)
{
	size_t off = 0;

	return f->len > 0 && f->p[0] == '$' && rk_client_take_bulk(f->p, f->len, &off, vp, vlp);
}

/* GETRANGE's bytes of a value of len bytes, as Redis 7 computes them:
 * negative offsets count from the end, the end is clamped to the last
 * byte; *fromp and the returned count (0: the empty string). */
size_t rk_client_getrange(int64_t start, int64_t end, size_t len, size_t *fromp)
{
	int64_t n = (int64_t)len;

	*fromp = 0;
	if (start < 0 && end < 0 && start > end)
		return 0;
	if (start < 0)
		start = n + start;
	if (end < 0)
		end = n + end;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= n)
		end = n - 1;
	if (n == 0 || start > end)
		return 0;
	*fromp = (size_t)start;
	return (size_t)(end - start + 1);
}

void rk_client_shape(struct creq *q, const struct frag *f)
{
	const uint8_t *v = NULL;
	size_t vl = 0, from;
	bool one = f->len >= 3 && f->p[0] == ':' && f->p[1] == '1';

	if (f->len > 0 && f->p[0] == '-') {
		rk_buf_append(&q->reply, f->p, f->len);
		return;
	}
	switch (q->shape) {
	case RK_SHAPE_SETNX: /* PUT NX: +OK set, nil not */
		rk_buf_puts(&q->reply, f->len > 0 && f->p[0] == '+' ? ":1\r\n" : ":0\r\n");
		return;
	case RK_SHAPE_STRLEN:
		(void)get_value(f, &v, &vl);
		rk_buf_printf(&q->reply, ":%zu\r\n", vl);
		return;
	case RK_SHAPE_GETRANGE:
		if (!get_value(f, &v, &vl))
			vl = 0;
		vl = rk_client_getrange(q->gr_start, q->gr_end, vl, &from);
		rk_client_put_bulk(&q->reply, v != NULL ? v + from : (const uint8_t *)"", vl);
		return;
	case RK_SHAPE_TYPE: /* EXISTS */
		rk_buf_puts(&q->reply, one ? "+string\r\n" : "+none\r\n");
		return;
	case RK_SHAPE_TTL: /* EXISTS: no key has a timeout */
		rk_buf_puts(&q->reply, one ? ":-1\r\n" : ":-2\r\n");
		return;
	default: /* RK_SHAPE_NONE: as the range answered */
		rk_buf_append(&q->reply, f->p, f->len);
		return;
	}
}

static void config(struct creq *q, const struct rk_resp_cmd *c)
{
	size_t n = 0;
	struct rk_buf body;

	if (c->argc < 2) {
		rk_client_reply_arity(q, c, false);
		return;
	}
	if (!rk_client_arg_is(c, 1, "GET")) {
		/* Redis answers CONFIG SET, RESETSTAT, REWRITE...; a node
		 * is set by its start flags, some of them cluster settings
		 * recorded at the first start. */
		rk_client_answer(q, "-ERR CONFIG is read-only on rangekv (CONFIG GET): a node is "
			 "configured by its start flags (rangekv start --help)\r\n");
		return;
	}
	if (c->argc < 3) {
		rk_client_reply_arity(q, c, true);
		return;
	}
	rk_buf_init(&body);
	for (size_t p = 0; p < sizeof(config_params) / sizeof(config_params[0]); p++) {
		const char *name = config_params[p][0];
		for (size_t i = 2; i < c->argc; i++) {
			/* Redis matches parameter names without case. */
			char lower[64];
			size_t l = c->argl[i] < sizeof(lower) ? c->argl[i] : sizeof(lower);
			for (size_t j = 0; j < l; j++) {
				char ch = (char)c->argv[i][j];
				lower[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
			}
			if (c->argl[i] <= sizeof(lower) &&
			    rk_client_glob_match((const uint8_t *)lower, l, (const uint8_t *)name,
						 strlen(name))) {
				/* A plain name is answered as it was asked
				 * (Redis 7.0 does: SAVE gives SAVE). */
				if (rk_client_glob_prefix(c->argv[i], c->argl[i]) == c->argl[i])
					rk_client_put_bulk(&body, c->argv[i], c->argl[i]);
				else
					rk_client_put_bulk(&body, name, strlen(name));
				rk_client_put_bulk(&body, config_params[p][1], strlen(config_params[p][1]));
				n++;
				break;
			}
		}
	}
	rk_buf_printf(&q->reply, "*%zu\r\n", 2 * n);
	rk_buf_append(&q->reply, body.p, body.len);
	rk_buf_free(&body);
	rk_client_creq_done(q);
}

static void cmd_time(struct creq *q)
{
	struct timeval tv;
	char s[24], us[24];

	gettimeofday(&tv, NULL);
	snprintf(s, sizeof(s), "%lld", (long long)tv.tv_sec);
	snprintf(us, sizeof(us), "%ld", (long)tv.tv_usec);
	rk_buf_puts(&q->reply, "*2\r\n");
	rk_client_put_bulk(&q->reply, s, strlen(s));
	rk_client_put_bulk(&q->reply, us, strlen(us));
	rk_client_creq_done(q);
}

bool rk_client_str_dispatch(struct creq *q, const struct rk_resp_cmd *c,
			    enum rk_client_cmd_id id)
{
	size_t argc = c->argc;

	switch (id) {
	case RK_CMD_SETNX:
		if (argc != 3)
			break;
		q->shape = RK_SHAPE_SETNX;
		rk_client_one(q, c, RK_KV_PUT, RK_KV_PUT_NX, 0, 1, 2);
		return true;
	case RK_CMD_STRLEN:
	case RK_CMD_TYPE:
	case RK_CMD_TTL:
		if (argc != 2)
			break;
		q->shape = id == RK_CMD_STRLEN ? RK_SHAPE_STRLEN
			   : id == RK_CMD_TYPE ? RK_SHAPE_TYPE : RK_SHAPE_TTL;
		rk_client_one(q, c, id == RK_CMD_STRLEN ? RK_KV_GET : RK_KV_EXISTS, 0, 0, 1, 1);
		return true;
	case RK_CMD_GETRANGE:
		if (argc != 4)
			break;
		if (!rk_kv_parse_i64(c->argv[2], c->argl[2], &q->gr_start) ||
		    !rk_kv_parse_i64(c->argv[3], c->argl[3], &q->gr_end)) {
			rk_client_answer(q, "-ERR value is not an integer or out of range\r\n");
			return true;
		}
		q->shape = RK_SHAPE_GETRANGE;
		rk_client_one(q, c, RK_KV_GET, 0, 0, 1, 1);
		return true;
	case RK_CMD_PERSIST:
		/* 0: the key has no timeout to remove, or does not exist. */
		if (argc != 2)
			break;
		rk_client_answer(q, ":0\r\n");
		return true;
	case RK_CMD_EXPIRY:
		rk_client_answer(q, ERR_EXPIRY);
		return true;
	case RK_CMD_GETEX:
		/* GET, unless it is asked to set a timeout: PERSIST removes
		 * none, since there is none. */
		if (argc < 2)
			break;
		if (argc == 2 || (argc == 3 && rk_client_arg_is(c, 2, "PERSIST")))
			rk_client_one(q, c, RK_KV_GET, 0, 0, 1, 1);
		else
			rk_client_answer(q, argc <= 4 ? ERR_EXPIRY : "-ERR syntax error\r\n");
		return true;
	case RK_CMD_CONFIG:
		config(q, c);
		return true;
	case RK_CMD_TIME:
		if (argc != 1)
			break;
		cmd_time(q);
		return true;
	default:
		return false;
	}
	rk_client_reply_arity(q, c, false);
	return true;
}

bool rk_client_set_option_refused(struct creq *q, const struct rk_resp_cmd *c, size_t i)
{
	static const char *const expiry[] = {"EX", "PX", "EXAT", "PXAT", "KEEPTTL"};

	for (size_t k = 0; k < sizeof(expiry) / sizeof(expiry[0]); k++)
		if (rk_client_arg_is(c, i, expiry[k])) {
			rk_client_answer(q, ERR_EXPIRY);
			return true;
		}
	if (rk_client_arg_is(c, i, "GET")) {
		rk_client_answer(q, "-ERR SET with GET is not supported: rangekv has no atomic "
			 "get-and-set (CAS key old new compares and sets)\r\n");
		return true;
	}
	return false;
}
