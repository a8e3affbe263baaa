/*
 * A node's data directory at start (boot.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "keyspace.h"
#include "crash.h"
#include "log.h"
#include "node_int.h"
#include "boot.h"

#define MOD "node"

uint64_t rk_boot_cluster_id(const struct rk_node_config *cfg)
{
	XXH3_state_t *st = XXH3_createState();
	uint64_t h;

	XXH3_64bits_reset(st);
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		XXH3_64bits_update(st, &cfg->initial[i].id, sizeof(uint64_t));
		XXH3_64bits_update(st, cfg->initial[i].addr, strlen(cfg->initial[i].addr));
	}
	h = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return h == 0 ? 1 : h;
}

/* The first-start flags as recorded in the data directory: the initial
 * cluster, and the cut (--ranges or --split-at). */
static void first_start_cluster(const struct rk_node_config *cfg, struct rk_buf *b)
{
	for (uint32_t i = 0; i < cfg->n_initial; i++)
		rk_buf_printf(b, "%s%llu=%s", i ? "," : "",
			      (unsigned long long)cfg->initial[i].id, cfg->initial[i].addr);
}

static void first_start_cut(const struct rk_node_config *cfg, struct rk_buf *b)
{
	if (cfg->split_at != NULL)
		rk_buf_printf(b, "--split-at %s", cfg->split_at);
	else
		rk_buf_printf(b, "--ranges %u", cfg->ranges ? cfg->ranges : RK_DEFAULT_RANGES);
}

/* Whether the lowest range has an apply state (stops the walk there). */
static int first_applied(void *arg, uint64_t range)
{
	struct rk_node *n = ((void **)arg)[0];
	struct rk_store_apply_state as;

	*(bool *)((void **)arg)[1] = rk_store_read_apply_state(n->reader, range, &as) == 0;
	return 1;
}

int rk_boot_finished(struct rk_node *n, bool *existingp, char *err, size_t errlen)
{
	const void *v;
	size_t vl;
	bool applied = false;
	void *arg[2] = {n, &applied};
	struct rk_store_batch *b;
	int rc;

	if (rk_store_meta_get(n->reader, "first_start_done", &v, &vl) == 0)
		return 0;
	rc = rk_store_list_ranges(n->reader, first_applied, arg);
	if (rc != 0)
		return rc;
	if (applied) {
		/* Made before the row existed: its first start was done. */
		if ((b = rk_store_batch_new()) == NULL)
			return RK_ENOMEM;
		rk_store_batch_meta_put(b, "first_start_done", "1", 1);
		return rk_store_write(n->store, b);
	}
	if (n->cfg.n_initial == 0) {
		snprintf(err, errlen, "the first start of %.200s was interrupted; start it again "
			 "with the same --initial-cluster and --ranges/--split-at", n->cfg.data_dir);
		return RK_EINVAL;
	}
	rk_log_warn(MOD, "the first start of %s was interrupted: doing it again",
		    n->cfg.data_dir);
	*existingp = false;
	return 0;
}

/* A restart may repeat the first-start flags; they must match. */
int rk_boot_check_flags(struct rk_node *n, char *err, size_t errlen)
{
	const struct rk_node_config *cfg = &n->cfg;
	const char *names[2] = {"first_start_cluster", "first_start_cut"};
	bool given[2] = {cfg->n_initial > 0, cfg->ranges > 0 || cfg->split_at != NULL};
	const char *flag[2] = {"--initial-cluster", "--ranges/--split-at"};
	int rc = 0;

	for (int k = 0; k < 2 && rc == 0; k++) {
		struct rk_buf want;
		const void *v;
		size_t vl;

		if (!given[k])
			continue;
		rk_buf_init(&want);
		if (k == 0)
			first_start_cluster(cfg, &want);
		else
			first_start_cut(cfg, &want);
		if (rk_store_meta_get(n->reader, names[k], &v, &vl) == 0 &&
		    (vl != want.len || memcmp(v, want.p, vl) != 0)) {
			snprintf(err, errlen, "%s does not match the first start of %.200s (%.*s)",
				 flag[k], cfg->data_dir, (int)(vl > 200 ? 200 : vl),
				 (const char *)v);
			rc = RK_EINVAL;
		}
		rk_buf_free(&want);
	}
	return rc;
}

/* Notes that the directory holds a range, and stops the walk there. */
static int any_range(void *arg, uint64_t range)
{
	(void)range;
	*(bool *)arg = true;
	return 1;
}

/* The initial replicas of every range: one per initial node, replica ids
 * 1..k given in node id order (the same on every node whatever the order
 * of --initial-cluster). */
static void initial_replicas(const struct rk_node_config *cfg,
			     struct rk_desc_replica *reps)
{
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		uint32_t rank = 0;

