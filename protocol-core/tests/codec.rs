//! The codecs against the golden vectors in `testdata/`, and every decode error by name.

use protocol_core::codec::{Member, SyntaxError};
use protocol_core::limits::{MAX_DEPTH, MAX_ID_LEN, MAX_NAME_LEN};
use protocol_core::{
    Codec, Data, DecodeError, DecodeFailure, EncodeError, ErrorBody, Frame, JsonCodec,
    PostcardCodec, Str, Typed,
};
use serde::{Deserialize, Serialize};

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn frame_bytes(field: &str) -> Vec<u8> {
    match field.strip_prefix("hex:") {
        Some(hex) => unhex(hex),
        None => field.as_bytes().to_vec(),
    }
}

fn reencode<C: Codec>(frame: &Frame<'_>) -> Vec<u8> {
    let mut out = [0u8; 1024];
    let len = C::encode(frame, &mut out).expect("encode");
    out[..len].to_vec()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn seed000_golden_frames() {
    let vectors = include_str!("../testdata/seed000-frames.tsv");
    let mut checked = 0;
    for line in vectors
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["roundtrip", frame] => {
                let input = frame_bytes(frame);
                let decoded =
                    JsonCodec::decode(&input).unwrap_or_else(|e| panic!("{}: {e:?}", show(&input)));
                assert_eq!(show(&reencode::<JsonCodec>(&decoded)), show(&input));
            }
            ["reencode", frame, expected] => {
                let input = frame_bytes(frame);
                let decoded =
                    JsonCodec::decode(&input).unwrap_or_else(|e| panic!("{}: {e:?}", show(&input)));
                assert_eq!(show(&reencode::<JsonCodec>(&decoded)), *expected);
            }
            ["refuse", error, id, frame] => {
                let input = frame_bytes(frame);
                let failure = JsonCodec::decode(&input).expect_err(&show(&input));
                assert_eq!(format!("{:?}", failure.error), *error, "{}", show(&input));
                let usable = failure.id.map(|id| id.to_string());
                assert_eq!(usable.as_deref(), if *id == "-" { None } else { Some(*id) });
            }
            other => panic!("malformed vector line: {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 55, "every vector line is checked");
}

#[test]
fn seed000_deep_nesting_2000_is_too_deep() {
    // json-deep-nesting-2000: the transcript cuts the line; this is the frame it describes.
    let frame = format!(
        r#"{{"id":"d","type":"request","endpoint":"echo","data":{}{}}}"#,
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let failure = JsonCodec::decode(frame.as_bytes()).unwrap_err();
    assert_eq!(
        failure,
        DecodeFailure {
            error: DecodeError::TooDeep,
            id: None
        }
    );
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Success {
    success: bool,
}

/// An independent encoder for the same wire format: serde's derive and postcard's own
/// serializer, with no code of ours in between.
#[derive(Serialize)]
enum WireFrame<'a> {
    Event {
        kind: &'a str,
        data: &'a [u8],
    },
    Request {
        id: &'a str,
        endpoint: &'a str,
        data: &'a [u8],
    },
    Response {
        id: &'a str,
        data: &'a [u8],
    },
    ResponseError {
        id: &'a str,
        reason: &'a str,
        code: &'a str,
    },
}

#[test]
fn postcard_golden_frames() {
    let vectors = include_str!("../testdata/postcard-frames.tsv");
    let frames: Vec<Vec<u8>> = vectors
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| unhex(l.split('\t').next().unwrap()))
        .collect();
    assert_eq!(frames.len(), 4);

    let event = PostcardCodec::decode(&frames[0]).unwrap();
    let Frame::Event { kind, data } = event else {
        panic!("{event:?}")
    };
    assert_eq!(kind, "init");
    assert_eq!(
        data.decode::<PostcardCodec, Success>(),
        Ok(Success { success: true })
    );

    let request = PostcardCodec::decode(&frames[1]).unwrap();
    let Frame::Request { id, endpoint, data } = request else {
        panic!("{request:?}")
    };
    assert_eq!((id, endpoint), (Str::new("r1"), Str::new("move")));
    assert_eq!(
        data.decode::<PostcardCodec, Move>(),
        Ok(Move { x: 1, y: 2 })
    );

    let response = PostcardCodec::decode(&frames[2]).unwrap();
    assert_eq!(
        response,
        Frame::Response {
            id: Str::new("r1"),
            data: Data::new(&[1])
        }
    );

    let error = PostcardCodec::decode(&frames[3]).unwrap();
    let expected_error = ErrorBody::new("Not your turn", "not-your-turn");
    assert_eq!(
        error,
        Frame::ResponseError {
            id: Str::new("r4"),
            error: expected_error
        }
    );

    // Our encoder writes the same bytes, from typed data and from raw data...
    let mut out = [0u8; 64];
    let typed = Frame::Request {
        id: Str::new("r1"),
        endpoint: Str::new("move"),
        data: Typed(&Move { x: 1, y: 2 }),
    };
    let n = PostcardCodec::encode(&typed, &mut out).unwrap();
    assert_eq!(&out[..n], &frames[1][..]);
    for (frame, bytes) in [event, request, response, error].iter().zip(&frames) {
        assert_eq!(&reencode::<PostcardCodec>(frame), bytes);
    }
    // ...and so does postcard itself from a serde-derived enum.
    let independent = [
        WireFrame::Event {
            kind: "init",
            data: &[1],
        },
        WireFrame::Request {
            id: "r1",
            endpoint: "move",
            data: &[2, 4],
        },
        WireFrame::Response {
            id: "r1",
            data: &[1],
        },
        WireFrame::ResponseError {
            id: "r4",
            reason: "Not your turn",
            code: "not-your-turn",
        },
    ];
    for (frame, bytes) in independent.iter().zip(&frames) {
        assert_eq!(
            &postcard::to_slice(frame, &mut out).unwrap()[..],
            &bytes[..]
        );
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Rich {
    name: heapless::String<32>,
    tags: heapless::Vec<u8, 4>,
    flag: Option<bool>,
    n: i64,
}

fn data_of<'a>(frame: &Frame<'a>) -> Data<'a> {
    match *frame {
        Frame::Event { data, .. } | Frame::Request { data, .. } | Frame::Response { data, .. } => {
            data
        }
        Frame::ResponseError { .. } => panic!("no data"),
    }
}

fn check_equivalent<T>(value: &T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let frames = [
        Frame::Event {
            kind: Str::new("game:state"),
            data: Typed(value),
        },
        Frame::Request {
            id: Str::new("é1"),
            endpoint: Str::new("move"),
            data: Typed(value),
        },
        Frame::Response {
            id: Str::new(""),
            data: Typed(value),
        },
    ];
    for frame in &frames {
        let (mut json, mut post) = ([0u8; 256], [0u8; 256]);
        let json_len = JsonCodec::encode(frame, &mut json).unwrap();
        let post_len = PostcardCodec::encode(frame, &mut post).unwrap();
        let from_json = JsonCodec::decode(&json[..json_len]).unwrap();
        let from_post = PostcardCodec::decode(&post[..post_len]).unwrap();
        assert_eq!(from_json.frame_type(), from_post.frame_type());
        assert_eq!(from_json.id(), from_post.id());
        assert_eq!(
            &data_of(&from_json).decode::<JsonCodec, T>().unwrap(),
            value
        );
        assert_eq!(
            &data_of(&from_post).decode::<PostcardCodec, T>().unwrap(),
            value
        );
        match (from_json, from_post) {
            (Frame::Request { endpoint: a, .. }, Frame::Request { endpoint: b, .. }) => {
                assert_eq!(a, b);
            }
            (Frame::Event { kind: a, .. }, Frame::Event { kind: b, .. }) => assert_eq!(a, b),
            _ => {}
        }
    }
}

/// The same frames through both codecs carry the same envelope and the same typed data.
#[test]
fn json_and_postcard_envelopes_are_equivalent() {
    let rich = Rich {
        name: "caf\u{e9} \"q\"".try_into().unwrap(),
        tags: heapless::Vec::from_slice(&[1, 2, 3]).unwrap(),
        flag: Some(false),
        n: -1 << 40,
    };
    check_equivalent(&rich);
    check_equivalent(&Move { x: -7, y: i32::MAX });
    check_equivalent(&());
    let error: Frame<'_> = Frame::ResponseError {
        id: Str::new("r4"),
        error: ErrorBody::new("No\n", "c"),
    };
    let (json, post) = (
        reencode::<JsonCodec>(&error),
        reencode::<PostcardCodec>(&error),
    );
    assert_eq!(
        JsonCodec::decode(&json).unwrap(),
        PostcardCodec::decode(&post).unwrap()
    );
}

/// A JSON frame whose strings carry escapes re-encodes to the seed's canonical escaping.
#[test]
fn escaped_envelope_strings_are_canonicalised() {
    let input =
        br#"{"id":"\u00e9\/\u001F","type":"request","endpoint":"e\u0063ho","data":"\u00e9"}"#;
    let frame = JsonCodec::decode(input).unwrap();
    let Frame::Request { id, endpoint, .. } = frame else {
        panic!()
    };
    assert_eq!(id, "é/\u{1f}");
    assert_eq!(endpoint, "echo");
    let expected =
        "{\"id\":\"é/\\u001f\",\"type\":\"request\",\"endpoint\":\"echo\",\"data\":\"\\u00e9\"}";
    assert_eq!(show(&reencode::<JsonCodec>(&frame)), expected);
    // And into postcard, unescaped.
    let post = reencode::<PostcardCodec>(&frame);
    let id = PostcardCodec::decode(&post).unwrap().id().unwrap();
    assert_eq!(id.as_plain(), Some("é/\u{1f}"));
}

#[test]
fn typed_json_output_uses_lowercase_escapes() {
    let mut out = [0u8; 64];
    let frame = Frame::Response {
        id: Str::new("1"),
        data: Typed("\u{1f}"),
    };
    let n = JsonCodec::encode(&frame, &mut out).unwrap();
    assert_eq!(
        show(&out[..n]),
        r#"{"id":"1","type":"response","data":"\u001f"}"#
    );
}

#[test]
fn encode_reports_the_size_it_needed() {
    let frame = Frame::Response {
        id: Str::new("r1"),
        data: Data::new(b"[1,2,3]"),
    };
    let full = reencode::<JsonCodec>(&frame);
    for len in 0..full.len() {
        let err = JsonCodec::encode(&frame, &mut vec![0u8; len]).unwrap_err();
        assert_eq!(
            err,
            EncodeError::BufferTooSmall {
                required: Some(full.len())
            },
            "room {len}"
        );
    }
    let post = reencode::<PostcardCodec>(&frame);
    for len in 0..post.len() {
        let err = PostcardCodec::encode(&frame, &mut vec![0u8; len]).unwrap_err();
        assert_eq!(
            err,
            EncodeError::BufferTooSmall {
                required: Some(post.len())
            },
            "room {len}"
        );
    }
    // A typed value: JSON counts what it could not write, postcard cannot say.
    let typed = Frame::Response {
        id: Str::new("r1"),
        data: Typed(&[1, 2, 3]),
    };
    let whole = r#"{"id":"r1","type":"response","data":[1,2,3]}"#;
    for room in [0, 20, whole.len() - 1] {
        assert_eq!(
            JsonCodec::encode(&typed, &mut vec![0u8; room]),
            Err(EncodeError::BufferTooSmall {
                required: Some(whole.len())
            })
        );
    }
    let mut out = [0u8; 64];
    let n = JsonCodec::encode(&typed, &mut out).unwrap();
    assert_eq!(show(&out[..n]), whole);
    assert_eq!(
        PostcardCodec::encode(&typed, &mut [0u8; 5]),
        Err(EncodeError::BufferTooSmall { required: None })
    );
}

// ---- Every decode error, by name (JSON) -------------------------------------------------

fn json_err(input: &str) -> DecodeFailure<'_> {
    JsonCodec::decode(input.as_bytes()).expect_err(input)
}

