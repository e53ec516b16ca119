//! Frame and connection rules of RFC 6455, one test per rule.

mod common;

use std::time::Duration;

use common::*;
use ws_sansio::{
    CloseCode, Connection, EncodeError, FrameHeader, Instant, MessageKind, OpCode, ProtocolError,
    SendError, State, Status, encode_close_frame, encode_frame,
};

const BIG: usize = 1024;

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

// ---- decoding basics ----

#[test]
fn server_receives_masked_text() {
    let (seen, state, _) = server_sees(&client_frame(0x81, b"hello"), BIG, usize::MAX);
    assert_eq!(seen, [Seen::Text("hello".into())]);
    assert_eq!(state, State::Open);
}

#[test]
fn client_receives_unmasked_binary() {
    let (seen, _, _) = client_sees(&server_frame(0x82, &[0, 1, 2, 255]), BIG, usize::MAX);
    assert_eq!(seen, [Seen::Binary(vec![0, 1, 2, 255])]);
}

#[test]
fn empty_text_message_is_delivered() {
    let (seen, _, _) = server_sees(&client_frame(0x81, b""), BIG, usize::MAX);
    assert_eq!(seen, [Seen::Text(String::new())]);
}

#[test]
fn extended_16_and_64_bit_lengths_are_decoded() {
    let medium = vec![7u8; 300];
    let large = vec![9u8; 70_000];
    let input = concat(&[client_frame(0x82, &medium), client_frame(0x82, &large)]);
    let (seen, _, _) = server_sees(&input, 70_000, usize::MAX);
    assert_eq!(seen, [Seen::Binary(medium), Seen::Binary(large)]);
}

#[test]
fn a_client_refuses_a_length_not_in_its_shortest_encoding() {
    // Length 5 written with the 16-bit form (RFC 6455 §5.2: the minimal number of bytes).
    let input = [0x82, 126, 0, 5, 1, 2, 3, 4, 5];
    let (seen, _, _) = client_sees(&input, BIG, usize::MAX);
    assert_eq!(seen[0], Seen::Error(ProtocolError::NonMinimalLength));
}

#[test]
fn incomplete_frame_needs_more_bytes() {
    let frame = client_frame(0x81, b"hello");
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    assert_eq!(
        connection.handle_input(now, &frame[..frame.len() - 1]),
        Ok(frame.len() - 1)
    );
    assert!(
        connection.poll_event().is_none(),
        "no event before the last byte"
    );
    assert_eq!(
        connection.handle_input(now, &frame[frame.len() - 1..]),
        Ok(1)
    );
    assert!(connection.poll_event().is_some());
}

#[test]
fn input_stops_after_each_event_until_polled() {
    let input = concat(&[client_frame(0x81, b"one"), client_frame(0x81, b"two")]);
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    let first = connection.handle_input(now, &input).unwrap();
    assert_eq!(first, input.len() / 2, "stopped after the first frame");
    assert_eq!(
        connection.handle_input(now, &input[first..]),
        Ok(0),
        "event not polled yet"
    );
    assert!(matches!(
        connection.poll_event(),
        Some(ws_sansio::Event::Text("one"))
    ));
    assert_eq!(
        connection.handle_input(now, &input[first..]),
        Ok(input.len() - first)
    );
    assert!(matches!(
        connection.poll_event(),
        Some(ws_sansio::Event::Text("two"))
    ));
    assert!(
        connection.poll_event().is_none(),
        "an event is returned once"
    );
}

#[test]
fn frame_header_parse_reports_incomplete_for_every_prefix() {
    let frame = client_frame(0x82, &[0; 70_000]);
    for len in 0..14 {
        assert_eq!(
            FrameHeader::parse(&frame[..len]),
            Ok(Status::Incomplete),
            "prefix {len}"
        );
    }
    let expected = FrameHeader {
        fin: true,
        opcode: OpCode::Binary,
        mask: Some(MASK),
        payload_len: 70_000,
    };
    assert_eq!(
        FrameHeader::parse(&frame[..14]),
        Ok(Status::Complete((expected, 14)))
    );
}

// ---- masking ----

