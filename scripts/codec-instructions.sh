#!/usr/bin/env bash
# Instructions per codec operation, counted with callgrind (deterministic, unlike the
# criterion times): each operation run 0 and 10,000 times, the difference divided.
#
#   bash scripts/codec-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 0; }
cargo build --quiet --release -p protocol-core --example codec_instructions
bin=${CARGO_TARGET_DIR:-target}/release/examples/codec_instructions
count() { # count OP N: instructions of the whole run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
n=10000
for op in ours-json-decode serde-json-decode ours-json-encode serde-json-encode ours-postcard; do
    base=$(count "$op" 0)
    total=$(count "$op" "$n")
    echo "$op $(((total - base) / n))"
done
