#!/usr/bin/env bash
# Starts two throwaway redis-servers and ./build/redpair in front of them, on free loopback
# ports, and keeps them running until Ctrl-C. Then stops what it started and removes its files.
#
#   scripts/demo.sh             one redpair (make demo)
#   scripts/demo.sh --cluster   two side-car redpairs and a witness, one leader (make demo CLUSTER=1)
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=false
[[ ${1:-} == --cluster ]] && cluster=true

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

# Distinct free ports, held open together while picked so they cannot repeat, and tokens for the
# admin API and the cluster's peers.
read -r port pa pb admin token p2 admin2 cp1 cp2 cpw adminw ctoken < <(python3 -c '
import secrets, socket
ss = [socket.socket() for _ in range(10)]
for s in ss: s.bind(("127.0.0.1", 0))
ports = [s.getsockname()[1] for s in ss]
print(*ports[:4], secrets.token_hex(12), *ports[4:], secrets.token_hex(16))')

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

common=(--backend a 127.0.0.1 "$pa" --backend b 127.0.0.1 "$pb" --admin-token "$token"
  --loglevel notice)

if ! $cluster; then
  setsid "$bin" --port "$port" "${common[@]}" --admin-port "$admin" --state-dir "$tmp/state" \
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
else
  # Three voters: side-cars n1 and n2 (each serves clients, relaying to the leader) and the
  # witness w, each with a configuration file, a state and a consensus directory of its own.
  start_node() { # name resp-port|- cluster-port admin-port [--witness]
    local conf=$tmp/$1.conf peer
    install -m 600 /dev/null "$conf" # it holds the cluster token: redpair refuses it world-readable
    {
      printf 'node-id %s\ncluster-bind 127.0.0.1 %s\ncluster-token %s\n' "$1" "$3" "$ctoken"
      printf 'state-dir %s\nadmin-port %s\n' "$tmp/$1" "$4"
      [[ $2 != - ]] && printf 'port %s\n' "$2"
      for peer in n1:"$cp1" n2:"$cp2" w:"$cpw"; do
        [[ ${peer%%:*} != "$1" ]] && printf 'peer %s 127.0.0.1 %s\n' "${peer%%:*}" "${peer##*:}"
      done
    } >"$conf"
    setsid "$bin" ${5:+"$5"} "$conf" "${common[@]}" >"$tmp/$1.log" 2>&1 &
    pids+=($!)
  }
  start_node n1 "$port" "$cp1" "$admin"
  redpair_pid=$!
  start_node n2 "$p2" "$cp2" "$admin2"
  start_node w - "$cpw" "$adminw" --witness
  wait_ping "$port" "$redpair_pid" "redpair n1" "$tmp/n1.log"
  leader=
  for ((i = 0; i < 100; i++)); do # until a side-car leads
    leader=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$admin/api/v1/cluster" |
      python3 -c 'import json, sys; print(json.load(sys.stdin).get("leader") or "")' 2>/dev/null) || true
    [[ -n $leader && $leader != w ]] && break
    sleep 0.1
  done
  leader_admin=$admin
  [[ $leader == n2 ]] && leader_admin=$admin2
  cat <<EOF

  Three redpairs are running in front of two Redis servers; '${leader:-none}' leads:
    side-car n1  RESP 127.0.0.1:$port  dashboard http://127.0.0.1:$admin/
    side-car n2  RESP 127.0.0.1:$p2  dashboard http://127.0.0.1:$admin2/
    witness  w   votes only           admin API http://127.0.0.1:$adminw/
    backend a  127.0.0.1:$pa    backend b  127.0.0.1:$pb
  Admin token: $token

  Talk to either side-car like Redis (a follower relays to the leader):
    redis-cli -p $port set foo bar
    redis-cli -p $p2 get foo

  Who leads, and what each node sees:
    curl -s -H 'Authorization: Bearer $token' http://127.0.0.1:$admin/api/v1/cluster
  Hand leadership to the other side-car (on the leader's admin port):
    curl -s -X POST -H 'Authorization: Bearer $token' http://127.0.0.1:$leader_admin/api/v1/cluster/transfer
  Logs: $tmp/n1.log $tmp/n2.log $tmp/w.log

  Press Ctrl-C to stop everything and remove $tmp.

EOF
fi

# Until Ctrl-C (the INT trap exits, the EXIT trap cleans up), or until redpair stops by itself.
status=0
wait "$redpair_pid" || status=$?
echo "demo: redpair exited with status $status; its log:" >&2
tail -n 20 "$tmp/redpair.log" >&2
exit 1
