/* floor: what this machine can do at best, the floors rangekv's figures
 * are read against.
 *
 *   floor sync DIR N MODE BS PREWRITE
 *       N times write(BS bytes) then MODE (fdatasync | fsync | none) on a
 *       file in DIR; PREWRITE=1 writes and syncs the whole file first so
 *       every timed write overwrites in place (a log with preallocated
 *       segments), PREWRITE=0 appends to a growing file.
 *   floor rtt N BYTES PORT
 *       N round trips of a BYTES message over 127.0.0.1:PORT (TCP_NODELAY,
 *       one message outstanding), server and client in one process.
 *
 * Prints one line: "<what> n=N rate=R/s p50=Xus p99=Yus max=Zus".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, double *lat, int n, double secs)
{
	qsort(lat, n, sizeof *lat, by_value);
	printf("%s n=%d rate=%.0f/s p50=%.1fus p99=%.1fus max=%.1fus\n", what, n, n / secs,
	       lat[n / 2] * 1e6, lat[(int)(n * 0.99)] * 1e6, lat[n - 1] * 1e6);
}

static int full_io(int fd, char *buf, int len, int writing)
{
	for (int off = 0; off < len;) {
		ssize_t r = writing ? write(fd, buf + off, len - off) : read(fd, buf + off, len - off);
		if (r <= 0)
			return -1;
		off += r;
	}
	return 0;
}

static int sync_floor(const char *dir, int n, const char *mode, int bs, int prewrite)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/floor-sync.%d", dir, (int)getpid());
	int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	char *buf = malloc(bs);
	double *lat = malloc(sizeof *lat * n);
	memset(buf, 'r', bs);
	if (prewrite) {
		for (int i = 0; i < n; i++)
			if (full_io(fd, buf, bs, 1))
				goto fail;
		fsync(fd);
		lseek(fd, 0, SEEK_SET);
	}
	double t0 = now();
	for (int i = 0; i < n; i++) {
		double a = now();
		if (full_io(fd, buf, bs, 1))
			goto fail;
		if (!strcmp(mode, "fdatasync"))
			fdatasync(fd);
		else if (!strcmp(mode, "fsync"))
			fsync(fd);
		lat[i] = now() - a;
	}
	char what[64];
	snprintf(what, sizeof what, "%s-%d%s", mode, bs, prewrite ? "-overwrite" : "-append");
	report(what, lat, n, now() - t0);
	close(fd);
	return 0;
fail:
	perror("write");
	return 1;
}

struct echo {
	int lfd, bytes;
};

static void *echo_server(void *arg)
{
	struct echo *e = arg;
	int fd = accept(e->lfd, NULL, NULL), one = 1;
	char *buf = malloc(e->bytes);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	while (!full_io(fd, buf, e->bytes, 0) && !full_io(fd, buf, e->bytes, 1))
		;
	close(fd);
	return NULL;
}

static int rtt_floor(int n, int bytes, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1)) {
		perror("bind");
		return 1;
	}
	struct echo e = {lfd, bytes};
	pthread_t th;
	pthread_create(&th, NULL, echo_server, &e);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		perror("connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	char *buf = calloc(1, bytes);
	double *lat = malloc(sizeof *lat * n);
	double t0 = now();
	for (int i = 0; i < n; i++) {
		double a = now();
		if (full_io(fd, buf, bytes, 1) || full_io(fd, buf, bytes, 0)) {
			perror("round trip");
			return 1;
		}
		lat[i] = now() - a;
	}
	char what[64];
	snprintf(what, sizeof what, "tcp-rtt-%dB", bytes);
	report(what, lat, n, now() - t0);
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "sync"))
		return sync_floor(argv[2], atoi(argv[3]), argv[4], atoi(argv[5]), atoi(argv[6]));
	if (argc == 5 && !strcmp(argv[1], "rtt"))
		return rtt_floor(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: floor sync DIR N fdatasync|fsync|none BS PREWRITE\n"
			"       floor rtt N BYTES PORT\n");
	return 2;
}
