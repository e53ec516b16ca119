//! The game's AsyncAPI document against its golden snapshot, and every frame of the game's
//! recorded exchanges against the document's schemas.

use protocol_core::connection::ServerReceived;
use protocol_core::endpoint::{EndpointFn, Handler, Router};
use protocol_core::{Config, Instant, JsonCodec, MessageKind, ServerConnection, Transmit};
use serde_json::{Value, json};

const SNAPSHOT: &str = "tests/snapshots/game.asyncapi.json";

/// A change to the document must be deliberate: regenerate the snapshot with
/// `UPDATE_SNAPSHOTS=1 cargo test -p asyncapi` and commit it with the code change.
#[test]
fn game_document_matches_its_snapshot() {
    let generated = game::api().to_json() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).expect("the committed snapshot");
    assert_eq!(
        generated, committed,
        "the document changed; see the doc comment"
    );
}

/// A validator for one message's payload, resolving `$ref`s into the document.
fn validator(doc: &Value, message: &str) -> jsonschema::Validator {
    let pointer = format!("#/components/messages/{message}/payload");
    let root = json!({ "$ref": pointer, "components": doc["components"] });
    jsonschema::draft7::new(&root).unwrap_or_else(|e| panic!("{message}: {e}"))
}

fn recorded_frames() -> Vec<(char, String)> {
    let text = include_str!("../../protocol-core/testdata/seed000-exchanges.txt");
    text.lines()
        .filter_map(|l| {
            let frame = l
                .strip_prefix("  < T ")
                .map(|f| ('<', f))
                .or_else(|| l.strip_prefix("  > T ").map(|f| ('>', f)))?;
            Some((
                frame.0,
                frame
                    .1
                    .replace("<7f>", "\u{7f}")
                    .replace("<U+2028>", "\u{2028}"),
            ))
        })
        .collect()
}

/// The message a frame claims to be, by its `type`, `endpoint` and `kind`.
fn message_of(
    frame: &Value,
    endpoints_by_id: &std::collections::HashMap<String, String>,
) -> Option<String> {
    let key = |name: &str| name.replace(':', "_");
    match frame["type"].as_str()? {
        "request" => Some(format!("{}.request", key(frame["endpoint"].as_str()?))),
        "response" => Some(format!(
            "{}.response",
            key(endpoints_by_id.get(frame["id"].as_str()?)?)
        )),
        "response.error" => Some("response.error".into()),
        "event" => Some(format!("event.{}", key(frame["kind"].as_str()?))),
        _ => None,
    }
}

#[test]
fn every_recorded_game_frame_is_validated_against_its_schema() {
    let doc = game::api().document();
    let mut endpoints_by_id = std::collections::HashMap::new();
    let (mut valid, mut invalid) = (Vec::new(), Vec::new());
    for (direction, text) in recorded_frames() {
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        }; // not JSON: no schema applies
        if frame["type"] == "request"
            && let (Some(id), Some(endpoint)) = (frame["id"].as_str(), frame["endpoint"].as_str())
        {
            endpoints_by_id.insert(id.to_string(), endpoint.to_string());
        }
        let Some(message) = message_of(&frame, &endpoints_by_id) else {
            continue;
        };
        if doc["components"]["messages"].get(&message).is_none() {
            continue; // an endpoint the game does not have (`nope`)
        }
        if validator(&doc, &message).is_valid(&frame) {
            valid.push(format!("{direction} {message} {text}"));
        } else {
            invalid.push(format!("{direction} {message} {text}"));
        }
    }
    // Every frame the server sent validates; the invalid frames are the client's, and the
    // server refused each of them (pydantic-validation-error, id-number, data-missing).
    assert!(
        valid.iter().any(|f| f.starts_with("< event.game_state")),
        "{valid:#?}"
    );
    assert!(
        valid.iter().any(|f| f.starts_with("< move.response")),
        "{valid:#?}"
    );
    assert!(
        valid.iter().any(|f| f.starts_with("< response.error")),
        "{valid:#?}"
    );
    assert!(
        valid.iter().any(|f| f.starts_with("> move.request")),
        "{valid:#?}"
    );
    assert_eq!(
        invalid,
        [
            r#"> move.request {"id":"r3","type":"request","endpoint":"move","data":{"x":"abc"}}"#,
            r#"> echo.request {"id":1,"type":"request","endpoint":"echo","data":1}"#,
            r#"> echo.request {"id":"x","type":"request","endpoint":"echo"}"#,
        ]
    );
}

/// A request the schema refuses is refused by the server too, and one it accepts is served:
/// the schema and the code agree.
#[test]
fn the_server_refuses_what_the_schema_refuses() {
    let doc = game::api().document();
    let schema = validator(&doc, "move.request");
    let play =
        EndpointFn::<game::MoveEndpoint, _>::new(|game_id: &mut i64, m| game::play(*game_id, m));
    let handlers: [&dyn Handler<i64, JsonCodec>; 1] = [&play];
    let router = Router::new(&handlers);
    let now = Instant::ZERO;
    let cases = [
        (
            r#"{"id":"1","type":"request","endpoint":"move","data":{"x":1,"y":2}}"#,
            true,
        ),
        (
            r#"{"id":"2","type":"request","endpoint":"move","data":{"x":"abc"}}"#,
            false,
        ),
        (
            r#"{"id":"3","type":"request","endpoint":"move","data":{"x":1}}"#,
            false,
        ),
        (
            r#"{"id":"4","type":"request","endpoint":"move","data":{"x":1.5,"y":2}}"#,
            false,
        ),
        (
            r#"{"id":"5","type":"request","endpoint":"move","data":[1,2]}"#,
            false,
        ),
        (
            r#"{"id":"6","type":"request","endpoint":"move","data":{"x":-4,"y":9007199254740993}}"#,
            true,
        ),
    ];
    for (frame, schema_accepts) in cases {
        let value: Value = serde_json::from_str(frame).unwrap();
        assert_eq!(schema.is_valid(&value), schema_accepts, "schema on {frame}");
        let mut conn: ServerConnection<JsonCodec> = ServerConnection::new(now, Config::new());
        conn.handle_upgrade(now).unwrap();
        conn.accept(now, JsonCodec).unwrap();
        let Ok(ServerReceived::Request(request)) =
            conn.handle_message(now, MessageKind::Text, frame.as_bytes(), &router)
        else {
            panic!("{frame}")
        };
        let (mut scratch, mut out) = ([0u8; 256], [0u8; 256]);
        let Transmit::Message { len, .. } = router
            .dispatch(&mut conn, now, &mut 1, &request, &mut scratch, &mut out)
            .unwrap()
        else {
            panic!()
        };
        let answer: Value = serde_json::from_slice(&out[..len]).unwrap();
        let served = answer["type"] == "response";
        assert_eq!(served, schema_accepts, "server on {frame}: {answer}");
        let message = if served {
            "move.response"
        } else {
            "response.error"
        };
        assert!(validator(&doc, message).is_valid(&answer), "{answer}");
        if !served {
            assert_eq!(answer["data"]["code"], "validation-error");
        }
    }
}
