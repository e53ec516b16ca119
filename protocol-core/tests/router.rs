//! The typed router end to end, against serde_json as the reference: a `move` request whose
//! `data` is any object of `x`, `y` and other members is served exactly when serde_json reads
//! it as the endpoint's type from an object, with the handler's result as the response's
//! `data`; anything else gets `validation-error`; the answer always carries the request's id.

use proptest::prelude::*;
use protocol_core::connection::ServerReceived;
use protocol_core::endpoint::{Endpoint, EndpointFn, Handler, RequestError, Router};
use protocol_core::{Config, Instant, JsonCodec, MessageKind, ServerConnection, Transmit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Move {
    x: i64,
    y: i32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Moved {
    sum: i64,
}

struct MoveEndpoint;

impl Endpoint for MoveEndpoint {
    const NAME: &'static str = "move";
    type Request = Move;
    type Response = Moved;
}

fn play(m: Move) -> Result<Moved, RequestError> {
    Ok(Moved {
        sum: m.x.saturating_add(i64::from(m.y)),
    })
}

/// A member value: integers in and out of range, floats, strings, literals, containers.
fn member_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        Just("9223372036854775808".to_owned()),
        Just("-2147483649".to_owned()),
        Just("1.5".to_owned()),
        Just("1e2".to_owned()),
        Just("-0".to_owned()),
        Just("\"7\"".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[1,2]".to_owned()),
        Just("{\"x\":1}".to_owned()),
    ]
}

/// `data`: an object of some of `x`, `y`, an escaped `x` and unknown members, in any order
/// and with duplicates, or now and then not an object.
fn data() -> impl Strategy<Value = String> {
    let member = (
        prop::sample::select(vec!["x", "y", "\\u0078", "z", "xy"]),
        member_value(),
    );
    prop_oneof![
        8 => prop::collection::vec(member, 0..5).prop_map(|members| {
            let members: Vec<String> = members
                .into_iter()
                .map(|(k, v)| format!("\"{k}\" : {v}"))
                .collect();
            format!("{{{}}}", members.join(","))
        }),
        1 => member_value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn served_exactly_when_the_reference_reads_an_object(data in data()) {
        let handler = EndpointFn::<MoveEndpoint, _>::new(|_: &mut (), m| play(m));
        let handlers: [&dyn Handler<(), JsonCodec>; 1] = [&handler];
        let router = Router::new(&handlers);
        let now = Instant::ZERO;
        let mut conn: ServerConnection<JsonCodec> = ServerConnection::new(now, Config::new());
        conn.handle_upgrade(now).unwrap();
        conn.accept(now, JsonCodec).unwrap();
        let frame = format!(r#"{{"id":"r1","type":"request","endpoint":"move","data":{data}}}"#);
        let Ok(ServerReceived::Request(request)) =
            conn.handle_message(now, MessageKind::Text, frame.as_bytes(), &router)
        else {
            panic!("{frame}")
        };
        let (mut scratch, mut out) = ([0u8; 256], [0u8; 512]);
        let Transmit::Message { len, .. } = router
            .dispatch(&mut conn, now, &mut (), &request, &mut scratch, &mut out)
            .unwrap()
        else {
            panic!("not a message")
        };
        let answer: Value = serde_json::from_slice(&out[..len]).unwrap();
        prop_assert_eq!(&answer["id"], "r1");
        let reference = serde_json::from_str::<Move>(&data)
            .ok()
            .filter(|_| data.trim_start().starts_with('{'));
        match reference {
            Some(m) => {
                prop_assert_eq!(&answer["type"], "response", "{}", data);
                let served: Moved = serde_json::from_value(answer["data"].clone()).unwrap();
                prop_assert_eq!(served, play(m).unwrap());
            }
            None => {
                prop_assert_eq!(&answer["type"], "response.error", "{}", data);
                prop_assert_eq!(&answer["data"]["code"], "validation-error");
            }
        }
        prop_assert_eq!(conn.in_flight(), 0);
    }
}
