//! Faults and bad input against the std server over real loopback sockets: each gets the
//! reply or close code `docs/spec.md` gives it, and never takes the server or another
//! connection down. Timeouts here are hang guards only; nothing asserts on timing.

mod std_support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use protocol_core::connection::Initiator;
use std_support::{
    Probe, Received, TestServer, close, connect, connect_with, drain, eventually, guard, lab, recv,
    recv_data, request, send_text,
};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use transport_std::{Profile, SendError, ServerConfig, SlowReaderPolicy};

fn text(s: &str) -> Received {
    Received::Text(s.to_string())
}

fn closed(code: u16, reason: &str) -> Received {
    Received::Close(Some((code, reason.to_string())))
}

/// After a server close: the stream ends with nothing else.
async fn expect_end(client: &mut std_support::Client) {
    let rest = drain(client).await;
    assert!(rest.is_empty(), "after the close: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_request_gets_its_exit_hook_run_once() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, &request("w", "wait", "1")).await;
    probe
        .until("the handler started", |p| Probe::get(&p.started) == 1)
        .await;
    // Gone without a close frame: the TCP connection just closes.
    let tcp = client.into_inner();
    drop(tcp);
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    assert_eq!(
        Probe::get(&probe.cancelled),
        1,
        "the running handler was cancelled"
    );
    let how = probe.ended.lock().unwrap()[0];
    assert_eq!(how.initiator, Initiator::Transport);
    assert_eq!(how.code, None);
    // The server still serves.
    let mut other = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut other, &request("e", "echo", "2")).await;
    assert_eq!(
        recv_data(&mut other).await,
        text(r#"{"id":"e","type":"response","data":2}"#)
    );
    close(&mut other, 1000).await;
    drain(&mut other).await;
    let handle = server.stop().await;
    assert_eq!(Probe::get(&probe.exits), 2, "exactly once per connection");
    assert_eq!(handle.stats().closes.get(&1006), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_in_flight_bound_gets_a_reply_or_busy_for_every_request() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    const N: usize = 200;
    for i in 0..N {
        client
            .feed(Message::text(request(
                &format!("w{i}"),
                "wait",
                &i.to_string(),
            )))
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let in_flight = transport_std::IN_FLIGHT;
    probe
        .until("64 handlers started", |p| {
            Probe::get(&p.started) == in_flight
        })
        .await;
    let mut busy = Vec::new();
    let mut answered = Vec::new();
    // The busy answers come first: nothing has finished yet.
    for _ in 0..N - in_flight {
        let Received::Text(frame) = recv_data(&mut client).await else {
            panic!("expected a frame")
        };
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["type"], "response.error", "{frame}");
        assert_eq!(value["data"]["code"], "busy", "{frame}");
        busy.push(value["id"].as_str().unwrap().to_string());
    }
    probe.release(in_flight);
    for _ in 0..in_flight {
        let Received::Text(frame) = recv_data(&mut client).await else {
            panic!("expected a frame")
        };
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["type"], "response", "{frame}");
        answered.push(value["id"].as_str().unwrap().to_string());
    }
    let mut ids: Vec<String> = busy.iter().chain(&answered).cloned().collect();
    ids.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("w{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "every request answered exactly once");
    answered.sort_by_key(|id| id[1..].parse::<usize>().unwrap());
    assert_eq!(
        answered,
        (0..in_flight).map(|i| format!("w{i}")).collect::<Vec<_>>()
    );
    close(&mut client, 1000).await;
    drain(&mut client).await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.requests as usize, in_flight);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_closed_with_1008() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    for _ in 0..500 {
        if client.feed(Message::Ping(Bytes::new())).await.is_err() {
            break;
        }
    }
    let _ = client.flush().await;
    let mut pongs = 0;
    let close = loop {
        match recv(&mut client).await {
            Received::Pong => pongs += 1,
            other => break other,
        }
    };
    assert_eq!(close, closed(1008, "control frame rate limit exceeded"));
    // The burst is 50 (plus what refills while the flood arrives): far fewer than 500.
    assert!(pongs < 500, "{pongs} pongs");
    drain(&mut client).await;
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.rate_limit_closes, 1);
    assert_eq!(stats.closes.get(&1008), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_flood_is_closed_with_1008() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.message_rate = Some(transport_std::Rate::new(10, 20));
    let server = TestServer::start(lab(&probe), config).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    for i in 0..100 {
        if client
            .feed(Message::text(request(&format!("e{i}"), "echo", "0")))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = client.flush().await;
    let mut replies = 0;
    let close = loop {
        match recv_data(&mut client).await {
            Received::Text(_) => replies += 1,
            other => break other,
        }
    };
    assert_eq!(close, closed(1008, "message rate limit exceeded"));
    // The burst of 20 (plus what refills while the flood arrives) is answered, then the
    // connection is closed.
    assert!((20..100).contains(&replies), "{replies} replies");
    drain(&mut client).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_not_allowed_is_refused_with_403() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let url = server.url("/ws");
    let refused = connect_with(&url, &[("origin", "http://evil.example")]).await;
    let (status, body) = refused.expect_err("refused");
    assert_eq!(status, 403);
    assert_eq!(body, "origin not allowed\n");
    let same = format!("http://{}", server.addr);
    let mut ok = connect_with(&url, &[("origin", &same)])
        .await
        .expect("same host");
    close(&mut ok, 1000).await;
    drain(&mut ok).await;
    let mut no_origin = connect(&url).await.expect("no origin: not a browser");
    close(&mut no_origin, 1000).await;
    drain(&mut no_origin).await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.handshakes_rejected, 1);
    assert_eq!(stats.connections, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_finish_then_closes_with_1001_and_runs_exit_hooks() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut a = connect(&server.url("/ws")).await.unwrap();
    let mut b = connect(&server.url("/ws")).await.unwrap();
    for i in 0..3 {
        send_text(&mut a, &request(&format!("a{i}"), "wait", "0")).await;
    }
    send_text(&mut b, &request("b0", "wait", "0")).await;
    probe
        .until("four handlers started", |p| Probe::get(&p.started) == 4)
        .await;
    server.handle.begin_shutdown();
    // The requests are still running: nothing is closed yet. Let them finish.
    probe.release(4);
    let mut got_a = Vec::new();
    for _ in 0..3 {
        got_a.push(recv_data(&mut a).await);
    }
    got_a.sort_by_key(Received::show);
    assert_eq!(
        got_a,
        vec![
            text(r#"{"id":"a0","type":"response","data":0}"#),
            text(r#"{"id":"a1","type":"response","data":0}"#),
            text(r#"{"id":"a2","type":"response","data":0}"#),
        ]
    );
    assert_eq!(recv_data(&mut a).await, closed(1001, "server shutdown"));
    assert_eq!(
        recv_data(&mut b).await,
        text(r#"{"id":"b0","type":"response","data":0}"#)
    );
    assert_eq!(recv_data(&mut b).await, closed(1001, "server shutdown"));
    // The clients answer the close (tungstenite does it); the handshake completes.
    drain(&mut a).await;
    drain(&mut b).await;
    let handle = server.stop().await;
    assert_eq!(Probe::get(&probe.exits), 2);
    assert_eq!(Probe::get(&probe.cancelled), 0);
    for how in probe.ended.lock().unwrap().iter() {
        assert_eq!((how.code, how.clean), (Some(1001), true), "{how:?}");
    }
    assert_eq!(handle.stats().closes.get(&1001), Some(&2));
    assert_eq!(handle.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_requests_still_running_at_the_deadline() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.shutdown_grace = Duration::from_millis(100);
    let server = TestServer::start(lab(&probe), config).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, &request("stuck", "wait", "0")).await;
    probe
        .until("the handler started", |p| Probe::get(&p.started) == 1)
        .await;
    let handle = server.handle.clone();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    assert_eq!(
        recv_data(&mut client).await,
        closed(1001, "server shutdown")
    );
    drain(&mut client).await;
    guard("shutdown", shutdown).await.unwrap();
    assert_eq!(Probe::get(&probe.cancelled), 1);
    assert_eq!(Probe::get(&probe.exits), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    let frame = Frame::message(
        Bytes::from_static(b"{\"id\":\"x\",\xff}"),
        OpCode::Data(Data::Text),
        true,
    );
    client.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(recv_data(&mut client).await, closed(1007, "invalid UTF-8"));
    expect_end(&mut client).await;
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    assert_eq!(probe.ended.lock().unwrap()[0].code, Some(1007));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_websocket_limit_is_closed_with_1009() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    let data = format!("\"{}\"", "y".repeat(70 * 1024));
    send_text(&mut client, &request("huge", "echo", &data)).await;
    assert_eq!(
        recv_data(&mut client).await,
        closed(1009, "message too big")
    );
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    assert_eq!(probe.ended.lock().unwrap()[0].code, Some(1009));
    let stats = server.stop().await.stats();
    assert_eq!(stats.requests, 0, "it never reached the core");
}

/// A free-form handler's reply longer than `max_message_size` is not sent: the connection
/// is closed with 1011 and the server shuts down normally (it used to spin on a frame
/// tungstenite's write buffer could never take).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_form_reply_over_the_message_limit_closes_with_1011() {
    async fn big(v: serde_json::Value) -> Result<String, transport_std::HandlerError> {
        let n = v["n"].as_u64().unwrap_or(0);
        Ok("a".repeat(usize::try_from(n).unwrap_or(0)))
    }
    let app = transport_std::App::<()>::new("/ws")
        .dispatch_by(protocol_core::dispatch::Discriminator::whole("action"))
        .on("big", big);
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"{"action":"big","n":1000}"#).await;
    assert_eq!(recv_data(&mut client).await, text(&"a".repeat(1000)));
    send_text(&mut client, r#"{"action":"big","n":300000}"#).await;
    assert_eq!(recv(&mut client).await, closed(1011, "reply too large"));
    drain(&mut client).await;
    let handle = server.stop().await;
    assert_eq!(handle.live_tasks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_the_core_limit_gets_frame_too_large_with_its_id() {
    let probe = Probe::new();
    for (profile, expected) in [
        (
            Profile::Default,
            r#"{"id":"big","type":"response.error","data":{"reason":"Frame too large","code":"frame-too-large"}}"#,
        ),
        (
            Profile::Seed000,
            r#"{"type":"event","kind":"error","data":{"reason":"Frame too large","code":"frame-too-large"}}"#,
        ),
    ] {
        let server =
            TestServer::start(lab(&probe), ServerConfig::new().with_profile(profile)).await;
        let mut client = connect(&server.url("/ws")).await.unwrap();
        let data = format!("\"{}\"", "y".repeat(20 * 1024));
        send_text(&mut client, &request("big", "echo", &data)).await;
        assert_eq!(recv_data(&mut client).await, text(expected), "{profile:?}");
        // Still open.
        send_text(&mut client, &request("small", "echo", "1")).await;
        assert_eq!(
            recv_data(&mut client).await,
            text(r#"{"id":"small","type":"response","data":1}"#)
        );
        close(&mut client, 1000).await;
        drain(&mut client).await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_frame_on_a_json_connection_is_closed_with_1003() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    let frame = request("b", "echo", "1");
    client
        .send(Message::binary(frame.into_bytes()))
        .await
        .unwrap();
    assert_eq!(
        recv_data(&mut client).await,
        closed(1003, "unsupported message type")
    );
    expect_end(&mut client).await;
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    let how = probe.ended.lock().unwrap()[0];
    assert_eq!(
        (how.initiator, how.code, how.clean),
        (Initiator::Local, Some(1003), true)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_panic_is_an_internal_error_and_the_connection_goes_on() {
    let probe = Probe::new();
    for (profile, expected) in [
        (
            Profile::Default,
            r#"{"id":"p","type":"response.error","data":{"reason":"Internal server error","code":"internal-error"}}"#,
        ),
        (
            Profile::Seed000,
            r#"{"type":"event","kind":"error","data":{"reason":"Internal server error","code":"internal-error"}}"#,
        ),
    ] {
        let server =
            TestServer::start(lab(&probe), ServerConfig::new().with_profile(profile)).await;
        let mut client = connect(&server.url("/ws")).await.unwrap();
        send_text(&mut client, &request("p", "panic", "1")).await;
        assert_eq!(recv_data(&mut client).await, text(expected));
        send_text(&mut client, &request("e", "echo", "1")).await;
        assert_eq!(
            recv_data(&mut client).await,
            text(r#"{"id":"e","type":"response","data":1}"#)
        );
        close(&mut client, 1000).await;
        drain(&mut client).await;
        let stats = server.stop().await.stats();
        assert_eq!(stats.panics, 1);
    }
}

/// A panic before a handler's first `.await` (in its extractors, or in the plain function
/// that returns its future), or in a free-form dispatcher's handler, is caught like one
/// inside it: `internal-error` (or the fallback), the connection goes on, and the exit hook
/// runs once. (It used to unwind the connection's task: no close frame, no exit hook.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_before_the_first_await_is_caught_too() {
    let exits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = exits.clone();
    let app = transport_std::App::<()>::new("/ws")
        .raw("sync-panic", |data: transport_std::RawData| {
            let n: u32 = data.as_str().unwrap_or("").parse().expect("a number");
            async move {
                let _ = n;
                Ok::<_, transport_std::HandlerError>(data)
            }
        })
        .raw("echo", |data: transport_std::RawData| async move {
            Ok::<_, transport_std::HandlerError>(data)
        })
        .exit(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async {}
        });
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, &request("p", "sync-panic", r#""x""#)).await;
    assert_eq!(
        recv_data(&mut client).await,
        text(
            r#"{"id":"p","type":"response.error","data":{"reason":"Internal server error","code":"internal-error"}}"#
        )
    );
    send_text(&mut client, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut client).await,
        text(r#"{"id":"e","type":"response","data":1}"#)
    );
    close(&mut client, 1000).await;
    drain(&mut client).await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.panics, 1);
    assert_eq!(exits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The same in a free-form handler: the fallback answers.
    async fn sync_panic(n: u32) -> Result<String, transport_std::HandlerError> {
        Ok(n.to_string())
    }
    let app = transport_std::App::<()>::new("/ws")
        .dispatch_by(protocol_core::dispatch::Discriminator::member(
            "type", "data",
        ))
        .on("ok", sync_panic)
        .dispatcher(PanickingDispatcher)
        .fallback(
            |_message, error: transport_std::free::FreeError| async move {
                format!("fallback: {error}")
            },
        );
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"{"type":"ok","data":1}"#).await;
    let Received::Text(answer) = recv_data(&mut client).await else {
        panic!("a text answer")
    };
    assert!(answer.starts_with("fallback: "), "{answer}");
    close(&mut client, 1000).await;
    drain(&mut client).await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.panics, 1);
}

/// A dispatcher that panics on every message.
struct PanickingDispatcher;

impl protocol_core::dispatch::Dispatcher for PanickingDispatcher {
    fn dispatch<'m>(
        &self,
        _message: &'m [u8],
    ) -> Result<
        (protocol_core::connection::RouteId, protocol_core::Data<'m>),
        protocol_core::dispatch::RouteError,
    > {
        panic!("the dispatcher panicked on purpose")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_answered_and_other_connections_are_unaffected() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut bystander = connect(&server.url("/ws")).await.unwrap();
    let mut client = connect(&server.url("/ws")).await.unwrap();
    let validation = r#"{"type":"event","kind":"error","data":{"reason":"Invalid request sent","code":"validation-error"}}"#;
    for bad in [
        "{bad json",
        "",
        "[1,2]",
        r#"{"id":"x","type":"request","endpoint":"echo","data":NaN}"#,
    ] {
        send_text(&mut client, bad).await;
        assert_eq!(recv_data(&mut client).await, text(validation), "{bad:?}");
    }
    send_text(
        &mut client,
        &request("t", "echo", r#"{"x":"wrong type is fine for echo"}"#),
    )
    .await;
    assert_eq!(
        recv_data(&mut client).await,
        text(r#"{"id":"t","type":"response","data":{"x":"wrong type is fine for echo"}}"#)
    );
    send_text(&mut client, &request("n", "nope", "null")).await;
    assert_eq!(
        recv_data(&mut client).await,
        text(
            r#"{"id":"n","type":"response.error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#
        )
    );
    send_text(&mut client, &request("b", "big", r#""not a number""#)).await;
    assert_eq!(
        recv_data(&mut client).await,
        text(
            r#"{"id":"b","type":"response.error","data":{"reason":"Internal server error","code":"internal-error"}}"#
        )
    );
    send_text(&mut bystander, &request("ok", "echo", "true")).await;
    assert_eq!(
        recv_data(&mut bystander).await,
        text(r#"{"id":"ok","type":"response","data":true}"#)
    );
    for c in [&mut client, &mut bystander] {
        close(c, 1000).await;
        drain(c).await;
    }
    server.stop().await;
}

/// A client with a small receive buffer; the test sends with it and never reads.
async fn small_buffer_client(server: &TestServer) -> std_support::Client {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (client, _) =
        tokio_tungstenite::client_async(server.url("/ws"), MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_as_a_slow_reader_and_memory_stays_bounded() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.event_queue = 16;
    config.core.close_timeout = protocol_core::Duration::from_millis(200);
    let server = TestServer::start(lab(&probe), config).await;
    let mut stuck = small_buffer_client(&server).await;
    // Its own handler pushes 64 MiB of events, waiting whenever the queue is full: the queue
    // stays full once the socket no longer takes output.
    send_text(&mut stuck, &request("f", "flood", "65536")).await;
    eventually("the connection is registered", || {
        server.handle.connections() == 1
    })
    .await;
    let id = server.handle.connection_ids()[0];
    // A server event now finds the queue full: the slow-reader policy applies.
    let offered = std::sync::atomic::AtomicUsize::new(0);
    eventually("a full queue", || {
        offered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        server.handle.send_to(id, "tick", 0) == Err(SendError::Full)
    })
    .await;
    let offered = offered.into_inner();
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    let how = probe.ended.lock().unwrap()[0];
    assert_eq!(
        (how.initiator, how.code, how.clean),
        (Initiator::Local, Some(1008), false)
    );
    let stats = server.handle.stats();
    eprintln!(
        "never-reading client: {} bytes of events encoded before its queue stayed full, {offered} server events offered",
        stats.bytes_out
    );
    assert_eq!(stats.slow_reader_closes, 1);
    assert!(stats.events_dropped >= 1);
    // What was encoded is bounded by the socket buffers and the write buffer, not by the
    // 64 MiB the handler wanted to send.
    assert!(stats.bytes_out > 0);
    assert!(
        stats.bytes_out < 16 * 1024 * 1024,
        "{} bytes encoded for a client that never reads",
        stats.bytes_out
    );
    // The server still serves others.
    let mut other = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut other, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut other).await,
        text(r#"{"id":"e","type":"response","data":1}"#)
    );
    close(&mut other, 1000).await;
    drain(&mut other).await;
    drop(stuck);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_drop_policy_a_slow_reader_loses_events_but_stays_connected() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.event_queue = 4;
    config.slow_reader = SlowReaderPolicy::DropEvent;
    let server = TestServer::start(lab(&probe), config).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    eventually("registered", || server.handle.connections() == 1).await;
    let payload = "z".repeat(16 * 1024);
    let mut dropped = 0;
    for _ in 0..4096 {
        let delivery = server.handle.broadcast("tick", payload.clone());
        dropped += delivery.dropped;
        if dropped > 0 {
            break;
        }
    }
    assert!(dropped > 0, "the queue filled");
    // Reading again: the connection is intact and answers.
    send_text(&mut client, &request("e", "echo", "1")).await;
    loop {
        match recv_data(&mut client).await {
            Received::Text(frame) if frame.starts_with(r#"{"type":"event","kind":"tick""#) => {}
            other => {
                assert_eq!(other, text(r#"{"id":"e","type":"response","data":1}"#));
                break;
            }
        }
    }
    close(&mut client, 1000).await;
    drain(&mut client).await;
    let stats = server.stop().await.stats();
    assert_eq!(stats.slow_reader_closes, 0);
    assert!(stats.events_dropped >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_right_behind_a_request_still_gets_the_reply_then_the_close_answer() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    client
        .feed(Message::text(request("last", "echo", "9")))
        .await
        .unwrap();
    client
        .feed(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            },
        )))
        .await
        .unwrap();
    client.flush().await.unwrap();
    assert_eq!(
        drain(&mut client).await,
        vec![
            text(r#"{"id":"last","type":"response","data":9}"#),
            closed(1000, "bye"),
        ]
    );
    probe
        .until("the exit hook", |p| Probe::get(&p.exits) == 1)
        .await;
    let how = probe.ended.lock().unwrap()[0];
    assert_eq!(
        (how.initiator, how.code, how.clean),
        (Initiator::Peer, Some(1000), true)
    );
    server.stop().await;
}
