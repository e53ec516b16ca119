//! The seed-004 state machine, row by row: Starlette's `WebSocket` tracks a `client_state`
//! and an `application_state` (CONNECTING → CONNECTED → DISCONNECTED) and raises for every
//! illegal call; [`ServerConnection`] tracks the same two states and returns a [`CallError`]
//! instead, changing nothing. There is one test per row of the `receive()` table, of the
//! `send(message)` table and of the derived-API bullets, for the server connection; then the
//! client connection's equivalents, the close handshake from each side, the timers, and the
//! rule that an accepted connection reports [`Event::Exit`] exactly once, last, on every path.
//!
//! Names read `test_<client state>_<app state or input>_<outcome>`: `app_…` names the
//! application state alone, `client_disconnected_…` the client state alone, and the
//! `client_conn_…` tests drive the client connection. Each test is a transcript: a fixture
//! per state (`server_upgraded()`, `server_accepted()`, `server_closing()`…), the input, then
//! what came out. A refused call goes through `refused`, which checks the error, that both
//! states, the next deadline and the requests in flight are as before, and that no transmit
//! and no event appeared.
//!
//! # Rows that cannot be written in Rust
//! - `receive_json(mode="foo")` → `RuntimeError('The "mode" argument should be "text" or
//!   "binary".')`: the mode is not a string. The message type is a [`MessageKind`], an enum
//!   of two values, and which one a connection speaks follows from the codec chosen at
//!   accept; there is no third value to refuse.
//! - `receive_text()` / `receive_json()` on a frame of the other kind → `KeyError: 'text'`:
//!   a message arrives with its [`MessageKind`] and the codec decides what that kind may
//!   carry. The wrong kind is the peer breaking the protocol: the core queues a close 1003
//!   (`test_receive_binary_on_text_connection_closes_1003`), there is no dict to look into.
//! - The `RESPONSE` application state of Starlette 0.37 (`websocket.http.response.start` /
//!   `.body`): left out. Its one use, answering the upgrade with an HTTP response instead of
//!   accepting, is [`ServerConnection::reject`]; the status and body are the adapter's, the
//!   core only records that the handshake was refused (both sides DISCONNECTED, no exit).
//! - "Expected ASGI message X, but got Y" for an unexpected message *type*: each ASGI message
//!   is its own method (`handle_upgrade`, `handle_message`, `handle_close`; `accept`,
//!   `reject`, `send_event` / `respond` / `fail`, `close`), so no call carries a type to be
//!   wrong about. What is left of those rows is the state check, and each has its error.
//!
//! # Where the core answers differently on purpose
//! - Close before accept is [`ServerConnection::reject`]; `close` then is
//!   [`CallError::NotAccepted`] (a close frame cannot be sent before the 101).
//! - Accept or reject once the application side is DISCONNECTED (rejected, timed out) is
//!   [`CallError::AlreadyAccepted`] ("already accepted or rejected"), where Starlette says
//!   "Cannot call send once a close message has been sent".
//! - The client's close frame ends the connection on both sides: the WebSocket layer echoes
//!   it, so the application side is DISCONNECTED too and a later send is
//!   [`CallError::SendAfterClose`]. Starlette keeps the application CONNECTED until its next
//!   send fails with an I/O error (`WebSocketDisconnect(1006)`).
//! - After our own close frame, incoming data is ignored (RFC 6455 §5.5.1:
//!   [`ServerReceived::Ignored`]), where Starlette would still hand it to `receive()`.
//! - `respond` / `fail` after the close are [`CallError::SendAfterClose`] and finish the
//!   request (nobody will read the answer), so `in_flight` drops by one.
//! - An I/O error ends with an exit whose `code` is `None`: 1006 is what the adapter reports
//!   for "no close frame", it is never on the wire.
//! - Starlette has no timers: the handshake, idle, keep-alive and close timeouts are the
//!   core's own.

use std::fmt::Debug;

use protocol_core::connection::{
    ClientReceived, Failure, Initiator, ProtocolError, Request, RequestFailure, RequestId,
    RequestToken, RouteId, ServerReceived,
};
use protocol_core::{
    AnyCodec, CallError, ClientConnection, CodecSet, Config, Duration, EncodeError, ErrorBody,
    Event, Frame, Instant, JsonCodec, MessageKind, ServerConnection, State, Str, Transmit, Typed,
};

use State::{Connected, Connecting, Disconnected};

type Server = ServerConnection<AnyCodec>;
type Client = ClientConnection<AnyCodec>;

const ROUTES: [&str; 2] = ["echo", "move"];

const HANDSHAKE: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE: Duration = Duration::from_secs(20);
const CLOSE: Duration = Duration::from_secs(5);
const REQUEST: Duration = Duration::from_secs(30);

/// A request for `echo`, as a JSON text message.
const ECHO: &[u8] = br#"{"id":"1","type":"request","endpoint":"echo","data":"hi"}"#;
/// A request for an endpoint the routes do not have.
const UNKNOWN: &[u8] = br#"{"id":"2","type":"request","endpoint":"jump","data":null}"#;

/// When the fixtures upgrade, accept and close.
const UPGRADED: Instant = Instant::from_millis(1);
const ACCEPTED: Instant = Instant::from_millis(2);
const CLOSED: Instant = Instant::from_millis(3);
/// Long after every deadline.
const FAR: Instant = Instant::from_millis(1_000_000_000);

/// `ms` milliseconds after the TCP stream arrived.
fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn micro() -> Duration {
    Duration::from_micros(1)
}

fn config() -> Config {
    let mut config = Config::new();
    config.handshake_timeout = HANDSHAKE;
    config.idle_timeout = Some(IDLE);
    config.keepalive_interval = Some(KEEPALIVE);
    config.close_timeout = CLOSE;
    config.request_timeout = REQUEST;
    config
}

fn postcard_echo() -> Vec<u8> {
    let frame = Frame::Request {
        id: Str::new("1"),
        endpoint: Str::new("echo"),
        data: Typed(&"hi"),
    };
    let mut out = [0; 64];
    let len = AnyCodec::Postcard.encode(&frame, &mut out).unwrap();
    out[..len].to_vec()
}

// ---- What both connections show ----

/// Everything a refused call must leave as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    client: State,
    app: State,
    deadline: Option<Instant>,
    /// Server: requests in flight; client: requests pending.
    requests: usize,
    drained: bool,
}

/// The inputs and outputs both connections share, so the helpers below serve both.
trait Conn {
    /// `(client, app)` while this side's close frame waits for the peer's: the local side
    /// (the application on a server, the client on a client) is DISCONNECTED.
    const CLOSING: (State, State);
    fn snapshot(&self) -> Snapshot;
    /// The next transmit and the bytes it wrote (the message, or the close reason).
    fn next_transmit(&mut self, now: Instant) -> Option<(Transmit, Vec<u8>)>;
    fn next_event(&mut self) -> Option<Event>;
    fn message(&mut self, now: Instant, kind: MessageKind, bytes: &[u8]) -> Result<(), CallError>;
    fn close_frame(&mut self, now: Instant, code: Option<u16>) -> Result<(), CallError>;
    fn pong(&mut self, now: Instant);
    fn transport_closed(&mut self, now: Instant);
    fn timeout(&mut self, now: Instant);
}

fn written(transmit: Transmit, out: &[u8]) -> Vec<u8> {
    match transmit {
        Transmit::Message { len, .. } => out[..len].to_vec(),
        Transmit::Close { reason_len, .. } => out[..reason_len].to_vec(),
        _ => Vec::new(),
    }
}

impl Conn for Server {
    const CLOSING: (State, State) = (Connected, Disconnected);
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            client: self.client_state(),
            app: self.app_state(),
            deadline: self.poll_timeout(),
            requests: self.in_flight(),
            drained: self.is_drained(),
        }
    }
    fn next_transmit(&mut self, now: Instant) -> Option<(Transmit, Vec<u8>)> {
        let mut out = [0; 256];
        let transmit = self.poll_transmit(now, &mut out).unwrap()?;
        Some((transmit, written(transmit, &out)))
    }
    fn next_event(&mut self) -> Option<Event> {
        self.poll_event()
    }
    fn message(&mut self, now: Instant, kind: MessageKind, bytes: &[u8]) -> Result<(), CallError> {
        self.handle_message(now, kind, bytes, &ROUTES).map(drop)
    }
    fn close_frame(&mut self, now: Instant, code: Option<u16>) -> Result<(), CallError> {
        self.handle_close(now, code)
    }
    fn pong(&mut self, now: Instant) {
        self.handle_pong(now);
    }
    fn transport_closed(&mut self, now: Instant) {
        self.handle_transport_closed(now);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
}

