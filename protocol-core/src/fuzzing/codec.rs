//! The decoders on arbitrary bytes: no panic, consistent limits, and a fixed point when what
//! decodes is encoded again.

use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::codec::{Codec, DecodeError, DecodeFailure, EncodeError, MessageKind};
use crate::frame::{Data, Frame, Payload, Typed};
use crate::limits::{MAX_ID_LEN, MAX_NAME_LEN};
use crate::text::Str;
use crate::{JsonCodec, PostcardCodec};

/// Any bytes through [`JsonCodec`]: decoding never panics, `decode_limited` agrees with
/// `decode`, every string of a decoded frame unescapes consistently, and
/// `enc(dec(enc(dec(x)))) == enc(dec(x))` with equal fields. The re-encoded bytes are JSON
/// for `serde_json` too.
pub fn decode_json(data: &[u8]) {
    decoder::<JsonCodec>(data);
}

/// Any bytes through [`PostcardCodec`], with the checks of [`decode_json`].
pub fn decode_postcard(data: &[u8]) {
    decoder::<PostcardCodec>(data);
}

fn decoder<C: Codec>(input: &[u8]) {
    let result = C::decode(input);
    limited_agrees::<C>(input, &result);
    match result {
        Ok(frame) => {
            check_frame(&frame);
            fixed_point::<C>(&frame, input);
            typed_data::<C>(&frame);
        }
        Err(failure) => {
            if let Some(id) = failure.id {
                assert!(id.len() <= MAX_ID_LEN, "usable id over the limit: {id:?}");
                check_str(id);
            }
            assert!(!format!("{}", failure.error).is_empty());
        }
    }
}

/// `decode_limited` is `decode` within the limit, and `FrameTooLarge` with the same usable id
/// beyond it.
fn limited_agrees<C: Codec>(input: &[u8], result: &Result<Frame<'_>, DecodeFailure<'_>>) {
    assert_eq!(&C::decode_limited(input, input.len()), result);
    let Some(max) = input.len().checked_sub(1) else {
        return;
    };
    let failure = C::decode_limited(input, max).expect_err("over the limit must fail");
    assert_eq!(
        failure.error,
        DecodeError::FrameTooLarge {
            len: u32::try_from(input.len()).unwrap_or(u32::MAX),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        }
    );
    let expected = match result {
        Ok(frame) => match expected_usable_id(C::MESSAGE_KIND, input, frame) {
            Some(id) => id,
            None => return, // serde_json cannot read it: no independent answer.
        },
        Err(failure) => failure.id.map(|id| id.chars().collect()),
    };
    let got: Option<String> = failure.id.map(|id| id.chars().collect());
    assert_eq!(got, expected, "FrameTooLarge keeps the usable id");
    assert_eq!(
        C::usable_id(input).map(|id| id.chars().collect::<String>()),
        expected,
        "usable_id"
    );
}

/// The usable id (`docs/spec.md` §3.3) of `input`, which decoded to `frame`, found without
/// our decoder's help where [`Frame`] keeps none: a JSON `event`'s top-level `id` as
/// `serde_json` reads it (a string of at most [`MAX_ID_LEN`] bytes); a postcard event has no
/// id member. `None` when `serde_json` cannot read what we accepted (nesting beyond its
/// depth limit), so there is no independent answer.
pub(super) fn expected_usable_id(
    kind: MessageKind,
    input: &[u8],
    frame: &Frame<'_>,
) -> Option<Option<String>> {
    /// The top level, every member but `id` skipped unread (numbers out of `f64`'s range
    /// included).
    #[derive(Deserialize)]
    struct TopLevel<'a> {
        #[serde(borrow)]
        id: Option<&'a serde_json::value::RawValue>,
    }
    if !matches!(frame, Frame::Event { .. }) || kind == MessageKind::Binary {
        return Some(frame.id().map(|id| id.chars().collect()));
    }
    let top: TopLevel<'_> = serde_json::from_slice(input).ok()?;
    let id = top
        .id
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    Some(id.filter(|id| id.len() <= MAX_ID_LEN))
}

fn check_frame(frame: &Frame<'_>) {
    match *frame {
        Frame::Event { kind, .. } => {
            assert!(kind.len() <= MAX_NAME_LEN);
            check_str(kind);
        }
        Frame::Request { id, endpoint, .. } => {
            assert!(id.len() <= MAX_ID_LEN && endpoint.len() <= MAX_NAME_LEN);
            check_str(id);
            check_str(endpoint);
        }
        Frame::Response { id, .. } => {
            assert!(id.len() <= MAX_ID_LEN);
            check_str(id);
        }
        Frame::ResponseError { id, error } => {
            assert!(id.len() <= MAX_ID_LEN);
            check_str(id);
            check_str(error.reason);
            check_str(error.code);
        }
    }
}

