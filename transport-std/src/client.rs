//! A WebSocket client: a thin driver of the core's [`ClientConnection`] over
//! tokio-tungstenite.
//!
//! One task owns the socket. It feeds every message to the core, sends what the core asks
//! for (requests, pings, its close frame), and arms one timer from
//! [`ClientConnection::poll_timeout`]. The [`Client`] handle talks to that task over
//! channels:
//!
//! - [`Client::call`] / [`Client::request`] send a request and wait for its answer (or its
//!   timeout, or the end of the connection);
//! - [`Client::recv`] / [`Client::next_event`] read the server's events and lifecycle
//!   notices from a bounded queue (see [`ClientBuilder::event_capacity`] for what happens
//!   when it is full);
//! - [`Client::close`] closes with a code and reason.
//!
//! With [`ClientBuilder::reconnect`], a connection that is lost (not closed by the caller,
//! not refused with a 4xx status) is re-established with exponential backoff and jitter:
//! pending requests fail with [`ClientError::Disconnected`], and [`Notice::Reconnected`] is
//! queued once the new connection is up.
//!
//! ```no_run
//! # async fn run() -> Result<(), transport_std::client::ClientError> {
//! use transport_std::client::Client;
//!
//! let client = Client::builder("ws://127.0.0.1:8080/ws")
//!     .query("game_id", "7")
//!     .connect()
//!     .await?;
//! let echoed: serde_json::Value = client.request("echo", &[1, 2, 3]).await?;
//! client.close(1000, "bye").await;
//! # let _ = echoed;
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol_core::codec::{CodecSet, EncodeError};
use protocol_core::connection::{
    CallError, ClientReceived, Config, Event, RequestFailure, RequestId, Transmit,
};
use protocol_core::endpoint::{Endpoint, EventSet};
use protocol_core::{AnyCodec, ClientConnection, Data, MessageKind, Profile, Str};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::time;

/// The TLS library the client uses (rustls with the `ring` provider), for building a
/// [`rustls::ClientConfig`] to pass to [`ClientBuilder::tls_config`].
pub use rustls;

/// Default capacity of the event queue.
pub const DEFAULT_EVENT_CAPACITY: usize = 256;
/// Queue slots kept for lifecycle notices ([`Notice::Reconnected`], [`Notice::Closed`]) on top
/// of the event capacity, so that a full event queue does not hide them.
pub const NOTICE_RESERVE: usize = 4;
/// Requests awaiting an answer at once; one more fails with [`ClientError::Protocol`].
pub const MAX_PENDING: usize = 64;
/// Default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest WebSocket message either way (see [`ClientBuilder::max_message_size`]).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
/// Messages waiting for the socket at once. While the server does not read, requests
/// beyond it fail at once with [`ClientError::Protocol`]; deadlines and `close` keep
/// working.
pub const MAX_QUEUED_MESSAGES: usize = MAX_PENDING;
/// The write threshold: tungstenite writes to the socket once this much is buffered.
const WRITE_BUFFER_SIZE: usize = 64 * 1024;

/// Why a client operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The request's deadline passed without an answer.
    Timeout,
    /// The connection ended (or was lost) before the answer; also every request made while
    /// the client is reconnecting or after it closed.
    Disconnected,
    /// The server refused the WebSocket handshake with this HTTP status. A 4xx status is
    /// never retried.
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The server answered the request with `response.error` `{reason, code}`.
    Server {
        /// For people.
        reason: String,
        /// Stable, machine-readable.
        code: String,
    },
    /// A protocol-level failure: data that does not encode or decode, a bad URL or header,
    /// a request the core refused (for example too many pending).
    Protocol(String),
    /// The transport failed (TCP, TLS, WebSocket).
    Io(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("request timed out"),
            Self::Disconnected => f.write_str("disconnected"),
            Self::Rejected { status } => write!(f, "handshake rejected with HTTP {status}"),
            Self::Server { reason, code } => write!(f, "server error {code}: {reason}"),
            Self::Protocol(what) => write!(f, "protocol error: {what}"),
            Self::Io(what) => write!(f, "transport error: {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// A server-pushed event, still encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEvent {
    /// Its kind.
    pub kind: String,
    /// Its data, in the connection's codec (JSON text or postcard bytes).
    pub data: Vec<u8>,
    /// The codec of `data`.
    pub codec: AnyCodec,
}

impl RawEvent {
    /// Decodes the data as `T`.
    ///
    /// # Errors
    /// [`ClientError::Protocol`] when it does not have that shape.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        self.codec
            .decode_value(Data::new(&self.data))
            .map_err(|e| ClientError::Protocol(format!("event {}: {e:?}", self.kind)))
    }
}

