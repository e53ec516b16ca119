//! The server: the accept loop, the HTTP side of each connection, the registry of open
//! WebSocket connections, counters, and the handle that reaches them from anywhere.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use http::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use protocol_core::{AnyCodec, Profile, ServerConnection, negotiate};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tracing::{Instrument, debug, info, warn};

use crate::app::{App, Decision, HttpResponse, match_path};
use crate::config::{IN_FLIGHT, ServerConfig, SlowReaderPolicy};
use crate::connection::{self, Pending, Start};
use crate::extract::{Conn, ConnectionId, RequestInfo, Scope};
use crate::handler::EncodeValue;
use crate::handshake::{self, text};
use crate::mailbox::{Inbox, Mailbox, PushError};
use crate::time;

/// The core connection this adapter drives.
pub(crate) type Core = ServerConnection<AnyCodec, IN_FLIGHT>;

/// An event queued for one connection.
#[derive(Clone)]
pub(crate) enum Outbound {
    /// An application event; shared between the connections of a broadcast.
    Event(Arc<EventData>),
    /// An id-less `error` event: reason and code.
    Error(Box<(Cow<'static, str>, Cow<'static, str>)>),
}

pub(crate) struct EventData {
    pub(crate) kind: Cow<'static, str>,
    pub(crate) data: Box<dyn EncodeValue + Send + Sync>,
}

impl Outbound {
    pub(crate) fn event<T>(kind: Cow<'static, str>, data: Arc<T>) -> Self
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        Self::Event(Arc::new(EventData {
            kind,
            data: Box::new(ArcValue(data)),
        }))
    }
}

struct ArcValue<T>(Arc<T>);

impl<T: serde::Serialize> serde::Serialize for ArcValue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A command for one connection's task, delivered even when its event queue is full.
#[derive(Debug)]
pub(crate) enum Control {
    /// Stop reading, let requests finish until `deadline`, then close with 1001.
    Shutdown { deadline: tokio::time::Instant },
    /// Close with this code and reason.
    Close {
        code: u16,
        reason: Cow<'static, str>,
    },
}

struct Entry {
    /// The connection's queues: commands, and server events.
    mailbox: Arc<Mailbox>,
    groups: Vec<String>,
    closing: bool,
}

#[derive(Default)]
struct Registry {
    shutting_down: bool,
    connections: HashMap<u64, Entry>,
    groups: HashMap<String, HashSet<u64>>,
}

/// Counters, updated with relaxed atomics.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) tcp_accepted: AtomicU64,
    pub(crate) tcp_refused: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) handshakes_rejected: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) events_dropped: AtomicU64,
    pub(crate) slow_reader_closes: AtomicU64,
    pub(crate) rate_limit_closes: AtomicU64,
    pub(crate) exits: AtomicU64,
    closes: Mutex<BTreeMap<u16, u64>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A connection ended with this close code (1006 when there was none).
    pub(crate) fn closed(&self, code: u16) {
        *lock(&self.closes).entry(code).or_default() += 1;
    }
}

/// A snapshot of the server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// TCP connections accepted.
    pub tcp_accepted: u64,
    /// TCP connections closed at once because too many handshakes were running.
    pub tcp_refused: u64,
    /// Failed `accept` calls (such as `EMFILE`), each followed by a pause.
    pub accept_errors: u64,
    /// HTTP requests served (upgrades included).
    pub http_requests: u64,
    /// WebSocket connections accepted.
    pub connections: u64,
    /// WebSocket connections open now.
    pub open: u64,
    /// Handshakes refused (bad request, origin, subprotocol, decision hook, enter hook).
    pub handshakes_rejected: u64,
    /// Requests handed to handlers.
    pub requests: u64,
    /// Error replies (handler errors and failures, and the core's own error answers).
    pub errors: u64,
    /// Handler or hook panics caught.
    pub panics: u64,
    /// Payload bytes of data messages received.
    pub bytes_in: u64,
    /// Payload bytes of data messages sent.
    pub bytes_out: u64,
    /// Server events not delivered because a connection's queue was full.
    pub events_dropped: u64,
    /// Connections closed with 1008 `slow reader`.
    pub slow_reader_closes: u64,
    /// Connections closed with 1008 for exceeding a rate limit.
    pub rate_limit_closes: u64,
    /// Exit hooks run (equal to `connections` once every connection has ended).
    pub exits: u64,
    /// Ended WebSocket connections by close code (1006: no close frame).
    pub closes: BTreeMap<u16, u64>,
}

