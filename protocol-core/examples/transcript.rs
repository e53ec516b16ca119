//! A client core and a server core talking in memory, printing every frame on the wire.
//! `cargo run -p protocol-core --example transcript`

use protocol_core::connection::{ClientReceived, Failure, ServerReceived};
use protocol_core::endpoint::RequestError;
use protocol_core::{
    AnyCodec, ClientConnection, Config, Data, Instant, MessageKind, ServerConnection, Transmit,
    Typed, negotiate,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Serialize)]
struct Success {
    success: bool,
}

#[derive(Serialize)]
struct Moved {
    success: bool,
    x: i32,
    y: i32,
}

fn show(direction: &str, t: Transmit, out: &[u8]) -> Vec<u8> {
    match t {
        Transmit::Message {
            kind: MessageKind::Text,
            len,
        } => {
            println!("{direction} {}", String::from_utf8_lossy(&out[..len]));
            out[..len].to_vec()
        }
        other => {
            println!("{direction} {other:?}");
            Vec::new()
        }
    }
}

fn main() {
    let now = Instant::ZERO;
    let mut server = ServerConnection::<AnyCodec>::new(now, Config::new());
    let mut client = ClientConnection::<AnyCodec>::new(now, Config::new());
    let routes = ["move", "fail"];
    let mut out = [0u8; 512];

    client.connect(now).unwrap();
    server.handle_upgrade(now).unwrap();
    let chosen = negotiate::<AnyCodec>(None).unwrap();
    server.accept(now, chosen.codec).unwrap();
    client.handle_accepted(now, chosen.codec).unwrap();
    println!(
        "-- handshake: {:?} ({:?})",
        chosen.codec, chosen.subprotocol
    );

    let t = server
        .send_event(now, "init", &Typed(&Success { success: true }), &mut out)
        .unwrap();
    let frame = show("<", t, &out);
    if let Ok(ClientReceived::Event { kind, .. }) =
        client.handle_message(now, MessageKind::Text, &frame)
    {
        println!("   client got event {kind}");
    }

    for (endpoint, data) in [
        ("move", &br#"{"x":1,"y":2}"#[..]),
        ("fail", b"{}"),
        ("nope", b"null"),
    ] {
        let (id, t) = client
            .request(now, endpoint, &Data::new(data), None, &mut out)
            .unwrap();
        let frame = show(">", t, &out);
        match server
            .handle_message(now, MessageKind::Text, &frame, &routes)
            .unwrap()
        {
            ServerReceived::Request(request) if request.endpoint == "move" => {
                let m: Move = request.decode().unwrap();
                let moved = Moved {
                    success: true,
                    x: m.x,
                    y: m.y,
                };
                let t = server
                    .respond(now, request.token, &Typed(&moved), &mut out)
                    .unwrap();
                let frame = show("<", t, &out);
                let answer = client
                    .handle_message(now, MessageKind::Text, &frame)
                    .unwrap();
                println!("   client: request {} -> {answer:?}", id.0);
            }
            ServerReceived::Request(request) => {
                let error = RequestError::new("Not your turn", "not-your-turn").body();
                let t = server
                    .fail(now, request.token, Failure::Error(error), &mut out)
                    .unwrap();
                let frame = show("<", t, &out);
                let answer = client
                    .handle_message(now, MessageKind::Text, &frame)
                    .unwrap();
                println!("   client: request {} -> {answer:?}", id.0);
            }
            refused => {
                println!("   server: {refused:?}");
                while let Some(t) = server.poll_transmit(now, &mut out).unwrap() {
                    let frame = show("<", t, &out);
                    let answer = client
                        .handle_message(now, MessageKind::Text, &frame)
                        .unwrap();
                    println!("   client: request {} -> {answer:?}", id.0);
                }
            }
        }
    }
    let t = client.close(now, 1000, "bye", &mut out).unwrap();
    show(">", t, &out);
    server.handle_close(now, Some(1000)).unwrap();
    client.handle_close(now, Some(1000)).unwrap();
    while let Some(event) = server.poll_event() {
        println!("-- server event: {event:?}");
    }
}
