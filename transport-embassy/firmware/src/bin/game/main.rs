//! The QEMU firmware example: two embassy-net stacks wired together in memory on one
//! Cortex-M4, an embassy server (the reference game, `transport_embassy::game::GameServer`)
//! on one and an embassy client (`GamePlayer`) on the other. The client plays the game twice,
//! in postcard and then in JSON; the run exits 0 through semihosting when every answer and
//! both closing handshakes were as expected, 1 otherwise. A hang is ended by the runner's
//! `timeout` (exit 124).
//!
//! The client's WebSocket masking keys come from a fixed, non-secure test seed
//! ([`TestSeed`]) so that runs are reproducible. Real firmware must use a hardware RNG.
#![no_std]
#![no_main]

mod semihosting;
mod time_driver;

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::{ExceptionFrame, exception};
use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Stack, StackResources};
use embassy_time::{Duration, Instant, Timer};
use protocol_core::{AnyCodec, CodecSet, Config, JsonCodec, PostcardCodec};
use static_cell::StaticCell;
use transport_embassy::game::{GamePlayer, GameServer};
use transport_embassy::ws_sansio::RandomSource;
use transport_embassy::{BufferStorage, ClientRunner, ServerRunner, loopback};

const MTU: usize = 1500;
const PACKETS: usize = 4;
const SERVER_IP: [u8; 4] = [10, 0, 0, 1];
const CLIENT_IP: [u8; 4] = [10, 0, 0, 2];
const PORT: u16 = 80;
const GAME_ID: i64 = 42;
const TARGET: &str = "/ws?game_id=42";
const MOVES: u32 = 10;

type Device = loopback::Device<'static, MTU>;

/// Connections the server ended cleanly (both close frames exchanged).
static CLEAN_SERVER_EXITS: AtomicU32 = AtomicU32::new(0);

/// A fixed, **non-secure** seed for the client's handshake key and masking keys
/// (xorshift32): reproducible runs under QEMU. Never use it outside tests.
struct TestSeed(u32);

impl RandomSource for TestSeed {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            *byte = self.0.to_le_bytes()[0];
        }
    }
}

#[embassy_executor::task(pool_size = 2)]
async fn network(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn wire(wire: loopback::Wire<'static, MTU>) -> ! {
    wire.run().await
}

/// Serves one connection after another with the game.
#[embassy_executor::task]
async fn server(stack: Stack<'static>) -> ! {
    let mut rx = [0; 1024];
    let mut tx = [0; 1024];
    let mut storage = BufferStorage::<512, 512, 512>::new();
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        if socket.accept(PORT).await.is_err() {
            continue;
        }
        let mut game = GameServer::new();
        let runner =
            ServerRunner::<_, AnyCodec>::new(&mut socket, storage.buffers(), Config::new());
        match runner.run(&mut game).await {
            Ok(exit) if exit.clean && game.game_id() == GAME_ID => {
                CLEAN_SERVER_EXITS.fetch_add(1, Ordering::Relaxed);
            }
            _ => semihosting::line(&[b"server: the connection did not end cleanly"]),
        }
    }
}

/// Plays the game once with codec `W`; whether everything went as expected.
async fn play<W: CodecSet>(stack: Stack<'static>, seed: u32) -> bool {
    let mut rx = [0; 1024];
    let mut tx = [0; 1024];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    let [a, b, c, d] = SERVER_IP;
    // The server may still be closing the previous connection: retry a refused connect.
    let mut attempts = 0;
    while socket
        .connect((Ipv4Address::new(a, b, c, d), PORT))
        .await
        .is_err()
    {
        attempts += 1;
        if attempts == 20 {
            return false;
        }
        socket.abort();
        let _ = socket.flush().await;
        Timer::after_millis(10).await;
    }
    let mut storage = BufferStorage::<512, 512, 512>::new();
    let mut player = GamePlayer::new(GAME_ID, MOVES);
    let runner = ClientRunner::<_, W, _>::new(
        &mut socket,
        storage.buffers(),
        Config::new(),
        TestSeed(seed),
    );
    let result = runner.run("10.0.0.1", TARGET, &mut player).await;
    let tally = player.tally();
    semihosting::number(b"  moves answered: ", tally.moves);
    semihosting::number(b"  events: ", tally.states + tally.inits);
    semihosting::number(b"  refusals: ", tally.refusals);
    result.is_ok() && player.succeeded()
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        semihosting::exit(false);
    };
    time_driver::start(peripherals.SYST);

    static STATE_A: StaticCell<loopback::State<MTU, PACKETS>> = StaticCell::new();
    static STATE_B: StaticCell<loopback::State<MTU, PACKETS>> = StaticCell::new();
    static RESOURCES_A: StaticCell<StackResources<2>> = StaticCell::new();
    static RESOURCES_B: StaticCell<StackResources<2>> = StaticCell::new();
    let (device_a, device_b, cable) = loopback::pair(
        STATE_A.init(loopback::State::new()),
        STATE_B.init(loopback::State::new()),
    );
    let (server_stack, server_net) = embassy_net::new(
        device_a,
        loopback::static_config(SERVER_IP),
        RESOURCES_A.init(StackResources::new()),
        0x5eed_0001,
    );
    let (client_stack, client_net) = embassy_net::new(
        device_b,
        loopback::static_config(CLIENT_IP),
        RESOURCES_B.init(StackResources::new()),
        0x5eed_0002,
    );
    let _ = CLIENT_IP;
    spawner.spawn(network(server_net).unwrap());
    spawner.spawn(network(client_net).unwrap());
    spawner.spawn(wire(cable).unwrap());
    spawner.spawn(server(server_stack).unwrap());
    client_stack.wait_config_up().await;

    let started = Instant::now();
    semihosting::line(&[b"game over postcard"]);
    let postcard = play::<PostcardCodec>(client_stack, 0x2545_f491).await;
    semihosting::line(&[b"game over JSON"]);
    let json = play::<JsonCodec>(client_stack, 0x9e37_79b9).await;
    // The server's runner returns once its FIN is acknowledged: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(1);
    while CLEAN_SERVER_EXITS.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        Timer::after_millis(5).await;
    }
    let servers = CLEAN_SERVER_EXITS.load(Ordering::Relaxed);
    semihosting::number(b"clean server exits: ", servers);
    let elapsed = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
    semihosting::number(b"milliseconds: ", elapsed);
    let success = postcard && json && servers == 2;
    semihosting::line(&[if success { b"ok" } else { b"FAILED" }]);
    semihosting::exit(success);
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    semihosting::line(&[b"panic"]);
    semihosting::exit(false)
}

// SAFETY: cortex-m-rt requires the HardFault handler to be an `unsafe fn`; this one only
// reports the failure to the host and never returns.
#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    semihosting::exit(false)
}
