#!/usr/bin/env python3
"""The client port (--client-addr) against the outside contract (RESP2, see
docs/contract.md), on three real rangekv processes
on 127.0.0.1-3 with 16 ranges.

    client_test.py path/to/rangekv

Every check is a named function; a failing one prints what broke, the
others still run, and the run ends with "client_test: N passed, N failed".
Set RK_KEEP_TMP=1 to keep the data directories and node logs.

Checks of commands that Redis also has can be run against a redis-server to
validate the test itself (hidden flag; the server is started by the caller,
and FLUSHALLed first: the checks expect an empty store, as in a new cluster):

    redis-server --save '' --appendonly no --port 6400 &
    client_test.py --redis-port 6400

--only NAME,NAME runs only the named checks (hidden flag, for debugging).

Only the standard library: raw sockets and a small RESP encoder/reader below.
"""
import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

RANGES = 16                 # boundary i is the one-byte key bytes([16 * i])
TICK_MS = 50
REPLY_TIMEOUT = 15.0        # > --request-timeout (5 s) with slack
RETRY_FOR = 10.0            # how long TRYAGAIN / TIMEOUT is retried
BASE = 12000 + (os.getpid() % 800) * 10   # not where node_cluster's ports are
MAX_KEY = 4096
MAX_VALUE = 1024 * 1024
I64_MAX = 2 ** 63 - 1
I64_MIN = -2 ** 63


# ---- RESP2 -------------------------------------------------------------------

class Simple(str):
    """A simple-string reply (+OK): a str, so it compares to "OK"; bulk
    replies are bytes, so PING's +PONG and PING msg's bulk differ."""


class Err:
    """An error reply (-ERR ...). Returned, not raised: many checks expect one."""

    def __init__(self, msg):
        self.msg = msg

    def kind(self):
        return self.msg.split(" ", 1)[0]

    def __repr__(self):
        return "Err(%r)" % self.msg


class _Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "<%s>" % self.name


# What read_or_closed() returns when the server closed the connection: a
# clean close (FIN), or a reset (RST: the server closed with our bytes still
# unread, which may also discard a reply it sent just before).
CLOSED = _Sentinel("connection closed")
RESET = _Sentinel("connection reset")


