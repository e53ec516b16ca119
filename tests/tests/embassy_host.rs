//! transport-embassy on the host: two embassy-net stacks wired together in memory, an
//! embassy server on one and an embassy client on the other, both driven by the runners
//! exactly as firmware drives them. Covers the handshake (accepted, refused, timed out), the
//! reference game's requests and events in both encodings, request and idle timeouts,
//! keep-alives, and a close from each side.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use embassy_futures::block_on;
use embassy_futures::join::{join, join3};
use embassy_futures::select::{Either, select};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration as EmbassyDuration, Timer, with_timeout};
use game::{Empty, GameState, Move, Moved, StateEvent, Status, Success};
use protocol_core::connection::{
    ClientReceived, Exit, Failure, Initiator, Request, RequestToken, RouteId, Routes,
};
use protocol_core::endpoint::EventType;
use protocol_core::{
    AnyCodec, CodecSet, Config, Duration, Event, JsonCodec, PostcardCodec, Str, Typed,
};
use transport_embassy::game::{BAD_GAME_ID, GamePlayer, GameServer};
use transport_embassy::ws_sansio::UpgradeRequest;
use transport_embassy::{
    BufferStorage, ClientHandler, ClientRunner, ClientSession, Error, Reject, ServerHandler,
    ServerRunner, ServerSession, loopback,
};

const SERVER_IP: [u8; 4] = [10, 0, 0, 1];
const CLIENT_IP: [u8; 4] = [10, 0, 0, 2];
const PORT: u16 = 8080;
const ROUTES: [&str; 6] = ["move", "fail", "push", "later", "bye", "big"];

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

