#!/usr/bin/env python3
"""kill -9 of a first start between writing its ranges and the checkpoint
that makes their spans durable (crash point boot.first_written, every node
of a new cluster at once), then the nodes started again with the same
flags: the first start is done again (not taken as a directory of ranges
without spans), every range is led and serves writes and reads.

    first_start_crash_test.py path/to/rangekv
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
from cluster import Cluster, client_addr  # noqa: E402
from resp import Conn  # noqa: E402


def fail(msg):
    print("first_start_crash_test: FAIL: " + msg, flush=True)
    sys.exit(1)


def main():
    tmp = tempfile.mkdtemp(prefix="rk-fscrash-")
    c = Cluster(sys.argv[1], tmp, env={"RANGEKV_TEST_HOOKS": "1",
                                       "RANGEKV_CRASH_AT": "boot.first_written"})
    ok = False
    try:
        c.start_all()
        for i in (1, 2, 3):
            try:
                rc = c.procs[i].wait(timeout=60)
            except Exception:
                fail("node %d did not reach the crash point" % i)
            if rc != -9:
                fail("node %d exited %s, not by SIGKILL at the crash point" % (i, rc))
        c.env = {}
        c.start_all()
        c.wait_all_led(timeout=60)
        for i in (1, 2, 3):
            with open(os.path.join(tmp, "n%d" % i, "log"), errors="replace") as f:
                if "was interrupted: doing it again" not in f.read():
                    fail("node %d did not redo its first start" % i)
        conn = Conn(client_addr(1), timeout=8)
        for k in range(200):
            if conn.call("SET", "fs:%03d" % k, "v%d" % k) != "OK":
                fail("SET fs:%03d" % k)
        conn.close()
        conn = Conn(client_addr(3), timeout=8)
        for k in range(200):
            if conn.call("GET", "fs:%03d" % k) != ("v%d" % k).encode():
                fail("GET fs:%03d" % k)
        conn.close()
        print("first start killed on every node, redone: 200 writes read back", flush=True)
        ok = True
    finally:
        status = c.stop_all()
        if ok and any(v != 0 for v in status.values()):
            print("first_start_crash_test: FAIL: exit statuses %s" % status)
            ok = False
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
