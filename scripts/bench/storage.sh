#!/usr/bin/env bash
# Storage benchmarks, one command: raw WiredTiger vs rk_store appends for
# 1, 100 and 10,000 ranges with batches of 1, 64 and 1,024 entries (ratio
# and group-commit flush p50/p99), the journal-once measurement, and the
# snapshot + install of a 100 MB range, and block compression (none,
# snappy, zlib) with incompressible and compressible 1 KB values. Prints
# the machine too.
#   scripts/bench/storage.sh [seconds-per-round] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-2}
R=${2:-5}
bash scripts/setup.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" --target bench_storage >/dev/null
B=./build-bench/bench/storage/bench_storage
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), TMPDIR=${TMPDIR:-/tmp} on $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1}')"
for r in 1 100 10000; do
	for b in 1 64 1024; do
		$B append --ranges "$r" --batch "$b" --seconds "$S" --rounds "$R"
	done
done
$B journal --rows 1000000 --rounds 3
$B snapshot --mb 100
$B compress --rows 100000
