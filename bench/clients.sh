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
# and proxy, which inherit the limit. Environment: REDPAIR_BIN, REDPAIR_ARGS, KEEP=1 keeps the
# work directory.
set -euo pipefail

CLIENTS=${CLIENTS:-10000}
N=${N:-200000}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ "$(ulimit -n)" -lt $((CLIENTS + 100)) ]; then
    ulimit -n $((CLIENTS + 100)) 2>/dev/null || {
        echo "$ME: needs ulimit -n of at least $((CLIENTS + 100)) (now $(ulimit -n))" >&2
        exit 1
    }
fi

read -r P_R P_A P_B P_TW P_RP < <(free_ports 5)
# maxclients as the benchmark needs: Redis counts its own clients the same way.
start_redis redis-r "$P_R" --maxclients $((CLIENTS + 100))
start_redis redis-a "$P_A" --maxclients $((CLIENTS + 100))
start_redis redis-b "$P_B" --maxclients $((CLIENTS + 100))
start_twemproxy twemproxy "$P_TW" "$P_R"
start_redpair redpair "$P_RP" "$P_A" "$P_B" --maxclients "$CLIENTS"
RP_PID=$LAST_PID
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
