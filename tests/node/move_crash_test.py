#!/usr/bin/env python3
"""Replica moves survive `kill -9` of the nodes that take part in them.

Four real rangekv processes (127.0.0.1-4, --replicas 3, 8 ranges,
--tick-ms 50, --rebalance off, --snapshot-rate 128KiB so that a move's
snapshot of about 1 MB takes seconds), about 8 MB written, then node 2
decommissioned while a client writes through nodes 1, 3 and 4. While the
placement leader drains node 2 (GET /api/v1/operations, polled on the
live nodes), one `kill -9` of each of these, each restarted a second
later and waited for until it is live again in node 3's or node 4's view:

- the node a move's learner is on, while its snapshot streams (the
  stream breaks; the learner restarts with a part of it staged);
- the node leading a range whose move is in flight (it sends the
  snapshot and proposes the promotion and the removal);
- the placement group's leader while moves are in flight (the scheduler
  restarts on another node from the descriptors alone);
- node 2 itself, the node being drained, while moves are in flight.

Each kill must happen (the test fails if the drain ends before it could
make all four). Then, within the bound: node 2 holds no user range, every
range has exactly 3 voters on nodes 1, 3 and 4 and no learner (the
scheduler finished or rolled back every move it had in flight), node 2 is
decommissioned in every live node's view, the placement leader's metrics
show no move in flight and no range under-replicated, and every write the
client had acknowledged reads back, the preload included; and within a
minute no node keeps a snapshot file: those made for the moves (kept
10 s after their last stream) and any half received by a node whose
sender died or gave up (dropped after 30 s without a chunk).

    move_crash_test.py path/to/rangekv
"""
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decom_test  # noqa: E402  (its Cluster, Writer, calls and checks)
import placement_test  # noqa: E402  (its wait, which fails through its fail)
import replicas_test  # noqa: E402  (its RESP call)

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
GONE = 2
RANGES = 8
# 12 ports a cluster (4 nodes x 3 kinds); the band 1200-1919, below the
# other tests' bands and far below Linux's ephemeral ports (32768-60999).
BASE = 1200 + (os.getpid() % 45) * 16
# Sized for a sanitizer build on a loaded 2-core machine.
DRAIN_S = 300
KINDS = ("the learner's node", "the range leader's node", "the placement leader", "the drained node")

decom_test.BASE = BASE
decom_test.RANGES = RANGES
decom_test.fail = placement_test.fail = lambda msg: fail(msg)
call, states, drained = decom_test.call, decom_test.states, decom_test.drained
wait = decom_test.wait


