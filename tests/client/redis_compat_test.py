#!/usr/bin/env python3
"""Redis client libraries and tools against rangekv: redis-py (Debian's
python3-redis) with a connection pool and pipelines, scan_iter over keys
spread across 64 ranges on three real nodes, redis-cli --scan,
redis-benchmark, the commands libraries send on connect, error texts
compared with a real redis-server, and AUTH with --client-password-file.

    redis_compat_test.py path/to/rangekv

Every check is a named function; a failing one prints what broke, the
others still run, and the run ends with "redis_compat: N passed, N failed".
Set RK_KEEP_TMP=1 to keep the data directories and node logs; --only
NAME,NAME runs only the named checks.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client_test  # noqa: E402
from client_test import CheckFailed, expect, expect_eq, short, wait_for  # noqa: E402

try:
    import redis
except ImportError:
    print("redis_compat: FAIL: the redis module is missing (Debian's python3-redis; "
          "scripts/setup.sh installs it) for %s" % sys.executable)
    sys.exit(1)

RANGES = 64
TICK_MS = 50
BASE = 2000 + (os.getpid() % 400) * 10   # below client_test's and node_cluster's
PASSWORD = "pw-\x01not guessed"           # any bytes but a line end
SPREAD = 3000                             # keys over every range
USERS = 500                               # keys under "user:"


def raises(f, *args, **kw):
    """The exception f raises (a failure if none)."""
    try:
        r = f(*args, **kw)
    except Exception as e:     # noqa: BLE001 - the caller checks the kind
        return e
    raise CheckFailed("%s%s: want an error, got %s" % (
        getattr(f, "__name__", f), short(args), short(r)))


# ---- the cluster -----------------------------------------------------------------

class Cluster(client_test.Cluster):
    """Three rangekv processes on 127.0.0.1-3 with 64 ranges, started
    together (client_test's, on other ports and ranges)."""

    base = BASE
    n_ranges = RANGES

    def __init__(self, binary, tmp):
        super().__init__(binary, tmp)
        self.password_file = None

    def extra_args(self, i):
        return ["--client-password-file", self.password_file] if self.password_file else []

    def start_all(self):
        for i in (1, 2, 3):
            self.start(i)
        took, _ = wait_for("every range elects a leader", self.all_led, 60)
        for i in (1, 2, 3):
            wait_for("node %d's RESP port" % i, lambda: self.port_open(i), 10)
        return took

    def port_open(self, i):
        try:
            with socket.create_connection(self.client_addr(i), timeout=1):
                return True
        except OSError:
            return False

    def all_led(self, nodes=(1, 2, 3), exclude=None):
        for i in nodes:
            rs = self.ranges(i)
            if rs is None or len(rs) != RANGES or any(r["leader"] is None for r in rs):
                return False
        return True

    def log(self, i):
        return "".join(self.log_tail(i, 1000000))


def client(node=1, **kw):
    h, p = Cluster.client_addr(node)
    return redis.Redis(host=h, port=p, socket_timeout=15, **kw)


def raw(node, *cmds):
    """Sends RESP commands on one new connection; the replies as the raw
    bytes of each (a line, or a bulk with its header)."""
    h, p = Cluster.client_addr(node)
    with socket.create_connection((h, p), timeout=15) as s:
        out = b""
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for a in c:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        f = s.makefile("rb")
        return [read_reply(f) for _ in cmds]


def read_reply(f):
    line = f.readline()
    if not line:
        return None
    if line[:1] == b"$" and int(line[1:-2]) >= 0:
        return line + f.read(int(line[1:-2]) + 2)
    if line[:1] == b"*" and int(line[1:-2]) >= 0:
        return line + b"".join(read_reply(f) for _ in range(int(line[1:-2])))
    return line


# ---- the data ----------------------------------------------------------------------

def spread_keys():
    """Keys whose first byte covers 1..255 (every one of the 64 ranges),
    without the NUL and newline redis-cli's raw output cannot show."""
    keys = []
    for n in range(SPREAD):
        b = 1 + (n * 37) % 255
        if b == 10:
            b = 11
        keys.append(bytes([b]) + b"/spread/%d" % n)
    return keys


def user_keys():
    return [b"user:%d" % n for n in range(USERS)]


ALL = set()


def load(r):
    """Writes every key through a pooled client's pipelines."""
    keys = spread_keys() + user_keys()
    p = r.pipeline(transaction=False)
    for i, k in enumerate(keys):
        p.set(k, b"v%d" % i)
        if i % 500 == 499:
            expect(all(p.execute()), "pipelined SETs answered OK")
    expect(all(p.execute()), "pipelined SETs answered OK")
    ALL.clear()
    ALL.update(keys)


# ---- the checks --------------------------------------------------------------------

CHECKS = []


def check(f):
    CHECKS.append(f)
    return f


@check
def pool_and_pipelines(cl):
    pool = redis.ConnectionPool(host=Cluster.client_addr(1)[0], port=Cluster.client_addr(1)[1],
                                max_connections=8, socket_timeout=15)
    r = redis.Redis(connection_pool=pool)
    load(r)
    errors = []

    def worker(w):
        try:
            for i in range(200):
                k = b"pool/%d/%d" % (w, i % 20)
                r.incr(k)
            p = r.pipeline(transaction=False)
            for i in range(20):
                p.get(b"pool/%d/%d" % (w, i))
            vals = p.execute()
            if vals != [b"10"] * 20:
                errors.append("worker %d read %r" % (w, vals[:3]))
        except Exception as e:         # noqa: BLE001 - reported below
            errors.append("worker %d: %r" % (w, e))
    ts = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    expect(not errors, "8 threads over a pool of 8 connections", errors[:3])
    for w in range(8):
        for i in range(20):
            ALL.add(b"pool/%d/%d" % (w, i))
    return "%d keys written, %d INCRs from 8 threads" % (len(ALL) - 160, 1600)


@check
def scan_iter_every_key(cl):
    r = client(2)
    for count in (None, 1, 7, 1000, 20000):
        got = list(r.scan_iter(count=count) if count else r.scan_iter())
        expect_eq(len(got), len(set(got)), "scan_iter(count=%s): a key returned twice" % count)
        missing = ALL - set(got)
        extra = set(got) - ALL
        expect(not missing and not extra, "scan_iter(count=%s) over %d keys: %d missing, %d extra"
               % (count, len(ALL), len(missing), len(extra)), sorted(missing)[:3], sorted(extra)[:3])
    # Key order (the walk is in key order across ranges).
    got = list(r.scan_iter(count=100))
    expect_eq(got, sorted(got), "SCAN returns keys in key order")
    # A page is about COUNT keys (at most COUNT without MATCH).
    cur, page = r.scan(0, count=50)
    expect(cur != 0 and 0 < len(page) <= 50, "SCAN 0 COUNT 50: a page of at most 50", cur, len(page))
    return "%d keys over %d ranges, COUNT 1 to 20000" % (len(ALL), RANGES)


@check
def scan_match_type(cl):
    r = client(3)
    users = set(user_keys())
    expect_eq(set(r.scan_iter(match="user:*")), users, "MATCH user:*")
    expect_eq(set(r.scan_iter(match="user:*", count=3)), users, "MATCH user:* COUNT 3")
    want = {k for k in users if len(k) == 7 and k.startswith(b"user:1")}
    expect_eq(set(r.scan_iter(match="user:1?")), want, "MATCH user:1?")
    want = {k for k in users if k[5:6] in (b"1", b"2") and k.endswith(b"7")}
    expect_eq(set(r.scan_iter(match="user:[12]*7")), want, "MATCH user:[12]*7")
    want = {k for k in ALL if b"/spread/12" in k}
    expect_eq(set(r.scan_iter(match="*/spread/12*", count=500)), want, "MATCH */spread/12*")
    expect_eq(set(r.scan_iter(_type="string")), ALL, "TYPE string")
    expect_eq(set(r.scan_iter(_type="STRING", count=100)), ALL, "TYPE STRING")
    expect_eq(list(r.scan_iter(_type="hash")), [], "TYPE hash: no key is a hash")
    expect_eq(set(r.scan_iter(match="user:4*", _type="string", count=10)),
              {k for k in users if k.startswith(b"user:4")}, "MATCH, TYPE and COUNT")
    # KEYS and DBSIZE.
    expect_eq(set(r.keys("user:*")), users, "KEYS user:*")
    expect_eq(set(r.keys()), ALL, "KEYS *")
    expect_eq(r.keys("nothing:*"), [], "KEYS nothing:*")
    expect_eq(r.dbsize(), len(ALL), "DBSIZE")
    return "MATCH * ? [..], TYPE, KEYS, DBSIZE = %d" % len(ALL)


@check
def scan_during_writes(cl):
    """Keys present for the whole scan are returned; keys written and
    deleted meanwhile may or may not be."""
    r = client(1)
    w = client(2)
    volatile = [bytes([1 + (n * 53) % 255]) + b"/volatile/%d" % n for n in range(300)]
    w.mset({k: b"x" for k in volatile[:150]})
    got = set()
    cur, n = 0, 0
    while True:
        cur, page = r.scan(cur, count=40)
        got.update(page)
        n += 1
        if n % 5 == 0:
            i = n // 5
            w.delete(*volatile[(i * 10) % 150:(i * 10) % 150 + 10])
            w.mset({k: b"y" for k in volatile[150 + (i * 10) % 150:150 + (i * 10) % 150 + 10]})
        if cur == 0:
            break
    missing = ALL - got
    expect(not missing, "a key present for the whole scan was not returned", sorted(missing)[:3])
    w.delete(*volatile)
    return "%d pages while writing" % n


@check
def scan_cursor_errors(cl):
    r = client(1)
    cur, _ = r.scan(0, count=5)
    expect(0 < cur < 2 ** 64, "cursor is a decimal uint64", cur)
    expect_eq(len(r.scan(cur, count=5)[1]), 5, "a cursor resumes")
    again = r.scan(cur, count=5)
    expect_eq(len(again[1]), 5, "the same cursor again (a client retry)")
    for bad in (cur + 1000003, "abc", "-1", "18446744073709551616"):
        e = raises(r.scan, bad)
        expect("invalid cursor" in str(e), "SCAN %s" % bad, e)
    # Cursors belong to the node that gave them.
    e = raises(client(2).scan, cur)
    expect("invalid cursor" in str(e), "a cursor of node 1 on node 2", e)
    e = raises(r.execute_command, "SCAN", 0, "COUNT", 0)
    expect("syntax error" in str(e), "COUNT 0", e)
    e = raises(r.execute_command, "SCAN", 0, "COUNT", "x")
    expect("not an integer" in str(e), "COUNT x", e)
    e = raises(r.execute_command, "SCAN", 0, "FOO", "1")
    expect("syntax error" in str(e), "SCAN 0 FOO 1", e)
    e = raises(r.execute_command, "SCAN", 0, "MATCH")
    expect("syntax error" in str(e), "SCAN 0 MATCH", e)
    expect_eq(r.ping(), True, "connection usable after the errors")


@check
def redis_cli_scan(cl):
    h, p = Cluster.client_addr(3)
    out = subprocess.run(["redis-cli", "-h", h, "-p", str(p), "--scan"],
                         capture_output=True, timeout=120)
    expect_eq(out.returncode, 0, "redis-cli --scan exit status")
    lines = out.stdout.split(b"\n")[:-1]
    expect_eq(len(lines), len(ALL), "redis-cli --scan: keys printed")
    expect_eq(set(lines), ALL, "redis-cli --scan: the keys")
    out = subprocess.run(["redis-cli", "-h", h, "-p", str(p), "--scan", "--pattern", "user:3*"],
                         capture_output=True, timeout=60)
    expect_eq(set(out.stdout.split(b"\n")[:-1]), {k for k in user_keys() if k.startswith(b"user:3")},
              "redis-cli --scan --pattern user:3*")
    return "%d keys" % len(lines)


@check
def redis_cli_bigkeys(cl):
    """redis-cli --bigkeys: SCAN, then TYPE and STRLEN of every key."""
    h, p = Cluster.client_addr(1)
    r = client(1)
    r.set("big/one", "x" * 5000)
    try:
        out = subprocess.run(["redis-cli", "-h", h, "-p", str(p), "--bigkeys"],
                             capture_output=True, text=True, timeout=120)
    finally:
        r.delete("big/one")
    expect(out.returncode == 0, "redis-cli --bigkeys exit status", out.returncode, out.stderr[-300:])
    expect("Biggest string found '\"big/one\"' has 5000 bytes" in out.stdout,
           "redis-cli --bigkeys names the largest string", out.stdout[-400:])
    expect("%d strings with" % (len(ALL) + 1) in out.stdout,
           "redis-cli --bigkeys counts every key as a string", out.stdout[-400:])
    return "%d keys" % (len(ALL) + 1)


@check
def connect_commands(cl):
    r = client(1, client_name="compat-test")
    expect_eq(r.client_getname(), "compat-test", "client_name= (CLIENT SETNAME on connect)")
    cid = r.client_id()
    expect(isinstance(cid, int) and cid > 0, "CLIENT ID", cid)
    info = r.client_info()
    expect_eq((str(info.get("id")), info.get("name"), str(info.get("db"))),
              (str(cid), "compat-test", "0"), "CLIENT INFO fields")
    expect(any(c.get("name") == "compat-test" for c in r.client_list()), "CLIENT LIST names us")
    expect_eq(r.execute_command("CLIENT", "SETINFO", "LIB-NAME", "redis-py"), b"OK",
              "CLIENT SETINFO LIB-NAME (redis-py 5 sends it)")
    expect_eq(r.execute_command("CLIENT", "SETINFO", "LIB-VER", "5.0.1"), b"OK", "CLIENT SETINFO LIB-VER")
    expect("lib-name=redis-py" in r.execute_command("CLIENT", "INFO").decode(), "lib-name shown")
    expect_eq(r.execute_command("SELECT", 0), True, "SELECT 0")
    expect_eq(client(1, db=0).set("db0", "x"), True, "db=0 on connect")
    e = raises(client(1, db=1).get, "db0")
    expect("DB index is out of range" in str(e), "db=1 on connect", e)
    hello = r.execute_command("HELLO")
    d = dict(zip(hello[::2], hello[1::2]))
    expect_eq((d.get(b"server"), d.get(b"proto"), d.get(b"id") is not None), (b"redis", 2, True),
              "HELLO: Redis's map as an array")
    expect_eq(r.execute_command("HELLO", 2, "SETNAME", "h2")[:2], [b"server", b"redis"], "HELLO 2 SETNAME")
    expect_eq(r.client_getname(), "h2", "HELLO SETNAME set the name")
    e = raises(r.execute_command, "HELLO", 3)
    expect("unsupported protocol version" in str(e), "HELLO 3 is -NOPROTO", e)
    expect_eq(raw(1, ["HELLO", "3"])[0], b"-NOPROTO unsupported protocol version\r\n", "HELLO 3 raw")
    expect_eq(r.ping(), True, "usable after HELLO 3")
    r.delete("db0")


@check
def transactions_refused(cl):
    r = client(1)
    r.delete("tx/a", "tx/b")
    p = r.pipeline(transaction=True)
    p.set("tx/a", "1")
    p.incr("tx/b")
    e = raises(p.execute)
    expect("MULTI is not supported" in str(e), "pipeline(transaction=True)", e)
    expect_eq((r.get("tx/a"), r.get("tx/b")), (None, None),
              "nothing of a refused transaction was applied")
    got = raw(1, ["MULTI"], ["SET", "tx/a", "1"], ["EXEC"], ["GET", "tx/a"],
              ["MULTI"], ["MULTI"], ["DISCARD"], ["EXEC"], ["DISCARD"], ["WATCH", "tx/a"], ["UNWATCH"])
    expect(got[0].startswith(b"-ERR MULTI is not supported"), "MULTI", got[0])
    expect(got[1].startswith(b"-ERR command not run"), "a command after a refused MULTI", got[1])
    expect_eq(got[2], b"-EXECABORT Transaction discarded because of previous errors.\r\n", "EXEC")
    expect_eq(got[3], b"$-1\r\n", "the command after MULTI did not run")
    expect_eq(got[5], b"-ERR MULTI calls can not be nested\r\n", "nested MULTI")
    expect_eq(got[6], b"+OK\r\n", "DISCARD ends it")
    expect_eq(got[7], b"-ERR EXEC without MULTI\r\n", "EXEC without MULTI")
    expect_eq(got[8], b"-ERR DISCARD without MULTI\r\n", "DISCARD without MULTI")
    expect(got[9].startswith(b"-ERR WATCH is not supported"), "WATCH", got[9])
    expect_eq(got[10], b"+OK\r\n", "UNWATCH")


# Commands whose error reply must be Redis's own, byte for byte: each is
# sent to rangekv and to a real redis-server (both without a password;
# the server with --save "" and --appendonly no).
SAME_AS_REDIS = [
    ["NOSUCH"], ["NOSUCH", "a", "b c"], ["nosuch", "x" * 200],
    ["GET"], ["GET", "a", "b"], ["SET", "k"], ["MSET", "k"], ["INCRBY", "k", "x"],
    ["SET", "k", "v", "FOO"], ["SELECT", "16"], ["SELECT", "x"], ["SELECT", "0"], ["SELECT"],
    ["HELLO", "x"], ["HELLO", "2", "FOO"], ["HELLO", "2", "AUTH", "bob", "x"],
    ["AUTH", "x"], ["AUTH", "default", "x"], ["AUTH", "bob", "x"], ["AUTH"], ["AUTH", "a", "b", "c"],
    ["CLIENT"], ["CLIENT", "NOSUCH"], ["CLIENT", "SETNAME", "a b"], ["CLIENT", "SETNAME"],
    ["CLIENT", "GETNAME", "x"], ["CLIENT", "SETNAME", "n"], ["CLIENT", "GETNAME"],
    ["EXEC"], ["DISCARD"], ["UNWATCH"],
    ["SCAN"], ["SCAN", "x"], ["SCAN", "0", "COUNT", "0"], ["SCAN", "0", "COUNT", "x"],
    ["SCAN", "0", "BAD", "1"], ["SCAN", "0", "MATCH"], ["KEYS"], ["DBSIZE", "x"],
    ["INCR", "tx/str"],
]

# Redis's string commands rangekv answers by reshaping another command's
# answer (src/client/strings.c): the whole reply must be Redis's, byte for
# byte, with keys that exist and keys that do not, and their arity errors.
STRINGS_AS_REDIS = [
    ["SETNX", "s/a", "z"], ["SETNX", "s/b", "z"], ["GET", "s/b"], ["SETNX", "s/a"],
    ["STRLEN", "s/a"], ["STRLEN", "s/none"], ["STRLEN"],
    ["GETRANGE", "s/a", "1", "3"], ["GETRANGE", "s/a", "-3", "-1"], ["GETRANGE", "s/a", "0", "-1"],
    ["GETRANGE", "s/a", "-100", "100"], ["GETRANGE", "s/a", "4", "2"], ["GETRANGE", "s/a", "-1", "-3"],
    ["GETRANGE", "s/a", "5", "10"], ["GETRANGE", "s/a", "-5", "0"], ["GETRANGE", "s/none", "0", "1"],
    ["GETRANGE", "s/a", "x", "1"], ["GETRANGE", "s/a", "1"], ["SUBSTR", "s/a", "1", "2"],
    ["TYPE", "s/a"], ["TYPE", "s/none"], ["TYPE"],
    ["TTL", "s/a"], ["PTTL", "s/a"], ["TTL", "s/none"], ["PTTL", "s/none"], ["TTL", "s/a", "x"],
    ["EXPIRETIME", "s/a"], ["PEXPIRETIME", "s/none"],
    ["PERSIST", "s/a"], ["PERSIST", "s/none"], ["PERSIST"],
    ["GETEX", "s/a"], ["GETEX", "s/a", "PERSIST"], ["GETEX", "s/none"],
    ["CONFIG", "GET", "save"], ["CONFIG", "GET", "SAVE"], ["CONFIG", "GET", "nosuch*"],
    ["CONFIG"], ["CONFIG", "GET"], ["TIME", "x"],
]


@check
def replies_as_redis(cl):
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False
        wait_for("redis-server up", up, 10)
        setup = [["SET", "tx/str", "abc"], ["DEL", "s/a", "s/b"], ["SET", "s/a", "hello"]]
        ALL.update([b"tx/str", b"s/a", b"s/b"])
        cmds = SAME_AS_REDIS + STRINGS_AS_REDIS
        rk = raw(1, *(setup + cmds))[len(setup):]
        rd = raw_at(("127.0.0.1", port), *(setup + cmds))[len(setup):]
        # Malformed requests: the first line of the answer (the connection
        # is closed after it by both).
        for bad_req in PROTO_AS_REDIS:
            rk.append(first_line_at(Cluster.client_addr(1), bad_req))
            rd.append(first_line_at(("127.0.0.1", port), bad_req))
        for line in INLINE_AS_REDIS:
            rk.append(inline_at(Cluster.client_addr(1), line))
            rd.append(inline_at(("127.0.0.1", port), line))
    finally:
        srv.terminate()
        srv.wait()
    bad = [(c, a, b) for c, a, b in zip(cmds + [[repr(r)] for r in PROTO_AS_REDIS + INLINE_AS_REDIS],
                                       rk, rd) if a != b]
    expect(not bad, "replies differ from redis-server %s" % subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2],
        *["%s: rangekv %r, redis %r" % (" ".join(c)[:40], a, b) for c, a, b in bad[:6]])
    return "%d commands, %d malformed requests and %d inline lines, the same bytes as redis-server" % (
        len(cmds), len(PROTO_AS_REDIS), len(INLINE_AS_REDIS))


