//! Signed WebApp init data (seed 003's authentication) checked before the upgrade, over
//! real handshakes: the vectors of `webapp-auth` (signed independently, confirmed by
//! aiogram) with the verifier's clock pinned to the vectors' `now`. Accepted connections'
//! handlers see the typed user; refused ones get HTTP 401 `Invalid init data`, or are
//! accepted and closed with 4401 when the app asks for it.

mod std_support;

use protocol_core::dispatch::Discriminator;
use serde::Deserialize;
use serde_json::Value;
use std_support::{
    Received, TestServer, close, connect, connect_with, drain, recv_data, send_text,
};
use transport_std::auth::webapp_auth::{self, Source, Verifier};
use transport_std::auth::{InitData, Refusal, Verified};
use transport_std::free::Json;
use transport_std::{App, HandlerError, ServerConfig};

const VECTORS: &str = "../transport-std/webapp-auth/testdata/vectors.json";

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(VECTORS).expect("the vectors")).unwrap()
}

/// The vectors' `now`.
fn pinned() -> u64 {
    1_760_000_000
}

#[derive(Deserialize)]
struct Whoami {}

async fn whoami(
    Verified(data): Verified<webapp_auth::InitData>,
    _: Whoami,
) -> Result<Json<Value>, HandlerError> {
    let user = data.user.as_ref().expect("a user");
    Ok(Json(serde_json::json!({
        "Type": "User",
        "Data": {"id": user.id, "first_name": user.first_name},
    })))
}

fn app(token: &str, source: Source, refusal: Refusal) -> App<()> {
    App::new("/ws")
        .dispatch_by(Discriminator::member("Type", "Data"))
        .on("Whoami", whoami)
        .authenticate(
            InitData::new(Verifier::new(token).source(source)).clock(pinned),
            refusal,
        )
}

/// The init data of the vector named `name`.
fn init_data(vectors: &Value, name: &str) -> String {
    vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["init_data"]
        .as_str()
        .unwrap()
        .to_string()
}