#[test]
fn server_refuses_unmasked_frame() {
    let (seen, state, _) = server_sees(&server_frame(0x81, b"hi"), BIG, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::UnmaskedFrame), sent_close(1002)]
    );
    assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode(1002));
    assert_eq!(state, State::Closed);
}

#[test]
fn client_refuses_masked_frame() {
    let (seen, _, _) = client_sees(&client_frame(0x81, b"hi"), BIG, usize::MAX);
    assert_eq!(seen[0], Seen::Error(ProtocolError::MaskedFrame));
    assert_eq!(seen[1], sent_close(1002));
}

#[test]
fn client_masks_frames_with_keys_from_random_source() {
    let mut buffer = [0; 16];
    let mut connection = Connection::client(&mut buffer, counting_random());
    let mut out = [0; 64];
    let len = connection.encode_text("abcd", &mut out).unwrap();
    assert_eq!(out[1] & 0x80, 0x80, "mask bit set");
    assert_eq!(&out[2..6], &[1, 2, 3, 4], "key from the random source");
    let masked: Vec<u8> = b"abcd"
        .iter()
        .zip([1, 2, 3, 4])
        .map(|(b, k)| b ^ k)
        .collect();
    assert_eq!(&out[6..len], masked);
    // The next frame gets the next key.
    connection.encode_binary(b"x", &mut out).unwrap();
    assert_eq!(&out[2..6], &[5, 6, 7, 8]);
}

#[test]
fn server_frames_are_unmasked() {
    let mut buffer = [0; 16];
    let mut connection = Connection::server(&mut buffer);
    let mut out = [0; 64];
    let len = connection.encode_text("abcd", &mut out).unwrap();
    assert_eq!(&out[..len], &[0x81, 4, b'a', b'b', b'c', b'd']);
}

// ---- header rules ----

#[test]
fn rejects_rsv_bits() {
    for rsv in [0x40, 0x20, 0x10] {
        let (seen, _, _) = server_sees(&client_frame(0x81 | rsv, b"x"), BIG, usize::MAX);
        assert_eq!(
            seen,
            [Seen::Error(ProtocolError::ReservedBits), sent_close(1002)],
            "{rsv:#x}"
        );
    }
}

#[test]
fn rejects_reserved_opcodes() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let (seen, _, _) = server_sees(&client_frame(0x80 | opcode, b""), BIG, usize::MAX);
        assert_eq!(
            seen,
            [Seen::Error(ProtocolError::ReservedOpcode), sent_close(1002)],
            "opcode {opcode:#x}"
        );
    }
}

#[test]
fn rejects_fragmented_control_frame() {
    for opcode in [0x8, 0x9, 0xA] {
        let (seen, _, _) = server_sees(&client_frame(opcode, b""), BIG, usize::MAX);
        assert_eq!(
            seen,
            [
                Seen::Error(ProtocolError::FragmentedControlFrame),
                sent_close(1002)
            ]
        );
    }
}

#[test]
fn rejects_control_frame_over_125_bytes() {
    let (seen, _, _) = server_sees(&client_frame(0x89, &[0; 126]), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::ControlFrameTooLong),
            sent_close(1002)
        ]
    );
    // 125 is fine.
    let (seen, _, _) = server_sees(&client_frame(0x89, &[0; 125]), BIG, usize::MAX);
    assert_eq!(seen[0], Seen::Ping(vec![0; 125]));
}

#[test]
fn rejects_64_bit_length_with_top_bit_set() {
    let mut input = vec![0x82, 0x80 | 127];
    input.extend_from_slice(&(1u64 << 63).to_be_bytes());
    input.extend_from_slice(&MASK);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::PayloadLengthOverflow),
            sent_close(1002)
        ]
    );
}

