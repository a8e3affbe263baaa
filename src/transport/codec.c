/*
 * Frames, Hello and Batch encoding and decoding (see codec.h). nanopb does
 * the varints and field framing of the Batch and of the rare messages; the
 * hot ones (raft messages without a snapshot, forwarded client requests and
 * their answers) are written and read by hand below, in the same protobuf
 * wire format. This file maps both to the raft core's structs and keeps
 * decoding bounded and copy-free.
 */
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>
#include <xxhash.h>

#include "codec.h"
#include "varint.h"
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
	m.to_node_id = h->to_node_id;
	m.features = h->features;
	if (h->nonce_len > sizeof(m.nonce.bytes) || h->proof_len > sizeof(m.proof.bytes))
		return RK_EINVAL;
	m.nonce.size = (pb_size_t)h->nonce_len;
	memcpy(m.nonce.bytes, h->nonce, h->nonce_len);
	m.proof.size = (pb_size_t)h->proof_len;
	memcpy(m.proof.bytes, h->proof, h->proof_len);
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
	hp->to_node_id = m.to_node_id;
	hp->features = m.features;
	/* Only the two lengths the handshake uses: anything else is malformed. */
	if ((m.nonce.size != 0 && m.nonce.size != RK_NET_NONCE) ||
	    (m.proof.size != 0 && m.proof.size != RK_NET_PROOF)) {
		memset(hp, 0, sizeof(*hp));
		return RK_EPROTO;
	}
	hp->nonce_len = m.nonce.size;
	memcpy(hp->nonce, m.nonce.bytes, m.nonce.size);
	hp->proof_len = m.proof.size;
	memcpy(hp->proof, m.proof.bytes, m.proof.size);
	return 0;
}

/* ---- the protobuf wire format by hand ------------------------------------------- */

/* Wire types. */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_I32 5

/* A scalar field as proto3 writes it: nothing when zero. */
static size_t u64_size(uint32_t field, uint64_t v)
{
	return v != 0 ? rk_varint_size((uint64_t)field << 3) + rk_varint_size(v) : 0;
}

static uint8_t *put_u64(uint8_t *p, uint32_t field, uint64_t v)
{
	if (v == 0)
		return p;
	p = rk_varint_put(p, (uint64_t)field << 3 | WT_VARINT);
	return rk_varint_put(p, v);
}

/* A length-delimited field (bytes, or a message of body bytes). */
static size_t len_size(uint32_t field, size_t body)
{
	return rk_varint_size((uint64_t)field << 3) + rk_varint_size(body) + body;
}

static uint8_t *put_len(uint8_t *p, uint32_t field, size_t body)
{
	p = rk_varint_put(p, (uint64_t)field << 3 | WT_LEN);
	return rk_varint_put(p, body);
}

/* Bytes fields are left out when empty, as nanopb's callbacks do. */
static size_t bytes_size(uint32_t field, size_t len)
{
	return len > 0 ? len_size(field, len) : 0;
}

static uint8_t *put_bytes(uint8_t *p, uint32_t field, const void *d, size_t len)
{
	if (len == 0)
		return p;
	p = put_len(p, field, len);
	memcpy(p, d, len);
	return p + len;
}

/* Room in out for one element of the Batch's field tag whose message body
 * is body bytes: the element's key and length are written, the returned
 * pointer is where the body goes (NULL when out of memory). */
static uint8_t *batch_element(struct rk_buf *out, uint32_t tag, size_t body,
			      uint8_t **endp)
{
	size_t total = len_size(tag, body);
	uint8_t *p = rk_buf_extend(out, total);

	if (p == NULL)
		return NULL;
	*endp = p + total;
	return put_len(p, tag, body);
}

/* A reader over [p, end). Every getter refuses to pass end. */
struct wire {
	const uint8_t *p, *end;
};

static bool get_varint(struct wire *w, uint64_t *vp)
{
	return rk_varint_get(&w->p, w->end, vp);
}

/* A field's key: number (1 and up) and wire type. */
static bool get_key(struct wire *w, uint32_t *fieldp, uint32_t *wtp)
{
	uint64_t k;

	if (!get_varint(w, &k) || (k >> 3) == 0 || (k >> 3) > UINT32_MAX)
		return false;
	*fieldp = (uint32_t)(k >> 3);
	*wtp = (uint32_t)(k & 7);
	return true;
}

