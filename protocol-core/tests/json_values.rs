//! Typed `data` through the JSON codec's own deserializer, against serde_json: for every
//! type and every input below, both accept or both refuse, and accepted values are equal.

use protocol_core::codec::{Codec, ValueError};
use protocol_core::{Data, JsonCodec};
use serde::Deserialize;

#[derive(Debug, PartialEq, Deserialize)]
struct Move {
    x: i64,
    y: i64,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Profile {
    name: heapless::String<32>,
    age: Option<u8>,
    admin: bool,
    #[serde(default)]
    tags: heapless::Vec<i32, 4>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Borrowing<'a> {
    name: &'a str,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    a: u16,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Nested {
    inner: Move,
    pair: (u8, i8),
    list: [u32; 2],
}

#[derive(Debug, PartialEq, Deserialize)]
struct Newtype(i32);

#[derive(Debug, PartialEq, Deserialize)]
struct Unit;

#[derive(Debug, PartialEq, Deserialize)]
enum Command {
    Stop,
    Go(u8),
    Turn { left: bool },
    Jump(i8, i8),
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Init,
    InProgress,
}

const INPUTS: &[&str] = &[
    // Integers at and beyond every edge.
    "0",
    "-0",
    "1",
    "-1",
    "127",
    "128",
    "-128",
    "-129",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "007",
    "1.0",
    "1e2",
    "-1.5e-3",
    "1E+2",
    "2.5",
    "-",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
    " 42 ",
    "\t\n42\r\n",
    "42 43",
    "4 2",
    // Literals, strings, containers.
    "true",
    "false",
    "null",
    "tru",
    "nul",
    "True",
    "\"\"",
    "\"a\"",
    "\"ab\"",
    "\"caf\\u00e9\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud800\"",
    "\"\\n\"",
    "\"\\x\"",
    "\"\u{1}\"",
    "\"é\"",
    "\"😀\"",
    "[]",
    "[1]",
    "[1,2]",
    "[1,2,3]",
    "[1,]",
    "[,1]",
    "[1 2]",
    "[[1,2],[3]]",
    "{}",
    "{\"a\":1}",
    "{\"a\":1,}",
    "{\"a\" 1}",
    "{a:1}",
    "{\"a\":1}x",
    "[",
    "{",
    "]",
    "}",
    // Structs.
    r#"{"x":1,"y":2}"#,
    r#"{"y":2,"x":1}"#,
    r#" { "x" : 1 , "y" : 2 } "#,
    r#"{"x":1}"#,
    r#"{"x":1,"y":2,"z":3}"#,
    r#"{"x":1,"y":2,"z":{"deep":[1,{"a":null}],"s":"\u00e9"}}"#,
    r#"{"x":1,"y":2,"z":[1,}"#,
    r#"{"x":1,"x":2,"y":3}"#,
    r#"{"x":"1","y":2}"#,
    r#"{"x":1.5,"y":2}"#,
    r#"{"\u0078":1,"y":2}"#,
    r#"[1,2]"#,
    r#"[1,2,3]"#,
    r#"[1]"#,
    r#"{"x":-9223372036854775808,"y":9223372036854775807}"#,
    r#"{"x":1,"y":2}  "#,
    r#"{"x":1,"y":2} {}"#,
    r#"{"name":"ann","age":30,"admin":false}"#,
    r#"{"name":"ann","age":null,"admin":true,"tags":[1,-2,3]}"#,
    r#"{"name":"a\"n\\n","age":7,"admin":true}"#,
    r#"{"name":"ann","age":300,"admin":true}"#,
    r#"{"name":"ann","admin":true}"#,
    r#"{"name":"ann","age":1,"admin":1}"#,
    r#"{"name":"ann","age":1,"admin":true,"tags":[1,2,3,4,5]}"#,
    r#"{"name":"0123456789012345678901234567890123","age":1,"admin":true}"#,
    r#"{"name":"plain"}"#,
    r#"{"name":"esc\u0061ped"}"#,
    r#"{"a":1}"#,
    r#"{"a":1,"b":2}"#,
    r#"{"inner":{"x":1,"y":2},"pair":[255,-128],"list":[1,2]}"#,
    r#"{"inner":{"x":1,"y":2},"pair":[256,0],"list":[1,2]}"#,
    r#"{"inner":{"x":1,"y":2},"pair":[1,2],"list":[1,2,3]}"#,
    r#"{"inner":[1,2],"pair":[1,2],"list":[1,2]}"#,
    // Enums.
    r#""Stop""#,
    r#""Go""#,
    r#""Nope""#,
    r#"{"Go":7}"#,
    r#"{"Go":7,"Stop":null}"#,
    r#"{"Stop":null}"#,
    r#"{"Turn":{"left":true}}"#,
    r#"{"Turn":[false]}"#,
    r#"{"Jump":[1,-1]}"#,
    r#"{"Jump":[1]}"#,
    r#"{}"#,
    r#""init""#,
    r#""in_progress""#,
    r#""InProgress""#,
];

/// Where our reader is stricter than serde_json on purpose: one grammar for the whole
/// frame, and the envelope refuses a lone surrogate wherever it is (serde_json lets one
/// through when it skips a value).
const STRICTER: &[&str] = &["\"\\ud800\""];

fn ours<T: for<'de> Deserialize<'de>>(input: &str) -> Result<T, ValueError> {
    JsonCodec::decode_value_with(Data::new(input.as_bytes()), &mut [0; 256])
}

fn check<T>(input: &str)
where
    T: for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug,
{
    compare::<T>(input, false);
}

/// A type with structs in it: serde_json also reads a struct from an array of its fields;
/// we do not (the schemas say object), so a refusal of an input with an array is expected.
fn check_struct<T>(input: &str)
where
    T: for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug,
{
    compare::<T>(input, input.contains('['));
}

fn compare<T>(input: &str, may_refuse: bool)
where
    T: for<'de> Deserialize<'de> + PartialEq + core::fmt::Debug,
{
    let theirs = serde_json::from_str::<T>(input);
    let ours = ours::<T>(input);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{input:?} as {}", core::any::type_name::<T>()),
        (Err(_), Err(_)) => {}
        (Err(_), Ok(_)) if may_refuse || STRICTER.contains(&input) => {}
        _ => panic!(
            "{input:?} as {}: ours {ours:?}, serde_json {theirs:?}",
            core::any::type_name::<T>()
        ),
    }
}

