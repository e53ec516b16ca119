//! Footprint: one server role with the postcard codec only and the reference game's
//! handlers. No JSON code is linked.
#![no_std]
#![no_main]

#[path = "../../server.rs"]
mod server;

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    // request {id:"r1", endpoint:"move", data:Move{x:1,y:2}} (docs/spec.md §4)
    server::run::<protocol_core::PostcardCodec, false>(&[
        0x01, 0x02, 0x72, 0x31, 0x04, 0x6d, 0x6f, 0x76, 0x65, 0x02, 0x02, 0x04,
    ])
}
