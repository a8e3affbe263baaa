/*
 * The value log (vlog.c): large values kept apart from the key table, in
 * append-only segment files <data>/values/<seq, 8 hex digits>.vlog.
 * Private to src/storage; docs/storage.md ("Values apart from the keys")
 * says why and how the store uses it.
 *
 * A segment is a 16-byte header (VLOG_SEG_MAGIC, then its sequence number,
 * little endian) followed by records:
 *
 *   magic u32 | key length u32 | value length u32 | xxh3 u64 | key | value
 *
 * The hash covers both lengths, the key and the value, so a reference that
 * lands on the wrong record, or a record with a flipped bit, is
 * RK_ECORRUPT and never a wrong value. A reference names a record by
 * segment and offset and carries the value's length; the key is the
 * reader's own (the key table's row), checked against the record's.
 *
 * Threads: one writer (the storage thread) adds, flushes, scans and
 * retires; any thread reads and pins. Readers see a record once a flush
 * has written it: the writer flushes before it commits the transaction
 * whose rows refer to the records, so a committed reference is always
 * readable, and, since the flush ends with fdatasync, durable before any
 * checkpoint can hold it.
 *
 * Durability across a crash: records after the last flush may be torn;
 * no durable row refers to them. Opening the log scans the newest segment
 * and cuts it after its last whole record.
 */
#ifndef RK_STORE_VLOG_H
#define RK_STORE_VLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A segment is closed to new records once it would grow past this. */
#define VLOG_SEG_MAX (64u << 20)
#define VLOG_SEG_HEADER 16u
#define VLOG_REC_HEADER 20u
/* The largest key and value one record holds. */
#define VLOG_REC_MAX (VLOG_SEG_MAX - VLOG_SEG_HEADER)
#define VLOG_SEG_MAGIC "rkvlog\0\1"
#define VLOG_REC_MAGIC 0x31564b52u /* "RKV1" */

/* Where a value lives: its record's segment and offset, and its length. */
struct store_vref {
	uint32_t seg;
	uint32_t off;
	uint32_t vlen;
};
#define VLOG_REF_LEN 12u
void store_vref_encode(const struct store_vref *ref, uint8_t out[VLOG_REF_LEN]);
void store_vref_decode(const uint8_t in[VLOG_REF_LEN], struct store_vref *refp);

/* One decoded record: pointers into the bytes it was decoded from. */
struct store_vrec {
	const uint8_t *key, *val;
	uint32_t klen, vlen;
	uint32_t len; /* the whole record's bytes, header included */
};

/* Decodes the record at the start of p (n bytes available): 0, or
 * RK_ECORRUPT when the bytes are not one whole record (a bad magic, a
 * length past n, a hash that does not match). Never reads past n; *recp
 * is zeroed on failure. */
int store_vrec_decode(const uint8_t *p, size_t n, struct store_vrec *recp);
/* Writes the record of key and value at p (store_vrec_len bytes; the
 * caller checked that they fit VLOG_REC_MAX). */
void store_vrec_encode(uint8_t *p, const void *key, size_t klen,
		       const void *val, size_t vlen);
/* A record's bytes for a key and value of these lengths. */
static inline uint64_t store_vrec_len(size_t klen, size_t vlen)
{
	return VLOG_REC_HEADER + (uint64_t)klen + vlen;
}

struct store_vlog;

/* Whether name is a segment file's ("%08x.vlog", lower case), and its
 * sequence number. */
bool store_vlog_segment_name(const char *name, uint32_t *seqp);

/* Opens (creating it if create) the directory dir and its segments: a
 * segment whose header is not a value log's, or whose name and header
 * disagree, is RK_ECORRUPT; the newest is cut after its last whole record
 * (*cutp: the bytes cut, NULL if not wanted). A missing directory without
 * create is RK_ENOTFOUND. */
int store_vlog_open(const char *dir, bool create, struct store_vlog **vp,
		    uint64_t *cutp);
/* Segments of at most seg_max bytes from now on (tests: small segments;
 * between a record's worth and VLOG_SEG_MAX). */
void store_vlog_set_segment_max(struct store_vlog *v, uint32_t seg_max);
/* Any thread: the bytes of the segments (flushed). */
uint64_t store_vlog_bytes(struct store_vlog *v);
void store_vlog_close(struct store_vlog *v);

/* Writer: appends a record (kept in memory until the next flush) and
 * says where (*refp). A key and value too large for one segment
 * (VLOG_REC_MAX) is RK_ETOOBIG. When the newest segment has no room, it is flushed and
 * synced and a new one started. */
int store_vlog_add(struct store_vlog *v, const void *key, size_t klen,
		   const void *val, size_t vlen, struct store_vref *refp);
/* Writer: writes the records added since the last flush and makes them
 * durable (fdatasync), then readable. Nothing to write: returns at once. */
int store_vlog_flush(struct store_vlog *v);
/* Writer: whether the log holds no segment (then no row refers to it). */
bool store_vlog_empty(const struct store_vlog *v);
/* Bytes added and not yet flushed. */
uint64_t store_vlog_pending(const struct store_vlog *v);

/* Any thread: copies the value ref names into *bufp (grown with realloc
 * as needed, *capp its size) after checking that the record is whole, is
 * key's and has ref's length. RK_ECORRUPT if not; RK_ENOTFOUND when the
 * segment is not in the log (retired, or never made). */
int store_vlog_get(struct store_vlog *v, const struct store_vref *ref,
		   const void *key, size_t klen, uint8_t **bufp, size_t *capp,
		   size_t *vlenp);

/* Any thread: a reader that may hold references longer than one call
 * (a snapshot of the key table) pins the log first: no segment retired
 * after the pin is removed until the pin is released. Returns the ticket
 * that unpin takes. */
uint64_t store_vlog_pin(struct store_vlog *v);
void store_vlog_unpin(struct store_vlog *v, uint64_t ticket);

/* Writer: the segments, oldest first: *nsegp of them, each with its
 * sequence number and bytes (flushed ones). The newest segment, the one
 * records are added to, is last. Valid until the next add or retire. */
struct store_vseg_info {
	uint32_t seq;
	uint64_t bytes;
};
int store_vlog_segments(struct store_vlog *v, struct store_vseg_info **segsp,
			size_t *nsegp);
/* Writer: the record of segment seq at *offp (a segment's first record
 * is at VLOG_SEG_HEADER), and *offp moved past it; RK_ENOTFOUND at the
 * end of the segment's flushed bytes. The pointers stay valid until the
 * writer retires the segment. */
int store_vlog_next(struct store_vlog *v, uint32_t seq, uint32_t *offp,
		    struct store_vrec *recp);
/* Writer: the segment no longer holds a value any row refers to (nor
 * will a row recovered after a crash: the caller retires a segment only
 * once a checkpoint holds every row moved out of it). It is deleted as
 * soon as no pin older than this call remains (store_vlog_reap). The
 * newest segment cannot be retired (RK_EINVAL). */
int store_vlog_retire(struct store_vlog *v, uint32_t seq);
/* Writer: deletes the retired segments no pin needs any more; *leftp (if
 * not NULL) says how many retired ones remain. */
int store_vlog_reap(struct store_vlog *v, size_t *leftp);

#endif
