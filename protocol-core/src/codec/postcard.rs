//! postcard binary frames.
//!
//! A frame is the postcard encoding of this enum, whose variant index is the wire tag:
//!
//! ```text
//! enum Frame {
//!     Event         { kind: str, data: bytes },           // tag 0
//!     Request       { id: str, endpoint: str, data: bytes }, // tag 1
//!     Response      { id: str, data: bytes },             // tag 2
//!     ResponseError { id: str, reason: str, code: str },  // tag 3
//! }
//! ```
//!
//! `str` and `bytes` are a varint length and the bytes; `data` holds the postcard encoding
//! of the value, so the envelope decodes without knowing the handler's type. Every piece is
//! read with postcard itself, and written with it too except the varints of the envelope,
//! which are written here in postcard's format; trailing bytes are refused.

use serde::{Deserialize, Serialize};

use crate::codec::{
    Codec, DecodeError, DecodeFailure, EncodeError, Member, MessageKind, Out, SyntaxError,
    ValueError,
};
use crate::frame::{Data, ErrorBody, Frame, FrameType, Payload};
use crate::limits::{MAX_ID_LEN, MAX_NAME_LEN};
use crate::text::Str;

/// The postcard codec: binary messages, subprotocol `quartet.v1.postcard`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PostcardCodec;

/// Longest varint postcard writes (a u64).
const MAX_VARINT_LEN: usize = 10;

impl Codec for PostcardCodec {
    const MESSAGE_KIND: MessageKind = MessageKind::Binary;
    const SUBPROTOCOL: &'static str = "quartet.v1.postcard";

    fn decode(input: &[u8]) -> Result<Frame<'_>, DecodeFailure<'_>> {
        let (tag, body) = take::<u32>(input, input)?;
        let frame_type = FrameType::ALL
            .into_iter()
            .find(|t| t.tag() == tag)
            .ok_or(DecodeError::UnknownType)?;
        match frame_type {
            FrameType::Event => {
                let (kind, data): (&str, &[u8]) = take_all(input, body)?;
                let kind = checked(kind, Member::Kind, MAX_NAME_LEN)?;
                Ok(Frame::Event {
                    kind,
                    data: Data::new(data),
                })
            }
            FrameType::Request => {
                let (id, endpoint, data): (&str, &str, &[u8]) = take_all(input, body)?;
                with_usable_id(id, |id| {
                    let endpoint = checked(endpoint, Member::Endpoint, MAX_NAME_LEN)?;
                    Ok(Frame::Request {
                        id,
                        endpoint,
                        data: Data::new(data),
                    })
                })
            }
            FrameType::Response => {
                let (id, data): (&str, &[u8]) = take_all(input, body)?;
                with_usable_id(id, |id| {
                    Ok(Frame::Response {
                        id,
                        data: Data::new(data),
                    })
                })
            }
            FrameType::ResponseError => {
                let (id, reason, code): (&str, &str, &str) = take_all(input, body)?;
                with_usable_id(id, |id| {
                    let error = ErrorBody {
                        reason: Str::new(reason),
                        code: Str::new(code),
                    };
                    Ok(Frame::ResponseError { id, error })
                })
            }
        }
    }

    fn encode<D: Payload>(frame: &Frame<'_, D>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Out::new(out);
        write_varint(&mut w, u64::from(frame.frame_type().tag()));
        match frame {
            Frame::Event { kind, data } => {
                write_str(&mut w, kind);
                write_bytes(&mut w, data)?;
            }
            Frame::Request { id, endpoint, data } => {
                write_str(&mut w, id);
                write_str(&mut w, endpoint);
                write_bytes(&mut w, data)?;
            }
            Frame::Response { id, data } => {
                write_str(&mut w, id);
                write_bytes(&mut w, data)?;
            }
            Frame::ResponseError { id, error } => {
                write_str(&mut w, id);
                write_str(&mut w, &error.reason);
                write_str(&mut w, &error.code);
            }
        }
        w.finish()
    }

    fn encode_value<T: Serialize + ?Sized>(
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        match postcard::to_slice(value, out) {
            Ok(used) => Ok(used.len()),
            Err(postcard::Error::SerializeBufferFull) => {
                Err(EncodeError::BufferTooSmall { required: None })
            }
            Err(_) => Err(EncodeError::Value),
        }
    }

