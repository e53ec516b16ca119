//! The JSON envelope decoder against `serde_json` on the same bytes.
//!
//! `serde_json` plays the reference for the JSON layer: it finds the members (last duplicate
//! wins, keys unescaped) and hands their values back as raw text (`RawValue`, so numbers out
//! of `f64` range such as `1e400` stay valid, as they are for us). Two gaps in what it checks
//! while it skips a value are closed by walking every value again with `serde_json` itself:
//! strings inside skipped values are not checked for lone surrogates, and skipped values have
//! no depth limit. The envelope rules of the specification (§3.2, §3.3) are then applied to
//! the members, and the outcome must be ours: same accept or reject, same error for a JSON
//! object, same usable id, same `id`, `endpoint`, `kind`, `data` (by its raw text) and error
//! body.
//!
//! The discriminator decoder of [`dispatch`](crate::dispatch) reads the same bytes with two
//! discriminators (`type` with the `data` member, and `id` with the whole object) and must
//! agree with the same reference.

use core::fmt;
use core::marker::PhantomData;
use std::string::String;
use std::vec::Vec;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::JsonCodec;
use crate::codec::{Codec, DecodeError, Member, SyntaxError};
use crate::dispatch::{Discriminated, Discriminator, RouteError, discriminated};
use crate::frame::Frame;
use crate::limits::{MAX_DEPTH, MAX_ID_LEN, MAX_NAME_LEN};
use crate::text::Str;

/// Decodes `data` with [`JsonCodec`] and with `serde_json` plus the specification's envelope
/// rules, and panics when they disagree. Inputs where either side reports a nesting-depth
/// error are skipped (both limit depth near 128, counted differently).
pub fn json_differential(data: &[u8]) {
    let ours = JsonCodec::decode(data);
    if matches!(ours, Err(ref f) if f.error == DecodeError::TooDeep) {
        return;
    }
    let by_type = discriminated(data, &Discriminator::member("type", "data"));
    let by_id = discriminated(data, &Discriminator::whole("id"));
    // Not one JSON object: the dispatcher refuses it for the same reason.
    if let Err(failure) = ours
        && matches!(
            failure.error,
            DecodeError::NotUtf8
                | DecodeError::Syntax { .. }
                | DecodeError::TrailingData
                | DecodeError::NotAnObject
        )
    {
        let invalid = Err(RouteError::Invalid(failure.error));
        assert_eq!(
            (by_type, by_id),
            (invalid, invalid),
            "dispatch on invalid JSON"
        );
    }
    let Ok(text) = core::str::from_utf8(data) else {
        assert_eq!(
            ours.map_err(|f| (f.error, f.id)),
            Err((DecodeError::NotUtf8, None))
        );
        return;
    };
    let reference = match reference(text) {
        Reference::TooDeep => return,
        Reference::NotJson {
            trailing,
            leading_zero,
        } => {
            let failure = ours.expect_err("serde_json refuses it");
            assert_eq!(failure.id, None, "a usable id in an input that is not JSON");
            match failure.error {
                DecodeError::Syntax { .. } => {}
                // `01`: serde_json calls it an invalid number, we a `0` followed by more.
                DecodeError::TrailingData => assert!(trailing || leading_zero, "{text:?}"),
                other => panic!("serde_json refuses it, we say {other:?}"),
            }
            if trailing {
                // serde_json read one whole value first: we fail inside it (a string
                // serde_json skips unchecked) or right after it.
                assert!(matches!(
                    failure.error,
                    DecodeError::TrailingData
                        | DecodeError::Syntax {
                            kind: SyntaxError::LoneSurrogate,
                            ..
                        }
                ));
            }
            return;
        }
        Reference::LoneSurrogate => {
            let failure = ours.expect_err("a lone surrogate escape");
            assert!(
                matches!(
                    failure.error,
                    DecodeError::Syntax {
                        kind: SyntaxError::LoneSurrogate,
                        ..
                    }
                ),
                "{failure:?}"
            );
            assert_eq!(failure.id, None);
            return;
        }
        Reference::NotAnObject => {
            let failure = ours.expect_err("not an object");
            assert_eq!(
                (failure.error, failure.id),
                (DecodeError::NotAnObject, None)
            );
            return;
        }
        Reference::Object(members) => members,
    };
    same_dispatch(by_type, &reference, "type", Some("data"), text);
    same_dispatch(by_id, &reference, "id", None, text);
    let expected = envelope(&reference);
    match (ours, expected) {
        (Ok(frame), Ok(frame_ref)) => {
            same_frame(&frame, &frame_ref);
            if let Frame::Event { data, .. }
            | Frame::Request { data, .. }
            | Frame::Response { data, .. } = frame
            {
                same_typed_data(data);
            }
        }
        (Err(failure), Err((error, usable_id))) => {
            assert_eq!(failure.error, error);
            assert_eq!(failure.id.map(owned), usable_id, "usable id");
        }
        (ours, theirs) => panic!("we decode {ours:?}, the reference {theirs:?}"),
    }
}