/// Two stacks on a wire; runs `server` on one and `client` on the other, within 20 s.
fn on_two_stacks<S, C>(
    server: impl FnOnce(Stack<'static>) -> S,
    client: impl FnOnce(Stack<'static>) -> C,
) -> (S::Output, C::Output)
where
    S: Future,
    C: Future,
{
    let (device_a, device_b, wire) = loopback::pair(
        leak(loopback::State::<1500, 4>::new()),
        leak(loopback::State::<1500, 4>::new()),
    );
    let (stack_a, mut runner_a) = embassy_net::new(
        device_a,
        loopback::static_config(SERVER_IP),
        leak(StackResources::<4>::new()),
        1,
    );
    let (stack_b, mut runner_b) = embassy_net::new(
        device_b,
        loopback::static_config(CLIENT_IP),
        leak(StackResources::<4>::new()),
        2,
    );
    block_on(async {
        let network = join3(runner_a.run(), runner_b.run(), wire.run());
        let both = with_timeout(
            EmbassyDuration::from_secs(20),
            join(server(stack_a), client(stack_b)),
        );
        match select(network, both).await {
            Either::First(_) => unreachable!("the network runs forever"),
            Either::Second(Ok(outputs)) => outputs,
            Either::Second(Err(_)) => panic!("the connection hung"),
        }
    })
}

/// Accepts one connection and serves it with `handler`.
async fn serve<W: CodecSet, H: ServerHandler<W>>(
    stack: Stack<'static>,
    config: Config,
    handler: &mut H,
) -> Result<Exit, Error> {
    let mut rx = [0; 2048];
    let mut tx = [0; 2048];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.accept(PORT).await.expect("accept");
    let mut storage = BufferStorage::<512, 1024, 1024>::new();
    ServerRunner::<_, W>::new(&mut socket, storage.buffers(), config)
        .run(handler)
        .await
}

/// Connects to the server and runs `handler` on `target`.
async fn connect<W: CodecSet, H: ClientHandler<W>>(
    stack: Stack<'static>,
    config: Config,
    target: &str,
    handler: &mut H,
) -> Result<Exit, Error> {
    stack.wait_config_up().await;
    let mut rx = [0; 2048];
    let mut tx = [0; 2048];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    let [a, b, c, d] = SERVER_IP;
    socket
        .connect((embassy_net::Ipv4Address::new(a, b, c, d), PORT))
        .await
        .expect("connect");
    let mut storage = BufferStorage::<512, 1024, 1024>::new();
    // A fixed, non-secure test seed for the masking keys.
    let mut seed = 0x2545_f491_u32;
    let random = move |dest: &mut [u8]| {
        for byte in dest {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *byte = seed as u8;
        }
    };
    ClientRunner::<_, W, _>::new(&mut socket, storage.buffers(), config, random)
        .run("10.0.0.1:8080", target, handler)
        .await
}

// ---- The server: the reference game, through the shared handler functions ----

#[derive(Default)]
struct Game {
    game_id: i64,
    /// A request the server holds without answering (`later`).
    held: Option<RequestToken>,
    events: Vec<Event>,
}

impl<W: CodecSet> ServerHandler<W> for Game {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        ROUTES.route(endpoint)
    }

    fn upgrade(&mut self, request: &UpgradeRequest<'_>) -> Result<(), Reject> {
        let game_id = request.query().and_then(game::game_id_from_query);
        self.game_id = game_id.ok_or(Reject {
            status: 400,
            body: BAD_GAME_ID,
        })?;
        Ok(())
    }

    async fn open(&mut self, session: &mut impl ServerSession<W>) -> Result<(), Error> {
        session
            .send_event(StateEvent::KIND, &Typed(&game::INITIAL_STATE))
            .await?;
        session.send_event("init", &Typed(&game::ENTERED)).await
    }

    async fn request(
        &mut self,
        session: &mut impl ServerSession<W>,
        request: Request<'_, W>,
    ) -> Result<(), Error> {
        let token = request.token;
        match request.route.0 {
            0 => match request.decode::<Move>() {
                Ok(m) => session.answer(token, game::play(self.game_id, m)).await,
                Err(_) => session.fail(token, Failure::InvalidData).await,
            },
            1 => match request.decode::<Empty>() {
                Ok(args) => session.answer(token, game::fail(args)).await,
                Err(_) => session.fail(token, Failure::InvalidData).await,
            },
            2 => {
                session.send_event("pushed", &request.data).await?;
                session.respond(token, &request.data).await
            }
            3 => {
                self.held = Some(token);
                Ok(())
            }
            4 => {
                session.respond(token, &Typed(&())).await?;
                session.close(4000, "bye")
            }
            _ => {
                // Larger than the 1 KiB output buffer: answered `internal-error` instead.
                let big = "x".repeat(2000);
                let answered = session.answer(token, Ok(big)).await;
                assert!(matches!(answered, Err(Error::Call(_))), "{answered:?}");
                Ok(())
            }
        }
    }

    async fn event(
        &mut self,
        _session: &mut impl ServerSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        self.events.push(event);
        Ok(())
    }
}

// ---- The client: a script, one step per answer ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Move,
    Fail,
    Push,
    /// A request the server never answers, with a short deadline.
    Later,
    /// Close from the client.
    Close,
    /// Ask the server to close.
    Bye,
    /// A request whose answer does not fit the server's output buffer.
    Big,
    /// Do nothing; wait for the server.
    Idle,
}

struct Script {
    steps: Vec<Step>,
    next: usize,
    log: Rc<RefCell<Vec<String>>>,
    events: Vec<Event>,
}

impl Script {
    fn new(steps: &[Step]) -> Self {
        Self {
            steps: steps.to_vec(),
            next: 0,
            log: Rc::default(),
            events: Vec::new(),
        }
    }

    fn note(&self, line: String) {
        self.log.borrow_mut().push(line);
    }

    async fn step<W: CodecSet>(
        &mut self,
        session: &mut impl ClientSession<W>,
    ) -> Result<(), Error> {
        let Some(&step) = self.steps.get(self.next) else {
            return Ok(());
        };
        self.next += 1;
        match step {
            Step::Move => {
                session
                    .request("move", &Typed(&Move { x: 1, y: 2 }), None)
                    .await?;
            }
            Step::Fail => {
                session.request("fail", &Typed(&Empty {}), None).await?;
            }
            Step::Push => {
                session.request("push", &Typed(&7u32), None).await?;
            }
            Step::Later => {
                session
                    .request("later", &Typed(&()), Some(Duration::from_millis(100)))
                    .await?;
            }
            Step::Close => session.close(1000, "done")?,
            Step::Bye => {
                session.request("bye", &Typed(&()), None).await?;
            }
            Step::Big => {
                session.request("big", &Typed(&()), None).await?;
            }
            Step::Idle => {}
        }
        Ok(())
    }
}

