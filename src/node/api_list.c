/*
 * GET /api/v1/ranges on any node: every user range of the cluster, from
 * the placement index (docs/contract.md, docs/placement.md "Reading the
 * index"), with this node's figures where it holds the range.
 *
 * The index is read page by page (pindex.h) while the call waits
 * (rk_http_defer): the plain and filtered lists stop once they have one
 * more range than the page shows, the sorted list reads it all. This
 * node's replicas join the list: one whose descriptor is the indexed one
 * or newer shows its own figures (and its descriptor: the leader reports
 * after a split or a membership change, so this node may know of it
 * first); a range this node holds that the index has not got yet (the
 * right half of a split not reported yet) is listed too. A range held
 * elsewhere shows what the index says, with its leader as this node's
 * range cache knows it and null for the figures only its replicas have
 * (size and load excepted on the placement group's leader: the figures
 * its leader last reported in a heartbeat, rfig.h).
 * When the index cannot be read (no placement group, no replica of it
 * answering within RK_PIX_CALL_MS) the list is this node's replicas, as
 * before there was an index; the header X-Rangekv-Source says which.
 */
#include <stdlib.h>
#include <string.h>

#include "api_range.h"
#include "node_int.h"
#include "peer.h"
#include "pindex.h"
#include "size.h"

#define SORTED_MAX 1000

enum sort_by { BY_SIZE, BY_WRITES, BY_READS };

struct list_q {
	bool has_sort, has_node, unavailable;
	enum sort_by by;
	uint64_t node, limit, after;
};

struct ent {
	const struct rk_desc *d;    /* the index's, or r's */
	const struct rk_replica *r; /* this node's replica, if it shows */
	double key;                 /* the sort figure; -1 unknown */
};

struct job {
	struct rk_node *n;
	struct rk_http_later *l;
	struct list_q q;
	struct rk_desc *descs; /* from the index, by id */
	size_t nd, cap;
	uint64_t kept;  /* of them, those the filters keep */
	size_t counted; /* descriptors counted in kept */
	bool more;      /* the index goes on after the last one read */
};

/* ---- which ranges --------------------------------------------------------------- */

static bool node_live(struct rk_node *n, uint64_t node)
{
	return node == n->cfg.node_id || rk_peer_alive(n, node);
}

bool rk_api_no_quorum(struct rk_node *n, const struct rk_desc *d)
{
	unsigned in_n = 0, in_up = 0, out_n = 0, out_up = 0;
	bool joint = false;

	for (uint8_t i = 0; i < d->n_reps; i++) {
		const struct rk_desc_replica *rep = &d->reps[i];
		unsigned up = node_live(n, rep->node_id);

		switch (rep->role) {
		case RK_DESC_VOTER:
			in_n++, in_up += up, out_n++, out_up += up;
			break;
		case RK_DESC_VOTER_INCOMING:
			in_n++, in_up += up, joint = true;
			break;
		case RK_DESC_VOTER_OUTGOING:
		case RK_DESC_VOTER_DEMOTING:
			out_n++, out_up += up, joint = true;
			break;
		default:
			break; /* a learner does not vote */
		}
	}
	return 2 * in_up <= in_n || (joint && 2 * out_up <= out_n);
}

/* Whether e's range cannot serve as this node sees it: a replica here
 * that knows no leader (a sleeping leader whose followers died keeps
 * calling itself leader: the quorum test catches it), or fewer than a
 * majority of its voters on live nodes. */
static bool unavailable(struct rk_node *n, const struct ent *e)
{
	return (e->r != NULL && rk_raft_leader(&e->r->raft) == 0) || rk_api_no_quorum(n, e->d);
}

static bool kept(struct rk_node *n, const struct list_q *q, const struct ent *e)
{
	return !rk_range_reserved(e->d->range_id) &&
	       (!q->has_node || rk_desc_on_node(e->d, q->node) != NULL) &&
	       (!q->unavailable || unavailable(n, e));
}

/* This node's replica of range that shows in the list: one with a span
 * that is not leaving (GET /api/v1/ranges/{id} shows the others). */
static const struct rk_replica *hosted(struct rk_node *n, uint64_t range)
{
	const struct rk_replica *r = rk_table_get(&n->tab, range);

	return r != NULL && r->desc.n_reps > 0 && !r->removing && !rk_range_reserved(range)
		       ? r : NULL;
}


