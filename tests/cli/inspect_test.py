#!/usr/bin/env python3
"""Range inspection against three real nodes holding data:

  - the HTTP API: writes/s and reads/s per range, and its size (the
    hottest and largest ranges first with sort=, node= filtering, limits
    and bad queries), the load in
    /metrics, a range's raft detail on its leader and a follower, and its
    log decoded for people, read across compaction;
  - the inspection verbs of the CLI (nodes, ranges, range, log, status):
    tables and --json, --watch, a narrow terminal (a pty), bad flags
    (exit 2), an unknown range (exit 1), a node that does not answer
    (exit 3);
  - ranges that cannot serve (two nodes stopped: no leader, or no live
    majority): listed by `status`, by `ranges --unavailable` and by
    unavailable=1 in the API.

    inspect_test.py path/to/rangekv
"""
import fcntl
import json
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]
SLOW = 4 if os.environ.get("RK_SANITIZED_RUN") else 1  # ASan + UBSan builds
TICK_MS = 50
LOG_KEEP = 10
# Ranges: 1 [, b) 2 [b, d) 3 [d, f) 4 [f, h) 5 [h, )
SPLITS = "b,d,f,h"
RANGES = 5
BASE = 23100 + (os.getpid() % 200) * 10  # 23100-25119: below the ephemeral ports, apart from the other tests'


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def http(i):
    return addr(i, 2)


CLUSTER = ",".join("%d=%s" % (i, addr(i, 0)) for i in (1, 2, 3))


