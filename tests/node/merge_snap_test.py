"""A replica that was down through a range merge catches up by snapshot.

    merge_snap_test.py BIN

Three real processes. A split makes a right range; writes go to both
halves; node 3 stops (cleanly); the two ranges merge on nodes 1 and 2,
which restart (so that nothing they queued for node 3 reaches it later),
and more is written to both halves of the merged range; node 3 restarts.
Its right replica can never reach the FREEZE (the right's other replicas
are merged away: nobody sends it the right's log), so its left replica
cannot apply the MERGE from its log: it asks the left's leader for a
snapshot of the merged range (rk_raft_request_snapshot).

Checks, on node 3: its left replica's applied index reaches what the
leader had applied after the writes, with the merged span; its right
replica is gone (one replica fewer, rangekv_ranges) and it asked for a
snapshot (rangekv_merge_snapshots_asked_total); once node 3 leads the
merged range, every key written to the right half before and after the
merge reads back through node 3's RESP port (a lease read of its own
replica). Without the request (the left replica waiting for its right for
ever) the applied index never gets there.
"""
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 64500 + (os.getpid() % 50) * 10  # the band 64500-64999 (above the ephemeral ports)


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("merge_snap_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def metric(i, name):
    """Node i's /metrics value of name (no labels), None if unreadable."""
    return spans.metric(addr(i, 2), name)


def local(i, rid):
    """Range rid as node i's own replica shows it, None if it has none."""
    st, body = http(i, "GET", "/api/v1/ranges/%d" % rid)
    if st != 200 or body.get("applied_index") is None:
        return None
    if not any(p.get("node_id") == i for p in body.get("replicas") or []):
        return None
    return body


def leader_of(rid, nodes):
    for i in nodes:
        b = local(i, rid)
        if b is not None and b.get("leader") == i:
            return b
    return None


def split(key):
    for _ in range(300):
        for i in (1, 2, 3):
            st, body = http(i, "POST", "/api/v1/split?key=" + key)
            if st == 200:
                return body
        time.sleep(0.1)
    fail("split at %r: no leader answered 200" % key)


def merge(left, right):
    """Merges right into left on nodes 1 and 2 (node 3 is down), moving
    the right's leadership to the left's leader first."""
    for _ in range(600):
        lb, rb = leader_of(left, (1, 2)), leader_of(right, (1, 2))
        if lb is None or rb is None:
            time.sleep(0.1)
            continue
        if lb["leader"] != rb["leader"]:
            http(rb["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" %
                 (right, lb["leader"]))
            time.sleep(0.2)
            continue
        st, body = http(lb["leader"], "POST", "/api/v1/merge?left=%d" % left)
        if st == 200:
            if body.get("removed") != right:
                fail("merge of %d into %d answered %r" % (right, left, body))
            return body["range"]
        time.sleep(0.2)
    fail("merge of %d into %d: no 200 within 120 s" % (right, left))


def write(c, keys, acked):
    for k in keys:
        wait("SET %s" % k, lambda: c.call("SET", k, "v-" + k) == "OK", 60)
        acked[k] = "v-" + k


def main():
    top = tempfile.mkdtemp(prefix="rk-merge-snap-")
    procs = {i: spans.start_node(BIN, i, top, addr) for i in (1, 2, 3)}
    acked = {}
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 60)
        c = conn(1)
        wait("writes served", lambda: c.call("SET", "warm", "1") == "OK", 60)
        sp = split("k5")
        left, right = sp["left"]["id"], sp["right"]["id"]
        write(c, ["k1-%02d" % n for n in range(20)] + ["k7-%02d" % n for n in range(20)], acked)
        # Node 3's replicas of both halves caught up, then it stops.
        for rid in (left, right):
            wait("node 3 applied range %d" % rid,
                 lambda: (lambda lb, mine: lb and mine and
                          mine["applied_index"] >= lb["applied_index"])(
                              leader_of(rid, (1, 2, 3)), local(3, rid)), 60)
        before = wait("node 3's replica count", lambda: metric(3, "rangekv_ranges"), 30)
        procs[3].send_signal(signal.SIGTERM)
        procs[3].wait()
        merged = merge(left, right)
        # Nodes 1 and 2 restart: nothing they queued for node 3 before the
        # merge (the right's FREEZE among it) reaches it later.
        wait("range %d gone from nodes 1 and 2" % right,
             lambda: local(1, right) is None and local(2, right) is None, 60)
        for i in (1, 2):
            procs[i].send_signal(signal.SIGTERM)
            procs[i].wait()
        for i in (1, 2):
            procs[i] = spans.start_node(BIN, i, top, addr)
        c = NODES.conn_wait(1, 60)
        write(c, ["k8-%02d" % n for n in range(20)] + ["k2-%02d" % n for n in range(20)], acked)
        lb = wait("the merged range led", lambda: leader_of(left, (1, 2)), 60)
        target = lb["applied_index"]
        procs[3] = spans.start_node(BIN, 3, top, addr)
        mine = wait("node 3's left replica applied %d (the merged range)" % target,
                    lambda: (lambda b: b if b and b["applied_index"] >= target else None)(
                        local(3, left)), 120)
        if mine["end"] != merged["end"] or mine["generation"] != merged["generation"]:
            fail("node 3's replica of range %d is %r, the merged range %r" % (left, mine, merged))
        wait("node 3's right replica gone",
             lambda: metric(3, "rangekv_ranges") == before - 1, 60)
        if local(3, right) is not None:
            fail("node 3 still shows its replica of range %d" % right)
        asked = metric(3, "rangekv_merge_snapshots_asked_total")
        if not asked:
            fail("node 3 caught up without asking for a snapshot (%r)" % asked)
        # Node 3 leads the merged range; the right half's keys read back
        # through it, from its own replica.
        for _ in range(300):
            lb = leader_of(left, (1, 2, 3))
            if lb is not None and lb["leader"] == 3:
                break
            if lb is not None:
                http(lb["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=3" % left)
            time.sleep(0.2)
        else:
            fail("node 3 never led the merged range")
        c3 = NODES.conn_wait(3)
        for k, v in sorted(acked.items()):
            got = c3.call("GET", k)
            if isinstance(got, bytes):
                got = got.decode()
            if got != v:
                fail("GET %s through node 3: %r, acknowledged %r" % (k, got, v))
        if leader_of(left, (3,)) is None:
            fail("node 3 lost the leadership during the reads")
        print("merge_snap_test: OK (node 3 applied %d of range %d by snapshot, asked %d "
              "time(s); %d keys read back through it)" %
              (mine["applied_index"], left, asked, len(acked)), flush=True)
    finally:
        spans.kill_all(procs, top)


main()
