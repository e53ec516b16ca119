//! Handlers and hooks: async functions whose arguments are extractors ([`FromScope`]) and,
//! for endpoint handlers, the request's `data` as the last argument.
//!
//! ```ignore
//! async fn move_(ctx: Ctx<Game>, m: Move) -> Result<Moved, HandlerError> { ... }
//! async fn enter(ctx: Ctx<Game>, conn: Conn, Query(q): Query<GameQuery>)
//!     -> Result<Success, HandlerError> { ... }
//! async fn exit(ctx: Ctx<Game>, Exited(how): Exited) { ... }
//! ```
//!
//! A typed handler's `data` is deserialized with the connection's codec (JSON or postcard)
//! before the handler runs: data that does not fit the type is answered `validation-error`
//! (`Seed000`: an `internal-error` event) and the handler is not called. Its `Ok` value is
//! serialized with the same codec; `Err(HandlerError::Request { .. })` is a `response.error`
//! with that reason and code; any other error, an extractor failure, or a panic, is
//! `internal-error`.
//!
//! Panics are caught (`catch_unwind`) and answered `internal-error`: the connection and
//! the server go on. This needs the default `panic = "unwind"`; a build with
//! `panic = "abort"` ends the whole process on the first handler panic.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use bytes::Bytes;
use protocol_core::connection::Failure;
use protocol_core::endpoint::RequestError;
use protocol_core::{
    AnyCodec, Codec, CodecSet, Data, EncodeError, JsonCodec, Payload, PostcardCodec, ValueError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::extract::{ExtractError, FromScope, Scope};

/// A boxed, `Send` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why a handler or the enter hook failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerError {
    /// The handler's own error (the seed's `RequestError(reason, code)`): a
    /// `response.error` with `{reason, code}` in every profile; from the enter hook, an
    /// `error` event with them.
    Request {
        /// For people.
        reason: Cow<'static, str>,
        /// Stable, machine-readable.
        code: Cow<'static, str>,
    },
    /// Anything else: logged, and answered `internal-error`.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// A request error: `response.error` `{reason, code}`.
    pub fn request(
        reason: impl Into<Cow<'static, str>>,
        code: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Request {
            reason: reason.into(),
            code: code.into(),
        }
    }

    /// An internal error (answered `internal-error`; `error` is only logged).
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request { reason, code } => write!(f, "request error {code}: {reason}"),
            Self::Internal(error) => write!(f, "internal error: {error}"),
        }
    }
}

impl std::error::Error for HandlerError {}

impl From<RequestError> for HandlerError {
    fn from(error: RequestError) -> Self {
        Self::request(error.reason, error.code)
    }
}

impl From<ExtractError> for HandlerError {
    fn from(error: ExtractError) -> Self {
        Self::internal(error)
    }
}

impl From<crate::extract::Disconnected> for HandlerError {
    fn from(error: crate::extract::Disconnected) -> Self {
        Self::internal(error)
    }
}

impl From<Infallible> for HandlerError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// A request's `data` as it arrived, encoded in the connection's codec, for raw handlers
/// (`echo` returns it unchanged, byte for byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawData {
    codec: AnyCodec,
    bytes: Bytes,
}

impl RawData {
    /// Encoded bytes in `codec`'s format (for JSON: exactly one JSON value).
    pub fn new(codec: AnyCodec, bytes: impl Into<Bytes>) -> Self {
        Self {
            codec,
            bytes: bytes.into(),
        }
    }

