//! Free-form connections: messages that are not quartet frames, routed by a
//! [`Dispatcher`] (by default a [`FieldDispatcher`] on a [`Discriminator`] member of the
//! user's choosing), with handlers that answer with whatever frames they want and a
//! fallback for what cannot be routed, validated or handled.
//!
//! ```ignore
//! let app = App::<()>::new("/ws")
//!     .dispatch_by(Discriminator::whole("action"))
//!     .on("message", message)
//!     .fallback(|message: Incoming, error: FreeError| async move { ... });
//! ```
//!
//! The handler's data is deserialized with `serde_json`; a type error carries the path of
//! the value that did not fit ([`DataError`]). Nothing is dropped silently unless the
//! fallback says so: without a fallback, unroutable messages get no answer (seed 001's
//! default) and the connection stays open.

use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use protocol_core::connection::RouteId;
use protocol_core::dispatch::{Discriminator, Dispatcher, FieldDispatcher, RouteError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::app::RouteTable;
use crate::extract::Scope;
use crate::handler::{BoxFuture, Handler, HandlerError};

/// One frame a free-form handler or fallback sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

impl Frame {
    /// A text frame.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// A text frame holding `value` as compact JSON (`null` if it cannot be serialized).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self::Text(serde_json::to_string(value).unwrap_or_else(|_| "null".to_string()))
    }
}

/// A typed value sent as one JSON text frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// What a free-form handler or fallback may return: the frames to send, in order.
pub trait IntoFrames {
    /// The frames.
    fn into_frames(self) -> Vec<Frame>;
}

impl IntoFrames for () {
    fn into_frames(self) -> Vec<Frame> {
        Vec::new()
    }
}

impl IntoFrames for String {
    fn into_frames(self) -> Vec<Frame> {
        vec![Frame::Text(self)]
    }
}

impl IntoFrames for &'static str {
    fn into_frames(self) -> Vec<Frame> {
        vec![Frame::text(self)]
    }
}

impl IntoFrames for Frame {
    fn into_frames(self) -> Vec<Frame> {
        vec![self]
    }
}

impl IntoFrames for Vec<Frame> {
    fn into_frames(self) -> Vec<Frame> {
        self
    }
}

impl<T: Serialize> IntoFrames for Json<T> {
    fn into_frames(self) -> Vec<Frame> {
        vec![Frame::json(&self.0)]
    }
}

impl<T: IntoFrames> IntoFrames for Option<T> {
    fn into_frames(self) -> Vec<Frame> {
        self.map_or_else(Vec::new, IntoFrames::into_frames)
    }
}

/// A message as it arrived, for the fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    binary: bool,
    bytes: Bytes,
}

impl Incoming {
    /// Whether it came in a binary frame.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Its text, when it is UTF-8 (always, for a text frame).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// One step of a [`DataError`]'s path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSegment {
    /// An object member.
    Field(String),
    /// An array element.
    Index(usize),
}

impl Serialize for PathSegment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Field(name) => serializer.serialize_str(name),
            Self::Index(index) => serializer.serialize_u64(*index as u64),
        }
    }
}

/// What kind of mismatch a [`DataError`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// A required member is absent (the last path segment names it).
    Missing,
    /// A member the type does not have, refused by `#[serde(deny_unknown_fields)]` (the
    /// last path segment names it).
    Unknown,
    /// A value of the wrong type or out of range.
    Type,
    /// Not JSON.
    Syntax,
}

