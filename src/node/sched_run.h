/*
 * The scheduler's driver (docs/placement.md, "The driver"): on the
 * placement group's leader, once per RK_SR_EVERY_MS while rebalancing is
 * on (rebalance.h), or while it is paused and a node is decommissioning
 * (then only the drain's operations are carried out), builds the
 * scheduler's snapshot from the group's applied state (the node table
 * with the states the leader derives, the index of descriptors), runs
 * one incremental pass (placement/sched.h) and carries out its operations
 * with the admin calls (admin.h) on the range's leader, over the
 * forwarding path (fwd.h, rk_fwd_call), each with the generation and
 * configuration version it was decided on. The placement group's own
 * range is not in the index: the driver, on the group's leader, takes
 * its descriptor from its own replica and moves it like any range, kept
 * at 3 voters (5 once 5 nodes or more are up, rk_plc_group_size). A
 * decommissioning node that no range (the group's included) has a
 * replica on any more is marked decommissioned.
 *
 * The index is read again only when the group's replica here has
 * applied something since the last read began that may have changed it
 * (rk_plc_index_same: not the node table's commands), RK_SR_PAGE
 * descriptors a tick (the passes meanwhile use the previous read); the
 * nodes' counts of the last tally are kept current as ranges' leaders
 * and sizes change (rk_pl_tally_range), so that a pass walks every
 * range only after a read; a pass
 * refreshes the leaders and busy marks of the RK_SR_SLICE ranges it
 * visits from a cursor, from memory. While rebalancing is on, the
 * scheduler's rule 9 balances the user ranges' leaderships (the runtime's
 * preference stands aside then, balance.h), by the nodes' counts of them
 * in their heartbeats, once the replicas are spread, a round at most
 * every RK_SR_LEAD_SETTLE_MS and none while a transfer is in flight.
 * Replicas are balanced by
 * count and by bytes: each range's size is the one its leader last
 * reported in its heartbeats (rfig.h), used once every live node has
 * completed a full report to this leader (by count alone until then).
 *
 * Nothing it keeps is needed after a leader change: the descriptors are
 * the record of moves (sched.h), and the ranges it started an operation
 * on (busy until their descriptor or leader moves, or RK_SR_BUSY_MS) are
 * only there to avoid sending the same call twice.
 *
 * Threads: the loop.
 */
#ifndef RK_NODE_SCHED_RUN_H
#define RK_NODE_SCHED_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rk_node;
struct rk_http_req;
struct rk_http_resp;
struct sr_busy;
struct sr_lead;
struct sr_merge;
struct sr_cold;
struct rk_pl_range;
struct rk_pl_op;
struct rk_pl_config;
struct rk_pl_state;
struct rk_json;
struct rk_buf;

#define RK_SR_EVERY_MS 1000u
/* A pass comes sooner, but not more often than this, once a step the
 * driver started is seen done: the index shows a merge in flight done
 * (its slot is then filled at once rather than up to RK_SR_EVERY_MS
 * later), or a move's call done (its range's indexed descriptor moved
 * on, its leader moved for a transfer) or refused, so that the move's
 * next step, and the slot its promotion frees, follow at once. While
 * calls or merges are in flight the index is read again this often too
 * (once the group applied something), so that their outcomes show. */
#define RK_SR_SOON_MS 200u
/* An operation not seen in the descriptors after this long is forgotten
 * (the next pass decides again from what they say). */
#define RK_SR_BUSY_MS 10000u
/* Ranges visited per pass, operations started per pass. */
#define RK_SR_SLICE 1024u
#define RK_SR_MAX_OPS 16u
/* A round of leadership balance (rule 9) waits for a heartbeat this long
 * after the last round from every live node, so that the counts it goes
 * by show that round's transfers (a transfer takes tens of
 * milliseconds; heartbeats come every RK_HB_INTERVAL_MS). */
#define RK_SR_LEAD_SETTLE_MS 1500u
/* The heap is trimmed after a freed index of at least RK_SR_TRIM_RANGES
 * ranges, at most once per RK_SR_TRIM_MS (sched_run.c, trim_later). */
