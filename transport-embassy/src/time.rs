//! The clock edge: embassy-time on one side, the two sans-IO layers' own instants on the
//! other. Neither layer reads a clock; the runner converts here and nowhere else.

use embassy_time::TICK_HZ;

/// Now, for the protocol core (microseconds since boot).
pub(crate) fn now() -> protocol_core::Instant {
    protocol_core::Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// The same instant for the WebSocket layer (milliseconds since boot).
pub(crate) fn ws_instant(now: protocol_core::Instant) -> ws_sansio::Instant {
    ws_sansio::Instant::from_millis(now.as_millis())
}

/// A core duration as the WebSocket layer's close timeout.
pub(crate) fn ws_duration(duration: protocol_core::Duration) -> core::time::Duration {
    core::time::Duration::from_micros(duration.as_micros())
}

/// The earlier of the two layers' deadlines, as an embassy instant. Rounded *up* to the
/// next tick: a timer that fires before the deadline would find nothing expired and spin
/// until the clock catches up.
pub(crate) fn deadline(
    core: Option<protocol_core::Instant>,
    ws: Option<ws_sansio::Instant>,
) -> Option<embassy_time::Instant> {
    let core = core.map(|at| u128::from(at.as_micros()) * u128::from(TICK_HZ));
    let ws = ws.map(|at| u128::from(at.as_millis()) * u128::from(TICK_HZ) * 1_000);
    let micros_times_hz = match (core, ws) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    let ticks = micros_times_hz.div_ceil(1_000_000);
    Some(embassy_time::Instant::from_ticks(
        u64::try_from(ticks).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_take_the_earlier() {
        let core = Some(protocol_core::Instant::from_micros(1_500));
        let ws = Some(ws_sansio::Instant::from_millis(2));
        let at = deadline(core, ws).unwrap();
        assert!(at.as_micros() >= 1_500 && at.as_micros() < 2_000);
        assert_eq!(deadline(None, ws).unwrap().as_millis(), 2);
        assert_eq!(deadline(None, None), None);
        let never = Some(protocol_core::Instant::from_micros(u64::MAX));
        assert_eq!(deadline(never, None).unwrap().as_ticks(), u64::MAX);
    }
}