		for (uint32_t j = 0; j < cfg->n_initial; j++)
			rank += cfg->initial[j].id < cfg->initial[i].id;
		reps[rank].node_id = cfg->initial[i].id;
	}
	for (uint32_t i = 0; i < cfg->n_initial; i++) {
		reps[i].replica_id = i + 1;
		reps[i].role = RK_DESC_VOTER;
	}
}

/* Range i+1's initial raft and apply state, into b. */
static int first_range(struct rk_node *n, const struct rk_keyspace *ks,
		       uint32_t i, struct rk_store_batch *b)
{
	struct rk_desc_replica reps[RK_RAFT_MAX_MEMBERS];
	struct rk_desc d;
	struct rk_store_raft_state st;
	struct rk_store_apply_state as;
	struct rk_buf blob;

	memset(&d, 0, sizeof(d));
	initial_replicas(&n->cfg, reps);
	d.range_id = i + 1;
	d.generation = 1;
	d.conf_version = 1;
	d.next_replica_id = n->cfg.n_initial + 1;
	d.reps = reps;
	d.n_reps = (uint8_t)n->cfg.n_initial;
	if (i > 0) {
		d.start = ks->bounds[i - 1].p;
		d.slen = ks->bounds[i - 1].len;
	}
	if (i + 1 < ks->n) {
		d.end = ks->bounds[i].p;
		d.elen = ks->bounds[i].len;
	}
	memset(&st, 0, sizeof(st));
	st.hs.term = RK_RAFT_INIT_TERM;
	st.hs.commit = RK_RAFT_INIT_INDEX;
	st.trunc_index = RK_RAFT_INIT_INDEX;
	st.trunc_term = RK_RAFT_INIT_TERM;
	st.conf.n = d.n_reps;
	for (uint8_t j = 0; j < d.n_reps; j++) {
		st.conf.ids[j] = reps[j].replica_id;
		st.conf.flags[j] = RK_RAFT_VOTER;
		if (reps[j].node_id == n->cfg.node_id)
			st.replica_id = reps[j].replica_id;
	}
	rk_buf_init(&blob);
	if (rk_desc_encode(&d, &blob) != 0) {
		rk_buf_free(&blob);
		return RK_ENOMEM;
	}
	as.applied = RK_RAFT_INIT_INDEX;
	as.desc = blob.p;
	as.desc_len = blob.len;
	rk_store_batch_raft_state(b, i + 1, &st);
	rk_store_batch_apply_state(b, i + 1, &as);
	rk_buf_free(&blob);
	return 0;
}

/* Cuts the key space and writes every range's initial state: the initial
 * voters, the boot snapshot point (RK_RAFT_INIT_INDEX/TERM) and the span. */
int rk_boot_first_start(struct rk_node *n, char *err, size_t errlen)
{
	struct rk_keyspace ks;
	struct rk_store_batch *b;
	int rc;

	if (n->cfg.split_at != NULL)
		rc = rk_keyspace_split_at(n->cfg.split_at, &ks, err, errlen);
	else
		rc = rk_keyspace_uniform(n->cfg.ranges ? n->cfg.ranges : RK_DEFAULT_RANGES, &ks);
	if (rc != 0)
		return rc;
	if (n->cfg.n_initial > RK_RAFT_MAX_MEMBERS) {
		snprintf(err, errlen, "--initial-cluster: %u nodes; every range has a "
			 "replica on each initial node, at most %d", n->cfg.n_initial,
			 RK_RAFT_MAX_MEMBERS);
		rk_keyspace_free(&ks);
		return RK_EINVAL;
	}
	b = rk_store_batch_new();
	rc = b == NULL ? RK_ENOMEM : 0;
	for (uint32_t i = 0; i < ks.n && rc == 0; i++)
		rc = first_range(n, &ks, i, b);
	if (rc != 0) {
		rk_store_batch_free(b);
		b = NULL;
	}
	if (b != NULL) {
		struct rk_buf v;
		rk_buf_init(&v);
		first_start_cluster(&n->cfg, &v);
		rk_store_batch_meta_put(b, "first_start_cluster", v.p ? v.p : "", v.len);
		rk_buf_reset(&v);
		first_start_cut(&n->cfg, &v);
		rk_store_batch_meta_put(b, "first_start_cut", v.p, v.len);
		rk_buf_free(&v);
	}
	rc = b == NULL ? RK_ENOMEM : rk_store_write(n->store, b);
	rk_crash_point(n, "boot.first_written");
	if (rc == 0)
		rc = rk_store_checkpoint(n->store); /* the spans are not logged */
	/* Only now is the first start done: the apply states (spans,
	 * descriptors) are durable at the checkpoint, the raft states before
	 * it. A start that finds ranges without this row redoes it
	 * (rk_boot_finished). */
	if (rc == 0 && (b = rk_store_batch_new()) == NULL)
		rc = RK_ENOMEM;
	if (rc == 0) {
		rk_store_batch_meta_put(b, "first_start_done", "1", 1);
		rc = rk_store_write(n->store, b);
	}
	if (rc == 0)
		rk_log_info(MOD, "first start: %u ranges on %u nodes", ks.n, n->cfg.n_initial);
	else
		snprintf(err, errlen, "cannot write the initial ranges: %s", rk_strerror(rc));
	rk_keyspace_free(&ks);
	return rc;
}

