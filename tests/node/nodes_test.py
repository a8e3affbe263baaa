#!/usr/bin/env python3
"""Peers added at runtime (POST /api/v1/nodes, src/node/roster.h), on three
real nodes (127.0.0.1-3) and a fourth (127.0.0.4) that is in no initial
cluster: the call needs the admin token, refuses a bad id or address, a
known id at another address and a taken address; it is idempotent; the
added node is listed by cluster/status, unreachable until node 4 starts
(--added-node, holding no range) and up after; node 4 serves every key
through its range cache; a replica of a range added on it is caught up
and serves that range's data; the addition survives a restart.

    nodes_test.py path/to/rangekv
"""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replicas_test import (BIN, addr, call, connect, fail, finish, peer, resp,  # noqa: E402
                           unescape, wait)

INITIAL = (1, 2, 3)
NEW = 4
RANGES = 8
TOKEN = "nodes-test-token"
CLUSTER = ",".join("%d=%s" % (i, peer(i)) for i in INITIAL)


def start(i, tmp, extra=(), first_start_flags=True):
    """Node i; a restart may leave out the first-start flags."""
    d = os.path.join(tmp, "n%d" % i)
    os.makedirs(d, exist_ok=True)
    log = open(os.path.join(d, "log"), "a")
    first = ["--initial-cluster", CLUSTER, "--ranges", str(RANGES), "--replicas", "3",
             "--rebalance", "off"]
    args = [BIN, "start", "--node-id", str(i), "--data", os.path.join(d, "data"),
            "--peer-addr", peer(i), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
            "--tick-ms", "50", "--admin-token-file", os.path.join(tmp, "token")] + \
        (first if first_start_flags else []) + list(extra)
    return subprocess.Popen(args, stdout=log, stderr=log)


def status_of(i, node, call=call):
    """Node `node` in node i's cluster/status (call: another test's
    addresses)."""
    st, body = call(i, "GET", "/api/v1/cluster/status")
    if st != 200:
        return None
    return next((x for x in body["nodes"] if x["id"] == node), None)


