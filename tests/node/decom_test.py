#!/usr/bin/env python3
"""Decommissioning a node on real rangekv processes (127.0.0.1-4, four
nodes, --replicas 3, 20 ranges, --tick-ms 50, --rebalance off), with a
client writing throughout:

- rebalancing is paused (GET /api/v1/rebalance), and a decommission
  drains all the same;
- `rangekv decommission 2 --wait` (POST /api/v1/nodes/2/decommission,
  then the ranges left each second) returns once node 2 is
  decommissioned; meanwhile the placement leader's scheduler moved every
  replica off node 2 (a learner added elsewhere, promoted, the leadership
  handed over where node 2 led, node 2's replica removed);
- then node 2 holds no replica of a user range (its own status and the
  index), every range has exactly 3 voters on nodes 1, 3 and 4, and
  node 2 is decommissioned in every node's GET /api/v1/nodes;
- every write the client had acknowledged reads back;
- while it drains, GET /api/v1/operations (asked of nodes 1, 3 and 4 in
  turn: the others ask the placement leader) lists moves from node 2 in
  their steps, and --wait prints its progress
  (ranges moved of those to move, bytes sent, the time left); after it,
  the placement leader's /metrics counts the moves done (unless the
  group's leadership moved once the drain was over: a new leader's
  counters start at 0), none in flight,
  no replica on node 2, no range under-replicated, and `rangekv
  rebalance status` shows the same (table and --json);
- decommissions of nodes 2 and 3 asked one right after the other on
  nodes 1 and 4: node 2's is answered 202 once the placement group
  applied it, node 3's 409 (by the group's apply, which counts the
  active nodes in log order, when node 4's view of the states is still
  a second old; by node 4's own check otherwise), and node 3 stays live;
- decommissioning node 3 as well is refused (2 live nodes would remain,
  fewer than --replicas 3), by the API (409) and by the CLI (exit 1).

    decom_test.py path/to/rangekv
"""
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement_test  # noqa: E402  (its Cluster and wait)
import replicas_test  # noqa: E402  (its RESP call)

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
GONE = 2
REPLICAS = 3
RANGES = 20
# 12 ports a cluster (4 nodes x 3 kinds); the band 63500-63979, above Linux's
# ephemeral ports (32768-60999): there an outgoing connection of another test
# once held node 1's port (all outgoing connections to 127.0.0.x leave from
# 127.0.0.1), and node 1 could not listen.
BASE = 63500 + (os.getpid() % 30) * 16
# Sized for a sanitizer build on a loaded 2-core machine.
DRAIN_S = 300


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("decom_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


placement_test.fail = fail
wait = placement_test.wait


def call(i, method, path):
    req = urllib.request.Request("http://%s%s" % (addr(i, 2), path), method=method,
                                 data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
    except (OSError, ValueError):
        return None, None


class Cluster(placement_test.Cluster):
    """placement_test's (its kill9 and stop_all), on this test's ports, with
    `ranges` ranges (RANGES as the module has it then) and the cluster
    flags FLAGS (tests that import this file give their own)."""
    FLAGS = ("--replicas", str(REPLICAS), "--rebalance", "off")

    def __init__(self, tmp, ranges=None):
        super().__init__(tmp, NODES)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in NODES)
        self.ranges = ranges or RANGES

    def start(self, i, env=None):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        self.procs[i] = subprocess.Popen(
            [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--initial-cluster", self.cl, "--ranges", str(self.ranges), "--tick-ms", "50"] +
            list(self.FLAGS), stdout=log, stderr=log)


def placement_leader(nodes=(3, 4, 1)):
    """The placement group's leader as the first of nodes to know says."""
    for i in nodes:
        st, v = call(i, "GET", "/api/v1/cluster/status")
        if st == 200 and v.get("placement") and v["placement"].get("leader"):
            return v["placement"]["leader"]
    return None


def connect(i):
    host, port = addr(i, 1).split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def states(i):
    st, v = call(i, "GET", "/api/v1/nodes")
    return {x["id"]: x["state"] for x in v["nodes"]} if st == 200 else None


class Writer(threading.Thread):
    """SETs of random 8-byte keys (every range gets some) through `nodes`
    in turn (1, 3 and 4); the acknowledged ones kept."""
    def __init__(self, nodes=(1, 3, 4)):
        super().__init__(daemon=True)
        self.stop, self.acked, self.errors, self.nodes = False, {}, 0, nodes

    def run(self):
        rnd = random.Random(15)
        socks, n = {}, 0
        while not self.stop:
            i = self.nodes[n % len(self.nodes)]
            k, v = struct.pack(">Q", rnd.getrandbits(64)), b"v%d" % n
            n += 1
            try:
                if i not in socks:
                    socks[i] = connect(i)
                if replicas_test.resp(socks[i], b"SET", k, v) == b"+OK":
                    self.acked[k] = v
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
                socks.pop(i, None)
                time.sleep(0.1)
        for s in socks.values():
            s.close()


class OpsWatch(threading.Thread):
    """GET /api/v1/operations on nodes 1, 3 and 4 in turn every 0.2 s: the
    moves seen, and the answers the node asked passed on from another."""
    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.moves, self.answers, self.passed_on = False, [], 0, 0

    def run(self):
        n = 0
        while not self.stop:
            i = (1, 3, 4)[n % 3]
            n += 1
            st, v = call(i, "GET", "/api/v1/operations")
            if st == 200:
                self.answers += 1
                self.passed_on += v["node_id"] != i
                self.moves += [o for o in v["operations"] if o["type"] == "move"]
            time.sleep(0.2)


def read_back(kept, i):
    """Every key of kept reads its value back through node i, GETs
    pipelined 200 at a time."""
    s = connect(i)
    f = s.makefile("rb")
    items = list(kept.items())
    for at in range(0, len(items), 200):
        part = items[at:at + 200]
        s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k)
                           for k, _ in part))
        for k, v in part:
            line = f.readline()
            got = f.read(int(line[1:]) + 2)[:-2] if line[:1] == b"$" and line[1:3] != b"-1" \
                else line.rstrip(b"\r\n")
            if got != v:
                fail("key %r acknowledged as %r... reads %r..." % (k, v[:16], got[:16]))
    s.close()


