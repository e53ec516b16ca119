//! Connections: both sides of the seed-004 state machine, requests and events, reply
//! profiles and timers. [`ServerConnection`] is the application side, [`ClientConnection`]
//! the client side.
//!
//! Each connection tracks two states, as Starlette's `WebSocket` does: the *client* state
//! (what the client has done: connect, then disconnect) and the *application* state (what
//! the server application has done: accept or reject, then close). Both start
//! [`State::Connecting`]. Every call that the state machine forbids returns a [`CallError`]
//! and changes nothing.
//!
//! The WebSocket layer below (tungstenite on std, `ws-sansio` on embassy) owns framing,
//! masking, ping/pong answers and the echo of a peer's close frame. The core owns the
//! protocol: what each message means, what is answered, when to close and why.

mod client;
mod lifecycle;
mod server;
mod timer;

use core::fmt;

pub use client::{ClientConnection, ClientReceived, RequestId, Unusable};
pub use server::{
    Failure, Refusal, Request, RequestToken, RouteId, Routes, ServerConnection, ServerReceived,
};
pub use timer::Timer;

use crate::codec::{EncodeError, MessageKind};
use crate::limits;
use crate::time::Duration;

/// The event kind of the enter hook's result, sent once after accept.
pub const INIT_EVENT: &str = "init";

/// The event kind of `{reason, code}` errors that carry no id.
pub const ERROR_EVENT: &str = "error";

/// The state of one side of a connection (Starlette's `WebSocketState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)] // Fixed by the state machine.
pub enum State {
    /// Before the handshake step of this side.
    Connecting,
    /// After it.
    Connected,
    /// After this side closed or the transport went away.
    Disconnected,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connecting => "CONNECTING",
            Self::Connected => "CONNECTED",
            Self::Disconnected => "DISCONNECTED",
        })
    }
}

/// How the core answers what it answers itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Profile {
    /// Every error with a usable id is a `response.error` carrying that id; an error without
    /// one is an `error` event. Malformed input is answered and the connection stays open.
    #[default]
    Default,
    /// The seed library's bytes: errors the core answers are id-less `error` events, and
    /// handler failures other than a request error are `internal-error` events.
    Seed000,
}

/// Per-connection settings. Capacities are const generics on the connection types instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// How errors are answered.
    pub profile: Profile,
    /// Largest frame decoded; a larger one is answered `frame-too-large`.
    pub max_frame_len: usize,
    /// Handshake deadline, from [`new`](ServerConnection::new).
    pub handshake_timeout: Duration,
    /// Close with 1001 after this long without receiving anything (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Ask for a ping after this long without receiving anything (`None`: never).
    pub keepalive_interval: Option<Duration>,
    /// Wait this long for the answer to our close frame.
    pub close_timeout: Duration,
    /// Default deadline of a client request.
    pub request_timeout: Duration,
    /// Close with 1008 after this many invalid frames in a row (`None`: never).
    pub max_consecutive_bad_frames: Option<u16>,
}

impl Config {
    /// The defaults of [`limits`].
    pub const fn new() -> Self {
        Self {
            profile: Profile::Default,
            max_frame_len: limits::DEFAULT_MAX_FRAME_LEN,
            handshake_timeout: Duration::from_millis(limits::DEFAULT_HANDSHAKE_TIMEOUT_MS),
            idle_timeout: Some(Duration::from_millis(limits::DEFAULT_IDLE_TIMEOUT_MS)),
            keepalive_interval: Some(Duration::from_millis(limits::DEFAULT_KEEPALIVE_MS)),
            close_timeout: Duration::from_millis(limits::DEFAULT_CLOSE_TIMEOUT_MS),
            request_timeout: Duration::from_millis(limits::DEFAULT_REQUEST_TIMEOUT_MS),
            max_consecutive_bad_frames: None,
        }
    }