#[test]
fn typed_values_agree_with_serde_json() {
    for input in INPUTS {
        check::<u8>(input);
        check::<i8>(input);
        check::<u16>(input);
        check::<i32>(input);
        check::<u32>(input);
        check::<i64>(input);
        check::<u64>(input);
        check::<f64>(input);
        check::<f32>(input);
        check::<bool>(input);
        check::<()>(input);
        check::<Option<i64>>(input);
        check::<char>(input);
        check::<heapless::String<8>>(input);
        check::<heapless::Vec<u8, 4>>(input);
        check::<(i32, i32)>(input);
        check::<[i64; 2]>(input);
        check_struct::<Move>(input);
        check_struct::<Profile>(input);
        check_struct::<Strict>(input);
        check_struct::<Nested>(input);
        check::<Newtype>(input);
        check::<Unit>(input);
        check_struct::<Command>(input);
        check::<Status>(input);
        check::<serde::de::IgnoredAny>(input);
        // Borrowed strings: only without escapes, in both.
        let theirs = serde_json::from_str::<Borrowing<'_>>(input);
        let ours = JsonCodec::decode_value_with::<Borrowing<'_>>(
            Data::new(input.as_bytes()),
            &mut [0; 256],
        );
        if !input.contains('[') {
            assert_eq!(ours.ok(), theirs.ok(), "{input:?} as Borrowing");
        }
        let theirs = serde_json::from_str::<&str>(input);
        let ours = JsonCodec::decode_value_with::<&str>(Data::new(input.as_bytes()), &mut []);
        assert_eq!(ours.ok(), theirs.ok(), "{input:?} as &str");
    }
}

