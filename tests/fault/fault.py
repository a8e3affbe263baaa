#!/usr/bin/env python3
"""The fault harness: three real rangekv processes on 127.0.0.1-3, client
workloads recording every operation, faults on a schedule, and a check of
the history (linearize.py) at the end of each scenario.

    fault.py path/to/rangekv [--seconds N] [--seed S] [--keep]
             [--node-flags "FLAGS"] [scenario...]
    fault.py path/to/rangekv --ci        # the scenarios ctest fault_short runs
    fault.py --list                      # every scenario, and what it does

Each scenario runs on a new cluster for --seconds of faults (default 20) and
prints the operations checked, the faults injected by kind, the violations
found and the share of keys the checker decided. The exit status is 0 when
every scenario passed, 1 when one found a violation, did not recover, or
decided fewer than 99% of its keys, 77 when nothing failed but some scenario
was skipped (partitions need iptables, clock jumps libfaketime). A failing
scenario keeps its data directories, node logs and history.json (recheck:
linearize.py history.json).
"""
import argparse
import collections
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Clocks, Cluster, Partitions, http_addr  # noqa: E402
from linearize import check_register, check_sequences  # noqa: E402
from workloads import Client, Durable, History, Probe, Register, Sequence, keys_in  # noqa: E402

MIN_DECIDED = 0.99
# pause-leader stops a node longer than its peers' liveness timeout (40
# ticks, 2 s), so that they have declared it dead and elected new leaders.
PAUSE_SECS = (3.0, 4.0)
SKIPPED = 77
SCENARIOS = {}


def scenario(name, ci=False, partitions=False, clocks=False):
    """Registers a scenario. ci: it passes on today's code and is short
    enough for ctest fault_short. partitions: it needs iptables. clocks:
    its nodes run with wall clocks of their own (libfaketime), run.clocks."""
    def deco(f):
        SCENARIOS[name] = (f, ci, partitions, clocks)
        return f
    return deco


class Run:
    """One scenario's cluster, history, fault counts and clock."""

    def __init__(self, args, tmp, partitions, clocks=None):
        self.args, self.tmp = args, tmp
        self.clocks = clocks
        self.cluster = Cluster(args.rangekv, tmp, extra_flags=args.node_flags.split(),
                               node_ids=args.node_ids,
                               node_env=clocks.env() if clocks else None)
        self.history = History()
        self.faults = collections.Counter()
        self.events = []             # (time.monotonic(), what) of every fault
        self.extra_violations = []
        self.logged = []             # ERROR lines of the nodes' logs (clock-jump)
        self.rnd = random.Random(args.seed)
        self.partitions = partitions
        self.t0 = time.monotonic()
        self.deadline = None

    def log(self, msg):
        print("  %6.1f s  %s" % (time.monotonic() - self.t0, msg), flush=True)

    def fault(self, kind, what):
        self.faults[kind] += 1
        self.events.append((time.monotonic(), what))
        self.log(what)

    def time_left(self):
        return time.monotonic() < self.deadline

    def keys(self, per_range, tag):
        return keys_in(self.cluster.spans(), per_range, tag)

    def keys_of(self, ranges, per_range, tag):
        by_range = self.keys(per_range, tag)
        return [k for r in ranges for k in by_range[r]]

    def register(self, threads=6, per_range=8):
        keys = [k for ks in self.keys(per_range, "r").values() for k in ks]
        return Register(self.history, keys, [1, 2, 3], threads, self.args.seed).start()

    def sequence(self, threads=6):
        """SEQ.NEXT on 4 names in 4 ranges."""
        by_range = self.keys(1, "seq")
        names = [by_range[r][0] for r in sorted(by_range)[::4]]
        return Sequence(self.history, names, [1, 2, 3], threads, self.args.seed).start()

    def recover(self):
        """Waits for every range to be led by a live node again."""
        self.cluster.wait_all_led(timeout=30)


# ---- faults ---------------------------------------------------------------------

def kill_leader(run, down=(1.0, 3.0)):
    """kill -9 of the node leading the most ranges, restart after a while."""
    node, led = run.cluster.busiest_leader()
    run.cluster.kill9(node)
    run.fault("kill -9", "kill -9 node %d (leads %d ranges)" % (node, len(led)))
    time.sleep(run.rnd.uniform(*down))
    run.cluster.start(node)
    run.recover()


