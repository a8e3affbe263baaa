/*
 * Fuzz target net_batch: rk_net_batch_decode (src/transport/codec.h), the
 * decoder of the raft traffic between nodes, with every message it yields
 * stepped into a live replica (rk_raft_step), as the node does.
 *
 * The input is a Batch payload (what follows a frame header whose checksum
 * held). A fresh three-replica cluster (tests/unit/fixture.c) with replica 1
 * as leader receives the decoded messages: each goes to the replica it is
 * addressed to (1..3), anything else to replica 3. After the batch the
 * cluster runs its ready/advance loop and ticks, so that whatever the
 * messages did to a replica is persisted, applied and answered.
 *
 * Properties:
 *  - decoding returns 0, RK_EPROTO or RK_ENOMEM, and never points outside
 *    the input: every entry's, snapshot chunk's, forwarded command's and
 *    answer's data lies inside it,
 *    entries and snapshot are present exactly when announced, at most
 *    RK_NET_MAX_ENTRIES_PER_MSG entries and RK_RAFT_MAX_MEMBERS members;
 *  - rk_raft_step accepts (returns 0) only what rk_raft_msg_validate
 *    accepts, and refuses what it refuses with RK_EPROTO;
 *  - a batch that decodes re-encodes (rk_net_batch_add_raft/_chunk/_req/
 *    _resp/_check/_liveness) to bytes that decode to the same messages,
 *    chunks, requests, answers, checksum reports and liveness, and re-encoding those gives the
 *    identical bytes;
 *  - those bytes are protobuf as proto/rangekv.proto defines it: nanopb's
 *    generated decoder (the reference; the codec writes and reads the hot
 *    messages by hand) reads the same messages, requests and answers;
 *  - nothing crashes, and neither sanitizer nor the fixture's driver
 *    (which aborts on a broken ready/apply contract) complains, while the
 *    cluster digests the messages. (Raft does not survive lying peers, so
 *    agreement is not checked: a forged append in the leader's name may
 *    rewrite a follower's log.)
 */
#include <string.h>

#include <pb_decode.h>

#include "codec.h"
#include "rangekv.pb.h"
#include "fixture.h"

#include "fuzz.h"

#define MSGS_MAX 64   /* messages recorded for the round trip */
#define CHUNKS_MAX 64 /* snapshot chunks recorded */
#define CLIENT_MAX 64 /* forwarded requests and answers recorded, each */

struct rec_msg {
	uint64_t range;
	struct rk_raft_msg m;
	struct rk_raft_snapshot_meta snap;
	struct rk_raft_entry *ents;
	uint8_t *data; /* all entries' payloads */
};

struct rec {
	struct rec_msg msgs[MSGS_MAX];
	size_t n;
	struct rk_net_chunk chunks[CHUNKS_MAX]; /* data: own copies */
	size_t n_chunks;
	struct rk_net_req reqs[CLIENT_MAX]; /* cmd: own copies */
	size_t n_reqs;
	struct rk_net_resp resps[CLIENT_MAX]; /* reply: own copies */
	size_t n_resps;
	struct rk_net_check checks[CLIENT_MAX];
	size_t n_checks;
	bool overflow;
	bool has_liveness;
	struct rk_net_liveness liveness;
	int liveness_calls;
};

struct ctx {
	const uint8_t *in;
	size_t in_len;
	struct rec *rec;
	struct fx *fx; /* NULL: decode only */
};

static void rec_free(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->msgs[i].ents);
		free(r->msgs[i].data);
	}
	r->n = 0;
	for (i = 0; i < r->n_chunks; i++)
		free((void *)(uintptr_t)r->chunks[i].data);
	r->n_chunks = 0;
	for (i = 0; i < r->n_reqs; i++)
		free((void *)(uintptr_t)r->reqs[i].cmd);
	r->n_reqs = 0;
	for (i = 0; i < r->n_resps; i++) {
		free((void *)(uintptr_t)r->resps[i].reply);
		for (uint32_t k = 0; k < r->resps[i].n_descs; k++)
			free((void *)(uintptr_t)r->resps[i].descs[k]);
	}
	r->n_resps = 0;
	r->n_checks = 0;
}

