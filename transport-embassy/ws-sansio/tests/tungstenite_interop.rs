//! Interoperability with tungstenite, an implementation we did not write, over an
//! in-memory duplex, in both roles: our server with a tungstenite client, and a
//! tungstenite server with our client. Every scenario also runs with bytes
//! delivered one at a time to both sides.

// tungstenite's handshake callback returns its large `ErrorResponse` by value.
#![allow(clippy::result_large_err)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;

use common::{Seen, counting_random};
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode as TCloseCode;
use tungstenite::{ClientRequestBuilder, Message, WebSocket};
use ws_sansio::{
    ClientHandshake, CloseCode, Connection, HeaderBuffer, Instant, MAX_CONTROL_FRAME_LEN,
    MessageKind, RandomSource, State, Status,
};

type Queue = Rc<RefCell<VecDeque<u8>>>;

/// tungstenite's end of the duplex. Reads return `WouldBlock` when nothing is
/// queued; in trickle mode they return one byte at a time. Trickling starts after
/// the handshake: tungstenite takes a request or response read in tiny pieces for
/// an attack.
struct PipeEnd {
    incoming: Queue,
    outgoing: Queue,
    trickle: Rc<Cell<bool>>,
    /// We closed the transport: reads past the queued bytes see end of stream.
    closed: Rc<Cell<bool>>,
}

impl Read for PipeEnd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut incoming = self.incoming.borrow_mut();
        if incoming.is_empty() {
            return if self.closed.get() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let limit = if self.trickle.get() { 1 } else { buf.len() };
        let mut n = 0;
        while n < limit.min(buf.len()) {
            match incoming.pop_front() {
                Some(byte) => buf[n] = byte,
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }
}

impl Write for PipeEnd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.borrow_mut().extend(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Our end of the duplex.
struct Wire {
    to_them: Queue,
    from_them: Queue,
    trickle: bool,
    their_trickle: Rc<Cell<bool>>,
    closed: Rc<Cell<bool>>,
}

fn duplex(trickle: bool) -> (Wire, PipeEnd) {
    let to_them = Queue::default();
    let from_them = Queue::default();
    let their_trickle = Rc::new(Cell::new(false));
    let closed = Rc::new(Cell::new(false));
    let theirs = PipeEnd {
        incoming: to_them.clone(),
        outgoing: from_them.clone(),
        trickle: their_trickle.clone(),
        closed: closed.clone(),
    };
    (
        Wire {
            to_them,
            from_them,
            trickle,
            their_trickle,
            closed,
        },
        theirs,
    )
}

impl Wire {
    fn send(&self, bytes: &[u8]) {
        self.to_them.borrow_mut().extend(bytes);
    }

    fn take(&self) -> Vec<u8> {
        self.from_them.borrow_mut().drain(..).collect()
    }

    fn close_transport(&self) {
        self.closed.set(true);
    }
}

/// Our side of an open connection.
struct Ours<'a, R> {
    connection: Connection<'a, R>,
    wire: Wire,
}

impl<R: RandomSource> Ours<'_, R> {
    /// Processes everything tungstenite sent and transmits what that produced.
    fn pump(&mut self) -> Vec<Seen> {
        let input = self.wire.take();
        let chunk = if self.wire.trickle {
            1
        } else {
            input.len().max(1)
        };
        let mut seen = Vec::new();
        for piece in input.chunks(chunk) {
            let mut rest = piece;
            while !rest.is_empty() {
                let used = self
                    .connection
                    .handle_input(Instant::from_millis(0), rest)
                    .unwrap();
                rest = &rest[used..];
                if let Some(event) = self.connection.poll_event() {
                    seen.push(Seen::from_event(event));
                }
                self.transmit();
            }
        }
        seen
    }

    fn transmit(&mut self) {
        let mut out = [0; MAX_CONTROL_FRAME_LEN];
        while let Some(len) = self.connection.poll_transmit(&mut out).unwrap() {
            self.wire.send(&out[..len]);
        }
    }

    fn send_text(&mut self, text: &str) {
        let mut out = vec![0; text.len() + 14];
        let len = self.connection.encode_text(text, &mut out).unwrap();
        self.wire.send(&out[..len]);
    }

    fn send_binary(&mut self, data: &[u8]) {
        let mut out = vec![0; data.len() + 14];
        let len = self.connection.encode_binary(data, &mut out).unwrap();
        self.wire.send(&out[..len]);
    }

    /// A text message in three fragments with a ping between two of them.
    fn send_fragmented_text(&mut self, parts: [&str; 3]) {
        let mut out = [0; 256];
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            let len = self
                .connection
                .encode_fragment(MessageKind::Text, part.as_bytes(), last, &mut out)
                .unwrap();
            self.wire.send(&out[..len]);
            if i == 0 {
                let len = self.connection.encode_ping(b"between", &mut out).unwrap();
                self.wire.send(&out[..len]);
            }
        }
    }

    fn send_ping(&mut self, payload: &[u8]) {
        let mut out = [0; MAX_CONTROL_FRAME_LEN];
        let len = self.connection.encode_ping(payload, &mut out).unwrap();
        self.wire.send(&out[..len]);
    }

    fn close(&mut self, code: u16, reason: &str) {
        self.connection
            .close(Instant::from_millis(0), CloseCode(code), reason)
            .unwrap();
        self.transmit();
    }
}