# Malformed requests whose protocol error must read as Redis's.
PROTO_AS_REDIS = [b"*abc\r\n", b"*1\r\n$abc\r\n", b"*1\r\n$-5\r\n"]

# Inline (telnet-style) lines, each on a connection of its own, whose
# replies must be Redis's: quotes, escapes, blanks, and unbalanced quotes
# (an error, then the connection closed).
INLINE_AS_REDIS = [
    b'ECHO "a b"\r\n', b"ECHO 'c d'\r\n", b'ECHO "\\x41\\x0a\\t\\"q\\\\"\r\n', b"ECHO 'it\\'s'\r\n",
    b"ECHO '\\n'\n", b'ECHO ""\r\n', b'ECHO a"b c"\r\n', b'ECHO "\\x4g"\r\n', b"ECHO a\rb\r\n",
    b"\x0b ECHO \x0c x \r\n", b'SET "in/a b" "v w"\r\n', b'GET "in/a b"\r\n', b"DEL 'in/a b'\r\n",
    b'ECHO "a\r\n', b"ECHO 'a\r\n", b'ECHO "a"b\r\n', b"ECHO 'a'b\r\n",
]


def inline_at(addr, line):
    with socket.create_connection(addr, timeout=15) as s:
        s.sendall(line)
        return read_reply(s.makefile("rb"))


