/*
 * The fuzz driver for builds without libFuzzer (gcc, ctest): a main() that
 * feeds a harness's LLVMFuzzerTestOneInput
 *
 *   1. every file named on the command line, and every file in every
 *      directory named there (the target's seed corpus when none is given);
 *   2. --runs N deterministic pseudo-random inputs from --seed S: random
 *      bytes, random strings of protocol tokens, and stacked mutations of
 *      the corpus inputs (bit flips, byte sets, insertions and deletions,
 *      truncation, duplicated chunks, splices of two corpus inputs,
 *      replaced numbers, little-endian integers).
 *
 *   fuzz_<target> [--runs N] [--seed S] [--max-len L] [DIR|FILE]...
 *
 * Each input is copied into a heap block of exactly its size, so a read one
 * byte past the end is an AddressSanitizer report in the sanitized build.
 * A violated property aborts; the handler then writes the input to
 * ./crash-<target> (or $RK_FUZZ_ARTIFACT) and prints it in hex, so that it
 * can be replayed with `fuzz_<target> FILE` (or with the libFuzzer build)
 * and added to tests/fuzz/corpus/<target>/. On success it prints one line,
 * "<target>: N inputs, 0 failures".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef RK_FUZZ_TARGET
#define RK_FUZZ_TARGET "fuzz"
#endif

#define MAX_FILE (1024 * 1024)

struct input {
	uint8_t *p;
	size_t n;
};

static struct input *corpus;
static size_t n_corpus, cap_corpus;

/* ---- failure report (async-signal-safe) --------------------------------- */

static const uint8_t *volatile cur_p;
static volatile size_t cur_n;
static volatile unsigned long long cur_index; /* 0 = not running */
static volatile unsigned long long cur_seed;

static void put(const char *s)
{
	ssize_t rc = write(2, s, strlen(s));

	(void)rc;
}

static void put_u64(unsigned long long v)
{
	char tmp[24];
	int i = (int)sizeof(tmp) - 1;

	tmp[i] = '\0';
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put(tmp + i);
}

static void on_fatal(int sig)
{
	static const char hexd[] = "0123456789abcdef";
	const char *path = getenv("RK_FUZZ_ARTIFACT");
	const uint8_t *p = cur_p;
	size_t n = cur_n, i;
	int fd;

	if (cur_index == 0) {
		if (sig != 0) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
		return;
	}
	if (path == NULL)
		path = "crash-" RK_FUZZ_TARGET;
	put("\n" RK_FUZZ_TARGET ": FAILED on input ");
	put_u64(cur_index);
	put(" (seed ");
	put_u64(cur_seed);
	put("), ");
	put_u64(n);
	put(" bytes, saved to ");
	put(path);
	put("\n");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		ssize_t rc = write(fd, p, n);
		(void)rc;
		close(fd);
	}
	if (n <= 512) {
		char h[3] = {0, 0, 0};

		put("input (hex): ");
		for (i = 0; i < n; i++) {
			h[0] = hexd[p[i] >> 4];
			h[1] = hexd[p[i] & 15];
			put(h);
		}
		put("\n");
	}
	cur_index = 0; /* reported once */
	if (sig != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

/* Called by ASan/UBSan after their report, before they exit (which they may
 * do without a signal): save the input there too. */
static void on_sanitizer_death(void)
{
	if (cur_index != 0)
		on_fatal(0);
}

#ifdef RK_SANITIZED
void __sanitizer_set_death_callback(void (*cb)(void));
#endif

static void install_handlers(void)
{
	static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
#ifdef RK_SANITIZED
	__sanitizer_set_death_callback(on_sanitizer_death);
#else
	(void)on_sanitizer_death;
#endif
}

/* Runs one input from a heap block of exactly its size. */
static void run_one(const uint8_t *p, size_t n, unsigned long long index)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);

	if (copy == NULL) {
		fprintf(stderr, RK_FUZZ_TARGET ": out of memory\n");
		exit(2);
	}
	if (n > 0)
		memcpy(copy, p, n);
	cur_p = copy;
	cur_n = n;
	cur_index = index;
	LLVMFuzzerTestOneInput(copy, n);
	cur_index = 0;
	free(copy);
}

/* ---- corpus --------------------------------------------------------------- */

static void corpus_add(uint8_t *p, size_t n)
{
	if (n_corpus == cap_corpus) {
		size_t ncap = cap_corpus == 0 ? 64 : cap_corpus * 2;
		struct input *nc = realloc(corpus, ncap * sizeof(*nc));
		if (nc == NULL) {
			fprintf(stderr, RK_FUZZ_TARGET ": out of memory\n");
			exit(2);
		}
		corpus = nc;
		cap_corpus = ncap;
	}
	corpus[n_corpus].p = p;
	corpus[n_corpus].n = n;
	n_corpus++;
}

