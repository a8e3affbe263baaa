#!/usr/bin/env bash
# Redis 7.0 (Debian), one node: the unreplicated upper bound. For
# appendfsync everysec and always (appendonly yes, no RDB), a fresh
# redis-server on 127.0.0.1:$PORT (default 26379) and
#   redis-benchmark -t set,get,incr -d 128 -r 100000 -c 50 -P {1,16} -n N
# plus one unpipelined client doing PING: the loopback round trip through a
# RESP server.
#   REPS=1 N=20000 redis-bench.sh -> $RESULTS_DIR/redis-<time>/{raw/*.csv,runs.csv,summary.txt}
# N overrides the request counts (300,000 unpipelined, 2,000,000 at -P 16).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(bash "$here/setup.sh")
REPS=${REPS:-3}
PORT=${PORT:-26379}
BASE=${BASE:-${TMPDIR:-/tmp}/rk-redis-ref}
out="${RESULTS_DIR:-$bin/results}/redis-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out/raw"
csv="$out/runs.csv"
echo "rep,mode,pipeline,test,req_per_s,avg_ms,p50_ms,p99_ms" >"$csv"
pid=
stop_redis() {
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}
trap 'stop_redis; rm -rf "$BASE"' EXIT

bench() { # rep mode pipeline file redis-benchmark-args...
	local rep=$1 mode=$2 p=$3 f=$4
	shift 4
	redis-benchmark -h 127.0.0.1 -p "$PORT" --csv "$@" >"$f" 2>/dev/null
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...,"p99_latency_ms",...
	tail -n +2 "$f" | tr -d '"' |
		awk -F, -v r="$rep" -v m="$mode" -v p="$p" '{print r "," m "," p "," $1 "," $2 "," $3 "," $5 "," $7}' |
		tee -a "$csv"
}

for rep in $(seq "$REPS"); do
	for mode in everysec always; do
		rm -rf "${BASE:?}/$mode" && mkdir -p "$BASE/$mode"
		redis-server --port "$PORT" --bind 127.0.0.1 --dir "$BASE/$mode" --save '' \
			--appendonly yes --appendfsync "$mode" --daemonize no --logfile "$BASE/$mode.log" &
		pid=$!
		for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
		redis-cli -p "$PORT" ping >/dev/null || { echo "redis-server did not start" >&2; exit 1; }
		for P in 1 16; do
			n=${N:-$([ "$P" = 1 ] && echo 300000 || echo 2000000)}
			bench "$rep" "$mode" "$P" "$out/raw/r$rep-$mode-P$P.csv" \
				-t set,get,incr -d 128 -r 100000 -c 50 -P "$P" -n "$n"
		done
		if [ "$mode" = everysec ]; then
			bench "$rep" none 1 "$out/raw/r$rep-ping-c1.csv" -t ping -c 1 -P 1 -n "${N:-100000}"
		fi
		stop_redis
	done
done
python3 "$here/summarize.py" "$csv" | tee "$out/summary.txt"
