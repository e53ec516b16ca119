//! Seed 002's wire format (socketsundso): `{"type": <handler>, ...parameters}` in,
//! `{"type": ..., ...fields}` out, and `{"errors": [{"loc", "msg", "type"}]}` for what does
//! not fit. A handler's parameters are its data type, without the `type` member, and
//! unknown members are refused by `#[serde(deny_unknown_fields)]`.
//!
//! `cargo run -p transport-std --example seed002 -- [--listen ADDR]`, at `/ws`.
//!
//! Deliberate differences from the seed: replies are compact JSON (the seed's Starlette
//! 0.17 wrote `", "` and `": "`); error entries keep pydantic v1's `loc` and `type` but
//! serde's `msg`; no lax coercion (`"2"` is not an integer); malformed JSON, a JSON array, a
//! binary frame and a failing handler are answered with `errors` and the connection stays
//! open (the seed closes with 1003 or drops the connection).

use protocol_core::dispatch::{Discriminator, RouteError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use transport_std::free::{DataErrorKind, FreeError, Incoming, Json, PathSegment};
use transport_std::{App, HandlerError};

/// The handler's name is in `type`; its parameters are the rest of the object.
pub const TYPE: Discriminator<'static> = Discriminator::whole("type");

/// The handlers, in registration order.
pub const HANDLERS: [&str; 4] = ["add", "boom", "nothing", "message"];

/// `message(message: str)`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The text to echo.
    pub message: String,
}

/// `add(a: int, b: int = 0)`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Add {
    /// First term.
    pub a: i64,
    /// Second term.
    #[serde(default)]
    pub b: i64,
}

/// No parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// `message`'s reply: `{"type":"message","echo":...}`.
#[derive(Serialize)]
pub struct Echoed {
    /// Always `message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The text.
    pub echo: String,
}

/// `add`'s response model: `{"type":"sum_result","result":...}`.
#[derive(Serialize)]
pub struct SumResult {
    /// Always `sum_result`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The sum.
    pub result: i64,
}

async fn message(m: Message) -> Result<Json<Echoed>, HandlerError> {
    Ok(Json(Echoed {
        kind: "message",
        echo: m.message,
    }))
}

async fn add(add: Add) -> Result<Json<SumResult>, HandlerError> {
    Ok(Json(SumResult {
        kind: "sum_result",
        result: add.a + add.b,
    }))
}

async fn nothing(_: NoParams) -> Result<(), HandlerError> {
    Ok(())
}

async fn boom(_: NoParams) -> Result<(), HandlerError> {
    Err(HandlerError::internal("boom"))
}

fn entry(loc: Value, msg: &str, kind: &str) -> Value {
    json!({"loc": loc, "msg": msg, "type": kind})
}

/// pydantic v1's error type for serde's "expected ..." message.
fn type_error(message: &str) -> &'static str {
    let expected = message.rsplit("expected ").next().unwrap_or("");
    if expected.starts_with('i') || expected.starts_with('u') {
        "type_error.integer"
    } else if expected.starts_with("a string") {
        "type_error.str"
    } else {
        "type_error"
    }
}

/// `{"errors": [...]}` for everything that was not handled.
pub async fn errors(incoming: Incoming, error: FreeError) -> Json<Value> {
    let entry = match error {
        FreeError::Route(RouteError::UnknownKey) => {
            let given = serde_json::from_slice::<Value>(incoming.as_bytes())
                .ok()
                .and_then(|v| v.get("type").cloned())
                .unwrap_or(Value::Null);
            let permitted: Vec<String> = HANDLERS.iter().map(|h| format!("'{h}'")).collect();
            let mut e = entry(
                json!(["type"]),
                &format!("unexpected value; permitted: {}", permitted.join(", ")),
                "value_error.const",
            );
            e["ctx"] = json!({"given": given, "permitted": HANDLERS});
            e
        }
        FreeError::Route(RouteError::MissingKey) => {
            entry(json!(["type"]), "field required", "value_error.missing")
        }
        FreeError::Route(RouteError::KeyNotString) => {
            entry(json!(["type"]), "str type expected", "type_error.str")
        }
        FreeError::Route(RouteError::Invalid(protocol_core::DecodeError::NotAnObject)) => {
            entry(json!([]), "value is not a valid dict", "type_error.dict")
        }
        FreeError::Route(error) => entry(json!([]), &error.to_string(), "value_error.jsondecode"),
        FreeError::Data(data) => {
            let kind = match data.kind {
                DataErrorKind::Missing => "value_error.missing",
                DataErrorKind::Unknown => "value_error.extra",
                _ => type_error(&data.message),
            };
            let loc: Vec<PathSegment> = data.path;
            entry(json!(loc), &data.message, kind)
        }
        FreeError::Binary => entry(json!([]), "binary frames are not read", "type_error.binary"),
        other => entry(json!([]), &other.to_string(), "internal_error"),
    };
    Json(json!({ "errors": [entry] }))
}

/// The endpoint at `/ws`.
pub fn app() -> App<()> {
    App::new("/ws")
        .dispatch_by(TYPE)
        .strip_discriminator()
        .on("add", add)
        .on("boom", boom)
        .on("nothing", nothing)
        .on("message", message)
        .fallback(errors)
}

#[cfg(not(test))]
mod common;

#[cfg(not(test))]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (listen, _) = common::parse_args(8002, &[]);
    common::serve(listen, app(), "seed 002 endpoint").await
}