def pause_leader(run, pause=(1.0, 4.0)):
    """SIGSTOP of the node leading the most (awake) ranges, SIGCONT later."""
    node, led = run.cluster.busiest_leader()
    secs = run.rnd.uniform(*pause)
    run.cluster.pause(node)
    run.fault("SIGSTOP", "SIGSTOP node %d (leads %d ranges) for %.1f s" % (node, len(led), secs))
    time.sleep(secs)
    run.cluster.resume(node)
    run.recover()


def partition_leader(run, mode, secs=(2.0, 5.0)):
    """Cuts the node leading the most ranges from the other two."""
    node, led = run.cluster.busiest_leader()
    secs = run.rnd.uniform(*secs)
    run.partitions.isolate(node, mode)
    run.fault("partition (%s)" % mode, "isolate node %d (leads %d ranges) by %s for %.1f s" %
              (node, len(led), mode.upper(), secs))
    try:
        time.sleep(secs)
    finally:
        run.partitions.heal()
    run.recover()


HOUR = 3600


def jump_clock(run):
    """The wall clock of a node jumps (libfaketime: CLOCK_REALTIME only; the
    monotonic clock runs on). Every other time it is a live node leading
    the fewest ranges, which takes over ranges at the next kill -9 of the
    busiest leader, with the requests that kill left unanswered: it jumps
    ahead, by an hour (the session TTL) or 1-6 h. The other times it is a
    node leading the most ranges: an hour ahead or back, or 2 min to 4 h
    either way. The offsets add up: over a run the nodes' wall clocks drift
    hours apart."""
    by = run.cluster.led_by_self()
    fewest = min(len(v) for v in by.values())
    most = max(len(v) for v in by.values())
    if run.faults["clock jump"] % 2 == 0:
        node = run.rnd.choice(sorted(i for i in by if len(by[i]) == fewest))
        step = run.rnd.choice((HOUR, int(run.rnd.uniform(1, 6) * HOUR)))
    else:
        node = run.rnd.choice(sorted(i for i in by if len(by[i]) == most))
        step = run.rnd.choice((HOUR, -HOUR, run.rnd.choice((1, -1)) *
                               int(math.exp(run.rnd.uniform(math.log(120),
                                                            math.log(4 * HOUR))))))
    was = run.clocks.offsets[node]
    run.clocks.set(node, was + step)
    run.fault("clock jump", "wall clock of node %d (leads %d ranges) %+d s: now %+d s" %
              (node, len(by[node]), step, was + step))


def jump_or_kill(run):
    """Every other fault a clock jump, the others a kill -9 of the busiest
    leader: its retried requests go to nodes whose clocks differ."""
    if run.faults["clock jump"] <= run.faults["kill -9"]:
        jump_clock(run)
        # libfaketime reads the node's offset again within a second.
        time.sleep(1.2)
    else:
        kill_leader(run)


def on_schedule(run, fault, calm=(1.0, 3.0)):
    """Calm, fault, calm, fault... until the scenario's time is up."""
    while run.time_left():
        time.sleep(run.rnd.uniform(*calm))
        fault(run)
    time.sleep(1.0)     # a last calm stretch: operations on a recovered cluster


# ---- scenarios --------------------------------------------------------------------

@scenario("kill-register", ci=True)
def kill_register(run):
    """Register workload on every range; kill -9 and restart of the leader
    of the most ranges."""
    w = run.register()
    try:
        on_schedule(run, kill_leader)
    finally:
        w.stop()
    return [w]


@scenario("kill-seq", ci=True)
def kill_seq(run):
    """SEQ.NEXT from 6 clients on 4 names in 4 ranges; kill -9 and restart
    of the leader of the most ranges."""
    w = run.sequence()
    try:
        on_schedule(run, kill_leader)
    finally:
        w.stop()
    return [w]


@scenario("durability", ci=True)
def durability(run):
    """Writers of increasing values; every node killed at once (kill -9 of
    all three) mid-write, all restarted: every acknowledged SET must be
    readable with its value or a later one."""
    keys = [k for ks in run.keys(4, "d").values() for k in ks]
    w = Durable(run.history, keys, [1, 2, 3], 6, run.args.seed).start()
    try:
        while run.time_left():
            time.sleep(run.rnd.uniform(1.0, 3.0))
            for i in (1, 2, 3):
                run.cluster.kill9(i)
            run.fault("kill -9 of all nodes", "kill -9 nodes 1, 2, 3")
            time.sleep(0.5)
            run.cluster.start_all()
            run.recover()
    finally:
        w.stop()
    reader = Client(900, run.history)
    try:
        lost = w.check(reader, [1, 2, 3])
    finally:
        reader.close()
    run.extra_violations += ["acknowledged write lost: " + x for x in lost]
    run.log("read back %d keys after the last restart" % len(keys))
    return [w]


