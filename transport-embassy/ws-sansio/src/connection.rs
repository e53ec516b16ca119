//! The frame-level connection: reassembly, control frames and the closing handshake.

use core::time::Duration;

use crate::frame::{self, ControlPayload, FrameHeader, MAX_FRAME_HEADER_LEN, OpCode};
use crate::{
    CloseCode, EncodeError, Instant, NoRandom, ProtocolError, RandomSource, SendError, Status,
};

/// How long to wait for the peer's part of the closing handshake by default.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which end of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// Masks what it sends, refuses masked frames.
    Client,
    /// Sends unmasked frames, refuses unmasked ones, closes TCP first.
    Server,
}

/// Where the closing handshake stands (RFC 6455 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We queued a close frame (by [`Connection::close`] or because the peer broke
    /// the protocol). Incoming data frames are dropped until the peer's close arrives.
    CloseSent,
    /// The peer's close arrived; our echo is queued for [`Connection::poll_transmit`].
    CloseReceived,
    /// Both close frames were exchanged, or the handshake timed out.
    Closed,
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl MessageKind {
    const fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Text,
            Self::Binary => OpCode::Binary,
        }
    }
}

/// Something the peer sent, borrowed from the connection's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event<'a> {
    /// A complete, UTF-8 validated text message.
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping. The pong is already queued for [`Connection::poll_transmit`].
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame. `code` is `None` for an empty close payload.
    Close {
        /// Status code, if any.
        code: Option<CloseCode>,
        /// Reason, possibly empty.
        reason: &'a str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingEvent {
    Message(MessageKind),
    Ping,
    Pong,
    Close(Option<CloseCode>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receive {
    Header,
    Payload { header: FrameHeader, received: u64 },
}

/// A WebSocket connection after the handshake, in the sans-IO style: it never
/// touches a socket or a clock and never allocates.
///
/// # Call order
///
/// 1. Create it with [`Connection::server`] or [`Connection::client`], giving it
///    the message buffer. Feed it any bytes that followed the HTTP headers first.
/// 2. When bytes arrive, call [`handle_input`](Self::handle_input) with them. It
///    returns how many it consumed; it stops after each complete message or control
///    frame. Then call [`poll_event`](Self::poll_event), and call `handle_input`
///    again with the unconsumed bytes. While an event is waiting to be polled,
///    `handle_input` consumes nothing.
/// 3. After every `handle_input`, [`close`](Self::close) and
///    [`handle_timeout`](Self::handle_timeout), drain
///    [`poll_transmit`](Self::poll_transmit) until it returns `Ok(None)` and write
///    the frames to the transport, in order.
/// 4. Send messages with [`encode_text`](Self::encode_text),
///    [`encode_binary`](Self::encode_binary), [`encode_fragment`](Self::encode_fragment)
///    and [`encode_ping`](Self::encode_ping); each writes one frame into your buffer.
/// 5. Arm a timer for [`poll_timeout`](Self::poll_timeout) and call
///    [`handle_timeout`](Self::handle_timeout) when it fires.
/// 6. Once [`should_close_transport`](Self::should_close_transport) is true (after
///    writing the last transmitted frame), close the TCP connection. If the peer
///    closes the transport first, the connection is over whatever the state.
///
/// A [`ProtocolError`] from `handle_input` has already queued the close frame with
/// its code: transmit it, then close the transport.
pub struct Connection<'a, R = NoRandom> {
    role: Role,
    /// `Some` exactly for clients: the source of masking keys.
    random: Option<R>,
    state: State,
    /// We broke off because of a protocol error: no more input, no waiting.
    failed: bool,
    close_timeout: Duration,
    deadline: Option<Instant>,
    close_transport: bool,

    receive: Receive,
    header: [u8; MAX_FRAME_HEADER_LEN],
    header_len: usize,
    message: &'a mut [u8],
    message_len: usize,
    /// The kind of the data message being received, between its first and last frame.
    receiving: Option<MessageKind>,
    /// Length of the prefix of a text message known to be valid (or a valid prefix of) UTF-8.
    utf8_checked: usize,
    control: ControlPayload,
    event: Option<PendingEvent>,

    /// The kind of the fragmented message being sent, between its first and last frame.
    sending: Option<MessageKind>,
    pending_pong: Option<ControlPayload>,
    pending_close: Option<ControlPayload>,
}

impl<'a> Connection<'a, NoRandom> {
    /// A server-side connection. Messages up to `message_buffer.len()` bytes are
    /// accepted; larger ones fail the connection with 1009.
    pub fn server(message_buffer: &'a mut [u8]) -> Self {
        Self::new(Role::Server, None, message_buffer)
    }
}

impl<'a, R: RandomSource> Connection<'a, R> {
    /// A client-side connection, masking every frame with keys from `random`.
    pub fn client(message_buffer: &'a mut [u8], random: R) -> Self {
        Self::new(Role::Client, Some(random), message_buffer)
    }

    fn new(role: Role, random: Option<R>, message: &'a mut [u8]) -> Self {
        Self {
            role,
            random,
            state: State::Open,
            failed: false,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            deadline: None,
            close_transport: false,
            receive: Receive::Header,
            header: [0; MAX_FRAME_HEADER_LEN],
            header_len: 0,
            message,
            message_len: 0,
            receiving: None,
            utf8_checked: 0,
            control: ControlPayload::EMPTY,
            event: None,
            sending: None,
            pending_pong: None,
            pending_close: None,
        }
    }

    /// Sets how long to wait for the peer during the closing handshake.
    pub fn set_close_timeout(&mut self, timeout: Duration) {
        self.close_timeout = timeout;
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The closing handshake state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The largest message that can be received.
    pub fn max_message_len(&self) -> usize {
        self.message.len()
    }

    /// True once the transport should be closed: the server after the closing
    /// handshake, either side after a protocol error was reported or a timeout.
    pub fn should_close_transport(&self) -> bool {
        self.close_transport
    }

    /// Processes received bytes and returns how many were consumed.
    ///
    /// Stops after a complete message or control frame; [`poll_event`](Self::poll_event)
    /// then returns it. Consuming all of `input` without an event means more bytes
    /// are needed. Once the closing handshake is past the point where input matters,
    /// everything is consumed and dropped.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) -> Result<usize, ProtocolError> {
        if self.event.is_some() {
            return Ok(0);
        }
        if self.failed || matches!(self.state, State::CloseReceived | State::Closed) {
            return Ok(input.len());
        }
        let mut rest = input;
        while !rest.is_empty() && self.event.is_none() {
            let used = match self.step(now, rest) {
                Ok(used) => used,
                Err(error) => return Err(self.fail(now, error)),
            };
            rest = rest.get(used..).unwrap_or_default();
        }
        Ok(input.len() - rest.len())
    }

    /// The event completed by the last [`handle_input`](Self::handle_input), once.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        let text = |bytes| core::str::from_utf8(bytes).unwrap_or_default();
        let message = self.message.get(..self.message_len).unwrap_or_default();
        Some(match self.event.take()? {
            // Validated while it arrived.
            PendingEvent::Message(MessageKind::Text) => Event::Text(text(message)),
            PendingEvent::Message(MessageKind::Binary) => Event::Binary(message),
            PendingEvent::Ping => Event::Ping(self.control.as_slice()),
            PendingEvent::Pong => Event::Pong(self.control.as_slice()),
            PendingEvent::Close(code) => {
                let reason = self.control.as_slice().get(2..).unwrap_or_default();
                Event::Close {
                    code,
                    reason: text(reason),
                }
            }
        })
    }

    /// Writes the next queued control frame (a pong, then our close) into `out`
    /// and returns its length, or `Ok(None)` when nothing is queued. An output
    /// buffer of [`MAX_CONTROL_FRAME_LEN`](crate::MAX_CONTROL_FRAME_LEN) bytes
    /// always suffices; when `out` is too small the frame stays queued.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> Result<Option<usize>, EncodeError> {
        if let Some(pong) = self.pending_pong {
            let len = self.encode(out, OpCode::Pong, true, pong.as_slice())?;
            self.pending_pong = None;
            return Ok(Some(len));
        }
        if let Some(close) = self.pending_close {
            let len = self.encode(out, OpCode::Close, true, close.as_slice())?;
            self.pending_close = None;
            self.close_sent();
            return Ok(Some(len));
        }
        Ok(None)
    }

    /// Starts the closing handshake with `code` and a reason of at most 123 bytes.
    /// The close frame comes out of [`poll_transmit`](Self::poll_transmit); the peer
    /// then has the close timeout to answer. Does nothing once closing has started.
    pub fn close(
        &mut self,
        now: Instant,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), EncodeError> {
        let payload = ControlPayload::close(Some(code), reason)?;
        if self.state == State::Open {
            self.pending_close = Some(payload);
            self.state = State::CloseSent;
            self.deadline = Some(now.saturating_add(self.close_timeout));
        }
        Ok(())
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Gives up on the closing handshake if its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            self.state = State::Closed;
            self.deadline = None;
            self.close_transport = true;
            self.pending_pong = None;
            self.pending_close = None;
        }
    }

    /// Writes a whole text message as one frame.
    pub fn encode_text(&mut self, text: &str, out: &mut [u8]) -> Result<usize, SendError> {
        self.encode_message(MessageKind::Text, text.as_bytes(), out)
    }

    /// Writes a whole binary message as one frame.
    pub fn encode_binary(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.encode_message(MessageKind::Binary, data, out)
    }

    /// Writes one fragment of a message of `kind`; `last` ends the message. The
    /// first fragment carries the message opcode, later ones are continuations.
    /// Only the whole text message needs to be valid UTF-8, not each fragment.
    pub fn encode_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        last: bool,
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        self.ensure_open()?;
        let opcode = match self.sending {
            None => kind.opcode(),
            Some(sending) if sending == kind => OpCode::Continuation,
            Some(_) => return Err(SendError::MessageInProgress),
        };
        let len = self.encode(out, opcode, last, payload)?;
        self.sending = if last { None } else { Some(kind) };
        Ok(len)
    }

    /// Writes a ping with at most 125 bytes of payload.
    pub fn encode_ping(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        self.ensure_open()?;
        Ok(self.encode(out, OpCode::Ping, true, payload)?)
    }

    fn encode_message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.encode_fragment(kind, payload, true, out)
    }

    fn ensure_open(&self) -> Result<(), SendError> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(SendError::NotOpen)
        }
    }

    /// Encodes a frame, masked when we are the client. The size is checked before
    /// a masking key is drawn so a retry with a bigger buffer sees the same keys.
    fn encode(
        &mut self,
        out: &mut [u8],
        opcode: OpCode,
        fin: bool,
        payload: &[u8],
    ) -> Result<usize, EncodeError> {
        if opcode.is_control() && payload.len() > frame::MAX_CONTROL_PAYLOAD {
            return Err(EncodeError::ControlPayloadTooLong);
        }
        let header = FrameHeader {
            fin,
            opcode,
            mask: self.random.as_ref().map(|_| [0; 4]),
            payload_len: payload.len() as u64,
        };
        let needed = header.encoded_len().saturating_add(payload.len());
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        let mask = self.random.as_mut().map(|random| {
            let mut key = [0; 4];
            random.fill_bytes(&mut key);
            key
        });
        frame::encode_frame(out, opcode, fin, mask, payload)
    }

    /// Our close frame went out.
    fn close_sent(&mut self) {
        match self.state {
            State::CloseReceived => {
                self.state = State::Closed;
                // The server closes TCP first (RFC 6455 §7.1.1); the client keeps the
                // deadline set when the close arrived and waits for the server.
                if self.role == Role::Server {
                    self.finish();
                }
            }
            State::CloseSent if self.failed => {
                self.state = State::Closed;
                self.finish();
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.close_transport = true;
        self.deadline = None;
    }

    /// Fails the connection (RFC 6455 §7.1.7): queue a close with the error's code
    /// unless closing had already started, then stop processing input.
    fn fail(&mut self, now: Instant, error: ProtocolError) -> ProtocolError {
        self.failed = true;
        self.event = None;
        self.receiving = None;
        self.pending_pong = None;
        if self.state == State::Open {
            self.state = State::CloseSent;
            self.pending_close = ControlPayload::close(Some(error.close_code()), "").ok();
            self.deadline = Some(now.saturating_add(self.close_timeout));
        } else if self.state == State::CloseSent && self.pending_close.is_some() {
            // Our own close frame has not gone out yet: it still does (RFC 6455 §7.1.7),
            // then the transport closes (`close_sent`).
        } else {
            self.state = State::Closed;
            self.pending_close = None;
            self.finish();
        }
        error
    }

    /// Consumes at least one byte of `input` (which is not empty).
    fn step(&mut self, now: Instant, input: &[u8]) -> Result<usize, ProtocolError> {
        match self.receive {
            Receive::Header => {
                let wanted = match self.header_len {
                    0 | 1 => 2,
                    _ => frame::header_len(self.header[1]),
                };
                let take = wanted.saturating_sub(self.header_len).min(input.len());
                let end = self.header_len + take;
                if let (Some(dest), Some(src)) =
                    (self.header.get_mut(self.header_len..end), input.get(..take))
                {
                    dest.copy_from_slice(src);
                }
                self.header_len = end;
                let buffered = self.header.get(..self.header_len).unwrap_or_default();
                if let Status::Complete((header, _)) = FrameHeader::parse(buffered)? {
                    self.header_len = 0;
                    self.start_frame(now, header)?;
                }
                Ok(take)
            }
            Receive::Payload { header, received } => {
                let remaining = header.payload_len - received;
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                self.accept_payload(header, received, input.get(..take).unwrap_or_default())?;
                let received = received + take as u64;
                if received == header.payload_len {
                    self.receive = Receive::Header;
                    self.finish_frame(now, header)?;
                } else {
                    self.receive = Receive::Payload { header, received };
                }
                Ok(take)
            }
        }
    }

    /// Whether data frames are kept; after we sent close they are dropped.
    fn keeps_data(&self) -> bool {
        self.state == State::Open
    }

    fn start_frame(&mut self, now: Instant, header: FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        match header.opcode {
            OpCode::Close if header.payload_len == 1 => {
                return Err(ProtocolError::InvalidClosePayload);
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control = ControlPayload::EMPTY,
            OpCode::Text | OpCode::Binary | OpCode::Continuation if self.keeps_data() => {
                match (header.opcode, self.receiving) {
                    (OpCode::Continuation, None) => {
                        return Err(ProtocolError::UnexpectedContinuation);
                    }
                    (OpCode::Continuation, Some(_)) => {}
                    (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                    (opcode, None) => {
                        let kind = if opcode == OpCode::Text {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        self.receiving = Some(kind);
                        self.message_len = 0;
                        self.utf8_checked = 0;
                    }
                }
                let capacity = self.message.len() as u64;
                if header.payload_len > capacity.saturating_sub(self.message_len as u64) {
                    return Err(ProtocolError::MessageTooBig);
                }
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {}
        }
        if header.payload_len == 0 {
            self.finish_frame(now, header)
        } else {
            self.receive = Receive::Payload {
                header,
                received: 0,
            };
            Ok(())
        }
    }

    fn accept_payload(
        &mut self,
        header: FrameHeader,
        received: u64,
        chunk: &[u8],
    ) -> Result<(), ProtocolError> {
        let dest = if header.opcode.is_control() {
            // The header parser capped control payloads at 125 bytes.
            self.control
                .extend(chunk)
                .map_err(|_| ProtocolError::ControlFrameTooLong)?
        } else if self.keeps_data() {
            let start = self.message_len;
            let end = start.saturating_add(chunk.len());
            // start_frame checked the message fits.
            let dest = self
                .message
                .get_mut(start..end)
                .ok_or(ProtocolError::MessageTooBig)?;
            dest.copy_from_slice(chunk);
            self.message_len = end;
            dest
        } else {
            return Ok(());
        };
        if let Some(mask) = header.mask {
            frame::apply_mask(dest, mask, received);
        }
        if !header.opcode.is_control() && self.receiving == Some(MessageKind::Text) {
            self.check_utf8()?;
        }
        Ok(())
    }

    /// Validates the text received since the last check, so invalid UTF-8 fails
    /// the connection as soon as it arrives. A trailing incomplete character is
    /// rechecked with the next bytes.
    fn check_utf8(&mut self) -> Result<(), ProtocolError> {
        let unchecked = self
            .message
            .get(self.utf8_checked..self.message_len)
            .unwrap_or_default();
        match core::str::from_utf8(unchecked) {
            Ok(_) => self.utf8_checked = self.message_len,
            Err(error) if error.error_len().is_none() => self.utf8_checked += error.valid_up_to(),
            Err(_) => return Err(ProtocolError::InvalidUtf8),
        }
        Ok(())
    }

    fn finish_frame(&mut self, now: Instant, header: FrameHeader) -> Result<(), ProtocolError> {
        let open = self.state == State::Open;
        match header.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation if open && header.fin => {
                if let Some(kind) = self.receiving.take() {
                    if kind == MessageKind::Text && self.utf8_checked != self.message_len {
                        return Err(ProtocolError::InvalidUtf8);
                    }
                    self.event = Some(PendingEvent::Message(kind));
                }
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {}
            OpCode::Ping if open => {
                // At most one pong is pending; a newer ping replaces it.
                self.pending_pong = Some(self.control);
                self.event = Some(PendingEvent::Ping);
            }
            OpCode::Pong if open => self.event = Some(PendingEvent::Pong),
            OpCode::Ping | OpCode::Pong => {}
            OpCode::Close => {
                let code = parse_close_payload(self.control.as_slice())?;
                self.event = Some(PendingEvent::Close(code));
                self.receiving = None;
                match self.state {
                    State::Open => {
                        self.state = State::CloseReceived;
                        // Echo the status code (RFC 6455 §5.5.1); it was validated above.
                        self.pending_close = ControlPayload::close(code, "").ok();
                        self.deadline = Some(now.saturating_add(self.close_timeout));
                    }
                    State::CloseSent => {
                        self.state = State::Closed;
                        if self.role == Role::Server {
                            self.finish();
                        } else {
                            // Give the server time to close TCP first.
                            self.deadline = Some(now.saturating_add(self.close_timeout));
                        }
                    }
                    State::CloseReceived | State::Closed => {}
                }
            }
        }
        Ok(())
    }
}

/// Validates a close payload and returns its status code.
fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseCode>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::InvalidClosePayload),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.is_valid() {
                return Err(ProtocolError::InvalidCloseCode);
            }
            core::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            Ok(Some(code))
        }
    }
}

impl<R> core::fmt::Debug for Connection<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("failed", &self.failed)
            .field("deadline", &self.deadline)
            .field("close_transport", &self.close_transport)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl<R> defmt::Format for Connection<'_, R> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Connection {{ role: {}, state: {}, failed: {}, close_transport: {} }}",
            self.role,
            self.state,
            self.failed,
            self.close_transport
        );
    }
}
