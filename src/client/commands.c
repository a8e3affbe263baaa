/*
 * The commands of the client port (the contract's table in
 * docs/contract.md): arity and argument checks, the range operations a
 * command becomes, and how their answers combine into one reply.
 *
 * Single-key commands are one operation. DEL, EXISTS and MGET are one per
 * key (each linearizable on its own; the contract promises no snapshot
 * across ranges). MSET is one per range, so it is atomic within a range.
 * KRANGE is one range at a time: each answer says how many pairs it gave,
 * and the scan continues at that range's end until the limit or the end
 * asked for is reached.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_int.h"
#include "kv.h"

enum kind { K_SINGLE, K_SUM, K_MGET, K_MSET, K_KRANGE };


const char RK_CLIENT_ERR_TRYAGAIN[] =
	"-TRYAGAIN no leader of the key's range answered within the request "
	"timeout; the command was not applied\r\n";
#define ERR_TRYAGAIN RK_CLIENT_ERR_TRYAGAIN
static const char *ERR_TIMEOUT =
	"-TIMEOUT the request timed out after it was sent to the range leader; "
	"it may or may not have been applied (never twice)\r\n";

static void frag_release(struct frag *f)
{
	if (f->p != f->small)
		free(f->p);
	f->p = NULL;
	f->len = 0;
}

void rk_creq_free(struct creq *q)
{
	for (uint32_t i = 0; q->frags != NULL && i < q->n_ops; i++)
		frag_release(&q->frags[i]);
	if (q->frags != &q->frag1)
		free(q->frags);
	free(q->kr_start);
	free(q->kr_end);
	rk_client_scan_free(q->scan);
	rk_buf_free(&q->reply);
	rk_buf_free(&q->kr_body);
	free(q);
}

/* -pre'name'post: name is printable (the caller made it so). */
static void reply_named(struct creq *q, const char *pre, const char *name,
			const char *post)
{
	rk_buf_printf(&q->reply, "-%s'%s'%s\r\n", pre, name, post);
	rk_client_creq_done(q);
}

void rk_client_answer(struct creq *q, const char *s)
{
	rk_buf_puts(&q->reply, s);
	rk_client_creq_done(q);
}

void rk_client_put_bulk(struct rk_buf *b, const void *p, size_t n)
{
	rk_buf_printf(b, "$%zu\r\n", n);
	rk_buf_append(b, p, n);
	rk_buf_puts(b, "\r\n");
}

void rk_client_answer_bulk(struct creq *q, const void *p, size_t n)
{
	rk_client_put_bulk(&q->reply, p, n);
	rk_client_creq_done(q);
}

void rk_client_answer_buf(struct creq *q, const struct rk_buf *b)
{
	if (b->oom)
		rk_client_answer(q, "-ERR out of memory\r\n");
	else
		rk_client_answer_bulk(q, b->p, b->len);
}

/* Whether argument i of c is s, without case (command names, options). */
bool rk_client_arg_is(const struct rk_resp_cmd *c, size_t i, const char *s)
{
	return c->argl[i] == strlen(s) && strncasecmp((const char *)c->argv[i], s, c->argl[i]) == 0;
}

/* ---- combining answers ------------------------------------------------------- */

static int64_t parse_int_reply(const struct frag *f)
{
	int64_t v = 0;

	if (f->len >= 3 && f->p[0] == ':')
		(void)rk_kv_parse_i64(f->p + 1, f->len - 3, &v);
	return v;
}

static void on_op_done(void *arg, int status, const uint8_t *reply, size_t len);

/* A write answered OK applied (or was answered from its session record):
 * losing its reply leaves the client not knowing, which is -TIMEOUT. A
 * refused operation was not applied; reads never apply. */
int rk_client_part_status(int status, bool reply_lost, bool write)
{
	if (!reply_lost)
		return status;
	return write && status == RK_NET_RESP_OK ? RK_CLIENT_TIMEOUT
						 : RK_CLIENT_TRYAGAIN;
}

/* -TRYAGAIN promises the command was certainly not applied, so it is only
 * right when no part may have: a part that timed out after reaching a
 * leader, or a write part answered OK (DEL or MSET over several ranges,
 * one applied and another never reached a leader), makes it -TIMEOUT. */
