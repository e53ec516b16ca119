//! JSON text frames, the seed library's wire format.
//!
//! Decoding walks the top-level object once with our own scanner ([`scan`]): `id`, `type`,
//! `endpoint` and `kind` come back as [`Str`]s borrowed from the input, `data` as its raw
//! text, so numbers and escapes inside it are echoed byte for byte. Encoding is compact, in
//! the seed's member order, with the seed's escaping ([`escape`]).
//!
//! Input rules: strict RFC 8259 (no `NaN` / `Infinity`), any JSON whitespace, UTF-8
//! validated, escapes validated (surrogate pairs joined, lone surrogates refused), unknown
//! members ignored, a duplicated member: the last one wins.

mod de;
mod escape;
mod scan;
mod ser;

use serde::{Deserialize, Serialize};

use self::scan::Scanner;
use crate::codec::{
    Codec, DecodeError, DecodeFailure, EncodeError, Member, MessageKind, Out, SyntaxError,
    ValueError,
};
use crate::frame::{Data, ErrorBody, Frame, FrameType, Payload, WriteAs};
use crate::limits::{MAX_ID_LEN, MAX_NAME_LEN};
use crate::text::Str;

/// The JSON codec: text messages, subprotocol `quartet.v1.json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JsonCodec;

impl Codec for JsonCodec {
    const MESSAGE_KIND: MessageKind = MessageKind::Text;
    const SUBPROTOCOL: &'static str = "quartet.v1.json";

    // Out of line on firmware: inlined into the server's one call it comes out larger.
    #[cfg_attr(target_os = "none", inline(never))]
    fn decode(input: &[u8]) -> Result<Frame<'_>, DecodeFailure<'_>> {
        // Filled in place: the envelope is not moved around (less code on firmware).
        let mut envelope = Envelope::default();
        match envelope.scan(input) {
            Ok(()) => envelope.to_frame(),
            Err(error) => Err(not_utf8_first(input, error).into()),
        }
    }

    /// The top-level `id` of any well-formed frame, an `event`'s included (its [`Frame`] has
    /// no id).
    fn usable_id(input: &[u8]) -> Option<Str<'_>> {
        let mut envelope = Envelope::default();
        envelope.scan(input).ok()?;
        envelope.id.require(Member::Id, MAX_ID_LEN).ok()
    }

    fn encode<D: Payload>(frame: &Frame<'_, D>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_frame(&frame.erased::<Self>(), out)
    }

    fn encode_value<T: Serialize + ?Sized>(
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        ser::to_slice(value, out)
    }

    fn encode_error_body(body: &ErrorBody<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Out::new(out);
        write_error_body(&mut w, body);
        w.finish()
    }

    fn decode_error_body(data: Data<'_>) -> Result<ErrorBody<'_>, DecodeError> {
        core::str::from_utf8(data.as_bytes()).map_err(|_| DecodeError::NotUtf8)?;
        error_body(data.as_bytes()).ok_or(DecodeError::InvalidErrorBody)
    }

    fn decode_value_with<'de, T: Deserialize<'de>>(
        data: Data<'de>,
        scratch: &mut [u8],
    ) -> Result<T, ValueError> {
        de::from_slice(data.as_bytes(), scratch)
    }
}

