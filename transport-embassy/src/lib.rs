#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// This module must go first, so that the others see its macros.
mod fmt;

mod client;
mod error;
mod link;
mod server;
mod time;
mod transport;

#[cfg(feature = "game")]
pub mod game;
#[cfg(feature = "loopback")]
pub mod loopback;

pub use client::{ClientHandler, ClientRunner, ClientSession};
pub use error::Error;
pub use link::{BufferStorage, Buffers, MIN_OUTPUT_LEN, OUTPUT_HEADROOM, WRITE_TIMEOUT};
pub use server::{Reject, ServerHandler, ServerRunner, ServerSession};
pub use transport::Transport;
pub use {protocol_core, ws_sansio};

/// The budget for one connection's protocol state: the core connection plus the WebSocket
/// layer's state. On 32-bit targets the default capacities are checked against it at
/// compile time. Buffers, the socket and the runner's future are counted separately
/// (`docs/footprint.md`).
pub const CONNECTION_STATE_BUDGET: usize = 1536;

/// The bytes of one server connection's protocol state: the core's
/// `ServerConnection<W, IN_FLIGHT, QUEUE>` plus the WebSocket layer's `Connection`.
pub const fn server_state_size<
    W: protocol_core::CodecSet,
    const IN_FLIGHT: usize,
    const QUEUE: usize,
>() -> usize {
    core::mem::size_of::<protocol_core::ServerConnection<W, IN_FLIGHT, QUEUE>>()
        + core::mem::size_of::<ws_sansio::Connection<'static>>()
}

/// The bytes of one client connection's protocol state: the core's
/// `ClientConnection<W, PENDING>` plus the WebSocket layer's `Connection` (its random
/// source, usually a handle, not counted).
pub const fn client_state_size<W: protocol_core::CodecSet, const PENDING: usize>() -> usize {
    core::mem::size_of::<protocol_core::ClientConnection<W, PENDING>>()
        + core::mem::size_of::<ws_sansio::Connection<'static>>()
}

#[cfg(target_pointer_width = "32")]
const _: () = {
    use protocol_core::CodecSet;
    use protocol_core::limits::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_PENDING, DEFAULT_REPLY_QUEUE};
    const fn check<W: CodecSet>() {
        assert!(
            server_state_size::<W, DEFAULT_MAX_IN_FLIGHT, DEFAULT_REPLY_QUEUE>()
                <= CONNECTION_STATE_BUDGET
        );
        assert!(client_state_size::<W, DEFAULT_MAX_PENDING>() <= CONNECTION_STATE_BUDGET);
    }
    #[cfg(feature = "json")]
    check::<protocol_core::JsonCodec>();
    #[cfg(feature = "postcard")]
    check::<protocol_core::PostcardCodec>();
    #[cfg(all(feature = "json", feature = "postcard"))]
    check::<protocol_core::AnyCodec>();
};
