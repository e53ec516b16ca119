//! The server role: answer the upgrade on an accepted socket, then run the connection.

use core::marker::PhantomData;
use core::ops::Range;

use protocol_core::connection::{
    Exit, Failure, Request, RequestToken, RouteId, Routes, ServerConnection, ServerReceived,
};
use protocol_core::endpoint::RequestError;
use protocol_core::limits::{DEFAULT_MAX_IN_FLIGHT, DEFAULT_REPLY_QUEUE};
use protocol_core::{
    CallError, CodecSet, Config, Event, Instant, MessageKind, Payload, Str, Typed, negotiate,
};
use serde::Serialize;
use ws_sansio::{Connection, HeaderBuffer, Status, UpgradeRequest};

use crate::link::{self, Link, NoMask, Role};
use crate::{Buffers, Error, Transport, time};

/// An HTTP refusal of the upgrade: status and a short plain-text body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reject {
    /// The HTTP status (4xx: the client should not retry as is).
    pub status: u16,
    /// The body.
    pub body: &'static str,
}

/// The application side of a server connection. The runner calls it; it answers through the
/// [`ServerSession`], which completes requests with the core's `respond` / `fail`.
///
/// Every callback runs inside the connection's loop: while one awaits, the connection reads
/// nothing and fires no timer. Keep them short; a long job belongs to another task, which
/// can hand its result back through [`wait`](Self::wait).
// Single-threaded executors: no `Send` bound on the returned futures.
#[allow(async_fn_in_trait)]
pub trait ServerHandler<W: CodecSet> {
    /// The route of `endpoint` (a slice of names routes by position:
    /// `["move", "fail"].route(endpoint)`); `None` is answered `invalid-endpoint`.
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId>;

    /// The enter hook's first half: look at the upgrade request (path, query, headers) and
    /// accept it, or refuse it with an HTTP status. The default accepts.
    ///
    /// # Errors
    /// The [`Reject`] to answer with.
    fn upgrade(&mut self, request: &UpgradeRequest<'_>) -> Result<(), Reject> {
        let _ = request;
        Ok(())
    }

    /// The connection is accepted: push the first events (the `init` event, …).
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn open(&mut self, session: &mut impl ServerSession<W>) -> Result<(), Error> {
        let _ = session;
        Ok(())
    }

    /// A request to answer, now (through `session`) or later (keep its token).
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn request(
        &mut self,
        session: &mut impl ServerSession<W>,
        request: Request<'_, W>,
    ) -> Result<(), Error>;

    /// An event of the core: a protocol error, and [`Event::Exit`] last, exactly once per
    /// accepted connection (the exit hook).
    ///
    /// # Errors
    /// Anything; it is logged.
    async fn event(
        &mut self,
        session: &mut impl ServerSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        let _ = (session, event);
        Ok(())
    }

    /// Completes when the handler has something to send on its own (a signal from another
    /// task, a timer); [`wake`](Self::wake) then runs. It is raced against the socket and the
    /// timers and dropped when they win, so it must be cancel-safe. The default never
    /// completes.
    async fn wait(&mut self) {
        core::future::pending::<()>().await;
    }

    /// Runs after [`wait`](Self::wait) completed.
    ///
    /// # Errors
    /// Anything; it is logged and the connection goes on.
    async fn wake(&mut self, session: &mut impl ServerSession<W>) -> Result<(), Error> {
        let _ = session;
        Ok(())
    }
}

/// What a [`ServerHandler`] can do to its connection. Every sending call encodes its frame
/// with the core straight into the output buffer and writes it before returning.
// Single-threaded executors: no `Send` bound on the returned futures.
#[allow(async_fn_in_trait)]
pub trait ServerSession<W: CodecSet> {
    /// The current time, as the core sees it.
    fn now(&self) -> Instant;

    /// The codec the connection speaks.
    fn codec(&self) -> Option<W>;

    /// Answers a request with `data` (the core's `respond`).
    ///
    /// # Errors
    /// [`Error::Call`] when the core refuses (unknown token, closing, `data` too large for the
    /// output buffer: the request then stays open), or a transport error.
    async fn respond<P: Payload>(&mut self, token: RequestToken, data: &P) -> Result<(), Error>;

