//! The client side of a connection.

use serde::Deserialize;

use super::lifecycle::{Admission, Lifecycle};
use super::timer::Timer;
use super::{
    CallError, Config, ErrorCode, Event, Profile, ProtocolError, RequestFailure, State, Transmit,
};
use crate::codec::{CodecSet, DecodeError, EncodeError, MessageKind, ValueError};
use crate::endpoint::{Call, Endpoint};
use crate::frame::{Data, ErrorBody, Frame, Payload, Typed};
use crate::limits::{DEFAULT_MAX_PENDING, MAX_NAME_LEN};
use crate::text::Str;
use crate::time::{Duration, Instant};

/// A request this client sent; its wire `id` is the number in decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId(pub u32);

/// What [`ClientConnection::handle_message`] made of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClientReceived<'m> {
    /// The answer to a pending request.
    Response {
        /// Which request.
        request: RequestId,
        /// Its result, encoded.
        data: Data<'m>,
    },
    /// The error answer to a pending request.
    Failed {
        /// Which request.
        request: RequestId,
        /// `{reason, code}`.
        error: ErrorBody<'m>,
    },
    /// A server-pushed event.
    Event {
        /// Its kind.
        kind: Str<'m>,
        /// Its value, encoded.
        data: Data<'m>,
    },
    /// Nothing to act on: a frame that does not decode, an answer whose id is unknown or
    /// already settled (a late answer after a timeout, a duplicate), or a `request` frame.
    Ignored(Unusable),
    /// Ignored: we have sent our close frame.
    Closing,
    /// The server broke the protocol; the core queued a close frame.
    ProtocolError(ProtocolError),
}

/// Why a received frame could not be used. Never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Unusable {
    /// It does not decode.
    Malformed(DecodeError),
    /// An answer whose id matches no pending request.
    UnknownId,
    /// A `request` frame: servers do not send those.
    RequestFrame,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    Waiting { id: u32, deadline: Instant },
    Failed { id: u32, cause: RequestFailure },
}

/// The client side of one connection: a deterministic state machine with no I/O.
///
/// `W` is the codec set offered at the handshake; `PENDING` bounds the requests awaiting an
/// answer (one more is refused to the caller with [`CallError::TooManyPending`]).
///
/// The two states are the same as the server's: the *client* state becomes CONNECTED when
/// the upgrade request is sent ([`connect`](Self::connect)), the *application* (server) state
/// when the server's answer arrives ([`handle_accepted`](Self::handle_accepted)).
///
/// # Methods, and the order to call them
/// Getters; inputs `handle_*(now, …)`; commands [`connect`](Self::connect),
/// [`request`](Self::request) (encodes into the caller's buffer), [`close`](Self::close);
/// outputs: after every input or command, [`poll_transmit`](Self::poll_transmit) until
/// `None`, then [`poll_timeout`](Self::poll_timeout), then [`poll_event`](Self::poll_event)
/// until `None` (request timeouts and failures arrive there).
#[derive(Debug)]
pub struct ClientConnection<W: CodecSet, const PENDING: usize = DEFAULT_MAX_PENDING> {
    life: Lifecycle<false>,
    codec: Option<W>,
    slots: [Slot; PENDING],
    next_id: u32,
}

impl<W: CodecSet, const PENDING: usize> ClientConnection<W, PENDING> {
    const CHECK: () = assert!(PENDING > 0);

    /// A connection about to send its upgrade request; the handshake clock starts at `now`.
    pub fn new(now: Instant, config: Config) -> Self {
        let () = Self::CHECK;
        Self {
            life: Lifecycle::new(now, config),
            codec: None,
            slots: [Slot::Free; PENDING],
            next_id: 1,
        }
    }

    // ---- Getters ----

    /// This side's state.
    pub fn client_state(&self) -> State {
        self.life.client
    }

    /// The server side's state.
    pub fn app_state(&self) -> State {
        self.life.app
    }

    /// The codec the server chose.
    pub fn codec(&self) -> Option<W> {
        self.codec
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.life.config
    }

