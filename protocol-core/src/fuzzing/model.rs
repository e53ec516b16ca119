//! A model-based fuzzer of the two connection state machines.
//!
//! The input is read with `arbitrary` as a setup (role, codec set, profile, limits, timers)
//! and a sequence of operations: mostly valid frames built from small pools of ids, endpoints
//! and values, plus raw bytes, application commands, monotonic time jumps, pongs, the peer's
//! close frame and the transport's end. Each operation is applied to the real connection
//! (capacities `IN_FLIGHT = 3`, `QUEUE = 2`, `PENDING = 3`, to reach every bound) and to a
//! small reference model written from the specification (§5, §6, §8): the two states, the
//! open requests, the replies the core owes, whether our close frame went out, the timers and
//! the events due. After every operation the outputs are drained as documented and compared
//! with the model:
//!
//! - each state only moves forward (CONNECTING → CONNECTED → DISCONNECTED) and equals the
//!   model's;
//! - every request is answered at most once (server: a token answered twice is refused;
//!   client: each request id completes once, by a response or a `RequestFailed` event), and
//!   when the run ends every request has been answered, abandoned, timed out or failed by
//!   the disconnect;
//! - `in_flight() <= IN_FLIGHT`, `pending() <= PENDING`, and both equal the model's count;
//! - every data message sent (`poll_transmit`, `respond`, `fail`, `send_event`, `request`)
//!   decodes with the connection's codec and is the frame the model expects, byte for byte;
//! - nothing is sent after our close frame, nor once the connection is over;
//! - the events are the model's: `Event::Exit` exactly once for an accepted connection that
//!   ended, and always the last event;
//! - `poll_timeout` is the model's next deadline;
//! - no panic.

use std::collections::{BTreeMap, VecDeque};
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use serde::Serialize;

use crate::codec::{Codec, CodecSet, DecodeError, EncodeError, MessageKind};
use crate::connection::{
    CallError, ClientConnection, ClientReceived, Config, ErrorCode, Event, Exit, Failure,
    Initiator, Profile, ProtocolError, RequestFailure, RequestId, RequestToken, RouteId,
    ServerConnection, ServerReceived, State, Transmit, Unusable,
};
use crate::frame::{Data, ErrorBody, Frame, Payload, Typed};
use crate::text::Str;
use crate::time::{Duration, Instant};
use crate::{AnyCodec, JsonCodec, PostcardCodec};

/// Requests a server runs at once.
const IN_FLIGHT: usize = 3;
/// Replies the server core may owe.
const QUEUE: usize = 2;
/// Requests a client waits for.
const PENDING: usize = 3;
/// Operations read from one input at most.
const MAX_OPS: usize = 256;
/// The output buffer of every call, and a buffer most frames do not fit in.
const OUT_LEN: usize = 8192;
const SMALL_OUT_LEN: usize = 12;
/// `max_frame_len` when the setup asks for small frames.
const SMALL_FRAME_LEN: usize = 96;

const ROUTES: [&str; 3] = ["echo", "move", "slow"];

/// Runs one input: reads a setup and up to [`MAX_OPS`] operations with `arbitrary`, applies
/// them to a connection and to the reference model, and panics when they disagree or an
/// invariant breaks. Set `QUARTET_FUZZ_TRACE` to print each operation.
pub fn connection_model(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let trace = std::env::var_os("QUARTET_FUZZ_TRACE").is_some();
    if trace {
        std::eprintln!("{setup:?}");
    }
    let opening = setup
        .open_with
        .map(|codec| [Op::Handshake, Op::Accept(codec)])
        .into_iter()
        .flatten();
    let ops = opening
        .chain(core::iter::from_fn(|| {
            if u.is_empty() {
                return None;
            }
            Op::arbitrary(&mut u).ok()
        }))
        .take(MAX_OPS)
        .inspect(|op| {
            if trace {
                std::eprintln!("  {op:?}");
            }
        });
    match (setup.role, setup.codecs) {
        (Role::Server, Codecs::Any) => ServerRun::<AnyCodec>::new(&setup).run(ops),
        (Role::Server, Codecs::Json) => ServerRun::<JsonCodec>::new(&setup).run(ops),
        (Role::Server, Codecs::Postcard) => ServerRun::<PostcardCodec>::new(&setup).run(ops),
        (Role::Client, Codecs::Any) => ClientRun::<AnyCodec>::new(&setup).run(ops),
        (Role::Client, Codecs::Json) => ClientRun::<JsonCodec>::new(&setup).run(ops),
        (Role::Client, Codecs::Postcard) => ClientRun::<PostcardCodec>::new(&setup).run(ops),
    }
}

// ---- The input ---------------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Role {
    Server,
    Client,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Codecs {
    Any,
    Json,
    Postcard,
}

#[derive(Arbitrary, Debug)]
struct Setup {
    role: Role,
    codecs: Codecs,
    seed_profile: bool,
    /// `max_consecutive_bad_frames`, modulo 4.
    bad_frames: Option<u8>,
    small_frames: bool,
    idle: bool,
    keepalive: bool,
    /// At the end: answer the open requests before the transport closes (or after).
    answer_before_end: bool,
    /// Start with the handshake done and accepted with codec `n` (most runs want an open
    /// connection; the others explore the handshake).
    open_with: Option<u8>,
}

