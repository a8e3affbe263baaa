"""Automatic merges with real processes: ranges split by themselves while
clients write, the data is deleted, and the placement driver merges them
back to the layout the user chose, with the placement group's leader
killed (-9) in the middle.

    automerge_test.py BIN [START TARGET]      (default 4 40)

Three nodes start with START ranges and --split-size 16KiB (merges below
4 KiB together); one more range is made by hand (POST /api/v1/split).
Those START + 1 ranges are the sticky layout. Writers SET random binary
keys with 1 KiB values until TARGET ranges exist (every range made since
is marked auto_split, none of the sticky ones is); then every key is
deleted but KEEP of them, set again to short values. A slow writer goes
on with short SETs. Once a third of the automatic ranges are merged away,
the placement group's leader is killed with SIGKILL and restarted a few
seconds later: merges must resume under a new leader. Checks: the ranges
come back to exactly the sticky layout (same ids, same starts) on every
node, and stay there (sticky boundaries are never merged); merges were
asked by the driver (rangekv_placement_merges_asked_total) and done by
the ranges' leaders (rangekv_merges_total); every acknowledged SET reads
back and every deleted key reads nil. Printed: the split latency while
writing and the merge latency (p50 and p99, as the bounds of the
rangekv_split_seconds and rangekv_merge_seconds buckets summed over the
nodes, the killed node's merges before the kill included), merges a
second after the deletes, and the count of ranges every minute of a long
run. `automerge_test.py BIN 1000 8000` is a longer form run by hand
(docs/testing.md, docs/benchmarks.md); RK_PORT_BASE=P puts its ports at
P+1..P+9.
"""
import os
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.dirname(__file__))
import spans  # noqa: E402
from spans import tiles  # noqa: E402
from resp import Err, encode  # noqa: E402

BIN = sys.argv[1]
START = int(sys.argv[2]) if len(sys.argv) > 2 else 4
TARGET = int(sys.argv[3]) if len(sys.argv) > 3 else 40
# The band 31800-32199 (ten ports a run).
BASE = int(os.environ.get("RK_PORT_BASE") or 31800 + (os.getpid() % 40) * 10)
VALUE = 1024
KEEP = 8


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("automerge_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(i, top):
    # Rebalancing on: the placement driver merges only then.
    return spans.start_node(BIN, i, top, addr, ["--split-size", "16KiB", "--cache-mb", "64"],
                            ranges=START, rebalance="on")


NODES = spans.Nodes(addr, fail, http_timeout=10)
http, ranges, conn = NODES.http, NODES.ranges, NODES.conn


def metric(i, name):
    try:
        with urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return int(float(line.split()[-1]))
    return 0


def hist(i):
    """The buckets (le -> cumulative count) of node i's histograms of
    split and merge latency: {"split": {...}, "merge": {...}}."""
    out = {"split": {}, "merge": {}}
    try:
        with urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        for kind in out:
            head = "rangekv_%s_seconds_bucket{le=\"" % kind
            if line.startswith(head):
                le = line[len(head):line.index('"', len(head))]
                out[kind][le] = int(float(line.split()[-1]))
    return out


def quantiles(hs, kind):
    """'p50 X s, p99 Y s (N)' of the summed buckets of kind in hs (the
    bucket bounds: a quantile is the bound of the bucket it falls in)."""
    tot = {}
    for h in hs:
        for le, c in h[kind].items():
            tot[le] = tot.get(le, 0) + c
    if not tot:
        return "none"
    bounds = sorted(tot, key=lambda le: float("inf") if le == "+Inf" else float(le))
    n = tot[bounds[-1]]
    if n == 0:
        return "none"
    qs = [next(le for le in bounds if tot[le] >= q * n) for q in (0.5, 0.99)]
    return "p50 <= %s s, p99 <= %s s (%d)" % (qs[0], qs[1], n)


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail, step=0.2)


def layout(rs):
    return sorted((r["id"], r["start"]) for r in rs)


