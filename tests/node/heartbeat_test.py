#!/usr/bin/env python3
"""Node heartbeats, placement states and cluster settings on real rangekv
processes (127.0.0.1-4, four nodes, --dead-after 6s):

- GET /api/v1/nodes answers the same view from every node (the placement
  leader's: the same leader, ids, addresses and states), every node live
  with its client and HTTP addresses registered and its heartbeat's
  figures (replicas, leaders, disk free); cluster/status shows the
  placement states too;
- a node stopped (kill -9) goes live -> suspect -> dead on every node's
  view, not dead before --dead-after; restarted, it is live again;
- the placement group's leader killed: the new leader counts every node
  live until it misses beats there, then the killed one goes suspect and
  dead again (after the new leader's own --dead-after);
- the stats reach the group (the STATS command): after a leader change
  the recorded figures are shown before new beats arrive;
- the cluster settings: a restart with another --dead-after is refused
  with a line naming the recorded value, and one with the same value
  starts; a bad value is refused by the flags;
- a fifth node added by one POST /api/v1/nodes on one node (and started
  with --added-node): the others learn it as a peer from the node table,
  and it is live in every node's view.

    heartbeat_test.py path/to/rangekv
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement_test  # noqa: E402  (its Cluster and wait)

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
DEAD_AFTER = 6.0
NEW = 5
# 15 ports a cluster (5 nodes x 3 kinds); the band 8000-8999.
BASE = 8000 + (os.getpid() % 60) * 16


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 5 + i - 1)


def fail(msg):
    print("heartbeat_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


def call(i, path, timeout=5):
    try:
        with urllib.request.urlopen("http://%s%s" % (addr(i, 2), path), timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


# placement_test's wait, failing with this test's name.
placement_test.fail = fail
wait = placement_test.wait


class Cluster(placement_test.Cluster):
    """placement_test's (its kill9 and stop_all), on this test's ports and
    flags."""
    def __init__(self, tmp):
        super().__init__(tmp, NODES)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in NODES)

    def args(self, i, extra=()):
        return [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
                "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1),
                "--http-addr", addr(i, 2), "--initial-cluster", self.cl, "--ranges", "8",
                "--tick-ms", "50", "--rebalance", "off"] + list(extra)

    def start(self, i, extra=("--dead-after", "6s")):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        extra = list(extra) + (["--added-node"] if i == NEW else [])
        self.procs[i] = subprocess.Popen(self.args(i, extra), stdout=log, stderr=log)


def view(i):
    st, body = call(i, "/api/v1/nodes")
    return body if st == 200 else None


def states(v):
    return {x["id"]: x["state"] for x in v["nodes"]}


def same_view(nodes):
    """Every node of nodes answers the same leader, ids, addresses and
    states; that view."""
    def cond():
        vs = [view(i) for i in nodes]
        if any(v is None for v in vs):
            return None
        keys = [(v["leader"], [(x["id"], x["state"], x["peer_addr"], x["client_addr"],
                                x["http_addr"]) for x in v["nodes"]]) for v in vs]
        return vs[0] if all(k == keys[0] for k in keys) else None
    return wait("the same /api/v1/nodes from nodes %s" % (nodes,), cond, 30)


def state_everywhere(nodes, node, want, timeout):
    def cond():
        for i in nodes:
            v = view(i)
            if v is None or states(v).get(node) != want:
                return None
        return True
    wait("node %d %s on nodes %s" % (node, want, nodes), cond, timeout)


def check_live_view(v):
    if [x["id"] for x in v["nodes"]] != list(NODES):
        fail("the view lists %s" % [x["id"] for x in v["nodes"]])
    for x in v["nodes"]:
        i = x["id"]
        if x["state"] != "live" or x["peer_addr"] != addr(i, 0) or \
                x["client_addr"] != addr(i, 1) or x["http_addr"] != addr(i, 2) or \
                not x["registered"]:
            fail("node %d in the view: %s" % (i, x))
        if not x["replicas"] or x["disk_free"] is None or x["disk_free"] <= 0 or \
                x["leaders"] is None:
            fail("node %d's figures: %s" % (i, x))
    if v["dead_after_ms"] != DEAD_AFTER * 1000:
        fail("dead_after_ms %s" % v["dead_after_ms"])


def registered_view(nodes):
    def cond():
        v = same_view(nodes)
        return v if all(x["registered"] and x["client_addr"] for x in v["nodes"]) and \
            all(x["state"] == "live" for x in v["nodes"]) else None
    return wait("every node registered with its addresses", cond, 30)


def test_states(c):
    v = registered_view(NODES)
    check_live_view(v)
    leader = v["leader"]
    st, status = call(1, "/api/v1/cluster/status")
    if [x.get("placement_state") for x in status["nodes"]] != ["live"] * 4:
        fail("cluster/status placement states: %s" % status["nodes"])
    # A node that is not the placement leader stops: suspect, then dead.
    victim = [i for i in NODES if i != leader][-1]
    others = [i for i in NODES if i != victim]
    c.kill9(victim)
    t0 = time.time()
    state_everywhere(others, victim, "suspect", 10)
    state_everywhere(others, victim, "dead", DEAD_AFTER + 10)
    # Its last beat may have reached the leader up to a beat (1 s) before
    # the kill.
    if time.time() - t0 < DEAD_AFTER - 1.5:
        fail("dead %.1f s after the kill, before --dead-after" % (time.time() - t0))
    if any(s != "live" for i, s in states(view(leader)).items() if i != victim):
        fail("others not live: %s" % states(view(leader)))
    same_view(others)
    # Back: live again.
    c.start(victim)
    state_everywhere(NODES, victim, "live", 20)
    same_view(NODES)
    print("heartbeat: live -> suspect -> dead -> live, the same view from every node")


def test_leader_change(c):
    v = registered_view(NODES)
    old = v["leader"]
    others = [i for i in NODES if i != old]
    # The STATS command reaches the group at most 10 s apart: wait for a
    # recorded heartbeat of every node first.
    def recorded():
        v = view(old)
        return v if v and all(x["last_heartbeat_recorded"] for x in v["nodes"]) else None
    wait("the stats recorded in the group", recorded, 25)
    c.kill9(old)
    t0 = time.time()

    def new_leader():
        v = view(others[0])
        return v if v and v["leader"] != old else None
    v = wait("a new placement leader", new_leader, 20)
    new = v["leader"]
    # Right after the takeover, every node counts as live (the old leader
    # too, until it misses beats on the new one); the recorded figures of
    # the old leader are shown.
    x = [x for x in v["nodes"] if x["id"] == old][0]
    if v["leading_for_ms"] < 3000 and x["state"] != "live":
        fail("the old leader is %s %d ms after the takeover" % (x["state"], v["leading_for_ms"]))
    if x["replicas"] is None or x["last_heartbeat_recorded"] is None:
        fail("the old leader's recorded figures are lost: %s" % x)
    state_everywhere(others, old, "suspect", 10)
    state_everywhere(others, old, "dead", DEAD_AFTER + 10)
    lead_for = view(new)["leading_for_ms"]
    if lead_for < DEAD_AFTER * 1000 - 500:
        fail("dead %d ms after the new leader took over" % lead_for)
    c.start(old)
    state_everywhere(NODES, old, "live", 20)
    same_view(NODES)
    print("heartbeat: after a leader change (%d -> %d, %.1f s) nodes are live until they "
          "miss beats; the recorded stats survive" % (old, new, time.time() - t0))


def refused(args):
    """The output of a start that must exit (refused)."""
    try:
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=20)
    except subprocess.TimeoutExpired:
        fail("%s started instead of being refused" % " ".join(args[-2:]))


def test_settings(c):
    if not c.stop_all():
        fail("a node did not stop cleanly")
    p = refused(c.args(2, ["--dead-after", "20s"]))
    out = p.stdout.decode()
    if p.returncode == 0 or "--dead-after 20s does not match the cluster's setting " \
            "--dead-after 6s" not in out:
        fail("another --dead-after: %d %s" % (p.returncode, out))
    p = refused(c.args(2, ["--dead-after", "6x"]))
    if p.returncode == 0 or b"--dead-after: '6x' is not a duration" not in p.stdout:
        fail("a bad --dead-after: %s" % p.stdout)
    p = refused(c.args(2, ["--snapshot-rate", "1MiB"]))
    if p.returncode == 0 or b"--snapshot-rate 1MiB does not match the cluster's setting " \
            b"--snapshot-rate 8MiB" not in p.stdout:
        fail("another --snapshot-rate: %s" % p.stdout)
    p = refused(c.args(2, ["--split-size", "1MiB"]))
    if p.returncode == 0 or b"--split-size 1MiB does not match the cluster's setting " \
            b"--split-size 64MiB" not in p.stdout:
        fail("another --split-size: %s" % p.stdout)
    p = refused(c.args(2, ["--split-qps", "500"]))
    if p.returncode == 0 or b"--split-qps 500 does not match the cluster's setting " \
            b"--split-qps 0" not in p.stdout:
        fail("another --split-qps: %s" % p.stdout)
    # The same value, or none: starts.
    for i in NODES:
        c.start(i, ("--dead-after", "6000ms") if i == 2 else ())
    v = registered_view(NODES)
    if v["dead_after_ms"] != 6000:
        fail("dead_after_ms after the restart: %s" % v["dead_after_ms"])
    print("heartbeat: a restart with another cluster setting is refused, naming the "
          "recorded value")


def test_added_node(c):
    req = urllib.request.Request("http://%s/api/v1/nodes?id=%d&peer_addr=%s" %
                                 (addr(1, 2), NEW, addr(NEW, 0)), method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            fail("POST /api/v1/nodes: %d" % r.status)
    c.start(NEW)
    everyone = list(NODES) + [NEW]

    def learned():
        for i in NODES:
            st, body = call(i, "/api/v1/cluster/status")
            if st != 200 or [(x["id"], x["state"]) for x in body["nodes"]
                             if x["id"] == NEW] != [(NEW, "up")]:
                return None
        return True
    wait("node %d a peer of every node (told on node 1 only)" % NEW, learned, 30)
    state_everywhere(everyone, NEW, "live", 20)
    v = same_view(everyone)
    x = [x for x in v["nodes"] if x["id"] == NEW][0]
    if x["client_addr"] != addr(NEW, 1) or not x["registered"]:
        fail("node %d in the view: %s" % (NEW, x))
    print("heartbeat: a node added on one node is learned by every node from the node table")


def main():
    tmp = tempfile.mkdtemp(prefix="rk-heartbeat-")
    c = Cluster(tmp)
    ok = False
    try:
        for i in NODES:
            c.start(i)
        test_states(c)
        test_leader_change(c)
        test_settings(c)
        test_added_node(c)
        ok = c.stop_all()
    finally:
        for p in c.procs.values():
            p.kill()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("logs kept in %s" % tmp)
    if not ok:
        fail("a node did not stop cleanly")
    print("heartbeat_test: ok")


if __name__ == "__main__":
    main()
