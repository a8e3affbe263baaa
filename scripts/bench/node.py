#!/usr/bin/env python3
"""Node runtime benchmarks on this machine: three rangekv processes on
127.0.0.1-3 (every range on all three).

  node.py BIN idle RANGES [SECONDS] [SETTLE]
                                      CPU, messages/s (per 10,000 ranges too), RSS per
                                      replica, the placement driver's walks, time to elect;
                                      the window of SECONDS (10) begins SETTLE seconds (2)
                                      after every range sleeps: with the default, it holds
                                      the nodes' first full reports of range figures; from
                                      SETTLE 90 on, the steady state (a full report every
                                      5 minutes, so a window of 300 holds one)
  node.py BIN start RANGES [LED_S]    first start and restart of the whole cluster:
                                      until every node's HTTP port answers (its data
                                      directory written or loaded), and every range led
  node.py BIN failover RANGES KILLS   longest time any range is without a leader
  node.py BIN failover-writes RANGES KILLS
                                      longest time a key cannot be written, with
                                      every range written to while its leader dies
  node.py BIN throughput RANGES N     proposals/s replicated 3 ways and durable

Prints one line per figure; nothing passes or fails on a timing.
"""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = sys.argv[1]
BASE = 24000
TICK_MS = int(os.environ.get("RK_TICK_MS", "50"))


def peer(i):
    return "127.0.0.%d:%d" % (i, BASE + i)


def http(i):
    return "127.0.0.%d:%d" % (i, BASE + 20 + i)


CLUSTER = ",".join("%d=%s" % (i, peer(i)) for i in (1, 2, 3))


def get(i, path, timeout=5.0):
    with urllib.request.urlopen("http://%s%s" % (http(i), path), timeout=timeout) as r:
        b = r.read().decode()
        return b if path == "/metrics" else json.loads(b)


def post(i, path):
    req = urllib.request.Request("http://%s%s" % (http(i), path), method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read().decode())


def ranges(i):
    try:
        return get(i, "/api/v1/ranges?limit=100000")["ranges"]
    except Exception:
        return None


def metric(i, name):
    for line in get(i, "/metrics").splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


# The counters the idle window differences: name (a family's series
# summed over its labels) or (name, label) for one series.
COUNTERS = {
    "raft": "rangekv_raft_messages_sent_total",
    "frames": "rangekv_peer_frames_sent_total",
    "bytes": "rangekv_peer_bytes_sent_total",
    "beats": "rangekv_node_heartbeats_sent_total",
    "figs": "rangekv_range_figures_sent_total",
    "passes": "rangekv_placement_driver_passes_total",
    "reads": "rangekv_placement_driver_index_reads_total",
    "fill": ("rangekv_placement_driver_walks_total", 'walk="fill"'),
    "tally": ("rangekv_placement_driver_walks_total", 'walk="tally"'),
    "look": ("rangekv_placement_driver_walks_total", 'walk="look"'),
    "merge": ("rangekv_placement_driver_walks_total", 'walk="merge"'),
}


def counters(i):
    """The COUNTERS of node i from one read of its /metrics (0 for a
    series it does not show)."""
    out = {k: 0.0 for k in COUNTERS}
    for line in get(i, "/metrics").splitlines():
        if line.startswith("#"):
            continue
        name, _, rest = line.partition("{")
        if not rest:
            name = line.split()[0]
        for k, what in COUNTERS.items():
            if isinstance(what, tuple):
                if name == what[0] and rest.startswith(what[1]):
                    out[k] = float(line.split()[-1])
            elif name == what:
                out[k] += float(line.split()[-1])
    return out


