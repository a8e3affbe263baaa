"""Client workloads of the fault harness; every operation is recorded with
its invoke and return time (time.monotonic()) for linearize.py.

- Register: threads doing GET/SET/CAS/INCR/DEL on keys spread over every
  range, each operation through a random node (any node forwards to the
  range's leader).
- Sequence: threads calling SEQ.NEXT on a few names.
- Probe: writers through the other nodes and readers on one node's own
  client port, on the keys of the ranges that node leads: a lease read the
  node serves while it wrongly believes it leads is a stale read here.
- Durability: each writer owns keys and writes increasing values to them;
  after every node was killed at once, every acknowledged value (or a later
  one) must be readable.

Outcomes: a reply is recorded as it is; -TRYAGAIN (certainly not applied)
and a connection that could not be opened (nothing sent) are not recorded;
-TIMEOUT, a lost connection or no reply in time are recorded with an
unknown outcome (return time infinity).
"""
import itertools
import random
import threading
import time

from cluster import client_addr
from linearize import INF, Op
from resp import Conn, Err

REPLY_TIMEOUT = 12.0     # > --request-timeout (5 s) plus the longest pause (4 s)
FRESH = itertools.count(1)   # values no one wrote before (next() is atomic)
NOT_SENT = object()      # what Client.do returns when nothing was recorded
UNKNOWN = object()       # ... when the outcome is unknown (recorded as such)


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.register, self.sequence = [], []
        self.unexpected = []          # error replies outside the contract

    def add(self, op):
        with self.lock:
            (self.sequence if op.kind == "seq" else self.register).append(op)

    def counts(self):
        ops = self.register + self.sequence
        return sum(1 for op in ops if op.ret != INF), sum(1 for op in ops if op.ret == INF)


def command(kind, key, args):
    name = {"get": "GET", "set": "SET", "del": "DEL", "cas": "CAS", "incr": "INCR",
            "seq": "SEQ.NEXT"}[kind]
    return (name, key.encode("latin-1")) + tuple(str(a).encode("latin-1") for a in args)


class Client:
    """One client: a connection per node, opened on first use and dropped
    after any error on it."""

    def __init__(self, cid, history):
        self.cid, self.history = cid, history
        self.conns = {}

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns.clear()

    def do(self, node, kind, key, args=()):
        """Runs one operation through node; returns its output (None: a
        missing key), UNKNOWN or NOT_SENT."""
        try:
            if node not in self.conns:
                self.conns[node] = Conn(client_addr(node), REPLY_TIMEOUT)
        except OSError:
            return NOT_SENT
        who = "%d@n%d" % (self.cid, node)
        call = time.monotonic()
        try:
            r = self.conns[node].call(*command(kind, key, args))
        except (OSError, EOFError, ValueError):
            self.conns.pop(node).close()
            self.history.add(Op(who, kind, key, args, None, call, INF))
            return UNKNOWN
        ret = time.monotonic()
        if isinstance(r, Err):
            if r.kind() == "TRYAGAIN":
                return NOT_SENT
            if kind == "incr" and "not an integer" in r.msg:
                out = "ERR"
            else:
                if r.kind() != "TIMEOUT":
                    self.history.unexpected.append("%s %s %r: %s" % (who, kind, key, r.msg))
                self.history.add(Op(who, kind, key, args, None, call, INF))
                return UNKNOWN
        elif kind == "get":
            out = None if r is None else r.decode("latin-1")
        else:
            out = r
        self.history.add(Op(who, kind, key, args, out, call, ret))
        return out


def keys_in(spans, per_range, tag):
    """per_range keys in each range: its start plus a tag (the ranges are cut
    by 8-byte prefixes, so start + b"\\x05..." is inside a range of the
    uniform cut). Keys are str (latin-1) for the checker."""
    out = {}
    for rid, (start, _) in sorted(spans.items()):
        out[rid] = [(start + b"\x05%s%d" % (tag.encode(), j)).decode("latin-1")
                    for j in range(per_range)]
    return out


