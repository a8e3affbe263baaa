#!/usr/bin/env python3
"""Routing that follows descriptors, on four real nodes (every range on
every node at the start):

- ranges 3, 6 and 9 lose their replicas on node 4, then on node 1, by the
  admin calls. Node 4 keeps each range's descriptor as of its own removal
  (replicas on nodes 1, 2, 3) and, for these range ids, would pick node 1
  first, which no longer holds them: a stale cache entry. GET, SET and
  INCR through node 4's RESP port must still reach the ranges: node 1
  answers NO_RANGE with the descriptor it kept, node 4 learns it and goes
  on (rangekv_router_redirects_total counts it);
- node 4 restarted with kill -9: it no longer knows the ranges it lost at
  all (no replica, nothing cached), and asks the other nodes in turn
  (rangekv_router_asks_total);
- node 4 down while its replicas of ranges 12 and 15 (and node 1's) are
  removed: restarted, it still holds them with descriptors that name nodes
  1-4; once it has collected them (it asks a member), its router goes to
  node 1, which answers NO_RANGE with where the ranges went;
- through all of it no command is answered -TRYAGAIN or any error, no
  acknowledged write is lost (every SET reads back through another node)
  and none is applied twice (each key's INCR total equals the INCRs
  acknowledged).

    route_test.py path/to/rangekv
"""
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
from cluster import Cluster, http_addr, client_addr  # noqa: E402
from resp import Conn, Err  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
from member_test import call  # noqa: E402

SLOTS = (1, 2, 3, 4)
MOVED = (3, 6, 9)


def fail(msg):
    print("route_test: FAIL: " + msg, flush=True)
    sys.exit(1)


class Cluster4(Cluster):
    """The fault harness's cluster with a fourth node on 127.0.0.4 (its
    ports are the slot formulas of cluster.py: distinct on that host)."""

    def __init__(self, binary, tmp):
        # Every range on every node at the start, as the moves below
        # assume (the default, --replicas 3, leaves each range off one).
        super().__init__(binary, tmp, nodes=SLOTS, extra_flags=["--replicas", "4"])
        self.ids = {i: i for i in SLOTS}
        self.slot = dict(self.ids)


def held(c, slot):
    """The ranges node `slot` holds a replica of: those it lists with its
    replica's figures (it lists every range of the cluster; the others
    have no role)."""
    return [r for r in c.ranges(slot) or [] if r["role"] is not None]


def view(c, slot, rid):
    for r in held(c, slot):
        if r["id"] == rid:
            return r
    return None


def admin(c, method, path, rid):
    """An admin call on the range's leader, following its 409 hints."""
    for _ in range(100):
        for s in SLOTS:
            v = view(c, s, rid)
            if v and v["role"] == "leader":
                st, body = call(s, method, path)
                if st == 409 and body.get("error") == "not the leader of this range":
                    break
                return st, body
        time.sleep(0.1)
    fail("%s %s: no leader answered" % (method, path))


def replica_on(c, rid, node):
    for s in SLOTS:
        v = view(c, s, rid)
        if v:
            for x in v["replicas"]:
                if x["node_id"] == node:
                    return x["replica_id"]
            return None
    fail("no node shows range %d" % rid)


def remove(c, rid, node):
    """Removes range rid's replica on node (leadership moved off it first)."""
    other = 2 if node != 2 else 3
    for _ in range(50):
        st, body = admin(c, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                         (rid, replica_on(c, rid, node)), rid)
        if st == 200:
            return body
        if st == 409 and "transfer" in body.get("error", ""):
            admin(c, "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" % (rid, other), rid)
            continue
        time.sleep(0.2)
    fail("removing range %d's replica on node %d: %d %s" % (rid, node, st, body))


def wait_led(c, slot, timeout=30):
    """Every range node `slot` holds has a leader it knows."""
    until = time.time() + timeout
    while time.time() < until:
        rs = held(c, slot)
        if rs and all(r["leader"] for r in rs):
            return
        time.sleep(0.05)
    fail("node %d: not every range it holds is led" % slot)


def metric(slot, name):
    m = urllib.request.urlopen("http://%s/metrics" % http_addr(slot), timeout=2).read()
    for line in m.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    fail("node %d: no metric %s" % (slot, name))


