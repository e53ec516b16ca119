//! Server role: validate the client's upgrade request, answer it.

use core::fmt;

use super::{AcceptKey, Headers, MAX_HEADERS, Writer, check_extra_headers, is_token, is_valid_key};
use crate::{EncodeError, Status};

/// A valid WebSocket upgrade request, borrowed from the [`HeaderBuffer`](super::HeaderBuffer).
///
/// Next: pick a subprotocol ([`select_protocol`](Self::select_protocol)), check
/// `Origin` or cookies through [`header`](Self::header) if needed, then write the
/// answer with [`write_accept`](Self::write_accept) or [`write_response`].
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UpgradeRequest<'b> {
    target: &'b str,
    key: &'b str,
    headers: Headers<'b>,
    header_len: usize,
}

impl<'b> UpgradeRequest<'b> {
    /// The request target as sent, such as `/chat?room=1`.
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The target up to the `?`.
    pub fn path(&self) -> &'b str {
        self.target
            .split_once('?')
            .map_or(self.target, |(path, _)| path)
    }

    /// The target after the `?`, if there is one.
    pub fn query(&self) -> Option<&'b str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// The validated `Sec-WebSocket-Key`.
    pub fn key(&self) -> &'b str {
        self.key
    }

    /// All header lines.
    pub fn headers(&self) -> &Headers<'b> {
        &self.headers
    }

    /// The first header named `name` (case-insensitive), such as `Origin` or `Cookie`.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers.get(name)
    }

    /// Length of the request's header section. Bytes after it are frames.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The subprotocols the client offered, in its order.
    pub fn offered_protocols(&self) -> impl Iterator<Item = &'b str> {
        self.headers.tokens("Sec-WebSocket-Protocol")
    }

    /// The first of `supported` (our preference order) that the client offered.
    /// `None` when the client offered none of them, or nothing at all: the caller
    /// then decides between accepting without a subprotocol and refusing.
    pub fn select_protocol<'s>(&self, supported: &[&'s str]) -> Option<&'s str> {
        supported
            .iter()
            .copied()
            .find(|name| self.offered_protocols().any(|offered| offered == *name))
    }

    /// The `Sec-WebSocket-Accept` value for this request.
    pub fn accept_key(&self) -> AcceptKey {
        AcceptKey::new(self.key)
    }

    /// Writes the `101 Switching Protocols` answer into `out` and returns its length.
    ///
    /// `protocol` should come from [`select_protocol`](Self::select_protocol) or
    /// [`offered_protocols`](Self::offered_protocols); `Sec-WebSocket-Protocol` is
    /// only sent when it is `Some`. Extensions are never accepted.
    pub fn write_accept(
        &self,
        protocol: Option<&str>,
        extra_headers: &[(&str, &str)],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        if protocol.is_some_and(|protocol| !is_token(protocol)) {
            return Err(EncodeError::InvalidHttpField);
        }
        check_extra_headers(extra_headers)?;
        let accept = self.accept_key();
        let mut writer = Writer::new(out);
        writer
            .put(b"HTTP/1.1 101 Switching Protocols\r\n")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", accept.as_str());
        if let Some(protocol) = protocol {
            writer.header("Sec-WebSocket-Protocol", protocol);
        }
        for (name, value) in extra_headers {
            writer.header(name, value);
        }
        writer.put(b"\r\n").finish()
    }
}

/// Why an upgrade request was refused, with the HTTP status to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestError {
    /// Not a valid HTTP/1.x request (400).
    Malformed,
    /// The method is not GET (405).
    NotGet,
    /// HTTP/1.0; RFC 6455 needs 1.1 (400).
    UnsupportedHttpVersion,
    /// No `Host` header (400).
    MissingHost,
    /// `Upgrade` does not name `websocket` (400).
    MissingUpgrade,
    /// `Connection` does not contain the `upgrade` token (400).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13 (426, with `Sec-WebSocket-Version: 13`).
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not base64 of 16 bytes (400).
    InvalidKey,
    /// The header section does not fit the header buffer, or has more than
    /// [`MAX_HEADERS`] lines (431).
    TooLarge,
}

