#!/usr/bin/env python3
"""`rangekv check --all` on this machine: three rangekv processes on
127.0.0.1-3 (node ids 1-3, the ports of member.py).

  check.py BIN RANGES KB    RANGES ranges, each filled with KB KiB of data
                            (16 KiB values, incompressible), then the time
                            of `rangekv check --all` over every node's
                            --http (every range checked on its leader, every
                            replica hashing its span at the check's index)

Prints one line per figure; nothing passes or fails on a timing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import member  # noqa: E402  (start, stop, fill, call, http: the same cluster)


def unescape(s):
    """A key as the API writes it (\\xNN for other bytes) to bytes."""
    return re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  s.encode())


def main():
    bin_, ranges, kb = member.BIN, int(sys.argv[2]), int(sys.argv[3])
    tmp = tempfile.mkdtemp(prefix="rk-bench-check-")
    procs = member.start(tmp, ranges)
    try:
        rs = member.call(1, "GET", "/api/v1/ranges?limit=100000")[1]["ranges"]
        t0 = time.time()
        for r in rs:
            # Just after the range's start: inside it, whatever its bounds.
            member.fill(unescape(r["start"]) + b"\x00fill", kb / 1024.0)
        print("filled %d ranges with %d KiB each in %.1f s" %
              (len(rs), kb, time.time() - t0), flush=True)
        http = sum((["--http", member.http(i)] for i in (1, 2, 3)), [])
        for _ in range(2):
            t0 = time.time()
            p = subprocess.run([bin_, "check", "--all", "--timeout", "60"] + http,
                               capture_output=True)
            took = time.time() - t0
            summary = p.stdout.decode().strip().splitlines()[-1:] or [p.stderr.decode()]
            print("check --all: %d ranges of %d KiB x 3 replicas in %.2f s (%.1f ms a "
                  "range, %.0f MB/s hashed over the replicas); exit %d: %s" %
                  (len(rs), kb, took, took * 1000 / len(rs),
                   3 * len(rs) * kb / 1024.0 / took, p.returncode, summary[0]), flush=True)
    finally:
        member.stop(procs, tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
