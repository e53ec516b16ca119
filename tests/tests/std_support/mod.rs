//! Shared helpers of the `std_*` tests: a server on a loopback port, a tokio-tungstenite
//! client, and the seed-000 recordings (parsed as in `protocol-core/tests/seed000_replay.rs`).
#![allow(dead_code, unreachable_pub)]

#[path = "../../../transport-std/examples/game/app.rs"]
pub mod game;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use transport_std::{App, Server, ServerConfig, ServerHandle};

/// Only a guard against hanging forever: no assertion depends on timing.
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it hangs.
pub async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("hang guard: {what} did not finish"),
    }
}

/// A server on 127.0.0.1 and an ephemeral port, in this runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start<C: Default + Send + Sync + 'static>(
        app: App<C>,
        config: ServerConfig,
    ) -> Self {
        let server = Server::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config, app)
            .await
            .expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let handle = server.handle();
        let task = tokio::spawn(server.run());
        Self { addr, handle, task }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }

    /// Graceful shutdown; returns when every connection task has ended.
    pub async fn stop(self) -> ServerHandle {
        guard("shutdown", self.handle.shutdown()).await;
        guard("accept loop", self.task).await.expect("server task");
        self.handle
    }
}

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects; an HTTP refusal comes back as `Err((status, body))`.
pub async fn connect(url: &str) -> Result<Client, (u16, String)> {
    connect_with(url, &[]).await
}

pub async fn connect_with(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<Client, (u16, String)> {
    let mut request = url.into_client_request().expect("request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, value.parse().expect("header value"));
    }
    match guard("connect", tokio_tungstenite::connect_async(request)).await {
        Ok((client, _)) => Ok(client),
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(other) => panic!("connect {url}: {other}"),
    }
}

/// What the client received next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
    Ping,
    Pong,
    /// A close frame: `CLOSE code reason`.
    Close(Option<(u16, String)>),
    /// The stream ended (after the close handshake, or the TCP connection closed).
    Ended,
    /// A read error.
    Error(String),
}

impl Received {
    /// As the recordings write it: text frames as text, close frames as `CLOSE code reason`.
    pub fn show(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Close(Some((code, reason))) => format!("CLOSE {code} {reason}"),
            other => format!("{other:?}"),
        }
    }
}

pub async fn recv(client: &mut Client) -> Received {
    match guard("a frame from the server", client.next()).await {
        Some(Ok(Message::Text(text))) => Received::Text(text.as_str().to_string()),
        Some(Ok(Message::Binary(bytes))) => Received::Binary(bytes.to_vec()),
        Some(Ok(Message::Ping(_))) => Received::Ping,
        Some(Ok(Message::Pong(_))) => Received::Pong,
        Some(Ok(Message::Close(frame))) => {
            Received::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_string())))
        }
        Some(Ok(Message::Frame(_))) => Received::Error("raw frame".into()),
        Some(Err(error)) => Received::Error(error.to_string()),
        None => Received::Ended,
    }
}

/// The next data frame or close, skipping pings and pongs.
pub async fn recv_data(client: &mut Client) -> Received {
    loop {
        match recv(client).await {
            Received::Ping | Received::Pong => {}
            other => return other,
        }
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    guard("send", client.send(Message::text(text)))
        .await
        .expect("send");
}

pub async fn close(client: &mut Client, code: u16) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: "".into(),
    };
    guard("close", client.send(Message::Close(Some(frame))))
        .await
        .expect("close");
}

/// Reads until the stream ends, returning what came (data frames and the close).
pub async fn drain(client: &mut Client) -> Vec<Received> {
    let mut seen = Vec::new();
    loop {
        match recv(client).await {
            Received::Ended => return seen,
            error @ Received::Error(_) => {
                seen.push(error);
                return seen;
            }
            other => seen.push(other),
        }
    }
}

