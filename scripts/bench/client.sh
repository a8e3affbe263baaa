#!/usr/bin/env bash
# Client-facing benchmark, one command: rangekv (three local nodes on
# 127.0.0.1-3, 80 ranges cut with --split-at over redis-benchmark's keys,
# measured with redis-benchmark over RESP) beside etcd 3.4 (three members,
# its own load generator), Redis with appendfsync always, the machine's
# floors (fdatasync, loopback round trip) and the storage layer's three-way
# ceiling, in one run, one part after another. Prints one table with the
# ratios rangekv/etcd and rangekv/ceiling; raw results as JSON in --out.
#   scripts/bench/client.sh [--quick] [--out FILE] [--parts floor,storage,rangekv,etcd,redis]
#                           [--spread] [--no-build | --bin RANGEKV] [--keep]
# (release build in build-bench; the reference runs come from
# scripts/bench/ref: its setup.sh installs etcd and Redis from Debian
# packages when missing and builds its tools into build/bench-ref.)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
exec python3 scripts/bench/client.py "$@"
