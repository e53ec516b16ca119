//! One WebSocket connection: a thin driver around the core, in the connection's own task.
//!
//! The loop, once per step:
//! 1. hand the core's outputs to the socket: `poll_transmit` until `None` (replies the core
//!    composed, pings, close frames), then `poll_event` (the exit comes last);
//! 2. arm the one timer at `poll_timeout` (or the shutdown deadline, if earlier) before
//!    the task sleeps, and every `ARM_EVERY` inputs taken back to back;
//! 3. wait for one input, in this order: a control command (shutdown, close), the timer,
//!    then — only while nothing is waiting to be written — an event from a handler, the
//!    enter hook, a finished handler, an event from the server handle, a message from the
//!    socket (inputs taken back to back share a reading of the clock);
//! 4. feed it to the core: `handle_message`, `handle_pong`, `handle_close`,
//!    `handle_timeout`, `handle_transport_closed`, or a command (`respond`, `fail`,
//!    `send_event`, `close`).
//!
//! Output is buffered by tungstenite and flushed once per batch (when no input is ready,
//! or after [`BATCH`] inputs). While the socket does not take output, no input is taken: a
//! client that does not read stops being read, its handlers wait in `send_event`, the
//! queue of server events fills, and the slow-reader policy applies.
//!
//! Handlers run inside this task, never spawned: each is polled once as its request
//! arrives, and one that finishes then is answered at once (the common case: no extra
//! step, no wake-up); one that waits goes on in a `FuturesUnordered`. When the
//! connection ends, handlers still running are cancelled (dropped) and their requests
//! abandoned in the core.

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::{Future, poll_fn};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, FuturesUnordered};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use protocol_core::connection::{
    CallError, ErrorCode, Exit, Failure, Initiator, RequestToken, ServerReceived,
};
use protocol_core::{Data, EncodeError, ErrorBody, Event, MessageKind, State, Transmit};
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::{Instrument, debug, warn};

use crate::app::App;
use crate::config::ReplyOrder;
use crate::extract::{ConnectionId, Scope};
use crate::free::{Frame, FreeOutcome, FreeRun};
use crate::handler::{BoxFuture, Erased, HandlerError, Reply};
use crate::limit::TokenBucket;
use crate::mailbox::Inbox;
use crate::server::{Control, Core, Counters, Outbound, Shared};
use crate::time;

/// Inputs taken before output is flushed.
pub(crate) const BATCH: usize = 64;

/// Inputs taken back to back that share one reading of the clock.
const CLOCK_EVERY: usize = 8;

/// Queue capacity an idle connection keeps (the smallest a `VecDeque` allocates).
const KEEP_QUEUED: usize = 4;

/// Most answers the core composed itself (refusals) held in request order at one time
/// (`ReplyOrder::InOrder`); beyond this, a refusal is answered at once, out of order.
pub(crate) const MAX_HELD_REFUSALS: usize = crate::config::IN_FLIGHT;

/// Inputs taken back to back between two settings of the timer.
const ARM_EVERY: usize = 16;

/// The encode buffer starts at this size and grows up to the message limit.
const OUT_MIN: usize = 2 * 1024;
/// A grown encode buffer is given back once it exceeds this size.
const OUT_KEEP: usize = 16 * 1024;

type Panic = Box<dyn Any + Send>;
type Finished = Result<Result<Reply, HandlerError>, Panic>;

/// How the connection starts once upgraded.
pub(crate) enum Start {
    /// No enter hook.
    Ready,
    /// Run the enter hook.
    Enter(BoxFuture<Result<Reply, HandlerError>>),
    /// The enter hook's extractor failed (`Seed000`): send `internal-error`.
    EnterFailed,
    /// The decision was "accept, then close".
    Close(u16, Cow<'static, str>),
}

/// An accepted handshake waiting for hyper to hand over the socket.
pub(crate) struct Pending<C> {
    pub(crate) id: ConnectionId,
    pub(crate) on_upgrade: OnUpgrade,
    pub(crate) core: Box<Core>,
    pub(crate) scope: Scope<C>,
    pub(crate) inbox: Inbox,
    pub(crate) start: Start,
    pub(crate) app: Arc<App<C>>,
}

/// Runs an accepted connection to its end, exit hook included.
pub(crate) fn run<C: Send + Sync + 'static>(
    pending: Pending<C>,
    shared: Arc<Shared>,
) -> impl Future<Output = ()> + Send {
    let span = tracing::debug_span!("ws", id = %pending.id);
    run_inner(pending, shared).instrument(span)
}

