/*
 * Frames, Hello and Batch encoding and decoding (see codec.h). nanopb does
 * the varints and field framing; this file maps its structs to the raft
 * core's and keeps decoding bounded and copy-free.
 */
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>
#include <xxhash.h>

#include "codec.h"
#include "le.h"
#include "rangekv.pb.h"


int rk_net_frame_append(struct rk_buf *out, const void *payload, size_t len)
{
	uint8_t *h;

	if (len > RK_NET_FRAME_MAX)
		return RK_ETOOBIG;
	h = rk_buf_extend(out, RK_NET_FRAME_HDR);
	if (h == NULL)
		return RK_ENOMEM;
	rk_le_put32(h, (uint32_t)len);
	rk_le_put64(h + 4, XXH3_64bits(payload, len));
	rk_buf_append(out, payload, len);
	return out->oom ? RK_ENOMEM : 0;
}

int rk_net_frame_parse(const uint8_t *buf, size_t len, const uint8_t **payloadp,
		       size_t *plenp, size_t *framelenp)
{
	size_t plen;

	*payloadp = NULL;
	*plenp = *framelenp = 0;
	if (len < 4)
		return RK_EAGAIN;
	plen = (size_t)rk_le_get(buf, 4);
	if (plen > RK_NET_FRAME_MAX)
		return RK_EPROTO;
	if (len < RK_NET_FRAME_HDR + plen)
		return RK_EAGAIN;
	if (XXH3_64bits(buf + RK_NET_FRAME_HDR, plen) != rk_le_get(buf + 4, 8))
		return RK_EPROTO;
	*payloadp = buf + RK_NET_FRAME_HDR;
	*plenp = plen;
	*framelenp = RK_NET_FRAME_HDR + plen;
	return 0;
}

/* Encodes msg (of fields) into out as a whole message. */
static int encode_into(struct rk_buf *out, const pb_msgdesc_t *fields,
		       const void *msg)
{
	pb_ostream_t os;
	size_t size;
	uint8_t *p;

	if (!pb_get_encoded_size(&size, fields, msg))
		return RK_EINVAL;
	p = rk_buf_extend(out, size);
	if (p == NULL)
		return RK_ENOMEM;
	os = pb_ostream_from_buffer(p, size);
	return pb_encode(&os, fields, msg) ? 0 : RK_EINVAL;
}

/* Appends msg as one element of the Batch's repeated (or singular) field
 * number tag: tag, length, message. */
static int encode_field(struct rk_buf *out, uint32_t tag,
			const pb_msgdesc_t *fields, const void *msg)
{
	uint8_t hdr[16];
	pb_ostream_t os = pb_ostream_from_buffer(hdr, sizeof(hdr));
	size_t size;

	if (!pb_get_encoded_size(&size, fields, msg))
		return RK_EINVAL;
	if (!pb_encode_tag(&os, PB_WT_STRING, tag) ||
	    !pb_encode_varint(&os, size))
		return RK_EINVAL;
	rk_buf_append(out, hdr, os.bytes_written);
	return out->oom ? RK_ENOMEM : encode_into(out, fields, msg);
}

int rk_net_hello_encode(const struct rk_net_hello *h, struct rk_buf *out)
{
	rangekv_Hello m = rangekv_Hello_init_zero;

	m.version = h->version;
	m.node_id = h->node_id;
	m.cluster_id = h->cluster_id;
	m.channel = h->channel;
	return encode_into(out, rangekv_Hello_fields, &m);
}

int rk_net_hello_decode(const uint8_t *p, size_t n, struct rk_net_hello *hp)
{
	rangekv_Hello m = rangekv_Hello_init_zero;
	pb_istream_t is = pb_istream_from_buffer(p, n);

	memset(hp, 0, sizeof(*hp));
	if (!pb_decode(&is, rangekv_Hello_fields, &m))
		return RK_EPROTO;
	hp->version = m.version;
	hp->node_id = m.node_id;
	hp->cluster_id = m.cluster_id;
	hp->channel = m.channel;
	return 0;
}

/* ---- encoding raft messages ------------------------------------------------------ */

static bool encode_data(pb_ostream_t *os, const pb_field_iter_t *f,
			void *const *arg)
{
	const struct rk_raft_entry *e = *arg;

	if (e->len == 0)
		return true;
	return pb_encode_tag_for_field(os, f) &&
	       pb_encode_string(os, e->data, e->len);
}

