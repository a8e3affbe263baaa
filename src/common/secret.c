#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "rangekv/error.h"

#define MOD "secret"

int rk_secret_read_file(const char *what, const char *path, uint8_t **secretp,
			size_t *lenp, char *err, size_t errlen)
{
	uint8_t buf[RK_SECRET_MAX + 3];
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd;

	*secretp = NULL;
	*lenp = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return RK_EINVAL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return RK_EINVAL;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		rk_log_warn(MOD, "%s %s may be read by other users (mode %04o); "
			    "chmod 600 it", what, path, (unsigned)(st.st_mode & 07777));
	while (n < sizeof(buf) && (r = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
			close(fd);
			return RK_EINVAL;
		}
		n += (size_t)r;
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > RK_SECRET_MAX) {
		snprintf(err, errlen, "%s %s: %s", what, path,
			 n == 0 ? "empty" : "longer than 4096 bytes");
		return RK_EINVAL;
	}
	if ((*secretp = malloc(n)) == NULL)
		return RK_ENOMEM;
	memcpy(*secretp, buf, n);
	*lenp = n;
	memset(buf, 0, sizeof(buf));
	return 0;
}
