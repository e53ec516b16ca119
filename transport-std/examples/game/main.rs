//! The seed-000 game server: `cargo run --release -p transport-std --example game`, then
//! open http://127.0.0.1:8080/.
//!
//! Flags: `--listen ADDR` (default `127.0.0.1:8080`), `--profile default|seed000`,
//! `--message-rate N|off` (messages per second per connection, default the server's 20,000;
//! `off` for load tests, whose closed loops on loopback go faster than that).
//! Ctrl-C or SIGTERM shut it down gracefully. Logs go to stderr (`RUST_LOG` filters them).

// Public items: the integration tests include the same file as a public module.
#[allow(unreachable_pub)]
mod app;

use std::net::SocketAddr;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use transport_std::{Profile, Server};

const USAGE: &str =
    "usage: game [--listen ADDR] [--profile default|seed000] [--message-rate N|off]";

struct Args {
    listen: SocketAddr,
    profile: Profile,
    /// `None`: the server's default; `Some(None)`: no limit.
    message_rate: Option<Option<u32>>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        profile: Profile::Default,
        message_rate: None,
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let text = value()?;
                parsed.listen = text.parse().map_err(|e| format!("--listen {text}: {e}"))?;
            }
            "--profile" => {
                parsed.profile = match value()?.as_str() {
                    "default" => Profile::Default,
                    "seed000" => Profile::Seed000,
                    other => return Err(format!("unknown profile {other:?}")),
                };
            }
            "--message-rate" => {
                let text = value()?;
                parsed.message_rate = Some(match text.as_str() {
                    "off" => None,
                    n => Some(n.parse().map_err(|e| format!("--message-rate {n}: {e}"))?),
                });
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = app::config(args.profile);
    if let Some(rate) = args.message_rate {
        config.message_rate = rate.map(|n| transport_std::Rate::new(n, n));
    }
    let server = match Server::bind(args.listen, config, app::app()).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = server.local_addr();
    println!(
        "game server: open http://{addr}/ (WebSocket ws://{addr}/ws?game_id=1, profile {:?})",
        args.profile
    );
    let handle = server.handle();
    let running = tokio::spawn(server.run());
    shutdown_signal().await;
    println!("shutting down");
    handle.shutdown().await;
    let _ = running.await;
    let stats = handle.stats();
    println!(
        "stopped: {} connections, {} requests, closes {:?}",
        stats.connections, stats.requests, stats.closes
    );
    ExitCode::SUCCESS
}
