//! A deterministic, allocation-free implementation of the *quartet* WebSocket application
//! protocol. It contains no networking code and never reads a clock: every byte it reads or
//! writes lives in a buffer the caller owns, and time is passed in as an [`Instant`].
//!
//! The protocol has four frames (see `docs/spec.md` in the repository):
//!
//! | frame            | direction        | members                          |
//! |------------------|------------------|----------------------------------|
//! | `event`          | server → client  | `kind`, `data`                   |
//! | `request`        | client → server  | `id`, `endpoint`, `data`         |
//! | `response`       | server → client  | `id`, `data`                     |
//! | `response.error` | server → client  | `id`, `data: {reason, code}`     |
//!
//! Each frame travels in one WebSocket message, as JSON text ([`JsonCodec`], subprotocol
//! `quartet.v1.json`) or as postcard bytes ([`PostcardCodec`], `quartet.v1.postcard`).
//!
//! # Module tour, bottom up
//! - [`time`]: [`Instant`] and [`Duration`], plain values with no `now()`.
//! - [`limits`]: every bound the core enforces, in one place.
//! - [`text`]: [`Str`], a string borrowed from a frame, possibly still JSON-escaped.
//! - [`frame`]: [`Frame`], the representation of the four frames, and [`Payload`], what can
//!   be written as `data`.
//! - [`codec`]: the [`Codec`] trait that turns bytes into a [`Frame`] and back, with its
//!   [`DecodeError`] and [`EncodeError`]; [`CodecSet`] and [`negotiate`] pick one per
//!   connection from the WebSocket subprotocol.
//! - [`connection`]: [`ServerConnection`] and [`ClientConnection`], the two sides of the
//!   state machine: inputs `handle_*(now, …)`, application commands, outputs `poll_*`.
//! - `dispatch` (JSON): routing other wire formats by a discriminator member (seeds
//!   001–003), with a pluggable dispatcher.
//! - [`endpoint`]: typed endpoint descriptions ([`Endpoint`](endpoint::Endpoint)) and a
//!   synchronous typed router on top of the server connection.
//!
//! # Features
//! `json` and `postcard` each enable one codec (at least one is required); `defmt` derives
//! `defmt::Format` on every public type; `fuzzing` exposes helpers for the fuzz targets.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(feature = "json", feature = "postcard")))]
compile_error!("protocol-core needs at least one codec: enable the `json` or `postcard` feature");

#[cfg(any(test, feature = "fuzzing"))]
extern crate std;

pub mod codec;
pub mod connection;
#[cfg(feature = "json")]
pub mod dispatch;
pub mod endpoint;
pub mod frame;
pub mod limits;
pub mod text;
pub mod time;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

#[cfg(all(feature = "json", feature = "postcard"))]
pub use codec::AnyCodec;
#[cfg(feature = "json")]
pub use codec::JsonCodec;
#[cfg(feature = "postcard")]
pub use codec::PostcardCodec;
pub use codec::{
    Codec, CodecSet, DecodeError, DecodeFailure, EncodeError, MessageKind, ValueError, negotiate,
};
pub use connection::{
    CallError, ClientConnection, Config, Event, Profile, ServerConnection, State, Transmit,
};
pub use frame::{Data, ErrorBody, Frame, FrameType, Payload, Typed};
pub use text::Str;
pub use time::{Duration, Instant};