impl Conn for Client {
    const CLOSING: (State, State) = (Disconnected, Connected);
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            client: self.client_state(),
            app: self.app_state(),
            deadline: self.poll_timeout(),
            requests: self.pending(),
            drained: self.is_drained(),
        }
    }
    fn next_transmit(&mut self, now: Instant) -> Option<(Transmit, Vec<u8>)> {
        let mut out = [0; 256];
        let transmit = self.poll_transmit(now, &mut out).unwrap()?;
        Some((transmit, written(transmit, &out)))
    }
    fn next_event(&mut self) -> Option<Event> {
        self.poll_event()
    }
    fn message(&mut self, now: Instant, kind: MessageKind, bytes: &[u8]) -> Result<(), CallError> {
        self.handle_message(now, kind, bytes).map(drop)
    }
    fn close_frame(&mut self, now: Instant, code: Option<u16>) -> Result<(), CallError> {
        self.handle_close(now, code)
    }
    fn pong(&mut self, now: Instant) {
        self.handle_pong(now);
    }
    fn transport_closed(&mut self, now: Instant) {
        self.handle_transport_closed(now);
    }
    fn timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
}

// ---- Transcript helpers ----

fn states<C: Conn>(conn: &C) -> (State, State) {
    let s = conn.snapshot();
    (s.client, s.app)
}

/// Nothing waits to be sent or reported.
#[track_caller]
fn assert_quiet<C: Conn>(conn: &mut C, now: Instant) {
    assert_eq!(conn.next_transmit(now), None, "no transmit");
    assert_eq!(conn.next_event(), None, "no event");
}

/// A call the state machine forbids: it fails with `expected` and changes nothing.
#[track_caller]
fn refused<C: Conn, T: Debug>(
    conn: &mut C,
    now: Instant,
    expected: CallError,
    call: impl FnOnce(&mut C, Instant) -> Result<T, CallError>,
) {
    assert_quiet(conn, now);
    let before = conn.snapshot();
    match call(conn, now) {
        Err(error) => assert_eq!(error, expected),
        Ok(value) => panic!("expected {expected:?}, got Ok({value:?})"),
    }
    assert_eq!(conn.snapshot(), before, "a refused call changes nothing");
    assert_quiet(conn, now);
}

/// The core sends this next.
#[track_caller]
fn assert_sends<C: Conn>(conn: &mut C, now: Instant, transmit: Transmit, bytes: &[u8]) {
    let got = conn.next_transmit(now);
    assert_eq!(
        got.as_ref().map(|(t, b)| (*t, String::from_utf8_lossy(b))),
        Some((transmit, String::from_utf8_lossy(bytes)))
    );
}

fn close_frame(code: u16, reason: &str) -> Transmit {
    Transmit::Close {
        code,
        reason_len: reason.len(),
    }
}

fn text(len: usize) -> Transmit {
    Transmit::Message {
        kind: MessageKind::Text,
        len,
    }
}

/// The core closes because the peer broke the protocol: the close frame is queued and the
/// error reported once (nothing else yet: the exit waits for the close handshake).
#[track_caller]
fn assert_protocol_close<C: Conn>(conn: &mut C, now: Instant, error: ProtocolError) {
    let (code, reason) = error.close();
    assert_sends(conn, now, close_frame(code, reason), reason.as_bytes());
    assert_eq!(conn.next_transmit(now), None);
    assert_eq!(conn.next_event(), Some(Event::ProtocolError(error)));
    assert_eq!(conn.next_event(), None, "reported once, no exit yet");
    assert_eq!(states(conn), C::CLOSING, "closing");
    assert_eq!(
        conn.snapshot().deadline,
        Some(now + CLOSE),
        "the close timer runs"
    );
}

/// The last event: [`Event::Exit`] with these fields; then the connection is over.
#[track_caller]
fn assert_exit<C: Conn>(conn: &mut C, initiator: Initiator, code: Option<u16>, clean: bool) {
    match conn.next_event() {
        Some(Event::Exit(exit)) => {
            assert_eq!(
                (exit.initiator, exit.code, exit.clean),
                (initiator, code, clean)
            );
        }
        other => panic!("expected Exit, got {other:?}"),
    }
    assert_over(conn);
}

/// Both sides DISCONNECTED, no timer, nothing to send or report, drained.
#[track_caller]
fn assert_over<C: Conn>(conn: &mut C) {
    assert_quiet(conn, FAR);
    let s = conn.snapshot();
    assert_eq!((s.client, s.app), (Disconnected, Disconnected));
    assert_eq!(s.deadline, None, "no timer left");
    assert!(s.drained, "drained");
}

/// Whatever arrives after the end, nothing more is reported: no second exit, ever.
#[track_caller]
fn assert_stays_over<C: Conn>(conn: &mut C) {
    assert_over(conn);
    refused(conn, FAR, CallError::ReceiveAfterDisconnect, |c, now| {
        c.message(now, MessageKind::Text, ECHO)
    });
    refused(conn, FAR, CallError::ReceiveAfterDisconnect, |c, now| {
        c.close_frame(now, Some(1000))
    });
    conn.pong(FAR);
    conn.transport_closed(FAR);
    conn.timeout(FAR);
    assert_over(conn);
}

