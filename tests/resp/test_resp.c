/*
 * RESP2: request parsing (pipelined, split at every byte, malformed and
 * oversized input), reply encoding and parsing, and seeded random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rangekv/resp.h"

static struct rk_resp_limits lim;

static int parse(const char *s, size_t len, size_t *used, struct rk_resp_cmd *c,
		 const char **err)
{
	return rk_resp_parse_cmd(&lim, (const uint8_t *)s, len, used, c, err);
}

#define ARG_IS(c, i, lit) \
	(c.argl[i] == sizeof(lit) - 1 && memcmp(c.argv[i], lit, sizeof(lit) - 1) == 0)

static void test_parse_pipelined(void **state)
{
	const char in[] = "*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$5\r\nv\0\r\nx\r\n"
			  "*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n";
	struct rk_resp_cmd c;
	const char *err;
	size_t used, off = 0;

	(void)state;
	rk_resp_cmd_init(&c);
	assert_int_equal(parse(in, sizeof(in) - 1, &used, &c, &err), 1);
	assert_int_equal(c.argc, 3);
	assert_true(ARG_IS(c, 0, "SET"));
	assert_true(ARG_IS(c, 1, "k\r\n"));
	assert_int_equal(c.argl[2], 5);
	assert_memory_equal(c.argv[2], "v\0\r\nx", 5);
	off = used;
	assert_int_equal(parse(in + off, sizeof(in) - 1 - off, &used, &c, &err), 1);
	assert_int_equal(c.argc, 2);
	assert_true(ARG_IS(c, 0, "GET"));
	assert_int_equal(off + used, sizeof(in) - 1);
	rk_resp_cmd_free(&c);
}

static void test_parse_split_everywhere(void **state)
{
	const char in[] = "*3\r\n$3\r\nSET\r\n$12\r\nkey:00000042\r\n$10\r\n0123456789\r\n";
	struct rk_resp_cmd c;
	const char *err;
	size_t used, cut;

	(void)state;
	rk_resp_cmd_init(&c);
	for (cut = 0; cut < sizeof(in) - 1; cut++) {
		assert_int_equal(parse(in, cut, &used, &c, &err), 0);
		assert_int_equal(used, 0);
	}
	assert_int_equal(parse(in, sizeof(in) - 1, &used, &c, &err), 1);
	assert_int_equal(used, sizeof(in) - 1);
	assert_true(ARG_IS(c, 1, "key:00000042"));
	rk_resp_cmd_free(&c);
}

static void expect_error(const char *in, size_t len, int rc_want)
{
	struct rk_resp_cmd c;
	const char *err = NULL;
	size_t used;

	rk_resp_cmd_init(&c);
	assert_int_equal(parse(in, len, &used, &c, &err), rc_want);
	assert_non_null(err);
	assert_non_null(strstr(err, "Protocol error") != NULL ? err : NULL);
	rk_resp_cmd_free(&c);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	expect_error("*abc\r\n", 6, RK_EPROTO);
	expect_error("*-5\r\n", 5, RK_EPROTO);                       /* negative array */
	expect_error("*1\r\n$1099511627776\r\n", 21, RK_ETOOBIG);   /* 2^40 bulk */
	expect_error("*1\r\n$99999999999999999999\r\n", 27, RK_EPROTO);
	expect_error("*2\r\n$3\r\nfoo\r\n:1\r\n", 18, RK_EPROTO);    /* not a bulk */
	expect_error("*1\r\n$3\r\nfooXX", 13, RK_EPROTO);            /* no CRLF */
	expect_error("*1\r\n$-1\r\n", 9, RK_EPROTO);
	expect_error("*1\r\n$3x\r\nfoo\r\n", 14, RK_EPROTO);
	expect_error("*1\n", 3, RK_EPROTO);
	/* A header that never ends. */
	{
		char big[64];
		memset(big, '1', sizeof(big));
		big[0] = '*';
		expect_error(big, sizeof(big), RK_EPROTO);
	}
	/* More arguments than allowed. */
	{
		char hdr[32];
		int n = snprintf(hdr, sizeof(hdr), "*%zu\r\n", lim.max_args + 1);
		expect_error(hdr, (size_t)n, RK_ETOOBIG);
	}
}

