/*
 * The KV verbs: one RESP command (or, for scan, a series of KRANGE pages)
 * to one node's client port. The node's router forwards it to the range
 * leader, so any node will do.
 *
 * Keys, sequence names and scan bounds given on the command line may use
 * the \xNN escape of the outside contract (a backslash itself is \x5c);
 * values are sent exactly as given. Output: plain text for people and
 * shell scripts (get prints the raw value), or JSON with --json where byte
 * strings use the same escape.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "secret.h"

#define F_NXXX 1  /* set: --nx / --xx */
#define F_LIMIT 2 /* scan: --limit N */

/* A scan page: small enough that one reply stays a few MiB with typical
 * values, and below the node's cap of 10,000 pairs for a KRANGE without
 * LIMIT, so a short page reliably means the end of the span. */
#define SCAN_PAGE 1000
#define MAX_CMD_ARGS 4096

struct kv;

struct verb {
	const char *name;
	const char *synopsis; /* after "rangekv NAME " */
	const char *help;     /* what it does and prints */
	int min, max;         /* how many positional arguments */
	int flags;            /* F_ flags accepted beyond the common ones */
	int (*run)(struct kv *k);
};

struct kv {
	const struct verb *v;
	char **pos; /* positional arguments, as given */
	int npos;
	const char *addr;
	bool json, nx, xx, has_limit;
	uint64_t limit;
	int64_t timeout_ms;
	/* --password-file (or RANGEKV_PASSWORD_FILE): AUTH right after
	 * connecting; password_len 0: none. */
	uint8_t password[RK_SECRET_MAX];
	size_t password_len;
	struct rk_cli_conn conn;
	/* The command being built; unescaped keys live in keys[]. */
	const char *argv[MAX_CMD_ARGS];
	size_t argl[MAX_CMD_ARGS];
	size_t argc;
	struct rk_buf keys[MAX_CMD_ARGS];
	size_t nkeys;
	char err[512];
};

static int usage_error(const struct kv *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const struct kv *k, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "rangekv %s: ", k->v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see rangekv %s --help)\n", k->v->name);
	return RK_CLI_EXIT_USAGE;
}

static void arg(struct kv *k, const void *p, size_t n)
{
	k->argv[k->argc] = p;
	k->argl[k->argc++] = n;
}

/* Appends a command-line key, unescaped; RK_EINVAL for a bad escape. */
static int key_arg(struct kv *k, const char *s)
{
	struct rk_buf *b = &k->keys[k->nkeys++];

	rk_buf_init(b);
	if (rk_key_unescape(s, strlen(s), b) != 0)
		return RK_EINVAL;
	arg(k, b->len ? b->p : "", b->len);
	return 0;
}

static int keys_or_usage(struct kv *k, int from, int to)
{
	for (int i = from; i < to; i++)
		if (key_arg(k, k->pos[i]) != 0)
			return usage_error(k, "bad escape in '%s': write a byte as \\xNN "
					   "and a backslash as \\x5c", k->pos[i]);
	return 0;
}

/* AUTH with k's password on a new connection: 0, or the exit status. */
static int auth(struct kv *k)
{
	const char *argv[2] = {"AUTH", (const char *)k->password};
	size_t argl[2] = {4, k->password_len};
	struct rk_resp_reply r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = rk_cli_call(&k->conn, 2, argv, argl, rk_cli_now_ms() + k->timeout_ms, &r,
			 k->err, sizeof(k->err));
	if (rc != 0) {
		fprintf(stderr, "rangekv %s: %s\n", k->v->name, k->err);
		return rc == RK_ECONN || rc == RK_ETIMEDOUT ? RK_CLI_EXIT_UNREACHABLE
							    : RK_CLI_EXIT_ERROR;
	}
	rc = r.type == RK_RESP_SIMPLE ? 0 : RK_CLI_EXIT_ERROR;
	if (rc != 0)
		fprintf(stderr, "rangekv %s: AUTH: %s\n", k->v->name,
			r.type == RK_RESP_ERROR ? (const char *)r.str : "unexpected reply");
	rk_resp_reply_free(&r);
	return rc;
}

