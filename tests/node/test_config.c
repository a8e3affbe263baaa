/*
 * `rangekv start` flags and the first-start key-space cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "keyspace.h"
#include "rangekv/error.h"

static void test_uniform_boundaries(void **state)
{
	struct rk_keyspace ks;
	static const uint8_t third[8] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};

	(void)state;
	assert_int_equal(rk_keyspace_uniform(4, &ks), 0);
	assert_int_equal(ks.n, 4);
	/* 2^64 / 4 = 0x4000000000000000: trailing zero bytes removed. */
	assert_int_equal(ks.bounds[0].len, 1);
	assert_int_equal(ks.bounds[0].p[0], 0x40);
	assert_int_equal(ks.bounds[1].p[0], 0x80);
	assert_int_equal(ks.bounds[2].p[0], 0xc0);
	rk_keyspace_free(&ks);
	assert_int_equal(rk_keyspace_uniform(3, &ks), 0);
	assert_int_equal(ks.bounds[0].len, 8);
	assert_memory_equal(ks.bounds[0].p, third, 8);
	assert_int_equal(ks.bounds[1].p[0], 0xaa);
	assert_int_equal(ks.bounds[1].p[7], 0xaa);
	rk_keyspace_free(&ks);
	assert_int_equal(rk_keyspace_uniform(1, &ks), 0);
	assert_int_equal(ks.n, 1);
	rk_keyspace_free(&ks);
	assert_int_equal(rk_keyspace_uniform(0, &ks), RK_EINVAL);
	/* Strictly increasing for a large n. */
	assert_int_equal(rk_keyspace_uniform(1024, &ks), 0);
	for (uint32_t i = 1; i + 1 < ks.n; i++)
		assert_true(rk_key_cmp(ks.bounds[i - 1].p, ks.bounds[i - 1].len,
				       ks.bounds[i].p, ks.bounds[i].len) < 0);
	rk_keyspace_free(&ks);
}

static void test_split_at(void **state)
{
	struct rk_keyspace ks;
	char err[256];

	(void)state;
	assert_int_equal(rk_keyspace_split_at("key:000000025000,key:000000050000,a\\x2cb\\xff",
					      &ks, err, sizeof(err)), RK_EINVAL);
	assert_non_null(strstr(err, "strictly increasing"));
	assert_int_equal(rk_keyspace_split_at("key:000000025000,key:000000050000,z\\x2cb\\xff",
					      &ks, err, sizeof(err)), 0);
	assert_int_equal(ks.n, 4);
	assert_int_equal(ks.bounds[2].len, 4);
	assert_memory_equal(ks.bounds[2].p, "z,b\xff", 4);
	rk_keyspace_free(&ks);
	assert_int_equal(rk_keyspace_split_at("a,,b", &ks, err, sizeof(err)), RK_EINVAL);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(rk_keyspace_split_at("a\\x4", &ks, err, sizeof(err)), RK_EINVAL);
	assert_non_null(strstr(err, "escape"));
	assert_int_equal(rk_keyspace_split_at("", &ks, err, sizeof(err)), RK_EINVAL);
}