def arg_bytes(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    return str(a).encode()


def encode(*args):
    """A command as clients send it: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = arg_bytes(a)
        out.append(b"$%d\r\n" % len(b))
        out.append(b)
        out.append(b"\r\n")
    return b"".join(out)


class ProtocolViolation(Exception):
    pass


class Conn:
    """One client connection with a buffered RESP2 reply reader."""

    def __init__(self, addr, timeout=REPLY_TIMEOUT):
        self.addr = addr
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending
    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, *args):
        self.sock.sendall(encode(*args))

    def call(self, *args):
        self.send(*args)
        return self.read()

    # -- reading
    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        if self.buf[n:n + 2] != b"\r\n":
            raise ProtocolViolation("bulk of %d bytes not followed by CRLF" % n)
        del self.buf[:n + 2]
        return data

    def read(self):
        """One reply: Simple, Err, int, bytes, None (nil) or list."""
        line = self._line()
        if not line:
            raise ProtocolViolation("empty reply line")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return Simple(rest.decode("latin-1"))
        if t == b"-":
            return Err(rest.decode("latin-1"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ProtocolViolation("bad reply type byte in %r" % line[:40])

    def read_or_closed(self):
        """A reply, or CLOSED / RESET if the server closed first."""
        try:
            return self.read()
        except EOFError:
            return CLOSED
        except (ConnectionResetError, BrokenPipeError):
            return RESET

    def closed_by_server(self, timeout=5.0):
        """True once the server has closed (EOF or reset) with nothing more
        to say; False if it is still open after timeout; a reply arriving
        instead is a failure."""
        self.sock.settimeout(timeout)
        try:
            if self.buf:
                raise CheckFailed("unexpected bytes before close: %r" % bytes(self.buf[:60]))
            chunk = self.sock.recv(4096)
            if chunk:
                raise CheckFailed("unexpected bytes before close: %r" % chunk[:60])
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(REPLY_TIMEOUT)

    def nothing_pending(self, wait=0.3):
        """True if no reply bytes arrive within wait seconds."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(4096)
            self.buf += chunk
            return False
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            return False   # closed: the next read says so
        finally:
            self.sock.settimeout(REPLY_TIMEOUT)


# ---- check helpers -----------------------------------------------------------

class CheckFailed(Exception):
    pass


def expect(cond, what, *got):
    if not cond:
        raise CheckFailed(what + ("" if not got else ": got " + ", ".join(
            short(g) for g in got)))


def short(v, n=120):
    r = repr(v)
    return r if len(r) <= n else r[:n] + "...(%d chars)" % len(r)


def expect_eq(got, want, what):
    expect(got == want, "%s: want %s" % (what, short(want)), got)


def expect_err(reply, what):
    expect(isinstance(reply, Err) and reply.kind() == "ERR",
           "%s: want an -ERR reply" % what, reply)


def expect_ok(reply, what):
    expect_eq(reply, "OK", what)


def expect_pong(c, what):
    """The connection still answers (after an error, a malformed request...)."""
    r = c.call("PING")
    expect(isinstance(r, Simple) and r == "PONG",
           "%s: connection unusable afterwards (PING)" % what, r)


def is_retryable(r):
    return isinstance(r, Err) and r.kind() in ("TRYAGAIN", "TIMEOUT")


def range_key(r, tag):
    """A key in range r (0..15): ranges cut the key space uniformly by the
    first 8 bytes, so with 16 ranges the first byte's high nibble is the range."""
    return bytes([r * 16 + 5]) + tag


# ---- the system under test ---------------------------------------------------

class Target:
    """Where checks connect: three rangekv nodes, or one redis-server that
    stands in for all three."""

    def __init__(self, addrs, is_redis):
        self.addrs = addrs          # node id -> (host, port)
        self.is_redis = is_redis

    def conn(self, node=1):
        return Conn(self.addrs[node])


class Cluster:
    """Three rangekv processes (as tests/node/cluster_test.py starts them).
    A subclass may change the ranges, the ports (addr) and add flags."""

    n_ranges = RANGES

    def extra_args(self, i):
        return []

    def __init__(self, binary, tmp):
        self.bin = binary
        self.tmp = tmp
        self.procs = {}
        self.stopped = set()    # nodes the test itself killed or stopped

    base = BASE

    @classmethod
    def addr(cls, i, kind):   # kind 0 peer, 1 client, 2 http
        return "127.0.0.%d:%d" % (i, cls.base + kind * 3 + i)

    @classmethod
    def client_addr(cls, i):
        host, port = cls.addr(i, 1).split(":")
        return host, int(port)

    def start(self, i):
        d = os.path.join(self.tmp, "n%d" % i)
        os.makedirs(d, exist_ok=True)
        log = open(os.path.join(d, "log"), "a")
        cluster = ",".join("%d=%s" % (j, self.addr(j, 0)) for j in (1, 2, 3))
        args = [self.bin, "start", "--node-id", str(i), "--data", os.path.join(d, "data"),
                "--peer-addr", self.addr(i, 0), "--client-addr", self.addr(i, 1),
                "--http-addr", self.addr(i, 2), "--initial-cluster", cluster, "--enable-debug-api",
                "--ranges", str(self.n_ranges), "--tick-ms", str(TICK_MS),
                "--rebalance", "off"] + self.extra_args(i)
        self.procs[i] = subprocess.Popen(args, stdout=log, stderr=log)
        self.stopped.discard(i)
        log.close()

    def kill9(self, i):
        self.stopped.add(i)
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def dead(self):
        """Nodes that exited although nobody stopped them."""
        return [i for i, p in self.procs.items()
                if i not in self.stopped and p.poll() is not None]

    def stop_all(self):
        """SIGTERM to every node; returns {node: exit status} (-9 for a node
        that had to be killed after 20 s)."""
        self.stopped.update(self.procs)
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        status = {}
        for i, p in self.procs.items():
            try:
                status[i] = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                status[i] = -9
        return status

    def log_tail(self, i, n=15):
        try:
            with open(os.path.join(self.tmp, "n%d" % i, "log"), errors="replace") as f:
                return f.readlines()[-n:]
        except OSError:
            return []

    # -- the HTTP API
    def ranges(self, i):
        try:
            url = "http://%s/api/v1/ranges?limit=100000" % self.addr(i, 2)
            with urllib.request.urlopen(url, timeout=1.0) as r:
                return json.loads(r.read().decode())["ranges"]
        except Exception:
            return None

    def all_led(self, nodes, exclude=None):
        """Every node in nodes sees every range led, by one agreed leader."""
        leaders = {}
        for i in nodes:
            rs = self.ranges(i)
            if rs is None or len(rs) != RANGES:
                return None
            for r in rs:
                if r["leader"] is None or r["leader"] == exclude:
                    return None
                if leaders.setdefault(r["id"], r["leader"]) != r["leader"]:
                    return None
        return leaders

    def spread(self):
        """Every range led, leaders spread evenly over the three nodes."""
        led = self.all_led((1, 2, 3))
        if led is None:
            return None
        c = [sum(1 for l in led.values() if l == i) for i in (1, 2, 3)]
        return max(c) - min(c) <= 1


def wait_for(what, cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return time.time() - t0, v
        time.sleep(0.05)
    raise CheckFailed("%s: not within %.1f s" % (what, timeout))


def wait_client_port(addr, timeout):
    def up():
        try:
            with Conn(addr, timeout=2) as c:
                return c.call("PING") == "PONG"
        except OSError:
            return False
    try:
        return wait_for("client port %s:%d answers PING" % addr, up, timeout)[0]
    except CheckFailed:
        raise CheckFailed("nothing answers PING on --client-addr %s:%d" % addr)


def call_retry(t, node, *args, conns=None):
    """Sends a command to node, retrying TRYAGAIN / TIMEOUT replies for up to
    RETRY_FOR seconds while leaders move. Returns (reply, uncertain):
    uncertain is True if an earlier attempt may have applied (a TIMEOUT
    reply: outcome unknown). conns caches one connection per node; a lost
    connection or no reply within REPLY_TIMEOUT is a failure (the node must
    answer within its --request-timeout)."""
    until = time.time() + RETRY_FOR
    conns = conns if conns is not None else {}
    uncertain = False
    while True:
        if node not in conns:
            conns[node] = t.conn(node)
        try:
            r = conns[node].call(*args)
        except (OSError, EOFError) as e:
            conns.pop(node).close()
            raise CheckFailed("%s through node %d: %s: %s" %
                              (short(args, 60), node, type(e).__name__, e))
        if not is_retryable(r):
            return r, uncertain
        uncertain = uncertain or r.kind() == "TIMEOUT"
        if time.time() > until:
            raise CheckFailed("%s through node %d: still %r after %.0f s of retries" %
                              (short(args, 60), node, r, RETRY_FOR))
        time.sleep(0.1)


# ---- the checks --------------------------------------------------------------
#
# Each takes the Target (and the Cluster for the ones that kill nodes); it
# returns an optional detail string, raises CheckFailed when the contract is
# broken. redis=True: Redis has the same behaviour, so the check also runs in
# --redis-port mode.

CHECKS = []


def check(redis, cluster=False):
    """Registers a check; cluster=True: it also gets the Cluster (it kills
    or stops nodes), which --redis-port mode does not have."""
    def deco(f):
        CHECKS.append((f, redis, cluster))
        return f
    return deco


@check(redis=True)
def ping_echo(t):
    with t.conn() as c:
        r = c.call("PING")
        expect(isinstance(r, Simple) and r == "PONG", "PING: want +PONG", r)
        expect_eq(c.call("PING", b"hello world"), b"hello world", "PING msg (bulk)")
        expect_eq(c.call("ECHO", b"a\r\nb\x00c"), b"a\r\nb\x00c", "ECHO binary msg")
        expect_eq(c.call("ECHO", b""), b"", "ECHO empty msg")
        # Command names are case-insensitive (redis-cli sends them as typed).
        expect_eq(c.call("ping"), "PONG", "lower-case ping")
        expect_eq(c.call("eChO", "x"), b"x", "mixed-case echo")
        # Inline (telnet-style) commands.
        c.send_raw(b"PING\r\n")
        expect_eq(c.read(), "PONG", "inline PING")


@check(redis=True)
def quit_closes(t):
    with t.conn() as c:
        expect_ok(c.call("QUIT"), "QUIT")
        expect(c.closed_by_server(), "QUIT: the server did not close the connection")
    with t.conn() as c:   # pipelined: nothing after QUIT is answered
        c.send_raw(encode("PING") + encode("QUIT") + encode("PING"))
        expect_eq(c.read(), "PONG", "PING before QUIT")
        expect_ok(c.read(), "QUIT after a pipelined PING")
        expect(c.closed_by_server(), "QUIT: the server answered past QUIT or kept the connection")


@check(redis=True)
def info(t):
    for node in sorted(set(t.addrs)):
        with t.conn(node) as c:
            r = c.call("INFO")
            expect(isinstance(r, bytes) and len(r) > 0, "INFO: want a bulk string", r)
            if t.is_redis:
                continue
            # "as Redis; adds node id, ranges, leaders": field:value lines.
            m = re.search(rb"node[_ ]?id\s*[:=]\s*(\d+)", r, re.I)
            expect(m is not None, "INFO through node %d: no node id field" % node, r)
            expect_eq(int(m.group(1)), node, "INFO node id through node %d" % node)
            expect(re.search(rb"ranges", r, re.I) and re.search(rb"leaders", r, re.I),
                   "INFO: want ranges and leaders", r)
            expect_pong(c, "INFO")
    return None if t.is_redis else "node id matches on all three nodes"


@check(redis=False)   # Redis answers COMMAND with its command table
def command_empty(t):
    with t.conn() as c:
        expect_eq(c.call("COMMAND"), [], "COMMAND")
        expect_eq(c.call("COMMAND", "DOCS"), [], "COMMAND DOCS (sent by redis-cli)")
        n = c.call("command", "COUNT")
        expect(isinstance(n, int) and n >= 40, "COMMAND COUNT: an integer, the names known", n)
        expect_pong(c, "COMMAND")


@check(redis=True)
def get_set_binary(t):
    keys = [bytes(range(256)), b"\r\n", b"\x00", b"\xff" * 9, b"a", b"a\x00",
            b"a\x00b", b"*1\r\n$4\r\nPING\r\n", b" space key "]
    with t.conn() as c:
        expect_eq(c.call("GET", b"gs/missing"), None, "GET missing key")
        for i, k in enumerate(keys):
            v = bytes(range(256)) * 4 + b"\r\n$3\r\nPING\r\n" + str(i).encode()
            expect_ok(c.call("SET", k, v), "SET %r" % k[:20])
        for i, k in enumerate(keys):   # all distinct, nothing truncated at \0 or \r\n
            v = bytes(range(256)) * 4 + b"\r\n$3\r\nPING\r\n" + str(i).encode()
            expect_eq(c.call("GET", k), v, "GET %r" % k[:20])
        expect_ok(c.call("SET", b"gs/empty", b""), "SET empty value")
        expect_eq(c.call("GET", b"gs/empty"), b"", "GET empty value (not nil)")
        expect_ok(c.call("SET", b"gs/over", b"one"), "SET")
        expect_ok(c.call("SET", b"gs/over", b"two"), "SET overwrite")
        expect_eq(c.call("GET", b"gs/over"), b"two", "GET after overwrite")
    return "%d binary keys" % len(keys)


@check(redis=True)
def set_nx_xx(t):
    with t.conn() as c:
        expect_eq(c.call("SET", b"nx/k", b"1", "XX"), None, "SET XX on a missing key")
        expect_eq(c.call("GET", b"nx/k"), None, "GET after a failed SET XX")
        expect_ok(c.call("SET", b"nx/k", b"2", "NX"), "SET NX on a missing key")
        expect_eq(c.call("SET", b"nx/k", b"3", "NX"), None, "SET NX on an existing key")
        expect_eq(c.call("GET", b"nx/k"), b"2", "GET after a failed SET NX")
        expect_ok(c.call("SET", b"nx/k", b"4", "XX"), "SET XX on an existing key")
        expect_eq(c.call("GET", b"nx/k"), b"4", "GET after SET XX")
        expect_ok(c.call("SET", b"nx/k2", b"5", "nx"), "lower-case nx")
        expect_err(c.call("SET", b"nx/k3", b"6", "NX", "XX"), "SET NX XX together")
        expect_err(c.call("SET", b"nx/k3", b"6", "BOGUS"), "SET with an unknown option")
        expect_eq(c.call("GET", b"nx/k3"), None, "GET after refused SETs")


@check(redis=True)
def del_exists_across_ranges(t):
    # One key in each of 8 ranges, plus one that is never written.
    keys = [range_key(r, b"de") for r in range(0, 16, 2)]
    missing = range_key(15, b"de/never")
    with t.conn() as c:
        expect_eq(c.call("EXISTS", *keys), 0, "EXISTS before any SET")
        for k in keys:
            expect_ok(c.call("SET", k, b"v" + k), "SET")
        expect_eq(c.call("EXISTS", keys[0]), 1, "EXISTS one key")
        expect_eq(c.call("EXISTS", *(keys + [missing])), len(keys),
                  "EXISTS over 9 keys in 9 ranges, one missing")
        expect_eq(c.call("DEL", keys[0], keys[3], keys[6], missing), 3,
                  "DEL of 3 present + 1 missing key in 4 ranges")
        expect_eq(c.call("EXISTS", *keys), len(keys) - 3, "EXISTS after DEL")
        expect_eq(c.call("GET", keys[3]), None, "GET a deleted key")
        expect_eq(c.call("DEL", keys[0]), 0, "DEL an already deleted key")
        expect_eq(c.call("DEL", *keys), len(keys) - 3, "DEL all the rest")
        expect_eq(c.call("EXISTS", *keys), 0, "EXISTS after deleting all")
    return "8 ranges"


@check(redis=True)
def mget_mset(t):
    keys = [range_key(r, b"mg") for r in range(16)]
    with t.conn() as c:
        for k in keys[::2]:
            expect_ok(c.call("SET", k, b"val-" + k), "SET")
        want = [b"val-" + k if i % 2 == 0 else None for i, k in enumerate(keys)]
        expect_eq(c.call("MGET", *keys), want, "MGET mixing present/missing keys in 16 ranges")
        expect_eq(c.call("MGET", keys[1]), [None], "MGET one missing key")
        pairs = []
        for r in range(16):
            pairs += [range_key(r, b"ms\x00\r\n"), bytes([r]) * 100 + b"\r\n"]
        expect_ok(c.call("MSET", *pairs), "MSET 16 pairs across 16 ranges")
        got = c.call("MGET", *pairs[0::2])
        expect_eq(got, pairs[1::2], "MGET after MSET")
        # MSET of one key twice: the last value wins (as Redis).
        expect_ok(c.call("MSET", b"ms/dup", b"a", b"ms/dup", b"b"), "MSET a key twice")
        expect_eq(c.call("GET", b"ms/dup"), b"b", "GET after MSET of a key twice")
    return "16 ranges"


@check(redis=True)
def incr_family(t):
    with t.conn() as c:
        expect_eq(c.call("INCR", b"in/a"), 1, "INCR missing key counts from 0")
        expect_eq(c.call("INCR", b"in/a"), 2, "INCR")
        expect_eq(c.call("INCRBY", b"in/a", 40), 42, "INCRBY 40")
        expect_eq(c.call("INCRBY", b"in/a", -50), -8, "INCRBY negative")
        expect_eq(c.call("GET", b"in/a"), b"-8", "GET an INCRed key (decimal text)")
        expect_eq(c.call("DECR", b"in/b"), -1, "DECR missing key counts from 0")
        expect_eq(c.call("DECRBY", b"in/c", 5), -5, "DECRBY missing key counts from 0")
        expect_eq(c.call("INCRBY", b"in/d", 7), 7, "INCRBY missing key counts from 0")
        expect_eq(c.call("DECRBY", b"in/d", -3), 10, "DECRBY negative")
        expect_ok(c.call("SET", b"in/e", b"100"), "SET")
        expect_eq(c.call("INCR", b"in/e"), 101, "INCR a SET integer")

        # Not an integer: -ERR, value unchanged, connection usable.
        for bad in (b"abc", b"", b"1.5", b" 1", b"1 ", b"0x10", b"99999999999999999999"):
            expect_ok(c.call("SET", b"in/bad", bad), "SET")
            expect_err(c.call("INCR", b"in/bad"), "INCR of %r" % bad)
            expect_eq(c.call("GET", b"in/bad"), bad, "value after a refused INCR")
        expect_err(c.call("INCRBY", b"in/a", b"x"), "INCRBY by a non-integer")
        expect_err(c.call("INCRBY", b"in/a", b"1.0"), "INCRBY by 1.0")
        expect_err(c.call("DECRBY", b"in/a", b""), "DECRBY by an empty string")
        expect_eq(c.call("GET", b"in/a"), b"-8", "value after refused INCRBYs")
        expect_pong(c, "-ERR replies")

        # Overflow past int64: -ERR, value unchanged.
        expect_ok(c.call("SET", b"in/max", str(I64_MAX)), "SET int64 max")
        expect_err(c.call("INCR", b"in/max"), "INCR past int64 max")
        expect_err(c.call("INCRBY", b"in/max", 10), "INCRBY past int64 max")
        expect_eq(c.call("GET", b"in/max"), str(I64_MAX).encode(), "value after overflow")
        expect_ok(c.call("SET", b"in/min", str(I64_MIN)), "SET int64 min")
        expect_err(c.call("DECR", b"in/min"), "DECR past int64 min")
        expect_err(c.call("DECRBY", b"in/min", 1), "DECRBY past int64 min")
        expect_eq(c.call("GET", b"in/min"), str(I64_MIN).encode(), "value after underflow")
        expect_err(c.call("DECRBY", b"in/z", str(I64_MIN)), "DECRBY by int64 min (negation overflows)")
        expect_eq(c.call("GET", b"in/z"), None, "key after a refused DECRBY")
        expect_eq(c.call("INCRBY", b"in/max", -1), I64_MAX - 1, "INCRBY back from max")
        expect_pong(c, "overflow errors")


@check(redis=False)
def cas(t):
    with t.conn() as c:
        expect_ok(c.call("SET", b"cas/k", b"a"), "SET")
        expect_eq(c.call("CAS", b"cas/k", b"a", b"b"), 1, "CAS with the right expected value")
        expect_eq(c.call("GET", b"cas/k"), b"b", "GET after a CAS that swapped")
        expect_eq(c.call("CAS", b"cas/k", b"a", b"c"), 0, "CAS with a stale expected value")
        expect_eq(c.call("GET", b"cas/k"), b"b", "GET after a CAS that did not swap")
        expect_eq(c.call("CAS", b"cas/k", b"", b"c"), 0, "CAS expecting empty on a set key")
        # A missing key compares to the empty string.
        expect_eq(c.call("CAS", b"cas/missing", b"", b"v"), 1, 'CAS missing "" v')
        expect_eq(c.call("GET", b"cas/missing"), b"v", "GET after CAS on a missing key")
        expect_eq(c.call("CAS", b"cas/missing2", b"x", b"v"), 0, "CAS missing x v")
        expect_eq(c.call("GET", b"cas/missing2"), None, "GET after a failed CAS on missing")
        # Binary values; a key set to "" also compares equal to "".
        bv = bytes(range(256)) + b"\r\n"
        expect_eq(c.call("CAS", b"cas/k", b"b", bv), 1, "CAS to a binary value")
        expect_eq(c.call("CAS", b"cas/k", bv, b""), 1, "CAS from a binary value to empty")
        expect_eq(c.call("GET", b"cas/k"), b"", "GET after CAS to empty")
        expect_eq(c.call("CAS", b"cas/k", b"", b"z"), 1, "CAS from an empty value")
        expect_eq(c.call("GET", b"cas/k"), b"z", "GET after CAS from empty")


@check(redis=False)
def seq_next(t):
    with t.conn() as c:
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 1, "first SEQ.NEXT")
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 2, "second SEQ.NEXT")
        expect_eq(c.call("SEQ.NEXT", b"seq/a", 5), 3, "SEQ.NEXT n 5: first of 3..7")
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 8, "SEQ.NEXT right after a block of 5")
        expect_eq(c.call("SEQ.NEXT", b"seq/a", 1), 9, "SEQ.NEXT n 1")
        expect_eq(c.call("SEQ.NEXT", b"seq/a", 1000000), 10, "SEQ.NEXT n 1000000")
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 1000010, "after a block of 1,000,000")
        for bad in (0, 1000001, -1, b"abc", b"", b"1.5", b"99999999999999999999"):
            expect_err(c.call("SEQ.NEXT", b"seq/a", bad), "SEQ.NEXT count %r" % (bad,))
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 1000011, "refused counts consume no IDs")
        # Sequences are independent, and are no user keys.
        expect_eq(c.call("SEQ.NEXT", b"seq/b"), 1, "a second sequence starts at 1")
        expect_eq(c.call("GET", b"seq/a"), None, "a sequence name is no user key (GET)")
        expect_eq(c.call("EXISTS", b"seq/a"), 0, "a sequence name is no user key (EXISTS)")
        expect_eq(c.call("KRANGE", b"seq/", b"seq0"), [], "sequences are not in KRANGE")
        expect_ok(c.call("SET", b"seq/a", b"user value"), "SET a key named like a sequence")
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 1000012, "the sequence ignores the user key")
        expect_eq(c.call("GET", b"seq/a"), b"user value", "the user key ignores the sequence")
        expect_eq(c.call("DEL", b"seq/a"), 1, "DEL the user key")
        expect_eq(c.call("SEQ.NEXT", b"seq/a"), 1000013, "DEL does not reset the sequence")
        # Binary names in every range; names are limited like keys.
        for r in range(16):
            expect_eq(c.call("SEQ.NEXT", range_key(r, b"\x00seq\r\n")), 1,
                      "first SEQ.NEXT of a sequence in range %d" % r)
        expect_eq(c.call("SEQ.NEXT", b"s" * MAX_KEY), 1, "a 4 KiB sequence name")
        expect_err(c.call("SEQ.NEXT", b"s" * (MAX_KEY + 1)), "a sequence name over 4 KiB")
        expect_pong(c, "SEQ.NEXT errors")


