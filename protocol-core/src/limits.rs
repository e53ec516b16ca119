//! Every bound the core enforces, in one place. Each has one doc line and its default.
//!
//! Capacities that size memory (tables, queues) are const generics on the types that hold
//! them, with the defaults below; per-connection limits that size nothing are fields of the
//! connection's configuration, defaulting to the values below.

/// Longest request `id`, in bytes of UTF-8 after unescaping (fits a UUID or a ULID with a
/// prefix). Default 48. A longer id is refused and is not a usable id.
pub const MAX_ID_LEN: usize = 48;

/// Longest `endpoint` name or event `kind`, in bytes of UTF-8 after unescaping. Default 64.
pub const MAX_NAME_LEN: usize = 64;

/// Deepest nesting of JSON arrays and objects in one frame, the envelope object included.
/// Default 128 (as serde_json). Checked with a bit stack, never by recursion.
pub const MAX_DEPTH: usize = 128;

/// Largest frame a connection decodes unless configured otherwise, in bytes. Default 4096.
/// A larger frame is answered with `frame-too-large` (with its id when it has a usable one).
pub const DEFAULT_MAX_FRAME_LEN: usize = 4096;

/// Size of the stack buffer [`Codec::decode_value`](crate::Codec::decode_value) uses to
/// unescape JSON strings in typed data. Default 256. A longer *escaped* string needs
/// [`Codec::decode_value_with`](crate::Codec::decode_value_with) and a larger buffer.
pub const VALUE_SCRATCH_LEN: usize = 256;
