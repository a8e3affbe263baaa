#!/usr/bin/env python3
"""Membership changes and leadership transfers through the admin calls, on
three real nodes whose ids (7, 3, 5) are not their replicas' ids, under a
write load:

- a replica demoted to learner and promoted back, each through a joint
  configuration: the call answers once the joint state is left, with the
  range's new descriptor; every node comes to the same descriptor;
- the leader itself demoted: it steps down, another node leads, and the
  range is promoted back through the new leader;
- a leadership transfer to a named node answers once that node leads;
- what is refused: another node than the leader (409 with the leader), a
  node that holds no replica (409), bad parameters (400), GET (405), an
  unknown range (404);
- a follower's replica removed (its node drops the range, and its keys are
  still written through that node), then a replica added on that node as a
  voter: a fresh replica id, created for the leader's messages, caught up
  by a snapshot, promoted; removing the leader's own replica is refused;
- kill -9 of that node after the changes and its restart: every node holds
  the same descriptor of every range;
- every acknowledged write is read back with its value, through node 7
  (GETs of another node's range are forwarded to its leader), within
  READBACK_S.

Every progress line carries the seconds since the start. The test fails by
itself after DEADLINE_S, naming the phase it was in, well before ctest's
TIMEOUT (300 s) would kill it without a word; the node logs are kept when
it fails (and with RK_KEEP set) and their directory printed.

    member_test.py path/to/rangekv
"""
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
from cluster import Cluster, http_addr, client_addr  # noqa: E402
from resp import Conn, Err  # noqa: E402

IDS = {1: 7, 2: 3, 3: 5}
# Under ctest's TIMEOUT (300 s) by more than the minute the nodes' stop
# may take (Cluster.stop_all).
DEADLINE_S = 220
# The read-back of a few thousand keys takes about a second (a GET through
# node 7 of a range it does not lead, forwarded, a millisecond); when the
# leader's answers waited for its next tick it took a minute and more.
READBACK_S = 60
T0 = time.monotonic()
PHASE = ["starting the nodes"]


class Overdue(BaseException):
    """The test's own deadline (a BaseException: the harness's calls that
    swallow any Exception must not swallow it)."""


def on_alarm(signum, frame):
    raise Overdue("not done after %d s, in the phase: %s" % (DEADLINE_S, PHASE[0]))


def say(msg):
    """A progress line, stamped with the seconds since the start."""
    print("[%5.1f s] %s" % (time.monotonic() - T0, msg), flush=True)


def phase(name):
    """Names what the test does from now on (the deadline's message says it)."""
    PHASE[0] = name
    say(name)


def fail(msg):
    print("member_test: FAIL: %s (after %.1f s, in the phase: %s)" %
          (msg, time.monotonic() - T0, PHASE[0]), flush=True)
    sys.exit(1)


def call(slot, method, path, timeout=15):
    """(status, body as JSON) of an HTTP call to the node in slot."""
    req = urllib.request.Request("http://%s%s" % (http_addr(slot), path), method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())
    except (OSError, http.client.HTTPException) as e:
        return 0, {"error": "unreachable: %s" % e}  # a node killed meanwhile


SLOT = {v: k for k, v in IDS.items()}


def call_leader(slot, method, path, timeout=15, wait=10):
    """An admin call that follows the 409 leader hints and waits out a
    leadership transfer under way (409 "retry in a moment"), as a client
    would, for wait seconds at most: the leadership balancer may move a
    range's lead between calls, or be moving it when a call comes."""
    until = time.monotonic() + wait
    while True:
        st, body = call(slot, method, path, timeout)
        err = body.get("error", "") if st == 409 else ""
        if time.monotonic() > until or not (err == "not the leader of this range" or
                                            "retry in a moment" in err):
            return st, body
        if err == "not the leader of this range" and body.get("leader") in SLOT:
            slot = SLOT[body["leader"]]
        else:
            time.sleep(0.1)


def range_view(c, slot, rid):
    for r in c.ranges(slot) or []:
        if r["id"] == rid:
            return r
    return None


