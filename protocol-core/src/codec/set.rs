//! The codecs a connection may speak, chosen at the handshake.
//!
//! A single [`Codec`] is a set of one, so firmware that names `PostcardCodec` links no JSON
//! code. [`AnyCodec`] holds both and picks at run time from the negotiated subprotocol.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, DecodeFailure, EncodeError, MessageKind, ValueError};
use crate::frame::{Data, ErrorBody, Frame, Payload};
use crate::text::Str;

/// A set of codecs, one of which a connection uses once the handshake has chosen it.
pub trait CodecSet: Copy + Eq + fmt::Debug {
    /// The subprotocol names of the set, in order of preference.
    const SUBPROTOCOLS: &'static [&'static str];

    /// The codec named by a subprotocol, if it is in the set.
    fn from_subprotocol(name: &str) -> Option<Self>;
    /// The codec used when the client offers no subprotocol (JSON when the set has it).
    fn without_subprotocol() -> Self;
    /// This codec's subprotocol name.
    fn subprotocol(self) -> &'static str;
    /// The WebSocket message type of this codec's frames.
    fn message_kind(self) -> MessageKind;
    /// [`Codec::decode_limited`] with this codec.
    ///
    /// # Errors
    /// As [`Codec::decode_limited`].
    fn decode(self, input: &[u8], max_len: usize) -> Result<Frame<'_>, DecodeFailure<'_>>;
    /// [`Codec::usable_id`] with this codec.
    fn usable_id(self, input: &[u8]) -> Option<Str<'_>>;
    /// [`Codec::encode`] with this codec.
    ///
    /// # Errors
    /// As [`Codec::encode`].
    fn encode<D: Payload>(self, frame: &Frame<'_, D>, out: &mut [u8])
    -> Result<usize, EncodeError>;
    /// [`Codec::decode_value`] with this codec.
    ///
    /// # Errors
    /// As [`Codec::decode_value`].
    fn decode_value<'de, T: Deserialize<'de>>(self, data: Data<'de>) -> Result<T, ValueError>;
    /// [`Codec::encode_value`] with this codec.
    ///
    /// # Errors
    /// As [`Codec::encode_value`].
    fn encode_value<T: Serialize + ?Sized>(
        self,
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError>;
    /// [`Codec::decode_error_body`] with this codec.
    ///
    /// # Errors
    /// As [`Codec::decode_error_body`].
    fn decode_error_body(self, data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError>;
}

impl<C: Codec + Copy + Eq + fmt::Debug + Default> CodecSet for C {
    const SUBPROTOCOLS: &'static [&'static str] = &[C::SUBPROTOCOL];

    fn from_subprotocol(name: &str) -> Option<Self> {
        (name == C::SUBPROTOCOL).then(C::default)
    }
    fn without_subprotocol() -> Self {
        C::default()
    }
    fn subprotocol(self) -> &'static str {
        C::SUBPROTOCOL
    }
    fn message_kind(self) -> MessageKind {
        C::MESSAGE_KIND
    }
    fn decode(self, input: &[u8], max_len: usize) -> Result<Frame<'_>, DecodeFailure<'_>> {
        <C as Codec>::decode_limited(input, max_len)
    }
    fn usable_id(self, input: &[u8]) -> Option<Str<'_>> {
        <C as Codec>::usable_id(input)
    }
    fn encode<D: Payload>(
        self,
        frame: &Frame<'_, D>,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        <C as Codec>::encode(frame, out)
    }
    fn decode_value<'de, T: Deserialize<'de>>(self, data: Data<'de>) -> Result<T, ValueError> {
        <C as Codec>::decode_value(data)
    }
    fn decode_error_body(self, data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError> {
        <C as Codec>::decode_error_body(data)
    }
    fn encode_value<T: Serialize + ?Sized>(
        self,
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        <C as Codec>::encode_value(value, out)
    }
}

/// JSON or postcard, chosen at the handshake (needs both features).
#[cfg(all(feature = "json", feature = "postcard"))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(clippy::exhaustive_enums)]
pub enum AnyCodec {
    /// [`JsonCodec`](crate::JsonCodec): text messages.
    #[default]
    Json,
    /// [`PostcardCodec`](crate::PostcardCodec): binary messages.
    Postcard,
}

#[cfg(all(feature = "json", feature = "postcard"))]
macro_rules! dispatch {
    ($self:expr, $codec:ident => $body:expr) => {
        match $self {
            AnyCodec::Json => {
                type $codec = crate::JsonCodec;
                $body
            }
            AnyCodec::Postcard => {
                type $codec = crate::PostcardCodec;
                $body
            }
        }
    };
}

#[cfg(all(feature = "json", feature = "postcard"))]
impl CodecSet for AnyCodec {
    const SUBPROTOCOLS: &'static [&'static str] = &[
        <crate::JsonCodec as Codec>::SUBPROTOCOL,
        <crate::PostcardCodec as Codec>::SUBPROTOCOL,
    ];

    fn from_subprotocol(name: &str) -> Option<Self> {
        [Self::Json, Self::Postcard]
            .into_iter()
            .find(|c| c.subprotocol() == name)
    }
    fn without_subprotocol() -> Self {
        Self::Json
    }
    fn subprotocol(self) -> &'static str {
        dispatch!(self, C => <C as Codec>::SUBPROTOCOL)
    }
    fn message_kind(self) -> MessageKind {
        dispatch!(self, C => <C as Codec>::MESSAGE_KIND)
    }
    fn decode(self, input: &[u8], max_len: usize) -> Result<Frame<'_>, DecodeFailure<'_>> {
        dispatch!(self, C => <C as Codec>::decode_limited(input, max_len))
    }
    fn usable_id(self, input: &[u8]) -> Option<Str<'_>> {
        dispatch!(self, C => <C as Codec>::usable_id(input))
    }
    fn encode<D: Payload>(
        self,
        frame: &Frame<'_, D>,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        dispatch!(self, C => <C as Codec>::encode(frame, out))
    }
    fn decode_value<'de, T: Deserialize<'de>>(self, data: Data<'de>) -> Result<T, ValueError> {
        dispatch!(self, C => <C as Codec>::decode_value(data))
    }
    fn decode_error_body(self, data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError> {
        dispatch!(self, C => <C as Codec>::decode_error_body(data))
    }
    fn encode_value<T: Serialize + ?Sized>(
        self,
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        dispatch!(self, C => <C as Codec>::encode_value(value, out))
    }
}

