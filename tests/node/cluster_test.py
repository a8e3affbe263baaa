#!/usr/bin/env python3
"""Three real rangekv processes on 127.0.0.1-3: every range elects a leader,
leaders are spread, garbage on a peer port disturbs nobody, kill -9 of the
node with the most leaders moves its leaderships within a few election
timeouts, the restarted node catches up, a hung node (SIGSTOP) is declared
dead only after the long silence and rejoins, a first start with one node
late elects every range and hands the late node its leaderships, SIGTERM
stops cleanly, and bad flags / ports in use / foreign data directories fail
with one clear line.

    cluster_test.py path/to/rangekv
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN = sys.argv[1]
RANGES = 24
TICK_MS = 50
ELECTION = 10 * TICK_MS / 1000.0  # seconds (randomized up to twice that)
LOG_KEEP = 50
# Each test that picks its own ports has a band of its own, all below the
# kernel's ephemeral ports (32768 on): a client's outgoing connection
# there could take a port a node is about to listen on.
BASE = 21000 + (os.getpid() % 200) * 10  # 21000-23019


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def peer(i):
    return addr(i, 0)


def http(i):
    return addr(i, 2)


CLUSTER = ",".join("%d=%s" % (i, peer(i)) for i in (1, 2, 3))


def fail(msg):
    print("cluster_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def get(i, path, timeout=1.0):
    with urllib.request.urlopen("http://%s%s" % (http(i), path), timeout=timeout) as r:
        body = r.read().decode()
        return json.loads(body) if path != "/metrics" else body


def try_get(i, path):
    try:
        return get(i, path)
    except Exception:
        return None


def start(i, data, extra=()):
    log = open(os.path.join(os.path.dirname(data), "log%d" % i), "a")
    args = [BIN, "start", "--node-id", str(i), "--data", os.path.join(data),
            "--peer-addr", peer(i), "--client-addr", addr(i, 1),
            "--http-addr", http(i), "--initial-cluster", CLUSTER, "--enable-debug-api",
            "--ranges", str(RANGES), "--tick-ms", str(TICK_MS),
            "--log-keep", str(LOG_KEEP), "--rebalance", "off"] + list(extra)
    return subprocess.Popen(args, stdout=log, stderr=log)


def ranges(i):
    r = try_get(i, "/api/v1/ranges?limit=100000")
    return None if r is None else r["ranges"]


def wait(what, cond, timeout, show=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return time.time() - t0, v
        time.sleep(0.02)
    if show is not None:
        show()
    fail("%s: not within %.1f s" % (what, timeout))


def show_ranges(nodes):
    def show():
        for i in nodes:
            for r in ranges(i) or []:
                print("node %d range %d: %s leader %s term %d commit %d applied %d first %d" %
                      (i, r["id"], r["role"], r["leader"], r["term"], r["commit_index"],
                       r["applied_index"], r["first_index"]))
    return show


def all_led(nodes, exclude=None):
    """Every node in nodes sees every range led, by one agreed leader."""
    leaders = {}
    for i in nodes:
        rs = ranges(i)
        if rs is None or len(rs) != RANGES:
            return None
        for r in rs:
            if r["leader"] is None or r["leader"] == exclude:
                return None
            if leaders.setdefault(r["id"], r["leader"]) != r["leader"]:
                return None
    return leaders


def post(i, path):
    req = urllib.request.Request("http://%s%s" % (http(i), path), method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read().decode())


def metric(i, name):
    for line in get(i, "/metrics").splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    fail("no metric %s" % name)


def stop_cleanly(procs):
    """SIGTERM to every node: each must exit 0."""
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for i, p in procs.items():
        rc = p.wait(timeout=20)
        if rc != 0:
            fail("node %d exited %d after SIGTERM" % (i, rc))


def main():
    tmp = tempfile.mkdtemp(prefix="rk-cluster-")
    procs = {}
    try:
        for i in (1, 2, 3):
            os.mkdir(os.path.join(tmp, "n%d" % i))
            procs[i] = start(i, os.path.join(tmp, "n%d" % i, "data"))
        took, leaders = wait("every range elects a leader", lambda: all_led((1, 2, 3)), 20)
        counts = {i: sum(1 for l in leaders.values() if l == i) for i in (1, 2, 3)}
        print("all %d ranges led after %.2f s; leaders per node %s" % (RANGES, took, counts))

        def spread():
            led = all_led((1, 2, 3))
            if led is None:
                return None
            c = {i: sum(1 for l in led.values() if l == i) for i in (1, 2, 3)}
            return c if min(c.values()) == max(c.values()) else None
        took, counts = wait("leaders spread evenly", spread, 30)
        print("leaders spread evenly after %.2f s more: %s" % (took, counts))

        # Idle ranges go to sleep on every node (quiescence), and so does
        # the placement group once the leadership changes of the spread
        # are recorded (its messages count in the figures below).
        def asleep():
            return all(metric(i, "rangekv_ranges_awake") == 0 and
                       metric(i, "rangekv_placement_awake") == 0 for i in (1, 2, 3))
        took, _ = wait("every range quiescent", asleep, 20)
        print("every range asleep on every node after %.2f s more" % took)
        # The heartbeats of the awake ranges travelled coalesced, and once
        # asleep the ranges send none.
        beats = {i: metric(i, "rangekv_raft_heartbeats_coalesced_total") for i in (1, 2, 3)}
        if min(beats.values()) < 1:
            fail("no coalesced heartbeats: %s" % beats)
        # A window counts only if no replica woke in it: none awake at its
        # end and none gone to sleep again during it (a range may wake
        # for a reason of its own, such as the placement group recording
        # the nodes' new leadership counts up to 10 s after the spread).
        # Messages in a window where nothing woke fail the test.
        def figures():
            return {i: (metric(i, "rangekv_raft_messages_sent_total"),
                        metric(i, "rangekv_quiesced_total")) for i in (1, 2, 3)}
        for attempt in range(6):
            wait("every range quiescent again", asleep, 20)
            before = figures()
            time.sleep(10 * TICK_MS / 1000.0)
            after = figures()
            woke = not asleep() or any(after[i][1] != before[i][1] for i in (1, 2, 3))
            if not woke:
                break
            print("a replica woke during the quiet window; once more")
        else:
            fail("no quiet window in 6: replicas kept waking")
        if after != before:
            fail("raft messages while every range sleeps: %s then %s" % (before, after))

        # Garbage into a peer port: that connection is closed and counted,
        # the node goes on.
        s = socket.create_connection(("127.0.0.2", BASE + 2))
        s.sendall(bytes(random.Random(7).getrandbits(8) for _ in range(65536)))
        time.sleep(0.3)
        s.close()
        m = get(2, "/metrics")
        bad = [l for l in m.splitlines() if l.startswith("rangekv_bad_frames_total")]
        if not bad or int(bad[0].split()[1]) < 1:
            fail("garbage was not counted: %s" % bad)
        with open(os.path.join(tmp, "n2", "log2")) as f:
            said = [l for l in f if "peer port: closed a connection from 127.0.0.1:" in l]
        if not said or "a Redis client belongs on --client-addr" not in said[-1]:
            fail("garbage on the peer port was not logged: %r" % said)
        wait("still all led after garbage", lambda: all_led((1, 2, 3)), 5)
        st = get(1, "/api/v1/cluster/status")
        if [n["state"] for n in st["nodes"]] != ["up", "up", "up"]:
            fail("cluster status: %s" % st)

        # kill -9 of the node with the most leaders.
        victim = max(counts, key=lambda i: counts[i])
        others = tuple(i for i in (1, 2, 3) if i != victim)
        before = {r["id"]: (r["leader"], r["term"]) for r in ranges(others[0])}
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        took, led = wait("leaderships move off the killed node",
                         lambda: all_led(others, exclude=victim), 20 * ELECTION,
                         show_ranges(others))
        print("node %d killed (-9): every range led again after %.2f s "
              "(election timeout %.2f-%.2f s)" % (victim, took, ELECTION, 2 * ELECTION))
        if took > 10 * ELECTION:
            fail("failover took %.2f s" % took)
        # The ranges slept: each one the killed node led is elected by one
        # node, the next one in the initial cluster's order, in one term (no
        # split vote, no race between the survivors).
        elector = victim % 3 + 1
        for i in others:
            for r in ranges(i):
                old_leader, old_term = before[r["id"]]
                if old_leader == victim and (r["leader"] != elector or
                                             r["term"] != old_term + 1):
                    fail("range %d on node %d: led by %s at term %d after the kill "
                         "(was node %d at term %d; expected node %d at term %d)" %
                         (r["id"], i, r["leader"], r["term"], victim, old_term,
                          elector, old_term + 1))
        print("every orphaned range elected by node %d in one term" % elector)
        # A replica on the dead node does not keep its range awake.
        took, _ = wait("every range asleep with a node down",
                       lambda: all(metric(i, "rangekv_ranges_awake") == 0 for i in others), 20)
        print("every range asleep on the two live nodes after %.2f s more" % took)

        # Restart: it resumes from its data and catches up.
        procs[victim] = start(victim, os.path.join(tmp, "n%d" % victim, "data"))

        def caught_up():
            mine = ranges(victim)
            ref = {r["id"]: r for r in (ranges(others[0]) or [])}
            if mine is None or len(mine) != RANGES or len(ref) != RANGES:
                return None
            for r in mine:
                o = ref[r["id"]]
                if r["leader"] is None or r["term"] != o["term"] or \
                        r["applied_index"] < o["commit_index"]:
                    return None
            return True
        took, _ = wait("the restarted node catches up", caught_up, 20)
        print("node %d restarted and caught up in %.2f s" % (victim, took))
        took, counts = wait("leaders spread evenly again", spread, 30)
        print("leaders back on node %d after %.2f s: %s" % (victim, took, counts))

        # A node that misses more than the kept log catches up by snapshot.
        procs[victim].send_signal(signal.SIGTERM)
        if procs[victim].wait(timeout=20) != 0:
            fail("SIGTERM: node %d did not exit 0" % victim)
        _, led = wait("leaders off the stopped node", lambda: all_led(others, exclude=victim), 20)
        for rid, lead in led.items():
            r = post(lead, "/api/v1/debug/propose?range=%d&count=%d&size=64" % (rid, 4 * LOG_KEEP))
            if r["proposed"] != 4 * LOG_KEEP:
                fail("propose: %s" % r)

        def compacted():
            rs = ranges(others[0])
            return rs is not None and all(r["first_index"] > 2 * LOG_KEEP for r in rs)
        took, _ = wait("logs compacted past the stopped node", compacted, 30)
        print("%d entries proposed per range; logs compacted in %.2f s" % (4 * LOG_KEEP, took))
        procs[victim] = start(victim, os.path.join(tmp, "n%d" % victim, "data"))
        took, _ = wait("the node catches up by snapshot", caught_up, 30,
                       show_ranges((1, 2, 3)))
        installed = metric(victim, "rangekv_snapshots_installed_total")
        print("node %d caught up by snapshot in %.2f s (%d snapshots installed)" %
              (victim, took, installed))
        if installed < 1:
            fail("no snapshot installed")

        # A hung node (SIGSTOP) keeps its connections open: it is declared
        # dead only after the long silence (40 liveness rounds, 2 s here),
        # not after the 3 rounds that a closed connection takes; then the
        # ranges it led are led again. Resumed, it rejoins.
        wait("leaders spread evenly again", spread, 30)
        wait("every range quiescent again", asleep, 20)
        led = all_led((1, 2, 3))
        hung = max((1, 2, 3), key=lambda i: sum(1 for l in led.values() if l == i))
        rest = tuple(i for i in (1, 2, 3) if i != hung)
        procs[hung].send_signal(signal.SIGSTOP)
        try:
            took, _ = wait("leaderships move off the hung node",
                           lambda: all_led(rest, exclude=hung), 20 * ELECTION,
                           show_ranges(rest))
        finally:
            procs[hung].send_signal(signal.SIGCONT)
        print("node %d hung (SIGSTOP): every range led again after %.2f s" % (hung, took))
        if took < 40 * TICK_MS / 1000.0 * 0.75:
            fail("a hung node with open connections was declared dead after %.2f s "
                 "(the long timeout is 40 rounds)" % took)
        took, _ = wait("the resumed node rejoins", lambda: all_led((1, 2, 3)), 30,
                       show_ranges((1, 2, 3)))
        took, counts = wait("leaders spread evenly after the hang", spread, 30)
        print("node %d resumed (SIGCONT): leaders spread again after %.2f s: %s" %
              (hung, took, counts))

        # A second instance on the same data directory or ports.
        p = subprocess.run([BIN, "start", "--node-id", str(victim), "--data",
                            os.path.join(tmp, "n%d" % victim, "data"),
                            "--peer-addr", "127.0.0.9:%d" % (BASE + 9),
                            "--http-addr", "127.0.0.9:%d" % (BASE + 8),
                            "--initial-cluster", "%d=127.0.0.9:%d" % (victim, BASE + 9)],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 1 or "in use by another process" not in p.stderr:
            fail("second instance on one data dir: rc %d, %r" % (p.returncode, p.stderr))
        other_dir = tempfile.mkdtemp(dir=tmp)
        p = subprocess.run([BIN, "start", "--node-id", "5", "--data", other_dir,
                            "--peer-addr", peer(1), "--http-addr", "127.0.0.9:%d" % (BASE + 7),
                            "--initial-cluster", "5=%s" % peer(1)],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 1 or "address already in use" not in p.stderr:
            fail("port in use: rc %d, %r" % (p.returncode, p.stderr))
        p = subprocess.run([BIN, "start", "--node-id", "x"], capture_output=True,
                           text=True, timeout=20)
        if p.returncode != 2 or len(p.stderr.strip().splitlines()) != 1:
            fail("bad flag: rc %d, %r" % (p.returncode, p.stderr))
        # Another node's data directory.
        p = subprocess.run([BIN, "start", "--node-id", "7", "--data",
                            os.path.join(tmp, "n%d" % others[0], "data"),
                            "--peer-addr", "127.0.0.9:%d" % (BASE + 6),
                            "--http-addr", "127.0.0.9:%d" % (BASE + 5),
                            "--initial-cluster", "7=127.0.0.9:%d" % (BASE + 6)],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 1:
            fail("foreign data dir accepted: rc %d, %r" % (p.returncode, p.stderr))
        # Without --enable-debug-api the debug endpoints do not exist.
        lone_http = "127.0.0.9:%d" % (BASE + 3)
        lone = subprocess.Popen([BIN, "start", "--node-id", "9", "--data",
                                 tempfile.mkdtemp(dir=tmp), "--peer-addr",
                                 "127.0.0.9:%d" % (BASE + 4), "--http-addr", lone_http,
                                 "--initial-cluster", "9=127.0.0.9:%d" % (BASE + 4),
                                 "--ranges", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            status = None
            t0 = time.time()
            while status is None and time.time() - t0 < 10:
                req = urllib.request.Request("http://%s/api/v1/debug/drop-answers?percent=100"
                                             % lone_http, method="POST", data=b"")
                try:
                    urllib.request.urlopen(req, timeout=1)
                    status = 200
                except urllib.error.HTTPError as e:
                    status = e.code
                except OSError:
                    time.sleep(0.1)
            if status != 404:
                fail("debug API without --enable-debug-api: HTTP %r, want 404" % status)
        finally:
            lone.send_signal(signal.SIGTERM)
            lone.wait(timeout=20)
        print("without --enable-debug-api: /api/v1/debug/* answers 404")

        # First-start flags that conflict with what the directory recorded.
        procs[victim].send_signal(signal.SIGTERM)
        if procs[victim].wait(timeout=20) != 0:
            fail("SIGTERM: node %d did not exit 0" % victim)
        for extra in (["--ranges", str(RANGES + 1)], ["--split-at", "a,b"], ["--replicas", "2"]):
            p = subprocess.run([BIN, "start", "--node-id", str(victim), "--data",
                                os.path.join(tmp, "n%d" % victim, "data"),
                                "--peer-addr", peer(victim), "--http-addr", http(victim),
                                "--initial-cluster", CLUSTER] + extra,
                               capture_output=True, text=True, timeout=20)
            if p.returncode != 1 or "does not match the first start" not in p.stderr or \
                    "remove it to start anew" not in p.stderr:
                fail("conflicting %s accepted: rc %d, %r" % (extra, p.returncode, p.stderr))
        # A restart at another peer address: the others know it at its first.
        moved = "127.0.0.%d:%s" % (victim + 10, peer(victim).rsplit(":", 1)[1])
        p = subprocess.run([BIN, "start", "--node-id", str(victim), "--data",
                            os.path.join(tmp, "n%d" % victim, "data"),
                            "--peer-addr", moved, "--http-addr", http(victim)],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 1 or "is not this node's address in the cluster" not in p.stderr \
                or peer(victim) not in p.stderr:
            fail("a restart at another --peer-addr: rc %d, %r" % (p.returncode, p.stderr))
        print("a restart with conflicting first-start flags or another --peer-addr is refused")
        # A first start that could not listen still fixed its flags: the
        # refusal of other flags says how to start with others.
        fresh = os.path.join(tmp, "n%d" % victim, "fresh")
        with socket.socket() as busy:
            busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            host, port = addr(victim, 1).rsplit(":", 1)
            busy.bind((host, int(port)))
            busy.listen()
            p = subprocess.run([BIN, "start", "--node-id", str(victim), "--data", fresh,
                                "--peer-addr", peer(victim), "--http-addr", http(victim),
                                "--client-addr", addr(victim, 1),
                                "--initial-cluster", CLUSTER, "--ranges", "8"],
                               capture_output=True, text=True, timeout=20)
        if p.returncode != 1:
            fail("a first start on a busy --client-addr: rc %d, %r" % (p.returncode, p.stderr))
        p = subprocess.run([BIN, "start", "--node-id", str(victim), "--data", fresh,
                            "--peer-addr", peer(victim), "--http-addr", http(victim),
                            "--client-addr", addr(victim, 1),
                            "--initial-cluster", CLUSTER, "--ranges", "9"],
                           capture_output=True, text=True, timeout=20)
        if os.path.exists(fresh) and (p.returncode != 1 or
                                      "remove it to start anew" not in p.stderr):
            fail("other flags after an incomplete first start: rc %d, %r" %
                 (p.returncode, p.stderr))
        procs[victim] = start(victim, os.path.join(tmp, "n%d" % victim, "data"))
        wait("all led after the restart", lambda: all_led((1, 2, 3)), 20)

        # SIGTERM: a clean stop, status 0.
        stop_cleanly(procs)

        # A first start with one node late: the other two elect every range
        # (the late node's by the next node in the initial order), and the
        # ranges sleep with a replica left behind; the late node then joins,
        # catches up and gets its leaderships back.
        for i in (1, 2, 3):
            os.mkdir(os.path.join(tmp, "f%d" % i))
        for i in (1, 2):
            procs[i] = start(i, os.path.join(tmp, "f%d" % i, "data"))
        took, led = wait("two fresh nodes of three elect every range",
                         lambda: all_led((1, 2)), 20, show_ranges((1, 2)))
        print("first start without node 3: every range led after %.2f s" % took)
        took, _ = wait("every range asleep without node 3",
                       lambda: all(metric(i, "rangekv_ranges_awake") == 0 for i in (1, 2)), 20)
        procs[3] = start(3, os.path.join(tmp, "f3", "data"))
        took, counts = wait("node 3 joins late and leads its ranges", spread, 30,
                            show_ranges((1, 2, 3)))
        print("node 3 started late: leaders spread after %.2f s: %s" % (took, counts))
        stop_cleanly(procs)
        print("cluster_test: passed")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("RK_KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)


if __name__ == "__main__":
    main()