class Cluster:
    def __init__(self, nranges):
        self.tmp = tempfile.mkdtemp(prefix="rk-bench-")
        self.nranges = nranges
        self.procs = {}

    def start(self, i):
        log = open(os.path.join(self.tmp, "log%d" % i), "a")
        self.procs[i] = subprocess.Popen(
            [BIN, "start", "--node-id", str(i), "--data", os.path.join(self.tmp, "d%d" % i),
             "--peer-addr", peer(i), "--client-addr", "127.0.0.%d:%d" % (i, BASE + 10 + i),
             "--http-addr", http(i), "--initial-cluster", CLUSTER, "--enable-debug-api",
             "--ranges", str(self.nranges), "--tick-ms", str(TICK_MS)],
            stdout=log, stderr=log)

    def leaders(self, nodes, exclude=None):
        seen = {}
        for i in nodes:
            rs = ranges(i)
            if rs is None or len(rs) != self.nranges:
                return None
            for r in rs:
                if r["leader"] is None or r["leader"] == exclude:
                    return None
                seen[r["id"]] = r["leader"]
        return seen

    def wait_led(self, nodes=(1, 2, 3), exclude=None, timeout=300):
        t0 = time.time()
        # Many ranges: watch the cheap leaderless gauge first (a page of
        # every range's status is heavy for the node to build), then check
        # the ranges themselves once.
        # The time is taken when the gauge first shows every range led
        # (polled every 0.1 s); the listing then confirms it.
        t_gauge = None
        while self.nranges > 10000 and time.time() - t0 < timeout:
            try:
                if all(metric(i, "rangekv_ranges_leaderless") == 0 and
                       metric(i, "rangekv_ranges") == self.nranges for i in nodes):
                    t_gauge = time.time()
                    break
            except OSError:
                pass
            time.sleep(0.1)
        while time.time() - t0 < timeout:
            led = self.leaders(nodes, exclude)
            if led is not None:
                return (t_gauge or time.time()) - t0, led
            time.sleep(0.05 if self.nranges <= 10000 else 1.0)
        raise SystemExit("not every range got a leader within %d s" % timeout)

    def wait_spread(self, timeout=60):
        """Waits (up to timeout s) until leaders are spread a third per
        node; returns the leaders and each node's count."""
        t0 = time.time()
        led, counts = {}, {1: 0, 2: 0, 3: 0}
        while time.time() - t0 < timeout:
            led = self.leaders((1, 2, 3)) or {}
            counts = {i: sum(1 for l in led.values() if l == i) for i in (1, 2, 3)}
            if led and max(counts.values()) - min(counts.values()) <= 1:
                break
            time.sleep(0.2)
        return led, counts

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def idle(nranges, seconds, settle=2):
    c = Cluster(nranges)
    try:
        t0 = time.time()
        for i in (1, 2, 3):
            c.start(i)
        took, _ = c.wait_led()
        print("idle %d ranges x 3 nodes: every range led %.1f s after start" % (nranges, took))
        # Wait (up to 5 minutes) until the ranges are asleep.
        t1 = time.time()
        while time.time() - t1 < 300:
            awake = sum(metric(i, "rangekv_ranges_awake") for i in (1, 2, 3))
            if awake == 0:
                break
            time.sleep(1)
        print("  quiescent (%d replicas awake) %.1f s after start; the window: %d s, "
              "%d s from now" % (awake, time.time() - t0, seconds, settle), flush=True)
        time.sleep(settle)
        cpu0 = {i: cpu_seconds(c.procs[i].pid) for i in (1, 2, 3)}
        m0 = {i: counters(i) for i in (1, 2, 3)}
        time.sleep(seconds)
        per10k = nranges / 10000.0
        for i in (1, 2, 3):
            cpu = (cpu_seconds(c.procs[i].pid) - cpu0[i]) / seconds * 100
            m = counters(i)
            d = {k: (m[k] - m0[i][k]) / seconds for k in m}
            rss = rss_bytes(c.procs[i].pid)
            print("  node %d: CPU %.1f%% of a core, %.0f raft messages/s, %.0f bytes/s sent, "
                  "RSS %.1f MiB = %.0f bytes per replica" %
                  (i, cpu, d["raft"], d["bytes"], rss / 2**20, rss / nranges))
            print("    messages sent/s: %.1f frames (%.2f per 10,000 ranges), %.1f raft, "
                  "%.1f placement heartbeats, %.1f range figures" %
                  (d["frames"], d["frames"] / per10k, d["raft"], d["beats"], d["figs"]))
            if m["passes"] > 0:
                print("    placement driver: %.2f passes/s, %.3f index reads/s, walks of "
                      "every range /s: fill %.3f, tally %.3f, look %.3f, merge %.3f" %
                      (d["passes"], d["reads"], d["fill"], d["tally"], d["look"],
                       d["merge"]))
        # Restart one node and time until it serves (all its ranges led).
        c.procs[3].send_signal(signal.SIGTERM)
        c.procs[3].wait()
        t0 = time.time()
        c.start(3)
        took, _ = c.wait_led(nodes=(3,))
        print("  restart of node 3 with %d ranges: serving (every range led) after %.2f s" %
              (nranges, took))
    finally:
        c.stop()


