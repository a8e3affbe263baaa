#!/usr/bin/env python3
"""What a GET beyond the cache costs, on data large.py kept.

  scripts/bench/large_get.py RANGEKV DIR --keys N [--ranges 64]
                             [--rounds 4] [--settle S] [-- NODE FLAGS...]

DIR is a directory `large.py ... --keep` left (its n1..n3 and logs), N the
keys it wrote (large.py prints them: its "load: N SETs" line), --ranges
what it cut. The three nodes start again on it with large.py's flags
(--nodes-on-host 3, and the node flags after --, e.g. --cache-mb 2048),
wait until every range is led and --settle seconds more, then run
--rounds rounds of 200,000 random GETs 50 x 16 over all N keys
(redis-benchmark), then one round over 10,000 keys (hot, in the cache).
Each round prints its rate and the three nodes' CPU per GET (utime +
stime from /proc over the round). The first round after a start pays for
the cache filling (page faults of a growing heap): the later ones are a
read load's steady state. The nodes are stopped on exit; DIR is kept.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import large  # noqa: E402  (its node start, addresses and GET round)

GETS = 200000


def cpu_s():
    """The three nodes' CPU seconds so far."""
    t = 0
    for i in (1, 2, 3):
        with open("/proc/%d/stat" % large.procs[i].pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        t += int(fields[11]) + int(fields[12])
    return t / os.sysconf("SC_CLK_TCK")


def round_of(keys):
    c0 = cpu_s()
    rate = large.bench_get(keys, GETS)
    return rate, (cpu_s() - c0) * 1e6 / GETS


def main():
    ap = argparse.ArgumentParser(description="GETs beyond the cache on data large.py kept")
    ap.add_argument("binary")
    ap.add_argument("dir")
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--ranges", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--settle", type=float, default=3.0)
    argv = sys.argv[1:]
    node_flags = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    large.EXTRA.extend(["--nodes-on-host", "3"] + node_flags)
    splits = ["key:%012d" % (k * a.keys // a.ranges) for k in range(1, a.ranges)]
    cluster = ",".join("%d=%s" % (i, large.addr(i, 0)) for i in (1, 2, 3))
    try:
        for i in (1, 2, 3):
            large.start(a.binary, a.dir, i, cluster, splits)
        large.wait_led(a.ranges)
        time.sleep(a.settle)
        for r in range(a.rounds):
            rate, us = round_of(a.keys)
            print("round %d: GET 50x16 over %d keys %d/s, the nodes' CPU %.1f us a GET" %
                  (r + 1, a.keys, rate, us), flush=True)
        rate, us = round_of(10000)
        print("hot: GET 50x16 over 10,000 keys %d/s, the nodes' CPU %.1f us a GET" % (rate, us),
              flush=True)
    finally:
        for p in large.procs.values():
            p.terminate()
        for p in large.procs.values():
            p.wait()


if __name__ == "__main__":
    main()
