"""Range split with real processes: POST /api/v1/split under concurrent
INCRs and SETs from several clients, then a restart.

    split_test.py BIN

Checks: the call answers both descriptors (the left shrunk, generation + 1;
the right from the split key); splitting at a range's start is refused
(400); on every node the ranges still tile the key space; every SET
acknowledged is read back and the INCR counter equals the INCRs
acknowledged (nothing lost, nothing applied twice), also after every node
is killed (-9) and restarted.
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
BASE = 29400 + (os.getpid() % 100) * 10  # the band 29400-30399


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(i, top, crash_at=None):
    return spans.start_node(BIN, i, top, addr, (), crash_at)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn, conn_wait = NODES.http, NODES.ranges, NODES.conn, NODES.conn_wait


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def split(key):
    """Asks each node until the leader answers."""
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    for _ in range(100):
        for i in (1, 2, 3):
            st, body = http(i, "POST", q)
            if st == 200:
                return body
            if st in (400,):
                return st
        time.sleep(0.1)
    fail("split at %r: no leader answered 200" % key)


def main():
    top = tempfile.mkdtemp(prefix="rk-split-")
    procs = {i: start(i, top) for i in (1, 2, 3)}
    stop = threading.Event()
    acked = spans.Acked("zcount")
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == 2 for i in (1, 2, 3)), 30)
        c = conn(1)
        wait("writes served", lambda: c.call("SET", "warm", "1") == "OK", 30)

        ts = spans.writers(lambda w: conn(1 + w % 3), stop, acked)
        time.sleep(1.0)
        # Split the range of "k3..." at k3 (and more) while writing.
        got = []
        for key in ("k3", "k1-00050", "k5", "zc"):
            body = split(key)
            if not isinstance(body, dict):
                fail("split at %s answered %r" % (key, body))
            left, right = body["left"], body["right"]
            if left["end"] != key or right["start"] != key:
                fail("split at %s: descriptors %r" % (key, body))
            got.append(right["id"])
            time.sleep(0.5)
        # Clear errors: no key, GET, and a node that does not lead.
        if http(1, "POST", "/api/v1/split")[0] != 400 or \
                http(1, "POST", "/api/v1/split?key=%zz")[0] != 400 or \
                http(1, "GET", "/api/v1/split?key=k2")[0] != 405:
            fail("a split call without a key, with a malformed one, or by GET is not refused")
        # At a range's start no split can happen: its leader answers 400,
        # the other nodes 409 with where the leader is.
        for i in (1, 2, 3):
            st, body = http(i, "POST", "/api/v1/split?key=k3")
            if st not in (400, 409) or (st == 409 and "leader" not in body):
                fail("node %d: a split at a range's start answered %r %r" % (i, st, body))
        if split("k3") != 400:
            fail("a split at a range's start is not refused with 400")
        # The CLI verb, told every node: it finds the leader.
        cli = subprocess.run([BIN, "split", "k7"] + sum((["--http", addr(i, 2)] for i in (1, 2, 3)), []),
                             capture_output=True, text=True, timeout=60)
        if cli.returncode != 0 or "right range" not in cli.stdout or "[k7, zc)" not in cli.stdout:
            fail("rangekv split k7: %d %r %r" % (cli.returncode, cli.stdout, cli.stderr))
        for _ in range(50):  # the new range may still be electing its leader
            cli = subprocess.run([BIN, "split", "k7"] +
                                 sum((["--http", addr(i, 2)] for i in (1, 2, 3)), []),
                                 capture_output=True, text=True, timeout=60)
            if "not the leader" not in cli.stderr:
                break
            time.sleep(0.2)
        if cli.returncode != 1 or "start" not in cli.stderr:
            fail("rangekv split at a range's start: %d %r" % (cli.returncode, cli.stderr))
        time.sleep(1.0)
        spans.stop_writers(stop, ts, acked, fail)

        def agreed():
            """The ranges when every node knows the same tiling ones."""
            return spans.agreed([ranges(i) for i in (1, 2, 3)])

        def check(when, count=(7,)):
            # A restarted node shows its checkpointed descriptors until it
            # has applied its log again: wait for the counts expected.
            v = wait("every node knows the same tiling ranges, %r of them (%s)" % (count, when),
                     lambda: (lambda v: v if v and len(v) in count else None)(agreed()), 60)
            time.sleep(2.0)
            if agreed() != v and len(count) > 1:
                v = wait("ranges settled (%s)" % when,
                         lambda: (lambda v: v if v and len(v) == max(count) else None)(agreed()), 60)
            spans.check_acked(conn(2), acked, when, fail, timeout=30)
        check("after the splits")
        for i in (1, 2, 3):
            procs[i].send_signal(signal.SIGKILL)
            procs[i].wait()
        procs = {i: start(i, top) for i in (1, 2, 3)}
        check("after kill -9 and restart")
        # kill -9 at the crash points of a split, on every node at once,
        # then a restart: the split happened on every node or on none.
        for point, key in (("split.applied", "k8"), ("split.proposed", "k9")):
            # A clean stop first (a checkpoint): the restart armed with the
            # crash point must not replay the earlier splits.
            for i in (1, 2, 3):
                procs[i].send_signal(signal.SIGTERM)
                procs[i].wait()
            procs = {i: start(i, top, point) for i in (1, 2, 3)}
            cc = conn_wait(3)
            for n in range(20):
                k = "%s-%02d" % (key, n)
                if wait("write %s" % k, lambda: cc.call("SET", k, "c") == "OK", 30):
                    acked.sets[k] = "c"
            q = "/api/v1/split?key=" + key

            def crashed():
                # The call again until a node dies at the point: right after
                # the restart the range may have no leader yet (a 409 or 503).
                if any(p.poll() is not None for p in procs.values()):
                    return True
                for i in (1, 2, 3):
                    http(i, "POST", q)
                return any(p.poll() is not None for p in procs.values())
            wait("a node crashed at %s" % point, crashed, 90)
            for i in (1, 2, 3):
                if procs[i].poll() is None:
                    procs[i].send_signal(signal.SIGKILL)
                procs[i].wait()
            procs = {i: start(i, top) for i in (1, 2, 3)}
            check("after kill -9 at %s" % point, count=(8,) if point == "split.applied" else (8, 9))
        print("split_test: OK (%d SETs, %d INCRs acknowledged; new ranges %r)" %
              (len(acked.sets), acked.incr, got), flush=True)
    finally:
        stop.set()
        spans.kill_all(procs, top)


main()
