#!/usr/bin/env bash
# etcd 3.4, three members on loopback, measured with etcdload (gRPC, etcd's
# client library): puts to the leader at 1/16/64/256 clients, puts spread
# over all members at 256 clients, then linearizable (l) and serializable (s)
# reads of random keys. 16-byte keys, 128-byte values, uniform over
# $KEYSPACE keys (default 100,000). Each repetition starts a fresh cluster.
#   REPS=1 CS="1 256" TOTAL=2000 KEYSPACE=10000 etcd-bench.sh
#       -> $RESULTS_DIR/etcd-<time>/{raw/*.txt,runs.csv,summary.txt}
# TOTAL overrides the per-run request counts (sized for 10-20 s per run on
# two cores); conns = min(clients, 64).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(bash "$here/setup.sh")
REPS=${REPS:-3}
CS=${CS:-"1 16 64 256"}
KEYSPACE=${KEYSPACE:-100000}
E=$("$here/etcd-cluster.sh" endpoints)
out="${RESULTS_DIR:-$bin/results}/etcd-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out/raw"
csv="$out/runs.csv"
echo "rep,test,clients,conns,total,req_per_s,avg_ms,p50_ms,p99_ms,errors" >"$csv"
trap '"$here/etcd-cluster.sh" stop >/dev/null 2>&1 || true' EXIT

count() { # put|get clients
	[ -n "${TOTAL:-}" ] && { echo "$TOTAL"; return; }
	case $1-$2 in
	*-1) echo 5000 ;; *-16) echo 40000 ;; put-64) echo 80000 ;; get-64) echo 60000 ;;
	put-*) echo 120000 ;; *) echo 80000 ;;
	esac
}

run() { # rep test clients total etcdload-args...
	local rep=$1 test=$2 c=$3 total=$4 cn=$3
	shift 4
	[ "$cn" -gt 64 ] && cn=64
	local f="$out/raw/r$rep-$test-c$c.txt"
	"$bin/etcdload" -endpoints "$E" -clients "$c" -conns "$cn" -total "$total" \
		-key-size 16 -val-size 128 -key-space "$KEYSPACE" "$@" >"$f" 2>&1 || true
	local v
	v=$(sed -nE 's/.*req_per_s=([0-9.]+) avg_ms=([0-9.]+) p50_ms=([0-9.]+) p99_ms=([0-9.]+).*/\1,\2,\3,\4/p' "$f")
	local e
	e=$(sed -nE 's/.*errors=([0-9]+).*/\1/p' "$f")
	echo "$rep,$test,$c,$cn,$total,${v:-0,,,},${e:-$total}" | tee -a "$csv"
}

for rep in $(seq "$REPS"); do
	"$here/etcd-cluster.sh" restart >/dev/null
	sleep 2
	for c in $CS; do
		run "$rep" put "$c" "$(count put "$c")" -op put -target-leader
	done
	run "$rep" put-all 256 "$(count put 256)" -op put
	# every key of the key space exists before the reads
	run "$rep" prefill 64 "$KEYSPACE" -op put -target-leader -sequential
	for cons in l s; do
		for c in $CS; do
			run "$rep" "get-$cons" "$c" "$(count get "$c")" -op range -consistency "$cons"
		done
	done
done
"$here/etcd-cluster.sh" stop >/dev/null
python3 "$here/summarize.py" "$csv" | tee "$out/summary.txt"
