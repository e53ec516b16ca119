//! What both roles share: the caller's buffers, the link between a connection's core, the
//! transport and the output buffer, and the steps of the runner loop that do not depend on
//! the role.

use core::cell::RefCell;
use core::future::Future;
use core::ops::Range;

use embassy_futures::select::{Either3, select3};
use embassy_time::Timer;
use embedded_io_async::{Error as _, ErrorKind};
use protocol_core::connection::{ClientConnection, Exit, ServerConnection};
use protocol_core::{CallError, CodecSet, EncodeError, Event, Instant, MessageKind, Transmit};
use ws_sansio::{CloseCode, Connection, FrameHeader, OpCode, RandomSource};

use crate::{Error, Transport, time};

/// Room kept at the start of the output buffer for a WebSocket frame header: the core
/// encodes a frame after it, and the header is written just in front, in place.
pub const OUTPUT_HEADROOM: usize = ws_sansio::MAX_FRAME_HEADER_LEN;

/// Smallest output buffer the runners take: the headroom and the longest frame the core
/// composes on its own ([`MAX_CORE_FRAME_LEN`](protocol_core::limits::MAX_CORE_FRAME_LEN)),
/// which also covers the HTTP upgrade messages. `run` refuses a smaller one at once
/// ([`Error::Encode`](crate::Error::Encode)); [`BufferStorage`] refuses it at compile time.
pub const MIN_OUTPUT_LEN: usize = OUTPUT_HEADROOM + protocol_core::limits::MAX_CORE_FRAME_LEN;

/// Refuses an output buffer smaller than [`MIN_OUTPUT_LEN`], before anything is sent.
pub(crate) fn check_output_len(output: &[u8]) -> Result<(), Error> {
    if output.len() < MIN_OUTPUT_LEN {
        let needed = MIN_OUTPUT_LEN;
        return Err(Error::Encode(ws_sansio::EncodeError::BufferTooSmall {
            needed,
        }));
    }
    Ok(())
}

/// Longest a write may take by default (`with_write_timeout` on the runners changes it): a
/// write still blocked after this (the peer stopped reading and its window stayed shut) ends
/// the connection, since the frame cannot be cut short and nothing else, timers included,
/// runs while it waits. 10 s.
pub const WRITE_TIMEOUT: embassy_time::Duration = embassy_time::Duration::from_secs(10);

/// The memory of one connection, besides the socket's own receive and transmit buffers. All
/// of it belongs to the caller; nothing is allocated.
///
/// | buffer | holds | size it |
/// |---|---|---|
/// | `header` | the HTTP upgrade's header section; after the handshake, each chunk read from the socket | the longest upgrade request or answer accepted (larger: HTTP 431 / an error); 512 bytes fit browsers' usual requests |
/// | `message` | one incoming WebSocket message, reassembled | the largest message accepted; a larger one closes the connection with 1009 |
/// | `output` | one outgoing frame: [`OUTPUT_HEADROOM`] bytes of frame header, then the frame the core encodes; also the HTTP upgrade request or answer | `OUTPUT_HEADROOM` + the largest frame sent, and at least [`MIN_OUTPUT_LEN`] (409 bytes) |
#[derive(Debug)]
pub struct Buffers<'a> {
    /// The HTTP header section, then socket reads.
    pub header: &'a mut [u8],
    /// One incoming message.
    pub message: &'a mut [u8],
    /// One outgoing frame, or the HTTP upgrade request or answer.
    pub output: &'a mut [u8],
}

/// [`Buffers`] as arrays, to place in a `static` or a `StaticCell`.
#[derive(Debug)]
pub struct BufferStorage<const HEADER: usize, const MESSAGE: usize, const OUTPUT: usize> {
    header: [u8; HEADER],
    message: [u8; MESSAGE],
    output: [u8; OUTPUT],
}