static int parse(struct rk_node_config *c, char *err, const char *args)
{
	char buf[2048], *argv[64], *tok, *save = NULL;
	int argc = 0, rc;
	FILE *devnull = fopen("/dev/null", "w");

	snprintf(buf, sizeof(buf), "%s", args);
	for (tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	rc = rk_node_config_parse(argc, argv, c, devnull, err, 256);
	fclose(devnull);
	return rc;
}

static void test_start_flags(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err,
		"--node-id 2 --data /tmp/x --peer-addr 127.0.0.2:7102 "
		"--initial-cluster 1=127.0.0.1:7101,2=127.0.0.2:7102,3=127.0.0.3:7103 "
		"--ranges=128 --client-addr 127.0.0.2:7202"), 0);
	assert_int_equal(c.node_id, 2);
	assert_int_equal(c.n_initial, 3);
	assert_int_equal(c.ranges, 128);
	assert_string_equal(c.http_addr, "127.0.0.1:7301");
	assert_string_equal(c.client_addr, "127.0.0.2:7202");
	assert_false(c.enable_debug_api);
	rk_node_config_free(&c);
	/* The one flag without a value, anywhere on the line. */
	assert_int_equal(parse(&c, err, "--node-id 1 --enable-debug-api --data d "
				      "--peer-addr 127.0.0.1:7101"), 0);
	assert_true(c.enable_debug_api);
	assert_string_equal(c.data_dir, "d");
	rk_node_config_free(&c);

	assert_int_equal(parse(&c, err, "--help"), 1);

	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 --bogus 1"), RK_EINVAL);
	assert_non_null(strstr(err, "unknown flag --bogus"));
	assert_int_equal(parse(&c, err, "--node-id x --data d --peer-addr 127.0.0.1:7101"), RK_EINVAL);
	assert_non_null(strstr(err, "--node-id"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr localhost"), RK_EINVAL);
	assert_non_null(strstr(err, "HOST:PORT"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d"), RK_EINVAL);
	assert_non_null(strstr(err, "--peer-addr is required"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 2=127.0.0.2:7102"), RK_EINVAL);
	assert_non_null(strstr(err, "does not name this"));
	/* An added node: the running cluster's list, without it. */
	assert_int_equal(parse(&c, err, "--node-id 4 --data d --peer-addr 127.0.0.4:7104 --added-node "
				      "--initial-cluster 2=127.0.0.2:7102 --replicas 1"), 0);
	assert_true(c.added_node);
	assert_int_equal(c.replicas, 1);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 2 --data d --peer-addr 127.0.0.2:7102 --added-node "
				      "--initial-cluster 2=127.0.0.2:7102"), RK_EINVAL);
	assert_non_null(strstr(err, "it is an initial node"));
	assert_int_equal(parse(&c, err, "--node-id 4 --data d --peer-addr 127.0.0.2:7102 --added-node "
				      "--initial-cluster 2=127.0.0.2:7102"), RK_EINVAL);
	assert_non_null(strstr(err, "is node 2's"));
	assert_int_equal(parse(&c, err, "--node-id 4 --data d --peer-addr 127.0.0.4:7104 --added-node"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "needs the running cluster"));
	/* --replicas: 1..10, at most the initial nodes. */
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.1:7101,2=127.0.0.2:7102 --replicas 3"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "--replicas 3: more than the 2 nodes"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.1:7101 --replicas 11"), RK_EINVAL);
	assert_non_null(strstr(err, "from 1 to 10"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.1:7101,2=127.0.0.2:7102"), 0);
	assert_int_equal(rk_node_config_replicas(&c), 2); /* default 3, at most the nodes */
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.9:7101"), RK_EINVAL);
	assert_non_null(strstr(err, "not its --peer-addr"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.1:7101 --ranges 4 --split-at a"), RK_EINVAL);
	assert_non_null(strstr(err, "exclude"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--initial-cluster 1=127.0.0.1:7101,1=127.0.0.2:7102"), RK_EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-at b,a --initial-cluster 1=127.0.0.1:7101"), RK_EINVAL);
	assert_non_null(strstr(err, "increasing"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 --ranges"), RK_EINVAL);
	assert_non_null(strstr(err, "needs a value"));
	/* A misspelt flag given last is unknown, not one missing its value;
	 * every flag of the help given last misses its value. */
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 --bogus"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "unknown flag --bogus"));
	{
		char *text = NULL, line[4096];
		size_t len = 0;
		int valued = 0;
		FILE *f = open_memstream(&text, &len);

		assert_non_null(f);
		rk_node_config_usage(f);
		fclose(f);
		for (const char *p = text; (p = strstr(p, "\n  --")) != NULL; p++) {
			char flag[64];
			size_t n = strcspn(p + 3, " \n");

			assert_true(n < sizeof(flag));
			memcpy(flag, p + 3, n);
			flag[n] = '\0';
			if (strcmp(flag, "--added-node") == 0 || strcmp(flag, "--enable-debug-api") == 0 ||
			    strcmp(flag, "--help") == 0)
				continue;
			snprintf(line, sizeof(line), "--node-id 1 --data d --peer-addr 127.0.0.1:7101 %s",
				 flag);
			assert_int_equal(parse(&c, err, line), RK_EINVAL);
			if (strstr(err, "needs a value") == NULL)
				fail_msg("%s given last: %s", flag, err);
			valued++;
		}
		free(text);
		assert_true(valued >= 30);
	}
	assert_int_equal(parse(&c, err, "--node-id 4 --data d --peer-addr 127.0.0.4:7104 "
				      "--join 127.0.0.1:7101 --ranges 8"), RK_EINVAL);
	assert_int_equal(parse(&c, err, "--node-id 4 --data d --peer-addr 127.0.0.4:7104 "
				      "--join 127.0.0.1:7101"), 0);
	rk_node_config_free(&c);
}

/* --client-password-file: read with the flags, the trailing newline
 * stripped; a missing or empty file is a clear error; a file others may
 * read is flagged (the node warns). */
static void test_client_password_file(void **state)
{
	struct rk_node_config c;
	char err[256], path[200], args[300];
	const char *tmp = getenv("TMPDIR");
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/rk-config-pw-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\r\n", 8), 8);
	close(fd);
	snprintf(args, sizeof(args), "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
		 "--client-password-file %s", path);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(parse(&c, err, args), 0);
	assert_int_equal(c.client_password_len, 6);
	assert_memory_equal(c.client_password, "s3cret", 6);
	assert_false(c.client_password_open);
	rk_node_config_free(&c);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(parse(&c, err, args), 0);
	assert_true(c.client_password_open);
	rk_node_config_free(&c);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(parse(&c, err, args), RK_EINVAL);
	assert_non_null(strstr(err, "empty"));
	unlink(path);
	assert_int_not_equal(parse(&c, err, args), 0);
	assert_non_null(strstr(err, "--client-password-file"));
}

/* --min-free-space: sizes with units, the default left to the node. */
static void test_min_free_space(void **state)
{
	struct rk_node_config c;
	char err[256];
	uint64_t v;

	(void)state;
	assert_int_equal(rk_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rk_parse_size("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(rk_parse_size("256MiB", &v), 0);
	assert_int_equal(v, 256ull << 20);
	assert_int_equal(rk_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(rk_parse_size("1GB", &v), 0);
	assert_int_equal(v, 1000000000ull);
	assert_int_equal(rk_parse_size("7B", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(rk_parse_size("", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("-1", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("1 MiB", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("1mib", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("MiB", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("99999999999TiB", &v), RK_EINVAL);
	assert_int_equal(rk_parse_size("18446744073709551616", &v), RK_EINVAL);

	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101"), 0);
	assert_false(c.min_free_space_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--min-free-space 64MiB"), 0);
	assert_true(c.min_free_space_set);
	assert_int_equal(c.min_free_space, 64ull << 20);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--min-free-space lots"), RK_EINVAL);
	assert_non_null(strstr(err, "--min-free-space: 'lots' is not a size"));
}

/* --split-size and --split-qps: the defaults (64 MiB, off), sizes with
 * units, 0 for never, too small or malformed refused with the flag named. */
static void test_split_limits(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101"), 0);
	assert_int_equal(c.settings.v[RK_SET_SPLIT_SIZE], 64ull << 20);
	assert_int_equal(c.settings.v[RK_SET_SPLIT_QPS], 0);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-size 512KiB --split-qps 2500"), 0);
	assert_int_equal(c.settings.v[RK_SET_SPLIT_SIZE], 512ull << 10);
	assert_int_equal(c.settings.v[RK_SET_SPLIT_QPS], 2500);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-size=0"), 0);
	assert_int_equal(c.settings.v[RK_SET_SPLIT_SIZE], 0);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-size 1KiB"), RK_EINVAL);
	assert_non_null(strstr(err, "--split-size: '1KiB' is not 0 or a size of at least 16KiB"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-size big"), RK_EINVAL);
	assert_non_null(strstr(err, "--split-size: 'big'"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--split-qps -5"), RK_EINVAL);
	assert_non_null(strstr(err, "--split-qps: '-5'"));
}

/* The log budgets in bytes: defaults (the node's a quarter of the cache,
 * at most 64 MiB), sizes with units, 0 for no node budget, too small
 * refused. */
/* --cache-mb auto: a quarter of the memory shared by --nodes-on-host
 * nodes, at least 256 MiB; the default stays 256 MiB. */
static void test_cache_default(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(rk_node_default_cache_mb(24ull << 30, 1), 6144);
	assert_int_equal(rk_node_default_cache_mb(24ull << 30, 3), 2048);
	assert_int_equal(rk_node_default_cache_mb(2ull << 30, 3), 256);
	assert_int_equal(rk_node_default_cache_mb(0, 1), 256);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--nodes-on-host 3 --cache-mb auto"), 0);
	assert_int_equal(c.nodes_on_host, 3);
	assert_int_equal(c.cache_mb, rk_node_default_cache_mb(rk_node_memory_bytes(), 3));
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--cache-mb auto"), 0);
	assert_int_equal(c.cache_mb, rk_node_default_cache_mb(rk_node_memory_bytes(), 1));
	assert_true(c.cache_mb >= 256);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--nodes-on-host 3"), 0);
	assert_int_equal(c.cache_mb, 256);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--nodes-on-host 3 --cache-mb 300"), 0);
	assert_int_equal(c.cache_mb, 300);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--nodes-on-host 0"), RK_EINVAL);
	assert_non_null(strstr(err, "--nodes-on-host: '0' is not a count from 1 to 1024"));
}

static void test_log_keep_bytes(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--cache-mb 1024"), 0);
	assert_int_equal(c.log_keep_bytes, 4ull << 20);
	assert_int_equal(c.log_keep_bytes_total, 64ull << 20);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--cache-mb 128"), 0);
	assert_int_equal(c.log_keep_bytes_total, 32ull << 20);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--log-keep-bytes 512KiB --log-keep-bytes-total 0"), 0);
	assert_int_equal(c.log_keep_bytes, 512ull << 10);
	assert_int_equal(c.log_keep_bytes_total, 0);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--log-keep-bytes 1000"), RK_EINVAL);
	assert_non_null(strstr(err, "--log-keep-bytes: '1000' is not a size of at least 64KiB"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--log-keep-bytes-total 10KiB"), RK_EINVAL);
	assert_non_null(strstr(err, "--log-keep-bytes-total: '10KiB' is not 0 or a size"));
}

/* --compression: snappy by default, the three names, anything else
 * refused; whether it was given is kept (a restart checks it). And
 * --client-inflight-bytes: 64MiB by default, a size, too small refused. */
static void test_compression(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101"), 0);
	assert_int_equal(c.compression, 1);
	assert_false(c.compression_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--compression none"), 0);
	assert_int_equal(c.compression, 0);
	assert_true(c.compression_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--compression=zlib"), 0);
	assert_int_equal(c.compression, 2);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--compression lz4"), RK_EINVAL);
	assert_non_null(strstr(err, "--compression: 'lz4' is not snappy, zlib or none"));
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101"), 0);
	assert_int_equal(c.client_inflight_bytes, 64ull << 20);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--client-inflight-bytes 4MiB"), 0);
	assert_int_equal(c.client_inflight_bytes, 4ull << 20);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--client-inflight-bytes 1000"), RK_EINVAL);
	assert_non_null(strstr(err, "--client-inflight-bytes: '1000' is not 0 or a size"));
}

/* --key-table: btree by default, btree and lsm, anything else refused;
 * whether it was given is kept (a restart checks it). */
static void test_key_table(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101"), 0);
	assert_int_equal(c.key_table, 0);
	assert_false(c.key_table_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--key-table lsm"), 0);
	assert_int_equal(c.key_table, 1);
	assert_true(c.key_table_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--key-table=btree"), 0);
	assert_int_equal(c.key_table, 0);
	assert_true(c.key_table_set);
	rk_node_config_free(&c);
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--key-table hash"), RK_EINVAL);
	assert_non_null(strstr(err, "--key-table: 'hash' is not btree or lsm"));
}

/* Parses the required flags and `flag FILE`, FILE holding content with
 * mode; the file is removed again. */
static int parse_secret(struct rk_node_config *c, char *err, const char *flag,
			const char *content, mode_t mode)
{
	char path[128], args[512];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "/tmp/rk_test_config_%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	snprintf(args, sizeof(args), "--node-id 1 --data d --peer-addr 127.0.0.1:7101 %s %s",
		 flag, path);
	rc = parse(c, err, args);
	unlink(path);
	return rc;
}

static void test_secret_files(void **state)
{
	struct rk_node_config c;
	char err[256];

	(void)state;
	/* The trailing newline (or CRLF) is not part of the secret. */
	assert_int_equal(parse_secret(&c, err, "--cluster-secret-file", "s3cret\r\n", 0600), 0);
	assert_int_equal(c.cluster_secret_len, 6);
	assert_memory_equal(c.cluster_secret, "s3cret", 6);
	assert_false(c.cluster_secret_open);
	assert_int_equal(c.admin_token_len, 0);
	rk_node_config_free(&c);
	/* Readable by others: accepted, flagged for the warning. */
	assert_int_equal(parse_secret(&c, err, "--admin-token-file", "to-k.en\n", 0644), 0);
	assert_int_equal(c.admin_token_len, 7);
	assert_memory_equal(c.admin_token, "to-k.en", 7);
	assert_true(c.admin_token_open);
	rk_node_config_free(&c);
	/* A token must fit in an HTTP header. */
	assert_int_equal(parse_secret(&c, err, "--admin-token-file", "to ken\n", 0600), RK_EINVAL);
	assert_non_null(strstr(err, "space or control character"));
	/* Empty, or only a newline: refused. */
	assert_int_equal(parse_secret(&c, err, "--cluster-secret-file", "\n", 0600), RK_EINVAL);
	assert_non_null(strstr(err, "--cluster-secret-file"));
	assert_non_null(strstr(err, "is empty"));
	/* Missing. */
	assert_int_equal(parse(&c, err, "--node-id 1 --data d --peer-addr 127.0.0.1:7101 "
				      "--admin-token-file /nonexistent/token"), RK_EIO);
	assert_non_null(strstr(err, "--admin-token-file: cannot read /nonexistent/token"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uniform_boundaries),
		cmocka_unit_test(test_split_at),
		cmocka_unit_test(test_start_flags),
		cmocka_unit_test(test_min_free_space),
		cmocka_unit_test(test_log_keep_bytes),
		cmocka_unit_test(test_cache_default),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_client_password_file),
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_split_limits),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
