#!/usr/bin/env bash
# Starts two throwaway redis-servers and ./build/redpair in front of them, on free loopback
# ports, and keeps them running until Ctrl-C. Then stops what it started and removes its files.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=./build/redpair
[[ -x $bin ]] || { echo "demo.sh: $bin not found: run 'make demo' (or 'make build') first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/redpair-demo.XXXXXX)
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  echo "demo: stopped; removed $tmp"
}
trap cleanup EXIT
trap 'exit 0' INT # Ctrl-C is how the demo is meant to end
trap 'exit 143' TERM

# The servers run in their own sessions (setsid keeps the pid), so a Ctrl-C reaches only this
# script, whose traps then stop them in order.

# Four distinct free ports, held open together while picked so they cannot repeat, and a token
# for the admin API.
read -r port pa pb admin token < <(python3 -c '
import secrets, socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss], secrets.token_hex(12))')

# Waits up to 10 s for PING on a port to answer PONG while process $2 stays alive.
wait_ping() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) == PONG ]] && return 0
    kill -0 "$2" 2>/dev/null || { echo "demo: $3 exited; its log:" >&2; cat "$4" >&2; exit 1; }
    sleep 0.1
  done
  echo "demo: $3 did not answer PING on port $1 within 10 s; its log:" >&2
  cat "$4" >&2
  exit 1
}

for b in a b; do
  if [[ $b == a ]]; then p=$pa; else p=$pb; fi
  mkdir "$tmp/$b"
  setsid redis-server --bind 127.0.0.1 --port "$p" --dir "$tmp/$b" --save '' --appendonly no \
    --daemonize no --logfile "$tmp/redis-$b.log" &
  pids+=($!)
  wait_ping "$p" "$!" "redis-server $b" "$tmp/redis-$b.log"
done

setsid "$bin" --port "$port" --backend a 127.0.0.1 "$pa" --backend b 127.0.0.1 "$pb" \
  --admin-port "$admin" --admin-token "$token" --state-dir "$tmp/state" --loglevel notice \
  >"$tmp/redpair.log" 2>&1 &
redpair_pid=$!
pids+=("$redpair_pid")
wait_ping "$port" "$redpair_pid" redpair "$tmp/redpair.log"

cat <<EOF

  redpair is running on 127.0.0.1:$port, mirroring every write to two Redis servers:
    backend a  127.0.0.1:$pa
    backend b  127.0.0.1:$pb

  Talk to it like Redis:
    redis-cli -p $port
    redis-cli -p $port set foo bar

  See both backends hold the same data:
    redis-cli -p $pa get foo; redis-cli -p $pb get foo

  Dashboard:  http://127.0.0.1:$admin/   (admin token: $token)
  Admin API:  curl -H 'Authorization: Bearer $token' http://127.0.0.1:$admin/api/v1/status
  Its state:  redis-cli -p $port info redpair
  Its log:    tail -f $tmp/redpair.log

  Press Ctrl-C to stop everything and remove $tmp.

EOF

# Until Ctrl-C (the INT trap exits, the EXIT trap cleans up), or until redpair stops by itself.
status=0
wait "$redpair_pid" || status=$?
echo "demo: redpair exited with status $status; its log:" >&2
tail -n 20 "$tmp/redpair.log" >&2
exit 1
