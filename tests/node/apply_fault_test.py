#!/usr/bin/env python3
"""A failed apply is all or nothing, on real rangekv processes.

    apply_fault_test.py path/to/rangekv

The test hooks (RANGEKV_TEST_HOOKS=1, docs/testing.md) make the apply of a
command fail as a store read error would. Clients INCR distinct keys, each
once, from many connections at once, so that a ready applies several
commands before the one that fails. Then:

  once    three nodes, each failing one apply: every node rolls the apply
          back, retries it, and goes on; every INCR is answered and every
          key is 1 (exactly once).
  always  one node, every apply failing after a while: the node exits with
          status 1 and says why; restarted without the fault, every key is
          at most 1 (nothing applied twice from a half-written batch) and
          every answered INCR is 1.

Skipped (exit 0, the reason printed) when the binary has no test hooks (a
Release build). RK_KEEP_TMP=1 keeps the data directories and logs.
"""
import json
import os
import shutil
import sys
import tempfile
import threading
import traceback
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402
from resp import Conn, Err  # noqa: E402

CLIENTS = 16
PER_CLIENT = 25
HOOKS = {"RANGEKV_TEST_HOOKS": "1"}


def post(node, path):
    """(status, parsed JSON or None)."""
    req = urllib.request.Request("http://%s%s" % (fc.http_addr(node), path), data=b"",
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, None


def key(c, j):
    return b"k%02d-%04d" % (c, j)


def incr_load(nodes, stop_on_error):
    """CLIENTS connections INCR their own keys, each once. Returns the keys
    answered 1, and whether any answer was something else."""
    acked, bad, lock = set(), [], threading.Lock()

    def client(c):
        node = nodes[c % len(nodes)]
        conn = None
        for j in range(PER_CLIENT):
            try:
                if conn is None:
                    conn = Conn(fc.client_addr(node), timeout=15)
                r = conn.call("INCR", key(c, j))
            except (OSError, EOFError):
                if conn is not None:
                    conn.close()
                conn = None
                if stop_on_error:
                    return
                continue
            with lock:
                if r == 1:
                    acked.add(key(c, j))
                elif not isinstance(r, Err):
                    bad.append((key(c, j), r))
                elif stop_on_error:
                    return
        if conn is not None:
            conn.close()

    ts = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return acked, bad


def read_all(node):
    """{key: value} of every key the load could have written."""
    out = {}
    conn = Conn(fc.client_addr(node), timeout=15)
    try:
        for c in range(CLIENTS):
            for j in range(PER_CLIENT):
                v = conn.call("GET", key(c, j))
                if isinstance(v, Err):
                    raise RuntimeError("GET %r: %s" % (key(c, j), v.msg))
                out[key(c, j)] = v
    finally:
        conn.close()
    return out


def has_hooks(node):
    """With the hooks, GET on a fault endpoint is 405 (POST only); without
    them the path is no endpoint (404)."""
    try:
        urllib.request.urlopen("http://%s/api/v1/debug/fault/apply" % fc.http_addr(node),
                               timeout=5)
    except urllib.error.HTTPError as e:
        return e.code == 405
    return False


def arm(c, nodes, query):
    if not has_hooks(nodes[0]):
        return "the binary has no test hooks (a Release build): skipped"
    for i in nodes:
        st, body = post(i, "/api/v1/debug/fault/apply?" + query)
        if st == 404:
            return "the binary has no test hooks (a Release build): skipped"
        if st != 200:
            raise RuntimeError("node %d: fault/apply answered %s" % (i, st))
    return None


def log_text(c, i):
    with open(os.path.join(c.tmp, "n%d" % i, "log"), errors="replace") as f:
        return f.read()


def scenario_once(binary, tmp):
    c = fc.Cluster(binary, tmp, env=HOOKS)
    try:
        c.start_all()
        c.wait_all_led()
        skip = arm(c, c.nodes, "fail=1&after=20")
        if skip:
            return skip
        acked, bad = incr_load(list(c.nodes), stop_on_error=False)
        time.sleep(1.0)  # a node that is stopping has stopped
        dead = [i for i in c.nodes if not c.up(i)]
        if dead:
            raise AssertionError("a failed apply retried once must not stop the node; "
                                 "nodes %s exited: %s" % (dead, "".join(c.log_tail(dead[0]))))
        for i in c.nodes:
            st, body = post(i, "/api/v1/debug/fault/apply?fail=0")
            if body["failed"] != 1:
                raise AssertionError("node %d injected %s failures, not 1" % (i, body["failed"]))
            if "retried apply succeeded" not in log_text(c, i):
                raise AssertionError("node %d does not log the retry" % i)
        if bad:
            raise AssertionError("INCR answers other than 1: %s" % bad[:5])
        vals = read_all(1)
        wrong = {k: v for k, v in vals.items() if v != b"1"}
        if wrong:
            raise AssertionError("keys not exactly 1: %s" % sorted(wrong.items())[:5])
        if len(acked) != CLIENTS * PER_CLIENT:
            raise AssertionError("%d of %d INCRs answered" % (len(acked), CLIENTS * PER_CLIENT))
        st = c.stop_all()
        if any(v != 0 for v in st.values()):
            raise AssertionError("exit statuses %s" % st)
        return None
    finally:
        c.stop_all()


def scenario_always(binary, tmp):
    c = fc.Cluster(binary, tmp, nodes=(1,), env=HOOKS)
    try:
        c.start_all()
        c.wait_all_led()
        skip = arm(c, c.nodes, "fail=always&after=40")
        if skip:
            return skip
        acked, bad = incr_load([1], stop_on_error=True)
        try:
            status = c.procs[1].wait(timeout=30)
        except Exception:
            raise AssertionError("node 1 still runs with every apply failing")
        if status != 1:
            raise AssertionError("node 1 exited with status %s, not 1" % status)
        text = log_text(c, 1)
        if bad:
            raise AssertionError("INCR answers other than 1: %s" % bad[:5])
        # Restart without the fault: the log is applied again.
        c.env = {}
        c.start(1)
        c.wait_all_led()
        vals = read_all(1)
        twice = {k: v for k, v in vals.items() if v not in (None, b"1")}
        if twice:
            raise AssertionError("applied more than once after the restart: %s" %
                                 sorted(twice.items())[:5])
        lost = [k for k in acked if vals[k] != b"1"]
        if lost:
            raise AssertionError("answered INCRs missing after the restart: %s" % lost[:5])
        if "applying committed entries failed twice; stopping" not in text:
            raise AssertionError("node 1 does not say why it stopped:\n%s" % text[-2000:])
        print("always: %d INCRs answered before the stop, %d applied in all" %
              (len(acked), sum(1 for v in vals.values() if v == b"1")))
        return None
    finally:
        c.stop_all()


def main():
    binary = os.path.abspath(sys.argv[1])
    failed = 0
    for name, fn in (("once", scenario_once), ("always", scenario_always)):
        tmp = tempfile.mkdtemp(prefix="rk-apply-fault-")
        try:
            skip = fn(binary, tmp)
            if skip:
                print("apply_fault_test: %s" % skip)
                return 0
            print("%s: ok" % name)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print("%s: FAILED: %s" % (name, e))
            traceback.print_exc()
        finally:
            if os.environ.get("RK_KEEP_TMP"):
                print("kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    print("apply_fault_test: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