#[test]
fn rejects_lengths_not_in_their_shortest_encoding() {
    // 125 bytes in the 16-bit form, 65,535 in the 64-bit form: each fits a shorter one.
    for (short, extended) in [
        (126u8, 125u64.to_be_bytes()[6..].to_vec()),
        (126, 0u64.to_be_bytes()[6..].to_vec()),
        (127, 0xFFFFu64.to_be_bytes().to_vec()),
        (127, 126u64.to_be_bytes().to_vec()),
    ] {
        let mut input = vec![0x82, 0x80 | short];
        input.extend_from_slice(&extended);
        input.extend_from_slice(&MASK);
        let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
        assert_eq!(
            seen,
            [
                Seen::Error(ProtocolError::NonMinimalLength),
                sent_close(1002)
            ],
            "{short} {extended:?}"
        );
    }
    // The smallest lengths of each form are accepted.
    let payload = vec![7u8; 126];
    let (seen, _, _) = server_sees(&client_frame(0x82, &payload), BIG, usize::MAX);
    assert_eq!(seen, [Seen::Binary(payload)]);
}

// ---- fragmentation ----

#[test]
fn continuation_frames_are_reassembled() {
    let input = concat(&[
        client_frame(0x01, b"Hel"),
        client_frame(0x00, b"lo, "),
        client_frame(0x80, b"world"),
    ]);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(seen, [Seen::Text("Hello, world".into())]);
}

#[test]
fn control_frames_allowed_between_fragments() {
    let input = concat(&[
        client_frame(0x02, &[1, 2]),
        client_frame(0x89, b"ping"),
        client_frame(0x8A, b"pong"),
        client_frame(0x80, &[3]),
    ]);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Ping(b"ping".to_vec()),
            Seen::Sent(0x8A, b"ping".to_vec()),
            Seen::Pong(b"pong".to_vec()),
            Seen::Binary(vec![1, 2, 3]),
        ]
    );
}

#[test]
fn new_data_frame_during_fragmented_message_is_protocol_error() {
    for opcode in [0x81, 0x82, 0x01] {
        let input = concat(&[client_frame(0x01, b"a"), client_frame(opcode, b"b")]);
        let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
        assert_eq!(
            seen,
            [
                Seen::Error(ProtocolError::ExpectedContinuation),
                sent_close(1002)
            ]
        );
    }
}

#[test]
fn continuation_without_start_is_protocol_error() {
    for first in [0x80, 0x00] {
        let (seen, _, _) = server_sees(&client_frame(first, b"a"), BIG, usize::MAX);
        assert_eq!(
            seen,
            [
                Seen::Error(ProtocolError::UnexpectedContinuation),
                sent_close(1002)
            ]
        );
    }
    // Also right after a complete message.
    let input = concat(&[client_frame(0x81, b"a"), client_frame(0x80, b"b")]);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(seen[1], Seen::Error(ProtocolError::UnexpectedContinuation));
}

// ---- ping / pong ----

#[test]
fn ping_is_answered_with_pong_with_same_payload() {
    let (seen, _, _) = server_sees(&client_frame(0x89, b"are you there"), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Ping(b"are you there".to_vec()),
            Seen::Sent(0x8A, b"are you there".to_vec())
        ]
    );
    // The client masks its pong; the recorder unmasks it.
    let (seen, _, _) = client_sees(&server_frame(0x89, b"x"), BIG, usize::MAX);
    assert_eq!(seen[1], Seen::Sent(0x8A, b"x".to_vec()));
}

#[test]
fn newer_ping_replaces_pending_pong() {
    let input = concat(&[client_frame(0x89, b"first"), client_frame(0x89, b"second")]);
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    let mut rest = &input[..];
    while !rest.is_empty() {
        rest = &rest[connection.handle_input(now, rest).unwrap()..];
        connection.poll_event();
    }
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(
        seen,
        [Seen::Sent(0x8A, b"second".to_vec())],
        "one pong, for the newest ping"
    );
}

// ---- UTF-8 ----

#[test]
fn invalid_utf8_text_is_1007() {
    let (seen, _, _) = server_sees(&client_frame(0x81, &[b'a', 0xFF, b'b']), BIG, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::InvalidUtf8), sent_close(1007)]
    );
}

#[test]
fn utf8_split_across_fragments_is_accepted() {
    let snowman = "\u{2603}".as_bytes(); // three bytes
    let input = concat(&[
        client_frame(0x01, &snowman[..1]),
        client_frame(0x00, &snowman[1..2]),
        client_frame(0x80, &snowman[2..]),
    ]);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(seen, [Seen::Text("\u{2603}".into())]);
}