static bool encode_entries(pb_ostream_t *os, const pb_field_iter_t *f,
			   void *const *arg)
{
	const struct rk_raft_msg *m = *arg;

	for (size_t i = 0; i < m->n_entries; i++) {
		rangekv_Entry e = rangekv_Entry_init_zero;
		e.term = m->entries[i].term;
		e.index = m->entries[i].index;
		e.type = m->entries[i].type;
		e.data.funcs.encode = encode_data;
		e.data.arg = &m->entries[i];
		if (!pb_encode_tag_for_field(os, f) ||
		    !pb_encode_submessage(os, rangekv_Entry_fields, &e))
			return false;
	}
	return true;
}

int rk_net_batch_add_raft(struct rk_buf *out, uint64_t range,
			  const struct rk_raft_msg *m)
{
	rangekv_RaftMsg pm = rangekv_RaftMsg_init_zero;

	pm.range = range;
	pm.type = m->type;
	pm.flags = m->flags;
	pm.reject = m->reject;
	pm.from = m->from;
	pm.to = m->to;
	pm.term = m->term;
	pm.log_term = m->log_term;
	pm.index = m->index;
	pm.commit = m->commit;
	pm.reject_hint = m->reject_hint;
	pm.context = m->context;
	if (m->n_entries > 0) {
		pm.entries.funcs.encode = encode_entries;
		pm.entries.arg = (void *)(uintptr_t)m;
	}
	if (m->snapshot != NULL) {
		const struct rk_raft_conf_state *cs = &m->snapshot->conf;
		pm.has_snapshot = true;
		pm.snapshot.index = m->snapshot->index;
		pm.snapshot.term = m->snapshot->term;
		pm.snapshot.has_conf = true;
		pm.snapshot.conf.ids_count = cs->n;
		pm.snapshot.conf.flags_count = cs->n;
		for (int i = 0; i < cs->n && i < RK_RAFT_MAX_MEMBERS; i++) {
			pm.snapshot.conf.ids[i] = cs->ids[i];
			pm.snapshot.conf.flags[i] = cs->flags[i];
		}
		pm.snapshot.conf.auto_leave = cs->auto_leave;
	}
	return encode_field(out, rangekv_Batch_msgs_tag, rangekv_RaftMsg_fields, &pm);
}

int rk_net_batch_add_liveness(struct rk_buf *out,
			      const struct rk_net_liveness *l)
{
	rangekv_Liveness pl = {l->epoch, l->seq, l->echo};

	return encode_field(out, rangekv_Batch_liveness_tag,
			    rangekv_Liveness_fields, &pl);
}

static bool encode_chunk_data(pb_ostream_t *os, const pb_field_iter_t *f,
			      void *const *arg)
{
	const struct rk_net_chunk *c = *arg;

	if (c->len == 0)
		return true;
	return pb_encode_tag_for_field(os, f) &&
	       pb_encode_string(os, c->data, c->len);
}

int rk_net_batch_add_chunk(struct rk_buf *out, const struct rk_net_chunk *c)
{
	rangekv_SnapChunk pc = rangekv_SnapChunk_init_zero;

	pc.range = c->range;
	pc.index = c->index;
	pc.offset = c->offset;
	pc.last = c->last;
	pc.data.funcs.encode = encode_chunk_data;
	pc.data.arg = (void *)(uintptr_t)c;
	return encode_field(out, rangekv_Batch_chunks_tag, rangekv_SnapChunk_fields, &pc);
}

int rk_net_batch_add_quiesce(struct rk_buf *out, const struct rk_net_quiesce *q)
{
	rangekv_Quiesce pq = {q->range, q->term, q->commit};

	return encode_field(out, rangekv_Batch_quiesce_tag, rangekv_Quiesce_fields, &pq);
}

/* ---- decoding ------------------------------------------------------------------- */

struct decode_ctx {
	const struct rk_net_handlers *h;
	struct rk_net_scratch *scratch;
	size_t n;  /* entries of the current message */
	int rc;    /* the handler's stop code, or RK_ENOMEM */
	const uint8_t *lo, *hi; /* the frame */
};

/* Bytes fields stay in the frame: the buffer stream's state is the read
 * position (pb_istream_from_buffer), so take the pointer and skip. A field
 * sent with a scalar wire type reaches the callback through a stream over
 * a copy on nanopb's stack instead: anything outside the frame is refused. */
static bool take_bytes(pb_istream_t *is, const struct decode_ctx *c,
		       const uint8_t **pp, size_t *np)
{
	const uint8_t *p = is->state;

	if (p < c->lo || p > c->hi || is->bytes_left > (size_t)(c->hi - p))
		return false;
	*pp = is->bytes_left > 0 ? p : NULL;
	*np = is->bytes_left;
	is->state = (pb_byte_t *)is->state + is->bytes_left;
	is->bytes_left = 0;
	return true;
}

