/*
 * Coalesced heartbeats: the heartbeats (and their answers) of every awake
 * range two nodes share travel as ONE bytes field of the Batch (field 9),
 * a run of small hand-packed records, instead of one protobuf RaftMsg each.
 *
 * A record: a kind byte (1 heartbeat, 2 heartbeat answer), then varints:
 * range, from, to, term, context, and for a heartbeat its commit. Nothing
 * else of a raft message is carried, so only messages whose other fields
 * are all zero are eligible (rk_net_beat_ok); anything else goes the usual
 * way. The receiver rebuilds each record into a struct rk_raft_msg and hands
 * it to the same raft handler as any message: the raft core cannot tell.
 *
 * Why: with thousands of awake ranges a node's traffic is almost all
 * heartbeats. Encoding and decoding each through nanopb (descriptor walks,
 * a submessage per message) cost more than stepping it; a record here is
 * a dozen bytes written and read by straight-line code.
 */
#include <string.h>

#include "codec.h"
#include "varint.h"

enum { BEAT_HB = 1, BEAT_HB_RESP = 2 };

#define BATCH_BEATS_TAG ((9u << 3) | 2u) /* Batch.beats, length-delimited */

bool rk_net_beat_ok(const struct rk_raft_msg *m)
{
	if (m->type != RK_RAFT_MSG_HEARTBEAT && m->type != RK_RAFT_MSG_HEARTBEAT_RESP)
		return false;
	return m->flags == 0 && !m->reject && m->log_term == 0 && m->index == 0 &&
	       m->reject_hint == 0 && m->n_entries == 0 && m->snapshot == NULL &&
	       (m->type == RK_RAFT_MSG_HEARTBEAT || m->commit == 0);
}

int rk_net_beats_add(struct rk_buf *beats, uint64_t range, const struct rk_raft_msg *m)
{
	uint8_t rec[1 + 6 * 10], *p = rec;

	if (!rk_net_beat_ok(m))
		return RK_EINVAL;
	*p++ = m->type == RK_RAFT_MSG_HEARTBEAT ? BEAT_HB : BEAT_HB_RESP;
	p = rk_varint_put(p, range);
	p = rk_varint_put(p, m->from);
	p = rk_varint_put(p, m->to);
	p = rk_varint_put(p, m->term);
	p = rk_varint_put(p, m->context);
	if (m->type == RK_RAFT_MSG_HEARTBEAT)
		p = rk_varint_put(p, m->commit);
	rk_buf_append(beats, rec, (size_t)(p - rec));
	return beats->oom ? RK_ENOMEM : 0;
}

int rk_net_batch_add_beats(struct rk_buf *out, const struct rk_buf *beats)
{
	uint8_t hdr[1 + 10], *p = hdr;

	if (beats->len == 0)
		return 0;
	*p++ = (uint8_t)BATCH_BEATS_TAG;
	p = rk_varint_put(p, beats->len);
	rk_buf_append(out, hdr, (size_t)(p - hdr));
	rk_buf_append(out, beats->p, beats->len);
	return out->oom ? RK_ENOMEM : 0;
}

int rk_net_beats_decode(const uint8_t *p, size_t n, const struct rk_net_handlers *h)
{
	const uint8_t *end;

	if (n == 0)
		return 0;
	end = p + n;
	while (p < end) {
		struct rk_raft_msg m;
		uint64_t range;
		uint8_t kind = *p++;

		if (kind != BEAT_HB && kind != BEAT_HB_RESP)
			return RK_EPROTO;
		memset(&m, 0, sizeof(m));
		m.type = kind == BEAT_HB ? RK_RAFT_MSG_HEARTBEAT : RK_RAFT_MSG_HEARTBEAT_RESP;
		if (!rk_varint_get(&p, end, &range) || !rk_varint_get(&p, end, &m.from) ||
		    !rk_varint_get(&p, end, &m.to) || !rk_varint_get(&p, end, &m.term) ||
		    !rk_varint_get(&p, end, &m.context) ||
		    (kind == BEAT_HB && !rk_varint_get(&p, end, &m.commit)))
			return RK_EPROTO;
		if (h->raft != NULL) {
			int rc = h->raft(h->arg, range, &m);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
