#!/usr/bin/env python3
"""Ports that let no one in uninvited, on real rangekv processes
(docs/security.md).

    security_test.py path/to/rangekv

  foreign   a node of another cluster (its own data directory and initial
            cluster) pointed at node 1's peer port is refused, node 1 logs
            one line naming its address and both cluster ids, and the
            cluster keeps serving.
  secret    three nodes sharing --cluster-secret-file serve; node 3
            restarted with another secret, then with none, is refused both
            ways with a clear line while nodes 1 and 2 keep serving; with
            the right secret again it rejoins. An empty secret file stops
            the start with a clear error; one others can read is warned
            about. (An unknown node id and the proofs' freshness are
            checked by transport_handshake, which can forge Hellos.)
  token     --admin-token-file: every POST (the debug API here) needs
            'Authorization: Bearer TOKEN' and is answered 401 with a JSON
            error otherwise; GETs stay open except those marked private.

RK_KEEP_TMP=1 keeps the data directories and logs.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402
from resp import Conn  # noqa: E402


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def log_of(c, i):
    with open(os.path.join(c.tmp, "n%d" % i, "log"), errors="replace") as f:
        return f.read()


def wait_log(c, i, needle, timeout=10.0, since=0):
    """Waits until node i's log holds needle after offset since; the line."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        text = log_of(c, i)[since:]
        for line in text.splitlines():
            if needle in line:
                return line
        time.sleep(0.1)
    raise AssertionError("node %d logged no %r within %.0f s; tail:\n%s" %
                         (i, needle, timeout, "".join(c.log_tail(i, 15))))


def serves(node, key):
    """SET then GET of key through node's client port."""
    until = time.monotonic() + 20
    while True:
        conn = Conn(fc.client_addr(node), timeout=10)
        try:
            if conn.call("SET", key, "v") == "OK" and conn.call("GET", key) == b"v":
                return True
        except OSError:
            pass
        finally:
            conn.close()
        if time.monotonic() > until:
            return False
        time.sleep(0.2)


def stop(c):
    """SIGTERM to every node: each must exit 0 (a sanitizer report, a crash
    or a hang would not)."""
    status = c.stop_all()
    bad = {i: st for i, st in status.items() if st != 0}
    expect(not bad, "nodes exited with %r" % bad)


def secret_file(tmp, name, content, mode=0o600):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


def scenario_foreign(binary, tmp):
    c = fc.Cluster(binary, os.path.join(tmp, "foreign"))
    foreign = None
    try:
        c.start_all()
        c.wait_all_led()
        before = len(log_of(c, 1))
        # Node 9 of a one-node cluster of its own that lists node 1's peer
        # port as a peer: it dials node 1 with another cluster id.
        h9 = "127.0.0.9"
        p9 = "%s:%d" % (h9, fc.BASE + 9)
        d = os.path.join(tmp, "foreign", "n9")
        os.makedirs(d)
        with open(os.path.join(d, "log"), "w") as log:
            foreign = subprocess.Popen(
                [binary, "start", "--node-id", "9", "--data", os.path.join(d, "data"),
                 "--peer-addr", p9, "--client-addr", "%s:%d" % (h9, fc.BASE + 7),
                 "--http-addr", "%s:%d" % (h9, fc.BASE + 8),
                 "--initial-cluster", "9=%s,1=%s:%d" % (p9, fc.host(1), fc.peer_port(1)),
                 "--ranges", "1", "--tick-ms", "50"], stdout=log, stderr=log)
        line = wait_log(c, 1, "peer handshake refused", since=before)
        expect("another cluster" in line and "remote=127.0.0.9:" in line and
               "from node=9" in line and "cluster=" in line,
               "node 1's line on the foreign node: %r" % line)
        print("foreign: node 1 logged: %s" % line.split("WARN", 1)[-1].strip())
        time.sleep(1.5)  # the foreign node keeps retrying
        lines = [ln for ln in log_of(c, 1)[before:].splitlines() if "handshake refused" in ln]
        expect(len(lines) <= 6, "refusals not rate limited: %d lines" % len(lines))
        expect(foreign.poll() is None, "the foreign node exited")
        st, text = http(1, "/metrics")
        refused = [ln for ln in text.splitlines()
                   if ln.startswith("rangekv_peer_handshakes_refused_total ")]
        expect(refused and float(refused[0].split()[1]) >= len(lines),
               "the refusals in /metrics: %r" % refused)
        c.wait_all_led()
        expect(all(serves(i, "foreign%d" % i) for i in c.nodes), "the cluster stopped serving")
        print("foreign: refused (%d log lines in 1.5 s), the cluster serves on" % len(lines))
    finally:
        if foreign is not None:
            foreign.kill()
            foreign.wait()
        stop(c)


