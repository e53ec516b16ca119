//! The application side of a connection.

use serde::Deserialize;

use super::lifecycle::{Admission, Lifecycle};
use super::{
    CallError, Config, ERROR_EVENT, ErrorCode, Event, INIT_EVENT, Profile, ProtocolError, State,
    Transmit,
};
use crate::codec::{CodecSet, DecodeError, EncodeError, ValueError};
use crate::frame::{Data, ErrorBody, Frame, Payload};
use crate::limits::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_REPLY_QUEUE, MAX_ID_LEN, MAX_NAME_LEN};
use crate::text::Str;
use crate::time::Instant;

/// The index of an endpoint in a route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RouteId(pub u16);

/// A route table: endpoint name → [`RouteId`].
pub trait Routes {
    /// The route of `endpoint`, if there is one.
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId>;
}

/// A slice of names routes by position: `["move", "echo"]` gives `move` route 0.
impl Routes for [&str] {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        let index = self.iter().position(|name| *endpoint == **name)?;
        u16::try_from(index).ok().map(RouteId)
    }
}

impl<const N: usize> Routes for [&str; N] {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        self.as_slice().route(endpoint)
    }
}

/// Names one request in flight. Stale tokens (answered, or from an earlier request in the
/// same slot) are refused with [`CallError::UnknownRequest`]: each slot counts its requests
/// in 32 bits, so a stale token could only match again after 2^32 more requests in its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestToken {
    slot: u16,
    generation: u32,
}

/// A request to run, borrowed from the message it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Request<'m, W> {
    /// Answer with this.
    pub token: RequestToken,
    /// The endpoint's route.
    pub route: RouteId,
    /// The client's id.
    pub id: Str<'m>,
    /// The endpoint's name.
    pub endpoint: Str<'m>,
    /// The argument, encoded.
    pub data: Data<'m>,
    /// The connection's codec.
    pub codec: W,
}

impl<'m, W: CodecSet> Request<'m, W> {
    /// Deserializes `data` with the connection's codec.
    ///
    /// # Errors
    /// [`ValueError`] when the data does not have the shape of `T`: answer with
    /// [`Failure::InvalidData`].
    pub fn decode<T: Deserialize<'m>>(&self) -> Result<T, ValueError> {
        self.codec.decode_value(self.data)
    }
}

/// A frame the core answered itself, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Refusal {
    /// The code of the answer queued.
    pub code: ErrorCode,
    /// What the decoder objected to, when that was the reason.
    pub error: Option<DecodeError>,
}

/// What [`ServerConnection::handle_message`] made of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ServerReceived<'m, W> {
    /// A request for a handler: answer it with [`respond`](ServerConnection::respond) or
    /// [`fail`](ServerConnection::fail), now or later.
    Request(Request<'m, W>),
    /// Not a request the application can run; the core queued the answer.
    Refused(Refusal),
    /// Ignored: we have sent our close frame (RFC 6455 §5.5.1).
    Ignored,
    /// The peer broke the protocol; the core queued a close frame.
    Closing(ProtocolError),
}

/// How a request failed, answered by [`ServerConnection::fail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Failure<'a> {
    /// The handler's own error (`RequestError(reason, code)`): a `response.error` in every
    /// profile.
    Error(ErrorBody<'a>),
    /// The request's data does not match the endpoint's type: `validation-error`
    /// (`Seed000`: an `internal-error` event, as pydantic's error was there).
    InvalidData,
    /// The handler failed (panic, error without a code): `internal-error`
    /// (`Seed000`: an id-less `internal-error` event).
    Internal,
    /// The handler ran out of time: `timeout` (`Seed000`: an id-less `timeout` event).
    Timeout,
}

/// A request id kept for the answer. On hosted targets its length is kept in a byte (ids are
/// at most [`MAX_ID_LEN`] bytes): a std server's 64 slots take 856 bytes less per connection.
/// Bare metal keeps `usize`, whose code is smaller (80 bytes of flash for 48 of RAM there).
#[cfg(not(target_os = "none"))]
type Id = heapless::String<MAX_ID_LEN, u8>;
#[cfg(target_os = "none")]
type Id = heapless::String<MAX_ID_LEN>;