/* A length-delimited field's bytes, in place (a pointer into the frame
 * even when empty, so that p + n is always defined). */
static bool get_len(struct wire *w, const uint8_t **pp, size_t *np)
{
	uint64_t n;

	if (!get_varint(w, &n) || n > (uint64_t)(w->end - w->p))
		return false;
	*pp = w->p;
	*np = (size_t)n;
	w->p += n;
	return true;
}

/* Skips a field this decoder does not know (a newer sender's). */
static bool skip_field(struct wire *w, uint32_t wt)
{
	const uint8_t *p;
	uint64_t v;
	size_t n;

	switch (wt) {
	case WT_VARINT:
		return get_varint(w, &v);
	case WT_LEN:
		return get_len(w, &p, &n);
	case WT_I64:
	case WT_I32:
		n = wt == WT_I64 ? 8 : 4;
		if ((size_t)(w->end - w->p) < n)
			return false;
		w->p += n;
		return true;
	default:
		return false; /* groups: never sent */
	}
}

/* How get_fields reads a message: fields 1..nf, varints except the bytes
 * fields marked in lens; fields nf+1..nx (repeated or nested messages) go
 * to other, which returns false to refuse them. */
struct fields {
	uint32_t nf, lens, nx;
	bool (*other)(void *arg, uint32_t field, const uint8_t *p, size_t n);
	void *arg;
};

/* Reads a message's fields: varints to v[field], bytes in place to
 * bytes[field] (NULL when empty) and blen[field] (the last occurrence wins,
 * as in protobuf).
 * A known field with another wire type is refused, an unknown one skipped
 * (a newer sender's). */
static bool get_fields(struct wire *w, const struct fields *f, uint64_t *v,
		       const uint8_t **bytes, size_t *blen)
{
	while (w->p < w->end) {
		uint32_t field, wt;
		const uint8_t *p;
		size_t n;

		if (!get_key(w, &field, &wt))
			return false;
		if (field > f->nx) {
			if (!skip_field(w, wt))
				return false;
		} else if (field <= f->nf && (f->lens >> field & 1) == 0) {
			if (wt != WT_VARINT || !get_varint(w, &v[field]))
				return false;
		} else {
			if (wt != WT_LEN || !get_len(w, &p, &n))
				return false;
			if (field > f->nf) {
				if (!f->other(f->arg, field, p, n))
					return false;
			} else {
				bytes[field] = n > 0 ? p : NULL;
				blen[field] = n;
			}
		}
	}
	return true;
}

/* ---- encoding raft messages ------------------------------------------------------ */

/* RaftMsg fields (proto/rangekv.proto): 1..12 scalars, 13 entries, 14
 * snapshot; Entry: 1 term, 2 index, 3 type, 4 data; SnapshotMeta: 1
 * index, 2 term, 3 conf; ConfState: 1 ids, 2 flags (packed), 3 auto_leave. */
static size_t entry_size(const struct rk_raft_entry *e)
{
	return u64_size(1, e->term) + u64_size(2, e->index) +
	       u64_size(3, e->type) + bytes_size(4, e->len);
}

static size_t conf_size(const struct rk_raft_conf_state *cs, size_t *idsp,
			size_t *flagsp)
{
	int n = cs->n < RK_RAFT_MAX_MEMBERS ? cs->n : RK_RAFT_MAX_MEMBERS;

	*idsp = *flagsp = 0;
	for (int i = 0; i < n; i++) {
		*idsp += rk_varint_size(cs->ids[i]);
		*flagsp += rk_varint_size(cs->flags[i]);
	}
	return bytes_size(1, *idsp) + bytes_size(2, *flagsp) +
	       u64_size(3, cs->auto_leave);
}

static size_t snapshot_size(const struct rk_raft_snapshot_meta *sm,
			    size_t *confp, size_t *idsp, size_t *flagsp)
{
	*confp = conf_size(&sm->conf, idsp, flagsp);
	return u64_size(1, sm->index) + u64_size(2, sm->term) +
	       len_size(3, *confp);
}