impl<W: CodecSet> ClientHandler<W> for Script {
    async fn received(
        &mut self,
        session: &mut impl ClientSession<W>,
        received: ClientReceived<'_>,
    ) -> Result<(), Error> {
        match received {
            ClientReceived::Event { kind, data } if kind == StateEvent::KIND => {
                let state: GameState = session.decode(data).expect("game state");
                self.note(format!("event game:state {state:?}"));
            }
            ClientReceived::Event { kind, data } if kind == "init" => {
                let entered: Success = session.decode(data).expect("init");
                self.note(format!("event init {entered:?}"));
                return self.step(session).await;
            }
            ClientReceived::Event { kind, data } => {
                let value: u32 = session.decode(data).expect("pushed");
                self.note(format!("event {kind} {value}"));
            }
            ClientReceived::Response { request, data } => {
                let line = match self.steps.get(self.next - 1) {
                    Some(Step::Move) => {
                        let moved: Moved = session.decode(data).expect("moved");
                        format!("response {} {moved:?}", request.0)
                    }
                    Some(Step::Push) => {
                        let value: u32 = session.decode(data).expect("echo");
                        format!("response {} {value}", request.0)
                    }
                    _ => format!("response {}", request.0),
                };
                self.note(line);
                return self.step(session).await;
            }
            ClientReceived::Failed { request, error } => {
                self.note(format!("failed {} {}", request.0, error.code));
                return self.step(session).await;
            }
            other => self.note(format!("{other:?}")),
        }
        Ok(())
    }

    async fn event(
        &mut self,
        session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        self.events.push(event);
        if let Event::RequestFailed { request, cause } = event {
            self.note(format!("request {} failed: {cause:?}", request.0));
            return self.step(session).await;
        }
        Ok(())
    }
}

fn exits(events: &[Event]) -> Vec<Exit> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Exit(exit) => Some(*exit),
            _ => None,
        })
        .collect()
}

fn game_exchange<S: CodecSet, C: CodecSet>() -> (Vec<String>, Exit, Exit) {
    let mut game = Game::default();
    let mut script = Script::new(&[Step::Move, Step::Fail, Step::Push, Step::Close]);
    let log = script.log.clone();
    let (server, client) = on_two_stacks(
        |stack| async move {
            let exit = serve::<S, _>(stack, Config::new(), &mut game).await;
            (exit, game)
        },
        |stack| async move {
            let exit = connect::<C, _>(stack, Config::new(), "/ws?game_id=1", &mut script).await;
            (exit, script)
        },
    );
    let (server_exit, game) = server;
    let (client_exit, script) = client;
    let (server_exit, client_exit) = (server_exit.unwrap(), client_exit.unwrap());
    assert_eq!(exits(&game.events), [server_exit], "exactly one exit, last");
    assert_eq!(exits(&script.events), [client_exit]);
    let log = log.borrow().clone();
    (log, server_exit, client_exit)
}

fn expected_game_log() -> Vec<String> {
    vec![
        format!(
            "event game:state {:?}",
            GameState {
                status: Status::Init,
                player_count: 1
            }
        ),
        format!("event init {:?}", Success { success: true }),
        format!(
            "response 1 {:?}",
            Moved {
                success: true,
                game_id: 1,
                x: 1,
                y: 2
            }
        ),
        "failed 2 not-your-turn".to_owned(),
        "event pushed 7".to_owned(),
        "response 3 7".to_owned(),
    ]
}

fn assert_client_closed(server_exit: Exit, client_exit: Exit) {
    assert_eq!(server_exit.initiator, Initiator::Peer);
    assert_eq!(server_exit.code, Some(1000));
    assert!(server_exit.clean);
    assert_eq!(client_exit.initiator, Initiator::Local);
    assert_eq!(client_exit.code, Some(1000));
    assert!(client_exit.clean);
}

#[test]
fn game_over_json_client_closes() {
    let (log, server_exit, client_exit) = game_exchange::<AnyCodec, JsonCodec>();
    assert_eq!(log, expected_game_log());
    assert_client_closed(server_exit, client_exit);
}