/// What the event queue holds: server events and lifecycle notices, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice<E = RawEvent> {
    /// A server event.
    Event(E),
    /// The connection was lost and is up again after `attempts` attempts. Requests pending
    /// at the loss failed with [`ClientError::Disconnected`].
    Reconnected {
        /// Connection attempts it took (1: the first retry succeeded).
        attempts: u32,
    },
    /// The connection is over for good: closed (by either side) with no reconnect, refused
    /// with a 4xx status, or out of reconnect attempts. Always the last notice.
    Closed {
        /// Why, when it is an error (`None` after a clean close).
        error: Option<ClientError>,
    },
}

/// Exponential backoff with jitter for [`ClientBuilder::reconnect`].
///
/// The n-th retry (from 0) waits `min(initial * 2^n, max_delay)`, scaled by a random factor
/// in `[0.5, 1.0]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max_delay: Duration,
    /// Attempts before giving up (`None`: forever).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    /// 100 ms doubling to 10 s, at most 10 attempts.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            max_attempts: Some(10),
        }
    }
}

impl Backoff {
    /// The delay before retry `n` (from 0) with jitter `unit` in `[0, 1)`.
    fn delay(&self, n: u32, unit: f64) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX));
        exp.min(self.max_delay).mul_f64(0.5 + unit / 2.0)
    }
}

/// xorshift64*: enough to spread reconnects, seeded from the clock.
struct Jitter(u64);

impl Jitter {
    fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Truncation is fine: only the low bits vary.
        #[allow(clippy::cast_possible_truncation)]
        let seed = (nanos as u64) ^ 0x9E37_79B9_7F4A_7C15;
        Self(seed | 1)
    }

    /// A number in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        #[allow(clippy::cast_precision_loss)]
        let unit = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        unit
    }
}

/// How to connect: URL, query, headers, codec, TLS, timeouts, queue size, reconnects.
#[derive(Clone)]
pub struct ClientBuilder {
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    codec: AnyCodec,
    tls: Option<Arc<rustls::ClientConfig>>,
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    request_timeout: Duration,
    handshake_timeout: Duration,
    event_capacity: usize,
    reconnect: Option<Backoff>,
    profile: Profile,
    max_message_size: usize,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("query", &self.query)
            .field("codec", &self.codec)
            .field("request_timeout", &self.request_timeout)
            .field("event_capacity", &self.event_capacity)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client of `url` (`ws://` or `wss://`), speaking JSON, with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            codec: AnyCodec::Json,
            tls: None,
            extra_roots: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            handshake_timeout: Duration::from_millis(
                protocol_core::limits::DEFAULT_HANDSHAKE_TIMEOUT_MS,
            ),
            event_capacity: DEFAULT_EVENT_CAPACITY,
            reconnect: None,
            profile: Profile::Default,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// Appends `name=value` to the URL's query (percent-encoded).
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a header to the upgrade request (for example `Authorization` or `Origin`).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Speaks postcard: offers `quartet.v1.postcard` (binary messages).
    #[must_use]
    pub fn postcard(mut self) -> Self {
        self.codec = AnyCodec::Postcard;
        self
    }

    /// Offers the subprotocol of `codec` (JSON by default).
    #[must_use]
    pub fn codec(mut self, codec: AnyCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The TLS settings for `wss://` (default: the webpki roots, rustls with `ring`).
    #[must_use]
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Trusts one more root certificate (DER) for `wss://`, next to the webpki roots.
    /// Ignored when [`tls_config`](Self::tls_config) is set.
    #[must_use]
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots
            .push(rustls::pki_types::CertificateDer::from(der.into()));
        self
    }

