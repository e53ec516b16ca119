//! Writes the game's AsyncAPI document: `cargo run -p asyncapi --example game_asyncapi -- OUT.json [OUT.html]`.

use asyncapi::Api;

/// The game's document, as the std game server serves it.
pub(crate) fn game_api() -> Api {
    Api::new("quartet game", "1.0.0")
        .description(
            "The seed-000 game: connect to `/ws?game_id=N`, play moves, receive the game's events.",
        )
        .server("127.0.0.1:8080", "/ws")
        .on_connect::<game::StateEvent>("The game's state, pushed when the connection is accepted.")
        .on_connect::<game::InitEvent>("The enter hook's result, after its events.")
        .endpoint::<game::MoveEndpoint>("Play a move in this connection's game.")
        .endpoint::<game::FailEndpoint>("Always refused: shows a handler's own error.")
        .error(game::NOT_YOUR_TURN.code, game::NOT_YOUR_TURN.reason)
        .raw_endpoint("echo", "Answers its data verbatim.")
        .raw_endpoint(
            "boom",
            "Always fails with internal-error: shows a handler failure.",
        )
        .raw_endpoint("sleep", "Waits `data` seconds, then answers `data`.")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let api = game_api();
    match args.next() {
        Some(path) => std::fs::write(&path, api.to_json()).expect("write the JSON document"),
        None => println!("{}", api.to_json()),
    }
    if let Some(path) = args.next() {
        std::fs::write(&path, api.to_html()).expect("write the HTML page");
    }
}
