/*
 * A node's data directory at start (boot.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "keyspace.h"
#include "rcache.h"
#include "crash.h"
#include "log.h"
#include "node_int.h"
#include "boot.h"
#include "settings.h"

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
 * cluster, the cut (--ranges or --split-at) and the replicas per range
 * (a directory made before that row existed: every range on every initial
 * node). */
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

static void first_start_replicas(const struct rk_node_config *cfg, struct rk_buf *b)
{
	rk_buf_printf(b, "%u", rk_node_config_replicas(cfg));
}

static const char *const row_names[3] = {"first_start_cluster", "first_start_cut",
					 "first_start_replicas"};

/* The initial layout of a cluster, as its first-start flags make it (the
 * same on every node): the initial nodes in id order, the replicas per
 * range and the cut. */
struct layout {
	uint64_t ids[RK_MAX_NODES];
	uint64_t given[RK_MAX_NODES]; /* the same, in --initial-cluster order */
	uint32_t n, k;
	struct rk_keyspace ks;
};

/* From the recorded form of the flags (first_start_*; replicas NULL: the
 * row is missing, every node). RK_ECORRUPT if they do not parse. */
static int layout_parse(const char *cluster, const char *cut, const char *replicas,
			struct layout *lay)
{
	const char *p = cluster;
	char *end;
	int rc;

	memset(lay, 0, sizeof(*lay));
	while (*p != '\0' && lay->n < RK_MAX_NODES) {
		uint64_t id = strtoull(p, &end, 10);
		uint32_t at = lay->n;

		if (end == p || *end != '=' || id == 0)
			return RK_ECORRUPT;
		lay->given[lay->n] = id;
		while (at > 0 && lay->ids[at - 1] > id) {
			lay->ids[at] = lay->ids[at - 1];
			at--;
		}
		lay->ids[at] = id;
		lay->n++;
		p = strchr(end, ',');
		p = p != NULL ? p + 1 : end + strlen(end);
	}
	lay->k = replicas != NULL ? (uint32_t)strtoul(replicas, NULL, 10) : lay->n;
	if (*p != '\0' || lay->n == 0 || lay->k == 0 || lay->k > lay->n ||
	    lay->k > RK_DESC_MAX_REPLICAS)
		return RK_ECORRUPT;
	if (strncmp(cut, "--ranges ", 9) == 0)
		rc = rk_keyspace_uniform((uint32_t)strtoul(cut + 9, NULL, 10), &lay->ks);
	else if (strncmp(cut, "--split-at ", 11) == 0)
		rc = rk_keyspace_split_at(cut + 11, &lay->ks, NULL, 0);
	else
		rc = RK_ECORRUPT;
	return rc == RK_EINVAL ? RK_ECORRUPT : rc;
}

/* A recorded row as a string (NULL if missing or no memory). */
static char *meta_string(struct rk_node *n, const char *name)
{
	const void *v;
	size_t vl;
	char *s;

	if (rk_store_meta_get(n->reader, name, &v, &vl) != 0 || (s = malloc(vl + 1)) == NULL)
		return NULL;
	memcpy(s, v, vl);
	s[vl] = '\0';
	return s;
}

/* The layout the data directory's first start made; RK_ENOTFOUND for a
 * directory made before the flags were recorded. */
static int layout_recorded(struct rk_node *n, struct layout *lay)
{
	char *cluster = meta_string(n, "first_start_cluster");
	char *cut = meta_string(n, "first_start_cut");
	char *replicas = meta_string(n, "first_start_replicas");
	int rc = cluster == NULL || cut == NULL ? RK_ENOTFOUND
					       : layout_parse(cluster, cut, replicas, lay);

	free(cluster);
	free(cut);
	free(replicas);
	return rc;
}

/* Range i+1's initial descriptor, over reps (k of them) and lay's keys. */
static void layout_desc(const struct layout *lay, uint32_t i,
			struct rk_desc_replica *reps, struct rk_desc *d)
{
	uint32_t ranks[RK_DESC_MAX_REPLICAS];