/// What the server shares with every connection task and handle.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) counters: Counters,
    registry: Mutex<Registry>,
    shutdown: watch::Sender<bool>,
    /// Live connection tasks (TCP connections, in any phase).
    live: watch::Sender<usize>,
    next_id: AtomicU64,
    accepting: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn new(config: ServerConfig) -> Self {
        Self {
            config,
            counters: Counters::default(),
            registry: Mutex::new(Registry::default()),
            shutdown: watch::Sender::new(false),
            live: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
            accepting: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Adds a connection to the registry; `false` when the server is shutting down (the
    /// connection then starts its own shutdown).
    pub(crate) fn register(&self, id: ConnectionId, mailbox: Arc<Mailbox>) -> bool {
        let mut registry = lock(&self.registry);
        registry.connections.insert(
            id.0,
            Entry {
                mailbox,
                groups: Vec::new(),
                closing: false,
            },
        );
        !registry.shutting_down
    }

    pub(crate) fn unregister(&self, id: ConnectionId) {
        let mut registry = lock(&self.registry);
        let connections = &mut registry.connections;
        // Give memory back after a burst of connections (amortized: at most once per halving).
        if connections.capacity() > 64 && connections.len() * 4 < connections.capacity() {
            let len = connections.len();
            connections.shrink_to(len * 2);
        }
        if let Some(entry) = registry.connections.remove(&id.0) {
            for group in entry.groups {
                if let Some(members) = registry.groups.get_mut(&group) {
                    members.remove(&id.0);
                    if members.is_empty() {
                        registry.groups.remove(&group);
                    }
                }
            }
        }
    }

    pub(crate) fn join(&self, id: ConnectionId, group: &str) {
        let mut registry = lock(&self.registry);
        let Some(entry) = registry.connections.get_mut(&id.0) else {
            return;
        };
        if entry.groups.iter().any(|g| g == group) {
            return;
        }
        entry.groups.push(group.to_string());
        registry
            .groups
            .entry(group.to_string())
            .or_default()
            .insert(id.0);
    }

    pub(crate) fn leave(&self, id: ConnectionId, group: &str) {
        let mut registry = lock(&self.registry);
        let Some(entry) = registry.connections.get_mut(&id.0) else {
            return;
        };
        entry.groups.retain(|g| g != group);
        if let Some(members) = registry.groups.get_mut(group) {
            members.remove(&id.0);
            if members.is_empty() {
                registry.groups.remove(group);
            }
        }
    }

    /// Queues `event` for one connection without waiting; a full queue applies the
    /// slow-reader policy.
    fn deliver(&self, entry: &mut Entry, event: Outbound) -> Result<(), SendError> {
        match entry.mailbox.try_push(event) {
            Ok(()) => Ok(()),
            Err(PushError::Closed) => Err(SendError::Disconnected),
            Err(PushError::Full) => {
                Counters::add(&self.counters.events_dropped, 1);
                if self.config.slow_reader == SlowReaderPolicy::Close && !entry.closing {
                    entry.closing = true;
                    Counters::add(&self.counters.slow_reader_closes, 1);
                    entry.mailbox.control(Control::Close {
                        code: 1008,
                        reason: Cow::Borrowed("slow reader"),
                    });
                }
                Err(SendError::Full)
            }
        }
    }

    fn live_changed(&self, delta: isize) {
        self.live
            .send_modify(|n| *n = n.saturating_add_signed(delta));
    }
}

/// Why an event was not queued for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No open connection has that id.
    Unknown,
    /// The connection's queue is full: the event was dropped and the slow-reader policy
    /// applied.
    Full,
    /// The connection is ending.
    Disconnected,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "no such connection",
            Self::Full => "the connection's event queue is full",
            Self::Disconnected => "the connection is ending",
        })
    }
}

impl std::error::Error for SendError {}

/// How many connections an event reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Queued.
    pub queued: usize,
    /// Not queued (full queue or ending connection).
    pub dropped: usize,
}

/// A handle to a running server, usable from anywhere: push events, close connections,
/// read counters, shut down. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .finish()
    }
}