def leader_slot(c, rid, timeout=10):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        for s in (1, 2, 3):
            if not c.up(s):
                continue
            r = range_view(c, s, rid)
            if r and r["role"] == "leader":
                return s
        time.sleep(0.05)
    fail("range %d has no leader after %d s" % (rid, timeout))


def roles(r):
    return {x["node_id"]: (x["replica_id"], x["role"]) for x in r["replicas"]}


def same_everywhere(c, rid, slots=(1, 2, 3), timeout=10):
    """Waits until every node shows the same replicas and conf_version."""
    until = time.time() + timeout
    while time.time() < until:
        views = [range_view(c, s, rid) for s in slots]
        if all(views) and len({json.dumps([v["replicas"], v["conf_version"]],
                                          sort_keys=True) for v in views}) == 1:
            return views[0]
        time.sleep(0.05)
    fail("range %d: the nodes disagree on its descriptor: %s" %
         (rid, [range_view(c, s, rid) for s in slots]))


class Writer(threading.Thread):
    """SETs of fresh keys through every node in turn; remembers the acked."""

    def __init__(self):
        super().__init__(daemon=True)
        self.acked, self.stop, self.errors = {}, False, 0
        self.doing = None  # (slot, key, since) of the call in flight

    def run(self):
        i = 0
        conns = {}
        while not self.stop:
            slot = 1 + i % 3
            key, val = "mk:%06d" % i, "v%d" % i
            i += 1
            self.doing = (slot, key, time.monotonic())
            try:
                if slot not in conns:
                    conns[slot] = Conn(client_addr(slot), timeout=8)
                got = conns[slot].call("SET", key, val)
            except (OSError, EOFError):
                conns.pop(slot, None)
                time.sleep(0.05)
                continue
            finally:
                self.doing = None
            if got == "OK":
                self.acked[key] = val
            else:
                self.errors += 1
                time.sleep(0.01)