    /// The deadline of requests that do not name their own (default 30 s).
    #[must_use]
    pub const fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a connection attempt (TCP, TLS and the upgrade) may take before it fails
    /// with [`ClientError::Io`] (default: the core's handshake timeout).
    #[must_use]
    pub const fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The capacity of the event queue (default [`DEFAULT_EVENT_CAPACITY`], at least 1).
    ///
    /// **Overflow policy:** when `capacity` events are waiting to be read, a new event is
    /// dropped (never an older one: what was queued stays in order) and counted in
    /// [`Client::dropped_events`]. The connection is never slowed down or closed because
    /// of a slow reader. Lifecycle notices have [`NOTICE_RESERVE`] slots of their own.
    #[must_use]
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Reconnects a lost connection with `backoff` (default: no reconnect). A handshake
    /// refused with a 4xx status, or a close by the caller, is never retried.
    #[must_use]
    pub const fn reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = Some(backoff);
        self
    }

    /// The largest WebSocket message either way (default [`DEFAULT_MAX_MESSAGE_SIZE`], at
    /// least 1 KiB). A larger request fails at once with [`ClientError::Protocol`]; a larger
    /// message from the server ends the connection (tungstenite refuses it, close 1009).
    /// Everything smaller reaches the core whole, responses and events alike.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes.max(1024);
        self
    }

    /// How the server's id-less `error` events are read (default [`Profile::Default`]).
    #[must_use]
    pub const fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Connects (the first attempt is never retried).
    ///
    /// # Errors
    /// [`ClientError::Rejected`] when the server answers the upgrade with an HTTP status,
    /// [`ClientError::Io`] when the connection fails, [`ClientError::Protocol`] for a bad
    /// URL, header or TLS setting.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let connector = self.connector()?;
        let (session, ws) = open(&self, connector.clone()).await?;
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (notices_tx, notices) = mpsc::channel(self.event_capacity + NOTICE_RESERVE);
        let dropped = Arc::new(AtomicU64::new(0));
        let codec = session.codec().unwrap_or(self.codec);
        let driver = Driver {
            builder: self,
            connector,
            commands,
            notices: notices_tx,
            dropped: Arc::clone(&dropped),
            jitter: Jitter::from_time(),
        };
        tokio::spawn(driver.run(session, ws));
        Ok(Client {
            commands: commands_tx,
            notices,
            dropped,
            codec,
        })
    }

    fn connector(&self) -> Result<Connector, ClientError> {
        if let Some(config) = &self.tls {
            return Ok(Connector::Rustls(Arc::clone(config)));
        }
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in &self.extra_roots {
            roots
                .add(der.clone())
                .map_err(|e| ClientError::Protocol(format!("root certificate: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Protocol(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Connector::Rustls(Arc::new(config)))
    }

    fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.query {
            query.append_pair(name, value);
        }
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{}", self.url, query.finish())
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Session = ClientConnection<AnyCodec, MAX_PENDING>;

/// One connection attempt: the upgrade request, then the core's verdict.
async fn open(
    builder: &ClientBuilder,
    connector: Connector,
) -> Result<(Session, Socket), ClientError> {
    let mut config = Config::new().with_profile(builder.profile);
    config.request_timeout = time::to_core_duration(builder.request_timeout);
    config.handshake_timeout = time::to_core_duration(builder.handshake_timeout);
    // The core reads every message tungstenite lets through.
    config.max_frame_len = builder.max_message_size;
    let mut session = Session::new(time::now(), config);
    let mut request = builder
        .url()
        .into_client_request()
        .map_err(|e| ClientError::Protocol(format!("URL: {e}")))?;
    for (name, value) in &builder.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| ClientError::Protocol(format!("header {name}: {e}")))?;
        let value = http::HeaderValue::from_str(value)
            .map_err(|e| ClientError::Protocol(format!("header {name}: {e}")))?;
        request.headers_mut().append(name, value);
    }
    request.headers_mut().insert(
        http::header::SEC_WEBSOCKET_PROTOCOL,
        http::HeaderValue::from_static(builder.codec.subprotocol()),
    );
    session
        .connect(time::now())
        .map_err(|e| ClientError::Protocol(format!("{e:?}")))?;
    // Bounded write buffer: a message always fits once it is flushed (see `poll_write`).
    let websocket = WebSocketConfig::default()
        .write_buffer_size(WRITE_BUFFER_SIZE)
        .max_write_buffer_size(WRITE_BUFFER_SIZE + builder.max_message_size + 1024)
        .max_message_size(Some(builder.max_message_size))
        .max_frame_size(Some(builder.max_message_size));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(websocket),
        true,
        Some(connector),
    );
    let Ok(connected) = tokio::time::timeout(builder.handshake_timeout, connecting).await else {
        return Err(ClientError::Io("the handshake timed out".into()));
    };
    match connected {
        Ok((ws, response)) => {
            let codec = response
                .headers()
                .get(http::header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .map_or(
                    Some(AnyCodec::without_subprotocol()),
                    AnyCodec::from_subprotocol,
                )
                .ok_or_else(|| ClientError::Protocol("unknown subprotocol".into()))?;
            session
                .handle_accepted(time::now(), codec)
                .map_err(|e| ClientError::Protocol(format!("{e:?}")))?;
            Ok((session, ws))
        }
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let _ = session.handle_rejected(time::now(), status);
            Err(ClientError::Rejected { status })
        }
        Err(WsError::Url(e)) => Err(ClientError::Protocol(format!("URL: {e}"))),
        Err(e) => Err(ClientError::Io(e.to_string())),
    }
}

enum Command {
    Request {
        endpoint: String,
        data: Vec<u8>,
        timeout: Option<Duration>,
        reply: oneshot::Sender<Result<Vec<u8>, ClientError>>,
    },
    Close {
        code: u16,
        reason: String,
        done: oneshot::Sender<()>,
    },
}

/// A connected client. Dropping it closes the connection with 1000.
#[derive(Debug)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    notices: mpsc::Receiver<Notice>,
    dropped: Arc<AtomicU64>,
    codec: AnyCodec,
}

