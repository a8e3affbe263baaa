"""Helpers the split and merge tests share (split_test.py,
autosplit_test.py, merge_test.py, index_test.py)."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

from cluster import unescape
from resp import Conn, Err, encode  # noqa: F401 (Err: for the tests)


def wait(what, cond, timeout, fail, step=0.05):
    """cond()'s first true value within timeout seconds, else fail(why)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(step)
    fail("%s: not within %.0f s" % (what, timeout))


def tiles(rs):
    """Whether the ranges rs (as /api/v1/ranges lists them) tile the whole
    key space: sorted by start, each ends where the next starts, from the
    empty key to the unbounded end."""
    rs = sorted(rs, key=lambda r: unescape(r["start"]))
    if not rs or rs[0]["start"] != "":
        return False
    for a, b in zip(rs, rs[1:]):
        if a["end"] != b["start"]:
            return False
    return rs[-1]["end"] == ""


def stop_procs(procs, top, timeout=30):
    """SIGTERM to each of procs (node id -> process) still running, then
    a wait of up to timeout s for each (SIGKILL after it). True when every
    one exited 0; for each that did not, its exit code and the end of its
    log (top/logI) are printed (a sanitizer's report at exit is there)."""
    ok = True
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for i, p in procs.items():
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        if rc != 0:
            print("node %d exited %d; the end of its log:" % (i, rc))
            with open(os.path.join(top, "log%d" % i), errors="replace") as f:
                print("".join(f.readlines()[-40:]), end="", flush=True)
            ok = False
    return ok


def kill_all(procs, top):
    """SIGKILL what still runs of procs; top removed unless RK_KEEP is set."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
    if os.environ.get("RK_KEEP") is None:
        shutil.rmtree(top, ignore_errors=True)


def metric(addr, name, timeout=10):
    """The /metrics value of name (no labels) at addr, None if unreadable."""
    try:
        with urllib.request.urlopen("http://%s/metrics" % addr, timeout=timeout) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def http(addr, method, path, timeout=30):
    """(status, JSON body) of an HTTP call to addr; (None, None) when the
    node does not answer."""
    req = urllib.request.Request("http://%s%s" % (addr, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "{}")
    except (OSError, ValueError):
        return None, None


def http_settled(addr, method, path, timeout=30, within=30):
    """http(), asked again while the answer says to retry in a moment
    (409 or 503 whose error says "retry", e.g. a range's leader that took
    over a moment ago and has not applied its log yet), for up to within
    seconds; the last answer."""
    deadline = time.time() + within
    while True:
        st, body = http(addr, method, path, timeout)
        if st not in (409, 503) or "retry" not in str((body or {}).get("error")) or \
                time.time() >= deadline:
            return st, body
        time.sleep(0.1)


class Acked:
    """What the writers had acknowledged: each SET's value by key, and how
    many INCRs of the counter."""

    def __init__(self, counter):
        self.counter = counter
        self.sets = {}
        self.incr = 0
        self.lock = threading.Lock()


def writers(conn_for, stop, acked, n=6):
    """n started threads, each writing until stop is set through
    conn_for(w) (a new connection after an error): SET kW-NNNNN, then INCR
    of acked.counter, what was acknowledged recorded in acked."""
    def writer(w):
        cc = conn_for(w)
        i = 0
        while not stop.is_set():
            i += 1
            key = "k%d-%05d" % (w, i)
            try:
                if cc.call("SET", key, "v%d" % i) == "OK":
                    with acked.lock:
                        acked.sets[key] = "v%d" % i
                if isinstance(cc.call("INCR", acked.counter), int):
                    with acked.lock:
                        acked.incr += 1
            except (OSError, EOFError):
                time.sleep(0.1)
                try:
                    cc = conn_for(w)
                except OSError:
                    pass
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(n)]
    for t in ts:
        t.start()
    return ts


def bulk_writer(w, conn_for, stop, done, acked, lock, enough, value_len, keys=32):
    """Writer w until stop or done is set: pipelined batches of `keys`
    SETs of random 12-byte keys (spread over the whole key space) with
    value_len-byte values, through conn_for(w) (a new connection after an
    error). An answer OK is an acknowledgement (acked[key] = value, under
    lock); an error or a lost connection is not. Sets done once the
    acknowledged values reach `enough` bytes."""
    rnd = random.Random(w)
    cc = None
    while not stop.is_set() and not done.is_set():
        batch = [(bytes(rnd.getrandbits(8) for _ in range(12)),
                  bytes([65 + w]) * value_len) for _ in range(keys)]
        try:
            if cc is None:
                cc = conn_for(w)
            cc.sock.sendall(b"".join(encode("SET", k, v) for k, v in batch))
            for k, v in batch:
                if cc._reply() == "OK":
                    with lock:
                        acked[k] = v
                        if len(acked) * value_len >= enough:
                            done.set()
        except (OSError, EOFError):
            if cc is not None:
                cc.close()
            cc = None
            time.sleep(0.2)


def read_back(cc, acked, fail):
    """Every key of acked (bytes -> the value its last acknowledged write
    left, None for a DEL) reads back so through connection cc, GETs
    pipelined 200 at a time."""
    items = list(acked.items())
    for off in range(0, len(items), 200):
        chunk = items[off:off + 200]
        cc.sock.sendall(b"".join(encode("GET", k) for k, _ in chunk))
        for k, val in chunk:
            got = cc._reply()
            if isinstance(got, Err) or got != val:
                fail("%r: %r, acknowledged %r" % (k, got if isinstance(got, Err)
                                                  else (got or b"")[:16], (val or b"")[:16]))


def agreed(lists):
    """The ranges (id, start, end, generation) when every list of lists
    (one per node, None when it did not answer) tiles the key space and
    all are the same; else None."""
    if any(r is None or not tiles(r) for r in lists):
        return None
    views = [sorted((r["id"], r["start"], r["end"], r["generation"]) for r in rs)
             for rs in lists]
    return views[0] if all(v == views[0] for v in views) else None


def check_acked(cc, acked, when, fail, timeout=60):
    """Every acknowledged SET reads back (MGET, 500 keys a call) and the
    counter equals the INCRs acknowledged, through connection cc."""
    got = wait("INCR total readable (%s)" % when,
               lambda: (lambda r: r if isinstance(r, bytes) else None)(cc.call("GET", acked.counter)),
               timeout, fail)
    if int(got) != acked.incr:
        fail("INCR total %s, %d acknowledged (%s)" % (got, acked.incr, when))
    keys = sorted(acked.sets)
    for at in range(0, len(keys), 500):
        part = keys[at:at + 500]
        vals = wait("MGET of acknowledged SETs (%s)" % when,
                    lambda: (lambda r: r if isinstance(r, list) else None)(cc.call("MGET", *part)),
                    timeout, fail)
        for k, v in zip(part, vals):
            if v != acked.sets[k].encode():
                fail("%s: %r, acknowledged %r (%s)" % (k, v, acked.sets[k], when))


class Nodes:
    """The calls a test makes on its nodes: addr(i, kind) is node i's
    address of a kind (1 client, 2 HTTP); fail(why) ends the test."""

    def __init__(self, addr, fail, http_timeout=30):
        self.addr, self.fail, self.http_timeout = addr, fail, http_timeout

    def http(self, i, method, path):
        return http(self.addr(i, 2), method, path, timeout=self.http_timeout)

    def http_settled(self, i, method, path, within=30):
        return http_settled(self.addr(i, 2), method, path, self.http_timeout, within)

    def metric(self, i, name):
        """Node i's unlabelled /metrics sample name as an int (0 if it has
        none), None when the node does not answer."""
        try:
            with urllib.request.urlopen("http://%s/metrics" % self.addr(i, 2),
                                        timeout=self.http_timeout) as r:
                m = re.search(r"^%s (\d+)$" % re.escape(name), r.read().decode(), re.M)
        except OSError:
            return None
        return int(m.group(1)) if m else 0

    def ranges(self, i):
        """Node i's /api/v1/ranges, None when it does not answer."""
        st, body = self.http(i, "GET", "/api/v1/ranges?limit=100000")
        return body["ranges"] if st == 200 else None

    def local(self, i, rid):
        """Range rid as node i's own replica shows it (None if not there)."""
        st, body = self.http(i, "GET", "/api/v1/ranges/%d" % rid)
        return body if st == 200 and body.get("id") == rid else None

    def check_agree(self, rid, timeout=30):
        """Fails unless range rid's replicas have one checksum (POST
        /api/v1/ranges/RID/check, asked of each node until one reports a
        checksum of every replica)."""
        def checked():
            for i in (1, 2, 3):
                st, b = self.http(i, "POST", "/api/v1/ranges/%d/check" % rid)
                if st == 200 and all(r.get("checksum") for r in b.get("replicas", [])):
                    return b
            return None
        got = wait("range %d's replica checksums" % rid, checked, timeout, self.fail)
        if not got["agree"]:
            self.fail("range %d's replicas differ at index %s: %r"
                      % (rid, got["index"], got["replicas"]))

    def conn(self, i):
        host, port = self.addr(i, 1).split(":")
        return Conn((host, int(port)), timeout=10)

    def conn_wait(self, i, timeout=30):
        def once():
            try:
                return self.conn(i)
            except OSError:
                return None
        return wait("node %d's client port" % i, once, timeout, self.fail)


