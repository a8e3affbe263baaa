#!/usr/bin/env python3
"""The scheduler's driver with rebalancing on, and the rebalance switch,
on real rangekv processes (127.0.0.1-4, three initial nodes, --replicas 3,
24 ranges, --tick-ms 50):

- `rangekv rebalance pause` (on node 2, not necessarily the placement
  leader) is confirmed and every node's GET /api/v1/rebalance says
  {"enabled": false};
- node 4 joins with one command (--join): while paused it stays empty
  for 8 s (several passes of the driver);
- `rangekv rebalance resume`: replicas spread to node 4 by themselves
  within SPREAD_S, followed by `rangekv rebalance status --wait` (its
  progress lines, then "balanced:"), on whose return every node holds
  within 10% of the mean count of replicas (or one replica, whichever is
  more: 17 to 19 of 72), every range has 3 voters on 3 distinct nodes and
  no learner; and a move's steps follow one another as soon as the last
  is seen done, not a pass of the driver (a second) apart: the
  promotion of most learners (the median, in the placement leader's log)
  is asked within STEP_S of the learner (every one waited at least a
  second when each step waited for the next pass);
- paused again, a voter removed by hand (DELETE on the range's leader)
  is not replaced for 8 s; every node restarted, the switch is still
  paused (it is the placement group's, not a node's) and the range still
  short; resumed, the range is topped up to 3 voters again. The restart
  gives --rebalance off, not the first start's value: ignored, not
  refused (the switch is the cluster's). --rebalance maybe is refused.

    rebalance_test.py path/to/rangekv
"""
import datetime
import json
import os
import re
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
INITIAL = (1, 2, 3)
NEW = 4
NODES = INITIAL + (NEW,)
REPLICAS = 3
RANGES = 24
BASE = placement_test.free_base(64000, 30)  # 64000-64479, above the ephemeral ports
# Sized for a sanitizer build on a loaded 2-core machine.
SPREAD_S = 240
QUIET_S = 8
# A promotion asked this soon after its learner, at the median: the
# driver's passes are a second apart, its passes for a step seen done
# RK_SR_SOON_MS (0.2 s).
STEP_S = 0.8


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("rebalance_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


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


placement_test.fail = fail
wait = placement_test.wait


class Cluster(placement_test.Cluster):
    """placement_test's (its stop_all), on this test's ports and flags;
    node 4 joins."""
    def __init__(self, tmp):
        super().__init__(tmp, INITIAL)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in INITIAL)

    def start(self, i, extra=()):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        a = [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--tick-ms", "50"]
        if i == NEW:
            a += ["--join", addr(1, 0)]  # ignored once it has joined
        else:
            a += ["--initial-cluster", self.cl, "--ranges", str(RANGES),
                  "--replicas", str(REPLICAS)]
        self.procs[i] = subprocess.Popen(a + list(extra), stdout=log, stderr=log)


def states(i):
    st, v = call(i, "GET", "/api/v1/nodes")
    return {x["id"]: x["state"] for x in v["nodes"]} if st == 200 else None


def ranges():
    st, v = call(1, "GET", "/api/v1/ranges?limit=100000")
    return v["ranges"] if st == 200 and len(v["ranges"]) >= RANGES else None


def counts(rs):
    c = {i: 0 for i in NODES}
    for r in rs:
        for x in r["replicas"]:
            c[x["node_id"]] = c.get(x["node_id"], 0) + 1
    return c


def whole(r):
    nodes = [x["node_id"] for x in r["replicas"]]
    return [x["role"] for x in r["replicas"]] == ["voter"] * REPLICAS and \
        len(set(nodes)) == REPLICAS


def balanced():
    """Every range whole, every node within 10% of the mean count (or one
    replica)."""
    rs = ranges()
    if rs is None or not all(whole(r) for r in rs):
        return None
    c = counts(rs)
    mean = sum(c.values()) / len(NODES)
    band = max(0.1 * mean, 1.0)
    return c if all(abs(v - mean) <= band for v in c.values()) else None


def switch(verb, on, via):
    cli = subprocess.run([BIN, "rebalance", verb, "--http", addr(via, 2), "--timeout", "30"],
                         capture_output=True, text=True, timeout=60)
    want = "rebalancing: %s" % ("on" if on else "paused")
    if cli.returncode != 0 or want not in cli.stdout:
        fail("rangekv rebalance %s: exit %d, out %r, err %r" %
             (verb, cli.returncode, cli.stdout, cli.stderr))
    for i in NODES if NEW in switch.started else INITIAL:
        wait("node %d says rebalancing %s" % (i, want),
             lambda: call(i, "GET", "/api/v1/rebalance") == (200, {"enabled": on}), 30)


switch.started = set()


def remove_one():
    """Removes, by hand, a voter (not the leader's) of some range; returns
    the range id."""
    for r in ranges():
        lead = r.get("leader")
        if not lead:
            continue
        x = next(x for x in r["replicas"] if x["node_id"] != lead)
        st, body = call(lead, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                        (r["id"], x["replica_id"]))
        if st == 200:
            return r["id"]
        print("removing replica %d of range %d: %s %s" % (x["replica_id"], r["id"], st, body))
    fail("no range let a voter be removed by hand")


def voters_of(rid):
    r = next((r for r in ranges() or [] if r["id"] == rid), None)
    return None if r is None else sorted(x["node_id"] for x in r["replicas"]
                                         if x["role"] == "voter")


def step_gaps(tmp):
    """Seconds from each learner the placement leader asked (for node 4)
    to the promotion it asked next for that range, from the nodes' logs
    (whichever nodes led the placement group)."""
    learner = re.compile(r"^(\S+) .*placement: range (\d+): add_learner \(\w+\) node 4$")
    promote = re.compile(r"^(\S+) .*placement: range (\d+): promote \(")
    asked, gaps = {}, []
    lines = []
    for i in NODES:
        with open(os.path.join(tmp, "log%d" % i), errors="replace") as f:
            lines += [x.rstrip("\n") for x in f]
    lines.sort()  # by their timestamps, which lead each line
    for x in lines:
        m = learner.match(x) or promote.match(x)
        if m is None:
            continue
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        rid = int(m.group(2))
        if m.re is learner:
            asked[rid] = t
        elif rid in asked:
            gaps.append(t - asked.pop(rid))
    return sorted(gaps)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-rebalance-")
    c = Cluster(tmp)
    ok = False
    try:
        bad = subprocess.run([BIN, "start", "--node-id", "1", "--data", os.path.join(tmp, "x"),
                              "--rebalance", "maybe"], capture_output=True, text=True, timeout=30)
        if bad.returncode != 2 or "--rebalance: 'maybe' is not on or off" not in bad.stderr:
            fail("--rebalance maybe: exit %d, err %r" % (bad.returncode, bad.stderr))
        for i in INITIAL:
            c.start(i)
        wait("every node live", lambda: states(1) == {i: "live" for i in INITIAL}, 60)
        wait("rebalancing on by default",
             lambda: call(2, "GET", "/api/v1/rebalance") == (200, {"enabled": True}), 30)
        switch("pause", False, 2)
        c.start(NEW)
        switch.started.add(NEW)
        wait("node 4 live", lambda: (states(1) or {}).get(NEW) == "live", 60)
        time.sleep(QUIET_S)
        n4 = counts(ranges())[NEW]
        if n4 != 0:
            fail("paused, node 4 got %d replicas" % n4)
        print("rebalance_test: paused, node 4 stayed empty for %d s" % QUIET_S, flush=True)

        t0 = time.time()
        switch("resume", True, 3)
        # `rangekv rebalance status --wait` follows node 4 filling and
        # returns once the placement leader's view is settled: the
        # index is then balanced at once (not merely later).
        cli = subprocess.run([BIN, "rebalance", "status", "--wait", "--http", addr(3, 2)],
                             capture_output=True, text=True, timeout=SPREAD_S)
        lines = cli.stdout.splitlines()
        if cli.returncode != 0 or not lines or not lines[-1].startswith("balanced:") or \
                not any("replicas moved" in x for x in lines):
            fail("rangekv rebalance status --wait: exit %d, out %r, err %r" %
                 (cli.returncode, cli.stdout[-2000:], cli.stderr))
        c4 = balanced()
        if c4 is None:
            fail("rebalance status --wait returned before the cluster was balanced: %s; "
                 "its last lines %r" % (counts(ranges() or []), lines[-3:]))
        print("rebalance_test: balanced %s in %.1f s (rebalance status --wait: %d lines, "
              "last %r)" % (c4, time.time() - t0, len(lines), lines[-2]), flush=True)
        gaps = step_gaps(tmp)
        if len(gaps) < 10 or gaps[len(gaps) // 2] > STEP_S:
            fail("a learner's promotion asked %s s after it (%d moves), not within %.1f s "
                 "at the median" % (["%.2f" % g for g in gaps], len(gaps), STEP_S))
        print("rebalance_test: promotions asked %.2f s after their learners at the median "
              "(%.2f-%.2f s, %d moves)" % (gaps[len(gaps) // 2], gaps[0], gaps[-1], len(gaps)),
              flush=True)

        switch("pause", False, 1)
        rid = remove_one()
        short = voters_of(rid)
        if short is None or len(short) != REPLICAS - 1:
            fail("range %d after the removal: voters %s" % (rid, short))
        time.sleep(QUIET_S)
        if voters_of(rid) != short:
            fail("paused, range %d moved: %s -> %s" % (rid, short, voters_of(rid)))
        if not c.stop_all():
            fail("a node did not stop cleanly")
        for i in NODES:
            # not the first start's value (on): ignored, not refused
            c.start(i, ["--rebalance", "off"])
        for i in NODES:
            wait("node %d up again and paused" % i,
                 lambda: call(i, "GET", "/api/v1/rebalance") == (200, {"enabled": False}), 60)
        time.sleep(QUIET_S)
        if voters_of(rid) != short:
            fail("paused after the restart, range %d moved: %s -> %s" %
                 (rid, short, voters_of(rid)))
        print("rebalance_test: range %d left short (voters %s) while paused, across a "
              "restart" % (rid, short), flush=True)
        t0 = time.time()
        switch("resume", True, 4)
        wait("range %d topped up" % rid, lambda: len(voters_of(rid) or []) == REPLICAS and
             whole(next(r for r in ranges() if r["id"] == rid)), SPREAD_S)
        print("rebalance_test: range %d topped up in %.1f s: voters %s" %
              (rid, time.time() - t0, voters_of(rid)), flush=True)
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
        print("rebalance_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("rebalance_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