/// Why a handler's data did not fit its type: where, what kind, serde's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// From the data's root to the value at fault (`["numbers", 0]`).
    pub path: Vec<PathSegment>,
    /// What kind of mismatch.
    pub kind: DataErrorKind,
    /// serde's message, without a position.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at ", self.message)?;
        for segment in &self.path {
            match segment {
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for DataError {}

/// The name between the first pair of backticks in serde's message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Deserializes `data` into `T`, with the path of the first mismatch.
///
/// When `strip` names a member, it is removed from the top-level object first (the
/// discriminator, when the data is the whole message).
///
/// # Errors
/// [`DataError`].
pub fn decode_json<T: DeserializeOwned>(data: &[u8], strip: Option<&str>) -> Result<T, DataError> {
    let mut value: serde_json::Value = serde_json::from_slice(data).map_err(|error| DataError {
        path: Vec::new(),
        kind: DataErrorKind::Syntax,
        message: error.to_string(),
    })?;
    if let (Some(field), serde_json::Value::Object(map)) = (strip, &mut value) {
        map.remove(field);
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let mut path: Vec<PathSegment> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(PathSegment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(PathSegment::Field(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    Some(PathSegment::Field(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = error.into_inner().to_string();
        let kind = if message.starts_with("missing field") {
            DataErrorKind::Missing
        } else if message.starts_with("unknown field") {
            DataErrorKind::Unknown
        } else {
            DataErrorKind::Type
        };
        if matches!(kind, DataErrorKind::Missing | DataErrorKind::Unknown)
            && let Some(name) = quoted(&message)
            && path.last() != Some(&PathSegment::Field(name.to_string()))
        {
            path.push(PathSegment::Field(name.to_string()));
        }
        DataError {
            path,
            kind,
            message,
        }
    })
}

/// Why a free-form message was not handled; the fallback gets it with the message.
#[derive(Debug)]
#[non_exhaustive]
pub enum FreeError {
    /// A binary frame on a router that takes text only.
    Binary,
    /// The dispatcher could not route it (not one JSON object, no or unknown key…).
    Route(RouteError),
    /// The handler's data did not fit its type.
    Data(DataError),
    /// The handler returned an error or an extractor failed.
    Handler(HandlerError),
    /// The handler panicked.
    Panic,
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binary => f.write_str("binary frame on a text router"),
            Self::Route(error) => write!(f, "{error}"),
            Self::Data(error) => write!(f, "invalid data: {error}"),
            Self::Handler(error) => write!(f, "{error}"),
            Self::Panic => f.write_str("handler panicked"),
        }
    }
}

impl std::error::Error for FreeError {}

/// A free-form route with its handler's types erased.
pub(crate) trait FreeRoute<C>: Send + Sync {
    fn start(
        &self,
        scope: &Scope<C>,
        data: &[u8],
        strip: Option<&str>,
    ) -> Result<BoxFuture<Result<Vec<Frame>, HandlerError>>, FreeError>;
}

pub(crate) struct FreeTyped<H, Args> {
    pub(crate) handler: H,
    pub(crate) args: PhantomData<fn() -> Args>,
}

impl<C, H, Args> FreeRoute<C> for FreeTyped<H, Args>
where
    H: Handler<C, Args>,
    H::Data: DeserializeOwned,
    H::Output: IntoFrames + Send + 'static,
{
    fn start(
        &self,
        scope: &Scope<C>,
        data: &[u8],
        strip: Option<&str>,
    ) -> Result<BoxFuture<Result<Vec<Frame>, HandlerError>>, FreeError> {
        let data = decode_json::<H::Data>(data, strip).map_err(FreeError::Data)?;
        let future = self
            .handler
            .call(scope, data)
            .map_err(|error| FreeError::Handler(error.into()))?;
        Ok(Box::pin(async move {
            future.await.map(IntoFrames::into_frames)
        }))
    }
}

pub(crate) type Fallback = dyn Fn(Incoming, FreeError) -> BoxFuture<Vec<Frame>> + Send + Sync;

/// How messages are routed.
enum Mode {
    Field(Discriminator<'static>),
    Custom(Box<dyn Dispatcher + Send + Sync>),
}

/// The free-form router of an app.
pub(crate) struct FreeRouter<C> {
    mode: Mode,
    strip: bool,
    binary: bool,
    pub(crate) table: RouteTable,
    routes: Vec<Box<dyn FreeRoute<C>>>,
    fallback: Option<Arc<Fallback>>,
}

impl<C: Send + Sync + 'static> FreeRouter<C> {
    pub(crate) fn new(discriminator: Discriminator<'static>) -> Self {
        Self {
            mode: Mode::Field(discriminator),
            strip: false,
            binary: false,
            table: RouteTable::default(),
            routes: Vec::new(),
            fallback: None,
        }
    }

    pub(crate) fn add(&mut self, key: &'static str, route: Box<dyn FreeRoute<C>>) {
        assert!(!self.table.contains(key), "key {key:?} is routed twice");
        self.table.push(key);
        self.routes.push(route);
    }

    pub(crate) fn set_fallback(&mut self, fallback: Arc<Fallback>) {
        self.fallback = Some(fallback);
    }

    pub(crate) fn set_dispatcher(&mut self, dispatcher: Box<dyn Dispatcher + Send + Sync>) {
        self.mode = Mode::Custom(dispatcher);
    }

    pub(crate) fn set_strip(&mut self, strip: bool) {
        self.strip = strip;
    }

    pub(crate) fn set_binary(&mut self, binary: bool) {
        self.binary = binary;
    }

    fn route<'m>(&self, message: &'m [u8]) -> Result<(RouteId, &'m [u8]), RouteError> {
        let (route, data) = match &self.mode {
            Mode::Field(discriminator) => FieldDispatcher {
                discriminator: *discriminator,
                routes: &self.table,
            }
            .dispatch(message)?,
            Mode::Custom(dispatcher) => dispatcher.dispatch(message)?,
        };
        Ok((route, data.as_bytes()))
    }

    fn strip(&self) -> Option<&'static str> {
        match (&self.mode, self.strip) {
            (
                Mode::Field(Discriminator {
                    field, data: None, ..
                }),
                true,
            ) => Some(field),
            _ => None,
        }
    }

    /// Routes, decodes and starts the handler; once it has finished, the frames to send and
    /// how the message fared (for the server's counters).
    pub(crate) fn start(&self, scope: &Scope<C>, binary: bool, bytes: &[u8]) -> FreeRun {
        let incoming = Incoming {
            binary,
            bytes: Bytes::copy_from_slice(bytes),
        };
        let started = if binary && !self.binary {
            Err(FreeError::Binary)
        } else {
            // The dispatcher, the extractors and the handler's code before its first
            // `.await` run here: a panic in them is the handler's.
            std::panic::catch_unwind(AssertUnwindSafe(|| match self.route(bytes) {
                Ok((route, data)) => match self.routes.get(usize::from(route.0)) {
                    Some(handler) => handler.start(scope, data, self.strip()),
                    None => Err(FreeError::Route(RouteError::UnknownKey)),
                },
                Err(error) => Err(FreeError::Route(error)),
            }))
            .unwrap_or(Err(FreeError::Panic))
        };
        let fallback = self.fallback.clone();
        Box::pin(async move {
            let error = match started {
                Err(error) => error,
                Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(Ok(frames)) => return (frames, FreeOutcome::Handled),
                    Ok(Err(error)) => FreeError::Handler(error),
                    Err(_) => FreeError::Panic,
                },
            };
            let outcome = if matches!(error, FreeError::Panic) {
                FreeOutcome::Panicked
            } else {
                FreeOutcome::Failed
            };
            let frames = match fallback {
                Some(fallback) => {
                    let called =
                        std::panic::catch_unwind(AssertUnwindSafe(|| fallback(incoming, error)));
                    let answered = match called {
                        Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                        Err(panic) => Err(panic),
                    };
                    answered.unwrap_or_else(|_| {
                        tracing::warn!("free-form fallback panicked");
                        Vec::new()
                    })
                }
                None => {
                    tracing::debug!(%error, "free-form message not handled");
                    Vec::new()
                }
            };
            (frames, outcome)
        })
    }
}

/// A free-form message being handled: its frames and how it fared, once finished.
pub(crate) type FreeRun = BoxFuture<(Vec<Frame>, FreeOutcome)>;

/// How a free-form message fared, for the server's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeOutcome {
    /// Its handler answered.
    Handled,
    /// Not routed, data of the wrong shape, or the handler's error: counted in `errors`.
    Failed,
    /// The handler panicked: counted in `errors` and `panics`.
    Panicked,
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: Vec<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    fn error(json: &str, strip: Option<&str>) -> DataError {
        decode_json::<Outer>(json.as_bytes(), strip).unwrap_err()
    }

    #[test]
    fn paths_of_mismatches() {
        let e = error(r#"{"name":"a","inner":{"n":[1,"x"]}}"#, None);
        assert_eq!(e.kind, DataErrorKind::Type);
        assert_eq!(
            e.path,
            vec![
                PathSegment::Field("inner".into()),
                PathSegment::Field("n".into()),
                PathSegment::Index(1)
            ]
        );
        let e = error(r#"{"inner":{"n":[]}}"#, None);
        assert_eq!(
            (e.kind, e.path),
            (
                DataErrorKind::Missing,
                vec![PathSegment::Field("name".into())]
            )
        );
        let e = error(r#"{"name":"a","inner":{"n":[],"x":1}}"#, None);
        assert_eq!(e.kind, DataErrorKind::Unknown);
        assert_eq!(e.path.last(), Some(&PathSegment::Field("x".into())));
        assert_eq!(error("{bad", None).kind, DataErrorKind::Syntax);
    }

    #[test]
    fn stripping_the_discriminator() {
        let json = br#"{"type":"outer","name":"a","inner":{"n":[2]}}"#;
        assert!(decode_json::<Outer>(json, Some("type")).is_ok());
        let e = decode_json::<Outer>(json, None).unwrap_err();
        assert_eq!(
            (e.kind, e.path),
            (
                DataErrorKind::Unknown,
                vec![PathSegment::Field("type".into())]
            )
        );
    }

    #[test]
    fn frames() {
        assert_eq!(().into_frames(), Vec::<Frame>::new());
        assert_eq!("hi".into_frames(), vec![Frame::text("hi")]);
        assert_eq!(
            Json(serde_json::json!({"a": 1})).into_frames(),
            vec![Frame::text(r#"{"a":1}"#)]
        );
        assert_eq!(None::<String>.into_frames(), Vec::<Frame>::new());
    }
}