/* p[0..n) lies inside the decoded input; NULL exactly when empty. */
static void check_inside(const struct ctx *c, const uint8_t *p, size_t n)
{
	FUZZ_CHECK((p != NULL) == (n > 0));
	if (n > 0)
		FUZZ_CHECK(p >= c->in && p <= c->in + c->in_len &&
			   n <= (size_t)(c->in + c->in_len - p));
}

static void check_shape(const struct ctx *c, const struct rk_raft_msg *m)
{
	size_t i;

	FUZZ_CHECK(m->n_entries <= RK_NET_MAX_ENTRIES_PER_MSG);
	FUZZ_CHECK((m->entries != NULL) == (m->n_entries > 0));
	for (i = 0; i < m->n_entries; i++)
		check_inside(c, m->entries[i].data, m->entries[i].len);
	if (m->snapshot != NULL)
		FUZZ_CHECK(m->snapshot->conf.n <= RK_RAFT_MAX_MEMBERS);
}

static void record(struct rec *r, uint64_t range, const struct rk_raft_msg *m)
{
	struct rec_msg *rm;
	size_t i, total = 0, off = 0;

	if (r->n == MSGS_MAX) {
		r->overflow = true;
		return;
	}
	rm = &r->msgs[r->n];
	memset(rm, 0, sizeof(*rm));
	rm->range = range;
	rm->m = *m;
	for (i = 0; i < m->n_entries; i++)
		total += m->entries[i].len;
	if (m->n_entries > 0) {
		rm->ents = malloc(m->n_entries * sizeof(*rm->ents));
		rm->data = malloc(total > 0 ? total : 1);
		if (rm->ents == NULL || rm->data == NULL) {
			free(rm->ents);
			free(rm->data);
			r->overflow = true;
			return;
		}
		for (i = 0; i < m->n_entries; i++) {
			rm->ents[i] = m->entries[i];
			if (m->entries[i].len > 0) {
				memcpy(rm->data + off, m->entries[i].data,
				       m->entries[i].len);
				rm->ents[i].data = rm->data + off;
				off += m->entries[i].len;
			}
		}
	}
	rm->m.entries = rm->ents;
	if (m->snapshot != NULL) {
		rm->snap = *m->snapshot;
		rm->m.snapshot = &rm->snap;
	}
	r->n++;
}

static int on_raft(void *arg, uint64_t range, const struct rk_raft_msg *m)
{
	struct ctx *c = arg;
	struct rk_raft *r;
	int valid, rc;

	FUZZ_CHECK(m != NULL);
	check_shape(c, m);
	record(c->rec, range, m);
	if (c->fx == NULL)
		return 0;
	valid = rk_raft_msg_validate(m);
	FUZZ_CHECK(valid == 0 || valid == RK_EPROTO);
	r = fx_raft(c->fx, m->to >= 1 && m->to <= 3 ? (int)m->to : 3);
	rc = rk_raft_step(r, m);
	FUZZ_CHECK(rc != 0 || valid == 0);
	FUZZ_CHECK(valid == 0 || rc == RK_EPROTO);
	return 0;
}

static int on_chunk(void *arg, const struct rk_net_chunk *ch)
{
	struct ctx *c = arg;
	struct rec *r = c->rec;
	struct rk_net_chunk *rc;
	uint8_t *copy = NULL;

	FUZZ_CHECK(ch != NULL);
	check_inside(c, ch->data, ch->len);
	if (r->n_chunks == CHUNKS_MAX) {
		r->overflow = true;
		return 0;
	}
	if (ch->len > 0) {
		copy = malloc(ch->len);
		if (copy == NULL) {
			r->overflow = true;
			return 0;
		}
		memcpy(copy, ch->data, ch->len);
	}
	rc = &r->chunks[r->n_chunks++];
	*rc = *ch;
	rc->data = copy;
	return 0;
}