class Load:
    """SETs and INCRs through node 4 on keys of the moved ranges; every
    answer must be the right one."""

    def __init__(self, keys):
        self.keys, self.acked, self.incrs, self.n = keys, {}, {}, 0
        self.conn = None

    def round(self, label):
        if self.conn is None:
            self.conn = Conn(client_addr(4), timeout=10)
        for k in self.keys:
            self.n += 1
            v = ("%s-%d" % (label, self.n)).encode()
            t0 = time.time()
            got = self.conn.call("SET", k, v)
            if got != "OK":
                fail("SET %r through node 4 (%s): %r after %.2f s" % (k, label, got,
                                                                     time.time() - t0))
            self.acked[k] = v
            got = self.conn.call("GET", k)
            if got != v:
                fail("GET %r through node 4 (%s): %r, want %r" % (k, label, got, v))
            got = self.conn.call("INCR", k + b":n")
            if isinstance(got, Err) or not isinstance(got, int):
                fail("INCR %r through node 4 (%s): %r" % (k, label, got))
            self.incrs[k] = self.incrs.get(k, 0) + 1
            if got != self.incrs[k]:
                fail("INCR %r: %d, want %d (applied twice, or lost)" % (k, got, self.incrs[k]))

    def check(self, slot):
        conn = Conn(client_addr(slot), timeout=10)
        for k, v in self.acked.items():
            got = conn.call("GET", k)
            if got != v:
                fail("node %d reads %r as %r, want %r" % (slot, k, got, v))
            got = conn.call("GET", k + b":n")
            if got != str(self.incrs[k]).encode():
                fail("node %d reads %r:n as %r, want %d" % (slot, k, got, self.incrs[k]))


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="rk-route-")
    c = Cluster4(binary, tmp)
    ok = False
    try:
        c.start_all()
        c.wait_all_led(nodes=list(SLOTS))
        spans = c.spans()
        keys = []
        for rid in MOVED:
            start, end = spans[rid]
            k = start + b"route"
            if end and not k < end:
                fail("no key in range %d's span %r-%r" % (rid, start, end))
            keys.append(k)
        load = Load(keys)
        load.round("before")

        for rid in MOVED:
            remove(c, rid, 4)
        until = time.time() + 10
        while any(view(c, 4, rid) for rid in MOVED):
            if time.time() > until:
                fail("node 4 still holds a moved range")
            time.sleep(0.05)
        load.round("off4")
        for rid in MOVED:
            d = remove(c, rid, 1)
            if sorted(x["node_id"] for x in d["replicas"]) != [2, 3]:
                fail("range %d after the moves: %s" % (rid, d["replicas"]))
        until = time.time() + 10
        while any(view(c, 1, rid) for rid in MOVED):
            if time.time() > until:
                fail("node 1 still holds a moved range")
            time.sleep(0.05)
        print("ranges %s moved to nodes 2 and 3; node 4's cache names nodes 1-3" % (MOVED,),
              flush=True)
        r0 = metric(4, "rangekv_router_redirects_total")
        t0 = time.time()
        load.round("stale")
        redirects = metric(4, "rangekv_router_redirects_total") - r0
        print("stale cache: %d commands through node 4 in %.2f s, %d redirects" %
              (3 * len(keys), time.time() - t0, redirects), flush=True)
        if redirects < 1:
            fail("node 4 was not redirected (is its cache stale?)")
        t0 = time.time()
        load.round("stale-again")
        print("the same commands again (cache updated): %.2f s" % (time.time() - t0), flush=True)

        # Restarted, node 4 knows nothing of the ranges it lost.
        c.kill9(4)
        c.start(4)
        wait_led(c, 4)
        load.conn = None
        t0 = time.time()
        load.round("restarted")
        asks = metric(4, "rangekv_router_asks_total")
        print("after a restart: %d commands through node 4 in %.2f s, %d asks, "
              "%d redirects" % (3 * len(keys), time.time() - t0, asks,
                                metric(4, "rangekv_router_redirects_total")), flush=True)
        if metric(4, "rangekv_client_tryagain_total") != 0 or \
                metric(4, "rangekv_client_timeouts_total") != 0:
            fail("node 4 answered -TRYAGAIN or -TIMEOUT")

        # Node 4 down while its replicas of ranges 12 and 15 are removed
        # (and node 1's): restarted, it still holds them, with descriptors
        # that name nodes 1-4, until it asks and collects them.
        down = (12, 15)
        dkeys = []
        for rid in down:
            start, end = spans[rid]
            dkeys.append(start + b"route")
        dload = Load(dkeys)
        dload.round("before-down")
        c.kill9(4)
        for rid in down:
            remove(c, rid, 4)
            d = remove(c, rid, 1)
            if sorted(x["node_id"] for x in d["replicas"]) != [2, 3]:
                fail("range %d after the moves: %s" % (rid, d["replicas"]))
        c.start(4)
        until = time.time() + 30
        while c.ranges(4) is None:
            if time.time() > until:
                fail("node 4 does not answer after its restart")
            time.sleep(0.05)
        dload.conn = None
        t0 = time.time()
        dload.round("removed-while-down")
        print("removed while down: %d commands through node 4 in %.2f s (%d redirects)" %
              (3 * len(dkeys), time.time() - t0,
               metric(4, "rangekv_router_redirects_total")), flush=True)
        if metric(4, "rangekv_client_tryagain_total") != 0 or \
                metric(4, "rangekv_client_timeouts_total") != 0:
            fail("node 4 answered -TRYAGAIN or -TIMEOUT")
        dload.check(2)
        for s in (2, 3):
            load.check(s)
        print("%d keys and their counters read back through nodes 2 and 3" % len(keys),
              flush=True)
        ok = True
        print("route_test: PASS", flush=True)
    finally:
        ok = c.finish(ok, "route_test")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
