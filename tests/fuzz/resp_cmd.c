/*
 * Fuzz target resp_cmd: rk_resp_parse_cmd, the request parser of the client
 * port (every byte a client sends goes through it).
 *
 * Each input is parsed under the default limits and under tiny ones (so the
 * "too large" paths are reached by short inputs). Properties, for every
 * command of the pipelined input:
 *  - the return code is one of 1, 0, RK_EPROTO, RK_ETOOBIG, RK_ENOMEM; an
 *    error comes with a reply text, anything else without;
 *  - "need more" (0) consumes nothing unless it skipped an empty inline line
 *    or a "*0"/"*-1" header, and those bytes are exactly that;
 *  - a complete command consumed 1..size bytes; it has 1..max_args
 *    arguments, each inside the consumed bytes, in order, not overlapping;
 *    a multibulk argument is at most max_bulk bytes and followed by CRLF;
 *    an inline argument is a non-empty run without blanks, CR or quotes on
 *    one line of at most max_inline bytes, or a quoted one unescaped into
 *    the command's scratch, shorter than its line;
 *  - re-encoding the command (rk_resp_command) and parsing that gives the
 *    same arguments and consumes exactly the encoding; for a multibulk
 *    request the encoding is never longer than the request and identical
 *    to it when as long (there is one canonical form);
 *  - incremental parsing: for every prefix of the first 64 bytes and the
 *    prefixes around the consumed length, a prefix that yields a final
 *    answer (a command, an error, or skipped bytes) yields exactly the
 *    answer of the whole input; when the whole input yields a command (or
 *    skipped bytes), the prefix of exactly the consumed length yields it too. (The parser is stateless: a connection re-parses its
 *    buffer from the start as bytes arrive, so this is what a split read
 *    does.)
 */
#include <string.h>

#include "rangekv/resp.h"

#include "fuzz.h"

#define PREFIX_ALL 64 /* every prefix up to this length is checked */
#define PIPELINE_MAX 64

struct res {
	int rc;
	size_t consumed;
	const char *err;
	struct rk_resp_cmd cmd;
};

static const struct rk_resp_limits tiny = {
	.max_bulk = 8,
	.max_args = 3,
	.max_inline = 16,
};

static const struct rk_resp_limits unlimited = {
	.max_bulk = SIZE_MAX,
	.max_args = SIZE_MAX,
	.max_inline = SIZE_MAX,
};

static void parse(const struct rk_resp_limits *lim, const uint8_t *buf,
		  size_t len, struct res *r)
{
	r->rc = rk_resp_parse_cmd(lim, buf, len, &r->consumed, &r->cmd, &r->err);
}

static int is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Whether a..a+al lies in c's scratch (quoted inline arguments). */
static int in_scratch(const struct rk_resp_cmd *c, const uint8_t *a, size_t al)
{
	return c->scratch != NULL && a >= c->scratch && a + al <= c->scratch + c->scratch_cap;
}

