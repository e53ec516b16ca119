//! Connection rules that read best as short transcripts: bounds, the typed router, and the
//! client's handling of what it receives.

use protocol_core::connection::{
    ClientReceived, ErrorCode, ProtocolError, RequestFailure, ServerReceived, Unusable,
};
use protocol_core::endpoint::{Endpoint, EndpointFn, Handler, RequestError, Router};
use protocol_core::{
    CallError, ClientConnection, Config, Data, Event, Instant, JsonCodec, MessageKind, Profile,
    ServerConnection, Transmit, Typed,
};
use serde::{Deserialize, Serialize};

const NOW: Instant = Instant::ZERO;

fn server<const IN_FLIGHT: usize, const QUEUE: usize>(
    config: Config,
) -> ServerConnection<JsonCodec, IN_FLIGHT, QUEUE> {
    let mut conn = ServerConnection::new(NOW, config);
    conn.handle_upgrade(NOW).unwrap();
    conn.accept(NOW, JsonCodec).unwrap();
    conn
}

fn sent(t: Transmit, out: &[u8]) -> String {
    match t {
        Transmit::Message { len, .. } => String::from_utf8(out[..len].to_vec()).unwrap(),
        other => format!("{other:?}"),
    }
}

fn drain<const I: usize, const Q: usize>(
    conn: &mut ServerConnection<JsonCodec, I, Q>,
) -> Vec<String> {
    let mut out = [0u8; 512];
    let mut frames = Vec::new();
    while let Some(t) = conn.poll_transmit(NOW, &mut out).unwrap() {
        frames.push(sent(t, &out));
    }
    frames
}

/// A request frame (leaked: the core borrows it for as long as the test keeps the answer).
fn request(id: &str) -> &'static str {
    format!(r#"{{"id":"{id}","type":"request","endpoint":"echo","data":1}}"#).leak()
}

#[test]
fn in_flight_bound_answers_busy_with_the_id() {
    let mut conn = server::<2, 4>(Config::new());
    for id in ["a", "b"] {
        let got = conn.handle_message(NOW, MessageKind::Text, request(id).as_bytes(), &["echo"]);
        assert!(matches!(got, Ok(ServerReceived::Request(_))));
    }
    let got = conn
        .handle_message(NOW, MessageKind::Text, request("c").as_bytes(), &["echo"])
        .unwrap();
    assert!(matches!(got, ServerReceived::Refused(r) if r.code == ErrorCode::Busy));
    assert_eq!(
        drain(&mut conn),
        [
            r#"{"id":"c","type":"response.error","data":{"reason":"Too many requests in flight","code":"busy"}}"#
        ]
    );
    assert_eq!(conn.in_flight(), 2);
}

#[test]
fn frame_too_large_is_answered_with_the_id() {
    let mut config = Config::new();
    config.max_frame_len = 40;
    let mut conn = server::<8, 4>(config);
    let big = r#"{"id":"big","type":"request","endpoint":"echo","data":"0123456789"}"#;
    conn.handle_message(NOW, MessageKind::Text, big.as_bytes(), &["echo"])
        .unwrap();
    assert_eq!(
        drain(&mut conn),
        [
            r#"{"id":"big","type":"response.error","data":{"reason":"Frame too large","code":"frame-too-large"}}"#
        ]
    );
}

/// `docs/spec.md` §3.3: a complete frame's `id` is usable whatever its type, so an `event`
/// sent to a server (its `Frame` has no id) is refused with the id, as is one too large.
#[test]
fn an_event_from_the_client_is_refused_with_its_id() {
    let mut config = Config::new();
    config.max_frame_len = 52;
    let mut conn = server::<8, 4>(config);
    for event in [
        r#"{"id":"e\u0031","type":"event","kind":"k","data":1}"#,
        r#"{"id":"e2","type":"event","kind":"k","data":"0123456789"}"#,
        r#"{"id":7,"type":"event","kind":"k","data":1}"#,
    ] {
        let got = conn
            .handle_message(NOW, MessageKind::Text, event.as_bytes(), &["echo"])
            .unwrap();
        assert!(matches!(got, ServerReceived::Refused(_)), "{got:?}");
    }
    assert_eq!(
        drain(&mut conn),
        [
            r#"{"id":"e1","type":"response.error","data":{"reason":"Invalid request sent","code":"validation-error"}}"#,
            r#"{"id":"e2","type":"response.error","data":{"reason":"Frame too large","code":"frame-too-large"}}"#,
            r#"{"type":"event","kind":"error","data":{"reason":"Invalid request sent","code":"validation-error"}}"#,
        ]
    );
}

