"""Three real rangekv processes on 127.0.0.1-3 for the fault harness, their
HTTP API, and network partitions by packet filter rules.

    c = Cluster("build/src/cli/rangekv", tmpdir)
    c.start_all(); c.wait_all_led()
    c.kill9(2); c.start(2); c.pause(1); c.resume(1)
    with Partitions() as p:          # removes its rules whatever happens
        p.isolate(c, 1, "reject")    # or "drop"
        p.heal()
    clocks = Clocks(tmpdir)          # wall clocks of their own (libfaketime)
    c = Cluster(..., node_env=clocks.env())
    clocks.set(2, 3600)              # node 2's wall clock an hour ahead

Slot i (1-3) is a node that listens on 127.0.0.i: peers on BASE+i, clients (RESP) on BASE+3+i,
HTTP on BASE+6+i. Distinct hosts let a partition cut node pairs apart; the
rules match only the peer ports, so the clients, other clusters on this
machine and the HTTP API are never cut. The node in slot i has node id i
unless node_ids says otherwise (Cluster(..., node_ids={1: 7, 2: 3, 3: 5})
makes every range's replica ids differ from the ids of the nodes they are
on); the methods here speak slots, translating the node ids the API shows.
"""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

# Above the kernel's default ephemeral port range (32768-60999), so that no
# outgoing connection of another test takes one of our ports: the band
# 61000-62999 (63000-64999 holds node_join's, node_decom's, node_rebalance's
# and node_merge_snap's bands), in blocks of 10.
PORTS_LO, PORT_BLOCKS = 61000, 200
_claimed = []