static void test_parse_empty_and_inline(void **state)
{
	struct rk_resp_cmd c;
	const char *err;
	size_t used;
	char *line;

	(void)state;
	rk_resp_cmd_init(&c);
	assert_int_equal(parse("*0\r\n", 4, &used, &c, &err), 0);
	assert_int_equal(used, 4); /* skipped */
	assert_int_equal(parse("*-1\r\n", 5, &used, &c, &err), 0);
	assert_int_equal(used, 5);
	assert_int_equal(parse("\r\n", 2, &used, &c, &err), 0);
	assert_int_equal(used, 2);
	assert_int_equal(parse("SET  a\tb\r\nGET", 13, &used, &c, &err), 1);
	assert_int_equal(used, 10);
	assert_int_equal(c.argc, 3);
	assert_true(ARG_IS(c, 2, "b"));
	assert_int_equal(parse("PING", 4, &used, &c, &err), 0);
	line = malloc(lim.max_inline + 10);
	memset(line, 'a', lim.max_inline + 10);
	assert_int_equal(parse(line, lim.max_inline + 10, &used, &c, &err), RK_ETOOBIG);
	free(line);
	rk_resp_cmd_free(&c);
}

/* Quoted inline arguments, as Redis's sdssplitargs reads them. */
static void test_parse_inline_quotes(void **state)
{
	static const struct {
		const char *line;
		size_t argc;
		const char *args[4];
		size_t lens[4];
	} ok[] = {
		{"SET \"a b\" 'c d'\r\n", 3, {"SET", "a b", "c d"}, {3, 3, 3}},
		{"SET k \"\"\n", 3, {"SET", "k", ""}, {3, 1, 0}},
		{"SET k ''\n", 3, {"SET", "k", ""}, {3, 1, 0}},
		{"ECHO \"\\x41\\x0a\\n\\t\\\"\\\\\\q\"\n", 2, {"ECHO", "A\n\n\t\"\\q"}, {4, 7}},
		{"ECHO \"\\x4\"\n", 2, {"ECHO", "x4"}, {4, 2}},        /* \x without two hex digits */
		{"ECHO \"\\x00\"\n", 2, {"ECHO", "\0"}, {4, 1}},
		{"ECHO 'it\\'s' '\\n'\n", 3, {"ECHO", "it's", "\\n"}, {4, 4, 2}},
		{"ECHO a\"b c\"\n", 2, {"ECHO", "ab c"}, {4, 4}},       /* a quote inside a token */
		{"ECHO a\rb\n", 3, {"ECHO", "a", "b"}, {4, 1, 1}},      /* a lone CR separates */
		{"\v ECHO \f x \n", 2, {"ECHO", "x"}, {4, 1}},        /* \v \f between... */
		{"ECHO a\fb\n", 2, {"ECHO", "a\fb"}, {4, 3}},           /* ...not inside */
	};
	static const char *const bad[] = {
		"SET \"a\n", "SET 'a\n", "SET \"a\"b\n", "SET 'a'b\n", "ECHO \"a\\\"\n",
	};
	struct rk_resp_cmd c;
	const char *err;
	size_t used;

	(void)state;
	rk_resp_cmd_init(&c);
	for (size_t t = 0; t < sizeof(ok) / sizeof(ok[0]); t++) {
		size_t n = strlen(ok[t].line);
		assert_int_equal(parse(ok[t].line, n, &used, &c, &err), 1);
		assert_int_equal(used, n);
		assert_int_equal(c.argc, ok[t].argc);
		for (size_t i = 0; i < c.argc; i++) {
			assert_int_equal(c.argl[i], ok[t].lens[i]);
			if (c.argl[i] > 0)
				assert_memory_equal(c.argv[i], ok[t].args[i], c.argl[i]);
		}
		/* Without its newline: more is needed, whatever the quotes. */
		assert_int_equal(parse(ok[t].line, n - 1 - (ok[t].line[n - 2] == '\r'), &used, &c, &err), 0);
		assert_int_equal(used, 0);
	}
	for (size_t t = 0; t < sizeof(bad) / sizeof(bad[0]); t++) {
		assert_int_equal(parse(bad[t], strlen(bad[t]), &used, &c, &err), RK_EPROTO);
		assert_string_equal(err, "Protocol error: unbalanced quotes in request");
	}
	rk_resp_cmd_free(&c);
}

