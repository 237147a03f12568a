#!/usr/bin/env bash
# Instructions per request, counted by callgrind, in one run:
#
#  1. the proxy's own: redpair (mirroring to two servers) beside twemproxy (nutcracker, one
#     server), SET and GET;
#  2. each redis-server's, per write: a server written directly beside each of redpair's two
#     backends, SET (a blind overwrite) and INCR (a write whose effect depends on the data), both
#     sent bare under the default write-marks quiet; then INCR again through a redpair with
#     write-marks every-run, which sends it in the offset-marking transaction (server/backend.h).
#
# each at `-c 1`, `-c 50` and `-c 50 -P 16` (redis-benchmark, no -r: one key).
#
#   bench/callgrind.sh                 # REQUESTS=20000 per measurement
#   REQUESTS=5000 bench/callgrind.sh
#
# Only the process measured runs under `valgrind --tool=callgrind`; the others run natively, so
# that the batching a slow proxy or server would cause is the least it can be. Each process is
# started once: before a measurement its counters are zeroed (callgrind_control -z), after it they
# are dumped (-d), so start-up is not counted. What a process does while idle (Redis's serverCron,
# redpair's probes of its backends) is measured for a few seconds first and its rate times the
# measurement's duration taken off. KEEP=1 keeps the work directory with every dump.
set -euo pipefail

REQUESTS=${REQUESTS:-20000}
IDLE_SECONDS=${IDLE_SECONDS:-3}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need valgrind valgrind
need callgrind_control valgrind

# Total Ir of the newest dump of a process. callgrind_control only reaches a process that runs,
# so the PINGs wake one that waits in epoll (nutcracker has no timer).
dump() { # name pid port
    local before after
    before=$(find "$WORK" -name "cg.$1.*" | wc -l)
    callgrind_control -d "$2" >/dev/null 2>&1 &
    local ctl=$!
    while kill -0 "$ctl" 2>/dev/null; do redis-cli -h 127.0.0.1 -p "$3" ping >/dev/null 2>&1 || true; sleep 0.2; done
    wait "$ctl"
    after=$(find "$WORK" -name "cg.$1.*" | wc -l)
    [ "$after" -gt "$before" ] || { echo "callgrind.sh: no dump from $1" >&2; exit 1; }
    # shellcheck disable=SC2012 # our own file names
    awk '/^(summary|totals):/ { print $2; exit }' "$(ls -t "$WORK"/cg."$1".* | head -n 1)"
}

zero() { # pid port
    callgrind_control -z "$1" >/dev/null 2>&1 &
    local ctl=$!
    while kill -0 "$ctl" 2>/dev/null; do redis-cli -h 127.0.0.1 -p "$2" ping >/dev/null 2>&1 || true; sleep 0.2; done
    wait "$ctl"
}

now() { date +%s.%N; }

# Ir per second of a process left alone (the PINGs that reach it are few and counted too).
idle_rate() { # name pid port
    zero "$2" "$3"
    local t0 t1 ir
    t0=$(now)
    sleep "$IDLE_SECONDS"
    ir=$(dump "$1" "$2" "$3")
    t1=$(now)
    python3 -c "import sys; print(int(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$ir" "$t0" "$t1"
}

CONFIGS=("-c 1" "-c 50" "-c 50 -P 16")
RESULTS=$WORK/results.txt
: >"$RESULTS"

# One measurement: zero the measured processes, run the benchmark against target_port, dump each.
# Appends "part test config who ir_per_request" lines, the test named LABEL if set.
measure() { # part test config target_port name:pid:port:idle_rate...
    local part=$1 test=$2 cfg=$3 port=$4
    shift 4
    local m
    for m in "$@"; do IFS=: read -r _ pid mport _ <<<"$m"; zero "$pid" "$mport"; done
    local t0 t1
    t0=$(now)
    # shellcheck disable=SC2086 # cfg holds several options
    redis-benchmark -h 127.0.0.1 -p "$port" -t "$test" -n "$REQUESTS" $cfg -q >"$WORK/bench.txt" 2>&1 \
        || { cat "$WORK/bench.txt" >&2; exit 1; }
    t1=$(now)
    for m in "$@"; do
        IFS=: read -r name pid mport rate <<<"$m"
        local ir
        ir=$(dump "$name" "$pid" "$mport")
        python3 - "$part" "${LABEL:-$test}" "$cfg" "$name" "$ir" "$rate" "$t0" "$t1" "$REQUESTS" >>"$RESULTS" <<'EOF'
import sys
part, test, cfg, name, ir, rate, t0, t1, n = sys.argv[1:10]
net = int(ir) - int(rate) * (float(t1) - float(t0))
print("%s|%s|%s|%s|%d" % (part, test, cfg, name, net / int(n)))
EOF
    done
}

echo "callgrind.sh: $REQUESTS requests per measurement, redpair $REDPAIR_BIN" >&2

