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

/// Requests a server connection runs at once unless its type says otherwise (a const
/// generic). Default 8. One more is answered `busy` with its id.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Requests a client connection waits for at once unless its type says otherwise (a const
/// generic). Default 8. One more is refused to the caller (`TooManyPending`).
pub const DEFAULT_MAX_PENDING: usize = 8;

/// Replies the core composes itself (error answers) that can wait for `poll_transmit`
/// (a const generic). Default 4. One input adds at most one; when the queue is full,
/// `handle_message` refuses to take more input until it is drained (`TransmitQueueFull`).
pub const DEFAULT_REPLY_QUEUE: usize = 4;

/// Longest frame the core composes on its own (a queued error answer), in bytes: the JSON
/// `response.error` envelope (64), an id of [`MAX_ID_LEN`] bytes that each need a six-byte
/// `\u00XX` escape, and room for the longest of the core's reasons (27) and codes (16).
/// An output buffer of this size always takes it; postcard frames are shorter. 395.
pub const MAX_CORE_FRAME_LEN: usize = 64 + 6 * MAX_ID_LEN + 27 + 16;

/// Longest close reason, in bytes (RFC 6455: a control frame payload is at most 125 bytes,
/// two of them the code). Default 123.
pub const MAX_CLOSE_REASON_LEN: usize = 123;

/// Time from connection start to accept or reject (server) or to the server's answer
/// (client). Default 10 s.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// Nothing received for this long: the core closes with 1001. Default 60 s.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;

/// Nothing received for this long: the core asks for a WebSocket ping. Default 20 s.
pub const DEFAULT_KEEPALIVE_MS: u64 = 20_000;

/// Our close frame unanswered for this long: the connection is over anyway. Default 5 s.
pub const DEFAULT_CLOSE_TIMEOUT_MS: u64 = 5_000;

/// A client request unanswered for this long fails with `timeout`. Default 30 s.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
