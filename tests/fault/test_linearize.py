#!/usr/bin/env python3
"""Unit tests of the linearizability and sequence checkers (linearize.py):
known bad histories are rejected, known good ones accepted, and a history
beyond the search budget is answered "unknown".

    python3 test_linearize.py        # ctest: fault_checker
"""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linearize import INF, Op, check_key, check_register, check_sequences  # noqa: E402


def op(kind, args, out, call, ret, client=0, key="k"):
    return Op(client, kind, key, tuple(args), out, call, ret)


def get(out, call, ret, c=0):
    return op("get", (), out, call, ret, c)


def set_(v, call, ret, c=0):
    return op("set", (v,), None if ret == INF else "OK", call, ret, c)


def incr(out, call, ret, c=0):
    return op("incr", (), out, call, ret, c)


def cas(exp, new, out, call, ret, c=0):
    return op("cas", (exp, new), out, call, ret, c)


def dele(out, call, ret, c=0):
    return op("del", (), out, call, ret, c)


def verdict(ops, **kw):
    return check_key("k", ops, **kw).verdict


class BadRegisterHistories(unittest.TestCase):
    def test_stale_read(self):
        # x=2 is acknowledged, then a read that starts later sees 1.
        h = [set_("1", 0, 1), set_("2", 2, 3), get("1", 4, 5, c=1)]
        self.assertEqual(verdict(h), "violation")

    def test_lost_write(self):
        # An acknowledged write that no later read ever sees: the key reads
        # as missing although nothing deleted it.
        h = [set_("1", 0, 1), get(None, 2, 3, c=1)]
        self.assertEqual(verdict(h), "violation")

    def test_value_seen_then_unseen(self):
        # Concurrent with the write, one read sees it; a later read does not.
        h = [set_("1", 0, 1), set_("2", 2, 10), get("2", 3, 4, c=1), get("1", 5, 6, c=2)]
        self.assertEqual(verdict(h), "violation")

    def test_double_applied_increment(self):
        # Two INCRs from 0 acknowledged 1 and 2, a later read sees 3.
        h = [incr(1, 0, 1), incr(2, 2, 3), get("3", 4, 5, c=1)]
        self.assertEqual(verdict(h), "violation")

    def test_double_applied_timed_out_increment(self):
        # An INCR of unknown outcome applies at most once: 3 is impossible.
        h = [incr(None, 0, INF), incr(2, 1, 2, c=1), get("3", 3, 4, c=2)]
        self.assertEqual(verdict(h), "violation")

    def test_cas_against_stale_value(self):
        # CAS 1->3 succeeds after x=2 was acknowledged.
        h = [set_("1", 0, 1), set_("2", 2, 3), cas("1", "3", 1, 4, 5, c=1)]
        self.assertEqual(verdict(h), "violation")

    def test_delete_count(self):
        # DEL of a key nobody wrote says it deleted something.
        self.assertEqual(verdict([dele(1, 0, 1)]), "violation")

    def test_violation_is_described(self):
        h = [set_("1", 0, 1), set_("2", 2, 3), get("1", 4, 5, c=1)]
        r = check_key("k", h)
        text = r.describe()
        self.assertIn("not linearizable", text)
        self.assertIn("GET", text)