static void check_result(const struct rk_resp_limits *lim, const uint8_t *buf,
			 size_t len, const struct res *r)
{
	const struct rk_resp_cmd *c = &r->cmd;
	size_t i;

	FUZZ_CHECK(r->rc == 1 || r->rc == 0 || r->rc == RK_EPROTO ||
		   r->rc == RK_ETOOBIG || r->rc == RK_ENOMEM);
	FUZZ_CHECK(r->consumed <= len);
	if (r->rc < 0) {
		FUZZ_CHECK(r->err != NULL && r->err[0] != '\0');
		return;
	}
	FUZZ_CHECK(r->err == NULL);
	if (r->rc == 0) {
		FUZZ_CHECK(c->argc == 0);
		if (r->consumed == 0)
			return;
		/* Skipped: "*0\r\n", "*-1\r\n" (any spelling of the
		 * number), or an inline line of blanks. */
		FUZZ_CHECK(buf[r->consumed - 1] == '\n');
		if (buf[0] == '*') {
			FUZZ_CHECK(r->consumed >= 4 &&
				   buf[r->consumed - 2] == '\r');
			for (i = 1; i < r->consumed - 2; i++)
				FUZZ_CHECK((buf[i] >= '0' && buf[i] <= '9') ||
					   (i == 1 && buf[i] == '-'));
		} else {
			for (i = 0; i + 1 < r->consumed; i++)
				FUZZ_CHECK(is_blank(buf[i]) || buf[i] == '\r' ||
					   buf[i] == '\v' || buf[i] == '\f');
		}
		return;
	}

	/* A complete command. */
	const uint8_t *last_input = buf, *last_scratch = c->scratch;

	FUZZ_CHECK(r->consumed >= 1);
	FUZZ_CHECK(c->argc >= 1 && c->argc <= lim->max_args);
	FUZZ_CHECK(c->argc <= c->cap && c->argv != NULL && c->argl != NULL);
	for (i = 0; i < c->argc; i++) {
		const uint8_t *a = c->argv[i];
		size_t al = c->argl[i];

		if (buf[0] != '*' && in_scratch(c, a, al)) {
			/* A quoted inline argument, unescaped: never longer
			 * than its line, after the scratch's earlier ones. */
			FUZZ_CHECK(al < r->consumed);
			FUZZ_CHECK(a >= last_scratch);
			last_scratch = a + al;
			continue;
		}
		FUZZ_CHECK(a >= buf && a <= buf + r->consumed);
		FUZZ_CHECK(al <= (size_t)(buf + r->consumed - a));
		FUZZ_CHECK(a >= last_input);
		last_input = a + al;
		if (buf[0] == '*') {
			FUZZ_CHECK(al <= lim->max_bulk);
			FUZZ_CHECK((size_t)(buf + r->consumed - a) >= al + 2);
			FUZZ_CHECK(a[al] == '\r' && a[al + 1] == '\n');
		} else {
			size_t j;

			/* Unquoted: the input's own bytes, a run without
			 * the bytes that end a token or open a quote. */
			FUZZ_CHECK(al >= 1);
			for (j = 0; j < al; j++)
				FUZZ_CHECK(!is_blank(a[j]) && a[j] != '\n' && a[j] != '\r' &&
					   a[j] != '"' && a[j] != '\'');
		}
	}
	if (buf[0] == '*') {
		FUZZ_CHECK(buf[r->consumed - 2] == '\r' &&
			   buf[r->consumed - 1] == '\n');
	} else {
		FUZZ_CHECK(buf[r->consumed - 1] == '\n');
		FUZZ_CHECK(memchr(buf, '\n', r->consumed - 1) == NULL);
		FUZZ_CHECK(r->consumed - 1 <= lim->max_inline);
	}
}

static int same_result(const struct res *a, const struct res *b)
{
	size_t i;

	if (a->rc != b->rc || a->consumed != b->consumed)
		return 0;
	if ((a->err == NULL) != (b->err == NULL))
		return 0;
	if (a->err != NULL && strcmp(a->err, b->err) != 0)
		return 0;
	if (a->rc != 1)
		return 1;
	if (a->cmd.argc != b->cmd.argc)
		return 0;
	/* The same bytes of the input, or the same unescaped bytes (each
	 * result has a scratch of its own). */
	for (i = 0; i < a->cmd.argc; i++) {
		size_t l = a->cmd.argl[i];
		if (l != b->cmd.argl[i])
			return 0;
		if (in_scratch(&a->cmd, a->cmd.argv[i], l) != in_scratch(&b->cmd, b->cmd.argv[i], l))
			return 0;
		if (in_scratch(&a->cmd, a->cmd.argv[i], l)
			    ? l > 0 && memcmp(a->cmd.argv[i], b->cmd.argv[i], l) != 0
			    : a->cmd.argv[i] != b->cmd.argv[i])
			return 0;
	}
	return 1;
}

