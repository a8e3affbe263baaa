/*
 * Secrets from files (secret.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rangekv/error.h"
#include "secret.h"

int rk_secret_read(const char *flag, const char *path, uint8_t *buf,
		   size_t *lenp, bool *openp, char *err, size_t errlen)
{
	uint8_t tmp[RK_SECRET_MAX + 1];
	struct stat st;
	ssize_t r;
	size_t len = 0;
	int fd, rc = 0;

	*lenp = 0;
	*openp = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot read %s: %s", flag, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return RK_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s is not a regular file", flag, path);
		close(fd);
		return RK_EIO;
	}
	/* One byte more than the limit tells a secret that is too long. */
	while (rc == 0 && len <= RK_SECRET_MAX) {
		r = read(fd, tmp + len, sizeof(tmp) - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read %s: %s", flag, path, strerror(errno));
			rc = RK_EIO;
		}
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	while (rc == 0 && len > 0 && len <= RK_SECRET_MAX &&
	       (tmp[len - 1] == '\n' || tmp[len - 1] == '\r'))
		len--;
	if (rc == 0 && len == 0) {
		snprintf(err, errlen, "%s: %s is empty", flag, path);
		rc = RK_EINVAL;
	} else if (rc == 0 && len > RK_SECRET_MAX) {
		snprintf(err, errlen, "%s: %s holds more than %d bytes", flag, path, RK_SECRET_MAX);
		rc = RK_EINVAL;
	}
	if (rc == 0)
		memcpy(buf, tmp, len);
	memset(tmp, 0, sizeof(tmp));
	if (rc != 0)
		return rc;
	*lenp = len;
	*openp = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
	return 0;
}

bool rk_secret_is_token(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7e)
			return false;
	return true;
}
