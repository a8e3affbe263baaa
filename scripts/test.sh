#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test, then
# builds and runs them again under AddressSanitizer + UBSan.
# Exits non-zero on any failure.
#
#   scripts/test.sh            # everything (what CI runs)
#   RK_TEST_QUICK=1 scripts/test.sh   # release build only, no sanitizers
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

JOBS=${JOBS:-$(nproc)}
export CTEST_OUTPUT_ON_FAILURE=1

run_suite() {
	local dir=$1; shift
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
	cmake --build "$dir" -j "$JOBS"
	(cd "$dir" && ctest -j "$JOBS" --timeout 1500)
}

echo "== release build + tests"
run_suite build

if [ -z "${RK_TEST_QUICK:-}" ]; then
	# The benchmarks build with -O3 (CMAKE_BUILD_TYPE=Release), where GCC
	# finds warnings -O2 does not (a NULL it cannot rule out, a possible
	# truncation): compiled here so that -Werror breaks no benchmark.
	echo "== Release (-O3) build, compiled only"
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-release -j "$JOBS"

	echo "== ASan + UBSan build + tests"
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	RK_SANITIZED_RUN=1 run_suite build-asan -DRK_SANITIZE=ON -DRK_BUILD_BENCH=OFF
fi
echo "== all tests passed"