#[test]
fn truncated_utf8_at_end_of_message_is_1007() {
    let snowman = "\u{2603}".as_bytes();
    let input = concat(&[client_frame(0x01, b"ok"), client_frame(0x80, &snowman[..2])]);
    let (seen, _, _) = server_sees(&input, BIG, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::InvalidUtf8), sent_close(1007)]
    );
}

#[test]
fn invalid_utf8_fails_before_the_message_ends() {
    // The first fragment is already invalid: no need to wait for the rest.
    let (seen, _, _) = server_sees(&client_frame(0x01, &[0xC0, 0x80]), BIG, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::InvalidUtf8), sent_close(1007)]
    );
}

#[test]
fn utf8_encoded_surrogate_in_text_is_1007() {
    let (seen, _, _) = server_sees(&client_frame(0x81, b"\xed\xa0\x80"), BIG, 1);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::InvalidUtf8), sent_close(1007)]
    );
}

#[test]
fn binary_messages_are_not_utf8_checked() {
    let (seen, _, _) = server_sees(&client_frame(0x82, &[0xFF]), BIG, usize::MAX);
    assert_eq!(seen, [Seen::Binary(vec![0xFF])]);
}

// ---- size ----

#[test]
fn message_larger_than_buffer_is_1009() {
    let (seen, _, _) = server_sees(&client_frame(0x82, &[0; 17]), 16, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::MessageTooBig), sent_close(1009)]
    );
    // Also when only the fragments together are too big.
    let input = concat(&[client_frame(0x02, &[0; 10]), client_frame(0x80, &[0; 7])]);
    let (seen, _, _) = server_sees(&input, 16, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Error(ProtocolError::MessageTooBig), sent_close(1009)]
    );
}

#[test]
fn message_as_large_as_buffer_is_accepted() {
    let input = concat(&[client_frame(0x02, &[1; 10]), client_frame(0x80, &[2; 6])]);
    let (seen, _, _) = server_sees(&input, 16, usize::MAX);
    let mut expected = vec![1; 10];
    expected.extend([2; 6]);
    assert_eq!(seen, [Seen::Binary(expected)]);
}

#[test]
fn too_big_is_detected_from_the_header_alone() {
    let frame = client_frame(0x82, &[0; 100]);
    let mut buffer = [0; 16];
    let mut connection = Connection::server(&mut buffer);
    // Only the 6 header bytes: the error does not wait for the payload.
    assert_eq!(
        connection.handle_input(Instant::from_millis(0), &frame[..6]),
        Err(ProtocolError::MessageTooBig)
    );
}

// ---- close frames ----

#[test]
fn close_payload_of_one_byte_is_protocol_error() {
    let (seen, _, _) = server_sees(&client_frame(0x88, &[3]), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::InvalidClosePayload),
            sent_close(1002)
        ]
    );
}

#[test]
fn close_code_1005_is_protocol_error() {
    let (seen, _, _) = server_sees(&client_frame(0x88, &close_payload(1005, "")), BIG, 1);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::InvalidCloseCode),
            sent_close(1002)
        ]
    );
}

#[test]
fn invalid_close_codes_are_protocol_errors() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let (seen, _, _) = server_sees(&client_frame(0x88, &close_payload(code, "")), BIG, 99);
        assert_eq!(
            seen,
            [
                Seen::Error(ProtocolError::InvalidCloseCode),
                sent_close(1002)
            ],
            "code {code}"
        );
        assert!(!CloseCode(code).is_valid());
    }
}

#[test]
fn valid_close_codes_are_accepted_and_echoed() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let (seen, state, _) =
            server_sees(&client_frame(0x88, &close_payload(code, "bye")), BIG, 99);
        assert_eq!(
            seen,
            [Seen::Close(Some(code), "bye".into()), sent_close(code)],
            "{code}"
        );
        assert_eq!(state, State::Closed);
    }
}