def led(nodes, call=call):
    """{range id: (leader, start)} once every node in nodes sees every one
    of the RANGES ranges led (call: another test's addresses)."""
    out = {}
    for i in nodes:
        st, body = call(i, "GET", "/api/v1/ranges?limit=1000")
        if st != 200 or len(body["ranges"]) != RANGES:
            return None
        for r in body["ranges"]:
            if r["leader"] is None:
                return None
            out[r["id"]] = (r["leader"], r["start"])
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="rk-nodes-")
    with open(os.path.join(tmp, "token"), "w") as f:
        f.write(TOKEN)
    os.chmod(os.path.join(tmp, "token"), 0o600)
    procs, ok = {}, False
    add = "/api/v1/nodes?id=%d&peer_addr=%s" % (NEW, peer(NEW))
    try:
        for i in INITIAL:
            procs[i] = start(i, tmp)
        _, ranges = wait("every range led", lambda: led(INITIAL), 60)

        st, _ = call(1, "POST", add)
        if st != 401:
            fail("adding a node without the admin token: HTTP %d" % st)
        for path, want, what in (
                ("/api/v1/nodes?id=x&peer_addr=%s" % peer(NEW), 400, "id=N"),
                ("/api/v1/nodes?id=%d&peer_addr=nowhere" % NEW, 400, "peer_addr=HOST:PORT"),
                ("/api/v1/nodes?id=%d" % NEW, 400, "peer_addr=HOST:PORT"),
                ("/api/v1/nodes?id=2&peer_addr=%s" % peer(NEW), 409, "node 2 is already"),
                ("/api/v1/nodes?id=9&peer_addr=%s" % peer(2), 409, "of node 2")):
            st, body = call(1, "POST", path, TOKEN)
            if st != want or what not in (body or {}).get("error", ""):
                fail("POST %s: HTTP %d %r, want %d with %r" % (path, st, body, want, what))
        # GET lists the placement group's node table (once the group has a
        # leader: 503 before): it adds nothing.
        _, got = wait("GET %s answered" % add,
                      lambda: (lambda r: r if r[0] != 503 else None)(call(1, "GET", add)), 30)
        if got[0] != 200 or [x["id"] for x in got[1]["nodes"]] != list(INITIAL):
            fail("GET %s: HTTP %d %r" % (add, got[0], got[1]))
        print("refused: no token, bad id, bad address, a known id elsewhere, a taken address",
              flush=True)

        # Node 1 registers it in the placement group's node table, from
        # which nodes 2 and 3 may learn it before they are told: added
        # there or known already, never refused.
        for i in INITIAL:
            st, body = call(i, "POST", add, TOKEN)
            if st != 200 or body["id"] != NEW or body["peer_addr"] != peer(NEW) or \
                    (i == 1 and body["added"] is not True):
                fail("adding node %d on node %d: HTTP %d %r" % (NEW, i, st, body))
        st, body = call(1, "POST", add, TOKEN)
        if st != 200 or body["added"] is not False:
            fail("adding node %d again: HTTP %d %r" % (NEW, st, body))
        s = status_of(1, NEW)
        if s is None or s["peer_addr"] != peer(NEW) or s["state"] != "unreachable":
            fail("cluster/status of node 1 on node %d before it runs: %r" % (NEW, s))
        print("node %d added on nodes 1-3 (again: added false); listed unreachable" % NEW,
              flush=True)

        # Node 4 starts holding no range; everyone reaches it.
        procs[NEW] = start(NEW, tmp, ["--added-node"])
        wait("node %d up for nodes 1-3" % NEW,
             lambda: all((status_of(i, NEW) or {}).get("state") == "up" for i in INITIAL), 30)
        st, body = call(NEW, "GET", "/api/v1/ranges?node=%d" % NEW)
        if st != 200 or body["ranges"] != []:
            fail("node %d holds ranges at its first start: %r" % (NEW, body))
        s = connect(NEW)
        keys = {rid: unescape(start_) + b"\x00nodes" for rid, (_, start_) in ranges.items()}
        for rid, k in keys.items():
            if resp(s, b"SET", k, b"v%d" % rid) != b"+OK" or resp(s, b"GET", k) != b"v%d" % rid:
                fail("range %d's key through node %d, which holds no range" % (rid, NEW))
        print("node %d (no range) serves a key of every range through its cache" % NEW,
              flush=True)

        # A replica of range 1 on it: caught up, it holds the key.
        leader = ranges[1][0]
        st, body = call(leader, "POST", "/api/v1/ranges/1/replicas?node=%d&role=voter" % NEW,
                        TOKEN)
        if st != 200 or not any(r["node_id"] == NEW and r["role"] == "voter"
                                for r in body["replicas"]):
            fail("adding a voter of range 1 on node %d: HTTP %d %r" % (NEW, st, body))

        commit = body["commit_index"]

        def caught_up():
            st, body = call(NEW, "GET", "/api/v1/ranges/1")
            return st == 200 and body["applied_index"] >= commit
        wait("range 1's replica on node %d caught up" % NEW, caught_up, 30)
        # Led from node 4, the key is read from its own replica.
        st, body = call(leader, "POST", "/api/v1/ranges/1/transfer-leader?to=%d" % NEW, TOKEN)
        if st != 200 or body["leader"] != NEW:
            fail("moving range 1's leadership to node %d: HTTP %d %r" % (NEW, st, body))
        if resp(s, b"GET", keys[1]) != b"v1":
            fail("range 1's key through node %d, its leader now" % NEW)
        s.close()
        print("range 1 has a voter on node %d, caught up, leads and serves its key" % NEW,
              flush=True)

        # The addition is durable: node 1 restarts knowing node 4, with the
        # first-start flags and without them (its initial cluster is the
        # recorded one: nodes 2 and 3 are its peers as well).
        for flags in (True, False):
            procs[1].send_signal(signal.SIGTERM)
            if procs[1].wait(timeout=20) != 0:
                fail("node 1 did not stop cleanly")
            procs[1] = start(1, tmp, first_start_flags=flags)
            wait("node 1 reaches nodes 2, 3 and %d after its restart" % NEW,
                 lambda: all((status_of(1, x) or {}).get("state") == "up" for x in (2, 3, NEW)),
                 30)
            wait("every range led after node 1's restart", lambda: led(INITIAL), 30)
            print("node 1 restarted %s the first-start flags: nodes 2, 3 and %d its peers, up"
                  % ("with" if flags else "without", NEW), flush=True)
        ok = True
    finally:
        finish(procs, tmp, ok, "nodes_test")
    print("nodes_test: OK")


if __name__ == "__main__":
    main()
