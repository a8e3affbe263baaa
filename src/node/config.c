#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desc.h"
#include "keyspace.h"
#include "log.h"
#include "rangekv/error.h"
#include "uv_error.h"

void rk_node_config_usage(FILE *out)
{
	fputs(
"usage: rangekv start --node-id N --data DIR --peer-addr HOST:PORT\n"
"                     [--client-addr HOST:PORT] [--http-addr HOST:PORT]\n"
"                     (--initial-cluster ID=HOST:PORT,... [--ranges N | --split-at K1,K2,...]\n"
"                      [--replicas N] [--added-node]\n"
"                      | --join HOST:PORT)\n"
"\n"
"Starts one rangekv node. Restarting with the same --data resumes it; the\n"
"flags of the first start are remembered there, and repeating them is\n"
"accepted only when they match.\n"
"\n"
"  --node-id N             this node's id (1 or more), unique in the cluster\n"
"  --data DIR              data directory (created on first start)\n"
"  --peer-addr HOST:PORT   address for node-to-node traffic; outgoing peer\n"
"                          connections use its host as source address\n"
"  --client-addr HOST:PORT RESP (Redis protocol) port   [127.0.0.1:7201]\n"
"  --http-addr HOST:PORT   HTTP inspection API, /metrics and the web console\n"
"                          at / [127.0.0.1:7301]\n"
"  --initial-cluster LIST  first start of a cluster: every initial node as\n"
"                          ID=HOST:PORT (its peer address), comma separated;\n"
"                          must name this node at its --peer-addr\n"
"                          (unless --added-node)\n"
"  --ranges N              first start: cut the key space into N ranges\n"
"                          of equal 8-byte prefix width            [64]\n"
"  --split-at K1,K2,...    first start: explicit range boundaries instead;\n"
"                          bytes as \\xNN, a comma inside a key is \\x2c\n"
"  --replicas N            first start: replicas per range (1 to 10, at most\n"
"                          the initial nodes), spread evenly over them, and\n"
"                          their leaders too; the same on every initial node\n"
"                                                   [3, or every node if fewer]\n"
"  --added-node            first start of a node added to a running cluster:\n"
"                          --initial-cluster, --ranges/--split-at and\n"
"                          --replicas are the cluster's (it is not in its\n"
"                          list); it holds no range until replicas are\n"
"                          added to it; one node of the cluster must first\n"
"                          be told its address (POST /api/v1/nodes?id=N&\n"
"                          peer_addr=..): the others learn it from there\n"
"                          (--join does both in one step)\n"
"  --join HOST:PORT        first start of a node added to a running cluster,\n"
"                          in one command: HOST:PORT is a live member's\n"
"                          --peer-addr. The member registers this node in\n"
"                          the placement group (a taken id or address is\n"
"                          refused) and answers with the cluster's id,\n"
"                          first-start flags, settings and nodes; the node\n"
"                          starts holding no range and every node learns\n"
"                          it as a peer. Give the cluster's\n"
"                          --cluster-secret-file when it has one. A restart\n"
"                          needs no --join; given, the member is asked\n"
"                          where the cluster's nodes are now (for a node\n"
"                          down while the nodes it knew left), and the\n"
"                          start goes on if it cannot answer\n"
"  --dead-after DURATION   cluster setting: a node silent this long is dead\n"
"                          (its replicas are re-created elsewhere); with a\n"
"                          unit: 1500ms, 30s, 5m, 2h (at least 1s)     [5m]\n"
"  --snapshot-rate SIZE    cluster setting: bytes per second of snapshots\n"
"                          a node sends, all together (replica moves,\n"
"                          followers catching up; units as\n"
"                          --min-free-space)                       [8MiB]\n"
"  --rebalance on|off      first start: whether the cluster starts with\n"
"                          rebalancing on (the placement leader tops up,\n"
"                          repairs and spreads replicas by itself) or\n"
"                          paused; later `rangekv rebalance pause|resume`\n"
"                          switches it for the whole cluster, and the flag\n"
"                          on a restart or a --join is ignored        [on]\n"
"  (Cluster settings are recorded at the first start; a restart or a --join\n"
"  that gives another value is refused, naming the recorded one; a joining\n"
"  node takes the cluster's values of those it does not give.)\n"
"  --request-timeout MS    client request deadline in milliseconds  [5000]\n"
"  --tick-ms MS            raft tick interval in milliseconds         [50]\n"
"  --election-ticks N      election timeout in ticks                  [10]\n"
"  --log-keep N            raft log entries kept behind the applied index\n"
		"                          before compaction (followers further behind\n"
		"                          catch up by snapshot)                  [10000]\n"
"  --log-keep-bytes SIZE   raft log bytes kept per range (64KiB or more;\n"
"                          units as --min-free-space; a leader keeps\n"
"                          more while a snapshot is in flight, up to 4x\n"
"                          this or --log-keep-bytes-total)         [4MiB]\n"
"  --log-keep-bytes-total SIZE  bytes of raft log of all the node's ranges:\n"
"                          over it the largest logs are compacted first;\n"
"                          0: no node-wide budget\n"
"                                [a quarter of --cache-mb, at most 64MiB]\n"
"  --cache-mb MB|auto      storage cache size in MiB; auto: a quarter of\n"
"                          the memory / --nodes-on-host, at least 256 [256]\n"
"  --nodes-on-host N       rangekv nodes sharing this machine's memory, for\n"
"                          --cache-mb auto (demo passes its count)    [1]\n"
"  --compression C         block compression of the raft log and key\n"
"                          tables of a new data directory: snappy, zlib or\n"
"                          none (an existing directory keeps its own)\n"
"                                                                 [snappy]\n"
"  --key-table K           the key table of a new data directory: btree\n"
"                          (state-machine tables durable at checkpoints) or\n"
"                          lsm (WiredTiger's LSM tree, its tables logged:\n"
"                          steadier ingest with data beyond the cache, see\n"
"                          docs/storage.md); an existing directory keeps\n"
"                          its own                                   [btree]\n"
"  --client-inflight-bytes SIZE  bytes of client commands read and not yet\n"
"                          answered above which the RESP port stops reading\n"
"                          (clients wait) until they fall to half; 0: no\n"
"                          bound                                    [64MiB]\n"
"  --min-free-space SIZE   refuse client writes (not reads or DEL) while the\n"
"                          data directory's filesystem has less free space\n"
"                          (after what the store has yet to write):\n"
"                          bytes or with a unit (512MiB, 2GiB, 1GB); 0 never\n"
"                          refuses  [256MiB, or 5% of a filesystem under 5GiB]\n"
"  --split-size SIZE       a range whose user keys and values pass SIZE\n"
"                          (units as --min-free-space; 0: never, else at\n"
"                          least 16KiB) is split at its middle by its\n"
"                          leader; ranges such splits made merge back\n"
"                          into their left neighbour while rebalancing is\n"
"                          on, once together under a quarter of SIZE and\n"
"                          cold (never a --ranges or hand-made boundary);\n"
"                          a cluster setting                       [64MiB]\n"
"  --split-qps N           a range serving more than N reads and writes a\n"
"                          second (averaged over about 10 s) is split too;\n"
"                          merges want a quarter of N (100 when 0);\n"
"                          0: never; a cluster setting                 [0]\n"
"  --merge-max N           automatic merges in flight at once per node\n"
"                          (counted on the node leading the left range,\n"
"                          which carries the merge out); 0: no automatic\n"
"                          merges; a cluster setting                   [4]\n"
"  --merge-cold DURATION   how long both ranges must have been small and\n"
"                          quiet (at their current generation) before an\n"
"                          automatic merge (1500ms, 30s, 5m; at least\n"
"                          1s); a cluster setting                    [10s]\n"
"  --log-level LEVEL       debug, info, warn or error               [info]\n"
"  --enable-debug-api      serve /api/v1/debug/* on the HTTP port (fault\n"
"                          injection and a load driver, for tests and\n"
"                          benchmarks; without it they do not exist)\n"
"  --client-password-file F  the RESP port requires AUTH with the password\n"
"                          in file F (without trailing newlines, at most\n"
"                          1024 bytes; warned about if others may read it):\n"
"                          before it every command but AUTH, HELLO and\n"
"                          QUIT answers -NOAUTH                    [none]\n"
"  --cluster-secret-file FILE\n"
"                          a secret shared by every node of the cluster:\n"
"                          peers prove it in the handshake (a keyed MAC\n"
"                          over fresh nonces); a node with another secret,\n"
"                          or none, is refused. Authenticates, does not\n"
"                          encrypt (docs/security.md)\n"
"  --admin-token-file FILE HTTP calls that change anything (POST, PUT,\n"
"                          DELETE, the debug API) need the header\n"
"                          'Authorization: Bearer TOKEN'; GETs stay open\n"
"                          except those that show keys or values\n"
"  (Both files are read at start; trailing newlines are stripped, an empty\n"
"  file is refused, and one its group or others can read is warned about.)\n"
"  --help                  this text\n"
"\n"
"SIGTERM or SIGINT stop the node cleanly (exit status 0).\n",
	      out);
}

