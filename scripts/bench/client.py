#!/usr/bin/env python3
"""Client-facing benchmark: rangekv over RESP beside etcd, Redis, the
machine's floors and the storage layer's ceiling, in one run on one machine.

  scripts/bench/client.sh [--quick] [--out FILE] [--parts LIST] [--spread]
                          [--no-build] [--bin RANGEKV] [--keep]
                          [--node-flags 'FLAGS']   (more rangekv start flags)

Parts, run one after another (never two at once), default all:
  floor    scripts/bench/ref/floor-bench.sh: fdatasync p50/p99 (one writer and
           three in parallel) and the loopback TCP round trip
  storage  bench_storage journal (a node's write path in raw WiredTiger: one
           raft append + one apply per write, 64 per group, one flush each;
           100,000 writes, the workload's key count), once alone and as three
           processes at once (three nodes' stores on one disk and these
           cores): the three-way storage ceiling
  rangekv  three `rangekv start` nodes on 127.0.0.1-3, --split-at boundaries
           cutting redis-benchmark's key:000000000000..key:000000099999 into
           64 ranges and counter:... into 16, then the redis-benchmark suite
           against node 1's client port
  etcd     scripts/bench/ref/etcd-bench.sh (3 members on loopback, etcdload:
           gRPC through etcd's client library), one repetition
  redis    redis-server as ref/redis-bench.sh starts it (appendonly yes,
           appendfsync always, no RDB), the same redis-benchmark suite as
           rangekv (SEQ.NEXT replaced by INCR of one key)

Prints one table; raw results go to --out as JSON. Every process started is
stopped on exit, failure, Ctrl-C or SIGTERM. Nothing passes or fails on a
timing; the exit status is 1 when a part could not produce its figures.
"""
import argparse
import csv
import glob
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARTS = ("floor", "storage", "rangekv", "etcd", "redis")
NODE_FLAGS = []  # --node-flags, split

# rangekv ports: node i on 127.0.0.i (peer, client, http).
RK_BASE = 24100
# The workload's key spaces (redis-benchmark -r 100000: 12-digit numbers).
KEYSPACE = 100000
KEY_RANGES = 64       # ranges over key:000000000000 .. key:000000099999
COUNTER_RANGES = 16   # ranges over counter:... (INCR's keys)


def log(msg):
    print(msg, flush=True)


class PartFailed(Exception):
    pass


# ---- processes ---------------------------------------------------------------------

class Procs:
    """Every child runs in its own session (process group): Ctrl-C on the
    terminal reaches only this script, which stops them in order. Only
    groups this script created are signalled."""

    def __init__(self):
        self.live = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=20.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        else:
            # The leader exited; members of its group may remain.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, wait=10.0)


