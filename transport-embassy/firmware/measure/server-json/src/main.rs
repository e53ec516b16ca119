//! Footprint: one server role with the JSON codec and the reference game's handlers.
#![no_std]
#![no_main]

#[path = "../../server.rs"]
mod server;

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    server::run::<protocol_core::JsonCodec, false>(
        br#"{"id":"1","type":"request","endpoint":"move","data":{"x":1,"y":2}}"#,
    )
}
