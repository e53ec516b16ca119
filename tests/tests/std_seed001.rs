//! Seed 001's recorded exchanges (`fastapi-ws-router`, A.2 of the seed reference) replayed
//! against `transport-std/examples/seed001.rs` over loopback WebSockets, one connection per
//! case. Success paths must be equal (text, or JSON values); fallback reports must have
//! the same `type` and `loc` per entry. Where the seed drops the connection we answer and
//! stay open: those cases are listed in `DIFFERENCES` and checked explicitly.

mod std_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../../transport-std/examples/seed001.rs"]
mod seed001;

use serde_json::{Value, json};
use std_support::{
    Received, SeedReplay, TestServer, close, connect, recv_data, replay_recording, send_text,
};
use transport_std::ServerConfig;

/// A.2, `/ws` (default router: no fallback).
const DEFAULT_ROUTER: &str = r#"
### message-ok
  > T {"action":"message","message":"hi"}
  < T Got message: hi
### activity-ok
  > T {"action":"activity","activity":"typing"}
  < T Got activity: typing
### unknown-action
  > T {"action":"nope"}
  > T {"action":"message","message":"still alive?"}
  < T Got message: still alive?
### missing-field
  > T {"action":"message"}
### extra-field
  > T {"action":"message","message":"hi","x":1}
  < T Got message: hi
### malformed-json
  > T {bad
  > T {"action":"message","message":"still alive?"}
  < T Got message: still alive?
### json-array
  > T [1,2]
### binary-frame
  > B b'{"action":"message","message":"bin"}'
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### handler-exception
  > T {"action":"boom"}
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### client-close
  > T {"action":"message","message":"bye"}
  < T Got message: bye
  > CLOSE 1000
"#;

/// A.2, `/wsfb` (a fallback that sends a JSON report).
const REPORTING_ROUTER: &str = r#"
### message-ok
  > T {"action":"message","message":"hi"}
  < T Got message: hi
### activity-ok
  > T {"action":"activity","activity":"typing"}
  < T Got activity: typing
### unknown-action
  > T {"action":"nope"}
  < T {"fallback":true,"error":"ValidationError","detail":[{"type":"union_tag_invalid","loc":[],"msg":"Input tag 'nope' found using 'action' does not match any of the expected tags: 'message', 'activity', 'boom'","input":{"action":"nope"},"ctx":{"discriminator":"'action'","tag":"nope","expected_tags":"'message', 'activity', 'boom'"}}]}
  > T {"action":"message","message":"still alive?"}
  < T Got message: still alive?
### missing-field
  > T {"action":"message"}
  < T {"fallback":true,"error":"ValidationError","detail":[{"type":"missing","loc":["message","message"],"msg":"Field required","input":{"action":"message"}}]}
### extra-field
  > T {"action":"message","message":"hi","x":1}
  < T Got message: hi
### malformed-json
  > T {bad
  < T {"fallback":true,"error":"ValidationError","detail":[{"type":"json_invalid","loc":[],"msg":"Invalid JSON: key must be a string at line 1 column 2","input":"{bad","ctx":{"error":"key must be a string at line 1 column 2"}}]}
  > T {"action":"message","message":"still alive?"}
  < T Got message: still alive?
### json-array
  > T [1,2]
  < T {"fallback":true,"error":"ValidationError","detail":[{"type":"dict_type","loc":[],"msg":"Input should be an object","input":[1,2]}]}
### binary-frame
  > B b'{"action":"message","message":"bin"}'
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### handler-exception
  > T {"action":"boom"}
  CLOSED (no close frame received) ConnectionClosedError(None, None, None)
### client-close
  > T {"action":"message","message":"bye"}
  < T Got message: bye
  > CLOSE 1000
"#;

/// Where the seed drops the connection: what we answer instead (`None`: nothing, the
/// connection stays open), per router.
fn difference(reporting: bool, case: &str) -> Option<Option<Value>> {
    let answer = |kind: &str| reporting.then(|| json!({"detail": [{"type": kind, "loc": []}]}));
    match case {
        "binary-frame" => Some(answer("binary_frame")),
        "handler-exception" => Some(answer("handler_error")),
        _ => None,
    }
}

const PROBE: &str = r#"{"action":"message","message":"probe"}"#;
const PROBE_REPLY: &str = "Got message: probe";

/// `type` and `loc` of each entry of a report.
fn shape(report: &Value) -> Vec<(Value, Value)> {
    report["detail"]
        .as_array()
        .expect("a detail list")
        .iter()
        .map(|e| (e["type"].clone(), e["loc"].clone()))
        .collect()
}

fn check(case: &str, recorded: &str, got: &Received) {
    let Received::Text(got) = got else {
        panic!("{case}: expected {recorded}, got {got:?}");
    };
    match serde_json::from_str::<Value>(recorded) {
        Ok(recorded) if recorded.get("detail").is_some() => {
            let got: Value = serde_json::from_str(got).expect("a JSON report");
            assert_eq!(got["fallback"], json!(true), "{case}");
            assert_eq!(got["error"], recorded["error"], "{case}");
            assert_eq!(shape(&got), shape(&recorded), "{case}: {got}");
        }
        _ => assert_eq!(got, recorded, "{case}"),
    }
}

/// Seed 001's side of [`replay_recording`].
struct Seed001 {
    reporting: bool,
}

impl SeedReplay for Seed001 {
    const PROBE: (&'static str, &'static str) = (PROBE, PROBE_REPLY);

    fn answer<'a>(&mut self, _case: &str, _n: usize, recorded: &'a str) -> Option<&'a str> {
        Some(recorded)
    }

    fn check(&self, case: &str, expected: &str, got: &Received) {
        check(case, expected, got);
    }

    fn difference(&mut self, case: &str) -> Option<Option<Value>> {
        difference(self.reporting, case)
    }

    fn check_report(&self, case: &str, expected: &Value, got: &Value) {
        assert_eq!(shape(got), shape(expected), "{case}: {got}");
    }
}

