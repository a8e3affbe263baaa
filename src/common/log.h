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

#include <stdbool.h>
#include <stdint.h>

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

/* A line that an overloaded or misbehaving peer could make come for every
 * request, kept to one per period: the caller asks before logging and
 * says in its line how many were held back. Zeroed before first use; one
 * per line kind, owned by one thread. */
struct rk_log_limit {
	uint64_t last_ms; /* when a line was last let through; 0: never */
	uint64_t held;    /* lines held back since */
};

/* True if a line may be written at now_ms (the first one always; then one
 * per period_ms): *heldp is set to the lines held back since the last one
 * let through, and the count starts again. False counts this line as held
 * back (*heldp is then that count). now_ms is any clock in milliseconds
 * that does not go back, the same for every call. */
bool rk_log_limit_pass(struct rk_log_limit *l, uint64_t now_ms, uint64_t period_ms,
		       uint64_t *heldp);

#endif
