//! Entry points for the fuzz targets. Not a stable API.
//!
//! Each function runs the input through the crate in several chunkings and
//! panics if any run disagrees with the one-piece run (chunking invariance) or
//! an internal invariant breaks. Any other panic is a bug in the crate.
//! Runs are compared through a hash of their transcript, so nothing allocates.

use core::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::{
    ClientHandshake, CloseCode, Connection, EncodeError, Event, HeaderBuffer, Instant,
    MAX_CLOSE_REASON, MAX_CONTROL_FRAME_LEN, MAX_CONTROL_PAYLOAD, MAX_FRAME_HEADER_LEN,
    MessageKind, RandomSource, SendError, State, Status,
};

const MESSAGE_BUFFER_LEN: usize = 256;
const MAX_HEADER_BUFFER_LEN: usize = 64 + 4 * 255;
const SUPPORTED_PROTOCOLS: &[&str] = &["chat", "superchat"];

/// Feeds `data[1..]` as a frame stream to a server and to a client connection:
/// in one piece, byte by byte, in chunks of `data[0] % 16 + 1` bytes, and split
/// in two at a point chosen by `data[0]`. All runs must give the same events,
/// errors, transmitted frames and final state.
pub fn fuzz_ws_frames(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(selector % 16) + 1;
    let split = stream.len() * usize::from(selector) / 255;
    for client in [false, true] {
        let whole = frames_transcript(client, stream, stream.len().max(1), stream.len());
        assert_eq!(
            whole,
            frames_transcript(client, stream, 1, usize::MAX),
            "byte by byte"
        );
        assert_eq!(
            whole,
            frames_transcript(client, stream, chunk, usize::MAX),
            "chunks"
        );
        assert_eq!(
            whole,
            frames_transcript(client, stream, stream.len().max(1), split),
            "split"
        );
    }
}

/// Feeds `data[1..]` as an HTTP header section to a server (as a request) and to a
/// client (as a response) through a header buffer of `64 + 4 * data[0]` bytes, in
/// one piece, byte by byte and in chunks, and checks every run agrees. Complete
/// requests are answered and the answer must satisfy our own client; errors are
/// written as responses.
pub fn fuzz_http_upgrade(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let capacity = 64 + 4 * usize::from(selector);
    let chunk = usize::from(selector % 13) + 1;
    for chunk_len in [1, chunk] {
        assert_eq!(
            request_transcript(input, capacity, usize::MAX),
            request_transcript(input, capacity, chunk_len),
            "request in chunks of {chunk_len}"
        );
        assert_eq!(
            response_transcript(input, capacity, usize::MAX),
            response_transcript(input, capacity, chunk_len),
            "response in chunks of {chunk_len}"
        );
    }
}

