#!/usr/bin/env bash
# The fault harness (tests/fault/fault.py) for as long as asked: installs
# what is missing (iptables included, for the partition scenarios), builds
# the release binary, then runs the scenarios named (default: all of them,
# those that find today's known lease holes included) with faults for
# --seconds each (default 60).
#
#   scripts/fault.sh                                  # every scenario, 60 s each
#   scripts/fault.sh --seconds 300 kill-register      # one scenario, 5 minutes
#   scripts/fault.sh --seed 7 pause-leader reject-partition-leader
#   scripts/fault.sh --list
#
# Exit status: 0 all passed, 1 a violation (or no recovery, or under 99% of
# keys decided), 77 nothing failed but a scenario was skipped (a partition
# scenario: iptables refused; clock-jump: no libfaketime). Partitions need
# root (packet filter rules on lo).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${JOBS:-$(nproc)}" --target rangekv >/dev/null

args=(--seconds 60)
exec python3 tests/fault/fault.py build/src/cli/rangekv "${args[@]}" "$@"
