//! Opens N WebSocket connections to a loopback server with bounded connect
//! concurrency, reads the first `--events` frames on each (the enter events),
//! prints `READY <n>`, then keeps them idle (only answering pings) until the
//! server closes them or `--hold` seconds pass.
//!
//! Usage: idle-conns --url ws://127.0.0.1:9200/ws?game_id=1 -n 10000
//!        [--concurrency 200] [--events 2] [--read-buffer 1024] [--hold 600]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

struct Args {
    url: String,
    n: usize,
    concurrency: usize,
    events: usize,
    read_buffer: usize,
    hold: u64,
}

fn parse() -> Args {
    let mut a = Args {
        url: "ws://127.0.0.1:9200/ws?game_id=1".into(),
        n: 1000,
        concurrency: 200,
        events: 2,
        read_buffer: 1024,
        hold: 600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("missing value for {k}"));
        match k.as_str() {
            "--url" => a.url = v,
            "-n" => a.n = v.parse().expect("-n"),
            "--concurrency" => a.concurrency = v.parse().expect("--concurrency"),
            "--events" => a.events = v.parse().expect("--events"),
            "--read-buffer" => a.read_buffer = v.parse().expect("--read-buffer"),
            "--hold" => a.hold = v.parse().expect("--hold"),
            _ => panic!("unknown argument {k}"),
        }
    }
    let host_ok = a.url.starts_with("ws://127.") || a.url.starts_with("ws://localhost");
    assert!(host_ok, "loopback ws:// URLs only");
    a
}

fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut r);
        }
        r.rlim_cur as u64
    }
}

#[tokio::main]
async fn main() {
    let a = parse();
    let limit = raise_nofile();
    eprintln!("RLIMIT_NOFILE {limit}");
    let sem = Arc::new(Semaphore::new(a.concurrency));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
    let start = Instant::now();
    let hold = Duration::from_secs(a.hold);
    let mut tasks = Vec::with_capacity(a.n);
    for _ in 0..a.n {
        let sem = sem.clone();
        let url = a.url.clone();
        let tx = ready_tx.clone();
        let events = a.events;
        let cfg = WebSocketConfig::default().read_buffer_size(a.read_buffer);
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await.unwrap();
            let res = tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async_with_config(url.as_str(), Some(cfg), true),
            )
            .await;
            let mut ws = match res {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => return drop(tx.send(Err(format!("connect: {e}")))),
                Err(_) => return drop(tx.send(Err("connect timeout".into()))),
            };
            let mut seen = 0;
            while seen < events {
                match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
                    Ok(Some(Ok(m))) if m.is_text() || m.is_binary() => seen += 1,
                    Ok(Some(Ok(_))) => {}
                    other => return drop(tx.send(Err(format!("enter events: {other:?}")))),
                }
            }
            drop(permit);
            let _ = tx.send(Ok(()));
            // Idle: only answer pings (tungstenite queues the pong and writes it on the next read).
            let _ = tokio::time::timeout(hold, async { while let Some(Ok(_)) = ws.next().await {} }).await;
        }));
    }
    drop(ready_tx);
    let (mut ok, mut failed) = (0usize, 0usize);
    while ok + failed < a.n {
        match ready_rx.recv().await {
            Some(Ok(())) => ok += 1,
            Some(Err(e)) => {
                if failed < 5 {
                    eprintln!("error: {e}");
                }
                failed += 1;
            }
            None => break,
        }
    }
    println!("READY {ok} failed {failed} in {:.1}s", start.elapsed().as_secs_f64());
    for t in tasks {
        let _ = t.await;
    }
    println!("DONE");
}
