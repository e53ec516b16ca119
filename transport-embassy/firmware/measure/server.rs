//! One server role, sans IO: the protocol core's server connection and the reference game's
//! handlers, fed a message the optimizer cannot see through (`black_box`), so that every
//! path a real server takes stays in the image: upgrade and accept, the enter hook's events,
//! requests answered or refused, core replies, timers, events, close.
//!
//! No transport and no WebSocket layer: those are measured on their own.

use core::hint::black_box;

use game::{ENTERED, Empty, INITIAL_STATE, InitEvent, Move, StateEvent};
use protocol_core::connection::{Failure, Request, RouteId, ServerReceived};
use protocol_core::endpoint::{EventType, RequestError};
use protocol_core::{CodecSet, Config, Instant, ServerConnection, Transmit, Typed};
use serde::{Deserialize, Serialize};

/// The endpoints: the game's two, and `aim`, which carries floats (only routed when
/// `FLOATS`).
const ROUTES: [&str; 3] = ["move", "fail", "aim"];

/// A request with floats (measured apart: float parsing and formatting are large).
#[derive(Clone, Copy, Serialize, Deserialize)]
struct Aim {
    angle: f64,
    power: f64,
}

/// Runs the server role on `input` forever.
pub fn run<W: CodecSet, const FLOATS: bool>(input: &'static [u8]) -> ! {
    let mut out = [0u8; 512];
    let now = Instant::from_millis(black_box(0));
    let mut connection = ServerConnection::<W>::new(now, Config::new());
    let codec = W::without_subprotocol();
    let _ = connection.handle_upgrade(now);
    let _ = connection.accept(now, codec);
    let routes = if FLOATS { &ROUTES[..] } else { &ROUTES[..2] };
    let game_id = black_box(1);
    // The enter hook.
    send(connection.send_event(now, StateEvent::KIND, &Typed(&INITIAL_STATE), &mut out));
    send(connection.send_event(now, InitEvent::KIND, &Typed(&ENTERED), &mut out));
    loop {
        let now = Instant::from_millis(black_box(1));
        let message: &[u8] = black_box(input);
        let kind = black_box(codec.message_kind());
        if let Ok(ServerReceived::Request(request)) =
            connection.handle_message(now, kind, message, routes)
        {
            let token = request.token;
            let answer = match handle::<W, FLOATS>(&request, game_id) {
                Ok(Answer::Moved(moved)) => {
                    connection.respond(now, token, &Typed(&moved), &mut out)
                }
                Ok(Answer::Aimed(aim)) => connection.respond(now, token, &Typed(&aim), &mut out),
                Ok(Answer::Nothing(nothing)) => {
                    connection.respond(now, token, &Typed(&nothing), &mut out)
                }
                Err(failure) => connection.fail(now, token, failure, &mut out),
            };
            send(answer);
        }
        while let Ok(Some(transmit)) = connection.poll_transmit(now, &mut out) {
            send::<()>(Ok(transmit));
        }
        black_box(&out);
        connection.handle_timeout(now);
        black_box(connection.poll_timeout().is_some());
        while let Some(event) = connection.poll_event() {
            black_box(event);
        }
        if black_box(false) {
            connection.handle_pong(now);
            send(connection.close(now, 1000, "bye", &mut out));
            black_box(connection.handle_close(now, Some(1000)).is_ok());
            connection.handle_transport_closed(now);
        }
    }
}

/// What an adapter does with a transmit: sends `out[..len]` (the bytes are kept by
/// `black_box(&out)` once per turn); an error is dropped, as the core has already undone it.
fn send<E>(result: Result<Transmit, E>) {
    if let Ok(transmit) = result {
        let _ = black_box(transmit);
    }
}

enum Answer {
    Moved(game::Moved),
    Aimed(Aim),
    Nothing(Empty),
}

/// The handler: the game's plain functions behind the routes.
fn handle<W: CodecSet, const FLOATS: bool>(
    request: &Request<'_, W>,
    game_id: i64,
) -> Result<Answer, Failure<'static>> {
    let refused = |error: RequestError| Failure::Error(error.body());
    match request.route {
        RouteId(0) => {
            let m: Move = request.decode().map_err(|_| Failure::InvalidData)?;
            game::play(game_id, m).map(Answer::Moved).map_err(refused)
        }
        RouteId(1) => {
            let args: Empty = request.decode().map_err(|_| Failure::InvalidData)?;
            game::fail(args).map(Answer::Nothing).map_err(refused)
        }
        RouteId(2) if FLOATS => {
            let aim: Aim = request.decode().map_err(|_| Failure::InvalidData)?;
            Ok(Answer::Aimed(Aim {
                angle: aim.angle * 0.5,
                power: aim.power,
            }))
        }
        _ => Err(Failure::Internal),
    }
}
