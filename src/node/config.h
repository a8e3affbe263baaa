/*
 * The flags of `rangekv start` (docs/contract.md) parsed and checked.
 * Everything a user can get wrong is caught here with one clear line:
 * unknown flags, bad numbers, bad addresses, an --initial-cluster that does
 * not name this node at its --peer-addr, --ranges with --split-at, --join
 * with --initial-cluster.
 */
#ifndef RK_NODE_CONFIG_H
#define RK_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secret.h"
#include "settings.h"

#define RK_ADDR_MAX 64
#define RK_MAX_NODES 64

struct rk_node_peer {
	uint64_t id;
	char addr[RK_ADDR_MAX];
};

struct rk_node_config {
	uint64_t node_id;
	char data_dir[1024];
	char peer_addr[RK_ADDR_MAX];
	char client_addr[RK_ADDR_MAX];
	char http_addr[RK_ADDR_MAX];
	struct rk_node_peer initial[RK_MAX_NODES];
	uint32_t n_initial;
	uint32_t ranges;     /* 0: not given (default 64 on first start) */
	char *split_at;      /* raw --split-at, or NULL */
	/* --replicas: replicas per range at the first start; 0: not given
	 * (RK_DEFAULT_REPLICAS, or every node of a smaller initial cluster). */
	uint32_t replicas;
	/* The other cluster settings (settings.h): --dead-after,
	 * --snapshot-rate, --split-size, --split-qps; the defaults where not
	 * given, the recorded values once the data directory is read. */
	struct rk_settings settings;
	/* --added-node: --initial-cluster is a running cluster's, without
	 * this node; its first start holds no range (roster.h). */
	bool added_node;
	char join[RK_ADDR_MAX];
	uint32_t request_timeout_ms;
	uint32_t tick_ms;
	uint32_t election_ticks;
	uint32_t log_keep;
	/* --log-keep-bytes, --log-keep-bytes-total: the log budgets in bytes,
	 * per range and for the node (docs/node.md). total_set false: not
	 * given, the cache size. */
	uint64_t log_keep_bytes, log_keep_bytes_total;
	bool log_keep_bytes_total_set;
	/* --cache-mb (256 by default); auto: rk_node_default_cache_mb of the
	 * memory and --nodes-on-host (nodes_on_host, 1 by default). */
	uint64_t cache_mb;
	uint64_t nodes_on_host;
	/* --compression: an enum rk_store_compression (0 none, 1 snappy,
	 * 2 zlib) for a new data
	 * directory; an existing one keeps its own, and a given flag must
	 * match it (compression_set). */
	int compression;
	bool compression_set;
	/* --key-table: an enum rk_store_key_table (0 btree, 1 lsm), the same
	 * way. */
	int key_table;
	bool key_table_set;
	/* --client-inflight-bytes: bytes of client commands read and not yet
	 * answered above which the RESP port stops reading (0: no bound). */
	uint64_t client_inflight_bytes;
	int log_level;
	/* --min-free-space: below this many free bytes on the data directory's
	 * filesystem client writes are refused (docs/node.md). Not given
	 * (min_free_space_set false): 256 MiB or 5% of the filesystem,
	 * whichever is smaller. 0: never refuse. */
	uint64_t min_free_space;
	bool min_free_space_set;
	/* --enable-debug-api: the debug endpoints (/api/v1/debug/...) exist (tests,
	 * benchmarks); without it they answer 404 like any unknown path. */
	bool enable_debug_api;
	/* --client-password-file: the RESP port requires AUTH with the
	 * password in this file, read while the flags are parsed (secret.h),
	 * trailing newlines stripped; length 0: not given. open: its group or
	 * others may read the file (warned about at start). */
	char client_password_file[1024];
	uint8_t client_password[RK_SECRET_MAX];
	size_t client_password_len;
	bool client_password_open;
	/* --cluster-secret-file, --admin-token-file: read while the flags are
	 * parsed (secret.h), trailing newlines stripped; length 0: not given.
	 * *_open: the file is readable by its group or others (the node warns
	 * at start). docs/security.md says what each protects. */
	char cluster_secret_file[1024];
	uint8_t cluster_secret[RK_SECRET_MAX];
	size_t cluster_secret_len;
	bool cluster_secret_open;
	char admin_token_file[1024];
	uint8_t admin_token[RK_SECRET_MAX];
	size_t admin_token_len;
	bool admin_token_open;
};

#define RK_DEFAULT_MIN_FREE_SPACE (256ull << 20)
#define RK_DEFAULT_MIN_FREE_PCT 5

/* A byte size: digits, optionally followed by a unit: B; KiB, MiB, GiB,
 * TiB (or K, M, G, T: the same, powers of 1024); KB, MB, GB, TB (powers of
 * 1000). RK_EINVAL for anything else or an overflow. */
int rk_parse_size(const char *s, uint64_t *vp);

#define RK_DEFAULT_RANGES 64
#define RK_DEFAULT_REPLICAS 3

/* The replicas per range of a first start with cfg's flags. */
uint32_t rk_node_config_replicas(const struct rk_node_config *cfg);

/* 0 on success; 1 when --help was asked (usage printed to out); RK_EINVAL
 * with a one-line reason in err otherwise. */
int rk_node_config_parse(int argc, char **argv, struct rk_node_config *cfg,
			 FILE *out, char *err, size_t errlen);
void rk_node_config_usage(FILE *out);
/* An --initial-cluster list (ID=HOST:PORT,...) into c->initial (also the
 * one a join learns, join.h); RK_EINVAL with a one-line reason in err. */
int rk_node_config_parse_cluster(struct rk_node_config *c, const char *v, char *err,
				 size_t errlen);
void rk_node_config_free(struct rk_node_config *cfg);

/* The machine's memory in bytes (physical, or a smaller cgroup v2 limit;
 * 0 if unknown). */
uint64_t rk_node_memory_bytes(void);
/* The default storage cache in MiB: a quarter of mem_bytes shared by
 * nodes, at least 256 (docs/node.md "Memory"). */
uint64_t rk_node_default_cache_mb(uint64_t mem_bytes, uint64_t nodes);

#endif
