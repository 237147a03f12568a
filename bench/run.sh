#!/usr/bin/env bash
# Throughput and latency of redpair next to direct Redis, twemproxy (nutcracker) and HAProxy, in one
# run on loopback, interleaved so that machine noise hits every target alike.
#
#   bench/run.sh                      # N=200000 requests per test, 1 round
#   N=50000 ROUNDS=3 bench/run.sh     # quicker, median of 3 rounds
#
# Targets, each on its own 127.0.0.1 port:
#   direct     redis-server R
#   twemproxy  nutcracker in front of R (one pool, one server, no preconnect)
#   haproxy    HAProxy, mode tcp, one thread, in front of R
#   redpair    redpair mirroring to two more redis-servers A (primary) and B
# Each target gets `redis-benchmark -t $TESTS -n $N -r $R --csv` at -c 50, -c 50 -P 16 and -c 1;
# the order of targets rotates every round. Prints req/s and p50 tables with ratios.
#
# Environment: N, R (keyspace, 10000), ROUNDS (1), TESTS (set,get,incr,lpush,lpop),
# REDPAIR_BIN (default: build/redpair, else the newest build*/redpair), REDPAIR_ARGS (extra
# directives), KEEP=1 keeps the work directory with every log and raw CSV.
set -euo pipefail

N=${N:-200000}
R=${R:-10000}
ROUNDS=${ROUNDS:-1}
TESTS=${TESTS:-set,get,incr,lpush,lpop}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ -z "${REDPAIR_BIN:-}" ]; then
    if [ -x "$ROOT/build/redpair" ]; then
        REDPAIR_BIN=$ROOT/build/redpair
    else
        # shellcheck disable=SC2012 # newest first; the paths are ours
        REDPAIR_BIN=$(ls -t "$ROOT"/build*/redpair 2>/dev/null | head -n 1 || true)
    fi
fi
if [ -z "${REDPAIR_BIN:-}" ] || [ ! -x "$REDPAIR_BIN" ]; then echo "run.sh: no redpair binary (build it, or set REDPAIR_BIN)" >&2
    exit 1
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "run.sh: '$1' not found: apt-get install $2" >&2; exit 1; }; }
need redis-server redis-server
need redis-benchmark redis-tools
need redis-cli redis-tools
need nutcracker nutcracker
need haproxy haproxy
need python3 python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redpair-bench.XXXXXX")
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

# Distinct free ports, all chosen at once.
read -r P_R P_A P_B P_TW P_TWSTATS P_HA P_RP < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(7):
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
    echo "run.sh: $2 on port $1 does not answer PING; its log:" >&2
    tail -n 20 "$WORK/$2.log" >&2 2>/dev/null || true
    exit 1
}

start_redis() { # port name
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
        --daemonize no --logfile "$WORK/$2.log" &
    PIDS+=($!)
    wait_ping "$1" "$2"
}

start_redis "$P_R" redis-r
start_redis "$P_A" redis-a
start_redis "$P_B" redis-b

# twemproxy: one pool, one server. No `preconnect`: connections are made on first use.
cat >"$WORK/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$P_TW
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  server_connections: 1
  timeout: 10000
  servers:
   - 127.0.0.1:$P_R:1
EOF
nutcracker -t -c "$WORK/nutcracker.yml" >"$WORK/nutcracker-check.log" 2>&1 \
    || { cat "$WORK/nutcracker-check.log" >&2; exit 1; }
nutcracker -c "$WORK/nutcracker.yml" -o "$WORK/twemproxy.log" -v 4 \
    -s "$P_TWSTATS" -a 127.0.0.1 &
PIDS+=($!)
wait_ping "$P_TW" twemproxy

# HAProxy: plain TCP forwarding, one thread like the other proxies.
cat >"$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend redis_in
    bind 127.0.0.1:$P_HA
    default_backend redis_out
backend redis_out
    server r 127.0.0.1:$P_R
EOF
haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
wait_ping "$P_HA" haproxy

# shellcheck disable=SC2086 # REDPAIR_ARGS is a list of words on purpose
"$REDPAIR_BIN" --port "$P_RP" --backend a 127.0.0.1 "$P_A" --backend b 127.0.0.1 "$P_B" \
    --admin-port 0 --loglevel warning --logfile "$WORK/redpair.log" ${REDPAIR_ARGS:-} \
    >"$WORK/redpair.out" 2>&1 &
