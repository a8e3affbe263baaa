"""A lease read across a split, with real processes: the left range's
leader L (node 1) serves lease reads, its apply is held at the SPLIT
(test hook RANGEKV_TEST_SPLIT_HOLD_MS, crash.h) while its followers apply
it, the right half elects a leader among the followers and commits a write
of a right-half key, and then L, still leading the left with the split
unapplied, is asked for that key.

    lease_split_test.py BIN

Checks: the scenario happened (before the read, nodes 2 and 3 applied the
split, a SET of the right-half key through node 2 was acknowledged by the
right range's leader, which is not node 1, and node 1 still led the left
range in the same term with the split committed and not applied); the
read through node 1 answers the value acknowledged after the split, never
the one before (a stale read); the split completes on every node. L's
lease over the left (and so, as far as L knows, over the right-half keys)
stays valid throughout: its followers keep acknowledging its heartbeats,
so the right half's leader is elected and commits while it holds. What
keeps the read from being stale is the read barrier: a read L takes after
the split committed waits until L has applied up to it, and is then
answered against the shrunk span (a mismatch: its router goes to the
right range). docs/testing.md says how it fails.
"""
import os
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402
from cluster import unescape  # noqa: E402

BIN = sys.argv[1]
BASE = 65000 + (os.getpid() % 40) * 10  # the band 65000-65499
HOLD_MS = 8000  # node 1's apply of the split waits this long
# The split call's deadline is twice this: past the hold.
NODE_ARGS = ["--request-timeout", "8000"]
LEFT_KEY, SPLIT_KEY, KEY = "ls-a", "ls-m", "ls-r"


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("lease_split_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn, conn_wait, local = (NODES.http, NODES.ranges, NODES.conn,
                                        NODES.conn_wait, NODES.local)


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def set_through(i, key, value, timeout):
    cc = conn_wait(i)
    return wait("SET %s=%s through node %d" % (key, value, i),
                lambda: cc.call("SET", key, value) == "OK", timeout)


def main():
    top = tempfile.mkdtemp(prefix="rk-leasesplit-")
    procs = {}
    try:
        procs[1] = spans.start_node(BIN, 1, top, addr, NODE_ARGS, None,
                                    {"RANGEKV_TEST_SPLIT_HOLD_MS": str(HOLD_MS)})
        for i in (2, 3):
            procs[i] = spans.start_node(BIN, i, top, addr, NODE_ARGS)
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 60)
        rid = [r["id"] for r in ranges(1)
               if unescape(r["start"]) <= LEFT_KEY.encode() and
               (r["end"] == "" or KEY.encode() < unescape(r["end"]))]
        if len(rid) != 1:
            fail("no one range holds %s..%s: %r" % (LEFT_KEY, KEY, ranges(1)))
        rid = rid[0]

        def led_by_1():
            r = local(1, rid)
            if r is None or not r.get("leader"):
                return False
            if r["leader"] == 1:
                return r
            http(r["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=1" % rid)
            return False
        wait("range %d led by node 1" % rid, led_by_1, 60)
        set_through(1, KEY, "before", 60)
        c1 = conn_wait(1)
        if c1.call("GET", KEY) != b"before":
            fail("node 1's lease read of %s before the split" % KEY)
        before = wait("node 1 leads range %d" % rid,
                      lambda: (lambda r: r if r and r.get("role") == "leader" else None)(local(1, rid)),
                      30)

        answer = {}

        def call():
            q = "/api/v1/split?key=" + urllib.parse.quote(SPLIT_KEY, safe="")
            answer["split"] = spans.http(addr(1, 2), "POST", q, timeout=HOLD_MS / 1000 + 30)
        t = threading.Thread(target=call)
        t0 = time.time()
        t.start()
        # The followers apply the split; node 1 does not.
        for i in (2, 3):
            wait("node %d applied the split" % i,
                 lambda: (lambda r: r and r["end"] == SPLIT_KEY)(local(i, rid)), HOLD_MS / 2000)
        right = wait("the right range on node 2",
                     lambda: next((r for r in (local(2, x) for x in range(1, 65))
                                   if r and r["start"] == SPLIT_KEY), None), HOLD_MS / 2000)
        set_through(2, KEY, "after", HOLD_MS / 2000)
        t_ack = time.time() - t0
        rl = local(2, right["id"])
        if rl is None or rl.get("leader") not in (2, 3):
            fail("the right range %d's leader after the SET: %r" % (right["id"], rl))
        l1 = local(1, rid)
        if l1 is None or l1.get("role") != "leader" or l1["term"] != before["term"] or \
                l1["end"] != before["end"] or l1["applied_index"] >= l1["commit_index"]:
            fail("node 1 no longer leads range %d unsplit with the split held: %r (before %r)"
                 % (rid, l1, before))
        # Its lease holds: both followers acknowledged it within the last
        # election timeout (10 ticks of 50 ms), so they refuse other
        # candidates of the left range.
        contact = {p["node_id"]: p["last_contact_ms"] for p in l1["raft"]["progress"]
                   if p["node_id"] != 1}
        if l1.get("asleep") or any(ms is None or ms >= 500 for ms in contact.values()):
            fail("node 1's followers of range %d last heard from %r ms ago: no lease"
                 % (rid, contact))
        if time.time() - t0 > HOLD_MS / 1000 - 1:
            fail("the scenario took %.1f s, too close to the hold of %d ms to count"
                 % (time.time() - t0, HOLD_MS))
        # The read: node 1 leads the left, its lease valid, the split unapplied.
        t_get = time.time() - t0
        tries = 0
        while True:  # as a client does: -TRYAGAIN (nothing answered in time) is sent again
            tries += 1
            got = c1.call("GET", KEY)
            if not isinstance(got, spans.Err) or got.kind() != "TRYAGAIN" or \
                    time.time() - t0 > HOLD_MS / 1000 + 30:
                break
        t_got = time.time() - t0
        if got == b"before":
            fail("stale read: node 1 answered %s=%r at %.2f s, after the right range "
                 "(led by node %d) acknowledged 'after' at %.2f s"
                 % (KEY, got, t_got, rl["leader"], t_ack))
        if got != b"after":
            fail("GET %s through node 1 answered %r" % (KEY, got))
        l1 = local(1, rid)
        if l1 is None or l1.get("role") != "leader" or l1["term"] != before["term"]:
            fail("node 1 lost the lead of range %d during the read: %r" % (rid, l1))
        t.join()
        st, body = answer["split"]
        if st != 200 or body["right"]["id"] != right["id"]:
            fail("the split call answered %r %r" % (st, body))
        wait("every node agrees on 3 ranges",
             lambda: (lambda v: v and len(v) == 3)(spans.agreed([ranges(i) for i in (1, 2, 3)])),
             60)
        if c1.call("GET", LEFT_KEY) is not None or c1.call("GET", KEY) != b"after":
            fail("reads through node 1 after the split")
        print("lease_split_test: OK (split at %s; right range %d led by node %d, SET "
              "acknowledged %.2f s after the call; node 1, its apply held, read at %.2f s "
              "and answered 'after' at %.2f s, %d tries)"
              % (SPLIT_KEY, right["id"], rl["leader"], t_ack, t_get, t_got, tries), flush=True)
    finally:
        spans.kill_all(procs, top)


main()
