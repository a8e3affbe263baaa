/*
 * INFO [section ...]: Redis's sections with the fields that tools read
 * (redis-cli --stat, exporters, client libraries that look at role or
 * loading), each about this node, and a rangekv section with its ranges.
 * docs/contract.md lists the fields.
 *
 * Keyspace has no "db0:keys=" line: counting keys reads every key of
 * every range (DBSIZE does it on request), and INFO must stay cheap.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"

/* This process's resident memory in bytes (Linux's /proc/self/statm,
 * a file of procfs: no disk), 0 if unknown. */
static uint64_t resident_bytes(void)
{
	unsigned long long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Redis's used_memory_human: 1.50M, 312.00K, 2.10G. */
static void human(char *out, size_t n, uint64_t b)
{
	static const char units[] = "BKMGTP";
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRIu64 "B", b);
	else
		snprintf(out, n, "%.2f%c", v, units[u]);
}

static void sec_server(struct creq *q, struct rk_buf *b, const struct rk_client_info *in)
{
	uint64_t up = (uv_now(q->srv->loop) - q->srv->started_ms) / 1000;

	rk_buf_printf(b,
		      "redis_version:7.0.0\r\nrangekv_version:%s\r\nredis_mode:standalone\r\n"
		      "arch_bits:%zu\r\nprocess_id:%ld\r\ntcp_port:%d\r\n"
		      "uptime_in_seconds:%" PRIu64 "\r\nuptime_in_days:%" PRIu64 "\r\n"
		      "node_id:%" PRIu64 "\r\n",
		      RK_VERSION_STR, sizeof(void *) * 8, (long)getpid(), q->srv->port, up,
		      up / 86400, in->node_id);
}

static void sec_clients(struct creq *q, struct rk_buf *b, const struct rk_client_info *in)
{
	(void)in;
	rk_buf_printf(b, "connected_clients:%" PRIu64 "\r\nblocked_clients:0\r\n",
		      q->srv->st.connections);
}

static void sec_memory(struct creq *q, struct rk_buf *b, const struct rk_client_info *in)
{
	uint64_t rss = resident_bytes();
	char h[32];

	(void)q;
	(void)in;
	human(h, sizeof(h), rss);
	/* The process's resident memory stands for both: the storage
	 * cache (--cache-mb) is most of it once full. */
	rk_buf_printf(b, "used_memory:%" PRIu64 "\r\nused_memory_human:%s\r\n"
			 "used_memory_rss:%" PRIu64 "\r\nmaxmemory:0\r\n",
		      rss, h, rss);
}

static void sec_stats(struct creq *q, struct rk_buf *b, const struct rk_client_info *in)
{
	(void)in;
	rk_buf_printf(b,
		      "total_connections_received:%" PRIu64 "\r\n"
		      "total_commands_processed:%" PRIu64 "\r\n"
		      "rejected_connections:0\r\nexpired_keys:0\r\nevicted_keys:0\r\n",
		      q->srv->st.accepted, q->srv->st.commands);
}

static void sec_rangekv(struct creq *q, struct rk_buf *b, const struct rk_client_info *in)
{
	(void)q;
	rk_buf_printf(b, "ranges:%" PRIu64 "\r\nleaders:%" PRIu64 "\r\n", in->ranges,
		      in->leaders);
}

/* A section is written by fn, or is the fixed text. Replication: every
 * node takes writes for every key (forwarding them to the range's
 * leader), so to a client it is a master without replicas of its own. */
static const struct {
	const char *name, *title;
	void (*fn)(struct creq *, struct rk_buf *, const struct rk_client_info *);
	const char *text;
} sections[] = {
	{"server", "Server", sec_server, NULL},
	{"clients", "Clients", sec_clients, NULL},
	{"memory", "Memory", sec_memory, NULL},
	{"persistence", "Persistence", NULL, "loading:0\r\n"},
	{"stats", "Stats", sec_stats, NULL},
	{"replication", "Replication", NULL, "role:master\r\nconnected_slaves:0\r\n"},
	{"rangekv", "Rangekv", sec_rangekv, NULL},
	{"keyspace", "Keyspace", NULL, ""},
};

/* Whether INFO's arguments ask for section s (none: every section, as
 * "default", "all" and "everything" do). */
static bool wanted(const struct rk_resp_cmd *c, const char *s)
{
	if (c->argc < 2)
		return true;
	for (size_t i = 1; i < c->argc; i++)
		if (rk_client_arg_is(c, i, s) || rk_client_arg_is(c, i, "default") ||
		    rk_client_arg_is(c, i, "all") || rk_client_arg_is(c, i, "everything"))
			return true;
	return false;
}

void rk_client_info(struct creq *q, const struct rk_resp_cmd *c)
{
	struct rk_client_info in;
	struct rk_buf body;

	memset(&in, 0, sizeof(in));
	if (q->srv->info != NULL)
		q->srv->info(q->srv->info_arg, &in);
	rk_buf_init(&body);
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (!wanted(c, sections[i].name))
			continue;
		rk_buf_printf(&body, "%s# %s\r\n", body.len > 0 ? "\r\n" : "", sections[i].title);
		if (sections[i].fn != NULL)
			sections[i].fn(q, &body, &in);
		else
			rk_buf_puts(&body, sections[i].text);
	}
	rk_client_answer_buf(q, &body);
	rk_buf_free(&body);
}
