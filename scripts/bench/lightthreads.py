#!/usr/bin/env python3
"""Where one client's writes cost CPU, thread by thread: three fresh nodes
started exactly as lightcpu.sh starts them (client.py's rangekv part: 80
ranges, every range led, leaders spread), then `redis-benchmark -t set -d
128 -r 100000 -c 1 -n N` (one client, no pipelining) against node 1, with
every thread's CPU (utime, stime) and context switches (voluntary: it
slept; involuntary: it was preempted or yielded) read from
/proc/PID/task/* before and after, per request.

  scripts/bench/lightthreads.py RANGEKV [--requests N] [--idle]
  scripts/bench/lightthreads.py --fsync N

--idle measures one second without requests instead (what the nodes cost
doing nothing, per second). --fsync N starts no node: it measures what
one durable append costs on the disk of the temporary directory (N times
a pwrite of 256 bytes and an fdatasync, this process's CPU and switches
each; the floor under every replica's write and under Redis's
appendfsync always). Threads that neither used CPU nor switched
are left out; a node's event loop is its process's first thread. Nothing
passes or fails on a timing.
"""
import argparse
import os
import resource
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client as C  # noqa: E402  (the three nodes, redis-benchmark)


def threads(pids):
    """(node, tid) -> [utime, stime, voluntary, involuntary] (ticks, counts)."""
    out = {}
    for i, pid in enumerate(pids, 1):
        for t in os.listdir("/proc/%d/task" % pid):
            d = "/proc/%d/task/%s/" % (pid, t)
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


def report(pids, before, after, what, n):
    tck = os.sysconf("SC_CLK_TCK")
    C.log(what)
    tot = [0, 0, 0, 0]
    for k in sorted(after):
        if k not in before:
            continue
        d = [after[k][j] - before[k][j] for j in range(4)]
        if not any(d):
            continue
        tot = [x + y for x, y in zip(tot, d)]
        role = "loop" if k[1] == pids[k[0] - 1] else "thread %d" % k[1]
        C.log("  node %d %-14s CPU %7.1f us (user %6.1f, sys %6.1f)  switches: "
              "voluntary %5.2f, involuntary %5.2f" % (
                  k[0], role, (d[0] + d[1]) * 1e6 / tck / n, d[0] * 1e6 / tck / n,
                  d[1] * 1e6 / tck / n, d[2] / n, d[3] / n))
    C.log("  all nodes          CPU %7.1f us  switches: voluntary %5.2f, involuntary %5.2f" % (
        (tot[0] + tot[1]) * 1e6 / tck / n, tot[2] / n, tot[3] / n))


def fsync_cost(n):
    fd, path = tempfile.mkstemp(prefix="rk-lightthreads-fsync-")
    try:
        os.ftruncate(fd, n * 256)
        os.fsync(fd)
        buf = b"x" * 256
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
        for i in range(n):
            os.pwrite(fd, buf, i * 256)
            os.fdatasync(fd)
        r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
    finally:
        os.close(fd)
        os.unlink(path)
    C.log("pwrite of 256 bytes + fdatasync, %d times: %.1f us wall, %.1f us CPU (user %.1f, "
          "sys %.1f), switches: voluntary %.2f, involuntary %.2f each" % (
              n, (t1 - t0) * 1e6 / n,
              (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e6 / n,
              (r1.ru_utime - r0.ru_utime) * 1e6 / n, (r1.ru_stime - r0.ru_stime) * 1e6 / n,
              (r1.ru_nvcsw - r0.ru_nvcsw) / n, (r1.ru_nivcsw - r0.ru_nivcsw) / n))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rangekv", nargs="?")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("--fsync", type=int, metavar="N")
    a = ap.parse_args()
    if a.fsync:
        fsync_cost(a.fsync)
        return
    if not a.rangekv:
        ap.error("RANGEKV is required (but with --fsync)")
    a.bin, a.quick, a.spread = a.rangekv, False, False
    a.stall, a.cap, a.ready_timeout = 15.0, 600.0, 60.0

    def measure(kind, nodes, pids, a, work, res):
        """Stands in for client.py's suite: one measured run."""
        time.sleep(2)
        before = threads(pids)
        if a.idle:
            time.sleep(1.0)
            report(pids, before, threads(pids), "idle, per second", 1)
            return
        host, port = nodes[0]
        r = C.redis_benchmark(host, port, ["-t", "set", "-d", 128, "-r", C.KEYSPACE, "-c", 1,
                                           "-n", a.requests], a.stall,
                              os.path.join(work, "redis-benchmark.log"), a.cap)
        after = threads(pids)
        if "error" in r:
            raise C.PartFailed("redis-benchmark: %s" % r["error"])
        report(pids, before, after, "per request: %d SETs, %.0f/s, p50 %.3f ms" % (
            a.requests, r["rps"], r["p50_ms"]), a.requests)

    C.run_suite = measure
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, C.on_signal)
    work = tempfile.mkdtemp(prefix="rk-lightthreads-")
    try:
        C.part_rangekv(a, work, {})
    except C.PartFailed as e:
        sys.exit("lightthreads: %s" % e)
    finally:
        C.PROCS.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