/// A fixture or a path to the end of a connection, with its name for failure messages.
type Named<C> = (&'static str, fn() -> C);

fn drain_transmits<C: Conn>(conn: &mut C, now: Instant) -> Vec<Transmit> {
    std::iter::from_fn(|| conn.next_transmit(now).map(|(t, _)| t)).collect()
}

fn drain_events<C: Conn>(conn: &mut C) -> Vec<Event> {
    std::iter::from_fn(|| conn.next_event()).collect()
}

/// Answering a request once the connection is closing is refused, and the request is over
/// (nobody will read its answer): the one thing a refused call changes is `in_flight`.
#[track_caller]
fn assert_respond_finishes_request(server: &mut Server, now: Instant, token: RequestToken) {
    assert_quiet(server, now);
    let before = server.snapshot();
    assert_eq!(before.requests, 1);
    assert_eq!(
        server.respond(now, token, &Typed(&"hi"), &mut [0; 64]),
        Err(CallError::SendAfterClose)
    );
    assert_eq!(
        server.snapshot(),
        Snapshot {
            requests: 0,
            ..before
        }
    );
    assert_quiet(server, now);
    refused(server, now, CallError::UnknownRequest, |s, now| {
        s.fail(now, token, Failure::Internal, &mut [0; 128])
    });
}

/// The client sends `message`; the server hands the request to the application.
#[track_caller]
fn receive_request<'m>(
    server: &mut Server,
    now: Instant,
    kind: MessageKind,
    message: &'m [u8],
) -> Request<'m, AnyCodec> {
    match server.handle_message(now, kind, message, &ROUTES) {
        Ok(ServerReceived::Request(request)) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

// ---- Server fixtures, one per state ----

/// The TCP stream arrived: client CONNECTING, application CONNECTING.
fn server_connecting() -> Server {
    let mut server = Server::new(at(0), config());
    assert_eq!(states(&server), (Connecting, Connecting));
    assert_eq!(server.poll_timeout(), Some(at(0) + HANDSHAKE));
    assert_quiet(&mut server, at(0));
    server
}

/// `websocket.connect`: client CONNECTED, application CONNECTING.
fn server_upgraded() -> Server {
    let mut server = server_connecting();
    server.handle_upgrade(UPGRADED).unwrap();
    assert_eq!(states(&server), (Connected, Connecting));
    assert_quiet(&mut server, UPGRADED);
    server
}

/// `accept`: both CONNECTED, speaking `codec`.
fn server_accepted_with(codec: AnyCodec) -> Server {
    let mut server = server_upgraded();
    server.accept(ACCEPTED, codec).unwrap();
    assert_eq!(states(&server), (Connected, Connected));
    assert_eq!(server.codec(), Some(codec));
    assert_quiet(&mut server, ACCEPTED);
    server
}

/// `accept` with JSON.
fn server_accepted() -> Server {
    server_accepted_with(AnyCodec::Json)
}

/// Accepted, with the `echo` request in flight.
fn server_with_request() -> (Server, RequestToken) {
    let mut server = server_accepted();
    let token = receive_request(&mut server, at(10), MessageKind::Text, ECHO).token;
    assert_eq!(server.in_flight(), 1);
    (server, token)
}

/// The application sent `close(4000, "bye")`: client CONNECTED, application DISCONNECTED,
/// waiting for the client's answer.
fn server_closing() -> Server {
    let mut server = server_accepted();
    let mut out = [0; 8];
    let transmit = server.close(CLOSED, 4000, "bye", &mut out).unwrap();
    assert_eq!(transmit, close_frame(4000, "bye"));
    assert_eq!(states(&server), (Connected, Disconnected));
    assert_quiet(&mut server, CLOSED);
    server
}

/// The client closed (`websocket.disconnect`) and the exit was reported.
fn server_client_closed() -> Server {
    let mut server = server_accepted();
    server.handle_close(CLOSED, Some(1000)).unwrap();
    assert_exit(&mut server, Initiator::Peer, Some(1000), true);
    server
}

/// Close before accept: the adapter answered the upgrade with an HTTP status.
fn server_rejected() -> Server {
    let mut server = server_upgraded();
    server.reject(ACCEPTED).unwrap();
    assert_over(&mut server);
    server
}

// ---- receive(): client_state CONNECTING ----

#[test]
fn test_connecting_upgrade_is_client_connected() {
    let mut server = server_connecting();
    assert_eq!(server.handle_upgrade(UPGRADED), Ok(()));
    assert_eq!(states(&server), (Connected, Connecting));
    assert_eq!(
        server.poll_timeout(),
        Some(at(0) + HANDSHAKE),
        "the handshake clock runs on"
    );
    assert_quiet(&mut server, UPGRADED);
}

#[test]
fn test_connecting_receive_message_is_not_connected() {
    let mut server = server_connecting();
    refused(&mut server, at(1), CallError::NotConnected, |s, now| {
        s.handle_message(now, MessageKind::Text, ECHO, &ROUTES)
    });
}

#[test]
fn test_connecting_receive_close_is_not_connected() {
    let mut server = server_connecting();
    refused(&mut server, at(1), CallError::NotConnected, |s, now| {
        s.handle_close(now, Some(1000))
    });
}

#[test]
fn test_connecting_pong_is_ignored() {
    let mut server = server_connecting();
    let before = server.snapshot();
    server.handle_pong(at(1));
    assert_eq!(server.snapshot(), before);
    assert_quiet(&mut server, at(1));
}

// ---- receive(): client_state CONNECTED ----

#[test]
fn test_connected_upgrade_twice_is_already_connected() {
    let mut server = server_upgraded();
    refused(
        &mut server,
        at(5),
        CallError::AlreadyConnected,
        Server::handle_upgrade,
    );
    let mut server = server_accepted();
    refused(
        &mut server,
        at(5),
        CallError::AlreadyConnected,
        Server::handle_upgrade,
    );
}

#[test]
fn test_connected_receive_message_is_request() {
    let mut server = server_accepted();
    let request = receive_request(&mut server, at(10), MessageKind::Text, ECHO);
    assert_eq!(request.route, RouteId(0));
    assert_eq!(request.id, "1");
    assert_eq!(request.endpoint, "echo");
    assert_eq!(request.data.as_bytes(), br#""hi""#);
    assert_eq!(request.decode::<&str>(), Ok("hi"));
    assert_eq!(server.in_flight(), 1);
    assert_eq!(states(&server), (Connected, Connected));
    assert_eq!(
        server.poll_timeout(),
        Some(at(10) + KEEPALIVE),
        "receiving re-arms the timers"
    );
    assert_quiet(&mut server, at(10));
}

#[test]
fn test_connected_receive_postcard_message_is_request() {
    let mut server = server_accepted_with(AnyCodec::Postcard);
    let message = postcard_echo();
    let request = receive_request(&mut server, at(10), MessageKind::Binary, &message);
    assert_eq!(
        (request.route, request.id, request.endpoint),
        (RouteId(0), "1".into(), "echo".into())
    );
    assert_eq!(request.decode::<&str>(), Ok("hi"));
    assert_quiet(&mut server, at(10));
}

#[test]
fn test_connected_receive_unknown_endpoint_is_refused() {
    let mut server = server_accepted();
    let received = server
        .handle_message(at(10), MessageKind::Text, UNKNOWN, &ROUTES)
        .unwrap();
    assert!(
        matches!(received, ServerReceived::Refused(r) if r.code.as_str() == "invalid-endpoint"),
        "{received:?}"
    );
    let reply = br#"{"id":"2","type":"response.error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#;
    assert_sends(&mut server, at(10), text(reply.len()), reply);
    assert_quiet(&mut server, at(10));
    assert_eq!(
        states(&server),
        (Connected, Connected),
        "the connection stays open"
    );
}

#[test]
fn test_connected_receive_with_full_reply_queue_is_transmit_queue_full() {
    // The core's own answers are bounded: once the queue is full, receiving waits for
    // poll_transmit, and the refused message changes nothing.
    let mut server = server_accepted();
    for _ in 0..protocol_core::limits::DEFAULT_REPLY_QUEUE {
        server
            .handle_message(at(10), MessageKind::Text, UNKNOWN, &ROUTES)
            .unwrap();
    }
    let before = server.snapshot();
    assert_eq!(
        server.handle_message(at(11), MessageKind::Text, ECHO, &ROUTES),
        Err(CallError::TransmitQueueFull)
    );
    assert_eq!(server.snapshot(), before, "not even the timers moved");
    assert!(matches!(
        server.next_transmit(at(11)),
        Some((Transmit::Message { .. }, _))
    ));
    receive_request(&mut server, at(12), MessageKind::Text, ECHO);
}

#[test]
fn test_connected_receive_close_is_client_disconnected() {
    let mut server = server_accepted();
    assert_eq!(server.handle_close(at(10), Some(1000)), Ok(()));
    // `websocket.disconnect` code 1000: the WebSocket layer echoes the close frame, so the
    // connection is over on both sides.
    assert_eq!(server.next_transmit(at(10)), None, "the core sends nothing");
    assert_exit(&mut server, Initiator::Peer, Some(1000), true);
}

#[test]
fn test_connected_receive_close_without_code_exits_without_code() {
    let mut server = server_accepted();
    server.handle_close(at(10), None).unwrap();
    assert_exit(&mut server, Initiator::Peer, None, true);
}

#[test]
fn test_connected_receive_close_then_respond_is_send_after_close() {
    let (mut server, token) = server_with_request();
    server.handle_close(at(11), Some(1001)).unwrap();
    assert_exit(&mut server, Initiator::Peer, Some(1001), true);
    assert_respond_finishes_request(&mut server, at(12), token);
}

// ---- receive(): client_state DISCONNECTED ----

#[test]
fn test_client_disconnected_receive_is_receive_after_disconnect() {
    let mut server = server_client_closed();
    refused(
        &mut server,
        at(10),
        CallError::ReceiveAfterDisconnect,
        |s, now| s.handle_message(now, MessageKind::Text, ECHO, &ROUTES),
    );
}

#[test]
fn test_client_disconnected_close_twice_is_receive_after_disconnect() {
    let mut server = server_client_closed();
    refused(
        &mut server,
        at(10),
        CallError::ReceiveAfterDisconnect,
        |s, now| s.handle_close(now, Some(1000)),
    );
}

#[test]
fn test_client_disconnected_upgrade_is_receive_after_disconnect() {
    let mut server = server_client_closed();
    refused(
        &mut server,
        at(10),
        CallError::ReceiveAfterDisconnect,
        Server::handle_upgrade,
    );
}

#[test]
fn test_client_disconnected_pong_and_transport_close_are_ignored() {
    let mut server = server_client_closed();
    assert_stays_over(&mut server);
}

// ---- send(message): application_state CONNECTING ----

#[test]
fn test_connected_accept_is_app_connected() {
    let mut server = server_upgraded();
    assert_eq!(server.accept(ACCEPTED, AnyCodec::Json), Ok(()));
    assert_eq!(states(&server), (Connected, Connected));
    assert_eq!(server.codec(), Some(AnyCodec::Json));
    // The handshake deadline is gone; keep-alive and idle run from the accept.
    assert_eq!(server.poll_timeout(), Some(ACCEPTED + KEEPALIVE));
    assert_quiet(&mut server, ACCEPTED);
}

#[test]
fn test_connecting_accept_before_upgrade_is_not_connected() {
    // Starlette's accept() first waits for `websocket.connect`; here the upgrade must have
    // been handled.
    let mut server = server_connecting();
    refused(&mut server, at(1), CallError::NotConnected, |s, now| {
        s.accept(now, AnyCodec::Json)
    });
    refused(&mut server, at(1), CallError::NotConnected, Server::reject);
}

#[test]
fn test_connecting_close_before_accept_is_reject() {
    let mut server = server_upgraded();
    // A close frame cannot answer an upgrade: `close` is refused…
    refused(&mut server, at(5), CallError::NotAccepted, |s, now| {
        s.close(now, 1000, "", &mut [0; 8])
    });
    // …and `reject` is Starlette's close before accept: the adapter answers the upgrade with
    // an HTTP status (403 in uvicorn). Both sides DISCONNECTED, nothing sent, no exit.
    assert_eq!(server.reject(at(5)), Ok(()));
    assert_over(&mut server);
    assert_stays_over(&mut server);
}

#[test]
fn test_app_connecting_send_event_is_not_accepted() {
    let mut server = server_upgraded();
    refused(&mut server, at(5), CallError::NotAccepted, |s, now| {
        s.send_event(now, "move", &Typed(&1), &mut [0; 64])
    });
}

#[test]
fn test_connected_app_connecting_receive_is_not_accepted() {
    // receive_text() before accept: refused before anything is read, whatever the message.
    let mut server = server_upgraded();
    refused(&mut server, at(5), CallError::NotAccepted, |s, now| {
        s.handle_message(now, MessageKind::Text, ECHO, &ROUTES)
    });
    refused(&mut server, at(5), CallError::NotAccepted, |s, now| {
        s.handle_message(now, MessageKind::Binary, b"\x00", &ROUTES)
    });
}

// ---- send(message): application_state CONNECTED ----

#[test]
fn test_app_connected_send_event_is_message() {
    let mut server = server_accepted();
    let mut out = [0; 64];
    let transmit = server
        .send_event(at(10), "move", &Typed(&[1, 2]), &mut out)
        .unwrap();
    let frame = br#"{"type":"event","kind":"move","data":[1,2]}"#;
    assert_eq!(transmit, text(frame.len()));
    assert_eq!(&out[..frame.len()], frame);
    assert_eq!(states(&server), (Connected, Connected));
    assert_quiet(&mut server, at(10));
}

#[test]
fn test_app_connected_send_event_kind_follows_codec() {
    // send_text / send_bytes / send_json(mode=…): the codec chosen at accept decides.
    let mut server = server_accepted_with(AnyCodec::Postcard);
    let mut out = [0; 64];
    let transmit = server
        .send_event(at(10), "move", &Typed(&1u8), &mut out)
        .unwrap();
    let Transmit::Message { kind, len } = transmit else {
        panic!("{transmit:?}");
    };
    assert_eq!(kind, MessageKind::Binary);
    let decoded = AnyCodec::Postcard.decode(&out[..len], 4096).unwrap();
    assert!(matches!(decoded, Frame::Event { kind, .. } if kind == "move"));
}

#[test]
fn test_app_connected_respond_is_message() {
    let (mut server, token) = server_with_request();
    let mut out = [0; 64];
    let transmit = server
        .respond(at(11), token, &Typed(&"hi"), &mut out)
        .unwrap();
    let frame = br#"{"id":"1","type":"response","data":"hi"}"#;
    assert_eq!(transmit, text(frame.len()));
    assert_eq!(&out[..frame.len()], frame);
    assert_eq!(server.in_flight(), 0);
    assert_quiet(&mut server, at(11));
    // Answered once: the token is spent.
    refused(&mut server, at(12), CallError::UnknownRequest, |s, now| {
        s.respond(now, token, &Typed(&"again"), &mut [0; 64])
    });
}

#[test]
fn test_app_connected_fail_is_message() {
    let (mut server, token) = server_with_request();
    let mut out = [0; 128];
    let error = Failure::Error(ErrorBody::new("Not your turn", "not-your-turn"));
    let transmit = server.fail(at(11), token, error, &mut out).unwrap();
    let frame = br#"{"id":"1","type":"response.error","data":{"reason":"Not your turn","code":"not-your-turn"}}"#;
    assert_eq!(transmit, text(frame.len()));
    assert_eq!(&out[..frame.len()], frame);
    assert_eq!(server.in_flight(), 0);
    refused(&mut server, at(12), CallError::UnknownRequest, |s, now| {
        s.fail(now, token, Failure::Internal, &mut [0; 128])
    });
}

#[test]
fn test_app_connected_send_into_small_buffer_changes_nothing() {
    let (mut server, token) = server_with_request();
    // The encoder counts what did not fit: the caller learns the size to retry with.
    let frame = r#"{"id":"1","type":"response","data":"hi"}"#;
    refused(
        &mut server,
        at(11),
        CallError::Encode(EncodeError::BufferTooSmall {
            required: Some(frame.len()),
        }),
        |s, now| s.respond(now, token, &Typed(&"hi"), &mut [0; 4]),
    );
    // The request is still open: retry with room.
    assert!(
        server
            .respond(at(12), token, &Typed(&"hi"), &mut [0; 64])
            .is_ok()
    );
}

#[test]
fn test_app_connected_close_is_close_frame() {
    let mut server = server_accepted();
    let mut out = [0; 8];
    let transmit = server.close(at(10), 4000, "bye", &mut out).unwrap();
    assert_eq!(transmit, close_frame(4000, "bye"));
    assert_eq!(&out[..3], b"bye");
    // DISCONNECTED as soon as the frame is handed out, before it is written.
    assert_eq!(states(&server), (Connected, Disconnected));
    assert_eq!(
        server.poll_timeout(),
        Some(at(10) + CLOSE),
        "waiting for the answer"
    );
    assert_quiet(&mut server, at(10));
}

#[test]
fn test_app_connected_close_default_is_1000_empty_reason() {
    // close() = close(code=1000, reason=None) → `reason or ""`.
    let mut server = server_accepted();
    let transmit = server.close(at(10), 1000, "", &mut []).unwrap();
    assert_eq!(transmit, close_frame(1000, ""));
    assert_eq!(states(&server), (Connected, Disconnected));
}

#[test]
fn test_app_connected_close_1006_is_invalid_close_code() {
    let mut server = server_accepted();
    for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        refused(
            &mut server,
            at(10),
            CallError::InvalidCloseCode,
            |s, now| s.close(now, code, "", &mut []),
        );
    }
}

#[test]
fn test_app_connected_close_long_reason_is_close_reason_too_long() {
    let mut server = server_accepted();
    let reason = "x".repeat(124);
    refused(
        &mut server,
        at(10),
        CallError::CloseReasonTooLong,
        |s, now| s.close(now, 1000, &reason, &mut [0; 256]),
    );
    // 123 bytes fit in a control frame.
    let transmit = server
        .close(at(10), 1000, &reason[..123], &mut [0; 256])
        .unwrap();
    assert_eq!(transmit, close_frame(1000, &reason[..123]));
}

#[test]
fn test_connected_accept_twice_is_already_accepted() {
    let mut server = server_accepted();
    refused(&mut server, at(10), CallError::AlreadyAccepted, |s, now| {
        s.accept(now, AnyCodec::Postcard)
    });
    assert_eq!(server.codec(), Some(AnyCodec::Json));
}

#[test]
fn test_connected_reject_after_accept_is_already_accepted() {
    let mut server = server_accepted();
    refused(
        &mut server,
        at(10),
        CallError::AlreadyAccepted,
        Server::reject,
    );
}

#[test]
fn test_connected_io_error_ends_with_exit_1006() {
    // An I/O error while writing: → DISCONNECTED, `WebSocketDisconnect(code=1006)`. No close
    // frame was seen: the exit has no code, which the adapter reports as 1006.
    let (mut server, token) = server_with_request();
    server.handle_transport_closed(at(11));
    assert_exit(&mut server, Initiator::Transport, None, false);
    // The first send after the client vanished fails.
    refused(&mut server, at(12), CallError::SendAfterClose, |s, now| {
        s.send_event(now, "move", &Typed(&1), &mut [0; 64])
    });
    // The request in flight can no longer be answered.
    assert_respond_finishes_request(&mut server, at(12), token);
    assert_stays_over(&mut server);
}

// ---- send(message): application_state DISCONNECTED ----

#[test]
fn test_app_disconnected_send_is_send_after_close() {
    let mut server = server_closing();
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.send_event(now, "move", &Typed(&1), &mut [0; 64])
    });
}

