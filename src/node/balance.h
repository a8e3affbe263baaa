/*
 * Leadership balance: leaders spread evenly. Range r's preferred leader is
 * the node at position (r - 1) mod n of the initial cluster (its first
 * campaign comes from there, rk_elect_preferred). A leader that is not on
 * its preferred node hands leadership to it once that node is reachable;
 * the core waits for it to catch up and aborts after a timeout, so a
 * lagging or dead node is not forced.
 *
 * With rebalancing on in a cluster with the placement group, a user
 * range's leadership is the scheduler's to spread (placement/balance.c:
 * toward the voter whose node leads least, within 10% of the mean): the
 * preference then stands aside, as handing the scheduler's transfers back
 * to a node picked by range id would undo them, and after replica moves
 * the picks are no longer even. It still places the first start's
 * elections (before the group's leader has said whether rebalancing is
 * on), the placement group's own leadership, and every leadership while
 * rebalancing is paused or in a cluster without the group.
 *
 * A range with more voters than --replicas (a move between promotion and
 * removal) has no preferred node: the scheduler moves its leadership off
 * the replica it is about to remove, and balance must not hand it back.
 *
 * A range that split less than RK_BALANCE_SPLIT_HOLD_MS ago here (either
 * half) is not moved while it is awake: its leader is where the split
 * left it, the left's leader's node (only that node's right replica
 * campaigns at once, split.h). Moving it at once cost its writes a second
 * gap right after the split's own (the transfer's election, its persists
 * queued behind the split batches that come with a burst of splits): at 5
 * splits a second, 2 of 3 right halves were moved 0.7-1 s after their
 * first leader (docs/benchmarks.md, "Range splits under load"). An idle
 * range goes to sleep and is moved then, without writes to hold up; a busy
 * one once the hold is over.
 *
 * Leaderships change only while a range is awake, so a round looks at the
 * awake leaders and at the sleeping leaders put on the misplaced list when
 * they went to sleep: nobody walks the 100,000 others.
 */
#ifndef RK_NODE_BALANCE_H
#define RK_NODE_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rk_node;
struct rk_replica;

#define RK_BALANCE_EVERY_TICKS 20
#define RK_BALANCE_MAX 1024 /* transfers started per round */
#define RK_BALANCE_SPLIT_HOLD_MS 30000

/* Whether r (split at r->split_ms) is left where it is at now_ms. */
bool rk_balance_split_held(const struct rk_replica *r, uint64_t now_ms);

struct rk_balance {
	/* Sleeping leaders away from their preferred node. */
	struct rk_replica **misplaced;
	size_t n, cap;
};

/* r's preferred leader (0 if the initial cluster is not known). */
uint64_t rk_balance_preferred(const struct rk_node *n, const struct rk_replica *r);

/* r, a leader, goes to sleep: put on the misplaced list if it is away from
 * its preferred node. */
void rk_balance_note_sleep(struct rk_node *n, struct rk_replica *r);

/* One round: starts at most RK_BALANCE_MAX transfers. A sleeping leader
 * whose leadership the scheduler spreads (rebalancing on) leaves the
 * misplaced list. */
void rk_balance_leaders(struct rk_node *n);

/* The scheduler stopped spreading user ranges' leaderships (rebalancing
 * paused, rebalance.h): every sleeping leader of this node is noted
 * again (one walk of the table). */
void rk_balance_renote(struct rk_node *n);

void rk_balance_free(struct rk_balance *b);

/* Drops r from the misplaced list (r leaves the node). */
void rk_balance_forget(struct rk_node *n, struct rk_replica *r);

#endif