#[derive(Debug)]
struct Slot {
    id: Id,
    generation: u32,
    busy: bool,
}

impl Slot {
    const FREE: Self = Self {
        id: heapless::String::new(),
        generation: 0,
        busy: false,
    };
}

/// An answer the core composed itself: an error reply with the id (`response.error`) or
/// without one (an `error` event).
#[derive(Debug)]
struct Reply {
    id: Option<Id>,
    code: ErrorCode,
}

/// The application side of one connection: a deterministic state machine with no I/O.
///
/// `W` is the set of codecs it may speak ([`AnyCodec`](crate::codec::AnyCodec), or one
/// codec); `IN_FLIGHT` bounds the requests running at once (one more is answered `busy`);
/// `QUEUE` bounds the answers the core composes itself.
///
/// # Methods, and the order to call them
/// - Getters: [`client_state`](Self::client_state), [`app_state`](Self::app_state),
///   [`codec`](Self::codec), [`in_flight`](Self::in_flight), [`is_drained`](Self::is_drained).
/// - Inputs, `handle_*(now, …)`: the client's upgrade request, each whole WebSocket message,
///   a pong, the peer's close frame, the transport's end, timeouts.
/// - Commands from the application: [`accept`](Self::accept) / [`reject`](Self::reject),
///   [`respond`](Self::respond) / [`fail`](Self::fail), [`send_event`](Self::send_event),
///   [`close`](Self::close). Commands that send encode their frame straight into the
///   caller's buffer and return the [`Transmit`] to send at once; the core never buffers
///   application data.
/// - Outputs: after every input or command, call [`poll_transmit`](Self::poll_transmit)
///   until it returns `None` and send each transmit in order, then
///   [`poll_timeout`](Self::poll_timeout) to re-arm the one timer, then
///   [`poll_event`](Self::poll_event) until `None`.
///
/// The connection can be dropped once [`is_drained`](Self::is_drained) (after
/// [`Event::Exit`] for an accepted connection).
#[derive(Debug)]
pub struct ServerConnection<
    W: CodecSet,
    const IN_FLIGHT: usize = DEFAULT_MAX_IN_FLIGHT,
    const QUEUE: usize = DEFAULT_REPLY_QUEUE,
> {
    life: Lifecycle<true>,
    codec: Option<W>,
    slots: [Slot; IN_FLIGHT],
    replies: heapless::Deque<Reply, QUEUE>,
    bad_frames: u16,
}