impl RequestError {
    /// The HTTP status to answer with.
    pub const fn status(self) -> u16 {
        match self {
            Self::NotGet => 405,
            Self::UnsupportedVersion => 426,
            Self::TooLarge => 431,
            Self::Malformed
            | Self::UnsupportedHttpVersion
            | Self::MissingHost
            | Self::MissingUpgrade
            | Self::MissingConnectionUpgrade
            | Self::InvalidKey => 400,
        }
    }

    const fn message(self) -> &'static str {
        match self {
            Self::Malformed => "malformed HTTP request",
            Self::NotGet => "method is not GET",
            Self::UnsupportedHttpVersion => "HTTP/1.1 required",
            Self::MissingHost => "missing Host header",
            Self::MissingUpgrade => "Upgrade header does not name websocket",
            Self::MissingConnectionUpgrade => "Connection header lacks the upgrade token",
            Self::UnsupportedVersion => "Sec-WebSocket-Version must be 13",
            Self::InvalidKey => "invalid Sec-WebSocket-Key",
            Self::TooLarge => "request header section too large",
        }
    }

    /// Writes the error response (status, required headers, the message as body).
    pub fn write_response(self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let headers: &[(&str, &str)] = match self {
            Self::NotGet => &[("Allow", "GET")],
            // RFC 6455 §4.4 names the version we speak; RFC 9110 §15.5.22 asks a 426
            // to say what to upgrade to.
            Self::UnsupportedVersion => &[
                ("Sec-WebSocket-Version", "13"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade, close"),
            ],
            _ => &[],
        };
        write_response(out, self.status(), headers, self.message())
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for RequestError {}

/// Writes an HTTP/1.1 response with `status`, `headers`, a plain-text `body`,
/// `Content-Length` and, unless `headers` has one, `Connection: close`.
pub fn write_response(
    out: &mut [u8],
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<usize, EncodeError> {
    if !(100..=599).contains(&status) {
        return Err(EncodeError::InvalidStatus);
    }
    check_extra_headers(headers)?;
    let mut writer = Writer::new(out);
    writer
        .put(b"HTTP/1.1 ")
        .put_decimal(usize::from(status))
        .put(b" ")
        .put_str(reason_phrase(status))
        .put(b"\r\n");
    for (name, value) in headers {
        writer.header(name, value);
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("Connection"))
    {
        writer.header("Connection", "close");
    }
    writer
        .header("Content-Type", "text/plain; charset=utf-8")
        .put(b"Content-Length: ")
        .put_decimal(body.len())
        .put(b"\r\n\r\n")
        .put_str(body)
        .finish()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        // The reason phrase is optional in HTTP/1.1.
        _ => "",
    }
}

pub(super) fn parse_request(
    buf: &[u8],
    buffer_full: bool,
) -> Result<Status<UpgradeRequest<'_>>, RequestError> {
    let mut list = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut list);
    let header_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buffer_full => return Err(RequestError::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(Status::Incomplete),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooLarge),
        Err(_) => return Err(RequestError::Malformed),
    };
    let (method, target, version) = (request.method, request.path, request.version);
    let count = request.headers.len();
    let headers = Headers::new(list, count);

    if method != Some("GET") {
        return Err(RequestError::NotGet);
    }
    if version != Some(1) {
        return Err(RequestError::UnsupportedHttpVersion);
    }
    if headers.get_str("Host").is_none_or(str::is_empty) {
        return Err(RequestError::MissingHost);
    }
    if !headers.has_token("Upgrade", "websocket") {
        return Err(RequestError::MissingUpgrade);
    }
    if !headers.has_token("Connection", "upgrade") {
        return Err(RequestError::MissingConnectionUpgrade);
    }
    if !headers
        .tokens("Sec-WebSocket-Version")
        .any(|version| version == "13")
    {
        return Err(RequestError::UnsupportedVersion);
    }
    let mut keys = headers.all("Sec-WebSocket-Key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => core::str::from_utf8(key).map(str::trim).unwrap_or_default(),
        _ => return Err(RequestError::InvalidKey),
    };
    if !is_valid_key(key) {
        return Err(RequestError::InvalidKey);
    }
    let target = target.ok_or(RequestError::Malformed)?;
    Ok(Status::Complete(UpgradeRequest {
        target,
        key,
        headers,
        header_len,
    }))
}
