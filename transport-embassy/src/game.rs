//! The reference game over embassy-net: the [`game`] crate's plain handler functions
//! (`game::play(game_id, Move) -> Result<Moved, RequestError>`, `game::fail`) behind a
//! [`ServerHandler`], and a [`ClientHandler`] that plays it. The firmware example, the
//! footprint binaries and the host example all run these; the std server calls the same
//! functions from its own handler. This server routes the firmware's subset of the game,
//! `move` and `fail`.
//!
//! Nothing here formats text (no `core::fmt`) and nothing allocates.

use game::{
    ENTERED, Empty, FailEndpoint, INITIAL_STATE, InitEvent, Move, MoveEndpoint, Moved,
    NOT_YOUR_TURN, StateEvent, Success,
};
use protocol_core::connection::{
    ClientReceived, Exit, Failure, Request, RequestId, RouteId, Routes,
};
use protocol_core::endpoint::{Endpoint, EventType};
use protocol_core::{CodecSet, Event, Str, Typed};
use ws_sansio::UpgradeRequest;

use crate::{ClientHandler, ClientSession, Error, Reject, ServerHandler, ServerSession};

/// The endpoints served, in route order.
pub const ENDPOINTS: [&str; 2] = [MoveEndpoint::NAME, FailEndpoint::NAME];

/// The body of the 400 answer to an upgrade without an integer `game_id`.
pub const BAD_GAME_ID: &str = "game_id must be an integer";

/// The server side of the game: `/ws?game_id=<integer>`, then `move` and `fail`.
#[derive(Debug, Default)]
pub struct GameServer {
    game_id: i64,
    exit: Option<Exit>,
}

impl GameServer {
    /// A server for one connection.
    pub const fn new() -> Self {
        Self {
            game_id: 0,
            exit: None,
        }
    }

    /// The game the connection entered.
    pub fn game_id(&self) -> i64 {
        self.game_id
    }

    /// How the connection ended (the exit hook's argument), once it has.
    pub fn exit(&self) -> Option<Exit> {
        self.exit
    }
}

impl<W: CodecSet> ServerHandler<W> for GameServer {
    fn route(&self, endpoint: &Str<'_>) -> Option<RouteId> {
        ENDPOINTS.route(endpoint)
    }

    /// The enter hook's check: the query names a game.
    fn upgrade(&mut self, request: &UpgradeRequest<'_>) -> Result<(), Reject> {
        let game_id = request.query().and_then(game::game_id_from_query);
        self.game_id = game_id.ok_or(Reject {
            status: 400,
            body: BAD_GAME_ID,
        })?;
        Ok(())
    }

    /// The enter hook: `game:state`, then `init` with its result.
    async fn open(&mut self, session: &mut impl ServerSession<W>) -> Result<(), Error> {
        session
            .send_event(StateEvent::KIND, &Typed(&INITIAL_STATE))
            .await?;
        session.send_event(InitEvent::KIND, &Typed(&ENTERED)).await
    }

    async fn request(
        &mut self,
        session: &mut impl ServerSession<W>,
        request: Request<'_, W>,
    ) -> Result<(), Error> {
        let token = request.token;
        match request.route {
            RouteId(0) => match request.decode::<Move>() {
                Ok(m) => session.answer(token, game::play(self.game_id, m)).await,
                Err(_) => session.fail(token, Failure::InvalidData).await,
            },
            RouteId(1) => match request.decode::<Empty>() {
                Ok(args) => session.answer(token, game::fail(args)).await,
                Err(_) => session.fail(token, Failure::InvalidData).await,
            },
            _ => session.fail(token, Failure::Internal).await,
        }
    }

    /// The exit hook.
    async fn event(
        &mut self,
        _session: &mut impl ServerSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        if let Event::Exit(exit) = event {
            self.exit = Some(exit);
        }
        Ok(())
    }
}

/// What a [`GamePlayer`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tally {
    /// `game:state` events with the expected state.
    pub states: u32,
    /// `init` events with `{"success":true}`.
    pub inits: u32,
    /// `move` responses that echoed the move and the game.
    pub moves: u32,
    /// `fail` answers with `not-your-turn`.
    pub refusals: u32,
    /// Anything unexpected (a wrong value, a failed request, an ignored frame).
    pub surprises: u32,
    /// How the connection ended.
    pub exit: Option<Exit>,
}