async fn run_inner<C: Send + Sync + 'static>(pending: Pending<C>, shared: Arc<Shared>) {
    let Pending {
        id,
        on_upgrade,
        mut core,
        scope,
        inbox,
        start,
        app,
    } = pending;
    Counters::add(&shared.counters.connections, 1);
    let open = shared.register(id, inbox.0.clone());
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "the upgrade did not complete");
            core.handle_transport_closed(time::now());
            let exit = loop {
                match core.poll_event() {
                    Some(Event::Exit(exit)) => break Some(exit),
                    Some(_) => {}
                    None => break None,
                }
            };
            drop(inbox);
            if let Some(exit) = exit {
                Box::pin(finish(&app, scope, &shared, id, exit)).await;
            }
            return;
        }
    };
    let ws = Box::pin(WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Server,
        Some(shared.config.websocket()),
    ))
    .await;
    let now = tokio::time::Instant::now();
    let mut driver = Box::new(Driver {
        ws,
        core,
        app,
        scope,
        inbox,
        handlers: None,
        free: None,
        in_flight: VecDeque::new(),
        held: HashMap::new(),
        next_seq: 0,
        enter: None,
        stashed: None,
        tally: Tally::default(),
        max_out: shared.config.max_message_size,
        pending_out: VecDeque::new(),
        needs_flush: false,
        batch: 0,
        write_dead: false,
        read_done: false,
        sleep: Box::pin(tokio::time::sleep_until(now)),
        timer_at: None,
        timer_armed: false,
        clock: now,
        draining: None,
        messages: TokenBucket::new(shared.config.message_rate, now),
        controls: TokenBucket::new(shared.config.control_rate, now),
        order: shared.config.reply_order,
        shared: shared.clone(),
    });
    if !open {
        driver.begin_shutdown(now + shared.config.shutdown_grace);
    }
    driver.start(start);
    let exit = driver.drive().await;
    driver.publish();
    if exit.initiator == Initiator::Peer && !driver.write_dead {
        // The answer to the peer's close frame is queued in tungstenite: send it. Data still
        // waiting cannot follow a close frame and is dropped.
        let limit = time::to_std_duration(shared.config.core.close_timeout);
        let _ = Box::pin(tokio::time::timeout(limit, driver.ws.flush())).await;
    }
    let Driver {
        ws,
        mut core,
        in_flight,
        enter,
        handlers,
        free,
        app,
        scope,
        inbox,
        ..
    } = *driver;
    drop(ws);
    // A hook or handler still running is cancelled before the exit hook runs.
    drop(enter);
    drop(handlers);
    drop(free);
    // Handlers (and the exit hook) sending events from now on get `Disconnected`.
    drop(inbox);
    for (_, token) in in_flight {
        if let Some(token) = token {
            let _ = core.abandon(token);
        }
    }
    Box::pin(finish(&app, scope, &shared, id, exit)).await;
}

/// The end of an accepted connection: unregister, count, run the exit hook.
async fn finish<C>(
    app: &App<C>,
    mut scope: Scope<C>,
    shared: &Shared,
    id: ConnectionId,
    exit: Exit,
) {
    shared.unregister(id);
    shared.counters.closed(exit.code.unwrap_or(1006));
    debug!(?exit, "connection ended");
    scope.exit = Some(exit);
    if let Some(hook) = &app.exit {
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| hook.start(&scope)));
        let Ok(started) = started else {
            Counters::add(&shared.counters.panics, 1);
            warn!("exit hook panicked");
            return;
        };
        match started {
            Ok(future) => {
                if AssertUnwindSafe(future).catch_unwind().await.is_err() {
                    Counters::add(&shared.counters.panics, 1);
                    warn!("exit hook panicked");
                }
            }
            Err(error) => warn!(
                extractor = error.source,
                "exit hook not run: extractor failed"
            ),
        }
    }
    Counters::add(&shared.counters.exits, 1);
}

