#!/usr/bin/env python3
"""A data directory keeps the storage settings of its first start, on a
real rangekv process (docs/storage.md, docs/contract.md).

    settings_test.py path/to/rangekv

One node, first started with --compression zlib --key-table lsm, writes a
key and stops. Then:
 - a start naming another key table (--key-table btree) and one naming
   another compression (--compression snappy) each exit non-zero within
   seconds, saying which flag does not match and what the directory has;
 - a start without the flags serves the key, and GET /api/v1/cluster/status
   reports the directory's settings (zlib, lsm), not the defaults; /metrics
   counts the LSM tree's chunks within seconds (none for a B-tree);
 - a start repeating the first start's flags serves too.
Then the same for a directory made with the defaults (snappy, btree), which
refuses --key-table lsm and --compression none.

RK_KEEP=1 keeps the data directory and log.
"""
import json
import os
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
import cluster as fc  # noqa: E402
from resp import Conn  # noqa: E402


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def status(c):
    with urllib.request.urlopen("http://%s/api/v1/cluster/status" % fc.http_addr(1),
                                timeout=5) as r:
        return json.loads(r.read().decode())


def serve_and_stop(c, key, want):
    """Starts node 1 with c.extra, waits until it leads, checks key holds
    want (or sets it when want is None), and stops it cleanly."""
    c.start(1)
    c.wait_all_led(nodes=[1])
    conn = Conn(fc.client_addr(1), timeout=10)
    if want is None:
        expect(conn.call("SET", key, "v1") == "OK", "SET %s refused" % key)
    else:
        got = conn.call("GET", key)
        expect(got == want, "GET %s: %r, want %r" % (key, got, want))
    conn.close()
    st = status(c)
    lsm = st["storage"]["key_table"] == "lsm"
    # The figure is read by the store's compaction thread each second.
    until = time.monotonic() + 5
    while True:
        with urllib.request.urlopen("http://%s/metrics" % fc.http_addr(1), timeout=5) as r:
            m = [ln for ln in r.read().decode().splitlines()
                 if ln.startswith("rangekv_store_lsm_chunks ")]
        chunks = int(m[0].split()[1]) if m else None
        if chunks is None or (chunks >= 1) == lsm or time.monotonic() > until:
            break
        time.sleep(0.2)
    expect(chunks is not None and (chunks >= 1) == lsm,
           "rangekv_store_lsm_chunks %r with key table %s" % (chunks, st["storage"]["key_table"]))
    rc = c.stop_all()[1]
    expect(rc == 0, "node 1 exited %d after SIGTERM" % rc)
    return st


def refused(c, flags, needle):
    """A start with flags exits non-zero and logs needle."""
    c.extra = list(flags)
    before = len("".join(c.log_tail(1, 100000)))
    c.start(1)
    try:
        rc = c.procs[1].wait(timeout=30)
    except Exception:
        c.kill9(1)
        raise AssertionError("a start with %s did not exit" % " ".join(flags))
    text = "".join(c.log_tail(1, 100000))[before:]
    expect(rc != 0, "a start with %s exited %d" % (" ".join(flags), rc))
    expect(needle in text, "a start with %s logged no %r:\n%s" % (" ".join(flags), needle, text))
    print("  %s refused: %s" % (" ".join(flags),
                                [ln for ln in text.splitlines() if needle in ln][0].strip()))


def directory(binary, tmp, first, kept, others):
    """first: the first start's flags; kept: (compression, key table) the
    directory must report; others: [(flags, message)] each refused."""
    c = fc.Cluster(binary, tmp, extra_flags=first, nodes=(1,))
    ok = False
    try:
        st = serve_and_stop(c, "settings-key", None)
        expect(st["storage"] == {"compression": kept[0], "key_table": kept[1]},
               "first start %s reports %r" % (first, st["storage"]))
        print("first start %s: %r" % (" ".join(first) or "(defaults)", st["storage"]))
        for flags, needle in others:
            refused(c, flags, needle)
        c.extra = []
        st = serve_and_stop(c, "settings-key", b"v1")
        expect(st["storage"] == {"compression": kept[0], "key_table": kept[1]},
               "a start without the flags reports %r" % st["storage"])
        c.extra = list(first)
        serve_and_stop(c, "settings-key", b"v1")
        print("  started again without the flags and with the first ones: serves, keeps %r"
              % (kept,))
        ok = True
    finally:
        ok = c.finish(ok, "settings_test")
    return ok


def main():
    binary = sys.argv[1]
    t0 = time.monotonic()
    ok = directory(binary, tempfile.mkdtemp(prefix="rk-settings-a-"),
                   ["--compression", "zlib", "--key-table", "lsm"], ("zlib", "lsm"),
                   [(["--key-table", "btree"], "--key-table btree does not match"),
                    (["--compression", "snappy"], "--compression snappy does not match")])
    ok = ok and directory(binary, tempfile.mkdtemp(prefix="rk-settings-b-"), [],
                          ("snappy", "btree"),
                          [(["--key-table", "lsm"], "--key-table lsm does not match"),
                           (["--compression", "none"], "--compression none does not match")])
    if not ok:
        sys.exit(1)
    print("settings_test: OK (%.1f s)" % (time.monotonic() - t0))


main()