/// The dispatcher's reading of a valid object: the last `field` as the key, the last `data`
/// member (or the whole object) as the data.
fn same_dispatch(
    ours: Result<Discriminated<'_>, RouteError>,
    members: &[(String, &RawValue)],
    field_name: &str,
    data_member: Option<&str>,
    text: &str,
) {
    let expected = match field(members, field_name) {
        Field::Missing => Err(RouteError::MissingKey),
        Field::NotString => Err(RouteError::KeyNotString),
        Field::Str(key) => {
            let data = match data_member {
                Some(name) => members
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, raw)| raw.get()),
                None => Some(text.trim_matches([' ', '\n', '\r', '\t'])),
            };
            data.map(|data| (key, data)).ok_or(RouteError::MissingData)
        }
    };
    match (ours, expected) {
        (Ok(got), Ok((key, data))) => {
            assert!(
                got.key == key.as_str(),
                "dispatch key {:?} vs {key:?}",
                got.key
            );
            assert_eq!(got.data.as_str(), Some(data), "dispatch data");
        }
        (Err(error), Err(expected)) => assert_eq!(error, expected, "dispatch error"),
        (ours, expected) => panic!("dispatch gives {ours:?}, the reference {expected:?}"),
    }
}

/// A struct, as the game's requests are.
#[derive(Debug, PartialEq, Deserialize)]
struct Point {
    x: i64,
    y: i64,
    label: Option<String>,
}

/// Unit variants by name, newtype and struct variants as one-member objects.
#[derive(Debug, PartialEq, Deserialize)]
enum Shape {
    Dot,
    Circle(u32),
    Box { w: u16, h: u16 },
}

/// `data` read as typed values by our deserializer and by serde_json: both accept or both
/// refuse, and agree on the value. Floats are left out (serde_json's default parser is not
/// always correctly rounded; ours is core's, which is), and so are strings that do not fit
/// our scratch buffer (serde_json allocates).
fn same_typed_data(data: crate::Data<'_>) {
    /// `structs`: `T` holds structs, which serde_json also reads from arrays and we do not
    /// (the schemas say object): refusing an input with an array is then expected.
    fn check<T>(data: crate::Data<'_>, structs: bool)
    where
        T: for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let ours = JsonCodec::decode_value::<T>(data);
        if ours == Err(crate::codec::ValueError::ScratchTooSmall) {
            return;
        }
        let theirs = serde_json::from_slice::<T>(data.as_bytes());
        match (ours, theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "typed data"),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) if structs && data.as_bytes().contains(&b'[') => {}
            (ours, theirs) => panic!("typed data: ours {ours:?}, serde_json {theirs:?}"),
        }
    }
    check::<i64>(data, false);
    check::<u8>(data, false);
    check::<bool>(data, false);
    check::<String>(data, false);
    check::<Option<i32>>(data, false);
    check::<(u16, bool)>(data, false);
    check::<Vec<i64>>(data, false);
    check::<Point>(data, true);
    check::<Shape>(data, true);
    check::<std::collections::BTreeMap<u32, bool>>(data, false);
    check::<std::collections::BTreeMap<String, Option<i8>>>(data, false);
    check::<serde::de::IgnoredAny>(data, false);
}