impl ServerHandle {
    /// Queues an event for connection `id`. Never waits: a full queue drops the event and
    /// applies the slow-reader policy.
    ///
    /// # Errors
    /// [`SendError`] when the event was not queued.
    pub fn send_to<T>(
        &self,
        id: ConnectionId,
        kind: impl Into<Cow<'static, str>>,
        data: T,
    ) -> Result<(), SendError>
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        let event = Outbound::event(kind.into(), Arc::new(data));
        let mut registry = lock(&self.shared.registry);
        let entry = registry
            .connections
            .get_mut(&id.0)
            .ok_or(SendError::Unknown)?;
        self.shared.deliver(entry, event)
    }

    /// Queues an event for every connection in `group`, never waiting on any of them.
    pub fn send_to_group<T>(
        &self,
        group: &str,
        kind: impl Into<Cow<'static, str>>,
        data: T,
    ) -> Delivery
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        let event = Outbound::event(kind.into(), Arc::new(data));
        let mut registry = lock(&self.shared.registry);
        let registry = &mut *registry;
        let mut delivery = Delivery::default();
        let Some(members) = registry.groups.get(group) else {
            return delivery;
        };
        for id in members {
            if let Some(entry) = registry.connections.get_mut(id) {
                match self.shared.deliver(entry, event.clone()) {
                    Ok(()) => delivery.queued += 1,
                    Err(_) => delivery.dropped += 1,
                }
            }
        }
        delivery
    }

    /// Queues an event for every open connection, never waiting on any of them.
    pub fn broadcast<T>(&self, kind: impl Into<Cow<'static, str>>, data: T) -> Delivery
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        let event = Outbound::event(kind.into(), Arc::new(data));
        let mut registry = lock(&self.shared.registry);
        let mut delivery = Delivery::default();
        for entry in registry.connections.values_mut() {
            match self.shared.deliver(entry, event.clone()) {
                Ok(()) => delivery.queued += 1,
                Err(_) => delivery.dropped += 1,
            }
        }
        delivery
    }

    /// Closes connection `id` with `code` and `reason`; `false` if there is no such
    /// connection.
    pub fn close(&self, id: ConnectionId, code: u16, reason: impl Into<Cow<'static, str>>) -> bool {
        let mut registry = lock(&self.shared.registry);
        let Some(entry) = registry.connections.get_mut(&id.0) else {
            return false;
        };
        entry.closing = true;
        entry.mailbox.control(Control::Close {
            code,
            reason: reason.into(),
        })
    }

    /// Adds connection `id` to `group`.
    pub fn join(&self, id: ConnectionId, group: &str) {
        self.shared.join(id, group);
    }

    /// Removes connection `id` from `group`.
    pub fn leave(&self, id: ConnectionId, group: &str) {
        self.shared.leave(id, group);
    }

    /// The open WebSocket connections.
    pub fn connections(&self) -> usize {
        lock(&self.shared.registry).connections.len()
    }

    /// The ids of the open WebSocket connections.
    pub fn connection_ids(&self) -> Vec<ConnectionId> {
        lock(&self.shared.registry)
            .connections
            .keys()
            .map(|id| ConnectionId(*id))
            .collect()
    }

    /// Live connection tasks (TCP connections in any phase).
    pub fn live_tasks(&self) -> usize {
        *self.shared.live.borrow()
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            tcp_accepted: get(&c.tcp_accepted),
            tcp_refused: get(&c.tcp_refused),
            accept_errors: get(&c.accept_errors),
            http_requests: get(&c.http_requests),
            connections: get(&c.connections),
            open: self.connections() as u64,
            handshakes_rejected: get(&c.handshakes_rejected),
            requests: get(&c.requests),
            errors: get(&c.errors),
            panics: get(&c.panics),
            bytes_in: get(&c.bytes_in),
            bytes_out: get(&c.bytes_out),
            events_dropped: get(&c.events_dropped),
            slow_reader_closes: get(&c.slow_reader_closes),
            rate_limit_closes: get(&c.rate_limit_closes),
            exits: get(&c.exits),
            closes: lock(&c.closes).clone(),
        }
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }

    /// Graceful shutdown, in this order: stop accepting; every connection stops reading
    /// requests; requests in flight finish until [`shutdown_grace`] (then they are
    /// cancelled); replies are flushed; each connection is closed with 1001; the close
    /// handshake is awaited up to the close timeout; every exit hook runs. Resolves when
    /// every connection task has ended. Calling it again only waits.
    ///
    /// [`shutdown_grace`]: ServerConfig::shutdown_grace
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        self.wait().await;
    }

    /// Starts the shutdown without waiting for it.
    pub fn begin_shutdown(&self) {
        let deadline = tokio::time::Instant::now() + self.shared.config.shutdown_grace;
        {
            let mut registry = lock(&self.shared.registry);
            if registry.shutting_down {
                return;
            }
            registry.shutting_down = true;
            for entry in registry.connections.values() {
                entry.mailbox.control(Control::Shutdown { deadline });
            }
        }
        info!("shutting down");
        self.shared.shutdown.send_replace(true);
    }

    /// Waits until shutdown has begun and every connection task has ended.
    pub async fn wait(&self) {
        let mut shutdown = self.shared.shutdown.subscribe();
        let _ = shutdown.wait_for(|s| *s).await;
        let mut live = self.shared.live.subscribe();
        let _ = live.wait_for(|n| *n == 0).await;
        let mut accepting = self.shared.live.subscribe();
        while self.shared.accepting.load(Ordering::Acquire) {
            if accepting.changed().await.is_err() {
                break;
            }
        }
    }
}