static struct ent ent_of(struct rk_node *n, const struct rk_desc *d)
{
	const struct rk_replica *r = hosted(n, d->range_id);
	struct ent e = {d, NULL, -1};

	if (r != NULL && !rk_desc_newer(d, &r->desc))
		e = (struct ent){&r->desc, r, 0};
	return e;
}

/* ---- the JSON of a range held elsewhere ---------------------------------------- */

static void null_keys(struct rk_json *j, const char *const *keys)
{
	for (; *keys != NULL; keys++) {
		rk_json_key(j, *keys);
		rk_json_null(j);
	}
}

/* size_bytes, writes_per_sec and reads_per_sec of a range held
 * elsewhere: on the placement group's leader, the figures its leader
 * last reported in a heartbeat (rfig.h); null elsewhere and for a range
 * not reported yet. */
static void reported_json(struct rk_node *n, struct rk_json *j, const struct rk_desc *d)
{
	const struct rk_pl_figent *f = rk_rfig_get(n, d->range_id);

	rk_json_key(j, "size_bytes");
	if (f != NULL)
		rk_json_u64(j, f->f.size_bytes);
	else
		rk_json_null(j);
	rk_json_key(j, "log_bytes");
	rk_json_null(j);
	rk_json_key(j, "writes_per_sec");
	if (f != NULL)
		rk_json_f64(j, f->f.writes_ps, 1);
	else
		rk_json_null(j);
	rk_json_key(j, "reads_per_sec");
	if (f != NULL)
		rk_json_f64(j, f->f.reads_ps, 1);
	else
		rk_json_null(j);
}

static void remote_json(struct rk_node *n, struct rk_json *j, const struct rk_desc *d)
{
	static const char *const unknown[] = {"term", "commit_index", "applied_index",
					      "first_index", NULL};
	static const char *const unknown2[] = {"asleep", "role", "frozen_for", NULL};
	struct rk_rcache_entry *c = rk_rcache_get(&n->rcache, d->range_id);
	uint64_t leader = c != NULL && c->generation == d->generation ? c->leader : 0;

	rk_json_obj_begin(j);
	rk_json_key(j, "id");
	rk_json_u64(j, d->range_id);
	rk_json_key(j, "start");
	rk_json_bytes(j, d->start, d->slen);
	rk_json_key(j, "end");
	rk_json_bytes(j, d->end, d->elen);
	rk_json_key(j, "generation");
	rk_json_u64(j, d->generation);
	rk_json_key(j, "conf_version");
	rk_json_u64(j, d->conf_version);
	rk_json_key(j, "auto_split");
	rk_json_bool(j, (d->flags & RK_DESC_F_AUTO_SPLIT) != 0);
	rk_json_key(j, "leader");
	if (leader == 0 || rk_desc_on_node(d, leader) == NULL)
		rk_json_null(j);
	else
		rk_json_u64(j, leader);
	null_keys(j, unknown);
	reported_json(n, j, d);
	null_keys(j, unknown2);
	rk_json_key(j, "replicas");
	rk_json_arr_begin(j);
	for (uint8_t i = 0; i < d->n_reps; i++) {
		rk_json_obj_begin(j);
		rk_json_key(j, "node_id");
		rk_json_u64(j, d->reps[i].node_id);
		rk_json_key(j, "replica_id");
		rk_json_u64(j, d->reps[i].replica_id);
		rk_json_key(j, "role");
		rk_json_str(j, rk_desc_role_name(d->reps[i].role));
		rk_json_obj_end(j);
	}
	rk_json_arr_end(j);
	rk_json_obj_end(j);
}

static void ent_json(struct rk_node *n, struct rk_json *j, const struct ent *e)
{
	if (e->r != NULL)
		rk_api_range_json(j, e->r, false);
	else
		remote_json(n, j, e->d);
}

/* ---- the answers ------------------------------------------------------------------ */

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct ent *)a)->d->range_id, y = ((const struct ent *)b)->d->range_id;

	return x < y ? -1 : x > y;
}

/* a ranks before b: the larger figure (unknown last), then the lower id. */
static int by_key(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return by_id(a, b);
}