#[test]
fn test_app_disconnected_close_twice_is_send_after_close() {
    let mut server = server_closing();
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.close(now, 1000, "", &mut [])
    });
}

#[test]
fn test_app_disconnected_respond_is_send_after_close() {
    let (mut server, token) = server_with_request();
    assert_eq!(
        server.close(at(11), 1000, "", &mut []),
        Ok(close_frame(1000, ""))
    );
    assert_respond_finishes_request(&mut server, at(12), token);
}

#[test]
fn test_app_disconnected_accept_is_already_accepted() {
    let mut server = server_closing();
    refused(&mut server, at(10), CallError::AlreadyAccepted, |s, now| {
        s.accept(now, AnyCodec::Json)
    });
    let mut server = server_rejected();
    refused(&mut server, at(10), CallError::AlreadyAccepted, |s, now| {
        s.accept(now, AnyCodec::Json)
    });
    refused(
        &mut server,
        at(10),
        CallError::AlreadyAccepted,
        Server::reject,
    );
}

#[test]
fn test_app_disconnected_send_after_reject_is_send_after_close() {
    let mut server = server_rejected();
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.send_event(now, "move", &Typed(&1), &mut [0; 64])
    });
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.close(now, 1000, "", &mut [])
    });
    refused(
        &mut server,
        at(10),
        CallError::ReceiveAfterDisconnect,
        |s, now| s.handle_message(now, MessageKind::Text, ECHO, &ROUTES),
    );
}