/// Runs a client and a server against each other on the operations `data` encodes, and
/// checks that every message, ping and close frame one side sends arrives at the other once
/// and intact whatever the chunking in between, that each ping is answered by its pong, that
/// the closing handshake ends with both sides closed (the server closing TCP), and that the
/// sending calls refuse exactly what they must: anything after a close, a message while a
/// fragmented one is in progress, a control payload over 125 bytes, an invalid close code.
///
/// `data[0]` sizes the two message buffers (16 to 256 bytes). Then each operation is a byte
/// `op`: bit 7 picks the sender (client or server) and `op & 7` the operation: 0 a whole text
/// message, 1 a whole binary message, 2 a fragment (bit 3: binary, bit 4: the last one), 3 a
/// ping, 4 a close; each followed by a length byte and that many payload bytes (text: their
/// valid UTF-8 prefix; close: a code index, then the reason). 5 and 6 deliver the client's
/// and the server's bytes, 7 both ways, in chunks of `op >> 3` + 1 bytes. Sends that the
/// receiver's buffer could not hold are skipped, as are sends after a close: the peer is
/// allowed to drop those.
pub fn fuzz_ws_pair(data: &[u8]) {
    let Some((&selector, mut ops)) = data.split_first() else {
        return;
    };
    let mut client_buffer = [0; PAIR_MESSAGE_LEN];
    let mut server_buffer = [0; PAIR_MESSAGE_LEN];
    let client_len = 16 + usize::from(selector & 0x0f) * 16;
    let server_len = 16 + usize::from(selector >> 4) * 16;
    let client_buffer = client_buffer.get_mut(..client_len).unwrap_or_default();
    let server_buffer = server_buffer.get_mut(..server_len).unwrap_or_default();
    let mut client = Side::new(Connection::client(client_buffer, counter_random()));
    let mut server = Side::new(Connection::server(server_buffer));
    let mut closing = false;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        let chunk = usize::from(op >> 3) + 1;
        match op & 7 {
            5 => deliver(&mut client, &mut server, chunk),
            6 => deliver(&mut server, &mut client, chunk),
            7 => {
                deliver(&mut client, &mut server, chunk);
                deliver(&mut server, &mut client, chunk);
            }
            _ => {
                let (len, rest) = ops
                    .split_first()
                    .map_or((0, ops), |(&len, rest)| (usize::from(len), rest));
                let (payload, rest) = rest.split_at(len.min(rest.len()));
                ops = rest;
                if op & 0x80 == 0 {
                    send(op, payload, &mut client, &mut server, &mut closing);
                } else {
                    send(op, payload, &mut server, &mut client, &mut closing);
                }
            }
        }
    }
    if !closing {
        settle(&mut client, &mut server);
        close(
            &mut client,
            CloseCode::NORMAL,
            "",
            &mut server,
            &mut closing,
        );
    }
    settle(&mut client, &mut server);

    for (state, role) in [
        (client.connection.state(), "client"),
        (server.connection.state(), "server"),
    ] {
        assert_eq!(state, State::Closed, "{role} after the closing handshake");
    }
    assert!(
        server.connection.should_close_transport(),
        "the server closes TCP"
    );
    check_direction(&client, &server, "client to server");
    check_direction(&server, &client, "server to client");
}

/// Message buffers of the pair run: at most this many bytes.
const PAIR_MESSAGE_LEN: usize = 256;
/// Frames from the sending calls, not delivered yet: at most this many bytes.
const DATA_WIRE_LEN: usize = 1024;
/// Frames from `poll_transmit` (pongs, close frames), not delivered yet. A delivered data wire
/// of pings can ask for three times its size in pongs (a 2-byte ping from the server is
/// answered by a 6-byte masked pong).
const CONTROL_WIRE_LEN: usize = 4 * DATA_WIRE_LEN;
/// Close codes a close operation picks from; 1005 and 999 must be refused.
const CLOSE_CODES: [u16; 8] = [1000, 1001, 1003, 1008, 1011, 4999, 1005, 999];
/// The pair run's clock: time does not pass (timeouts are the frame target's business).
const PAIR_NOW: Instant = Instant::from_millis(0);

/// One end of the pair: its connection, the bytes it sent that the peer has not read yet,
/// what it sent and what it received.
struct Side<'a, R> {
    connection: Connection<'a, R>,
    data_wire: [u8; DATA_WIRE_LEN],
    data_len: usize,
    control_wire: [u8; CONTROL_WIRE_LEN],
    control_len: usize,
    /// Whole messages sent, as the peer must see them.
    sent_messages: Transcript,
    /// The fragmented message being sent: its kind, the transcript as it will be once the
    /// message completes, and its length so far.
    in_progress: Option<(MessageKind, Transcript, usize)>,
    sent_pings: Transcript,
    /// The close this side started, if it started one: its code and reason.
    started_close: Option<(u16, Transcript)>,
    seen: Seen,
}

/// What one side received.
struct Seen {
    messages: Transcript,
    pings: Transcript,
    pongs: Transcript,
    closes: usize,
    close: Option<(u16, Transcript)>,
}