/// The outcome of one request, waiting to be answered.
enum Outcome {
    Reply(Reply),
    Fail(Failure<'static>),
    Error(HandlerError),
    Panic,
    /// An answer the core composed itself (a refusal), held in request order.
    Composed(Message),
}

/// A running request handler: its request, and its future with panics caught.
struct Running {
    seq: u64,
    token: RequestToken,
    future: BoxFuture<Result<Reply, HandlerError>>,
}

impl Future for Running {
    type Output = (u64, RequestToken, Finished);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // A future that panicked is not polled again: the caller drops it.
        match std::panic::catch_unwind(AssertUnwindSafe(|| this.future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready((this.seq, this.token, Ok(result))),
            Err(panic) => Poll::Ready((this.seq, this.token, Err(panic))),
        }
    }
}

/// One input for the core.
enum Step {
    Control(Control),
    Timer,
    Flushed,
    WriteError(WsError),
    Read(Option<Result<Message, WsError>>),
    Outbound(Outbound),
    Entered(Finished),
    Done(u64, RequestToken, Finished),
    /// A free-form handler (or its fallback) finished: its frames, and how it fared.
    Free(Vec<Frame>, FreeOutcome),
}

struct Driver<C> {
    ws: WebSocketStream<TokioIo<Upgraded>>,
    core: Box<Core>,
    app: Arc<App<C>>,
    scope: Scope<C>,
    shared: Arc<Shared>,
    /// Commands, events from this connection's handlers (they wait for room) and from the
    /// server handle (never waited for: the slow-reader policy).
    inbox: Inbox,
    /// Running handlers (those that did not finish when first polled).
    handlers: Option<FuturesUnordered<Running>>,
    /// Running free-form handlers; their frames are taken in arrival order.
    free: Option<FuturesOrdered<FreeRun>>,
    /// Unanswered requests (running or held), in arrival order. `None`: an answer the core
    /// composed itself, held behind the requests before it (`ReplyOrder::InOrder`).
    in_flight: VecDeque<(u64, Option<RequestToken>)>,
    /// Finished requests waiting for earlier ones (`ReplyOrder::InOrder`).
    held: HashMap<u64, Outcome>,
    next_seq: u64,
    enter: Option<BoxFuture<Finished>>,
    /// A finished hook or handler whose events are being written first.
    stashed: Option<Step>,
    /// Counts not yet added to the server's.
    tally: Tally,
    max_out: usize,
    /// Messages not yet taken by tungstenite.
    pending_out: VecDeque<Message>,
    needs_flush: bool,
    /// Inputs taken since the last flush.
    batch: usize,
    write_dead: bool,
    read_done: bool,
    sleep: Pin<Box<Sleep>>,
    /// The deadline `sleep` is set to (it may be earlier than the core's: it then fires
    /// early, finds nothing due, and is set again).
    timer_at: Option<tokio::time::Instant>,
    timer_armed: bool,
    /// The clock, read once per step.
    clock: tokio::time::Instant,
    /// The shutdown deadline, once shutdown began.
    draining: Option<tokio::time::Instant>,
    messages: TokenBucket,
    controls: TokenBucket,
    order: ReplyOrder,
}

impl<C: Send + Sync + 'static> Driver<C> {
    fn start(&mut self, start: Start) {
        let now = time::now();
        match start {
            Start::Ready => {}
            Start::Enter(future) => {
                self.enter = Some(Box::pin(AssertUnwindSafe(future).catch_unwind()));
            }
            Start::EnterFailed => self.send_internal_error_event(now),
            Start::Close(code, reason) => self.close(now, code, &reason),
        }
    }

    /// Runs until the core reports the connection's exit.
    async fn drive(&mut self) -> Exit {
        self.clock = tokio::time::Instant::now();
        let mut now = time::to_core(self.clock);
        loop {
            self.check_shutdown(now);
            if self.read_done && self.pending_out.is_empty() && !self.needs_flush {
                // Nothing more can be read and what we had to say is out.
                self.core.handle_transport_closed(now);
            }
            self.drain_transmits(now);
            while let Some(event) = self.core.poll_event() {
                match event {
                    Event::Exit(exit) => return exit,
                    Event::ProtocolError(error) => debug!(?error, "protocol error; closing"),
                    other => debug!(?other, "event"),
                }
            }
            if self.batch > 0 && self.batch.is_multiple_of(ARM_EVERY) {
                // For a connection that never runs out of input; otherwise `wait` arms it
                // before the task sleeps.
                self.arm_timer();
            }
            let step = poll_fn(|cx| self.poll_step(cx)).await;
            // The clock is read at the start of each batch, every `CLOCK_EVERY` inputs
            // within one, and for the timer: inputs taken back to back share a reading.
            if self.batch <= 1
                || self.batch.is_multiple_of(CLOCK_EVERY)
                || matches!(step, Step::Timer)
            {
                self.clock = tokio::time::Instant::now();
                now = time::to_core(self.clock);
            }
            self.apply(now, step);
        }
    }