/// The frame encoder, compiled once for all payload types.
fn encode_frame(
    frame: &Frame<'_, &dyn WriteAs<JsonCodec>>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = Out::new(out);

    match frame {
        Frame::Event { kind, data } => {
            w.put(br#"{"type":"event","kind":"#);
            escape::write_json_str(&mut w, kind);
            w.put(br#","data":"#);
            write_payload(&mut w, *data)?;
        }
        Frame::Request { id, endpoint, data } => {
            w.put(br#"{"id":"#);
            escape::write_json_str(&mut w, id);
            w.put(br#","type":"request","endpoint":"#);
            escape::write_json_str(&mut w, endpoint);
            w.put(br#","data":"#);
            write_payload(&mut w, *data)?;
        }
        Frame::Response { id, data } => {
            w.put(br#"{"id":"#);
            escape::write_json_str(&mut w, id);
            w.put(br#","type":"response","data":"#);
            write_payload(&mut w, *data)?;
        }
        Frame::ResponseError { id, error } => {
            w.put(br#"{"id":"#);
            escape::write_json_str(&mut w, id);
            w.put(br#","type":"response.error","data":"#);
            write_error_body(&mut w, error);
        }
    }
    w.put_byte(b'}');
    w.finish()
}

/// The scanner checks UTF-8 only in what it reads. When it stops early on another error, a
/// message that is not UTF-8 is still refused as [`DecodeError::NotUtf8`], as if the whole
/// message had been checked first. (A message the scanner reads to its end is UTF-8.)
#[cold]
fn not_utf8_first(input: &[u8], error: DecodeError) -> DecodeError {
    if error != DecodeError::NotUtf8 && core::str::from_utf8(input).is_err() {
        DecodeError::NotUtf8
    } else {
        error
    }
}

/// A string body as the scanner returns it (valid UTF-8, escapes intact) as a [`Str`].
fn json_str(body: &[u8], escaped: bool) -> Result<Str<'_>, DecodeError> {
    match core::str::from_utf8(body) {
        Ok(text) => Ok(Str::from_json(text, escaped)),
        Err(_) => Err(DecodeError::NotUtf8),
    }
}

/// Longest name the envelope matches (`response.error`), rounded up.
const NAME_BUF: usize = 16;

/// Which of `names` a key or `type` value (as the scanner returns it) is, once unescaped:
/// its index. One table-driven lookup for the envelope's members, its frame types and the
/// error body's members.
#[inline(never)]
fn which(body: &[u8], escaped: bool, names: &[&str]) -> Option<usize> {
    let mut buf = [0; NAME_BUF];
    let name = if escaped {
        // Rare: unescape into `buf`. Longer than every name we look for: none of them.
        let raw = core::str::from_utf8(body).ok()?;
        Str::from_json(raw, true)
            .unescape_into(&mut buf)?
            .as_bytes()
    } else {
        body
    };
    names.iter().position(|n| n.as_bytes() == name)
}

/// Whether a key as the scanner returns it is `name` once unescaped.
fn key_is(body: &[u8], escaped: bool, name: &str) -> bool {
    if escaped {
        json_str(body, true).is_ok_and(|key| key == name)
    } else {
        body == name.as_bytes()
    }
}

fn write_payload(w: &mut Out<'_>, data: &dyn WriteAs<JsonCodec>) -> Result<(), EncodeError> {
    let written = data.write_as(w.room());
    w.advance(written)
}

fn write_error_body(w: &mut Out<'_>, body: &ErrorBody<'_>) {
    w.put(br#"{"reason":"#);
    escape::write_json_str(w, &body.reason);
    w.put(br#","code":"#);
    escape::write_json_str(w, &body.code);
    w.put_byte(b'}');
}

/// A string-valued member as found by the discriminator walk.
#[derive(Clone, Copy, Default)]
pub(crate) enum Field<'a> {
    #[default]
    Missing,
    NotString,
    Str(Str<'a>),
}

/// What a string-valued envelope member was found to be.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Found {
    #[default]
    Missing,
    NotString,
    /// A string without escapes.
    Plain,
    /// A string with escapes.
    Escaped,
}

/// A string-valued envelope member as found. A string's body is kept as the scanner returns
/// it (valid UTF-8, escapes intact) until the frame needs it. Plain data rather than an enum
/// around a [`Str`]: the envelope is written at every member and read back at the end, and
/// this shape is cheap to move.
#[derive(Clone, Copy, Default)]
struct RawField<'a> {
    found: Found,
    body: &'a [u8],
}

impl<'a> RawField<'a> {
    /// Reads a member value that should be a string.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn read(s: &mut Scanner<'a>) -> Result<Self, DecodeError> {
        if s.peek() == Some(b'"') {
            let (body, escaped) = s.string()?;
            let found = if escaped {
                Found::Escaped
            } else {
                Found::Plain
            };
            Ok(Self { found, body })
        } else {
            s.value(1)?;
            Ok(Self {
                found: Found::NotString,
                body: &[],
            })
        }
    }

    /// The string, when the member is one.
    fn string(self) -> Option<Result<Str<'a>, DecodeError>> {
        match self.found {
            Found::Missing | Found::NotString => None,
            Found::Plain => Some(json_str(self.body, false)),
            Found::Escaped => Some(json_str(self.body, true)),
        }
    }

    fn require(self, member: Member, max_len: usize) -> Result<Str<'a>, DecodeError> {
        match self.found {
            Found::Missing => Err(DecodeError::MissingMember(member)),
            Found::NotString => Err(DecodeError::NotAString(member)),
            Found::Plain | Found::Escaped => {
                match json_str(self.body, self.found == Found::Escaped)? {
                    s if s.len() > max_len => Err(DecodeError::TooLong(member)),
                    s => Ok(s),
                }
            }
        }
    }
}

/// The frame type a `type` member names.
fn frame_type(body: &[u8], escaped: bool) -> Option<FrameType> {
    if cfg!(not(target_os = "none")) && !escaped {
        return match body {
            b"request" => Some(FrameType::Request),
            b"response" => Some(FrameType::Response),
            b"event" => Some(FrameType::Event),
            b"response.error" => Some(FrameType::ResponseError),
            _ => None,
        };
    }
    const NAMES: [&str; 4] = [
        FrameType::ALL[0].as_str(),
        FrameType::ALL[1].as_str(),
        FrameType::ALL[2].as_str(),
        FrameType::ALL[3].as_str(),
    ];
    FrameType::ALL.get(which(body, escaped, &NAMES)?).copied()
}

/// The members of the top-level object that the envelope uses.
#[derive(Default)]
struct Envelope<'a> {
    id: RawField<'a>,
    frame_type: RawField<'a>,
    endpoint: RawField<'a>,
    kind: RawField<'a>,
    data: Option<&'a [u8]>,
}

#[derive(Clone, Copy)]
enum Key {
    Id,
    Type,
    Endpoint,
    Kind,
    Data,
}

impl Key {
    #[inline]
    fn classify(body: &[u8], escaped: bool) -> Option<Self> {
        // Hosted targets: the common case (a plain key) as a match, for speed.
        if cfg!(not(target_os = "none")) && !escaped {
            return match body {
                b"id" => Some(Self::Id),
                b"type" => Some(Self::Type),
                b"endpoint" => Some(Self::Endpoint),
                b"kind" => Some(Self::Kind),
                b"data" => Some(Self::Data),
                _ => None,
            };
        }
        const KEYS: [Key; 5] = [Key::Id, Key::Type, Key::Endpoint, Key::Kind, Key::Data];
        const NAMES: [&str; 5] = ["id", "type", "endpoint", "kind", "data"];
        KEYS.get(which(body, escaped, &NAMES)?).copied()
    }
}

impl<'a> Envelope<'a> {
    /// Reads one complete top-level JSON value. Errors here leave no usable id: the input
    /// is not a well-formed object.
    fn scan(&mut self, input: &'a [u8]) -> Result<(), DecodeError> {
        let mut s = Scanner::new(input);
        s.skip_ws();
        if s.peek() != Some(b'{') {
            // Well-formed JSON that is not an object is `NotAnObject`; anything else is the
            // syntax error that makes it not JSON.
            s.value(0)?;
            s.skip_ws();
            return Err(if s.at_end() {
                DecodeError::NotAnObject
            } else {
                DecodeError::TrailingData
            });
        }
        object(&mut s, &mut |s, key, escaped| {
            let Some(key) = Key::classify(key, escaped) else {
                return s.value(1);
            };
            let field = match key {
                Key::Id => &mut self.id,
                Key::Type => &mut self.frame_type,
                Key::Endpoint => &mut self.endpoint,
                Key::Kind => &mut self.kind,
                Key::Data => {
                    let start = s.mark();
                    s.value(1)?;
                    self.data = Some(s.since(start));
                    return Ok(());
                }
            };
            *field = RawField::read(s)?;
            Ok(())
        })?;
        s.skip_ws();
        if !s.at_end() {
            return Err(DecodeError::TrailingData);
        }
        Ok(())
    }

    fn to_frame(&self) -> Result<Frame<'a>, DecodeFailure<'a>> {
        // The usable id is exactly the id a frame that needs one would accept.
        let id = self.id.require(Member::Id, MAX_ID_LEN);
        let fail = |error| DecodeFailure { error, id: id.ok() };
        let frame_type = match self.frame_type.found {
            Found::Missing => return Err(fail(DecodeError::MissingMember(Member::Type))),
            Found::NotString => return Err(fail(DecodeError::NotAString(Member::Type))),
            Found::Plain => frame_type(self.frame_type.body, false),
            Found::Escaped => frame_type(self.frame_type.body, true),
        };
        let data = || {
            self.data
                .map(Data::new)
                .ok_or(DecodeError::MissingMember(Member::Data))
        };
        let frame = match frame_type {
            Some(FrameType::Request) => (|| {
                let id = id?;
                let endpoint = self.endpoint.require(Member::Endpoint, MAX_NAME_LEN)?;
                Ok(Frame::Request {
                    id,
                    endpoint,
                    data: data()?,
                })
            })(),
            Some(FrameType::Event) => (|| {
                let kind = self.kind.require(Member::Kind, MAX_NAME_LEN)?;
                Ok(Frame::Event {
                    kind,
                    data: data()?,
                })
            })(),
            Some(FrameType::Response) => (|| {
                Ok(Frame::Response {
                    id: id?,
                    data: data()?,
                })
            })(),
            Some(FrameType::ResponseError) => (|| {
                let id = id?;
                let body = data()?;
                let error = error_body(body.as_bytes()).ok_or(DecodeError::InvalidErrorBody)?;
                Ok(Frame::ResponseError { id, error })
            })(),
            None => Err(DecodeError::UnknownType),
        };
        frame.map_err(fail)
    }
}

/// Reads a member value that should be a string.
fn string_field<'a>(s: &mut Scanner<'a>) -> Result<Field<'a>, DecodeError> {
    if s.peek() == Some(b'"') {
        let (body, escaped) = s.string()?;
        Ok(Field::Str(json_str(body, escaped)?))
    } else {
        s.value(1)?;
        Ok(Field::NotString)
    }
}

/// What [`object`] calls for each member: the scanner (at the value), the key's body and
/// whether it is escaped.
#[cfg(target_os = "none")]
type MemberFn<'f, 'a> = dyn FnMut(&mut Scanner<'a>, &'a [u8], bool) -> Result<(), DecodeError> + 'f;

/// Walks the members of the object whose `{` is at the cursor. `member` gets each key (its
/// body and whether it is escaped) and must consume the value that follows it. On bare metal
/// the walker takes its callback as `dyn`: one walker for every caller (flash); elsewhere each
/// caller gets its own, with the callback inlined (speed).
#[cfg(target_os = "none")]
fn object<'a>(s: &mut Scanner<'a>, member: &mut MemberFn<'_, 'a>) -> Result<(), DecodeError> {
    walk_object(s, member)
}

/// See the bare-metal variant above.
#[cfg(not(target_os = "none"))]
fn object<'a>(
    s: &mut Scanner<'a>,
    member: &mut impl FnMut(&mut Scanner<'a>, &'a [u8], bool) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    walk_object(s, member)
}