PROCS = Procs()
CLEANUPS = []  # extra callables run at exit (etcd-cluster.sh stop, ...)


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def port_busy(host, port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex((host, port)) == 0
    finally:
        s.close()


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def run_logged(argv, logpath, timeout, env=None, cwd=None):
    """Runs argv to completion in its own group, output to logpath; kills
    it at timeout. Returns the exit status (None on timeout)."""
    with open(logpath, "ab") as lf:
        p = PROCS.start(argv, stdout=lf, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            PROCS.stop(p, wait=5)
            return None
        PROCS.stop(p)  # its group: anything it left behind
        return rc


# ---- RESP --------------------------------------------------------------------------

class RespError(Exception):
    pass


class Resp:
    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, cmds):
        self.sock.sendall(b"".join(self.encode(c) for c in cmds))

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("connection closed by the server")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("connection closed by the server")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError("not RESP: %r" % line[:80])

    def call(self, *args):
        self.send([args])
        return self.reply()


def resp_probe(host, port, timeout=5.0):
    """None when the port answers PING with PONG, else why not."""
    try:
        c = Resp(host, port, timeout)
    except OSError as e:
        return "cannot connect to %s:%d (%s)" % (host, port, e.strerror or e)
    try:
        r = c.call("PING")
        if r != "PONG":
            return "%s:%d answered PING with %r" % (host, port, r)
        return None
    except socket.timeout:
        return "%s:%d accepted the connection but did not answer PING within %.0f s" % (
            host, port, timeout)
    except (OSError, ValueError) as e:
        return "%s:%d: %s" % (host, port, e)
    finally:
        c.close()


def prefill(host, port, n, value, timeout=30.0):
    """SET key:000000000000 .. key:<n-1> (redis-benchmark's key names),
    1,000 pipelined per round trip. Returns (seconds, errors, first error)."""
    c = Resp(host, port, timeout)
    errors, first = 0, None
    t0 = time.time()
    try:
        for lo in range(0, n, 1000):
            hi = min(n, lo + 1000)
            c.send([(b"SET", b"key:%012d" % i, value) for i in range(lo, hi)])
            for _ in range(lo, hi):
                r = c.reply()
                if r != "OK":
                    errors += 1
                    first = first or repr(r)
    except socket.timeout:
        raise PartFailed("prefill: no reply within %.0f s" % timeout)
    finally:
        c.close()
    return time.time() - t0, errors, first


# ---- redis-benchmark ---------------------------------------------------------------

PROGRESS = re.compile(rb"rps=([0-9.]+|-?nan)")


def redis_benchmark(host, port, args, stall_s, logpath, cap_s):
    """Runs one redis-benchmark (one test) and parses its summary. It has
    no timeout of its own (a server that accepts but never answers keeps it
    waiting forever), so it is killed when its progress line shows no
    completed request for stall_s seconds, or after cap_s in all."""
    argv = ["redis-benchmark", "-h", host, "-p", str(port)] + [str(a) for a in args]
    p = PROCS.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = b"", b""
    t0 = last = time.time()
    why = None
    fds = {p.stdout.fileno(): "o", p.stderr.fileno(): "e"}
    while fds:
        r, _, _ = select.select(list(fds), [], [], 0.5)
        for fd in r:
            d = os.read(fd, 65536)
            if not d:
                del fds[fd]
                continue
            if fds[fd] == "o":
                out += d
                for m in PROGRESS.findall(d):
                    if m not in (b"nan", b"-nan") and float(m) > 0:
                        last = time.time()
            else:
                err += d
        now = time.time()
        if now - last > stall_s:
            why = "killed after %.0f s without a completed request" % stall_s
        elif now - t0 > cap_s:
            why = "killed, still running after %.0f s" % cap_s
        if why:
            PROCS.stop(p, wait=2)
            break
    if not why:
        p.wait()
        PROCS.stop(p)
    with open(logpath, "ab") as f:
        f.write(b"$ " + " ".join(argv).encode() + b"\n" + out.replace(b"\r", b"\n") +
                b"\n[stderr]\n" + err + b"\n")
    text = out.decode(errors="replace").replace("\r", "\n")
    errtext = err.decode(errors="replace").strip()
    res = {"argv": argv[1:], "rc": p.returncode}
    m = re.search(r"throughput summary: ([0-9.]+) requests per second", text)
    lat = re.search(r"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([0-9.]+)\s+([0-9.]+)\s+"
                    r"([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", text)
    done = re.search(r"(\d+) requests completed in ([0-9.]+) seconds", text)
    if why or not m or not lat:
        msg = why or "no summary"
        srv = [l for l in errtext.splitlines() if l and not l.startswith("WARNING")]
        if srv:
            msg += "; redis-benchmark said: " + srv[0]
        elif why:
            msg += " (server not answering?)"
        res["error"] = msg
        return res
    res.update(rps=float(m.group(1)),
               avg_ms=float(lat.group(1)), min_ms=float(lat.group(2)),
               p50_ms=float(lat.group(3)), p95_ms=float(lat.group(4)),
               p99_ms=float(lat.group(5)), max_ms=float(lat.group(6)))
    if done:
        res.update(requests=int(done.group(1)), seconds=float(done.group(2)))
    return res


def suite(kind, quick):
    """The redis-benchmark runs, in order, as (name, args, sanity check)."""
    q = quick
    n_p = 50000 if q else 1000000     # pipelined SET / GET / INCR
    n_1 = 1000 if q else 20000        # one client, no pipeline
    n_hot = 20000 if q else 300000    # one key / one sequence
    n_mset = 5000 if q else 100000    # MSET of 10 keys each
    common = ["-d", 128, "-r", KEYSPACE]
    seq = ["SEQ.NEXT", "order"] if kind == "rangekv" else ["INCR", "seq:order"]
    return [
        ("set_p16", ["-t", "set"] + common + ["-c", 50, "-P", 16, "-n", n_p], None),
        ("set_c1", ["-t", "set"] + common + ["-c", 1, "-n", n_1], None),
        ("prefill", None, None),
        ("get_p16", ["-t", "get"] + common + ["-c", 50, "-P", 16, "-n", n_p], None),
        ("incr_p16", ["-t", "incr", "-r", KEYSPACE, "-c", 50, "-P", 16, "-n", n_p], None),
        ("incr1_p16", ["-t", "incr", "-c", 50, "-P", 16, "-n", n_hot],
         ("GET", "counter:__rand_int__", n_hot)),
        ("seq_p16", ["-c", 50, "-P", 16, "-n", n_hot] + seq,
         (("SEQ.NEXT", "order", n_hot + 1) if kind == "rangekv"
          else ("GET", "seq:order", n_hot))),
        ("mset_p16", ["-t", "mset"] + common + ["-c", 50, "-P", 16, "-n", n_mset], None),
    ]


def run_suite(kind, nodes, pids, a, work, res):
    """nodes: [(host, port)], the first is the target. Fills res["tests"]."""
    host, port = nodes[0]
    tests = res.setdefault("tests", {})
    blog = os.path.join(work, "%s-redis-benchmark.log" % kind)
    value = b"x" * 128
    for name, args, check in suite(kind, a.quick):
        if name == "prefill":
            secs, errs, first = prefill(host, port, KEYSPACE, value)
            tests["prefill"] = {"keys": KEYSPACE, "seconds": round(secs, 3),
                                "errors": errs, "first_error": first}
            log("  prefill %d keys: %.1f s%s" % (KEYSPACE, secs,
                "" if not errs else ", %d errors (first %s)" % (errs, first)))
            continue
        cpu0 = sum(cpu_seconds(p) for p in pids)
        r = redis_benchmark(host, port, args, a.stall, blog, a.cap)
        r["server_cpu_s"] = round(sum(cpu_seconds(p) for p in pids) - cpu0, 3)
        if "requests" in r and r["requests"]:
            r["server_cpu_us_per_request"] = round(r["server_cpu_s"] / r["requests"] * 1e6, 2)
        if "error" in r:
            log("  %-10s FAILED: %s" % (name, r["error"]))
            tests[name] = r
            why = resp_probe(host, port)
            if why:
                raise PartFailed("%s: %s; then %s" % (name, r["error"], why))
            continue
        if check:
            c = Resp(host, port)
            try:
                got = c.call(check[0], check[1])
            finally:
                c.close()
            try:
                got = int(got) if isinstance(got, (bytes, int)) else got
            except ValueError:
                pass
            r["check"] = {"command": "%s %s" % check[:2], "expected": check[2],
                          "got": got if not isinstance(got, RespError) else str(got),
                          "ok": got == check[2]}
        log("  %-10s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  server CPU %s us/req%s" % (
            name, r["rps"], r["p50_ms"], r["p99_ms"], r.get("server_cpu_us_per_request", "-"),
            "" if not check else ("  check %s" % ("ok" if r["check"]["ok"] else
                                  "WRONG: %s -> %r, expected %r" % (
                                      r["check"]["command"], r["check"]["got"], check[2])))))
        tests[name] = r
        if check and not r["check"]["ok"]:
            res.setdefault("checks_failed", []).append(name)
        if a.spread and len(nodes) > 1 and "-P" in args:
            tests[name + "_spread"] = spread(nodes, args, a, blog)
        time.sleep(1)


def spread(nodes, args, a, blog):
    """The same test split over every node at once (clients and requests
    divided); the rate is all requests over the slowest one's time."""
    c = int(args[args.index("-c") + 1])
    n = int(args[args.index("-n") + 1])
    k = len(nodes)
    outs = {}

    def one(i):
        ai = list(args)
        ai[ai.index("-c") + 1] = c // k + (1 if i < c % k else 0)
        ai[ai.index("-n") + 1] = n // k
        outs[i] = redis_benchmark(nodes[i][0], nodes[i][1], ai, a.stall, blog, a.cap)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    rs = [outs[i] for i in range(k)]
    bad = [r["error"] for r in rs if "error" in r]
    if bad:
        log("    spread over %d nodes FAILED: %s" % (k, bad[0]))
        return {"error": bad[0], "runs": rs}
    tot = sum(r["requests"] for r in rs)
    rps = tot / max(r["seconds"] for r in rs)
    p50 = sorted(r["p50_ms"] for r in rs)[k // 2]
    p99 = max(r["p99_ms"] for r in rs)
    log("    spread over %d nodes: %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms" % (k, rps, p50, p99))
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "runs": rs}


# ---- parts -------------------------------------------------------------------------

def build(a, work, target):
    """Builds one target in the bench build dir; returns (path, error)."""
    paths = {"rangekv": "src/cli/rangekv", "bench_storage": "bench/storage/bench_storage"}
    path = os.path.join(a.build_dir, paths[target])
    if a.no_build:
        return (path, None) if os.access(path, os.X_OK) else (
            None, "--no-build and %s does not exist" % path)
    lp = os.path.join(work, "build.log")
    if not os.path.exists(os.path.join(a.build_dir, "CMakeCache.txt")) or not a.configured:
        rc = run_logged(["cmake", "-S", ROOT, "-B", a.build_dir,
                         "-DCMAKE_BUILD_TYPE=" + a.build_type], lp, 600)
        if rc != 0:
            return None, "cmake configure failed:\n" + tail(lp)
        a.configured = True
    rc = run_logged(["cmake", "--build", a.build_dir, "-j", str(os.cpu_count() or 2),
                     "--target", target], lp, 1800)
    if rc != 0:
        errs = [l for l in tail(lp, 400).splitlines() if "error" in l.lower()]
        return None, "building %s failed (%s):\n%s" % (
            target, lp, "\n".join(errs[:8]) or tail(lp))
    return path, None


def ref_env(a, **kw):
    """The environment of the reference scripts (scripts/bench/ref)."""
    return dict(os.environ, RK_REF_BIN=a.ref_bin, **kw)


def ref_ready(a, work):
    """The reference systems installed and their tools built: ref/setup.sh
    installs etcd and Redis from Debian when missing and builds floor and
    etcdload into --ref-bin; it does nothing when all is there."""
    lp = os.path.join(work, "ref-setup.log")
    rc = run_logged(["bash", os.path.join(a.ref, "setup.sh")], lp, 1800, env=ref_env(a))
    if rc != 0:
        return "scripts/bench/ref/setup.sh failed:\n" + tail(lp)
    return None


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def part_floor(a, work, res):
    why = ref_ready(a, work)
    if why:
        raise PartFailed(why)
    out = os.path.join(work, "floor")
    env = ref_env(a, REPS="1", DIRS=work, RESULTS_DIR=out)
    lp = os.path.join(work, "floor.log")
    rc = run_logged(["bash", os.path.join(a.ref, "floor-bench.sh")], lp, 600, env=env)
    runs = glob.glob(os.path.join(out, "floor-*", "runs.csv"))
    if rc != 0 or not runs:
        raise PartFailed("floor-bench.sh failed (rc %s):\n%s" % (rc, tail(lp)))
    rows = read_csv(runs[0])
    res["runs"] = rows
    by = {r["what"]: r for r in rows}
    f = lambda w, k: float(by[w][k]) if w in by and by[w][k] not in ("", None) else None
    res.update(
        fdatasync_p50_us=f("fdatasync-4k-overwrite", "p50_us"),
        fdatasync_p99_us=f("fdatasync-4k-overwrite", "p99_us"),
        fdatasync_x3_p50_us=f("fdatasync-x3-parallel", "p50_us"),
        fdatasync_x3_p99_us=f("fdatasync-x3-parallel", "p99_us"),
        fdatasync_x3_rate=f("fdatasync-x3-parallel", "ops_per_s"),
        tcp_rtt_p50_us=f("tcp-rtt-64B", "p50_us"),
        tcp_rtt_p99_us=f("tcp-rtt-64B", "p99_us"))
    log("  fdatasync 4 KiB: p50 %.0f us p99 %.0f us; three writers at once: p50 %.0f us "
        "p99 %.0f us; loopback TCP round trip p50 %.1f us p99 %.1f us" % (
            res["fdatasync_p50_us"], res["fdatasync_p99_us"], res["fdatasync_x3_p50_us"],
            res["fdatasync_x3_p99_us"], res["tcp_rtt_p50_us"], res["tcp_rtt_p99_us"]))


JOURNAL = re.compile(r"state machine logged ([0-9.]+)/s writing ([0-9.]+) MB, "
                     r"not logged ([0-9.]+)/s writing ([0-9.]+) MB")


def part_storage(a, work, res):
    b, why = build(a, work, "bench_storage")
    if why:
        raise PartFailed(why)
    # As many writes as the workload has keys, so the KV table ends the size
    # of the benchmark's (the table size, not the count, sets the cost: with
    # 1,000,000 rows the table is ten times the workload's and a round is
    # 2-4 times slower).
    env = dict(os.environ, TMPDIR=work)
    argv = [b, "journal", "--rows", str(KEYSPACE), "--rounds", "1" if a.quick else "3"]
    res["argv"] = argv[1:]
    res["method"] = ("bench_storage journal, not-logged state machine (journal once): per write "
                     "one raft entry append + one apply (random 16-byte key, 130-byte value), "
                     "64 writes per transaction and log flush, %d writes; x3 = three processes "
                     "at once; ceiling = the median process of x3" % KEYSPACE)

    def parse(path):
        m = JOURNAL.search(open(path).read())
        return None if not m else {"logged_per_s": float(m.group(1)), "logged_mb": float(m.group(2)),
                                   "per_s": float(m.group(3)), "mb": float(m.group(4))}
    lp = os.path.join(work, "storage-1.log")
    if run_logged(argv, lp, a.cap, env=env) != 0 or not parse(lp):
        raise PartFailed("bench_storage journal failed:\n" + tail(lp))
    res["single"] = parse(lp)
    ps, lps = [], []
    for i in range(3):
        lps.append(os.path.join(work, "storage-x3-%d.log" % i))
        ps.append(PROCS.start(argv, stdout=open(lps[-1], "wb"), stderr=subprocess.STDOUT, env=env))
    t0 = time.time()
    for p in ps:
        try:
            p.wait(timeout=max(1, a.cap - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            pass
        PROCS.stop(p)
    x3 = [parse(l) for l in lps]
    if not all(x3):
        raise PartFailed("bench_storage journal x3 failed:\n" + tail(lps[0]))
    res["x3"] = x3
    per = sorted(x["per_s"] for x in x3)
    # Each write needs one append + apply in each of the three stores: the
    # cluster can go no faster than the three stores go together.
    res["ceiling_per_s"] = per[1]
    res["single_div3_per_s"] = res["single"]["per_s"] / 3
    log("  journal (append + apply per write): one store %.0f/s (/3 = %.0f); three at once "
        "%.0f..%.0f/s each -> three-way ceiling %.0f writes/s" % (
            res["single"]["per_s"], res["single_div3_per_s"], per[0], per[2], per[1]))


def rk_escape(key):
    out = []
    for ch in key.encode():
        out.append(chr(ch) if 0x20 <= ch <= 0x7e and ch not in (0x5c, 0x2c) else "\\x%02x" % ch)
    return "".join(out)


def split_points():
    keys = ["counter:%012d" % (i * KEYSPACE // COUNTER_RANGES) for i in range(1, COUNTER_RANGES)]
    keys.append("key:")  # the counter tail and the key head apart
    keys += ["key:%012d" % (i * KEYSPACE // KEY_RANGES) for i in range(1, KEY_RANGES)]
    assert keys == sorted(keys)
    return keys


def http_get(host, path, timeout=5.0):
    with urllib.request.urlopen("http://%s%s" % (host, path), timeout=timeout) as r:
        return json.loads(r.read().decode())


def part_rangekv(a, work, res):
    if a.bin:
        b = a.bin
    else:
        b, why = build(a, work, "rangekv")
        if why:
            raise PartFailed(why)
    peer = lambda i: "127.0.0.%d:%d" % (i, RK_BASE + i)
    client = lambda i: ("127.0.0.%d" % i, RK_BASE + 10 + i)
    http = lambda i: "127.0.0.%d:%d" % (i, RK_BASE + 20 + i)
    for i in (1, 2, 3):
        for hp in (peer(i), "%s:%d" % client(i), http(i)):
            h, p = hp.rsplit(":", 1)
            if port_busy(h, int(p)):
                raise PartFailed("%s is already in use (another rangekv bench running?)" % hp)
    splits = split_points()
    nranges = len(splits) + 1
    res["ranges"] = nranges
    res["split_at"] = splits
    cluster = ",".join("%d=%s" % (i, peer(i)) for i in (1, 2, 3))
    procs, logs = {}, {}
    for i in (1, 2, 3):
        logs[i] = os.path.join(work, "rangekv-%d.log" % i)
        argv = [b, "start", "--node-id", str(i), "--data", os.path.join(work, "rk-d%d" % i),
                "--peer-addr", peer(i), "--client-addr", "%s:%d" % client(i),
                "--http-addr", http(i), "--initial-cluster", cluster,
                "--split-at", ",".join(rk_escape(k) for k in splits)] + NODE_FLAGS
        procs[i] = PROCS.start(argv, stdout=open(logs[i], "wb"), stderr=subprocess.STDOUT)
    res["argv_node1"] = procs[1].args
    pids = [procs[i].pid for i in (1, 2, 3)]

    def dead():
        for i in (1, 2, 3):
            if procs[i].poll() is not None:
                return "node %d exited with status %s:\n%s" % (i, procs[i].returncode, tail(logs[i]))
        return None

    try:
        # Every range led, on every node.
        t0 = time.time()
        why = "no answer from the HTTP API"
        while True:
            d = dead()
            if d:
                raise PartFailed(d)
            ok = True
            for i in (1, 2, 3):
                try:
                    rs = http_get(http(i), "/api/v1/ranges?limit=100000")["ranges"]
                except Exception as e:
                    ok, why = False, "node %d HTTP API: %s" % (i, e)
                    break
                led = sum(1 for r in rs if r.get("leader") is not None)
                if len(rs) != nranges or led != nranges:
                    ok, why = False, "node %d sees %d ranges, %d led (want %d)" % (
                        i, len(rs), led, nranges)
                    break
            if ok:
                break
            if time.time() - t0 > a.ready_timeout:
                raise PartFailed("not every range got a leader within %.0f s: %s" % (
                    a.ready_timeout, why))
            time.sleep(0.2)
        res["led_after_s"] = round(time.time() - t0, 2)
        # Leaders balanced (the contract: spread evenly).
        counts = {}
        while time.time() - t0 < a.ready_timeout:
            st = http_get(http(1), "/api/v1/cluster/status")
            counts = {n["id"]: n["leaders"] for n in st["nodes"]}
            if sum(counts.values()) == nranges and max(counts.values()) - min(counts.values()) <= 1:
                break
            time.sleep(0.2)
        else:
            res["warning"] = "leaders not balanced after %.0f s: %s" % (a.ready_timeout, counts)
            log("  WARNING: " + res["warning"])
        res["leaders"] = counts
        res["balanced_after_s"] = round(time.time() - t0, 2)
        log("  %d ranges, every one led after %.1f s, leaders per node %s after %.1f s" % (
            nranges, res["led_after_s"],
            "/".join(str(counts.get(i, 0)) for i in (1, 2, 3)), res["balanced_after_s"]))
        # The client port: PING on every node, a write and a read on node 1.
        bad = [w for w in (resp_probe(*client(i)) for i in (1, 2, 3)) if w]
        if bad:
            raise PartFailed("client port (RESP) not serving: " + "; ".join(bad))
        c = Resp(*client(1))
        try:
            r1 = c.call("SET", "rk-bench:probe", "1")
            r2 = c.call("GET", "rk-bench:probe")
        except socket.timeout:
            raise PartFailed("SET/GET on %s:%d: no reply within 5 s" % client(1))
        finally:
            c.close()
        if r1 != "OK" or r2 != b"1":
            raise PartFailed("SET/GET on %s:%d answered %r / %r" % (client(1) + (r1, r2)))
        run_suite("rangekv", [client(i) for i in (1, 2, 3)], pids, a, work, res)
        try:
            m = {}
            for i in (1, 2, 3):
                with urllib.request.urlopen("http://%s/metrics" % http(i), timeout=5) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith("rangekv_fsyncs_total "):
                            m[i] = float(line.split()[1])
            res["fsyncs_total"] = m
        except Exception:
            pass
        d = dead()
        if d:
            raise PartFailed(d)
    except PartFailed as e:
        res["node_log_tails"] = {i: tail(logs[i]) for i in (1, 2, 3)}
        raise
    finally:
        for i in (1, 2, 3):
            PROCS.stop(procs[i], wait=30)


def part_etcd(a, work, res):
    why = ref_ready(a, work)
    if why:
        raise PartFailed(why)
    for p in (23791, 23792, 23793, 23801, 23802, 23803):
        if port_busy("127.0.0.1", p):
            raise PartFailed("127.0.0.1:%d is already in use (another reference etcd running?)" % p)
    out = os.path.join(work, "etcd")
    base = os.path.join(work, "etcd-data")
    env = ref_env(a, REPS="1", BASE=base, RESULTS_DIR=out,
                  CS="1 256" if a.quick else "1 16 64 256")
    lp = os.path.join(work, "etcd.log")
    stop = lambda: run_logged(["bash", os.path.join(a.ref, "etcd-cluster.sh"), "stop"],
                              lp, 60, env=env)
    CLEANUPS.append(stop)
    # etcd-cluster.sh starts the members from etcd-bench.sh's process group:
    # stopping that group stops them too; `stop` then clears its pid files.
    with open(lp, "ab") as lf:
        p = PROCS.start(["bash", os.path.join(a.ref, "etcd-bench.sh")], stdout=lf,
                        stderr=subprocess.STDOUT, env=env)
        try:
            rc = p.wait(timeout=600 if a.quick else 1800)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            PROCS.stop(p)
            stop()
            CLEANUPS.remove(stop)
    runs = glob.glob(os.path.join(out, "etcd-*", "runs.csv"))
    if rc != 0 or not runs:
        raise PartFailed("etcd-bench.sh failed (rc %s):\n%s" % (rc, tail(lp)))
    rows = read_csv(runs[0])
    res["runs"] = rows
    res["clients"] = env["CS"]
    num = lambda r, k: float(r[k])
    ok = lambda r: int(float(r["errors"] or 0)) == 0 and float(r["req_per_s"] or 0) > 0
    puts = [r for r in rows if r["test"] in ("put", "put-all") and ok(r)]
    gets = [r for r in rows if r["test"] == "get-l" and ok(r)]
    one = [r for r in rows if r["test"] == "put" and r["clients"] == "1" and ok(r)]
    if not puts or not gets or not one:
        raise PartFailed("etcd-bench.sh produced no usable put/get-l/put c=1 rows:\n" + tail(lp))
    bp = max(puts, key=lambda r: num(r, "req_per_s"))
    bg = max(gets, key=lambda r: num(r, "req_per_s"))
    res.update(best_put_per_s=num(bp, "req_per_s"), best_put_at="%s c=%s" % (bp["test"], bp["clients"]),
               best_lin_read_per_s=num(bg, "req_per_s"), best_lin_read_at="c=%s" % bg["clients"],
               put_c1_p50_ms=num(one[0], "p50_ms"), put_c1_p99_ms=num(one[0], "p99_ms"),
               put_c1_per_s=num(one[0], "req_per_s"))
    log("  best put %.0f/s (%s), linearizable reads %.0f/s (%s), one client put p50 %.2f ms "
        "p99 %.2f ms" % (res["best_put_per_s"], res["best_put_at"], res["best_lin_read_per_s"],
                         res["best_lin_read_at"], res["put_c1_p50_ms"], res["put_c1_p99_ms"]))


def part_redis(a, work, res):
    if not shutil.which("redis-server"):
        why = ref_ready(a, work)
        if why:
            raise PartFailed(why)
    port = a.redis_port
    if port_busy("127.0.0.1", port):
        raise PartFailed("127.0.0.1:%d is already in use (--redis-port)" % port)
    d = os.path.join(work, "redis")
    os.makedirs(d)
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--daemonize", "no", "--logfile", os.path.join(work, "redis.log")]
    res["server_argv"] = argv
    p = PROCS.start(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while resp_probe("127.0.0.1", port, 1.0):
            if p.poll() is not None or time.time() - t0 > 10:
                raise PartFailed("redis-server did not start:\n" + tail(os.path.join(work, "redis.log")))
            time.sleep(0.1)
        run_suite("redis", [("127.0.0.1", port)], [p.pid], a, work, res)
    finally:
        PROCS.stop(p)


# ---- summary -----------------------------------------------------------------------

def fmt(x, unit=""):
    if x is None:
        return "-"
    if unit == "ms":
        return "%.2f" % x
    return "{:,.0f}".format(x)


def ratio(x, y):
    return "-" if x is None or y in (None, 0) else "%.2f" % (x / y)


def summarize(R):
    rk = R.get("rangekv", {}).get("tests", {})
    rd = R.get("redis", {}).get("tests", {})
    et = R.get("etcd", {})
    fl = R.get("floor", {})
    st = R.get("storage", {})
    g = lambda t, n, k: t.get(n, {}).get(k)
    ceil = st.get("ceiling_per_s")
    rows = []

    def row(what, rkv, etv, rdv, ref, ret=None, rce=None):
        rows.append([what, rkv, etv, rdv, ref, ret or "-", rce or "-"])

    w = g(rk, "set_p16", "rps")
    row("writes/s: SET, 50 clients x 16 pipelined", fmt(w),
        fmt(et.get("best_put_per_s")) + ("" if not et.get("best_put_at") else " (%s)" % et["best_put_at"]),
        fmt(g(rd, "set_p16", "rps")), "-" if ceil is None else "ceiling " + fmt(ceil),
        ratio(w, et.get("best_put_per_s")), ratio(w, ceil))
    if g(rk, "set_p16_spread", "rps"):
        w2 = g(rk, "set_p16_spread", "rps")
        row("  the same spread over the 3 nodes", fmt(w2), "", "", "",
            ratio(w2, et.get("best_put_per_s")), ratio(w2, ceil))
    p50, p99 = g(rk, "set_c1", "p50_ms"), g(rk, "set_c1", "p99_ms")
    pair = lambda x, y: "-" if x is None else "%s / %s" % (fmt(x, "ms"), fmt(y, "ms"))
    fx = lambda k: None if fl.get(k) is None else fl[k] / 1000
    row("write latency ms p50 / p99: 1 client", pair(p50, p99),
        pair(et.get("put_c1_p50_ms"), et.get("put_c1_p99_ms")),
        pair(g(rd, "set_c1", "p50_ms"), g(rd, "set_c1", "p99_ms")),
        "-" if fx("fdatasync_x3_p50_us") is None else
        "fdatasync x3 " + pair(fx("fdatasync_x3_p50_us"), fx("fdatasync_x3_p99_us")),
        None if p50 is None else "%s / %s" % (ratio(p50, et.get("put_c1_p50_ms")),
                                              ratio(p99, et.get("put_c1_p99_ms"))))
    row("  loopback TCP round trip p50 / p99", "", "", "",
        "-" if fx("tcp_rtt_p50_us") is None else
        "RTT " + pair(fx("tcp_rtt_p50_us"), fx("tcp_rtt_p99_us")))
    r = g(rk, "get_p16", "rps")
    row("linearizable reads/s: GET, 50 x 16", fmt(r),
        fmt(et.get("best_lin_read_per_s")) + ("" if not et.get("best_lin_read_at") else
                                              " (%s)" % et["best_lin_read_at"]),
        fmt(g(rd, "get_p16", "rps")), "", ratio(r, et.get("best_lin_read_per_s")))
    i = g(rk, "incr_p16", "rps")
    row("INCR/s, random keys, 50 x 16", fmt(i), "", fmt(g(rd, "incr_p16", "rps")), "", None,
        ratio(i, ceil))
    row("INCR/s, one key, 50 x 16", fmt(g(rk, "incr1_p16", "rps")), "",
        fmt(g(rd, "incr1_p16", "rps")), "")
    row("SEQ.NEXT/s, one sequence, 50 x 16", fmt(g(rk, "seq_p16", "rps")), "",
        fmt(g(rd, "seq_p16", "rps")) + (" (INCR)" if g(rd, "seq_p16", "rps") else ""), "")
    mk = lambda t: None if g(t, "mset_p16", "rps") is None else g(t, "mset_p16", "rps") * 10
    row("MSET keys/s (10 per command), 50 x 16", fmt(mk(rk)), "", fmt(mk(rd)), "", None,
        ratio(mk(rk), ceil))
    hdr = ["", "rangekv", "etcd 3.4", "Redis always", "floor / ceiling", "rk/etcd", "rk/ceiling"]
    wid = [max(len(str(x[c])) for x in rows + [hdr]) for c in range(len(hdr))]
    lines = ["  ".join(str(x[c]).ljust(wid[c]) if c == 0 else str(x[c]).rjust(wid[c])
                       for c in range(len(hdr))) for x in [hdr] + rows]
    lines.insert(1, "-" * len(lines[0]))
    return rows, hdr, lines


# ---- main --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer requests: a smoke test")
    ap.add_argument("--out", default="/tmp/rk-client-bench.json", help="raw results (JSON)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma list of " + ",".join(PARTS))
    ap.add_argument("--spread", action="store_true",
                    help="also run each pipelined test spread over the three rangekv nodes")
    ap.add_argument("--no-build", action="store_true", help="use the binaries in --build-dir as they are")
    ap.add_argument("--bin", help="rangekv binary to run (no build)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--build-type", default="Release")
    ap.add_argument("--ref", default=os.path.join(ROOT, "scripts", "bench", "ref"),
                    help="the reference scripts (etcd, Redis, floors)")
    ap.add_argument("--ref-bin", default=os.environ.get("RK_REF_BIN", os.path.join(ROOT, "build", "bench-ref")),
                    help="where ref/setup.sh builds the reference tools")
    ap.add_argument("--redis-port", type=int, default=26389)
    ap.add_argument("--stall", type=float, default=15.0,
                    help="seconds without a completed request before a redis-benchmark run is killed")
    ap.add_argument("--cap", type=float, default=None, help="hard limit per run, seconds")
    ap.add_argument("--ready-timeout", type=float, default=60.0,
                    help="seconds for every range to be led and the leaders balanced")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    ap.add_argument("--node-flags", default="",
                    help="more flags for every rangekv node, one string "
                    "(e.g. --node-flags='--key-table lsm')")
    a = ap.parse_args()
    NODE_FLAGS.extend(a.node_flags.split())
    a.configured = False
    a.cap = a.cap or (300.0 if a.quick else 1200.0)
    parts = [p for p in a.parts.split(",") if p]
    for p in parts:
        if p not in PARTS:
            ap.error("unknown part %r" % p)
    # SIGINT too: a shell may start this with SIGINT ignored (in the
    # background), and the cleanup must still run when it is sent.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    work = tempfile.mkdtemp(prefix="rk-client-bench-")
    R = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "machine": {"cores": os.cpu_count(), "cpu": platform.processor(),
                     "kernel": platform.release()},
         "quick": a.quick, "parts": parts, "work": work}
    try:
        R["machine"]["cpu"] = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                                             capture_output=True, text=True).stdout.strip()
        R["machine"]["tmp_fs"] = subprocess.run(["sh", "-c", "df -P %s | awk 'NR==2{print $1}'" % work],
                                                capture_output=True, text=True).stdout.strip()
        R["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                  capture_output=True, text=True).stdout.strip()
        R["redis_benchmark"] = subprocess.run(["redis-benchmark", "--version"],
                                              capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    log("# %s %d cores, %s, work dir %s on %s, rangekv %s%s" % (
        R["date"], os.cpu_count(), R["machine"]["cpu"], work, R["machine"].get("tmp_fs"),
        R.get("git"), " (quick)" if a.quick else ""))
    fn = {"floor": part_floor, "storage": part_storage, "rangekv": part_rangekv,
          "etcd": part_etcd, "redis": part_redis}
    failed = []
    interrupted = False
    try:
        for p in parts:
            log("## %s" % p)
            res = R.setdefault(p, {})
            t0 = time.time()
            try:
                fn[p](a, work, res)
                res["ok"] = True
            except PartFailed as e:
                res["ok"] = False
                res["error"] = str(e)
                failed.append(p)
                log("  %s FAILED: %s" % (p, e))
            except Exception as e:  # a bug or an odd answer: the other parts still run
                res["ok"] = False
                res["error"] = "%s: %s" % (type(e).__name__, e)
                res["traceback"] = traceback.format_exc()
                failed.append(p)
                log("  %s FAILED: %s" % (p, res["error"]))
            if res.get("checks_failed"):
                failed.append(p)
                log("  %s: a sanity check failed in %s" % (p, ", ".join(res["checks_failed"])))
            res["wall_s"] = round(time.time() - t0, 1)
    except KeyboardInterrupt:
        interrupted = True
        R["interrupted"] = True
        log("\ninterrupted: stopping everything started")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        PROCS.stop_all()
        for c in list(CLEANUPS):
            try:
                c()
            except Exception:
                pass
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows, hdr, lines = summarize(R)
    R["summary"] = {"header": hdr, "rows": rows}
    with open(a.out, "w") as f:
        json.dump(R, f, indent=1, default=str)
    log("\n" + "\n".join(lines))
    log("\nrangekv/etcd and rangekv/ceiling are ratios of rates (of latencies in the latency row);"
        "\nthe ceiling is three stores doing one append + one apply per write at once.")
    if failed:
        log("failed: %s (see %s%s)" % (", ".join(failed), a.out, "" if not a.keep else ", " + work))
    log("raw results: %s%s" % (a.out, "" if not a.keep else "; work dir kept: " + work))
    return 130 if interrupted else (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
