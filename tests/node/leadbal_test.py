"""Leadership balance while rebalancing is on (the placement scheduler's
rule 9), with real processes (127.0.0.1-3, --tick-ms 50, 30 ranges):

- every user range's leadership is handed to node 1 by hand
  (POST /api/v1/ranges/{id}/transfer-leader?to=1): node 1 then leads
  nearly all of them;
- within SPREAD_S the nodes' leaderships (their own /metrics,
  rangekv_leaders) are at most 2 apart,
  none below the band of 10% (or one leadership) under the mean, and
  every range has a leader;
- they stay so for STEADY_S (no round hands them back and forth);
- writes through every node go on being acknowledged meanwhile.

With rebalancing on, each range's preferred node stands aside
(src/node/balance.h), so without rule 9 nothing would move the
leaderships off node 1.

    leadbal_test.py BIN [cold]

With `cold` (ports 11700-11739), the cluster starts with one range and
--split-size 16KiB (merges below 4 KiB together) and --merge-cold 1s;
COLD_KEYS keys of 1 KiB split it by size into ranges of about 8 KiB, and
then two of every three keys are deleted: the automatic ranges are small
and cold, but most neighbours together are too large to merge. Once the
layout holds still, the handovers and checks above run: rule 9 must not
wait for cold ranges that no merge takes (it once waited for every cold
range, for good in such a cluster).
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
COLD = sys.argv[2:3] == ["cold"]
if COLD:
    BASE = 11700 + (os.getpid() % 3) * 12  # the band 11700-11739
    RANGES = 1
    COLD_KEYS = 240
else:
    BASE = 11660 + (os.getpid() % 3) * 12  # the band 11660-11699
    RANGES = 30
SPREAD_S = 90
STEADY_S = 6


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("leadbal_test: FAIL: " + msg, flush=True)
    sys.exit(1)


N = spans.Nodes(addr, fail, http_timeout=10)


def wait(what, cond, timeout, step=0.2):
    return spans.wait(what, cond, timeout, fail, step)


def counts():
    c = [N.metric(i, "rangekv_leaders") for i in (1, 2, 3)]
    return None if None in c else c


def even(c):
    """Within the scheduler's band: none more than 2 from another, none
    below the mean by more than 10% or one leadership."""
    mean = sum(c) / 3.0
    return max(c) - min(c) <= 2 and min(c) >= mean - max(0.1 * mean, 1.0)


def user_leaders():
    """{range id: leader node} of the user ranges, by node 1's listing;
    None while one has no known leader."""
    rs = N.ranges(1)
    if rs is None or len(rs) < RANGES:
        return None
    got = {r["id"]: r.get("leader") for r in rs}
    return got if all(got.values()) else None


LAYOUT = []  # cold: the ranges' ids once the layout holds still


def writer(stop, acked, errors):
    i = 0
    conns = {}
    while not stop.is_set():
        s = 1 + i % 3
        # cold: the same few keys again and again, so that their range
        # neither grows into a split nor shrinks into a merge.
        key = "lb:%02d" % (i % 50) if COLD else "lb:%06d" % i
        try:
            if s not in conns:
                conns[s] = N.conn(s)
            got = conns[s].call("SET", key, "v%d" % i)
            if got == "OK":
                acked.append(i)
            else:
                errors.append(got)
        except (OSError, EOFError):
            conns.pop(s, None)
            time.sleep(0.05)
        i += 1
        time.sleep(0.005)


def cold_layout():
    """Splits the one range by size, deletes four keys in five and waits
    for the layout to hold still: ranges small and cold, neighbours too
    large to merge. Fills LAYOUT."""
    c = N.conn(1)
    value = "x" * 1024
    for k in range(COLD_KEYS):
        got = c.call("SET", "lc:%04d" % k, value)
        if got != "OK":
            fail("SET lc:%04d: %r" % (k, got))
    wait("the range split by size", lambda: len(N.ranges(1) or []) >= 8, 60)
    # Splits settle before the deletes, so that the sizes are final.
    stable_for(lambda: [r["id"] for r in N.ranges(1) or []], 5, 60, "the splits")
    for k in range(COLD_KEYS):
        if k % 5 != 0 and c.call("DEL", "lc:%04d" % k) != 1:
            fail("DEL lc:%04d" % k)
    rs = stable_for(lambda: [(r["id"], r.get("size_bytes")) for r in N.ranges(1) or []],
                    8, 90, "the layout after the deletes")
    small = [rid for rid, size in rs if size is not None and size <= 4096]
    LAYOUT[:] = [rid for rid, _ in rs]
    print("leadbal_test: %d ranges after the deletes, %d of them at most 4 KiB: %s" %
          (len(rs), len(small), rs), flush=True)
    if len(small) < 4:
        fail("too few small ranges to judge cold: %s" % rs)


def stable_for(get, secs, timeout, what):
    """get()'s value once it has not changed for secs seconds."""
    t_end = time.time() + timeout
    last, since = None, time.time()
    while time.time() < t_end:
        v = get()
        if v != last or not v:
            last, since = v, time.time()
        elif time.time() - since >= secs:
            return v
        time.sleep(0.5)
    fail("%s did not hold still for %d s within %d s: %s" % (what, secs, timeout, last))


