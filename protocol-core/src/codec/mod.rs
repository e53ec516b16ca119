//! Codecs: bytes ⇄ [`Frame`].
//!
//! A codec is a zero-sized type chosen by generic parameter, never by a runtime enum, so
//! firmware that uses only postcard never links the JSON code (and the reverse).
//!
//! Both codecs follow one contract:
//! - `decode` borrows the input and never panics. On failure it says what was wrong
//!   ([`DecodeError`]) and, when the input was a complete, well-formed frame object whose `id`
//!   is a string within [`MAX_ID_LEN`](crate::limits::MAX_ID_LEN), hands back that *usable
//!   id* so the error can be answered as a `response.error`.
//! - `encode` writes into a caller-owned slice and returns the length used. A slice that is
//!   too small gives [`EncodeError::BufferTooSmall`], with the size needed when it is known.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::frame::{Data, ErrorBody, Frame, Payload};
use crate::text::Str;

#[cfg(feature = "json")]
pub(crate) mod json;
#[cfg(feature = "postcard")]
mod postcard;
mod set;

#[cfg(feature = "json")]
pub use json::JsonCodec;
#[cfg(feature = "postcard")]
pub use postcard::PostcardCodec;
#[cfg(all(feature = "json", feature = "postcard"))]
pub use set::AnyCodec;
pub use set::{CodecSet, Negotiated, NoCommonSubprotocol, negotiate};

/// The WebSocket message type a codec's frames travel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)] // RFC 6455 has two data opcodes.
pub enum MessageKind {
    /// A text message (UTF-8).
    Text,
    /// A binary message.
    Binary,
}

/// Turns bytes into [`Frame`]s and back.
///
/// Implemented by [`JsonCodec`] and [`PostcardCodec`]; all functions are associated
/// functions, so a codec is only ever named as a type parameter.
pub trait Codec {
    /// The message type this codec's frames use.
    const MESSAGE_KIND: MessageKind;
    /// The WebSocket subprotocol name that selects this codec.
    const SUBPROTOCOL: &'static str;

    /// Decodes one frame from one whole message.
    ///
    /// # Errors
    /// A [`DecodeFailure`]: what was wrong, and the usable id if there is one.
    fn decode(input: &[u8]) -> Result<Frame<'_>, DecodeFailure<'_>>;