PIDS+=($!)
wait_ping "$P_RP" redpair
for _ in $(seq 1 100); do
    [ "$(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | grep -c 'state=in-sync')" = 2 ] && break
    sleep 0.1
done

port_of() {
    case "$1" in
        direct) echo "$P_R" ;;
        twemproxy) echo "$P_TW" ;;
        haproxy) echo "$P_HA" ;;
        redpair) echo "$P_RP" ;;
    esac
}

TARGETS=(direct twemproxy haproxy redpair)
CONFIGS=("-c 50" "-c 50 -P 16" "-c 1")
RESULTS=$WORK/results.csv
: >"$RESULTS"

echo "redpair bench: N=$N R=$R ROUNDS=$ROUNDS tests=$TESTS on $(nproc) CPUs" >&2
echo "redpair: $REDPAIR_BIN" >&2
for round in $(seq 1 "$ROUNDS"); do
    for cfg in "${CONFIGS[@]}"; do
        # Rotate the order of the targets each round.
        order=()
        for i in "${!TARGETS[@]}"; do
            order+=("${TARGETS[$(((i + round - 1) % ${#TARGETS[@]}))]}")
        done
        for target in "${order[@]}"; do
            echo "round $round: $target $cfg" >&2
            out=$WORK/raw-$round-$target-${cfg// /}.csv
            # shellcheck disable=SC2086 # cfg holds several options
            if ! redis-benchmark -h 127.0.0.1 -p "$(port_of "$target")" -t "$TESTS" -n "$N" -r "$R" \
                $cfg --csv >"$out" 2>"$out.err"; then
                echo "run.sh: redis-benchmark failed against $target ($cfg):" >&2
                cat "$out.err" >&2
                exit 1
            fi
            # "SET","45454.55","0.665","0.096","0.591",... -> target,config,round,test,rps,p50
            tr -d '"\r' <"$out" | awk -F, -v t="$target" -v c="$cfg" -v r="$round" \
                '$1 != "test" && NF >= 5 { print t "," c "," r "," $1 "," $2 "," $5 }' >>"$RESULTS"
        done
    done
done

DIVERGENCES=$(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | sed -n 's/^divergences://p')

python3 - "$RESULTS" "$N" "$ROUNDS" "${DIVERGENCES:-?}" <<'EOF'
import collections, statistics, sys

path, n, rounds, divergences = sys.argv[1:5]
data = collections.defaultdict(list)  # (config, test, target) -> [(rps, p50)]
configs, tests = [], []
for line in open(path):
    target, config, _round, test, rps, p50 = line.strip().split(",")
    data[(config, test, target)].append((float(rps), float(p50)))
    if config not in configs:
        configs.append(config)
    if test not in tests:
        tests.append(test)

targets = ["direct", "twemproxy", "haproxy", "redpair"]

def med(config, test, target, i):
    v = [x[i] for x in data.get((config, test, target), [])]
    return statistics.median(v) if v else float("nan")

def ratio(a, b):
    return a / b if b and b == b and a == a else float("nan")

for what, i, fmt in (("requests per second", 0, "{:,.0f}"), ("p50 latency, ms", 1, "{:.3f}")):
    print()
    print("== %s (median of %s round(s), -n %s) ==" % (what, rounds, n))
    for config in configs:
        cols = ["test"] + targets + ["redpair/twemproxy", "redpair/direct"]
        if "-P" in config:
            cols.append("redpair/haproxy")
        rows = []
        for test in tests:
            vals = {t: med(config, test, t, i) for t in targets}
            row = [test] + [fmt.format(vals[t]) for t in targets]
            row.append("%.2f" % ratio(vals["redpair"], vals["twemproxy"]))
            row.append("%.2f" % ratio(vals["redpair"], vals["direct"]))
            if "-P" in config:
                row.append("%.2f" % ratio(vals["redpair"], vals["haproxy"]))
            rows.append(row)
        widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(cols)]
        print()
        print("redis-benchmark %s" % config)
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(cols, widths))))
        for r in rows:
            print("  ".join(x.rjust(w) if j else x.ljust(w) for j, (x, w) in enumerate(zip(r, widths))))
print()
print("ratios: req/s ratio > 1 means redpair is faster; p50 ratio > 1 means redpair is slower.")
print("redpair divergences after the run: %s" % divergences)
EOF
