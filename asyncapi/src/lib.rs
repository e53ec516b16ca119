//! AsyncAPI 3.0 documentation generated from the endpoint descriptions of `protocol-core`.
//!
//! The same [`Endpoint`] and [`EventType`] descriptions that type the router and the clients
//! produce the document, so it cannot drift from the server. Schemas come from `schemars`
//! (draft 07, as the AsyncAPI parser checks draft-07 keywords) and live under
//! `#/components/schemas`.
//!
//! The document describes the server application: it *receives* requests (one operation per
//! endpoint, with a `reply` carrying the response or the `response.error`, correlated by
//! `$message.payload#/id`) and *sends* events. Events a client may expect once connected are
//! listed on the channel (`x-quartet-on-connect`); events that may follow a request are listed
//! on its operation (`x-quartet-events`, as seed 001's `callbacks`).
//!
//! ```
//! use asyncapi::Api;
//! # use protocol_core::endpoint::Endpoint;
//! # struct Echo;
//! # impl Endpoint for Echo { const NAME: &'static str = "echo"; type Request = String; type Response = String; }
//! let doc = Api::new("Echo", "1.0.0").endpoint::<Echo>("Returns its data").document();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! ```
#![forbid(unsafe_code)]

mod html;

use protocol_core::connection::ErrorCode;
use protocol_core::endpoint::{Endpoint, EventType};
use protocol_core::limits::{MAX_ID_LEN, MAX_NAME_LEN};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// The channel every message travels on (one WebSocket).
const CHANNEL: &str = "quartet";

/// The error codes the core itself sends (`docs/spec.md` §5).
pub const CORE_ERROR_CODES: [ErrorCode; 6] = ErrorCode::ALL;

struct EndpointDoc {
    name: &'static str,
    summary: String,
    request: Value,
    response: Value,
    events: &'static [&'static str],
    errors: Vec<(String, String)>,
}

struct EventDoc {
    kind: &'static str,
    summary: String,
    data: Value,
    on_connect: bool,
}

/// An AsyncAPI document being described.
pub struct Api {
    title: String,
    version: String,
    description: String,
    host: String,
    pathname: String,
    generator: SchemaGenerator,
    endpoints: Vec<EndpointDoc>,
    events: Vec<EventDoc>,
}

impl Api {
    /// A document for the application `title`, version `version`.
    pub fn new(title: &str, version: &str) -> Self {
        let mut settings = SchemaSettings::draft07();
        settings.definitions_path = "/components/schemas".into();
        Self {
            title: title.into(),
            version: version.into(),
            description: String::new(),
            host: "127.0.0.1:8080".into(),
            pathname: "/ws".into(),
            generator: settings.into_generator(),
            endpoints: Vec::new(),
            events: Vec::new(),
        }
    }