#[test]
fn escaped_strings_need_the_scratch_buffer() {
    let input = r#""\u0041BCDEFGH""#;
    let mut scratch = [0u8; 8];
    let value: heapless::String<8> =
        JsonCodec::decode_value_with(Data::new(input.as_bytes()), &mut scratch).unwrap();
    assert_eq!(value, "ABCDEFGH");
    let mut small = [0u8; 7];
    assert_eq!(
        JsonCodec::decode_value_with::<heapless::String<8>>(
            Data::new(input.as_bytes()),
            &mut small
        ),
        Err(ValueError::ScratchTooSmall)
    );
    // Without escapes, no scratch is needed.
    let plain: heapless::String<8> =
        JsonCodec::decode_value_with(Data::new(b"\"ABCDEFGH\""), &mut []).unwrap();
    assert_eq!(plain, "ABCDEFGH");
}

#[test]
fn structs_come_from_objects_only() {
    assert_eq!(ours::<Move>("[1,2]"), Err(ValueError::Invalid));
    assert!(serde_json::from_str::<Move>("[1,2]").is_ok());
    assert_eq!(ours::<Move>(r#"{"x":1,"y":2}"#), Ok(Move { x: 1, y: 2 }));
    assert_eq!(
        ours::<Command>(r#"{"Turn":[false]}"#),
        Err(ValueError::Invalid)
    );
    assert_eq!(
        ours::<Command>(r#"{"Turn":{"left":false}}"#),
        Ok(Command::Turn { left: false })
    );
}

#[test]
fn integer_and_bool_map_keys_are_read_from_their_text() {
    use std::collections::BTreeMap;
    for input in [
        r#"{"7":true,"10":false}"#,
        r#"{"-5":true}"#,
        r#"{"":true}"#,
        r#"{"007":true}"#,
        r#"{"1.5":true}"#,
        r#"{"+1":true}"#,
        r#"{"-":true}"#,
        r#"{"4294967296":true}"#,
        r#"{"\u0037":true}"#,
        r#"{"x":true}"#,
    ] {
        compare::<BTreeMap<u32, bool>>(input, false);
        compare::<BTreeMap<i64, bool>>(input, false);
        compare::<BTreeMap<String, bool>>(input, false);
    }
    for input in [r#"{"true":1,"false":2}"#, r#"{"yes":1}"#] {
        compare::<BTreeMap<bool, u8>>(input, false);
    }
    // What our writer writes, our reader reads.
    let map: BTreeMap<i64, bool> = [(-3, true), (12, false)].into_iter().collect();
    let mut out = [0u8; 64];
    let n = JsonCodec::encode_value(&map, &mut out).unwrap();
    assert_eq!(
        JsonCodec::decode_value::<BTreeMap<i64, bool>>(Data::new(&out[..n])),
        Ok(map)
    );
}

#[test]
fn errors_say_what_went_wrong() {
    assert_eq!(
        ours::<Move>(r#"{"x":1,"y":2} 3"#),
        Err(ValueError::TrailingData)
    );
    assert_eq!(ours::<Move>(r#"{"x":1}"#), Err(ValueError::Invalid));
    assert_eq!(ours::<u8>("256"), Err(ValueError::Invalid));
}

#[test]
fn nesting_is_bounded_without_recursion_limits_of_the_stack() {
    // IgnoredAny skips with the scanner (no recursion); typed nesting stops at the limit.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    assert_eq!(
        ours::<serde::de::IgnoredAny>(&deep).map(|_| ()),
        Err(ValueError::Invalid)
    );
    let limit = protocol_core::limits::MAX_DEPTH;
    let ok = "[".repeat(limit) + &"]".repeat(limit);
    assert!(ours::<serde::de::IgnoredAny>(&ok).is_ok());
}

// ---- Typed values written: the same bytes as serde_json ---------------------------------

mod written {
    use std::collections::BTreeMap;

    use protocol_core::JsonCodec;
    use protocol_core::codec::Codec;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Everything<'a> {
        small: (i8, u8, i16, u16, i32, u32),
        big: (i64, u64, i64, u64),
        floats: (f64, f64, f64, f64, f32, f64, f64),
        text: &'a str,
        letter: char,
        nothing: Option<u8>,
        something: Option<&'a str>,
        unit: (),
        list: [i64; 3],
        empty: [u8; 0],
        nested: Vec<Vec<bool>>,
        by_name: BTreeMap<&'a str, i32>,
        by_number: BTreeMap<u32, bool>,
        by_signed: BTreeMap<i64, ()>,
        variants: (Variant, Variant, Variant, Variant),
        unit_struct: UnitStruct,
        newtype: Newtype,
        skipped: Skipping,
    }

    #[derive(Serialize)]
    enum Variant {
        Plain,
        Wrapped(i32),
        Pair(u8, char),
        Named { on: bool },
    }

    #[derive(Serialize)]
    struct UnitStruct;

    #[derive(Serialize)]
    struct Newtype(&'static str);

    #[derive(Serialize)]
    struct Skipping {
        kept: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        gone: Option<u8>,
    }

    /// Bytes through `serialize_bytes`: an array of numbers.
    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// `collect_str`: a `Display` value written as an escaped string.
    struct Shown;

    impl Serialize for Shown {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&format_args!("a\"b{}c\u{1}", 42))
        }
    }

    fn same<T: Serialize + ?Sized>(value: &T) {
        // One documented difference (docs/spec.md): floats are ryu's shortest form, `1e16`,
        // where serde_json now writes `1e+16`.
        let theirs = String::from_utf8(serde_json::to_vec(value).unwrap())
            .unwrap()
            .replace("e+", "e")
            .into_bytes();
        let mut out = vec![0u8; 4096];
        let n = JsonCodec::encode_value(value, &mut out).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out[..n]),
            String::from_utf8_lossy(&theirs)
        );
        // Too small by one byte: the exact size needed, nothing else.
        if let Some(short) = theirs.len().checked_sub(1) {
            assert_eq!(
                JsonCodec::encode_value(value, &mut vec![0u8; short]),
                Err(protocol_core::codec::EncodeError::BufferTooSmall {
                    required: Some(theirs.len())
                })
            );
        }
    }

    #[test]
    fn typed_values_are_written_as_serde_json_writes_them() {
        let everything = Everything {
            small: (i8::MIN, u8::MAX, i16::MIN, u16::MAX, i32::MIN, u32::MAX),
            big: (i64::MIN, u64::MAX, -1, 4_294_967_296),
            floats: (
                0.5,
                -0.0,
                1e16,
                1.234_567_890_123e-300,
                3.25,
                f64::NAN,
                f64::INFINITY,
            ),
            text: "a\u{0}b\u{1f}c\td\ne\"f\\g/h\u{7f}i\u{2028}j😀ké\u{8}\u{c}\r",
            letter: '\n',
            nothing: None,
            something: Some("x"),
            unit: (),
            list: [1, -2, 3],
            empty: [],
            nested: vec![vec![true, false], vec![]],
            by_name: [("b", 2), ("a\"", 1)].into_iter().collect(),
            by_number: [(7, true), (10, false)].into_iter().collect(),
            by_signed: [(-5, ())].into_iter().collect(),
            variants: (
                Variant::Plain,
                Variant::Wrapped(-3),
                Variant::Pair(1, '"'),
                Variant::Named { on: true },
            ),
            unit_struct: UnitStruct,
            newtype: Newtype("n"),
            skipped: Skipping {
                kept: 1,
                gone: None,
            },
        };
        same(&everything);
        same(&Bytes(&[0, 1, 255]));
        same(&Shown);
        for n in [0u64, 9, 10, 99, 100, 4_294_967_295, 4_294_967_296, u64::MAX] {
            same(&n);
        }
        for n in [0i64, -1, -10, i64::MIN, i64::MAX, -4_294_967_296] {
            same(&n);
        }
    }
}
