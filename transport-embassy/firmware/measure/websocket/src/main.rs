//! Footprint: the WebSocket layer alone (ws-sansio), server role: the HTTP upgrade (parse,
//! accept key, 101 or an error answer), then frames in (reassembly, unmasking, UTF-8
//! checks, control frames) and out (data frames, pongs, the closing handshake).
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use panic_halt as _;
use ws_sansio::{CloseCode, Connection, Event, HeaderBuffer, Instant, Status};

const REQUEST: &[u8] = b"GET /ws?game_id=1 HTTP/1.1\r\nHost: device\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: quartet.v1.postcard\r\n\r\n";

/// A masked binary frame, `01 02 03`.
const FRAME: &[u8] = &[0x82, 0x83, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00];

#[entry]
fn main() -> ! {
    let mut header = [0u8; 512];
    let mut message = [0u8; 512];
    let mut out = [0u8; 512];
    let mut headers = HeaderBuffer::new(&mut header);
    headers.feed(black_box(REQUEST));
    match headers.parse_request() {
        Ok(Status::Complete(request)) => {
            let protocol = request.select_protocol(&["quartet.v1.postcard"]);
            let _ = black_box(request.write_accept(protocol, &[], &mut out));
            black_box((request.path(), request.query()));
        }
        Ok(Status::Incomplete) => {}
        Err(error) => {
            let _ = black_box(error.write_response(&mut out));
        }
    }
    let mut connection = Connection::server(&mut message);
    loop {
        let now = Instant::from_millis(black_box(0));
        let mut input: &[u8] = black_box(FRAME);
        while !input.is_empty() {
            let Ok(used) = connection.handle_input(now, input) else {
                break;
            };
            input = &input[used..];
            let mut reply = [0u8; 16];
            let len = match connection.poll_event() {
                Some(Event::Binary(data)) => {
                    reply[..data.len().min(16)].copy_from_slice(&data[..data.len().min(16)]);
                    data.len().min(16)
                }
                Some(Event::Text(text)) => text.len().min(16),
                Some(Event::Close { code, .. }) => {
                    black_box(code);
                    0
                }
                _ => 0,
            };
            let _ = black_box(connection.encode_binary(&reply[..len], &mut out));
            while let Ok(Some(n)) = connection.poll_transmit(&mut out) {
                black_box(&out[..n]);
            }
        }
        if black_box(false) {
            let _ = black_box(connection.encode_text("hi", &mut out));
            let _ = connection.close(now, CloseCode::NORMAL, "bye");
        }
        black_box(connection.poll_timeout());
        connection.handle_timeout(now);
        black_box(connection.should_close_transport());
    }
}
