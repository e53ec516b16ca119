//! Timers: an enum indexing a fixed table of deadlines. No heap, `Copy`, and the kind of a
//! timer is known when it fires.

use crate::time::Instant;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Timer {
    /// The handshake must complete (server: accept or reject; client: the answer) by then.
    Handshake,
    /// Time to send a keep-alive ping: nothing was received for a while.
    KeepAlive,
    /// Nothing received for the idle timeout: close the connection.
    Idle,
    /// Our close frame was not answered: give up on the close handshake.
    Close,
    /// The earliest client request deadline.
    Request,
}

impl Timer {
    pub(crate) const COUNT: usize = 5;
    pub(crate) const ALL: [Self; Self::COUNT] = [
        Self::Handshake,
        Self::KeepAlive,
        Self::Idle,
        Self::Close,
        Self::Request,
    ];

    /// A short label for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Handshake => "handshake timeout",
            Self::KeepAlive => "keep-alive",
            Self::Idle => "idle timeout",
            Self::Close => "close timeout",
            Self::Request => "request deadline",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; Timer::COUNT];
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(crate) fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest deadline and what it is for.
    pub(crate) fn next(&self) -> Option<(Instant, Timer)> {
        Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).map(|at| (at, t)))
            .min_by_key(|&(at, _)| at)
    }
}
