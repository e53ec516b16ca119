//! A no_std, allocation-free, sans-IO WebSocket (RFC 6455) layer for both roles.
//!
//! The crate never touches a socket or a clock and never allocates: the caller
//! owns every buffer, passes received bytes and the current time in, and writes
//! what the crate produces to the transport.
//!
//! # Pieces
//!
//! - The opening handshake: [`HeaderBuffer`] holds the HTTP header section.
//!   Servers call [`HeaderBuffer::parse_request`] and answer with
//!   [`UpgradeRequest::write_accept`] or [`RequestError::write_response`]; clients
//!   use [`ClientHandshake`] and [`HeaderBuffer::parse_response`].
//! - The connection: [`Connection`] decodes frames, reassembles messages,
//!   answers pings and runs the closing handshake. See its docs for the call order.
//! - Low-level frame codec: [`FrameHeader::parse`], [`encode_frame`],
//!   [`encode_close_frame`], [`apply_mask`].
//!
//! # Example: the server side
//!
//! ```
//! use ws_sansio::{Connection, Event, HeaderBuffer, Instant, Status};
//!
//! # let received: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//! #     Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//! #     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n\
//! #     \x81\x82\x01\x02\x03\x04\x69\x6b";
//! let mut header_storage = [0; 1024];
//! let mut headers = HeaderBuffer::new(&mut header_storage);
//! let mut out = [0; 256];
//! headers.feed(received); // bytes read from the socket
//! let header_len = match headers.parse_request() {
//!     Ok(Status::Complete(request)) => {
//!         let protocol = request.select_protocol(&["chat"]);
//!         let len = request.write_accept(protocol, &[], &mut out)?;
//!         // send out[..len]
//!         request.header_len()
//!     }
//!     Ok(Status::Incomplete) => return Ok(()), // read more and parse again
//!     Err(error) => {
//!         let len = error.write_response(&mut out)?;
//!         // send out[..len], then close the socket
//!         return Ok(());
//!     }
//! };
//!
//! let mut message_buffer = [0; 4096];
//! let mut connection = Connection::server(&mut message_buffer);
//! // Bytes after the header section are the first frames.
//! let mut input = headers.after_headers(header_len);
//! let now = Instant::from_millis(0); // from the caller's clock
//! while !input.is_empty() {
//!     let used = connection.handle_input(now, input)?;
//!     input = &input[used..];
//!     if let Some(Event::Text(text)) = connection.poll_event() {
//!         assert_eq!(text, "hi");
//!     }
//!     while let Some(len) = connection.poll_transmit(&mut out)? {
//!         // send out[..len]
//! #       let _ = len;
//!     }
//! }
//! if connection.should_close_transport() {
//!     // close the socket
//! }
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Limits
//!
//! | Limit | Value | When exceeded |
//! |---|---|---|
//! | Header section | length of the [`HeaderBuffer`] | [`RequestError::TooLarge`] (HTTP 431), [`ResponseError::TooLarge`] |
//! | Header lines | [`MAX_HEADERS`] (32) | same as above |
//! | Message size | length of the [`Connection`]'s message buffer | close 1009 |
//! | Control frame payload | [`MAX_CONTROL_PAYLOAD`] (125) | close 1002 |
//! | Close reason | [`MAX_CLOSE_REASON`] (123) | [`EncodeError::ControlPayloadTooLong`] when sending |
//! | Outgoing frame | the caller's output buffer | [`EncodeError::BufferTooSmall`] with the length needed |
//!
//! No extension is ever negotiated, so RSV1-3 must be zero. A payload length not in
//! its shortest encoding is refused (close 1002), as RFC 6455 §5.2 requires.
//!
//! # Randomness
//!
//! Clients need unpredictable bytes for the handshake key and masking keys; they
//! come from a caller-supplied [`RandomSource`].
#![no_std]
#![forbid(unsafe_code)]

mod close;
mod connection;
mod error;
mod frame;
mod handshake;
mod random;
mod time;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use close::CloseCode;
pub use connection::{Connection, DEFAULT_CLOSE_TIMEOUT, Event, MessageKind, Role, State};
pub use error::{EncodeError, ProtocolError, SendError};
pub use frame::{
    FrameHeader, MAX_CLOSE_REASON, MAX_CONTROL_FRAME_LEN, MAX_CONTROL_PAYLOAD,
    MAX_FRAME_HEADER_LEN, OpCode, apply_mask, encode_close_frame, encode_frame,
};
pub use handshake::{
    AcceptKey, ClientHandshake, HeaderBuffer, Headers, MAX_HEADERS, RequestError, ResponseError,
    UpgradeRequest, UpgradeResponse, write_response,
};
pub use random::{NoRandom, RandomSource};
pub use time::Instant;

/// Outcome of parsing input that may not have fully arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// Parsed; the value is ready.
    Complete(T),
    /// The input so far is a valid prefix; more bytes are needed.
    Incomplete,
}
