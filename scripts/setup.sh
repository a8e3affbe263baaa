#!/usr/bin/env bash
# Installs the Debian packages rangekv builds, tests and benchmarks with.
# Idempotent: does nothing when everything is present, and runs `apt-get update`
# only when something is missing.
set -euo pipefail

PKGS=(
	build-essential cmake pkg-config
	libuv1-dev libwiredtiger-dev wiredtiger
	nanopb libnanopb-dev libprotobuf-dev python3-protobuf protobuf-compiler
	libxxhash-dev libcmocka-dev libhttp-parser-dev libsodium-dev libcjson-dev
	redis-tools redis-server python3-redis
	iptables
	faketime
	chromium
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