    // ---- Waiting ----

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        // The queues are only peeked at while there is work; `wait` registers the task's
        // waker with them before it sleeps.
        if let Some(control) = self.inbox.take_control() {
            return Poll::Ready(Step::Control(control));
        }
        // Due by the clock of this step; otherwise the timer is polled (and its waker
        // registered) only before the task waits.
        if self.timer_armed && self.timer_at.is_some_and(|at| at <= self.clock) {
            self.timer_armed = false;
            self.timer_at = None;
            return Poll::Ready(Step::Timer);
        }
        if !self.write_dead {
            match self.poll_write(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Step::WriteError(error)),
                // The socket does not take more: take no input until it does.
                Poll::Pending => return self.wait(cx, false),
            }
            if self.batch >= BATCH && self.needs_flush {
                match self.flush(cx) {
                    Poll::Ready(Ok(())) => {
                        self.needs_flush = false;
                        self.batch = 0;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Step::WriteError(error)),
                    Poll::Pending => return self.wait(cx, false),
                }
            }
        }
        if let Poll::Ready(step) = self.poll_input(cx) {
            self.batch += 1;
            return Poll::Ready(step);
        }
        if self.needs_flush && !self.write_dead {
            return match self.flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.needs_flush = false;
                    self.batch = 0;
                    if self.read_done {
                        // The loop decides whether the transport is done.
                        Poll::Ready(Step::Flushed)
                    } else {
                        self.wait(cx, true)
                    }
                }
                Poll::Ready(Err(error)) => Poll::Ready(Step::WriteError(error)),
                Poll::Pending => self.wait(cx, true),
            };
        }
        self.batch = 0;
        self.wait(cx, true)
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.publish();
        self.ws.poll_flush_unpin(cx)
    }

    /// Before the task sleeps: the task's waker is registered with the control queue,
    /// with the event queues when `inputs` (input is taken), and with the timer, which
    /// is set to the core's deadline first. Something may have arrived meanwhile.
    fn wait(&mut self, cx: &mut Context<'_>, inputs: bool) -> Poll<Step> {
        self.publish();
        if inputs {
            self.release_idle_memory();
        }
        self.inbox.register(cx.waker());
        if let Some(control) = self.inbox.take_control() {
            return Poll::Ready(Step::Control(control));
        }
        if inputs && let Some(event) = self.inbox.take_event().or_else(|| self.inbox.take_push()) {
            return Poll::Ready(Step::Outbound(event));
        }
        self.arm_timer();
        if self.timer_armed && self.sleep.as_mut().poll(cx).is_ready() {
            self.timer_armed = false;
            self.timer_at = None;
            return Poll::Ready(Step::Timer);
        }
        Poll::Pending
    }

    /// An idle connection gives back the queue capacity a burst left (it keeps the
    /// smallest allocation, so that one request at a time allocates nothing).
    fn release_idle_memory(&mut self) {
        if self.pending_out.is_empty() && self.pending_out.capacity() > KEEP_QUEUED {
            self.pending_out = VecDeque::new();
        }
        if self.in_flight.is_empty() && self.in_flight.capacity() > KEEP_QUEUED {
            self.in_flight = VecDeque::new();
        }
        if self.held.is_empty() && self.held.capacity() > 0 {
            self.held = HashMap::new();
        }
    }

    /// Hands queued messages to tungstenite.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        while let Some(message) = self.pending_out.pop_front() {
            match self.ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.pending_out.push_front(message);
                    return Poll::Pending;
                }
            }
            match self.ws.start_send_unpin(message) {
                Ok(()) => self.needs_flush = true,
                Err(WsError::WriteBufferFull(message)) => {
                    self.pending_out.push_front(*message);
                    self.needs_flush = true;
                    match self.flush(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                // The peer's close arrived after this message was queued: drop it.
                Err(WsError::Protocol(ProtocolError::SendAfterClosing)) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        // Events before replies: a handler's `send_event` completed before it returned.
        if let Some(event) = self.inbox.take_event() {
            return Poll::Ready(Step::Outbound(event));
        }
        if let Some(step) = self.stashed.take() {
            return Poll::Ready(step);
        }
        let finished = if let Some(enter) = self.enter.as_mut()
            && let Poll::Ready(finished) = enter.as_mut().poll(cx)
        {
            self.enter = None;
            Some(Step::Entered(finished))
        } else if let Some(handlers) = self.handlers.as_mut()
            && let Poll::Ready(Some((seq, token, finished))) = handlers.poll_next_unpin(cx)
        {
            if handlers.is_empty() {
                // No memory is held while no handler waits.
                self.handlers = None;
            }
            Some(Step::Done(seq, token, finished))
        } else if let Some(free) = self.free.as_mut()
            && let Poll::Ready(Some(frames)) = free.poll_next_unpin(cx)
        {
            if free.is_empty() {
                self.free = None;
            }
            Some(Step::Free(frames.0, frames.1))
        } else {
            None
        };
        if let Some(step) = finished {
            // Events the hook or handler queued before it returned go out before its reply.
            if let Some(event) = self.inbox.take_event() {
                self.stashed = Some(step);
                return Poll::Ready(Step::Outbound(event));
            }
            return Poll::Ready(step);
        }
        if let Some(event) = self.inbox.take_push() {
            return Poll::Ready(Step::Outbound(event));
        }
        if self.may_read()
            && let Poll::Ready(read) = self.ws.poll_next_unpin(cx)
        {
            return Poll::Ready(Step::Read(read));
        }
        Poll::Pending
    }

    /// Reading waits for the enter hook, stops while a shutdown lets requests finish, and
    /// while [`IN_FLIGHT`](crate::IN_FLIGHT) free-form handlers run.
    fn may_read(&self) -> bool {
        !self.read_done
            && self.enter.is_none()
            && self.free.as_ref().map_or(0, FuturesOrdered::len) < crate::config::IN_FLIGHT
            && !(self.draining.is_some() && self.core.app_state() == State::Connected)
    }

    fn arm_timer(&mut self) {
        let mut at = self.core.poll_timeout().map(time::to_tokio);
        if let Some(deadline) = self.draining
            && self.core.app_state() == State::Connected
        {
            at = Some(at.map_or(deadline, |at| at.min(deadline)));
        }
        match at {
            Some(at) => {
                // A later deadline keeps the earlier one set: resetting tokio's timer on
                // every message (the idle deadline moves each time) costs more than one
                // early wake-up.
                let keep = self
                    .timer_at
                    .is_some_and(|set| set <= at && set > self.clock);
                if !keep && self.timer_at != Some(at) {
                    self.sleep.as_mut().reset(at);
                    self.timer_at = Some(at);
                }
                self.timer_armed = true;
            }
            None => self.timer_armed = false,
        }
    }

    // ---- Inputs ----

    fn apply(&mut self, now: protocol_core::Instant, step: Step) {
        match step {
            Step::Control(Control::Shutdown { deadline }) => self.begin_shutdown(deadline),
            Step::Control(Control::Close { code, reason }) => self.close(now, code, &reason),
            Step::Timer => self.core.handle_timeout(now),
            Step::Flushed => {}
            Step::WriteError(error) => {
                debug!(%error, "write failed");
                self.write_dead = true;
                self.read_done = true;
                self.pending_out.clear();
                self.needs_flush = false;
                self.core.handle_transport_closed(now);
            }
            Step::Read(read) => self.on_read(now, read),
            Step::Outbound(event) => self.on_outbound(now, &event),
            Step::Entered(finished) => self.on_entered(now, finished),
            Step::Free(frames, outcome) => {
                if outcome != FreeOutcome::Handled {
                    self.tally.errors += 1;
                }
                if outcome == FreeOutcome::Panicked {
                    Counters::add(&self.shared.counters.panics, 1);
                }
                self.send_frames(now, frames);
            }
            Step::Done(seq, token, finished) => self.finished(now, seq, token, finished),
        }
    }

    fn finished(
        &mut self,
        now: protocol_core::Instant,
        seq: u64,
        token: RequestToken,
        finished: Finished,
    ) {
        let outcome = match finished {
            Ok(Ok(reply)) => Outcome::Reply(reply),
            Ok(Err(error)) => Outcome::Error(error),
            Err(panic) => {
                Counters::add(&self.shared.counters.panics, 1);
                warn!(panic = panic_message(&*panic), "handler panicked");
                Outcome::Panic
            }
        };
        self.complete(now, seq, token, outcome);
    }

    fn on_read(&mut self, now: protocol_core::Instant, read: Option<Result<Message, WsError>>) {
        let message = match read {
            Some(Ok(message)) => message,
            None => {
                self.read_done = true;
                self.core.handle_transport_closed(now);
                return;
            }
            Some(Err(error)) => {
                // tokio-tungstenite ends the stream after any error.
                self.read_done = true;
                debug!(%error, "read failed");
                match error {
                    WsError::Capacity(_) => self.close(now, 1009, "message too big"),
                    WsError::Utf8(_) => self.close(now, 1007, "invalid UTF-8"),
                    WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                        self.core.handle_transport_closed(now);
                    }
                    WsError::Protocol(_) => self.close(now, 1002, "protocol error"),
                    _ => self.core.handle_transport_closed(now),
                }
                return;
            }
        };
        match message {
            Message::Text(text) => self.on_data(now, MessageKind::Text, text.as_bytes()),
            Message::Binary(bytes) => self.on_data(now, MessageKind::Binary, &bytes),
            Message::Ping(_) | Message::Pong(_) => {
                if self.controls.take(self.clock) {
                    self.core.handle_pong(now);
                } else {
                    self.rate_limited(now, "control frame rate limit exceeded");
                }
            }
            Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code));
                if let Err(error) = self.core.handle_close(now, code) {
                    debug!(%error, "close frame not taken");
                }
            }
            Message::Frame(_) => {}
        }
    }

    fn on_data(&mut self, now: protocol_core::Instant, kind: MessageKind, bytes: &[u8]) {
        self.tally.bytes_in += bytes.len() as u64;
        if !self.messages.take(self.clock) {
            self.rate_limited(now, "message rate limit exceeded");
            return;
        }
        if let Some(free) = &self.app.free {
            // Not quartet frames: the core keeps the connection's state, the router the rest.
            if self.core.app_state() != State::Connected {
                return;
            }
            self.core.handle_pong(now);
            self.tally.requests += 1;
            let future = free.start(&self.scope, kind == MessageKind::Binary, bytes);
            self.free
                .get_or_insert_with(FuturesOrdered::new)
                .push_back(future);
            return;
        }
        let received = self.core.handle_message(now, kind, bytes, &self.app.table);
        match received {
            Ok(ServerReceived::Request(request)) => {
                self.tally.requests += 1;
                let seq = self.next_seq;
                self.next_seq += 1;
                let token = request.token;
                self.in_flight.push_back((seq, Some(token)));
                let route = &self.app.routes[usize::from(request.route.0)];
                // Extractors and the handler's code before its first `.await` run here: a
                // panic there is the handler's too.
                let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    route.start(&self.scope, request.codec, request.data)
                }));
                match started {
                    Ok(Ok(future)) => {
                        let mut running = Running { seq, token, future };
                        // Most handlers finish without waiting: poll once here and answer
                        // at once. One that waits runs on in `handlers`, which polls it
                        // again with the task's waker.
                        let mut cx = Context::from_waker(Waker::noop());
                        match Pin::new(&mut running).poll(&mut cx) {
                            Poll::Ready((_, _, finished)) => {
                                // Events the handler queued go out before its reply.
                                while let Some(event) = self.inbox.take_event() {
                                    self.on_outbound(now, &event);
                                }
                                self.finished(now, seq, token, finished);
                            }
                            Poll::Pending => self
                                .handlers
                                .get_or_insert_with(FuturesUnordered::new)
                                .push(running),
                        }
                    }
                    Ok(Err(failure)) => self.complete(now, seq, token, Outcome::Fail(failure)),
                    // As a panic inside the handler's future.
                    Err(panic) => self.finished(now, seq, token, Err(panic)),
                }
            }
            Ok(ServerReceived::Refused(refusal)) => {
                self.tally.errors += 1;
                debug!(?refusal, "refused by the core");
                if self.order == ReplyOrder::InOrder && !self.in_flight.is_empty() {
                    self.hold_core_answer(now);
                }
            }
            Ok(ServerReceived::Closing(error)) => debug!(?error, "closing"),
            Ok(_) => {}
            Err(error) => debug!(%error, "message not taken"),
        }
    }

    /// Queues a free-form handler's frames, unless the connection is closing.
    /// Queues a free-form handler's frames. One longer than `max_message_size` is not sent
    /// (a peer with the same limit would refuse it, and tungstenite's write buffer could
    /// never take it): the connection is closed with 1011 instead.
    fn send_frames(&mut self, now: protocol_core::Instant, frames: Vec<Frame>) {
        for frame in frames {
            if self.core.app_state() != State::Connected {
                return;
            }
            let message = match frame {
                Frame::Text(text) => Message::Text(Utf8Bytes::from(text)),
                Frame::Binary(bytes) => Message::Binary(bytes),
            };
            if message.len() > self.max_out {
                warn!(
                    len = message.len(),
                    max = self.max_out,
                    "free-form frame over max_message_size; closing"
                );
                self.tally.errors += 1;
                self.close(now, 1011, "reply too large");
                return;
            }
            self.tally.bytes_out += message.len() as u64;
            self.pending_out.push_back(message);
        }
    }

    fn on_outbound(&mut self, now: protocol_core::Instant, event: &Outbound) {
        let result = match event {
            Outbound::Event(event) => {
                let data = Erased(&*event.data);
                self.with_out(|core, out| core.send_event(now, &event.kind, &data, out))
            }
            Outbound::Error(error) => {
                let body = ErrorBody::new(&error.0, &error.1);
                self.with_out(|core, out| core.send_error_event(now, &body, out))
            }
        };
        match result {
            Ok(transmit) => self.push(transmit),
            Err(CallError::SendAfterClose | CallError::NotAccepted) => {}
            Err(error) => warn!(%error, "event not sent"),
        }
    }

    fn on_entered(&mut self, now: protocol_core::Instant, finished: Finished) {
        if self.app.free.is_some() {
            // Free-form apps do not speak the envelope: no `init` event, no error event.
            match finished {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => warn!(%error, "enter hook failed"),
                Err(panic) => {
                    Counters::add(&self.shared.counters.panics, 1);
                    warn!(panic = panic_message(&*panic), "enter hook panicked");
                }
            }
            return;
        }
        let result = match finished {
            Ok(Ok(Reply::Value(value))) => {
                let data = Erased(&*value);
                self.with_out(|core, out| core.send_init(now, &data, out))
            }
            Ok(Ok(Reply::Raw(bytes))) => {
                self.with_out(|core, out| core.send_init(now, &Data::new(&bytes), out))
            }
            Ok(Err(HandlerError::Request { reason, code })) => {
                let body = ErrorBody::new(&reason, &code);
                self.with_out(|core, out| core.send_error_event(now, &body, out))
            }
            Ok(Err(error)) => {
                warn!(%error, "enter hook failed");
                return self.send_internal_error_event(now);
            }
            Err(panic) => {
                Counters::add(&self.shared.counters.panics, 1);
                warn!(panic = panic_message(&*panic), "enter hook panicked");
                return self.send_internal_error_event(now);
            }
        };
        match result {
            Ok(transmit) => self.push(transmit),
            Err(CallError::SendAfterClose) => {}
            Err(error) => {
                warn!(%error, "init event not sent");
                self.send_internal_error_event(now);
            }
        }
    }

    /// The envelope's `internal-error` event (nothing for a free-form app).
    fn send_internal_error_event(&mut self, now: protocol_core::Instant) {
        if self.app.free.is_some() {
            return;
        }
        let body = ErrorCode::InternalError.body();
        match self.with_out(|core, out| core.send_error_event(now, &body, out)) {
            Ok(transmit) => self.push(transmit),
            Err(error) => debug!(%error, "error event not sent"),
        }
    }

    /// A request finished: answer it now, or hold it until earlier ones are answered.
    fn complete(
        &mut self,
        now: protocol_core::Instant,
        seq: u64,
        token: RequestToken,
        outcome: Outcome,
    ) {
        match self.order {
            ReplyOrder::InOrder => {
                if self
                    .in_flight
                    .front()
                    .is_some_and(|&(first, _)| first == seq)
                {
                    self.in_flight.pop_front();
                    self.answer(now, token, outcome);
                } else {
                    self.held.insert(seq, outcome);
                }
                while let Some(&(first, token)) = self.in_flight.front() {
                    let Some(outcome) = self.held.remove(&first) else {
                        break;
                    };
                    self.in_flight.pop_front();
                    match (token, outcome) {
                        (_, Outcome::Composed(message)) => self.push(Some(message)),
                        (Some(token), outcome) => self.answer(now, token, outcome),
                        (None, _) => {}
                    }
                }
            }
            _ => {
                // Usually the newest request (answered as soon as it arrived).
                if let Some(at) = self.in_flight.iter().rposition(|(s, _)| *s == seq) {
                    self.in_flight.remove(at);
                }
                self.answer(now, token, outcome);
            }
        }
    }

    /// Takes the answer the core just composed to a refused message and holds it behind the
    /// requests before it (`ReplyOrder::InOrder`). A ping the core had due goes out at once.
    /// Nothing is held when the core is closing (its close frame must stay last), or when
    /// [`MAX_HELD_REFUSALS`] are already held: the answer then goes out at once.
    fn hold_core_answer(&mut self, now: protocol_core::Instant) {
        let held = self.in_flight.iter().filter(|(_, t)| t.is_none()).count();
        if self.core.app_state() != State::Connected || held >= MAX_HELD_REFUSALS {
            return;
        }
        while let Some(message) = self.take_transmit(now) {
            if let Message::Text(_) | Message::Binary(_) = message {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.in_flight.push_back((seq, None));
                self.held.insert(seq, Outcome::Composed(message));
                return;
            }
            self.push(Some(message));
        }
    }

    fn answer(&mut self, now: protocol_core::Instant, token: RequestToken, outcome: Outcome) {
        let result = match outcome {
            Outcome::Composed(message) => {
                self.push(Some(message));
                return;
            }
            Outcome::Reply(Reply::Value(value)) => {
                let data = Erased(&*value);
                self.with_out(|core, out| core.respond(now, token, &data, out))
            }
            Outcome::Reply(Reply::Raw(bytes)) => {
                self.with_out(|core, out| core.respond(now, token, &Data::new(&bytes), out))
            }
            Outcome::Fail(failure) => {
                self.tally.errors += 1;
                self.with_out(|core, out| core.fail(now, token, failure, out))
            }
            Outcome::Error(HandlerError::Request { reason, code }) => {
                self.tally.errors += 1;
                let failure = Failure::Error(ErrorBody::new(&reason, &code));
                self.with_out(|core, out| core.fail(now, token, failure, out))
            }
            Outcome::Error(error) => {
                self.tally.errors += 1;
                warn!(%error, "handler failed");
                self.with_out(|core, out| core.fail(now, token, Failure::Internal, out))
            }
            Outcome::Panic => {
                self.tally.errors += 1;
                self.with_out(|core, out| core.fail(now, token, Failure::Internal, out))
            }
        };
        match result {
            Ok(transmit) => self.push(transmit),
            Err(CallError::Encode(error)) => {
                // Too large for a message, or not serializable: the request stays open.
                warn!(%error, "reply could not be encoded");
                self.tally.errors += 1;
                match self.with_out(|core, out| core.fail(now, token, Failure::Internal, out)) {
                    Ok(transmit) => self.push(transmit),
                    Err(error) => {
                        debug!(%error, "failure not sent");
                        let _ = self.core.abandon(token);
                    }
                }
            }
            // Closing: nobody will read the answer; the core has finished the request.
            Err(CallError::SendAfterClose | CallError::UnknownRequest) => {}
            Err(error) => debug!(%error, "reply not sent"),
        }
    }

    // ---- Commands ----

    /// Closes the connection (unless it is already closing); the enter hook and running
    /// handlers are cancelled. A reason over the WebSocket limit is cut at a character
    /// boundary, and a code that may not be sent becomes 1011: the connection closes either
    /// way.
    fn close(&mut self, now: protocol_core::Instant, code: u16, reason: &str) {
        if self.core.app_state() != State::Connected {
            return;
        }
        self.enter = None;
        self.cancel_handlers();
        let reason = fit_close_reason(reason);
        let mut result = self.with_out(|core, out| core.close(now, code, reason, out));
        if result == Err(CallError::InvalidCloseCode) {
            warn!(code, "a close code that may not be sent; closing with 1011");
            result = self.with_out(|core, out| core.close(now, 1011, reason, out));
        }
        match result {
            Ok(transmit) => self.push(transmit),
            Err(error) => debug!(%error, code, "close not sent"),
        }
    }

    fn rate_limited(&mut self, now: protocol_core::Instant, what: &'static str) {
        if self.core.app_state() == State::Connected {
            Counters::add(&self.shared.counters.rate_limit_closes, 1);
            debug!(what, "rate limit exceeded; closing");
        }
        self.close(now, 1008, what);
    }

    fn begin_shutdown(&mut self, deadline: tokio::time::Instant) {
        if self.draining.is_none() {
            self.draining = Some(deadline);
        }
    }

    /// During shutdown: once no request runs, or at the deadline, close with 1001.
    fn check_shutdown(&mut self, now: protocol_core::Instant) {
        let Some(deadline) = self.draining else {
            return;
        };
        if self.core.app_state() != State::Connected {
            return;
        }
        let idle = self.in_flight.is_empty()
            && self.free.as_ref().is_none_or(FuturesOrdered::is_empty)
            && self.enter.is_none();
        if idle || self.clock >= deadline {
            if !idle {
                debug!(
                    requests = self.in_flight.len(),
                    "shutdown deadline: cancelling requests"
                );
            }
            self.enter = None;
            self.close(now, 1001, "server shutdown");
        }
    }

    /// Drops every running handler and abandons its request in the core.
    fn cancel_handlers(&mut self) {
        self.handlers = None;
        self.free = None;
        self.held.clear();
        for (_, token) in self.in_flight.drain(..) {
            if let Some(token) = token {
                let _ = self.core.abandon(token);
            }
        }
    }

    // ---- Outputs ----

    fn drain_transmits(&mut self, now: protocol_core::Instant) {
        while let Some(message) = self.take_transmit(now) {
            self.push(Some(message));
        }
    }

    /// The core's next output (`poll_transmit`), composed.
    fn take_transmit(&mut self, now: protocol_core::Instant) -> Option<Message> {
        let max_out = self.max_out;
        loop {
            let composed = OUT.with_borrow_mut(|out| {
                loop {
                    match self.core.poll_transmit(now, out) {
                        Ok(Some(transmit)) => return Some(compose(transmit, out)),
                        Ok(None) => return None,
                        Err(EncodeError::BufferTooSmall { required }) if out.len() < max_out => {
                            grow(out, required, max_out);
                        }
                        Err(error) => {
                            warn!(%error, "core output could not be encoded");
                            return None;
                        }
                    }
                }
            })?;
            // `None` inside: a frame that could not be composed (logged); take the next.
            if composed.is_some() {
                return composed;
            }
        }
    }

    /// Runs a core command with the thread's encode buffer, growing it when the frame does
    /// not fit, and takes the frame out of it.
    fn with_out(
        &mut self,
        mut command: impl FnMut(&mut Core, &mut [u8]) -> Result<Transmit, CallError>,
    ) -> Result<Option<Message>, CallError> {
        let max_out = self.max_out;
        OUT.with_borrow_mut(|out| {
            loop {
                match command(&mut self.core, out) {
                    Ok(transmit) => return Ok(compose(transmit, out)),
                    Err(CallError::Encode(EncodeError::BufferTooSmall { required }))
                        if out.len() < max_out =>
                    {
                        grow(out, required, max_out);
                    }
                    Err(error) => return Err(error),
                }
            }
        })
    }

    /// Queues a message composed by the core.
    fn push(&mut self, message: Option<Message>) {
        let Some(message) = message else {
            return;
        };
        if let Message::Text(_) | Message::Binary(_) = message {
            self.tally.bytes_out += message.len() as u64;
        }
        self.pending_out.push_back(message);
    }

    /// Adds this connection's counts to the server's counters (before each flush and
    /// before the task sleeps, so they are current once a reply can be read).
    fn publish(&mut self) {
        let tally = std::mem::take(&mut self.tally);
        let counters = &self.shared.counters;
        for (counter, n) in [
            (&counters.requests, tally.requests),
            (&counters.errors, tally.errors),
            (&counters.bytes_in, tally.bytes_in),
            (&counters.bytes_out, tally.bytes_out),
        ] {
            if n > 0 {
                Counters::add(counter, n);
            }
        }
    }
}

