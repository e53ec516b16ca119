//! Codec throughput against serde_json, in one criterion group so the numbers are comparable.
//!
//! - `ours/json/decode`: [`JsonCodec::decode`] of a 104-byte request, `data` borrowed.
//! - `serde_json/decode`: `serde_json::from_slice` of the same bytes into a borrowing struct
//!   with `data` as a `&RawValue` (the closest serde_json gets to what the envelope does).
//! - `ours/json/encode`: [`JsonCodec::encode`] of the response echoing that `data`.
//! - `serde_json/encode`: `serde_json::to_writer` of the same response into a reused `Vec`.
//! - `ours/postcard/decode` and `ours/postcard/encode`: the same exchange in postcard.
//!
//! Run with `cargo bench -p protocol-core --bench codec`; see `docs/benchmarks.md`.

mod inputs;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use inputs::{REQUEST, Req};
use protocol_core::{Codec, Frame, JsonCodec, PostcardCodec};

fn codecs(c: &mut Criterion) {
    assert_eq!(REQUEST.len(), 104);
    let mut group = c.benchmark_group("codec");

    // --- JSON decode ---------------------------------------------------------------------
    group.bench_function("ours/json/decode", |b| {
        b.iter(|| JsonCodec::decode(black_box(REQUEST)));
    });
    group.bench_function("serde_json/decode", |b| {
        b.iter(|| serde_json::from_slice::<Req<'_>>(black_box(REQUEST)).ok());
    });

    // --- JSON encode of the response -----------------------------------------------------
    let (response, resp) = inputs::responses();

    let mut ours = [0u8; 256];
    let mut theirs = Vec::with_capacity(256);
    let n = JsonCodec::encode(&response, &mut ours).expect("the response fits");
    serde_json::to_writer(&mut theirs, &resp).expect("serde_json writes the response");
    assert_eq!(
        &ours[..n],
        &theirs[..],
        "both encoders write the same bytes"
    );

    group.bench_function("ours/json/encode", |b| {
        b.iter(|| JsonCodec::encode(black_box(&response), black_box(&mut ours)));
    });
    group.bench_function("serde_json/encode", |b| {
        b.iter(|| {
            theirs.clear();
            serde_json::to_writer(black_box(&mut theirs), black_box(&resp)).ok()
        });
    });

    // --- postcard decode and encode ------------------------------------------------------
    let mut postcard_request = [0u8; 128];
    let postcard_request = inputs::postcard_request(&mut postcard_request);
    let Ok(Frame::Request { id, data, .. }) = PostcardCodec::decode(postcard_request) else {
        panic!("the postcard request decodes");
    };
    let postcard_response = Frame::Response { id, data };
    let mut out = [0u8; 256];

    group.bench_function("ours/postcard/decode", |b| {
        b.iter(|| PostcardCodec::decode(black_box(postcard_request)));
    });
    group.bench_function("ours/postcard/encode", |b| {
        b.iter(|| PostcardCodec::encode(black_box(&postcard_response), black_box(&mut out)));
    });

    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);