#[test]
fn test_app_disconnected_send_after_client_close_is_send_after_close() {
    let mut server = server_client_closed();
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.send_event(now, "move", &Typed(&1), &mut [0; 64])
    });
    refused(&mut server, at(10), CallError::SendAfterClose, |s, now| {
        s.close(now, 1000, "", &mut [])
    });
}

#[test]
fn test_app_disconnected_receive_message_is_ignored() {
    // After our close frame, data may still arrive (RFC 6455 §5.5.1): dropped, not an error.
    let mut server = server_closing();
    let before = server.snapshot();
    assert_eq!(
        server.handle_message(at(10), MessageKind::Text, ECHO, &ROUTES),
        Ok(ServerReceived::Ignored)
    );
    assert_eq!(
        server.handle_message(at(10), MessageKind::Binary, b"\x00", &ROUTES),
        Ok(ServerReceived::Ignored),
        "not even a protocol error"
    );
    server.handle_pong(at(10));
    assert_eq!(server.snapshot(), before);
    assert_quiet(&mut server, at(10));
}

// ---- Derived API ----

#[test]
fn test_receive_binary_on_text_connection_closes_1003() {
    // receive_text() on a binary frame: Starlette's `KeyError: 'text'`.
    let mut server = server_accepted();
    let message = postcard_echo();
    let received = server.handle_message(at(10), MessageKind::Binary, &message, &ROUTES);
    assert_eq!(
        received,
        Ok(ServerReceived::Closing(
            ProtocolError::UnsupportedMessageKind
        ))
    );
    assert_protocol_close(&mut server, at(10), ProtocolError::UnsupportedMessageKind);
    // More of the same is ignored: the error is reported once.
    assert_eq!(
        server.handle_message(at(11), MessageKind::Binary, b"\x00", &ROUTES),
        Ok(ServerReceived::Ignored)
    );
    assert_quiet(&mut server, at(11));
    // The client answers our close: a clean end that we started.
    server.handle_close(at(12), Some(1003)).unwrap();
    assert_exit(&mut server, Initiator::Local, Some(1003), true);
}

#[test]
fn test_receive_text_on_binary_connection_closes_1003() {
    let mut server = server_accepted_with(AnyCodec::Postcard);
    let received = server.handle_message(at(10), MessageKind::Text, ECHO, &ROUTES);
    assert_eq!(
        received,
        Ok(ServerReceived::Closing(
            ProtocolError::UnsupportedMessageKind
        ))
    );
    assert_protocol_close(&mut server, at(10), ProtocolError::UnsupportedMessageKind);
}

#[test]
fn test_receive_binary_behind_queued_reply_keeps_order() {
    // The reply queued for an earlier message goes out before the close frame.
    let mut server = server_accepted();
    server
        .handle_message(at(10), MessageKind::Text, UNKNOWN, &ROUTES)
        .unwrap();
    server
        .handle_message(at(11), MessageKind::Binary, b"\x00", &ROUTES)
        .unwrap();
    let sent = drain_transmits(&mut server, at(11));
    assert!(matches!(
        sent[..],
        [Transmit::Message { .. }, Transmit::Close { code: 1003, .. }]
    ));
    assert_eq!(
        server.poll_event(),
        Some(Event::ProtocolError(ProtocolError::UnsupportedMessageKind))
    );
    assert_eq!(server.poll_event(), None);
}

#[test]
fn test_receive_malformed_json_is_refused_and_stays_open() {
    // json.loads failing raises in Starlette; here the core answers `validation-error`.
    let mut server = server_accepted();
    let received = server
        .handle_message(at(10), MessageKind::Text, b"{not json", &ROUTES)
        .unwrap();
    assert!(
        matches!(received, ServerReceived::Refused(r) if r.error.is_some()),
        "{received:?}"
    );
    let reply = br#"{"type":"event","kind":"error","data":{"reason":"Invalid request sent","code":"validation-error"}}"#;
    assert_sends(&mut server, at(10), text(reply.len()), reply);
    assert_quiet(&mut server, at(10));
    assert_eq!(states(&server), (Connected, Connected));
}

#[test]
fn test_connected_iter_stops_at_disconnect() {
    // iter_text(): receive until `websocket.disconnect`, then stop without an error.
    let mut server = server_accepted();
    let mut received = 0;
    let mut now = at(10);
    let inputs: [Option<&[u8]>; 4] = [Some(ECHO), Some(ECHO), None, Some(ECHO)];
    for input in inputs {
        now = now + Duration::from_millis(1);
        match input {
            Some(message) => {
                match server.handle_message(now, MessageKind::Text, message, &ROUTES) {
                    Ok(ServerReceived::Request(request)) => {
                        received += 1;
                        let echoed =
                            server.respond(now, request.token, &request.data, &mut [0; 64]);
                        assert!(matches!(echoed, Ok(Transmit::Message { .. })), "{echoed:?}");
                    }
                    Err(CallError::ReceiveAfterDisconnect) => break,
                    other => panic!("{other:?}"),
                }
            }
            None => server.handle_close(now, Some(1000)).unwrap(),
        }
    }
    assert_eq!(received, 2);
    assert_exit(&mut server, Initiator::Peer, Some(1000), true);
}

#[test]
fn test_server_close_4000_bye_reaches_client() {
    // Server close(4000, "bye") → the client sees 4000 "bye".
    let mut server = server_accepted();
    let mut client = client_accepted();
    let mut out = [0; 8];
    let Transmit::Close { code, reason_len } = server.close(at(10), 4000, "bye", &mut out).unwrap()
    else {
        panic!("not a close frame");
    };
    assert_eq!((code, &out[..reason_len]), (4000, &b"bye"[..]));
    client.handle_close(at(11), Some(code)).unwrap();
    assert_exit(&mut client, Initiator::Peer, Some(4000), true);
    // The client's WebSocket layer echoes it.
    server.handle_close(at(12), Some(code)).unwrap();
    assert_exit(&mut server, Initiator::Local, Some(4000), true);
}

// ---- Close handshake, from each side ----

#[test]
fn test_app_closing_client_answers_exit_local_clean() {
    let mut server = server_closing();
    server.handle_close(at(10), Some(4000)).unwrap();
    assert_exit(&mut server, Initiator::Local, Some(4000), true);
    assert_stays_over(&mut server);
}

