/*
 * Spans a split handed off since the last checkpoint (docs/node.md "Range
 * split", "Snapshots of a right half").
 *
 * Journal once (docs/storage.md): after a crash the apply tables come back
 * as of the last checkpoint and each range replays its log. A left replica
 * that applied a split after that checkpoint comes back with its span from
 * before the split, and its replay writes the right half's keys again up
 * to the split, on top of whatever the right half's keys then hold. That is
 * right as long as they hold what the checkpoint held; it is not if a
 * snapshot of the right range was installed here meanwhile: an install is
 * redone at start from its staged file (its data is in no log), before the
 * left replays, so the left's writes from before the split would land on
 * top of the snapshot's data, which already has them (an INCR counted
 * twice, replicas that differ).
 *
 * So a split records the span it handed off (the split key to the left's
 * end before it) with the left range and the split's index, and an entry
 * lasts until a checkpoint holds the left's apply state at or past that
 * index (or the left replica is gone from this node: a removal's redo at
 * start clears what it left before any install is redone, boot.c). A
 * snapshot whose span meets an entry is refused and a checkpoint is asked
 * for; the leader sends it again, and once the checkpoint is done it is
 * taken.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_HANDOFF_H
#define RK_NODE_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rk_node;
struct rk_desc;
struct rk_handoff_span;

struct rk_handoffs {
	struct rk_handoff_span *v;
	size_t n, cap;
};

/* Records that range left, at its entry index, handed [key, end) to a
 * right half (elen 0: unbounded). RK_ENOMEM and nothing recorded when out
 * of memory (the split's apply then fails and is retried). */
int rk_handoff_add(struct rk_node *n, uint64_t left, uint64_t index,
		   const uint8_t *key, size_t klen, const uint8_t *end, size_t elen);
/* Whether d's span meets a span handed off that a checkpoint does not yet
 * cover; entries that one covers are dropped first. */
bool rk_handoff_meets(struct rk_node *n, const struct rk_desc *d);
/* Whether range left split here and no checkpoint has it yet. Its
 * replica's removal waits until one does (life.c): a crash would bring
 * the left back from before the split, the removal's redo at start would
 * clear its whole span of then, the right half's keys too, and no replay
 * of the left would make the right half again (it is loaded only by that
 * replay). */
bool rk_handoff_pending(struct rk_node *n, uint64_t left);
/* Drops the entries a checkpoint covers (a tick's work: few entries). */
void rk_handoff_prune(struct rk_node *n);
void rk_handoff_close(struct rk_node *n);

#endif