    fn encode_error_body(body: &ErrorBody<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Out::new(out);
        write_str(&mut w, &body.reason);
        write_str(&mut w, &body.code);
        w.finish()
    }

    fn decode_error_body(data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError> {
        match postcard::take_from_bytes::<(&str, &str)>(data.as_bytes()) {
            Ok(((reason, code), [])) => Ok(ErrorBody {
                reason: Str::new(reason),
                code: Str::new(code),
            }),
            _ => Err(DecodeError::InvalidErrorBody),
        }
    }

    fn decode_value_with<'de, T: Deserialize<'de>>(
        data: Data<'de>,
        _scratch: &mut [u8],
    ) -> Result<T, ValueError> {
        match postcard::take_from_bytes(data.as_bytes()) {
            Ok((value, [])) => Ok(value),
            Ok(_) => Err(ValueError::TrailingData),
            Err(_) => Err(ValueError::Invalid),
        }
    }
}

/// Reads a `T` from `rest` (a suffix of `input`), mapping postcard's errors.
fn take<'a, T: Deserialize<'a>>(
    input: &'a [u8],
    rest: &'a [u8],
) -> Result<(T, &'a [u8]), DecodeError> {
    postcard::take_from_bytes(rest).map_err(|error| {
        let at = u32::try_from(input.len() - rest.len()).unwrap_or(u32::MAX);
        match error {
            postcard::Error::DeserializeBadUtf8 => DecodeError::NotUtf8,
            postcard::Error::DeserializeUnexpectedEnd => DecodeError::Syntax {
                kind: SyntaxError::UnexpectedEnd,
                at,
            },
            _ => DecodeError::Syntax {
                kind: SyntaxError::Malformed,
                at,
            },
        }
    })
}

/// Reads a `T` that must end exactly at the end of the input.
fn take_all<'a, T: Deserialize<'a>>(input: &'a [u8], rest: &'a [u8]) -> Result<T, DecodeError> {
    match take(input, rest)? {
        (value, []) => Ok(value),
        _ => Err(DecodeError::TrailingData),
    }
}

fn checked(text: &str, member: Member, max_len: usize) -> Result<Str<'_>, DecodeError> {
    if text.len() > max_len {
        Err(DecodeError::TooLong(member))
    } else {
        Ok(Str::new(text))
    }
}

/// The frame is complete and well-formed: its id is usable if it is within the limit.
fn with_usable_id<'a>(
    id: &'a str,
    build: impl FnOnce(Str<'a>) -> Result<Frame<'a>, DecodeError>,
) -> Result<Frame<'a>, DecodeFailure<'a>> {
    let id = checked(id, Member::Id, MAX_ID_LEN)?;
    build(id).map_err(|error| DecodeFailure {
        error,
        id: Some(id),
    })
}

/// `value` as postcard writes an unsigned integer (a varint: seven bits a byte, least
/// significant first, the high bit set on every byte but the last), in `buf`; returns the
/// length used.
#[inline]
fn varint(mut value: u64, buf: &mut [u8; MAX_VARINT_LEN]) -> usize {
    let mut len = 0;
    for slot in buf.iter_mut() {
        len += 1;
        if value < 0x80 {
            *slot = value as u8;
            break;
        }
        *slot = (value & 0x7f) as u8 | 0x80;
        value >>= 7;
    }
    len
}

#[inline]
fn write_varint(w: &mut Out<'_>, value: u64) {
    let mut buf = [0u8; MAX_VARINT_LEN];
    let len = varint(value, &mut buf);
    w.put(buf.get(..len).unwrap_or_default());
}

fn varint_len(value: usize) -> usize {
    varint(value as u64, &mut [0; MAX_VARINT_LEN])
}

/// A string as postcard writes `&str`: varint length of the UTF-8, then the bytes.
fn write_str(w: &mut Out<'_>, text: &Str<'_>) {
    if let Some(plain) = text.as_plain() {
        write_varint(w, plain.len() as u64);
        w.put(plain.as_bytes());
        return;
    }
    write_varint(w, text.len() as u64);
    for segment in text.segments() {
        w.put(segment.as_bytes(&mut [0; 4]));
    }
}

