#!/usr/bin/env python3
"""kill -9 of the placement group's leader during a join, then recovery,
on real rangekv processes (127.0.0.1-5; three initial nodes, --replicas
3, 15 ranges, --tick-ms 50, --dead-after 20s, rebalancing on), with the
test hooks' crash points on node 1, the group's leader (its preferred
node):

- node 4 joins through node 2 (--join) while node 1 is armed at
  `plc.register_proposed`: node 1 dies right after proposing node 4's
  REGISTER (the command in its log, not known to be committed), and is
  restarted a second later;
- node 5 joins through node 3 while node 1 is armed at
  `plc.register_applied`: node 1 dies with node 5's REGISTER applied and
  its answer to node 3 not sent, and is restarted a second later;
- each joining process ends its join (it does not exit), and is then
  live in every node's GET /api/v1/nodes, exactly once in the node table
  with its own addresses, and listed once in every node's cluster/status;
  each reads the cluster's --dead-after from it, and a restart of it with
  another --dead-after is refused naming the cluster's (it recorded the
  cluster's settings);
- with rebalancing on, replicas spread to nodes 4 and 5 until every node
  holds 8 to 10 of the 45 (within 10% of the mean, or one replica), every
  range with 3 voters on distinct nodes, and every acknowledged write of
  a client writing through nodes 2 and 3 throughout reads back.

Needs a build with the test hooks (RK_TEST_HOOKS), which the ctest
registration requires.

    join_crash_test.py path/to/rangekv
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import move_crash_test  # noqa: E402  (its read_back; sets decom_test's globals)
import decom_test  # noqa: E402  (its calls and Writer, on this test's addresses)
import placement_test  # noqa: E402  (its Cluster and wait)

BIN = sys.argv[1]
INITIAL = (1, 2, 3)
NODES = (1, 2, 3, 4, 5)
REPLICAS = 3
RANGES = 15


# 15 ports a cluster (5 nodes x 3 kinds) in the band 1968-1999, far below Linux's
# ephemeral ports (32768-60999).
BASE = placement_test.free_base(1968, 2, 5)
# Sized for a sanitizer build on a loaded 2-core machine.
SPREAD_S = 240


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 5 + i - 1)


def fail(msg):
    print("join_crash_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


decom_test.addr = addr
decom_test.fail = placement_test.fail = move_crash_test.fail = fail
call, states, wait = decom_test.call, decom_test.states, decom_test.wait


class Cluster(placement_test.Cluster):
    """placement_test's (its kill9 and stop_all), on this test's ports and
    flags; nodes 4 and 5 join."""
    def __init__(self, tmp):
        super().__init__(tmp, INITIAL)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in INITIAL)

    def start(self, i, env=None, extra=()):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        a = [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--tick-ms", "50"]
        if i in INITIAL:
            a += ["--initial-cluster", self.cl, "--ranges", str(RANGES),
                  "--replicas", str(REPLICAS), "--dead-after", "20s"]
        self.procs[i] = subprocess.Popen(a + list(extra), stdout=log, stderr=log,
                                         env=dict(os.environ, **(env or {})))


def placement_leader(i=2):
    """The placement group's leader as node i sees it."""
    st, v = call(i, "GET", "/api/v1/cluster/status")
    return v["placement"]["leader"] if st == 200 and v.get("placement") else None


def listing(i, path, new, what):
    """The entries for node `new` in node i's answer to path (None when it
    does not answer); fails on a node listed twice."""
    st, v = call(i, "GET", path)
    if st != 200:
        return None
    ids = [x["id"] for x in v["nodes"]]
    if len(ids) != len(set(ids)):
        fail("node %d's %s lists a node twice: %r" % (i, what, ids))
    listed_once.last = (i, what, ids)
    return [x for x in v["nodes"] if x["id"] == new]


def listed_once(new, among):
    """new is live exactly once in every node of among's GET
    /api/v1/nodes, with its own addresses, and once in its cluster/status."""
    for i in among:
        x = listing(i, "/api/v1/nodes", new, "node table")
        if not x or len(x) != 1 or x[0]["state"] != "live" or \
                (x[0]["peer_addr"], x[0]["client_addr"], x[0]["http_addr"]) != \
                (addr(new, 0), addr(new, 1), addr(new, 2)):
            return False
        if len(listing(i, "/api/v1/cluster/status", new, "cluster/status") or []) != 1:
            return False
    return True


