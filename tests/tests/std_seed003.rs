//! Seed 003's recorded exchanges (`extented-ws`, A.4 of the seed reference) replayed against
//! `transport-std/examples/seed003.rs` over loopback WebSockets, one connection per case.
//! Replies must be equal JSON values. Deliberate differences: one handler per `Type` (the
//! seed's second `CalculateResponse` is not sent: `SKIPPED`), and where the seed closes with
//! 1011 we answer and stay open (`difference`).

mod std_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../transport-std/examples/seed003.rs"]
mod seed003;

use serde_json::{Value, json};
use std_support::{
    Received, SeedReplay, TestServer, close, connect, recv_data, replay_recording, send_text,
};
use transport_std::ServerConfig;

/// A.4, plain protocol (websockets 12.0).
const RECORDING: &str = r#"
### calc-ok-two-handlers
  > T {"Type":"CalculateRequest","Data":{"numbers":[2,2]}}
  < T {"Type":"CalculateResponse","Data":{"result":4}}
  < T {"Type":"CalculateResponse","Data":{"result":8}}
### sync-handler-echo
  > T {"Type":"Echo","Data":{"text":"héllo"}}
  < T {"Type":"Echo","Data":{"text":"héllo"}}
### unknown-type-silent
  > T {"Type":"Nope","Data":{}}
  > T {"Type":"Echo","Data":{"text":"alive?"}}
  < T {"Type":"Echo","Data":{"text":"alive?"}}
### lowercase-keys
  > T {"type":"Echo","data":{"text":"x"}}
  < T {"Type":"HandlerException","Data":"Invalid message"}
### malformed-json
  > T {bad
  < T {"Type":"HandlerException","Data":"Invalid message"}
  > T {"Type":"Echo","Data":{"text":"alive?"}}
  < T {"Type":"Echo","Data":{"text":"alive?"}}
### data-validation-error
  > T {"Type":"CalculateRequest","Data":{"numbers":"abc"}}
  CLOSED by server: code=1011 reason=''
### data-not-object
  > T {"Type":"Echo","Data":[1]}
  CLOSED by server: code=1011 reason=''
### handler-exception
  > T {"Type":"Fail","Data":{}}
  CLOSED by server: code=1011 reason=''
### binary-frame
  > B b'{"Type":"Echo","Data":{"text":"bin"}}'
  < T {"Type":"Echo","Data":{"text":"bin"}}
"#;

/// The seed runs both matching handlers; we run one (the first registered).
fn skipped(case: &str, expect: usize) -> bool {
    case == "calc-ok-two-handlers" && expect == 2
}

/// Where the seed closes with 1011: what we answer instead.
fn difference(case: &str) -> Option<Option<Value>> {
    let validation =
        |loc: Value| json!({"Type": "ValidationError", "Data": {"type": "type_error", "loc": loc}});
    match case {
        "data-validation-error" => Some(Some(validation(json!(["numbers"])))),
        // serde's derived structs also read an array, in field order: `[1]` fails at its
        // first element (`text` is a string).
        "data-not-object" => Some(Some(validation(json!([0])))),
        "handler-exception" => Some(Some(
            json!({"Type": "HandlerException", "Data": {"type": null, "loc": null}}),
        )),
        _ => None,
    }
}

const PROBE: &str = r#"{"Type":"Echo","Data":{"text":"probe"}}"#;
const PROBE_REPLY: &str = r#"{"Type":"Echo","Data":{"text":"probe"}}"#;

/// `Type`, and `type` and `loc` of a validation report.
fn shape(report: &Value) -> (Value, Value, Value) {
    (
        report["Type"].clone(),
        report["Data"]["type"].clone(),
        report["Data"]["loc"].clone(),
    )
}

fn check(case: &str, recorded: &str, got: &Received) {
    let Received::Text(got) = got else {
        panic!("{case}: expected {recorded}, got {got:?}");
    };
    let recorded: Value = serde_json::from_str(recorded).expect("recorded JSON");
    let got: Value = serde_json::from_str(got).expect("JSON");
    assert_eq!(got, recorded, "{case}");
}

/// Seed 003's side of [`replay_recording`].
struct Seed003;

impl SeedReplay for Seed003 {
    const PROBE: (&'static str, &'static str) = (PROBE, PROBE_REPLY);

    fn answer<'a>(&mut self, case: &str, n: usize, recorded: &'a str) -> Option<&'a str> {
        (!skipped(case, n)).then_some(recorded)
    }

    fn check(&self, case: &str, expected: &str, got: &Received) {
        check(case, expected, got);
    }

    fn difference(&mut self, case: &str) -> Option<Option<Value>> {
        difference(case)
    }

    fn check_report(&self, case: &str, expected: &Value, got: &Value) {
        assert_eq!(shape(got), shape(expected), "{case}: {got}");
    }
}

async fn replay(recording: &str) {
    let server = TestServer::start(seed003::app(), ServerConfig::new()).await;
    replay_recording(&server, recording, &mut Seed003).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed003_replays_a4() {
    replay(RECORDING).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_answered_with_its_reason() {
    let server = TestServer::start(seed003::app(), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"{"Type":"Fail","Data":{}}"#).await;
    let Received::Text(text) = recv_data(&mut client).await else {
        panic!()
    };
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        json!({"Type": "HandlerException", "Data": "failed on purpose"})
    );
    close(&mut client, 1000).await;
    server.stop().await;
}
