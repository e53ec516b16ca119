//! The std server's features over real loopback sockets: events from the server handle
//! (one connection, a group, all), handler events, subprotocols, the handshake decision,
//! plain HTTP routes and `/healthz`, reply order.

mod std_support;

use std_support::{
    Probe, Received, TestServer, close, connect, drain, lab, recv_data, request, send_text,
};
use transport_std::ServerConfig;

fn text(s: &str) -> Received {
    Received::Text(s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_one_connection_a_group_or_all() {
    let probe = Probe::new();
    let server = TestServer::start(lab(&probe), ServerConfig::new()).await;
    let mut a = connect(&server.url("/ws")).await.unwrap();
    let mut b = connect(&server.url("/ws")).await.unwrap();
    send_text(&mut a, &request("j", "join", r#""red""#)).await;
    assert_eq!(
        recv_data(&mut a).await,
        text(r#"{"id":"j","type":"response","data":"red"}"#)
    );
    send_text(&mut b, &request("e", "echo", "0")).await;
    assert_eq!(
        recv_data(&mut b).await,
        text(r#"{"id":"e","type":"response","data":0}"#)
    );
    let handle = &server.handle;
    assert_eq!(handle.connections(), 2);

    let delivery = handle.broadcast("news", "hello");
    assert_eq!(delivery.queued, 2);
    let news = text(r#"{"type":"event","kind":"news","data":"hello"}"#);
    assert_eq!(recv_data(&mut a).await, news);
    assert_eq!(recv_data(&mut b).await, news);

    let delivery = handle.send_to_group("red", "team", 7);
    assert_eq!((delivery.queued, delivery.dropped), (1, 0));
    assert_eq!(
        recv_data(&mut a).await,
        text(r#"{"type":"event","kind":"team","data":7}"#)
    );

    // One connection, by id: the one not in the group.
    let ids = handle.connection_ids();
    for id in ids {
        handle.send_to(id, "direct", id.0).unwrap();
    }
    let Received::Text(for_a) = recv_data(&mut a).await else {
        panic!()
    };
    let Received::Text(for_b) = recv_data(&mut b).await else {
        panic!()
    };
    assert!(for_a.starts_with(r#"{"type":"event","kind":"direct","data":"#));
    assert!(for_b.starts_with(r#"{"type":"event","kind":"direct","data":"#));
    assert_ne!(for_a, for_b);

    // Events a handler sends go out before its reply.
    send_text(&mut b, &request("p", "push", "3")).await;
    for i in 0..3 {
        assert_eq!(
            recv_data(&mut b).await,
            text(&format!(r#"{{"type":"event","kind":"tick","data":{i}}}"#))
        );
    }
    assert_eq!(
        recv_data(&mut b).await,
        text(r#"{"id":"p","type":"response","data":3}"#)
    );

    for c in [&mut a, &mut b] {
        close(c, 1000).await;
        drain(c).await;
    }
    let handle = server.stop().await;
    assert_eq!(
        handle.send_to(transport_std::ConnectionId(1), "x", 0),
        Err(transport_std::SendError::Unknown)
    );
}
