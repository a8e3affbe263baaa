"""Where a split leaves the right half's leadership, with real processes:
twelve clients write while a range is split five times (at k1..k5, each
right half taking two writers' keys, so that every half stays awake).

    split_lead_test.py BIN

Checks: each right half is first led by the node that led its left when
the split applied (only that node's right replica campaigns at once), and
leadership balance leaves it there while it is written: no right half
changes leader or term for 6 s after the last split (6 balance rounds;
without the hold, balance.h, 2 of 3 right halves were moved within
about 1 s). Then the writers stop: the halves go to sleep, and balance
moves those away from their preferred node within 30 s (at least one of
the five: consecutive range ids prefer different nodes), so the hold
defers balance, it does not switch it off.
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

BIN = sys.argv[1]
BASE = 31600 + (os.getpid() % 20) * 10  # the band 31600-31799
HOLD_CHECK_S = 6.0


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_lead_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def led(rid):
    """(node, term) of range rid's leader as its leader's replica says,
    None when no node says it leads."""
    for i in (1, 2, 3):
        st, body = http(i, "GET", "/api/v1/ranges/%d" % rid)
        if st == 200 and body.get("id") == rid and body.get("role") == "leader":
            return (i, body["term"])
    return None


def split(key):
    """(the right range's id, the node that answered) of a split at key,
    asking each node until the leader answers."""
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    for _ in range(100):
        for i in (1, 2, 3):
            st, body = http(i, "POST", q)
            if st == 200:
                return body["right"]["id"], i
        time.sleep(0.1)
    fail("split at %r: no leader answered 200" % key)


def writers(stop, acked):
    """Started threads, two for each of k0..k5, each SETting keys of its
    own (kN-W-I) through its own connection until stop is set, what was
    acknowledged recorded in acked: every range the splits make is written
    all the time, so none goes to sleep (no shared key, such as a
    counter, whose range's hiccup would stall every writer)."""
    def writer(w):
        cc, i = conn(1 + w % 3), 0
        while not stop.is_set():
            i += 1
            key = "k%d-%d-%05d" % (w // 2, w % 2, i)
            try:
                if cc.call("SET", key, "v%d" % i) == "OK":
                    with acked.lock:
                        acked.sets[key] = "v%d" % i
            except (OSError, EOFError):
                time.sleep(0.1)
                try:
                    cc = conn(1 + w % 3)
                except OSError:
                    pass
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(12)]
    for t in ts:
        t.start()
    return ts


def main():
    top = tempfile.mkdtemp(prefix="rk-splitlead-")
    procs = {i: spans.start_node(BIN, i, top, addr) for i in (1, 2, 3)}
    stop = threading.Event()
    acked = spans.Acked("zcount")
    ts = []
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 30)
        c = conn(1)
        wait("writes served", lambda: c.call("SET", "warm", "1") == "OK", 30)
        ts = writers(stop, acked)
        time.sleep(1.0)
        first = {}
        for key in ("k1", "k2", "k3", "k4", "k5"):
            rid, by = split(key)
            first[rid] = wait("range %d led" % rid, lambda: led(rid), 10)
            if first[rid][0] != by:
                fail("right half %d (split at %s by node %d's leader) first led by node %d"
                     % (rid, key, by, first[rid][0]))
        t0 = time.time()
        while time.time() - t0 < HOLD_CHECK_S:
            for rid, was in first.items():
                now = led(rid)
                if now is not None and now != was:
                    fail("right half %d moved from node %d (term %d) to node %d (term %d) "
                         "%.1f s after the last split, while written"
                         % (rid, was[0], was[1], now[0], now[1], time.time() - t0))
            time.sleep(0.1)
        stop.set()
        for t in ts:
            t.join()
        ts = []
        if len(acked.sets) < 100:
            fail("too few SETs acknowledged: %d" % len(acked.sets))
        moved = wait("a right half moved by balance once idle",
                     lambda: [rid for rid, was in first.items()
                              if (lambda v: v is not None and v[0] != was[0])(led(rid))], 30)
        # Pipelined: one GET at a time took about 100 s.
        spans.read_back(conn(1), {k: acked.sets[k].encode()
                                  for k in sorted(acked.sets)[::10]}, fail)
        print("split_lead_test: OK (right halves %s each led where split, none moved for "
              "%.0f s while written; %s moved once idle)"
              % (sorted(first), HOLD_CHECK_S, sorted(moved)), flush=True)
    finally:
        stop.set()
        for t in ts:
            t.join()
        spans.kill_all(procs, top)


main()
