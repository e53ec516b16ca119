//! The client role: send the upgrade on a connected socket, then run the connection.

use core::cell::RefCell;
use core::marker::PhantomData;
use core::ops::Range;

use protocol_core::connection::{ClientConnection, ClientReceived, Exit, RequestId};
use protocol_core::endpoint::{Call, Endpoint};
use protocol_core::limits::DEFAULT_MAX_PENDING;
use protocol_core::{
    CodecSet, Config, Data, Duration, Event, Instant, MessageKind, Payload, Typed, ValueError,
};
use serde::Deserialize;
use ws_sansio::{ClientHandshake, Connection, HeaderBuffer, RandomSource, ResponseError, Status};

use crate::link::{self, Link, Role};
use crate::{Buffers, Error, Transport, time};

/// The application side of a client connection: it receives answers and events, and sends
/// requests through the [`ClientSession`].
///
/// As on the server, every callback runs inside the connection's loop.
// Single-threaded executors: no `Send` bound on the returned futures.
#[allow(async_fn_in_trait)]
pub trait ClientHandler<W: CodecSet> {
    /// The server accepted the upgrade: send the first requests.
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn open(&mut self, session: &mut impl ClientSession<W>) -> Result<(), Error> {
        let _ = session;
        Ok(())
    }

    /// A response, an error answer or an event arrived (or a frame the core ignored).
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn received(
        &mut self,
        session: &mut impl ClientSession<W>,
        received: ClientReceived<'_>,
    ) -> Result<(), Error>;

    /// An event of the core: failed requests (timeouts), a protocol error, and
    /// [`Event::Exit`] last.
    ///
    /// # Errors
    /// Anything; it is logged.
    async fn event(
        &mut self,
        session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        let _ = (session, event);
        Ok(())
    }

    /// Completes when the handler has something to send on its own; see
    /// [`ServerHandler::wait`](crate::ServerHandler::wait). Must be cancel-safe. The default
    /// never completes.
    async fn wait(&mut self) {
        core::future::pending::<()>().await;
    }

    /// Runs after [`wait`](Self::wait) completed.
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn wake(&mut self, session: &mut impl ClientSession<W>) -> Result<(), Error> {
        let _ = session;
        Ok(())
    }
}

/// What a [`ClientHandler`] can do to its connection.
// Single-threaded executors: no `Send` bound on the returned futures.
#[allow(async_fn_in_trait)]
pub trait ClientSession<W: CodecSet> {
    /// The current time, as the core sees it.
    fn now(&self) -> Instant;

    /// The codec the server chose.
    fn codec(&self) -> Option<W>;

    /// Requests awaiting an answer.
    fn pending(&self) -> usize;