def admin(run, rid, method, path):
    """An admin call on range rid's leader (following 409 hints and the
    404 of a node that no longer holds it): (status, body)."""
    c = run.cluster
    slot = run.rnd.choice([i for i in (1, 2, 3) if c.up(i)])
    st, body = 0, {}
    for _ in range(30):
        req = urllib.request.Request("http://%s%s" % (http_addr(slot), path), method=method,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=90) as r:
                return r.status, json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            st, body = e.code, json.loads(e.read().decode() or "{}")
        except OSError:
            st, body = 0, {}
        if st == 409 and body.get("error") == "not the leader of this range" and \
                c.slot.get(body.get("leader")) is not None:
            slot = c.slot[body["leader"]]
        elif st in (0, 404, 409):
            slot = slot % 3 + 1
        else:
            return st, body
        time.sleep(0.1)
    return st, body


def settle(run, rid, method, path, done, seconds=60):
    """Makes an admin call until it answers one of the statuses in done,
    as an operator would: a call answered 409 (a transfer or another
    change under way), 503 (leadership changed before it applied or a
    learner was promoted: the same call again finishes it) or 504 is made
    again. A 404 of a DELETE is its replica gone already. Fails the
    scenario if the call never succeeds: the range would stay short of a
    replica."""
    until = time.monotonic() + seconds
    while True:
        st, body = admin(run, rid, method, path)
        if st in done:
            return st
        run.log("  %s: %d %s (again)" % (method, st, body.get("error", "")))
        if "transfer the leadership first" in body.get("error", ""):
            # Leadership balance moved the lead to the replica to remove
            # (its node is the range's preferred leader): hand it on.
            c = run.cluster
            to = run.rnd.choice([i for i in (1, 2, 3) if c.up(i)])
            admin(run, rid, "POST", "/api/v1/ranges/%d/transfer-leader?to=%d" % (rid, c.ids[to]))
            continue
        if time.monotonic() > until:
            raise RuntimeError("%s %s failed for %d s: %d %s" % (method, path, seconds,
                                                                 st, body))
        time.sleep(0.5)


def move_replica(run):
    """A replica moved: a range's replica on a node that does not lead it
    removed, then added back on that node as a voter (a fresh replica id,
    caught up by a snapshot); every third time, kill -9 of a node in the
    middle of it."""
    c = run.cluster
    rid = run.rnd.choice(sorted(c.spans()))
    view = None
    for i in (1, 2, 3):
        rs = c.ranges(i) if c.up(i) else None
        view = next((r for r in rs or [] if r["id"] == rid and r["role"] == "leader"), view)
    if view is None:
        return
    lead = c.slot.get(view["leader"])
    slot = run.rnd.choice([i for i in (1, 2, 3) if i != lead])
    mine = [x for x in view["replicas"] if x["node_id"] == c.ids[slot]]
    kill = run.faults["move"] % 3 == 2
    run.fault("move", "move range %d's replica on node %d%s" %
              (rid, c.ids[slot], " with a kill -9 of it" if kill else ""))
    if mine:
        settle(run, rid, "DELETE", "/api/v1/ranges/%d/replicas/%d" %
               (rid, mine[0]["replica_id"]), done=(200, 404))
    if kill:
        c.kill9(slot)
        run.fault("kill -9", "kill -9 node %d" % c.ids[slot])
        time.sleep(run.rnd.uniform(0.5, 2.0))
        c.start(slot)
    settle(run, rid, "POST", "/api/v1/ranges/%d/replicas?node=%d&role=voter" %
           (rid, c.ids[slot]), done=(200,))
    run.recover()


@scenario("move-register", ci=True)
def move_register(run):
    """Register workload on every range; replicas moved one after another
    (removed from a node, added back there as a voter), a kill -9 of the
    moving node every third move. Found hole (c), a write answered "ERR
    duplicate of an answered request" after a move, and admin calls that
    failed under leadership balance (docs/testing.md)."""
    w = run.register()
    try:
        on_schedule(run, move_replica, calm=(0.2, 1.0))
    finally:
        w.stop()
    return [w]