    /// The frame's usable id (`docs/spec.md` §3.3), whatever its type: the id an error
    /// about this frame is answered with. The default reads it from [`decode`](Self::decode);
    /// a codec whose frames may carry an id that [`Frame`] does not keep (a JSON `event`
    /// with an `id` member) says so here.
    fn usable_id(input: &[u8]) -> Option<Str<'_>> {
        match Self::decode(input) {
            Ok(frame) => frame.id(),
            Err(failure) => failure.id,
        }
    }

    /// Encodes `frame` at the start of `out` and returns the length written.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`], or an error from a typed payload's serializer.
    fn encode<D: Payload>(frame: &Frame<'_, D>, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// Serializes a value as `data` at the start of `out`.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] or [`EncodeError::Value`].
    fn encode_value<T: Serialize + ?Sized>(value: &T, out: &mut [u8])
    -> Result<usize, EncodeError>;

    /// Writes an [`ErrorBody`] as `data` at the start of `out`.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`].
    fn encode_error_body(body: &ErrorBody<'_>, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// Reads the `data` of an `error` event as an [`ErrorBody`].
    ///
    /// # Errors
    /// [`DecodeError::InvalidErrorBody`] when it is not `{reason, code}` with string members.
    fn decode_error_body(data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError>;

    /// Deserializes `data` into `T`, unescaping strings in `scratch` (JSON) when needed.
    ///
    /// With JSON, a borrowed `&str` field works only for strings without escapes; an owned
    /// field (`heapless::String`) always works if `scratch` holds its unescaped text.
    ///
    /// # Errors
    /// [`ValueError`] when `data` does not have the shape of `T`.
    fn decode_value_with<'de, T: Deserialize<'de>>(
        data: Data<'de>,
        scratch: &mut [u8],
    ) -> Result<T, ValueError>;

    /// [`decode_value_with`](Self::decode_value_with) with a stack buffer of
    /// [`VALUE_SCRATCH_LEN`](crate::limits::VALUE_SCRATCH_LEN) bytes.
    ///
    /// # Errors
    /// [`ValueError`] when `data` does not have the shape of `T`.
    fn decode_value<'de, T: Deserialize<'de>>(data: Data<'de>) -> Result<T, ValueError> {
        Self::decode_value_with(data, &mut [0; crate::limits::VALUE_SCRATCH_LEN])
    }

    /// Decodes, refusing frames longer than `max_len` with [`DecodeError::FrameTooLarge`]
    /// (still with the usable id, when the frame has one).
    ///
    /// # Errors
    /// As [`decode`](Self::decode), plus [`DecodeError::FrameTooLarge`].
    fn decode_limited(input: &[u8], max_len: usize) -> Result<Frame<'_>, DecodeFailure<'_>> {
        if input.len() <= max_len {
            return Self::decode(input);
        }
        let id = Self::usable_id(input);
        let error = DecodeError::FrameTooLarge {
            len: saturate(input.len()),
            max: saturate(max_len),
        };
        Err(DecodeFailure { error, id })
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A member of a frame, named in decode errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Member {
    /// `id`.
    Id,
    /// `type`.
    Type,
    /// `endpoint`.
    Endpoint,
    /// `kind`.
    Kind,
    /// `data`.
    Data,
}

impl Member {
    /// The member's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Type => "type",
            Self::Endpoint => "endpoint",
            Self::Kind => "kind",
            Self::Data => "data",
        }
    }
}

/// What is wrong with an incoming frame. Always the peer's fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is longer than the connection's frame limit.
    FrameTooLarge {
        /// Length of the frame, in bytes.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// JSON: the message is not UTF-8. Postcard: a string member is not UTF-8.
    NotUtf8,
    /// The bytes are not JSON (or not a postcard frame): `at` is the byte offset where
    /// reading stopped.
    Syntax {
        /// What kind of mistake.
        kind: SyntaxError,
        /// Byte offset into the message.
        at: u32,
    },
    /// JSON nests arrays and objects deeper than [`MAX_DEPTH`](crate::limits::MAX_DEPTH).
    TooDeep,
    /// A complete value is followed by more than whitespace (JSON) or by any byte (postcard).
    TrailingData,
    /// Valid JSON, but not an object.
    NotAnObject,
    /// A required member is absent.
    MissingMember(Member),
    /// A member that must be a string is not one.
    NotAString(Member),
    /// `id` is longer than [`MAX_ID_LEN`](crate::limits::MAX_ID_LEN), or `endpoint` / `kind`
    /// longer than [`MAX_NAME_LEN`](crate::limits::MAX_NAME_LEN), in bytes after unescaping.
    TooLong(Member),
    /// `type` is none of `event`, `request`, `response`, `response.error` (postcard: the
    /// variant index is above 3).
    UnknownType,
    /// The `data` of a `response.error` (or of an `error` event) is not `{reason, code}` with
    /// string members.
    InvalidErrorBody,
}

/// The kinds of JSON (or postcard) syntax error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SyntaxError {
    /// The input ends inside a value (an empty message included).
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte,
    /// A malformed number, or a non-standard literal such as `NaN` or `Infinity`.
    InvalidNumber,
    /// A malformed literal (`true`, `false`, `null`).
    InvalidLiteral,
    /// A malformed escape in a string.
    InvalidEscape,
    /// A `\uD800`–`\uDFFF` escape that is not half of a valid pair.
    LoneSurrogate,
    /// A raw control character (U+0000–U+001F) inside a string.
    ControlCharacter,
    /// postcard: the bytes do not describe a frame (bad varint, bad length…).
    Malformed,
}

/// The outcome of a failed decode: the error, and the *usable id* when the input was a
/// complete, well-formed frame object whose `id` is a string within the length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DecodeFailure<'a> {
    /// What was wrong.
    pub error: DecodeError,
    /// The id to answer with, if there is one.
    pub id: Option<Str<'a>>,
}

impl From<DecodeError> for DecodeFailure<'_> {
    fn from(error: DecodeError) -> Self {
        Self { error, id: None }
    }
}

/// Why a frame could not be encoded. The caller's problem (buffer size) or the value's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small. `required` is the whole frame's length when it could
    /// be computed (always, unless a typed value was being serialized).
    BufferTooSmall {
        /// Bytes needed, when known.
        required: Option<usize>,
    },
    /// A typed value could not be serialized (for example a map with non-string keys in
    /// JSON, or a sequence of unknown length in postcard).
    Value,
}