static uint8_t *put_snapshot(uint8_t *p, const struct rk_raft_snapshot_meta *sm)
{
	const struct rk_raft_conf_state *cs = &sm->conf;
	int n = cs->n < RK_RAFT_MAX_MEMBERS ? cs->n : RK_RAFT_MAX_MEMBERS;
	size_t conf, ids, flags, body = snapshot_size(sm, &conf, &ids, &flags);

	p = put_len(p, 14, body);
	p = put_u64(p, 1, sm->index);
	p = put_u64(p, 2, sm->term);
	p = put_len(p, 3, conf);
	if (ids > 0) {
		p = put_len(p, 1, ids);
		for (int i = 0; i < n; i++)
			p = rk_varint_put(p, cs->ids[i]);
	}
	if (flags > 0) {
		p = put_len(p, 2, flags);
		for (int i = 0; i < n; i++)
			p = rk_varint_put(p, cs->flags[i]);
	}
	return put_u64(p, 3, cs->auto_leave);
}

int rk_net_batch_add_raft(struct rk_buf *out, uint64_t range,
			  const struct rk_raft_msg *m)
{
	size_t body, conf, ids, flags;
	uint8_t *p, *end;

	body = u64_size(1, range) + u64_size(2, m->type) +
	       u64_size(3, m->flags) + u64_size(4, m->reject) +
	       u64_size(5, m->from) + u64_size(6, m->to) +
	       u64_size(7, m->term) + u64_size(8, m->log_term) +
	       u64_size(9, m->index) + u64_size(10, m->commit) +
	       u64_size(11, m->reject_hint) + u64_size(12, m->context);
	for (size_t i = 0; i < m->n_entries; i++)
		body += len_size(13, entry_size(&m->entries[i]));
	if (m->snapshot != NULL)
		body += len_size(14, snapshot_size(m->snapshot, &conf, &ids, &flags));
	p = batch_element(out, rangekv_Batch_msgs_tag, body, &end);
	if (p == NULL)
		return RK_ENOMEM;
	p = put_u64(p, 1, range);
	p = put_u64(p, 2, m->type);
	p = put_u64(p, 3, m->flags);
	p = put_u64(p, 4, m->reject);
	p = put_u64(p, 5, m->from);
	p = put_u64(p, 6, m->to);
	p = put_u64(p, 7, m->term);
	p = put_u64(p, 8, m->log_term);
	p = put_u64(p, 9, m->index);
	p = put_u64(p, 10, m->commit);
	p = put_u64(p, 11, m->reject_hint);
	p = put_u64(p, 12, m->context);
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct rk_raft_entry *e = &m->entries[i];

		p = put_len(p, 13, entry_size(e));
		p = put_u64(p, 1, e->term);
		p = put_u64(p, 2, e->index);
		p = put_u64(p, 3, e->type);
		p = put_bytes(p, 4, e->data, e->len);
	}
	if (m->snapshot != NULL)
		p = put_snapshot(p, m->snapshot);
	return p == end ? 0 : RK_EINVAL;
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

/* A submessage of the Batch, to read by hand: the bytes nanopb's stream
 * holds, in the frame. */
static bool take_wire(pb_istream_t *is, const struct decode_ctx *c,
		      struct wire *w)
{
	const uint8_t *p = is->state;
	size_t n = is->bytes_left;

	if (!take_bytes(is, c, &w->p, &n))
		return false;
	w->p = p;
	w->end = p + n;
	return true;
}

/* Field 13 (an entry) or 14 (the snapshot) of a raft message. */
struct msg_arg {
	struct decode_ctx *c;
	rangekv_SnapshotMeta snap;
	bool has_snap;
};

