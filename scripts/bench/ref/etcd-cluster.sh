#!/usr/bin/env bash
# A three-member etcd 3.4 cluster (Debian's etcd-server) on 127.0.0.1 only.
#   etcd-cluster.sh start|stop|restart|status|endpoints
# Client ports 23791-23793, peer ports 23801-23803. Data, logs and pid files
# under $BASE (default $TMPDIR/rk-etcd-ref); `stop` kills the recorded pids
# and removes $BASE (KEEP=1 keeps it). etcd's default settings (heartbeat
# 100 ms, election 1 s, an fsync on every WAL commit); only the backend
# quota is raised to 8 GiB so long runs do not hit the 2 GiB alarm.
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/rk-etcd-ref}
ETCD=${ETCD:-etcd}
PEERS="m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803"
ENDPOINTS="127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793"

alive() { [ -f "$BASE/m$1.pid" ] && kill -0 "$(cat "$BASE/m$1.pid")" 2>/dev/null; }

start() {
	mkdir -p "$BASE"
	for i in 1 2 3; do
		alive "$i" && { echo "m$i already running"; continue; }
		mkdir -p "$BASE/m$i" && chmod 700 "$BASE/m$i"
		"$ETCD" --name "m$i" --data-dir "$BASE/m$i" \
			--listen-client-urls "http://127.0.0.1:2379$i" \
			--advertise-client-urls "http://127.0.0.1:2379$i" \
			--listen-peer-urls "http://127.0.0.1:2380$i" \
			--initial-advertise-peer-urls "http://127.0.0.1:2380$i" \
			--initial-cluster "$PEERS" --initial-cluster-token "rk-ref-$$" \
			--initial-cluster-state new \
			--quota-backend-bytes $((8 << 30)) \
			--logger zap --log-level warn >"$BASE/m$i.log" 2>&1 &
		echo $! >"$BASE/m$i.pid"
	done
	for _ in $(seq 100); do
		if ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" endpoint health >/dev/null 2>&1; then
			echo "etcd healthy: $ENDPOINTS"
			return 0
		fi
		sleep 0.2
	done
	echo "etcd did not become healthy; see $BASE/m*.log" >&2
	return 1
}

stop() {
	for i in 1 2 3; do
		f="$BASE/m$i.pid"
		[ -f "$f" ] || continue
		p=$(cat "$f")
		if kill -0 "$p" 2>/dev/null; then
			kill "$p"
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$p" 2>/dev/null && kill -9 "$p"
		fi
		rm -f "$f"
	done
	[ "${KEEP:-0}" = 1 ] || rm -rf "$BASE"
	echo "etcd stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
restart) stop && start ;;
status) ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" endpoint status -w table ;;
endpoints) echo "$ENDPOINTS" ;;
*) echo "usage: $0 start|stop|restart|status|endpoints" >&2; exit 2 ;;
esac
