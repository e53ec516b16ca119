//! The HTTP/1.1 upgrade (RFC 6455 §4): shared pieces of both roles.

mod client;
mod server;

pub use client::{ClientHandshake, ResponseError, UpgradeResponse};
pub use server::{RequestError, UpgradeRequest, write_response};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};

use crate::EncodeError;

/// Most header lines accepted in a request or response; more is treated like a
/// header section larger than the header buffer (HTTP 431).
pub const MAX_HEADERS: usize = 32;

const WEBSOCKET_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Caller-owned storage for an HTTP header section, separate from the message
/// buffer. Its length is the largest header section accepted.
///
/// # Call order
///
/// 1. Read from the transport into [`unfilled`](Self::unfilled) and call
///    [`advance`](Self::advance), or hand bytes to [`feed`](Self::feed).
/// 2. Call [`parse_request`](Self::parse_request) (server) or
///    [`parse_response`](Self::parse_response) (client). On
///    [`Status::Incomplete`](crate::Status::Incomplete), go back to 1.
/// 3. On success, the bytes after `header_len()` ([`after_headers`](Self::after_headers))
///    already belong to the frame stream: give them to the
///    [`Connection`](crate::Connection) before anything read later.
pub struct HeaderBuffer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> HeaderBuffer<'a> {
    /// Wraps an empty buffer.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// Copies as much of `data` as fits and returns how many bytes were taken.
    /// Bytes that did not fit continue the stream after [`after_headers`](Self::after_headers).
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let unfilled = self.unfilled();
        let take = unfilled.len().min(data.len());
        if let (Some(dest), Some(src)) = (unfilled.get_mut(..take), data.get(..take)) {
            dest.copy_from_slice(src);
        }
        self.len += take;
        take
    }

    /// The free part of the buffer, to read into; follow with [`advance`](Self::advance).
    pub fn unfilled(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or_default()
    }

    /// Marks `n` more bytes of [`unfilled`](Self::unfilled) as received.
    pub fn advance(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(self.buf.len());
    }

    /// The bytes received so far.
    pub fn filled(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// True when no more bytes fit.
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// The received bytes after a header section of `header_len` bytes.
    pub fn after_headers(&self, header_len: usize) -> &[u8] {
        self.filled().get(header_len..).unwrap_or_default()
    }

    /// Forgets the received bytes.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Parses and validates a client's upgrade request.
    pub fn parse_request(&self) -> Result<crate::Status<UpgradeRequest<'_>>, RequestError> {
        server::parse_request(self.filled(), self.is_full())
    }

    /// Parses and validates the server's answer to `handshake`.
    pub fn parse_response(
        &self,
        handshake: &ClientHandshake<'_>,
    ) -> Result<crate::Status<UpgradeResponse<'_>>, ResponseError> {
        client::parse_response(handshake, self.filled(), self.is_full())
    }
}

impl core::fmt::Debug for HeaderBuffer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderBuffer")
            .field("len", &self.len)
            .field("capacity", &self.buf.len())
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for HeaderBuffer<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "HeaderBuffer {{ len: {}, capacity: {} }}",
            self.len,
            self.buf.len()
        );
    }
}

/// The header lines of a parsed request or response, borrowed from the header buffer.
#[derive(Clone, Copy)]
pub struct Headers<'b> {
    list: [httparse::Header<'b>; MAX_HEADERS],
    len: usize,
}

impl<'b> Headers<'b> {
    fn new(list: [httparse::Header<'b>; MAX_HEADERS], len: usize) -> Self {
        Self { list, len }
    }

    /// All header lines as (name, value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.list
            .get(..self.len)
            .unwrap_or_default()
            .iter()
            .map(|h| (h.name, h.value))
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.all(name).next()
    }

    /// Like [`get`](Self::get), if the value is UTF-8; surrounding whitespace is trimmed.
    pub fn get_str(&self, name: &str) -> Option<&'b str> {
        self.get(name)
            .and_then(|value| core::str::from_utf8(value).ok())
            .map(str::trim)
    }

    /// The values of every header named `name`.
    pub fn all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'b [u8]> {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The comma-separated tokens of every header named `name`, trimmed, empty
    /// ones and non-UTF-8 ones skipped.
    pub fn tokens<'n>(&self, name: &'n str) -> impl Iterator<Item = &'b str> {
        self.all(name)
            .flat_map(|value| value.split(|&b| b == b','))
            .filter_map(|token| {
                let token = core::str::from_utf8(token).ok()?.trim();
                (!token.is_empty()).then_some(token)
            })
    }

    /// Whether a comma-separated header contains `token` (ASCII case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no header lines.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut list = f.debug_list();
        for (name, value) in self.iter() {
            list.entry(&(name, core::str::from_utf8(value).unwrap_or("<non-UTF-8>")));
        }
        list.finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Headers<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Headers {{ len: {} }}", self.len);
    }
}

/// The `Sec-WebSocket-Accept` value for a key: base64(SHA-1(key + GUID)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// Computes the accept value for the `Sec-WebSocket-Key` value `key`.
    pub fn new(key: &str) -> Self {
        let digest: [u8; 20] = Sha1::new()
            .chain_update(key)
            .chain_update(WEBSOCKET_GUID)
            .finalize()
            .into();
        let mut encoded = [0; 28];
        // 20 bytes always encode to exactly 28.
        let _ = BASE64.encode_slice(digest, &mut encoded);
        Self(encoded)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Whether `key` is the base64 encoding of 16 bytes, as RFC 6455 §4.1 requires.
fn is_valid_key(key: &str) -> bool {
    let mut decoded = [0; 18];
    key.len() == 24 && BASE64.decode_slice(key, &mut decoded) == Ok(16)
}

/// RFC 9110 token characters (header names, subprotocol names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Header values: no control characters except horizontal tab.
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || !b.is_ascii_control())
}

/// Visible ASCII only: request targets and hosts.
fn is_visible_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

fn check_extra_headers(headers: &[(&str, &str)]) -> Result<(), EncodeError> {
    if headers
        .iter()
        .all(|(name, value)| is_token(name) && is_field_value(value))
    {
        Ok(())
    } else {
        Err(EncodeError::InvalidHttpField)
    }
}

/// Writes into a caller's buffer, counting what would be needed if it is too small.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Self { out, len: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dest) = self.out.get_mut(self.len..end) {
            dest.copy_from_slice(bytes);
        }
        self.len = end;
        self
    }

    fn put_str(&mut self, s: &str) -> &mut Self {
        self.put(s.as_bytes())
    }

    fn put_decimal(&mut self, mut n: usize) -> &mut Self {
        let mut digits = [0; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // n % 10 < 10, so the cast is exact.
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(digits.get(start..).unwrap_or_default())
    }

    fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.put_str(name).put(b": ").put_str(value).put(b"\r\n")
    }

    fn finish(&self) -> Result<usize, EncodeError> {
        if self.len <= self.out.len() {
            Ok(self.len)
        } else {
            Err(EncodeError::BufferTooSmall { needed: self.len })
        }
    }
}
