"""Pipelined writes through quick splits of one hot range, on three real
nodes (127.0.0.1-3, ports in 20000-20499).

    split_order_test.py BIN

Twenty connections (spread over the three nodes) pipeline writes, 16 a
round, each of its own 40 keys, which lie across the whole hot range;
the values count up per connection. One write in four is an MSET of
three of its keys (one PUT of three pairs while they are in one range:
a split between them cuts it). Meanwhile the range is split seven
times, one split right after the other, between each connection's keys.
A connection's batches formed before its node learned a split carry keys
of both halves (docs/client.md, "Ordering on a connection").

Checks: no write is answered an error (-TIMEOUT, -TRYAGAIN: before
batches were sent on in parts, such a batch was resent whole until its
deadline, and so was an MSET cut by a split before it was sent again as
one PUT per range); every acknowledged write reads back, and each key holds the
last value its connection had acknowledged for it (a later write of a key
never applies before an earlier one of the same connection).
"""
import os
import random
import re
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "node"))
import cluster as fc  # noqa: E402
import spans  # noqa: E402
from resp import encode  # noqa: E402

BIN = sys.argv[1]
# A block of 12 in the band 20000-20479, held by lock for the test's life
# (a pid-chosen block alone let two runs at once share one).
BASE = fc.claim_block(20000, 40, 12)

CONNS, KEYS, PIPE = 20, 40, 16
SPLITS = ["k%03d" % j for j in range(5, KEYS, 5)]  # seven, between the keys


def addr(i, kind):
    return "127.0.0.%d:%d" % (i, BASE + kind * 3 + i)


def fail(msg):
    print("split_order_test: FAIL: " + msg, flush=True)
    sys.exit(1)


NODES = spans.Nodes(addr, fail, http_timeout=10)


def split(key):
    """Asks each node until the leader answers 200."""
    q = "/api/v1/split?key=" + urllib.parse.quote(key, safe="")
    for _ in range(200):
        for i in (1, 2, 3):
            st, _ = NODES.http(i, "POST", q)
            if st == 200:
                return
        time.sleep(0.02)
    fail("split at %r: no leader answered 200" % key)


def metric(i, name):
    text = urllib.request.urlopen("http://%s/metrics" % addr(i, 2), timeout=5).read().decode()
    m = re.search(r"^%s (\S+)$" % name, text, re.M)
    return float(m.group(1)) if m else 0.0


class Writer:
    """One connection: rounds of PIPE SETs of its keys, sent in one write;
    last[key] the value of the last SET of it acknowledged, errors the
    error replies."""

    def __init__(self, w):
        self.w = w
        self.keys = ["k%03d-c%02d" % (j, w) for j in range(KEYS)]
        self.last, self.errors, self.acked = {}, [], 0
        self.cc = NODES.conn_wait(w % 3 + 1)
        self.rng = random.Random(w)
        self.n = 0

    def run(self, stop):
        while not stop.is_set():
            sent = []
            for j in range(PIPE):
                pairs = []
                for k in (self.rng.sample(self.keys, 3) if j % 4 == 3
                          else [self.rng.choice(self.keys)]):
                    self.n += 1
                    pairs.append((k, "c%02d-%07d" % (self.w, self.n)))
                sent.append(pairs)
            self.cc.sock.sendall(b"".join(
                encode("MSET" if len(p) > 1 else "SET", *[x for kv in p for x in kv])
                for p in sent))
            for pairs in sent:
                r = self.cc._reply()
                for k, v in pairs:
                    if r == "OK":
                        self.last[k] = v
                    else:
                        self.last.pop(k, None)  # its value is not known now
                if r == "OK":
                    self.acked += 1
                else:
                    self.errors.append((pairs, str(r)))


def main():
    top = tempfile.mkdtemp(prefix="rk-split-order-")
    procs = {i: spans.start_node(BIN, i, top, addr, ("--request-timeout", "3000"))
             for i in (1, 2, 3)}
    try:
        spans.wait("every range led", lambda: (lambda rs: rs and len(rs) == 2 and
                                               all(r["leader"] for r in rs))(NODES.ranges(1)),
                   60, fail)
        writers = [Writer(w) for w in range(CONNS)]
        stop = threading.Event()
        ts = [threading.Thread(target=wr.run, args=(stop,)) for wr in writers]
        for t in ts:
            t.start()
        time.sleep(1.0)
        t0 = time.time()
        for key in SPLITS:
            split(key)
        took = time.time() - t0
        time.sleep(4.0)  # beyond the 3 s deadline of anything caught in a split
        stop.set()
        for t in ts:
            t.join()
        errors = [e for wr in writers for e in wr.errors]
        acked = sum(wr.acked for wr in writers)
        resplits = sum(metric(i, "rangekv_router_resplits_total") for i in (1, 2, 3))
        print("split_order_test: %d writes (SET, MSET) acknowledged, %d errors, %d splits in %.2f s, "
              "%d batches sent on in parts" % (acked, len(errors), len(SPLITS), took, resplits),
              flush=True)
        if errors:
            fail("%d writes answered an error, e.g. %r" % (len(errors), errors[:3]))
        if acked < CONNS * PIPE * 10:
            fail("too few writes acknowledged: %d" % acked)
        cc = NODES.conn_wait(1)
        for wr in writers:
            keys = sorted(wr.last)
            vals = cc.call("MGET", *keys)
            for k, v in zip(keys, vals):
                if v != wr.last[k].encode():
                    fail("%s holds %r, the last SET of it acknowledged was %r" %
                         (k, v, wr.last[k]))
        rs = NODES.ranges(1)
        if rs is None or len(rs) != 2 + len(SPLITS) or not spans.tiles(rs):
            fail("the ranges after the splits: %r" % rs)
        print("split_order_test: OK", flush=True)
    finally:
        spans.kill_all(procs, top)


if __name__ == "__main__":
    main()
