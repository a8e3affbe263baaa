#!/usr/bin/env bash
# Installs the reference systems rangekv is measured against, from Debian
# packages only, and builds the reference tools. Idempotent: installs only
# what is missing (running `apt-get update` only then) and rebuilds a tool
# only when its source is newer than the binary.
#   packages: etcd-server etcd-client (etcd 3.4), redis-server redis-tools
#             (Redis 7.0), golang-go + golang-etcd-server-dev (etcd's Go
#             client library, to build etcdload), gcc
#   tools:    $RK_REF_BIN/floor     (src/floor.c: fsync and loopback floors)
#             $RK_REF_BIN/etcdload  (src/etcdload: gRPC load generator for etcd)
# RK_REF_BIN defaults to build/bench-ref in the repository. Prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=${RK_REF_BIN:-$root/build/bench-ref}

PKGS=(etcd-server etcd-client redis-server redis-tools golang-go golang-etcd-server-dev gcc libc6-dev)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "ref/setup: installing ${missing[*]}" >&2
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

mkdir -p "$bin"
if [ ! -x "$bin/floor" ] || [ "$here/src/floor.c" -nt "$bin/floor" ]; then
	gcc -O2 -Wall -pthread -o "$bin/floor" "$here/src/floor.c"
fi
if [ ! -x "$bin/etcdload" ] || [ "$here/src/etcdload/main.go" -nt "$bin/etcdload" ]; then
	# GOPATH mode against the Debian-packaged sources in /usr/share/gocode:
	# nothing is downloaded.
	gp=$(mktemp -d "${TMPDIR:-/tmp}/rk-etcdload.XXXXXX")
	trap 'rm -rf "$gp"' EXIT
	mkdir -p "$gp/src/etcdload"
	cp "$here/src/etcdload/main.go" "$gp/src/etcdload/"
	(cd "$gp/src/etcdload" &&
		GO111MODULE=off GOFLAGS='' GOPATH="$gp:/usr/share/gocode" GOCACHE="$gp/cache" \
			go build -o "$bin/etcdload" .)
fi
echo "$bin"