thread_local! {
    /// The encode buffer, one per thread: the core writes a frame into it and the frame is
    /// copied out at once, so no connection keeps a buffer of its own.
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn grow(out: &mut Vec<u8>, required: Option<usize>, max_out: usize) {
    let size = required
        .unwrap_or(0)
        .max(out.len() * 2)
        .max(OUT_MIN)
        .min(max_out);
    out.resize(size, 0);
}

/// `reason` cut to the longest prefix a close frame carries
/// ([`MAX_CLOSE_REASON_LEN`](protocol_core::limits::MAX_CLOSE_REASON_LEN) bytes) that ends on a
/// character boundary.
fn fit_close_reason(reason: &str) -> &str {
    let mut end = reason
        .len()
        .min(protocol_core::limits::MAX_CLOSE_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The message for what a core call wrote into `out`; a grown buffer is given back.
fn compose(transmit: Transmit, out: &mut Vec<u8>) -> Option<Message> {
    let message = match transmit {
        Transmit::Message {
            kind: MessageKind::Text,
            len,
        } => match Utf8Bytes::try_from(Bytes::copy_from_slice(&out[..len])) {
            Ok(text) => Some(Message::Text(text)),
            Err(error) => {
                warn!(%error, "a text frame is not UTF-8");
                None
            }
        },
        Transmit::Message {
            kind: MessageKind::Binary,
            len,
        } => Some(Message::Binary(Bytes::copy_from_slice(&out[..len]))),
        Transmit::Ping => Some(Message::Ping(Bytes::new())),
        Transmit::Close { code, reason_len } => {
            let reason = std::str::from_utf8(&out[..reason_len]).unwrap_or_default();
            debug!(code, reason, "closing");
            Some(Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::from(reason),
            })))
        }
        other => {
            debug!(?other, "transmit not understood");
            None
        }
    };
    if out.len() > OUT_KEEP {
        *out = Vec::new();
    }
    message
}

/// Counts kept by the connection between flushes.
#[derive(Default)]
struct Tally {
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
