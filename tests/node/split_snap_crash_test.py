"""A right half that catches up by snapshot, then kill -9 of every node
before a checkpoint, with real processes.

    split_snap_crash_test.py BIN

Node 3 holds its apply of every SPLIT for a while (test hook
RANGEKV_TEST_SPLIT_HOLD_MS, crash.h), so its replica of the new right
range is made by the right range's messages before its left replica
applies the split, and catches up by snapshot once it has. Writers INCR a
counter in the right half and SET keys on both sides throughout. Then
every node is killed (-9) within the checkpoint interval and restarted:
node 3 comes back with its left replica as of the last checkpoint (before
the split, its span still holding the right half) and the snapshot's
install redone from its staged file.

Checks: the scenario happened (node 3 logged the right range's snapshot
installed); before and after the restart every acknowledged SET reads
back and the counter equals the INCRs acknowledged (nothing applied twice:
the left's replay of entries from before the split must not write into
the span the snapshot installed); every replica of the right range has
the same checksum at the same applied index.
"""
import os
import re
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
BASE = 31360 + (os.getpid() % 4) * 10  # the band 31360-31399
HOLD_MS = 2500
SPLIT_KEY, COUNTER = "zc", "zcount"


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_snap_crash_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn, local = NODES.http, NODES.ranges, NODES.conn, NODES.local


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def start(i, top):
    hooks = {"RANGEKV_TEST_SPLIT_HOLD_MS": str(HOLD_MS),
             "RANGEKV_TEST_SPLIT_RIGHT_BUSY": "1",
             "RANGEKV_TEST_SPLIT_RIGHT_EARLY": "1"} if i == 3 else None
    return spans.start_node(BIN, i, top, addr, (), None, hooks)


def log_has(top, i, text):
    with open(os.path.join(top, "log%d" % i), errors="replace") as f:
        return text in f.read()


def main():
    top = tempfile.mkdtemp(prefix="rk-splitsnap-")
    procs = {i: start(i, top) for i in (1, 2, 3)}
    stop = None
    ts = []
    acked = spans.Acked(COUNTER)
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 30)
        left = [r for r in ranges(1) if r["end"] == ""][0]["id"]

        def led_by_1():
            r = local(1, left)
            if r is None or not r.get("leader"):
                return False
            if r["leader"] == 1:
                return r
            http(r["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=1" % left)
            return False
        wait("range %d led by node 1" % left, led_by_1, 60)
        stop = threading.Event()
        ts = spans.writers(lambda w: conn(1 + w % 3), stop, acked)
        time.sleep(1.0)
        q = "/api/v1/split?key=" + urllib.parse.quote(SPLIT_KEY, safe="")
        st, body = wait("the split at %s" % SPLIT_KEY,
                        lambda: next((a for a in (http(i, "POST", q) for i in (1, 2, 3))
                                      if a[0] == 200), None), 30)
        right = body["right"]["id"]
        wait("node 3's replica of range %d made by a message, then by snapshot" % right,
             lambda: log_has(top, 3, "range %d: replica 3 created" % right) and
             log_has(top, 3, "range %d, whose replica here is not waiting idle" % right),
             HOLD_MS / 1000 + 20)
        wait("node 3 installed range %d's snapshot" % right,
             lambda: re.search(r"range %d: snapshot at \d+ installed" % right,
                               open(os.path.join(top, "log3"), errors="replace").read()), 30)
        time.sleep(1.0)
        spans.stop_writers(stop, ts, acked, fail)
        wait("every node knows the same ranges",
             lambda: (lambda v: v and len(v) == 3)(spans.agreed([ranges(i) for i in (1, 2, 3)])),
             30)
        spans.check_acked(conn(2), acked, "before the restart", fail, timeout=30)
        for i in (1, 2, 3):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        procs = {i: start(i, top) for i in (1, 2, 3)}
        wait("every node knows the same ranges after the restart",
             lambda: (lambda v: v and len(v) == 3)(spans.agreed([ranges(i) for i in (1, 2, 3)])),
             60)
        spans.check_acked(conn(2), acked, "after kill -9 and restart", fail, timeout=30)

        NODES.check_agree(right)
        print("split_snap_crash_test: OK (%d SETs, %d INCRs acknowledged; range %d's "
              "replica on node 3 installed by snapshot)" % (len(acked.sets), acked.incr, right),
              flush=True)
    finally:
        if stop is not None:
            stop.set()
            for t in ts:
                t.join()
        spans.kill_all(procs, top)


main()
