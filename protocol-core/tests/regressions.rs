//! One test per fuzzing finding in the core, so that plain `cargo test` keeps each one fixed.
//! Each names the target that found it; the input that found it is kept as a seed under
//! `fuzz/seeds/<target>/`.

use protocol_core::connection::{ClientReceived, ErrorCode, RequestFailure};
use protocol_core::{
    ClientConnection, Config, Data, Event, Instant, JsonCodec, MessageKind, Profile,
};

/// connection_model: in the `Seed000` profile an id-less `error` event fails the oldest
/// pending request with the event's code. A code written with escapes (`"b\u0075sy"`, which
/// is the string `busy`) was compared by its raw text and reported as no known code.
#[test]
fn seed000_error_event_code_is_compared_unescaped() {
    let now = Instant::from_millis(0);
    let mut client =
        ClientConnection::<JsonCodec>::new(now, Config::new().with_profile(Profile::Seed000));
    client.connect(now).unwrap();
    client.handle_accepted(now, JsonCodec).unwrap();
    let mut out = [0u8; 256];
    let (request, _) = client
        .request(now, "echo", &Data::new(b"1"), None, &mut out)
        .unwrap();
    let event = br#"{"type":"event","kind":"error","data":{"reason":"r","code":"b\u0075sy"}}"#;
    let received = client
        .handle_message(now, MessageKind::Text, event)
        .unwrap();
    assert!(matches!(received, ClientReceived::Event { kind, .. } if kind == "error"));
    assert_eq!(
        client.poll_event(),
        Some(Event::RequestFailed {
            request,
            cause: RequestFailure::ErrorEvent(Some(ErrorCode::Busy)),
        })
    );
}
