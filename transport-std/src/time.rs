//! The clock edge: tokio's monotonic clock as the core's [`Instant`].
//!
//! The core never reads a clock. The adapter passes `now` in as microseconds since one
//! process-wide epoch (the first time this module is used), and turns the core's deadlines
//! back into tokio instants to arm its one timer. tokio's clock is used (not `std`'s), so a
//! paused tokio clock in tests drives the core's timers too.

use std::sync::OnceLock;

use protocol_core::Instant;

static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();

fn epoch() -> tokio::time::Instant {
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

/// The core's view of "now".
pub fn now() -> Instant {
    to_core(tokio::time::Instant::now())
}

/// A tokio instant as the core's [`Instant`] (instants before the epoch become the epoch).
pub fn to_core(at: tokio::time::Instant) -> Instant {
    let since = at.saturating_duration_since(epoch());
    Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// A core deadline as a tokio instant (a deadline too far to represent becomes ~30 years away).
pub fn to_tokio(at: Instant) -> tokio::time::Instant {
    let offset = std::time::Duration::from_micros(at.as_micros());
    epoch()
        .checked_add(offset)
        .unwrap_or_else(|| epoch() + std::time::Duration::from_secs(30 * 365 * 86_400))
}

/// The core's [`Duration`](protocol_core::Duration) as a `std` duration.
pub fn to_std_duration(d: protocol_core::Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.as_micros())
}

/// A `std` duration as the core's [`Duration`](protocol_core::Duration).
pub fn to_core_duration(d: std::time::Duration) -> protocol_core::Duration {
    protocol_core::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
        let core = to_core(t);
        let back = to_tokio(core);
        let diff = if back > t { back - t } else { t - back };
        assert!(diff < std::time::Duration::from_micros(2));
        assert!(to_core(epoch() - std::time::Duration::from_secs(1)) == Instant::ZERO);
        assert!(to_tokio(Instant::from_micros(u64::MAX)) > tokio::time::Instant::now());
    }
}