def first_line_at(addr, data):
    with socket.create_connection(addr, timeout=15) as s:
        s.sendall(data)
        return s.makefile("rb").readline()


def raw_at(addr, *cmds):
    h, p = addr
    with socket.create_connection((h, p), timeout=15) as s:
        s.sendall(b"".join(b"*%d\r\n" % len(c) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in c) for c in cmds))
        f = s.makefile("rb")
        return [read_reply(f) for _ in cmds]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@check
def string_commands(cl):
    """redis-py's string helpers, and a clear refusal of key expiry."""
    r = client(2)
    r.delete("str/a", "str/b")
    expect_eq(r.set("str/a", "hello world"), True, "SET")
    expect_eq((r.setnx("str/a", "x"), r.setnx("str/b", "y"), r.get("str/b")), (False, True, b"y"),
              "SETNX on an existing and a new key")
    expect_eq((r.strlen("str/a"), r.strlen("str/none")), (11, 0), "STRLEN")
    expect_eq((r.getrange("str/a", 0, 4), r.getrange("str/a", -5, -1), r.getrange("str/none", 0, 9)),
              (b"hello", b"world", b""), "GETRANGE")
    expect_eq((r.type("str/a"), r.type("str/none")), (b"string", b"none"), "TYPE")
    expect_eq((r.ttl("str/a"), r.pttl("str/a"), r.ttl("str/none")), (-1, -1, -2), "TTL and PTTL")
    expect_eq(r.persist("str/a"), False, "PERSIST (no timeout to remove)")
    expect_eq(r.getex("str/a"), b"hello world", "GETEX without options")
    expect_eq(r.config_get("save"), {"save": ""}, "CONFIG GET save")
    expect_eq(r.config_get("append*"), {"appendonly": "yes", "appendfsync": "always"},
              "CONFIG GET append*")
    secs, usecs = r.time()
    expect(abs(secs + usecs / 1e6 - time.time()) < 5, "TIME", (secs, usecs))
    for name, f, args, kw in [("SET EX", r.set, ("str/a", "v"), {"ex": 10}),
                              ("SET PX", r.set, ("str/a", "v"), {"px": 10}),
                              ("SET KEEPTTL", r.set, ("str/a", "v"), {"keepttl": True}),
                              ("EXPIRE", r.expire, ("str/a", 10), {}),
                              ("SETEX", r.setex, ("str/a", 10, "v"), {}),
                              ("GETEX EX", r.getex, ("str/a",), {"ex": 10})]:
        e = raises(f, *args, **kw)
        expect("keys do not expire" in str(e), name, e)
    e = raises(r.set, "str/a", "v", get=True)
    expect("SET with GET is not supported" in str(e), "SET GET", e)
    e = raises(r.config_set, "save", "")
    expect("CONFIG is read-only" in str(e), "CONFIG SET", e)
    expect_eq(r.get("str/a"), b"hello world", "nothing refused was applied")
    r.delete("str/a", "str/b")


