#!/usr/bin/env bash
# The large-data benchmark, one command: three local nodes on 127.0.0.1-3
# (ports 28000-28023), N GB per replica of random 1 KB values loaded through
# the RESP port, completed writes and p99 per second drawn into
# docs/bench-large.png (gnuplot, installed here if missing), then bytes on
# disk per replica, random GETs with data >> cache against the small-data
# rate, a restart's time to serving, and one replica move of a range
# (N GB / --ranges of data: 64 MB at --gb 4) under writes
# (scripts/bench/large.py); then Redis with the same keys and values, whose
# GETs over them against GETs over 10,000 keys are the reference for that
# ratio (scripts/bench/large_redis.py).
#   scripts/bench/large.sh [--gb N] [--cache-mb MB] [--ranges R] [--key-table K]
# (--cache-mb: every node's cache, MiB or auto: sized from the memory
# shared by the three nodes, --nodes-on-host 3; --ranges: how many ranges
# the keys are cut into, 64 by default; --key-table: every node's, btree
# or lsm, docs/storage.md.)
# The default, 1 GB per replica, takes about 11 minutes on the shared 2-core
# machine of docs/benchmarks.md and about 7 GB of disk (the issue's targets
# are for 4 GB: about 25 minutes there, and about 17 GB of disk for the
# three replicas).
set -euo pipefail
cd "$(dirname "$0")/../.."
GB=1
MORE=()
while [ $# -gt 0 ]; do
	case "$1" in
	--gb) GB=$2; shift 2 ;;
	--cache-mb) MORE+=(--cache-mb "$2"); shift 2 ;;
	--ranges) MORE+=(--ranges "$2"); shift 2 ;;
	--key-table) MORE+=(--key-table "$2"); shift 2 ;;
	*) echo "usage: scripts/bench/large.sh [--gb N] [--cache-mb MB] [--ranges R] [--key-table btree|lsm]" >&2; exit 2 ;;
	esac
done
bash scripts/setup.sh
if ! command -v gnuplot >/dev/null; then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q gnuplot-nox >/dev/null
fi
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)" --target rangekv >/dev/null
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), TMPDIR=${TMPDIR:-/tmp} on $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1}')"
python3 scripts/bench/large.py ./build-bench/src/cli/rangekv --gb "$GB" \
	--chart docs/bench-large.png --out "${TMPDIR:-/tmp}/rk-large-$GB.json" "${MORE[@]}"
# The reference: Redis's own ratio of GETs over the same data to GETs over
# 10,000 keys, on this machine right after (scripts/bench/large_redis.py;
# it needs the data's size in free memory).
python3 scripts/bench/large_redis.py --gb "$GB" --out "${TMPDIR:-/tmp}/rk-large-redis-$GB.json"