/* Sends k's command, connecting first if this is the first one (so that
 * every usage error is found before the node is asked anything). Returns
 * the exit status for anything but a usable reply: 0 with *rp filled, which
 * may still be an error reply. */
static int call(struct kv *k, struct rk_resp_reply *rp)
{
	int rc = 0;

	memset(rp, 0, sizeof(*rp));
	if (k->conn.fd < 0) {
		rc = rk_cli_connect(&k->conn, k->addr, rk_cli_now_ms() + k->timeout_ms,
				    k->err, sizeof(k->err));
		if (rc == 0 && k->password_len > 0 && (rc = auth(k)) != 0)
			return rc;
	}
	if (rc == 0)
		rc = rk_cli_call(&k->conn, k->argc, k->argv, k->argl,
				 rk_cli_now_ms() + k->timeout_ms, rp, k->err, sizeof(k->err));
	k->argc = 0;
	if (rc == 0)
		return 0;
	if (rc == RK_EADDR)
		return usage_error(k, "--addr: %s", k->err);
	fprintf(stderr, "rangekv %s: %s\n", k->v->name, k->err);
	return rc == RK_ECONN || rc == RK_ETIMEDOUT ? RK_CLI_EXIT_UNREACHABLE
						    : RK_CLI_EXIT_ERROR;
}

/* The exit status for a reply that is an error or not of the type wanted
 * (want2 is a second acceptable type, or 0); 0 if it is one of them. */
static int check(const struct kv *k, const struct rk_resp_reply *r, int want,
		 int want2)
{
	if (r->type == want || (want2 != 0 && r->type == want2))
		return 0;
	if (r->type == RK_RESP_ERROR)
		fprintf(stderr, "rangekv %s: %s\n", k->v->name, (const char *)r->str);
	else
		fprintf(stderr, "rangekv %s: unexpected reply (type '%c') from %s\n",
			k->v->name, r->type, k->addr);
	return RK_CLI_EXIT_ERROR;
}

/* Prints the JSON object built in b as one line. */
static void json_line(struct rk_buf *b)
{
	rk_buf_putc(b, '\n');
	fwrite(b->p, 1, b->len, stdout);
	rk_buf_free(b);
}

/* Opens a JSON object in b, starting with NAME: the bytes p[0..n) as
 * escaped text when name is not NULL; the caller adds the rest. */
static void json_begin(struct rk_json *j, struct rk_buf *b, const char *name,
		       const void *p, size_t n)
{
	rk_buf_init(b);
	rk_json_init(j, b);
	rk_json_obj_begin(j);
	if (name != NULL) {
		rk_json_key(j, name);
		rk_json_bytes(j, p, n);
	}
}

/* Replies that are an integer, printed as one (del, incr, seq). */
static int print_int(struct kv *k, const char *jkey, const char *field,
		     int64_t count)
{
	struct rk_resp_reply r;
	struct rk_json j;
	struct rk_buf b;
	const void *key = k->argv[1];
	size_t keyl = k->argl[1];
	int rc = call(k, &r);

	if (rc == 0 && (rc = check(k, &r, RK_RESP_INT, 0)) == 0) {
		if (!k->json) {
			printf("%lld\n", (long long)r.integer);
		} else {
			json_begin(&j, &b, jkey, key, keyl);
			rk_json_key(&j, field);
			rk_json_i64(&j, r.integer);
			if (count > 0) {
				rk_json_key(&j, "count");
				rk_json_i64(&j, count);
			}
			rk_json_obj_end(&j);
			json_line(&b);
		}
	}
	rk_resp_reply_free(&r);
	return rc;
}

static int run_get(struct kv *k)
{
	struct rk_resp_reply r;
	struct rk_json j;
	struct rk_buf b;
	int rc;

	arg(k, "GET", 3);
	if ((rc = keys_or_usage(k, 0, 1)) != 0)
		return rc;
	json_begin(&j, &b, "key", k->argv[1], k->argl[1]);
	rc = call(k, &r);
	if (rc == 0 && (rc = check(k, &r, RK_RESP_BULK, RK_RESP_NIL)) == 0) {
		if (k->json) {
			rk_json_key(&j, "value");
			if (r.type == RK_RESP_NIL)
				rk_json_null(&j);
			else
				rk_json_bytes(&j, r.str, r.len);
			rk_json_obj_end(&j);
			json_line(&b);
		} else if (r.type == RK_RESP_NIL) {
			fputs("(nil)\n", stderr); /* stdout stays empty for $(...) */
		} else {
			fwrite(r.str, 1, r.len, stdout);
			putchar('\n');
		}
	}
	rk_buf_free(&b);
	rk_resp_reply_free(&r);
	return rc;
}

