#!/usr/bin/env python3
"""kill -9 at every step of removing a replica and adding one, then restart:
for each crash point of the node (src/node/crash.h), three nodes (ids 7, 3,
5) under writes remove a follower's replica of a range and add one on that
node again as a voter; every node is armed with the point, so the first to
reach it dies there as kill -9 would. It is restarted unarmed, the
operations are driven to the end again as a client would (following leader
hints, retrying what answered an unknown outcome), and then:

- every node holds the same descriptor of the range, with a voter on the
  node whose replica was removed, under a replica id above the removed one;
- the removed replica id never appears again;
- every acknowledged write reads back with its value, through every node.

Needs a build with the test hooks (every build type but Release).

    member_crash_test.py path/to/rangekv [POINT...]
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from member_test import (IDS, Writer, call, call_leader, fail, leader_slot,  # noqa: E402
                         range_view, roles, same_everywhere)
from cluster import Cluster, client_addr  # noqa: E402
from resp import Conn, Err  # noqa: E402

POINTS = ["member.proposed", "member.applied", "life.leaving", "life.remove_written",
          "life.created", "snap.received", "snap.install_durable", "snap.installed"]
RID = 2


def wait_led(c, point, timeout=60):
    """Every range each node lists has a leader (a node that left a range
    no longer lists it, so Cluster.wait_all_led's count does not hold).
    A node still armed may reach the point only now (a loaded machine
    delays its apply by seconds): it is restarted, unarmed, meanwhile."""
    until = time.time() + timeout
    while time.time() < until:
        restart_dead(c, point)
        views = [c.ranges(s) for s in (1, 2, 3)]
        if all(v is not None and v and all(r["leader"] is not None for r in v)
               for v in views):
            return
        time.sleep(0.05)
    fail("not every range led within %d s" % timeout)


def restart_dead(c, point):
    """Restarts (unarmed) the nodes that died; returns their slots."""
    dead = []
    for s in (1, 2, 3):
        p = c.procs[s]
        if p.poll() is not None:
            if p.returncode != -9:
                fail("%s: node %d exited with %s, not SIGKILL" % (point, IDS[s], p.returncode))
            dead.append(s)
    env, c.env = c.env, {}
    for s in dead:
        c.start(s)
    c.env = env  # still armed for the nodes not restarted yet
    return dead


def drive(c, f, old_id, deadline, point):
    """Removes old_id and adds a voter on slot f, whatever was done already;
    restarts (unarmed) any node that still dies at the point meanwhile."""
    while time.time() < deadline:
        if restart_dead(c, point):
            wait_led(c, point)
        ls = leader_slot(c, RID)
        r = range_view(c, ls, RID)
        if r is None:
            time.sleep(0.1)
            continue
        mine = roles(r).get(IDS[f])
        if mine is not None and mine[0] == old_id:
            st, body = call_leader(ls, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                                   (RID, old_id))
        elif mine is None or mine[1] != "voter":
            st, body = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter"
                                   % (RID, IDS[f]), timeout=60)
        else:
            return r
        if st not in (0, 200, 409, 503, 504, 404):
            fail("unexpected answer %d %s" % (st, body))
        if st != 200:
            time.sleep(0.2)
    fail("the remove and add did not complete")


def scenario(binary, point):
    tmp = tempfile.mkdtemp(prefix="rk-mcrash-")
    c = Cluster(binary, tmp, node_ids=IDS,
                env={"RANGEKV_TEST_HOOKS": "1", "RANGEKV_CRASH_AT": point})
    ok = False
    try:
        c.start_all()
        c.wait_all_led()
        w = Writer()
        w.start()
        before = same_everywhere(c, RID)
        ls = leader_slot(c, RID)
        f = next(s for s in (1, 2, 3) if s != ls)
        old_id = roles(before)[IDS[f]][0]
        # The first attempt, during which some node reaches the point.
        call_leader(ls, "DELETE", "/api/v1/ranges/%d/replicas/%d" % (RID, old_id))
        until = time.time() + 5
        while time.time() < until and all(c.procs[s].poll() is None for s in (1, 2, 3)):
            st, _ = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" %
                                (RID, IDS[f]), timeout=30)
            if st == 200:
                break
            time.sleep(0.1)
        # Other armed nodes may reach the point a little later (a follower
        # applying the same change): restart whatever dies for a while.
        dead = []
        until = time.time() + 2
        while time.time() < until:
            dead += restart_dead(c, point)
            time.sleep(0.1)
        if not dead:
            fail("%s: no node reached the crash point" % point)
        wait_led(c, point)
        final = drive(c, f, old_id, time.time() + 60, point)
        final = same_everywhere(c, RID, timeout=20)
        ids = [x["replica_id"] for x in final["replicas"]]
        new_id = roles(final)[IDS[f]][0]
        if old_id in ids or new_id <= old_id or roles(final)[IDS[f]][1] != "voter":
            fail("%s: final replicas %s (removed %d)" % (point, final["replicas"], old_id))
        w.stop = True
        w.join()
        for s in (1, 2, 3):
            conn = Conn(client_addr(s), timeout=8)
            for k, v in list(w.acked.items())[s - 1::3]:
                got = conn.call("GET", k)
                if isinstance(got, Err) or got != v.encode():
                    fail("%s: acked %s=%s reads %r through node %d" % (point, k, v, got, IDS[s]))
            conn.close()
        print("%-22s node(s) %s killed there; replica %d removed, %d added on node %d; "
              "%d writes read back" % (point, [IDS[s] for s in dead], old_id, new_id, IDS[f],
                                       len(w.acked)), flush=True)
        ok = True
    finally:
        c.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp)
    return ok


def main():
    points = sys.argv[2:] or POINTS
    for p in points:
        if not scenario(sys.argv[1], p):
            return 1
    print("member_crash_test: PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