impl<const HEADER: usize, const MESSAGE: usize, const OUTPUT: usize>
    BufferStorage<HEADER, MESSAGE, OUTPUT>
{
    /// Zeroed storage.
    pub const fn new() -> Self {
        const {
            assert!(
                OUTPUT >= MIN_OUTPUT_LEN,
                "the output buffer must hold at least MIN_OUTPUT_LEN bytes"
            );
        }
        Self {
            header: [0; HEADER],
            message: [0; MESSAGE],
            output: [0; OUTPUT],
        }
    }

    /// The three buffers.
    pub fn buffers(&mut self) -> Buffers<'_> {
        Buffers {
            header: &mut self.header,
            message: &mut self.message,
            output: &mut self.output,
        }
    }
}

impl<const HEADER: usize, const MESSAGE: usize, const OUTPUT: usize> Default
    for BufferStorage<HEADER, MESSAGE, OUTPUT>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The calls of the core the loop makes whatever the role.
pub(crate) trait Core {
    fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, EncodeError>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event>;
    fn handle_timeout(&mut self, now: Instant);
    fn handle_pong(&mut self, now: Instant);
    fn handle_close(&mut self, now: Instant, code: Option<u16>) -> Result<(), CallError>;
    fn handle_transport_closed(&mut self, now: Instant);
}

macro_rules! impl_core {
    ($ty:ty, $($generics:tt)*) => {
        impl<W: CodecSet, $($generics)*> Core for $ty {
            fn poll_transmit(
                &mut self,
                now: Instant,
                out: &mut [u8],
            ) -> Result<Option<Transmit>, EncodeError> {
                self.poll_transmit(now, out)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn poll_event(&mut self) -> Option<Event> {
                self.poll_event()
            }
            fn handle_timeout(&mut self, now: Instant) {
                self.handle_timeout(now);
            }
            fn handle_pong(&mut self, now: Instant) {
                self.handle_pong(now);
            }
            fn handle_close(&mut self, now: Instant, code: Option<u16>) -> Result<(), CallError> {
                self.handle_close(now, code)
            }
            fn handle_transport_closed(&mut self, now: Instant) {
                self.handle_transport_closed(now);
            }
        }
    };
}

impl_core!(ServerConnection<W, IN_FLIGHT, QUEUE>, const IN_FLIGHT: usize, const QUEUE: usize);
impl_core!(ClientConnection<W, PENDING>, const PENDING: usize);

/// Where masking keys come from: nowhere for a server, the random source for a client.
pub(crate) trait Masking {
    fn key(&self) -> Option<[u8; 4]>;
}

/// A server never masks.
#[derive(Debug)]
pub(crate) struct NoMask;

impl Masking for NoMask {
    fn key(&self) -> Option<[u8; 4]> {
        None
    }
}

/// A client shares its random source between the WebSocket layer (control frames) and the
/// frames the runner writes in place.
impl<R: RandomSource> Masking for &RefCell<R> {
    fn key(&self) -> Option<[u8; 4]> {
        let mut key = [0; 4];
        self.borrow_mut().fill_bytes(&mut key);
        Some(key)
    }
}

/// A connection's core with the transport and the output buffer: what a session reaches
/// while the WebSocket layer is busy holding the message being handled.
#[derive(Debug)]
pub(crate) struct Link<'a, T, C, M> {
    pub(crate) transport: &'a mut T,
    pub(crate) output: &'a mut [u8],
    pub(crate) core: C,
    pub(crate) mask: M,
    /// How long one write may wait ([`WRITE_TIMEOUT`] unless the runner says otherwise).
    pub(crate) write_timeout: embassy_time::Duration,
    /// The transport failed or ended: nothing more is read or written.
    pub(crate) done: bool,
    /// A close asked for inside a callback, for the WebSocket layer: its code and the length
    /// of its reason, at `output[OUTPUT_HEADROOM..]` (the core refuses every send after a
    /// close, so nothing overwrites it before the loop takes it).
    pub(crate) close: Option<(u16, usize)>,
}