async fn replay(reporting: bool, recording: &str) {
    let server = TestServer::start(seed001::app(reporting), ServerConfig::new()).await;
    replay_recording(&server, recording, &mut Seed001 { reporting }).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_router_replays_a2() {
    replay(false, DEFAULT_ROUTER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reporting_fallback_replays_a2() {
    replay(true, REPORTING_ROUTER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_dispatcher_routes_plain_text() {
    use protocol_core::Data;
    use protocol_core::connection::RouteId;
    use protocol_core::dispatch::{Dispatcher, RouteError};

    /// `say <json>` goes to route 0 with the JSON as data.
    struct Prefix;
    impl Dispatcher for Prefix {
        fn dispatch<'m>(&self, message: &'m [u8]) -> Result<(RouteId, Data<'m>), RouteError> {
            match message.strip_prefix(b"say ") {
                Some(rest) => Ok((RouteId(0), Data::new(rest))),
                None => Err(RouteError::UnknownKey),
            }
        }
    }
    async fn say(text: String) -> Result<String, transport_std::HandlerError> {
        Ok(format!("said {text}"))
    }
    let app = transport_std::App::<()>::new("/ws")
        .dispatch_by(seed001::ACTION)
        .on("say", say)
        .dispatcher(Prefix)
        .fallback(
            |incoming: transport_std::free::Incoming, error| async move {
                format!("fallback {:?}: {error}", incoming.as_str().unwrap_or(""))
            },
        );
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"say "hi""#).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text("said hi".into())
    );
    send_text(&mut client, "shout").await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"fallback "shout": no handler for this discriminator"#.into())
    );
    send_text(&mut client, "say 1").await;
    let Received::Text(text) = recv_data(&mut client).await else {
        panic!()
    };
    assert!(
        text.starts_with("fallback \"say 1\": invalid data"),
        "{text}"
    );
    close(&mut client, 1000).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_keep_arrival_order() {
    use transport_std::HandlerError;
    use transport_std::extract::Ctx;

    /// `slow` waits until `fast` has run.
    #[derive(Default)]
    struct Gate(tokio::sync::Notify);

    #[derive(serde::Deserialize)]
    struct Empty {}

    async fn slow(ctx: Ctx<Gate>, _: Empty) -> Result<String, HandlerError> {
        ctx.0.0.notified().await;
        Ok("slow".into())
    }
    async fn fast(ctx: Ctx<Gate>, _: Empty) -> Result<String, HandlerError> {
        ctx.0.0.notify_one();
        Ok("fast".into())
    }
    let app = transport_std::App::<Gate>::new("/ws")
        .dispatch_by(seed001::ACTION)
        .on("slow", slow)
        .on("fast", fast);
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"{"action":"slow"}"#).await;
    send_text(&mut client, r#"{"action":"fast"}"#).await;
    assert_eq!(recv_data(&mut client).await, Received::Text("slow".into()));
    assert_eq!(recv_data(&mut client).await, Received::Text("fast".into()));
    close(&mut client, 1000).await;
    server.stop().await;
}
