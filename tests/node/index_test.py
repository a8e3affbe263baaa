"""The placement index answers for the whole cluster, with real processes:
five nodes, --replicas 3 (no node holds every range), one range split.

    index_test.py BIN

Checks:
 - every node's GET /api/v1/ranges is the same list of every user range
   (the split's two halves included, the placement group never), and it
   tiles the key space; its pages (limit=1), node= and sort= forms agree
   with it, their totals count every range. Node 5 reads the index from
   another node (the test hook RANGEKV_TEST_INDEX_REMOTE=1), the others
   from their own replica of the placement group;
 - GET /api/v1/ranges/{id} and /api/v1/ranges/{id}/log on a node that
   holds no replica of the range are forwarded to one that does (header
   X-Rangekv-Node), a range that does not exist is 404 there;
 - a node that holds none of the split range's replicas and learned
   nothing of the split routes a key of the right half in one hop: it
   asks the index first (rangekv_router_index_lookups_total goes up) and
   is never redirected (rangekv_router_redirects_total stays), on a node
   reading its own replica and on one reading another's;
 - `rangekv ranges` through a node lists every range.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from cluster import unescape  # noqa: E402
from resp import Conn  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spans  # noqa: E402
from spans import tiles  # noqa: E402

BIN = sys.argv[1]
NODES = (1, 2, 3, 4, 5)
REMOTE = 5  # reads the index from another node
BASE = 7000 + (os.getpid() % 60) * 16  # the band 7000-7999
PL_RANGE = 1 << 62


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 5 + i)


CLUSTER = ",".join("%d=%s" % (i, addr(i, 0)) for i in NODES)


def fail(msg):
    print("index_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def start(i, top):
    log = open(os.path.join(top, "log%d" % i), "a")
    env = dict(os.environ)
    if i == REMOTE:
        env.update(RANGEKV_TEST_HOOKS="1", RANGEKV_TEST_INDEX_REMOTE="1")
    return subprocess.Popen(
        [BIN, "start", "--node-id", str(i), "--data", os.path.join(top, "n%d" % i),
         "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
         "--initial-cluster", CLUSTER, "--ranges", "8", "--replicas", "3",
         "--tick-ms", "50", "--rebalance", "off"],
        stdout=log, stderr=log, env=env)


def http(i, method, path, headers=False):
    req = urllib.request.Request("http://%s%s" % (addr(i, 2), path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
            body = json.loads(body) if body.startswith(("{", "[")) else body
            return (r.status, body, r.headers) if headers else (r.status, body)
    except urllib.error.HTTPError as e:
        body = json.loads(e.read().decode() or "{}")
        return (e.code, body, e.headers) if headers else (e.code, body)
    except OSError:
        return (None, None, None) if headers else (None, None)


def ranges(i, q="limit=100000"):
    st, body = http(i, "GET", "/api/v1/ranges?" + q)
    return body if st == 200 else None


def metric(i, name):
    st, body = http(i, "GET", "/metrics")
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    fail("node %d: no %s in /metrics" % (i, name))


def wait(what, cond, timeout):
    return spans.wait(what, cond, timeout, fail)


def shape(rs):
    """What every node must agree on: ids, spans, versions, replicas."""
    return [(r["id"], r["start"], r["end"], r["generation"], r["conf_version"],
             sorted(x["node_id"] for x in r["replicas"])) for r in rs]


def nodes_of(r):
    return sorted(x["node_id"] for x in r["replicas"])


def main():
    top = tempfile.mkdtemp(prefix="rk-index-")
    procs = {i: start(i, top) for i in NODES}
    ok = False
    try:
        # Every range led: the nodes that hold it see its leader.
        def led():
            seen = {}
            for i in NODES:
                b = ranges(i, "node=%d&limit=100000" % i)
                if b is None:
                    return None
                for r in b["ranges"]:
                    if r["leader"] is None:
                        return None
                    seen[r["id"]] = r["leader"]
            return seen if len(seen) == 8 else None
        leaders = wait("every range led", led, 60)
        full = ranges(1)["ranges"]
        if len(full) != 8 or not tiles(full):
            fail("node 1 lists %s" % shape(full))
        for i in NODES:
            if shape(ranges(i)["ranges"]) != shape(full):
                fail("node %d lists another cluster before the split: %s" %
                     (i, shape(ranges(i)["ranges"])))

        # The range to split: one node REMOTE does not hold, and a second
        # node that holds none of its replicas either.
        target = next(r for r in full if REMOTE not in nodes_of(r) and r["end"])
        other = next(i for i in NODES if i not in nodes_of(target) and i != REMOTE)
        lo, hi = unescape(target["start"]), unescape(target["end"])
        key = lo + b"\x7f" if lo else hi[:-1] + bytes([hi[-1] - 1]) + b"\x80"
        if not (lo < key < hi):
            fail("no split key between %r and %r" % (lo, hi))
        q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
        body = None
        for _ in range(100):
            for i in nodes_of(target):
                st, b = http(i, "POST", q)
                if st == 200:
                    body = b
                    break
            if body:
                break
            time.sleep(0.1)
        if body is None:
            fail("split of range %d at %r: no leader answered 200" % (target["id"], key))
        right = body["right"]["id"]
        print("range %d split at %r: right range %d on nodes %s" %
              (target["id"], key, right, nodes_of(target)), flush=True)

        # The split reaches the index: every node lists both halves.
        def agreed():
            views = [ranges(i) for i in NODES]
            if any(v is None for v in views):
                return None
            rs = views[0]["ranges"]
            if len(rs) != 9 or right not in [r["id"] for r in rs] or not tiles(rs):
                return None
            return rs if all(shape(v["ranges"]) == shape(rs) for v in views) else None
        full = wait("every node listing the split's halves", agreed, 30)
        if any(r["id"] >= PL_RANGE for r in full):
            fail("the placement group is listed: %s" % shape(full))
        for i in NODES:
            st, b, h = http(i, "GET", "/api/v1/ranges?limit=1", headers=True)
            if h.get("X-Rangekv-Source") != "index":
                fail("node %d's listing is not from the index: %s" % (i, h.get("X-Rangekv-Source")))
            # Paged one by one, the same list. Node 5 reads each page from
            # another node's replica of the group, which answers from what
            # it has applied (the contract: the index may be behind by
            # that), so a page may come from one that has not applied the
            # split's report yet: the pages are read again until they agree.
            last = []

            def pages_agree():
                paged, after = [], 0
                while True:
                    b = ranges(i, "limit=1&after=%d" % after)
                    paged += b["ranges"]
                    if b["next"] is None:
                        break
                    after = b["next"]
                last[:] = [paged]
                return shape(paged) == shape(full)
            t_pages = time.time()
            while not pages_agree():
                if i != 5 or time.time() - t_pages > 10:
                    fail("node %d: the pages of one differ from the list: %s"
                         % (i, shape(last[0])))
                time.sleep(0.1)
            mine = ranges(i, "node=%d&limit=100000" % i)["ranges"]
            if shape(mine) != shape([r for r in full if i in nodes_of(r)]):
                fail("node %d: node= lists %s" % (i, shape(mine)))
            top_ = ranges(i, "sort=size&limit=1000")
            if top_["totals"]["ranges"] != 9 or len(top_["ranges"]) != 9:
                fail("node %d: the sorted list's totals %s" % (i, top_["totals"]))
            for r in ranges(i)["ranges"]:
                held = i in nodes_of(r)
                if held != (r["role"] is not None):
                    fail("node %d: range %d shows role %r" % (i, r["id"], r["role"]))
        # The CLI's list through a node: every range, "-" for the figures
        # of those it does not hold.
        cli = subprocess.run([BIN, "ranges", "--http", addr(other, 2)], capture_output=True,
                             text=True, timeout=30)
        rows = [x for x in cli.stdout.splitlines()[1:] if x.strip()]
        if cli.returncode != 0 or len(rows) != 9:
            fail("rangekv ranges through node %d: %d %r" % (other, cli.returncode, cli.stdout))
        print("every node lists the same %d ranges from the index (paged, node=, sort=, "
              "the CLI)" % len(full), flush=True)

        # A range held elsewhere: forwarded, one hop. Node 5 finds the
        # range's nodes in another node's replica of the group, which may
        # not have applied the split's report yet (the contract, as for
        # the pages above; when node 5 leads the group its reads go to the
        # followers in turn): a 404 there is asked again for a while.
        def fwd(i, path):
            t0 = time.time()
            while True:
                r = http(i, "GET", path, headers=True)
                if r[0] != 404 or i != REMOTE or time.time() - t0 > 10:
                    return r
                time.sleep(0.1)
        for i in (other, REMOTE):
            st, b, h = fwd(i, "/api/v1/ranges/%d" % right)
            answered = int(h.get("X-Rangekv-Node") or 0) if h else 0
            if st != 200 or b.get("id") != right or answered not in nodes_of(target):
                fail("node %d: /api/v1/ranges/%d answered %s %r by %r" % (i, right, st, b, answered))
            if "raft" not in b or b["role"] is None:
                fail("node %d: the forwarded answer lacks the detail: %r" % (i, b))
            st, b, h = fwd(i, "/api/v1/ranges/%d/log?limit=5" % right)
            if st != 200 or b.get("range") != right or not h.get("X-Rangekv-Node"):
                fail("node %d: /api/v1/ranges/%d/log answered %s %r" % (i, right, st, b))
            for path in ("/api/v1/ranges/999", "/api/v1/ranges/999/log",
                         "/api/v1/ranges/%d" % PL_RANGE):
                if http(i, "GET", path)[0] != 404:
                    fail("node %d: %s is not 404" % (i, path))
        print("/api/v1/ranges/%d answered through nodes %d and %d" % (right, other, REMOTE),
              flush=True)

        # Routing: the right half's key through nodes that learned nothing
        # of the split (never asked for a key of the range until now).
        for i in (other, REMOTE):
            looked = metric(i, "rangekv_router_index_lookups_total")
            redirects = metric(i, "rangekv_router_redirects_total")
            asks = metric(i, "rangekv_router_asks_total")
            host, port = addr(i, 1).split(":")
            c = Conn((host, int(port)), timeout=10)
            k = key + b"-node%d" % i
            if c.call("SET", k, "v%d" % i) != "OK" or c.call("GET", k) != b"v%d" % i:
                fail("node %d: the right half's key was not served" % i)
            c.close()
            got = (metric(i, "rangekv_router_index_lookups_total") - looked,
                   metric(i, "rangekv_router_redirects_total") - redirects,
                   metric(i, "rangekv_router_asks_total") - asks)
            if got[0] < 1 or got[1] != 0 or got[2] != 0:
                fail("node %d: index lookups, redirects, asks = %s (want >= 1, 0, 0)" % (i, got))
        print("nodes %d and %d routed the right half's key via the index, no redirect"
              % (other, REMOTE), flush=True)
        ok = True
    finally:
        # A clean stop: exit status 0 (under ASan, no leak and no error).
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in procs.items():
            try:
                rc = p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            if rc != 0 and ok:
                print("index_test: FAIL: node %d exited %d" % (i, rc), flush=True)
                ok = False
        if ok:
            shutil.rmtree(top, ignore_errors=True)
        else:
            print("index_test: logs kept in " + top, flush=True)
            sys.exit(1)
    print("index_test: OK", flush=True)


main()
