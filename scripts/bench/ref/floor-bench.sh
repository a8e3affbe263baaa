#!/usr/bin/env bash
# The machine's floors, the best any replicated store can do here:
#   fdatasync-4k-overwrite  write 4 KiB + fdatasync in place over a written file
#                           (a log with preallocated segments, as etcd's WAL)
#   fsync-4k-append         write 4 KiB + fsync appending to a growing file
#   fdatasync-x3-parallel   three fdatasync-4k-overwrite writers at once (three
#                           replicas sharing one disk): rate = their sum,
#                           p50/p99 = median over the three
#   tcp-rtt-64B             64-byte ping-pong over 127.0.0.1, TCP_NODELAY
# in each directory of $DIRS (default $TMPDIR or /tmp).
#   REPS=1 N=1000 floor-bench.sh -> $RESULTS_DIR/floor-<time>/{runs.csv,summary.txt}
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(bash "$here/setup.sh")
REPS=${REPS:-3}
N=${N:-3000}
DIRS=${DIRS:-${TMPDIR:-/tmp}}
out="${RESULTS_DIR:-$bin/results}/floor-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
csv="$out/runs.csv"
echo "rep,what,fs,ops_per_s,p50_us,p99_us" >"$csv"
fl="$bin/floor"
vals() { sed -nE 's/.* rate=([0-9.]+)\/s p50=([0-9.]+)us p99=([0-9.]+)us.*/\1,\2,\3/p'; }
for rep in $(seq "$REPS"); do
	for d in $DIRS; do
		echo "$rep,fdatasync-4k-overwrite,$d,$("$fl" sync "$d" "$N" fdatasync 4096 1 | vals)" | tee -a "$csv"
		echo "$rep,fsync-4k-append,$d,$("$fl" sync "$d" "$N" fsync 4096 0 | vals)" | tee -a "$csv"
		t=$(mktemp -d)
		for i in 1 2 3; do "$fl" sync "$d" "$N" fdatasync 4096 1 >"$t/$i" & done
		wait
		echo "$rep,fdatasync-x3-parallel,$d,$(cat "$t"/[123] | vals | python3 -c '
import statistics, sys
r = [[float(x) for x in l.split(",")] for l in sys.stdin]
print("%.0f,%.1f,%.1f" % (sum(x[0] for x in r), statistics.median(x[1] for x in r),
                          statistics.median(x[2] for x in r)))')" | tee -a "$csv"
		rm -rf "$t"
	done
	echo "$rep,tcp-rtt-64B,lo,$("$fl" rtt $((N * 30)) 64 $((25900 + rep)) | vals)" | tee -a "$csv"
done
python3 "$here/summarize.py" "$csv" | tee "$out/summary.txt"