/// What a role does with the loop's inputs: the server and client handlers, adapted.
pub(crate) trait Role<L> {
    /// The connection was accepted.
    async fn open(&mut self, link: &mut L);
    /// One whole data message arrived.
    async fn message(&mut self, link: &mut L, kind: MessageKind, bytes: &[u8]);
    /// The core reported an event.
    async fn event(&mut self, link: &mut L, event: Event);
    /// The handler's own wait (cancel-safe).
    async fn wait(&mut self);
    /// The handler's wait completed.
    async fn wake(&mut self, link: &mut L);
}

/// The loop of an accepted connection, for both roles. Each turn: outputs in the core's
/// order, events, the end test, then one input (bytes already read, else a wait for bytes,
/// a deadline or the handler) fed to the WebSocket layer until it completes one message or
/// control frame.
pub(crate) async fn run_open<'a, T, C, M, R, X>(
    link: &mut Link<'a, T, C, M>,
    ws: &mut Connection<'_, R>,
    read_buffer: &mut [u8],
    mut input: Range<usize>,
    role: &mut X,
    close_timeout: protocol_core::Duration,
) -> Result<Exit, Error>
where
    T: Transport,
    C: Core,
    M: Masking,
    R: RandomSource,
    X: Role<Link<'a, T, C, M>>,
{
    let mut exit = None;
    role.open(link).await;
    loop {
        link.drain(ws).await;
        exit = link.deliver_events(role).await.or(exit);
        if link.close.is_some() {
            // A close asked for in an event callback goes out now, not after the next input.
            link.drain(ws).await;
        }
        // The server closes TCP once the closing handshake is over; the client waits for
        // that (the stream ends) or for its close deadline.
        if link.done || ws.should_close_transport() {
            break;
        }
        if input.is_empty() {
            let deadline = time::deadline(link.core.poll_timeout(), ws.poll_timeout());
            match link.wait(read_buffer, deadline, role.wait()).await {
                Wake::Input(n) => input = 0..n,
                Wake::Ended => link.done = true,
                Wake::Timer => {
                    let now = time::now();
                    link.core.handle_timeout(now);
                    ws.handle_timeout(time::ws_instant(now));
                }
                Wake::Handler => role.wake(link).await,
            }
            continue;
        }
        let now = time::now();
        let chunk = read_buffer.get(input.clone()).unwrap_or_default();
        match ws.handle_input(time::ws_instant(now), chunk) {
            Ok(used) => input.start += used,
            Err(error) => {
                // The layer queued its close frame; for the core the connection is gone.
                warn!("WebSocket protocol error: {}", error);
                input = 0..0;
                link.core.handle_transport_closed(now);
                continue;
            }
        }
        match ws.poll_event() {
            Some(ws_sansio::Event::Text(text)) => {
                role.message(link, MessageKind::Text, text.as_bytes()).await;
            }
            Some(ws_sansio::Event::Binary(bytes)) => {
                role.message(link, MessageKind::Binary, bytes).await;
            }
            Some(ws_sansio::Event::Ping(_) | ws_sansio::Event::Pong(_)) => {
                link.core.handle_pong(now);
            }
            Some(ws_sansio::Event::Close { code, .. }) => {
                // The layer answers it; the core records it.
                if let Err(error) = link.core.handle_close(now, code.map(|c| c.0)) {
                    debug!("close: {}", error);
                }
            }
            _ => {}
        }
    }
    link.shutdown(close_timeout).await;
    link.core.handle_transport_closed(time::now());
    exit = link.deliver_events(role).await.or(exit);
    exit.ok_or(Error::Closed)
}

/// What ended a wait.
pub(crate) enum Wake {
    /// Bytes arrived at the start of the read buffer.
    Input(usize),
    /// The stream ended or failed.
    Ended,
    /// A deadline passed.
    Timer,
    /// The handler's `wait` completed.
    Handler,
}