static bool decode_msg_part(void *arg, uint32_t field, const uint8_t *p, size_t n)
{
	static const struct fields entry_fields = {4, 1u << 4, 4, NULL, NULL};
	struct msg_arg *a = arg;
	struct decode_ctx *c = a->c;
	struct rk_net_scratch *s = c->scratch;
	struct wire w = {p, p + n};
	uint64_t v[5] = {0};
	const uint8_t *data[5] = {NULL};
	size_t dlen[5] = {0};

	if (field == 14) {
		/* Rare (snapshots): nanopb, into fixed arrays. */
		pb_istream_t is = pb_istream_from_buffer(p, n);
		rangekv_SnapshotMeta sm = rangekv_SnapshotMeta_init_zero;

		if (!pb_decode(&is, rangekv_SnapshotMeta_fields, &sm))
			return false;
		a->snap = sm;
		a->has_snap = true;
		return true;
	}
	if (c->n >= RK_NET_MAX_ENTRIES_PER_MSG)
		return false;
	if (rk_grow((void **)&s->ents, &s->cap, c->n, sizeof(*s->ents)) != 0) {
		c->rc = RK_ENOMEM;
		return false;
	}
	if (!get_fields(&w, &entry_fields, v, data, dlen) ||
	    v[3] > UINT32_MAX || dlen[4] > UINT32_MAX)
		return false;
	s->ents[c->n++] = (struct rk_raft_entry){
		.term = v[1], .index = v[2], .type = (uint32_t)v[3],
		.len = (uint32_t)dlen[4], .data = data[4]};
	return true;
}

