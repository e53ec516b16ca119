//! Every recorded seed-000 exchange replayed over a real loopback WebSocket against the
//! game example (`transport-std/examples/game`), byte for byte: in the `Seed000` profile
//! against the recording (or, where the seed drops the connection or rewrites `data`,
//! against `seed-differences.tsv`), and in the default profile against
//! `default-profile-replies.tsv`.

mod std_support;

use std_support::{
    TestServer, default_replies, game, parse_exchanges, replay, seed_differences, server_frames,
};
use transport_std::Profile;

const CONNECT_EVENTS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed000_profile_over_a_socket_reproduces_every_recorded_answer() {
    let server = TestServer::start(game::app(), game::config(Profile::Seed000)).await;
    let cases = parse_exchanges();
    assert_eq!(cases.len(), 34, "27 exchanges in A.1 and 7 in A.1b");
    let differences = seed_differences();
    let mut byte_compared = 0;
    for case in &cases {
        let recorded = server_frames(case);
        let expected = match differences.get(&case.name) {
            None => {
                byte_compared += 1;
                recorded
            }
            Some(ours) => {
                let mut expected = recorded[..CONNECT_EVENTS].to_vec();
                expected.extend(ours.iter().cloned());
                expected
            }
        };
        let frames = replay(&server, case, expected.len())
            .await
            .unwrap_or_else(|refusal| panic!("case {}: refused {refusal:?}", case.name));
        assert_eq!(frames, expected, "case {}", case.name);
    }
    assert_eq!(byte_compared, 22);
    let handle = server.stop().await;
    let stats = handle.stats();
    assert_eq!(stats.connections, 34);
    assert_eq!(stats.exits, 34, "one exit per accepted connection");
    assert_eq!(stats.panics, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_profile_over_a_socket_answers_as_the_spec_says() {
    let server = TestServer::start(game::app(), game::config(Profile::Default)).await;
    let differences = seed_differences();
    let replies = default_replies();
    let mut rejected = 0;
    for case in &parse_exchanges() {
        let recorded = server_frames(case);
        let ours = replies
            .get(&case.name)
            .or_else(|| differences.get(&case.name));
        let expected = match ours {
            Some(ours) if ours == &["REJECTED"] => {
                let (status, body) = replay(&server, case, 0)
                    .await
                    .expect_err("a failing enter hook refuses the handshake");
                assert_eq!(status, 400, "case {}", case.name);
                assert!(
                    body.contains("game_id"),
                    "case {}: body {body:?}",
                    case.name
                );
                rejected += 1;
                continue;
            }
            Some(ours) => {
                let mut expected = recorded[..CONNECT_EVENTS].to_vec();
                expected.extend(ours.iter().cloned());
                expected
            }
            None => recorded,
        };
        let frames = replay(&server, case, expected.len())
            .await
            .unwrap_or_else(|refusal| panic!("case {}: refused {refusal:?}", case.name));
        assert_eq!(frames, expected, "case {}", case.name);
    }
    assert_eq!(rejected, 2);
    let handle = server.stop().await;
    let stats = handle.stats();
    assert_eq!(stats.connections, 32);
    assert_eq!(stats.exits, 32);
    assert_eq!(stats.handshakes_rejected, 2);
}
