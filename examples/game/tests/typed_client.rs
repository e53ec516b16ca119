//! The typed client: the game's endpoint descriptions type the calls and the events, end to
//! end over a client core and a server core, and misuse does not compile.

use game::{InitEvent, Move, MoveEndpoint, StateEvent};
use protocol_core::codec::CodecSet;
use protocol_core::connection::{ClientReceived, ServerReceived};
use protocol_core::endpoint::{EndpointFn, EventSet, Handler, Router};
use protocol_core::{
    AnyCodec, ClientConnection, Config, Instant, ServerConnection, Transmit, Typed, negotiate,
};

protocol_core::events! {
    /// What the game pushes.
    #[derive(Debug, PartialEq)]
    pub enum GameEvents {
        State(StateEvent),
        Init(InitEvent),
    }
}

fn message(t: Transmit, out: &[u8]) -> Vec<u8> {
    match t {
        Transmit::Message { len, .. } => out[..len].to_vec(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn typed_call_and_typed_events_over_both_codecs() {
    for offer in [None, Some("quartet.v1.postcard")] {
        let now = Instant::ZERO;
        let mut server = ServerConnection::<AnyCodec>::new(now, Config::new());
        let mut client = ClientConnection::<AnyCodec>::new(now, Config::new());
        client.connect(now).unwrap();
        server.handle_upgrade(now).unwrap();
        let codec = negotiate::<AnyCodec>(offer).unwrap().codec;
        server.accept(now, codec).unwrap();
        client.handle_accepted(now, codec).unwrap();
        let mut out = [0u8; 256];

        // Events arrive as the typed enum.
        let t = server
            .send_event(
                now,
                StateEvent::KIND_NAME,
                &Typed(&game::INITIAL_STATE),
                &mut out,
            )
            .unwrap();
        let frame = message(t, &out);
        let Ok(ClientReceived::Event { kind, data }) =
            client.handle_message(now, codec.message_kind(), &frame)
        else {
            panic!()
        };
        let event = GameEvents::decode(&kind, data, codec).unwrap().unwrap();
        assert_eq!(event, GameEvents::State(game::INITIAL_STATE));
        assert_eq!(GameEvents::KINDS, ["game:state", "init"]);

        // A typed call, served by the game's own handler logic.
        let (call, t) = client
            .call::<MoveEndpoint>(now, &Move { x: 3, y: 4 }, None, &mut out)
            .unwrap();
        let frame = message(t, &out);
        let play = EndpointFn::<MoveEndpoint, _>::new(|id: &mut i64, m| game::play(*id, m));
        let handlers: [&dyn Handler<i64, AnyCodec>; 1] = [&play];
        let router = Router::new(&handlers);
        let Ok(ServerReceived::Request(request)) =
            server.handle_message(now, codec.message_kind(), &frame, &router)
        else {
            panic!()
        };
        let mut scratch = [0u8; 128];
        let t = router
            .dispatch(&mut server, now, &mut 7, &request, &mut scratch, &mut out)
            .unwrap();
        let frame = message(t, &out);
        let Ok(ClientReceived::Response { request, data }) =
            client.handle_message(now, codec.message_kind(), &frame)
        else {
            panic!()
        };
        assert!(call.is(request));
        let moved = call.response(codec, data).unwrap();
        assert_eq!(
            moved,
            game::Moved {
                success: true,
                game_id: 7,
                x: 3,
                y: 4
            }
        );
    }
}

#[test]
fn misuse_does_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}

trait KindName {
    const KIND_NAME: &'static str;
}

impl<T: protocol_core::endpoint::EventType> KindName for T {
    const KIND_NAME: &'static str = T::KIND;
}