struct id_list {
	uint64_t *v;
	size_t n, cap;
};

static int collect_id(void *arg, uint64_t range)
{
	struct id_list *l = arg;

	if (rk_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) != 0)
		return RK_ENOMEM;
	l->v[l->n++] = range;
	return 0;
}

static void note_pending(void *arg, uint64_t range, uint64_t index)
{
	struct id_list *l = arg;

	(void)index;
	collect_id(l, range);
}

/* Snapshot installs a crash interrupted are redone before anything is
 * served (their ranges' data is half there). */
struct stale {
	struct rk_node *n;
	struct rk_store_batch *b;
	size_t found;
	int rc;
};

/* A range with a tombstone whose apply state names a replica on this node
 * below it: the apply state (and the data of its span) of a removed
 * replica, back after a crash because those tables are not logged, while
 * the removal's logged part (raft state, log, tombstone) held. */
static int note_stale(void *arg, uint64_t range, uint64_t min_id)
{
	struct stale *s = arg;
	struct rk_store_apply_state as;
	struct rk_desc d;
	const struct rk_desc_replica *mine;
	uint64_t id;
	size_t used;

	if (rk_store_read_apply_state(s->n->reader, range, &as) != 0)
		return 0;
	memset(&d, 0, sizeof(d));
	if (rk_desc_decode(as.desc, as.desc_len, &d, &used) != 0)
		return 0; /* loading it reports what is wrong */
	mine = rk_desc_on_node(&d, s->n->cfg.node_id);
	/* A v1 descriptor names no replicas: its replica id was the node's. */
	id = d.v1 ? s->n->cfg.node_id : mine != NULL ? mine->replica_id : 0;
	if (id != 0 && id < min_id) {
		rk_log_info(MOD, "range %llu: clearing what its removed replica %llu left "
			    "(interrupted by a crash)", (unsigned long long)range,
			    (unsigned long long)id);
		rk_store_batch_clear_span(s->b, d.start, d.slen, d.end, d.elen);
		rk_store_batch_apply_del(s->b, range);
		s->found++;
	}
	rk_desc_free(&d);
	return 0;
}

/* Finishes removals a crash interrupted (life.h), durably (a checkpoint:
 * the tables they clear are not logged), before anything is loaded. */
static int redo_removals(struct rk_node *n)
{
	struct stale s = {n, rk_store_batch_new(), 0, 0};
	int rc;

	if (s.b == NULL)
		return RK_ENOMEM;
	rc = rk_store_list_tombstones(n->reader, note_stale, &s);
	if (rc != 0 || s.found == 0) {
		rk_store_batch_free(s.b);
		return rc;
	}
	rc = rk_store_write(n->store, s.b);
	return rc != 0 ? rc : rk_store_checkpoint(n->store);
}

static int redo_installs(struct rk_node *n)
{
	struct id_list l = {NULL, 0, 0};
	int rc = rk_store_install_pending(n->reader, note_pending, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		rk_log_info(MOD, "range %llu: redoing an interrupted snapshot install",
			    (unsigned long long)l.v[i]);
		rc = rk_store_install_run(n->reader, l.v[i]);
	}
	free(l.v);
	return rc;
}

/* Lists the ranges first (loading reads the same tables), then loads
 * each, in id order. Every replica starts asleep (see "elections at
 * start"). */
static int load_all(struct rk_node *n)
{
	struct id_list l = {NULL, 0, 0};
	int rc = rk_store_list_ranges(n->reader, collect_id, &l);

	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct rk_replica *r;
		rc = rk_replica_load(n, l.v[i], &r);
		if (rc != 0)
			rk_log_error(MOD, "range %llu: cannot load its replica: %s",
				     (unsigned long long)l.v[i], rk_strerror(rc));
		if (rc == 0 && (rc = rk_table_add(&n->tab, r)) != 0)
			rk_replica_free(r);
		else if (rc == 0) {
			r->asleep = true;
			r->asleep_since = uv_now(&n->loop);
		}
	}
	free(l.v);
	return rc;
}

int rk_boot_existing(struct rk_node *n, bool *existingp)
{
	*existingp = false;
	return rk_store_list_ranges(n->reader, any_range, existingp);
}

int rk_boot_load(struct rk_node *n)
{
	int rc = redo_removals(n);

	if (rc == 0)
		rc = rk_life_load_tombs(n);
	if (rc == 0)
		rc = redo_installs(n);
	return rc != 0 ? rc : load_all(n);
}
