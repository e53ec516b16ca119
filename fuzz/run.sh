#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and exits non-zero on any finding.
#
#   bash fuzz/run.sh [SECONDS]
#
# - Installs cargo-fuzz (`cargo install --locked cargo-fuzz`) when it is missing; when that is
#   refused it says so in one line and skips, successfully.
# - With a nightly toolchain the targets run under AddressSanitizer (`cargo +nightly fuzz run`);
#   otherwise on stable without a sanitizer (`--sanitizer none`). FUZZ_SANITIZER=none forces
#   the latter.
# - Debug assertions and overflow checks stay on (no `-O`). Each run uses `-timeout=5` (a hang
#   is a finding), a per-target `-max_len`, and a logged `-seed` (FUZZ_SEED to replay one).
# - Corpora: fuzz/corpus/<target> (grows, git-ignored) and the committed fuzz/seeds/<target>.
#   Findings land in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
fuzz_dir=fuzz
export CARGO_TARGET_DIR="$PWD/$fuzz_dir/target"

# target:max_len:dictionary
targets=(
    "decode_json:8192:json.dict"
    "decode_postcard:4096:"
    "json_differential:4096:json.dict"
    "ws_frames:4096:"
    "ws_pair:4096:"
    "http_upgrade:2048:"
    "connection_model:4096:"
)

if ! cargo fuzz --version >/dev/null 2>&1; then
    if ! cargo install --locked cargo-fuzz >/dev/null 2>&1; then
        echo "SKIP: cargo install --locked cargo-fuzz was refused; fuzzing skipped"
        exit 0
    fi
fi

if [ "${FUZZ_SANITIZER:-}" != none ] && cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
    sanitizer=(--sanitizer address)
    mode="nightly, AddressSanitizer"
else
    toolchain=()
    sanitizer=(--sanitizer none)
    mode="stable, no sanitizer"
fi
echo "fuzz: $(cargo "${toolchain[@]}" fuzz --version), $mode, ${seconds} s per target"

if ! cargo "${toolchain[@]}" fuzz build --fuzz-dir "$fuzz_dir" "${sanitizer[@]}"; then
    echo "fuzz: the targets do not build"
    exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
findings=()
for entry in "${targets[@]}"; do
    IFS=: read -r target max_len dict <<<"$entry"
    seed=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
    flags=(-max_total_time="$seconds" -timeout=5 -max_len="$max_len" -seed="$seed"
        -print_final_stats=1)
    if [ -n "$dict" ]; then
        flags+=(-dict="$fuzz_dir/$dict")
    fi
    mkdir -p "$fuzz_dir/corpus/$target"
    log="$logs/$target.log"
    cargo "${toolchain[@]}" fuzz run --fuzz-dir "$fuzz_dir" "${sanitizer[@]}" "$target" \
        "$fuzz_dir/corpus/$target" "$fuzz_dir/seeds/$target" -- "${flags[@]}" >"$log" 2>&1
    status=$?
    runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if [ "$status" -eq 0 ]; then
        echo "fuzz: $target: ${runs:-?} runs, ${cov:-cov: ?}, seed $seed, no finding"
    else
        echo "fuzz: $target: FINDING (exit $status), seed $seed; the end of its log:"
        tail -n 40 "$log"
        findings+=("$target")
    fi
done

if [ "${#findings[@]}" -gt 0 ]; then
    echo "fuzz: findings in: ${findings[*]} (inputs in $fuzz_dir/artifacts/)"
    exit 1
fi
echo "fuzz: no finding"