def wait_http(nodes=(1, 2, 3), timeout=300):
    """Seconds until every node of nodes answers its cluster status (the
    HTTP port opens once the data directory is written or loaded)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            for i in nodes:
                get(i, "/api/v1/cluster/status", timeout=1)
            return time.time() - t0
        except OSError:
            time.sleep(0.02)
    raise SystemExit("a node did not open its HTTP port within %d s" % timeout)


def start(nranges, led_timeout=60):
    c = Cluster(nranges)
    try:
        for what in ("first start", "restart"):
            for i in (1, 2, 3):
                c.start(i)
            up = wait_http()
            print("%s of 3 nodes, %d ranges: HTTP up (directory written or loaded) "
                  "after %.2f s" % (what, nranges, up), flush=True)
            try:
                took, _ = c.wait_led(timeout=led_timeout)  # from the HTTP ports up
                print("  every range led %.2f s after the start" % (up + took), flush=True)
            except SystemExit as e:
                print("  %s" % e, flush=True)
            for p in c.procs.values():
                p.send_signal(signal.SIGTERM)
            for p in c.procs.values():
                p.wait(timeout=120)
    finally:
        c.stop()


def failover(nranges, kills):
    c = Cluster(nranges)
    worst = []
    try:
        for i in (1, 2, 3):
            c.start(i)
        c.wait_led()
        for k in range(kills):
            # Wait until leaders are spread (a third each), then kill the
            # node with the most.
            led, counts = c.wait_spread()
            # An idle cluster: wait (up to 20 s) for the ranges to sleep.
            t1 = time.time()
            while time.time() - t1 < 20 and \
                    sum(metric(i, "rangekv_ranges_awake") for i in (1, 2, 3)) > 0:
                time.sleep(0.2)
            awake = sum(metric(i, "rangekv_ranges_awake") for i in (1, 2, 3))
            victim = max(counts, key=lambda i: counts[i])
            mine = {rid for rid, l in led.items() if l == victim}
            others = [i for i in (1, 2, 3) if i != victim]
            c.procs[victim].send_signal(signal.SIGKILL)
            t_kill = time.time()
            c.procs[victim].wait()
            back = {}
            while len(back) < len(mine) and time.time() - t_kill < 60:
                for i in others:
                    for r in ranges(i) or []:
                        if r["id"] in mine and r["id"] not in back and \
                                r["leader"] not in (None, victim):
                            back[r["id"]] = time.time() - t_kill
                time.sleep(0.01)
            w = max(back.values()) if back else float("inf")
            worst.append(w)
            print("  kill %d: node %d held %d leaders (%d replicas awake at the kill); all re-led, "
                  "the last after %.2f s" % (k + 1, victim, len(mine), awake, w))
            c.start(victim)
            c.wait_led()
        print("failover %d ranges, %d kills (tick %d ms, election %d-%d ms): longest leaderless "
              "%.2f s, median of the kills %.2f s" %
              (nranges, kills, TICK_MS, 10 * TICK_MS, 20 * TICK_MS, max(worst),
               sorted(worst)[len(worst) // 2]))
    finally:
        c.stop()


def range_key(i, n):
    """A key inside range i of n (1-based) of the --ranges cut: its start
    boundary as 8 big-endian bytes, plus one."""
    return ((((i - 1) << 64) // n) + 1).to_bytes(8, "big")


async def writer(node, key, stop, done):
    """SETs key through node's client port, one at a time, and records when
    each write was acknowledged; reconnects if the connection drops."""
    cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(key), key)
    while not stop.is_set():
        try:
            rd, wr = await asyncio.open_connection("127.0.0.%d" % node, BASE + 10 + node)
            while not stop.is_set():
                wr.write(cmd)
                line = await rd.readline()
                if not line:
                    break
                if line.startswith(b"+OK"):
                    done.append(time.monotonic())
            wr.close()
        except OSError:
            await asyncio.sleep(0.05)


async def write_through_kill(c, victim, nranges, before, after):
    """Writes every range's key through the other two nodes; kills the
    victim `before` s in, stops `after` s later. Returns the kill time and
    each range's acknowledgement times."""
    others = [i for i in (1, 2, 3) if i != victim]
    stop = asyncio.Event()
    acks = {i: [] for i in range(1, nranges + 1)}
    tasks = [asyncio.ensure_future(writer(others[i % 2], range_key(i, nranges), stop, acks[i]))
             for i in range(1, nranges + 1)]
    await asyncio.sleep(before)
    # Who leads what right before the kill (leaderships may have moved
    # while the writers warmed up).
    # (In a thread: the writers keep running and timing their answers.)
    led = None
    for _ in range(20):
        led = await asyncio.get_running_loop().run_in_executor(None, c.leaders, (1, 2, 3))
        if led:
            break
        await asyncio.sleep(0.1)
    led = led or {}
    c.procs[victim].send_signal(signal.SIGKILL)
    t_kill = time.monotonic()
    await asyncio.sleep(after)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    return t_kill, acks, {rid for rid, l in led.items() if l == victim}


