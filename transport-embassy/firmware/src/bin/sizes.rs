//! RAM figures for docs/footprint.md, printed through semihosting as `name bytes` lines (run
//! under QEMU by scripts/footprint.sh). Sizes of futures are only known to the compiler
//! for a value, so the runners' futures are built (never polled) on a real stack's socket.
#![no_std]
#![no_main]

#[path = "game/semihosting.rs"]
mod semihosting;
// Only its driver symbols are needed: embassy-net reads the clock.
#[allow(dead_code)]
#[path = "game/time_driver.rs"]
mod time_driver;

use core::mem::{size_of, size_of_val};
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use embassy_net::StackResources;
use embassy_net::tcp::TcpSocket;
use protocol_core::{
    AnyCodec, ClientConnection, Config, JsonCodec, PostcardCodec, ServerConnection,
};
use static_cell::StaticCell;
use transport_embassy::game::{GamePlayer, GameServer};
use transport_embassy::ws_sansio::{self, RandomSource};
use transport_embassy::{BufferStorage, ClientRunner, ServerRunner, loopback};

/// The socket and connection buffers of the QEMU example.
const SOCKET_RX: usize = 1024;
const SOCKET_TX: usize = 1024;
type Storage = BufferStorage<512, 512, 512>;

struct Seed(u32);

impl RandomSource for Seed {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.0.to_le_bytes()[0]);
    }
}

fn report(name: &[u8], bytes: usize) {
    semihosting::number(name, u32::try_from(bytes).unwrap_or(u32::MAX));
}

#[entry]
fn main() -> ! {
    static STATE_A: StaticCell<loopback::State<1500, 4>> = StaticCell::new();
    static STATE_B: StaticCell<loopback::State<1500, 4>> = StaticCell::new();
    static RESOURCES: StaticCell<StackResources<2>> = StaticCell::new();
    let (device, _other, _wire) = loopback::pair(
        STATE_A.init(loopback::State::new()),
        STATE_B.init(loopback::State::new()),
    );
    let (stack, _runner) = embassy_net::new(
        device,
        loopback::static_config([10, 0, 0, 1]),
        RESOURCES.init(StackResources::new()),
        1,
    );

    report(
        b"core_server_postcard ",
        size_of::<ServerConnection<PostcardCodec>>(),
    );
    report(
        b"core_server_json ",
        size_of::<ServerConnection<JsonCodec>>(),
    );
    report(b"core_server_any ", size_of::<ServerConnection<AnyCodec>>());
    report(
        b"core_client_postcard ",
        size_of::<ClientConnection<PostcardCodec>>(),
    );
    report(
        b"ws_connection ",
        size_of::<ws_sansio::Connection<'static>>(),
    );
    report(
        b"state_server_postcard ",
        transport_embassy::server_state_size::<PostcardCodec, 8, 4>(),
    );
    report(
        b"state_server_any ",
        transport_embassy::server_state_size::<AnyCodec, 8, 4>(),
    );
    report(
        b"state_client_postcard ",
        transport_embassy::client_state_size::<PostcardCodec, 8>(),
    );
    report(b"state_budget ", transport_embassy::CONNECTION_STATE_BUDGET);

    let mut rx = [0u8; SOCKET_RX];
    let mut tx = [0u8; SOCKET_TX];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    report(b"socket_buffers ", SOCKET_RX + SOCKET_TX);
    report(b"tcp_socket ", size_of::<TcpSocket<'static>>());
    let mut storage = Storage::new();
    report(b"connection_buffers ", size_of::<Storage>());
    {
        let mut game = GameServer::new();
        let runner =
            ServerRunner::<_, PostcardCodec>::new(&mut socket, storage.buffers(), Config::new());
        let future = runner.run(&mut game);
        report(b"server_future_postcard ", size_of_val(&future));
    }
    {
        let mut game = GameServer::new();
        let runner =
            ServerRunner::<_, AnyCodec>::new(&mut socket, storage.buffers(), Config::new());
        let future = runner.run(&mut game);
        report(b"server_future_any ", size_of_val(&future));
    }
    {
        let mut player = GamePlayer::new(1, 1);
        let runner = ClientRunner::<_, PostcardCodec, _>::new(
            &mut socket,
            storage.buffers(),
            Config::new(),
            Seed(1),
        );
        let future = runner.run("device", "/ws?game_id=1", &mut player);
        report(b"client_future_postcard ", size_of_val(&future));
    }
    semihosting::exit(true)
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    semihosting::exit(false)
}