def scenario_secret(binary, tmp):
    base = os.path.join(tmp, "secret")
    os.makedirs(base)
    good = secret_file(base, "good", "the cluster's secret\n")
    other = secret_file(base, "other", "another secret\n")
    empty = secret_file(base, "empty", "\n")
    c = fc.Cluster(binary, base, extra_flags=["--cluster-secret-file", good])
    try:
        c.start_all()
        c.wait_all_led()
        expect(serves(1, "s1"), "a cluster with one secret does not serve")
        print("secret: three nodes with one secret serve")
        for flags, mine, theirs in (
                (["--cluster-secret-file", other], "another cluster secret",
                 "another cluster secret"),
                ([], "the peer has no cluster secret and this node has one",
                 "the peer proves a cluster secret and this node has none")):
            c.kill9(3)
            before = [len(log_of(c, i)) for i in (1, 2, 3)]
            c.extra = flags
            c.start(3)
            line = wait_log(c, 1, "peer handshake refused", since=before[0])
            expect(mine in line and "node=3" in line and "remote=127.0.0.3:" in line,
                   "node 1's line: %r" % line)
            line3 = wait_log(c, 3, "peer handshake refused", since=before[2])
            expect(theirs in line3, "node 3's line: %r" % line3)
            c.wait_all_led(nodes=[1, 2])
            expect(serves(2, "s2"), "nodes 1 and 2 stopped serving")
            expect(c.all_led([3]) is False, "node 3 sees leaders through a refused handshake")
            print("secret: node 3 with %s refused: %s" %
                  ("another secret" if flags else "no secret", line.split("WARN", 1)[-1].strip()))
        c.kill9(3)
        open_file = secret_file(base, "open", "the cluster's secret\n", 0o644)
        before = len(log_of(c, 3))
        c.extra = ["--cluster-secret-file", open_file]
        c.start(3)
        wait_log(c, 3, "can be read by its group or others", since=before)
        c.wait_all_led(nodes=[1, 2, 3])
        expect(serves(3, "s3"), "node 3 does not serve after it rejoined")
        print("secret: node 3 with the right secret rejoins; a file others can read is warned about")
        p = subprocess.run([binary, "start", "--node-id", "1", "--data", os.path.join(base, "x"),
                            "--peer-addr", "127.0.0.1:1", "--cluster-secret-file", empty],
                           capture_output=True, text=True, timeout=20)
        expect(p.returncode != 0 and "--cluster-secret-file" in p.stderr and
               "is empty" in p.stderr, "an empty secret file: %d %r" % (p.returncode, p.stderr))
        print("secret: an empty file is refused: %s" % p.stderr.strip().splitlines()[-1])
    finally:
        stop(c)


def http(node, path, method="GET", token=None):
    req = urllib.request.Request("http://%s%s" % (fc.http_addr(node), path),
                                 data=b"" if method != "GET" else None, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def scenario_token(binary, tmp):
    base = os.path.join(tmp, "token")
    os.makedirs(base)
    tok = secret_file(base, "token", "Zm9vYmFy-admin\n")
    c = fc.Cluster(binary, base, extra_flags=["--admin-token-file", tok])
    try:
        c.start_all()
        c.wait_all_led()
        drop = "/api/v1/debug/drop-answers?percent=0"
        for token in (None, "wrong", "Zm9vYmFy-admin2", "Zm9vYmFy-admi"):
            st, body = http(1, drop, "POST", token)
            expect(st == 401 and "admin token" in json.loads(body)["error"],
                   "POST with token %r: %s %s" % (token, st, body))
        st, body = http(1, drop, "POST", "Zm9vYmFy-admin")
        expect(st == 200, "POST with the token: %s %s" % (st, body))
        st, text = http(1, "/metrics")
        expect("\nrangekv_http_unauthorized_total 4\n" in text, "401s in /metrics")
        st, body = http(2, "/api/v1/cluster/status")
        expect(st == 200 and "nodes" in json.loads(body), "an open GET: %s" % st)
        st, _ = http(2, "/api/v1/ranges/1/log")
        expect(st == 401, "the range log without the token: %s" % st)
        st, _ = http(2, "/api/v1/ranges/1/log", token="Zm9vYmFy-admin")
        expect(st != 401, "the range log with the token: %s" % st)
        expect(serves(3, "t"), "the cluster does not serve")
        print("token: POST answered 401 without the right token, 200 with it; "
              "GETs open, the range log private")
    finally:
        stop(c)


def main():
    binary = sys.argv[1]
    keep = os.environ.get("RK_KEEP_TMP") == "1"
    tmp = tempfile.mkdtemp(prefix="rk_security_")
    try:
        for name, fn in (("foreign", scenario_foreign), ("secret", scenario_secret),
                         ("token", scenario_token)):
            fn(binary, tmp)
            print("%s: ok" % name, flush=True)
    except Exception:
        traceback.print_exc()
        print("security_test: FAIL (logs in %s)" % tmp, flush=True)
        keep = True
        return 1
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("security_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
