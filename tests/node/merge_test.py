"""Range merge with real processes: splits, then POST /api/v1/merge (and
`rangekv merge`) of each new range back into its left neighbour while
several clients SET and INCR, then restarts and kill -9 at the merge's
crash points.

    merge_test.py BIN

Checks: the call answers the merged range (its span both ranges', its
generation above both) and the right's id; refusals (no left, a range
without a right neighbour, GET, replica sets that differ after a replica
of one was removed; the same merge once the replica is back); on every
node the ranges tile the key space, the same on all; every SET
acknowledged reads back and the INCR counter equals the INCRs
acknowledged (nothing lost, nothing applied twice); the same after every
node is killed (-9) and restarted, and after kill -9 at each step of a
merge and a restart (the merge happened on every node or on none: an
abandoned one unfreezes the right): merge.frozen, merge.freeze_applied,
merge.proposed, merge.applied, merge.left_durable (the merged left
durable, the right's removal not written) and life.remove_written (the
right's removal written, the replica not yet detached); and kill -9 right
after a split and the merge of its right half, which a restart then
replays together.
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 6000 + (os.getpid() % 100) * 10  # the band 6000-6999
REQUEST_TIMEOUT_MS = 3000  # an unfinished merge is abandoned after 3 x this


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("merge_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(i, top, crash_at=None):
    return spans.start_node(BIN, i, top, addr, ["--request-timeout", str(REQUEST_TIMEOUT_MS)], crash_at)


NODES = spans.Nodes(addr, fail)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def conn_wait(i):
    return NODES.conn_wait(i, 60)


def split(key):
    """Asks each node until the range's leader answers 200."""
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    for _ in range(300):
        for i in (1, 2, 3):
            st, body = http(i, "POST", q)
            if st == 200:
                return body
        time.sleep(0.1)
    fail("split at %r: no leader answered 200" % key)


def range_of(rid):
    """Range rid as a node holding it shows it (its leader among them)."""
    for i in (1, 2, 3):
        st, body = http(i, "GET", "/api/v1/ranges/%d" % rid)
        if st == 200 and body.get("leader"):
            return body
    return None


def merge_call(left, expect=200, timeout=120):
    """POST /api/v1/merge?left=left on the leader of both ranges until it
    answers expect (200, or a refusal's status); the body."""
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        st, body = None, None
        for i in (1, 2, 3):
            st, body = http(i, "POST", "/api/v1/merge?left=%d" % left)
            if st not in (409, 404, 503, None) or (st == 409 and expect == 409 and
                                                 "leader" not in body):
                break
        last = (st, body)
        if st == expect and (st != 409 or "leader" not in body):
            return body
        if st not in (409, 404, 503, 504, None):
            fail("merge of range %d answered %r" % (left, last))
        time.sleep(0.2)
    fail("merge of range %d: no %d answer within %d s; last %r" % (left, expect, timeout, last))


def neighbours(rs, right_id):
    """The id of the range that ends where range right_id starts."""
    by_id = {r["id"]: r for r in rs}
    r = by_id[right_id]
    for o in rs:
        if o["end"] == r["start"]:
            return o["id"]
    fail("range %d has no left neighbour in %r" % (right_id, rs))


