/*
 * Secrets kept in files (--client-password-file): read once at start.
 */
#ifndef RK_COMMON_SECRET_H
#define RK_COMMON_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define RK_SECRET_MAX 4096

/* Reads the secret in the file at path: its bytes without the trailing
 * "\n" or "\r\n" an editor leaves. *secretp (free it) and *lenp are set on
 * success, NULL and 0 otherwise. A file that group or others may read is
 * accepted with a warning in the log (what = the flag, for the message);
 * a missing or unreadable file, an empty secret or one over RK_SECRET_MAX
 * bytes is RK_EINVAL with a one-line reason in err. The secret itself is
 * never logged. */
int rk_secret_read_file(const char *what, const char *path, uint8_t **secretp,
			size_t *lenp, char *err, size_t errlen);

#endif
