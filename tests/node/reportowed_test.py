#!/usr/bin/env python3
"""A descriptor change reaches the placement index even when the range's
leadership moves between its commit and its applies. Only a leader
reports a change it applies; a leader that applies the change after
losing its leadership, and a new leader that applied it as a follower,
used to stay silent both, and the index kept the old descriptor for good
(a decommission then waited 12 minutes, and more, for a joint
configuration that had ended: docs/benchmarks.md, "Where a join's
snapshots go"). A replica now owes the report of every change it applied
while not leading, and makes it once it leads (rk_plc_desc_changed).

Three nodes, 2 ranges, --enable-debug-api (the index as each node's
replica of the placement group holds it); node 1 holds its apply of each
split for HOLD_MS (test hook RANGEKV_TEST_SPLIT_HOLD_MS). The left range,
led by node 1, is split; once nodes 2 and 3 applied the split, the
leadership of the left range goes to node 2, and node 1 is stopped
(SIGSTOP), its split still unapplied: within REPORT_BOUND_S, the copies
of the index on nodes 2 and 3 have the left range at the split's
generation and the right range reported (by the replicas that applied
the split as followers and lead now).

It also needs the placement group to take commands while node 1, its
preferred leader (among its first-start nodes), is stopped: a stopped
process keeps its connections open, and the node-level leadership
balance handed the group's leadership to it again and again, each
transfer dropping the group's proposals until it timed out (balance.c
now asks for the peer to be alive, not only connected).

With `merge`: the same for a merge. Node 1 holds its apply of each
merge instead (RANGEKV_TEST_MERGE_HOLD_MS); the left range, led by node
1, absorbs the right one; once nodes 2 and 3 applied the merge, node 1
is stopped and they elect the left's leader (node 1's merge call, open
until node 1 applies, refuses a transfer): within
REPORT_BOUND_S the index on nodes 2 and 3 has the left at the merged
generation and the right's end (no replicas, at that generation). Only
the merge's leader reported both before (rk_plc_merged).

With `resync`: a report lost with its process. All three nodes drop
their reports (test hook RANGEKV_TEST_REPORT_DROP=1: a report queued or
in flight is lost by a kill -9 once the change it reports is durable);
a range is split and every node applies the split, the index keeping
the old descriptor; all three are stopped and started again without the
hook. They stop with SIGTERM, which checkpoints: after a kill -9 before
the next checkpoint the split is applied again at the restart and
reported anew, which is not the case here. Nothing owes the report now,
and within REPORT_BOUND_S the index of every node has the left range at
the split's generation and the right range, reported by the nodes'
sweeps of their replicas against the index (resync.h).

With `resync merge`: the same for a merge whose reports were lost. The
two ranges merge with every report dropped; once each node removed the
right's replica (the merge checkpointed: no gone mark is left for a
start to owe the reports from), the nodes restart without the hook, and
within REPORT_BOUND_S every node's index has the left at the merged
generation and the right's end (no replicas, that generation), which a
sweep infers from the left replica that holds the right's span at a
higher generation.

    reportowed_test.py BIN [merge|resync [merge]]

Ports: a block of 10 in 11740-11939, claimed by lock (claim_block).
"""
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402
import cluster as fc  # noqa: E402
from cluster import unescape  # noqa: E402

