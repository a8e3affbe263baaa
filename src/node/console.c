#include <string.h>

#include "console.h"

/* The page's scripts and styles come from its own files only (no inline
 * code, no other origin), it talks to this node only, and no other site
 * may frame it. Revalidated on every load: the files change with the
 * binary and carry no version. */
#define CONSOLE_HEADERS                                                         \
	"Cache-Control: no-cache\r\n"                                           \
	"Content-Security-Policy: default-src 'none'; script-src 'self'; "       \
	"style-src 'self'; connect-src 'self'; img-src 'self'; "                 \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"        \
	"X-Content-Type-Options: nosniff\r\n"                                   \
	"Referrer-Policy: no-referrer\r\n"

bool rk_console_get(const char *path, struct rk_http_resp *resp)
{
	for (const struct rk_console_file *f = rk_console_files; f->path != NULL; f++) {
		if (strcmp(f->path, path) != 0)
			continue;
		resp->status = 200;
		resp->content_type = f->type;
		resp->headers = CONSOLE_HEADERS;
		rk_buf_reset(&resp->body);
		rk_buf_append(&resp->body, f->data, f->len);
		return true;
	}
	return false;
}