def metrics(i):
    """Node i's /metrics as {name{labels}: value}."""
    with urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=10) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def plc_leader():
    """The placement group's leader as node 1 (one of its nodes
    throughout) knows it; None when unknown."""
    st, v = call(1, "GET", "/api/v1/cluster/status")
    return ((v or {}).get("placement") or {}).get("leader") if st == 200 else None


def leader_metrics():
    """The placement leader's /metrics (the one with placement figures),
    asked of every node that answers (the group's replicas move, so its
    leader may be any node; a node may be down)."""
    for i in NODES:
        try:
            m = metrics(i)
        except OSError:
            continue
        if "rangekv_placement_moves_done_total" in m:
            return m
    return None


def drained():
    """Node GONE holds no user range; every range of the index has 3
    voters, none on GONE."""
    st, v = call(GONE, "GET", "/api/v1/cluster/status")
    if st != 200 or v["ranges"] != 0:
        return None
    st, v = call(1, "GET", "/api/v1/ranges?limit=100000")
    if st != 200 or len(v["ranges"]) < RANGES:
        return None
    for r in v["ranges"]:
        nodes = sorted(x["node_id"] for x in r["replicas"])
        if [x["role"] for x in r["replicas"]] != ["voter"] * REPLICAS or GONE in nodes or \
                len(set(nodes)) != REPLICAS:
            return None
    return v["ranges"]


