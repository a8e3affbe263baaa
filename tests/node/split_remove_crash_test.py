"""A left range's replica removed from a node right after a split, then
kill -9 of that node, with real processes.

    split_remove_crash_test.py BIN

Three nodes, every range on all of them. Writers SET keys on both sides
of `zc`; range L (the one holding `zc`) splits there into L and R; once
node 3 has applied the split, L's replica on node 3 is removed
(DELETE /api/v1/ranges/L/replicas/ID) while R keeps its replica there.
Once node 3 says the removal is done it is killed (-9) and restarted.
Without a checkpoint holding the split, node 3 would come back with L from
before the split: the removal's redo at start would clear L's span of
then, R's keys too, and R's replica, loaded only when L applies the split
again, would never load (node.md "Range split", handoff.h). So the
removal waits for a checkpoint with the split.

Checks: node 3 loads its replica of R at the restart (it never logs R as
a right half waiting for its left, nor makes R anew from a message); R's
replicas have one checksum; every acknowledged SET reads back.
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

BIN = sys.argv[1]
BASE = 25160 + (os.getpid() % 4) * 10  # the band 25160-25199
SPLIT_KEY = "zc"


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_remove_crash_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn, local = NODES.http, NODES.ranges, NODES.conn, NODES.local


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def log(top, i):
    with open(os.path.join(top, "log%d" % i), errors="replace") as f:
        return f.read()


def main():
    top = tempfile.mkdtemp(prefix="rk-splitremove-")
    procs = {i: spans.start_node(BIN, i, top, addr) for i in (1, 2, 3)}
    stop = threading.Event()
    ts = []
    acked = spans.Acked("zzcount")
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 30)
        ts = spans.writers(lambda w: conn(1 + w % 2), stop, acked, n=4)
        time.sleep(1.0)
        q = "/api/v1/split?key=" + urllib.parse.quote(SPLIT_KEY, safe="")
        st, body = wait("the split at %s" % SPLIT_KEY,
                        lambda: next((a for a in (http(i, "POST", q) for i in (1, 2, 3))
                                      if a[0] == 200), None), 30)
        left, right = body["left"]["id"], body["right"]["id"]
        wait("node 3 applied the split",
             lambda: (lambda r: r and r["end"] == SPLIT_KEY)(local(3, left)), 30)
        mine = [rep["replica_id"] for rep in body["left"]["replicas"] if rep["node_id"] == 3][0]

        def removed():
            lr = local(1, left) or {}
            lead = lr.get("leader")
            if lead == 3:
                http(3, "POST", "/api/v1/ranges/%d/transfer-leader?to=1" % left)
                return False
            if not lead:
                return False
            st, _ = http(lead, "DELETE", "/api/v1/ranges/%d/replicas/%d" % (left, mine))
            return st in (200, 202)
        wait("L's replica on node 3 removed", removed, 30)
        wait("node 3 removed its replica of range %d" % left,
             lambda: "range %d: replica %d removed" % (left, mine) in log(top, 3), 30)
        time.sleep(0.5)
        spans.stop_writers(stop, ts, acked, fail)
        procs[3].send_signal(signal.SIGKILL)
        procs[3].wait()
        before = len(log(top, 3))
        procs[3] = spans.start_node(BIN, 3, top, addr)
        wait("node 3's replica of range %d serving after the restart" % right,
             lambda: (lambda r: r and r.get("role") in ("follower", "leader") and
                      r.get("applied_index"))(local(3, right)), 30)
        after = log(top, 3)[before:]
        if "range %d: the right half of a split" % right in after or \
                "range %d: replica" % right in after and "created for" in after:
            fail("node 3 did not load its replica of range %d at the restart: %s"
                 % (right, [ln for ln in after.splitlines() if "range %d" % right in ln][:3]))

        NODES.check_agree(right)
        spans.check_acked(conn(3), acked, "after node 3's restart", fail, timeout=30)
        print("split_remove_crash_test: OK (range %d's replica on node 3 removed after the "
              "split; range %d loaded at node 3's restart; %d SETs acknowledged)"
              % (left, right, len(acked.sets)), flush=True)
    finally:
        stop.set()
        for t in ts:
            t.join()
        spans.kill_all(procs, top)


main()
