/*
 * The placement group's state machine (rk_pl_sm): the range-id allocator
 * and the index of range descriptors, applied from the placement group's
 * raft log (range RK_RANGE_PLACEMENT, desc.h) into the store's placement
 * table. docs/placement.md, "The placement group", has the why.
 *
 * Commands (an entry of the group's log; integers little endian):
 *   ALLOC  u8 1 | u64 origin node | u64 token | u32 count
 *          reserves count ids: [first, first + count), first the stored
 *          next id, which moves past them. Ids are never reused: the next
 *          id only grows, is written with the group's apply state, and
 *          travels in its snapshots. No id reaches RK_RANGE_RESERVED_FIRST.
 *   REPORT u8 2 | u64 origin node | u64 token | u32 n |
 *          n x (u32 len | descriptor, stored form)
 *          each descriptor replaces the indexed one of its range only if
 *          its (generation, conf_version) is higher (compared in that
 *          order): a stale report never overwrites a newer one.
 *
 * Table rows:
 *   "n"                  -> u64: the first id never handed out
 *   "i"                  -> u64: N, the number of ranges of the first
 *                           start (ids 1..N): their index entries are
 *                           implicit until reported (generation 1,
 *                           configuration version 1: the first-start
 *                           layout, which every node computes from the
 *                           recorded flags), so a first start writes two
 *                           rows however many ranges it makes
 *   'd' + u64 BE range   -> the range's descriptor (stored form)
 *
 * Threads: one thread uses an rk_pl_sm with one reader (the node's loop).
 */
#ifndef RK_PL_GROUP_H
#define RK_PL_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "desc.h"
#include "nodes.h"
#include "store.h"

/* The first byte of everything sent to the group: these commands (1-6),
 * the heartbeat messages (16-17, nodes.h) and the index queries (32-33,
 * page.h); each value names one thing only. */
enum rk_pl_cmd {
	RK_PL_CMD_ALLOC = 1,
	RK_PL_CMD_REPORT = 2,
	RK_PL_CMD_REGISTER = 3, /* nodes.h */
	RK_PL_CMD_STATS = 4,    /* nodes.h */
	RK_PL_CMD_STATE = 5,    /* nodes.h */
	RK_PL_CMD_REBALANCE = 6, /* nodes.h */
};

/* At most this many ids in one ALLOC (a split takes one). */
#define RK_PL_MAX_ALLOC 1000000u

/* What applying one command did (for the proposer's answer). */
struct rk_pl_result {
	uint8_t op;
	/* Who asked (echoed: the node to answer, its request). ALLOC: the
	 * ids reserved ([first, first +
	 * count)), or rc: RK_EINVAL for a count of 0 or above the bound,
	 * RK_ENOSPC once the id space is exhausted (nothing reserved). */
	uint64_t origin, token, first;
	uint32_t count;
	int rc;
	/* REPORT: descriptors taken and refused as stale (not newer);
	 * STATS: nodes updated and unknown. REGISTER: rc as nodes.h says. */
	uint32_t taken, stale;
};

struct pl_overlay {
	uint64_t range, generation, conf_version;
};

/* The writes of the commands applied since rk_pl_sm_begin, which a read
 * of the store does not see yet (they are in the batch). */
struct rk_pl_sm {
	bool have_next;
	uint64_t next;
	struct pl_overlay *ov;
	size_t n_ov, cap_ov;
	/* The node table (nodes.h): the initial nodes, implicit until a row
	 * is written, and the records written since rk_pl_sm_begin. */
	struct rk_pl_initial_node initial[RK_PL_MAX_INITIAL];
	size_t n_initial;
	struct rk_pl_node_rec *nov;
	size_t n_nov, cap_nov;
};

void rk_pl_sm_init(struct rk_pl_sm *sm);
void rk_pl_sm_free(struct rk_pl_sm *sm);
/* Before the first command of a batch (and again after a rolled-back
 * attempt): forgets the overlay. The batch's earlier contents must be
 * committed by then, or rolled back. */
void rk_pl_sm_begin(struct rk_pl_sm *sm);
/* Applies one command: reads through rd (committed state) and the overlay,
 * writes into b. 0 (*resp says what it did), RK_EPROTO for an entry that
 * is not a command (nothing written; the caller skips it), or a store
 * error (RK_ENOMEM, RK_EIO: the caller rolls the batch back). */
int rk_pl_sm_apply(struct rk_pl_sm *sm, struct rk_store_reader *rd,
		   struct rk_store_batch *b, const uint8_t *data, size_t len,
		   struct rk_pl_result *resp);

/* Command encoding (appended to out; RK_ENOMEM if out ran out). The
 * common header of every command: op, origin, token and a u32. */
int rk_pl_encode_header(struct rk_buf *out, uint8_t op, uint64_t origin,
			uint64_t token, uint32_t v);
int rk_pl_encode_alloc(struct rk_buf *out, uint64_t origin, uint64_t token,
		       uint32_t count);
/* The REPORT header for n descriptors, then rk_pl_encode_report_desc
 * each (rk_pl_report_set_n corrects n in a header at out->p + at). */
int rk_pl_encode_report(struct rk_buf *out, uint64_t origin, uint64_t token,
			uint32_t n);
void rk_pl_report_set_n(struct rk_buf *out, size_t at, uint32_t n);
#define RK_PL_REPORT_HEADER 21
int rk_pl_encode_report_desc(struct rk_buf *out, const struct rk_desc *d);

/* The initial state, written at first start (no proposal): n initial
 * ranges (1..n, their index entries implicit) and the next id n + 1. */
void rk_pl_write_initial(struct rk_store_batch *b, uint64_t n);
void rk_pl_write_next(struct rk_store_batch *b, uint64_t next);
/* The number of initial ranges (0 if none were recorded). */
int rk_pl_read_initial(struct rk_store_reader *rd, uint64_t *np);
int rk_pl_write_desc(struct rk_store_batch *b, const struct rk_desc *d,
		     struct rk_buf *scratch);

/* Reads of the committed state. RK_ENOTFOUND when absent (for an initial
 * range never reported: its first-start descriptor stands). */
int rk_pl_read_next(struct rk_store_reader *rd, uint64_t *nextp);
int rk_pl_read_desc(struct rk_store_reader *rd, uint64_t range,
		    struct rk_desc *dp);
/* Calls fn(arg, d) for the indexed descriptors of ranges above `after`,
 * in range id order, until fn returns non-zero (returned if negative). d
 * is valid during the call only. */
int rk_pl_walk(struct rk_store_reader *rd, uint64_t after,
	       int (*fn)(void *arg, const struct rk_desc *d), void *arg);

#endif
