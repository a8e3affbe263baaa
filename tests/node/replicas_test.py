#!/usr/bin/env python3
"""N real rangekv processes (5 unless given) on 127.0.0.1-N started with
--replicas 3: every range has its three replicas where the layout puts
them (each node holds 3/N of the ranges), its leader on its preferred node
(each node leads 1/N), and a key of every range is written through every
node's RESP port and read back through every node, also through the nodes
that hold none of its replicas (their range cache knows every range from
the start). A restarted node keeps its ranges and serves every key at
once; a conflicting --replicas on restart, or more replicas than nodes, is
refused with one clear line.

    replicas_test.py path/to/rangekv [N]
"""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from cluster import claim_block, unescape  # noqa: E402

BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 5
if not 3 <= N <= 6:
    sys.exit("replicas_test: N from 3 to 6 (the ports of a block)")
NODES = tuple(range(1, N + 1))
REPLICAS = 3
RANGES = 2 * N * REPLICAS  # the layout is exactly even
TICK_MS = 50
# 18 ports a cluster, in a block of 20 this process holds: 25200-27199,
# below the ephemeral ports (node_replicas and node_nodes run side by side).
BASE = claim_block(25200, 100, 20)


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 6 + i)  # up to 6 nodes in a block


def peer(i):
    return addr(i, 0)


def http(i):
    return addr(i, 2)