class GoodRegisterHistories(unittest.TestCase):
    def test_sequential(self):
        h = [set_("1", 0, 1), get("1", 2, 3), incr(2, 4, 5), cas("2", "a", 1, 6, 7),
             incr("ERR", 8, 9), get("a", 10, 11), dele(1, 12, 13), get(None, 14, 15),
             cas("", "z", 1, 16, 17), get("z", 18, 19)]
        self.assertEqual(verdict(h), "ok")

    def test_concurrent_overlapping(self):
        # Reads overlapping two writes may see either, in any order that
        # the writes' own order allows.
        h = [set_("1", 0, 10), set_("2", 1, 9, c=1), get("2", 2, 3, c=2),
             get("1", 4, 11, c=3), get("1", 12, 13, c=2)]
        self.assertEqual(verdict(h), "ok")

    def test_concurrent_increments(self):
        h = [incr(2, 0, 5), incr(1, 1, 4, c=1), incr(3, 2, 6, c=2), get("3", 7, 8)]
        self.assertEqual(verdict(h), "ok")

    def test_timed_out_write_applied(self):
        h = [set_("1", 0, 1), set_("2", 2, INF, c=1), get("2", 5, 6)]
        self.assertEqual(verdict(h), "ok")

    def test_timed_out_write_not_applied(self):
        h = [set_("1", 0, 1), set_("2", 2, INF, c=1), get("1", 5, 6)]
        self.assertEqual(verdict(h), "ok")

    def test_timed_out_write_applied_late(self):
        # Unknown outcome: it may take effect long after the client gave up.
        h = [set_("1", 0, 1), set_("2", 2, INF, c=1), get("1", 5, 6), get("2", 7, 8)]
        self.assertEqual(verdict(h), "ok")

    def test_timed_out_read_ignored(self):
        h = [set_("1", 0, 1), get(None, 2, INF, c=1), get("1", 3, 4)]
        self.assertEqual(verdict(h), "ok")

    def test_many_keys(self):
        ops = [op("set", ("1",), "OK", 0, 1, key="a"), op("get", (), "1", 2, 3, key="a"),
               op("get", (), None, 0, 1, key="b")]
        r = check_register(ops)
        self.assertEqual((len(r.ok), len(r.violations), r.decided_share()), (2, 0, 1.0))


class Budget(unittest.TestCase):
    def test_large_history_is_unknown(self):
        # 40 clients write distinct values at once, each read overlaps them
        # all: the search has to try a great many orders.
        rnd = random.Random(7)
        h = [set_(str(i), 0, 100, c=i) for i in range(40)]
        h += [get(str(rnd.randrange(40)), 1 + i, 99, c=100 + i) for i in range(40)]
        r = check_key("k", h, budget=20_000)
        self.assertEqual(r.verdict, "unknown")
        self.assertGreater(r.steps, 20_000)

    def test_unknown_keys_lower_the_decided_share(self):
        h = [op("set", (str(i),), "OK", 0, 100, client=i, key="hard") for i in range(30)]
        h += [op("get", (), str((i * 7) % 30), 1 + i, 99, client=100 + i, key="hard")
              for i in range(30)]
        h += [op("get", (), None, 0, 1, key="easy")]
        r = check_register(h, budget=5_000)
        self.assertEqual(len(r.unknown), 1)
        self.assertAlmostEqual(r.decided_share(), 0.5)


def seq(first, call, ret, count=1, c=0, name="s"):
    return Op(c, "seq", name, (count,), None if ret == INF else first, call, ret)


class Sequences(unittest.TestCase):
    def test_good(self):
        h = [seq(1, 0, 1), seq(2, 2, 3), seq(4, 4, 10, c=1), seq(3, 5, 6, c=2),
             seq(5, 11, 12, count=3), seq(8, 13, 14)]
        self.assertEqual(check_sequences(h), [])

    def test_gap_hidden_by_unknown_call(self):
        h = [seq(1, 0, 1), seq(None, 2, INF, c=1), seq(3, 4, 5)]
        self.assertEqual(check_sequences(h), [])

    def test_repeat(self):
        h = [seq(1, 0, 1), seq(2, 2, 3), seq(2, 2, 4, c=1)]
        self.assertTrue(any("twice" in p for p in check_sequences(h)))

    def test_overlapping_counts(self):
        h = [seq(1, 0, 1, count=5), seq(3, 2, 3)]
        self.assertTrue(any("twice" in p for p in check_sequences(h)))

    def test_backwards_in_real_time(self):
        h = [seq(2, 0, 1), seq(1, 2, 3, c=1)]
        self.assertTrue(any("returned earlier" in p for p in check_sequences(h)))

    def test_skip_without_unknown_call(self):
        h = [seq(1, 0, 1), seq(3, 2, 3)]
        self.assertTrue(any("never handed out" in p for p in check_sequences(h)))

    def test_concurrent_calls_any_order(self):
        h = [seq(2, 0, 5), seq(1, 1, 4, c=1)]
        self.assertEqual(check_sequences(h), [])


if __name__ == "__main__":
    unittest.main()
