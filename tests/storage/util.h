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

/* The fixture of the tests on one store: a fresh directory (tag names it),
 * the store opened on it (node 1, cluster 77) and one reader. */
struct store_fx {
	char dir[512];
	struct rk_store *s;
	struct rk_store_reader *r;
};

static inline int store_fx_setup(void **state, const char *tag)
{
	struct store_fx *f = calloc(1, sizeof(*f));
	char err[256];

	*state = f;
	if (f == NULL)
		return -1;
	tmpdir_make(f->dir, sizeof(f->dir), tag);
	if (store_open_at(f->dir, 1, 77, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "open: %s\n", err);
		return -1;
	}
	return rk_store_reader_open(f->s, &f->r) != 0 ? -1 : 0;
}

static inline int store_fx_teardown(void **state)
{
	struct store_fx *f = *state;

	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

#endif
