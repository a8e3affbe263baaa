#include "uv_error.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

int rk_uv_err(int uverr)
{
	switch (uverr) {
	case 0:
		return 0;
	case UV_EADDRINUSE:
		return RK_EADDRINUSE;
	case UV_EADDRNOTAVAIL:
	case UV_EAFNOSUPPORT:
	case UV_EINVAL:
		return RK_EADDR;
	case UV_ENOMEM:
	case UV_ENOBUFS:
		return RK_ENOMEM;
	case UV_ECONNREFUSED:
	case UV_ECONNRESET:
	case UV_ECONNABORTED:
	case UV_EPIPE:
	case UV_ENOTCONN:
	case UV_EOF:
	case UV_EHOSTUNREACH:
	case UV_ENETUNREACH:
		return RK_ECONN;
	case UV_ETIMEDOUT:
		return RK_ETIMEDOUT;
	case UV_EAGAIN:
		return RK_EAGAIN;
	case UV_EACCES:
	case UV_EPERM:
		return RK_EADDR;
	default:
		return RK_EIO;
	}
}

int rk_parse_hostport(const char *s, int allow_zero,
		      struct sockaddr_storage *ssp)
{
	char host[64];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long port;

	memset(ssp, 0, sizeof(*ssp));
	if (s == NULL)
		return RK_EADDR;
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return RK_EADDR;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return RK_EADDR;
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return RK_EADDR;
	memcpy(host, h, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535 ||
	    (port == 0 && !allow_zero))
		return RK_EADDR;
	if (s[0] == '[') {
		if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ssp) != 0)
			return RK_EADDR;
	} else if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ssp) != 0) {
		return RK_EADDR;
	}
	return 0;
}
