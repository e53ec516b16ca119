//! The fuzz targets' invariants as property tests, so that plain `cargo test` checks them on
//! machines without cargo-fuzz: random and structured inputs through the same entry points
//! (`protocol_core::fuzzing`, `ws_sansio::fuzzing`), every committed seed, and a deeply
//! nested input under a small thread stack.

use std::path::Path;

use proptest::prelude::*;
use protocol_core::fuzzing::{connection_model, decode_json, decode_postcard, json_differential};
use protocol_core::{Codec, DecodeError, JsonCodec};
use ws_sansio::fuzzing::{fuzz_http_upgrade, fuzz_ws_frames, fuzz_ws_pair};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `check` on every file of `fuzz/seeds/<target>/`.
fn seeds(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "no seeds in {}", dir.display());
}

#[test]
fn committed_seeds_pass() {
    seeds("decode_json", decode_json);
    seeds("decode_postcard", decode_postcard);
    seeds("json_differential", json_differential);
    seeds("connection_model", connection_model);
    seeds("ws_frames", fuzz_ws_frames);
    seeds("ws_pair", fuzz_ws_pair);
    seeds("http_upgrade", fuzz_http_upgrade);
}

// ---- JSON-shaped inputs ------------------------------------------------------------------

/// Pieces that make the JSON scanner take its rarer paths.
fn json_string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a".to_owned()),
        Just("id".to_owned()),
        Just("type".to_owned()),
        Just("request".to_owned()),
        Just("response.error".to_owned()),
        Just("\\u0069d".to_owned()),
        Just("\\\"".to_owned()),
        Just("\\\\".to_owned()),
        Just("\\n".to_owned()),
        Just("\\u00e9".to_owned()),
        Just("\\ud83d\\ude00".to_owned()),
        Just("\\ud800".to_owned()),
        Just("\\udc00x".to_owned()),
        Just("\\x".to_owned()),
        Just("\u{1}".to_owned()),
        Just("\u{7f}\u{2028}\u{e9}".to_owned()),
        "[a-z]{0,3}",
    ];
    prop::collection::vec(piece, 0..4).prop_map(|p| format!("\"{}\"", p.concat()))
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        json_string(),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("fals".to_owned()),
        Just("0".to_owned()),
        Just("-0.0".to_owned()),
        Just("1e400".to_owned()),
        Just("01".to_owned()),
        Just("1.".to_owned()),
        Just("NaN".to_owned()),
        Just("-Infinity".to_owned()),
        "-?[0-9]{1,3}(\\.[0-9]{1,2})?([eE][+-]?[0-9]{1,3})?",
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((json_string(), inner), 0..4).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// Envelope-like objects: the known members with plausible or wrong values, duplicates,
/// whitespace, and now and then a syntax slip.
fn envelope() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("\"id\"".to_owned()),
        Just("\"type\"".to_owned()),
        Just("\"endpoint\"".to_owned()),
        Just("\"kind\"".to_owned()),
        Just("\"data\"".to_owned()),
        Just("\"\\u0074ype\"".to_owned()),
        Just("\"reason\"".to_owned()),
        json_string(),
    ];
    let val = prop_oneof![
        Just("\"request\"".to_owned()),
        Just("\"response\"".to_owned()),
        Just("\"response.error\"".to_owned()),
        Just("\"event\"".to_owned()),
        Just("{\"reason\":\"r\",\"code\":\"c\"}".to_owned()),
        Just("\"r1\"".to_owned()),
        Just("\"echo\"".to_owned()),
        json_value(),
    ];
    let ws = prop_oneof![Just(""), Just(" "), Just("\n\t "), Just("\u{a0}")];
    (
        prop::collection::vec((key, val, ws.clone()), 0..7),
        ws,
        any::<u8>(),
    )
        .prop_map(|(members, ws, slip)| {
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, v, w)| format!("{w}{k}{w}:{w}{v}{w}"))
                .collect();
            let mut text = format!("{ws}{{{}}}{ws}", members.join(","));
            match slip {
                0 => text.push(','),
                1 => text.push_str("{}"),
                2 => {
                    text.pop();
                }
                _ => {}
            }
            text
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn json_envelopes(text in envelope()) {
        decode_json(text.as_bytes());
        json_differential(text.as_bytes());
    }

    #[test]
    fn json_values(text in json_value()) {
        decode_json(text.as_bytes());
        json_differential(text.as_bytes());
    }

    /// Subprotocol negotiation against its rule: offered names are comma-separated and
    /// trimmed; the first one we speak wins; none offered means JSON and no header in the
    /// answer; only names we do not speak are refused.
    #[test]
    fn subprotocol_negotiation(
        offered in prop::option::of(prop::collection::vec(
            (
                prop::sample::select(vec![
                    "quartet.v1.json", "quartet.v1.postcard", "quartet.v1.JSON", "chat", "", "x,y",
                ]),
                prop::sample::select(vec!["", " ", "\t"]),
            ),
            0..5,
        )),
    ) {
        use protocol_core::codec::{AnyCodec, CodecSet, negotiate};
        let header = offered.as_ref().map(|parts| {
            parts
                .iter()
                .map(|(name, pad)| format!("{pad}{name}{pad}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        let names: Vec<String> = header
            .iter()
            .flat_map(|h| h.split(','))
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        let result = negotiate::<AnyCodec>(header.as_deref());
        if names.is_empty() {
            let negotiated = result.expect("nothing offered: JSON");
            prop_assert_eq!(negotiated.codec, AnyCodec::Json);
            prop_assert_eq!(negotiated.subprotocol, None);
        } else {
            match names.iter().find(|n| *n == "quartet.v1.json" || *n == "quartet.v1.postcard") {
                Some(first) => {
                    let negotiated = result.expect("a name we speak was offered");
                    prop_assert_eq!(negotiated.subprotocol, Some(first.as_str()));
                    prop_assert_eq!(negotiated.codec.subprotocol(), first.as_str());
                }
                None => prop_assert!(result.is_err()),
            }
        }
    }

    #[test]
    fn decoders_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_json(&bytes);
        decode_postcard(&bytes);
        json_differential(&bytes);
    }

    /// postcard frames: a tag, then strings and byte strings with varint lengths (some
    /// overlong, some past the end).
    #[test]
    fn postcard_frames(
        tag in 0u8..6,
        fields in prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 0..70), any::<bool>(), 0u8..3),
            0..4,
        ),
        tail in prop::collection::vec(any::<u8>(), 0..2),
    ) {
        let mut frame = vec![tag];
        for (bytes, text, shape) in fields {
            let bytes = if text {
                String::from_utf8_lossy(&bytes).into_owned().into_bytes()
            } else {
                bytes
            };
            let len = bytes.len();
            match shape {
                0 if len < 128 => frame.push(len as u8),
                0 => frame.extend([(len as u8) | 0x80, (len >> 7) as u8]),
                1 => frame.extend([(len as u8) | 0x80, 0x80, 0x00]), // overlong varint
                _ => frame.push(len as u8 + 1), // one byte short
            }
            frame.extend(bytes);
        }
        frame.extend(tail);
        decode_postcard(&frame);
    }

    #[test]
    fn connection_model_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        connection_model(&bytes);
    }

    #[test]
    fn ws_layer_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzz_ws_frames(&bytes);
        fuzz_http_upgrade(&bytes);
        fuzz_ws_pair(&bytes);
    }
}

/// The JSON scanner does not recurse: a million nested arrays fail cleanly, and the deepest
/// accepted frame decodes, on a 64 KiB stack.
#[test]
fn deep_nesting_on_a_small_stack() {
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(|| {
            let deepest = format!(
                r#"{{"id":"d","type":"request","endpoint":"echo","data":{}{}}}"#,
                "[".repeat(127),
                "]".repeat(127)
            );
            assert!(JsonCodec::decode(deepest.as_bytes()).is_ok());
            decode_json(deepest.as_bytes());
            let huge = format!(
                r#"{{"id":"d","type":"request","endpoint":"echo","data":{}}}"#,
                "[".repeat(1_000_000)
            );
            let failure = JsonCodec::decode(huge.as_bytes()).unwrap_err();
            assert_eq!(failure.error, DecodeError::TooDeep);
            decode_json(huge.as_bytes());
            json_differential(huge.as_bytes());
        })
        .unwrap()
        .join()
        .unwrap();
}