#[test]
fn a_full_reply_queue_refuses_input_until_drained() {
    let mut conn = server::<8, 2>(Config::new());
    for _ in 0..2 {
        conn.handle_message(NOW, MessageKind::Text, b"{bad", &["echo"])
            .unwrap();
    }
    let refused = conn.handle_message(NOW, MessageKind::Text, b"{bad", &["echo"]);
    assert_eq!(refused, Err(CallError::TransmitQueueFull));
    assert_eq!(
        drain(&mut conn).len(),
        2,
        "the refused message was not consumed"
    );
    assert!(
        conn.handle_message(NOW, MessageKind::Text, b"{bad", &["echo"])
            .is_ok()
    );
}

#[test]
fn too_many_bad_frames_in_a_row_closes_with_1008() {
    let mut config = Config::new();
    config.max_consecutive_bad_frames = Some(2);
    let mut conn = server::<8, 4>(config);
    for _ in 0..2 {
        conn.handle_message(NOW, MessageKind::Text, b"[]", &["echo"])
            .unwrap();
        drain(&mut conn);
    }
    // A good frame resets the count.
    conn.handle_message(NOW, MessageKind::Text, request("ok").as_bytes(), &["echo"])
        .unwrap();
    for _ in 0..3 {
        conn.handle_message(NOW, MessageKind::Text, b"[]", &["echo"])
            .unwrap();
    }
    let frames = drain(&mut conn);
    assert_eq!(frames.len(), 4, "three answers, then the close: {frames:?}");
    assert_eq!(frames[3], "Close { code: 1008, reason_len: 23 }");
    assert_eq!(
        conn.poll_event(),
        Some(Event::ProtocolError(ProtocolError::TooManyBadFrames))
    );
    let after = conn.handle_message(
        NOW,
        MessageKind::Text,
        request("late").as_bytes(),
        &["echo"],
    );
    assert_eq!(
        after,
        Ok(ServerReceived::Ignored),
        "data after our close frame is ignored"
    );
}

/// A stale token stays stale while its slot serves request after request (a 16-bit counter
/// let the 65,537th request of a slot take the first one's answer).
#[test]
fn a_stale_token_never_answers_a_later_request_in_its_slot() {
    let mut conn = server::<1, 4>(Config::new());
    let mut out = [0u8; 512];
    let mut first = None;
    let again = br#"{"id":"a","type":"request","endpoint":"echo","data":1}"#;
    for _ in 0..=u32::from(u16::MAX) {
        let Ok(ServerReceived::Request(r)) =
            conn.handle_message(NOW, MessageKind::Text, again, &["echo"])
        else {
            panic!("a request");
        };
        first.get_or_insert(r.token);
        let answered = conn.respond(NOW, r.token, &Data::new(b"1"), &mut out);
        assert!(matches!(answered, Ok(Transmit::Message { .. })));
    }
    let later = br#"{"id":"later","type":"request","endpoint":"echo","data":1}"#;
    let got = conn.handle_message(NOW, MessageKind::Text, later, &["echo"]);
    assert!(matches!(got, Ok(ServerReceived::Request(_))));
    let stale = conn.respond(NOW, first.unwrap(), &Data::new(b"2"), &mut out);
    assert_eq!(stale, Err(CallError::UnknownRequest));
}

#[test]
fn respond_answers_exactly_once() {
    let mut conn = server::<8, 4>(Config::new());
    let Ok(ServerReceived::Request(req)) =
        conn.handle_message(NOW, MessageKind::Text, request("r").as_bytes(), &["echo"])
    else {
        panic!()
    };
    let mut out = [0u8; 128];
    assert!(conn.respond(NOW, req.token, &Typed(&1), &mut out).is_ok());
    assert_eq!(
        conn.respond(NOW, req.token, &Typed(&1), &mut out),
        Err(CallError::UnknownRequest)
    );
    assert_eq!(conn.abandon(req.token), Err(CallError::UnknownRequest));
}