impl<'a, R: RandomSource> Side<'a, R> {
    fn new(connection: Connection<'a, R>) -> Self {
        Self {
            connection,
            data_wire: [0; DATA_WIRE_LEN],
            data_len: 0,
            control_wire: [0; CONTROL_WIRE_LEN],
            control_len: 0,
            sent_messages: Transcript::new(),
            in_progress: None,
            sent_pings: Transcript::new(),
            started_close: None,
            seen: Seen {
                messages: Transcript::new(),
                pings: Transcript::new(),
                pongs: Transcript::new(),
                closes: 0,
                close: None,
            },
        }
    }

    fn is_open(&self) -> bool {
        self.connection.state() == State::Open
    }

    /// Moves everything `poll_transmit` has into the control wire.
    fn drain_transmit(&mut self) {
        loop {
            let free = self
                .control_wire
                .get_mut(self.control_len..)
                .unwrap_or_default();
            match self.connection.poll_transmit(free) {
                Ok(Some(len)) => self.control_len += len,
                Ok(None) => return,
                Err(error) => panic!("the control wire is full: {error:?}"),
            }
        }
    }
}

impl Seen {
    fn record(&mut self, event: Event<'_>) {
        match event {
            Event::Text(text) => message(&mut self.messages, MessageKind::Text, text.as_bytes()),
            Event::Binary(data) => message(&mut self.messages, MessageKind::Binary, data),
            Event::Ping(payload) => self.pings.bytes_framed(payload),
            Event::Pong(payload) => self.pongs.bytes_framed(payload),
            Event::Close { code, reason } => {
                self.closes += 1;
                let mut text = Transcript::new();
                text.bytes(reason.as_bytes());
                self.close = Some((code.map_or(0, |code| code.0), text));
            }
        }
    }
}

/// A whole message in a transcript: the same bytes whether it was sent in one frame or many.
fn message(transcript: &mut Transcript, kind: MessageKind, data: &[u8]) {
    transcript.bytes(&[kind as u8]);
    transcript.bytes(data);
    end_message(transcript, data.len());
}

fn end_message(transcript: &mut Transcript, len: usize) {
    transcript.bytes(&[0xff]);
    transcript.bytes(&len.to_le_bytes());
}

/// The longest prefix of `bytes` that is UTF-8.
fn utf8_prefix(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => bytes
            .get(..error.valid_up_to())
            .and_then(|valid| core::str::from_utf8(valid).ok())
            .unwrap_or_default(),
    }
}

fn send<R: RandomSource, P: RandomSource>(
    op: u8,
    payload: &[u8],
    from: &mut Side<'_, R>,
    to: &mut Side<'_, P>,
    closing: &mut bool,
) {
    let kind = if op & 0x08 == 0 {
        MessageKind::Text
    } else {
        MessageKind::Binary
    };
    let (kind, payload, whole) = match op & 7 {
        0 => (MessageKind::Text, utf8_prefix(payload).as_bytes(), true),
        1 => (MessageKind::Binary, payload, true),
        2 if kind == MessageKind::Text => (kind, utf8_prefix(payload).as_bytes(), false),
        2 => (kind, payload, false),
        3 => return ping(payload, from, to, *closing),
        _ => {
            let (&index, reason) = payload.split_first().unwrap_or((&0, &[]));
            let code = CLOSE_CODES[usize::from(index) % CLOSE_CODES.len()];
            return close(from, CloseCode(code), utf8_prefix(reason), to, closing);
        }
    };
    let last = whole || op & 0x10 != 0;
    // The refusals, in the order the connection checks them.
    let in_progress = from.in_progress.map(|(sending, _, _)| sending);
    let refusal = if whole && in_progress.is_some() {
        Some(SendError::MessageInProgress)
    } else if !from.is_open() {
        Some(SendError::NotOpen)
    } else if in_progress.is_some_and(|sending| sending != kind) {
        Some(SendError::MessageInProgress)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        let mut out = [0; 300];
        let result = if whole {
            encode_whole(&mut from.connection, kind, payload, &mut out)
        } else {
            from.connection
                .encode_fragment(kind, payload, last, &mut out)
        };
        assert_eq!(result, Err(refusal), "refused send");
        return;
    }
    let so_far = from.in_progress.map_or(0, |(_, _, len)| len);
    if *closing || so_far + payload.len() > to.connection.max_message_len() {
        // The peer may drop it (closing) or must refuse it (too big): not this run's subject.
        return;
    }
    make_room(from, to, payload.len());
    let out = from.data_wire.get_mut(from.data_len..).unwrap_or_default();
    let result = if whole {
        encode_whole(&mut from.connection, kind, payload, out)
    } else {
        from.connection.encode_fragment(kind, payload, last, out)
    };
    from.data_len += result.expect("a send the model allows");
    let (_, mut pending, len) = from.in_progress.take().unwrap_or_else(|| {
        let mut pending = from.sent_messages;
        pending.bytes(&[kind as u8]);
        (kind, pending, 0)
    });
    pending.bytes(payload);
    let len = len + payload.len();
    if last {
        end_message(&mut pending, len);
        from.sent_messages = pending;
    } else {
        from.in_progress = Some((kind, pending, len));
    }
}