#[test]
fn game_over_postcard_client_closes() {
    let (log, server_exit, client_exit) = game_exchange::<AnyCodec, PostcardCodec>();
    assert_eq!(log, expected_game_log());
    assert_client_closed(server_exit, client_exit);
}

#[test]
fn postcard_only_server() {
    let (log, server_exit, client_exit) = game_exchange::<PostcardCodec, AnyCodec>();
    assert_eq!(log, expected_game_log());
    assert_client_closed(server_exit, client_exit);
}

#[test]
fn server_closes() {
    let mut game = Game::default();
    let mut script = Script::new(&[Step::Bye]);
    let log = script.log.clone();
    let ((server_exit, _), client_exit) = on_two_stacks(
        |stack| async move {
            let exit = serve::<AnyCodec, _>(stack, Config::new(), &mut game).await;
            (exit, game)
        },
        |stack| async move {
            connect::<AnyCodec, _>(stack, Config::new(), "/ws?game_id=5", &mut script).await
        },
    );
    let (server_exit, client_exit) = (server_exit.unwrap(), client_exit.unwrap());
    assert_eq!(log.borrow().last().unwrap(), "response 1");
    assert_eq!(server_exit.initiator, Initiator::Local);
    assert_eq!(server_exit.code, Some(4000));
    assert!(server_exit.clean);
    assert_eq!(client_exit.initiator, Initiator::Peer);
    assert_eq!(client_exit.code, Some(4000));
    assert!(client_exit.clean);
}

#[test]
fn client_request_times_out() {
    let mut game = Game::default();
    let mut script = Script::new(&[Step::Later, Step::Move, Step::Close]);
    let log = script.log.clone();
    let (server_exit, client_exit) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, Config::new(), &mut game).await },
        |stack| async move {
            connect::<JsonCodec, _>(stack, Config::new(), "/ws?game_id=1", &mut script).await
        },
    );
    let log = log.borrow().clone();
    assert_eq!(log[2], "request 1 failed: Timeout");
    assert!(log[3].starts_with("response 2 Moved"), "{log:?}");
    assert_client_closed(server_exit.unwrap(), client_exit.unwrap());
}

#[test]
fn idle_connection_is_closed_by_the_server() {
    let mut game = Game::default();
    let mut script = Script::new(&[Step::Idle]);
    let mut server_config = Config::new();
    server_config.keepalive_interval = None;
    server_config.idle_timeout = Some(Duration::from_millis(200));
    let mut client_config = Config::new();
    client_config.keepalive_interval = None;
    let (server_exit, client_exit) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, server_config, &mut game).await },
        |stack| async move {
            connect::<AnyCodec, _>(stack, client_config, "/ws?game_id=1", &mut script).await
        },
    );
    let (server_exit, client_exit) = (server_exit.unwrap(), client_exit.unwrap());
    assert_eq!(server_exit.initiator, Initiator::Local);
    assert_eq!(server_exit.code, Some(1001));
    assert!(server_exit.clean);
    assert_eq!(client_exit.initiator, Initiator::Peer);
    assert_eq!(client_exit.code, Some(1001));
}

/// A client that waits a while, then closes: the server's pings (answered with pongs by the
/// client's WebSocket layer) keep the connection alive past the idle timeout.
struct Patient(Script, Option<embassy_time::Instant>);

impl<W: CodecSet> ClientHandler<W> for Patient {
    async fn received(
        &mut self,
        _session: &mut impl ClientSession<W>,
        _received: ClientReceived<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }

    async fn event(
        &mut self,
        session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        <Script as ClientHandler<W>>::event(&mut self.0, session, event).await
    }

    /// Cancel-safe: the deadline is fixed once, so a wait dropped by an incoming ping and
    /// started again does not start over.
    async fn wait(&mut self) {
        if self.0.next == 0 {
            let at = *self.1.get_or_insert_with(|| {
                embassy_time::Instant::now() + EmbassyDuration::from_millis(400)
            });
            Timer::at(at).await;
        } else {
            core::future::pending::<()>().await;
        }
    }

    async fn wake(&mut self, session: &mut impl ClientSession<W>) -> Result<(), Error> {
        self.0.step(session).await
    }
}