    /// Serializes `value` with `codec`.
    ///
    /// # Errors
    /// [`EncodeError::Value`] when the value cannot be serialized by that codec.
    pub fn encode<T: Serialize + ?Sized>(codec: AnyCodec, value: &T) -> Result<Self, EncodeError> {
        let mut buf = vec![0; 256];
        loop {
            match codec.encode_value(value, &mut buf) {
                Ok(len) => {
                    buf.truncate(len);
                    return Ok(Self::new(codec, buf));
                }
                Err(EncodeError::BufferTooSmall { required }) if buf.len() < (1 << 24) => {
                    let grown = required.unwrap_or(0).max(buf.len() * 2);
                    buf.resize(grown, 0);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The codec the bytes are in.
    pub fn codec(&self) -> AnyCodec {
        self.codec
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded bytes as text, when they are UTF-8 (always, for JSON).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }

    /// Deserializes the data into `T`.
    ///
    /// # Errors
    /// [`ValueError`] when the data does not have the shape of `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        decode(self.codec, Data::new(&self.bytes))
    }
}

/// Deserializes `data`, retrying with an unescape buffer as long as the data when the
/// core's stack buffer is too small for a string.
pub(crate) fn decode<T: DeserializeOwned>(
    codec: AnyCodec,
    data: Data<'_>,
) -> Result<T, ValueError> {
    match codec.decode_value(data) {
        Err(ValueError::ScratchTooSmall) => {
            let mut scratch = vec![0; data.as_bytes().len()];
            match codec {
                AnyCodec::Json => JsonCodec::decode_value_with(data, &mut scratch),
                AnyCodec::Postcard => PostcardCodec::decode_value_with(data, &mut scratch),
            }
        }
        other => other,
    }
}

/// A value the connection serializes when it writes it, with its type erased.
pub(crate) trait EncodeValue {
    fn encode(&self, codec: AnyCodec, out: &mut [u8]) -> Result<usize, EncodeError>;
}

impl<T: Serialize> EncodeValue for T {
    fn encode(&self, codec: AnyCodec, out: &mut [u8]) -> Result<usize, EncodeError> {
        codec.encode_value(self, out)
    }
}

/// An erased value as the core's [`Payload`].
pub(crate) struct Erased<'a>(pub(crate) &'a dyn EncodeValue);

impl Payload for Erased<'_> {
    fn write<Co: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let codec = AnyCodec::from_subprotocol(Co::SUBPROTOCOL).ok_or(EncodeError::Value)?;
        self.0.encode(codec, out)
    }
}

/// What a finished handler or enter hook produced.
pub(crate) enum Reply {
    /// A typed value, serialized when written.
    Value(Box<dyn EncodeValue + Send>),
    /// Data already in the connection's codec.
    Raw(Bytes),
}

/// An async function usable as an endpoint handler: extractors, then the request data.
///
/// Implemented for `Fn(E1, …, En, T) -> impl Future<Output = Result<R, E>>` with up to seven
/// extractors `Ei: FromScope<C>` and `E: Into<HandlerError>`.
pub trait Handler<C, Args>: Clone + Send + Sync + 'static {
    /// The type of the request's `data`.
    type Data;
    /// The type of the result.
    type Output;

    /// Runs the extractors and starts the handler.
    ///
    /// # Errors
    /// The first extractor that failed.
    fn call(
        &self,
        scope: &Scope<C>,
        data: Self::Data,
    ) -> Result<BoxFuture<Result<Self::Output, HandlerError>>, ExtractError>;

    /// [`call`](Self::call), with `then` applied to the handler's value, in one allocation.
    ///
    /// # Errors
    /// The first extractor that failed.
    #[doc(hidden)]
    fn call_then<O, F>(
        &self,
        scope: &Scope<C>,
        data: Self::Data,
        then: F,
    ) -> Result<BoxFuture<Result<O, HandlerError>>, ExtractError>
    where
        F: FnOnce(Self::Output) -> Result<O, HandlerError> + Send + 'static,
        O: 'static,
        Self::Output: 'static,
        Self: Sized,
    {
        let future = self.call(scope, data)?;
        Ok(Box::pin(async move { then(future.await?) }))
    }
}

/// An async function usable as a hook (enter, exit): extractors only.
///
/// Implemented for `Fn(E1, …, En) -> impl Future<Output = O>` with up to eight extractors.
pub trait Hook<C, Args>: Clone + Send + Sync + 'static {
    /// What the hook's future returns.
    type Output;

    /// Runs the extractors and starts the hook.
    ///
    /// # Errors
    /// The first extractor that failed.
    fn call(&self, scope: &Scope<C>) -> Result<BoxFuture<Self::Output>, ExtractError>;
}

