//! The game server serves its AsyncAPI document (`/asyncapi.json`) and the HTML page
//! (`/asyncapi.html`) over plain HTTP on the WebSocket port.

mod std_support;

use std_support::{TestServer, game, guard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use transport_std::{Profile, ServerConfig};

const SNAPSHOT: &str = "../asyncapi/tests/snapshots/game.asyncapi.json";

/// One `GET` with `Connection: close`: status, headers, body.
async fn http_get(server: &TestServer, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    guard("an HTTP response", stream.read_to_end(&mut response))
        .await
        .unwrap();
    let response = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_serves_its_asyncapi_document_and_page() {
    let server = TestServer::start(game::app(), game::config(Profile::Default)).await;

    let (status, head, body) = http_get(&server, "/asyncapi.json").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let served: serde_json::Value = serde_json::from_str(&body).expect("JSON document");
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SNAPSHOT).expect("the snapshot"))
            .expect("JSON snapshot");
    assert_eq!(served, snapshot);

    // The game's page links to the document.
    let (status, _, index) = http_get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(
        index.contains("href=\"/asyncapi.html\""),
        "the page links the document"
    );

    let (status, head, page) = http_get(&server, "/asyncapi.html").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    for endpoint in ["move", "fail", "echo", "boom", "sleep"] {
        assert!(
            page.contains(endpoint),
            "the page names endpoint {endpoint}"
        );
    }
    // Each message reads as its frame, its data type linked to the schema.
    assert!(
        page.contains(
            "&quot;endpoint&quot;: &quot;move&quot;, &quot;data&quot;: <a href=\"#Move\">Move</a>}"
        ),
        "the move request as a frame"
    );
    assert!(
        page.contains("<h3 id=\"Move\">Move</h3>"),
        "the linked schema"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_paths_are_configurable() {
    let app = transport_std::App::<()>::new("/ws").asyncapi_at(
        &::game::api(),
        "/docs/api.json",
        "/docs/",
    );
    let server = TestServer::start(app, ServerConfig::new()).await;
    let (status, _, body) = http_get(&server, "/docs/api.json").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"asyncapi\""));
    let (status, _, page) = http_get(&server, "/docs/").await;
    assert_eq!(status, 200);
    assert!(page.contains("move"));
    let (status, _, _) = http_get(&server, "/asyncapi.json").await;
    assert_eq!(status, 404);
    server.stop().await;
}