def join_through_crash(c, new, member, point):
    """Node 1, leading the placement group and armed at `point`, dies
    while node `new` joins through `member`; restarted a second later.
    Returns the seconds from the join's start to `new` live everywhere."""
    c.start(1, {"RANGEKV_TEST_HOOKS": "1", "RANGEKV_CRASH_AT": point})
    # Node 1 itself says so, not only node 2: right after node 1's
    # restart node 2 may still name it from before, then elect itself (and
    # register the joining node without node 1).
    wait("node 1 leading the placement group again",
         lambda: placement_leader(1) == 1 and placement_leader(2) == 1 and
         call(1, "GET", "/api/v1/nodes")[0] == 200, 60)
    t0 = time.time()
    c.start(new, None, ["--join", addr(member, 0)])
    try:
        rc = c.procs[1].wait(timeout=40)
    except subprocess.TimeoutExpired:
        fail("node 1 did not reach the crash point %s while node %d joined" % (point, new))
    if rc != -9:
        fail("node 1 exited %s, not by SIGKILL at %s" % (rc, point))
    with open(os.path.join(c.tmp, "log1"), errors="replace") as f:
        if "crash point %s" % point not in f.read():
            fail("node 1 died, but not at %s" % point)
    print("join_crash_test: node 1, the placement leader, killed at %s %.1f s after node %d "
          "began to join" % (point, time.time() - t0, new), flush=True)
    del c.procs[1]
    time.sleep(1.0)
    c.start(1)
    listed_once.last = None
    while not listed_once(new, [i for i in NODES if i in c.procs]):
        if c.procs[new].poll() is not None:
            fail("node %d exited %s" % (new, c.procs[new].poll()))
        if time.time() - t0 > 60:
            fail("node %d not live once in every node's view within 60 s; last seen %r" %
                 (new, listed_once.last))
        time.sleep(0.1)
    took = time.time() - t0
    if c.procs[new].poll() is not None:
        fail("node %d exited %s" % (new, c.procs[new].poll()))
    st, v = call(new, "GET", "/api/v1/nodes")
    if st != 200 or v["dead_after_ms"] != 20000:
        fail("the cluster's --dead-after as node %d answers it: %s %r" % (new, st, v))
    print("join_crash_test: node %d live once in every node's view %.1f s after it began to "
          "join" % (new, took), flush=True)


def balanced():
    st, v = call(1, "GET", "/api/v1/ranges?limit=100000")
    if st != 200 or len(v["ranges"]) < RANGES:
        return None
    c = {i: 0 for i in NODES}
    for r in v["ranges"]:
        nodes = [x["node_id"] for x in r["replicas"] if x["role"] == "voter"]
        if len(r["replicas"]) != REPLICAS or len(set(nodes)) != REPLICAS:
            return None
        for i in nodes:
            c[i] += 1
    mean = sum(c.values()) / len(NODES)
    return c if all(abs(x - mean) <= max(0.1 * mean, 1.0) for x in c.values()) else None


def main():
    tmp = tempfile.mkdtemp(prefix="rk-joincrash-")
    c = Cluster(tmp)
    ok = False
    try:
        for i in INITIAL:
            c.start(i)
        wait("every node live", lambda: states(1) == {i: "live" for i in INITIAL}, 60)
        w = decom_test.Writer((2, 3))
        w.start()
        wait("writes acknowledged", lambda: len(w.acked) >= 100, 60)
        # Node 1 again, armed: SIGTERM, then a start with the crash point
        # (join_through_crash).
        for new, member, point in ((4, 2, "plc.register_proposed"),
                                   (5, 3, "plc.register_applied")):
            c.procs[1].terminate()
            if c.procs[1].wait(timeout=20) != 0:
                fail("node 1 did not stop cleanly")
            del c.procs[1]
            join_through_crash(c, new, member, point)
        t0 = time.time()
        cb = wait("replicas spread to nodes 4 and 5, every node within 10%", balanced,
                  SPREAD_S)
        print("join_crash_test: balanced %s %.1f s after the second join" %
              (cb, time.time() - t0), flush=True)
        w.stop = True
        w.join(30)
        move_crash_test.read_back(w.acked)  # through node 4, pipelined
        print("join_crash_test: %d acknowledged writes read back (%d refused or failed)" %
              (len(w.acked), w.errors), flush=True)
        if not c.stop_all():
            fail("a node did not stop cleanly")
        c.start(4, None, ["--dead-after", "10s"])
        rc = c.procs[4].wait(timeout=30)
        del c.procs[4]
        with open(os.path.join(tmp, "log4"), errors="replace") as f:
            if rc == 0 or "does not match the cluster's setting --dead-after 20s" not in f.read():
                fail("node 4 restarted with --dead-after 10s: exit %s" % rc)
        ok = True
        print("join_crash_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("join_crash_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
