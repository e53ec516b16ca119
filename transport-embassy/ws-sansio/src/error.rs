//! Errors of the frame layer.

use core::fmt;

use crate::CloseCode;

/// A frame or message broke RFC 6455. The connection is failing: the close frame
/// with [`ProtocolError::close_code`] has been queued and no more input is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 is set; no extension was negotiated.
    ReservedBits,
    /// Opcode 3-7 or 0xB-0xF.
    ReservedOpcode,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong,
    /// A 64-bit payload length with its most significant bit set.
    PayloadLengthOverflow,
    /// A payload length in a longer encoding than it needs (RFC 6455 §5.2: the minimal
    /// number of bytes must be used).
    NonMinimalLength,
    /// A server received a frame without a mask.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress.
    UnexpectedContinuation,
    /// A text or binary frame arrived while a fragmented message was in progress.
    ExpectedContinuation,
    /// The message does not fit in the message buffer.
    MessageTooBig,
    /// A text message is not valid UTF-8.
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    InvalidClosePayload,
    /// A close frame carrying a code that must not appear on the wire.
    InvalidCloseCode,
    /// A close frame whose reason is not valid UTF-8.
    InvalidCloseReason,
}

impl ProtocolError {
    /// The code of the close frame sent because of this error.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::MessageTooBig => CloseCode::MESSAGE_TOO_BIG,
            // 1007 is "data inconsistent with the type of the message"; a close
            // reason is specified as UTF-8 text, so a bad reason gets 1007 too.
            Self::InvalidUtf8 | Self::InvalidCloseReason => CloseCode::INVALID_PAYLOAD,
            Self::ReservedBits
            | Self::ReservedOpcode
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooLong
            | Self::PayloadLengthOverflow
            | Self::NonMinimalLength
            | Self::UnmaskedFrame
            | Self::MaskedFrame
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::InvalidClosePayload
            | Self::InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ReservedBits => "reserved bits set",
            Self::ReservedOpcode => "reserved opcode",
            Self::FragmentedControlFrame => "fragmented control frame",
            Self::ControlFrameTooLong => "control frame payload over 125 bytes",
            Self::PayloadLengthOverflow => "64-bit payload length with the top bit set",
            Self::NonMinimalLength => "payload length not in its shortest encoding",
            Self::UnmaskedFrame => "unmasked frame from a client",
            Self::MaskedFrame => "masked frame from a server",
            Self::UnexpectedContinuation => "continuation frame without a message in progress",
            Self::ExpectedContinuation => "new data frame inside a fragmented message",
            Self::MessageTooBig => "message larger than the message buffer",
            Self::InvalidUtf8 => "text message is not valid UTF-8",
            Self::InvalidClosePayload => "close frame with a one-byte payload",
            Self::InvalidCloseCode => "invalid close code",
            Self::InvalidCloseReason => "close reason is not valid UTF-8",
        })
    }
}

impl core::error::Error for ProtocolError {}

/// Writing a frame or an HTTP message into a caller-owned buffer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small; `needed` bytes would have been written.
    BufferTooSmall {
        /// Output length required.
        needed: usize,
    },
    /// A control frame payload over 125 bytes, or a close reason over 123 bytes.
    ControlPayloadTooLong,
    /// A close code that must not be sent (see [`CloseCode::is_valid`]).
    InvalidCloseCode,
    /// A header name, header value, request target, host or subprotocol
    /// contains characters not allowed there (CR and LF in particular).
    InvalidHttpField,
    /// An HTTP status outside 100-599.
    InvalidStatus,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small, {needed} bytes needed")
            }
            Self::ControlPayloadTooLong => f.write_str("control frame payload too long"),
            Self::InvalidCloseCode => f.write_str("close code not allowed on the wire"),
            Self::InvalidHttpField => f.write_str("invalid character in an HTTP field"),
            Self::InvalidStatus => f.write_str("HTTP status outside 100-599"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Sending through a [`Connection`](crate::Connection) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// The closing handshake has started; no more data frames or pings.
    NotOpen,
    /// A whole message or a new fragmented message was sent before the last
    /// fragment of the previous one, or a fragment's kind does not match.
    MessageInProgress,
    /// The frame could not be encoded.
    Encode(EncodeError),
}

impl From<EncodeError> for SendError {
    fn from(error: EncodeError) -> Self {
        Self::Encode(error)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOpen => f.write_str("connection is closing"),
            Self::MessageInProgress => f.write_str("a fragmented message is in progress"),
            Self::Encode(error) => error.fmt(f),
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Encode(error) => Some(error),
            _ => None,
        }
    }
}
