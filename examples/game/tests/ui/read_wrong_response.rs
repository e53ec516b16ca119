// A `move` call's answer cannot be read as another endpoint's response type.
use protocol_core::{ClientConnection, Config, Data, Instant, JsonCodec};

fn main() {
    let mut client = ClientConnection::<JsonCodec>::new(Instant::ZERO, Config::new());
    let mut out = [0u8; 64];
    let (call, _) = client
        .call::<game::MoveEndpoint>(Instant::ZERO, &game::Move { x: 1, y: 2 }, None, &mut out)
        .unwrap();
    let _wrong: game::Empty = call.response(JsonCodec, Data::new(b"{}")).unwrap();
}