	memset(d, 0, sizeof(*d));
	rk_desc_initial_ranks(lay->n, lay->k, i + 1, ranks);
	/* Replica ids 1..k in node id order, the same on every node. */
	for (uint32_t j = 0; j < lay->k; j++) {
		reps[j].replica_id = j + 1;
		reps[j].node_id = lay->ids[ranks[j]];
		reps[j].role = RK_DESC_VOTER;
	}
	d->range_id = i + 1;
	d->generation = 1;
	d->conf_version = 1;
	d->next_replica_id = lay->k + 1;
	d->reps = reps;
	d->n_reps = (uint8_t)lay->k;
	if (i > 0) {
		d->start = lay->ks.bounds[i - 1].p;
		d->slen = lay->ks.bounds[i - 1].len;
	}
	if (i + 1 < lay->ks.n) {
		d->end = lay->ks.bounds[i].p;
		d->elen = lay->ks.bounds[i].len;
	}
}

int rk_boot_layout_cache(struct rk_node *n)
{
	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	struct layout lay;
	struct rk_desc d;
	int rc = layout_recorded(n, &lay);

	if (rc == RK_ENOTFOUND)
		return 0; /* the cache holds the hosted ranges only */
	for (uint32_t i = 0; i < lay.ks.n && rc == 0; i++) {
		struct rk_rcache_entry *e;

		layout_desc(&lay, i, reps, &d);
		rc = rk_rcache_put(&n->rcache, &d);
		/* A guess until confirmed: splits and membership changes since
		 * the first start are in the placement index, not here. */
		if (rc == 0 && (e = rk_rcache_get(&n->rcache, d.range_id)) != NULL)
			e->guess = true;
	}
	rk_keyspace_free(&lay.ks);
	return rc;
}

struct rk_boot_layout {
	struct layout lay;
};

int rk_boot_layout_open(struct rk_node *n, struct rk_boot_layout **lp)
{
	struct rk_boot_layout *l = calloc(1, sizeof(*l));
	int rc;

	*lp = NULL;
	if (l == NULL)
		return RK_ENOMEM;
	rc = layout_recorded(n, &l->lay);
	if (rc != 0) {
		rk_keyspace_free(&l->lay.ks);
		free(l);
		return rc;
	}
	*lp = l;
	return 0;
}

uint64_t rk_boot_layout_ranges(const struct rk_boot_layout *l)
{
	return l->lay.ks.n;
}

void rk_boot_layout_desc(const struct rk_boot_layout *l, uint64_t range,
			 struct rk_desc_replica *reps, struct rk_desc *dp)
{
	layout_desc(&l->lay, (uint32_t)(range - 1), reps, dp);
}