macro_rules! impl_handler {
    ($($a:ident),*) => {
        impl<F, Fut, C, T, R, E, $($a,)*> Handler<C, ($($a,)* T,)> for F
        where
            F: Fn($($a,)* T) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Result<R, E>> + Send + 'static,
            E: Into<HandlerError> + 'static,
            R: 'static,
            $($a: FromScope<C>,)*
        {
            type Data = T;
            type Output = R;

            #[allow(non_snake_case, unused_variables)]
            fn call(
                &self,
                scope: &Scope<C>,
                data: T,
            ) -> Result<BoxFuture<Result<R, HandlerError>>, ExtractError> {
                $(let $a = $a::from_scope(scope)?;)*
                let future = (self)($($a,)* data);
                Ok(Box::pin(async move { future.await.map_err(Into::into) }))
            }

            #[allow(non_snake_case, unused_variables)]
            fn call_then<O, G>(
                &self,
                scope: &Scope<C>,
                data: T,
                then: G,
            ) -> Result<BoxFuture<Result<O, HandlerError>>, ExtractError>
            where
                G: FnOnce(R) -> Result<O, HandlerError> + Send + 'static,
                O: 'static,
                R: 'static,
                Self: Sized,
            {
                $(let $a = $a::from_scope(scope)?;)*
                let future = (self)($($a,)* data);
                Ok(Box::pin(async move { then(future.await.map_err(Into::into)?) }))
            }
        }

        impl<F, Fut, C, O, $($a,)*> Hook<C, ($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = O> + Send + 'static,
            $($a: FromScope<C>,)*
        {
            type Output = O;

            #[allow(non_snake_case, unused_variables)]
            fn call(&self, scope: &Scope<C>) -> Result<BoxFuture<O>, ExtractError> {
                $(let $a = $a::from_scope(scope)?;)*
                Ok(Box::pin((self)($($a),*)))
            }
        }
    };
}

impl_handler!();
impl_handler!(A1);
impl_handler!(A1, A2);
impl_handler!(A1, A2, A3);
impl_handler!(A1, A2, A3, A4);
impl_handler!(A1, A2, A3, A4, A5);
impl_handler!(A1, A2, A3, A4, A5, A6);
impl_handler!(A1, A2, A3, A4, A5, A6, A7);

impl<F, Fut, C, O, A1, A2, A3, A4, A5, A6, A7, A8> Hook<C, (A1, A2, A3, A4, A5, A6, A7, A8)> for F
where
    F: Fn(A1, A2, A3, A4, A5, A6, A7, A8) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    A1: FromScope<C>,
    A2: FromScope<C>,
    A3: FromScope<C>,
    A4: FromScope<C>,
    A5: FromScope<C>,
    A6: FromScope<C>,
    A7: FromScope<C>,
    A8: FromScope<C>,
{
    type Output = O;

    fn call(&self, scope: &Scope<C>) -> Result<BoxFuture<O>, ExtractError> {
        Ok(Box::pin((self)(
            A1::from_scope(scope)?,
            A2::from_scope(scope)?,
            A3::from_scope(scope)?,
            A4::from_scope(scope)?,
            A5::from_scope(scope)?,
            A6::from_scope(scope)?,
            A7::from_scope(scope)?,
            A8::from_scope(scope)?,
        )))
    }
}

// ---- Erased forms, as the app stores them ----

/// An endpoint with its handler's types erased.
pub(crate) trait Route<C>: Send + Sync {
    /// Decodes the data, runs the extractors and starts the handler, or says how to fail.
    fn start(
        &self,
        scope: &Scope<C>,
        codec: AnyCodec,
        data: Data<'_>,
    ) -> Result<BoxFuture<Result<Reply, HandlerError>>, Failure<'static>>;
}

/// A handler with typed data and result.
pub(crate) struct Typed<H, Args> {
    pub(crate) name: &'static str,
    pub(crate) handler: H,
    pub(crate) args: PhantomData<fn() -> Args>,
}

impl<C, H, Args> Route<C> for Typed<H, Args>
where
    H: Handler<C, Args>,
    H::Data: DeserializeOwned,
    H::Output: Serialize + Send + 'static,
{
    fn start(
        &self,
        scope: &Scope<C>,
        codec: AnyCodec,
        data: Data<'_>,
    ) -> Result<BoxFuture<Result<Reply, HandlerError>>, Failure<'static>> {
        let data: H::Data = decode(codec, data).map_err(|error| {
            tracing::debug!(endpoint = self.name, %error, "request data does not match the endpoint's type");
            Failure::InvalidData
        })?;
        self.handler
            .call_then(scope, data, |value| Ok(Reply::Value(Box::new(value))))
            .map_err(|error| {
                // Only which extractor: its message may quote a query, header or cookie value.
                tracing::warn!(
                    endpoint = self.name,
                    extractor = error.source,
                    "extractor failed"
                );
                Failure::Internal
            })
    }
}