/* A copy of p[0..n) (NULL when empty); false when out of memory. */
static bool copy_bytes(const uint8_t *p, size_t n, const uint8_t **outp)
{
	uint8_t *copy = NULL;

	if (n > 0) {
		copy = malloc(n);
		if (copy == NULL)
			return false;
		memcpy(copy, p, n);
	}
	*outp = copy;
	return true;
}

/* Checks a request's or answer's bytes and copies them for the next of
 * count records (CLIENT_MAX at most); false, the overflow noted, when it
 * cannot be kept. */
static bool keep_bytes(struct ctx *c, size_t count, const uint8_t *p, size_t n,
		       const uint8_t **copyp)
{
	check_inside(c, p, n);
	if (count == CLIENT_MAX || !copy_bytes(p, n, copyp)) {
		c->rec->overflow = true;
		return false;
	}
	return true;
}

static void on_req(void *arg, const struct rk_net_req *q)
{
	struct ctx *c = arg;
	struct rec *r = c->rec;
	const uint8_t *copy;

	FUZZ_CHECK(q != NULL);
	if (keep_bytes(c, r->n_reqs, q->cmd, q->len, &copy)) {
		r->reqs[r->n_reqs] = *q;
		r->reqs[r->n_reqs++].cmd = copy;
	}
}

static void on_resp(void *arg, const struct rk_net_resp *a)
{
	struct ctx *c = arg;
	struct rec *r = c->rec;
	const uint8_t *copy;

	FUZZ_CHECK(a != NULL);
	FUZZ_CHECK(a->n_descs <= RK_NET_MAX_DESCS);
	if (keep_bytes(c, r->n_resps, a->reply, a->len, &copy)) {
		struct rk_net_resp *k = &r->resps[r->n_resps++];
		*k = *a;
		k->reply = copy;
		k->n_descs = 0;
		for (uint32_t i = 0; i < a->n_descs; i++) {
			check_inside(c, a->descs[i], a->desc_lens[i]);
			if (!copy_bytes(a->descs[i], a->desc_lens[i], &copy)) {
				c->rec->overflow = true;
				return;
			}
			k->descs[k->n_descs++] = copy;
		}
	}
}

static void on_liveness(void *arg, const struct rk_net_liveness *l)
{
	struct ctx *c = arg;

	c->rec->has_liveness = true;
	c->rec->liveness = *l;
	c->rec->liveness_calls++;
}

static void on_check(void *arg, const struct rk_net_check *m)
{
	struct ctx *c = arg;
	struct rec *r = c->rec;

	FUZZ_CHECK(m != NULL);
	if (r->n_checks == CLIENT_MAX)
		r->overflow = true;
	else
		r->checks[r->n_checks++] = *m;
}

static int decode(struct ctx *c, const uint8_t *p, size_t n)
{
	struct rk_net_handlers h;
	struct rk_net_scratch s;
	int rc;

	/* Handlers this harness does not know stay NULL. */
	memset(&h, 0, sizeof(h));
	h.arg = c;
	h.raft = on_raft;
	h.liveness = on_liveness;
	h.chunk = on_chunk;
	h.req = on_req;
	h.resp = on_resp;
	h.check = on_check;
	memset(&s, 0, sizeof(s));
	c->in = p;
	c->in_len = n;
	rc = rk_net_batch_decode(p, n, &h, &s);
	rk_net_scratch_free(&s);
	FUZZ_CHECK(rc == 0 || rc == RK_EPROTO || rc == RK_ENOMEM);
	FUZZ_CHECK(c->rec->liveness_calls <= 1);
	return rc;
}

static int encode(const struct rec *r, struct rk_buf *out)
{
	size_t i;
	int rc;

	for (i = 0; i < r->n; i++) {
		rc = rk_net_batch_add_raft(out, r->msgs[i].range, &r->msgs[i].m);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < r->n_chunks; i++) {
		rc = rk_net_batch_add_chunk(out, &r->chunks[i]);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < r->n_reqs; i++) {
		rc = rk_net_batch_add_req(out, &r->reqs[i]);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < r->n_resps; i++) {
		rc = rk_net_batch_add_resp(out, &r->resps[i]);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < r->n_checks; i++) {
		rc = rk_net_batch_add_check(out, &r->checks[i]);
		if (rc != 0)
			return rc;
	}
	if (r->has_liveness)
		return rk_net_batch_add_liveness(out, &r->liveness);
	return 0;
}