/// Reads the next message tungstenite has, processing control frames on the way.
fn their_next<S: Read + Write>(ws: &mut WebSocket<S>) -> Message {
    match ws.read() {
        Ok(message) => message,
        Err(error) => panic!("tungstenite read failed: {error}"),
    }
}

fn text(s: &str) -> Message {
    Message::text(s)
}

fn large_payload() -> Vec<u8> {
    // Over 65535 bytes: exercises the 64-bit length form.
    (0..70_000u32).map(|i| (i % 251) as u8).collect()
}

/// tungstenite reports a finished closing handshake as `ConnectionClosed`.
fn assert_their_handshake_done<S: Read + Write>(ws: &mut WebSocket<S>) {
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("closing handshake not complete for tungstenite: {other:?}"),
    }
}

fn their_close(code: u16, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame {
        code: TCloseCode::from(code),
        reason: reason.into(),
    })
}

// ---- our server, tungstenite client ----

/// Handshake: tungstenite connects, our server answers and immediately sends a
/// frame in the same write as the 101.
fn server_handshake<'a>(
    trickle: bool,
    message_buffer: &'a mut [u8],
) -> (Ours<'a, ws_sansio::NoRandom>, WebSocket<PipeEnd>) {
    let (wire, theirs) = duplex(trickle);
    let uri = "ws://example.com/chat?room=7".parse().unwrap();
    let request = ClientRequestBuilder::new(uri)
        .with_sub_protocol("v1.quartet")
        .with_sub_protocol("chat")
        .with_header("Origin", "http://example.com");
    let mid = match tungstenite::client::client(request, theirs) {
        Err(HandshakeError::Interrupted(mid)) => mid,
        Err(HandshakeError::Failure(error)) => panic!("{error}"),
        Ok(_) => panic!("the handshake cannot finish before we answer"),
    };

    let mut storage = [0; 1024];
    let mut headers = HeaderBuffer::new(&mut storage);
    let mut outcome = None;
    for byte in wire.take() {
        // The request arrives byte by byte through our header parser.
        headers.feed(&[byte]);
        if let Status::Complete(request) = headers.parse_request().unwrap() {
            assert_eq!(request.path(), "/chat");
            assert_eq!(request.query(), Some("room=7"));
            assert_eq!(request.header("Origin"), Some(&b"http://example.com"[..]));
            let protocol = request.select_protocol(&["chat", "v1.quartet"]);
            assert_eq!(protocol, Some("chat"));
            let mut out = [0; 512];
            let len = request.write_accept(protocol, &[], &mut out).unwrap();
            outcome = Some((out[..len].to_vec(), request.header_len()));
        }
    }
    let (response, header_len) = outcome.expect("request parsed");
    assert_eq!(
        headers.after_headers(header_len),
        b"",
        "the client waits for the 101"
    );

    let mut ours = Ours {
        connection: Connection::server(message_buffer),
        wire,
    };
    let mut early = [0; 32];
    let len = ours.connection.encode_text("welcome", &mut early).unwrap();
    let mut first_write = response;
    first_write.extend_from_slice(&early[..len]);
    ours.wire.send(&first_write);

    let mut mid = mid;
    let (mut ws, response) = loop {
        match mid.handshake() {
            Ok(done) => break done,
            Err(HandshakeError::Interrupted(again)) => mid = again,
            Err(HandshakeError::Failure(error)) => panic!("tungstenite refused our 101: {error}"),
        }
    };
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat");
    ours.wire.their_trickle.set(trickle);
    assert_eq!(
        their_next(&mut ws),
        text("welcome"),
        "frame right after the 101"
    );
    (ours, ws)
}

