/*
 * `rangekv demo`: a local cluster in one command. Node i (1..N) is a child
 * process running `rangekv start` from this same binary, on 127.0.0.1 with
 * ports base+i (peers), base+100+i (RESP) and base+200+i (HTTP), its data
 * in DIR/nodeI and its log in DIR/nodeI.log.
 *
 * The demo process only supervises: it waits until every node's
 * /api/v1/cluster/status shows a leader for each of its ranges, prints how
 * to connect, and then sleeps in sigtimedwait(). Ctrl-C or SIGTERM stops
 * the nodes with SIGTERM (exit 0 once they all stopped cleanly); a node
 * that dies on its own is reported with the last line of its log and the
 * others are stopped (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define MAX_NODES 9
#define PATH_LEN 1100 /* dir plus "/nodeI.log" */
#define STOP_WAIT_MS 60000 /* a node flushes its group commit first; slow under ASan */

struct demo {
	int nodes;
	long long ranges;
	int base;
	char dir[1024];
	char password_file[1024]; /* passed to every node; "" none */
	char exe[PATH_MAX];      /* this binary, for the messages */
	pid_t pid[MAX_NODES + 1];
	int status[MAX_NODES + 1];
	sigset_t sigs; /* blocked, taken with sigtimedwait() */
};

static void usage(FILE *out)
{
	fputs(
"usage: rangekv demo [--nodes N] [--ranges N] [--dir DIR] [--base-port P]\n"
"                    [--client-password-file F]\n"
"\n"
"Starts a local cluster of N nodes on 127.0.0.1 (child processes running\n"
"`rangekv start`), waits until every range has a leader, prints how to\n"
"connect, and runs until Ctrl-C (SIGINT) or SIGTERM, which stop every node\n"
"cleanly.\n"
"\n"
"  --nodes N      nodes, 1 to 9                                        [3]\n"
"  --ranges N     ranges, on the first start of DIR                 [1024]\n"
"  --dir DIR      data (DIR/nodeI) and logs (DIR/nodeI.log); a DIR used\n"
"                 before restarts the cluster kept there, its first\n"
"                 start's flags the defaults  [a new directory in $TMPDIR]\n"
"  --base-port P  node I listens on P+I (peers), P+100+I (RESP) and\n"
"                 P+200+I (HTTP)                                    [7100]\n"
"  --client-password-file F  every node requires AUTH with the password in\n"
"                 F on its RESP port (rangekv start --help); not kept in\n"
"                 DIR: give it on every start                       [none]\n"
"  --help         this text\n"
"\n"
"exit status: 0 stopped by a signal, 1 a node failed, 2 bad usage\n",
	      out);
}

static int usage_error(const char *what, const char *val, const char *expect)
{
	fprintf(stderr, "rangekv demo: %s: '%s' is not %s (see rangekv demo --help)\n",
		what, val, expect);
	return RK_CLI_EXIT_USAGE;
}

static bool parse_num(const char *s, long long min, long long max, long long *vp)
{
	char *end;

	errno = 0;
	*vp = strtoll(s, &end, 10);
	return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && *vp >= min &&
	       *vp <= max;
}