#[test]
fn respond_into_a_small_buffer_keeps_the_request_open() {
    let mut conn = server::<8, 4>(Config::new());
    let Ok(ServerReceived::Request(req)) =
        conn.handle_message(NOW, MessageKind::Text, request("r").as_bytes(), &["echo"])
    else {
        panic!()
    };
    let mut small = [0u8; 8];
    let err = conn
        .respond(NOW, req.token, &req.data, &mut small)
        .unwrap_err();
    assert!(matches!(err, CallError::Encode(_)));
    let mut out = [0u8; 128];
    let t = conn
        .respond(NOW, req.token, &Data::new(b"2"), &mut out)
        .unwrap();
    assert_eq!(sent(t, &out), r#"{"id":"r","type":"response","data":2}"#);
}

#[derive(Serialize, Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Serialize, Deserialize)]
struct Moved {
    success: bool,
    turn: u32,
}

struct MoveEndpoint;
impl Endpoint for MoveEndpoint {
    const NAME: &'static str = "move";
    type Request = Move;
    type Response = Moved;
}

struct Game {
    turn: u32,
}

#[test]
fn typed_router_runs_handlers_and_maps_their_errors() {
    let moves = EndpointFn::<MoveEndpoint, _>::new(|game: &mut Game, m: Move| {
        if m.x < 0 {
            return Err(RequestError::new("Off the board", "off-board"));
        }
        game.turn += 1;
        Ok(Moved {
            success: true,
            turn: game.turn,
        })
    });
    let handlers: [&dyn Handler<Game, JsonCodec>; 1] = [&moves];
    let router = Router::new(&handlers);
    let mut game = Game { turn: 0 };
    let mut conn = server::<8, 4>(Config::new());
    let (mut scratch, mut out) = ([0u8; 128], [0u8; 256]);
    let mut call = |conn: &mut ServerConnection<JsonCodec>, frame: &str| match conn
        .handle_message(NOW, MessageKind::Text, frame.as_bytes(), &router)
        .unwrap()
    {
        ServerReceived::Request(req) => {
            let t = router
                .dispatch(conn, NOW, &mut game, &req, &mut scratch, &mut out)
                .unwrap();
            sent(t, &out)
        }
        other => format!("{other:?}"),
    };
    assert_eq!(
        call(
            &mut conn,
            r#"{"id":"1","type":"request","endpoint":"move","data":{"x":1,"y":2}}"#
        ),
        r#"{"id":"1","type":"response","data":{"success":true,"turn":1}}"#
    );
    assert_eq!(
        call(
            &mut conn,
            r#"{"id":"2","type":"request","endpoint":"move","data":{"x":-1,"y":2}}"#
        ),
        r#"{"id":"2","type":"response.error","data":{"reason":"Off the board","code":"off-board"}}"#
    );
    assert_eq!(
        call(
            &mut conn,
            r#"{"id":"3","type":"request","endpoint":"move","data":{"x":"a"}}"#
        ),
        r#"{"id":"3","type":"response.error","data":{"reason":"Invalid request sent","code":"validation-error"}}"#
    );
    let unknown = call(
        &mut conn,
        r#"{"id":"4","type":"request","endpoint":"jump","data":{}}"#,
    );
    assert!(unknown.contains("InvalidEndpoint"), "{unknown}");
    assert_eq!(game.turn, 1);
}

fn client(profile: Profile) -> ClientConnection<JsonCodec> {
    let mut conn = ClientConnection::new(NOW, Config::new().with_profile(profile));
    conn.connect(NOW).unwrap();
    conn.handle_accepted(NOW, JsonCodec).unwrap();
    conn
}

#[test]
fn client_ignores_what_it_cannot_use() {
    let mut conn = client(Profile::Default);
    let mut out = [0u8; 128];
    let (id, _) = conn
        .request(NOW, "echo", &Typed(&1), None, &mut out)
        .unwrap();
    let cases: [(&str, ClientReceived<'_>); 3] = [
        (
            r#"{"id":"999","type":"response","data":1}"#,
            ClientReceived::Ignored(Unusable::UnknownId),
        ),
        (
            r#"{"id":"1","type":"request","endpoint":"x","data":1}"#,
            ClientReceived::Ignored(Unusable::RequestFrame),
        ),
        (
            r#"{"type":"mystery","data":1}"#,
            ClientReceived::Ignored(Unusable::Malformed(protocol_core::DecodeError::UnknownType)),
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(
            conn.handle_message(NOW, MessageKind::Text, frame.as_bytes())
                .unwrap(),
            expected,
            "{frame}"
        );
    }
    // An id-less error event fails nothing in the default profile.
    let error = r#"{"type":"event","kind":"error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#;
    assert!(matches!(
        conn.handle_message(NOW, MessageKind::Text, error.as_bytes())
            .unwrap(),
        ClientReceived::Event { .. }
    ));
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.pending(), 1);
    // The right id completes it; a duplicate answer is then unknown.
    let answer = format!(r#"{{"id":"{}","type":"response","data":[1]}}"#, id.0);
    let got = conn
        .handle_message(NOW, MessageKind::Text, answer.as_bytes())
        .unwrap();
    assert_eq!(
        got,
        ClientReceived::Response {
            request: id,
            data: Data::new(b"[1]")
        }
    );
    let again = conn
        .handle_message(NOW, MessageKind::Text, answer.as_bytes())
        .unwrap();
    assert_eq!(again, ClientReceived::Ignored(Unusable::UnknownId));
}

#[test]
fn seed000_client_fails_the_oldest_request_on_an_id_less_error_event() {
    let mut conn = client(Profile::Seed000);
    let mut out = [0u8; 128];
    let (first, _) = conn
        .request(NOW, "nope", &Typed(&1), None, &mut out)
        .unwrap();
    let (second, _) = conn
        .request(NOW, "echo", &Typed(&1), None, &mut out)
        .unwrap();
    let error = r#"{"type":"event","kind":"error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#;
    conn.handle_message(NOW, MessageKind::Text, error.as_bytes())
        .unwrap();
    assert_eq!(
        conn.poll_event(),
        Some(Event::RequestFailed {
            request: first,
            cause: RequestFailure::ErrorEvent(Some(ErrorCode::InvalidEndpoint))
        })
    );
    assert_eq!(conn.pending(), 1);
    let answer = format!(r#"{{"id":"{}","type":"response","data":1}}"#, second.0);
    assert!(matches!(
        conn.handle_message(NOW, MessageKind::Text, answer.as_bytes())
            .unwrap(),
        ClientReceived::Response { .. }
    ));
}

#[test]
fn client_pending_bound_is_refused_to_the_caller() {
    let mut conn: ClientConnection<JsonCodec, 2> = ClientConnection::new(NOW, Config::new());
    conn.connect(NOW).unwrap();
    conn.handle_accepted(NOW, JsonCodec).unwrap();
    let mut out = [0u8; 128];
    let _ = conn.request(NOW, "a", &Typed(&1), None, &mut out).unwrap();
    let _ = conn.request(NOW, "b", &Typed(&1), None, &mut out).unwrap();
    assert_eq!(
        conn.request(NOW, "c", &Typed(&1), None, &mut out)
            .unwrap_err(),
        CallError::TooManyPending
    );
    let long = "e".repeat(65);
    let mut conn = client(Profile::Default);
    assert_eq!(
        conn.request(NOW, &long, &Typed(&1), None, &mut out)
            .unwrap_err(),
        CallError::NameTooLong
    );
}

/// `MAX_CORE_FRAME_LEN` bounds every frame the core composes itself: the worst id (48
/// control characters, each escaped as `\u00XX`) with each of the core's error bodies.
#[test]
fn the_core_composes_nothing_longer_than_max_core_frame_len() {
    use protocol_core::limits::{MAX_CORE_FRAME_LEN, MAX_ID_LEN};
    for code in ErrorCode::ALL {
        assert!(
            code.reason().len() <= 27 && code.as_str().len() <= 16,
            "{code:?}"
        );
    }
    let mut conn = server::<8, 4>(Config::new());
    let id = "\\u0001".repeat(MAX_ID_LEN);
    let message = format!(r#"{{"id":"{id}","type":"request","endpoint":"nope","data":null}}"#);
    let got = conn.handle_message(NOW, MessageKind::Text, message.as_bytes(), &["echo"]);
    assert!(matches!(got, Ok(ServerReceived::Refused(_))), "{got:?}");
    let mut out = vec![0u8; MAX_CORE_FRAME_LEN];
    let Ok(Some(Transmit::Message { len, .. })) = conn.poll_transmit(NOW, &mut out) else {
        panic!("the answer fits MAX_CORE_FRAME_LEN bytes");
    };
    assert_eq!(
        String::from_utf8(out[..len].to_vec()).unwrap(),
        format!(
            r#"{{"id":"{id}","type":"response.error","data":{{"reason":"Invalid endpoint","code":"invalid-endpoint"}}}}"#
        )
    );
}
