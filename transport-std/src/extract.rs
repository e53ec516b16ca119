//! Extractors: typed values a handler or hook takes as arguments, read from the connection's
//! handshake request and context. This is what the seed library injects by name (`context`,
//! `game_id = from_query(...)`, `from_header`, `from_cookie`); here each is a type.
//!
//! | extractor | gives | fails when |
//! |---|---|---|
//! | [`Ctx<C>`] | the per-connection context (shared, read-only) | never |
//! | [`Query<T>`] | the query string, deserialized into `T` | a field is missing or malformed |
//! | [`Path<T>`] | the `{name}` segments of the route, into `T` | as above |
//! | [`Headers<T>`] | request headers (lower-case names), into `T` | as above |
//! | [`Cookies<T>`] | the `Cookie` header's pairs, into `T` | as above |
//! | [`Handshake`] | the whole [`RequestInfo`] | never |
//! | [`Conn`] | this connection: push events, join groups, the server handle | never |
//! | [`Exited`] | how the connection ended | outside the exit hook |
//!
//! `T` is any `serde::Deserialize` struct: `#[derive(Deserialize)] struct Q { game_id: i64 }`
//! with `Query<Q>` reads `?game_id=7` as the integer 7, fails on `?game_id=abc` with
//! ``query: `game_id`: expected an integer, got "abc" (invalid digit found in string)``
//! and on a missing one with ``query: missing field `game_id` ``. Use `Option<_>` fields for optional
//! values and `#[serde(rename = "x-player")]` for header names.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use http::HeaderMap;
use protocol_core::connection::Exit;
use serde::de::DeserializeOwned;

use crate::server::{Outbound, Shared};

/// The handshake request of a WebSocket connection, as the decision hook and the extractors
/// see it. Its `Debug` output leaves out the query string and the header values (they may
/// carry credentials).
pub struct RequestInfo {
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) peer: SocketAddr,
    pub(crate) subprotocol: Option<&'static str>,
    /// Set by the authentication verifier, read by `Verified`.
    pub(crate) identity: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
}

impl fmt::Debug for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("RequestInfo")
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("params", &self.params)
            .field("headers", &headers)
            .field("peer", &self.peer)
            .field("subprotocol", &self.subprotocol)
            .finish()
    }
}

impl RequestInfo {
    /// The request path (without the query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, if any. Never logged by this crate (it may hold secrets).
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The value of the route's `{name}` segment.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name`, if it is visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Origin` header (browsers send it; other clients usually do not).
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Every cookie of every `Cookie` header, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .get_all("cookie")
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                Some((name.trim(), value))
            })
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The subprotocol the connection speaks, when the client named one.
    pub fn subprotocol(&self) -> Option<&'static str> {
        self.subprotocol
    }
}

/// What extractors read from: one connection's request, context and handle.
pub struct Scope<C> {
    pub(crate) request: Arc<RequestInfo>,
    pub(crate) context: Arc<C>,
    pub(crate) conn: Conn,
    pub(crate) exit: Option<Exit>,
}

impl<C> Scope<C> {
    /// The handshake request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The per-connection context.
    pub fn context(&self) -> &C {
        &self.context
    }

    /// This connection's handle.
    pub fn conn(&self) -> &Conn {
        &self.conn
    }
}

/// A value a handler or hook can take as an argument.
pub trait FromScope<C>: Sized {
    /// Reads the value.
    ///
    /// # Errors
    /// An [`ExtractError`] saying what is missing or malformed.
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError>;
}

/// An extractor could not produce its value. Endpoint handlers then answer `internal-error`
/// (the seed's "DI value missing"); a failing enter hook extractor refuses the handshake
/// with 400 and this message (`Default` profile) or accepts and sends an `internal-error`
/// event (`Seed000` profile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractError {
    /// Which extractor: `query`, `path`, `headers`, `cookies`, `exit`.
    pub source: &'static str,
    /// What was wrong.
    pub message: Cow<'static, str>,
}

impl ExtractError {
    /// An error from extractor `source`.
    pub fn new(source: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            source,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ExtractError {}

/// The per-connection context, created with `C::default()` for each connection. Handlers
/// read it; mutation goes through interior mutability of the application's choosing
/// (`OnceLock`, `Mutex`, atomics), since handlers of one connection run concurrently and
/// the connection's future is `Send`.
pub struct Ctx<C>(pub Arc<C>);

impl<C> Deref for Ctx<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> Clone for Ctx<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C> FromScope<C> for Ctx<C> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        Ok(Self(scope.context.clone()))
    }
}

/// Deserializes name/value pairs into `T`.
fn from_pairs<'a, T: DeserializeOwned>(
    source: &'static str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<T, ExtractError> {
    crate::pairs::from_pairs(pairs).map_err(|message| ExtractError::new(source, message))
}

