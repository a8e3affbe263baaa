#!/usr/bin/env python3
"""A right range frozen for a merge into a left that is absorbed before the
merge applies (docs/node.md, "Range merge").

Three nodes, one range split into A | B | C. A merge of C into B is cut
after C's FREEZE applied (kill -9 of the calling node at the crash point
merge.freeze_applied): C stays frozen for B until the merge is abandoned,
after 3 x --request-timeout. Then:

1. A merge of B into A is refused (409) while C is frozen for B: absorbed,
   B would leave C's merge with no left range to apply or abort it in.
2. With that check off (test hook RANGEKV_TEST_MERGE_NO_LEFT_CHECK=1, as
   when C's freeze applies only after the call's checks), A absorbs B; C,
   whose left B is gone, must then be unfrozen by its leader once its
   watch runs out (`rangekv_merges_orphaned_total`): a SET into C is
   answered OK again, A absorbs C, and C's key reads back. Before, C stayed
   frozen for good (seen in node_automerge_run: "a merge of this range is
   under way" for minutes).

    mergeorphan_test.py BIN

Ports: a block of 10 in 27235-27264 claimed by lock.
"""
import os
import signal
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import cluster as fc  # noqa: E402
import spans  # noqa: E402

BIN = sys.argv[1]
BASE = 0
TIMEOUT_LONG_MS = 30000  # the freeze outlives steps 1 and 2's merge
TIMEOUT_SHORT_MS = 4000  # the watch gives up on C after 12 s


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("mergeorphan_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, local = NODES.http, NODES.ranges, NODES.local


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def start_all(top, timeout_ms, crash_at=None, hooks=None):
    return {i: spans.start_node(BIN, i, top, addr, ["--request-timeout", str(timeout_ms)],
                                crash_at, hooks, ranges=1) for i in (1, 2, 3)}


def stop_all(procs, sig=signal.SIGTERM):
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(sig)
    for p in procs.values():
        p.wait()


def on_any(method, path, good, timeout=60):
    """method path on each node in turn until good(status, body); the last answer."""
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        for i in (1, 2, 3):
            last = http(i, method, path)
            if good(*last):
                return last
        time.sleep(0.2)
    fail("%s %s: no answer as expected within %d s; last %r" % (method, path, timeout, last))


def span_of(key):
    rs = ranges(1) or []
    for r in rs:
        if r["start"] <= key and (r["end"] == "" or key < r["end"]):
            return r
    return None


def set_ok(key, value):
    c = NODES.conn(1)
    try:
        return c.call("SET", key, value) == "OK"
    except Exception:  # noqa: BLE001 (a frozen range's error, a reset)
        return False
    finally:
        c.close()


def main():
    global BASE
    BASE = fc.claim_block(27235, 3, 10)
    top = tempfile.mkdtemp(prefix="rk-mergeorphan-")
    procs, ok = {}, False
    try:
        procs = start_all(top, TIMEOUT_LONG_MS)
        wait("cluster up", lambda: all(ranges(i) for i in (1, 2, 3)), 60)
        for key in ("mo-b", "mo-d"):
            on_any("POST", "/api/v1/split?key=" + urllib.parse.quote(key, safe=""),
                   lambda st, body: st == 200)
        wait("three ranges on every node",
             lambda: all(ranges(i) and len(ranges(i)) == 3 for i in (1, 2, 3)), 30)
        a, b, c = (span_of(k)["id"] for k in ("mo-a", "mo-c", "mo-e"))
        wait("a SET into C", lambda: set_ok("mo-e", "c-value"), 30)

        # C's merge into B, cut once C's freeze applied.
        stop_all(procs)
        procs = start_all(top, TIMEOUT_LONG_MS, crash_at="merge.freeze_applied")

        def crashed():
            for i in (1, 2, 3):
                if procs[i].poll() is None:
                    http(i, "POST", "/api/v1/merge?left=%d" % b)
            return any(p.poll() is not None for p in procs.values())
        wait("a node killed at merge.freeze_applied", crashed, 60)
        stop_all(procs, signal.SIGKILL)

        # 1. B may not be absorbed while C is frozen for it. The call's
        # check reads the caller's replica of C: wait until every node's
        # has applied the freeze again after the restart (before, one that
        # had not let the merge through, and the test failed in CI).
        procs = start_all(top, TIMEOUT_LONG_MS)
        wait("C frozen for B on every node after the restart",
             lambda: all((local(i, c) or {}).get("frozen_for") == b for i in (1, 2, 3)), 60)
        st, body = on_any("POST", "/api/v1/merge?left=%d" % a,
                          lambda st, body: st == 409 and "frozen for a merge into it" in
                          str(body) or st == 200, 60)
        if st == 200:
            fail("B was absorbed while C was frozen for it: %r" % (body,))
        print("merge of B into A refused while C is frozen for B: %s" % body["error"],
              flush=True)

        # 2. With that check off, A absorbs B; C must unfreeze by itself.
        stop_all(procs)
        procs = start_all(top, TIMEOUT_SHORT_MS, hooks={"RANGEKV_TEST_MERGE_NO_LEFT_CHECK": "1"})
        t0 = time.time()
        on_any("POST", "/api/v1/merge?left=%d" % a, lambda st, body: st == 200, 30)
        wait("C unfrozen and writable", lambda: set_ok("mo-e", "c-after"),
             3 * TIMEOUT_SHORT_MS / 1000 + 30)
        t1 = time.time() - t0
        orphaned = sum(NODES.metric(i, "rangekv_merges_orphaned_total") or 0 for i in (1, 2, 3))
        if orphaned < 1:
            fail("C serves again, but no node counts an orphaned freeze in /metrics")
        on_any("POST", "/api/v1/merge?left=%d" % a, lambda st, body: st == 200, 60)
        wait("one range on every node",
             lambda: all(ranges(i) and len(ranges(i)) == 1 for i in (1, 2, 3)), 30)
        cc = NODES.conn(2)
        got = cc.call("GET", "mo-e")
        cc.close()
        if got not in ("c-after", b"c-after"):
            fail("GET mo-e after the merges: %r" % (got,))
        print("range %d (C), frozen for a merge into range %d (B) that range %d (A) absorbed, "
              "unfrozen %.1f s after that merge; A then absorbed it and its key reads back"
              % (c, b, a, t1), flush=True)
        ok = True
    finally:
        spans.kill_all(procs, top)
    print("mergeorphan_test: %s" % ("ok" if ok else "FAILED"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