def krange_all(c, start, end, limit=None):
    args = ["KRANGE", start, end] + ([] if limit is None else ["LIMIT", limit])
    r = c.call(*args)
    expect(isinstance(r, list) and len(r) % 2 == 0 and all(isinstance(x, bytes) for x in r),
           "KRANGE %r %r: want a flat array of bulk strings" % (start, end), r)
    return [(r[i], r[i + 1]) for i in range(0, len(r), 2)]


@check(redis=False)
def krange(t):
    # ~200 keys spread over the whole key space (every first byte value
    # shows up), plus keys right at and around range boundaries.
    mine = {}
    rnd = random.Random(1)
    for i in range(200):
        k = bytes([(i * 37) % 256]) + b"kr/%03d" % i + bytes([rnd.randrange(256)])
        mine[k] = b"v%d" % i
    for b in range(1, 16):
        mine[bytes([b * 16])] = b"boundary"                  # the first key of range b
        mine[bytes([b * 16 - 1]) + b"\xff" * 8] = b"just below"
        mine[bytes([b * 16, 0])] = b"boundary+0"
    with t.conn() as c:
        pairs = [x for kv in mine.items() for x in kv]
        for i in range(0, len(pairs), 40):
            expect_ok(c.call("MSET", *pairs[i:i + 40]), "MSET")

        # Pages of 37 from the start to the end of the key space, each
        # continuing from the last key + "\x00".
        pages, start = [], b""
        while True:
            page = krange_all(c, start, b"", 37)
            expect(len(page) <= 37, "KRANGE LIMIT 37 returned %d pairs" % len(page))
            pages += page
            if len(page) < 37:
                break
            start = page[-1][0] + b"\x00"
            expect(len(pages) < 100000, "KRANGE paging does not end")
        keys = [k for k, _ in pages]
        expect(all(keys[i] < keys[i + 1] for i in range(len(keys) - 1)),
               "paged KRANGE: keys not strictly increasing (duplicates or disorder)")
        # Every key of ours, in order, with its value; nothing of ours missing.
        got = [(k, v) for k, v in pages if k in mine]
        expect_eq(got, sorted(mine.items()), "paged KRANGE: our keys in byte order")

        # Without LIMIT (fewer than 10,000 keys exist): the same.
        whole = krange_all(c, b"", b"")
        expect(len(whole) == len(pages) and whole == pages,
               "KRANGE '' '' differs from the paged scan (%d vs %d pairs)" %
               (len(whole), len(pages)))
        # LIMIT n gives exactly the first n.
        expect_eq(krange_all(c, b"", b"", 5), pages[:5], "KRANGE LIMIT 5")
        expect_eq(krange_all(c, b"", b"", 1), pages[:1], "KRANGE LIMIT 1")
        # A span over ranges 3..9: [0x30, 0xa0).
        lo, hi = b"\x30", b"\xa0"
        expect_eq(krange_all(c, lo, hi), [p for p in pages if lo <= p[0] < hi],
                  "KRANGE \\x30 \\xa0 (7 ranges)")
        # end empty = to the end.
        expect_eq(krange_all(c, b"\xf0", b""), [p for p in pages if p[0] >= b"\xf0"],
                  "KRANGE \\xf0 '' (the last range, to the end)")
        # start is inclusive, end exclusive, at a range boundary.
        expect_eq(krange_all(c, b"\x20", b"\x20\x00\x01"),
                  [(b"\x20", b"boundary"), (b"\x20\x00", b"boundary+0")],
                  "KRANGE at a range boundary")
        expect_eq(krange_all(c, b"\x10", b"\x10"), [], "KRANGE with start = end")
        expect_eq(krange_all(c, b"\x90", b"\x10"), [], "KRANGE with start > end")
        expect_err(c.call("KRANGE", b"", b"", "LIMIT", "x"), "KRANGE LIMIT x")
        expect_pong(c, "KRANGE errors")
    return "%d keys, %d pages of 37" % (len(keys), (len(keys) + 37) // 37)


@check(redis=True)
def unknown_command(t):
    with t.conn() as c:
        expect_err(c.call("NOSUCHCOMMAND", "x"), "unknown command")
        expect_pong(c, "unknown command")
        expect_err(c.call("GETT", "x"), "unknown command GETT")
        expect_err(c.call(b""), "empty command name")
        expect_err(c.call(b"\x00\xff"), "binary command name")
        expect_pong(c, "unknown commands")


@check(redis=True)
def wrong_arity(t):
    common = [
        ["GET"], ["GET", "ar/k", "b"], ["SET"], ["SET", "ar/k"], ["DEL"], ["EXISTS"],
        ["MGET"], ["MSET"], ["MSET", "ar/k"], ["MSET", "ar/k", "b", "c"],
        ["INCR"], ["INCR", "ar/k", "b"], ["INCRBY", "ar/k"], ["INCRBY", "ar/k", "1", "2"],
        ["DECR"], ["DECR", "ar/k", "b"], ["DECRBY", "ar/k"], ["DECRBY", "ar/k", "1", "2"],
        ["ECHO"], ["ECHO", "ar/k", "b"], ["PING", "ar/k", "b"],
    ]
    ours = [
        ["CAS"], ["CAS", "ar/k", "b"], ["CAS", "ar/k", "b", "c", "d"],
        ["SEQ.NEXT"], ["SEQ.NEXT", "ar/k", "1", "2"],
        ["KRANGE"], ["KRANGE", "ar/k"], ["KRANGE", "ar/k", "b", "LIMIT"],
        ["KRANGE", "ar/k", "b", "LIMIT", "1", "2"], ["KRANGE", "ar/k", "b", "FOO", "1"],
    ]
    cmds = common + ([] if t.is_redis else ours)
    with t.conn() as c:
        for cmd in cmds:
            expect_err(c.call(*cmd), "wrong arity: %s" % " ".join(cmd))
        expect_pong(c, "wrong arity")
        # Nothing was written by the refused commands.
        expect_eq(c.call("EXISTS", "ar/k"), 0, "a refused command wrote a key")
    return "%d commands" % len(cmds)


@check(redis=False)
def size_limits(t):
    with t.conn() as c:
        expect_ok(c.call("SET", b"k" * MAX_KEY, b"v"), "SET a 4 KiB key")
        expect_eq(c.call("GET", b"k" * MAX_KEY), b"v", "GET a 4 KiB key")
        big = b"k" * (MAX_KEY + 1)
        expect_err(c.call("SET", big, b"v"), "SET a key over 4 KiB")
        expect_err(c.call("GET", big), "GET a key over 4 KiB")
        expect_err(c.call("MSET", b"ok", b"v", big, b"v"), "MSET with a key over 4 KiB")
        expect_pong(c, "key over 4 KiB")
        v = random.Random(2).randbytes(MAX_VALUE)
        expect_ok(c.call("SET", b"lim/1mib", v), "SET a 1 MiB value")
        expect_eq(c.call("GET", b"lim/1mib"), v, "GET a 1 MiB value")
    # Over 1 MiB: -ERR, or the connection closed; others still served.
    notes = []
    for size in (MAX_VALUE + 1, 4 * MAX_VALUE):
        with t.conn() as c, t.conn() as bystander:
            try:
                c.send("SET", b"lim/over", b"x" * size)
                r = c.read_or_closed()
            except (BrokenPipeError, ConnectionResetError):
                r = RESET
            if r is CLOSED or r is RESET:
                notes.append("%d B: %s" % (size, "closed" if r is CLOSED else "reset"))
            else:
                expect_err(r, "SET a value of %d bytes" % size)
                r2 = c.read_or_closed() if not c.nothing_pending(0.2) else None
                if r2 is CLOSED or r2 is RESET:
                    notes.append("%d B: -ERR, closed" % size)
                else:
                    expect(r2 is None, "extra reply after an oversized SET", r2)
                    expect_pong(c, "value over 1 MiB")
                    notes.append("%d B: -ERR" % size)
            expect_pong(bystander, "another connection, during an oversized SET")
        with t.conn() as c:
            expect_eq(c.call("GET", b"lim/over"), None, "an oversized value was stored")
    return "; ".join(notes)


def malformed(t, name, data, want):
    """Sends data, a malformed request; want says what must come back:
      'err'          an -ERR, then the connection closed or still usable;
      'err-close'    an -ERR, then the connection closed;
      'err-or-none'  no reply at all (connection usable), or an -ERR.
    A reset instead of the -ERR is accepted (closing with input unread sends
    RST, which may discard the reply); a clean close without one is not.
    Afterwards a connection opened before and a fresh one are both served."""
    with t.conn() as bystander, t.conn() as c:
        try:
            c.send_raw(data)
            if want == "err-or-none":
                # A probe after it: answered directly (no reply to the
                # malformed part), or an -ERR comes first.
                c.send_raw(encode("PING"))
            r = c.read_or_closed()
        except (BrokenPipeError, ConnectionResetError):
            r = RESET
        if r is RESET:
            outcome = "reset"
        elif want == "err-or-none" and r == "PONG":
            outcome = "no reply, usable"
        else:
            expect_err(r, name)
            outcome = "-ERR"
            if want == "err-or-none":
                r2 = c.read_or_closed()
                expect(r2 in (CLOSED, RESET) or r2 == "PONG", "%s: after the -ERR" % name, r2)
                outcome += ", usable" if r2 == "PONG" else ", closed"
            elif c.closed_by_server(3.0):
                outcome += ", closed"
            else:
                expect(want == "err", "%s: the server kept the connection open" % name)
                expect_pong(c, name)
                outcome += ", usable"
        expect_pong(bystander, "%s: an existing connection" % name)
    with t.conn() as fresh:
        expect_pong(fresh, "%s: a fresh connection" % name)
        expect_ok(fresh.call("SET", b"mal/after", name), "%s: SET afterwards" % name)
        expect_eq(fresh.call("GET", b"mal/after"), name.encode(), "%s: GET afterwards" % name)
    return "%s: %s" % (name, outcome)


@check(redis=True)
def malformed_requests(t):
    rnd = random.Random(3)
    noise = bytes(b for b in rnd.randbytes(200000) if b not in b"\r\n*")
    notes = [
        malformed(t, "bad bulk length", b"*1\r\n$abc\r\n", "err"),
        malformed(t, "2^40 bulk length", b"*2\r\n$3\r\nGET\r\n$1099511627776\r\n", "err"),
        malformed(t, "negative bulk length", b"*2\r\n$3\r\nGET\r\n$-7\r\n", "err"),
        malformed(t, "2^40 array length", b"*1099511627776\r\n", "err"),
        malformed(t, "bad array length", b"*x1\r\n$4\r\nPING\r\n", "err-close"),
        malformed(t, "negative array length", b"*-5\r\n", "err-or-none"),
        malformed(t, "garbage: no $ in an array", b"*1\r\n\x01\xfegarbage\r\n", "err-close"),
        malformed(t, "garbage: 128 KiB without a newline", b"\x01" + noise[:131072], "err-close"),
    ]
    return "; ".join(notes)


@check(redis=True)
def split_requests(t):
    with t.conn() as c:
        # Cut in half, completed later: answered only then.
        req = encode("SET", b"split/k", b"value\r\nwith CRLF")
        half = len(req) // 2
        c.send_raw(req[:half])
        expect(c.nothing_pending(0.5), "a half request was answered")
        c.send_raw(req[half:])
        expect_ok(c.read(), "SET completed after 0.5 s")
        # Byte by byte, cuts inside every header and CRLF.
        req = encode("GET", b"split/k") + encode("ECHO", b"x" * 50)
        for i in range(len(req)):
            c.send_raw(req[i:i + 1])
            time.sleep(0.002)
        expect_eq(c.read(), b"value\r\nwith CRLF", "GET sent byte by byte")
        expect_eq(c.read(), b"x" * 50, "ECHO sent byte by byte")
        # A 1 MiB value in 64 KiB pieces with pauses.
        v = bytes(range(256)) * 4096
        req = encode("SET", b"split/big", v)
        for i in range(0, len(req), 65536):
            c.send_raw(req[i:i + 65536])
            time.sleep(0.01)
        expect_ok(c.read(), "SET of 1 MiB sent in pieces")
        expect_eq(c.call("GET", b"split/big"), v, "GET of 1 MiB sent in pieces")


@check(redis=True)
def pipelining(t):
    """1,000 commands in one send, over all ranges; replies in order."""
    cmds, want = [], []
    for i in range(1000):
        key = bytes([(i * 7) % 256]) + b"pipe/%d" % (i // 4)
        if i % 4 == 0:
            cmds.append(("SET", key, b"v%d" % i)); want.append(Simple("OK"))
        elif i % 4 == 1:
            key = bytes([((i - 1) * 7) % 256]) + b"pipe/%d" % (i // 4)
            cmds.append(("GET", key)); want.append(b"v%d" % (i - 1))
        elif i % 4 == 2:
            cmds.append(("INCR", b"pipe/counter")); want.append(i // 4 + 1)
        else:
            cmds.append(("ECHO", b"e%d" % i)); want.append(b"e%d" % i)
    with t.conn() as c:
        c.send_raw(b"".join(encode(*a) for a in cmds))
        for i, w in enumerate(want):
            r = c.read()
            expect(r == w and type(r) is type(w),
                   "pipelined reply %d (%s): want %r" % (i, cmds[i][0], w), r)
    return "1000 replies in order"


@check(redis=True)
def many_connections(t):
    """1,000 connections open at once, each sends PING and SET, all answered."""
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, 4096)), hard))
    conns = []
    try:
        for i in range(n):
            conns.append(t.conn())
        for i, c in enumerate(conns):
            c.send_raw(encode("PING") + encode("SET", bytes([i % 256]) + b"conn/%d" % i, i))
        for i, c in enumerate(conns):
            expect_eq(c.read(), "PONG", "PING on connection %d" % i)
            expect_ok(c.read(), "SET on connection %d" % i)
        for i, c in enumerate(conns[::37]):
            j = i * 37
            expect_eq(c.call("GET", bytes([j % 256]) + b"conn/%d" % j), str(j).encode(),
                      "GET on connection %d" % j)
    finally:
        for c in conns:
            c.close()
    return "%d connections" % n


