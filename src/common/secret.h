/*
 * Secrets read from files at start (--cluster-secret-file,
 * --admin-token-file): a secret never travels on a command line, where
 * `ps` would show it.
 */
#ifndef RK_COMMON_SECRET_H
#define RK_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RK_SECRET_MAX 1024 /* bytes of a secret, after the newlines */

/* Reads the secret in path into buf (RK_SECRET_MAX bytes) and its length
 * into *lenp, without trailing newlines ("\n", "\r\n", any number). Errors,
 * with a one-line reason in err naming flag and path: RK_EIO when the file
 * cannot be read, RK_EINVAL when it is empty (or only newlines) or longer
 * than RK_SECRET_MAX. *openp: the file's permissions let its group or
 * others read it (the caller warns). Outputs are zero on failure. */
int rk_secret_read(const char *flag, const char *path, uint8_t *buf,
		   size_t *lenp, bool *openp, char *err, size_t errlen);

/* Whether buf[0..len) can travel in an HTTP header as a bearer token:
 * visible ASCII only, no space or control character. */
bool rk_secret_is_token(const uint8_t *buf, size_t len);

#endif
