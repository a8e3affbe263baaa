"""Automatic merges of neighbours whose replica sets differ, with real
processes: the placement driver moves the right range's replicas onto
its left's nodes, then merges them (docs/placement.md, "Merging
neighbours whose replica sets differ").

    mergealign_test.py BIN

Four nodes start with --replicas 3, one range, --split-size 16KiB and
--merge-cold 2s, rebalancing paused. Clients SET random keys with 1 KiB
values until the range has split into at least TARGET ranges (all on the
same three nodes, every new one marked auto_split). Then two of them
have a replica moved by hand to the fourth node (the replica call with
role=voter, then the removal of one of the old three): their replica
sets now differ from their left neighbours'. Every key is deleted but
KEEP, set again to short values, and rebalancing is resumed. Checks:
the ranges merge back to the one range of the first start on every
node, the driver logged steps of reason merge_align, and every
acknowledged SET reads back and every deleted key reads nil. Printed:
the time from the resume to one range, and the alignment steps seen.
RK_PORT_BASE=P puts its ports at P..P+11.
"""
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402
from spans import tiles  # noqa: E402
from resp import Err, encode  # noqa: E402

BIN = sys.argv[1]
NODES = (1, 2, 3, 4)
TARGET = 6
MOVED = 2
VALUE = 1024
KEEP = 8
# The band 27265-27299: 12 ports a run, two runs side by side.
BASE = int(os.environ.get("RK_PORT_BASE") or 27265 + (os.getpid() % 2) * 16)


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 4 + i - 1)


def fail(msg):
    print("mergealign_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(i, top):
    log = open(os.path.join(top, "log%d" % i), "a")
    cluster = ",".join("%d=%s" % (j, addr(j, 0)) for j in NODES)
    return subprocess.Popen(
        [BIN, "start", "--node-id", str(i), "--data", os.path.join(top, "n%d" % i),
         "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
         "--initial-cluster", cluster, "--ranges", "1", "--tick-ms", "50",
         "--replicas", "3", "--split-size", "16KiB", "--merge-cold", "2s",
         "--cache-mb", "64", "--rebalance", "off"],
        stdout=log, stderr=log)


N = spans.Nodes(addr, fail, http_timeout=90)
http, ranges, conn = N.http, N.ranges, N.conn


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail, step=0.2)


def agreed():
    """The ranges as (id, start, node set) when all four nodes list the
    same tiling of the key space; else None."""
    seen = [ranges(i) for i in NODES]
    if any(r is None or not tiles(r) for r in seen):
        return None
    views = [sorted((r["id"], r["start"], tuple(sorted(x["node_id"] for x in r["replicas"])))
                    for r in rs) for rs in seen]
    return views[0] if all(v == views[0] for v in views) else None


def call_any(method, path, ok=(200, 202), rounds=10):
    """The answer of the node that accepts path (status in ok): each node
    is asked, a round a second, at most `rounds`."""
    last = None
    for _ in range(rounds):
        for i in NODES:
            st, body = http(i, method, path)
            if st in ok:
                return body
            if st != 404:
                last = (i, st, body)
        time.sleep(1)
    return fail("%s %s: no node accepted it, last %r" % (method, path, last))


def move_to(rid, to):
    """Range rid gets a voter on node `to` and loses one of its others
    that does not lead it: its replica set is then another."""
    call_any("POST", "/api/v1/ranges/%d/replicas?node=%d&role=learner" % (rid, to))
    # Promoted once its snapshot is in.
    call_any("POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" % (rid, to), rounds=90)

    def voter_there():
        r = next((x for x in ranges(1) or [] if x["id"] == rid), None)
        return r if r and any(x["node_id"] == to and x["role"] == "voter"
                              for x in r["replicas"]) else None
    r = wait("range %d's voter on node %d" % (rid, to), voter_there, 60)
    for x in r["replicas"]:
        if x["node_id"] == to:
            continue
        for i in NODES:
            st, _ = http(i, "DELETE", "/api/v1/ranges/%d/replicas/%d" % (rid, x["replica_id"]))
            if st == 200:
                return wait("range %d off node %d" % (rid, x["node_id"]), lambda: (
                    lambda v: v if v and len(v["replicas"]) == 3 else None)(
                    next((y for y in ranges(1) or [] if y["id"] == rid), None)), 60)
    return fail("range %d: no replica could be removed" % rid)


def pipelined(cc, cmds):
    cc.sock.sendall(b"".join(encode(*c) for c in cmds))
    return [cc._reply() for _ in cmds]


