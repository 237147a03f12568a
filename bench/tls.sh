#!/usr/bin/env bash
# What TLS costs: redpair with TLS on both sides (clients -> redpair on tls-port, redpair ->
# TLS-only backends with backend-tls) next to plain redpair, and a TLS-only redis-server next to a
# plain one, in one run on loopback, interleaved so that machine noise hits every target alike.
#
#   bench/tls.sh                 # N=100000 requests per test
#   N=20000 bench/tls.sh         # quicker
#
# Each target gets `redis-benchmark -t set,get -n $N -r 10000 --csv` at -c 50 and -c 50 -P 16,
# with `--tls --cacert --cert --key` for the TLS ones (certificates made here with openssl).
# Prints req/s and p50 per target with the TLS/plain ratios. Environment: N, REDPAIR_BIN, KEEP=1.
set -euo pipefail

N=${N:-100000}
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need openssl openssl

# A CA, a server certificate for 127.0.0.1 and a client certificate.
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-ca 2>/dev/null
for who in server client; do
    openssl req -newkey rsa:2048 -nodes -keyout "$who.key" -out "$who.csr" -subj "/CN=$who" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$who.ext" -out "$who.crt" 2>/dev/null
done
cd - >/dev/null
CERTS=(--tls-cert-file "$WORK/server.crt" --tls-key-file "$WORK/server.key" --tls-ca-cert-file "$WORK/ca.crt")
CLIENT_TLS=(--tls --cacert "$WORK/ca.crt" --cert "$WORK/client.crt" --key "$WORK/client.key")

read -r P_R P_A P_B P_RP P_RT P_AT P_BT P_RPT < <(free_ports 8)
start_redis redis "$P_R"
start_redis redis-a "$P_A"
start_redis redis-b "$P_B"
start_redpair redpair "$P_RP" "$P_A" "$P_B"
TLS_CLI=("${CLIENT_TLS[@]}")
start_redis redis-tls "$P_RT" "${CERTS[@]}" --tls-auth-clients yes
start_redis redis-a-tls "$P_AT" "${CERTS[@]}" --tls-auth-clients yes --tls-replication yes
start_redis redis-b-tls "$P_BT" "${CERTS[@]}" --tls-auth-clients yes --tls-replication yes
start_redpair redpair-tls "$P_RPT" "$P_AT" "$P_BT" "${CERTS[@]}" --backend-tls yes \
    --backend-tls-cert-file "$WORK/client.crt" --backend-tls-key-file "$WORK/client.key"
TLS_CLI=()

TARGETS=("direct $P_R" "direct-tls $P_RT" "redpair $P_RP" "redpair-tls $P_RPT")
RESULTS=$WORK/results.csv
: >"$RESULTS"
echo "redpair TLS bench: N=$N on $(nproc) CPUs; redpair: $REDPAIR_BIN" >&2
for cfg in "-c 50" "-c 50 -P 16"; do
    for target in "${TARGETS[@]}"; do
        read -r name port <<<"$target"
        tls=()
        [[ $name == *-tls ]] && tls=("${CLIENT_TLS[@]}")
        echo "$name $cfg" >&2
        out=$WORK/raw-$name-${cfg// /}.csv
        # shellcheck disable=SC2086 # cfg holds several options
        if ! redis-benchmark -h 127.0.0.1 -p "$port" "${tls[@]}" -t set,get -n "$N" -r 10000 $cfg \
            --csv >"$out" 2>"$out.err"; then
            echo "$ME: redis-benchmark failed against $name ($cfg):" >&2
            cat "$out.err" >&2
            exit 1
        fi
        # "SET","45454.55","0.665",... -> target,config,test,rps,p50
        tr -d '"\r' <"$out" | awk -F, -v t="$name" -v c="$cfg" \
            '$1 != "test" && NF >= 5 { print t "," c "," $1 "," $2 "," $5 }' >>"$RESULTS"
    done
done

PYTHONPATH="$ROOT/bench" python3 - "$RESULTS" "$N" <<'PY'
import sys

from table import show

path, n = sys.argv[1:3]
data, configs, tests = {}, [], []
for line in open(path):
    target, config, test, rps, p50 = line.strip().split(",")
    data[(config, test, target)] = (float(rps), float(p50))
    configs += [config] if config not in configs else []
    tests += [test] if test not in tests else []
targets = ["direct", "direct-tls", "redpair", "redpair-tls"]
for what, i, fmt in (("requests per second", 0, "{:,.0f}"), ("p50 latency, ms", 1, "{:.3f}")):
    print()
    print("== %s (-n %s) ==" % (what, n))
    for config in configs:
        cols = ["test"] + targets + ["direct tls/plain", "redpair tls/plain", "redpair-tls/direct-tls"]
        rows = []
        for test in tests:
            v = {t: data[(config, test, t)][i] for t in targets}
            rows.append([test] + [fmt.format(v[t]) for t in targets] + [
                "%.2f" % (v["direct-tls"] / v["direct"]), "%.2f" % (v["redpair-tls"] / v["redpair"]),
                "%.2f" % (v["redpair-tls"] / v["direct-tls"])])
        show("redis-benchmark %s" % config, cols, rows)
PY
