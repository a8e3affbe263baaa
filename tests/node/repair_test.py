#!/usr/bin/env python3
"""A dead node's replicas repaired, and the node back, on real rangekv
processes (127.0.0.1-4, four nodes, --replicas 3, 16 ranges, --tick-ms
50, --dead-after 1s: the shortest the flag takes; rebalancing on, the
default), a client writing through nodes 1, 3 and 4 throughout:

- 300 values of 4 KiB preloaded (every range holds some), the cluster
  settled (12 replicas a node), then `kill -9` of node 2 (not the
  placement group's leader);
- not repaired early: until --dead-after has passed since the kill no
  range's descriptor changes (a range still lists node 2's replica), and
  at no moment has any range fewer than 3 voters (the replica on the dead
  node is removed only once its replacement votes);
- then every range has exactly 3 voters on nodes 1, 3 and 4 and no
  learner, the placement leader's rangekv_placement_ranges_under_replicated
  is 0, and every acknowledged write reads back; 50 preloaded keys are
  written again with new values while node 2 is down;
- node 2 restarted: its replicas of the ranges it was removed from do not
  linger (each asks the nodes of its old descriptor, is told it was
  removed, and is removed with its data: its log says so for each, and
  the ranges it hosts are exactly those the index lists on it); reads of
  the 50 rewritten keys through node 2 from the moment it answers never
  return the old values; no range led by another node changes leader
  because of it (the ranges it was removed from keep their term until
  rebalancing moves replicas to it, or the scheduler's leadership
  balance, logged by the placement leader, moves their leadership);
- with rebalancing on, node 2 gets replicas back until every node holds
  within 10% of the mean (11 to 13 of the 48), every range whole.

    repair_test.py path/to/rangekv
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import move_crash_test  # noqa: E402  (its preload and read_back; sets decom_test's globals)
import decom_test  # noqa: E402  (its Cluster, Writer, calls)
import placement_test  # noqa: E402  (its wait, which fails through its fail)
import replicas_test  # noqa: E402  (its RESP call)

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
GONE = 2
REPLICAS = 3
RANGES = 16
DEAD_AFTER_S = 1.0


# 12 ports a cluster (4 nodes x 3 kinds) in the band 1920-1967, far below Linux's
# ephemeral ports (32768-60999).
BASE = placement_test.free_base(1920, 3, 4)
# Sized for a sanitizer build on a loaded 2-core machine.
REPAIR_S = 180
BALANCE_S = 240


def fail(msg):
    print("repair_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


decom_test.BASE = BASE
decom_test.RANGES = RANGES
decom_test.GONE = GONE
decom_test.fail = placement_test.fail = move_crash_test.fail = fail
call, states, wait = decom_test.call, decom_test.states, decom_test.wait


class Cluster(decom_test.Cluster):
    FLAGS = ("--replicas", str(REPLICAS), "--dead-after", "1s")


def index():
    """Every range of the index as node 1 reads it, or None."""
    st, v = call(1, "GET", "/api/v1/ranges?limit=100000")
    return v["ranges"] if st == 200 and len(v["ranges"]) >= RANGES else None


def voters(r):
    return sorted(x["node_id"] for x in r["replicas"] if x["role"] == "voter")


def whole(r, on=None):
    nodes = voters(r)
    return len(r["replicas"]) == REPLICAS and len(set(nodes)) == REPLICAS and \
        (on is None or set(nodes) <= set(on))


def counts(rs):
    c = {i: 0 for i in NODES}
    for r in rs:
        for x in r["replicas"]:
            c[x["node_id"]] += 1
    return c


def balanced():
    rs = index()
    if rs is None or not all(whole(r) for r in rs):
        return None
    c = counts(rs)
    mean = sum(c.values()) / len(NODES)
    return c if all(abs(v - mean) <= max(0.1 * mean, 1.0) for v in c.values()) else None


def placement_leader():
    return decom_test.placement_leader((1,))


def watch_repair(before, t_kill):
    """Polls the index until every range has 3 voters on the live nodes
    and no learner; fails at once on a range with fewer than 3 voters, or
    on a descriptor changed before --dead-after passed. Returns the time
    of the first change seen and of the end."""
    first = None
    live = [i for i in NODES if i != GONE]
    while time.time() - t_kill < REPAIR_S:
        t = time.time()
        rs = index()
        if rs is None:
            time.sleep(0.1)
            continue
        for r in rs:
            if len(voters(r)) < REPLICAS:
                fail("range %d has fewer than %d voters while repaired: %r" %
                     (r["id"], REPLICAS, r["replicas"]))
            if (r["generation"], r["conf_version"]) != before[r["id"]] and first is None:
                first = t - t_kill
                if first < DEAD_AFTER_S:
                    fail("range %d changed %.2f s after the kill, before --dead-after: %r" %
                         (r["id"], first, r["replicas"]))
        if all(whole(r, live) for r in rs):
            return first, t - t_kill
        time.sleep(0.1)
    fail("not repaired within %d s: %r" % (REPAIR_S, [(r["id"], r["replicas"]) for r in
                                                       index() or [] if not whole(r, live)]))


def rewrite(keys):
    """Writes keys again through node 1 with new values; returns them."""
    s, out = decom_test.connect(1), {}
    for k in keys:
        v = b"new-" + k
        if replicas_test.resp(s, b"SET", k, v) != b"+OK":
            fail("SET of a preloaded key again refused")
        out[k] = v
    s.close()
    return out


def no_stale_reads(fresh, old, seconds):
    """GETs of fresh's keys through node 2 for `seconds` from the moment its
    RESP port answers: never one of the old values."""
    t0, n, errors, s = time.time(), 0, 0, None
    while time.time() - t0 < seconds:
        try:
            s = s or decom_test.connect(GONE)
            for k, v in fresh.items():
                got = replicas_test.resp(s, b"GET", k)
                n += 1
                if got == old[k]:
                    fail("node 2 read key %r's value from before it died" % k)
                if got != v:
                    errors += 1
        except OSError:
            s = None
            time.sleep(0.05)
    if s:
        s.close()
    return n, errors


def merged(*ds):
    out = {}
    for d in ds:
        out.update(d)
    return out


def raft_view():
    """{range: (term, conf_version)} of every range, as its replica that
    answers node 1's GET (its own, else forwarded) says."""
    out = {}
    for rid in range(1, RANGES + 1):
        st, v = call(1, "GET", "/api/v1/ranges/%d" % rid)
        if st != 200:
            fail("GET /api/v1/ranges/%d: %s %r" % (rid, st, v))
        out[rid] = (v["term"], v["conf_version"])
    return out