impl Client {
    /// A builder for `url`.
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// Connects to `url` with the defaults.
    ///
    /// # Errors
    /// As [`ClientBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, ClientError> {
        ClientBuilder::new(url).connect().await
    }

    /// The codec the server chose.
    pub const fn codec(&self) -> AnyCodec {
        self.codec
    }

    /// Events dropped because the queue was full (see [`ClientBuilder::event_capacity`]).
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Calls endpoint `E` with typed data and reads the answer as `E::Response`, with the
    /// client's request timeout.
    ///
    /// # Errors
    /// [`ClientError::Server`] for `response.error`, [`ClientError::Timeout`],
    /// [`ClientError::Disconnected`], [`ClientError::Protocol`] when the data does not
    /// encode or the answer does not decode.
    pub async fn call<E: Endpoint>(&self, data: &E::Request) -> Result<E::Response, ClientError> {
        self.request(E::NAME, data).await
    }

    /// [`call`](Self::call) with its own timeout.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn call_with_timeout<E: Endpoint>(
        &self,
        data: &E::Request,
        timeout: Duration,
    ) -> Result<E::Response, ClientError> {
        self.request_with_timeout(E::NAME, data, Some(timeout))
            .await
    }

    /// Calls `endpoint` with `data` and reads the answer as `R`.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn request<T, R>(&self, endpoint: &str, data: &T) -> Result<R, ClientError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.request_with_timeout(endpoint, data, None).await
    }

    /// [`request`](Self::request) with its own timeout (`None`: the client's).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn request_with_timeout<T, R>(
        &self,
        endpoint: &str,
        data: &T,
        timeout: Option<Duration>,
    ) -> Result<R, ClientError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let encoded = encode_value(self.codec, data)?;
        let answer = self.request_raw(endpoint, encoded, timeout).await?;
        self.codec
            .decode_value(Data::new(&answer))
            .map_err(|e| ClientError::Protocol(format!("response of {endpoint}: {e:?}")))
    }

    /// Sends `data` already encoded in the connection's codec ([`codec`](Self::codec)) and
    /// returns the answer's `data` as encoded by the server.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn request_raw(
        &self,
        endpoint: &str,
        data: impl Into<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                endpoint: endpoint.to_string(),
                data: data.into(),
                timeout,
                reply,
            })
            .map_err(|_| ClientError::Disconnected)?;
        answer.await.unwrap_or(Err(ClientError::Disconnected))
    }

    /// The next event or notice, in arrival order; `None` once the connection is over and
    /// everything was read.
    pub async fn recv(&mut self) -> Option<Notice> {
        self.notices.recv().await
    }

    /// The next event or notice if one is queued now.
    pub fn try_recv(&mut self) -> Option<Notice> {
        self.notices.try_recv().ok()
    }

    /// The next event of set `S`, or lifecycle notice. Events of kinds outside `S` are
    /// skipped; an event of `S` whose data does not decode is skipped with a warning.
    pub async fn next_event<S: EventSet>(&mut self) -> Option<Notice<S>> {
        loop {
            let event = match self.notices.recv().await? {
                Notice::Event(event) => event,
                Notice::Reconnected { attempts } => return Some(Notice::Reconnected { attempts }),
                Notice::Closed { error } => return Some(Notice::Closed { error }),
            };
            match S::decode(&Str::new(&event.kind), Data::new(&event.data), event.codec) {
                Some(Ok(typed)) => return Some(Notice::Event(typed)),
                Some(Err(error)) => {
                    tracing::warn!(kind = %event.kind, ?error, "event data does not decode");
                }
                None => {}
            }
        }
    }

    /// Closes with `code` and `reason`, and returns once the close handshake is over (or
    /// the core's close timeout passed). No reconnect follows.
    pub async fn close(&self, code: u16, reason: &str) {
        let (done, finished) = oneshot::channel();
        let command = Command::Close {
            code,
            reason: reason.to_string(),
            done,
        };
        if self.commands.send(command).is_ok() {
            let _ = finished.await;
        }
    }
}