static double sort_key(struct rk_node *n, const struct ent *e, enum sort_by by, uint64_t now)
{
	if (e->r == NULL) {
		/* The figures reported to the placement leader (rfig.h). */
		const struct rk_pl_figent *f = rk_rfig_get(n, e->d->range_id);
		return f == NULL ? -1 : by == BY_SIZE ? (double)f->f.size_bytes
			: by == BY_WRITES ? f->f.writes_ps : f->f.reads_ps;
	}
	if (by == BY_SIZE)
		return (double)rk_size_of(e->r);
	return rk_rate_get(by == BY_WRITES ? &e->r->load.writes : &e->r->load.reads, now);
}

/* A heap whose root ranks last (by_key): the one a better entry replaces. */
static void sift(struct ent *h, size_t n, size_t i)
{
	rk_api_sift(h, n, i, sizeof(*h), by_key);
}

/* Moves the best min(limit, k) of v[0..k) to its front, in order, and
 * returns how many: O(k log limit), not a sort of every range. */
static size_t top(struct ent *v, size_t k, uint64_t limit)
{
	size_t nh = k < limit ? k : (size_t)limit;

	for (size_t i = nh / 2; i-- > 0;)
		sift(v, nh, i);
	for (size_t i = nh; i < k; i++)
		if (nh > 0 && by_key(&v[i], &v[0]) < 0) {
			v[0] = v[i];
			sift(v, nh, 0);
		}
	qsort(v, nh, sizeof(*v), by_key);
	return nh;
}

struct totals {
	uint64_t ranges, leaders, leaderless, unavailable, asleep;
	double writes, reads;
};

static void totals_json(struct rk_json *j, const struct totals *t)
{
	rk_json_key(j, "totals");
	rk_json_obj_begin(j);
	rk_json_key(j, "ranges");
	rk_json_u64(j, t->ranges);
	rk_json_key(j, "leaders");
	rk_json_u64(j, t->leaders);
	rk_json_key(j, "leaderless");
	rk_json_u64(j, t->leaderless);
	rk_json_key(j, "unavailable");
	rk_json_u64(j, t->unavailable);
	rk_json_key(j, "asleep");
	rk_json_u64(j, t->asleep);
	rk_json_key(j, "writes_per_sec");
	rk_json_f64(j, t->writes, 1);
	rk_json_key(j, "reads_per_sec");
	rk_json_f64(j, t->reads, 1);
	rk_json_obj_end(j);
}

/* The top `limit` of the kept entries v[0..k) by the figure, with the
 * totals over all of them (the leaders, leaderless, asleep and the load
 * are this node's replicas': the others' are not known here). */
static void sorted(struct rk_node *n, const struct list_q *q, struct ent *v, size_t k,
		   struct rk_json *j)
{
	uint64_t now = uv_now(&n->loop);
	struct totals t = {0};

	for (size_t i = 0; i < k; i++) {
		const struct rk_replica *r = v[i].r;

		t.ranges++;
		t.unavailable += unavailable(n, &v[i]);
		v[i].key = sort_key(n, &v[i], q->by, now);
		if (r == NULL)
			continue;
		t.leaders += rk_raft_is_leader(&r->raft);
		t.leaderless += rk_raft_leader(&r->raft) == 0;
		t.asleep += r->asleep;
		t.writes += rk_rate_get(&r->load.writes, now);
		t.reads += rk_rate_get(&r->load.reads, now);
	}
	k = top(v, k, q->limit); /* the first k of v, in order */
	rk_json_obj_begin(j);
	rk_json_key(j, "ranges");
	rk_json_arr_begin(j);
	for (size_t i = 0; i < k; i++)
		ent_json(n, j, &v[i]);
	rk_json_arr_end(j);
	rk_json_key(j, "next"); /* sorted lists are not paged */
	rk_json_null(j);
	totals_json(j, &t);
	rk_json_obj_end(j);
}

/* The kept entries v[0..k) (by id, all above after) as a page. */
static void page(struct rk_node *n, const struct list_q *q, const struct ent *v, size_t k,
		 bool more, struct rk_json *j)
{
	size_t shown = k < q->limit ? k : q->limit;

	rk_json_obj_begin(j);
	rk_json_key(j, "ranges");
	rk_json_arr_begin(j);
	for (size_t i = 0; i < shown; i++)
		ent_json(n, j, &v[i]);
	rk_json_arr_end(j);
	/* A next page exists if a later range is kept. */
	rk_json_key(j, "next");
	if (shown > 0 && (k > shown || more))
		rk_json_u64(j, v[shown - 1].d->range_id);
	else
		rk_json_null(j);
	rk_json_obj_end(j);
}