impl Setup {
    fn config(&self) -> Config {
        let mut config = Config::new();
        if self.seed_profile {
            config.profile = Profile::Seed000;
        }
        config.max_consecutive_bad_frames = self.bad_frames.map(|n| u16::from(n % 4));
        if self.small_frames {
            config.max_frame_len = SMALL_FRAME_LEN;
        }
        if !self.idle {
            config.idle_timeout = None;
        }
        if !self.keepalive {
            config.keepalive_interval = None;
        }
        config
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// Server: the upgrade request arrives. Client: it is sent.
    Handshake,
    /// Server: accept with codec `n` of the set. Client: the server accepted with it.
    Accept(u8),
    /// Server: reject. Client: the server answered with this status.
    Reject(u16),
    /// A data message from the peer.
    Inbound(Inbound),
    Pong,
    PeerClose(Option<u16>),
    TransportClosed,
    /// Server commands, on the `n`-th token handed out.
    Respond {
        token: u8,
        payload: PayloadChoice,
        small: bool,
    },
    Fail {
        token: u8,
        failure: FailureChoice,
        small: bool,
    },
    Abandon(u8),
    SendEvent {
        kind: u8,
        payload: PayloadChoice,
        small: bool,
    },
    /// Client command.
    Request {
        endpoint: u8,
        payload: PayloadChoice,
        timeout: Option<u16>,
        small: bool,
    },
    Close {
        code: u8,
        reason: u8,
        small: bool,
    },
    /// Time moves on by 10 ms × n (nothing is called).
    Sleep(u16),
    /// `handle_timeout(now)`.
    Tick,
    /// Time jumps to `poll_timeout()`, then `handle_timeout`.
    FireNext,
    /// Stop (or resume) draining `poll_transmit` after each operation.
    Hold(bool),
    /// `poll_transmit` into a 4-byte buffer: a ping still goes; a reply or a close that does
    /// not fit stays queued.
    PollSmall,
}

#[derive(Arbitrary, Debug)]
enum Inbound {
    Request {
        id: u8,
        endpoint: u8,
        payload: PayloadChoice,
    },
    Response {
        id: u8,
        payload: PayloadChoice,
    },
    ResponseError {
        id: u8,
        body: u8,
    },
    Event {
        kind: u8,
        payload: PayloadChoice,
    },
    ErrorEvent {
        body: u8,
    },
    /// A hand-written JSON text (escapes, duplicates, whitespace, mistakes).
    Text(u8),
    Raw(Vec<u8>),
    /// A message of the other type.
    WrongKind(u8),
    /// A valid frame one byte over `max_frame_len`, or far over it.
    Oversized(bool),
}

#[derive(Arbitrary, Debug, Clone)]
enum PayloadChoice {
    /// A value already encoded in the codec's format, from a pool.
    Encoded(u8),
    /// The request's own data (server answers; otherwise the first pool value).
    Echo,
    Str(String),
    Pair(i64, bool),
    Float(f64),
    Move(i32, i32),
    /// An error body from the pool.
    Body(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FailureChoice {
    Error(u8),
    InvalidData,
    Internal,
    Timeout,
}

// ---- Pools -------------------------------------------------------------------------------

fn pick<T: Copy>(pool: &[T], n: u8) -> T {
    pool[usize::from(n) % pool.len()]
}

const LONG_48: &str = "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii";
const LONG_49: &str = "iiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiiii";
const LONG_64: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
const LONG_65: &str = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
const REASON_123: &str = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr";
const REASON_124: &str = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr";

/// Ids of requests sent to a server (the client side numbers its own).
const SERVER_IDS: [&str; 7] = ["1", "2", "a", "", LONG_48, LONG_49, "\u{e9}\"\n\u{1}"];
/// Ids of answers sent to a client: its own ids first, then strangers.
const CLIENT_IDS: [&str; 9] = ["1", "2", "3", "4", "5", "6", "0", "01", "x"];
const ENDPOINTS: [&str; 6] = ["echo", "move", "slow", "nope", LONG_64, LONG_65];
const KINDS: [&str; 7] = [
    "init",
    "error",
    "game:state",
    "",
    LONG_64,
    LONG_65,
    "\u{e9}\"\n\u{1}",
];
const CLOSE_CODES: [u16; 12] = [
    1000, 1001, 1003, 1008, 1011, 4000, 4999, 999, 1005, 1006, 1015, 5000,
];
const CLOSE_REASONS: [&str; 5] = ["", "bye", "\u{e9}", REASON_123, REASON_124];
const BODIES: [(&str, &str); 5] = [
    ("Not your turn", "not-your-turn"),
    ("", ""),
    ("q\" b\\ c\u{1} d\u{7f} e\u{2028} \u{1f600}", "busy"),
    ("Request timed out", "timeout"),
    (REASON_124, "validation-error"),
];
const JSON_VALUES: [&str; 8] = [
    "null",
    "1",
    r#"{"x":1,"y":2}"#,
    r#""caf\u00e9""#,
    "[1e400,-0.0,{ }]",
    r#""\ud83d\ude00""#,
    "true",
    r#"{"reason":"r","code":"busy"}"#,
];
const POSTCARD_VALUES: [&[u8]; 6] = [
    &[],
    &[1],
    &[2, 4],
    &[5, b'h', b'e', b'l', b'l', b'o'],
    &[0xff, 1],
    &[0; 3],
];
/// Hand-written JSON messages.
const TEXTS: [&str; 18] = [
    r#"{"id":"\u0031","type":"request","endpoint":"echo","data":1}"#,
    " {\"type\":\"request\",\"data\":{ },\"endpoint\":\"e\\u0063ho\",\"id\":\"w\"}\n",
    r#"{"id":"a","id":"b","type":"request","endpoint":"echo","data":1}"#,
    r#"{"id":"r1","type":"request","data":{"x":1,"y":2}}"#,
    r#"{"id":1,"type":"request","endpoint":"echo","data":1}"#,
    r#"{"id":"n","type":"request","endpoint":"echo","data":NaN}"#,
    r#"{"id":"t","type":"request","endpoint":"echo","data":1} x"#,
    "[1,2]",
    "",
    r#"{"id":"\u0031","type":"response","data":1}"#,
    r#"{"type":"event","kind":"error","data":{"reason":"r","code":"b\u0075sy"}}"#,
    r#"{"type":"event","kind":"error","data":{"reason":"r","code":"timeout"}}"#,
    r#"{"type":"event","kind":"error","data":{"reason":"r"}}"#,
    r#"{"id":"1","type":"response.error","data":{"reason":"r","code":"c"}}"#,
    r#"{"id":"2","type":"response.error","data":{"reason":1,"code":"c"}}"#,
    r#"{"id":"3","type":"response","data":[[[[{"a":"\ud800"}]]]]}"#,
    // An event with an id: complete, so the id is usable (its `Frame` keeps none).
    r#"{"id":"e\u0076","type":"event","kind":"k","data":1}"#,
    r#"{"type":"event","id":7,"kind":"k","data":null}"#,
];
const ERROR_CODES: [ErrorCode; 6] = ErrorCode::ALL;

fn body(n: u8) -> ErrorBody<'static> {
    let (reason, code) = pick(&BODIES, n);
    ErrorBody::new(reason, code)
}

/// A `data` to send, owned so that it outlives the message it came from.
#[derive(Clone, Debug)]
enum Value {
    Encoded(Vec<u8>),
    Str(String),
    Pair(i64, bool),
    Float(f64),
    Move(Move),
    Body(ErrorBody<'static>),
}

#[derive(Clone, Copy, Debug, Serialize)]
struct Move {
    x: i32,
    y: i32,
}

impl Payload for Value {
    fn write<C: Codec>(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Self::Encoded(bytes) => Data::new(bytes).write::<C>(out),
            Self::Str(text) => Typed(text.as_str()).write::<C>(out),
            Self::Pair(n, b) => Typed(&(n, b)).write::<C>(out),
            Self::Float(x) => Typed(x).write::<C>(out),
            Self::Move(m) => Typed(m).write::<C>(out),
            Self::Body(body) => body.write::<C>(out),
        }
    }
}

fn value(choice: &PayloadChoice, kind: MessageKind, echo: Option<&[u8]>) -> Value {
    let encoded = |n: u8| match kind {
        MessageKind::Text => Value::Encoded(pick(&JSON_VALUES, n).as_bytes().to_vec()),
        MessageKind::Binary => Value::Encoded(pick(&POSTCARD_VALUES, n).to_vec()),
    };
    match choice {
        PayloadChoice::Encoded(n) => encoded(*n),
        PayloadChoice::Echo => echo.map_or_else(|| encoded(0), |d| Value::Encoded(d.to_vec())),
        PayloadChoice::Str(text) => Value::Str(text.clone()),
        PayloadChoice::Pair(n, b) => Value::Pair(*n, *b),
        PayloadChoice::Float(x) => Value::Float(*x),
        PayloadChoice::Move(x, y) => Value::Move(Move { x: *x, y: *y }),
        PayloadChoice::Body(n) => Value::Body(body(*n)),
    }
}

/// Encodes `frame` as the model expects the connection to: the bytes, or an error when
/// they do not fit `out_len`.
fn expected_bytes<W: CodecSet, D: Payload>(
    codec: W,
    frame: &Frame<'_, D>,
    out_len: usize,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = vec![0u8; OUT_LEN];
    let len = codec.encode(frame, &mut out)?;
    if len > out_len {
        return Err(EncodeError::BufferTooSmall {
            required: Some(len),
        });
    }
    out.truncate(len);
    Ok(out)
}

fn other_kind(kind: MessageKind) -> MessageKind {
    match kind {
        MessageKind::Text => MessageKind::Binary,
        MessageKind::Binary => MessageKind::Text,
    }
}

/// The bytes of an inbound message, and its type.
fn inbound_message<W: CodecSet>(
    codec: W,
    inbound: &Inbound,
    ids: &[&str],
    max_frame_len: usize,
) -> (MessageKind, Vec<u8>) {
    let kind = codec.message_kind();
    let encode = |frame: &Frame<'_, Value>| {
        let mut out = vec![0u8; OUT_LEN * 2];
        let len = codec.encode(frame, &mut out).expect("pool frames encode");
        out.truncate(len);
        out
    };
    let id = |n: u8| Str::new(ids[usize::from(n) % ids.len()]);
    let bytes = match inbound {
        Inbound::Request {
            id: n,
            endpoint,
            payload,
        } => encode(&Frame::Request {
            id: id(*n),
            endpoint: Str::new(pick(&ENDPOINTS, *endpoint)),
            data: value(payload, kind, None),
        }),
        Inbound::Response { id: n, payload } => encode(&Frame::Response {
            id: id(*n),
            data: value(payload, kind, None),
        }),
        Inbound::ResponseError { id: n, body: b } => {
            let frame: Frame<'_, Value> = Frame::ResponseError {
                id: id(*n),
                error: body(*b),
            };
            encode(&frame)
        }
        Inbound::Event { kind: k, payload } => encode(&Frame::Event {
            kind: Str::new(pick(&KINDS, *k)),
            data: value(payload, kind, None),
        }),
        Inbound::ErrorEvent { body: b } => encode(&Frame::Event {
            kind: Str::new("error"),
            data: Value::Body(body(*b)),
        }),
        Inbound::Text(n) => pick(&TEXTS, *n).as_bytes().to_vec(),
        Inbound::Raw(bytes) => bytes.clone(),
        Inbound::WrongKind(n) => {
            return (other_kind(kind), pick(&TEXTS, *n).as_bytes().to_vec());
        }
        Inbound::Oversized(far) => {
            // A JSON string or postcard bytes that take the frame just over the limit.
            let room = if *far {
                max_frame_len * 2
            } else {
                max_frame_len
            };
            let data = match kind {
                MessageKind::Text => {
                    let mut text = vec![b'"'; 2];
                    text.splice(1..1, core::iter::repeat_n(b'a', room));
                    text
                }
                MessageKind::Binary => vec![b'a'; room],
            };
            let frame = Frame::Request {
                id: Str::new("big"),
                endpoint: Str::new("echo"),
                data: Value::Encoded(data),
            };
            let mut bytes = encode(&frame);
            if !*far {
                // Trim the data so the frame is exactly one byte over the limit.
                let over = bytes.len() - (max_frame_len + 1);
                let frame = Frame::Request {
                    id: Str::new("big"),
                    endpoint: Str::new("echo"),
                    data: Value::Encoded(match kind {
                        MessageKind::Text => {
                            let mut text = vec![b'"'; 2];
                            text.splice(1..1, core::iter::repeat_n(b'a', room - over));
                            text
                        }
                        MessageKind::Binary => vec![b'a'; room - over],
                    }),
                };
                bytes = encode(&frame);
            }
            bytes
        }
    };
    (kind, bytes)
}

