#!/usr/bin/env python3
"""The client half of the rangekv binary, as a user runs it:

  - every verb: bad usage exits 2 with one line on stderr, --help exits 0;
  - the KV verbs against a real redis-server (get, set --nx/--xx, del, incr:
    output, --json, \\xNN keys, exit statuses 0/1/3);
  - scan, cas and seq against a small fake node that speaks KRANGE, CAS and
    SEQ.NEXT (scan pages through a span longer than one page);
  - split and merge against a fake HTTP node: a refusal that says "retry in
    a moment" asked again (until --timeout), any other one not;
  - `rangekv demo`: comes up, answers on every HTTP port, stops on SIGINT
    with exit 0 and no node left behind, restarts from its --dir, and
    reports a node killed under it (exit 1).

    cli_test.py path/to/rangekv

Exits 77 (skipped) when redis-server is not installed.
"""
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = sys.argv[1]
SLOW = 4 if os.environ.get("RK_SANITIZED_RUN") else 1  # ASan + UBSan builds
VERBS = ["get", "set", "del", "incr", "cas", "seq", "scan"]


def fail(msg):
    print("cli_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def run(*args, rc=None, timeout=20):
    p = subprocess.run([BIN] + list(args), capture_output=True, timeout=timeout * SLOW)
    if rc is not None and p.returncode != rc:
        fail("rangekv %s: exit %d, want %d; stdout %r stderr %r" %
             (" ".join(args), p.returncode, rc, p.stdout, p.stderr))
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ports_free(ports):
    for p in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


# ---- (a) usage ---------------------------------------------------------------

def test_usage():
    for verb in VERBS + ["demo", "start", "rebalance", "decommission"]:
        p = run(verb, "--help", rc=0)
        if b"usage: rangekv " + verb.encode() not in p.stdout:
            fail("%s --help: %r" % (verb, p.stdout))
    p = run("help", rc=0)
    for verb in VERBS + ["demo", "start", "rebalance", "decommission"]:
        if ("\n  %s " % verb).encode() not in p.stdout:
            fail("rangekv help does not list %s: %r" % (verb, p.stdout))
    run(rc=2)  # no command: the whole usage, on stderr
    bad = [["frob"], ["get"], ["get", "a", "b"], ["set", "a"],
           ["set", "a", "b", "--nx", "--xx"], ["del"], ["incr"], ["incr", "k", "x"],
           ["cas", "a", "b"], ["seq"], ["seq", "n", "0"], ["scan"], ["scan", "a", "b", "c"],
           ["scan", "a", "--limit", "0"], ["get", "a", "--bogus"], ["get", "a", "--nx"],
           ["get", "a", "--timeout"], ["get", "a", "--timeout", "-1"],
           ["get", "bad\\x4"], ["get", "a", "--addr", "nohost"],
           ["demo", "--nodes", "0"], ["demo", "--nodes", "10"], ["demo", "--frob"],
           ["demo", "--base-port", "65500"],
           ["rebalance"], ["rebalance", "frob"], ["rebalance", "status", "x"],
           ["rebalance", "status", "--wait", "--watch", "1"],
           ["decommission", "2", "--watch", "1"]]
    for args in bad:
        # Usage is checked before anything is contacted: --addr points
        # nowhere reachable, and the answer must still be 2.
        p = run(*args, rc=2)
        if len(p.stderr.decode().strip().splitlines()) != 1:
            fail("rangekv %s: want one line on stderr, got %r" % (" ".join(args), p.stderr))
    print("usage errors exit 2 with one line; --help exits 0 for every verb")


# ---- (b) KV verbs against redis-server -----------------------------------------

def test_redis(tmp):
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", tmp],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        a = ["--addr", "127.0.0.1:%d" % port]
        t0 = time.time()
        while run("get", "x", *a).returncode != 0:
            if time.time() - t0 > 10 * SLOW:
                fail("redis-server did not come up")
            time.sleep(0.05)

        def out(*args, rc=0):
            return run(*(list(args) + a), rc=rc).stdout

        def js(*args, rc=0):
            return json.loads(out(*(list(args) + ["--json"]), rc=rc))

        if out("set", "k", "v 1") != b"OK\n" or out("get", "k") != b"v 1\n":
            fail("set/get")
        p = run("get", "missing", *a, rc=0)
        if p.stdout != b"" or p.stderr != b"(nil)\n":
            fail("get of a missing key: %r %r" % (p.stdout, p.stderr))
        if js("get", "missing") != {"key": "missing", "value": None}:
            fail("get --json of a missing key")
        if js("set", "k", "w", "--nx") != {"key": "k", "set": False} or out("get", "k") != b"v 1\n":
            fail("set --nx on an existing key")
        if js("set", "k2", "w", "--xx") != {"key": "k2", "set": False}:
            fail("set --xx on a missing key")
        if out("set", "k", "w", "--xx") != b"OK\n" or out("set", "k2", "w", "--nx") != b"OK\n":
            fail("set --xx / --nx that apply")
        # Keys take \xNN; JSON shows bytes with the same escape.
        if out("set", "b\\x00\\x0a\\x5c\"", "a\\b") != b"OK\n":
            fail("set of an escaped key")
        got = js("get", "b\\x00\\x0a\\x5c\"")
        if got != {"key": "b\\x00\\x0a\\x5c\"", "value": "a\\x5cb"}:
            fail("get --json of an escaped key: %r" % got)
        if out("incr", "n") != b"1\n" or out("incr", "n", "-5") != b"-4\n" or \
                js("incr", "n", "10") != {"key": "n", "value": 6}:
            fail("incr")
        # Answers of all 19 digits (the RESP integer's whole range).
        if out("incr", "n", "999999999999999999") != b"1000000000000000005\n":
            fail("incr answering 19 digits")
        out("incr", "n", "9223372036854775807", rc=1)  # overflow: refused
        p = run("incr", "k", *a, rc=1)
        if b"not an integer" not in p.stderr:
            fail("incr of a string: %r" % p.stderr)
        if out("del", "k", "k2", "n", "nope") != b"3\n" or js("del", "k") != {"deleted": 0}:
            fail("del")
        # A key that starts with "--" after "--" (which ends the flags).
        if run("set", *a, "--", "--odd", "x").stdout != b"OK\n" or \
                run("get", *a, "--", "--odd").stdout != b"x\n":
            fail("-- before a key")
        # One dash is no flag: a value "-x -y", a key "-k", a count "-57".
        if out("set", "-k", "-hello") != b"OK\n" or out("get", "-k") != b"-hello\n" or \
                out("incr", "n2", "-57") != b"-57\n" or out("del", "-k", "n2") != b"2\n":
            fail("arguments with one dash")
    finally:
        srv.terminate()
        srv.wait()

    # Unreachable: a closed port, and a listener that never answers.
    closed = free_port()
    p = run("get", "k", "--addr", "127.0.0.1:%d" % closed, rc=3)
    if b"127.0.0.1:%d" % closed not in p.stderr:
        fail("unreachable: %r" % p.stderr)
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        t0 = time.time()
        run("get", "k", "--timeout", "0.5", "--addr", "127.0.0.1:%d" % mute.getsockname()[1],
            rc=3)
        if time.time() - t0 > 5 * SLOW:
            fail("--timeout 0.5 took %.1f s" % (time.time() - t0))
    print("get/set/del/incr against redis-server: output, --json, escapes, exit 0/1/3")


# ---- scan, cas, seq against a fake node -------------------------------------

class FakeNode:
    """KRANGE (at most 10,000 pairs without LIMIT, like the node), CAS and
    SEQ.NEXT over RESP, one connection at a time; records the KRANGEs."""

    def __init__(self, data):
        self.data = dict(data)
        self.seqs = {}
        self.kranges = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            with conn, conn.makefile("rb") as f:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    args = []
                    for _ in range(int(line[1:])):
                        n = int(f.readline()[1:])
                        args.append(f.read(n + 2)[:-2])
                    conn.sendall(self.answer(args))

    def answer(self, args):
        cmd = args[0].upper()
        if cmd == b"KRANGE":
            self.kranges.append(args[1:])
            start, end = args[1], args[2]
            limit = int(args[4]) if len(args) == 5 else 10000
            keys = sorted(k for k in self.data if k >= start and (end == b"" or k < end))
            keys = keys[:min(limit, 10000)]
            out = b"*%d\r\n" % (2 * len(keys))
            for k in keys:
                for s in (k, self.data[k]):
                    out += b"$%d\r\n%s\r\n" % (len(s), s)
            return out
        if cmd == b"CAS":
            if self.data.get(args[1], b"") != args[2]:
                return b":0\r\n"
            self.data[args[1]] = args[3]
            return b":1\r\n"
        if cmd == b"SEQ.NEXT":
            n = int(args[2]) if len(args) == 3 else 1
            first = self.seqs.get(args[1], 0) + 1
            self.seqs[args[1]] = first + n - 1
            return b":%d\r\n" % first
        return b"-ERR unknown command\r\n"


def test_fake_node():
    data = {b"user/%05d" % i: b"v%d" % i for i in range(2500)}
    data[b"user/\x00\ttab"] = b"line\nbreak"
    data[b"zzz"] = b"after"
    node = FakeNode(data)
    a = ["--addr", node.addr]

    p = run("scan", "user/", "user0", *a, rc=0)
    lines = p.stdout.decode().splitlines()
    if len(lines) != 2501 or lines[0] != "user/\\x00\\x09tab\tline\\x0abreak" or \
            lines[1] != "user/00000\tv0" or lines[-1] != "user/02499\tv2499":
        fail("scan: %d lines, %r ... %r" % (len(lines), lines[:2], lines[-1:]))
    # Paged: each call goes on right after the last key of the one before.
    if len(node.kranges) != 3 or node.kranges[1][0] != b"user/00998\x00" or \
            any(k[2:] != [b"LIMIT", b"1000"] for k in node.kranges):
        fail("scan pages: %r" % [k[:1] + k[3:] for k in node.kranges])
    node.kranges.clear()
    p = run("scan", "user/01000", "--limit", "1500", "--json", *a, rc=0)
    rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
    if len(rows) != 1500 or rows[0] != {"key": "user/01000", "value": "v1000"} or \
            rows[-1]["key"] != "user/02499":
        fail("scan --limit --json: %d rows, %r" % (len(rows), rows[:1]))
    p = run("scan", "user/02499", *a, rc=0)
    if p.stdout != b"user/02499\tv2499\nzzz\tafter\n":
        fail("scan to the end: %r" % p.stdout)

    if run("cas", "c", "", "one", *a, rc=0).stdout != b"1\n" or \
            run("cas", "c", "x", "two", "--json", *a, rc=0).stdout != \
            b'{"key":"c","swapped":false}\n':
        fail("cas")
    if run("seq", "ids", *a, rc=0).stdout != b"1\n" or \
            json.loads(run("seq", "ids", "10", "--json", *a, rc=0).stdout) != \
            {"name": "ids", "first": 2, "count": 10} or \
            run("seq", "ids", *a, rc=0).stdout != b"12\n":
        fail("seq")
    print("scan pages through 2,501 pairs (and --limit), cas, seq against a fake node")


def test_split_retry():
    """`rangekv split` and `merge` ask again while a refusal says "retry in
    a moment" (a leader that just took over), and only then."""
    import http.server
    calls = []
    plan = []  # (status, body) per call; the last one repeats

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append((time.time(), self.path))
            st, body = plan[min(len(calls), len(plan)) - 1]
            out = json.dumps(body).encode()
            self.send_response(st)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    a = ["--http", "127.0.0.1:%d" % srv.server_address[1]]
    busy = (409, {"error": "the range's leader took over a moment ago and has not applied "
                           "its log yet; retry in a moment"})
    desc = {"id": 7, "start": "a", "end": "m", "generation": 2}
    done = (200, {"left": desc, "right": dict(desc, id=8, start="m", end="")})
    try:
        plan[:] = [busy, busy, done]
        p = run("split", "m", *a, rc=0)
        if len(calls) != 3 or b"right range 8 [m, end)" not in p.stdout or \
                calls[2][0] - calls[0][0] < 0.3:
            fail("split asked again on 'retry in a moment': %d calls, %r" % (len(calls), p.stdout))
        calls.clear()
        plan[:] = [(409, {"error": "another split of this range is under way"}), done]
        p = run("split", "m", *a, rc=1)
        if len(calls) != 1 or b"another split" not in p.stderr:
            fail("split with a lasting refusal: %d calls, %r" % (len(calls), p.stderr))
        calls.clear()
        plan[:] = [busy]
        t0 = time.time()
        p = run("merge", "7", "--timeout", "1", *a, rc=1)
        if not 2 <= len(calls) <= 7 or time.time() - t0 > 5 or b"retry in a moment" not in p.stderr:
            fail("merge refused until --timeout: %d calls in %.1f s, %r" %
                 (len(calls), time.time() - t0, p.stderr))
    finally:
        srv.shutdown()
    print("split and merge ask again while a refusal says to retry, until --timeout")


# ---- (c) demo --------------------------------------------------------------------

def demo_base():
    for _ in range(200):
        base = random.randrange(11000, 17000, 10)
        ports = [base + k * 100 + i for k in range(3) for i in (1, 2, 3)]
        if ports_free(ports):
            return base
    fail("no free ports for the demo")


def procs_using(path, demo=None):
    """Pids other than the demo's whose command line mentions path: the
    demo's nodes."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != demo:
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if path.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def start_demo(ddir, extra=()):
    p = subprocess.Popen([BIN, "demo", "--dir", ddir] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = queue.Queue()

    def pump(stream):
        for l in stream:
            lines.put(l.decode())
    threading.Thread(target=pump, args=(p.stdout,), daemon=True).start()
    threading.Thread(target=pump, args=(p.stderr,), daemon=True).start()
    seen = []
    deadline = time.time() + 60 * SLOW
    while True:
        try:
            l = lines.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            fail("demo printed no 'connect with' line: %r" % seen)
        seen.append(l)
        if l.startswith("connect with"):
            return p, lines
        if p.poll() is not None and lines.empty():
            fail("demo exited %d: %r" % (p.returncode, seen))


def status(base, i):
    url = "http://127.0.0.1:%d/api/v1/cluster/status" % (base + 200 + i)
    with urllib.request.urlopen(url, timeout=5 * SLOW) as r:
        return json.loads(r.read().decode())


def test_demo(tmp):
    base = demo_base()
    ddir = os.path.join(tmp, "demo")
    pwfile = os.path.join(tmp, "demo-password")
    with open(pwfile, "w") as f:
        f.write("s3cret\n")
    os.chmod(pwfile, 0o600)
    p, out = start_demo(ddir, ["--nodes", "3", "--ranges", "8", "--base-port", str(base),
                               "--client-password-file", pwfile])
    try:
        # The restart hint names the password file: the cluster does not
        # keep it, and a restart without it would serve without AUTH.
        hint = []
        while not hint or not hint[-1].startswith("Ctrl-C"):
            hint.append(out.get(timeout=10 * SLOW))
        want = "demo --dir %s --client-password-file %s" % (ddir, pwfile)
        if not any(l.rstrip().endswith(want) for l in hint):
            fail("the restart hint leaves out the password file: %r" % hint)
        for i in (1, 2, 3):
            st = status(base, i)
            if st["node_id"] != i or st["ranges"] != 8 or \
                    sum(n["leaders"] for n in st["nodes"]) != 8:
                fail("node %d status: %r" % (i, st))
        if len(procs_using(ddir, p.pid)) != 3:
            fail("want 3 nodes running: %r" % procs_using(ddir, p.pid))
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=15 * SLOW)
        if rc != 0:
            fail("demo exited %d after SIGINT" % rc)
        if procs_using(ddir):
            fail("nodes left after the demo stopped: %r" % procs_using(ddir))
        time.sleep(0.2)
        if not any(l.rstrip().endswith(want) for l in list(out.queue)):
            fail("the stop's restart line leaves out the password file: %r" % list(out.queue))
        print("demo: 3 nodes up with 8 ranges led; SIGINT stopped them all, exit 0; "
              "both restart hints name the password file")

        # Restart from the directory alone (its first start's flags are
        # remembered there), then kill a node under it: reported, the rest
        # stopped, exit 1.
        p, lines = start_demo(ddir)
        if status(base, 2)["ranges"] != 8:
            fail("restart: %r" % status(base, 2))
        victim = procs_using(ddir, p.pid)[0]
        os.kill(victim, signal.SIGKILL)
        rc = p.wait(timeout=30 * SLOW)
        time.sleep(0.2)
        err = "".join(lines.queue)
        if rc != 1 or "killed by signal 9" not in err:
            fail("a killed node: demo exit %d, %r" % (rc, err))
        if procs_using(ddir):
            fail("nodes left after a node died: %r" % procs_using(ddir))
        print("demo: restarted from --dir; a node killed under it is reported, exit 1")

        # What a node refuses is surfaced: a --ranges that conflicts with
        # the directory's first start.
        p = subprocess.Popen([BIN, "demo", "--dir", ddir, "--ranges", "9"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=60 * SLOW)
        if p.returncode != 1 or b"does not match the first start" not in err:
            fail("conflicting --ranges: exit %d, %r" % (p.returncode, err))
        if procs_using(ddir):
            fail("nodes left after a refused start: %r" % procs_using(ddir))
        # A port in use: one clear line, nothing started.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", base + 202))
            s.listen()
            r = subprocess.run([BIN, "demo", "--dir", ddir], capture_output=True,
                               timeout=20 * SLOW)
        if r.returncode != 1 or b"port %d" % (base + 202) not in r.stderr or \
                len(r.stderr.splitlines()) != 1:
            fail("port in use: exit %d, %r" % (r.returncode, r.stderr))
        print("demo: a node's refusal and a port in use are reported, exit 1")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in procs_using(ddir):
            os.kill(pid, signal.SIGKILL)


def main():
    if shutil.which("redis-server") is None:
        print("cli_test: redis-server is not installed; skipped")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="rk-cli-")
    try:
        test_usage()
        test_redis(tmp)
        test_fake_node()
        test_split_retry()
        test_demo(tmp)
        print("cli_test: passed")
    finally:
        if os.environ.get("RK_KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)


if __name__ == "__main__":
    main()
