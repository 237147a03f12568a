#!/usr/bin/env bash
# What a mirrored write adds to `-c 1` latency, with and without the machine's scheduler in the
# way. On 2 CPUs the benchmark, the proxy and the servers share, a write that wakes two servers
# at once makes them wait for a CPU the proxy or the benchmark holds; a read wakes one. So the
# same run is made three times:
#
#   shared  every process on any CPU, as bench/run.sh runs them;
#   pinned  the redis-servers on the last CPU, the benchmark and the proxies on the first
#           (taskset), as servers on a machine of their own would be;
#   one     every process on the first CPU: no wake-up ever crosses CPUs, so each request is
#           served strictly one process after another, and a mirrored write pays the second
#           server's work in full. On a virtual machine, where waking an idle CPU costs far
#           more than a context switch, this shows how much of `shared` is wake-ups.
#
# Each prints the p50 of `redis-benchmark -c 1` SET and GET (median of ROUNDS) for direct Redis,
# twemproxy and redpair, and what each proxy adds to direct Redis's p50.
#
#   bench/pinned.sh                  # N=50000 requests per test, 3 rounds
#   N=20000 ROUNDS=1 bench/pinned.sh
set -euo pipefail

N=${N:-50000}
ROUNDS=${ROUNDS:-3}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need taskset util-linux
CPUS=$(nproc)
[ "$CPUS" -ge 2 ] || { echo "$ME: needs at least 2 CPUs" >&2; exit 1; }
FIRST=0
LAST=$((CPUS - 1))

read -r P_R P_A P_B P_TW P_RP < <(free_ports 5)
start_redis redis-r "$P_R"
SERVERS=("$LAST_PID")
start_redis redis-a "$P_A"
SERVERS+=("$LAST_PID")
start_redis redis-b "$P_B"
SERVERS+=("$LAST_PID")
start_twemproxy twemproxy "$P_TW" "$P_R"
PROXIES=("$LAST_PID")
start_redpair redpair "$P_RP" "$P_A" "$P_B"
PROXIES+=("$LAST_PID")

pin() { # cpus pid...
    local cpus=$1
    shift
    local p
    for p in "$@"; do taskset -a -p -c "$cpus" "$p" >/dev/null; done
}

# p50 in ms of one redis-benchmark run, the benchmark itself on the given CPUs.
p50() { # port test cpus
    taskset -c "$3" redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -c 1 -n "$N" -r 10000 --csv 2>/dev/null |
        awk -F'"' 'NR == 2 { print $10 }'
}

RESULTS=$WORK/results.txt
: >"$RESULTS"
for layout in shared pinned one; do
    case $layout in
    shared)
        pin "$FIRST-$LAST" "${SERVERS[@]}" "${PROXIES[@]}"
        bench_cpus=$FIRST-$LAST
        ;;
    pinned)
        pin "$LAST" "${SERVERS[@]}"
        pin "$FIRST" "${PROXIES[@]}"
        bench_cpus=$FIRST
        ;;
    one)
        pin "$FIRST" "${SERVERS[@]}" "${PROXIES[@]}"
        bench_cpus=$FIRST
        ;;
    esac
    for round in $(seq 1 "$ROUNDS"); do
        for test in set get; do
            for target in direct:$P_R twemproxy:$P_TW redpair:$P_RP; do
                echo "$ME: $layout, round $round, $test, ${target%%:*}" >&2
                echo "$layout ${target%%:*} $test $(p50 "${target#*:}" "$test" "$bench_cpus")" >>"$RESULTS"
            done
        done
    done
done

python3 - "$RESULTS" "$N" "$ROUNDS" <<'EOF'
import collections, statistics, sys

path, n, rounds = sys.argv[1:4]
p50 = collections.defaultdict(list)
for line in open(path):
    layout, target, test, ms = line.split()
    p50[(layout, target, test)].append(float(ms))
med = {k: statistics.median(v) for k, v in p50.items()}
print("== redis-benchmark -c 1 -n %s: p50 ms, median of %s round(s); + is what the proxy adds ==" % (n, rounds))
print("layout  test  direct  twemproxy (+)        redpair (+)")
for layout in ("shared", "pinned", "one"):
    for test in ("set", "get"):
        d, t, r = (med[(layout, who, test)] for who in ("direct", "twemproxy", "redpair"))
        print("%-6s  %-4s  %6.3f  %6.3f (+%.3f)  %6.3f (+%.3f)" % (layout, test.upper(), d, t, t - d, r, r - d))
EOF
