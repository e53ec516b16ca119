//! tokio + tokio-tungstenite driver for `protocol-core` (server and client).
#![forbid(unsafe_code)]
