#!/usr/bin/env python3
"""The reference beside large.py's GET figures: Redis with the same data.

  scripts/bench/large_redis.py --gb N [--port 28200] [--out JSON]

large.py compares random GETs over N GB of 1,000-byte values (data far
beyond rangekv's cache) with GETs over 10,000 keys. Part of that ratio is
the machine's, not rangekv's: a random read of a large data set misses the
CPU's caches and TLB wherever the data lives. This measures the same
ratio for Redis, which keeps everything in memory in a hash table (the
cheapest random read there is), on the same machine:

 1. redis-server (Debian's; installed with apt-get if missing) on
    127.0.0.1:PORT, persistence off, in a temporary directory;
 2. 10,000 keys of 1,000 bytes (the form large.py and redis-benchmark
    use, key:000000000000..), then the rate of random GETs 50 x 16
    (redis-benchmark -t get -r 10000): the median of 3 rounds of 400,000;
 3. the other keys up to N GB (int(N * 1e9 / 1016) keys, as large.py
    counts them), random bytes, through redis-cli --pipe;
 4. random GETs 50 x 16 over all the keys, measured the same way.

Prints both rates and their ratio (large.py's "GET beyond the cache /
small data" for Redis); --out keeps them as JSON. Redis holds N GB in
memory: the machine needs N GB free and more. Run it beside large.py in
the same hour (docs/benchmarks.md), not at the same time.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

VALUE = 1000
ROUNDS = 3
GETS = 400000


def need_redis():
    if shutil.which("redis-server") and shutil.which("redis-benchmark"):
        return
    subprocess.run(["apt-get", "install", "-y", "-q", "redis-server", "redis-tools"],
                   check=True, stdout=subprocess.DEVNULL)


def get_rate(port, keys):
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "get",
                          "-r", str(keys), "-n", str(GETS), "-c", "50", "-P", "16", "-q"],
                         check=True, capture_output=True, text=True).stdout
    # "GET: 123456.79 requests per second, p50=... msec"
    return round(float(out.replace("\r", "\n").strip().splitlines()[-1]
                       .split(":")[1].split()[0]))


def steady(port, keys):
    rounds = [get_rate(port, keys) for _ in range(ROUNDS)]
    return sorted(rounds)[len(rounds) // 2], rounds


def load(port, lo, hi):
    """SETs of keys lo..hi-1 through redis-cli --pipe, random values."""
    p = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    noise = os.urandom(1 << 24)
    off = 0
    head = b"*3\r\n$3\r\nSET\r\n$16\r\n"
    tail = b"\r\n$%d\r\n" % VALUE
    batch = []
    for k in range(lo, hi):
        if off + VALUE > len(noise):
            off = k % 4096
        batch.append(head + b"key:%012d" % k + tail + noise[off:off + VALUE] + b"\r\n")
        off += 4099
        if len(batch) == 4096:
            p.stdin.write(b"".join(batch))
            batch = []
    p.stdin.write(b"".join(batch))
    p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    if p.wait() != 0 or "errors: 0" not in out:
        sys.exit("large_redis.py: loading keys %d..%d failed:\n%s" % (lo, hi, out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, required=True)
    ap.add_argument("--port", type=int, default=28200)
    ap.add_argument("--out")
    a = ap.parse_args()
    need_redis()
    n = int(a.gb * 1e9 / (VALUE + 16))
    tmp = tempfile.mkdtemp(prefix="rk-large-redis-")
    srv = subprocess.Popen(["redis-server", "--port", str(a.port), "--bind", "127.0.0.1",
                            "--dir", tmp, "--save", "", "--appendonly", "no",
                            "--logfile", os.path.join(tmp, "redis.log")])
    R = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "machine": "%s, %d CPUs" % (platform.node(), os.cpu_count()), "gb": a.gb, "keys": n}
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(a.port), "ping"], capture_output=True,
                              text=True).stdout.strip() == "PONG":
                break
            time.sleep(0.1)
        load(a.port, 0, 10000)
        R["get_small"], R["get_small_rounds"] = steady(a.port, 10000)
        print("small data: GET 50x16 %d/s (the median of %s)" %
              (R["get_small"], ", ".join(map(str, R["get_small_rounds"]))), flush=True)
        t0 = time.monotonic()
        load(a.port, 10000, n)
        R["load_s"] = round(time.monotonic() - t0, 1)
        info = subprocess.run(["redis-cli", "-p", str(a.port), "info", "memory"],
                              capture_output=True, text=True).stdout
        R["used_memory"] = int(next(ln.split(":")[1] for ln in info.splitlines()
                                    if ln.startswith("used_memory:")))
        print("loaded %d keys in %.0f s; Redis holds %.1f GB" %
              (n, R["load_s"], R["used_memory"] / 1e9), flush=True)
        R["get_large"], R["get_large_rounds"] = steady(a.port, n)
        R["ratio"] = round(R["get_large"] / R["get_small"], 2)
        print("large data: GET 50x16 %d/s (the median of %s): %.2f of the small data's" %
              (R["get_large"], ", ".join(map(str, R["get_large_rounds"])), R["ratio"]),
              flush=True)
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if a.out:
            with open(a.out, "w") as f:
                json.dump(R, f, indent=1)


if __name__ == "__main__":
    main()
