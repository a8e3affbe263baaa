#!/usr/bin/env python3
"""Replica moves on this machine: three rangekv processes on 127.0.0.1-3
(node ids 1-3, ports from 27000).

  member.py BIN add MB [load]   a range filled with MB of data, its replica on
                                node 3 removed, then added again as a voter:
                                time of the add (learner, snapshot, promotion)
                                and the snapshot's MB/s; with `load`,
                                redis-benchmark SETs (as `moves`, all of its
                                keys in that range: 4 ranges cut over the
                                byte space) run through the add, and SET/s
                                for 10 s before it and during it are printed
  member.py BIN moves N SECS    SET/s of redis-benchmark (-c 50 -P 16, 1 KB
                                values over every range) for SECS seconds,
                                without moves, then with N replicas moving at
                                once (each removed and added back on its
                                node), in one run
  member.py BIN join SECS [RANGES [MB]]
                                SET/s for SECS seconds (preloaded by SECS
                                seconds of the same SETs; RANGES ranges,
                                default 16, over the workload's keys; with
                                MB, each range first filled with MB of
                                16 KiB values too), then a node 4
                                started with --join: SET/s for SECS seconds
                                while the placement leader moves replicas
                                to it (rebalancing on), each node's CPU
                                seconds in both windows (/proc) and node
                                1's checkpoints, the moves done, how
                                long until none is in flight (balanced by
                                count), the snapshot bytes and MB/s, how
                                long until every node's leaderships are
                                within 10% of their mean; then
                                node 4 decommissioned: how long until it
                                holds no replica
  member.py BIN hot SECS        64 ranges cut evenly over the byte space
                                (all of redis-benchmark's keys in one),
                                automatic splits on (--split-size 64 MiB):
                                SET/s in two windows of SECS seconds, the
                                splits of the hot range, whether
                                redis-benchmark stopped at an error reply,
                                and node 1's redirects and batches sent on
                                in parts

RK_BENCH_FLAGS="..." adds flags to every node's start, e.g.
RK_BENCH_FLAGS="--log-keep-bytes-total 1GiB". RK_BENCH_KEEP=1 keeps the
nodes' directories and logs of `join` (their path is printed).

Prints one line per figure; nothing passes or fails on a timing.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from client import cpu_seconds as cpu_s  # utime + stime of a pid, 0 once gone

BIN = os.path.abspath(sys.argv[1])
BASE = 27000
TICK_MS = 50


def peer(i):
    return "127.0.0.%d:%d" % (i, BASE + i)


def client(i):
    return ("127.0.0.%d" % i, BASE + 10 + i)


def http(i):
    return "127.0.0.%d:%d" % (i, BASE + 20 + i)


def call(i, method, path, timeout=120):
    req = urllib.request.Request("http://%s%s" % (http(i), path), method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def on_leader(rid, method, path, timeout=120):
    """The call on the range's leader, following 409 hints."""
    i = 1
    for _ in range(50):
        st, body = call(i, method, path, timeout)
        if st == 409 and body.get("error") == "not the leader of this range":
            i = body.get("leader") or i % 3 + 1
            time.sleep(0.05)
            continue
        if st == 404 and body.get("error") == "no such range on this node":
            i = i % 3 + 1  # the range left this node
            continue
        return st, body
    return st, body


# More flags for every node's start (RK_BENCH_FLAGS, split on blanks).
EXTRA = os.environ.get("RK_BENCH_FLAGS", "").split()


def start(tmp, ranges, extra=(), cut=None):
    """Three nodes with `ranges` ranges, cut evenly or, with cut, at those
    --split-at boundaries (ranges - 1 of them)."""
    ic = ",".join("%d=%s" % (i, peer(i)) for i in (1, 2, 3))
    procs = {}
    for i in (1, 2, 3):
        d = os.path.join(tmp, "n%d" % i)
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "log"), "a")
        procs[i] = subprocess.Popen(
            [BIN, "start", "--node-id", str(i), "--data", os.path.join(d, "data"),
             "--peer-addr", peer(i), "--client-addr", "%s:%d" % client(i),
             "--http-addr", http(i), "--initial-cluster", ic] +
            (["--ranges", str(ranges)] if cut is None else ["--split-at", cut]) +
            ["--tick-ms", str(TICK_MS)] + list(extra) + EXTRA, stdout=log, stderr=log)
    until = time.time() + 60
    while time.time() < until:
        try:
            rs = call(1, "GET", "/api/v1/ranges?limit=100000", 2)[1]["ranges"]
            if len(rs) == ranges and all(r["leader"] for r in rs):
                return procs
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit("the cluster did not elect every leader")


