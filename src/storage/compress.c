/*
 * Block compression: which WiredTiger compressor a new directory's large
 * tables use, and finding the extensions that implement them.
 *
 * WiredTiger's compressors are extensions loaded at wiredtiger_open. Debian
 * ships them beside the library (libwiredtiger_snappy.so,
 * libwiredtiger_zlib.so), so they are looked for in the directory of the
 * libwiredtiger this process loaded, then in the library directory the
 * build was configured with. Every one found is loaded, whatever the
 * directory uses: a table records its own block_compressor, and a
 * directory made with one compressor must open under a build whose
 * default is another.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store_int.h"

static const char *const names[] = {"none", "snappy", "zlib"};

const char *rk_store_compression_name(enum rk_store_compression c)
{
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

int rk_store_compression_parse(const char *s, enum rk_store_compression *cp)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*cp = (enum rk_store_compression)i;
			return 0;
		}
	*cp = RK_STORE_COMPRESS_NONE;
	return RK_EINVAL;
}

/* The directory holding the libwiredtiger this process runs with ("" if
 * it cannot be told, e.g. a static link puts it in the executable). */
static void wt_lib_dir(char *dir, size_t n)
{
	Dl_info info;
	const char *slash;

	dir[0] = '\0';
	if (dladdr((void *)wiredtiger_open, &info) == 0 || info.dli_fname == NULL)
		return;
	slash = strrchr(info.dli_fname, '/');
	if (slash != NULL && (size_t)(slash - info.dli_fname) < n)
		snprintf(dir, n, "%.*s", (int)(slash - info.dli_fname), info.dli_fname);
}

/* Where compressor c's extension is (0), or RK_ENOTFOUND. */
static int ext_path(enum rk_store_compression c, char *path, size_t n)
{
	char dirs[2][1024];

	wt_lib_dir(dirs[0], sizeof(dirs[0]));
#ifdef RK_WT_LIBDIR
	snprintf(dirs[1], sizeof(dirs[1]), "%s", RK_WT_LIBDIR);
#else
	dirs[1][0] = '\0';
#endif
	for (int i = 0; i < 2; i++) {
		if (dirs[i][0] == '\0')
			continue;
		int len = snprintf(path, n, "%s/libwiredtiger_%s.so", dirs[i],
				   rk_store_compression_name(c));
		if (len > 0 && (size_t)len < n && access(path, R_OK) == 0)
			return 0;
	}
	path[0] = '\0';
	return RK_ENOTFOUND;
}

void store_extensions(char *config, size_t n, char *missing, size_t mlen)
{
	char path[1100];
	size_t len = 0;
	bool any = false;

	config[0] = missing[0] = '\0';
	for (int c = RK_STORE_COMPRESS_SNAPPY; c <= RK_STORE_COMPRESS_ZLIB; c++) {
		if (ext_path((enum rk_store_compression)c, path, sizeof(path)) != 0) {
			size_t m = strlen(missing);
			snprintf(missing + m, mlen - m, "%s%s", m ? ", " : "",
				 rk_store_compression_name((enum rk_store_compression)c));
			continue;
		}
		if (len < n)
			len += (size_t)snprintf(config + len, n - len, "%s\"%s\"",
						any ? "," : "extensions=[", path);
		any = true;
	}
	if (any && len < n)
		snprintf(config + len, n - len, "],");
}

bool store_compressor_loaded(const char *missing, enum rk_store_compression c)
{
	const char *name = rk_store_compression_name(c);
	size_t nl = strlen(name);

	if (c == RK_STORE_COMPRESS_NONE)
		return true;
	for (const char *p = missing; (p = strstr(p, name)) != NULL; p += nl)
		if ((p == missing || p[-1] == ' ') && (p[nl] == '\0' || p[nl] == ','))
			return false;
	return true;
}