/// A request frame.
pub fn request(id: &str, endpoint: &str, data: &str) -> String {
    format!(r#"{{"id":"{id}","type":"request","endpoint":"{endpoint}","data":{data}}}"#)
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

// ---- The seed-000 recordings ----

#[path = "../../../protocol-core/testdata/exchanges.rs"]
mod exchanges;

#[allow(unused_imports)] // Each test binary uses its own part.
pub use exchanges::{
    Case, Step, client_frame, default_replies, parse_exchanges, seed_differences, server_frames,
};

/// The query each recorded case connected with, with its `?`.
pub fn query_of(case: &str) -> String {
    match exchanges::query_of(case) {
        "" => String::new(),
        query => format!("?{query}"),
    }
}

/// Replays `case` over a real WebSocket: sends its client frames, reads `expected` server
/// frames, then closes (with the recorded code, or 1000) and checks that nothing but the
/// close handshake follows. Returns the frames read, or the HTTP refusal.
pub async fn replay(
    server: &TestServer,
    case: &Case,
    expected: usize,
) -> Result<Vec<String>, (u16, String)> {
    let mut client = connect(&server.url(&format!("/ws{}", query_of(&case.name)))).await?;
    let mut close_code = None;
    for step in &case.steps {
        match step {
            Step::Text(frame) => {
                let frame = client_frame(&case.name, frame);
                let text = String::from_utf8(frame).expect("recorded frames are UTF-8");
                guard("send", client.send(Message::text(text)))
                    .await
                    .expect("send");
            }
            Step::Binary(frame) => {
                guard("send", client.send(Message::binary(frame.clone())))
                    .await
                    .expect("send");
            }
            Step::ClientClose(code) => close_code = Some(*code),
            Step::Received(_) | Step::Dropped => {}
        }
    }
    let mut frames = Vec::new();
    while frames.len() < expected {
        match recv(&mut client).await {
            Received::Ping | Received::Pong => {}
            received => {
                let ended = matches!(
                    received,
                    Received::Close(_) | Received::Ended | Received::Error(_)
                );
                frames.push(received.show());
                if ended {
                    break;
                }
            }
        }
    }
    let server_closed = frames.last().is_some_and(|f| f.starts_with("CLOSE "));
    if !server_closed {
        close(&mut client, close_code.unwrap_or(1000)).await;
        let rest = drain(&mut client).await;
        let code = close_code.unwrap_or(1000);
        assert_eq!(
            rest,
            vec![Received::Close(Some((code, String::new())))],
            "case {}: after the expected frames, only the close handshake",
            case.name
        );
    } else {
        let rest = drain(&mut client).await;
        assert!(
            rest.is_empty(),
            "case {}: frames after the close: {rest:?}",
            case.name
        );
    }
    Ok(frames)
}

// ---- A lab app for the fault tests ----

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use protocol_core::connection::Exit;
use tokio::sync::{Notify, Semaphore};
use transport_std::extract::{Conn, Exited};
use transport_std::{HandlerError, RawData};

/// What the lab app's handlers and hooks report.
pub struct Probe {
    /// `wait` handlers started.
    pub started: AtomicUsize,
    /// `wait` handlers dropped before they finished.
    pub cancelled: AtomicUsize,
    /// Exit hooks run.
    pub exits: AtomicUsize,
    /// How the first 64 connections ended, in exit order.
    pub ended: Mutex<Vec<Exit>>,
    /// `wait` handlers wait for a permit here.
    pub gate: Semaphore,
    changed: Notify,
}

impl Probe {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            exits: AtomicUsize::new(0),
            ended: Mutex::new(Vec::new()),
            gate: Semaphore::new(0),
            changed: Notify::new(),
        })
    }

    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    /// Waits until `done` holds (hang guard only).
    pub async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        guard(what, async {
            loop {
                let changed = self.changed.notified();
                if done(self) {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }

    /// Lets `n` waiting handlers finish.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }
}

/// Counts a `wait` handler that was dropped before its permit came.
struct CancelGuard(Option<Arc<Probe>>);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if let Some(probe) = self.0.take() {
            probe.bump(&probe.cancelled);
        }
    }
}

/// The lab: `echo`; `wait` (returns its data once the probe's gate lets it); `panic`;
/// `big` (returns a string of `data` bytes); `join` and `push` (groups and events);
/// `flood` (pushes `data` events of 1 KiB, waiting for room); an exit hook that reports to
/// the probe.
pub fn lab(probe: &Arc<Probe>) -> App<()> {
    let wait_probe = probe.clone();
    let exit_probe = probe.clone();
    App::new("/ws")
        .raw("echo", |data: RawData| async move {
            Ok::<_, HandlerError>(data)
        })
        .raw("wait", move |data: RawData| {
            let probe = wait_probe.clone();
            async move {
                probe.bump(&probe.started);
                let mut cancel = CancelGuard(Some(probe.clone()));
                let permit = probe.gate.acquire().await.map_err(HandlerError::internal)?;
                permit.forget();
                cancel.0 = None;
                Ok::<_, HandlerError>(data)
            }
        })
        .raw("panic", |data: RawData| async move {
            if !data.as_bytes().is_empty() {
                panic!("a handler panicked on purpose");
            }
            Ok::<_, HandlerError>(data)
        })
        .raw("big", |data: RawData| async move {
            let n: usize = data.decode().map_err(HandlerError::internal)?;
            RawData::encode(data.codec(), &"x".repeat(n)).map_err(HandlerError::internal)
        })
        .raw("join", |conn: Conn, data: RawData| async move {
            let group: String = data.decode().map_err(HandlerError::internal)?;
            conn.join(&group);
            Ok::<_, HandlerError>(data)
        })
        .raw("push", |conn: Conn, data: RawData| async move {
            let n: u32 = data.decode().map_err(HandlerError::internal)?;
            for i in 0..n {
                conn.send_event("tick", i).await?;
            }
            Ok::<_, HandlerError>(data)
        })
        .raw("flood", |conn: Conn, data: RawData| async move {
            let n: u32 = data.decode().map_err(HandlerError::internal)?;
            let payload = "f".repeat(1024);
            for _ in 0..n {
                conn.send_event("flood", payload.clone()).await?;
            }
            Ok::<_, HandlerError>(data)
        })
        .exit(move |Exited(how): Exited| {
            let probe = exit_probe.clone();
            async move {
                let mut ended = probe.ended.lock().unwrap();
                // Bounded, so that the allocation count of many connections is the server's.
                if ended.len() < 64 {
                    ended.push(how);
                }
                drop(ended);
                probe.bump(&probe.exits);
            }
        })
}

