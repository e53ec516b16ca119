//! The std server's features over real loopback sockets: events from the server handle
//! (one connection, a group, all), handler events, subprotocols, the handshake decision,
//! plain HTTP routes and `/healthz`, reply order.

mod std_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::SinkExt;
use protocol_core::connection::Initiator;
use std_support::{
    Probe, Received, TestServer, close, connect, connect_with, drain, game, lab, recv, recv_data,
    request, send_text,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use transport_std::extract::{Exited, Query};
use transport_std::{
    App, Decision, HandlerError, IN_FLIGHT, Profile, RawData, ReplyOrder, ServerConfig,
};

fn text(s: &str) -> Received {
    Received::Text(s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_one_connection_a_group_or_all() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut a = connect(&server.url("/ws")).await.unwrap();
    let mut b = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut a, &request("j", "join", r#""red""#)).await;
    assert_eq!(
        recv_data(&mut a).await,
        text(r#"{"id":"j","type":"response","data":"red"}"#)
    );
    send_text(&mut b, &request("e", "echo", "0")).await;
    assert_eq!(
        recv_data(&mut b).await,
        text(r#"{"id":"e","type":"response","data":0}"#)
    );
    let handle = &server.handle;
    assert_eq!(handle.connections(), 2);

    let delivery = handle.broadcast("news", "hello");
    assert_eq!(delivery.queued, 2);
    let news = text(r#"{"type":"event","kind":"news","data":"hello"}"#);
    assert_eq!(recv_data(&mut a).await, news);
    assert_eq!(recv_data(&mut b).await, news);

    let delivery = handle.send_to_group("red", "team", 7);
    assert_eq!((delivery.queued, delivery.dropped), (1, 0));
    assert_eq!(
        recv_data(&mut a).await,
        text(r#"{"type":"event","kind":"team","data":7}"#)
    );

    // One connection, by id: the one not in the group.
    let ids = handle.connection_ids();
    for id in ids {
        handle.send_to(id, "direct", id.0).unwrap();
    }
    let Received::Text(for_a) = recv_data(&mut a).await else {
        panic!()
    };
    let Received::Text(for_b) = recv_data(&mut b).await else {
        panic!()
    };
    assert!(for_a.starts_with(r#"{"type":"event","kind":"direct","data":"#));
    assert!(for_b.starts_with(r#"{"type":"event","kind":"direct","data":"#));
    assert_ne!(for_a, for_b);

    // Events a handler sends go out before its reply.
    send_text(&mut b, &request("p", "push", "3")).await;
    for i in 0..3 {
        assert_eq!(
            recv_data(&mut b).await,
            text(&format!(r#"{{"type":"event","kind":"tick","data":{i}}}"#))
        );
    }
    assert_eq!(
        recv_data(&mut b).await,
        text(r#"{"id":"p","type":"response","data":3}"#)
    );

    for c in [&mut a, &mut b] {
        close(c, 1000).await;
        drain(c).await;
    }
    let handle = server.stop().await;
    assert_eq!(
        handle.send_to(transport_std::ConnectionId(1), "x", 0),
        Err(transport_std::SendError::Unknown)
    );
}

fn closed(code: u16, reason: &str) -> Received {
    Received::Close(Some((code, reason.to_string())))
}

/// A plain HTTP/1.1 GET: the status and the body.
async fn http_get(server: &TestServer, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    std_support::guard("an HTTP response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_routes_share_the_port() {
    let server = TestServer::start(game::app(), game::config(Profile::Default)).await;
    let (status, page) = http_get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("new WebSocket(") && page.contains("/ws?game_id="),
        "the game page"
    );
    assert!(
        !page.contains("https://"),
        "self-contained: nothing loaded from elsewhere"
    );
    let (status, health) = http_get(&server, "/healthz").await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["open"], 0);
    // Every counter of `Stats`, as the README lists them.
    for counter in [
        "tcp_accepted",
        "tcp_refused",
        "accept_errors",
        "http_requests",
        "connections",
        "requests",
        "errors",
        "panics",
        "bytes_in",
        "bytes_out",
        "handshakes_rejected",
        "events_dropped",
        "slow_reader_closes",
        "rate_limit_closes",
        "exits",
    ] {
        assert!(health[counter].is_u64(), "{counter} in {health}");
    }
    assert!(health["closes"].is_object());
    let (status, _) = http_get(&server, "/nope").await;
    assert_eq!(status, 404);
    let (status, body) = http_get(&server, "/ws").await;
    assert_eq!(status, 426, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subprotocols_are_negotiated_by_the_core() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let url = server.url("/ws");

    // None offered: JSON, and no Sec-WebSocket-Protocol in the answer.
    let request = url.clone().into_client_request().unwrap();
    let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    send_text(&mut client, &std_support::request("j", "echo", "[1]")).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"j","type":"response","data":[1]}"#.into())
    );
    close(&mut client, 1000).await;
    drain(&mut client).await;

    // Ours offered (after an unknown one): that codec, named in the answer.
    let mut request = url.clone().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "chat, quartet.v1.postcard".parse().unwrap(),
    );
    let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "quartet.v1.postcard"
    );
    // request {id "r1", endpoint "echo", data: the postcard encoding of 5}
    let frame = [
        0x01, 0x02, b'r', b'1', 0x04, b'e', b'c', b'h', b'o', 0x01, 0x05,
    ];
    client
        .send(Message::binary(Bytes::copy_from_slice(&frame)))
        .await
        .unwrap();
    // response {id "r1", data 5}
    assert_eq!(
        recv_data(&mut client).await,
        Received::Binary(vec![0x02, 0x02, b'r', b'1', 0x01, 0x05])
    );
    // Text on a postcard connection: 1003.
    send_text(&mut client, "{}").await;
    assert_eq!(
        recv_data(&mut client).await,
        closed(1003, "unsupported message type")
    );
    drain(&mut client).await;

    // Only unknown ones offered: 400 with a body.
    let refused = connect_with(&url, &[("sec-websocket-protocol", "chat, superchat")]).await;
    let (status, body) = refused.expect_err("no common subprotocol");
    assert_eq!(status, 400);
    assert!(body.contains("quartet.v1.json"), "{body}");
    server.stop().await;
}

/// An app whose handshake decision reads `?token=`.
fn guarded(exits: &Arc<AtomicUsize>) -> App<()> {
    let exits = exits.clone();
    App::new("/ws")
        .raw("echo", |data: RawData| async move {
            Ok::<_, HandlerError>(data)
        })
        .handshake(|request| async move {
            match request.query() {
                Some("token=good") => Decision::Accept,
                Some("token=expired") => Decision::close_after_accept(4401, "token expired"),
                _ => Decision::reject(http::StatusCode::UNAUTHORIZED, "who are you?"),
            }
        })
        .exit(move |Exited(how): Exited| {
            let exits = exits.clone();
            async move {
                assert_eq!(how.initiator, Initiator::Local);
                exits.fetch_add(1, Ordering::SeqCst);
            }
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_decision_accepts_refuses_or_closes_after_accept() {
    let exits = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(guarded(&exits), ServerConfig::new()).await;
    let (status, body) = connect(&server.url("/ws?token=bad"))
        .await
        .expect_err("refused");
    assert_eq!((status, body.as_str()), (401, "who are you?"));
    // Browsers cannot read a refused handshake; they can read this close.
    let mut client = connect(&server.url("/ws?token=expired")).await.unwrap();
    assert_eq!(recv_data(&mut client).await, closed(4401, "token expired"));
    drain(&mut client).await;
    let mut client = connect(&server.url("/ws?token=good")).await.unwrap();
    send_text(&mut client, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"e","type":"response","data":1}"#.into())
    );
    server
        .handle
        .close(server.handle.connection_ids()[0], 4000, "kicked");
    assert_eq!(recv_data(&mut client).await, closed(4000, "kicked"));
    drain(&mut client).await;
    let handle = server.stop().await;
    assert_eq!(
        exits.load(Ordering::SeqCst),
        2,
        "the closed-after-accept one included"
    );
    assert_eq!(handle.stats().handshakes_rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_can_keep_request_order() {
    // A slow request, a request the core refuses itself (no such endpoint), a fast one.
    let reply = |id: &str| {
        match id {
        "x" => r#"{"id":"x","type":"response.error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#.to_owned(),
        id => format!(r#"{{"id":"{id}","type":"response","data":0}}"#),
    }
    };
    for order in [ReplyOrder::AsCompleted, ReplyOrder::InOrder] {
        let probe = Probe::new();
        let mut config = ServerConfig::new();
        config.reply_order = order;
        let server = TestServer::start(lab(&probe), config).await;
        let mut client = connect(&server.url("/ws")).await.unwrap();
        send_text(&mut client, &request("w", "wait", "0")).await;
        send_text(&mut client, &request("x", "nowhere", "0")).await;
        send_text(&mut client, &request("e", "echo", "0")).await;
        probe
            .until("wait started", |p| Probe::get(&p.started) == 1)
            .await;
        if order == ReplyOrder::AsCompleted {
            // The refusal and the fast one are answered while the slow one still runs.
            for id in ["x", "e"] {
                assert_eq!(recv_data(&mut client).await, Received::Text(reply(id)));
            }
            probe.release(1);
            assert_eq!(recv_data(&mut client).await, Received::Text(reply("w")));
        } else {
            // Nothing goes out before the slow one's answer, the core's refusal included (the
            // wait gives the server time to read the other two).
            let early = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                recv_data(&mut client),
            );
            assert!(early.await.is_err(), "an answer before the slow one's");
            probe.release(1);
            for id in ["w", "x", "e"] {
                assert_eq!(
                    recv_data(&mut client).await,
                    Received::Text(reply(id)),
                    "{id}"
                );
            }
        }
        close(&mut client, 1000).await;
        drain(&mut client).await;
        server.stop().await;
    }
}

/// In request order, at most `IN_FLIGHT` refusals wait behind a slow request; the next one is
/// answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_refusals_are_bounded() {
    let refusal = |id: &str| {
        Received::Text(format!(
            r#"{{"id":"{id}","type":"response.error","data":{{"reason":"Invalid endpoint","code":"invalid-endpoint"}}}}"#
        ))
    };
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.reply_order = ReplyOrder::InOrder;
    let server = TestServer::start(lab(&probe), config).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, &request("w", "wait", "0")).await;
    for i in 0..=IN_FLIGHT {
        send_text(&mut client, &request(&format!("r{i}"), "nowhere", "0")).await;
    }
    // The one over the bound goes out while the others wait.
    assert_eq!(
        recv_data(&mut client).await,
        refusal(&format!("r{IN_FLIGHT}"))
    );
    probe.release(1);
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"w","type":"response","data":0}"#.into())
    );
    for i in 0..IN_FLIGHT {
        assert_eq!(recv_data(&mut client).await, refusal(&format!("r{i}")));
    }
    close(&mut client, 1000).await;
    drain(&mut client).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_keep_a_reading_client_and_idle_ones_are_closed() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.core.keepalive_interval = Some(protocol_core::Duration::from_millis(20));
    config.core.idle_timeout = Some(protocol_core::Duration::from_millis(100));
    config.core.close_timeout = protocol_core::Duration::from_millis(100);
    config.control_rate = None;
    let server = TestServer::start(lab(&probe), config).await;

    // A reading client answers the pings (tungstenite does): more pings than fit in the
    // idle timeout arrive, and no close.
    let mut client = connect(&server.url("/ws")).await.unwrap();
    let mut pings = 0;
    while pings < 8 {
        match recv(&mut client).await {
            Received::Ping => pings += 1,
            other => panic!("after {pings} pings: {other:?}"),
        }
    }
    send_text(&mut client, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"e","type":"response","data":1}"#.into())
    );

    close(&mut client, 1000).await;
    drain(&mut client).await;
    probe
        .until("the reading client's exit", |p| Probe::get(&p.exits) == 1)
        .await;
    assert_eq!(probe.ended.lock().unwrap()[0].code, Some(1000));

    // A client that never reads never answers: idle timeout, close 1001, and the close
    // timeout ends it.
    let silent = connect(&server.url("/ws")).await.unwrap();
    probe
        .until("the silent client's exit", |p| Probe::get(&p.exits) == 2)
        .await;
    let how = probe.ended.lock().unwrap()[1];
    assert_eq!((how.code, how.clean), (Some(1001), false));
    drop(silent);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enter_hook_that_panics_sends_internal_error_and_the_exit_hook_still_runs() {
    #[derive(serde::Deserialize)]
    struct Q {
        #[allow(dead_code)]
        who: String,
    }
    let exits = Arc::new(AtomicUsize::new(0));
    let counted = exits.clone();
    let app = App::<()>::new("/ws")
        .enter(|Query(_): Query<Q>| async move {
            if true {
                panic!("the enter hook panicked on purpose");
            }
            Ok::<_, HandlerError>(())
        })
        .raw("echo", |data: RawData| async move {
            Ok::<_, HandlerError>(data)
        })
        .exit(move || {
            let exits = counted.clone();
            async move {
                exits.fetch_add(1, Ordering::SeqCst);
            }
        });
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws?who=me")).await.unwrap();
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(
            r#"{"type":"event","kind":"error","data":{"reason":"Internal server error","code":"internal-error"}}"#
                .into()
        )
    );
    send_text(&mut client, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"e","type":"response","data":1}"#.into())
    );
    close(&mut client, 1000).await;
    drain(&mut client).await;
    // Its extractor failing refuses the handshake (default profile), with the reason.
    let (status, body) = connect(&server.url("/ws")).await.expect_err("refused");
    assert_eq!(
        (status, body.as_str()),
        (400, "query: missing field `who`\n")
    );
    let handle = server.stop().await;
    assert_eq!(exits.load(Ordering::SeqCst), 1);
    assert_eq!(handle.stats().panics, 1);
}

/// A close from the server while the enter hook still runs cancels the hook, so the client's
/// answer is read and the close handshake completes at once (it used to wait out the close
/// timeout, the hook still running, and end unclean).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_during_the_enter_hook_cancels_it_and_completes_the_handshake() {
    let (exited_tx, mut exited_rx) = tokio::sync::mpsc::unbounded_channel();
    let app = App::<()>::new("/ws")
        .enter(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok::<_, HandlerError>(())
        })
        .exit(move |Exited(how): Exited| {
            let _ = exited_tx.send(how);
            async {}
        });
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    std_support::eventually("the connection is registered", || {
        server.handle.connection_ids().len() == 1
    })
    .await;
    server
        .handle
        .close(server.handle.connection_ids()[0], 4000, "kicked");
    assert_eq!(
        recv(&mut client).await,
        Received::Close(Some((4000, "kicked".into())))
    );
    drain(&mut client).await;
    let how = std_support::guard("the exit hook", exited_rx.recv())
        .await
        .unwrap();
    // Clean: the client's answer was read (a close that times out is not clean).
    assert_eq!((how.code, how.clean), (Some(4000), true));
    server.stop().await;
}

/// A free-form app's enter hook runs, but its result is not sent as an envelope `init`
/// event (free-form apps do not speak the envelope), and its messages count as requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_form_app_sends_no_envelope_frames_from_its_enter_hook() {
    async fn hello(_: serde_json::Value) -> Result<String, HandlerError> {
        Ok("hi".into())
    }
    let app = App::<()>::new("/ws")
        .enter(|| async { Ok::<_, HandlerError>("hello") })
        .dispatch_by(protocol_core::dispatch::Discriminator::whole("action"))
        .on("hello", hello);
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut client = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut client, r#"{"action":"hello"}"#).await;
    assert_eq!(recv_data(&mut client).await, text("hi"));
    close(&mut client, 1000).await;
    drain(&mut client).await;
    let stats = server.stop().await.stats();
    assert_eq!((stats.requests, stats.errors), (1, 0));
}

/// `Cookies<T>` reads the handshake's cookies typed; a name sent twice (one cookie per
/// matching path, as browsers send them) takes its first value instead of refusing the
/// handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_cookies_take_the_first_of_a_repeated_name() {
    #[derive(serde::Deserialize)]
    struct Session {
        session: String,
        theme: Option<String>,
    }
    let app = App::<()>::new("/ws").raw(
        "whoami",
        |transport_std::extract::Cookies(c): transport_std::extract::Cookies<Session>,
         _data: RawData| async move {
            let answer = format!("[{:?},{:?}]", c.session, c.theme.unwrap_or_default());
            Ok::<_, HandlerError>(RawData::new(transport_std::AnyCodec::Json, answer))
        },
    );
    let server = TestServer::start(app, ServerConfig::new()).await;
    let cookies = [("cookie", "session=specific; theme=dark; session=general")];
    let mut client = connect_with(&server.url("/ws"), &cookies).await.unwrap();
    send_text(&mut client, &request("w", "whoami", "null")).await;
    assert_eq!(
        recv_data(&mut client).await,
        text(r#"{"id":"w","type":"response","data":["specific","dark"]}"#)
    );
    close(&mut client, 1000).await;
    server.stop().await;
}

/// Sends raw bytes and reads the whole answer (the server closes).
async fn raw_exchange(server: &TestServer, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut response = Vec::new();
    let _ = std_support::guard("the answer", stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_limits_head_size_decision_time_and_concurrent_handshakes() {
    let probe = Probe::new();
    let mut config = ServerConfig::new();
    config.max_handshakes = 1;
    config.core.handshake_timeout = protocol_core::Duration::from_millis(50);
    let slow = lab(&probe).handshake(|request| async move {
        if request.query() == Some("slow") {
            std::future::pending::<()>().await;
        }
        Decision::Accept
    });
    let server = TestServer::start(slow, config).await;

    // A request head over 16 KiB: 431.
    let big = format!(
        "GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(20 * 1024)
    );
    let answer = raw_exchange(&server, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.40}");

    // A decision that does not come within the handshake timeout: 503.
    let (status, body) = connect(&server.url("/ws?slow"))
        .await
        .expect_err("timed out");
    assert_eq!((status, body.as_str()), (503, "handshake timed out\n"));

    // One connection sits in the HTTP phase: the next one is closed at once.
    std_support::eventually("earlier connections ended", || {
        server.handle.live_tasks() == 0
    })
    .await;
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    std_support::eventually("the idle connection accepted", || {
        server.handle.stats().tcp_accepted == 3 && server.handle.live_tasks() == 1
    })
    .await;
    let answer = raw_exchange(
        &server,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer, "", "closed without an answer");
    assert_eq!(server.handle.stats().tcp_refused, 1);
    // Once it is gone, handshakes are served again.
    idle.shutdown().await.unwrap();
    drop(idle);
    std_support::eventually("the idle connection ended", || {
        server.handle.live_tasks() == 0
    })
    .await;
    let (status, _) = http_get(&server, "/healthz").await;
    assert_eq!(status, 200);
    server.stop().await;
}
