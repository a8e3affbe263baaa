#!/usr/bin/env python3
"""`rangekv start --join HOST:PORT` (src/node/join.h) on real processes:
three nodes (127.0.0.1-3) started with --initial-cluster, a cluster
secret and a recorded --dead-after; joins that must be refused, each with a
clear error, a non-zero exit within a bounded time and no data directory
left behind: a taken node id, a taken peer address, a client address
that the node table holds for another node (refused by REGISTER), a conflicting
--dead-after, a wrong cluster secret, no cluster secret, an unreachable
--join address. Then node 4 joins through node 2's peer address with one
command: it is live in GET /api/v1/nodes on every node and up for every
node, holds no range, inherits the cluster's settings; a voter of range 1
added on it (learner, then voter) catches up, leads and serves; it
restarts without --join (and with it again: the member asked where the
cluster's nodes are, nothing else changed) and keeps serving.
Node 5 joins and is killed at the crash point after its first start's
rows are written (test hooks): started again without --join it refuses,
with it it joins again (the same id at the same address) and is live.

    join_test.py path/to/rangekv [--no-hooks]
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replicas_test import BIN, fail, finish, resp, unescape, wait  # noqa: E402
import nodes_test  # noqa: E402

INITIAL = (1, 2, 3)
NEW = 4
RANGES = nodes_test.RANGES  # its led() checks that many


def free_base():
    """25 ports (3 kinds x 8 slots, and one where nothing listens) in the
    band 63000-63499 (above Linux's ephemeral ports, 32768-60999, where an
    outgoing connection of another process may hold a port a node is about
    to listen on), the first block from a pid-chosen one whose ports all
    bind now (a run beside this one may hold some)."""
    for k in range(20):
        base = 63000 + ((os.getpid() + k) % 20) * 25
        try:
            for port in range(base, base + 25):
                for host in ("127.0.0.1", "127.0.0.%d" % (1 + (port - base) % 8)):
                    with socket.socket() as s:
                        s.bind((host, port))
            return base
        except OSError:
            continue
    return 63000 + (os.getpid() % 20) * 25


BASE = free_base()
UNUSED = BASE + 24  # nothing listens there: the unreachable --join


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 8 + i)


def peer(i):
    return addr(i, 0)


CLUSTER = ",".join("%d=%s" % (i, peer(i)) for i in INITIAL)


def call(i, method, path):
    """(HTTP status, JSON body) of a call to node i."""
    req = urllib.request.Request("http://%s%s" % (addr(i, 2), path), method=method,
                                 data=b"" if method != "GET" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
    except OSError:
        return None, None


def args(i, tmp, data, secret="secret"):
    return [BIN, "start", "--node-id", str(i), "--data", data, "--peer-addr", peer(i),
            "--client-addr", addr(i, 1), "--http-addr", addr(i, 2), "--tick-ms", "50",
            "--cluster-secret-file", os.path.join(tmp, secret), "--rebalance", "off"]


def start(i, tmp, extra=(), env=None):
    d = os.path.join(tmp, "n%d" % i)
    os.makedirs(d, exist_ok=True)
    log = open(os.path.join(d, "log"), "a")
    return subprocess.Popen(args(i, tmp, os.path.join(d, "data")) + list(extra),
                            stdout=log, stderr=log,
                            env=dict(os.environ, **env) if env else None)


def up(i, node):
    """Whether node i's cluster/status says node is up."""
    return (nodes_test.status_of(i, node, call) or {}).get("state") == "up"


def refused(tmp, what, i, peer_addr, extra, want, secret="secret"):
    """A join that must fail: exit non-zero within 40 s, want in its
    output, no data directory made."""
    d = os.path.join(tmp, "refused-%s" % what.replace(" ", "-"))
    os.makedirs(d)
    data = os.path.join(d, "data")
    a = args(i, tmp, data, secret or "secret")
    a[a.index("--peer-addr") + 1] = peer_addr
    a[a.index("--client-addr") + 1] = "127.0.0.5:%d" % (BASE + 13)
    a[a.index("--http-addr") + 1] = "127.0.0.5:%d" % (BASE + 21)
    if secret is None:
        k = a.index("--cluster-secret-file")
        del a[k:k + 2]
    t0 = time.time()
    try:
        p = subprocess.run(a + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=40)
    except subprocess.TimeoutExpired:
        fail("a join with %s did not end within 40 s" % what)
    took = time.time() - t0
    out = p.stdout.decode(errors="replace")
    if p.returncode == 0 or want not in out:
        fail("a join with %s: exit %d, output without %r:\n%s" % (what, p.returncode, want, out))
    if os.path.exists(data) and os.listdir(data):
        fail("a refused join with %s left a data directory: %r" % (what, os.listdir(data)))
    line = next((x for x in out.splitlines() if want in x), "")
    print("refused in %.1f s: %s: %s" % (took, what, line.split("--join", 1)[-1][:150]),
          flush=True)


