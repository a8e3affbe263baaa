#!/usr/bin/env python3
"""Backpressure: a store that falls behind makes clients wait instead of the
node's memory growing. One real node whose storage thread sleeps
DELAY_MS before every group commit (the test hook
RANGEKV_TEST_STORE_DELAY_MS) takes CLIENTS connections that each pipeline
PIPELINE SETs of VALUE_LEN-byte values at once (about 100 MB offered, far
more than --client-inflight-bytes). Checks: the node's resident memory,
sampled throughout, stays under RSS_LIMIT_MB; admission stopped reading
(rangekv_client_throttled_total); every command is answered (OK, or
-TRYAGAIN/-TIMEOUT per the contract); every acknowledged write reads back
with its value. With --client-inflight-bytes 0 (no bound) the same load
takes the node past the limit: `backpressure_test.py rangekv --unbounded`
shows it, and is expected to fail.

    backpressure_test.py path/to/rangekv [--unbounded]
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402
from resp import Conn, Err, encode  # noqa: E402

DELAY_MS = 100
CLIENTS = 24
PIPELINE = 500
VALUE_LEN = 8192
INFLIGHT = "4MiB"
RSS_LIMIT_MB = 260
# Sanitizers multiply memory: the bound is checked in plain builds only.
SANITIZED = os.environ.get("RK_SANITIZED_RUN") == "1"


def fail(msg):
    print("backpressure_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def metric(name):
    import urllib.request
    with urllib.request.urlopen("http://%s/metrics" % fc.http_addr(1), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    fail("no metric " + name)


def value(c, k):
    head = b"%02d-%05d|" % (c, k)
    return (head * (VALUE_LEN // len(head) + 1))[:VALUE_LEN]


class Client(threading.Thread):
    """Sends its whole pipeline at once, then reads every answer."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c, self.acked, self.other, self.error = c, [], [], None
        self.latency = 0.0

    def run(self):
        try:
            conn = Conn(fc.client_addr(1), timeout=120)
            t0 = time.monotonic()
            conn.sock.sendall(b"".join(encode("SET", b"bp%02d-%05d" % (self.c, k),
                                              value(self.c, k)) for k in range(PIPELINE)))
            for k in range(PIPELINE):
                r = conn._reply()
                if r == "OK":
                    self.acked.append(k)
                elif isinstance(r, Err) and r.kind() in ("TRYAGAIN", "TIMEOUT"):
                    self.other.append(r.kind())
                else:
                    self.error = "answer %r to SET %d" % (r, k)
                    break
            self.latency = time.monotonic() - t0
            conn.close()
        except (OSError, EOFError) as e:
            self.error = "connection: %r" % e


def main():
    binary = sys.argv[1]
    unbounded = "--unbounded" in sys.argv[2:]
    tmp = tempfile.mkdtemp(prefix="rk-backpressure-")
    c = fc.Cluster(binary, tmp, nodes=(1,), extra_flags=[
        "--cache-mb", "128",
        "--client-inflight-bytes", "0" if unbounded else INFLIGHT],
        env={"RANGEKV_TEST_HOOKS": "1", "RANGEKV_TEST_STORE_DELAY_MS": str(DELAY_MS)})
    ok = False
    try:
        c.start_all()
        until = time.monotonic() + 30
        while not c.all_led((1,)):
            if time.monotonic() > until:
                fail("the node did not lead its ranges")
            time.sleep(0.1)
        pid = c.procs[1].pid
        base = rss_mb(pid)
        clients = [Client(i) for i in range(CLIENTS)]
        t0 = time.monotonic()
        for cl in clients:
            cl.start()
        peak = base
        while any(cl.is_alive() for cl in clients):
            peak = max(peak, rss_mb(pid))
            if time.monotonic() - t0 > 240:
                fail("the clients were not answered in 240 s")
            time.sleep(0.02)
        secs = time.monotonic() - t0
        for cl in clients:
            if cl.error is not None:
                fail("client %d: %s" % (cl.c, cl.error))
        acked = sum(len(cl.acked) for cl in clients)
        other = sum(len(cl.other) for cl in clients)
        throttled = metric("rangekv_client_throttled_total")
        print("backpressure_test: %d SETs of %d bytes in %.1f s: %d OK, %d TRYAGAIN/TIMEOUT; "
              "RSS %.0f MB at start, peak %.0f MB (limit %d); admission stopped %d times" %
              (CLIENTS * PIPELINE, VALUE_LEN, secs, acked, other, base, peak,
               RSS_LIMIT_MB, throttled), flush=True)
        if not SANITIZED and peak > RSS_LIMIT_MB:
            fail("the node's memory grew to %.0f MB under a slow store" % peak)
        if not unbounded and throttled < 1:
            fail("admission never stopped reading: the test tested nothing")
        if acked < CLIENTS * PIPELINE // 2:
            fail("only %d of %d writes acknowledged" % (acked, CLIENTS * PIPELINE))
        # Nothing acknowledged is lost.
        conn = Conn(fc.client_addr(1), timeout=60)
        for cl in clients:
            conn.sock.sendall(b"".join(encode("GET", b"bp%02d-%05d" % (cl.c, k))
                                       for k in cl.acked))
            for k in cl.acked:
                if conn._reply() != value(cl.c, k):
                    fail("the acknowledged SET bp%02d-%05d reads back otherwise" % (cl.c, k))
        conn.close()
        ok = True
    finally:
        if not ok:
            print("node 1:\n%s" % "".join(c.log_tail(1, 20)))
        ok = c.finish(ok, "backpressure_test")
    if not ok:
        sys.exit(1)
    print("backpressure_test: ok")


if __name__ == "__main__":
    main()
