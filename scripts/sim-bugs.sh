#!/usr/bin/env bash
# Measures how many simulator seeds catch each planted raft bug
# (src/raft/bugs.h); the figures go into docs/testing.md.
#   scripts/sim-bugs.sh [seeds]      (default 20000)
#
# Every bug is run and reported, whatever the others did: a simulator that
# catches a bug exits non-zero, which is the expected outcome here, not a
# reason to stop. A bug counts as caught when some seed fails or when its
# deterministic scenario (the ctest raft_catches_bugN program) reports its
# named test failed; bug 2 (figure 8) needs a rarer interleaving than most
# seed ranges give and is caught by its scenario.
# Exits 1 if the correct core fails a seed or a planted bug is caught by
# neither, 2 if the build fails.
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}

# The deterministic scenario of each bug: program and test name, as in
# tests/unit/CMakeLists.txt (RK_BUG_CATCHER_N).
scenario_prog=("" test_raft_scenarios test_raft_scenarios test_raft_scenarios
	test_raft_scenarios test_raft)
scenario_test=("" test_vote_requires_up_to_date_log
	test_figure8_no_commit_by_counting_old_term test_ack_only_after_persist
	test_lease_read_not_stale_under_gray_failure test_one_conf_change_at_a_time)

targets="rk_sim"
for b in 1 2 3 4 5; do
	targets="$targets rk_sim_bug$b ${scenario_prog[$b]}_bug$b"
done
if ! cmake -S . -B build >/dev/null ||
	! cmake --build build -j "$(nproc)" --target $targets >/dev/null; then
	echo "sim-bugs: build failed" >&2
	exit 2
fi

status=0
out=$(./build/tests/sim/rk_sim --seeds "1..$N" --quiet | tail -1)
rc=$?
echo "correct core: $out"
if [ "$rc" -ne 0 ]; then
	echo "correct core: FAILED (a seed fails without a planted bug)"
	status=1
fi

for b in 1 2 3 4 5; do
	# The simulator exits 1 when a seed fails: that is the point.
	out=$(./build/tests/sim/rk_sim_bug$b --seeds "1..$N" --quiet | tail -2 | tr '\n' ' ')
	echo "bug $b: $out"
	first=$(echo "$out" | sed -n 's/.*first failing seed \(-\?[0-9]*\).*/\1/p')
	if [ -n "$first" ] && [ "$first" != "-1" ]; then
		./build/tests/sim/rk_sim_bug$b --seed "$first" | grep VIOLATION | sed "s/^/bug $b:   /"
	fi
	prog=${scenario_prog[$b]}_bug$b
	# It exits non-zero with the failed test: read what it printed.
	sout=$(ASAN_OPTIONS=detect_leaks=0 ./build/tests/unit/$prog 2>&1)
	if grep -q "FAILED  \] ${scenario_test[$b]}" <<<"$sout"; then
		scen="caught by ${scenario_test[$b]}"
	else
		scen="NOT caught by ${scenario_test[$b]}"
	fi
	if [ -n "$first" ] && [ "$first" != "-1" ]; then
		echo "bug $b: caught by the simulator (first seed $first); scenario: $scen"
	elif [[ $scen == caught* ]]; then
		echo "bug $b: no seed of 1..$N catches it; scenario: $scen"
	else
		echo "bug $b: UNDETECTED (no seed of 1..$N, and scenario: $scen)"
		status=1
	fi
done
exit $status