fn encode_whole<R: RandomSource>(
    connection: &mut Connection<'_, R>,
    kind: MessageKind,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, SendError> {
    match kind {
        MessageKind::Text => connection.encode_text(utf8_prefix(payload), out),
        MessageKind::Binary => connection.encode_binary(payload, out),
    }
}

fn ping<R: RandomSource, P: RandomSource>(
    payload: &[u8],
    from: &mut Side<'_, R>,
    to: &mut Side<'_, P>,
    closing: bool,
) {
    let refusal = if !from.is_open() {
        Some(SendError::NotOpen)
    } else if payload.len() > MAX_CONTROL_PAYLOAD {
        Some(SendError::Encode(EncodeError::ControlPayloadTooLong))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        let mut out = [0; 300];
        assert_eq!(
            from.connection.encode_ping(payload, &mut out),
            Err(refusal),
            "refused ping"
        );
        return;
    }
    if closing {
        return;
    }
    make_room(from, to, payload.len());
    let out = from.data_wire.get_mut(from.data_len..).unwrap_or_default();
    from.data_len += from
        .connection
        .encode_ping(payload, out)
        .expect("a ping the model allows");
    from.sent_pings.bytes_framed(payload);
}

/// Starts the closing handshake on `from`. The first close of the run waits until everything
/// sent so far has arrived; a second one, from the other side, may cross the first.
fn close<R: RandomSource, P: RandomSource>(
    from: &mut Side<'_, R>,
    code: CloseCode,
    reason: &str,
    to: &mut Side<'_, P>,
    closing: &mut bool,
) {
    let refusal = if !code.is_valid() {
        Some(EncodeError::InvalidCloseCode)
    } else if reason.len() > MAX_CLOSE_REASON {
        Some(EncodeError::ControlPayloadTooLong)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        assert_eq!(
            from.connection.close(PAIR_NOW, code, reason),
            Err(refusal),
            "refused close"
        );
        return;
    }
    if !*closing {
        settle(from, to);
    }
    let was_open = from.is_open();
    assert_eq!(from.connection.close(PAIR_NOW, code, reason), Ok(()));
    if was_open {
        let mut text = Transcript::new();
        text.bytes(reason.as_bytes());
        from.started_close = Some((code.0, text));
        *closing = true;
    }
    from.drain_transmit();
}

/// Delivers `from`'s wire to `to` first when it might not hold a frame of `len` bytes.
fn make_room<R: RandomSource, P: RandomSource>(
    from: &mut Side<'_, R>,
    to: &mut Side<'_, P>,
    len: usize,
) {
    if DATA_WIRE_LEN - from.data_len < len + MAX_FRAME_HEADER_LEN {
        deliver(from, to, DATA_WIRE_LEN);
    }
}

/// Feeds everything `from` sent to `to`, in chunks of `chunk` bytes: the data frames, then the
/// control frames (each wire ends on a frame boundary, so they can go one after the other).
fn deliver<R: RandomSource, P: RandomSource>(
    from: &mut Side<'_, R>,
    to: &mut Side<'_, P>,
    chunk: usize,
) {
    if CONTROL_WIRE_LEN - to.control_len < 3 * (from.data_len + from.control_len) + 256 {
        // `to`'s answers might not fit: send what it has first. Its wire holds only pongs and
        // close frames, which `from` answers with at most one close frame.
        feed(
            from,
            to.control_wire.get(..to.control_len).unwrap_or_default(),
            chunk,
        );
        to.control_len = 0;
    }
    feed(
        to,
        from.data_wire.get(..from.data_len).unwrap_or_default(),
        chunk,
    );
    from.data_len = 0;
    feed(
        to,
        from.control_wire
            .get(..from.control_len)
            .unwrap_or_default(),
        chunk,
    );
    from.control_len = 0;
}

fn feed<R: RandomSource>(to: &mut Side<'_, R>, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            let consumed = match to.connection.handle_input(PAIR_NOW, rest) {
                Ok(consumed) => consumed,
                Err(error) => panic!("a well-behaved peer broke the protocol: {error:?}"),
            };
            rest = rest.get(consumed..).unwrap_or_default();
            let event = to.connection.poll_event();
            let got_event = event.is_some();
            if let Some(event) = event {
                to.seen.record(event);
            }
            to.drain_transmit();
            if rest.is_empty() {
                break;
            }
            assert!(consumed > 0 || got_event, "input stalled");
        }
    }
}