#[test]
fn close_reason_invalid_utf8_is_1007() {
    let mut payload = close_payload(1000, "");
    payload.extend_from_slice(&[0xCE, 0xBA, 0xE1, 0xBD]); // truncated
    let (seen, _, _) = server_sees(&client_frame(0x88, &payload), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::InvalidCloseReason),
            sent_close(1007)
        ]
    );
    // Autobahn case 7.5.1: a UTF-16 surrogate encoded as UTF-8 is invalid too.
    let mut payload = close_payload(1000, "");
    payload.extend_from_slice(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited");
    let (seen, _, _) = server_sees(&client_frame(0x88, &payload), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Error(ProtocolError::InvalidCloseReason),
            sent_close(1007)
        ]
    );
}

#[test]
fn empty_close_payload_means_no_status() {
    let (seen, state, close_transport) = server_sees(&client_frame(0x88, b""), BIG, usize::MAX);
    assert_eq!(
        seen,
        [
            Seen::Close(None, String::new()),
            Seen::Sent(0x88, Vec::new())
        ]
    );
    assert_eq!(state, State::Closed);
    assert!(close_transport);
}

// ---- closing handshake ----

#[test]
fn peer_close_is_echoed_and_server_closes_transport_first() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let mut seen = drive(
        &mut connection,
        &client_frame(0x88, &close_payload(1001, "away")),
        99,
    );
    assert_eq!(seen.remove(0), Seen::Close(Some(1001), "away".into()));
    assert_eq!(seen, [sent_close(1001)], "echo carries the same code");
    assert_eq!(connection.state(), State::Closed);
    assert!(
        connection.should_close_transport(),
        "the server closes TCP right away"
    );
}

#[test]
fn close_received_until_echo_is_transmitted() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let frame = client_frame(0x88, &close_payload(1000, ""));
    connection
        .handle_input(Instant::from_millis(0), &frame)
        .unwrap();
    assert_eq!(connection.state(), State::CloseReceived);
    assert!(!connection.should_close_transport());
    let mut out = [0; 8];
    assert_eq!(connection.poll_transmit(&mut out), Ok(Some(4)));
    assert_eq!(connection.state(), State::Closed);
}

#[test]
fn client_waits_for_server_to_close_transport() {
    let mut buffer = [0; 64];
    let mut connection = Connection::client(&mut buffer, counting_random());
    connection.set_close_timeout(Duration::from_millis(500));
    let frame = server_frame(0x88, &close_payload(1000, ""));
    let now = Instant::from_millis(10_000);
    connection.handle_input(now, &frame).unwrap();
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [sent_close(1000)]);
    assert_eq!(connection.state(), State::Closed);
    assert!(
        !connection.should_close_transport(),
        "the server should close first"
    );
    assert_eq!(
        connection.poll_timeout(),
        Some(Instant::from_millis(10_500))
    );
    connection.handle_timeout(Instant::from_millis(10_499));
    assert!(!connection.should_close_transport());
    connection.handle_timeout(Instant::from_millis(10_500));
    assert!(connection.should_close_transport());
}

#[test]
fn close_handshake_completes_when_peer_answers() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    connection.close(now, CloseCode::NORMAL, "done").unwrap();
    assert_eq!(connection.state(), State::CloseSent);
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [Seen::Sent(0x88, close_payload(1000, "done"))]);
    assert!(
        !connection.should_close_transport(),
        "wait for the peer's close"
    );

    let seen = drive(
        &mut connection,
        &client_frame(0x88, &close_payload(1000, "")),
        99,
    );
    assert_eq!(
        seen,
        [Seen::Close(Some(1000), String::new())],
        "no second close frame"
    );
    assert_eq!(connection.state(), State::Closed);
    assert!(connection.should_close_transport());
}

#[test]
fn data_frames_ignored_after_close_sent() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    connection
        .close(Instant::from_millis(0), CloseCode::GOING_AWAY, "")
        .unwrap();
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    let input = concat(&[
        client_frame(0x81, b"late"),
        client_frame(0x89, b"late ping"),
        client_frame(0x02, b"frag"),
        client_frame(0x88, &close_payload(1001, "")),
    ]);
    let seen = drive(&mut connection, &input, usize::MAX);
    assert_eq!(
        seen,
        [Seen::Close(Some(1001), String::new())],
        "no message, no pong"
    );
}