#[test]
fn keepalive_pings_keep_an_idle_connection_open() {
    let mut game = Game::default();
    let mut patient = Patient(Script::new(&[Step::Close]), None);
    let mut server_config = Config::new();
    server_config.keepalive_interval = Some(Duration::from_millis(50));
    server_config.idle_timeout = Some(Duration::from_millis(150));
    let mut client_config = Config::new();
    client_config.keepalive_interval = None;
    let (server_exit, client_exit) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, server_config, &mut game).await },
        |stack| async move {
            connect::<AnyCodec, _>(stack, client_config, "/ws?game_id=1", &mut patient).await
        },
    );
    assert_client_closed(server_exit.unwrap(), client_exit.unwrap());
}

#[test]
fn upgrade_refused_by_the_handler() {
    let mut game = Game::default();
    let mut script = Script::new(&[]);
    let (server, client) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, Config::new(), &mut game).await },
        |stack| async move {
            connect::<AnyCodec, _>(stack, Config::new(), "/ws?game_id=x", &mut script).await
        },
    );
    assert_eq!(server, Err(Error::Refused { status: 400 }));
    assert_eq!(client, Err(Error::Rejected { status: 400 }));
}

#[test]
fn handshake_times_out() {
    let mut game = Game::default();
    let mut config = Config::new();
    config.handshake_timeout = Duration::from_millis(100);
    let (server, ()) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, config, &mut game).await },
        |stack| async move {
            // Connects and says nothing.
            stack.wait_config_up().await;
            let mut rx = [0; 256];
            let mut tx = [0; 256];
            let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
            let [a, b, c, d] = SERVER_IP;
            socket
                .connect((embassy_net::Ipv4Address::new(a, b, c, d), PORT))
                .await
                .unwrap();
            let mut buf = [0; 16];
            // The server gives up and closes.
            while read(&mut socket, &mut buf).await > 0 {}
            socket.close();
            let _ = socket.flush().await;
        },
    );
    assert_eq!(server, Err(Error::HandshakeTimedOut));
}

/// A read that sees an error as the end of the stream.
async fn read(socket: &mut TcpSocket<'_>, buf: &mut [u8]) -> usize {
    socket.read(buf).await.unwrap_or(0)
}

#[test]
fn bad_upgrade_request_is_answered_400() {
    let mut game = Game::default();
    let (server, answer) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, Config::new(), &mut game).await },
        |stack| async move {
            stack.wait_config_up().await;
            let mut rx = [0; 512];
            let mut tx = [0; 512];
            let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
            let [a, b, c, d] = SERVER_IP;
            socket
                .connect((embassy_net::Ipv4Address::new(a, b, c, d), PORT))
                .await
                .unwrap();
            embedded_io_async::Write::write_all(
                &mut socket,
                b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await
            .unwrap();
            let mut answer = Vec::new();
            let mut buf = [0; 128];
            loop {
                let n = read(&mut socket, &mut buf).await;
                if n == 0 {
                    break;
                }
                answer.extend_from_slice(&buf[..n]);
            }
            socket.close();
            let _ = socket.flush().await;
            String::from_utf8(answer).unwrap()
        },
    );
    assert!(matches!(server, Err(Error::BadRequest(_))), "{server:?}");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

/// The reference game through the shared handlers (`transport_embassy::game`, on
/// the `game` crate's plain functions), in both encodings.
#[test]
fn shared_game_handlers() {
    fn play<C: CodecSet>() {
        let mut server = GameServer::new();
        let mut player = GamePlayer::new(3, 5);
        let (server_exit, client_exit) = on_two_stacks(
            |stack| async move {
                let exit = serve::<AnyCodec, _>(stack, Config::new(), &mut server).await;
                (exit, server)
            },
            |stack| async move {
                let exit =
                    connect::<C, _>(stack, Config::new(), "/ws?game_id=3", &mut player).await;
                (exit, player)
            },
        );
        let ((server_exit, server), (client_exit, player)) = (server_exit, client_exit);
        assert!(player.succeeded(), "{:?}", player.tally());
        assert_eq!(server.exit(), Some(server_exit.unwrap()));
        assert_eq!(player.tally().exit, Some(client_exit.unwrap()));
        assert_eq!(server.game_id(), 3);
    }
    play::<JsonCodec>();
    play::<PostcardCodec>();
}

