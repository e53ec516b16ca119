//! The seed-000 game on `transport-std`: the seed README's example (enter, move, exit) and
//! the endpoints of the seed's reference app (echo, fail, boom, sleep).
//!
//! This file is the example's application; the integration tests include it as well, so
//! the replayed exchanges run against exactly this code.

use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use tracing::info;
use transport_std::extract::{Conn, Ctx, Exited, Query};
use transport_std::{App, HandlerError, Profile, RawData, ServerConfig, http_response};

/// The per-connection context: what `enter` learned.
#[derive(Default)]
pub struct Game {
    /// Set by `enter`; missing when the enter hook failed (seed000 profile).
    pub game_id: OnceLock<i64>,
}

/// The query string `enter` needs.
#[derive(Deserialize)]
pub struct GameQuery {
    /// `?game_id=7`, an integer.
    pub game_id: i64,
}

// The contract (request, response and event types, `move`'s logic) is the shared `game`
// crate: the firmware example answers with the same functions.
use game::{GameState, MoveEndpoint, Moved, Success};

/// New connection: read `game_id` from the query, keep it, tell the client the state.
async fn enter(
    ctx: Ctx<Game>,
    conn: Conn,
    Query(query): Query<GameQuery>,
) -> Result<Success, HandlerError> {
    info!(game_id = query.game_id, "entered game");
    let _ = ctx.game_id.set(query.game_id);
    let state: GameState = game::INITIAL_STATE;
    conn.send_event("game:state", state).await?;
    Ok(game::ENTERED)
}

async fn move_(ctx: Ctx<Game>, play: game::Move) -> Result<Moved, HandlerError> {
    // As in the seed, a connection whose enter hook failed has no game id.
    let game_id = *ctx
        .game_id
        .get()
        .ok_or_else(|| HandlerError::internal("no game_id: the enter hook failed"))?;
    game::play(game_id, play).map_err(|e| HandlerError::request(e.reason, e.code))
}

/// Raw request data, returned verbatim.
async fn echo(data: RawData) -> Result<RawData, HandlerError> {
    Ok(data)
}

/// A domain error: `response.error` `{"reason":"Not your turn","code":"not-your-turn"}`.
async fn fail(_: RawData) -> Result<RawData, HandlerError> {
    Err(HandlerError::request("Not your turn", "not-your-turn"))
}

/// An unexpected failure: `internal-error`.
async fn boom(_: RawData) -> Result<RawData, HandlerError> {
    Err(HandlerError::internal("boom"))
}

/// Waits `data` seconds (0 to 60), then returns `data` verbatim.
async fn sleep(data: RawData) -> Result<RawData, HandlerError> {
    let seconds: f64 = data
        .decode()
        .map_err(|_| HandlerError::internal("sleep takes a number of seconds"))?;
    if !(0.0..=60.0).contains(&seconds) {
        return Err(HandlerError::request(
            "sleep takes 0 to 60 seconds",
            "invalid-duration",
        ));
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    Ok(data)
}

/// The connection ended (every path, exactly once).
async fn exit(ctx: Ctx<Game>, Exited(how): Exited) {
    info!(game_id = ?ctx.game_id.get(), code = ?how.code, clean = how.clean, "left game");
}

/// The page a person opens to play.
pub const PAGE: &str = include_str!("index.html");

/// The game: WebSocket at `/ws`, the page at `/`.
pub fn app() -> App<Game> {
    App::new("/ws")
        .enter(enter)
        .endpoint::<MoveEndpoint, _, _>(move_)
        .raw("echo", echo)
        .raw("fail", fail)
        .raw("boom", boom)
        .raw("sleep", sleep)
        .exit(exit)
        .get("/", |_| async {
            http_response(http::StatusCode::OK, "text/html; charset=utf-8", PAGE)
        })
        .asyncapi(&game::api())
}

/// The server settings of the game in `profile`.
pub fn config(profile: Profile) -> ServerConfig {
    ServerConfig::new().with_profile(profile)
}
