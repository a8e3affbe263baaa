/*
 * Structured log lines on stderr, one event per line:
 *
 *   2026-11-24T19:24:24.123Z INFO  node: started node_id=1 ranges=64
 *
 * The message says what happened; key=value pairs carry the details.
 * Thread safe (one write(2) per line).
 */
#ifndef RK_COMMON_LOG_H
#define RK_COMMON_LOG_H

enum rk_log_level {
	RK_LOG_DEBUG = 0,
	RK_LOG_INFO = 1,
	RK_LOG_WARN = 2,
	RK_LOG_ERROR = 3,
};

void rk_log_set_level(int level);
/* "debug", "info", "warn", "error"; -1 if unknown. */
int rk_log_parse_level(const char *s);
void rk_log(int level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define rk_log_debug(mod, ...) rk_log(RK_LOG_DEBUG, mod, __VA_ARGS__)
#define rk_log_info(mod, ...) rk_log(RK_LOG_INFO, mod, __VA_ARGS__)
#define rk_log_warn(mod, ...) rk_log(RK_LOG_WARN, mod, __VA_ARGS__)
#define rk_log_error(mod, ...) rk_log(RK_LOG_ERROR, mod, __VA_ARGS__)

#endif
