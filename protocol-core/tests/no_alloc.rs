//! Decoding and encoding never touch the heap: a counting global allocator proves it.

use protocol_core::{Codec, Data, ErrorBody, Frame, JsonCodec, PostcardCodec, Str, Typed};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Move {
    x: i32,
    y: i32,
    name: heapless::String<16>,
}

const REQUEST: &[u8] =
    br#"{"id":"42","type":"request","endpoint":"echo","data":{"msg":"hello, world","n":42,"tags":["a","b","c"]}}"#;
const ESCAPED: &[u8] = br#"{"id":"\u00e9","type":"request","endpoint":"m\u006fve","data":{"x":1,"y":-2,"name":"a\"b"}}"#;

fn exercise<C: Codec>(request: &[u8]) -> usize {
    let mut out = [0u8; 512];
    let mut total = 0;
    let frame = C::decode(request).unwrap();
    let Frame::Request { id, data, .. } = frame else {
        panic!()
    };
    total += C::encode(&Frame::Response { id, data }, &mut out).unwrap();
    let error = ErrorBody::new("Not your turn", "not-your-turn");
    let failed: Frame<'_, Data<'_>> = Frame::ResponseError { id, error };
    total += C::encode(&failed, &mut out).unwrap();
    total += C::encode(
        &Frame::Event {
            kind: Str::new("error"),
            data: error,
        },
        &mut out,
    )
    .unwrap();
    let typed = Move {
        x: 1,
        y: 2,
        name: "n".try_into().unwrap(),
    };
    total += C::encode(
        &Frame::Response {
            id,
            data: Typed(&typed),
        },
        &mut out,
    )
    .unwrap();
    let _ = C::decode(b"{bad").unwrap_err();
    total
}

#[test]
fn decode_and_encode_do_not_allocate() {
    // Built outside the measured region.
    let mut postcard_request = [0u8; 128];
    let typed = Move {
        x: 1,
        y: -2,
        name: "a\"b".try_into().unwrap(),
    };
    let frame = Frame::Request {
        id: Str::new("é"),
        endpoint: Str::new("move"),
        data: Typed(&typed),
    };
    let n = PostcardCodec::encode(&frame, &mut postcard_request).unwrap();

    let info = allocation_counter::measure(|| {
        assert!(exercise::<JsonCodec>(REQUEST) > 0);
        assert!(exercise::<JsonCodec>(ESCAPED) > 0);
        assert!(exercise::<PostcardCodec>(&postcard_request[..n]) > 0);
        let Frame::Request { data, .. } = JsonCodec::decode(ESCAPED).unwrap() else {
            panic!()
        };
        assert_eq!(data.decode::<JsonCodec, Move>().unwrap(), typed);
        let Frame::Request { data, .. } = PostcardCodec::decode(&postcard_request[..n]).unwrap()
        else {
            panic!()
        };
        assert_eq!(data.decode::<PostcardCodec, Move>().unwrap(), typed);
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn the_counter_sees_allocations() {
    // The proof above means something only if the counter counts.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(info.count_total, 1);
}
