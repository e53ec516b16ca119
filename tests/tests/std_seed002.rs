//! Seed 002's recorded exchanges (`socketsundso`, A.3 of the seed reference) replayed
//! against `transport-std/examples/seed002.rs` over loopback WebSockets, one connection per
//! case. Replies are compared as JSON values (the seed's spaced JSON is not reproduced);
//! `errors` replies by `loc` and `type` of each entry. Deliberate differences: no lax
//! coercion (`replaced`), and where the seed closes or drops the connection we answer with
//! `errors` and stay open (`difference`).

mod std_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../transport-std/examples/seed002.rs"]
mod seed002;

use serde_json::{Value, json};
use std_support::{
    Received, SeedReplay, TestServer, close, connect, recv_data, replay_recording, send_text,
};
use transport_std::ServerConfig;

/// A.3 (Starlette 0.17.1).
const RECORDING: &str = r#"
### message-ok
  > T {"type":"message","message":"hi"}
  < T {"type": "message", "echo": "hi"}
### add-ok-response-model
  > T {"type":"add","a":2,"b":3}
  < T {"type": "sum_result", "result": 5}
### add-coercion-str-to-int
  > T {"type":"add","a":"2"}
  < T {"type": "sum_result", "result": 2}
### none-return-no-reply
  > T {"type":"nothing"}
### unknown-type
  > T {"type":"nope"}
  < T {"errors": [{"loc": ["type"], "msg": "unexpected value; permitted: 'add', 'boom', 'nothing', 'message'", "type": "value_error.const", "ctx": {"given": "nope", "permitted": ["add", "boom", "nothing", "message"]}}]}
  > T {"type":"message","message":"still alive?"}
  < T {"type": "message", "echo": "still alive?"}
### missing-type
  > T {"message":"hi"}
  < T {"errors": [{"loc": ["type"], "msg": "field required", "type": "value_error.missing"}]}
### missing-param
  > T {"type":"message"}
  < T {"errors": [{"loc": ["message"], "msg": "field required", "type": "value_error.missing"}]}
### extra-field-forbidden
  > T {"type":"message","message":"hi","x":1}
  < T {"errors": [{"loc": ["x"], "msg": "extra fields not permitted", "type": "value_error.extra"}]}
### wrong-param-type
  > T {"type":"add","a":"abc"}
  < T {"errors": [{"loc": ["a"], "msg": "value is not a valid integer", "type": "type_error.integer"}]}
### malformed-json
  > T {bad
  CLOSED by server: code=1003 reason=''
### json-array
  > T [1,2]
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### binary-frame
  > B b'{"type":"message","message":"bin"}'
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### handler-exception
  > T {"type":"boom"}
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### client-close
  > T {"type":"message","message":"bye"}
  < T {"type": "message", "echo": "bye"}
  > CLOSE 1000
"#;

/// pydantic's lax mode reads `"2"` as 2; serde does not: the string is refused.
fn replaced(case: &str, expect: usize) -> Option<&'static str> {
    (case == "add-coercion-str-to-int" && expect == 1)
        .then_some(r#"{"errors":[{"loc":["a"],"msg":"","type":"type_error.integer"}]}"#)
}

/// Where the seed closes or drops the connection: the `errors` we answer instead.
fn difference(case: &str) -> Option<Option<Value>> {
    let errors = |kind: &str| Some(Some(json!({"errors": [{"loc": [], "type": kind}]})));
    match case {
        "malformed-json" => errors("value_error.jsondecode"),
        "json-array" => errors("type_error.dict"),
        "binary-frame" => errors("type_error.binary"),
        "handler-exception" => errors("internal_error"),
        _ => None,
    }
}

const PROBE: &str = r#"{"type":"message","message":"probe"}"#;
const PROBE_REPLY: &str = r#"{"type":"message","echo":"probe"}"#;

/// `loc` and `type` of each entry of an `errors` reply.
fn shape(report: &Value) -> Vec<(Value, Value)> {
    report["errors"]
        .as_array()
        .expect("an errors list")
        .iter()
        .map(|e| (e["loc"].clone(), e["type"].clone()))
        .collect()
}

fn check(case: &str, recorded: &str, got: &Received) {
    let Received::Text(got) = got else {
        panic!("{case}: expected {recorded}, got {got:?}");
    };
    let recorded: Value = serde_json::from_str(recorded).expect("recorded JSON");
    let got: Value = serde_json::from_str(got).expect("JSON");
    if recorded.get("errors").is_some() {
        assert_eq!(shape(&got), shape(&recorded), "{case}: {got}");
        if case == "unknown-type" {
            assert_eq!(got["errors"][0]["ctx"], recorded["errors"][0]["ctx"]);
            assert_eq!(got["errors"][0]["msg"], recorded["errors"][0]["msg"]);
        }
    } else {
        assert_eq!(got, recorded, "{case}");
    }
}

/// Seed 002's side of [`replay_recording`]. Counts the messages we answer with an `errors`
/// report: each is counted in the server's `errors`.
struct Seed002 {
    refused: u64,
}

impl SeedReplay for Seed002 {
    const PROBE: (&'static str, &'static str) = (PROBE, PROBE_REPLY);

    fn answer<'a>(&mut self, case: &str, n: usize, recorded: &'a str) -> Option<&'a str> {
        let ours = replaced(case, n).unwrap_or(recorded);
        if ours.starts_with(r#"{"errors""#) {
            self.refused += 1;
        }
        Some(ours)
    }

    fn check(&self, case: &str, expected: &str, got: &Received) {
        check(case, expected, got);
    }

    fn difference(&mut self, case: &str) -> Option<Option<Value>> {
        let ours = difference(case);
        if matches!(ours, Some(Some(_))) {
            self.refused += 1;
        }
        ours
    }

    fn check_report(&self, case: &str, expected: &Value, got: &Value) {
        assert_eq!(shape(got), shape(expected), "{case}: {got}");
    }
}

async fn replay(recording: &str) {
    let server = TestServer::start(seed002::app(), ServerConfig::new()).await;
    let mut seed = Seed002 { refused: 0 };
    replay_recording(&server, recording, &mut seed).await;
    let stats = server.stop().await.stats();
    assert!(seed.refused >= 5, "the recording has refusals");
    assert_eq!(stats.errors, seed.refused, "free-form failures are counted");
    assert_eq!(stats.panics, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_replays_a3() {
    replay(RECORDING).await;
}

/// A free-form handler that panics: the fallback answers, and the server counts the panic
/// and the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_free_form_handler_is_counted() {
    async fn panics(_: seed002::NoParams) -> Result<(), transport_std::HandlerError> {
        panic!("a handler bug");
    }
    let app = seed002::app().on("panic", panics);
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.expect("connect");
    send_text(&mut client, r#"{"type":"panic"}"#).await;
    let Received::Text(report) = recv_data(&mut client).await else {
        panic!("no report")
    };
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["errors"][0]["type"], "internal_error", "{report}");
    send_text(&mut client, PROBE).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(PROBE_REPLY.into())
    );
    close(&mut client, 1000).await;
    let stats = server.stop().await.stats();
    // Two messages handed to handlers, one of them failed.
    assert_eq!((stats.requests, stats.errors, stats.panics), (2, 1, 1));
}