#[inline(always)]
fn walk_object<'a>(
    s: &mut Scanner<'a>,
    mut member: impl FnMut(&mut Scanner<'a>, &'a [u8], bool) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    s.expect(b'{')?;
    s.skip_ws();
    if s.peek() == Some(b'}') {
        s.expect(b'}')?;
        return Ok(());
    }
    loop {
        if s.peek() != Some(b'"') {
            return Err(s.syntax(SyntaxError::UnexpectedByte));
        }
        let (key, escaped) = s.string()?;
        s.skip_ws();
        s.expect(b':')?;
        s.skip_ws();
        member(s, key, escaped)?;
        s.skip_ws();
        match s.peek() {
            Some(b',') => {
                s.expect(b',')?;
                s.skip_ws();
            }
            Some(b'}') => {
                s.expect(b'}')?;
                return Ok(());
            }
            _ => return Err(s.syntax(SyntaxError::UnexpectedByte)),
        }
    }
}

/// `{"reason": string, "code": string}` (other members ignored, last duplicate wins).
fn error_body(text: &[u8]) -> Option<ErrorBody<'_>> {
    let mut s = Scanner::new(text);
    s.skip_ws();
    if s.peek() != Some(b'{') {
        return None;
    }
    // [reason, code]
    let mut members = [RawField::default(); 2];
    object(&mut s, &mut |s, key, escaped| {
        match which(key, escaped, &["reason", "code"]).and_then(|i| members.get_mut(i)) {
            Some(member) => *member = RawField::read(s)?,
            None => s.value(1)?,
        }
        Ok(())
    })
    .ok()?;
    s.skip_ws();
    let [reason, code] = members;
    match (s.at_end(), reason.string(), code.string()) {
        (true, Some(Ok(reason)), Some(Ok(code))) => Some(ErrorBody { reason, code }),
        _ => None,
    }
}