/* 1 for --help, 0, or an exit status. */
static int parse(struct demo *d, int argc, char **argv)
{
	enum { O_NODES = 1, O_RANGES, O_BASE, O_DIR, O_HELP, O_PASSWORD };
	static const struct option options[] = {
		{"nodes", required_argument, NULL, O_NODES},
		{"ranges", required_argument, NULL, O_RANGES},
		{"base-port", required_argument, NULL, O_BASE},
		{"dir", required_argument, NULL, O_DIR},
		{"client-password-file", required_argument, NULL, O_PASSWORD},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	long long v;
	int o;

	opterr = 0; /* our own one-line messages */
	optind = 1;
	while ((o = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		const char *val = optarg;

		switch (o) {
		case 'h':
		case O_HELP:
			return 1;
		case ':':
			fprintf(stderr, "rangekv demo: %s needs a value (see rangekv demo --help)\n",
				argv[optind - 1]);
			return RK_CLI_EXIT_USAGE;
		case O_NODES:
			if (!parse_num(val, 1, MAX_NODES, &v))
				return usage_error("--nodes", val, "a node count from 1 to 9");
			d->nodes = (int)v;
			break;
		case O_RANGES:
			if (!parse_num(val, 1, 1000000, &d->ranges))
				return usage_error("--ranges", val, "a count from 1 to 1000000");
			break;
		case O_BASE:
			if (!parse_num(val, 1, 65535 - 200 - MAX_NODES, &v))
				return usage_error("--base-port", val, "a port from 1 to 65326");
			d->base = (int)v;
			break;
		case O_DIR:
			if (*val == '\0' || strlen(val) >= sizeof(d->dir))
				return usage_error("--dir", val, "a usable directory name");
			strcpy(d->dir, val);
			break;
		case O_PASSWORD:
			if (*val == '\0' || strlen(val) >= sizeof(d->password_file))
				return usage_error("--client-password-file", val, "a usable file name");
			strcpy(d->password_file, val);
			break;
		default:
			fprintf(stderr, "rangekv demo: unknown flag %s (see rangekv demo --help)\n",
				argv[optind - 1]);
			return RK_CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "rangekv demo: unexpected argument %s (see rangekv demo --help)\n",
			argv[optind]);
		return RK_CLI_EXIT_USAGE;
	}
	return 0;
}

static int port(const struct demo *d, int kind, int i)
{
	return d->base + 100 * kind + i; /* kind: 0 peer, 1 RESP, 2 HTTP */
}

/* Every port free before anything starts: a clear message now rather than
 * a node dying half-way, and no chance of mistaking another cluster's
 * HTTP answers for ours while our nodes are still opening their stores. */
static int ports_free(const struct demo *d)
{
	static const char *const kinds[] = {"peer", "RESP", "HTTP"};

	for (int i = 1; i <= d->nodes; i++)
		for (int kind = 0; kind < 3; kind++) {
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_port = htons((uint16_t)port(d, kind, i)),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

			if (fd < 0)
				continue; /* cannot tell; the node will say */
			/* SO_REUSEADDR as the node uses it: a closed
			 * connection's TIME_WAIT does not count as in use. */
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
			if (rc != 0)
				fprintf(stderr, "rangekv demo: port %d (node %d's %s port) on "
					"127.0.0.1: %s; choose others with --base-port\n",
					port(d, kind, i), i, kinds[kind], strerror(errno));
			close(fd);
			if (rc != 0)
				return RK_CLI_EXIT_ERROR;
		}
	return 0;
}

/*
 * DIR/demo.conf holds the flags of the cluster's first start, as a line of
 * flags (--nodes 3 --ranges 1024 --base-port 7100). They are the defaults
 * of a later `demo --dir DIR`, so that --dir alone restarts the cluster
 * (its nodes refuse another --initial-cluster or --ranges); flags given
 * on the command line still win, and a node says if they conflict.
 */
static int conf_read(struct demo *d)
{
	char path[PATH_LEN], line[256], *argv[16] = {"demo"}, *save = NULL;
	int argc = 1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/demo.conf", d->dir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	for (char *t = strtok_r(line, " \n", &save); t != NULL && argc < 16;
	     t = strtok_r(NULL, " \n", &save))
		argv[argc++] = t;
	if (parse(d, argc, argv) != 0) {
		fprintf(stderr, "rangekv demo: %s is damaged; remove it and give "
			"the flags of the first start\n", path);
		return RK_CLI_EXIT_ERROR;
	}
	return 0;
}

static int conf_write(const struct demo *d)
{
	char path[PATH_LEN];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/demo.conf", d->dir);
	if (access(path, F_OK) == 0)
		return 0;
	f = fopen(path, "w");
	rc = f == NULL ? -1 : fprintf(f, "--nodes %d --ranges %lld --base-port %d\n",
				      d->nodes, d->ranges, d->base);
	if (f == NULL || fclose(f) != 0 || rc < 0) {
		fprintf(stderr, "rangekv demo: cannot write %s: %s\n", path, strerror(errno));
		return RK_CLI_EXIT_ERROR;
	}
	return 0;
}

/* The last line of node i's log that says ERROR, else its last line. */
static void last_log_line(const struct demo *d, int i, char *line, size_t len)
{
	char path[PATH_LEN], tail[4096], *p, *pick = NULL;
	ssize_t n = 0;
	int fd;

	snprintf(line, len, "(see %s/node%d.log)", d->dir, i);
	snprintf(path, sizeof(path), "%s/node%d.log", d->dir, i);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t size = lseek(fd, 0, SEEK_END);
	if (size > 0 && lseek(fd, size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0,
			      SEEK_SET) >= 0)
		n = read(fd, tail, sizeof(tail) - 1);
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	for (p = strtok(tail, "\n"); p != NULL; p = strtok(NULL, "\n"))
		if (pick == NULL || strstr(pick, " ERROR ") == NULL || strstr(p, " ERROR ") != NULL)
			pick = p;
	if (pick != NULL)
		snprintf(line, len, "%s", pick);
}

static int spawn(struct demo *d, int i, const sigset_t *old)
{
	char id[12], data[PATH_LEN], log[PATH_LEN], addr[3][32], cluster[MAX_NODES * 32] = "";
	char ranges[24], nodes[8];
	pid_t parent = getpid();
	char *args[24];
	int a = 0;

	snprintf(id, sizeof(id), "%d", i);
	snprintf(data, sizeof(data), "%s/node%d", d->dir, i);
	snprintf(log, sizeof(log), "%s/node%d.log", d->dir, i);
	for (int k = 0; k < 3; k++)
		snprintf(addr[k], sizeof(addr[k]), "127.0.0.1:%d", port(d, k, i));
	for (int k = 1; k <= d->nodes; k++)
		snprintf(cluster + strlen(cluster), sizeof(cluster) - strlen(cluster),
			 "%s%d=127.0.0.1:%d", k > 1 ? "," : "", k, port(d, 0, k));
	snprintf(ranges, sizeof(ranges), "%lld", d->ranges);
	/* The nodes share this machine's memory: each sizes its cache for
	 * its share (rk_node_default_cache_mb). */
	snprintf(nodes, sizeof(nodes), "%d", d->nodes);
	/* --ranges on every start, not only the first: the node checks it
	 * against what its data directory recorded, and a first start that
	 * failed half-way (a port in use) is retried with the same cut. */
	char *fixed[] = {"rangekv", "start", "--node-id", id, "--data", data,
			 "--peer-addr", addr[0], "--client-addr", addr[1],
			 "--http-addr", addr[2], "--initial-cluster", cluster,
			 "--ranges", ranges, "--nodes-on-host", nodes};
	for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
		args[a++] = fixed[k];
	if (d->password_file[0] != '\0') {
		args[a++] = "--client-password-file";
		args[a++] = d->password_file;
	}
	args[a] = NULL;

	d->pid[i] = fork();
	if (d->pid[i] < 0) {
		fprintf(stderr, "rangekv demo: fork: %s\n", strerror(errno));
		d->pid[i] = 0;
		return RK_CLI_EXIT_ERROR;
	}
	if (d->pid[i] > 0)
		return 0;
	/* The child. Its own process group: Ctrl-C reaches only the demo,
	 * which stops the nodes in order. PDEATHSIG: should the demo itself
	 * be killed, the nodes stop too (checked after setting it, as the
	 * parent may already be gone). */
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(1);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || dup2(nul, 0) < 0)
		_exit(126);
	/* Default dispositions before unblocking: a SIGTERM sent by
	 * stop_all() before the exec must not meet the demo's no-op handler. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	/* /proc/self/exe: this very binary, even if rebuilt meanwhile. */
	execv("/proc/self/exe", args);
	dprintf(2, "rangekv demo: cannot run /proc/self/exe: %s\n", strerror(errno));
	_exit(127);
}