def log_of(tmp, i):
    with open(os.path.join(tmp, "log%d" % i), errors="replace") as f:
        return f.read()


def main():
    tmp = tempfile.mkdtemp(prefix="rk-repair-")
    c = Cluster(tmp, RANGES)
    ok = False
    try:
        c.start_all()
        wait("every node live in node 1's view",
             lambda: states(1) == {i: "live" for i in NODES}, 60)
        kept = move_crash_test.preload(300)
        w = decom_test.Writer()
        w.start()
        wait("writes acknowledged", lambda: len(w.acked) >= 100, 60)
        wait("the cluster settled, the placement group led by another node than %d" % GONE,
             lambda: balanced() and placement_leader() not in (None, GONE), 60)
        rs = index()
        before = {r["id"]: (r["generation"], r["conf_version"]) for r in rs}
        had = sorted(r["id"] for r in rs if GONE in voters(r))
        c.kill9(GONE)
        t_kill = time.time()
        print("repair_test: kill -9 of node %d, which held %d ranges" % (GONE, len(had)),
              flush=True)
        first, took = watch_repair(before, t_kill)
        print("repair_test: first change %.1f s after the kill (--dead-after %.0f s), "
              "every range 3 voters on the live nodes %.1f s after it" %
              (first, DEAD_AFTER_S, took), flush=True)
        wait("the placement leader's metrics: none under-replicated, none in flight",
             lambda: (lambda m: m is not None and m["rangekv_placement_ranges_under_replicated"]
                      == 0 and m["rangekv_placement_moves_in_flight"] == 0)(
                 decom_test.leader_metrics()), 60)
        old = dict(list(kept.items())[:50])
        fresh = rewrite(old)
        time.sleep(1)  # writes go on after the repair
        acked = dict(w.acked)
        move_crash_test.read_back(merged(kept, acked, fresh))
        print("repair_test: %d acknowledged writes read back" %
              (len(kept) + len(acked)), flush=True)

        # Node 2 back: its replicas of the repaired ranges were removed
        # from their descriptors while it was down.
        terms = raft_view()
        marks = {i: len(log_of(tmp, i)) for i in NODES}
        c.start(GONE)
        n, errors = no_stale_reads(fresh, old, 5)
        print("repair_test: %d reads through node %d in its first 5 s, none stale "
              "(%d not answered with the value)" % (n, GONE, errors), flush=True)
        wait("node %d live again" % GONE, lambda: (states(1) or {}).get(GONE) == "live", 60)
        gone = wait("node %d's replicas of the repaired ranges removed" % GONE,
                    lambda: (lambda t: t if t.count("leaves this node") >= len(had) else None)(
                        log_of(tmp, GONE)), 60)
        why = sorted(set(x.split("leaves this node (")[1].rstrip(")") for x in gone.splitlines()
                         if "leaves this node" in x))
        print("repair_test: node %d removed its %d replicas (%s)" % (GONE, len(had),
                                                                    "; ".join(why)), flush=True)
        after = raft_view()
        # The scheduler's own leadership balance (rule 9, logged by the
        # placement leader) moves a leadership by an election too: such a
        # range is not one node 2 disturbed.
        balanced_lead = {int(m) for i in NODES for m in re.findall(
            r"range (\d+): transfer_leader \(balance_leaders\)", log_of(tmp, i)[marks[i]:])}
        kept_conf = [rid for rid in terms if after[rid][1] == terms[rid][1] and
                     rid not in balanced_lead]
        bumped = [rid for rid in kept_conf if after[rid][0] != terms[rid][0]]
        if bumped:
            fail("ranges whose membership did not change since node %d came back changed "
                 "term: %r" % (GONE, [(rid, terms[rid], after[rid]) for rid in bumped]))
        print("repair_test: %d ranges untouched by rebalancing since the restart kept their "
              "term" % len(kept_conf), flush=True)
        t0 = time.time()
        cb = wait("replicas back on node %d, every node within 10%%" % GONE, balanced,
                  BALANCE_S)
        print("repair_test: balanced %s %.1f s after the restart" % (cb, time.time() - t0),
              flush=True)
        # The ranges node 2 hosts are those the index lists on it.
        wait("node %d hosts exactly the ranges the index lists on it" % GONE,
             lambda: (lambda st, rs: st[0] == 200 and rs is not None and st[1]["ranges"] ==
                      counts(rs)[GONE])(call(GONE, "GET", "/api/v1/cluster/status"), index()),
             30)
        w.stop = True
        w.join(30)
        move_crash_test.read_back(merged(kept, w.acked, fresh))
        print("repair_test: %d acknowledged writes read back (%d refused or failed)" %
              (len(kept) + len(w.acked), w.errors), flush=True)
        ok = c.stop_all()
        if not ok:
            fail("a node did not stop cleanly")
        print("repair_test: PASS", flush=True)
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("repair_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