static bool same_msg(const struct rec_msg *a, const struct rec_msg *b)
{
	const struct rk_raft_msg *x = &a->m, *y = &b->m;
	size_t i;

	if (a->range != b->range || x->type != y->type ||
	    x->flags != y->flags || x->reject != y->reject ||
	    x->from != y->from || x->to != y->to || x->term != y->term ||
	    x->log_term != y->log_term || x->index != y->index ||
	    x->commit != y->commit || x->reject_hint != y->reject_hint ||
	    x->context != y->context || x->n_entries != y->n_entries ||
	    (x->snapshot == NULL) != (y->snapshot == NULL))
		return false;
	for (i = 0; i < x->n_entries; i++) {
		const struct rk_raft_entry *e = &x->entries[i],
					   *f = &y->entries[i];
		if (e->term != f->term || e->index != f->index ||
		    e->type != f->type || e->len != f->len ||
		    (e->len > 0 && memcmp(e->data, f->data, e->len) != 0))
			return false;
	}
	if (x->snapshot != NULL) {
		const struct rk_raft_snapshot_meta *s = x->snapshot,
						   *t = y->snapshot;
		if (s->index != t->index || s->term != t->term ||
		    s->conf.n != t->conf.n ||
		    s->conf.auto_leave != t->conf.auto_leave ||
		    memcmp(s->conf.ids, t->conf.ids,
			   s->conf.n * sizeof(s->conf.ids[0])) != 0 ||
		    memcmp(s->conf.flags, t->conf.flags, s->conf.n) != 0)
			return false;
	}
	return true;
}

static bool same_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static bool same_req(const struct rk_net_req *a, const struct rk_net_req *b)
{
	return a->id == b->id && a->range == b->range &&
	       a->generation == b->generation &&
	       same_bytes(a->cmd, a->len, b->cmd, b->len);
}

static bool same_resp(const struct rk_net_resp *a, const struct rk_net_resp *b)
{
	if (a->n_descs != b->n_descs)
		return false;
	for (uint32_t i = 0; i < a->n_descs; i++)
		if (!same_bytes(a->descs[i], a->desc_lens[i], b->descs[i], b->desc_lens[i]))
			return false;
	return a->id == b->id && a->status == b->status &&
	       a->leader == b->leader &&
	       same_bytes(a->reply, a->len, b->reply, b->len);
}

/* ---- the reference: nanopb's generated decoder --------------------------------- */

struct ref {
	const struct rec *orig;
	size_t msgs, reqs, resps, ents; /* seen so far */
	bool ok;
};

struct ref_bytes {
	const uint8_t *p;
	size_t n;
};

/* A bytes field (a callback in the generated structs), in place: the
 * streams are over the encoded buffer. */
static bool ref_take(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct ref_bytes *b = *arg;

	(void)f;
	b->n = is->bytes_left;
	b->p = is->bytes_left > 0 ? is->state : NULL;
	return pb_read(is, NULL, is->bytes_left);
}

static bool ref_entry(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct ref *r = *arg;
	const struct rk_raft_msg *m = &r->orig->msgs[r->msgs].m;
	rangekv_Entry pe = rangekv_Entry_init_zero;
	struct ref_bytes d = {NULL, 0};
	const struct rk_raft_entry *e;

	(void)f;
	if (r->ents >= m->n_entries)
		return r->ok = false;
	e = &m->entries[r->ents++];
	pe.data.funcs.decode = ref_take;
	pe.data.arg = &d;
	if (!pb_decode(is, rangekv_Entry_fields, &pe))
		return false;
	if (pe.term != e->term || pe.index != e->index || pe.type != e->type ||
	    !same_bytes(d.p, d.n, e->data, e->len))
		r->ok = false;
	return true;
}

