//! tokio + tokio-tungstenite driver for `protocol-core`: a WebSocket server (HTTP and
//! WebSocket on one port) whose every protocol decision is the core's.
//!
//! - One task per TCP connection. hyper serves its HTTP requests (plain routes,
//!   `/healthz`); an upgrade is decided before the `101` (origin, subprotocol, the
//!   application's decision hook, the enter hook's extractors), then one task (a new one,
//!   holding only the driver's state) drives the WebSocket: it reads, feeds the core, runs
//!   this connection's handlers inline, and writes everything ready with one flush per
//!   batch.
//! - An [`App`] is built from async handlers with typed data and results and typed
//!   extractors ([`extract`]), plus an enter hook (its result is the `init` event) and an
//!   exit hook that runs exactly once per accepted connection.
//! - A [`ServerHandle`] pushes events to one connection, a group or all, never waiting on a
//!   slow one; it holds the counters and performs the graceful shutdown.
//!
//! ```no_run
//! use transport_std::{App, HandlerError, RawData, Server, ServerConfig};
//!
//! async fn echo(data: RawData) -> Result<RawData, HandlerError> {
//!     Ok(data)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = App::<()>::new("/ws").raw("echo", echo);
//! let server = Server::bind("127.0.0.1:8080".parse().unwrap(), ServerConfig::new(), app).await?;
//! let handle = server.handle();
//! tokio::spawn(server.run());
//! // ...
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! - Free-form apps ([`free`], [`App::dispatch_by`]) serve other wire formats (seeds
//!   001–003): messages routed by a discriminator member or a custom dispatcher, handlers
//!   that send the frames they choose, a fallback for what is not handled.
//! - [`App::authenticate`] verifies the upgrade request before the `101` ([`auth`]: signed
//!   WebApp init data, or any async verifier); [`App::asyncapi`] serves the AsyncAPI
//!   document and its HTML page.
//!
//! See the crate's README for the design, the defaults and what each bound does on
//! overflow. [`client`] is the Rust client: typed calls, typed events, reconnect with backoff.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod app;
pub mod auth;
pub mod client;
mod config;
mod connection;
mod docs;
pub mod extract;
pub mod free;
pub mod handler;
mod handshake;
mod limit;
mod mailbox;
mod pairs;
mod server;
pub mod time;

pub use app::{App, Decision, HttpResponse, http_response};
pub use config::{IN_FLIGHT, OriginPolicy, ReplyOrder, ServerConfig, SlowReaderPolicy};
pub use docs::{ASYNCAPI_HTML_PATH, ASYNCAPI_JSON_PATH};
pub use extract::{ConnectionId, RequestInfo};
pub use handler::{HandlerError, RawData};
pub use limit::Rate;
pub use server::{Delivery, SendError, Server, ServerHandle, Stats};

/// The core types an application needs next to this crate.
pub use protocol_core::{AnyCodec, Profile};