/// Close codes an endpoint may send (§7).
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn rank(state: State) -> u8 {
    match state {
        State::Connecting => 0,
        State::Connected => 1,
        State::Disconnected => 2,
    }
}

// ---- The lifecycle model (both roles) ----------------------------------------------------

/// The events one operation makes due, in the order `poll_event` reports them.
#[derive(Default)]
struct Due {
    protocol_error: Option<Event>,
    failed: Vec<(u32, RequestFailure)>,
    ending: Option<Event>,
}

struct Life {
    role: Role,
    config: Config,
    client: State,
    app: State,
    accepted: bool,
    /// The terminal outcome is decided (ended, rejected or timed out).
    over: bool,
    handshake_at: Option<Instant>,
    idle_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    close_at: Option<Instant>,
    /// The code of our close frame, once we close.
    local_close: Option<u16>,
    /// A close the core decided on, waiting for `poll_transmit`.
    queued_close: Option<(u16, &'static str)>,
    ping_due: bool,
    protocol_error_reported: bool,
    due: Due,
    /// What was observed.
    close_sent: bool,
    exits: usize,
    terminal_seen: bool,
}

impl Life {
    fn new(role: Role, now: Instant, config: Config) -> Self {
        Self {
            role,
            config,
            client: State::Connecting,
            app: State::Connecting,
            accepted: false,
            over: false,
            handshake_at: Some(now + config.handshake_timeout),
            idle_at: None,
            keepalive_at: None,
            close_at: None,
            local_close: None,
            queued_close: None,
            ping_due: false,
            protocol_error_reported: false,
            due: Due::default(),
            close_sent: false,
            exits: 0,
            terminal_seen: false,
        }
    }

    fn is_open(&self) -> bool {
        self.client == State::Connected && self.app == State::Connected
    }

    /// This side's state: the application's on a server, the client's on a client.
    fn local(&self) -> State {
        match self.role {
            Role::Server => self.app,
            Role::Client => self.client,
        }
    }

    /// The other side's state.
    fn peer(&self) -> State {
        match self.role {
            Role::Server => self.client,
            Role::Client => self.app,
        }
    }

    fn set_local(&mut self, state: State) {
        match self.role {
            Role::Server => self.app = state,
            Role::Client => self.client = state,
        }
    }

    fn is_over(&self) -> bool {
        self.client == State::Disconnected && self.app == State::Disconnected
    }

    /// §8: may a message be received? `None`: refused; `Some(false)`: ignored (we sent our
    /// close frame); `Some(true)`: processed.
    fn receive(&self) -> Option<bool> {
        let refused = self.client == State::Connecting
            || self.app == State::Connecting
            || self.peer() == State::Disconnected;
        (!refused).then_some(self.local() == State::Connected)
    }

    fn stop_timers(&mut self) {
        self.handshake_at = None;
        self.idle_at = None;
        self.keepalive_at = None;
        self.close_at = None;
    }

    /// Something arrived: the idle and keep-alive clocks restart.
    fn touch(&mut self, now: Instant) {
        self.idle_at = self.config.idle_timeout.map(|d| now + d);
        self.keepalive_at = self.config.keepalive_interval.map(|d| now + d);
    }

    /// §8: the client's handshake step (server: the upgrade arrives; client: it is sent).
    fn connect(&mut self) -> bool {
        let ok = self.client == State::Connecting;
        if ok {
            self.client = State::Connected;
        }
        ok
    }

    fn can_answer_handshake(&self) -> bool {
        self.client == State::Connected && self.app == State::Connecting
    }

    fn accept(&mut self, now: Instant) -> bool {
        let ok = self.can_answer_handshake();
        if ok {
            self.app = State::Connected;
            self.accepted = true;
            self.handshake_at = None;
            self.touch(now);
        }
        ok
    }