#[test]
fn an_answer_too_large_for_the_output_buffer_fails_the_request() {
    let mut game = Game::default();
    let mut script = Script::new(&[Step::Big, Step::Move, Step::Close]);
    let log = script.log.clone();
    let (server_exit, client_exit) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, Config::new(), &mut game).await },
        |stack| async move {
            connect::<JsonCodec, _>(stack, Config::new(), "/ws?game_id=1", &mut script).await
        },
    );
    let log = log.borrow().clone();
    assert_eq!(log[2], "failed 1 internal-error", "{log:?}");
    assert!(log[3].starts_with("response 2 Moved"), "{log:?}");
    assert_client_closed(server_exit.unwrap(), client_exit.unwrap());
}

// ---- Review findings: a close from an event callback, a peer that stops reading, the
// longest answer the core composes ----

/// Sends `later` (which the server holds) with a 100 ms deadline once open, and closes from
/// the `event` callback when that request fails.
struct GiveUp;

impl<W: CodecSet> ClientHandler<W> for GiveUp {
    async fn open(&mut self, session: &mut impl ClientSession<W>) -> Result<(), Error> {
        let deadline = Some(Duration::from_millis(100));
        session.request("later", &Typed(&()), deadline).await?;
        Ok(())
    }

    async fn received(
        &mut self,
        _session: &mut impl ClientSession<W>,
        _received: ClientReceived<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }

    async fn event(
        &mut self,
        session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        if let Event::RequestFailed { .. } = event {
            session.close(1000, "gave up")?;
        }
        Ok(())
    }
}

/// The close frame of a close asked for in `event` goes out when the callback returns, so
/// the closing handshake completes (it used to wait for the close timeout and end unclean).
#[test]
fn a_close_from_an_event_callback_goes_out_at_once() {
    let mut game = Game::default();
    let mut config = Config::new();
    config.close_timeout = Duration::from_millis(3000);
    let (server_exit, client_exit) = on_two_stacks(
        |stack| async move { serve::<AnyCodec, _>(stack, config, &mut game).await },
        |stack| async move {
            connect::<JsonCodec, _>(stack, config, "/ws?game_id=1", &mut GiveUp).await
        },
    );
    let client_exit = client_exit.unwrap();
    assert_eq!(
        (client_exit.initiator, client_exit.code, client_exit.clean),
        (Initiator::Local, Some(1000), true)
    );
    let server_exit = server_exit.unwrap();
    assert_eq!(
        (server_exit.initiator, server_exit.code, server_exit.clean),
        (Initiator::Peer, Some(1000), true)
    );
}

/// A raw client: the upgrade, then `frames`; returns what it reads for `read_for` (with
/// `None` it never reads, and keeps the socket open for `linger`).
async fn raw_client(
    stack: Stack<'static>,
    rx: usize,
    frames: &[Vec<u8>],
    read_for: Option<EmbassyDuration>,
    linger: EmbassyDuration,
) -> Vec<u8> {
    use embedded_io_async::Write;
    stack.wait_config_up().await;
    let mut socket = TcpSocket::new(stack, leak(vec![0u8; rx]), leak(vec![0u8; 16384]));
    let [a, b, c, d] = SERVER_IP;
    socket
        .connect((embassy_net::Ipv4Address::new(a, b, c, d), PORT))
        .await
        .expect("connect");
    let upgrade = b"GET /ws?game_id=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
    socket.write_all(upgrade).await.expect("upgrade");
    for frame in frames {
        socket.write_all(frame).await.expect("frame");
    }
    let mut got = Vec::new();
    let Some(read_for) = read_for else {
        Timer::after(linger).await;
        return got;
    };
    let deadline = embassy_time::Instant::now() + read_for;
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n @ 1..)) = embassy_time::with_deadline(deadline, socket.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A masked client frame (mask key 0: the payload reads as it is).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    frame
}

