#!/usr/bin/env bash
# Many clients, in one run: redpair's memory per idle client, and redis-benchmark with one
# connection per client at a time, for direct Redis, twemproxy and redpair.
#
#   bench/clients.sh                      # CLIENTS=10000, N=200000
#   CLIENTS=2000 N=50000 bench/clients.sh
#
# 1. CLIENTS connections to redpair, each sending one PING and reading its PONG, then idle:
#    redpair's resident memory (VmRSS) before and after, per client.
# 2. `redis-benchmark -c CLIENTS -n N -r 10000 --precision 3 -t set,get` against each target:
#    req/s, p50, p99, and the errors redis-benchmark reported (there must be none).
#
# Needs CLIENTS + 100 file descriptors (ulimit -n) for this shell, and as many for each server
# and proxy, which inherit the limit. Environment: REDPAIR_BIN, KEEP=1 keeps the work directory.
set -euo pipefail

CLIENTS=${CLIENTS:-10000}
N=${N:-200000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -z "${REDPAIR_BIN:-}" ]; then
    if [ -x "$ROOT/build/redpair" ]; then
        REDPAIR_BIN=$ROOT/build/redpair
    else
        # shellcheck disable=SC2012 # newest first; the paths are ours
        REDPAIR_BIN=$(ls -t "$ROOT"/build*/redpair 2>/dev/null | head -n 1 || true)
    fi
fi
if [ -z "${REDPAIR_BIN:-}" ] || [ ! -x "$REDPAIR_BIN" ]; then
    echo "clients.sh: no redpair binary (build it, or set REDPAIR_BIN)" >&2
    exit 1
fi
for tool in redis-server redis-benchmark redis-cli nutcracker python3; do
    command -v "$tool" >/dev/null || { echo "clients.sh: '$tool' not found (scripts/deps.sh)" >&2; exit 1; }
done
if [ "$(ulimit -n)" -lt $((CLIENTS + 100)) ]; then
    ulimit -n $((CLIENTS + 100)) 2>/dev/null || {
        echo "clients.sh: needs ulimit -n of at least $((CLIENTS + 100)) (now $(ulimit -n))" >&2
        exit 1
    }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redpair-clients.XXXXXX")
PIDS=()
cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do
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

read -r P_R P_A P_B P_TW P_TWSTATS P_RP < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

wait_ping() { # port what
    for _ in $(seq 1 100); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.1
    done
    echo "clients.sh: $2 on port $1 does not answer PING" >&2
    exit 1
}

# maxclients as the benchmark needs: Redis counts its own clients the same way.
for p in "$P_R" "$P_A" "$P_B"; do
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
        --daemonize no --logfile "$WORK/redis-$p.log" --maxclients $((CLIENTS + 100)) &
    PIDS+=($!)
    wait_ping "$p" "redis-$p"
done
cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$P_TW
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  server_connections: 1
  timeout: 30000
  servers:
   - 127.0.0.1:$P_R:1
EOF
nutcracker -c "$WORK/nutcracker.yml" -o "$WORK/twemproxy.log" -v 4 -s "$P_TWSTATS" -a 127.0.0.1 &
PIDS+=($!)
wait_ping "$P_TW" twemproxy
"$REDPAIR_BIN" --port "$P_RP" --backend a 127.0.0.1 "$P_A" --backend b 127.0.0.1 "$P_B" \
    --admin-port 0 --loglevel warning --logfile "$WORK/redpair.log" --state-dir "$WORK/state" \
    --maxclients "$CLIENTS" >"$WORK/redpair.out" 2>&1 &
RP_PID=$!
PIDS+=("$RP_PID")
wait_ping "$P_RP" redpair
for _ in $(seq 1 100); do
    [ "$(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | grep -c 'state=in-sync')" = 2 ] && break
    sleep 0.1
done
# Warm: the benchmark's keys exist, redpair's request free list and buffers are grown.
redis-benchmark -h 127.0.0.1 -p "$P_RP" -t set -n 20000 -r 10000 -c 50 -q >/dev/null 2>&1

echo "clients.sh: $CLIENTS idle clients" >&2
python3 - "$P_RP" "$RP_PID" "$CLIENTS" >"$WORK/idle.txt" <<'EOF'
import socket, sys, time

port, pid, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

def rss_kib():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

before = rss_kib()
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PING\r\n")
    socks.append(s)
for s in socks:
    got = b""
    while not got.endswith(b"\r\n"):
        chunk = s.recv(64)
        if not chunk:
            sys.exit("a client was disconnected: %r" % got)
        got += chunk
    if got != b"+PONG\r\n":
        sys.exit("a client got %r" % got)
time.sleep(1)
after = rss_kib()
print("%d %d %d" % (n, before, after))
for s in socks:
    s.close()
EOF
read -r IDLE_N RSS_BEFORE RSS_AFTER <"$WORK/idle.txt"
sleep 1

RESULTS=$WORK/results.csv
: >"$RESULTS"
for target in direct twemproxy redpair; do
    case "$target" in
        direct) port=$P_R ;;
        twemproxy) port=$P_TW ;;
        redpair) port=$P_RP ;;
    esac
    echo "clients.sh: redis-benchmark -c $CLIENTS against $target" >&2
    out=$WORK/bench-$target.csv
    redis-benchmark -h 127.0.0.1 -p "$port" -t set,get -n "$N" -r 10000 -c "$CLIENTS" --precision 3 \
        --csv >"$out" 2>"$out.err" || true
    # A proxy that refuses CONFIG (as redpair and twemproxy do) gets the benchmark's warning only.
    errors=$(grep -v 'WARNING: Could not fetch server CONFIG' "$out.err" | grep -ciE 'error|could not|refused|reset' || true)
    # "test","rps","avg","min","p50","p95","p99","max"
    tr -d '"\r' <"$out" | awk -F, -v t="$target" -v e="$errors" \
        '$1 != "test" && NF >= 7 { print t "," $1 "," $2 "," $5 "," $7 "," e }' >>"$RESULTS"
done

python3 - "$RESULTS" "$CLIENTS" "$N" "$IDLE_N" "$RSS_BEFORE" "$RSS_AFTER" "$WORK" <<'EOF'
import sys

path, clients, n, idle_n, before, after, work = sys.argv[1:8]
idle_n, before, after = int(idle_n), int(before), int(after)
print()
print("== %d idle clients (each sent one PING): redpair's VmRSS %s KiB -> %s KiB, %.2f KiB per client ==" % (
    idle_n, format(before, ","), format(after, ","), (after - before) / idle_n))
print()
print("== redis-benchmark -c %s -n %s -r 10000 --precision 3 ==" % (clients, n))
head = ["target", "test", "req/s", "p50 ms", "p99 ms", "errors"]
rows = [line.strip().split(",") for line in open(path)]
rows = [[r[0], r[1], format(float(r[2]), ",.0f"), r[3], r[4], r[5]] for r in rows]
widths = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
for r in [head] + rows:
    print("  ".join(x.ljust(w) if j < 2 else x.rjust(w) for j, (x, w) in enumerate(zip(r, widths))))
bad = [r for r in rows if r[5] != "0"]
if bad:
    print()
    print("errors (redis-benchmark's stderr is in %s/bench-*.csv.err): %r" % (work, bad))
EOF