    fn reject(&mut self, event: Option<Event>) -> bool {
        let ok = self.can_answer_handshake();
        if ok {
            self.client = State::Disconnected;
            self.app = State::Disconnected;
            self.stop_timers();
            self.over = true;
            self.due.ending = event;
        }
        ok
    }

    /// The application may send a data frame (or close).
    fn can_send(&self) -> bool {
        self.is_open()
    }

    /// Checks the result of `close(code, reason)` into `room` bytes of `out`: refused unless
    /// it may be sent, else the close frame with its reason written. True when it closed.
    fn closed(
        &mut self,
        now: Instant,
        (code, reason, room): (u16, &str, usize),
        result: Result<Transmit, CallError>,
        out: &[u8],
    ) -> bool {
        let ok = reason.len() <= room
            && self.can_send()
            && sendable_close_code(code)
            && reason.len() <= crate::limits::MAX_CLOSE_REASON_LEN;
        if !ok {
            assert!(result.is_err(), "close({code}, {reason:?}): {result:?}");
            return false;
        }
        let transmit = Transmit::Close {
            code,
            reason_len: reason.len(),
        };
        assert_eq!(result, Ok(transmit), "close");
        assert_eq!(&out[..reason.len()], reason.as_bytes());
        self.transmitted(&transmit);
        self.start_close(now, code);
        true
    }

    fn start_close(&mut self, now: Instant, code: u16) {
        self.set_local(State::Disconnected);
        self.local_close = Some(code);
        self.ping_due = false;
        self.stop_timers();
        self.close_at = Some(now + self.config.close_timeout);
    }

    /// The core closes because the peer broke the protocol (or went idle).
    fn fail(&mut self, now: Instant, error: ProtocolError) {
        if self.local() != State::Connected {
            return;
        }
        self.queued_close = Some(error.close());
        if !self.protocol_error_reported {
            self.protocol_error_reported = true;
            self.due.protocol_error = Some(Event::ProtocolError(error));
        }
        self.start_close(now, error.close().0);
    }

    fn end(&mut self, exit: Exit) {
        self.client = State::Disconnected;
        self.app = State::Disconnected;
        self.queued_close = None;
        self.ping_due = false;
        self.stop_timers();
        if !self.over {
            self.over = true;
            if self.accepted {
                self.due.ending = Some(Event::Exit(exit));
            }
        }
    }

    fn peer_close(&mut self, code: Option<u16>) -> bool {
        if self.client == State::Connecting || self.peer() != State::Connected {
            return false;
        }
        let exit = match self.local_close {
            Some(ours) => Exit {
                initiator: Initiator::Local,
                code: Some(ours),
                clean: true,
            },
            None => Exit {
                initiator: Initiator::Peer,
                code,
                clean: true,
            },
        };
        self.end(exit);
        true
    }

    fn transport_closed(&mut self) {
        if self.is_over() {
            return;
        }
        let exit = Exit {
            initiator: if self.local_close.is_some() {
                Initiator::Local
            } else {
                Initiator::Transport
            },
            code: self.local_close,
            clean: false,
        };
        self.end(exit);
    }

