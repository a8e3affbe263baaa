#!/usr/bin/env python3
"""Range splits under load on this machine: three rangekv processes on
127.0.0.1-3 (node ids 1-3, the ports of member.py).

  split.py BIN [SECS] [ROUNDS] [RATE] [merge|drift]
                                     (defaults 10 s, 2 rounds, 5 splits/s)

redis-benchmark writes SETs (-c 50 -P 16, 1 KB values, 1,000,000 keys
key:000000000000..key:000000999999 over 10 ranges cut with --split-at, no
automatic splits: --split-size 0). Rounds alternate: SECS seconds without
splits, then SECS seconds while a client splits ranges at RATE splits a
second (POST /api/v1/split at random keys of the workload's, on each
range's leader; one call at a time, the next one due 1/RATE s after the
previous one began). The store grows through the run and SET/s with it
falls, steeply over the first 30 s (with no split at all, 10 s windows
from the start ran at 14,843, 10,477, 7,099, 7,973, 7,040 and 6,834
SET/s: 2026-12-06; `drift` prints that curve: ROUNDS windows of SECS
from the start, no warm-up, no split), then slowly, so 3 x SECS of SETs (WARMUP s, if set
in the environment) warm it up untimed, and the rounds' order alternates
(ABBA: without, with; with, without; ...) so that the slow drift weighs
on both sides alike; with ROUNDS even, each side has the same mean
position in the run. (With a warm-up of one SECS, the first splitting
round met the knee and the ratio carried it.) Prints, in
one run, SET/s of each round and their ratio, the splits done and their rate, and the split latency p50/p99 (the
call's time: the new range id's allocation, the proposal, until the leader
applied it). With `merge`, a last round of SECS merges the ranges the
splits made back into their left neighbours while redis-benchmark writes
(one at a time, as fast as they go: the right range's leadership moved to
the left's leader's node first, untimed, then POST /api/v1/merge timed:
the FREEZE, the MERGE, until the leader applied it), and prints the merge
latency p50/p99. Nothing passes or fails on a timing. With RK_KEEP set in
the environment the nodes' data directories and logs are kept (the path is
printed).
"""
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import member  # noqa: E402  (start, stop, call, bench_sets: the same cluster)

KEYS = 1000000


def split_at(key, made=None):
    """The call on the leader of key's range (following 409/404 hints);
    (seconds, status). The new range's id goes to made."""
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    i = 1
    t0 = time.time()
    for _ in range(20):
        st, body = member.call(i, "POST", q, timeout=30)
        if st in (409, 404) and body.get("leader"):
            if body["leader"] == i:  # busy, or a transfer: give up this key
                return time.time() - t0, st
            i = body["leader"]
            continue
        if st == 200 and made is not None:
            made.append(body["right"]["id"])
        return time.time() - t0, st
    return time.time() - t0, st