/* Collects exited nodes; the number that exited. */
static int reap(struct demo *d)
{
	int st, n = 0;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		for (int i = 1; i <= d->nodes; i++)
			if (d->pid[i] == p) {
				d->pid[i] = 0;
				d->status[i] = st;
				n++;
			}
	return n;
}

/* The signal taken within ms milliseconds, or 0. */
static int take_signal(const struct demo *d, int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	int s = sigtimedwait(&d->sigs, NULL, &ts);

	return s < 0 ? 0 : s;
}

static bool any_alive(const struct demo *d)
{
	for (int i = 1; i <= d->nodes; i++)
		if (d->pid[i] > 0)
			return true;
	return false;
}

/* SIGTERM to every node and wait; a second Ctrl-C, or STOP_WAIT_MS, makes
 * it SIGKILL. 0 if every node stopped cleanly (status 0, or killed by our
 * SIGTERM before it had installed its handler). */
static int stop_all(struct demo *d)
{
	int64_t deadline = rk_cli_now_ms() + STOP_WAIT_MS;
	bool killed = false, stopped[MAX_NODES + 1] = {false};
	int rc = 0;

	for (int i = 1; i <= d->nodes; i++)
		if (d->pid[i] > 0) {
			kill(d->pid[i], SIGTERM);
			stopped[i] = true;
		}
	reap(d);
	while (any_alive(d)) {
		int s = take_signal(d, 100);

		if (!killed && (s == SIGINT || s == SIGTERM || rk_cli_now_ms() > deadline)) {
			fprintf(stderr, "rangekv demo: killing the nodes still running\n");
			for (int i = 1; i <= d->nodes; i++)
				if (d->pid[i] > 0)
					kill(d->pid[i], SIGKILL);
			killed = true;
			rc = RK_CLI_EXIT_ERROR;
		}
		reap(d);
	}
	for (int i = 1; i <= d->nodes; i++) {
		int st = d->status[i];
		if (stopped[i] && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
		    !(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) && !killed) {
			fprintf(stderr, "rangekv demo: node %d did not stop cleanly (see %s/node%d.log)\n",
				i, d->dir, i);
			rc = RK_CLI_EXIT_ERROR;
		}
	}
	return rc;
}

