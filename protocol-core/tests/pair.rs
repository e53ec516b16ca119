//! A client core and a server core wired together in memory, with a virtual clock. The link
//! has plain knobs (latency, drop everything); the harness plays the WebSocket layer's part:
//! it answers pings with pongs and echoes a close frame the way RFC 6455 says.

use std::collections::VecDeque;

use protocol_core::connection::{
    ClientReceived, Failure, Initiator, RequestFailure, RequestId, RequestToken, ServerReceived,
};
use protocol_core::{
    AnyCodec, ClientConnection, Config, Data, Duration, ErrorBody, Event, Instant, MessageKind,
    ServerConnection, State, Transmit, Typed, negotiate,
};

const ROUTES: [&str; 3] = ["echo", "later", "push"];

#[derive(Clone, Debug, PartialEq)]
enum Wire {
    Message(MessageKind, Vec<u8>),
    Ping,
    Pong,
    Close(u16),
}

#[derive(Default)]
struct Link {
    latency: Duration,
    /// Frames in flight: when each arrives.
    queue: VecDeque<(Instant, Wire)>,
    /// Drop every frame sent from now on (a dead peer).
    drop_all: bool,
}

impl Link {
    fn send(&mut self, now: Instant, wire: Wire) {
        if !self.drop_all {
            self.queue.push_back((now + self.latency, wire));
        }
    }
}

struct Pair {
    now: Instant,
    client: ClientConnection<AnyCodec>,
    server: ServerConnection<AnyCodec>,
    to_server: Link,
    to_client: Link,
    client_got: Vec<String>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Requests the server app holds to answer later.
    held: Vec<(RequestToken, Vec<u8>)>,
    /// Whether each side's WebSocket layer has sent its close frame.
    client_closed: bool,
    server_closed: bool,
}

fn text(kind: MessageKind, bytes: &[u8], codec: AnyCodec) -> String {
    match (kind, codec) {
        (MessageKind::Text, _) => String::from_utf8(bytes.to_vec()).unwrap(),
        (MessageKind::Binary, _) => format!("{bytes:02x?}"),
    }
}

impl Pair {
    fn new(config: Config) -> Self {
        let now = Instant::from_millis(0);
        Self {
            now,
            client: ClientConnection::new(now, config),
            server: ServerConnection::new(now, config),
            to_server: Link::default(),
            to_client: Link::default(),
            client_got: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            held: Vec::new(),
            client_closed: false,
            server_closed: false,
        }
    }

    /// The upgrade: the client offers `offer`, the server negotiates and accepts.
    fn handshake(config: Config, offer: Option<&str>) -> Self {
        let mut pair = Self::new(config);
        pair.client.connect(pair.now).unwrap();
        pair.server.handle_upgrade(pair.now).unwrap();
        let chosen = negotiate::<AnyCodec>(offer).unwrap();
        pair.server.accept(pair.now, chosen.codec).unwrap();
        pair.client.handle_accepted(pair.now, chosen.codec).unwrap();
        pair
    }

    fn request(&mut self, endpoint: &str, data: &[u8], timeout: Option<Duration>) -> RequestId {
        let mut out = [0u8; 512];
        let (id, t) = self
            .client
            .request(self.now, endpoint, &Data::new(data), timeout, &mut out)
            .unwrap();
        self.transmit_from_client(t, &out);
        id
    }

    fn transmit_from_client(&mut self, t: Transmit, out: &[u8]) {
        let wire = match t {
            Transmit::Message { kind, len } => Wire::Message(kind, out[..len].to_vec()),
            Transmit::Ping => Wire::Ping,
            Transmit::Close { code, .. } => {
                self.client_closed = true;
                Wire::Close(code)
            }
            other => panic!("{other:?}"),
        };
        self.to_server.send(self.now, wire);
    }