fn encode_value<T: Serialize + ?Sized>(codec: AnyCodec, value: &T) -> Result<Vec<u8>, ClientError> {
    let mut buf = vec![0; 256];
    loop {
        match codec.encode_value(value, &mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Err(EncodeError::BufferTooSmall { required }) if buf.len() < 64 << 20 => {
                let grown = required.unwrap_or(0).max(buf.len() * 2);
                buf.resize(grown, 0);
            }
            Err(e) => return Err(ClientError::Protocol(format!("encode: {e:?}"))),
        }
    }
}

/// How one connection ended.
enum Ending {
    /// Closed by the caller (or the handle was dropped): stop.
    ByCaller,
    /// Closed by the server with 1000: stop.
    ByServer,
    /// Lost: reconnect if configured.
    Lost(ClientError),
}

struct Driver {
    builder: ClientBuilder,
    connector: Connector,
    commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::Sender<Notice>,
    dropped: Arc<AtomicU64>,
    jitter: Jitter,
}

impl Driver {
    async fn run(mut self, session: Session, ws: Socket) {
        let mut current = Some((session, ws));
        let mut closing: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            let Some((session, ws)) = current.take() else {
                break;
            };
            let max_message_size = self.builder.max_message_size;
            let ending = Connection::new(session, ws, max_message_size)
                .drive(&mut self, &mut closing)
                .await;
            let error = match ending {
                Ending::ByCaller => None,
                Ending::ByServer => None,
                Ending::Lost(error) => match self.builder.reconnect {
                    None => Some(error),
                    Some(backoff) => match self.reconnect(backoff).await {
                        Ok((session, ws, attempts)) => {
                            current = Some((session, ws));
                            self.notice(Notice::Reconnected { attempts });
                            continue;
                        }
                        // `None`: the caller closed while we were reconnecting.
                        Err(error) => error,
                    },
                },
            };
            self.notice(Notice::Closed { error });
        }
        for done in closing {
            let _ = done.send(());
        }
        // Requests still arriving fail with `Disconnected` as the channel closes.
    }

    /// Retries until connected, refused with 4xx, out of attempts (`Err(Some(the last
    /// error))`), or the caller closes (`Err(None)`: a clean end).
    async fn reconnect(
        &mut self,
        backoff: Backoff,
    ) -> Result<(Session, Socket, u32), Option<ClientError>> {
        let mut last = ClientError::Disconnected;
        let mut attempt = 0u32;
        loop {
            if backoff.max_attempts.is_some_and(|max| attempt >= max) {
                return Err(Some(last));
            }
            let delay = backoff.delay(attempt, self.jitter.next_unit());
            attempt += 1;
            // The wait and the attempt itself both give way to the caller: requests made
            // while reconnecting fail at once, and a close stops the retries (an attempt in
            // progress is dropped, with its TCP connection).
            if serve_while_reconnecting(&mut self.commands, tokio::time::sleep(delay))
                .await
                .is_none()
            {
                return Err(None);
            }
            // Boxed: a connection attempt's state (TLS and the handshake) is ~18 KB, and only
            // an attempt needs it; inline, the client's task held it for its whole life
            // (30 KB instead of 12 KB).
            let attempt_made = serve_while_reconnecting(
                &mut self.commands,
                Box::pin(open(&self.builder, self.connector.clone())),
            );
            let Some(result) = attempt_made.await else {
                return Err(None);
            };
            match result {
                Ok((session, ws)) => return Ok((session, ws, attempt)),
                Err(error @ ClientError::Rejected { status }) if (400..500).contains(&status) => {
                    return Err(Some(error));
                }
                Err(error) => {
                    tracing::debug!(%error, attempt, "reconnect failed");
                    last = error;
                }
            }
        }
    }

    /// Queues a lifecycle notice (uses the reserved slots).
    fn notice(&self, notice: Notice) {
        if self.notices.try_send(notice).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues an event unless the event capacity is used up (then drops it and counts).
    fn event(&self, event: RawEvent) {
        if self.notices.capacity() <= NOTICE_RESERVE
            || self.notices.try_send(Notice::Event(event)).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One WebSocket connection driven by the core.
///
/// Writes never block the loop: messages wait in `outgoing` (at most
/// [`MAX_QUEUED_MESSAGES`]) and go out as the socket takes them, while reads, commands and
/// the core's timer go on. A server that stops reading therefore cannot stall deadlines or
/// `close`.
struct Connection {
    session: Session,
    ws: Socket,
    pending: HashMap<RequestId, oneshot::Sender<Result<Vec<u8>, ClientError>>>,
    out: Vec<u8>,
    /// Messages for the socket, in order.
    outgoing: VecDeque<Message>,
    /// tungstenite holds written messages not flushed yet.
    needs_flush: bool,
    max_message_size: usize,
    closed_by_caller: bool,
    peer_close: Option<Option<u16>>,
    lost: Option<ClientError>,
    events: Vec<RawEvent>,
}

/// What the socket did.
enum Io {
    /// A message, the end of the stream (`None`), or a read error.
    Read(Option<Result<Message, WsError>>),
    /// Writing failed: the connection is lost.
    WriteFailed(WsError),
}

impl Connection {
    fn new(session: Session, ws: Socket, max_message_size: usize) -> Self {
        Self {
            session,
            ws,
            pending: HashMap::new(),
            out: vec![0; 4096],
            outgoing: VecDeque::new(),
            needs_flush: false,
            max_message_size,
            closed_by_caller: false,
            peer_close: None,
            lost: None,
            events: Vec::new(),
        }
    }

    async fn drive(
        mut self,
        driver: &mut Driver,
        closing: &mut Vec<oneshot::Sender<()>>,
    ) -> Ending {
        let mut commands_open = true;
        let ending = loop {
            if let Some(ending) = self.after_input(driver) {
                break ending;
            }
            let deadline = self.session.poll_timeout().map(time::to_tokio);
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                io = poll_fn(|cx| self.poll_io(cx)) => match io {
                    Io::Read(message) => self.on_message(message),
                    Io::WriteFailed(error) => self.on_write_failed(&error),
                },
                command = driver.commands.recv(), if commands_open => match command {
                    Some(Command::Request { endpoint, data, timeout, reply }) => {
                        self.on_request(&endpoint, &data, timeout, reply);
                    }
                    Some(Command::Close { code, reason, done }) => {
                        closing.push(done);
                        self.on_close(code, &reason);
                    }
                    None => {
                        commands_open = false;
                        self.on_close(1000, "");
                    }
                },
                () = timer => self.session.handle_timeout(time::now()),
            }
        };
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(ClientError::Disconnected));
        }
        if self.peer_close.is_some() && self.lost.is_none() {
            // tungstenite has queued the answer to the server's close frame: send it, within
            // the close timeout. Data still waiting cannot follow a close frame.
            self.outgoing.clear();
            self.needs_flush = true;
            let limit = time::to_std_duration(self.session.config().close_timeout);
            let flushed = poll_fn(|cx| self.poll_write(cx));
            let _ = tokio::time::timeout(limit, flushed).await;
        }
        ending
    }

    /// Writes what is queued as far as the socket takes it, then reads.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<Io> {
        if self.lost.is_none()
            && let Poll::Ready(Err(error)) = self.poll_write(cx)
        {
            return Poll::Ready(Io::WriteFailed(error));
        }
        self.ws.poll_next_unpin(cx).map(Io::Read)
    }

    /// Hands queued messages to tungstenite and flushes; `Ready(Ok)` once all is written.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let mut just_flushed = false;
        while let Some(message) = self.outgoing.pop_front() {
            match self.ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.outgoing.push_front(message);
                    return Poll::Pending;
                }
            }
            match self.ws.start_send_unpin(message) {
                Ok(()) => {
                    self.needs_flush = true;
                    just_flushed = false;
                }
                // Every message is at most `max_message_size`, so it fits once the buffer
                // is flushed; a second refusal in a row would be a bug, not a wait.
                Err(WsError::WriteBufferFull(message)) if !just_flushed => {
                    self.outgoing.push_front(*message);
                    ready!(self.ws.poll_flush_unpin(cx))?;
                    self.needs_flush = false;
                    just_flushed = true;
                }
                // The server's close arrived after this message was queued: drop it.
                Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        if self.needs_flush {
            ready!(self.ws.poll_flush_unpin(cx))?;
            self.needs_flush = false;
        }
        Poll::Ready(Ok(()))
    }

    fn on_write_failed(&mut self, error: &WsError) {
        self.lost.get_or_insert(ClientError::Io(error.to_string()));
        self.outgoing.clear();
        self.session.handle_transport_closed(time::now());
    }

    fn on_message(&mut self, message: Option<Result<Message, WsError>>) {
        let now = time::now();
        match message {
            Some(Ok(Message::Text(text))) => self.on_data(now, MessageKind::Text, text.as_bytes()),
            Some(Ok(Message::Binary(bytes))) => {
                self.on_data(now, MessageKind::Binary, &bytes);
            }
            Some(Ok(Message::Pong(_))) => self.session.handle_pong(now),
            Some(Ok(Message::Ping(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code));
                self.peer_close = Some(code);
                let _ = self.session.handle_close(now, code);
            }
            Some(Err(error)) => {
                self.lost.get_or_insert(ClientError::Io(error.to_string()));
                self.session.handle_transport_closed(now);
            }
            None => {
                self.lost.get_or_insert(ClientError::Disconnected);
                self.session.handle_transport_closed(now);
            }
        }
    }

    fn on_data(&mut self, now: protocol_core::Instant, kind: MessageKind, bytes: &[u8]) {
        let codec = self.session.codec().unwrap_or_default();
        match self.session.handle_message(now, kind, bytes) {
            Ok(ClientReceived::Response { request, data }) => {
                if let Some(reply) = self.pending.remove(&request) {
                    let _ = reply.send(Ok(data.as_bytes().to_vec()));
                }
            }
            Ok(ClientReceived::Failed { request, error }) => {
                if let Some(reply) = self.pending.remove(&request) {
                    let _ = reply.send(Err(ClientError::Server {
                        reason: error.reason.to_string(),
                        code: error.code.to_string(),
                    }));
                }
            }
            Ok(ClientReceived::Event { kind, data }) => {
                self.events.push(RawEvent {
                    kind: kind.to_string(),
                    data: data.as_bytes().to_vec(),
                    codec,
                });
            }
            Ok(ClientReceived::ProtocolError(error)) => {
                tracing::warn!(?error, "the server broke the protocol");
            }
            Ok(other) => tracing::debug!(?other, "frame ignored"),
            Err(error) => tracing::debug!(?error, "frame refused"),
        }
    }

    fn on_request(
        &mut self,
        endpoint: &str,
        data: &[u8],
        timeout: Option<Duration>,
        reply: oneshot::Sender<Result<Vec<u8>, ClientError>>,
    ) {
        if self.outgoing.len() >= MAX_QUEUED_MESSAGES {
            let full = "send queue full: the server is not reading";
            let _ = reply.send(Err(ClientError::Protocol(full.into())));
            return;
        }
        if data.len() + endpoint.len() > self.max_message_size {
            let _ = reply.send(Err(ClientError::Protocol(format!(
                "request of {} bytes over max_message_size ({})",
                data.len(),
                self.max_message_size
            ))));
            return;
        }
        // The envelope around the data takes well under 64 bytes.
        let needed = data.len() + endpoint.len() + 64;
        if self.out.len() < needed {
            self.out.resize(needed, 0);
        }
        let timeout = timeout.map(time::to_core_duration);
        let room = self.out.len().min(self.max_message_size);
        let sent = self.session.request(
            time::now(),
            endpoint,
            &Data::new(data),
            timeout,
            &mut self.out[..room],
        );
        match sent {
            Ok((id, Transmit::Message { kind, len })) => {
                self.pending.insert(id, reply);
                let message = message_of(kind, &self.out[..len]);
                self.send(message);
            }
            Ok((_, other)) => {
                let _ = reply.send(Err(ClientError::Protocol(format!("unexpected {other:?}"))));
            }
            Err(
                CallError::NotAccepted
                | CallError::SendAfterClose
                | CallError::NotConnected
                | CallError::ReceiveAfterDisconnect,
            ) => {
                let _ = reply.send(Err(ClientError::Disconnected));
            }
            Err(error) => {
                let _ = reply.send(Err(ClientError::Protocol(format!("{error:?}"))));
            }
        }
    }

    fn on_close(&mut self, code: u16, reason: &str) {
        self.closed_by_caller = true;
        let needed = reason.len() + 16;
        if self.out.len() < needed {
            self.out.resize(needed, 0);
        }
        match self.session.close(time::now(), code, reason, &mut self.out) {
            Ok(transmit) => self.transmit(transmit),
            Err(error) => tracing::debug!(?error, "close refused"),
        }
    }

    fn transmit(&mut self, transmit: Transmit) {
        let message = match transmit {
            Transmit::Message { kind, len } => message_of(kind, &self.out[..len]),
            Transmit::Ping => Message::Ping(Vec::new().into()),
            Transmit::Close { code, reason_len } => {
                if self.peer_close.is_some() {
                    // tungstenite queued the answer to the server's close itself; it is
                    // flushed when the connection ends.
                    return;
                }
                let reason = String::from_utf8_lossy(&self.out[..reason_len]).into_owned();
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                }))
            }
            _ => return,
        };
        self.send(message);
    }

    /// Queues a message for the socket (nothing once the connection is lost).
    fn send(&mut self, message: Message) {
        if self.lost.is_none() {
            self.outgoing.push_back(message);
        }
    }

    /// After every input: queue what the core has to send, hand over events, settle failed
    /// requests; `Some` when the connection is over.
    fn after_input(&mut self, driver: &Driver) -> Option<Ending> {
        loop {
            match self.session.poll_transmit(time::now(), &mut self.out) {
                Ok(Some(transmit)) => self.transmit(transmit),
                Ok(None) => break,
                Err(EncodeError::BufferTooSmall { required }) => {
                    let grown = required.unwrap_or(0).max(self.out.len() * 2);
                    self.out.resize(grown, 0);
                }
                Err(error) => {
                    tracing::warn!(?error, "poll_transmit");
                    break;
                }
            }
        }
        for event in self.events.drain(..) {
            driver.event(event);
        }
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::RequestFailed { request, cause } => {
                    let error = match cause {
                        RequestFailure::Timeout => ClientError::Timeout,
                        RequestFailure::Disconnected => ClientError::Disconnected,
                        RequestFailure::ErrorEvent(code) => ClientError::Server {
                            reason: code.map_or("error event", |c| c.reason()).to_string(),
                            code: code.map_or("error", |c| c.as_str()).to_string(),
                        },
                        _ => ClientError::Disconnected,
                    };
                    if let Some(reply) = self.pending.remove(&request) {
                        let _ = reply.send(Err(error));
                    }
                }
                Event::Exit(_) => {
                    return Some(if self.closed_by_caller {
                        Ending::ByCaller
                    } else if self.peer_close == Some(Some(1000)) {
                        Ending::ByServer
                    } else {
                        Ending::Lost(self.lost.take().unwrap_or(ClientError::Disconnected))
                    });
                }
                Event::HandshakeTimedOut | Event::Rejected { .. } => {
                    return Some(Ending::Lost(ClientError::Disconnected));
                }
                other => tracing::debug!(?other, "connection event"),
            }
        }
        None
    }
}