impl<'a, T: Transport, C: Core, M: Masking> Link<'a, T, C, M> {
    pub(crate) fn new(
        transport: &'a mut T,
        output: &'a mut [u8],
        core: C,
        write_timeout: embassy_time::Duration,
        mask: M,
    ) -> Self {
        Self {
            transport,
            output,
            core,
            mask,
            write_timeout,
            done: false,
            close: None,
        }
    }

    /// Writes `output[range]` whole. A write is never cancelled midway, except by the write
    /// timeout, which ends the connection (the stream is cut mid-frame).
    pub(crate) async fn write(&mut self, range: Range<usize>) -> Result<(), Error> {
        if self.done {
            return Err(Error::Closed);
        }
        let bytes = self.output.get(range).unwrap_or_default();
        let kind =
            match embassy_time::with_timeout(self.write_timeout, self.transport.write_all(bytes))
                .await
            {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => error.kind(),
                Err(_) => ErrorKind::TimedOut,
            };
        warn!("transport write failed: {}", kind);
        self.done = true;
        Err(Error::Transport(kind))
    }

    /// Sends what a core command returned: a data message is framed in place and written;
    /// a close is handed to the WebSocket layer by the loop.
    pub(crate) async fn send(&mut self, transmit: Transmit) -> Result<(), Error> {
        match transmit {
            Transmit::Message { kind, len } => self.write_message(kind, len).await,
            Transmit::Close { code, reason_len } => {
                self.close = Some((code, reason_len));
                Ok(())
            }
            // Commands never return pings; a ping from `poll_transmit` goes through the
            // WebSocket layer.
            _ => Ok(()),
        }
    }

    /// Frames the `len` bytes at `output[OUTPUT_HEADROOM..]` as one whole WebSocket message,
    /// in place, and writes it.
    async fn write_message(&mut self, kind: MessageKind, len: usize) -> Result<(), Error> {
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let mask = self.mask.key();
        let header = FrameHeader {
            fin: true,
            opcode,
            mask,
            payload_len: len as u64,
        };
        // At most OUTPUT_HEADROOM bytes, by definition of the constant.
        let start = OUTPUT_HEADROOM - header.encoded_len();
        let end = OUTPUT_HEADROOM + len;
        let Some(frame) = self.output.get_mut(start..end) else {
            return Err(Error::Encode(ws_sansio::EncodeError::BufferTooSmall {
                needed: end,
            }));
        };
        let (head, payload) = frame.split_at_mut(OUTPUT_HEADROOM - start);
        header.encode(head)?;
        if let Some(mask) = mask {
            ws_sansio::apply_mask(payload, mask, 0);
        }
        trace!("send {} bytes", end - start);
        self.write(start..end).await
    }

    /// Steps the outputs in the core's order: a close asked for in a callback, the core's
    /// own frames (pings, error answers, its close), then the WebSocket layer's (pongs, the
    /// close frame).
    pub(crate) async fn drain<R: RandomSource>(&mut self, ws: &mut Connection<'_, R>) {
        let now = time::now();
        if let Some((code, len)) = self.close.take() {
            self.close_ws(ws, now, code, len);
        }
        loop {
            let out = self.output.get_mut(OUTPUT_HEADROOM..).unwrap_or_default();
            let transmit = match self.core.poll_transmit(now, out) {
                Ok(Some(transmit)) => transmit,
                Ok(None) => break,
                Err(error) => {
                    // It stays queued, and everything behind it (the core's close too)
                    // would wait for good: end the connection instead. Unreachable with an
                    // output buffer of `MIN_OUTPUT_LEN`.
                    error!("output buffer too small for the core's frame: {}", error);
                    self.done = true;
                    break;
                }
            };
            match transmit {
                Transmit::Message { .. } if ws.state() == ws_sansio::State::Open => {
                    let _ = self.send(transmit).await;
                }
                Transmit::Ping => match ws.encode_ping(&[], self.output) {
                    Ok(len) => {
                        let _ = self.write(0..len).await;
                    }
                    Err(error) => debug!("no ping: {}", error),
                },
                Transmit::Close { code, reason_len } => self.close_ws(ws, now, code, reason_len),
                _ => {}
            }
        }
        loop {
            match ws.poll_transmit(self.output) {
                Ok(Some(len)) => {
                    let _ = self.write(0..len).await;
                }
                Ok(None) => break,
                Err(error) => {
                    error!("output buffer too small for a control frame: {}", error);
                    break;
                }
            }
        }
    }