/// A bound server, ready to [`run`](Self::run).
pub struct Server<C> {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    app: Arc<App<C>>,
}

impl<C: Default + Send + Sync + 'static> Server<C> {
    /// Binds `addr` (backlog from the config) for `app`.
    ///
    /// # Errors
    /// An invalid configuration ([`io::ErrorKind::InvalidInput`]), or the socket's errors.
    pub async fn bind(addr: SocketAddr, config: ServerConfig, app: App<C>) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let _ = time::now();
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(config.backlog)?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            shared: Arc::new(Shared::new(config)),
            app: Arc::new(app),
        })
    }

    /// The address bound (with the port chosen, when it was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Accepts connections until shutdown begins, then waits for every connection to end.
    /// Each connection runs in one task of its own (an upgraded one continues in a new task
    /// that holds only the WebSocket driver's state). A failed `accept` (such as `EMFILE`,
    /// out of file descriptors) is logged and retried after `accept_backoff`.
    pub async fn run(self) {
        let Self {
            listener,
            local_addr,
            shared,
            app,
        } = self;
        info!(%local_addr, path = %app.path, "listening");
        shared.accepting.store(true, Ordering::Release);
        let slots = Arc::new(Semaphore::new(shared.config.max_connections));
        let handshakes = Arc::new(Semaphore::new(shared.config.max_handshakes));
        let mut shutdown = shared.shutdown.subscribe();
        loop {
            let permit = tokio::select! {
                biased;
                _ = shutdown_begun(&mut shutdown) => break,
                permit = slots.clone().acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break };
            let accepted = tokio::select! {
                biased;
                _ = shutdown_begun(&mut shutdown) => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_per_connection(&error) => {
                    debug!(%error, "accept: connection failed before it was accepted");
                    continue;
                }
                Err(error) => {
                    Counters::add(&shared.counters.accept_errors, 1);
                    warn!(%error, backoff = ?shared.config.accept_backoff, "accept failed; retrying");
                    tokio::time::sleep(shared.config.accept_backoff).await;
                    continue;
                }
            };
            Counters::add(&shared.counters.tcp_accepted, 1);
            let Ok(handshake) = handshakes.clone().try_acquire_owned() else {
                Counters::add(&shared.counters.tcp_refused, 1);
                debug!(%peer, "too many handshakes in progress; connection closed");
                continue;
            };
            if let Err(error) = tcp.set_nodelay(shared.config.nodelay) {
                debug!(%error, "TCP_NODELAY");
            }
            shared.live_changed(1);
            let task = serve_tcp(tcp, peer, shared.clone(), app.clone(), permit, handshake);
            tokio::spawn(task.instrument(tracing::debug_span!("conn", %peer)));
        }
        drop(listener);
        shared.accepting.store(false, Ordering::Release);
        shared.live.send_modify(|_| {});
        info!("no longer accepting");
        let mut live = shared.live.subscribe();
        let _ = live.wait_for(|n| *n == 0).await;
    }
}

/// Resolves once shutdown has begun.
async fn shutdown_begun(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Errors of `accept` that concern one incoming connection, not the listener.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Decrements the live-task count when a connection task ends, however it ends.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live_changed(-1);
    }
}

/// What one TCP connection's HTTP service shares with its task.
struct TcpContext<C> {
    shared: Arc<Shared>,
    app: Arc<App<C>>,
    peer: SocketAddr,
    upgrade: Mutex<Option<Pending<C>>>,
}

