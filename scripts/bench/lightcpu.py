#!/usr/bin/env python3
"""CPU per request at light load: rangekv built from two git revisions
(before = --before, default main; after = the working tree) beside Redis,
in one run on one machine, rounds alternated (A B R A B R ...) so that the
noise of a shared machine shows as the spread between rounds.

  scripts/bench/lightcpu.sh [--before REV] [--rounds N] [--quick] [--out FILE] [--keep]

Each round, for each build: three `rangekv start` nodes exactly as
client.sh's rangekv part starts them (127.0.0.1-3, 80 ranges), then
  set_c1   redis-benchmark -t set -d 128 -r 100000 -c 1 -n 20000
           (one client, no pipelining)
  set_p16  redis-benchmark -t set -d 128 -r 100000 -c 50 -P 16 -n 1000000
and Redis (appendonly yes, appendfsync always) with the same two runs.
CPU per request is the user+sys CPU of the server processes (the three
nodes summed; /proc/PID/stat) over one redis-benchmark run divided by its
requests. Prints one table per round and the medians; raw results go to
--out as JSON. Nothing passes or fails on a timing; the exit status is 1
when a run could not produce its figures.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client as C  # noqa: E402  (the cluster, Redis and redis-benchmark runs)


def light_suite(kind, quick):
    common = ["-d", 128, "-r", C.KEYSPACE]
    return [
        ("set_c1", ["-t", "set"] + common + ["-c", 1, "-n", 2000 if quick else 20000], None),
        ("set_p16", ["-t", "set"] + common + ["-c", 50, "-P", 16,
                                              "-n", 100000 if quick else 1000000], None),
    ]


def build_rev(rev, work, build_type):
    """The rangekv binary of git revision rev, built from `git archive` in
    the work dir (the checkout is not touched)."""
    src = os.path.join(work, "src-" + rev.replace("/", "_"))
    os.makedirs(src)
    lp = os.path.join(work, "build-before.log")
    arch = subprocess.run(["git", "-C", C.ROOT, "archive", rev], capture_output=True)
    if arch.returncode != 0:
        raise C.PartFailed("git archive %s: %s" % (rev, arch.stderr.decode().strip()))
    subprocess.run(["tar", "-x", "-C", src], input=arch.stdout, check=True)
    bd = os.path.join(src, "build")
    for argv in (["cmake", "-S", src, "-B", bd, "-DCMAKE_BUILD_TYPE=" + build_type,
                  "-DRK_BUILD_BENCH=OFF"],
                 ["cmake", "--build", bd, "-j", str(os.cpu_count() or 2), "--target", "rangekv"]):
        if C.run_logged(argv, lp, 1800, cwd=src) != 0:
            raise C.PartFailed("building %s failed:\n%s" % (rev, C.tail(lp)))
    return os.path.join(bd, "src", "cli", "rangekv")


def one(fn, a, work, tag):
    res = {}
    t0 = time.time()
    try:
        fn(a, work, res)
        res["ok"] = True
    except C.PartFailed as e:
        res.update(ok=False, error=str(e))
        C.log("  %s FAILED: %s" % (tag, e))
    res["wall_s"] = round(time.time() - t0, 1)
    return res


def fig(res, test, key):
    return res.get("tests", {}).get(test, {}).get(key)


def table(rows):
    hdr = ["run", "c1 us CPU/req", "c1 p50 ms", "c1 req/s", "P16 SET/s", "P16 us CPU/req"]
    out = [hdr] + rows
    wid = [max(len(str(r[i])) for r in out) for i in range(len(hdr))]
    lines = ["  ".join(str(r[i]).ljust(wid[i]) if i == 0 else str(r[i]).rjust(wid[i])
                       for i in range(len(hdr))) for r in out]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def row(name, res):
    f = lambda t, k, p="%.0f": "-" if fig(res, t, k) is None else p % fig(res, t, k)
    return [name, f("set_c1", "server_cpu_us_per_request"), f("set_c1", "p50_ms", "%.3f"),
            f("set_c1", "rps"), f("set_p16", "rps"), f("set_p16", "server_cpu_us_per_request", "%.1f")]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="main", help="git revision of the 'before' build")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of before, after, Redis")
    ap.add_argument("--quick", action="store_true", help="fewer requests: a smoke test")
    ap.add_argument("--out", default="/tmp/rk-lightcpu-bench.json", help="raw results (JSON)")
    ap.add_argument("--build-dir", default=os.path.join(C.ROOT, "build-bench"))
    ap.add_argument("--build-type", default="Release")
    ap.add_argument("--redis-port", type=int, default=26389)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    # What client.py's parts read from their arguments.
    a.bin, a.no_build, a.configured, a.spread = None, False, False, False
    a.stall, a.cap, a.ready_timeout = 15.0, 600.0, 60.0
    a.ref = os.path.join(C.ROOT, "scripts", "bench", "ref")
    a.ref_bin = os.environ.get("RK_REF_BIN", os.path.join(C.ROOT, "build", "bench-ref"))
    C.suite = light_suite
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, C.on_signal)

    work = tempfile.mkdtemp(prefix="rk-lightcpu-bench-")
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                         capture_output=True, text=True).stdout.strip()
    after_rev = subprocess.run(["git", "-C", C.ROOT, "describe", "--always", "--dirty"],
                               capture_output=True, text=True).stdout.strip()
    before_rev = subprocess.run(["git", "-C", C.ROOT, "rev-parse", "--short", a.before],
                                capture_output=True, text=True).stdout.strip()
    R = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "machine": {"cores": os.cpu_count(), "cpu": cpu},
         "before": "%s (%s)" % (a.before, before_rev), "after": after_rev, "rounds": []}
    C.log("# %s, %d cores, %s; before %s, after %s%s" % (
        R["date"], os.cpu_count(), cpu, R["before"], after_rev, " (quick)" if a.quick else ""))
    failed = False
    try:
        C.log("## building")
        after, why = C.build(a, work, "rangekv")
        if why:
            raise C.PartFailed(why)
        before = build_rev(a.before, work, a.build_type)
        for n in range(a.rounds):
            rd = {}
            for name, b in (("before", before), ("after", after)):
                C.log("## round %d: rangekv %s" % (n + 1, name))
                a.bin = b
                d = os.path.join(work, "r%d-%s" % (n, name))
                os.makedirs(d)
                rd[name] = one(C.part_rangekv, a, d, name)
                time.sleep(2)
            C.log("## round %d: Redis" % (n + 1))
            d = os.path.join(work, "r%d-redis" % n)
            os.makedirs(d)
            rd["redis"] = one(C.part_redis, a, d, "redis")
            failed |= not all(r["ok"] for r in rd.values())
            R["rounds"].append(rd)
            C.log("\n".join(table([row("%s %d" % (k, n + 1), v) for k, v in rd.items()])))
    except C.PartFailed as e:
        failed = True
        R["error"] = str(e)
        C.log("FAILED: %s" % e)
    except KeyboardInterrupt:
        failed = True
        R["interrupted"] = True
        C.log("\ninterrupted: stopping everything started")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        C.PROCS.stop_all()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    med = {}
    for k in ("before", "after", "redis"):
        rs = [rd[k] for rd in R["rounds"] if k in rd and rd[k].get("ok")]
        m = {}
        for t, key in (("set_c1", "server_cpu_us_per_request"), ("set_c1", "p50_ms"),
                       ("set_c1", "rps"), ("set_p16", "rps"),
                       ("set_p16", "server_cpu_us_per_request")):
            xs = [fig(r, t, key) for r in rs if fig(r, t, key) is not None]
            if xs:
                m.setdefault(t, {})[key] = statistics.median(xs)
                m[t][key + "_range"] = [min(xs), max(xs)]
        med[k] = {"tests": m}
    R["median"] = med
    with open(a.out, "w") as f:
        json.dump(R, f, indent=1, default=str)
    if R["rounds"]:
        C.log("\n## medians of %d rounds" % len(R["rounds"]))
        C.log("\n".join(table([row(k, med[k]) for k in ("before", "after", "redis")])))
        a1 = fig(med["after"], "set_c1", "server_cpu_us_per_request")
        r1 = fig(med["redis"], "set_c1", "server_cpu_us_per_request")
        if a1 and r1:
            C.log("one-client CPU per request, rangekv after / Redis: %.2f" % (a1 / r1))
    C.log("raw results: %s%s" % (a.out, "" if not a.keep else "; work dir kept: " + work))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
