#!/usr/bin/env python3
"""Where the placement group is, once it has left every node of its first
start, on real rangekv processes (127.0.0.1-7; --replicas 2, 4 ranges,
--tick-ms 50, --rebalance off; the group starts on nodes 1, 2 and 3):

- nodes 1, 2 and 3 are decommissioned one after the other (node 5 joins
  through node 4 in between, so that the group keeps 3 voters): each
  time the group leaves the node, which is then stopped; the group ends
  on nodes 4 and 5 with a leader, every node agreeing;
- node 6 joins through node 5, which is not a first-start node of the
  group: the join's answer names the group's nodes (4 and 5, its log
  says so), its heartbeats reach the group's leader (live in the
  leader's GET /api/v1/nodes, its figures received), and its
  cluster/status shows the group where it is;
- node 7 joins through node 4 speaking as a node of an earlier release
  (test hook RANGEKV_TEST_JOIN_NO_GROUP: its Hello says it does not read
  where the group is, and it refuses an answer that says): node 4 must
  leave the field out, so node 7 knows only the group's first-start
  nodes, all stopped: it finds the group through its other peers, which
  answer with the leader they know, and is live in the leader's view the
  same;
- node 7 restarted finds it again at once (the group's nodes it learned
  are recorded), and so does node 6.

Without the answer's field node 6 logs no group nodes; without the search
through the other peers node 7 never reaches the leader.

With --removed-while-down (nodes 1-7, a port band of its own): node 2 is
stopped while the group is on nodes 1, 2 and 3, before nodes 5, 6 and 7
join; nodes 1, 2 (still down), 3 and 4 are decommissioned, and 1, 3 and
4 stopped, so the group ends on nodes 5, 6 and 7, none of which node 2
knows, and none of the nodes it knows runs. Node 2 restarts with --join
through node 5: it must learn the nodes added since it went down (the
member's answer) and where the group is, show the group on 5-7 with its
leader, and its replica of the group must learn it was removed (by
asking the group's current nodes: the index does not list the group)
and leave. Without the --join refresh node 2 knows no live node; without
the ask its group replica campaigns forever.

    grouploc_test.py path/to/rangekv [--no-hooks] [--removed-while-down]
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement_test  # noqa: E402  (its call, wait and free_base)

BIN = sys.argv[1]
HOOKS = "--no-hooks" not in sys.argv
DOWN = "--removed-while-down" in sys.argv
FIRST = (1, 2, 3, 4)
# Sized for a sanitizer build on a loaded 2-core machine.
MOVE_S = 180
# 21 ports (7 nodes x 3 kinds) in the band 23020-23099, or with
# --removed-while-down in 11000-11099, below Linux's ephemeral ports
# (32768-60999).
BASE = placement_test.free_base(11000 if DOWN else 23020, 4, 7)


def addr(i, kind):
    """Node i's peer (0), client (1) or HTTP (2) address."""
    return "127.0.0.%d:%d" % (i, BASE + kind * 7 + i - 1)