fn our_server_exchanges_messages(trickle: bool) {
    let mut buffer = vec![0; 128 * 1024];
    let (mut ours, mut ws) = server_handshake(trickle, &mut buffer);

    // tungstenite -> us
    ws.send(text("hello from tungstenite")).unwrap();
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    ws.send(Message::binary(large_payload())).unwrap();
    ws.send(text("\u{1F600} \u{e9}")).unwrap();
    assert_eq!(
        ours.pump(),
        [
            Seen::Text("hello from tungstenite".into()),
            Seen::Binary(vec![0, 1, 2, 255]),
            Seen::Binary(large_payload()),
            Seen::Text("\u{1F600} \u{e9}".into()),
        ]
    );

    // us -> tungstenite
    ours.send_text("hello from ws-sansio");
    ours.send_binary(&[9, 8, 7]);
    ours.send_binary(&large_payload());
    ours.send_fragmented_text(["frag", "ment", "ed \u{2603}"]);
    assert_eq!(their_next(&mut ws), text("hello from ws-sansio"));
    assert_eq!(their_next(&mut ws), Message::binary(vec![9, 8, 7]));
    assert_eq!(their_next(&mut ws), Message::binary(large_payload()));
    assert_eq!(their_next(&mut ws), Message::Ping("between".into()));
    assert_eq!(their_next(&mut ws), text("fragmented \u{2603}"));
    // tungstenite answered our ping.
    ws.flush().unwrap();
    assert_eq!(ours.pump(), [Seen::Pong(b"between".to_vec())]);

    // Their ping, our pong.
    ws.send(Message::Ping("ping?".into())).unwrap();
    assert_eq!(ours.pump(), [Seen::Ping(b"ping?".to_vec())]);
    assert_eq!(their_next(&mut ws), Message::Pong("ping?".into()));

    // Our ping, their pong.
    ours.send_ping(b"ours");
    assert_eq!(their_next(&mut ws), Message::Ping("ours".into()));
    ws.flush().unwrap();
    assert_eq!(ours.pump(), [Seen::Pong(b"ours".to_vec())]);
}

#[test]
fn our_server_exchanges_messages_with_tungstenite_client() {
    our_server_exchanges_messages(false);
}

#[test]
fn our_server_exchanges_messages_with_tungstenite_client_byte_by_byte() {
    our_server_exchanges_messages(true);
}

fn our_server_closes(trickle: bool) {
    let mut buffer = vec![0; 4096];
    let (mut ours, mut ws) = server_handshake(trickle, &mut buffer);
    ours.close(4000, "server done");
    assert_eq!(ours.connection.state(), State::CloseSent);
    assert_eq!(
        their_next(&mut ws),
        Message::Close(their_close(4000, "server done"))
    );
    // tungstenite echoes the close; the handshake completes on our side.
    ws.flush().unwrap();
    assert_eq!(ours.pump(), [Seen::Close(Some(4000), "server done".into())]);
    assert_eq!(ours.connection.state(), State::Closed);
    assert!(
        ours.connection.should_close_transport(),
        "the server closes TCP"
    );
    ours.wire.close_transport();
    assert_their_handshake_done(&mut ws);
}

#[test]
fn our_server_closes_tungstenite_client() {
    our_server_closes(false);
    our_server_closes(true);
}

fn tungstenite_client_closes(trickle: bool) {
    let mut buffer = vec![0; 4096];
    let (mut ours, mut ws) = server_handshake(trickle, &mut buffer);
    ws.close(their_close(1001, "client leaving")).unwrap();
    assert_eq!(
        ours.pump(),
        [Seen::Close(Some(1001), "client leaving".into())]
    );
    assert_eq!(ours.connection.state(), State::Closed);
    assert!(ours.connection.should_close_transport());
    // Our echo completes tungstenite's handshake; the client waits for us to
    // close the transport.
    assert_eq!(their_next(&mut ws), Message::Close(their_close(1001, "")));
    assert!(
        matches!(ws.read(), Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock)
    );
    ours.wire.close_transport();
    assert_their_handshake_done(&mut ws);
}

