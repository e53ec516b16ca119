//! The byte stream under the WebSocket layer.

use embassy_net::tcp::TcpSocket;
use embedded_io_async::{Read, Write};

/// A connected byte stream the runners drive: embedded-io-async [`Read`] and [`Write`], and
/// a graceful shutdown.
///
/// The runner waits on [`Read::read`] together with a timer and the handler's
/// [`wait`](crate::ServerHandler::wait), so `read` must be cancel-safe (dropping it before it
/// completes loses no bytes), as embassy-net's [`TcpSocket::read`] is. Writes are never
/// cancelled for another input: a frame is always written whole, unless the write timeout
/// ([`WRITE_TIMEOUT`](crate::WRITE_TIMEOUT)) expires, which ends the connection.
// The runners are single-task state machines on single-threaded executors: no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Transport: Read + Write {
    /// Ends the stream once everything written has been delivered. Called once, at the end;
    /// the runner bounds the wait with the close timeout.
    async fn shutdown(&mut self);
}

impl Transport for TcpSocket<'_> {
    /// `close()` sends FIN after the queued bytes; `flush()` waits until the peer has
    /// acknowledged them and the FIN. Dropping the socket right after `close()` would drop
    /// the unacknowledged tail and leave the peer retransmitting.
    async fn shutdown(&mut self) {
        self.close();
        // An error means the connection is already gone: nothing left to wait for.
        let _ = self.flush().await;
    }
}
