//! Footprint: the JSON server with one endpoint whose data has `f64` fields. The difference
//! with `server-json` is what floats cost (core's float parsing, ryu's formatting tables).
#![no_std]
#![no_main]

#[path = "../../server.rs"]
mod server;

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    server::run::<protocol_core::JsonCodec, true>(
        br#"{"id":"1","type":"request","endpoint":"aim","data":{"angle":0.5,"power":2.5}}"#,
    )
}