/// Waits until `done` holds, checking every few milliseconds (hang guard only).
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    guard(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

// ---- The recordings of seeds 001-003 ----

/// One step of a recorded exchange of seeds 001–003 (`### case`, `> T`, `> B b'…'`, `< T`,
/// `> CLOSE code`, `CLOSED`).
pub enum RecordedStep {
    Text(String),
    Binary(Vec<u8>),
    Expect(String),
    Close(u16),
    Dropped,
}

/// The recorded cases, by name, with their steps.
pub fn parse_recording(recording: &str) -> Vec<(String, Vec<RecordedStep>)> {
    let mut cases: Vec<(String, Vec<RecordedStep>)> = Vec::new();
    for line in recording.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("### ") {
            cases.push((name.to_string(), Vec::new()));
            continue;
        }
        let Some((_, steps)) = cases.last_mut() else {
            continue;
        };
        if let Some(text) = line.strip_prefix("> T ") {
            steps.push(RecordedStep::Text(text.to_string()));
        } else if let Some(bytes) = line.strip_prefix("> B b'") {
            steps.push(RecordedStep::Binary(
                bytes.trim_end_matches('\'').as_bytes().to_vec(),
            ));
        } else if let Some(text) = line.strip_prefix("< T ") {
            steps.push(RecordedStep::Expect(text.to_string()));
        } else if let Some(code) = line.strip_prefix("> CLOSE ") {
            steps.push(RecordedStep::Close(code.parse().unwrap()));
        } else if line.starts_with("CLOSED") {
            steps.push(RecordedStep::Dropped);
        }
    }
    cases
}

/// What a replay of a seed 001–003 recording does where the seeds differ; the rest is
/// [`replay_recording`].
pub trait SeedReplay {
    /// A message the server answers at once, and its answer: sent after each case that leaves
    /// the connection open, to show that it is open and that nothing else came.
    const PROBE: (&'static str, &'static str);

    /// Our answer where the recording has `recorded` as the `n`-th answer of `case` (from 1),
    /// or `None` where we send none (a documented difference).
    fn answer<'a>(&mut self, case: &str, n: usize, recorded: &'a str) -> Option<&'a str>;

    /// Checks what we sent against the answer we should have sent.
    fn check(&self, case: &str, expected: &str, got: &Received);

    /// What we do where the seed dropped the connection in `case`: send a report
    /// (`Some(Some(report))`), or send nothing and keep the connection open (`Some(None)`).
    /// `None`: the difference is not documented.
    fn difference(&mut self, case: &str) -> Option<Option<serde_json::Value>>;

    /// Checks that the report we sent has the shape of `expected`.
    fn check_report(&self, case: &str, expected: &serde_json::Value, got: &serde_json::Value);
}

/// Replays every case of a seed recording (see [`parse_recording`]) against `server`, one
/// connection each: sends the client's frames, checks each answer, answers the close frames,
/// and probes the connections the case leaves open.
pub async fn replay_recording<S: SeedReplay>(server: &TestServer, recording: &str, seed: &mut S) {
    for (case, steps) in parse_recording(recording) {
        let mut answers = 0;
        let mut client = connect(&server.url("/ws")).await.expect("connect");
        let mut closed = false;
        for step in &steps {
            match step {
                RecordedStep::Text(text) => send_text(&mut client, text).await,
                RecordedStep::Binary(bytes) => {
                    guard("send", client.send(Message::binary(bytes.clone())))
                        .await
                        .expect("send");
                }
                RecordedStep::Expect(recorded) => {
                    answers += 1;
                    if let Some(ours) = seed.answer(&case, answers, recorded) {
                        seed.check(&case, ours, &recv_data(&mut client).await);
                    }
                }
                RecordedStep::Close(code) => {
                    close(&mut client, *code).await;
                    assert_eq!(
                        recv_data(&mut client).await,
                        Received::Close(Some((*code, String::new())))
                    );
                    closed = true;
                }
                RecordedStep::Dropped => {
                    let ours = seed
                        .difference(&case)
                        .unwrap_or_else(|| panic!("{case}: an undocumented difference"));
                    if let Some(report) = ours {
                        let got = recv_data(&mut client).await;
                        let Received::Text(got) = got else {
                            panic!("{case}: {got:?}")
                        };
                        let got = serde_json::from_str(&got).unwrap();
                        seed.check_report(&case, &report, &got);
                    }
                }
            }
        }
        if !closed {
            let (probe, reply) = S::PROBE;
            send_text(&mut client, probe).await;
            assert_eq!(
                recv_data(&mut client).await,
                Received::Text(reply.into()),
                "{case}: the connection is open and nothing else came"
            );
            close(&mut client, 1000).await;
        }
    }
}
