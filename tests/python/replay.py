"""Replays the seed-000 recordings against a quartet server with the `websockets` client.

usage: replay.py BASE_URL EXCHANGES_TXT SEED_DIFFERENCES_TSV

BASE_URL is `ws://HOST:PORT/ws`, a server in the seed000 profile. Every recorded case is
replayed on its own connection; the server's frames are compared byte for byte with the
recording, or, for the cases listed in the differences file, with that file. Prints one line
per case and exits 1 on any mismatch.
"""

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# A hang guard only: every answer arrives in milliseconds.
HANG_GUARD = 20
CONNECT_EVENTS = 2


def unplaceholder(line):
    return line.replace("<7f>", "\x7f").replace("<U+2028>", "\u2028")


def parse_exchanges(text):
    cases = []
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("###"):
            continue
        if line.startswith("### "):
            cases.append((line[4:], []))
            continue
        steps = cases[-1][1]
        if line.startswith("  < T "):
            steps.append(("recv", unplaceholder(line[6:])))
        elif line.startswith("  > T "):
            steps.append(("text", line[6:]))
        elif line.startswith("  > B b'"):
            steps.append(("binary", line[8:].rstrip("'").encode()))
        elif line.startswith("  > CLOSE "):
            steps.append(("close", int(line[10:])))
        elif line.startswith("  CLOSED"):
            steps.append(("dropped", None))
        elif steps and steps[-1][0] == "text":
            # A text frame spanning lines (json-whitespace).
            steps[-1] = ("text", steps[-1][1] + "\n" + line)
        else:
            raise ValueError(f"unparsed line {line!r}")
    return cases


def parse_table(text):
    table = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        case, reply = line.split("\t", 1)
        table[case] = reply.split("|")
    return table


def query_of(case):
    return {"no-game-id-enter-fails": "", "game-id-not-int": "?game_id=abc"}.get(
        case, "?game_id=1"
    )


def client_frame(case, frame):
    if case == "json-deep-nesting-2000":
        assert frame.startswith('{"id":"d","type":"request","endpoint":"echo","data":[[[')
        return '{"id":"d","type":"request","endpoint":"echo","data":%s%s}' % (
            "[" * 2000,
            "]" * 2000,
        )
    return frame


def show_close(error):
    if error.rcvd is None:
        return "ENDED"
    return f"CLOSE {error.rcvd.code} {error.rcvd.reason}"


async def replay(base, name, steps, expected):
    async with asyncio.timeout(HANG_GUARD):
        ws = await connect(
            base + query_of(name),
            compression=None,
            max_size=None,
            ping_interval=None,
        )
    close_code = None
    for kind, value in steps:
        if kind == "text":
            await ws.send(client_frame(name, value))
        elif kind == "binary":
            await ws.send(value)
        elif kind == "close":
            close_code = value
    frames = []
    server_closed = False
    while len(frames) < expected:
        try:
            async with asyncio.timeout(HANG_GUARD):
                message = await ws.recv()
        except ConnectionClosed as error:
            frames.append(show_close(error))
            server_closed = True
            break
        frames.append(message if isinstance(message, str) else repr(message))
    if not server_closed:
        async with asyncio.timeout(HANG_GUARD):
            await ws.close(code=close_code or 1000, reason="")
        # The server answered our close with the same code, and nothing else came.
        answer = ws.protocol.close_rcvd
        assert answer is not None, f"{name}: no close answer"
        assert answer.code == (close_code or 1000), f"{name}: {answer}"
    return frames


async def main(base, exchanges, differences):
    cases = parse_exchanges(open(exchanges, encoding="utf-8").read())
    ours = parse_table(open(differences, encoding="utf-8").read())
    assert len(cases) == 34, len(cases)
    failed = 0
    byte_compared = 0
    for name, steps in cases:
        recorded = [value for kind, value in steps if kind == "recv"]
        if name in ours:
            expected = recorded[:CONNECT_EVENTS] + ours[name]
        else:
            expected = recorded
            byte_compared += 1
        frames = await replay(base, name, steps, len(expected))
        if frames == expected:
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}\n  expected {expected!r}\n  got      {frames!r}")
    print(f"{len(cases) - failed} cases match ({byte_compared} byte-compared with the recording), {failed} differ")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
