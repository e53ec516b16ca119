#!/usr/bin/env bash
# Runs the Cortex-M4 firmware example (transport-embassy/firmware, `game` binary) under QEMU
# (mps2-an386): an embassy server and an embassy client on two in-memory embassy-net stacks
# play the reference game in postcard and in JSON, and the firmware exits 0 through
# semihosting when every answer, event and closing handshake was as expected (1 otherwise;
# a hang ends with `timeout`'s 124).
#
# Installs what it needs when missing: the thumbv7em-none-eabihf target (rustup) and
# qemu-system-arm (Debian apt, as root). When that is refused it prints one line and exits 2
# (skipped).
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "SKIP: $*"
    exit 2
}

if ! rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
    rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 ||
        skip "rustup could not download thumbv7em-none-eabihf; the QEMU firmware test is skipped"
fi
if ! command -v qemu-system-arm >/dev/null 2>&1; then
    # Note: on Debian 12 this replaces a backported qemu-utils with 7.2's.
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        qemu-system-arm binutils-arm-none-eabi; } >/dev/null 2>&1 ||
        skip "apt could not install qemu-system-arm; the QEMU firmware test is skipped"
fi

cd transport-embassy/firmware || exit 1
# The runner (.cargo/config.toml) is QEMU under a 60 s timeout.
cargo run --quiet --release --bin game