@scenario("pause-register")
def pause_register(run):
    """Register workload; SIGSTOP of the leader of the most ranges for
    1-4 s (longer than the election timeout), then SIGCONT."""
    w = run.register()
    try:
        on_schedule(run, pause_leader)
    finally:
        w.stop()
    return [w]


@scenario("partition-drop", partitions=True)
def partition_drop(run):
    """Register workload; the leader of the most ranges cut off from the
    others for 2-5 s by DROP rules."""
    w = run.register()
    try:
        on_schedule(run, lambda r: partition_leader(r, "drop"))
    finally:
        w.stop()
    return [w]


@scenario("partition-reject", partitions=True)
def partition_reject(run):
    """As partition-drop with REJECT --reject-with tcp-reset rules."""
    w = run.register()
    try:
        on_schedule(run, lambda r: partition_leader(r, "reject"))
    finally:
        w.stop()
    return [w]


@scenario("reject-partition-leader", partitions=True)
def reject_partition_leader(run):
    """Known hole (a): the leader of the most ranges, busy with reads on its
    own client port and writes through the others, is cut off by REJECT
    rules (TCP resets: its peers declare it dead within ~150 ms); readers
    go on reading there, where it serves lease reads, and fresh writers
    start one by one over the next 0.5 s through the other nodes (a write
    already in flight to the old leader is resent only after 1 s: only
    fresh ones reach a new leader inside the old one's lease)."""
    probes = []
    while run.time_left():
        time.sleep(run.rnd.uniform(0.5, 1.5))
        node, led = run.cluster.busiest_leader()
        # Fresh keys each round: short histories per key, and a violation
        # names its round (p<round>.<n>).
        keys = run.keys_of(led, 2, "p%d." % len(run.events))
        # The writes keep its ranges awake: a range asleep has no lease.
        busy = Probe(run.history, keys, node, 8, run.args.seed)
        probes.append(busy.start())
        time.sleep(0.5)
        run.partitions.isolate(node, "reject")
        run.fault("partition (reject) of a leader",
                  "isolate node %d (leads %d ranges) by REJECT" % (node, len(led)))
        writers = Probe(run.history, keys, node, 24, run.args.seed, readers_share=0.0,
                        stagger=0.02)
        probes.append(writers.start())
        try:
            time.sleep(1.0)
        finally:
            run.partitions.heal()
            writers.stop()
            busy.stop()
        run.recover()
    return probes


@scenario("pause-leader")
def pause_leader_reads(run):
    """Known hole (b): SIGSTOP of the leader of the most ranges, busy with
    reads on its port and writes through the others, for 3-4 s; once the
    others have elected new leaders, one write to each of its keys through
    them, a pause for those ranges to fall asleep (their new leaders then
    send nothing to the old one), GETs queued on the old leader's client
    port, SIGCONT, and reads there for a second more."""
    probes = []
    while run.time_left():
        time.sleep(run.rnd.uniform(0.5, 1.5))
        node, led = run.cluster.busiest_leader()
        keys = run.keys_of(led, 2, "p%d." % len(run.events))    # as above
        busy = Probe(run.history, keys, node, 8, run.args.seed)
        probes.append(busy.start())
        time.sleep(0.5)              # awake ranges, fresh leases when it stops
        run.cluster.pause(node)
        paused = time.monotonic()
        secs = run.rnd.uniform(*PAUSE_SECS)
        run.fault("SIGSTOP of a leader", "SIGSTOP node %d (leads %d ranges) for %.1f s" %
                  (node, len(led), secs))
        busy.halt()                  # its readers wait for SIGCONT
        elected = wait_new_leaders(run, node, led, until=paused + secs)
        writer = Client(800, run.history)
        other = [i for i in (1, 2, 3) if i != node]
        for k in keys:
            writer.do(run.rnd.choice(other), "set", k, ("after-%d" % len(run.events),))
        writer.close()
        time.sleep(0.5)              # their ranges quiesce on the new leaders
        readers = Probe(run.history, keys, node, 6, run.args.seed, readers_share=1.0)
        probes.append(readers.start())
        time.sleep(max(0.2, paused + secs - time.monotonic()))
        run.cluster.resume(node)
        run.log("SIGCONT node %d after %.1f s; new leaders %s" %
                (node, time.monotonic() - paused, "elected" if elected else "NOT elected"))
        time.sleep(1.0)
        readers.stop()
        busy.stop()
        run.recover()
    return probes


