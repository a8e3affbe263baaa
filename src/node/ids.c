/*
 * The interim range-id allocator (ids.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "le.h"
#include "node_int.h"

#define IDS_ROW "interim_range_id_next"
#define IDS_MAX_COUNT 1024

struct ids_req {
	uv_work_t w;
	struct rk_node *n;
	struct rk_store_batch *b;
	uint64_t first, upto;
	int rc;
	void (*cb)(void *arg, int rc, uint64_t first_id);
	void *arg;
};

/* Writes are made one at a time, each only if it raises the row: two
 * allocations in flight can reach the thread pool in either order, and
 * the row must never go back below an id already handed out. */
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

static void ids_work(uv_work_t *w)
{
	struct ids_req *q = w->data;

	pthread_mutex_lock(&write_mu);
	if (q->upto > q->n->ids.written) {
		q->rc = rk_store_write(q->n->store, q->b);
		if (q->rc == 0)
			q->n->ids.written = q->upto;
	} else {
		rk_store_batch_free(q->b); /* a later allocation covered it */
	}
	q->b = NULL;
	pthread_mutex_unlock(&write_mu);
}

static void ids_after(uv_work_t *w, int status)
{
	struct ids_req *q = w->data;

	if (status != 0 && q->rc == 0)
		q->rc = RK_ESTOPPED; /* cancelled: nothing was written */
	if (q->b != NULL)
		rk_store_batch_free(q->b);
	q->cb(q->arg, q->rc, q->rc == 0 ? q->first : 0);
	free(q);
}

static int ids_load(struct rk_node *n)
{
	const void *v;
	size_t vl;
	int rc;

	if (n->ids.loaded)
		return 0;
	rc = rk_store_meta_get(n->reader, IDS_ROW, &v, &vl);
	if (rc == RK_ENOTFOUND) {
		n->ids.next = 1;
	} else if (rc == 0 && vl == 8) {
		n->ids.next = rk_le_get64(v);
	} else {
		return rc != 0 ? rc : RK_EIO;
	}
	n->ids.written = n->ids.next;
	n->ids.loaded = true;
	return 0;
}

int rk_node_alloc_range_ids(struct rk_node *n, uint32_t count,
			    void (*cb)(void *arg, int rc, uint64_t first_id),
			    void *arg)
{
	struct ids_req *q;
	uint8_t row[8];
	int rc;

	if (count == 0 || count > IDS_MAX_COUNT || n->cfg.node_id == 0 ||
	    n->cfg.node_id >= RK_IDS_MAX_NODE)
		return RK_EINVAL;
	if ((rc = ids_load(n)) != 0)
		return rc;
	if (n->ids.next + count >= (1ull << RK_IDS_NODE_SHIFT))
		return RK_ENOSPC;
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->b = rk_store_batch_new()) == NULL) {
		free(q);
		return RK_ENOMEM;
	}
	q->n = n;
	q->cb = cb;
	q->arg = arg;
	q->first = (n->cfg.node_id << RK_IDS_NODE_SHIFT) | n->ids.next;
	q->upto = n->ids.next + count;
	rk_le_put64(row, q->upto);
	rk_store_batch_meta_put(q->b, IDS_ROW, row, sizeof(row));
	q->w.data = q;
	if ((rc = uv_queue_work(&n->loop, &q->w, ids_work, ids_after)) != 0) {
		rk_store_batch_free(q->b);
		free(q);
		return RK_ENOMEM;
	}
	n->ids.next = q->upto; /* taken now: the next call gets the following ones */
	return 0;
}
