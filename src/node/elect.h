/*
 * Elections this node starts itself.
 *
 * Every replica starts asleep, on the first start as on a restart, and one
 * node starts each range's election: its elector (rk_elect_elector: the
 * preferred node if live, else the next live voter of the range),
 * which campaigns for its ranges at most RK_ELECT_CAMPAIGNS_MAX at a time;
 * the other replicas wake when the vote request reaches them. With 100,000
 * ranges, letting every replica tick from the start means 100,000
 * elections racing, most of them split, each range heartbeating every tick
 * until it sleeps: the loop turns grow past what node liveness tolerates,
 * peers are declared dead, their ranges wake, and the storm feeds itself.
 * Bounded, the start is a pipeline: a range is elected, commits, goes to
 * sleep, and the next one starts.
 *
 * A campaign leaves the set once the replica knows a leader (its own
 * election or another's), or after RK_ELECT_CAMPAIGN_TICKS ticks in any
 * case (its own election timer goes on: nothing stalls behind a range
 * whose peers are down). The same queue serves orphans (a dead leader's
 * ranges) and the replicas a sweep finds without a leader.
 *
 * The decisions are pure functions (rk_elect_elector, rk_elect_campaign_step,
 * rk_elect_leaderless, rk_elect_majority), unit-tested on a fake clock; the
 * rest applies them to the node's replicas.
 */
#ifndef RK_NODE_ELECT_H
#define RK_NODE_ELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct rk_node;
struct rk_replica;

#define RK_ELECT_CAMPAIGNS_MAX 2048
#define RK_ELECT_CAMPAIGN_TICKS 40
#define RK_ELECT_CAMPAIGN_RETRY_TICKS 2
/* A sleeping replica without a leader waits this long for its elector
 * before it wakes and elects the usual way. */
#define RK_ELECT_LEADERLESS_WAIT_TICKS 200

struct rk_elect {
	/* The queue of replicas to campaign for, and the campaigns under way
	 * (at most RK_ELECT_CAMPAIGNS_MAX, each with the tick it started). */
	struct rk_replica **q;
	size_t n_q, cap_q, pos;
	struct campaign {
		struct rk_replica *r;
		uint64_t since;
	} *campaigns;
	size_t n_campaigns;
	bool sweep_needed; /* sleeping replicas may know no leader */
};

/* ---- pure decisions ---- */

/* Whether a node is live, as the caller knows it. */
typedef bool (*rk_elect_live_fn)(void *arg, uint64_t node_id);

/* Range `range`'s preferred leader: the node at position (range - 1) mod n
 * of ids[0..n), the nodes of the range's voters in replica id order
 * (leaders spread evenly); 0 if n is 0. */
uint64_t rk_elect_preferred(const uint64_t *ids, uint32_t n, uint64_t range);

/* The node that starts range's election: its preferred node if live, else
 * the next live one of ids[0..n) (its voters' nodes, as for
 * rk_elect_preferred; self counts as live); 0 if none is known. */
uint64_t rk_elect_elector(const uint64_t *ids, uint32_t n, uint64_t self,
			  uint64_t range, rk_elect_live_fn live, void *arg);

/* Whether `live` nodes (this one included) are a majority of an initial
 * cluster of n (true when n is 0: nothing to wait for). */
bool rk_elect_majority(uint32_t n, uint32_t live);

enum rk_elect_step {
	RK_ELECT_KEEP,   /* the campaign goes on */
	RK_ELECT_RETIRE, /* it leaves the set (led, or too old) */
	RK_ELECT_RETRY,  /* it goes on, and the pre-vote is asked again */
};

/* A campaign `age` ticks old: retired once the replica knows a leader or
 * after RK_ELECT_CAMPAIGN_TICKS; on a tick (tick true), a pre-candidate is
 * retried every RK_ELECT_CAMPAIGN_RETRY_TICKS (a voter that had not yet
 * heard that the old leader is gone refused; pre-votes change no term). */
enum rk_elect_step rk_elect_campaign_step(uint64_t age, bool knows_leader,
					  bool pre_candidate, bool tick);

enum rk_elect_leaderless {
	RK_ELECT_CAMPAIGN, /* this node elects it */
	RK_ELECT_WAKE,     /* it wakes and elects the usual way */
	RK_ELECT_WAIT,     /* its elector is another live node */
};

/* A sleeping replica that knows no leader, asleep for `asleep_ms`: what
 * this node (self) does with it, given its elector (0 if none known). */
enum rk_elect_leaderless rk_elect_leaderless(uint64_t elector, uint64_t self,
					     uint64_t asleep_ms, uint64_t wait_ms);

/* ---- the node's elections ---- */

/* Before anything asks for an elector or a preferred node. */
int rk_elect_init(struct rk_node *n);
void rk_elect_close(struct rk_node *n);

/* First start: this node queues the brand-new ranges it prefers. */
void rk_elect_first_start(struct rk_node *n);

/* Retires finished campaigns and starts queued ones: every tick (tick
 * true), and after every processing turn while the queue holds any. */
void rk_elect_run(struct rk_node *n, bool tick);
bool rk_elect_queued(const struct rk_node *n);

/* Every two election timeouts: sleeping replicas that know no leader. */
void rk_elect_sweep(struct rk_node *n);

/* r's leader seems gone (its node stopped answering: gone false) or is
 * certainly gone (its node restarted: gone true): r forgets it and the
 * range's elector campaigns; r grants votes at once only if gone. */
void rk_elect_orphan(struct rk_node *n, struct rk_replica *r, bool gone);

/* Drops r from the queue and the campaigns (r leaves the node). */
void rk_elect_forget(struct rk_node *n, struct rk_replica *r);

#endif
