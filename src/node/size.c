/*
 * Measuring the size of ranges off the loop (size.h).
 */
#include <stdlib.h>
#include <string.h>

#include "autosplit.h"
#include "log.h"
#include "node_int.h"
#include "size.h"

#define MOD "size"

struct one {
	uint64_t range, generation, changes, unsure;
	int64_t delta;
	uint32_t epoch;
	uint8_t *start, *end;
	uint32_t slen, elen;
	uint64_t bytes;
	int rc;
};

struct job {
	uv_work_t req;
	struct rk_node *n;
	struct one *v;
	size_t nv, cap;
	bool oom;
};

struct collect {
	struct job *j;
	uint32_t now_s;
};

static void collect_one(struct rk_replica *r, void *arg)
{
	struct collect *c = arg;
	struct job *j = c->j;
	struct rk_load *l = &r->load;
	struct one *o;

	/* Not an uninitialized replica: no span yet (an empty one would be
	 * the whole key space), nor one leaving. */
	if (j->oom || j->nv == RK_SIZE_BATCH || r->installing || r->desc.n_reps == 0 ||
	    rk_range_reserved(r->range) || /* no span: desc.h */
	    r->removing || !rk_size_due(l, r->size_bytes, c->now_s))
		return;
	if (j->nv == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		struct one *v = realloc(j->v, cap * sizeof(*v));
		if (v == NULL) {
			j->oom = true;
			return;
		}
		j->v = v;
		j->cap = cap;
	}
	o = &j->v[j->nv];
	memset(o, 0, sizeof(*o));
	o->start = malloc(r->desc.slen + 1);
	o->end = malloc(r->desc.elen + 1);
	if (o->start == NULL || o->end == NULL) {
		free(o->start);
		free(o->end);
		j->oom = true;
		return;
	}
	memcpy(o->start, r->desc.start, r->desc.slen);
	memcpy(o->end, r->desc.end, r->desc.elen);
	o->slen = r->desc.slen;
	o->elen = r->desc.elen;
	o->range = r->range;
	o->generation = r->desc.generation;
	o->changes = l->changes;
	o->delta = l->delta;
	o->unsure = l->unsure;
	o->epoch = l->size_epoch;
	j->nv++;
}

static int add_pair(void *arg, int table, const void *k, size_t kl,
		    const void *v, size_t vl)
{
	(void)k;
	(void)v;
	if (table == 0) /* user data; sequences and sessions are not */
		*(uint64_t *)arg += kl + vl;
	return 0;
}

static void job_run(uv_work_t *req)
{
	struct job *j = req->data;
	struct rk_store_reader *rd;
	int rc = rk_store_reader_open(j->n->store, &rd);

	for (size_t i = 0; i < j->nv; i++) {
		struct one *o = &j->v[i];
		o->rc = rc != 0 ? rc :
			rk_store_scan_span_lens(rd, 0, o->start, o->slen, o->end,
						o->elen, add_pair, &o->bytes, NULL);
	}
	if (rc == 0)
		rk_store_reader_close(rd);
}

static void job_done(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct rk_node *n = j->n;
	uint32_t now_s = (uint32_t)(uv_now(&n->loop) / 1000);

	(void)status;
	for (size_t i = 0; i < j->nv; i++) {
		struct one *o = &j->v[i];
		struct rk_replica *r = rk_table_get(&n->tab, o->range);
		/* The span may have moved or been replaced meanwhile (a
		 * snapshot installed): measured again then. A stopping node
		 * keeps no figure: the lists a touch grows (autosplit, rfig)
		 * are freed already, and grown again they leaked. */
		if (n->stopping)
			r = NULL;
		if (o->rc == 0 && r != NULL && r->desc.generation == o->generation &&
		    r->load.size_epoch == o->epoch && !r->installing) {
			struct rk_load *l = &r->load;

			/* What was applied after the collection is counted
			 * from delta_mark on; the scan may have seen some of it
			 * too (too large by that), so a range written during
			 * its scan is measured again once quiet. */
			r->size_bytes = o->bytes;
			l->size_known = true;
			l->size_fuzzy = l->changes != o->changes;
			l->size_mark = o->changes;
			l->delta_mark = o->delta;
			l->unsure_mark = o->unsure;
			l->size_sec = now_s;
			rk_own_size(n, r);
			n->sizes.measured++;
			rk_autosplit_touch(n, r); /* a new figure */
			rk_rfig_touch(n, r);
		} else if (o->rc != 0) {
			rk_log_warn(MOD, "range %llu: size not measured: %s",
				    (unsigned long long)o->range, rk_strerror(o->rc));
		}
		free(o->start);
		free(o->end);
	}
	free(j->v);
	free(j);
	n->sizes.running = false;
	n->sizes.jobs++;
}

void rk_size_applied(struct rk_node *n, struct rk_replica *r, int64_t delta,
		     uint64_t unsure)
{
	struct rk_load *l = &r->load;

	if (delta == 0 && unsure == 0)
		return;
	l->changes++;
	l->delta += delta;
	l->unsure += unsure;
	l->change_sec = (uint32_t)(uv_now(&n->loop) / 1000);
	rk_own_size(n, r);
}

