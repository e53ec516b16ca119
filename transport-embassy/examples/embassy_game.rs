//! The reference game over two embassy-net stacks wired together in memory: an embassy
//! server running the shared game handlers and an embassy client playing ten moves.
//!
//! `cargo run -p transport-embassy --example embassy_game --features loopback,game`

use embassy_futures::block_on;
use embassy_futures::join::{join, join3};
use embassy_futures::select::{Either, select};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Ipv4Address, StackResources};
use protocol_core::{AnyCodec, Config, PostcardCodec};
use transport_embassy::game::{GamePlayer, GameServer};
use transport_embassy::{BufferStorage, ClientRunner, ServerRunner, loopback};

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

fn main() {
    let (device_a, device_b, wire) = loopback::pair(
        leak(loopback::State::<1500, 4>::new()),
        leak(loopback::State::<1500, 4>::new()),
    );
    let resources_a = leak(StackResources::<2>::new());
    let resources_b = leak(StackResources::<2>::new());
    let (server_stack, mut server_net) = embassy_net::new(
        device_a,
        loopback::static_config([10, 0, 0, 1]),
        resources_a,
        1,
    );
    let (client_stack, mut client_net) = embassy_net::new(
        device_b,
        loopback::static_config([10, 0, 0, 2]),
        resources_b,
        2,
    );

    let server = async {
        let (mut rx, mut tx) = ([0; 1024], [0; 1024]);
        let mut socket = TcpSocket::new(server_stack, &mut rx, &mut tx);
        socket.accept(80).await.expect("accept");
        let mut storage = BufferStorage::<512, 512, 512>::new();
        let mut game = GameServer::new();
        let exit = ServerRunner::<_, AnyCodec>::new(&mut socket, storage.buffers(), Config::new())
            .run(&mut game)
            .await;
        println!("server: game {} ended: {exit:?}", game.game_id());
    };
    let client = async {
        client_stack.wait_config_up().await;
        let (mut rx, mut tx) = ([0; 1024], [0; 1024]);
        let mut socket = TcpSocket::new(client_stack, &mut rx, &mut tx);
        socket
            .connect((Ipv4Address::new(10, 0, 0, 1), 80))
            .await
            .expect("connect");
        let mut storage = BufferStorage::<512, 512, 512>::new();
        let mut player = GamePlayer::new(7, 10);
        // A fixed, non-secure seed for the masking keys: fine for a demo, not for production.
        let mut state = 0x9e37_79b9_u32;
        let random = move |dest: &mut [u8]| {
            for byte in dest {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                *byte = (state >> 24) as u8;
            }
        };
        let runner = ClientRunner::<_, PostcardCodec, _>::new(
            &mut socket,
            storage.buffers(),
            Config::new(),
            random,
        );
        let exit = runner.run("10.0.0.1", "/ws?game_id=7", &mut player).await;
        println!("client: {:?}, ended: {exit:?}", player.tally());
        player.succeeded()
    };
    let succeeded = block_on(async {
        match select(
            join3(server_net.run(), client_net.run(), wire.run()),
            join(server, client),
        )
        .await
        {
            Either::First(_) => unreachable!("the network runs forever"),
            Either::Second(((), succeeded)) => succeeded,
        }
    });
    assert!(
        succeeded,
        "the game did not go as the reference handlers say"
    );
    println!("ok");
}