    /// The same settings with another profile.
    #[must_use]
    pub const fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// Something to send, already written at the start of the caller's buffer.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Transmit {
    /// A data message: `len` bytes of the given kind.
    Message {
        /// Text or binary.
        kind: MessageKind,
        /// Bytes written.
        len: usize,
    },
    /// A WebSocket ping with an empty payload (nothing written).
    Ping,
    /// A WebSocket close frame: `code`, and `reason_len` bytes of UTF-8 reason written.
    Close {
        /// The close code.
        code: u16,
        /// Bytes of reason written.
        reason_len: usize,
    },
}

/// The stable error codes the core itself sends (the `code` of `{reason, code}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a valid request, or its data does not match the endpoint's type.
    ValidationError,
    /// No endpoint of that name.
    InvalidEndpoint,
    /// The handler failed without a request error of its own.
    InternalError,
    /// The frame is larger than the connection decodes.
    FrameTooLarge,
    /// Too many requests in flight on this connection.
    Busy,
    /// The request was not answered in time.
    Timeout,
}

impl ErrorCode {
    /// The `code` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "validation-error",
            Self::InvalidEndpoint => "invalid-endpoint",
            Self::InternalError => "internal-error",
            Self::FrameTooLarge => "frame-too-large",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
        }
    }

    /// The `reason` string (the seed library's wording for the first three).
    pub const fn reason(self) -> &'static str {
        match self {
            Self::ValidationError => "Invalid request sent",
            Self::InvalidEndpoint => "Invalid endpoint",
            Self::InternalError => "Internal server error",
            Self::FrameTooLarge => "Frame too large",
            Self::Busy => "Too many requests in flight",
            Self::Timeout => "Request timed out",
        }
    }

    /// Every code, in the order of `docs/spec.md` §5.
    pub const ALL: [Self; 6] = [
        Self::ValidationError,
        Self::InvalidEndpoint,
        Self::InternalError,
        Self::FrameTooLarge,
        Self::Busy,
        Self::Timeout,
    ];

    /// The code named by `text`, if it is one of these.
    pub fn from_code(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// `{reason, code}`.
    pub const fn body(self) -> crate::ErrorBody<'static> {
        crate::ErrorBody::new(self.reason(), self.as_str())
    }
}

/// Close codes the core sends (RFC 6455 §7.4.1).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Going away: idle timeout, server shutdown.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer sent a message of a type this codec cannot accept (binary in JSON mode).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Policy violation: too many invalid frames in a row.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// The message was too big (sent by the WebSocket layer, never reaches the core).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Unexpected condition on the server.
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// The caller broke the call contract: the state machine forbids the call, or a buffer or
/// argument is wrong. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CallError {
    /// The client's handshake has not been received (server) or sent (client) yet.
    NotConnected,
    /// The client's handshake was already received (server) or sent (client).
    AlreadyConnected,
    /// The application has not accepted the connection (or the server has not answered).
    NotAccepted,
    /// The connection was already accepted or rejected.
    AlreadyAccepted,
    /// The application side has closed (or rejected): nothing more may be sent.
    SendAfterClose,
    /// The client side has disconnected: nothing more can be received.
    ReceiveAfterDisconnect,
    /// The request token or id is unknown or already answered.
    UnknownRequest,
    /// The table of pending (client) requests is full.
    TooManyPending,
    /// Core replies wait in the transmit queue: drain `poll_transmit` first.
    TransmitQueueFull,
    /// A close code that an endpoint may not send (RFC 6455 §7.4).
    InvalidCloseCode,
    /// A close reason longer than [`MAX_CLOSE_REASON_LEN`](limits::MAX_CLOSE_REASON_LEN).
    CloseReasonTooLong,
    /// An endpoint name or event kind longer than [`MAX_NAME_LEN`](limits::MAX_NAME_LEN).
    NameTooLong,
    /// The frame could not be encoded into the buffer given.
    Encode(EncodeError),
}

