//! 1,000 WebSocket connections opened, used and closed in a loop against the std server:
//! afterwards the live tasks, the open file descriptors and the live heap allocations are
//! back to where they were. Everything runs on one thread (a current-thread runtime), so
//! the counting allocator sees every allocation of client and server.

mod std_support;

use std_support::{
    Probe, Received, TestServer, close, connect, drain, lab, open_fds, recv_data, request,
    send_text,
};
use transport_std::ServerConfig;

// Counts allocations of the thread that calls `allocation_counter::measure`.
use allocation_counter as _;

/// The tests of this file count the process's descriptors: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Opens `n` connections one after another: request, reply, close handshake.
async fn round(server: &TestServer, n: usize) {
    let url = server.url("/ws");
    for i in 0..n {
        let mut client = connect(&url).await.expect("connect");
        send_text(&mut client, &request("e", "echo", &i.to_string())).await;
        assert_eq!(
            recv_data(&mut client).await,
            Received::Text(format!(r#"{{"id":"e","type":"response","data":{i}}}"#))
        );
        close(&mut client, 1000).await;
        drain(&mut client).await;
    }
    // The server ends its side after the close handshake: wait for every task to finish.
    std_support::eventually("every connection task ended", || {
        server.handle.live_tasks() == 0 && server.handle.connections() == 0
    })
    .await;
}

#[test]
fn a_thousand_connections_leave_no_tasks_descriptors_or_allocations_behind() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = Probe::new();
    let server = runtime.block_on(TestServer::start(lab(&probe), ServerConfig::new()));
    // Warm-up: lazily grown tables (registry, timer wheel, task lists) reach their size.
    runtime.block_on(round(&server, 100));
    let tasks_before = runtime.metrics().num_alive_tasks();
    let fds_before = open_fds();

    let allocations = allocation_counter::measure(|| runtime.block_on(round(&server, 1000)));

    let tasks_after = runtime.metrics().num_alive_tasks();
    let fds_after = open_fds();
    eprintln!(
        "1,000 connections: {} allocations ({} bytes) in total; live afterwards: {} allocations, \
         {} bytes; peak {} bytes; tasks {tasks_before} -> {tasks_after}; fds {fds_before} -> {fds_after}",
        allocations.count_total,
        allocations.bytes_total,
        allocations.count_current,
        allocations.bytes_current,
        allocations.bytes_max,
    );
    assert_eq!(tasks_after, tasks_before, "live tasks back to baseline");
    assert_eq!(
        fds_after, fds_before,
        "open file descriptors back to baseline"
    );
    assert_eq!(
        (allocations.count_current, allocations.bytes_current),
        (0, 0),
        "live allocations (count, bytes) back to baseline"
    );
    assert!(
        allocations.count_total > 1000,
        "the counting allocator saw the work"
    );
    let handle = runtime.block_on(server.stop());
    assert_eq!(Probe::get(&probe.exits), 1100);
    assert_eq!(handle.stats().exits, 1100);
    assert_eq!(handle.stats().closes.get(&1000), Some(&1100));
}

#[test]
fn an_idle_connection_costs_a_bounded_amount_of_server_memory() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    const N: usize = 500;
    // The server runs on this thread; the clients on another one, so the counting
    // allocator (per thread) sees only the server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = Probe::new();
    let server = runtime.block_on(TestServer::start(lab(&probe), ServerConfig::new()));
    runtime.block_on(round(&server, 10));
    let url = server.url("/ws");
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let opened = Arc::new(AtomicUsize::new(0));
    let clients = {
        let opened = opened.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let mut clients = Vec::new();
                for _ in 0..N {
                    let (client, _) = tokio_tungstenite::connect_async_with_config(
                        url.as_str(),
                        Some(config),
                        false,
                    )
                    .await
                    .unwrap();
                    clients.push(client);
                    opened.fetch_add(1, Ordering::SeqCst);
                }
                // Idle until told to close.
                tokio::task::spawn_blocking(move || close_rx.recv())
                    .await
                    .unwrap()
                    .unwrap();
                for client in &mut clients {
                    close(client, 1000).await;
                }
                for client in &mut clients {
                    drain(client).await;
                }
            });
        })
    };
    let open = allocation_counter::measure(|| {
        runtime.block_on(std_support::eventually("every connection open", || {
            opened.load(Ordering::SeqCst) == N && server.handle.connections() == N
        }));
    });
    close_tx.send(()).unwrap();
    let closed = allocation_counter::measure(|| {
        runtime.block_on(std_support::eventually("every connection ended", || {
            server.handle.live_tasks() == 0
        }));
    });
    clients.join().unwrap();
    let per_connection = open.bytes_current / N as i64;
    eprintln!(
        "{N} idle connections: the server holds {} bytes in {} allocations ({per_connection} bytes \
         per connection, default 4 KiB read buffer); after they close: {} bytes, {} allocations",
        open.bytes_current,
        open.count_current,
        open.bytes_current + closed.bytes_current,
        open.count_current + closed.count_current,
    );
    assert!(
        per_connection > 4096,
        "at least the read buffer: {per_connection}"
    );
    // The target for resident memory per idle connection is 16 KiB (docs/benchmarks.md);
    // the heap is most of it.
    assert!(
        per_connection < 16 * 1024,
        "{per_connection} bytes per idle connection"
    );
    assert!(
        (open.bytes_current + closed.bytes_current).abs() < 16 * 1024,
        "what the open connections held is given back"
    );
    runtime.block_on(server.stop());
}