#[test]
fn close_timeout_closes_transport() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    connection.set_close_timeout(Duration::from_secs(2));
    assert_eq!(connection.poll_timeout(), None);
    connection
        .close(Instant::from_millis(1_000), CloseCode::NORMAL, "")
        .unwrap();
    assert_eq!(connection.poll_timeout(), Some(Instant::from_millis(3_000)));
    connection.handle_timeout(Instant::from_millis(2_999));
    assert_eq!(connection.state(), State::CloseSent);
    connection.handle_timeout(Instant::from_millis(3_000));
    assert_eq!(connection.state(), State::Closed);
    assert!(connection.should_close_transport());
    assert_eq!(connection.poll_timeout(), None);
}

#[test]
fn protocol_error_sends_close_then_closes_transport() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    let bad = client_frame(0xC1, b"x");
    assert_eq!(
        connection.handle_input(now, &bad),
        Err(ProtocolError::ReservedBits)
    );
    assert_eq!(connection.state(), State::CloseSent);
    assert!(
        !connection.should_close_transport(),
        "the close frame goes out first"
    );
    // Further input is not processed, not even a close frame.
    let later = client_frame(0x88, &close_payload(1000, ""));
    assert_eq!(connection.handle_input(now, &later), Ok(later.len()));
    assert!(connection.poll_event().is_none());
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [sent_close(1002)]);
    assert!(connection.should_close_transport());
}

#[test]
fn protocol_error_after_close_sent_closes_transport_at_once() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    connection.close(now, CloseCode::NORMAL, "").unwrap();
    let _ = connection.poll_transmit(&mut [0; 16]);
    assert!(
        connection
            .handle_input(now, &server_frame(0x81, b"x"))
            .is_err()
    );
    assert_eq!(connection.state(), State::Closed);
    assert!(connection.should_close_transport());
}

#[test]
fn protocol_error_before_our_close_went_out_still_sends_it() {
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    connection.close(now, CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(
        connection.handle_input(now, &client_frame(0x83, b"")),
        Err(ProtocolError::ReservedOpcode)
    );
    assert!(
        !connection.should_close_transport(),
        "the close frame goes out first"
    );
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [Seen::Sent(0x88, close_payload(1000, "bye"))]);
    assert!(connection.should_close_transport());
    assert_eq!(connection.state(), State::Closed);
}

#[test]
fn pending_pong_goes_out_before_close() {
    let input = concat(&[
        client_frame(0x89, b"p"),
        client_frame(0x88, &close_payload(1000, "")),
    ]);
    let mut buffer = [0; 64];
    let mut connection = Connection::server(&mut buffer);
    let now = Instant::from_millis(0);
    let mut rest = &input[..];
    while !rest.is_empty() {
        rest = &rest[connection.handle_input(now, rest).unwrap()..];
        connection.poll_event();
    }
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [Seen::Sent(0x8A, b"p".to_vec()), sent_close(1000)]);
}

// ---- chunking invariance ----

fn mixed_client_stream() -> Vec<u8> {
    concat(&[
        client_frame(0x01, "h\u{e9}l".as_bytes()),
        client_frame(0x89, b"ping!"),
        client_frame(0x80, "lo \u{2603}".as_bytes()),
        client_frame(0x82, &[0xAB; 300]),
        client_frame(0x8A, b""),
        client_frame(0x81, b""),
        client_frame(0x88, &close_payload(1000, "bye")),
    ])
}

