//! One codec operation repeated `N` times, for counting instructions with callgrind
//! (`scripts/codec-instructions.sh` runs it with N = 0 and N = 10,000 and divides the
//! difference): the deterministic companion of `benches/codec.rs`, same inputs.
//!
//! `cargo run --release -p protocol-core --example codec_instructions -- OP N`, OP one of
//! `ours-json-decode`, `serde-json-decode`, `ours-json-encode`, `serde-json-encode`,
//! `ours-postcard`.

#[path = "../benches/inputs/mod.rs"]
mod inputs;

use std::hint::black_box;

use inputs::{REQUEST, Req};
use protocol_core::{Codec, Frame, JsonCodec, PostcardCodec};

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("an operation");
    let n: usize = args.next().expect("a count").parse().expect("a number");
    let (response, resp) = inputs::responses();
    let mut post = [0u8; 128];
    let post = inputs::postcard_request(&mut post);
    let mut out = [0u8; 256];
    let mut vec = Vec::with_capacity(256);
    for _ in 0..n {
        match op.as_str() {
            "ours-json-decode" => {
                black_box(JsonCodec::decode(black_box(REQUEST)).is_ok());
            }
            "serde-json-decode" => {
                black_box(serde_json::from_slice::<Req<'_>>(black_box(REQUEST)).is_ok());
            }
            "ours-json-encode" => {
                black_box(JsonCodec::encode(black_box(&response), &mut out).ok());
            }
            "serde-json-encode" => {
                vec.clear();
                black_box(serde_json::to_writer(&mut vec, black_box(&resp)).is_ok());
            }
            "ours-postcard" => {
                if let Ok(Frame::Request { id, data, .. }) = PostcardCodec::decode(black_box(post))
                {
                    let reply = Frame::Response { id, data };
                    black_box(PostcardCodec::encode(&reply, &mut out).ok());
                }
            }
            other => panic!("unknown operation {other}"),
        }
    }
}
