#!/usr/bin/env bash
# Runs a local rangekv cluster in one command: installs what is missing,
# builds a release build into build/, then hands over to `rangekv demo`
# (3 nodes, 1024 ranges; Ctrl-C stops it). Flags go to `rangekv demo`:
#
#   scripts/demo.sh                      # a new cluster in a fresh directory
#   scripts/demo.sh --dir /tmp/rk-demo   # the same cluster again after Ctrl-C
#   scripts/demo.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target rangekv
exec build/src/cli/rangekv demo "$@"
