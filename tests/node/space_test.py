#!/usr/bin/env python3
"""A node low on disk space refuses writes and keeps serving, on real
rangekv processes (--min-free-space, docs/node.md).

    space_test.py path/to/rangekv

  hooks     three nodes; the test hooks (RANGEKV_TEST_HOOKS=1) make every
            node read 1 MiB free: writes get the NOSPACE error while GET
            and DEL work, /metrics and /api/v1/cluster/status show it, and
            writes are taken again once the reading is back above the floor.
            Skipped when the binary has no test hooks (a Release build).
  real      three nodes whose data directories are small tmpfs mounts
            (root only; skipped with the reason otherwise), each with a
            ballast file: 64 KiB SETs until the nodes refuse them. No node
            may exit; reads and DEL work; once the ballast is removed, the
            nodes take writes again by themselves.

--no-flag starts the nodes without --min-free-space (to see what a binary
without the watch does on a full disk). RK_KEEP_TMP=1 keeps the data
directories and logs.
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
from resp import Conn, Err  # noqa: E402

MiB = 1 << 20
NO_FLAG = "--no-flag" in sys.argv


def http(node, path, method="GET"):
    req = urllib.request.Request("http://%s%s" % (fc.http_addr(node), path),
                                 data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(node, name):
    st, text = http(node, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("node %d has no metric %s" % (node, name))


def call(node, *args):
    """One command through node's client port, retried while the cluster
    settles (-TRYAGAIN); the reply."""
    until = time.monotonic() + 20
    while True:
        c = Conn(fc.client_addr(node), timeout=15)
        try:
            r = c.call(*args)
        finally:
            c.close()
        if not (isinstance(r, Err) and r.kind() in ("TRYAGAIN", "TIMEOUT")) or \
                time.monotonic() > until:
            return r
        time.sleep(0.2)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def is_nospace(r):
    return isinstance(r, Err) and r.kind() == "NOSPACE" and "no space left on node" in r.msg


def scenario_hooks(binary, tmp):
    flags = [] if NO_FLAG else ["--min-free-space", "64MiB"]
    c = fc.Cluster(binary, tmp, extra_flags=flags, env={"RANGEKV_TEST_HOOKS": "1"})
    try:
        c.start_all()
        c.wait_all_led()
        expect(call(1, "SET", "a", "1") == "OK", "SET before")
        if http(1, "/api/v1/debug/fault/apply")[0] != 405:  # 405 (POST only) with hooks
            return "the binary has no test hooks (a Release build): skipped"
        for i in c.nodes:
            st, body = http(i, "/api/v1/debug/fault/disk-free?bytes=1MiB", "POST")
            expect(st == 200 and json.loads(body)["no_space"], "node %d: %s %s" % (i, st, body))
        for i in c.nodes:
            r = call(i, "SET", "b", "1")
            expect(is_nospace(r), "SET through node %d while out of space: %r" % (i, r))
            for cmd in (("INCR", "n"), ("MSET", "x", "1", "y", "2"), ("SEQ.NEXT", "s")):
                r = call(i, *cmd)
                expect(is_nospace(r), "%s while out of space: %r" % (cmd[0], r))
            expect(call(i, "GET", "a") == b"1", "GET while out of space")
        print("hooks: the refusal reads %r" % r.msg)
        expect(call(2, "DEL", "a") == 1, "DEL while out of space")
        expect(call(3, "GET", "a") is None, "GET after DEL")
        for i in c.nodes:
            expect(metric(i, "rangekv_no_space") == 1, "node %d rangekv_no_space" % i)
            expect(metric(i, "rangekv_disk_free_bytes") == MiB, "rangekv_disk_free_bytes")
            expect(metric(i, "rangekv_min_free_space_bytes") == 64 * MiB, "min free metric")
            st, body = http(i, "/api/v1/cluster/status")
            s = json.loads(body)
            expect(s["alarms"] == ["NOSPACE"], "node %d alarms %r" % (i, s["alarms"]))
            me = [x for x in s["nodes"] if x["id"] == i][0]
            expect(me["no_space"] is True, "node %d no_space in the status" % i)
        refused = sum(metric(i, "rangekv_writes_refused_no_space_total") for i in c.nodes)
        expect(refused >= 12, "refusals counted: %s" % refused)
        for i in c.nodes:
            st, body = http(i, "/api/v1/debug/fault/disk-free?bytes=1GiB", "POST")
            expect(not json.loads(body)["no_space"], "node %d still out of space" % i)
        for i in c.nodes:
            expect(call(i, "SET", "b", str(i)) == "OK", "SET after space came back")
            expect(call(i, "GET", "b") == str(i).encode(), "GET after space came back")
            expect(metric(i, "rangekv_no_space") == 0, "rangekv_no_space after")
            s = json.loads(http(i, "/api/v1/cluster/status")[1])
            expect(s["alarms"] == [], "alarms after")
        st = c.stop_all()
        expect(all(v == 0 for v in st.values()), "exit statuses %s" % st)
        return None
    finally:
        c.stop_all()


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "mount failed")


def scenario_real(binary, tmp):
    if os.geteuid() != 0:
        return "not root: cannot mount small filesystems; the real-disk part is skipped"
    # WiredTiger's log files are 16 MiB (one and up to two preallocated);
    # after the start, a ballast file leaves each node 8 MiB above the floor
    # and the store's pending writes (which the node counts against the
    # floor), and removing it leaves plenty. Once writes are refused the
    # nodes go on (checkpoints, log files, replication) in what is left:
    # none may fail a write of its store.
    size, floor, room = 320 * MiB, 32 * MiB, 8 * MiB
    mounts = []
    flags = [] if NO_FLAG else ["--min-free-space", "%d" % floor]
    c = fc.Cluster(binary, tmp, extra_flags=flags)
    try:
        for i in c.nodes:
            d = os.path.join(tmp, "n%d" % i)
            why = mount_tmpfs(d, size)
            if why:
                return "cannot mount a tmpfs (%s): the real-disk part is skipped" % why
            mounts.append(d)
        c.start_all()
        c.wait_all_led()
        for i, d in zip(c.nodes, mounts):
            st = os.statvfs(d)
            pending = metric(i, "rangekv_store_pending_bytes")
            expect(pending >= 16 * MiB, "node %d: pending writes %d < a log file" % (i, pending))
            ballast = int(st.f_bavail * st.f_frsize - floor - room - pending)
            expect(ballast > 0, "%s: only %d bytes free after the start" % (d, ballast + floor + room))
            with open(os.path.join(d, "ballast"), "wb") as f:
                while ballast > 0:
                    n = min(ballast, MiB)
                    f.write(b"\0" * n)
                    ballast -= n
        time.sleep(1.5)  # a reading of the nodes' free space
        value = os.urandom(32 * 1024).hex()  # 64 KiB, incompressible
        refused, written, r = None, 0, None
        conn = Conn(fc.client_addr(1), timeout=15)
        deadline = time.monotonic() + 60
        try:
            for k in range(4000):
                if time.monotonic() > deadline or not all(c.up(i) for i in c.nodes):
                    break
                r = conn.call("SET", "k%05d" % k, value)
                if is_nospace(r):
                    refused = k
                    break
                if isinstance(r, Err) and r.kind() in ("TRYAGAIN", "TIMEOUT"):
                    continue
                expect(r == "OK", "SET k%05d: %r" % (k, r))
                written += 1
        except (OSError, EOFError) as e:
            r = "connection lost: %s" % e
        finally:
            conn.close()
        dead = {i: c.procs[i].poll() for i in c.nodes if not c.up(i)}
        expect(not dead, "nodes exited with the disk filling up (node: status) %s after %d "
               "SETs; the last reply %r; node %d's log ends:\n%s" %
               (dead, written, r, min(dead) if dead else 0,
                "".join(c.log_tail(min(dead) if dead else 1, 3))))
        if refused is None:
            errors = []
            for i in c.nodes:
                with open(os.path.join(tmp, "n%d" % i, "log"), errors="replace") as f:
                    errors += ["node %d: %s" % (i, ln.strip()) for ln in f if "ERROR" in ln][:2]
            raise AssertionError("%d SETs of 64 KiB taken, none refused (last reply %r; nodes "
                                 "up: %s); errors logged:\n%s" %
                                 (written, r, [i for i in c.nodes if c.up(i)], "\n".join(errors)))
        print("real: %d SETs of 64 KiB taken, then %r" % (written, r.msg))
        expect(call(2, "GET", "k00000") == value.encode(), "GET while out of space")
        expect(call(3, "DEL", "k00001") == 1, "DEL while out of space")
        time.sleep(2)  # the nodes go on replicating in the room the floor leaves
        dead = [i for i in c.nodes if not c.up(i)]
        expect(not dead, "node(s) %s exited while out of space; node %d's log ends:\n%s" %
               (dead, dead[0] if dead else 0, "".join(c.log_tail(dead[0] if dead else 1, 8))))
        for d in mounts:
            os.remove(os.path.join(d, "ballast"))
        until, r = time.monotonic() + 10, None
        while time.monotonic() < until:
            r = call(1, "SET", "after", "1")
            if r == "OK":
                break
            time.sleep(0.3)
        expect(r == "OK", "writes not taken again after space was freed: %r" % r)
        expect(call(2, "GET", "after") == b"1", "GET after space came back")
        st = c.stop_all()
        expect(all(v == 0 for v in st.values()), "exit statuses %s" % st)
        return None
    finally:
        c.stop_all()
        for d in mounts:
            subprocess.run(["umount", "-l", d], capture_output=True)


def main():
    binary = os.path.abspath([a for a in sys.argv[1:] if not a.startswith("--")][0])
    failed = 0
    for name, fn in (("hooks", scenario_hooks), ("real", scenario_real)):
        tmp = tempfile.mkdtemp(prefix="rk-space-")
        try:
            skip = fn(binary, tmp)
            print("%s: %s" % (name, skip or "ok"))
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print("%s: FAILED: %s" % (name, e))
            traceback.print_exc()
        finally:
            if os.environ.get("RK_KEEP_TMP"):
                print("kept %s" % tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    print("space_test: %d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