def align_steps(top):
    """The lines of the nodes' logs where the driver carried out a step
    of reason merge_align."""
    n = 0
    for i in NODES:
        with open(os.path.join(top, "log%d" % i), errors="replace") as f:
            n += sum(1 for line in f if "(merge_align)" in line)
    return n


def main():
    top = tempfile.mkdtemp(prefix="rk-mergealign-")
    procs = {i: start(i, top) for i in NODES}
    stop = threading.Event()
    acked = {}
    lock = threading.Lock()
    try:
        first = wait("cluster up", agreed, 60)
        if len(first) != 1 or len(first[0][2]) != 3:
            fail("the first start's layout: %r" % first)
        wait("writes served", lambda: conn(1).call("SET", "warm", "1") == "OK", 30)
        acked[b"warm"] = b"1"

        enough = TARGET * 16 * 1024 * 11 // 10
        done = threading.Event()
        ts = [threading.Thread(target=spans.bulk_writer,
                               args=(w, lambda w: conn(1 + w % 4), stop, done, acked, lock,
                                     enough, VALUE)) for w in range(4)]
        for t in ts:
            t.start()
        t0 = time.time()
        while len(ranges(1) or []) < TARGET:
            if time.time() - t0 > 120:
                fail("%d ranges after 120 s of writes" % len(ranges(1) or []))
            time.sleep(0.5)
        done.set()
        for t in ts:
            t.join()
        # Splits go on a moment after the writes (a range above
        # --split-size): the layout once it holds for 5 s.
        held = {"v": None, "since": time.time()}

        def settled():
            v = agreed()
            if v != held["v"]:
                held["v"], held["since"] = v, time.time()
            return v if v is not None and time.time() - held["since"] >= 5 else None
        split = wait("the split layout", settled, 90)
        spare = [i for i in NODES if i not in split[0][2]]
        if len(spare) != 1 or any(r[2] != split[0][2] for r in split):
            fail("the splits' replica sets: %r" % split)
        # Two automatic ranges, neither the other's neighbour, moved by
        # hand: each now on other nodes than its left neighbour.
        moved = [split[k][0] for k in range(1, len(split), 2)][:MOVED]
        for rid in moved:
            move_to(rid, spare[0])
        after = wait("the moves seen", agreed, 60)
        differ = [after[k][0] for k in range(1, len(after)) if after[k][2] != after[k - 1][2]]
        if not set(moved) <= set(differ):
            fail("moved %r, sets differing from the left's: %r" % (moved, after))
        print("mergealign_test: %d ranges after %.0f s of writes (%d keys); ranges %r moved "
              "to node %d" % (len(after), time.time() - t0, len(acked), moved, spare[0]),
              flush=True)

        cc = conn(2)
        keys = [k for k in acked if k != b"warm"]
        for off in range(KEEP, len(keys), 200):
            part = keys[off:off + 200]
            for k, got in zip(part, pipelined(cc, [("DEL", k) for k in part])):
                if isinstance(got, Err):
                    fail("DEL %r: %r" % (k, got))
                acked[k] = None
        for k, got in zip(keys[:KEEP], pipelined(cc, [("SET", k, b"short") for k in keys[:KEEP]])):
            if got != "OK":
                fail("SET %r: %r" % (k, got))
            acked[k] = b"short"

        call_any("POST", "/api/v1/rebalance?enabled=true")
        t1 = time.time()
        seen = set()
        while True:
            v = agreed()
            if v is not None and len(v) == 1:
                break
            if time.time() - t1 > 180:
                fail("not back to one range 180 s after the resume: %r" % (v,))
            st, body = http(1, "GET", "/api/v1/operations")
            if st == 200:
                seen |= {(o.get("range"), o.get("to"), o.get("step")) for o in body["operations"]
                         if o.get("reason") == "merge_align"}
            time.sleep(0.5)
        took = time.time() - t1
        steps = align_steps(top)
        if steps < 2 * MOVED:
            fail("%d steps of reason merge_align logged, %d ranges moved" % (steps, MOVED))
        spans.read_back(conn(3), acked, fail)
        print("mergealign_test: OK (%d -> 1 range in %.1f s after the resume; %d alignment "
              "steps logged, %d seen in /api/v1/operations; %d keys read back)" %
              (len(after), took, steps, len(seen), len(acked)), flush=True)
    except SystemExit:
        os.environ["RK_KEEP"] = "1"
        print("mergealign_test: logs in %s" % top, flush=True)
        raise
    finally:
        stop.set()
        spans.kill_all(procs, top)


main()