    /// Hands the core's close (reason at `output[OUTPUT_HEADROOM..][..len]`) to the
    /// WebSocket layer, which writes the close frame and runs the closing handshake.
    fn close_ws<R: RandomSource>(
        &mut self,
        ws: &mut Connection<'_, R>,
        now: Instant,
        code: u16,
        len: usize,
    ) {
        let reason = self
            .output
            .get(OUTPUT_HEADROOM..OUTPUT_HEADROOM + len)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or_default();
        debug!("closing with {}", code);
        // The core validated the code and the reason's length.
        if let Err(error) = ws.close(time::ws_instant(now), CloseCode(code), reason) {
            error!("close refused by the WebSocket layer: {}", error);
        }
    }

    /// Waits for bytes (read into `buf`), the earlier of the two layers' deadlines, or the
    /// handler. Only the read and the timer are cancelled by the others; neither loses data.
    pub(crate) async fn wait<F: Future<Output = ()>>(
        &mut self,
        buf: &mut [u8],
        deadline: Option<embassy_time::Instant>,
        handler: F,
    ) -> Wake {
        if deadline.is_some_and(|at| at <= embassy_time::Instant::now()) {
            // Due already: fire it before reading, so a peer that keeps sending cannot
            // starve the timers.
            return Wake::Timer;
        }
        let timer = async {
            match deadline {
                Some(at) => Timer::at(at).await,
                None => core::future::pending().await,
            }
        };
        match select3(self.transport.read(buf), timer, handler).await {
            Either3::First(Ok(0)) => Wake::Ended,
            Either3::First(Ok(n)) => Wake::Input(n),
            Either3::First(Err(error)) => {
                debug!("transport read failed: {}", error.kind());
                Wake::Ended
            }
            Either3::Second(()) => Wake::Timer,
            Either3::Third(()) => Wake::Handler,
        }
    }

    /// Hands every event of the core to the role; returns the exit, if it was one of them.
    async fn deliver_events<X: Role<Self>>(&mut self, role: &mut X) -> Option<Exit> {
        let mut exit = None;
        while let Some(event) = self.core.poll_event() {
            if let Event::Exit(e) = event {
                exit = Some(e);
            }
            role.event(self, event).await;
        }
        exit
    }

    /// Reads part of the HTTP upgrade into `buf`, within the core's handshake deadline.
    pub(crate) async fn read_handshake(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            let deadline = time::deadline(self.core.poll_timeout(), None);
            match self.wait(buf, deadline, core::future::pending()).await {
                Wake::Input(n) => return Ok(n),
                Wake::Ended => return Err(Error::Closed),
                Wake::Timer | Wake::Handler => {
                    self.core.handle_timeout(time::now());
                    while let Some(event) = self.core.poll_event() {
                        if event == Event::HandshakeTimedOut {
                            return Err(Error::HandshakeTimedOut);
                        }
                    }
                }
            }
        }
    }

    /// Ends the transport: gracefully, within `timeout`.
    pub(crate) async fn shutdown(&mut self, timeout: protocol_core::Duration) {
        let timeout = embassy_time::Duration::from_micros(timeout.as_micros());
        if embassy_time::with_timeout(timeout, self.transport.shutdown())
            .await
            .is_err()
        {
            debug!("transport shutdown timed out");
        }
        self.done = true;
    }
}
