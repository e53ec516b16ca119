//! Helpers shared by the integration tests: raw frame building and a driver that
//! records everything a connection does.
#![allow(dead_code, unreachable_pub)]

use ws_sansio::{
    Connection, Event, Instant, MAX_CONTROL_FRAME_LEN, ProtocolError, RandomSource, State,
};

pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Raw frame bytes: `first` is the whole first header byte (FIN, RSV, opcode),
/// so tests can set any bit. The shortest length encoding is used.
pub fn raw_frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut frame = vec![first];
    match payload.len() {
        len @ 0..=125 => frame.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(mask) = mask {
        frame.extend_from_slice(&mask);
    }
    let body = frame.len();
    frame.extend_from_slice(payload);
    if let Some(mask) = mask {
        for (i, byte) in frame[body..].iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    frame
}

/// A frame as a client sends it (masked).
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, Some(MASK), payload)
}

/// A frame as a server sends it (unmasked).
pub fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, None, payload)
}

pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

/// Everything observable from a connection, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Error(ProtocolError),
    /// A frame from `poll_transmit`, unmasked, as (first header byte, payload).
    Sent(u8, Vec<u8>),
}

impl Seen {
    pub fn from_event(event: Event<'_>) -> Self {
        match event {
            Event::Text(text) => Self::Text(text.to_owned()),
            Event::Binary(data) => Self::Binary(data.to_vec()),
            Event::Ping(data) => Self::Ping(data.to_vec()),
            Event::Pong(data) => Self::Pong(data.to_vec()),
            Event::Close { code, reason } => Self::Close(code.map(|c| c.0), reason.to_owned()),
            _ => unreachable!("new event kind"),
        }
    }
}

/// Decodes one whole frame from the start of `bytes`, unmasking it.
/// Returns (first byte, payload, frame length).
pub fn decode_frame(bytes: &[u8]) -> (u8, Vec<u8>, usize) {
    let (header, header_len) = match ws_sansio::FrameHeader::parse(bytes) {
        Ok(ws_sansio::Status::Complete(done)) => done,
        other => panic!("not a whole frame header: {other:?}"),
    };
    let end = header_len + header.payload_len as usize;
    let mut payload = bytes[header_len..end].to_vec();
    if let Some(mask) = header.mask {
        ws_sansio::apply_mask(&mut payload, mask, 0);
    }
    (bytes[0], payload, end)
}

/// Feeds `input` in pieces of `chunk` bytes, polling events and transmissions
/// after every call, and records all of it.
pub fn drive<R: RandomSource>(
    connection: &mut Connection<'_, R>,
    input: &[u8],
    chunk: usize,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let now = Instant::from_millis(1_000);
    for piece in input.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            match connection.handle_input(now, rest) {
                Ok(used) => rest = &rest[used..],
                Err(error) => seen.push(Seen::Error(error)),
            }
            if let Some(event) = connection.poll_event() {
                seen.push(Seen::from_event(event));
            }
            transmit(connection, &mut seen);
        }
    }
    seen
}

pub fn transmit<R: RandomSource>(connection: &mut Connection<'_, R>, seen: &mut Vec<Seen>) {
    let mut out = [0; MAX_CONTROL_FRAME_LEN];
    while let Some(len) = connection.poll_transmit(&mut out).unwrap() {
        let (first, payload, frame_len) = decode_frame(&out[..len]);
        assert_eq!(frame_len, len);
        seen.push(Seen::Sent(first, payload));
    }
}

/// Feeds everything to a fresh server connection with a message buffer of `capacity`.
pub fn server_sees(input: &[u8], capacity: usize, chunk: usize) -> (Vec<Seen>, State, bool) {
    let mut buffer = vec![0; capacity];
    let mut connection = Connection::server(&mut buffer);
    let seen = drive(&mut connection, input, chunk);
    (
        seen,
        connection.state(),
        connection.should_close_transport(),
    )
}

/// A deterministic random source: 1, 2, 3, ...
pub fn counting_random() -> impl FnMut(&mut [u8]) {
    let mut next = 0u8;
    move |dest: &mut [u8]| {
        for byte in dest {
            next = next.wrapping_add(1);
            *byte = next;
        }
    }
}

/// Feeds everything to a fresh client connection with a message buffer of `capacity`.
pub fn client_sees(input: &[u8], capacity: usize, chunk: usize) -> (Vec<Seen>, State, bool) {
    let mut buffer = vec![0; capacity];
    let mut connection = Connection::client(&mut buffer, counting_random());
    let seen = drive(&mut connection, input, chunk);
    (
        seen,
        connection.state(),
        connection.should_close_transport(),
    )
}

/// The close frame a connection sends for `code` with an empty reason.
pub fn sent_close(code: u16) -> Seen {
    Seen::Sent(0x88, code.to_be_bytes().to_vec())
}