fn all_splits_agree(input: &[u8], run: impl Fn(&[&[u8]]) -> Vec<Seen>) -> Vec<Seen> {
    let whole = run(&[input]);
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(run(&[a, b]), whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte by byte");
    whole
}

fn server_run(pieces: &[&[u8]]) -> Vec<Seen> {
    let mut buffer = [0; 512];
    let mut connection = Connection::server(&mut buffer);
    let mut seen = Vec::new();
    for piece in pieces {
        seen.extend(drive(&mut connection, piece, usize::MAX));
    }
    seen.push(Seen::Close(None, format!("{:?}", connection.state())));
    seen
}

#[test]
fn split_at_every_byte_boundary_gives_same_result() {
    let seen = all_splits_agree(&mixed_client_stream(), server_run);
    assert_eq!(seen[0], Seen::Ping(b"ping!".to_vec()));
    assert_eq!(seen[2], Seen::Text("h\u{e9}llo \u{2603}".into()));
    assert_eq!(seen[3], Seen::Binary(vec![0xAB; 300]));
    assert_eq!(seen.len(), 9, "{seen:?}");
}

#[test]
fn split_at_every_byte_boundary_gives_same_error() {
    let mut stream = mixed_client_stream();
    let truncated_snowman = &"\u{2603}".as_bytes()[..2];
    let bad = concat(&[
        client_frame(0x01, b"ok "),
        client_frame(0x80, truncated_snowman),
    ]);
    stream.splice(0..0, bad);
    let seen = all_splits_agree(&stream, server_run);
    assert_eq!(seen[0], Seen::Error(ProtocolError::InvalidUtf8));

    for bad_header in [client_frame(0x83, b""), client_frame(0x09, b"")] {
        let seen = all_splits_agree(&bad_header, server_run);
        assert!(matches!(seen[0], Seen::Error(_)));
    }
}

#[test]
fn split_at_every_byte_boundary_gives_same_result_for_client() {
    let input = concat(&[
        server_frame(0x02, &[1; 130]),
        server_frame(0x89, b"x"),
        server_frame(0x80, &[2; 3]),
        server_frame(0x88, &close_payload(4000, "app")),
    ]);
    let run = |pieces: &[&[u8]]| {
        let mut buffer = [0; 512];
        let mut connection = Connection::client(&mut buffer, counting_random());
        pieces
            .iter()
            .flat_map(|piece| drive(&mut connection, piece, usize::MAX))
            .collect()
    };
    let seen = all_splits_agree(&input, run);
    assert_eq!(seen.last(), Some(&sent_close(4000)));
}

// ---- encoding ----

#[test]
fn encode_reports_needed_length_when_buffer_too_small() {
    let mut out = [0; 10];
    assert_eq!(
        encode_frame(&mut out, OpCode::Text, true, None, &[b'a'; 9]),
        Err(EncodeError::BufferTooSmall { needed: 11 })
    );
    assert_eq!(
        encode_frame(&mut out, OpCode::Binary, true, Some(MASK), &[0; 200]),
        Err(EncodeError::BufferTooSmall {
            needed: 2 + 2 + 4 + 200
        })
    );
    let mut buffer = [0; 8];
    let mut connection = Connection::client(&mut buffer, counting_random());
    assert_eq!(
        connection.encode_text("hello", &mut out),
        Err(SendError::Encode(EncodeError::BufferTooSmall {
            needed: 11
        }))
    );
    // Nothing was consumed: a retry with a big enough buffer uses the first key.
    let mut big = [0; 11];
    connection.encode_text("hello", &mut big).unwrap();
    assert_eq!(&big[2..6], &[1, 2, 3, 4]);
}

#[test]
fn encode_uses_shortest_length_form() {
    let mut out = vec![0; 70_000];
    for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
        let written = encode_frame(&mut out, OpCode::Binary, true, None, &vec![0; len]).unwrap();
        assert_eq!(written, header_len + len, "payload {len}");
        let (_, payload, frame_len) = decode_frame(&out[..written]);
        assert_eq!((payload.len(), frame_len), (len, written));
    }
}

#[test]
fn encoded_frames_decode_to_the_same_frames() {
    let mut out = [0; 64];
    for (opcode, first) in [
        (OpCode::Text, 0x81),
        (OpCode::Binary, 0x82),
        (OpCode::Ping, 0x89),
        (OpCode::Pong, 0x8A),
    ] {
        let len = encode_frame(&mut out, opcode, true, Some(MASK), b"payload").unwrap();
        assert_eq!(out[..len], client_frame(first, b"payload"));
    }
    let len = encode_close_frame(&mut out, None, Some(CloseCode(4001)), "why").unwrap();
    assert_eq!(out[..len], server_frame(0x88, &close_payload(4001, "why")));
    let len = encode_close_frame(&mut out, None, None, "").unwrap();
    assert_eq!(out[..len], [0x88, 0]);
}

