#!/usr/bin/env python3
"""Raft log size on disk: two rangekv binaries (e.g. before and after a
change to log retention) in one run, the same load for each.

  scripts/bench/raftlog.py --before OLD_RANGEKV --after NEW_RANGEKV
                           [--mb 200] [--passes 2] [--out FILE]

For each binary: three `rangekv start` nodes on 127.0.0.1-3 with default
retention flags, --split-at boundaries cutting redis-benchmark's keys
key:000000000000.. into 64 ranges, then `--passes` loads of --mb/--passes MB
of 1,000-byte values (redis-benchmark -t set -d 1000 -r KEYS -n KEYS -c 50
-P 16, random keys over the key count). After each pass (and 5 s for the
compaction rounds), per node: raftlog.wt's size, the data directory's size,
rangekv_raft_log_bytes when the binary has it; then the nodes stop
(SIGTERM: a last checkpoint) and the sizes are read again. Prints a table;
the raw figures go to --out as JSON. Every process started is stopped on
exit or failure.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

RANGES = 64
BASE = 31000 + (os.getpid() % 800) * 10
procs = []


def addr(i, kind):  # kind 0 peer, 1 client, 2 http
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def http_get(i, path):
    with urllib.request.urlopen("http://%s%s" % (addr(i, 2), path), timeout=5) as r:
        return r.read().decode()


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass
    return total


def sizes(data, nodes_up):
    out = []
    for i in (1, 2, 3):
        d = os.path.join(data, "n%d" % i)
        rl = os.path.join(d, "raftlog.wt")
        row = {"node": i, "raftlog_wt": os.path.getsize(rl) if os.path.exists(rl) else 0,
               "raftlog_wt_alloc": os.stat(rl).st_blocks * 512 if os.path.exists(rl) else 0,
               "data_dir": du(d), "log_bytes": None}
        if nodes_up:
            for line in http_get(i, "/metrics").splitlines():
                if line.startswith("rangekv_raft_log_bytes "):
                    row["log_bytes"] = int(float(line.split()[1]))
        out.append(row)
    return out


def run(binary, tmp, keys, passes):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    splits = ["key:%012d" % (k * keys // RANGES) for k in range(1, RANGES)]
    cluster = ",".join("%d=%s" % (i, addr(i, 0)) for i in (1, 2, 3))
    mine = []
    for i in (1, 2, 3):
        log = open(os.path.join(tmp, "log%d" % i), "w")
        p = subprocess.Popen([binary, "start", "--node-id", str(i),
                              "--data", os.path.join(data, "n%d" % i),
                              "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1),
                              "--http-addr", addr(i, 2), "--initial-cluster", cluster,
                              "--split-at", ",".join(splits)], stdout=log, stderr=log)
        procs.append(p)
        mine.append(p)
    until = time.time() + 60
    while True:
        try:
            rs = json.loads(http_get(1, "/api/v1/ranges?limit=1000"))["ranges"]
            if len(rs) == RANGES and all(r["leader"] for r in rs):
                break
        except Exception:
            pass
        if time.time() > until:
            with open(os.path.join(tmp, "log1"), errors="replace") as f:
                tail = "".join(f.readlines()[-10:])
            sys.exit("raftlog.py: the ranges of %s were not led within 60 s; node 1:\n%s" %
                     (binary, tail))
        time.sleep(0.2)
    host, port = addr(1, 1).split(":")
    res = {"binary": binary, "passes": []}
    for k in range(passes):
        t0 = time.time()
        subprocess.run(["redis-benchmark", "-h", host, "-p", port, "-t", "set", "-d", "1000",
                        "-r", str(keys), "-n", str(keys), "-c", "50", "-P", "16", "-q"],
                       check=True, stdout=subprocess.DEVNULL)
        secs = time.time() - t0
        time.sleep(5)  # compaction rounds (every 25 ticks) and a checkpoint
        res["passes"].append({"seconds": round(secs, 1), "sets_per_sec": round(keys / secs),
                              "sizes": sizes(data, True)})
    for p in mine:
        p.send_signal(signal.SIGTERM)
    for p in mine:
        p.wait(timeout=60)
    res["stopped"] = sizes(data, False)
    shutil.rmtree(data, ignore_errors=True)
    return res


def mb(v):
    return "-" if v is None else "%.1f" % (v / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--mb", type=int, default=200, help="MB of values written in all")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    keys = a.mb * 1000 * 1000 // 1000 // a.passes
    R = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "machine": "%s, %d cores" % (platform.platform(), os.cpu_count()),
         "mb": a.mb, "passes": a.passes, "keys_per_pass": keys, "runs": {}}
    tmp = tempfile.mkdtemp(prefix="rk-raftlog-")
    try:
        for name, binary in (("before", a.before), ("after", a.after)):
            os.makedirs(os.path.join(tmp, name))
            R["runs"][name] = run(binary, os.path.join(tmp, name), keys, a.passes)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s; %s; %d MB of 1,000-byte values in %d passes, 64 ranges, 3 nodes" %
          (R["date"], R["machine"], a.mb, a.passes))
    print("%-7s %-12s %8s %14s %14s %14s" % ("binary", "when", "SET/s", "raftlog.wt MB",
                                             "data dir MB", "log_bytes MB"))
    for name, run_ in R["runs"].items():
        rows = [("pass %d" % (k + 1), p["sets_per_sec"], p["sizes"])
                for k, p in enumerate(run_["passes"])] + [("stopped", None, run_["stopped"])]
        for when, rate, sz in rows:
            avg = lambda f: sum(s[f] for s in sz) / len(sz) if all(s[f] is not None for s in sz) else None
            print("%-7s %-12s %8s %14s %14s %14s" % (name, when, rate or "", mb(avg("raftlog_wt")),
                                                     mb(avg("data_dir")), mb(avg("log_bytes"))))
    print("(per node, the mean of the three)")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(R, f, indent=1)


if __name__ == "__main__":
    main()