/// A handler that takes and returns [`RawData`].
pub(crate) struct Raw<H, Args> {
    pub(crate) name: &'static str,
    pub(crate) handler: H,
    pub(crate) args: PhantomData<fn() -> Args>,
}

impl<C, H, Args> Route<C> for Raw<H, Args>
where
    H: Handler<C, Args, Data = RawData, Output = RawData>,
{
    fn start(
        &self,
        scope: &Scope<C>,
        codec: AnyCodec,
        data: Data<'_>,
    ) -> Result<BoxFuture<Result<Reply, HandlerError>>, Failure<'static>> {
        let data = RawData::new(codec, Bytes::copy_from_slice(data.as_bytes()));
        self.handler
            .call_then(scope, data, move |value: RawData| {
                if value.codec != codec {
                    return Err(HandlerError::internal("raw reply in another codec"));
                }
                Ok(Reply::Raw(value.bytes))
            })
            .map_err(|error| {
                // Only which extractor: its message may quote a query, header or cookie value.
                tracing::warn!(
                    endpoint = self.name,
                    extractor = error.source,
                    "extractor failed"
                );
                Failure::Internal
            })
    }
}

/// The enter hook, erased.
pub(crate) trait EnterHook<C>: Send + Sync {
    fn start(
        &self,
        scope: &Scope<C>,
    ) -> Result<BoxFuture<Result<Reply, HandlerError>>, ExtractError>;
}

pub(crate) struct Enter<H, Args> {
    pub(crate) hook: H,
    pub(crate) args: PhantomData<fn() -> Args>,
}

impl<C, H, Args, R, E> EnterHook<C> for Enter<H, Args>
where
    H: Hook<C, Args, Output = Result<R, E>>,
    R: Serialize + Send + 'static,
    E: Into<HandlerError> + 'static,
{
    fn start(
        &self,
        scope: &Scope<C>,
    ) -> Result<BoxFuture<Result<Reply, HandlerError>>, ExtractError> {
        let future = self.hook.call(scope)?;
        Ok(Box::pin(async move {
            match future.await {
                Ok(value) => Ok(Reply::Value(Box::new(value))),
                Err(error) => Err(error.into()),
            }
        }))
    }
}

/// The exit hook, erased.
pub(crate) trait ExitHook<C>: Send + Sync {
    fn start(&self, scope: &Scope<C>) -> Result<BoxFuture<()>, ExtractError>;
}

pub(crate) struct Exit<H, Args> {
    pub(crate) hook: H,
    pub(crate) args: PhantomData<fn() -> Args>,
}

impl<C, H, Args> ExitHook<C> for Exit<H, Args>
where
    H: Hook<C, Args, Output = ()>,
{
    fn start(&self, scope: &Scope<C>) -> Result<BoxFuture<()>, ExtractError> {
        self.hook.call(scope)
    }
}
