#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders with libFuzzer (clang). Builds the
# harnesses of tests/fuzz with -DRK_LIBFUZZER=ON in a build directory of its
# own and runs each target for SECS seconds (default 60) on its corpus.
#
#   scripts/fuzz.sh                      # every target, 60 s each
#   scripts/fuzz.sh 300 resp_cmd         # one target, 5 minutes
#   RK_FUZZ_BUILD=/tmp/bf scripts/fuzz.sh 30
#
# Inputs libFuzzer finds go to $BUILD/corpus/<target>/ (kept between runs);
# the seed corpus tests/fuzz/corpus/<target>/ is only read. A failure leaves
# its input in $BUILD/artifacts/<target>/ and the log in
# $BUILD/fuzz-<target>.log; replay it with `$BUILD/tests/fuzz/fuzz_<target>
# FILE` (or the gcc build's fuzz_<target> FILE) and, once fixed, copy it into
# tests/fuzz/corpus/<target>/ as a regression input.
#
# Exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
shift || true
ALL=(resp_cmd resp_reply raft_cc key_unescape http_query net_frame net_batch)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
BUILD=${RK_FUZZ_BUILD:-build-fuzz}
JOBS=${JOBS:-$(nproc)}

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz: installing clang" >&2
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y clang
fi
bash scripts/setup.sh

echo "== configure and build $BUILD (clang, libFuzzer + ASan + UBSan)"
# Warnings are not errors here: clang warns about things gcc does not (the
# gcc builds hold the code to -Werror), and that must not stop fuzzing.
CC=clang cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DRK_LIBFUZZER=ON -DRK_WERROR=OFF -DRK_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]/#/fuzz_}" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${TARGETS[@]}"; do
	corpus=$BUILD/corpus/$t
	artifacts=$BUILD/artifacts/$t
	log=$BUILD/fuzz-$t.log
	mkdir -p "$corpus" "$artifacts"
	echo "== $t: ${SECS} s"
	set +e
	"$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECS" -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" "tests/fuzz/corpus/$t" \
		>"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/^#[0-9]+[[:space:]]+[A-Z]+[[:space:]]+//')
	if [ "$rc" -eq 0 ]; then
		echo "$t: ok, ${execs:-?} inputs (${rate:-?}/s); $last"
	else
		failed=1
		echo "$t: FAILED (exit $rc), log $log"
		grep -E 'ERROR|property violated|SUMMARY|runtime error|Test unit written' "$log" | head -10
	fi
done
exit "$failed"
