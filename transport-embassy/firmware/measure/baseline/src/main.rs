//! The baseline of docs/footprint.md: cortex-m-rt's vector table and reset handler, and
//! panic-halt. Every other measurement is reported above this one.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