struct data_arg {
	struct rk_raft_entry *e;
	const struct decode_ctx *c;
};

static bool decode_data(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct data_arg *a = *arg;
	const uint8_t *p;
	size_t n;

	(void)f;
	if (!take_bytes(is, a->c, &p, &n) || n > UINT32_MAX)
		return false;
	a->e->data = p;
	a->e->len = (uint32_t)n;
	return true;
}

static bool decode_entry(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	struct rk_net_scratch *s = c->scratch;
	rangekv_Entry pe = rangekv_Entry_init_zero;
	struct rk_raft_entry e;

	(void)f;
	if (c->n >= RK_NET_MAX_ENTRIES_PER_MSG)
		return false;
	if (rk_grow((void **)&s->ents, &s->cap, c->n, sizeof(*s->ents)) != 0) {
		c->rc = RK_ENOMEM;
		return false;
	}
	struct data_arg da = {&e, c};

	memset(&e, 0, sizeof(e));
	pe.data.funcs.decode = decode_data;
	pe.data.arg = &da;
	if (!pb_decode(is, rangekv_Entry_fields, &pe))
		return false;
	e.term = pe.term;
	e.index = pe.index;
	e.type = pe.type;
	s->ents[c->n++] = e;
	return true;
}

static bool decode_msg(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_RaftMsg pm = rangekv_RaftMsg_init_zero;
	struct rk_raft_snapshot_meta snap;
	struct rk_raft_msg m;

	(void)f;
	c->n = 0;
	pm.entries.funcs.decode = decode_entry;
	pm.entries.arg = c;
	if (!pb_decode(is, rangekv_RaftMsg_fields, &pm))
		return false;
	if (pm.type > UINT8_MAX || pm.flags > UINT8_MAX)
		return false;
	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)pm.type;
	m.flags = (uint8_t)pm.flags;
	m.reject = pm.reject;
	m.from = pm.from;
	m.to = pm.to;
	m.term = pm.term;
	m.log_term = pm.log_term;
	m.index = pm.index;
	m.commit = pm.commit;
	m.reject_hint = pm.reject_hint;
	m.context = pm.context;
	m.entries = c->n > 0 ? c->scratch->ents : NULL;
	m.n_entries = c->n;
	if (pm.has_snapshot) {
		const rangekv_ConfState *pc = &pm.snapshot.conf;
		if (pc->ids_count != pc->flags_count ||
		    pc->ids_count > RK_RAFT_MAX_MEMBERS)
			return false;
		memset(&snap, 0, sizeof(snap));
		snap.index = pm.snapshot.index;
		snap.term = pm.snapshot.term;
		snap.conf.n = (uint8_t)pc->ids_count;
		for (pb_size_t i = 0; i < pc->ids_count; i++) {
			if (pc->flags[i] > UINT8_MAX)
				return false;
			snap.conf.ids[i] = pc->ids[i];
			snap.conf.flags[i] = (uint8_t)pc->flags[i];
		}
		snap.conf.auto_leave = pc->auto_leave;
		m.snapshot = &snap;
	}
	if (c->h->raft != NULL) {
		int rc = c->h->raft(c->h->arg, pm.range, &m);
		if (rc != 0) {
			c->rc = rc;
			return false;
		}
	}
	return true;
}

struct take_arg {
	const struct decode_ctx *c;
	const uint8_t **pp;
	size_t *lenp;
};

static bool decode_take(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct take_arg *a = *arg;

	(void)f;
	return take_bytes(is, a->c, a->pp, a->lenp);
}

static bool decode_chunk(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_SnapChunk pc = rangekv_SnapChunk_init_zero;
	struct rk_net_chunk ch;

	(void)f;
	struct take_arg ta = {c, &ch.data, &ch.len};

	memset(&ch, 0, sizeof(ch));
	pc.data.funcs.decode = decode_take;
	pc.data.arg = &ta;
	if (!pb_decode(is, rangekv_SnapChunk_fields, &pc))
		return false;
	ch.range = pc.range;
	ch.index = pc.index;
	ch.offset = pc.offset;
	ch.last = pc.last;
	if (c->h->chunk != NULL) {
		int rc = c->h->chunk(c->h->arg, &ch);
		if (rc != 0) {
			c->rc = rc;
			return false;
		}
	}
	return true;
}

static bool decode_quiesce(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_Quiesce pq = rangekv_Quiesce_init_zero;
	struct rk_net_quiesce q;

	(void)f;
	if (!pb_decode(is, rangekv_Quiesce_fields, &pq))
		return false;
	q.range = pq.range;
	q.term = pq.term;
	q.commit = pq.commit;
	if (c->h->quiesce != NULL)
		c->h->quiesce(c->h->arg, &q);
	return true;
}

