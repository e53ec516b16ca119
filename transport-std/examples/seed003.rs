//! Seed 003's wire format (extented-ws): `{"Type": <model>, "Data": {...}}` in, replies
//! `{"Type": <result>, "Data": ...}` out, text or binary frames.
//!
//! `cargo run -p transport-std --example seed003 -- [--listen ADDR]`, at `/ws`.
//!
//! Deliberate differences from the seed: one handler per `Type` (the seed runs every
//! handler whose model matches, in registration order; registering a second one panics
//! here); data that does not fit the model is answered
//! `{"Type":"ValidationError","Data":{"loc":[...],"type":...,"msg":...}}` and a failing
//! handler `{"Type":"HandlerException","Data":<reason>}`, and the connection stays open
//! (the seed closes with 1011).

use protocol_core::dispatch::{Discriminator, RouteError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use transport_std::free::{DataErrorKind, FreeError, Incoming, Json};
use transport_std::{App, HandlerError};

/// `Type` selects the handler, `Data` is its model.
pub const TYPE_DATA: Discriminator<'static> = Discriminator::member("Type", "Data");

/// A reply: `{"Type": kind, "Data": data}`.
#[derive(Serialize)]
pub struct Reply<T> {
    /// The result model's name.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The result.
    #[serde(rename = "Data")]
    pub data: T,
}

/// `CalculateRequest`.
#[derive(Deserialize)]
pub struct CalculateRequest {
    /// The numbers to add.
    pub numbers: Vec<i64>,
}

/// `CalculateResponse`.
#[derive(Serialize)]
pub struct CalculateResponse {
    /// Their sum.
    pub result: i64,
}

/// `Echo`, both ways.
#[derive(Serialize, Deserialize)]
pub struct Echo {
    /// Any text.
    pub text: String,
}

/// `Fail`.
#[derive(Deserialize)]
pub struct Fail {}

async fn calculate(
    request: CalculateRequest,
) -> Result<Json<Reply<CalculateResponse>>, HandlerError> {
    Ok(Json(Reply {
        kind: "CalculateResponse",
        data: CalculateResponse {
            result: request.numbers.iter().sum(),
        },
    }))
}

async fn echo(echo: Echo) -> Result<Json<Reply<Echo>>, HandlerError> {
    Ok(Json(Reply {
        kind: "Echo",
        data: echo,
    }))
}

async fn fail(_: Fail) -> Result<(), HandlerError> {
    Err(HandlerError::request("failed on purpose", "fail"))
}

/// What the seed answers and what it meant to answer: envelope errors are
/// `HandlerException` "Invalid message", unknown types are silent, the rest is reported.
pub async fn fallback(_: Incoming, error: FreeError) -> Option<Json<Value>> {
    let reply = |kind: &str, data: Value| Some(Json(json!({"Type": kind, "Data": data})));
    match error {
        FreeError::Route(RouteError::UnknownKey) => None,
        FreeError::Route(_) | FreeError::Binary => {
            reply("HandlerException", json!("Invalid message"))
        }
        FreeError::Data(data) => {
            let kind = match data.kind {
                DataErrorKind::Missing => "missing",
                DataErrorKind::Unknown => "extra_forbidden",
                _ => "type_error",
            };
            reply(
                "ValidationError",
                json!({"loc": data.path, "type": kind, "msg": data.message}),
            )
        }
        FreeError::Handler(HandlerError::Request { reason, .. }) => {
            reply("HandlerException", json!(reason))
        }
        _ => reply("HandlerException", json!("Internal error")),
    }
}

/// The server at `/ws`.
pub fn app() -> App<()> {
    App::new("/ws")
        .dispatch_by(TYPE_DATA)
        .accept_binary(true)
        .on("CalculateRequest", calculate)
        .on("Echo", echo)
        .on("Fail", fail)
        .fallback(fallback)
}

#[cfg(not(test))]
mod common;

#[cfg(not(test))]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (listen, _) = common::parse_args(8003, &[]);
    common::serve(listen, app(), "seed 003 server").await
}