static int run_set(struct kv *k)
{
	struct rk_resp_reply r;
	struct rk_json j;
	struct rk_buf b;
	int rc;

	if (k->nx && k->xx)
		return usage_error(k, "--nx and --xx exclude each other");
	arg(k, "SET", 3);
	if ((rc = keys_or_usage(k, 0, 1)) != 0)
		return rc;
	arg(k, k->pos[1], strlen(k->pos[1]));
	if (k->nx || k->xx)
		arg(k, k->nx ? "NX" : "XX", 2);
	json_begin(&j, &b, "key", k->argv[1], k->argl[1]);
	rc = call(k, &r);
	/* nil: --nx found the key, or --xx did not; not an error. */
	if (rc == 0 && (rc = check(k, &r, RK_RESP_SIMPLE, RK_RESP_NIL)) == 0) {
		if (k->json) {
			rk_json_key(&j, "set");
			rk_json_bool(&j, r.type != RK_RESP_NIL);
			rk_json_obj_end(&j);
			json_line(&b);
		} else if (r.type == RK_RESP_NIL) {
			fputs("(nil)\n", stderr);
		} else {
			printf("%s\n", (const char *)r.str);
		}
	}
	rk_buf_free(&b);
	rk_resp_reply_free(&r);
	return rc;
}

static int run_del(struct kv *k)
{
	int rc;

	arg(k, "DEL", 3);
	if ((rc = keys_or_usage(k, 0, k->npos)) != 0)
		return rc;
	return print_int(k, NULL, "deleted", 0);
}

/* A whole number in [min, max] from the command line. */
static bool parse_int(const char *s, long long min, long long max, long long *vp)
{
	char *end;

	errno = 0;
	*vp = strtoll(s, &end, 10);
	return *s != '\0' && *end == '\0' && errno == 0 && *vp >= min && *vp <= max;
}

static int run_incr(struct kv *k)
{
	long long by = 1;
	int rc;

	if (k->npos == 2 && !parse_int(k->pos[1], INT64_MIN, INT64_MAX, &by))
		return usage_error(k, "BY '%s' is not a whole number", k->pos[1]);
	arg(k, "INCRBY", 6);
	if ((rc = keys_or_usage(k, 0, 1)) != 0)
		return rc;
	arg(k, k->npos == 2 ? k->pos[1] : "1", k->npos == 2 ? strlen(k->pos[1]) : 1);
	return print_int(k, "key", "value", 0);
}

static int run_cas(struct kv *k)
{
	struct rk_resp_reply r;
	struct rk_json j;
	struct rk_buf b;
	int rc;

	arg(k, "CAS", 3);
	if ((rc = keys_or_usage(k, 0, 1)) != 0)
		return rc;
	arg(k, k->pos[1], strlen(k->pos[1]));
	arg(k, k->pos[2], strlen(k->pos[2]));
	json_begin(&j, &b, "key", k->argv[1], k->argl[1]);
	rc = call(k, &r);
	if (rc == 0 && (rc = check(k, &r, RK_RESP_INT, 0)) == 0) {
		if (k->json) {
			rk_json_key(&j, "swapped");
			rk_json_bool(&j, r.integer == 1);
			rk_json_obj_end(&j);
			json_line(&b);
		} else {
			printf("%lld\n", (long long)r.integer);
		}
	}
	rk_buf_free(&b);
	rk_resp_reply_free(&r);
	return rc;
}

static int run_seq(struct kv *k)
{
	long long count = 1;
	int rc;

	if (k->npos == 2 && !parse_int(k->pos[1], 1, 1000000, &count))
		return usage_error(k, "COUNT '%s' is not a count from 1 to 1000000",
				   k->pos[1]);
	arg(k, "SEQ.NEXT", 8);
	if ((rc = keys_or_usage(k, 0, 1)) != 0)
		return rc;
	if (k->npos == 2)
		arg(k, k->pos[1], strlen(k->pos[1]));
	return print_int(k, "name", "first", count);
}

