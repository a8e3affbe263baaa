/*
 * The merge commands (src/kv/merge.c): their encoding, the merged
 * descriptor, the sessions' union, and FREEZE, MERGE, MERGE_ABORT and
 * UNFREEZE applied into a real store (a temporary directory), with the
 * merge callback doing what the node does: the left absorbs the span and
 * the sessions, the right replica's states go in the same batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kv.h"
#include "store.h"
#include "util.h"

/* ---- descriptors ---------------------------------------------------------------- */

/* Left [b, m) range 1 and right [m, yy) range 2, generation 4, replicas
 * on nodes 1, 2, 3 (the third a learner), as a split leaves them. */
static void mk_desc(struct rk_desc *d, uint64_t id, const char *s, const char *e,
		    uint64_t conf)
{
	struct rk_desc_replica reps[3] = {
		{1, 1, RK_DESC_VOTER}, {2, 2, RK_DESC_VOTER}, {3, 3, RK_DESC_LEARNER}};
	struct rk_desc t = {.range_id = id, .generation = 4, .conf_version = conf,
			    .next_replica_id = 4, .reps = reps, .n_reps = 3};

	memset(d, 0, sizeof(*d));
	assert_int_equal(rk_desc_copy(d, &t), 0);
	assert_int_equal(rk_desc_set_span(d, s, strlen(s), e, strlen(e)), 0);
}

static struct rk_kv_merge mk_merge(uint8_t op)
{
	struct rk_kv_merge m = {op, 1, 2, 4, 2, 4, 1, 0, 0, (const uint8_t *)"yy", 2};

	if (op == RK_KV_MERGE) {
		m.frozen_index = 17;
		m.frozen_term = 3;
	}
	return m;
}

static void merge_cmd(struct rk_buf *b, const struct rk_kv_merge *m)
{
	rk_buf_init(b);
	rk_kv_merge_encode(b, m);
	assert_false(b->oom);
}

static void test_merge_encoding(void **state)
{
	const uint8_t ops[] = {RK_KV_FREEZE, RK_KV_MERGE, RK_KV_MERGE_ABORT, RK_KV_UNFREEZE};
	struct rk_kv_merge m, d;
	struct rk_kv_cmd c;
	struct rk_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		m = mk_merge(ops[i]);
		m.right_id = (UINT64_C(0xffffff) << 40) | 7; /* over 2^53 */
		merge_cmd(&b, &m);
		assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
		assert_int_equal(c.op, ops[i]);
		assert_int_equal(rk_kv_merge_decode(&c, &d), 0);
		assert_int_equal(d.op, ops[i]);
		assert_int_equal(d.left_id, 1);
		assert_true(d.right_id == m.right_id);
		assert_int_equal(d.left_gen, 4);
		assert_int_equal(d.left_conf, 2);
		assert_int_equal(d.right_gen, 4);
		assert_int_equal(d.right_conf, 1);
		assert_int_equal(d.frozen_index, m.frozen_index);
		assert_int_equal(d.frozen_term, m.frozen_term);
		assert_int_equal(d.elen, 2);
		assert_memory_equal(d.end, "yy", 2);
		/* Every truncation is refused by one decoder or the other. */
		for (size_t l = 0; l < b.len; l++)
			assert_true(rk_kv_cmd_decode((const uint8_t *)b.p, l, &c) != 0 ||
				    rk_kv_merge_decode(&c, &d) != 0);
		/* So is a merge command in a session, or of another shape. */
		assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
		c.session = 3;
		assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
		c.session = 0;
		c.nargs = 1;
		assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
		c.nargs = 2;
		c.op = RK_KV_SPLIT;
		assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
		rk_buf_free(&b);
	}
	/* An unbounded end; ids that cannot name two ranges; a MERGE
	 * without the right's frozen index. */
	m = mk_merge(RK_KV_FREEZE);
	m.elen = 0;
	merge_cmd(&b, &m);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_merge_decode(&c, &d), 0);
	assert_int_equal(d.elen, 0);
	rk_buf_free(&b);
	m = mk_merge(RK_KV_FREEZE);
	m.right_id = 1;
	merge_cmd(&b, &m);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
	m = mk_merge(RK_KV_MERGE);
	m.frozen_index = 0;
	merge_cmd(&b, &m);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
	m = mk_merge(RK_KV_MERGE);
	m.frozen_term = 0;
	merge_cmd(&b, &m);
	assert_int_equal(rk_kv_cmd_decode((const uint8_t *)b.p, b.len, &c), 0);
	assert_int_equal(rk_kv_merge_decode(&c, &d), RK_EPROTO);
	rk_buf_free(&b);
}