struct bytes_ref {
	const uint8_t *p;
	size_t len;
};

static bool encode_bytes_ref(pb_ostream_t *os, const pb_field_iter_t *f,
			     void *const *arg)
{
	const struct bytes_ref *b = *arg;

	if (b->len == 0)
		return true;
	return pb_encode_tag_for_field(os, f) && pb_encode_string(os, b->p, b->len);
}

int rk_net_batch_add_req(struct rk_buf *out, const struct rk_net_req *r)
{
	rangekv_ClientReq pr = rangekv_ClientReq_init_zero;
	struct bytes_ref b = {r->cmd, r->len};

	pr.id = r->id;
	pr.range = r->range;
	pr.cmd.funcs.encode = encode_bytes_ref;
	pr.cmd.arg = &b;
	return encode_field(out, rangekv_Batch_reqs_tag, rangekv_ClientReq_fields, &pr);
}

int rk_net_batch_add_resp(struct rk_buf *out, const struct rk_net_resp *r)
{
	rangekv_ClientResp pr = rangekv_ClientResp_init_zero;
	struct bytes_ref b = {r->reply, r->len};

	pr.id = r->id;
	pr.status = r->status;
	pr.leader = r->leader;
	pr.reply.funcs.encode = encode_bytes_ref;
	pr.reply.arg = &b;
	return encode_field(out, rangekv_Batch_resps_tag, rangekv_ClientResp_fields, &pr);
}

static bool decode_req(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_ClientReq pr = rangekv_ClientReq_init_zero;
	struct rk_net_req r;
	struct take_arg ta = {c, &r.cmd, &r.len};

	(void)f;
	memset(&r, 0, sizeof(r));
	pr.cmd.funcs.decode = decode_take;
	pr.cmd.arg = &ta;
	if (!pb_decode(is, rangekv_ClientReq_fields, &pr))
		return false;
	r.id = pr.id;
	r.range = pr.range;
	if (c->h->req != NULL)
		c->h->req(c->h->arg, &r);
	return true;
}

static bool decode_resp(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_ClientResp pr = rangekv_ClientResp_init_zero;
	struct rk_net_resp r;
	struct take_arg ta = {c, &r.reply, &r.len};

	(void)f;
	memset(&r, 0, sizeof(r));
	pr.reply.funcs.decode = decode_take;
	pr.reply.arg = &ta;
	if (!pb_decode(is, rangekv_ClientResp_fields, &pr))
		return false;
	r.id = pr.id;
	r.status = pr.status;
	r.leader = pr.leader;
	if (c->h->resp != NULL)
		c->h->resp(c->h->arg, &r);
	return true;
}

static bool decode_beats(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	const uint8_t *p;
	size_t n;
	int rc;

	(void)f;
	if (!take_bytes(is, c, &p, &n))
		return false;
	rc = rk_net_beats_decode(p, n, c->h);
	if (rc != 0 && rc != RK_EPROTO)
		c->rc = rc;
	return rc == 0;
}

int rk_net_batch_decode(const uint8_t *p, size_t n,
			const struct rk_net_handlers *h,
			struct rk_net_scratch *scratch)
{
	rangekv_Batch b = rangekv_Batch_init_zero;
	pb_istream_t is = pb_istream_from_buffer(p, n);
	struct decode_ctx c = {h, scratch, 0, 0, p, p != NULL ? p + n : p};

	b.msgs.funcs.decode = decode_msg;
	b.msgs.arg = &c;
	b.chunks.funcs.decode = decode_chunk;
	b.chunks.arg = &c;
	b.quiesce.funcs.decode = decode_quiesce;
	b.quiesce.arg = &c;
	b.reqs.funcs.decode = decode_req;
	b.reqs.arg = &c;
	b.resps.funcs.decode = decode_resp;
	b.resps.arg = &c;
	b.beats.funcs.decode = decode_beats;
	b.beats.arg = &c;
	if (!pb_decode(&is, rangekv_Batch_fields, &b))
		return c.rc != 0 ? c.rc : RK_EPROTO;
	if (b.has_liveness && h->liveness != NULL) {
		struct rk_net_liveness l = {b.liveness.epoch, b.liveness.seq,
					    b.liveness.echo};
		h->liveness(h->arg, &l);
	}
	return 0;
}

void rk_net_scratch_free(struct rk_net_scratch *s)
{
	free(s->ents);
	s->ents = NULL;
	s->cap = 0;
}
