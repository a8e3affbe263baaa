#!/usr/bin/env bash
# Measures how many simulator seeds catch each planted raft bug
# (src/raft/bugs.h); the figures go into docs/testing.md.
#   scripts/sim-bugs.sh [seeds]      (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" --target rk_sim rk_sim_bug1 rk_sim_bug2 \
	rk_sim_bug3 rk_sim_bug4 rk_sim_bug5 >/dev/null
echo "correct core: $(./build/tests/sim/rk_sim --seeds 1..$N --quiet | tail -1)"
for b in 1 2 3 4 5; do
	out=$(./build/tests/sim/rk_sim_bug$b --seeds 1..$N --quiet | tail -2 | tr '\n' ' ')
	echo "bug $b: $out"
	first=$(echo "$out" | sed -n 's/.*first failing seed \(-\?[0-9]*\).*/\1/p')
	if [ "$first" != "-1" ]; then
		./build/tests/sim/rk_sim_bug$b --seed "$first" | grep VIOLATION
	fi
done
