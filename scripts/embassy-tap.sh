#!/usr/bin/env bash
# Runs tests/tests/embassy_tap.rs: an embassy-net stack on a TAP device plays the reference
# game, as a transport-embassy client, against transport-std's game server (hyper and
# tokio-tungstenite on the kernel's TCP). Everything happens in a network namespace this
# script creates (and removes on exit), with the TAP at 10.42.0.1/24 on the kernel's side:
# the test touches no real network.
#
# Needs root, /dev/net/tun and iproute2's `ip`; without them it prints one line and exits 2
# (skipped). Exit 0: passed; 1: failed.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "SKIP: $*"
    exit 2
}

[ "$(id -u)" -eq 0 ] || skip "not root: no network namespace for the TAP test"
[ -c /dev/net/tun ] || skip "no /dev/net/tun: the TAP test is skipped"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2): the TAP test is skipped"

# Build first, outside the namespace.
binary=$(cargo test --quiet -p tests --test embassy_tap --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -n "$binary" ] && [ -x "$binary" ] || {
    echo "the TAP test does not build"
    exit 1
}

ns="quartet-tap-$$"
ip netns add "$ns" 2>/dev/null || skip "cannot create a network namespace: the TAP test is skipped"
trap 'ip netns del "$ns" 2>/dev/null' EXIT
{
    ip netns exec "$ns" ip link set lo up &&
        ip netns exec "$ns" ip tuntap add name tap0 mode tap &&
        ip netns exec "$ns" ip link set tap0 up &&
        ip netns exec "$ns" ip addr add 10.42.0.1/24 dev tap0
} 2>/dev/null || skip "cannot create a TAP device in the namespace: the TAP test is skipped"

QUARTET_TAP=tap0 ip netns exec "$ns" "$binary" --ignored --nocapture --test-threads 1
