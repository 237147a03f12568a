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
# Each target gets `redis-benchmark -t TEST -n $N -r $R --csv`, one test at a time, at -c 50,
# -c 50 -P 16 and -c 1; the order of targets rotates every round. Prints req/s and p50 tables with
# ratios, then the CPU time per request of each process taking part (the benchmark client, the
# proxy, the redis-servers behind it): where their sum times the req/s reaches the machine's CPUs,
# the machine, not the proxy, is the limit.
#
# Environment: N, R (keyspace, 10000), ROUNDS (1), TESTS (set,get,incr,lpush,lpop),
# REDPAIR_BIN (default: build/redpair, else the newest build*/redpair), REDPAIR_ARGS (extra
# directives), KEEP=1 keeps the work directory with every log and raw CSV.
set -euo pipefail

N=${N:-200000}
R=${R:-10000}
ROUNDS=${ROUNDS:-1}
TESTS=${TESTS:-set,get,incr,lpush,lpop}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need haproxy haproxy

read -r P_R P_A P_B P_TW P_HA P_RP < <(free_ports 6)
start_redis redis-r "$P_R"
PID_R=$LAST_PID
start_redis redis-a "$P_A"
PID_A=$LAST_PID
start_redis redis-b "$P_B"
PID_B=$LAST_PID
start_twemproxy twemproxy "$P_TW" "$P_R"
PID_TW=$LAST_PID

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
launch haproxy haproxy -f "$WORK/haproxy.cfg" -db
PID_HA=$LAST_PID
wait_ping "$P_HA" haproxy

start_redpair redpair "$P_RP" "$P_A" "$P_B"
PID_RP=$LAST_PID


port_of() {
    case "$1" in
        direct) echo "$P_R" ;;
        twemproxy) echo "$P_TW" ;;
        haproxy) echo "$P_HA" ;;
        redpair) echo "$P_RP" ;;
    esac
}

# The processes serving a target: "proxy servers..." (direct has no proxy: "-").
pids_of() {
    case "$1" in
        direct) echo "- $PID_R" ;;
        twemproxy) echo "$PID_TW $PID_R" ;;
        haproxy) echo "$PID_HA $PID_R" ;;
        redpair) echo "$PID_RP $PID_A $PID_B" ;;
    esac
}

# CPU time a process has used so far, in clock ticks (utime + stime, all its threads).
ticks() { # pid
    [ "$1" = - ] && { echo 0; return; }
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

TARGETS=(direct twemproxy haproxy redpair)
CONFIGS=("-c 50" "-c 50 -P 16" "-c 1")
RESULTS=$WORK/results.csv
: >"$RESULTS"
HZ=$(getconf CLK_TCK)

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
            read -r -a pids < <(pids_of "$target")
            for test in ${TESTS//,/ }; do
                out=$WORK/raw-$round-$target-${cfg// /}-$test.csv
                before=()
                for p in "${pids[@]}"; do before+=("$(ticks "$p")"); done
                # bash's time gives the benchmark client's own CPU (user and system, in seconds).
                # shellcheck disable=SC2086 # cfg holds several options
                if ! { TIMEFORMAT='%U %S'; time redis-benchmark -h 127.0.0.1 -p "$(port_of "$target")" \
                    -t "$test" -n "$N" -r "$R" $cfg --csv >"$out" 2>"$out.err"; } 2>"$out.time"; then
                    echo "run.sh: redis-benchmark failed against $target ($cfg):" >&2
                    cat "$out.err" >&2
                    exit 1
                fi
                proxy=$(( $(ticks "${pids[0]}") - before[0] ))
                servers=0
                for i in $(seq 1 $((${#pids[@]} - 1))); do
                    servers=$(( servers + $(ticks "${pids[$i]}") - before[i] ))
                done
                read -r cu cs <"$out.time"
                # "SET","45454.55","0.665",... -> target,config,round,test,rps,p50,cpu s: client,proxy,servers
                tr -d '"\r' <"$out" | awk -F, -v t="$target" -v c="$cfg" -v r="$round" -v cl="$cu+$cs" \
                    -v px="$proxy" -v sv="$servers" -v hz="$HZ" \
                    '$1 != "test" && NF >= 5 { split(cl, u, "+"); print t "," c "," r "," $1 "," $2 "," $5 "," (u[1] + u[2]) "," px / hz "," sv / hz }' >>"$RESULTS"
            done
        done
    done
done

DIVERGENCES=$(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | sed -n 's/^divergences://p')

PYTHONPATH="$ROOT/bench" python3 - "$RESULTS" "$N" "$ROUNDS" "${DIVERGENCES:-?}" <<'EOF'
import collections, os, statistics, sys

from table import show

path, n, rounds, divergences = sys.argv[1:5]
data = collections.defaultdict(list)  # (config, test, target) -> [(rps, p50)]
cpu = collections.defaultdict(list)  # (config, test, target) -> [(client, proxy, servers) us/req]
configs, tests = [], []
for line in open(path):
    target, config, _round, test, rps, p50, client, proxy, servers = line.strip().split(",")
    data[(config, test, target)].append((float(rps), float(p50)))
    us = 1e6 / int(n)
    cpu[(config, test, target)].append((float(client) * us, float(proxy) * us, float(servers) * us))
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
        show("redis-benchmark %s" % config, cols, rows)

print()
print("== CPU time per request, us (median of %s round(s)): client, proxy, servers, total; and the" % rounds)
print("   share of the machine's CPUs that total x req/s used (~100%: the machine is the limit) ==")
ncpu = os.cpu_count()
for config in configs:
    print()
    print("redis-benchmark %s" % config)
    head = ["test"] + ["%s c/p/s = total (use)" % t for t in targets]
    rows = []
    for test in tests:
        row = [test]
        for t in targets:
            v = cpu.get((config, test, t))
            if not v:
                row.append("-")
                continue
            c, p, sv = (statistics.median(x[j] for x in v) for j in range(3))
            total = c + p + sv
            use = total * med(config, test, t, 0) / 1e6 / ncpu
            row.append("%.1f/%s/%.1f = %.1f (%.0f%%)" % (c, "-" if t == "direct" else "%.1f" % p, sv, total, 100 * use))
        rows.append(row)
    widths = [max(len(r[j]) for r in [head] + rows) for j in range(len(head))]
    for r in [head] + rows:
        print("  ".join(x.rjust(w) if j else x.ljust(w) for j, (x, w) in enumerate(zip(r, widths))))
print()
print("ratios: req/s ratio > 1 means redpair is faster; p50 ratio > 1 means redpair is slower.")
print("redpair divergences after the run: %s" % divergences)
EOF