/// Every view of a [`Str`] agrees with its unescaped characters.
pub(super) fn check_str(s: Str<'_>) {
    let text: String = s.chars().collect();
    assert_eq!(s.len(), text.len(), "len of {:?}", s.raw());
    assert_eq!(s.is_empty(), text.is_empty());
    assert_eq!(s.to_string(), text, "Display of {:?}", s.raw());
    assert!(s == text.as_str() && s == Str::new(&text) && Str::new(&text) == s);
    assert_eq!(s.as_plain().is_some(), !s.is_escaped());
    if let Some(plain) = s.as_plain() {
        assert_eq!(plain, text);
    }
    let mut exact = vec![0u8; text.len()];
    assert_eq!(s.unescape_into(&mut exact), Some(text.as_str()));
    if let Some(short) = text.len().checked_sub(1) {
        assert_eq!(s.unescape_into(&mut vec![0u8; short]), None);
    }
    let small = s.to_heapless::<MAX_ID_LEN>();
    assert_eq!(
        small.as_deref(),
        (text.len() <= MAX_ID_LEN).then_some(text.as_str())
    );
    assert!(!format!("{s:?}").is_empty());
}

/// Encodes into a buffer of exactly the size `encode` asks for, checking that contract.
pub(super) fn encode<C: Codec, D: Payload>(frame: &Frame<'_, D>) -> Vec<u8> {
    let mut out = vec![0u8; 8];
    match C::encode(frame, &mut out) {
        Ok(len) => out.truncate(len),
        Err(EncodeError::BufferTooSmall {
            required: Some(len),
        }) => {
            assert!(len > 8, "asked for {len} bytes after failing with 8");
            out = vec![0u8; len];
            assert_eq!(C::encode(frame, &mut out), Ok(len), "the size it asked for");
        }
        Err(EncodeError::BufferTooSmall { required: None }) => {
            out = vec![0u8; 1 << 16];
            let len = C::encode(frame, &mut out).expect("fits in 64 KiB");
            out.truncate(len);
        }
        Err(error) => panic!("cannot encode a decoded frame: {error:?}"),
    }
    out
}

fn fixed_point<C: Codec>(frame: &Frame<'_>, input: &[u8]) {
    let first = encode::<C, _>(frame);
    let again =
        C::decode(&first).unwrap_or_else(|e| panic!("re-encoded frame refused: {e:?} {first:?}"));
    assert_eq!(&again, frame, "fields change through a round trip");
    let second = encode::<C, _>(&again);
    assert_eq!(first, second, "no fixed point");
    if C::MESSAGE_KIND == MessageKind::Text {
        let json = serde_json::from_slice::<&serde_json::value::RawValue>(&first);
        assert!(
            json.is_ok(),
            "serde_json refuses our output {first:?}: {json:?}"
        );
    }
    // One byte short anywhere: a clean error naming the exact size.
    let cut = usize::from(input.first().copied().unwrap_or(0)) * first.len() / 256;
    for short in [0, cut, first.len() - 1] {
        assert_eq!(
            C::encode(frame, &mut vec![0u8; short]),
            Err(EncodeError::BufferTooSmall {
                required: Some(first.len())
            }),
            "encode into {short} bytes"
        );
    }
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
struct Move {
    x: i32,
    y: i32,
}

/// Typed decoding of `data` never panics, and what decodes survives a typed round trip.
fn typed_data<C: Codec>(frame: &Frame<'_>) {
    let data = match *frame {
        Frame::Event { data, .. } | Frame::Request { data, .. } | Frame::Response { data, .. } => {
            data
        }
        Frame::ResponseError { .. } => return,
    };
    if let Ok(body) = C::decode_error_body(data) {
        check_str(body.reason);
        check_str(body.code);
    }
    typed_round_trip::<C, String>(data);
    typed_round_trip::<C, i64>(data);
    typed_round_trip::<C, Move>(data);
    typed_round_trip::<C, (bool, Option<u8>)>(data);
    if let Ok(value) = C::decode_value::<f64>(data)
        && value.is_finite()
    {
        let bytes = encode_value::<C, _>(&value);
        assert_eq!(C::decode_value::<f64>(Data::new(&bytes)), Ok(value));
    }
    let _ = C::decode_value::<&str>(data);
}

fn typed_round_trip<C: Codec, T>(data: Data<'_>)
where
    T: for<'de> Deserialize<'de> + Serialize + PartialEq + core::fmt::Debug,
{
    let Ok(value) = C::decode_value::<T>(data) else {
        return;
    };
    let bytes = encode_value::<C, T>(&value);
    assert_eq!(
        C::decode_value::<T>(Data::new(&bytes)),
        Ok(value),
        "typed round trip through {bytes:?}"
    );
}

fn encode_value<C: Codec, T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = vec![0u8; 1024];
    let len = Typed(value)
        .write::<C>(&mut out)
        .expect("a decoded value encodes");
    out.truncate(len);
    out
}
