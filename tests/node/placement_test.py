#!/usr/bin/env python3
"""The placement group on real rangekv processes (127.0.0.1-5):

- five nodes (--initial-cluster in the order 3,1,5,2,4): the group is on
  all five, every node's /api/v1/cluster/status shows it with one leader,
  and neither /api/v1/ranges, /api/v1/ranges/{id}, the status's "ranges"
  nor /metrics count it; ids allocated through every node are distinct
  and increasing, past the initial ranges, also after kill -9 of the
  group's leader and after that node comes back;
- four nodes in the order 4,2,1,3: the group is on the first three (1, 2,
  4; node 3 holds no replica of it and allocates through them), and a
  membership change of a range reaches the index (its leader reports it);
- three nodes with --replicas 1, two killed: the group has lost its
  quorum (an allocation times out), and the ranges on the survivor serve
  reads and writes all the while;
- a data directory made without the group (the test hook
  RANGEKV_TEST_NO_PLACEMENT=1, as a release before it): "placement" is
  null; restarted, the group is created from the recorded flags and
  allocates past the initial ranges, the data still there (skipped with
  --no-hooks, a build without the test hooks).

    placement_test.py path/to/rangekv [--no-hooks]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from cluster import unescape  # noqa: E402
from resp import Conn  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spans  # noqa: E402

BIN = sys.argv[1]
HOOKS = "--no-hooks" not in sys.argv[2:]
RANGES = 20
TICK_MS = 50
PL_RANGE = 1 << 62
# 16 ports a cluster (5 nodes x 3 kinds); the band 30400-31399.
BASE = 30400 + (os.getpid() % 60) * 16


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 5 + i - 1)


def fail(msg):
    print("placement_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


def free_base(lo, slots, nodes=4):
    """The first port of a block of 16 for nodes x 3 ports (node i's kind k
    at base + k * nodes + i - 1, on 127.0.0.i), one of `slots` blocks from
    lo, the first from a pid-chosen one whose ports all bind now (a run
    beside this one may hold some)."""
    for k in range(slots):
        base = lo + ((os.getpid() + k) % slots) * 16
        try:
            for port in range(base, base + 3 * nodes):
                with socket.socket() as s:
                    s.bind(("127.0.0.%d" % (1 + (port - base) % nodes), port))
            return base
        except OSError:
            continue
    return lo + (os.getpid() % slots) * 16


def call(i, method, path, timeout=30):
    req = urllib.request.Request("http://%s%s" % (addr(i, 2), path), method=method,
                                 data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read().decode()
            return r.status, json.loads(body) if body.startswith(("{", "[")) else body
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
    except OSError:
        return None, None


def wait(what, cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    fail("%s: not within %.1f s" % (what, timeout))


class Cluster:
    def __init__(self, tmp, order, extra=(), env=None):
        self.tmp, self.order, self.extra = tmp, order, list(extra)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in order)
        self.procs = {}
        self.env = env

    def start(self, i, env=None):
        data = os.path.join(self.tmp, "d%d" % i)
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        e = dict(os.environ)
        e.update(env if env is not None else (self.env or {}))
        self.procs[i] = subprocess.Popen(
            [BIN, "start", "--node-id", str(i), "--data", data, "--peer-addr", addr(i, 0),
             "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--initial-cluster", self.cl, "--ranges", str(RANGES), "--tick-ms", str(TICK_MS),
             "--enable-debug-api", "--rebalance", "off"] + self.extra, stdout=log, stderr=log,
            env=e)

    def start_all(self, env=None):
        for i in self.order:
            self.start(i, env)

    def kill9(self, i):
        self.procs[i].kill()
        self.procs[i].wait()
        del self.procs[i]

    def stop_all(self):
        ok = spans.stop_procs(self.procs, self.tmp, 20)
        self.procs = {}
        return ok


def status(i):
    st, body = call(i, "GET", "/api/v1/cluster/status", timeout=2)
    return body if st == 200 else None


def placement_led(nodes, replicas):
    """Every node of nodes shows the group on replicas, and the same leader
    (a node without a replica of it knows the leader once it has called
    it, and shows null before)."""
    def cond():
        leaders, hints = set(), set()
        for i in nodes:
            s = status(i)
            if s is None or s.get("placement") is None:
                return None
            if s["placement"]["replicas"] != replicas:
                fail("node %d shows the group on %s, not %s" %
                     (i, s["placement"]["replicas"], replicas))
            (leaders if i in replicas else hints).add(s["placement"]["leader"])
        hints.discard(None)
        return leaders.pop() if len(leaders) == 1 and None not in leaders and \
            hints <= leaders else None
    return wait("the placement group led, as every node sees it", cond, 30)


def alloc(i, count, timeout=30):
    """The first id of a block of count, allocated through node i (retried
    while the group has no leader)."""
    def cond():
        st, body = call(i, "POST", "/api/v1/debug/placement/alloc?count=%d" % count)
        return body["first"] if st == 200 else None
    return wait("an allocation through node %d" % i, cond, timeout)


def user_listing(i, nodes_n):
    """The ranges node i lists, checked to hold no reserved range, and to
    match the status's and the metrics' counts."""
    st, body = call(i, "GET", "/api/v1/ranges?node=%d&limit=100000" % i)
    ids = [r["id"] for r in body["ranges"]]
    if any(x >= PL_RANGE for x in ids) or not ids:
        fail("node %d lists %s" % (i, ids))
    s = status(i)
    if s["ranges"] != len(ids):
        fail("node %d: status counts %d ranges, lists %d" % (i, s["ranges"], len(ids)))
    st, metrics = call(i, "GET", "/metrics")
    line = [x for x in metrics.splitlines() if x.startswith("rangekv_ranges ")]
    if not line or int(line[0].split()[1]) != len(ids):
        fail("node %d: /metrics %s, lists %d" % (i, line, len(ids)))
    st, body = call(i, "GET", "/api/v1/ranges/%d" % PL_RANGE)
    if st != 404:
        fail("node %d: /api/v1/ranges/%d answered %s" % (i, PL_RANGE, st))
    st, body = call(i, "GET", "/api/v1/ranges?node=%d&sort=size&limit=1000" % i)
    if any(r["id"] >= PL_RANGE for r in body["ranges"]) or body["totals"]["ranges"] != len(ids):
        fail("node %d: the sorted list counts the group: %s" % (i, body["totals"]))
    return ids


def first_index(i):
    st, body = call(i, "GET", "/api/v1/debug/placement")
    return body["first_index"] if st == 200 else 0


def snaps_installed(i):
    st, metrics = call(i, "GET", "/metrics")
    for x in metrics.splitlines():
        if x.startswith("rangekv_snapshots_installed_total "):
            return int(x.split()[1])
    return 0


def check_blocks(blocks):
    """Blocks (first, count) in the order they were allocated: increasing,
    disjoint, past the initial ranges."""
    last = RANGES
    for first, count in blocks:
        if first <= last:
            fail("blocks not increasing and disjoint: %s" % blocks)
        last = first + count - 1


def five(tmp):
    # A short log: the killed node catches up on the group by snapshot.
    c = Cluster(tmp, (3, 1, 5, 2, 4), ("--replicas", "3", "--log-keep", "20"))
    ok = False
    try:
        c.start_all()
        leader = placement_led((1, 2, 3, 4, 5), [1, 2, 3, 4, 5])
        for i in (1, 2, 3, 4, 5):
            user_listing(i, 5)
        blocks = []
        for i in (1, 2, 3, 4, 5):
            blocks.append((alloc(i, 3), 3))
        check_blocks(blocks)
        c.kill9(leader)
        t0 = time.time()
        others = [i for i in (1, 2, 3, 4, 5) if i != leader]
        blocks.append((alloc(others[0], 2), 2))
        print("five: the group's leader (node %d) killed; an allocation answered %.2f s later"
              % (leader, time.time() - t0), flush=True)
        for n in range(60):
            blocks.append((alloc(others[n % 4], 1), 1))
        new = placement_led(others, [1, 2, 3, 4, 5])
        if new == leader:
            fail("the killed node still leads")
        # The group's log compacted past what the killed node holds.
        wait("the group's log compacted", lambda: first_index(new) > 30, 60)
        c.start(leader)
        placement_led((1, 2, 3, 4, 5), [1, 2, 3, 4, 5])
        want = call(new, "GET", "/api/v1/debug/placement")[1]

        # At or past the leader's applied index: the restarted node is
        # the group's preferred leader, and the leadership handed back to
        # it appends a new term's empty entry, which may come after want
        # was read.
        def caught_up():
            st, got = call(leader, "GET", "/api/v1/debug/placement")
            return st == 200 and got["applied"] >= want["applied"] and \
                got["next_id"] == want["next_id"]
        wait("node %d's replica of the group caught up" % leader, caught_up, 30)
        if snaps_installed(leader) < 1:
            fail("node %d caught up without a snapshot" % leader)
        blocks.append((alloc(leader, 5), 5))
        check_blocks(blocks)
        print("five: %d blocks, %s" % (len(blocks), blocks), flush=True)
        ok = True
    finally:
        ok = c.stop_all() and ok
    return ok


def four(tmp):
    c = Cluster(tmp, (4, 2, 1, 3), ("--replicas", "3"))
    ok = False
    try:
        c.start_all()
        placement_led((1, 2, 3, 4), [1, 2, 4])
        for i in (1, 2, 4):
            st, d = call(i, "GET", "/api/v1/debug/placement/index/7")
            if st != 200 or d["generation"] != 1 or d["conf_version"] != 1:
                fail("node %d's index of range 7: %s %s" % (i, st, d))
        st, d = call(3, "GET", "/api/v1/debug/placement/index/7")
        if st != 404:
            fail("node 3 holds a replica of the group (index answered %s)" % st)
        check_blocks([(alloc(3, 4), 4), (alloc(3, 1), 1)])
        # A range without a replica on node 3 gets one: its leader reports
        # the descriptor of the new configuration to the index.
        st, body = call(1, "GET", "/api/v1/ranges?node=1&limit=100000")
        rng = next(r for r in body["ranges"]
                   if 3 not in [x["node_id"] for x in r["replicas"]])
        lead = rng["leader"] or 1
        st, body = call(lead, "POST", "/api/v1/ranges/%d/replicas?node=3&role=learner"
                        % rng["id"], timeout=60)
        if st != 200:
            fail("adding a learner of range %d on node 3: %s %s" % (rng["id"], st, body))

        def indexed():
            for i in (1, 2, 4):
                st, d = call(i, "GET", "/api/v1/debug/placement/index/%d" % rng["id"])
                if st != 200 or d["conf_version"] < 2 or 3 not in d["nodes"]:
                    return None
            return True
        wait("range %d's new configuration in the index" % rng["id"], indexed, 15)
        ok = True
    finally:
        ok = c.stop_all() and ok
    return ok


def no_quorum(tmp):
    c = Cluster(tmp, (1, 2, 3), ("--replicas", "1"))
    ok = False
    try:
        c.start_all()
        placement_led((1, 2, 3), [1, 2, 3])
        alloc(1, 1)
        st, body = call(1, "GET", "/api/v1/ranges?node=1&limit=100000")
        starts = [unescape(r["start"]) for r in body["ranges"]]
        c.kill9(2)
        c.kill9(3)
        host, port = addr(1, 1).split(":")
        s = Conn((host, int(port)), timeout=10)
        t0 = time.time()
        st, body = call(1, "POST", "/api/v1/debug/placement/alloc?count=1", timeout=30)
        took = time.time() - t0
        if st != 504:
            fail("an allocation without the group's quorum answered %s %s" % (st, body))
        for n, k in enumerate(starts):
            key = k + b"\x00pl%d" % n
            if s.call("SET", key, "v%d" % n) != "OK" or s.call("GET", key) != b"v%d" % n:
                fail("range starting %r did not serve with the group's quorum lost" % k)
        s.close()
        print("no_quorum: allocation timed out after %.1f s; %d ranges on node 1 served"
              % (took, len(starts)), flush=True)
        ok = True
    finally:
        ok = c.stop_all() and ok
    return ok


def upgrade(tmp):
    c = Cluster(tmp, (1, 2, 3), ("--replicas", "3"))
    old = {"RANGEKV_TEST_HOOKS": "1", "RANGEKV_TEST_NO_PLACEMENT": "1"}
    ok = False
    try:
        c.start_all(env=old)
        wait("the ranges led", lambda: all(status(i) is not None for i in (1, 2, 3)), 20)
        for i in (1, 2, 3):
            if status(i)["placement"] is not None:
                fail("node %d has a placement group under the hook" % i)
        host, port = addr(1, 1).split(":")
        s = Conn((host, int(port)), timeout=10)
        wait("a write", lambda: s.call("SET", "upgrade", "kept") == "OK", 20)
        s.close()
        if not c.stop_all():
            fail("the nodes did not stop cleanly")
        c.start_all(env={})
        placement_led((1, 2, 3), [1, 2, 3])
        first = alloc(2, 1)
        if first != RANGES + 1:
            fail("the first allocation after the upgrade gave %d, not %d" % (first, RANGES + 1))
        s = Conn((host, int(port)), timeout=10)
        got = wait("the read", lambda: s.call("GET", "upgrade"), 20)
        s.close()
        if got != b"kept":
            fail("the key written before the upgrade reads %r" % got)
        ok = True
    finally:
        ok = c.stop_all() and ok
    return ok


def main():
    tmp = tempfile.mkdtemp(prefix="rk-placement-")
    ok = False
    try:
        parts = [five, four, no_quorum] + ([upgrade] if HOOKS else [])
        for part in parts:
            sub = os.path.join(tmp, part.__name__)
            os.mkdir(sub)
            t0 = time.time()
            if not part(sub):
                fail("%s: a node did not exit cleanly" % part.__name__)
            print("%s: ok (%.1f s)" % (part.__name__, time.time() - t0), flush=True)
        ok = True
    finally:
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    print("placement_test: ok")


if __name__ == "__main__":
    main()