impl<W: CodecSet, const IN_FLIGHT: usize, const QUEUE: usize>
    ServerConnection<W, IN_FLIGHT, QUEUE>
{
    const CHECK: () = assert!(IN_FLIGHT > 0 && IN_FLIGHT <= u16::MAX as usize && QUEUE > 0);

    /// A connection whose TCP stream just arrived; the handshake clock starts at `now`.
    pub fn new(now: Instant, config: Config) -> Self {
        let () = Self::CHECK;
        Self {
            life: Lifecycle::new(now, config),
            codec: None,
            slots: [const { Slot::FREE }; IN_FLIGHT],
            replies: heapless::Deque::new(),
            bad_frames: 0,
        }
    }

    // ---- Getters ----

    /// The client side's state.
    pub fn client_state(&self) -> State {
        self.life.client
    }

    /// The application side's state.
    pub fn app_state(&self) -> State {
        self.life.app
    }

    /// The codec chosen at accept.
    pub fn codec(&self) -> Option<W> {
        self.codec
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.life.config
    }

    /// Requests received and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.busy).count()
    }

    /// Whether the connection is over and every event has been reported: drop it.
    pub fn is_drained(&self) -> bool {
        self.life.is_drained() && self.replies.is_empty()
    }

    // ---- Inputs ----

    /// The client's upgrade request arrived (client: CONNECTING → CONNECTED). The adapter
    /// then negotiates the codec ([`negotiate`](crate::codec::negotiate)) and lets the
    /// application [`accept`](Self::accept) or [`reject`](Self::reject).
    ///
    /// # Errors
    /// [`CallError::AlreadyConnected`] on a second call.
    pub fn handle_upgrade(&mut self, _now: Instant) -> Result<(), CallError> {
        self.life.client_connected()
    }

    /// One whole WebSocket data message from the client.
    ///
    /// # Errors
    /// A [`CallError`] when receiving is not allowed now (before the upgrade or accept, after
    /// the client disconnected) or the reply queue must be drained first; nothing changed.
    pub fn handle_message<'m, R: Routes + ?Sized>(
        &mut self,
        now: Instant,
        kind: crate::codec::MessageKind,
        message: &'m [u8],
        routes: &R,
    ) -> Result<ServerReceived<'m, W>, CallError> {
        // The queue is checked only when it is full (rare): `admit` checks the states.
        if self.replies.is_full() && self.life.check_can_receive()? {
            return Err(CallError::TransmitQueueFull);
        }
        let codec = match self.life.admit(now, kind, self.codec)? {
            Admission::Process(codec) => codec,
            Admission::Ignore => return Ok(ServerReceived::Ignored),
            Admission::Closing(error) => return Ok(ServerReceived::Closing(error)),
        };
        // Every refusal goes through one call (less code on firmware).
        let (id, code, error) = match codec.decode(message, self.life.config.max_frame_len) {
            Err(failure) => {
                let code = match failure.error {
                    DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
                    _ => ErrorCode::ValidationError,
                };
                (failure.id, code, Some(failure.error))
            }
            Ok(Frame::Request { id, endpoint, data }) => match routes.route(&endpoint) {
                None => (Some(id), ErrorCode::InvalidEndpoint, None),
                Some(route) => {
                    self.bad_frames = 0;
                    match self.slots.iter().position(|s| !s.busy) {
                        None => (Some(id), ErrorCode::Busy, None),
                        Some(slot) => {
                            let token = self.take_slot(slot, &id);
                            return Ok(ServerReceived::Request(Request {
                                token,
                                route,
                                id,
                                endpoint,
                                data,
                                codec,
                            }));
                        }
                    }
                }
            },
            // Not a request. Its usable id is read again: an event keeps none in its `Frame`.
            Ok(_) => (codec.usable_id(message), ErrorCode::ValidationError, None),
        };
        Ok(self.refuse(now, id, code, error))
    }

    /// A pong (or any sign of life below the protocol) arrived.
    pub fn handle_pong(&mut self, now: Instant) {
        if self.life.is_open() {
            self.life.touch(now);
        }
    }

    /// The client's close frame arrived (client: → DISCONNECTED). The WebSocket layer
    /// answers it; the core only records it.
    ///
    /// # Errors
    /// [`CallError::NotConnected`] before the upgrade, [`CallError::ReceiveAfterDisconnect`]
    /// after the client already disconnected.
    pub fn handle_close(&mut self, _now: Instant, code: Option<u16>) -> Result<(), CallError> {
        self.life.peer_closed(code)?;
        self.replies.clear();
        Ok(())
    }

    /// The transport ended (TCP closed or an I/O error), with or without close frames.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        self.life.transport_closed();
        self.replies.clear();
    }

    /// Fires the timers due at `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.life.handle_timeout(now);
        if self.life.app == State::Disconnected && self.life.client == State::Disconnected {
            self.replies.clear();
        }
    }

    // ---- Commands ----

    /// Accepts the connection with the negotiated codec (application: → CONNECTED).
    ///
    /// # Errors
    /// [`CallError::NotConnected`] before [`handle_upgrade`](Self::handle_upgrade),
    /// [`CallError::AlreadyAccepted`] after accept or reject.
    pub fn accept(&mut self, now: Instant, codec: W) -> Result<(), CallError> {
        self.life.accept(now)?;
        self.codec = Some(codec);
        Ok(())
    }

    /// Rejects the handshake (application: → DISCONNECTED); the adapter answers the upgrade
    /// with an HTTP status instead. A rejected connection has no exit event.
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub fn reject(&mut self, _now: Instant) -> Result<(), CallError> {
        self.life.reject(None)
    }

    /// Answers a request with its result.
    ///
    /// # Errors
    /// [`CallError::UnknownRequest`] for an unknown or answered token;
    /// [`CallError::SendAfterClose`] when the connection is closing (the request is then
    /// finished); [`CallError::Encode`] when `out` is too small (the request stays open:
    /// retry, or [`fail`](Self::fail) it).
    pub fn respond<P: Payload>(
        &mut self,
        _now: Instant,
        token: RequestToken,
        data: &P,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        self.answer(token, out, |codec, id, out| {
            codec.encode(&Frame::Response { id, data }, out)
        })
    }

    /// Answers a request with a failure, as the profile says.
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    pub fn fail(
        &mut self,
        _now: Instant,
        token: RequestToken,
        failure: Failure<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        // The seed's own failures are id-less `error` events in the `Seed000` profile.
        let seed000 = self.life.config.profile == Profile::Seed000;
        let code = match failure {
            Failure::InvalidData if !seed000 => ErrorCode::ValidationError,
            Failure::Error(_) | Failure::InvalidData | Failure::Internal => {
                ErrorCode::InternalError
            }
            Failure::Timeout => ErrorCode::Timeout,
        };
        let (error, as_event) = match failure {
            Failure::Error(error) => (error, false),
            _ => (code.body(), seed000),
        };
        self.answer(token, out, |codec, id, out| {
            encode_error(codec, (!as_event).then_some(id), error, out)
        })
    }

    /// Gives up a request without answering (its handler was cancelled). Frees its slot.
    ///
    /// # Errors
    /// [`CallError::UnknownRequest`] for an unknown or answered token.
    pub fn abandon(&mut self, token: RequestToken) -> Result<(), CallError> {
        self.slot_of(token)?.busy = false;
        Ok(())
    }

    /// Pushes an event (`init`, `error`, or an application kind) to the client.
    ///
    /// # Errors
    /// [`CallError::NotAccepted`] / [`CallError::SendAfterClose`] outside CONNECTED,
    /// [`CallError::NameTooLong`], [`CallError::Encode`].
    pub fn send_event<P: Payload>(
        &mut self,
        _now: Instant,
        kind: &str,
        data: &P,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        let codec = self.event_codec(kind)?;
        let len = codec.encode(
            &Frame::Event {
                kind: Str::new(kind),
                data,
            },
            out,
        )?;
        Ok(Transmit::Message {
            kind: codec.message_kind(),
            len,
        })
    }

    /// Sends the `init` event: the enter hook's return value, after any events the hook
    /// pushed (`data` is `null` when it returned nothing).
    ///
    /// # Errors
    /// As [`send_event`](Self::send_event).
    pub fn send_init<P: Payload>(
        &mut self,
        now: Instant,
        data: &P,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        self.send_event(now, INIT_EVENT, data, out)
    }

    /// Sends an `error` event, `{reason, code}` without an id (the seed's `send_error`).
    ///
    /// # Errors
    /// As [`send_event`](Self::send_event).
    pub fn send_error_event(
        &mut self,
        now: Instant,
        error: &ErrorBody<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        self.send_event(now, ERROR_EVENT, error, out)
    }

    /// Closes the connection with `code` and `reason` (application: → DISCONNECTED): the
    /// close frame's reason is written to `out`. Core replies not yet polled are dropped.
    ///
    /// # Errors
    /// [`CallError::NotAccepted`] before accept (reject instead), [`CallError::SendAfterClose`]
    /// when already closing, [`CallError::InvalidCloseCode`], [`CallError::CloseReasonTooLong`],
    /// [`CallError::Encode`] when `out` cannot hold the reason.
    pub fn close(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        let transmit = self.life.close(now, code, reason, out)?;
        self.replies.clear();
        Ok(transmit)
    }

    // ---- Outputs ----

    /// The next frame the core itself has to send, written into `out`: a ping, the answers
    /// it composed, then its close frame.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`]: nothing was taken from the queue; call again with a
    /// larger buffer.
    pub fn poll_transmit(
        &mut self,
        _now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, EncodeError> {
        if let Some(ping) = self.life.poll_ping() {
            return Ok(Some(ping));
        }
        if let (Some(reply), Some(codec)) = (self.replies.front(), self.codec) {
            let id = reply.id.as_deref().map(Str::new);
            let len = encode_error(codec, id, reply.code.body(), out)?;
            self.replies.pop_front();
            return Ok(Some(Transmit::Message {
                kind: codec.message_kind(),
                len,
            }));
        }
        self.life.poll_queued_close(out)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.life.poll_timeout().map(|(at, _)| at)
    }

    /// The next event for the application; [`Event::Exit`] comes last.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.life
            .poll_protocol_error()
            .or_else(|| self.life.poll_ending())
    }

    // ---- Internals ----

    /// The codec to send an event of `kind` with, if one may be sent now. Not generic, so
    /// that it is compiled once for every payload type.
    fn event_codec(&self, kind: &str) -> Result<W, CallError> {
        self.life.check_can_send()?;
        if kind.len() > MAX_NAME_LEN {
            return Err(CallError::NameTooLong);
        }
        self.codec.ok_or(CallError::NotAccepted)
    }

    /// Marks free slot `slot` busy with request `id`.
    fn take_slot(&mut self, slot: usize, id: &Str<'_>) -> RequestToken {
        let entry = &mut self.slots[slot];
        // Fits: the decoder refused longer ids.
        entry.id = id.to_heapless_with_len().unwrap_or_default();
        entry.busy = true;
        entry.generation = entry.generation.wrapping_add(1);
        RequestToken {
            slot: slot as u16,
            generation: entry.generation,
        }
    }

    fn slot_of(&mut self, token: RequestToken) -> Result<&mut Slot, CallError> {
        match self.slots.get_mut(usize::from(token.slot)) {
            Some(slot) if slot.busy && slot.generation == token.generation => Ok(slot),
            _ => Err(CallError::UnknownRequest),
        }
    }

    fn answer(
        &mut self,
        token: RequestToken,
        out: &mut [u8],
        encode: impl FnOnce(W, Str<'_>, &mut [u8]) -> Result<usize, EncodeError>,
    ) -> Result<Transmit, CallError> {
        let sendable = self.life.check_can_send();
        let codec = self.codec;
        let slot = self.slot_of(token)?;
        if let Err(error) = sendable {
            // Nobody will read the answer: the request is over.
            slot.busy = false;
            return Err(error);
        }
        let codec = codec.ok_or(CallError::NotAccepted)?;
        let len = encode(codec, Str::new(&slot.id), out)?;
        slot.busy = false;
        Ok(Transmit::Message {
            kind: codec.message_kind(),
            len,
        })
    }

    /// Queues the core's own answer to a frame it will not pass on.
    fn refuse(
        &mut self,
        now: Instant,
        id: Option<Str<'_>>,
        code: ErrorCode,
        error: Option<DecodeError>,
    ) -> ServerReceived<'static, W> {
        let id = match self.life.config.profile {
            Profile::Seed000 => None,
            _ => id.and_then(|id| id.to_heapless_with_len()),
        };
        // Room was checked before decoding.
        let _ = self.replies.push_back(Reply { id, code });
        if code != ErrorCode::Busy {
            self.bad_frames = self.bad_frames.saturating_add(1);
            if self
                .life
                .config
                .max_consecutive_bad_frames
                .is_some_and(|max| self.bad_frames > max)
            {
                let error = ProtocolError::TooManyBadFrames;
                self.life.fail(now, error);
            }
        }
        ServerReceived::Refused(Refusal { code, error })
    }
}

/// An error answer: with an id, a `response.error`; without, an `error` event.
fn encode_error<W: CodecSet>(
    codec: W,
    id: Option<Str<'_>>,
    error: ErrorBody<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let frame: Frame<'_, ErrorBody<'_>> = match id {
        Some(id) => Frame::ResponseError { id, error },
        None => Frame::Event {
            kind: Str::new("error"),
            data: error,
        },
    };
    codec.encode(&frame, out)
}

#[cfg(feature = "defmt")]
impl<W: CodecSet, const IN_FLIGHT: usize, const QUEUE: usize> defmt::Format
    for ServerConnection<W, IN_FLIGHT, QUEUE>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ServerConnection {{ client: {}, app: {}, in_flight: {}, replies: {} }}",
            self.life.client,
            self.life.app,
            self.in_flight(),
            self.replies.len()
        );
    }
}