int rk_client_combine_status(const struct frag *f, uint32_t n, bool write)
{
	bool timeout = false, tryagain = false, applied = false;

	for (uint32_t i = 0; i < n; i++) {
		timeout |= f[i].status == RK_CLIENT_TIMEOUT;
		tryagain |= f[i].status == RK_CLIENT_TRYAGAIN;
		applied |= write && f[i].status == RK_NET_RESP_OK;
	}
	if (timeout || (tryagain && applied))
		return RK_CLIENT_TIMEOUT;
	return tryagain ? RK_CLIENT_TRYAGAIN : 0;
}

static void combine(struct creq *q)
{
	int st = rk_client_combine_status(q->frags, q->n_ops, q->write);

	if (st != 0) {
		rk_client_answer(q, st == RK_CLIENT_TIMEOUT ? ERR_TIMEOUT : ERR_TRYAGAIN);
		return;
	}
	switch (q->kind) {
	case K_SINGLE:
		rk_client_shape(q, &q->frags[0]);
		break;
	case K_SUM: {
		int64_t sum = 0;
		for (uint32_t i = 0; i < q->n_ops; i++) {
			if (q->frags[i].len > 0 && q->frags[i].p[0] == '-') {
				rk_buf_append(&q->reply, q->frags[i].p, q->frags[i].len);
				rk_client_creq_done(q);
				return;
			}
			sum += parse_int_reply(&q->frags[i]);
		}
		rk_buf_printf(&q->reply, ":%" PRId64 "\r\n", sum);
		break;
	}
	case K_MGET:
		rk_buf_printf(&q->reply, "*%" PRIu32 "\r\n", q->n_ops);
		for (uint32_t i = 0; i < q->n_ops; i++) {
			if (q->frags[i].len > 0 && q->frags[i].p[0] == '-')
				rk_buf_puts(&q->reply, "$-1\r\n");
			else
				rk_buf_append(&q->reply, q->frags[i].p, q->frags[i].len);
		}
		break;
	default: /* K_MSET */
		for (uint32_t i = 0; i < q->n_ops; i++)
			if (q->frags[i].len > 0 && q->frags[i].p[0] == '-') {
				rk_buf_append(&q->reply, q->frags[i].p, q->frags[i].len);
				rk_client_creq_done(q);
				return;
			}
		rk_buf_puts(&q->reply, "+OK\r\n");
		break;
	}
	rk_client_creq_done(q);
}

static int keycmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

static int submit(struct creq *q, uint32_t i, const struct rk_buf *cmd)
{
	if (cmd->oom)
		return RK_ENOMEM;
	return rk_client_order_submit(q->srv->router, rk_client_conn_order(q->conn),
				      (const uint8_t *)cmd->p, cmd->len, on_op_done,
				      &q->frags[i]);
}

static int krange_submit(struct creq *q)
{
	struct rk_kv_cmd c;
	struct rk_buf b;
	int rc;

	memset(&c, 0, sizeof(c));
	c.op = RK_KV_SCAN;
	c.n = q->kr_left < RK_KV_SCAN_MAX ? q->kr_left : RK_KV_SCAN_MAX;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &c);
	rk_kv_cmd_arg(&b, q->kr_start, q->kr_slen);
	rk_kv_cmd_arg(&b, q->kr_end, q->kr_elen);
	rk_kv_cmd_finish(&b, 0, 2);
	rc = submit(q, 0, &b);
	rk_buf_free(&b);
	return rc;
}

/* The last key of a KRANGE page (n pairs from body): a copy with a zero
 * byte appended, the first key after it; NULL if none or no memory. */
static uint8_t *after_last_key(const uint8_t *p, size_t len, int64_t n, size_t *lp)
{
	const uint8_t *k = NULL, *b;
	size_t off = 0, kl = 0, bl;
	uint8_t *out;

	for (int64_t i = 0; i < 2 * n; i++) {
		if (!rk_client_take_bulk(p, len, &off, &b, &bl))
			return NULL;
		if (i % 2 == 0) {
			k = b;
			kl = bl;
		}
	}
	if (k == NULL || (out = malloc(kl + 1)) == NULL)
		return NULL;
	memcpy(out, k, kl);
	out[kl] = 0;
	*lp = kl + 1;
	return out;
}