/* A node that exited on its own: say why, stop the others. */
static int node_died(struct demo *d)
{
	char line[PATH_LEN + 32];

	for (int i = 1; i <= d->nodes; i++) {
		int st = d->status[i];
		if (d->pid[i] != 0 || st == -1)
			continue;
		/* A node that gives up says why in its last ERROR line; one
		 * killed from outside has nothing to say. */
		if (WIFEXITED(st)) {
			last_log_line(d, i, line, sizeof(line));
			fprintf(stderr, "rangekv demo: node %d exited with status %d: %s\n",
				i, WEXITSTATUS(st), line);
		} else {
			fprintf(stderr, "rangekv demo: node %d was killed by signal %d "
				"(log: %s/node%d.log)\n", i, WTERMSIG(st), d->dir, i);
		}
	}
	fprintf(stderr, "rangekv demo: stopping the other nodes; logs in %s\n", d->dir);
	stop_all(d);
	return RK_CLI_EXIT_ERROR;
}

/* What `demo` needs from /api/v1/cluster/status: the top-level "node_id"
 * and "ranges", and the sum of nodes[].leaders, which counts the ranges of
 * this node whose leader it knows. -1 for what the answer lacks. */
static void status_numbers(const char *s, size_t len, long long *idp,
			   long long *rangesp, long long *ledp)
{
	cJSON *j = cJSON_ParseWithLength(s, len);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "node_id");
	const cJSON *ranges = cJSON_GetObjectItemCaseSensitive(j, "ranges");
	const cJSON *nd;

	*idp = cJSON_IsNumber(id) ? (long long)id->valuedouble : -1;
	*rangesp = cJSON_IsNumber(ranges) ? (long long)ranges->valuedouble : -1;
	*ledp = 0;
	cJSON_ArrayForEach(nd, cJSON_GetObjectItemCaseSensitive(j, "nodes")) {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(nd, "leaders");
		if (cJSON_IsNumber(l))
			*ledp += (long long)l->valuedouble;
	}
	cJSON_Delete(j);
}

/* Node i's ranges and how many of them have a leader; -1 if it does not
 * answer (yet) as node i. */
static long long led(const struct demo *d, int i, long long *rangesp)
{
	char addr[32], err[256];
	struct rk_buf body;
	long long id = -1, ledn = 0;
	int status, rc;

	*rangesp = -1;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port(d, 2, i));
	rk_buf_init(&body);
	rc = rk_cli_http_get(addr, "/api/v1/cluster/status", rk_cli_now_ms() + 1000,
			     &body, &status, err, sizeof(err));
	if (rc == 0 && status == 200)
		status_numbers(rk_buf_cstr(&body), body.len, &id, rangesp, &ledn);
	rk_buf_free(&body);
	return rc == 0 && status == 200 && id == i ? ledn : -1;
}

/* Waits until every range of every node has a leader. 0, or the exit
 * status when a node died or a signal came first. */
static int wait_ready(struct demo *d)
{
	bool ready[MAX_NODES + 1] = {false};
	int64_t t0 = rk_cli_now_ms(), note = t0 + 5000;
	int n_ready = 0;

	while (n_ready < d->nodes) {
		int s = take_signal(d, 100);
		long long ranges, l;

		if (reap(d) > 0)
			return node_died(d);
		if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
			fprintf(stderr, "rangekv demo: stopping\n");
			return stop_all(d);
		}
		for (int i = 1; i <= d->nodes; i++) {
			if (ready[i])
				continue;
			l = led(d, i, &ranges);
			if (l >= 0 && ranges > 0 && l == ranges) {
				ready[i] = true;
				n_ready++;
			} else if (rk_cli_now_ms() > note) {
				note = rk_cli_now_ms() + 5000;
				if (l < 0)
					printf("waiting for node %d to answer on 127.0.0.1:%d\n",
					       i, port(d, 2, i));
				else
					printf("waiting: node %d knows the leader of %lld of its "
					       "%lld ranges\n", i, l, ranges);
				fflush(stdout);
			}
		}
	}
	printf("every range of the %d nodes has a leader (%.1f s)\n", d->nodes,
	       (double)(rk_cli_now_ms() - t0) / 1000);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig; /* never runs: the signals are blocked and taken with sigtimedwait() */
}

