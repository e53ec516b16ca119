//! The seed-000 recordings (`seed000-exchanges.txt`) and the tables beside them, parsed for
//! the replay tests. Shared by protocol-core's own replay (`tests/seed000_replay.rs`) and the
//! std server's (`tests/tests/std_support`), which include this file as a module.

#![allow(dead_code, unreachable_pub)] // Each includer uses its own part, through its own paths.

use std::collections::HashMap;

/// One recorded exchange.
pub struct Case {
    pub name: String,
    /// Client steps and the server frames seen, in order.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    ClientClose(u16),
    Received(String),
    Dropped,
}

fn unplaceholder(line: &str) -> String {
    line.replace("<7f>", "\u{7f}")
        .replace("<U+2028>", "\u{2028}")
}

pub fn parse_exchanges() -> Vec<Case> {
    let text = include_str!("seed000-exchanges.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') || l.starts_with("###"))
    {
        if let Some(name) = line.strip_prefix("### ") {
            cases.push(Case {
                name: name.to_string(),
                steps: Vec::new(),
            });
            continue;
        }
        let steps = &mut cases.last_mut().expect("a case header first").steps;
        if let Some(frame) = line.strip_prefix("  < T ") {
            steps.push(Step::Received(unplaceholder(frame)));
        } else if let Some(frame) = line.strip_prefix("  > T ") {
            steps.push(Step::Text(frame.as_bytes().to_vec()));
        } else if let Some(frame) = line.strip_prefix("  > B b'") {
            steps.push(Step::Binary(
                frame.trim_end_matches('\'').as_bytes().to_vec(),
            ));
        } else if let Some(code) = line.strip_prefix("  > CLOSE ") {
            steps.push(Step::ClientClose(code.parse().unwrap()));
        } else if line.starts_with("  CLOSED") {
            steps.push(Step::Dropped);
        } else if let Some(Step::Text(frame)) = steps.last_mut() {
            // A text frame spanning lines (json-whitespace).
            frame.push(b'\n');
            frame.extend_from_slice(line.as_bytes());
        } else {
            panic!("unparsed line {line:?}");
        }
    }
    cases
}

/// The query string (without `?`) each recorded case connected with.
pub fn query_of(case: &str) -> &'static str {
    match case {
        "no-game-id-enter-fails" => "",
        "game-id-not-int" => "game_id=abc",
        _ => "game_id=1",
    }
}

/// The frame a client step sends. The recorder cut the deep-nesting line at 300 characters;
/// this is the frame it sent.
pub fn client_frame(case: &str, frame: &[u8]) -> Vec<u8> {
    if case == "json-deep-nesting-2000" {
        assert!(frame.starts_with(br#"{"id":"d","type":"request","endpoint":"echo","data":[[["#));
        return format!(
            r#"{{"id":"d","type":"request","endpoint":"echo","data":{}{}}}"#,
            "[".repeat(2000),
            "]".repeat(2000)
        )
        .into_bytes();
    }
    frame.to_vec()
}

/// The server frames of a case, in order.
pub fn server_frames(case: &Case) -> Vec<String> {
    case.steps
        .iter()
        .filter_map(|s| match s {
            Step::Received(frame) => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

/// A `case<TAB>frame|frame…` table.
pub fn table(text: &str) -> HashMap<String, Vec<String>> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (case, reply) = l.split_once('\t').unwrap();
            (
                case.to_string(),
                reply.split('|').map(str::to_string).collect(),
            )
        })
        .collect()
}

/// Where our `seed000` profile answers other bytes than the seed, and why (`docs/spec.md`).
pub fn seed_differences() -> HashMap<String, Vec<String>> {
    table(include_str!("seed-differences.tsv"))
}

/// What the default profile answers where it differs from the seed.
pub fn default_replies() -> HashMap<String, Vec<String>> {
    table(include_str!("default-profile-replies.tsv"))
}