    /// Requests awaiting an answer.
    pub fn pending(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Waiting { .. }))
            .count()
    }

    /// Whether the connection is over and every event has been reported.
    pub fn is_drained(&self) -> bool {
        self.life.is_drained() && self.slots.iter().all(|s| *s == Slot::Free)
    }

    /// Deserializes `data` (from a response or an event) with the chosen codec.
    ///
    /// # Errors
    /// [`ValueError`]; also `Invalid` before the server chose a codec.
    pub fn decode<'de, T: Deserialize<'de>>(&self, data: Data<'de>) -> Result<T, ValueError> {
        self.codec.ok_or(ValueError::Invalid)?.decode_value(data)
    }

    // ---- Commands and inputs of the handshake ----

    /// The upgrade request, offering [`CodecSet::SUBPROTOCOLS`], is being sent
    /// (client: → CONNECTED).
    ///
    /// # Errors
    /// [`CallError::AlreadyConnected`] on a second call.
    pub fn connect(&mut self, _now: Instant) -> Result<(), CallError> {
        self.life.client_connected()
    }

    /// The server accepted with `codec` (from its `Sec-WebSocket-Protocol`, or
    /// [`CodecSet::without_subprotocol`] when it named none).
    ///
    /// # Errors
    /// [`CallError::NotConnected`] before [`connect`](Self::connect),
    /// [`CallError::AlreadyAccepted`] after the answer.
    pub fn handle_accepted(&mut self, now: Instant, codec: W) -> Result<(), CallError> {
        self.life.accept(now)?;
        self.codec = Some(codec);
        Ok(())
    }

    /// The server answered the upgrade with an HTTP status instead ([`Event::Rejected`]).
    ///
    /// # Errors
    /// As [`handle_accepted`](Self::handle_accepted).
    pub fn handle_rejected(&mut self, _now: Instant, status: u16) -> Result<(), CallError> {
        self.life.reject(Some(Event::Rejected { status }))
    }

    // ---- Requests ----

    /// Calls endpoint `E` with typed data: [`request`](Self::request) whose handle remembers
    /// `E`, so the answer can only be read as `E::Response` ([`Call::response`]). Passing
    /// anything but `E::Request` does not compile.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    pub fn call<E: Endpoint>(
        &mut self,
        now: Instant,
        data: &E::Request,
        timeout: Option<Duration>,
        out: &mut [u8],
    ) -> Result<(Call<E>, Transmit), CallError> {
        let (id, transmit) = self.request(now, E::NAME, &Typed(data), timeout, out)?;
        Ok((Call::new(id), transmit))
    }

    /// Sends a request: the frame is written into `out`. Its answer arrives from
    /// [`handle_message`](Self::handle_message), or its failure (timeout after `timeout`,
    /// default [`Config::request_timeout`]) from [`poll_event`](Self::poll_event).
    ///
    /// # Errors
    /// [`CallError::NotAccepted`] / [`CallError::SendAfterClose`] outside CONNECTED,
    /// [`CallError::TooManyPending`], [`CallError::NameTooLong`], [`CallError::Encode`]
    /// (nothing was sent and nothing is pending).
    pub fn request<P: Payload>(
        &mut self,
        now: Instant,
        endpoint: &str,
        data: &P,
        timeout: Option<Duration>,
        out: &mut [u8],
    ) -> Result<(RequestId, Transmit), CallError> {
        self.life.check_can_send()?;
        if endpoint.len() > MAX_NAME_LEN {
            return Err(CallError::NameTooLong);
        }
        let codec = self.codec.ok_or(CallError::NotAccepted)?;
        let slot = self
            .slots
            .iter()
            .position(|s| *s == Slot::Free)
            .ok_or(CallError::TooManyPending)?;
        let id = self.fresh_id();
        let mut digits = itoa::Buffer::new();
        let frame = Frame::Request {
            id: Str::new(digits.format(id)),
            endpoint: Str::new(endpoint),
            data,
        };
        let len = codec.encode(&frame, out)?;
        self.next_id = id.wrapping_add(1);
        let deadline = now + timeout.unwrap_or(self.life.config.request_timeout);
        self.slots[slot] = Slot::Waiting { id, deadline };
        self.arm_request_timer();
        Ok((
            RequestId(id),
            Transmit::Message {
                kind: codec.message_kind(),
                len,
            },
        ))
    }

    /// One whole WebSocket data message from the server.
    ///
    /// # Errors
    /// A [`CallError`] when receiving is not allowed now (before the server's answer, after
    /// it disconnected); nothing changed.
    pub fn handle_message<'m>(
        &mut self,
        now: Instant,
        kind: MessageKind,
        message: &'m [u8],
    ) -> Result<ClientReceived<'m>, CallError> {
        let codec = match self.life.admit(now, kind, self.codec)? {
            Admission::Process(codec) => codec,
            Admission::Ignore => return Ok(ClientReceived::Closing),
            Admission::Closing(error) => return Ok(ClientReceived::ProtocolError(error)),
        };
        let frame = match codec.decode(message, self.life.config.max_frame_len) {
            Ok(frame) => frame,
            Err(failure) => return Ok(ClientReceived::Ignored(Unusable::Malformed(failure.error))),
        };
        let received = match frame {
            Frame::Response { id, data } => match self.settle(&id) {
                Some(request) => ClientReceived::Response { request, data },
                None => ClientReceived::Ignored(Unusable::UnknownId),
            },
            Frame::ResponseError { id, error } => match self.settle(&id) {
                Some(request) => ClientReceived::Failed { request, error },
                None => ClientReceived::Ignored(Unusable::UnknownId),
            },
            Frame::Event { kind, data } => {
                if self.life.config.profile == Profile::Seed000 && kind == super::ERROR_EVENT {
                    self.fail_oldest_on_error_event(codec, data);
                }
                ClientReceived::Event { kind, data }
            }
            Frame::Request { .. } => ClientReceived::Ignored(Unusable::RequestFrame),
        };
        Ok(received)
    }

    /// A pong arrived.
    pub fn handle_pong(&mut self, now: Instant) {
        if self.life.is_open() {
            self.life.touch(now);
        }
    }

    /// The server's close frame arrived.
    ///
    /// # Errors
    /// [`CallError::NotConnected`] / [`CallError::ReceiveAfterDisconnect`].
    pub fn handle_close(&mut self, _now: Instant, code: Option<u16>) -> Result<(), CallError> {
        self.life.peer_closed(code)?;
        self.fail_all_waiting();
        Ok(())
    }

    /// The transport ended.
    pub fn handle_transport_closed(&mut self, _now: Instant) {
        self.life.transport_closed();
        self.fail_all_waiting();
    }

    /// Fires the timers due at `now` (request deadlines included). Calling it early is
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.life.handle_timeout(now);
        for slot in &mut self.slots {
            if let Slot::Waiting { id, deadline } = *slot
                && deadline <= now
            {
                *slot = Slot::Failed {
                    id,
                    cause: RequestFailure::Timeout,
                };
            }
        }
        if self.life.client == State::Disconnected {
            self.fail_all_waiting();
        }
        self.arm_request_timer();
    }

    /// Closes the connection; the close frame's reason is written to `out`.
    ///
    /// # Errors
    /// As [`ServerConnection::close`](super::ServerConnection::close).
    pub fn close(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
        out: &mut [u8],
    ) -> Result<Transmit, CallError> {
        self.life.close(now, code, reason, out)
    }

    // ---- Outputs ----

    /// The next frame the core itself has to send: a ping, or its close frame.
    ///
    /// # Errors
    /// [`EncodeError::BufferTooSmall`] when `out` cannot hold the close reason.
    pub fn poll_transmit(
        &mut self,
        _now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, EncodeError> {
        if let Some(ping) = self.life.poll_ping() {
            return Ok(Some(ping));
        }
        self.life.poll_queued_close(out)
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.life.poll_timeout().map(|(at, _)| at)
    }

    /// The next event: a protocol error, failed requests (oldest first), then the ending.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.life.poll_protocol_error() {
            return Some(event);
        }
        let failed = self
            .slots
            .iter_mut()
            .filter(|s| matches!(s, Slot::Failed { .. }))
            .min_by_key(|s| match s {
                Slot::Failed { id, .. } => *id,
                _ => u32::MAX,
            });
        if let Some(slot) = failed
            && let Slot::Failed { id, cause } = core::mem::replace(slot, Slot::Free)
        {
            return Some(Event::RequestFailed {
                request: RequestId(id),
                cause,
            });
        }
        self.life.poll_ending()
    }

    // ---- Internals ----

    /// The next id not in use by any slot (ids wrap after 2^32 requests).
    fn fresh_id(&self) -> u32 {
        let mut id = self.next_id;
        while self.slots.iter().any(
            |s| matches!(*s, Slot::Waiting { id: i, .. } | Slot::Failed { id: i, .. } if i == id),
        ) {
            id = id.wrapping_add(1);
        }
        id
    }

    /// Matches an answer's id to a waiting request and frees it.
    fn settle(&mut self, wire_id: &Str<'_>) -> Option<RequestId> {
        let slot = self.slots.iter_mut().find(|s| match **s {
            Slot::Waiting { id, .. } => *wire_id == itoa::Buffer::new().format(id),
            _ => false,
        })?;
        let Slot::Waiting { id, .. } = core::mem::replace(slot, Slot::Free) else {
            return None;
        };
        self.arm_request_timer();
        Some(RequestId(id))
    }

    fn fail_oldest_on_error_event(&mut self, codec: W, data: Data<'_>) {
        let code = codec
            .decode_error_body(data)
            .ok()
            // By content: `"b\u0075sy"` is `busy`.
            .and_then(|body| body.code.to_heapless::<32>())
            .and_then(|code| ErrorCode::from_code(&code));
        let oldest = self
            .slots
            .iter_mut()
            .filter(|s| matches!(s, Slot::Waiting { .. }))
            .min_by_key(|s| match s {
                Slot::Waiting { id, .. } => *id,
                _ => u32::MAX,
            });
        if let Some(slot) = oldest
            && let Slot::Waiting { id, .. } = *slot
        {
            *slot = Slot::Failed {
                id,
                cause: RequestFailure::ErrorEvent(code),
            };
        }
        self.arm_request_timer();
    }

    fn fail_all_waiting(&mut self) {
        for slot in &mut self.slots {
            if let Slot::Waiting { id, .. } = *slot {
                *slot = Slot::Failed {
                    id,
                    cause: RequestFailure::Disconnected,
                };
            }
        }
        self.life.set_timer(Timer::Request, None);
    }

    fn arm_request_timer(&mut self) {
        let earliest = self
            .slots
            .iter()
            .filter_map(|s| match s {
                Slot::Waiting { deadline, .. } => Some(*deadline),
                _ => None,
            })
            .min();
        let open = self.life.client == State::Connected;
        self.life
            .set_timer(Timer::Request, earliest.filter(|_| open));
    }
}

#[cfg(feature = "defmt")]
impl<W: CodecSet, const PENDING: usize> defmt::Format for ClientConnection<W, PENDING> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "ClientConnection {{ client: {}, app: {}, pending: {} }}",
            self.life.client,
            self.life.app,
            self.pending()
        );
    }
}
