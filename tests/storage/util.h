/*
 * Helpers shared by the storage tests: temporary directories and a store
 * opened on them.
 */
#ifndef RK_TEST_STORAGE_UTIL_H
#define RK_TEST_STORAGE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it. */
static inline void tmpdir_make(char *out, size_t n, const char *tag)
{
	const char *base = getenv("TMPDIR");

	snprintf(out, n, "%s/rk-%s-XXXXXX", base != NULL ? base : "/tmp", tag);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static inline void tmpdir_remove(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static inline int store_open_at(const char *dir, uint64_t node,
				uint64_t cluster, struct rk_store **sp,
				char *err, size_t errlen)
{
	struct rk_store_options o;

	rk_store_options_default(&o);
	o.dir = dir;
	o.node_id = node;
	o.cluster_id = cluster;
	o.cache_mb = 64;
	o.checkpoint_secs = 0;
	return rk_store_open(&o, sp, err, errlen);
}

#endif