/// Delivers both ways until nothing is in flight.
fn settle<R: RandomSource, P: RandomSource>(a: &mut Side<'_, R>, b: &mut Side<'_, P>) {
    for _ in 0..8 {
        if a.data_len + a.control_len + b.data_len + b.control_len == 0 {
            return;
        }
        deliver(a, b, DATA_WIRE_LEN);
        deliver(b, a, DATA_WIRE_LEN);
    }
    panic!("frames still in flight after eight round trips");
}

/// What `to` received from `from` is what `from` sent, and `from` got a pong for each ping.
fn check_direction<R: RandomSource, P: RandomSource>(
    from: &Side<'_, R>,
    to: &Side<'_, P>,
    direction: &str,
) {
    assert_eq!(to.seen.messages, from.sent_messages, "messages {direction}");
    assert_eq!(to.seen.pings, from.sent_pings, "pings {direction}");
    assert_eq!(
        from.seen.pongs, from.sent_pings,
        "pongs for the pings {direction}"
    );
    assert_eq!(to.seen.closes, 1, "close frames {direction}");
    // The peer's own close if it started one (crossing ours), else the echo of ours.
    let expected = match (from.started_close, to.started_close) {
        (Some(close), _) => Some(close),
        (None, Some((code, _))) => Some((code, Transcript::new())),
        (None, None) => None,
    };
    assert_eq!(to.seen.close, expected, "close {direction}");
}

/// FNV-1a over everything a run produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Transcript(u64);

impl Transcript {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// `bytes` and their length, so that consecutive payloads cannot run into each other.
    fn bytes_framed(&mut self, bytes: &[u8]) {
        self.bytes(bytes);
        self.bytes(&bytes.len().to_le_bytes());
    }

    fn record(&mut self, value: &dyn fmt::Debug) {
        let _ = write!(self, "{value:?};");
    }
}

