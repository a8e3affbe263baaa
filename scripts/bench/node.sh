#!/usr/bin/env bash
# Node runtime benchmarks, one command: three local nodes on 127.0.0.1-3.
# Idle cost at 10,000 and 100,000 ranges, failover with 1,000 ranges over 10
# kills, raw replication throughput over 1, 64 and 1,024 ranges (internal
# load driver).
#   scripts/bench/node.sh [idle-ranges,...] [kills]
set -euo pipefail
cd "$(dirname "$0")/../.."
IDLE=${1:-10000,100000}
KILLS=${2:-10}
bash scripts/setup.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" --target rangekv >/dev/null
B=./build-bench/src/cli/rangekv
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
for r in ${IDLE//,/ }; do
	python3 scripts/bench/node.py "$B" idle "$r" 10
done
python3 scripts/bench/node.py "$B" failover 1000 "$KILLS"
RK_TICK_MS=100 python3 scripts/bench/node.py "$B" failover 1000 5
for r in 1 64 1024; do
	python3 scripts/bench/node.py "$B" throughput "$r" $((256000 / r < 500 ? 500 : 256000 / r))
done
