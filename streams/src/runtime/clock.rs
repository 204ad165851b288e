//! The wall clock a task runner reads: the system's for real runs, a hand-moved one for the
//! test driver.
//!
//! Every "now" a task sees — when records arrived (for idle inputs), wall-clock punctuation,
//! when a watermark report is due, how long a task has waited for a slow input, when to
//! commit — comes from one [`Clock`] owned by whoever runs the task, so a deterministic driver
//! only has to swap the clock.

/// A source of wall-clock time in milliseconds.
///
/// Implementations must never go backwards by more than the system clock does; readers treat
/// the value as "milliseconds since the Unix epoch" only for the [`WallClock`].
pub trait Clock {
    /// The current time in ms.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        brook_broker::util::now_ms()
    }
}

/// A clock that starts at 0 and moves only when told to (the test driver's).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: i64,
}

impl ManualClock {
    /// Moves the clock `ms` forward.
    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now
    }
}