/* One pair of a scan: escaped so that one line is one pair. */
static void print_pair(const struct kv *k, const struct rk_resp_reply *key,
		       const struct rk_resp_reply *val)
{
	struct rk_json j;
	struct rk_buf b;

	if (k->json) {
		json_begin(&j, &b, "key", key->str, key->len);
		rk_json_key(&j, "value");
		rk_json_bytes(&j, val->str, val->len);
		rk_json_obj_end(&j);
	} else {
		/* A tab or newline inside a key or value is escaped (\x09,
		 * \x0a), so the separators below are unambiguous. */
		rk_buf_init(&b);
		rk_key_escape(&b, key->str, key->len);
		rk_buf_putc(&b, '\t');
		rk_key_escape(&b, val->str, val->len);
	}
	json_line(&b);
}

static int run_scan(struct kv *k)
{
	struct rk_buf start, end;
	uint64_t left = k->has_limit ? k->limit : UINT64_MAX;
	int rc = 0;

	rk_buf_init(&start);
	rk_buf_init(&end);
	if (rk_key_unescape(k->pos[0], strlen(k->pos[0]), &start) != 0 ||
	    (k->npos == 2 && rk_key_unescape(k->pos[1], strlen(k->pos[1]), &end) != 0))
		rc = usage_error(k, "bad escape in START or END: write a byte as \\xNN "
				 "and a backslash as \\x5c");
	/* Page by page: ask for at most SCAN_PAGE pairs, go on after the last
	 * key (the next key in byte order is the last one plus a zero byte)
	 * until a page comes back short or --limit is reached. */
	while (rc == 0 && left > 0) {
		struct rk_resp_reply r;
		char lim[24];
		uint64_t ask = left < SCAN_PAGE ? left : SCAN_PAGE;

		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)ask);
		arg(k, "KRANGE", 6);
		arg(k, start.len ? start.p : "", start.len);
		arg(k, end.len ? end.p : "", end.len);
		arg(k, "LIMIT", 5);
		arg(k, lim, strlen(lim));
		rc = call(k, &r);
		if (rc == 0 && (rc = check(k, &r, RK_RESP_ARRAY, 0)) == 0) {
			bool flat = r.n % 2 == 0 && r.n / 2 <= ask;
			for (size_t i = 0; i < r.n; i++)
				flat = flat && r.elems[i].type == RK_RESP_BULK;
			if (!flat) {
				fprintf(stderr, "rangekv scan: %s answered KRANGE with an array "
					"that is not %llu key-value pairs or fewer\n", k->addr,
					(unsigned long long)ask);
				rc = RK_CLI_EXIT_ERROR;
			}
			for (size_t i = 0; rc == 0 && i < r.n; i += 2)
				print_pair(k, &r.elems[i], &r.elems[i + 1]);
			left -= r.n / 2;
			if (rc == 0 && r.n / 2 == ask) {
				rk_buf_reset(&start);
				rk_buf_append(&start, r.elems[r.n - 2].str, r.elems[r.n - 2].len);
				rk_buf_putc(&start, '\0');
			} else {
				left = 0;
			}
		}
		rk_resp_reply_free(&r);
		if (start.oom)
			rc = RK_CLI_EXIT_ERROR;
	}
	rk_buf_free(&start);
	rk_buf_free(&end);
	return rc;
}

