/*
 * Crash points and held applies of tests.
 *
 * Crash points: named places in the membership, snapshot and node
 * registration paths where a test makes the node die as kill -9 would
 * (SIGKILL to itself), to check that a restart from whatever is on disk
 * there comes back consistent. Compiled only with RK_TEST_HOOKS (never in
 * Release builds), and armed only by RANGEKV_TEST_HOOKS=1 with
 * RANGEKV_CRASH_AT=<name> in the node's environment.
 *
 * The names (docs/testing.md, "Crash points"):
 *   boot.first_written    a first start's ranges written, not yet checkpointed
 *   member.proposed       a leader, right after proposing a membership change
 *   member.applied        a replica, right after applying one (not yet durable)
 *   life.created          a replica created for a message, nothing written yet
 *   split.proposed        a leader, right after proposing a split
 *   split.applied         a replica, right after applying a split (not yet durable)
 *   merge.frozen          a replica, right after applying a merge's FREEZE
 *   merge.freeze_applied  the merge's caller saw the FREEZE applied, no MERGE proposed
 *   merge.proposed        the merge's caller, right after proposing the MERGE
 *   merge.applied         a left replica, right after applying a MERGE (not yet durable)
 *   merge.left_durable    the merged left durable, its right's removal not yet written
 *   snap.received         a snapshot staged and sealed, not yet stepped
 *   snap.install_durable  its install marker durable, the data not yet written
 *   snap.installed        its data written, the replica not yet updated
 *   life.leaving          a removed replica's change durable, removal not begun
 *   life.remove_written   the removal transaction committed, not yet detached
 *   plc.register_proposed the placement leader, right after proposing a
 *                         REGISTER another node asked for (a join's)
 *   plc.register_applied  the placement leader, a REGISTER another node
 *                         asked for applied, its answer not yet sent
 */
/*
 * A held apply: RANGEKV_TEST_SPLIT_HOLD_MS=N (with RANGEKV_TEST_HOOKS=1, at
 * start; at most 60,000) makes every replica of the node stop applying at
 * a committed SPLIT for N ms from when it first sees it committed: its
 * entries, hard state, messages and read barriers go on, only the apply
 * waits (the cut a merge makes, merge.h). A leader whose apply lags its
 * commit, which a slow apply batch can make; the lease-across-a-split
 * test (tests/node/lease_split_test.py) holds the left leader's apply
 * there while its followers apply the split.
 *
 * RANGEKV_TEST_SPLIT_RIGHT_BUSY=1 (with RANGEKV_TEST_HOOKS=1, at start): a
 * right half's replica that a message made before the split applied here
 * is given up when it does and catches up by snapshot (split.c), as one
 * still busy would be, instead of being taken over in place; the split
 * does not wait for its persist (rk_split_wait_right). The snapshot path
 * of a right half, otherwise taken only when its leader's log was
 * compacted meanwhile (tests/node/split_snap_crash_test.py).
 *
 * RANGEKV_TEST_SPLIT_RIGHT_EARLY=1 (with RANGEKV_TEST_HOOKS=1, at start): a
 * message for a right half whose span a replica here still holds (its
 * split not applied here yet) makes the right replica at once, as one
 * does when the range cache does not lead to that replica (life.c,
 * split_pending), instead of being dropped until the split makes it: the
 * paths of a right replica made by a message
 * (tests/node/split_right_test.py early, split_snap_crash_test.py).
 */
#ifndef RK_NODE_CRASH_H
#define RK_NODE_CRASH_H

#include <stdbool.h>

struct rk_node;
struct rk_replica;
struct rk_raft_ready;

#ifdef RK_TEST_HOOKS
/* Reads RANGEKV_CRASH_AT (with RANGEKV_TEST_HOOKS=1) at the node's start,
 * before anything is written, and the hooks that hold work back:
 * RANGEKV_TEST_SPLIT_HOLD_MS, RANGEKV_TEST_SPLIT_RIGHT_BUSY,
 * RANGEKV_TEST_SPLIT_RIGHT_EARLY,
 * RANGEKV_TEST_SNAP_SEAL_MS (milliseconds the worker sealing a received
 * snapshot waits first: its leader's appends arrive before the core has
 * the snapshot, node_snap_once) and RANGEKV_TEST_REPORT_DROP=1 (reports
 * to the placement index are dropped at the queue, as a kill -9 loses
 * them: node_report_resync) and RANGEKV_TEST_MERGE_NO_LEFT_CHECK=1 (a
 * merge call does not refuse a right range whose own right neighbour is
 * frozen for a merge into it, as when that freeze applies only after the
 * call's checks: node_merge_orphan). */
void rk_crash_arm(struct rk_node *n);
void rk_crash_point(const struct rk_node *n, const char *name);
/* RANGEKV_TEST_STORE_DELAY_MS (with RANGEKV_TEST_HOOKS=1): milliseconds the
 * storage thread sleeps before each group commit, a store that falls
 * behind (the backpressure test); 0 without it. */
unsigned rk_test_store_delay_ms(void);
/* RANGEKV_TEST_NO_PLACEMENT=1: start as a release before the placement
 * group did (no group written or created), to test the upgrade of such a
 * data directory. */
bool rk_test_no_placement(void);
/* RANGEKV_TEST_JOIN_NO_GROUP=1: a joining node speaks as one of an
 * earlier release: its Hello says it reads nothing new (no
 * RK_NET_FEAT_JOIN_GROUP) and it refuses an answer that names where the
 * placement group is (malformed to that release), so that the member must
 * leave the field out and the node find the group through its peers
 * (plc.h). */
bool rk_test_join_no_group(void);
/* Cuts rd's committed entries short before a SPLIT or a MERGE that is
 * still held (RANGEKV_TEST_SPLIT_HOLD_MS, RANGEKV_TEST_MERGE_HOLD_MS: the
 * longer of the two for either when both are set); r's ticks bring it
 * back. */
void rk_test_split_hold(struct rk_node *n, struct rk_replica *r, struct rk_raft_ready *rd);
#else
#define rk_crash_arm(n) ((void)(n))
#define rk_crash_point(n, name) ((void)(n), (void)(name))
#define rk_test_no_placement() false
#define rk_test_join_no_group() false
#define rk_test_store_delay_ms() 0u
#define rk_test_split_hold(n, r, rd) ((void)(n), (void)(r), (void)(rd))
#endif

#endif
