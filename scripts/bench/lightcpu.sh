#!/usr/bin/env bash
# CPU per request at light load, one command: rangekv before (a git
# revision, default main) and after (the working tree) beside Redis, one
# client without pipelining and 50 clients x 16 pipelined, rounds
# alternated to show the noise. See lightcpu.py for what is measured.
#   scripts/bench/lightcpu.sh [--before REV] [--rounds N] [--quick] [--out FILE] [--keep]
# (release builds: the working tree in build-bench, the before revision
# from `git archive` in a temporary directory; Redis from Debian packages.)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
exec python3 scripts/bench/lightcpu.py "$@"