/// One TCP connection: HTTP requests, then (after an upgrade) the WebSocket driver, in a
/// task of its own that holds only the driver's state (the HTTP connection's is freed).
async fn serve_tcp<C: Default + Send + Sync + 'static>(
    tcp: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    app: Arc<App<C>>,
    slot: OwnedSemaphorePermit,
    handshake_permit: OwnedSemaphorePermit,
) {
    let live = LiveGuard(shared.clone());
    let context = Arc::new(TcpContext {
        shared: shared.clone(),
        app,
        peer,
        upgrade: Mutex::new(None),
    });
    let service = {
        let context = context.clone();
        service_fn(move |request| {
            let context = context.clone();
            async move { Ok::<_, Infallible>(serve_http(request, &context).await) }
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout)
        .max_header_size(shared.config.max_header_size)
        .max_buf_size(shared.config.max_header_size.max(8192) + 8192)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = shared.shutdown.subscribe();
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown_begun(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(error) = result {
        debug!(%error, "HTTP connection ended");
    }
    drop(handshake_permit);
    let pending = lock(&context.upgrade).take();
    if let Some(pending) = pending {
        let run = connection::run(pending, shared);
        tokio::spawn(
            async move {
                let _live = live;
                let _slot = slot;
                run.await;
            }
            .instrument(tracing::Span::current()),
        );
    }
}

async fn serve_http<C: Default + Send + Sync + 'static>(
    request: http::Request<Incoming>,
    context: &TcpContext<C>,
) -> HttpResponse {
    let shared = &context.shared;
    Counters::add(&shared.counters.http_requests, 1);
    let path = request.uri().path().to_string();
    if let Some(params) = match_path(&context.app.path, &path) {
        let response = upgrade(request, params, context).await;
        debug!(status = %response.status(), "upgrade request");
        return response;
    }
    debug!(method = %request.method(), uri = %handshake::redacted(request.uri()), "HTTP request");
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if path == "/healthz" {
        return healthz(shared);
    }
    if let Some((_, handler)) = context.app.http.iter().find(|(p, _)| *p == path) {
        let (parts, _body) = request.into_parts();
        return match AssertUnwindSafe(handler(parts)).catch_unwind().await {
            Ok(response) => response,
            Err(_) => {
                Counters::add(&shared.counters.panics, 1);
                warn!(%path, "HTTP handler panicked");
                text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n")
            }
        };
    }
    text(StatusCode::NOT_FOUND, "not found\n")
}

fn healthz(shared: &Arc<Shared>) -> HttpResponse {
    let stats = ServerHandle {
        shared: shared.clone(),
    }
    .stats();
    let (status, state) = if shared.is_shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ok")
    };
    let closes: Vec<String> = stats
        .closes
        .iter()
        .map(|(code, n)| format!("\"{code}\":{n}"))
        .collect();
    let body = format!(
        concat!(
            "{{\"status\":\"{}\",\"tcp_accepted\":{},\"tcp_refused\":{},",
            "\"accept_errors\":{},\"http_requests\":{},",
            "\"open\":{},\"connections\":{},\"requests\":{},",
            "\"errors\":{},\"panics\":{},\"bytes_in\":{},\"bytes_out\":{},",
            "\"handshakes_rejected\":{},\"events_dropped\":{},\"slow_reader_closes\":{},",
            "\"rate_limit_closes\":{},\"exits\":{},\"closes\":{{{}}}}}\n"
        ),
        state,
        stats.tcp_accepted,
        stats.tcp_refused,
        stats.accept_errors,
        stats.http_requests,
        stats.open,
        stats.connections,
        stats.requests,
        stats.errors,
        stats.panics,
        stats.bytes_in,
        stats.bytes_out,
        stats.handshakes_rejected,
        stats.events_dropped,
        stats.slow_reader_closes,
        stats.rate_limit_closes,
        stats.exits,
        closes.join(","),
    );
    crate::app::http_response(status, "application/json", body)
}

/// A copy of `headers` that owns its bytes: hyper's header values are slices of its read
/// buffer, and a clone would keep that whole buffer alive as long as the connection.
fn owned_headers(headers: &http::HeaderMap) -> http::HeaderMap {
    let mut owned = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let Ok(mut copy) = http::HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            owned.append(name.clone(), copy);
        }
    }
    owned
}