def fail(msg):
    print("move_crash_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


class Cluster(decom_test.Cluster):
    FLAGS = ("--replicas", "3", "--rebalance", "off", "--snapshot-rate", "128KiB")


def preload(count=2000):
    """count 4 KiB values (2000: about 8 MB) under random keys (every range
    gets some), through node 3; the keys and values kept."""
    rnd = random.Random(7)
    s, kept = decom_test.connect(3), {}
    for n in range(count):
        k = struct.pack(">Q", rnd.getrandbits(64))
        v = (b"p%d-" % n) * 4 + bytes(rnd.getrandbits(8) for _ in range(16)) * 250
        if replicas_test.resp(s, b"SET", k, v) != b"+OK":
            fail("preload: SET %d refused" % n)
        kept[k] = v
    s.close()
    return kept


def read_back(kept):
    """decom_test's, through node 4."""
    decom_test.read_back(kept, 4)


def snap_files(tmp, i):
    d = os.path.join(tmp, "d%d" % i, "snap")
    return os.listdir(d) if os.path.isdir(d) else []


def moves():
    """The moves in flight, as one of the live nodes answers."""
    for i in (3, 4, 1):
        st, v = call(i, "GET", "/api/v1/operations")
        if st == 200:
            return [o for o in v["operations"] if o["type"] == "move"]
    return []


def streaming(m):
    """Whether the leader of move m's range is streaming it a snapshot to
    the learner's node, some of it sent."""
    if not m.get("leader") or m["leader"] in (None, 0):
        return False
    st, v = call(m["leader"], "GET", "/api/v1/ranges/%d/snapshots" % m["range"])
    return st == 200 and any(x["node_id"] == m["to"] and x["state"] == "sending" and
                             x["sent"] > 0 for x in v.get("sends", []))


class Killer(threading.Thread):
    """Kills one node of each kind in KINDS, each while moves are in
    flight, and restarts it a second later; waits for it to be live again
    before the next."""
    def __init__(self, c):
        super().__init__(daemon=True)
        self.c, self.done, self.error, self.stop = c, [], None, False
        self.down = set()

    def victim(self, kind, ms):
        for m in ms:
            if kind == KINDS[0] and m.get("to") and streaming(m):
                return m["to"], m
            if kind == KINDS[1] and m.get("leader"):
                return m["leader"], m
        if ms and kind == KINDS[2]:
            return decom_test.placement_leader(), None
        if ms and kind == KINDS[3]:
            return GONE, None
        return None, None

    def run(self):
        try:
            for kind in KINDS:
                while not self.stop:
                    ms = moves()
                    i, m = self.victim(kind, ms)
                    if i is not None:
                        break
                    time.sleep(0.05)
                if self.stop:
                    return
                self.down.add(i)
                self.c.kill9(i)
                print("move_crash_test: kill -9 of node %d (%s), %d moves in flight%s" %
                      (i, kind, len(ms), "; range %d at step %s" % (m["range"], m["step"])
                       if m else ""), flush=True)
                time.sleep(1.0)
                self.c.start(i)
                self.down.discard(i)
                seen = 3 if i != 3 else 4
                t0 = time.time()
                while call(i, "GET", "/api/v1/cluster/status")[0] != 200 or \
                        (states(seen) or {}).get(i) not in ("live", "decommissioning",
                                                            "decommissioned"):
                    if time.time() - t0 > 60:
                        self.error = "node %d not live again within 60 s" % i
                        return
                    time.sleep(0.1)
                self.done.append(kind)
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = repr(e)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-movecrash-")
    c = Cluster(tmp)
    ok = False
    try:
        c.start_all()
        wait("every node live in node 1's view",
             lambda: states(1) == {i: "live" for i in NODES}, 60)
        t0 = time.time()
        kept = preload()
        print("move_crash_test: preloaded %d keys (%.1f MB) in %.1f s" %
              (len(kept), sum(map(len, kept.values())) / 1e6, time.time() - t0), flush=True)
        w = decom_test.Writer()
        w.start()
        wait("writes acknowledged", lambda: len(w.acked) >= 100, 60)
        k = Killer(c)
        k.start()
        wait("the decommission of node %d asked" % GONE,
             lambda: call(1, "POST", "/api/v1/nodes/%d/decommission" % GONE)[0] in (200, 202),
             30)
        t0 = time.time()
        v = None
        while time.time() - t0 < DRAIN_S:
            if k.error:
                fail(k.error)
            if not k.is_alive() and len(k.done) == len(KINDS):
                v = drained()
                if v:
                    break
            elif not moves() and not k.down and drained():
                # The drain ended before every kill could be made.
                time.sleep(1)
                if not moves() and drained():
                    fail("the drain ended with kills %s made, not all of %s" %
                         (k.done, list(KINDS)))
            time.sleep(0.2)
        if v is None:
            k.stop = True
            fail("not drained within %d s (kills made: %s); moves %r" %
                 (DRAIN_S, k.done, moves()[:4]))
        print("move_crash_test: drained in %.1f s after the decommission, with 4 kills" %
              (time.time() - t0), flush=True)
        for i in (1, 3, 4):
            wait("node %d decommissioned in node %d's view" % (GONE, i),
                 lambda: (states(i) or {}).get(GONE) == "decommissioned", 60)
        wait("the placement leader's metrics: none in flight, none under-replicated",
             lambda: (lambda m: m is not None and m["rangekv_placement_moves_in_flight"] == 0 and
                      m["rangekv_placement_ranges_under_replicated"] == 0)(
                 decom_test.leader_metrics()), 60)
        time.sleep(1)  # writes go on after the drain
        w.stop = True
        w.join(30)
        kept.update(w.acked)
        read_back(kept)
        print("move_crash_test: %d acknowledged writes read back (%d refused or failed)" %
              (len(kept), w.errors), flush=True)
        t1 = time.time()
        wait("no snapshot file left on any node (made, received or half received)",
             lambda: not any(snap_files(tmp, i) for i in NODES), 60)
        print("move_crash_test: every node's snapshot files gone %.1f s after the drain" %
              (time.time() - t1), flush=True)
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
        logs = "".join(open(os.path.join(tmp, "log%d" % i), errors="replace").read()
                       for i in NODES)
        print("move_crash_test: snapshots sent %d, failed %d, received %d (the logs)" %
              (len(re.findall(r"snapshot at \d+ sent to", logs)),
               len(re.findall(r"snapshot at \d+ to replica \d+ on node \d+ failed", logs)),
               len(re.findall(r"snapshot at \d+ received", logs))), flush=True)
        print("move_crash_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("move_crash_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
