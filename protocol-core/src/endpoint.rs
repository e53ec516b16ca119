//! Typed endpoint descriptions, and a synchronous typed router on top of
//! [`ServerConnection`].
//!
//! An [`Endpoint`] names a request/response pair and the events it may push. The server's
//! router, the typed clients and the schema export all read the same description, so they
//! cannot drift apart. Implement it by hand (no macro needed):
//!
//! ```
//! use protocol_core::endpoint::{Endpoint, EventType};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Move { pub x: i32, pub y: i32 }
//! #[derive(Serialize, Deserialize)]
//! pub struct Moved { pub success: bool, pub x: i32, pub y: i32 }
//! #[derive(Serialize, Deserialize)]
//! pub struct GameState { pub player_count: u8 }
//!
//! pub struct StateChanged;
//! impl EventType for StateChanged {
//!     const KIND: &'static str = "game:state";
//!     type Data = GameState;
//! }
//!
//! pub struct MoveEndpoint;
//! impl Endpoint for MoveEndpoint {
//!     const NAME: &'static str = "move";
//!     type Request = Move;
//!     type Response = Moved;
//!     const EVENTS: &'static [&'static str] = &[StateChanged::KIND];
//! }
//! ```

use core::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{CodecSet, ValueError};
use crate::connection::{
    CallError, Failure, Request, RequestId, RouteId, Routes, ServerConnection, Transmit,
};
use crate::frame::{Data, ErrorBody};
use crate::text::Str;
use crate::time::Instant;

/// A request/response endpoint: its name on the wire, its types, and the event kinds a
/// client may receive after calling it.
pub trait Endpoint {
    /// The `endpoint` member of its requests.
    const NAME: &'static str;
    /// The type of the request's `data`.
    type Request: Serialize + DeserializeOwned;
    /// The type of the response's `data`.
    type Response: Serialize + DeserializeOwned;
    /// Event kinds that may follow a call ("after this request, expect these").
    const EVENTS: &'static [&'static str] = &[];
}

/// A kind of server-pushed event and the type of its `data`.
pub trait EventType {
    /// The `kind` member.
    const KIND: &'static str;
    /// The type of its `data`.
    type Data: Serialize + DeserializeOwned;
}

/// A handler's own error: answered as `response.error` with `{reason, code}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestError {
    /// For people.
    pub reason: &'static str,
    /// Stable, machine-readable.
    pub code: &'static str,
}

impl RequestError {
    /// A request error.
    pub const fn new(reason: &'static str, code: &'static str) -> Self {
        Self { reason, code }
    }

    /// `{reason, code}`.
    pub const fn body(self) -> ErrorBody<'static> {
        ErrorBody::new(self.reason, self.code)
    }
}

/// A request to endpoint `E` in flight, from
/// [`ClientConnection::call`](crate::ClientConnection::call). Its answer can only be read as
/// `E::Response`.
pub struct Call<E> {
    id: RequestId,
    endpoint: PhantomData<fn() -> E>,
}

impl<E> Clone for Call<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Call<E> {}

impl<E> PartialEq for Call<E> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<E> Eq for Call<E> {}

impl<E> core::fmt::Debug for Call<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Call").field(&self.id).finish()
    }
}

impl<E: Endpoint> Call<E> {
    /// The typed handle of request `id`, sent to `E` (for transports that send the request
    /// themselves, such as the embassy client session).
    pub const fn new(id: RequestId) -> Self {
        Self {
            id,
            endpoint: PhantomData,
        }
    }

    /// The request's id, as `handle_message` and `poll_event` report it.
    pub const fn id(&self) -> RequestId {
        self.id
    }

    /// Whether `request` is this call.
    pub fn is(&self, request: RequestId) -> bool {
        self.id == request
    }

    /// Reads the response's `data` as `E::Response`, with the connection's codec.
    ///
    /// # Errors
    /// [`ValueError`] when the server's answer does not have that shape.
    pub fn response<W: CodecSet>(
        &self,
        codec: W,
        data: Data<'_>,
    ) -> Result<E::Response, ValueError> {
        codec.decode_value(data)
    }
}

/// A closed set of event kinds a client expects, decoded into one enum. Implement it by hand
/// or with [`events!`](crate::events).
pub trait EventSet: Sized {
    /// The kinds in the set.
    const KINDS: &'static [&'static str];

    /// Decodes an event of kind `kind`: `None` for a kind outside the set.
    ///
    /// # Errors
    /// [`ValueError`] when the kind is in the set but its data has the wrong shape.
    fn decode<W: CodecSet>(
        kind: &Str<'_>,
        data: Data<'_>,
        codec: W,
    ) -> Option<Result<Self, ValueError>>;
}

