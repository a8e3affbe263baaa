#!/usr/bin/env python3
"""Replica checksums against three real nodes holding data
(POST /api/v1/ranges/{id}/check and `rangekv check`):

  - usage: --help, bad flags (exit 2), an unknown range (exit 1), a node
    that does not answer (exit 3);
  - every range agrees after a write load, and while writes go on (the
    checksum is taken at exactly the check's log index on every replica,
    whatever each one's apply batches hold);
  - with a node killed -9, every range is answered at once, its replicas
    marked node_down (not waited for until --request-timeout);
  - every range agrees after a node was killed -9 mid-load and restarted;
  - a replica altered behind raft's back (the test hook
    /api/v1/debug/fault/alter) is found: exit 1, DIFFER, a warning in the
    leader's log and rangekv_check_mismatches_total in its /metrics.

    check_test.py path/to/rangekv
"""
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inspect_test import Resp, free_port, read_pty  # noqa: E402  (shared helpers)

BIN = sys.argv[1]
SLOW = 4 if os.environ.get("RK_SANITIZED_RUN") else 1  # ASan + UBSan builds
TICK_MS = 50
# Ranges: 1 [, b) 2 [b, d) 3 [d, f) 4 [f, h) 5 [h, )
SPLITS = "b,d,f,h"
RANGES = 5
BASE = 27300 + (os.getpid() % 200) * 10  # 27300-29319: below the ephemeral ports, apart from the other tests'
PREFIXES = ["a", "c", "e", "g", "k"]  # one per range


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def http(i):
    return addr(i, 2)


CLUSTER = ",".join("%d=%s" % (i, addr(i, 0)) for i in (1, 2, 3))
ALL_HTTP = sum((["--http", http(i)] for i in (1, 2, 3)), [])


