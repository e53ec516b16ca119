//! The application: a WebSocket route with its hooks and endpoint handlers, a handshake
//! decision, and plain HTTP routes served on the same port.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use protocol_core::Str;
use protocol_core::connection::{RouteId, Routes};
use protocol_core::endpoint::Endpoint;
use protocol_core::limits::MAX_NAME_LEN;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::extract::RequestInfo;
use crate::free::{FreeError, FreeRouter, FreeTyped, Incoming, IntoFrames};
use crate::handler::{
    BoxFuture, Enter, EnterHook, Exit, ExitHook, Handler, HandlerError, Hook, Raw, RawData, Route,
    Typed,
};

/// An HTTP response of a plain route or a refused handshake.
pub type HttpResponse = http::Response<Full<Bytes>>;

/// A response with `status`, a `Content-Type` and a body.
pub fn http_response(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut response = http::Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// The handshake decision, made before the upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Accept the WebSocket.
    Accept,
    /// Refuse it with an HTTP status and a plain-text body. Browsers do not let the page
    /// read either: prefer [`Decision::AcceptThenClose`] when the page must know why.
    Reject {
        /// The HTTP status (4xx or 5xx).
        status: http::StatusCode,
        /// The body.
        body: Cow<'static, str>,
    },
    /// Accept, then close at once with `code` (1008, or 4401 for failed authentication) and
    /// `reason`, which a browser can read. The enter hook does not run; the exit hook does.
    AcceptThenClose {
        /// The close code.
        code: u16,
        /// The close reason (at most 123 bytes).
        reason: Cow<'static, str>,
    },
}

impl Decision {
    /// [`Decision::Reject`].
    pub fn reject(status: http::StatusCode, body: impl Into<Cow<'static, str>>) -> Self {
        Self::Reject {
            status,
            body: body.into(),
        }
    }

    /// [`Decision::AcceptThenClose`].
    pub fn close_after_accept(code: u16, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::AcceptThenClose {
            code,
            reason: reason.into(),
        }
    }
}

pub(crate) type Decide = dyn Fn(Arc<RequestInfo>) -> BoxFuture<Decision> + Send + Sync;
type HttpHandler = dyn Fn(http::request::Parts) -> BoxFuture<HttpResponse> + Send + Sync;

/// The endpoint names of an app, for the core's router.
#[derive(Default)]
pub(crate) struct RouteTable {
    names: Vec<&'static str>,
}

impl RouteTable {
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.names.contains(&name)
    }

    pub(crate) fn push(&mut self, name: &'static str) {
        self.names.push(name);
    }
}

impl Routes for RouteTable {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        let index = match endpoint.as_plain() {
            // The usual case: a name without escapes, compared as plain text.
            Some(plain) => self.names.iter().position(|name| *name == plain),
            None => self.names.iter().position(|name| *endpoint == **name),
        }?;
        u16::try_from(index).ok().map(RouteId)
    }
}

/// A WebSocket application: hooks and handlers for connections at one path, with a
/// per-connection context `C` (created with `C::default()`).
///
/// ```ignore
/// let app = App::<Game>::new("/ws")
///     .enter(enter)
///     .endpoint::<MoveEndpoint, _, _>(move_)
///     .raw("echo", echo)
///     .exit(exit)
///     .get("/", page);
/// ```
pub struct App<C> {
    pub(crate) path: String,
    pub(crate) table: RouteTable,
    pub(crate) routes: Vec<Box<dyn Route<C>>>,
    pub(crate) enter: Option<Box<dyn EnterHook<C>>>,
    pub(crate) exit: Option<Box<dyn ExitHook<C>>>,
    /// The handshake decision the server runs: [`Self::handshake_hook`], then
    /// [`Self::authentication`] if it accepted (rebuilt by [`Self::compose_decision`]).
    pub(crate) decide: Option<Box<Decide>>,
    /// The application's own decision ([`handshake`](Self::handshake)).
    handshake_hook: Option<Arc<Decide>>,
    /// Authentication ([`authenticate`](Self::authenticate)), run after the decision.
    pub(crate) authentication: Option<Arc<Decide>>,
    pub(crate) http: Vec<(String, Box<HttpHandler>)>,
    pub(crate) free: Option<FreeRouter<C>>,
}