def merge_back(right):
    """Merges range right into its left neighbour: the right's leadership
    to the left's leader's node (untimed), then the merge call, timed;
    (seconds, status), or (None, status) when it did not get that far."""
    rs = member.call(1, "GET", "/api/v1/ranges?limit=100000")[1]["ranges"]
    r = [x for x in rs if x["id"] == right]
    left = [x["id"] for x in rs if r and x["end"] == r[0]["start"]]
    if not left:
        return None, 404
    for _ in range(50):
        st, lb = member.on_leader(left[0], "GET", "/api/v1/ranges/%d" % left[0])
        st2, rb = member.on_leader(right, "GET", "/api/v1/ranges/%d" % right)
        if st != 200 or st2 != 200 or not lb.get("leader") or not rb.get("leader"):
            time.sleep(0.1)
            continue
        if lb["leader"] != rb["leader"]:
            member.call(rb["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" %
                        (right, lb["leader"]), timeout=30)
            continue
        t0 = time.time()
        st, body = member.call(lb["leader"], "POST", "/api/v1/merge?left=%d" % left[0],
                               timeout=60)
        if st == 409 and body.get("right_leader"):
            continue  # the leadership moved meanwhile
        return time.time() - t0, st
    return None, 409


COUNTERS = ("rangekv_router_redirects_total", "rangekv_router_redirect_parks_total",
            "rangekv_client_retries_total", "rangekv_client_tryagain_total",
            "rangekv_client_timeouts_total", "rangekv_router_resplits_total",
            "rangekv_router_awaits_total", "rangekv_router_held_resends_total")


def counters():
    """Node 1's routing counters (its router serves redis-benchmark)."""
    m = urllib.request.urlopen("http://%s/metrics" % member.http(1), timeout=5).read().decode()
    got = dict.fromkeys(COUNTERS, 0.0)
    for line in m.splitlines():
        k = line.split(" ")[0]
        if k in got:
            got[k] = float(line.split()[1])
    return got


def hist_mean(name):
    """Over the three nodes: histogram name's count, and its mean in ms."""
    n, s = 0.0, 0.0
    for i in (1, 2, 3):
        m = urllib.request.urlopen("http://%s/metrics" % member.http(i), timeout=5).read()
        for line in m.decode().splitlines():
            if line.startswith(name + "_count"):
                n += float(line.split()[1])
            elif line.startswith(name + "_sum"):
                s += float(line.split()[1])
    return int(n), (1000.0 * s / n if n else float("nan"))


def stopped():
    """What redis-benchmark stopped at in the last window, if it did."""
    if not member.STOPPED:
        return ""
    said = member.STOPPED.pop()
    del member.STOPPED[:]
    return "; redis-benchmark stopped early: " + said


def delta(a, b):
    return ", ".join("%s %d" % (k[8:].replace("_total", ""), b[k] - a[k]) for k in COUNTERS)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def main():
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    merging = len(sys.argv) > 5 and sys.argv[5] == "merge"
    drift = len(sys.argv) > 5 and sys.argv[5] == "drift"
    made, mlat, mrefused = [], [], []
    tmp = tempfile.mkdtemp(prefix="rk-bench-split-")
    bounds = ",".join("key:%012d" % (k * KEYS // 10) for k in range(1, 10))
    procs = member.start(tmp, 10, ["--split-size", "0"], cut=bounds)
    rnd = random.Random(1)
    used = set()
    lat, refused = [], []
    try:
        base, loaded = [], []
        if drift:
            for r in range(rounds):
                print("window %d: SET/s %.0f, no split" %
                      (r + 1, member.bench_sets(secs)), flush=True)
            return
        warm = int(os.environ.get("WARMUP", 3 * secs))
        member.bench_sets(warm)  # the warm-up, untimed
        print("warm-up: %d s of SETs" % warm, flush=True)

        def plain(r):
            c0 = counters()
            base.append(member.bench_sets(secs))
            c1 = counters()
            print("round %d: SET/s without splits: %.0f (%s)%s" % (r + 1, base[-1], delta(c0, c1),
                                                                 stopped()), flush=True)

        def splitting(r):
            stop = threading.Event()
            n0 = len(lat)
            c1 = counters()

            def splitter():
                while not stop.is_set():
                    t_next = time.time() + 1.0 / rate
                    k = rnd.randrange(1, KEYS)
                    if k in used or k % (KEYS // 10) == 0:
                        continue
                    used.add(k)
                    took, st = split_at("key:%012d" % k, made)
                    (lat if st == 200 else refused).append(took)
                    time.sleep(max(0.0, t_next - time.time()))
            t = threading.Thread(target=splitter)
            t0 = time.time()
            t.start()
            loaded.append(member.bench_sets(secs))
            stop.set()
            t.join()
            el = time.time() - t0
            c2 = counters()
            print("round %d: SET/s while splitting: %.0f; %d splits in %.1f s (%.1f/s), "
                  "%d refused (%s)" %
                  (r + 1, loaded[-1], len(lat) - n0, el, (len(lat) - n0) / el,
                   len(refused), delta(c1, c2)) + stopped(), flush=True)
        for r in range(rounds):
            for step in ((plain, splitting) if r % 2 == 0 else (splitting, plain)):
                step(r)
        if merging:
            stop = threading.Event()

            def merger():
                for right in reversed(made):
                    if stop.is_set():
                        break
                    took, st = merge_back(right)
                    (mlat if st == 200 else mrefused).append(took)
            t = threading.Thread(target=merger)
            t0 = time.time()
            t.start()
            during = member.bench_sets(secs)
            stop.set()
            t.join()
            el = time.time() - t0
            print("merge round: SET/s while merging: %.0f; %d merges in %.1f s, %d refused; "
                  "merge latency under load p50 %.0f ms, p99 %.0f ms" %
                  (during, len(mlat), el, len(mrefused), 1000 * pct(mlat, 0.5),
                   1000 * pct(mlat, 0.99)), flush=True)
        rs = member.call(1, "GET", "/api/v1/ranges?limit=100000")[1]["ranges"]
        print("right halves' wait for a first leader (to a tick): %d, mean %.0f ms; "
              "until their leader applied an entry of its own: %d, mean %.0f ms; "
              "group commits %d, mean %.1f ms (the whole run)" %
              (hist_mean("rangekv_split_right_leader_seconds") +
               hist_mean("rangekv_split_right_serve_seconds") +
               hist_mean("rangekv_group_commit_seconds")), flush=True)
        print("SET/s while splitting / without, over %d rounds of %d s: %.2f (%.0f vs %.0f); "
              "split latency under load p50 %.0f ms, p99 %.0f ms (%d splits, %d refused); "
              "%d ranges at the end" %
              (rounds, secs, sum(loaded) / sum(base), sum(loaded) / rounds, sum(base) / rounds,
               1000 * pct(lat, 0.5), 1000 * pct(lat, 0.99), len(lat), len(refused), len(rs)),
              flush=True)
    finally:
        member.stop(procs, tmp)
        if os.environ.get("RK_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("the nodes' data and logs kept in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