    /// Answers a request with a failure (the core's `fail`).
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    async fn fail(&mut self, token: RequestToken, failure: Failure<'_>) -> Result<(), Error>;

    /// Pushes an event.
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    async fn send_event<P: Payload>(&mut self, kind: &str, data: &P) -> Result<(), Error>;

    /// Closes the connection with `code` and `reason`; the close frame is written when the
    /// callback returns, and the closing handshake runs.
    ///
    /// # Errors
    /// [`Error::Call`] when the core refuses (already closing, invalid code, long reason).
    fn close(&mut self, code: u16, reason: &str) -> Result<(), Error>;

    /// Answers a request with a typed handler's result: `Ok` through `respond`, a
    /// [`RequestError`] through `fail` (a `response.error`). A result that does not fit the
    /// output buffer is answered `internal-error` instead, so the request never stays open.
    ///
    /// # Errors
    /// As [`respond`](Self::respond).
    async fn answer<T: Serialize>(
        &mut self,
        token: RequestToken,
        result: Result<T, RequestError>,
    ) -> Result<(), Error> {
        match result {
            Ok(value) => match self.respond(token, &Typed(&value)).await {
                Err(Error::Call(CallError::Encode(error))) => {
                    self.fail(token, Failure::Internal).await?;
                    Err(Error::Call(CallError::Encode(error)))
                }
                other => other,
            },
            Err(error) => self.fail(token, Failure::Error(error.body())).await,
        }
    }
}

type ServerLink<'a, T, W, const IN_FLIGHT: usize, const QUEUE: usize> =
    Link<'a, T, ServerConnection<W, IN_FLIGHT, QUEUE>, NoMask>;

impl<T: Transport, W: CodecSet, const IN_FLIGHT: usize, const QUEUE: usize> ServerSession<W>
    for ServerLink<'_, T, W, IN_FLIGHT, QUEUE>
{
    fn now(&self) -> Instant {
        time::now()
    }

    fn codec(&self) -> Option<W> {
        self.core.codec()
    }

    async fn respond<P: Payload>(&mut self, token: RequestToken, data: &P) -> Result<(), Error> {
        let out = self
            .output
            .get_mut(crate::OUTPUT_HEADROOM..)
            .unwrap_or_default();
        let transmit = self.core.respond(time::now(), token, data, out)?;
        self.send(transmit).await
    }

    async fn fail(&mut self, token: RequestToken, failure: Failure<'_>) -> Result<(), Error> {
        let out = self
            .output
            .get_mut(crate::OUTPUT_HEADROOM..)
            .unwrap_or_default();
        let transmit = self.core.fail(time::now(), token, failure, out)?;
        self.send(transmit).await
    }

    async fn send_event<P: Payload>(&mut self, kind: &str, data: &P) -> Result<(), Error> {
        let out = self
            .output
            .get_mut(crate::OUTPUT_HEADROOM..)
            .unwrap_or_default();
        let transmit = self.core.send_event(time::now(), kind, data, out)?;
        self.send(transmit).await
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
}

/// Routes through the handler.
struct HandlerRoutes<'h, H, W>(&'h H, PhantomData<W>);

impl<H: ServerHandler<W>, W: CodecSet> Routes for HandlerRoutes<'_, H, W> {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        self.0.route(endpoint)
    }
}

/// Runs one server connection over an accepted transport: the HTTP upgrade, then the
/// WebSocket connection, until it is over.
///
/// `W` is the set of codecs offered ([`AnyCodec`](protocol_core::AnyCodec), or one codec
/// such as [`PostcardCodec`](protocol_core::PostcardCodec) for small firmware);
/// `IN_FLIGHT` and `QUEUE` are the core's capacities
/// ([`ServerConnection`]'s const generics).
#[derive(Debug)]
pub struct ServerRunner<
    'a,
    T,
    W,
    const IN_FLIGHT: usize = DEFAULT_MAX_IN_FLIGHT,
    const QUEUE: usize = DEFAULT_REPLY_QUEUE,
> {
    transport: &'a mut T,
    buffers: Buffers<'a>,
    config: Config,
    write_timeout: embassy_time::Duration,
    codec: PhantomData<W>,
}