/// Declares an enum of event types and its [`EventSet`] impl:
///
/// ```
/// # use protocol_core::endpoint::EventType;
/// # #[derive(serde::Serialize, serde::Deserialize)] pub struct State { pub n: u8 }
/// # pub struct StateEvent;
/// # impl EventType for StateEvent { const KIND: &'static str = "game:state"; type Data = State; }
/// protocol_core::events! {
///     /// What the game pushes.
///     pub enum GameEvents {
///         State(StateEvent),
///     }
/// }
/// ```
#[macro_export]
macro_rules! events {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident($event:ty)),+ $(,)? }) => {
        $(#[$meta])*
        $vis enum $name {
            $(
                #[doc = concat!("`", stringify!($event), "`")]
                $variant(<$event as $crate::endpoint::EventType>::Data),
            )+
        }

        impl $crate::endpoint::EventSet for $name {
            const KINDS: &'static [&'static str] =
                &[$(<$event as $crate::endpoint::EventType>::KIND),+];

            fn decode<W: $crate::codec::CodecSet>(
                kind: &$crate::Str<'_>,
                data: $crate::Data<'_>,
                codec: W,
            ) -> ::core::option::Option<::core::result::Result<Self, $crate::ValueError>> {
                $(
                    if *kind == <$event as $crate::endpoint::EventType>::KIND {
                        return ::core::option::Option::Some(
                            codec.decode_value(data).map(Self::$variant),
                        );
                    }
                )+
                ::core::option::Option::None
            }
        }
    };
}

/// A synchronous handler with its types erased, as the [`Router`] stores it.
pub trait Handler<Ctx, W: CodecSet> {
    /// The endpoint it serves.
    fn name(&self) -> &'static str;

    /// Runs on the request's `data`; writes the encoded result into `result` and returns its
    /// length.
    ///
    /// # Errors
    /// The [`Failure`] to answer with.
    fn handle(
        &self,
        ctx: &mut Ctx,
        codec: W,
        data: Data<'_>,
        result: &mut [u8],
    ) -> Result<usize, Failure<'static>>;
}

/// A typed function serving endpoint `E`: `data` is deserialized into `E::Request`, the
/// result serialized from `E::Response`, and `Err(RequestError)` answered as
/// `response.error`. Data that does not match `E::Request` is answered as
/// [`Failure::InvalidData`].
pub struct EndpointFn<E, F> {
    function: F,
    endpoint: PhantomData<fn() -> E>,
}

impl<E: Endpoint, F> EndpointFn<E, F> {
    /// Wraps `function` as the handler of `E`.
    pub const fn new(function: F) -> Self {
        Self {
            function,
            endpoint: PhantomData,
        }
    }
}

impl<Ctx, W, E, F> Handler<Ctx, W> for EndpointFn<E, F>
where
    W: CodecSet,
    E: Endpoint,
    F: Fn(&mut Ctx, E::Request) -> Result<E::Response, RequestError>,
{
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn handle(
        &self,
        ctx: &mut Ctx,
        codec: W,
        data: Data<'_>,
        result: &mut [u8],
    ) -> Result<usize, Failure<'static>> {
        let request = codec
            .decode_value::<E::Request>(data)
            .map_err(|_| Failure::InvalidData)?;
        let response = (self.function)(ctx, request).map_err(|e| Failure::Error(e.body()))?;
        codec
            .encode_value(&response, result)
            .map_err(|_| Failure::Internal)
    }
}

/// A route table of synchronous typed handlers, in caller-owned storage.
///
/// ```
/// # use protocol_core::endpoint::*;
/// # use protocol_core::JsonCodec;
/// # struct Echo;
/// # impl Endpoint for Echo { const NAME: &'static str = "echo"; type Request = u32; type Response = u32; }
/// let echo = EndpointFn::<Echo, _>::new(|_ctx: &mut (), n: u32| Ok(n));
/// let handlers: [&dyn Handler<(), JsonCodec>; 1] = [&echo];
/// let router = Router::new(&handlers);
/// ```
pub struct Router<'h, Ctx, W: CodecSet> {
    handlers: &'h [&'h dyn Handler<Ctx, W>],
}

impl<'h, Ctx, W: CodecSet> Router<'h, Ctx, W> {
    /// A router over `handlers`; the route id of a handler is its index.
    pub const fn new(handlers: &'h [&'h dyn Handler<Ctx, W>]) -> Self {
        Self { handlers }
    }

    /// Runs the request's handler and answers it: `respond` with the result, or `fail`.
    /// `scratch` holds the encoded result before it is framed into `out`.
    ///
    /// # Errors
    /// As [`ServerConnection::respond`].
    pub fn dispatch<const IN_FLIGHT: usize, const QUEUE: usize>(
        &self,
        connection: &mut ServerConnection<W, IN_FLIGHT, QUEUE>,
        now: Instant,
        ctx: &mut Ctx,
        request: &Request<'_, W>,
        scratch: &mut [u8],
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        let Some(handler) = self.handlers.get(usize::from(request.route.0)) else {
            return connection.fail(now, request.token, Failure::Internal, out);
        };
        match handler.handle(ctx, request.codec, request.data, scratch) {
            Ok(len) => {
                let result = Data::new(scratch.get(..len).unwrap_or_default());
                connection.respond(now, request.token, &result, out)
            }
            Err(failure) => connection.fail(now, request.token, failure, out),
        }
    }
}

impl<Ctx, W: CodecSet> Routes for Router<'_, Ctx, W> {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        let index = self.handlers.iter().position(|h| *endpoint == h.name())?;
        u16::try_from(index).ok().map(RouteId)
    }
}

#[cfg(feature = "defmt")]
impl<E> defmt::Format for Call<E> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Call({})", self.id);
    }
}

#[cfg(feature = "defmt")]
impl<E: Endpoint, F> defmt::Format for EndpointFn<E, F> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "EndpointFn({=str})", E::NAME);
    }
}

#[cfg(feature = "defmt")]
impl<Ctx, W: CodecSet> defmt::Format for Router<'_, Ctx, W> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Router {{ handlers: {} }}", self.handlers.len());
    }
}