const ACCEPTED: [&str; 4] = [
    "valid",
    "valid-reordered",
    "valid-plus-spaces",
    "slightly-ahead",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_data_over_real_handshakes() {
    let vectors = vectors();
    assert_eq!(vectors["now"].as_u64(), Some(pinned()));
    let token = vectors["token"].as_str().unwrap();
    let server = TestServer::start(
        app(token, Source::WholeQuery, Refusal::Http),
        ServerConfig::new(),
    )
    .await;
    let mut names = Vec::new();
    for case in vectors["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        names.push(name.to_string());
        let init_data = case["init_data"].as_str().unwrap();
        let url = server.url(&format!("/ws?{init_data}"));
        if ACCEPTED.contains(&name) {
            let mut client = connect(&url)
                .await
                .unwrap_or_else(|e| panic!("{name}: refused {e:?}"));
            send_text(&mut client, r#"{"Type":"Whoami","Data":{}}"#).await;
            let Received::Text(text) = recv_data(&mut client).await else {
                panic!("{name}")
            };
            let got: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                got,
                serde_json::json!({"Type": "User", "Data": {"id": 42, "first_name": "Zoë"}}),
                "{name}"
            );
            close(&mut client, 1000).await;
        } else {
            let refused = connect(&url).await.err();
            assert_eq!(
                refused,
                Some((401, "Invalid init data\n".to_string())),
                "{name}"
            );
        }
    }
    for required in [
        "valid",
        "valid-reordered",
        "tampered-user",
        "expired",
        "future-dated",
    ] {
        assert!(names.iter().any(|n| n == required), "vector {required}");
    }
    // No init data at all.
    assert_eq!(
        connect(&server.url("/ws")).await.err(),
        Some((401, "Invalid init data\n".to_string()))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_parameter_and_accept_then_close() {
    let vectors = vectors();
    let token = vectors["token"].as_str().unwrap();
    let case = |name: &str| init_data(&vectors, name);
    let server = TestServer::start(
        app(
            token,
            Source::Parameter("tgWebAppData".into()),
            Refusal::Close4401,
        ),
        ServerConfig::new(),
    )
    .await;
    // `tgWebAppData=<init data, percent-encoded>`.
    let encode = |data: &str| {
        let mut out = String::from("tgWebAppData=");
        for byte in data.bytes() {
            if byte.is_ascii_alphanumeric() {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        out
    };
    let mut client = connect(&server.url(&format!("/ws?game=1&{}", encode(&case("valid")))))
        .await
        .expect("accepted");
    send_text(&mut client, r#"{"Type":"Whoami","Data":{}}"#).await;
    let Received::Text(text) = recv_data(&mut client).await else {
        panic!()
    };
    assert!(text.contains("\"id\":42"), "{text}");
    close(&mut client, 1000).await;

    let mut refused = connect(&server.url(&format!("/ws?{}", encode(&case("expired")))))
        .await
        .expect("accepted, then closed");
    assert_eq!(
        recv_data(&mut refused).await,
        Received::Close(Some((4401, "Invalid init data\n".to_string())))
    );
    // Reading on answers the close; the stream then ends.
    assert_eq!(drain(&mut refused).await, Vec::<Received>::new());
    server.stop().await;
}

/// A refusal whose message is longer than a close frame carries still closes with 4401: the
/// reason is cut at a character boundary (it used to leave the connection open and serving).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_4401_with_a_long_reason_still_closes() {
    let message = "é".repeat(100); // 200 bytes; a close reason holds 123
    let verifier = move |_request: std::sync::Arc<transport_std::RequestInfo>| {
        let message = message.clone();
        async move { Err::<(), _>(transport_std::auth::AuthError::new(message)) }
    };
    let app = App::<()>::new("/ws")
        .raw("echo", |data: transport_std::RawData| async move {
            Ok::<_, HandlerError>(data)
        })
        .authenticate(verifier, Refusal::Close4401);
    let server = TestServer::start(app, ServerConfig::new()).await;
    let mut refused = connect(&server.url("/ws"))
        .await
        .expect("accepted, then closed");
    send_text(
        &mut refused,
        r#"{"id":"1","type":"request","endpoint":"echo","data":"secret"}"#,
    )
    .await;
    assert_eq!(
        recv_data(&mut refused).await,
        Received::Close(Some((4401, "é".repeat(61))))
    );
    assert_eq!(drain(&mut refused).await, Vec::<Received>::new());
    server.stop().await;
}

/// The application's own handshake decision and authentication both apply, whichever was
/// set first: the decision runs first, authentication only after it accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_decision_and_authentication_in_either_order() {
    let vectors = vectors();
    let token = vectors["token"].as_str().unwrap().to_string();
    let init_data = |name: &str| init_data(&vectors, name);
    let decide = |request: std::sync::Arc<transport_std::RequestInfo>| async move {
        if request.header("x-deny").is_some() {
            transport_std::Decision::reject(http::StatusCode::FORBIDDEN, "denied\n")
        } else {
            transport_std::Decision::Accept
        }
    };
    let verifier = || InitData::new(Verifier::new(&token).source(Source::WholeQuery)).clock(pinned);
    let apps = [
        app(&token, Source::WholeQuery, Refusal::Http).handshake(decide),
        App::new("/ws")
            .dispatch_by(Discriminator::member("Type", "Data"))
            .on("Whoami", whoami)
            .handshake(decide)
            .authenticate(verifier(), Refusal::Http),
    ];
    for (order, app) in apps.into_iter().enumerate() {
        let server = TestServer::start(app, ServerConfig::new()).await;
        let valid = server.url(&format!("/ws?{}", init_data("valid")));
        let expired = server.url(&format!("/ws?{}", init_data("expired")));
        let mut client = connect(&valid)
            .await
            .unwrap_or_else(|e| panic!("order {order}: {e:?}"));
        close(&mut client, 1000).await;
        assert_eq!(
            connect(&expired).await.err(),
            Some((401, "Invalid init data\n".to_string())),
            "order {order}: authentication applies"
        );
        assert_eq!(
            connect_with(&valid, &[("x-deny", "1")]).await.err(),
            Some((403, "denied\n".to_string())),
            "order {order}: the decision applies"
        );
        server.stop().await;
    }
}