/// Reads a top-level JSON object, returning the string value of member `field` and the raw
/// text of member `data` (or of the whole object when `data` is `None`). Every other member
/// is validated and skipped; the last duplicate wins.
pub(crate) fn discriminate<'a>(
    message: &'a [u8],
    field: &str,
    data: Option<&str>,
) -> Result<(Field<'a>, Option<&'a str>), DecodeError> {
    let text = core::str::from_utf8(message).map_err(|_| DecodeError::NotUtf8)?;
    let mut s = Scanner::new(message);
    s.skip_ws();
    if s.peek() != Some(b'{') {
        s.value(0)?;
        s.skip_ws();
        return Err(if s.at_end() {
            DecodeError::NotAnObject
        } else {
            DecodeError::TrailingData
        });
    }
    let start = s.pos();
    let (mut key, mut member) = (Field::Missing, None);
    object(&mut s, &mut |s, name, escaped| {
        if key_is(name, escaped, field) {
            key = string_field(s)?;
        } else if data.is_some_and(|d| key_is(name, escaped, d)) {
            let at = s.pos();
            s.value(1)?;
            member = Some(text.get(at..s.pos()).unwrap_or_default());
        } else {
            s.value(1)?;
        }
        Ok(())
    })?;
    let whole = text.get(start..s.pos()).unwrap_or_default();
    s.skip_ws();
    if !s.at_end() {
        return Err(DecodeError::TrailingData);
    }
    Ok((key, if data.is_some() { member } else { Some(whole) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner checks UTF-8 only where it reads; the codec still refuses a message with
    /// invalid UTF-8 anywhere as `NotUtf8`, whatever else is wrong with it.
    #[test]
    fn not_utf8_anywhere_wins_over_other_errors() {
        let inputs: [&[u8]; 9] = [
            br#"{"id":"42","type":"request","endpoint":"echo","data":{"msg":"hi","n":[1,2]}}"#,
            br#"{"id":"x","type":"nope","data":1}"#,
            br#"{"id":1}"#,
            br#"{"a":1}}"#,
            b"{bad json",
            b"[1,2] x",
            b"\"str\"",
            b"  ",
            b"",
        ];
        for input in inputs {
            for at in 0..=input.len() {
                for bad in [&b"\xff"[..], b"\xc3", b"\xed\xa0\x80", b"\x80"] {
                    let mut message = input.to_vec();
                    message.splice(at..at, bad.iter().copied());
                    assert_eq!(
                        JsonCodec::decode(&message),
                        Err(DecodeError::NotUtf8.into()),
                        "{message:02x?}"
                    );
                }
            }
        }
    }
}