@check
def info_sections(cl):
    """INFO as redis-py parses it, with the fields redis-cli --stat reads."""
    h, p = Cluster.client_addr(3)
    r = client(3)
    before = r.info("stats")["total_commands_processed"]
    info = r.info()
    for f in ("used_memory", "connected_clients", "blocked_clients",
              "total_commands_processed", "total_connections_received", "uptime_in_seconds"):
        expect(isinstance(info.get(f), int) and info[f] >= 0, "INFO %s: a count" % f, info.get(f))
    expect(info["used_memory"] > 1 << 20, "INFO used_memory: the node's resident bytes", info["used_memory"])
    expect(info["connected_clients"] >= 1, "INFO connected_clients", info["connected_clients"])
    expect(info["total_commands_processed"] > before, "INFO counts commands",
           before, info["total_commands_processed"])
    expect_eq((info.get("tcp_port"), info.get("node_id"), info.get("role"), info.get("loading")),
              (p, 3, "master", 0), "INFO tcp_port, node_id, role, loading")
    expect(info.get("ranges") == RANGES and 0 <= info.get("leaders", -1) <= RANGES,
           "INFO ranges and leaders", info.get("ranges"), info.get("leaders"))
    stats = r.info("stats")
    expect("total_commands_processed" in stats and "role" not in stats and "ranges" not in stats,
           "INFO stats: that section only", sorted(stats))
    expect_eq(sorted(r.info("replication")), ["connected_slaves", "role"], "INFO replication")
    expect("redis_version" in r.info("all") and r.info("nosuch") == {}, "INFO all / an unknown section")
    return "%d fields" % len(info)