fn message_of(kind: MessageKind, bytes: &[u8]) -> Message {
    match kind {
        MessageKind::Text => Message::text(String::from_utf8_lossy(bytes).into_owned()),
        _ => Message::binary(bytes.to_vec()),
    }
}

/// Runs `future` while answering the caller's commands as a reconnecting client does:
/// requests fail at once with [`ClientError::Disconnected`]; a close (or the client dropped)
/// ends the wait, and `None` says so.
async fn serve_while_reconnecting<F: std::future::Future>(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    future: F,
) -> Option<F::Output> {
    tokio::pin!(future);
    loop {
        tokio::select! {
            output = &mut future => return Some(output),
            command = commands.recv() => match command {
                None => return None,
                Some(Command::Request { reply, .. }) => {
                    let _ = reply.send(Err(ClientError::Disconnected));
                }
                Some(Command::Close { done, .. }) => {
                    let _ = done.send(());
                    return None;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: None,
        };
        assert_eq!(backoff.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(backoff.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(backoff.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(backoff.delay(4, 1.0), Duration::from_secs(1));
        assert_eq!(backoff.delay(40, 1.0), Duration::from_secs(1));
        let mut jitter = Jitter::from_time();
        for _ in 0..1000 {
            let unit = jitter.next_unit();
            assert!((0.0..1.0).contains(&unit));
        }
    }

    #[test]
    fn query_is_appended_and_encoded() {
        let b = ClientBuilder::new("ws://h/ws")
            .query("game_id", "7")
            .query("a b", "&");
        assert_eq!(b.url(), "ws://h/ws?game_id=7&a+b=%26");
        let b = ClientBuilder::new("ws://h/ws?x=1").query("y", "2");
        assert_eq!(b.url(), "ws://h/ws?x=1&y=2");
    }
}
