//! Client role: write the upgrade request, check the server's answer.

use core::fmt;

use base64::Engine as _;

use super::{
    AcceptKey, BASE64, Headers, MAX_HEADERS, Writer, check_extra_headers, is_token,
    is_visible_ascii,
};
use crate::{EncodeError, RandomSource, Status};

/// A client's upgrade attempt: the key it sent and the subprotocols it offered.
///
/// # Call order
///
/// 1. [`ClientHandshake::new`], then [`write_request`](Self::write_request) and
///    send the bytes.
/// 2. Read the answer into a [`HeaderBuffer`](super::HeaderBuffer) and call
///    [`HeaderBuffer::parse_response`](super::HeaderBuffer::parse_response) with
///    this handshake until it is complete.
/// 3. Build a [`Connection`](crate::Connection) and feed it the bytes after the
///    header section first: the server may send frames right after the 101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientHandshake<'p> {
    key: [u8; 24],
    accept: AcceptKey,
    protocols: &'p [&'p str],
}

impl<'p> ClientHandshake<'p> {
    /// A handshake with a fresh key from `random`, offering `protocols`
    /// (most preferred first; may be empty).
    pub fn new<R: RandomSource + ?Sized>(random: &mut R, protocols: &'p [&'p str]) -> Self {
        let mut nonce = [0; 16];
        random.fill_bytes(&mut nonce);
        let mut key = [0; 24];
        // 16 bytes always encode to exactly 24.
        let _ = BASE64.encode_slice(nonce, &mut key);
        let accept = AcceptKey::new(core::str::from_utf8(&key).unwrap_or_default());
        Self {
            key,
            accept,
            protocols,
        }
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        core::str::from_utf8(&self.key).unwrap_or_default()
    }

    /// The subprotocols offered.
    pub fn protocols(&self) -> &'p [&'p str] {
        self.protocols
    }

    /// Writes the GET request for `target` (path and query, starting with `/`) on
    /// `host` (with the port when it is not the default) into `out`.
    pub fn write_request(
        &self,
        host: &str,
        target: &str,
        extra_headers: &[(&str, &str)],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let valid = is_visible_ascii(host)
            && is_visible_ascii(target)
            && target.starts_with('/')
            && self.protocols.iter().all(|protocol| is_token(protocol));
        if !valid {
            return Err(EncodeError::InvalidHttpField);
        }
        check_extra_headers(extra_headers)?;
        let mut writer = Writer::new(out);
        writer
            .put(b"GET ")
            .put_str(target)
            .put(b" HTTP/1.1\r\n")
            .header("Host", host)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", self.key())
            .header("Sec-WebSocket-Version", "13");
        if let Some((first, rest)) = self.protocols.split_first() {
            writer.put(b"Sec-WebSocket-Protocol: ").put_str(first);
            for protocol in rest {
                writer.put(b", ").put_str(protocol);
            }
            writer.put(b"\r\n");
        }
        for (name, value) in extra_headers {
            writer.header(name, value);
        }
        writer.put(b"\r\n").finish()
    }
}

/// The server's valid `101 Switching Protocols` answer.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UpgradeResponse<'b> {
    protocol: Option<&'b str>,
    headers: Headers<'b>,
    header_len: usize,
}

impl<'b> UpgradeResponse<'b> {
    /// The subprotocol the server selected, always one we offered.
    pub fn protocol(&self) -> Option<&'b str> {
        self.protocol
    }

    /// All header lines.
    pub fn headers(&self) -> &Headers<'b> {
        &self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers.get(name)
    }

    /// Length of the response's header section. Bytes after it are frames.
    pub fn header_len(&self) -> usize {
        self.header_len
    }
}

/// Why the server's answer does not open a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// Not a valid HTTP/1.1 response.
    Malformed,
    /// The server answered with `status` instead of 101 (a 4xx is a refusal).
    Rejected {
        /// The HTTP status code.
        status: u16,
    },
    /// `Upgrade` does not name `websocket`.
    MissingUpgrade,
    /// `Connection` does not contain the `upgrade` token.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match our key.
    AcceptMismatch,
    /// The server selected a subprotocol we did not offer, or several.
    UnexpectedProtocol,
    /// The server enabled an extension; we never offer any.
    UnexpectedExtension,
    /// The header section does not fit the header buffer, or has more than
    /// [`MAX_HEADERS`] lines.
    TooLarge,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed HTTP response"),
            Self::Rejected { status } => write!(f, "server answered {status} instead of 101"),
            Self::MissingUpgrade => f.write_str("Upgrade header does not name websocket"),
            Self::MissingConnectionUpgrade => {
                f.write_str("Connection header lacks the upgrade token")
            }
            Self::AcceptMismatch => f.write_str("wrong Sec-WebSocket-Accept"),
            Self::UnexpectedProtocol => f.write_str("server selected a subprotocol not offered"),
            Self::UnexpectedExtension => f.write_str("server enabled an extension"),
            Self::TooLarge => f.write_str("response header section too large"),
        }
    }
}

impl core::error::Error for ResponseError {}

pub(super) fn parse_response<'b>(
    handshake: &ClientHandshake<'_>,
    buf: &'b [u8],
    buffer_full: bool,
) -> Result<Status<UpgradeResponse<'b>>, ResponseError> {
    let mut list = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut list);
    let header_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer_full => return Err(ResponseError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(Status::Incomplete),
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooLarge),
        Err(_) => return Err(ResponseError::Malformed),
    };
    let (status, version) = (response.code, response.version);
    let count = response.headers.len();
    let headers = Headers::new(list, count);

    let status = status.ok_or(ResponseError::Malformed)?;
    if status != 101 {
        return Err(ResponseError::Rejected { status });
    }
    if version != Some(1) {
        return Err(ResponseError::Malformed);
    }
    if !headers.has_token("Upgrade", "websocket") {
        return Err(ResponseError::MissingUpgrade);
    }
    if !headers.has_token("Connection", "upgrade") {
        return Err(ResponseError::MissingConnectionUpgrade);
    }
    let mut accepts = headers.all("Sec-WebSocket-Accept");
    let accept = match (accepts.next(), accepts.next()) {
        (Some(accept), None) => accept.trim_ascii(),
        _ => return Err(ResponseError::AcceptMismatch),
    };
    if accept != handshake.accept.as_str().as_bytes() {
        return Err(ResponseError::AcceptMismatch);
    }
    let mut protocols = headers.tokens("Sec-WebSocket-Protocol");
    let protocol = match (protocols.next(), protocols.next()) {
        (None, _) => None,
        (Some(protocol), None) if handshake.protocols.contains(&protocol) => Some(protocol),
        _ => return Err(ResponseError::UnexpectedProtocol),
    };
    if headers.tokens("Sec-WebSocket-Extensions").next().is_some() {
        return Err(ResponseError::UnexpectedExtension);
    }
    Ok(Status::Complete(UpgradeResponse {
        protocol,
        headers,
        header_len,
    }))
}
