#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (default 30), starting
# from a scratch copy of its committed corpus so that runs never grow the repository. Exits
# non-zero if a target crashes, leaks, trips a sanitizer or fails one of its checks.
#
#   tests/fuzz/run.sh                    # every target, 30 s each
#   FUZZ_SECONDS=600 tests/fuzz/run.sh fuzz_reply
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_request fuzz_reply fuzz_effect fuzz_cluster fuzz_acl fuzz_tls)

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DREDPAIR_FUZZ=ON -DREDPAIR_WERROR=ON >/dev/null
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)"

work="$(mktemp -d "${TMPDIR:-/tmp}/redpair-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

status=0
for t in "${targets[@]}"; do
    seeds="$root/tests/fuzz/corpus/${t#fuzz_}"
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    cp -r "$seeds/." "$work/$t/corpus/"
    echo "== $t: ${seconds}s from $(ls "$seeds" | wc -l) seeds"
    if ! "$build/$t" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/$t/artifacts/" "$work/$t/corpus" 2>"$work/$t/log"; then
        status=1
        tail -n 60 "$work/$t/log"
        # Keep the reproducer where it survives the cleanup.
        mkdir -p "$build/crashes"
        cp "$work/$t/artifacts/"* "$build/crashes/" 2>/dev/null || true
        echo "== $t FAILED; reproducers in $build/crashes/ (run: $build/$t FILE)"
        continue
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "$work/$t/log" || true
    echo "== $t ok"
done
exit $status
