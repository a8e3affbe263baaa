/*
 * Fuzz target http_query: rk_http_query (src/node/http.h), which reads
 * parameters out of the query string of an HTTP request (bytes from the
 * network, after http-parser and the server's split at '?').
 *
 * The splitting of the request line into path and query happens inside the
 * server's message callback (src/node/http.c) and is not a function of its
 * own, so it is not fuzzed here; the query lookup is the exposed pure part.
 *
 * Input layout: byte 0 picks the output capacity (1..64), byte 1 the length
 * of the parameter name (0..15) taken from the following bytes, the rest is
 * the query. Name and query are C strings (a NUL ends them early, as it
 * would in the server).
 *
 * Properties, against an independent lookup: the answer (found or not) is
 * the reference's; the value is the first '&'-separated field that is the
 * name or starts with "name=", truncated to the capacity, NUL-terminated
 * inside the buffer; nothing is written past the capacity (the buffer is
 * exactly that large, so ASan sees an overflow) or when nothing is found.
 */
#include <string.h>

#include "http.h"

#include "fuzz.h"

/* Returns 1 and the value's start and length if name is in query. */
static int ref_query(const char *query, const char *name, const char **vp,
		     size_t *vlp)
{
	size_t nl = strlen(name);
	const char *f = query;

	for (;;) {
		size_t fl = strcspn(f, "&");

		/* An empty last field (an empty query, or one ending in
		 * '&') is not a field. */
		if (fl == 0 && f[0] == '\0')
			return 0;
		if (fl == nl && memcmp(f, name, nl) == 0) {
			*vp = f + fl;
			*vlp = 0;
			return 1;
		}
		if (fl > nl && memcmp(f, name, nl) == 0 && f[nl] == '=') {
			*vp = f + nl + 1;
			*vlp = fl - nl - 1;
			return 1;
		}
		if (f[fl] == '\0')
			return 0;
		f += fl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rk_http_req req;
	char *name, *query, *out;
	const char *v = NULL;
	size_t cap, nl, ql, vl = 0, i;
	int found, want;

	if (size < 2)
		return 0;
	cap = 1 + data[0] % 64;
	nl = data[1] % 16;
	if (nl > size - 2)
		nl = size - 2;
	ql = size - 2 - nl;
	name = malloc(nl + 1);
	query = malloc(ql + 1);
	out = malloc(cap);
	if (name == NULL || query == NULL || out == NULL)
		goto out;
	memcpy(name, data + 2, nl);
	name[nl] = '\0';
	memcpy(query, data + 2 + nl, ql);
	query[ql] = '\0';
	memset(out, 0x5a, cap);

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/";
	req.query = query;
	req.body = "";
	found = rk_http_query(&req, name, out, cap);
	want = ref_query(query, name, &v, &vl);
	FUZZ_CHECK(found == want);
	if (!found) {
		for (i = 0; i < cap; i++)
			FUZZ_CHECK(out[i] == 0x5a);
		goto out;
	}
	if (vl > cap - 1)
		vl = cap - 1;
	FUZZ_CHECK(memcmp(out, v, vl) == 0 && out[vl] == '\0');
out:
	free(out);
	free(query);
	free(name);
	return 0;
}