/* One KRANGE page is in: keep it, and go on unless the limit or the end
 * asked for is reached: after its last key if the page is full (the range
 * may hold more), else at the end of the range that gave it. */
static void krange_page(struct creq *q, struct frag *f)
{
	const uint8_t *nl = memchr(f->p, '\n', f->len), *rend = NULL;
	size_t rel = 0, body_at = q->kr_body.len, nsl = 0;
	int64_t n2 = 0, asked = q->kr_left < RK_KV_SCAN_MAX ? q->kr_left : RK_KV_SCAN_MAX;
	uint8_t *ns = NULL;

	if (f->len < 4 || f->p[0] != '*' || nl == NULL ||
	    !rk_kv_parse_i64(f->p + 1, (size_t)(nl - f->p) - 2, &n2)) {
		rk_client_answer(q, "-ERR bad scan answer\r\n");
		return;
	}
	rk_buf_append(&q->kr_body, nl + 1, f->len - (size_t)(nl + 1 - f->p));
	q->kr_pairs += n2 / 2;
	q->kr_left -= n2 / 2;
	frag_release(f);
	if (q->kr_left > 0 && n2 / 2 == asked && !q->kr_body.oom) {
		ns = after_last_key((const uint8_t *)q->kr_body.p + body_at,
				    q->kr_body.len - body_at, n2 / 2, &nsl);
		if (ns == NULL) {
			rk_client_answer(q, "-ERR out of memory\r\n");
			return;
		}
	} else if (q->kr_left > 0 &&
		   rk_client_range_of(q->srv->router, q->kr_start, q->kr_slen, &rend, &rel) != 0 &&
		   rel > 0 && (q->kr_elen == 0 || keycmp(rend, rel, q->kr_end, q->kr_elen) < 0)) {
		if ((ns = malloc(rel)) == NULL) {
			rk_client_answer(q, "-ERR out of memory\r\n");
			return;
		}
		memcpy(ns, rend, rel);
		nsl = rel;
	}
	if (ns != NULL && (q->kr_elen == 0 || keycmp(ns, nsl, q->kr_end, q->kr_elen) < 0)) {
		free(q->kr_start);
		q->kr_start = ns;
		q->kr_slen = nsl;
		if (krange_submit(q) == 0)
			return;
		rk_client_answer(q, "-ERR out of memory\r\n");
		return;
	}
	free(ns);
	if (q->kr_body.oom) {
		rk_client_answer(q, "-ERR out of memory\r\n");
		return;
	}
	rk_buf_printf(&q->reply, "*%" PRId64 "\r\n", 2 * q->kr_pairs);
	rk_buf_append(&q->reply, q->kr_body.p, q->kr_body.len);
	rk_client_creq_done(q);
}

static void on_op_done(void *arg, int status, const uint8_t *reply, size_t len)
{
	struct frag *f = arg;
	struct creq *q = f->q;

	f->status = status;
	f->p = len <= sizeof(f->small) ? f->small : malloc(len);
	if (len > 0 && f->p != NULL) {
		memcpy(f->p, reply, len);
		f->len = len;
	} else if (len == 0) {
		f->p = NULL;
	}
	f->status = rk_client_part_status(
		status,
		(len > 0 && f->p == NULL) ||
			((status == RK_NET_RESP_OK || status == RK_NET_RESP_REFUSED) &&
			 f->p == NULL),
		q->write);
	if (q->kind == K_KRANGE) {
		if (f->status == RK_CLIENT_TIMEOUT || f->status == RK_CLIENT_TRYAGAIN)
			rk_client_answer(q, ERR_TRYAGAIN);
		else if (f->p[0] == '-') {
			rk_buf_append(&q->reply, f->p, f->len);
			rk_client_creq_done(q);
		} else
			krange_page(q, f);
		return;
	}
	if (++q->n_done == q->n_ops)
		combine(q);
}