static void test_merge_desc(void **state)
{
	struct rk_desc l, r, d;
	struct rk_kv_merge m = mk_merge(RK_KV_MERGE);

	(void)state;
	mk_desc(&l, 1, "b", "m", 2);
	mk_desc(&r, 2, "m", "yy", 1);
	memset(&d, 0, sizeof(d));
	assert_true(rk_kv_merge_same_replicas(&l, &r));
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), 0);
	assert_int_equal(d.range_id, 1);
	assert_int_equal(d.generation, 5);
	assert_int_equal(d.conf_version, 2);
	assert_memory_equal(d.start, "b", 1);
	assert_int_equal(d.elen, 2);
	assert_memory_equal(d.end, "yy", 2);
	assert_int_equal(d.n_reps, 3);
	/* A newer right: the merged generation is above both. */
	r.generation = m.right_gen = 9;
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), 0);
	assert_int_equal(d.generation, 10);
	rk_desc_free(&d);
	/* Refusals change nothing. */
	m = mk_merge(RK_KV_MERGE);
	r.generation = 4;
	m.left_gen = 3; /* stale: the left split or merged meanwhile */
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ESTATE);
	m = mk_merge(RK_KV_MERGE);
	m.right_gen = 5;
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ESTATE);
	assert_int_equal(rk_kv_freeze_check(&r, &m), RK_ESTATE);
	m = mk_merge(RK_KV_MERGE);
	m.left_conf = 3; /* a membership change in between */
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ESTATE);
	m = mk_merge(RK_KV_MERGE);
	m.end = (const uint8_t *)"z";
	m.elen = 1;
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ERANGE);
	m = mk_merge(RK_KV_MERGE);
	assert_int_equal(rk_desc_set_span(&r, "n", 1, "yy", 2), 0); /* a gap */
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ERANGE);
	assert_int_equal(rk_desc_set_span(&r, "m", 1, "yy", 2), 0);
	r.reps[2].role = RK_DESC_VOTER; /* roles differ */
	assert_false(rk_kv_merge_same_replicas(&l, &r));
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_EINVAL);
	r.reps[2].role = RK_DESC_LEARNER;
	r.reps[2].node_id = 4; /* nodes differ */
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_EINVAL);
	r.reps[2].node_id = 3;
	l.reps[1].role = RK_DESC_VOTER_INCOMING; /* a joint configuration */
	assert_false(rk_kv_merge_same_replicas(&l, &r));
	l.reps[1].role = RK_DESC_VOTER;
	r.reps[1].replica_id = 2; /* replica ids may differ: the same set */
	assert_true(rk_kv_merge_same_replicas(&l, &r));
	assert_null(d.reps);
	/* An abort moves the left's generation, so the MERGE never applies. */
	m = mk_merge(RK_KV_MERGE_ABORT);
	assert_int_equal(rk_kv_merge_abort_desc(&l, &m), 0);
	assert_int_equal(l.generation, 5);
	assert_int_equal(rk_kv_merge_abort_desc(&l, &m), RK_ESTATE);
	m = mk_merge(RK_KV_MERGE);
	assert_int_equal(rk_kv_merge_desc(&l, &r, &m, &d), RK_ESTATE);
	rk_desc_free(&l);
	rk_desc_free(&r);
}

/* ---- sessions ------------------------------------------------------------------- */

static void sess_add(struct rk_kv_sessions *s, uint64_t id, uint64_t last,
		     uint64_t fi, uint64_t seq, const char *resp)
{
	struct rk_kv_session *x = NULL;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].id == id)
			x = &s->v[i];
	if (x == NULL) {
		s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
		if (s->v == NULL)
			abort();
		x = &s->v[s->n++];
		s->cap = s->n;
		memset(x, 0, sizeof(*x));
		x->id = id;
	}
	x->last_ms = last;
	x->first_incomplete = fi;
	x->recs = realloc(x->recs, (x->n + 1) * sizeof(*x->recs));
	if (x->recs == NULL)
		abort();
	x->cap = x->n + 1;
	x->recs[x->n].seq = seq;
	x->recs[x->n].len = (uint32_t)strlen(resp);
	x->recs[x->n].resp = (uint8_t *)strdup(resp);
	x->n++;
}