/// The WebSocket handshake: every decision happens here, before the `101`.
async fn upgrade<C: Default + Send + Sync + 'static>(
    mut request: http::Request<Incoming>,
    params: Vec<(String, String)>,
    context: &TcpContext<C>,
) -> HttpResponse {
    let shared = &context.shared;
    let app = &context.app;
    let refuse = |response: HttpResponse| {
        Counters::add(&shared.counters.handshakes_rejected, 1);
        response
    };
    if shared.is_shutting_down() {
        return refuse(text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"));
    }
    let accept_key = match handshake::check_upgrade(request.method(), request.headers()) {
        Ok(key) => key,
        Err(response) => return refuse(*response),
    };
    if !handshake::origin_allowed(&shared.config.origins, request.headers()) {
        return refuse(text(StatusCode::FORBIDDEN, "origin not allowed\n"));
    }
    let offered = handshake::offered_subprotocols(request.headers());
    let Ok(negotiated) = negotiate::<AnyCodec>(offered.as_deref()) else {
        return refuse(text(
            StatusCode::BAD_REQUEST,
            "none of the offered subprotocols is supported (quartet.v1.json, quartet.v1.postcard)\n",
        ));
    };
    let info = Arc::new(RequestInfo {
        path: request.uri().path().to_string(),
        query: request.uri().query().map(str::to_string),
        params,
        headers: owned_headers(request.headers()),
        peer: context.peer,
        subprotocol: negotiated.subprotocol,
        identity: std::sync::OnceLock::new(),
    });

    let now = time::now();
    let mut core = Box::new(Core::new(now, shared.config.core));
    if core.handle_upgrade(now).is_err() {
        return refuse(text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error\n",
        ));
    }
    let decision = match &app.decide {
        None => Decision::Accept,
        Some(decide) => {
            let deadline = core.poll_timeout().map(time::to_tokio);
            let decided = AssertUnwindSafe(decide(info.clone())).catch_unwind();
            let outcome = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, decided).await.ok(),
                None => Some(decided.await),
            };
            match outcome {
                Some(Ok(decision)) => decision,
                Some(Err(_)) => {
                    Counters::add(&shared.counters.panics, 1);
                    warn!("handshake decision panicked");
                    let _ = core.reject(time::now());
                    return refuse(text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal server error\n",
                    ));
                }
                None => {
                    core.handle_timeout(time::now());
                    debug!(event = ?core.poll_event(), "handshake decision timed out");
                    return refuse(text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "handshake timed out\n",
                    ));
                }
            }
        }
    };
    let close_after = match decision {
        Decision::Accept => None,
        Decision::Reject { status, body } => {
            let _ = core.reject(time::now());
            return refuse(text(status, body.into_owned()));
        }
        Decision::AcceptThenClose { code, reason } => Some((code, reason)),
    };

    let id = ConnectionId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let mailbox = Arc::new(Mailbox::new(shared.config.event_queue));
    let scope = Scope {
        request: info,
        context: Arc::new(C::default()),
        conn: Conn {
            id,
            mailbox: mailbox.clone(),
            shared: shared.clone(),
        },
        exit: None,
    };
    let start = match (&close_after, &app.enter) {
        (Some((code, reason)), _) => Start::Close(*code, reason.clone()),
        (None, None) => Start::Ready,
        (None, Some(enter)) => {
            match std::panic::catch_unwind(AssertUnwindSafe(|| enter.start(&scope))) {
                // A panic in its extractors is the enter hook's: accepted, `internal-error`.
                Err(_) => {
                    Counters::add(&shared.counters.panics, 1);
                    warn!("enter hook panicked");
                    Start::EnterFailed
                }
                Ok(Ok(future)) => Start::Enter(future),
                Ok(Err(error)) if shared.config.profile() == Profile::Seed000 => {
                    debug!(
                        extractor = error.source,
                        "enter hook extractor failed; accepting (seed000 profile)"
                    );
                    Start::EnterFailed
                }
                Ok(Err(error)) => {
                    debug!(
                        extractor = error.source,
                        "enter hook extractor failed; refusing the handshake"
                    );
                    let _ = core.reject(time::now());
                    return refuse(text(StatusCode::BAD_REQUEST, format!("{error}\n")));
                }
            }
        }
    };
    if core.accept(time::now(), negotiated.codec).is_err() {
        return refuse(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "handshake timed out\n",
        ));
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    *lock(&context.upgrade) = Some(Pending {
        id,
        on_upgrade,
        core,
        scope,
        inbox: Inbox(mailbox),
        start,
        app: app.clone(),
    });
    handshake::switching_protocols(&accept_key, negotiated.subprotocol)
}