/* ---- building operations ------------------------------------------------------ */

static int check_key(struct creq *q, const uint8_t *k, size_t kl)
{
	(void)k;
	if (kl == 0) {
		rk_client_answer(q, "-ERR empty keys are not supported\r\n");
		return RK_EINVAL;
	}
	if (kl > RK_KV_MAX_KEY) {
		rk_client_answer(q, "-ERR key too large (the limit is 4096 bytes)\r\n");
		return RK_EINVAL;
	}
	return 0;
}

static int check_value(struct creq *q, size_t vl)
{
	if (vl > RK_KV_MAX_VALUE) {
		rk_client_answer(q, "-ERR value too large (the limit is 1048576 bytes)\r\n");
		return RK_EINVAL;
	}
	return 0;
}

static int alloc_ops(struct creq *q, int kind, uint32_t n)
{
	q->kind = kind;
	q->n_ops = n;
	q->frags = n <= 1 ? &q->frag1 : calloc(n, sizeof(*q->frags));
	for (uint32_t i = 0; q->frags != NULL && i < (n ? n : 1); i++)
		q->frags[i].q = q;
	if (q->frags == NULL) {
		q->n_ops = 0;
		rk_client_answer(q, "-ERR out of memory\r\n");
		return RK_ENOMEM;
	}
	return 0;
}

/* Submits operation i; on failure answers it at once as TRYAGAIN (nothing
 * of it was sent anywhere; rk_client_combine_status makes the command
 * -TIMEOUT if another of its operations may have applied). */
static void go(struct creq *q, uint32_t i, const struct rk_buf *b)
{
	if (submit(q, i, b) != 0) {
		q->frags[i].status = RK_CLIENT_TRYAGAIN;
		if (++q->n_done == q->n_ops)
			combine(q);
	}
}

/* A one-key command (client_int.h). */
void rk_client_one(struct creq *q, const struct rk_resp_cmd *c, int op, int mode,
		   int64_t n, size_t first_arg, size_t nargs)
{
	struct rk_kv_cmd kc;
	struct rk_buf b;

	if (check_key(q, c->argv[1], c->argl[1]) != 0)
		return;
	for (size_t i = first_arg + 1; i < first_arg + nargs; i++)
		if (check_value(q, c->argl[i]) != 0)
			return;
	if (alloc_ops(q, K_SINGLE, 1) != 0)
		return;
	q->write = !rk_kv_op_is_read(op);
	memset(&kc, 0, sizeof(kc));
	kc.op = (uint8_t)op;
	kc.mode = (uint8_t)mode;
	kc.n = n;
	rk_buf_init(&b);
	rk_kv_cmd_begin(&b, &kc);
	for (size_t i = first_arg; i < first_arg + nargs; i++)
		rk_kv_cmd_arg(&b, c->argv[i], c->argl[i]);
	rk_kv_cmd_finish(&b, 0, (uint32_t)nargs);
	go(q, 0, &b);
	rk_buf_free(&b);
}

/* DEL, EXISTS, MGET: one operation per key. */
static void per_key(struct creq *q, const struct rk_resp_cmd *c, int op, int kind)
{
	struct rk_kv_cmd kc;
	struct rk_buf b;

	for (size_t i = 1; i < c->argc; i++)
		if (check_key(q, c->argv[i], c->argl[i]) != 0)
			return;
	if (alloc_ops(q, kind, (uint32_t)(c->argc - 1)) != 0)
		return;
	q->write = !rk_kv_op_is_read(op);
	memset(&kc, 0, sizeof(kc));
	kc.op = (uint8_t)op;
	rk_buf_init(&b);
	for (size_t i = 1; i < c->argc; i++) {
		rk_buf_reset(&b);
		rk_kv_cmd_begin(&b, &kc);
		rk_kv_cmd_arg(&b, c->argv[i], c->argl[i]);
		rk_kv_cmd_finish(&b, 0, 1);
		go(q, (uint32_t)(i - 1), &b);
	}
	rk_buf_free(&b);
}