/// A payload as postcard writes `&[u8]`: varint length, then the bytes. The length is only
/// known once the payload is written, so it is written after a one-byte placeholder and
/// moved right when its length needs a longer varint.
fn write_bytes<D: Payload>(w: &mut Out<'_>, data: &D) -> Result<(), EncodeError> {
    let start = w.pos();
    w.put_byte(0);
    match data.write::<PostcardCodec>(w.room()) {
        // The payload fitted after the placeholder, and its length is a one-byte varint: it
        // takes the placeholder's place.
        Ok(len @ ..0x80) => {
            if let Some([placeholder]) = w.written_mut(start, start + 1) {
                *placeholder = len as u8;
            }
            w.advance(Ok(len))
        }
        Ok(len) => {
            let mut prefix = [0u8; MAX_VARINT_LEN];
            let prefix_len = varint(len as u64, &mut prefix);
            let prefix = prefix.get(..prefix_len).unwrap_or_default();
            let extra = prefix.len() - 1;
            let end = start + prefix.len() + len;
            // When it does not fit, nothing moves and `advance` reports the size needed.
            if let Some(region) = w.written_mut(start, end) {
                region.copy_within(1..1 + len, prefix.len());
                region[..prefix.len()].copy_from_slice(prefix);
            }
            w.advance(Ok(len + extra))
        }
        Err(EncodeError::BufferTooSmall {
            required: Some(len),
        }) => w.advance(Err(EncodeError::BufferTooSmall {
            required: Some(len + varint_len(len) - 1),
        })),
        Err(other) => w.advance(Err(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_payload_moves_behind_a_longer_varint() {
        let payload = [7u8; 300];
        let frame = Frame::Response {
            id: Str::new("r"),
            data: Data::new(&payload),
        };
        let mut buf = [0u8; 400];
        let n = PostcardCodec::encode(&frame, &mut buf).unwrap();
        // tag, id (1 + 1), data length varint (2 bytes for 300), data.
        assert_eq!(n, 1 + 2 + 2 + 300);
        assert_eq!(&buf[..5], &[2, 1, b'r', 0xac, 0x02]);
        assert_eq!(PostcardCodec::decode(&buf[..n]).unwrap(), frame);
        // Exactly enough room, and one byte less.
        assert_eq!(PostcardCodec::encode(&frame, &mut buf[..305]), Ok(305));
        assert_eq!(
            PostcardCodec::encode(&frame, &mut buf[..304]),
            Err(EncodeError::BufferTooSmall {
                required: Some(305)
            })
        );
    }

    #[test]
    fn varints_are_postcards() {
        let mut values = std::vec![
            0,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            u64::from(u32::MAX),
            u64::MAX
        ];
        for shift in 0..64 {
            let p = 1u64 << shift;
            values.extend([p - 1, p, p + 1]);
        }
        for value in values {
            let mut ours = [0u8; MAX_VARINT_LEN];
            let len = varint(value, &mut ours);
            let mut theirs = [0u8; MAX_VARINT_LEN];
            let theirs = postcard::to_slice(&value, &mut theirs).unwrap();
            assert_eq!(&ours[..len], &*theirs, "{value}");
            if let Ok(small) = usize::try_from(value) {
                assert_eq!(varint_len(small), len);
            }
        }
    }

    #[test]
    fn payload_lengths_around_one_byte_varints() {
        for len in [0, 1, 126, 127, 128, 129, 300] {
            let payload = std::vec![9u8; len];
            let frame = Frame::Response {
                id: Str::new("r"),
                data: Data::new(&payload),
            };
            let expected = {
                let mut buf = [0u8; 512];
                let n = postcard::to_slice(&(2u32, "r", &payload[..]), &mut buf)
                    .unwrap()
                    .len();
                buf[..n].to_vec()
            };
            for size in 0..expected.len() + 2 {
                let mut buf = std::vec![0u8; size];
                match PostcardCodec::encode(&frame, &mut buf) {
                    Ok(n) => assert_eq!(&buf[..n], &expected[..], "{len} in {size}"),
                    Err(error) => {
                        assert!(size < expected.len(), "{len} in {size}");
                        assert_eq!(
                            error,
                            EncodeError::BufferTooSmall {
                                required: Some(expected.len())
                            }
                        );
                    }
                }
            }
        }
    }
}