impl fmt::Write for Transcript {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// A deterministic random source so every run masks identically.
fn counter_random() -> impl RandomSource {
    let mut next = 0u8;
    move |dest: &mut [u8]| {
        for byte in dest {
            next = next.wrapping_mul(31).wrapping_add(7);
            *byte = next;
        }
    }
}

fn frames_transcript(client: bool, stream: &[u8], chunk_len: usize, split: usize) -> u64 {
    let mut message = [0; MESSAGE_BUFFER_LEN];
    let (first, second) = stream.split_at(split.min(stream.len()));
    let pieces = first.chunks(chunk_len).chain(second.chunks(chunk_len));
    if client {
        run_connection(Connection::client(&mut message, counter_random()), pieces)
    } else {
        run_connection(Connection::server(&mut message), pieces)
    }
}

fn run_connection<'p, R: RandomSource>(
    mut connection: Connection<'_, R>,
    pieces: impl Iterator<Item = &'p [u8]>,
) -> u64 {
    let mut transcript = Transcript::new();
    let now = Instant::from_millis(0);
    for piece in pieces {
        let mut rest = piece;
        while !rest.is_empty() {
            let (consumed, failed) = match connection.handle_input(now, rest) {
                Ok(consumed) => (consumed, false),
                Err(error) => {
                    transcript.record(&error);
                    transcript.record(&error.close_code());
                    (0, true)
                }
            };
            rest = rest.get(consumed..).unwrap_or_default();
            let event = connection.poll_event();
            let got_event = event.is_some();
            if let Some(event) = event {
                record_event(&mut transcript, event);
            }
            drain_transmit(&mut connection, &mut transcript);
            assert!(consumed > 0 || got_event || failed, "input stalled");
        }
    }
    transcript.record(&connection.state());
    transcript.record(&connection.should_close_transport());
    transcript.0
}

fn record_event(transcript: &mut Transcript, event: Event<'_>) {
    if let Event::Text(text) = event {
        assert!(text.len() <= MESSAGE_BUFFER_LEN);
    }
    if let Event::Binary(data) = event {
        assert!(data.len() <= MESSAGE_BUFFER_LEN);
    }
    transcript.record(&event);
}

fn drain_transmit<R: RandomSource>(
    connection: &mut Connection<'_, R>,
    transcript: &mut Transcript,
) {
    let mut out = [0; MAX_CONTROL_FRAME_LEN];
    while let Some(len) = connection
        .poll_transmit(&mut out)
        .expect("control frames always fit")
    {
        transcript.bytes(out.get(..len).unwrap_or_default());
    }
}

