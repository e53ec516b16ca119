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
    ClientHandshake, Connection, EncodeError, Event, HeaderBuffer, Instant, MAX_CONTROL_FRAME_LEN,
    RandomSource, Status,
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

/// FNV-1a over everything a run produced.
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

    #[test]
    fn fuzz_entry_points_accept_empty_input() {
        fuzz_ws_frames(&[]);
        fuzz_http_upgrade(&[]);
        fuzz_ws_frames(&[0]);
        fuzz_http_upgrade(&[0]);
    }
}