static const struct verb verbs[] = {
	{.name = "get", .synopsis = "KEY", .min = 1, .max = 1, .run = run_get, .help =
	 "Prints the value of KEY: its raw bytes and a newline. A missing key\n"
	 "prints nothing (\"(nil)\" on stderr) and exits 0.\n"
	 "--json: {\"key\": KEY, \"value\": VALUE or null}\n"},
	{.name = "set", .synopsis = "KEY VALUE [--nx | --xx]", .min = 2, .max = 2,
	 .flags = F_NXXX, .run = run_set, .help =
	 "Sets KEY to VALUE and prints OK. --nx: only if KEY does not exist;\n"
	 "--xx: only if it does; when that fails nothing is set and \"(nil)\" goes\n"
	 "to stderr (exit 0).\n"
	 "--json: {\"key\": KEY, \"set\": true or false}\n"},
	{.name = "del", .synopsis = "KEY...", .min = 1, .max = MAX_CMD_ARGS - 2,
	 .run = run_del, .help =
	 "Deletes the keys; prints how many existed.\n"
	 "--json: {\"deleted\": N}\n"},
	{.name = "incr", .synopsis = "KEY [BY]", .min = 1, .max = 2, .run = run_incr, .help =
	 "Adds BY (default 1, may be negative) to the integer at KEY (a missing\n"
	 "key counts as 0) and prints the result (INCRBY).\n"
	 "--json: {\"key\": KEY, \"value\": N}\n"},
	{.name = "cas", .synopsis = "KEY EXPECTED NEW", .min = 3, .max = 3, .run = run_cas,
	 .help =
	 "Sets KEY to NEW if its value is EXPECTED (a missing key compares equal\n"
	 "to the empty string); prints 1 if it swapped, 0 if not.\n"
	 "--json: {\"key\": KEY, \"swapped\": true or false}\n"},
	{.name = "seq", .synopsis = "NAME [COUNT]", .min = 1, .max = 2, .run = run_seq, .help =
	 "Takes COUNT (default 1, at most 1000000) new consecutive IDs from the\n"
	 "sequence NAME and prints the first (SEQ.NEXT). IDs start at 1, never\n"
	 "repeat and never skip.\n"
	 "--json: {\"name\": NAME, \"first\": N, \"count\": COUNT}\n"},
	{.name = "scan", .synopsis = "START [END] [--limit N]", .min = 1, .max = 2,
	 .flags = F_LIMIT, .run = run_scan, .help =
	 "Prints the pairs with START <= key < END in byte order, one per line:\n"
	 "key, a tab, value, both with the \\xNN escape (END omitted or empty: to\n"
	 "the end of the key space). Pages through the whole span (KRANGE), or\n"
	 "stops after --limit N pairs.\n"
	 "--json: one {\"key\": KEY, \"value\": VALUE} object per line\n"},
};

static const struct verb *find(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

int rk_cli_kv_is_verb(const char *name)
{
	return find(name) != NULL;
}

void rk_cli_kv_summary(FILE *out)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  %-9s %s\n", verbs[i].name, verbs[i].synopsis);
}

static void verb_usage(const struct verb *v)
{
	printf("usage: rangekv %s %s [--addr HOST:PORT] [--json] [--timeout SECONDS]\n"
	       "       [--password-file F]\n\n"
	       "%s\n"
	       "Keys (and sequence names, scan bounds) may write any byte as \\xNN; a\n"
	       "backslash is \\x5c. Values are sent as given.\n\n"
	       "  --addr HOST:PORT   a node's client (RESP) port       [127.0.0.1:7201]\n"
	       "  --json             machine-readable output, one JSON object per line\n"
	       "  --timeout SECONDS  to connect, and for each reply                [10]\n"
	       "  --password-file F  AUTH with the password in file F (a node started\n"
	       "                     with --client-password-file)\n"
	       "                     [$RANGEKV_PASSWORD_FILE, else none]\n"
	       "  --help             this text\n\n"
	       "exit status: 0 success (a missing key included), 1 an error reply,\n"
	       "2 bad usage, 3 node unreachable\n",
	       v->name, v->synopsis, v->help);
}

/* Flags anywhere among the arguments (getopt_long, in order); "--" ends
 * them (for a key that starts with "--"). Only "--name" is a flag: an
 * argument with one dash ("-5" for incr, a value "-x") is an argument, so
 * no short option is declared and getopt's complaints about one are taken
 * back as the argument they were found in. */