#define RK_SR_TRIM_RANGES 10000u
#define RK_SR_TRIM_MS 30000u
/* Descriptors of the index read per tick. */
#define RK_SR_PAGE 1000u
/* Automatic merges (sched_merge.c; how many in flight per node and how
 * long a range must have been small and quiet on its own are the cluster
 * settings --merge-max and --merge-cold): a merge not seen in the index
 * RK_SR_MERGE_MS after it was asked is forgotten (the next passes decide
 * again); together under RK_SR_MERGE_QPS writes and reads per second when
 * --split-qps is off (a quarter of it when on). */
#define RK_SR_MERGE_MS 30000u
/* A range the driver merged (both sides cold) is cold again this long
 * after the index shows the merge (at most --merge-cold): time for its
 * leader to report its new size (a size job and a heartbeat, each about
 * a second), which the next merge of it is judged on. */
#define RK_SR_MERGED_COLD_MS 3000u
#define RK_SR_MERGE_QPS 100u

struct rk_sr {
	uint64_t last_ms;
	uint64_t lead_ms; /* the last pass that handed leaderships over for rule 9 */
	size_t cursor;
	size_t look_at; /* rk_sr_look's slice when no pass runs */
	struct sr_busy *busy;
	size_t n_busy, cap_busy;
	/* Leaders learned from answers, for ranges this node holds no
	 * replica of. */
	struct sr_lead *lead;
	size_t n_lead, cap_lead;
	uint64_t passes, ops_sent, ops_failed, asked;
	/* A call of a move was refused since the last pass: its range is
	 * free, the next pass need not wait its turn (RK_SR_SOON_MS). */
	bool soon;
	/* A freed index whose memory is to go back to the system, and
	 * when it last did (trim_later). */
	bool trim_due;
	uint64_t trim_ms;
	/* Index reads; operations decided and left undone while paused. */
	uint64_t index_reads, ops_paused;
	/* Walks of every range the passes and looks made (rk_sr_metrics):
	 * figures filled in, tallies, the operations' looks, the merge
	 * candidates' searches (sched_merge.c). */
	uint64_t fills, tallies, looks, merge_walks;
	/* The last pass or look had every range's size (rfig.h). */
	bool sized;
	/* What the ranges' figures were last filled from (fill_figures:
	 * the index read, the figures table's epoch, taken and size, and
	 * whether they were used), and the last tally: the nodes' counts,
	 * st->moves, and the ranges without a known leader, of the
	 * tally_n_ranges first ranges of the index read tally_read. A range
	 * whose leader or size changes since is taken out of them as it was
	 * and added as it is (rk_pl_tally_range), so a pass or look on the
	 * same index read and nodes takes them again instead of walking
	 * every range. */
	bool filled, tallied;
	uint64_t fill_key[5], tally_read;
	struct rk_pl_node *tally_nodes;
	size_t n_tally_nodes, cap_tally_nodes, tally_n_ranges, tally_leaderless;
	uint32_t tally_moves;
	/* Merges asked and not yet seen in the index, and the candidates'
	 * cold marks (sched_merge.c); the merges' counters. */
	struct sr_merge *merging;
	size_t n_merging, cap_merging;
	struct sr_cold *cold;
	size_t n_cold, cap_cold;
	/* Pairs among the last pass's candidates that merge once both are
	 * cold (or are cold and wait for a slot or an alignment): rule 9
	 * waits for them (lead_round), not for every cold range, since a
	 * cold range whose pair is too large or too busy to merge may stay
	 * so for good. */
	size_t n_pairs;
	uint64_t merges_asked, merges_done, merges_failed;
	/* The merge candidates of the last search (sched_merge.c): their
	 * positions in s->ranges, in start order, and what they were found
	 * in (fill_key: the index read and the figures; the size limit):
	 * the same inputs find the same ranges, and a settled cluster's
	 * passes search no more. */
	size_t *cand;
	size_t n_cand, cap_cand;
	bool cand_ok;
	uint64_t cand_key[6];
	/* From here on, the index (index_free zeroes it all). The pass's
	 * view of each range as last read, in range id order (with the
	 * keys of its span, owned), and the group's applied index when that
	 * read began. */
	struct rk_pl_range *ranges;
	size_t n_ranges, cap_ranges;
	/* Ranges of the index an automatic split made (RK_PL_RANGE_AUTO_SPLIT:
	 * a merge's right range); none, no merge candidate to search for. */
	size_t n_flagged;
	uint64_t index_at;
	bool index_read;
	uint64_t read_ms; /* when the last read began */
	/* A read under way, a page a tick: the pages in so far, the last
	 * range id read, the applied index when it began. */
	bool reading;
	struct rk_pl_range *pend;
	size_t n_pend, cap_pend, pend_flagged;
	uint64_t pend_after, pend_at;
	/* The ranges the last read replaced, their keys freed a page a tick
	 * from gone_at. */
	struct rk_pl_range *gone;
	size_t n_gone, gone_at;
};