impl From<EncodeError> for CallError {
    fn from(error: EncodeError) -> Self {
        Self::Encode(error)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => f.write_str("the client handshake has not happened yet"),
            Self::AlreadyConnected => f.write_str("the client handshake already happened"),
            Self::NotAccepted => f.write_str("the connection is not accepted yet"),
            Self::AlreadyAccepted => f.write_str("the connection was already accepted or rejected"),
            Self::SendAfterClose => f.write_str("cannot send once the connection is closing"),
            Self::ReceiveAfterDisconnect => {
                f.write_str("cannot receive once the peer disconnected")
            }
            Self::UnknownRequest => f.write_str("unknown or already answered request"),
            Self::TooManyPending => f.write_str("too many requests pending"),
            Self::TransmitQueueFull => f.write_str("drain poll_transmit before more input"),
            Self::InvalidCloseCode => f.write_str("this close code may not be sent"),
            Self::CloseReasonTooLong => f.write_str("close reason too long"),
            Self::NameTooLong => f.write_str("endpoint or event name too long"),
            Self::Encode(e) => write!(f, "cannot encode: {e}"),
        }
    }
}

impl core::error::Error for CallError {}

/// The peer broke the protocol in a way that ends the connection. The core has queued the
/// close frame; this is reported once, as [`Event::ProtocolError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A binary message on a JSON connection or a text message on a postcard one (1003).
    UnsupportedMessageKind,
    /// More invalid frames in a row than the configuration allows (1008).
    TooManyBadFrames,
    /// Nothing received for the idle timeout (1001).
    IdleTimeout,
}

impl ProtocolError {
    /// The close code and reason the core sends for it.
    pub const fn close(self) -> (u16, &'static str) {
        match self {
            Self::UnsupportedMessageKind => {
                (close_code::UNSUPPORTED_DATA, "unsupported message type")
            }
            Self::TooManyBadFrames => (close_code::POLICY_VIOLATION, "too many invalid frames"),
            Self::IdleTimeout => (close_code::GOING_AWAY, "idle timeout"),
        }
    }
}

/// Who ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)]
pub enum Initiator {
    /// This side (the application, or the core on its behalf) sent the first close frame.
    Local,
    /// The peer sent the first close frame.
    Peer,
    /// Neither: the transport went away (WebSocket code 1006).
    Transport,
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Exit {
    /// Who ended it.
    pub initiator: Initiator,
    /// The close code of the first close frame (`None` if there was none, or it had none).
    pub code: Option<u16>,
    /// Whether the close handshake completed (both close frames).
    pub clean: bool,
}

/// Why a client request ended without a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RequestFailure {
    /// Its deadline passed (the `timeout` error).
    Timeout,
    /// The connection ended first.
    Disconnected,
    /// (`Seed000` profile) an id-less `error` event arrived while it was the oldest pending
    /// request; its code, when it is one of ours.
    ErrorEvent(Option<ErrorCode>),
}

/// Something that happened, for the application. Drained with `poll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// The peer broke the protocol; the close is queued. At most once.
    ProtocolError(ProtocolError),
    /// The handshake did not complete in time; the connection is over (never accepted).
    HandshakeTimedOut,
    /// (client) The server refused the handshake with this HTTP status.
    Rejected {
        /// The HTTP status (4xx: do not reconnect).
        status: u16,
    },
    /// (client) A request ended without a response.
    RequestFailed {
        /// Which request.
        request: RequestId,
        /// Why.
        cause: RequestFailure,
    },
    /// An accepted connection is over: run the exit hook. Exactly once per accepted
    /// connection, on every path, and always the last event.
    Exit(Exit),
}

/// The size of a connection at the default limits, checked at compile time on 32-bit targets
/// such as `thumbv7em-none-eabihf` (the I/O buffers are the caller's and not included).
pub const MAX_CONNECTION_SIZE: usize = 1536;

#[cfg(target_pointer_width = "32")]
const _: () = {
    use crate::codec::CodecSet;
    const fn check<W: CodecSet>() {
        assert!(core::mem::size_of::<ServerConnection<W>>() <= MAX_CONNECTION_SIZE);
        assert!(core::mem::size_of::<ClientConnection<W>>() <= MAX_CONNECTION_SIZE);
    }
    #[cfg(feature = "json")]
    check::<crate::JsonCodec>();
    #[cfg(feature = "postcard")]
    check::<crate::PostcardCodec>();
    #[cfg(all(feature = "json", feature = "postcard"))]
    check::<crate::AnyCodec>();
};