static bool ref_msg(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct ref *r = *arg;
	rangekv_RaftMsg pm = rangekv_RaftMsg_init_zero;
	const struct rec_msg *o;
	const struct rk_raft_msg *m;

	(void)f;
	if (r->msgs >= r->orig->n)
		return r->ok = false;
	o = &r->orig->msgs[r->msgs];
	m = &o->m;
	r->ents = 0;
	pm.entries.funcs.decode = ref_entry;
	pm.entries.arg = r;
	if (!pb_decode(is, rangekv_RaftMsg_fields, &pm))
		return false;
	if (pm.range != o->range || pm.type != m->type ||
	    pm.flags != m->flags || pm.reject != m->reject ||
	    pm.from != m->from || pm.to != m->to || pm.term != m->term ||
	    pm.log_term != m->log_term || pm.index != m->index ||
	    pm.commit != m->commit || pm.reject_hint != m->reject_hint ||
	    pm.context != m->context || r->ents != m->n_entries ||
	    pm.has_snapshot != (m->snapshot != NULL))
		r->ok = false;
	if (pm.has_snapshot && m->snapshot != NULL) {
		const struct rk_raft_snapshot_meta *s = m->snapshot;
		const rangekv_ConfState *pc = &pm.snapshot.conf;

		if (pm.snapshot.index != s->index || pm.snapshot.term != s->term ||
		    pc->ids_count != s->conf.n || pc->flags_count != s->conf.n ||
		    pc->auto_leave != s->conf.auto_leave)
			r->ok = false;
		for (pb_size_t i = 0; r->ok && i < pc->ids_count; i++)
			if (pc->ids[i] != s->conf.ids[i] ||
			    pc->flags[i] != s->conf.flags[i])
				r->ok = false;
	}
	r->msgs++;
	return true;
}

static bool ref_req(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct ref *r = *arg;
	rangekv_ClientReq pq = rangekv_ClientReq_init_zero;
	struct ref_bytes d = {NULL, 0};
	struct rk_net_req q;

	(void)f;
	if (r->reqs >= r->orig->n_reqs)
		return r->ok = false;
	pq.cmd.funcs.decode = ref_take;
	pq.cmd.arg = &d;
	if (!pb_decode(is, rangekv_ClientReq_fields, &pq))
		return false;
	q = (struct rk_net_req){pq.id, pq.range, d.p, d.n, pq.generation};
	if (!same_req(&q, &r->orig->reqs[r->reqs++]))
		r->ok = false;
	return true;
}

/* ClientResp.descs, each occurrence: one more descriptor. */
static bool ref_desc(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct rk_net_resp *a = *arg;
	struct ref_bytes d = {NULL, 0};
	void *dp = &d;

	if (a->n_descs == RK_NET_MAX_DESCS || !ref_take(is, f, &dp))
		return false;
	a->descs[a->n_descs] = d.p;
	a->desc_lens[a->n_descs++] = d.n;
	return true;
}

static bool ref_resp(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct ref *r = *arg;
	rangekv_ClientResp pa = rangekv_ClientResp_init_zero;
	struct ref_bytes d = {NULL, 0};
	struct rk_net_resp a, ds;

	(void)f;
	if (r->resps >= r->orig->n_resps)
		return r->ok = false;
	memset(&ds, 0, sizeof(ds));
	pa.reply.funcs.decode = ref_take;
	pa.reply.arg = &d;
	pa.descs.funcs.decode = ref_desc;
	pa.descs.arg = &ds;
	if (!pb_decode(is, rangekv_ClientResp_fields, &pa))
		return false;
	a = ds;
	a.id = pa.id;
	a.status = pa.status;
	a.leader = pa.leader;
	a.reply = d.p;
	a.len = d.n;
	if (!same_resp(&a, &r->orig->resps[r->resps++]))
		r->ok = false;
	return true;
}