void rk_sr_tick(struct rk_node *n);
/* The snapshot of a pass without the pass (ops.h: the placement figures
 * while the driver is idle): the ranges with their leaders (asking
 * RK_SR_MAX_OPS leaderless ones' nodes, as a pass does), handed to
 * rk_ops_look. */
void rk_sr_look(struct rk_node *n);
/* POST /api/v1/nodes/{id}/decommission: 202 {"id", "state":
 * "decommissioning"} once asked (the STATE command goes to the group's
 * leader, heartbeat.h), 200 with the state when asked already; 409 when
 * fewer live nodes than --replicas would remain, 404 for a node the
 * states told to this node do not name, 503 before any were told. false
 * for any other request. */
bool rk_sr_http(struct rk_node *n, const struct rk_http_req *req, struct rk_http_resp *resp);
void rk_sr_close(struct rk_node *n);
/* The driver's counters in /metrics (placement leader only): passes,
 * index reads, walks of every range by kind. */
void rk_sr_metrics(struct rk_node *n, struct rk_buf *b);

/* Between sched_run.c, sched_merge.c and sched_lead.c. */
/* Range's leader as this node knows it: its own replica's view, a leader
 * learned from an answer (rk_sr_lead_answer), or the range cache's; 0
 * unknown. */
uint64_t rk_sr_leader_of(struct rk_node *n, uint64_t range);
/* The pass's view of range x's leader and busy mark (a range with a merge
 * in flight is RK_PL_BUSY_MERGE). */
void rk_sr_fill_range(struct rk_node *n, struct rk_pl_range *x);
/* Carries out op (not a split nor a merge) on range x's leader with the
 * admin call it stands for, x busy until its descriptor or leader moves
 * (or RK_SR_BUSY_MS). */
void rk_sr_carry_out(struct rk_node *n, const struct rk_pl_range *x, const struct rk_pl_op *op);
/* The index's position of range id (s->ranges is in range id order);
 * SIZE_MAX if it is not indexed. */
size_t rk_sr_find(const struct rk_sr *s, uint64_t id);
/* Learns the leader a call's answer names ("leader": N, in a range or a
 * not-leader refusal), the driver's next call on range goes there: a
 * leader the driver had from before a transfer (this node's replica since
 * removed, say) is otherwise asked for ever. */
void rk_sr_lead_answer(struct rk_sr *s, uint64_t range, const char *body, size_t len);
/* Whether the driver has a merge of range in flight. */
bool rk_sr_merging(const struct rk_sr *s, uint64_t range);
/* Whether the index shows one of the driver's merges in flight done or
 * refused: its slot is free, and a pass need not wait its turn to fill
 * it (rk_sr_tick). */
bool rk_sr_merges_settled(const struct rk_sr *s);
/* Automatic merges, within a pass of the driver while rebalancing is on:
 * base is the pass's configuration (merges off in it), st its tallied
 * state (ranges in range id order). Runs the scheduler's rules over the
 * ranges made by automatic splits and their left neighbours in start
 * order and carries out the merges it decides (at most --merge-max in
 * flight per node leading their left, each range cold for --merge-cold)
 * with POST /api/v1/merge on the left's leader, and the steps that move
 * a merge pair's right range onto its left's nodes first (reason
 * merge_align, with the admin calls of any move, counted in st's moves);
 * marks both ranges of every merge pair busy in st, so that the main
 * pass leaves them alone (docs/placement.md, "Merging neighbours whose
 * replica sets differ"); counts in s->n_pairs the pairs that merge once
 * cold. */
void rk_sr_merges(struct rk_node *n, const struct rk_pl_config *base, struct rk_pl_state *st);
/* The driver's merges in /api/v1/operations (those whose call does not
 * run on this node: merge.h lists those); how many. */
size_t rk_sr_merges_json(struct rk_node *n, struct rk_json *j);
void rk_sr_merges_metrics(struct rk_node *n, struct rk_buf *b);
void rk_sr_merges_close(struct rk_node *n);

#endif