BIN = sys.argv[1]
RESYNC = sys.argv[2:3] == ["resync"]
MERGE = sys.argv[2:] in (["merge"], ["resync", "merge"])
BASE = 0  # a block of 10 in 11740-11939, claimed by lock in main(): four cases share the band
HOLD_MS = 10000
REPORT_BOUND_S = 15
RESYNC_FIRST_S = 2  # RK_RESYNC_FIRST_MS
NODE_ARGS = ["--request-timeout", "10000", "--enable-debug-api"]
LEFT_KEY, SPLIT_KEY, KEY = "ro-a", "ro-m", "ro-r"


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("reportowed_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, local = NODES.http, NODES.ranges, NODES.local


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def index_entry(i, rid):
    """Range rid in node i's copy of the placement index; None if absent."""
    st, body = http(i, "GET", "/api/v1/debug/placement/index/%d" % rid)
    return body if st == 200 else None


def led_by(rid, node):
    """Range rid's view on node when node leads it; else asks its leader
    to hand it over and returns False."""
    r = local(node, rid)
    if r is None or not r.get("leader"):
        return False
    if r["leader"] == node:
        return r
    http(r["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" % (rid, node))
    return False


def post_async(path):
    """A POST to node 1 in a thread of its own (answered once node 1 applies;
    asked again while node 1, just become leader, says to retry)."""
    threading.Thread(target=lambda: spans.http_settled(addr(1, 2), "POST", path,
                                                       timeout=HOLD_MS / 1000 + 30),
                     daemon=True).start()


def stop_node1_unapplied(procs, rid, what, applied, t0, transfer):
    """With transfer, range rid's leadership to node 2 while node 1 still
    holds its apply of `what` (applied(view): node 1 applied it); then
    node 1 stopped (SIGSTOP): it can report nothing now, and cannot take
    the leadership back (without transfer, nodes 2 and 3 elect a leader
    then); only the replicas that applied the change as followers can.
    Returns the time it stopped."""
    if transfer:
        wait("range %d led by node 2" % rid, lambda: led_by(rid, 2), HOLD_MS / 2000)
    l1 = local(1, rid)
    if l1 is None or applied(l1):
        fail("node 1 applied the %s before its leadership moved: %r" % (what, l1))
    if time.time() - t0 > HOLD_MS / 1000 - 1:
        fail("the scenario took %.1f s, too close to the hold of %d ms to count"
             % (time.time() - t0, HOLD_MS))
    procs[1].send_signal(signal.SIGSTOP)
    return time.time()


def await_index(rid, right_id, right_ok, before):
    """Waits up to REPORT_BOUND_S for the index copies of nodes 2 and 3 to
    have range rid past generation `before` and right_id as right_ok(left,
    right) says; fails the test otherwise."""
    def reported():
        for i in (2, 3):
            left, rr = index_entry(i, rid), index_entry(i, right_id)
            if left is None or left["generation"] <= before or rr is None or \
                    not right_ok(left, rr):
                return None
        return True
    deadline = time.time() + REPORT_BOUND_S
    while time.time() < deadline and reported() is None:
        time.sleep(0.2)
    if reported() is None:
        fail("the index %d s after node 1 stopped: left %r / %r, right %r / %r on nodes "
             "2 / 3 (range %d at generation %d now)" %
             (REPORT_BOUND_S, index_entry(2, rid), index_entry(3, rid),
              index_entry(2, right_id), index_entry(3, right_id), rid,
              local(2, rid)["generation"]))


def split_case(procs, rid, before):
    post_async("/api/v1/split?key=" + urllib.parse.quote(SPLIT_KEY, safe=""))
    t0 = time.time()
    for i in (2, 3):
        wait("node %d applied the split" % i,
             lambda: (lambda r: r and r["end"] == SPLIT_KEY)(local(i, rid)), HOLD_MS / 2000)
    right = wait("the right range on node 2",
                 lambda: next((r for r in (local(2, x) for x in range(1, 65))
                               if r and r["start"] == SPLIT_KEY), None), HOLD_MS / 2000)
    # The split's leader took the right's id from the group beforehand.
    if not NODES.metric(1, "rangekv_placement_ids_allocated_total"):
        fail("node 1 shows no range id allocated for the split in /metrics")
    t1 = stop_node1_unapplied(procs, rid, "split", lambda v: v["end"] == SPLIT_KEY, t0, True)
    await_index(rid, right["id"], lambda left, rr: rr.get("reported"), before["generation"])
    if not NODES.metric(2, "rangekv_placement_reports_sent_total"):
        fail("node 2, which reported the split, shows no report sent in /metrics")
    print("range %d split with its leadership moved to node 2 before node 1 applied it; "
          "the index of nodes 2 and 3 has both halves %.2f s after node 1 stopped"
          % (rid, time.time() - t1), flush=True)


def merge_case(procs, rid, right, before):
    r0 = index_entry(2, right["id"])
    if r0 is None or r0["nodes"] == []:
        fail("range %d in the index before the merge: %r" % (right["id"], r0))
    post_async("/api/v1/merge?left=%d" % rid)
    t0 = time.time()
    for i in (2, 3):
        wait("node %d applied the merge" % i,
             lambda: (lambda r: r and r["end"] == right["end"])(local(i, rid)), HOLD_MS / 2000)
    # The leadership is not handed over: node 1's merge call, open until
    # it applies the merge, refuses a transfer of the range. Stopping it
    # moves the leadership to node 2 or 3 by an election.
    t1 = stop_node1_unapplied(procs, rid, "merge", lambda v: v["end"] == right["end"], t0,
                              False)
    # The right's end: reported, no replicas, at the merged generation.
    await_index(rid, right["id"],
                lambda left, rr: rr["reported"] and rr["nodes"] == [] and
                rr["generation"] == left["generation"], before["generation"])
    print("range %d absorbed range %d; node 1, its leader, stopped before it applied the "
          "merge; the index of nodes 2 and 3 has both %.2f s after that"
          % (rid, right["id"], time.time() - t1), flush=True)


def stop_all(procs):
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        if p.wait(timeout=30) != 0:
            fail("a node stopped by SIGTERM exited %r" % p.returncode)


def resync_case(procs, top, rid, right):
    """right: the range the merge absorbs (MERGE), else None (a split)."""
    before = index_entry(1, rid)
    removed = [NODES.metric(i, "rangekv_replicas_removed_total") for i in (1, 2, 3)]
    if right is not None:
        st, body = NODES.http_settled(1, "POST", "/api/v1/merge?left=%d" % rid)
        end = right["end"]
    else:
        st, body = NODES.http_settled(1, "POST", "/api/v1/split?key=" +
                                      urllib.parse.quote(SPLIT_KEY, safe=""))
        end = SPLIT_KEY
    if st != 200:
        fail("%s of range %d: %r %r" % ("merge" if right else "split", rid, st, body))
    wait("range %d's new span on every node" % rid,
         lambda: all((lambda r: r and r["end"] == end)(local(i, rid)) for i in (1, 2, 3)), 30)
    if right is None:
        right = wait("the right range on node 1",
                     lambda: next((r for r in (local(1, x) for x in range(1, 65))
                                   if r and r["start"] == SPLIT_KEY), None), 30)
    else:
        # The right's replicas go once the merge is checkpointed (30 s).
        wait("the right's replica removed on every node",
             lambda: all((NODES.metric(i, "rangekv_replicas_removed_total") or 0) > removed[i - 1]
                         for i in (1, 2, 3)), 60)
    time.sleep(RESYNC_FIRST_S + 1)  # the sweeps at start found nothing to report
    for i in (1, 2, 3):
        left, rr = index_entry(i, rid), index_entry(i, right["id"])
        stale = rr is not None and rr["nodes"] != [] if MERGE else rr is None
        if left is None or left["generation"] != before["generation"] or not stale:
            fail("node %d's index with its reports dropped: left %r, right %r" % (i, left, rr))
    stop_all(procs)
    t0 = time.time()
    for i in (1, 2, 3):
        procs[i] = spans.start_node(BIN, i, top, addr, NODE_ARGS)

    def reported():
        for i in (1, 2, 3):
            left, rr = index_entry(i, rid), index_entry(i, right["id"])
            if left is None or left["generation"] <= before["generation"] or \
                    rr is None or not rr.get("reported") or \
                    (MERGE and (rr["nodes"] != [] or rr["generation"] != left["generation"])):
                return None
        return True
    deadline = t0 + REPORT_BOUND_S
    while time.time() < deadline and reported() is None:
        time.sleep(0.2)
    if reported() is None:
        fail("the index %d s after the restart: left %r, right %r (node 1)" %
             (REPORT_BOUND_S, index_entry(1, rid), index_entry(1, right["id"])))
    swept = sum(NODES.metric(i, "rangekv_placement_resync_reported_total") or 0
                for i in (1, 2, 3))
    if swept < 2:
        fail("the nodes' sweeps reported %r descriptors, not both" % swept)
    print("range %d %s with every report dropped; after a restart of all three nodes "
          "the index of every node has both %.2f s after it (%d reports by the sweeps)"
          % (rid, "absorbed range %d" % right["id"] if MERGE else "split", time.time() - t0,
             swept), flush=True)


def main():
    global BASE
    BASE = fc.claim_block(11740, 20, 10)
    top = tempfile.mkdtemp(prefix="rk-reportowed-")
    procs, ok = {}, False
    try:
        if RESYNC:
            for i in (1, 2, 3):
                procs[i] = spans.start_node(BIN, i, top, addr, NODE_ARGS, None,
                                            {"RANGEKV_TEST_REPORT_DROP": "1"})
        else:
            procs[1] = spans.start_node(BIN, 1, top, addr, NODE_ARGS, None,
                                        {"RANGEKV_TEST_MERGE_HOLD_MS" if MERGE else
                                         "RANGEKV_TEST_SPLIT_HOLD_MS": str(HOLD_MS)})
            for i in (2, 3):
                procs[i] = spans.start_node(BIN, i, top, addr, NODE_ARGS)
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 60)
        rs = sorted(ranges(1), key=lambda r: unescape(r["start"]))
        if MERGE:
            rid, right = rs[0]["id"], rs[1]
        else:
            rid = [r["id"] for r in rs
                   if unescape(r["start"]) <= LEFT_KEY.encode() and
                   (r["end"] == "" or KEY.encode() < unescape(r["end"]))]
            if len(rid) != 1:
                fail("no one range holds %s..%s: %r" % (LEFT_KEY, KEY, rs))
            rid = rid[0]
        before = wait("range %d led by node 1" % rid, lambda: led_by(rid, 1), 60)
        gen0 = index_entry(1, rid)
        if gen0 is None or gen0["generation"] != before["generation"]:
            fail("range %d in the index before the change: %r (range %r)" % (rid, gen0, before))
        if RESYNC:
            resync_case(procs, top, rid, right if MERGE else None)
        elif MERGE:
            merge_case(procs, rid, right, before)
        else:
            split_case(procs, rid, before)
        ok = True
    finally:
        if 1 in procs:
            procs[1].send_signal(signal.SIGCONT)
        spans.kill_all(procs, top)
    print("reportowed_test: %s" % ("ok" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
