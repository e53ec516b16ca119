//! The Rust client (`transport_std::client`) against the game server over loopback: typed
//! calls, raw data, server errors, typed events, timeouts, close, `wss://` through a TLS
//! terminator, reconnects after a lost connection, no reconnect after a 4xx, and the event
//! queue's overflow policy.

mod std_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::game::{
    Empty, FailEndpoint, GameState, InitEvent, Move, MoveEndpoint, Moved, StateEvent, Status,
    Success,
};
use std_support::{TestServer, game, guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use transport_std::Profile;
use transport_std::client::{Backoff, Client, ClientBuilder, ClientError, Notice, RawEvent};

protocol_core::events! {
    /// What the game pushes on connect.
    #[derive(Debug, PartialEq)]
    enum GameEvents {
        State(StateEvent),
        Init(InitEvent),
    }
}

async fn game_server() -> TestServer {
    TestServer::start(game::app(), game::config(Profile::Default)).await
}

async fn connected(url: &str) -> Client {
    guard(
        "connect",
        Client::builder(url).query("game_id", "7").connect(),
    )
    .await
    .expect("connect")
}

async fn expect_connect_events(client: &mut Client) {
    let state = guard("game:state", client.next_event::<GameEvents>()).await;
    assert_eq!(
        state,
        Some(Notice::Event(GameEvents::State(GameState {
            status: Status::Init,
            player_count: 1
        })))
    );
    let init = guard("init", client.next_event::<GameEvents>()).await;
    assert_eq!(
        init,
        Some(Notice::Event(GameEvents::Init(Success { success: true })))
    );
}

fn moved(x: i64, y: i64) -> Moved {
    Moved {
        success: true,
        game_id: 7,
        x,
        y,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_move_call_and_typed_events() {
    let server = game_server().await;
    let mut client = connected(&server.url("/ws")).await;
    expect_connect_events(&mut client).await;
    let answer = guard("move", client.call::<MoveEndpoint>(&Move { x: 1, y: 2 })).await;
    assert_eq!(answer, Ok(moved(1, 2)));
    guard("close", client.close(1000, "done")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postcard_move_call() {
    let server = game_server().await;
    let mut client = guard(
        "connect",
        Client::builder(server.url("/ws"))
            .query("game_id", "7")
            .postcard()
            .connect(),
    )
    .await
    .expect("connect");
    assert_eq!(client.codec(), transport_std::AnyCodec::Postcard);
    // The example server sends the contract's `GameState`: in postcard too it decodes as
    // that type.
    let Some(Notice::Event(state)) = guard("game:state", client.recv()).await else {
        panic!("game:state expected");
    };
    assert_eq!(state.kind, "game:state");
    assert_eq!(
        state.decode::<::game::GameState>(),
        Ok(::game::INITIAL_STATE)
    );
    let init = guard("init", client.next_event::<GameEvents>()).await;
    assert_eq!(
        init,
        Some(Notice::Event(GameEvents::Init(Success { success: true })))
    );
    let answer = guard("move", client.call::<MoveEndpoint>(&Move { x: -3, y: 4 })).await;
    assert_eq!(answer, Ok(moved(-3, 4)));
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_answers_raw_data_verbatim() {
    let server = game_server().await;
    let client = connected(&server.url("/ws")).await;
    let data = br#"[1, {"a" : "b\u0041"}, null]"#.to_vec();
    let answer = guard("echo", client.request_raw("echo", data.clone(), None)).await;
    assert_eq!(answer, Ok(data));
    let typed: Result<Vec<u32>, _> = guard("echo", client.request("echo", &[3, 2, 1])).await;
    assert_eq!(typed, Ok(vec![3, 2, 1]));
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

/// Messages larger than the core's default frame limit (4 KiB) reach the caller whole, up
/// to `max_message_size`; a larger request is refused at once. (Answers over 4 KiB used to
/// be dropped, and their requests timed out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_arrive_and_oversized_requests_are_refused() {
    let server = game_server().await;
    let client = guard(
        "connect",
        Client::builder(server.url("/ws"))
            .query("game_id", "7")
            .max_message_size(12_000)
            .connect(),
    )
    .await
    .expect("connect");
    let big = format!("\"{}\"", "a".repeat(10_000));
    let answer = guard("echo", client.request_raw("echo", big.clone(), None)).await;
    assert_eq!(answer, Ok(big.into_bytes()));
    let too_big = format!("\"{}\"", "a".repeat(12_000));
    let refused = guard("echo", client.request_raw("echo", too_big, None)).await;
    assert!(
        matches!(refused, Err(ClientError::Protocol(_))),
        "{refused:?}"
    );
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

/// A close from the server is answered, so the server's close handshake is clean (the
/// answer used to be left unsent in tungstenite's buffer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_answers_a_close_from_the_server() {
    let (exited, mut exits) = tokio::sync::mpsc::unbounded_channel();
    let app = transport_std::App::<()>::new("/ws")
        .raw("echo", |data: transport_std::RawData| async move {
            Ok::<_, transport_std::HandlerError>(data)
        })
        .exit(
            move |transport_std::extract::Exited(how): transport_std::extract::Exited| {
                let _ = exited.send(how);
                async {}
            },
        );
    let server = TestServer::start(app, transport_std::ServerConfig::new()).await;
    let mut client = guard("connect", Client::connect(server.url("/ws")))
        .await
        .expect("connect");
    let answer = guard("echo", client.request_raw("echo", b"1".to_vec(), None)).await;
    assert_eq!(answer, Ok(b"1".to_vec()));
    server
        .handle
        .close(server.handle.connection_ids()[0], 4000, "bye");
    let notice = guard("closed", client.recv()).await;
    assert!(matches!(notice, Some(Notice::Closed { .. })), "{notice:?}");
    let how = guard("the exit hook", exits.recv()).await.expect("exit");
    assert_eq!((how.code, how.clean), (Some(4000), true));
    server.stop().await;
}

/// A server that stops reading cannot stall the client: requests still time out, new ones
/// fail at once or time out, and `close` returns after the close timeout. (The client used
/// to wait on the socket with its timer stopped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::result_large_err)] // tungstenite's handshake callback errs with a response.
async fn a_server_that_stops_reading_cannot_stall_deadlines_or_close() {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let listener = socket.listen(16).expect("listen");
    let addr = listener.local_addr().unwrap();
    let stalled = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let accept_json =
            |_: &tokio_tungstenite::tungstenite::handshake::server::Request,
             mut answer: tokio_tungstenite::tungstenite::handshake::server::Response| {
                answer.headers_mut().insert(
                    "sec-websocket-protocol",
                    http::HeaderValue::from_static("quartet.v1.json"),
                );
                Ok(answer)
            };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, accept_json)
            .await
            .expect("handshake");
        // Never reads again.
        std::future::pending::<()>().await;
        drop(ws);
    });
    let client = Arc::new(
        guard(
            "connect",
            Client::builder(format!("ws://{addr}/ws"))
                .request_timeout(Duration::from_secs(1))
                .connect(),
        )
        .await
        .expect("connect"),
    );
    let requests: Vec<_> = (0..80)
        .map(|_| {
            let client = Arc::clone(&client);
            tokio::spawn(async move { client.request_raw("echo", vec![b'1'; 60_000], None).await })
        })
        .collect();
    for request in requests {
        let result = guard("a request on a stalled socket", request)
            .await
            .expect("task");
        assert!(
            matches!(result, Err(ClientError::Timeout | ClientError::Protocol(_))),
            "{result:?}"
        );
    }
    guard("close on a stalled socket", client.close(1000, "")).await;
    stalled.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_is_a_server_error() {
    let server = game_server().await;
    let client = connected(&server.url("/ws")).await;
    let expected = Err(ClientError::Server {
        reason: "Not your turn".into(),
        code: "not-your-turn".into(),
    });
    assert_eq!(
        guard("fail", client.call::<FailEndpoint>(&Empty {})).await,
        expected
    );
    let raw = guard("fail", client.request_raw("fail", b"{}".to_vec(), None)).await;
    assert_eq!(raw, expected.map(|_: Empty| Vec::new()));
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_times_out_and_the_connection_goes_on() {
    let server = game_server().await;
    let client = connected(&server.url("/ws")).await;
    // The handler sleeps 10 s; the request gives up after 100 ms (the hang guard would only
    // fire if the timeout never did).
    let answer: Result<f64, _> = guard(
        "sleep",
        client.request_with_timeout("sleep", &10, Some(Duration::from_millis(100))),
    )
    .await;
    assert_eq!(answer, Err(ClientError::Timeout));
    let answer = guard("move", client.call::<MoveEndpoint>(&Move { x: 5, y: 6 })).await;
    assert_eq!(answer, Ok(moved(5, 6)));
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_past_the_pending_bound_is_refused_and_the_others_complete() {
    let server = game_server().await;
    let client = connected(&server.url("/ws")).await;
    // `sleep` answers after `data` seconds: 64 requests stay pending; the 65th (sent last:
    // `join_all` polls in order) is refused by the client's core without reaching the wire.
    let requests = (0..=transport_std::client::MAX_PENDING)
        .map(|_| client.request_raw("sleep", b"1".to_vec(), None));
    let answers = guard("65 requests", futures_util::future::join_all(requests)).await;
    let (refused, served) = answers.split_last().unwrap();
    assert_eq!(served.len(), transport_std::client::MAX_PENDING);
    assert!(served.iter().all(|a| a == &Ok(b"1".to_vec())), "{served:?}");
    assert!(
        matches!(refused, Err(ClientError::Protocol(m)) if m.contains("TooManyPending")),
        "{refused:?}"
    );
    // The bound is per moment: with the 64 answered, requests go through again.
    let again = guard("echo", client.request_raw("echo", b"2".to_vec(), None)).await;
    assert_eq!(again, Ok(b"2".to_vec()));
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_code_and_reason() {
    let server = game_server().await;
    let mut client = connected(&server.url("/ws")).await;
    expect_connect_events(&mut client).await;
    guard("close", client.close(4000, "game over")).await;
    assert_eq!(
        guard("closed", client.recv()).await,
        Some(Notice::Closed { error: None })
    );
    assert_eq!(guard("end", client.recv()).await, None);
    let after = guard("move", client.call::<MoveEndpoint>(&Move { x: 0, y: 0 })).await;
    assert_eq!(after, Err(ClientError::Disconnected));
    // The server saw the connection end.
    guard("server exit", async {
        while server.handle.connections() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let handle = server.stop().await;
    assert_eq!(
        handle.stats().closes.get(&4000),
        Some(&1),
        "the caller's code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reconnect_after_a_4xx_handshake_refusal() {
    let server = game_server().await;
    // The default profile refuses a connection without `game_id` with 400.
    let refused = guard(
        "connect",
        Client::builder(server.url("/ws"))
            .reconnect(Backoff::default())
            .connect(),
    )
    .await;
    assert_eq!(refused.unwrap_err(), ClientError::Rejected { status: 400 });
    server.stop().await;
}

// ---- A TCP proxy in front of the server: it can cut every connection, change its
// upstream, and terminate TLS. ----

struct Proxy {
    addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (upstream, links, accepted) = (
                Arc::clone(&upstream),
                Arc::clone(&links),
                Arc::clone(&accepted),
            );
            async move {
                loop {
                    let Ok((inbound, _)) = listener.accept().await else {
                        return;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let to = *upstream.lock().unwrap();
                    let tls = tls.clone();
                    let link = tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(to).await else {
                            return;
                        };
                        match tls {
                            Some(acceptor) => {
                                if let Ok(mut inbound) = acceptor.accept(inbound).await {
                                    let _ =
                                        tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                            .await;
                                }
                            }
                            None => {
                                let mut inbound = inbound;
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        }
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            }
        });
        Self {
            addr,
            upstream,
            links,
            accepted,
            task,
        }
    }

    /// Drops every proxied connection at once (both TCP connections close).
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// Sends the next command now (polls `future` once), without waiting for its answer.
async fn start<F: std::future::Future + Unpin>(future: &mut F) {
    tokio::select! {
        biased;
        _ = future => panic!("answered before the connection was cut"),
        () = std::future::ready(()) => {}
    }
}

/// A game client through `proxy` that reconnects quickly (up to 50 attempts), set up further
/// by `configure`, past its connect events.
async fn reconnecting_client(
    proxy: &Proxy,
    configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Client {
    let builder = Client::builder(format!("ws://{}/ws", proxy.addr))
        .query("game_id", "7")
        .reconnect(quick_backoff(50));
    let mut client = guard("connect", configure(builder).connect())
        .await
        .expect("connect");
    expect_connect_events(&mut client).await;
    client
}

fn quick_backoff(max_attempts: u32) -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_attempts: Some(max_attempts),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_connection_is_lost() {
    let server = game_server().await;
    let proxy = Proxy::start(server.addr, None).await;
    let mut client = reconnecting_client(&proxy, |builder| builder).await;

    // A request the server will not answer before the cut.
    let mut pending = Box::pin(client.request_raw("sleep", b"30".to_vec(), None));
    start(&mut pending).await;
    // Commands are handled in order: once this answer is in, the sleep request was sent.
    let answer = guard("echo", client.request_raw("echo", b"1".to_vec(), None)).await;
    assert_eq!(answer, Ok(b"1".to_vec()));

    proxy.cut();
    assert_eq!(
        guard("pending request", pending).await,
        Err(ClientError::Disconnected)
    );
    let notice = guard("reconnected", client.next_event::<GameEvents>()).await;
    assert!(
        matches!(notice, Some(Notice::Reconnected { attempts }) if attempts >= 1),
        "{notice:?}"
    );
    // The new connection's events, then calls work again.
    expect_connect_events(&mut client).await;
    let answer = guard("move", client.call::<MoveEndpoint>(&Move { x: 8, y: 9 })).await;
    assert_eq!(answer, Ok(moved(8, 9)));
    assert!(proxy.accepted.load(Ordering::SeqCst) >= 2);
    guard("close", client.close(1000, "")).await;
    drop(proxy);
    server.stop().await;
}

/// Answers every HTTP request with 403 and counts them.
async fn refusing_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_while_reconnecting_ends_the_retries() {
    let server = game_server().await;
    let proxy = Proxy::start(server.addr, None).await;
    let mut client = reconnecting_client(&proxy, |builder| builder).await;

    let (refusing, refusals) = refusing_server().await;
    *proxy.upstream.lock().unwrap() = refusing;
    proxy.cut();
    let notice = guard("closed", client.next_event::<GameEvents>()).await;
    assert_eq!(
        notice,
        Some(Notice::Closed {
            error: Some(ClientError::Rejected { status: 403 })
        })
    );
    assert_eq!(guard("end", client.recv()).await, None);
    assert_eq!(refusals.load(Ordering::SeqCst), 1, "a 4xx is not retried");
    let after = guard("move", client.call::<MoveEndpoint>(&Move { x: 0, y: 0 })).await;
    assert_eq!(after, Err(ClientError::Disconnected));
    drop(proxy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_through_a_tls_terminator_with_a_test_ca() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "quartet test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));

    let server = game_server().await;
    let proxy = Proxy::start(server.addr, Some(acceptor)).await;
    let url = format!("wss://127.0.0.1:{}/ws", proxy.addr.port());

    // Without the test CA the certificate is refused.
    let untrusted = guard(
        "connect",
        Client::builder(url.clone()).query("game_id", "7").connect(),
    )
    .await;
    assert!(
        matches!(untrusted, Err(ClientError::Io(_))),
        "{untrusted:?}"
    );

    let mut client = guard(
        "connect",
        Client::builder(url)
            .query("game_id", "7")
            .add_root_certificate(ca.der().to_vec())
            .connect(),
    )
    .await
    .expect("wss connect");
    expect_connect_events(&mut client).await;
    let answer = guard("move", client.call::<MoveEndpoint>(&Move { x: 1, y: 1 })).await;
    assert_eq!(answer, Ok(moved(1, 1)));
    guard("close", client.close(1000, "")).await;
    drop(proxy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_event_queue_drops_new_events_and_counts_them() {
    let server = game_server().await;
    let mut client = guard(
        "connect",
        Client::builder(server.url("/ws"))
            .query("game_id", "7")
            .event_capacity(2)
            .connect(),
    )
    .await
    .expect("connect");
    // `game:state` and `init` fill the queue; five more events are dropped.
    guard("queue full", async {
        while server.handle.connections() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let answer = guard("echo", client.request_raw("echo", b"0".to_vec(), None)).await;
    assert_eq!(answer, Ok(b"0".to_vec()));
    for n in 0..5 {
        assert_eq!(server.handle.broadcast("news", n).queued, 1);
    }
    guard("five dropped", async {
        while client.dropped_events() < 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(client.dropped_events(), 5);
    // What was queued stays, in order; nothing else.
    expect_connect_events(&mut client).await;
    assert_eq!(client.try_recv(), None);
    // With room again, events are delivered.
    server.handle.broadcast("news", 42);
    let news = guard("news", client.recv()).await;
    assert_eq!(
        news,
        Some(Notice::Event(RawEvent {
            kind: "news".into(),
            data: b"42".to_vec(),
            codec: transport_std::AnyCodec::Json,
        }))
    );
    guard("close", client.close(1000, "")).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_stops_a_reconnect_attempt_in_progress() {
    let server = game_server().await;
    let proxy = Proxy::start(server.addr, None).await;
    let mut client = reconnecting_client(&proxy, |builder| {
        // Far beyond the hang guard: only the close can end the attempt in time.
        builder.handshake_timeout(Duration::from_secs(120))
    })
    .await;

    // The next upstream takes TCP connections and never answers the upgrade.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    *proxy.upstream.lock().unwrap() = silent.local_addr().unwrap();
    let held = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&held);
    let silent = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            streams.push(stream);
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    proxy.cut();
    guard("a reconnect attempt under way", async {
        while held.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    guard("close during the attempt", client.close(1000, "")).await;
    let notice = guard("closed", client.next_event::<GameEvents>()).await;
    // The caller's close is a clean end, even in the middle of a reconnect.
    assert_eq!(notice, Some(Notice::Closed { error: None }));
    silent.abort();
    drop(proxy);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_completes_fails_after_the_handshake_timeout() {
    // Accepts TCP connections and never answers the upgrade request.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let result = guard(
        "connect",
        Client::builder(format!("ws://{addr}/ws"))
            .handshake_timeout(Duration::from_millis(200))
            .connect(),
    )
    .await;
    assert!(matches!(result, Err(ClientError::Io(_))), "{result:?}");
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_client_closes_the_connection() {
    let server = game_server().await;
    let client = connected(&server.url("/ws")).await;
    let answer = guard("echo", client.request_raw("echo", b"1".to_vec(), None)).await;
    assert_eq!(answer, Ok(b"1".to_vec()));
    assert_eq!(server.handle.connections(), 1);
    drop(client);
    guard("server exit", async {
        while server.handle.connections() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let handle = server.stop().await;
    assert_eq!(handle.stats().exits, 1);
    assert_eq!(
        handle.stats().closes.get(&1000),
        Some(&1),
        "a clean 1000 close"
    );
}