/* The index of val in names[0..n), -1 if absent. */
static int name_index(const char *val, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(val, names[i]) == 0)
			return i;
	return -1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return RK_EINVAL;
}

/* Whether flag is one of start's: its help lists every flag, each at the
 * start of a line ("  --flag ARG"). Asked only of a flag given last
 * without a value, to tell a misspelt flag from a missing value. */
static bool known_flag(const char *flag)
{
	char *text = NULL, pat[96];
	size_t len = 0;
	bool known;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return true; /* cannot tell: the value is what is missing */
	rk_node_config_usage(f);
	fclose(f);
	snprintf(pat, sizeof(pat), "\n  %s ", flag);
	known = text == NULL || strstr(text, pat) != NULL;
	free(text);
	return known;
}

uint64_t rk_node_memory_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
	FILE *f = fopen("/sys/fs/cgroup/memory.max", "r"); /* cgroup v2 */
	unsigned long long lim;

	if (f != NULL) {
		if (fscanf(f, "%llu", &lim) == 1 && lim > 0 && (mem == 0 || lim < mem))
			mem = lim; /* "max" (no limit) does not scan */
		fclose(f);
	}
	return mem;
}

/* A quarter of the memory shared by the nodes on the machine: the rest is
 * the operating system's page cache (WiredTiger reads its files through
 * it), each node's buffers and everything else the machine runs. Never
 * below the 256 MiB every earlier release used. */
