//! The seed-000 game as a typed contract. The std server, the firmware example and the
//! AsyncAPI document all use these descriptions, and the handler logic below is plain
//! functions, so the same code answers on tokio and on embassy.
//!
//! Wire (seed 000's reference app): connect to `/ws?game_id=N`; the server pushes
//! `game:state` then `init`; `move` answers `{"success":true,"game_id":N,"x":…,"y":…}`;
//! `echo` answers its data verbatim; `fail` answers `response.error` `not-your-turn`; `boom`
//! fails with `internal-error`; `sleep` waits `data` seconds and answers `data`.
#![no_std]
#![forbid(unsafe_code)]

use protocol_core::endpoint::{Endpoint, EventType, RequestError};
use serde::{Deserialize, Serialize};

/// A move on the board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Move {
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
}

/// The answer to a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Moved {
    /// Always true: a refused move is a `response.error`.
    pub success: bool,
    /// The game of this connection.
    pub game_id: i64,
    /// Column played.
    pub x: i64,
    /// Row played.
    pub y: i64,
}

/// Where a game is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Just started.
    Init,
}

/// `{"status":"init","player_count":1}`, pushed on connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GameState {
    /// `init` when the game starts.
    pub status: Status,
    /// Players in the game.
    pub player_count: u8,
}

/// `{"success":true}`: the enter hook's result, sent as the `init` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Success {
    /// Always true.
    pub success: bool,
}

/// `move`: play a move.
pub struct MoveEndpoint;
impl Endpoint for MoveEndpoint {
    const NAME: &'static str = "move";
    type Request = Move;
    type Response = Moved;
}

/// `fail`: always refused with `not-your-turn` (to show a handler's own error).
pub struct FailEndpoint;
impl Endpoint for FailEndpoint {
    const NAME: &'static str = "fail";
    type Request = Empty;
    type Response = Empty;
}

/// An empty object, `{}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Empty {}

/// `game:state`, pushed once connected.
pub struct StateEvent;
impl EventType for StateEvent {
    const KIND: &'static str = "game:state";
    type Data = GameState;
}

/// `init`: the enter hook's result.
pub struct InitEvent;
impl EventType for InitEvent {
    const KIND: &'static str = protocol_core::connection::INIT_EVENT;
    type Data = Success;
}

/// The refusal of `fail`.
pub const NOT_YOUR_TURN: RequestError = RequestError::new("Not your turn", "not-your-turn");

/// The state pushed on connect.
pub const INITIAL_STATE: GameState = GameState {
    status: Status::Init,
    player_count: 1,
};

/// The enter hook's result.
pub const ENTERED: Success = Success { success: true };

/// `move`, for the game `game_id` of this connection.
///
/// # Errors
/// Never today; a real game would refuse illegal moves here.
pub fn play(game_id: i64, m: Move) -> Result<Moved, RequestError> {
    Ok(Moved {
        success: true,
        game_id,
        x: m.x,
        y: m.y,
    })
}

/// `fail`.
///
/// # Errors
/// Always [`NOT_YOUR_TURN`].
pub fn fail(_: Empty) -> Result<Empty, RequestError> {
    Err(NOT_YOUR_TURN)
}

/// The game's AsyncAPI document: the one the std game server serves at `/asyncapi.json`, and
/// the one `asyncapi`'s `game_asyncapi` example writes.
#[cfg(feature = "asyncapi")]
pub fn api() -> asyncapi::Api {
    asyncapi::Api::new("quartet game", "1.0.0")
        .description(
            "The seed-000 game: connect to `/ws?game_id=N`, play moves, receive the game's events.",
        )
        .server("127.0.0.1:8080", "/ws")
        .on_connect::<StateEvent>("The game's state, pushed when the connection is accepted.")
        .on_connect::<InitEvent>("The enter hook's result, after its events.")
        .endpoint::<MoveEndpoint>("Play a move in this connection's game.")
        .endpoint::<FailEndpoint>("Always refused: shows a handler's own error.")
        .error(NOT_YOUR_TURN.code, NOT_YOUR_TURN.reason)
        .raw_endpoint("echo", "Answers its data verbatim.")
        .raw_endpoint(
            "boom",
            "Always fails with internal-error: shows a handler failure.",
        )
        .raw_endpoint("sleep", "Waits `data` seconds, then answers `data`.")
}

/// The `game_id` query parameter as an integer, as seed 000's enter hook reads it.
pub fn game_id_from_query(query: &str) -> Option<i64> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("game_id="))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn game_id_parsing() {
        assert_eq!(game_id_from_query("game_id=7"), Some(7));
        assert_eq!(game_id_from_query("a=1&game_id=-3"), Some(-3));
        assert_eq!(game_id_from_query("game_id=abc"), None);
        assert_eq!(game_id_from_query(""), None);
    }

    #[test]
    fn fail_is_not_your_turn() {
        assert_eq!(fail(Empty {}), Err(NOT_YOUR_TURN));
        assert_eq!(play(1, Move { x: 1, y: 2 }).unwrap().game_id, 1);
    }
}