def node_view(i, node):
    st, body = call(i, "GET", "/api/v1/nodes")
    if st != 200:
        return None
    return next((x for x in body["nodes"] if x["id"] == node), None)


def crashed_join(tmp, procs):
    """Node 5 killed between its first start's rows and first_start_done."""
    late = NEW + 1
    p = start(late, tmp, ["--join", peer(3)],
              {"RANGEKV_TEST_HOOKS": "1", "RANGEKV_CRASH_AT": "boot.first_written"})
    try:
        rc = p.wait(timeout=40)
    except subprocess.TimeoutExpired:
        procs[late] = p
        fail("node %d did not reach the crash point" % late)
    if rc != -9:
        fail("node %d exited %s, not by SIGKILL at the crash point" % (late, rc))
    p = start(late, tmp)
    try:
        rc = p.wait(timeout=40)
    except subprocess.TimeoutExpired:
        procs[late] = p
        fail("node %d started without --join on a directory whose join was interrupted" % late)
    with open(os.path.join(tmp, "n%d" % late, "log"), errors="replace") as f:
        if rc == 0 or "neither --initial-cluster nor --join" not in f.read():
            fail("node %d without --join after an interrupted join: exit %s" % (late, rc))
    procs[late] = start(late, tmp, ["--join", peer(3)])
    took, _ = wait("node %d live in GET /api/v1/nodes on every node after joining again" % late,
                   lambda: all((node_view(i, late) or {}).get("state") == "live"
                               for i in INITIAL + (NEW, late)), 60)
    print("node %d killed during its first start after the join: refused to start without "
          "--join, joined again with it (live everywhere in %.1f s)" % (late, took), flush=True)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-join-")
    for name, text in (("secret", "join-test-secret"), ("other", "another-secret")):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(tmp, name), 0o600)
    procs, ok = {}, False
    first = ["--initial-cluster", CLUSTER, "--ranges", str(RANGES), "--replicas", "3",
             "--dead-after", "30s"]
    join = ["--join", peer(2)]
    try:
        for i in INITIAL:
            procs[i] = start(i, tmp, first)
        _, ranges = wait("every range led", lambda: nodes_test.led(INITIAL, call), 60)
        # Node 1's client address is in the node table from its first
        # heartbeat on: the REGISTER check below needs it there.
        wait("the placement group knows node 1's client address",
             lambda: (node_view(1, 1) or {}).get("client_addr") == addr(1, 1), 30)

        refused(tmp, "a taken id", 3, "127.0.0.5:%d" % (BASE + 5), join,
                "node 3 is already in the cluster at %s" % peer(3))
        refused(tmp, "a taken address", 9, peer(1), join,
                "%s is already the address of node 1" % peer(1))
        # Known to the placement group's node table alone (the member
        # checks peer addresses): refused by REGISTER.
        refused(tmp, "a taken client address", 9, "127.0.0.5:%d" % (BASE + 5),
                join + ["--client-addr", addr(1, 1)],
                "one of its addresses (127.0.0.5:%d, or its client or HTTP address) is "
                "another node's in the cluster's node table" % (BASE + 5))
        refused(tmp, "a conflicting --dead-after", 9, "127.0.0.5:%d" % (BASE + 5),
                join + ["--dead-after", "10s"],
                "--dead-after 10s does not match the cluster's setting --dead-after 30s")
        refused(tmp, "a wrong cluster secret", 9, "127.0.0.5:%d" % (BASE + 5), join,
                "its proof does not match: another --cluster-secret-file", secret="other")
        refused(tmp, "no cluster secret", 9, "127.0.0.5:%d" % (BASE + 5), join,
                "it proves a cluster secret and this node has none", secret=None)
        refused(tmp, "an unreachable --join", 9, "127.0.0.5:%d" % (BASE + 5),
                ["--join", "127.0.0.1:%d" % UNUSED], "cannot connect to the member")
        for i in INITIAL:
            if procs[i].poll() is not None:
                fail("node %d exited during the refused joins" % i)
        if any(x["id"] not in INITIAL for x in call(1, "GET", "/api/v1/nodes")[1]["nodes"]):
            fail("a refused join left a node in the node table: %r" %
                 call(1, "GET", "/api/v1/nodes")[1])

        # One command: node 4 joins through node 2.
        t0 = time.time()
        procs[NEW] = start(NEW, tmp, join)
        took, _ = wait("node %d live in GET /api/v1/nodes on every node" % NEW,
                       lambda: all((node_view(i, NEW) or {}).get("state") == "live"
                                   for i in INITIAL + (NEW,)), 60)
        wait("node %d up for every node" % NEW,
             lambda: all(up(i, NEW) and up(NEW, i) for i in INITIAL), 30)
        print("node %d joined through node 2: live in GET /api/v1/nodes on every node in "
              "%.1f s, up for every node in %.1f s" % (NEW, took, time.time() - t0), flush=True)
        st, body = call(NEW, "GET", "/api/v1/ranges?node=%d" % NEW)
        if st != 200 or body["ranges"] != []:
            fail("node %d holds ranges after joining: %r" % (NEW, body))
        st, body = call(NEW, "GET", "/api/v1/nodes")
        if st != 200 or body["dead_after_ms"] != 30000:
            fail("the cluster's --dead-after as node %d answers it: %r" % (NEW, body))

        # A voter of range 1 on it: a learner first, then promoted.
        leader = ranges[1][0]
        for role in ("learner", "voter"):
            for _ in range(100):
                st, body = call(leader, "POST",
                                "/api/v1/ranges/1/replicas?node=%d&role=%s" % (NEW, role))
                if st == 200:
                    break
                time.sleep(0.1)  # the learner catches up before its promotion
            if st != 200 or not any(r["node_id"] == NEW and r["role"] == role
                                    for r in body["replicas"]):
                fail("adding a %s of range 1 on node %d: HTTP %s %r" % (role, NEW, st, body))
        commit = body["commit_index"]
        wait("range 1's replica on node %d caught up" % NEW,
             lambda: (lambda r: r[0] == 200 and r[1]["applied_index"] >= commit)(
                 call(NEW, "GET", "/api/v1/ranges/1")), 30)
        st, body = call(leader, "POST", "/api/v1/ranges/1/transfer-leader?to=%d" % NEW)
        if st != 200 or body["leader"] != NEW:
            fail("moving range 1's leadership to node %d: HTTP %s %r" % (NEW, st, body))
        key = unescape(ranges[1][1]) + b"\x00join"
        s = socket.create_connection(("127.0.0.%d" % NEW, BASE + 8 + NEW), timeout=10)
        if resp(s, b"SET", key, b"joined") != b"+OK" or resp(s, b"GET", key) != b"joined":
            fail("range 1's key through node %d, its leader" % NEW)
        s.close()
        print("range 1: a voter on node %d (learner, then voter), caught up, leads and serves"
              % NEW, flush=True)

        # Restarts: without --join, then with it again (the member asked
        # where the cluster's nodes are now).
        for extra, what in (((), "without --join"), (join, "with --join again")):
            procs[NEW].send_signal(signal.SIGTERM)
            if procs[NEW].wait(timeout=20) != 0:
                fail("node %d did not stop cleanly" % NEW)
            procs[NEW] = start(NEW, tmp, extra)
            wait("node %d up for every node after its restart %s" % (NEW, what),
                 lambda: all(up(i, NEW) for i in INITIAL), 30)

            def serves():
                try:
                    with socket.create_connection(("127.0.0.%d" % NEW, BASE + 8 + NEW),
                                                  timeout=5) as c:
                        return resp(c, b"GET", key) == b"joined"
                except OSError:
                    return False
            wait("node %d serves range 1's key after its restart %s" % (NEW, what), serves, 30)
            print("node %d restarted %s: up, serves range 1's key" % (NEW, what), flush=True)
        with open(os.path.join(tmp, "n%d" % NEW, "log"), errors="replace") as f:
            if "asking %s (--join) where the cluster's nodes are now" % peer(2) not in f.read():
                fail("node %d's restart with --join did not ask the member" % NEW)
        if "--no-hooks" not in sys.argv:
            crashed_join(tmp, procs)
        ok = True
    finally:
        finish(procs, tmp, ok, "join_test")
    print("join_test: OK")


if __name__ == "__main__":
    main()
