"""A right half's replica on a node that applies its split late, with real
processes.

    split_right_test.py BIN           made by the split, messages dropped
    split_right_test.py BIN early     made by a message, taken over in place

Node 3's store waits 30 ms before each group commit (test hook
RANGEKV_TEST_STORE_DELAY_MS), so it applies every split after the other
nodes, and the right leader's messages reach it while its left replica
still holds the right half's span (its range cache learns the range from
the redirects of the clients writing through it). Sixteen splits, one a
second, each at a key nearer the end of the key space, while six clients
SET and INCR through all three nodes.

Without `early`, those messages make no replica (life.c, split_pending):
the checks are that they came (rangekv_messages_split_pending_total on
node 3: the scenario happened), that node 3 made no replica from a
message and took no snapshot of a right half (each was made by its split,
"created for node" and "snapshot at" absent from its log).

With `early`, node 3 runs with RANGEKV_TEST_SPLIT_RIGHT_EARLY=1: those
messages make the right replica (as when the range cache does not lead to
the left replica), which then often has a persist in flight (a vote or a
term written) when its left applies the split. Checks: node 3 made right
replicas from messages (the scenario happened); none of them was given up
for a snapshot ("not waiting idle" in its log: the split waits for the
persist, split.c rk_split_wait_right).

Both: every acknowledged write reads back and the INCR total equals the
INCRs acknowledged.
"""
import os
import re
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
EARLY = len(sys.argv) > 2 and sys.argv[2] == "early"
# The band 25120-25159; with `early` (so that both can run at once)
# 65500-65529.
BASE = 65500 + (os.getpid() % 3) * 10 if EARLY else 25120 + (os.getpid() % 4) * 10
SPLITS = 16


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_right_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def main():
    top = tempfile.mkdtemp(prefix="rk-splitright-")
    hooks = {3: {"RANGEKV_TEST_STORE_DELAY_MS": "30"}}
    if EARLY:
        hooks[3]["RANGEKV_TEST_SPLIT_RIGHT_EARLY"] = "1"
    procs = {i: spans.start_node(BIN, i, top, addr, (), None, hooks.get(i)) for i in (1, 2, 3)}
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
            time.sleep(1.0)
        spans.stop_writers(stop, ts, acked, fail)
        wait("every node knows the same %d ranges" % (2 + SPLITS),
             lambda: (lambda v: v and len(v) == 2 + SPLITS)(
                 spans.agreed([ranges(i) for i in (1, 2, 3)])), 60)
        spans.check_acked(conn(2), acked, "after the splits", fail, timeout=30)
        with open(os.path.join(top, "log3"), errors="replace") as f:
            log = f.read()
        made = len(re.findall(r"replica \d+ created for node", log))
        given_up = log.count("not waiting idle")
        if not EARLY:
            pending = spans.metric(addr(3, 2), "rangekv_messages_split_pending_total") or 0
            snaps = len(re.findall(r"snapshot at \d+", log))
            if pending == 0:
                fail("no message reached node 3 for a right half before its split applied "
                     "there: the scenario did not happen")
            if made or snaps or given_up:
                fail("node 3 made %d right replicas from messages, logged %d snapshots and "
                     "gave up %d right replicas (none expected: each made by its split)"
                     % (made, snaps, given_up))
            print("split_right_test: OK (%d splits; %d messages to node 3 for a right half "
                  "its split had not made yet, dropped; every right replica made by its "
                  "split; %d INCRs acknowledged)" % (SPLITS, pending, acked.incr), flush=True)
            return
        if made == 0:
            fail("node 3 made no right replica from a message: the scenario did not happen")
        if given_up:
            fail("%d of node 3's %d right replicas made by a message caught up by snapshot"
                 % (given_up, made))
        print("split_right_test: OK (%d splits; node 3 made %d right replicas from "
              "messages, all taken over in place; %d INCRs acknowledged)"
              % (SPLITS, made, acked.incr), flush=True)
    finally:
        stop.set()
        for t in ts:
            t.join()
        spans.kill_all(procs, top)


main()