def claim_block(lo, blocks, size):
    """The first port of a block of `size` ports in [lo, lo + blocks *
    size) that this process holds for its life: a lock file per block (an
    exclusive flock, which the kernel drops when the process ends, however
    it ends), tried from a pid-chosen block on. Two tests that claim from
    the same band (ctest -j2 runs them side by side, and node_member_crash
    runs for minutes) then never share a block; a bind probe alone would
    not do, since a test that restarts its nodes leaves their ports free
    for a moment, and a pid-chosen block alone collides whenever two pids
    are equal modulo the number of blocks."""
    start = os.getpid() % blocks
    for k in range(blocks):
        base = lo + ((start + k) % blocks) * size
        f = open(os.path.join(tempfile.gettempdir(), "rangekv-test-ports-%d.lock" % base), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _claimed.append(f)  # kept open (not inherited by the nodes: PEP 446)
        return base
    return lo + start * size


BASE = claim_block(PORTS_LO, PORT_BLOCKS, 10)
RANGES = 16
TICK_MS = 50


def host(i):
    return "127.0.0.%d" % i


def peer_port(i):
    return BASE + i


def client_addr(i):
    return host(i), BASE + 3 + i


def http_addr(i):
    return "%s:%d" % (host(i), BASE + 6 + i)


def unescape(s):
    """A key as the HTTP API prints it (bytes outside printable ASCII as \\xNN)."""
    out, i = bytearray(), 0
    while i < len(s):
        if s.startswith("\\x", i):
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out += s[i].encode()
            i += 1
    return bytes(out)


class Cluster:
    def __init__(self, binary, tmp, extra_flags=(), nodes=(1, 2, 3), env=None,
                 node_ids=None, node_env=None):
        """nodes: the initial cluster's slots (a subset of 1-3); env: extra
        environment variables of the processes started from now on;
        node_ids: {slot: node id} (default: the slot); node_env: {slot:
        extra environment variables of that slot's processes}."""
        self.bin, self.tmp, self.extra = binary, tmp, list(extra_flags)
        self.nodes = tuple(nodes)
        self.ids = {i: (node_ids or {}).get(i, i) for i in (1, 2, 3)}
        self.slot = {v: k for k, v in self.ids.items()}
        self.env = dict(env or {})
        self.node_env = {i: dict(e) for i, e in (node_env or {}).items()}
        self.procs = {}
        self.paused = set()

    # -- processes
    def start(self, i):
        d = os.path.join(self.tmp, "n%d" % i)
        os.makedirs(d, exist_ok=True)
        ic = ",".join("%d=%s:%d" % (self.ids[j], host(j), peer_port(j)) for j in self.nodes)
        args = [self.bin, "start", "--node-id", str(self.ids[i]), "--data", os.path.join(d, "data"),
                "--peer-addr", "%s:%d" % (host(i), peer_port(i)),
                "--client-addr", "%s:%d" % client_addr(i), "--http-addr", http_addr(i),
                "--initial-cluster", ic, "--ranges", str(RANGES),
                "--tick-ms", str(TICK_MS), "--enable-debug-api",
                # replicas are moved by hand here (faults, member calls):
                # the placement leader must not move them too
                "--rebalance", "off"] + self.extra
        with open(os.path.join(d, "log"), "a") as log:
            self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log,
                                             env=dict(os.environ, **self.env,
                                                      **self.node_env.get(i, {})))

    def start_all(self):
        for i in self.nodes:
            self.start(i)

    def up(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def kill9(self, i):
        self.procs[i].kill()
        self.procs[i].wait()
        self.paused.discard(i)

    def pause(self, i):
        self.procs[i].send_signal(signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i):
        self.procs[i].send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def stop_all(self):
        """SIGTERM (after SIGCONT: a stopped process would not act on it);
        kill -9 after 20 s. Returns {node: exit status}."""
        status = {}
        for i, p in self.procs.items():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for i, p in self.procs.items():
            try:
                status[i] = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                status[i] = p.wait()
        self.paused.clear()
        return status

    def finish(self, ok, name):
        """Stops every node (stop_all); ok stays true only if each exited 0.
        Then removes the directory, or (not ok, or RK_KEEP set) keeps it
        and says where. Returns ok."""
        status = self.stop_all()
        if ok and any(v != 0 for v in status.values()):
            print("%s: FAIL: exit statuses %s" % (name, status), flush=True)
            ok = False
        if ok and os.environ.get("RK_KEEP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("%s: logs in %s" % (name, self.tmp), flush=True)
        return ok

    def log_lines(self, i, tag):
        """Node i's log lines (every process it ran) tagged tag ("ERROR")."""
        try:
            with open(os.path.join(self.tmp, "n%d" % i, "log"), errors="replace") as f:
                return [ln.rstrip("\n") for ln in f if tag in ln]
        except OSError:
            return []

    def log_tail(self, i, n=10):
        try:
            with open(os.path.join(self.tmp, "n%d" % i, "log"), errors="replace") as f:
                return f.readlines()[-n:]
        except OSError:
            return []

    # -- the HTTP API
    def ranges(self, i, timeout=1.0):
        """The ranges node i holds a replica of, as it sees them, or None if
        it does not answer. (It lists every range of the cluster; those it
        holds no replica of, or whose replica is behind the placement
        index, have no role there.)"""
        try:
            url = "http://%s/api/v1/ranges?limit=100000" % http_addr(i)
            with urllib.request.urlopen(url, timeout=timeout) as r:
                rs = json.loads(r.read().decode())["ranges"]
                return [x for x in rs if x["role"] is not None]
        except Exception:
            return None

    def spans(self):
        """{range id: (start, end)} as bytes (end b"" is the key space's end)."""
        for i in (1, 2, 3):
            rs = self.ranges(i) if self.up(i) and i not in self.paused else None
            if rs:
                return {r["id"]: (unescape(r["start"]), unescape(r["end"])) for r in rs}
        raise RuntimeError("no node answers /api/v1/ranges")

    def leaders(self, via):
        """{range id: leader slot} as slot `via` sees it, None if unknown."""
        rs = self.ranges(via)
        return None if rs is None else {r["id"]: self.slot.get(r["leader"]) for r in rs}

    def led_by_self(self):
        """{node: [range ids it leads in its own view]} for the live nodes."""
        out = {}
        for i in (1, 2, 3):
            if self.up(i) and i not in self.paused:
                rs = self.ranges(i) or []
                out[i] = [r["id"] for r in rs if r["role"] == "leader"]
        return out

    def busiest_leader(self):
        """The live node that leads the most ranges, and those ranges."""
        led = self.led_by_self()
        node = max(led, key=lambda i: len(led[i]))
        return node, led[node]

    def all_led(self, nodes):
        """Every node in nodes sees every range led by one agreed live node."""
        agreed = {}
        for i in nodes:
            rs = self.ranges(i)
            if rs is None or len(rs) != RANGES:
                return False
            for r in rs:
                ld = self.slot.get(r["leader"])
                if ld is None or not self.up(ld) or ld in self.paused:
                    return False
                if agreed.setdefault(r["id"], ld) != ld:
                    return False
        return True

    def wait_all_led(self, timeout=30.0, nodes=None):
        nodes = nodes or [i for i in self.nodes if self.up(i) and i not in self.paused]
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.all_led(nodes):
                return
            for i, p in self.procs.items():
                # Only the harness kills nodes, with SIGKILL.
                if p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise RuntimeError("node %d exited with status %s:\n%s" %
                                       (i, p.returncode, "".join(self.log_tail(i))))
            time.sleep(0.05)
        raise RuntimeError("not every range led within %.0f s (nodes %s)" % (timeout, nodes))


class Partitions:
    """Packet filter rules (iptables) in a chain of this process's own, jumped
    to from OUTPUT: loopback packets pass OUTPUT once, so one rule per
    direction cuts a pair. The chain is removed on exit, whatever happens."""

    def __init__(self):
        self.chain = "RKFAULT%d" % os.getpid()
        self.ready = False

    @staticmethod
    def _ipt(*args):
        return subprocess.run(["iptables", "-w"] + list(args), capture_output=True, text=True)

    def setup(self):
        """Creates the chain; returns None, or why partitions cannot be made."""
        try:
            r = self._ipt("-N", self.chain)
        except FileNotFoundError:
            return "iptables is not installed (scripts/setup.sh installs it)"
        if r.returncode != 0:
            return "iptables refused: %s" % (r.stderr.strip() or r.returncode)
        r = self._ipt("-I", "OUTPUT", "-o", "lo", "-j", self.chain)
        if r.returncode != 0:
            self._ipt("-X", self.chain)
            return "iptables refused: %s" % (r.stderr.strip() or r.returncode)
        self.ready = True
        return None

    def isolate(self, node, mode):
        """Cuts node's peer traffic from the other two, every rule at once
        (one iptables-restore transaction: a cut made pair by pair would
        leave the node a quorum for a while). mode "drop" loses packets
        silently; "reject" answers each with a TCP reset."""
        action = "DROP" if mode == "drop" else "REJECT --reject-with tcp-reset"
        rules = []
        if mode == "reject":
            # The reset a REJECT sends passes OUTPUT too, with the addresses
            # swapped: without this rule the next ones would drop it, and
            # the connection would hang as under DROP instead of resetting.
            rules.append("-A %s -p tcp --tcp-flags RST RST -j ACCEPT" % self.chain)
        for other in (1, 2, 3):
            if other == node:
                continue
            for a, b in ((node, other), (other, node)):
                rules.append("-A %s -s %s -d %s -p tcp -m multiport --ports %d,%d -j %s" %
                             (self.chain, host(a), host(b), peer_port(node), peer_port(other),
                              action))
        text = "*filter\n%s\nCOMMIT\n" % "\n".join(rules)
        r = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("iptables-restore: %s" % r.stderr.strip())

    def heal(self):
        self._ipt("-F", self.chain)

    def teardown(self):
        if self.ready:
            self._ipt("-D", "OUTPUT", "-o", "lo", "-j", self.chain)
            self._ipt("-F", self.chain)
            self._ipt("-X", self.chain)
            self.ready = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
# How often (s) libfaketime reads a node's offset file again: a jump
# reaches the node within this long.
FAKETIME_REREAD_S = 1


class Clocks:
    """A wall clock of its own for each node: Debian's libfaketime preloaded
    (LD_PRELOAD) with a per-node offset file it reads again every second,
    so the offset of a running node changes when the file does. Only
    CLOCK_REALTIME (and time(), gettimeofday()) is faked:
    FAKETIME_DONT_FAKE_MONOTONIC keeps the monotonic clock, which leases
    and timers measure with and which never steps on a real machine, and
    NO_FAKE_STAT keeps file times as the disk has them.
    FAKETIME_FORCE_MONOTONIC_FIX=0: with glibc 2.36 libfaketime turns its
    "monotonic fix" on by itself, and then a pthread_cond_timedwait on a
    CLOCK_MONOTONIC condition variable (libuv's, WiredTiger's eviction
    threads') returns at once: those threads spin, and the nodes served
    fifty times fewer operations."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.lib = None
        self.offsets = {i: 0 for i in (1, 2, 3)}

    def path(self, i):
        return os.path.join(self.tmp, "clock-n%d" % i)

    @staticmethod
    def find_lib():
        if os.path.exists(FAKETIME_LIB):
            return FAKETIME_LIB
        try:
            out = subprocess.run(["dpkg", "-L", "libfaketime"], capture_output=True,
                                 text=True).stdout
        except OSError:
            return None
        return next((ln for ln in out.split() if ln.endswith("/libfaketime.so.1")), None)

    @staticmethod
    def sanitizer_libs(binary):
        """The AddressSanitizer runtime binary links, if any: it must come
        first in LD_PRELOAD (ASan refuses to start after another preload)."""
        try:
            out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        except OSError:
            return []
        return [ln.split("=>")[1].split()[0] for ln in out.splitlines()
                if "libasan.so" in ln and "=>" in ln]

    def setup(self, binary=None):
        """Finds libfaketime and checks that a process preloading it sees an
        offset written to its file; returns None, or why node clocks cannot
        be faked. binary: the node binary (a sanitized build's runtime is
        preloaded first)."""
        lib = self.find_lib()
        if lib is None:
            return "libfaketime is not installed (scripts/setup.sh installs faketime)"
        probe = os.path.join(self.tmp, "clock-probe")
        with open(probe, "w") as f:
            f.write("+7200\n")
        env = dict(os.environ, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=probe,
                   FAKETIME_DONT_FAKE_MONOTONIC="1", NO_FAKE_STAT="1")
        r = subprocess.run([sys.executable, "-c", "import time; print(time.time())"],
                           env=env, capture_output=True, text=True)
        os.unlink(probe)
        try:
            ahead = float(r.stdout) - time.time()
        except ValueError:
            return "a process preloading %s failed: %s" % (lib, r.stderr.strip()[:200])
        if not 7100 < ahead < 7300:
            return "a process preloading %s is not 2 h ahead (%+.0f s)" % (lib, ahead)
        self.lib = " ".join((self.sanitizer_libs(binary) if binary else []) + [lib])
        for i in (1, 2, 3):
            self.set(i, 0)
        return None

    def env(self):
        """{slot: environment} for Cluster(node_env=...)."""
        return {i: {"LD_PRELOAD": self.lib, "FAKETIME_TIMESTAMP_FILE": self.path(i),
                    "FAKETIME_CACHE_DURATION": str(FAKETIME_REREAD_S),
                    "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1",
                    "FAKETIME_FORCE_MONOTONIC_FIX": "0"}
                for i in (1, 2, 3)}

    def set(self, i, secs):
        """Node i's wall clock secs (an integer) from the machine's, from
        within FAKETIME_REREAD_S on. The file is replaced, never seen half
        written."""
        tmp = self.path(i) + ".new"
        with open(tmp, "w") as f:
            f.write("%+d\n" % secs)
        os.replace(tmp, self.path(i))
        self.offsets[i] = secs
