#!/usr/bin/env python3
"""Where one client's writes cost CPU, thread by thread: three fresh nodes
started as lightcpu.sh starts them (80 ranges, leaders spread), then
`redis-benchmark -t set -d 128 -r 100000 -c 1 -n N` (one client, no
pipelining) against node 1, with every thread's CPU (utime, stime) and
context switches (voluntary: it slept; involuntary: it was preempted or
yielded) read from /proc/PID/task/* before and after, per request.

  scripts/bench/lightthreads.py RANGEKV [--requests N] [--idle] [-- NODE FLAGS...]

--idle measures one second without requests instead (what the nodes cost
doing nothing, per second). Threads that used no CPU are left out; a
node's event loop is its process's first thread. Nothing passes or fails
on a timing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client as C  # noqa: E402  (split points, key escaping)

BASE = 24100  # client.sh's rangekv ports


def peer(i):
    return "127.0.0.%d:%d" % (i, BASE + i)


def http(i):
    return "127.0.0.%d:%d" % (i, BASE + 20 + i)


def threads(procs):
    """(node, tid) -> [utime, stime, voluntary, involuntary] (ticks, counts)."""
    out = {}
    for i, p in procs.items():
        for t in os.listdir("/proc/%d/task" % p.pid):
            d = "/proc/%d/task/%s/" % (p.pid, t)
            try:
                with open(d + "stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                vol = inv = 0
                with open(d + "status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches"):
                            vol = int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches"):
                            inv = int(line.split()[1])
                out[(i, int(t))] = [int(st[11]), int(st[12]), vol, inv]
            except OSError:
                pass  # the thread ended
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rangekv")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("flags", nargs="*", help="more flags for every node (after --)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rk-lightthreads-")
    splits = C.split_points()
    cluster = ",".join("%d=%s" % (i, peer(i)) for i in (1, 2, 3))
    procs = {}
    try:
        for i in (1, 2, 3):
            argv = [a.rangekv, "start", "--node-id", str(i), "--data",
                    os.path.join(work, "d%d" % i), "--peer-addr", peer(i),
                    "--client-addr", "127.0.0.%d:%d" % (i, BASE + 10 + i),
                    "--http-addr", http(i), "--initial-cluster", cluster,
                    "--split-at", ",".join(C.rk_escape(k) for k in splits)] + a.flags
            procs[i] = subprocess.Popen(argv, stdout=open(os.path.join(work, "log%d" % i), "wb"),
                                        stderr=subprocess.STDOUT)
        t0 = time.time()
        while True:
            if any(p.poll() is not None for p in procs.values()):
                sys.exit("a node exited: see %s" % work)
            try:
                with urllib.request.urlopen("http://%s/api/v1/cluster/status" % http(1),
                                            timeout=2) as r:
                    st = json.load(r)
                c = [x["leaders"] for x in st["nodes"]]
                if sum(c) == len(splits) + 1 and max(c) - min(c) <= 1:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.time() - t0 > 60:
                sys.exit("the ranges were not led and balanced within 60 s")
            time.sleep(0.3)
        time.sleep(2)
        before = threads(procs)
        t1 = time.time()
        if a.idle:
            time.sleep(1.0)
            what, n = "idle, per second", 1
        else:
            r = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(BASE + 11),
                                "-t", "set", "-d", "128", "-r", "100000", "-c", "1",
                                "-n", str(a.requests), "--csv"], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("redis-benchmark failed: " + r.stderr)
            what, n = "per request", a.requests
        took = time.time() - t1
        after = threads(procs)
        tck = os.sysconf("SC_CLK_TCK")
        print("%s: %s in %.2f s" % (what, "idle" if a.idle else
                                    "%d SETs, %.0f/s" % (n, n / took), took))
        tot = [0, 0, 0, 0]
        for k in sorted(after):
            if k not in before:
                continue
            d = [after[k][j] - before[k][j] for j in range(4)]
            if d[0] + d[1] == 0 and d[2] + d[3] == 0:
                continue
            tot = [x + y for x, y in zip(tot, d)]
            role = "loop" if k[1] == procs[k[0]].pid else "thread %d" % k[1]
            print("  node %d %-14s CPU %7.1f us (user %6.1f, sys %6.1f)  switches: "
                  "voluntary %5.2f, involuntary %5.2f" % (
                      k[0], role, (d[0] + d[1]) * 1e6 / tck / n, d[0] * 1e6 / tck / n,
                      d[1] * 1e6 / tck / n, d[2] / n, d[3] / n))
        print("  all nodes          CPU %7.1f us  switches: voluntary %5.2f, involuntary %5.2f" % (
            (tot[0] + tot[1]) * 1e6 / tck / n, tot[2] / n, tot[3] / n))
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
