//! Injected randomness for the client role.

/// Source of the unpredictable bytes a client needs: the 16-byte
/// `Sec-WebSocket-Key` nonce and the 4-byte masking key of every frame it sends.
///
/// RFC 6455 §5.3 asks for masking keys an attacker cannot predict, so production
/// firmware should back this with a hardware RNG or a CSPRNG. Firmware running
/// under QEMU uses a fixed, non-secure test seed so that runs are reproducible;
/// that is fine for tests and unacceptable anywhere else.
///
/// Any `FnMut(&mut [u8])` closure is a `RandomSource`.
pub trait RandomSource {
    /// Fills `dest` entirely with random bytes.
    fn fill_bytes(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> RandomSource for F {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self(dest);
    }
}

/// The random source of a server connection: servers never mask, so this type has
/// no values and a client connection can never be built with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NoRandom {}

impl RandomSource for NoRandom {
    fn fill_bytes(&mut self, _dest: &mut [u8]) {
        match *self {}
    }
}