def fail(msg):
    print("check_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def get(i, path, timeout=2.0):
    with urllib.request.urlopen("http://%s%s" % (http(i), path), timeout=timeout * SLOW) as r:
        body = r.read().decode()
        return json.loads(body) if path != "/metrics" else body


def post(i, path, timeout=10.0):
    req = urllib.request.Request("http://%s%s" % (http(i), path), data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode() or "null")


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


def start(i, tmp):
    log = open(os.path.join(tmp, "log%d" % i), "a")
    env = dict(os.environ, RANGEKV_TEST_HOOKS="1")
    args = [BIN, "start", "--node-id", str(i), "--data", os.path.join(tmp, "n%d" % i),
            "--peer-addr", addr(i, 0), "--client-addr", addr(i, 1),
            "--http-addr", http(i), "--initial-cluster", CLUSTER,
            "--split-at", SPLITS, "--tick-ms", str(TICK_MS), "--enable-debug-api"]
    return subprocess.Popen(args, stdout=log, stderr=log, env=env)


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


def run(*args, rc=None, timeout=60):
    p = subprocess.run([BIN] + list(args), capture_output=True, timeout=timeout * SLOW)
    if rc is not None and p.returncode != rc:
        fail("rangekv %s: exit %d, want %d; stdout %r stderr %r" %
             (" ".join(args), p.returncode, rc, p.stdout, p.stderr))
    return p


class Load(threading.Thread):
    """Writes (SET, INCR, SEQ.NEXT, DEL) to every range until stopped,
    through node `via`; errors (a node killed) are retried elsewhere."""

    def __init__(self, via=(1, 2)):
        super().__init__(daemon=True)
        self.stop = False
        self.via = via
        self.n = 0

    def run(self):
        c, k = None, 0
        while not self.stop:
            try:
                if c is None:
                    c = Resp(addr(self.via[k % len(self.via)], 1))
                p = PREFIXES[self.n % len(PREFIXES)]
                key = "%s%05d" % (p, self.n % 997)
                c.call("SET", key, "v%d" % self.n)
                if self.n % 7 == 0:
                    c.call("INCR", p + "-counter")
                if self.n % 11 == 0:
                    c.call("SEQ.NEXT", p + "-seq", "3")
                if self.n % 13 == 0:
                    c.call("DEL", "%s%05d" % (p, (self.n // 2) % 997))
                self.n += 1
            except OSError:
                c, k = None, k + 1
                time.sleep(0.1)


def check_all(want_rc=0, tries=1):
    """`check --all` on every node's port: its answer (parsed --json)."""
    for t in range(tries):
        p = run("check", "--all", "--json", *ALL_HTTP)
        if p.returncode == want_rc:
            out = json.loads(p.stdout)
            if len(out) != RANGES:
                fail("check --all: %d answers, want %d: %r" % (len(out), RANGES, out))
            return out
        time.sleep(0.5)
    fail("check --all: exit %d, want %d: %r %r" % (p.returncode, want_rc, p.stdout, p.stderr))


def test_usage():
    p = run("check", "--help", rc=0)
    if b"usage: rangekv check ID|--all" not in p.stdout or b"--http" not in p.stdout:
        fail("check --help: %r" % p.stdout)
    if b"\n  check " not in run("help", rc=0).stdout:
        fail("rangekv help does not list check")
    for args in (["check"], ["check", "x"], ["check", "0"], ["check", "1", "2"],
                 ["check", "--all", "1"], ["check", "1", "--frob"], ["check", "1", "--http"],
                 ["check", "1", "--timeout", "-1"], ["check", "1", "--http", "nohost"]):
        p = run(*args, rc=2)
        if len(p.stderr.decode().strip().splitlines()) != 1:
            fail("rangekv %s: want one line on stderr, got %r" % (" ".join(args), p.stderr))
    a = "127.0.0.1:%d" % free_port()
    for args in (["check", "1"], ["check", "--all"]):
        p = run(*(args + ["--http", a, "--timeout", "2"]), rc=3)
        if len(p.stderr.decode().strip().splitlines()) != 1 or p.stdout:
            fail("unreachable %s: %r %r" % (args, p.stdout, p.stderr))
    p = run("check", "99", "--http", http(1), rc=1)
    if b"no such range" not in p.stderr:
        fail("unknown range: %r" % p.stderr)
    print("usage: --help, bad usage exits 2, unreachable 3, an unknown range 1", flush=True)


def test_api(lead):
    # On a follower: 409 with the leader; on the leader: the answer.
    r = 1
    other = next(i for i in (1, 2, 3) if i != lead[r])
    st, body = post(other, "/api/v1/ranges/%d/check" % r)
    if st != 409 or body.get("leader") != lead[r]:
        fail("check on a follower: %d %r" % (st, body))
    st, body = post(lead[r], "/api/v1/ranges/%d/check" % r)
    if st != 200 or body["range"] != r or body["agree"] is not True or \
            len(body["replicas"]) != 3 or body["index"] < 1:
        fail("check on the leader: %d %r" % (st, body))
    sums = {x["checksum"] for x in body["replicas"]}
    if len(sums) != 1 or len(sums.pop()) != 16:
        fail("checksums: %r" % body)
    st, _ = post(lead[r], "/api/v1/ranges/abc/check")
    if st != 400:
        fail("a bad range id: %d" % st)
    print("api: 409 with the leader on a follower, the answer on the leader", flush=True)


def test_agree_under_load():
    loads = [Load(via=(i,)) for i in (1, 2, 3)]
    for load in loads:
        load.start()
    wait("some writes", lambda: loads[0].n > 200, 30)
    for _ in range(10):  # while writes go on
        out = check_all(0)
        if not all(x["agree"] for x in out):
            fail("disagree under load: %r" % out)
    for load in loads:
        load.stop = True
        load.join()
    load.n = sum(x.n for x in loads)
    out = check_all(0)
    sums = {x["range"]: x["replicas"][0]["checksum"] for x in out}
    if len(set(sums.values())) != RANGES:
        fail("ranges with data should hash differently: %r" % sums)
    p = run("check", "--all", *ALL_HTTP, rc=0)
    if p.stdout.count(b"agree") < RANGES or b"5 ranges: 5 agree" not in p.stdout:
        fail("check --all table: %r" % p.stdout)
    # On a terminal, stderr shows how far --all got while it runs.
    m, sl = pty.openpty()
    p = subprocess.Popen([BIN, "check", "--all"] + ALL_HTTP, stdout=subprocess.PIPE,
                         stderr=sl)
    os.close(sl)
    err = read_pty(m)
    out, _ = p.communicate(timeout=60 * SLOW)
    os.close(m)
    if p.returncode != 0 or b"checked 5 ranges: 5 agree" not in err or \
            b"5 ranges: 5 agree" not in out:
        fail("check --all on a terminal: rc %d, stderr %r" % (p.returncode, err))
    print("agree: after and during a write load (%d writes)" % load.n, flush=True)


def leaders_of(nodes):
    """range id -> leader, once nodes agree on one of them for every range."""
    seen = {}
    for i in nodes:
        r = try_get(i, "/api/v1/ranges")
        if r is None or len(r["ranges"]) != RANGES:
            return None
        for x in r["ranges"]:
            if x["leader"] not in nodes or seen.setdefault(x["id"], x["leader"]) != x["leader"]:
                return None
    return seen


def test_node_down():
    """Node 3 is down: `check --all` answers every range at once, node 3's
    replica null and marked node_down, rather than waiting out
    --request-timeout (5 s) range after range."""
    wait("every range led by node 1 or 2", lambda: leaders_of((1, 2)), 30)
    t0 = time.time()
    p = run("check", "--all", "--json", *ALL_HTTP, rc=1)
    took = time.time() - t0
    out = json.loads(p.stdout)
    if len(out) != RANGES:
        fail("check --all with node 3 down: %r" % out)
    for x in out:
        reps = {r["node_id"]: r for r in x["replicas"]}
        if x["agree"] is not False or reps[3]["checksum"] is not None or \
                reps[3]["node_down"] is not True or \
                any(reps[i]["node_down"] for i in (1, 2)) or \
                reps[1]["checksum"] is None or reps[1]["checksum"] != reps[2]["checksum"]:
            fail("check --all with node 3 down: %r" % x)
    if took > 2.5 * SLOW:
        fail("check --all with node 3 down took %.1f s: it waited for the dead node" % took)
    p = run("check", "1", *ALL_HTTP, rc=1)
    if b"3:down" not in p.stdout or b"INCOMPLETE" not in p.stdout:
        fail("check 1 with node 3 down: %r" % p.stdout)
    print("node down: check --all answered in %.2f s, node 3's replicas marked down" % took,
          flush=True)


def test_kill_restart(procs, tmp):
    load = Load(via=(1, 2))
    load.start()
    wait("some writes", lambda: load.n > 200, 30)
    procs[3].kill()
    procs[3].wait()
    n0 = load.n
    wait("writes without node 3", lambda: load.n > n0 + 200, 30)
    test_node_down()
    procs[3] = start(3, tmp)
    wait("writes after the restart", lambda: load.n > n0 + 500, 30)
    load.stop = True
    load.join()
    wait("every range led", leaders, 30)
    out = check_all(0, tries=40)
    if not all(x["agree"] and all(r["checksum"] for r in x["replicas"]) for x in out):
        fail("after kill -9: %r" % out)
    print("agree: after node 3 was killed -9 mid-load and restarted", flush=True)


def test_altered(lead):
    # k-keys live in range 5 [h, ); alter one on a follower only.
    c = Resp(addr(1, 1))
    c.call("SET", "k-altered", "right")
    c.close()
    follower = next(i for i in (1, 2, 3) if i != lead[5])
    check_all(0, tries=20)  # every replica has it
    st, body = post(follower, "/api/v1/debug/fault/alter?key=k-altered&value=wrong")
    if st != 200 or body != {"altered": True}:
        fail("alter: %d %r" % (st, body))
    time.sleep(0.5)
    p = run("check", "5", *ALL_HTTP, rc=1)
    if b"DIFFER" not in p.stdout or b"MISMATCH: 1 range: 0 agree, 1 differ" not in p.stdout:
        fail("altered replica not found: %r %r" % (p.stdout, p.stderr))
    p = run("check", "5", "--json", *ALL_HTTP, rc=1)
    ans = json.loads(p.stdout)
    bad = [x for x in ans["replicas"] if x["checksum"] != ans["replicas"][
        (ans["replicas"].index(x) + 1) % 3]["checksum"]]
    sums = {}
    for x in ans["replicas"]:
        sums.setdefault(x["checksum"], []).append(x["node_id"])
    if ans["agree"] is not False or len(sums) != 2 or \
            [v for v in sums.values() if len(v) == 1] != [[follower]]:
        fail("the altered replica should stand alone: %r (%r)" % (ans, bad))
    m = get(lead[5], "/metrics")
    line = [ln for ln in m.splitlines() if ln.startswith("rangekv_check_mismatches_total")]
    if not line or int(line[0].split()[1]) < 1:
        fail("mismatch not counted: %r" % line)
    # Only range 5 differs.
    p = run("check", "--all", *ALL_HTTP, rc=1)
    if b"MISMATCH: 5 ranges: 4 agree, 1 differ" not in p.stdout:
        fail("check --all with one altered range: %r" % p.stdout)
    print("altered: the replica altered behind raft's back is found (exit 1)", flush=True)
    return lead[5]


def main():
    tmp = tempfile.mkdtemp(prefix="rk-check-")
    procs = {}
    try:
        for i in (1, 2, 3):
            procs[i] = start(i, tmp)
        lead = wait("every range led", leaders, 20)
        test_usage()
        test_api(lead)
        test_agree_under_load()
        test_kill_restart(procs, tmp)
        lead = wait("every range led", leaders, 30)
        leader5 = test_altered(lead)
        with open(os.path.join(tmp, "log%d" % leader5), errors="replace") as f:
            if "REPLICAS DIFFER" not in f.read():
                fail("the leader did not log the mismatch")
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
        for i in bad:
            with open(os.path.join(tmp, "log%d" % i), errors="replace") as f:
                print("node %d log:\n%s" % (i, "".join(f.readlines()[-40:])))
        shutil.rmtree(tmp, ignore_errors=True)
    if bad:
        fail("nodes %s did not stop cleanly" % bad)
    print("check_test: PASS")


if __name__ == "__main__":
    main()