    /// The lifecycle timers due at `now`; one fires per call, in the order handshake, close,
    /// idle, keep-alive.
    fn timeout(&mut self, now: Instant) {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        if due(self.handshake_at) {
            self.stop_timers();
            if self.app == State::Connecting {
                self.client = State::Disconnected;
                self.app = State::Disconnected;
                self.over = true;
                self.due.ending = Some(Event::HandshakeTimedOut);
            }
        } else if due(self.close_at) {
            self.end(Exit {
                initiator: Initiator::Local,
                code: self.local_close,
                clean: false,
            });
        } else if due(self.idle_at) {
            self.fail(now, ProtocolError::IdleTimeout);
        } else if due(self.keepalive_at) {
            self.ping_due = true;
            self.keepalive_at = self.config.keepalive_interval.map(|d| now + d);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.handshake_at,
            self.idle_at,
            self.keepalive_at,
            self.close_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A transmit went out: nothing may follow our close frame or the connection's end.
    fn transmitted(&mut self, transmit: &Transmit) {
        assert!(!self.close_sent, "{transmit:?} sent after our close frame");
        assert!(
            !self.is_over(),
            "{transmit:?} sent after the connection ended"
        );
        if let Transmit::Close { .. } = transmit {
            self.close_sent = true;
        }
    }

    /// Compares the events polled with the ones due.
    fn events(&mut self, polled: &[Event]) {
        let mut due = core::mem::take(&mut self.due);
        due.failed.sort_by_key(|&(id, _)| id);
        let expected: Vec<Event> = due
            .protocol_error
            .into_iter()
            .chain(due.failed.iter().map(|&(id, cause)| Event::RequestFailed {
                request: RequestId(id),
                cause,
            }))
            .chain(due.ending)
            .collect();
        assert_eq!(polled, expected.as_slice(), "events");
        for event in polled {
            assert!(!self.terminal_seen, "{event:?} after the terminal event");
            match event {
                Event::Exit(_) => {
                    self.exits += 1;
                    self.terminal_seen = true;
                }
                Event::HandshakeTimedOut | Event::Rejected { .. } => self.terminal_seen = true,
                _ => {}
            }
        }
        assert!(self.exits <= 1, "more than one exit");
    }

    /// States match the model and never move backwards.
    fn states(&self, client: State, app: State, before: (State, State)) {
        assert_eq!(
            (client, app),
            (self.client, self.app),
            "(client, app) states"
        );
        assert!(
            rank(client) >= rank(before.0) && rank(app) >= rank(before.1),
            "a state moved backwards: {before:?} -> {:?}",
            (client, app)
        );
    }

    /// The run is over: the exit came exactly once if the connection was accepted.
    fn finished(&self) {
        assert_eq!(
            (self.client, self.app),
            (State::Disconnected, State::Disconnected)
        );
        assert_eq!(self.exits, usize::from(self.accepted), "exit events");
    }
}

fn out_len(small: bool) -> usize {
    if small { SMALL_OUT_LEN } else { OUT_LEN }
}

// ---- Server ------------------------------------------------------------------------------

/// A token handed out by `handle_message`.
struct Issued {
    token: RequestToken,
    id: String,
    data: Vec<u8>,
    open: bool,
}

/// An answer the core composed itself: with the id (`response.error`) or without.
#[derive(Debug)]
struct Reply {
    id: Option<String>,
    code: ErrorCode,
}

struct ServerRun<W: CodecSet> {
    conn: ServerConnection<W, IN_FLIGHT, QUEUE>,
    life: Life,
    setup_answer_first: bool,
    now: Instant,
    hold: bool,
    codec: Option<W>,
    issued: Vec<Issued>,
    replies: VecDeque<Reply>,
    bad_frames: u16,
    out: Vec<u8>,
}

impl<W: CodecSet> ServerRun<W> {
    fn new(setup: &Setup) -> Self {
        let now = Instant::from_millis(1_000);
        let config = setup.config();
        Self {
            conn: ServerConnection::new(now, config),
            life: Life::new(Role::Server, now, config),
            setup_answer_first: setup.answer_before_end,
            now,
            hold: false,
            codec: None,
            issued: Vec::new(),
            replies: VecDeque::new(),
            bad_frames: 0,
            out: vec![0u8; OUT_LEN],
        }
    }

    fn kind(&self) -> MessageKind {
        self.codec
            .unwrap_or_else(W::without_subprotocol)
            .message_kind()
    }

    fn run(mut self, ops: impl Iterator<Item = Op>) {
        for op in ops {
            let before = (self.conn.client_state(), self.conn.app_state());
            self.step(op);
            self.after_step(before);
        }
        self.hold = false;
        self.after_step((self.conn.client_state(), self.conn.app_state()));
        if self.setup_answer_first {
            self.answer_all();
        }
        let before = (self.conn.client_state(), self.conn.app_state());
        self.conn.handle_transport_closed(self.now);
        self.life.transport_closed();
        self.replies.clear();
        self.after_step(before);
        self.answer_all();
        self.after_step((self.conn.client_state(), self.conn.app_state()));
        self.life.finished();
        assert_eq!(self.conn.in_flight(), 0);
        assert!(self.conn.is_drained(), "not drained at the end");
        assert_eq!(self.conn.poll_timeout(), None);
        assert_eq!(self.conn.poll_event(), None);
        assert_eq!(self.conn.poll_transmit(self.now, &mut self.out), Ok(None));
    }

    /// Answers every open request once, then checks a second answer is refused.
    fn answer_all(&mut self) {
        for n in 0..self.issued.len() {
            let index = u8::try_from(n).unwrap_or(u8::MAX);
            if self.issued[n].open {
                self.respond(index, &PayloadChoice::Echo, false);
                assert!(!self.issued[n].open);
            }
            self.respond(index, &PayloadChoice::Echo, false);
        }
    }

    fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Handshake => {
                let ok = self.life.connect();
                assert_eq!(self.conn.handle_upgrade(now).is_ok(), ok, "handle_upgrade");
            }
            Op::Accept(n) => {
                let codec = W::from_subprotocol(pick(W::SUBPROTOCOLS, n)).expect("in the set");
                let ok = self.life.accept(now);
                assert_eq!(self.conn.accept(now, codec).is_ok(), ok, "accept");
                if ok {
                    self.codec = Some(codec);
                }
            }
            Op::Reject(_) => {
                let ok = self.life.reject(None);
                assert_eq!(self.conn.reject(now).is_ok(), ok, "reject");
            }
            Op::Inbound(inbound) => {
                let codec = self.codec.unwrap_or_else(W::without_subprotocol);
                let max = self.life.config.max_frame_len;
                let (kind, bytes) = inbound_message(codec, &inbound, &SERVER_IDS, max);
                self.message(kind, &bytes);
            }
            Op::Pong => {
                if self.life.is_open() {
                    self.life.touch(now);
                }
                self.conn.handle_pong(now);
            }
            Op::PeerClose(code) => {
                let ok = self.life.peer_close(code);
                assert_eq!(
                    self.conn.handle_close(now, code).is_ok(),
                    ok,
                    "handle_close"
                );
                if ok {
                    self.replies.clear();
                }
            }
            Op::TransportClosed => {
                self.conn.handle_transport_closed(now);
                self.life.transport_closed();
                self.replies.clear();
            }
            Op::Respond {
                token,
                payload,
                small,
            } => self.respond(token, &payload, small),
            Op::Fail {
                token,
                failure,
                small,
            } => self.fail(token, failure, small),
            Op::Abandon(n) => {
                let Some(issued) = self.issued_mut(n) else {
                    return;
                };
                let (token, open) = (issued.token, issued.open);
                issued.open = false;
                let result = self.conn.abandon(token);
                if open {
                    assert_eq!(result, Ok(()), "abandon");
                } else {
                    assert_eq!(result, Err(CallError::UnknownRequest), "abandon twice");
                }
            }
            Op::SendEvent {
                kind,
                payload,
                small,
            } => self.send_event(kind, &payload, small),
            Op::Request { .. } => {}
            Op::Close {
                code,
                reason,
                small,
            } => self.close(code, reason, small),
            Op::Sleep(n) => self.now = now + Duration::from_millis(u64::from(n) * 10),
            Op::Tick => self.tick(),
            Op::FireNext => {
                if let Some(at) = self.conn.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.tick();
            }
            Op::Hold(hold) => self.hold = hold,
            Op::PollSmall => {
                let got = self.conn.poll_transmit(self.now, &mut self.out[..4]);
                if core::mem::take(&mut self.life.ping_due) {
                    assert_eq!(got, Ok(Some(Transmit::Ping)), "poll_transmit (small)");
                    self.life.transmitted(&Transmit::Ping);
                } else if !self.replies.is_empty() || self.life.queued_close.is_some() {
                    // Every reply and every close reason the core writes is over 4 bytes.
                    assert!(got.is_err(), "a reply or close in 4 bytes: {got:?}");
                } else {
                    assert_eq!(got, Ok(None), "poll_transmit (small)");
                }
            }
        }
    }

    fn tick(&mut self) {
        self.conn.handle_timeout(self.now);
        self.life.timeout(self.now);
        if self.life.is_over() {
            self.replies.clear();
        }
    }

    fn issued_mut(&mut self, n: u8) -> Option<&mut Issued> {
        let len = self.issued.len();
        (len > 0).then(|| &mut self.issued[usize::from(n) % len])
    }

    /// §5, §6 and §8 for one inbound message.
    fn message(&mut self, kind: MessageKind, bytes: &[u8]) {
        let now = self.now;
        let result = self.conn.handle_message(now, kind, bytes, &ROUTES);
        let Some(process) = self.life.receive() else {
            assert!(
                result.is_err(),
                "a message before accept or after the end: {result:?}"
            );
            return;
        };
        if !process {
            assert_eq!(
                result,
                Ok(ServerReceived::Ignored),
                "a message after our close"
            );
            return;
        }
        if self.replies.len() == QUEUE {
            assert_eq!(
                result,
                Err(CallError::TransmitQueueFull),
                "a full reply queue"
            );
            return;
        }
        let codec = self.codec.expect("accepted");
        self.life.touch(now);
        if kind != codec.message_kind() {
            let error = ProtocolError::UnsupportedMessageKind;
            self.life.fail(now, error);
            assert_eq!(
                result,
                Ok(ServerReceived::Closing(error)),
                "wrong message type"
            );
            return;
        }
        let decoded = codec.decode(bytes, self.life.config.max_frame_len);
        let (id, code) = match decoded {
            Err(failure) => {
                let code = match failure.error {
                    DecodeError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
                    _ => ErrorCode::ValidationError,
                };
                (failure.id.map(|id| id.chars().collect()), code)
            }
            Ok(Frame::Request { id, endpoint, data }) => {
                match ROUTES.iter().position(|r| endpoint == *r) {
                    None => (Some(id.chars().collect()), ErrorCode::InvalidEndpoint),
                    Some(route) => {
                        self.bad_frames = 0;
                        let open = self.issued.iter().filter(|i| i.open).count();
                        if open == IN_FLIGHT {
                            (Some(id.chars().collect()), ErrorCode::Busy)
                        } else {
                            let Ok(ServerReceived::Request(request)) = result else {
                                panic!("a routable request, got {result:?}");
                            };
                            assert_eq!(request.route, RouteId(route as u16));
                            assert!(request.id == id && request.endpoint == endpoint);
                            assert_eq!(request.data, data);
                            assert_eq!(request.codec, codec);
                            assert!(
                                self.issued
                                    .iter()
                                    .all(|i| !i.open || i.token != request.token),
                                "a token handed out twice"
                            );
                            self.issued.push(Issued {
                                token: request.token,
                                id: id.chars().collect(),
                                data: data.as_bytes().to_vec(),
                                open: true,
                            });
                            return;
                        }
                    }
                }
            }
            Ok(other) => (
                // The model's frames nest far less deeply than serde_json's limit.
                super::codec::expected_usable_id(kind, bytes, &other)
                    .expect("serde_json reads every frame the model sends"),
                ErrorCode::ValidationError,
            ),
        };
        let Ok(ServerReceived::Refused(refusal)) = result else {
            panic!("expected a refusal ({code:?}), got {result:?}");
        };
        assert_eq!(refusal.code, code, "refusal code");
        let id = match self.life.config.profile {
            Profile::Seed000 => None,
            _ => id,
        };
        self.replies.push_back(Reply { id, code });
        if code != ErrorCode::Busy {
            self.bad_frames = self.bad_frames.saturating_add(1);
            if self
                .life
                .config
                .max_consecutive_bad_frames
                .is_some_and(|max| self.bad_frames > max)
            {
                self.life.fail(now, ProtocolError::TooManyBadFrames);
            }
        }
    }