@scenario("clock-jump", ci=True, clocks=True)
def clock_jump(run):
    """Register workload on every range and SEQ.NEXT on 4 names; wall-clock
    jumps (libfaketime, monotonic clocks untouched) alternating with kill -9
    and restart of the leader of the most ranges: before each kill the node
    leading the fewest ranges, which then takes over ranges and the retried
    requests, jumps 1-6 h ahead; after it the busiest leader jumps 1 h ahead
    or back or 2 min to 4 h either way. Sessions expire by the range's
    replicated clock, so no retry may apply twice (found a planted expiry by
    the leader's wall clock in 8 s). Offsets back to +0 at the end; no node
    may log an ERROR line."""
    reg = run.register(threads=5)
    seq = run.sequence(threads=3)
    try:
        on_schedule(run, jump_or_kill)
    finally:
        seq.stop()
        reg.stop()
    for i in (1, 2, 3):
        run.clocks.set(i, 0)
    run.log("wall clocks back to +0 s")
    run.logged = ["node %d logged: %s" % (i, ln) for i in (1, 2, 3)
                  for ln in run.cluster.log_lines(i, "ERROR")]
    return [reg, seq]


def wait_new_leaders(run, node, ranges, until):
    """Whether the other nodes saw other leaders for all of ranges in time."""
    other = [i for i in (1, 2, 3) if i != node]
    while time.monotonic() < until:
        views = [run.cluster.leaders(i) for i in other]
        if all(v and all(v[r] not in (None, node) for r in ranges) for v in views):
            return True
        time.sleep(0.05)
    return False


# ---- checking and reporting ----------------------------------------------------------

def check(run, workloads):
    """Checks the history; prints the summary; returns "PASS" or "FAIL"."""
    h = run.history
    # Times from the scenario's start, as the log lines print them.
    h.register = [o._replace(call=o.call - run.t0, ret=o.ret - run.t0) for o in h.register]
    h.sequence = [o._replace(call=o.call - run.t0, ret=o.ret - run.t0) for o in h.sequence]
    run.events = [(t - run.t0, what) for t, what in run.events]
    reg = check_register(h.register, run.args.budget)
    seq = check_sequences(h.sequence)
    done, unknown = h.counts()
    errors = [e for w in workloads for e in w.errors]
    violations = ([r.describe() for r in reg.violations] + seq + run.extra_violations +
                  run.logged)
    decided = reg.decided_share()
    faults = ", ".join("%s x%d" % kv for kv in sorted(run.faults.items())) or "none"
    print("  ops checked: %d (%d register, %d sequence; %d of unknown outcome)" %
          (done + unknown, len(h.register), len(h.sequence), unknown))
    print("  faults: %s" % faults)
    print("  keys decided: %.1f%% (%d of %d; %d unknown)" %
          (100 * decided, len(reg.ok) + len(reg.violations), len(reg.results), len(reg.unknown)))
    print("  violations: %d (%d keys not linearizable, %d sequence, %d durability%s)" %
          (len(violations), len(reg.violations), len(seq), len(run.extra_violations),
           ", %d ERROR lines logged" % len(run.logged) if run.clocks else ""))
    if violations:
        print("  faults (s since the start): " +
              "; ".join("%.2f %s" % ev for ev in run.events))
    for v in violations[:5]:
        print("    " + v.replace("\n", "\n    "))
    if len(violations) > 5:
        print("    ... and %d more" % (len(violations) - 5))
    for e in (h.unexpected[:5] + errors):
        print("  unexpected: " + e)
    ok = not violations and not errors and not h.unexpected and decided >= MIN_DECIDED
    if not ok or run.args.keep:
        save_history(run)
    return "PASS" if ok else "FAIL"


def save_history(run):
    def row(op):
        return [op.client, op.kind, op.key, list(op.args), op.out, op.call,
                None if math.isinf(op.ret) else op.ret]
    path = os.path.join(run.tmp, "history.json")
    with open(path, "w") as f:
        json.dump({"register": [row(o) for o in run.history.register],
                   "sequence": [row(o) for o in run.history.sequence],
                   "faults": run.events}, f)
    print("  history: %s" % path)