def agreed():
    seen = [ranges(i) for i in (1, 2, 3)]
    if any(r is None or not tiles(r) for r in seen):
        return None
    views = [layout(r) for r in seen]
    return views[0] if views[0] == views[1] == views[2] else None


def placement_leader():
    for i in (1, 2, 3):
        st, body = http(i, "GET", "/api/v1/cluster/status")
        if st == 200 and body.get("placement", {}).get("leader"):
            return int(body["placement"]["leader"])
    return None


def pipelined(cc, cmds):
    """The replies of cmds sent at once on cc."""
    cc.sock.sendall(b"".join(encode(*c) for c in cmds))
    return [cc._reply() for _ in cmds]


def main():
    top = tempfile.mkdtemp(prefix="rk-automerge-")
    procs = {i: start(i, top) for i in (1, 2, 3)}
    stop = threading.Event()
    acked = {}   # key -> the value its last acknowledged write left (None: deleted)
    lock = threading.Lock()
    asked = {}   # merges asked by processes since killed
    try:
        wait("cluster up", lambda: all(ranges(i) and len(ranges(i)) == START
                                       for i in (1, 2, 3)), 60)
        wait("writes served", lambda: conn(1).call("SET", "warm", "1") == "OK", 30)
        acked[b"warm"] = b"1"
        # A split by hand: its boundary is sticky too.
        key = urllib.parse.quote(b"\x30\x30", safe="")
        wait("split by hand", lambda: any(http(i, "POST", "/api/v1/split?key=" + key)[0] == 200
                                          for i in (1, 2, 3)), 60)
        sticky = wait("the sticky layout", agreed, 30)
        if len(sticky) != START + 1:
            fail("%d ranges after the split by hand: %r" % (len(sticky), sticky))
        if any(r["auto_split"] for r in ranges(1)):
            fail("a sticky range is marked auto_split: %r" % ranges(1))

        # Writes until TARGET ranges (a split leaves halves above 8 KiB).
        enough = TARGET * 16 * 1024 * 11 // 10
        done_writing = threading.Event()

        ts = [threading.Thread(target=spans.bulk_writer,
                               args=(w, lambda w: conn(1 + w % 3), stop, done_writing, acked,
                                     lock, enough, VALUE)) for w in range(6)]
        for t in ts:
            t.start()
        t0 = shown = time.time()
        while True:
            rs = ranges(1) or ranges(2) or ranges(3) or []
            if len(rs) >= TARGET:
                break
            if time.time() - shown >= 60:
                shown = time.time()
                print("automerge_test: %d ranges after %.0f s of writes" %
                      (len(rs), shown - t0), flush=True)
            if time.time() - t0 > max(180, TARGET * 0.3):
                fail("%d ranges after %.0f s, %d wanted" % (len(rs), time.time() - t0, TARGET))
            time.sleep(0.5)
        done_writing.set()
        for t in ts:
            t.join()
        rs = wait("the ranges listed", lambda: ranges(1), 60)
        n_max = len(rs)
        ids = {r[0] for r in sticky}
        wrong = [r["id"] for r in rs if r["auto_split"] != (r["id"] not in ids)]
        if wrong:
            fail("ranges %r: auto_split is not 'made by an automatic split'" % wrong)
        print("automerge_test: %d ranges after %.0f s of writes (%d keys); split latency %s" %
              (n_max, time.time() - t0, len(acked),
               quantiles([hist(i) for i in (1, 2, 3)], "split")), flush=True)

        # Every key deleted but KEEP, which are set again to short values.
        cc = conn(2)
        keys = [k for k in acked if k != b"warm"]
        keep = keys[:KEEP]
        gone = keys[KEEP:]
        for off in range(0, len(gone), 200):
            part = gone[off:off + 200]
            for k, got in zip(part, pipelined(cc, [("DEL", k) for k in part])):
                if isinstance(got, Err):
                    fail("DEL %r: %r" % (k, got))
                acked[k] = None
        for k, got in zip(keep, pipelined(cc, [("SET", k, b"short") for k in keep])):
            if got != "OK":
                fail("SET %r: %r" % (k, got))
            acked[k] = b"short"

        # A slow writer of short values while the ranges merge.
        def slow():
            rnd = random.Random(99)
            c = None
            i = 0
            while not stop.is_set():
                i += 1
                k = bytes(rnd.getrandbits(8) for _ in range(12))
                try:
                    if c is None:
                        c = conn(3)
                    if c.call("SET", k, b"s%d" % i) == "OK":
                        with lock:
                            acked[k] = b"s%d" % i
                except (OSError, EOFError):
                    c = None
                time.sleep(0.5)
        st_w = threading.Thread(target=slow)
        st_w.start()

        t1 = shown = time.time()
        killed = None
        ops_seen = 0
        while True:
            v = agreed()
            if v == sticky:
                break
            if time.time() - shown >= 60:
                shown = time.time()
                print("automerge_test: %d ranges %.0f s after the deletes" %
                      (len(ranges(1) or []), shown - t1), flush=True)
            if time.time() - t1 > max(300, TARGET * 1.5):
                fail("not back to the sticky layout after %.0f s: %d ranges (%d sticky)" %
                     (time.time() - t1, len(ranges(1) or []), len(sticky)))
            n = len(ranges(1) or ranges(2) or [])
            if 0 < n < len(sticky):
                fail("%d ranges: a sticky boundary was merged away (%d sticky)" %
                     (n, len(sticky)))
            lead = placement_leader()
            if lead is not None:
                st, body = http(lead, "GET", "/api/v1/operations")
                if st == 200:
                    ops_seen += sum(1 for o in body["operations"] if o["type"] == "merge")
            if killed is None and lead is not None and n <= n_max - (n_max - len(sticky)) // 3:
                killed = lead
                asked[killed] = metric(killed, "rangekv_placement_merges_asked_total")
                lost_hist = hist(killed)
                procs[killed].send_signal(signal.SIGKILL)
                procs[killed].wait()
                n_at_kill = n
                print("automerge_test: %d ranges; placement leader node %d killed" %
                      (n, killed), flush=True)
                time.sleep(3)
                procs[killed] = start(killed, top)
            time.sleep(1)
        took = time.time() - t1
        if killed is None:
            fail("the placement group's leader was never killed")
        # Sticky boundaries stay: the layout holds with the driver running.
        time.sleep(20)
        if agreed() != sticky:
            fail("the sticky layout did not hold: %r" % agreed())
        stop.set()
        st_w.join()
        total_asked = sum(metric(i, "rangekv_placement_merges_asked_total")
                          for i in (1, 2, 3)) + sum(asked.values())
        done = sum(metric(i, "rangekv_merges_total") for i in (1, 2, 3))
        merge_lat = quantiles([hist(i) for i in (1, 2, 3)] + [lost_hist], "merge")
        calls_failed = sum(metric(i, "rangekv_merges_failed_total") for i in (1, 2, 3))
        if total_asked < 1 or done < 1:
            fail("merges: %d asked by the driver, %d done by leaders" % (total_asked, done))

        spans.read_back(conn(1), acked, fail)
        print("automerge_test: OK (%d -> %d ranges in %.0f s after the deletes, %.1f "
              "merges/s, merge latency %s; placement leader node %d killed at %d ranges; "
              "merges asked %d, done by the leaders seen %d, calls refused %d; merges seen in "
              "/api/v1/operations %d; %d keys read back)" %
              (n_max, len(sticky), took, (n_max - len(sticky)) / took, merge_lat, killed,
               n_at_kill, total_asked, done, calls_failed, ops_seen, len(acked)), flush=True)
    except SystemExit:
        os.environ["RK_KEEP"] = "1"
        print("automerge_test: logs in %s" % top, flush=True)
        raise
    finally:
        stop.set()
        spans.kill_all(procs, top)


main()