    /// An answer to the `n`-th token: once, while the connection can carry it. `expected`
    /// encodes the frame the model expects for the request's id.
    fn answer(
        &mut self,
        n: u8,
        small: bool,
        expected: impl FnOnce(W, Str<'_>, usize) -> Result<Vec<u8>, EncodeError>,
        call: impl FnOnce(&mut Self, RequestToken, usize) -> Result<Transmit, CallError>,
    ) {
        let codec = self.codec;
        let can_send = self.life.can_send();
        let Some(issued) = self.issued_mut(n) else {
            return;
        };
        let (token, open, id) = (issued.token, issued.open, issued.id.clone());
        let out_len = out_len(small);
        let result = call(self, token, out_len);
        if !open {
            assert_eq!(
                result,
                Err(CallError::UnknownRequest),
                "a token answered twice"
            );
            return;
        }
        if !can_send {
            // Nobody will read it: the request is over.
            assert!(result.is_err(), "an answer sent on a closed connection");
            self.issued_mut(n).expect("issued").open = false;
            return;
        }
        let codec = codec.expect("a token means accepted");
        let expected = expected(codec, Str::new(&id), out_len);
        self.check_sent(result, expected, codec);
        if result.is_ok() {
            self.issued_mut(n).expect("issued").open = false;
        }
    }

    fn respond(&mut self, n: u8, payload: &PayloadChoice, small: bool) {
        let kind = self.kind();
        let echo = self
            .issued_mut(n)
            .map(|issued| issued.data.clone())
            .unwrap_or_default();
        let data = value(payload, kind, Some(&echo));
        let now = self.now;
        self.answer(
            n,
            small,
            |codec, id, len| expected_bytes(codec, &Frame::Response { id, data: &data }, len),
            |run, token, len| run.conn.respond(now, token, &data, &mut run.out[..len]),
        );
    }

    fn fail(&mut self, n: u8, failure: FailureChoice, small: bool) {
        let profile = self.life.config.profile;
        let now = self.now;
        let failure = match failure {
            FailureChoice::Error(b) => Failure::Error(body(b)),
            FailureChoice::InvalidData => Failure::InvalidData,
            FailureChoice::Internal => Failure::Internal,
            FailureChoice::Timeout => Failure::Timeout,
        };
        // §5.1: what each failure looks like on the wire, per profile.
        let error = match failure {
            Failure::Error(error) => Err(error),
            Failure::InvalidData if profile == Profile::Seed000 => Ok(ErrorCode::InternalError),
            Failure::InvalidData => Ok(ErrorCode::ValidationError),
            Failure::Internal => Ok(ErrorCode::InternalError),
            Failure::Timeout => Ok(ErrorCode::Timeout),
        };
        let expected = |codec: W, id: Str<'_>, len: usize| {
            let frame: Frame<'_, ErrorBody<'_>> = match (error, profile) {
                (Err(error), _) => Frame::ResponseError { id, error },
                (Ok(code), Profile::Seed000) => Frame::Event {
                    kind: Str::new("error"),
                    data: code.body(),
                },
                (Ok(code), _) => Frame::ResponseError {
                    id,
                    error: code.body(),
                },
            };
            expected_bytes(codec, &frame, len)
        };
        self.answer(n, small, expected, |run, token, len| {
            run.conn.fail(now, token, failure, &mut run.out[..len])
        });
    }

    fn send_event(&mut self, k: u8, payload: &PayloadChoice, small: bool) {
        let event_kind = pick(&KINDS, k);
        let data = value(payload, self.kind(), None);
        let len = out_len(small);
        let result = self
            .conn
            .send_event(self.now, event_kind, &data, &mut self.out[..len]);
        if !self.life.can_send() || event_kind.len() > crate::limits::MAX_NAME_LEN {
            assert!(result.is_err(), "send_event: {result:?}");
            return;
        }
        let codec = self.codec.expect("accepted");
        let frame = Frame::Event {
            kind: Str::new(event_kind),
            data,
        };
        self.check_sent(result, expected_bytes(codec, &frame, len), codec);
    }

    fn close(&mut self, c: u8, r: u8, small: bool) {
        let (code, reason) = (pick(&CLOSE_CODES, c), pick(&CLOSE_REASONS, r));
        let len = if small { 2 } else { OUT_LEN };
        let result = self
            .conn
            .close(self.now, code, reason, &mut self.out[..len]);
        if self
            .life
            .closed(self.now, (code, reason, len), result, &self.out)
        {
            self.replies.clear();
        }
    }

    /// A command that sends: the transmit and the bytes are the expected ones.
    fn check_sent(
        &mut self,
        result: Result<Transmit, CallError>,
        expected: Result<Vec<u8>, EncodeError>,
        codec: W,
    ) {
        match (result, expected) {
            (Ok(transmit), Ok(bytes)) => {
                assert_eq!(
                    transmit,
                    Transmit::Message {
                        kind: codec.message_kind(),
                        len: bytes.len()
                    }
                );
                assert_eq!(&self.out[..bytes.len()], bytes.as_slice(), "bytes sent");
                decodes(codec, &bytes);
                self.life.transmitted(&transmit);
            }
            (Err(CallError::Encode(_)), Err(_)) => {}
            (result, expected) => panic!("sent {result:?}, expected {expected:?}"),
        }
    }

    fn after_step(&mut self, before: (State, State)) {
        if !self.hold {
            self.drain_transmits();
        }
        let next = self.life.next_deadline();
        assert_eq!(self.conn.poll_timeout(), next, "poll_timeout");
        let events = drain_events(|| self.conn.poll_event());
        self.life.events(&events);
        self.life
            .states(self.conn.client_state(), self.conn.app_state(), before);
        let open = self.issued.iter().filter(|i| i.open).count();
        assert!(self.conn.in_flight() <= IN_FLIGHT);
        assert_eq!(self.conn.in_flight(), open, "requests in flight");
        assert_eq!(self.conn.codec(), self.codec);
    }

