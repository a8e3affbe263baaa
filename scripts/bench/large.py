#!/usr/bin/env python3
"""The large-data benchmark (issue: large data sets), one run.

  scripts/bench/large.py RANGEKV --gb N [--ranges 64] [--clients 50]
                         [--pipeline 16] [--cache-mb MB] [--chart PNG]
                         [--compression C] [--key-table btree|lsm]
                         [--out JSON] [--keep] [--old-flags]
                         [--node-flags FLAGS] [--small-only ROUNDS]

Three `rangekv start` nodes on 127.0.0.1-3 (ports from 28000; data in a
temporary directory under $TMPDIR, removed at the end unless --keep) with
default flags and --nodes-on-host 3 (--cache-mb sets the cache: MiB, or
auto for a twelfth of the memory; the node's default is 256 MiB),
the key space cut by --split-at over keys key:000000000000.. (the form
redis-benchmark uses), then:

 1. small data: 10,000 keys of 1,000 bytes, and the rate of random GETs
    with 50 connections x 16 pipelined (redis-benchmark -t get): the median
    of 3 rounds of 400,000;
 2. the load: N GB per replica of random (incompressible) 1,000-byte
    values under distinct keys in a shuffled order, through node 1's RESP
    port, by --clients connections of --pipeline SETs each; completed
    writes and the p99 latency (a pipeline's round trip, the wait its
    commands saw) per second;
 3. bytes on disk per replica (data directory) against the logical data
    (keys + values written): after a checkpoint, and again once the nodes
    have compacted their tables (after the next, quiet, checkpoint);
 4. random GETs 50 x 16 over all the keys (data >> cache): a first round
    of 200,000 from the cache the load left, then the rate of a read load
    that has run a while, the median of 3 rounds of 400,000 (the ratio to
    small data is this one's, and step 1 is measured the same way); node
    1's cache and key table are printed beside it;
 5. node 1 stopped (SIGTERM) and started again: seconds to its first
    answered GET, and to its ranges caught up;
 6. one replica move of the range holding the middle key (N GB / --ranges
    of data: 64 MB at --gb 4) while redis-benchmark overwrites random keys
    of every range (50 x 16): rebalancing paused, a follower's replica
    removed, then added back on its node as a voter (learner, snapshot,
    promotion), timed; SET/s over 10 s before it and during it.

--small-only ROUNDS stops after step 1, measured ROUNDS times (the
small-data GET rate of a build against another's, alternated by the
caller); --load-only stops after step 2 (trials of the ingest). Prints the figures; --chart draws completed writes and p99 per second into
a PNG (gnuplot), --out keeps everything as JSON. Every process started is
stopped on exit or failure.
"""
import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raftlog import du  # noqa: E402  (bytes allocated under a directory)

BASE = 28000
VALUE = 1000
procs = {}


def addr(i, kind):  # kind 0 peer, 1 client, 2 http
    return "127.0.0.%d:%d" % (i, BASE + kind * 10 + i)


def http_json(i, path):
    with urllib.request.urlopen("http://%s%s" % (addr(i, 2), path), timeout=5) as r:
        return json.loads(r.read().decode())


def key(k):
    return b"key:%012d" % k


EXTRA = []  # flags of every node (--cache-mb, --compression, --nodes-on-host)


def start(binary, tmp, i, cluster, splits):
    log = open(os.path.join(tmp, "log%d" % i), "a")
    procs[i] = subprocess.Popen(
        [binary, "start", "--node-id", str(i), "--data", os.path.join(tmp, "n%d" % i),
         "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
         "--initial-cluster", cluster, "--split-at", ",".join(splits)] + EXTRA,
        stdout=log, stderr=log)


def wait_led(ranges, secs=120):
    until = time.time() + secs
    while time.time() < until:
        try:
            rs = http_json(1, "/api/v1/ranges?limit=100000")["ranges"]
            if len(rs) == ranges and all(r["leader"] for r in rs):
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    sys.exit("large.py: the ranges were not led within %d s" % secs)


STEADY_ROUNDS = 3
STEADY_GETS = 400000