def main():
    tmp = tempfile.mkdtemp(prefix="rk-decom-")
    c = Cluster(tmp)
    ok = False
    try:
        c.start_all()
        # Told to nodes 1 and 4, both asked for a decommission below (a
        # node not told yet answers 503).
        wait("every node live in node 1's view, and told to nodes 1 and 4",
             lambda: states(1) == {i: "live" for i in NODES} and
             all([x["placement_state"] for x in call(i, "GET", "/api/v1/cluster/status")[1]["nodes"]]
                 == ["live"] * len(NODES) for i in (1, 4)), 60)
        wait("--rebalance off: node 3 says rebalancing is paused",
             lambda: call(3, "GET", "/api/v1/rebalance") == (200, {"enabled": False}), 30)
        w = Writer()
        w.start()
        wait("writes acknowledged", lambda: len(w.acked) >= 200, 60)
        # Two decommissions asked one right after the other on two nodes:
        # node 4, told the states at most a second ago, still sees four
        # live nodes and passes its own check; the placement group,
        # deciding in log order, refuses the second (two active nodes
        # would remain, fewer than --replicas 3). The first call answers
        # once the group applied it.
        st, body = call(1, "POST", "/api/v1/nodes/%d/decommission" % GONE)
        st3, body3 = call(4, "POST", "/api/v1/nodes/3/decommission")
        if st != 202 or body.get("state") != "decommissioning" or st3 != 409:
            fail("decommissions of nodes %d and 3 at once: %s %s, then %s %s" %
                 (GONE, st, body, st3, body3))
        by_group = "placement group" in body3.get("error", "")
        print("decom_test: node 3's decommission asked at once refused (%s): %s" %
              ("by the group's apply" if by_group else "by node 4's own check",
               body3.get("error")), flush=True)
        wait("node 3 still live, node %d decommissioning" % GONE,
             lambda: (lambda v: v.get(3) == "live" and
                      v.get(GONE) in ("decommissioning", "decommissioned"))(states(1) or {}),
             30)
        # The moves done are counted by the placement leader that drove
        # them; one that takes over starts at 0 (docs/placement.md,
        # "Operations and figures"), as the group's leadership does once
        # its replica on node GONE is replaced, when the drain may be
        # over already.
        lead0 = plc_leader()
        ops = OpsWatch()
        ops.start()
        t0 = time.time()
        try:
            cli = subprocess.run([BIN, "decommission", str(GONE), "--wait", "--http",
                                  addr(1, 2)], capture_output=True, text=True, timeout=DRAIN_S)
        except subprocess.TimeoutExpired as e:
            fail("node %d not decommissioned within %d s; last lines of --wait: %r" %
                 (GONE, DRAIN_S, (e.stdout or b"")[-300:]))
        took = time.time() - t0
        ops.stop = True
        ops.join(30)
        if cli.returncode != 0 or "decommissioned" not in cli.stdout or \
                "ranges left" not in cli.stdout or "ranges moved" not in cli.stdout or \
                " sent (" not in cli.stdout or "s left" not in cli.stdout:
            fail("rangekv decommission --wait: exit %d, out %r, err %r" %
                 (cli.returncode, cli.stdout[-2000:], cli.stderr))
        print("decom_test: node %d decommissioned in %.1f s" % (GONE, took), flush=True)
        print("decom_test: --wait's last line: %s" % cli.stdout.splitlines()[-1], flush=True)
        steps = {m["step"] for m in ops.moves}
        if not ops.moves or any(m["from"] not in (GONE, None) for m in ops.moves) or \
                not steps <= {"learner", "snapshot", "promote", "remove"} or \
                ops.passed_on == 0:
            fail("GET /api/v1/operations while draining (%d answers, %d passed on): moves %r" %
                 (ops.answers, ops.passed_on, ops.moves[:5]))
        print("decom_test: /api/v1/operations listed %d moves of %d ranges, steps %s" %
              (len(ops.moves), len({m["range"] for m in ops.moves}), sorted(steps)), flush=True)
        wait("node %d holds no replica, every range 3 voters elsewhere" % GONE, drained, 60)
        for i in NODES:
            wait("node %d decommissioned in node %d's view" % (GONE, i),
                 lambda: (states(i) or {}).get(GONE) == "decommissioned", 30)
        key = 'rangekv_placement_node_replicas{node="%d"}' % GONE
        wait("the placement leader's metrics: moves done, none in flight, node %d empty" % GONE,
             lambda: (lambda m: m is not None and
                      (m["rangekv_placement_moves_done_total"] > 0 or plc_leader() != lead0) and
                      m["rangekv_placement_moves_in_flight"] == 0 and m.get(key) == 0 and
                      m["rangekv_placement_ranges_under_replicated"] == 0)(leader_metrics()), 30)
        m = leader_metrics()
        lead1 = plc_leader()
        print("decom_test: placement metrics: %d moves done, %d snapshot bytes (placement "
              "leader %s, %s before the drain)" %
              (m["rangekv_placement_moves_done_total"],
               m["rangekv_placement_snapshot_sent_bytes_total"], lead1, lead0), flush=True)
        cli = subprocess.run([BIN, "rebalance", "status", "--http", addr(4, 2)],
                             capture_output=True, text=True, timeout=60)
        if cli.returncode != 0 or "0 in flight" not in cli.stdout or \
                "node %d: decommissioned, 0 replicas" % GONE not in cli.stdout:
            fail("rangekv rebalance status: exit %d, out %r, err %r" %
                 (cli.returncode, cli.stdout, cli.stderr))
        cli = subprocess.run([BIN, "rebalance", "status", "--json", "--http", addr(1, 2)],
                             capture_output=True, text=True, timeout=60)
        v = json.loads(cli.stdout) if cli.returncode == 0 else {}
        if (v.get("moves_done", 0) < 1 and lead1 == lead0) or \
                v.get("under_replicated_ranges") != 0:
            fail("rangekv rebalance status --json: exit %d, out %r" %
                 (cli.returncode, cli.stdout))
        time.sleep(2)  # writes go on after the drain
        w.stop = True
        w.join(30)
        read_back(w.acked, 1)
        print("decom_test: %d acknowledged writes read back (%d refused or failed)" %
              (len(w.acked), w.errors), flush=True)
        st, body = call(1, "POST", "/api/v1/nodes/3/decommission")
        if st != 409 or "fewer than --replicas" not in body.get("error", ""):
            fail("decommissioning node 3 too: %s %s" % (st, body))
        cli = subprocess.run([BIN, "decommission", "3", "--http", addr(4, 2)],
                             capture_output=True, text=True, timeout=60)
        if cli.returncode != 1 or "fewer than --replicas" not in cli.stderr:
            fail("rangekv decommission 3: exit %d, err %r" % (cli.returncode, cli.stderr))
        if states(1).get(3) != "live":
            fail("node 3 after the refusal: %s" % states(1))
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
        print("decom_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("decom_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