    /// A description of the application (Markdown is allowed by AsyncAPI).
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        self.description = text.into();
        self
    }

    /// Where the WebSocket is served.
    #[must_use]
    pub fn server(mut self, host: &str, pathname: &str) -> Self {
        self.host = host.into();
        self.pathname = pathname.into();
        self
    }

    /// Documents endpoint `E`.
    #[must_use]
    pub fn endpoint<E>(mut self, summary: &str) -> Self
    where
        E: Endpoint,
        E::Request: JsonSchema,
        E::Response: JsonSchema,
    {
        let request = self.generator.subschema_for::<E::Request>().to_value();
        let response = self.generator.subschema_for::<E::Response>().to_value();
        self.endpoints.push(EndpointDoc {
            name: E::NAME,
            summary: summary.into(),
            request,
            response,
            events: E::EVENTS,
            errors: Vec::new(),
        });
        self
    }

    /// Documents an endpoint whose `data` is any JSON value in both directions (a handler that
    /// takes the raw `Data`, such as an echo).
    #[must_use]
    pub fn raw_endpoint(mut self, name: &'static str, summary: &str) -> Self {
        let any = json!({ "description": "Any JSON value." });
        self.endpoints.push(EndpointDoc {
            name,
            summary: summary.into(),
            request: any.clone(),
            response: any,
            events: &[],
            errors: Vec::new(),
        });
        self
    }

    /// Documents an error code the last endpoint's handler may answer with (its
    /// `RequestError`), besides the codes of the core.
    #[must_use]
    pub fn error(mut self, code: &str, reason: &str) -> Self {
        if let Some(last) = self.endpoints.last_mut() {
            last.errors.push((code.into(), reason.into()));
        }
        self
    }

    /// Documents event `T`, which may follow requests (named in their `EVENTS`).
    #[must_use]
    pub fn event<T>(self, summary: &str) -> Self
    where
        T: EventType,
        T::Data: JsonSchema,
    {
        self.add_event::<T>(summary, false)
    }

    /// Documents event `T`, which a client can expect once connected.
    #[must_use]
    pub fn on_connect<T>(self, summary: &str) -> Self
    where
        T: EventType,
        T::Data: JsonSchema,
    {
        self.add_event::<T>(summary, true)
    }

    fn add_event<T>(mut self, summary: &str, on_connect: bool) -> Self
    where
        T: EventType,
        T::Data: JsonSchema,
    {
        let data = self.generator.subschema_for::<T::Data>().to_value();
        self.events.push(EventDoc {
            kind: T::KIND,
            summary: summary.into(),
            data,
            on_connect,
        });
        self
    }

    /// The AsyncAPI 3.0 document.
    pub fn document(&self) -> Value {
        let channel_ref = json!({ "$ref": format!("#/channels/{CHANNEL}") });
        let message_ref =
            |key: &str| json!({ "$ref": format!("#/channels/{CHANNEL}/messages/{key}") });
        let mut channel_messages = Map::new();
        let mut messages = Map::new();
        let mut operations = Map::new();

        // The error answer shared by every request.
        messages.insert("response.error".into(), self.response_error_message());
        channel_messages.insert(
            "response.error".into(),
            component_ref("messages", "response.error"),
        );

        for endpoint in &self.endpoints {
            let request_key = format!("{}.request", key(endpoint.name));
            let response_key = format!("{}.response", key(endpoint.name));
            messages.insert(request_key.clone(), request_message(endpoint));
            messages.insert(response_key.clone(), response_message(endpoint));
            channel_messages.insert(request_key.clone(), component_ref("messages", &request_key));
            channel_messages.insert(
                response_key.clone(),
                component_ref("messages", &response_key),
            );
            let mut operation = json!({
                "action": "receive",
                "channel": channel_ref,
                "summary": endpoint.summary,
                "messages": [message_ref(&request_key)],
                "reply": {
                    "channel": channel_ref,
                    "messages": [message_ref(&response_key), message_ref("response.error")],
                },
            });
            if !endpoint.events.is_empty() {
                operation["x-quartet-events"] = json!(endpoint.events);
            }
            if !endpoint.errors.is_empty() {
                let errors: Vec<Value> = endpoint
                    .errors
                    .iter()
                    .map(|(code, reason)| json!({ "code": code, "reason": reason }))
                    .collect();
                operation["x-quartet-errors"] = Value::Array(errors);
            }
            operations.insert(key(endpoint.name), operation);
        }

        let error_event = EventDoc {
            kind: protocol_core::connection::ERROR_EVENT,
            summary: "An error that has no request id to answer (docs/spec.md §5).".into(),
            data: json!({ "$ref": "#/components/schemas/ErrorBody" }),
            on_connect: false,
        };
        for event in self.events.iter().chain([&error_event]) {
            let event_key = format!("event.{}", key(event.kind));
            messages.insert(event_key.clone(), event_message(event));
            channel_messages.insert(event_key.clone(), component_ref("messages", &event_key));
            operations.insert(
                format!("send.{}", key(event.kind)),
                json!({
                    "action": "send",
                    "channel": channel_ref,
                    "summary": event.summary,
                    "messages": [message_ref(&event_key)],
                }),
            );
        }

        let mut schemas: Map<String, Value> = self.generator.definitions().clone();
        schemas.insert("ErrorBody".into(), self.error_body_schema());
        let on_connect: Vec<&str> = self
            .events
            .iter()
            .filter(|e| e.on_connect)
            .map(|e| e.kind)
            .collect();

        json!({
            "asyncapi": "3.0.0",
            "info": {
                "title": self.title,
                "version": self.version,
                "description": self.description,
            },
            "defaultContentType": "application/json",
            "servers": {
                "default": {
                    "host": self.host,
                    "protocol": "ws",
                    "pathname": self.pathname,
                    "description": "JSON frames in text messages (subprotocol quartet.v1.json, the default), or postcard frames in binary messages (quartet.v1.postcard).",
                },
            },
            "channels": {
                CHANNEL: {
                    "address": self.pathname,
                    "title": "The WebSocket",
                    "messages": channel_messages,
                    "x-quartet-on-connect": on_connect,
                },
            },
            "operations": operations,
            "components": {
                "messages": messages,
                "schemas": schemas,
            },
        })
    }

    /// The document as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.document()).unwrap_or_default()
    }

    /// A self-contained HTML page of the same content (no scripts, no external resources).
    pub fn to_html(&self) -> String {
        html::render(&self.document())
    }

    fn error_codes(&self) -> Vec<(String, String)> {
        let mut codes: Vec<(String, String)> = CORE_ERROR_CODES
            .iter()
            .map(|c| (c.as_str().to_string(), c.reason().to_string()))
            .collect();
        for endpoint in &self.endpoints {
            for error in &endpoint.errors {
                if !codes.iter().any(|(code, _)| *code == error.0) {
                    codes.push(error.clone());
                }
            }
        }
        codes
    }

    fn error_body_schema(&self) -> Value {
        let codes: Vec<String> = self
            .error_codes()
            .into_iter()
            .map(|(code, _)| code)
            .collect();
        json!({
            "type": "object",
            "description": "Why a request failed: `code` is stable and machine-readable, `reason` is for people.",
            "required": ["reason", "code"],
            "properties": {
                "reason": { "type": "string" },
                "code": { "type": "string", "enum": codes },
            },
        })
    }

    fn response_error_message(&self) -> Value {
        let codes: Vec<Value> = self
            .error_codes()
            .into_iter()
            .map(|(code, reason)| json!({ "code": code, "reason": reason }))
            .collect();
        json!({
            "name": "response.error",
            "title": "Error answer",
            "summary": "The request failed; `data` says why.",
            "correlationId": correlation_id(),
            "payload": {
                "type": "object",
                "required": ["id", "type", "data"],
                "properties": {
                    "id": id_schema(),
                    "type": { "const": "response.error" },
                    "data": { "$ref": "#/components/schemas/ErrorBody" },
                },
            },
            "x-quartet-error-codes": codes,
        })
    }
}

