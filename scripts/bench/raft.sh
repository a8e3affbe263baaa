#!/usr/bin/env bash
# Raft core benchmarks, one command: builds (release) and runs throughput at
# three batch sizes and the idle-group figures. Prints the machine too.
#   scripts/bench/raft.sh [seconds-per-run]
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-3}
bash scripts/setup.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" --target bench_raft >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
for b in 1 64 1024; do
	./build-bench/bench/raft/bench_raft throughput --seconds "$S" --batch "$b" --payload 16
done
./build-bench/bench/raft/bench_raft idle --groups 100000 --ticks 20
