#!/usr/bin/env python3
"""--snapshot-rate holds a replica move's snapshot to the rate: three
rangekv processes started with --replicas 2 and --snapshot-rate 1MiB; a
range gets about 3 MiB of incompressible values, then a learner on the
node that holds none of its replicas. The learner catches up by a
snapshot, which cannot arrive sooner than its bytes at 1 MiB/s (less the
limiter's burst of a tenth of a second's worth, at least one 256 KiB
chunk), and the leader counts waits for the rate. Without the limit the
same snapshot arrives in a fraction of a second on this machine.

    snaprate_test.py path/to/rangekv
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as fc  # noqa: E402
from resp import Conn  # noqa: E402
from space_test import expect, http, metric  # noqa: E402

RATE = 1 << 20
CHUNK = 256 << 10
VALUE = 64 << 10
VALUES = 48  # 3 MiB


def wait(what, cond, timeout):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def range_view(node, rid):
    st, body = http(node, "/api/v1/ranges/%d" % rid)
    return json.loads(body) if st == 200 else None


def filled_range(c, values):
    """A range led, with two replicas and a node that holds neither, given
    `values` incompressible values of VALUE bytes: (its view, that node,
    the key prefix of its span)."""
    def led_range():
        try:
            st, body = http(1, "/api/v1/ranges")
        except OSError:
            return None  # not up yet
        rs = json.loads(body)["ranges"] if st == 200 else []
        return next((r for r in rs if r["leader"] and len(r["replicas"]) == 2), None)
    rng = wait("a range led", led_range, 30)
    on = {p["node_id"] for p in rng["replicas"]}
    target = next(i for i in c.nodes if i not in on)
    prefix = fc.unescape(rng["start"])
    conn = Conn(fc.client_addr(rng["leader"]), timeout=15)
    try:
        for k in range(values):
            # Just above the range's start: inside its span.
            r = conn.call("SET", prefix + b"\x00%03d" % k, os.urandom(VALUE))
            expect(r == "OK", "SET %d: %r" % (k, r))
    finally:
        conn.close()
    return rng, target, prefix


def main():
    binary = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="rk-snaprate-")
    c = fc.Cluster(binary, tmp, extra_flags=["--replicas", "2", "--snapshot-rate", "1MiB"])
    ok = False
    try:
        c.start_all()
        rng, target, _ = filled_range(c, VALUES)
        leader = rng["leader"]
        sent0 = metric(leader, "rangekv_snapshot_sent_bytes_total")
        waits0 = metric(leader, "rangekv_snapshot_rate_waits_total")
        commit = range_view(leader, rng["id"])["commit_index"]
        t0 = time.monotonic()
        st, body = http(leader, "/api/v1/ranges/%d/replicas?node=%d&role=learner" %
                        (rng["id"], target), "POST")
        expect(st == 200, "learner on node %d: %s %s" % (target, st, body))

        def caught_up():  # node target's own replica (not a forwarded view)
            v = next((r for r in (c.ranges(target) or []) if r["id"] == rng["id"]), None)
            return v is not None and v["applied_index"] >= commit
        wait("the learner on node %d to catch up" % target, caught_up, 60)
        took = time.monotonic() - t0
        sent = metric(leader, "rangekv_snapshot_sent_bytes_total") - sent0
        waits = metric(leader, "rangekv_snapshot_rate_waits_total") - waits0
        least = (sent - max(RATE / 10, CHUNK) - CHUNK) / RATE
        print("snapshot of %.1f MiB to node %d at --snapshot-rate 1MiB: caught up in %.2f s "
              "(at least %.2f s at the rate), %d waits for the rate" %
              (sent / RATE, target, took, least, waits), flush=True)
        expect(sent >= VALUES * VALUE, "only %d snapshot bytes sent" % sent)
        expect(took >= least, "the snapshot went faster than --snapshot-rate")
        expect(waits > 0, "no wait for the rate counted")
        ok = True
    finally:
        ok = c.finish(ok, "snaprate")
    print("snaprate_test: %s" % ("ok" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
