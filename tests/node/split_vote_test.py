"""A right half's first vote requests that reach a node before it has
applied the split are kept and taken by the right replica the split makes
there, with real processes.

    split_vote_test.py BIN

Nodes 2 and 3 hold the apply of every split for 200 ms after its commit
(test hook RANGEKV_TEST_SPLIT_HOLD_MS; less than an election timeout, 10
ticks of 50 ms), so the vote requests of each right half's first campaign
reach at least one of them before its right replica exists. Eight splits,
while six clients SET and INCR through all three nodes.

Checks: at least one kept vote request taken per split over the nodes
(rangekv_split_early_votes_taken_total: a right replica took it as its
split applied, split.c rk_split_vote_early), every right half has a
leader, every acknowledged write reads back and the INCR total equals the
INCRs acknowledged.
"""
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 11100 + (os.getpid() % 10) * 10  # the band 11100-11199
SPLITS = 8
HOLD_MS = 200


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_vote_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def metric(i, name):
    """The value of node i's unlabelled /metrics sample name (0 if absent)."""
    with urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^%s (\d+)$" % name, text, re.M)
    return int(m.group(1)) if m else 0


def led(i, rid):
    """Range rid's leader as node i's replica knows it (0 if none)."""
    st, body = http(i, "GET", "/api/v1/ranges/%d" % rid)
    return st == 200 and body.get("leader") or 0


def main():
    top = tempfile.mkdtemp(prefix="rk-splitvote-")
    hold = {"RANGEKV_TEST_SPLIT_HOLD_MS": str(HOLD_MS)}
    procs = {i: spans.start_node(BIN, i, top, addr, (), None, hold if i != 1 else None)
             for i in (1, 2, 3)}
    stop = threading.Event()
    ts = []
    acked = spans.Acked("zzcount")
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 30)
        ts = spans.writers(lambda w: conn(1 + w % 3), stop, acked)
        time.sleep(1.0)
        for k in range(SPLITS):
            q = "/api/v1/split?key=zy%03d" % k
            wait("the split at zy%03d" % k,
                 lambda: next((a for a in (http(i, "POST", q) for i in (1, 2, 3))
                               if a[0] == 200), None), 30)
            time.sleep(0.6)
        spans.stop_writers(stop, ts, acked, fail)
        rs = wait("every node knows the same %d ranges" % (2 + SPLITS),
                  lambda: (lambda v: v if v and len(v) == 2 + SPLITS else None)(
                      spans.agreed([ranges(i) for i in (1, 2, 3)])), 60)
        for rid, _, _, _ in rs:
            wait("range %d led" % rid, lambda: led(1, rid), 30)
        spans.check_acked(conn(2), acked, "after the splits", fail, timeout=30)
        kept = [metric(i, "rangekv_split_early_votes_total") for i in (1, 2, 3)]
        taken = [metric(i, "rangekv_split_early_votes_taken_total") for i in (1, 2, 3)]
        if sum(taken) < SPLITS:
            fail("%d kept vote requests taken by right replicas over %d splits (kept %s, "
                 "taken %s by nodes 1-3): fewer than one a split" % (sum(taken), SPLITS,
                                                                     kept, taken))
        print("split_vote_test: OK (%d splits; vote requests kept %s and taken %s by "
              "nodes 1-3; %d INCRs acknowledged)" % (SPLITS, kept, taken, acked.incr),
              flush=True)
    finally:
        stop.set()
        for t in ts:
            t.join()
        spans.kill_all(procs, top)


main()