    /// `poll_transmit` gives the ping, the replies in order, then the close the core queued.
    fn drain_transmits(&mut self) {
        let codec = self.codec;
        let ping = core::mem::take(&mut self.life.ping_due);
        let replies: Vec<Reply> = self.replies.drain(..).collect();
        let close = self.life.queued_close.take();
        let mut expected: Vec<Result<Transmit, Vec<u8>>> = Vec::new();
        if ping {
            expected.push(Ok(Transmit::Ping));
        }
        for reply in &replies {
            let codec = codec.expect("replies need a codec");
            let error = reply.code.body();
            let frame: Frame<'_, ErrorBody<'_>> = match &reply.id {
                Some(id) => Frame::ResponseError {
                    id: Str::new(id),
                    error,
                },
                None => Frame::Event {
                    kind: Str::new("error"),
                    data: error,
                },
            };
            expected.push(Err(expected_bytes(codec, &frame, OUT_LEN).expect("fits")));
        }
        if let Some((code, reason)) = close {
            expected.push(Ok(Transmit::Close {
                code,
                reason_len: reason.len(),
            }));
        }
        for want in expected {
            let got = self.conn.poll_transmit(self.now, &mut self.out);
            let Ok(Some(transmit)) = got else {
                panic!("poll_transmit gave {got:?}, expected {want:?}");
            };
            match want {
                Ok(want) => assert_eq!(transmit, want, "poll_transmit"),
                Err(bytes) => {
                    let codec = codec.expect("replies need a codec");
                    assert_eq!(
                        transmit,
                        Transmit::Message {
                            kind: codec.message_kind(),
                            len: bytes.len()
                        }
                    );
                    assert_eq!(&self.out[..bytes.len()], bytes.as_slice(), "reply bytes");
                    decodes(codec, &bytes);
                }
            }
            self.life.transmitted(&transmit);
        }
        let more = self.conn.poll_transmit(self.now, &mut self.out);
        assert_eq!(more, Ok(None), "unexpected transmit");
    }
}

/// The events a connection has to report, which must end.
fn drain_events(mut poll_event: impl FnMut() -> Option<Event>) -> Vec<Event> {
    let mut events = Vec::new();
    while let Some(event) = poll_event() {
        events.push(event);
        assert!(events.len() <= 8, "endless events");
    }
    events
}

/// Every data message sent decodes with the connection's codec.
fn decodes<W: CodecSet>(codec: W, bytes: &[u8]) {
    if let Err(failure) = codec.decode(bytes, usize::MAX) {
        panic!("sent a frame that does not decode ({failure:?}): {bytes:?}");
    }
}

// ---- Client ------------------------------------------------------------------------------

struct ClientRun<W: CodecSet> {
    conn: ClientConnection<W, PENDING>,
    life: Life,
    now: Instant,
    hold: bool,
    codec: Option<W>,
    /// Requests waiting for an answer, and their deadlines.
    waiting: BTreeMap<u32, Instant>,
    next_id: u32,
    /// Requests that completed (answered or failed).
    completed: Vec<u32>,
    out: Vec<u8>,
}

impl<W: CodecSet> ClientRun<W> {
    fn new(setup: &Setup) -> Self {
        let now = Instant::from_millis(1_000);
        let config = setup.config();
        Self {
            conn: ClientConnection::new(now, config),
            life: Life::new(Role::Client, now, config),
            now,
            hold: false,
            codec: None,
            waiting: BTreeMap::new(),
            next_id: 1,
            completed: Vec::new(),
            out: vec![0u8; OUT_LEN],
        }
    }

    fn run(mut self, ops: impl Iterator<Item = Op>) {
        for op in ops {
            let before = (self.conn.client_state(), self.conn.app_state());
            self.step(op);
            self.after_step(before);
        }
        self.hold = false;
        let before = (self.conn.client_state(), self.conn.app_state());
        self.conn.handle_transport_closed(self.now);
        self.life.transport_closed();
        self.fail_waiting(RequestFailure::Disconnected);
        self.after_step(before);
        self.life.finished();
        assert!(self.waiting.is_empty());
        assert_eq!(self.conn.pending(), 0);
        assert!(self.conn.is_drained(), "not drained at the end");
        assert_eq!(self.conn.poll_timeout(), None);
        assert_eq!(self.conn.poll_event(), None);
        assert_eq!(self.conn.poll_transmit(self.now, &mut self.out), Ok(None));
    }

    fn complete(&mut self, id: u32) {
        assert!(
            !self.completed.contains(&id),
            "request {id} completed twice"
        );
        self.completed.push(id);
    }

    fn fail_waiting(&mut self, cause: RequestFailure) {
        let waiting = core::mem::take(&mut self.waiting);
        self.life
            .due
            .failed
            .extend(waiting.into_keys().map(|id| (id, cause)));
    }

    fn step(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Handshake => {
                let ok = self.life.connect();
                assert_eq!(self.conn.connect(now).is_ok(), ok, "connect");
            }
            Op::Accept(n) => {
                let codec = W::from_subprotocol(pick(W::SUBPROTOCOLS, n)).expect("in the set");
                let ok = self.life.accept(now);
                assert_eq!(
                    self.conn.handle_accepted(now, codec).is_ok(),
                    ok,
                    "accepted"
                );
                if ok {
                    self.codec = Some(codec);
                }
            }
            Op::Reject(status) => {
                let ok = self.life.reject(Some(Event::Rejected { status }));
                let result = self.conn.handle_rejected(now, status);
                assert_eq!(result.is_ok(), ok, "rejected");
            }
            Op::Inbound(inbound) => {
                let codec = self.codec.unwrap_or_else(W::without_subprotocol);
                let max = self.life.config.max_frame_len;
                let (kind, bytes) = inbound_message(codec, &inbound, &CLIENT_IDS, max);
                self.message(kind, &bytes);
            }
            Op::Pong => {
                if self.life.is_open() {
                    self.life.touch(now);
                }
                self.conn.handle_pong(now);
            }
            Op::PeerClose(code) => {
                let ok = self.life.peer_close(code);
                assert_eq!(
                    self.conn.handle_close(now, code).is_ok(),
                    ok,
                    "handle_close"
                );
                if ok {
                    self.fail_waiting(RequestFailure::Disconnected);
                }
            }
            Op::TransportClosed => {
                self.conn.handle_transport_closed(now);
                self.life.transport_closed();
                self.fail_waiting(RequestFailure::Disconnected);
            }
            Op::Request {
                endpoint,
                payload,
                timeout,
                small,
            } => self.request(endpoint, &payload, timeout, small),
            Op::Close {
                code,
                reason,
                small,
            } => self.close(code, reason, small),
            Op::Sleep(n) => self.now = now + Duration::from_millis(u64::from(n) * 10),
            Op::Tick => self.tick(),
            Op::FireNext => {
                if let Some(at) = self.conn.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.tick();
            }
            Op::Hold(hold) => self.hold = hold,
            Op::PollSmall => {
                let got = self.conn.poll_transmit(self.now, &mut self.out[..4]);
                if core::mem::take(&mut self.life.ping_due) {
                    assert_eq!(got, Ok(Some(Transmit::Ping)), "poll_transmit (small)");
                    self.life.transmitted(&Transmit::Ping);
                } else if let Some((_, reason)) = self.life.queued_close {
                    assert!(reason.len() > 4);
                    assert!(got.is_err(), "a close reason in 4 bytes: {got:?}");
                } else {
                    assert_eq!(got, Ok(None), "poll_transmit (small)");
                }
            }
            Op::Respond { .. } | Op::Fail { .. } | Op::Abandon(_) | Op::SendEvent { .. } => {}
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        self.conn.handle_timeout(now);
        self.life.timeout(now);
        let expired: Vec<u32> = self
            .waiting
            .iter()
            .filter(|&(_, &deadline)| deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            self.waiting.remove(&id);
            self.life.due.failed.push((id, RequestFailure::Timeout));
        }
        if self.life.client == State::Disconnected {
            self.fail_waiting(RequestFailure::Disconnected);
        }
    }

