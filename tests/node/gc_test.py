#!/usr/bin/env python3
"""A replica removed while its node was paused, whose range then left every
node of the descriptor it knows, on real rangekv processes (127.0.0.1-4,
four nodes, --replicas 3, 4 ranges, rebalancing off: replicas go only
where the admin calls put them).

A range R on three nodes, node 2 among them, node 4 not: node 2 is
paused (SIGSTOP); R gets a voter on node 4, its leadership moves there,
and its other replicas are removed one by one, node 2's first, so that R
lives on node 4 alone. Node 2 resumes (SIGCONT) with R's old descriptor:
its replica knows no leader and asks the nodes of that descriptor
whether it was removed, but none of them holds R any more, so none
answers. It must still go: it reads R's descriptor from the placement
index, sees a newer one without its replica id, and removes itself
(src/node/life.c, "asking the index").

Checks: node 2 removes its replica of R within 60 s, saying why in its
log; R keeps serving on node 4 (a SET and GET of a key of R's through
node 2).

    gc_test.py path/to/rangekv
"""
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import decom_test  # noqa: E402  (its Cluster and calls)
import placement_test  # noqa: E402  (its wait, which fails through its fail)
import replicas_test  # noqa: E402  (its RESP call)
from cluster import unescape  # noqa: E402

BIN = sys.argv[1]
PAUSED = 2
FAR = 4
# 12 ports a cluster (4 nodes x 3 kinds) in the band 1024-1183, far below
# Linux's ephemeral ports (32768-60999).
BASE = placement_test.free_base(1024, 10, 4)


def fail(msg):
    print("gc_test: FAIL: %s" % msg, flush=True)
    raise SystemExit(1)


decom_test.BASE = BASE
decom_test.RANGES = 4
decom_test.BIN = placement_test.BIN = BIN
decom_test.fail = placement_test.fail = fail
call, wait = decom_test.call, decom_test.wait


class Cluster(decom_test.Cluster):
    FLAGS = ("--replicas", "3", "--rebalance", "off")


def desc(i, rid):
    st, v = call(i, "GET", "/api/v1/ranges/%d" % rid)
    return v if st == 200 and v.get("id") == rid else None


def on_leader(rid, method, path, live):
    """The call on range rid's leader (as the first live node that knows
    says); (status, body), (None, None) when no leader is known."""
    for i in live:
        v = desc(i, rid)
        if v and v.get("leader") in live:
            return call(v["leader"], method, path)
    return None, None


def nodes_of(v):
    return sorted(x["node_id"] for x in v["replicas"])


def main():
    tmp = tempfile.mkdtemp(prefix="rk-gc-")
    c = Cluster(tmp)
    ok = False
    try:
        c.start_all()
        live = (1, 3, 4)
        rs = wait("the index lists 4 ranges",
                  lambda: (lambda r: r[1]["ranges"] if r[0] == 200 and len(r[1]["ranges"]) == 4
                           else None)(call(1, "GET", "/api/v1/ranges")), 60)
        pick = [r for r in rs if PAUSED in nodes_of(r) and FAR not in nodes_of(r)]
        if not pick:
            fail("no range on node %d and not on node %d: %r" %
                 (PAUSED, FAR, [(r["id"], nodes_of(r)) for r in rs]))
        rid = pick[0]["id"]
        wait("range %d led by a node other than %d" % (rid, PAUSED),
             lambda: (lambda v: v and v.get("leader") in live)(desc(1, rid) or desc(3, rid)), 60)
        held = call(PAUSED, "GET", "/api/v1/cluster/status")[1]["ranges"]
        c.procs[PAUSED].send_signal(signal.SIGSTOP)
        st, body = wait("a voter of range %d added on node %d" % (rid, FAR),
                        lambda: (lambda a: a if a[0] == 200 else None)(
                            on_leader(rid, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter"
                                      % (rid, FAR), live)), 120)

        def led_by_far():
            v = desc(FAR, rid)
            if v and v.get("leader") == FAR:
                return v
            on_leader(rid, "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" % (rid, FAR), live)
            time.sleep(0.2)
            return None
        v = wait("range %d led by node %d" % (rid, FAR), led_by_far, 60)
        old = {x["node_id"]: x["replica_id"] for x in v["replicas"] if x["node_id"] != FAR}
        for node in sorted(old, key=lambda k: k != PAUSED):  # the paused node's first
            wait("node %d's replica of range %d removed" % (node, rid),
                 lambda: call(FAR, "DELETE", "/api/v1/ranges/%d/replicas/%d"
                              % (rid, old[node]))[0] in (200, 202) or
                 node not in nodes_of(desc(FAR, rid) or {"replicas": [{"node_id": node}]}), 60)
        wait("range %d on node %d alone" % (rid, FAR),
             lambda: (lambda v: v and nodes_of(v) == [FAR])(desc(FAR, rid)), 60)
        wait("the index lists range %d on node %d alone" % (rid, FAR),
             lambda: any(r["id"] == rid and nodes_of(r) == [FAR]
                         for r in call(1, "GET", "/api/v1/ranges")[1]["ranges"]), 60)
        c.procs[PAUSED].send_signal(signal.SIGCONT)
        t0 = time.time()
        logf = os.path.join(tmp, "log%d" % PAUSED)
        why = "range %d: replica %d leaves this node (the placement index lists its range " \
              "without it)" % (rid, old[PAUSED])
        wait("node %d removed its replica of range %d" % (PAUSED, rid),
             lambda: why in open(logf, errors="replace").read() and
             call(PAUSED, "GET", "/api/v1/cluster/status")[1]["ranges"] == held - 1, 60)
        took = time.time() - t0
        # A key of R's (its start, or the empty start's first byte).
        key = unescape(pick[0]["start"]) + b"gc"
        sock = decom_test.connect(PAUSED)
        r = replicas_test.resp(sock, b"SET", key, b"v")
        got = replicas_test.resp(sock, b"GET", key)
        sock.close()
        if r != b"+OK" or got != b"v":
            fail("range %d through node %d after the removal: %r %r" % (rid, PAUSED, r, got))
        print("gc_test: OK (range %d left nodes %r while node %d was paused; node %d removed "
              "its replica %.1f s after it resumed)" % (rid, sorted(old), PAUSED, PAUSED, took),
              flush=True)
        ok = True
    finally:
        for p in c.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
        c.stop_all()
        if ok and os.environ.get("RK_KEEP") is None:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("gc_test: logs in %s" % tmp, flush=True)


if __name__ == "__main__":
    main()