def stop(procs, tmp=None):
    for p in procs.values():
        p.terminate()
    for p in procs.values():
        p.wait(timeout=30)
    if tmp is not None:  # what went wrong, if anything, during the run
        errors = 0
        for i in (1, 2, 3):
            with open(os.path.join(tmp, "n%d" % i, "log"), errors="replace") as f:
                errors += sum(1 for line in f if " ERROR " in line)
        print("ERROR lines in the nodes' logs: %d" % errors, flush=True)


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def fill(start_key, mb, value_kb=16):
    """Writes mb MB of values under keys that begin with start_key."""
    s = socket.create_connection(client(1))
    val = os.urandom(value_kb * 512).hex().encode()  # value_kb KiB, incompressible
    n = max(1, int(mb * 1024) // value_kb)
    batch = 64
    for k in range(0, n, batch):
        s.sendall(b"".join(resp("SET", start_key + b"/%08d" % j, val)
                           for j in range(k, min(n, k + batch))))
        got = 0
        buf = b""
        while got < min(batch, n - k):
            buf += s.recv(65536)
            got = buf.count(b"\r\n")
    s.close()


def add(mb, load=False):
    tmp = tempfile.mkdtemp(prefix="rk-bench-member-")
    # Rebalancing off: the placement leader would otherwise put the removed
    # replica back by itself before the timed add; no automatic splits:
    # the range stays one of MB (and more with `load`).
    procs = start(tmp, 4, ["--rebalance", "off", "--split-size", "0"])
    try:
        r1 = next(r for r in call(1, "GET", "/api/v1/ranges")[1]["ranges"] if r["id"] == 2)
        t0 = time.time()
        fill(r1["start"].encode() + b"fill", mb)
        print("filled range 2 with %d MB in %.1f s" % (mb, time.time() - t0), flush=True)
        st, r = on_leader(2, "GET", "/api/v1/ranges/2")
        lead = r["leader"]
        victim = next(i for i in (1, 2, 3) if i != lead)
        rid = next(x["replica_id"] for x in r["replicas"] if x["node_id"] == victim)
        st, r = on_leader(2, "DELETE", "/api/v1/ranges/2/replicas/%d" % rid)
        if st != 200:
            raise SystemExit("remove: %d %s" % (st, r))
        time.sleep(1)
        if load:
            before = bench_sets(10)
            bench = sets_start()
            c0 = commands()
        t0 = time.time()
        # Under load the call may come back before the new replica votes: a
        # leadership change (the learner is promoted by asking again; the
        # range may be without a leader for a moment), a learner still
        # behind the log, a leadership transfer under way (asked again
        # until it is done). The answers asked again on are counted.
        tries = 0
        why = {}
        while time.time() - t0 < 300:
            st, r = on_leader(2, "POST", "/api/v1/ranges/2/replicas?node=%d&role=voter" %
                              victim, timeout=600)
            again = str(r)
            reason = next((k for k in ("promote it", "not caught up", "retry", "not the leader")
                           if k in again), None)
            if st not in (409, 503) or reason is None:
                break
            tries += 1
            why[reason] = why.get(reason, 0) + 1
            time.sleep(0.2)
        took = time.time() - t0
        if load:
            during = (commands() - c0) / took
            stopped = bench.poll() is not None
            bench.terminate()
            bench.wait()
            print("SET/s for 10 s before the add: %.0f; during the add: %.0f (%.2f)%s; "
                  "the call asked again %d times %s" %
                  (before, during, during / before if before else 0,
                   "; redis-benchmark stopped at an error reply" if stopped else "", tries, why),
                  flush=True)
        if st != 200:
            raise SystemExit("add: %d %s" % (st, r))
        sent = 0
        for i in (1, 2, 3):
            with open(os.path.join(tmp, "n%d" % i, "log"), errors="replace") as f:
                for line in f:
                    m = re.search(r"range 2: snapshot at \d+ sent to replica \d+ on node %d "
                                  r"\((\d+) bytes\)" % victim, line)
                    if m:
                        sent = int(m.group(1))
        print("replica add (learner + snapshot + promote) of a %d MB range: %.2f s; "
              "snapshot %.1f MB, %.1f MB/s over the whole add" %
              (mb, took, sent / 1e6, sent / 1e6 / took), flush=True)
    finally:
        stop(procs, tmp)
        shutil.rmtree(tmp, ignore_errors=True)


STOPPED = []  # what redis-benchmark said when it exited by itself, per window
WATCH = {}  # node id -> process whose CPU bench_sets measures
LAST_CPU = {}  # node id -> CPU seconds in the last bench_sets window



def sets_start():
    """redis-benchmark SETs (-c 50 -P 16, 1 KB values) started against
    node 1, running until terminated (its process; its output goes to the
    file p.out, read by sets_said)."""
    host, port = client(1)
    out = tempfile.TemporaryFile()
    p = subprocess.Popen(["redis-benchmark", "-h", host, "-p", str(port), "-t", "set",
                          "-c", "50", "-P", "16", "-d", "1024", "-r", "1000000",
                          "-n", "100000000", "-q"], stdout=out, stderr=subprocess.STDOUT)
    p.out = out
    return p


def sets_said(p):
    """The last line redis-benchmark (started by sets_start) wrote that is
    not a progress line, such as the error reply it stopped at."""
    p.out.seek(0)
    lines = [x for x in p.out.read().decode(errors="replace").replace("\r", "\n").split("\n")
             if x.strip() and not x.startswith("SET: ")]
    p.out.close()
    return lines[-1].strip() if lines else "nothing"


def bench_sets(secs):
    # redis-benchmark has no duration flag: run it for secs and read its
    # request count from the nodes' metrics instead.
    p = sets_start()
    time.sleep(1)
    c0 = commands()
    t0 = {i: cpu_s(q.pid) for i, q in WATCH.items()}
    k0 = node_metric(1, "rangekv_store_checkpoints_total") if WATCH else None
    time.sleep(secs)
    c1 = commands()
    LAST_CPU.clear()
    LAST_CPU.update({i: cpu_s(q.pid) - t0.get(i, 0.0) for i, q in WATCH.items()})
    if k0 is not None:
        LAST_CPU["checkpoints of node 1"] = (node_metric(1, "rangekv_store_checkpoints_total")
                                             or 0) - k0
    stopped = p.poll() is not None  # it exits at its first error reply
    p.terminate()
    p.wait()
    said = sets_said(p)
    if stopped:
        STOPPED.append(said)
    return (c1 - c0) / secs


def metric(name):
    m = urllib.request.urlopen("http://%s/metrics" % http(1), timeout=5).read().decode()
    for line in m.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def hot(secs):
    tmp = tempfile.mkdtemp(prefix="rk-bench-member-")
    procs = start(tmp, 64)
    try:
        for w in ("first", "second"):
            r0, s0 = metric("rangekv_router_redirects_total"), \
                metric("rangekv_router_resplits_total")
            rate = bench_sets(secs)
            r1, s1 = metric("rangekv_router_redirects_total"), \
                metric("rangekv_router_resplits_total")
            n = len(call(1, "GET", "/api/v1/ranges?limit=100000", 5)[1]["ranges"])
            print("SET/s in the %s %d s: %.0f; ranges now %d; node 1: %.0f redirects/s, "
                  "%.0f batches sent on in parts; redis-benchmark %s" %
                  (w, secs, rate, n, (r1 - r0) / (secs + 1), s1 - s0,
                   "stopped at an error reply" if STOPPED else "ran to the end"),
                  flush=True)
            del STOPPED[:]
    finally:
        stop(procs, tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def commands():
    m = urllib.request.urlopen("http://%s/metrics" % http(1), timeout=5).read().decode()
    for line in m.splitlines():
        if line.startswith("rangekv_client_commands_total "):
            return float(line.split()[1])
    return 0.0


def leaders(i):
    """Node i's rangekv_leaders (None if it does not answer)."""
    try:
        m = urllib.request.urlopen("http://%s/metrics" % http(i), timeout=5).read().decode()
    except OSError:
        return None
    return next((int(l.split()[1]) for l in m.splitlines()
                 if l.startswith("rangekv_leaders ")), None)


def moves(n, secs):
    tmp = tempfile.mkdtemp(prefix="rk-bench-member-")
    procs = start(tmp, 64)
    try:
        base = bench_sets(secs)
        print("SET/s without moves: %.0f" % base, flush=True)
        done = []
        stop_at = [time.time() + secs + 1]

        def mover(k):
            rid = 1 + k % 64
            node = 1 + k % 3
            while time.time() < stop_at[0]:
                st, r = on_leader(rid, "GET", "/api/v1/ranges/%d" % rid)
                mine = [x for x in r.get("replicas", []) if x["node_id"] == node]
                if r.get("leader") == node:
                    node = node % 3 + 1
                    continue
                if mine:
                    st, _ = on_leader(rid, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                                      (rid, mine[0]["replica_id"]))
                st, _ = on_leader(rid, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter"
                                  % (rid, node))
                if st == 200:
                    done.append(rid)
        threads = [threading.Thread(target=mover, args=(k,), daemon=True) for k in range(n)]
        for t in threads:
            t.start()
        moving = bench_sets(secs)
        stop_at[0] = 0
        for t in threads:
            t.join(timeout=120)
        print("SET/s with %d replicas moving at once: %.0f (%.0f%% of without); %d moves "
              "completed" % (n, moving, 100 * moving / base, len(done)), flush=True)
    finally:
        stop(procs, tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def node_metric(i, name):
    """Node i's figure `name` in /metrics; None when it does not answer."""
    try:
        m = urllib.request.urlopen("http://%s/metrics" % http(i), timeout=5).read().decode()
    except OSError:
        return None
    for line in m.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def snap_counts(nodes):
    """{node: (snapshots sent, received, installed)}: where the snapshot
    bytes of a join went (to the new node, or to old nodes catching up)."""
    return {i: tuple(node_metric(i, "rangekv_snapshots_%s_total" % k)
                     for k in ("sent", "received", "installed")) for i in nodes}


def operations():
    st, body = call(1, "GET", "/api/v1/operations", 5)
    return body if st == 200 else {}


def join(secs, ranges=16, mb=0):
    tmp = tempfile.mkdtemp(prefix="rk-bench-member-")
    # `ranges` ranges over redis-benchmark's 1,000,000 keys, no automatic
    # splits (they would stall the writes: docs/benchmarks.md, "Range
    # splits under load"), so that the moves carry the written data.
    cuts = ["key:%012d" % (k * 1000000 // ranges) for k in range(1, ranges)]
    procs = start(tmp, ranges, ["--split-size", "0"], cut=",".join(cuts))
    try:
        if mb > 0:
            t0 = time.time()
            for c in ["key:"] + cuts:
                fill(c.encode() + b"~fill", mb)
            print("filled %d ranges with %g MB each in %.1f s" % (ranges, mb, time.time() - t0),
                  flush=True)
        print("SET/s of the preload: %.0f" % bench_sets(secs), flush=True)  # the moves carry data
        WATCH.update(procs)
        base = bench_sets(secs)
        cpu_before = dict(LAST_CPU)
        print("SET/s before the join: %.0f" % base, flush=True)
        d = os.path.join(tmp, "n4")
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "log"), "a")
        t0 = time.time()
        procs[4] = subprocess.Popen(
            [BIN, "start", "--node-id", "4", "--data", os.path.join(d, "data"),
             "--peer-addr", peer(4), "--client-addr", "%s:%d" % client(4),
             "--http-addr", http(4), "--join", peer(1), "--tick-ms", str(TICK_MS)],
            stdout=log, stderr=log)
        done0 = operations().get("moves_done", 0)
        WATCH[4] = procs[4]
        during = bench_sets(secs)
        cpu_during = dict(LAST_CPU)
        ops = operations()
        print("CPU seconds of each node over the %d s window, before the join: %s; while "
              "node 4 fills: %s; nodes 1-3 per SET: %.0f us before, %.0f us while filling" %
              (secs, {i: round(v, 2) for i, v in cpu_before.items()},
               {i: round(v, 2) for i, v in cpu_during.items()},
               1e6 * sum(cpu_before.get(i, 0) for i in (1, 2, 3)) / max(1.0, base * secs),
               1e6 * sum(cpu_during.get(i, 0) for i in (1, 2, 3)) / max(1.0, during * secs)),
              flush=True)
        print("SET/s while node 4 fills: %.0f (%.2f of before); %d moves done in the "
              "window, %d in flight, %.1f MB of snapshots sent so far" %
              (during, during / base, ops.get("moves_done", 0) - done0,
               ops.get("moves_in_flight", 0), ops.get("snapshot_bytes_sent", 0) / 1e6),
              flush=True)
        until = time.time() + 600
        while time.time() < until:
            ops = operations()
            if ops and ops.get("moves_in_flight", 1) == 0 and \
                    any(x["id"] == 4 and x["replicas"] > 0 for x in ops.get("nodes", [])):
                break
            time.sleep(1)
        took = time.time() - t0
        sent = ops.get("snapshot_bytes_sent", 0)
        print("no move in flight %.1f s after node 4 started; replicas per node %s; "
              "%.1f MB of snapshots sent, %.1f MB/s over that time" %
              (took, {x["id"]: x["replicas"] for x in ops.get("nodes", [])}, sent / 1e6,
               sent / 1e6 / took), flush=True)
        print("snapshots (sent, received, installed) per node since the start: %s" %
              snap_counts((1, 2, 3, 4)), flush=True)
        # Leaderships: the scheduler's rule 9 spreads them once no move
        # is in flight; within 10% of their mean on every node.
        while time.time() < until:
            ls = [leaders(i) for i in (1, 2, 3, 4)]
            if None not in ls and all(abs(x - sum(ls) / 4.0) <= 0.1 * sum(ls) / 4.0
                                      for x in ls):
                break
            time.sleep(1)
        print("leaderships within 10%% of their mean %.1f s after node 4 started: %s" %
              (time.time() - t0, ls), flush=True)
        t0 = time.time()
        st, body = call(1, "POST", "/api/v1/nodes/4/decommission", 60)
        if st not in (200, 202):
            print("decommission of node 4 refused: %s %s" % (st, body), flush=True)
            return
        held = None
        while time.time() - t0 < 1200:
            st, v = call(4, "GET", "/api/v1/cluster/status", 5)
            held = v.get("ranges") if st == 200 else held
            if held == 0:
                break
            time.sleep(1)
        sent2 = operations().get("snapshot_bytes_sent", 0)
        print("node 4 decommissioned (no replica left) in %.1f s (%s replicas left); "
              "%.1f MB of snapshots sent since, %.1f MB/s" %
              (time.time() - t0, held, (sent2 - sent) / 1e6,
               (sent2 - sent) / 1e6 / (time.time() - t0)), flush=True)
    finally:
        stop(procs, tmp)
        if os.environ.get("RK_BENCH_KEEP"):
            print("the nodes' directories and logs: %s" % tmp, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    what = sys.argv[2] if len(sys.argv) > 2 else ""
    if what == "add":
        add(int(sys.argv[3]) if len(sys.argv) > 3 else 64, "load" in sys.argv[4:])
    elif what == "join":
        join(int(sys.argv[3]) if len(sys.argv) > 3 else 10,
             int(sys.argv[4]) if len(sys.argv) > 4 else 16,
             float(sys.argv[5]) if len(sys.argv) > 5 else 0)
    elif what == "hot":
        hot(int(sys.argv[3]) if len(sys.argv) > 3 else 10)
    elif what == "moves":
        moves(int(sys.argv[3]) if len(sys.argv) > 3 else 20,
              int(sys.argv[4]) if len(sys.argv) > 4 else 10)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
