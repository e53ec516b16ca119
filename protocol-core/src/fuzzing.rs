//! Entry points for the fuzz targets and the property tests. Not a stable API.
//!
//! Every function takes arbitrary bytes, never returns an error, and panics when an invariant
//! breaks; the fuzz targets in `fuzz/` are one-line calls, and `tests/properties.rs` runs the
//! same functions under plain `cargo test`. This module needs `std` (the checks allocate and
//! compare against `serde_json`); the code it checks does not.
//!
//! - [`decode_json`], [`decode_postcard`]: any bytes; decoding never panics; whatever
//!   decodes re-encodes to a fixed point with equal fields.
//! - [`json_differential`]: the JSON envelope decoder against `serde_json`.
//! - [`connection_model`]: structure-aware operation sequences on both roles, applied to the
//!   real connections and to a small reference model.

mod codec;
mod differential;
mod model;

pub use codec::{decode_json, decode_postcard};
pub use differential::json_differential;
pub use model::connection_model;
