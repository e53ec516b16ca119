//! embassy-net driver for `protocol-core`, with a no_std WebSocket layer.
#![no_std]
#![forbid(unsafe_code)]
