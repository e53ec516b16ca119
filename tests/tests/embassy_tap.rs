//! transport-embassy against implementations we did not write: an embassy-net stack on a TAP
//! device plays the reference game, as an embassy client, against transport-std's game server
//! (hyper and tokio-tungstenite on the kernel's TCP) listening on the kernel's side of the
//! TAP. Both live in a network namespace of their own, so the test touches no real network.
//!
//! `scripts/embassy-tap.sh` creates the namespace and the device, runs this test inside it
//! with `QUARTET_TAP` naming the device, and removes both. Without it the test is ignored.

#[allow(dead_code, unreachable_pub)]
#[path = "../../transport-std/examples/game/app.rs"]
mod app;

use embassy_futures::select::{Either, select};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{Duration, with_timeout};
use game::StateEvent;
use protocol_core::connection::{ClientReceived, Initiator};
use protocol_core::endpoint::EventType;
use protocol_core::{CodecSet, Config, Event, JsonCodec, PostcardCodec, Profile};
use transport_embassy::game::{GamePlayer, Tally};
use transport_embassy::ws_sansio::RandomSource;
use transport_embassy::{BufferStorage, ClientHandler, ClientRunner, ClientSession, Error};

/// The environment variable naming the TAP device.
const TAP: &str = "QUARTET_TAP";
/// The kernel's address on the TAP (the script assigns it), and the embassy stack's.
const KERNEL: [u8; 4] = [10, 42, 0, 1];
const EMBASSY: [u8; 4] = [10, 42, 0, 2];
const PORT: u16 = 8080;
const GAME_ID: i64 = 9;
const MOVES: u32 = 5;

/// A fixed, non-secure test seed for the masking keys.
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

/// The player, and the `game:state` events seen by kind.
struct Watched {
    player: GamePlayer,
    state_events: u32,
}

impl<W: CodecSet> ClientHandler<W> for Watched {
    async fn received(
        &mut self,
        session: &mut impl ClientSession<W>,
        received: ClientReceived<'_>,
    ) -> Result<(), Error> {
        if matches!(received, ClientReceived::Event { kind, .. } if kind == StateEvent::KIND) {
            self.state_events += 1;
        }
        self.player.received(session, received).await
    }

    async fn event(
        &mut self,
        session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        <GamePlayer as ClientHandler<W>>::event(&mut self.player, session, event).await
    }
}

/// Plays the game once over `stack` with codec `W`; what the player saw, and the number of
/// `game:state` events.
async fn play<W: CodecSet>(stack: Stack<'_>, seed: u32) -> (Tally, u32) {
    let mut rx = [0; 4096];
    let mut tx = [0; 4096];
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    let [a, b, c, d] = KERNEL;
    socket
        .connect((Ipv4Address::new(a, b, c, d), PORT))
        .await
        .expect("connect to the std server through the TAP");
    let mut storage = BufferStorage::<1024, 2048, 2048>::new();
    let mut watched = Watched {
        player: GamePlayer::new(GAME_ID, MOVES),
        state_events: 0,
    };
    let target = format!("/ws?game_id={GAME_ID}");
    let exit = ClientRunner::<_, W, _>::new(
        &mut socket,
        storage.buffers(),
        Config::new(),
        TestSeed(seed),
    )
    .run("10.42.0.1:8080", &target, &mut watched)
    .await
    .expect("the std server accepts the upgrade");
    assert_eq!(exit.initiator, Initiator::Local);
    assert!(exit.clean);
    (watched.player.tally(), watched.state_events)
}

#[test]
#[ignore = "needs a TAP device in a network namespace: run scripts/embassy-tap.sh"]
fn embassy_client_plays_against_the_std_server_over_a_tap_device() {
    let name = std::env::var(TAP).expect("QUARTET_TAP names the TAP device");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let address = format!(
            "{}.{}.{}.{}:{PORT}",
            KERNEL[0], KERNEL[1], KERNEL[2], KERNEL[3]
        );
        let server = transport_std::Server::bind(
            address.parse().unwrap(),
            app::config(Profile::Default),
            app::app(),
        )
        .await
        .expect("bind the std server on the TAP's address");
        let handle = server.handle();
        tokio::spawn(server.run());

        let device = TunTapDevice::new(&name).expect("open the TAP device");
        let [a, b, c, d] = EMBASSY;
        let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), 24),
            gateway: None,
            dns_servers: Default::default(),
        });
        let resources = Box::leak(Box::new(StackResources::<4>::new()));
        let (stack, mut runner) = embassy_net::new(device, config, resources, 0x7a9);
        let games = async {
            stack.wait_config_up().await;
            let json = play::<JsonCodec>(stack, 0x2545_f491).await;
            let postcard = play::<PostcardCodec>(stack, 0x9e37_79b9).await;
            (json, postcard)
        };
        let (json, postcard) =
            match select(runner.run(), with_timeout(Duration::from_secs(30), games)).await {
                Either::First(_) => unreachable!("the stack runs forever"),
                Either::Second(Ok(tallies)) => tallies,
                Either::Second(Err(_)) => panic!("the game hung"),
            };
        handle.shutdown().await;

        // JSON: every frame exactly as the `game` crate's contract says.
        let (tally, states) = json;
        assert_eq!(states, 1);
        assert_eq!((tally.states, tally.surprises), (1, 0), "{tally:?}");
        assert_eq!((tally.inits, tally.moves, tally.refusals), (1, MOVES, 1));
        // postcard: binary frames, masked both ways through tungstenite. The std example
        // app encodes `game:state`'s `status` as a string where the `game` crate has an
        // enum (the same in JSON, not in postcard), so only its arrival is checked here.
        let (tally, states) = postcard;
        assert_eq!(states, 1);
        assert_eq!(
            (tally.inits, tally.moves, tally.refusals),
            (1, MOVES, 1),
            "{tally:?}"
        );
        assert_eq!(tally.surprises, 1 - tally.states, "{tally:?}");
    });
}