def main():
    binary = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="rk-member-")
    c = Cluster(binary, tmp, node_ids=IDS)
    ok = False
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE_S)
    try:
        phase("starting nodes %s" % ", ".join(str(IDS[s]) for s in (1, 2, 3)))
        c.start_all()
        c.wait_all_led()
        w = Writer()
        w.start()
        rid = 3
        before = same_everywhere(c, rid)
        if sorted(x["replica_id"] for x in before["replicas"]) != [1, 2, 3] or \
                roles(before)[3] != (1, "voter"):
            fail("initial replicas are 1..3 in node id order: %s" % before["replicas"])
        ls = leader_slot(c, rid)
        other = next(s for s in (1, 2, 3) if s != ls)

        phase("refusals")
        st, body = call(other, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=learner"
                        % (rid, IDS[other]))
        if st != 409 or body.get("leader") != IDS[ls]:
            fail("a non-leader must answer 409 with the leader: %s %s" % (st, body))
        for path, want in (("/api/v1/ranges/%d/replicas?node=99&role=learner" % rid, 409),
                           ("/api/v1/ranges/%d/replicas?node=%d&role=boss" % (rid, IDS[other]), 400),
                           ("/api/v1/ranges/%d/replicas?role=voter" % rid, 400),
                           ("/api/v1/ranges/%d/transfer-leader" % rid, 400),
                           ("/api/v1/ranges/%d/transfer-leader?to=99" % rid, 409),
                           ("/api/v1/ranges/999/replicas?node=3&role=voter", 404),
                           ("/api/v1/ranges/x1/replicas?node=3&role=voter", 400)):
            st, body = call_leader(ls, "POST", path)
            if st != want or "error" not in body:
                fail("%s: want %d with an error, got %d %s" % (path, want, st, body))
        st, _ = call(ls, "GET", "/api/v1/ranges/%d/replicas" % rid)
        if st != 405:
            fail("GET of the replicas call: %d" % st)

        phase("demoting node %d's replica of range %d, then promoting it back" %
              (IDS[other], rid))
        t0 = time.time()
        st, r = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=learner"
                            % (rid, IDS[other]))
        if st != 200 or roles(r)[IDS[other]][1] != "learner":
            fail("demote: %d %s" % (st, r))
        if r["conf_version"] != before["conf_version"] + 2:
            fail("demote through a joint state bumps conf_version twice: %s" % r)
        say("demoted node %d's replica to learner in %.2f s (conf_version %d)" %
            (IDS[other], time.time() - t0, r["conf_version"]))
        same_everywhere(c, rid)
        st, r2 = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=learner"
                      % (rid, IDS[other]))
        if st != 200 or r2["conf_version"] != r["conf_version"]:
            fail("asking for the role it has changes nothing: %d %s" % (st, r2))
        deadline = time.time() + 10
        while True:
            st, r = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter"
                                % (rid, IDS[other]))
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.1)  # the learner catches up first
        if st != 200 or roles(r)[IDS[other]][1] != "voter":
            fail("promote: %d %s" % (st, r))
        say("promoted it back (conf_version %d)" % r["conf_version"])
        same_everywhere(c, rid)

        # The leader demotes itself: it steps down; promoted back by the next.
        phase("node %d, the leader, demoting itself" % IDS[ls])
        st, r = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=learner"
                            % (rid, IDS[ls]))
        if st != 200 or roles(r)[IDS[ls]][1] != "learner":
            fail("leader demoting itself: %d %s" % (st, r))
        nl = leader_slot(c, rid)
        if nl == ls:
            time.sleep(1)
            nl = leader_slot(c, rid)
            if nl == ls:
                fail("a learner still leads range %d" % rid)
        deadline = time.time() + 10
        while True:
            st, r = call_leader(nl, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter"
                                % (rid, IDS[ls]))
            if st == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        if st != 200:
            fail("promoting the old leader back through node %d: %d %s" % (IDS[nl], st, r))
        say("the leader demoted itself, node %d took over and promoted it back" % IDS[nl])

        # Leadership transfer to a named node.
        ls = leader_slot(c, rid)
        to = next(s for s in (1, 2, 3) if s != ls)
        phase("transferring the leadership of range %d to node %d" % (rid, IDS[to]))
        st, r = call_leader(ls, "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" %
                            (rid, IDS[to]))
        if st != 200 or r["leader"] != IDS[to]:
            fail("transfer to node %d: %d %s" % (IDS[to], st, r))
        say("leadership of range %d moved from node %d to node %d" % (rid, IDS[ls], IDS[to]))
        final = same_everywhere(c, rid)

        # Remove a follower's replica: its node drops the range (and keeps
        # routing its keys); then add a replica there again: a new replica
        # id, created for the leader's messages, caught up by a snapshot,
        # promoted to voter. Twice: the second add finds the leader holding
        # the snapshot it made for the first, of a configuration without
        # the new replica, which must not be sent again.
        for cycle in (1, 2):
            phase("removing a replica of range %d and adding one on its node (%d of 2)" %
                  (rid, cycle))
            for _ in range(20):
                ls = leader_slot(c, rid)
                st, body = call(ls, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
                                (rid, roles(final)[IDS[ls]][0]))
                if body.get("error") != "not the leader of this range":
                    break
            if st != 409 or "transfer" not in body.get("error", ""):
                fail("removing the leader's own replica must be refused: %d %s" % (st, body))
            f = next(s for s in (1, 2, 3) if s != ls)
            old_id = roles(final)[IDS[f]][0]
            st, r = call_leader(ls, "DELETE", "/api/v1/ranges/%d/replicas/%d" % (rid, old_id))
            if st != 200 or IDS[f] in roles(r):
                fail("remove replica %d: %d %s" % (old_id, st, r))
            say("removed replica %d of range %d from node %d (conf_version %d)" %
                (old_id, rid, IDS[f], r["conf_version"]))
            until = time.time() + 10
            # Its replica gone (GET /api/v1/ranges/{id} there is now
            # forwarded to a node that holds the range).
            while range_view(c, f, rid) is not None:
                if time.time() > until:
                    fail("node %d still holds range %d after its removal" % (IDS[f], rid))
                time.sleep(0.05)
            same_everywhere(c, rid, slots=[s for s in (1, 2, 3) if s != f])
            if any(x["id"] == rid for x in c.ranges(f)):
                fail("node %d lists range %d after its removal" % (IDS[f], rid))
            time.sleep(0.5)  # writes through node f go on reaching the range
            t0 = time.time()
            st, r = call_leader(ls, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" %
                                (rid, IDS[f]), timeout=90)
            if st != 200 or roles(r).get(IDS[f], (0, ""))[1] != "voter":
                fail("add a voter on node %d: %d %s" % (IDS[f], st, r))
            new_id = roles(r)[IDS[f]][0]
            if new_id <= old_id:
                fail("a new replica id must be fresh: %d after %d" % (new_id, old_id))
            say("added replica %d on node %d as a voter in %.2f s (learner, snapshot, "
                "promotion)" % (new_id, IDS[f], time.time() - t0))
            final = same_everywhere(c, rid)
            mine = range_view(c, f, rid)
            if roles(mine)[IDS[f]][0] != new_id or mine["applied_index"] == 0:
                fail("node %d's new replica: %s" % (IDS[f], mine))

        # kill -9 and restart of a node: the descriptors hold.
        phase("kill -9 of node %d and its restart" % IDS[f])
        c.kill9(f)
        time.sleep(0.5)
        c.start(f)
        c.wait_all_led()
        phase("the descriptors of every range on every node")
        after = same_everywhere(c, rid)
        if after["conf_version"] != final["conf_version"]:
            fail("conf_version after restart: %s then %s" % (final, after))
        for other_rid in (1, 2, 4):
            same_everywhere(c, other_rid)

        phase("stopping the writer")
        w.stop = True
        w.join(timeout=30)
        if w.is_alive():
            slot, key, since = w.doing or (1, "?", time.monotonic())
            fail("the writer did not stop: its SET of %s through node %d has not returned "
                 "in %.0f s" % (key, IDS[slot], time.monotonic() - since))
        phase("reading back %d acknowledged writes through node %d" % (len(w.acked), IDS[1]))
        t0 = time.monotonic()
        slowest = 0.0
        conn = Conn(client_addr(1), timeout=8)
        for done, (k, v) in enumerate(w.acked.items()):
            if time.monotonic() - t0 > READBACK_S:
                fail("only %d of %d acknowledged writes read back through node %d in %d s "
                     "(the slowest GET took %.0f ms)" %
                     (done, len(w.acked), IDS[1], READBACK_S, slowest * 1000))
            t1 = time.monotonic()
            got = conn.call("GET", k)
            slowest = max(slowest, time.monotonic() - t1)
            if isinstance(got, Err) or got != v.encode():
                fail("acked %s=%s reads %r" % (k, v, got))
        say("%d acknowledged writes read back in %.1f s, the slowest GET in %.0f ms "
            "(%d errors answered during changes)" %
            (len(w.acked), time.monotonic() - t0, slowest * 1000, w.errors))
        if len(w.acked) < 50:
            fail("too few writes acknowledged: %d" % len(w.acked))
        phase("/metrics of every node")
        for s in (1, 2, 3):
            m = urllib.request.urlopen("http://%s/metrics" % http_addr(s), timeout=2).read()
            for line in m.decode().splitlines():
                if line.startswith("rangekv_raft_messages_misaddressed_total ") and \
                        float(line.split()[1]) != 0:
                    fail("node %d dropped misaddressed messages: %s" % (IDS[s], line))
        ok = True
        print("member_test: PASS (%.1f s)" % (time.monotonic() - T0), flush=True)
    except Overdue as e:
        print("member_test: FAIL: %s" % e, flush=True)
    except RuntimeError as e:  # the harness's: a node exited, ranges unled
        print("member_test: FAIL: %s (in the phase: %s)" % (e, PHASE[0]), flush=True)
    finally:
        signal.alarm(0)
        ok = c.finish(ok, "member_test")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