@check(redis=True)
def any_node_any_key(t):
    """Writes through node 1 read back through 2 and 3, in every range."""
    nodes = sorted(t.addrs)
    with t.conn(1) as c1:
        for r in range(16):
            expect_ok(c1.call("SET", range_key(r, b"any"), b"from node 1 #%d" % r), "SET via 1")
    for node in nodes[1:] or [1]:
        with t.conn(node) as c:
            for r in range(16):
                expect_eq(c.call("GET", range_key(r, b"any")), b"from node 1 #%d" % r,
                          "GET via node %d of a key in range %d" % (node, r))
    # INCR from all three nodes at once on one key: every value handed out once.
    results, errors = [], []

    def worker(node):
        try:
            with t.conn(node) as c:
                for _ in range(100):
                    results.append(c.call("INCR", b"any/counter"))
        except Exception as e:   # reported below
            errors.append(e)
    ths = [threading.Thread(target=worker, args=(node,)) for node in (1, 2, 3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    expect(not errors, "INCR workers", *errors)
    expect_eq(sorted(results), list(range(1, 301)), "replies of 300 concurrent INCRs")
    with t.conn(2) as c:
        expect_eq(c.call("GET", b"any/counter"), b"300", "counter after 3 x 100 INCRs")
    return "16 ranges, 3 x 100 INCRs"


class SeqWorker(threading.Thread):
    """Calls SEQ.NEXT on one sequence per range through the survivors while a
    node is killed; records every ID and whether it may follow a lost one."""

    def __init__(self, t, names, nodes):
        super().__init__(daemon=True)
        self.t, self.names, self.nodes = t, names, nodes
        self.got = {n: [] for n in names}     # name -> [(id, uncertain)]
        self.stop = threading.Event()
        self.error = None

    def run(self):
        conns = {}
        turn = 0
        try:
            while not self.stop.is_set():
                for name in self.names:
                    node = self.nodes[turn % len(self.nodes)]
                    turn += 1
                    r, uncertain = call_retry(self.t, node, "SEQ.NEXT", name, conns=conns)
                    if not isinstance(r, int):
                        raise CheckFailed("SEQ.NEXT %r via node %d: %r" % (name, node, r))
                    self.got[name].append((r, uncertain))
        except Exception as e:
            self.error = e
        finally:
            for c in conns.values():
                c.close()

    def verify(self):
        if self.error:
            raise CheckFailed("SEQ.NEXT worker: %s" % self.error)
        calls = 0
        for name, seq in self.got.items():
            prev = 0
            for v, uncertain in seq:
                calls += 1
                expect(v > prev, "SEQ.NEXT %r: %d after %d (repeat or decrease)" % (name, v, prev))
                # Only a TIMEOUT (outcome unknown) may hide an ID we never saw.
                expect(v == prev + 1 or uncertain,
                       "SEQ.NEXT %r: skipped from %d to %d without a TIMEOUT" % (name, prev, v))
                prev = v
        return calls


def transfer_leader(cluster, rng, to):
    """POST .../transfer-leader?to=N at the range's current leader (as node 1
    sees it); True once the move is done."""
    rs = cluster.ranges(1) or []
    lead = next((r["leader"] for r in rs if r["id"] == rng), None)
    if lead is None or lead == to:
        return False
    url = "http://%s/api/v1/ranges/%d/transfer-leader?to=%d" % (cluster.addr(lead, 2), rng, to)
    try:
        req = urllib.request.Request(url, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            return 200 <= r.status < 300
    except Exception:   # 409 (a change under way), a timeout: try another
        return False


@check(redis=False, cluster=True)
def pipeline_order_leader_moves(t, cluster):
    """Pipelining connections on node 1 and node 2, each round 96 commands
    over all 16 ranges (INCR of the connection's own counter per range, of
    a counter per range shared by all, SEQ.NEXT of the connection's own
    sequence per range and of one shared sequence), while leaderships move
    (transfer-leader every 0.05 s). Every reply must be the one of the
    command sent at its place: own counters start a million apart per range
    and must read 1, 2, 3... above their start in connection order, own
    sequences 1, 2, 3...; the shared sequence strictly increases on each
    connection, its IDs distinct across connections; afterwards every
    shared counter holds exactly the INCRs acknowledged. Only -TRYAGAIN
    (not applied) and -TIMEOUT (unknown) may break a run, and each is
    accounted for."""
    rounds, per_round = 150, 96
    conns_n = 4
    stop = threading.Event()
    moves = [0]
    errors = []

    def mover():
        mr = random.Random(5)
        while not stop.is_set():
            if transfer_leader(cluster, mr.randrange(1, RANGES + 1), mr.randrange(1, 4)):
                moves[0] += 1
            time.sleep(0.05)

    results = {}

    def worker(w):
        node = 1 + w % 2
        own_base = {r: r * 1000000 for r in range(RANGES)}
        own = {r: 0 for r in range(RANGES)}        # last value known
        own_unsure = {r: 0 for r in range(RANGES)}
        seq = {r: 0 for r in range(RANGES)}
        seq_unsure = {r: 0 for r in range(RANGES)}
        shared_seq = []
        acked = [0] * RANGES
        unknown = [0] * RANGES
        wr = random.Random(100 + w)
        try:
            with t.conn(node) as c:
                for r in range(RANGES):
                    expect_ok(c.call("SET", range_key(r, b"mv/own/%d" % w), str(own_base[r])),
                              "SET of an own counter")
                for _ in range(rounds):
                    cmds = []
                    for i in range(per_round):
                        r = wr.randrange(RANGES)
                        k = i % 4
                        if k == 0:
                            # Two keys only: a dozen INCRs of each in flight.
                            r = (w + i // 4 % 2 * 7) % RANGES
                            cmds.append(("own", r, ("INCR", range_key(r, b"mv/own/%d" % w))))
                        elif k == 1:
                            cmds.append(("shared", r, ("INCR", range_key(r, b"mv/shared"))))
                        elif k == 2:
                            cmds.append(("seq", r, ("SEQ.NEXT", range_key(r, b"mv/seq/%d" % w))))
                        else:
                            cmds.append(("sseq", 0, ("SEQ.NEXT", range_key(3, b"mv/sseq"))))
                    # In pieces a little apart: one key's INCRs then meet
                    # the leadership at different moments.
                    for j in range(0, per_round, 16):
                        c.send_raw(b"".join(encode(*a) for _, _, a in cmds[j:j + 16]))
                        time.sleep(0.001)
                    for i, (kind, r, a) in enumerate(cmds):
                        v = c.read()
                        what = "conn %d reply %d (%s %r)" % (w, i, a[0], a[1])
                        if is_retryable(v):
                            timeout = v.kind() == "TIMEOUT"
                            if kind == "own":
                                own_unsure[r] += timeout
                            elif kind == "seq":
                                seq_unsure[r] += timeout
                            elif kind == "shared":
                                unknown[r] += timeout
                            continue
                        expect(isinstance(v, int), what + ": an integer", v)
                        if kind == "own":
                            got = v - own_base[r]
                            expect(own[r] < got <= own[r] + 1 + own_unsure[r],
                                   what + ": own counter after %d" % own[r], got)
                            own[r], own_unsure[r] = got, 0
                        elif kind == "seq":
                            expect(seq[r] < v <= seq[r] + 1 + seq_unsure[r],
                                   what + ": own sequence after %d" % seq[r], v)
                            seq[r], seq_unsure[r] = v, 0
                        elif kind == "shared":
                            acked[r] += 1
                        else:
                            expect(not shared_seq or v > shared_seq[-1],
                                   what + ": shared sequence after %s" %
                                   (shared_seq[-1] if shared_seq else None), v)
                            shared_seq.append(v)
            results[w] = (acked, unknown, shared_seq)
        except Exception as e:   # reported below
            errors.append(e)

    th_m = threading.Thread(target=mover, daemon=True)
    th_m.start()
    try:
        ths = [threading.Thread(target=worker, args=(w,)) for w in range(conns_n)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    finally:
        stop.set()
        th_m.join()
    expect(not errors, "workers", *errors)
    ids = [v for w in results for v in results[w][2]]
    expect_eq(len(ids), len(set(ids)), "shared SEQ.NEXT IDs distinct across connections")
    with t.conn(3) as c:
        for r in range(RANGES):
            acked = sum(results[w][0][r] for w in results)
            unknown = sum(results[w][1][r] for w in results)
            v = c.call("GET", range_key(r, b"mv/shared"))
            got = int(v) if v is not None else 0
            expect(acked <= got <= acked + unknown,
                   "shared counter of range %d: %d acknowledged INCRs, %d unknown" %
                   (r, acked, unknown), got)
    expect(moves[0] > 0, "leadership transfers done", moves[0])
    return "%d commands on %d connections, %d leadership moves" % (
        rounds * per_round * conns_n, conns_n, moves[0])


def debug_drop_answers(cluster, node, percent):
    url = "http://%s/api/v1/debug/drop-answers?percent=%d" % (cluster.addr(node, 2), percent)
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@check(redis=False, cluster=True)
def exactly_once_lost_answers(t, cluster):
    """Node 1's router loses 10% of the answers to its writes after they
    applied (fault injection), so it resends them with the same sequence
    number: INCR and SEQ.NEXT through node 1 on every range must still apply
    exactly once (replies 1..N in order, the counter at N afterwards)."""
    ops = 12
    debug_drop_answers(cluster, 1, 10)
    errors, got = [], {}

    def worker(r):
        try:
            with t.conn(1) as c:
                incr = [c.call("INCR", range_key(r, b"once/ctr")) for _ in range(ops)]
                seq = [c.call("SEQ.NEXT", range_key(r, b"once/seq")) for _ in range(ops)]
                got[r] = (incr, seq)
        except Exception as e:   # reported below
            errors.append(e)
    try:
        ths = [threading.Thread(target=worker, args=(r,)) for r in range(RANGES)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
    finally:
        dropped = debug_drop_answers(cluster, 1, 0)["dropped"]
    expect(not errors, "workers", *errors)
    for r in range(RANGES):
        incr, seq = got[r]
        expect_eq(incr, list(range(1, ops + 1)), "INCR replies in range %d" % r)
        expect_eq(seq, list(range(1, ops + 1)), "SEQ.NEXT replies in range %d" % r)
        with t.conn(2) as c:
            expect_eq(c.call("GET", range_key(r, b"once/ctr")), str(ops).encode(),
                      "counter of range %d read through node 2" % r)
    # The check proves nothing unless answers were really lost.
    expect(dropped > 0, "answers dropped by the fault injection", dropped)
    return "%d answers lost and resent, none applied twice" % dropped


@check(redis=False, cluster=True)
def kill9_and_restart(t, cluster):
    """kill -9 of node 3: the survivors serve every range (TRYAGAIN / TIMEOUT
    retried while leaders move), SEQ.NEXT goes on increasing across the
    kill, and the restarted node serves what was written while it was down."""
    survivors = (1, 2)
    conns = {}
    names = [range_key(r, b"kill/seq") for r in range(16)]
    seqw = SeqWorker(t, names, survivors)
    try:
        before = {range_key(r, b"kill/before"): b"b%d" % r for r in range(16)}
        for k, v in before.items():
            expect_ok(call_retry(t, 3, "SET", k, v, conns=conns)[0],
                      "SET via node 3 before the kill")
        seqw.start()
        time.sleep(1.0)

        cluster.kill9(3)
        conns.pop(3).close()
        killed_at = time.time()
        time.sleep(2.0)

        # Every range, through both survivors: SET via one, GET via the other.
        during = {}
        for r in range(16):
            for a, b in (survivors, survivors[::-1]):
                k = range_key(r, b"kill/during/%d" % a)
                v = b"written via %d while 3 was down" % a
                expect_ok(call_retry(t, a, "SET", k, v, conns=conns)[0],
                          "SET via node %d, range %d, node 3 down" % (a, r))
                expect_eq(call_retry(t, b, "GET", k, conns=conns)[0], v,
                          "GET via node %d, range %d, node 3 down" % (b, r))
                during[k] = v
            k = range_key(r, b"kill/before")
            expect_eq(call_retry(t, 1, "GET", k, conns=conns)[0], before[k],
                      "a key written before the kill, range %d" % r)
        served_after = time.time() - killed_at

        time.sleep(1.0)
        seqw.stop.set()
        seqw.join(timeout=3 * RETRY_FOR)
        expect(not seqw.is_alive(), "the SEQ.NEXT worker hangs")
        calls = seqw.verify()
        last = {n: s[-1][0] for n, s in seqw.got.items() if s}
        expect(len(last) == len(names), "SEQ.NEXT: some sequence got no ID")

        # Restart node 3: it serves reads of what was written while it was
        # down, and the sequences go on where they were.
        cluster.start(3)
        wait_for("every range led after restarting node 3",
                 lambda: cluster.all_led((1, 2, 3)), 30)
        wait_client_port(Cluster.client_addr(3), 20)
        for k, v in list(during.items()) + list(before.items()):
            expect_eq(call_retry(t, 3, "GET", k, conns=conns)[0], v,
                      "GET via the restarted node 3 of %r" % k)
        for n in names:
            r, _ = call_retry(t, 3, "SEQ.NEXT", n, conns=conns)
            expect(isinstance(r, int) and r > last[n],
                   "SEQ.NEXT %r via the restarted node: want > %d" % (n, last[n]), r)
    finally:
        seqw.stop.set()
        for c in conns.values():
            c.close()
    return ("survivors served all 16 ranges %.1f s after kill -9; %d SEQ.NEXT calls "
            "across the kill increasing; node 3 serves after restart" % (served_after, calls))


@check(redis=False, cluster=True)
def sigterm_with_clients(t, cluster):
    """SIGTERM stops every node cleanly (status 0) while client connections
    are open, idle or halfway through a request."""
    up = [i for i in (1, 2, 3) if i not in cluster.stopped]   # all, unless a check failed
    idle = [t.conn(i) for i in up]
    half = [t.conn(i) for i in up]
    for c in half:
        c.send_raw(encode("SET", b"term/k", b"v")[:9])
    try:
        status = cluster.stop_all()
    finally:
        for c in idle + half:
            c.close()
    status = {i: status[i] for i in up}
    expect(all(rc == 0 for rc in status.values()),
           "exit status after SIGTERM with clients connected (want 0)", status)
    return "exit 0 on nodes %s" % up


# ---- driver ------------------------------------------------------------------

def run_checks(t, cluster):
    passed = failed = 0
    for f, redis_ok, wants_cluster in CHECKS:
        if t.is_redis and not redis_ok:
            continue
        t0 = time.time()
        try:
            detail = f(t, cluster) if wants_cluster else f(t)
            print("  ok    %-26s %5.2f s%s" % (f.__name__, time.time() - t0,
                                              "  (%s)" % detail if detail else ""), flush=True)
            passed += 1
        except Exception as e:
            failed += 1
            why = str(e) if isinstance(e, CheckFailed) else "%s: %s" % (type(e).__name__, e)
            print("  FAIL  %-26s %5.2f s  %s" % (f.__name__, time.time() - t0, why), flush=True)
            if not isinstance(e, CheckFailed):
                traceback.print_exc(limit=3, file=sys.stdout)
            if cluster is not None and failed == 1:
                # The first failure shows what the nodes were saying.
                for i in sorted(cluster.procs):
                    print("  node %d log ends:" % i)
                    sys.stdout.writelines("    " + l for l in cluster.log_tail(i, 25))
        if cluster is not None:
            dead = cluster.dead()
            if dead:
                for i in dead:
                    print("  node %d exited (status %s); its log ends:" %
                          (i, cluster.procs[i].returncode))
                    sys.stdout.writelines("    " + l for l in cluster.log_tail(i))
                print("client_test: FAIL: node(s) %s died during %s" % (dead, f.__name__))
                failed += 1
                break
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rangekv", nargs="?", help="path to the rangekv binary")
    ap.add_argument("--redis-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--only", help=argparse.SUPPRESS)   # comma-separated check names
    a = ap.parse_args()
    if a.only:
        keep = set(a.only.split(","))
        CHECKS[:] = [c for c in CHECKS if c[0].__name__ in keep]
        if len(CHECKS) != len(keep):
            ap.error("no check named %s" % ", ".join(keep - {c[0].__name__ for c in CHECKS}))

    if a.redis_port:
        t = Target({1: ("127.0.0.1", a.redis_port), 2: ("127.0.0.1", a.redis_port),
                    3: ("127.0.0.1", a.redis_port)}, is_redis=True)
        print("client_test: checks shared with Redis, against redis-server on port %d" %
              a.redis_port)
        with t.conn() as c:   # the checks expect an empty store, as a new cluster is
            expect_ok(c.call("FLUSHALL"), "FLUSHALL")
        passed, failed = run_checks(t, None)
        print("client_test: %d passed, %d failed" % (passed, failed))
        sys.exit(1 if failed else 0)

    if not a.rangekv:
        ap.error("the rangekv binary is required")
    tmp = tempfile.mkdtemp(prefix="rk-client-")
    cluster = Cluster(a.rangekv, tmp)
    failed = 1
    try:
        for i in (1, 2, 3):
            cluster.start(i)
        took, _ = wait_for("every range elects a leader", lambda: cluster.all_led((1, 2, 3)), 30)
        print("client_test: 3 nodes, %d ranges, all led after %.2f s" % (RANGES, took))
        # Let the start-up leader balancing settle so that the checks run on
        # a quiet cluster (not required: the router retries leader changes).
        try:
            took, _ = wait_for("leaders spread evenly", cluster.spread, 20)
            print("client_test: leaders spread evenly after %.2f s more" % took)
        except CheckFailed:
            print("client_test: note: leaders not spread evenly after 20 s; going on")
        for i in (1, 2, 3):
            wait_client_port(Cluster.client_addr(i), 10)
        t = Target({i: Cluster.client_addr(i) for i in (1, 2, 3)}, is_redis=False)
        passed, failed = run_checks(t, cluster)
        print("client_test: %d passed, %d failed" % (passed, failed))
    except CheckFailed as e:
        print("client_test: FAIL: %s" % e)
        for i in (1, 2, 3):
            print("  node %d log ends:" % i)
            sys.stdout.writelines("    " + l for l in cluster.log_tail(i, 5))
    finally:
        cluster.stop_all()
        if os.environ.get("RK_KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