    /// Sends a request to `endpoint`; its answer arrives in
    /// [`received`](ClientHandler::received), or its failure (after `timeout`, default the
    /// configuration's) in [`event`](ClientHandler::event).
    ///
    /// # Errors
    /// [`Error::Call`] when the core refuses (too many pending, closing, too large for the
    /// output buffer), or a transport error.
    async fn request<P: Payload>(
        &mut self,
        endpoint: &str,
        data: &P,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Error>;

    /// Calls endpoint `E` with typed data: [`request`](Self::request) whose handle can only
    /// read its answer as `E::Response` ([`Call::response`]). Passing anything but
    /// `E::Request` does not compile.
    ///
    /// # Errors
    /// As [`request`](Self::request).
    async fn call<E: Endpoint>(
        &mut self,
        data: &E::Request,
        timeout: Option<Duration>,
    ) -> Result<Call<E>, Error> {
        let id = self.request(E::NAME, &Typed(data), timeout).await?;
        Ok(Call::new(id))
    }

    /// Closes the connection with `code` and `reason`; the close frame is written when the
    /// callback returns.
    ///
    /// # Errors
    /// [`Error::Call`] when the core refuses.
    fn close(&mut self, code: u16, reason: &str) -> Result<(), Error>;

    /// Deserializes the `data` of a response or an event with the connection's codec.
    ///
    /// # Errors
    /// [`ValueError`] when it does not have the shape of `T`.
    fn decode<'de, T: Deserialize<'de>>(&self, data: Data<'de>) -> Result<T, ValueError>;
}

type ClientLink<'a, 'r, T, W, R, const PENDING: usize> =
    Link<'a, T, ClientConnection<W, PENDING>, &'r RefCell<R>>;

impl<T: Transport, W: CodecSet, R: RandomSource, const PENDING: usize> ClientSession<W>
    for ClientLink<'_, '_, T, W, R, PENDING>
{
    fn now(&self) -> Instant {
        time::now()
    }

    fn codec(&self) -> Option<W> {
        self.core.codec()
    }

    fn pending(&self) -> usize {
        self.core.pending()
    }

    async fn request<P: Payload>(
        &mut self,
        endpoint: &str,
        data: &P,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Error> {
        let out = self
            .output
            .get_mut(crate::OUTPUT_HEADROOM..)
            .unwrap_or_default();
        let (id, transmit) = self
            .core
            .request(time::now(), endpoint, data, timeout, out)?;
        self.send(transmit).await?;
        Ok(id)
    }

    fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        let out = self
            .output
            .get_mut(crate::OUTPUT_HEADROOM..)
            .unwrap_or_default();
        let transmit = self.core.close(time::now(), code, reason, out)?;
        if let protocol_core::Transmit::Close { code, reason_len } = transmit {
            self.close = Some((code, reason_len));
        }
        Ok(())
    }

    fn decode<'de, D: Deserialize<'de>>(&self, data: Data<'de>) -> Result<D, ValueError> {
        self.core.decode(data)
    }
}

/// Runs one client connection over a connected transport: the HTTP upgrade, then the
/// WebSocket connection, until it is over.
///
/// `W` is the set of codecs offered, most preferred first; `R` the source of the handshake
/// key and the masking keys (a hardware RNG in production: RFC 6455 asks for keys an
/// attacker cannot predict); `PENDING` the core's capacity of requests awaiting an answer.
#[derive(Debug)]
pub struct ClientRunner<'a, T, W, R, const PENDING: usize = DEFAULT_MAX_PENDING> {
    transport: &'a mut T,
    buffers: Buffers<'a>,
    config: Config,
    write_timeout: embassy_time::Duration,
    random: R,
    codec: PhantomData<W>,
}

impl<'a, T: Transport, W: CodecSet, R: RandomSource, const PENDING: usize>
    ClientRunner<'a, T, W, R, PENDING>
{
    /// A runner for the connection on `transport` (a
    /// [`TcpSocket`](embassy_net::tcp::TcpSocket) after `connect`), with the caller's buffers.
    pub fn new(transport: &'a mut T, buffers: Buffers<'a>, config: Config, random: R) -> Self {
        Self {
            transport,
            buffers,
            config,
            write_timeout: crate::WRITE_TIMEOUT,
            random,
            codec: PhantomData,
        }
    }

    /// How long one write may wait for the peer to take bytes (default
    /// [`WRITE_TIMEOUT`](crate::WRITE_TIMEOUT)); a write still blocked after it ends the
    /// connection.
    #[must_use]
    pub const fn with_write_timeout(mut self, timeout: embassy_time::Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sends the upgrade for `target` (path and query, such as `/ws?game_id=1`) on `host`,
    /// then runs the connection to its end and shuts the transport down.
    ///
    /// # Errors
    /// Before the server accepts: the server refused ([`Error::Rejected`]) or answered
    /// something else, the handshake timed out, or the transport failed. Once accepted this
    /// returns `Ok` with the core's [`Exit`], which the handler also received.
    pub async fn run<H: ClientHandler<W>>(
        self,
        host: &str,
        target: &str,
        handler: &mut H,
    ) -> Result<Exit, Error> {
        let Buffers {
            header,
            message,
            output,
        } = self.buffers;
        link::check_output_len(output)?;
        let close_timeout = self.config.close_timeout;
        let random = RefCell::new(self.random);
        let core = ClientConnection::<W, PENDING>::new(time::now(), self.config);
        let mut link = Link::new(self.transport, output, core, self.write_timeout, &random);
        let input = match upgrade(&mut link, header, host, target).await {
            Ok(input) => input,
            Err(error) => {
                info!("upgrade failed: {}", error);
                link.shutdown(close_timeout).await;
                return Err(error);
            }
        };
        let mut ws = Connection::client(message, |dest: &mut [u8]| {
            random.borrow_mut().fill_bytes(dest);
        });
        ws.set_close_timeout(time::ws_duration(close_timeout));
        let mut role = Client(handler, PhantomData);
        link::run_open(&mut link, &mut ws, header, input, &mut role, close_timeout).await
    }
}

/// Sends the upgrade request and reads the answer. On success the core is accepted and the
/// range of `header` that already holds frames is returned.
async fn upgrade<T: Transport, W: CodecSet, R: RandomSource, const P: usize>(
    link: &mut ClientLink<'_, '_, T, W, R, P>,
    header: &mut [u8],
    host: &str,
    target: &str,
) -> Result<Range<usize>, Error> {
    let handshake = ClientHandshake::new(&mut *link.mask.borrow_mut(), W::SUBPROTOCOLS);
    let len = handshake.write_request(host, target, &[], link.output)?;
    link.core.connect(time::now())?;
    link.write(0..len).await?;
    let mut headers = HeaderBuffer::new(header);
    loop {
        let now = time::now();
        match headers.parse_response(&handshake) {
            Ok(Status::Complete(response)) => {
                let codec = match response.protocol() {
                    None => W::without_subprotocol(),
                    // The layer checked it is one we offered.
                    Some(name) => W::from_subprotocol(name)
                        .ok_or(Error::BadResponse(ResponseError::UnexpectedProtocol))?,
                };
                link.core.handle_accepted(now, codec)?;
                return Ok(response.header_len()..headers.filled().len());
            }
            Ok(Status::Incomplete) => {}
            Err(ResponseError::Rejected { status }) => {
                link.core.handle_rejected(now, status)?;
                return Err(Error::Rejected { status });
            }
            Err(error) => return Err(Error::BadResponse(error)),
        }
        let n = link.read_handshake(headers.unfilled()).await?;
        headers.advance(n);
    }
}

/// The client handler as the loop's role.
struct Client<'h, H, W>(&'h mut H, PhantomData<W>);

impl<T: Transport, W: CodecSet, R: RandomSource, H: ClientHandler<W>, const P: usize>
    Role<ClientLink<'_, '_, T, W, R, P>> for Client<'_, H, W>
{
    async fn open(&mut self, link: &mut ClientLink<'_, '_, T, W, R, P>) {
        if let Err(error) = self.0.open(link).await {
            warn!("open: {}", error);
        }
    }

    /// The core decodes the message; what it made of it goes to the handler.
    async fn message(
        &mut self,
        link: &mut ClientLink<'_, '_, T, W, R, P>,
        kind: MessageKind,
        bytes: &[u8],
    ) {
        match link.core.handle_message(time::now(), kind, bytes) {
            Ok(received) => {
                if let Err(error) = self.0.received(link, received).await {
                    warn!("received: {}", error);
                }
            }
            Err(error) => warn!("message refused by the core: {}", error),
        }
    }

    async fn event(&mut self, link: &mut ClientLink<'_, '_, T, W, R, P>, event: Event) {
        if let Err(error) = self.0.event(link, event).await {
            warn!("event: {}", error);
        }
    }

    async fn wait(&mut self) {
        self.0.wait().await;
    }

    async fn wake(&mut self, link: &mut ClientLink<'_, '_, T, W, R, P>) {
        if let Err(error) = self.0.wake(link).await {
            warn!("wake: {}", error);
        }
    }
}
