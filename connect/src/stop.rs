//! [`StopSignal`]: asks a connector thread to stop, and wakes it from its poll sleep.

use parking_lot::{Condvar, Mutex};
use std::time::Duration;

/// A flag a connector checks between units of work, with an interruptible sleep.
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    /// A signal that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the connector to stop; wakes it if it sleeps.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleeps for `d` unless a stop is requested first; returns whether it was.
    pub fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            let _ = self.wake.wait_for(&mut stopped, d);
        }
        *stopped
    }
}