#[test]
fn test_app_closing_client_answers_other_code_exit_keeps_ours() {
    // Both sent a close frame at once: ours went first, so the exit names ours.
    let mut server = server_closing();
    server.handle_close(at(10), Some(1001)).unwrap();
    assert_exit(&mut server, Initiator::Local, Some(4000), true);
}

#[test]
fn test_app_closing_io_error_exit_local_unclean() {
    // The close frame was handed out but the transport failed (the write, or before the
    // answer): DISCONNECTED was set first, and the exit says the handshake did not finish.
    let mut server = server_closing();
    server.handle_transport_closed(at(10));
    assert_exit(&mut server, Initiator::Local, Some(4000), false);
    assert_stays_over(&mut server);
}

#[test]
fn test_app_closing_close_timeout_exit_local_unclean() {
    let mut server = server_closing();
    let deadline = CLOSED + CLOSE;
    assert_eq!(server.poll_timeout(), Some(deadline));
    server.handle_timeout(deadline - micro());
    assert_quiet(&mut server, deadline - micro());
    assert_eq!(states(&server), (Connected, Disconnected));
    server.handle_timeout(deadline);
    assert_eq!(
        server.poll_transmit(deadline, &mut []),
        Ok(None),
        "nothing more to send"
    );
    assert_exit(&mut server, Initiator::Local, Some(4000), false);
    assert_stays_over(&mut server);
}

#[test]
fn test_connected_client_closes_first_exit_peer_clean() {
    let mut server = server_accepted();
    server.handle_close(at(10), Some(1000)).unwrap();
    assert_exit(&mut server, Initiator::Peer, Some(1000), true);
    assert_stays_over(&mut server);
}

// ---- Timers ----

#[test]
fn test_connecting_handshake_timeout_no_exit() {
    let mut server = server_connecting();
    let deadline = at(0) + HANDSHAKE;
    server.handle_timeout(deadline);
    assert_eq!(states(&server), (Disconnected, Disconnected));
    assert!(!server.is_drained(), "the event is not reported yet");
    assert_eq!(server.poll_event(), Some(Event::HandshakeTimedOut));
    assert_over(&mut server);
    refused(
        &mut server,
        deadline,
        CallError::ReceiveAfterDisconnect,
        Server::handle_upgrade,
    );
    assert_stays_over(&mut server);
}

#[test]
fn test_connected_app_connecting_handshake_timeout_no_exit() {
    // Upgraded but neither accepted nor rejected in time.
    let mut server = server_upgraded();
    let deadline = at(0) + HANDSHAKE;
    assert_eq!(server.poll_timeout(), Some(deadline));
    server.handle_timeout(deadline);
    assert_eq!(server.poll_transmit(deadline, &mut []), Ok(None));
    assert_eq!(server.poll_event(), Some(Event::HandshakeTimedOut));
    assert_over(&mut server);
    refused(
        &mut server,
        deadline,
        CallError::AlreadyAccepted,
        |s, now| s.accept(now, AnyCodec::Json),
    );
    assert_stays_over(&mut server);
}

#[test]
fn test_connected_idle_timeout_queues_close_1001() {
    let mut server = server_accepted();
    let deadline = ACCEPTED + IDLE;
    // The keep-alive pings went unanswered (no pong, no message).
    let mut now = ACCEPTED + KEEPALIVE;
    while now < deadline {
        server.handle_timeout(now);
        assert_eq!(drain_transmits(&mut server, now), [Transmit::Ping]);
        now = server.poll_timeout().unwrap();
    }
    assert_eq!(now, deadline);
    server.handle_timeout(deadline);
    assert_protocol_close(&mut server, deadline, ProtocolError::IdleTimeout);
    // No answer either: the close timeout ends it.
    server.handle_timeout(deadline + CLOSE);
    assert_exit(&mut server, Initiator::Local, Some(1001), false);
}

#[test]
fn test_connected_idle_timeout_wins_over_due_ping() {
    // handle_timeout called late, with both the ping and the idle deadline past: no ping
    // goes out in front of the close frame.
    let mut server = server_accepted();
    server.handle_timeout(ACCEPTED + IDLE + Duration::from_secs(1));
    let now = ACCEPTED + IDLE + Duration::from_secs(1);
    assert_protocol_close(&mut server, now, ProtocolError::IdleTimeout);
}

#[test]
fn test_connected_keepalive_pings_and_rearms() {
    let mut server = server_accepted();
    let first = ACCEPTED + KEEPALIVE;
    assert_eq!(server.poll_timeout(), Some(first));
    server.handle_timeout(first);
    assert_eq!(
        server.poll_transmit(first, &mut []),
        Ok(Some(Transmit::Ping))
    );
    assert_quiet(&mut server, first);
    assert_eq!(states(&server), (Connected, Connected));
    // Re-armed from when it fired.
    let second = first + KEEPALIVE;
    assert_eq!(server.poll_timeout(), Some(second));
    // The pong (any sign of life) pushes both the ping and the idle deadline back.
    let pong = first + Duration::from_secs(1);
    server.handle_pong(pong);
    assert_eq!(server.poll_timeout(), Some(pong + KEEPALIVE));
    server.handle_timeout(second);
    assert_quiet(&mut server, second);
    server.handle_timeout(pong + KEEPALIVE);
    assert_eq!(
        server.poll_transmit(pong + KEEPALIVE, &mut []),
        Ok(Some(Transmit::Ping))
    );
    // A message does the same as a pong.
    let message = pong + KEEPALIVE + Duration::from_secs(1);
    receive_request(&mut server, message, MessageKind::Text, ECHO);
    assert_eq!(server.poll_timeout(), Some(message + KEEPALIVE));
}

#[test]
fn test_connected_keepalive_after_close_is_not_sent() {
    // A ping due when the application closes is dropped: nothing follows a close frame.
    let mut server = server_accepted();
    server.handle_timeout(ACCEPTED + KEEPALIVE);
    let closed = server.close(ACCEPTED + KEEPALIVE, 1000, "", &mut []);
    assert_eq!(closed, Ok(close_frame(1000, "")));
    assert_quiet(&mut server, ACCEPTED + KEEPALIVE);
}

#[test]
fn test_every_state_timeout_early_is_noop() {
    let fixtures: [Named<Server>; 5] = [
        ("connecting", server_connecting),
        ("upgraded", server_upgraded),
        ("accepted", server_accepted),
        ("closing", server_closing),
        ("with request", || server_with_request().0),
    ];
    for (name, fixture) in fixtures {
        let mut server = fixture();
        let before = server.snapshot();
        let deadline = before.deadline.expect(name);
        for now in [at(0), deadline - micro()] {
            server.handle_timeout(now);
            assert_eq!(server.snapshot(), before, "{name} at {now:?}");
            assert_quiet(&mut server, now);
        }
    }
}

#[test]
fn test_disconnected_timeout_is_noop() {
    for mut server in [server_rejected(), server_client_closed()] {
        assert_eq!(server.poll_timeout(), None);
        server.handle_timeout(FAR);
        assert_over(&mut server);
    }
}

// ---- Exit: exactly once, last, on every path ----

#[test]
fn test_every_accepted_path_reports_exit_exactly_once() {
    let paths: [Named<Server>; 8] = [
        ("client closes", || {
            let mut s = server_accepted();
            s.handle_close(at(10), Some(1000)).unwrap();
            s
        }),
        ("app closes, client answers", || {
            let mut s = server_closing();
            s.handle_close(at(10), Some(4000)).unwrap();
            s
        }),
        ("app closes, transport drops", || {
            let mut s = server_closing();
            s.handle_transport_closed(at(10));
            s
        }),
        ("app closes, close timeout", || {
            let mut s = server_closing();
            s.handle_timeout(CLOSED + CLOSE);
            s
        }),
        ("I/O error", || {
            let mut s = server_with_request().0;
            s.handle_transport_closed(at(11));
            s
        }),
        ("wrong message kind, client answers", || {
            let mut s = server_accepted();
            s.handle_message(at(10), MessageKind::Binary, b"\x00", &ROUTES)
                .unwrap();
            s.handle_close(at(11), Some(1003)).unwrap();
            s
        }),
        (
            "wrong message kind, transport drops before the close is sent",
            || {
                let mut s = server_accepted();
                s.handle_message(at(10), MessageKind::Binary, b"\x00", &ROUTES)
                    .unwrap();
                s.handle_transport_closed(at(11));
                s
            },
        ),
        ("idle timeout, close timeout", || {
            let mut s = server_accepted();
            s.handle_timeout(ACCEPTED + IDLE);
            s.handle_timeout(ACCEPTED + IDLE + CLOSE);
            s
        }),
    ];
    for (name, path) in paths {
        let mut server = path();
        drain_transmits(&mut server, FAR);
        let events = drain_events(&mut server);
        let exits = events
            .iter()
            .filter(|e| matches!(e, Event::Exit(_)))
            .count();
        assert_eq!(exits, 1, "{name}: {events:?}");
        assert!(
            matches!(events.last(), Some(Event::Exit(_))),
            "{name}: Exit is last"
        );
        assert!(server.is_drained(), "{name}");
        assert_stays_over(&mut server);
    }
}