def call(i, method, path, token=None):
    """(HTTP status, JSON body) of a call to node i."""
    req = urllib.request.Request("http://%s%s" % (http(i), path), method=method,
                                 data=b"" if method != "GET" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")
    except OSError:
        return None, None  # not listening (yet)


CLUSTER = ",".join("%d=%s" % (i, peer(i)) for i in NODES)


def fail(msg):
    name = os.path.basename(sys.argv[0]).replace(".py", "")
    print("%s: FAIL: %s" % (name, msg), flush=True)
    sys.exit(1)


def flags(i, data):
    return [BIN, "start", "--node-id", str(i), "--data", data, "--peer-addr", peer(i),
            "--client-addr", addr(i, 1), "--http-addr", http(i),
            "--initial-cluster", CLUSTER, "--ranges", str(RANGES),
            "--tick-ms", str(TICK_MS), "--rebalance", "off"]


def start(i, data, extra=("--replicas", str(REPLICAS))):
    log = open(os.path.join(os.path.dirname(data), "log%d" % i), "a")
    return subprocess.Popen(flags(i, data) + list(extra), stdout=log, stderr=log)


def ranges(i):
    """The ranges with a replica on node i (every node lists the cluster's)."""
    try:
        with urllib.request.urlopen("http://%s/api/v1/ranges?node=%d&limit=100000" % (http(i), i),
                                    timeout=1) as r:
            return json.loads(r.read().decode())["ranges"]
    except Exception:
        return None


def wait(what, cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return time.time() - t0, v
        time.sleep(0.05)
    fail("%s: not within %.1f s" % (what, timeout))


def layout(rid):
    """The nodes of range rid's replicas and its preferred leader, as
    src/common/desc.c and src/node/elect.c compute them."""
    n, k, i = len(NODES), REPLICAS, rid - 1
    lcm = n * k // math.gcd(n, k)
    s = (i + i // lcm) % n
    nodes = sorted(NODES[(s + j) % n] for j in range(k))
    return nodes, nodes[i % k]


def resp(sock, *args):
    msg = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        msg += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(msg)
    f = sock.makefile("rb")
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]
    return line.rstrip(b"\r\n")


def connect(i):
    host, port = addr(i, 1).split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def cluster_view():
    """{range id: (nodes, leader, start, end)} from every node's hosted
    replicas, once every range is hosted where the layout says, agreed on
    and led."""
    seen = {}
    for i in NODES:
        rs = ranges(i)
        if rs is None:
            return None
        for r in rs:
            nodes = sorted(x["node_id"] for x in r["replicas"])
            v = (tuple(nodes), r["leader"], r["start"], r["end"])
            if r["leader"] is None or seen.setdefault(r["id"], v) != v:
                return None
    return seen if len(seen) == RANGES else None


def check_layout(view):
    held = {i: 0 for i in NODES}
    for rid, (nodes, _, _, _) in view.items():
        want, _ = layout(rid)
        if list(nodes) != want:
            fail("range %d on nodes %s, the layout says %s" % (rid, nodes, want))
        for x in nodes:
            held[x] += 1
    for i in NODES:
        rs = ranges(i)
        if len(rs) != held[i]:
            fail("node %d hosts %d ranges, the layout gives it %d" % (i, len(rs), held[i]))
    if max(held.values()) - min(held.values()) > 1:
        fail("replicas not spread evenly: %s" % held)
    return held


def keys_of(view, tag):
    """One key inside each range's span."""
    out = {}
    for rid, (_, _, start, end) in view.items():
        k = unescape(start) + b"\x00" + tag.encode()
        if end and k >= unescape(end):
            fail("range %d: no key between %r and %r" % (rid, start, end))
        out[rid] = k
    return out


def write_read_everywhere(view, tag):
    socks = {i: connect(i) for i in NODES}
    try:
        for w in NODES:
            for rid, k in keys_of(view, "%s-%d" % (tag, w)).items():
                v = b"v%d-%d" % (w, rid)
                got = resp(socks[w], b"SET", k, v)
                if got != b"+OK":
                    fail("SET of range %d's key through node %d: %r" % (rid, w, got))
                for r in NODES:
                    got = resp(socks[r], b"GET", k)
                    if got != v:
                        fail("GET of range %d's key (written through node %d) through "
                             "node %d (holds it: %s): %r" %
                             (rid, w, r, r in view[rid][0], got))
    finally:
        for s in socks.values():
            s.close()


def finish(procs, tmp, ok, name):
    """SIGTERM to every node still running (kill -9 after 20 s); ok stays
    true only if each exited 0. Removes tmp, or (not ok) keeps it and says
    where, and exits 1."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for i, p in procs.items():
        try:
            rc = p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        if rc != 0 and ok:
            print("%s: FAIL: node %d exited %d" % (name, i, rc))
            ok = False
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("kept %s" % tmp)
        sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-replicas-")
    procs = {}
    ok = False
    try:
        # More replicas than nodes: refused with the flags.
        p = subprocess.run(flags(1, os.path.join(tmp, "none")) + ["--replicas", str(N + 1)],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 2 or \
                "--replicas %d: more than the %d nodes" % (N + 1, N) not in p.stderr:
            fail("--replicas %d of %d nodes: rc %d, %r" % (N + 1, N, p.returncode, p.stderr))
        datas = {}
        for i in NODES:
            os.makedirs(os.path.join(tmp, "n%d" % i))
            datas[i] = os.path.join(tmp, "n%d" % i, "data")
            procs[i] = start(i, datas[i])
        took, view = wait("every range led on its 3 nodes", cluster_view, 60)
        held = check_layout(view)
        print("every range on its 3 nodes after %.2f s: ranges per node %s" % (took, held),
              flush=True)

        def preferred():
            v = cluster_view()
            return v if v and all(v[r][1] == layout(r)[1] for r in v) else None
        took, view = wait("every leader on its preferred node", preferred, 60)
        led = {i: sum(1 for r in view.values() if r[1] == i) for i in NODES}
        print("leaders on their preferred nodes after %.2f s: %s" % (took, led), flush=True)
        if max(led.values()) - min(led.values()) > 1:
            fail("leaders not spread evenly: %s" % led)

        write_read_everywhere(view, "a")
        print("%d keys of every range written through every node, each read back "
              "through every node" % (RANGES * len(NODES)), flush=True)

        # A restart keeps the layout; a conflicting --replicas is refused,
        # the same value accepted, and leaving it out too.
        victim = 4
        procs[victim].send_signal(signal.SIGTERM)
        if procs[victim].wait(timeout=20) != 0:
            fail("SIGTERM: node %d did not exit 0" % victim)
        p = subprocess.run(flags(victim, datas[victim]) + ["--replicas", "2"],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 1 or "--replicas does not match the first start" not in p.stderr \
                or "(--replicas 3)" not in p.stderr:
            fail("conflicting --replicas accepted: rc %d, %r" % (p.returncode, p.stderr))
        print("a conflicting --replicas on restart: %s" % p.stderr.strip().splitlines()[-1],
              flush=True)
        procs[victim] = start(victim, datas[victim], extra=())
        wait("every range led after the restart", cluster_view, 60)
        check_layout(cluster_view())
        write_read_everywhere(view, "b")
        print("node %d restarted without --replicas: the same ranges, every key served"
              % victim, flush=True)
        procs[victim].send_signal(signal.SIGTERM)
        procs[victim].wait(timeout=20)
        procs[victim] = start(victim, datas[victim])
        wait("every range led after a restart with --replicas 3", cluster_view, 60)
        write_read_everywhere(view, "c")
        print("node %d restarted with the same --replicas: accepted" % victim, flush=True)
        ok = True
    finally:
        finish(procs, tmp, ok, "replicas_test")
    print("replicas_test: OK")


if __name__ == "__main__":
    main()