#[test]
fn tungstenite_client_closes_our_server() {
    tungstenite_client_closes(false);
    tungstenite_client_closes(true);
}

// ---- tungstenite server, our client ----

/// Handshake: our client writes the request, tungstenite accepts it and sends a
/// text frame straight away, and we parse the 101 and that frame.
fn client_handshake<'a>(
    trickle: bool,
    message_buffer: &'a mut [u8],
) -> (Ours<'a, impl RandomSource>, WebSocket<PipeEnd>) {
    let (wire, theirs) = duplex(trickle);
    let mut random = counting_random();
    let handshake = ClientHandshake::new(&mut random, &["v1.quartet", "chat"]);
    let mut out = [0; 512];
    let len = handshake
        .write_request(
            "example.com",
            "/socket?token=abc",
            &[("Origin", "http://example.com")],
            &mut out,
        )
        .unwrap();
    wire.send(&out[..len]);

    let callback = |request: &Request, mut response: Response| {
        assert_eq!(request.uri().path(), "/socket");
        assert_eq!(request.uri().query(), Some("token=abc"));
        assert_eq!(
            request.headers()["Sec-WebSocket-Protocol"],
            "v1.quartet, chat"
        );
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
        Ok(response)
    };
    let mut mid = match tungstenite::accept_hdr(theirs, callback) {
        Ok(ws) => Ok(ws),
        Err(HandshakeError::Interrupted(mid)) => Err(mid),
        Err(HandshakeError::Failure(error)) => panic!("tungstenite refused our request: {error}"),
    };
    let mut ws = loop {
        match mid {
            Ok(ws) => break ws,
            Err(again) => {
                mid = match again.handshake() {
                    Ok(ws) => Ok(ws),
                    Err(HandshakeError::Interrupted(again)) => Err(again),
                    Err(HandshakeError::Failure(error)) => panic!("{error}"),
                }
            }
        }
    };
    ws.send(text("welcome")).unwrap();

    let mut storage = [0; 1024];
    let mut headers = HeaderBuffer::new(&mut storage);
    let received = wire.take();
    let mut rest = &received[..];
    let header_len = loop {
        let chunk = if trickle { 1 } else { rest.len() };
        rest = &rest[headers.feed(&rest[..chunk])..];
        match headers.parse_response(&handshake).unwrap() {
            Status::Complete(response) => {
                assert_eq!(response.protocol(), Some("chat"));
                break response.header_len();
            }
            Status::Incomplete => assert!(!rest.is_empty(), "response cut short"),
        }
    };
    // The frame sent right after the 101: part of it may already sit in the
    // header buffer, the rest is still in `rest`.
    let mut frames = headers.after_headers(header_len).to_vec();
    frames.extend_from_slice(rest);
    assert!(!frames.is_empty());
    wire.from_them.borrow_mut().extend(frames);

    wire.their_trickle.set(trickle);
    let mut ours = Ours {
        connection: Connection::client(message_buffer, random),
        wire,
    };
    assert_eq!(ours.pump(), [Seen::Text("welcome".into())]);
    (ours, ws)
}

fn our_client_exchanges_messages(trickle: bool) {
    let mut buffer = vec![0; 128 * 1024];
    let (mut ours, mut ws) = client_handshake(trickle, &mut buffer);

    // us -> tungstenite: tungstenite checks that every frame is masked.
    ours.send_text("hello from ws-sansio");
    ours.send_binary(&[1, 2, 3]);
    ours.send_binary(&large_payload());
    ours.send_fragmented_text(["a", "b", "c"]);
    assert_eq!(their_next(&mut ws), text("hello from ws-sansio"));
    assert_eq!(their_next(&mut ws), Message::binary(vec![1, 2, 3]));
    assert_eq!(their_next(&mut ws), Message::binary(large_payload()));
    assert_eq!(their_next(&mut ws), Message::Ping("between".into()));
    assert_eq!(their_next(&mut ws), text("abc"));
    ws.flush().unwrap();
    assert_eq!(ours.pump(), [Seen::Pong(b"between".to_vec())]);

    // tungstenite -> us
    ws.send(text("hello from tungstenite")).unwrap();
    ws.send(Message::binary(large_payload())).unwrap();
    ws.send(Message::Ping("p".into())).unwrap();
    assert_eq!(
        ours.pump(),
        [
            Seen::Text("hello from tungstenite".into()),
            Seen::Binary(large_payload()),
            Seen::Ping(b"p".to_vec()),
        ]
    );
    assert_eq!(
        their_next(&mut ws),
        Message::Pong("p".into()),
        "our masked pong"
    );

    ours.send_ping(b"client ping");
    assert_eq!(their_next(&mut ws), Message::Ping("client ping".into()));
    ws.flush().unwrap();
    assert_eq!(ours.pump(), [Seen::Pong(b"client ping".to_vec())]);
}

