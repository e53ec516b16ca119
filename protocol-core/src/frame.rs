//! The four frames, as values.
//!
//! [`Frame`] is the representation; only a [`Codec`] turns bytes into a `Frame` or back.
//! A decoded frame borrows everything from the input buffer: strings as [`Str`], `data` as
//! [`Data`] (the encoded value, in the codec's own format). To encode, `data` can be any
//! [`Payload`]: raw encoded bytes ([`Data`]), a serde value ([`Typed`]), or an
//! [`ErrorBody`].
//!
//! Decoding never panics, whatever the input; encoding never panics; when encoding returns
//! `Err` the output buffer holds unspecified bytes that must not be sent.

use serde::Serialize;

use crate::codec::{Codec, EncodeError};
use crate::text::Str;

/// One protocol frame. `D` is the type of `data`: [`Data`] when decoded, any [`Payload`]
/// when encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)] // The protocol has exactly four frames.
pub enum Frame<'a, D = Data<'a>> {
    /// Server → client, unsolicited: `{"type":"event","kind":…,"data":…}`.
    Event {
        /// What happened (`init`, `error`, or an application kind such as `game:state`).
        kind: Str<'a>,
        /// The event's value.
        data: D,
    },
    /// Client → server: `{"id":…,"type":"request","endpoint":…,"data":…}`.
    Request {
        /// Chosen by the client; echoed in the answer.
        id: Str<'a>,
        /// The handler to run.
        endpoint: Str<'a>,
        /// The handler's argument.
        data: D,
    },
    /// Server → client, success: `{"id":…,"type":"response","data":…}`.
    Response {
        /// The request's id.
        id: Str<'a>,
        /// The handler's result.
        data: D,
    },
    /// Server → client, failure: `{"id":…,"type":"response.error","data":{"reason":…,"code":…}}`.
    ResponseError {
        /// The request's id.
        id: Str<'a>,
        /// Why it failed.
        error: ErrorBody<'a>,
    },
}

/// The `type` of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)]
pub enum FrameType {
    /// `event`.
    Event,
    /// `request`.
    Request,
    /// `response`.
    Response,
    /// `response.error`.
    ResponseError,
}

impl FrameType {
    /// All four, in wire-tag order (the postcard variant index).
    pub const ALL: [Self; 4] = [
        Self::Event,
        Self::Request,
        Self::Response,
        Self::ResponseError,
    ];

    /// The JSON `type` member.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Request => "request",
            Self::Response => "response",
            Self::ResponseError => "response.error",
        }
    }

    /// The postcard variant index.
    pub const fn tag(self) -> u32 {
        self as u32
    }
}

impl core::fmt::Display for FrameType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a, D> Frame<'a, D> {
    /// The frame's `type`.
    pub const fn frame_type(&self) -> FrameType {
        match self {
            Self::Event { .. } => FrameType::Event,
            Self::Request { .. } => FrameType::Request,
            Self::Response { .. } => FrameType::Response,
            Self::ResponseError { .. } => FrameType::ResponseError,
        }
    }

    /// The frame's `id`, for the three frames that have one.
    pub const fn id(&self) -> Option<Str<'a>> {
        match self {
            Self::Event { .. } => None,
            Self::Request { id, .. }
            | Self::Response { id, .. }
            | Self::ResponseError { id, .. } => Some(*id),
        }
    }
}

/// `{reason, code}`: the `data` of a `response.error`, and of an `event` of kind `error`.
///
/// `code` is a stable machine-readable string (`validation-error`, `not-your-turn`…);
/// `reason` is for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ErrorBody<'a> {
    /// Human-readable explanation.
    pub reason: Str<'a>,
    /// Stable machine-readable code.
    pub code: Str<'a>,
}

impl<'a> ErrorBody<'a> {
    /// An error body from plain strings.
    pub const fn new(reason: &'a str, code: &'a str) -> Self {
        Self {
            reason: Str::new(reason),
            code: Str::new(code),
        }
    }
}

/// The encoded `data` of a decoded frame, borrowed from the input: JSON text for
/// [`JsonCodec`](crate::JsonCodec), postcard bytes for [`PostcardCodec`](crate::PostcardCodec).
///
/// As a [`Payload`] it is written verbatim, so it must be in the format of the codec that
/// writes it (echoing a decoded `data` with the same codec is always right).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Data<'a>(&'a [u8]);

impl core::fmt::Debug for Data<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.as_str() {
            Some(text) => f.debug_tuple("Data").field(&text).finish(),
            None => f.debug_tuple("Data").field(&self.0).finish(),
        }
    }
}

impl<'a> Data<'a> {
    /// Wraps bytes already encoded in the codec's format (for JSON: exactly one JSON value).
    pub const fn new(encoded: &'a [u8]) -> Self {
        Self(encoded)
    }

    /// The encoded bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The encoded bytes as text, when they are UTF-8 (always, for JSON).
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.0).ok()
    }

    /// Deserializes the data with codec `C` (strings are unescaped in a stack buffer of
    /// [`VALUE_SCRATCH_LEN`](crate::limits::VALUE_SCRATCH_LEN) bytes).
    pub fn decode<C: Codec, T: serde::Deserialize<'a>>(&self) -> Result<T, crate::ValueError> {
        C::decode_value(*self)
    }
}

/// A serde value written as `data` by the codec's own serializer.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Typed<'a, T: ?Sized>(pub &'a T);

/// Anything that can be written as a frame's `data`.
pub trait Payload {
    /// Writes the payload in `C`'s format at the start of `out` and returns its length.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` is too small (with the size needed when it
    /// is known), or an error from the value's serializer.
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError>;
}

impl Payload for Data<'_> {
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let len = self.0.len();
        let dst = out.get_mut(..len).ok_or(EncodeError::BufferTooSmall {
            required: Some(len),
        })?;
        dst.copy_from_slice(self.0);
        Ok(len)
    }
}

impl<T: Serialize + ?Sized> Payload for Typed<'_, T> {
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        C::encode_value(self.0, out)
    }
}

impl Payload for ErrorBody<'_> {
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        C::encode_error_body(self, out)
    }
}

/// A [`Payload`] written in `C`'s format, behind a vtable. The codecs' frame encoders take
/// their payload as `&dyn WriteAs<C>`, so that each is compiled once rather than once per
/// payload type (on firmware, each copy costs a few hundred bytes of flash).
pub(crate) trait WriteAs<C> {
    fn write_as(&self, out: &mut [u8]) -> Result<usize, EncodeError>;
}

impl<C: Codec, P: Payload> WriteAs<C> for P {
    fn write_as(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.write::<C>(out)
    }
}

impl<'a, D: Payload> Frame<'a, D> {
    /// The same frame with its payload behind a vtable (see [`WriteAs`]).
    #[inline]
    pub(crate) fn erased<C: Codec>(&self) -> Frame<'_, &dyn WriteAs<C>> {
        match self {
            Self::Event { kind, data } => Frame::Event { kind: *kind, data },
            Self::Request { id, endpoint, data } => Frame::Request {
                id: *id,
                endpoint: *endpoint,
                data,
            },
            Self::Response { id, data } => Frame::Response { id: *id, data },
            Self::ResponseError { id, error } => Frame::ResponseError {
                id: *id,
                error: *error,
            },
        }
    }
}

impl<P: Payload + ?Sized> Payload for &P {
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        (**self).write::<C>(out)
    }
}