def fail(msg):
    print("inspect_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def get(i, path, timeout=2.0):
    with urllib.request.urlopen("http://%s%s" % (http(i), path), timeout=timeout * SLOW) as r:
        body = r.read().decode()
        return json.loads(body) if path != "/metrics" else body


def get_status(i, path):
    try:
        get(i, path)
        return 200
    except urllib.error.HTTPError as e:
        return e.code


def try_get(i, path):
    try:
        return get(i, path)
    except Exception:
        return None


def wait(what, cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout * SLOW:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    fail("%s: not within %.1f s" % (what, timeout * SLOW))


def wait_quiet(cond, timeout):
    """Whether cond() comes true within timeout (times SLOW)."""
    t0 = time.time()
    while time.time() - t0 < timeout * SLOW:
        if cond():
            return True
        time.sleep(0.05)
    return False


def start(i, tmp):
    log = open(os.path.join(tmp, "log%d" % i), "a")
    args = [BIN, "start", "--node-id", str(i), "--data", os.path.join(tmp, "n%d" % i),
            "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1),
            "--http-addr", http(i), "--initial-cluster", CLUSTER,
            "--split-at", SPLITS, "--tick-ms", str(TICK_MS), "--log-keep", str(LOG_KEEP)]
    return subprocess.Popen(args, stdout=log, stderr=log)


def leaders():
    """range id -> leader node, once every range has one all agree on."""
    seen = {}
    for i in (1, 2, 3):
        r = try_get(i, "/api/v1/ranges")
        if r is None or len(r["ranges"]) != RANGES:
            return None
        for x in r["ranges"]:
            if x["leader"] is None or seen.setdefault(x["id"], x["leader"]) != x["leader"]:
                return None
    return seen


# ---- a RESP client ---------------------------------------------------------------

class Resp:
    def __init__(self, a):
        host, port = a.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=10 * SLOW)
        self.f = self.s.makefile("rb")

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.reply()

    def reply(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"-":
            fail("error reply %r" % rest)
        if t in (b"+", b":"):
            return rest
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.reply() for _ in range(int(rest))]
        fail("bad reply %r" % line)

    def close(self):
        self.s.close()


# ---- the HTTP API ----------------------------------------------------------------

def test_load(lead):
    c = Resp(addr(1, 1))
    # Range 2 [b, d) takes 400 writes, range 3 [d, f) 40; range 4 [f, h)
    # is read 300 times.
    for k in range(400):
        c.call("SET", "c/%d" % k, "x" * 16)
    for k in range(40):
        c.call("SET", "e/%d" % k, "y")
    c.call("SET", "g/1", "z")
    for k in range(300):
        c.call("GET", "g/1")
    c.close()
    time.sleep(1.1)  # the rates count whole seconds
    for i in (1, 2, 3):
        top = get(i, "/api/v1/ranges?sort=writes&limit=2")
        ids = [x["id"] for x in top["ranges"]]
        if ids != [2, 3] or top["next"] is not None:
            fail("node %d: sort=writes: %s" % (i, top))
        if not top["ranges"][0]["writes_per_sec"] > 5 * top["ranges"][1]["writes_per_sec"] > 0:
            fail("node %d: write rates %s" % (i, [x["writes_per_sec"] for x in top["ranges"]]))
        t = top["totals"]
        if t["ranges"] != RANGES or t["leaderless"] != 0 or t["writes_per_sec"] <= 0:
            fail("node %d: totals %s" % (i, t))
    # Reads are the leader's.
    r4 = lead[4]
    top = get(r4, "/api/v1/ranges?sort=reads&limit=1")
    if [x["id"] for x in top["ranges"]] != [4] or top["ranges"][0]["reads_per_sec"] <= 0:
        fail("sort=reads on range 4's leader: %s" % top)
    other = [i for i in (1, 2, 3) if i != r4][0]
    if get(other, "/api/v1/ranges/4")["reads_per_sec"] != 0:
        fail("a follower shows reads/s")
    # Sizes are measured off the loop, within 10 s of a write: the bytes
    # of the keys and values of each span, the largest first, ties by id.
    want = {2: sum(len("c/%d" % k) + 16 for k in range(400)),
            3: sum(len("e/%d" % k) + 1 for k in range(40)), 4: len("g/1z")}
    for i in (1, 2, 3):
        def sized():
            top = get(i, "/api/v1/ranges?sort=size&limit=1000")
            got = [(x["id"], x["size_bytes"]) for x in top["ranges"]]
            return got if got == [(2, want[2]), (3, want[3]), (4, want[4]), (1, 0), (5, 0)] \
                else None
        wait("node %d: sizes %s" % (i, want), sized, 30)
    # Between scans a size follows what is applied (DEL and INCR read what
    # they replace: exact), on every replica, without waiting for a scan
    # (none is due within RK_SIZE_MIN_AGE_S of the last).
    c = Resp(addr(1, 1))
    if c.call("DEL", *["c/%d" % k for k in range(100)]) != b"100":
        fail("DEL of 100 keys of range 2")
    c.call("INCRBY", "c/n", 123456)
    c.close()
    want[2] += -sum(len("c/%d" % k) + 16 for k in range(100)) + len("c/n123456")
    for i in (1, 2, 3):
        def followed():
            return get(i, "/api/v1/ranges/2")["size_bytes"] == want[2]
        wait("node %d: range 2's size %d right after DEL and INCRBY" % (i, want[2]),
             followed, 2)
    # node=N
    if len(get(1, "/api/v1/ranges?node=2")["ranges"]) != RANGES or \
            get(1, "/api/v1/ranges?node=9")["ranges"] != []:
        fail("node= filter")
    page = get(1, "/api/v1/ranges?node=3&limit=2&after=1")
    if [x["id"] for x in page["ranges"]] != [2, 3] or page["next"] != 3:
        fail("node= paging: %s" % page)
    if get(1, "/api/v1/ranges?sort=writes&node=9")["ranges"] != []:
        fail("sort with node=9")
    for q in ("sort=bogus", "sort=writes&limit=1001", "sort=writes&limit=0",
              "sort=writes&after=2", "node=x", "node=0", "sort=reads&limit=x"):
        if get_status(1, "/api/v1/ranges?" + q) != 400:
            fail("?%s: want 400" % q)
    m = get(1, "/metrics")
    if 'rangekv_hot_range_writes_per_second{range="2"}' not in m or \
            "rangekv_range_writes_per_second " not in m or m.count("rangekv_hot_range_writes_per_second{") > 5:
        fail("/metrics load families: %s" % [x for x in m.splitlines() if "per_second" in x])
    print("load: hottest ranges by writes and reads, totals, node=, limits, /metrics")


def test_detail(lead):
    r2 = lead[2]
    d = get(r2, "/api/v1/ranges/2")
    raft = d.get("raft")
    if raft is None or d["role"] != "leader" or len(raft["progress"]) != 3:
        fail("leader detail: %s" % d)
    for p in raft["progress"]:
        if p["replica_id"] == r2:
            if p["state"] != "leader" or p["last_contact_ms"] is not None:
                fail("leader's own progress: %s" % p)
        elif p["state"] not in ("replicate", "probe") or p["match"] > raft["last_index"] or \
                p["next"] != p["match"] + 1 or p["last_contact_ms"] is None or \
                p["last_contact_ms"] > 60000:
            fail("follower progress: %s" % p)
    other = [i for i in (1, 2, 3) if i != r2][0]
    if get(other, "/api/v1/ranges/2")["raft"]["progress"] is not None:
        fail("a follower shows progress")
    if "raft" in get(1, "/api/v1/ranges")["ranges"][0]:
        fail("the list carries the detail")
    print("raft detail: the leader's progress of each replica, none on a follower")


def test_log(lead):
    c = Resp(addr(2, 1))
    c.call("SET", "b/user\x01\\", "v" * 128)
    c.call("SEQ.NEXT", "b/orders", 100)
    c.call("SET", "b/nx", "1", "NX")
    c.call("CAS", "b/nx", "1", "222")
    c.call("INCRBY", "b/n", -7)
    c.call("DEL", "b/nx")
    c.close()
    want = ["SET b/user\\x01\\x5c (128 B)", "SEQ.NEXT b/orders +100", "SET b/nx (1 B) NX",
            "CAS b/nx (1 B -> 3 B)", "INCRBY b/n -7", "DEL b/nx"]
    # Node 1 may follow range 2: its log gets there a moment later.
    def logged():
        lg = get(1, "/api/v1/ranges/2/log?limit=6")
        return lg if [e["command"] for e in lg["entries"]] == want else None
    t0 = time.time()
    while time.time() - t0 < 10 * SLOW and logged() is None:
        time.sleep(0.05)
    log = get(1, "/api/v1/ranges/2/log?limit=6")
    got = [e["command"] for e in log["entries"]]
    if got != want:
        fail("log commands: %s" % got)
    e = log["entries"][0]
    if e["type"] != "normal" or e["size"] < 128 or log["next"] is not None or \
            log["last_index"] != log["entries"][-1]["index"]:
        fail("log entry: %s" % log)
    # Compacted: from=1 answers from the first index still held.
    def compacted():
        lg = get(1, "/api/v1/ranges/2/log?from=1&limit=5")
        return lg if lg["first_index"] > 100 else None
    lg = wait("range 2's log compacted", compacted, 30)
    idx = [e["index"] for e in lg["entries"]]
    if idx != list(range(lg["first_index"], lg["first_index"] + len(idx))) or \
            lg["next"] != idx[-1] + 1:
        fail("log from a compacted index: %s" % lg)
    # Paging: from=next continues; a page ends at last_index with next null.
    tail = get(1, "/api/v1/ranges/2/log?from=%d&limit=1000" % lg["next"])
    if tail["entries"][0]["index"] != lg["next"] or tail["next"] is not None:
        fail("the following page: %s" % tail["entries"][:2])
    # Conf and no-op entries of a range that only elected: the new leader's.
    first = get(1, "/api/v1/ranges/5/log?from=1")
    if not any(e["command"] == "no-op (new leader)" for e in first["entries"]):
        fail("range 5's log: %s" % first)
    if get(1, "/api/v1/ranges/5/log?from=%d" % (first["last_index"] + 5))["entries"] != []:
        fail("a from past the end")
    for path, code in (("/api/v1/ranges/99/log", 404), ("/api/v1/ranges/x/log", 400),
                       ("/api/v1/ranges/2/log?limit=1001", 400), ("/api/v1/ranges/2/log?from=x", 400),
                       ("/api/v1/ranges/2/frob", 404),
                       ("/api/v1/ranges/18446744073709551617", 400)):
        if get_status(1, path) != code:
            fail("%s: want %d" % (path, code))
    print("log: commands decoded, read across compaction (first index %d), paged, bad queries"
          % lg["first_index"])


# ---- the CLI ------------------------------------------------------------------------

VERBS = ["nodes", "ranges", "range", "log", "status"]


def run(*args, rc=None, timeout=30):
    p = subprocess.run([BIN] + list(args), capture_output=True, timeout=timeout * SLOW)
    if rc is not None and p.returncode != rc:
        fail("rangekv %s: exit %d, want %d; stdout %r stderr %r" %
             (" ".join(args), p.returncode, rc, p.stdout, p.stderr))
    return p


def read_pty(m):
    """Everything written to the pty whose master is m, until the last
    writer closed it (the read then fails with EIO, or returns nothing)."""
    out = b""
    while True:
        try:
            d = os.read(m, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    return out


def rows(out):
    """The rows of a table (header first), split on runs of 2+ spaces."""
    import re
    return [re.split(r"\s{2,}", ln.strip()) for ln in out.decode().splitlines()
            if ln.strip() and not ln.startswith("(")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_usage():
    for v in VERBS:
        p = run(v, "--help", rc=0)
        if ("usage: rangekv " + v).encode() not in p.stdout or b"--http" not in p.stdout:
            fail("%s --help: %r" % (v, p.stdout))
    h = run("help", rc=0).stdout
    for v in VERBS:
        if ("\n  %s " % v).encode() not in h and ("\n  %s\n" % v).encode() not in h:
            fail("rangekv help does not list %s" % v)
    bad = [["ranges", "--sort", "x"], ["ranges", "--limit", "0"], ["ranges", "--sort", "writes",
           "--limit", "1001"], ["ranges", "--node", "0"], ["ranges", "extra"], ["range"],
           ["range", "x"], ["range", "0"], ["range", "1", "2"], ["range", "1", "--sort", "size"],
           ["log"], ["log", "1", "--from", "x"], ["log", "1", "--limit"],
           ["log", "1", "--limit", "1001"], ["decommission", "4", "--watch", "1"], ["nodes", "--frob"],
           ["status", "-x"], ["nodes", "--watch", "0"], ["nodes", "--timeout", "-1"],
           ["nodes", "--http", "nohost"], ["status", "--json=1"]]
    for args in bad:
        # Usage is checked before anything is asked: the default --http
        # may answer or not, the status must be 2 either way.
        p = run(*args, rc=2)
        if len(p.stderr.decode().strip().splitlines()) != 1:
            fail("rangekv %s: want one line on stderr, got %r" % (" ".join(args), p.stderr))
    # A node that does not answer: 3, for every verb.
    a = "127.0.0.1:%d" % free_port()
    for args in (["nodes"], ["ranges"], ["ranges", "--sort", "reads"], ["range", "1"],
                 ["log", "1"], ["status"], ["status", "--json"]):
        p = run(*(args + ["--http", a, "--timeout", "2"]), rc=3)
        if len(p.stderr.decode().strip().splitlines()) != 1 or p.stdout:
            fail("unreachable %s: %r %r" % (args, p.stdout, p.stderr))
    # A RESP port given as --http: said at once, not after the timeout.
    t0 = time.time()
    p = run("status", "--http", addr(1, 1), rc=1)
    if b"not an HTTP reply (a RESP port?" not in p.stderr or time.time() - t0 > 5 * SLOW:
        fail("status --http at a RESP port: %r after %.1f s" % (p.stderr, time.time() - t0))
    # decommission's help offers no --watch (it refuses it: --wait follows).
    if b"--watch" in run("decommission", "--help", rc=0).stdout:
        fail("decommission --help offers --watch, which it refuses")
    print("cli: --help of every verb, bad usage exits 2 with one line, unreachable exits 3")


def test_cli(lead):
    h = ["--http", http(1)]
    # nodes
    # (the placement leader's view: every node live, its heartbeat's figures)
    t = rows(run("nodes", *h, rc=0).stdout)
    if t[0][:2] != ["ID", "STATE"] or [r[0] for r in t[1:]] != ["1", "2", "3"] or \
            any(r[1] != "live" for r in t[1:]):
        fail("nodes table: %s" % t)
    j = json.loads(run("nodes", "--json", *h, rc=0).stdout)
    if len(j["nodes"]) != 3 or j["leader"] not in (1, 2, 3) or \
            any(x["state"] != "live" for x in j["nodes"]):
        fail("nodes --json: %s" % j)
    # ranges
    t = rows(run("ranges", *h, rc=0).stdout)
    if t[0][:3] != ["ID", "START", "END"] or [r[0] for r in t[1:]] != ["1", "2", "3", "4", "5"] \
            or t[1][1] != "(start)" or t[5][2] != "(end)" or t[2][1:3] != ["b", "d"]:
        fail("ranges table: %s" % t)
    j = json.loads(run("ranges", "--json", *h, rc=0).stdout)
    if [r["id"] for r in j["ranges"]] != [1, 2, 3, 4, 5] or j["next"] is not None:
        fail("ranges --json: %s" % j)
    j = json.loads(run("ranges", "--json", "--limit", "2", *h, rc=0).stdout)
    if [r["id"] for r in j["ranges"]] != [1, 2] or j["next"] != 2:
        fail("ranges --limit 2 --json: %s" % j)
    t = rows(run("ranges", "--sort", "writes", "--limit", "2", *h, rc=0).stdout)
    if [r[0] for r in t[1:]] != ["2", "3"]:
        fail("ranges --sort writes: %s" % t)
    j = json.loads(run("ranges", "--sort", "reads", "--json", "--http", http(lead[4]),
                       rc=0).stdout)
    if j["ranges"][0]["id"] != 4 or "totals" not in j:
        fail("ranges --sort reads --json: %s" % j)
    if len(rows(run("ranges", "--node", "9", *h, rc=0).stdout)) != 1:
        fail("ranges --node 9 shows ranges")
    # range ID, on the leader (the progress table) and a follower.
    out = run("range", "2", "--http", http(lead[2]), rc=0).stdout.decode()
    if "range 2  [b, d)" not in out or "REPLICA" not in out or " leader " not in out or \
            "replicate" not in out:
        fail("range 2 on its leader: %s" % out)
    other = [i for i in (1, 2, 3) if i != lead[2]][0]
    out = run("range", "2", "--http", http(other), rc=0).stdout.decode()
    if "known on the leader: node %d" % lead[2] not in out:
        fail("range 2 on a follower: %s" % out)
    j = json.loads(run("range", "2", "--json", *h, rc=0).stdout)
    if j["id"] != 2 or "raft" not in j:
        fail("range --json: %s" % j)
    p = run("range", "99", *h, rc=1)
    if b"no such range" not in p.stderr:
        fail("range 99: %r" % p.stderr)
    run("log", "99", *h, rc=1)
    # log ID
    out = run("log", "2", "--limit", "6", *h, rc=0).stdout.decode()
    for want in ("SET b/user\\x01\\x5c (128 B)", "SEQ.NEXT b/orders +100", "DEL b/nx", "INDEX"):
        if want not in out:
            fail("log 2: %r not in %s" % (want, out))
    out = run("log", "2", "--from", "1", "--limit", "3", *h, rc=0).stdout.decode()
    j = json.loads(run("log", "2", "--from", "1", "--limit", "3", "--json", *h, rc=0).stdout)
    if j["entries"][0]["index"] != j["first_index"] or \
            "(more: rangekv log 2 --from %d)" % j["next"] not in out:
        fail("log --from 1: %s %s" % (j, out))
    # status
    out = run("status", *h, rc=0).stdout.decode()
    for want in ("3 nodes, 5 ranges", "leaderless 0", "writes/s", "hottest ranges"):
        if want not in out:
            fail("status: %r not in %s" % (want, out))
    j = json.loads(run("status", "--json", *h, rc=0).stdout)
    if len(j["cluster"]["nodes"]) != 3 or "totals" not in j["hot_ranges"]:
        fail("status --json: %s" % j)
    # --watch: prints again until interrupted.
    p = subprocess.Popen([BIN, "nodes", "--watch", "1"] + h, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    time.sleep(2.5 * SLOW)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10 * SLOW)
    if out.count(b"ID  STATE") < 2:
        fail("nodes --watch 1: %r" % out)
    # A terminal narrower than the table: the commands are cut to fit.
    m, sl = pty.openpty()
    fcntl.ioctl(sl, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 50, 0, 0))
    p = subprocess.Popen([BIN, "log", "2", "--limit", "6"] + h, stdout=sl,
                         stderr=subprocess.PIPE)
    os.close(sl)
    out = read_pty(m)
    p.wait(timeout=10 * SLOW)
    os.close(m)
    lines = out.decode().replace("\r", "").splitlines()
    if p.returncode != 0 or any(len(ln) > 50 for ln in lines) or \
            not any(ln.endswith("...") for ln in lines):
        fail("log on a 50-column terminal: %r" % lines)
    print("cli: nodes, ranges, range, log, status as tables and --json, --watch, "
          "exit 1 for an unknown range, tables cut to a narrow terminal")


def test_unavailable(procs):
    """Nodes 2 and 3 stopped (SIGSTOP): node 1's ranges lose their leaders
    or their majority, and `rangekv status` lists them as unavailable;
    back once resumed."""
    h = ["--http", http(1)]
    if get(1, "/api/v1/ranges?unavailable=1") != {"ranges": [], "next": None}:
        fail("unavailable=1 with every range led: %s" % get(1, "/api/v1/ranges?unavailable=1"))
    out = run("status", *h, rc=0).stdout.decode()
    if "UNAVAILABLE" in out or "unavailable 0" not in out:
        fail("status with every range led: %s" % out)
    for i in (2, 3):
        procs[i].send_signal(signal.SIGSTOP)
    try:
        def all_unavailable():
            j = try_get(1, "/api/v1/ranges?unavailable=1")
            return j is not None and len(j["ranges"]) == RANGES
        if not wait_quiet(all_unavailable, 30):
            fail("node 1's ranges not unavailable within %d s: %s" % (30 * SLOW, [
                (r["id"], r["leader"], r["role"], r["asleep"])
                for r in get(1, "/api/v1/ranges")["ranges"]]))
        out = run("status", *h, rc=0).stdout.decode()
        if "UNAVAILABLE: 5 ranges without a leader or a live majority:" not in out:
            fail("status with nodes 2 and 3 stopped: %s" % out)
        t = rows(out.split("UNAVAILABLE")[1].split("hottest")[0].encode())
        if t[1][0] != "ID" or [r[0] for r in t[2:]] != ["1", "2", "3", "4", "5"]:
            fail("status's table of unavailable ranges: %s" % t)
        j = json.loads(run("status", "--json", *h, rc=0).stdout)
        if [r["id"] for r in j["unavailable_ranges"]["ranges"]] != [1, 2, 3, 4, 5] or \
                j["hot_ranges"]["totals"]["unavailable"] != RANGES:
            fail("status --json unavailable_ranges: %s" % j)
        j = json.loads(run("ranges", "--unavailable", "--limit", "2", "--json", *h,
                           rc=0).stdout)
        if [r["id"] for r in j["ranges"]] != [1, 2] or j["next"] != 2:
            fail("ranges --unavailable --limit 2: %s" % j)
        page = get(1, "/api/v1/ranges?unavailable=true&node=1&after=3")
        if [r["id"] for r in page["ranges"]] != [4, 5] or page["next"] is not None:
            fail("unavailable=true&node=1&after=3: %s" % page)
        top = get(1, "/api/v1/ranges?unavailable=1&sort=size&limit=1")
        if top["totals"]["unavailable"] != RANGES or top["totals"]["ranges"] != RANGES:
            fail("unavailable=1&sort=size totals: %s" % top["totals"])
        for q in ("unavailable=0", "unavailable=x", "unavailable"):
            if get_status(1, "/api/v1/ranges?" + q) != 400:
                fail("/api/v1/ranges?%s: want 400" % q)
        run("nodes", "--unavailable", *h, rc=2)
    finally:
        for i in (2, 3):
            procs[i].send_signal(signal.SIGCONT)
    wait("every range led again", leaders, 30)
    wait("no range unavailable",
         lambda: get(1, "/api/v1/ranges?unavailable=1")["ranges"] == [], 30)
    out = run("status", *h, rc=0).stdout.decode()
    if "UNAVAILABLE" in out or "unavailable 0" not in out:
        fail("status once led again: %s" % out)
    print("status: unavailable ranges listed (table and --json), ranges --unavailable, "
          "unavailable= in the API, none once the nodes are back")


def test_space_bound():
    """A range bound of spaces is shown \\x20, not as an empty cell (which
    reads as the open start or end)."""
    h = ["--http", http(1), "--http", http(2), "--http", http(3)]
    run("split", "\\x20", *h, rc=0, timeout=60)
    t = rows(run("ranges", "--http", http(1), rc=0).stdout)
    first = [r for r in t[1:] if r[0] == "1"]
    if not first or first[0][1:3] != ["(start)", "\\x20"] or \
            not any(r[1:3] == ["\\x20", "b"] for r in t[1:]):
        fail("a bound of one space in the ranges table: %s" % t)
    out = run("range", "1", "--http", http(1), rc=0).stdout.decode()
    if "[(start), \\x20)" not in out:
        fail("a bound of one space in range 1's detail: %r" % out.splitlines()[:1])
    print("cli: a range bound of spaces shown as \\x20")


def main():
    tmp = tempfile.mkdtemp(prefix="rk-inspect-")
    procs = {}
    try:
        for i in (1, 2, 3):
            procs[i] = start(i, tmp)
        lead = wait("every range led", leaders, 20)
        test_load(lead)
        test_detail(lead)
        test_log(lead)
        test_cli_usage()
        test_cli(lead)
        test_unavailable(procs)
        test_space_bound()
        if len(sys.argv) > 2 and sys.argv[2] == "--keep":
            print("cluster up on", [http(i) for i in (1, 2, 3)], flush=True)
            signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
            signal.pause()
    finally:
        bad = []
        for p in procs.values():
            p.send_signal(signal.SIGTERM)
        for i, p in procs.items():
            try:
                if p.wait(timeout=20 * SLOW) != 0:
                    bad.append(i)
            except subprocess.TimeoutExpired:
                p.kill()
                bad.append(i)
        for i in bad:  # a sanitizer's report, a crash: the log says
            with open(os.path.join(tmp, "log%d" % i), errors="replace") as f:
                print("node %d log:\n%s" % (i, "".join(f.readlines()[-40:])))
        shutil.rmtree(tmp, ignore_errors=True)
    if bad:
        fail("nodes %s did not stop cleanly" % bad)
    print("inspect_test: PASS")


if __name__ == "__main__":
    main()
