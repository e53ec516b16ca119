//! What the seed examples' `main`s share: their command line and serving until Ctrl-C.

use std::net::SocketAddr;

use transport_std::{App, Server, ServerConfig};

/// Reads `[--listen ADDR]` and any of `flags` from the command line: where to listen
/// (`127.0.0.1:<default_port>` unless told otherwise) and the flags given. Panics with the
/// argument at fault on anything else.
pub(crate) fn parse_args(
    default_port: u16,
    flags: &[&'static str],
) -> (SocketAddr, Vec<&'static str>) {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], default_port));
    let mut given = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args
                .next()
                .and_then(|a| a.parse().ok())
                .expect("--listen ADDR");
        } else if let Some(flag) = flags.iter().find(|flag| **flag == arg) {
            given.push(*flag);
        } else {
            panic!("unknown argument {arg:?}");
        }
    }
    (listen, given)
}

/// Serves `app` on `listen` until Ctrl-C, then shuts down gracefully. `what` names the
/// endpoint in the line printed once it listens.
pub(crate) async fn serve(listen: SocketAddr, app: App<()>, what: &str) -> std::io::Result<()> {
    let server = Server::bind(listen, ServerConfig::new(), app).await?;
    println!("{what}: ws://{}/ws", server.local_addr());
    let handle = server.handle();
    let running = tokio::spawn(server.run());
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    let _ = running.await;
    Ok(())
}