/// The query string, deserialized into `T`.
#[derive(Clone, Debug)]
pub struct Query<T>(pub T);

impl<C, T: DeserializeOwned> FromScope<C> for Query<T> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        let query = scope.request.query.as_deref().unwrap_or("");
        let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
        from_pairs("query", pairs.iter().map(|(n, v)| (&**n, &**v))).map(Self)
    }
}

/// The route's `{name}` segments, deserialized into `T`.
#[derive(Clone, Debug)]
pub struct Path<T>(pub T);

impl<C, T: DeserializeOwned> FromScope<C> for Path<T> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        let pairs = scope
            .request
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        from_pairs("path", pairs).map(Self)
    }
}

/// The request headers (names in lower case), deserialized into `T`.
#[derive(Clone, Debug)]
pub struct Headers<T>(pub T);

impl<C, T: DeserializeOwned> FromScope<C> for Headers<T> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        let pairs = scope
            .request
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
        from_pairs("headers", pairs).map(Self)
    }
}

/// The cookies, deserialized into `T`. A name sent twice (browsers send one cookie per
/// matching path, the most specific first) takes its first value, as
/// [`RequestInfo::cookie`] does.
#[derive(Clone, Debug)]
pub struct Cookies<T>(pub T);

impl<C, T: DeserializeOwned> FromScope<C> for Cookies<T> {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        let mut seen = Vec::new();
        let first = scope.request.cookies().filter(|(name, _)| {
            let new = !seen.contains(name);
            if new {
                seen.push(*name);
            }
            new
        });
        from_pairs("cookies", first).map(Self)
    }
}

/// The whole handshake request.
#[derive(Clone, Debug)]
pub struct Handshake(pub Arc<RequestInfo>);

impl Deref for Handshake {
    type Target = RequestInfo;
    fn deref(&self) -> &RequestInfo {
        &self.0
    }
}

impl<C> FromScope<C> for Handshake {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        Ok(Self(scope.request.clone()))
    }
}

/// How the connection ended; only in the exit hook.
#[derive(Clone, Copy, Debug)]
pub struct Exited(pub Exit);

impl<C> FromScope<C> for Exited {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        scope
            .exit
            .map(Self)
            .ok_or_else(|| ExtractError::new("exit", "only available in the exit hook"))
    }
}

/// A connection's id, unique for the server's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// This connection, for handlers: push events to it, put it in groups, reach the server.
#[derive(Clone)]
pub struct Conn {
    pub(crate) id: ConnectionId,
    pub(crate) mailbox: Arc<crate::mailbox::Mailbox>,
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").field("id", &self.id).finish()
    }
}

/// The connection has ended; the event was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnected;

impl fmt::Display for Disconnected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection has ended")
    }
}

impl std::error::Error for Disconnected {}

impl Conn {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// Pushes an event to this connection (the seed's `send_event`). Waits while the
    /// connection's event queue is full: a handler is slowed down by its own slow reader.
    /// Events a handler sends before it returns are written before its reply.
    ///
    /// # Errors
    /// [`Disconnected`] when the connection has ended.
    pub async fn send_event<T>(
        &self,
        kind: impl Into<Cow<'static, str>>,
        data: T,
    ) -> Result<(), Disconnected>
    where
        T: serde::Serialize + Send + Sync + 'static,
    {
        let event = Outbound::event(kind.into(), Arc::new(data));
        self.mailbox.send_event(event).await
    }

    /// Pushes an `error` event `{reason, code}` without an id (the seed's `send_error`).
    ///
    /// # Errors
    /// [`Disconnected`] when the connection has ended.
    pub async fn send_error(
        &self,
        reason: impl Into<Cow<'static, str>>,
        code: impl Into<Cow<'static, str>>,
    ) -> Result<(), Disconnected> {
        let event = Outbound::Error(Box::new((reason.into(), code.into())));
        self.mailbox.send_event(event).await
    }

    /// Adds this connection to `group` (see [`ServerHandle::send_to_group`]).
    ///
    /// [`ServerHandle::send_to_group`]: crate::ServerHandle::send_to_group
    pub fn join(&self, group: &str) {
        self.shared.join(self.id, group);
    }

    /// Removes this connection from `group`.
    pub fn leave(&self, group: &str) {
        self.shared.leave(self.id, group);
    }

    /// The server's handle.
    pub fn server(&self) -> crate::ServerHandle {
        crate::ServerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<C> FromScope<C> for Conn {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        Ok(scope.conn.clone())
    }
}

/// The peer's socket address.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl<C> FromScope<C> for Peer {
    fn from_scope(scope: &Scope<C>) -> Result<Self, ExtractError> {
        Ok(Self(scope.request.peer))
    }
}