#[test]
fn control_payload_over_125_refused_when_encoding() {
    let mut out = [0; 256];
    assert_eq!(
        encode_frame(&mut out, OpCode::Ping, true, None, &[0; 126]),
        Err(EncodeError::ControlPayloadTooLong)
    );
    let long_reason = "r".repeat(124);
    assert_eq!(
        encode_close_frame(&mut out, None, Some(CloseCode::NORMAL), &long_reason),
        Err(EncodeError::ControlPayloadTooLong)
    );
    let mut buffer = [0; 8];
    let mut connection = Connection::server(&mut buffer);
    assert_eq!(
        connection.encode_ping(&[0; 126], &mut out),
        Err(SendError::Encode(EncodeError::ControlPayloadTooLong))
    );
    assert_eq!(
        connection.close(Instant::from_millis(0), CloseCode::NORMAL, &long_reason),
        Err(EncodeError::ControlPayloadTooLong)
    );
    assert_eq!(
        connection.state(),
        State::Open,
        "a refused close changes nothing"
    );
}

#[test]
fn invalid_close_code_refused_when_encoding() {
    let mut out = [0; 16];
    for code in [1005, 1006, 999, 5000] {
        assert_eq!(
            encode_close_frame(&mut out, None, Some(CloseCode(code)), ""),
            Err(EncodeError::InvalidCloseCode)
        );
    }
    assert_eq!(
        encode_close_frame(&mut out, None, None, "reason without code"),
        Err(EncodeError::InvalidCloseCode)
    );
}

#[test]
fn control_frames_are_written_with_fin() {
    let mut out = [0; 16];
    let len = encode_frame(&mut out, OpCode::Ping, false, None, b"").unwrap();
    assert_eq!(out[..len], [0x89, 0]);
}

#[test]
fn fragments_sent_use_continuation_opcode() {
    let mut buffer = [0; 8];
    let mut connection = Connection::server(&mut buffer);
    let mut out = [0; 16];
    let mut frames = Vec::new();
    for (payload, last) in [(&b"ab"[..], false), (b"cd", false), (b"e", true)] {
        let len = connection
            .encode_fragment(MessageKind::Text, payload, last, &mut out)
            .unwrap();
        frames.push(out[..len].to_vec());
    }
    assert_eq!(
        frames,
        [
            server_frame(0x01, b"ab"),
            server_frame(0x00, b"cd"),
            server_frame(0x80, b"e")
        ]
    );
}

#[test]
fn whole_message_during_fragmented_send_is_refused() {
    let mut buffer = [0; 8];
    let mut connection = Connection::server(&mut buffer);
    let mut out = [0; 16];
    connection
        .encode_fragment(MessageKind::Binary, b"a", false, &mut out)
        .unwrap();
    assert_eq!(
        connection.encode_text("x", &mut out),
        Err(SendError::MessageInProgress)
    );
    assert_eq!(
        connection.encode_fragment(MessageKind::Text, b"x", true, &mut out),
        Err(SendError::MessageInProgress)
    );
    // Pings may go between fragments.
    assert!(connection.encode_ping(b"", &mut out).is_ok());
    assert!(
        connection
            .encode_fragment(MessageKind::Binary, b"b", true, &mut out)
            .is_ok()
    );
    assert!(connection.encode_binary(b"c", &mut out).is_ok());
}

#[test]
fn send_after_close_is_refused() {
    let mut buffer = [0; 8];
    let mut connection = Connection::server(&mut buffer);
    let mut out = [0; 16];
    connection
        .close(Instant::from_millis(0), CloseCode::NORMAL, "")
        .unwrap();
    assert_eq!(
        connection.encode_text("x", &mut out),
        Err(SendError::NotOpen)
    );
    assert_eq!(
        connection.encode_ping(b"", &mut out),
        Err(SendError::NotOpen)
    );
    // A second close does not queue a second frame.
    connection
        .close(Instant::from_millis(0), CloseCode::GOING_AWAY, "")
        .unwrap();
    let mut seen = Vec::new();
    transmit(&mut connection, &mut seen);
    assert_eq!(seen, [sent_close(1000)]);
}
