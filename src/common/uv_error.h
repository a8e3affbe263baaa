/*
 * libuv error codes translated into rangekv's, once, where they enter. Also
 * the host:port parser every listener and dialer uses.
 */
#ifndef RK_UV_ERROR_H
#define RK_UV_ERROR_H

#include <sys/socket.h>

#include "rangekv/error.h"

/* RK_E* for a (negative) libuv status; 0 for 0. */
int rk_uv_err(int uverr);

/* Parses "host:port" (IPv4, or [IPv6]:port) into *ssp. RK_EADDR for anything
 * else, including port 0 unless allow_zero (tests listen on ephemeral
 * ports). */
int rk_parse_hostport(const char *s, int allow_zero,
		      struct sockaddr_storage *ssp);

#endif
