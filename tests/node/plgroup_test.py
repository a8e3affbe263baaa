#!/usr/bin/env python3
"""The placement group's own replicas move like any range's, on real
rangekv processes (127.0.0.1-4, four nodes, --replicas 3, 12 ranges,
--tick-ms 50; the group starts on nodes 1, 2 and 3), a client writing
through the nodes that stay:

- decommission: the node asked to go is the group's leader (and holds a
  replica of it). It ends decommissioned with no replica at all: none of
  a user range (its status, the index) and none of the group (its
  GET /api/v1/debug/placement answers 404); the group keeps 3 voters, on
  the three other nodes, and a leader among them, as every node's
  cluster/status "placement" says alike; splits, which take their new
  range id from the group's allocator, still work; the node then stops
  cleanly, and a split works without it; every acknowledged write reads
  back; started again, the node holds no replica and agrees on where the
  group is, and its log shows its replica of the group was not made
  again from the first-start flags (a removed replica's tombstone);
- repair (--dead-after 1s, rebalancing on): kill -9 of a node holding a
  replica of the group but not leading it: the group is back to 3 voters
  on the live nodes (the node that had none holds one now, created from
  the group's messages); meanwhile GET /api/v1/operations listed the
  group's move with the bytes of its snapshot, and a node of the group
  lists that snapshot sent whole (GET /api/v1/ranges/2^62/snapshots);
  restarted, that node still holds it and knows the leader; a split
  works.

    plgroup_test.py path/to/rangekv
"""
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decom_test  # noqa: E402  (its Cluster, Writer, calls)
import placement_test  # noqa: E402  (its wait and free_base)

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
RANGES = 12
# 12 ports a cluster (4 nodes x 3 kinds) in the band 32200-32679, below
# Linux's ephemeral ports (32768-60999).
BASE = placement_test.free_base(32200, 30, 4)
# Sized for a sanitizer build on a loaded 2-core machine.
MOVE_S = 180
GROUP = 1 << 62  # the placement group's range id


def fail(msg):
    print("plgroup_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


decom_test.BASE = BASE
decom_test.RANGES = RANGES
decom_test.fail = placement_test.fail = fail
call, states, wait = decom_test.call, decom_test.states, decom_test.wait


class Decom(decom_test.Cluster):
    FLAGS = ("--replicas", "3", "--rebalance", "off", "--enable-debug-api")


class Repair(decom_test.Cluster):
    FLAGS = ("--replicas", "3", "--dead-after", "1s", "--enable-debug-api")


def group(i):
    """(replicas, leader) of the group as node i's cluster/status says."""
    st, v = call(i, "GET", "/api/v1/cluster/status")
    if st != 200 or not v.get("placement"):
        return None
    return sorted(v["placement"]["replicas"]), v["placement"]["leader"]


def group_agreed(on):
    """The group as every node of `on` says it, when they agree on 3
    replicas on nodes of `on` and a leader among them; else None."""
    views = [group(i) for i in on]
    if any(v is None for v in views) or any(v != views[0] for v in views):
        return None
    reps, leader = views[0]
    return views[0] if len(reps) == 3 and set(reps) <= set(on) and leader in reps else None


def holds_group(i):
    st, _ = call(i, "GET", "/api/v1/debug/placement")
    return st == 200


def split(on):
    """Splits at a random key through the nodes of `on` (the range's
    leader answers 200); returns the new range's id."""
    rnd = random.Random(time.time())
    key = struct.pack(">Q", rnd.getrandbits(64)) + b"\x01"
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    t0 = time.time()
    while time.time() - t0 < 60:
        for i in on:
            st, v = call(i, "POST", q)
            if st == 200:
                return v["right"]["id"]
        time.sleep(0.2)
    fail("a split at %r: no node answered 200" % key)


def index(i):
    st, v = call(i, "GET", "/api/v1/ranges?limit=100000")
    return v["ranges"] if st == 200 else None


def voters(r):
    return sorted(x["node_id"] for x in r["replicas"] if x["role"] == "voter")


def run(cls, tmp, body):
    """A cluster of cls in tmp, started, every node live in node 1's view:
    body(c) runs, then every node must stop cleanly."""
    os.makedirs(tmp)
    c = cls(tmp, RANGES)
    try:
        c.start_all()
        wait("every node live in node 1's view",
             lambda: states(1) == {i: "live" for i in NODES}, 60)
        body(c)
        if not c.stop_all():
            fail("a node did not stop cleanly")
    finally:
        c.stop_all()
    return True


def stop(c, i):
    """Stops node i with SIGTERM; fails unless it exits 0."""
    p = c.procs.pop(i)
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=30) != 0:
        fail("node %d did not stop cleanly" % i)


