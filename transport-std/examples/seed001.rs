//! Seed 001's wire format (fastapi-ws-router): models told apart by an `action` member,
//! plain-text replies, and a fallback for what cannot be routed or validated.
//!
//! `cargo run -p transport-std --example seed001 -- [--fallback] [--listen ADDR]`: the
//! router at `/ws`; with `--fallback`, every message that is not handled is answered with
//! a JSON report (the seed's `/wsfb`); without it, such messages get no answer (the
//! seed's default).
//!
//! Deliberate differences from the seed: a binary frame and a failing handler are
//! reported to the fallback and the connection stays open (the seed drops the TCP
//! connection without a close frame).

use protocol_core::dispatch::{Discriminator, RouteError, discriminated};
use serde::Deserialize;
use serde_json::{Value, json};
use transport_std::free::{DataErrorKind, FreeError, Incoming, Json, PathSegment};
use transport_std::{App, HandlerError};

/// The discriminator member.
pub const ACTION: Discriminator<'static> = Discriminator::whole("action");

/// `{"action":"message","message":"hi"}`.
#[derive(Deserialize)]
pub struct MessageModel {
    /// The text.
    pub message: String,
}

/// `{"action":"activity","activity":"typing"}`.
#[derive(Deserialize)]
pub struct ActivityModel {
    /// What the user does.
    pub activity: String,
}

/// `{"action":"boom"}`.
#[derive(Deserialize)]
pub struct BoomModel {}

async fn message(m: MessageModel) -> Result<String, HandlerError> {
    Ok(format!("Got message: {}", m.message))
}

async fn activity(a: ActivityModel) -> Result<String, HandlerError> {
    Ok(format!("Got activity: {}", a.activity))
}

async fn boom(_: BoomModel) -> Result<(), HandlerError> {
    Err(HandlerError::internal("boom"))
}

/// The routed keys, for the report.
const TAGS: &str = "'message', 'activity', 'boom'";

/// The seed's reporting fallback: `{"fallback":true,"error":...,"detail":[{type, loc, msg}]}`.
pub async fn report(incoming: Incoming, error: FreeError) -> Json<Value> {
    let tag = discriminated(incoming.as_bytes(), &ACTION)
        .ok()
        .map(|d| d.key.to_string());
    let (kind, loc, msg): (&str, Vec<PathSegment>, String) = match &error {
        FreeError::Route(RouteError::Invalid(protocol_core::DecodeError::NotAnObject)) => {
            ("dict_type", Vec::new(), "Input should be an object".into())
        }
        FreeError::Route(RouteError::Invalid(e)) => {
            ("json_invalid", Vec::new(), format!("Invalid JSON: {e}"))
        }
        FreeError::Route(RouteError::MissingKey) => (
            "union_tag_not_found",
            Vec::new(),
            "Unable to extract tag using discriminator 'action'".into(),
        ),
        FreeError::Route(_) => (
            "union_tag_invalid",
            Vec::new(),
            format!(
                "Input tag '{}' found using 'action' does not match any of the expected tags: {TAGS}",
                tag.clone().unwrap_or_default()
            ),
        ),
        FreeError::Data(data) => {
            let mut loc: Vec<PathSegment> = tag.map(PathSegment::Field).into_iter().collect();
            loc.extend(data.path.iter().cloned());
            let kind = match data.kind {
                DataErrorKind::Missing => "missing",
                DataErrorKind::Unknown => "extra_forbidden",
                _ => "type_error",
            };
            (kind, loc, data.message.clone())
        }
        FreeError::Binary => (
            "binary_frame",
            Vec::new(),
            "binary frames are not routed".into(),
        ),
        other => ("handler_error", Vec::new(), other.to_string()),
    };
    let error_name = match error {
        FreeError::Route(_) | FreeError::Data(_) => "ValidationError",
        FreeError::Binary => "ProtocolError",
        _ => "HandlerError",
    };
    Json(json!({
        "fallback": true,
        "error": error_name,
        "detail": [{"type": kind, "loc": loc, "msg": msg}],
    }))
}

/// The router at `/ws`; `fallback` adds the reporting fallback.
pub fn app(fallback: bool) -> App<()> {
    let app = App::new("/ws")
        .dispatch_by(ACTION)
        .on("message", message)
        .on("activity", activity)
        .on("boom", boom);
    if fallback { app.fallback(report) } else { app }
}

#[cfg(not(test))]
mod common;

#[cfg(not(test))]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (listen, flags) = common::parse_args(8001, &["--fallback"]);
    common::serve(
        listen,
        app(flags.contains(&"--fallback")),
        "seed 001 router",
    )
    .await
}