int rk_cli_demo_main(int argc, char **argv)
{
	struct demo *d = calloc(1, sizeof(*d));
	struct sigaction sa;
	sigset_t old;
	ssize_t n;
	int rc;

	if (d == NULL)
		return RK_CLI_EXIT_ERROR;
	d->nodes = 3;
	d->ranges = 1024;
	d->base = 7100;
	for (int i = 0; i <= MAX_NODES; i++)
		d->status[i] = -1;
	rc = parse(d, argc, argv);
	if (rc == 1) {
		usage(stdout);
		rc = RK_CLI_EXIT_OK;
		goto out;
	}
	/* A DIR used before: its first start's flags, then the command line's
	 * over them. */
	if (rc == 0 && d->dir[0] != '\0' && (rc = conf_read(d)) == 0)
		rc = parse(d, argc, argv);
	if (rc != 0 || (rc = ports_free(d)) != 0)
		goto out;
	n = readlink("/proc/self/exe", d->exe, sizeof(d->exe) - 1);
	if (n <= 0)
		strcpy(d->exe, "rangekv");
	if (d->dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(d->dir, sizeof(d->dir), "%s/rangekv-demo-XXXXXX",
			 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
		if (mkdtemp(d->dir) == NULL) {
			fprintf(stderr, "rangekv demo: cannot create %s: %s\n", d->dir,
				strerror(errno));
			rc = RK_CLI_EXIT_ERROR;
			goto out;
		}
	} else if (mkdir(d->dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "rangekv demo: cannot create %s: %s\n", d->dir, strerror(errno));
		rc = RK_CLI_EXIT_ERROR;
		goto out;
	}
	if ((rc = conf_write(d)) != 0)
		goto out;

	/* The signals are blocked and taken synchronously, so there is no
	 * handler to race with; the no-op handler (not SIG_IGN, which would
	 * drop them even while blocked) also undoes an inherited SIG_IGN, as
	 * a shell gives a background job for SIGINT. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&d->sigs);
	sigaddset(&d->sigs, SIGINT);
	sigaddset(&d->sigs, SIGTERM);
	sigaddset(&d->sigs, SIGHUP);
	sigaddset(&d->sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &d->sigs, &old);

	printf("rangekv demo: %d node%s, data and logs in %s\n", d->nodes,
	       d->nodes > 1 ? "s" : "", d->dir);
	fflush(stdout); /* before fork: the children must not repeat it */
	for (int i = 1; i <= d->nodes; i++) {
		if (spawn(d, i, &old) != 0) {
			stop_all(d);
			rc = RK_CLI_EXIT_ERROR;
			goto out;
		}
		printf("  node %d: RESP 127.0.0.1:%d  HTTP 127.0.0.1:%d  log %s/node%d.log\n",
		       i, port(d, 1, i), port(d, 2, i), d->dir, i);
	}
	fflush(stdout);
	rc = wait_ready(d);
	if (rc != 0 || !any_alive(d))
		goto out;
	printf("connect with:\n"
	       "  redis-cli -p %d%s\n"
	       "  %s get KEY --addr 127.0.0.1:%d%s%s\n"
	       "  curl 127.0.0.1:%d/api/v1/ranges\n"
	       "restart this cluster later with:\n"
	       "  %s demo --dir %s%s%s\n"
	       "Ctrl-C stops it.\n",
	       port(d, 1, 1), d->password_file[0] ? " --askpass" : "", d->exe,
	       port(d, 1, 1), d->password_file[0] ? " --password-file " : "",
	       d->password_file, port(d, 2, 1), d->exe, d->dir,
	       /* the password file is not kept with the cluster: a restart
		* without it would serve without AUTH */
	       d->password_file[0] ? " --client-password-file " : "", d->password_file);
	fflush(stdout);
	for (;;) {
		int s = take_signal(d, 1000);

		if (reap(d) > 0) {
			rc = node_died(d);
			break;
		}
		if (s == SIGINT || s == SIGTERM || s == SIGHUP) {
			fprintf(stderr, "rangekv demo: stopping\n");
			rc = stop_all(d);
			if (rc == 0)
				printf("stopped; restart with %s demo --dir %s%s%s\n", d->exe,
				       d->dir, d->password_file[0] ? " --client-password-file " : "",
				       d->password_file);
			break;
		}
	}
out:
	fflush(stdout);
	free(d);
	return rc;
}