/// A client that plays the game: after `init` it plays `moves` moves one after another, then
/// calls `fail`, then closes with 1000. It checks every answer against the reference
/// handlers' results.
#[derive(Debug)]
pub struct GamePlayer {
    game_id: i64,
    moves: u32,
    sent: u32,
    tally: Tally,
    last: Option<RequestId>,
}

impl GamePlayer {
    /// A player of game `game_id` (the one in the target's query) that plays `moves` moves.
    pub const fn new(game_id: i64, moves: u32) -> Self {
        Self {
            game_id,
            moves,
            sent: 0,
            tally: Tally {
                states: 0,
                inits: 0,
                moves: 0,
                refusals: 0,
                surprises: 0,
                exit: None,
            },
            last: None,
        }
    }

    /// What it saw so far.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Whether the whole game went as the reference handlers say, and ended cleanly.
    pub fn succeeded(&self) -> bool {
        let t = &self.tally;
        t.states == 1
            && t.inits == 1
            && t.moves == self.moves
            && t.refusals == 1
            && t.surprises == 0
            && t.exit
                .is_some_and(|exit| exit.clean && exit.code == Some(1000))
    }

    fn the_move(&self, n: u32) -> Move {
        // Small coordinates that change with every move.
        let n = i64::from(n);
        Move { x: n % 8, y: n / 8 }
    }

    /// The next request: a move, then `fail`, then the close.
    async fn next<W: CodecSet>(
        &mut self,
        session: &mut impl ClientSession<W>,
    ) -> Result<(), Error> {
        if self.sent < self.moves {
            let m = self.the_move(self.sent);
            self.sent += 1;
            // Typed: only a `Move` can be sent to `move`.
            let call = session.call::<MoveEndpoint>(&m, None).await?;
            self.last = Some(call.id());
        } else if self.sent == self.moves {
            self.sent += 1;
            let call = session.call::<FailEndpoint>(&Empty {}, None).await?;
            self.last = Some(call.id());
        } else {
            session.close(1000, "done")?;
        }
        Ok(())
    }
}

impl<W: CodecSet> ClientHandler<W> for GamePlayer {
    async fn received(
        &mut self,
        session: &mut impl ClientSession<W>,
        received: ClientReceived<'_>,
    ) -> Result<(), Error> {
        match received {
            ClientReceived::Event { kind, data } if kind == StateEvent::KIND => {
                match session.decode::<game::GameState>(data) {
                    Ok(state) if state == INITIAL_STATE => self.tally.states += 1,
                    _ => self.tally.surprises += 1,
                }
            }
            ClientReceived::Event { kind, data } if kind == InitEvent::KIND => {
                match session.decode::<Success>(data) {
                    Ok(entered) if entered == ENTERED => self.tally.inits += 1,
                    _ => self.tally.surprises += 1,
                }
                return self.next(session).await;
            }
            ClientReceived::Response { request, data } if Some(request) == self.last => {
                let played = self.the_move(self.sent.saturating_sub(1));
                let expected = game::play(self.game_id, played);
                match session.decode::<Moved>(data) {
                    Ok(moved) if Ok(moved) == expected => self.tally.moves += 1,
                    _ => self.tally.surprises += 1,
                }
                return self.next(session).await;
            }
            ClientReceived::Failed { request, error } if Some(request) == self.last => {
                if error.code == NOT_YOUR_TURN.code && error.reason == NOT_YOUR_TURN.reason {
                    self.tally.refusals += 1;
                } else {
                    self.tally.surprises += 1;
                }
                return self.next(session).await;
            }
            _ => self.tally.surprises += 1,
        }
        Ok(())
    }

    async fn event(
        &mut self,
        _session: &mut impl ClientSession<W>,
        event: Event,
    ) -> Result<(), Error> {
        match event {
            Event::Exit(exit) => self.tally.exit = Some(exit),
            _ => self.tally.surprises += 1,
        }
        Ok(())
    }
}