/* The answer from the index's descriptors (from_index) joined with this
 * node's replicas up to the last id read (all when the index is read to
 * its end), or from the replicas alone. */
static void render(struct job *jb, bool from_index, struct rk_http_resp *resp)
{
	struct rk_node *n = jb->n;
	uint64_t upto = from_index && jb->more && jb->nd > 0 ? jb->descs[jb->nd - 1].range_id
							     : UINT64_MAX;
	size_t un = rk_table_user_n(&n->tab), k = 0, i = 0;
	struct ent *v = malloc((jb->nd + un + 1) * sizeof(*v));
	struct rk_json j;

	resp->headers = from_index ? "X-Rangekv-Source: index\r\n" : "X-Rangekv-Source: local\r\n";
	if (v == NULL) {
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	if (from_index)
		for (i = 0; i < jb->nd; i++)
			v[k++] = ent_of(n, &jb->descs[i]);
	/* Replicas the index has not got (by id: both lists are sorted). */
	for (size_t t = 0, d = 0; t < un; t++) {
		const struct rk_replica *r = n->tab.byid[t];

		if (r->range <= jb->q.after || r->range > upto || hosted(n, r->range) == NULL)
			continue;
		while (from_index && d < jb->nd && jb->descs[d].range_id < r->range)
			d++;
		if (from_index && d < jb->nd && jb->descs[d].range_id == r->range)
			continue;
		v[k++] = (struct ent){&r->desc, r, 0};
	}
	qsort(v, k, sizeof(*v), by_id);
	{
		size_t w = 0; /* the filters, in place */
		for (i = 0; i < k; i++)
			if (kept(n, &jb->q, &v[i]))
				v[w++] = v[i];
		k = w;
	}
	rk_json_init(&j, &resp->body);
	if (jb->q.has_sort)
		sorted(n, &jb->q, v, k, &j);
	else
		page(n, &jb->q, v, k, from_index && jb->more, &j);
	free(v);
}

/* render's answer to a deferred call. */
static void answer(struct job *jb, bool from_index)
{
	struct rk_http_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = "application/json";
	rk_buf_init(&resp.body);
	render(jb, from_index, &resp);
	rk_http_answer(jb->l, &resp);
	rk_buf_free(&resp.body);
}

/* ---- reading the index ------------------------------------------------------------ */

static void job_free(struct job *jb)
{
	for (size_t i = 0; i < jb->nd; i++)
		rk_desc_free(&jb->descs[i]);
	free(jb->descs);
	free(jb);
}

/* How many ranges to ask the index for at a time: an unfiltered page
 * needs its limit and one more, the others as many as a page holds. */
static uint32_t page_ask(const struct list_q *q)
{
	if (q->has_sort || q->has_node || q->unavailable || q->limit + 1 >= RK_PL_PAGE_MAX)
		return RK_PL_PAGE_MAX;
	return (uint32_t)q->limit + 1;
}

/* Whether the list has what it shows: one kept range more than a page
 * (the sorted list needs them all). */
static bool enough(const struct job *jb)
{
	return !jb->q.has_sort && jb->kept > jb->q.limit;
}

/* Takes pg's descriptors (not copied: 100,000 ranges make ten pages);
 * whether the list needs the next page. */
static bool take(struct job *jb, struct rk_pl_page *pg)
{
	struct rk_node *n = jb->n;

	if (jb->nd == 0 && jb->descs == NULL) {
		jb->descs = pg->descs;
		jb->nd = jb->cap = pg->n;
		pg->descs = NULL;
		pg->n = 0;
	} else if (pg->n > 0) {
		struct rk_desc *d = realloc(jb->descs, (jb->nd + pg->n) * sizeof(*d));
		if (d != NULL) {
			memcpy(d + jb->nd, pg->descs, pg->n * sizeof(*d));
			jb->descs = d;
			jb->nd += pg->n;
			jb->cap = jb->nd;
			free(pg->descs);
			pg->descs = NULL;
			pg->n = 0;
		}
	}
	jb->more = pg->next != 0;
	/* The plain and filtered lists need one kept range more than they
	 * show; the sorted one needs them all, and counts nothing here. */
	if (!jb->q.has_sort)
		for (size_t i = jb->counted; i < jb->nd; i++) {
			struct ent e = ent_of(n, &jb->descs[i]);
			jb->kept += kept(n, &jb->q, &e);
		}
	jb->counted = jb->nd;
	return jb->more && !enough(jb);
}

/* A page from another node's replica of the group (rk_pix_read). */
static void on_page(void *arg, int rc, struct rk_pl_page *pg)
{
	struct job *jb = arg;

	if (rc != 0) {
		answer(jb, false); /* the index cannot be read: this node's own */
		job_free(jb);
		return;
	}
	if (take(jb, pg) && rk_pix_read(jb->n, pg->next, page_ask(&jb->q), on_page, jb) == 0)
		return;
	answer(jb, true);
	job_free(jb);
}

/* ---- the call ----------------------------------------------------------------------- */

/* The query's parameters into *q; false when it answered 400. */
static bool parse(const struct rk_http_req *req, struct list_q *q, struct rk_http_resp *resp)
{
	char sort[16], v[32];

	memset(q, 0, sizeof(*q));
	q->has_sort = rk_http_query(req, "sort", sort, sizeof(sort));
	q->has_node = rk_http_query(req, "node", v, sizeof(v));
	if (q->has_node && (!rk_api_parse_u64(v, &q->node) || q->node == 0)) {
		rk_api_error(resp, 400, "node must be a node id (1 or more)");
		return false;
	}
	if (rk_http_query(req, "unavailable", v, sizeof(v))) {
		if (strcmp(v, "1") != 0 && strcmp(v, "true") != 0) {
			rk_api_error(resp, 400, "unavailable must be 1 or true");
			return false;
		}
		q->unavailable = true;
	}
	if (q->has_sort) {
		if (strcmp(sort, "size") == 0)
			q->by = BY_SIZE;
		else if (strcmp(sort, "writes") == 0)
			q->by = BY_WRITES;
		else if (strcmp(sort, "reads") == 0)
			q->by = BY_READS;
		else {
			rk_api_error(resp, 400, "sort must be size, writes or reads");
			return false;
		}
	}
	q->limit = q->has_sort ? 100 : 1000;
	if (rk_http_query(req, "limit", v, sizeof(v)) &&
	    (!rk_api_parse_u64(v, &q->limit) || q->limit == 0 ||
	     q->limit > (q->has_sort ? SORTED_MAX : 100000))) {
		rk_api_error(resp, 400, q->has_sort ?
			     "limit must be a whole number from 1 to 1000 with sort" :
			     "limit must be a whole number from 1 to 100000");
		return false;
	}
	if (rk_http_query(req, "after", v, sizeof(v))) {
		if (q->has_sort) {
			rk_api_error(resp, 400, "a sorted list is not paged: no after= with sort");
			return false;
		}
		if (!rk_api_parse_u64(v, &q->after)) {
			rk_api_error(resp, 400, "after must be a range id");
			return false;
		}
	}
	return true;
}

void rk_api_ranges_list(struct rk_node *n, const struct rk_http_req *req,
			struct rk_http_resp *resp)
{
	struct job *jb;
	int rc;

	jb = calloc(1, sizeof(*jb));
	if (jb == NULL) {
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	jb->n = n;
	if (!parse(req, &jb->q, resp)) {
		free(jb);
		return;
	}
	/* This node's replica of the group: every page read now, on the
	 * loop, and answered at once (a page per loop turn would make a
	 * listing of 100,000 ranges wait for ten turns of a busy loop). */
	for (uint64_t after = jb->q.after;;) {
		struct rk_pl_page pg;
		bool again;

		rc = rk_pix_read_now(n, after, page_ask(&jb->q), &pg);
		if (rc == RK_ENOTFOUND)
			break; /* none here: asked of another node below */
		if (rc != 0) {
			render(jb, false, resp);
			job_free(jb);
			return;
		}
		again = take(jb, &pg);
		after = pg.next;
		rk_pl_page_free(&pg);
		if (!again) {
			render(jb, true, resp);
			job_free(jb);
			return;
		}
	}
	if ((jb->l = rk_http_defer(req)) == NULL) {
		free(jb);
		rk_api_error(resp, 503, "out of memory");
		return;
	}
	rc = rk_pix_read(n, jb->nd > 0 ? jb->descs[jb->nd - 1].range_id : jb->q.after,
			 page_ask(&jb->q), on_page, jb);
	if (rc != 0) { /* no placement group: this node's replicas */
		answer(jb, false);
		job_free(jb);
	}
}