def main():
    top = tempfile.mkdtemp(prefix="rk-merge-")
    procs = {i: start(i, top) for i in (1, 2, 3)}
    stop = threading.Event()
    acked = spans.Acked("k4count")
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 60)
        c = conn(1)
        wait("writes served", lambda: c.call("SET", "warm", "1") == "OK", 60)

        ts = spans.writers(lambda w: conn(1 + w % 3), stop, acked)
        time.sleep(1.0)
        made = [split(k)["right"]["id"] for k in ("k2", "k4", "k4count", "k6")]
        time.sleep(1.0)
        # Clear refusals: no left, GET, an id that is no range here, the
        # last range (no right neighbour).
        if http(1, "POST", "/api/v1/merge")[0] != 400 or \
                http(1, "GET", "/api/v1/merge?left=1")[0] != 405 or \
                http(1, "POST", "/api/v1/merge?left=x")[0] != 400 or \
                http(1, "POST", "/api/v1/merge?left=999999")[0] != 404:
            fail("a merge call without left, by GET, or of no range is not refused")
        last = [r for r in ranges(1) if r["end"] == ""][0]["id"]
        body = merge_call(last, expect=409)
        if "right neighbour" not in body.get("error", ""):
            fail("a merge of the last range answered %r" % body)
        # Merge the new ranges back, under the writers, the CLI for one.
        merged = []
        for rid in made[:3]:
            left = neighbours(ranges(1), rid)
            body = merge_call(left)
            rng = body["range"]
            if body.get("removed") != rid or rng["id"] != left:
                fail("merge of %d into %d answered %r" % (rid, left, body))
            merged.append((left, rid))
            time.sleep(0.3)
        # The two leaders on two nodes: the call on the left's leader has
        # the right's leadership come there first (one CLI run, nothing
        # moved by hand).
        left = neighbours(ranges(1), made[3])

        def apart():
            lr, rr = range_of(left), range_of(made[3])
            if lr is None or rr is None:
                return False
            if lr["leader"] == rr["leader"]:
                other = [i for i in (1, 2, 3) if i != lr["leader"]][0]
                http(rr["leader"], "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" %
                     (made[3], other))
                return False
            return True
        wait("ranges %d and %d led by two nodes" % (left, made[3]), apart, 60)
        cli = subprocess.run([BIN, "merge", str(left)] +
                             sum((["--http", addr(i, 2)] for i in (1, 2, 3)), []),
                             capture_output=True, text=True, timeout=120)
        if cli.returncode != 0 or "merged" not in cli.stdout or \
                "range %d is gone" % made[3] not in cli.stdout:
            fail("rangekv merge %d: %d %r %r" % (left, cli.returncode, cli.stdout, cli.stderr))
        # Replica sets that differ: a replica of the right removed (not its
        # leader's); refused; back on the same node, the merge goes through.
        rid = split("k5")["right"]["id"]
        left = neighbours(ranges(1), rid)
        rr = wait("range %d led" % rid, lambda: range_of(rid), 60)
        victim = [p for p in rr["replicas"] if p["node_id"] != rr["leader"]][0]
        for _ in range(100):
            st, _b = http(rr["leader"], "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                          (rid, victim["replica_id"]))
            if st == 200:
                break
            time.sleep(0.2)
        body = merge_call(left, expect=409)
        if "replica" not in body.get("error", ""):
            fail("a merge with differing replica sets answered %r" % body)
        for _ in range(100):
            rr = range_of(rid)
            st, _b = http(rr["leader"], "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" %
                          (rid, victim["node_id"]))
            if st == 200:
                break
            time.sleep(0.2)
        body = merge_call(left)
        if body.get("removed") != rid:
            fail("the merge once the replica sets agree answered %r" % body)
        time.sleep(1.0)
        spans.stop_writers(stop, ts, acked, fail)

        def agreed():
            return spans.agreed([ranges(i) for i in (1, 2, 3)])

        def check(when, count=(2,)):
            v = wait("every node knows the same tiling ranges, %r of them (%s)" % (count, when),
                     lambda: (lambda v: v if v and len(v) in count else None)(agreed()), 120)
            time.sleep(2.0)
            if agreed() != v:
                v = wait("ranges settled (%s)" % when,
                         lambda: (lambda v: v if v and len(v) in count else None)(agreed()), 60)
            spans.check_acked(conn_wait(2), acked, when, fail)
            # Each node's own replica of each range (every node holds
            # them all) as the index lists it, once the index has caught
            # up (an abandoned merge's abort moves the left's generation
            # on, and its report follows).
            seen = {}

            def same():
                v2 = agreed()
                if v2 is None or len(v2) not in count:
                    return None
                for rid_, start_, end_, gen in v2:
                    for i in (1, 2, 3):
                        st, b = http(i, "GET", "/api/v1/ranges/%d" % rid_)
                        seen["last"] = (i, rid_, st, b and (b.get("start"), b.get("end"),
                                                            b.get("generation")),
                                        (start_, end_, gen))
                        if st != 200 or (b["start"], b["end"], b["generation"]) != \
                                (start_, end_, gen):
                            return None
                return v2
            t = time.time()
            while time.time() - t < 30:
                v2 = same()
                if v2:
                    return v2
                time.sleep(0.2)
            fail("node %d's range %d is %r %r, the index's %r (%s)" % (seen["last"] + (when,)))

        def gone(rid_, when):
            """No node holds a replica of range rid_ merged away."""
            for i in (1, 2, 3):
                st, b = http(i, "GET", "/api/v1/ranges/%d" % rid_)
                if st == 200:
                    fail("range %d, merged away, is still held: node %d answers %r (%s)"
                         % (rid_, i, b, when))
        check("after the merges")
        for i in (1, 2, 3):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        procs = {i: start(i, top) for i in (1, 2, 3)}
        check("after kill -9 and restart")
        # kill -9 at the crash points of a merge, on every node at once, then
        # a restart: merged on every node or on none (an abandoned merge's
        # right unfreezes and serves again).
        # Merged for sure from merge.applied on (the MERGE committed);
        # before, on every node or on none.
        merged_by = ("merge.applied", "merge.left_durable", "life.remove_written")
        outcomes = []
        for point, key in (("merge.frozen", "k7"), ("merge.freeze_applied", "k8"),
                           ("merge.proposed", "k8p"), ("merge.applied", "k9"),
                           ("merge.left_durable", "k9d"), ("life.remove_written", "k9r")):
            rid = split(key)["right"]["id"]
            cc = conn_wait(3)
            for n in range(20):
                k = "%s-%02d" % (key, n)
                if wait("write %s" % k, lambda: cc.call("SET", k, "c") == "OK", 60):
                    acked.sets[k] = "c"
            check("before the merge at %s" % point, count=(3,))
            left = neighbours(ranges(1), rid)
            for i in (1, 2, 3):  # a checkpoint: the armed restart replays nothing older
                procs[i].send_signal(signal.SIGTERM)
                procs[i].wait()
            logs = {i: len(open(os.path.join(top, "log%d" % i), errors="replace").read())
                    for i in (1, 2, 3)}
            procs = {i: start(i, top, point) for i in (1, 2, 3)}

            def crashed():
                if any(p.poll() is not None for p in procs.values()):
                    return True
                for i in (1, 2, 3):
                    http(i, "POST", "/api/v1/merge?left=%d" % left)
                return any(p.poll() is not None for p in procs.values())
            wait("a node crashed at %s" % point, crashed, 120)
            fired = [i for i in (1, 2, 3) if "crash point %s:" % point in
                     open(os.path.join(top, "log%d" % i), errors="replace").read()[logs[i]:]]
            if not fired:
                fail("a node stopped, but none at the crash point %s" % point)
            for i in (1, 2, 3):
                if procs[i].poll() is None:
                    procs[i].send_signal(signal.SIGKILL)
                procs[i].wait()
            procs = {i: start(i, top) for i in (1, 2, 3)}
            v = check("after kill -9 at %s" % point,
                      count=(2,) if point in merged_by else (2, 3))
            if len(v) == 3:
                # Not merged: the right serves again (unfrozen) and merges.
                cc = conn_wait(1)
                wait("range %d writable again" % rid,
                     lambda: cc.call("SET", key + "-again", "a") == "OK", 120)
                acked.sets[key + "-again"] = "a"
                merge_call(left)
                check("after the merge abandoned at %s was done again" % point)
            gone(rid, "after kill -9 at %s" % point)
            outcomes.append("%s (node %s): %s" % (point, ",".join(map(str, fired)),
                                                  "merged" if len(v) == 2 else
                                                  "abandoned, merged again"))
        # A split and the merge of its right half replayed together: every
        # node killed (-9) right after both, before a checkpoint holds
        # either (a restart's checkpoint just before). Replaying, the left
        # applies the split, which makes the right replica here at the
        # split's index, and reaches the MERGE in the same ready: it must
        # wait for the right to replay its log up to the freeze, not fail
        # (it stopped the node: "finds no frozen right replica here").
        for i in (1, 2, 3):
            procs[i].send_signal(signal.SIGTERM)
            procs[i].wait()
        procs = {i: start(i, top) for i in (1, 2, 3)}
        rid = split("kr")["right"]["id"]
        left = neighbours(ranges(1), rid)
        merge_call(left)
        for i in (1, 2, 3):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        procs = {i: start(i, top) for i in (1, 2, 3)}
        check("after kill -9 right after a split and the merge of its right half")
        gone(rid, "after kill -9 right after a split and its merge")
        outcomes.append("split and merge replayed together: merged")
        print("merge_test: OK (%d SETs, %d INCRs acknowledged; merged %r; crash points: %s)" %
              (len(acked.sets), acked.incr, merged, "; ".join(outcomes)), flush=True)
    except SystemExit:
        os.environ["RK_KEEP"] = "1"
        print("merge_test: logs in %s" % top, flush=True)
        raise
    finally:
        stop.set()
        spans.kill_all(procs, top)


main()