uint64_t rk_node_default_cache_mb(uint64_t mem_bytes, uint64_t nodes)
{
	uint64_t mb = (mem_bytes >> 20) / 4 / (nodes ? nodes : 1);

	if (mb < 256)
		mb = 256;
	if (mb > 1024 * 1024)
		mb = 1024 * 1024;
	return mb;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return RK_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return RK_EINVAL;
	*vp = v;
	return 0;
}

int rk_parse_size(const char *s, uint64_t *vp)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
		{"", 1}, {"B", 1},
		{"K", 1ull << 10}, {"KiB", 1ull << 10}, {"KB", 1000ull},
		{"M", 1ull << 20}, {"MiB", 1ull << 20}, {"MB", 1000000ull},
		{"G", 1ull << 30}, {"GiB", 1ull << 30}, {"GB", 1000000000ull},
		{"T", 1ull << 40}, {"TiB", 1ull << 40}, {"TB", 1000000000000ull},
	};
	unsigned long long v;
	char *end;

	*vp = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return RK_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return RK_EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].name) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return RK_EINVAL;
			*vp = v * units[i].mult;
			return 0;
		}
	return RK_EINVAL;
}

static int copy_addr(const char *flag, const char *v, char *dst, char *err,
		     size_t errlen)
{
	struct sockaddr_storage ss;

	if (strlen(v) >= RK_ADDR_MAX || rk_parse_hostport(v, 0, &ss) != 0) {
		snprintf(err, errlen, "%s: '%s' is not a HOST:PORT address (IPv4, or [IPv6]:PORT)",
			 flag, v);
		return RK_EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

int rk_node_config_parse_cluster(struct rk_node_config *c, const char *v, char *err,
				 size_t errlen)
{
	char *dup = strdup(v), *tok, *save = NULL;
	int rc = 0;
	uint32_t i;

	if (dup == NULL)
		return RK_ENOMEM;
	c->n_initial = 0;
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t id;

		if (eq == NULL) {
			rc = fail(err, errlen, "--initial-cluster: '%s' is not ID=HOST:PORT", tok);
			break;
		}
		*eq = '\0';
		if (parse_u64(tok, 1, UINT32_MAX, &id) != 0) {
			rc = fail(err, errlen, "--initial-cluster: bad node id '%s'", tok);
			break;
		}
		if (c->n_initial == RK_MAX_NODES) {
			rc = fail(err, errlen, "--initial-cluster: more than %s nodes", "64");
			break;
		}
		for (i = 0; i < c->n_initial; i++)
			if (c->initial[i].id == id)
				break;
		if (i < c->n_initial) {
			rc = fail(err, errlen, "--initial-cluster: node id %s appears twice", tok);
			break;
		}
		rc = copy_addr("--initial-cluster", eq + 1, c->initial[c->n_initial].addr,
			       err, errlen);
		if (rc != 0)
			break;
		c->initial[c->n_initial++].id = id;
	}
	free(dup);
	if (rc == 0 && c->n_initial == 0)
		rc = fail(err, errlen, "--initial-cluster: %s", "empty list");
	return rc;
}

/* A secret file's path kept for messages, and its content. */
static int read_secret(const char *flag, const char *path, char *pathp,
		       uint8_t *buf, size_t *lenp, bool *openp, char *err,
		       size_t errlen)
{
	if (*path == '\0' || strlen(path) >= sizeof(((struct rk_node_config *)0)->admin_token_file))
		return fail(err, errlen, "%s: bad file name '%s'", flag, path);
	strcpy(pathp, path);
	return rk_secret_read(flag, path, buf, lenp, openp, err, errlen);
}

/* An added node's --peer-addr is no initial node's. */
static int added_addr_free(const struct rk_node_config *c, char *err, size_t errlen)
{
	for (uint32_t k = 0; k < c->n_initial; k++)
		if (strcmp(c->initial[k].addr, c->peer_addr) == 0)
			return fail(err, errlen, "--added-node: --peer-addr %s is node %llu's in --initial-cluster",
				    c->peer_addr, (unsigned long long)c->initial[k].id);
	return 0;
}

uint32_t rk_node_config_replicas(const struct rk_node_config *cfg)
{
	if (cfg->replicas != 0)
		return cfg->replicas;
	return cfg->n_initial < RK_DEFAULT_REPLICAS ? cfg->n_initial : RK_DEFAULT_REPLICAS;
}

void rk_node_config_free(struct rk_node_config *cfg)
{
	/* No copy of a secret outlives its use longer than it must. */
	memset(cfg->client_password, 0, sizeof(cfg->client_password));
	memset(cfg->cluster_secret, 0, sizeof(cfg->cluster_secret));
	memset(cfg->admin_token, 0, sizeof(cfg->admin_token));
	free(cfg->split_at);
	cfg->split_at = NULL;
}

int rk_node_config_parse(int argc, char **argv, struct rk_node_config *c,
			 FILE *out, char *err, size_t errlen)
{
	uint64_t v;
	int i, rc;
	uint32_t k;

	memset(c, 0, sizeof(*c));
	strcpy(c->client_addr, "127.0.0.1:7201");
	strcpy(c->http_addr, "127.0.0.1:7301");
	c->request_timeout_ms = 5000;
	c->tick_ms = 50; /* election 0.5-1 s: failover under 1.5 s (docs/benchmarks.md) */
	c->election_ticks = 10;
	c->log_keep = 10000;
	c->log_keep_bytes = 4u << 20;
	c->cache_mb = 256; /* 0: auto, from the memory, below */
	c->nodes_on_host = 1;
	c->compression = 1; /* snappy (RK_STORE_COMPRESS_DEFAULT) */
	c->client_inflight_bytes = 64u << 20; /* RK_CLIENT_INFLIGHT_DEFAULT */
	c->log_level = RK_LOG_INFO;
	rk_settings_defaults(&c->settings);
	err[0] = '\0';
	for (i = 0; i < argc; i++) {
		char *name = argv[i], *val = NULL, *eq;
		char flag[64];

		if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
			rk_node_config_usage(out);
			rk_node_config_free(c);
			return 1;
		}
		if (strncmp(name, "--", 2) != 0) {
			rk_node_config_free(c);
			return fail(err, errlen, "unexpected argument '%s' (see rangekv start --help)", name);
		}
		if (strcmp(name, "--enable-debug-api") == 0) {
			c->enable_debug_api = true; /* flags without a value */
			continue;
		}
		if (strcmp(name, "--added-node") == 0) {
			c->added_node = true;
			continue;
		}
		snprintf(flag, sizeof(flag), "%s", name);
		eq = strchr(flag, '=');
		if (eq != NULL) {
			*eq = '\0';
			val = name + (eq - flag) + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			rk_node_config_free(c);
			if (!known_flag(flag))
				return fail(err, errlen, "unknown flag %s (see rangekv start --help)",
					    flag);
			return fail(err, errlen, "%s needs a value", flag);
		}
		rc = 0;
		if (strcmp(flag, "--node-id") == 0) {
			if (parse_u64(val, 1, UINT32_MAX, &c->node_id) != 0)
				rc = fail(err, errlen, "--node-id: '%s' is not a node id (1 to 4294967295)", val);
		} else if (strcmp(flag, "--data") == 0) {
			if (*val == '\0' || strlen(val) >= sizeof(c->data_dir))
				rc = fail(err, errlen, "--data: bad directory '%s'", val);
			else
				strcpy(c->data_dir, val);
		} else if (strcmp(flag, "--peer-addr") == 0) {
			rc = copy_addr(flag, val, c->peer_addr, err, errlen);
		} else if (strcmp(flag, "--client-addr") == 0) {
			rc = copy_addr(flag, val, c->client_addr, err, errlen);
		} else if (strcmp(flag, "--http-addr") == 0) {
			rc = copy_addr(flag, val, c->http_addr, err, errlen);
		} else if (strcmp(flag, "--join") == 0) {
			rc = copy_addr(flag, val, c->join, err, errlen);
		} else if (strcmp(flag, "--initial-cluster") == 0) {
			rc = rk_node_config_parse_cluster(c, val, err, errlen);
		} else if (strcmp(flag, "--ranges") == 0) {
			if (parse_u64(val, 1, RK_MAX_RANGES_AT_START, &v) != 0)
				rc = fail(err, errlen, "--ranges: '%s' is not a count from 1 to 1000000", val);
			else
				c->ranges = (uint32_t)v;
		} else if (strcmp(flag, "--replicas") == 0) {
			if (parse_u64(val, 1, RK_DESC_MAX_REPLICAS, &v) != 0)
				rc = fail(err, errlen, "--replicas: '%s' is not a count from 1 to %d",
					  val, RK_DESC_MAX_REPLICAS);
			else
				c->replicas = (uint32_t)v;
		} else if (strcmp(flag, "--split-at") == 0) {
			free(c->split_at);
			c->split_at = strdup(val);
			if (c->split_at == NULL)
				rc = RK_ENOMEM;
		} else if (strcmp(flag, "--request-timeout") == 0) {
			if (parse_u64(val, 1, 3600000, &v) != 0)
				rc = fail(err, errlen, "--request-timeout: '%s' is not milliseconds (1 to 3600000)", val);
			else
				c->request_timeout_ms = (uint32_t)v;
		} else if (strcmp(flag, "--tick-ms") == 0) {
			if (parse_u64(val, 1, 10000, &v) != 0)
				rc = fail(err, errlen, "--tick-ms: '%s' is not milliseconds (1 to 10000)", val);
			else
				c->tick_ms = (uint32_t)v;
		} else if (strcmp(flag, "--election-ticks") == 0) {
			if (parse_u64(val, 3, 1000, &v) != 0)
				rc = fail(err, errlen, "--election-ticks: '%s' is not a count from 3 to 1000", val);
			else
				c->election_ticks = (uint32_t)v;
		} else if (strcmp(flag, "--log-keep") == 0) {
			if (parse_u64(val, 10, 100000000, &v) != 0)
				rc = fail(err, errlen, "--log-keep: '%s' is not a count from 10 to 100000000", val);
			else
				c->log_keep = (uint32_t)v;
		} else if (strcmp(flag, "--log-keep-bytes") == 0) {
			if (rk_parse_size(val, &c->log_keep_bytes) != 0 ||
			    c->log_keep_bytes < (64u << 10))
				rc = fail(err, errlen, "--log-keep-bytes: '%s' is not a size of at least 64KiB", val);
		} else if (strcmp(flag, "--log-keep-bytes-total") == 0) {
			if (rk_parse_size(val, &c->log_keep_bytes_total) != 0 ||
			    (c->log_keep_bytes_total != 0 && c->log_keep_bytes_total < (1u << 20)))
				rc = fail(err, errlen, "--log-keep-bytes-total: '%s' is not 0 or a size of at least 1MiB", val);
			else
				c->log_keep_bytes_total_set = true;
		} else if (strcmp(flag, "--nodes-on-host") == 0) {
			if (parse_u64(val, 1, 1024, &c->nodes_on_host) != 0)
				rc = fail(err, errlen, "--nodes-on-host: '%s' is not a count from 1 to 1024", val);
		} else if (strcmp(flag, "--cache-mb") == 0) {
			if (strcmp(val, "auto") == 0)
				c->cache_mb = 0;
			else if (parse_u64(val, 16, 1024 * 1024, &c->cache_mb) != 0)
				rc = fail(err, errlen, "--cache-mb: '%s' is not MiB (16 to 1048576) or auto", val);
		} else if (strcmp(flag, "--client-inflight-bytes") == 0) {
			if (rk_parse_size(val, &c->client_inflight_bytes) != 0 ||
			    (c->client_inflight_bytes != 0 && c->client_inflight_bytes < (64u << 10)))
				rc = fail(err, errlen, "--client-inflight-bytes: '%s' is not 0 or a size of at least 64KiB", val);
		} else if (strcmp(flag, "--compression") == 0) {
			/* In the order of enum rk_store_compression (the
			 * flags are parsed without the store module). */
			static const char *const comp[] = {"none", "snappy", "zlib"};
			if ((c->compression = name_index(val, comp, 3)) < 0)
				rc = fail(err, errlen, "--compression: '%s' is not snappy, zlib or none", val);
			c->compression_set = true;
		} else if (strcmp(flag, "--key-table") == 0) {
			/* In the order of enum rk_store_key_table. */
			static const char *const kinds[] = {"btree", "lsm"};
			if ((c->key_table = name_index(val, kinds, 2)) < 0)
				rc = fail(err, errlen, "--key-table: '%s' is not btree or lsm", val);
			c->key_table_set = true;
		} else if (strcmp(flag, "--min-free-space") == 0) {
			if (rk_parse_size(val, &c->min_free_space) != 0)
				rc = fail(err, errlen, "--min-free-space: '%s' is not a size (bytes, or with a unit: 512MiB, 2GiB, 1GB)", val);
			else
				c->min_free_space_set = true;
		} else if (strcmp(flag, "--client-password-file") == 0) {
			rc = read_secret(flag, val, c->client_password_file, c->client_password,
					 &c->client_password_len, &c->client_password_open,
					 err, errlen);
		} else if (strcmp(flag, "--cluster-secret-file") == 0) {
			rc = read_secret(flag, val, c->cluster_secret_file, c->cluster_secret,
					 &c->cluster_secret_len, &c->cluster_secret_open,
					 err, errlen);
		} else if (strcmp(flag, "--admin-token-file") == 0) {
			rc = read_secret(flag, val, c->admin_token_file, c->admin_token,
					 &c->admin_token_len, &c->admin_token_open,
					 err, errlen);
			if (rc == 0 && !rk_secret_is_token(c->admin_token, c->admin_token_len))
				rc = fail(err, errlen, "%s: %s holds a space or control character (a token travels in an HTTP header)",
					  flag, val);
		} else if (strcmp(flag, "--log-level") == 0) {
			c->log_level = rk_log_parse_level(val);
			if (c->log_level < 0)
				rc = fail(err, errlen, "--log-level: '%s' is not debug, info, warn or error", val);
		} else if ((rc = rk_settings_flag(&c->settings, flag, val, err, errlen)) ==
			   RK_ENOTFOUND) {
			rc = fail(err, errlen, "unknown flag %s (see rangekv start --help)", flag);
		}
		if (rc != 0) {
			rk_node_config_free(c);
			return rc;
		}
	}
	if (c->cache_mb == 0)
		c->cache_mb = rk_node_default_cache_mb(rk_node_memory_bytes(),
						       c->nodes_on_host);
	/* The recent log is what followers and the apply read again: within a
	 * quarter of the cache it stays there beside the key table. At most
	 * 64 MiB: on disk the log file holds about twice its live log
	 * (docs/storage.md), and a large cache must not make the raft log a
	 * large share of the data directory. */
	if (!c->log_keep_bytes_total_set) {
		c->log_keep_bytes_total = (c->cache_mb << 20) / 4;
		if (c->log_keep_bytes_total > (64u << 20))
			c->log_keep_bytes_total = 64u << 20;
	}
	if (c->node_id == 0)
		rc = fail(err, errlen, "%s is required", "--node-id");
	else if (c->data_dir[0] == '\0')
		rc = fail(err, errlen, "%s is required", "--data");
	else if (c->peer_addr[0] == '\0')
		rc = fail(err, errlen, "%s is required", "--peer-addr");
	else if (c->ranges != 0 && c->split_at != NULL)
		rc = fail(err, errlen, "%s", "--ranges and --split-at exclude each other");
	else if (c->join[0] != '\0' && c->n_initial > 0)
		rc = fail(err, errlen, "%s", "--join and --initial-cluster exclude each other");
	else if (c->join[0] != '\0' && (c->ranges != 0 || c->split_at != NULL || c->replicas != 0))
		rc = fail(err, errlen, "%s", "--ranges, --split-at and --replicas belong to the first start of a cluster, not to --join");
	else if (c->replicas > c->n_initial && c->n_initial > 0)
		rc = fail(err, errlen, "--replicas %u: more than the %u nodes of --initial-cluster",
			  c->replicas, c->n_initial);
	if (rc == 0 && c->split_at != NULL) {
		struct rk_keyspace ks;
		rc = rk_keyspace_split_at(c->split_at, &ks, err, errlen);
		rk_keyspace_free(&ks);
	}
	if (rc == 0 && c->added_node && c->n_initial == 0)
		rc = fail(err, errlen, "%s", "--added-node needs the running cluster's --initial-cluster");
	if (rc == 0 && c->n_initial > 0) {
		for (k = 0; k < c->n_initial; k++)
			if (c->initial[k].id == c->node_id)
				break;
		if (c->added_node && k < c->n_initial)
			rc = fail(err, errlen, "%s", "--added-node: --initial-cluster names this --node-id (it is an initial node)");
		else if (c->added_node)
			rc = added_addr_free(c, err, errlen);
		else if (k == c->n_initial)
			rc = fail(err, errlen, "%s", "--initial-cluster does not name this --node-id");
		else if (strcmp(c->initial[k].addr, c->peer_addr) != 0)
			rc = fail(err, errlen, "--initial-cluster gives this node the address %s, not its --peer-addr",
				  c->initial[k].addr);
	}
	if (rc != 0)
		rk_node_config_free(c);
	return rc;
}