def run_scenario(name, args, partitions, clocks=None):
    f = SCENARIOS[name][0]
    tmp = tempfile.mkdtemp(prefix="rk-fault-%s-" % name)
    run = Run(args, tmp, partitions, clocks)
    print("fault: %s (seed %d, %d s): %s" % (name, args.seed, args.seconds,
                                              " ".join(f.__doc__.split())), flush=True)
    verdict = "FAIL"
    try:
        run.cluster.start_all()
        run.recover()
        run.log("every range led")
        run.deadline = time.monotonic() + args.seconds
        workloads = f(run)
        verdict = check(run, workloads)
    except RuntimeError as e:       # no recovery, a node died, iptables failed
        print("  FAIL: %s" % e)
        save_history(run)
    finally:
        if partitions is not None:
            partitions.heal()
        status = run.cluster.stop_all()
        bad = {i: s for i, s in status.items() if s not in (0, -signal.SIGKILL)}
        if bad:
            print("  FAIL: node exit status after SIGTERM: %s" % bad)
            verdict = "FAIL"
    print("fault: %s: %s (%.0f s)" % (name, verdict, time.monotonic() - run.t0), flush=True)
    if verdict == "PASS" and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("  kept %s" % tmp)
    return verdict


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rangekv", nargs="?", help="path to the rangekv binary")
    ap.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    ap.add_argument("--seconds", type=float, default=20, help="fault time per scenario")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ci", action="store_true", help="the scenarios ctest fault_short runs")
    ap.add_argument("--keep", action="store_true", help="keep data directories and logs")
    ap.add_argument("--budget", type=int, default=1_000_000,
                    help="checker search steps per key before it answers unknown")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--node-ids", default="1,2,3",
                    help="node ids of the three nodes (e.g. 7,3,5: every range's replica "
                    "ids then differ from its nodes' ids)")
    ap.add_argument("--node-flags", default="",
                    help="more flags for every node's start, e.g. \"--key-table lsm\"")
    args = ap.parse_intermixed_args()
    ids = args.node_ids.split(",")
    if len(ids) != 3 or not all(x.isdigit() and int(x) > 0 for x in ids) or len(set(ids)) != 3:
        ap.error("--node-ids: three distinct positive ids, e.g. 7,3,5")
    args.node_ids = {i + 1: int(x) for i, x in enumerate(ids)}
    if args.list:
        for name, (f, ci, _, _) in SCENARIOS.items():
            print("%-24s %s%s" % (name, "[ci] " if ci else "", " ".join(f.__doc__.split())))
        return 0
    if not args.rangekv:
        ap.error("the rangekv binary is required")
    names = args.scenarios or [n for n, (_, ci, _, _) in SCENARIOS.items() if ci or not args.ci]
    for n in names:
        if n not in SCENARIOS:
            ap.error("no scenario %r (--list)" % n)

    # SIGTERM (a ctest timeout, Ctrl-C in a script) unwinds through the
    # finally blocks, which remove the packet filter rules and stop the nodes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    verdicts = {}
    with Partitions() as partitions:
        why_not = None
        if any(SCENARIOS[n][2] for n in names):
            why_not = partitions.setup()
        for n in names:
            if SCENARIOS[n][2] and why_not:
                print("fault: %s: SKIPPED: %s" % (n, why_not), flush=True)
                verdicts[n] = "SKIPPED"
                continue
            clocks = None
            if SCENARIOS[n][3]:
                clocks = Clocks(tempfile.mkdtemp(prefix="rk-fault-clocks-"))
                why = clocks.setup(args.rangekv)
                if why:
                    shutil.rmtree(clocks.tmp, ignore_errors=True)
                    print("fault: %s: SKIPPED: %s" % (n, why), flush=True)
                    verdicts[n] = "SKIPPED"
                    continue
            try:
                verdicts[n] = run_scenario(n, args, partitions if SCENARIOS[n][2] else None,
                                           clocks)
            finally:
                if clocks:
                    shutil.rmtree(clocks.tmp, ignore_errors=True)
    print("fault: " + ", ".join("%s %s" % kv for kv in verdicts.items()))
    if "FAIL" in verdicts.values():
        return 1
    return SKIPPED if "SKIPPED" in verdicts.values() else 0


if __name__ == "__main__":
    sys.exit(main())