impl<'a, T: Transport, W: CodecSet, const IN_FLIGHT: usize, const QUEUE: usize>
    ServerRunner<'a, T, W, IN_FLIGHT, QUEUE>
{
    /// A runner for the connection on `transport` (a [`TcpSocket`](embassy_net::tcp::TcpSocket)
    /// after `accept`), with the caller's buffers.
    pub fn new(transport: &'a mut T, buffers: Buffers<'a>, config: Config) -> Self {
        Self {
            transport,
            buffers,
            config,
            write_timeout: crate::WRITE_TIMEOUT,
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

    /// Runs the connection to its end and shuts the transport down (the caller may then
    /// reuse or drop the socket).
    ///
    /// # Errors
    /// Before the connection is accepted: the upgrade was invalid, refused, timed out or the
    /// transport ended. Once it is accepted this returns `Ok` with the core's [`Exit`],
    /// which the handler also received.
    pub async fn run<H: ServerHandler<W>>(self, handler: &mut H) -> Result<Exit, Error> {
        let Buffers {
            header,
            message,
            output,
        } = self.buffers;
        link::check_output_len(output)?;
        let close_timeout = self.config.close_timeout;
        let core = ServerConnection::<W, IN_FLIGHT, QUEUE>::new(time::now(), self.config);
        let mut link = Link::new(self.transport, output, core, self.write_timeout, NoMask);
        let input = match upgrade(&mut link, header, handler).await {
            Ok(input) => input,
            Err(error) => {
                info!("upgrade failed: {}", error);
                link.shutdown(close_timeout).await;
                return Err(error);
            }
        };
        let mut ws = Connection::server(message);
        ws.set_close_timeout(time::ws_duration(close_timeout));
        let mut role = Server(handler, PhantomData);
        link::run_open(&mut link, &mut ws, header, input, &mut role, close_timeout).await
    }
}

/// Reads and answers the upgrade request. On success the connection is accepted and the
/// range of `header` that already holds frames is returned.
async fn upgrade<T: Transport, W: CodecSet, H: ServerHandler<W>, const I: usize, const Q: usize>(
    link: &mut ServerLink<'_, T, W, I, Q>,
    header: &mut [u8],
    handler: &mut H,
) -> Result<Range<usize>, Error> {
    let mut headers = HeaderBuffer::new(header);
    loop {
        let now = time::now();
        match headers.parse_request() {
            Ok(Status::Complete(request)) => {
                link.core.handle_upgrade(now)?;
                let decision = negotiate_request::<W>(&request)
                    .and_then(|chosen| handler.upgrade(&request).map(|()| chosen));
                let chosen = match decision {
                    Ok(chosen) => chosen,
                    Err(reject) => {
                        link.core.reject(now)?;
                        let len = ws_sansio::write_response(
                            link.output,
                            reject.status,
                            &[],
                            reject.body,
                        )?;
                        let _ = link.write(0..len).await;
                        return Err(Error::Refused {
                            status: reject.status,
                        });
                    }
                };
                let len = request.write_accept(chosen.subprotocol, &[], link.output)?;
                link.core.accept(now, chosen.codec)?;
                let input = request.header_len()..headers.filled().len();
                debug!("accepted {}", request.target());
                // A failed write ends the connection in the loop, with its exit event.
                let _ = link.write(0..len).await;
                return Ok(input);
            }
            Ok(Status::Incomplete) => {}
            Err(error) => {
                let len = error.write_response(link.output)?;
                let _ = link.write(0..len).await;
                return Err(Error::BadRequest(error));
            }
        }
        let n = link.read_handshake(headers.unfilled()).await?;
        headers.advance(n);
    }
}

/// The codec from the offered subprotocols (the client's preference first), as the core's
/// [`negotiate`] decides; none supported is a 400.
fn negotiate_request<W: CodecSet>(
    request: &UpgradeRequest<'_>,
) -> Result<protocol_core::codec::Negotiated<W>, Reject> {
    let mut offered = request.offered_protocols().peekable();
    let chosen = if offered.peek().is_none() {
        negotiate::<W>(None).ok()
    } else {
        offered.find_map(|name| negotiate::<W>(Some(name)).ok())
    };
    chosen.ok_or(Reject {
        status: 400,
        body: "none of the offered subprotocols is supported",
    })
}

/// The server handler as the loop's role.
struct Server<'h, H, W>(&'h mut H, PhantomData<W>);

impl<T: Transport, W: CodecSet, H: ServerHandler<W>, const I: usize, const Q: usize>
    Role<ServerLink<'_, T, W, I, Q>> for Server<'_, H, W>
{
    async fn open(&mut self, link: &mut ServerLink<'_, T, W, I, Q>) {
        if let Err(error) = self.0.open(link).await {
            warn!("open: {}", error);
        }
    }

    /// The core decodes the message; a request goes to the handler.
    async fn message(
        &mut self,
        link: &mut ServerLink<'_, T, W, I, Q>,
        kind: MessageKind,
        bytes: &[u8],
    ) {
        let routes = HandlerRoutes(&*self.0, PhantomData);
        match link.core.handle_message(time::now(), kind, bytes, &routes) {
            Ok(ServerReceived::Request(request)) => {
                trace!("request {}", request.endpoint);
                if let Err(error) = self.0.request(link, request).await {
                    warn!("request: {}", error);
                }
            }
            Ok(ServerReceived::Refused(refusal)) => debug!("refused: {}", refusal),
            Ok(ServerReceived::Closing(error)) => info!("protocol error: {}", error),
            Ok(_) => {}
            Err(error) => warn!("message refused by the core: {}", error),
        }
    }

    async fn event(&mut self, link: &mut ServerLink<'_, T, W, I, Q>, event: Event) {
        if let Err(error) = self.0.event(link, event).await {
            warn!("event: {}", error);
        }
    }

    async fn wait(&mut self) {
        self.0.wait().await;
    }

    async fn wake(&mut self, link: &mut ServerLink<'_, T, W, I, Q>) {
        if let Err(error) = self.0.wake(link).await {
            warn!("wake: {}", error);
        }
    }
}
