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
use crate::frame::{Data, ErrorBody, Frame, FrameType, Payload, WriteAs};
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
        let (frame_type, first, second, last) = members(input)?;
        if frame_type == FrameType::Event {
            let kind = checked(first, Member::Kind, MAX_NAME_LEN)?;
            let data = Data::new(last);
            return Ok(Frame::Event { kind, data });
        }
        let id = checked(first, Member::Id, MAX_ID_LEN)?;
        let frame = match frame_type {
            FrameType::Request => {
                checked(second, Member::Endpoint, MAX_NAME_LEN).map(|endpoint| Frame::Request {
                    id,
                    endpoint,
                    data: Data::new(last),
                })
            }
            FrameType::ResponseError => Ok(Frame::ResponseError {
                id,
                // `members` checked that the code is UTF-8.
                error: ErrorBody {
                    reason: Str::new(second),
                    code: Str::new(core::str::from_utf8(last).unwrap_or_default()),
                },
            }),
            FrameType::Response | FrameType::Event => Ok(Frame::Response {
                id,
                data: Data::new(last),
            }),
        };
        frame.map_err(|error| DecodeFailure {
            error,
            id: Some(id),
        })
    }

    fn encode<D: Payload>(frame: &Frame<'_, D>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_frame(&frame.erased::<Self>(), out)
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

/// The frame encoder, compiled once for all payload types.
fn encode_frame(
    frame: &Frame<'_, &dyn WriteAs<PostcardCodec>>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = Out::new(out);

    write_varint(&mut w, u64::from(frame.frame_type().tag()));
    match frame {
        Frame::Event { kind, data } => {
            write_str(&mut w, kind);
            write_bytes(&mut w, *data)?;
        }
        Frame::Request { id, endpoint, data } => {
            write_str(&mut w, id);
            write_str(&mut w, endpoint);
            write_bytes(&mut w, *data)?;
        }
        Frame::Response { id, data } => {
            write_str(&mut w, id);
            write_bytes(&mut w, *data)?;
        }
        Frame::ResponseError { id, error } => {
            write_str(&mut w, id);
            write_str(&mut w, &error.reason);
            write_str(&mut w, &error.code);
        }
    }
    w.finish()
}

/// Reads the members of a frame one after the other with postcard, mapping its errors.
struct Reader<'a> {
    /// The whole frame, to turn `rest` into an offset.
    input: &'a [u8],
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<T: Deserialize<'a>>(&mut self) -> Result<T, DecodeError> {
        let (value, rest) = postcard::take_from_bytes(self.rest).map_err(|error| {
            let at = u32::try_from(self.input.len() - self.rest.len()).unwrap_or(u32::MAX);
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
        })?;
        self.rest = rest;
        Ok(value)
    }

    /// A string: postcard's `&str`, as bytes checked here (one reader for both).
    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.take::<&[u8]>()?;
        core::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)
    }
}

/// A frame's members, read one after the other (less code than one tuple per frame type):
/// its type, its first string, its second string (requests and error answers; else empty),
/// and its last member, which is UTF-8 in an error answer (its code).
fn members(input: &[u8]) -> Result<(FrameType, &str, &str, &[u8]), DecodeError> {
    let mut r = Reader { input, rest: input };
    let tag = r.take::<u32>()?;
    let frame_type = FrameType::ALL
        .into_iter()
        .find(|t| t.tag() == tag)
        .ok_or(DecodeError::UnknownType)?;
    let first = r.text()?;
    let second = match frame_type {
        FrameType::Request | FrameType::ResponseError => r.text()?,
        FrameType::Event | FrameType::Response => "",
    };
    let last = r.take::<&[u8]>()?;
    if frame_type == FrameType::ResponseError {
        core::str::from_utf8(last).map_err(|_| DecodeError::NotUtf8)?;
    }
    if !r.rest.is_empty() {
        return Err(DecodeError::TrailingData);
    }
    Ok((frame_type, first, second, last))
}

fn checked(text: &str, member: Member, max_len: usize) -> Result<Str<'_>, DecodeError> {
    if text.len() > max_len {
        Err(DecodeError::TooLong(member))
    } else {
        Ok(Str::new(text))
    }
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
fn write_bytes(w: &mut Out<'_>, data: &dyn WriteAs<PostcardCodec>) -> Result<(), EncodeError> {
    let start = w.pos();
    w.put_byte(0);
    match data.write_as(w.room()) {
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
                shift_right(region, 1..1 + len, extra);
                if let Some(head) = region.get_mut(..prefix.len()) {
                    head.copy_from_slice(prefix);
                }
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

/// Moves the bytes of `region[range]` `by` bytes to the right (the destination is in
/// `region`).
#[cfg(not(target_os = "none"))]
fn shift_right(region: &mut [u8], range: core::ops::Range<usize>, by: usize) {
    let dest = range.start + by;
    if region.get(dest..range.end + by).is_some() {
        region.copy_within(range, dest);
    }
}

/// Moves the bytes of `region[range]` `by` bytes to the right (the destination is in
/// `region`), from the end in pieces of at most `by` bytes, which never overlap their
/// destination. On bare-metal targets this avoids linking `memmove` (about 1.5 KiB of
/// code on Cortex-M); `by` is the growth of a length varint, 1 or 2 for any message up
/// to 2 MiB, and the payload behind it is short on such targets.
#[cfg(any(target_os = "none", test))]
fn shift_right_in_pieces(region: &mut [u8], range: core::ops::Range<usize>, by: usize) {
    let mut end = range.end;
    while end > range.start && by > 0 {
        let start = end.saturating_sub(by).max(range.start);
        let (src, dst) = region.split_at_mut(end.min(region.len()));
        let (Some(piece), Some(to)) = (src.get(start..), dst.get_mut(start + by - end..)) else {
            return;
        };
        if let Some(to) = to.get_mut(..piece.len()) {
            to.copy_from_slice(piece);
        }
        end = start;
    }
}

#[cfg(target_os = "none")]
use shift_right_in_pieces as shift_right;

#[cfg(test)]
mod tests {
    #[test]
    fn shifting_in_pieces_is_copy_within() {
        for len in 0..40 {
            for by in 1..12 {
                for start in 0..3 {
                    let mut expected: std::vec::Vec<u8> =
                        (0..(start + len + by + 2) as u8).collect();
                    let mut ours = expected.clone();
                    expected.copy_within(start..start + len, start + by);
                    super::shift_right_in_pieces(&mut ours, start..start + len, by);
                    assert_eq!(ours, expected, "{len} by {by} from {start}");
                }
            }
        }
    }

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