#[test]
fn our_client_exchanges_messages_with_tungstenite_server() {
    our_client_exchanges_messages(false);
}

#[test]
fn our_client_exchanges_messages_with_tungstenite_server_byte_by_byte() {
    our_client_exchanges_messages(true);
}

fn our_client_closes(trickle: bool) {
    let mut buffer = vec![0; 4096];
    let (mut ours, mut ws) = client_handshake(trickle, &mut buffer);
    ours.close(1000, "client done");
    assert_eq!(
        their_next(&mut ws),
        Message::Close(their_close(1000, "client done"))
    );
    // The tungstenite server echoes and then closes the transport.
    assert_their_handshake_done(&mut ws);
    assert_eq!(ours.pump(), [Seen::Close(Some(1000), "client done".into())]);
    assert_eq!(ours.connection.state(), State::Closed);
    assert!(
        !ours.connection.should_close_transport(),
        "the client waits for the server"
    );
    assert!(ours.connection.poll_timeout().is_some());
}

#[test]
fn our_client_closes_tungstenite_server() {
    our_client_closes(false);
    our_client_closes(true);
}

fn tungstenite_server_closes(trickle: bool) {
    let mut buffer = vec![0; 4096];
    let (mut ours, mut ws) = client_handshake(trickle, &mut buffer);
    ws.close(their_close(1001, "server going away")).unwrap();
    assert_eq!(
        ours.pump(),
        [Seen::Close(Some(1001), "server going away".into())]
    );
    assert_eq!(ours.connection.state(), State::Closed);
    assert_eq!(their_next(&mut ws), Message::Close(their_close(1001, "")));
    assert_their_handshake_done(&mut ws);
}

#[test]
fn tungstenite_server_closes_our_client() {
    tungstenite_server_closes(false);
    tungstenite_server_closes(true);
}

#[test]
fn tungstenite_client_is_refused_with_426_for_a_wrong_version() {
    let (wire, theirs) = duplex(false);
    let request = tungstenite::http::Request::builder()
        .uri("ws://example.com/")
        .header("Host", "example.com")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "12")
        .header(
            "Sec-WebSocket-Key",
            tungstenite::handshake::client::generate_key(),
        )
        .body(())
        .unwrap();
    let Err(HandshakeError::Interrupted(mid)) = tungstenite::client::client(request, theirs) else {
        panic!("expected to wait for the answer");
    };
    let mut storage = [0; 1024];
    let mut headers = HeaderBuffer::new(&mut storage);
    headers.feed(&wire.take());
    let error = headers.parse_request().unwrap_err();
    let mut out = [0; 512];
    let len = error.write_response(&mut out).unwrap();
    wire.send(&out[..len]);
    match mid.handshake() {
        Err(HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 426);
            assert_eq!(response.headers()["Sec-WebSocket-Version"], "13");
        }
        other => panic!("expected an HTTP error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn our_client_sees_tungstenite_server_rejection_status() {
    let (wire, theirs) = duplex(false);
    let mut random = counting_random();
    let handshake = ClientHandshake::new(&mut random, &[]);
    let mut out = [0; 512];
    let len = handshake
        .write_request("example.com", "/private", &[], &mut out)
        .unwrap();
    wire.send(&out[..len]);
    let callback = |_: &Request, _: Response| {
        let mut refusal = tungstenite::handshake::server::ErrorResponse::new(None);
        *refusal.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
        Err(refusal)
    };
    assert!(tungstenite::accept_hdr(theirs, callback).is_err());
    let mut storage = [0; 1024];
    let mut headers = HeaderBuffer::new(&mut storage);
    headers.feed(&wire.take());
    assert_eq!(
        headers.parse_response(&handshake).map(|_| ()),
        Err(ws_sansio::ResponseError::Rejected { status: 403 })
    );
}