/// Why typed `data` could not be deserialized. The peer sent a value of the wrong shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ValueError {
    /// The value does not match the type (wrong member type, missing field, bad number…).
    Invalid,
    /// A string with escapes is longer than the unescape buffer.
    ScratchTooSmall,
    /// Bytes are left over after the value (postcard).
    TrailingData,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the {max}-byte limit")
            }
            Self::NotUtf8 => f.write_str("frame is not valid UTF-8"),
            Self::Syntax { kind, at } => write!(f, "syntax error at byte {at}: {kind}"),
            Self::TooDeep => f.write_str("frame nests arrays and objects too deeply"),
            Self::TrailingData => f.write_str("data after the end of the frame"),
            Self::NotAnObject => f.write_str("frame is not an object"),
            Self::MissingMember(m) => write!(f, "member `{}` is missing", m.as_str()),
            Self::NotAString(m) => write!(f, "member `{}` is not a string", m.as_str()),
            Self::TooLong(m) => write!(f, "member `{}` is too long", m.as_str()),
            Self::UnknownType => f.write_str("unknown frame type"),
            Self::InvalidErrorBody => f.write_str("error data is not {reason, code}"),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnexpectedEnd => "unexpected end of input",
            Self::UnexpectedByte => "unexpected byte",
            Self::InvalidNumber => "invalid number",
            Self::InvalidLiteral => "invalid literal",
            Self::InvalidEscape => "invalid escape",
            Self::LoneSurrogate => "lone surrogate escape",
            Self::ControlCharacter => "control character in string",
            Self::Malformed => "malformed frame",
        })
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { required: Some(n) } => {
                write!(f, "output buffer too small: {n} bytes needed")
            }
            Self::BufferTooSmall { required: None } => f.write_str("output buffer too small"),
            Self::Value => f.write_str("value cannot be serialized"),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "data does not match the expected type",
            Self::ScratchTooSmall => "escaped string longer than the unescape buffer",
            Self::TrailingData => "bytes after the value",
        })
    }
}

impl core::error::Error for DecodeError {}
impl core::error::Error for EncodeError {}
impl core::error::Error for ValueError {}

/// A cursor over a caller-owned output slice that keeps counting past the end, so a failed
/// encode can say how many bytes it needed.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
    /// Set when a typed payload overflowed: its size, and so the total, is unknown.
    size_unknown: bool,
}

impl<'a> Out<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            size_unknown: false,
        }
    }

    #[inline]
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }

    // Called from many places: one copy on firmware, inlined on hosted targets.
    #[cfg_attr(target_os = "none", inline(never))]
    #[cfg_attr(not(target_os = "none"), inline)]
    pub(crate) fn put_byte(&mut self, byte: u8) {
        if let Some(dst) = self.buf.get_mut(self.pos) {
            *dst = byte;
        }
        self.pos = self.pos.saturating_add(1);
    }

    #[cfg(feature = "postcard")]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The free space after the cursor (empty once past the end).
    pub(crate) fn room(&mut self) -> &mut [u8] {
        let start = self.pos.min(self.buf.len());
        &mut self.buf[start..]
    }

    /// Mutable access to already-written bytes `range` (used to patch in place).
    #[cfg(feature = "postcard")]
    pub(crate) fn written_mut(&mut self, start: usize, end: usize) -> Option<&mut [u8]> {
        self.buf.get_mut(start..end)
    }

    /// Accounts for a payload written (or measured) at the cursor.
    pub(crate) fn advance(
        &mut self,
        result: Result<usize, EncodeError>,
    ) -> Result<(), EncodeError> {
        match result {
            Ok(n) => self.pos = self.pos.saturating_add(n),
            // The payload did not fit in the room left, and says how long it is: the total
            // stays exact.
            Err(EncodeError::BufferTooSmall { required: Some(n) }) => {
                self.pos = self.pos.saturating_add(n);
            }
            Err(EncodeError::BufferTooSmall { required: None }) => {
                self.size_unknown = true;
                self.pos = self.pos.max(self.buf.len() + 1);
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<usize, EncodeError> {
        if self.size_unknown {
            Err(EncodeError::BufferTooSmall { required: None })
        } else if self.pos > self.buf.len() {
            Err(EncodeError::BufferTooSmall {
                required: Some(self.pos),
            })
        } else {
            Ok(self.pos)
        }
    }
}
