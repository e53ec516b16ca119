//! A no_std, allocation-free, sans-IO WebSocket (RFC 6455) layer.
#![no_std]
#![forbid(unsafe_code)]
