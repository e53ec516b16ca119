//! Seed 003's recorded exchanges (`extented-ws`, A.4 of the seed reference) replayed against
//! `transport-std/examples/seed003.rs` over loopback WebSockets, one connection per case.
//! Replies must be equal JSON values. Deliberate differences: one handler per `Type` (the
//! seed's second `CalculateResponse` is not sent: `SKIPPED`), and where the seed closes with
//! 1011 we answer and stay open (`difference`).

mod std_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../transport-std/examples/seed003.rs"]
mod seed003;

use futures_util::SinkExt;
use serde_json::{Value, json};
use std_support::{
    Client, Received, RecordedStep, TestServer, close, connect, guard, parse_recording, recv_data,
    send_text,
};
use tokio_tungstenite::tungstenite::Message;
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

async fn alive(case: &str, client: &mut Client) {
    send_text(client, PROBE).await;
    assert_eq!(
        recv_data(client).await,
        Received::Text(PROBE_REPLY.into()),
        "{case}: the connection is open and nothing else came"
    );
}

async fn replay(recording: &str) {
    let server = TestServer::start(seed003::app(), ServerConfig::new()).await;
    for (case, steps) in parse_recording(recording) {
        let mut expected = 0;
        let mut client = connect(&server.url("/ws")).await.expect("connect");
        let mut closed = false;
        for step in &steps {
            match step {
                RecordedStep::Text(text) => send_text(&mut client, text).await,
                RecordedStep::Binary(bytes) => {
                    guard("send", client.send(Message::binary(bytes.clone())))
                        .await
                        .expect("send");
                }
                RecordedStep::Expect(text) => {
                    expected += 1;
                    if !skipped(&case, expected) {
                        check(&case, text, &recv_data(&mut client).await);
                    }
                }
                RecordedStep::Close(code) => {
                    close(&mut client, *code).await;
                    assert_eq!(
                        recv_data(&mut client).await,
                        Received::Close(Some((*code, String::new())))
                    );
                    closed = true;
                }
                RecordedStep::Dropped => {
                    let ours = difference(&case)
                        .unwrap_or_else(|| panic!("{case}: an undocumented difference"));
                    if let Some(report) = ours {
                        let got = recv_data(&mut client).await;
                        let Received::Text(got) = got else {
                            panic!("{case}: {got:?}")
                        };
                        let got: Value = serde_json::from_str(&got).unwrap();
                        assert_eq!(shape(&got), shape(&report), "{case}: {got}");
                    }
                }
            }
        }
        if !closed {
            alive(&case, &mut client).await;
            close(&mut client, 1000).await;
        }
    }
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