def decommission(c):
    reps, gone = wait("the group on nodes 1-3 with a leader",
                      lambda: (lambda g: g if g and g[0] == [1, 2, 3] and g[1] else None)(
                          group(4)), 60)
    stay = tuple(i for i in NODES if i != gone)
    print("plgroup_test: the group on %s, led by node %d: decommissioning it" %
          (reps, gone), flush=True)
    w = decom_test.Writer(stay)
    w.start()
    wait("writes acknowledged", lambda: len(w.acked) >= 100, 60)
    wait("decommission of node %d accepted" % gone,
         lambda: call(stay[0], "POST", "/api/v1/nodes/%d/decommission" % gone)[0] == 202,
         30)
    t0 = time.time()
    wait("node %d decommissioned in every node's view" % gone,
         lambda: all((states(i) or {}).get(gone) == "decommissioned" for i in NODES),
         MOVE_S)
    print("plgroup_test: node %d decommissioned %.1f s after it was asked" %
          (gone, time.time() - t0), flush=True)
    g = wait("the group on 3 nodes of %s with a leader, every node agreeing" % (stay,),
             lambda: group_agreed(stay), 30)
    if holds_group(gone):
        fail("node %d still holds a replica of the group" % gone)
    st, v = call(gone, "GET", "/api/v1/cluster/status")
    if st != 200 or v["ranges"] != 0:
        fail("node %d still holds replicas: %s %r" % (gone, st, v))
    rs = index(stay[0])
    bad = [r["id"] for r in rs or [] if len(voters(r)) != 3 or gone in voters(r)]
    if rs is None or bad:
        fail("ranges not on 3 voters without node %d: %r" % (gone, bad))
    print("plgroup_test: node %d holds no replica (the group's neither); the group on "
          "%s led by node %d" % (gone, g[0], g[1]), flush=True)
    right = split(stay)
    print("plgroup_test: split made range %d" % right, flush=True)
    stop(c, gone)
    right = split(stay)
    wait("the group led without node %d" % gone, lambda: group_agreed(stay), 30)
    print("plgroup_test: node %d stopped; split made range %d without it" % (gone, right),
          flush=True)
    w.stop = True
    w.join(30)
    decom_test.read_back(w.acked, stay[0])
    print("plgroup_test: %d acknowledged writes read back" % len(w.acked), flush=True)
    # Started again, it does not make its replica of the group again from
    # the first-start flags (its tombstone says it was moved away).
    c.start(gone)
    wait("node %d answering again" % gone,
         lambda: call(gone, "GET", "/api/v1/cluster/status")[0] == 200, 60)
    time.sleep(2)
    if holds_group(gone) or call(gone, "GET", "/api/v1/cluster/status")[1]["ranges"] != 0:
        fail("node %d, decommissioned and restarted, holds replicas again" % gone)
    wait("the group on %s after node %d's restart" % (stay, gone),
         lambda: group_agreed(stay) and group_agreed(NODES), 30)
    with open(os.path.join(c.tmp, "log%d" % gone), errors="replace") as f:
        if "made before the placement group" in f.read():
            fail("node %d made its replica of the group again at its restart" % gone)
    print("plgroup_test: node %d restarted holds no replica" % gone, flush=True)


def repair(c):
    reps, leader = wait("the group on 3 nodes with a leader",
                        lambda: group_agreed(NODES), 60)
    dead = next(i for i in reps if i != leader)
    spare = next(i for i in NODES if i not in reps)
    live = tuple(i for i in NODES if i != dead)
    c.kill9(dead)
    t0 = time.time()
    print("plgroup_test: kill -9 of node %d (the group on %s, led by node %d)" %
          (dead, reps, leader), flush=True)
    # The group's move to the spare, as GET /api/v1/operations lists it
    # meanwhile: its snapshot bytes, read from the group's leader.
    seen = {}

    def repaired():
        st, v = call(live[len(seen) % len(live)], "GET", "/api/v1/operations")
        for m in (v or {}).get("operations", []) if st == 200 else []:
            if m["type"] == "move" and m["range"] == GROUP and m["to"] == spare:
                seen[m["step"]] = max(seen.get(m["step"], 0), m["snapshot_sent"])
        seen["looks"] = seen.get("looks", 0) + 1
        return group_agreed(live)
    g = wait("the group back to 3 voters on %s" % (live,), repaired, MOVE_S)
    if spare not in g[0] or not holds_group(spare):
        fail("node %d holds no replica of the group: %r" % (spare, g))
    print("plgroup_test: the group on %s led by node %d, %.1f s after the kill; its move "
          "in /api/v1/operations: %r" % (g[0], g[1], time.time() - t0, seen), flush=True)
    if not any(b > 0 for k, b in seen.items() if k != "looks"):
        fail("the group's move to node %d never showed snapshot bytes in /api/v1/operations"
             % spare)
    # Its leader at the time answers the group's snapshot sends like any
    # range's: one sent whole to the spare.
    sends = [x for i in live
             for x in (lambda r: r[1]["sends"] if r[0] == 200 else [])(
                 call(i, "GET", "/api/v1/ranges/%d/snapshots" % GROUP))
             if x["node_id"] == spare]
    if not any(x["state"] == "sent" and x["sent"] == x["size"] > 0 for x in sends):
        fail("no node lists the group's snapshot sent to node %d: %r" % (spare, sends))
    split(live)
    # The node that got its replica keeps it across a restart.
    stop(c, spare)
    c.start(spare)
    wait("node %d holding the group again after its restart" % spare,
         lambda: holds_group(spare) and group_agreed(live), 60)
    split(live)
    print("plgroup_test: node %d restarted with its replica of the group; a split "
          "works" % spare, flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-plgroup-")
    ok = False
    try:
        ok = run(Decom, os.path.join(tmp, "decom"), decommission) and \
            run(Repair, os.path.join(tmp, "repair"), repair)
        if ok:
            print("plgroup_test: PASS", flush=True)
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("plgroup_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