/// A peer that sends pings and never reads the pongs cannot hold the server: the write that
/// blocks ends the connection after the write timeout, while the peer still lingers (the
/// runner used to wait as long as the peer kept its socket).
#[test]
fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
    let mut game = Game::default();
    let mut config = Config::new();
    config.keepalive_interval = None;
    config.idle_timeout = Some(Duration::from_millis(200));
    config.close_timeout = Duration::from_millis(300);
    let lingering = Rc::new(RefCell::new(true));
    let still_lingering = Rc::clone(&lingering);
    let (server, ()) = on_two_stacks(
        |stack| async move {
            let mut rx = [0; 2048];
            let mut tx = [0; 2048];
            let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
            socket.accept(PORT).await.expect("accept");
            let mut storage = BufferStorage::<512, 1024, 1024>::new();
            let exit = ServerRunner::<_, AnyCodec>::new(&mut socket, storage.buffers(), config)
                .with_write_timeout(EmbassyDuration::from_millis(500))
                .run(&mut game)
                .await;
            (exit, *still_lingering.borrow())
        },
        |stack| async move {
            // 40 pings of 125 bytes: their pongs overflow the server's 2 KiB send buffer
            // and this side's 256-byte window.
            let pings = vec![client_frame(0x9, &[b'p'; 125]); 40];
            raw_client(stack, 256, &pings, None, EmbassyDuration::from_secs(8)).await;
            *lingering.borrow_mut() = false;
        },
    );
    let (exit, peer_still_there) = server;
    assert!(exit.is_ok(), "{exit:?}");
    assert!(
        peer_still_there,
        "the server waited for the peer to go away"
    );
}

/// The longest answer the core composes (an id of 48 control characters, 288 bytes once
/// escaped) fits an output buffer of `MIN_OUTPUT_LEN`, and the answers behind it follow (a
/// smaller buffer used to wedge the core's queue and the close behind it). A smaller buffer
/// is refused before anything is sent.
#[test]
fn the_longest_core_answer_fits_the_smallest_output_buffer() {
    use transport_embassy::{Buffers, MIN_OUTPUT_LEN};
    let mut game = Game::default();
    let escaped_id = "\\u0001".repeat(48);
    let mut frames = vec![client_frame(
        0x1,
        format!(r#"{{"id":"{escaped_id}","type":"request","endpoint":"nope","data":null}}"#)
            .as_bytes(),
    )];
    for n in 0..3 {
        let request = format!(r#"{{"id":"ok{n}","type":"request","endpoint":"nope","data":null}}"#);
        frames.push(client_frame(0x1, request.as_bytes()));
    }
    let (_, got) = on_two_stacks(
        |stack| async move {
            let mut rx = [0; 2048];
            let mut tx = [0; 2048];
            let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
            let (mut header, mut message, mut small) = ([0; 512], [0; 1024], [0; 256]);
            let buffers = Buffers {
                header: &mut header,
                message: &mut message,
                output: &mut small,
            };
            let refused = ServerRunner::<_, AnyCodec>::new(&mut socket, buffers, Config::new())
                .run(&mut game)
                .await;
            assert!(
                matches!(
                    refused,
                    Err(Error::Encode(
                        transport_embassy::ws_sansio::EncodeError::BufferTooSmall {
                            needed: MIN_OUTPUT_LEN
                        }
                    ))
                ),
                "{refused:?}"
            );
            socket.accept(PORT).await.expect("accept");
            let mut storage = BufferStorage::<512, 1024, { MIN_OUTPUT_LEN }>::new();
            let mut config = Config::new();
            config.idle_timeout = Some(Duration::from_millis(500));
            ServerRunner::<_, AnyCodec>::new(&mut socket, storage.buffers(), config)
                .run(&mut game)
                .await
        },
        |stack| async move {
            let read_for = Some(EmbassyDuration::from_millis(3000));
            raw_client(
                stack,
                4096,
                &frames,
                read_for,
                EmbassyDuration::from_secs(0),
            )
            .await
        },
    );
    let text = String::from_utf8_lossy(&got);
    let invalid = r#"","type":"response.error","data":{"reason":"Invalid endpoint","code":"invalid-endpoint"}}"#;
    assert!(
        text.contains(&format!(r#"{{"id":"{escaped_id}{invalid}"#)),
        "{text}"
    );
    for n in 0..3 {
        assert!(
            text.contains(&format!(r#"{{"id":"ok{n}{invalid}"#)),
            "{text}"
        );
    }
}
