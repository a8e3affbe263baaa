#!/usr/bin/env python3
"""A GET through a node that does not lead the key's range is answered
within a round trip, not at the leader's next tick. Three real nodes with
a long tick (TICK_MS); keys of one range written through its leader, then
read one at a time through each of the other two nodes (the router
forwards every GET to the leader, whose reader thread reads the key):
at most SLOW_MAX of them may take half a tick or more.

Why it matters: the reader threads hand their answers back to the loop
(src/node/reads.c), which put the forwarded ones in the peers' batches;
with nothing else to flush them (an idle range, a lease read) they left
at the next tick. Here 80-124 of the 200 GETs took half a tick or more;
node_member_calls' read-back of 1,757 keys through a node just restarted
took 64 s (a 50 ms tick for 70% of them); with more keys and a loaded
machine's late ticks, that is ctest's 300 s timeout.

    fwdread_test.py path/to/rangekv
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402  (its own port block, claimed by a lock)
from resp import Conn  # noqa: E402

# A long tick, so that a wait for it stands far above a loaded machine's
# (or a sanitizer's) round trip: half a tick is the line.
TICK_MS = 200
fc.TICK_MS = TICK_MS
KEYS = 200
# Without the flush 40-60% of the reads waited for the tick; with it none
# should: a few are left to a stalled machine.
SLOW_MAX = 10


def fail(msg):
    print("fwdread_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-fwdread-")
    c = fc.Cluster(sys.argv[1], tmp)
    ok = False
    try:
        c.start_all()
        c.wait_all_led(timeout=60)
        rid = 2
        leader = c.leaders(1)[rid]
        start, _ = c.spans()[rid]
        keys = [start + b"fwd:%03d" % i for i in range(KEYS)]
        conn = Conn(fc.client_addr(leader), timeout=10)
        for k in keys:
            if conn.call("SET", k, b"v" + k) != "OK":
                fail("SET %r through the leader" % k)
        conn.close()
        for s in (x for x in (1, 2, 3) if x != leader):
            if c.leaders(s)[rid] != leader:
                fail("node %d sees another leader of range %d than node %d" % (s, rid, leader))
            conn = Conn(fc.client_addr(s), timeout=10)
            lat = []
            for k in keys:
                t0 = time.monotonic()
                got = conn.call("GET", k)
                lat.append(time.monotonic() - t0)
                if got != b"v" + k:
                    fail("GET %r through node %d: %r" % (k, s, got))
            conn.close()
            slow = sum(1 for x in lat if x >= TICK_MS / 2000.0)
            lat.sort()
            print("%d GETs through node %d forwarded to node %d: median %.1f ms, max %.1f ms, "
                  "%d of half a tick (%d ms) or more" %
                  (KEYS, s, leader, lat[KEYS // 2] * 1000, lat[-1] * 1000, slow, TICK_MS // 2),
                  flush=True)
            if slow > SLOW_MAX:
                fail("%d of %d forwarded GETs through node %d waited for the leader's tick "
                     "(at most %d may)" % (slow, KEYS, s, SLOW_MAX))
        ok = True
        print("fwdread_test: PASS", flush=True)
    finally:
        ok = c.finish(ok, "fwdread_test")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
