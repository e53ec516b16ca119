//! The inputs of the codec benchmark (`benches/codec.rs`) and of its instruction count
//! (`examples/codec_instructions.rs`): one request, serde_json's closest equivalents of the
//! envelope, and the same exchange in postcard.

#![allow(dead_code, unreachable_pub)] // Each includer uses its own part, through its own paths.

use protocol_core::{Codec, Data, Frame, JsonCodec, PostcardCodec, Str};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A 104-byte request.
pub const REQUEST: &[u8] = br#"{"id":"42","type":"request","endpoint":"echo","data":{"msg":"hello, world","n":42,"tags":["a","b","c"]}}"#;

/// The request as serde_json reads it, all borrowed, `data` raw.
#[derive(Deserialize)]
pub struct Req<'a> {
    #[serde(borrow)]
    pub id: &'a str,
    #[allow(dead_code)] // Read to match the work the envelope does, never used.
    pub r#type: &'a str,
    #[serde(borrow)]
    pub endpoint: &'a str,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

/// The response echoing `data`, as serde_json writes it.
#[derive(Serialize)]
pub struct Resp<'a> {
    pub id: &'a str,
    pub r#type: &'a str,
    pub data: &'a RawValue,
}

/// The response echoing the request's `data`: ours (decoded with [`JsonCodec`]), and
/// serde_json's equivalent.
pub fn responses() -> (Frame<'static>, Resp<'static>) {
    let Ok(Frame::Request { id, data, .. }) = JsonCodec::decode(REQUEST) else {
        panic!("the request decodes");
    };
    let req: Req<'_> = serde_json::from_slice(REQUEST).expect("serde_json reads the request");
    assert_eq!(req.endpoint, "echo");
    let resp = Resp {
        id: req.id,
        r#type: "response",
        data: req.data,
    };
    (Frame::Response { id, data }, resp)
}

/// The postcard equivalent of the request's `data`.
#[derive(Serialize)]
struct Echo<'a> {
    msg: &'a str,
    n: u32,
    tags: [&'a str; 3],
}

/// The same request in postcard (30 bytes, `data` 20 of them), written into `buf`.
pub fn postcard_request(buf: &mut [u8; 128]) -> &[u8] {
    let mut value = [0u8; 64];
    let echo = Echo {
        msg: "hello, world",
        n: 42,
        tags: ["a", "b", "c"],
    };
    let value_len = PostcardCodec::encode_value(&echo, &mut value).expect("the value fits");
    assert_eq!(value_len, 20);
    let request = Frame::Request {
        id: Str::new("42"),
        endpoint: Str::new("echo"),
        data: Data::new(&value[..value_len]),
    };
    let len = PostcardCodec::encode(&request, buf).expect("the request fits");
    assert_eq!(len, 30);
    &buf[..len]
}
