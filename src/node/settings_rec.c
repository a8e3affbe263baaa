/*
 * The cluster settings' record in the data directory (settings.h).
 */
#include <string.h>

#include "node_int.h"
#include "settings.h"

#define ROW "cluster_settings"

void rk_settings_record(struct rk_node *n, uint32_t replicas, struct rk_store_batch *b)
{
	struct rk_buf t;

	rk_buf_init(&t);
	rk_settings_text(&n->cfg.settings, replicas, &t);
	if (!t.oom)
		rk_store_batch_meta_put(b, ROW, t.p, t.len);
	rk_buf_free(&t);
}

int rk_settings_load(struct rk_node *n, char *err, size_t errlen)
{
	const void *v;
	size_t vl;
	int rc = rk_store_meta_get(n->reader, ROW, &v, &vl);

	if (rc != 0 && rc != RK_ENOTFOUND)
		return rc;
	return rk_settings_merge(&n->cfg.settings, rc == 0 ? v : NULL, rc == 0 ? vl : 0,
				 n->cfg.data_dir, err, errlen);
}
