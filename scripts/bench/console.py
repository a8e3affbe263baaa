#!/usr/bin/env python3
"""The web console and `rangekv ranges` against one node holding many
ranges (docs/benchmarks.md, "Range inspection at 100,000 ranges").

    scripts/bench/console.py build/src/cli/rangekv [--ranges 100000] [--runs 3]

Starts one node with --ranges N in a temporary directory, waits until it
leads every range, then measures, --runs times each:

  - the calls the console's first view makes, timed one by one;
  - the console's time to first table: headless Chromium loads GET / and
    dumps the DOM once the first fetches are answered and drawn (a
    virtual-time budget of 100 ms: virtual time stops while a fetch is
    out); the run is timed against the same run loading a plain file, the
    difference being the page's own work. The page also records
    data-first-table-ms (its clock, virtual here, so indicative only);
  - `rangekv ranges --limit 50` and `rangekv ranges` (every range);

and the node's resident memory (VmRSS, and VmHWM, its peak) before and
after. Prints one line per figure.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(("VmRSS:", "VmHWM:")):
                out[ln.split(":")[0]] = int(ln.split()[1]) // 1024
    return "RSS %d MB (peak %d MB)" % (out["VmRSS"], out["VmHWM"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--ranges", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("console.py: no chromium (scripts/setup.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="rk-bench-console-")
    peer, client, http = free_port(), free_port(), free_port()
    log = open(os.path.join(tmp, "log"), "w")
    node = subprocess.Popen([a.bin, "start", "--node-id", "1", "--data", os.path.join(tmp, "d"),
                             "--peer-addr", "127.0.0.1:%d" % peer,
                             "--client-addr", "127.0.0.1:%d" % client,
                             "--http-addr", "127.0.0.1:%d" % http,
                             "--initial-cluster", "1=127.0.0.1:%d" % peer,
                             "--ranges", str(a.ranges)], stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % http
    try:
        t0 = time.time()
        while True:
            try:
                with urllib.request.urlopen(base + "/api/v1/ranges?sort=size&limit=1",
                                            timeout=30) as r:
                    t = json.loads(r.read())["totals"]
                if t["ranges"] == a.ranges and t["leaders"] == a.ranges:
                    break
            except OSError:
                pass
            if node.poll() is not None:
                sys.exit("console.py: the node exited; see %s/log" % tmp)
            time.sleep(0.5)
        print("node up, leading %d ranges, after %.1f s; %s" % (a.ranges, time.time() - t0,
                                                                mem(node.pid)))
        time.sleep(5)
        print("idle: %s" % mem(node.pid))
        calls = ["/", "/console.js", "/api/v1/ranges?limit=50", "/api/v1/cluster/status",
                 "/api/v1/ranges?sort=writes&limit=5", "/metrics"]
        for path in calls:
            best = None
            for k in range(a.runs):
                t1 = time.time()
                with urllib.request.urlopen(base + path, timeout=60) as r:
                    n = len(r.read())
                dt = time.time() - t1
                best = dt if best is None or dt < best else best
            print("GET %s: %.1f ms (best of %d), %d bytes" % (path, best * 1000, a.runs, n))
        for k in range(a.runs):
            walls = {}
            for what, path in (("blank", "/console.css"), ("console", "/")):
                t1 = time.time()
                p = subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                                    "--no-first-run", "--disable-extensions",
                                    "--user-data-dir=" + os.path.join(tmp, "chromium%d" % k),
                                    "--virtual-time-budget=100", "--dump-dom", base + path],
                                   capture_output=True, timeout=120)
                walls[what] = time.time() - t1
            m = re.search(rb'data-first-table-ms="(\d+)"', p.stdout)
            rows = p.stdout.count(b"<tr data-range=")
            print("console run %d: %d rows drawn, chromium %.2f s for the console, %.2f s for "
                  "a plain file (difference %.2f s), page's own clock %s ms; %s" %
                  (k + 1, rows, walls["console"], walls["blank"],
                   walls["console"] - walls["blank"], m.group(1).decode() if m else "-",
                   mem(node.pid)))
        for args in (["--limit", "50"], []):
            for k in range(a.runs):
                t1 = time.time()
                p = subprocess.run([a.bin, "ranges", "--http", "127.0.0.1:%d" % http] + args,
                                   capture_output=True, timeout=300)
                print("rangekv ranges %s: %.3f s, %d lines, exit %d; %s" %
                      (" ".join(args), time.time() - t1, p.stdout.count(b"\n"), p.returncode,
                       mem(node.pid)))
    finally:
        node.terminate()
        node.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
