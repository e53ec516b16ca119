#!/usr/bin/env bash
# The game page in a real browser: headless Chromium opens `/?game_id=42&auto=1` on the game
# server, the page connects, sends a move and shows the answer and the events; the DOM is
# checked for them and a screenshot is written. Installs Debian's chromium when it is missing;
# when it cannot, prints one `SKIP:` line and exits 2.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends chromium chromium-driver; } >/dev/null 2>&1; then
        echo "SKIP: chromium could not be installed; browser check skipped"
        exit 2
    fi
fi

cargo build --quiet -p transport-std --example game || exit 1
target=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$(mktemp -d)
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$target/debug/examples/game" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.err" &
server=$!
addr=
for _ in $(seq 1 300); do # a hang guard: the line comes as soon as the port is bound
    addr=$(sed -n 's|^game server: open http://\([0-9.:]*\)/.*|\1|p' "$work/server.out")
    [ -n "$addr" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "the game server did not start"
    cat "$work/server.err"
    exit 1
fi

page="http://$addr/?game_id=42&auto=1"
flags=(--headless=new --no-sandbox --disable-dev-shm-usage --disable-gpu
    --disable-background-networking --disable-component-update --disable-sync --no-first-run
    --virtual-time-budget=5000)
timeout 120 chromium "${flags[@]}" --user-data-dir="$work/profile-dom" --dump-dom "$page" \
    >"$work/dom.html" 2>"$work/chromium.err"

status=0
for expected in \
    '{"id":"r1","type":"response","data":{"success":true,"game_id":42,"x":1,"y":2}}' \
    '{"type":"event","kind":"game:state","data":{"status":"init","player_count":1}}' \
    '{"type":"event","kind":"init","data":{"success":true}}'; do
    if grep -qF "$expected" "$work/dom.html"; then
        echo "page shows $expected"
    else
        echo "page does not show $expected"
        status=1
    fi
done
if [ "$status" -ne 0 ]; then
    sed -n '/id="log"/,/<\/div><\/div>/p' "$work/dom.html" | head -20
    tail -5 "$work/chromium.err"
fi

shot="${TMPDIR:-/tmp}/quartet-browser.png"
timeout 120 chromium "${flags[@]}" --user-data-dir="$work/profile-shot" --window-size=1000,900 \
    --screenshot="$shot" "$page" >/dev/null 2>>"$work/chromium.err" &&
    echo "screenshot: $shot"
exit "$status"