def fail(msg):
    print("grouploc_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


placement_test.addr = addr
placement_test.fail = fail
wait = placement_test.wait


def call(i, method, path):
    return placement_test.call(i, method, path, timeout=10)


class Nodes:
    """The processes, node i's data and log under tmp."""
    def __init__(self, tmp):
        self.tmp, self.procs = tmp, {}
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in FIRST)

    def log(self, i):
        with open(os.path.join(self.tmp, "log%d" % i), errors="replace") as f:
            return f.read()

    def start(self, i, extra=(), env=None):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        a = [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--tick-ms", "50"] + list(extra)
        self.procs[i] = subprocess.Popen(a, stdout=log, stderr=log,
                                         env=dict(os.environ, **env) if env else None)

    def first(self, i):
        self.start(i, ["--initial-cluster", self.cl, "--ranges", "4", "--replicas", "2",
                       "--rebalance", "off"])

    def stop(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGTERM)
        if p.wait(timeout=30) != 0:
            fail("node %d did not stop cleanly" % i)

    def stop_all(self):
        for i in list(self.procs):
            p = self.procs.pop(i)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def group(i):
    """(sorted replicas, leader) of the group as node i's cluster/status
    says."""
    st, v = call(i, "GET", "/api/v1/cluster/status")
    if st != 200 or not v.get("placement"):
        return None
    return sorted(v["placement"]["replicas"]), v["placement"]["leader"]


def agreed(on, k):
    """The group as every node of `on` says it when they agree on k
    replicas on nodes of `on` and a leader among them; else None."""
    views = [group(i) for i in on]
    if any(v is None for v in views) or any(v != views[0] for v in views):
        return None
    reps, leader = views[0]
    return views[0] if len(reps) == k and set(reps) <= set(on) and leader in reps else None


def view(i, node):
    """node's entry in GET /api/v1/nodes asked of node i."""
    st, v = call(i, "GET", "/api/v1/nodes")
    if st != 200:
        return None
    return next((x for x in v["nodes"] if x["id"] == node), None)


def beats_reach_leader(live, node, since):
    """The group's leader (as the nodes of `live` agree) heard node after
    `since` (time.time()) and holds its figures: the group as agreed."""
    g0 = group(live[0])
    g = agreed(live, len(g0[0])) if g0 else None
    if g is None:
        return None
    x = view(g[1], node)
    if x is None or x["state"] != "live" or x["replicas"] is None or \
            x["heard_ms_ago"] >= (time.time() - since) * 1000 or \
            x["client_addr"] != addr(node, 1):
        return None
    return g


def decommission(c, gone, live, want):
    """Decommissions node `gone` (asked of live[0]), waits until it is
    decommissioned and the group is on `want` voters of `live`, stops it."""
    wait("decommission of node %d accepted" % gone,
         lambda: call(live[0], "POST", "/api/v1/nodes/%d/decommission" % gone)[0] == 202, 30)
    t0 = time.time()
    wait("node %d decommissioned" % gone,
         lambda: (view(live[0], gone) or {}).get("state") == "decommissioned", MOVE_S)
    g = wait("the group on %d nodes of %s" % (want, live), lambda: agreed(live, want), 60)
    c.stop(gone)
    print("grouploc_test: node %d decommissioned in %.1f s and stopped; the group on %s led "
          "by node %d" % (gone, time.time() - t0, g[0], g[1]), flush=True)
    return g


def joined(c, new, via, live, env=None):
    """Node `new` joins through node `via`; its heartbeats reach the
    group's leader and it shows the group where the others do."""
    t0 = time.time()
    c.start(new, ["--join", addr(via, 0)], env)
    g = wait("node %d's heartbeats at the group's leader" % new,
             lambda: beats_reach_leader(live, new, t0), 60)
    wait("node %d showing the group on %s" % (new, g[0]),
         lambda: agreed(live + (new,), len(g[0])), 30)
    return g, time.time() - t0


def removed_while_down(c):
    """Node 2 down while every node it knew left (the module's doc)."""
    g = wait("the group on nodes 1-3 with a leader", lambda: agreed(FIRST, 3), 60)
    if g[0] != [1, 2, 3]:
        fail("the group starts on %s, not nodes 1-3" % g[0])
    c.stop(2)
    print("grouploc_test: node 2 stopped", flush=True)
    for new in (5, 6, 7):
        c.start(new, ["--join", addr(4, 0)])
        wait("node %d live" % new, lambda: (view(4, new) or {}).get("state") == "live", 60)
    for gone in (1, 2, 3, 4):
        t0 = time.time()
        wait("decommission of node %d accepted" % gone,
             lambda: call(5, "POST", "/api/v1/nodes/%d/decommission" % gone)[0] == 202, 30)
        wait("node %d decommissioned" % gone,
             lambda: (view(5, gone) or {}).get("state") == "decommissioned", MOVE_S)
        if gone != 2:
            c.stop(gone)
        print("grouploc_test: node %d decommissioned in %.1f s" % (gone, time.time() - t0),
              flush=True)
    g = wait("the group on nodes 5-7", lambda: agreed((5, 6, 7), 3), 60)
    t0 = time.time()
    c.start(2, ["--join", addr(5, 0)])
    gone = "range %d: replica" % placement_test.PL_RANGE
    wait("node 2's replica of the group leaving it",
         lambda: any(gone in ln and "leaves this node" in ln for ln in c.log(2).splitlines()),
         60)
    print("grouploc_test: node 2 restarted with --join through node 5; its replica of the "
          "group left it %.1f s later" % (time.time() - t0), flush=True)
    # Its status shows the group as its leader's heartbeat answers say.
    wait("node 2 showing the group on %s" % g[0], lambda: agreed((2, 5, 6, 7), 3), 60)
    print("grouploc_test: node 2 shows the group on %s led by node %d %.1f s after its "
          "restart" % (g[0], g[1], time.time() - t0), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-grouploc-")
    c = Nodes(tmp)
    ok = False
    try:
        if DOWN:
            for i in FIRST:
                c.start(i, ["--initial-cluster", c.cl, "--ranges", "4", "--replicas", "3",
                            "--rebalance", "off"])
            removed_while_down(c)
            ok = True
            print("grouploc_test: PASS", flush=True)
            return
        for i in FIRST:
            c.first(i)
        g = wait("the group on nodes 1-3 with a leader", lambda: agreed(FIRST, 3), 60)
        if g[0] != [1, 2, 3]:
            fail("the group starts on %s, not nodes 1-3" % g[0])
        decommission(c, 1, (2, 3, 4), 3)
        joined(c, 5, 4, (2, 3, 4))
        decommission(c, 2, (3, 4, 5), 3)
        g = decommission(c, 3, (4, 5), 2)
        if g[0] != [4, 5]:
            fail("the group is on %s, not nodes 4 and 5" % g[0])

        # Through a node that is not a first-start node of the group.
        g, took = joined(c, 6, 5, (4, 5))
        if "the join's answer: the placement group's replicas are on nodes 4,5" not in c.log(6):
            fail("node 6's join answer did not name the group's nodes 4 and 5")
        print("grouploc_test: node 6 joined through node 5, told the group is on nodes 4 "
              "and 5: its heartbeats at the leader (node %d) in %.1f s" % (g[1], took),
              flush=True)
        live = (4, 5, 6)
        if HOOKS:
            # Told nothing: only nodes 1-3 (stopped) as the group's.
            g, took = joined(c, 7, 4, live,
                             {"RANGEKV_TEST_HOOKS": "1", "RANGEKV_TEST_JOIN_NO_GROUP": "1"})
            if "the join's answer:" in c.log(7):
                fail("node 7 took the group's nodes from the join's answer (test hook)")
            print("grouploc_test: node 7 joined not told where the group is, found it "
                  "through its peers: its heartbeats at the leader (node %d) in %.1f s" %
                  (g[1], took), flush=True)
            live = (4, 5, 6, 7)
        for i in live[2:]:
            c.stop(i)
            t0 = time.time()
            c.start(i)
            g = wait("node %d's heartbeats at the group's leader after its restart" % i,
                     lambda: beats_reach_leader(live, i, t0), 60)
            print("grouploc_test: node %d restarted: its heartbeats at the leader (node %d) "
                  "in %.1f s" % (i, g[1], time.time() - t0), flush=True)
        ok = True
        print("grouploc_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("grouploc_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
