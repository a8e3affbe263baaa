#!/usr/bin/env python3
"""A read waiting on a slow store holds up nobody else. One real node whose
reads of keys beginning with "slow:" wait DELAY_MS on their reader thread
(the test hook RANGEKV_TEST_READ_DELAY_MS: a read of a page not in the
storage cache). While connection A waits for GET slow:a, connection B
writes and reads other keys: all of B's commands must be answered before
A's GET is (reads of the key table run off the event loop, docs/node.md
"A turn"). A's pipeline behind its slow GET is answered in request order,
and every answer is the value written.

    slowread_test.py path/to/rangekv
"""
import os
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402
from resp import Conn, encode  # noqa: E402

# This test's own port band (tests/node/cluster_test.py explains the bands).
fc.BASE = 10000 + (os.getpid() % 90) * 10
# Without reader threads not one of B's commands is answered before A's
# GET, so a few rounds tell; the delay leaves room for a loaded machine and
# sanitizers (each of B's round trips may take 100 ms there).
SANITIZED = os.environ.get("RK_SANITIZED_RUN") == "1"
DELAY_MS = 12000 if SANITIZED else 6000
ROUNDS = 10


def fail(msg):
    print("slowread_test: FAIL: " + msg, flush=True)
    sys.exit(1)


class Slow(threading.Thread):
    """Connection A: GET slow:a, then (pipelined behind it) a write and
    a cached read."""

    def __init__(self):
        super().__init__(daemon=True)
        self.replies, self.answered, self.error = [], None, None

    def run(self):
        try:
            conn = Conn(fc.client_addr(1), timeout=60)
            conn.sock.sendall(encode("GET", "slow:a") + encode("SET", "fast:after", "3") +
                              encode("GET", "fast:b"))
            self.replies.append(conn._reply())
            self.answered = time.monotonic()
            self.replies.append(conn._reply())
            self.replies.append(conn._reply())
            conn.close()
        except (OSError, EOFError) as e:
            self.error = "connection A: %r" % e


def metric(name):
    url = "http://%s/metrics" % fc.http_addr(1)
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
    fail("/metrics has no %s" % name)


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="rk-slowread-")
    # The slow read must end within the request deadline.
    c = fc.Cluster(binary, tmp, nodes=(1,), extra_flags=["--request-timeout", "60000"], env={
        "RANGEKV_TEST_HOOKS": "1", "RANGEKV_TEST_READ_DELAY_MS": str(DELAY_MS),
        "RANGEKV_TEST_READ_DELAY_PREFIX": "slow:"})
    ok = False
    try:
        c.start_all()
        until = time.monotonic() + 30
        while not c.all_led((1,)):
            if time.monotonic() > until:
                fail("the node did not lead its ranges")
            time.sleep(0.1)
        b = Conn(fc.client_addr(1), timeout=60)
        for k, v in ((b"slow:a", b"1"), (b"fast:b", b"2")):
            if b.call("SET", k, v) != "OK":
                fail("SET %r" % k)
        a = Slow()
        t0 = time.monotonic()
        a.start()
        time.sleep(0.3)  # A's GET is on its reader thread by now
        for i in range(ROUNDS):
            k = b"fast:%d" % i
            if b.call("SET", k, b"v%d" % i) != "OK":
                fail("SET %r while a read waited" % k)
            if b.call("GET", k) != b"v%d" % i:
                fail("GET %r while a read waited" % k)
            if b.call("MGET", "fast:b", k) != [b"2", b"v%d" % i]:
                fail("MGET while a read waited")
        b_done = time.monotonic()
        b.close()
        # The slow GET is still on its thread: counted in flight.
        waiting = metric("rangekv_reads_off_loop_in_flight")
        handed = metric("rangekv_reads_off_loop_total")
        if waiting < 1 or handed < ROUNDS * 2:
            fail("/metrics: %d reads in flight (the slow one waits), %d handed off (at "
                 "least %d)" % (waiting, handed, ROUNDS * 2))
        a.join(DELAY_MS / 1000 + 60)
        if a.error is not None:
            fail(a.error)
        if a.answered is None:
            fail("A's slow GET was never answered")
        print("slowread_test: B's %d SET+GET+MGET rounds done after %.2f s; "
              "A's slow GET answered after %.2f s (its read waits %.1f s)" %
              (ROUNDS, b_done - t0, a.answered - t0, DELAY_MS / 1000), flush=True)
        if a.replies != [b"1", "OK", b"2"]:
            fail("A's pipeline answered %r, not in request order or wrong" % a.replies)
        # Every read handed off is answered, and the router's resends of the
        # slow GET (after 1 s unanswered) were dropped while its first copy
        # waited, not read again on other threads.
        waiting = metric("rangekv_reads_off_loop_in_flight")
        dropped = metric("rangekv_reads_resent_dropped_total")
        if waiting != 0:
            fail("/metrics: %d reads still in flight once every one was answered" % waiting)
        if dropped < 1:
            fail("/metrics: no resent copy of the slow read was dropped")
        if a.answered - t0 < DELAY_MS / 1000:
            fail("the slow read was not slowed: the test tested nothing")
        if b_done >= a.answered:
            fail("the other connection's commands waited for the slow read")
        ok = True
    finally:
        if not ok:
            print("node 1:\n%s" % "".join(c.log_tail(1, 20)))
        ok = c.finish(ok, "slowread_test")
    if not ok:
        sys.exit(1)
    print("slowread_test: ok")


if __name__ == "__main__":
    main()
