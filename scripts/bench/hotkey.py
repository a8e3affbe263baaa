#!/usr/bin/env python3
"""One key and one sequence under pipelining connections, two builds
compared in one run: INCR of one key and SEQ.NEXT of one sequence against
SET over 64 ranges (random keys), plus one client's SET latency, each with
the three nodes' CPU time per request.

  flock /tmp/rk-bench.lock scripts/bench/hotkey.py --bin A=PATH --bin B=PATH
                                                   [--rounds N] [--quick]

Each round starts a fresh three-node cluster per binary (the layout of
scripts/bench/client.py: 80 ranges, 64 of them over redis-benchmark's keys),
binaries alternating, and runs with redis-benchmark:
  set_p16    SET, random keys, -c 50 -P 16
  set_c1     SET, random keys, one client, no pipeline (latency)
  incr1_p16  INCR of one key, -c 50 -P 16 (checked: the key's value is the
             number of requests)
  seq_p16    SEQ.NEXT order, -c 50 -P 16 (checked: the next ID is the
             number of requests + 1)
Prints each run and the ratios; raw results as JSON in --out. Timings
decide nothing; a failed check or run is exit status 1.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402


def hot_suite(quick):
    n_p = 50000 if quick else 400000
    n_1 = 1000 if quick else 10000
    n_hot = 20000 if quick else 300000
    common = ["-d", 128, "-r", client.KEYSPACE]
    return [
        ("set_p16", ["-t", "set"] + common + ["-c", 50, "-P", 16, "-n", n_p], None),
        ("set_c1", ["-t", "set"] + common + ["-c", 1, "-n", n_1], None),
        ("incr1_p16", ["-t", "incr", "-c", 50, "-P", 16, "-n", n_hot],
         ("GET", "counter:__rand_int__", n_hot)),
        ("seq_p16", ["-c", 50, "-P", 16, "-n", n_hot, "SEQ.NEXT", "order"],
         ("SEQ.NEXT", "order", n_hot + 1)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", action="append", required=True, metavar="NAME=PATH",
                    help="a rangekv binary to measure (give two)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="/tmp/rk-hotkey-bench.json")
    ap.add_argument("--stall", type=float, default=15.0)
    ap.add_argument("--cap", type=float, default=600.0)
    ap.add_argument("--ready-timeout", type=float, default=60.0)
    a = ap.parse_args()
    a.spread = False
    bins = [b.split("=", 1) for b in a.bin]
    client.suite = lambda kind, quick: hot_suite(quick)
    work = tempfile.mkdtemp(prefix="rk-hotkey-bench-")
    R = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "loadavg_start": os.getloadavg(), "bins": dict(bins), "runs": []}
    client.log("# %s, load average %.2f %.2f %.2f, work dir %s" % (
        (R["date"],) + tuple(R["loadavg_start"]) + (work,)))
    bad = False
    try:
        for rnd in range(a.rounds):
            order = bins if rnd % 2 == 0 else list(reversed(bins))
            for name, path in order:
                client.log("## round %d: %s (%s)" % (rnd + 1, name, path))
                a.bin = path
                res = {}
                d = os.path.join(work, "%s-%d" % (name, rnd))
                os.makedirs(d)
                try:
                    client.part_rangekv(a, d, res)
                except client.PartFailed as e:
                    client.log("  FAILED: %s" % e)
                    res["error"] = str(e)
                    bad = True
                if res.get("checks_failed"):
                    bad = True
                R["runs"].append({"name": name, "round": rnd + 1,
                                  "loadavg": os.getloadavg(), "res": res})
    finally:
        client.PROCS.stop_all()
        R["loadavg_end"] = os.getloadavg()
        with open(a.out, "w") as f:
            json.dump(R, f, indent=1)
    # Per round (both builds ran in it, one after the other) and the mean
    # over rounds: the ratios asked about.
    T = ("set_p16", "set_c1", "incr1_p16", "seq_p16")
    client.log("## summary, load average at the end %.2f" % R["loadavg_end"][0])
    fig = {}
    for run in R["runs"]:
        for t in T:
            r = run["res"].get("tests", {}).get(t, {})
            fig[(run["name"], run["round"], t)] = (r.get("rps", 0), r.get("p50_ms", 0),
                                                   r.get("server_cpu_us_per_request", 0))
    for name, _ in bins:
        for t in T:
            xs = [fig.get((name, k + 1, t), (0, 0, 0)) for k in range(a.rounds)]
            client.log("  %-8s %-10s %s   mean %.0f req/s" % (
                name, t, "  ".join("%.0f/s p50 %.3f ms %s us" % x for x in xs),
                sum(x[0] for x in xs) / len(xs)))
    for k in range(a.rounds):
        line = []
        for name, _ in bins:
            s = fig.get((name, k + 1, "set_p16"), (0,))[0]
            for t in ("incr1_p16", "seq_p16"):
                x = fig.get((name, k + 1, t), (0,))[0]
                line.append("%s %s/SET %.2f" % (name, t, x / s if s else 0))
        if len(bins) == 2:
            (a0, _), (b0, _) = bins
            for t in T:
                x, y = fig.get((b0, k + 1, t), (0,))[0], fig.get((a0, k + 1, t), (0,))[0]
                line.append("%s/%s %s %.2f" % (b0, a0, t, x / y if y else 0))
        client.log("  round %d: %s" % (k + 1, ", ".join(line)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
