#!/usr/bin/env bash
# Line coverage that the fuzz corpora (fuzz/corpus/<target> and fuzz/seeds/<target>) reach in
# protocol-core/src and ws-sansio/src (their `fuzzing` modules excluded), per target and for
# all targets together. Measured with the toolchain's own llvm-tools (`rustup component add
# llvm-tools`), whose LLVM matches rustc's; the system's llvm-cov is older.
#
#   bash fuzz/coverage.sh [TARGET...]        (default: all seven)
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=${FUZZ_COVERAGE_TOOLCHAIN:-stable}
sysroot=$(rustc +"$toolchain" --print sysroot)
host=$(rustc +"$toolchain" -vV | sed -n 's/^host: //p')
tools=$sysroot/lib/rustlib/$host/bin
if [ ! -x "$tools/llvm-cov" ]; then
    rustup component add llvm-tools --toolchain "$toolchain"
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(decode_json decode_postcard json_differential ws_frames ws_pair http_upgrade connection_model)
fi
# report NAME PROFILE OBJECT...: lines of protocol-core/src and ws-sansio/src that ran, from
# llvm-cov's per-file summary (files of other crates and the `fuzzing` modules left out).
report() {
    local name=$1 profile=$2
    shift 2
    local objects=("$1")
    shift
    for object in "$@"; do
        objects+=(-object "$object")
    done
    "$tools/llvm-cov" export -summary-only -instr-profile="$profile" "${objects[@]}" |
        python3 -c '
import json, sys
name, root = sys.argv[1], sys.argv[2]
crates = {"protocol-core": root + "/protocol-core/src/",
          "ws-sansio": root + "/transport-embassy/ws-sansio/src/"}
totals = {crate: [0, 0] for crate in crates}
for entry in json.load(sys.stdin)["data"][0]["files"]:
    path = entry["filename"]
    for crate, prefix in crates.items():
        if path.startswith(prefix) and "fuzzing" not in path[len(prefix):]:
            lines = entry["summary"]["lines"]
            totals[crate][0] += lines["count"]
            totals[crate][1] += lines["covered"]
for crate, (count, covered) in totals.items():
    if count:
        print(f"{name:<18} {crate:<14} {covered:5} of {count:5} lines  {100 * covered / count:6.2f} %")
' "$name" "$PWD"
}

binaries=()
profiles=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    cargo +"$toolchain" fuzz coverage --fuzz-dir fuzz --sanitizer none "$target" \
        "fuzz/corpus/$target" "fuzz/seeds/$target" >/dev/null 2>&1
    binary=target/$host/coverage/$host/release/$target
    profile=fuzz/coverage/$target/coverage.profdata
    binaries+=("$binary")
    profiles+=("$profile")
    report "$target" "$profile" "$binary"
done
if [ "${#targets[@]}" -gt 1 ]; then
    "$tools/llvm-profdata" merge -sparse "${profiles[@]}" -o fuzz/coverage/all.profdata
    report "all targets" fuzz/coverage/all.profdata "${binaries[@]}"
fi
