#!/usr/bin/env python3
"""Per-range figures in the heartbeats and balance by bytes, on real
rangekv processes (127.0.0.1-4, three initial nodes, --replicas 2, 24
ranges cut by --split-at, --tick-ms 50, ports in 20500-20999):

- rebalancing paused, 8 of the 24 ranges get about ten times the bytes of
  the others (SETs of 4 KiB values);
- within FIGURES_S (a few heartbeats and a size scan), the placement
  leader's GET /api/v1/ranges shows every range's size_bytes, including
  those of ranges it holds no replica of (their leaders reported them),
  heavy ranges above 300 KB and light ones under 100 KB, and its
  GET /api/v1/operations says figures_complete with bytes per node;
- node 4 joins, rebalancing resumes: within SPREAD_S every range has 2
  voters on distinct nodes, every node holds within 10% of the mean
  count of replicas (or one) and within 10% of the mean bytes (the sum
  of the sizes of the ranges it holds, as the leader's list shows them),
  and `rangekv rebalance status` prints bytes for every node;
- the nodes run with the test hooks, so each checks at every heartbeat the
  totals it keeps as replicas change (own.h: replicas, leaders, bytes,
  rates) against a pass over its replicas: none found them off
  (rangekv_node_totals_mismatches_total 0 on every node, through the
  writes, the size scans, the moves and their snapshots).

The leader ignoring the sections (its table empty) fails the second
step: size_bytes stays null for the ranges it does not hold.

    figures_test.py path/to/rangekv
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement_test  # noqa: E402  (its Cluster and wait)

BIN = sys.argv[1]
INITIAL = (1, 2, 3)
NEW = 4
NODES = INITIAL + (NEW,)
REPLICAS = 2
BOUNDS = ["k%02d" % i for i in range(1, 24)]  # ranges [,k01) [k01,k02) ... [k23,)
HEAVY = ["k%02d" % i for i in range(1, 9)]    # the ranges starting at k01..k08
VALUE = b"v" * 4096
HEAVY_KEYS, LIGHT_KEYS = 100, 10
FIGURES_S = 60
SPREAD_S = 300


BASE = placement_test.free_base(20500, 30)  # 20500-20979


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("figures_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


# placement_test's helpers, on this test's ports.
placement_test.fail = fail
placement_test.addr = addr
wait = placement_test.wait
call = placement_test.call


class Cluster(placement_test.Cluster):
    """placement_test's (its stop_all), on this test's ports and flags."""
    def __init__(self, tmp):
        super().__init__(tmp, INITIAL)
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in INITIAL)

    def start(self, i, extra=()):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        a = [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
             "--tick-ms", "50"]
        if i == NEW:
            a += ["--join", addr(1, 0)]
        else:
            a += ["--initial-cluster", self.cl, "--split-at", ",".join(BOUNDS),
                  "--replicas", str(REPLICAS), "--rebalance", "off"]
        self.procs[i] = subprocess.Popen(a + list(extra), stdout=log, stderr=log,
                                         env=dict(os.environ, RANGEKV_TEST_HOOKS="1"))


def resp_cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def write_data():
    """HEAVY_KEYS values in each heavy range, LIGHT_KEYS in each light one,
    pipelined a range at a time through node 1 (retried whole: SET is
    idempotent)."""
    host, port = addr(1, 1).split(":")
    for lo in ["k00"] + BOUNDS:
        keys = HEAVY_KEYS if lo in HEAVY else LIGHT_KEYS
        start = "" if lo == "k00" else lo
        cmds = b"".join(resp_cmd("SET", "%s:%04d" % (start or "a", k), VALUE) for k in range(keys))
        for _ in range(30):
            try:
                with socket.create_connection((host, int(port)), timeout=30) as s:
                    s.sendall(cmds)
                    buf = b""
                    while buf.count(b"\r\n") < keys:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                if buf.count(b"+OK\r\n") == keys:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            fail("the SETs of range %r did not all succeed" % lo)


def leader():
    st, v = call(1, "GET", "/api/v1/nodes")
    return v["leader"] if st == 200 else None


def ranges(i):
    st, v = call(i, "GET", "/api/v1/ranges?limit=1000")
    return v["ranges"] if st == 200 and len(v["ranges"]) == len(BOUNDS) + 1 else None


def heavy(r):
    return r["start"] in HEAVY


def sizes_known():
    """On the placement leader: every range's size, as reported, heavy ones
    heavy; and the bytes per node in its operations."""
    lead = leader()
    rs = ranges(lead) if lead else None
    if rs is None or any(r["size_bytes"] is None for r in rs):
        return None
    if any(heavy(r) != (r["size_bytes"] > 300000) for r in rs) or \
            any(not heavy(r) and r["size_bytes"] > 100000 for r in rs):
        return None
    st, ops = call(lead, "GET", "/api/v1/operations")
    if st != 200 or not ops.get("figures_complete") or \
            any(x["bytes"] is None for x in ops["nodes"]):
        return None
    held = [r for r in rs if r["role"] is None]
    return lead, len(held), ops["nodes"]


def per_node(rs):
    cnt = {i: 0 for i in NODES}
    byt = {i: 0 for i in NODES}
    for r in rs:
        for x in r["replicas"]:
            cnt[x["node_id"]] = cnt.get(x["node_id"], 0) + 1
            byt[x["node_id"]] = byt.get(x["node_id"], 0) + (r["size_bytes"] or 0)
    return cnt, byt


def whole(r):
    return [x["role"] for x in r["replicas"]] == ["voter"] * REPLICAS and \
        len({x["node_id"] for x in r["replicas"]}) == REPLICAS


def balanced():
    lead = leader()
    rs = ranges(lead) if lead else None
    if rs is None or not all(whole(r) for r in rs) or any(r["size_bytes"] is None for r in rs):
        return None
    cnt, byt = per_node(rs)
    mc, mb = sum(cnt.values()) / len(NODES), sum(byt.values()) / len(NODES)
    if all(abs(cnt[i] - mc) <= max(0.1 * mc, 1.0) for i in NODES) and \
            all(abs(byt[i] - mb) <= 0.1 * mb for i in NODES):
        return cnt, byt
    balanced.last = (cnt, byt)
    return None


balanced.last = None


def switch(verb, via):
    cli = subprocess.run([BIN, "rebalance", verb, "--http", addr(via, 2), "--timeout", "30"],
                         capture_output=True, text=True, timeout=60)
    if cli.returncode != 0:
        fail("rangekv rebalance %s: exit %d, %r %r" % (verb, cli.returncode, cli.stdout,
                                                       cli.stderr))


def main():
    tmp = tempfile.mkdtemp(prefix="rk-figures-")
    c = Cluster(tmp)
    ok = False
    try:
        for i in INITIAL:
            c.start(i)
        wait("a placement leader", leader, 60)
        write_data()
        t0 = time.time()
        lead, held, nodes = wait("the placement leader's view of every range's size",
                                 sizes_known, FIGURES_S)
        print("figures_test: sizes on the placement leader (node %d, %d ranges held "
              "elsewhere) in %.1f s; bytes per node %s" %
              (lead, held, time.time() - t0, {x["id"]: x["bytes"] for x in nodes}), flush=True)
        if held == 0:
            fail("the placement leader holds every range: nothing shows it was reported")

        c.start(NEW)
        wait("node 4 live", lambda: (placement_test_states() or {}).get(NEW) == "live", 60)
        switch("resume", 2)
        t0 = time.time()
        try:
            cnt, byt = wait("replicas and bytes within 10% on every node", balanced, SPREAD_S)
        except SystemExit:
            print("figures_test: last counts and bytes %s" % (balanced.last,), flush=True)
            raise
        print("figures_test: balanced in %.1f s: replicas %s, bytes %s" %
              (time.time() - t0, cnt, byt), flush=True)
        out = subprocess.run([BIN, "rebalance", "status", "--http", addr(3, 2)],
                             capture_output=True, text=True, timeout=30).stdout
        lines = [ln for ln in out.splitlines() if ln.startswith("node ")]
        if len(lines) != len(NODES) or any("not reported" in ln or "B" not in ln
                                           for ln in lines):
            fail("rangekv rebalance status shows no bytes per node: %r" % out)
        totals_checked()
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
        print("figures_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("figures_test: logs in %s" % tmp, flush=True)


def totals_checked():
    """Every node checked its kept totals and never found them off."""
    for i in NODES:
        st, body = call(i, "GET", "/metrics")
        if st != 200:
            fail("node %d: GET /metrics: %r" % (i, st))
        v = {ln.split()[0]: float(ln.split()[1]) for ln in body.splitlines()
             if ln.startswith("rangekv_node_totals_")}
        if v.get("rangekv_node_totals_checks_total", 0) < 1:
            fail("node %d: its totals were never checked: %r" % (i, v))
        if v.get("rangekv_node_totals_mismatches_total", 1) != 0:
            fail("node %d: its kept totals were off (the log says how): %r" % (i, v))
        print("figures_test: node %d checked its totals %d times, none off" %
              (i, v["rangekv_node_totals_checks_total"]), flush=True)


def placement_test_states():
    st, v = call(1, "GET", "/api/v1/nodes")
    return {x["id"]: x["state"] for x in v["nodes"]} if st == 200 else None


if __name__ == "__main__":
    main()
