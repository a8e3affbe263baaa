/*
 * The web console (docs/console.md): one page of HTML, CSS and plain
 * JavaScript served at GET / on the HTTP port, reading the node's own JSON
 * API from the browser. The files live in src/node/console/ and are
 * compiled into the binary at build time (console/embed.cmake): nothing to
 * install, nothing fetched from elsewhere, and the page's
 * Content-Security-Policy allows no other origin.
 */
#ifndef RK_NODE_CONSOLE_H
#define RK_NODE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct rk_console_file {
	const char *path; /* "/" for index.html, else "/" and the file's name */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

/* The files, ended by one whose path is NULL (generated, console_files.c). */
extern const struct rk_console_file rk_console_files[];

/* Answers a GET of one of the console's files into resp (its body, type
 * and headers) and returns true; false, resp untouched, for any other
 * path. */
bool rk_console_get(const char *path, struct rk_http_resp *resp);

#endif