/// A key for the components and channel maps (`^[A-Za-z0-9._-]+$`): other characters, such as
/// the `:` of `game:state`, become `_`.
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn component_ref(kind: &str, key: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{key}") })
}

fn correlation_id() -> Value {
    json!({ "description": "Answers carry the request's id.", "location": "$message.payload#/id" })
}

fn id_schema() -> Value {
    json!({ "type": "string", "maxLength": MAX_ID_LEN })
}

fn request_message(endpoint: &EndpointDoc) -> Value {
    json!({
        "name": format!("{}.request", endpoint.name),
        "title": format!("{} request", endpoint.name),
        "summary": endpoint.summary,
        "correlationId": correlation_id(),
        "payload": {
            "type": "object",
            "required": ["id", "type", "endpoint", "data"],
            "properties": {
                "id": id_schema(),
                "type": { "const": "request" },
                "endpoint": { "const": endpoint.name },
                "data": endpoint.request,
            },
        },
    })
}

fn response_message(endpoint: &EndpointDoc) -> Value {
    json!({
        "name": format!("{}.response", endpoint.name),
        "title": format!("{} response", endpoint.name),
        "correlationId": correlation_id(),
        "payload": {
            "type": "object",
            "required": ["id", "type", "data"],
            "properties": {
                "id": id_schema(),
                "type": { "const": "response" },
                "data": endpoint.response,
            },
        },
    })
}

fn event_message(event: &EventDoc) -> Value {
    json!({
        "name": format!("event.{}", event.kind),
        "title": format!("{} event", event.kind),
        "summary": event.summary,
        "payload": {
            "type": "object",
            "required": ["type", "kind", "data"],
            "properties": {
                "type": { "const": "event" },
                "kind": { "const": event.kind, "maxLength": MAX_NAME_LEN },
                "data": event.data,
            },
        },
    })
}