fn owned(s: Str<'_>) -> String {
    s.chars().collect()
}

/// What `serde_json` makes of the whole input.
enum Reference<'a> {
    /// Not one JSON value (`trailing`: a whole value followed by more than whitespace;
    /// `leading_zero`: serde_json's name for a number such as `01`).
    NotJson { trailing: bool, leading_zero: bool },
    /// A container nested deeper than [`MAX_DEPTH`] (counting the outermost as 1).
    TooDeep,
    /// A string with a `\uD800`–`\uDFFF` escape that is not half of a pair.
    LoneSurrogate,
    /// Valid JSON that is not an object.
    NotAnObject,
    /// The members of the top-level object, in order.
    Object(Vec<(String, &'a RawValue)>),
}

fn reference(text: &str) -> Reference<'_> {
    let raw = match serde_json::from_str::<&RawValue>(text) {
        Ok(raw) => raw,
        Err(error) => {
            let message = std::format!("{error}");
            if message.contains("recursion limit") {
                return Reference::TooDeep;
            }
            return Reference::NotJson {
                trailing: message.starts_with("trailing characters"),
                leading_zero: message.starts_with("invalid number"),
            };
        }
    };
    match walk(raw, 1) {
        Ok(()) => {}
        Err(Walk::TooDeep) => return Reference::TooDeep,
        Err(Walk::BadString) => return Reference::LoneSurrogate,
    }
    if !raw.get().starts_with('{') {
        return Reference::NotAnObject;
    }
    let members = serde_json::from_str::<Members<'_>>(raw.get()).expect("walked already");
    Reference::Object(members.0)
}

enum Walk {
    TooDeep,
    BadString,
}

/// Checks every string of `raw` (keys included) by parsing it into a `String`, and the
/// depth of every container. `depth` counts `raw` itself if it is a container.
fn walk(raw: &RawValue, depth: usize) -> Result<(), Walk> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') | Some(b'[') if depth > MAX_DEPTH => Err(Walk::TooDeep),
        Some(b'{') => {
            let members = serde_json::from_str::<Members<'_>>(text).map_err(|_| Walk::BadString)?;
            members.0.iter().try_for_each(|(_, v)| walk(v, depth + 1))
        }
        Some(b'[') => {
            let items =
                serde_json::from_str::<Vec<&RawValue>>(text).map_err(|_| Walk::BadString)?;
            items.iter().try_for_each(|v| walk(v, depth + 1))
        }
        Some(b'"') => serde_json::from_str::<String>(text)
            .map(drop)
            .map_err(|_| Walk::BadString),
        _ => Ok(()),
    }
}

/// An object's members in order, duplicates kept, keys unescaped by `serde_json`.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for MembersVisitor<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'a>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'a RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor(PhantomData))
    }
}

/// The frame the specification reads from the members, with owned strings.
#[derive(Debug)]
enum RefFrame<'a> {
    Event {
        kind: String,
        data: &'a str,
    },
    Request {
        id: String,
        endpoint: String,
        data: &'a str,
    },
    Response {
        id: String,
        data: &'a str,
    },
    ResponseError {
        id: String,
        reason: String,
        code: String,
    },
}

/// A member that should be a string: absent, present but not a string, or the string.
enum Field {
    Missing,
    NotString,
    Str(String),
}

fn field(members: &[(String, &RawValue)], name: &str) -> Field {
    match members.iter().rev().find(|(key, _)| key == name) {
        None => Field::Missing,
        Some((_, raw)) => match serde_json::from_str::<String>(raw.get()) {
            Ok(text) => Field::Str(text),
            Err(_) => Field::NotString,
        },
    }
}

