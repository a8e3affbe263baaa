#!/usr/bin/env python3
"""Linearizability checker for rangekv histories (standard library only).

A history is a list of Op: one client call with its invoke and return time
(time.monotonic() of one process). An operation whose outcome is unknown
(-TIMEOUT, a lost connection, a crashed client) has ret = math.inf and
out = None: it may have taken effect at any point after its invocation, or
never. An operation answered -TRYAGAIN certainly did not apply and must not
be recorded at all.

Register histories (get/set/del/cas/incr) are checked key by key with Wing &
Gong's search and Lowe's memoization: a configuration (set of linearized
operations, register value) seen once is never explored again. Each key has a
budget of search steps and cached configurations; a key that exhausts it is
"unknown", neither passed nor failed, and the caller decides whether enough
keys were decided (fault.py asks for 99%).

Sequence histories (SEQ.NEXT) are checked directly: IDs never repeat, an
operation that returned before another was invoked got a smaller ID, and an
ID is missing only if a call with an unknown outcome could have taken it.

    python3 linearize.py HISTORY.json      # check a history saved by fault.py

The JSON file holds {"register": [op...], "sequence": [op...]}, each op a list
[client, kind, key, args, out, invoke, return-or-null].
"""
import json
import math
import re
import sys
from collections import namedtuple

INF = math.inf
I64_MIN, I64_MAX = -2 ** 63, 2 ** 63 - 1

# kind: get, set, del, cas, incr (register) or seq (sequence).
# args: () for get/del/incr, (value,) for set, (expected, new) for cas,
#   (count,) for seq.
# out: get -> value or None (missing); set -> "OK"; del, cas -> 0 or 1;
#   incr -> the new integer, or "ERR" (the value is not an integer or would
#   overflow); seq -> the first ID handed out. None when the outcome is unknown.
Op = namedtuple("Op", "client kind key args out call ret")

DEFAULT_BUDGET = 200_000     # search steps and cached configurations per key


def unknown(op):
    return op.ret == INF


# ---- the register model ------------------------------------------------------

_INT = re.compile(r"-?(0|[1-9][0-9]*)\Z")


def as_int(value):
    """The integer a stored value holds for INCR, or None if it holds none."""
    if value is None:
        return 0                # INCR of a missing key starts from 0
    if not _INT.match(value):
        return None
    n = int(value)
    return n if I64_MIN <= n <= I64_MAX else None


def step(state, op):
    """Applies op to the register value state (None: missing).
    Returns (allowed, new state): allowed is False when op's recorded output
    cannot come from this state. An op of unknown outcome is always allowed."""
    k = op.kind
    if k == "get":
        return op.out == state, state
    if k == "set":
        return True, op.args[0]
    if k == "del":
        out = 0 if state is None else 1
        return unknown(op) or op.out == out, None
    if k == "cas":
        expected, new = op.args
        hit = (state if state is not None else "") == expected
        return unknown(op) or op.out == int(hit), new if hit else state
    if k == "incr":
        n = as_int(state)
        if n is None or n + 1 > I64_MAX:
            return unknown(op) or op.out == "ERR", state
        return unknown(op) or op.out == n + 1, str(n + 1)
    raise ValueError("not a register operation: %r" % (op,))


# ---- Wing & Gong with Lowe's memoization ---------------------------------------

class _Entry:
    """A node of the doubly linked list of call and return events."""
    __slots__ = ("op", "idx", "is_call", "match", "prev", "next")

    def __init__(self, op, idx, is_call):
        self.op, self.idx, self.is_call = op, idx, is_call
        self.match = self.prev = self.next = None


def _event_list(ops):
    """The events in time order (a return before a call at the same instant:
    such operations do not overlap), behind a sentinel head."""
    events = []
    for i, op in enumerate(ops):
        call, ret = _Entry(op, i, True), _Entry(op, i, False)
        call.match, ret.match = ret, call
        events.append((op.call, 1, i, call))
        events.append((op.ret, 0, i, ret))
    events.sort(key=lambda e: e[:3])
    head = _Entry(None, -1, False)
    prev = head
    for *_, e in events:
        prev.next, e.prev = e, prev
        prev = e
    return head


def _lift(call):
    """Takes an operation's call and return out of the list."""
    for e in (call, call.match):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev


def _unlift(call):
    for e in (call.match, call):
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e


class KeyResult:
    """The verdict on one key: "ok", "violation" or "unknown" (budget spent).
    For a violation, `linearized` is the longest order found and `stuck` the
    operations that could have come next and all failed."""

    def __init__(self, key, verdict, steps, linearized=(), stuck=()):
        self.key, self.verdict, self.steps = key, verdict, steps
        self.linearized, self.stuck = list(linearized), list(stuck)

    def describe(self, tail=6):
        if self.verdict != "violation":
            return "key %r: %s after %d steps" % (self.key, self.verdict, self.steps)
        lines = ["key %r is not linearizable (%d steps)" % (self.key, self.steps),
                 "  longest linearization found, last %d of %d ops:" %
                 (min(tail, len(self.linearized)), len(self.linearized))]
        lines += ["    " + fmt_op(op) for op in self.linearized[-tail:]]
        lines.append("  then none of these can come next:")
        lines += ["    " + fmt_op(op) for op in self.stuck]
        return "\n".join(lines)


def fmt_op(op):
    ret = "?" if unknown(op) else "%.3f" % op.ret
    out = "unknown" if unknown(op) else repr(op.out)
    return "c%-3s [%.3f, %s] %s %s -> %s" % (op.client, op.call, ret, op.kind.upper(),
                                            " ".join(map(repr, op.args)), out)


