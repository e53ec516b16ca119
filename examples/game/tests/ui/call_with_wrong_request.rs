// Calling `move` with another endpoint's request type does not compile.
use protocol_core::{ClientConnection, Config, Instant, JsonCodec};

fn main() {
    let mut client = ClientConnection::<JsonCodec>::new(Instant::ZERO, Config::new());
    let mut out = [0u8; 64];
    let _ = client.call::<game::MoveEndpoint>(Instant::ZERO, &game::Empty {}, None, &mut out);
}