#[test]
fn test_every_unaccepted_path_reports_no_exit() {
    let paths: [Named<Server>; 6] = [
        ("rejected", server_rejected),
        ("handshake timeout before the upgrade", || {
            let mut s = server_connecting();
            s.handle_timeout(at(0) + HANDSHAKE);
            s
        }),
        ("handshake timeout after the upgrade", || {
            let mut s = server_upgraded();
            s.handle_timeout(at(0) + HANDSHAKE);
            s
        }),
        ("transport drops before the upgrade", || {
            let mut s = server_connecting();
            s.handle_transport_closed(at(1));
            s
        }),
        ("transport drops before the answer", || {
            let mut s = server_upgraded();
            s.handle_transport_closed(at(5));
            s
        }),
        ("close frame before the answer", || {
            let mut s = server_upgraded();
            s.handle_close(at(5), Some(1000)).unwrap();
            s
        }),
    ];
    for (name, path) in paths {
        let mut server = path();
        assert_eq!(drain_transmits(&mut server, FAR), [], "{name}");
        // Only a handshake timeout is reported: the adapter already knows about the rest.
        let expected = name
            .starts_with("handshake timeout")
            .then_some(Event::HandshakeTimedOut);
        assert_eq!(
            drain_events(&mut server),
            Vec::from_iter(expected),
            "{name}"
        );
        assert_stays_over(&mut server);
    }
}

// ---- The client connection ----

/// About to send the upgrade request: both CONNECTING.
fn client_new() -> Client {
    let mut client = Client::new(at(0), config());
    assert_eq!(states(&client), (Connecting, Connecting));
    assert_quiet(&mut client, at(0));
    client
}

/// The upgrade request is sent: client CONNECTED, server CONNECTING.
fn client_connected() -> Client {
    let mut client = client_new();
    client.connect(UPGRADED).unwrap();
    assert_eq!(states(&client), (Connected, Connecting));
    assert_quiet(&mut client, UPGRADED);
    client
}

/// The server accepted with JSON: both CONNECTED.
fn client_accepted() -> Client {
    let mut client = client_connected();
    client.handle_accepted(ACCEPTED, AnyCodec::Json).unwrap();
    assert_eq!(states(&client), (Connected, Connected));
    assert_quiet(&mut client, ACCEPTED);
    client
}

/// The client sent `close(1000)`; waiting for the server's answer.
fn client_closing() -> Client {
    let mut client = client_accepted();
    let transmit = client.close(CLOSED, 1000, "", &mut []).unwrap();
    assert_eq!(transmit, close_frame(1000, ""));
    assert_quiet(&mut client, CLOSED);
    client
}

/// An answer that matches no pending request is ignored.
#[track_caller]
fn assert_unknown_id(received: Result<ClientReceived<'_>, CallError>) {
    assert_eq!(format!("{received:?}"), "Ok(Ignored(UnknownId))");
}

/// The client sends an `echo` request.
#[track_caller]
fn send_request(client: &mut Client, now: Instant) -> RequestId {
    let mut out = [0; 64];
    let (id, transmit) = client
        .request(now, "echo", &Typed(&"hi"), None, &mut out)
        .unwrap();
    let Transmit::Message { len, .. } = transmit else {
        panic!("{transmit:?}");
    };
    let frame: &[u8] = &out[..len];
    let expected = format!(
        r#"{{"id":"{}","type":"request","endpoint":"echo","data":"hi"}}"#,
        id.0
    );
    assert_eq!(frame, expected.as_bytes());
    id
}

#[test]
fn test_client_conn_connect_twice_is_already_connected() {
    let mut client = client_connected();
    refused(
        &mut client,
        at(5),
        CallError::AlreadyConnected,
        Client::connect,
    );
    let mut client = client_accepted();
    refused(
        &mut client,
        at(5),
        CallError::AlreadyConnected,
        Client::connect,
    );
}

#[test]
fn test_client_conn_accepted_before_connect_is_not_connected() {
    let mut client = client_new();
    refused(&mut client, at(1), CallError::NotConnected, |c, now| {
        c.handle_accepted(now, AnyCodec::Json)
    });
    refused(&mut client, at(1), CallError::NotConnected, |c, now| {
        c.handle_rejected(now, 403)
    });
}

#[test]
fn test_client_conn_request_before_accept_is_not_accepted() {
    for mut client in [client_new(), client_connected()] {
        refused(&mut client, at(5), CallError::NotAccepted, |c, now| {
            c.request(now, "echo", &Typed(&"hi"), None, &mut [0; 64])
        });
        refused(&mut client, at(5), CallError::NotAccepted, |c, now| {
            c.close(now, 1000, "", &mut [])
        });
    }
}

#[test]
fn test_client_conn_receive_before_accept_is_not_accepted() {
    let mut client = client_new();
    refused(&mut client, at(1), CallError::NotConnected, |c, now| {
        c.handle_message(
            now,
            MessageKind::Text,
            br#"{"type":"event","kind":"init","data":1}"#,
        )
    });
    let mut client = client_connected();
    refused(&mut client, at(5), CallError::NotAccepted, |c, now| {
        c.handle_message(
            now,
            MessageKind::Text,
            br#"{"type":"event","kind":"init","data":1}"#,
        )
    });
}

#[test]
fn test_client_conn_accepted_twice_is_already_accepted() {
    let mut client = client_accepted();
    refused(&mut client, at(5), CallError::AlreadyAccepted, |c, now| {
        c.handle_accepted(now, AnyCodec::Postcard)
    });
    refused(&mut client, at(5), CallError::AlreadyAccepted, |c, now| {
        c.handle_rejected(now, 403)
    });
    assert_eq!(client.codec(), Some(AnyCodec::Json));
}

#[test]
fn test_client_conn_rejected_is_rejected_then_nothing() {
    let mut client = client_connected();
    assert_eq!(client.handle_rejected(at(5), 401), Ok(()));
    assert_eq!(states(&client), (Disconnected, Disconnected));
    assert!(!client.is_drained(), "the rejection is not reported yet");
    assert_eq!(client.poll_event(), Some(Event::Rejected { status: 401 }));
    assert_over(&mut client);
    refused(&mut client, at(6), CallError::AlreadyAccepted, |c, now| {
        c.handle_accepted(now, AnyCodec::Json)
    });
    refused(&mut client, at(6), CallError::SendAfterClose, |c, now| {
        c.request(now, "echo", &Typed(&"hi"), None, &mut [0; 64])
    });
    refused(
        &mut client,
        at(6),
        CallError::ReceiveAfterDisconnect,
        Client::connect,
    );
    assert_stays_over(&mut client);
}