static bool decode_msg(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	struct msg_arg a = {.c = c};
	const struct fields fs = {12, 0, 14, decode_msg_part, &a};
	struct rk_raft_snapshot_meta snap;
	struct rk_raft_msg m;
	uint64_t v[13] = {0};
	struct wire w;

	(void)f;
	c->n = 0;
	if (!take_wire(is, c, &w))
		return false;
	if (!get_fields(&w, &fs, v, NULL, NULL) || v[2] > UINT8_MAX ||
	    v[3] > UINT8_MAX)
		return false;
	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)v[2];
	m.flags = (uint8_t)v[3];
	m.reject = v[4] != 0;
	m.from = v[5];
	m.to = v[6];
	m.term = v[7];
	m.log_term = v[8];
	m.index = v[9];
	m.commit = v[10];
	m.reject_hint = v[11];
	m.context = v[12];
	m.entries = c->n > 0 ? c->scratch->ents : NULL;
	m.n_entries = c->n;
	if (a.has_snap) {
		const rangekv_ConfState *pc = &a.snap.conf;
		if (pc->ids_count != pc->flags_count ||
		    pc->ids_count > RK_RAFT_MAX_MEMBERS)
			return false;
		memset(&snap, 0, sizeof(snap));
		snap.index = a.snap.index;
		snap.term = a.snap.term;
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
		int rc = c->h->raft(c->h->arg, v[1], &m);
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

int rk_net_batch_add_removed(struct rk_buf *out, const struct rk_net_removed *m)
{
	rangekv_Removed pm = {m->range, m->replica_id, m->conf_version, m->ask};

	return encode_field(out, rangekv_Batch_removed_tag, rangekv_Removed_fields, &pm);
}

int rk_net_batch_add_check(struct rk_buf *out, const struct rk_net_check *m)
{
	rangekv_CheckReport pm = {m->range, m->index, m->replica_id, m->checksum,
				  m->check_id, m->failed};

	return encode_field(out, rangekv_Batch_checks_tag, rangekv_CheckReport_fields, &pm);
}

static bool decode_check(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_CheckReport pm = rangekv_CheckReport_init_zero;
	struct rk_net_check m;

	(void)f;
	if (!pb_decode(is, rangekv_CheckReport_fields, &pm))
		return false;
	m.range = pm.range;
	m.index = pm.index;
	m.replica_id = pm.replica_id;
	m.checksum = pm.checksum;
	m.check_id = pm.check_id;
	m.failed = pm.failed;
	if (c->h->check != NULL)
		c->h->check(c->h->arg, &m);
	return true;
}

static bool decode_removed(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	rangekv_Removed pm = rangekv_Removed_init_zero;
	struct rk_net_removed m;

	(void)f;
	if (!pb_decode(is, rangekv_Removed_fields, &pm))
		return false;
	m.range = pm.range;
	m.replica_id = pm.replica_id;
	m.conf_version = pm.conf_version;
	m.ask = pm.ask;
	if (c->h->removed != NULL)
		c->h->removed(c->h->arg, &m);
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

/* ClientReq: 1 id, 2 range, 3 cmd, 4 generation. ClientResp: 1 id,
 * 2 status, 3 reply, 4 leader, 5 descs (repeated). */
int rk_net_batch_add_req(struct rk_buf *out, const struct rk_net_req *r)
{
	size_t body = u64_size(1, r->id) + u64_size(2, r->range) +
		      bytes_size(3, r->len) + u64_size(4, r->generation);
	uint8_t *p, *end;

	p = batch_element(out, rangekv_Batch_reqs_tag, body, &end);
	if (p == NULL)
		return RK_ENOMEM;
	p = put_u64(p, 1, r->id);
	p = put_u64(p, 2, r->range);
	p = put_bytes(p, 3, r->cmd, r->len);
	p = put_u64(p, 4, r->generation);
	return p == end ? 0 : RK_EINVAL;
}

int rk_net_batch_add_resp(struct rk_buf *out, const struct rk_net_resp *r)
{
	size_t body = u64_size(1, r->id) + u64_size(2, r->status) +
		      bytes_size(3, r->len) + u64_size(4, r->leader);
	uint8_t *p, *end;

	if (r->n_descs > RK_NET_MAX_DESCS)
		return RK_EINVAL;
	for (uint32_t i = 0; i < r->n_descs; i++)
		body += len_size(5, r->desc_lens[i]);
	p = batch_element(out, rangekv_Batch_resps_tag, body, &end);
	if (p == NULL)
		return RK_ENOMEM;
	p = put_u64(p, 1, r->id);
	p = put_u64(p, 2, r->status);
	p = put_bytes(p, 3, r->reply, r->len);
	p = put_u64(p, 4, r->leader);
	/* Every descriptor, an empty one too (put_bytes leaves those out):
	 * the count is part of the answer. */
	for (uint32_t i = 0; i < r->n_descs; i++) {
		p = put_len(p, 5, r->desc_lens[i]);
		if (r->desc_lens[i] > 0)
			memcpy(p, r->descs[i], r->desc_lens[i]);
		p += r->desc_lens[i];
	}
	return p == end ? 0 : RK_EINVAL;
}

/* A ClientReq or ClientResp element: fields 1..fs->nf, field 3 the bytes. */
static bool get_client(pb_istream_t *is, const struct decode_ctx *c,
		       const struct fields *fs, uint64_t *v, const uint8_t **pp,
		       size_t *np)
{
	const uint8_t *b[5] = {NULL};
	size_t bl[5] = {0};
	struct wire w;

	if (!take_wire(is, c, &w) || !get_fields(&w, fs, v, b, bl))
		return false;
	*pp = b[3];
	*np = bl[3];
	return true;
}

static bool decode_req(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	static const struct fields fs = {4, 1u << 3, 4, NULL, NULL};
	struct decode_ctx *c = *arg;
	uint64_t v[5] = {0};
	struct rk_net_req r;

	(void)f;
	if (!get_client(is, c, &fs, v, &r.cmd, &r.len))
		return false;
	r.id = v[1];
	r.range = v[2];
	r.generation = v[4];
	if (c->h->req != NULL)
		c->h->req(c->h->arg, &r);
	return true;
}

/* ClientResp field 5: one more descriptor, up to RK_NET_MAX_DESCS. */
static bool resp_desc(void *arg, uint32_t field, const uint8_t *p, size_t n)
{
	struct rk_net_resp *r = arg;

	if (field != 5 || r->n_descs >= RK_NET_MAX_DESCS)
		return false;
	r->descs[r->n_descs] = n > 0 ? p : NULL;
	r->desc_lens[r->n_descs++] = n;
	return true;
}

static bool decode_resp(pb_istream_t *is, const pb_field_iter_t *f, void **arg)
{
	struct decode_ctx *c = *arg;
	uint64_t v[5] = {0};
	struct rk_net_resp r;
	const struct fields fs = {4, 1u << 3, 5, resp_desc, &r};

	(void)f;
	memset(&r, 0, sizeof(r));
	if (!get_client(is, c, &fs, v, &r.reply, &r.len) || v[2] > UINT32_MAX)
		return false;
	r.id = v[1];
	r.status = (uint32_t)v[2];
	r.leader = v[4];
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
	b.removed.funcs.decode = decode_removed;
	b.removed.arg = &c;
	b.checks.funcs.decode = decode_check;
	b.checks.arg = &c;
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