impl<C: Default + Send + Sync + 'static> App<C> {
    /// An app serving WebSocket connections at `path`. `{name}` segments match any one
    /// segment and are read with the [`Path`](crate::extract::Path) extractor
    /// (`/games/{game_id}`).
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_string(),
            table: RouteTable { names: Vec::new() },
            routes: Vec::new(),
            enter: None,
            exit: None,
            decide: None,
            handshake_hook: None,
            authentication: None,
            http: Vec::new(),
            free: None,
        }
    }

    /// The enter hook: runs once the connection is accepted. Events it sends go out first;
    /// its `Ok` value is the `init` event; an `Err` is an `error` event instead
    /// (`internal-error`, or a request error's reason and code). Requests are read once it
    /// has finished.
    ///
    /// When one of its extractors fails, the `Default` profile refuses the handshake with
    /// HTTP 400 and the error as the body; the `Seed000` profile accepts, sends the
    /// `internal-error` event, and the context stays as `C::default()` made it.
    #[must_use]
    pub fn enter<H, Args, R, E>(mut self, hook: H) -> Self
    where
        H: Hook<C, Args, Output = Result<R, E>>,
        R: Serialize + Send + 'static,
        E: Into<HandlerError> + 'static,
        Args: 'static,
    {
        self.enter = Some(Box::new(Enter {
            hook,
            args: PhantomData,
        }));
        self
    }

    /// The exit hook: runs exactly once for every accepted connection, however it ended
    /// (client close, transport error, protocol error, handler panic, shutdown), also when
    /// the enter hook failed. The [`Exited`](crate::extract::Exited) extractor says how.
    #[must_use]
    pub fn exit<H, Args>(mut self, hook: H) -> Self
    where
        H: Hook<C, Args, Output = ()>,
        Args: 'static,
    {
        self.exit = Some(Box::new(Exit {
            hook,
            args: PhantomData,
        }));
        self
    }

    /// A handler for endpoint `name` whose data is deserialized into its last argument's
    /// type and whose result is serialized.
    ///
    /// # Panics
    /// When `name` is already routed or longer than the core's name limit.
    #[must_use]
    pub fn route<H, Args>(self, name: &'static str, handler: H) -> Self
    where
        H: Handler<C, Args>,
        H::Data: DeserializeOwned,
        H::Output: Serialize + Send + 'static,
        Args: 'static,
    {
        self.add(
            name,
            Box::new(Typed {
                name,
                handler,
                args: PhantomData,
            }),
        )
    }

    /// The handler of a typed endpoint description ([`Endpoint`]): its name, request and
    /// response types come from `E`.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    #[must_use]
    pub fn endpoint<E, H, Args>(self, handler: H) -> Self
    where
        E: Endpoint,
        H: Handler<C, Args, Data = E::Request, Output = E::Response>,
        E::Response: Send + 'static,
        Args: 'static,
    {
        self.route(E::NAME, handler)
    }

    /// A raw handler: it gets the request's `data` as it arrived and returns data in the
    /// same codec, written verbatim.
    ///
    /// # Panics
    /// As [`route`](Self::route).
    #[must_use]
    pub fn raw<H, Args>(self, name: &'static str, handler: H) -> Self
    where
        H: Handler<C, Args, Data = RawData, Output = RawData>,
        Args: 'static,
    {
        self.add(
            name,
            Box::new(Raw {
                name,
                handler,
                args: PhantomData,
            }),
        )
    }

    fn add(mut self, name: &'static str, route: Box<dyn Route<C>>) -> Self {
        assert!(
            name.len() <= MAX_NAME_LEN,
            "endpoint name {name:?} is longer than {MAX_NAME_LEN} bytes"
        );
        assert!(
            !self.table.names.contains(&name),
            "endpoint {name:?} is routed twice"
        );
        assert!(
            self.routes.len() < usize::from(u16::MAX),
            "too many endpoints"
        );
        self.table.names.push(name);
        self.routes.push(route);
        self
    }

    /// The handshake decision: accept, refuse with an HTTP status, or accept and close. It
    /// runs after the server's own checks (WebSocket headers, origin, subprotocol) and is
    /// bounded by the core's handshake timeout (then: 503).
    #[must_use]
    pub fn handshake<F, Fut>(mut self, decide: F) -> Self
    where
        F: Fn(Arc<RequestInfo>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Decision> + Send + 'static,
    {
        self.handshake_hook = Some(Arc::new(move |request| Box::pin(decide(request))));
        self.compose_decision();
        self
    }

    /// Rebuilds [`Self::decide`]: the application's decision first, then authentication
    /// when it accepted, whichever order the two were set in.
    pub(crate) fn compose_decision(&mut self) {
        self.decide = match (self.handshake_hook.clone(), self.authentication.clone()) {
            (None, None) => None,
            (Some(only), None) | (None, Some(only)) => Some(Box::new(move |request| only(request))),
            (Some(first), Some(then)) => Some(Box::new(move |request: Arc<RequestInfo>| {
                let (first, then) = (first.clone(), then.clone());
                Box::pin(async move {
                    let decision = first(request.clone()).await;
                    if decision != Decision::Accept {
                        return decision;
                    }
                    then(request).await
                })
            })),
        };
    }

    /// A plain HTTP `GET` route on the same port (exact path match).
    #[must_use]
    pub fn get<F, Fut>(mut self, path: &str, handler: F) -> Self
    where
        F: Fn(http::request::Parts) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        self.http.push((
            path.to_string(),
            Box::new(move |parts| Box::pin(handler(parts))),
        ));
        self
    }

    /// Makes this a free-form app: its messages are not quartet frames but JSON objects
    /// routed by `discriminator` (seed 001: `Discriminator::whole("action")`, seed 002:
    /// `whole("type")`, seed 003: `member("Type", "Data")`) to the handlers added with
    /// [`on`](Self::on). Endpoint handlers, the enter hook's `init` event and the
    /// envelope's error replies do not apply to a free-form app; the exit hook, the
    /// handshake decision and extractors do.
    #[must_use]
    pub fn dispatch_by(
        mut self,
        discriminator: protocol_core::dispatch::Discriminator<'static>,
    ) -> Self {
        self.free = Some(FreeRouter::new(discriminator));
        self
    }

    /// A free-form handler for messages whose key is `key`. Its data (the whole object, or
    /// the discriminator's data member) is deserialized with `serde_json` into its last
    /// argument's type; it returns the frames to send ([`IntoFrames`]: `()`, a `String`,
    /// [`Json`](crate::free::Json), frames…). Route ids (for a custom
    /// [`dispatcher`](Self::dispatcher)) are the order of the `on` calls, from 0.
    ///
    /// # Panics
    /// Before [`dispatch_by`](Self::dispatch_by), or when `key` is already routed.
    #[must_use]
    pub fn on<H, Args>(mut self, key: &'static str, handler: H) -> Self
    where
        H: Handler<C, Args>,
        H::Data: DeserializeOwned,
        H::Output: IntoFrames + Send + 'static,
        Args: 'static,
    {
        self.free_mut().add(
            key,
            Box::new(FreeTyped {
                handler,
                args: PhantomData,
            }),
        );
        self
    }

    /// The fallback of a free-form app (seed 001's `on_fallback`): it gets every message
    /// that could not be routed, whose data did not fit, or whose handler failed or
    /// panicked, with the reason, and returns the frames to send. The connection stays
    /// open. Without one, such messages get no answer.
    ///
    /// # Panics
    /// Before [`dispatch_by`](Self::dispatch_by).
    #[must_use]
    pub fn fallback<F, Fut, R>(mut self, fallback: F) -> Self
    where
        F: Fn(Incoming, FreeError) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoFrames + 'static,
    {
        self.free_mut()
            .set_fallback(Arc::new(move |incoming, error| {
                let future = fallback(incoming, error);
                Box::pin(async move { future.await.into_frames() })
            }));
        self
    }

    /// Replaces the free-form app's field dispatcher (seed 001's `dispatcher`). Its route
    /// ids are the order of the [`on`](Self::on) calls.
    ///
    /// # Panics
    /// Before [`dispatch_by`](Self::dispatch_by).
    #[must_use]
    pub fn dispatcher(
        mut self,
        dispatcher: impl protocol_core::dispatch::Dispatcher + Send + Sync + 'static,
    ) -> Self {
        self.free_mut().set_dispatcher(Box::new(dispatcher));
        self
    }

    /// When the data is the whole object, hand it to the handler without the discriminator
    /// member, so that a type with `#[serde(deny_unknown_fields)]` lists only the handler's
    /// parameters (seed 002).
    ///
    /// # Panics
    /// Before [`dispatch_by`](Self::dispatch_by).
    #[must_use]
    pub fn strip_discriminator(mut self) -> Self {
        self.free_mut().set_strip(true);
        self
    }

    /// Whether a free-form app routes binary frames like text (seed 003 does); by default
    /// they go to the fallback as [`FreeError::Binary`].
    ///
    /// # Panics
    /// Before [`dispatch_by`](Self::dispatch_by).
    #[must_use]
    pub fn accept_binary(mut self, accept: bool) -> Self {
        self.free_mut().set_binary(accept);
        self
    }

    fn free_mut(&mut self) -> &mut FreeRouter<C> {
        self.free
            .as_mut()
            .expect("call dispatch_by before adding free-form handlers")
    }

    /// The endpoint names, in route order.
    pub fn endpoints(&self) -> &[&'static str] {
        &self.table.names
    }
}

/// Matches `path` against a pattern with `{name}` segments; the captured values.
pub(crate) fn match_path(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    // Percent-decoded, as query values are (`caf%C3%A9` is `café`); a segment
                    // that does not decode to UTF-8 matches nothing.
                    let value = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
                    params.push((name.to_string(), value.into_owned()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_percent_decoded() {
        let got = match_path("/rooms/{name}/ws", "/rooms/caf%C3%A9%20au%20lait/ws");
        assert_eq!(got, Some(vec![("name".into(), "café au lait".into())]));
        assert_eq!(
            match_path("/n/{n}", "/n/%37"),
            Some(vec![("n".into(), "7".into())])
        );
        assert_eq!(match_path("/n/{n}", "/n/%FF"), None, "not UTF-8");
    }

    #[test]
    fn paths() {
        assert_eq!(match_path("/ws", "/ws"), Some(vec![]));
        assert_eq!(match_path("/ws", "/ws/"), None);
        assert_eq!(match_path("/ws", "/wss"), None);
        assert_eq!(
            match_path("/games/{id}/ws", "/games/7/ws"),
            Some(vec![("id".to_string(), "7".to_string())])
        );
        assert_eq!(match_path("/games/{id}/ws", "/games//ws"), None);
        assert_eq!(match_path("/games/{id}", "/games/7/ws"), None);
    }
}