#[test]
fn test_client_conn_connected_request_and_response() {
    let mut client = client_accepted();
    let id = send_request(&mut client, at(10));
    assert_eq!(client.pending(), 1);
    let received = client.handle_message(
        at(11),
        MessageKind::Text,
        br#"{"id":"1","type":"response","data":"hi"}"#,
    );
    match received {
        Ok(ClientReceived::Response { request, data }) => {
            assert_eq!(request, id);
            assert_eq!(client.decode::<&str>(data), Ok("hi"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.pending(), 0);
    // The same answer again matches nothing.
    let again = client.handle_message(
        at(12),
        MessageKind::Text,
        br#"{"id":"1","type":"response","data":"hi"}"#,
    );
    assert_unknown_id(again);
    assert_quiet(&mut client, at(12));
}

#[test]
fn test_client_conn_request_after_close_is_send_after_close() {
    let mut client = client_closing();
    refused(&mut client, at(10), CallError::SendAfterClose, |c, now| {
        c.request(now, "echo", &Typed(&"hi"), None, &mut [0; 64])
    });
    refused(&mut client, at(10), CallError::SendAfterClose, |c, now| {
        c.close(now, 1000, "", &mut [])
    });
}

#[test]
fn test_client_conn_closing_receive_is_ignored() {
    let mut client = client_closing();
    let before = client.snapshot();
    let event = br#"{"type":"event","kind":"move","data":1}"#;
    assert_eq!(
        client.handle_message(at(10), MessageKind::Text, event),
        Ok(ClientReceived::Closing)
    );
    assert_eq!(client.snapshot(), before);
    assert_quiet(&mut client, at(10));
}

#[test]
fn test_client_conn_receive_after_server_close_is_receive_after_disconnect() {
    let mut client = client_accepted();
    client.handle_close(at(10), Some(1000)).unwrap();
    assert_exit(&mut client, Initiator::Peer, Some(1000), true);
    refused(
        &mut client,
        at(11),
        CallError::ReceiveAfterDisconnect,
        |c, now| {
            c.handle_message(
                now,
                MessageKind::Text,
                br#"{"type":"event","kind":"move","data":1}"#,
            )
        },
    );
    refused(&mut client, at(11), CallError::SendAfterClose, |c, now| {
        c.request(now, "echo", &Typed(&"hi"), None, &mut [0; 64])
    });
    assert_stays_over(&mut client);
}

#[test]
fn test_client_conn_server_close_fails_pending_then_exit() {
    let mut client = client_accepted();
    let first = send_request(&mut client, at(10));
    let second = send_request(&mut client, at(11));
    client.handle_close(at(12), Some(1001)).unwrap();
    // The failures, oldest first, then the exit.
    for request in [first, second] {
        assert_eq!(
            client.poll_event(),
            Some(Event::RequestFailed {
                request,
                cause: RequestFailure::Disconnected
            })
        );
    }
    assert_exit(&mut client, Initiator::Peer, Some(1001), true);
}

#[test]
fn test_client_conn_close_handshake_exit_local_clean() {
    let mut client = client_closing();
    // The client closed its side: `client_state` is DISCONNECTED, the server (`app_state`)
    // has not answered yet.
    assert_eq!(states(&client), (Disconnected, Connected));
    assert_eq!(client.poll_timeout(), Some(CLOSED + CLOSE));
    client.handle_close(at(10), Some(1000)).unwrap();
    assert_exit(&mut client, Initiator::Local, Some(1000), true);
    assert_stays_over(&mut client);
}

#[test]
fn test_client_conn_close_timeout_exit_local_unclean() {
    let mut client = client_closing();
    client.handle_timeout(CLOSED + CLOSE - micro());
    assert_quiet(&mut client, CLOSED + CLOSE - micro());
    client.handle_timeout(CLOSED + CLOSE);
    assert_exit(&mut client, Initiator::Local, Some(1000), false);
}

#[test]
fn test_client_conn_io_error_exit_transport() {
    let mut client = client_accepted();
    let id = send_request(&mut client, at(10));
    client.handle_transport_closed(at(11));
    assert_eq!(
        client.poll_event(),
        Some(Event::RequestFailed {
            request: id,
            cause: RequestFailure::Disconnected
        })
    );
    assert_exit(&mut client, Initiator::Transport, None, false);
    assert_stays_over(&mut client);
}

#[test]
fn test_client_conn_handshake_timeout_no_exit() {
    let mut client = client_connected();
    client.handle_timeout(at(0) + HANDSHAKE - micro());
    assert_quiet(&mut client, at(0) + HANDSHAKE - micro());
    client.handle_timeout(at(0) + HANDSHAKE);
    assert_eq!(client.poll_event(), Some(Event::HandshakeTimedOut));
    assert_over(&mut client);
    refused(
        &mut client,
        at(0) + HANDSHAKE,
        CallError::AlreadyAccepted,
        |c, now| c.handle_accepted(now, AnyCodec::Json),
    );
    assert_stays_over(&mut client);
}

#[test]
fn test_client_conn_receive_binary_on_text_connection_closes_1003() {
    let mut client = client_accepted();
    let received = client.handle_message(at(10), MessageKind::Binary, b"\x00");
    assert_eq!(
        received,
        Ok(ClientReceived::ProtocolError(
            ProtocolError::UnsupportedMessageKind
        ))
    );
    assert_protocol_close(&mut client, at(10), ProtocolError::UnsupportedMessageKind);
    client.handle_close(at(11), Some(1003)).unwrap();
    assert_exit(&mut client, Initiator::Local, Some(1003), true);
}

#[test]
fn test_client_conn_keepalive_pings_and_rearms() {
    let mut client = client_accepted();
    let first = ACCEPTED + KEEPALIVE;
    client.handle_timeout(first - micro());
    assert_quiet(&mut client, first - micro());
    client.handle_timeout(first);
    assert_eq!(
        client.poll_transmit(first, &mut []),
        Ok(Some(Transmit::Ping))
    );
    assert_quiet(&mut client, first);
    assert_eq!(client.poll_timeout(), Some(first + KEEPALIVE));
}

#[test]
fn test_client_conn_request_timeout_then_late_answer_is_ignored() {
    let mut client = client_accepted();
    let id = send_request(&mut client, at(10));
    assert_eq!(
        client.poll_timeout(),
        Some(ACCEPTED + KEEPALIVE),
        "keep-alive comes first"
    );
    client.handle_timeout(at(10) + REQUEST);
    assert_eq!(
        client.poll_event(),
        Some(Event::RequestFailed {
            request: id,
            cause: RequestFailure::Timeout
        })
    );
    let late = client.handle_message(
        at(10) + REQUEST,
        MessageKind::Text,
        br#"{"id":"1","type":"response","data":"hi"}"#,
    );
    assert_unknown_id(late);
}

#[test]
fn test_client_conn_every_path_reports_exit_exactly_once() {
    let paths: [Named<Client>; 5] = [
        ("server closes", || {
            let mut c = client_accepted();
            send_request(&mut c, at(10));
            c.handle_close(at(11), Some(1000)).unwrap();
            c
        }),
        ("client closes, server answers", || {
            let mut c = client_closing();
            c.handle_close(at(10), Some(1000)).unwrap();
            c
        }),
        ("client closes, close timeout", || {
            let mut c = client_closing();
            c.handle_timeout(CLOSED + CLOSE);
            c
        }),
        ("I/O error", || {
            let mut c = client_accepted();
            send_request(&mut c, at(10));
            c.handle_transport_closed(at(11));
            c
        }),
        ("idle timeout, close timeout", || {
            let mut c = client_accepted();
            c.handle_timeout(ACCEPTED + IDLE);
            c.handle_timeout(ACCEPTED + IDLE + CLOSE);
            c
        }),
    ];
    for (name, path) in paths {
        let mut client = path();
        drain_transmits(&mut client, FAR);
        let events = drain_events(&mut client);
        let exits = events
            .iter()
            .filter(|e| matches!(e, Event::Exit(_)))
            .count();
        assert_eq!(exits, 1, "{name}: {events:?}");
        assert!(
            matches!(events.last(), Some(Event::Exit(_))),
            "{name}: Exit is last"
        );
        assert_stays_over(&mut client);
    }
}

/// A single codec is a set of one: the same table holds for `ServerConnection<JsonCodec>`.
#[test]
fn test_json_only_server_follows_the_same_table() {
    let mut server = ServerConnection::<JsonCodec>::new(at(0), config());
    server.handle_upgrade(UPGRADED).unwrap();
    assert_eq!(
        server.send_event(at(5), "move", &Typed(&1), &mut [0; 64]),
        Err(CallError::NotAccepted)
    );
    server.accept(ACCEPTED, JsonCodec).unwrap();
    assert_eq!(
        server.accept(at(5), JsonCodec),
        Err(CallError::AlreadyAccepted)
    );
    assert_eq!(
        server.handle_message(at(6), MessageKind::Binary, b"\x00", &ROUTES),
        Ok(ServerReceived::Closing(
            ProtocolError::UnsupportedMessageKind
        ))
    );
    assert_eq!(
        server.poll_event(),
        Some(Event::ProtocolError(ProtocolError::UnsupportedMessageKind))
    );
    assert_eq!(
        server.send_event(at(7), "move", &Typed(&1), &mut [0; 64]),
        Err(CallError::SendAfterClose)
    );
}
