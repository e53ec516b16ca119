#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/ from the reference material.

JSON targets: every frame of protocol-core/testdata/seed000-frames.tsv, every frame of the
recorded exchanges (seed000-exchanges.txt) and of the expected replies, plus a few inputs
around the limits. postcard: the golden vectors of postcard-frames.tsv and their neighbours.
WebSocket: frame streams and handshakes, each behind the selector byte the entry points
read first, and conversations in ws_pair's operation language. connection_model seeds are inputs the fuzzer found (the file names say what
each one reaches) and are not written here.

Run from anywhere: python3 fuzz/make_seeds.py. Files are named by content, so running it
again changes nothing.
"""

import base64
import hashlib
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTDATA = os.path.join(ROOT, "protocol-core", "testdata")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def write(target, data, name=None):
    directory = os.path.join(SEEDS, target)
    os.makedirs(directory, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def lines(name):
    with open(os.path.join(TESTDATA, name), encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line and not line.startswith("#"):
                yield line


def frame_field(field):
    if field.startswith("hex:"):
        return bytes.fromhex(field[4:])
    return field.encode("utf-8")


def json_frames():
    frames = set()
    for line in lines("seed000-frames.tsv"):
        fields = line.split("\t")
        if fields[0] == "roundtrip":
            frames.add(frame_field(fields[1]))
        elif fields[0] == "reencode":
            frames.add(frame_field(fields[1]))
            frames.add(frame_field(fields[2]))
        elif fields[0] == "refuse":
            frames.add(frame_field(fields[3]))
    for line in lines("seed000-exchanges.txt"):
        if line.startswith("  > T ") or line.startswith("  < T "):
            text = line[6:].replace("<7f>", "\x7f").replace("<U+2028>", "\u2028")
            frames.add(text.encode("utf-8"))
        elif line.startswith("  > B b'") and line.endswith("'"):
            frames.add(line[8:-1].encode("utf-8"))
    for name in ("default-profile-replies.tsv", "seed-differences.tsv"):
        for line in lines(name):
            reply = line.split("\t", 1)[1]
            for frame in reply.split("|"):
                if frame.startswith("{"):
                    frames.add(frame.encode("utf-8"))
    # Around the limits: the longest usable id, one byte more, escapes, depth.
    frames.add(('{"id":"%s","type":"request","endpoint":"echo","data":1}' % ("i" * 48)).encode())
    frames.add(('{"id":"%s","type":"request","endpoint":"echo","data":1}' % ("i" * 49)).encode())
    frames.add(('{"id":"x","type":"request","endpoint":"%s","data":1}' % ("e" * 65)).encode())
    frames.add(b'{"\\u0069d":"\\u0031","type":"re\\u0071uest","endpoint":"echo","data":1}')
    frames.add(b'{"id":"d","type":"request","endpoint":"echo","data":' + b"[" * 127 + b"]" * 127 + b"}")
    frames.add(b'{"id":"d","type":"request","endpoint":"echo","data":' + b"[" * 128 + b"]" * 128 + b"}")
    frames.add(b'{"id":"s","type":"request","endpoint":"echo","data":"\\ud800"}')
    frames.add(b'{"type":"event","kind":"error","data":{"reason":"r","code":"b\\u0075sy"}}')
    frames.add(b'{"action":"message","message":"hi"}')
    frames.add(b'{"Type":"CalculateRequest","Data":{"numbers":[2,2]}}')
    return sorted(frames)


def postcard_frames():
    frames = []
    for line in lines("postcard-frames.tsv"):
        frames.append(bytes.fromhex(line.split("\t")[0]))
    request = frames[1]
    frames.append(request + b"\x00")  # trailing byte
    frames.append(request[:-1])  # one byte short
    frames.append(b"\x81\x00" + request[1:])  # overlong varint tag
    frames.append(b"\x04" + request[1:])  # unknown tag
    frames.append(b"\x01\x02\xff\xfe\x04move\x00")  # id not UTF-8
    frames.append(b"\x01\x31" + b"i" * 49 + b"\x04echo\x00")  # id over the limit
    return frames


def ws_frame(opcode, payload, fin=True, mask=None):
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    bit = 0x80 if mask else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", length)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", length)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def ws_streams():
    streams = []
    for mask in (None, b"\x01\x02\x03\x04"):
        request = b'{"id":"r1","type":"request","endpoint":"move","data":{"x":1,"y":2}}'
        close = struct.pack(">H", 1000) + b"bye"
        streams.append(ws_frame(1, request, mask=mask))
        streams.append(
            ws_frame(1, "caf\u00e9 ".encode(), fin=False, mask=mask)
            + ws_frame(9, b"p", mask=mask)
            + ws_frame(0, "\u2603".encode(), mask=mask)
            + ws_frame(2, bytes.fromhex("0102723104") + b"move", mask=mask)
            + ws_frame(10, b"", mask=mask)
            + ws_frame(8, close, mask=mask)
        )
        streams.append(ws_frame(2, b"\xaa" * 300, mask=mask))
        streams.append(ws_frame(1, b"\xed\xa0\x80", mask=mask))  # a surrogate in UTF-8
        streams.append(ws_frame(8, struct.pack(">H", 1005), mask=mask))  # a code never sent
        streams.append(ws_frame(9, b"x" * 126, mask=mask))  # control frame too long
    return streams


KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def handshakes():
    request = (
        b"GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
        b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: quartet.v1.postcard, chat\r\n\r\n"
    )
    accept = base64.b64encode(
        hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC65B11").digest()
    )
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    )
    return [
        request,
        request.replace(b"Version: 13", b"Version: 8"),
        request.replace(b"GET", b"POST"),
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        response,
        response.replace(b"101", b"400"),
    ]


def ws_pair_op(code, payload=b""):
    """One operation of ws_pair: sends (code & 7 < 5) carry a length byte and the payload."""
    if code & 7 < 5:
        return bytes([code, len(payload)]) + payload
    return bytes([code])


def ws_conversations():
    """Both sides send whole and fragmented messages and pings, with refused sends between;
    the server closes, and the client echoes or crosses it with its own close."""
    for crossing in (False, True):
        ops = [
            ws_pair_op(0x00, "café".encode()),  # client: whole text
            ws_pair_op(0x81, bytes([1, 2, 3])),  # server: whole binary
            ws_pair_op(0x02, b"frag"),  # client: first text fragment
            ws_pair_op(0x03, b"ping"),  # client: ping between the fragments
            ws_pair_op(0x83),  # server: empty ping
            ws_pair_op(0x00, b"refused"),  # client: whole message during a fragmented one
            ws_pair_op(0x0A, b"refused"),  # client: binary fragment inside a text message
            ws_pair_op(0x12, "\u2603".encode()),  # client: last text fragment
            ws_pair_op(0x03, bytes([7] * 126)),  # client: ping over 125 bytes, refused
            ws_pair_op(0x0F),  # deliver both ways, two bytes at a time
            ws_pair_op(0x84, bytes([6]) + b"x"),  # server: close 1005, refused
            ws_pair_op(0x84, bytes([2]) + b"bye"),  # server: close 1003 "bye"
            ws_pair_op(0x04, bytes([0])) if crossing else ws_pair_op(0x0D),
            ws_pair_op(0x00, b"late"),  # client: refused, closing
        ]
        yield b"".join(ops)
    # The server sends a binary message in four fragments with a ping after each, delivered
    # four bytes at a time, to a client with small buffers.
    ops = []
    for i in range(4):
        ops += [ws_pair_op(0x8A, bytes(range(i * 12, i * 12 + 12))), ws_pair_op(0x83, bytes([i]))]
        ops.append(ws_pair_op(0x1E))
    ops += [ws_pair_op(0x9A), ws_pair_op(0x07)]
    yield b"".join(ops)


def main():
    for frame in json_frames():
        write("decode_json", frame)
        write("json_differential", frame)
    for frame in postcard_frames():
        write("decode_postcard", frame)
    for selector, stream in enumerate(ws_streams()):
        write("ws_frames", bytes([selector * 37 % 256]) + stream)
    for selector, conversation in zip((0xFF, 0x11, 0x33), ws_conversations()):
        write("ws_pair", bytes([selector]) + conversation)
    for selector, text in enumerate(handshakes()):
        write("http_upgrade", bytes([200 + selector]) + text)
        write("http_upgrade", bytes([selector]) + text)


if __name__ == "__main__":
    main()