static int is_final(const struct res *r)
{
	return r->rc != 0 || r->consumed > 0;
}

/* Encodes the command as a client would and parses that back. */
static void check_reencode(const uint8_t *buf, const struct res *r)
{
	const struct rk_resp_cmd *c = &r->cmd;
	struct rk_resp_out o;
	struct res back;
	const char **argv;
	size_t i;

	argv = malloc(c->argc * sizeof(*argv));
	if (argv == NULL)
		return;
	for (i = 0; i < c->argc; i++)
		argv[i] = (const char *)c->argv[i];
	rk_resp_out_init(&o);
	rk_resp_command(&o, c->argc, argv, c->argl);
	free(argv);
	if (o.oom) {
		rk_resp_out_free(&o);
		return;
	}
	rk_resp_cmd_init(&back.cmd);
	parse(&unlimited, o.p, o.len, &back);
	if (back.rc != RK_ENOMEM) {
		FUZZ_CHECK(back.rc == 1);
		FUZZ_CHECK(back.consumed == o.len);
		FUZZ_CHECK(back.cmd.argc == c->argc);
		for (i = 0; i < c->argc; i++) {
			FUZZ_CHECK(back.cmd.argl[i] == c->argl[i]);
			FUZZ_CHECK(memcmp(back.cmd.argv[i], c->argv[i],
					  c->argl[i]) == 0);
		}
	}
	if (buf[0] == '*') {
		FUZZ_CHECK(o.len <= r->consumed);
		if (o.len == r->consumed)
			FUZZ_CHECK(memcmp(o.p, buf, o.len) == 0);
	}
	rk_resp_cmd_free(&back.cmd);
	rk_resp_out_free(&o);
}

static void check_prefix(const struct rk_resp_limits *lim, const uint8_t *buf,
			 size_t k, const struct res *full, struct res *pre)
{
	parse(lim, buf, k, pre);
	check_result(lim, buf, k, pre);
	if (pre->rc == RK_ENOMEM || full->rc == RK_ENOMEM)
		return;
	if (is_final(pre))
		FUZZ_CHECK(same_result(pre, full));
	if (k == full->consumed && full->rc >= 0 && full->consumed > 0)
		FUZZ_CHECK(is_final(pre) && same_result(pre, full));
}

static void check_incremental(const struct rk_resp_limits *lim,
			      const uint8_t *buf, size_t len,
			      const struct res *full)
{
	struct res pre;
	size_t k;

	rk_resp_cmd_init(&pre.cmd);
	for (k = 0; k <= len && k <= PREFIX_ALL; k++)
		check_prefix(lim, buf, k, full, &pre);
	for (k = full->consumed > 1 ? full->consumed - 1 : 0;
	     k <= full->consumed + 1 && k <= len; k++)
		if (k > PREFIX_ALL)
			check_prefix(lim, buf, k, full, &pre);
	rk_resp_cmd_free(&pre.cmd);
}

static void run(const struct rk_resp_limits *lim, const uint8_t *data,
		size_t size)
{
	struct res r;
	size_t pos = 0;
	int n;

	rk_resp_cmd_init(&r.cmd);
	for (n = 0; n < PIPELINE_MAX && pos < size; n++) {
		const uint8_t *buf = data + pos;
		size_t len = size - pos;

		parse(lim, buf, len, &r);
		check_result(lim, buf, len, &r);
		if (n == 0)
			check_incremental(lim, buf, len, &r);
		if (r.rc == 1)
			check_reencode(buf, &r);
		if (r.rc < 0 || r.consumed == 0)
			break;
		pos += r.consumed;
	}
	rk_resp_cmd_free(&r.cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_resp_limits def;

	rk_resp_limits_default(&def);
	run(&def, data, size);
	run(&tiny, data, size);
	return 0;
}