fn usable(failure: DecodeFailure<'_>) -> Option<String> {
    failure.id.map(|id| id.to_string())
}

fn error_and_id(failure: DecodeFailure<'_>) -> (DecodeError, Option<String>) {
    (failure.error, usable(failure))
}

fn id(text: &str) -> Option<String> {
    Some(text.to_string())
}

#[test]
fn decode_error_not_utf8() {
    let failure = JsonCodec::decode(b"{\"id\":\"\xff\"}").unwrap_err();
    assert_eq!(failure.error, DecodeError::NotUtf8);
}

#[test]
fn decode_error_not_json() {
    for (input, kind) in [
        ("", SyntaxError::UnexpectedEnd),
        ("{bad json", SyntaxError::UnexpectedByte),
        (
            r#"{"id":"x","type":"request","endpoint":"e","data":Infinity}"#,
            SyntaxError::InvalidNumber,
        ),
        (
            r#"{"id":"x","type":"request","endpoint":"e","data":tru}"#,
            SyntaxError::InvalidLiteral,
        ),
        (r#"{"id":"\x"}"#, SyntaxError::InvalidEscape),
        (r#"{"id":"\udc00"}"#, SyntaxError::LoneSurrogate),
        ("{\"id\":\"a\u{1}\"}", SyntaxError::ControlCharacter),
        (r#"{"id":"x","#, SyntaxError::UnexpectedEnd),
    ] {
        let failure = json_err(input);
        let found = match failure.error {
            DecodeError::Syntax { kind, .. } => kind,
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(found, kind, "{input}");
        assert_eq!(failure.id, None);
    }
}

#[test]
fn decode_error_not_an_object() {
    for input in ["[1,2,3]", "\"hello\"", "42", "null", " true "] {
        assert_eq!(json_err(input), DecodeError::NotAnObject.into(), "{input}");
    }
}

#[test]
fn decode_error_trailing_data() {
    assert_eq!(json_err(r#"{"id":"t"} x"#).error, DecodeError::TrailingData);
    assert_eq!(
        json_err(r#"{"id":"t"}{}"#).id,
        None,
        "not a complete object: no usable id"
    );
    assert_eq!(json_err("[1] 2").error, DecodeError::TrailingData);
}

#[test]
fn decode_error_id_missing() {
    let failure = json_err(r#"{"type":"request","endpoint":"echo","data":1}"#);
    assert_eq!(failure, DecodeError::MissingMember(Member::Id).into());
    let failure = json_err(r#"{"type":"response","data":1}"#);
    assert_eq!(failure.error, DecodeError::MissingMember(Member::Id));
}

#[test]
fn decode_error_id_not_a_string() {
    for id in ["1", "null", "[\"a\"]", "{}"] {
        let input = format!(r#"{{"id":{id},"type":"request","endpoint":"echo","data":1}}"#);
        let failure = JsonCodec::decode(input.as_bytes()).unwrap_err();
        assert_eq!(
            failure,
            DecodeError::NotAString(Member::Id).into(),
            "{input}"
        );
    }
}

#[test]
fn decode_error_id_too_long() {
    let request =
        |id: &str| format!(r#"{{"id":"{id}","type":"request","endpoint":"echo","data":1}}"#);
    assert!(JsonCodec::decode(request(&"i".repeat(MAX_ID_LEN)).as_bytes()).is_ok());
    let long = request(&"i".repeat(MAX_ID_LEN + 1));
    let failure = JsonCodec::decode(long.as_bytes()).unwrap_err();
    assert_eq!(
        failure,
        DecodeError::TooLong(Member::Id).into(),
        "a too-long id is not usable"
    );
    // The limit counts unescaped bytes: 24 escapes of two-byte é are 48 bytes.
    let escaped = request(&r"\u00e9".repeat(MAX_ID_LEN / 2));
    assert!(JsonCodec::decode(escaped.as_bytes()).is_ok());
}

#[test]
fn decode_error_type_missing_or_unknown() {
    let failure = json_err(r#"{"id":"r","endpoint":"echo","data":1}"#);
    assert_eq!(
        error_and_id(failure),
        (DecodeError::MissingMember(Member::Type), id("r"))
    );
    let failure = json_err(r#"{"id":"r","type":"req","endpoint":"echo","data":1}"#);
    assert_eq!(error_and_id(failure), (DecodeError::UnknownType, id("r")));
    let failure = json_err(r#"{"id":"r","type":5,"endpoint":"echo","data":1}"#);
    assert_eq!(failure.error, DecodeError::NotAString(Member::Type));
    // An escaped type still counts.
    let escaped = br#"{"id":"r","type":"r\u0065quest","endpoint":"e","data":1}"#;
    assert!(JsonCodec::decode(escaped).is_ok());
}

#[test]
fn decode_error_endpoint_missing_or_not_a_string() {
    let failure = json_err(r#"{"id":"r1","type":"request","data":{"endpoint":"move"}}"#);
    assert_eq!(
        error_and_id(failure),
        (DecodeError::MissingMember(Member::Endpoint), id("r1"))
    );
    let failure = json_err(r#"{"id":"r1","type":"request","endpoint":["move"],"data":1}"#);
    assert_eq!(
        error_and_id(failure),
        (DecodeError::NotAString(Member::Endpoint), id("r1"))
    );
}

#[test]
fn decode_error_endpoint_too_long() {
    let long = "e".repeat(MAX_NAME_LEN + 1);
    let input = format!(r#"{{"id":"r1","type":"request","endpoint":"{long}","data":1}}"#);
    let failure = JsonCodec::decode(input.as_bytes()).unwrap_err();
    assert_eq!(
        error_and_id(failure),
        (DecodeError::TooLong(Member::Endpoint), id("r1"))
    );
}

#[test]
fn decode_error_data_missing() {
    let failure = json_err(r#"{"id":"x","type":"request","endpoint":"echo"}"#);
    assert_eq!(
        error_and_id(failure),
        (DecodeError::MissingMember(Member::Data), id("x"))
    );
}

#[test]
fn decode_error_kind_missing() {
    let failure = json_err(r#"{"type":"event","data":1}"#);
    assert_eq!(failure.error, DecodeError::MissingMember(Member::Kind));
}

#[test]
fn decode_error_invalid_error_body() {
    for data in [
        "null",
        "{}",
        r#"{"reason":"r"}"#,
        r#"{"reason":"r","code":1}"#,
        "\"x\"",
    ] {
        let input = format!(r#"{{"id":"r4","type":"response.error","data":{data}}}"#);
        let failure = JsonCodec::decode(input.as_bytes()).unwrap_err();
        assert_eq!(failure.error, DecodeError::InvalidErrorBody, "{input}");
    }
}

#[test]
fn decode_error_too_deep() {
    let nest = |n: usize| {
        let (open, close) = ("[".repeat(n), "]".repeat(n));
        format!(r#"{{"id":"d","type":"request","endpoint":"e","data":{open}{close}}}"#)
    };
    // The envelope object is one level.
    assert!(JsonCodec::decode(nest(MAX_DEPTH - 1).as_bytes()).is_ok());
    let too_deep = nest(MAX_DEPTH);
    let failure = JsonCodec::decode(too_deep.as_bytes()).unwrap_err();
    assert_eq!(failure.error, DecodeError::TooDeep);
}

#[test]
fn decode_error_too_deep_on_a_small_stack() {
    // Checked without recursion: a million levels on a 64 KiB thread stack.
    let handle = std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let input = "[".repeat(1_000_000);
            JsonCodec::decode(input.as_bytes()).unwrap_err().error
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), DecodeError::TooDeep);
}

#[test]
fn decode_error_frame_too_large() {
    let input = br#"{"id":"big","type":"request","endpoint":"echo","data":"0123456789"}"#;
    let failure = JsonCodec::decode_limited(input, 32).unwrap_err();
    let too_large = DecodeError::FrameTooLarge {
        len: input.len() as u32,
        max: 32,
    };
    assert_eq!(
        error_and_id(failure),
        (too_large, id("big")),
        "a readable frame keeps its id"
    );
    let failure = JsonCodec::decode_limited(b"{\"id\":\"big\", oops", 8).unwrap_err();
    assert_eq!(failure.id, None);
    assert!(JsonCodec::decode_limited(input, input.len()).is_ok());
    let post = reencode::<PostcardCodec>(&JsonCodec::decode(input).unwrap());
    let failure = PostcardCodec::decode_limited(&post, 8).unwrap_err();
    assert_eq!(usable(failure), id("big"));
}

#[test]
fn duplicate_members_last_wins() {
    let input = br#"{"id":"a","type":"event","id":"b","type":"request","endpoint":"x","endpoint":"y","data":1,"data":[2]}"#;
    let frame = JsonCodec::decode(input).unwrap();
    let expected = Frame::Request {
        id: Str::new("b"),
        endpoint: Str::new("y"),
        data: Data::new(b"[2]"),
    };
    assert_eq!(frame, expected);
}

// ---- Every decode error, by name (postcard) ---------------------------------------------

#[test]
fn postcard_decode_error_unknown_type() {
    assert_eq!(
        PostcardCodec::decode(&[4, 0, 0]).unwrap_err().error,
        DecodeError::UnknownType
    );
    let failure = PostcardCodec::decode(&[0x80, 0x01]).unwrap_err();
    assert_eq!(failure.error, DecodeError::UnknownType);
}

#[test]
fn postcard_decode_error_truncated() {
    let frame = unhex("01 02 72 31 04 6d 6f 76 65 02 02 04");
    for len in 0..frame.len() {
        let failure = PostcardCodec::decode(&frame[..len]).unwrap_err();
        let truncated = matches!(
            failure.error,
            DecodeError::Syntax {
                kind: SyntaxError::UnexpectedEnd,
                ..
            }
        );
        assert!(truncated, "{len}: {failure:?}");
        assert_eq!(failure.id, None);
    }
}

#[test]
fn postcard_decode_error_trailing_bytes() {
    let mut frame = unhex("02 02 72 31 01 01");
    frame.push(0);
    assert_eq!(
        PostcardCodec::decode(&frame).unwrap_err(),
        DecodeError::TrailingData.into()
    );
}

#[test]
fn postcard_decode_error_not_utf8() {
    let failure = PostcardCodec::decode(&[2, 1, 0xff, 0]).unwrap_err();
    assert_eq!(failure.error, DecodeError::NotUtf8);
}

#[test]
fn postcard_decode_error_malformed_varint() {
    let mut frame = vec![2];
    frame.extend([0xff; 11]);
    let failure = PostcardCodec::decode(&frame).unwrap_err();
    let malformed = matches!(
        failure.error,
        DecodeError::Syntax {
            kind: SyntaxError::Malformed,
            ..
        }
    );
    assert!(malformed, "{failure:?}");
}

#[test]
fn postcard_decode_error_too_long() {
    let long = "i".repeat(MAX_ID_LEN + 1);
    let mut out = [0u8; 256];
    let frame = Frame::Response {
        id: Str::new(&long),
        data: Data::new(&[1]),
    };
    let n = PostcardCodec::encode(&frame, &mut out).unwrap();
    let failure = PostcardCodec::decode(&out[..n]).unwrap_err();
    assert_eq!(failure, DecodeError::TooLong(Member::Id).into());
    let name = "e".repeat(MAX_NAME_LEN + 1);
    let frame = Frame::Request {
        id: Str::new("r"),
        endpoint: Str::new(&name),
        data: Data::new(&[1]),
    };
    let n = PostcardCodec::encode(&frame, &mut out).unwrap();
    let failure = PostcardCodec::decode(&out[..n]).unwrap_err();
    assert_eq!(
        error_and_id(failure),
        (DecodeError::TooLong(Member::Endpoint), id("r"))
    );
}

#[test]
fn typed_data_errors() {
    use protocol_core::ValueError;
    let wrong = Data::new(br#"{"x":"abc"}"#).decode::<JsonCodec, Move>();
    assert_eq!(wrong, Err(ValueError::Invalid));
    let trailing = Data::new(&[2, 4, 9]).decode::<PostcardCodec, Move>();
    assert_eq!(trailing, Err(ValueError::TrailingData));
    let long = format!("\"{}\"", r"\n".repeat(300));
    let mut scratch = [0u8; 400];
    let decoded: heapless::String<400> =
        JsonCodec::decode_value_with(Data::new(long.as_bytes()), &mut scratch).unwrap();
    assert_eq!(decoded.len(), 300);
    let too_long = Data::new(long.as_bytes()).decode::<JsonCodec, heapless::String<400>>();
    assert_eq!(too_long, Err(ValueError::ScratchTooSmall));
}