    fn transmit_from_server(&mut self, t: Transmit, out: &[u8]) {
        let wire = match t {
            Transmit::Message { kind, len } => Wire::Message(kind, out[..len].to_vec()),
            Transmit::Ping => Wire::Ping,
            Transmit::Close { code, .. } => {
                self.server_closed = true;
                Wire::Close(code)
            }
            other => panic!("{other:?}"),
        };
        self.to_client.send(self.now, wire);
    }

    /// Drains both cores' outputs, in the documented order.
    fn drain(&mut self) {
        let mut out = [0u8; 512];
        while let Some(t) = self.server.poll_transmit(self.now, &mut out).unwrap() {
            self.transmit_from_server(t, &out);
        }
        while let Some(t) = self.client.poll_transmit(self.now, &mut out).unwrap() {
            self.transmit_from_client(t, &out);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
    }

    fn deliver_to_server(&mut self, wire: Wire) {
        let mut out = [0u8; 512];
        match wire {
            Wire::Message(kind, bytes) => {
                let Ok(received) = self.server.handle_message(self.now, kind, &bytes, &ROUTES)
                else {
                    return;
                };
                if let ServerReceived::Request(request) = received {
                    match request.route.0 {
                        0 => {
                            let t = self
                                .server
                                .respond(self.now, request.token, &request.data, &mut out)
                                .unwrap();
                            self.transmit_from_server(t, &out);
                        }
                        1 => self
                            .held
                            .push((request.token, request.data.as_bytes().to_vec())),
                        _ => {
                            let t = self
                                .server
                                .send_event(self.now, "pushed", &request.data, &mut out)
                                .unwrap();
                            self.transmit_from_server(t, &out);
                            let t = self
                                .server
                                .respond(self.now, request.token, &Typed(&()), &mut out)
                                .unwrap();
                            self.transmit_from_server(t, &out);
                        }
                    }
                }
            }
            Wire::Ping => self.to_client.send(self.now, Wire::Pong),
            Wire::Pong => self.server.handle_pong(self.now),
            Wire::Close(code) => {
                if self.server.handle_close(self.now, Some(code)).is_ok() && !self.server_closed {
                    // The WebSocket layer echoes the close frame.
                    self.server_closed = true;
                    self.to_client.send(self.now, Wire::Close(code));
                }
            }
        }
    }

    fn deliver_to_client(&mut self, wire: Wire) {
        match wire {
            Wire::Message(kind, bytes) => {
                let codec = self.client.codec().unwrap();
                match self.client.handle_message(self.now, kind, &bytes) {
                    Ok(ClientReceived::Response { request, data }) => {
                        self.client_got.push(format!(
                            "response {} {}",
                            request.0,
                            text(kind, data.as_bytes(), codec)
                        ));
                    }
                    Ok(ClientReceived::Failed { request, error }) => {
                        self.client_got
                            .push(format!("failed {} {}", request.0, error.code));
                    }
                    Ok(ClientReceived::Event {
                        kind: event_kind,
                        data,
                    }) => {
                        self.client_got.push(format!(
                            "event {event_kind} {}",
                            text(kind, data.as_bytes(), codec)
                        ));
                    }
                    Ok(other) => self.client_got.push(format!("{other:?}")),
                    Err(e) => self.client_got.push(format!("error {e:?}")),
                }
            }
            Wire::Ping => self.to_server.send(self.now, Wire::Pong),
            Wire::Pong => self.client.handle_pong(self.now),
            Wire::Close(code) => {
                if self.client.handle_close(self.now, Some(code)).is_ok() && !self.client_closed {
                    self.client_closed = true;
                    self.to_server.send(self.now, Wire::Close(code));
                }
            }
        }
    }

    /// One step: deliver what has arrived, or jump the clock to the next arrival or timer
    /// (never past `end`). Returns false when nothing is left to happen before `end`.
    fn step(&mut self, end: Instant) -> bool {
        self.drain();
        let arrival = |link: &Link| link.queue.front().map(|(at, _)| *at);
        let next = [
            arrival(&self.to_server),
            arrival(&self.to_client),
            self.server.poll_timeout(),
            self.client.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next.filter(|&next| next <= end) else {
            self.now = end;
            return false;
        };
        self.now = self.now.max(next);
        while let Some((at, _)) = self.to_server.queue.front() {
            if *at > self.now {
                break;
            }
            let (_, wire) = self.to_server.queue.pop_front().unwrap();
            self.deliver_to_server(wire);
        }
        while let Some((at, _)) = self.to_client.queue.front() {
            if *at > self.now {
                break;
            }
            let (_, wire) = self.to_client.queue.pop_front().unwrap();
            self.deliver_to_client(wire);
        }
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Runs until idle or until `limit` of virtual time passed.
    fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.now < end && self.step(end) {}
    }

    fn answer_held(&mut self, index: usize) {
        let (token, data) = self.held.remove(index);
        let mut out = [0u8; 512];
        let t = self
            .server
            .respond(self.now, token, &Data::new(&data), &mut out)
            .unwrap();
        self.transmit_from_server(t, &out);
    }

    fn exits(events: &[Event]) -> Vec<protocol_core::connection::Exit> {
        events
            .iter()
            .filter_map(|e| {
                if let Event::Exit(x) = e {
                    Some(*x)
                } else {
                    None
                }
            })
            .collect()
    }
}

fn quiet() -> Config {
    let mut config = Config::new();
    config.keepalive_interval = None;
    config.idle_timeout = None;
    config
}

#[test]
fn handshake_request_response_json() {
    let mut pair = Pair::handshake(quiet(), None);
    assert_eq!(pair.server.codec(), Some(AnyCodec::Json));
    let id = pair.request("echo", br#"{"x":1}"#, None);
    pair.run_for(Duration::from_secs(1));
    assert_eq!(pair.client_got, [format!("response {} {{\"x\":1}}", id.0)]);
    assert_eq!(pair.client.pending(), 0);
}

#[test]
fn handshake_request_response_postcard() {
    let mut pair = Pair::handshake(quiet(), Some("quartet.v1.postcard"));
    assert_eq!(pair.client.codec(), Some(AnyCodec::Postcard));
    let mut out = [0u8; 64];
    let (id, t) = pair
        .client
        .request(pair.now, "echo", &Typed(&(7u8, "hi")), None, &mut out)
        .unwrap();
    assert!(matches!(
        t,
        Transmit::Message {
            kind: MessageKind::Binary,
            ..
        }
    ));
    pair.transmit_from_client(t, &out);
    pair.run_for(Duration::from_secs(1));
    assert_eq!(
        pair.client_got,
        [format!("response {} [07, 02, 68, 69]", id.0)]
    );
}

#[test]
fn handshake_rejected() {
    let mut pair = Pair::new(quiet());
    pair.client.connect(pair.now).unwrap();
    pair.server.handle_upgrade(pair.now).unwrap();
    assert!(
        negotiate::<AnyCodec>(Some("mqtt")).is_err(),
        "unknown subprotocols only: 400"
    );
    pair.server.reject(pair.now).unwrap();
    pair.client.handle_rejected(pair.now, 400).unwrap();
    pair.drain();
    assert_eq!(pair.client_events, [Event::Rejected { status: 400 }]);
    assert!(pair.server_events.is_empty(), "never accepted: no exit");
    assert!(pair.server.is_drained() && pair.client.is_drained());
}

#[test]
fn events_and_responses_in_order() {
    let mut pair = Pair::handshake(quiet(), None);
    let id = pair.request("push", b"[1,2]", None);
    pair.run_for(Duration::from_secs(1));
    assert_eq!(
        pair.client_got,
        [
            "event pushed [1,2]".to_string(),
            format!("response {} null", id.0)
        ]
    );
}

#[test]
fn out_of_order_completion() {
    let mut pair = Pair::handshake(quiet(), None);
    let slow = pair.request("later", b"\"slow\"", None);
    let fast = pair.request("later", b"\"fast\"", None);
    pair.run_for(Duration::from_millis(10));
    assert_eq!(pair.server.in_flight(), 2);
    pair.answer_held(1);
    pair.answer_held(0);
    pair.run_for(Duration::from_millis(10));
    assert_eq!(
        pair.client_got,
        [
            format!("response {} \"fast\"", fast.0),
            format!("response {} \"slow\"", slow.0)
        ]
    );
}

#[test]
fn request_timeout_then_late_answer_is_ignored() {
    let mut pair = Pair::handshake(quiet(), None);
    pair.to_server.latency = Duration::from_millis(5);
    pair.to_client.latency = Duration::from_millis(5);
    let id = pair.request("later", b"1", Some(Duration::from_millis(100)));
    pair.run_for(Duration::from_millis(200));
    assert_eq!(
        pair.client_events,
        [Event::RequestFailed {
            request: id,
            cause: RequestFailure::Timeout
        }]
    );
    pair.answer_held(0);
    pair.run_for(Duration::from_millis(50));
    assert_eq!(pair.client_got, ["Ignored(UnknownId)"]);
}

#[test]
fn server_failure_reaches_the_client() {
    let mut pair = Pair::handshake(quiet(), None);
    let id = pair.request("later", b"1", None);
    pair.run_for(Duration::from_millis(1));
    let (token, _) = pair.held.remove(0);
    let mut out = [0u8; 256];
    let error = ErrorBody::new("Not your turn", "not-your-turn");
    let t = pair
        .server
        .fail(pair.now, token, Failure::Error(error), &mut out)
        .unwrap();
    pair.transmit_from_server(t, &out);
    let unknown = pair.request("nope", b"1", None);
    pair.run_for(Duration::from_millis(10));
    assert_eq!(
        pair.client_got,
        [
            format!("failed {} not-your-turn", id.0),
            format!("failed {} invalid-endpoint", unknown.0)
        ]
    );
}

#[test]
fn close_from_the_client() {
    let mut pair = Pair::handshake(quiet(), None);
    let mut out = [0u8; 64];
    let t = pair.client.close(pair.now, 1000, "bye", &mut out).unwrap();
    pair.transmit_from_client(t, &out);
    pair.run_for(Duration::from_secs(1));
    let server_exit = Pair::exits(&pair.server_events);
    let client_exit = Pair::exits(&pair.client_events);
    assert_eq!(server_exit.len(), 1);
    assert_eq!(
        (
            server_exit[0].initiator,
            server_exit[0].code,
            server_exit[0].clean
        ),
        (Initiator::Peer, Some(1000), true)
    );
    assert_eq!(
        (client_exit[0].initiator, client_exit[0].clean),
        (Initiator::Local, true)
    );
    assert!(pair.server.is_drained() && pair.client.is_drained());
}

#[test]
fn close_from_the_server_fails_pending_requests() {
    let mut pair = Pair::handshake(quiet(), None);
    let id = pair.request("later", b"1", None);
    pair.run_for(Duration::from_millis(1));
    let mut out = [0u8; 64];
    let t = pair
        .server
        .close(pair.now, 1001, "shutdown", &mut out)
        .unwrap();
    pair.transmit_from_server(t, &out);
    pair.run_for(Duration::from_secs(1));
    assert_eq!(
        pair.client_events[0],
        Event::RequestFailed {
            request: id,
            cause: RequestFailure::Disconnected
        }
    );
    let server_exit = Pair::exits(&pair.server_events);
    assert_eq!(
        (
            server_exit[0].initiator,
            server_exit[0].code,
            server_exit[0].clean
        ),
        (Initiator::Local, Some(1001), true)
    );
    assert_eq!(
        Pair::exits(&pair.client_events)[0].initiator,
        Initiator::Peer
    );
    // The held request can no longer be answered.
    let (token, _) = pair.held.remove(0);
    assert!(
        pair.server
            .respond(pair.now, token, &Data::new(b"1"), &mut out)
            .is_err()
    );
    assert_eq!(pair.server.in_flight(), 0);
}

#[test]
fn close_timeout_when_the_peer_is_gone() {
    let mut pair = Pair::handshake(quiet(), None);
    pair.to_server.drop_all = true;
    pair.to_client.drop_all = true;
    let mut out = [0u8; 64];
    let t = pair.server.close(pair.now, 1000, "", &mut out).unwrap();
    pair.transmit_from_server(t, &out);
    pair.run_for(Duration::from_secs(60));
    let exit = Pair::exits(&pair.server_events);
    assert_eq!(exit.len(), 1);
    assert!(!exit[0].clean, "close handshake never completed");
    assert_eq!(pair.server.app_state(), State::Disconnected);
    assert_eq!(pair.server.client_state(), State::Disconnected);
}

#[test]
fn protocol_error_closes_with_1003_and_both_exit() {
    let mut pair = Pair::handshake(quiet(), None);
    pair.to_server
        .send(pair.now, Wire::Message(MessageKind::Binary, b"{}".to_vec()));
    pair.run_for(Duration::from_secs(1));
    assert_eq!(
        pair.server_events[0],
        Event::ProtocolError(protocol_core::connection::ProtocolError::UnsupportedMessageKind)
    );
    assert_eq!(Pair::exits(&pair.server_events).len(), 1);
    let client_exit = Pair::exits(&pair.client_events);
    assert_eq!(
        (client_exit[0].initiator, client_exit[0].code),
        (Initiator::Peer, Some(1003))
    );
}

#[test]
fn transport_loss_fails_pending_and_exits_once() {
    let mut pair = Pair::handshake(quiet(), None);
    let id = pair.request("later", b"1", None);
    pair.run_for(Duration::from_millis(1));
    pair.server.handle_transport_closed(pair.now);
    pair.client.handle_transport_closed(pair.now);
    pair.server.handle_transport_closed(pair.now);
    pair.drain();
    assert_eq!(
        pair.client_events[0],
        Event::RequestFailed {
            request: id,
            cause: RequestFailure::Disconnected
        }
    );
    let exits = Pair::exits(&pair.server_events);
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0].initiator, Initiator::Transport);
    assert_eq!(Pair::exits(&pair.client_events).len(), 1);
}

#[test]
fn keepalive_pings_keep_an_idle_connection_open() {
    let mut config = Config::new();
    config.keepalive_interval = Some(Duration::from_secs(20));
    config.idle_timeout = Some(Duration::from_secs(60));
    let mut pair = Pair::handshake(config, None);
    pair.to_server.latency = Duration::from_millis(1);
    pair.to_client.latency = Duration::from_millis(1);
    pair.run_for(Duration::from_secs(300));
    assert!(
        pair.server_events.is_empty() && pair.client_events.is_empty(),
        "pongs keep both alive"
    );
    // Now the peer vanishes: pings go unanswered and the idle timeout closes with 1001.
    pair.to_server.drop_all = true;
    pair.to_client.drop_all = true;
    pair.run_for(Duration::from_secs(300));
    let exit = Pair::exits(&pair.server_events);
    assert_eq!(
        (exit[0].initiator, exit[0].code, exit[0].clean),
        (Initiator::Local, Some(1001), false)
    );
}

#[test]
fn handshake_timeout() {
    let mut pair = Pair::new(quiet());
    pair.client.connect(pair.now).unwrap();
    pair.server.handle_upgrade(pair.now).unwrap();
    pair.run_for(Duration::from_secs(30));
    assert_eq!(pair.server_events, [Event::HandshakeTimedOut]);
    assert_eq!(pair.client_events, [Event::HandshakeTimedOut]);
}
