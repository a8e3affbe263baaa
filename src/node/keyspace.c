#include "keyspace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "key.h"
#include "rangekv/error.h"

void rk_keyspace_free(struct rk_keyspace *ks)
{
	uint32_t i;

	for (i = 0; ks->bounds != NULL && i + 1 < ks->n; i++)
		free(ks->bounds[i].p);
	free(ks->bounds);
	ks->bounds = NULL;
	ks->n = 0;
}

int rk_keyspace_uniform(uint32_t n, struct rk_keyspace *ksp)
{
	uint32_t i;

	memset(ksp, 0, sizeof(*ksp));
	if (n == 0 || n > RK_MAX_RANGES_AT_START)
		return RK_EINVAL;
	ksp->n = n;
	if (n == 1)
		return 0;
	ksp->bounds = calloc(n - 1, sizeof(*ksp->bounds));
	if (ksp->bounds == NULL)
		return RK_ENOMEM;
	for (i = 1; i < n; i++) {
		/* floor(i * 2^64 / n) < 2^64 since i < n. */
		uint64_t v = (uint64_t)(((unsigned __int128)i << 64) / n);
		uint8_t be[8];
		uint32_t len = 8;
		int k;

		for (k = 0; k < 8; k++)
			be[k] = (uint8_t)(v >> (56 - 8 * k));
		while (len > 0 && be[len - 1] == 0)
			len--;
		ksp->bounds[i - 1].p = malloc(len > 0 ? len : 1);
		if (ksp->bounds[i - 1].p == NULL) {
			ksp->n = i;
			rk_keyspace_free(ksp);
			return RK_ENOMEM;
		}
		memcpy(ksp->bounds[i - 1].p, be, len);
		ksp->bounds[i - 1].len = len;
	}
	return 0;
}

int rk_keyspace_split_at(const char *list, struct rk_keyspace *ksp,
			 char *err, size_t errlen)
{
	const char *p = list;
	struct rk_buf key;
	uint32_t cap = 0;
	int rc = 0;

	memset(ksp, 0, sizeof(*ksp));
	ksp->n = 1;
	rk_buf_init(&key);
	if (list == NULL || *list == '\0') {
		snprintf(err, errlen, "--split-at needs at least one key");
		return RK_EINVAL;
	}
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		struct rk_key *k;

		rk_buf_reset(&key);
		if (rk_key_unescape(p, len, &key) != 0) {
			snprintf(err, errlen, "--split-at: bad escape in key %u (use \\xNN)",
				 ksp->n);
			rc = RK_EINVAL;
			break;
		}
		if (key.len == 0 || key.len > RK_MAX_KEY) {
			snprintf(err, errlen, "--split-at: key %u is %s", ksp->n,
				 key.len == 0 ? "empty" : "longer than 4096 bytes");
			rc = RK_EINVAL;
			break;
		}
		if (ksp->n > 1) {
			struct rk_key *prev = &ksp->bounds[ksp->n - 2];
			if (rk_key_cmp(prev->p, prev->len, key.p, key.len) >= 0) {
				snprintf(err, errlen,
					 "--split-at: keys must be strictly increasing (key %u)",
					 ksp->n);
				rc = RK_EINVAL;
				break;
			}
		}
		if (ksp->n >= RK_MAX_RANGES_AT_START) {
			snprintf(err, errlen, "--split-at: too many keys");
			rc = RK_EINVAL;
			break;
		}
		if (ksp->n - 1 == cap) {
			struct rk_key *nb;
			cap = cap == 0 ? 16 : cap * 2;
			nb = realloc(ksp->bounds, cap * sizeof(*nb));
			if (nb == NULL) {
				rc = RK_ENOMEM;
				break;
			}
			ksp->bounds = nb;
		}
		k = &ksp->bounds[ksp->n - 1];
		k->p = malloc(key.len);
		if (k->p == NULL) {
			rc = RK_ENOMEM;
			break;
		}
		memcpy(k->p, key.p, key.len);
		k->len = (uint32_t)key.len;
		ksp->n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	rk_buf_free(&key);
	if (rc != 0)
		rk_keyspace_free(ksp);
	return rc;
}