static const struct rk_kv_session *sess_get(const struct rk_kv_sessions *s,
					    uint64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].id == id)
			return &s->v[i];
	abort(); /* every session asked for is there */
}

static void test_sessions_union(void **state)
{
	struct rk_kv_sessions l, r, t;
	const struct rk_kv_session *x;
	struct rk_buf b;

	(void)state;
	memset(&l, 0, sizeof(l));
	memset(&r, 0, sizeof(r));
	memset(&t, 0, sizeof(t));
	l.now_ms = 100;
	r.now_ms = 300;
	sess_add(&l, 7, 90, 5, 5, ":1\r\n");   /* both: the left's records */
	sess_add(&l, 7, 90, 5, 6, ":2\r\n");
	sess_add(&r, 7, 250, 6, 6, ":2\r\n");  /* the right: a higher mark */
	sess_add(&r, 7, 250, 6, 8, "+OK\r\n");
	sess_add(&r, 9, 280, 1, 1, "+OK\r\n"); /* the right only */
	sess_add(&l, 11, 50, 3, 3, ":9\r\n");  /* the left only */
	assert_int_equal(rk_kv_sessions_union(&l, &r), 0);
	assert_int_equal(l.now_ms, 300);
	assert_int_equal(rk_kv_sessions_count(&l), 3);
	x = sess_get(&l, 7);
	assert_int_equal(x->last_ms, 250);
	/* The lower mark: the left's writes from 5 on may still wait. */
	assert_int_equal(x->first_incomplete, 5);
	assert_int_equal(x->n, 3); /* 5, 6 once, 8 */
	assert_int_equal(x->recs[0].seq + x->recs[1].seq + x->recs[2].seq, 19);
	assert_int_equal(sess_get(&l, 9)->n, 1);
	assert_int_equal(sess_get(&l, 11)->n, 1);
	assert_int_equal(l.marks_held_until, 300 + RK_KV_MERGE_HOLD_MS);
	/* The frozen mark travels with the table, and a table that is not
	 * frozen keeps its old bytes. */
	rk_buf_init(&b);
	rk_kv_sessions_encode(&l, &b);
	assert_int_equal(((const uint8_t *)b.p)[0], 2); /* marks held */
	rk_buf_reset(&b);
	rk_kv_sessions_encode(&t, &b); /* empty: neither frozen nor held */
	assert_int_equal(((const uint8_t *)b.p)[0], 1);
	rk_buf_reset(&b);
	r.frozen = 1;
	r.marks_held_until = 77;
	rk_kv_sessions_encode(&r, &b);
	assert_int_equal(rk_kv_sessions_decode((const uint8_t *)b.p, b.len, &t), 0);
	assert_int_equal(t.frozen, 1);
	assert_int_equal(t.marks_held_until, 77);
	assert_int_equal(rk_kv_sessions_count(&t), 2);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(rk_kv_sessions_decode((const uint8_t *)b.p, n, &t), RK_EPROTO);
	rk_buf_free(&b);
	rk_kv_sessions_free(&t);
	rk_kv_sessions_free(&l);
	rk_kv_sessions_free(&r);
}

/* ---- applying into a real store ------------------------------------------------ */

struct side {
	struct rk_desc desc;
	struct rk_kv_sessions sess;
	struct rk_kv_applier a;
};

struct fx {
	char dir[512];
	struct rk_store *s;
	struct rk_store_reader *r;
	struct side left, right;
	int calls;
	char res[8][256];
	size_t nres;
};

static void write_apply_state(struct rk_store_batch *b, const struct side *x,
			      uint64_t applied)
{
	struct rk_store_apply_state as;
	struct rk_buf blob;

	rk_buf_init(&blob);
	assert_int_equal(rk_desc_encode(&x->desc, &blob), 0);
	rk_kv_sessions_encode(&x->sess, &blob);
	assert_false(blob.oom);
	as.applied = applied;
	as.desc = blob.p;
	as.desc_len = blob.len;
	rk_store_batch_apply_state(b, x->desc.range_id, &as);
	rk_buf_free(&blob);
}