class Workload:
    """Client threads running `body(client, rnd)` in a loop until stop().
    Thread t starts after t * stagger seconds."""

    def __init__(self, history, threads, seed, stagger=0.0):
        self.history, self.n, self.seed, self.stagger = history, threads, seed, stagger
        self.done = threading.Event()
        self.threads = []
        self.errors = []

    def start(self):
        for t in range(self.n):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self.threads.append(th)
        return self

    def _run(self, t):
        client = Client(self.first_client + t, self.history)
        rnd = random.Random(self.seed * 1000 + self.first_client + t)
        try:
            self.done.wait(t * self.stagger)
            while not self.done.is_set():
                if self.body(client, rnd) is NOT_SENT:
                    time.sleep(0.02)      # a node down or no leader: not a busy loop
        except Exception as e:            # a harness bug: reported, fails the run
            self.errors.append("client %d: %s: %s" % (t, type(e).__name__, e))
        finally:
            client.close()

    def halt(self):
        """Asks the threads to stop after their current operation."""
        self.done.set()

    def stop(self):
        self.done.set()
        for th in self.threads:
            th.join(timeout=2 * REPLY_TIMEOUT)
        if any(th.is_alive() for th in self.threads):
            self.errors.append("a client thread did not stop")


class Register(Workload):
    first_client = 0
    MIX = (("get", 40), ("set", 25), ("cas", 15), ("incr", 10), ("del", 10))

    def __init__(self, history, keys, nodes, threads, seed):
        super().__init__(history, threads, seed)
        self.keys, self.nodes = keys, nodes

    def body(self, client, rnd):
        key = rnd.choice(self.keys)
        kind = rnd.choices([k for k, _ in self.MIX], [w for _, w in self.MIX])[0]
        node = rnd.choice(self.nodes)
        if kind == "set":
            # An integer, so that INCR applies to it, and a multiple of 1000
            # nobody wrote before, so that INCRs on it do not reach another.
            return client.do(node, kind, key, (str(next(FRESH) * 1000),))
        if kind == "cas":
            # Expect what a GET just returned, so that some CAS succeed.
            seen = client.do(node, "get", key)
            if seen is NOT_SENT or seen is UNKNOWN:
                return seen
            return client.do(node, kind, key, (seen or "", str(next(FRESH) * 1000)))
        return client.do(node, kind, key)


class Sequence(Workload):
    first_client = 100

    def __init__(self, history, names, nodes, threads, seed):
        super().__init__(history, threads, seed)
        self.names, self.nodes = names, nodes

    def body(self, client, rnd):
        count = 1 if rnd.random() < 0.8 else rnd.randint(2, 5)
        return client.do(rnd.choice(self.nodes), "seq", rnd.choice(self.names), (count,))


class Probe(Workload):
    """Writers through the nodes other than `target`, readers on `target`'s
    own client port, on keys of ranges `target` leads."""
    first_client = 200

    def __init__(self, history, keys, target, threads, seed, readers_share=0.75, stagger=0.0):
        super().__init__(history, threads, seed, stagger)
        self.keys, self.target = keys, target
        self.others = [i for i in (1, 2, 3) if i != target]
        self.readers = int(threads * readers_share)

    def body(self, client, rnd):
        key = rnd.choice(self.keys)
        if client.cid - self.first_client < self.readers:
            return client.do(self.target, "get", key)
        return client.do(rnd.choice(self.others), "set", key, ("p%d" % next(FRESH),))


class Durable(Workload):
    """Each client owns keys and writes 1, 2, 3... to each in turn."""
    first_client = 300

    def __init__(self, history, keys, nodes, threads, seed):
        super().__init__(history, threads, seed)
        self.nodes = nodes
        self.owned = [keys[t::threads] for t in range(threads)]
        self.next = {k: 1 for k in keys}
        self.acked = {k: 0 for k in keys}       # highest acknowledged value
        self.sent = {k: 0 for k in keys}        # highest value ever sent

    def body(self, client, rnd):
        key = rnd.choice(self.owned[client.cid - self.first_client])
        v = self.next[key]
        out = client.do(rnd.choice(self.nodes), "set", key, (str(v),))
        if out is NOT_SENT:
            return NOT_SENT
        self.sent[key] = v
        self.next[key] = v + 1
        if out == "OK":
            self.acked[key] = v
        return out

    def check(self, client, nodes):
        """Reads every key back (retrying while leaders settle); returns the
        keys whose acknowledged value is lost, with what was read."""
        lost = []
        for key in sorted(self.acked):
            for attempt in range(50):
                got = client.do(nodes[attempt % len(nodes)], "get", key)
                if got is not NOT_SENT and got is not UNKNOWN:
                    break
                time.sleep(0.1)
            else:
                lost.append("%r: not readable after 50 attempts" % key)
                continue
            read = 0 if got is None else int(got)
            if not self.acked[key] <= read <= self.sent[key]:
                lost.append("%r: acknowledged %d (sent up to %d), read %r" %
                            (key, self.acked[key], self.sent[key], got))
        return lost
