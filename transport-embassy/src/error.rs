//! What can go wrong between the socket and the two sans-IO layers.

use core::fmt;

use embedded_io_async::ErrorKind;
use protocol_core::CallError;

/// Why a runner stopped before an accepted connection, or why a session call failed.
///
/// Once a connection is accepted, [`ServerRunner::run`](crate::ServerRunner::run) and
/// [`ClientRunner::run`](crate::ClientRunner::run) always end with the core's
/// [`Exit`](protocol_core::connection::Exit): transport failures after that point are
/// reported to the core (`handle_transport_closed`), not returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The core refused the call (the state machine forbids it now, or `data` could not be
    /// encoded into the output buffer). Nothing was sent.
    Call(CallError),
    /// A WebSocket frame or HTTP message did not fit the output buffer.
    Encode(ws_sansio::EncodeError),
    /// The transport failed (reset, or its write half closed).
    Transport(ErrorKind),
    /// The transport ended (or failed earlier): nothing more can be sent.
    Closed,
    /// (server) The upgrade request was invalid; it was answered with this HTTP status.
    BadRequest(ws_sansio::RequestError),
    /// (server) The handler or the codec negotiation refused the upgrade with this status.
    Refused {
        /// The HTTP status sent.
        status: u16,
    },
    /// (client) The server answered the upgrade with this HTTP status instead of 101.
    Rejected {
        /// The HTTP status received.
        status: u16,
    },
    /// (client) The server's answer is not a valid WebSocket upgrade.
    BadResponse(ws_sansio::ResponseError),
    /// The handshake did not complete within the core's handshake timeout.
    HandshakeTimedOut,
}

impl From<CallError> for Error {
    fn from(error: CallError) -> Self {
        Self::Call(error)
    }
}

impl From<ws_sansio::EncodeError> for Error {
    fn from(error: ws_sansio::EncodeError) -> Self {
        Self::Encode(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(e) => write!(f, "refused by the protocol core: {e}"),
            Self::Encode(e) => write!(f, "cannot frame: {e}"),
            Self::Transport(kind) => write!(f, "transport failed: {kind:?}"),
            Self::Closed => f.write_str("the transport is closed"),
            Self::BadRequest(e) => write!(f, "invalid upgrade request: {e}"),
            Self::Refused { status } => write!(f, "upgrade refused with HTTP {status}"),
            Self::Rejected { status } => write!(f, "the server answered HTTP {status}"),
            Self::BadResponse(e) => write!(f, "invalid upgrade response: {e}"),
            Self::HandshakeTimedOut => f.write_str("handshake timed out"),
        }
    }
}

impl core::error::Error for Error {}
