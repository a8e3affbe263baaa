#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = RK_LOG_INFO;

void rk_log_set_level(int level)
{
	g_level = level;
}

int rk_log_parse_level(const char *s)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void rk_log(int level, const char *module, const char *fmt, ...)
{
	static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < g_level || level < 0 || level > RK_LOG_ERROR)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[level],
		     module);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

bool rk_log_limit_pass(struct rk_log_limit *l, uint64_t now_ms, uint64_t period_ms,
		       uint64_t *heldp)
{
	if (l->last_ms != 0 && now_ms < l->last_ms + period_ms) {
		*heldp = ++l->held;
		return false;
	}
	*heldp = l->held;
	l->held = 0;
	/* 0 means never: a clock that starts at 0 still limits the next line. */
	l->last_ms = now_ms != 0 ? now_ms : 1;
	return true;
}
