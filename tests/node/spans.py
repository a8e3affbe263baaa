"""Helpers the split tests share (split_test.py, autosplit_test.py)."""
import os
import shutil
import signal
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


def kill_all(procs, top):
    """SIGKILL what still runs of procs; top removed unless RK_KEEP is set."""
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
    if os.environ.get("RK_KEEP") is None:
        shutil.rmtree(top, ignore_errors=True)