/* enc (orig, encoded by the codec) read by nanopb's generated decoder. */
static void check_reference(const struct rec *orig, const uint8_t *enc,
			    size_t len)
{
	rangekv_Batch b = rangekv_Batch_init_zero;
	pb_istream_t is = pb_istream_from_buffer(enc, len);
	struct ref r = {orig, 0, 0, 0, 0, true};

	b.msgs.funcs.decode = ref_msg;
	b.msgs.arg = &r;
	b.reqs.funcs.decode = ref_req;
	b.reqs.arg = &r;
	b.resps.funcs.decode = ref_resp;
	b.resps.arg = &r;
	FUZZ_CHECK(pb_decode(&is, rangekv_Batch_fields, &b));
	FUZZ_CHECK(r.ok && r.msgs == orig->n && r.reqs == orig->n_reqs &&
		   r.resps == orig->n_resps);
}

/* Static, not per input: both are large, and allocating them for every
 * input made the sanitized build several times slower. */
static struct fx g_fx;
static struct rec g_rec, g_back;

static void check_roundtrip(const struct rec *orig)
{
	struct rec *back = &g_back;
	struct rk_buf e1, e2;
	struct ctx c;
	size_t i;

	memset(back, 0, sizeof(*back));
	rk_buf_init(&e1);
	rk_buf_init(&e2);
	if (encode(orig, &e1) != 0 || e1.oom)
		goto out;
	memset(&c, 0, sizeof(c));
	c.rec = back;
	if (decode(&c, (const uint8_t *)e1.p, e1.len) == RK_ENOMEM)
		goto out;
	FUZZ_CHECK(!back->overflow && back->n == orig->n);
	for (i = 0; i < orig->n; i++)
		FUZZ_CHECK(same_msg(&orig->msgs[i], &back->msgs[i]));
	FUZZ_CHECK(back->n_chunks == orig->n_chunks);
	for (i = 0; i < orig->n_chunks; i++) {
		const struct rk_net_chunk *a = &orig->chunks[i],
					  *b = &back->chunks[i];

		FUZZ_CHECK(a->range == b->range && a->index == b->index &&
			   a->offset == b->offset && a->last == b->last &&
			   a->len == b->len &&
			   (a->len == 0 || memcmp(a->data, b->data, a->len) == 0));
	}
	FUZZ_CHECK(back->n_reqs == orig->n_reqs && back->n_resps == orig->n_resps);
	for (i = 0; i < orig->n_reqs; i++)
		FUZZ_CHECK(same_req(&orig->reqs[i], &back->reqs[i]));
	for (i = 0; i < orig->n_resps; i++)
		FUZZ_CHECK(same_resp(&orig->resps[i], &back->resps[i]));
	FUZZ_CHECK(back->n_checks == orig->n_checks);
	for (i = 0; i < orig->n_checks; i++)
		FUZZ_CHECK(memcmp(&orig->checks[i], &back->checks[i],
				  offsetof(struct rk_net_check, failed)) == 0 &&
			   orig->checks[i].failed == back->checks[i].failed);
	check_reference(orig, (const uint8_t *)e1.p, e1.len);
	FUZZ_CHECK(back->has_liveness == orig->has_liveness);
	if (orig->has_liveness)
		FUZZ_CHECK(back->liveness.epoch == orig->liveness.epoch &&
			   back->liveness.seq == orig->liveness.seq &&
			   back->liveness.echo == orig->liveness.echo);
	if (encode(back, &e2) != 0 || e2.oom)
		goto out;
	FUZZ_CHECK(e2.len == e1.len &&
		   (e1.len == 0 || memcmp(e1.p, e2.p, e1.len) == 0));
out:
	rec_free(back);
	rk_buf_free(&e2);
	rk_buf_free(&e1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec *rec = &g_rec;
	struct fx *fx = &g_fx;
	struct ctx c;
	int rc;

	memset(rec, 0, sizeof(*rec));
	fx_init(fx, 3, 3, NULL);
	FUZZ_CHECK(fx_elect(fx, 1));

	memset(&c, 0, sizeof(c));
	c.rec = rec;
	c.fx = fx;
	rc = decode(&c, data, size);
	/* The cluster digests what the messages did. */
	fx_settle(fx);
	fx_tick_all(fx, 3);
	fx_close(fx);

	if (rc == 0 && !rec->overflow)
		check_roundtrip(rec);
	rec_free(rec);
	return 0;
}