uint64_t rk_size_of(const struct rk_replica *r)
{
	const struct rk_load *l = &r->load;
	int64_t v;

	if (!l->size_known)
		return 0;
	v = (int64_t)r->size_bytes + (l->delta - l->delta_mark);
	return v > 0 ? (uint64_t)v : 0;
}

bool rk_size_due(const struct rk_load *l, uint64_t bytes, uint32_t now_s)
{
	uint64_t unsure = l->unsure - l->unsure_mark, bar = bytes / 4;
	bool quiet = now_s - l->change_sec >= RK_SIZE_MIN_AGE_S;

	if (!l->size_known)
		return true;
	if (l->changes == l->size_mark || now_s - l->size_sec < RK_SIZE_MIN_AGE_S)
		return false;
	if (unsure >= (bar > RK_SIZE_UNSURE_MIN ? bar : RK_SIZE_UNSURE_MIN))
		return true;
	if (quiet && (l->size_fuzzy || (unsure > 0 && bytes <= RK_SIZE_QUIET_MAX)))
		return true;
	return unsure > 0 && now_s - l->size_sec >= RK_SIZE_MAX_AGE_S;
}

/* Whether r's figure is settled: no scan is due for it until it applies
 * something (rk_size_due: known, and nothing applied since its last scan
 * or nothing applied that it is unsure of, and its last scan did not
 * race), or it is never measured here (no span, a reserved range,
 * leaving). */
static bool settled(const struct rk_replica *r)
{
	const struct rk_load *l = &r->load;

	return (l->size_known && (l->changes == l->size_mark ||
				  (l->unsure == l->unsure_mark && !l->size_fuzzy))) ||
	       r->desc.n_reps == 0 || rk_range_reserved(r->range) || r->removing;
}

void rk_size_note_sleep(struct rk_node *n, struct rk_replica *r)
{
	struct rk_sizes *s = &n->sizes;

	/* Out of memory: looked at again when it wakes and sleeps again. */
	if (r->size_watched || settled(r) ||
	    rk_grow((void **)&s->watch, &s->cap_watch, s->n_watch, sizeof(*s->watch)) != 0)
		return;
	s->watch[s->n_watch++] = r->range;
	r->size_watched = true;
}

void rk_size_unknown(struct rk_node *n, struct rk_replica *r)
{
	r->load.size_known = false;
	r->load.size_epoch++;
	rk_own_size(n, r);
	if (r->asleep)
		rk_size_note_sleep(n, r);
}

/* The watched sleepers: a slice of them from the cursor, each collected
 * if due (rk_size_due) and kept until settled; an awake one is left to
 * the awake walk (noted again when it sleeps). Dropped entries are
 * squeezed out once they are half the list. */
#define SLICE 8192

static void watch_visit(struct rk_node *n, struct collect *c)
{
	struct rk_sizes *s = &n->sizes;

	for (size_t k = 0; k < SLICE && k < s->n_watch; k++) {
		struct rk_replica *r;

		if (s->cursor >= s->n_watch)
			s->cursor = 0;
		if (s->watch[s->cursor] == 0) {
			s->cursor++;
			continue;
		}
		r = rk_table_get(&n->tab, s->watch[s->cursor]);
		if (r == NULL || !r->asleep || settled(r)) {
			if (r != NULL)
				r->size_watched = false;
			s->watch[s->cursor] = 0;
			s->dead++;
		} else {
			collect_one(r, c);
		}
		s->cursor++;
	}
	if (s->dead * 2 > s->n_watch) {
		size_t k = 0;
		for (size_t i = 0; i < s->n_watch; i++)
			if (s->watch[i] != 0)
				s->watch[k++] = s->watch[i];
		s->n_watch = k;
		s->dead = 0;
		s->cursor = 0;
	}
}

void rk_size_refresh(struct rk_node *n)
{
	struct collect c;
	struct job *j;

	if (n->sizes.running || n->stopping)
		return;
	/* The replicas loaded at start sleep with no figure: watched from
	 * the first refresh (one walk of the table). */
	if (!n->sizes.seeded) {
		n->sizes.seeded = true;
		for (size_t i = 0; i < n->tab.n; i++)
			if (n->tab.byid[i]->asleep)
				rk_size_note_sleep(n, n->tab.byid[i]);
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	j->n = n;
	c.j = j;
	c.now_s = (uint32_t)(uv_now(&n->loop) / 1000);
	rk_table_visit_some(&n->tab, NULL, 0, collect_one, &c);
	watch_visit(n, &c);
	j->req.data = j;
	if (j->nv == 0 || uv_queue_work(&n->loop, &j->req, job_run, job_done) != 0) {
		for (size_t i = 0; i < j->nv; i++) {
			free(j->v[i].start);
			free(j->v[i].end);
		}
		free(j->v);
		free(j);
		return;
	}
	n->sizes.running = true;
}

void rk_size_free(struct rk_sizes *s)
{
	free(s->watch);
	s->watch = NULL;
	s->n_watch = s->cap_watch = s->dead = s->cursor = 0;
}