static int load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, RK_FUZZ_TARGET ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	p = malloc(MAX_FILE);
	if (p == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(p, 1, MAX_FILE, f);
	fclose(f);
	if (n > 0) {
		uint8_t *np = realloc(p, n);
		if (np != NULL)
			p = np;
	}
	corpus_add(p, n);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every regular file of dir, in name order (so runs repeat). */
static int load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, RK_FUZZ_TARGET ": %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;
			cap = cap == 0 ? 64 : cap * 2;
			nn = realloc(names, cap * sizeof(*nn));
			if (nn == NULL)
				break;
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (names[n] != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    load_file(path) != 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

static int load_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, RK_FUZZ_TARGET ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? load_dir(path) : load_file(path);
}

/* ---- generator ----------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

/* Tokens of the formats under test (RESP, key escapes, query strings), and
 * numbers at the edges of the parsers' limits. */
static const char *const tokens[] = {
	"\r\n", "\r", "\n", "*", "$", "+", "-", ":", "_", " ", "\t",
	"*1\r\n", "*2\r\n", "*3\r\n", "$0\r\n", "$1\r\n", "$3\r\n", "$-1\r\n",
	"*-1\r\n", "*0\r\n", ":0\r\n", "+OK\r\n", "-ERR x\r\n",
	"SET", "GET", "PING", "\\x", "\\x00", "\\xff", "\\X41", "\\", "x",
	"&", "=", "?", "a", "limit", "id=",
};
#define N_TOKENS (sizeof(tokens) / sizeof(tokens[0]))

static const char *const numbers[] = {
	"0", "1", "2", "3", "9", "-1", "-0", "00", "10", "18446744073709551615",
	"999999999999999999", "9999999999999999999", "1048576", "1052672",
	"1052673", "65536", "65537", "536870912", "536870913", "16777216",
	"16777217", "9223372036854775807", "-9223372036854775808",
};
#define N_NUMBERS (sizeof(numbers) / sizeof(numbers[0]))

static const char *any_token(void)
{
	return below(4) == 0 ? numbers[below(N_NUMBERS)] : tokens[below(N_TOKENS)];
}

static const uint8_t interesting8[] = {
	0, 1, 2, 3, 9, 10, 11, 0x7f, 0x80, 0xfe, 0xff, '\r', '\n', ' ',
	'\t', '0', '9', '-', '*', '$', '+', ':', '\\', 'x', '&', '=', 'a', 'F',
};

static const uint64_t interesting64[] = {
	0, 1, 2, 3, 4, 5, 10, 11, 255, 256, UINT64_MAX, UINT64_MAX - 1,
	UINT64_C(1) << 62, (UINT64_C(1) << 62) + 1, UINT64_C(1) << 63,
};

struct work {
	uint8_t *p;
	size_t n, max;
};

static void w_insert(struct work *w, size_t at, const void *src, size_t len)
{
	if (len > w->max - w->n)
		len = w->max - w->n;
	if (len == 0)
		return;
	memmove(w->p + at + len, w->p + at, w->n - at);
	memcpy(w->p + at, src, len);
	w->n += len;
}

static void w_delete(struct work *w, size_t at, size_t len)
{
	if (len > w->n - at)
		len = w->n - at;
	memmove(w->p + at, w->p + at + len, w->n - at - len);
	w->n -= len;
}

static const struct input *other_input(void)
{
	return n_corpus > 0 ? &corpus[below(n_corpus)] : NULL;
}

static void mutate_once(struct work *w)
{
	const struct input *o;
	const char *t;
	uint8_t tmp[16];
	size_t at = below(w->n + 1), len, i;
	uint64_t v;

	switch (below(14)) {
	case 0: /* flip a bit */
		if (w->n > 0)
			w->p[below(w->n)] ^= (uint8_t)(1u << below(8));
		break;
	case 1: /* set a random byte */
		if (w->n > 0)
			w->p[below(w->n)] = (uint8_t)rnd();
		break;
	case 2: /* set an interesting byte */
		if (w->n > 0)
			w->p[below(w->n)] = interesting8[below(sizeof(interesting8))];
		break;
	case 3: /* add or subtract a little */
		if (w->n > 0)
			w->p[below(w->n)] += (uint8_t)(below(7) - 3);
		break;
	case 4: /* insert random bytes */
		len = 1 + below(4);
		for (i = 0; i < len; i++)
			tmp[i] = (uint8_t)rnd();
		w_insert(w, at, tmp, len);
		break;
	case 5: /* insert a token */
		t = any_token();
		w_insert(w, at, t, strlen(t));
		break;
	case 6: /* delete a range */
		if (at < w->n)
			w_delete(w, at, 1 + below(8));
		break;
	case 7: /* truncate */
		w->n = below(w->n + 1);
		break;
	case 8: /* duplicate a chunk */
		if (w->n > 0) {
			size_t from = below(w->n);
			uint8_t *chunk;

			len = 1 + below(w->n - from < 32 ? w->n - from : 32);
			chunk = malloc(len);
			if (chunk != NULL) {
				memcpy(chunk, w->p + from, len);
				w_insert(w, at, chunk, len);
				free(chunk);
			}
		}
		break;
	case 9: /* splice: our prefix, another input's suffix */
		o = other_input();
		if (o != NULL) {
			size_t from = below(o->n + 1);

			w->n = at;
			w_insert(w, w->n, o->p + from, o->n - from);
		}
		break;
	case 10: /* insert a chunk of another input */
		o = other_input();
		if (o != NULL && o->n > 0) {
			size_t from = below(o->n);

			len = 1 + below(o->n - from);
			w_insert(w, at, o->p + from, len);
		}
		break;
	case 11: /* replace a number (a run of digits) by a token */
		for (i = at; i < w->n && !(w->p[i] >= '0' && w->p[i] <= '9'); i++)
			;
		if (i < w->n) {
			size_t end = i;

			t = numbers[below(N_NUMBERS)];
			while (end < w->n && w->p[end] >= '0' && w->p[end] <= '9')
				end++;
			w_delete(w, i, end - i);
			w_insert(w, i, t, strlen(t));
		}
		break;
	case 12: /* overwrite with a little-endian integer */
		v = interesting64[below(sizeof(interesting64) /
					sizeof(interesting64[0]))];
		for (i = 0; i < 8; i++)
			tmp[i] = (uint8_t)(v >> (8 * i));
		if (w->n >= 8) {
			at = below(w->n - 7);
			memcpy(w->p + at, tmp, 8);
		}
		break;
	default: /* swap two bytes */
		if (w->n > 1) {
			size_t a = below(w->n), b = below(w->n);
			uint8_t x = w->p[a];

			w->p[a] = w->p[b];
			w->p[b] = x;
		}
		break;
	}
}

static void generate(struct work *w)
{
	size_t r = below(100), i, k;

	w->n = 0;
	if (r < 8 || n_corpus == 0) { /* random bytes, mostly short */
		size_t len = below(8) == 0 ? below(w->max + 1) : below(65);

		for (i = 0; i < len; i++)
			w->p[i] = (uint8_t)rnd();
		w->n = len;
		return;
	}
	if (r < 15) { /* a string of tokens and bytes */
		k = 1 + below(24);
		for (i = 0; i < k; i++) {
			if (below(4) == 0) {
				uint8_t b = (uint8_t)rnd();
				w_insert(w, w->n, &b, 1);
			} else {
				const char *t = any_token();
				w_insert(w, w->n, t, strlen(t));
			}
		}
		return;
	}
	/* Stacked mutations of a corpus input. */
	{
		const struct input *o = other_input();

		w_insert(w, 0, o->p, o->n);
	}
	k = 1 + below(below(2) ? 3 : 8);
	for (i = 0; i < k; i++)
		mutate_once(w);
}

/* ---- main ---------------------------------------------------------------- */

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--runs N] [--seed S] [--max-len L] [DIR|FILE]...\n"
		"Runs every input file (default: the target's seed corpus), then\n"
		"N seeded random and mutated inputs of at most L bytes.\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long long runs = 10000, seed = 1, i, n = 0;
	size_t max_len = 1024, largest = 0;
	struct work w;
	int paths = 0, a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--runs") == 0 && a + 1 < argc)
			runs = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc)
			seed = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "--max-len") == 0 && a + 1 < argc)
			max_len = (size_t)strtoull(argv[++a], NULL, 10);
		else if (argv[a][0] == '-')
			usage(argv[0]);
		else if (load_path(argv[a]) != 0)
			return 2;
		else
			paths++;
	}
#ifdef RK_FUZZ_CORPUS
	if (paths == 0 && load_path(RK_FUZZ_CORPUS) != 0)
		return 2;
#endif
	install_handlers();
	cur_seed = seed;

	/* 1. The corpus, as is. */
	for (i = 0; i < n_corpus; i++) {
		run_one(corpus[i].p, corpus[i].n, ++n);
		if (corpus[i].n > largest)
			largest = corpus[i].n;
	}

	/* 2. Seeded random and mutated inputs. */
	if (largest > max_len)
		max_len = largest;
	w.max = max_len + 64;
	w.p = malloc(w.max);
	if (w.p == NULL)
		return 2;
	rng = seed;
	for (i = 0; i < runs; i++) {
		generate(&w);
		run_one(w.p, w.n, ++n);
	}
	free(w.p);

	for (i = 0; i < n_corpus; i++)
		free(corpus[i].p);
	free(corpus);
	printf("%s: %llu inputs, 0 failures\n", RK_FUZZ_TARGET, n);
	return 0;
}
