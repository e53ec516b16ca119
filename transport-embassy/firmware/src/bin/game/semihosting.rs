//! The host's console and exit code, through semihosting (QEMU `-semihosting-config`).
//! Text goes out as bytes, numbers through `itoa`: no `core::fmt` in the image.

use cortex_m_semihosting::{debug, hio};

/// Writes `parts` as one line on the host's standard output.
pub fn line(parts: &[&[u8]]) {
    if let Ok(mut out) = hio::hstdout() {
        for part in parts {
            let _ = out.write_all(part);
        }
        let _ = out.write_all(b"\n");
    }
}

/// Writes `label` and the number `n` as one line.
pub fn number(label: &[u8], n: u32) {
    let mut digits = itoa::Buffer::new();
    line(&[label, digits.format(n).as_bytes()]);
}

/// Ends the QEMU run: exit code 0 on success, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Not reached under QEMU; on a board without a debugger, stop here.
    loop {
        cortex_m::asm::wfi();
    }
}