def bench_get(keys, n):
    host, port = addr(1, 1).split(":")
    out = subprocess.run(["redis-benchmark", "-h", host, "-p", port, "-t", "get", "-r", str(keys),
                          "-n", str(n), "-c", "50", "-P", "16", "-q"],
                         check=True, capture_output=True, text=True).stdout
    # "GET: 123456.79 requests per second, p50=... msec"
    rate = float(out.replace("\r", "\n").strip().splitlines()[-1].split(":")[1].split()[0])
    return round(rate)


def bench_get_steady(keys):
    """The rate of a read load that has run a while: STEADY_ROUNDS rounds
    of STEADY_GETS GETs 50 x 16, their median (a single round of 200,000
    lasts about a second and a half here, short for a figure: rounds after
    a start or a load still fill the caches)."""
    rounds = [bench_get(keys, STEADY_GETS) for _ in range(STEADY_ROUNDS)]
    return sorted(rounds)[len(rounds) // 2], rounds


def resp_set(k, v):
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v)


class Loader(threading.Thread):
    """One connection: pipelines of SETs over its share of the keys."""

    def __init__(self, keys, pipeline, noise, stats, lock):
        super().__init__(daemon=True)
        self.keys, self.pipeline, self.noise = keys, pipeline, noise
        self.stats, self.lock, self.errors = stats, lock, 0

    def run(self):
        host, port = addr(1, 1).split(":")
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        rng = random.Random(self.keys[0] if self.keys else 0)
        for j in range(0, len(self.keys), self.pipeline):
            part = self.keys[j:j + self.pipeline]
            req = []
            for k in part:
                off = rng.randrange(len(self.noise) - VALUE)
                req.append(resp_set(key(k), self.noise[off:off + VALUE]))
            t0 = time.monotonic()
            s.sendall(b"".join(req))
            got = 0
            while got < len(part):
                while b"\r\n" not in buf:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise EOFError("node 1 closed the connection")
                    buf += chunk
                line, buf = buf.split(b"\r\n", 1)
                got += 1
                if line != b"+OK":
                    self.errors += 1
            t1 = time.monotonic()
            with self.lock:
                sec = int(t1)
                row = self.stats.setdefault(sec, [0, []])
                row[0] += len(part)
                row[1].append(t1 - t0)
        s.close()


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(0.99 * len(v)))] if v else 0.0


def load(n, clients, pipeline):
    order = list(range(n))
    random.Random(1).shuffle(order)
    noise = os.urandom(1 << 24)
    stats, lock = {}, threading.Lock()
    ls = [Loader(order[c::clients], pipeline, noise, stats, lock) for c in range(clients)]
    t0 = time.monotonic()
    for x in ls:
        x.start()
    for x in ls:
        x.join()
    secs = time.monotonic() - t0
    first = min(stats) if stats else 0
    series = []
    for sec in range(first, max(stats) + 1 if stats else 0):
        done, lat = stats.get(sec, [0, []])
        series.append({"t": sec - first, "writes": done, "p99_ms": round(p99(lat) * 1e3, 1)})
    return secs, series, sum(x.errors for x in ls)


def chart(series, png, title):
    dat = png + ".dat"
    with open(dat, "w") as f:
        for r in series:
            f.write("%d %d %.1f\n" % (r["t"], r["writes"], r["p99_ms"]))
    script = """set terminal pngcairo size 1000,600 font ',10'
set output '%s'
set multiplot layout 2,1 title '%s'
set ylabel 'completed writes/s'
set grid
unset xlabel
plot '%s' using 1:2 with lines lw 1.5 title 'SET/s'
set ylabel 'p99 latency (ms)'
set xlabel 'seconds into the load'
set logscale y
plot '%s' using 1:3 with lines lw 1.5 lc rgb 'red' title 'p99 of a pipeline of 16'
unset multiplot
""" % (png, title, dat, dat)
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(dat)


def restart_time(binary, tmp, cluster, splits, keys, ranges):
    procs[1].send_signal(signal.SIGTERM)
    procs[1].wait(timeout=120)
    t0 = time.monotonic()
    start(binary, tmp, 1, cluster, splits)
    host, port = addr(1, 1).split(":")
    serving = caught = None
    probe = b"*2\r\n$3\r\nGET\r\n$16\r\n%s\r\n" % key(keys // 2)
    while time.monotonic() - t0 < 600 and (serving is None or caught is None):
        if serving is None:
            try:
                with socket.create_connection((host, int(port)), timeout=2) as s:
                    s.sendall(probe)
                    if s.recv(16).startswith(b"$"):
                        serving = time.monotonic() - t0
            except OSError:
                pass
        if serving is not None and caught is None:
            try:
                mine = http_json(1, "/api/v1/ranges?limit=100000")["ranges"]
                lead = {r["id"]: r for r in http_json(2, "/api/v1/ranges?limit=100000")["ranges"]}
                if len(mine) == ranges and all(r["applied_index"] >= lead[r["id"]]["commit_index"]
                                               for r in mine if r["id"] in lead):
                    caught = time.monotonic() - t0
            except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.05)
    return serving, caught