/// Feeds `input` in pieces of `chunk_len`, parsing after each, until the parse
/// is no longer incomplete.
fn feed_until_parsed<T>(
    input: &[u8],
    capacity: usize,
    chunk_len: usize,
    mut parse: impl FnMut(&HeaderBuffer<'_>) -> Option<T>,
) -> Option<T> {
    let mut storage = [0; MAX_HEADER_BUFFER_LEN];
    let mut buffer = HeaderBuffer::new(storage.get_mut(..capacity).unwrap_or_default());
    let mut rest = input;
    loop {
        let fed = buffer.feed(rest.get(..chunk_len.min(rest.len())).unwrap_or_default());
        rest = rest.get(fed..).unwrap_or_default();
        if let Some(done) = parse(&buffer) {
            return Some(done);
        }
        if fed == 0 {
            assert!(!buffer.is_full(), "a full buffer must not be incomplete");
            return None;
        }
    }
}

fn request_transcript(input: &[u8], capacity: usize, chunk_len: usize) -> u64 {
    let mut transcript = Transcript::new();
    feed_until_parsed(input, capacity, chunk_len, |buffer| {
        match buffer.parse_request() {
            Ok(Status::Incomplete) => None,
            Ok(Status::Complete(request)) => {
                transcript.record(&request);
                let protocol = request.select_protocol(SUPPORTED_PROTOCOLS);
                transcript.record(&protocol);
                check_accept_satisfies_client(&request, protocol);
                Some(())
            }
            Err(error) => {
                transcript.record(&error);
                let mut out = [0; 512];
                let len = error
                    .write_response(&mut out)
                    .expect("error responses fit 512 bytes");
                assert!(
                    httparse::Response::new(&mut [httparse::EMPTY_HEADER; 8])
                        .parse(out.get(..len).unwrap_or_default())
                        .is_ok_and(|status| status.is_complete())
                );
                Some(())
            }
        }
    });
    transcript.0
}

/// Our 101 answer must be accepted by our client holding the same key.
fn check_accept_satisfies_client(request: &crate::UpgradeRequest<'_>, protocol: Option<&str>) {
    let mut nonce = [0; 18];
    let decoded = BASE64.decode_slice(request.key(), &mut nonce);
    assert_eq!(decoded, Ok(16), "accepted keys are base64 of 16 bytes");
    let mut random = |dest: &mut [u8]| {
        let len = dest.len().min(16);
        dest[..len].copy_from_slice(&nonce[..len]);
    };
    let handshake = ClientHandshake::new(&mut random, SUPPORTED_PROTOCOLS);
    assert_eq!(handshake.key(), request.key());

    let mut out = [0; 256];
    let len = match request.write_accept(protocol, &[], &mut out) {
        Ok(len) => len,
        Err(EncodeError::BufferTooSmall { needed }) => {
            assert!(needed > out.len());
            return;
        }
        Err(error) => panic!("cannot answer a valid request: {error}"),
    };
    let mut storage = [0; 256];
    let mut buffer = HeaderBuffer::new(&mut storage);
    buffer.feed(out.get(..len).unwrap_or_default());
    match buffer.parse_response(&handshake) {
        Ok(Status::Complete(response)) => {
            assert_eq!(response.protocol(), protocol);
            assert_eq!(response.header_len(), len);
        }
        other => panic!("our client refused our answer: {other:?}"),
    }
}

fn response_transcript(input: &[u8], capacity: usize, chunk_len: usize) -> u64 {
    let mut random = counter_random();
    let handshake = ClientHandshake::new(&mut random, SUPPORTED_PROTOCOLS);
    let mut transcript = Transcript::new();
    feed_until_parsed(input, capacity, chunk_len, |buffer| {
        match buffer.parse_response(&handshake) {
            Ok(Status::Incomplete) => None,
            outcome => {
                if let Ok(Status::Complete(response)) = outcome {
                    let selected = response.protocol();
                    assert!(selected.is_none_or(|p| SUPPORTED_PROTOCOLS.contains(&p)));
                }
                transcript.record(&outcome);
                Some(())
            }
        }
    });
    transcript.0
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;
    use crate::{CloseCode, OpCode, encode_close_frame, encode_frame};

    /// xorshift64: reproducible pseudo-random inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn frame(opcode: OpCode, fin: bool, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0; payload.len() + 14];
        let len = encode_frame(&mut out, opcode, fin, mask, payload).unwrap();
        out.truncate(len);
        out
    }

    fn frame_stream(mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut close = [0; 32];
        let close_len = encode_close_frame(&mut close, mask, Some(CloseCode(1000)), "bye").unwrap();
        [
            frame(OpCode::Text, false, mask, "caf\u{e9} ".as_bytes()),
            frame(OpCode::Ping, true, mask, b"p"),
            frame(OpCode::Continuation, true, mask, "\u{2603}".as_bytes()),
            frame(OpCode::Binary, true, mask, &[0xAA; 200]),
            frame(OpCode::Pong, true, mask, b""),
            close[..close_len].to_vec(),
        ]
        .concat()
    }

    fn request() -> Vec<u8> {
        b"GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
          Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: superchat, chat\r\n\r\n"
            .to_vec()
    }

    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut data = seed.to_vec();
        for _ in 0..=rng.below(4) {
            let at = rng.below(data.len());
            match rng.below(4) {
                0 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
                1 if !data.is_empty() => data[at] = rng.next() as u8,
                2 => data.insert(at, rng.next() as u8),
                _ => data.truncate(at),
            }
        }
        data
    }

    fn with_selector(selector: u8, data: &[u8]) -> Vec<u8> {
        let mut input = std::vec![selector];
        input.extend_from_slice(data);
        input
    }

    #[test]
    fn fuzz_ws_frames_agrees_on_valid_streams() {
        for selector in 0..=255 {
            fuzz_ws_frames(&with_selector(selector, &frame_stream(Some([1, 2, 3, 4]))));
            fuzz_ws_frames(&with_selector(selector, &frame_stream(None)));
        }
    }

    #[test]
    fn fuzz_http_upgrade_agrees_on_valid_request() {
        for selector in 0..=255 {
            fuzz_http_upgrade(&with_selector(selector, &request()));
        }
    }

    #[test]
    fn fuzz_entry_points_survive_mutated_and_random_input() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let seeds = [
            frame_stream(Some([9, 8, 7, 6])),
            frame_stream(None),
            request(),
        ];
        for _ in 0..3_000 {
            let seed = &seeds[rng.below(seeds.len())];
            let data = with_selector(rng.next() as u8, &mutate(&mut rng, seed));
            fuzz_ws_frames(&data);
            fuzz_http_upgrade(&data);
            let random: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            fuzz_ws_frames(&random);
            fuzz_http_upgrade(&random);
        }
    }

    /// A conversation in the pair's operation language: both sides send whole and
    /// fragmented messages and pings, then the server closes; with `crossing`, the client's
    /// close crosses the server's, otherwise the client echoes it.
    fn conversation(crossing: bool) -> Vec<u8> {
        let mut ops = std::vec![0xff];
        let mut op = |code: u8, payload: &[u8]| {
            ops.push(code);
            if code & 7 < 5 {
                ops.push(payload.len() as u8);
                ops.extend_from_slice(payload);
            }
        };
        op(0x00, "caf\u{e9}".as_bytes()); // client: whole text
        op(0x81, &[1, 2, 3]); // server: whole binary
        op(0x02, b"frag"); // client: first text fragment
        op(0x03, b"ping"); // client: ping between the fragments
        op(0x83, b""); // server: empty ping
        op(0x00, b"refused"); // client: a whole message while one is in progress
        op(0x0a, b"refused"); // client: a binary fragment inside a text message
        op(0x12, "\u{2603}".as_bytes()); // client: last text fragment
        op(0x03, &[7; 126]); // client: a ping over 125 bytes is refused
        op(0x0f, b""); // deliver both ways, two bytes at a time
        op(0x84, &[6, b'x']); // server: close code 1005 is refused
        op(0x84, &[2, b'b', b'y', b'e']); // server: close 1003 "bye"
        if crossing {
            op(0x04, &[0]); // client: close 1000, crossing the server's
        } else {
            op(0x0d, b""); // deliver the server's close: the client echoes it
        }
        op(0x00, b"late"); // client: refused, closing
        ops
    }

    #[test]
    fn fuzz_ws_pair_runs_a_conversation() {
        for crossing in [false, true] {
            let conversation = conversation(crossing);
            for selector in [0x00, 0x11, 0x7f, 0xf7, 0xff] {
                let mut data = conversation.clone();
                data[0] = selector;
                fuzz_ws_pair(&data);
            }
        }
    }

    #[test]
    fn fuzz_ws_pair_survives_mutated_and_random_input() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let seeds = [conversation(false), conversation(true)];
        for _ in 0..2_000 {
            let seed = &seeds[rng.below(seeds.len())];
            fuzz_ws_pair(&mutate(&mut rng, seed));
            let random: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
            fuzz_ws_pair(&random);
        }
    }

    #[test]
    fn fuzz_entry_points_accept_empty_input() {
        fuzz_ws_pair(&[]);
        fuzz_ws_pair(&[0]);
        fuzz_ws_frames(&[]);
        fuzz_http_upgrade(&[]);
        fuzz_ws_frames(&[0]);
        fuzz_http_upgrade(&[0]);
    }
}
