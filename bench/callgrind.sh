#!/usr/bin/env bash
# Instructions per request, counted by callgrind, for redpair and for twemproxy (nutcracker) under
# the same fixed GET workload: `redis-benchmark -t get -n $REQUESTS -c 10` against the proxy, the
# key present on its Redis.
#
#   bench/callgrind.sh                 # REQUESTS=20000
#   REQUESTS=5000 bench/callgrind.sh
#
# Each proxy runs twice under `valgrind --tool=callgrind`, with REQUESTS and 2*REQUESTS requests,
# and is stopped cleanly (redpair: SIGTERM; nutcracker: SIGINT) so callgrind writes its file.
# Printed per proxy: total Ir / requests (start-up and shutdown included), and the marginal cost
# (Ir(2n) - Ir(n)) / n, which leaves the fixed costs out. KEEP=1 keeps the callgrind files.
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
CLIENTS=${CLIENTS:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -z "${REDPAIR_BIN:-}" ]; then
    if [ -x "$ROOT/build/redpair" ]; then
        REDPAIR_BIN=$ROOT/build/redpair
    else
        # shellcheck disable=SC2012 # newest first; the paths are ours
        REDPAIR_BIN=$(ls -t "$ROOT"/build*/redpair 2>/dev/null | head -n 1 || true)
    fi
fi
if [ -z "${REDPAIR_BIN:-}" ] || [ ! -x "$REDPAIR_BIN" ]; then echo "callgrind.sh: no redpair binary (build it, or set REDPAIR_BIN)" >&2
    exit 1
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "callgrind.sh: '$1' not found: apt-get install $2" >&2; exit 1; }; }
need valgrind valgrind
need redis-server redis-server
need redis-benchmark redis-tools
need redis-cli redis-tools
need nutcracker nutcracker
need python3 python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redpair-callgrind.XXXXXX")
PIDS=()

cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 100); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_ports() { # count
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_ping() { # port name tries
    for _ in $(seq 1 "${3:-100}"); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.2
    done
    echo "callgrind.sh: $2 on port $1 does not answer PING; its log:" >&2
    tail -n 20 "$WORK/$2.log" >&2 2>/dev/null || true
    exit 1
}

read -r P_A P_B < <(free_ports 2)
for p in "$P_A" "$P_B"; do
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
        --daemonize no --logfile "$WORK/redis-$p.log" &
    PIDS+=($!)
    wait_ping "$p" "redis-$p"
done
# redis-benchmark's GET test reads "key:__rand_int__" (no -r): make it a hit on every server.
for p in "$P_A" "$P_B"; do redis-cli -h 127.0.0.1 -p "$p" set key:__rand_int__ xxx >/dev/null; done

# Stops a proxy with the given signal and waits until it (and so callgrind) has exited.
stop_and_wait() { # pid signal
    kill -"$2" "$1"
    for _ in $(seq 1 300); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then
        echo "callgrind.sh: pid $1 ignored SIG$2 for 30s; killing it (no callgrind output)" >&2
        kill -KILL "$1"
    fi
    wait "$1" 2>/dev/null || true
}

# Total Ir recorded in a callgrind output file.
total_ir() { # file
    local t
    t=$(awk '/^(summary|totals):/ { print $2; exit }' "$1")
    if [ -z "$t" ]; then
        t=$(callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
    fi
    [ -n "$t" ] || { echo "callgrind.sh: no totals in $1" >&2; exit 1; }
    echo "$t"
}

# Runs one proxy under callgrind with n GET requests; prints the total Ir.
run_one() { # proxy n
    local proxy=$1 n=$2 port out pid
    read -r port STATS < <(free_ports 2)
    out=$WORK/callgrind.$proxy.$n.out
    case "$proxy" in
        redpair)
            # shellcheck disable=SC2086 # REDPAIR_ARGS is a list of words on purpose
            valgrind --tool=callgrind --callgrind-out-file="$out" --log-file="$WORK/valgrind.$proxy.$n.log" \
                "$REDPAIR_BIN" --port "$port" --backend a 127.0.0.1 "$P_A" --backend b 127.0.0.1 "$P_B" \
                --admin-port 0 --loglevel warning --logfile "$WORK/$proxy.log" ${REDPAIR_ARGS:-} \
                >"$WORK/$proxy.$n.stdout" 2>&1 &
            ;;
        twemproxy)
            cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$port
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  server_connections: 1
  timeout: 30000
  servers:
   - 127.0.0.1:$P_A:1
EOF
            valgrind --tool=callgrind --callgrind-out-file="$out" --log-file="$WORK/valgrind.$proxy.$n.log" \
                nutcracker -c "$WORK/nutcracker.yml" -o "$WORK/$proxy.log" -v 4 -s "$STATS" -a 127.0.0.1 \
                >"$WORK/$proxy.$n.stdout" 2>&1 &
            ;;
    esac
    pid=$!
    PIDS+=("$pid")
    wait_ping "$port" "$proxy" 300
    redis-benchmark -h 127.0.0.1 -p "$port" -t get -n "$n" -c "$CLIENTS" -q >"$WORK/bench.$proxy.$n.txt" 2>&1 \
        || { cat "$WORK/bench.$proxy.$n.txt" >&2; exit 1; }
    if [ "$proxy" = redpair ]; then stop_and_wait "$pid" TERM; else stop_and_wait "$pid" INT; fi
    [ -s "$out" ] || { echo "callgrind.sh: $proxy wrote no callgrind file; valgrind log:" >&2; tail -n 20 "$WORK/valgrind.$proxy.$n.log" >&2; exit 1; }
    total_ir "$out"
}

declare -A IR1 IR2
for proxy in redpair twemproxy; do
    echo "callgrind: $proxy, $REQUESTS GETs" >&2
    IR1[$proxy]=$(run_one "$proxy" "$REQUESTS")
    echo "callgrind: $proxy, $((2 * REQUESTS)) GETs" >&2
    IR2[$proxy]=$(run_one "$proxy" "$((2 * REQUESTS))")
done

echo
echo "Instructions (Ir) per GET, redis-benchmark -t get -c $CLIENTS, callgrind"
printf '%-10s  %16s  %16s  %14s  %12s\n' proxy "Ir (n=$REQUESTS)" "Ir (n=$((2 * REQUESTS)))" "total Ir / n" "marginal/req"
for proxy in redpair twemproxy; do
    python3 - "$proxy" "${IR1[$proxy]}" "${IR2[$proxy]}" "$REQUESTS" <<'EOF'
import sys
proxy, i1, i2, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print("%-10s  %16s  %16s  %14s  %12s" % (proxy, format(i1, ","), format(i2, ","), format(i1 // n, ","), format((i2 - i1) // n, ",")))
EOF
done
python3 - "${IR1[redpair]}" "${IR2[redpair]}" "${IR1[twemproxy]}" "${IR2[twemproxy]}" "$REQUESTS" <<'EOF'
import sys
r1, r2, t1, t2, n = map(int, sys.argv[1:6])
print("redpair/twemproxy: total %.2f, marginal %.2f" % (r1 / t1, (r2 - r1) / max(t2 - t1, 1)))
EOF
