"""A fourth node joins a cluster of 1,000 ranges with data while writes go
on, with real processes (127.0.0.1-4, --replicas 3, --tick-ms 50,
rebalancing on).

    join1000_test.py BIN

Three nodes start with 1,000 ranges cut over the byte space; two writers
load random 12-byte keys with 256-byte values over the whole key space
(about 2 MB, every range some), then keep writing while node 4 joins
with --join. Checks, within SPREAD_S: every range has 3 voters on 3
distinct nodes, no learner, and every node holds within 10% of the mean
count of replicas (750) and of leaders (250), by the nodes' own
/metrics; then every acknowledged write, before and during the join,
reads back through node 4. Prints how long the balance took.
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 11200 + (os.getpid() % 10) * 16  # the band 11200-11359
RANGES = 1000
NODES = (1, 2, 3, 4)
# Sized for a sanitizer build on a loaded 2-core machine.
SPREAD_S = 600


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("join1000_test: FAIL: " + msg, flush=True)
    sys.exit(1)


N = spans.Nodes(addr, fail, http_timeout=10)


def wait(what, cond, timeout, step=0.5):
    return spans.wait(what, cond, timeout, fail, step)


def whole():
    """Every range with 3 voters on 3 distinct nodes (node 1's listing)."""
    rs = N.ranges(1)
    if rs is None or len(rs) < RANGES:
        return False
    for r in rs:
        nodes = [x["node_id"] for x in r["replicas"]]
        if [x["role"] for x in r["replicas"]] != ["voter"] * 3 or len(set(nodes)) != 3:
            return False
    return True


def balanced():
    """(replicas, leaders) per node when both are within 10% of their mean
    and every range is whole; else None."""
    reps = [N.metric(i, "rangekv_ranges") for i in NODES]
    leads = [N.metric(i, "rangekv_leaders") for i in NODES]
    if None in reps or None in leads:
        return None
    if os.environ.get("RK_VERBOSE"):
        print("  replicas %s, leaders %s, whole %s" % (reps, leads, whole()), flush=True)
    for v in (reps, leads):
        mean = sum(v) / len(v)
        if any(abs(x - mean) > 0.1 * mean for x in v):
            return None
    return (reps, leads) if whole() else None


def main():
    top = tempfile.mkdtemp(prefix="rk-join1000-")
    flags = ["--replicas", "3"]
    procs = {i: spans.start_node(BIN, i, top, addr, flags, ranges=RANGES, rebalance="on")
             for i in (1, 2, 3)}
    stop, done = threading.Event(), threading.Event()
    acked, lock = {}, threading.Lock()
    ts = []
    ok = False
    try:
        wait("1,000 ranges led", lambda: sum(N.metric(i, "rangekv_leaders") or 0
                                             for i in (1, 2, 3)) == RANGES, 120)
        for w in range(2):
            t = threading.Thread(target=spans.bulk_writer,
                                 args=(w, lambda w: N.conn(1 + w % 3), stop, done, acked,
                                       lock, 2 << 20, 256))
            t.start()
            ts.append(t)
        wait("2 MB written", done.is_set, 300)
        done.clear()  # the writers go on through the join
        t0 = time.time()
        log = open(os.path.join(top, "log4"), "a")
        procs[4] = spans.subprocess.Popen(
            [BIN, "start", "--node-id", "4", "--data", os.path.join(top, "n4"),
             "--peer-addr", addr(4, 0), "--client-addr", addr(4, 1),
             "--http-addr", addr(4, 2), "--tick-ms", "50", "--join", addr(1, 0)],
            stdout=log, stderr=log)
        got = wait("replicas and leaders within 10%% of the mean on nodes 1-4",
                   balanced, SPREAD_S, step=2.0)
        took = time.time() - t0
        stop.set()
        for t in ts:
            t.join()
        with lock:
            keys = dict(acked)
        spans.read_back(N.conn_wait(4), keys, fail)
        print("join1000_test: OK (node 4 joined a cluster of %d ranges; balanced in %.1f s: "
              "replicas %s, leaders %s on nodes 1-4; %d acknowledged keys read back through "
              "node 4)" % (RANGES, took, got[0], got[1], len(keys)), flush=True)
        ok = True
    finally:
        stop.set()
        for t in ts:
            t.join()
        if not ok:
            os.environ["RK_KEEP"] = "1"
            print("join1000_test: logs in %s" % top, flush=True)
        spans.kill_all(procs, top)


main()