uint64_t rk_boot_layout_find(const struct rk_boot_layout *l, const uint8_t *key, size_t klen)
{
	uint32_t lo = 0, hi = l->lay.ks.n - 1;

	/* Range i + 1 holds the keys from bound i - 1 up to bound i: the
	 * number of bounds at or below the key, plus one. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct rk_key *b = &l->lay.ks.bounds[mid];

		if (rk_key_cmp(b->p, b->len, key, klen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint64_t)lo + 1;
}

void rk_boot_layout_close(struct rk_boot_layout *l)
{
	if (l == NULL)
		return;
	rk_keyspace_free(&l->lay.ks);
	free(l);
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

/* A restart's --peer-addr must be the address the initial cluster gave
 * this node (the other nodes know it by that address, and the placement
 * group refuses to register an id at another one: the node would start
 * and never be reached). A node added later has no entry here. */
static int check_peer_addr(struct rk_node *n, char *err, size_t errlen)
{
	struct rk_node_config *rec;
	const void *v;
	size_t vl;
	char *row;
	int rc = 0;

	if (rk_store_meta_get(n->reader, "first_start_cluster", &v, &vl) != 0)
		return 0;
	rec = calloc(1, sizeof(*rec));
	row = strndup(v, vl);
	if (rec == NULL || row == NULL) {
		rc = RK_ENOMEM;
	} else if (rk_node_config_parse_cluster(rec, row, err, errlen) != 0) {
		err[0] = '\0'; /* a row that does not parse: layout_parse says so */
	} else {
		for (uint32_t i = 0; i < rec->n_initial; i++) {
			const struct rk_node_peer *p = &rec->initial[i];

			if (p->id != n->cfg.node_id || strcmp(p->addr, n->cfg.peer_addr) == 0)
				continue;
			snprintf(err, errlen, "--peer-addr %s is not this node's address in the "
				 "cluster (%s, from the first start of %.200s): the other nodes "
				 "reach node %llu there", n->cfg.peer_addr, p->addr,
				 n->cfg.data_dir, (unsigned long long)n->cfg.node_id);
			rc = RK_EINVAL;
		}
	}
	free(row);
	free(rec);
	return rc;
}

/* A restart may repeat the first-start flags; they must match. */
int rk_boot_check_flags(struct rk_node *n, char *err, size_t errlen)
{
	const struct rk_node_config *cfg = &n->cfg;
	bool given[3] = {cfg->n_initial > 0, cfg->ranges > 0 || cfg->split_at != NULL,
			 cfg->replicas > 0};
	const char *flag[3] = {"--initial-cluster", "--ranges/--split-at", "--replicas"};
	int rc = 0;

	for (int k = 0; k < 3 && rc == 0; k++) {
		struct rk_buf want, had;
		struct layout lay;
		const void *v;
		size_t vl;

		if (!given[k])
			continue;
		rk_buf_init(&want);
		rk_buf_init(&had);
		if (k == 0)
			first_start_cluster(cfg, &want);
		else if (k == 1)
			first_start_cut(cfg, &want);
		else
			first_start_replicas(cfg, &want);
		if (rk_store_meta_get(n->reader, row_names[k], &v, &vl) == 0) {
			rk_buf_append(&had, v, vl);
		} else if (k == 2 && layout_recorded(n, &lay) == 0) {
			/* Made before the row: every range on every node. */
			rk_buf_printf(&had, "%u", lay.k);
			rk_keyspace_free(&lay.ks);
		}
		if (had.len > 0 && (had.len != want.len || memcmp(had.p, want.p, had.len) != 0)) {
			/* Also after a first start that failed (it could not
			 * listen, say): the flags are fixed once it wrote them. */
			snprintf(err, errlen, "%s does not match the first start of %.200s (%s%.*s): "
				 "a data directory keeps its first start's flags (remove it to "
				 "start anew with others; its data goes with it)",
				 flag[k], cfg->data_dir, k == 2 ? "--replicas " : "",
				 (int)(had.len > 200 ? 200 : had.len), (const char *)had.p);
			rc = RK_EINVAL;
		}
		rk_buf_free(&want);
		rk_buf_free(&had);
	}
	return rc != 0 ? rc : check_peer_addr(n, err, errlen);
}

/* Notes that the directory holds a range, and stops the walk there. */
static int any_range(void *arg, uint64_t range)
{
	(void)range;
	*(bool *)arg = true;
	return 1;
}

/* A range's initial raft state (its voters d's replicas, the boot point
 * RK_RAFT_INIT_INDEX/TERM) and apply state (d), into b, if d has a
 * replica on this node (*heldp). blob: scratch. */
static int boot_state(struct rk_node *n, struct rk_store_batch *b, const struct rk_desc *d,
		      struct rk_buf *blob, bool *heldp)
{
	struct rk_store_raft_state st;
	struct rk_store_apply_state as;

	*heldp = false;
	memset(&st, 0, sizeof(st));
	st.hs.term = RK_RAFT_INIT_TERM;
	st.hs.commit = RK_RAFT_INIT_INDEX;
	st.trunc_index = RK_RAFT_INIT_INDEX;
	st.trunc_term = RK_RAFT_INIT_TERM;
	st.conf.n = d->n_reps;
	for (uint8_t j = 0; j < d->n_reps; j++) {
		st.conf.ids[j] = d->reps[j].replica_id;
		st.conf.flags[j] = RK_RAFT_VOTER;
		if (d->reps[j].node_id == n->cfg.node_id)
			st.replica_id = d->reps[j].replica_id;
	}
	if (st.replica_id == 0)
		return 0; /* held by other nodes only */
	rk_buf_reset(blob);
	if (rk_desc_encode(d, blob) != 0)
		return RK_ENOMEM;
	as.applied = RK_RAFT_INIT_INDEX;
	as.desc = blob->p;
	as.desc_len = blob->len;
	rk_store_batch_raft_state(b, d->range_id, &st);
	rk_store_batch_apply_state(b, d->range_id, &as);
	*heldp = true;
	return 0;
}

/* Range i+1's initial raft and apply state, into b, if this node holds
 * one of its replicas (*heldp). */
static int first_range(struct rk_node *n, const struct layout *lay, uint32_t i,
		       struct rk_store_batch *b, bool *heldp)
{
	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	struct rk_desc d;
	struct rk_buf blob;
	int rc;

	*heldp = false;
	layout_desc(lay, i, reps, &d);
	rk_buf_init(&blob);
	rc = boot_state(n, b, &d, &blob, heldp);
	rk_buf_free(&blob);
	return rc;
}

/* The placement group's nodes: the first of the initial cluster, in its
 * order (plc.h); *countp of them. */
static void pl_nodes(const struct layout *lay, uint64_t *nodes, uint32_t *countp)
{
	*countp = rk_plc_group_size(lay->n);
	memcpy(nodes, lay->given, *countp * sizeof(*nodes));
}

/* The placement group's initial state, into b, if this node holds one of
 * its replicas (*heldp): its raft and apply state (replica ids 1..k in
 * node id order, as for every range), and its state machine's, made from
 * the layout alone (no proposal): the number of initial ranges (whose
 * index entries are their first-start descriptors until reported) and
 * the next range id past them. The same on every node. */
static int pl_first(struct rk_node *n, const struct layout *lay,
		    struct rk_store_batch *b, bool *heldp)
{
	struct rk_desc_replica reps[RK_DESC_MAX_REPLICAS];
	uint64_t nodes[RK_PLC_MAX_NODES];
	struct rk_desc d;
	struct rk_buf blob;
	uint32_t k, j = 0;
	int rc;

	*heldp = false;
	if (rk_test_no_placement())
		return 0;
	pl_nodes(lay, nodes, &k);
	/* Node id order: lay->ids is sorted; keep those of the group. */
	for (uint32_t i = 0; i < lay->n; i++)
		for (uint32_t x = 0; x < k; x++)
			if (lay->ids[i] == nodes[x]) {
				reps[j].replica_id = j + 1;
				reps[j].node_id = lay->ids[i];
				reps[j].role = RK_DESC_VOTER;
				j++;
			}
	memset(&d, 0, sizeof(d));
	d.range_id = RK_RANGE_PLACEMENT;
	d.generation = 1;
	d.conf_version = 1;
	d.next_replica_id = k + 1;
	d.reps = reps;
	d.n_reps = (uint8_t)k;
	rk_buf_init(&blob);
	rc = boot_state(n, b, &d, &blob, heldp);
	/* The initial ranges' index entries are implicit (group.h): two
	 * rows, not one per range. */
	if (rc == 0 && *heldp) {
		struct rk_buf set;
		rk_pl_write_initial(b, lay->ks.n);
		/* The cluster settings (settings.h), as this node records them. */
		rk_buf_init(&set);
		rk_settings_text(&n->cfg.settings, lay->k, &set);
		rc = set.oom ? RK_ENOMEM : 0;
		if (rc == 0)
			rk_pl_write_settings(b, set.p, set.len);
		rk_buf_free(&set);
	}
	rk_buf_free(&blob);
	if (rc != 0)
		*heldp = false;
	return rc;
}

int rk_boot_initial_desc(struct rk_node *n, uint64_t range, struct rk_desc_replica *reps,
			 struct rk_desc *dp, struct rk_buf *keys)
{
	struct layout lay;
	int rc = layout_recorded(n, &lay);

	memset(dp, 0, sizeof(*dp));
	if (rc != 0)
		return rc;
	if (range == 0 || range > lay.ks.n) {
		rk_keyspace_free(&lay.ks);
		return RK_ENOTFOUND;
	}
	layout_desc(&lay, (uint32_t)(range - 1), reps, dp);
	/* The keys point into the layout: copied into keys before it goes. */
	rk_buf_reset(keys);
	rk_buf_append(keys, dp->start, dp->slen);
	rk_buf_append(keys, dp->end, dp->elen);
	dp->start = (uint8_t *)keys->p;
	dp->end = (uint8_t *)keys->p + dp->slen;
	rk_keyspace_free(&lay.ks);
	return keys->oom ? RK_ENOMEM : 0;
}

int rk_boot_placement(struct rk_node *n)
{
	uint64_t nodes[RK_PLC_MAX_NODES];
	struct rk_store_raft_state st;
	struct rk_store_batch *b;
	struct layout lay;
	uint32_t k;
	bool held = false;
	int rc;

	if (rk_test_no_placement())
		return 0; /* as a release before the group (test hook) */
	rc = layout_recorded(n, &lay);
	if (rc == RK_ENOTFOUND) {
		rk_log_warn(MOD, "%s was made before the first-start flags were recorded: "
			    "this cluster has no placement group", n->cfg.data_dir);
		return 0;
	}
	if (rc != 0)
		return rc;
	pl_nodes(&lay, nodes, &k);
	rk_plc_set_nodes(n, nodes, k);
	if ((rc = rk_plc_load_nodes(n)) != 0) {
		rk_keyspace_free(&lay.ks);
		return rc;
	}
	rc = rk_store_read_raft_state(n->reader, RK_RANGE_PLACEMENT, &st);
	/* Written, but a crash came before the checkpoint that makes its
	 * apply state durable (the raft state is logged, the rest is not):
	 * still at the boot point, it is written again. */
	if (rc == 0 && st.hs.term == RK_RAFT_INIT_TERM && st.trunc_index == RK_RAFT_INIT_INDEX) {
		struct rk_store_apply_state as;
		if (rk_store_read_apply_state(n->reader, RK_RANGE_PLACEMENT, &as) == RK_ENOTFOUND)
			rc = RK_ENOTFOUND;
	}
	/* No replica, but a tombstone: this node's replica was moved away
	 * (sched_run.h). Its data is gone on purpose: never made again. */
	if (rc == RK_ENOTFOUND) {
		uint64_t min;
		if (rk_store_read_tombstone(n->reader, RK_RANGE_PLACEMENT, &min) == 0)
			rc = 0;
	}
	if (rc != RK_ENOTFOUND) {
		rk_keyspace_free(&lay.ks);
		return rc;
	}
	/* A directory of a release before the placement group: its first
	 * start's state, written now (the same on every node, as at a first
	 * start). No range was ever split or merged before it, so the
	 * layout's ids are every id ever used. */
	b = rk_store_batch_new();
	rc = b == NULL ? RK_ENOMEM : pl_first(n, &lay, b, &held);
	if (rc == 0 && held) {
		rc = rk_store_write(n->store, b);
		b = NULL;
		if (rc == 0)
			rc = rk_store_checkpoint(n->store); /* its apply state is not logged */
		if (rc == 0)
			rk_log_info(MOD, "%s was made before the placement group: its replica "
				    "created from the recorded first-start flags", n->cfg.data_dir);
	}
	if (b != NULL)
		rk_store_batch_free(b);
	rk_keyspace_free(&lay.ks);
	return rc;
}

/* Cuts the key space and writes the initial state of every range with a
 * replica here: its initial voters, the boot snapshot point
 * (RK_RAFT_INIT_INDEX/TERM) and its span. The layout comes from the flags
 * in their recorded form, as on every restart (rk_boot_layout_cache). */
int rk_boot_first_start(struct rk_node *n, char *err, size_t errlen)
{
	struct layout lay;
	struct rk_store_batch *b;
	struct rk_buf rows[3];
	uint32_t held = 0;
	int rc;

	if (n->cfg.split_at != NULL) {
		/* Parsed with the flags; again here for its one-line reason. */
		struct rk_keyspace ks;
		rc = rk_keyspace_split_at(n->cfg.split_at, &ks, err, errlen);
		rk_keyspace_free(&ks);
		if (rc != 0)
			return rc;
	}
	for (int k = 0; k < 3; k++)
		rk_buf_init(&rows[k]);
	first_start_cluster(&n->cfg, &rows[0]);
	first_start_cut(&n->cfg, &rows[1]);
	first_start_replicas(&n->cfg, &rows[2]);
	rc = rows[0].oom || rows[1].oom || rows[2].oom ? RK_ENOMEM
		: layout_parse(rows[0].p, rows[1].p, rows[2].p, &lay);
	if (rc != 0) {
		snprintf(err, errlen, "cannot lay out the initial ranges: %s", rk_strerror(rc));
		for (int k = 0; k < 3; k++)
			rk_buf_free(&rows[k]);
		return rc;
	}
	b = rk_store_batch_new();
	rc = b == NULL ? RK_ENOMEM : 0;
	for (uint32_t i = 0; i < lay.ks.n && rc == 0; i++) {
		bool here;
		rc = first_range(n, &lay, i, b, &here);
		held += here;
	}
	if (rc == 0) {
		bool here;
		rc = pl_first(n, &lay, b, &here);
		if (rc == 0 && here)
			rk_log_info(MOD, "first start: a replica of the placement group here");
	}
	if (rc != 0) {
		rk_store_batch_free(b);
		b = NULL;
	}
	if (b != NULL) {
		for (int k = 0; k < 3; k++)
			rk_store_batch_meta_put(b, row_names[k], rows[k].p, rows[k].len);
		rk_settings_record(n, lay.k, b);
	}
	for (int k = 0; k < 3; k++)
		rk_buf_free(&rows[k]);
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
		rk_log_info(MOD, "first start: %u ranges of %u replicas on %u nodes, %u here",
			    lay.ks.n, lay.k, lay.n, held);
	else
		snprintf(err, errlen, "cannot write the initial ranges: %s", rk_strerror(rc));
	rk_keyspace_free(&lay.ks);
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
		if (rc == RK_EAGAIN) {
			rk_log_info(MOD, "range %llu: the right half of a split; loaded when "
				    "its left neighbour applies the split again",
				    (unsigned long long)l.v[i]);
			rc = 0;
			continue;
		}
		if (rc != 0)
			rk_log_error(MOD, "range %llu: cannot load its replica: %s",
				     (unsigned long long)l.v[i], rk_strerror(rc));
		if (rc == 0 && (rc = rk_table_add(&n->tab, r)) != 0)
			rk_replica_free(r);
		else if (rc == 0) {
			r->asleep = true;
			r->asleep_since = uv_now(&n->loop);
			rk_own_enter(n, r);
		}
	}
	free(l.v);
	return rc;
}

int rk_boot_existing(struct rk_node *n, bool *existingp)
{
	const void *v;
	size_t vl;

	/* A node may hold no range of its cluster (--replicas below the
	 * number of nodes, or all moved away): its first start is done all
	 * the same. */
	*existingp = rk_store_meta_get(n->reader, "first_start_done", &v, &vl) == 0;
	return *existingp ? 0 : rk_store_list_ranges(n->reader, any_range, existingp);
}

int rk_boot_load(struct rk_node *n)
{
	int rc = redo_removals(n);

	if (rc == 0)
		rc = rk_life_load_tombs(n);
	if (rc == 0)
		rc = redo_installs(n);
	if (rc == 0)
		rc = load_all(n);
	return rc != 0 ? rc : rk_merge_drop_stale(n);
}