def main():
    top = tempfile.mkdtemp(prefix="rk-leadbal-")
    extra = ["--split-size", "16KiB", "--merge-cold", "1s"] if COLD else []
    procs = {i: spans.start_node(BIN, i, top, addr, extra, ranges=RANGES, rebalance="on")
             for i in (1, 2, 3)}
    stop = threading.Event()
    acked, errors = [], []
    t = threading.Thread(target=writer, args=(stop, acked, errors))
    ok = False
    try:
        if COLD:
            wait("every node told rebalancing is on",
                 lambda: all(N.http(i, "GET", "/api/v1/rebalance") == (200, {"enabled": True})
                             for i in (1, 2, 3)), 30)
            cold_layout()
        wait("every range led", user_leaders, 60)
        # Every node told that rebalancing is on: until then each one
        # hands leaderships to its preferred nodes (balance.h), which
        # would undo the handovers below for another reason than rule 9.
        wait("every node told rebalancing is on",
             lambda: all(N.http(i, "GET", "/api/v1/rebalance") == (200, {"enabled": True})
                         for i in (1, 2, 3)), 30)
        t.start()
        # Every user range's leadership to node 1, asked of its leader.
        # The peak is judged by the listing that drove the handovers: rule
        # 9 may start handing them back at once, so the nodes' own
        # counts in /metrics, read a moment later, may never show it (it
        # failed so in CI: "node 1 leading nearly every range").
        t0, ls, away = time.time(), {}, []
        while time.time() - t0 < 30:
            ls = user_leaders() or {}
            away = [rid for rid, l in ls.items() if l != 1]
            if ls and len(away) <= 1:
                break
            for rid in away:
                N.http(ls[rid], "POST", "/api/v1/ranges/%d/transfer-leader?to=1" % rid)
        if not ls or len(away) > 1:
            fail("node 1 not leading nearly every range within 30 s of handovers: %s" % ls)
        peak = [sum(1 for l in ls.values() if l == i) for i in (1, 2, 3)]
        print("leadbal_test: user range leaderships on nodes 1-3 after the handovers: %s"
              % peak, flush=True)
        t1 = time.time()
        got = wait("leaderships within the band on nodes 1-3",
                   lambda: (lambda c: c if c and even(c) else None)(counts()), SPREAD_S,
                   step=0.5)
        took = time.time() - t1
        # Steady: no round hands them on back and forth.
        until = time.time() + STEADY_S
        seen = [got]
        while time.time() < until:
            c = counts()
            if c is None or not even(c):
                fail("leaderships left the band after %s: %s" % (seen, c))
            seen.append(c)
            time.sleep(0.5)
        if user_leaders() is None:
            fail("a range without a leader after the balance")
        stop.set()
        t.join()
        if len(acked) < 20:
            fail("too few writes acknowledged: %d (errors %s)" % (len(acked), errors[:5]))
        print("leadbal_test: OK (node 1 led %d of %d leaderships; within the band in %.1f s: "
              "%s, steady for %d s; %d writes acknowledged)" %
              (peak[0], sum(peak), took, got, STEADY_S, len(acked)), flush=True)
        ok = True
    finally:
        stop.set()
        if t.is_alive():
            t.join()
        if not ok:
            os.environ["RK_KEEP"] = "1"
            print("leadbal_test: logs in %s" % top, flush=True)
        spans.kill_all(procs, top)


main()