def start_node(bin_, i, top, addr, extra=(), crash_at=None, hooks=None, ranges=2,
               rebalance="off"):
    """Node i of three (addresses addr(i, kind): 0 peer, 1 client, 2 HTTP;
    data in top/nI, log appended to top/logI), `ranges` ranges at first
    start, 50 ms ticks, rebalancing off unless asked (replicas stay where
    the test puts them), and the flags extra; armed to kill itself at
    crash_at; hooks: more test hooks' variables (a dict),
    RANGEKV_TEST_HOOKS=1 with them."""
    log = open(os.path.join(top, "log%d" % i), "a")
    env = dict(os.environ)
    if crash_at is not None:
        env.update(RANGEKV_TEST_HOOKS="1", RANGEKV_CRASH_AT=crash_at)
    if hooks:
        env.update(hooks, RANGEKV_TEST_HOOKS="1")
    cluster = ",".join("%d=%s" % (j, addr(j, 0)) for j in (1, 2, 3))
    return subprocess.Popen(
        [bin_, "start", "--node-id", str(i), "--data", os.path.join(top, "n%d" % i),
         "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1), "--http-addr", addr(i, 2),
         "--initial-cluster", cluster, "--ranges", str(ranges), "--tick-ms", "50",
         "--rebalance", rebalance] + list(extra),
        stdout=log, stderr=log, env=env)


def stop_writers(stop, ts, acked, fail):
    """Stops the writers (threads ts) and fails unless they had at least
    ten SETs and ten INCRs acknowledged."""
    stop.set()
    for t in ts:
        t.join()
    if acked.incr < 10 or len(acked.sets) < 10:
        fail("too few writes acknowledged: %d INCR, %d SET" % (acked.incr, len(acked.sets)))