/* What the node does (src/node/merge.c), on the fixture's descriptors. */
static int on_merge(void *arg, int op, const struct rk_kv_merge *m, int *refusedp)
{
	struct fx *f = arg;

	f->calls++;
	switch (op) {
	case RK_KV_FREEZE:
	case RK_KV_UNFREEZE:
		*refusedp = rk_kv_freeze_check(&f->right.desc, m);
		return 0;
	case RK_KV_MERGE_ABORT:
		*refusedp = rk_kv_merge_abort_desc(&f->left.desc, m);
		return 0;
	default:
		break;
	}
	*refusedp = rk_kv_merge_desc(&f->left.desc, &f->right.desc, m, &f->left.desc);
	if (*refusedp != 0)
		return 0;
	assert_int_equal(rk_kv_sessions_union(&f->left.sess, &f->right.sess), 0);
	rk_store_batch_remove_uninit(f->left.a.batch, m->right_id, 4);
	f->left.a.start = f->left.desc.start; /* the old one's bytes are freed */
	f->left.a.slen = f->left.desc.slen;
	f->left.a.end = f->left.desc.end;
	f->left.a.elen = f->left.desc.elen;
	return 0;
}

static void side_init(struct fx *f, struct side *x, uint64_t id, const char *s,
		      const char *e, uint64_t conf)
{
	mk_desc(&x->desc, id, s, e, conf);
	assert_int_equal(rk_kv_applier_init(&x->a), 0);
	x->a.reader = f->r;
	x->a.sessions = &x->sess;
	x->a.start = x->desc.start;
	x->a.slen = x->desc.slen;
	x->a.end = x->desc.end;
	x->a.elen = x->desc.elen;
	x->a.merge = on_merge;
	x->a.merge_arg = f;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_store_raft_state rs;
	struct rk_raft_entry e = {5, 11, 0, 0, NULL};
	char err[256];

	if (f == NULL || b == NULL)
		return -1;
	tmpdir_make(f->dir, sizeof(f->dir), "kvmerge");
	if (store_open_at(f->dir, 1, 77, &f->s, err, sizeof(err)) != 0 ||
	    rk_store_reader_open(f->s, &f->r) != 0)
		return -1;
	side_init(f, &f->left, 1, "b", "m", 2);
	side_init(f, &f->right, 2, "m", "yy", 1);
	/* The right replica as a node holds it: raft state, a log entry,
	 * apply state. */
	memset(&rs, 0, sizeof(rs));
	rs.replica_id = 1;
	rs.hs.term = 5;
	rs.hs.commit = 11;
	rk_store_batch_raft_state(b, 2, &rs);
	rk_store_batch_append(b, 2, &e, 1);
	write_apply_state(b, &f->left, 10);
	write_apply_state(b, &f->right, 10);
	if (rk_store_write(f->s, b) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct side *sides[2] = {&f->left, &f->right};

	for (int i = 0; i < 2; i++) {
		rk_kv_applier_close(&sides[i]->a);
		rk_kv_sessions_free(&sides[i]->sess);
		rk_desc_free(&sides[i]->desc);
	}
	rk_store_reader_close(f->r);
	rk_store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void on_result(void *arg, uint32_t no, const uint8_t *resp, size_t len)
{
	struct fx *f = arg;

	assert_true(f->nres < 8 && len < sizeof(f->res[0]) && no == f->nres);
	memcpy(f->res[f->nres], resp, len);
	f->res[f->nres][len] = '\0';
	f->nres++;
}

/* A client write of session 9: op with key (and a value for PUT; INCR by
 * 1), its router's mark fi. */
static void write_fi(struct rk_buf *out, uint8_t op, uint64_t seq, uint64_t fi,
		     const char *k, const char *v)
{
	struct rk_kv_cmd c = {op, 0, 9, seq, fi, op == RK_KV_INCR ? 1 : 0, 0, NULL, 0};
	size_t start = out->len;

	rk_kv_cmd_begin(out, &c);
	rk_kv_cmd_arg(out, k, strlen(k));
	if (v != NULL)
		rk_kv_cmd_arg(out, v, strlen(v));
	rk_kv_cmd_finish(out, start, v != NULL ? 2 : 1);
}

static void write_cmd(struct rk_buf *out, uint8_t op, uint64_t seq,
		      const char *k, const char *v)
{
	write_fi(out, op, seq, 1, k, v);
}

/* Applies one entry of the commands in cmds (each a whole command) on x,
 * at index, in a batch of its own that also carries x's apply state, and
 * commits it. */
static void run(struct fx *f, struct side *x, uint64_t index,
		const struct rk_buf *cmds, size_t n)
{
	struct rk_store_batch *b = rk_store_batch_new();
	struct rk_buf e;

	assert_non_null(b);
	rk_buf_init(&e);
	rk_kv_entry_begin(&e, 1000 + index);
	for (size_t i = 0; i < n; i++)
		rk_kv_entry_add(&e, cmds[i].p, cmds[i].len);
	rk_kv_entry_finish(&e, (uint32_t)n);
	assert_false(e.oom);
	x->a.batch = b;
	f->nres = 0;
	assert_int_equal(rk_kv_apply_entry(&x->a, (const uint8_t *)e.p, e.len, on_result, f), 0);
	assert_int_equal(f->nres, n);
	write_apply_state(b, x, index);
	assert_int_equal(rk_store_write(f->s, b), 0);
	x->a.batch = NULL;
	rk_kv_applier_reset(&x->a);
	rk_buf_free(&e);
}

static const char *stored(struct fx *f, const char *k)
{
	static char v[256];
	const void *p;
	size_t l;

	if (rk_store_get(f->r, k, strlen(k), &p, &l) != 0)
		return NULL;
	assert_true(l < sizeof(v));
	memcpy(v, p, l);
	v[l] = '\0';
	return v;
}

static void cmds_free(struct rk_buf *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rk_buf_free(&c[i]);
}

static void test_merge_apply(void **state)
{
	struct fx *f = *state;
	struct rk_kv_merge m;
	struct rk_buf c[3];
	struct rk_store_raft_state rs;
	struct rk_store_apply_state as;
	struct rk_desc d;
	uint64_t min_id = 0, last = 0;
	size_t used;

	for (int i = 0; i < 3; i++)
		rk_buf_init(&c[i]);
	/* On the right: an INCR applies (recorded in session 9), then the
	 * FREEZE; a PUT after it is not applied, its reply retryable. */
	write_cmd(&c[0], RK_KV_INCR, 1, "q", NULL);
	m = mk_merge(RK_KV_FREEZE);
	rk_kv_merge_encode(&c[1], &m);
	write_cmd(&c[2], RK_KV_PUT, 2, "p", "r2");
	run(f, &f->right, 12, c, 3);
	assert_string_equal(f->res[0], ":1\r\n");
	assert_string_equal(f->res[1], "+OK\r\n");
	assert_string_equal(f->res[2], RK_KV_FROZEN_REPLY);
	assert_null(stored(f, "p"));
	assert_int_equal(f->right.sess.frozen, 1);
	cmds_free(c, 3);
	/* A second FREEZE and another left's UNFREEZE are refused. */
	rk_kv_merge_encode(&c[0], &m);
	m = mk_merge(RK_KV_UNFREEZE);
	m.left_id = 5;
	rk_kv_merge_encode(&c[1], &m);
	run(f, &f->right, 13, c, 2);
	assert_memory_equal(f->res[0], "-ERR merge refused", 18);
	assert_memory_equal(f->res[1], "-ERR unfreeze refused", 21);
	assert_int_equal(f->right.sess.frozen, 1);
	cmds_free(c, 2);
	/* On the left: the MERGE, then the INCR retried (answered from the
	 * right's record: not applied twice) and the PUT retried, which
	 * applies on the absorbed span. */
	m = mk_merge(RK_KV_MERGE);
	m.frozen_index = 12;
	rk_kv_merge_encode(&c[0], &m);
	write_cmd(&c[1], RK_KV_INCR, 1, "q", NULL);
	write_cmd(&c[2], RK_KV_PUT, 2, "p", "r2");
	run(f, &f->left, 20, c, 3);
	assert_string_equal(f->res[0], "+OK\r\n");
	assert_string_equal(f->res[1], ":1\r\n");
	assert_string_equal(f->res[2], "+OK\r\n");
	assert_string_equal(stored(f, "q"), "1");
	assert_string_equal(stored(f, "p"), "r2");
	/* One transaction: the left's stored descriptor spans both, the
	 * right's raft state, log and apply state are gone, its tombstone
	 * stays. */
	assert_int_equal(rk_store_read_apply_state(f->r, 1, &as), 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(rk_desc_decode(as.desc, as.desc_len, &d, &used), 0);
	assert_int_equal(d.generation, 5);
	assert_memory_equal(d.start, "b", 1);
	assert_int_equal(d.elen, 2);
	assert_memory_equal(d.end, "yy", 2);
	rk_desc_free(&d);
	assert_int_equal(rk_store_read_raft_state(f->r, 2, &rs), RK_ENOTFOUND);
	assert_int_equal(rk_store_read_apply_state(f->r, 2, &as), RK_ENOTFOUND);
	assert_int_equal(rk_store_log_last(f->r, 2, 0, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(rk_store_read_tombstone(f->r, 2, &min_id), 0);
	assert_int_equal(min_id, 4);
	cmds_free(c, 3);
	/* The same MERGE again (a replay) and one against a stale right
	 * generation: refused, nothing changed; an abort now is refused too
	 * (the merge applied). */
	m = mk_merge(RK_KV_MERGE);
	m.frozen_index = 12;
	rk_kv_merge_encode(&c[0], &m);
	m.left_gen = 5;
	m.right_gen = 3;
	rk_kv_merge_encode(&c[1], &m);
	m = mk_merge(RK_KV_MERGE_ABORT);
	rk_kv_merge_encode(&c[2], &m);
	run(f, &f->left, 21, c, 3);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(f->res[i], "-ERR merge refused", 18);
	assert_int_equal(f->left.desc.generation, 5);
	assert_int_equal(f->left.a.elen, 2);
	cmds_free(c, 3);
	/* The marks are held after the merge: a later write marked 9 (its
	 * router's mark for the left) does not make seq 4, which its router
	 * still retried for the right, a duplicate. Past the hold, it does. */
	write_fi(&c[0], RK_KV_PUT, 10, 9, "c", "x");
	write_fi(&c[1], RK_KV_PUT, 4, 4, "r", "y");
	run(f, &f->left, 22, c, 2);
	assert_string_equal(f->res[0], "+OK\r\n");
	assert_string_equal(f->res[1], "+OK\r\n");
	assert_string_equal(stored(f, "r"), "y");
	cmds_free(c, 2);
	write_fi(&c[0], RK_KV_PUT, 11, 9, "c", "z");
	write_fi(&c[1], RK_KV_PUT, 5, 5, "s", "w");
	run(f, &f->left, 1020 + RK_KV_MERGE_HOLD_MS, c, 2);
	assert_string_equal(f->res[0], "+OK\r\n");
	assert_memory_equal(f->res[1], "-ERR duplicate", 14);
	assert_null(stored(f, "s"));
	cmds_free(c, 2);
}

/* A merge that did not apply in time: MERGE_ABORT on the left, then
 * UNFREEZE on the right, which serves again; the MERGE proposed before
 * the abort is refused after it. */
static void test_merge_abort(void **state)
{
	struct fx *f = *state;
	struct rk_kv_merge m = mk_merge(RK_KV_FREEZE);
	struct rk_buf c[2];

	for (int i = 0; i < 2; i++)
		rk_buf_init(&c[i]);
	rk_kv_merge_encode(&c[0], &m);
	run(f, &f->right, 12, c, 1);
	cmds_free(c, 1);
	m = mk_merge(RK_KV_MERGE_ABORT);
	rk_kv_merge_encode(&c[0], &m);
	m = mk_merge(RK_KV_MERGE);
	rk_kv_merge_encode(&c[1], &m);
	run(f, &f->left, 20, c, 2);
	assert_string_equal(f->res[0], "+OK\r\n");
	assert_memory_equal(f->res[1], "-ERR merge refused", 18);
	assert_int_equal(f->left.desc.generation, 5);
	assert_int_equal(f->left.a.elen, 1);
	cmds_free(c, 2);
	m = mk_merge(RK_KV_UNFREEZE);
	rk_kv_merge_encode(&c[0], &m);
	write_cmd(&c[1], RK_KV_PUT, 1, "p", "v");
	run(f, &f->right, 13, c, 2);
	assert_string_equal(f->res[0], "+OK\r\n");
	assert_string_equal(f->res[1], "+OK\r\n");
	assert_int_equal(f->right.sess.frozen, 0);
	assert_string_equal(stored(f, "p"), "v");
	cmds_free(c, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_encoding),
		cmocka_unit_test(test_merge_desc),
		cmocka_unit_test(test_sessions_union),
		cmocka_unit_test_setup_teardown(test_merge_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_abort, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
