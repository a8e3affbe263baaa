"""Helpers the split tests share (split_test.py, autosplit_test.py)."""
import time

from cluster import unescape


def wait(what, cond, timeout, fail, step=0.05):
    """cond()'s first true value within timeout seconds, else fail(why)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(step)
    fail("%s: not within %.0f s" % (what, timeout))


def tiles(rs):
    """Whether the ranges rs (as /api/v1/ranges lists them) tile the whole
    key space: sorted by start, each ends where the next starts, from the
    empty key to the unbounded end."""
    rs = sorted(rs, key=lambda r: unescape(r["start"]))
    if not rs or rs[0]["start"] != "":
        return False
    for a, b in zip(rs, rs[1:]):
        if a["end"] != b["start"]:
            return False
    return rs[-1]["end"] == ""