static void test_replies_round_trip(void **state)
{
	struct rk_resp_out o;
	struct rk_resp_reply r;
	size_t used, cut;

	(void)state;
	rk_resp_out_init(&o);
	rk_resp_array(&o, 5);
	rk_resp_simple(&o, "OK");
	rk_resp_error(&o, "ERR bad\r\nthing");
	rk_resp_int(&o, -42);
	rk_resp_nil(&o);
	rk_resp_array(&o, 2);
	rk_resp_bulk(&o, "a\r\nb", 4);
	rk_resp_bulk(&o, "", 0);
	for (cut = 0; cut < o.len; cut++) {
		assert_int_equal(rk_resp_parse_reply(o.p, cut, &used, &r), 0);
	}
	assert_int_equal(rk_resp_parse_reply(o.p, o.len, &used, &r), 1);
	assert_int_equal(used, o.len);
	assert_int_equal(r.type, RK_RESP_ARRAY);
	assert_int_equal(r.n, 5);
	assert_string_equal((char *)r.elems[0].str, "OK");
	assert_int_equal(r.elems[1].type, RK_RESP_ERROR);
	assert_string_equal((char *)r.elems[1].str, "ERR bad  thing");
	assert_int_equal(r.elems[2].integer, -42);
	assert_int_equal(r.elems[3].type, RK_RESP_NIL);
	assert_int_equal(r.elems[4].n, 2);
	assert_int_equal(r.elems[4].elems[0].len, 4);
	assert_memory_equal(r.elems[4].elems[0].str, "a\r\nb", 4);
	rk_resp_reply_free(&r);
	assert_int_equal(rk_resp_parse_reply((const uint8_t *)"?x\r\n", 4, &used, &r),
			 RK_EPROTO);
	rk_resp_out_free(&o);
}

/* Integer replies over the whole int64_t range (INCRBY's 19 digits), and
 * nothing past it. */
static void test_reply_integers_of_19_digits(void **state)
{
	static const struct {
		const char *in;
		int rc;
		int64_t v;
	} cases[] = {
		{":999999999999999999\r\n", 1, 999999999999999999LL},
		{":1000000000000000000\r\n", 1, 1000000000000000000LL},
		{":9223372036854775807\r\n", 1, INT64_MAX},
		{":-9223372036854775808\r\n", 1, INT64_MIN},
		{":9223372036854775808\r\n", RK_EPROTO, 0},
		{":-9223372036854775809\r\n", RK_EPROTO, 0},
		{":0000000000000000001\r\n", 1, 1},
		{":00000000000000000001\r\n", RK_EPROTO, 0}, /* 20 digits */
	};
	struct rk_resp_reply r;
	size_t used, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in);
		int rc = rk_resp_parse_reply((const uint8_t *)cases[i].in, n, &used, &r);

		assert_int_equal(rc, cases[i].rc);
		if (rc == 1) {
			assert_int_equal(r.type, RK_RESP_INT);
			assert_true(r.integer == cases[i].v);
			assert_int_equal(used, n);
			rk_resp_reply_free(&r);
		}
	}
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Random bytes and mutated valid requests: no crash, and every command
 * returned lies inside the input. */
static void test_random_input(void **state)
{
	static const char alphabet[] = "*$:+-\r\n0123456789-abcSETGET ";
	const char seed_req[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n";
	struct rk_resp_cmd c;
	struct rk_resp_reply r;
	uint8_t buf[128];
	uint64_t s = 12345;
	const char *err;
	size_t used, len, i, k;
	int rc, n;

	(void)state;
	rk_resp_cmd_init(&c);
	for (n = 0; n < 200000; n++) {
		len = rnd(&s) % sizeof(buf);
		if (n % 2) {
			memcpy(buf, seed_req, sizeof(seed_req) - 1);
			len = sizeof(seed_req) - 1;
			for (k = rnd(&s) % 4; k > 0; k--)
				buf[rnd(&s) % len] = (uint8_t)alphabet[rnd(&s) % (sizeof(alphabet) - 1)];
			len -= rnd(&s) % 3;
		} else {
			for (i = 0; i < len; i++)
				buf[i] = rnd(&s) % 4 ? (uint8_t)alphabet[rnd(&s) % (sizeof(alphabet) - 1)] : (uint8_t)rnd(&s);
		}
		rc = rk_resp_parse_cmd(&lim, buf, len, &used, &c, &err);
		assert_true(used <= len);
		if (rc == 1) {
			/* In the input, or (quoted inline arguments) in the
			 * command's scratch. */
			for (i = 0; i < c.argc; i++)
				assert_true((c.argv[i] >= buf && c.argv[i] + c.argl[i] <= buf + used) ||
					    (c.scratch != NULL && c.argv[i] >= c.scratch &&
					     c.argv[i] + c.argl[i] <= c.scratch + c.scratch_cap));
		} else if (rc < 0) {
			assert_non_null(err);
		}
		rc = rk_resp_parse_reply(buf, len, &used, &r);
		assert_true(used <= len);
		if (rc == 1)
			rk_resp_reply_free(&r);
	}
	rk_resp_cmd_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pipelined),
		cmocka_unit_test(test_parse_split_everywhere),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_empty_and_inline),
		cmocka_unit_test(test_parse_inline_quotes),
		cmocka_unit_test(test_replies_round_trip),
		cmocka_unit_test(test_reply_integers_of_19_digits),
		cmocka_unit_test(test_random_input),
	};
	rk_resp_limits_default(&lim);
	return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