def http_call(i, method, path, timeout=600):
    """(status, JSON body) of an HTTP call on node i; 4xx/5xx too."""
    req = urllib.request.Request("http://%s%s" % (addr(i, 2), path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read().decode() or "{}")
        except ValueError:
            return e.code, {}


def on_leader(rid, method, path):
    """The call on range rid's leader: the node the range list names
    first, then the one a refusal names (409/404 with "leader"), else the
    next node (one that holds no replica answers 404)."""
    try:
        rs = http_json(1, "/api/v1/ranges/%d" % rid)
        order = [rs["leader"]] if rs.get("leader") else []
    except (OSError, ValueError, KeyError):
        order = []
    order += [i for i in (1, 2, 3) if i not in order]
    i = order.pop(0)
    for _ in range(10):
        st, body = http_call(i, method, path)
        if st in (404, 409) and body.get("leader") and body["leader"] != i:
            i = body["leader"]
            continue
        if st in (404, 409) and order:
            i = order.pop(0)
            continue
        return st, body
    return st, body


def voter_on(rid, node):
    """Whether range rid has a voter on node, as its leader says."""
    st, one = on_leader(rid, "GET", "/api/v1/ranges/%d" % rid)
    return st == 200 and any(p.get("node_id") == node and p.get("role") == "voter"
                             for p in one.get("replicas", []))


def move_under_load(keys, secs=10):
    """One replica move of the range holding the middle key while
    redis-benchmark overwrites random keys of every range (50 x 16, 1 KB
    values): rebalancing paused, a follower's replica removed, then added
    back on its node as a voter (a learner under a fresh replica id, a
    snapshot of the range streamed and installed, the promotion), timed;
    SET/s over secs before it and during it, from node 1's commands."""
    mid = key(keys // 2).decode()
    rs = http_json(1, "/api/v1/ranges?limit=100000")["ranges"]
    r = next(x for x in rs if x["start"] <= mid and (x["end"] == "" or mid < x["end"]))
    rid = r["id"]
    st, body = http_call(1, "POST", "/api/v1/rebalance?enabled=false")
    if st not in (200, 202):
        return {"error": "rebalance pause: %d %s" % (st, body)}
    st, one = on_leader(rid, "GET", "/api/v1/ranges/%d" % rid)
    lead = one["leader"]
    victim = next(p for p in one["replicas"] if p["node_id"] != lead)
    size = one.get("size_bytes")
    st, body = on_leader(rid, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                         (rid, victim["replica_id"]))
    if st != 200:
        return {"error": "remove: %d %s" % (st, body)}
    time.sleep(1)
    host, port = addr(1, 1).split(":")
    # Its output is kept: an error reply stops redis-benchmark, and the
    # reply is the only record of why.
    bout = tempfile.TemporaryFile()
    bench = subprocess.Popen(["redis-benchmark", "-h", host, "-p", port, "-t", "set", "-d",
                              str(VALUE), "-r", str(keys), "-n", "2000000000", "-c", "50",
                              "-P", "16", "-q"], stdout=bout, stderr=subprocess.STDOUT)
    try:
        time.sleep(2)
        c0 = metric(1, "rangekv_client_commands_total")
        time.sleep(secs)
        c1 = metric(1, "rangekv_client_commands_total")
        before = (c1 - c0) / secs
        th0 = [metric(i, "rangekv_store_lsm_throttle_seconds_total") for i in (1, 2, 3)]
        t0 = time.monotonic()
        again = 0
        while time.monotonic() - t0 < 600:
            st, body = on_leader(rid, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" %
                                 (rid, victim["node_id"]))
            if st == 503 and "may still apply" in str(body):
                # The range's leadership moved under the change: it may
                # have applied. The range says; if not, ask again.
                again += 1
                if voter_on(rid, victim["node_id"]):
                    st, body = 200, {}
                    break
                time.sleep(0.2)
                continue
            if st in (409, 503) and any(k in str(body) for k in
                                        ("promote it", "not caught up", "retry",
                                         "not the leader")):
                again += 1
                time.sleep(0.2)
                continue
            break
        took = time.monotonic() - t0
        c2 = metric(1, "rangekv_client_commands_total")
        during = (c2 - c1) / took
        throttled = [round(metric(i, "rangekv_store_lsm_throttle_seconds_total") - th0[i - 1], 2)
                     for i in (1, 2, 3)]
        stopped = bench.poll() is not None
    finally:
        bench.terminate()
        bench.wait()
        bout.seek(0)
        said = bout.read().decode(errors="replace").replace("\r", "\n")
        bout.close()
        http_call(1, "POST", "/api/v1/rebalance?enabled=true")
    st2, one = on_leader(rid, "GET", "/api/v1/ranges/%d" % rid)
    voters = sum(1 for p in one.get("replicas", []) if p.get("role") == "voter")
    return {"range": rid, "size_bytes": size, "node": victim["node_id"], "status": st,
            "answer": body if st != 200 else None, "seconds": round(took, 2),
            "asked_again": again, "voters_after": voters, "sets_before": round(before),
            "sets_during": round(during), "bench_stopped": stopped,
            "bench_said": said.strip().splitlines()[-1][-300:] if stopped and said.strip() else None,
            "lsm_throttle_s": throttled}


def cache_mb(tmp, i):
    """The cache node i chose (its log's first storage line), or None."""
    try:
        with open(os.path.join(tmp, "log%d" % i)) as f:
            for line in f:
                if "storage cache " in line:
                    return int(line.split("storage cache ")[1].split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return None


def meminfo(field):
    """A /proc/meminfo figure in bytes (0 if absent)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def metric(i, name):
    with urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def wait_compacted(limit=150):
    """Seconds until every node has compacted its tables after the load
    (the first checkpoint with no writes since the one before compacts:
    storage.md) and made no progress for 10 s, at most limit."""
    t0 = time.monotonic()
    last, still = None, 0
    while time.monotonic() - t0 < limit:
        try:
            now = [metric(i, "rangekv_store_compacted_bytes_total") for i in (1, 2, 3)]
        except OSError:
            now = None
        still = still + 5 if now is not None and now == last and all(now) else 0
        if still >= 10:
            break
        last = now
        time.sleep(5)
    return round(time.monotonic() - t0)


def disk_files(path):
    """Bytes allocated under a data directory by kind: the key table (kv.wt,
    or an LSM key table's chunks and Bloom filters kv-*), the raft log
    table, the value log, WiredTiger's log (and its preallocated files),
    the rest."""
    out = {"kv.wt": 0, "raftlog.wt": 0, "value log": 0, "WiredTiger log": 0, "other": 0}
    for d, _, files in os.walk(path):
        for f in files:
            try:
                b = os.stat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                continue
            k = "kv.wt" if f == "kv.wt" or f.startswith("kv-") else \
                "raftlog.wt" if f == "raftlog.wt" else \
                "value log" if f.endswith(".vlog") else \
                "WiredTiger log" if f.startswith(("WiredTigerLog.", "WiredTigerPreplog.")) \
                else "other"
            out[k] += b
    return out


def draw(a, series, R):
    """The load's chart, when --chart asks for one."""
    if a.chart and shutil.which("gnuplot") is None:
        print("no chart: gnuplot is not installed", flush=True)
    elif a.chart:
        chart(series, a.chart, "rangekv: %g GB per replica of 1 KB values, 3 nodes, %s" %
              (a.gb, R["date"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--gb", type=float, required=True)
    ap.add_argument("--ranges", type=int, default=64)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--chart")
    ap.add_argument("--out")
    ap.add_argument("--cache-mb",
                    help="every node's --cache-mb: MiB or auto (default: "
                    "the node's own)")
    ap.add_argument("--compression",
                    help="every node's --compression: snappy, zlib or none "
                    "(default: the node's own)")
    ap.add_argument("--key-table",
                    help="every node's --key-table: btree or lsm "
                    "(default: the node's own)")
    ap.add_argument("--node-flags", default="",
                    help="more flags for every node, one string "
                    "(e.g. --node-flags='--log-keep-bytes-total 256MiB')")
    ap.add_argument("--old-flags", action="store_true",
                    help="no --nodes-on-host (a build from before it)")
    ap.add_argument("--small-only", type=int, metavar="ROUNDS",
                    help="only the small-data GET rate, ROUNDS times")
    ap.add_argument("--load-only", action="store_true",
                    help="stop after the load (steps 1 and 2): for trials of the ingest")
    ap.add_argument("--keep", action="store_true",
                    help="keep the data directories (their path is printed)")
    a = ap.parse_args()
    if not a.old_flags:
        EXTRA.extend(["--nodes-on-host", "3"])
    if a.cache_mb:
        EXTRA.extend(["--cache-mb", str(a.cache_mb)])
    if a.compression:
        EXTRA.extend(["--compression", a.compression])
    if a.key_table:
        EXTRA.extend(["--key-table", a.key_table])
    EXTRA.extend(a.node_flags.split())
    n = int(a.gb * 1e9 / (VALUE + 16))
    R = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "machine": "%s, %d cores" % (platform.platform(), os.cpu_count()),
         "gb": a.gb, "keys": n, "ranges": a.ranges, "flags": " ".join(EXTRA)}
    tmp = tempfile.mkdtemp(prefix="rk-large-")
    splits = ["key:%012d" % (k * n // a.ranges) for k in range(1, a.ranges)]
    cluster = ",".join("%d=%s" % (i, addr(i, 0)) for i in (1, 2, 3))
    try:
        for i in (1, 2, 3):
            start(a.binary, tmp, i, cluster, splits)
        wait_led(a.ranges)
        host, port = addr(1, 1).split(":")
        subprocess.run(["redis-benchmark", "-h", host, "-p", port, "-t", "set", "-d", str(VALUE),
                        "-r", "10000", "-n", "10000", "-c", "50", "-P", "16", "-q"],
                       check=True, stdout=subprocess.DEVNULL)
        if a.small_only:
            R["get_small"] = [bench_get(10000, 400000) for _ in range(a.small_only)]
            print("small data: GET 50x16 %s/s" % ", ".join(map(str, R["get_small"])), flush=True)
            return
        R["get_small"], R["get_small_rounds"] = bench_get_steady(10000)
        print("small data: GET 50x16 %d/s (the median of %s)" %
              (R["get_small"], ", ".join(map(str, R["get_small_rounds"]))), flush=True)
        secs, series, errors = load(n, a.clients, a.pipeline)
        R.update(load_seconds=round(secs, 1), rate=round(n / secs), errors=errors, series=series)
        k = max(1, len(series) // 5)
        first = sum(r["writes"] for r in series[:k]) / k
        last = sum(r["writes"] for r in series[-k:]) / k
        # Every fifth, to show where a fall happens: a fall that ends
        # early is the key table outgrowing the cache, one that goes on
        # is the cost of a write still growing with the data.
        fifths = [round(sum(r["writes"] for r in series[i * k:(i + 1) * k]) / k)
                  for i in range(4)] + [round(last)]
        R.update(first_fifth=round(first), last_fifth=round(last), fifths=fifths,
                 zero_seconds=sum(1 for r in series[:-1] if r["writes"] == 0),
                 p99_max_ms=max(r["p99_ms"] for r in series))
        print("load: %d SETs in %.0f s, %d/s; first fifth %d/s, last fifth %d/s (%.2f); "
              "%d seconds without a completed write; worst p99 %.0f ms; %d errors" %
              (n, secs, R["rate"], first, last, last / first if first else 0,
               R["zero_seconds"], R["p99_max_ms"], errors), flush=True)
        print("  SET/s by fifth of the load: %s" % ", ".join(map(str, fifths)), flush=True)
        R["lsm_throttle_s"] = [metric(i, "rangekv_store_lsm_throttle_seconds_total")
                               for i in (1, 2, 3)]
        # Every checkpoint rewrites the key table's dirty leaves: how
        # often they came (the timer's and the raft log budget's).
        R["checkpoints"] = [int(metric(i, "rangekv_store_checkpoints_total"))
                            for i in (1, 2, 3)]
        print("  checkpoints since the nodes started (the load most of it): %s" %
              ", ".join(map(str, R["checkpoints"])), flush=True)
        if any(R["lsm_throttle_s"]):
            print("  seconds the nodes' LSM writes slept in WiredTiger's throttles: %s" %
                  R["lsm_throttle_s"], flush=True)
        if a.load_only:
            draw(a, series, R)
            return
        time.sleep(35)  # a checkpoint after the load
        logical = n * (VALUE + 16)
        R["logical"] = logical
        R["disk_checkpoint"] = [du(os.path.join(tmp, "n%d" % i)) for i in (1, 2, 3)]
        print("disk per replica after a checkpoint: %s MB (%s x)" %
              (", ".join("%.0f" % (d / 1e6) for d in R["disk_checkpoint"]),
               ", ".join("%.2f" % (d / logical) for d in R["disk_checkpoint"])), flush=True)
        R["compact_wait_s"] = wait_compacted()
        R["disk"] = [du(os.path.join(tmp, "n%d" % i)) for i in (1, 2, 3)]
        print("disk per replica after the quiet checkpoint's compaction (%s s more): %s MB for %.0f MB logical (%s x)" %
              (R["compact_wait_s"], ", ".join("%.0f" % (d / 1e6) for d in R["disk"]), logical / 1e6,
               ", ".join("%.2f" % (d / logical) for d in R["disk"])), flush=True)
        R["disk_files"] = disk_files(os.path.join(tmp, "n1"))
        print("  node 1 by file: %s" % ", ".join("%s %.0f MB" % (k, v / 1e6)
                                                 for k, v in R["disk_files"].items()),
              flush=True)
        R["cache_mb"] = cache_mb(tmp, 1)
        R["page_cache"] = meminfo("Cached")
        kv = R["disk_files"].get("kv.wt", 0)
        print("  node 1's cache %s MiB: its key table is %s times it; the machine's page cache "
              "%.1f GB for the three data directories' %.1f GB (reads beyond it go to the disk)" %
              (R["cache_mb"], "%.1f" % (kv / (R["cache_mb"] << 20)) if R["cache_mb"] else "?",
               R["page_cache"] / 1e9, sum(R["disk"]) / 1e9), flush=True)
        R["get_large_first"] = bench_get(n, 200000)
        R["get_large"], R["get_large_rounds"] = bench_get_steady(n)
        print("large data: GET 50x16 %d/s (%.2f of the small data's; the median of %s); the "
              "first round, from the cache the load left, %d/s (%.2f)" %
              (R["get_large"], R["get_large"] / R["get_small"],
               ", ".join(map(str, R["get_large_rounds"])), R["get_large_first"],
               R["get_large_first"] / R["get_small"]), flush=True)
        serving, caught = restart_time(a.binary, tmp, cluster, splits, n, a.ranges)
        R.update(restart_serving_s=serving and round(serving, 2),
                 restart_caught_up_s=caught and round(caught, 2))
        print("restart of node 1: first GET answered after %s s, its ranges caught up after %s s" %
              (R["restart_serving_s"], R["restart_caught_up_s"]), flush=True)
        wait_led(a.ranges)
        mv = R["move"] = move_under_load(n)
        if "error" in mv:
            print("replica move: %s" % mv["error"], flush=True)
        else:
            print("replica move under load: range %d (%s MB) to node %d in %.1f s (HTTP %d, "
                  "asked again %d times, %d voters after); SET/s %d before, %d during (%.2f)%s" %
                  (mv["range"], "?" if mv["size_bytes"] is None else
                   "%.0f" % (mv["size_bytes"] / 1e6), mv["node"], mv["seconds"], mv["status"],
                   mv["asked_again"], mv["voters_after"], mv["sets_before"], mv["sets_during"],
                   mv["sets_during"] / mv["sets_before"] if mv["sets_before"] else 0,
                   "; redis-benchmark stopped: %r" % mv["bench_said"] if mv["bench_stopped"] else ""),
                  flush=True)
            if any(mv["lsm_throttle_s"]):
                print("  seconds the nodes' LSM writes slept in WiredTiger's throttles during the "
                      "move: %s" % mv["lsm_throttle_s"], flush=True)
        draw(a, series, R)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if a.keep:
            print("data kept in %s" % tmp, flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if a.out:  # also after --small-only, --load-only or a failure: what was measured
            with open(a.out, "w") as f:
                json.dump(R, f, indent=1)


if __name__ == "__main__":
    main()