def failover_writes(nranges, kills):
    """With a writer on every range (each SET waits for the one before),
    the node with the most leaders is killed; a range's unavailability is
    the longest gap between two acknowledged writes from a second before
    the kill to 6 s after it."""
    c = Cluster(nranges)
    worst = []
    try:
        for i in (1, 2, 3):
            c.start(i)
        c.wait_led()
        for k in range(kills):
            _, counts = c.wait_spread()
            victim = max(counts, key=lambda i: counts[i])
            t_kill, acks, mine = asyncio.run(write_through_kill(c, victim, nranges, 3.0, 6.0))
            gaps = []
            for rid in mine:
                # The longest wait between two acknowledgements from a
                # second before the kill to the end (an answer the leader
                # sent just before dying may arrive after the kill).
                ts = [t_kill - 1.0] + [t for t in acks[rid] if t > t_kill - 1.0] + [t_kill + 6.0]
                gaps.append(max(b - a for a, b in zip(ts, ts[1:])))
            if not gaps:
                print("  kill %d: no leader listing before the kill; not counted" % (k + 1))
                c.procs[victim].wait()
                c.start(victim)
                c.wait_led()
                continue
            w = max(gaps)
            c.procs[victim].wait()
            writes = sum(len(v) for v in acks.values())
            worst.append(w)
            print("  kill %d: node %d led %d of the written ranges; %d writes acknowledged in 9 s; "
                  "longest a key of theirs could not be written: %.2f s (median %.2f s)" %
                  (k + 1, victim, len(mine), writes, w, sorted(gaps)[len(gaps) // 2]))
            c.start(victim)
            c.wait_led()
        print("failover-writes %d ranges, %d kills (tick %d ms, election %d-%d ms): longest a key "
              "could not be written %.2f s, median of the kills %.2f s" %
              (nranges, kills, TICK_MS, 10 * TICK_MS, 20 * TICK_MS, max(worst),
               sorted(worst)[len(worst) // 2]))
    finally:
        c.stop()


def throughput(nranges, per_range):
    c = Cluster(nranges)
    try:
        for i in (1, 2, 3):
            c.start(i)
        _, led = c.wait_led()
        time.sleep(2)
        led = c.leaders((1, 2, 3))
        start = {r["id"]: r["commit_index"] for r in ranges(1)}
        t0 = time.time()
        sent = 0
        batch = 500
        left = {rid: per_range for rid in led}
        # Proposals beyond a leader's uncommitted budget are refused (503):
        # those ranges are offered their rest again on the next round.
        while any(left.values()) and time.time() - t0 < 300:
            progress = False
            for rid, l in led.items():
                if left[rid] == 0:
                    continue
                try:
                    got = post(l, "/api/v1/debug/propose?range=%d&count=%d&size=144" %
                               (rid, min(batch, left[rid])))["proposed"]
                except Exception:
                    got = 0
                left[rid] -= got
                sent += got
                progress |= got > 0
            if not progress:
                time.sleep(0.002)
        target = {rid: start[rid] + per_range for rid in led}
        while time.time() - t0 < 300:
            done = True
            for i in (1, 2, 3):
                for r in ranges(i) or []:
                    if r["applied_index"] < target[r["id"]]:
                        done = False
            if done:
                break
            time.sleep(0.05)
        took = time.time() - t0
        print("throughput %d ranges: %d proposals of 144 bytes committed and applied on all three "
              "nodes in %.2f s = %.0f proposals/s (group commits: %s)" %
              (nranges, sent, took, sent / took,
               ", ".join("node %d %d" % (i, metric(i, "rangekv_fsyncs_total")) for i in (1, 2, 3))))
    finally:
        c.stop()


if __name__ == "__main__":
    what = sys.argv[2]
    if what == "idle":
        idle(int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 10,
             float(sys.argv[5]) if len(sys.argv) > 5 else 2)
    elif what == "start":
        start(int(sys.argv[3]), float(sys.argv[4]) if len(sys.argv) > 4 else 60)
    elif what == "failover":
        failover(int(sys.argv[3]), int(sys.argv[4]))
    elif what == "failover-writes":
        failover_writes(int(sys.argv[3]), int(sys.argv[4]))
    elif what == "throughput":
        throughput(int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