/* MSET: one PUT per range, its pairs together (atomic in that range). */
static void mset(struct creq *q, const struct rk_resp_cmd *c)
{
	size_t npairs = (c->argc - 1) / 2;
	uint64_t *rid = calloc(npairs ? npairs : 1, sizeof(*rid));
	struct rk_kv_cmd kc;
	struct rk_buf b;
	uint32_t nops = 0;

	if (rid == NULL) {
		rk_client_answer(q, "-ERR out of memory\r\n");
		return;
	}
	for (size_t i = 0; i < npairs; i++) {
		const uint8_t *e;
		size_t el;
		if (check_key(q, c->argv[1 + 2 * i], c->argl[1 + 2 * i]) != 0 ||
		    check_value(q, c->argl[2 + 2 * i]) != 0) {
			free(rid);
			return;
		}
		rid[i] = rk_client_range_of(q->srv->router, c->argv[1 + 2 * i],
					    c->argl[1 + 2 * i], &e, &el);
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = rid[j] == rid[i];
		nops += !seen;
	}
	if (alloc_ops(q, K_MSET, nops) != 0) {
		free(rid);
		return;
	}
	q->write = true;
	memset(&kc, 0, sizeof(kc));
	kc.op = RK_KV_PUT;
	rk_buf_init(&b);
	uint32_t op = 0;
	for (size_t i = 0; i < npairs; i++) {
		bool seen = false;
		uint32_t n = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = rid[j] == rid[i];
		if (seen)
			continue;
		rk_buf_reset(&b);
		rk_kv_cmd_begin(&b, &kc);
		for (size_t j = i; j < npairs; j++)
			if (rid[j] == rid[i]) {
				rk_kv_cmd_arg(&b, c->argv[1 + 2 * j], c->argl[1 + 2 * j]);
				rk_kv_cmd_arg(&b, c->argv[2 + 2 * j], c->argl[2 + 2 * j]);
				n += 2;
			}
		rk_kv_cmd_finish(&b, 0, n);
		go(q, op++, &b);
	}
	rk_buf_free(&b);
	free(rid);
}

static void krange(struct creq *q, const struct rk_resp_cmd *c)
{
	int64_t limit = RK_KV_SCAN_MAX;

	if (c->argc == 5) {
		if (!rk_client_arg_is(c, 3, "LIMIT")) {
			rk_client_answer(q, "-ERR syntax error\r\n");
			return;
		}
		if (!rk_kv_parse_i64(c->argv[4], c->argl[4], &limit) || limit < 1) {
			rk_client_answer(q, "-ERR LIMIT must be a positive integer\r\n");
			return;
		}
	}
	if (c->argl[1] > RK_KV_MAX_KEY || c->argl[2] > RK_KV_MAX_KEY) {
		rk_client_answer(q, "-ERR key too large (the limit is 4096 bytes)\r\n");
		return;
	}
	if (alloc_ops(q, K_KRANGE, 1) != 0)
		return;
	q->kr_left = limit;
	q->kr_slen = c->argl[1];
	q->kr_elen = c->argl[2];
	q->kr_start = malloc(q->kr_slen + 1);
	q->kr_end = malloc(q->kr_elen + 1);
	if (q->kr_start == NULL || q->kr_end == NULL) {
		rk_client_answer(q, "-ERR out of memory\r\n");
		return;
	}
	memcpy(q->kr_start, c->argv[1], q->kr_slen);
	memcpy(q->kr_end, c->argv[2], q->kr_elen);
	if (q->kr_elen > 0 && keycmp(q->kr_start, q->kr_slen, q->kr_end, q->kr_elen) >= 0) {
		rk_client_answer(q, "*0\r\n");
		return;
	}
	if (krange_submit(q) != 0)
		rk_client_answer(q, ERR_TRYAGAIN);
}

/* ---- ordering -------------------------------------------------------------------- */

