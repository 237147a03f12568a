# shellcheck shell=bash
# What the bench scripts share; sourced, with `set -euo pipefail` already on. Sets ME, ROOT,
# REDPAIR_BIN (build/redpair, else the newest build*/redpair, unless given), WORK (a scratch
# directory, removed at exit unless KEEP=1) and PIDS (processes stopped at exit). With TLS_CLI set
# (redis-cli's --tls options, an array), the helpers below start and reach TLS-only servers.

ME=$(basename "$0")
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
    echo "$ME: no redpair binary (build it, or set REDPAIR_BIN)" >&2
    exit 1
fi

need() { # command package
    command -v "$1" >/dev/null 2>&1 || { echo "$ME: '$1' not found: apt-get install $2" >&2; exit 1; }
}
need redis-server redis-server
need redis-benchmark redis-tools
need redis-cli redis-tools
need nutcracker nutcracker
need python3 python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redpair-${ME%.sh}.XXXXXX")
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

# Distinct free ports, all chosen at once.
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

TLS_CLI=()
cli() { # redis-cli arguments...
    redis-cli -h 127.0.0.1 "${TLS_CLI[@]}" "$@"
}

wait_ping() { # port name
    for _ in $(seq 1 300); do
        if [ "$(cli -p "$1" ping 2>/dev/null)" = PONG ]; then return 0; fi
        sleep 0.1
    done
    echo "$ME: $2 on port $1 does not answer PING; its log:" >&2
    tail -n 20 "$WORK/$2.log" >&2 2>/dev/null || true
    exit 1
}

# Runs a command in the background, under callgrind when CG=1 (its counts in $WORK/cg.NAME); its
# pid goes to LAST_PID.
launch() { # name command...
    local name=$1
    shift
    if [ "${CG:-0}" = 1 ]; then
        set -- valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$name" \
            --log-file="$WORK/valgrind.$name.log" "$@"
    fi
    "$@" >"$WORK/$name.stdout" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# The port directives: port, or port 0 and tls-port under TLS_CLI.
ports_for() { # port
    if [ ${#TLS_CLI[@]} -gt 0 ]; then echo "--port 0 --tls-port $1"; else echo "--port $1"; fi
}

# A redis-server on 127.0.0.1, without persistence.
start_redis() { # name port [redis-server options...]
    local name=$1 port=$2
    shift 2
    # shellcheck disable=SC2046 # two or four words
    launch "$name" redis-server $(ports_for "$port") --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" --daemonize no --logfile "$WORK/$name.log" "$@"
    wait_ping "$port" "$name"
}

# redpair in front of two servers, once both are in sync.
start_redpair() { # name port port_a port_b [redpair directives...]
    local name=$1 port=$2 a=$3 b=$4
    shift 4
    # shellcheck disable=SC2086 # REDPAIR_ARGS is a list of words on purpose
    # shellcheck disable=SC2046 # two or four words
    launch "$name" "$REDPAIR_BIN" $(ports_for "$port") --backend a 127.0.0.1 "$a" --backend b 127.0.0.1 "$b" \
        --admin-port 0 --loglevel warning --logfile "$WORK/$name.log" --state-dir "$WORK/$name.state" \
        "$@" ${REDPAIR_ARGS:-}
    wait_ping "$port" "$name"
    for _ in $(seq 1 300); do
        [ "$(cli -p "$port" info redpair | tr -d '\r' | grep -c 'state=in-sync')" = 2 ] && return 0
        sleep 0.1
    done
    echo "$ME: $name's backends never came in sync" >&2
    exit 1
}

# twemproxy (nutcracker) with one pool of one server, as the benchmarks compare it.
start_twemproxy() { # name port server_port
    local stats
    read -r stats < <(free_ports 1)
    cat >"$WORK/$1.yml" <<EOF
bench:
  listen: 127.0.0.1:$2
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  server_connections: 1
  timeout: 30000
  servers:
   - 127.0.0.1:$3:1
EOF
    nutcracker -t -c "$WORK/$1.yml" >"$WORK/$1-check.log" 2>&1 || { cat "$WORK/$1-check.log" >&2; exit 1; }
    launch "$1" nutcracker -c "$WORK/$1.yml" -o "$WORK/$1.log" -v 4 -s "$stats" -a 127.0.0.1
    wait_ping "$2" "$1"
}
