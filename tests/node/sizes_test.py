#!/usr/bin/env python3
"""Range sizes of sleeping replicas (src/node/size.h), on real rangekv
processes (127.0.0.1-3, 40 ranges, --tick-ms 50, ports 20980-20988):

- 400 keys of 1,000-byte values written through node 1; every node's
  listing of its own replicas (/api/v1/ranges?node=N) sums to the exact
  bytes of the keys and values;
- once every node has scanned the quiet range again (its figure settled,
  so it leaves the sleepers' watch list), the same keys written again: a
  plain SET counts as a new key (it does not read the value it
  replaces), so the figures grow past the data; the range goes to sleep,
  and within SETTLE_S every node's figures are exact again: the scan that
  corrects them runs once a range has been quiet for RK_SIZE_MIN_AGE_S
  (10 s), when it sleeps, so only its noting as it went to sleep finds it
  (seen failing with that left out, rk_size_note_sleep in quiesce.c: the
  figures stayed twice the data, for RK_SIZE_MAX_AGE_S, 10 minutes);
- every node stopped and started again: the figures, unknown at the
  start, come back exact within SETTLE_S.

    sizes_test.py path/to/rangekv
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 20980
RANGES = 40
KEYS = 400
VALUE = 1000
SETTLE_S = 40 if os.environ.get("RK_SANITIZED_RUN") else 30


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i - 1)


def fail(msg):
    print("sizes_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


def get(i, path):
    try:
        with urllib.request.urlopen("http://%s%s" % (addr(i, 2), path), timeout=5) as r:
            return json.loads(r.read().decode())
    except (OSError, ValueError):
        return None


def resp(i, *args):
    host, port = addr(i, 1).split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"*%d\r\n" % len(args) +
                      b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
            return s.recv(100)
    except OSError:
        return None


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.cl = ",".join("%d=%s" % (i, addr(i, 0)) for i in (1, 2, 3))
        self.procs = {}

    def start_all(self):
        for i in (1, 2, 3):
            log = open(os.path.join(self.tmp, "log%d" % i), "a")
            self.procs[i] = subprocess.Popen(
                [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
                 "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1),
                 "--http-addr", addr(i, 2), "--initial-cluster", self.cl,
                 "--ranges", str(RANGES), "--tick-ms", "50", "--split-size", "0"],
                stdout=log, stderr=log)

    def stop_all(self):
        ok = spans.stop_procs(self.procs, self.tmp, 30)
        self.procs = {}
        return ok


def totals():
    """Each node's sum of its replicas' size_bytes (None: no answer)."""
    out = {}
    for i in (1, 2, 3):
        x = get(i, "/api/v1/ranges?node=%d&limit=1000" % i)
        out[i] = sum(r.get("size_bytes") or 0 for r in x["ranges"]) if x else None
    return out


def metric(i, name):
    return spans.metric(addr(i, 2), name, timeout=5)


def wait_for(what, cond, timeout):
    """Seconds until cond() holds (spans.wait), else fail."""
    t0 = time.time()
    spans.wait(what, cond, timeout, fail, step=0.2)
    return time.time() - t0


def wait_exact(what, want):
    t0 = time.time()
    while time.time() - t0 < SETTLE_S:
        t = totals()
        if all(v == want for v in t.values()):
            print("%s: every node's figures exact (%d bytes) after %.1f s" %
                  (what, want, time.time() - t0), flush=True)
            return
        time.sleep(0.5)
    fail("%s: the figures are %s, not %d, after %d s" % (what, t, want, SETTLE_S))


def write(keys):
    for k in keys:
        t0 = time.time()
        while resp(1, b"SET", k, b"v" * VALUE) != b"+OK\r\n":
            if time.time() - t0 > 20:
                fail("SET %r not answered OK within 20 s" % k)
            time.sleep(0.1)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-sizes-")
    c = Cluster(tmp)
    ok = False
    try:
        c.start_all()
        t0 = time.time()
        while time.time() - t0 < 30:
            ls = [get(i, "/api/v1/ranges?node=%d&limit=1000" % i) for i in (1, 2, 3)]
            if all(x and len(x["ranges"]) == RANGES and all(r["leader"] for r in x["ranges"])
                   for x in ls):
                break
            time.sleep(0.2)
        # Every range's first scan (its size unknown at the start) done
        # before the writes: a scan racing them could leave nothing to
        # scan again once they stop.
        wait_for("every range's first scan", lambda: all(
            (metric(i, "rangekv_range_size_measurements_total") or 0) >= RANGES
            for i in (1, 2, 3)), SETTLE_S)
        keys = [b"sz-%013d" % (k * 7919) for k in range(KEYS)]
        want = KEYS * (len(keys[0]) + VALUE)
        write(keys)
        wait_exact("written", want)
        scans = {i: metric(i, "rangekv_range_size_measurements_total") for i in (1, 2, 3)}
        took = wait_for("the quiet range scanned again on every node", lambda: all(
            (metric(i, "rangekv_range_size_measurements_total") or 0) > scans[i]
            for i in (1, 2, 3)), SETTLE_S)
        print("the quiet range scanned again on every node after %.1f s" % took, flush=True)
        time.sleep(2.5)  # two refreshes: the settled range leaves the watch list
        write(keys)
        grown = totals()
        if not all(v is not None and v > want for v in grown.values()):
            fail("written again, the figures did not count the SETs as new keys: %s" % grown)
        print("written again: %s (the SETs counted as new keys)" % grown, flush=True)
        wait_for("every range asleep", lambda: all(
            metric(i, "rangekv_ranges_awake") == 0 for i in (1, 2, 3)), 10)
        wait_exact("quiet", want)
        if not c.stop_all():
            fail("a node did not stop cleanly")
        c.start_all()
        wait_exact("restarted", want)
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
    finally:
        c.stop_all()
        if ok and not os.environ.get("RK_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    print("sizes_test: ok")


if __name__ == "__main__":
    main()