static uint64_t key_hash(const uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t h = 1469598103934665603ull ^ seed;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

void rk_client_cmd_keys(const struct rk_resp_cmd *c, enum rk_client_cmd_id id,
			void (*fn)(void *arg, uint64_t h, bool write, bool all),
			void *arg)
{
	size_t step = 1;
	bool write = true;

	if (id == RK_CMD_DBSIZE) { /* reads every key, takes no argument */
		fn(arg, 0, false, true);
		return;
	}
	if (c->argc < 2)
		return;
	switch (id) {
	case RK_CMD_STRLEN: /* one key read, the others arguments */
	case RK_CMD_GETRANGE:
	case RK_CMD_GETEX:
	case RK_CMD_TYPE:
	case RK_CMD_TTL:
		write = false;
		/* fall through */
	case RK_CMD_SET:
	case RK_CMD_INCR:
	case RK_CMD_DECR:
	case RK_CMD_INCRBY:
	case RK_CMD_DECRBY:
	case RK_CMD_CAS:
	case RK_CMD_SETNX:
		fn(arg, key_hash(c->argv[1], c->argl[1], 0), write, false);
		return;
	case RK_CMD_SEQ_NEXT: /* sequences are not keys */
		fn(arg, key_hash(c->argv[1], c->argl[1], 0x5e9), true, false);
		return;
	case RK_CMD_KRANGE:
	case RK_CMD_SCAN:
	case RK_CMD_KEYS:
		fn(arg, 0, false, true);
		return;
	case RK_CMD_GET:
	case RK_CMD_MGET:
	case RK_CMD_EXISTS:
		write = false;
		break;
	case RK_CMD_MSET:
		step = 2;
		break;
	case RK_CMD_DEL:
	case RK_CMD_UNLINK:
		break;
	default:
		return;
	}
	for (size_t i = 1; i < c->argc; i += step)
		fn(arg, key_hash(c->argv[i], c->argl[i], 0), write, false);
}

/* ---- the command table ---------------------------------------------------------- */

/* Copies up to max bytes of an argument for an error text: what Redis
 * prints, with control and non-ASCII bytes as '?' so the reply stays one
 * readable line. */
static size_t printable(char *out, const uint8_t *p, size_t n, size_t max,
			bool lower)
{
	size_t l = n < max ? n : max;

	for (size_t i = 0; i < l; i++) {
		uint8_t ch = p[i];
		if (lower && ch >= 'A' && ch <= 'Z')
			ch = (uint8_t)(ch + 32);
		out[i] = (char)(ch < 0x20 || ch > 0x7e ? '?' : ch);
	}
	out[l] = '\0';
	return l;
}

void rk_client_reply_arity(struct creq *q, const struct rk_resp_cmd *c, bool sub)
{
	char name[80];
	size_t n = printable(name, c->argv[0], c->argl[0], 32, true);

	if (sub && c->argc > 1) {
		name[n++] = '|';
		printable(name + n, c->argv[1], c->argl[1], 32, true);
	}
	reply_named(q, "ERR wrong number of arguments for ", name, " command");
}

static void arity(struct creq *q, const struct rk_resp_cmd *c)
{
	rk_client_reply_arity(q, c, false);
}

/* As Redis 7: "ERR unknown command 'name', with args beginning with:
 * 'a' 'b' " (the arguments up to about 128 bytes). */
static void unknown(struct creq *q, const struct rk_resp_cmd *c)
{
	char name[132], arg[132];
	size_t used = 0;

	printable(name, c->argv[0], c->argl[0], 128, false);
	rk_buf_printf(&q->reply, "-ERR unknown command '%s', with args beginning with: ",
		      name);
	for (size_t i = 1; i < c->argc && used < 128; i++) {
		used += printable(arg, c->argv[i], c->argl[i], 128 - used, false) + 3;
		rk_buf_printf(&q->reply, "'%s' ", arg);
	}
	rk_client_answer(q, "\r\n");
}

static const struct {
	const char *name;
	enum rk_client_cmd_id id;
} cmd_names[] = {
	{"SET", RK_CMD_SET},       {"GET", RK_CMD_GET},
	{"DEL", RK_CMD_DEL},       {"UNLINK", RK_CMD_UNLINK},
	{"EXISTS", RK_CMD_EXISTS}, {"MGET", RK_CMD_MGET},
	{"MSET", RK_CMD_MSET},     {"INCR", RK_CMD_INCR},
	{"DECR", RK_CMD_DECR},     {"INCRBY", RK_CMD_INCRBY},
	{"DECRBY", RK_CMD_DECRBY}, {"CAS", RK_CMD_CAS},
	{"SEQ.NEXT", RK_CMD_SEQ_NEXT}, {"KRANGE", RK_CMD_KRANGE},
	{"PING", RK_CMD_PING},     {"ECHO", RK_CMD_ECHO},
	{"QUIT", RK_CMD_QUIT},     {"COMMAND", RK_CMD_COMMAND},
	{"INFO", RK_CMD_INFO},     {"SCAN", RK_CMD_SCAN},
	{"KEYS", RK_CMD_KEYS},     {"DBSIZE", RK_CMD_DBSIZE},
	{"AUTH", RK_CMD_AUTH},     {"HELLO", RK_CMD_HELLO},
	{"SELECT", RK_CMD_SELECT}, {"CLIENT", RK_CMD_CLIENT},
	{"MULTI", RK_CMD_MULTI},   {"EXEC", RK_CMD_EXEC},
	{"DISCARD", RK_CMD_DISCARD}, {"WATCH", RK_CMD_WATCH},
	{"UNWATCH", RK_CMD_UNWATCH},
	{"SETNX", RK_CMD_SETNX},   {"STRLEN", RK_CMD_STRLEN},
	{"GETRANGE", RK_CMD_GETRANGE}, {"SUBSTR", RK_CMD_GETRANGE},
	{"TYPE", RK_CMD_TYPE},     {"TTL", RK_CMD_TTL},
	{"PTTL", RK_CMD_TTL},      {"EXPIRETIME", RK_CMD_TTL},
	{"PEXPIRETIME", RK_CMD_TTL}, {"PERSIST", RK_CMD_PERSIST},
	{"EXPIRE", RK_CMD_EXPIRY}, {"PEXPIRE", RK_CMD_EXPIRY},
	{"EXPIREAT", RK_CMD_EXPIRY}, {"PEXPIREAT", RK_CMD_EXPIRY},
	{"SETEX", RK_CMD_EXPIRY},  {"PSETEX", RK_CMD_EXPIRY},
	{"GETEX", RK_CMD_GETEX},  {"CONFIG", RK_CMD_CONFIG},
	{"TIME", RK_CMD_TIME},
};

enum rk_client_cmd_id rk_client_cmd_lookup(const struct rk_resp_cmd *c)
{
	if (c->argc == 0)
		return RK_CMD_UNKNOWN;
	for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (rk_client_arg_is(c, 0, cmd_names[i].name))
			return cmd_names[i].id;
	return RK_CMD_UNKNOWN;
}

void rk_client_dispatch(struct creq *q, const struct rk_resp_cmd *c,
			enum rk_client_cmd_id id)
{
	size_t argc = c->argc;
	int64_t n;

	if (argc == 0) {
		rk_client_answer(q, "-ERR empty command\r\n");
		return;
	}
	if (rk_client_conn_cmd(q, c, id))
		return; /* a command about the connection, or refused */
	if (rk_client_str_dispatch(q, c, id))
		return;
	switch (id) {
	case RK_CMD_GET:
		if (argc != 2)
			{ arity(q, c); return; }
		{ rk_client_one(q, c, RK_KV_GET, 0, 0, 1, 1); return; }
	case RK_CMD_SET: {
		int mode = RK_KV_PUT_ALWAYS;
		if (argc < 3)
			{ arity(q, c); return; }
		for (size_t i = 3; i < argc; i++) {
			if (rk_client_arg_is(c, i, "NX") && mode == RK_KV_PUT_ALWAYS)
				mode = RK_KV_PUT_NX;
			else if (rk_client_arg_is(c, i, "XX") && mode == RK_KV_PUT_ALWAYS)
				mode = RK_KV_PUT_XX;
			else if (rk_client_set_option_refused(q, c, i))
				return; /* an expiry or GET: answered why */
			else
				{ rk_client_answer(q, "-ERR syntax error\r\n"); return; }
		}
		{ rk_client_one(q, c, RK_KV_PUT, mode, 0, 1, 2); return; }
	}
	case RK_CMD_DEL:
	case RK_CMD_UNLINK:
		if (argc < 2)
			{ arity(q, c); return; }
		{ per_key(q, c, RK_KV_DEL, K_SUM); return; }
	case RK_CMD_EXISTS:
		if (argc < 2)
			{ arity(q, c); return; }
		{ per_key(q, c, RK_KV_EXISTS, K_SUM); return; }
	case RK_CMD_MGET:
		if (argc < 2)
			{ arity(q, c); return; }
		{ per_key(q, c, RK_KV_GET, K_MGET); return; }
	case RK_CMD_MSET:
		if (argc < 3 || argc % 2 == 0)
			{ arity(q, c); return; }
		{ mset(q, c); return; }
	case RK_CMD_INCR:
	case RK_CMD_DECR:
		if (argc != 2)
			{ arity(q, c); return; }
		{ rk_client_one(q, c, RK_KV_INCR, 0, id == RK_CMD_INCR ? 1 : -1, 1, 1); return; }
	case RK_CMD_INCRBY:
	case RK_CMD_DECRBY:
		if (argc != 3)
			{ arity(q, c); return; }
		if (!rk_kv_parse_i64(c->argv[2], c->argl[2], &n) ||
		    (id == RK_CMD_DECRBY && n == INT64_MIN))
			{ rk_client_answer(q, "-ERR value is not an integer or out of range\r\n"); return; }
		{ rk_client_one(q, c, RK_KV_INCR, 0, id == RK_CMD_INCRBY ? n : -n, 1, 1); return; }
	case RK_CMD_CAS:
		if (argc != 4)
			{ arity(q, c); return; }
		{ rk_client_one(q, c, RK_KV_CAS, 0, 0, 1, 3); return; }
	case RK_CMD_SEQ_NEXT:
		n = 1;
		if (argc != 2 && argc != 3)
			{ arity(q, c); return; }
		if (argc == 3 && (!rk_kv_parse_i64(c->argv[2], c->argl[2], &n) ||
				  n < 1 || n > RK_KV_MAX_SEQ_COUNT))
			{ rk_client_answer(q, "-ERR count must be an integer between 1 and 1000000\r\n"); return; }
		{ rk_client_one(q, c, RK_KV_SEQ, 0, n, 1, 1); return; }
	case RK_CMD_KRANGE:
		if (argc != 3 && argc != 5)
			{ arity(q, c); return; }
		{ krange(q, c); return; }
	case RK_CMD_PING:
		if (argc > 2)
			{ arity(q, c); return; }
		if (argc == 1)
			{ rk_client_answer(q, "+PONG\r\n"); return; }
		{ rk_client_answer_bulk(q, c->argv[1], c->argl[1]); return; }
	case RK_CMD_ECHO:
		if (argc != 2)
			{ arity(q, c); return; }
		{ rk_client_answer_bulk(q, c->argv[1], c->argl[1]); return; }
	case RK_CMD_QUIT:
		rk_client_conn_quit(q->conn);
		{ rk_client_answer(q, "+OK\r\n"); return; }
	case RK_CMD_COMMAND:
		/* No command documentation: redis-cli asks for it (COMMAND
		 * DOCS) and does without. COUNT is the table's names. */
		if (argc >= 2 && rk_client_arg_is(c, 1, "COUNT")) {
			rk_buf_printf(&q->reply, ":%zu\r\n", sizeof(cmd_names) / sizeof(cmd_names[0]));
			rk_client_creq_done(q);
			return;
		}
		{ rk_client_answer(q, "*0\r\n"); return; }
	case RK_CMD_INFO:
		{ rk_client_info(q, c); return; }
	case RK_CMD_SCAN:
		if (argc < 2)
			{ arity(q, c); return; }
		{ rk_client_scan(q, c, id); return; }
	case RK_CMD_KEYS:
		if (argc != 2)
			{ arity(q, c); return; }
		{ rk_client_scan(q, c, id); return; }
	case RK_CMD_DBSIZE:
		if (argc != 1)
			{ arity(q, c); return; }
		{ rk_client_scan(q, c, id); return; }
	default: /* the connection's commands: answered above */
		break;
	}
	unknown(q, c);
}