fn require(field: Field, member: Member, max: usize) -> Result<String, DecodeError> {
    match field {
        Field::Missing => Err(DecodeError::MissingMember(member)),
        Field::NotString => Err(DecodeError::NotAString(member)),
        Field::Str(text) if text.len() > max => Err(DecodeError::TooLong(member)),
        Field::Str(text) => Ok(text),
    }
}

/// §3.2 and §3.3 applied to the members: the frame, or the error and the usable id.
#[allow(clippy::type_complexity)]
fn envelope<'a>(
    members: &[(String, &'a RawValue)],
) -> Result<RefFrame<'a>, (DecodeError, Option<String>)> {
    let usable_id = match field(members, "id") {
        Field::Str(id) if id.len() <= MAX_ID_LEN => Some(id),
        _ => None,
    };
    let fail = |error| (error, usable_id.clone());
    let data = || {
        members
            .iter()
            .rev()
            .find(|(key, _)| key == "data")
            .map(|(_, raw)| raw.get())
            .ok_or(DecodeError::MissingMember(Member::Data))
    };
    let id = || require(field(members, "id"), Member::Id, MAX_ID_LEN);
    let frame_type = match field(members, "type") {
        Field::Missing => return Err(fail(DecodeError::MissingMember(Member::Type))),
        Field::NotString => return Err(fail(DecodeError::NotAString(Member::Type))),
        Field::Str(t) => t,
    };
    let frame = match frame_type.as_str() {
        "request" => id().and_then(|id| {
            let endpoint = require(field(members, "endpoint"), Member::Endpoint, MAX_NAME_LEN)?;
            Ok(RefFrame::Request {
                id,
                endpoint,
                data: data()?,
            })
        }),
        "event" => require(field(members, "kind"), Member::Kind, MAX_NAME_LEN).and_then(|kind| {
            Ok(RefFrame::Event {
                kind,
                data: data()?,
            })
        }),
        "response" => id().and_then(|id| Ok(RefFrame::Response { id, data: data()? })),
        "response.error" => id().and_then(|id| {
            let body = data()?;
            let (reason, code) = error_body(body).ok_or(DecodeError::InvalidErrorBody)?;
            Ok(RefFrame::ResponseError { id, reason, code })
        }),
        _ => Err(DecodeError::UnknownType),
    };
    frame.map_err(fail)
}

/// `{reason, code}`: an object whose last `reason` and `code` are strings.
fn error_body(raw: &str) -> Option<(String, String)> {
    if !raw.starts_with('{') {
        return None;
    }
    let members = serde_json::from_str::<Members<'_>>(raw).ok()?.0;
    match (field(&members, "reason"), field(&members, "code")) {
        (Field::Str(reason), Field::Str(code)) => Some((reason, code)),
        _ => None,
    }
}

fn same_frame(ours: &Frame<'_>, theirs: &RefFrame<'_>) {
    let same = match (*ours, theirs) {
        (Frame::Event { kind, data }, RefFrame::Event { kind: k, data: d }) => {
            kind == k.as_str() && data.as_bytes() == d.as_bytes()
        }
        (
            Frame::Request { id, endpoint, data },
            RefFrame::Request {
                id: i,
                endpoint: e,
                data: d,
            },
        ) => id == i.as_str() && endpoint == e.as_str() && data.as_bytes() == d.as_bytes(),
        (Frame::Response { id, data }, RefFrame::Response { id: i, data: d }) => {
            id == i.as_str() && data.as_bytes() == d.as_bytes()
        }
        (
            Frame::ResponseError { id, error },
            RefFrame::ResponseError {
                id: i,
                reason,
                code,
            },
        ) => id == i.as_str() && error.reason == reason.as_str() && error.code == code.as_str(),
        _ => false,
    };
    assert!(same, "we decode {ours:?}, the reference {theirs:?}");
}