@check
def redis_benchmark(cl):
    h, p = Cluster.client_addr(2)
    args = ["redis-benchmark", "-h", h, "-p", str(p), "-t", "set,get", "-n", "1000", "-q"]
    if cl.password_file:
        args += ["-a", PASSWORD]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    ALL.add(b"key:__rand_int__")   # what -t set writes
    text = out.stdout + out.stderr
    expect_eq(out.returncode, 0, "redis-benchmark exit status")
    rates = [l for l in text.replace("\r", "\n").split("\n")
             if ("SET:" in l or "GET:" in l) and "requests per second" in l]
    expect(len(rates) == 2, "redis-benchmark -t set,get -n 1000: both rates", text[-300:])
    expect("NOAUTH" not in text and "ERR" not in text.replace("ERROR", ""),
           "redis-benchmark saw errors", text[-300:])
    expect("Could not fetch server CONFIG" not in text,
           "redis-benchmark's CONFIG GET save / appendonly answered", text[-300:])
    return "; ".join(l.strip().split(" p50")[0] for l in rates)


@check
def keys_limit(cl):
    """KEYS answers at most 100,000 keys, then an error pointing to SCAN;
    DBSIZE and SCAN have no such limit."""
    r = client(1)
    big = [b"big/%06d" % n for n in range(100001)]
    # Pipelines of 10 MSETs of 1,000 keys: a connection checks each new
    # key against the keys of its commands in flight, one by one (a
    # pipeline of 100,000 keys in flight costs seconds of loop time).
    batches = [big[i:i + 1000] for i in range(0, len(big), 1000)]
    for attempt in range(5):   # MSET is safe to repeat after -TIMEOUT
        failed = []
        for j in range(0, len(batches), 10):
            p = r.pipeline(transaction=False)
            for b in batches[j:j + 10]:
                p.mset({k: b"b" for k in b})
            res = p.execute(raise_on_error=False)
            failed += [b for b, x in zip(batches[j:j + 10], res) if x is not True]
        batches = failed
        if not batches:
            break
    expect(not batches, "MSET of 100,001 keys: %d batches failed 5 times" % len(batches))
    ALL.update(big)
    expect_eq(r.dbsize(), len(ALL), "DBSIZE over 100,001 keys")
    e = raises(r.keys, "big/*")
    expect("more than 100000 keys" in str(e), "KEYS big/* (100,001 matches)", e)
    expect_eq(len(r.keys("big/0*")), 100000, "KEYS big/0* (100,000 matches)")
    expect_eq(len(r.keys("*/spread/*")), SPREAD, "KEYS */spread/* (a full walk, 3,000 matches)")
    n = sum(1 for _ in r.scan_iter(match="big/*", count=5000))
    expect_eq(n, len(big), "SCAN MATCH big/*")
    # KRANGE past 10,000 pairs in one range (a page per 10,000): no gap.
    got = r.execute_command("KRANGE", "big/", "big0", "LIMIT", 100001)
    expect(got[::2] == big, "KRANGE big/ big0 LIMIT 100001: every key once, in order",
           len(got) // 2, got[-2:])
    got = r.execute_command("KRANGE", "big/099990", "", "LIMIT", 30)
    expect_eq(got[:22:2], big[99990:], "KRANGE across the end of big/ into the next ranges")
    return "DBSIZE %d" % len(ALL)


@check
def scan_across_leader_loss(cl):
    """kill -9 of a node that leads about a third of the ranges while a
    scan through another node is half-way: the steps to its ranges wait
    for new leaders (the router retries reads), and every key is still
    returned."""
    r = client(1)
    led = {x["id"]: x["leader"] for x in cl.ranges(1)}
    expect(3 in led.values(), "node 3 leads some range", led)
    got, cur, pages, killed = set(), 0, 0, False
    while True:
        cur, page = r.scan(cur, count=1500)
        got.update(page)
        pages += 1
        if pages == 10:
            cl.kill9(3)
            killed = True
        if cur == 0:
            break
    expect(killed, "the scan ended before the kill (%d pages)" % pages)
    missing = ALL - got
    expect(not missing, "keys missed by a scan across a leader's death: %d" % len(missing),
           sorted(missing)[:3])
    cl.start(3)
    wait_for("every range led again after the restart", cl.all_led, 60)
    return "%d pages, node 3 killed at page 10" % pages


@check
def auth_without_password(cl):
    got = raw(1, ["AUTH", "x"], ["AUTH", "default", "x"], ["AUTH", "bob", "x"], ["PING"])
    expect(got[0].startswith(b"-ERR AUTH <password> called without any password configured"),
           "AUTH x with no password", got[0])
    expect_eq(got[1:], [b"+OK\r\n", b"-WRONGPASS invalid username-password pair or user is "
                        b"disabled.\r\n", b"+PONG\r\n"], "AUTH default x / AUTH bob x / PING")


# -- with --client-password-file (the cluster restarted with it)

@check
def auth_required(cl):
    expect("can be read by its group or others" in cl.log(1),
           "a readable password file was not warned about")
    expect(PASSWORD not in "".join(cl.log(i) for i in (1, 2, 3)), "the password is in a log")
    e = raises(client(1).get, "user:1")
    expect(isinstance(e, redis.exceptions.AuthenticationError) and "Authentication required" in str(e),
           "no password: NOAUTH", e)
    # (redis-py 4 raises WRONGPASS as a ResponseError, 5 as an AuthenticationError)
    e = raises(client(1, password="wrong").ping)
    expect("WRONGPASS" in str(e) or isinstance(e, redis.exceptions.AuthenticationError),
           "wrong password", e)
    e = raises(client(1, username="bob", password=PASSWORD).ping)
    expect("WRONGPASS" in str(e) or isinstance(e, redis.exceptions.AuthenticationError),
           "user bob", e)
    r = client(2, password=PASSWORD)
    expect_eq(r.get("user:1"), b"v%d" % (SPREAD + 1), "with the password: the data survived the restart")
    r = client(3, username="default", password=PASSWORD)
    expect_eq(r.dbsize(), len(ALL), "AUTH default <password>")
    p = r.pipeline(transaction=False)
    for i in range(50):
        p.set(b"auth/%d" % i, i)
    expect(all(p.execute()), "a pipeline after AUTH")
    r.delete(*[b"auth/%d" % i for i in range(50)])
    expect_eq(set(client(1, password=PASSWORD).scan_iter(count=500)), ALL, "scan_iter after AUTH")
    pw = PASSWORD.encode("latin-1")
    got = raw(1, ["PING"], ["GET", "k"], ["CLIENT", "ID"], ["SCAN", "0"], ["HELLO", "2"],
              ["HELLO", "3"], ["AUTH", "wrong"], ["AUTH", PASSWORD[:-1]], ["AUTH", PASSWORD + "x"],
              ["PING"], [b"AUTH", pw], ["PING"], ["AUTH", "wrong"], ["PING"])
    noauth = b"-NOAUTH Authentication required.\r\n"
    wrong = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    expect_eq(got[:4], [noauth] * 4, "commands before AUTH")
    expect(got[4].startswith(b"-NOAUTH HELLO must be called with the client already authenticated"),
           "HELLO 2 before AUTH", got[4])
    expect_eq(got[5], b"-NOPROTO unsupported protocol version\r\n", "HELLO 3 before AUTH")
    expect_eq(got[6:10], [wrong] * 3 + [noauth], "wrong passwords (a prefix, a longer one)")
    expect_eq(got[10:], [b"+OK\r\n", b"+PONG\r\n", wrong, b"+PONG\r\n"],
              "AUTH, then a failed AUTH keeps the connection authenticated")
    got = raw(2, ["HELLO", "2", "AUTH", "default", PASSWORD, "SETNAME", "hx"], ["CLIENT", "GETNAME"])
    expect(got[0].startswith(b"*14\r\n$6\r\nserver"), "HELLO 2 AUTH default pw SETNAME", got[0])
    expect_eq(got[1], b"$2\r\nhx\r\n", "HELLO's SETNAME")
    got = raw(3, ["QUIT"])
    expect_eq(got[0], b"+OK\r\n", "QUIT before AUTH")
    h, p = Cluster.client_addr(3)
    out = subprocess.run(["redis-cli", "-h", h, "-p", str(p), "--no-auth-warning", "-a", PASSWORD,
                          "--scan", "--pattern", "user:*"], capture_output=True, timeout=60)
    expect_eq(set(out.stdout.split(b"\n")[:-1]), set(user_keys()), "redis-cli -a --scan")
    # The CLI's KV verbs: --password-file or RANGEKV_PASSWORD_FILE.
    addr = Cluster.addr(2, 1)
    env = dict(os.environ)
    env.pop("RANGEKV_PASSWORD_FILE", None)
    out = subprocess.run([cl.bin, "get", "user:1", "--addr", addr], capture_output=True, env=env,
                         timeout=30)
    expect(out.returncode == 1 and b"NOAUTH" in out.stderr, "rangekv get without a password",
           out.returncode, out.stderr)
    out = subprocess.run([cl.bin, "get", "user:1", "--addr", addr, "--password-file",
                          cl.password_file], capture_output=True, env=env, timeout=30)
    expect_eq((out.returncode, out.stdout), (0, b"v%d\n" % (SPREAD + 1)), "rangekv get --password-file")
    env["RANGEKV_PASSWORD_FILE"] = cl.password_file
    out = subprocess.run([cl.bin, "scan", "user:1", "user:2", "--addr", addr, "--limit", "3"],
                         capture_output=True, env=env, timeout=30)
    expect(out.returncode == 0 and out.stdout.count(b"\n") == 3, "RANGEKV_PASSWORD_FILE with scan",
           out.returncode, out.stdout, out.stderr)
    wrong = os.path.join(os.path.dirname(cl.password_file), "wrong")
    with open(wrong, "w") as fh:
        fh.write("nope\n")
    out = subprocess.run([cl.bin, "get", "user:1", "--addr", addr, "--password-file", wrong],
                         capture_output=True, env=env, timeout=30)
    expect(out.returncode == 1 and b"WRONGPASS" in out.stderr, "rangekv get with a wrong password",
           out.returncode, out.stderr)
    out = subprocess.run([cl.bin, "get", "k", "--password-file", wrong + ".missing"],
                         capture_output=True, env=env, timeout=30)
    expect_eq(out.returncode, 2, "rangekv get --password-file MISSING: bad usage")


def run_checks(cl, names):
    passed = failed = 0
    for f in CHECKS:
        if f.__name__ not in names:
            continue
        t0 = time.time()
        try:
            detail = f(cl)
            print("  ok    %-24s %6.2f s%s" % (f.__name__, time.time() - t0,
                                              "  (%s)" % detail if detail else ""), flush=True)
            passed += 1
        except Exception as e:     # noqa: BLE001 - every check reports
            failed += 1
            why = str(e) if isinstance(e, CheckFailed) else "%s: %s" % (type(e).__name__, e)
            why = why if len(why) < 600 else why[:600] + "..."
            print("  FAIL  %-24s %6.2f s  %s" % (f.__name__, time.time() - t0, why), flush=True)
            if not isinstance(e, CheckFailed):
                print("".join(traceback.format_tb(e.__traceback__, limit=4))[-1500:])
        dead = cl.dead()
        if dead:
            print("redis_compat: FAIL: node(s) %s died during %s" % (dead, f.__name__))
            for i in dead:
                sys.stdout.writelines("    " + l + "\n" for l in cl.log(i).splitlines()[-15:])
            return passed, failed + 1
    return passed, failed


OPEN = ["pool_and_pipelines", "scan_iter_every_key", "scan_match_type", "scan_during_writes",
        "scan_cursor_errors", "redis_cli_scan", "redis_cli_bigkeys", "connect_commands", "transactions_refused",
        "replies_as_redis", "string_commands", "info_sections", "redis_benchmark", "keys_limit", "scan_across_leader_loss",
        "auth_without_password"]
WITH_PASSWORD = ["auth_required", "redis_benchmark"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rangekv", help="path to the rangekv binary")
    ap.add_argument("--only", help=argparse.SUPPRESS)
    a = ap.parse_args()
    only = set(a.only.split(",")) if a.only else None
    if only is not None:
        only.add("pool_and_pipelines")   # loads the keys the others look for
    tmp = tempfile.mkdtemp(prefix="rk-compat-")
    cl = Cluster(a.rangekv, tmp)
    passed = failed = 0
    try:
        took = cl.start_all()
        print("redis_compat: redis-py %s, 3 nodes, %d ranges, all led after %.2f s" %
              (redis.__version__, RANGES, took), flush=True)
        p, f = run_checks(cl, [n for n in OPEN if only is None or n in only])
        passed, failed = passed + p, failed + f
        status = cl.stop_all()
        expect(all(s == 0 for s in status.values()), "nodes stopped cleanly", status)
        cl.password_file = os.path.join(tmp, "password")
        with open(cl.password_file, "w") as fh:
            fh.write(PASSWORD + "\n")
        os.chmod(cl.password_file, 0o644)    # readable by others: warned about
        took = cl.start_all()
        print("redis_compat: restarted with --client-password-file, all led after %.2f s" % took,
              flush=True)
        p, f = run_checks(cl, [n for n in WITH_PASSWORD if only is None or n in only])
        passed, failed = passed + p, failed + f
        status = cl.stop_all()
        expect(all(s == 0 for s in status.values()), "nodes stopped cleanly", status)
    except CheckFailed as e:
        failed += 1
        print("redis_compat: FAIL: %s" % e)
        for i in (1, 2, 3):
            print("  node %d log ends:" % i)
            sys.stdout.writelines("    " + l + "\n" for l in cl.log(i).splitlines()[-5:])
    finally:
        cl.stop_all()
        if os.environ.get("RK_KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    print("redis_compat: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