/// The outcome of subprotocol negotiation on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiated<W> {
    /// The codec to accept with.
    pub codec: W,
    /// The `Sec-WebSocket-Protocol` to answer with: `None` when the client offered none.
    pub subprotocol: Option<&'static str>,
}

/// The client offered subprotocols, none of them ours: answer the handshake with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoCommonSubprotocol;

impl fmt::Display for NoCommonSubprotocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("none of the offered subprotocols is supported")
    }
}

impl core::error::Error for NoCommonSubprotocol {}

/// Picks the codec from the client's `Sec-WebSocket-Protocol` header value(s)
/// (comma-separated; several headers may be joined with commas): the first offered name in
/// the set wins; no offer at all means [`CodecSet::without_subprotocol`] and no header in the
/// answer (browsers and tungstenite refuse an answer naming a protocol they did not offer).
///
/// # Errors
/// [`NoCommonSubprotocol`] when names were offered but none is in the set.
pub fn negotiate<W: CodecSet>(offered: Option<&str>) -> Result<Negotiated<W>, NoCommonSubprotocol> {
    let mut names = offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .peekable();
    if names.peek().is_none() {
        return Ok(Negotiated {
            codec: W::without_subprotocol(),
            subprotocol: None,
        });
    }
    names
        .find_map(W::from_subprotocol)
        .map(|codec| Negotiated {
            codec,
            subprotocol: Some(codec.subprotocol()),
        })
        .ok_or(NoCommonSubprotocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(feature = "json", feature = "postcard"))]
    #[test]
    fn negotiation() {
        let none = negotiate::<AnyCodec>(None).unwrap();
        assert_eq!(
            none,
            Negotiated {
                codec: AnyCodec::Json,
                subprotocol: None
            }
        );
        assert_eq!(negotiate::<AnyCodec>(Some(" , ")).unwrap(), none);
        let post = negotiate::<AnyCodec>(Some("x, quartet.v1.postcard, quartet.v1.json")).unwrap();
        assert_eq!(
            post,
            Negotiated {
                codec: AnyCodec::Postcard,
                subprotocol: Some("quartet.v1.postcard")
            }
        );
        assert_eq!(
            negotiate::<AnyCodec>(Some("chat, superchat")),
            Err(NoCommonSubprotocol)
        );
        assert_eq!(
            negotiate::<crate::JsonCodec>(Some("quartet.v1.postcard")),
            Err(NoCommonSubprotocol)
        );
        assert_eq!(
            negotiate::<crate::PostcardCodec>(None).unwrap().codec,
            crate::PostcardCodec
        );
    }
}