    fn request(&mut self, e: u8, payload: &PayloadChoice, timeout: Option<u16>, small: bool) {
        let endpoint = pick(&ENDPOINTS, e);
        let kind = self.codec.map_or(MessageKind::Text, |c| c.message_kind());
        let data = value(payload, kind, None);
        let timeout = timeout.map(|n| Duration::from_millis(u64::from(n) * 10));
        let len = out_len(small);
        let result = self
            .conn
            .request(self.now, endpoint, &data, timeout, &mut self.out[..len]);
        if !self.life.can_send()
            || endpoint.len() > crate::limits::MAX_NAME_LEN
            || self.waiting.len() == PENDING
        {
            assert!(result.is_err(), "request: {result:?}");
            return;
        }
        let codec = self.codec.expect("accepted");
        let id = self.next_id;
        let wire_id = id.to_string();
        let frame = Frame::Request {
            id: Str::new(&wire_id),
            endpoint: Str::new(endpoint),
            data,
        };
        let expected = expected_bytes(codec, &frame, len);
        match (result, expected) {
            (Ok((request, transmit)), Ok(bytes)) => {
                assert_eq!(request, RequestId(id), "request id");
                assert_eq!(
                    transmit,
                    Transmit::Message {
                        kind: codec.message_kind(),
                        len: bytes.len()
                    }
                );
                assert_eq!(&self.out[..bytes.len()], bytes.as_slice(), "request bytes");
                decodes(codec, &bytes);
                self.life.transmitted(&transmit);
                let deadline = self.now + timeout.unwrap_or(self.life.config.request_timeout);
                self.waiting.insert(id, deadline);
                self.next_id += 1;
            }
            (Err(CallError::Encode(_)), Err(_)) => {}
            (result, expected) => panic!("request gave {result:?}, expected {expected:?}"),
        }
    }

    fn close(&mut self, c: u8, r: u8, small: bool) {
        let (code, reason) = (pick(&CLOSE_CODES, c), pick(&CLOSE_REASONS, r));
        let len = if small { 2 } else { OUT_LEN };
        let result = self
            .conn
            .close(self.now, code, reason, &mut self.out[..len]);
        self.life
            .closed(self.now, (code, reason, len), result, &self.out);
    }

    /// §5.2 for one inbound message.
    fn message(&mut self, kind: MessageKind, bytes: &[u8]) {
        let now = self.now;
        let result = self.conn.handle_message(now, kind, bytes);
        let Some(process) = self.life.receive() else {
            assert!(
                result.is_err(),
                "a message before accept or after the end: {result:?}"
            );
            return;
        };
        if !process {
            assert_eq!(
                result,
                Ok(ClientReceived::Closing),
                "a message after our close"
            );
            return;
        }
        let codec = self.codec.expect("accepted");
        self.life.touch(now);
        if kind != codec.message_kind() {
            let error = ProtocolError::UnsupportedMessageKind;
            self.life.fail(now, error);
            assert_eq!(result, Ok(ClientReceived::ProtocolError(error)));
            return;
        }
        let expected = match codec.decode(bytes, self.life.config.max_frame_len) {
            Err(failure) => ClientReceived::Ignored(Unusable::Malformed(failure.error)),
            Ok(Frame::Response { id, data }) => match self.settle(id) {
                Some(request) => ClientReceived::Response { request, data },
                None => ClientReceived::Ignored(Unusable::UnknownId),
            },
            Ok(Frame::ResponseError { id, error }) => match self.settle(id) {
                Some(request) => ClientReceived::Failed { request, error },
                None => ClientReceived::Ignored(Unusable::UnknownId),
            },
            Ok(Frame::Event {
                kind: event_kind,
                data,
            }) => {
                if self.life.config.profile == Profile::Seed000 && event_kind == "error" {
                    // The seed answers errors without ids: the oldest request fails.
                    let code = codec
                        .decode_error_body(data)
                        .ok()
                        .and_then(|body| ERROR_CODES.into_iter().find(|c| body.code == c.as_str()));
                    if let Some((&id, _)) = self.waiting.first_key_value() {
                        self.waiting.remove(&id);
                        let cause = RequestFailure::ErrorEvent(code);
                        self.life.due.failed.push((id, cause));
                    }
                }
                ClientReceived::Event {
                    kind: event_kind,
                    data,
                }
            }
            Ok(Frame::Request { .. }) => ClientReceived::Ignored(Unusable::RequestFrame),
        };
        assert_eq!(result, Ok(expected), "handle_message");
        if let ClientReceived::Response { request, .. } | ClientReceived::Failed { request, .. } =
            expected
        {
            self.complete(request.0);
        }
    }

    /// The waiting request whose decimal id is `id`, now answered.
    fn settle(&mut self, id: Str<'_>) -> Option<RequestId> {
        let found = self
            .waiting
            .keys()
            .copied()
            .find(|n| id == n.to_string().as_str())?;
        self.waiting.remove(&found);
        Some(RequestId(found))
    }

    fn after_step(&mut self, before: (State, State)) {
        if !self.hold {
            let ping = core::mem::take(&mut self.life.ping_due);
            let close = self.life.queued_close.take();
            let expected =
                ping.then_some(Transmit::Ping)
                    .into_iter()
                    .chain(close.map(|(code, reason)| Transmit::Close {
                        code,
                        reason_len: reason.len(),
                    }));
            for want in expected {
                let got = self.conn.poll_transmit(self.now, &mut self.out);
                assert_eq!(got, Ok(Some(want)), "poll_transmit");
                self.life.transmitted(&want);
            }
            let more = self.conn.poll_transmit(self.now, &mut self.out);
            assert_eq!(more, Ok(None), "unexpected transmit");
        }
        let deadlines = if self.life.client == State::Connected {
            self.waiting.values().copied().min()
        } else {
            None
        };
        let next = [self.life.next_deadline(), deadlines]
            .into_iter()
            .flatten()
            .min();
        assert_eq!(self.conn.poll_timeout(), next, "poll_timeout");
        let events = drain_events(|| self.conn.poll_event());
        for event in &events {
            if let Event::RequestFailed { request, .. } = event {
                self.complete(request.0);
            }
        }
        self.life.events(&events);
        self.life
            .states(self.conn.client_state(), self.conn.app_state(), before);
        assert!(self.conn.pending() <= PENDING);
        assert_eq!(self.conn.pending(), self.waiting.len(), "pending requests");
        assert_eq!(self.conn.codec(), self.codec);
    }
}