static int parse(struct kv *k, int argc, char **argv)
{
	const char *password_file = getenv("RANGEKV_PASSWORD_FILE");
	enum { O_JSON = 1000, O_NX, O_XX, O_ADDR, O_TIMEOUT, O_LIMIT, O_PASSWORD };
	static const struct option options[] = {
		{"json", no_argument, NULL, O_JSON},
		{"nx", no_argument, NULL, O_NX},
		{"xx", no_argument, NULL, O_XX},
		{"addr", required_argument, NULL, O_ADDR},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"limit", required_argument, NULL, O_LIMIT},
		{"password-file", required_argument, NULL, O_PASSWORD},
		{NULL, 0, NULL, 0},
	};
	char *taken = NULL; /* the one-dash argument last taken */
	long long n;
	int o, li = 0, at;

	opterr = 0; /* our own one-line messages */
	optind = 1;
	for (;;) {
		at = optind; /* the argument getopt is in (no permutation: "-") */
		o = getopt_long(argc, argv, "-:", options, &li);
		if (o == -1)
			break;
		if (o == 1) { /* an argument, in order */
			k->pos[k->npos++] = optarg;
			continue;
		}
		if (o == '?' && optopt != 0 && strncmp(argv[at], "--", 2) != 0) {
			if (argv[at] != taken) /* each of its characters complains */
				k->pos[k->npos++] = taken = argv[at];
			continue;
		}
		if (o == '?')
			return usage_error(k, "unknown flag %s", argv[optind - 1]);
		if (o == ':')
			return usage_error(k, "%s needs a value", argv[optind - 1]);
		if (((o == O_NX || o == O_XX) && !(k->v->flags & F_NXXX)) ||
		    (o == O_LIMIT && !(k->v->flags & F_LIMIT)))
			return usage_error(k, "unknown flag --%s", options[li].name);
		switch (o) {
		case O_JSON:
			k->json = true;
			break;
		case O_NX:
			k->nx = true;
			break;
		case O_XX:
			k->xx = true;
			break;
		case O_ADDR:
			k->addr = optarg;
			break;
		case O_LIMIT:
			if (!parse_int(optarg, 1, INT64_MAX, &n))
				return usage_error(k, "--limit: '%s' is not a count", optarg);
			k->limit = (uint64_t)n;
			k->has_limit = true;
			break;
		case O_PASSWORD:
			password_file = optarg;
			break;
		case O_TIMEOUT:
			if (!rk_cli_parse_timeout(optarg, &k->timeout_ms))
				return usage_error(k, "--timeout: '%s' is not seconds "
						   "(more than 0, at most 86400)", optarg);
			break;
		}
	}
	while (optind < argc) /* after "--" */
		k->pos[k->npos++] = argv[optind++];
	if (password_file != NULL && *password_file != '\0') {
		bool open;
		if (rk_secret_read("--password-file", password_file, k->password,
				   &k->password_len, &open, k->err, sizeof(k->err)) != 0)
			return usage_error(k, "%s", k->err);
	}
	if (k->npos < k->v->min)
		return usage_error(k, "expected %s", k->v->synopsis);
	if (k->npos > k->v->max)
		return usage_error(k, "too many arguments (expected %s)", k->v->synopsis);
	return 0;
}

int rk_cli_kv_main(int argc, char **argv)
{
	struct kv *k = calloc(1, sizeof(*k));
	int rc;

	if (k == NULL || (k->pos = calloc((size_t)argc, sizeof(char *))) == NULL) {
		free(k);
		fprintf(stderr, "rangekv: %s\n", rk_strerror(RK_ENOMEM));
		return RK_CLI_EXIT_ERROR;
	}
	k->v = find(argv[0]);
	k->addr = "127.0.0.1:7201";
	k->timeout_ms = 10000; /* twice the node's default request deadline, so
				  its -TRYAGAIN / -TIMEOUT reply gets here */
	k->conn.fd = -1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			verb_usage(k->v);
			free(k->pos);
			free(k);
			return RK_CLI_EXIT_OK;
		}
	rc = parse(k, argc, argv);
	if (rc == 0)
		rc = k->v->run(k);
	if (fflush(stdout) != 0 && rc == 0)
		rc = RK_CLI_EXIT_ERROR;
	rk_cli_close(&k->conn);
	memset(k->password, 0, sizeof(k->password));
	for (size_t i = 0; i < k->nkeys; i++)
		rk_buf_free(&k->keys[i]);
	free(k->pos);
	free(k);
	return rc;
}
