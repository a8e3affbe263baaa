#!/bin/bash
# ranges_list.sh BIN DATA PORTBASE: one node with --ranges 100000 (a first
# start if DATA is new, else a restart), 20 s after its HTTP port answers:
# the median of 5 times (curl's time_total) of each form of GET
# /api/v1/ranges. Run it under `flock /tmp/rk-bench.lock`, alternating the
# binaries compared (docs/benchmarks.md, "The cluster's range list").
BIN=$1; D=$2; P=$3
$BIN start --node-id 1 --data $D --peer-addr 127.0.0.1:$P --client-addr 127.0.0.1:$((P+1)) --http-addr 127.0.0.1:$((P+2)) --initial-cluster 1=127.0.0.1:$P --ranges 100000 >> $D.log 2>&1 &
PID=$!
for i in $(seq 1 300); do curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:$((P+2))/api/v1/cluster/status 2>/dev/null | grep -q 200 && break; sleep 0.5; done
sleep 20
for q in "limit=1000" "sort=writes&limit=5" "limit=100000"; do
  ts=$(for k in 1 2 3 4 5; do curl -s -o /dev/null -w "%{time_total}\n" "http://127.0.0.1:$((P+2))/api/v1/ranges?$q"; done | sort -n | sed -n 3p)
  echo "$q median ${ts}s"
done
kill $PID; wait $PID