# --- 1. the proxies ----------------------------------------------------------------------------
read -r P_A P_B P_D P_RP P_TW < <(free_ports 5)
start_redis redis-a "$P_A"
start_redis redis-b "$P_B"
start_redis redis-d "$P_D"
CG=1 start_redpair redpair "$P_RP" "$P_A" "$P_B"
RP_PID=$LAST_PID
CG=1 start_twemproxy twemproxy "$P_TW" "$P_D"
TW_PID=$LAST_PID
redis-cli -h 127.0.0.1 -p "$P_RP" set key:__rand_int__ xxx >/dev/null # GET's key: a hit
redis-cli -h 127.0.0.1 -p "$P_D" set key:__rand_int__ xxx >/dev/null
echo "callgrind.sh: proxies idle" >&2
RP_IDLE=$(idle_rate redpair "$RP_PID" "$P_RP")
TW_IDLE=$(idle_rate twemproxy "$TW_PID" "$P_TW")
for cfg in "${CONFIGS[@]}"; do
    for test in set get; do
        echo "callgrind.sh: proxies, $test $cfg" >&2
        measure proxy "$test" "$cfg" "$P_RP" "redpair:$RP_PID:$P_RP:$RP_IDLE"
        measure proxy "$test" "$cfg" "$P_TW" "twemproxy:$TW_PID:$P_TW:$TW_IDLE"
    done
done
for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()

# --- 2. the redis-servers ----------------------------------------------------------------------
read -r P_A P_B P_D P_RP < <(free_ports 4)
CG=1 start_redis direct "$P_D"
D_PID=$LAST_PID
CG=1 start_redis backend-a "$P_A"
A_PID=$LAST_PID
CG=1 start_redis backend-b "$P_B"
B_PID=$LAST_PID
start_redpair redpair-2 "$P_RP" "$P_A" "$P_B"
RP2_PID=$LAST_PID
echo "callgrind.sh: servers idle" >&2
D_IDLE=$(idle_rate direct "$D_PID" "$P_D")
A_IDLE=$(idle_rate backend-a "$A_PID" "$P_A")
B_IDLE=$(idle_rate backend-b "$B_PID" "$P_B")
for cfg in "${CONFIGS[@]}"; do
    for test in set incr; do
        echo "callgrind.sh: servers, $test $cfg" >&2
        measure server "$test" "$cfg" "$P_D" "direct:$D_PID:$P_D:$D_IDLE"
        measure server "$test" "$cfg" "$P_RP" "backend-a:$A_PID:$P_A:$A_IDLE" "backend-b:$B_PID:$P_B:$B_IDLE"
    done
done
DIVERGENCES=$(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | sed -n 's/^divergences://p')
# The same servers behind a redpair that marks every run of INCRs (its shutdown left both exact).
kill -TERM "$RP2_PID"
wait "$RP2_PID" 2>/dev/null || true
read -r P_RP < <(free_ports 1)
start_redpair redpair-3 "$P_RP" "$P_A" "$P_B" --write-marks every-run
for cfg in "${CONFIGS[@]}"; do
    echo "callgrind.sh: servers, incr $cfg, write-marks every-run" >&2
    LABEL=incr-every-run measure server incr "$cfg" "$P_RP" "backend-a:$A_PID:$P_A:$A_IDLE" "backend-b:$B_PID:$P_B:$B_IDLE"
done
DIVERGENCES=$((DIVERGENCES + $(redis-cli -h 127.0.0.1 -p "$P_RP" info redpair | tr -d '\r' | sed -n 's/^divergences://p')))

python3 - "$RESULTS" "$REQUESTS" "${DIVERGENCES:-?}" <<'EOF'
import collections, sys

path, n, divergences = sys.argv[1:4]
ir = {}
for line in open(path):
    part, test, cfg, who, v = line.strip().split("|")
    ir[(part, test, cfg, who)] = int(v)
configs = ["-c 1", "-c 50", "-c 50 -P 16"]

def table(title, head, rows):
    print()
    print(title)
    widths = [max(len(str(r[j])) for r in [head] + rows) for j in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(w) if j == 0 else str(x).rjust(w) for j, (x, w) in enumerate(zip(r, widths))))

rows = []
for test in ("set", "get"):
    for cfg in configs:
        r, t = ir[("proxy", test, cfg, "redpair")], ir[("proxy", test, cfg, "twemproxy")]
        rows.append([test.upper() + " " + cfg, format(r, ","), format(t, ","), "%.2f" % (r / t)])
table("Proxy instructions per request (Ir, callgrind, -n %s; redpair writes to two servers)" % n,
      ["request", "redpair", "twemproxy", "redpair/twemproxy"], rows)

rows = []
for test in ("set", "incr", "incr-every-run"):
    for cfg in configs:
        d = ir[("server", test.split("-")[0], cfg, "direct")]
        a, b = ir[("server", test, cfg, "backend-a")], ir[("server", test, cfg, "backend-b")]
        rows.append([test.upper() + " " + cfg, format(d, ","), format(a, ","), format(b, ","),
                     "%.2f" % (a / d), "%.2f" % (b / d)])
table("redis-server instructions per write (Ir, callgrind, -n %s): direct, and each backend of redpair"
      " (write-marks quiet, and INCR-EVERY-RUN under write-marks every-run)" % n,
      ["write", "direct", "backend a", "backend b", "a/direct", "b/direct"], rows)
print()
print("redpair divergences after the run: %s" % divergences)
EOF
