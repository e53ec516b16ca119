//! The accept loop survives running out of file descriptors (`EMFILE`): it logs, pauses and
//! tries again, and the waiting connection is served once descriptors are free. Its own test
//! binary, because it exhausts the process's descriptors.

mod std_support;

use std_support::{
    Probe, Received, TestServer, close, drain, eventually, lab, recv_data, request, send_text,
};
use tokio_tungstenite::MaybeTlsStream;
use transport_std::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_loop_survives_running_out_of_file_descriptors() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    // The client's socket exists before the descriptors run out; connecting needs none.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(error) => {
                assert_eq!(error.raw_os_error(), Some(24), "EMFILE: {error}");
                break;
            }
        }
        assert!(hoard.len() < 1 << 20, "no descriptor limit to reach");
    }
    let stream = socket.connect(server.addr).await.unwrap();
    eventually("a failed accept", || {
        server.handle.stats().accept_errors >= 1
    })
    .await;
    assert_eq!(server.handle.connections(), 0);
    drop(hoard);
    // The loop tried again: the same connection is served.
    let (mut client, _) =
        tokio_tungstenite::client_async(server.url("/ws"), MaybeTlsStream::Plain(stream))
            .await
            .unwrap();
    send_text(&mut client, &request("e", "echo", "1")).await;
    assert_eq!(
        recv_data(&mut client).await,
        Received::Text(r#"{"id":"e","type":"response","data":1}"#.into())
    );
    close(&mut client, 1000).await;
    drain(&mut client).await;
    server.stop().await;
}
