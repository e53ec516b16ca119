//! Reports the size of each connection type (the compile-time bound is checked on 32-bit
//! targets, where it applies).

use protocol_core::{AnyCodec, ClientConnection, JsonCodec, PostcardCodec, ServerConnection};

#[test]
fn connection_sizes_on_this_target() {
    let sizes = [
        (
            "ServerConnection<JsonCodec>",
            size_of::<ServerConnection<JsonCodec>>(),
        ),
        (
            "ServerConnection<PostcardCodec>",
            size_of::<ServerConnection<PostcardCodec>>(),
        ),
        (
            "ServerConnection<AnyCodec>",
            size_of::<ServerConnection<AnyCodec>>(),
        ),
        (
            "ClientConnection<AnyCodec>",
            size_of::<ClientConnection<AnyCodec>>(),
        ),
    ];
    for (name, size) in sizes {
        println!("{name}: {size} bytes");
        // 64-bit hosts pay for wider usizes; the 1.5 KiB bound is for 32-bit targets.
        assert!(
            size <= 2 * protocol_core::connection::MAX_CONNECTION_SIZE,
            "{name}: {size}"
        );
    }
}