def check_key(key, ops, budget=DEFAULT_BUDGET, initial=None):
    """Whether the register operations on one key are linearizable."""
    # A read of unknown outcome changes nothing and constrains nothing.
    ops = [op for op in ops if not (op.kind == "get" and unknown(op))]
    known_left = sum(1 for op in ops if not unknown(op))
    if known_left == 0:
        return KeyResult(key, "ok", 0)
    head = _event_list(ops)
    state, linearized, stack = initial, 0, []   # stack: (call entry, state before)
    cache = set()
    best, best_stuck = [], []
    steps = 0
    entry = head.next
    while True:
        steps += 1
        if steps > budget or len(cache) > budget:
            return KeyResult(key, "unknown", steps)
        # The scan never runs off the list: the returns of unknown operations
        # are at infinity, after every known one, and the search stops as
        # soon as the last known operation is linearized (the unknown ones
        # left may be left out).
        if entry.is_call:
            ok, new = step(state, entry.op)
            if ok:
                bits = linearized | (1 << entry.idx)
                if (bits, new) not in cache:
                    cache.add((bits, new))
                    stack.append((entry, state))
                    linearized, state = bits, new
                    if not unknown(entry.op):
                        known_left -= 1
                        if known_left == 0:
                            return KeyResult(key, "ok", steps)
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # A return: its operation had to be linearized by now. Back up.
        if len(stack) > len(best) or not best_stuck:
            best = [e.op for e, _ in stack]
            best_stuck = _candidates(head)
        if not stack:
            return KeyResult(key, "violation", steps, best, best_stuck)
        call, state = stack.pop()
        linearized &= ~(1 << call.idx)
        if not unknown(call.op):
            known_left += 1
        _unlift(call)
        entry = call.next


def _candidates(head):
    """The operations that may be linearized next: calls before the first return."""
    out, e = [], head.next
    while e is not None and e.is_call:
        out.append(e.op)
        e = e.next
    if e is not None:
        out.append(e.op)    # the one that had to be done by now
    return list(dict.fromkeys(out))


class RegisterResult:
    def __init__(self, results):
        self.results = results
        self.ok = [r for r in results if r.verdict == "ok"]
        self.violations = [r for r in results if r.verdict == "violation"]
        self.unknown = [r for r in results if r.verdict == "unknown"]

    def decided_share(self):
        """Share of keys with a verdict (1.0 when there are no keys)."""
        if not self.results:
            return 1.0
        return (len(self.ok) + len(self.violations)) / len(self.results)


def check_register(ops, budget=DEFAULT_BUDGET):
    """Checks every key's operations on its own (a register per key)."""
    by_key = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    return RegisterResult([check_key(k, v, budget) for k, v in sorted(by_key.items())])


# ---- sequences -----------------------------------------------------------------

def check_sequences(ops):
    """SEQ.NEXT histories, per name: returns a list of violation strings.
    Each op's out is the first of args[0] IDs. IDs start at 1."""
    problems = []
    by_name = {}
    for op in ops:
        by_name.setdefault(op.key, []).append(op)
    for name, seq in sorted(by_name.items()):
        done = [op for op in seq if not unknown(op)]
        # Never repeated: the handed-out intervals are disjoint.
        spans = sorted((op.out, op.out + op.args[0], op) for op in done)
        for (a0, a1, a), (b0, b1, b) in zip(spans, spans[1:]):
            if b0 < a1:
                problems.append("sequence %r: ID %d handed out twice:\n    %s\n    %s" %
                                (name, b0, fmt_op(a), fmt_op(b)))
        # Never backwards in real time: sweep calls in invoke order, keeping
        # the highest ID of everything that returned before.
        by_ret = sorted(done, key=lambda op: op.ret)
        top, i = None, 0
        for op in sorted(done, key=lambda op: op.call):
            while i < len(by_ret) and by_ret[i].ret < op.call:
                if top is None or by_ret[i].out > top.out:
                    top = by_ret[i]
                i += 1
            if top is not None and op.out <= top.out:
                problems.append("sequence %r: ID %d after %d returned earlier:\n"
                                "    %s\n    %s" % (name, op.out, top.out, fmt_op(top), fmt_op(op)))
        # Nothing skipped except by calls of unknown outcome.
        if spans:
            seen = sum(a1 - a0 for a0, a1, _ in spans)
            missing = spans[-1][1] - 1 - seen
            may_hide = sum(op.args[0] for op in seq if unknown(op))
            if missing > may_hide:
                problems.append("sequence %r: %d IDs below %d never handed out, but only "
                                "%d could be taken by calls of unknown outcome" %
                                (name, missing, spans[-1][1], may_hide))
    return problems


# ---- command line --------------------------------------------------------------

def load(path):
    with open(path) as f:
        data = json.load(f)

    def op(row):
        client, kind, key, args, out, call, ret = row
        return Op(client, kind, key, tuple(args), out, call, INF if ret is None else ret)
    return [op(r) for r in data.get("register", [])], [op(r) for r in data.get("sequence", [])]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().split("\n\n")[-2], file=sys.stderr)
        return 2
    reg_ops, seq_ops = load(argv[1])
    reg = check_register(reg_ops)
    for r in reg.violations:
        print(r.describe())
    seq = check_sequences(seq_ops)
    for p in seq:
        print(p)
    print("%d register ops on %d keys: %d violations, %d unknown, %.1f%% decided; "
          "%d sequence ops: %d violations" %
          (len(reg_ops), len(reg.results), len(reg.violations), len(reg.unknown),
           100 * reg.decided_share(), len(seq_ops), len(seq)))
    return 1 if reg.violations or seq else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
