#!/usr/bin/env bash
# Installs the Debian 12 packages redpair needs to build, test, fuzz and demo.
# Idempotent: checks each package with dpkg and runs apt only when something is missing.
# Runs as root, or as a user with sudo. Prints nothing when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake pkg-config            # toolchain
  libuv1-dev libhiredis-dev libsystemd-dev    # the daemon (libsystemd: sd_notify)
  libsqlite3-dev node-llhttp libjansson-dev   # state store, admin API
  libraft-dev libssl-dev                      # cluster mode: Raft, the peers' HMAC handshake
  iproute2                                    # cluster tests: network namespaces
  check                                       # unit tests
  redis-server redis-tools python3 python3-redis  # integration tests, demo
  clang libclang-rt-14-dev                    # fuzzers (libFuzzer)
  nutcracker haproxy                          # benchmark comparisons
  valgrind netcat-openbsd ca-certificates
  chromium                                    # dashboard browser test (tests/browser)
  debhelper dpkg-dev fakeroot lintian         # make package: the .deb (packaging/debian)
  rpm rpmlint systemd python3-yaml            # the .rpm, systemd-analyze, Kubernetes YAML test
)
# Node.js and npm for the browser test, from Debian unless some other Node.js (with its own npm)
# is already installed: Debian's npm package cannot sit beside it.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  # dpkg -s also succeeds for removed packages whose config files remain: check the status.
  if ! dpkg -s "$p" 2>/dev/null | grep -qx 'Status: install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

as_root=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi

echo "deps.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
  if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "$@" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "deps.sh: FAILED: $*" >&2
    exit 1
  fi
}
run apt-get update -q
run apt-get install -y -q --no-install-recommends "${missing[@]}"
