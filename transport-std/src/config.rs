//! Server settings. Every bound has a default, a doc line, and an overflow behaviour
//! (see the crate's README for the table).

use std::time::Duration;

use protocol_core::{Config, Profile};

use crate::limit::Rate;

/// Requests a connection runs at once: the core's `IN_FLIGHT` const generic. One more is
/// answered `busy` with its id by the core.
pub const IN_FLIGHT: usize = 64;

/// The order in which handler replies are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyOrder {
    /// Each reply is written as soon as its handler finishes (the seed library at HEAD).
    #[default]
    AsCompleted,
    /// Replies are written in request order: a finished handler's reply waits until every
    /// earlier request has been answered. At most [`IN_FLIGHT`] replies wait (each one holds
    /// its request's slot, so the core answers `busy` beyond that). Errors the core answers
    /// itself (`validation-error`, `invalid-endpoint`, `busy`, `frame-too-large`) wait their
    /// turn too, at most [`IN_FLIGHT`] of them; one more is answered at once, out of order.
    InOrder,
}

/// What happens when a server-initiated event does not fit in a connection's outbound queue
/// (the client does not read fast enough).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlowReaderPolicy {
    /// Drop the event and close the connection with 1008 `slow reader` (the close frame
    /// waits behind what is already queued; the close timeout bounds the wait).
    #[default]
    Close,
    /// Drop the event, count it (`events_dropped`), keep the connection.
    DropEvent,
}

/// Which `Origin` headers may open a WebSocket. Requests without `Origin` (non-browser
/// clients) are always allowed; a refused origin gets HTTP 403.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// The origin's `host[:port]` must equal the request's `Host` header.
    #[default]
    SameHost,
    /// Any origin.
    Any,
    /// Exactly these origins (`scheme://host[:port]`, compared case-insensitively).
    List(Vec<String>),
}

/// Settings of a [`Server`](crate::Server).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The core's settings: reply profile, `max_frame_len` (16 KiB here: larger frames under
    /// the WebSocket limit get `frame-too-large` with their id), handshake, keep-alive
    /// (20 s), idle (60 s) and close (5 s) timeouts.
    pub core: Config,
    /// tungstenite's read buffer, allocated and zero-filled per connection. Default 4 KiB.
    pub read_buffer_size: usize,
    /// tungstenite's write threshold: output is written to the socket once this much is
    /// buffered, and explicitly flushed after each batch of work. Default 64 KiB.
    pub write_buffer_size: usize,
    /// Most output buffered per connection before the connection stops taking input until
    /// the socket drains. Must be above `write_buffer_size + max_message_size`.
    /// Default 256 KiB.
    pub max_write_buffer_size: usize,
    /// Largest WebSocket message (and frame) read. A larger one is never decoded: the
    /// connection is closed with 1009. Default 64 KiB.
    pub max_message_size: usize,
    /// The order of handler replies. Default: as they complete.
    pub reply_order: ReplyOrder,
    /// `TCP_NODELAY` on accepted sockets. Default on.
    pub nodelay: bool,
    /// Listen backlog. Default 4096.
    pub backlog: u32,
    /// Open TCP connections (HTTP and WebSocket). At the limit the server stops accepting;
    /// new connections wait in the listen backlog. Default 10,000.
    pub max_connections: usize,
    /// Connections still in the HTTP phase (before the upgrade). Over it, a new connection
    /// is closed at once. Default 1,024.
    pub max_handshakes: usize,
    /// Time allowed to send the request headers (hyper's `header_read_timeout`, also the
    /// idle time of a keep-alive HTTP connection). The handshake decision itself is bounded
    /// by the core's `handshake_timeout`. Default 10 s.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers). Over it: HTTP 431. Default 16 KiB.
    pub max_header_size: usize,
    /// Data messages per second per connection. Over it: close 1008. Default 20,000/s,
    /// burst 20,000.
    pub message_rate: Option<Rate>,
    /// Ping and pong frames per second per connection. Over it: close 1008. Default 10/s,
    /// burst 50.
    pub control_rate: Option<Rate>,
    /// Each connection has two event queues of this length: one for events from the
    /// server handle and one for events from its own handlers. Default 256. A full server
    /// queue applies the [`slow_reader`](Self::slow_reader) policy (a broadcast never
    /// waits); a handler's `send_event` waits for room instead.
    pub event_queue: usize,
    /// What a full server-event queue means. Default: close 1008.
    pub slow_reader: SlowReaderPolicy,
    /// Allowed browser origins. Default: the server's own host.
    pub origins: OriginPolicy,
    /// At shutdown, how long in-flight requests may still run before they are cancelled
    /// and the connection is closed with 1001. Default 10 s.
    pub shutdown_grace: Duration,
    /// Pause after a failed `accept` (for example `EMFILE`) before trying again.
    /// Default 100 ms.
    pub accept_backoff: Duration,
}

impl ServerConfig {
    /// The defaults, with the `Default` reply profile.
    pub fn new() -> Self {
        let mut core = Config::new();
        core.max_frame_len = 16 * 1024;
        Self {
            core,
            read_buffer_size: 4 * 1024,
            write_buffer_size: 64 * 1024,
            max_write_buffer_size: 256 * 1024,
            max_message_size: 64 * 1024,
            reply_order: ReplyOrder::AsCompleted,
            nodelay: true,
            backlog: 4096,
            max_connections: 10_000,
            max_handshakes: 1024,
            header_read_timeout: Duration::from_secs(10),
            max_header_size: 16 * 1024,
            message_rate: Some(Rate::new(20_000, 20_000)),
            control_rate: Some(Rate::new(10, 50)),
            event_queue: 256,
            slow_reader: SlowReaderPolicy::Close,
            origins: OriginPolicy::SameHost,
            shutdown_grace: Duration::from_secs(10),
            accept_backoff: Duration::from_millis(100),
        }
    }

    /// The same settings with another reply profile.
    #[must_use]
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.core = self.core.with_profile(profile);
        self
    }

    /// The profile in use.
    pub fn profile(&self) -> Profile {
        self.core.profile
    }

    /// Checks the settings that would make tungstenite or hyper panic or misbehave.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.max_write_buffer_size <= self.write_buffer_size + self.max_message_size {
            return Err("max_write_buffer_size must exceed write_buffer_size + max_message_size");
        }
        if self.core.max_frame_len > self.max_message_size {
            return Err("core.max_frame_len must not exceed max_message_size");
        }
        if self.max_connections == 0 || self.max_handshakes == 0 || self.event_queue == 0 {
            return Err("max_connections, max_handshakes and event_queue must be positive");
        }
        if self.read_buffer_size == 0 {
            return Err("read_buffer_size must be positive");
        }
        Ok(())
    }

    pub(crate) fn websocket(&self) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
            .max_write_buffer_size(self.max_write_buffer_size)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new()
    }
}
